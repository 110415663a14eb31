//! What a project's repository says about how it is built and released, beyond its name and
//! version: the build backend, the tool that versions it from git tags, the prefix its release
//! tags use, and the names its package is imported by (from the source layout, and from a
//! built wheel). `init` reads these to fill in the configuration, and every step reads them
//! through `manifest::Project::read`, so a hand-written configuration is read the same way.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

use crate::version;

/// The tools that take the version from the git tag, so that no file is bumped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcsTool {
    HatchVcs,
    SetuptoolsScm,
    PdmScm,
}

impl VcsTool {
    pub const ALL: [VcsTool; 3] = [VcsTool::HatchVcs, VcsTool::SetuptoolsScm, VcsTool::PdmScm];

    pub fn as_str(self) -> &'static str {
        match self {
            VcsTool::HatchVcs => "hatch-vcs",
            VcsTool::SetuptoolsScm => "setuptools-scm",
            VcsTool::PdmScm => "pdm-scm",
        }
    }
}

/// The build backend, as far as keeping files out of its sdist goes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Hatchling,
    /// setuptools, with or without setuptools-scm, and a project with only `setup.py`.
    Setuptools,
    Flit,
    Poetry,
    Pdm,
    Maturin,
    #[default]
    Other,
}

impl Backend {
    /// The backend `build-backend` names; without one, pip and build fall back to
    /// setuptools' legacy backend (https://peps.python.org/pep-0517/#source-trees) for a
    /// project with a `setup.py` or `setup.cfg`.
    pub fn of(build_backend: &str, has_setup: bool) -> Backend {
        match build_backend {
            "hatchling.build" => Backend::Hatchling,
            "flit_core.buildapi" => Backend::Flit,
            "poetry.core.masonry.api" => Backend::Poetry,
            "pdm.backend" => Backend::Pdm,
            "maturin" => Backend::Maturin,
            b if b.starts_with("setuptools.build_meta") => Backend::Setuptools,
            "" if has_setup => Backend::Setuptools,
            _ => Backend::Other,
        }
    }
}

/// How the project builds, read from `pyproject.toml`, `setup.py` and `setup.cfg`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Build {
    pub backend: Backend,
    /// `build-system.build-backend` as written.
    pub backend_name: String,
    /// The tool that versions the project from its git tags, if any.
    pub vcs: Option<VcsTool>,
    /// `[tool.maturin] module-name`'s top-level module: maturin compiles it, so no source
    /// file shows it.
    pub compiled_module: Option<String>,
    /// The project sets the VCS tool's own tag pattern or describe command, so the tool's
    /// default tag regex is not the one that reads its tags.
    pub own_tag_pattern: bool,
}

impl Build {
    /// Reads the build files of the project at `root`.
    pub fn read(root: &Path) -> Result<Build> {
        let read = |path: &str| std::fs::read_to_string(root.join(path)).ok();
        let pyproject = read("pyproject.toml");
        let setup_py = read("setup.py");
        let has_setup = setup_py.is_some() || root.join("setup.cfg").is_file();
        let mut build = Build::parse(pyproject.as_deref(), setup_py.as_deref(), has_setup)?;
        if build.backend == Backend::Maturin && build.compiled_module.is_none() {
            build.compiled_module = maturin_module(root, pyproject.as_deref().unwrap_or_default());
        }
        Ok(build)
    }

