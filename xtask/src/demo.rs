//! `demo`: the whole lifecycle of `examples/sample` against local registries, as a new user
//! would run it: a staging devpi and a production pypiserver on 127.0.0.1, a scratch copy of
//! the sample with a bare origin, `init`, `hooks install`, `release patch`,
//! `git push --follow-tags` (the hook stages and verifies), `promote` and `status`, each stage
//! timed, ending with what production serves. The servers stop on every exit path (they are
//! guarded by a pipe from this process, so Ctrl-C stops them too).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use twostage::index;
use twostage::output;
use twostage::sandbox::{self, Sandbox};

pub struct Options {
    pub keep: bool,
}

pub fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    let exe = std::env::current_exe()?;
    let root = sandbox::target_dir().join("twostage-demo");
    let mut timings: Vec<(String, f64)> = Vec::new();
    let mut step = |name: &str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        eprintln!();
        output::status("Step", name);
        let t = Instant::now();
        f()?;
        timings.push((name.to_string(), t.elapsed().as_secs_f64()));
        Ok(())
    };

    let mut sandbox: Option<Sandbox> = None;
    step("set up the Python tools (once per machine)", &mut || {
        sandbox::tools().map(|_| ())
    })?;
    step(
        "start staging (devpi) and production (pypiserver) on 127.0.0.1",
        &mut || {
            sandbox = Some(Sandbox::create(&root, &testbed::sample_project())?);
            Ok(())
        },
    )?;
    let sandbox = sandbox.context("the sandbox was not made")?;
    output::status("Staging", format!("`{}`", sandbox.staging.index_url));
    output::status(
        "Production",
        format!("`{}`", sandbox.production.index_url()),
    );
    output::status(
        "Repository",
        format!(
            "`{}` (origin `{}`)",
            sandbox.repo.display(),
            sandbox.origin.display()
        ),
    );
    let env = sandbox.env()?;
    let cmd = |program: &Path, args: &[&str]| -> Result<()> {
        let shown = if program == exe.as_path() {
            "cargo xtask"
        } else {
            "git"
        };
        output::status("Running", format!("`{shown} {}`", args.join(" ")));
        let mut c = Command::new(program);
        c.args(args)
            .current_dir(&sandbox.repo)
            .env("TWOSTAGE_BIN", &exe)
            .env("NO_COLOR", "1");
        for (k, v) in &env {
            c.env(k, v);
        }
        let status = c
            .status()
            .with_context(|| format!("cannot run {}", program.display()))?;
        if !status.success() {
            bail!(
                "`{} {}` failed ({status})",
                program.display(),
                args.join(" ")
            );
        }
        Ok(())
    };
    let git = PathBuf::from("git");
    step("adopt twostage: init, commit, hooks install", &mut || {
        cmd(&exe, &["init", "."])?;
        cmd(&git, &["add", "-A"])?;
        cmd(&git, &["commit", "--quiet", "-m", "Adopt twostage"])?;
        cmd(&git, &["push", "--quiet", "origin", "main"])?;
        cmd(&exe, &["hooks", "install"])
    })?;
    step(
        "cargo xtask release patch (bump, changelog, commit, tag; post-tag builds)",
        &mut || cmd(&exe, &["release", "patch"]),
    )?;
    step(
        "git push --follow-tags (pre-push stages and verifies)",
        &mut || cmd(&git, &["push", "--follow-tags", "origin", "main"]),
    )?;
    step("cargo xtask promote v0.1.1", &mut || {
        cmd(&exe, &["promote", "v0.1.1"])
    })?;
    step("cargo xtask status", &mut || cmd(&exe, &["status"]))?;

    eprintln!();
    output::status("Production", "serves:");
    let files = index::project_files(
        &index::agent(),
        &sandbox.production.index_url(),
        "twostage-sample",
    )?
    .unwrap_or_default();
    for file in files.iter().filter(|f| f.version() == Some("0.1.1")) {
        println!(
            "  {}  sha256={}",
            file.filename,
            file.sha256.as_deref().unwrap_or("?")
        );
    }
    eprintln!();
    for (name, secs) in &timings {
        eprintln!("{secs:>9.2}s  {name}");
    }
    eprintln!("{:>9.2}s  in all", started.elapsed().as_secs_f64());
    let repo = sandbox.repo.clone();
    drop(sandbox);
    if options.keep {
        output::note(format!(
            "the scratch repository stays at `{}` (its servers are stopped)",
            repo.display()
        ));
    } else {
        std::fs::remove_dir_all(&root).ok();
        output::note(format!(
            "the scratch repository `{}` was removed (`--keep` keeps it)",
            repo.display()
        ));
    }
    Ok(())
}
