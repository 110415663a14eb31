//! The repository's packages: which distributions live in it, in which folder, under which
//! manifest, and which distributions each depends on. A uv workspace's members are read by
//! uv's rules (`[tool.uv.workspace]`, https://docs.astral.sh/uv/concepts/projects/workspaces/);
//! without one, every folder below the root holding a `pyproject.toml` with a name is a
//! package (the rules are in `docs/monorepo.md`). This module only reads files: it knows
//! nothing of tags, versions of record or what a release does with the packages.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use toml_edit::{Document, Item};

use crate::resources::dist::normalize_name;

/// How the packages were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// `[tool.uv.workspace]` in the root's `pyproject.toml`: its members, and the root when it
    /// has a `[project]` table.
    UvWorkspace,
    /// Folders holding a `pyproject.toml` below the root (and the root itself).
    Folders,
}

/// One distribution of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The PEP 503 normalized distribution name (`acme-core` for `Acme_Core`).
    pub name: String,
    /// The name as the manifest writes it.
    pub declared_name: String,
    /// The package's folder relative to the repository root, `/`-separated; empty for the root.
    pub folder: String,
    /// The manifest, relative to the repository root (`packages/core/pyproject.toml`).
    pub manifest: String,
    /// The normalized names of the distributions it requires: `[project] dependencies` and
    /// every list of `[project.optional-dependencies]` (or a Poetry project's
    /// `[tool.poetry.dependencies]`), itself left out.
    pub dependencies: BTreeSet<String>,
    /// `dependencies` or `optional-dependencies` is listed in `[project] dynamic`: the backend
    /// decides them at build time, so `dependencies` may miss some.
    pub dynamic_dependencies: bool,
}

impl Package {
    /// The folder as a message shows it.
    pub fn shown_folder(&self) -> &str {
        if self.folder.is_empty() {
            "the repository root"
        } else {
            &self.folder
        }
    }
}

/// A `pyproject.toml` that was found and is not a package, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub manifest: String,
    pub reason: String,
}

/// The repository's packages, sorted by folder (the root first).
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub discovery: Discovery,
    pub packages: Vec<Package>,
    pub skipped: Vec<Skipped>,
}

impl Workspace {
    /// Reads the packages of the repository whose work tree is `root`. Every problem is
    /// collected and reported at once.
    pub fn read(root: &Path) -> Result<Workspace> {
        // Without a trailing `/` (`Repo::root` has one): the globs are spelled below it.
        let root: PathBuf = std::path::absolute(root)
            .with_context(|| format!("cannot resolve `{}`", root.display()))?
            .components()
            .collect();
        let real_root = root
            .canonicalize()
            .with_context(|| format!("cannot read `{}`", root.display()))?;
        let root_manifest = root.join("pyproject.toml");
        let root_text = match std::fs::read_to_string(&root_manifest) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).context(format!("cannot read `{}`", root_manifest.display())),
        };
        let root_doc = root_text
            .as_deref()
            .map(|text| parse(text, "pyproject.toml"))
            .transpose()?;
        let found = match root_doc.as_ref().and_then(uv_workspace) {
            Some(definition) => {
                let definition = definition?;
                let mut found = Found::new(Discovery::UvWorkspace, &root, &real_root);
                if root_doc.as_ref().is_some_and(has_project_table) {
                    found.add_manifest("", true);
                }
                found.uv_members(&definition)?;
                found
            }
            None => {
                let mut found = Found::new(Discovery::Folders, &root, &real_root);
                found.walk(&root, "")?;
                found
            }
        };
        found.finish()
    }

    pub fn package(&self, name: &str) -> Option<&Package> {
        let name = normalize_name(name);
        self.packages.iter().find(|p| p.name == name)
    }

    /// The package names, in folder order.
    pub fn names(&self) -> Vec<&str> {
        self.packages.iter().map(|p| p.name.as_str()).collect()
    }
}

/// `[tool.uv.workspace]`'s globs.
#[derive(Debug, Default)]
struct UvDefinition {
    members: Vec<String>,
    exclude: Vec<String>,
}

