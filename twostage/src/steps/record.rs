//! `record <tag> FILE…`: put results written elsewhere into the release note and push it.
//!
//! In CI the stage is split over jobs that hold different permissions (docs/ci.md): the job
//! that uploads to staging may mint an upload token but not push, the jobs that verify hold
//! nothing, and only this step's job may push `refs/notes/release`. Each of them writes its
//! part as a note fragment (`stage --no-verify --results`, `verify --results`): a TOML
//! document shaped like the note, with the files it is about and its own section. `record`
//! refuses a fragment of another release, or about other bytes than the frozen ones, before
//! anything is written.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::core::frozen;
use crate::output;
use crate::resolved;
use crate::resources::evidence::{self, ArtifactRecord, Entry, Note, Verdict};
use crate::resources::git::Repo;

/// One fragment read back: where it came from and what it says.
struct Fragment {
    name: String,
    note: Note,
}

impl Fragment {
    fn read(path: &Path) -> Result<Fragment> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the results file `{}`", path.display()))?;
        let note = Note::parse(&text)
            .with_context(|| format!("the results file `{name}` cannot be read"))?;
        Ok(Fragment { name, note })
    }
}

/// `cargo xtask record <tag> FILE… [--dist DIR]`.
pub fn run(
    repo: &Repo,
    config: &Config,
    tag: &str,
    dist: Option<&Path>,
    files: &[PathBuf],
) -> Result<()> {
    let release = resolved::tagged_release(repo, config, tag)?;
    evidence::sync(repo, &config.git.remote);
    let fragments = files
        .iter()
        .map(|f| Fragment::read(f))
        .collect::<Result<Vec<_>>>()?;
    let mut note = Note::read(repo, release.commit, tag)?.unwrap_or_else(|| release.new_note());
    let frozen = frozen_set(repo, &release, dist, &note, &fragments)?;
    let commit = release.commit.to_string();
    for fragment in &fragments {
        check(fragment, tag, &commit, &frozen)?;
    }
    if note.artifacts().is_empty() {
        note.set_artifacts(&frozen);
    } else if note.artifacts() != frozen {
        bail!(
            "the release note of {tag} names other files ({}) than the frozen ones ({}): nothing was recorded",
            frozen::names(&note.artifacts()),
            frozen::names(&frozen)
        );
    }
    let failed = add_runs(&mut note, &fragments);
    note.write(repo, release.commit)?;
    evidence::push(repo, &config.git.remote)?;
    output::status(
        "Recorded",
        format!(
            "{} of {tag} in the release note",
            output::plural(files.len(), "results file")
        ),
    );
    if !failed.is_empty() {
        bail!(
            "the results of {tag} record failures (promotion will refuse it):\n  - {}",
            failed.join("\n  - ")
        );
    }
    Ok(())
}

/// The frozen files: those in `dist` when given (the build's own, hash-checked by the
/// workflow), else the note's, else the staging fragment's.
fn frozen_set(
    repo: &Repo,
    release: &resolved::Release,
    dist: Option<&Path>,
    note: &Note,
    fragments: &[Fragment],
) -> Result<Vec<ArtifactRecord>> {
    if let Some(dir) = dist {
        return Ok(frozen::freeze_from(repo, release, dir)?.artifacts);
    }
    if !note.artifacts().is_empty() {
        return Ok(note.artifacts());
    }
    fragments
        .iter()
        .find(|f| f.note.staging.is_some())
        .map(|f| f.note.artifacts())
        .filter(|a| !a.is_empty())
        .with_context(|| {
            format!(
                "{} has no frozen files to check the results against: pass them with `--dist DIR`",
                release.tag
            )
        })
}

/// A fragment must be of this release and about exactly the frozen bytes.
fn check(fragment: &Fragment, tag: &str, commit: &str, frozen: &[ArtifactRecord]) -> Result<()> {
    let (name, note) = (&fragment.name, &fragment.note);
    if note.tag != tag || note.commit != commit {
        bail!(
            "`{name}` is the result of `{}` at {}, not of {tag} at {commit}: nothing was recorded",
            note.tag,
            note.commit
        );
    }
    let artifacts = note.artifacts();
    if artifacts != frozen {
        bail!(
            "`{name}` is about other files ({}) than the frozen ones ({}): nothing was recorded",
            frozen::names(&artifacts),
            frozen::names(frozen)
        );
    }
    let hashes: Vec<&str> = frozen.iter().map(|a| a.sha256.as_str()).collect();
    for entry in note.entries() {
        for sha in run_hashes(&entry) {
            if !hashes.contains(&sha) {
                bail!(
                    "`{name}` records {} of sha256 {sha}, which is none of the frozen files: nothing was recorded",
                    entry.section().as_str()
                );
            }
        }
    }
    Ok(())
}