    /// The build as the texts of `pyproject.toml` and `setup.py` say it.
    pub fn parse(
        pyproject: Option<&str>,
        setup_py: Option<&str>,
        has_setup: bool,
    ) -> Result<Build> {
        // Named by line and column, never quoting the line (a secret may sit on it).
        let text = pyproject.unwrap_or_default();
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e| {
            anyhow::anyhow!("{}", crate::config::toml_error(text, "pyproject.toml", &e))
        })?;
        let item = doc.as_item();
        let backend_name = str_at(item, &["build-system", "build-backend"]).unwrap_or_default();
        Ok(Build {
            backend: Backend::of(&backend_name, has_setup),
            backend_name,
            vcs: vcs_tool(item, setup_py),
            compiled_module: str_at(item, &["tool", "maturin", "module-name"])
                .and_then(|m| m.split('.').next().map(str::to_string)),
            own_tag_pattern: own_tag_pattern(item, setup_py),
        })
    }

    /// Why the VCS tool would not read the release tags `prefix` spells, if it would not:
    /// setuptools-scm, hatch-vcs (through it) and pdm-backend share one default tag regex,
    /// `^(?:[\w-]+-)?(?P<version>[vV]?\d+(?:\.\d+){0,2}[^\+]*)(?:\+.*)?$`
    /// (https://github.com/pypa/setuptools-scm, `_config.py`; pdm-backend's `hooks/version/scm.py`),
    /// which takes no prefix, `v`/`V`, or dashed words ending in `-` before either.
    pub fn unread_tag_prefix(&self, prefix: &str) -> Option<String> {
        let tool = self.vcs?;
        if self.own_tag_pattern || default_tag_regex_reads(prefix) {
            return None;
        }
        Some(format!(
            "`git.tag-prefix` is `{prefix}`, but {} reads the version from tags with its default \
             `tag_regex`, which takes `1.2.3`, `v1.2.3` or `name-1.2.3` and not \
             `{prefix}1.2.3`: the build would not get the tag's version; set `git.tag-prefix` \
             to a prefix it reads (e.g. `v` or `name-`), or give the tool a pattern of your own \
             (`[tool.setuptools_scm] tag_regex`, `[tool.hatch.version] tag-pattern`, \
             `[tool.pdm.version] tag_regex`)",
            tool.as_str()
        ))
    }
}

/// Whether the VCS tools' default tag regex reads `<prefix><version>`.
pub fn default_tag_regex_reads(prefix: &str) -> bool {
    let rest = prefix
        .strip_suffix('v')
        .or_else(|| prefix.strip_suffix('V'))
        .unwrap_or(prefix);
    if rest.is_empty() {
        return true;
    }
    // `[\w-]+-`: Python's `\w` on text is Unicode letters, digits and `_`.
    rest.strip_suffix('-').is_some_and(|words| {
        !words.is_empty()
            && words
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    })
}

/// Whether the project gives its VCS tool a tag pattern or describe command of its own.
fn own_tag_pattern(item: &toml_edit::Item, setup_py: Option<&str>) -> bool {
    let table = |path: &[&str]| {
        path.iter()
            .try_fold(item, |i, p| i.as_table_like()?.get(p))
            .and_then(|i| i.as_table_like())
            .is_some_and(|t| {
                [
                    "tag_regex",
                    "tag-pattern",
                    "git_describe_command",
                    "raw-options",
                    "scm",
                ]
                .iter()
                .any(|k| t.contains_key(k))
            })
    };
    table(&["tool", "setuptools_scm"])
        || table(&["tool", "hatch", "version"])
        || table(&["tool", "pdm", "version"])
        || setup_py.is_some_and(|t| t.contains("tag_regex") || t.contains("describe_command"))
}

fn str_at(item: &toml_edit::Item, path: &[&str]) -> Option<String> {
    let mut item = item;
    for p in path {
        item = item.as_table_like()?.get(p)?;
    }
    item.as_str().map(str::to_string)
}

