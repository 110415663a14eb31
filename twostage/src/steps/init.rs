//! `init <dir>`: adopt twostage in another repository. Writes the `cargo xtask` alias (merged
//! into an existing `.cargo/config.toml`), a three-line `xtask` crate depending on `twostage`
//! (the published crate by default; `--git` or a relative `--path` otherwise), the root
//! workspace holding it (for a project without Rust of its own; a project with a Cargo package
//! gets `xtask/` as a workspace of its own, and its `Cargo.toml` and `Cargo.lock` stay as they
//! were), the hook shims under `hooks/`, `target/`
//! in `.gitignore`, and the configuration (`[tool.twostage]` in `pyproject.toml`, or a
//! `release.toml` for a project without one) filled in from what the project already says about
//! its name, version, branch and changelog. It also keeps that release kit out of the
//! project's sdist with the exclusion the detected build backend understands (see
//! docs/adoption.md). Idempotent; a file that differs is never overwritten without `--force`,
//! and no absolute path of this machine is written into any file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use toml_edit::{value, Array, DocumentMut, Item, Table};

use crate::config;
use crate::core::hook::Hook;
use crate::output;
use crate::resources::project::{Backend, Build, VcsTool};
use crate::resources::{git, manifest, project};

mod packages;

pub struct Options {
    /// `twostage` as a git dependency from this URL instead of the published crate.
    pub git: Option<String>,
    /// `twostage` as a path dependency on this checkout (or crate folder), written relative.
    pub path: Option<PathBuf>,
    pub force: bool,
    /// `github`: also write `.github/workflows/release.yml`.
    pub ci: Option<String>,
    /// With `ci`: the template for native wheels built on many machines.
    pub native: bool,
}

const WORKFLOW: &str = include_str!("../../templates/github/release.yml");
const WORKFLOW_NATIVE: &str = include_str!("../../templates/github/release-native.yml");

const XTASK_MAIN: &str = "fn main() -> std::process::ExitCode {\n    twostage::cli::main()\n}\n";

/// The CI systems `init` writes a release workflow for (`--ci`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    Github,
}

impl Ci {
    pub const ALL: [Ci; 1] = [Ci::Github];

    pub fn as_str(self) -> &'static str {
        match self {
            Ci::Github => "github",
        }
    }

    pub fn parse(word: &str) -> Option<Ci> {
        Ci::ALL.into_iter().find(|c| c.as_str() == word)
    }
}

/// What `init` found out about the project.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Detected {
    pub name: Option<String>,
    pub version_files: Vec<String>,
    pub vcs: Option<VcsTool>,
    pub changelog: Option<String>,
    /// The changelog exists but is not Keep a Changelog: `release` leaves it alone.
    pub changelog_not_rolled: Option<String>,
    pub module: Option<String>,
    pub github: Option<String>,
    /// The current branch, when it is not `main` (the default release branch).
    pub branch: Option<String>,
    /// The prefix of the existing release tags, when it is not the default `v`.
    pub tag_prefix: Option<String>,
    /// Whether any existing tag reads as a release version.
    pub tagged: bool,
    pub backend: Backend,
    /// The project has Rust of its own: a maturin backend, or a `Cargo.toml` outside `xtask/`
    /// that is not the workspace `init` wrote.
    pub rust: bool,
    /// `build-system.build-backend` as written.
    pub backend_name: String,
    /// Problems worth saying that do not stop `init`.
    pub warnings: Vec<String>,
}

/// A file `init` writes: created whole, or merged into the project's own.
struct Write {
    path: String,
    text: String,
    /// Merged files keep everything the project had in them, so they never conflict.
    merged: bool,
    /// What the change does, said when the file changes.
    what: Option<String>,
}

impl Write {
    /// A file of the kit's own, created whole.
    fn new(path: &str, text: String) -> Write {
        Write {
            path: path.into(),
            text,
            merged: false,
            what: None,
        }
    }

    /// A file of the project's, with the kit's part merged in.
    fn merged(path: &str, text: String, what: Option<String>) -> Write {
        Write {
            merged: true,
            what,
            ..Write::new(path, text)
        }
    }
}

pub fn run(dir: &Path, options: &Options) -> Result<()> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("`{}` does not exist", dir.display()))?;
    if !dir.join(".git").exists() {
        bail!("`{}` is not the top of a git repository", dir.display());
    }
    let several = packages::several(&dir)?;
    let mut detected = detect(&dir)?;
    if let Some(several) = &several {
        if !several.root_is_package {
            detected = packages::repository_only(detected);
        }
        detected.warnings.extend(packages::warnings(several));
    }
    let dependency = dependency(&dir, options)?;
    let writes = plan_writes(&dir, options, &detected, &dependency, several.as_ref())?;
    refuse_conflicts(&dir, &writes, options.force)?;
    // Read before writing: the files whose bytes change, the only ones `git add` needs.
    let changed: Vec<&Write> = writes
        .iter()
        .filter(|w| std::fs::read(dir.join(&w.path)).ok().as_deref() != Some(w.text.as_bytes()))
        .collect();
    for write in &writes {
        write_file(&dir, write)?;
    }
    say_what_to_know(&detected, &dependency);
    let adopted = match &several {
        Some(several) => format!(
            "twostage in `{}` for {} packages, each with its own version and tags",
            dir.display(),
            several.found.len()
        ),
        None => format!(
            "twostage in `{}`; the version of record is {}",
            dir.display(),
            record_of(&detected)
        ),
    };
    output::status("Adopted", adopted);
    let steps = next_steps(&dir, &changed, &Kit::of(&dir, &detected));
    // Several packages are released by name or as changed (docs/monorepo.md).
    let steps = match several {
        Some(_) => steps.replace("release patch", "release patch --changed"),
        None => steps,
    };
    eprintln!("{steps}");
    Ok(())
}

/// Every file `init` writes, worked out before any is written. Says which files it keeps and
/// what it cannot do for the project's build backend.
fn plan_writes(
    dir: &Path,
    options: &Options,
    detected: &Detected,
    dependency: &Dependency,
    several: Option<&packages::Several>,
) -> Result<Vec<Write>> {
    // Decided before anything is written: whether the workspace and the cargo config are the
    // kit's alone (so the sdist must not carry them) or the project's own.
    let kit = Kit::of(dir, detected);
    let mut writes: Vec<Write> = vec![
        Write::merged(".cargo/config.toml", cargo_config(dir, &kit)?, None),
        xtask_write(dir, dependency, &kit),
        Write::new("xtask/src/main.rs", XTASK_MAIN.into()),
    ];
    if kit.workspace {
        writes.push(Write::merged("Cargo.toml", workspace_manifest(dir)?, None));
    } else if let Some(warning) = earlier_member(dir) {
        output::warn(warning);
    }
    let (ignore, line) = gitignore(dir, kit.workspace);
    writes.push(Write::merged(
        ".gitignore",
        ignore,
        Some(format!("`{}` is ignored", line.trim_start_matches('/'))),
    ));
    for hook in Hook::ALL {
        let path = format!("hooks/{}", hook.as_str());
        writes.push(Write::new(&path, hook.template().into()));
    }
    if let Some(write) = workflow(dir, options)? {
        writes.push(write);
        writes.push(Write::new(SIGNER_PINS_PATH, SIGNER_PINS.into()));
    }
    // A root that is no package (a virtual uv workspace root) builds no sdist to keep the
    // kit out of; each package builds from its own folder, which the kit is not in.
    if several.is_none_or(|s| s.root_is_package) {
        writes.extend(sdist_exclusion(dir, detected, &kit)?);
        if detected.backend == Backend::Setuptools {
            writes.extend(discovery_pin(dir)?);
        }
    }
    configuration(dir, detected, &dependency.docs, several, &mut writes)?;
    Ok(writes)
}

/// Where the configuration lives, as `init` finds the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    /// A `release.toml` of twostage's own: kept as it is.
    ReleaseToml,
    /// `[tool.twostage]` is already in `pyproject.toml`: kept as it is.
    Table,
    /// `init` adds `[tool.twostage]` to `pyproject.toml`.
    NewTable,
    /// No `pyproject.toml` (a `setup.py`-only project): `init` writes `release.toml`.
    NewReleaseToml,
    /// No `pyproject.toml`, and a `release.toml` that is cargo-release's: nothing to write.
    Defaults,
}

impl Home {
    fn of(dir: &Path) -> Home {
        let release = std::fs::read_to_string(dir.join(config::FILE_NAME)).ok();
        let foreign = release.as_deref().is_some_and(config::is_foreign);
        match (release.is_some(), foreign) {
            (true, false) => Home::ReleaseToml,
            _ if config::pyproject_has_table(dir) => Home::Table,
            _ if dir.join(config::PYPROJECT).is_file() => Home::NewTable,
            (true, true) => Home::Defaults,
            (false, _) => Home::NewReleaseToml,
        }
    }

    /// Where `verify.smoke` goes, as the warnings name it: the file the configuration is
    /// (or is written) in, and its table.
    fn verify_table(self) -> &'static str {
        match self {
            Home::ReleaseToml | Home::NewReleaseToml => "`[verify]` of `release.toml`",
            Home::Table | Home::NewTable | Home::Defaults => {
                "`[tool.twostage.verify]` of `pyproject.toml`"
            }
        }
    }

    /// The configuration is in `release.toml`, so the sdist leaves it out.
    fn is_release_toml(self) -> bool {
        matches!(self, Home::ReleaseToml | Home::NewReleaseToml)
    }
}

