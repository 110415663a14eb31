//! The git repository: questions through git2, writes through the `git` CLI so that hooks,
//! signing (`git tag -s`) and the user's configuration apply. This module knows nothing of
//! releases; it answers and acts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use git2::{Oid, Repository, StatusOptions};
use xshell::{cmd, Cmd, Shell};

pub struct Repo {
    repo: Repository,
    root: PathBuf,
}

impl Repo {
    /// The repository that contains `dir`.
    pub fn discover(dir: &Path) -> Result<Repo> {
        let repo = Repository::discover(dir).map_err(|e| {
            crate::error::UsageError(format!(
                "`{}` is not inside a git repository ({}): run twostage from your project's \
                 repository or pass `--repo <dir>`",
                dir.display(),
                e.message()
            ))
        })?;
        let root = repo.workdir().map(Path::to_path_buf).ok_or_else(|| {
            crate::error::UsageError("a bare repository has no files to release".into())
        })?;
        Ok(Repo { repo, root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `$(git rev-parse --git-common-dir)`: shared by all worktrees.
    /// This worktree's own git folder (`.git`, or `.git/worktrees/<name>` in a linked one).
    pub fn git_dir(&self) -> &Path {
        self.repo.path()
    }

    pub fn common_dir(&self) -> &Path {
        self.repo.commondir()
    }

    /// The checked-out branch, `None` when HEAD is detached or unborn.
    pub fn current_branch(&self) -> Option<String> {
        let head = self.repo.head().ok()?;
        if !head.is_branch() {
            return None;
        }
        head.shorthand().map(str::to_string)
    }

    pub fn head_commit(&self) -> Result<Oid> {
        let head = self
            .repo
            .head()
            .context("the repository has no commit yet")?;
        Ok(head.peel_to_commit()?.id())
    }

    /// Tracked files with changes, staged or not. Untracked files are not listed: they are
    /// neither committed by a release nor part of a build from a clean checkout.
    pub fn changed_files(&self) -> Result<Vec<String>> {
        let mut options = StatusOptions::new();
        options.include_untracked(false).include_ignored(false);
        let statuses = self.repo.statuses(Some(&mut options))?;
        Ok(statuses
            .iter()
            .filter(|s| !s.status().is_empty())
            .filter_map(|s| s.path().map(str::to_string))
            .collect())
    }

    /// Every tag with the commit it points at (annotated tags peeled).
    /// The tags' names, without reading what they point at.
    pub fn tag_names(&self) -> Result<Vec<String>> {
        Ok(self
            .repo
            .tag_names(None)?
            .iter()
            .flatten()
            .map(str::to_string)
            .collect())
    }

    pub fn tags(&self) -> Result<Vec<(String, Oid)>> {
        let mut tags = Vec::new();
        for name in self.repo.tag_names(None)?.iter().flatten() {
            let reference = self.repo.find_reference(&format!("refs/tags/{name}"))?;
            if let Ok(commit) = reference.peel_to_commit() {
                tags.push((name.to_string(), commit.id()));
            }
        }
        Ok(tags)
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: Oid, descendant: Oid) -> bool {
        ancestor == descendant
            || self
                .repo
                .graph_descendant_of(descendant, ancestor)
                .unwrap_or(false)
    }

    pub fn has_commit(&self, oid: Oid) -> bool {
        self.repo.find_commit(oid).is_ok()
    }

    pub fn remote_url(&self, remote: &str) -> Option<String> {
        self.repo
            .find_remote(remote)
            .ok()?
            .url()
            .map(str::to_string)
    }

    /// The refs a remote has, read without fetching (`git ls-remote`).
    pub fn ls_remote(&self, remote: &str, patterns: &[&str]) -> Result<Vec<(String, Oid)>> {
        let sh = self.sh()?;
        let out = run(cmd!(sh, "git ls-remote --quiet {remote} {patterns...}"))
            .with_context(|| format!("cannot read the refs of remote `{remote}`"))?;
        Ok(out
            .lines()
            .filter_map(|line| {
                let (oid, name) = line.split_once('\t')?;
                Some((name.to_string(), Oid::from_str(oid).ok()?))
            })
            .collect())
    }

    /// The commit a tag points at, `None` when there is no such tag.
    pub fn tag_commit(&self, name: &str) -> Option<Oid> {
        let reference = self
            .repo
            .find_reference(&format!("refs/tags/{name}"))
            .ok()?;
        Some(reference.peel_to_commit().ok()?.id())
    }

    /// Whether the tag `name` is an annotated (or signed) tag object rather than a lightweight
    /// ref to a commit; `None` when there is no such tag.
    pub fn tag_is_annotated(&self, name: &str) -> Option<bool> {
        let reference = self
            .repo
            .find_reference(&format!("refs/tags/{name}"))
            .ok()?;
        let object = self.repo.find_object(reference.target()?, None).ok()?;
        Some(object.kind() == Some(git2::ObjectType::Tag))
    }

    /// The text of the note on `oid` under `notes_ref`.
    pub fn note(&self, notes_ref: &str, oid: Oid) -> Option<String> {
        let note = self.repo.find_note(Some(notes_ref), oid).ok()?;
        note.message().map(str::to_string)
    }

    /// A shell in the work tree, for git command lines: `git::run(cmd!(sh, "git tag {tag}"))`.
    pub fn sh(&self) -> Result<Shell> {
        shell_in(&self.root)
    }
}

/// A shell whose commands run in `dir`.
pub fn shell_in(dir: &Path) -> Result<Shell> {
    let sh = Shell::new().context("cannot read the current folder")?;
    sh.change_dir(dir);
    Ok(sh)
}

/// Runs a git command line built with `cmd!`, never prompting for credentials, and returns its
/// stdout; fails with the command line and git's stderr.
pub fn run(cmd: Cmd) -> Result<String> {
    run_with_input(cmd, None)
}

/// Like `run`, with `input` on stdin (`git notes add -F -`).
pub fn run_with_input(cmd: Cmd, input: Option<&[u8]>) -> Result<String> {
    use std::io::Write;
    let mut command = Command::from(cmd.env("GIT_TERMINAL_PROMPT", "0"));
    let shown = shown(&command);
    // A commit, a tag or a push fires hooks: a chained one gets no credentials.
    crate::resources::secrets::for_hooks(&mut command);
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run `git`: is it installed and on PATH?")?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!(
            "`{shown}` failed: {}",
            stderr.trim().lines().collect::<Vec<_>>().join("; ")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A command line for an error: an argument spanning lines (a tag's message) shows its first
/// line, one with spaces is quoted, and nothing is escaped.
fn shown(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|arg| {
            let arg = arg.to_string_lossy();
            let first = arg.lines().next().unwrap_or_default();
            let arg = match first.len() < arg.len() {
                true => format!("{first}…"),
                false => arg.into_owned(),
            };
            match arg.is_empty() || arg.contains(char::is_whitespace) {
                true => format!("'{arg}'"),
                false => arg,
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `owner/name` from a GitHub remote URL (`git@github.com:o/n.git`, `https://github.com/o/n`).
pub fn github_repository(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("git@github.com:")
        .or_else(|| url.split_once("github.com/").map(|(_, r)| r))?;
    let rest = rest.trim_end_matches('/').trim_end_matches(".git");
    let (owner, name) = rest.split_once('/')?;
    (!owner.is_empty() && !name.is_empty() && !name.contains('/'))
        .then(|| format!("{owner}/{name}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failed_command_is_shown_with_its_messages_first_line_unescaped() {
        let sh = xshell::Shell::new().unwrap();
        let message = "Promote v1.0 → production\n\nsha256 …";
        let command =
            std::process::Command::from(xshell::cmd!(sh, "git tag -a v1.0-prod -m {message}"));
        assert_eq!(
            super::shown(&command),
            "git tag -a v1.0-prod -m 'Promote v1.0 → production…'"
        );
    }

    #[test]
    fn github_repository_from_remote_urls() {
        for url in [
            "git@github.com:o/n.git",
            "https://github.com/o/n",
            "https://github.com/o/n.git",
            "ssh://git@github.com/o/n.git",
        ] {
            assert_eq!(
                super::github_repository(url).as_deref(),
                Some("o/n"),
                "{url}"
            );
        }
        assert_eq!(super::github_repository("/tmp/origin.git"), None);
    }
}
