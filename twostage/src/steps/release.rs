//! The `release` stage: work out the next version and every edit, check everything, then bump,
//! roll the changelog, commit `Release vX.Y.Z`, make the annotated tag, and build it once.
//!
//! The plan is data: it is computed in full (and printed by `--dry-run`) before anything is
//! written. Preflight collects every problem (and every missing tool) and reports them
//! together. If the commit, the tag or the build of the tagged commit fails, every edited file
//! is restored and no ref is left behind.

use std::path::Path;

use anyhow::{bail, Context, Result};
use pep440_rs::Version;

use crate::config::Config;
use crate::core::index::Indexes;
use crate::error::UsageError;
use crate::output;
use crate::resources::changelog::{self, Roll};
use crate::resources::contents;
use crate::resources::git::{Push, Repo};
use crate::resources::lock::{self, Wait};
use crate::resources::manifest::{self, FileEdit, VersionRecord};
use crate::resources::project;
use crate::steps::resume::{self, Decision, FileState, Journal, Step};
use crate::version::{self, Bump, TagScheme};

mod set;

#[derive(Debug, Clone)]
pub struct Options {
    pub bump: Bump,
    pub dry_run: bool,
    pub push: bool,
    pub allow_dirty: bool,
    /// Skip the checks that need the network: the remote's refs and both indexes.
    pub offline: bool,
    /// `--package NAME` (repeatable): the packages of several to release.
    pub packages: Vec<String>,
    /// `--changed`: every package of several changed since its last release.
    pub changed: bool,
}

/// Everything a release will do, worked out before anything is done.
#[derive(Debug)]
pub struct Plan {
    pub name: Option<String>,
    pub current: Option<Version>,
    pub next: Version,
    pub tag: String,
    pub record: VersionRecord,
    /// Version files, then the changelog when it is rolled.
    pub edits: Vec<FileEdit>,
    pub branch: String,
    pub remote: String,
    pub sign: bool,
    pub push: bool,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    pub problems: Vec<String>,
}

impl Plan {
    pub fn commit_message(&self) -> String {
        format!("Release {}", self.tag)
    }
}

pub fn run(repo: &Repo, config: &Config, options: &Options) -> Result<()> {
    if is_set(config, options)? {
        return set::run(repo, config, options);
    }
    if options.dry_run {
        if Journal::read(repo)?.is_some() {
            output::note(format!(
                "`{}` holds a release that was interrupted: `release` finishes or undoes it first",
                resume::path(repo).display()
            ));
        }
        return dry_run(&plan(repo, config, options)?);
    }
    // One run per repository at a time; a second `release` is refused at once, naming the
    // holder: waiting, then releasing the next version, is never what was meant.
    let _lock = lock::hold(repo.common_dir(), Wait::Refuse)?;
    if let Some(journal) = Journal::read(repo)? {
        if resume(repo, config, options, journal)? == Resumed::Finished {
            return Ok(());
        }
    }
    let plan = plan(repo, config, options)?;
    for warning in &plan.warnings {
        output::warn(warning);
    }
    if !plan.problems.is_empty() {
        bail!(
            "cannot release {}, nothing was changed:\n  - {}",
            plan.tag,
            plan.problems.join("\n  - ")
        );
    }
    for note in &plan.notes {
        output::note(note);
    }
    let mut journal = journal_of(repo, &plan)?;
    apply(repo, &plan, &mut journal)?;
    let before = journal.before.parse()?;
    build_and_finish(repo, config, &plan, before, &mut journal)
}

/// Whether this is a release of several packages (`--package`/`--changed` in a repository of
/// several); a selection where it has no meaning, or none where one is needed, is a usage
/// error.
fn is_set(config: &Config, options: &Options) -> Result<bool> {
    let selects = !options.packages.is_empty() || options.changed;
    match (config.is_multi_package(), selects) {
        (true, true) => Ok(true),
        (true, false) => {
            let names: Vec<&str> = config.packages.iter().map(|m| m.name.as_str()).collect();
            Err(UsageError(format!(
                "this repository holds several packages ({}): name the ones to release with \
                 `--package NAME` (repeatable), or release every changed one with `--changed`",
                names.join(", ")
            ))
            .into())
        }
        (false, true) => {
            let flag = if options.changed {
                "--changed"
            } else {
                "--package"
            };
            Err(UsageError(format!(
                "`{flag}` is for a repository of several packages (`[[packages]]`, \
                 docs/monorepo.md); this one releases one package: run `cargo xtask release \
                 {}` without it",
                options.bump
            ))
            .into())
        }
        (false, false) => Ok(false),
    }
}