/// The configuration's write: `[tool.twostage]` added at the end of `pyproject.toml` (into
/// the text another write of `init` already made of it, if any), every byte before it kept;
/// else a `release.toml`. An existing configuration is kept as it is.
fn configuration(
    dir: &Path,
    detected: &Detected,
    docs: &str,
    several: Option<&packages::Several>,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let home = Home::of(dir);
    let text_of = |d: &Detected, prefix: &str, docs: &str| -> Result<String> {
        let text = config_text(d, prefix, docs);
        match several {
            Some(several) => {
                Ok(repository_tables(&text, prefix) + &packages::entries(several, prefix)?)
            }
            None => Ok(text),
        }
    };
    if std::fs::read_to_string(dir.join(config::FILE_NAME)).is_ok_and(|t| config::is_foreign(&t)) {
        output::note(format!(
            "`{}` belongs to cargo-release: `init` leaves it as it is, and twostage ignores it",
            config::FILE_NAME
        ));
    }
    match home {
        Home::ReleaseToml => output::status("Keeping", "the existing `release.toml`"),
        Home::Table => output::status(
            "Keeping",
            "the existing `[tool.twostage]` in `pyproject.toml`",
        ),
        Home::Defaults => output::warn(
            "the project has no `pyproject.toml` to hold `[tool.twostage]` and its \
             `release.toml` is cargo-release's: twostage uses its defaults",
        ),
        Home::NewReleaseToml => {
            writes.push(Write::new(config::FILE_NAME, text_of(detected, "", docs)?))
        }
        Home::NewTable => {
            let earlier = writes.iter().rposition(|w| w.path == config::PYPROJECT);
            let (text, other) = match earlier {
                Some(i) => {
                    let write = writes.remove(i);
                    (write.text, write.what)
                }
                None => (
                    std::fs::read_to_string(dir.join(config::PYPROJECT))
                        .context("cannot read `pyproject.toml`")?,
                    None,
                ),
            };
            let text = with_table(&text, &text_of(detected, TABLE_PREFIX, docs)?)?;
            let what = "`[tool.twostage]` holds twostage's configuration";
            let what = match other {
                Some(other) => format!("{other}; {what}"),
                None => what.to_string(),
            };
            writes.push(Write::merged(config::PYPROJECT, text, Some(what)));
        }
    }
    Ok(())
}

/// Where `init --ci github` writes the workflow.
const WORKFLOW_PATH: &str = ".github/workflows/release.yml";

/// The PEP 740 signer the workflow's `stage` and `promote` jobs install (pypi-attestations
/// and everything it needs, each pinned with hashes, `docs/ci.md`), beside the workflow.
const SIGNER_PINS_PATH: &str = ".github/workflows/release-signer-requirements.txt";
const SIGNER_PINS: &str = include_str!("../../templates/github/release-signer-requirements.txt");

/// The placeholder of the templates' Python versions (the verify matrix).
const PYTHONS: &str = "@python-versions@";

/// The CPython versions the verify matrix may hold: those `actions/setup-python` installs and
/// that are not past their end of life (https://devguide.python.org/versions/).
const CPYTHONS: [&str; 5] = ["3.9", "3.10", "3.11", "3.12", "3.13"];

/// The sha256 of every workflow an earlier `init` wrote (the templates before the jobs were
/// split by permission): `init` replaces those without `--force`.
const EARLIER_WORKFLOWS: [&str; 2] = [
    "faf012df37f15b4e9dee5c997eeead89e8d7081b32e6f4fc5751456db404eb2e",
    "8a3dd1326533da271fb09e9fca33e21acaec074a1c9676dcd2b87bf9cd2e3fde",
];

/// The length in bytes and the sha256 of a part of a template's text.
type TextPart = (usize, &'static str);

/// The templates before their jobs installed the attestation signer (`release.yml`, then
/// `release-native.yml`), as the length and sha256 of their text before and after the Python
/// versions: a workflow made from one, with any versions, is updated without `--force`.
const EARLIER_TEMPLATES: [(TextPart, TextPart); 2] = [
    (
        (
            4292,
            "2c9656204421bdbf5f8b7e6ce0e2d47481f510cc273cf21f15f7ffe509c1e5cb",
        ),
        (
            4753,
            "f11ca5831ed0f6c4ed2300738661501fe28eb490300411ada08c3761f5cafaf0",
        ),
    ),
    (
        (
            5530,
            "69e7a6850d51a85f12ef18bfd2cf5d8898d4edaa1a6c90ada342d761e825f806",
        ),
        (
            4753,
            "f11ca5831ed0f6c4ed2300738661501fe28eb490300411ada08c3761f5cafaf0",
        ),
    ),
];

/// Whether `existing` is an earlier template (`EARLIER_TEMPLATES`) with one line of Python
/// versions.
fn from_earlier_template(existing: &str) -> bool {
    let sha256 = |text: &str| {
        crate::resources::dist::hex(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()))
    };
    EARLIER_TEMPLATES
        .iter()
        .any(|&((before_len, before), (after_len, after))| {
            let Some(end) = existing.len().checked_sub(after_len) else {
                return false;
            };
            end > before_len
                && existing.is_char_boundary(before_len)
                && existing.is_char_boundary(end)
                && sha256(&existing[..before_len]) == before
                && sha256(&existing[end..]) == after
                && !existing[before_len..end].contains('\n')
        })
}

/// The workflow `--ci` (and `--native`) ask for, with the project's Python versions in its
/// verify matrix. A workflow `init` wrote before (an earlier template, or this one with other
/// Python versions) is updated in place; one edited by hand is a conflict.
fn workflow(dir: &Path, options: &Options) -> Result<Option<Write>> {
    let Some(ci) = options.ci.as_deref() else {
        return Ok(None);
    };
    let template = match Ci::parse(ci) {
        Some(Ci::Github) if options.native => WORKFLOW_NATIVE,
        Some(Ci::Github) => WORKFLOW,
        None => bail!("`--ci {ci}`: the one CI `init` knows is `github`"),
    };
    let pythons = python_versions(dir)?;
    let list = pythons
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = template.replace(PYTHONS, &format!("[{list}]"));
    let existing = std::fs::read_to_string(dir.join(WORKFLOW_PATH)).unwrap_or_default();
    if !existing.is_empty() && existing != text && written_by_init(&existing, template) {
        return Ok(Some(Write::merged(
            WORKFLOW_PATH,
            text,
            Some("the workflow an earlier `init` wrote, updated".into()),
        )));
    }
    Ok(Some(Write::new(WORKFLOW_PATH, text)))
}

/// Whether `existing` is a workflow `init` wrote: an earlier template as it was, or `template`
/// with any Python versions.
fn written_by_init(existing: &str, template: &str) -> bool {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(existing.as_bytes());
    if EARLIER_WORKFLOWS.contains(&crate::resources::dist::hex(&digest).as_str())
        || from_earlier_template(existing)
    {
        return true;
    }
    let Some((before, after)) = template.split_once(PYTHONS) else {
        return false;
    };
    existing.len() > before.len() + after.len()
        && existing.starts_with(before)
        && existing.ends_with(after)
        && !existing[before.len()..existing.len() - after.len()].contains('\n')
}

/// The CPython versions `project.requires-python` admits (all of `CPYTHONS` when it says
/// nothing), for the verify matrix. A specifier that admits none of them is an error.
fn python_versions(dir: &Path) -> Result<Vec<&'static str>> {
    let text = std::fs::read_to_string(dir.join("pyproject.toml")).unwrap_or_default();
    let doc: DocumentMut = text.parse().unwrap_or_default();
    let Some(spec) = doc
        .get("project")
        .and_then(|p| p.get("requires-python"))
        .and_then(Item::as_str)
    else {
        return Ok(CPYTHONS.to_vec());
    };
    let specifiers: pep440_rs::VersionSpecifiers = spec.parse().with_context(|| {
        format!("`project.requires-python` (`{spec}`) is not a PEP 440 specifier")
    })?;
    // PEP 440 compares a release with a specifier: `3.10.0` stands for the 3.10 series, as
    // `>=3.10`, `~=3.9` and `<3.13` read it.
    let admitted: Vec<&str> = CPYTHONS
        .into_iter()
        .filter(|v| {
            format!("{v}.0")
                .parse::<pep440_rs::Version>()
                .is_ok_and(|version| specifiers.contains(&version))
        })
        .collect();
    if admitted.is_empty() {
        bail!(
            "`project.requires-python` (`{spec}`) admits none of CPython {}: the verify matrix would be empty",
            CPYTHONS.join(", ")
        );
    }
    Ok(admitted)
}

/// The edit that keeps the kit out of the sdist, or a warning when `init` does not know how.
fn sdist_exclusion(dir: &Path, detected: &Detected, kit: &Kit) -> Result<Option<Write>> {
    match exclusion(dir, detected, kit)? {
        Some((path, text, what)) => Ok(Some(Write::merged(&path, text, Some(what)))),
        None => {
            output::warn(format!(
                "`init` does not know how the build backend `{}` selects sdist files: make sure \
                 the sdist leaves out {} (verification refuses an sdist that carries them)",
                detected.backend_name,
                kit.paths().join(", ")
            ));
            Ok(None)
        }
    }
}

/// The edit setuptools' automatic discovery needs once the kit is in the tree, if any.
fn discovery_pin(dir: &Path) -> Result<Option<Write>> {
    match setuptools_discovery(dir)? {
        Discovery::Explicit => Ok(None),
        Discovery::Pin(text, what) => Ok(Some(Write::merged("pyproject.toml", text, Some(what)))),
        Discovery::Unsure(why) => {
            output::warn(why);
            Ok(None)
        }
    }
}

