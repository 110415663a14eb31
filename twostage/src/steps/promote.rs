//! The `promote` stage: the gate, the same bytes to production, the `-prod` tag, the GitHub
//! release. One idempotent path: `promote`, a rerun after an interruption anywhere, and the
//! pre-push hook for a `-prod` tag all converge on the same end state.
//!
//! The gate: the release note says exactly these files (names and sha256) were staged and
//! verified; the staging index still serves them with those hashes; a `-prod` tag, if there
//! is one, points at the release commit. Otherwise nothing is changed.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::core::frozen::{self, Frozen};
use crate::core::index::{Index, Indexes, Role};
use crate::core::production::{
    annotated_prod_tag, manifest_digest, plain_tag, remote_commit, sha256sums, ATTESTATION_SUFFIX,
    NOTE_ASSET,
};
use crate::core::siblings;
use crate::core::verdict::{self, Refusal, SiblingRefusal, SiblingState, Unverified};
use crate::output;
use crate::resolved::{self, Release};
use crate::resources::dist;
use crate::resources::evidence::{self, ArtifactRecord, Entry, GithubRun, Note, NOTES_REF};
use crate::resources::forge::{self, Github};
use crate::resources::git::{Push, Repo};
use crate::resources::index::Served;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dry_run: bool,
    pub no_push: bool,
    pub no_github: bool,
}

/// Reads the release note after bringing in the remote's notes (a fresh clone or CI has none;
/// another machine may have recorded more): the remote's note wins.
fn note_for(repo: &Repo, config: &Config, release: &Release) -> Result<Option<Note>> {
    evidence::sync(repo, &config.git.remote);
    Note::read(repo, release.commit, &release.tag)
}

/// Every reason the promotion of `release` would be refused; empty when the gate opens.
fn gate(
    repo: &Repo,
    config: &Config,
    staging: &Index,
    release: &Release,
    prod_tag: &str,
    note: Option<&Note>,
) -> Vec<String> {
    // The remote first: it is what the push of the `-prod` tag and every other clone will
    // see, so a gate on the local tags alone would let files reach production before the
    // push is refused.
    let mut problems = remote_problems(repo, config, release, prod_tag);
    let Some(note) = note else {
        problems.push(format!(
            "{} has no release note: it was never staged (`cargo xtask stage {}`)",
            release.tag, release.tag
        ));
        return problems;
    };
    let artifacts = note.artifacts();
    problems.extend(note_problems(release, note));
    problems.extend(sibling_problems(repo, config, release, note));
    if let Some(prod_commit) = repo.tag_commit(prod_tag) {
        if prod_commit != release.commit {
            problems.push(format!(
                "`{prod_tag}` points at {prod_commit}, but `{}` at {}: they must name the same commit",
                release.tag, release.commit
            ));
        }
    }
    if problems.is_empty() {
        problems = staging_problems(staging, release, &artifacts);
    }
    problems
}

/// What the remote says of the release tag and the `-prod` tag, read without fetching
/// (`git ls-remote`, https://git-scm.com/docs/git-ls-remote): each, where the remote has it,
/// must name the release commit. A remote that cannot be read is a refusal too: the promotion
/// relies on what it holds. Without such a remote there is nothing to compare.
fn remote_problems(repo: &Repo, config: &Config, release: &Release, prod_tag: &str) -> Vec<String> {
    let remote = &config.git.remote;
    if repo.remote_url(remote).is_none() {
        return Vec::new();
    }
    let tags = [release.tag.as_str(), prod_tag];
    // `^{}` asks for the commit an annotated tag points at, beside the tag object.
    let patterns: Vec<String> = tags
        .iter()
        .flat_map(|t| [format!("refs/tags/{t}"), format!("refs/tags/{t}^{{}}")])
        .collect();
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let refs = match repo.ls_remote(remote, &patterns) {
        Ok(refs) => refs,
        Err(e) => {
            return vec![format!(
                "cannot read the tags of `{remote}` ({e:#}): the promotion relies on them; \
                 make the remote reachable and rerun"
            )]
        }
    };
    let mut problems = Vec::new();
    for tag in tags {
        let Some(commit) = remote_commit(&refs, tag) else {
            continue;
        };
        if commit == release.commit {
            continue;
        }
        problems.push(if tag == prod_tag {
            format!(
                "`{remote}` has `{prod_tag}` at {commit}, but `{}` is at {}: they must name the \
                 same commit (delete the remote's `{prod_tag}` if it is wrong)",
                release.tag, release.commit
            )
        } else {
            format!(
                "`{remote}` has `{tag}` at {commit}, not at {} as here: the tag was moved; \
                 look at `git ls-remote {remote} refs/tags/{tag}` and make the two agree first",
                release.commit
            )
        });
    }
    problems
}

