//! `init <dir>`: adopt twostage in another repository. Writes the `cargo xtask` alias (merged
//! into an existing `.cargo/config.toml`), a three-line `xtask` crate depending on `twostage`,
//! the workspace (or the `xtask` member added to an existing one), the hook shims under
//! `hooks/`, and a `release.toml` filled in from what the project already says about its
//! version. Idempotent; a file that differs is never overwritten without `--force`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use toml_edit::{value, Array, DocumentMut, Item, Table};

use crate::index::normalize_name;
use crate::output;

pub struct Options {
    /// `twostage` as a git dependency from this URL instead of a path dependency.
    pub git: Option<String>,
    pub force: bool,
    /// `github`: also write `.github/workflows/release.yml`.
    pub ci: Option<String>,
    /// With `ci`: the template for native wheels built on many machines.
    pub native: bool,
}

const WORKFLOW: &str = include_str!("../templates/github/release.yml");
const WORKFLOW_NATIVE: &str = include_str!("../templates/github/release-native.yml");

const SHIMS: &[(&str, &str)] = &[
    ("hooks/pre-push", include_str!("../hooks/pre-push")),
    (
        "hooks/reference-transaction",
        include_str!("../hooks/reference-transaction"),
    ),
    ("hooks/post-tag", include_str!("../hooks/post-tag")),
];

/// What `init` found out about the project.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Detected {
    pub name: Option<String>,
    pub version_files: Vec<String>,
    pub vcs: Option<&'static str>,
    pub changelog: Option<String>,
    pub module: Option<String>,
    pub github: Option<String>,
}

pub fn run(dir: &Path, options: &Options) -> Result<()> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("`{}` does not exist", dir.display()))?;
    if !dir.join(".git").exists() {
        bail!("`{}` is not the top of a git repository", dir.display());
    }
    let detected = detect(&dir)?;
    let mut writes: Vec<(String, String)> = vec![
        (".cargo/config.toml".into(), cargo_config(&dir)?),
        ("xtask/Cargo.toml".into(), xtask_manifest(options)?),
        (
            "xtask/src/main.rs".into(),
            "fn main() -> std::process::ExitCode {\n    twostage::cli::main()\n}\n".into(),
        ),
        ("Cargo.toml".into(), workspace_manifest(&dir)?),
    ];
    for (path, text) in SHIMS {
        writes.push((path.to_string(), text.to_string()));
    }
    match options.ci.as_deref() {
        None => {}
        Some("github") => {
            let template = if options.native {
                WORKFLOW_NATIVE
            } else {
                WORKFLOW
            };
            writes.push((".github/workflows/release.yml".into(), template.into()));
        }
        Some(other) => bail!("`--ci {other}`: the one CI `init` knows is `github`"),
    }
    // An existing release.toml is the project's own configuration: it is kept.
    if dir.join("release.toml").exists() {
        output::status("Keeping", "the existing `release.toml`");
    } else {
        writes.push(("release.toml".into(), release_toml(&detected)));
    }

    // Check everything first: nothing is written when any file would be overwritten.
    // `.cargo/config.toml` and `Cargo.toml` are merged into (everything in them is kept), so
    // they never conflict.
    let merged = [".cargo/config.toml", "Cargo.toml"];
    let mut conflicts = Vec::new();
    for (path, text) in writes.iter().filter(|(p, _)| !merged.contains(&p.as_str())) {
        if let Ok(existing) = std::fs::read_to_string(dir.join(path)) {
            if existing != *text && !options.force {
                conflicts.push(path.clone());
            }
        }
    }
    if !conflicts.is_empty() {
        bail!(
            "these files exist and differ from what init would write: {} (pass `--force` to overwrite them)",
            conflicts.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        );
    }
    for (path, text) in &writes {
        let target = dir.join(path);
        if std::fs::read_to_string(&target).is_ok_and(|t| t == *text) {
            output::status("Fresh", format!("`{path}`"));
            continue;
        }
        std::fs::create_dir_all(target.parent().unwrap_or(&dir))?;
        std::fs::write(&target, text).with_context(|| format!("cannot write `{path}`"))?;
        if path.starts_with("hooks/") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
        }
        output::status("Writing", format!("`{path}`"));
    }
    let record = match (&detected.vcs, detected.version_files.first()) {
        (Some(tool), _) => format!("the release tags ({tool}): no file is bumped"),
        (None, Some(file)) => format!("`{file}`"),
        (None, None) => "`pyproject.toml`".into(),
    };
    output::status(
        "Adopted",
        format!(
            "twostage in `{}`; the version of record is {record}",
            dir.display()
        ),
    );
    eprintln!(
        "\nNext steps:\n  cd {}\n  git add .cargo Cargo.toml xtask hooks release.toml && git commit -m \"Adopt twostage\"\n  cargo xtask hooks install\n  cargo xtask release patch --dry-run\n  export TEST_PYPI_TOKEN=… PYPI_TOKEN=…   # API tokens of TestPyPI and PyPI\n  cargo xtask release patch && git push --follow-tags\n  cargo xtask promote <tag>",
        dir.display()
    );
    Ok(())
}