/// The workspace definition, if the root's manifest has one.
fn uv_workspace(doc: &Document<&str>) -> Option<Result<UvDefinition>> {
    let table = lookup(doc, &["tool", "uv", "workspace"])?;
    Some((|| {
        let strings = |key: &str| -> Result<Vec<String>> {
            match table.get(key) {
                None => Ok(Vec::new()),
                Some(item) => string_list(item)
                    .with_context(|| format!("`tool.uv.workspace.{key}` in `pyproject.toml`")),
            }
        };
        Ok(UvDefinition {
            members: strings("members")?,
            exclude: strings("exclude")?,
        })
    })())
}

/// What discovery has found so far.
struct Found {
    discovery: Discovery,
    root: PathBuf,
    real_root: PathBuf,
    packages: Vec<Package>,
    skipped: Vec<Skipped>,
    problems: Vec<String>,
    ignored: Option<git2::Repository>,
}

impl Found {
    fn new(discovery: Discovery, root: &Path, real_root: &Path) -> Found {
        Found {
            discovery,
            root: root.to_path_buf(),
            real_root: real_root.to_path_buf(),
            packages: Vec::new(),
            skipped: Vec::new(),
            problems: Vec::new(),
            ignored: git2::Repository::open(root).ok(),
        }
    }

    /// uv's member rules: each glob is expanded below the root as uv expands it (the `glob`
    /// crate); a match that is excluded, a file, a hidden folder or a folder holding only
    /// git-ignored files is passed over; any other folder without a `pyproject.toml` is an
    /// error, as it is to uv ("Workspace member … is missing a `pyproject.toml`").
    fn uv_members(&mut self, definition: &UvDefinition) -> Result<()> {
        let escaped_root = glob::Pattern::escape(&self.root.to_string_lossy());
        let excludes = definition
            .exclude
            .iter()
            .map(|g| {
                let pattern = format!("{escaped_root}/{}", g.trim_start_matches("./"));
                glob::Pattern::new(&pattern)
                    .with_context(|| format!("`{g}` in `tool.uv.workspace.exclude` is not a glob"))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut seen = BTreeSet::new();
        for member_glob in &definition.members {
            let pattern = format!("{escaped_root}/{}", member_glob.trim_start_matches("./"));
            let matches = glob::glob(&pattern).with_context(|| {
                format!("`{member_glob}` in `tool.uv.workspace.members` is not a glob")
            })?;
            for path in matches {
                let path = path.with_context(|| format!("cannot expand `{member_glob}`"))?;
                if excludes.iter().any(|e| e.matches_path(&path)) || !seen.insert(path.clone()) {
                    continue;
                }
                self.uv_member(&path, member_glob);
            }
        }
        Ok(())
    }

    fn uv_member(&mut self, path: &Path, member_glob: &str) {
        let Some(folder) = self.inside(path) else {
            return;
        };
        if !path.is_dir() {
            return;
        }
        if path.join("pyproject.toml").is_file() {
            self.add_manifest(&folder, true);
            return;
        }
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden && !self.only_ignored_files(path) {
            self.problems.push(format!(
                "workspace member `{folder}` (matched by `{member_glob}` in \
                 `tool.uv.workspace.members`) has no `pyproject.toml`, and uv refuses such a \
                 workspace: add one, or list the folder in `tool.uv.workspace.exclude`"
            ));
        }
    }

    /// The folder of `path` relative to the root, `/`-separated, when its real path is inside
    /// the repository; otherwise records the problem. A release builds from a clean clone, in
    /// which a symbolic link to a folder elsewhere leads nowhere.
    fn inside(&mut self, path: &Path) -> Option<String> {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        let folder = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        match path.canonicalize() {
            Ok(real) if real.starts_with(&self.real_root) => Some(folder),
            Ok(real) => {
                self.problems.push(format!(
                    "`{folder}` leads to `{}`, outside the repository (a symbolic link): a \
                     release builds from a clean clone, where that folder is not; move the \
                     package into the repository",
                    real.display()
                ));
                None
            }
            Err(e) => {
                self.problems
                    .push(format!("cannot read `{}`: {e}", path.display()));
                None
            }
        }
    }

    /// Whether every file below `dir` is ignored by git (uv passes over such a member: a
    /// leftover `__pycache__` after a package moved). Outside a git repository, never.
    fn only_ignored_files(&self, dir: &Path) -> bool {
        let Some(repo) = &self.ignored else {
            return false;
        };
        let mut files = Vec::new();
        collect_files(dir, &mut files);
        files.iter().all(|file| {
            file.strip_prefix(&self.root)
                .is_ok_and(|rel| repo.is_path_ignored(rel).unwrap_or(false))
        })
    }

    /// The plain-folder rule: every folder below `dir` holding a `pyproject.toml`, except
    /// folders no release can build from or that hold no released package (see `pruned`).
    fn walk(&mut self, dir: &Path, folder: &str) -> Result<()> {
        if dir.join("pyproject.toml").is_file() {
            match test_data(folder) {
                Some(tests) => self.skipped.push(Skipped {
                    manifest: join(folder, "pyproject.toml"),
                    reason: format!(
                        "test data: below a `{tests}` folder (declare it a uv workspace member \
                         to release it)"
                    ),
                }),
                None => self.add_manifest(folder, false),
            }
        }
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list `{}`", dir.display()))?
            .filter_map(|e| e.ok())
            .collect::<Vec<_>>();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let child = join(folder, &name);
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_symlink() {
                // A link is not followed (its target, when inside, is walked under its own
                // name); one to a package outside the repository is an error.
                if path.join("pyproject.toml").is_file() && !pruned(&path, &name) {
                    if let Some(folder) = self.inside(&path) {
                        self.skipped.push(Skipped {
                            manifest: join(&folder, "pyproject.toml"),
                            reason: "a symbolic link to a folder of the repository, read under \
                                     its own path"
                                .into(),
                        });
                    }
                }
                continue;
            }
            if kind.is_dir() && !pruned(&path, &name) && !self.is_ignored(&child) {
                self.walk(&path, &child)?;
            }
        }
        Ok(())
    }

    fn is_ignored(&self, folder: &str) -> bool {
        self.ignored
            .as_ref()
            .is_some_and(|repo| repo.is_path_ignored(folder).unwrap_or(false))
    }

    /// Reads `<folder>/pyproject.toml` into a package, or records why it is not one. A uv
    /// member must have a `[project]` table (uv: "No `project` table found").
    fn add_manifest(&mut self, folder: &str, uv_member: bool) {
        let manifest = join(folder, "pyproject.toml");
        let read = std::fs::read_to_string(self.root.join(&manifest))
            .with_context(|| format!("cannot read `{manifest}`"))
            .and_then(|text| read_package(&text, folder, &manifest));
        match read {
            Ok(Some(package)) => self.packages.push(package),
            Ok(None) if uv_member => self.problems.push(format!(
                "workspace member `{manifest}` has no `[project]` table with a `name`, and uv \
                 refuses such a member: add one, or list the folder in `tool.uv.workspace.exclude`"
            )),
            Ok(None) => self.skipped.push(Skipped {
                manifest,
                reason: "no distribution name (`[project] name` or `[tool.poetry] name`)".into(),
            }),
            Err(e) => self.problems.push(format!("{e:#}")),
        }
    }

    fn finish(mut self) -> Result<Workspace> {
        let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for package in &self.packages {
            by_name
                .entry(&package.name)
                .or_default()
                .push(&package.manifest);
        }
        for (name, manifests) in by_name.iter().filter(|(_, m)| m.len() > 1) {
            self.problems.push(format!(
                "two packages are named `{name}` (PEP 503 normalized): {}; a distribution name \
                 is one project on an index, so rename one",
                manifests
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
        if !self.problems.is_empty() {
            bail!(
                "cannot read the packages of `{}`:\n  - {}",
                self.root.display(),
                self.problems.join("\n  - ")
            );
        }
        self.packages.sort_by(|a, b| a.folder.cmp(&b.folder));
        Ok(Workspace {
            root: self.root,
            discovery: self.discovery,
            packages: self.packages,
            skipped: self.skipped,
        })
    }
}

/// Folders the plain-folder walk never enters: hidden ones (`.git`, `.venv`, `.tox`), build
/// and tool output (`target`, `node_modules`, `__pycache__`), and virtual environments of any
/// name (a folder holding `pyvenv.cfg`, https://docs.python.org/3/library/venv.html).
fn pruned(path: &Path, name: &str) -> bool {
    name.starts_with('.')
        || matches!(name, "target" | "node_modules" | "__pycache__")
        || path.join("pyvenv.cfg").is_file()
}

/// The folder below which `folder` is test data: a `tests` or `test` folder (where pytest's
/// and unittest's conventions keep a project's tests, and so the projects its tests build, as
/// this repository's own `tests/fixtures/*` are), one named for tests in the plural
/// (`tests_core`, `integration-tests`: flit keeps `flit_core/tests_core/samples/*/pyproject.toml`,
/// https://github.com/pypa/flit/tree/main/flit_core/tests_core), `testdata`, or a `fixtures`
/// folder anywhere. `testing` or `test-utils` may well be packages: they are read as such.
fn test_data(folder: &str) -> Option<&str> {
    folder.split('/').find(|part| {
        let part = part.to_ascii_lowercase();
        matches!(part.as_str(), "tests" | "test" | "testdata" | "fixtures")
            || ["tests_", "tests-"].iter().any(|p| part.starts_with(p))
            || ["_tests", "-tests"].iter().any(|p| part.ends_with(p))
    })
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => collect_files(&path, files),
            Ok(_) => files.push(path),
            Err(_) => {}
        }
    }
}

fn join(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_string()
    } else {
        format!("{folder}/{name}")
    }
}

fn parse<'a>(text: &'a str, origin: &str) -> Result<Document<&'a str>> {
    Document::parse(text)
        .map_err(|e| anyhow::anyhow!("{}", crate::config::toml_error(text, origin, &e)))
}

