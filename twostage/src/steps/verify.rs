//! The `verify` stage: install what an index serves into fresh environments and smoke-test it,
//! on every interpreter the project supports.
//!
//! The interpreters are `verify.python`, or every one found on this machine that the project's
//! `requires-python` admits (the current one alone when it says nothing). For each kind in
//! `verify.artifacts` (the wheels and the sdist), the file *as served by the index* is
//! downloaded once and checked against the recorded sha256; then each file is installed on
//! each interpreter (a *cell*) into its own new virtual environment in its own folder, with
//! its dependencies from the production index only, its installed version compared with the
//! tag's, and every smoke command run under `sh -c` in a fresh empty directory. A cell the
//! interpreter cannot install (a wheel's tags, `requires-python`) is skipped with the reason,
//! neither verified nor failed. The cells run in parallel, as many at once as the machine has
//! cores. The record says "verified" only for the exact sha256 set that was installed, with
//! every cell beside it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::config::Config;
use crate::core::frozen;
use crate::core::index::{url_of, Index, Role};
use crate::core::siblings::{self, Ready};
use crate::error::UsageError;
use crate::output;
use crate::resolved::{self, Release};
use crate::resources::dist::{self, Kind};
use crate::resources::evidence::{
    self, ArtifactRecord, CellRecord, CommandRecord, Note, SiblingFile, Verdict, VerificationRun,
};
use crate::resources::git::Repo;
use crate::resources::index;
use crate::resources::project;
use crate::resources::pyenv::{self, Installer, Interpreter, Ran, Venv};

/// Prints the installed version of the distribution named by the first argument. Python before
/// 3.8 has no `importlib.metadata`: there the `.dist-info` folder on `sys.path` is read (its
/// name normalized as the binary distribution format says), so every interpreter that
/// `requires-python` admits can be checked.
const INSTALLED_VERSION: &str = r#"import os, re, sys
name = sys.argv[1]
try:
    import importlib.metadata as m
except ImportError:
    m = None
if m is not None:
    print(m.version(name))
    sys.exit(0)
key = lambda s: re.sub(r"[-_.]+", "_", s).lower()
for folder in sys.path:
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        continue
    for entry in entries:
        if entry.endswith(".dist-info") and key(entry[:-10].rsplit("-", 1)[0]) == key(name):
            for line in open(os.path.join(folder, entry, "METADATA")):
                if line.startswith("Version:"):
                    print(line.split(":", 1)[1].strip())
                    sys.exit(0)
sys.exit("no installed distribution `%s`" % name)
"#;

/// The result of one verification: the note's record of it, what failed, and every cell.
pub struct Verification {
    pub run: VerificationRun,
    pub failures: Vec<String>,
    /// Every file on every interpreter, in the order they were planned.
    pub cells: Vec<Cell>,
}

/// One file on one interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub filename: String,
    pub kind: Kind,
    pub sha256: String,
    /// The interpreter's version, `3.11.7`.
    pub python: String,
    pub outcome: Outcome,
}

/// What became of a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Verified,
    /// Why it failed, with the end of the failing command's output.
    Failed(String),
    /// Why this interpreter cannot install the file.
    Skipped(String),
}

impl Outcome {
    fn verdict(&self) -> Verdict {
        match self {
            Outcome::Verified => Verdict::Verified,
            Outcome::Failed(_) => Verdict::Failed,
            Outcome::Skipped(_) => Verdict::Skipped,
        }
    }
}

/// `cargo xtask verify <tag> [--production]`: verify again and record it.
pub fn run(repo: &Repo, config: &Config, tag: &str, role: Role) -> Result<()> {
    let release = resolved::tagged_release(repo, config, tag)?;
    // One run per repository at a time (docs/release.md, "One run at a time").
    let _lock =
        crate::resources::lock::hold(repo.common_dir(), crate::resources::lock::Wait::patient())?;
    let flag = if role == Role::Production {
        " --production"
    } else {
        ""
    };
    crate::interrupt::stand(
        &format!("verifying {tag} from {}", role.label()),
        "nothing was recorded or promoted",
        &format!("cargo xtask verify {tag}{flag}"),
    );
    evidence::sync(repo, &config.git.remote);
    let mut note = Note::read(repo, release.commit, tag)?
        .filter(|n| !n.artifacts().is_empty())
        .with_context(|| format!("{tag} has no release note with artifacts: stage it first (`cargo xtask stage {tag}`)"))?;
    let artifacts = note.artifacts();
    let index = Index::new(role, config);
    let verification = verify(repo, config, &release, &artifacts, &index)?;
    note.record(role.entry(verification.run));
    note.write(repo, release.commit)?;
    evidence::push(repo, &config.git.remote)?;
    finish(tag, role, &verification.failures)
}

