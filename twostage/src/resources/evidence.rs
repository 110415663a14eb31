//! The evidence record: one git note per release at `refs/notes/release`, on the release
//! commit, holding a TOML document (the artifacts, then one section per stage). The note is
//! pushed with the tags, so any clone, or CI, can read what was staged and verified.
//! This module reads, writes and moves notes; what a note must say is the stages' business.
//! Evidence is only ever added to: a stage's first run is its section (`[staging]`), each
//! later run is appended to that section's `[[staging.runs]]`, and nothing is removed, so a
//! rerun never erases what an earlier run recorded. Nothing secret and no path of this
//! machine is ever put into a note: callers pass redacted URLs and relative log names.

use anyhow::{bail, Context, Result};
use git2::Oid;
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table};
use xshell::cmd;

use crate::resources::git::{self, Repo};

pub const NOTES_REF: &str = "refs/notes/release";

/// The key under a stage's section that holds its later runs.
const RUNS: &str = "runs";

/// A stage's section of a note: the closed set of top-level tables a stage records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The staging upload (`stage`).
    Staging,
    /// The verification of what staging serves.
    Verification,
    /// The production upload (`promote`).
    Production,
    /// A verification of what production serves (`verify --production`).
    ProductionVerification,
    /// The GitHub release.
    Github,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Staging,
        Section::Verification,
        Section::Production,
        Section::ProductionVerification,
        Section::Github,
    ];

    /// The section's key in the note's TOML.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Staging => "staging",
            Section::Verification => "verification",
            Section::Production => "production",
            Section::ProductionVerification => "production-verification",
            Section::Github => "github",
        }
    }

    pub fn parse(key: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.as_str() == key)
    }
}

/// The key of a verification's verdict, in its section and in each file's table.
pub const RESULT: &str = "result";

/// The PEP 740 keys of an upload's record (`[staging]`, `[production]`; docs/provenance.md):
/// `attestations` says whether this run attested what it uploaded (one of `attestation::*`),
/// and where it did, `attested` lists the files the index then served provenance for, and
/// `not-attested` the others (already there, or not served back).
pub const ATTESTATIONS: &str = "attestations";
pub const ATTESTED: &str = "attested";
pub const NOT_ATTESTED: &str = "not-attested";

/// The values of `attestations`.
pub mod attestation {
    /// Signed and uploaded under trusted publishing.
    pub const MADE: &str = "made";
    /// The upload used a token the user supplied: an index takes no attestation with it.
    pub const API_TOKEN: &str = "api-token";
    /// `attest-command = []`.
    pub const DISABLED: &str = "disabled";
    /// The default signer, `pypi-attestations`, is not installed.
    pub const NO_SIGNER: &str = "no-signer";
}

/// What a verification says of the files it was given: the closed set of `result` words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Verified,
    Failed,
    /// Of a section: `verify.artifacts` is empty, nothing was installed (and promotion is
    /// refused). Of a cell (a file on one interpreter): that interpreter cannot install the
    /// file, with the `reason` beside it; neither verified nor failed.
    Skipped,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Verified, Verdict::Failed, Verdict::Skipped];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::Failed => "failed",
            Verdict::Skipped => "skipped",
        }
    }

    pub fn parse(word: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == word)
    }

    /// The verdict a recorded run states, if it states a known one.
    pub fn of(run: &Table) -> Option<Verdict> {
        run.get(RESULT)
            .and_then(Item::as_str)
            .and_then(Verdict::parse)
    }

    /// Writes the verdict into a run's table.
    pub fn set(self, run: &mut Table) {
        run[RESULT] = value(self.as_str());
    }
}

/// One frozen file: what every stage agrees on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRecord {
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub blake2_256: String,
}

impl ArtifactRecord {
    fn to_table(&self) -> Table {
        let mut t = Table::new();
        t["filename"] = value(&self.filename);
        t["size"] = value(self.size as i64);
        t["sha256"] = value(&self.sha256);
        t["blake2_256"] = value(&self.blake2_256);
        t
    }

    fn from_table(t: &Table) -> Option<ArtifactRecord> {
        Some(ArtifactRecord {
            filename: t.get("filename")?.as_str()?.to_string(),
            size: t.get("size")?.as_integer()? as u64,
            sha256: t.get("sha256")?.as_str()?.to_string(),
            blake2_256: t.get("blake2_256")?.as_str()?.to_string(),
        })
    }
}

/// Reads `[[artifacts]]` out of a TOML document.
pub fn artifacts_of(doc: &DocumentMut) -> Vec<ArtifactRecord> {
    doc.get("artifacts")
        .and_then(Item::as_array_of_tables)
        .map(|a| a.iter().filter_map(ArtifactRecord::from_table).collect())
        .unwrap_or_default()
}

