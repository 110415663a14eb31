//! Shared parts of the end-to-end tests: scratch repositories with a bare origin, sample
//! Python projects, the real binary, and real local indexes shared per test binary (each
//! test releases a project of its own name, so tests never see each other's files).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use testbed::{self, Devpi, DevpiIndex, PypiServer};
pub use xshell::cmd;

/// A token that must never appear in any output, log or git object.
pub const SENTINEL: &str = "pypi-SENTINEL-7f3a9c-never-print-me";

pub struct Indexes {
    pub pypi: PypiServer,
    pub devpi: Devpi,
    /// The production index of every test.
    pub devpi_index: DevpiIndex,
    /// A second devpi index, for tests that stage to devpi.
    pub devpi_staging: DevpiIndex,
}

/// One pypiserver and one devpi per test binary, started on first use.
pub fn indexes() -> &'static Indexes {
    static INDEXES: OnceLock<Indexes> = OnceLock::new();
    INDEXES.get_or_init(|| {
        let dir = scratch_root().join(format!("indexes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // pypiserver starts beside devpi: every test waits for both, and devpi's start is
        // the longer one (docs/testing.md, "Time").
        let (pypi, devpi) = std::thread::scope(|scope| {
            let pypi =
                scope.spawn(|| PypiServer::start(&dir.join("pypiserver"), "__token__", SENTINEL));
            let devpi = Devpi::start(&dir.join("devpi"), "tester", SENTINEL).expect("devpi starts");
            (pypi.join().unwrap().expect("pypiserver starts"), devpi)
        });
        let devpi_index = devpi.create_index("production").expect("devpi index");
        let devpi_staging = devpi.create_index("staging").expect("devpi index");
        testbed::seed_production(&dir.join("seed"), &devpi, &devpi_index)
            .expect("seeding production");
        Indexes {
            pypi,
            devpi,
            devpi_index,
            devpi_staging,
        }
    })
}

/// A folder holding only `uv` (from the tools), put first on PATH so verification uses uv as
/// a maintainer's machine would; `TWOSTAGE_VERIFY_INSTALLER=pip` tests the other path.
fn uv_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tools = testbed::tools().unwrap();
        let dir = tools.venv.join("uv-only");
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("uv");
        if !link.exists() {
            let _ = std::os::unix::fs::symlink(tools.bin("uv"), &link);
        }
        dir
    })
    .clone()
}

