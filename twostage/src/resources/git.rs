//! The git repository: questions through git2, writes through the `git` CLI so that hooks,
//! signing (`git tag -s`) and the user's configuration apply. Each write is a verb of its own
//! (`tag_annotated`, `push_refs`, `clone_at`, `commit_paths`, …), so that the steps and the
//! core name what they do and no module above this one writes a git command line. This module
//! knows nothing of releases; it answers and acts.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

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

    /// The objects `notes_ref` holds a note on (none when the ref does not exist).
    pub fn noted(&self, notes_ref: &str) -> Vec<Oid> {
        let Ok(notes) = self.repo.notes(Some(notes_ref)) else {
            return Vec::new();
        };
        notes
            .filter_map(|n| n.ok().map(|(_, object)| object))
            .collect()
    }

    /// A shell in the work tree, for git command lines: `git::run(cmd!(sh, "git tag {tag}"))`.
    pub fn sh(&self) -> Result<Shell> {
        shell_in(&self.root)
    }
}

/// What `git log -1 --format=%P%n%s HEAD` says of HEAD: its parents and its subject.
#[derive(Debug)]
pub struct HeadCommit {
    pub parents: Vec<String>,
    pub subject: String,
}

/// How `Repo::push_refs` pushes; each field is the `git push` flag of its name.
#[derive(Debug, Default)]
pub struct Push<'a> {
    pub atomic: bool,
    pub quiet: bool,
    pub follow_tags: bool,
    /// Variables for the hooks the push fires (the shims read them).
    pub hook_env: &'a [(&'a str, &'a str)],
}

impl Push<'_> {
    fn flags(&self) -> Vec<&'static str> {
        [
            (self.atomic, "--atomic"),
            (self.quiet, "--quiet"),
            (self.follow_tags, "--follow-tags"),
        ]
        .into_iter()
        .filter_map(|(on, flag)| on.then_some(flag))
        .collect()
    }
}

/// The writes, each one git command line that fires the hooks it fires and takes the user's
/// configuration (signing, `core.hooksPath`); and the questions git2 does not answer as the
/// CLI does (`--git-path`, `--filters`, pickaxe).
impl Repo {
    /// `git rev-parse --git-path hooks`: the hooks folder, `core.hooksPath` and linked
    /// worktrees included.
    pub fn hooks_dir(&self) -> Result<PathBuf> {
        let sh = self.sh()?;
        let path = run(cmd!(sh, "git rev-parse --git-path hooks"))?;
        Ok(self.root.join(path.trim()))
    }

    /// A clone of this repository in `dir` with its tags, detached at `commit`, the working
    /// tree as a checkout of `commit` writes it.
    pub fn clone_at(&self, commit: &str, dir: &Path) -> Result<()> {
        let (sh, source) = (self.sh()?, self.common_dir());
        run(cmd!(sh, "git clone --quiet --no-checkout {source} {dir}"))
            .context("cannot make a clean clone of the repository")?;
        sh.change_dir(dir);
        run(cmd!(sh, "git checkout --quiet --detach {commit}"))
            .context("cannot check out the tagged commit")?;
        Ok(())
    }

    /// Whether `name` resolves to an object (`git rev-parse --verify --quiet`).
    pub fn resolves(&self, name: &str) -> bool {
        self.sh()
            .and_then(|sh| run(cmd!(sh, "git rev-parse --verify --quiet {name}")))
            .is_ok()
    }

    /// HEAD's parents and subject.
    pub fn head_commit_summary(&self) -> Result<HeadCommit> {
        let sh = self.sh()?;
        let log = run(cmd!(sh, "git log -1 --format=%P%n%s HEAD"))?;
        let mut lines = log.lines();
        let parents = lines.next().unwrap_or_default();
        Ok(HeadCommit {
            parents: parents.split_whitespace().map(str::to_string).collect(),
            subject: lines.next().unwrap_or_default().to_string(),
        })
    }

    /// The file `path` at `commit` as a checkout writes it: `git cat-file --filters`, so
    /// end-of-line conversion and `.gitattributes` filters apply.
    pub fn file_as_checked_out(&self, commit: &str, path: &str) -> Result<String> {
        let (sh, spec) = (self.sh()?, format!("{commit}:{path}"));
        run(cmd!(sh, "git cat-file --filters {spec}"))
    }