/// Writes `[[artifacts]]` into a TOML document, replacing what was there.
pub fn set_artifacts(doc: &mut DocumentMut, artifacts: &[ArtifactRecord]) {
    let mut array = ArrayOfTables::new();
    for a in artifacts {
        array.push(a.to_table());
    }
    doc["artifacts"] = Item::ArrayOfTables(array);
}

pub fn string_array<S: AsRef<str>>(items: &[S]) -> Item {
    let mut array = Array::new();
    for item in items {
        array.push(item.as_ref());
    }
    value(array)
}

/// The note of one release.
#[derive(Debug, Clone)]
pub struct Note {
    pub doc: DocumentMut,
}

impl Note {
    pub fn new(tag: &str, version: &str, commit: Oid) -> Note {
        let mut doc = DocumentMut::new();
        doc["tag"] = value(tag);
        doc["version"] = value(version);
        doc["commit"] = value(commit.to_string());
        Note { doc }
    }

    /// The note on `commit`, if there is one; a note that is not the release of `tag` is an error.
    pub fn read(repo: &Repo, commit: Oid, tag: &str) -> Result<Option<Note>> {
        let Some(text) = repo.note(NOTES_REF, commit) else {
            return Ok(None);
        };
        let doc: DocumentMut = text.parse().with_context(|| {
            format!("the release note on {commit} (`{NOTES_REF}`) is not valid TOML")
        })?;
        let noted = doc.get("tag").and_then(Item::as_str).unwrap_or_default();
        if noted != tag {
            bail!("the release note on {commit} is for `{noted}`, not `{tag}`");
        }
        Ok(Some(Note { doc }))
    }

    pub fn artifacts(&self) -> Vec<ArtifactRecord> {
        artifacts_of(&self.doc)
    }

    pub fn set_artifacts(&mut self, artifacts: &[ArtifactRecord]) {
        set_artifacts(&mut self.doc, artifacts);
    }

    /// The first recorded run of a stage: whether it ever happened.
    pub fn section(&self, section: Section) -> Option<&Table> {
        self.doc.get(section.as_str()).and_then(Item::as_table)
    }

    /// Every recorded run of a stage, the first first.
    pub fn runs(&self, section: Section) -> Vec<&Table> {
        let Some(first) = self.section(section) else {
            return Vec::new();
        };
        let later = first
            .get(RUNS)
            .and_then(Item::as_array_of_tables)
            .into_iter()
            .flat_map(|runs| runs.iter());
        std::iter::once(first).chain(later).collect()
    }

    /// The last recorded run of a stage: what the stage says now (a verification that failed
    /// and then passed is verified).
    pub fn latest(&self, section: Section) -> Option<&Table> {
        self.runs(section).last().copied()
    }

    /// Records a run of a stage: the section if it is the first, else appended to the
    /// section's `runs`. Earlier runs are kept as they are.
    pub fn record(&mut self, section: Section, mut run: Table) {
        run.remove(RUNS);
        let name = section.as_str();
        match self.doc.get_mut(name).and_then(Item::as_table_mut) {
            None => self.doc[name] = Item::Table(run),
            Some(first) => {
                if !first.get(RUNS).is_some_and(Item::is_array_of_tables) {
                    first.insert(RUNS, Item::ArrayOfTables(ArrayOfTables::new()));
                }
                if let Some(runs) = first.get_mut(RUNS).and_then(Item::as_array_of_tables_mut) {
                    runs.push(run);
                }
            }
        }
    }

    pub fn write(&self, repo: &Repo, commit: Oid) -> Result<()> {
        let (sh, commit) = (repo.sh()?, commit.to_string());
        let note = self.doc.to_string();
        git::run_with_input(
            cmd!(
                sh,
                "git notes --ref {NOTES_REF} add --force --file - {commit}"
            ),
            Some(note.as_bytes()),
        )
        .context("cannot write the release note")?;
        Ok(())
    }
}

/// Pushes the notes ref, when the repository has that remote at all. If the remote's notes
/// moved on (another release noted elsewhere), they are merged in, ours winning for the same
/// commit, and the push is retried once.
pub fn push(repo: &Repo, remote: &str) -> Result<()> {
    if repo.remote_url(remote).is_none() {
        return Ok(());
    }
    let sh = repo.sh()?;
    let push = || {
        git::run(cmd!(
            sh,
            "git push --quiet --no-verify {remote} {NOTES_REF}:{NOTES_REF}"
        ))
    };
    if push().is_ok() {
        return Ok(());
    }
    fetch(repo, remote, false)
        .with_context(|| format!("cannot push the release notes to `{remote}`"))?;
    push().with_context(|| format!("cannot push the release notes to `{remote}`"))?;
    Ok(())
}