/// What the note must say: these files were staged, and verified (`verdict::refusals`).
fn note_problems(release: &Release, note: &Note) -> Vec<String> {
    let tag = &release.tag;
    verdict::refusals(note)
        .into_iter()
        .map(|refusal| match refusal {
            Refusal::NotStaged => format!("the release note of {tag} records no staging upload"),
            Refusal::NotVerified { verdict, why } => {
                let result = match (verdict, why.first()) {
                    (Some(v), _) => v.as_str(),
                    (None, Some(Unverified::Absent)) => "absent",
                    (None, _) => "no verdict",
                };
                // The verdict is said once; the other reasons follow it.
                let more: Vec<String> = why
                    .iter()
                    .filter(|w| !matches!(w, Unverified::Absent | Unverified::Verdict(_)))
                    .map(|w| format!("; {w}"))
                    .collect();
                format!(
                    "the release note does not say these exact files were verified (verification: {result}{}): run `cargo xtask stage {tag}`",
                    more.concat()
                )
            }
        })
        .collect()
}

/// The promotion order (`verdict::sibling_refusals`): each package of the release set this one
/// requires is on production first, and this one was verified against its staged files.
fn sibling_problems(repo: &Repo, config: &Config, release: &Release, note: &Note) -> Vec<String> {
    let checkout = || {
        let dir = release.work.join("siblings-checkout");
        siblings::checkout_into(repo, release.commit, &dir)
    };
    let found = match siblings::find(repo, config, release.commit, &checkout) {
        Ok(found) => found,
        Err(e) => return vec![format!("{e:#}")],
    };
    let mut notes = Vec::new();
    let mut serves = Vec::new();
    for sibling in &found {
        let sibling_note = match Note::read(repo, release.commit, &sibling.tag) {
            Ok(n) => n,
            Err(e) => return vec![format!("{e:#}")],
        };
        // Production is asked only of a sibling whose section records it there.
        let served = match (config.for_package(&sibling.name), &sibling_note) {
            (Some(sibling_config), Some(n)) if n.production.is_some() => {
                let production = Index::new(Role::Production, &sibling_config);
                production
                    .serves(&sibling.name, &n.artifacts)
                    .unwrap_or(false)
            }
            _ => false,
        };
        notes.push(sibling_note);
        serves.push(served);
    }
    let states: Vec<SiblingState> = found
        .iter()
        .zip(&notes)
        .zip(&serves)
        .map(|((sibling, n), served)| SiblingState {
            package: &sibling.name,
            tag: &sibling.tag,
            note: n.as_ref(),
            production_serves: *served,
        })
        .collect();
    let tag = &release.tag;
    verdict::sibling_refusals(note, &states)
        .into_iter()
        .map(|refusal| match refusal {
            SiblingRefusal::NotOnProduction {
                package,
                tag: theirs,
            } => format!(
                "{tag} requires `{package}`, released on the same commit as `{theirs}`, which is \
                 not on production yet: promote it first (`cargo xtask promote {theirs}`), then \
                 `cargo xtask promote {tag}`"
            ),
            SiblingRefusal::NotVerifiedWith {
                package,
                tag: theirs,
            } => format!(
                "the latest verification of {tag} did not install the staged files of `{theirs}` \
                 (`{package}`, which it requires) as its release note records them: verify it \
                 again (`cargo xtask verify {tag}`)"
            ),
        })
        .collect()
}

