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
use crate::core::schedule::{self, Bounds, Needs, Outcome};
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

/// How many uploads to one index are in flight at once. twine and `uv publish` send one file
/// after another (twine's threaded uploads are still a proposal, off by default when they come:
/// https://github.com/pypa/twine/issues/1250), so a release of many wheels waits a round trip
/// and the index's own handling per file. PyPI (Warehouse) sets no limit on concurrent uploads
/// but rate-limits by account and IP (https://github.com/pypi/warehouse/pull/13097), and locks
/// the release rows of concurrent uploads to one project in a fixed order so that they do not
/// deadlock (`_sort_releases` in `warehouse/forklift/legacy.py`). Small files are bound by
/// those round trips and go up `UPLOADS_IN_FLIGHT` at once; big ones are bound by the link,
/// which more of them at once only share, so beyond `UPLOADS_ALWAYS` a file starts only while
/// the files going up add up to at most `BYTES_IN_FLIGHT`. Each is streamed from disk through
/// a buffer of its own: memory grows with this number, not with the number of files.
pub const UPLOADS_IN_FLIGHT: usize = 16;
const UPLOADS_ALWAYS: usize = 4;
const BYTES_IN_FLIGHT: u64 = 64 * 1024 * 1024;

const UPLOAD_BOUNDS: Bounds = Bounds {
    always: UPLOADS_ALWAYS,
    most: UPLOADS_IN_FLIGHT,
    bytes: BYTES_IN_FLIGHT,
};

/// An index to put a release's files on, for which project.
struct Target<'i, 'c> {
    index: &'i Index<'c>,
    project: &'i str,
}

/// One project's frozen files, a member of a set put on one index together.
#[derive(Clone, Copy)]
pub struct Member<'a> {
    pub project: &'a str,
    pub frozen: &'a Frozen,
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

/// What `Index::ensure_set` did: each member's outcomes, in the members' order, and how long
/// the index took to serve the whole set after its last upload.
#[derive(Debug)]
pub struct SetOutcomes {
    pub members: Vec<Outcomes>,
    pub waited: Duration,
}

impl Index<'_> {
    /// Makes sure every frozen file is on this index with its recorded sha256: absent files
    /// are uploaded (`UPLOADS_IN_FLIGHT` at once, wheels first, the sdist after them),
    /// identical ones are left alone, and a same-named file with other bytes stops everything
    /// before anything is uploaded. The caller waits for them (`wait`).
    pub fn ensure(&self, project: &str, frozen: &Frozen) -> Result<Outcomes> {
        let mut outcomes = put_set(self, &[Member { project, frozen }])?;
        Ok(outcomes.remove(0))
    }

    /// `ensure` for a set of files of one or several projects (a release set): every
    /// member's files checked before anything is uploaded, then uploaded together,
    /// `UPLOADS_IN_FLIGHT` at once, then ONE wait until the index serves the whole set. A
    /// file that cannot be put there fails the call after every other file's upload has
    /// ended, with each file's outcome said.
    pub fn ensure_set(&self, members: &[Member]) -> Result<SetOutcomes> {
        let outcomes = put_set(self, members)?;
        let set: Vec<index::ProjectFiles> = members
            .iter()
            .map(|m| (m.project, m.frozen.artifacts.as_slice()))
            .collect();
        let waited = self.wait_for_set(&set, self.timeout())?;
        Ok(SetOutcomes {
            members: outcomes,
            waited,
        })
    }
}

/// One file to put up: which member, which file, its attestations.
struct Job<'a> {
    member: usize,
    artifact: &'a ArtifactRecord,
    attestations: Option<String>,
}

