//! The `stage` stage: make sure a release tag's frozen files are on the staging index with
//! their recorded sha256, wait until the index serves them, verify them (`verify`), and record
//! all of it in the release note. Rerunning it is a no-op success.
//!
//! `Index::ensure` and `Index::wait` (in `core`) are the one idempotent path for "these files,
//! with these hashes, on that index"; promotion takes it too. The tag is resolved by
//! `resolved`; whether a file is served with its hash is `Index::served_as`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::core::build;
use crate::core::frozen::{self, Frozen};
use crate::core::index::{Index, Role};
use crate::core::upload::{Member, Outcomes};
use crate::core::verdict;
use crate::output;
use crate::resolved;
use crate::resources::evidence::{self, Entry, Note};
use crate::resources::git::Repo;
use crate::steps::verify;

pub fn run(repo: &Repo, config: &Config, tag: &str, dist_dir: Option<&Path>) -> Result<()> {
    let options = Options {
        dist: dist_dir,
        ..Options::default()
    };
    run_with(repo, config, tag, &options)
}

/// How much of the stage to run: the CI workflow splits it over jobs that hold different
/// permissions (docs/ci.md).
#[derive(Debug, Default, Clone, Copy)]
pub struct Options<'a> {
    /// Stage the files in this folder instead of building (`--dist`).
    pub dist: Option<&'a Path>,
    /// Upload and wait until served, but neither verify nor push the note (`--no-verify`).
    pub no_verify: bool,
    /// With `no_verify`: write the staging record to this file instead of the note
    /// (`--results`), for `record` to put into the note in a job that may push.
    pub results: Option<&'a Path>,
    /// Only build and freeze, and copy the frozen files into this folder (`--build-only`):
    /// no credential is read and nothing is uploaded.
    pub build_only: Option<&'a Path>,
}