/// Whether staging still serves the verified files with their recorded sha256.
fn staging_problems(
    staging: &Index,
    release: &Release,
    artifacts: &[ArtifactRecord],
) -> Vec<String> {
    let project = release.project_name(artifacts);
    let listing = match staging.files(&project) {
        Ok(listing) => listing,
        Err(e) => return vec![format!("cannot check what staging serves: {e:#}")],
    };
    let mut problems = Vec::new();
    for artifact in artifacts {
        match staging.served_as(&listing, &artifact.filename, &artifact.sha256) {
            Ok(Served::Same) => {}
            Ok(Served::Other(sha)) => problems.push(format!(
                "staging now serves `{}` with sha256 {sha}, not the verified {}",
                artifact.filename, artifact.sha256
            )),
            Ok(Served::Absent) => {
                problems.push(format!("staging no longer lists `{}`", artifact.filename))
            }
            Err(e) => problems.push(format!(
                "cannot check `{}` on staging: {e:#}",
                artifact.filename
            )),
        }
    }
    problems
}

pub fn run(repo: &Repo, config: &Config, tag: &str, options: &Options) -> Result<()> {
    let (tag, prod_tag) = plain_tag(repo, config, tag)?;
    let release = resolved::tagged_release(repo, config, &tag)?;
    let indexes = Indexes::new(config);
    if options.dry_run {
        return dry_run(repo, config, &indexes, &release, &prod_tag);
    }
    // One run per repository at a time (docs/release.md, "One run at a time").
    let _lock =
        crate::resources::lock::hold(repo.common_dir(), crate::resources::lock::Wait::patient())?;
    let note = note_for(repo, config, &release)?;
    let problems = gate(
        repo,
        config,
        &indexes.staging,
        &release,
        &prod_tag,
        note.as_ref(),
    );
    let artifacts = note.as_ref().map(Note::artifacts).unwrap_or_default();
    let mut note = through_gate(
        &tag,
        &problems,
        note,
        &format!("cannot promote {tag}, nothing was changed"),
    )?;
    output::group(&format!("Promote {tag} to production"), || {
        promote_files(
            repo,
            config,
            &indexes,
            &release,
            &mut note,
            !options.no_push,
        )
    })?;
    make_prod_tag(repo, config, &release, &prod_tag, &artifacts)?;
    if options.no_push {
        output::note(format!(
            "--no-push: push `{prod_tag}` and `{NOTES_REF}` yourself"
        ));
    } else {
        push_prod_tag(repo, config, &tag, &prod_tag)?;
    }
    if options.no_github {
        output::note("--no-github: no GitHub release");
    } else {
        output::group(&format!("Publish the GitHub release of {tag}"), || {
            publish(
                repo,
                config,
                &indexes.staging,
                &release,
                &mut note,
                !options.no_push,
            )
        })?;
    }
    output::status(
        "Promoted",
        format!("{tag}: production serves the verified bytes"),
    );
    Ok(())
}