    /// The file `path` at `commit` as stored (`git show <commit>:<path>`).
    pub fn show_at(&self, commit: &str, path: &str) -> Result<String> {
        let (sh, spec) = (self.sh()?, format!("{commit}:{path}"));
        run(cmd!(sh, "git show {spec}"))
    }

    /// An annotated tag's message (`%(contents)`); empty for a lightweight tag.
    pub fn tag_message(&self, tag: &str) -> Result<String> {
        let sh = self.sh()?;
        run(cmd!(
            sh,
            "git for-each-ref --format=%(contents) refs/tags/{tag}"
        ))
    }

    /// The oldest commit that added `path` (`git log --diff-filter=A`).
    pub fn first_commit_adding(&self, path: &str) -> Result<Option<String>> {
        self.oldest(&["--diff-filter=A", "--", path])
    }

    /// The oldest commit that changed how often `text` occurs in `path` (`git log -S`).
    pub fn first_commit_adding_text(&self, text: &str, path: &str) -> Result<Option<String>> {
        self.oldest(&[&format!("-S{text}"), "--", path])
    }

    fn oldest(&self, args: &[&str]) -> Result<Option<String>> {
        let sh = self.sh()?;
        let out = run(cmd!(sh, "git log --reverse --format=%H {args...}"))?;
        Ok(out.lines().next().map(str::to_string))
    }

    /// The tags whose commit descends from `commit` (`git tag --contains`).
    pub fn tags_containing(&self, commit: &str) -> Result<Vec<String>> {
        let sh = self.sh()?;
        let out = run(cmd!(sh, "git tag --contains {commit}"))?;
        Ok(out.lines().map(|l| l.trim().to_string()).collect())
    }

    /// Fetches the remote's ref `from` into the local ref `to`, no tags with it; `force` lets
    /// `to` move to a commit it does not descend from (`+from:to`).
    pub fn fetch_ref(&self, remote: &str, from: &str, to: &str, force: bool) -> Result<()> {
        let sh = self.sh()?;
        let spec = format!("{}{from}:{to}", if force { "+" } else { "" });
        run(cmd!(sh, "git fetch --quiet --no-tags {remote} {spec}"))?;
        Ok(())
    }

    /// `git update-ref -d`.
    pub fn delete_ref(&self, name: &str) -> Result<()> {
        let sh = self.sh()?;
        run(cmd!(sh, "git update-ref -d {name}"))?;
        Ok(())
    }

    /// Stages `paths` and commits them alone with `message` (other staged changes stay staged).
    pub fn commit_paths(&self, paths: &[&str], message: &str) -> Result<()> {
        let sh = self.sh()?;
        run(cmd!(sh, "git add -- {paths...}"))?;
        run(cmd!(sh, "git commit --quiet -m {message} -- {paths...}"))?;
        Ok(())
    }

    /// An annotated tag `name` at `commit`, signed (`git tag -s`) when `signed`.
    pub fn tag_annotated(
        &self,
        name: &str,
        commit: &str,
        message: &str,
        signed: bool,
    ) -> Result<()> {
        let sh = self.sh()?;
        let kind = if signed { "-s" } else { "-a" };
        run(tagging(cmd!(
            sh,
            "git tag {kind} {name} {commit} -m {message}"
        )))?;
        Ok(())
    }

    /// A lightweight tag `name` at `commit`.
    pub fn tag_lightweight(&self, name: &str, commit: &str) -> Result<()> {
        let sh = self.sh()?;
        run(tagging(cmd!(sh, "git tag {name} {commit}")))?;
        Ok(())
    }

    /// `git tag -d`.
    pub fn delete_tag(&self, name: &str) -> Result<()> {
        let sh = self.sh()?;
        run(cmd!(sh, "git tag -d {name}"))?;
        Ok(())
    }

