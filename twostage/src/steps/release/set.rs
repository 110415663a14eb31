//! `release <level> --package NAME…` and `release <level> --changed` in a repository of
//! several packages (`[[packages]]`, docs/monorepo.md): which packages are released, each
//! one's plan worked out as `release` works out one package's (`plan` over
//! `Config::for_package`: its bump, its changelog roll, its tag `<name>-v<version>`), the
//! members' versions in `uv.lock`, and the new-project limit of each index; then one release
//! commit for them all, a tag each, a build each. Any failure up to the last build puts every
//! file and ref back. It decides nothing per package that `release` does not decide for one.

use anyhow::{bail, Context, Result};

use super::{
    fire_post_tag, make_tag, plan, print_edits, restore_all, smoke_against_wheel, Options, Plan,
};
use crate::config::{Config, Member};
use crate::core::changed::{self, Declared};
use crate::core::index::{Index, Role};
use crate::core::new_projects;
use crate::error::UsageError;
use crate::output;
use crate::resources::changes::History;
use crate::resources::git::{Push, Repo};
use crate::resources::lock::{self, Wait};
use crate::resources::manifest::{self, FileEdit};
use crate::resources::workspace::Package;

/// One package of the set: its configuration and its plan.
pub(super) struct SetMember {
    pub config: Config,
    pub plan: Plan,
}

/// The release of several packages, worked out before anything is done.
pub(super) struct SetPlan {
    pub members: Vec<SetMember>,
    /// Edits outside every package's plan: `uv.lock`.
    pub shared: Vec<FileEdit>,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl SetPlan {
    pub fn tags(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.plan.tag.as_str()).collect()
    }

    /// Every file the release commit carries: each package's edits, then the shared ones.
    pub fn edits(&self) -> Vec<&FileEdit> {
        let own = self.members.iter().flat_map(|m| m.plan.edits.iter());
        own.chain(self.shared.iter()).collect()
    }

    /// `Release acme-core-v1.2.0, acme-cli-v0.4.0`.
    pub fn commit_message(&self) -> String {
        format!("Release {}", self.tags().join(", "))
    }
}

/// `release` in a repository of several packages.
pub(super) fn run(repo: &Repo, config: &Config, options: &Options) -> Result<()> {
    let Some(names) = selected(repo, config, options)? else {
        return Ok(());
    };
    if options.dry_run {
        let set = plan_set(repo, config, options, &names)?;
        print_set(&set);
        if !set.problems.is_empty() {
            bail!(
                "the release would be refused: {} above",
                output::plural(set.problems.len(), "problem")
            );
        }
        output::status("Finished", "dry run: nothing was changed");
        return Ok(());
    }
    let _lock = lock::hold(repo.common_dir(), Wait::Refuse)?;
    let set = plan_set(repo, config, options, &names)?;
    for warning in &set.warnings {
        output::warn(warning);
    }
    if !set.problems.is_empty() {
        bail!(
            "cannot release {}, nothing was changed:\n  - {}",
            set.tags().join(", "),
            set.problems.join("\n  - ")
        );
    }
    for member in &set.members {
        for note in &member.plan.notes {
            output::note(format!("{}: {note}", member.plan.tag));
        }
    }
    let before = repo.head_commit()?;
    apply_set(repo, config, &set, before, &command_line(options))?;
    build_or_undo(repo, config, &set, before)?;
    for member in &set.members {
        smoke_against_wheel(repo, &member.config, &member.plan.tag);
        fire_post_tag(repo, &member.plan.tag);
    }
    push_set(repo, config, options, &set)
}

