//! The `verify` stage: install what an index serves into fresh environments and smoke-test it.
//!
//! For each kind in `verify.artifacts` (every wheel installable on this interpreter, and the
//! sdist), the file *as served by the index* is downloaded and checked against the recorded
//! sha256, installed into its own new virtual environment with its dependencies from the
//! production index only, its installed version compared with the tag's, and every smoke
//! command run under `sh -c` in a fresh empty directory. The artifacts are verified in
//! parallel. The record says "verified" only for the exact sha256 set that was installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use toml_edit::{value, Array, ArrayOfTables, InlineTable, Table};
use xshell::{cmd, Shell};

use crate::config::{ArtifactKind, Config};
use crate::error::UsageError;
use crate::output;
use crate::resolved::{self, Release};
use crate::resources::dist::{self, Kind};
use crate::resources::evidence::{self, ArtifactRecord, Note, Section, Verdict};
use crate::resources::git::Repo;
use crate::resources::index;
use crate::resources::pyenv::{self, Installer, Ran, Venv};
use crate::steps::build;

/// Which index a verification reads the artifacts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Staging,
    Production,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Staging => "staging",
            Source::Production => "production",
        }
    }

    /// The release note's section for this verification.
    pub fn section(self) -> Section {
        match self {
            Source::Staging => Section::Verification,
            Source::Production => Section::ProductionVerification,
        }
    }

    fn index_url(self, config: &Config) -> &str {
        match self {
            Source::Staging => &config.staging.index_url,
            Source::Production => &config.production.index_url,
        }
    }
}

/// The result of one verification: the note's section, and what failed.
pub struct Verification {
    pub section: Table,
    pub failures: Vec<String>,
}

/// The key of the sha256 set a verification vouches for.
const VERIFIED_SHA256: &str = "verified-sha256";

/// The key of what a failed verification found wrong, one line per failure (`status` shows the
/// first).
pub const FAILURES: &str = "failures";

/// Whether a note section says these exact artifacts were verified.
pub fn verified(section: Option<&Table>, artifacts: &[ArtifactRecord]) -> bool {
    let Some(section) = section else { return false };
    let mut recorded: Vec<String> = section
        .get(VERIFIED_SHA256)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    recorded.sort();
    let mut ours: Vec<String> = artifacts.iter().map(|a| a.sha256.clone()).collect();
    ours.sort();
    Verdict::of(section) == Some(Verdict::Verified) && recorded == ours
}

/// `cargo xtask verify <tag> [--production]`: verify again and record it.
pub fn run(repo: &Repo, config: &Config, tag: &str, source: Source) -> Result<()> {
    let release = resolved::resolve(repo, config, tag)?;
    // One run per repository at a time (docs/release.md, "One run at a time").
    let _lock =
        crate::resources::lock::hold(repo.common_dir(), crate::resources::lock::Wait::patient())?;
    let flag = if source == Source::Production {
        " --production"
    } else {
        ""
    };
    crate::interrupt::stand(
        &format!("verifying {tag} from {}", source.label()),
        "nothing was recorded or promoted",
        &format!("cargo xtask verify {tag}{flag}"),
    );
    evidence::sync(repo, &config.git.remote);
    let mut note = Note::read(repo, release.commit, tag)?
        .filter(|n| !n.artifacts().is_empty())
        .with_context(|| format!("{tag} has no release note with artifacts: stage it first (`cargo xtask stage {tag}`)"))?;
    let artifacts = note.artifacts();
    let verification = verify(repo, config, &release, &artifacts, source)?;
    note.record(source.section(), verification.section);
    note.write(repo, release.commit)?;
    evidence::push(repo, &config.git.remote)?;
    finish(tag, source, &verification.failures)
}