/// A folder holding `python3` and `python`, links to the interpreter that this machine's
/// `python3` runs, put on PATH after `uv_dir()` when that `python3` is a shim (pyenv's is a bash
/// script that runs `pyenv exec`, several processes before every interpreter start): the
/// tests' children start the same interpreter without the shim. `None` when `python3` is the
/// interpreter itself, or a virtual environment's (a link to that would not be the venv).
fn python_dir() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let found = twostage::resources::pyenv::find_on_path("python3")?;
        let out = Command::new(&found)
            .args([
                "-c",
                "import sys; print(sys.executable if sys.prefix == sys.base_prefix else '')",
            ])
            .output()
            .ok()?;
        let real = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        if !real.is_absolute()
            || std::fs::canonicalize(&found).ok()? == std::fs::canonicalize(&real).ok()?
        {
            return None;
        }
        let dir = scratch_root().join(format!("python-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        for name in ["python3", "python"] {
            let _ = std::os::unix::fs::symlink(&real, dir.join(name));
        }
        Some(dir)
    })
    .clone()
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
        Scratch::new_in(&scratch_root(), name)
    }

    /// A scratch repository in the system's temporary folder, outside this checkout's Cargo
    /// workspace: cargo refuses to build a crate below `target/` here, which the workspace
    /// does not list. For projects with Rust of their own; the test removes it.
    pub fn outside_workspace(name: &str) -> Scratch {
        Scratch::new_in(&std::env::temp_dir().join("twostage-tests"), name)
    }

    fn new_in(root: &Path, name: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = root.join(format!("{name}-{}-{n}", std::process::id()));
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

    /// The variables every child of a test gets: the scratch HOME (so the user's git
    /// configuration and `~/.pypirc` are never read), no system git config, uv first on PATH
    /// and the interpreter without its shim next (`python_dir`),
    /// the tests' tools folder, no colour, and a fixed date.
    fn isolated_env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let path = std::env::join_paths(std::iter::once(uv_dir()).chain(python_dir()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        vec![
            ("PATH", path),
            // The tests' tools under `target/`, not in the scratch HOME's cache.
            (
                testbed::TOOLS_DIR_ENV,
                testbed::tools_dir().into_os_string(),
            ),
            ("HOME", self.home.clone().into_os_string()),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            ("NO_COLOR", "1".into()),
            ("SOURCE_DATE_EPOCH", "1795478400".into()), // 2026-11-24
        ]
    }

    /// A command in the work tree with nothing of the user's: the isolated variables set, and
    /// `TWOSTAGE_*`, `GIT_*` and `*PYPI_TOKEN` removed. For the twostage binary and whatever
    /// needs its exit code and both streams (`Run`); command lines go through `sh`.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        for key in inherited_to_clear() {
            command.env_remove(key);
        }
        command
            .envs(self.isolated_env())
            .current_dir(&self.work)
            .stdin(Stdio::null());
        command
    }

    /// A shell in the work tree with the same isolated environment as `command`, for the
    /// command lines that read like shell: `cmd!(s.sh(), "git tag -a v1.0.0 -m {msg}")`.
    pub fn sh(&self) -> Sh {
        let shell = xshell::Shell::new().unwrap();
        shell.change_dir(&self.work);
        for (key, value) in self.isolated_env() {
            shell.set_var(key, value);
        }
        Sh { shell }
    }

    /// `git <args>` in `dir`, which must succeed; its standard output, trimmed.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let sh = self.sh();
        sh.change_dir(dir);
        let out = cmd!(sh, "git {args...}").ignore_status().output().unwrap();
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

    /// A clone of the work repository at `<dir>/<name>`, checked out at `tag` when given.
    pub fn clone_work(&self, name: &str, tag: Option<&str>) -> PathBuf {
        let target = self.dir.join(name);
        let (from, to) = (self.work.to_str().unwrap(), target.to_str().unwrap());
        match tag {
            Some(tag) => self.git_in(&self.dir, &["clone", "--quiet", "--branch", tag, from, to]),
            None => self.git_in(&self.dir, &["clone", "--quiet", from, to]),
        };
        target
    }

    /// Runs the real binary in the work tree.
    /// `twostage stage <args>` with `token` as the staging token.
    pub fn stage(&self, args: &[&str], token: &str) -> Run {
        let out = self
            .command(env!("CARGO_BIN_EXE_twostage"))
            .arg("stage")
            .args(args)
            .env("TEST_PYPI_TOKEN", token)
            .output()
            .unwrap();
        Run::from(out)
    }

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

/// An `xshell::Shell` that also removes the user's variables from every command: xshell
/// sets variables on a shell but removes them only per command, so `cmd!` (which calls
/// `$sh.cmd(program)`) goes through `Sh::cmd`.
pub struct Sh {
    shell: xshell::Shell,
}

impl Sh {
    pub fn cmd(&self, program: impl AsRef<Path>) -> xshell::Cmd<'_> {
        inherited_to_clear()
            .fold(self.shell.cmd(program), |cmd, key| cmd.env_remove(key))
            .quiet()
    }
}

impl std::ops::Deref for Sh {
    type Target = xshell::Shell;
    fn deref(&self) -> &xshell::Shell {
        &self.shell
    }
}

/// The test process's own variables that would reach a child and change what it does:
/// twostage's settings, git's (`GIT_DIR` when the tests run from a hook), and tokens.
fn inherited_to_clear() -> impl Iterator<Item = String> {
    std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| {
            (key.starts_with("TWOSTAGE_") || key.starts_with("GIT_") || key.ends_with("PYPI_TOKEN"))
                && key != "GIT_CONFIG_NOSYSTEM"
        })
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
        run.assert_not_shown(SENTINEL);
        run
    }
}

