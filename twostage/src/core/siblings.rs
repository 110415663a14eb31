//! A package's siblings in its release set (issue 23, docs/monorepo.md "The dependency rule").
//! The **release set** of a release commit is the packages of `[[packages]]` whose release tags
//! point at that commit (one release commit, tagged once per package); a package's
//! **siblings** are the packages of that set it requires, directly or through other packages
//! of the repository (`release_order::order`, over the requirements the repository's
//! manifests state at that commit). `verify` installs each sibling from its staged files beside
//! the dependent; `promote` refuses a dependent while a sibling is not on production. A
//! single package's repository, or a package released alone, has none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::Oid;
use pep440_rs::Version;

use crate::config::{Config, Member};
use crate::core::index::Role;
use crate::core::release_order;
use crate::core::verdict;
use crate::error::UsageError;
use crate::resolved::{self, Release};
use crate::resources::evidence::{ArtifactRecord, Note};
use crate::resources::git::Repo;
use crate::resources::workspace::{Package, Workspace};

/// A package of the release set that another package of it requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sibling {
    /// The normalized distribution name.
    pub name: String,
    /// Its release tag on the release commit.
    pub tag: String,
    pub version: Version,
}

/// The release set, by package name: each package's release tag and version.
pub type ReleaseSet = BTreeMap<String, (String, Version)>;

/// The release set of a commit: for each package of `members`, its release tag among `tags`
/// (the names of the tags pointing at the commit). A production tag is not a release tag; of
/// two release tags of one package on one commit, the higher version counts.
pub fn release_set(members: &[Member], tags: &[String]) -> ReleaseSet {
    let mut set = ReleaseSet::new();
    for member in members {
        for tag in tags {
            let Some(read) = member.tags.parse(tag).filter(|read| !read.prod) else {
                continue;
            };
            let higher = set
                .get(&member.name)
                .is_none_or(|(_, known)| read.version > *known);
            if higher {
                set.insert(member.name.clone(), (tag.clone(), read.version));
            }
        }
    }
    set
}

/// `package`'s siblings in `set`, by the requirements of the repository's `packages`, in
/// dependency order. A package of the set the repository does not list (a folder its reading
/// passes over) requires nothing and is required by nothing.
pub fn siblings_of(packages: &[Package], set: &ReleaseSet, package: &str) -> Result<Vec<Sibling>> {
    let known: Vec<&str> = set
        .keys()
        .map(String::as_str)
        .filter(|name| packages.iter().any(|p| p.name == *name))
        .collect();
    if !known.contains(&package) {
        return Ok(Vec::new());
    }
    let ordered = release_order::order(packages, &known)?;
    let mine = ordered.siblings.get(package).cloned().unwrap_or_default();
    Ok(ordered
        .order
        .iter()
        .filter(|name| mine.contains(*name))
        .filter_map(|name| {
            let (tag, version) = set.get(name)?;
            Some(Sibling {
                name: name.clone(),
                tag: tag.clone(),
                version: version.clone(),
            })
        })
        .collect())
}

/// The siblings of the package `config` releases (`Config::for_package`) in the release set at
/// `commit`. The repository's requirements are read from `checkout()`, a clean checkout of
/// `commit`, asked for only when another package of the set could be one. None for a
/// repository of one package.
pub fn find(
    repo: &Repo,
    config: &Config,
    commit: Oid,
    checkout: &dyn Fn() -> Result<PathBuf>,
) -> Result<Vec<Sibling>> {
    let Some(member) = config.member() else {
        return Ok(Vec::new());
    };
    let tags: Vec<String> = repo
        .tags()?
        .into_iter()
        .filter(|(_, at)| *at == commit)
        .map(|(name, _)| name)
        .collect();
    let set = release_set(&config.packages, &tags);
    if set.len() < 2 || !set.contains_key(&member.name) {
        return Ok(Vec::new());
    }
    let root = checkout()?;
    let workspace = Workspace::read(&root).with_context(|| {
        format!(
            "cannot read the repository's packages on {commit} for what `{}` requires",
            member.name
        )
    })?;
    siblings_of(&workspace.packages, &set, &member.name)
}

/// `find` and `ready` for `release`, before anything is done: the requirements read from a
/// clean checkout in the release's work directory (`siblings-checkout/`), made only when the
/// release set has another package.
pub fn ready_at(repo: &Repo, config: &Config, release: &Release, role: Role) -> Result<Vec<Ready>> {
    ready_besides(repo, config, release, role, &[])
}

/// `ready_at`, but for the siblings whose tags are not among `besides` (the other tags of a
/// set being staged with this one, whose files go up together).
pub fn ready_besides(
    repo: &Repo,
    config: &Config,
    release: &Release,
    role: Role,
    besides: &[&str],
) -> Result<Vec<Ready>> {
    let dir = release.work.join("siblings-checkout");
    let found = find(repo, config, release.commit, &|| {
        checkout_into(repo, release.commit, &dir)
    })?;
    let outside = found
        .into_iter()
        .filter(|sibling| !besides.contains(&sibling.tag.as_str()))
        .collect();
    ready(repo, config, &release.tag, outside, role)
}

/// A clean checkout of `commit` in `dir`, for `find`.
pub fn checkout_into(repo: &Repo, commit: Oid, dir: &Path) -> Result<PathBuf> {
    crate::core::frozen::clean_checkout(repo, commit, dir)?;
    Ok(dir.to_path_buf())
}

/// A sibling with what its section of the note records: the files to install beside its
/// dependent, and the configuration it is released with.
pub struct Ready {
    pub sibling: Sibling,
    pub config: Config,
    pub release: Release,
    pub artifacts: Vec<ArtifactRecord>,
}

