//! Python environments: the interpreters on this machine (the current one, pyenv's, uv's,
//! `python3.X` on PATH) and what each accepts, creating a fresh virtual environment from one
//! with uv (when present) or `python -m venv`, installing a file into it with its dependencies
//! from one index only, and running commands in it under a timeout with their output logged.
//! Knows nothing of releases.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Cmd, Shell};

use crate::config::InstallerChoice;
use crate::resources::filename::WheelFilename;

/// The interpreter that environments are made from.
pub fn base_python() -> String {
    std::env::var("TWOSTAGE_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[derive(Debug, Clone)]
pub enum Installer {
    Uv { uv: PathBuf },
    Pip,
}

impl Installer {
    /// `auto`: uv when it is on PATH, else pip; or exactly `uv` / `pip`.
    pub fn choose(preference: InstallerChoice) -> Result<Installer> {
        let uv = find_on_path("uv");
        match (preference, uv) {
            (InstallerChoice::Auto | InstallerChoice::Uv, Some(uv)) => Ok(Installer::Uv { uv }),
            (InstallerChoice::Uv, None) => {
                bail!("`verify.installer` is `uv`, but `uv` is not on PATH")
            }
            (InstallerChoice::Auto | InstallerChoice::Pip, _) => Ok(Installer::Pip),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Installer::Uv { .. } => "uv",
            Installer::Pip => "pip",
        }
    }
}

/// Whether `program` can be started: a path (one with a `/`) that is a file, or a name found
/// on `PATH`.
pub fn runnable(program: &str) -> bool {
    if program.contains('/') {
        Path::new(program).is_file()
    } else {
        find_on_path(program).is_some()
    }
}

pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// A virtual environment.
#[derive(Debug, Clone)]
pub struct Venv {
    pub dir: PathBuf,
}

impl Venv {
    pub fn bin(&self) -> PathBuf {
        self.dir.join("bin")
    }

    pub fn python(&self) -> PathBuf {
        self.bin().join("python")
    }

    /// PATH with this environment's `bin` first.
    pub fn path_var(&self) -> std::ffi::OsString {
        let mut paths = vec![self.bin()];
        if let Some(existing) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&existing));
        }
        std::env::join_paths(paths).unwrap_or_default()
    }
}

