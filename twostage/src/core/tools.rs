//! The programs a release starts on this machine, found the way `release`, `stage` and
//! `verify` find them (the build command of `build_command`, the installer of
//! `pyenv::Installer::choose`, both from PATH): checked before anything changes, and
//! described in one line. `rehearse` runs the same check and prints the same line, so a
//! rehearsal cannot pass with tools the release will not have.

use std::path::Path;

use xshell::{cmd, Shell};

use crate::config::Config;
use crate::resources::pyenv::{self, Installer};

/// The programs the release will start, checked before anything changes: a missing `build`
/// module used to surface only after the tag was made.
pub fn missing(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let command = build_command(config, Path::new("dist"));
    let words: Vec<String> = command
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '\'' || c == '"').to_string())
        .collect();
    let program = words.first().cloned().unwrap_or_default();
    if !pyenv::runnable(&program) {
        problems.push(format!(
            "the build command `{command}` needs `{program}`, which is not on PATH: install it, or \
             set {} (uv: https://docs.astral.sh/uv/getting-started/installation/)",
            config.key_in_home("build.command")
        ));
    } else if words.get(1).is_some_and(|w| w == "-m")
        && words.get(2).is_some_and(|w| w == "build")
        && !python_imports(&program, "build")
    {
        problems.push(format!(
            "the build command `{command}` needs the Python package `build`: \
             `{program} -m pip install build`, or install uv, which twostage uses when it is on PATH"
        ));
    }
    if !config.verify.artifacts.is_empty() {
        match Installer::choose(config.verify.installer) {
            Err(e) => problems.push(format!(
                "{e:#}: install uv, or set `verify.installer = \"pip\"`"
            )),
            Ok(Installer::Pip) => {
                let python = pyenv::base_python();
                if !python_imports(&python, "venv, ensurepip") {
                    problems.push(format!(
                        "verification needs `{python}` with `venv` and `ensurepip` to make virtual \
                         environments: install your system's `python3-venv` package, or install uv"
                    ));
                }
            }
            Ok(_) => {}
        }
    }
    problems
}

fn python_imports(python: &str, modules: &str) -> bool {
    let Ok(sh) = Shell::new() else {
        return false;
    };
    let script = format!("import {modules}");
    cmd!(sh, "{python} -c {script}")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
}

/// The build command and the installer (with its version) this machine's PATH and `config`
/// give, as `release` builds and `stage`/`verify` install: `` `uv build --out-dir 'dist'`; uv
/// 0.13.9 ``. The installer is left out when nothing is verified.
pub fn describe(config: &Config) -> String {
    let command = build_command(config, Path::new("dist"));
    if config.verify.artifacts.is_empty() {
        return format!(
            "builds with `{command}`; nothing is verified (`verify.artifacts` is empty)"
        );
    }
    let installer = match Installer::choose(config.verify.installer) {
        Ok(installer) => {
            let python = pyenv::base_python();
            pyenv::installer_version(&installer, Path::new(&python))
        }
        Err(e) => format!("no installer ({e:#})"),
    };
    format!("builds with `{command}`, verifies with {installer}")
}

/// The build command line, `{out}` filled in.
pub fn build_command(config: &Config, out: &Path) -> String {
    let quoted = format!("'{}'", out.display().to_string().replace('\'', "'\\''"));
    match &config.build.command {
        Some(command) => command.replace("{out}", &quoted),
        None if on_path("uv") => format!("uv build --out-dir {quoted}"),
        None => format!("python3 -m build --outdir {quoted}"),
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
