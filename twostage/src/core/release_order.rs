//! The order a release set is staged and promoted in, and what each package is verified
//! against. A package comes after every package of the set it requires, directly or through
//! other packages of the repository (`cli` → `plugins` → `core`: `core` first, even when
//! `plugins` is not released); a cycle among the repository's packages is an error naming it.
//! A package is verified against the staged files of those same packages of the set (its
//! siblings), since they are what production will serve once the set is promoted; every other
//! requirement comes from production, as for a single package. Pure: it reads the
//! `workspace::Package`s it is given; the hooks and `core::siblings` use it (docs/monorepo.md).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::resources::dist::normalize_name;
use crate::resources::git::Repo;
use crate::resources::workspace::{Package, Workspace};

/// The release set: its packages in dependency order, and each one's siblings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseOrder {
    /// Normalized names, each after the packages of the set it requires; ties by name.
    pub order: Vec<String>,
    /// For each package of the set, the packages of the set it requires, directly or through
    /// other packages of the repository.
    pub siblings: BTreeMap<String, BTreeSet<String>>,
}

/// Orders `set` (names of `packages`, any spelling) by their in-repository dependencies.
pub fn order(packages: &[Package], set: &[&str]) -> Result<ReleaseOrder> {
    let graph: BTreeMap<&str, Vec<&str>> = packages
        .iter()
        .map(|p| {
            let inside = p
                .dependencies
                .iter()
                .filter_map(|d| packages.iter().find(|q| &q.name == d))
                .map(|q| q.name.as_str())
                .collect();
            (p.name.as_str(), inside)
        })
        .collect();
    let mut chosen = BTreeSet::new();
    let mut unknown = Vec::new();
    for name in set {
        let normalized = normalize_name(name);
        match graph.get_key_value(normalized.as_str()) {
            Some((known, _)) => {
                chosen.insert(*known);
            }
            None => unknown.push(format!("`{name}`")),
        }
    }
    if !unknown.is_empty() {
        bail!(
            "the repository has no package {} (its packages: {})",
            unknown.join(", "),
            graph.keys().copied().collect::<Vec<_>>().join(", ")
        );
    }
    for name in &chosen {
        if let Some(cycle) = cycle_from(&graph, name) {
            bail!(
                "the packages depend on each other in a circle ({}), so none of them can be \
                 released before the other: remove one of these requirements",
                cycle.join(" → ")
            );
        }
    }
    let siblings: BTreeMap<String, BTreeSet<String>> = chosen
        .iter()
        .map(|name| {
            let reached = reachable(&graph, name);
            let inside = reached
                .intersection(&chosen)
                .map(|s| s.to_string())
                .collect();
            (name.to_string(), inside)
        })
        .collect();
    let mut order: Vec<String> = Vec::new();
    while order.len() < siblings.len() {
        // Acyclic, so some package of the set always has every sibling placed already.
        let next = siblings
            .iter()
            .find(|(name, needs)| !order.contains(name) && needs.iter().all(|n| order.contains(n)))
            .map(|(name, _)| name.clone())
            .expect("an acyclic graph has a package whose siblings are all placed");
        order.push(next);
    }
    Ok(ReleaseOrder { order, siblings })
}

/// `tags` (pushed, or named to `stage`) in the order their packages are released in: each
/// after the tags of the packages it requires (`order` over the repository's packages,
/// docs/monorepo.md), the tags of one package in the order given. One package's tags stay as
/// they are.
pub fn tags_in_order(repo: &Repo, config: &Config, tags: &[String]) -> Result<Vec<String>> {
    if !config.is_multi_package() || tags.len() < 2 {
        return Ok(tags.to_vec());
    }
    let package_of = |tag: &str| {
        config
            .for_tag(tag)
            .and_then(|(c, _)| c.member().map(|m| m.name.clone()))
            .unwrap_or_default()
    };
    let names: Vec<String> = tags.iter().map(|t| package_of(t)).collect();
    let workspace = Workspace::read(repo.root())?;
    // A configured package the reading does not find (a folder outside the uv workspace's
    // members) requires nothing it knows of: it goes after the others, as given.
    let set: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| workspace.package(name).is_some())
        .collect();
    let order = order(&workspace.packages, &set)
        .context("cannot order the release tags by their packages' dependencies")?;
    let rank = |name: &str| {
        let at = order.order.iter().position(|n| n == name);
        at.unwrap_or(usize::MAX)
    };
    let mut ordered: Vec<(usize, &String)> =
        tags.iter().zip(&names).map(|(t, n)| (rank(n), t)).collect();
    ordered.sort_by_key(|(rank, _)| *rank);
    Ok(ordered.into_iter().map(|(_, t)| t.clone()).collect())
}