impl Run {
    /// Runs an xshell command line to the end, for its exit code and both streams.
    pub fn of(cmd: xshell::Cmd<'_>) -> Run {
        Run::from(cmd.ignore_status().output().unwrap())
    }

    /// The secret is in neither stream. `::add-mask::<secret>` is how a secret is hidden in
    /// GitHub Actions' log: that line is never shown, so it is the one place one may be written.
    #[track_caller]
    pub fn assert_not_shown(&self, secret: &str) {
        let shown: String = self
            .stdout
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect();
        assert!(
            !shown.contains(secret) && !self.stderr.contains(secret),
            "a secret leaked:\n{}\n{}",
            self.stdout,
            self.stderr
        );
    }

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

/// Which server plays the staging index.
#[derive(Clone, Copy, Debug)]
pub enum Staging {
    Pypiserver,
    Devpi,
}

impl Staging {
    /// The upload URL, the index URL and the user name of this staging index.
    pub fn endpoints(self) -> (String, String, String) {
        let ix = indexes();
        match self {
            Staging::Pypiserver => (
                ix.pypi.upload_url(),
                ix.pypi.index_url(),
                ix.pypi.username.clone(),
            ),
            Staging::Devpi => (
                ix.devpi_staging.upload_url.clone(),
                ix.devpi_staging.index_url.clone(),
                ix.devpi.username.clone(),
            ),
        }
    }
}

/// `release.toml` pointing both indexes at the local servers (staging on pypiserver), and
/// building offline with the tools' backends.
pub fn release_toml(extra_package_keys: &str) -> String {
    release_toml_on(Staging::Pypiserver, extra_package_keys)
}

/// `tests/fixtures/release.toml` for the servers of this test binary, with `package_keys`
/// in its `[package]` table.
pub fn release_toml_on(staging: Staging, package_keys: &str) -> String {
    let ix = indexes();
    let (upload, index, username) = staging.endpoints();
    let python = testbed::tools().unwrap().python();
    let template = std::fs::read_to_string(fixture_dir("release.toml")).unwrap();
    fill(
        &template,
        &[
            ("package-keys", package_keys),
            ("python", &python.display().to_string()),
            ("staging-upload-url", &upload),
            ("staging-index-url", &index),
            ("staging-username", &username),
            ("production-upload-url", &ix.devpi_index.upload_url),
            ("production-index-url", &ix.devpi_index.index_url),
            ("production-username", &ix.devpi.username),
        ],
    )
}

/// `tests/fixtures/<name>`.
pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

/// `text` with every `@key@` of `vars` replaced by its value.
fn fill(text: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(text.to_string(), |text, (key, value)| {
        text.replace(&format!("@{key}@"), value)
    })
}

/// Copies the fixture project `tests/fixtures/<fixture>` into `to`, with every `@key@` of
/// `vars` replaced in file names and in the text of files (a project of its own name per test,
/// as the tests share the indexes); each file keeps its mode.
pub fn copy_fixture(fixture: &str, to: &Path, vars: &[(&str, &str)]) {
    fn walk(root: &Path, dir: &Path, to: &Path, vars: &[(&str, &str)]) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, to, vars);
                continue;
            }
            let relative = path.strip_prefix(root).unwrap().to_str().unwrap();
            let target = to.join(fill(relative, vars));
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            match String::from_utf8(bytes) {
                Ok(text) => std::fs::write(&target, fill(&text, vars)).unwrap(),
                Err(e) => std::fs::write(&target, e.into_bytes()).unwrap(),
            }
            std::fs::set_permissions(&target, std::fs::metadata(&path).unwrap().permissions())
                .unwrap();
        }
    }
    let root = fixture_dir(fixture);
    walk(&root, &root, to, vars);
}

/// `twine upload` of `files` to `upload_url` with the index password.
pub fn twine<'a>(
    sh: &'a Sh,
    upload_url: &str,
    username: &str,
    files: &[PathBuf],
) -> xshell::Cmd<'a> {
    let twine = testbed::tools().unwrap().bin("twine");
    cmd!(sh, "{twine} upload --non-interactive --disable-progress-bar --repository-url {upload_url} -u {username} {files...}")
        .env("TWINE_PASSWORD", SENTINEL)
        .secret()
}