/// `cargo xtask verify <tag> --results FILE [--dist DIR]`: verify as `run` does, but write
/// the result to `path` as a note fragment (the files and this verification) instead of the
/// note, and push nothing: a CI job without permissions hands it on to `record`. The files are
/// the frozen set in `dist` (checked like `stage --dist`) or, without it, the note's.
pub fn run_to_file(
    repo: &Repo,
    config: &Config,
    tag: &str,
    role: Role,
    dist: Option<&Path>,
    path: &Path,
) -> Result<()> {
    let release = resolved::tagged_release(repo, config, tag)?;
    let artifacts = match dist {
        Some(dir) => frozen::freeze_from(repo, &release, dir)?.artifacts,
        None => {
            evidence::sync(repo, &config.git.remote);
            Note::read(repo, release.commit, tag)?
                .map(|n| n.artifacts())
                .filter(|a| !a.is_empty())
                .with_context(|| format!("{tag} has no release note with artifacts: pass the frozen files with `--dist DIR`"))?
        }
    };
    let index = Index::new(role, config);
    let verification = verify(repo, config, &release, &artifacts, &index)?;
    let mut fragment = Note::new(tag, &release.version.to_string(), release.commit);
    fragment.set_artifacts(&artifacts);
    fragment.record(role.entry(verification.run));
    crate::resources::evidence::write_fragment(&fragment, path)?;
    finish(tag, role, &verification.failures)
}

/// Turns failures into the stage's error.
pub fn finish(tag: &str, role: Role, failures: &[String]) -> Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    bail!(
        "the verification of {tag} from {} failed:\n  - {}",
        role.label(),
        failures.join("\n  - ")
    )
}

/// One file to install: its kind, its record, and where the index serves it.
struct Job<'a> {
    kind: Kind,
    artifact: &'a ArtifactRecord,
    url: String,
}

/// What every cell shares: the release, the index, the installer, the interpreters.
struct Shared<'a> {
    config: &'a Config,
    release: &'a Release,
    index: &'a Index<'a>,
    installer: Installer,
    installer_version: String,
    interpreters: Vec<Interpreter>,
    /// The project's `requires-python`, as written and parsed.
    requires_python: Option<(String, pep440_rs::VersionSpecifiers)>,
    /// The smoke commands: `verify.smoke`, or when it is not set, the import of the wheel's
    /// top-level names (`default_smoke`).
    smoke: Vec<String>,
    /// The packages of the release set this one requires, each with its files as this index
    /// serves them, downloaded and checked (`download_siblings`), installed beside it.
    siblings: Vec<SiblingFiles>,
}

/// A sibling (`core::siblings`) and the files of it some cell installs: each with its path.
struct SiblingFiles {
    ready: Ready,
    files: Vec<(ArtifactRecord, PathBuf)>,
}

impl SiblingFiles {
    /// The file of the sibling an interpreter installs: the first wheel it accepts, else the
    /// sdist.
    fn pick<'a>(
        artifacts: &'a [ArtifactRecord],
        interpreter: &Interpreter,
    ) -> Option<&'a ArtifactRecord> {
        let of = |kind| {
            artifacts
                .iter()
                .filter(move |a| Kind::of(&a.filename) == Some(kind))
        };
        of(Kind::Wheel)
            .find(|a| interpreter.accepts_wheel(&a.filename))
            .or_else(|| of(Kind::Sdist).next())
    }
}

/// Where the files are verified.
struct Dirs {
    /// `verify-<label>` in the release's work directory, one directory per file under it and
    /// one per interpreter under that.
    work: PathBuf,
    /// A clean checkout of the release commit, for the smoke commands (`TWOSTAGE_REPO`).
    checkout: PathBuf,
}

impl<'a> Shared<'a> {
    /// Chooses the installer and the interpreters, and says what is verified with what.
    fn choose(
        config: &'a Config,
        release: &'a Release,
        index: &'a Index<'a>,
        checkout: &Path,
    ) -> Result<Shared<'a>> {
        let installer =
            Installer::choose(config.verify.installer).map_err(|e| UsageError(format!("{e:#}")))?;
        let requires_python = requires_python(&checkout.join(&config.package.manifest))?;
        // Only `verify.python` or `requires-python` choose among the interpreters found;
        // without either the current one is used, and the others are not asked.
        let found = if config.verify.python.is_empty() && requires_python.is_none() {
            pyenv::current_interpreter().into_iter().collect()
        } else {
            pyenv::interpreters()
        };
        let interpreters = choose_interpreters(
            &config.verify.python,
            requires_python.as_ref().map(|(_, s)| s),
            found,
        )?;
        let installer_version = pyenv::installer_version(&installer, &interpreters[0].python);
        let labels: Vec<&str> = interpreters.iter().map(|i| i.version.as_str()).collect();
        output::status(
            "Verifying",
            format!(
                "{} from {} with {installer_version} on Python {}",
                release.tag,
                index.label(),
                labels.join(", ")
            ),
        );
        Ok(Shared {
            config,
            release,
            index,
            installer,
            installer_version,
            interpreters,
            requires_python,
            smoke: config.verify.smoke.clone(),
            siblings: Vec::new(),
        })
    }

    fn label(&self) -> &'static str {
        self.index.label()
    }

    fn index_url(&self) -> &str {
        self.index.url()
    }

    /// Why `interpreter` cannot install the file, if it cannot.
    fn cannot_install(&self, job: &Job, interpreter: &Interpreter) -> Option<String> {
        if let Some((written, specifiers)) = &self.requires_python {
            let version = interpreter.version.parse::<pep440_rs::Version>().ok()?;
            if !specifiers.contains(&version) {
                return Some(format!(
                    "`requires-python = \"{written}\"` excludes {}",
                    interpreter.label()
                ));
            }
        }
        let filename = &job.artifact.filename;
        if job.kind == Kind::Wheel && !interpreter.accepts_wheel(filename) {
            let why = if interpreter.tags.is_some() {
                "accepts none of its tags"
            } else {
                "has neither `packaging` nor pip to list its tags, so only `py3-none-any` counts"
            };
            return Some(format!("{} {why}", interpreter.label()));
        }
        None
    }
}

