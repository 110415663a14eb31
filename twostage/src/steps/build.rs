//! The `build` stage: build a release tag's sdist and wheels once, from a clean clone of the
//! tagged commit (never the working tree, so an uncommitted file cannot reach an artifact; with
//! its `.git`, so setuptools-scm and hatch-vcs see the tag), check every artifact's metadata
//! and filename against the tag, and freeze the files with their size and digests under
//! `$(git rev-parse --git-common-dir)/twostage/<tag>/`. A second build of the same tag reuses
//! the frozen files. `stage --dist` freezes a set built elsewhere through the same checks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use pep440_rs::Version;
use toml_edit::DocumentMut;
use xshell::cmd;

use crate::config::Config;
use crate::output;
use crate::resolved::{work_dir, Release};
use crate::resources::contents;
use crate::resources::dist::{self, Kind};
use crate::resources::evidence::{self, ArtifactRecord};
use crate::resources::filename::{DistFilename, SdistFormat};
use crate::resources::git::{self, Repo};
use crate::resources::readme;
use crate::resources::warehouse;

/// A tag's frozen artifacts: the files in `dir`, described by `artifacts`.
#[derive(Debug, Clone)]
pub struct Frozen {
    pub dir: PathBuf,
    pub artifacts: Vec<ArtifactRecord>,
}

impl Frozen {
    pub fn path(&self, artifact: &ArtifactRecord) -> PathBuf {
        self.dir.join(&artifact.filename)
    }
}

fn manifest_path(work: &Path) -> PathBuf {
    work.join("artifacts.toml")
}

/// The frozen files of `tag`, if they were frozen and still hash as recorded. Files frozen for
/// another commit (the tag was deleted and made again elsewhere) do not count.
pub fn frozen(repo: &Repo, tag: &str) -> Result<Option<Frozen>> {
    let work = work_dir(repo, tag);
    let Some(doc) = manifest_for(repo, tag)? else {
        return Ok(None);
    };
    let frozen = Frozen {
        dir: work.join("dist"),
        artifacts: evidence::artifacts_of(&doc),
    };
    for artifact in &frozen.artifacts {
        let path = frozen.path(artifact);
        let (size, sha256, _) = dist::digests(&path).with_context(|| {
            format!(
                "a frozen artifact of {tag} is missing: remove `{}` to build again",
                work.display()
            )
        })?;
        if size != artifact.size || sha256 != artifact.sha256 {
            bail!(
                "the frozen `{}` of {tag} changed on disk since it was built: remove `{}` to build again",
                artifact.filename,
                work.display()
            );
        }
    }
    Ok(Some(frozen))
}

/// The frozen set's manifest of `tag`, if it was built for the commit the tag names now.
fn manifest_for(repo: &Repo, tag: &str) -> Result<Option<DocumentMut>> {
    let path = manifest_path(&work_dir(repo, tag));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let doc: DocumentMut = text
        .parse()
        .with_context(|| format!("`{}` is damaged", path.display()))?;
    let commit = repo.tag_commit(tag).map(|c| c.to_string());
    Ok((doc.get("commit").and_then(|c| c.as_str()) == commit.as_deref()).then_some(doc))
}

/// Whether `tag` was built for the commit it names now, without hashing the files again
/// (`frozen` does, before anything is uploaded): what the post-tag hook asks right after
/// `release` built and hashed them.
pub fn is_built(repo: &Repo, tag: &str) -> Result<bool> {
    Ok(manifest_for(repo, tag)?.is_some())
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
    run_build(&command, tag, &checkout, &work.join("build.log"))?;
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

/// A clone of the repository at `commit`, detached, with the tags: never the working tree.
pub fn clean_checkout(repo: &Repo, commit: git2::Oid, dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear `{}`", dir.display()))?;
    }
    let (sh, source, commit) = (repo.sh()?, repo.common_dir(), commit.to_string());
    git::run(cmd!(sh, "git clone --quiet --no-checkout {source} {dir}"))
        .context("cannot make a clean clone of the repository")?;
    sh.change_dir(dir);
    git::run(cmd!(sh, "git checkout --quiet --detach {commit}"))
        .context("cannot check out the tagged commit")?;
    Ok(())
}

/// Freezes artifacts built elsewhere (`stage --dist DIR`), with the same checks.
pub fn freeze_from(repo: &Repo, release: &Release, dir: &Path) -> Result<Frozen> {
    let tag = &release.tag;
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(Kind::of)
                    .is_some()
        })
        .collect();
    if let Some(existing) = frozen(repo, tag)? {
        let mut offered = Vec::new();
        for file in &files {
            let (size, sha256, blake2_256) = dist::digests(file)?;
            let filename = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            offered.push(ArtifactRecord {
                filename,
                size,
                sha256,
                blake2_256,
            });
        }
        offered.sort_by(|a, b| a.filename.cmp(&b.filename));
        if offered == existing.artifacts {
            return Ok(existing);
        }
        bail!(
            "{tag} is already frozen with other files ({}) than `{}` holds: remove `{}` to replace them",
            names(&existing.artifacts),
            dir.display(),
            release.work.display()
        );
    }
    freeze(repo, release, &files)
}

