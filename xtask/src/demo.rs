//! `demo`: the whole lifecycle of `examples/sample` against local registries, as a new user
//! would run it: a staging devpi and a production pypiserver on 127.0.0.1, a scratch copy of
//! the sample with a bare origin, `init`, `hooks install`, `release patch`,
//! `git push --follow-tags` (the hook stages and verifies), `promote` and `status`, each stage
//! timed, ending with what production serves. The servers stop on every exit path (they are
//! guarded by a pipe from this process, so Ctrl-C stops them too).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::{cmd, Cmd, Shell};

use twostage::output::{self, Steps};
use twostage::resources::index;
use twostage::resources::sandbox::{self, Sandbox};

pub struct Options {
    pub keep: bool,
}

pub fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    let root = sandbox::target_dir().join("twostage-demo");
    let mut steps = Steps::new("the demo");
    steps.run("set up the Python tools (once, then reused)", || {
        sandbox::tools().map(|_| ())
    })?;
    let sandbox = steps.run(
        "start staging (devpi) and production (pypiserver) on 127.0.0.1",
        || Sandbox::create(&root, &testbed::sample_project()),
    )?;
    show_sandbox(&sandbox);
    release_the_sample(&mut steps, &sandbox)?;
    show_production(&sandbox)?;
    steps.print(started);
    clean_up(sandbox, &root, options.keep);
    Ok(())
}

fn show_sandbox(sandbox: &Sandbox) {
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
}

/// What a new user runs in the scratch repository, a step at a time: this binary stands for
/// `cargo xtask` (and runs the hooks, through `TWOSTAGE_BIN`).
fn release_the_sample(steps: &mut Steps, sandbox: &Sandbox) -> Result<()> {
    let exe = std::env::current_exe()?;
    let sh = Shell::new()?;
    sh.change_dir(&sandbox.repo);
    for (key, value) in sandbox.env()? {
        sh.set_var(key, value);
    }
    sh.set_var("TWOSTAGE_BIN", &exe);
    sh.set_var("NO_COLOR", "1");
    let shown_exe = exe.display().to_string();
    let run = |command: Cmd<'_>| -> Result<()> {
        let shown = command.to_string().replacen(&shown_exe, "cargo xtask", 1);
        output::status("Running", format!("`{shown}`"));
        command
            .quiet()
            .run()
            .with_context(|| format!("`{shown}` failed"))
    };
    steps.run("adopt twostage: init, commit, hooks install", || {
        run(cmd!(sh, "{exe} init ."))?;
        run(cmd!(sh, "git add -A"))?;
        run(cmd!(sh, "git commit --quiet -m 'Adopt twostage'"))?;
        run(cmd!(sh, "git push --quiet origin main"))?;
        run(cmd!(sh, "{exe} hooks install"))
    })?;
    steps.run(
        "cargo xtask release patch (bump, changelog, commit, tag; post-tag builds)",
        || run(cmd!(sh, "{exe} release patch")),
    )?;
    steps.run(
        "git push --follow-tags (pre-push stages and verifies)",
        || run(cmd!(sh, "git push --follow-tags origin main")),
    )?;
    steps.run("cargo xtask promote v0.1.1", || {
        run(cmd!(sh, "{exe} promote v0.1.1"))
    })?;
    steps.run("cargo xtask status", || run(cmd!(sh, "{exe} status")))
}

/// The released files production serves, with their hashes, on stdout.
fn show_production(sandbox: &Sandbox) -> Result<()> {
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
    Ok(())
}

/// Stops the servers, and removes the scratch folder unless `keep`.
fn clean_up(sandbox: Sandbox, root: &Path, keep: bool) {
    let repo = sandbox.repo.clone();
    drop(sandbox);
    if keep {
        output::note(format!(
            "the scratch repository stays at `{}` (its servers are stopped)",
            repo.display()
        ));
    } else {
        std::fs::remove_dir_all(root).ok();
        output::note(format!(
            "the scratch repository `{}` was removed (`--keep` keeps it)",
            repo.display()
        ));
    }
}
