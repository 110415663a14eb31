//! The resolved release: a release tag's name, version, commit, project name and work
//! directory, worked out once from the tag, the configuration and the manifest, and passed down to every step that
//! acts on it (`stage`, `verify`, `promote`, `status`, the hooks). It reads; it never writes,
//! uploads or talks to an index.

use std::path::PathBuf;

use anyhow::{Context, Result};
use pep440_rs::Version;

use crate::config::Config;
use crate::error::UsageError;
use crate::resources::evidence::{self, ArtifactRecord};
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
    })
}