/// Every member's files on the index (not waited for): each member checked first (a conflict
/// or a refusal stops everything before any upload), every file to upload signed, then the
/// uploads, each project's sdist after its wheels (`upload_jobs`).
fn put_set(index: &Index, members: &[Member]) -> Result<Vec<Outcomes>> {
    let targets: Vec<Target> = members
        .iter()
        .map(|m| Target {
            index,
            project: m.project,
        })
        .collect();
    // Each project's page read at once; any conflict or refusal stops the set here.
    let pairs: Vec<(&Target, &Member)> = targets.iter().zip(members).collect();
    let checked = index::concurrently(&pairs, UPLOADS_IN_FLIGHT, |(target, member)| {
        missing(target, member.frozen)
    });
    let mut outcomes = Vec::new();
    let mut jobs = Vec::new();
    for (i, checked) in checked.into_iter().enumerate() {
        let (to_upload, outcome) = checked.context("interrupted")??;
        outcomes.push(outcome);
        jobs.push((i, to_upload));
    }
    // Every file is signed before any is uploaded: a wrong subject stops everything.
    let mut queued = Vec::new();
    for ((i, to_upload), outcome) in jobs.into_iter().zip(outcomes.iter_mut()) {
        let mut signed = attestations_for(&targets[i], members[i].frozen, &to_upload, outcome)?;
        queued.extend(to_upload.into_iter().map(|artifact| Job {
            member: i,
            artifact,
            attestations: signed.remove(&artifact.filename),
        }));
    }
    let failures = upload_jobs(&targets, members, &queued, &mut outcomes);
    if !failures.failed.is_empty() {
        return Err(failed(index, members, &outcomes, failures));
    }
    for ((target, member), outcome) in targets.iter().zip(members).zip(outcomes.iter_mut()) {
        if outcome.attestations == Some(attestation::MADE) {
            confirm_provenance(target, member.frozen, outcome);
        }
    }
    Ok(outcomes)
}

/// The files of a set that are not on the index after its uploads.
#[derive(Default)]
struct Failures {
    /// Each file whose upload failed, with why.
    failed: Vec<(String, anyhow::Error)>,
    /// The sdists not uploaded because a wheel of their project failed.
    held: Vec<String>,
}

/// Uploads the jobs (each member's wheels, then its sdist) within `UPLOAD_BOUNDS`: an sdist
/// once every wheel of its project went up (held if one failed), and, for a project none of
/// whose files the index has yet, its files one at a time until one has gone up: that upload
/// creates the release, and the project if it is new, which uploads racing each other would
/// both try (Warehouse looks the release up and creates it when absent, in each upload's own
/// transaction: `file_upload` in `warehouse/forklift/legacy.py`). Records what went up in
/// `outcomes`; returns what did not.
fn upload_jobs(
    targets: &[Target],
    members: &[Member],
    jobs: &[Job],
    outcomes: &mut [Outcomes],
) -> Failures {
    let (sdists, wheels): (Vec<&Job>, Vec<&Job>) = jobs.iter().partition(|job| job.is_sdist());
    let ordered: Vec<&Job> = wheels.into_iter().chain(sdists).collect();
    let new_release: Vec<bool> = outcomes.iter().map(|o| o.present.is_empty()).collect();
    let scheduled = schedule::run(&slots(&ordered, &new_release), UPLOAD_BOUNDS, |i| {
        let job = ordered[i];
        upload_job(&targets[job.member], members[job.member].frozen, job)
    });
    let mut failures = Failures::default();
    for (job, outcome) in ordered.iter().zip(scheduled) {
        let name = job.artifact.filename.clone();
        match outcome {
            Outcome::Ran(Ok(true)) => outcomes[job.member].uploaded.push(name),
            Outcome::Ran(Ok(false)) => outcomes[job.member].present.push(name),
            Outcome::Ran(Err(e)) => failures.failed.push((name, e)),
            Outcome::Held => failures.held.push(name),
            Outcome::Stopped => {
                // An interrupt stopped the uploads: the process is ending, and this waits.
                crate::interrupt::checkpoint();
                let never = anyhow::anyhow!("not uploaded: its upload never started");
                failures.failed.push((name, never));
            }
        }
    }
    failures
}

/// What each upload of `jobs` (wheels before sdists) waits for: a project's sdist for the
/// success of each of its wheels; and the files of a release the index has no file of yet go
/// up one at a time until one has gone up (the one that creates the release), then side by
/// side.
fn slots(jobs: &[&Job], new_release: &[bool]) -> Vec<schedule::Job> {
    jobs.iter()
        .map(|job| {
            let needs = match job.is_sdist() {
                true => (0..jobs.len())
                    .filter(|&w| jobs[w].member == job.member && !jobs[w].is_sdist())
                    .map(Needs::Succeeded)
                    .collect(),
                false => Vec::new(),
            };
            schedule::Job {
                size: job.artifact.size,
                needs,
                group: new_release[job.member].then_some(job.member),
            }
        })
        .collect()
}