/// Uploads files with twine, as another machine or an earlier run would have.
pub fn twine_upload(s: &Scratch, upload_url: &str, username: &str, files: &[PathBuf]) {
    let sh = s.sh();
    let out = twine(&sh, upload_url, username, files)
        .ignore_status()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "twine upload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Uploads files to the production index (devpi).
pub fn upload_to_production(s: &Scratch, files: &[PathBuf]) {
    let ix = indexes();
    twine_upload(s, &ix.devpi_index.upload_url, &ix.devpi.username, files);
}

/// Builds a wheel of the project at `dir` with the tools' backends (no download), into `out`.
pub fn build_wheel(dir: &Path, out: &Path) -> PathBuf {
    testbed::build_wheel(dir, out).unwrap()
}

/// How a sample project keeps its version: each is a folder `tests/fixtures/sample-*`.
#[derive(Clone, Copy, Debug)]
pub enum Layout {
    StaticFlit,
    StaticHatchling,
    StaticPoetry,
    DynamicFlitModule,
    SetuptoolsAttr,
    SetupPyOnly,
    SetuptoolsScm,
}

impl Layout {
    fn fixture(self) -> &'static str {
        match self {
            Layout::StaticFlit => "sample-flit",
            Layout::StaticHatchling => "sample-hatchling",
            Layout::StaticPoetry => "sample-poetry",
            Layout::DynamicFlitModule => "sample-dynamic-flit",
            Layout::SetuptoolsAttr => "sample-setuptools-attr",
            Layout::SetupPyOnly => "sample-setup-py",
            Layout::SetuptoolsScm => "sample-setuptools-scm",
        }
    }
}

/// Writes a sample project named `name` at version 1.4.2 with a Keep a Changelog file.
pub fn sample(s: &Scratch, layout: Layout, name: &str) {
    sample_on(s, layout, name, Staging::Pypiserver);
}

/// Like `sample`, with the staging index on the given server. The fixture's `release.toml`
/// holds the project's `[package]` keys; the servers' tables are this binary's.
pub fn sample_on(s: &Scratch, layout: Layout, name: &str, staging: Staging) {
    let module = name.replace('-', "_");
    copy_fixture(
        layout.fixture(),
        &s.work,
        &[("name", name), ("module", &module)],
    );
    let package = s.read("release.toml");
    let keys = package.strip_prefix("[package]\n").unwrap().trim_end();
    s.write("release.toml", &release_toml_on(staging, keys));
    s.commit_all("Initial import");
    if let Layout::SetuptoolsScm = layout {
        let sh = s.sh();
        cmd!(sh, "git tag -a v1.4.2 -m 'Release v1.4.2'")
            .run()
            .unwrap();
        let changelog = s.read("CHANGELOG.md");
        s.write(
            "CHANGELOG.md",
            &changelog.replace("- the thing", "- the thing\n- another"),
        );
        s.commit_all("A change after 1.4.2");
    }
}

/// Forgets the build that `release` made of `tag`, as on a clone or a CI machine that did not
/// make the release: the next `stage` builds afresh (or takes `--dist`).
pub fn forget_build(s: &Scratch, tag: &str) {
    std::fs::remove_dir_all(s.work.join(".git/twostage").join(tag)).unwrap();
}

/// Builds the tagged commit from a fresh clone, as the build stage will, and returns the
/// version in the wheel's filename: the backend's own reading of the version.
pub fn built_version(s: &Scratch, tag: &str) -> String {
    let checkout = s.clone_work(&format!("checkout-{tag}"), Some(tag));
    let wheel = build_wheel(&checkout, &s.dir.join(format!("dist-{tag}")));
    let name = wheel.file_name().unwrap().to_str().unwrap().to_string();
    name.split('-').nth(1).unwrap().to_string()
}

