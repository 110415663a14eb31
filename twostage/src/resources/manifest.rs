//! Where a project keeps its version, and format-preserving edits of it.
//!
//! The version of record is, in order: a static `[project].version` (or `[tool.poetry].version`)
//! in the manifest; for a dynamic version, the first of `version-files` (what flit's module,
//! hatch's version `path` and setuptools' `attr:` read, or a `setup.py`); with neither, the tag
//! itself (setuptools-scm, hatch-vcs, pdm-scm). Edits replace the bytes of the version and
//! nothing else: TOML values are located by their span (`toml_edit`), so comments, spacing,
//! quoting, key order and line endings stay as they were. The one write is `write_inside`: a
//! regular file of the repository, never through a symbolic link.

use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use pep440_rs::Version;

use crate::version;

/// Where the current version is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRecord {
    /// A static version in the manifest at this key path (`project.version`, `tool.poetry.version`).
    Manifest {
        path: String,
        key: &'static [&'static str],
    },
    /// A dynamic version read from this file.
    File { path: String },
    /// No file holds the version: the build derives it from the tag.
    Vcs,
}

impl VersionRecord {
    pub fn describe(&self) -> String {
        match self {
            VersionRecord::Manifest { path, key } => format!("`{}` in `{path}`", key.join(".")),
            VersionRecord::File { path } => format!("`{path}`"),
            VersionRecord::Vcs => {
                "the release tags (the build derives the version from git)".into()
            }
        }
    }
}

/// What is known about the project before a release: its name, its version of record and the
/// files a release bumps.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: Option<String>,
    pub record: VersionRecord,
    /// `None` for a VCS-versioned project: the caller finds it among the tags.
    pub current: Option<Version>,
    /// Every file whose version a release rewrites, the record first.
    pub files: Vec<String>,
    /// The build backend, the tool that versions the project from its tags, maturin's module.
    pub build: crate::resources::project::Build,
    /// The tag prefix of the release tags: configured, else the existing tags' (settled when
    /// the configuration is loaded, `project::settled_prefix`).
    pub tag_prefix: String,
    /// The import names the source layout offers (`project::importable`); a built wheel
    /// names them exactly (`project::wheel_top_level`).
    pub layout_names: Vec<String>,
    /// The import name the sources show (`project::import_name`), when they show one.
    pub import_name: Option<String>,
}

/// One file's edit, computed in memory.
#[derive(Debug, Clone)]
pub struct FileEdit {
    pub path: String,
    pub old: String,
    pub new: String,
}

const PROJECT_VERSION: &[&str] = &["project", "version"];
const POETRY_VERSION: &[&str] = &["tool", "poetry", "version"];

fn read(root: &Path, path: &str) -> Result<Option<String>> {
    match std::fs::read(root.join(path)) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| anyhow::anyhow!("`{path}` is not UTF-8 text")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read `{path}`")),
    }
}

/// Writes `bytes` to `path`, which must be a regular file inside the repository at `root`
/// (`config::file_inside`: no absolute path, no `..`, no symbolic link on the way), opened
/// without following a link at the end (`O_NOFOLLOW`): a release edits the repository's own
/// files and nothing they point at.
pub fn write_inside(root: &Path, path: &str, bytes: &[u8]) -> Result<()> {
    match crate::config::file_inside(root, path) {
        Ok(crate::config::Presence::File) => {}
        Ok(crate::config::Presence::Absent) => bail!("cannot write `{path}`: it is not there"),
        Err(why) => bail!("refusing to write `{path}`, which {why}"),
    }
    write_whole(&root.join(path), bytes).with_context(|| format!("cannot write `{path}`"))
}

/// Where `write_inside` writes `path` before renaming it: a kill in between leaves it behind.
pub fn half_written(path: &Path) -> std::path::PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.twostage-new"))
}

/// Writes `bytes` to a new file beside `path` and renames it over `path`, keeping its mode: a
/// kill leaves the old bytes or the new ones, never half of them, so a rerun can tell which.
/// The rename replaces the directory entry itself, so it never writes through a link (the
/// caller has checked that `path` is a regular file inside the repository).
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let new = half_written(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&new)?;
    file.write_all(bytes)?;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        file.set_permissions(meta.permissions())?;
    }
    file.sync_all()?;
    std::fs::rename(&new, path)
}

fn parse_toml<'a>(path: &str, text: &'a str) -> Result<toml_edit::Document<&'a str>> {
    toml_edit::Document::parse(text)
        .map_err(|e| anyhow::anyhow!("{}", crate::config::toml_error(text, path, &e)))
}