/// From the tag on: the build (or the undo of a release that does not build), the journal's
/// end, the post-tag hook and the push.
fn build_and_finish(
    repo: &Repo,
    config: &Config,
    plan: &Plan,
    before: git2::Oid,
    journal: &mut Journal,
) -> Result<()> {
    crate::interrupt::stand(
        &format!("building {}", plan.tag),
        "the release commit and tag are made locally and not built yet, nothing was uploaded",
        &format!("cargo xtask release {}", plan.next),
    );
    journal.begin(repo, Step::Build)?;
    build_or_undo(repo, config, plan, before)?;
    smoke_against_wheel(repo, config, &plan.tag);
    // Whole once built: what follows (the hook, the push) is a warning or git's own retry.
    Journal::end(repo)?;
    fire_post_tag(repo, &plan.tag);
    if plan.push {
        crate::interrupt::stand(
            &format!("pushing {}", plan.tag),
            "the release commit and tag are made locally, nothing was promoted",
            &format!(
                "git push --atomic {} {} {}",
                plan.remote, plan.branch, plan.tag
            ),
        );
        push(repo, plan)?;
    } else {
        output::note(format!(
            "push the release with `git push --atomic {} {} {}` (the pre-push hook stages it)",
            plan.remote, plan.branch, plan.tag
        ));
    }
    Ok(())
}

/// The smoke test against the names the wheel just built installs, said before the tag is
/// pushed: a configured `verify.smoke` that imports none of them is a warning, not a refusal
/// (the tag is whole and builds; the smoke command may be right and the reading rough), and
/// without `verify.smoke` the names verification will import are said (docs/adoption.md).
fn smoke_against_wheel(repo: &Repo, config: &Config, tag: &str) {
    let Ok(Some(frozen)) = crate::core::frozen::frozen(repo, tag) else {
        return;
    };
    let Some(wheel) = frozen
        .artifacts
        .iter()
        .find(|a| a.filename.ends_with(".whl"))
    else {
        return;
    };
    let names = match project::wheel_top_level(&frozen.path(wheel)) {
        Ok(names) => names,
        Err(e) => return output::warn(format!("{e:#}")),
    };
    let said = project::smoke_against_wheel(
        &config.verify.smoke,
        config.verify.smoke_set,
        &names,
        &wheel.filename,
    );
    match said {
        Some(Ok(note)) => output::note(note),
        Some(Err(warning)) => output::warn(warning),
        None => {}
    }
}

/// What `resume` did about an interrupted release.
#[derive(Debug, PartialEq, Eq)]
enum Resumed {
    /// The interrupted release is whole now: this run releases nothing else.
    Finished,
    /// It was undone: this run plans afresh.
    Undone,
}

/// Finishes or undoes the release a killed run left behind (`resume::decide`), saying what it
/// found and what it did.
fn resume(
    repo: &Repo,
    config: &Config,
    options: &Options,
    mut journal: Journal,
) -> Result<Resumed> {
    let path = resume::path(repo);
    output::status(
        "Resuming",
        format!(
            "the release of {} that stopped before it finished (at its `{}` step; `{}`)",
            journal.tag,
            journal.step.as_str(),
            path.display()
        ),
    );
    clear_index_lock(repo, &journal)?;
    for file in &journal.files {
        let _ = std::fs::remove_file(manifest::half_written(&repo.root().join(&file.path)));
    }
    let found = found(repo, &journal)?;
    let plan = resumed_plan(repo, config, options, &journal)?;
    let before: git2::Oid = journal.before.parse()?;
    let tag = &journal.tag.clone();
    match resume::decide(&journal, &found) {
        Decision::Refuse(why) => bail!(
            "cannot resume the interrupted release: {why}; nothing was changed: see `git status`, \
             `git log -1` and `git tag`, put things as you want them, then remove `{}`",
            path.display()
        ),
        Decision::Undo => {
            output::status(
                "Undoing",
                format!("{tag}: nothing was committed, so every edited file is put back"),
            );
            restore(repo, &plan, before)
                .with_context(|| format!("cannot undo the interrupted release of {tag}"))?;
            Journal::end(repo)?;
            output::status("Undone", format!("{tag}: planning the release again"));
            return Ok(Resumed::Undone);
        }
        Decision::Finished => {
            output::status(
                "Found",
                format!("{tag} tagged and built: nothing was left to do"),
            );
            Journal::end(repo)?;
        }
        Decision::Tag { commit } => {
            output::status(
                "Found",
                format!("the release commit of {tag} without its tag"),
            );
            journal.begin(repo, Step::Tag)?;
            make_tag(repo, &plan, &commit)?;
            build_and_finish(repo, config, &plan, before, &mut journal)?;
        }
        Decision::Build => {
            output::status(
                "Found",
                format!("{tag} tagged at its release commit, not built"),
            );
            build_and_finish(repo, config, &plan, before, &mut journal)?;
        }
    }
    output::status(
        "Finished",
        format!(
            "the interrupted release of {tag}; nothing else was released: run `cargo xtask \
             release {}` again for the next one",
            options.bump
        ),
    );
    Ok(Resumed::Finished)
}