/// Brings the remote's release notes in (a fresh clone or a CI checkout has none), merged with
/// the local ones. For the same commit the remote's note wins when `prefer_remote` (before a
/// stage reads and extends a note: another machine may have recorded more), ours otherwise
/// (after we wrote a note and the push found the remote moved on).
pub fn fetch(repo: &Repo, remote: &str, prefer_remote: bool) -> Result<()> {
    let (sh, theirs) = (repo.sh()?, format!("{NOTES_REF}-remote"));
    git::run(cmd!(
        sh,
        "git fetch --quiet --no-tags {remote} +{NOTES_REF}:{theirs}"
    ))
    .with_context(|| format!("cannot fetch the release notes from `{remote}`"))?;
    if git::run(cmd!(sh, "git rev-parse --verify --quiet {NOTES_REF}")).is_ok() {
        let strategy = if prefer_remote { "theirs" } else { "ours" };
        git::run(cmd!(
            sh,
            "git notes --ref {NOTES_REF} merge --quiet --strategy {strategy} {theirs}"
        ))
        .context("cannot merge the remote's release notes")?;
    } else {
        git::run(cmd!(sh, "git update-ref {NOTES_REF} {theirs}"))?;
    }
    // The fetched copy was only a way in: no ref is left behind.
    git::run(cmd!(sh, "git update-ref -d {theirs}"))?;
    Ok(())
}

/// Before a stage reads a release note to extend it: the remote's notes, when there is a
/// remote, win over a stale local copy. A remote without notes, or out of reach, leaves the
/// local ones as they are.
pub fn sync(repo: &Repo, remote: &str) {
    if repo.remote_url(remote).is_some() {
        let _ = fetch(repo, remote, true);
    }
}

/// Writes a note fragment (`stage --results`, `verify --results`) for `record`.
pub fn write_fragment(note: &Note, path: &std::path::Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(path, note.doc.to_string())
        .with_context(|| format!("cannot write the results to `{}`", path.display()))?;
    crate::output::status("Wrote", format!("the results to `{}`", path.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_round_trip_through_toml() {
        let records = vec![ArtifactRecord {
            filename: "pkg-1.0-py3-none-any.whl".into(),
            size: 1234,
            sha256: "ab".repeat(32),
            blake2_256: "cd".repeat(32),
        }];
        let mut note = Note::new("v1.0", "1.0", Oid::zero());
        note.set_artifacts(&records);
        let text = note.doc.to_string();
        let back: DocumentMut = text.parse().unwrap();
        assert_eq!(artifacts_of(&back), records);
        assert!(text.contains("[[artifacts]]"), "{text}");
    }

    fn run(uploaded: &[&str], verdict: Verdict) -> Table {
        let mut t = Table::new();
        t["uploaded"] = string_array(uploaded);
        verdict.set(&mut t);
        t
    }

    #[test]
    fn a_rerun_is_appended_and_the_first_run_kept() {
        let mut note = Note::new("v1.0", "1.0", Oid::zero());
        assert!(note.latest(Section::Production).is_none());
        note.record(
            Section::Production,
            run(&["a.whl", "a.tar.gz"], Verdict::Failed),
        );
        note.record(Section::Production, run(&[], Verdict::Verified));
        note.record(Section::Production, run(&[], Verdict::Verified));
        // Through TOML text and back, as another clone reads it.
        let back = Note {
            doc: note.doc.to_string().parse().unwrap(),
        };
        let runs = back.runs(Section::Production);
        assert_eq!(runs.len(), 3);
        let first = back.section(Section::Production).unwrap();
        assert_eq!(first["uploaded"].as_array().unwrap().len(), 2);
        assert_eq!(
            back.latest(Section::Production).unwrap()["result"].as_str(),
            Some("verified")
        );
        assert!(
            back.doc.to_string().contains("[[production.runs]]"),
            "{}",
            back.doc
        );
    }

    #[test]
    fn a_note_without_runs_reads_as_one_run() {
        let text = "tag = \"v1.0\"\n[verification]\nresult = \"verified\"\n";
        let note = Note {
            doc: text.parse().unwrap(),
        };
        assert_eq!(note.runs(Section::Verification).len(), 1);
        assert_eq!(
            note.latest(Section::Verification).unwrap()["result"].as_str(),
            Some("verified")
        );
    }

    #[test]
    fn section_keys_round_trip_and_unknown_keys_are_none() {
        for section in Section::ALL {
            assert_eq!(Section::parse(section.as_str()), Some(section));
        }
        assert_eq!(Section::parse("verifcation"), None);
        assert_eq!(Section::parse(""), None);
    }

    #[test]
    fn verdicts_round_trip_and_unknown_words_are_none() {
        for verdict in Verdict::ALL {
            assert_eq!(Verdict::parse(verdict.as_str()), Some(verdict));
            let mut run = Table::new();
            verdict.set(&mut run);
            assert_eq!(Verdict::of(&run), Some(verdict));
        }
        assert_eq!(Verdict::parse("Verified"), None);
        assert_eq!(Verdict::of(&Table::new()), None);
    }
}