/// Runs a program in the work tree with the hooks' binary and the staging token set.
pub fn with_hooks(s: &Scratch, program: &str, args: &[&str]) -> Run {
    let out = s
        .command(program)
        .args(args)
        .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .output()
        .unwrap();
    Run::from(out)
}

/// No git object and no file under the scratch folder holds the token, plain or in the
/// Base64 form of a Basic `Authorization` header.
pub fn assert_no_secret_in(s: &Scratch, token: &str) {
    let base64 = twostage::resources::credentials::base64(format!("__token__:{token}").as_bytes());
    let sh = s.sh();
    let objects = cmd!(sh, "git cat-file --batch-all-objects --batch")
        .output()
        .unwrap();
    let objects = String::from_utf8_lossy(&objects.stdout);
    assert!(
        !objects.contains(token) && !objects.contains(&base64),
        "a git object holds the token"
    );
    let mut stack = vec![s.dir.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                assert!(
                    !text.contains(token) && !text.contains(&base64),
                    "{} holds the token",
                    path.display()
                );
            }
        }
    }
}

/// One file that an index lists on a project page, as the tests read it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub filename: String,
    pub sha256: Option<String>,
}

/// PEP 503 name normalisation: lower case, runs of `-`, `_` and `.` become one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The normalised project name of a wheel or sdist filename: what comes before the first `-`
/// that starts the version.
fn project_of(filename: &str) -> String {
    let end = filename
        .match_indices('-')
        .find(|(i, _)| filename[i + 1..].starts_with(|c: char| c.is_ascii_digit()))
        .map_or(filename.len(), |(i, _)| i);
    normalize(&filename[..end])
}