fn lookup<'d>(doc: &'d Document<&str>, key: &[&str]) -> Option<&'d dyn toml_edit::TableLike> {
    let mut item = doc.as_item();
    for part in key {
        item = item.as_table_like()?.get(part)?;
    }
    item.as_table_like()
}

fn has_project_table(doc: &Document<&str>) -> bool {
    lookup(doc, &["project"]).is_some()
}

fn string_list(item: &Item) -> Result<Vec<String>> {
    let Some(array) = item.as_array() else {
        bail!("is not a list of strings");
    };
    array
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .context("is not a list of strings")
        })
        .collect()
}

/// The package a manifest declares, `None` when it declares no distribution name.
fn read_package(text: &str, folder: &str, manifest: &str) -> Result<Option<Package>> {
    let doc = parse(text, manifest)?;
    let project = lookup(&doc, &["project"]);
    let poetry = lookup(&doc, &["tool", "poetry"]);
    let declared = project
        .and_then(|p| p.get("name"))
        .or_else(|| poetry.and_then(|p| p.get("name")));
    let Some(declared) = declared else {
        return Ok(None);
    };
    let Some(declared) = declared.as_str() else {
        bail!("`name` in `{manifest}` is not a string");
    };
    if !valid_name(declared) {
        bail!(
            "`{declared}` in `{manifest}` is not a valid distribution name: letters, digits, \
             `-`, `_` and `.`, starting and ending with a letter or digit \
             (https://packaging.python.org/en/latest/specifications/name-normalization/)"
        );
    }
    let name = normalize_name(declared);
    let (mut dependencies, dynamic) = match project {
        Some(project) => pep621_dependencies(project, manifest)?,
        None => (poetry_dependencies(poetry), false),
    };
    dependencies.remove(&name);
    Ok(Some(Package {
        name,
        declared_name: declared.to_string(),
        folder: folder.to_string(),
        manifest: manifest.to_string(),
        dependencies,
        dynamic_dependencies: dynamic,
    }))
}