/// `index.lock` left by the `git add` or `git commit` that was killed with the release: git
/// removes it only when it ends (https://git-scm.com/docs/api-lockfile), so it would refuse
/// every later command.
fn clear_index_lock(repo: &Repo, journal: &Journal) -> Result<()> {
    let lock = repo.git_dir().join("index.lock");
    let Some(mtime) = std::fs::metadata(&lock)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    else {
        return Ok(());
    };
    if journal.worktree == repo.root() && resume::index_lock_is_ours(journal, mtime.as_secs()) {
        output::status(
            "Removing",
            format!(
                "`{}`, left by the git command that was killed with the release",
                lock.display()
            ),
        );
        std::fs::remove_file(&lock)
            .with_context(|| format!("cannot remove `{}`", lock.display()))?;
    }
    Ok(())
}

/// What the repository shows of the journal's release.
fn found(repo: &Repo, journal: &Journal) -> Result<resume::Found> {
    let head = repo.head_commit_summary()?;
    let tag_at = repo.tag_commit(&journal.tag).map(|o| o.to_string());
    let built = tag_at.is_some() && crate::core::frozen::is_built(repo, &journal.tag)?;
    let files = journal
        .files
        .iter()
        .map(|f| {
            let sha = std::fs::read(repo.root().join(&f.path)).map(|b| resume::sha256(&b));
            let state = match sha {
                Ok(sha) if sha == f.new => FileState::New,
                Ok(sha) if sha == f.old => FileState::Old,
                _ => FileState::Other,
            };
            (f.path.clone(), state)
        })
        .collect();
    Ok(resume::Found {
        tag_at,
        head: repo.head_commit()?.to_string(),
        head_parent: (head.parents.len() == 1).then(|| head.parents[0].clone()),
        head_subject: head.subject,
        built,
        files,
        worktree: repo.root().to_path_buf(),
    })
}

/// The plan of the journal's release, for tagging, building or undoing it: each file's old
/// bytes are the ones at the commit the release began from, as a checkout writes them.
fn resumed_plan(
    repo: &Repo,
    config: &Config,
    options: &Options,
    journal: &Journal,
) -> Result<Plan> {
    let mut edits = Vec::new();
    for file in &journal.files {
        edits.push(FileEdit {
            path: file.path.clone(),
            old: repo.file_as_checked_out(&journal.before, &file.path)?,
            new: std::fs::read_to_string(repo.root().join(&file.path)).unwrap_or_default(),
        });
    }
    let next: Version = journal
        .version
        .parse()
        .with_context(|| format!("`{}` holds no version", resume::path(repo).display()))?;
    Ok(Plan {
        name: None,
        current: None,
        next,
        tag: journal.tag.clone(),
        record: VersionRecord::Vcs,
        edits,
        branch: config.git.branch.clone(),
        remote: config.git.remote.clone(),
        sign: config.git.sign,
        push: options.push,
        notes: Vec::new(),
        warnings: Vec::new(),
        problems: Vec::new(),
    })
}

/// `--dry-run`: the plan and its problems, nothing changed.
fn dry_run(plan: &Plan) -> Result<()> {
    print_plan(plan);
    if !plan.problems.is_empty() {
        // Each problem is printed with the plan above: say how many, not all again.
        bail!(
            "the release would be refused: {} above",
            output::plural(plan.problems.len(), "problem")
        );
    }
    output::status("Finished", "dry run: nothing was changed");
    Ok(())
}