/// The project's `[project] requires-python` (PEP 621) in `manifest`, if it says one.
fn requires_python(manifest: &Path) -> Result<Option<(String, pep440_rs::VersionSpecifiers)>> {
    let Ok(text) = std::fs::read_to_string(manifest) else {
        return Ok(None);
    };
    let Ok(doc) = text.parse::<toml_edit::DocumentMut>() else {
        return Ok(None);
    };
    let Some(written) = doc
        .get("project")
        .and_then(|p| p.get("requires-python"))
        .and_then(toml_edit::Item::as_str)
    else {
        return Ok(None);
    };
    let specifiers = written
        .parse::<pep440_rs::VersionSpecifiers>()
        .map_err(|e| {
            UsageError(format!(
                "`requires-python = \"{written}\"` in `{}` is not a PEP 440 specifier: {e}",
                manifest.file_name().unwrap_or_default().to_string_lossy()
            ))
        })?;
    Ok(Some((written.to_string(), specifiers)))
}

/// The interpreters to verify on, out of those `found` (the current one first): the versions
/// `wanted` names, each of which must be found; or every one `requires_python` admits, and the
/// current one alone when the project does not say (or admits none of them).
fn choose_interpreters(
    wanted: &[String],
    requires_python: Option<&pep440_rs::VersionSpecifiers>,
    found: Vec<Interpreter>,
) -> Result<Vec<Interpreter>> {
    let found_list = || {
        let versions: Vec<&str> = found.iter().map(|i| i.version.as_str()).collect();
        if versions.is_empty() {
            "none".to_string()
        } else {
            versions.join(", ")
        }
    };
    if !wanted.is_empty() {
        let mut chosen = Vec::new();
        for version in wanted {
            let Some(interpreter) = found.iter().find(|i| i.is(version)) else {
                return Err(UsageError(format!(
                    "`verify.python` names {version}, but no Python {version} was found (found: {}; \
                     looked at `TWOSTAGE_PYTHON` or `python3`, pyenv's versions, uv's, and `python3.X` \
                     on PATH): install it (`pyenv install {version}` or `uv python install {version}`) \
                     or remove it from `verify.python`",
                    found_list()
                ))
                .into());
            };
            chosen.push(interpreter.clone());
        }
        return Ok(chosen);
    }
    let Some(current) = found.first().cloned() else {
        return Err(UsageError(format!(
            "no Python 3 interpreter runs here (`{}`): install one, or set `TWOSTAGE_PYTHON`",
            pyenv::base_python()
        ))
        .into());
    };
    let admitted: Vec<Interpreter> = match requires_python {
        None => Vec::new(),
        Some(specifiers) => found
            .into_iter()
            .filter(|i| {
                i.version
                    .parse::<pep440_rs::Version>()
                    .is_ok_and(|v| specifiers.contains(&v))
            })
            .collect(),
    };
    if admitted.is_empty() {
        return Ok(vec![current]);
    }
    let mut admitted = admitted;
    admitted.sort_by_key(minor_number);
    Ok(admitted)
}

/// `(3, 11)` of `3.11.7`, for ordering.
fn minor_number(interpreter: &Interpreter) -> (u32, u32) {
    let mut parts = interpreter
        .version
        .split('.')
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Verifies `artifacts` as served by `index`. Returns the record; failures are in
/// it, not an `Err` (an `Err` is a problem of the tool or the machine, not of the release).
pub fn verify(
    repo: &Repo,
    config: &Config,
    release: &Release,
    artifacts: &[ArtifactRecord],
    index: &Index,
) -> Result<Verification> {
    let started = Instant::now();
    release.check_filenames(artifacts)?;
    if config.verify.artifacts.is_empty() {
        return Ok(skipped(release));
    }
    let dirs = prepare_dirs(repo, release, index.role())?;
    // The packages of the release set it requires, each on this index first (docs/monorepo.md).
    let found = siblings::find(repo, config, release.commit, &|| Ok(dirs.checkout.clone()))?;
    let ready = siblings::ready(repo, config, &release.tag, found, index.role())?;
    let shared = Shared::choose(config, release, index, &dirs.checkout)?;
    let jobs = pick_files(&shared, artifacts)?;
    let plan = plan_cells(&shared, &jobs);
    let mut failures = unverifiable_kinds(&shared, &plan);
    let files = download_all(&shared, &dirs, &jobs, &plan)?;
    let mut shared = shared;
    shared.siblings = download_siblings(&shared, &dirs, &plan, ready)?;
    shared.smoke = default_smoke(repo, &shared, artifacts, &files);
    if shared.smoke.is_empty() {
        output::note("no smoke commands (`verify.smoke`): only the install and the installed version are checked");
    }
    let results = run_cells(&shared, &dirs, &jobs, &plan, &files);
    let record = Findings::collect(&shared, results, &mut failures)?;
    let log_path = release.work.join(format!("verify-{}.log", shared.label()));
    std::fs::write(&log_path, &record.log)?;
    let cells = record.cells.clone();
    let installed = record.installed.len();
    let run = record.run(&shared, artifacts, &failures, started);
    if failures.is_empty() {
        output::status(
            "Verified",
            format!(
                "{}: {} files from {} on {} in {:.1}s",
                release.tag,
                installed,
                shared.label(),
                output::plural(shared.interpreters.len(), "interpreter"),
                started.elapsed().as_secs_f64()
            ),
        );
    }
    Ok(Verification {
        run,
        failures,
        cells,
    })
}

/// The record of a verification that had nothing to verify (`verify.artifacts` is empty).
fn skipped(release: &Release) -> Verification {
    output::warn(format!(
        "`verify.artifacts` is empty: {} is not installed or smoke-tested, and cannot be promoted",
        release.tag
    ));
    Verification {
        run: VerificationRun {
            result: Some(Verdict::Skipped),
            at: Some(crate::clock::timestamp()),
            ..VerificationRun::default()
        },
        failures: Vec::new(),
        cells: Vec::new(),
    }
}

/// The files to install, once the index serves every one of them: every file of each kind in
/// `verify.artifacts`. A file the index does not list is an error.
fn pick_files<'a>(shared: &Shared, artifacts: &'a [ArtifactRecord]) -> Result<Vec<Job<'a>>> {
    let label = shared.label();
    let project = shared.release.project_name(artifacts);
    // A lagging index is waited for, not a failure.
    shared.index.wait(&project, artifacts)?;
    let listing = shared.index.files(&project)?;
    let mut jobs = Vec::new();
    for &kind in &shared.config.verify.artifacts {
        for artifact in artifacts
            .iter()
            .filter(|a| Kind::of(&a.filename) == Some(kind))
        {
            let url = url_of(&listing, &artifact.filename)
                .map(str::to_string)
                .with_context(|| {
                    format!("the {label} index does not list `{}`", artifact.filename)
                })?;
            jobs.push(Job {
                kind,
                artifact,
                url,
            });
        }
    }
    Ok(jobs)
}