/// The normalized names `[project] dependencies` and `[project.optional-dependencies]`
/// require, and whether either is `dynamic`.
fn pep621_dependencies(
    project: &dyn toml_edit::TableLike,
    manifest: &str,
) -> Result<(BTreeSet<String>, bool)> {
    let dynamic = project
        .get("dynamic")
        .and_then(|d| string_list(d).ok())
        .is_some_and(|d| {
            d.iter()
                .any(|k| k == "dependencies" || k == "optional-dependencies")
        });
    let mut requirements = Vec::new();
    if let Some(item) = project.get("dependencies") {
        requirements.extend(
            string_list(item).with_context(|| format!("`project.dependencies` in `{manifest}`"))?,
        );
    }
    if let Some(extras) = project
        .get("optional-dependencies")
        .and_then(Item::as_table_like)
    {
        for (extra, item) in extras.iter() {
            requirements.extend(string_list(item).with_context(|| {
                format!("`project.optional-dependencies.{extra}` in `{manifest}`")
            })?);
        }
    }
    let mut dependencies = BTreeSet::new();
    for requirement in &requirements {
        let required = requirement_name(requirement).with_context(|| {
            format!("`{requirement}` in `{manifest}` is not a PEP 508 requirement")
        })?;
        dependencies.insert(normalize_name(required));
    }
    Ok((dependencies, dynamic))
}