fn http_get(url: &str, accept: &str) -> Option<(String, String)> {
    match ureq::get(url).header("Accept", accept).call() {
        Ok(mut response) => {
            let ctype = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            Some((ctype, response.body_mut().read_to_string().unwrap()))
        }
        Err(ureq::Error::StatusCode(404)) => None,
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// The files `index_url` lists for `project`, read by the tests' own code and not the
/// product's: the PEP 691 JSON page when the server offers one, else the PEP 503 HTML page.
/// A project without a page lists nothing.
pub fn served(index_url: &str, project: &str) -> Vec<Listed> {
    let page = format!(
        "{}/{}/",
        index_url.trim_end_matches('/'),
        normalize(project)
    );
    let accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";
    let Some((ctype, body)) = http_get(&page, accept) else {
        return Vec::new();
    };
    let mut files = if ctype.contains("json") {
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        page["files"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"))
            .iter()
            .map(|f| Listed {
                filename: f["filename"].as_str().unwrap().to_string(),
                sha256: f["hashes"]["sha256"].as_str().map(str::to_string),
            })
            .collect()
    } else {
        anchors(&body)
    };
    files.sort();
    files
}

/// `<a href="…#sha256=…">filename</a>` of a PEP 503 page.
fn anchors(html: &str) -> Vec<Listed> {
    let mut files = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<a ") {
        rest = &rest[start..];
        let tag_end = rest.find('>').unwrap();
        let tag = &rest[..tag_end];
        let text_end = rest.find("</a>").unwrap();
        let text = rest[tag_end + 1..text_end].trim();
        let href = tag
            .split_once("href=")
            .map(|(_, h)| {
                let quote = h.chars().next().unwrap();
                h[1..].split(quote).next().unwrap()
            })
            .unwrap_or_default();
        let sha256 = href
            .split_once("#sha256=")
            .map(|(_, h)| h.split('&').next().unwrap().to_string());
        files.push(Listed {
            filename: text.replace("&amp;", "&"),
            sha256,
        });
        rest = &rest[text_end..];
    }
    files
}

/// filename → sha256 of what `index_url` serves for `project`.
pub fn served_map(index_url: &str, project: &str) -> BTreeMap<String, String> {
    served(index_url, project)
        .into_iter()
        .map(|f| (f.filename, f.sha256.unwrap_or_default()))
        .collect()
}

/// What pypiserver stores for `project` in its package folder: filename → (size, mtime).
/// A file uploaded again would show a new mtime; one more file, a new entry.
pub fn pypiserver_stored(project: &str) -> BTreeMap<String, String> {
    let wanted = normalize(project);
    let mut stored = BTreeMap::new();
    let mut stack = vec![indexes().pypi.packages.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if project_of(&name) == wanted {
                let mtime = meta
                    .modified()
                    .unwrap()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                stored.insert(name, format!("{} bytes, mtime {mtime}", meta.len()));
            }
        }
    }
    stored
}

/// devpi's own record of `project` on `index`, from its JSON API: filename → the file's hash
/// and its log (every upload of it is an entry, with the time).
pub fn devpi_stored(index: &DevpiIndex, project: &str) -> BTreeMap<String, String> {
    let url = format!("{}{}", index.upload_url, normalize(project));
    let mut stored = BTreeMap::new();
    let Some((_, body)) = http_get(&url, "application/json") else {
        return stored;
    };
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    for (_, version) in doc["result"].as_object().unwrap() {
        for link in version["+links"].as_array().into_iter().flatten() {
            if link["rel"] != "releasefile" {
                continue;
            }
            let href = link["href"].as_str().unwrap();
            let name = href.rsplit('/').next().unwrap().to_string();
            stored.insert(name, format!("{} {}", link["hash_spec"], link["log"]));
        }
    }
    stored
}

/// Upload requests that reached an index for `project`, read from the servers' own logs:
/// devpi logs every upload (`<index>: got submit release info '<name>'`, even an identical
/// re-upload it answers 200 and does not store again), pypiserver every upload it refuses
/// because the file exists (`Cannot upload '<file>'`); what pypiserver stores is in its
/// package folder (`pypiserver_stored`).
pub fn upload_requests(project: &str) -> usize {
    let dir = scratch_root().join(format!("indexes-{}", std::process::id()));
    let wanted = normalize(project);
    let devpi = std::fs::read_to_string(dir.join("devpi/devpi.log")).unwrap_or_default();
    let devpi = devpi
        .lines()
        .filter_map(|l| l.split_once("got submit release info '"))
        .filter(|(_, rest)| normalize(rest.split('\'').next().unwrap()) == wanted)
        .count();
    let pypi = std::fs::read_to_string(dir.join("pypiserver/pypiserver.log")).unwrap_or_default();
    let pypi = pypi
        .lines()
        .filter_map(|l| l.split_once("Cannot upload '"))
        .filter(|(_, rest)| project_of(rest.split('\'').next().unwrap()) == wanted)
        .count();
    devpi + pypi
}

/// Everything the indexes hold or logged of `project`'s uploads: equal before and after a
/// run exactly when the run uploaded nothing, whichever index it used.
pub fn uploads_seen(project: &str) -> String {
    let ix = indexes();
    format!(
        "requests: {}\npypiserver: {:?}\ndevpi staging: {:?}\ndevpi production: {:?}",
        upload_requests(project),
        pypiserver_stored(project),
        devpi_stored(&ix.devpi_staging, project),
        devpi_stored(&ix.devpi_index, project),
    )
}

/// The folder where the build froze the files of `tag`.
pub fn frozen_dir(s: &Scratch, tag: &str) -> PathBuf {
    s.work.join(".git/twostage").join(tag).join("dist")
}

/// filename → sha256 of the files the build froze for `tag`.
pub fn frozen_files(s: &Scratch, tag: &str) -> BTreeMap<String, String> {
    hashed_files(&frozen_dir(s, tag), |_| true)
}

/// filename → sha256 of `project`'s files in pypiserver's package folder, read from the disk.
pub fn pypiserver_files(project: &str) -> BTreeMap<String, String> {
    let wanted = normalize(project);
    hashed_files(&indexes().pypi.packages, |f| project_of(f) == wanted)
}

/// filename → sha256 of the files in `dir` whose names `keep` takes, hashed here.
pub fn hashed_files(dir: &Path, keep: impl Fn(&str) -> bool) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && keep(p.file_name().unwrap().to_str().unwrap()))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (name, sha256_hex(&std::fs::read(&p).unwrap()))
        })
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    twostage::resources::dist::hex(&sha2::Sha256::digest(bytes))
}