/// The release is whole only once its tagged commit builds: a tag whose build fails would
/// block every later `git push --follow-tags`, so it is undone with the commit.
fn build_or_undo(repo: &Repo, config: &Config, plan: &Plan, before: git2::Oid) -> Result<()> {
    let Err(error) = crate::core::build::build_tag(repo, config, &plan.tag) else {
        return Ok(());
    };
    let _ = std::fs::remove_dir_all(crate::resolved::work_dir(repo, &plan.tag));
    // What happened: the build failed, or it succeeded and its files are refused.
    let what = if error
        .chain()
        .any(|e| e.is::<crate::core::frozen::Refused>())
    {
        "its tagged commit builds, but its files are refused"
    } else {
        "its tagged commit does not build"
    };
    Err(match restore(repo, plan, before) {
        Ok(()) => {
            let _ = Journal::end(repo);
            error.context(format!(
                "{} was not released: {what}, so the release commit and the tag are undone \
                 and every file is back as it was",
                plan.tag
            ))
        }
        Err(cleanup) => error.context(format!(
            "{} was not released: {what}, and undoing the release failed too: {cleanup:#}",
            plan.tag
        )),
    })
}

/// A release tag of this project: its name, its version, its commit.
type Released = (String, Version, git2::Oid);

/// Works out the release and runs every preflight check, changing nothing.
pub fn plan(repo: &Repo, config: &Config, options: &Options) -> Result<Plan> {
    let root = repo.root();
    let scheme = config.git.tag_scheme();
    let project = manifest::Project::read(root, config)?;
    let released = released(repo, &scheme)?;
    let head = repo.head_commit()?;
    // The last release reachable from HEAD is the current version of a VCS-versioned project.
    let current = project.current.clone().or_else(|| {
        released
            .iter()
            .filter(|(_, _, oid)| repo.is_ancestor(*oid, head))
            .map(|(_, v, _)| v.clone())
            .max()
    });
    let next = next_version(current.as_ref(), &options.bump)?;
    let mut plan = Plan {
        name: project.name.clone(),
        current,
        tag: scheme.tag(&next),
        next,
        record: project.record.clone(),
        edits: Vec::new(),
        branch: config.git.branch.clone(),
        remote: config.git.remote.clone(),
        sign: config.git.sign,
        push: options.push,
        notes: Vec::new(),
        warnings: Vec::new(),
        problems: Vec::new(),
    };
    bump_files(root, &project, &mut plan);
    roll_changelog(root, config, &mut plan);
    let next = plan.next.clone();
    let checks = Preflight {
        repo,
        config,
        options,
        scheme: &scheme,
        head,
        next: &next,
    };
    preflight(&checks, &released, &mut plan);
    // The VCS tool must read the tag this release makes, or the build gets another version.
    plan.problems
        .extend(project.build.unread_tag_prefix(&project.tag_prefix));
    Ok(plan)
}

/// The edits of the version files, or the note that the tag alone carries the version.
fn bump_files(root: &Path, project: &manifest::Project, plan: &mut Plan) {
    match (&project.record, &plan.current) {
        (VersionRecord::Vcs, _) => plan.notes.push(format!(
            "the version comes from the tag, so no file is bumped: the build must see tag `{}`",
            plan.tag
        )),
        (_, Some(current)) => match manifest::plan_edits(root, project, current, &plan.next) {
            Ok(edits) => {
                plan.edits = edits;
                bump_cargo_locks(root, plan);
            }
            Err(e) => plan.problems.push(format!("{e:#}")),
        },
        (_, None) => unreachable!("a file-kept version is always read"),
    }
}

/// A bumped `Cargo.toml`'s entry in its tracked `Cargo.lock` moves in the same commit, so that
/// the tagged commit's lock is the one its sdist ships and the next `cargo` run (which would
/// rewrite a stale lock) leaves the tree clean. A lock git does not track is the developer's
/// own and stays as it is.
fn bump_cargo_locks(root: &Path, plan: &mut Plan) {
    match manifest::cargo_lock_edits(root, &plan.edits, &plan.next) {
        Ok((locks, warnings)) => {
            let tracked = |path: &str| {
                git2::Repository::open(root)
                    .and_then(|repo| repo.index())
                    .is_ok_and(|index| index.get_path(Path::new(path), 0).is_some())
            };
            plan.edits
                .extend(locks.into_iter().filter(|lock| tracked(&lock.path)));
            plan.warnings.extend(warnings);
        }
        Err(e) => plan.problems.push(format!("{e:#}")),
    }
}