/// `promote --dry-run`: the gate and what the promotion would do, with nothing changed. A dry
/// run changes no ref, so it reads only the notes that are here.
fn dry_run(
    repo: &Repo,
    config: &Config,
    indexes: &Indexes,
    release: &Release,
    prod_tag: &str,
) -> Result<()> {
    let tag = &release.tag;
    let note = Note::read(repo, release.commit, tag)?;
    let mut problems = gate(
        repo,
        config,
        &indexes.staging,
        release,
        prod_tag,
        note.as_ref(),
    );
    let artifacts = note.as_ref().map(Note::artifacts).unwrap_or_default();
    if note.is_none() {
        problems.push(format!(
            "(a dry run does not fetch: `git fetch {} {NOTES_REF}:{NOTES_REF}` brings in notes made elsewhere)",
            config.git.remote
        ));
    }
    // The real run's decision (`Index::credentials`), without minting.
    if let Err(e) = indexes.production.choice() {
        problems.push(format!("{e:#}"));
    }
    print_plan(config, release, prod_tag, &artifacts);
    for problem in &problems {
        output::error(problem);
    }
    if !problems.is_empty() {
        bail!(
            "the promotion would be refused:\n  - {}",
            problems.join("\n  - ")
        );
    }
    output::status("Finished", "dry run: nothing was changed");
    Ok(())
}

/// What a promotion would do, for `--dry-run`.
fn print_plan(config: &Config, release: &Release, prod_tag: &str, artifacts: &[ArtifactRecord]) {
    output::status(
        "Planning",
        format!(
            "the promotion of {} to production (`{}`)",
            release.tag,
            crate::resources::secrets::redact(&config.production.upload_url)
        ),
    );
    for artifact in artifacts {
        output::status(
            "Would upload",
            format!("`{}` (sha256 {})", artifact.filename, artifact.sha256),
        );
    }
    output::status(
        "Would tag",
        format!(
            "`{prod_tag}` on {} and push it to `{}`",
            release.commit, config.git.remote
        ),
    );
    output::status(
        "Would publish",
        format!("the GitHub release of {}", release.tag),
    );
}

/// Pushes the `-prod` tag. The pre-push hook finds the promotion done and lets the tag through.
fn push_prod_tag(repo: &Repo, config: &Config, tag: &str, prod_tag: &str) -> Result<()> {
    output::status(
        "Pushing",
        format!("`{prod_tag}` to `{}`", config.git.remote),
    );
    let push = Push {
        quiet: true,
        // The hook then keeps quiet: this command says `Promoted` itself.
        hook_env: &[("TWOSTAGE_PROMOTING", prod_tag)],
        ..Push::default()
    };
    let refs = [format!("refs/tags/{prod_tag}")];
    let status = repo.push_refs(&config.git.remote, &refs, &push)?;
    if !status.success() {
        bail!("`git push {} {prod_tag}` failed; production has the files: rerun `cargo xtask promote {tag}` to finish", config.git.remote);
    }
    Ok(())
}

/// The files, to production, recorded. Idempotent: files already there are left alone.
fn promote_files(
    repo: &Repo,
    config: &Config,
    indexes: &Indexes,
    release: &Release,
    note: &mut Note,
    push_notes: bool,
) -> Result<()> {
    let production = &indexes.production;
    production.credentials()?;
    let artifacts = note.artifacts();
    let frozen = bytes(repo, &indexes.staging, release, &artifacts)?;
    let project = release.project_name(&artifacts);
    output::status(
        "Promoting",
        format!("{} files of {} to production", artifacts.len(), release.tag),
    );
    let outcomes = production.ensure(&project, &frozen);
    // The run's last upload to production is done: its minted tokens are of no more use.
    production.burn();
    let outcomes = outcomes?;
    let waited = production.wait(&project, &artifacts)?;
    let mut record = outcomes.run(production.config(), waited);
    record.manifest_sha256 = Some(manifest_digest(&artifacts));
    record.at = Some(crate::clock::timestamp());
    note.record(Entry::Production(record));
    note.write(repo, release.commit)?;
    if push_notes {
        evidence::push(repo, &config.git.remote)?;
    }
    Ok(())
}