/// One cell to run: a job on an interpreter, or why it is skipped.
struct Planned {
    job: usize,
    interpreter: usize,
    kind: Kind,
    skip: Option<String>,
}

/// Every file on every interpreter, in the files' order.
fn plan_cells(shared: &Shared, jobs: &[Job]) -> Vec<Planned> {
    let mut plan = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        for (i, interpreter) in shared.interpreters.iter().enumerate() {
            plan.push(Planned {
                job: j,
                interpreter: i,
                kind: job.kind,
                skip: shared.cannot_install(job, interpreter),
            });
        }
    }
    plan
}

/// A configured kind with no file that any interpreter can install is a failure of the release.
fn unverifiable_kinds(shared: &Shared, plan: &[Planned]) -> Vec<String> {
    let mut failures = Vec::new();
    for &kind in &shared.config.verify.artifacts {
        if !plan.iter().any(|p| p.skip.is_none() && p.kind == kind) {
            let labels: Vec<String> = shared.interpreters.iter().map(Interpreter::label).collect();
            failures.push(format!(
                "no {kind} that any of these interpreters ({}) can install",
                labels.join(", ")
            ));
        }
    }
    failures
}

/// A fresh `verify-<label>` directory and a clean checkout of the release commit in it.
fn prepare_dirs(repo: &Repo, release: &Release, role: Role) -> Result<Dirs> {
    let work = release.work.join(format!("verify-{}", role.label()));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let checkout = work.join("repo");
    frozen::clean_checkout(repo, release.commit, &checkout)?;
    Ok(Dirs { work, checkout })
}

/// The smoke commands: `verify.smoke` when it is set (even to `[]`); else the import of the
/// top-level names of the wheel as served (one downloaded here), else of the wheel this machine
/// built for the tag. Said, as it is not written anywhere.
fn default_smoke(
    repo: &Repo,
    shared: &Shared,
    artifacts: &[ArtifactRecord],
    files: &[Option<Result<PathBuf, String>>],
) -> Vec<String> {
    let config = shared.config;
    if config.verify.smoke_set {
        return config.verify.smoke.clone();
    }
    let served = files.iter().flatten().flatten().find(|p| is_wheel(p));
    let built = || {
        let frozen = frozen::frozen(repo, &shared.release.tag).ok()??;
        let wheel = artifacts.iter().find(|a| a.filename.ends_with(".whl"))?;
        Some(frozen.path(wheel)).filter(|p| p.is_file())
    };
    let Some(wheel) = served.cloned().or_else(built) else {
        return Vec::new();
    };
    let names = match project::wheel_top_level(&wheel) {
        Ok(names) => names,
        Err(e) => {
            output::warn(format!("{e:#}: no default smoke command"));
            return Vec::new();
        }
    };
    let filename = wheel.file_name().unwrap_or_default().to_string_lossy();
    match project::smoke_against_wheel(&[], false, &names, &filename) {
        Some(Ok(note)) => output::note(note),
        Some(Err(warning)) => output::warn(warning),
        None => {}
    }
    project::default_smoke(&names).into_iter().collect()
}

fn is_wheel(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "whl")
}