/// Check everything first: nothing is written when any file would be overwritten.
fn refuse_conflicts(dir: &Path, writes: &[Write], force: bool) -> Result<()> {
    let mut conflicts = Vec::new();
    for write in writes.iter().filter(|w| !w.merged) {
        if let Ok(existing) = std::fs::read_to_string(dir.join(&write.path)) {
            if existing != write.text && !force {
                conflicts.push(write.path.clone());
            }
        }
    }
    if !conflicts.is_empty() {
        bail!(
            "these files exist and differ from what init would write: {} (pass `--force` to overwrite them)",
            conflicts.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// Writes one file unless it already says the same, and says so either way.
fn write_file(dir: &Path, write: &Write) -> Result<()> {
    let path = &write.path;
    let target = dir.join(path);
    let existing = std::fs::read_to_string(&target).ok();
    if existing.as_ref() == Some(&write.text) {
        output::status("Fresh", format!("`{path}`"));
        return Ok(());
    }
    std::fs::create_dir_all(target.parent().unwrap_or(dir))?;
    std::fs::write(&target, &write.text).with_context(|| format!("cannot write `{path}`"))?;
    if path.starts_with("hooks/") {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
    }
    let verb = if existing.is_some() {
        "Updating"
    } else {
        "Writing"
    };
    match &write.what {
        Some(what) => output::status(verb, format!("`{path}`: {what}")),
        None => output::status(verb, format!("`{path}`")),
    }
    Ok(())
}

/// What the maintainer should know about the adopted project: where the dependency builds,
/// what detection found doubtful, what `release` will and will not do.
fn say_what_to_know(detected: &Detected, dependency: &Dependency) {
    if let Some(relative) = &dependency.path {
        output::warn(format!(
            "`xtask/Cargo.toml` depends on twostage at `{relative}` (relative to `xtask/`): \
             `cargo xtask` builds only where that path exists, so on another machine or in CI \
             use the published crate (the default) or `--git URL`"
        ));
    }
    for warning in &detected.warnings {
        output::warn(warning);
    }
    if let Some(changelog) = &detected.changelog_not_rolled {
        output::note(format!(
            "`{changelog}` is not in Keep a Changelog form (no `## [Unreleased]` heading): \
             `release` leaves it for you to update and never rolls it"
        ));
    }
    if detected.rust {
        output::note(
            "the project has Rust of its own: `xtask/` is a Cargo workspace of its own with its \
             own `xtask/Cargo.lock`, so the project's `Cargo.toml` and `Cargo.lock` are left as \
             they were and the kit never joins them; `cargo xtask` runs from the repository's \
             top folder (the alias names `xtask/Cargo.toml`)",
        );
    }
    if let Some(branch) = &detected.branch {
        output::note(format!(
            "releases are made from the current branch `{branch}`"
        ));
    }
    if let Some(prefix) = &detected.tag_prefix {
        output::note(format!(
            "the existing release tags are spelled `{prefix}<version>`: `git.tag-prefix` is \
             `{}`",
            toml_edit::Value::from(prefix.as_str())
        ));
    }
    if dependency.published {
        output::note(format!(
            "`xtask/Cargo.toml` depends on the published crate ({}): twostage is not on \
             crates.io yet, so until it is `cargo xtask` cannot resolve it; pass `--git URL` \
             (its repository) or `--path` (a checkout) instead",
            dependency.line
        ));
    }
}

/// Where the version of record is, as the `Adopted` line says it.
fn record_of(detected: &Detected) -> String {
    match (&detected.vcs, detected.version_files.as_slice()) {
        (Some(tool), _) if detected.tagged => {
            format!("the release tags ({}): no file is bumped", tool.as_str())
        }
        // `release patch` has no version to bump before the first tag (docs/adoption.md).
        (Some(tool), _) => format!(
            "the release tags ({}), and there is none yet: the first release tag sets the \
             version, so name it (`cargo xtask release 0.1.0` tags `{}0.1.0` and the build \
             says 0.1.0)",
            tool.as_str(),
            detected.tag_prefix.as_deref().unwrap_or("v")
        ),
        (None, [file]) => format!("`{file}`"),
        (None, [first, rest @ ..]) => format!(
            "`{first}` (bumped with {})",
            rest.iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (None, []) => "`pyproject.toml`".into(),
    }
}

/// The commands that take the adopted project to its first release: `cd` only when `dir` is
/// not the current directory, and `git add` of the files `init` changed (`changed`) and the
/// lock file the kit's first build writes.
fn next_steps(dir: &Path, changed: &[&Write], kit: &Kit) -> String {
    let (mut add, build): (Vec<&str>, &str) = if kit.workspace {
        (
            vec!["Cargo.lock"],
            "cargo build --package xtask   # the first build writes `Cargo.lock`: commit it with the kit",
        )
    } else {
        (
            vec!["xtask"],
            "cargo build --manifest-path xtask/Cargo.toml   # writes `xtask/Cargo.lock`: commit it with the kit",
        )
    };
    for write in changed {
        let top = write.path.split('/').next().unwrap_or_default();
        if !add.contains(&top) {
            add.push(top);
        }
    }
    let here = std::env::current_dir().and_then(|d| d.canonicalize()).ok();
    let cd = if here.as_deref() == Some(dir) {
        String::new()
    } else {
        format!("\n  cd {}", dir.display())
    };
    format!(
        "\nNext steps:{cd}\n  {build}\n  git add {} && git commit -m \"Adopt twostage\"\n  cargo xtask hooks install\n  cargo xtask rehearse          # the whole lifecycle on local indexes; nothing of yours changes\n  cargo xtask release patch --dry-run\n  export TEST_PYPI_TOKEN=… PYPI_TOKEN=…   # API tokens of TestPyPI and PyPI\n  cargo xtask release patch && git push --follow-tags\n  cargo xtask promote <tag>",
        add.join(" ")
    )
}

/// The `twostage` dependency line of `xtask/Cargo.toml`.
struct Dependency {
    line: String,
    /// The published crate's version requirement (neither `--git` nor `--path`).
    published: bool,
    /// With `--path`: the path as written, relative to `xtask/`.
    path: Option<String>,
    /// Where the configuration's keys are documented, as the written configuration says: the
    /// repository's page (`--git`), the checkout's file (`--path`), the crate's page; never a
    /// `docs/` path the adopting project does not have.
    docs: String,
}

fn dependency(dir: &Path, options: &Options) -> Result<Dependency> {
    let quoted = |s: &str| toml_edit::Value::from(s).to_string();
    match (&options.git, &options.path) {
        (Some(_), Some(_)) => bail!("`--git` and `--path` exclude each other: pass one of them"),
        (Some(url), None) => Ok(Dependency {
            line: format!("twostage = {{ git = {} }}", quoted(url)),
            path: None,
            published: false,
            docs: format!("{url} (`docs/configuration.md`)"),
        }),
        (None, Some(path)) => {
            let crate_dir = twostage_crate(path)?;
            let relative = relative_path(&dir.join("xtask"), &crate_dir);
            let relative = relative
                .to_str()
                .with_context(|| format!("`{}` is not a UTF-8 path", crate_dir.display()))?;
            Ok(Dependency {
                line: format!("twostage = {{ path = {} }}", quoted(relative)),
                path: Some(relative.to_string()),
                published: false,
                docs: checkout_docs(&crate_dir),
            })
        }
        (None, None) => Ok(Dependency {
            line: format!("twostage = {}", quoted(env!("CARGO_PKG_VERSION"))),
            path: None,
            published: true,
            docs: "https://crates.io/crates/twostage (its repository's `docs/configuration.md`)"
                .into(),
        }),
    }
}

/// The configuration page of the twostage checkout whose crate is at `crate_dir` (the crate,
/// or the repository around it).
fn checkout_docs(crate_dir: &Path) -> String {
    let page = Path::new("docs/configuration.md");
    [Some(crate_dir), crate_dir.parent()]
        .into_iter()
        .flatten()
        .map(|d| d.join(page))
        .find(|p| p.is_file())
        .map_or_else(
            || format!("the twostage checkout at `{}`", crate_dir.display()),
            |p| format!("`{}`", p.display()),
        )
}

/// The folder of the `twostage` crate: `path` itself, or its `twostage/` member when `path` is
/// a checkout of the whole repository.
fn twostage_crate(path: &Path) -> Result<PathBuf> {
    let path = path.canonicalize().with_context(|| {
        format!(
            "`--path {}` does not exist: pass the folder of a twostage checkout",
            path.display()
        )
    })?;
    let is_twostage = |dir: &Path| {
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .ok()
            .and_then(|t| t.parse::<DocumentMut>().ok())
            .is_some_and(|doc| {
                doc.get("package")
                    .and_then(|p| p.get("name"))
                    .and_then(|n| n.as_str())
                    == Some("twostage")
            })
    };
    if is_twostage(&path) {
        Ok(path)
    } else if is_twostage(&path.join("twostage")) {
        Ok(path.join("twostage"))
    } else {
        bail!(
            "`--path {}` is not a twostage checkout: pass the folder holding the `twostage` \
             crate's `Cargo.toml` (or the repository around it)",
            path.display()
        )
    }
}

/// `to` relative to `from`, both absolute: `../../twostage/twostage`.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to[common..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// `.gitignore` with the kit's build folder in it, and the line that ignores it. Under the
/// kit's root workspace that is `target/`; in a project with Rust of its own `xtask/` is a
/// workspace of its own and cargo builds it into `xtask/target/`, which a `/target` line
/// (anchored at the root, as rpds-py's) does not cover: `git add xtask` then took the whole
/// build (https://git-scm.com/docs/gitignore#_pattern_format).
fn gitignore(dir: &Path, kit_workspace: bool) -> (String, &'static str) {
    let text = std::fs::read_to_string(dir.join(".gitignore")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let has = |names: &[&str]| lines.iter().any(|l| names.contains(l));
    let anywhere = has(&["target", "target/"]);
    let (covered, line) = if kit_workspace {
        (anywhere || has(&["/target", "/target/"]), "target/")
    } else if has(&["/target", "/target/"]) {
        let kit = [
            "xtask/target",
            "xtask/target/",
            "/xtask/target",
            "/xtask/target/",
        ];
        (anywhere || has(&kit), "/xtask/target/")
    } else {
        (
            anywhere || has(&["/xtask/target", "/xtask/target/"]),
            "target/",
        )
    };
    if covered {
        return (text, line);
    }
    let mut out = text;
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    (out, line)
}

/// Whether the root `Cargo.toml` is absent or is the workspace `init` writes (no package, the
/// one member `xtask`): then it and `Cargo.lock` are the kit's, not the project's.
fn kit_workspace(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
        return true;
    };
    let Ok(doc) = text.parse::<DocumentMut>() else {
        return false;
    };
    let members: Vec<&str> = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    doc.get("package").is_none() && members == ["xtask"]
}

/// Which of the kit's files are the kit's alone.
struct Kit {
    /// The root `Cargo.toml` and `Cargo.lock` are the kit's workspace, `xtask` its member.
    /// When false, the project has Rust of its own and `xtask/` is a workspace of its own.
    workspace: bool,
    /// `.cargo/config.toml` holds only the alias.
    cargo_config: bool,
    /// The configuration is in `release.toml` (not in `[tool.twostage]`).
    release_toml: bool,
}

impl Kit {
    /// A project with Rust of its own (`detected.rust`) never shares a workspace with the kit:
    /// as a member, `xtask` would put twostage and its dependencies into the project's
    /// `Cargo.lock` (which maturin ships in the sdist), and every cargo run on the project's
    /// crate (maturin's `cargo metadata` in a clean clone, the sdist's build) would need
    /// `xtask`'s path dependency on twostage. Under a root workspace of the kit's, a crate in
    /// a subfolder would not build at all ("current package believes it's in a workspace
    /// when it's not").
    fn of(dir: &Path, detected: &Detected) -> Kit {
        Kit {
            workspace: !detected.rust && kit_workspace(dir),
            cargo_config: std::fs::read_to_string(dir.join(".cargo/config.toml"))
                .map_or(true, |t| crate::resources::dist::is_kit_cargo_config(&t)),
            release_toml: Home::of(dir).is_release_toml(),
        }
    }

    /// The kit's folders: excluding one excludes what is in it.
    fn is_folder(path: &str) -> bool {
        matches!(path, "xtask" | ".cargo")
    }

    /// The kit's paths from the project root; folders without a trailing slash.
    fn paths(&self) -> Vec<&'static str> {
        let mut paths = vec!["xtask"];
        if self.cargo_config {
            paths.push(".cargo");
        }
        paths.extend([
            "hooks/pre-push",
            "hooks/post-tag",
            "hooks/reference-transaction",
        ]);
        if self.release_toml {
            paths.push(config::FILE_NAME);
        }
        if self.workspace {
            paths.extend(["Cargo.toml", "Cargo.lock"]);
        }
        paths
    }
}

/// The edit that keeps the kit out of the sdist: `(file, new text, what it does)`, or `None`
/// for a backend `init` does not know.
fn exclusion(dir: &Path, d: &Detected, kit: &Kit) -> Result<Option<(String, String, String)>> {
    if d.backend == Backend::Setuptools {
        return manifest_in(dir, kit).map(Some);
    }
    let Some(SdistList {
        table,
        key,
        patterns,
    }) = sdist_list(d.backend, kit)
    else {
        return Ok(None);
    };
    let path = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&path).context("cannot read `pyproject.toml`")?;
    let new = add_to_toml_list(&text, table, key, patterns).with_context(|| {
        format!(
            "cannot add the release kit to `[{}] {key}` in `pyproject.toml`: add {} there yourself",
            table.join("."),
            kit.paths().join(", ")
        )
    })?;
    Ok(Some((
        "pyproject.toml".into(),
        new,
        format!(
            "the release kit is kept out of the sdist (`[{}] {key}`)",
            table.join(".")
        ),
    )))
}

/// The array in `pyproject.toml` through which a backend leaves files out of its sdist.
struct SdistList {
    table: &'static [&'static str],
    key: &'static str,
    patterns: Vec<toml_edit::Value>,
}

/// The kit's patterns in the list the backend reads, or `None` for a backend without one.
fn sdist_list(backend: Backend, kit: &Kit) -> Option<SdistList> {
    let list = |table, key, patterns| {
        Some(SdistList {
            table,
            key,
            patterns,
        })
    };
    let paths = kit.paths();
    match backend {
        // Git-style patterns; a leading `/` anchors them at the project root, and `exclude`
        // wins over everything else.
        // https://hatch.pypa.io/latest/config/build/#patterns
        Backend::Hatchling => list(
            &["tool", "hatch", "build", "targets", "sdist"],
            "exclude",
            paths.iter().map(|p| format!("/{p}").into()).collect(),
        ),
        // Paths relative to the project root; excluding a folder excludes what is in it.
        // https://flit.pypa.io/en/stable/pyproject_toml.html#sdist-section
        Backend::Flit => list(
            &["tool", "flit", "sdist"],
            "exclude",
            paths.iter().map(|p| (*p).into()).collect(),
        ),
        // Globs relative to the project root, matched against files.
        // https://python-poetry.org/docs/pyproject/#exclude-and-include
        Backend::Poetry => list(
            &["tool", "poetry"],
            "exclude",
            paths.iter().map(|p| file_glob(p).into()).collect(),
        ),
        // Globs from the project root; a folder is excluded with everything in it.
        // https://backend.pdm-project.org/build_config/#include-or-exclude-files
        Backend::Pdm => list(
            &["tool", "pdm", "build"],
            "excludes",
            paths.iter().map(|p| (*p).into()).collect(),
        ),
        Backend::Maturin => list(&["tool", "maturin"], "exclude", maturin_patterns(&paths)),
        Backend::Setuptools | Backend::Other => None,
    }
}

/// A glob matching the files of a kit path: a folder's everything, else the file itself.
fn file_glob(path: &str) -> String {
    if Kit::is_folder(path) {
        format!("{path}/**/*")
    } else {
        path.to_string()
    }
}

/// maturin packs the files `cargo package --list` names for the crate and its path
/// dependencies, its `Cargo.lock`, `pyproject.toml` and the Python sources, plus what
/// `include` names, less what `exclude` names. `cargo package` leaves out a subfolder with a
/// `Cargo.toml` of its own, so `xtask/` (a workspace of its own) is not packed; it is excluded
/// all the same, as a guard. The project's own `Cargo.toml`, `Cargo.lock`, `src/` and cargo
/// config are its build's and stay. Patterns apply to the sdist only.
/// https://www.maturin.rs/config.html and
/// https://doc.rust-lang.org/cargo/reference/manifest.html#the-exclude-and-include-fields
fn maturin_patterns(paths: &[&str]) -> Vec<toml_edit::Value> {
    paths
        .iter()
        .filter(|p| !matches!(**p, "Cargo.toml" | "Cargo.lock"))
        .map(|p| {
            let mut pattern = toml_edit::InlineTable::new();
            pattern.insert("path", file_glob(p).into());
            pattern.insert("format", "sdist".into());
            toml_edit::Value::InlineTable(pattern)
        })
        .collect()
}

/// What setuptools' automatic discovery needs once the kit is in the tree.
enum Discovery {
    /// The project names its packages or modules, or uses a `src/` layout: nothing to do.
    Explicit,
    /// `pyproject.toml` with the one package (or module) pinned, and what changed.
    Pin(String, String),
    /// Automatic discovery that `init` cannot pin for sure: say what to do.
    Unsure(String),
}

/// setuptools' automatic discovery in a flat layout takes every top-level folder whose name is
/// an identifier for a (namespace) package, so `xtask/` and `hooks/` make it stop with
/// "Multiple top-level packages discovered in a flat-layout". A project that relies on it gets
/// its one package pinned, which is what the discovery found before the kit arrived.
/// https://setuptools.pypa.io/en/latest/userguide/package_discovery.html#flat-layout
fn setuptools_discovery(dir: &Path) -> Result<Discovery> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let (pyproject, setup_cfg, setup_py) =
        (read("pyproject.toml"), read("setup.cfg"), read("setup.py"));
    let doc: DocumentMut = pyproject.parse().unwrap_or_default();
    let tool = doc.get("tool").and_then(|t| t.get("setuptools"));
    let named_in_pyproject =
        tool.is_some_and(|t| t.get("packages").is_some() || t.get("py-modules").is_some());
    let named_in_cfg = setup_cfg
        .lines()
        .map(|l| l.split('=').next().unwrap_or_default().trim())
        .any(|key| key == "packages" || key == "py_modules");
    let named_in_setup_py = ["packages=", "py_modules=", "packages =", "py_modules ="]
        .iter()
        .any(|k| setup_py.contains(k));
    if named_in_pyproject || named_in_cfg || named_in_setup_py || dir.join("src").is_dir() {
        return Ok(Discovery::Explicit);
    }
    let unsure = || {
        Discovery::Unsure(
            "setuptools finds this project's packages automatically, and `xtask/` and `hooks/` \
             now look like packages to it: name your packages (`[tool.setuptools] packages = [...]` \
             or `py-modules`), or the build stops with \"Multiple top-level packages discovered\""
                .into(),
        )
    };
    if doc.get("project").is_none() {
        return Ok(unsure()); // `[tool.setuptools]` is read only beside a `[project]` table
    }
    let (packages, modules) = top_level(dir)?;
    let (table, list, names): (&[&str], &str, Vec<String>) =
        match (packages.as_slice(), modules.as_slice()) {
            ([package], _) => (
                &["tool", "setuptools", "packages", "find"],
                "include",
                vec![package.clone(), format!("{package}.*")],
            ),
            ([], [module]) => (&["tool", "setuptools"], "py-modules", vec![module.clone()]),
            _ => return Ok(unsure()),
        };
    let text = add_to_toml_list(
        &pyproject,
        table,
        list,
        names.iter().map(|n| n.as_str().into()).collect(),
    )?;
    Ok(Discovery::Pin(
        text,
        format!(
            "setuptools' automatic discovery would take `xtask/` and `hooks/` for packages: \
             `[{}] {list}` now names {}",
            table.join("."),
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// What setuptools' flat-layout discovery would take at the top of `dir`: the packages (not
/// tests or docs) and the modules (not setup or task scripts).
fn top_level(dir: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let mut packages = Vec::new();
    let mut modules = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.join("__init__.py").is_file() && !matches!(name.as_str(), "tests" | "test" | "docs")
        {
            packages.push(name);
        } else if let Some(module) = name.strip_suffix(".py") {
            if path.is_file() && !matches!(module, "setup" | "conftest" | "noxfile" | "tasks") {
                modules.push(module.to_string());
            }
        }
    }
    Ok((packages, modules))
}

/// Appends the patterns missing from the array `key` in `table` (created when absent),
/// touching nothing else in the document.
fn add_to_toml_list(
    text: &str,
    table: &[&str],
    key: &str,
    patterns: Vec<toml_edit::Value>,
) -> Result<String> {
    let mut doc: DocumentMut = text.parse().context("`pyproject.toml` is not valid TOML")?;
    let mut current = doc.as_table_mut();
    for (i, part) in table.iter().enumerate() {
        let last = i + 1 == table.len();
        let item = current.entry(part).or_insert_with(|| {
            let mut t = Table::new();
            // Intermediate tables stay implicit: only `[tool.hatch.build.targets.sdist]` shows.
            t.set_implicit(!last);
            Item::Table(t)
        });
        current = item
            .as_table_mut()
            .with_context(|| format!("`{}` is not a table", table[..=i].join(".")))?;
    }
    let list = current
        .entry(key)
        .or_insert_with(|| value(Array::new()))
        .as_array_mut()
        .with_context(|| format!("`{}.{key}` is not an array", table.join(".")))?;
    let key_of = |v: &toml_edit::Value| -> Option<String> {
        match v {
            toml_edit::Value::InlineTable(t) => t.get("path")?.as_str().map(str::to_string),
            v => v.as_str().map(str::to_string),
        }
    };
    let present: Vec<String> = list.iter().filter_map(key_of).collect();
    let new: Vec<toml_edit::Value> = patterns
        .into_iter()
        .filter(|p| key_of(p).is_some_and(|k| !present.contains(&k)))
        .collect();
    if new.is_empty() {
        return Ok(doc.to_string());
    }
    let (first, others) = multiline_prefixes(list).unwrap_or_else(|| (" ".into(), " ".into()));
    for (i, pattern) in new.into_iter().enumerate() {
        let prefix = if i == 0 { &first } else { &others };
        list.push_formatted(pattern.decorated(prefix.as_str(), ""));
    }
    // The first element carries no leading space.
    if let Some(first) = list.get_mut(0) {
        if first.decor().prefix().and_then(|p| p.as_str()) == Some(" ") {
            first.decor_mut().set_prefix("");
        }
    }
    Ok(doc.to_string())
}

/// For an array written one entry per line (or an empty one spread over lines), the prefixes
/// that put new entries so, at its entries' indent: the first one's, right after the last
/// entry's line (that line's comment stays on it), and the others'. Moves what followed the
/// last entry into them, and leaves the lines before `]` as they were. `None` for an array
/// on one line.
fn multiline_prefixes(list: &mut Array) -> Option<(String, String)> {
    let text = |raw: Option<&toml_edit::RawString>| {
        raw.and_then(|t| t.as_str()).unwrap_or_default().to_string()
    };
    let prefixes: Vec<String> = list.iter().map(|v| text(v.decor().prefix())).collect();
    let trailing = text(Some(list.trailing()));
    let spread =
        prefixes.iter().any(|p| p.contains('\n')) || (list.is_empty() && trailing.contains('\n'));
    if !spread {
        return None;
    }
    let leading_spaces = |line: &str| line[..line.len() - line.trim_start().len()].to_string();
    let indent = prefixes
        .iter()
        .rev()
        .find(|p| p.contains('\n'))
        .and_then(|p| p.rsplit('\n').next().map(str::to_string))
        .or_else(|| {
            let lines = trailing.lines().filter(|l| !l.trim().is_empty());
            lines.map(leading_spaces).find(|i| !i.is_empty())
        })
        .unwrap_or_else(|| "    ".into());
    let others = format!("\n{indent}");
    let Some(last) = list.len().checked_sub(1) else {
        // An empty array: the entries after its comment lines, before `]`'s line.
        let (head, bracket) = trailing.rsplit_once('\n').unwrap_or(("", ""));
        list.set_trailing(format!("\n{bracket}"));
        return Some((format!("{head}\n{indent}"), others));
    };
    let entry = list.get_mut(last).expect("the last entry");
    let after = format!("{}{trailing}", text(entry.decor().suffix()));
    entry.decor_mut().set_suffix("");
    let Some((same_line, rest)) = after.split_once('\n') else {
        // `]` on the last entry's line: the new entries on lines of their own, `]` after them.
        list.set_trailing(after);
        return Some((format!("\n{indent}"), others));
    };
    let same_line = if same_line.trim().is_empty() {
        ""
    } else {
        same_line
    };
    list.set_trailing(format!("\n{rest}"));
    Some((format!("{same_line}\n{indent}"), others))
}

/// `MANIFEST.in` with `prune`/`exclude` lines for the kit. setuptools applies MANIFEST.in
/// after the file finders, setuptools-scm's (every tracked file) included, so these lines
/// win: https://setuptools.pypa.io/en/latest/userguide/miscellaneous.html and
/// https://setuptools-scm.readthedocs.io/en/latest/usage/#file-finders-hook-makes-most-of-manifestin-unnecessary
fn manifest_in(dir: &Path, kit: &Kit) -> Result<(String, String, String)> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.in")).unwrap_or_default();
    let present: Vec<&str> = text.lines().map(str::trim).collect();
    let wanted: Vec<String> = kit
        .paths()
        .iter()
        .map(|p| match Kit::is_folder(p) {
            true => format!("prune {p}"),
            false => format!("exclude {p}"),
        })
        .filter(|line| !present.contains(&line.as_str()))
        .collect();
    let mut out = text.clone();
    if !wanted.is_empty() {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("# twostage's release kit (`cargo xtask init`) stays out of the sdist.\n");
        for line in wanted {
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok((
        "MANIFEST.in".into(),
        out,
        "the release kit is kept out of the sdist (`prune`/`exclude` lines)".into(),
    ))
}

/// `.cargo/config.toml` with the `xtask` alias: `run --package xtask --` in the kit's root
/// workspace, `run --manifest-path xtask/Cargo.toml --` when `xtask/` is a workspace of its
/// own (cargo resolves that path from the current folder, so it runs from the top folder).
/// https://doc.rust-lang.org/cargo/reference/config.html#alias
fn cargo_config(dir: &Path, kit: &Kit) -> Result<String> {
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
    // Not `--quiet`: the first `cargo xtask` compiles for minutes, and cargo's progress is the
    // only sign of life then (rust-analyzer's alias is the same).
    let wanted = match kit.workspace {
        true => XTASK_ALIAS,
        false => XTASK_ALIAS_OWN_WORKSPACE,
    };
    let written_before = alias
        .get("xtask")
        .and_then(|a| a.as_str())
        .is_some_and(|a| {
            [
                "run --quiet --package xtask --",
                XTASK_ALIAS,
                XTASK_ALIAS_OWN_WORKSPACE,
            ]
            .contains(&a)
        });
    if alias.get("xtask").is_none() || written_before {
        alias.insert("xtask", value(wanted));
    }
    Ok(doc.to_string())
}

/// The alias in the kit's root workspace.
const XTASK_ALIAS: &str = "run --package xtask --";
/// The alias when `xtask/` is a workspace of its own.
const XTASK_ALIAS_OWN_WORKSPACE: &str = "run --manifest-path xtask/Cargo.toml --";

/// `xtask/Cargo.toml`. One that an earlier `init` wrote, with an absolute path (which builds
/// only on the machine that ran it) or with the same dependency in the other layout (a member
/// of the root workspace, or a workspace of its own), is rewritten in place rather than
/// reported as a conflict.
fn xtask_write(dir: &Path, dependency: &Dependency, kit: &Kit) -> Write {
    let own = !kit.workspace;
    let text = xtask_manifest(dependency, own);
    let existing = std::fs::read_to_string(dir.join("xtask/Cargo.toml")).unwrap_or_default();
    let line = existing
        .lines()
        .find(|l| l.starts_with("twostage = "))
        .unwrap_or_default();
    let absolute = line
        .strip_prefix("twostage = { path = \"")
        .and_then(|rest| rest.split('"').next())
        .is_some_and(|path| Path::new(path).is_absolute());
    let written_by_init = [false, true].into_iter().any(|own| {
        let dependency = Dependency {
            line: line.to_string(),
            path: None,
            published: false,
            docs: String::new(),
        };
        existing == xtask_manifest(&dependency, own)
    });
    let ours = written_by_init && (absolute || line == dependency.line);
    let what = match absolute {
        true => format!("the absolute path is replaced by `{}`", dependency.line),
        false if own => "`xtask/` is a workspace of its own now".into(),
        false => "`xtask` is a member of the root workspace now".into(),
    };
    Write {
        path: "xtask/Cargo.toml".into(),
        merged: ours,
        what: ours.then_some(what),
        text,
    }
}

/// The kit's crate; with `own_workspace`, a workspace of its own (an empty `[workspace]`
/// table makes `xtask/` the root, so cargo never looks for a workspace above it).
/// https://doc.rust-lang.org/cargo/reference/workspaces.html#root-package
fn xtask_manifest(dependency: &Dependency, own_workspace: bool) -> String {
    let workspace = match own_workspace {
        true => "\n# A workspace of its own: the release kit stays out of the project's Cargo workspace\n# and its `Cargo.lock`.\n[workspace]\n",
        false => "",
    };
    format!(
        "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n{}\n{workspace}",
        dependency.line
    )
}

/// The warning for a project whose own `Cargo.toml` still lists `xtask` as a workspace
/// member, as an earlier `init` wrote it: cargo refuses two workspace roots for one crate.
fn earlier_member(dir: &Path) -> Option<String> {
    let doc: DocumentMut = std::fs::read_to_string(dir.join("Cargo.toml"))
        .ok()?
        .parse()
        .ok()?;
    let members = doc.get("workspace")?.get("members")?.as_array()?;
    let listed = members.iter().any(|m| m.as_str() == Some("xtask"));
    listed.then(|| {
        "`Cargo.toml` lists `xtask` in `[workspace] members`, as an earlier `init` wrote it: \
         remove it there (and run `cargo metadata` so that `Cargo.lock` drops twostage's \
         packages); `xtask/` is now a workspace of its own"
            .to_string()
    })
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

/// The tables' prefix in `pyproject.toml`.
const TABLE_PREFIX: &str = "tool.twostage.";

/// `pyproject.toml`'s text with `[tool.twostage]` (`tables`) added at its end: every byte of
/// the text before it stays as it was. The result is parsed back, so that a `tool` written as
/// an inline table (which no table may extend, https://toml.io/en/v1.0.0#inline-table) is an
/// error here rather than a broken manifest.
fn with_table(text: &str, tables: &str) -> Result<String> {
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(tables);
    let doc: DocumentMut = out.parse().map_err(|_| {
        anyhow::anyhow!(
            "cannot add `[tool.twostage]` to `pyproject.toml`: the result is not valid TOML \
             (is `tool` an inline table?); write the configuration into `[tool.twostage]` by hand"
        )
    })?;
    doc.get("tool")
        .and_then(|t| t.get("twostage"))
        .and_then(Item::as_table_like)
        .context("`[tool.twostage]` did not land in `pyproject.toml`: add it by hand")?;
    Ok(out)
}

/// The configuration `init` writes, its tables named after `prefix` (`""` in `release.toml`,
/// `tool.twostage.` in `pyproject.toml`).
fn config_text(d: &Detected, prefix: &str, docs: &str) -> String {
    let quoted = |s: &str| toml_edit::Value::from(s).to_string();
    let mut out = String::new();
    if !prefix.is_empty() {
        out.push_str("[tool.twostage]\n");
    }
    out.push_str(&format!(
        "# twostage configuration: every key is described in {docs}.\n"
    ));
    out.push_str(&format!(
        "# Every key is optional; TWOSTAGE_<SECTION>_<KEY> overrides any of them.\n\n[{prefix}package]\n"
    ));
    if let Some(name) = &d.name {
        out.push_str(&format!("name = {}\n", quoted(name)));
    }
    match d.vcs {
        Some(tool) => out.push_str(&format!(
            "# The version comes from the git tag ({}): no file is bumped.\n",
            tool.as_str()
        )),
        None if !d.version_files.is_empty() => {
            let files: Vec<String> = d.version_files.iter().map(|f| quoted(f)).collect();
            out.push_str(&format!("version-files = [{}]\n", files.join(", ")));
        }
        None => {}
    }
    if let Some(changelog) = &d.changelog {
        out.push_str(&format!("changelog = {}\n", quoted(changelog)));
    }
    if let Some(changelog) = &d.changelog_not_rolled {
        out.push_str(&format!(
            "# `{changelog}` is not in Keep a Changelog form: `release` does not roll it.\n"
        ));
    }
    if d.branch.is_some() || d.tag_prefix.is_some() {
        out.push_str(&format!("\n[{prefix}git]\n"));
    }
    if let Some(branch) = &d.branch {
        out.push_str(&format!(
            "# The branch releases are made from.\nbranch = {}\n",
            quoted(branch)
        ));
    }
    if let Some(tag_prefix) = &d.tag_prefix {
        out.push_str(&format!(
            "# The prefix of the project's existing release tags.\ntag-prefix = {}\n",
            quoted(tag_prefix)
        ));
    }
    out.push_str(&format!("\n[{prefix}verify]\n"));
    if let Some(module) = &d.module {
        out.push_str(&format!(
            "smoke = [\"python -c 'import {module}; print({module}.__name__)'\"]\n"
        ));
    } else {
        out.push_str(
            "# No import name was found in the sources: without `smoke`, verification imports\n\
             # the top-level names of the built wheel (`release` says which). Name the package\n\
             # to import here to pin it, e.g. smoke = [\"python -c 'import your_package'\"].\n",
        );
    }
    if let Some(repository) = &d.github {
        out.push_str(&format!(
            "\n[{prefix}github]\nrepository = {}\n",
            quoted(repository)
        ));
    }
    out
}

/// The configuration text of a repository of several packages: without its `[package]`
/// table nor its `[verify]` table (which holds only the smoke test), which each
/// `[[packages]]` entry has of its own; every other line stays.
fn repository_tables(text: &str, prefix: &str) -> String {
    let mut sections: Vec<(Option<&str>, String)> = vec![(None, String::new())];
    for line in text.split_inclusive('\n') {
        if line.starts_with('[') {
            sections.push((Some(line.trim_end()), String::new()));
        }
        if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
        }
    }
    let package = format!("[{prefix}package]");
    let verify = format!("[{prefix}verify]");
    sections
        .into_iter()
        .filter(|(header, _)| header.is_none_or(|h| h != package && h != verify))
        .map(|(_, body)| body)
        .collect::<String>()
        .trim_end()
        .to_string()
        + "\n"
}

/// Finds where the project keeps its name, its version, its changelog, its import name, its
/// release branch and its GitHub repository, and which build backend packs its sdist.
pub fn detect(dir: &Path) -> Result<Detected> {
    let src = Sources::read(dir)?;
    let mut d = Detected::default();
    let name = src.name();
    let build = Build::read(dir)?;
    d.backend_name = build.backend_name.clone();
    d.backend = build.backend;
    d.vcs = build.vcs;
    let module = Module::of(dir, name.as_deref(), &build);
    version_of_record(dir, &src, &module, &mut d);
    changelog(dir, &mut d);
    d.module = module.name.clone().filter(|_| module.importable);
    if d.module.is_none() {
        d.warnings
            .push(no_import_name(dir, name.as_deref(), Home::of(dir)));
    }
    // The name goes into the configuration only when no manifest declares it.
    d.name = if src.manifest_name().is_none() {
        name
    } else {
        None
    };
    d.branch = git::head_branch_in(dir)
        .ok()
        .filter(|b| !b.is_empty() && b != "main");
    d.github = git::remote_url_in(dir, "origin")
        .ok()
        .and_then(|url| git::github_repository(&url));
    let tags = git::tags_in(dir).unwrap_or_default();
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    // `-prod`: the default `git.prod-suffix`, which a configuration not yet written has.
    d.tagged = project::tag_prefix(&tags, "-prod").is_some();
    let prefix = project::settled_prefix(None, &tags, "-prod");
    // What `release` would refuse, said now: the VCS tool cannot read tags spelled so.
    d.warnings.extend(build.unread_tag_prefix(&prefix));
    d.tag_prefix = Some(prefix).filter(|p| p != "v");
    // Tracked or about to be (untracked, not ignored): a crate in a subfolder counts too.
    let cargo_manifests = git::files_in(dir, &["Cargo.toml", "*/Cargo.toml"]).unwrap_or_default();
    d.rust = d.backend == Backend::Maturin
        || !kit_workspace(dir)
        || cargo_manifests
            .iter()
            .any(|path| !matches!(path.as_str(), "Cargo.toml" | "xtask/Cargo.toml"));
    Ok(d)
}

/// What the project's build files say, read once: `pyproject.toml`, `setup.py`, `setup.cfg`.
struct Sources {
    pyproject: Option<DocumentMut>,
    setup_py: Option<String>,
    setup_cfg: Option<String>,
}

impl Sources {
    fn read(dir: &Path) -> Result<Sources> {
        let read = |path: &str| std::fs::read_to_string(dir.join(path)).ok();
        let pyproject = match read("pyproject.toml") {
            Some(text) => Some(text.parse().context("`pyproject.toml` is not valid TOML")?),
            None => None,
        };
        Ok(Sources {
            pyproject,
            setup_py: read("setup.py"),
            setup_cfg: read("setup.cfg"),
        })
    }

    /// The item at a dotted path of `pyproject.toml`.
    fn get(&self, path: &[&str]) -> Option<&Item> {
        let mut item = self.pyproject.as_ref()?.as_item();
        for p in path {
            item = item.as_table_like()?.get(p)?;
        }
        Some(item)
    }

    fn str_at(&self, path: &[&str]) -> Option<String> {
        self.get(path).and_then(|i| i.as_str().map(str::to_string))
    }

    /// The name `pyproject.toml` declares.
    fn manifest_name(&self) -> Option<String> {
        self.str_at(&["project", "name"])
            .or_else(|| self.str_at(&["tool", "poetry", "name"]))
    }

    /// A project whose pyproject.toml holds no metadata (often only `[build-system]`) keeps
    /// it in setup.py and setup.cfg.
    fn setup_driven(&self) -> bool {
        self.get(&["project"]).is_none() && self.get(&["tool", "poetry"]).is_none()
    }

    /// The distribution name, from `pyproject.toml`, else `setup.py`, else `setup.cfg`.
    fn name(&self) -> Option<String> {
        self.manifest_name()
            .or_else(|| manifest::setup_name(self.setup_py.as_deref(), self.setup_cfg.as_deref()))
    }

    /// `version` is in `project.dynamic`.
    fn dynamic_version(&self) -> bool {
        self.get(&["project", "dynamic"])
            .and_then(|i| i.as_array())
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("version")))
    }

    fn static_version(&self) -> Option<String> {
        self.str_at(&["project", "version"])
            .or_else(|| self.str_at(&["tool", "poetry", "version"]))
    }

    /// `[tool.setuptools.dynamic] version = { attr = "pkg.__version__" }`.
    fn setuptools_attr(&self) -> Option<String> {
        self.get(&["tool", "setuptools", "dynamic", "version"])?
            .as_table_like()?
            .get("attr")?
            .as_str()
            .map(str::to_string)
    }
}

/// The module named after the project, its file, and its `__version__` when that is a literal
/// a release can bump (not a lookup at import time).
struct Module {
    name: Option<String>,
    /// `name` is a module of the project's: it has a file, or maturin compiles it.
    importable: bool,
    file: Option<String>,
    literal: Option<String>,
}

impl Module {
    /// The import name the shared reading finds (`project::import_name`), and its
    /// `__version__` literal.
    fn of(dir: &Path, project: Option<&str>, build: &Build) -> Module {
        let found = project::import_name(dir, project, build);
        let literal = found
            .file
            .as_deref()
            .and_then(|f| std::fs::read_to_string(dir.join(f)).ok())
            .and_then(|t| manifest::keyword_literal(&t, "__version__"));
        Module {
            importable: found.importable,
            name: found.name,
            file: found.file,
            literal,
        }
    }
}

/// The warning that `init` found no package to import in the smoke test.
fn no_import_name(dir: &Path, name: Option<&str>, home: Home) -> String {
    let offered = project::importable(dir);
    let why = match (name, offered.as_slice()) {
        (_, [_, _, ..]) => format!("the sources offer several ({})", offered.join(", ")),
        (Some(name), _) => format!("no package or module is named after `{name}`"),
        (None, _) => "the project's name is unknown".to_string(),
    };
    format!(
        "found no import name for the smoke test in the sources ({why}): `verify.smoke` is \
         left unset, so verification imports the top-level names of the built wheel, which \
         `release` names after its build; to pin it, set `smoke` in {}, e.g. \
         `smoke = [\"python -c 'import your_package'\"]`",
        home.verify_table()
    )
}

/// Where the version is kept: the release tags (a VCS plugin), or the files a release bumps,
/// the version of record first.
fn version_of_record(dir: &Path, src: &Sources, module: &Module, d: &mut Detected) {
    if d.vcs.is_none() {
        let record = version_files(dir, src, module, &mut d.version_files);
        d.warnings
            .extend(lockstep_module(src, module, record, &mut d.version_files));
    }
    // A maturin project keeps the version in Cargo.toml: the record itself when the
    // pyproject version is dynamic, else bumped in lockstep.
    if d.backend == Backend::Maturin && dir.join("Cargo.toml").exists() {
        let at = if src.dynamic_version() {
            0
        } else {
            d.version_files.len()
        };
        d.version_files.insert(at, "Cargo.toml".into());
    }
}

/// The files that hold the version, in `files`; returns the version they say, when read.
fn version_files(
    dir: &Path,
    src: &Sources,
    module: &Module,
    files: &mut Vec<String>,
) -> Option<String> {
    let record = src.static_version();
    if let Some(path) = src.str_at(&["tool", "hatch", "version", "path"]) {
        files.push(path);
    } else if let Some(attr) = src.setuptools_attr() {
        if let Some(found) = project::module_file(dir, &attr) {
            files.push(found);
        }
    } else if src.setup_driven() {
        return setup_version_files(dir, src, module, files, record);
    } else if src.dynamic_version() && module.literal.is_some() {
        // flit's module version.
        files.push(module.file.clone().unwrap_or_default());
        return module.literal.clone();
    }
    record
}

/// The version setuptools reads: a literal in setup.py, then setup.cfg's `version` (a
/// literal, or `attr:` naming the module), then the module's `__version__`.
fn setup_version_files(
    dir: &Path,
    src: &Sources,
    module: &Module,
    files: &mut Vec<String>,
    mut record: Option<String>,
) -> Option<String> {
    if let Some(v) = src
        .setup_py
        .as_deref()
        .and_then(|t| manifest::keyword_literal(t, "version"))
    {
        files.push("setup.py".into());
        record = Some(v);
    }
    match src
        .setup_cfg
        .as_deref()
        .and_then(|t| manifest::cfg_value(t, "metadata", "version"))
    {
        Some(v) if v.starts_with("attr:") => {
            if let Some(found) = project::module_file(dir, v["attr:".len()..].trim()) {
                if !files.contains(&found) {
                    files.push(found);
                }
            }
        }
        Some(v) if v.starts_with("file:") || v.is_empty() => {}
        Some(v) if record.is_none() => {
            files.push("setup.cfg".into());
            record = Some(v);
        }
        Some(_) => {}
        None => {}
    }
    if files.is_empty() && module.literal.is_none() && src.setup_py.is_some() {
        files.push("setup.py".into());
    }
    record
}

/// The module's `__version__`, when it is a literal, moves in lockstep with the version of
/// record (or is the record itself when nothing else holds one). Returns the warning when it
/// disagrees with the record.
fn lockstep_module(
    src: &Sources,
    module: &Module,
    record: Option<String>,
    files: &mut Vec<String>,
) -> Option<String> {
    let (Some(file), Some(literal)) = (&module.file, &module.literal) else {
        return None;
    };
    let listed = files.contains(file);
    match &record {
        _ if listed => {}
        None if src.setup_driven() => files.push(file.clone()),
        Some(v) if v == literal => files.push(file.clone()),
        Some(v) => {
            return Some(format!(
                "`{file}` says `__version__ = \"{literal}\"` but the version is `{v}`: \
                 it is not bumped; make them agree and add it to `package.version-files`"
            ))
        }
        None => {}
    }
    None
}

/// The changelog files `init` looks for, in this order.
const CHANGELOGS: &[&str] = &[
    "CHANGELOG.md",
    "CHANGES.md",
    "HISTORY.md",
    "NEWS.md",
    "CHANGELOG.rst",
    "CHANGES.rst",
    "HISTORY.rst",
    "NEWS.rst",
    "CHANGELOG",
    "CHANGES",
    "CHANGES.txt",
    "NEWS",
];

/// The project's changelog when it is not the default, and whether `release` can roll it.
fn changelog(dir: &Path, d: &mut Detected) {
    let Some(changelog) = CHANGELOGS.iter().find(|c| dir.join(c).is_file()) else {
        return;
    };
    if *changelog != "CHANGELOG.md" {
        d.changelog = Some(changelog.to_string());
    }
    let text = std::fs::read_to_string(dir.join(changelog)).ok();
    if !text.is_some_and(|t| crate::resources::changelog::is_keep_a_changelog(&t)) {
        d.changelog_not_rolled = Some(changelog.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("twostage-init-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn the_verify_matrix_holds_the_pythons_requires_python_admits() {
        let versions = |spec: &str| {
            let text = format!("[project]\nname = \"x\"\nrequires-python = \"{spec}\"\n");
            let dir = project("pythons", &[("pyproject.toml", &text)]);
            python_versions(&dir).map_err(|e| format!("{e:#}"))
        };
        assert_eq!(versions(">=3.11").unwrap(), ["3.11", "3.12", "3.13"]);
        assert_eq!(versions(">=3.8,<3.11").unwrap(), ["3.9", "3.10"]);
        assert_eq!(
            versions("~=3.10").unwrap(),
            ["3.10", "3.11", "3.12", "3.13"]
        );
        assert!(versions(">=4").unwrap_err().contains("admits none"));
        let none = project(
            "no-pythons",
            &[("pyproject.toml", "[project]\nname = \"x\"\n")],
        );
        assert_eq!(python_versions(&none).unwrap(), CPYTHONS);
    }

    #[test]
    fn a_workflow_init_wrote_is_recognised_and_an_edited_one_is_not() {
        for template in [WORKFLOW, WORKFLOW_NATIVE] {
            let written = template.replace(PYTHONS, "[\"3.12\"]");
            assert!(written_by_init(&written, template));
            let edited = written.replace("cancel-in-progress: false", "cancel-in-progress: true");
            assert!(!written_by_init(&edited, template));
            let two_lines = template.replace(PYTHONS, "[\"3.12\"]\n        extra: [1]");
            assert!(!written_by_init(&two_lines, template));
        }
        // The templates before the split (sha256 of their bytes as released).
        assert!(!written_by_init("name: release\n", WORKFLOW));
    }

    #[test]
    fn closed_sets_round_trip() {
        assert_eq!(
            VcsTool::ALL.map(VcsTool::as_str),
            ["hatch-vcs", "setuptools-scm", "pdm-scm"]
        );
        for ci in Ci::ALL {
            assert_eq!(Ci::parse(ci.as_str()), Some(ci));
        }
        assert_eq!(Ci::parse("gitlab"), None);
    }

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        let rel = relative_path(Path::new("/a/b/repo/xtask"), Path::new("/a/c/twostage"));
        assert_eq!(rel, Path::new("../../../c/twostage"));
        assert_eq!(
            relative_path(
                Path::new("/a/repo/xtask"),
                Path::new("/a/repo/vendor/twostage")
            ),
            Path::new("../vendor/twostage")
        );
    }

    #[test]
    fn toml_lists_are_extended_in_place_and_only_once() {
        let before = "[project]\nname = \"x\"  # ours\n\n[tool.hatch.build.targets.sdist]\nexclude = [\"/docs\"]  # keep\n";
        let patterns = || -> Vec<toml_edit::Value> { vec!["/xtask".into(), "/docs".into()] };
        let table = &["tool", "hatch", "build", "targets", "sdist"];
        let after = add_to_toml_list(before, table, "exclude", patterns()).unwrap();
        assert_eq!(
            after,
            "[project]\nname = \"x\"  # ours\n\n[tool.hatch.build.targets.sdist]\nexclude = [\"/docs\", \"/xtask\"]  # keep\n"
        );
        assert_eq!(
            add_to_toml_list(&after, table, "exclude", patterns()).unwrap(),
            after
        );
        let created =
            add_to_toml_list("[project]\nname = \"x\"\n", table, "exclude", patterns()).unwrap();
        assert_eq!(
            created,
            "[project]\nname = \"x\"\n\n[tool.hatch.build.targets.sdist]\nexclude = [\"/xtask\", \"/docs\"]\n"
        );
        // An array of one entry per line, with or without a trailing comma, keeps its shape.
        for (before, after) in [
            (
                "[t]\nexclude = [\n  \"/.github\",\n  \"/docs\",\n]\n",
                "[t]\nexclude = [\n  \"/.github\",\n  \"/docs\",\n  \"/xtask\",\n]\n",
            ),
            (
                "[t]\nexclude = [\n    \"/.github\",\n    \"/docs\"  # ours\n]\n",
                "[t]\nexclude = [\n    \"/.github\",\n    \"/docs\",  # ours\n    \"/xtask\"\n]\n",
            ),
            // A comment after the trailing comma stays on its entry's line.
            (
                "[t]\nexclude = [\n  \"/docs\",  # ours\n]\n",
                "[t]\nexclude = [\n  \"/docs\",  # ours\n  \"/xtask\",\n]\n",
            ),
            // `]` indented, and comment lines after the last entry, stay where they were.
            (
                "[t]\nexclude = [\n    \"/docs\"\n    # \"/old\",\n  ]\n",
                "[t]\nexclude = [\n    \"/docs\",\n    \"/xtask\"\n    # \"/old\",\n  ]\n",
            ),
            // Two entries on a line: the indent of the line they start.
            (
                "[t]\nexclude = [\n  \"/a\", \"/docs\",\n]\n",
                "[t]\nexclude = [\n  \"/a\", \"/docs\",\n  \"/xtask\",\n]\n",
            ),
            // `]` on the last entry's line stays after the last one.
            (
                "[t]\nexclude = [\n  \"/a\", \"/docs\" ]\n",
                "[t]\nexclude = [\n  \"/a\", \"/docs\",\n  \"/xtask\" ]\n",
            ),
            // Empty over several lines: the entries after its comment, before `]`.
            (
                "[t]\nexclude = [\n  # none yet\n]\n",
                "[t]\nexclude = [\n  # none yet\n  \"/xtask\",\n  \"/docs\"\n]\n",
            ),
            (
                "[t]\nexclude = [\n]\n",
                "[t]\nexclude = [\n    \"/xtask\",\n    \"/docs\"\n]\n",
            ),
        ] {
            let extended = add_to_toml_list(before, &["t"], "exclude", patterns()).unwrap();
            assert_eq!(extended, after);
            assert!(extended.parse::<DocumentMut>().is_ok());
        }
        let err = add_to_toml_list(
            "[tool.hatch.build.targets.sdist]\nexclude = \"x\"\n",
            table,
            "exclude",
            patterns(),
        );
        assert!(format!("{:#}", err.unwrap_err()).contains("not an array"));
    }

    #[test]
    fn a_project_with_rust_of_its_own_gets_the_kit_as_a_workspace_of_its_own() {
        let dir = project(
            "rust-own",
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"ext\"\nversion = \"1.0.0\"\n",
                ),
                (
                    ".cargo/config.toml",
                    "[alias]\nxtask = \"run --package xtask --\"\n",
                ),
            ],
        );
        let detected = Detected {
            rust: true,
            ..Detected::default()
        };
        let kit = Kit::of(&dir, &detected);
        assert!(!kit.workspace && !kit.paths().contains(&"Cargo.lock"));
        // The alias an earlier init wrote moves to the kit's own manifest.
        assert_eq!(
            cargo_config(&dir, &kit).unwrap(),
            "[alias]\nxtask = \"run --manifest-path xtask/Cargo.toml --\"\n"
        );
        // An xtask/Cargo.toml an earlier init wrote (a member) is rewritten, not a conflict.
        let dependency = Dependency {
            line: "twostage = \"0.1.0\"".into(),
            path: None,
            published: true,
            docs: String::new(),
        };
        let earlier = xtask_manifest(&dependency, false);
        std::fs::create_dir_all(dir.join("xtask")).unwrap();
        std::fs::write(dir.join("xtask/Cargo.toml"), &earlier).unwrap();
        let write = xtask_write(&dir, &dependency, &kit);
        assert!(write.merged, "{}", write.text);
        assert!(write.text.starts_with(&earlier), "{}", write.text);
        assert!(write.text.ends_with("\n[workspace]\n"), "{}", write.text);
        // One the maintainer edited stays a conflict.
        std::fs::write(dir.join("xtask/Cargo.toml"), earlier + "[features]\n").unwrap();
        assert!(!xtask_write(&dir, &dependency, &kit).merged);
        let python = Detected::default();
        // A project without Rust keeps the kit's root workspace.
        assert!(Kit::of(&project("python-only", &[]), &python).workspace);
    }

    #[test]
    fn manifest_in_gains_the_missing_lines_once() {
        let dir = project(
            "manifest",
            &[("MANIFEST.in", "include README.md\nprune xtask")],
        );
        let kit = Kit {
            workspace: true,
            cargo_config: true,
            release_toml: true,
        };
        let (_, text, _) = manifest_in(&dir, &kit).unwrap();
        assert!(
            text.starts_with("include README.md\nprune xtask\n# twostage"),
            "{text}"
        );
        assert_eq!(text.matches("prune xtask").count(), 1, "{text}");
        for line in [
            "prune .cargo",
            "exclude hooks/pre-push",
            "exclude release.toml",
            "exclude Cargo.lock",
        ] {
            assert!(text.contains(line), "{text}");
        }
        std::fs::write(dir.join("MANIFEST.in"), &text).unwrap();
        assert_eq!(manifest_in(&dir, &kit).unwrap().1, text);
    }

    #[test]
    fn setup_py_and_setup_cfg_projects_are_read() {
        let dir = project(
            "setup-literal",
            &[
                ("pyproject.toml", "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n"),
                ("setup.py", "from setuptools import setup\nsetup(name='odd-pkg', version='0.2.13', packages=['odd_pkg'])\n"),
                ("odd_pkg/__init__.py", "__version__ = '0.2.13'\n"),
                ("CHANGES.rst", "Changes\n=======\n\n0.2.13\n------\n"),
            ],
        );
        let d = detect(&dir).unwrap();
        assert_eq!(d.name.as_deref(), Some("odd-pkg"));
        assert_eq!(d.version_files, ["setup.py", "odd_pkg/__init__.py"]);
        assert_eq!(d.backend, Backend::Setuptools);
        assert_eq!(d.changelog.as_deref(), Some("CHANGES.rst"));
        assert_eq!(d.changelog_not_rolled.as_deref(), Some("CHANGES.rst"));

        let cfg = project(
            "setup-cfg",
            &[
                ("setup.py", "from setuptools import setup\nsetup()\n"),
                (
                    "setup.cfg",
                    "[metadata]\nname = cfg-pkg\nversion = attr: cfg_pkg.__version__\n",
                ),
                ("src/cfg_pkg/__init__.py", "__version__ = \"1.0\"\n"),
            ],
        );
        let d = detect(&cfg).unwrap();
        assert_eq!(d.name.as_deref(), Some("cfg-pkg"));
        assert_eq!(d.version_files, ["src/cfg_pkg/__init__.py"]);

        let literal = project(
            "setup-cfg-literal",
            &[
                ("setup.cfg", "[metadata]\nname = lit\nversion = 3.1\n"),
                ("lit.py", ""),
            ],
        );
        let d = detect(&literal).unwrap();
        assert_eq!(d.version_files, ["setup.cfg"]);
        assert_eq!(d.backend, Backend::Setuptools);
    }

    #[test]
    fn the_first_tag_of_a_vcs_versioned_project_and_the_tag_prefix_are_said() {
        let untagged = Detected {
            vcs: Some(VcsTool::HatchVcs),
            ..Detected::default()
        };
        let said = record_of(&untagged);
        assert!(
            said.contains("none yet") && said.contains("`cargo xtask release 0.1.0` tags `v0.1.0`"),
            "{said}"
        );
        let tagged = Detected {
            tagged: true,
            ..untagged
        };
        assert_eq!(
            record_of(&tagged),
            "the release tags (hatch-vcs): no file is bumped"
        );
        let unprefixed = Detected {
            tag_prefix: Some(String::new()),
            ..Detected::default()
        };
        let toml = config_text(&unprefixed, "", "");
        assert!(toml.contains("\n[git]\n"), "{toml}");
        assert!(toml.contains("\ntag-prefix = \"\"\n"), "{toml}");
        assert!(!config_text(&Detected::default(), "", "").contains("[git]"));
    }
}