/// The project's release tags (not the `-prod` ones).
fn released(repo: &Repo, scheme: &TagScheme) -> Result<Vec<Released>> {
    Ok(repo
        .tags()?
        .iter()
        .filter_map(|(name, oid)| {
            let tag = scheme.parse(name).ok()?;
            (!tag.prod).then(|| (name.clone(), tag.version, *oid))
        })
        .collect())
}

/// The version `bump` makes of `current`; without a current version only an explicit one.
fn next_version(current: Option<&Version>, bump: &Bump) -> Result<Version> {
    match (current, bump) {
        (Some(current), bump) => version::next_version(current, bump).map_err(usage),
        (None, Bump::Exact(v)) => Ok(v.clone()),
        (None, bump) => Err(UsageError(format!(
            "cannot bump `{bump}`: the version comes from git tags and no release tag is \
             reachable from HEAD; name the first version, e.g. `cargo xtask release 0.1.0`"
        ))
        .into()),
    }
}

fn usage(e: anyhow::Error) -> anyhow::Error {
    UsageError(format!("{e:#}")).into()
}

fn roll_changelog(root: &Path, config: &Config, plan: &mut Plan) {
    let path = &config.package.changelog;
    let text = match std::fs::read_to_string(root.join(path)) {
        Ok(text) => text,
        Err(_) => {
            plan.notes
                .push(format!("no changelog at `{path}`: none rolled"));
            return;
        }
    };
    match changelog::roll(
        &text,
        &plan.next.to_string(),
        &plan.tag,
        &crate::clock::today(),
    ) {
        Roll::Rolled { text: new, empty } => {
            if empty {
                plan.warnings.push(format!(
                    "the `Unreleased` section of `{path}` is empty: the release notes for {} will be too",
                    plan.tag
                ));
            }
            plan.edits.push(FileEdit {
                path: path.clone(),
                old: text,
                new,
            });
        }
        Roll::NotKeepAChangelog => plan.notes.push(format!(
            "`{path}` has no `## [Unreleased]` heading, so it is left for you to update \
             (release notes are read from the heading that names the version)"
        )),
    }
}

/// What the preflight checks look at.
struct Preflight<'a> {
    repo: &'a Repo,
    config: &'a Config,
    options: &'a Options,
    scheme: &'a TagScheme,
    head: git2::Oid,
    next: &'a Version,
}

/// Every check, each group's problems added to the plan's.
fn preflight(checks: &Preflight, released: &[Released], plan: &mut Plan) {
    plan.problems.extend(checks.working_tree());
    plan.problems
        .extend(crate::core::tools::missing(checks.config));
    plan.problems.extend(checks.branch());
    plan.problems.extend(checks.local_tags(released));
    plan.problems.extend(checks.untagged_release_commit());
    // A name PyPI would refuse (a confusable letter) is named here, not met as an index's 400.
    let bad_name = plan.name.as_deref().and_then(contents::name_problem);
    plan.problems.extend(bad_name.clone());
    if checks.options.offline {
        plan.notes
            .push("--offline: the remote's refs and the indexes were not checked".into());
        return;
    }
    plan.problems.extend(checks.remote(&mut plan.warnings));
    match &plan.name {
        Some(_) if bad_name.is_some() => {}
        Some(name) => plan.problems.extend(checks.indexes(name)),
        None => plan.problems.push(format!(
            "cannot check the indexes: the project's name is unknown, as neither the manifest, \
             `setup.py`'s `setup(name=\"…\")` nor `setup.cfg`'s `[metadata] name` gives it: set \
             {}",
            checks.config.key_in_home("package.name")
        )),
    }
}