/// Each sibling, once its section of the note says it is on `role`'s index (staged; for a
/// verification of production, promoted). One that is not refuses the dependent's
/// verification, saying what to run first; nothing is recorded.
pub fn ready(
    repo: &Repo,
    config: &Config,
    dependent: &str,
    siblings: Vec<Sibling>,
    role: Role,
) -> Result<Vec<Ready>> {
    let mut ready = Vec::new();
    for sibling in siblings {
        let sibling_config = config
            .for_package(&sibling.name)
            .with_context(|| format!("`{}` is not one of the configured packages", sibling.name))?;
        let release = resolved::tagged_release(repo, &sibling_config, &sibling.tag)?;
        let note = Note::read(repo, release.commit, &sibling.tag)?;
        if !verdict::sibling_on(note.as_ref(), role) {
            let tag = &sibling.tag;
            let first = match role {
                Role::Staging => format!("stage it first (`cargo xtask stage {tag}`)"),
                Role::Production => format!("promote it first (`cargo xtask promote {tag}`)"),
            };
            return Err(UsageError(format!(
                "{dependent} requires `{}`, released on the same commit as `{tag}`, which is not \
                 on {} yet: {first}, then run this again; nothing was uploaded or recorded",
                sibling.name,
                role.label()
            ))
            .into());
        }
        let artifacts = note.map(|n| n.artifacts()).unwrap_or_default();
        release.check_filenames(&artifacts)?;
        ready.push(Ready {
            sibling,
            config: sibling_config,
            release,
            artifacts,
        });
    }
    Ok(ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::release_order::tests::package;
    use crate::package_tags::PackageTags;

    fn member(name: &str) -> Member {
        Member {
            name: name.to_string(),
            folder: format!("packages/{name}"),
            manifest: format!("packages/{name}/pyproject.toml"),
            version_files: Vec::new(),
            changelog: format!("packages/{name}/CHANGELOG.md"),
            tags: PackageTags::new(name, "{name}-v{version}", "-prod").unwrap(),
            paths: Vec::new(),
            smoke: None,
            staging: Default::default(),
            production: Default::default(),
        }
    }

    fn tags(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn names(siblings: &[Sibling]) -> Vec<(&str, &str)> {
        siblings
            .iter()
            .map(|s| (s.name.as_str(), s.tag.as_str()))
            .collect()
    }

    #[test]
    fn the_set_is_the_packages_tagged_on_the_commit_production_tags_left_out() {
        let members = [
            member("acme-core"),
            member("acme-cli"),
            member("acme-extras"),
        ];
        let set = release_set(
            &members,
            &tags(&[
                "acme-core-v1.0.1",
                "acme-core-v1.0.0-prod",
                "acme-cli-v0.3.1",
                "acme-cli-v0.3.0",
                "v9.9.9",
                "acme-extras-v2.1.0-prod",
            ]),
        );
        let read: Vec<(&str, &str)> = set
            .iter()
            .map(|(name, (tag, _))| (name.as_str(), tag.as_str()))
            .collect();
        // The higher of two release tags; `acme-extras` has only a production tag here.
        assert_eq!(
            read,
            [
                ("acme-cli", "acme-cli-v0.3.1"),
                ("acme-core", "acme-core-v1.0.1")
            ]
        );
    }

    #[test]
    fn a_dependents_siblings_are_the_packages_of_its_set_it_requires() {
        let packages = [
            package("app", &["plugins", "requests"]),
            package("plugins", &["core"]),
            package("core", &[]),
            package("zeta", &[]),
        ];
        let members = [
            member("app"),
            member("plugins"),
            member("core"),
            member("zeta"),
        ];
        let set = release_set(
            &members,
            &tags(&["app-v2.0.0", "core-v1.1.0", "zeta-v0.1.0"]),
        );
        // Through `plugins`, which is not released: `core` is `app`'s sibling.
        let found = siblings_of(&packages, &set, "app").unwrap();
        assert_eq!(names(&found), [("core", "core-v1.1.0")]);
        assert_eq!(found[0].version.to_string(), "1.1.0");
        assert_eq!(siblings_of(&packages, &set, "core").unwrap(), []);
        assert_eq!(siblings_of(&packages, &set, "zeta").unwrap(), []);
        // Released alone, `app` has none: what it requires comes from production.
        let alone = release_set(&members, &tags(&["app-v2.0.0"]));
        assert_eq!(siblings_of(&packages, &alone, "app").unwrap(), []);
        // `plugins` released too: both, in dependency order.
        let both = release_set(
            &members,
            &tags(&["app-v2.0.0", "core-v1.1.0", "plugins-v3.0.0"]),
        );
        let found = siblings_of(&packages, &both, "app").unwrap();
        assert_eq!(
            names(&found),
            [("core", "core-v1.1.0"), ("plugins", "plugins-v3.0.0")]
        );
    }

    #[test]
    fn a_package_the_reading_does_not_list_has_no_siblings_and_is_none() {
        let packages = [package("cli", &["core"]), package("core", &[])];
        let members = [member("cli"), member("core"), member("ghost")];
        let set = release_set(
            &members,
            &tags(&["cli-v1.0.0", "core-v1.0.0", "ghost-v1.0.0"]),
        );
        assert_eq!(siblings_of(&packages, &set, "ghost").unwrap(), []);
        let found = siblings_of(&packages, &set, "cli").unwrap();
        assert_eq!(names(&found), [("core", "core-v1.0.0")]);
    }
}
