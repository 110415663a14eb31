//! `release --changed`, decided: which of the repository's packages have changes since their
//! last release tag, and why each other one is skipped. A changed path belongs to the package
//! whose folder holds it most closely (a member's folder inside the root package's is the
//! member's), and to every package that declares it (a file or folder it is built from outside
//! its own folder). A package with no release tag behind HEAD is released: it was never
//! released. `decide` is pure; `read` gathers its inputs from git; `release --changed` uses
//! them (docs/monorepo.md).

use anyhow::Result;

use crate::package_tags::{self, PackageTags};
use crate::resources::changes::History;
use crate::resources::workspace::Package;

/// What `decide` needs to know of one package.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub name: &'a str,
    /// Relative to the repository root, `/`-separated; empty for the root.
    pub folder: &'a str,
    /// Files or folders outside `folder` the package declares it is built from.
    pub extra_paths: &'a [String],
    /// The package's last release tag behind HEAD, if any.
    pub last_tag: Option<&'a str>,
    /// Every path changed in the repository since `last_tag` (empty without one).
    pub changed: &'a [String],
}

/// Released or skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub name: String,
    pub release: bool,
    pub reason: String,
    /// The changed paths that count for this package.
    pub touching: Vec<String>,
}

fn holds(folder: &str, path: &str) -> bool {
    let folder = folder.trim_end_matches('/');
    folder.is_empty()
        || path == folder
        || path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Released or skipped, for every candidate, in their order.
pub fn decide(candidates: &[Candidate]) -> Vec<Decision> {
    candidates
        .iter()
        .map(|c| {
            let Some(tag) = c.last_tag else {
                return Decision {
                    name: c.name.to_string(),
                    release: true,
                    reason: "never released".into(),
                    touching: Vec::new(),
                };
            };
            let touching: Vec<String> = c
                .changed
                .iter()
                .filter(|path| {
                    owns(candidates, c, path) || c.extra_paths.iter().any(|e| holds(e, path))
                })
                .cloned()
                .collect();
            let reason = if touching.is_empty() {
                format!("no commits touching {} since {tag}", places(c))
            } else {
                format!(
                    "{} since {tag}: {}",
                    changed_count(touching.len()),
                    listed(&touching)
                )
            };
            Decision {
                name: c.name.to_string(),
                release: !touching.is_empty(),
                reason,
                touching,
            }
        })
        .collect()
}

/// Whether `path` is in `c`'s folder and in no deeper folder of another candidate.
fn owns(all: &[Candidate], c: &Candidate, path: &str) -> bool {
    holds(c.folder, path)
        && !all
            .iter()
            .any(|other| other.folder.len() > c.folder.len() && holds(other.folder, path))
}

fn places(c: &Candidate) -> String {
    let own = if c.folder.is_empty() {
        "the repository root (outside the other packages' folders)".to_string()
    } else {
        c.folder.to_string()
    };
    std::iter::once(own)
        .chain(c.extra_paths.iter().cloned())
        .collect::<Vec<_>>()
        .join(" or ")
}

fn changed_count(n: usize) -> String {
    if n == 1 {
        "1 path changed".into()
    } else {
        format!("{n} paths changed")
    }
}

fn listed(paths: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = paths[..paths.len().min(SHOWN)].join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    text
}

/// One package as the repository and the configuration describe it.
pub struct Declared<'a> {
    pub package: &'a Package,
    pub tags: &'a PackageTags,
    pub extra_paths: &'a [String],
}