impl Job<'_> {
    fn is_sdist(&self) -> bool {
        Kind::of(&self.artifact.filename) == Some(Kind::Sdist)
    }
}

/// One job's upload: the file's metadata read, then `upload_one`.
fn upload_job(target: &Target, frozen: &Frozen, job: &Job) -> Result<bool> {
    let artifact = job.artifact;
    let path = frozen.path(artifact);
    let metadata = dist::read_metadata(&path)?;
    let upload = Upload {
        path: &path,
        filename: &artifact.filename,
        size: artifact.size,
        sha256: &artifact.sha256,
        blake2_256: &artifact.blake2_256,
        metadata: &metadata,
        attestations: job.attestations.as_deref(),
    };
    upload_one(target, artifact, &upload)
}

/// The error of a set some of whose files could not be put on the index, after each file's
/// outcome is said: what went up, and whether the index lists it now (one read of each
/// project's page: nothing is called served that the index does not list with its sha256).
fn failed(
    index: &Index,
    members: &[Member],
    outcomes: &[Outcomes],
    failures: Failures,
) -> anyhow::Error {
    let label = index.label();
    let mut on_index = 0;
    for (member, outcome) in members.iter().zip(outcomes) {
        let listing = index.files(member.project).unwrap_or_default();
        for artifact in member.frozen.artifacts.iter().filter(|a| {
            outcome.uploaded.contains(&a.filename) || outcome.present.contains(&a.filename)
        }) {
            let name = &artifact.filename;
            if let Ok(Served::Same) = index.served_as(&listing, name, &artifact.sha256) {
                on_index += 1;
                output::status(
                    "Served",
                    format!("`{name}` by {label} with the recorded sha256"),
                );
            } else {
                output::warn(format!(
                    "`{name}`: the {label} index took it but does not list it with the \
                     recorded sha256 yet"
                ));
            }
        }
    }
    let total: usize = members.iter().map(|m| m.frozen.artifacts.len()).sum();
    let mut lines: Vec<String> = failures
        .failed
        .iter()
        .map(|(name, e)| format!("`{name}`: {e:#}"))
        .collect();
    lines.extend(failures.held.iter().map(|name| {
        format!("`{name}`: not uploaded, since an sdist goes up after all of its project's wheels")
    }));
    anyhow::anyhow!(
        "{} of {total} files could not be put on the {label} index; {on_index} files are served \
         with their sha256, and a rerun uploads only what is missing:\n  - {}",
        failures.failed.len(),
        lines.join("\n  - ")
    )
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
    fn an_sdist_waits_for_its_wheels_and_a_new_release_for_its_first_file() {
        use Needs::Succeeded;
        let files = [
            ours("new-1.0-cp312-cp312-linux_x86_64.whl"),
            ours("new-1.0-cp313-cp313-linux_x86_64.whl"),
            ours("old-2.0-py3-none-any.whl"),
            ours("new-1.0.tar.gz"),
            ours("old-2.0.tar.gz"),
        ];
        let members = [0, 0, 1, 0, 1];
        let jobs: Vec<Job> = files
            .iter()
            .zip(members)
            .map(|(artifact, member)| Job {
                member,
                artifact,
                attestations: None,
            })
            .collect();
        let ordered: Vec<&Job> = jobs.iter().collect();
        // Member 0 has no file on the index yet, member 1 has some.
        let slots = slots(&ordered, &[true, false]);
        let needs: Vec<&[Needs]> = slots.iter().map(|slot| slot.needs.as_slice()).collect();
        assert_eq!(
            needs,
            [
                &[][..],
                &[],
                &[],
                &[Succeeded(0), Succeeded(1)],
                &[Succeeded(2)],
            ]
        );
        // The new release's files go up one at a time until one has gone up.
        let groups: Vec<Option<usize>> = slots.iter().map(|slot| slot.group).collect();
        assert_eq!(groups, [Some(0), Some(0), None, Some(0), None]);
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