fn cargo_config(dir: &Path) -> Result<String> {
    let path = dir.join(".cargo/config.toml");
    let mut doc: DocumentMut = match std::fs::read_to_string(&path) {
        Ok(text) => text
            .parse()
            .with_context(|| format!("`{}` is not valid TOML", path.display()))?,
        Err(_) => DocumentMut::new(),
    };
    let alias = doc
        .entry("alias")
        .or_insert(Item::Table(Table::new()))
        .as_table_like_mut()
        .context("`alias` in `.cargo/config.toml` is not a table")?;
    if alias.get("xtask").is_none() {
        alias.insert("xtask", value("run --quiet --package xtask --"));
    }
    Ok(doc.to_string())
}

fn xtask_manifest(options: &Options) -> Result<String> {
    let dependency = match &options.git {
        Some(url) => format!("twostage = {{ git = \"{url}\" }}"),
        None => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .canonicalize()
                .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
            format!("twostage = {{ path = \"{}\" }}", path.display())
        }
    };
    Ok(format!(
        "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n{dependency}\n"
    ))
}

fn workspace_manifest(dir: &Path) -> Result<String> {
    let path = dir.join("Cargo.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok("[workspace]\nmembers = [\"xtask\"]\nresolver = \"2\"\n".into());
    };
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("`{}` is not valid TOML", path.display()))?;
    let workspace = doc
        .entry("workspace")
        .or_insert(Item::Table(Table::new()))
        .as_table_mut()
        .context("`workspace` in `Cargo.toml` is not a table")?;
    let members = workspace
        .entry("members")
        .or_insert(value(Array::new()))
        .as_array_mut()
        .context("`workspace.members` is not an array")?;
    if !members.iter().any(|m| m.as_str() == Some("xtask")) {
        members.push("xtask");
    }
    Ok(doc.to_string())
}

fn release_toml(d: &Detected) -> String {
    let mut out = String::from(
        "# twostage configuration: see `cargo xtask --help` and docs/configuration.md.\n",
    );
    out.push_str(
        "# Every key is optional; TWOSTAGE_<SECTION>_<KEY> overrides any of them.\n\n[package]\n",
    );
    if let Some(name) = &d.name {
        out.push_str(&format!("name = \"{name}\"\n"));
    }
    match d.vcs {
        Some(tool) => out.push_str(&format!(
            "# The version comes from the git tag ({tool}): no file is bumped.\n"
        )),
        None if !d.version_files.is_empty() => {
            let files: Vec<String> = d.version_files.iter().map(|f| format!("\"{f}\"")).collect();
            out.push_str(&format!("version-files = [{}]\n", files.join(", ")));
        }
        None => {}
    }
    if let Some(changelog) = &d.changelog {
        out.push_str(&format!("changelog = \"{changelog}\"\n"));
    }
    out.push_str("\n[verify]\n");
    if let Some(module) = &d.module {
        out.push_str(&format!(
            "smoke = [\"python -c 'import {module}; print({module}.__name__)'\"]\n"
        ));
    } else {
        out.push_str("smoke = []\n");
    }
    if let Some(repository) = &d.github {
        out.push_str(&format!("\n[github]\nrepository = \"{repository}\"\n"));
    }
    out
}

