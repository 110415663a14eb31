//! `[[packages]]`: the packages of a repository that holds several (docs/monorepo.md). Each
//! entry names a distribution and its folder, and may set what a single-package repository sets
//! in `[package]`, its smoke commands, its tag template, the paths outside its folder it is
//! built from, and its own staging and production index settings. `Config::for_package` makes
//! the configuration one package is released with; the steps then work as for one package.

use std::path::Path;

use anyhow::{bail, Result};
use serde::Deserialize;

use crate::package_tags::{self, PackageTags, DEFAULT_TEMPLATE};
use crate::resources::dist;

/// One entry of `[[packages]]`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Written {
    name: String,
    /// Relative to the repository root; `""` or `"."` is the root.
    #[serde(default)]
    folder: String,
    manifest: Option<String>,
    #[serde(default)]
    version_files: Vec<String>,
    changelog: Option<String>,
    tag: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
    smoke: Option<Vec<String>>,
    staging: Option<IndexOverride>,
    production: Option<IndexOverride>,
}

/// The index settings a package may set for itself; each one it leaves out is the
/// repository's (`[staging]`, `[production]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IndexOverride {
    pub upload_url: Option<String>,
    pub index_url: Option<String>,
    pub username: Option<String>,
    pub token_env: Option<String>,
    pub trusted_publishing: Option<String>,
    pub oidc_url: Option<String>,
    pub attest_command: Option<Vec<String>>,
}

impl IndexOverride {
    /// Sets what this package sets in place of the repository's setting.
    pub fn apply(&self, index: &mut super::Index) {
        if let Some(url) = &self.upload_url {
            index.upload_url = url.clone();
        }
        if let Some(url) = &self.index_url {
            index.index_url = url.clone();
        }
        if let Some(username) = &self.username {
            index.username = username.clone();
        }
        if let Some(token_env) = &self.token_env {
            index.token_env = token_env.clone();
        }
        if let Some(word) = self.trusted_publishing.as_deref() {
            // Checked when read (`check_override`).
            if let Some(choice) = super::TrustedPublishing::parse(word) {
                index.trusted_publishing = choice;
            }
        }
        if let Some(url) = &self.oidc_url {
            index.oidc_url = Some(url.clone()).filter(|u| !u.is_empty());
        }
        if let Some(command) = &self.attest_command {
            index.attest_command = Some(command.clone());
        }
    }
}

/// One package of the repository, as the configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The PEP 503 normalized distribution name (`acme-core`).
    pub name: String,
    /// The folder, relative to the repository root, `/`-separated; `""` is the root.
    pub folder: String,
    pub manifest: String,
    pub version_files: Vec<String>,
    pub changelog: String,
    pub tags: PackageTags,
    /// Paths outside the folder whose changes release the package too (`release --changed`).
    pub paths: Vec<String>,
    /// `None`: the repository's `verify.smoke`.
    pub smoke: Option<Vec<String>>,
    pub staging: IndexOverride,
    pub production: IndexOverride,
}

impl Member {
    /// `folder/file`, or `file` for the root package.
    pub fn in_folder(&self, file: &str) -> String {
        join(&self.folder, file)
    }
}

fn join(folder: &str, file: &str) -> String {
    match folder {
        "" => file.to_string(),
        folder => format!("{folder}/{file}"),
    }
}

/// Reads `[[packages]]`, with the production suffix of `[git]`; `at` names a place of the
/// file for messages (`release.toml:12`). Every problem is returned, each naming its entry.
pub fn read(
    item: &toml_edit::Item,
    at: &dyn Fn(Option<std::ops::Range<usize>>) -> String,
    prod_suffix: &str,
    root: Option<&Path>,
) -> Result<Vec<Member>, Vec<String>> {
    let origin = at(item.span());
    let Some(entries) = item.as_array_of_tables() else {
        return Err(vec![format!(
            "{origin}: `packages` must be a list of tables, each written `[[packages]]` with \
             `name` and `folder`"
        )]);
    };
    let mut members = Vec::new();
    let mut problems = Vec::new();
    for (number, entry) in entries.iter().enumerate() {
        let label = format!("{}: `[[packages]]` entry {}", at(entry.span()), number + 1);
        let doc = toml_edit::DocumentMut::from(entry.clone());
        let written = match toml_edit::de::from_document::<Written>(doc) {
            Ok(written) => written,
            Err(e) => {
                problems.push(format!("{label}: {}", e.message().trim_end()));
                continue;
            }
        };
        match member(written, prod_suffix, root) {
            Ok(member) => members.push(member),
            Err(found) => problems.extend(found.into_iter().map(|p| format!("{label}: {p}"))),
        }
    }
    let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        problems.push(format!(
            "{origin}: `[[packages]]` names `{}` twice: each package once",
            twice[0]
        ));
    }
    problems.extend(
        shared_files(&members)
            .into_iter()
            .map(|p| format!("{origin}: {p}")),
    );
    let schemes: Vec<PackageTags> = members.iter().map(|m| m.tags.clone()).collect();
    if problems.is_empty() {
        if let Err(e) = package_tags::check_distinct(&schemes) {
            problems.push(format!("{origin}: `[[packages]]` tags: {e:#}"));
        }
    }
    match problems.is_empty() {
        true => Ok(members),
        false => Err(problems),
    }
}