/// The module maturin compiles when `[tool.maturin] module-name` does not name it: the crate's
/// `[lib] name`, else its package name with `-` as `_` (maturin's rule:
/// https://www.maturin.rs/project_layout and `src/project_layout.rs` of
/// https://github.com/PyO3/maturin), read from the `Cargo.toml` that `[tool.maturin]
/// manifest-path` names (`Cargo.toml` by default). Without a readable one, the function that
/// `#[pymodule]` marks in `src/lib.rs` names it, as pyo3 exports `PyInit_<name>`
/// (https://pyo3.rs/latest/module.html).
fn maturin_module(root: &Path, pyproject: &str) -> Option<String> {
    let doc: Option<toml_edit::DocumentMut> = pyproject.parse().ok();
    let manifest = doc
        .as_ref()
        .and_then(|d| str_at(d.as_item(), &["tool", "maturin", "manifest-path"]))
        .unwrap_or_else(|| "Cargo.toml".into());
    let cargo = std::fs::read_to_string(root.join(&manifest))
        .ok()
        .and_then(|t| t.parse::<toml_edit::DocumentMut>().ok());
    if let Some(cargo) = cargo {
        let named = str_at(cargo.as_item(), &["lib", "name"])
            .or_else(|| str_at(cargo.as_item(), &["package", "name"]));
        return named.map(|n| n.replace('-', "_")).filter(|n| identifier(n));
    }
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).ok()?;
    let after = &lib[lib.find("#[pymodule]")? + "#[pymodule]".len()..];
    let name = after.split("fn ").nth(1)?;
    let name: String = name
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    Some(name).filter(|n| identifier(n))
}

/// Whether `build-system.requires` names a requirement starting with `needle`.
fn requires(item: &toml_edit::Item, needle: &str) -> bool {
    item.get("build-system")
        .and_then(|b| b.get("requires"))
        .and_then(|i| i.as_array())
        .is_some_and(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_lowercase))
                .any(|r| r.starts_with(needle))
        })
}

/// The tool that takes the version from the git tag: hatch-vcs (`[tool.hatch.version] source
/// = "vcs"`, https://github.com/ofek/hatch-vcs), setuptools-scm (`[tool.setuptools_scm]`, the
/// requirement, or `use_scm_version` in `setup.py`, https://setuptools-scm.readthedocs.io/),
/// pdm-backend's `[tool.pdm.version] source = "scm"` (https://backend.pdm-project.org/metadata/).
fn vcs_tool(item: &toml_edit::Item, setup_py: Option<&str>) -> Option<VcsTool> {
    if str_at(item, &["tool", "hatch", "version", "source"]).as_deref() == Some("vcs")
        || requires(item, "hatch-vcs")
    {
        Some(VcsTool::HatchVcs)
    } else if item
        .get("tool")
        .is_some_and(|t| t.get("setuptools_scm").is_some())
        || requires(item, "setuptools-scm")
        || requires(item, "setuptools_scm")
        || setup_py.is_some_and(|t| t.contains("use_scm_version"))
    {
        Some(VcsTool::SetuptoolsScm)
    } else if str_at(item, &["tool", "pdm", "version", "source"]).as_deref() == Some("scm") {
        Some(VcsTool::PdmScm)
    } else {
        None
    }
}

/// The tag prefix every step uses: the configured `git.tag-prefix`, else the one the existing
/// tags use (`tag_prefix`), else the default `v`.
pub fn settled_prefix<S: AsRef<str>>(
    configured: Option<&str>,
    tags: &[S],
    prod_suffix: &str,
) -> String {
    configured
        .map(str::to_string)
        .or_else(|| tag_prefix(tags, prod_suffix))
        .unwrap_or_else(|| "v".to_string())
}

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

/// Settles `git.tag-prefix` when the configuration does not set it: from the repository's
/// tags (`settled_prefix`), so that a hand-written configuration on a project with
/// unprefixed tags releases, stages and promotes those tags as one `init` wrote would.
pub fn settle_tag_prefix(config: &mut crate::config::Config, repo: &crate::resources::git::Repo) {
    if config.git.tag_prefix_set {
        return;
    }
    // An unreadable tag list leaves the default, as a repository without tags has. Every
    // command starts here, the hooks too: the names are enough, no tag is peeled.
    let tags = repo.tag_names().unwrap_or_default();
    config.git.tag_prefix = settled_prefix(None, &tags, &config.git.prod_suffix);
}

/// The module file a dotted path names (`pkg.__version__` → `src/pkg/__init__.py`).
pub fn module_file(dir: &Path, attr: &str) -> Option<String> {
    let module_path = attr
        .rsplit_once('.')
        .map_or(attr, |(m, _)| m)
        .replace('.', "/");
    [
        format!("src/{module_path}/__init__.py"),
        format!("{module_path}/__init__.py"),
        format!("src/{module_path}.py"),
        format!("{module_path}.py"),
    ]
    .into_iter()
    .find(|p| dir.join(p).exists())
}