/// The verified bytes: the frozen files when they hash as recorded, else downloaded from
/// staging and checked. A file already downloaded into the release's `promote/` folder that
/// still hashes as recorded is not fetched again: one run asks twice (the upload, then the
/// GitHub release's assets), and a rerun after an interruption asks again.
fn bytes(
    repo: &Repo,
    staging: &Index,
    release: &Release,
    artifacts: &[ArtifactRecord],
) -> Result<Frozen> {
    release.check_filenames(artifacts)?;
    if let Ok(Some(frozen)) = frozen::frozen(repo, &release.tag) {
        if frozen.artifacts == artifacts {
            return Ok(frozen);
        }
    }
    let dir: PathBuf = release.work.join("promote");
    std::fs::create_dir_all(&dir)?;
    let fetched = |a: &ArtifactRecord| {
        dist::digests(&dir.join(&a.filename))
            .is_ok_and(|(size, sha256, _)| size == a.size && sha256 == a.sha256)
    };
    let missing: Vec<&ArtifactRecord> = artifacts.iter().filter(|a| !fetched(a)).collect();
    if missing.is_empty() {
        return Ok(Frozen {
            dir,
            artifacts: artifacts.to_vec(),
        });
    }
    let project = release.project_name(artifacts);
    let listing = staging.files(&project)?;
    for artifact in missing {
        output::status(
            "Downloading",
            format!("`{}` from staging", artifact.filename),
        );
        let path = dir.join(&artifact.filename);
        if let Some(why) = staging.download(&listing, artifact, &path)? {
            bail!(
                "staging served other bytes for the verified `{}`: {why}",
                artifact.filename
            );
        }
    }
    Ok(Frozen {
        dir,
        artifacts: artifacts.to_vec(),
    })
}

fn make_prod_tag(
    repo: &Repo,
    config: &Config,
    release: &Release,
    prod_tag: &str,
    artifacts: &[ArtifactRecord],
) -> Result<()> {
    // The remote may have it already (CI promoted): take that one rather than make another,
    // which the remote would refuse.
    let remote = &config.git.remote;
    if repo.tag_commit(prod_tag).is_none() && repo.remote_url(remote).is_some() {
        let tag_ref = format!("refs/tags/{prod_tag}");
        if repo
            .ls_remote(remote, &[&tag_ref])
            .is_ok_and(|refs| !refs.is_empty())
        {
            repo.fetch_ref(remote, &tag_ref, &tag_ref, false)?;
        }
    }
    if let Some(commit) = repo.tag_commit(prod_tag) {
        if commit != release.commit {
            bail!(
                "`{prod_tag}` points at {commit}, but `{}` at {}: they must name the same commit",
                release.tag,
                release.commit
            );
        }
        if let Some(warning) = annotated_prod_tag(repo, remote, prod_tag) {
            output::warn(warning);
        }
        return Ok(());
    }
    output::status(
        "Tagging",
        format!(
            "`{prod_tag}`, lightweight (the note's `[production]` records manifest sha256 {})",
            manifest_digest(artifacts)
        ),
    );
    // Lightweight, so that the production tag never changes the version a VCS-versioned
    // project's own builds read. setuptools-scm (and hatch-vcs through it) runs
    // `git describe --dirty --tags --long --match '*[0-9]*'`, pdm-backend's scm source
    // `git describe --dirty --tags --long --match '*.*'`; of the tags on one commit, describe
    // keeps an annotated tag over a lightweight one, the newest of two annotated ones, and of
    // two lightweight ones the first in ref order (`replace_name` in git's
    // builtin/describe.c), which is the release tag: `vX.Y.Z` sorts before `vX.Y.Z-prod`. An
    // annotated `-prod` tag would be what those builds read, and `vX.Y.Z-prod` does not parse
    // as their version. A lightweight tag cannot be signed; `git.sign` signs the release tag.
    repo.tag_lightweight(prod_tag, &release.commit.to_string())
}