/// `decide` over the repository's history: each package's highest release tag behind HEAD,
/// and the paths changed since it.
pub fn read(history: &History, declared: &[Declared]) -> Result<Vec<Decision>> {
    let behind = history.tags_behind_head()?;
    let mut found = Vec::new();
    for d in declared {
        crate::config::check_paths(&d.package.name, d.extra_paths)?;
        let last = package_tags::latest(d.tags, &behind).map(|(tag, _)| tag);
        let changed = match last {
            Some(tag) => history.changed_since(tag)?,
            None => Vec::new(),
        };
        found.push((d, last, changed));
    }
    let candidates: Vec<Candidate> = found
        .iter()
        .map(|(d, last, changed)| Candidate {
            name: &d.package.name,
            folder: &d.package.folder,
            extra_paths: d.extra_paths,
            last_tag: *last,
            changed,
        })
        .collect();
    Ok(decide(&candidates))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;
    use crate::package_tags::DEFAULT_TEMPLATE;
    use crate::resources::workspace::{tests::fixture, Workspace};

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(["-c", "user.name=T", "-c", "user.email=t@example.org"])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn commit(dir: &Path, files: &[&str], message: &str) {
        for file in files {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let old = std::fs::read_to_string(&path).unwrap_or_default();
            std::fs::write(&path, format!("{old}{message}\n")).unwrap();
        }
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "--quiet", "-m", message]);
    }

    /// The uv workspace fixture in a real repository, every member tagged at its first
    /// release: `acme-core-v1.0.0`, `acme-cli-v0.3.0`, `acme-extras-v2.1.0`.
    fn released_workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fixture("uv-workspace", dir.path(), "acme");
        git(dir.path(), &["init", "--quiet", "-b", "main"]);
        commit(dir.path(), &[], "the workspace");
        for tag in ["acme-core-v1.0.0", "acme-cli-v0.3.0", "acme-extras-v2.1.0"] {
            git(dir.path(), &["tag", "-a", tag, "-m", tag]);
        }
        git(dir.path(), &["tag", "acme-core-v1.0.0-prod"]);
        dir
    }

    /// `read` for every package of the repository, with `extra` paths for `acme-cli`.
    fn decisions(root: &Path, extra: &[String]) -> Vec<(String, bool, String)> {
        let ws = Workspace::read(root).unwrap();
        let tags: Vec<PackageTags> = ws
            .packages
            .iter()
            .map(|p| PackageTags::new(&p.name, DEFAULT_TEMPLATE, "-prod").unwrap())
            .collect();
        let declared: Vec<Declared> = ws
            .packages
            .iter()
            .zip(&tags)
            .map(|(package, tags)| Declared {
                package,
                tags,
                extra_paths: if package.name == "acme-cli" {
                    extra
                } else {
                    &[]
                },
            })
            .collect();
        read(&History::open(root).unwrap(), &declared)
            .unwrap()
            .into_iter()
            .map(|d| (d.name, d.release, d.reason))
            .collect()
    }

    fn released(decisions: &[(String, bool, String)]) -> Vec<&str> {
        decisions
            .iter()
            .filter(|d| d.1)
            .map(|d| d.0.as_str())
            .collect()
    }

    #[test]
    fn a_commit_in_one_folder_releases_only_that_package() {
        let dir = released_workspace();
        commit(
            dir.path(),
            &["packages/core/acme_core/__init__.py"],
            "core: a fix",
        );
        let found = decisions(dir.path(), &[]);
        assert_eq!(released(&found), ["acme-core"]);
        let reasons: Vec<&str> = found.iter().map(|d| d.2.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "no commits touching packages/cli since acme-cli-v0.3.0",
                "1 path changed since acme-core-v1.0.0: packages/core/acme_core/__init__.py",
                "no commits touching packages/extras since acme-extras-v2.1.0",
            ]
        );
    }

    #[test]
    fn a_commit_in_two_folders_releases_both() {
        let dir = released_workspace();
        commit(
            dir.path(),
            &[
                "packages/core/CHANGELOG.md",
                "packages/extras/acme_extras/__init__.py",
            ],
            "core and extras",
        );
        commit(
            dir.path(),
            &["packages/core/acme_core/new.py"],
            "core again",
        );
        let found = decisions(dir.path(), &[]);
        assert_eq!(released(&found), ["acme-core", "acme-extras"]);
        assert_eq!(
            found[1].2,
            "2 paths changed since acme-core-v1.0.0: packages/core/CHANGELOG.md, \
             packages/core/acme_core/new.py"
        );
    }

    #[test]
    fn a_commit_in_the_root_releases_no_member_unless_declared() {
        let dir = released_workspace();
        commit(
            dir.path(),
            &["README.md", "shared/schema.json"],
            "root files",
        );
        assert!(released(&decisions(dir.path(), &[])).is_empty());
        let found = decisions(dir.path(), &["shared".into()]);
        assert_eq!(released(&found), ["acme-cli"]);
        assert_eq!(
            found[0].2,
            "1 path changed since acme-cli-v0.3.0: shared/schema.json"
        );
        assert_eq!(
            decisions(dir.path(), &["docs".into()])[0].2,
            "no commits touching packages/cli or docs since acme-cli-v0.3.0"
        );
    }

    #[test]
    fn a_root_package_owns_the_paths_outside_its_members_folders() {
        let dir = released_workspace();
        let root_manifest = dir.path().join("pyproject.toml");
        let text = std::fs::read_to_string(&root_manifest).unwrap();
        std::fs::write(
            &root_manifest,
            format!("[project]\nname = \"acme\"\nversion = \"1.0.0\"\n\n{text}"),
        )
        .unwrap();
        commit(dir.path(), &[], "the root is a package");
        git(dir.path(), &["tag", "acme-v1.0.0"]);
        commit(dir.path(), &["packages/core/x.py"], "core only");
        assert_eq!(released(&decisions(dir.path(), &[])), ["acme-core"]);
        commit(dir.path(), &["src/acme/__init__.py"], "root");
        let found = decisions(dir.path(), &[]);
        assert_eq!(released(&found), ["acme", "acme-core"]);
        assert_eq!(
            found[0].2,
            "1 path changed since acme-v1.0.0: src/acme/__init__.py"
        );
    }

    #[test]
    fn a_package_without_a_tag_behind_head_was_never_released() {
        let dir = released_workspace();
        git(dir.path(), &["tag", "-d", "acme-extras-v2.1.0"]);
        // A tag on a branch HEAD does not descend from is not its last release.
        git(dir.path(), &["checkout", "--quiet", "-b", "side"]);
        commit(dir.path(), &["packages/extras/x.py"], "side");
        git(dir.path(), &["tag", "acme-extras-v2.2.0"]);
        git(dir.path(), &["checkout", "--quiet", "main"]);
        let found = decisions(dir.path(), &[]);
        assert_eq!(released(&found), ["acme-extras"]);
        assert_eq!(found[2].2, "never released");
    }

    #[test]
    fn the_highest_tag_behind_head_counts_and_a_revert_is_no_change() {
        let dir = released_workspace();
        commit(dir.path(), &["packages/core/x.py"], "core 1.1");
        git(dir.path(), &["tag", "acme-core-v1.1.0"]);
        commit(dir.path(), &["packages/core/y.py"], "work");
        git(dir.path(), &["revert", "--no-edit", "HEAD"]);
        let found = decisions(dir.path(), &[]);
        assert_eq!(
            found[1].2,
            "no commits touching packages/core since acme-core-v1.1.0"
        );
        assert!(released(&found).is_empty());
    }

    #[test]
    fn changes_since_a_tag_on_another_branch_are_head_s_own_since_they_parted() {
        let dir = released_workspace();
        git(dir.path(), &["checkout", "--quiet", "-b", "maintenance"]);
        commit(dir.path(), &["packages/core/backport.py"], "a backport");
        git(dir.path(), &["tag", "acme-core-v1.0.1"]);
        git(dir.path(), &["checkout", "--quiet", "main"]);
        commit(dir.path(), &["packages/cli/main.py"], "main's own");
        let history = History::open(dir.path()).unwrap();
        assert_eq!(
            history.changed_since("acme-core-v1.0.1").unwrap(),
            ["packages/cli/main.py"]
        );
        let err = history
            .changed_since("no-such-tag")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "there is no tag `no-such-tag`");
    }

    #[test]
    fn declared_paths_must_stay_inside_the_repository() {
        for bad in ["/etc", "../sibling", "a/./b", ""] {
            let err = crate::config::check_paths("acme", &[bad.to_string()])
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
        crate::config::check_paths("acme", &["shared/schema.json".into(), "proto".into()]).unwrap();
    }
}
