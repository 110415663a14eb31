//! A release tag built once: from a clean clone of the tagged commit (never the working tree,
//! so an uncommitted file cannot reach an artifact; with its `.git`, so setuptools-scm and
//! hatch-vcs see the tag), every artifact's metadata and filename checked against the tag, and
//! the files frozen with their size and digests under
//! `$(git rev-parse --git-common-dir)/twostage/<tag>/`. A second build of the same tag reuses
//! the frozen files. It is the core's because three steps need the same tag built the same
//! way and none of them decides more than "built, or stop": `release` (the new tag, undone if
//! it does not build), the post-tag hook and `stage` (a tag not built yet). `stage --dist`
//! freezes a set built elsewhere through the same checks (`frozen::freeze_from`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::config::Config;
use crate::core::frozen::{clean_checkout, freeze, frozen, names, Frozen};
use crate::core::tools::build_command;
use crate::output;
use crate::resolved::{self, Release};
use crate::resources::dist::Kind;
use crate::resources::filename::SdistFormat;
use crate::resources::git::{self, Repo};
use crate::resources::manifest;

/// Checks that a new release tag carries the version of record, and builds it once.
pub fn build_tag(repo: &Repo, config: &Config, tag: &str) -> Result<()> {
    let release = resolved::tagged_release(repo, config, tag)?;
    // The tag must carry the version of record (for a project that keeps it in a file).
    if repo.head_commit()? == release.commit {
        let project = manifest::Project::read(repo.root(), config)?;
        if let Some(current) = project.current {
            if current != release.version {
                bail!(
                    "tag `{tag}` says {}, but the version of record ({}) is {current}: delete the tag \
                     (`git tag -d {tag}`) and make it with `cargo xtask release`",
                    release.version,
                    project.record.describe()
                );
            }
        }
    }
    ensure_built(repo, config, &release)?;
    Ok(())
}

/// Builds `tag` (at `commit`) unless its artifacts are already frozen.
pub fn ensure_built(repo: &Repo, config: &Config, release: &Release) -> Result<Frozen> {
    let tag = &release.tag;
    if let Some(frozen) = frozen(repo, tag)? {
        output::status(
            "Fresh",
            format!(
                "{tag}: {} frozen files, built before",
                frozen.artifacts.len()
            ),
        );
        return Ok(frozen);
    }
    let work = &release.work;
    let checkout = work.join("checkout");
    let out = work.join("out");
    if out.exists() {
        std::fs::remove_dir_all(&out)
            .with_context(|| format!("cannot clear `{}`", out.display()))?;
    }
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    clean_checkout(repo, release.commit, &checkout)?;
    let command = build_command(config, &out);
    output::status("Building", format!("{tag} in a clean clone: `{command}`"));
    // One package of several builds in its own folder of the clone (`package.folder`).
    let folder = checkout.join(&config.package.folder);
    run_build(&command, tag, &folder, &work.join("build.log"))?;
    if config.build.repair {
        crate::resources::repair::repair_wheels(tag, &out)?;
    }
    let frozen = freeze(repo, release, &built_files(&out)?)?;
    std::fs::remove_dir_all(&checkout).ok();
    std::fs::remove_dir_all(&out).ok();
    output::status(
        "Built",
        format!(
            "{tag}: {} in {:.1}s",
            names(&frozen.artifacts),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(frozen)
}

/// Runs the build command in `checkout`, its output in `log`, whose end is shown when it fails.
fn run_build(command: &str, tag: &str, checkout: &Path, log: &Path) -> Result<()> {
    let log_file = std::fs::File::create(log)?;
    // The build runs the project's backend, fetched from an index: other people's code, so
    // it gets no upload credential (`secrets`), in a process group an interrupt ends.
    let sh = git::shell_in(checkout)?;
    let mut build = Command::from(cmd!(sh, "sh -c {command}"));
    build
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
    // maturin's PEP 517 backend builds with `--compatibility off` unless `MATURIN_PEP517_ARGS`
    // says otherwise (`_build_wheel` in
    // https://github.com/PyO3/maturin/blob/main/maturin/__init__.py), which makes a `linux_x86_64` wheel that PyPI refuses.
    // `pypi` gives the lowest `manylinux_*` tag maturin's own auditwheel check passes. A
    // value of the maintainer's (in the environment or in `build.command`) wins.
    if std::env::var_os("MATURIN_PEP517_ARGS").is_none() {
        build.env("MATURIN_PEP517_ARGS", "--compatibility pypi");
    }
    crate::resources::secrets::scrub(&mut build);
    let mut child =
        crate::interrupt::spawn(&mut build).with_context(|| format!("cannot run `{command}`"))?;
    let status = child.wait();
    crate::interrupt::forget(&child);
    crate::interrupt::checkpoint();
    let status = status.with_context(|| format!("cannot run `{command}`"))?;
    if !status.success() {
        bail!(
            "the build of {tag} failed ({status}); the end of `{}`:\n{}",
            log.display(),
            tail(log, 25)
        );
    }
    Ok(())
}

/// The wheels and sdists in the build output, saying what else is there.
fn built_files(out: &Path) -> Result<Vec<PathBuf>> {
    let mut built = Vec::new();
    for path in std::fs::read_dir(out)?.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // Builders leave other files beside the artifacts (`uv build` writes a `.gitignore`);
        // an sdist of an older archive format (`.zip`, `.tar.bz2`, …) is kept so that it is
        // refused by name (PEP 625).
        if Kind::of(name).is_some() || SdistFormat::split(name).is_some() {
            built.push(path);
        } else if path.is_file() && !name.starts_with('.') {
            output::note(format!(
                "ignoring `{name}` in the build output: not a wheel or sdist"
            ));
        }
    }
    Ok(built)
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