/// The packages to release, in `[[packages]]` order; `None` when `--changed` finds none.
fn selected(repo: &Repo, config: &Config, options: &Options) -> Result<Option<Vec<String>>> {
    let known: Vec<&str> = config.packages.iter().map(|m| m.name.as_str()).collect();
    if !options.changed {
        let mut wanted = Vec::new();
        let mut unknown = Vec::new();
        for name in &options.packages {
            let normal = crate::resources::dist::normalize_name(name);
            if !known.contains(&normal.as_str()) {
                unknown.push(format!("`--package {name}`"));
            } else if !wanted.contains(&normal) {
                wanted.push(normal);
            }
        }
        if !unknown.is_empty() {
            return Err(UsageError(format!(
                "{}: the repository has no package of that name; its packages: {}",
                unknown.join(", "),
                known.join(", ")
            ))
            .into());
        }
        // In `[[packages]]` order, whatever order the options named them in.
        wanted.sort_by_key(|n| known.iter().position(|k| *k == n.as_str()));
        return Ok(Some(wanted));
    }
    let packages: Vec<Package> = config.packages.iter().map(as_package).collect();
    let declared: Vec<Declared> = config
        .packages
        .iter()
        .zip(&packages)
        .map(|(member, package)| Declared {
            package,
            tags: &member.tags,
            extra_paths: &member.paths,
        })
        .collect();
    let history = History::open(repo.root())?;
    let decisions = changed::read(&history, &declared)?;
    let mut names = Vec::new();
    for decision in decisions {
        if decision.release {
            output::status(
                "Releasing",
                format!("{}: {}", decision.name, decision.reason),
            );
            names.push(decision.name);
        } else {
            output::status(
                "Skipping",
                format!("{}: {}", decision.name, decision.reason),
            );
        }
    }
    if names.is_empty() {
        output::status(
            "Finished",
            "no package has changed since its last release: nothing to release, nothing changed",
        );
        return Ok(None);
    }
    Ok(Some(names))
}

/// The workspace's view of a configured package, which `core::changed` reads.
fn as_package(member: &Member) -> Package {
    Package {
        name: member.name.clone(),
        declared_name: member.name.clone(),
        folder: member.folder.clone(),
        manifest: member.manifest.clone(),
        dependencies: Default::default(),
        dynamic_dependencies: false,
    }
}

