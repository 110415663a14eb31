//! Shared parts of the end-to-end tests: scratch repositories with a bare origin, sample
//! Python projects, the real binary, and real local indexes shared per test binary (each
//! test releases a project of its own name, so tests never see each other's files).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use twostage::testbed::{self, Devpi, DevpiIndex, PypiServer};

/// A token that must never appear in any output, log or git object.
pub const SENTINEL: &str = "pypi-SENTINEL-7f3a9c-never-print-me";

pub struct Indexes {
    pub pypi: PypiServer,
    pub devpi: Devpi,
    pub devpi_index: DevpiIndex,
}

/// One pypiserver and one devpi per test binary, started on first use.
pub fn indexes() -> &'static Indexes {
    static INDEXES: OnceLock<Indexes> = OnceLock::new();
    INDEXES.get_or_init(|| {
        let dir = scratch_root().join(format!("indexes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pypi = PypiServer::start(&dir.join("pypiserver"), "__token__", SENTINEL)
            .expect("pypiserver starts");
        let devpi = Devpi::start(&dir.join("devpi"), "tester", SENTINEL).expect("devpi starts");
        let devpi_index = devpi.create_index("production").expect("devpi index");
        Indexes {
            pypi,
            devpi,
            devpi_index,
        }
    })
}

fn scratch_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("twostage-tests")
}

/// A work repository `work/` on branch `main` with a bare `origin.git`, and an isolated
/// HOME so the user's git configuration and `~/.pypirc` are never read.
pub struct Scratch {
    pub dir: PathBuf,
    pub work: PathBuf,
    pub origin: PathBuf,
    pub home: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = scratch_root().join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let scratch = Scratch {
            work: dir.join("work"),
            origin: dir.join("origin.git"),
            home: dir.join("home"),
            dir,
        };
        std::fs::create_dir_all(&scratch.work).unwrap();
        std::fs::create_dir_all(&scratch.home).unwrap();
        std::fs::write(
            scratch.home.join(".gitconfig"),
            "[user]\n\tname = Test\n\temail = test@example.invalid\n[init]\n\tdefaultBranch = main\n",
        )
        .unwrap();
        scratch.git_in(&scratch.dir, &["init", "--quiet", "--bare", "origin.git"]);
        scratch.git(&["init", "--quiet", "-b", "main"]);
        scratch.git(&["remote", "add", "origin", scratch.origin.to_str().unwrap()]);
        scratch
    }

    /// An environment with nothing of the user's: HOME, git config, TWOSTAGE_* variables.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        for (key, _) in std::env::vars() {
            if key.starts_with("TWOSTAGE_")
                || key.starts_with("GIT_")
                || key.ends_with("PYPI_TOKEN")
            {
                command.env_remove(key);
            }
        }
        command
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("NO_COLOR", "1")
            .env("SOURCE_DATE_EPOCH", "1795478400") // 2026-11-24
            .current_dir(&self.work)
            .stdin(Stdio::null());
        command
    }

    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = self
            .command("git")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.work, args)
    }

    pub fn write(&self, path: &str, text: &str) {
        let path = self.work.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.work.join(path)).unwrap()
    }

    /// Commits everything and pushes `main` to origin.
    pub fn commit_all(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "-m", message]);
        self.git(&["push", "--quiet", "origin", "main"]);
    }

    /// Runs the real binary in the work tree.
    pub fn twostage(&self, args: &[&str]) -> Run {
        let out = self
            .command(env!("CARGO_BIN_EXE_twostage"))
            .args(args)
            .output()
            .unwrap();
        Run::from(out)
    }

    /// Everything a release could change: refs (local and origin), HEAD, status, and the
    /// bytes of every file in the work tree.
    pub fn snapshot(&self) -> String {
        let mut files = Vec::new();
        collect_files(&self.work, &self.work, &mut files);
        files.sort();
        format!(
            "refs:\n{}\norigin:\n{}\nhead: {}\nstatus:\n{}\nindex:\n{}\nfiles:\n{}",
            self.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
            self.git_in(
                &self.origin,
                &["for-each-ref", "--format=%(refname) %(objectname)"]
            ),
            self.git(&["rev-parse", "HEAD"]),
            self.git(&["status", "--porcelain", "--untracked-files=all"]),
            self.git(&["ls-files", "--stage"]),
            files.join("\n")
        )
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if path.is_dir() {
            collect_files(root, &path, out);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push(format!(
                "{} {:?}",
                path.strip_prefix(root).unwrap().display(),
                String::from_utf8_lossy(&bytes)
            ));
        }
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !run.stdout.contains(SENTINEL) && !run.stderr.contains(SENTINEL),
            "the sentinel token leaked:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        run
    }
}

impl Run {
    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn failure(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// `release.toml` pointing both indexes at the local servers.
pub fn release_toml(extra_package_keys: &str) -> String {
    let ix = indexes();
    format!(
        "[package]\n{extra_package_keys}\n[staging]\nupload-url = \"{}\"\nindex-url = \"{}\"\n\n[production]\nupload-url = \"{}\"\nindex-url = \"{}\"\n",
        ix.pypi.upload_url(),
        ix.pypi.index_url(),
        ix.devpi_index.upload_url,
        ix.devpi_index.index_url,
    )
}

/// Builds a wheel of the project at `dir` with the tools' backends (no download), into `out`.
pub fn build_wheel(dir: &Path, out: &Path) -> PathBuf {
    let tools = testbed::tools().unwrap();
    let status = Command::new(tools.python())
        .args(["-m", "build", "--no-isolation", "--wheel", "--outdir"])
        .arg(out)
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .unwrap();
    assert!(status.success(), "the build of {} failed", dir.display());
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("a wheel")
}

pub const KEEP_A_CHANGELOG: &str = "# Changelog\n\n## [Unreleased]\n\n### Fixed\n- the thing\n\n## [1.4.2] - 2026-01-02\n\n- earlier\n";