/// `cargo xtask verify <tag> --results FILE [--dist DIR]`: verify as `run` does, but write
/// the result to `path` as a note fragment (the files and this verification) instead of the
/// note, and push nothing: a CI job without permissions hands it on to `record`. The files are
/// the frozen set in `dist` (checked like `stage --dist`) or, without it, the note's.
pub fn run_to_file(
    repo: &Repo,
    config: &Config,
    tag: &str,
    source: Source,
    dist: Option<&Path>,
    path: &Path,
) -> Result<()> {
    let release = resolved::resolve(repo, config, tag)?;
    let artifacts = match dist {
        Some(dir) => build::freeze_from(repo, &release, dir)?.artifacts,
        None => {
            evidence::sync(repo, &config.git.remote);
            Note::read(repo, release.commit, tag)?
                .map(|n| n.artifacts())
                .filter(|a| !a.is_empty())
                .with_context(|| format!("{tag} has no release note with artifacts: pass the frozen files with `--dist DIR`"))?
        }
    };
    let verification = verify(repo, config, &release, &artifacts, source)?;
    let mut fragment = Note::new(tag, &release.version.to_string(), release.commit);
    fragment.set_artifacts(&artifacts);
    fragment.record(source.section(), verification.section);
    crate::steps::record::write_fragment(&fragment, path)?;
    finish(tag, source, &verification.failures)
}

/// Turns failures into the stage's error.
pub fn finish(tag: &str, source: Source, failures: &[String]) -> Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    bail!(
        "the verification of {tag} from {} failed:\n  - {}",
        source.label(),
        failures.join("\n  - ")
    )
}

/// One file to install: its kind, its record, and where the index serves it.
struct Job<'a> {
    kind: Kind,
    artifact: &'a ArtifactRecord,
    url: String,
}

struct JobResult {
    kind: Kind,
    artifact: ArtifactRecord,
    steps: Vec<Ran>,
    failure: Option<String>,
    log: String,
}

/// What every file's verification shares: the release, the index, the installer and the
/// interpreter it runs on.
struct Shared<'a> {
    config: &'a Config,
    release: &'a Release,
    source: Source,
    installer: Installer,
    interpreter: String,
    installer_version: String,
    agent: ureq::Agent,
}

/// Where the files are verified.
struct Dirs {
    /// `verify-<label>` in the release's work directory, one directory per file under it.
    work: PathBuf,
    /// A clean checkout of the release commit, for the smoke commands (`TWOSTAGE_REPO`).
    checkout: PathBuf,
}

impl<'a> Shared<'a> {
    /// Chooses the installer and says what is verified with what.
    fn choose(config: &'a Config, release: &'a Release, source: Source) -> Result<Shared<'a>> {
        let installer =
            Installer::choose(config.verify.installer).map_err(|e| UsageError(format!("{e:#}")))?;
        let (interpreter, installer_version) = pyenv::versions(&installer);
        output::status(
            "Verifying",
            format!(
                "{} from {} with {installer_version} on {interpreter}",
                release.tag,
                source.label()
            ),
        );
        Ok(Shared {
            config,
            release,
            source,
            installer,
            interpreter,
            installer_version,
            agent: index::agent(),
        })
    }

    fn label(&self) -> &'static str {
        self.source.label()
    }

    fn index_url(&self) -> &str {
        self.source.index_url(self.config)
    }
}

/// Verifies `artifacts` as served by the `source` index. Returns the record; failures are in
/// it, not an `Err` (an `Err` is a problem of the tool or the machine, not of the release).
pub fn verify(
    repo: &Repo,
    config: &Config,
    release: &Release,
    artifacts: &[ArtifactRecord],
    source: Source,
) -> Result<Verification> {
    let started = Instant::now();
    release.check_filenames(artifacts)?;
    if config.verify.artifacts.is_empty() {
        return Ok(skipped(release));
    }
    let shared = Shared::choose(config, release, source)?;
    let (jobs, mut failures) = pick_files(&shared, artifacts)?;
    let dirs = prepare_dirs(repo, &shared)?;
    let results = run_jobs(&shared, &dirs, &jobs);
    let record = Record::collect(&shared, results, &mut failures)?;
    let log_path = release.work.join(format!("verify-{}.log", shared.label()));
    std::fs::write(&log_path, &record.log)?;
    let installed = record.installed.len();
    let section = record.section(&shared, artifacts, &failures, started);
    if failures.is_empty() {
        output::status(
            "Verified",
            format!(
                "{}: {} files from {} in {:.1}s",
                release.tag,
                installed,
                shared.label(),
                started.elapsed().as_secs_f64()
            ),
        );
    }
    Ok(Verification { section, failures })
}

