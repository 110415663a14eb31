//! Files on an index: make sure a release's frozen files are on the staging or production
//! index with their recorded sha256 (`Index::ensure`: absent files uploaded, identical ones
//! left alone, a same-named file with other bytes refused before anything is uploaded), with
//! the credential the index takes. `stage` and `promote` both put files up through here; with
//! `Index::wait` it is the one idempotent path for "these files, with these hashes, on that
//! index".

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pep440_rs::Version;

use crate::config;
use crate::core::frozen::Frozen;
use crate::core::index::Index;
use crate::output;
use crate::resources::attest;
use crate::resources::dist::{self, Kind};
use crate::resources::evidence::{attestation, ArtifactRecord, Attestation, UploadRun};
use crate::resources::filename::DistFilename;
use crate::resources::index::{self, PostOutcome, Served, Upload};
use crate::resources::warehouse;

/// How many times one file's upload is tried before giving up on transient failures.
const UPLOAD_ATTEMPTS: u32 = 4;

/// How long a file the index says it has may take to appear on its project page.
const LAG_WAIT: Duration = Duration::from_secs(120);

/// An index to put a release's files on, for which project.
struct Target<'i, 'c> {
    index: &'i Index<'c>,
    project: &'i str,
}

/// What `ensure_on_index` did.
#[derive(Debug, Default)]
pub struct Outcomes {
    pub uploaded: Vec<String>,
    pub present: Vec<String>,
    /// Whether attestations were made (`evidence::attestation`, docs/provenance.md).
    pub attestations: Option<Attestation>,
    /// Uploaded with an attestation that the index then served as the file's provenance.
    pub attested: Vec<String>,
    /// On the index without an attestation of this run: already there, or not served back.
    pub not_attested: Vec<String>,
}

impl Outcomes {
    /// The note's record of the upload to `index`, served after `waited` (the caller adds
    /// its own fields and `at`).
    pub fn run(&self, index: &config::Index, waited: Duration) -> UploadRun {
        let made = self.attestations == Some(attestation::MADE);
        UploadRun {
            index_url: Some(crate::resources::secrets::redact(&index.index_url)),
            upload_url: Some(crate::resources::secrets::redact(&index.upload_url)),
            uploaded: Some(self.uploaded.clone()),
            already_present: Some(self.present.clone()),
            served_after_seconds: Some(waited.as_secs_f64()),
            attestations: self.attestations,
            attested: made.then(|| self.attested.clone()),
            not_attested: made.then(|| self.not_attested.clone()),
            ..UploadRun::default()
        }
    }
}

impl Index<'_> {
    /// Makes sure every frozen file is on this index with its recorded sha256: absent files
    /// are uploaded (wheels first, sdist last), identical ones are left alone, and a
    /// same-named file with other bytes stops everything before anything is uploaded.
    pub fn ensure(&self, project: &str, frozen: &Frozen) -> Result<Outcomes> {
        ensure_on_index(
            &Target {
                index: self,
                project,
            },
            frozen,
        )
    }
}

fn ensure_on_index(target: &Target, frozen: &Frozen) -> Result<Outcomes> {
    let (mut to_upload, mut outcomes) = missing(target, frozen)?;
    to_upload.sort_by_key(|a| {
        (
            Kind::of(&a.filename) == Some(Kind::Sdist),
            a.filename.clone(),
        )
    });
    // Every file is signed before any is uploaded: a wrong subject stops everything.
    let signed = attestations_for(target, frozen, &to_upload, &mut outcomes)?;
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
            attestations: signed.get(&artifact.filename).map(String::as_str),
        };
        if upload_one(target, artifact, &upload)? {
            outcomes.uploaded.push(artifact.filename.clone());
        } else {
            outcomes.present.push(artifact.filename.clone());
        }
    }
    if outcomes.attestations == Some(attestation::MADE) {
        confirm_provenance(target, frozen, &mut outcomes);
    }
    Ok(outcomes)
}

