//! The `stage` stage: make sure a release tag's frozen files are on the staging index with
//! their recorded sha256, wait until the index serves them, verify them (`verify`), and record
//! all of it in the release note. Rerunning it is a no-op success.
//!
//! `ensure_on_index` (here) and `index::wait_until_served` are the one idempotent path for
//! "these files, with these hashes, on that index"; promotion takes it too. The tag is resolved
//! by `resolved`; whether a file is served with its hash is `index::served_as`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use toml_edit::{value, Table};

use crate::config::{self, Config};
use crate::output;
use crate::resolved;
use crate::resources::credentials::{self, Source as Credentials};
use crate::resources::dist::{self, Kind};
use crate::resources::evidence::{self, ArtifactRecord, Note, Section};
use crate::resources::git::Repo;
use crate::resources::index::{self, PostOutcome, Served, Upload};
use crate::steps::build::{self, Frozen};
use crate::steps::verify::{self, Source};

/// How many times one file's upload is tried before giving up on transient failures.
const UPLOAD_ATTEMPTS: u32 = 4;

/// How long a file the index says it has may take to appear on its project page.
const LAG_WAIT: Duration = Duration::from_secs(120);

pub fn run(repo: &Repo, config: &Config, tag: &str, dist_dir: Option<&Path>) -> Result<()> {
    let started = Instant::now();
    let release = resolved::resolve(repo, config, tag)?;
    let resume = format!("cargo xtask stage {tag}");
    crate::interrupt::stand(&format!("staging {tag}"), "nothing was promoted", &resume);
    // Credentials first: a missing token is reported before anything is built or uploaded.
    let credentials = staging_credentials(config)?;
    evidence::sync(repo, &config.git.remote);
    let note = Note::read(repo, release.commit, tag)?;
    let agent = index::agent();

    // A release already staged and verified (on this machine or another) needs no build:
    // check that the index still serves those bytes.
    if let Some(note) = &note {
        let artifacts = note.artifacts();
        let verified = verify::verified(note.latest(Source::Staging.section()), &artifacts);
        if note.section(Section::Staging).is_some() && verified {
            let project = release.project_name(&artifacts);
            if index::serves(&agent, &config.staging.index_url, &project, &artifacts)
                .unwrap_or(false)
            {
                output::status(
                    "Staged",
                    format!(
                        "{tag} already: verified, and staging serves all {} files with the recorded sha256",
                        artifacts.len()
                    ),
                );
                // A run that stopped after writing the note but before pushing it.
                evidence::push(repo, &config.git.remote)?;
                return Ok(());
            }
        }
    }

    let frozen = output::group(&format!("Build {tag}"), || match dist_dir {
        Some(dir) => {
            build::freeze_from(repo, tag, &release.version, release.project.as_deref(), dir)
        }
        None => build::ensure_built(
            repo,
            config,
            tag,
            &release.version,
            release.commit,
            release.project.as_deref(),
        ),
    })?;
    if let Some(recorded) = note.as_ref().map(Note::artifacts).filter(|a| !a.is_empty()) {
        if recorded != frozen.artifacts {
            bail!(
                "{tag} was staged with other files ({}) than this build made ({}): the build is not \
                 reproducible here. The release note names what staging has; `cargo xtask verify {tag}` \
                 verifies those files as staging serves them",
                build::names(&recorded),
                build::names(&frozen.artifacts),
            );
        }
    }
    let project = release.project_name(&frozen.artifacts);
    let outcomes = output::group(&format!("Upload {tag} to staging"), || {
        ensure_on_index(
            &agent,
            "staging",
            &config.staging,
            &credentials,
            &project,
            &frozen,
        )
    })?;
    let waited = index::wait_until_served(
        &agent,
        "staging",
        &config.staging.index_url,
        &project,
        &frozen.artifacts,
        config.verify.index_timeout,
    )?;

    let mut note =
        note.unwrap_or_else(|| Note::new(tag, &release.version.to_string(), release.commit));
    note.set_artifacts(&frozen.artifacts);
    let mut staging = Table::new();
    staging["index-url"] = value(crate::resources::secrets::redact(&config.staging.index_url));
    staging["upload-url"] = value(crate::resources::secrets::redact(
        &config.staging.upload_url,
    ));
    staging["uploaded"] = evidence::string_array(&outcomes.uploaded);
    staging["already-present"] = evidence::string_array(&outcomes.present);
    staging["served-after-seconds"] = value(waited.as_secs_f64());
    staging["at"] = value(crate::clock::timestamp());
    note.record(Section::Staging, staging);
    output::status(
        "Staged",
        format!(
            "{tag}: {} uploaded, {} already there, served with the recorded sha256",
            outcomes.uploaded.len(),
            outcomes.present.len(),
        ),
    );
    // The upload is recorded even if the verification cannot run, then the verification.
    note.write(repo, release.commit)?;
    crate::interrupt::stand(
        &format!("verifying {tag}"),
        "the files are on staging, nothing was promoted",
        &resume,
    );
    let verification = output::group(&format!("Verify {tag}"), || {
        verify::verify(repo, config, &release, &frozen.artifacts, Source::Staging)
    });
    if let Ok(verification) = &verification {
        note.record(Source::Staging.section(), verification.section.clone());
        note.write(repo, release.commit)?;
    }
    evidence::push(repo, &config.git.remote)?;
    verify::finish(tag, Source::Staging, &verification?.failures)?;
    output::status(
        "Finished",
        format!(
            "{tag} is staged and verified ({:.1}s)",
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

pub fn staging_credentials(config: &Config) -> Result<Credentials> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    credentials::resolve(&config.staging, "testpypi", home.as_deref())
}

pub fn production_credentials(config: &Config) -> Result<Credentials> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    credentials::resolve(&config.production, "pypi", home.as_deref())
}

/// What `ensure_on_index` did.
#[derive(Debug, Default)]
pub struct Outcomes {
    pub uploaded: Vec<String>,
    pub present: Vec<String>,
}

/// Makes sure every frozen file is on the index with its recorded sha256: absent files are
/// uploaded (wheels first, sdist last), identical ones are left alone, and a same-named file
/// with other bytes stops everything before anything is uploaded.
pub fn ensure_on_index(
    agent: &ureq::Agent,
    label: &str,
    index_config: &config::Index,
    credentials: &Credentials,
    project: &str,
    frozen: &Frozen,
) -> Result<Outcomes> {
    let index_url = &index_config.index_url;
    let listing = index::project_files(agent, index_url, project)
        .with_context(|| format!("cannot read the {label} index"))?
        .unwrap_or_default();
    let mut outcomes = Outcomes::default();
    let mut to_upload = Vec::new();
    let mut conflicts = Vec::new();
    for artifact in &frozen.artifacts {
        match index::served_as(agent, &listing, &artifact.filename, &artifact.sha256)? {
            Served::Absent => to_upload.push(artifact),
            Served::Same => {
                output::status(
                    "Present",
                    format!("`{}` is on {label} with the same sha256", artifact.filename),
                );
                outcomes.present.push(artifact.filename.clone());
            }
            Served::Other(sha) => conflicts.push(format!(
                "`{}` is already on the {label} index with sha256 {sha}, but ours is {}",
                artifact.filename, artifact.sha256
            )),
        }
    }
    if !conflicts.is_empty() {
        bail!(
            "nothing was uploaded: the {label} index already has other bytes under our file names \
             (an index never lets a file name be reused; release a new version):\n  - {}",
            conflicts.join("\n  - ")
        );
    }
    to_upload.sort_by_key(|a| {
        (
            Kind::of(&a.filename) == Some(Kind::Sdist),
            a.filename.clone(),
        )
    });
    let upload_agent = index::upload_agent();
    for artifact in to_upload {
        let path = frozen.path(artifact);
        let metadata = dist::read_metadata(&path)?;
        let upload = Upload {
            path: &path,
            filename: &artifact.filename,
            size: artifact.size,
            sha256: &artifact.sha256,
            blake2_256: &artifact.blake2_256,
            metadata: &metadata,
        };
        let uploaded = upload_one(
            agent,
            &upload_agent,
            label,
            index_config,
            credentials,
            project,
            artifact,
            &upload,
        )?;
        if uploaded {
            outcomes.uploaded.push(artifact.filename.clone());
        } else {
            outcomes.present.push(artifact.filename.clone());
        }
    }
    Ok(outcomes)
}

/// Uploads one file, retrying transient failures and settling ambiguous answers by reading
/// the index. Returns whether this call uploaded it (`false`: it turned out to be there).
#[allow(clippy::too_many_arguments)]
fn upload_one(
    agent: &ureq::Agent,
    upload_agent: &ureq::Agent,
    label: &str,
    index_config: &config::Index,
    credentials: &Credentials,
    project: &str,
    artifact: &ArtifactRecord,
    upload: &Upload,
) -> Result<bool> {
    let shown_url = crate::resources::secrets::redact(&index_config.upload_url);
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=UPLOAD_ATTEMPTS {
        output::status(
            "Uploading",
            format!("`{}` to {label} (`{shown_url}`)", artifact.filename),
        );
        let current = credentials.current()?;
        let outcome = index::post_file(upload_agent, &index_config.upload_url, &current, upload);
        let settle = || -> Result<Served> {
            let listing =
                index::project_files(agent, &index_config.index_url, project)?.unwrap_or_default();
            index::served_as(agent, &listing, &artifact.filename, &artifact.sha256)
        };
        match outcome {
            PostOutcome::Accepted => return Ok(true),
            PostOutcome::Exists(message) => {
                return match settle()? {
                    Served::Same => {
                        output::status(
                            "Present",
                            format!(
                                "`{}` was already on {label} with the same sha256",
                                artifact.filename
                            ),
                        );
                        Ok(false)
                    }
                    Served::Other(sha) => bail!(
                        "the {label} index already has `{}` with sha256 {sha}, but ours is {}",
                        artifact.filename,
                        artifact.sha256
                    ),
                    Served::Absent => {
                        // The index took it but its page lags: wait for it, then decide.
                        let served = index::wait_until_served(
                            agent,
                            label,
                            &index_config.index_url,
                            project,
                            std::slice::from_ref(artifact),
                            LAG_WAIT,
                        );
                        match served {
                            Ok(_) => Ok(false),
                            Err(e) => Err(e.context(format!(
                                "the {label} index says `{}` exists: {message}",
                                artifact.filename
                            ))),
                        }
                    }
                };
            }
            PostOutcome::Transient {
                message,
                retry_after,
            } => {
                // The index may have stored the file before the failure: look before retrying.
                if let Ok(Served::Same) = settle() {
                    return Ok(true);
                }
                if attempt == UPLOAD_ATTEMPTS {
                    bail!(
                        "cannot upload `{}` to `{shown_url}` after {UPLOAD_ATTEMPTS} attempts: {message}",
                        artifact.filename
                    );
                }
                let wait = retry_after.unwrap_or(delay);
                output::warn(format!(
                    "uploading `{}` failed ({message}); retrying in {:.1}s",
                    artifact.filename,
                    wait.as_secs_f64()
                ));
                std::thread::sleep(wait);
                delay *= 2;
            }
            // No HTTP answer at all (a refused certificate, a file that cannot be read): the
            // index refused nothing.
            PostOutcome::Refused { status: 0, message } => {
                bail!(
                    "cannot upload `{}` to the {label} index: {message}",
                    artifact.filename
                );
            }
            PostOutcome::Refused { status, message } => {
                let hint = match status {
                    401 | 403 => format!(" ({})", credentials.hint(index_config)),
                    _ => String::new(),
                };
                bail!(
                    "the {label} index refused `{}` (HTTP {status}): {message}{hint}",
                    artifact.filename
                );
            }
        }
    }
    unreachable!("the loop returns or fails on its last attempt")
}