/// The record of a verification that had nothing to verify (`verify.artifacts` is empty).
fn skipped(release: &Release) -> Verification {
    output::warn(format!(
        "`verify.artifacts` is empty: {} is not installed or smoke-tested, and cannot be promoted",
        release.tag
    ));
    let mut section = Table::new();
    Verdict::Skipped.set(&mut section);
    section["at"] = value(crate::clock::timestamp());
    Verification {
        section,
        failures: Vec::new(),
    }
}

/// The files to install, once the index serves every one of them: for each kind in
/// `verify.artifacts`, every file of it this interpreter can install. A kind with none is a
/// failure of the release (returned beside the jobs); a file the index does not list is an error.
fn pick_files<'a>(
    shared: &Shared,
    artifacts: &'a [ArtifactRecord],
) -> Result<(Vec<Job<'a>>, Vec<String>)> {
    let (label, index_url) = (shared.label(), shared.index_url());
    let project = shared.release.project_name(artifacts);
    // A lagging index is waited for, not a failure.
    index::wait_until_served(
        &shared.agent,
        label,
        index_url,
        &project,
        artifacts,
        shared.config.verify.index_timeout,
    )?;
    let listing = index::project_files(&shared.agent, index_url, &project)?.unwrap_or_default();

    let mut failures = Vec::new();
    let supported = pyenv::supported_tags();
    let mut jobs = Vec::new();
    for &kind_name in &shared.config.verify.artifacts {
        let kind = match kind_name {
            ArtifactKind::Wheel => Kind::Wheel,
            ArtifactKind::Sdist => Kind::Sdist,
        };
        let chosen: Vec<&ArtifactRecord> = artifacts
            .iter()
            .filter(|a| Kind::of(&a.filename) == Some(kind))
            .filter(|a| {
                kind == Kind::Sdist || pyenv::wheel_is_compatible(&a.filename, supported.as_deref())
            })
            .collect();
        if chosen.is_empty() {
            failures.push(format!(
                "no {kind_name} that this interpreter ({}) can install",
                shared.interpreter
            ));
        }
        for artifact in chosen {
            let url = listing
                .iter()
                .find(|f| f.filename == artifact.filename)
                .map(|f| f.url.clone())
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
    Ok((jobs, failures))
}

/// A fresh `verify-<label>` directory and a clean checkout of the release commit in it.
fn prepare_dirs(repo: &Repo, shared: &Shared) -> Result<Dirs> {
    let work = shared
        .release
        .work
        .join(format!("verify-{}", shared.label()));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let checkout = work.join("repo");
    build::clean_checkout(repo, shared.release.commit, &checkout)?;
    if shared.config.verify.smoke.is_empty() {
        output::note("no smoke commands (`verify.smoke`): only the install and the installed version are checked");
    }
    Ok(Dirs { work, checkout })
}

/// Verifies every file at once, one thread each; the results come back in the jobs' order.
fn run_jobs(shared: &Shared, dirs: &Dirs, jobs: &[Job]) -> Vec<Result<JobResult>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|job| scope.spawn(move || verify_one(shared, dirs, job)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a verification thread panicked")))
            })
            .collect()
    })
}

/// What the files' verifications found, gathered for the note.
struct Record {
    /// One table per file: its commands and its verdict.
    tables: ArrayOfTables,
    /// The sha256 of every file installed and smoke-tested.
    installed: Vec<String>,
    /// Every file's log, one after the other.
    log: String,
}

