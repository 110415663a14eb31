//! The frozen set and the work-directory store: a release tag's files, once built (or handed
//! over with `stage --dist`) and checked, copied under
//! `$(git rev-parse --git-common-dir)/twostage/<tag>/dist/` with their size and digests in
//! `artifacts.toml`; what every later step reads back instead of building again. The clean
//! checkout of a commit (`git clone` then `git checkout --detach`, see git-clone(1)) lives here
//! too: the build and the smoke tests both run in one.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pep440_rs::Version;
use toml_edit::DocumentMut;

use crate::resolved::{work_dir, Release};
use crate::resources::contents;
use crate::resources::dist::{self, Kind};
use crate::resources::evidence::{self, ArtifactRecord};
use crate::resources::filename::DistFilename;
use crate::resources::git::Repo;
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

/// A clone of the repository at `commit`, detached, with the tags: never the working tree.
pub fn clean_checkout(repo: &Repo, commit: git2::Oid, dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear `{}`", dir.display()))?;
    }
    repo.clone_at(&commit.to_string(), dir)
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
pub fn freeze(repo: &Repo, release: &Release, files: &[PathBuf]) -> Result<Frozen> {
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

pub fn names(artifacts: &[ArtifactRecord]) -> String {
    artifacts
        .iter()
        .map(|a| format!("`{}`", a.filename))
        .collect::<Vec<_>>()
        .join(", ")
}