/// The GitHub release for the version, made so that immutable releases can be on: a draft,
/// then every asset, then published (docs/promote.md, "The GitHub release"). A release found
/// published is only checked against the note, never uploaded to or edited; a draft found (an
/// earlier run stopped) is completed.
fn publish(
    repo: &Repo,
    config: &Config,
    staging: &Index,
    release: &Release,
    note: &mut Note,
    push_notes: bool,
) -> Result<()> {
    let Some((github, repository)) = github(repo, config)? else {
        return Ok(());
    };
    let artifacts = note.artifacts();
    let text = Text {
        title: release.tag.clone(),
        notes: release_notes(repo, config, release),
        prerelease: release.version.any_prerelease(),
    };
    output::status(
        "Publishing",
        format!("the GitHub release {} of `{repository}`", release.tag),
    );
    let files = assets(repo, staging, release, note, &artifacts)?;
    let (gh_release, created) = match github.release_for_tag(&release.tag)? {
        Some(published) if !published.draft => {
            check_published(&github, &published, &files, &artifacts)?;
            output::status(
                "Published",
                format!("already, with these assets: {}", published.html_url),
            );
            (published, false)
        }
        found => {
            let created = found.is_none();
            let draft = match found {
                Some(draft) => draft,
                None => github.create_draft(
                    &release.tag,
                    &release.commit.to_string(),
                    &text.title,
                    &text.notes,
                    text.prerelease,
                )?,
            };
            attach(&github, &draft, &files)?;
            let published = github.publish(&draft, &text.title, &text.notes, text.prerelease)?;
            (published, created)
        }
    };
    note.record(Entry::Github(GithubRun {
        repository: Some(repository.clone()),
        url: Some(gh_release.html_url.clone()),
        created: Some(created),
        immutable: Some(gh_release.immutable),
        assets: Some(files.iter().map(|f| f.name.clone()).collect()),
        at: Some(crate::clock::timestamp()),
        ..GithubRun::default()
    }));
    note.write(repo, release.commit)?;
    if push_notes {
        evidence::push(repo, &config.git.remote)?;
    }
    Ok(())
}

/// The release's title, notes and pre-release flag.
struct Text {
    title: String,
    notes: String,
    prerelease: bool,
}

/// The GitHub client and the repository it publishes to; `None` (said) without a token, or
/// without a repository to publish to.
fn github(repo: &Repo, config: &Config) -> Result<Option<(Github, String)>> {
    let repository = crate::core::production::github_repository(repo, config);
    let token = std::env::var(&config.github.token_env)
        .ok()
        .filter(|t| !t.trim().is_empty());
    let (Some(token), Some(repository)) = (token, repository.clone()) else {
        output::note(match repository {
            // Setting the token would not help: there is nowhere to publish.
            None => "no GitHub repository (`github.repository`, or a remote on github.com): no GitHub release".to_string(),
            Some(_) => format!(
                "no `{}`: no GitHub release (set it to publish one)",
                config.github.token_env
            ),
        });
        return Ok(None);
    };
    let github = Github::new(
        &config.github.api_url,
        &repository,
        crate::resources::secrets::Secret::new(token.trim()),
    );
    Ok(Some((github, repository)))
}

/// One file of the GitHub release.
struct Asset {
    path: PathBuf,
    name: String,
    sha256: String,
    /// The release note, compared by the artifacts it lists (a later run adds to the note).
    note: bool,
}

