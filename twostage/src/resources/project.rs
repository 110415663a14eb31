//! What a project's repository says about it beyond its manifest, read without building it:
//! the prefix its existing release tags use, and the name its package is imported by.
//! `init` reads these once to fill in the configuration; the version of record and the name
//! every step shares are `manifest::Project::read`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::version;

/// The tag prefix the existing tags use: of the tags that read as `<prefix><version>` (the
/// prefix ending where the first digit begins, the rest a release version), the most common
/// prefix (`v1.2.3` → `v`, `1.2.3` → ``, `release-1.2` → `release-`). Production tags
/// (`…<prod_suffix>`) count as their release tag. `None` when no tag reads as a version.
/// On a tie the default `v` wins, then the shorter prefix.
pub fn tag_prefix<S: AsRef<str>>(tags: &[S], prod_suffix: &str) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for tag in tags {
        let tag = tag.as_ref();
        let tag = tag.strip_prefix("refs/tags/").unwrap_or(tag);
        let tag = tag.strip_suffix(prod_suffix).unwrap_or(tag);
        let Some(at) = tag.find(|c: char| c.is_ascii_digit()) else {
            continue;
        };
        if version::parse_release_version(&tag[at..]).is_ok() {
            *counts.entry(&tag[..at]).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(prefix, count)| (*count, *prefix == "v", std::cmp::Reverse(prefix.len())))
        .map(|(prefix, _)| prefix.to_string())
}

/// Folders at the top of a repository that hold no package of the project's own.
const NOT_THE_PACKAGE: &[&str] = &[
    "tests",
    "test",
    "testing",
    "docs",
    "doc",
    "examples",
    "example",
    "benchmarks",
    "scripts",
    "tools",
    "xtask",
    "hooks",
    "build",
    "dist",
];

/// Top-level modules that are a repository's scripts, not its package.
const NOT_THE_MODULE: &[&str] = &["setup", "conftest", "noxfile", "tasks", "fabfile", "manage"];

/// The import names the source layout offers, in the folder setuptools, hatchling, flit and
/// maturin look in first: the packages (folders with `__init__.py`) and modules of `src/`
/// when it has any, else those at the top of `dir` (tests, docs and scripts left out).
/// https://setuptools.pypa.io/en/latest/userguide/package_discovery.html#automatic-discovery
pub fn importable(dir: &Path) -> Vec<String> {
    let src = names_in(&dir.join("src"));
    if !src.is_empty() {
        return src;
    }
    names_in(dir)
}

fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            let path = entry.path();
            let identifier = |n: &str| {
                n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !n.starts_with(|c: char| c.is_ascii_digit())
                    && !n.is_empty()
            };
            if path.join("__init__.py").is_file() {
                Some(name).filter(|n| identifier(n) && !NOT_THE_PACKAGE.contains(&n.as_str()))
            } else {
                let module = name.strip_suffix(".py")?;
                Some(module.to_string()).filter(|m| {
                    path.is_file() && identifier(m) && !NOT_THE_MODULE.contains(&m.as_str())
                })
            }
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_prefix_is_the_most_common_one_of_the_version_tags() {
        let prefix = |tags: &[&str]| tag_prefix(tags, "-prod");
        assert_eq!(
            prefix(&["v1.2.3", "v1.2.4", "v1.2.4-prod"]).as_deref(),
            Some("v")
        );
        assert_eq!(
            prefix(&["1.2.3", "4.17.2", "4.17.2-prod"]).as_deref(),
            Some("")
        );
        assert_eq!(
            prefix(&["release-1.2", "release-1.3"]).as_deref(),
            Some("release-")
        );
        // Tags that are not versions do not count; the majority wins.
        assert_eq!(
            prefix(&["1.0.0", "1.1.0", "v0.9.0", "docs-v2", "latest", "nightly"]).as_deref(),
            Some("")
        );
        assert_eq!(prefix(&["refs/tags/v2.0.0rc1"]).as_deref(), Some("v"));
        // A tie goes to the default.
        assert_eq!(prefix(&["1.0.0", "v1.1.0"]).as_deref(), Some("v"));
        assert_eq!(prefix(&["latest", "stable"]), None);
        assert_eq!(prefix(&[]), None);
    }

    #[test]
    fn the_import_names_are_read_from_src_else_the_top_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for path in [
            "foo/__init__.py",
            "tests/__init__.py",
            "setup.py",
            "xtask/__init__.py",
        ] {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), "").unwrap();
        }
        std::fs::create_dir_all(root.join("data")).unwrap();
        assert_eq!(importable(root), ["foo"]);
        std::fs::write(root.join("bar.py"), "").unwrap();
        assert_eq!(importable(root), ["bar", "foo"]);
        std::fs::create_dir_all(root.join("src/baz")).unwrap();
        std::fs::write(root.join("src/baz/__init__.py"), "").unwrap();
        assert_eq!(importable(root), ["baz"]);
    }
}