/// Every sha256 a run names: the set it vouches for, the files it installed or looked at.
fn run_hashes(entry: &Entry) -> Vec<&str> {
    let Some(run) = entry.verification() else {
        return Vec::new();
    };
    let lists = [&run.verified_sha256, &run.installed_sha256];
    let listed = lists.into_iter().flatten().flatten().map(String::as_str);
    let cells = run.cells.iter().filter_map(|c| c.sha256.as_deref());
    listed.chain(cells).collect()
}

/// Adds every fragment's runs to the note, each naming its file (`from`): the staging upload
/// first, then the verifications that passed, then those that did not, so that the latest
/// verification (what `promote`'s gate reads) fails whenever any one did. Returns the failures.
fn add_runs(note: &mut Note, fragments: &[Fragment]) -> Vec<String> {
    let mut runs: Vec<(u8, String, Entry)> = Vec::new();
    for fragment in fragments {
        for mut entry in fragment.note.entries() {
            entry.set_from(&fragment.name);
            let verdict = entry.verification().and_then(|run| run.result);
            let order = match (&entry, verdict) {
                (Entry::Staging(_), _) => 0,
                (_, Some(Verdict::Verified)) => 1,
                _ => 2,
            };
            runs.push((order, fragment.name.clone(), entry));
        }
    }
    runs.sort_by_key(|(order, name, _)| (*order, name.clone()));
    let mut failed = Vec::new();
    for (order, name, entry) in runs {
        if order == 2 {
            failed.push(format!(
                "`{name}`: {} {}",
                entry.section().as_str(),
                first_failure(&entry)
            ));
        }
        note.record(entry);
    }
    failed
}

fn first_failure(entry: &Entry) -> String {
    let run = entry.verification();
    let failures = run.and_then(|r| r.failures.as_deref()).unwrap_or_default();
    match failures.first() {
        Some(first) => format!("failed: {}", first.lines().next().unwrap_or_default()),
        None => format!(
            "is `{}`",
            run.and_then(|r| r.result).map_or("?", Verdict::as_str)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::evidence::VerificationRun;

    fn cell(name: &str, verdict: Verdict, shas: &[&str]) -> Fragment {
        let mut note = Note::new("v1.0.0", "1.0.0", git2::Oid::zero());
        note.set_artifacts(&[ArtifactRecord::sample("p-1.0.0.tar.gz", "aa")]);
        let mut run = VerificationRun {
            result: Some(verdict),
            verified_sha256: Some(shas.iter().map(|s| s.to_string()).collect()),
            ..VerificationRun::default()
        };
        if verdict == Verdict::Failed {
            run.failures = Some(vec!["the smoke test".into()]);
        }
        note.record(Entry::Verification(run));
        Fragment {
            name: name.into(),
            note,
        }
    }

    #[test]
    fn a_failed_cell_is_recorded_last_so_the_latest_verification_is_the_failure() {
        let fragments = [
            cell("verify-a.toml", Verdict::Verified, &["aa"]),
            cell("verify-b.toml", Verdict::Failed, &[]),
            cell("verify-c.toml", Verdict::Verified, &["aa"]),
        ];
        let mut note = Note::new("v1.0.0", "1.0.0", git2::Oid::zero());
        let failed = add_runs(&mut note, &fragments);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].contains("verify-b.toml"), "{failed:?}");
        let latest = note.verification.as_ref().unwrap().latest();
        assert_eq!(latest.result, Some(Verdict::Failed));
        assert_eq!(latest.from.as_deref(), Some("verify-b.toml"));
        assert_eq!(note.verification.as_ref().unwrap().all().count(), 3);
    }

    #[test]
    fn a_result_about_other_bytes_or_another_release_is_refused() {
        let frozen = [ArtifactRecord::sample("p-1.0.0.tar.gz", "aa")];
        let commit = git2::Oid::zero().to_string();
        let good = cell("verify-a.toml", Verdict::Verified, &["aa"]);
        check(&good, "v1.0.0", &commit, &frozen).unwrap();
        let forged = cell("verify-f.toml", Verdict::Verified, &["ff"]);
        let err = check(&forged, "v1.0.0", &commit, &frozen).unwrap_err();
        assert!(
            format!("{err:#}").contains("none of the frozen files"),
            "{err:#}"
        );
        let other = [ArtifactRecord::sample("p-1.0.0.tar.gz", "bb")];
        let err = check(&good, "v1.0.0", &commit, &other).unwrap_err();
        assert!(format!("{err:#}").contains("other files"), "{err:#}");
        let err = check(&good, "v2.0.0", &commit, &frozen).unwrap_err();
        assert!(format!("{err:#}").contains("not of v2.0.0"), "{err:#}");
    }
}