/// The signer to run for `target`, or why none runs (an `evidence::attestation` value), said
/// once.
fn signer(target: &Target) -> std::result::Result<Vec<String>, Attestation> {
    let label = target.index.label();
    if !target.index.credentials().is_ok_and(|c| c.trusted()) {
        output::note(format!(
            "no PEP 740 attestations: the {label} upload uses an API token, and an index takes \
             attestations only under trusted publishing"
        ));
        return Err(attestation::API_TOKEN);
    }
    let Some(command) = &target.index.config().attest_command else {
        let default: Vec<String> = attest::DEFAULT_SIGNER.map(String::from).into();
        if crate::resources::pyenv::runnable(&default[0]) {
            return Ok(default);
        }
        output::warn(format!(
            "no PEP 740 attestations for {label}: `pypi-attestations` is not installed \
             (`pip install pypi-attestations`), or set `{label}.attest-command` \
             (docs/provenance.md)"
        ));
        return Err(attestation::NO_SIGNER);
    };
    if command.is_empty() {
        output::note(format!(
            "no PEP 740 attestations: `{label}.attest-command` is empty"
        ));
        return Err(attestation::DISABLED);
    }
    Ok(command.clone())
}

/// The attestations of each file to upload (filename → the JSON array), signed in a folder
/// of this index's own beside the frozen files; none unless the upload uses a minted token.
fn attestations_for(
    target: &Target,
    frozen: &Frozen,
    to_upload: &[&ArtifactRecord],
    outcomes: &mut Outcomes,
) -> Result<BTreeMap<String, String>> {
    let mut signed = BTreeMap::new();
    let command = match signer(target) {
        Ok(command) => command,
        Err(mode) => {
            outcomes.attestations = Some(mode);
            return Ok(signed);
        }
    };
    outcomes.attestations = Some(attestation::MADE);
    let dir = frozen
        .dir
        .with_file_name(format!("attest-{}", target.index.label()));
    for artifact in to_upload {
        output::status(
            "Signing",
            format!("`{}` for {}", artifact.filename, target.index.label()),
        );
        let json = attest::sign(&command, &dir, &frozen.path(artifact), artifact)
            .with_context(|| format!("nothing was uploaded to {}", target.index.label()))?;
        signed.insert(artifact.filename.clone(), json);
    }
    Ok(signed)
}

/// Reads back each uploaded file's provenance (the page's `provenance` URL, else the integrity
/// API): only a file whose provenance the index serves is recorded as attested. A file that
/// was already there was not attested by this run, and is said so.
fn confirm_provenance(target: &Target, frozen: &Frozen, outcomes: &mut Outcomes) {
    let label = target.index.label();
    for name in &outcomes.present {
        output::status(
            "Present",
            format!("`{name}` on {label}: already there, not attested"),
        );
    }
    outcomes.not_attested = outcomes.present.clone();
    let listing = target.index.files(target.project).unwrap_or_default();
    for artifact in frozen
        .artifacts
        .iter()
        .filter(|a| outcomes.uploaded.contains(&a.filename))
    {
        match attest::provenance_of(
            target.index.agent(),
            target.index.url(),
            target.project,
            &listing,
            artifact,
        ) {
            Ok(attest::Provenance::Ours) => {
                output::status(
                    "Attested",
                    format!(
                        "`{}` on {label}: the index serves its provenance",
                        artifact.filename
                    ),
                );
                outcomes.attested.push(artifact.filename.clone());
            }
            other => {
                let why = match other {
                    Ok(attest::Provenance::Other) => {
                        "not attested: its provenance attests other bytes".to_string()
                    }
                    // Warehouse answers an identical re-upload before it reads attestations.
                    Ok(_) => "already there, not attested: the index serves no provenance for \
                              it (an index takes an identical re-upload without reading its \
                              attestations)"
                        .to_string(),
                    Err(e) => format!("not attested: its provenance cannot be read: {e:#}"),
                };
                output::warn(format!("`{}` on {label}: {why}", artifact.filename));
                outcomes.not_attested.push(artifact.filename.clone());
            }
        }
    }
}