/// Every package `start` requires, directly or not (itself left out).
fn reachable<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>, start: &'a str) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(name) = stack.pop() {
        for &next in graph.get(name).into_iter().flatten() {
            if next != start && seen.insert(next) {
                stack.push(next);
            }
        }
    }
    seen
}

/// A circle of requirements reachable from `start`, as the names along it (the first repeated
/// at the end), found by a depth-first walk.
fn cycle_from<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>, start: &'a str) -> Option<Vec<&'a str>> {
    fn walk<'a>(
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        name: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(at) = path.iter().position(|p| *p == name) {
            let mut cycle = path[at..].to_vec();
            cycle.push(name);
            return Some(cycle);
        }
        if done.contains(name) {
            return None;
        }
        path.push(name);
        for &next in graph.get(name).into_iter().flatten() {
            if let Some(cycle) = walk(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(name);
        None
    }
    walk(graph, start, &mut Vec::new(), &mut BTreeSet::new())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::resources::workspace::{tests::fixture, Workspace};

    /// A package of `packages/<name>` requiring `dependencies` (also for `core::siblings`).
    pub(crate) fn package(name: &str, dependencies: &[&str]) -> Package {
        Package {
            name: name.to_string(),
            declared_name: name.to_string(),
            folder: format!("packages/{name}"),
            manifest: format!("packages/{name}/pyproject.toml"),
            dependencies: dependencies.iter().map(|d| d.to_string()).collect(),
            dynamic_dependencies: false,
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn the_fixtures_dependent_comes_after_its_sibling_and_is_verified_against_it() {
        let dir = tempfile::tempdir().unwrap();
        fixture("uv-workspace", dir.path(), "acme");
        let ws = Workspace::read(dir.path()).unwrap();
        let all = order(&ws.packages, &["acme-cli", "Acme.Extras", "acme_core"]).unwrap();
        assert_eq!(all.order, ["acme-core", "acme-cli", "acme-extras"]);
        assert_eq!(all.siblings["acme-cli"], set(&["acme-core"]));
        assert_eq!(all.siblings["acme-core"], set(&[]));
        // Released alone, the dependent has no sibling: its dependency comes from production.
        let alone = order(&ws.packages, &["acme-cli"]).unwrap();
        assert_eq!(alone.order, ["acme-cli"]);
        assert_eq!(alone.siblings["acme-cli"], set(&[]));
    }

    #[test]
    fn a_dependency_through_a_package_outside_the_set_still_orders_it() {
        let packages = [
            package("app", &["plugins", "requests"]),
            package("plugins", &["core"]),
            package("core", &[]),
            package("zeta", &[]),
        ];
        let found = order(&packages, &["zeta", "app", "core"]).unwrap();
        assert_eq!(found.order, ["core", "app", "zeta"]);
        assert_eq!(found.siblings["app"], set(&["core"]));
    }

    #[test]
    fn a_cycle_is_refused_with_its_names() {
        let packages = [
            package("a", &["b"]),
            package("b", &["c"]),
            package("c", &["a"]),
            package("d", &[]),
        ];
        let err = order(&packages, &["a"]).unwrap_err().to_string();
        assert!(err.contains("(a → b → c → a)"), "{err}");
        // A circle the set does not reach blocks nothing.
        assert_eq!(order(&packages, &["d"]).unwrap().order, ["d"]);
    }

    #[test]
    fn a_name_the_repository_does_not_have_is_refused() {
        let packages = [package("core", &[])];
        let err = order(&packages, &["core", "nope"]).unwrap_err().to_string();
        assert_eq!(
            err,
            "the repository has no package `nope` (its packages: core)"
        );
    }
}