/// The name the project's package is imported by, as its sources show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportName {
    pub name: Option<String>,
    /// `name` is a module of the project's: it has a file, or maturin compiles it.
    pub importable: bool,
    /// The module's file (`src/pkg/__init__.py`, `pkg.py`), when it has one.
    pub file: Option<String>,
}

/// The module named after the distribution `dist_name` (`my-pkg` → `my_pkg`), else the one
/// maturin's `module-name` names, else the one package or module the source layout holds
/// (`foo-py` importing `foo`). Read from the sources, without building a wheel: when the
/// layout offers several or none, none is guessed (the built wheel answers later,
/// `wheel_top_level`).
pub fn import_name(dir: &Path, dist_name: Option<&str>, build: &Build) -> ImportName {
    let named = dist_name.map(|n| crate::resources::dist::normalize_name(n).replace('-', "_"));
    let maturin = build.compiled_module.clone();
    let compiled = maturin.is_some();
    let laid_out = || match importable(dir).as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    };
    let (name, file) = match named.as_deref().and_then(|m| module_file(dir, m)) {
        Some(file) => (named, Some(file)),
        None => match maturin.or_else(laid_out) {
            Some(found) => {
                let file = module_file(dir, &found);
                (Some(found), file)
            }
            None => (named, None),
        },
    };
    ImportName {
        importable: file.is_some() || (compiled && name.is_some()),
        name,
        file,
    }
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

/// Whether `name` can be imported as written: a Python identifier in ASCII.
fn identifier(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The top-level import names a wheel installs, from its `top_level.txt` (setuptools writes
/// one) when given, else from its `RECORD` (https://packaging.python.org/en/latest/specifications/recording-installed-packages/#the-record-file):
/// the first segment of each path that is a folder (a package, namespace or not) or a module
/// (`mod.py`, or an extension `mod.cpython-312-x86_64-linux-gnu.so` / `mod.pyd`), leaving out
/// `*.dist-info` and `*.data`. Sorted, each once.
pub fn top_level_names(record: &str, top_level_txt: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = match top_level_txt {
        Some(text) => text
            .lines()
            .map(|l| l.trim().split('/').next().unwrap_or_default().to_string())
            .filter(|n| identifier(n))
            .collect(),
        None => record.lines().filter_map(record_top_level).collect(),
    };
    names.sort();
    names.dedup();
    names
}

/// The import name a `RECORD` line's path installs at the top, if any.
fn record_top_level(line: &str) -> Option<String> {
    // A path with a comma is quoted (csv); the others are the text up to the first comma.
    let path = match line.strip_prefix('"') {
        Some(rest) => rest.split('"').next()?,
        None => line.split(',').next()?,
    };
    let (first, rest) = match path.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (path, None),
    };
    if first.ends_with(".dist-info") || first.ends_with(".data") {
        return None;
    }
    let name = match rest {
        Some(_) => first,
        None if first.ends_with(".py") => first.strip_suffix(".py")?,
        None if first.ends_with(".so") || first.ends_with(".pyd") => first.split('.').next()?,
        None => return None,
    };
    identifier(name).then(|| name.to_string())
}

/// The most of a wheel's `RECORD` or `top_level.txt` read: far more than any real one.
const RECORD_LIMIT: u64 = 16 * 1024 * 1024;

/// The top-level import names the wheel at `path` installs (`top_level_names`).
pub fn wheel_top_level(path: &Path) -> Result<Vec<String>> {
    let what = || format!("cannot read the top-level names of `{}`", path.display());
    let file = std::fs::File::open(path).with_context(what)?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("`{}` is not a valid zip archive", path.display()))?;
    let member = |archive: &mut zip::ZipArchive<_>, leaf: &str| -> Result<Option<String>> {
        let found = archive.file_names().flatten().find(|n| {
            n.split_once('/')
                .is_some_and(|(top, rest)| top.ends_with(".dist-info") && rest == leaf)
        });
        let Some(name) = found.map(|n| n.into_owned()) else {
            return Ok(None);
        };
        let mut text = String::new();
        archive
            .by_name(&name)?
            .take(RECORD_LIMIT)
            .read_to_string(&mut text)
            .with_context(|| format!("`{name}` is not UTF-8 text"))?;
        Ok(Some(text))
    };
    let top_level = member(&mut archive, "top_level.txt").with_context(what)?;
    let record = member(&mut archive, "RECORD").with_context(what)?;
    Ok(top_level_names(
        record.as_deref().unwrap_or_default(),
        top_level.as_deref(),
    ))
}