/// Checks every file, then moves them under the tag's `dist/` with their digests recorded.
fn freeze(repo: &Repo, release: &Release, files: &[PathBuf]) -> Result<Frozen> {
    let (tag, work) = (&release.tag, &release.work);
    let accepted = check_artifacts(tag, &release.version, release.project.as_deref(), files)?;
    let dist_dir = work.join("dist");
    if dist_dir.exists() {
        std::fs::remove_dir_all(&dist_dir)?;
    }
    std::fs::create_dir_all(&dist_dir)?;
    let mut artifacts = Vec::new();
    for (filename, file) in accepted {
        let target = dist_dir.join(&filename);
        // Copied, not moved: `--dist` files belong to the caller.
        std::fs::copy(file, &target)
            .with_context(|| format!("cannot copy `{}`", file.display()))?;
        let (size, sha256, blake2_256) = dist::digests(&target)?;
        artifacts.push(ArtifactRecord {
            filename,
            size,
            sha256,
            blake2_256,
        });
    }
    artifacts.sort_by(|a, b| a.filename.cmp(&b.filename));
    let mut doc = DocumentMut::new();
    doc["tag"] = toml_edit::value(tag);
    if let Some(commit) = repo.tag_commit(tag) {
        doc["commit"] = toml_edit::value(commit.to_string());
    }
    evidence::set_artifacts(&mut doc, &artifacts);
    // The manifest is written last: its presence means the freeze is complete.
    std::fs::write(manifest_path(work), doc.to_string())?;
    Ok(Frozen {
        dir: dist_dir,
        artifacts,
    })
}

/// Every file's kind, metadata and contents checked against the tag, every problem reported
/// together; the files with their names when there is none.
fn check_artifacts<'a>(
    tag: &str,
    version: &Version,
    project: Option<&str>,
    files: &'a [PathBuf],
) -> Result<Vec<(String, &'a PathBuf)>> {
    let mut problems = Vec::new();
    let mut sdists = 0;
    let mut accepted = Vec::new();
    let mut readmes = Vec::new();
    for file in files {
        let filename = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        match Kind::of(&filename) {
            Some(Kind::Sdist) => sdists += 1,
            Some(Kind::Wheel) => {}
            None => {
                problems.push(format!(
                    "`{filename}` is neither a wheel nor a `.tar.gz` sdist"
                ));
                continue;
            }
        }
        match dist::read_metadata(file) {
            Ok(metadata) => {
                problems.extend(name_problem(&filename, &metadata));
                problems.extend(dist::check(&filename, &metadata, project, version));
                problems.extend(warehouse::metadata_problems(&filename, &metadata));
                if let Some((content_type, text)) = warehouse::readme_to_render(&metadata) {
                    readmes.push(readme::Readme {
                        filename: filename.clone(),
                        content_type,
                        text: text.to_string(),
                    });
                }
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
        // What PyPI's upload server would refuse, which a local index takes (docs/pypi-rules.md).
        problems.extend(warehouse::platform_problems(&filename));
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or_default();
        problems.extend(warehouse::size_problem(&filename, size));
        // What the file holds, as an installer would check it, before any upload.
        problems.extend(contents::problems(file, &filename));
        if Kind::of(&filename) == Some(Kind::Sdist) {
            problems.extend(dist::kit_problem(file, &filename));
        }
        accepted.push((filename, file));
    }
    // The README as PyPI renders it, all files at once (one Python process).
    problems.extend(readme::problems(&readmes));
    if accepted.is_empty() {
        problems.push("the build produced no wheel and no sdist".into());
    }
    if sdists > 1 {
        // "Only one sdist may be uploaded per release" (warehouse/forklift/legacy.py).
        problems.push("more than one sdist: an index takes one sdist per release".into());
    }
    if !problems.is_empty() {
        return Err(Refused(format!(
            "the artifacts of {tag} cannot be released:\n  - {}",
            problems.join("\n  - ")
        ))
        .into());
    }
    Ok(accepted)
}

/// The build succeeded and its files are refused (by the checks of `check_artifacts`): told
/// apart from a build that failed, so that `release` says which happened.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The project name that the metadata, or else the file name, gives when it breaks PEP 508's
/// rule (a non-ASCII letter named as such): an index would refuse it only after an upload.
fn name_problem(filename: &str, metadata: &dist::Metadata) -> Option<String> {
    let from_file = DistFilename::parse(filename).map_or("", |name| name.distribution());
    let named = metadata.get("Name").filter(|n| !n.is_empty());
    named
        .and_then(contents::name_problem)
        .or_else(|| contents::name_problem(from_file))
        .map(|problem| format!("`{filename}`: {problem}"))
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

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub fn names(artifacts: &[ArtifactRecord]) -> String {
    artifacts
        .iter()
        .map(|a| format!("`{}`", a.filename))
        .collect::<Vec<_>>()
        .join(", ")
}