/// The release's assets: the verified files, their attestations where the frozen set's folder
/// holds any, `SHA256SUMS` and the release note (both written beside the release's work).
fn assets(
    repo: &Repo,
    staging: &Index,
    release: &Release,
    note: &Note,
    artifacts: &[ArtifactRecord],
) -> Result<Vec<Asset>> {
    let frozen = bytes(repo, staging, release, artifacts)?;
    let file = |path: PathBuf, name: String, note: bool| -> Result<Asset> {
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
        let sha256 = dist::hex(&Sha256::digest(&bytes));
        Ok(Asset {
            path,
            name,
            sha256,
            note,
        })
    };
    let mut files: Vec<Asset> = artifacts
        .iter()
        .map(|a| Asset {
            path: frozen.path(a),
            name: a.filename.clone(),
            sha256: a.sha256.clone(),
            note: false,
        })
        .collect();
    for a in artifacts {
        let name = format!("{}{ATTESTATION_SUFFIX}", a.filename);
        let path = frozen.dir.join(&name);
        if path.is_file() {
            files.push(file(path, name, false)?);
        }
    }
    let sums_path = release.work.join("SHA256SUMS");
    std::fs::write(&sums_path, sha256sums(artifacts))?;
    files.push(file(sums_path, "SHA256SUMS".into(), false)?);
    let note_path = release.work.join(NOTE_ASSET);
    std::fs::write(&note_path, note.to_toml())?;
    files.push(file(note_path, NOTE_ASSET.into(), true)?);
    Ok(files)
}

/// Attaches to a draft every file it does not have yet with these bytes; an asset of the same
/// name with other bytes is replaced (a draft's assets can still change).
fn attach(github: &Github, draft: &forge::GithubRelease, files: &[Asset]) -> Result<()> {
    for file in files {
        if let Some(existing) = draft.assets.iter().find(|a| a.name == file.name) {
            if same_bytes(existing, file)? {
                continue;
            }
            github.delete_asset(existing)?;
        }
        output::status("Attaching", format!("`{}`", file.name));
        github.upload_asset(draft, &file.path, &file.name)?;
    }
    Ok(())
}

fn same_bytes(existing: &forge::Asset, file: &Asset) -> Result<bool> {
    Ok(match &existing.digest {
        Some(digest) => digest == &format!("sha256:{}", file.sha256),
        None => existing.size == std::fs::metadata(&file.path)?.len(),
    })
}