impl Preflight<'_> {
    /// Whether a tag name is a tag of the version being released.
    fn same_version(&self, name: &str) -> bool {
        self.scheme
            .parse(name)
            .is_ok_and(|t| t.version == *self.next)
    }

    /// Uncommitted changes, and git's lock of the index.
    fn working_tree(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.options.allow_dirty {
            match self.repo.changed_files() {
                Ok(changed) if !changed.is_empty() => problems.push(format!(
                    "the working tree has uncommitted changes ({}): commit or stash them, or pass `--allow-dirty`",
                    changed.join(", ")
                )),
                Ok(_) => {}
                Err(e) => problems.push(format!("cannot read the working tree's status: {e}")),
            }
        }
        let lock = self.repo.git_dir().join("index.lock");
        if lock.exists() {
            problems.push(format!(
                "`{}` exists: another git command is running, or one was killed; remove the file if none is running",
                lock.display()
            ));
        }
        problems
    }

    /// HEAD is on the release branch.
    fn branch(&self) -> Option<String> {
        let wanted = &self.config.git.branch;
        match self.repo.current_branch() {
            Some(branch) if branch == *wanted => None,
            Some(branch) => Some(format!(
                "on branch `{branch}`, but releases are made from `{wanted}` ({})",
                self.config.key_in_home("git.branch")
            )),
            None => Some(format!("HEAD is detached: check out `{wanted}` to release")),
        }
    }

    /// HEAD is not released yet, and no local tag has the new version.
    fn local_tags(&self, released: &[Released]) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some((name, _, _)) = released.iter().find(|(_, _, oid)| *oid == self.head) {
            problems.push(format!(
                "HEAD is already released as `{name}`: there is nothing new to release"
            ));
        }
        if let Some((name, _)) = self
            .repo
            .tags()
            .unwrap_or_default()
            .iter()
            .find(|(n, _)| self.same_version(n))
        {
            problems.push(format!(
                "tag `{name}` already exists for version {}",
                self.next
            ));
        }
        problems
    }

    /// HEAD is not a release commit whose tag was never made (a run stopped between the two,
    /// before `release` kept a journal, or its journal was removed): releasing on top of it
    /// would skip that version for good.
    fn untagged_release_commit(&self) -> Option<String> {
        let subject = self.repo.head_commit_summary().ok()?.subject;
        let tag = subject.trim().strip_prefix("Release ")?;
        let parsed = self.scheme.parse(tag).ok()?;
        if parsed.prod || self.repo.tag_commit(tag).is_some() {
            return None;
        }
        Some(format!(
            "HEAD is the release commit `Release {tag}` without the tag `{tag}` (a release that \
             was stopped): tag it with `git tag -a {tag} -m 'Release {tag}'` and run \
             `cargo xtask stage {tag}`, or undo it with `git reset --keep HEAD^`"
        ))
    }

    /// The release branch is not behind the remote's, and the remote has no tag of the new
    /// version. A missing remote is a warning (and a problem with `--push`).
    fn remote(&self, warnings: &mut Vec<String>) -> Vec<String> {
        let git = &self.config.git;
        if self.repo.remote_url(&git.remote).is_none() {
            warnings.push(format!(
                "there is no remote `{}`: upstream and remote tags were not checked",
                git.remote
            ));
            return match self.options.push {
                true => vec![format!("`--push` needs the remote `{}`", git.remote)],
                false => Vec::new(),
            };
        }
        let branch_ref = format!("refs/heads/{}", git.branch);
        let tag_refs = format!("refs/tags/{}*", self.scheme.prefix);
        let refs = match self.repo.ls_remote(&git.remote, &[&branch_ref, &tag_refs]) {
            Ok(refs) => refs,
            Err(e) => return vec![format!("{e:#} (`--offline` skips this check)")],
        };
        let mut problems = Vec::new();
        if let Some((_, oid)) = refs.iter().find(|(name, _)| *name == branch_ref) {
            if !self.repo.has_commit(*oid) || !self.repo.is_ancestor(*oid, self.head) {
                problems.push(format!(
                    "`{}` is behind `{}/{}`: pull first",
                    git.branch, git.remote, git.branch
                ));
            }
        }
        if let Some((name, _)) = refs
            .iter()
            .filter(|(name, _)| !name.ends_with("^{}"))
            .find(|(name, _)| self.same_version(name))
        {
            problems.push(format!(
                "the remote `{}` already has `{name}` for version {}",
                git.remote, self.next
            ));
        }
        problems
    }

    /// Neither index has a file of the new version of `name`.
    fn indexes(&self, name: &str) -> Vec<String> {
        let indexes = Indexes::new(self.config);
        let mut problems = Vec::new();
        for index in [&indexes.staging, &indexes.production] {
            let (label, index_url) = (index.label(), index.url());
            match index.files(name) {
                Ok(files) => {
                    let taken: Vec<String> = files
                        .into_iter()
                        .filter(|f| {
                            f.version().and_then(|v| v.parse::<Version>().ok()).as_ref()
                                == Some(self.next)
                        })
                        .map(|f| f.filename)
                        .collect();
                    if !taken.is_empty() {
                        problems.push(format!(
                            "version {} of `{name}` is already on the {label} index `{}` ({}): choose another version",
                            self.next,
                            crate::resources::secrets::redact(index_url),
                            some_of(&taken)
                        ));
                    }
                }
                Err(e) => problems.push(format!(
                    "cannot check the {label} index: {e:#} (`--offline` skips this check)"
                )),
            }
        }
        problems
    }
}