/// The frozen files the index does not have yet, and the ones it has with the same sha256.
/// Any it has with other bytes is an error, before anything is uploaded.
fn missing<'f>(target: &Target, frozen: &'f Frozen) -> Result<(Vec<&'f ArtifactRecord>, Outcomes)> {
    let label = target.index.label();
    let index::Listing {
        files: listing,
        status,
    } = target
        .index
        .listing(target.project)
        .with_context(|| format!("cannot read the {label} index"))?
        .unwrap_or_default();
    let mut outcomes = Outcomes::default();
    let mut to_upload = Vec::new();
    let mut conflicts = Vec::new();
    for artifact in &frozen.artifacts {
        match target
            .index
            .served_as(&listing, &artifact.filename, &artifact.sha256)?
        {
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
    let mut refused = index_problems(label, &listing, &to_upload);
    if !to_upload.is_empty() {
        let status = status.as_deref().unwrap_or_default();
        refused.extend(warehouse::project_status_problem(
            status,
            target.project,
            label,
        ));
    }
    if !refused.is_empty() {
        bail!(
            "nothing was uploaded: PyPI would refuse it (docs/pypi-rules.md):\n  - {}",
            refused.join("\n  - ")
        );
    }
    Ok((to_upload, outcomes))
}

/// What PyPI's upload server refuses given what the index already holds of the release
/// (`warehouse`): new files for a release older than 14 days, a second sdist of the same
/// version under another name.
fn index_problems(
    label: &str,
    listing: &[index::IndexFile],
    to_upload: &[&ArtifactRecord],
) -> Vec<String> {
    let mut problems: Vec<String> = age_problem(label, listing, to_upload).into_iter().collect();
    for ours in to_upload
        .iter()
        .filter(|a| Kind::of(&a.filename) == Some(Kind::Sdist))
    {
        let version =
            index::filename_version(&ours.filename).and_then(|v| v.parse::<Version>().ok());
        // Any sdist, of any archive format an index ever took (`.zip` before PEP 625).
        let sdists: Vec<String> = listing
            .iter()
            .filter(|f| DistFilename::parse(&f.filename).is_some_and(|n| n.is_sdist()))
            .filter(|f| {
                let listed = f.version().and_then(|v| v.parse::<Version>().ok());
                listed.is_some() && listed == version
            })
            .map(|f| f.filename.clone())
            .collect();
        problems.extend(warehouse::second_sdist_problem(
            &ours.filename,
            &sdists,
            label,
        ));
    }
    problems
}

/// The release's age on the index, from the earliest PEP 700 `upload-time` of its files (only
/// a JSON page carries it: pypiserver and an HTML page leave this unchecked).
fn age_problem(
    label: &str,
    listing: &[index::IndexFile],
    to_upload: &[&ArtifactRecord],
) -> Option<String> {
    let version_of =
        |filename: &str| index::filename_version(filename).and_then(|v| v.parse::<Version>().ok());
    let version = version_of(&to_upload.first()?.filename)?;
    let oldest = listing
        .iter()
        .filter(|f| version_of(&f.filename).as_ref() == Some(&version))
        .filter_map(|f| {
            f.upload_time
                .as_deref()
                .and_then(crate::clock::parse_timestamp)
        })
        .min()?;
    let now = crate::clock::now();
    warehouse::release_age_problem(
        &version.to_string(),
        oldest.max(0) as u64,
        now.max(0) as u64,
        label,
    )
}

/// Uploads one file, retrying transient failures and settling ambiguous answers by reading
/// the index. Returns whether this call uploaded it (`false`: it turned out to be there).
fn upload_one(target: &Target, artifact: &ArtifactRecord, upload: &Upload) -> Result<bool> {
    let label = target.index.label();
    let shown_url = crate::resources::secrets::redact(target.index.upload_url());
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=UPLOAD_ATTEMPTS {
        output::status(
            "Uploading",
            format!("`{}` to {label} (`{shown_url}`)", artifact.filename),
        );
        let current = target.index.credentials()?.current()?;
        let agent = target.index.upload_agent();
        match index::post_file(agent, target.index.upload_url(), &current, upload) {
            PostOutcome::Accepted => return Ok(true),
            PostOutcome::Exists(message) => return settle_exists(target, artifact, &message),
            PostOutcome::Transient {
                message,
                retry_after,
            } => {
                // The index may have stored the file before the failure: look before retrying.
                if let Ok(Served::Same) = served_now(target, artifact) {
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
            PostOutcome::Refused { status, message } => {
                return Err(refused(target, artifact, status, &message))
            }
        }
    }
    unreachable!("the loop returns or fails on its last attempt")
}

/// What the index's page says of the file now.
fn served_now(target: &Target, artifact: &ArtifactRecord) -> Result<Served> {
    let listing = target.index.files(target.project)?;
    target
        .index
        .served_as(&listing, &artifact.filename, &artifact.sha256)
}

/// The index says the file exists: ours (`false`, it was there), other bytes (an error), or
/// not on its page yet (waited for).
fn settle_exists(target: &Target, artifact: &ArtifactRecord, message: &str) -> Result<bool> {
    let label = target.index.label();
    match served_now(target, artifact)? {
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
            let served =
                target
                    .index
                    .wait_within(target.project, std::slice::from_ref(artifact), LAG_WAIT);
            match served {
                Ok(_) => Ok(false),
                Err(e) => Err(e.context(format!(
                    "the {label} index says `{}` exists: {message}",
                    artifact.filename
                ))),
            }
        }
    }
}

/// The error for an upload the index refused, or that got no HTTP answer at all (status 0).
fn refused(
    target: &Target,
    artifact: &ArtifactRecord,
    status: u16,
    message: &str,
) -> anyhow::Error {
    let label = target.index.label();
    if status == 0 {
        // No HTTP answer at all (a refused certificate, a file that cannot be read): the
        // index refused nothing.
        return anyhow::anyhow!(
            "cannot upload `{}` to the {label} index: {message}",
            artifact.filename
        );
    }
    let hint = match (status, target.index.credentials()) {
        (401 | 403, Ok(credentials)) => format!(" ({})", credentials.hint(target.index.config())),
        _ => String::new(),
    };
    anyhow::anyhow!(
        "the {label} index refused `{}` (HTTP {status}): {message}{hint}",
        artifact.filename
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(filename: &str) -> ArtifactRecord {
        ArtifactRecord {
            filename: filename.into(),
            size: 1,
            sha256: "00".into(),
            blake2_256: "00".into(),
        }
    }

    fn listed(filename: &str, upload_time: Option<&str>) -> index::IndexFile {
        index::IndexFile {
            filename: filename.into(),
            upload_time: upload_time.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn a_release_first_uploaded_long_ago_takes_no_new_file() {
        let wheel = ours("pkg-1.0-py3-none-any.whl");
        let old = [listed("pkg-1.0.tar.gz", Some("2000-01-01T00:00:00Z"))];
        let problems = index_problems("staging", &old, &[&wheel]);
        assert!(problems[0].contains("14 days"), "{problems:?}");
        // Another version's age, or no upload time (an HTML page), says nothing.
        let other = [listed("pkg-0.9.tar.gz", Some("2000-01-01T00:00:00Z"))];
        assert!(index_problems("staging", &other, &[&wheel]).is_empty());
        let unknown = [listed("pkg-1.0.tar.gz", None)];
        assert!(index_problems("staging", &unknown, &[&wheel]).is_empty());
    }

    #[test]
    fn a_second_sdist_under_another_name_is_refused() {
        let sdist = ours("pkg-1.0.tar.gz");
        let legacy = [listed("Pkg-1.0.zip", None)];
        let problems = index_problems("staging", &legacy, &[&sdist]);
        assert!(problems[0].contains("second sdist"), "{problems:?}");
        let wheel_only = [listed("pkg-1.0-py3-none-any.whl", None)];
        assert!(index_problems("staging", &wheel_only, &[&sdist]).is_empty());
    }
}