/// The smoke command of a project whose `verify.smoke` is not set: import every top-level
/// name the wheel installs (identifiers only, so the command needs no quoting). `None` when the
/// wheel installs no importable name.
pub fn default_smoke(names: &[String]) -> Option<String> {
    let names: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| identifier(n))
        .collect();
    (!names.is_empty()).then(|| format!("python -c 'import {}'", names.join(", ")))
}

/// What to say of the smoke test against the names the built wheel installs (`wheel`, its
/// file name): `Err` for a warning, `Ok` for a note, `None` for nothing. A configured smoke
/// test that imports names but none the wheel installs is warned about (it imports another
/// package, or a misspelling, and would fail or test nothing of the release); one that
/// imports none (`pytest`) or any of them is left alone. Not set: verify imports them.
pub fn smoke_against_wheel(
    smoke: &[String],
    smoke_set: bool,
    names: &[String],
    wheel: &str,
) -> Option<Result<String, String>> {
    let offered = if names.is_empty() {
        "no importable name".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !smoke_set {
        return Some(match default_smoke(names) {
            Some(command) => Ok(format!(
                "`verify.smoke` is not set: verification runs `{command}`, the top-level names \
                 `{wheel}` installs"
            )),
            None => Err(format!(
                "`verify.smoke` is not set and `{wheel}` installs no importable top-level name: \
                 verification only installs the files; set `verify.smoke` in the configuration"
            )),
        });
    }
    let imported: Vec<String> = smoke.iter().flat_map(|c| imported_names(c)).collect();
    if imported.is_empty() || imported.iter().any(|i| names.contains(i)) {
        return None;
    }
    Some(Err(format!(
        "`verify.smoke` imports {} but `{wheel}` installs {offered}: the smoke test does not \
         import the release; fix `verify.smoke` (e.g. `{}`) before the tag is pushed, as \
         verification runs it on every file",
        imported
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
        default_smoke(names).unwrap_or_else(|| "python -c 'import your_package'".into())
    )))
}

/// The names a shell command imports with `python -c '…import a, b…'` or `from a import`:
/// the first segment of each, in order. A rough reading of the smoke commands, enough to tell
/// whether they import the package at all.
pub fn imported_names(command: &str) -> Vec<String> {
    let words: Vec<&str> = command
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '\'' | '"' | '(' | ')'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut names = Vec::new();
    for (i, word) in words.iter().enumerate() {
        // The `import` of `from a import b` names no module of its own.
        let after_from = i >= 2 && words[i - 2] == "from";
        if !matches!(*word, "import" | "from") || (*word == "import" && after_from) {
            continue;
        }
        for next in &words[i + 1..] {
            let module = next.trim_end_matches(',');
            let top = module.split('.').next().unwrap_or_default();
            if identifier(top) && top != "import" && top != "as" {
                names.push(top.to_string());
            }
            // `import a, b`: the list goes on while a word ends with a comma.
            if *word == "from" || !next.ends_with(',') {
                break;
            }
        }
    }
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
    fn maturin_names_the_module_after_module_name_then_lib_name_then_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |path: &str, text: &str| std::fs::write(root.join(path), text).unwrap();
        let module = || Build::read(root).unwrap().compiled_module;
        write(
            "pyproject.toml",
            "[build-system]\nbuild-backend = \"maturin\"\n",
        );
        // No `Cargo.toml`: the `#[pymodule]` function of `src/lib.rs`.
        std::fs::create_dir(root.join("src")).unwrap();
        write(
            "src/lib.rs",
            "use pyo3::prelude::*;\n#[pymodule]\nfn rpds(m: &Bound<'_, PyModule>) {}\n",
        );
        assert_eq!(module().as_deref(), Some("rpds"));
        write("Cargo.toml", "[package]\nname = \"rpds-py\"\n");
        assert_eq!(module().as_deref(), Some("rpds_py"));
        write(
            "Cargo.toml",
            "[package]\nname = \"rpds-py\"\n[lib]\nname = \"rpds\"\n",
        );
        assert_eq!(module().as_deref(), Some("rpds"));
        write(
            "pyproject.toml",
            "[build-system]\nbuild-backend = \"maturin\"\n[tool.maturin]\nmodule-name = \"pkg._core\"\n",
        );
        assert_eq!(module().as_deref(), Some("pkg"));
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

    #[test]
    fn the_backend_and_the_vcs_tool_are_read_from_the_build_files() {
        let build = |pyproject: &str, setup_py: Option<&str>, has_setup: bool| {
            let b = Build::parse(Some(pyproject), setup_py, has_setup).unwrap();
            (b.backend, b.vcs)
        };
        let hatch_vcs = "[build-system]\nrequires = [\"hatchling\", \"hatch-vcs\"]\n\
                         build-backend = \"hatchling.build\"\n";
        assert_eq!(
            build(hatch_vcs, None, false),
            (Backend::Hatchling, Some(VcsTool::HatchVcs))
        );
        let hatch_source = "[build-system]\nbuild-backend = \"hatchling.build\"\n\
                            [tool.hatch.version]\nsource = \"vcs\"\n";
        assert_eq!(build(hatch_source, None, false).1, Some(VcsTool::HatchVcs));
        let scm = "[build-system]\nrequires = [\"setuptools>=64\", \"setuptools_scm>=8\"]\n\
                   build-backend = \"setuptools.build_meta\"\n";
        assert_eq!(
            build(scm, None, false),
            (Backend::Setuptools, Some(VcsTool::SetuptoolsScm))
        );
        let pdm = "[build-system]\nbuild-backend = \"pdm.backend\"\n\
                   [tool.pdm.version]\nsource = \"scm\"\n";
        assert_eq!(
            build(pdm, None, false),
            (Backend::Pdm, Some(VcsTool::PdmScm))
        );
        let flit = "[build-system]\nbuild-backend = \"flit_core.buildapi\"\n";
        assert_eq!(build(flit, None, false), (Backend::Flit, None));
        // No `build-backend`: setuptools' legacy backend, when there is a setup.py.
        let legacy = "[build-system]\nrequires = [\"setuptools\"]\n";
        let uses_scm = Some("setup(use_scm_version=True)\n");
        assert_eq!(
            build(legacy, uses_scm, true),
            (Backend::Setuptools, Some(VcsTool::SetuptoolsScm))
        );
        assert_eq!(build("", None, false), (Backend::Other, None));
        assert_eq!(build("", None, true), (Backend::Setuptools, None));
        let maturin = "[build-system]\nbuild-backend = \"maturin\"\n\
                       [tool.maturin]\nmodule-name = \"rpds.rpds\"\n";
        let b = Build::parse(Some(maturin), None, false).unwrap();
        assert_eq!(b.compiled_module.as_deref(), Some("rpds"));
        // Not TOML: named by line, the line itself not quoted.
        let err = Build::parse(Some("k = \"s3cret\"\n[x"), None, false).unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("pyproject.toml:2") && !err.contains("s3cret"),
            "{err}"
        );
    }

    #[test]
    fn the_top_level_names_of_a_wheel_are_read_from_its_record() {
        let record = "foo/__init__.py,sha256=a,10\n\
                      foo/sub/x.py,sha256=b,5\n\
                      single.py,sha256=c,3\n\
                      _speedups.cpython-312-x86_64-linux-gnu.so,sha256=d,9\n\
                      ts_pkg-1.0.dist-info/METADATA,sha256=e,1\n\
                      ts_pkg-1.0.dist-info/RECORD,,\n\
                      ts_pkg-1.0.data/scripts/tool,sha256=f,1\n\
                      ts_pkg.pth,sha256=g,1\n\
                      \"odd,name/__init__.py\",sha256=h,1\n\
                      nsonly/mod.py,sha256=i,1\n";
        assert_eq!(
            top_level_names(record, None),
            ["_speedups", "foo", "nsonly", "single"]
        );
        // setuptools' top_level.txt, when there is one, is the answer.
        assert_eq!(
            top_level_names(record, Some("foo\nbar\n\n")),
            ["bar", "foo"]
        );
        assert!(top_level_names("", None).is_empty());
    }

    #[test]
    fn the_names_a_smoke_command_imports_are_read() {
        let names = |c: &str| imported_names(c);
        assert_eq!(
            names("python -c 'import foo; print(foo.__name__)'"),
            ["foo"]
        );
        assert_eq!(names("python -c 'import a.b, c as d'"), ["a", "c"]);
        assert_eq!(names("python -c \"from pkg.sub import thing\""), ["pkg"]);
        assert!(names("pytest -q").is_empty());
    }

    #[test]
    fn the_smoke_test_is_weighed_against_the_wheels_names() {
        let names = vec!["rpds".to_string()];
        let wheel = "rpds_py-1.0-py3-none-any.whl";
        let said = |smoke: &[&str], set: bool| {
            let smoke: Vec<String> = smoke.iter().map(|c| c.to_string()).collect();
            smoke_against_wheel(&smoke, set, &names, wheel)
        };
        assert_eq!(
            default_smoke(&names).as_deref(),
            Some("python -c 'import rpds'")
        );
        assert_eq!(default_smoke(&[]), None);
        // Not set: the import verify runs is said.
        assert!(matches!(said(&[], false), Some(Ok(n)) if n.contains("import rpds")));
        // Set, importing another name: a warning naming the wheel's.
        let warned = said(&["python -c 'import rpds_py'"], true);
        assert!(
            matches!(&warned, Some(Err(w)) if w.contains("`rpds_py`") && w.contains("`rpds`")),
            "{warned:?}"
        );
        // Set, importing it (with a dependency beside), or importing nothing: nothing said.
        assert_eq!(said(&["python -c 'import attrs, rpds'"], true), None);
        assert_eq!(said(&["pytest -q"], true), None);
        assert_eq!(said(&[], true), None);
        // A wheel without an importable name and no smoke test: a warning.
        assert!(matches!(
            smoke_against_wheel(&[], false, &[], wheel),
            Some(Err(_))
        ));
    }

    #[test]
    fn the_vcs_tools_default_tag_regex_reads_these_prefixes_only() {
        for read in [
            "",
            "v",
            "V",
            "release-",
            "apache-arrow-",
            "pkg-v",
            "my_pkg-",
        ] {
            assert!(default_tag_regex_reads(read), "{read:?}");
        }
        for unread in ["rel_", "release/", "-", "pkg@", "vv", "r"] {
            assert!(!default_tag_regex_reads(unread), "{unread:?}");
        }
        let hatch = "[build-system]\nbuild-backend = \"hatchling.build\"\n\
                     [tool.hatch.version]\nsource = \"vcs\"\n";
        let build = Build::parse(Some(hatch), None, false).unwrap();
        assert!(build.unread_tag_prefix("v").is_none());
        let said = build.unread_tag_prefix("rel_").unwrap();
        assert!(said.contains("`git.tag-prefix` is `rel_`") && said.contains("hatch-vcs"));
        // A pattern of the project's own: not second-guessed.
        let own = format!("{hatch}tag-pattern = \"^rel_(?P<version>.*)$\"\n");
        let build = Build::parse(Some(&own), None, false).unwrap();
        assert!(build.unread_tag_prefix("rel_").is_none());
        // Not VCS-versioned: the prefix is twostage's alone.
        let flit = Build::parse(Some("[project]\n"), None, false).unwrap();
        assert!(flit.unread_tag_prefix("rel_").is_none());
    }
}