pub fn run_with(repo: &Repo, config: &Config, tag: &str, options: &Options) -> Result<()> {
    let started = Instant::now();
    let release = resolved::tagged_release(repo, config, tag)?;
    // One run per repository at a time (docs/release.md, "One run at a time").
    let _lock =
        crate::resources::lock::hold(repo.common_dir(), crate::resources::lock::Wait::patient())?;
    if let Some(out) = options.build_only {
        return build_only(repo, config, &release, out);
    }
    let resume = format!("cargo xtask stage {tag}");
    crate::interrupt::stand(&format!("staging {tag}"), "nothing was promoted", &resume);
    // Credentials first: a missing token is reported before anything is built or uploaded.
    let staging = Index::new(Role::Staging, config);
    staging.credentials()?;
    evidence::sync(repo, &config.git.remote);
    let note = Note::read(repo, release.commit, tag)?;
    if options.results.is_none() && already_staged(&staging, &release, note.as_ref()) {
        // A run that stopped after writing the note but before pushing it.
        evidence::push(repo, &config.git.remote)?;
        return Ok(());
    }

    if !options.no_verify {
        // The verification installs the staged files of the packages of the release set this
        // one requires: each is staged first, or nothing is uploaded (docs/monorepo.md).
        crate::core::siblings::ready_at(repo, config, &release, Role::Staging)?;
    }
    let frozen = output::group(&format!("Build {tag}"), || {
        build_or_take(repo, config, &release, options.dist)
    })?;
    if let Some(note) = &note {
        check_same_files(tag, note, &frozen)?;
    }
    let uploaded = upload_and_wait(&staging, &release, &frozen);
    // The run's last upload to staging is done: its minted tokens are of no more use.
    staging.burn();
    let (outcomes, waited) = uploaded?;
    if let Some(path) = options.results {
        // The job that uploads may not push: the record goes to a file for `record`.
        let fresh = release.new_note();
        let fragment = staging_record(config, &release, fresh, &frozen, &outcomes, waited);
        return crate::resources::evidence::write_fragment(&fragment, path);
    }
    let note = note.unwrap_or_else(|| release.new_note());
    let mut note = staging_record(config, &release, note, &frozen, &outcomes, waited);
    note.write(repo, release.commit)?;
    if options.no_verify {
        return evidence::push(repo, &config.git.remote);
    }
    verify_and_record(repo, config, &staging, &release, &frozen, &mut note)?;
    output::status(
        "Finished",
        format!(
            "{tag} is staged and verified ({:.1}s)",
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// Stages the release tags of one push, each with its package's configuration, in the order
/// given (dependency order: docs/monorepo.md). When they share one staging index, they are one
/// set: each built (or found staged already), all their files put on staging together and
/// waited for once (`Index::ensure_set`), each upload recorded in its package's section of the
/// note, and then each verified in order, so a dependent's siblings are on staging before its
/// verification installs them. Otherwise each is staged alone, in order. A tag that fails
/// stops the rest, named in the error.
pub fn run_set(repo: &Repo, releases: &[(Config, String)]) -> Result<()> {
    let not_pushed = |tag: &str| format!("{tag} is not pushed: staging failed");
    if releases.len() < 2 || !one_staging_index(releases) {
        for (config, tag) in releases {
            run(repo, config, tag, None).with_context(|| not_pushed(tag))?;
        }
        return Ok(());
    }
    let started = Instant::now();
    let tags: Vec<&str> = releases.iter().map(|(_, tag)| tag.as_str()).collect();
    let named = tags.join(", ");
    let (first, _) = &releases[0];
    let _lock =
        crate::resources::lock::hold(repo.common_dir(), crate::resources::lock::Wait::patient())?;
    let resume = format!(
        "cargo xtask stage {}` or `git push --follow-tags",
        tags.join(" ")
    );
    crate::interrupt::stand(&format!("staging {named}"), "nothing was promoted", &resume);
    let staging = Index::new(Role::Staging, first);
    staging.credentials()?;
    evidence::sync(repo, &first.git.remote);
    let mut pending = Vec::new();
    for (config, tag) in releases {
        let release = resolved::tagged_release(repo, config, tag)?;
        let note = Note::read(repo, release.commit, tag)?;
        if already_staged(&staging, &release, note.as_ref()) {
            continue;
        }
        let frozen = output::group(&format!("Build {tag}"), || {
            build_or_take(repo, config, &release, None)
        })
        .with_context(|| not_pushed(tag))?;
        if let Some(note) = &note {
            check_same_files(tag, note, &frozen).with_context(|| not_pushed(tag))?;
        }
        pending.push((config, release, note, frozen));
    }
    if pending.is_empty() {
        return evidence::push(repo, &first.git.remote);
    }
    // Before anything goes up: the siblings outside this set are staged already (those in it
    // go up with it), or nothing is uploaded.
    for (config, release, _, _) in &pending {
        crate::core::siblings::ready_besides(repo, config, release, Role::Staging, &tags)
            .with_context(|| not_pushed(&release.tag))?;
    }
    let projects: Vec<String> = pending
        .iter()
        .map(|(_, release, _, frozen)| release.project_name(&frozen.artifacts))
        .collect();
    let members: Vec<Member> = pending
        .iter()
        .zip(&projects)
        .map(|((_, _, _, frozen), project)| Member { project, frozen })
        .collect();
    let uploading: Vec<&str> = pending.iter().map(|(_, r, _, _)| r.tag.as_str()).collect();
    let uploading = uploading.join(", ");
    let uploaded = output::group(&format!("Upload {uploading} to staging"), || {
        staging.ensure_set(&members)
    });
    // The run's last upload to staging is done: its minted tokens are of no more use.
    staging.burn();
    let set = uploaded.with_context(|| format!("{uploading}: not pushed: staging failed"))?;
    let mut staged = Vec::new();
    for ((config, release, note, frozen), outcomes) in pending.into_iter().zip(&set.members) {
        let note = note.unwrap_or_else(|| release.new_note());
        let note = staging_record(config, &release, note, &frozen, outcomes, set.waited);
        note.write(repo, release.commit)?;
        staged.push((config, release, frozen, note));
    }
    for (config, release, frozen, mut note) in staged {
        let tag = release.tag.clone();
        crate::core::siblings::ready_at(repo, config, &release, Role::Staging)
            .and_then(|_| verify_and_record(repo, config, &staging, &release, &frozen, &mut note))
            .with_context(|| not_pushed(&tag))?;
    }
    output::status(
        "Finished",
        format!(
            "{named} are staged and verified ({:.1}s)",
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// Whether every release of `releases` stages to one index with one credential: then their
/// files go up as one set.
fn one_staging_index(releases: &[(Config, String)]) -> bool {
    let key = |c: &Config| {
        let i = &c.staging;
        (
            i.upload_url.clone(),
            i.index_url.clone(),
            i.username.clone(),
            i.token_env.clone(),
            i.trusted_publishing,
            i.oidc_url.clone(),
            i.attest_command.clone(),
        )
    };
    let first = key(&releases[0].0);
    releases.iter().all(|(config, _)| key(config) == first)
}

/// Puts the frozen files on staging, several at once, and waits until it serves every one
/// with its sha256 (`Index::ensure_set`, a set of one project here).
fn upload_and_wait(
    staging: &Index,
    release: &resolved::Release,
    frozen: &Frozen,
) -> Result<(Outcomes, Duration)> {
    let project = release.project_name(&frozen.artifacts);
    let mut set = output::group(&format!("Upload {} to staging", release.tag), || {
        staging.ensure_set(&[Member {
            project: &project,
            frozen,
        }])
    })?;
    Ok((set.members.remove(0), set.waited))
}

/// `stage --build-only DIR`: the release's files built once (or taken as frozen before),
/// copied into `out` for the jobs after this one.
fn build_only(repo: &Repo, config: &Config, release: &resolved::Release, out: &Path) -> Result<()> {
    let frozen = output::group(&format!("Build {}", release.tag), || {
        build::ensure_built(repo, config, release)
    })?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create `{}`", out.display()))?;
    for artifact in &frozen.artifacts {
        let to = out.join(&artifact.filename);
        std::fs::copy(frozen.path(artifact), &to).with_context(|| {
            format!("cannot copy `{}` to `{}`", artifact.filename, out.display())
        })?;
    }
    output::status(
        "Built",
        format!(
            "{}: {} in `{}`",
            release.tag,
            frozen::names(&frozen.artifacts),
            out.display()
        ),
    );
    Ok(())
}

/// Whether the release was already staged and verified (on this machine or another) and
/// staging still serves those bytes: then it needs no build.
fn already_staged(staging: &Index, release: &resolved::Release, note: Option<&Note>) -> bool {
    let Some(note) = note else { return false };
    let artifacts = note.artifacts();
    let verified = verdict::verified(Role::Staging.latest(note), &artifacts);
    if note.staging.is_none() || !verified {
        return false;
    }
    let project = release.project_name(&artifacts);
    if !staging.serves(&project, &artifacts).unwrap_or(false) {
        return false;
    }
    output::status(
        "Staged",
        format!(
            "{} already: verified, and staging serves all {} files with the recorded sha256",
            release.tag,
            artifacts.len()
        ),
    );
    true
}

/// The release's files: taken from `dist_dir` when given, else built once from the tag.
fn build_or_take(
    repo: &Repo,
    config: &Config,
    release: &resolved::Release,
    dist_dir: Option<&Path>,
) -> Result<Frozen> {
    match dist_dir {
        Some(dir) => frozen::freeze_from(repo, release, dir),
        None => build::ensure_built(repo, config, release),
    }
}

/// A release staged before must be staged again with the same files.
fn check_same_files(tag: &str, note: &Note, frozen: &Frozen) -> Result<()> {
    let recorded = note.artifacts();
    if !recorded.is_empty() && recorded != frozen.artifacts {
        bail!(
            "{tag} was staged with other files ({}) than this build made ({}): the build is not \
             reproducible here. The release note names what staging has; `cargo xtask verify {tag}` \
             verifies those files as staging serves them",
            frozen::names(&recorded),
            frozen::names(&frozen.artifacts),
        );
    }
    Ok(())
}

/// The staging upload recorded in `note` (written by the caller: into the release note, or a
/// results file), so that the upload is on record even if the verification cannot run.
fn staging_record(
    config: &Config,
    release: &resolved::Release,
    mut note: Note,
    frozen: &Frozen,
    outcomes: &Outcomes,
    waited: Duration,
) -> Note {
    note.set_artifacts(&frozen.artifacts);
    let mut staging = outcomes.run(&config.staging, waited);
    staging.at = Some(crate::clock::timestamp());
    note.record(Entry::Staging(staging));
    output::status(
        "Staged",
        format!(
            "{}: {} uploaded, {} already there, served with the recorded sha256",
            release.tag,
            outcomes.uploaded.len(),
            outcomes.present.len(),
        ),
    );
    note
}

/// Verifies what staging serves and records it; the note is pushed either way, then a failed
/// verification is the stage's error.
fn verify_and_record(
    repo: &Repo,
    config: &Config,
    staging: &Index,
    release: &resolved::Release,
    frozen: &Frozen,
    note: &mut Note,
) -> Result<()> {
    let tag = &release.tag;
    crate::interrupt::stand(
        &format!("verifying {tag}"),
        "the files are on staging, nothing was promoted",
        &format!("cargo xtask stage {tag}"),
    );
    let verification = output::group(&format!("Verify {tag}"), || {
        verify::verify(repo, config, release, &frozen.artifacts, staging)
    });
    if let Ok(verification) = &verification {
        note.record(Role::Staging.entry(verification.run.clone()));
        note.write(repo, release.commit)?;
    }
    evidence::push(repo, &config.git.remote)?;
    verify::finish(tag, Role::Staging, &verification?.failures)
}