/// Finds where the project keeps its version, its changelog, its import name and its GitHub
/// repository.
pub fn detect(dir: &Path) -> Result<Detected> {
    let mut d = Detected::default();
    let pyproject: Option<DocumentMut> = match std::fs::read_to_string(dir.join("pyproject.toml")) {
        Ok(text) => Some(text.parse().context("`pyproject.toml` is not valid TOML")?),
        Err(_) => None,
    };
    let get = |path: &[&str]| -> Option<Item> {
        let mut item = pyproject.as_ref()?.as_item();
        for p in path {
            item = item.as_table_like()?.get(p)?;
        }
        Some(item.clone())
    };
    let str_at = |path: &[&str]| get(path).and_then(|i| i.as_str().map(str::to_string));
    let name = str_at(&["project", "name"])
        .or_else(|| str_at(&["tool", "poetry", "name"]))
        .or_else(|| setup_py_name(dir));
    let backend = str_at(&["build-system", "build-backend"]).unwrap_or_default();
    let requires: Vec<String> = get(&["build-system", "requires"])
        .and_then(|i| {
            i.as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_lowercase))
                    .collect()
            })
        })
        .unwrap_or_default();
    let dynamic = get(&["project", "dynamic"])
        .and_then(|i| {
            i.as_array()
                .map(|a| a.iter().any(|v| v.as_str() == Some("version")))
        })
        .unwrap_or(false);
    let has_static = str_at(&["project", "version"]).is_some()
        || str_at(&["tool", "poetry", "version"]).is_some();

    let module = name.as_ref().map(|n| normalize_name(n).replace('-', "_"));
    let module_file = module.as_ref().and_then(|m| {
        [
            format!("src/{m}/__init__.py"),
            format!("{m}/__init__.py"),
            format!("src/{m}.py"),
            format!("{m}.py"),
        ]
        .into_iter()
        .find(|p| dir.join(p).exists())
    });
    let declares_version = |path: &str| {
        std::fs::read_to_string(dir.join(path))
            .is_ok_and(|t| t.lines().any(|l| l.trim_start().starts_with("__version__")))
    };

    let uses = |needle: &str| requires.iter().any(|r| r.starts_with(needle));
    if str_at(&["tool", "hatch", "version", "source"]).as_deref() == Some("vcs")
        || uses("hatch-vcs")
    {
        d.vcs = Some("hatch-vcs");
    } else if get(&["tool", "setuptools_scm"]).is_some()
        || uses("setuptools-scm")
        || uses("setuptools_scm")
    {
        d.vcs = Some("setuptools-scm");
    } else if str_at(&["tool", "pdm", "version", "source"]).as_deref() == Some("scm") {
        d.vcs = Some("pdm-scm");
    } else if let Some(path) = str_at(&["tool", "hatch", "version", "path"]) {
        d.version_files.push(path);
    } else if let Some(attr) = get(&["tool", "setuptools", "dynamic", "version"]).and_then(|i| {
        i.as_table_like()
            .and_then(|t| t.get("attr"))
            .and_then(|a| a.as_str().map(str::to_string))
    }) {
        // `pkg.__version__` → the module file that defines it.
        let module_path = attr
            .rsplit_once('.')
            .map_or(attr.as_str(), |(m, _)| m)
            .replace('.', "/");
        if let Some(found) = [
            format!("src/{module_path}/__init__.py"),
            format!("{module_path}/__init__.py"),
            format!("src/{module_path}.py"),
            format!("{module_path}.py"),
        ]
        .into_iter()
        .find(|p| dir.join(p).exists())
        {
            d.version_files.push(found);
        }
    } else if (dynamic || pyproject.is_none())
        && module_file.as_deref().is_some_and(declares_version)
    {
        // flit's module version, or a setup.py that reads `__version__`.
        d.version_files
            .push(module_file.clone().unwrap_or_default());
    } else if pyproject.is_none() && dir.join("setup.py").exists() {
        d.version_files.push("setup.py".into());
    }
    // A static version also kept in the module's `__version__` is bumped in lockstep.
    if has_static {
        if let Some(file) = module_file.as_ref().filter(|f| declares_version(f)) {
            d.version_files.push(file.clone());
        }
    }
    // A maturin project keeps the version in Cargo.toml: the record itself when the
    // pyproject version is dynamic, else bumped in lockstep.
    if backend.starts_with("maturin") && dir.join("Cargo.toml").exists() {
        let at = if dynamic { 0 } else { d.version_files.len() };
        d.version_files.insert(at, "Cargo.toml".into());
    }
    d.changelog = [
        "CHANGES.md",
        "HISTORY.md",
        "CHANGES.rst",
        "CHANGELOG.rst",
        "NEWS.md",
    ]
    .into_iter()
    .find(|c| !dir.join("CHANGELOG.md").exists() && dir.join(c).exists())
    .map(str::to_string);
    d.module = module.filter(|_| module_file.is_some());
    // Only a project without `pyproject.toml` needs its name in release.toml.
    d.name = if pyproject.is_none() { name } else { None };
    d.github = crate::git::git_in(dir, &["remote", "get-url", "origin"])
        .ok()
        .and_then(|url| crate::git::github_repository(url.trim()));
    Ok(d)
}

/// `name="…"` in a `setup.py`, for a project without `pyproject.toml`.
fn setup_py_name(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("setup.py")).ok()?;
    let at = text.find("name=").or_else(|| text.find("name ="))?;
    let rest = text[at..].split_once('=')?.1.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    Some(rest[1..].split(quote).next()?.to_string())
}