impl Record {
    /// Gathers the files' results; each file's failure is added to `failures`.
    fn collect(
        shared: &Shared,
        results: Vec<Result<JobResult>>,
        failures: &mut Vec<String>,
    ) -> Result<Record> {
        // The note names paths relative to the release's work directory: it is shared with
        // every clone, and no path of this machine belongs in it.
        let work_root = format!("{}/", shared.release.work.display());
        let mut record = Record {
            tables: ArrayOfTables::new(),
            installed: Vec::new(),
            log: String::new(),
        };
        for result in results {
            let result = result?;
            record.log.push_str(&result.log);
            let mut table = Table::new();
            table["filename"] = value(&result.artifact.filename);
            table["kind"] = value(result.kind.name());
            table["sha256"] = value(&result.artifact.sha256);
            table["commands"] = value(commands(&result.steps, &work_root));
            match result.failure {
                Some(failure) => {
                    Verdict::Failed.set(&mut table);
                    failures.push(failure);
                }
                None => {
                    Verdict::Verified.set(&mut table);
                    record.installed.push(result.artifact.sha256.clone());
                }
            }
            record.tables.push(table);
        }
        Ok(record)
    }

    /// The note's section for this verification.
    fn section(
        self,
        shared: &Shared,
        artifacts: &[ArtifactRecord],
        failures: &[String],
        started: Instant,
    ) -> Table {
        let mut section = Table::new();
        section["index-url"] = value(crate::resources::secrets::redact(shared.index_url()));
        section["interpreter"] = value(&shared.interpreter);
        section["installer"] = value(&shared.installer_version);
        let verdict = if failures.is_empty() {
            Verdict::Verified
        } else {
            Verdict::Failed
        };
        verdict.set(&mut section);
        if failures.is_empty() {
            // `verified-sha256`: the set this verification vouches for. Every file of it was
            // served by the index with exactly that hash (waited for in `pick_files`); at least
            // one file of each configured kind was installed and smoke-tested, and the rest
            // (wheels for other platforms, kinds not in `verify.artifacts`) were hash-checked
            // only. The set installed is recorded beside it. A note never says "verified" for
            // other bytes.
            let all: Vec<String> = artifacts.iter().map(|a| a.sha256.clone()).collect();
            section[VERIFIED_SHA256] = evidence::string_array(&all);
            section["installed-sha256"] = evidence::string_array(&self.installed);
        } else {
            section[FAILURES] = evidence::string_array(failures);
        }
        section["log-sha256"] = value(dist::hex(&<sha2::Sha256 as sha2::Digest>::digest(
            self.log.as_bytes(),
        )));
        section["log"] = value(format!("verify-{}.log", shared.label()));
        section["seconds"] = value((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
        section["at"] = value(crate::clock::timestamp());
        section["artifacts"] = toml_edit::Item::ArrayOfTables(self.tables);
        section
    }
}

/// The commands one file's verification ran, as the note's inline tables.
fn commands(steps: &[Ran], work_root: &str) -> Array {
    let mut commands = Array::new();
    for step in steps {
        let mut entry = InlineTable::new();
        entry.insert("command", step.command.replace(work_root, "").into());
        entry.insert("exit", i64::from(step.code.unwrap_or(-1)).into());
        entry.insert(
            "seconds",
            ((step.duration.as_secs_f64() * 1000.0).round() / 1000.0).into(),
        );
        if step.timed_out {
            entry.insert("timed-out", true.into());
        }
        commands.push(entry);
    }
    commands
}

/// Why one file's verification stopped early: the file failed (the release's problem, recorded),
/// or the tool or the machine did (an `Err` of the whole verification).
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

/// One file's verification in progress: its directory, its log, the commands it ran.
struct Attempt<'a> {
    shared: &'a Shared<'a>,
    job: &'a Job<'a>,
    /// This file's own directory: its download, its venv, its smoke directories.
    dir: PathBuf,
    checkout: &'a Path,
    log: std::fs::File,
    steps: Vec<Ran>,
}

fn verify_one(shared: &Shared, dirs: &Dirs, job: &Job) -> Result<JobResult> {
    let started = Instant::now();
    let kind = job.kind.name();
    let filename = &job.artifact.filename;
    // One directory per file, named by it (checked by `check_filenames`): two wheels of one
    // kind verified in parallel never share a venv or a log.
    let dir = dirs.work.join(filename);
    std::fs::create_dir_all(dir.join("files"))?;
    let log_path = dir.join("log");
    let mut attempt = Attempt {
        shared,
        job,
        log: std::fs::File::create(&log_path)?,
        dir,
        checkout: &dirs.checkout,
        steps: Vec::new(),
    };
    output::status(
        "Installing",
        format!("`{filename}` into a fresh environment"),
    );
    let failure = match attempt.install_and_smoke() {
        Ok(()) => None,
        Err(Stop::Failed(why)) => Some(format!("`{filename}` ({kind}): {why}")),
        Err(Stop::Broken(e)) => return Err(e),
    };
    if failure.is_none() {
        output::status(
            "Verified",
            format!(
                "`{filename}`: installed and {} passed ({:.1}s)",
                output::plural(shared.config.verify.smoke.len(), "smoke command"),
                started.elapsed().as_secs_f64()
            ),
        );
    }
    let result = JobResult {
        kind: job.kind,
        artifact: job.artifact.clone(),
        steps: attempt.steps,
        failure,
        log: String::new(),
    };
    finish_job(result, &log_path)
}

impl Attempt<'_> {
    /// The file's plan: the served bytes, a fresh venv, the install, the installed version,
    /// then every smoke command. The first step that fails stops it.
    fn install_and_smoke(&mut self) -> Result<(), Stop> {
        let file = self.download()?;
        let venv = self.create_venv()?;
        self.install(&venv, &file)?;
        self.check_version(&venv)?;
        for (i, smoke) in self.shared.config.verify.smoke.iter().enumerate() {
            self.smoke(i, smoke, &venv)?;
        }
        Ok(())
    }