/// A published release is read, never changed: every file and `SHA256SUMS` must be there with
/// the bytes the note says, the release note (by the artifacts it lists) and attestations
/// where it has them. A mismatch is an error naming the
/// asset: with immutable releases GitHub refuses to change it, and without, changing the
/// assets of a release users may have fetched is not ours to do.
fn check_published(
    github: &Github,
    published: &forge::GithubRelease,
    files: &[Asset],
    artifacts: &[ArtifactRecord],
) -> Result<()> {
    let mut problems = Vec::new();
    for file in files {
        let Some(existing) = published.assets.iter().find(|a| a.name == file.name) else {
            // A release published by an earlier twostage has no note, and one published
            // before the attestations were made has none of them: said, not refused.
            if file.note || file.name.ends_with(ATTESTATION_SUFFIX) {
                output::warn(format!(
                    "the published GitHub release has no `{}` (it was published before twostage \
                     attached one); a published release is not changed",
                    file.name
                ));
            } else {
                problems.push(format!("it has no asset `{}`", file.name));
            }
            continue;
        };
        let same = if file.note {
            let text = github.download_asset(existing)?;
            let doc: Option<toml_edit::DocumentMut> =
                String::from_utf8(text).ok().and_then(|t| t.parse().ok());
            doc.is_some_and(|d| evidence::artifacts_of(&d) == artifacts)
        } else {
            same_bytes(existing, file)?
        };
        if !same {
            problems.push(format!(
                "its asset `{}` is not what the release note records",
                file.name
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "the published GitHub release {} does not match the release note: {}; twostage never \
         changes a published release (with immutable releases on, GitHub locks its assets and \
         keeps its tag name even once deleted): compare it by hand and release a new version \
         (`cargo xtask release patch`)",
        published.html_url,
        problems.join("; ")
    )
}

/// Notes from the changelog heading that names the version (read at the release commit),
/// else the tag's message.
fn release_notes(repo: &Repo, config: &Config, release: &Release) -> String {
    let spellings = vec![
        release.version.to_string(),
        crate::version::tag_spelling(&release.version),
    ];
    let candidates = [
        config.package.changelog.as_str(),
        "CHANGELOG.md",
        "CHANGES.md",
        "CHANGES.rst",
        "CHANGELOG.rst",
        "HISTORY.md",
        "HISTORY.rst",
        "NEWS.md",
        "NEWS.rst",
    ];
    let commit = release.commit.to_string();
    for path in candidates {
        if let Ok(text) = repo.show_at(&commit, path) {
            if let Some(notes) = forge::notes_from_changelog(&text, &spellings) {
                if !notes.is_empty() {
                    return notes;
                }
            }
        }
    }
    repo.tag_message(&release.tag)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The pre-push hook for a `-prod` tag: a no-op when the promotion is done, else the
/// promotion behind the same gate (the tag is being pushed, so it is not pushed again).
pub fn from_hook(repo: &Repo, config: &Config, prod_tag: &str) -> Result<()> {
    let (tag, prod_tag) = plain_tag(repo, config, prod_tag)?;
    let release = resolved::tagged_release(repo, config, &tag)?;
    // One run per repository at a time (docs/release.md, "One run at a time").
    let _lock =
        crate::resources::lock::hold(repo.common_dir(), crate::resources::lock::Wait::patient())?;
    let note = note_for(repo, config, &release)?;
    let indexes = Indexes::new(config);
    if let Some(note) = &note {
        if note.production.is_some() {
            let project = release.project_name(&note.artifacts());
            let served = indexes.production.serves(&project, &note.artifacts())?;
            let tagged = repo.tag_commit(&prod_tag) == Some(release.commit);
            if verdict::already_promoted(note, served, tagged) {
                if std::env::var("TWOSTAGE_PROMOTING").ok().as_deref() != Some(prod_tag.as_str()) {
                    output::status(
                        "Promoted",
                        format!("{tag} already: production serves the verified bytes"),
                    );
                }
                return Ok(());
            }
        }
    }
    let problems = gate(
        repo,
        config,
        &indexes.staging,
        &release,
        &prod_tag,
        note.as_ref(),
    );
    let mut note = through_gate(
        &tag,
        &problems,
        note,
        &format!("the promotion of {tag} is refused"),
    )?;
    promote_files(repo, config, &indexes, &release, &mut note, true)?;
    publish(repo, config, &indexes.staging, &release, &mut note, true)
}

/// The gate's verdict: every problem under `refusal`, with nothing changed, or the note to
/// promote with, the interrupt message set for what follows.
fn through_gate(tag: &str, problems: &[String], note: Option<Note>, refusal: &str) -> Result<Note> {
    if !problems.is_empty() {
        bail!("{refusal}:\n  - {}", problems.join("\n  - "));
    }
    crate::interrupt::stand(
        &format!("promoting {tag}"),
        "production may hold some of the files; the rerun finishes the promotion",
        &format!("cargo xtask promote {tag}"),
    );
    note.context("the gate passed without a note")
}

/// post-tag for a `-prod` tag: say loudly when the promotion would be refused.
pub fn warn_if_refused(repo: &Repo, config: &Config, prod_tag: &str) -> Result<()> {
    let (tag, prod_tag) = plain_tag(repo, config, prod_tag)?;
    let Ok(release) = resolved::tagged_release(repo, config, &tag) else {
        output::warn(format!(
            "`{prod_tag}` has no release tag `{tag}`: its promotion will be refused"
        ));
        return Ok(());
    };
    let note = note_for(repo, config, &release)?;
    let staging = Index::new(Role::Staging, config);
    let problems = gate(repo, config, &staging, &release, &prod_tag, note.as_ref());
    if problems.is_empty() {
        output::status(
            "Ready",
            format!("{tag} passes the promotion gate: push `{prod_tag}` to promote it"),
        );
    } else {
        output::warn(format!(
            "PUSHING `{prod_tag}` WILL BE REFUSED:\n  - {}",
            problems.join("\n  - ")
        ));
    }
    Ok(())
}