fn lookup<'d>(doc: &'d toml_edit::Document<&str>, key: &[&str]) -> Option<&'d toml_edit::Item> {
    let mut item = doc.as_item();
    for part in key {
        item = item.as_table_like()?.get(part)?;
    }
    Some(item)
}

impl Project {
    /// The one reading of the project every step shares (`release`, the hooks, `stage`,
    /// `verify`, `promote`, `status` through `resolved`): the configured name, else the
    /// manifest's, else `setup.py`'s or `setup.cfg`'s; the version of record; the files a
    /// release bumps; the build backend and VCS versioning tool; the tag prefix; the import
    /// names of the source layout. `init` reads the same parts (`project`) before any
    /// configuration exists.
    pub fn read(root: &Path, config: &crate::config::Config) -> Result<Project> {
        let mut project = locate(
            root,
            &config.package.manifest,
            &config.package.version_files,
            config.package.name.as_deref(),
        )?;
        use crate::resources::project as reading;
        // One package of several is built in its folder (`package.folder`, empty for the
        // root), so its backend and import names are read there; its tags are its own.
        let folder = root.join(&config.package.folder);
        project.build = reading::Build::read(&folder)?;
        project.tag_prefix = config.git.tag_scheme().prefix;
        project.layout_names = reading::importable(&folder);
        let found = reading::import_name(&folder, project.name.as_deref(), &project.build);
        project.import_name = found.name.filter(|_| found.importable);
        Ok(project)
    }
}

/// The distribution name a setuptools project without metadata in `pyproject.toml` declares:
/// the `name="…"` literal given to `setup()` in `setup.py`, else `[metadata] name` in
/// `setup.cfg` (https://setuptools.pypa.io/en/latest/userguide/declarative_config.html).
/// A name computed at run time is not a literal, so `None`.
pub fn setup_name(setup_py: Option<&str>, setup_cfg: Option<&str>) -> Option<String> {
    setup_py
        .and_then(|t| keyword_literal(t, "name"))
        .or_else(|| setup_cfg.and_then(|t| cfg_value(t, "metadata", "name")))
        .filter(|n| !n.is_empty())
}

/// Reads the project: name, version of record and the files to bump.
pub fn locate(
    root: &Path,
    manifest: &str,
    version_files: &[String],
    name: Option<&str>,
) -> Result<Project> {
    let mut project = Project {
        name: name.map(str::to_string),
        record: VersionRecord::Vcs,
        current: None,
        files: Vec::new(),
        build: Default::default(),
        tag_prefix: "v".into(),
        layout_names: Vec::new(),
        import_name: None,
    };
    if let Some(text) = read(root, manifest)?.filter(|_| manifest.ends_with(".toml")) {
        read_manifest(manifest, &text, &mut project)?;
    }
    if project.name.is_none() {
        project.name = setup_name(
            read(root, "setup.py")?.as_deref(),
            read(root, "setup.cfg")?.as_deref(),
        );
    }
    if project.current.is_none() {
        if let Some(first) = version_files.first() {
            project.current = Some(read_version_file(root, first)?);
            project.record = VersionRecord::File {
                path: first.clone(),
            };
        }
    }
    for file in version_files {
        if !project.files.contains(file) {
            project.files.push(file.clone());
        }
    }
    Ok(project)
}

/// The name and a static version from a TOML manifest (`[project]` or `[tool.poetry]`).
fn read_manifest(manifest: &str, text: &str, project: &mut Project) -> Result<()> {
    let doc = parse_toml(manifest, text)?;
    if project.name.is_none() {
        project.name = [&["project", "name"][..], &["tool", "poetry", "name"]]
            .iter()
            .find_map(|key| lookup(&doc, key)?.as_str().map(str::to_string));
    }
    let has_project = lookup(&doc, &["project"]).is_some();
    let dynamic = lookup(&doc, &["project", "dynamic"])
        .and_then(|d| d.as_array())
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("version")));
    for key in [PROJECT_VERSION, POETRY_VERSION] {
        let Some(item) = lookup(&doc, key) else {
            continue;
        };
        let text = item
            .as_str()
            .with_context(|| format!("`{}` in `{manifest}` must be a string", key.join(".")))?;
        if key == PROJECT_VERSION && dynamic {
            bail!(
                "`{manifest}` has both `project.version` and `dynamic = [\"version\"]`: keep one"
            );
        }
        project.current = Some(parse_current(text, manifest)?);
        project.record = VersionRecord::Manifest {
            path: manifest.to_string(),
            key,
        };
        project.files.push(manifest.to_string());
        return Ok(());
    }
    if has_project && !dynamic {
        bail!(
            "`{manifest}` has a `[project]` table with neither `version` nor \
             `dynamic = [\"version\"]`: add one of them"
        );
    }
    Ok(())
}