    /// The bytes the index serves, checked against what was frozen and staged.
    fn download(&mut self) -> Result<PathBuf, Stop> {
        let artifact = self.job.artifact;
        let file = self.dir.join("files").join(&artifact.filename);
        match index::download(
            &self.shared.agent,
            &self.job.url,
            &file,
            artifact.size,
            &artifact.sha256,
        )? {
            Some(why) => Err(Stop::Failed(why)),
            None => Ok(file),
        }
    }

    fn create_venv(&mut self) -> Result<Venv, Stop> {
        let timeout = self.shared.config.verify.timeout;
        let (venv, ran) = pyenv::create(
            &self.shared.installer,
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

    /// The file with its dependencies from the production index only.
    fn install(&mut self, venv: &Venv, file: &Path) -> Result<(), Stop> {
        let ran = pyenv::install(
            &self.shared.installer,
            venv,
            file,
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

    /// The installed distribution must be the tag's version.
    fn check_version(&mut self, venv: &Venv) -> Result<(), Stop> {
        let release = self.shared.release;
        let name = release.project_name(std::slice::from_ref(self.job.artifact));
        let (sh, python) = (Shell::new().map_err(anyhow::Error::from)?, venv.python());
        // In the file's own directory and isolated (`-I`: neither the current directory nor
        // PYTHON* variables on the path): a repository's stale `<name>.egg-info` beside it
        // would otherwise answer for the installed distribution.
        sh.change_dir(&self.dir);
        let script = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))";
        let check = cmd!(sh, "{python} -I -c {script} {name}").into();
        let timeout = self.shared.config.verify.timeout;
        let ran = pyenv::run_logged(check, "installed version", timeout, &mut self.log)?;
        let found = ran.output.trim().to_string();
        let ok = ran.ok();
        self.steps.push(ran);
        if !ok || found.parse::<pep440_rs::Version>().ok().as_ref() != Some(&release.version) {
            return Err(Stop::Failed(format!(
                "the installed version is `{found}`, not the tag's `{}`",
                release.version
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

fn finish_job(mut result: JobResult, log_path: &Path) -> Result<JobResult> {
    let text = std::fs::read_to_string(log_path).unwrap_or_default();
    result.log = format!(
        "=== {} ({})\n{text}",
        result.artifact.filename,
        result.kind.name()
    );
    if result.failure.is_some() {
        // The reason is the stage's error, printed once at the end with every other failure.
        output::status("Failed", format!("`{}`", result.artifact.filename));
    }
    Ok(result)
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