/// The first few of `names`, and how many more: a project released before has dozens of
/// wheels per version (markupsafe 3.0.3 has 80 on PyPI), which named one by one buried the
/// rest of the report.
fn some_of(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = names[..names.len().min(SHOWN)].join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

fn print_plan(plan: &Plan) {
    print_edits(plan);
    let kind = if plan.sign {
        "signed annotated"
    } else {
        "annotated"
    };
    if plan.edits.is_empty() {
        output::status(
            "Would tag",
            format!("HEAD with the {kind} tag `{}`", plan.tag),
        );
    } else {
        output::status(
            "Would commit",
            format!(
                "`{}` and make the {kind} tag `{}`",
                plan.commit_message(),
                plan.tag
            ),
        );
    }
    if plan.push {
        output::status(
            "Would push",
            format!(
                "`{}` and `{}` to `{}` atomically",
                plan.branch, plan.tag, plan.remote
            ),
        );
    }
    for note in &plan.notes {
        output::note(note);
    }
    for warning in &plan.warnings {
        output::warn(warning);
    }
    for problem in &plan.problems {
        output::error(problem);
    }
}

/// The package, its versions and each edit with its diff: what `--dry-run` shows of one
/// package's plan.
fn print_edits(plan: &Plan) {
    let name = plan.name.as_deref().unwrap_or("the package");
    let from = plan
        .current
        .as_ref()
        .map_or_else(|| "(no release yet)".to_string(), |v| v.to_string());
    output::status(
        "Planning",
        format!("{name} {from} → {} (tag `{}`)", plan.next, plan.tag),
    );
    output::status(
        "Reading",
        format!("the version from {}", plan.record.describe()),
    );
    for edit in &plan.edits {
        output::status("Would edit", format!("`{}`", edit.path));
        print!("{}", output::unified_diff(&edit.path, &edit.old, &edit.new));
    }
}

/// The journal of `plan`, before anything is done: HEAD as it is, and each edit's bytes.
fn journal_of(repo: &Repo, plan: &Plan) -> Result<Journal> {
    Ok(Journal {
        tag: plan.tag.clone(),
        version: plan.next.to_string(),
        before: repo.head_commit()?.to_string(),
        worktree: repo.root().to_path_buf(),
        step: Step::Edit,
        at: 0,
        files: plan
            .edits
            .iter()
            .map(|e| resume::Edited {
                path: e.path.clone(),
                old: resume::sha256(e.old.as_bytes()),
                new: resume::sha256(e.new.as_bytes()),
            })
            .collect(),
    })
}

/// Writes the edits, commits and tags, each step in the journal first; on any failure puts
/// the files, the index and the refs back as they were (`journal.before`).
fn apply(repo: &Repo, plan: &Plan, journal: &mut Journal) -> Result<()> {
    let root = repo.root();
    let before: git2::Oid = journal.before.parse()?;
    let paths: &[&str] = &plan
        .edits
        .iter()
        .map(|e| e.path.as_str())
        .collect::<Vec<_>>();
    if let (Some(current), false) = (&plan.current, plan.record == VersionRecord::Vcs) {
        output::status("Bumping", format!("version {current} → {}", plan.next));
    }
    let message = plan.commit_message();
    let result = (|| -> Result<()> {
        journal.begin(repo, Step::Edit)?;
        for edit in &plan.edits {
            output::status("Editing", format!("`{}`", edit.path));
            manifest::write_inside(root, &edit.path, edit.new.as_bytes())?;
        }
        if !paths.is_empty() {
            journal.begin(repo, Step::Commit)?;
            output::status("Committing", &message);
            repo.commit_paths(paths, &message)?;
        }
        journal.begin(repo, Step::Tag)?;
        make_tag(repo, plan, "HEAD")
    })();
    if let Err(error) = result {
        let restored = restore(repo, plan, before);
        return Err(match restored {
            Ok(()) => {
                let _ = Journal::end(repo);
                error.context(format!(
                    "the release of {} failed; every file and ref is back as it was",
                    plan.tag
                ))
            }
            Err(cleanup) => error.context(format!(
                "the release of {} failed, and putting things back failed too: {cleanup:#}",
                plan.tag
            )),
        });
    }
    Ok(())
}

/// The annotated (or signed) tag of the release at `commit`.
fn make_tag(repo: &Repo, plan: &Plan, commit: &str) -> Result<()> {
    output::status("Tagging", format!("`{}`", plan.tag));
    // The reference-transaction shim does not fire post-tag for the tool's own tag: the
    // release fires it once the tag is built (`fire_post_tag`).
    repo.tag_annotated(&plan.tag, commit, &plan.commit_message(), plan.sign)
}

/// Puts every file, the index and the refs back as they were before `apply`. The files come
/// first: they need no lock, so even when git itself is in the way (a stale `index.lock`) the
/// working tree is whole again, and every step is tried before the first failure is reported.
fn restore(repo: &Repo, plan: &Plan, before: git2::Oid) -> Result<()> {
    restore_all(repo, &plan.edits, &[plan.tag.as_str()], before)
}

/// `restore` of a release of several packages: every edit and every tag.
fn restore_all(repo: &Repo, edits: &[FileEdit], tags: &[&str], before: git2::Oid) -> Result<()> {
    let root = repo.root();
    let mut failures = Vec::new();
    for edit in edits {
        if let Err(e) = manifest::write_inside(root, &edit.path, edit.old.as_bytes()) {
            failures.push(format!("cannot restore `{}`: {e:#}", edit.path));
        }
    }
    for tag in tags {
        if repo.tag_commit(tag).is_some() {
            if let Err(e) = repo.delete_tag(tag) {
                failures.push(format!("{e:#}"));
            }
        }
    }
    let before = before.to_string();
    match repo.head_commit() {
        Ok(head) if head.to_string() != before => {
            if let Err(e) = repo.reset_soft(&before) {
                failures.push(format!("{e:#}"));
            }
        }
        Ok(_) => {}
        Err(e) => failures.push(format!("{e:#}")),
    }
    if !edits.is_empty() {
        let paths: Vec<&str> = edits.iter().map(|e| e.path.as_str()).collect();
        if let Err(e) = repo.reset_paths(&before, &paths) {
            failures.push(format!("{e:#}"));
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

/// git has no post-tag hook: the tool fires it itself (see docs/hooks.md), with the hook's
/// output shown, after the release is built. What is left for it to do is a chained hook of
/// the user's own: its failure does not undo a release that built.
fn fire_post_tag(repo: &Repo, tag: &str) {
    // The hook builds, which needs no credential: whatever it runs gets none (docs/trust.md).
    match repo.run_hook("post-tag", &[tag]) {
        Ok(status) if status.success() => {}
        Ok(status) => output::warn(format!(
            "the post-tag hook failed ({status}); {tag} is made and built all the same"
        )),
        Err(e) => output::warn(format!("cannot run the post-tag hook: {e}")),
    }
}

fn push(repo: &Repo, plan: &Plan) -> Result<()> {
    output::status(
        "Pushing",
        format!("`{}` and `{}` to `{}`", plan.branch, plan.tag, plan.remote),
    );
    let refs = [
        format!("refs/heads/{}", plan.branch),
        format!("refs/tags/{}", plan.tag),
    ];
    let atomic = Push {
        atomic: true,
        ..Push::default()
    };
    let status = repo.push_refs(&plan.remote, &refs, &atomic)?;
    if !status.success() {
        bail!(
            "`git push --atomic {} {} {}` failed; the commit and tag are made locally: push again when the problem is fixed",
            plan.remote,
            plan.branch,
            plan.tag
        );
    }
    Ok(())
}