/// Each file that some interpreter will install, downloaded once, in parallel, into
/// `<filename>/files/`: its path, or why the served bytes were refused. `None` for a file
/// every interpreter skips.
fn download_all(
    shared: &Shared,
    dirs: &Dirs,
    jobs: &[Job],
    plan: &[Planned],
) -> Result<Vec<Option<Result<PathBuf, String>>>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .enumerate()
            .map(|(j, job)| {
                let needed = plan.iter().any(|p| p.job == j && p.skip.is_none());
                scope.spawn(move || -> Result<Option<Result<PathBuf, String>>> {
                    if !needed {
                        return Ok(None);
                    }
                    let artifact = job.artifact;
                    // One directory per file, named by it (checked by `check_filenames`).
                    let dir = dirs.work.join(&artifact.filename).join("files");
                    std::fs::create_dir_all(&dir)?;
                    let file = dir.join(&artifact.filename);
                    let refused = index::download(
                        shared.index.agent(),
                        &job.url,
                        &file,
                        artifact.size,
                        &artifact.sha256,
                    )?;
                    Ok(Some(refused.map_or(Ok(file), Err)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a download thread panicked")))
            })
            .collect()
    })
}

/// The files of each sibling that some cell installs (`SiblingFiles::pick` for every
/// interpreter a cell runs on), downloaded from the URLs the sibling's index of this role
/// lists (its own configuration's: `[packages.staging]` may differ) into `siblings/<filename>/`,
/// each checked against the sha256 the sibling's section of the note records. Served bytes
/// that differ refuse the verification: nothing is recorded.
fn download_siblings(
    shared: &Shared,
    dirs: &Dirs,
    plan: &[Planned],
    ready: Vec<Ready>,
) -> Result<Vec<SiblingFiles>> {
    let used: Vec<&Interpreter> = shared
        .interpreters
        .iter()
        .enumerate()
        .filter(|(i, _)| plan.iter().any(|p| p.interpreter == *i && p.skip.is_none()))
        .map(|(_, interpreter)| interpreter)
        .collect();
    let mut all = Vec::new();
    for ready in ready {
        let mut needed: Vec<ArtifactRecord> = Vec::new();
        for interpreter in &used {
            if let Some(artifact) = SiblingFiles::pick(&ready.artifacts, interpreter) {
                if !needed.contains(artifact) {
                    needed.push(artifact.clone());
                }
            }
        }
        let index = Index::new(shared.index.role(), &ready.config);
        let project = ready.release.project_name(&ready.artifacts);
        let tag = &ready.sibling.tag;
        if !needed.is_empty() {
            index.wait(&project, &needed)?;
        }
        let listing = index.files(&project)?;
        let mut files = Vec::new();
        for artifact in needed {
            let dir = dirs.work.join("siblings").join(&artifact.filename);
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(&artifact.filename);
            output::status(
                "Downloading",
                format!("`{}` of {tag} from {}", artifact.filename, index.label()),
            );
            if let Some(why) = index.download(&listing, &artifact, &path)? {
                return Err(UsageError(format!(
                    "{} serves other bytes for `{}` of {tag} than its release note records: \
                     {why}; nothing was recorded",
                    index.label(),
                    artifact.filename
                ))
                .into());
            }
            files.push((artifact, path));
        }
        all.push(SiblingFiles { ready, files });
    }
    Ok(all)
}

/// What one cell produced: its record, the commands it ran, its log.
struct CellResult {
    cell: Cell,
    steps: Vec<Ran>,
    log: String,
}

/// Runs every cell, as many at once as the machine has cores
/// (`std::thread::available_parallelism`); the results come back in the plan's order.
fn run_cells(
    shared: &Shared,
    dirs: &Dirs,
    jobs: &[Job],
    plan: &[Planned],
    files: &[Option<Result<PathBuf, String>>],
) -> Vec<Result<CellResult>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, plan.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<CellResult>>>> =
        Mutex::new((0..plan.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(planned) = plan.get(i) else { break };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let job = &jobs[planned.job];
                    run_cell(shared, dirs, job, planned, files[planned.job].as_ref())
                }))
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a verification thread panicked")));
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("a cell was not run"))))
        .collect()
}

/// What the cells found, gathered for the note.
struct Findings {
    /// One record per cell: its interpreter, its commands and its verdict.
    records: Vec<CellRecord>,
    cells: Vec<Cell>,
    /// The sha256 of every file installed and smoke-tested on at least one interpreter.
    installed: Vec<String>,
    /// Every cell's log, one after the other.
    log: String,
}

impl Findings {
    /// Gathers the cells' results; each failed cell is added to `failures`.
    fn collect(
        shared: &Shared,
        results: Vec<Result<CellResult>>,
        failures: &mut Vec<String>,
    ) -> Result<Findings> {
        // The note names paths relative to the release's work directory: it is shared with
        // every clone, and no path of this machine belongs in it.
        let work_root = format!("{}/", shared.release.work.display());
        let mut record = Findings {
            records: Vec::new(),
            cells: Vec::new(),
            installed: Vec::new(),
            log: String::new(),
        };
        for result in results {
            let result = result?;
            record.log.push_str(&result.log);
            let cell = &result.cell;
            let mut noted = CellRecord {
                filename: Some(cell.filename.clone()),
                kind: Some(cell.kind.as_str().to_string()),
                sha256: Some(cell.sha256.clone()),
                python: Some(cell.python.clone()),
                result: Some(cell.outcome.verdict()),
                ..CellRecord::default()
            };
            match &cell.outcome {
                Outcome::Skipped(reason) => noted.reason = Some(reason.clone()),
                // A refused download fails every cell of its file with the same reason.
                Outcome::Failed(failure) if failures.contains(failure) => {}
                Outcome::Failed(failure) => failures.push(failure.clone()),
                Outcome::Verified if !record.installed.contains(&cell.sha256) => {
                    record.installed.push(cell.sha256.clone());
                }
                Outcome::Verified => {}
            }
            if !matches!(cell.outcome, Outcome::Skipped(_)) {
                noted.commands = Some(commands(&result.steps, &work_root));
            }
            record.records.push(noted);
            record.cells.push(result.cell);
        }
        Ok(record)
    }

