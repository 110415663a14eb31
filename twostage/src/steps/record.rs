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
use toml_edit::{value, DocumentMut, Item, Table};

use crate::config::Config;
use crate::core::frozen;
use crate::output;
use crate::resolved;
use crate::resources::evidence::{self, ArtifactRecord, Note, Section, Verdict};
use crate::resources::git::Repo;

/// One fragment read back: where it came from and what it says.
struct Fragment {
    name: String,
    doc: DocumentMut,
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
        let doc: DocumentMut = text
            .parse()
            .with_context(|| format!("the results file `{name}` is not valid TOML"))?;
        Ok(Fragment { name, doc })
    }

    fn note(&self) -> Note {
        Note {
            doc: self.doc.clone(),
        }
    }

    /// Every run the fragment holds, with its section.
    fn runs(&self) -> Vec<(Section, Table)> {
        let note = self.note();
        let mut runs = Vec::new();
        for section in Section::ALL {
            for run in note.runs(section) {
                runs.push((section, run.clone()));
            }
        }
        runs
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
    let release = resolved::resolve(repo, config, tag)?;
    evidence::sync(repo, &config.git.remote);
    let fragments = files
        .iter()
        .map(|f| Fragment::read(f))
        .collect::<Result<Vec<_>>>()?;
    let mut note = Note::read(repo, release.commit, tag)?
        .unwrap_or_else(|| Note::new(tag, &release.version.to_string(), release.commit));
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
        .find(|f| f.note().section(Section::Staging).is_some())
        .map(|f| f.note().artifacts())
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
    let name = &fragment.name;
    let field = |key: &str| {
        fragment
            .doc
            .get(key)
            .and_then(Item::as_str)
            .unwrap_or_default()
    };
    if field("tag") != tag || field("commit") != commit {
        bail!(
            "`{name}` is the result of `{}` at {}, not of {tag} at {commit}: nothing was recorded",
            field("tag"),
            field("commit")
        );
    }
    let artifacts = fragment.note().artifacts();
    if artifacts != frozen {
        bail!(
            "`{name}` is about other files ({}) than the frozen ones ({}): nothing was recorded",
            frozen::names(&artifacts),
            frozen::names(frozen)
        );
    }
    let hashes: Vec<&str> = frozen.iter().map(|a| a.sha256.as_str()).collect();
    for (section, run) in fragment.runs() {
        for sha in run_hashes(&run) {
            if !hashes.contains(&sha.as_str()) {
                bail!(
                    "`{name}` records {} of sha256 {sha}, which is none of the frozen files: nothing was recorded",
                    section.as_str()
                );
            }
        }
    }
    Ok(())
}

/// Every sha256 a run names: the set it vouches for, the files it installed or looked at.
fn run_hashes(run: &Table) -> Vec<String> {
    let mut hashes = Vec::new();
    for key in ["verified-sha256", "installed-sha256"] {
        let list = run.get(key).and_then(Item::as_array).into_iter().flatten();
        hashes.extend(list.filter_map(|v| v.as_str().map(str::to_string)));
    }
    let files = run
        .get("artifacts")
        .and_then(Item::as_array_of_tables)
        .into_iter()
        .flatten();
    hashes.extend(files.filter_map(|t| t.get("sha256").and_then(Item::as_str).map(str::to_string)));
    hashes
}

/// Adds every fragment's runs to the note, each naming its file (`from`): the staging upload
/// first, then the verifications that passed, then those that did not, so that the latest
/// verification (what `promote`'s gate reads) fails whenever any one did. Returns the failures.
fn add_runs(note: &mut Note, fragments: &[Fragment]) -> Vec<String> {
    let mut runs: Vec<(u8, String, Section, Table)> = Vec::new();
    for fragment in fragments {
        for (section, mut run) in fragment.runs() {
            run["from"] = value(&fragment.name);
            let order = match (section, Verdict::of(&run)) {
                (Section::Staging, _) => 0,
                (_, Some(Verdict::Verified)) => 1,
                _ => 2,
            };
            runs.push((order, fragment.name.clone(), section, run));
        }
    }
    runs.sort_by_key(|(order, name, ..)| (*order, name.clone()));
    let mut failed = Vec::new();
    for (order, name, section, run) in runs {
        if order == 2 {
            failed.push(format!(
                "`{name}`: {} {}",
                section.as_str(),
                first_failure(&run)
            ));
        }
        note.record(section, run);
    }
    failed
}

fn first_failure(run: &Table) -> String {
    let failures = run
        .get(crate::core::verdict::FAILURES)
        .and_then(Item::as_array);
    match failures.and_then(|a| a.get(0)).and_then(|v| v.as_str()) {
        Some(first) => format!("failed: {}", first.lines().next().unwrap_or_default()),
        None => format!("is `{}`", Verdict::of(run).map_or("?", Verdict::as_str)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(name: &str, sha: &str) -> ArtifactRecord {
        ArtifactRecord {
            filename: name.into(),
            size: 1,
            sha256: sha.into(),
            blake2_256: "b".into(),
        }
    }

    fn cell(name: &str, verdict: Verdict, shas: &[&str]) -> Fragment {
        let mut note = Note::new("v1.0.0", "1.0.0", git2::Oid::zero());
        note.set_artifacts(&[artifact("p-1.0.0.tar.gz", "aa")]);
        let mut run = Table::new();
        verdict.set(&mut run);
        run["verified-sha256"] = evidence::string_array(shas);
        if verdict == Verdict::Failed {
            run[crate::core::verdict::FAILURES] = evidence::string_array(&["the smoke test"]);
        }
        note.record(Section::Verification, run);
        Fragment {
            name: name.into(),
            doc: note.doc,
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
        let latest = note.latest(Section::Verification).unwrap();
        assert_eq!(Verdict::of(latest), Some(Verdict::Failed));
        assert_eq!(latest["from"].as_str(), Some("verify-b.toml"));
        assert_eq!(note.runs(Section::Verification).len(), 3);
    }

    #[test]
    fn a_result_about_other_bytes_or_another_release_is_refused() {
        let frozen = [artifact("p-1.0.0.tar.gz", "aa")];
        let commit = git2::Oid::zero().to_string();
        let good = cell("verify-a.toml", Verdict::Verified, &["aa"]);
        check(&good, "v1.0.0", &commit, &frozen).unwrap();
        let forged = cell("verify-f.toml", Verdict::Verified, &["ff"]);
        let err = check(&forged, "v1.0.0", &commit, &frozen).unwrap_err();
        assert!(
            format!("{err:#}").contains("none of the frozen files"),
            "{err:#}"
        );
        let other = [artifact("p-1.0.0.tar.gz", "bb")];
        let err = check(&good, "v1.0.0", &commit, &other).unwrap_err();
        assert!(format!("{err:#}").contains("other files"), "{err:#}");
        let err = check(&good, "v2.0.0", &commit, &frozen).unwrap_err();
        assert!(format!("{err:#}").contains("not of v2.0.0"), "{err:#}");
    }
}