/// The version in `path`, the first of `package.version-files`: a `Cargo.toml`, a
/// `setup.cfg`, a `setup.py` or a module with `__version__ = "…"`.
fn read_version_file(root: &Path, path: &str) -> Result<Version> {
    let text = read(root, path)?.with_context(|| {
        format!("`{path}`, the first of `package.version-files`, does not exist")
    })?;
    let found = if path.ends_with("Cargo.toml") {
        cargo_version(path, &text)?.map(|(_, v)| v)
    } else if path.ends_with(".cfg") {
        cfg_value(&text, "metadata", "version")
    } else if path.ends_with("setup.py") {
        keyword_literal(&text, "version").or_else(|| assigned_version(&text))
    } else {
        assigned_version(&text)
    };
    let found = found.with_context(|| {
        format!(
            "found no version in `{path}`, the version of record: expected a line such as \
             `__version__ = \"1.2.3\"` or `version=\"1.2.3\"`"
        )
    })?;
    parse_current(&found, path)
}

fn parse_current(text: &str, path: &str) -> Result<Version> {
    Version::from_str(text.trim()).map_err(|e| {
        anyhow::anyhow!("the version `{text}` in `{path}` is not a PEP 440 version: {e}")
    })
}

/// The value of the first `__version__ = "…"` (or else `version = "…"`) assignment.
fn assigned_version(text: &str) -> Option<String> {
    let assignment = |line: &str, name: &str| -> Option<String> {
        let rest = line.trim_start().strip_prefix(name)?;
        let rest = rest.trim_start();
        // `__version__: str = "1.0"` and `__version__ = "1.0"` alike.
        let rest = match rest.strip_prefix(':') {
            Some(annotated) => annotated.split_once('=')?.1,
            None => rest.strip_prefix('=')?,
        };
        let rest = rest.trim_start();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let value = &rest[1..];
        Some(value[..value.find(quote)?].to_string())
    };
    for name in ["__version__", "version", "VERSION"] {
        if let Some(found) = text.lines().find_map(|line| assignment(line, name)) {
            return Some(found);
        }
    }
    None
}

/// The string literal given to the keyword `name` anywhere in a Python file:
/// `setup(name="x", version="1.2.3")` and `version = '1.2.3',` on a line of its own alike.
/// A keyword given a variable or an expression is not a literal, so `None`.
pub fn keyword_literal(text: &str, name: &str) -> Option<String> {
    for (at, _) in text.match_indices(name) {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let rest = text[at + name.len()..].trim_start_matches([' ', '\t']);
        let Some(rest) = rest.strip_prefix('=').filter(|r| !r.starts_with('=')) else {
            continue;
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let value = &rest[1..];
        if let Some(end) = value.find(quote) {
            if !value[..end].contains('\n') {
                return Some(value[..end].to_string());
            }
        }
    }
    None
}

/// The value of `key` in `[section]` of an INI file such as `setup.cfg` (first line only).
pub fn cfg_value(text: &str, section: &str, key: &str) -> Option<String> {
    // A file setuptools could not read either has no value (`resources::ini`); a value on
    // the lines after its key (`version =\n    1.0`) is read stripped, as setuptools does.
    let ini = crate::resources::ini::Ini::parse(text).ok()?;
    ini.get(section, key).map(|value| value.trim().to_string())
}

/// The key path and version of a `Cargo.toml`: `[package].version`, else
/// `[workspace.package].version`.
fn cargo_version(path: &str, text: &str) -> Result<Option<(&'static [&'static str], String)>> {
    let doc = parse_toml(path, text)?;
    for key in [
        &["package", "version"][..],
        &["workspace", "package", "version"],
    ] {
        if let Some(v) = lookup(&doc, key).and_then(|i| i.as_str()) {
            return Ok(Some((key, v.to_string())));
        }
    }
    Ok(None)
}