    /// Moves the branch to `commit`, keeping the index and the files (`git reset --soft`).
    pub fn reset_soft(&self, commit: &str) -> Result<()> {
        let sh = self.sh()?;
        run(cmd!(sh, "git reset --quiet --soft {commit}"))?;
        Ok(())
    }

    /// Puts `paths` in the index back as they are at `commit`, the files left alone.
    pub fn reset_paths(&self, commit: &str, paths: &[&str]) -> Result<()> {
        let sh = self.sh()?;
        run(cmd!(sh, "git reset --quiet {commit} -- {paths...}"))?;
        Ok(())
    }

    /// Pushes `refs` to `remote`, git's output and the hooks' reaching the user as they come
    /// (so not through `run`); never prompting, a chained hook getting no credential.
    pub fn push_refs(&self, remote: &str, refs: &[String], options: &Push) -> Result<ExitStatus> {
        let (sh, flags) = (self.sh()?, options.flags());
        let mut push = Command::from(
            cmd!(sh, "git push {flags...} {remote} {refs...}").env("GIT_TERMINAL_PROMPT", "0"),
        );
        push.envs(options.hook_env.iter().copied());
        crate::resources::secrets::for_hooks(&mut push)
            .status()
            .context("cannot run `git push`")
    }

    /// Runs the hook `name` with `args` if there is one (`git hook run --ignore-missing`),
    /// its output reaching the user as it comes; it gets the secret-free environment.
    pub fn run_hook(&self, name: &str, args: &[&str]) -> Result<ExitStatus> {
        let sh = self.sh()?;
        let mut hook = Command::from(cmd!(
            sh,
            "git hook run --ignore-missing {name} -- {args...}"
        ));
        Ok(crate::resources::secrets::scrub(hook.stdin(Stdio::null())).status()?)
    }
}

/// Every tag the tool makes is one whose post-tag it handles itself (`release` fires the hook
/// once the tag is built; a `-prod` tag has passed the gate): the reference-transaction shim
/// (`twostage/hooks/reference-transaction`) does not fire it while `TWOSTAGE_TAGGING` is set.
fn tagging(cmd: Cmd) -> Cmd {
    cmd.env("TWOSTAGE_TAGGING", "1")
}

/// `git push` as a maintainer types it in `dir`, with `env` as its whole environment (the
/// rehearsal's: nothing of this process reaches it), git's output shown as it comes.
pub fn push_with_env(
    dir: &Path,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    remote: &str,
    refs: &[&str],
    options: &Push,
) -> Result<ExitStatus> {
    // std's Command, not xshell: the environment is cleared and replaced whole.
    Command::new("git")
        .arg("push")
        .args(options.flags())
        .arg(remote)
        .args(refs)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status()
        .context("cannot run `git`")
}

/// The branch HEAD names in `dir`, born or not (`git symbolic-ref --short HEAD`).
pub fn head_branch_in(dir: &Path) -> Result<String> {
    let sh = shell_in(dir)?;
    Ok(run(cmd!(sh, "git symbolic-ref --quiet --short HEAD"))?
        .trim()
        .to_string())
}

/// The URL of `remote` in `dir` as git uses it (`url.<base>.insteadOf` applied).
pub fn remote_url_in(dir: &Path, remote: &str) -> Result<String> {
    let sh = shell_in(dir)?;
    Ok(run(cmd!(sh, "git remote get-url {remote}"))?
        .trim()
        .to_string())
}

/// The tags of the repository in `dir` (`git tag --list`).
pub fn tags_in(dir: &Path) -> Result<Vec<String>> {
    let sh = shell_in(dir)?;
    let out = run(cmd!(sh, "git tag --list"))?;
    Ok(out.lines().map(|l| l.trim().to_string()).collect())
}

/// The files in `dir` matching `pathspecs` that are tracked or about to be (untracked, not
/// ignored): `git ls-files --cached --others --exclude-standard`.
pub fn files_in(dir: &Path, pathspecs: &[&str]) -> Result<Vec<String>> {
    let sh = shell_in(dir)?;
    let out = run(cmd!(
        sh,
        "git ls-files --cached --others --exclude-standard -- {pathspecs...}"
    ))?;
    Ok(out.lines().map(str::to_string).collect())
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
