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

use crate::config::{ArtifactKind, Config};
use crate::error::UsageError;
use crate::output;
use crate::resolved::{self, Release};
use crate::resources::dist::{self, Kind};
use crate::resources::evidence::{self, ArtifactRecord, Note};
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
    pub fn section(self) -> &'static str {
        match self {
            Source::Staging => "verification",
            Source::Production => "production-verification",
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

/// Whether a note section says these exact artifacts were verified.
pub fn verified(section: Option<&Table>, artifacts: &[ArtifactRecord]) -> bool {
    let Some(section) = section else { return false };
    let result = section.get("result").and_then(|r| r.as_str());
    let mut recorded: Vec<String> = section
        .get("verified-sha256")
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
    result == Some("verified") && recorded == ours
}

/// `cargo xtask verify <tag> [--production]`: verify again and record it.
pub fn run(repo: &Repo, config: &Config, tag: &str, source: Source) -> Result<()> {
    let release = resolved::resolve(repo, config, tag)?;
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
        output::warn(format!(
            "`verify.artifacts` is empty: {} is not installed or smoke-tested, and cannot be promoted",
            release.tag
        ));
        let mut section = Table::new();
        section["result"] = value("skipped");
        section["at"] = value(crate::clock::timestamp());
        return Ok(Verification {
            section,
            failures: Vec::new(),
        });
    }
    let installer =
        Installer::choose(config.verify.installer).map_err(|e| UsageError(format!("{e:#}")))?;
    let (interpreter, installer_version) = pyenv::versions(&installer);
    let label = source.label();
    let index_url = source.index_url(config);
    let project = release.project_name(artifacts);
    output::status(
        "Verifying",
        format!(
            "{} from {label} with {installer_version} on {interpreter}",
            release.tag
        ),
    );

    // A lagging index is waited for, not a failure.
    let agent = index::agent();
    index::wait_until_served(
        &agent,
        label,
        index_url,
        &project,
        artifacts,
        config.verify.index_timeout,
    )?;
    let listing = index::project_files(&agent, index_url, &project)?.unwrap_or_default();

    let mut failures = Vec::new();
    let supported = pyenv::supported_tags();
    let mut jobs = Vec::new();
    for &kind_name in &config.verify.artifacts {
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
                "no {kind_name} that this interpreter ({interpreter}) can install"
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

    let work = release.work.join(format!("verify-{label}"));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let checkout = work.join("repo");
    build::clean_checkout(repo, release.commit, &checkout)?;
    if config.verify.smoke.is_empty() {
        output::note("no smoke commands (`verify.smoke`): only the install and the installed version are checked");
    }

    let results: Vec<Result<JobResult>> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|job| {
                let work = &work;
                let checkout = &checkout;
                let installer = &installer;
                let agent = &agent;
                scope.spawn(move || {
                    verify_one(config, release, job, installer, agent, work, checkout)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a verification thread panicked")))
            })
            .collect()
    });

    // The note names paths relative to the release's work directory: it is shared with
    // every clone, and no path of this machine belongs in it.
    let work_root = format!("{}/", release.work.display());
    let mut log = String::new();
    let mut tables = ArrayOfTables::new();
    let mut installed = Vec::new();
    for result in results {
        let result = result?;
        log.push_str(&result.log);
        let mut table = Table::new();
        table["filename"] = value(&result.artifact.filename);
        table["kind"] = value(result.kind.name());
        table["sha256"] = value(&result.artifact.sha256);
        let mut commands = Array::new();
        for step in &result.steps {
            let mut entry = InlineTable::new();
            entry.insert("command", step.command.replace(&work_root, "").into());
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
        table["commands"] = value(commands);
        match result.failure {
            Some(failure) => {
                table["result"] = value("failed");
                failures.push(failure);
            }
            None => {
                table["result"] = value("verified");
                installed.push(result.artifact.sha256.clone());
            }
        }
        tables.push(table);
    }
    let log_path = release.work.join(format!("verify-{label}.log"));
    std::fs::write(&log_path, &log)?;

    let mut section = Table::new();
    section["index-url"] = value(crate::resources::secrets::redact(index_url));
    section["interpreter"] = value(&interpreter);
    section["installer"] = value(&installer_version);
    section["result"] = value(if failures.is_empty() {
        "verified"
    } else {
        "failed"
    });
    if failures.is_empty() {
        // `verified-sha256`: the set this verification vouches for. Every file of it was served
        // by the index with exactly that hash (waited for above); at least one file of each
        // configured kind was installed and smoke-tested, and the rest (wheels for other
        // platforms, kinds not in `verify.artifacts`) were hash-checked only. The set installed
        // is recorded beside it. A note never says "verified" for other bytes.
        let all: Vec<String> = artifacts.iter().map(|a| a.sha256.clone()).collect();
        section["verified-sha256"] = evidence::string_array(&all);
        section["installed-sha256"] = evidence::string_array(&installed);
    } else {
        section["failures"] = evidence::string_array(&failures);
    }
    section["log-sha256"] = value(dist::hex(&<sha2::Sha256 as sha2::Digest>::digest(
        log.as_bytes(),
    )));
    section["log"] = value(format!("verify-{label}.log"));
    section["seconds"] = value((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
    section["at"] = value(crate::clock::timestamp());
    section["artifacts"] = toml_edit::Item::ArrayOfTables(tables);
    if failures.is_empty() {
        output::status(
            "Verified",
            format!(
                "{}: {} files from {label} in {:.1}s",
                release.tag,
                installed.len(),
                started.elapsed().as_secs_f64()
            ),
        );
    }
    Ok(Verification { section, failures })
}

fn verify_one(
    config: &Config,
    release: &Release,
    job: &Job,
    installer: &Installer,
    agent: &ureq::Agent,
    work: &Path,
    checkout: &Path,
) -> Result<JobResult> {
    let started = Instant::now();
    let kind = job.kind.name();
    let filename = &job.artifact.filename;
    // One directory per file, named by it (checked by `check_filenames`): two wheels of one
    // kind verified in parallel never share a venv or a log.
    let dir = work.join(filename);
    std::fs::create_dir_all(dir.join("files"))?;
    let log_path = dir.join("log");
    let mut log = std::fs::File::create(&log_path)?;
    let mut result = JobResult {
        kind: job.kind,
        artifact: job.artifact.clone(),
        steps: Vec::new(),
        failure: None,
        log: String::new(),
    };
    let fail = |result: &mut JobResult, why: String| {
        result.failure = Some(format!("`{filename}` ({kind}): {why}"));
    };
    output::status(
        "Installing",
        format!("`{filename}` into a fresh environment"),
    );

    // The bytes the index serves, checked against what was frozen and staged.
    let file = dir.join("files").join(filename);
    if let Some(why) = index::download(
        agent,
        &job.url,
        &file,
        job.artifact.size,
        &job.artifact.sha256,
    )? {
        fail(&mut result, why);
        return finish_job(result, &log_path);
    }

    let timeout = config.verify.timeout;
    let (venv, ran) = pyenv::create(installer, &dir.join("env"), timeout, &mut log)?;
    let created = ran.ok();
    result.steps.push(ran);
    if !created {
        let tail = result.steps.last().map(|r| r.tail(20)).unwrap_or_default();
        fail(
            &mut result,
            format!("cannot create a virtual environment:\n{tail}"),
        );
        return finish_job(result, &log_path);
    }
    let ran = pyenv::install(
        installer,
        &venv,
        &file,
        &config.production.index_url,
        timeout,
        &mut log,
    )?;
    let installed = ran.ok();
    let tail = ran.tail(20);
    let timed_out = ran.timed_out;
    result.steps.push(ran);
    if !installed {
        let why = if timed_out {
            "timed out".to_string()
        } else {
            "failed".to_string()
        };
        fail(&mut result, format!("the install {why}:\n{tail}"));
        return finish_job(result, &log_path);
    }

    // The installed distribution must be the tag's version.
    let name = release.project_name(std::slice::from_ref(job.artifact));
    let mut check = Command::new(venv.python());
    check.args([
        "-c",
        "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))",
        &name,
    ]);
    let ran = pyenv::run_logged(check, "installed version", timeout, &mut log)?;
    let found = ran.output.trim().to_string();
    let ok = ran.ok();
    result.steps.push(ran);
    if !ok || found.parse::<pep440_rs::Version>().ok().as_ref() != Some(&release.version) {
        fail(
            &mut result,
            format!(
                "the installed version is `{found}`, not the tag's `{}`",
                release.version
            ),
        );
        return finish_job(result, &log_path);
    }

    for (i, smoke) in config.verify.smoke.iter().enumerate() {
        // A fresh empty directory outside the repository: the installed package is imported,
        // never the source tree, even in a flat layout.
        let cwd = dir.join(format!("smoke-{i}"));
        std::fs::create_dir_all(&cwd)?;
        let command = smoke_command(smoke, &venv, &cwd, checkout);
        let ran = pyenv::run_logged(command, smoke, timeout, &mut log)?;
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
        result.steps.push(ran);
        if !ok {
            fail(&mut result, why);
            return finish_job(result, &log_path);
        }
    }
    output::status(
        "Verified",
        format!(
            "`{filename}`: installed and {} passed ({:.1}s)",
            output::plural(config.verify.smoke.len(), "smoke command"),
            started.elapsed().as_secs_f64()
        ),
    );
    finish_job(result, &log_path)
}

fn finish_job(mut result: JobResult, log_path: &PathBuf) -> Result<JobResult> {
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

fn smoke_command(smoke: &str, venv: &Venv, cwd: &Path, checkout: &Path) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", smoke])
        .current_dir(cwd)
        .env("PATH", venv.path_var())
        .env("VIRTUAL_ENV", &venv.dir)
        .env("TWOSTAGE_REPO", checkout)
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME");
    // Smoke commands are the project's code: `run_logged` gives them no upload credential.
    command
}