/// The release note on the commit of `tag`, read with the test's own TOML reading.
pub fn release_note(s: &Scratch, tag: &str) -> toml_edit::DocumentMut {
    s.git(&[
        "notes",
        "--ref=release",
        "show",
        &format!("{tag}^{{commit}}"),
    ])
    .parse()
    .unwrap()
}

/// filename → sha256 of the note's `[[artifacts]]`.
pub fn note_artifacts(note: &toml_edit::DocumentMut) -> BTreeMap<String, String> {
    note["artifacts"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["filename"].as_str().unwrap().to_string(),
                a["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Builds the project at `dir` with the tools' `python -m build --no-isolation` and `what`
/// (`--sdist`, `--wheel`, or nothing for both) into `out`; returns the files made, sorted.
pub fn python_build(s: &Scratch, dir: &Path, out: &Path, what: &[&str]) -> Vec<PathBuf> {
    let python = testbed::tools().unwrap().python();
    let sh = s.sh();
    cmd!(
        sh,
        "{python} -m build --no-isolation {what...} --outdir {out} {dir}"
    )
    .ignore_stdout()
    .run()
    .unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// The members of a `.tar.gz` with their bytes, read with the tests' own code.
pub fn tar_members(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
    let mut archive = tar::Archive::new(gz);
    let mut members = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        members.push((name, bytes));
    }
    members
}

/// The member names of an sdist below its top folder (`pkg-1.0/`).
pub fn sdist_members(sdist: &Path) -> Vec<String> {
    tar_members(sdist)
        .into_iter()
        .map(|(n, _)| {
            n.split_once('/')
                .map_or(String::new(), |(_, inner)| inner.to_string())
        })
        .collect()
}

/// Whether an sdist member (named below the top folder) is part of twostage's release kit.
pub fn is_kit(member: &str) -> bool {
    member.starts_with("xtask/")
        || member.starts_with(".cargo/")
        || member.starts_with("hooks/")
        || ["release.toml", "Cargo.toml", "Cargo.lock"].contains(&member)
}

pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// One target folder for every adopted repository (the maintainer test's, the workspace
/// adoption's and the benchmark's): the first compile of the adopted `xtask` is paid once.
pub fn adopted_target() -> PathBuf {
    testbed::target_dir().join("twostage-adopted-target")
}

/// Held by a test for as long as it uses `adopted_target()`: two workspaces building there at
/// once would overwrite each other's `xtask` binary, and the maintainer test asserts that
/// nothing there changes while its release runs.
pub fn adopted_target_to_myself() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes what `cargo test` set for this test binary (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`,
/// `RUST_*`, the library path): a maintainer's shell has none of it. Every cargo run in the
/// shared adopted target must see the same environment, because cargo reruns a build script
/// when a variable it watches changes (ring watches `CARGO_MANIFEST_DIR` and `CARGO_PKG_*`),
/// and everything above it is then rebuilt.
pub fn as_maintainer(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let from_cargo = (key.starts_with("CARGO") && key != "CARGO_HOME")
            || key.starts_with("RUST_")
            || key == "LD_LIBRARY_PATH";
        if from_cargo {
            command.env_remove(key);
        }
    }
    command
}

/// The machine's own `CARGO_HOME` or `RUSTUP_HOME` (`variable`), else `~/<default>` of the
/// real HOME: the toolchain and the registry cache, while a test's HOME is a scratch one.
pub fn real_home_dir(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(default))
}

/// Runs the binary and kills its whole process group with SIGKILL `after` the first stderr
/// line containing `needle`. Returns the stderr seen until then.
pub fn kill_group_when(mut command: Command, needle: &str, after: std::time::Duration) -> String {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut seen = String::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(needle) {
            std::thread::sleep(after);
            // SAFETY: kill(2) of the child's own process group.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(status.code().is_none(), "killed, not finished: {seen}");
    seen
}