/// How one logged command ended.
#[derive(Debug, Clone)]
pub struct Ran {
    pub command: String,
    /// `None` when it was killed (timeout or signal).
    pub code: Option<i32>,
    pub duration: Duration,
    pub timed_out: bool,
    /// The command's own output (stdout and stderr together).
    pub output: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    pub fn tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.output.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Runs `command` in its own process group with a timeout (the whole group is killed at
/// the limit, and at an interrupt), in the secret-free environment (`secrets`), appending
/// `$ shown`, its output and its end to `log`.
pub fn run_logged(
    mut command: Command,
    shown: &str,
    timeout: Duration,
    log: &mut std::fs::File,
) -> Result<Ran> {
    // An unnamed file: nobody can predict it, and it is gone when closed.
    let mut out = tempfile::tempfile().context("cannot make a temporary file")?;
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out.try_clone()?);
    crate::resources::secrets::scrub(&mut command);
    let started = Instant::now();
    let mut child =
        crate::interrupt::spawn(&mut command).with_context(|| format!("cannot start `{shown}`"))?;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= timeout {
            timed_out = true;
            // SAFETY: kill(2) on our child's process group; no memory is involved.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    crate::interrupt::forget(&child);
    // A child ended by an interrupt is no result: the process is about to exit.
    crate::interrupt::checkpoint();
    let duration = started.elapsed();
    let mut bytes = Vec::new();
    out.seek(std::io::SeekFrom::Start(0))?;
    out.read_to_end(&mut bytes)?;
    let output = String::from_utf8_lossy(&bytes).into_owned();
    writeln!(log, "$ {shown}")?;
    log.write_all(output.as_bytes())?;
    let end = if timed_out {
        format!("killed after the {}s timeout", timeout.as_secs())
    } else {
        format!(
            "exit {}",
            status.code().map_or("by signal".into(), |c| c.to_string())
        )
    };
    writeln!(log, "[{end}, {:.2}s]\n", duration.as_secs_f64())?;
    Ok(Ran {
        command: shown.to_string(),
        code: if timed_out { None } else { status.code() },
        duration,
        timed_out,
        output,
    })
}

/// A shell for the command lines below. They are handed to `run_logged` as a
/// `std::process::Command`: it needs the process group and the timeout.
fn shell() -> Result<Shell> {
    Shell::new().context("cannot read the current folder")
}

/// Creates a fresh environment at `dir` (removing anything there) from the interpreter
/// `python`.
pub fn create(
    installer: &Installer,
    python: &Path,
    dir: &Path,
    timeout: Duration,
    log: &mut std::fs::File,
) -> Result<(Venv, Ran)> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let sh = shell()?;
    let command = match installer {
        Installer::Uv { uv } => cmd!(sh, "{uv} venv --quiet --python {python} {dir}"),
        Installer::Pip => cmd!(sh, "{python} -m venv {dir}"),
    };
    let shown = format!("{} venv {}", installer.name(), dir.display());
    let ran = run_logged(command.into(), &shown, timeout, log)?;
    Ok((
        Venv {
            dir: dir.to_path_buf(),
        },
        ran,
    ))
}

/// Installs `files` into `venv` (the file under test first, then the files of the packages
/// released beside it that it requires), with their other dependencies (and, for an sdist, its
/// build requirements) from `index_url` only: each package given as a file can only be that
/// file, and no other index (from the environment or a config file) is consulted.
pub fn install(
    installer: &Installer,
    venv: &Venv,
    files: &[&Path],
    index_url: &str,
    timeout: Duration,
    log: &mut std::fs::File,
) -> Result<Ran> {
    let sh = shell()?;
    let python = venv.python();
    let command = match installer {
        Installer::Uv { uv } => cmd!(
            sh,
            "{uv} pip install --quiet --python {python} --index-url {index_url} --no-config {files...}"
        )
        .env_remove("UV_EXTRA_INDEX_URL")
        .env_remove("UV_INDEX")
        .env_remove("UV_FIND_LINKS"),
        Installer::Pip => cmd!(
            sh,
            "{python} -m pip install --quiet --disable-pip-version-check --isolated --index-url {index_url} {files...}"
        )
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("PIP_FIND_LINKS"),
    };
    let names: Vec<&str> = files
        .iter()
        .map(|f| f.file_name().and_then(|n| n.to_str()).unwrap_or_default())
        .collect();
    let shown = format!(
        "{} install {} --index-url {}",
        installer.name(),
        names.join(" "),
        crate::resources::secrets::redact(index_url)
    );
    run_logged(command.into(), &shown, timeout, log)
}

/// What a short command prints (stdout, or stderr when stdout is empty), run without any
/// secret; "unknown" when it cannot run.
fn short_output(cmd: Cmd) -> String {
    let mut command = Command::from(cmd);
    crate::resources::secrets::scrub(&mut command)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text).trim().to_string()
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The installer's version (pip's as `python` runs it).
pub fn installer_version(installer: &Installer, python: &Path) -> String {
    let Ok(sh) = shell() else {
        return "unknown".into();
    };
    match installer {
        Installer::Uv { uv } => short_output(cmd!(sh, "{uv} --version")),
        Installer::Pip => short_output(cmd!(sh, "{python} -m pip --version"))
            .split(" from ")
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// A Python interpreter of this machine, as it describes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub python: PathBuf,
    /// `3.11.7`.
    pub version: String,
    /// The wheel tags it accepts, most specific first, from `packaging.tags.sys_tags()` (or
    /// pip's vendored copy); `None` when it has neither.
    pub tags: Option<Vec<String>>,
}

impl Interpreter {
    /// `3.11` of `3.11.7`.
    pub fn minor(&self) -> &str {
        let end = self
            .version
            .match_indices('.')
            .nth(1)
            .map_or(self.version.len(), |(i, _)| i);
        &self.version[..end]
    }

    /// Whether `wanted` (`3.11` or `3.11.7`) names this interpreter.
    pub fn is(&self, wanted: &str) -> bool {
        wanted == self.minor() || wanted == self.version
    }

    pub fn label(&self) -> String {
        format!("Python {}", self.version)
    }

    /// Whether this interpreter can install the wheel `filename`, by its tags (the rules of
    /// https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/).
    pub fn accepts_wheel(&self, filename: &str) -> bool {
        wheel_is_compatible(filename, self.tags.as_deref())
    }
}

/// What an interpreter is, asked of it in one run: its implementation and version, then the
/// tags it supports. Python 2 fails on `sys.implementation` and is not listed.
const PROBE: &str = r#"import sys
print(sys.implementation.name, '%d.%d.%d' % sys.version_info[:3])
try:
    from packaging import tags
except ImportError:
    try:
        from pip._vendor.packaging import tags
    except ImportError:
        tags = None
for t in (tags.sys_tags() if tags else []):
    print(t)
"#;

/// Asks `python` what it is; `None` when it does not run, or is not a Python 3.
pub fn probe(python: &Path) -> Option<Interpreter> {
    let sh = shell().ok()?;
    // `-I`: neither the current folder nor `PYTHON*` variables change what it answers.
    let mut command = Command::from(cmd!(sh, "{python} -I -c {PROBE}"));
    let out = crate::resources::secrets::scrub(&mut command)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (_implementation, version) = lines.next()?.split_once(' ')?;
    if !version.starts_with("3.") {
        return None;
    }
    let tags: Vec<String> = lines.map(str::to_string).collect();
    Some(Interpreter {
        python: python.to_path_buf(),
        version: version.to_string(),
        tags: (!tags.is_empty()).then_some(tags),
    })
}

/// Every interpreter found on this machine, one per minor version, the current one
/// (`TWOSTAGE_PYTHON`, else `python3`) first: then pyenv's versions (`$PYENV_ROOT/versions/*`,
/// reached directly, since pyenv's shims run only the selected version), uv's managed ones,
/// and `python3.X` on PATH, where uv looks for them
/// (https://docs.astral.sh/uv/concepts/python-versions/). They are asked in parallel.
pub fn interpreters() -> Vec<Interpreter> {
    let candidates = candidates();
    let probed: Vec<Option<Interpreter>> = std::thread::scope(|scope| {
        let handles: Vec<_> = candidates
            .iter()
            .map(|python| scope.spawn(move || probe(python)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect()
    });
    let mut found: Vec<Interpreter> = Vec::new();
    for interpreter in probed.into_iter().flatten() {
        if !found.iter().any(|f| f.minor() == interpreter.minor()) {
            found.push(interpreter);
        }
    }
    found
}

/// The first of `interpreters()` (the current one, unless it does not answer), asked one by
/// one and only until one answers: verification with neither `verify.python` nor
/// `requires-python` uses this one alone, and each probe starts an interpreter that imports
/// `packaging` (about 0.05 s of CPU each, a dozen on a machine with pyenv).
pub fn current_interpreter() -> Option<Interpreter> {
    candidates().iter().find_map(|python| probe(python))
}

/// Where `interpreters` looks, in its order: the current interpreter, pyenv's, uv's, PATH's.
fn candidates() -> Vec<PathBuf> {
    let mut candidates = vec![PathBuf::from(base_python())];
    candidates.extend(pyenv_pythons());
    candidates.extend(uv_pythons());
    candidates.extend(path_pythons());
    candidates
}

/// `bin/python3` of every folder in `dir` whose name starts with an ASCII digit (`digits`) or
/// with anything, sorted by name.
fn pythons_in(dir: &Path, digits: bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            !digits
                || e.file_name()
                    .as_encoded_bytes()
                    .first()
                    .is_some_and(u8::is_ascii_digit)
        })
        .map(|e| e.path().join("bin").join("python3"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

/// pyenv's installed versions (not its virtualenvs, whose names do not start with a digit).
fn pyenv_pythons() -> Vec<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    root.map(|r| pythons_in(&r.join("versions"), true))
        .unwrap_or_default()
}

/// uv's managed interpreters: `UV_PYTHON_INSTALL_DIR`, else `$XDG_DATA_HOME/uv/python`, else
/// `~/.local/share/uv/python`.
fn uv_pythons() -> Vec<PathBuf> {
    let var = |name| std::env::var_os(name).map(PathBuf::from);
    let dir = var("UV_PYTHON_INSTALL_DIR")
        .or_else(|| var("XDG_DATA_HOME").map(|d| d.join("uv/python")))
        .or_else(|| var("HOME").map(|h| h.join(".local/share/uv/python")));
    dir.map(|d| pythons_in(&d, false)).unwrap_or_default()
}

/// `python3.X` in every PATH folder but shims folders (pyenv's run only the selected version).
fn path_pythons() -> Vec<PathBuf> {
    let Some(paths) = std::env::var_os("PATH") else {
        return Vec::new();
    };
    let is_versioned = |name: &str| {
        name.strip_prefix("python3.")
            .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut found = Vec::new();
    for dir in std::env::split_paths(&paths) {
        if dir.file_name().is_some_and(|n| n == "shims") {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut here: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| is_versioned(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        here.sort();
        found.extend(here);
    }
    found
}

/// Whether a wheel can be installed here: one of its `py-abi-plat` triples is supported.
pub fn wheel_is_compatible(filename: &str, supported: Option<&[String]>) -> bool {
    let Some(wheel) = WheelFilename::parse(filename) else {
        return false;
    };
    let triples = wheel.tag_triples();
    match supported {
        Some(supported) => triples.iter().any(|t| supported.contains(t)),
        None => triples
            .iter()
            .any(|t| t.ends_with("-none-any") && t.starts_with("py3")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_compatibility() {
        let supported: Vec<String> = [
            "cp311-cp311-manylinux_2_17_x86_64",
            "cp311-abi3-manylinux_2_17_x86_64",
            "py3-none-any",
        ]
        .map(String::from)
        .to_vec();
        assert!(wheel_is_compatible(
            "a-1-py3-none-any.whl",
            Some(&supported)
        ));
        assert!(wheel_is_compatible(
            "a-1-py2.py3-none-any.whl",
            Some(&supported)
        ));
        assert!(wheel_is_compatible(
            "a-1-cp311-abi3-manylinux_2_5_x86_64.manylinux_2_17_x86_64.whl",
            Some(&supported)
        ));
        assert!(!wheel_is_compatible(
            "a-1-cp312-cp312-win_amd64.whl",
            Some(&supported)
        ));
        assert!(wheel_is_compatible("a-1-py3-none-any.whl", None));
        assert!(!wheel_is_compatible(
            "a-1-cp311-cp311-manylinux_2_17_x86_64.whl",
            None
        ));
    }

    #[test]
    fn an_interpreter_is_named_by_its_minor_or_its_full_version() {
        let interpreter = Interpreter {
            python: PathBuf::from("python3.12"),
            version: "3.12.1".into(),
            tags: Some(vec![
                "cp312-cp312-linux_x86_64".into(),
                "py3-none-any".into(),
            ]),
        };
        assert_eq!(interpreter.minor(), "3.12");
        assert!(interpreter.is("3.12") && interpreter.is("3.12.1"));
        assert!(!interpreter.is("3.1") && !interpreter.is("3.12.2"));
        assert!(interpreter.accepts_wheel("a-1-cp312-cp312-linux_x86_64.whl"));
        assert!(!interpreter.accepts_wheel("a-1-cp311-cp311-linux_x86_64.whl"));
    }

    #[test]
    fn the_current_interpreter_answers_for_itself() {
        let current = probe(Path::new(&base_python())).expect("python3 runs");
        assert!(current.version.starts_with("3."), "{current:?}");
        assert!(current
            .tags
            .is_some_and(|t| t.iter().any(|t| t == "py3-none-any")));
    }

    #[test]
    fn a_hanging_command_is_killed_at_the_timeout_with_its_children() {
        let log_file = tempfile::NamedTempFile::new().unwrap();
        let log_path = log_file.path().to_path_buf();
        let mut log = log_file.reopen().unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "echo started; sleep 30 & wait"]);
        let started = Instant::now();
        let ran = run_logged(command, "hang", Duration::from_millis(300), &mut log).unwrap();
        assert!(ran.timed_out && ran.code.is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(ran.output.contains("started"));
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(
            text.contains("$ hang") && text.contains("killed after"),
            "{text}"
        );
    }
}