    /// The note's record of this verification.
    fn run(
        self,
        shared: &Shared,
        artifacts: &[ArtifactRecord],
        failures: &[String],
        started: Instant,
    ) -> VerificationRun {
        let labels: Vec<String> = shared.interpreters.iter().map(Interpreter::label).collect();
        let versions: Vec<String> = shared
            .interpreters
            .iter()
            .map(|i| i.version.clone())
            .collect();
        let verdict = if failures.is_empty() {
            Verdict::Verified
        } else {
            Verdict::Failed
        };
        let mut run = VerificationRun {
            index_url: Some(crate::resources::secrets::redact(shared.index_url())),
            interpreter: Some(labels.join(", ")),
            pythons: Some(versions),
            installer: Some(shared.installer_version.clone()),
            result: Some(verdict),
            ..VerificationRun::default()
        };
        if failures.is_empty() {
            // `verified-sha256`: the set this verification vouches for. Every file of it was
            // served by the index with exactly that hash (waited for in `pick_files`); at least
            // one file of each configured kind was installed and smoke-tested, every file was
            // verified on each interpreter that can install it and failed on none, and the rest
            // (wheels no interpreter here can install, kinds not in `verify.artifacts`) were
            // hash-checked only. The set installed is recorded beside it. A note never says
            // "verified" for other bytes.
            run.verified_sha256 = Some(artifacts.iter().map(|a| a.sha256.clone()).collect());
            run.installed_sha256 = Some(self.installed);
        } else {
            run.failures = Some(failures.to_vec());
        }
        run.log_sha256 = Some(dist::hex(&<sha2::Sha256 as sha2::Digest>::digest(
            self.log.as_bytes(),
        )));
        run.log = Some(format!("verify-{}.log", shared.label()));
        run.seconds = Some((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
        run.at = Some(crate::clock::timestamp());
        run.cells = self.records;
        run.siblings = shared
            .siblings
            .iter()
            .flat_map(|s| {
                s.files.iter().map(|(artifact, _)| SiblingFile {
                    package: s.ready.sibling.name.clone(),
                    tag: s.ready.sibling.tag.clone(),
                    version: s.ready.sibling.version.to_string(),
                    filename: artifact.filename.clone(),
                    sha256: artifact.sha256.clone(),
                    ..SiblingFile::default()
                })
            })
            .collect();
        run
    }
}

/// The commands one cell ran, as the note records them (inline, one table each).
fn commands(steps: &[Ran], work_root: &str) -> Vec<CommandRecord> {
    steps
        .iter()
        .map(|step| CommandRecord {
            command: step.command.replace(work_root, ""),
            exit: i64::from(step.code.unwrap_or(-1)),
            seconds: (step.duration.as_secs_f64() * 1000.0).round() / 1000.0,
            timed_out: step.timed_out,
            ..CommandRecord::default()
        })
        .collect()
}

/// Why one cell stopped early: the file failed there (the release's problem, recorded), or
/// the tool or the machine did (an `Err` of the whole verification).
enum Stop {
    Failed(String),
    Broken(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Stop {
        Stop::Broken(e)
    }
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Stop {
        Stop::Broken(e.into())
    }
}

/// One cell in progress: its directory, its log, the commands it ran.
struct Attempt<'a> {
    shared: &'a Shared<'a>,
    job: &'a Job<'a>,
    interpreter: &'a Interpreter,
    /// This cell's own directory: its venv, its log, its smoke directories.
    dir: PathBuf,
    checkout: &'a Path,
    log: std::fs::File,
    steps: Vec<Ran>,
}

/// Runs one cell: skipped, failed by the refused download, or installed and smoke-tested.
fn run_cell(
    shared: &Shared,
    dirs: &Dirs,
    job: &Job,
    planned: &Planned,
    file: Option<&Result<PathBuf, String>>,
) -> Result<CellResult> {
    let interpreter = &shared.interpreters[planned.interpreter];
    let (filename, kind, label) = (
        &job.artifact.filename,
        job.kind.as_str(),
        interpreter.label(),
    );
    let result = |outcome, steps, log| CellResult {
        cell: Cell {
            filename: filename.clone(),
            kind: job.kind,
            sha256: job.artifact.sha256.clone(),
            python: interpreter.version.clone(),
            outcome,
        },
        steps,
        log,
    };
    if let Some(reason) = &planned.skip {
        output::status("Skipping", format!("`{filename}` on {label}: {reason}"));
        return Ok(result(
            Outcome::Skipped(reason.clone()),
            Vec::new(),
            String::new(),
        ));
    }
    let file = match file {
        Some(Ok(file)) => file,
        Some(Err(why)) => {
            let failure = format!("`{filename}` ({kind}): {why}");
            return Ok(result(Outcome::Failed(failure), Vec::new(), String::new()));
        }
        None => bail!("`{filename}` was not downloaded for {label}"),
    };
    let started = Instant::now();
    // One directory per file and interpreter: no two cells share a venv or a log.
    let dir = dirs.work.join(filename).join(&interpreter.version);
    std::fs::create_dir_all(&dir)?;
    let log_path = dir.join("log");
    let mut attempt = Attempt {
        shared,
        job,
        interpreter,
        log: std::fs::File::create(&log_path)?,
        dir,
        checkout: &dirs.checkout,
        steps: Vec::new(),
    };
    output::status(
        "Installing",
        format!("`{filename}` on {label} into a fresh environment"),
    );
    let outcome = match attempt.install_and_smoke(file) {
        Ok(()) => Outcome::Verified,
        Err(Stop::Failed(why)) => {
            Outcome::Failed(format!("`{filename}` ({kind}) on {label}: {why}"))
        }
        Err(Stop::Broken(e)) => return Err(e),
    };
    if outcome == Outcome::Verified {
        // No smoke command is not a pass of one: said as what was checked.
        let smoked = match shared.smoke.len() {
            0 => "installed; no smoke command ran (set `verify.smoke`)".to_string(),
            n => format!(
                "installed and {} passed",
                output::plural(n, "smoke command")
            ),
        };
        output::status(
            "Verified",
            format!(
                "`{filename}` on {label}: {smoked} ({:.1}s)",
                started.elapsed().as_secs_f64()
            ),
        );
    } else {
        // The reason is the stage's error, printed once at the end with every other failure.
        output::status("Failed", format!("`{filename}` on {label}"));
    }
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let log = format!("=== {filename} ({kind}) on {label}\n{text}");
    Ok(result(outcome, attempt.steps, log))
}

impl<'a> Attempt<'a> {
    /// The cell's plan: a fresh venv from its interpreter, the install, the installed
    /// version, then every smoke command. The first step that fails stops it.
    fn install_and_smoke(&mut self, file: &Path) -> Result<(), Stop> {
        let venv = self.create_venv()?;
        let beside = self.sibling_files()?;
        let mut files = vec![file];
        files.extend(beside.iter().map(|(_, path)| *path));
        self.install(&venv, &files)?;
        let release = self.shared.release;
        let name = release.project_name(std::slice::from_ref(self.job.artifact));
        self.check_version(&venv, &name, &release.version, "the tag's")?;
        for (ready, _) in &beside {
            let sibling = &ready.sibling;
            let whose = format!("`{}`'s", sibling.tag);
            self.check_version(&venv, &sibling.name, &sibling.version, &whose)?;
        }
        for (i, smoke) in self.shared.smoke.iter().enumerate() {
            self.smoke(i, smoke, &venv)?;
        }
        Ok(())
    }

    fn create_venv(&mut self) -> Result<Venv, Stop> {
        let timeout = self.shared.config.verify.timeout;
        let (venv, ran) = pyenv::create(
            &self.shared.installer,
            &self.interpreter.python,
            &self.dir.join("env"),
            timeout,
            &mut self.log,
        )?;
        let created = ran.ok();
        self.steps.push(ran);
        if !created {
            let tail = self.steps.last().map(|r| r.tail(20)).unwrap_or_default();
            return Err(Stop::Failed(format!(
                "cannot create a virtual environment:\n{tail}"
            )));
        }
        Ok(venv)
    }

    /// The files of the siblings this interpreter installs beside the file: one of each.
    fn sibling_files(&self) -> Result<Vec<(&'a Ready, &'a Path)>, Stop> {
        let mut beside = Vec::new();
        for sibling in &self.shared.siblings {
            let tag = &sibling.ready.sibling.tag;
            let picked =
                SiblingFiles::pick(&sibling.ready.artifacts, self.interpreter).and_then(|a| {
                    sibling
                        .files
                        .iter()
                        .find(|(f, _)| f == a)
                        .map(|(_, path)| path.as_path())
                });
            let Some(path) = picked else {
                return Err(Stop::Failed(format!(
                    "{tag}, which it requires, has no file {} can install",
                    self.interpreter.label()
                )));
            };
            beside.push((&sibling.ready, path));
        }
        Ok(beside)
    }

    /// The files (the one under test first, then its siblings') with every other dependency
    /// from the production index only.
    fn install(&mut self, venv: &Venv, files: &[&Path]) -> Result<(), Stop> {
        let ran = pyenv::install(
            &self.shared.installer,
            venv,
            files,
            &self.shared.config.production.index_url,
            self.shared.config.verify.timeout,
            &mut self.log,
        )?;
        let installed = ran.ok();
        let tail = ran.tail(20);
        let timed_out = ran.timed_out;
        self.steps.push(ran);
        if !installed {
            let why = if timed_out {
                "timed out".to_string()
            } else {
                "failed".to_string()
            };
            return Err(Stop::Failed(format!("the install {why}:\n{tail}")));
        }
        Ok(())
    }

    /// The installed distribution `name` must be at `version` (`whose`: "the tag's").
    fn check_version(
        &mut self,
        venv: &Venv,
        name: &str,
        version: &pep440_rs::Version,
        whose: &str,
    ) -> Result<(), Stop> {
        let (sh, python) = (Shell::new().map_err(anyhow::Error::from)?, venv.python());
        // In the file's own directory and isolated (`-I`: neither the current directory nor
        // PYTHON* variables on the path): a repository's stale `<name>.egg-info` beside it
        // would otherwise answer for the installed distribution.
        sh.change_dir(&self.dir);
        let script = INSTALLED_VERSION;
        let check = cmd!(sh, "{python} -I -c {script} {name}").into();
        let timeout = self.shared.config.verify.timeout;
        let ran = pyenv::run_logged(check, "installed version", timeout, &mut self.log)?;
        let found = ran.output.trim().to_string();
        let ok = ran.ok();
        self.steps.push(ran);
        if !ok || found.parse::<pep440_rs::Version>().ok().as_ref() != Some(version) {
            let what = if whose == "the tag's" {
                String::new()
            } else {
                format!(" of `{name}`")
            };
            return Err(Stop::Failed(format!(
                "the installed version{what} is `{found}`, not {whose} `{version}`"
            )));
        }
        Ok(())
    }

    fn smoke(&mut self, i: usize, smoke: &str, venv: &Venv) -> Result<(), Stop> {
        let timeout = self.shared.config.verify.timeout;
        // A fresh empty directory outside the repository: the installed package is imported,
        // never the source tree, even in a flat layout.
        let cwd = self.dir.join(format!("smoke-{i}"));
        std::fs::create_dir_all(&cwd)?;
        let command = smoke_command(smoke, venv, &cwd, self.checkout)?;
        let ran = pyenv::run_logged(command, smoke, timeout, &mut self.log)?;
        let ok = ran.ok();
        let why = if ran.timed_out {
            format!(
                "`{smoke}` was stopped at the {}s timeout (`verify.timeout`)",
                timeout.as_secs()
            )
        } else {
            format!(
                "`{smoke}` exited {}:\n{}",
                ran.code.map_or("by signal".into(), |c| c.to_string()),
                ran.tail(20)
            )
        };
        self.steps.push(ran);
        if !ok {
            return Err(Stop::Failed(why));
        }
        Ok(())
    }
}

fn smoke_command(smoke: &str, venv: &Venv, cwd: &Path, checkout: &Path) -> Result<Command> {
    let sh = Shell::new()?;
    sh.change_dir(cwd);
    // Smoke commands are the project's code: `run_logged` gives them no upload credential.
    Ok(cmd!(sh, "sh -c {smoke}")
        .env("PATH", venv.path_var())
        .env("VIRTUAL_ENV", &venv.dir)
        .env("TWOSTAGE_REPO", checkout)
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interpreter(version: &str) -> Interpreter {
        Interpreter {
            python: PathBuf::from(format!("/usr/bin/python{version}")),
            version: version.to_string(),
            tags: None,
        }
    }

    fn versions(chosen: &[Interpreter]) -> Vec<&str> {
        chosen.iter().map(|i| i.version.as_str()).collect()
    }

    #[test]
    fn interpreters_are_those_named_or_those_requires_python_admits() {
        // The current interpreter first, as `pyenv::interpreters` lists them.
        let found = || {
            ["3.11.7", "3.9.18", "3.12.1", "3.13.0"]
                .map(interpreter)
                .to_vec()
        };
        let spec = |s: &str| s.parse::<pep440_rs::VersionSpecifiers>().unwrap();
        let chosen = choose_interpreters(&[], Some(&spec(">=3.10")), found()).unwrap();
        assert_eq!(versions(&chosen), ["3.11.7", "3.12.1", "3.13.0"]);
        // Silent `requires-python`, or one that admits none: the current one alone.
        let chosen = choose_interpreters(&[], None, found()).unwrap();
        assert_eq!(versions(&chosen), ["3.11.7"]);
        let chosen = choose_interpreters(&[], Some(&spec(">=3.14")), found()).unwrap();
        assert_eq!(versions(&chosen), ["3.11.7"]);
        // Named: in the order named, a patch version exactly, each one required.
        let wanted = ["3.13".to_string(), "3.9.18".to_string()];
        let chosen = choose_interpreters(&wanted, None, found()).unwrap();
        assert_eq!(versions(&chosen), ["3.13.0", "3.9.18"]);
        let err = choose_interpreters(&["3.8".to_string()], None, found()).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        assert!(
            err.to_string()
                .contains("no Python 3.8 was found (found: 3.11.7, 3.9.18"),
            "{err}"
        );
        assert!(choose_interpreters(&[], None, Vec::new()).is_err());
    }

    #[test]
    fn a_siblings_file_is_the_first_wheel_the_interpreter_accepts_else_its_sdist() {
        let mut cp312 = interpreter("3.12.1");
        cp312.tags = Some(vec![
            "cp312-cp312-linux_x86_64".into(),
            "py3-none-any".into(),
        ]);
        let files = [
            ArtifactRecord::sample("core-1.0.1.tar.gz", "s"),
            ArtifactRecord::sample("core-1.0.1-cp311-cp311-linux_x86_64.whl", "a"),
            ArtifactRecord::sample("core-1.0.1-cp312-cp312-linux_x86_64.whl", "b"),
        ];
        let picked = |files: &[ArtifactRecord], i: &Interpreter| {
            SiblingFiles::pick(files, i).map(|a| a.sha256.clone())
        };
        assert_eq!(picked(&files, &cp312).as_deref(), Some("b"));
        // No wheel it accepts: the sdist; no sdist either: none.
        let mut cp310 = interpreter("3.10.13");
        cp310.tags = Some(vec!["cp310-cp310-linux_x86_64".into()]);
        assert_eq!(picked(&files, &cp310).as_deref(), Some("s"));
        assert_eq!(picked(&files[1..], &cp310), None);
    }
}