/// Replaces the string value at `key` in a TOML text, touching only the bytes between its quotes.
fn edit_toml_value(path: &str, text: &str, key: &[&str], new: &str) -> Result<String> {
    let doc = parse_toml(path, text)?;
    let item = lookup(&doc, key).with_context(|| format!("`{path}` has no `{}`", key.join(".")))?;
    let value = item
        .as_value()
        .filter(|v| v.is_str())
        .with_context(|| format!("`{}` in `{path}` is not a string", key.join(".")))?;
    let span = value
        .span()
        .with_context(|| format!("cannot locate `{}` in `{path}`", key.join(".")))?;
    let raw = &text[span.clone()];
    let current = value.as_str().unwrap_or_default();
    let quote = ["\"\"\"", "'''", "\"", "'"]
        .into_iter()
        .find(|q| raw.starts_with(q) && raw.ends_with(q) && raw.len() >= 2 * q.len())
        .with_context(|| format!("`{}` in `{path}` is not a quoted string", key.join(".")))?;
    if &raw[quote.len()..raw.len() - quote.len()] != current {
        bail!(
            "`{}` in `{path}` is written with escapes; write it as a plain string",
            key.join(".")
        );
    }
    Ok(format!(
        "{}{quote}{new}{quote}{}",
        &text[..span.start],
        &text[span.end..]
    ))
}

fn is_version_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_' | '!')
}

/// Replaces the one occurrence of the current version in a plain-text file.
fn edit_text(path: &str, text: &str, current: &Version, new: &Version) -> Result<String> {
    let pep440 = current.to_string();
    let semver = version::tag_spelling(current);
    let mut spellings = vec![(pep440.clone(), new.to_string())];
    if semver != pep440 {
        spellings.push((semver, version::tag_spelling(new)));
    }
    let mut hits: Vec<(usize, &str, &str)> = Vec::new();
    for (old, replacement) in &spellings {
        for (at, _) in text.match_indices(old.as_str()) {
            let before = text[..at].chars().next_back();
            let after = text[at + old.len()..].chars().next();
            let rest = &text[at + old.len()..];
            let after_ok = match after {
                None => true,
                // `1.4.2.post1` and `1.4.2-rc.1` are other versions; `1.4.2.` ends a sentence.
                Some('.' | '-') => !rest[1..].starts_with(|d: char| d.is_ascii_alphanumeric()),
                Some(c) => !is_version_char(c),
            };
            let bounded = !before.is_some_and(is_version_char) && after_ok;
            if bounded && !hits.iter().any(|h| h.0 == at) {
                hits.push((at, old, replacement));
            }
        }
    }
    match hits.as_slice() {
        [(at, old, replacement)] => Ok(format!(
            "{}{replacement}{}",
            &text[..*at],
            &text[at + old.len()..]
        )),
        [] => bail!(
            "`{path}` does not contain the current version `{current}`, so it cannot be bumped"
        ),
        many => {
            let lines: Vec<String> = many
                .iter()
                .map(|(at, _, _)| (text[..*at].matches('\n').count() + 1).to_string())
                .collect();
            bail!(
                "`{path}` contains the current version `{current}` {} times (lines {}): \
                 exactly one must be the version to bump",
                many.len(),
                lines.join(", ")
            )
        }
    }
}

/// The edits that move every version file from `current` to `new`, computed in memory.
pub fn plan_edits(
    root: &Path,
    project: &Project,
    current: &Version,
    new: &Version,
) -> Result<Vec<FileEdit>> {
    let mut edits = Vec::new();
    for path in &project.files {
        let old = read(root, path)?
            .with_context(|| format!("`{path}` (a version file) does not exist"))?;
        let new_text = match &project.record {
            VersionRecord::Manifest {
                path: manifest,
                key,
            } if manifest == path => edit_toml_value(path, &old, key, &new.to_string())?,
            _ if path.ends_with("Cargo.toml") => {
                let (key, found) = cargo_version(path, &old)?.with_context(|| {
                    format!("`{path}` has neither `[package].version` nor `[workspace.package].version`")
                })?;
                let found_version = Version::from_str(&found).ok();
                if found_version.as_ref() != Some(current) {
                    bail!("`{path}` says version `{found}` but the version of record is `{current}`: make them agree first");
                }
                edit_toml_value(path, &old, key, &version::cargo_spelling(new)?)?
            }
            _ => edit_text(path, &old, current, new)?,
        };
        edits.push(FileEdit {
            path: path.clone(),
            old,
            new: new_text,
        });
    }
    Ok(edits)
}

