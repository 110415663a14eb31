//! What changed in a repository since a tag, read through git2: the paths that differ between
//! the commit where HEAD's history and the tag's meet and HEAD (`git diff --name-only
//! TAG...HEAD`, https://git-scm.com/docs/git-diff), and the tags HEAD descends from. Only
//! committed changes count: a release starts from a clean work tree. This module knows tags
//! only as names passed in; which tag is a package's last release is decided above it.

use std::path::Path;

use anyhow::{Context, Result};
use git2::{DiffOptions, Oid, Repository};

pub struct History {
    repo: Repository,
}

impl History {
    /// The repository that contains `dir`.
    pub fn open(dir: &Path) -> Result<History> {
        let repo = Repository::discover(dir)
            .with_context(|| format!("`{}` is not inside a git repository", dir.display()))?;
        Ok(History { repo })
    }

    fn head(&self) -> Result<Oid> {
        Ok(self
            .repo
            .head()
            .context("the repository has no commit yet")?
            .peel_to_commit()?
            .id())
    }

    fn tag_commit(&self, tag: &str) -> Result<Oid> {
        Ok(self
            .repo
            .find_reference(&format!("refs/tags/{tag}"))
            .with_context(|| format!("there is no tag `{tag}`"))?
            .peel_to_commit()
            .with_context(|| format!("the tag `{tag}` names no commit"))?
            .id())
    }

    /// The paths (relative to the work tree's root, `/`-separated) that differ between the
    /// merge base of `tag` and HEAD, and HEAD, sorted: both sides of a rename, a deleted file,
    /// a changed mode. The merge base, not the tag itself, so a tag on another branch counts
    /// only what HEAD's own history changed since the two parted.
    pub fn changed_since(&self, tag: &str) -> Result<Vec<String>> {
        let head = self.head()?;
        let tagged = self.tag_commit(tag)?;
        let base = self
            .repo
            .merge_base(tagged, head)
            .with_context(|| format!("`{tag}` and HEAD have no commit in common"))?;
        let tree = |oid: Oid| -> Result<git2::Tree<'_>> { Ok(self.repo.find_commit(oid)?.tree()?) };
        let (old, new) = (tree(base)?, tree(head)?);
        let mut options = DiffOptions::new();
        options.include_typechange(true);
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&old), Some(&new), Some(&mut options))
            .with_context(|| format!("cannot compare `{tag}` with HEAD"))?;
        let mut paths = Vec::new();
        for delta in diff.deltas() {
            for file in [delta.old_file(), delta.new_file()] {
                if let Some(path) = file.path().and_then(Path::to_str) {
                    paths.push(path.to_string());
                }
            }
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// The names of the tags whose commit HEAD is or descends from.
    pub fn tags_behind_head(&self) -> Result<Vec<String>> {
        let head = self.head()?;
        let mut names = Vec::new();
        for name in self.repo.tag_names(None)?.iter().flatten() {
            let Ok(tagged) = self.tag_commit(name) else {
                continue;
            };
            if tagged == head || self.repo.graph_descendant_of(head, tagged).unwrap_or(false) {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }
}