fn member(written: Written, prod_suffix: &str, root: Option<&Path>) -> Result<Member, Vec<String>> {
    let mut problems = Vec::new();
    let name = dist::normalize_name(&written.name);
    let folder = written
        .folder
        .trim_start_matches("./")
        .trim_end_matches('/');
    let folder = if folder == "." { "" } else { folder }.to_string();
    if folder.split('/').any(|part| part == "..")
        || folder.starts_with('/')
        || folder.contains('\\')
    {
        problems.push(format!(
            "`folder = \"{}\"` is not a folder inside the repository: write it relative to the \
             root, `/`-separated, without `..`",
            written.folder.escape_debug()
        ));
    } else if let Some(why) = root.and_then(|root| folder_problem(root, &folder)) {
        problems.push(format!(
            "`folder = \"{}\"` {why}",
            written.folder.escape_debug()
        ));
    }
    let template = written.tag.as_deref().unwrap_or(DEFAULT_TEMPLATE);
    let tags = PackageTags::new(&name, template, prod_suffix);
    if let Err(e) = &tags {
        problems.push(format!("`tag`: {e:#}"));
    }
    if let Err(e) = check_paths(&name, &written.paths) {
        problems.push(format!("`paths`: {e:#}"));
    }
    for (role, over) in [
        ("staging", &written.staging),
        ("production", &written.production),
    ] {
        problems.extend(check_override(role, over.as_ref()));
    }
    if written.smoke.iter().flatten().any(|c| c.trim().is_empty()) {
        problems.push("`smoke` holds an empty command".to_string());
    }
    let manifest = written
        .manifest
        .unwrap_or_else(|| join(&folder, super::PYPROJECT));
    let changelog = written
        .changelog
        .unwrap_or_else(|| join(&folder, "CHANGELOG.md"));
    if let Some(root) = root {
        let files = [
            (&manifest, "manifest", true),
            (&changelog, "changelog", false),
        ];
        let versions = written
            .version_files
            .iter()
            .map(|f| (f, "version-files", true));
        for (path, key, needed) in files.into_iter().chain(versions) {
            match (super::file_inside(root, path), needed) {
                (Ok(super::Presence::File), _) | (Ok(super::Presence::Absent), false) => {}
                (Ok(super::Presence::Absent), true) => problems.push(format!(
                    "`{key}` names `{}`, which is not a file in `{}`",
                    path.escape_debug(),
                    root.display()
                )),
                (Err(why), _) => problems.push(format!(
                    "`{key}` names `{}`, which {why}",
                    path.escape_debug()
                )),
            }
        }
    }
    match (problems.is_empty(), tags) {
        (true, Ok(tags)) => Ok(Member {
            name,
            folder,
            manifest,
            version_files: written.version_files,
            changelog,
            tags,
            paths: written.paths,
            smoke: written.smoke,
            staging: written.staging.unwrap_or_default(),
            production: written.production.unwrap_or_default(),
        }),
        _ => Err(problems),
    }
}

/// Each file two packages would both write (a changelog at the root, a shared version file):
/// a release of both would keep one package's edit only, so each package names its own.
fn shared_files(members: &[Member]) -> Vec<String> {
    let mut writers: Vec<(&str, Vec<&str>)> = Vec::new();
    for member in members {
        let files = std::iter::once(&member.changelog).chain(&member.version_files);
        for file in files.chain(std::iter::once(&member.manifest)) {
            match writers.iter_mut().find(|(f, _)| *f == file.as_str()) {
                Some((_, names)) if !names.contains(&member.name.as_str()) => {
                    names.push(&member.name)
                }
                Some(_) => {}
                None => writers.push((file, vec![&member.name])),
            }
        }
    }
    writers
        .into_iter()
        .filter(|(_, names)| names.len() > 1)
        .map(|(file, names)| {
            format!(
                "`{}` is named by {}: a release writes each package's version and changelog \
                 into its own files; give each package its own (`changelog`, `version-files`, \
                 `manifest`)",
                file.escape_debug(),
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        })
        .collect()
}

/// Why `folder` (relative, `/`-separated, no `..`) is not a folder of the repository at
/// `root`: a symbolic link on the way (a build there would run outside the repository), a
/// file, or nothing.
fn folder_problem(root: &Path, folder: &str) -> Option<String> {
    let mut at = root.to_path_buf();
    for part in folder.split('/').filter(|p| !p.is_empty()) {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Some(format!(
                    "goes through `{part}`, a symbolic link: name the folder by its real path \
                     inside the repository"
                ))
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Some("is not a folder".to_string()),
            Err(_) => return Some("is not a folder of the repository".to_string()),
        }
    }
    None
}

/// A package's own index settings read as the repository's are: URLs that parse (and whose
/// credentials are secrets from here on), a `trusted-publishing` word.
fn check_override(role: &str, over: Option<&IndexOverride>) -> Vec<String> {
    let Some(over) = over else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let urls = [
        ("upload-url", &over.upload_url),
        ("index-url", &over.index_url),
        ("oidc-url", &over.oidc_url),
    ];
    for (key, url) in urls {
        if let Some(url) = url {
            crate::resources::secrets::remember_url(url);
            if let Err(why) = super::check_url(url) {
                problems.push(format!("`{role}.{key}` {why}"));
            }
        }
    }
    if let Some(word) = &over.trusted_publishing {
        if super::TrustedPublishing::parse(word).is_none() {
            problems.push(format!(
                "`{role}.trusted-publishing` must be `auto`, `always` or `never`, not `{}`",
                word.escape_debug()
            ));
        }
    }
    problems
}

/// Checks declared paths: relative to the repository root, inside it.
pub fn check_paths(package: &str, paths: &[String]) -> Result<()> {
    let bad: Vec<&String> = paths
        .iter()
        .filter(|p| {
            p.is_empty()
                || p.starts_with('/')
                || p.split('/').any(|part| part == ".." || part == ".")
                || p.contains('\\')
        })
        .collect();
    if !bad.is_empty() {
        bail!(
            "the paths `{package}` declares must be files or folders relative to the repository \
             root, `/`-separated, without `.` or `..`: {}",
            bad.iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}