/// The `Cargo.lock` edits that go with the `Cargo.toml` edits among `edits`, and a warning for
/// each bumped package its lock does not hold. A lock records the version of every package of
/// its workspace, so a bump of `Cargo.toml` alone leaves it stale and the next `cargo` run
/// rewrites it. The lock of a manifest is the nearest `Cargo.lock` at or above its folder,
/// within `root`, as cargo finds it at the workspace root. For a `[package].version` the entry
/// of that package moves; for a `[workspace.package].version`, every entry at that version
/// without a `source` (the workspace's own packages: registry and git packages carry one).
/// Only the bytes of those versions change.
/// https://doc.rust-lang.org/cargo/guide/cargo-toml-vs-cargo-lock.html
pub fn cargo_lock_edits(
    root: &Path,
    edits: &[FileEdit],
    new: &Version,
) -> Result<(Vec<FileEdit>, Vec<String>)> {
    let new = version::cargo_spelling(new)?;
    let mut locks: Vec<FileEdit> = Vec::new();
    let mut warnings = Vec::new();
    for edit in edits.iter().filter(|e| e.path.ends_with("Cargo.toml")) {
        let Some((key, old)) = cargo_version(&edit.path, &edit.old)? else {
            continue;
        };
        let name = match key {
            ["package", "version"] => {
                lookup(&parse_toml(&edit.path, &edit.old)?, &["package", "name"])
                    .and_then(|n| n.as_str())
                    .map(str::to_string)
            }
            _ => None,
        };
        let Some(lock) = lock_of(root, &edit.path) else {
            continue;
        };
        let at = match locks.iter().position(|l| l.path == lock) {
            Some(at) => at,
            None => {
                let text = read(root, &lock)?.unwrap_or_default();
                locks.push(FileEdit {
                    path: lock.clone(),
                    old: text.clone(),
                    new: text,
                });
                locks.len() - 1
            }
        };
        match edit_lock(&lock, &locks[at].new, name.as_deref(), &old, &new)? {
            Some(text) => locks[at].new = text,
            None => warnings.push(format!(
                "`{lock}` locks no {} at `{old}`, so it is not bumped with `{}`: run `cargo \
                 metadata` and commit `{lock}` to have it bumped",
                name.map_or("package of the workspace".into(), |n| format!("`{n}`")),
                edit.path
            )),
        }
    }
    locks.retain(|l| l.old != l.new);
    Ok((locks, warnings))
}

/// The nearest `Cargo.lock` at or above the folder of `manifest`, within `root`.
fn lock_of(root: &Path, manifest: &str) -> Option<String> {
    let mut dir = Path::new(manifest).parent();
    while let Some(d) = dir {
        let lock = d.join("Cargo.lock");
        if root.join(&lock).is_file() {
            return lock.to_str().map(str::to_string);
        }
        dir = d.parent();
    }
    None
}

/// The lock with the version of its `[[package]]` entries named `name` (any name when
/// `None`), without a `source` and at `old`, replaced by `new`; `None` when there is none.
fn edit_lock(
    path: &str,
    text: &str,
    name: Option<&str>,
    old: &str,
    new: &str,
) -> Result<Option<String>> {
    let doc = parse_toml(path, text)?;
    let mut spans = Vec::new();
    let packages = lookup(&doc, &["package"]).and_then(|p| p.as_array_of_tables());
    for package in packages.into_iter().flat_map(|a| a.iter()) {
        let named = |key: &str| package.get(key).and_then(|v| v.as_str());
        let version = package.get("version").and_then(|v| v.as_value());
        if package.contains_key("source")
            || version.and_then(|v| v.as_str()) != Some(old)
            || name.is_some_and(|n| named("name") != Some(n))
        {
            continue;
        }
        let span = version
            .and_then(|v| v.span())
            .with_context(|| format!("cannot locate a version in `{path}`"))?;
        if text[span.clone()] != format!("\"{old}\"") {
            bail!("`{path}` spells the version `{old}` in an unusual way: let cargo write it");
        }
        spans.push(span);
    }
    if spans.is_empty() {
        return Ok(None);
    }
    let mut out = text.to_string();
    for span in spans.into_iter().rev() {
        out.replace_range(span, &format!("\"{new}\""));
    }
    Ok(Some(out))
}

/// The uv lock file of a workspace, at the repository root.
pub const UV_LOCK: &str = "uv.lock";

