//! The user's cache folder, where the Python tools twostage manages live once per user (the
//! local indexes of `rehearse`, the README renderer of `release`), each in a folder named
//! after the pins it holds. `TWOSTAGE_TOOLS_DIR` names another folder for all of them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::output;
use crate::resources::{pyenv, secrets};

/// Names the folder of the managed tools exactly. This workspace's own tests and `.ci/run`
/// set it to `target/twostage-tools`, so a fresh clone depends on nothing in the user's cache.
pub const TOOLS_DIR_ENV: &str = "TWOSTAGE_TOOLS_DIR";

/// `TWOSTAGE_TOOLS_DIR`, when set and not empty.
pub fn tools_dir_override() -> Option<PathBuf> {
    std::env::var_os(TOOLS_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// `<cache>/twostage/<name>-<first 16 hex digits of the SHA-256 of pins>`: a folder per set of
/// pins, so two twostage versions never replace each other's environment.
pub fn keyed(name: &str, pins: &str) -> Result<PathBuf> {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(pins.as_bytes());
    let key: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let cache = cache_home(
        std::env::consts::OS,
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    )
    .with_context(|| {
        format!(
            "cannot find the user's cache folder (`HOME` is not set): set `{TOOLS_DIR_ENV}` to \
             a folder for the Python tools"
        )
    })?;
    Ok(cache.join("twostage").join(format!("{name}-{key}")))
}

/// The venv `dir/venv` holding exactly the hashed pins of `requirements`, installed on first
/// use (`pip install --require-hashes --no-deps --only-binary :all:`, so nothing unpinned and
/// nothing built runs); one process installs, others wait on the folder's lock. `what` says
/// what it is for in the status line.
pub fn managed_venv(dir: &Path, requirements: &str, what: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let lock_path = dir.join(".lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("cannot write `{}`", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock `{}`", lock_path.display()))?;
    let venv = dir.join("venv");
    let stamp = venv.join(".twostage-requirements");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(venv);
    }
    output::status(
        "Installing",
        format!("{what} into `{}`, once per user", venv.display()),
    );
    let base = pyenv::base_python();
    run(Command::new(&base)
        .args(["-m", "venv", "--clear"])
        .arg(&venv))
    .with_context(|| format!("cannot make a virtual environment with `{base}`"))?;
    let pins = dir.join("requirements.txt");
    std::fs::write(&pins, requirements)
        .with_context(|| format!("cannot write `{}`", pins.display()))?;
    run(Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args([
            "--require-hashes",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-r",
        ])
        .arg(&pins))
    .with_context(|| format!("cannot install {what} from the package index"))?;
    std::fs::write(&stamp, requirements)?;
    Ok(venv)
}

/// Runs `command` without credentials in its environment; an error with the last line of its
/// stderr when it fails.
fn run(command: &mut Command) -> Result<()> {
    secrets::scrub(command);
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{}`", command.get_program().to_string_lossy()))?;
    if !out.status.success() {
        bail!("{}", last_line(&out.stderr, out.status));
    }
    Ok(())
}

/// The last line a failed tool wrote on stderr, made visible (its exit status when it wrote
/// none).
pub fn last_line(stderr: &[u8], status: std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().rev().find(|l| !l.trim().is_empty());
    output::visible(line.unwrap_or(&status.to_string()))
}

/// The user's cache folder: `~/Library/Caches` on macOS (Apple's File System Programming
/// Guide, "Library/Caches"), else `$XDG_CACHE_HOME` when it is an absolute path, else
/// `~/.cache` (XDG Base Directory Specification:
/// https://specifications.freedesktop.org/basedir-spec/latest/#variables).
fn cache_home(
    os: &str,
    xdg_cache_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let home = home.filter(|h| !h.is_empty()).map(PathBuf::from);
    if os == "macos" {
        return home.map(|h| h.join("Library/Caches"));
    }
    // "If an incorrect path is detected (relative), it should be ignored."
    let xdg = xdg_cache_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    xdg.or_else(|| home.map(|h| h.join(".cache")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(os: &str, xdg: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
        cache_home(os, xdg.map(Into::into), home.map(Into::into))
    }

    #[test]
    fn the_cache_folder_follows_the_platform() {
        let home = Some("/home/me");
        assert_eq!(cache("linux", None, home), Some("/home/me/.cache".into()));
        assert_eq!(
            cache("linux", Some("/scratch/cache"), home),
            Some("/scratch/cache".into())
        );
        // A relative XDG_CACHE_HOME is ignored, as the specification says.
        assert_eq!(
            cache("linux", Some("cache"), home),
            Some("/home/me/.cache".into())
        );
        assert_eq!(
            cache("macos", Some("/scratch/cache"), Some("/Users/me")),
            Some("/Users/me/Library/Caches".into())
        );
        assert_eq!(cache("linux", None, None), None);
        assert_eq!(cache("linux", None, Some("")), None);
    }
}
