//! The resolved release: a release tag's name, version, commit, project name and work
//! directory, worked out once from the tag, the configuration and the manifest, and passed down to every step that
//! acts on it (`stage`, `verify`, `promote`, `status`, the hooks). It reads; it never writes,
//! uploads or talks to an index.

use std::path::PathBuf;

use anyhow::{Context, Result};
use pep440_rs::Version;

use crate::config::Config;
use crate::error::UsageError;
use crate::resources::evidence::{self, ArtifactRecord, Note};
use crate::resources::filename::DistFilename;
use crate::resources::git::Repo;
use crate::resources::{dist, manifest};

/// A release tag resolved: its name, version and commit.
#[derive(Debug, Clone)]
pub struct Release {
    pub tag: String,
    pub version: Version,
    pub commit: git2::Oid,
    /// The distribution name, when the configuration or the manifest names it.
    pub project: Option<String>,
    /// The local working state of this release (`work_dir`).
    pub work: PathBuf,
    /// The package of several this release is of (`Config::member`); `None` in a
    /// single-package repository.
    pub package: Option<String>,
}

/// `<git-common-dir>/twostage/<tag>/`: the local working state of one release (its build,
/// frozen files, verification venvs and logs), shared by every worktree of the repository.
pub fn work_dir(repo: &Repo, tag: &str) -> PathBuf {
    repo.common_dir().join("twostage").join(tag)
}

impl Release {
    /// The project's name on the index: the configured or manifest name, else the one the
    /// artifacts' filenames carry.
    pub fn project_name(&self, artifacts: &[ArtifactRecord]) -> String {
        self.project.clone().unwrap_or_else(|| {
            artifacts
                .first()
                .and_then(|a| DistFilename::parse(&a.filename))
                .map(|name| name.distribution())
                .unwrap_or_default()
                .to_string()
        })
    }
}

impl Release {
    /// A fresh release note of this release: in a repository of several packages, its
    /// package's section of the commit's note (`Note::write` keeps the other sections).
    pub fn new_note(&self) -> Note {
        let mut note = Note::new(&self.tag, &self.version.to_string(), self.commit);
        note.package = self.package.clone();
        note
    }

    /// Refuses, before any of them becomes a path, file names that are not this release's
    /// (`../../x`, an absolute path, another project's or version's file): they come from a
    /// release note or an index page, which anyone with push access can write.
    pub fn check_filenames(&self, artifacts: &[ArtifactRecord]) -> Result<()> {
        let project = self.project_name(artifacts);
        for artifact in artifacts {
            dist::release_filename(&artifact.filename, &project, &self.version).with_context(
                || {
                    format!(
                        "the record of {} names a file that is not one of its own; nothing was \
                         changed: fix the release note (`git notes --ref {} edit {}`)",
                        self.tag,
                        evidence::NOTES_REF,
                        self.commit
                    )
                },
            )?;
        }
        Ok(())
    }
}

/// Resolves a plain (non-production) release tag that exists locally.
pub fn tagged_release(repo: &Repo, config: &Config, tag: &str) -> Result<Release> {
    let scheme = config.git.tag_scheme();
    let parsed = scheme
        .parse(tag)
        .map_err(|e| UsageError(format!("{e:#}")))?;
    if parsed.prod {
        return Err(UsageError(format!(
            "`{tag}` is a production tag: stage the release tag `{}` instead, and promote it with `cargo xtask promote`",
            scheme.tag(&parsed.version)
        ))
        .into());
    }
    let commit = repo.tag_commit(tag).ok_or_else(|| {
        UsageError(format!(
            "there is no tag `{tag}` here: make it with `cargo xtask release`"
        ))
    })?;
    let project = manifest::Project::read(repo.root(), config)
        .ok()
        .and_then(|p| p.name);
    Ok(Release {
        tag: tag.to_string(),
        version: parsed.version,
        commit,
        project,
        work: work_dir(repo, tag),
        package: config.member().map(|m| m.name.clone()),
    })
}

/// The configuration a command acting on `tag` runs with: in a repository of several
/// packages, that of the package whose tag it is (`Config::for_tag`), so every step works as
/// for one package; in a single-package repository, `config` itself. A tag of no package is
/// a usage error naming the packages' tag forms; so is a bare version (`1.2.0`), which names
/// no package.
pub fn config_for_tag(config: &Config, tag: &str) -> Result<Config> {
    if !config.is_multi_package() || config.member().is_some() {
        return Ok(config.clone());
    }
    if let Some((package, _)) = config.for_tag(tag) {
        return Ok(package);
    }
    let forms: Vec<String> = config
        .packages
        .iter()
        .map(|m| {
            let scheme = m.tags.scheme();
            format!("`{}<version>{}` ({})", scheme.prefix, scheme.suffix, m.name)
        })
        .collect();
    let bare = tag.starts_with(|c: char| c.is_ascii_digit());
    let which = if bare && crate::version::parse_release_version(tag).is_ok() {
        format!("`{tag}` is a version, not a tag: which package? ")
    } else {
        format!("`{tag}` is the tag of no package here: ")
    };
    Err(UsageError(format!(
        "{which}this repository holds several packages, each with its own tags: {}",
        forms.join(", ")
    ))
    .into())
}