/// `uv.lock` (`text`, at `path`) with the version of each workspace member of `versions`
/// (normalized name, new version) replaced, as `uv lock` writes it after the bump: a member is
/// a `[[package]]` entry whose `source` is the workspace's own (`editable` or `virtual`, a
/// folder of the repository; https://docs.astral.sh/uv/concepts/projects/layout/#the-lockfile),
/// its version spelled as PEP 440 normalizes it. Entries of other packages refer to a member
/// by name alone, so no other line changes. Every other byte stays as it was. Returns the
/// names of `versions` the lock holds no member entry for.
pub fn uv_lock_edit(
    path: &str,
    text: &str,
    versions: &[(String, Version)],
) -> Result<(String, Vec<String>)> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| anyhow::anyhow!("{}", crate::config::toml_error(text, path, &e)))?;
    let mut missing = Vec::new();
    for (name, version) in versions {
        let entries = doc
            .get_mut("package")
            .and_then(toml_edit::Item::as_array_of_tables_mut);
        let member = entries.and_then(|entries| {
            entries.iter_mut().find(|entry| {
                let named = entry
                    .get("name")
                    .and_then(|n| n.as_str())
                    .is_some_and(|n| crate::resources::dist::normalize_name(n) == *name);
                let local = entry
                    .get("source")
                    .and_then(|s| s.as_table_like())
                    .is_some_and(|s| s.contains_key("editable") || s.contains_key("virtual"));
                named && local
            })
        });
        match member.and_then(|entry| entry.get_mut("version")) {
            Some(item) if item.is_str() => {
                let decor = item.as_value().map(|v| v.decor().clone());
                let mut new = toml_edit::Value::from(version.to_string());
                if let Some(decor) = decor {
                    *new.decor_mut() = decor;
                }
                *item = toml_edit::Item::Value(new);
            }
            _ => missing.push(name.clone()),
        }
    }
    Ok((doc.to_string(), missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_that_is_not_toml_is_named_by_line_without_its_text() {
        let text = "[project]\nname = \"pkg\"\npassword = pypi-AgEIcHlwaS5vcmc\n";
        let err = parse_toml("pyproject.toml", text).unwrap_err().to_string();
        assert!(err.starts_with("pyproject.toml:3:"), "{err}");
        assert!(!err.contains("pypi-AgEI"), "{err}");
    }

    fn v(s: &str) -> Version {
        Version::from_str(s).unwrap()
    }

    /// The edit must change exactly the version's bytes.
    fn assert_only_version_changed(before: &str, after: &str, old: &str, new: &str) {
        assert_eq!(
            after,
            before.replacen(old, new, 1),
            "\nbefore:\n{before}\nafter:\n{after}"
        );
    }

    #[test]
    fn toml_edits_keep_every_other_byte() {
        let cases = [
            "[project]\nname = \"pkg\"\nversion = \"1.4.2\"  # the version\n",
            "[project]\nname='pkg'\nversion='1.4.2'\n",
            "[project]\r\nname = \"pkg\"\r\nversion   =    \"1.4.2\" # odd spacing\r\n\r\n[tool.x]\r\na = 1\r\n",
            "project = { name = \"pkg\", version = \"1.4.2\" }\n",
            "# version = \"1.4.2\" in a comment first\n[project]\nversion = \"1.4.2\"\n",
            "[project]\nversion = '''1.4.2'''\n",
            "project.name = \"pkg\"\nproject.version = \"1.4.2\"\n",
        ];
        for before in cases {
            let after =
                edit_toml_value("pyproject.toml", before, PROJECT_VERSION, "1.4.3").unwrap();
            let doc = parse_toml("x", &after).unwrap();
            assert_eq!(
                lookup(&doc, PROJECT_VERSION).unwrap().as_str(),
                Some("1.4.3"),
                "{before}"
            );
            // Only the value changed: everything else is byte-identical.
            let span_start = after.find("1.4.3").unwrap();
            let expected = format!(
                "{}1.4.3{}",
                &before[..span_start],
                &before[span_start + 5..]
            );
            assert_eq!(after, expected, "{before}");
        }
    }

    #[test]
    fn escaped_version_strings_are_refused_not_mangled() {
        let err = edit_toml_value(
            "p",
            "[project]\nversion = \"1.4\\u002e2\"\n",
            PROJECT_VERSION,
            "1.4.3",
        );
        assert!(err.unwrap_err().to_string().contains("escapes"));
    }

    #[test]
    fn text_edits_replace_exactly_one_occurrence() {
        let before = "\"\"\"Docs.\"\"\"\r\n__version__ = '1.4.2'  # keep\r\n__unicode_version__ = \"15.0.0\"\r\n";
        let after = edit_text("a.py", before, &v("1.4.2"), &v("1.4.3")).unwrap();
        assert_only_version_changed(before, &after, "1.4.2", "1.4.3");

        let two = "__version__ = \"1.4.2\"\nVERSION = \"1.4.2\"\n";
        let err = edit_text("a.py", two, &v("1.4.2"), &v("1.4.3"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 times (lines 1, 2)"), "{err}");

        let none = "__version__ = \"1.4.20\"\nx = \"11.4.2\"\n";
        let err = edit_text("a.py", none, &v("1.4.2"), &v("1.4.3"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not contain"), "{err}");
    }

    #[test]
    fn text_edits_keep_the_semver_spelling_where_the_file_uses_it() {
        let before = "VERSION = \"0.2.0-rc.1\"\n";
        let after = edit_text("a.py", before, &v("0.2.0rc1"), &v("0.2.0rc2")).unwrap();
        assert_eq!(after, "VERSION = \"0.2.0-rc.2\"\n");
    }

    #[test]
    fn cargo_versions_are_edited_in_semver_spelling() {
        let before = "[package]\nname = \"pkg\"\nversion = \"1.4.2\" # synced\n\n[dependencies]\nx = { version = \"1.4.2\" }\n";
        let (key, found) = cargo_version("Cargo.toml", before).unwrap().unwrap();
        assert_eq!(found, "1.4.2");
        let after = edit_toml_value(
            "Cargo.toml",
            before,
            key,
            &version::cargo_spelling(&v("1.5.0rc1")).unwrap(),
        )
        .unwrap();
        assert_only_version_changed(before, &after, "1.4.2", "1.5.0-rc.1");

        let workspace = "[workspace]\nmembers = []\n[workspace.package]\nversion = \"1.4.2\"\n";
        let (key, _) = cargo_version("Cargo.toml", workspace).unwrap().unwrap();
        assert_eq!(key, ["workspace", "package", "version"]);
    }

    #[test]
    fn cargo_lock_entries_move_with_the_bumped_package_only() {
        let lock = "# This file is automatically @generated by Cargo.\nversion = 4\n\n[[package]]\nname = \"ext\"\nversion = \"1.4.2\"\ndependencies = [\n \"pyo3\",\n]\n\n[[package]]\nname = \"other\"\nversion = \"1.4.2\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[package]]\nname = \"sibling\"\nversion = \"1.4.2\"\n";
        let root = std::env::temp_dir().join(format!("twostage-lock-{}", std::process::id()));
        std::fs::create_dir_all(root.join("rust")).unwrap();
        std::fs::write(root.join("Cargo.lock"), lock).unwrap();
        let manifest = "[package]\nname = \"ext\"\nversion = \"1.4.2\"\n";
        let edit = |path: &str, old: &str| FileEdit {
            path: path.into(),
            old: old.into(),
            new: String::new(),
        };
        let (edits, warnings) =
            cargo_lock_edits(&root, &[edit("rust/Cargo.toml", manifest)], &v("1.5.0rc1")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(edits.len(), 1);
        assert_eq!(edits[0].path, "Cargo.lock");
        assert_only_version_changed(lock, &edits[0].new, "1.4.2", "1.5.0-rc.1");

        // `[workspace.package]`: every package of the workspace, never a registry's.
        let workspace = "[workspace]\nmembers = []\n[workspace.package]\nversion = \"1.4.2\"\n";
        let (edits, _) =
            cargo_lock_edits(&root, &[edit("Cargo.toml", workspace)], &v("1.4.3")).unwrap();
        let after = &edits[0].new;
        assert_eq!(after.matches("\"1.4.3\"").count(), 2, "{after}");
        assert!(
            after.contains("name = \"other\"\nversion = \"1.4.2\""),
            "{after}"
        );

        let stranger = "[package]\nname = \"stranger\"\nversion = \"1.4.2\"\n";
        let (edits, warnings) =
            cargo_lock_edits(&root, &[edit("Cargo.toml", stranger)], &v("1.4.3")).unwrap();
        assert!(edits.is_empty());
        assert!(
            warnings[0].contains("locks no `stranger` at `1.4.2`"),
            "{warnings:?}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn setup_py_and_setup_cfg_literals_are_found() {
        let one_line =
            "from setuptools import setup\nsetup(name='pkg', version=\"0.2.13\", packages=[])\n";
        assert_eq!(
            keyword_literal(one_line, "version").as_deref(),
            Some("0.2.13")
        );
        assert_eq!(keyword_literal(one_line, "name").as_deref(), Some("pkg"));
        let kwargs =
            "setup(\n    name = \"pkg\",\n    python_version=\"3\",\n    version=VERSION,\n)\n";
        assert_eq!(keyword_literal(kwargs, "version"), None);
        assert_eq!(keyword_literal(kwargs, "name").as_deref(), Some("pkg"));
        let cfg = "[metadata]\nname = pkg\nversion = 0.2.13\n\n[options]\nversion = 9\n";
        assert_eq!(
            cfg_value(cfg, "metadata", "version").as_deref(),
            Some("0.2.13")
        );
        assert_eq!(cfg_value(cfg, "metadata", "name").as_deref(), Some("pkg"));
        let attr = "[metadata]\nversion = attr: pkg.__version__\n";
        assert_eq!(
            cfg_value(attr, "metadata", "version").as_deref(),
            Some("attr: pkg.__version__")
        );
        // configparser's rules (resources::ini): a value on the next line, keys in any case,
        // a comment line, `key: value`.
        let spread = "[metadata]\n# pinned\nName: pkg\nversion =\n    0.3.0\n";
        assert_eq!(
            cfg_value(spread, "metadata", "version").as_deref(),
            Some("0.3.0")
        );
        assert_eq!(
            cfg_value(spread, "metadata", "name").as_deref(),
            Some("pkg")
        );
    }

    #[test]
    fn the_name_of_a_setup_py_or_setup_cfg_project_is_read_like_a_manifest_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("pyproject.toml"),
            "[build-system]\nrequires = [\"setuptools\"]\n",
        )
        .unwrap();
        std::fs::write(root.join("setup.cfg"), "[metadata]\nname = from-cfg\n").unwrap();
        let files = ["pkg/__init__.py".to_string()];
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("pkg/__init__.py"), "__version__ = \"1.0\"\n").unwrap();
        let read = |name| locate(root, "pyproject.toml", &files, name).unwrap().name;
        assert_eq!(read(None).as_deref(), Some("from-cfg"));
        std::fs::write(root.join("setup.py"), "setup(\n    name='from-py',\n)\n").unwrap();
        assert_eq!(read(None).as_deref(), Some("from-py"));
        // The configured name wins; a manifest name wins over setup.py's.
        assert_eq!(read(Some("configured")).as_deref(), Some("configured"));
        std::fs::write(
            root.join("pyproject.toml"),
            "[project]\nname = \"from-toml\"\nversion = \"1.0\"\n",
        )
        .unwrap();
        assert_eq!(read(None).as_deref(), Some("from-toml"));
        // A name setup.py computes is no literal: setup.cfg's is taken.
        std::fs::remove_file(root.join("pyproject.toml")).unwrap();
        std::fs::write(root.join("setup.py"), "setup(name=NAME)\n").unwrap();
        assert_eq!(read(None).as_deref(), Some("from-cfg"));
        assert_eq!(setup_name(None, None), None);
    }

    #[test]
    fn uv_lock_moves_only_the_members_versions() {
        let lock = r#"version = 1
revision = 3
requires-python = ">=3.9"

[manifest]
members = [
    "acme-cli",
    "acme-core",
]

[[package]]
name = "acme-cli"
version = "0.3.0"
source = { editable = "packages/cli" }
dependencies = [
    { name = "acme-core" },
]

[package.metadata]
requires-dist = [{ name = "acme-core", editable = "packages/core" }]

[[package]]
name = "acme-core"
version = "1.0.0"
source = { editable = "packages/core" }

[[package]]
name = "acme-core"
version = "1.0.0"
source = { registry = "https://pypi.org/simple" }
"#;
        let versions = [
            ("acme-core".to_string(), "1.0.1".parse().unwrap()),
            ("acme-gone".to_string(), "2.0.0".parse().unwrap()),
        ];
        let (new, missing) = uv_lock_edit("uv.lock", lock, &versions).unwrap();
        assert_eq!(missing, ["acme-gone"]);
        // Only the member's line: not the registry package of the same name, nor the others.
        let expected = lock.replacen(
            "version = \"1.0.0\"\nsource = { editable",
            "version = \"1.0.1\"\nsource = { editable",
            1,
        );
        assert_eq!(new, expected);
        let (same, _) = uv_lock_edit("uv.lock", lock, &[]).unwrap();
        assert_eq!(same, lock);
        assert!(uv_lock_edit("uv.lock", "[[package]\n", &[]).is_err());
    }

    #[test]
    fn assigned_versions_are_found() {
        assert_eq!(
            assigned_version("__version__ = \"1.0\"\n").as_deref(),
            Some("1.0")
        );
        assert_eq!(
            assigned_version("__version__: str = '2.0'\n").as_deref(),
            Some("2.0")
        );
        assert_eq!(
            assigned_version("setup(\n    name=\"x\",\n    version=\"3.1\",\n)\n").as_deref(),
            Some("3.1")
        );
        assert_eq!(assigned_version("print(1)\n"), None);
    }

    #[test]
    fn writes_never_follow_a_symbolic_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        let outside = dir.path().join("outside.py");
        std::fs::write(&outside, "old").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("v.py")).unwrap();
        std::fs::write(root.join("real.py"), "old").unwrap();
        let err = write_inside(&root, "v.py", b"new").unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "old");
        assert!(write_inside(&root, "../outside.py", b"new").is_err());
        assert!(write_inside(&root, outside.to_str().unwrap(), b"new").is_err());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "old");
        write_inside(&root, "real.py", b"new").unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("real.py")).unwrap(),
            "new"
        );
    }
}