/// A Poetry project's own table: each key a distribution name, `python` the interpreter
/// (https://python-poetry.org/docs/pyproject/#dependencies-and-dependency-groups).
fn poetry_dependencies(poetry: Option<&dyn toml_edit::TableLike>) -> BTreeSet<String> {
    poetry
        .and_then(|p| p.get("dependencies"))
        .and_then(Item::as_table_like)
        .map(|table| {
            table
                .iter()
                .map(|(key, _)| normalize_name(key))
                .filter(|key| key != "python")
                .collect()
        })
        .unwrap_or_default()
}

/// A valid distribution name: ASCII letters and digits, with `-`, `_`, `.` inside
/// (https://packaging.python.org/en/latest/specifications/name-normalization/).
fn valid_name(name: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    alnum(name.chars().next())
        && alnum(name.chars().last())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The distribution name a PEP 508 requirement starts with
/// (https://packaging.python.org/en/latest/specifications/dependency-specifiers/#names):
/// optional whitespace, then the name, then the end, whitespace, extras (`[`), a version
/// (`(`, `<`, `>`, `=`, `!`, `~`), a marker (`;`) or a URL (`@`). Whatever follows the name
/// (extras, versions, markers) names no other distribution.
pub fn requirement_name(requirement: &str) -> Option<&str> {
    let text = requirement.trim_start();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(text.len());
    let (name, rest) = text.split_at(end);
    let follows_name = rest.chars().next().is_none_or(|c| {
        c.is_whitespace() || matches!(c, '[' | '(' | '<' | '>' | '=' | '!' | '~' | ';' | '@')
    });
    (valid_name(name) && follows_name).then_some(name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn project(name: &str, dependencies: &str) -> String {
        format!(
            "[project]\nname = \"{name}\"\nversion = \"1.0.0\"\ndependencies = [{dependencies}]\n"
        )
    }

    /// The repository's `tests/fixtures/<name>`, copied with `@name@` and `@module@` filled in.
    pub(crate) fn fixture(name: &str, to: &Path, project: &str) {
        fn walk(from: &Path, to: &Path, project: &str) {
            for entry in std::fs::read_dir(from).unwrap().flatten() {
                let fill = |s: &str| {
                    s.replace("@name@", project)
                        .replace("@module@", &project.replace('-', "_"))
                };
                let target = to.join(fill(&entry.file_name().to_string_lossy()));
                if entry.path().is_dir() {
                    std::fs::create_dir_all(&target).unwrap();
                    walk(&entry.path(), &target, project);
                } else {
                    let text = std::fs::read_to_string(entry.path()).unwrap();
                    std::fs::write(target, fill(&text)).unwrap();
                }
            }
        }
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(name);
        walk(&from, to, project);
    }

    fn git_init(dir: &Path) {
        let status = std::process::Command::new("git")
            .args(["init", "--quiet"])
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn the_uv_workspace_fixture_has_three_members_and_one_in_repository_dependency() {
        let dir = tempfile::tempdir().unwrap();
        fixture("uv-workspace", dir.path(), "acme");
        let ws = Workspace::read(dir.path()).unwrap();
        assert_eq!(ws.discovery, Discovery::UvWorkspace);
        assert_eq!(ws.names(), ["acme-cli", "acme-core", "acme-extras"]);
        let cli = ws.package("Acme_CLI").unwrap();
        assert_eq!(cli.folder, "packages/cli");
        assert_eq!(cli.manifest, "packages/cli/pyproject.toml");
        assert_eq!(cli.dependencies, BTreeSet::from(["acme-core".to_string()]));
        assert!(ws.package("acme-core").unwrap().dependencies.is_empty());
        // `packages/drafts` has no pyproject.toml and is excluded, so it is no error.
        assert!(ws.skipped.is_empty());
        // The root as `Repo::root` spells it, with a trailing `/`: the same reading.
        let slashed = PathBuf::from(format!("{}/", dir.path().display()));
        assert_eq!(Workspace::read(&slashed).unwrap().names(), ws.names());
    }

    #[test]
    fn an_unexcluded_member_folder_without_a_manifest_is_refused_as_uv_refuses_it() {
        let dir = tempfile::tempdir().unwrap();
        fixture("uv-workspace", dir.path(), "acme");
        write(
            dir.path(),
            "pyproject.toml",
            "[tool.uv.workspace]\nmembers = [\"packages/*\"]\n",
        );
        let err = format!("{:#}", Workspace::read(dir.path()).unwrap_err());
        assert!(err.contains("`packages/drafts`"), "{err}");
        assert!(
            err.contains("has no `pyproject.toml`, and uv refuses"),
            "{err}"
        );
    }

    #[test]
    fn a_root_with_a_project_is_a_member_and_globs_follow_uv() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "pyproject.toml",
            &format!(
                "{}\n[tool.uv.workspace]\nmembers = [\"./libs/**/py\", \"tools/[ab]*\"]\nexclude = [\"tools/b*\"]\n",
                project("Albatross", "\"bird.feeder[seeds] >=1 ; python_version >= '3.9'\", \"tqdm>=4,<5\"")
            ),
        );
        write(
            root,
            "libs/bird/feeder/py/pyproject.toml",
            &project("Bird.Feeder", "\"albatross\""),
        );
        write(root, "tools/alpha/pyproject.toml", &project("alpha", ""));
        write(root, "tools/beta/README", "excluded, no manifest needed");
        // A hidden folder without a manifest is passed over, as uv does.
        std::fs::create_dir_all(root.join("tools/.cache")).unwrap();
        // A folder the globs do not match is not a member, whatever it holds.
        write(root, "other/pyproject.toml", &project("other", ""));
        let ws = Workspace::read(root).unwrap();
        assert_eq!(ws.names(), ["albatross", "bird-feeder", "alpha"]);
        let albatross = ws.package("albatross").unwrap();
        assert_eq!(albatross.folder, "");
        assert_eq!(albatross.shown_folder(), "the repository root");
        assert_eq!(
            albatross.dependencies,
            BTreeSet::from(["bird-feeder".to_string(), "tqdm".to_string()])
        );
        assert_eq!(
            ws.package("bird-feeder").unwrap().folder,
            "libs/bird/feeder/py"
        );
    }

    #[test]
    fn a_member_holding_only_ignored_files_is_passed_over_as_uv_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git_init(root);
        write(root, ".gitignore", "__pycache__/\n");
        write(
            root,
            "pyproject.toml",
            "[tool.uv.workspace]\nmembers = [\"packages/*\"]\n",
        );
        write(root, "packages/a/pyproject.toml", &project("a", ""));
        write(root, "packages/moved/__pycache__/x.pyc", "");
        assert_eq!(Workspace::read(root).unwrap().names(), ["a"]);
        write(root, "packages/moved/notes.txt", "not ignored");
        assert!(Workspace::read(root).is_err());
    }

    #[test]
    fn plain_folders_are_packages_and_tools_venvs_and_test_data_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git_init(root);
        write(root, ".gitignore", "/build-output/\n");
        write(
            root,
            "core/pyproject.toml",
            &project("acme-core", "\"requests\""),
        );
        write(
            root,
            "app/pyproject.toml",
            &format!(
                "{}\n[project.optional-dependencies]\nfast = [\"Acme_Core[speed]\"]\nall = [\"acme-app[fast]\"]\n",
                project("acme-app", "")
            ),
        );
        write(root, "legacy/pyproject.toml", "[tool.poetry]\nname = \"acme-legacy\"\n[tool.poetry.dependencies]\npython = \">=3.9\"\nacme-core = \"^1\"\n");
        write(
            root,
            "docs/pyproject.toml",
            "[tool.ruff]\nline-length = 99\n",
        );
        write(
            root,
            "core/tests/fixtures/sample/pyproject.toml",
            &project("acme-core", ""),
        );
        write(root, "node_modules/x/pyproject.toml", &project("x", ""));
        write(root, "target/x/pyproject.toml", &project("x", ""));
        write(root, ".tox/py/pyproject.toml", &project("x", ""));
        write(root, "env/pyvenv.cfg", "home = /usr/bin\n");
        write(root, "env/lib/site/pyproject.toml", &project("x", ""));
        write(root, "build-output/pyproject.toml", &project("x", ""));
        let ws = Workspace::read(root).unwrap();
        assert_eq!(ws.discovery, Discovery::Folders);
        assert_eq!(ws.names(), ["acme-app", "acme-core", "acme-legacy"]);
        assert_eq!(
            ws.package("acme-app").unwrap().dependencies,
            BTreeSet::from(["acme-core".to_string()])
        );
        assert_eq!(
            ws.package("acme-legacy").unwrap().dependencies,
            BTreeSet::from(["acme-core".to_string()])
        );
        let skipped: Vec<_> = ws.skipped.iter().map(|s| s.manifest.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "core/tests/fixtures/sample/pyproject.toml",
                "docs/pyproject.toml"
            ]
        );
        assert!(ws.skipped[0]
            .reason
            .starts_with("test data: below a `tests` folder"));
    }

    #[test]
    fn folders_named_for_tests_hold_test_data() {
        for folder in [
            "tests/samples/a",
            "flit_core/tests_core/samples/pep621",
            "Test/x",
            "integration-tests/app",
            "unit_tests/app",
            "pkg/testdata/p",
            "core/fixtures/x",
        ] {
            assert!(test_data(folder).is_some(), "{folder}");
        }
        for folder in [
            "packages/core",
            "contest/x",
            "attestations",
            "latest/x",
            "testimony/x",
        ] {
            assert_eq!(test_data(folder), None, "{folder}");
        }
    }

    #[test]
    fn this_repository_has_one_package_beside_its_test_fixtures() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let ws = Workspace::read(&root).unwrap();
        assert_eq!(ws.names(), ["twostage-sample"]);
        assert_eq!(ws.packages[0].folder, "examples/sample");
        assert!(ws.skipped.len() > 10);
        assert!(ws
            .skipped
            .iter()
            .all(|s| s.manifest.starts_with("tests/fixtures/")));
    }

    #[test]
    fn two_packages_of_one_normalized_name_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/pyproject.toml", &project("Acme.Core", ""));
        write(dir.path(), "b/pyproject.toml", &project("acme_core", ""));
        let err = format!("{:#}", Workspace::read(dir.path()).unwrap_err());
        assert!(
            err.contains("two packages are named `acme-core` (PEP 503 normalized): `a/pyproject.toml` and `b/pyproject.toml`"),
            "{err}"
        );
    }

    #[test]
    fn a_symlinked_folder_leading_outside_the_repository_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        write(
            outside.path(),
            "pkg/pyproject.toml",
            &project("elsewhere", ""),
        );
        for manifest in [
            "[tool.uv.workspace]\nmembers = [\"packages/*\"]\n",
            "[tool.ruff]\n",
        ] {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "pyproject.toml", manifest);
            write(dir.path(), "packages/a/pyproject.toml", &project("a", ""));
            std::os::unix::fs::symlink(outside.path().join("pkg"), dir.path().join("packages/b"))
                .unwrap();
            let err = format!("{:#}", Workspace::read(dir.path()).unwrap_err());
            assert!(err.contains("`packages/b` leads to"), "{err}");
            assert!(err.contains("outside the repository"), "{err}");
        }
    }

    #[test]
    fn requirement_names_follow_pep_508() {
        for (requirement, name) in [
            ("requests", Some("requests")),
            ("  Zope.Interface >= 5", Some("Zope.Interface")),
            (
                "name[quux, strange];python_version<'2.7' and platform_version=='2'",
                Some("name"),
            ),
            (
                "pip @ https://github.com/pypa/pip/archive/1.3.1.zip",
                Some("pip"),
            ),
            ("A(>=1.0)", Some("A")),
            ("foo~=1.0", Some("foo")),
            ("-foo", None),
            ("foo-", None),
            ("foo/bar", None),
            ("", None),
        ] {
            assert_eq!(requirement_name(requirement), name, "{requirement}");
        }
    }

    #[test]
    fn a_bad_requirement_or_name_says_which_manifest() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/pyproject.toml", &project("a", "\"foo/bar\""));
        write(dir.path(), "b/pyproject.toml", &project("-b", ""));
        let err = format!("{:#}", Workspace::read(dir.path()).unwrap_err());
        assert!(
            err.contains("`foo/bar` in `a/pyproject.toml` is not a PEP 508 requirement"),
            "{err}"
        );
        assert!(
            err.contains("`-b` in `b/pyproject.toml` is not a valid distribution name"),
            "{err}"
        );
    }
}