/// Each package's plan, `uv.lock`, and the problems of them all (each said once).
fn plan_set(repo: &Repo, config: &Config, options: &Options, names: &[String]) -> Result<SetPlan> {
    let mut set = SetPlan {
        members: Vec::new(),
        shared: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    // Each problem with the packages it is found for (a missing build tool is every one's).
    let mut problems: Vec<(String, Vec<&str>)> = Vec::new();
    for name in names {
        let config = config
            .for_package(name)
            .with_context(|| format!("`{name}` is not one of `[[packages]]`"))?;
        let plan = plan(repo, &config, options)
            .with_context(|| format!("cannot plan the release of `{name}`"))?;
        for problem in &plan.problems {
            match problems.iter_mut().find(|(p, _)| p == problem) {
                Some((_, of)) => of.push(name),
                None => problems.push((problem.clone(), vec![name])),
            }
        }
        for warning in &plan.warnings {
            if !set.warnings.contains(warning) {
                set.warnings.push(warning.clone());
            }
        }
        set.members.push(SetMember { config, plan });
    }
    set.problems = problems
        .into_iter()
        .map(|(problem, of)| format!("{}: {problem}", of.join(", ")))
        .collect();
    set.problems
        .extend(untagged_set_commit(repo, config, names));
    uv_lock(repo, &mut set);
    if !options.offline {
        new_projects_problems(&mut set);
    }
    Ok(set)
}

/// HEAD is a release commit of several packages some of whose tags were never made (a run
/// stopped between the two; a set keeps no journal): releasing on top of it would skip those
/// versions for good.
/// A commit of one tag whose package is in the set is that package's plan's problem already.
fn untagged_set_commit(repo: &Repo, config: &Config, names: &[String]) -> Option<String> {
    let subject = repo.head_commit_summary().ok()?.subject;
    let tags: Vec<&str> = subject
        .trim()
        .strip_prefix("Release ")?
        .split(", ")
        .collect();
    let package_of = |tag: &str| {
        config
            .for_tag(tag)
            .filter(|(_, read)| !read.prod)
            .and_then(|(c, _)| c.member().map(|m| m.name.clone()))
    };
    if let [tag] = tags.as_slice() {
        if package_of(tag).is_some_and(|name| names.contains(&name)) {
            return None;
        }
    }
    let missing: Vec<&str> = tags
        .into_iter()
        .filter(|tag| package_of(tag).is_some())
        .filter(|tag| repo.tag_commit(tag).is_none())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let make: Vec<String> = missing
        .iter()
        .map(|t| format!("git tag -a {t} -m 'Release {t}'"))
        .collect();
    Some(format!(
        "HEAD is the release commit `{subject}` without the tags {} (a release that was \
         stopped): tag it (`{}`) and push it, or undo it with `git reset --keep HEAD^`",
        quoted(&missing),
        make.join("; ")
    ))
}

/// The released members' new versions in the root's `uv.lock`, when git tracks one: the
/// release commit carries the lock `uv lock` would write after the bump, so that the next
/// `uv sync --locked` passes at the tag. Edited in place rather than re-resolved: `uv lock`
/// at release time would need the indexes of every dependency, and would move other pins.
fn uv_lock(repo: &Repo, set: &mut SetPlan) {
    let path = manifest::UV_LOCK;
    let root = repo.root();
    let tracked = git2::Repository::open(root)
        .and_then(|r| r.index())
        .is_ok_and(|index| index.get_path(std::path::Path::new(path), 0).is_some());
    if !tracked {
        return;
    }
    let Ok(text) = std::fs::read_to_string(root.join(path)) else {
        return set.problems.push(format!("cannot read `{path}`"));
    };
    // A version kept in git tags is the tag's, which the lock does not record as text.
    let versions: Vec<(String, pep440_rs::Version)> = set
        .members
        .iter()
        .filter(|m| !m.plan.edits.is_empty())
        .filter(|m| m.plan.record != manifest::VersionRecord::Vcs)
        .filter_map(|m| Some((m.config.member()?.name.clone(), m.plan.next.clone())))
        .collect();
    match manifest::uv_lock_edit(path, &text, &versions) {
        Ok((new, missing)) => {
            for name in missing {
                set.warnings.push(format!(
                    "`{path}` holds no workspace member `{name}` with a version: it is not \
                     bumped there; run `uv lock` and commit `{path}`"
                ));
            }
            if new != text {
                set.shared.push(FileEdit {
                    path: path.to_string(),
                    old: text,
                    new,
                });
            }
        }
        Err(e) => set.problems.push(format!("{e:#}")),
    }
}

/// PyPI's new-project limit (`core::new_projects`) on each index the set uploads to: past it,
/// the upload of the set would stop halfway, so it is refused before anything is tagged.
fn new_projects_problems(set: &mut SetPlan) {
    // The packages of each index (a package may set its own), in the set's order.
    let mut by_index: Vec<(Role, &Config, Vec<&str>)> = Vec::new();
    for member in &set.members {
        let Some(name) = member.plan.name.as_deref() else {
            continue;
        };
        for role in [Role::Staging, Role::Production] {
            let url = &role.config(&member.config).index_url;
            match by_index
                .iter_mut()
                .find(|(r, c, _)| *r == role && role.config(c).index_url == *url)
            {
                Some((_, _, names)) => names.push(name),
                None => by_index.push((role, &member.config, vec![name])),
            }
        }
    }
    let mut problems = Vec::new();
    for (role, config, names) in by_index {
        let settings = role.config(config);
        let limit = settings.new_project_limit.or_else(|| {
            new_projects::limit_for(&settings.upload_url)
                .or_else(|| new_projects::limit_for(&settings.index_url))
        });
        if limit.is_none() {
            continue;
        }
        let index = Index::new(role, config);
        let shown = format!(
            "the {} index `{}`",
            index.label(),
            crate::resources::secrets::redact(index.url())
        );
        let exists = new_projects::on_index(index.agent(), index.url());
        match new_projects::count(&shown, &names, limit, exists) {
            Ok(found) => problems.extend(found.problem()),
            Err(e) => problems.push(format!(
                "cannot count the new projects on {shown}: {e:#} (`--offline` skips this check)"
            )),
        }
    }
    set.problems.extend(problems);
}

/// `--dry-run`: every package's plan, the shared edits, the one commit.
fn print_set(set: &SetPlan) {
    // The commit, the push, the warnings and the problems are the set's, said once below.
    for member in &set.members {
        print_edits(&member.plan);
        for note in &member.plan.notes {
            output::note(format!("{}: {note}", member.plan.tag));
        }
    }
    for edit in &set.shared {
        output::status("Would edit", format!("`{}`", edit.path));
        print!("{}", output::unified_diff(&edit.path, &edit.old, &edit.new));
    }
    output::status(
        "Would commit",
        format!(
            "`{}` once, with the tags {}",
            set.commit_message(),
            quoted(&set.tags())
        ),
    );
    if let Some(first) = set.members.first() {
        if first.plan.push {
            output::status(
                "Would push",
                format!(
                    "`{}` and {} to `{}` atomically",
                    first.plan.branch,
                    quoted(&set.tags()),
                    first.plan.remote
                ),
            );
        }
    }
    for warning in &set.warnings {
        output::warn(warning);
    }
    for problem in &set.problems {
        output::error(problem);
    }
}

fn quoted(tags: &[&str]) -> String {
    let tags: Vec<String> = tags.iter().map(|t| format!("`{t}`")).collect();
    tags.join(", ")
}

/// The release command as it was run (`again`, said when an interrupt undid it).
fn command_line(options: &Options) -> String {
    let mut line = format!("cargo xtask release {}", options.bump);
    match options.changed {
        true => line.push_str(" --changed"),
        false => {
            for name in &options.packages {
                line.push_str(&format!(" --package {name}"));
            }
        }
    }
    for (flag, given) in [
        ("--push", options.push),
        ("--allow-dirty", options.allow_dirty),
        ("--offline", options.offline),
    ] {
        if given {
            line.push_str(&format!(" {flag}"));
        }
    }
    line
}

/// Writes every edit, makes the one commit and each tag; on any failure, or an interrupt
/// (held back until then: `interrupt::holding`), puts every file, the index and the refs back
/// as they were at `before`. An interrupt then ends the process, saying so and `again`.
fn apply_set(
    repo: &Repo,
    config: &Config,
    set: &SetPlan,
    before: git2::Oid,
    again: &str,
) -> Result<()> {
    let edits = set.edits();
    let tags = set.tags().join(", ");
    let interrupted = || match crate::interrupt::stopping() {
        true => Err(anyhow::anyhow!("interrupted")),
        false => Ok(()),
    };
    let doing = format!("making the release commit and tags of {tags}");
    // Said if a second interrupt ends the process before this step has put things back.
    let partly = || {
        crate::interrupt::stand(
            &doing,
            "some of it may be made: `git status` and `git tag` show what",
            again,
        )
    };
    crate::interrupt::holding(|| {
        partly();
        let result = (|| -> Result<()> {
            for member in &set.members {
                let plan = &member.plan;
                if let (Some(current), false) = (&plan.current, plan.edits.is_empty()) {
                    let name = plan.name.as_deref().unwrap_or(&plan.tag);
                    output::status("Bumping", format!("{name} {current} → {}", plan.next));
                }
            }
            for edit in &edits {
                interrupted()?;
                output::status("Editing", format!("`{}`", edit.path));
                manifest::write_inside(repo.root(), &edit.path, edit.new.as_bytes())?;
            }
            if !edits.is_empty() {
                interrupted()?;
                let paths: Vec<&str> = edits.iter().map(|e| e.path.as_str()).collect();
                output::status("Committing", set.commit_message());
                repo.commit_paths(&paths, &set.commit_message())?;
            }
            for member in &set.members {
                interrupted()?;
                make_tag(repo, &member.plan, "HEAD")?;
            }
            // An interrupt from here on finds the release made, not yet built.
            crate::interrupt::stand(
                &format!("building {tags}"),
                &format!(
                    "the release commit and the tags {} are made locally, not built yet, \
                     nothing was uploaded",
                    quoted(&set.tags())
                ),
                &push_command(config, set),
            );
            interrupted()
        })();
        let Err(error) = result else {
            return Ok(());
        };
        partly();
        let owned: Vec<FileEdit> = edits.iter().map(|e| (*e).clone()).collect();
        let restored = restore_all(repo, &owned, &set.tags(), before);
        // What an interrupt says, whether it came before this failure or comes now.
        let failed = match crate::interrupt::stopping() {
            true => String::new(),
            false => format!("the release failed ({error:#}), and "),
        };
        let said = match &restored {
            Ok(()) => format!("{failed}nothing was released: every file and ref is back as it was"),
            Err(cleanup) => format!(
                "{failed}putting things back failed ({cleanup:#}): `git status` and `git tag` \
                 show what is left"
            ),
        };
        crate::interrupt::stand(&doing, &said, again);
        Err(match restored {
            Ok(()) => error.context(format!(
                "the release of {tags} failed; every file and ref is back as it was"
            )),
            Err(cleanup) => error.context(format!(
                "the release of {tags} failed, and putting things back failed too: {cleanup:#}"
            )),
        })
    })
}

/// The push that stages the release's tags (their pre-push hook builds and stages each).
fn push_command(config: &Config, set: &SetPlan) -> String {
    format!(
        "git push --atomic {} {} {}",
        config.git.remote,
        config.git.branch,
        set.tags().join(" ")
    )
}

/// Each tag built once (`core::build::build_tag`, with its package's configuration); when
/// one does not build, or its files are refused, the whole release is undone: the commit, every
/// tag, every file, and the builds already made.
fn build_or_undo(repo: &Repo, config: &Config, set: &SetPlan, before: git2::Oid) -> Result<()> {
    // A set keeps no journal (docs/monorepo.md): an interrupted build is resumed by the push,
    // whose pre-push hook builds and stages each tag.
    let push = push_command(config, set);
    for member in &set.members {
        let tag = &member.plan.tag;
        crate::interrupt::stand(
            &format!("building {tag}"),
            &format!(
                "the release commit and the tags {} are made locally, not all built yet, \
                 nothing was uploaded",
                quoted(&set.tags())
            ),
            &push,
        );
        let Err(error) = crate::core::build::build_tag(repo, &member.config, tag) else {
            continue;
        };
        for tag in set.tags() {
            let _ = std::fs::remove_dir_all(crate::resolved::work_dir(repo, tag));
        }
        let edits: Vec<FileEdit> = set.edits().into_iter().cloned().collect();
        return Err(match restore_all(repo, &edits, &set.tags(), before) {
            Ok(()) => error.context(format!(
                "{} was not released: {tag} does not build, or its files are refused, so the \
                 release commit and every tag are undone and every file is back as it was",
                set.tags().join(", ")
            )),
            Err(cleanup) => error.context(format!(
                "{} was not released: {tag} does not build, and undoing the release failed \
                 too: {cleanup:#}",
                set.tags().join(", ")
            )),
        });
    }
    Ok(())
}

/// `--push`: the branch and every tag in one atomic push; else the command that does it.
fn push_set(repo: &Repo, config: &Config, options: &Options, set: &SetPlan) -> Result<()> {
    let (remote, branch) = (&config.git.remote, &config.git.branch);
    let command = push_command(config, set);
    if !options.push {
        output::note(format!(
            "push the release with `{command}` (the pre-push hook stages each tag)"
        ));
        return Ok(());
    }
    output::status(
        "Pushing",
        format!("`{branch}` and {} to `{remote}`", quoted(&set.tags())),
    );
    let mut refs = vec![format!("refs/heads/{branch}")];
    refs.extend(set.tags().iter().map(|t| format!("refs/tags/{t}")));
    let atomic = Push {
        atomic: true,
        ..Push::default()
    };
    let status = repo.push_refs(remote, &refs, &atomic)?;
    if !status.success() {
        bail!(
            "`{command}` failed; the commit and tags are made locally: push again when the \
             problem is fixed"
        );
    }
    Ok(())
}
