//! The evidence record: one git note per release at `refs/notes/release`, on the release
//! commit, holding a TOML document (the artifacts, then one section per stage). The note is
//! pushed with the tags, so any clone, or CI, can read what was staged and verified.
//! This module reads, writes and moves notes; what a note must say is the stages' business.
//! The note is one typed record, `Note`: its keys are the serde field names below and nowhere
//! else (docs/formats.md, "The release note").
//! Evidence is only ever added to: a stage's first run is its section (`[staging]`), each
//! later run is appended to that section's `[[staging.runs]]`, and nothing is removed, so a
//! rerun never erases what an earlier run recorded. Keys this twostage does not know (a newer
//! one wrote them) are kept as read in each record's `unknown`, and written back with it.
//! Nothing secret and no path of this machine is ever put into a note: callers pass redacted
//! URLs and relative log names.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use git2::Oid;
use serde::{Deserialize, Serialize};
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, Value};
use xshell::cmd;

use crate::resources::git::{self, Repo};

pub const NOTES_REF: &str = "refs/notes/release";

/// The serde name of a section's later runs (`Runs::later`): the one key the layout of the
/// written TOML needs to know (`layout`).
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

    /// The section's name in messages: its key in the note (a unit test holds the two equal).
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Staging => "staging",
            Section::Verification => "verification",
            Section::Production => "production",
            Section::ProductionVerification => "production-verification",
            Section::Github => "github",
        }
    }
}

/// What a verification says of the files it was given: the closed set of `result` words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
}

/// Whether an upload attested what it uploaded (PEP 740, docs/provenance.md): the value of an
/// upload run's `attestations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attestation {
    /// Signed and uploaded under trusted publishing.
    Made,
    /// The upload used a token the user supplied: an index takes no attestation with it.
    ApiToken,
    /// `attest-command = []`.
    Disabled,
    /// The default signer, `pypi-attestations`, is not installed.
    NoSigner,
}

impl Attestation {
    pub fn as_str(self) -> &'static str {
        match self {
            Attestation::Made => "made",
            Attestation::ApiToken => "api-token",
            Attestation::Disabled => "disabled",
            Attestation::NoSigner => "no-signer",
        }
    }
}

/// The values of `attestations` under the names the upload code gives them.
pub mod attestation {
    use super::Attestation;

    pub const MADE: Attestation = Attestation::Made;
    pub const API_TOKEN: Attestation = Attestation::ApiToken;
    pub const DISABLED: Attestation = Attestation::Disabled;
    pub const NO_SIGNER: Attestation = Attestation::NoSigner;
}

/// A value of a key this twostage does not know, kept as read (any TOML value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Raw {
    Boolean(bool),
    Integer(i64),
    Float(f64),
    String(String),
    Datetime(toml_edit::Datetime),
    Array(Vec<Raw>),
    Table(BTreeMap<String, Raw>),
}

/// The keys of a record this twostage does not know, kept so that writing a note back keeps
/// every earlier run whole (docs/formats.md).
pub type Unknown = BTreeMap<String, Raw>;

/// One frozen file: what every stage agrees on (`[[artifacts]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub blake2_256: String,
}

#[cfg(test)]
impl ArtifactRecord {
    /// A record of `filename` with `sha256`, for the unit tests of what reads the note.
    pub(crate) fn sample(filename: &str, sha256: &str) -> ArtifactRecord {
        ArtifactRecord {
            filename: filename.into(),
            size: 1,
            sha256: sha256.into(),
            blake2_256: "b".into(),
        }
    }
}

/// A section: its first run, then the later ones (`runs`), the first first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Runs<R> {
    #[serde(flatten)]
    pub first: R,
    #[serde(rename = "runs", default, skip_serializing_if = "Vec::is_empty")]
    pub later: Vec<R>,
}

impl<R> Runs<R> {
    /// Every recorded run, the first first.
    pub fn all(&self) -> impl Iterator<Item = &R> {
        std::iter::once(&self.first).chain(&self.later)
    }

    /// The last recorded run: what the stage says now (a verification that failed and then
    /// passed is verified).
    pub fn latest(&self) -> &R {
        self.later.last().unwrap_or(&self.first)
    }
}

/// Records `run`: the section if it is the first, else appended to its `runs`.
fn append<R>(section: &mut Option<Runs<R>>, run: R) {
    match section {
        None => {
            *section = Some(Runs {
                first: run,
                later: Vec::new(),
            })
        }
        Some(runs) => runs.later.push(run),
    }
}

/// An upload to an index (`[staging]`, `[production]`): what was uploaded and what was there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct UploadRun {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_present: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_after_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestations: Option<Attestation>,
    /// With `made`: the files the index then served provenance for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attested: Option<Vec<String>>,
    /// With `made`: the other files of the release there (already there, or not served back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_attested: Option<Vec<String>>,
    /// Production's: the sha256 of `SHA256SUMS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The results file `record` took the run from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// A verification of what an index serves (`[verification]`, `[production-verification]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct VerificationRun {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_url: Option<String>,
    /// Every interpreter of the matrix (`Python 3.11.7, Python 3.12.1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pythons: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Verdict>,
    /// The sha256 set this verification vouches for (only when verified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_sha256: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_sha256: Option<Vec<String>>,
    /// What failed, one line per failure (`status` shows the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_sha256: Option<String>,
    /// The log's name, relative to the release's work directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// One per file and interpreter (one per file in a note written before `verify.python`).
    #[serde(rename = "artifacts", skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<CellRecord>,
    /// In a release set of several packages: the files of the packages of the set this one
    /// requires (its siblings) that were installed beside it, from the same index.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub siblings: Vec<SiblingFile>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// A sibling's file a verification installed beside the package (`[[verification.siblings]]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SiblingFile {
    /// The sibling's normalized distribution name.
    pub package: String,
    /// Its release tag, on the same commit.
    pub tag: String,
    pub version: String,
    pub filename: String,
    /// The sha256 its section of the note records, which the served bytes matched.
    pub sha256: String,
    #[serde(flatten)]
    pub unknown: Unknown,
}

impl VerificationRun {
    /// The sha256 set the run vouches for, sorted.
    pub fn vouched(&self) -> Vec<&str> {
        let mut set: Vec<&str> = self
            .verified_sha256
            .iter()
            .flatten()
            .map(|s| s.as_str())
            .collect();
        set.sort_unstable();
        set
    }
}

/// A file on one interpreter (`[[verification.artifacts]]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CellRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The interpreter's version; a cell without it ran on the section's `interpreter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Verdict>,
    /// Why the cell was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Written inline (`commands = [{ command = …, exit = 0, seconds = 0.02 }]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<CommandRecord>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// One command a cell ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct CommandRecord {
    pub command: String,
    pub exit: i64,
    pub seconds: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// The GitHub release (`[github]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GithubRun {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether this run created the release (or found a draft or a published one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assets: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// One run of one section, as `record` moves runs from a results file into the note.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Staging(UploadRun),
    Verification(VerificationRun),
    Production(UploadRun),
    ProductionVerification(VerificationRun),
    Github(GithubRun),
}

impl Entry {
    pub fn section(&self) -> Section {
        match self {
            Entry::Staging(_) => Section::Staging,
            Entry::Verification(_) => Section::Verification,
            Entry::Production(_) => Section::Production,
            Entry::ProductionVerification(_) => Section::ProductionVerification,
            Entry::Github(_) => Section::Github,
        }
    }

    /// The verification, when the entry is one.
    pub fn verification(&self) -> Option<&VerificationRun> {
        match self {
            Entry::Verification(run) | Entry::ProductionVerification(run) => Some(run),
            _ => None,
        }
    }

    /// Names the results file the run was taken from.
    pub fn set_from(&mut self, name: &str) {
        let from = match self {
            Entry::Staging(run) | Entry::Production(run) => &mut run.from,
            Entry::Verification(run) | Entry::ProductionVerification(run) => &mut run.from,
            Entry::Github(run) => &mut run.from,
        };
        *from = Some(name.to_string());
    }
}

/// The note of one release.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Note {
    // Empty only in a note that lacked them (written by hand): not added on writing it back.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tag: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub commit: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staging: Option<Runs<UploadRun>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Runs<VerificationRun>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub production: Option<Runs<UploadRun>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub production_verification: Option<Runs<VerificationRun>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github: Option<Runs<GithubRun>>,
    #[serde(flatten)]
    pub unknown: Unknown,
    /// The package whose section of a shared note this is (`[packages.<name>]`), in a
    /// repository of several packages; `None`: the note is the commit's whole note.
    #[serde(skip)]
    pub package: Option<String>,
}

/// The table of a commit's note that holds one section per package, when several packages
/// are released on one commit (docs/monorepo.md).
pub const PACKAGES: &str = "packages";

/// Reads `[[artifacts]]` out of a TOML document (the frozen manifest, a note asset); a
/// document whose artifacts do not read has none.
pub fn artifacts_of(doc: &DocumentMut) -> Vec<ArtifactRecord> {
    #[derive(Deserialize)]
    struct Artifacts {
        #[serde(default)]
        artifacts: Vec<ArtifactRecord>,
    }
    toml_edit::de::from_document::<Artifacts>(doc.clone())
        .map(|a| a.artifacts)
        .unwrap_or_default()
}

/// Writes `[[artifacts]]` into a TOML document (the frozen manifest), replacing what was there.
pub fn set_artifacts(doc: &mut DocumentMut, artifacts: &[ArtifactRecord]) {
    let note = Note {
        artifacts: artifacts.to_vec(),
        ..Note::default()
    };
    // Such a note writes its `[[artifacts]]` only (none when there are none).
    let written = note.to_document().into_table();
    let was: Vec<String> = written.iter().map(|(key, _)| key.to_string()).collect();
    doc.retain(|key, _| !was.iter().any(|k| k == key));
    for (key, item) in written {
        doc.insert(&key, item);
    }
}

/// The layout of a written note, as notes were always written: sections are tables, lists of
/// records (`[[artifacts]]`, a section's `runs` and its cells) arrays of tables, and what a
/// cell holds (its `commands`) stays inline. `depth` is how many levels below `table` are
/// still written as tables; a section's `runs` are at its own level.
fn layout(table: &mut Table, depth: u8) {
    if depth == 0 {
        return;
    }
    for (key, item) in table.iter_mut() {
        let inner = if key.get() == RUNS { depth } else { depth - 1 };
        *item = match std::mem::take(item) {
            Item::Value(Value::InlineTable(t)) => {
                let mut t = t.into_table();
                layout(&mut t, depth - 1);
                Item::Table(t)
            }
            Item::Value(Value::Array(a))
                if !a.is_empty() && a.iter().all(Value::is_inline_table) =>
            {
                let mut tables = ArrayOfTables::new();
                for value in a {
                    if let Value::InlineTable(t) = value {
                        let mut t = t.into_table();
                        layout(&mut t, inner);
                        tables.push(t);
                    }
                }
                Item::ArrayOfTables(tables)
            }
            other => other,
        };
    }
}

impl Note {
    pub fn new(tag: &str, version: &str, commit: Oid) -> Note {
        Note {
            tag: tag.to_string(),
            version: version.to_string(),
            commit: commit.to_string(),
            ..Note::default()
        }
    }

    /// A note (or a results file) from its TOML text: a syntax error (with its line) and a
    /// key of the wrong shape (with its section) are both errors.
    pub fn parse(text: &str) -> Result<Note> {
        let doc: DocumentMut = text.parse().context("not valid TOML")?;
        toml_edit::de::from_document(doc).context("not a release note twostage reads")
    }

    /// The note as a TOML document, laid out as notes were always written (`layout`).
    pub fn to_document(&self) -> DocumentMut {
        // A note holds strings, numbers, booleans, lists and tables only, all of which TOML has.
        let mut doc = toml_edit::ser::to_document(self).expect("a note is always TOML");
        layout(doc.as_table_mut(), 2);
        doc
    }

    pub fn to_toml(&self) -> String {
        self.to_document().to_string()
    }

    /// The note of `tag` on `commit`, if there is one: the commit's whole note, or in a
    /// note of several packages (`[packages.<name>]`) the section whose tag is `tag`. A whole
    /// note that is not the release of `tag` is an error.
    pub fn read(repo: &Repo, commit: Oid, tag: &str) -> Result<Option<Note>> {
        let Some(text) = repo.note(NOTES_REF, commit) else {
            return Ok(None);
        };
        let unreadable = || format!("the release note on {commit} (`{NOTES_REF}`) cannot be read");
        let sections = Note::sections(&text).with_context(unreadable)?;
        if let Some(sections) = sections {
            return Ok(sections.into_iter().find(|note| note.tag == tag));
        }
        let note = Note::parse(&text).with_context(unreadable)?;
        if note.tag != tag {
            bail!(
                "the release note on {commit} is for `{}`, not `{tag}`",
                note.tag
            );
        }
        Ok(Some(note))
    }

    /// The sections of a note of several packages, each with its `package`; `None` when the
    /// note is one package's whole note.
    pub fn sections(text: &str) -> Result<Option<Vec<Note>>> {
        let doc: DocumentMut = text.parse().context("not valid TOML")?;
        let Some(packages) = doc.get(PACKAGES) else {
            return Ok(None);
        };
        let Some(packages) = packages.as_table() else {
            bail!("`{PACKAGES}` is not a table of one section per package");
        };
        let mut notes = Vec::new();
        for (name, section) in packages.iter() {
            let Some(section) = section.as_table() else {
                bail!("`{PACKAGES}.{name}` is not a table");
            };
            let doc = DocumentMut::from(section.clone());
            let mut note: Note = toml_edit::de::from_document(doc)
                .with_context(|| format!("`[{PACKAGES}.{name}]` is not a release note section"))?;
            note.package = Some(name.to_string());
            notes.push(note);
        }
        Ok(Some(notes))
    }

    pub fn artifacts(&self) -> Vec<ArtifactRecord> {
        self.artifacts.clone()
    }

    pub fn set_artifacts(&mut self, artifacts: &[ArtifactRecord]) {
        self.artifacts = artifacts.to_vec();
    }

    /// The verification of staging (`[verification]`) or of production
    /// (`[production-verification]`).
    pub fn verifications(&self, production: bool) -> Option<&Runs<VerificationRun>> {
        match production {
            false => self.verification.as_ref(),
            true => self.production_verification.as_ref(),
        }
    }

    /// Records a run of a stage: the section if it is the first, else appended to the
    /// section's `runs`. Earlier runs are kept as they are.
    pub fn record(&mut self, entry: Entry) {
        match entry {
            Entry::Staging(run) => append(&mut self.staging, run),
            Entry::Verification(run) => append(&mut self.verification, run),
            Entry::Production(run) => append(&mut self.production, run),
            Entry::ProductionVerification(run) => append(&mut self.production_verification, run),
            Entry::Github(run) => append(&mut self.github, run),
        }
    }

    /// Every recorded run, section by section (in `Section::ALL`'s order), each the first first.
    pub fn entries(&self) -> Vec<Entry> {
        fn every<R: Clone>(section: &Option<Runs<R>>) -> impl Iterator<Item = R> + '_ {
            section.iter().flat_map(Runs::all).cloned()
        }
        let mut entries: Vec<Entry> = every(&self.staging).map(Entry::Staging).collect();
        entries.extend(every(&self.verification).map(Entry::Verification));
        entries.extend(every(&self.production).map(Entry::Production));
        let production_verification = every(&self.production_verification);
        entries.extend(production_verification.map(Entry::ProductionVerification));
        entries.extend(every(&self.github).map(Entry::Github));
        entries
    }

    /// Writes the note on `commit`: the whole note, or this package's section of it, the
    /// other packages' sections as they are.
    pub fn write(&self, repo: &Repo, commit: Oid) -> Result<()> {
        let note = match &self.package {
            None => self.to_toml(),
            Some(package) => {
                let mut doc: DocumentMut = match repo.note(NOTES_REF, commit) {
                    Some(text) if Note::sections(&text)?.is_some() => text.parse()?,
                    Some(_) => bail!(
                        "the release note on {commit} is a single package's note, so `{package}`'s \
                         section cannot be added to it"
                    ),
                    None => DocumentMut::new(),
                };
                let packages = doc
                    .entry(PACKAGES)
                    .or_insert_with(|| Item::Table(toml_edit::Table::new()));
                let Some(packages) = packages.as_table_mut() else {
                    bail!("`{PACKAGES}` of the release note on {commit} is not a table");
                };
                packages.set_implicit(true);
                packages.insert(package, Item::Table(self.to_document().as_table().clone()));
                doc.to_string()
            }
        };
        let (sh, commit) = (repo.sh()?, commit.to_string());
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
        // Both sides' notes of a commit both have, before git's merge picks one per commit.
        let both: Vec<(Oid, [String; 2])> = repo
            .noted(&theirs)
            .into_iter()
            .filter_map(|commit| {
                let ours = repo.note(NOTES_REF, commit)?;
                let other = repo.note(&theirs, commit)?;
                (ours != other).then_some((commit, [ours, other]))
            })
            .collect();
        let strategy = if prefer_remote { "theirs" } else { "ours" };
        git::run(cmd!(
            sh,
            "git notes --ref {NOTES_REF} merge --quiet --strategy {strategy} {theirs}"
        ))
        .context("cannot merge the remote's release notes")?;
        keep_every_section(repo, &both)?;
    } else {
        git::run(cmd!(sh, "git update-ref {NOTES_REF} {theirs}"))?;
    }
    // The fetched copy was only a way in: no ref is left behind.
    git::run(cmd!(sh, "git update-ref -d {theirs}"))?;
    Ok(())
}

/// git merges notes per commit (`git notes merge --strategy ours|theirs` keeps one side's
/// whole note, https://git-scm.com/docs/git-notes#_notes_merge_strategies): a note of several
/// packages must keep every package's section, so each section only one side has is added
/// back to the merged note. A section both sides have is the merged note's, as a whole note
/// is for one package.
fn keep_every_section(repo: &Repo, both: &[(Oid, [String; 2])]) -> Result<()> {
    for (commit, sides) in both {
        let Some(merged) = repo.note(NOTES_REF, *commit) else {
            continue;
        };
        if let Some(text) = with_every_section(&merged, sides) {
            let (sh, commit) = (repo.sh()?, commit.to_string());
            git::run_with_input(
                cmd!(
                    sh,
                    "git notes --ref {NOTES_REF} add --force --file - {commit}"
                ),
                Some(text.as_bytes()),
            )
            .context("cannot write the merged release note")?;
        }
    }
    Ok(())
}

/// `merged`, a note of several packages, with every section of `sides` it lacks added (in
/// their order), and every run a side's section records that the merged one lacks appended to
/// it: sections are append-only, so where both machines noted one package (CI promoted it while
/// a laptop staged another package), neither side's runs are lost. `None` when nothing is
/// added, or `merged` is not a note of sections.
fn with_every_section(merged: &str, sides: &[String]) -> Option<String> {
    let mut doc: DocumentMut = merged.parse().ok()?;
    let packages = doc.get_mut(PACKAGES)?.as_table_mut()?;
    let mut added = false;
    for side in sides {
        let Ok(side) = side.parse::<DocumentMut>() else {
            continue;
        };
        let Some(sections) = side.get(PACKAGES).and_then(Item::as_table) else {
            continue;
        };
        for (name, section) in sections.iter() {
            match packages.get(name) {
                None => {
                    packages.insert(name, section.clone());
                    added = true;
                }
                Some(ours) => {
                    if let Some(union) = union_of_runs(ours, section) {
                        packages.insert(name, union);
                        added = true;
                    }
                }
            }
        }
    }
    added.then(|| doc.to_string())
}

/// Section `ours` with the runs of `theirs` it does not record appended, `None` when it
/// records them all (or either is not a release note section).
fn union_of_runs(ours: &Item, theirs: &Item) -> Option<Item> {
    let read = |item: &Item| -> Option<Note> {
        let doc = DocumentMut::from(item.as_table()?.clone());
        toml_edit::de::from_document(doc).ok()
    };
    let (mut note, theirs) = (read(ours)?, read(theirs)?);
    if note.tag != theirs.tag {
        return None;
    }
    let recorded = note.entries();
    let missing: Vec<Entry> = theirs
        .entries()
        .into_iter()
        .filter(|entry| !recorded.contains(entry))
        .collect();
    if missing.is_empty() {
        return None;
    }
    if note.artifacts.is_empty() {
        note.artifacts = theirs.artifacts.clone();
    }
    for entry in missing {
        note.record(entry);
    }
    Some(Item::Table(note.to_document().as_table().clone()))
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
    std::fs::write(path, note.to_toml())
        .with_context(|| format!("cannot write the results to `{}`", path.display()))?;
    crate::output::status("Wrote", format!("the results to `{}`", path.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A note as twostage wrote them before it had a type (the shape of `c430ab9`'s writer):
    /// every section, later runs, a matrix with inline commands, attestations.
    const WRITTEN: &str = r#"tag = "v1.0"
version = "1.0"
commit = "0000000000000000000000000000000000000000"

[[artifacts]]
filename = "pkg-1.0-py3-none-any.whl"
size = 1234
sha256 = "aa"
blake2_256 = "cc"

[[artifacts]]
filename = "pkg-1.0.tar.gz"
size = 99
sha256 = "bb"
blake2_256 = "dd"

[staging]
index-url = "https://test.pypi.org/simple/"
upload-url = "https://test.pypi.org/legacy/"
uploaded = ["pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz"]
already-present = []
served-after-seconds = 1.5
attestations = "made"
attested = ["pkg-1.0-py3-none-any.whl"]
not-attested = ["pkg-1.0.tar.gz"]
at = "2026-11-24T03:58:00Z"

[verification]
index-url = "https://test.pypi.org/simple/"
interpreter = "Python 3.11.7, Python 3.12.1"
pythons = ["3.11.7", "3.12.1"]
installer = "uv 0.13.9"
result = "failed"
failures = ["`pkg-1.0.tar.gz` (sdist) on Python 3.11.7: `python -c 'import pkg'` exited 1"]
log-sha256 = "ee"
log = "verify-staging.log"
seconds = 1.0
at = "2026-11-24T03:58:00Z"

[[verification.artifacts]]
filename = "pkg-1.0-py3-none-any.whl"
kind = "wheel"
sha256 = "aa"
python = "3.11.7"
result = "verified"
commands = [{ command = "uv venv env", exit = 0, seconds = 0.02 }, { command = "python -c 'import pkg'", exit = 0, seconds = 0.1, timed-out = true }]

[[verification.artifacts]]
filename = "pkg-1.0.tar.gz"
kind = "sdist"
sha256 = "bb"
python = "3.12.1"
result = "skipped"
reason = "Python 3.12.1 accepts none of its tags"

[[verification.runs]]
result = "verified"
verified-sha256 = ["aa", "bb"]
installed-sha256 = ["aa"]
from = "verify-a.toml"

[[verification.runs.artifacts]]
filename = "pkg-1.0-py3-none-any.whl"
python = "3.11.7"
result = "verified"
commands = [{ command = "uv venv env", exit = -1, seconds = 0.5 }]

[production]
uploaded = ["pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz"]
already-present = []
served-after-seconds = 0.25
attestations = "api-token"
manifest-sha256 = "ff"
at = "2026-11-24T04:00:00Z"

[[production.runs]]
uploaded = []
already-present = ["pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz"]
manifest-sha256 = "ff"

[production-verification]
result = "skipped"
at = "2026-11-24T04:01:00Z"

[github]
repository = "o/pkg"
url = "https://github.com/o/pkg/releases/tag/v1.0"
created = true
immutable = false
assets = ["pkg-1.0.tar.gz", "SHA256SUMS"]
at = "2026-11-24T04:02:00Z"
"#;

    /// The whole of a TOML text as a tree, to compare two texts by what they say.
    fn tree(text: &str) -> Raw {
        toml_edit::de::from_str(text).unwrap()
    }

    fn git(dir: &std::path::Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Two machines each stage one package of the same commit and push the notes: the second
    /// push finds the remote moved on and merges, and both sections reach the remote.
    #[test]
    fn two_machines_noting_two_packages_of_one_commit_keep_both_sections() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "--quiet", "--bare", "origin.git"]);
        git(root, &["init", "--quiet", "-b", "main", "a"]);
        let (a, b) = (root.join("a"), root.join("b"));
        for (key, value) in [("user.name", "T"), ("user.email", "t@example.org")] {
            git(&a, &["config", key, value]);
        }
        std::fs::write(a.join("f"), "x").unwrap();
        git(&a, &["add", "f"]);
        git(&a, &["commit", "--quiet", "-m", "release"]);
        git(&a, &["remote", "add", "origin", "../origin.git"]);
        git(&a, &["push", "--quiet", "origin", "main"]);
        git(root, &["clone", "--quiet", "origin.git", "b"]);
        for (key, value) in [("user.name", "U"), ("user.email", "u@example.org")] {
            git(&b, &["config", key, value]);
        }
        let commit = Oid::from_str(&git(&a, &["rev-parse", "HEAD"])).unwrap();
        let section = |package: &str, tag: &str, file: &str| {
            let mut note = Note::new(tag, "1.1.0", commit);
            note.package = Some(package.into());
            note.set_artifacts(&[ArtifactRecord::sample(file, "ab")]);
            note
        };
        let core = section("acme-core", "acme-core-v1.1.0", "acme_core-1.1.0.tar.gz");
        let cli = section("acme-cli", "acme-cli-v1.1.0", "acme_cli-1.1.0.tar.gz");
        let (repo_a, repo_b) = (Repo::discover(&a).unwrap(), Repo::discover(&b).unwrap());
        core.write(&repo_a, commit).unwrap();
        push(&repo_a, "origin").unwrap();
        cli.write(&repo_b, commit).unwrap();
        // The remote moved on: fetched and merged, ours winning for the same commit.
        push(&repo_b, "origin").unwrap();
        let hash = commit.to_string();
        let show = [
            "--git-dir",
            "origin.git",
            "notes",
            "--ref",
            NOTES_REF,
            "show",
            &hash,
        ];
        let remote = git(root, &show);
        let sections = Note::sections(&remote).unwrap().unwrap();
        let tags: Vec<&str> = sections.iter().map(|n| n.tag.as_str()).collect();
        assert_eq!(tags, ["acme-cli-v1.1.0", "acme-core-v1.1.0"], "{remote}");
        assert_eq!(sections, [cli.clone(), core.clone()]);
        // A machine that fetches, preferring the remote's, keeps its own section too.
        let mut later = core.clone();
        later.record(Entry::Staging(UploadRun::default()));
        later.write(&repo_a, commit).unwrap();
        fetch(&repo_a, "origin", true).unwrap();
        let text = repo_a.note(NOTES_REF, commit).unwrap();
        let sections = Note::sections(&text).unwrap().unwrap();
        assert_eq!(sections.len(), 2, "{text}");
        // Nothing to add: the merged note of a single package, or one lacking no section.
        assert_eq!(
            with_every_section("tag = \"v1\"\n", std::slice::from_ref(&remote)),
            None
        );
        assert_eq!(
            with_every_section(&remote, std::slice::from_ref(&remote)),
            None
        );
    }

    #[test]
    fn a_section_both_machines_noted_keeps_the_runs_of_each() {
        let staged = |at: &str| {
            let mut note = Note::new("acme-core-v1.2.0", "1.2.0", Oid::zero());
            note.record(Entry::Staging(UploadRun {
                at: Some(at.into()),
                ..UploadRun::default()
            }));
            note
        };
        let section = |note: &Note| Item::Table(note.to_document().as_table().clone());
        let doc_of = |notes: &[(&str, &Note)]| {
            let mut doc = DocumentMut::new();
            let mut packages = toml_edit::Table::new();
            packages.set_implicit(true);
            for (name, note) in notes {
                packages.insert(name, section(note));
            }
            doc.insert(PACKAGES, Item::Table(packages));
            doc.to_string()
        };
        // Ours: the core staged, and the cli. Theirs: the core staged, then promoted.
        let ours_core = staged("2026-12-01T10:00:00Z");
        let cli = Note::new("acme-cli-v0.3.0", "0.3.0", Oid::zero());
        let mut theirs_core = staged("2026-12-01T10:00:00Z");
        theirs_core.record(Entry::Production(UploadRun {
            at: Some("2026-12-01T11:00:00Z".into()),
            ..UploadRun::default()
        }));
        let merged = doc_of(&[("acme-core", &ours_core), ("acme-cli", &cli)]);
        let theirs = doc_of(&[("acme-core", &theirs_core)]);
        let text = with_every_section(&merged, &[merged.clone(), theirs]).unwrap();
        let sections = Note::sections(&text).unwrap().unwrap();
        assert_eq!(sections[0].entries(), theirs_core.entries(), "{text}");
        assert_eq!(sections[1].tag, "acme-cli-v0.3.0");
        // Nothing to add: nothing is written.
        assert!(with_every_section(&text, std::slice::from_ref(&text)).is_none());
    }

    #[test]
    fn a_note_of_several_packages_reads_each_section_with_its_package() {
        let mut core = Note::new("acme-core-v1.2.0", "1.2.0", Oid::zero());
        core.package = Some("acme-core".into());
        core.set_artifacts(&[ArtifactRecord::sample("acme_core-1.2.0.tar.gz", "ab")]);
        let mut cli = Note::new("acme-cli-v0.3.0", "0.3.0", Oid::zero());
        cli.package = Some("acme-cli".into());
        let mut doc = DocumentMut::new();
        let mut packages = toml_edit::Table::new();
        packages.set_implicit(true);
        for note in [&core, &cli] {
            let table = note.to_document().as_table().clone();
            packages.insert(note.package.as_deref().unwrap(), Item::Table(table));
        }
        doc.insert(PACKAGES, Item::Table(packages));
        let text = doc.to_string();
        assert!(text.contains("[packages.acme-core]"), "{text}");
        let sections = Note::sections(&text).unwrap().unwrap();
        assert_eq!(sections, [core, cli]);
        assert!(Note::sections("tag = \"v1\"\n").unwrap().is_none());
        assert!(Note::sections("packages = 3\n").is_err());
    }

    #[test]
    fn a_note_reads_and_writes_back_to_the_same_toml() {
        let note = Note::parse(WRITTEN).unwrap();
        assert_eq!(note.artifacts.len(), 2);
        assert_eq!(note.verification.as_ref().unwrap().all().count(), 2);
        let written = note.to_toml();
        assert_eq!(tree(&written), tree(WRITTEN), "{written}");
        assert_eq!(Note::parse(&written).unwrap(), note);
        // Laid out as before, for the readers that walk tables (the tests', a person's).
        let doc: DocumentMut = written.parse().unwrap();
        assert_eq!(doc["artifacts"].as_array_of_tables().unwrap().len(), 2);
        let verification = doc["verification"].as_table().unwrap();
        let cells = verification["artifacts"].as_array_of_tables().unwrap();
        assert_eq!(
            cells.get(0).unwrap()["commands"].as_array().unwrap().len(),
            2
        );
        let runs = verification["runs"].as_array_of_tables().unwrap();
        assert!(runs.get(0).unwrap()["artifacts"].is_array_of_tables());
        assert!(doc["production"]["runs"].is_array_of_tables());
        assert!(doc["github"].is_table() && doc["production-verification"].is_table());
        for header in [
            "[staging]",
            "[[verification.runs.artifacts]]",
            "commands = [{ command",
        ] {
            assert!(written.contains(header), "{header}: {written}");
        }
    }

    #[test]
    fn notes_of_older_twostages_read() {
        // Before `runs`, the matrix, attestations and `verify.python`: the first writer's shape.
        let first = "tag = \"v1.0\"\nversion = \"1.0\"\ncommit = \"ab\"\n\n[[artifacts]]\n\
            filename = \"a-1.0.tar.gz\"\nsize = 3\nsha256 = \"aa\"\nblake2_256 = \"bb\"\n\n\
            [staging]\nindex-url = \"u\"\nupload-url = \"v\"\nuploaded = [\"a-1.0.tar.gz\"]\n\
            already-present = []\nserved-after-seconds = 0.5\nat = \"t\"\n\n[verification]\n\
            interpreter = \"Python 3.11.7\"\nresult = \"verified\"\nverified-sha256 = [\"aa\"]\n\
            [[verification.artifacts]]\nfilename = \"a-1.0.tar.gz\"\nresult = \"verified\"\n\
            commands = [{ command = \"pip install\", exit = 0, seconds = 1 }]\n";
        let note = Note::parse(first).unwrap();
        let runs = note.verification.as_ref().unwrap();
        assert_eq!(runs.all().count(), 1);
        assert_eq!(runs.latest().result, Some(Verdict::Verified));
        assert_eq!(runs.latest().cells[0].python, None);
        assert_eq!(
            runs.latest().cells[0].commands.as_ref().unwrap()[0].seconds,
            1.0
        );
        // The notes the tests and other clones hand over: only the keys they need.
        let bare =
            Note::parse("[verification]\nresult = \"failed\"\nfailures = [\"x\"]\n").unwrap();
        assert_eq!(bare.tag, "");
        assert!(bare.artifacts.is_empty() && bare.staging.is_none());
        assert_eq!(
            bare.verification.unwrap().first.failures,
            Some(vec!["x".to_string()])
        );
    }

    #[test]
    fn keys_of_a_newer_twostage_are_kept_when_a_run_is_appended() {
        let newer = "tag = \"v1.0\"\nfuture = 3\n\n[staging]\nuploaded = []\nmirror = { url = \"m\", at = 1979-05-27T07:32:00Z }\n\n\
            [[staging.runs]]\nuploaded = [\"a\"]\nwhy = [1, 2.5, true]\n\n[verification]\nresult = \"verified\"\n\n\
            [[verification.artifacts]]\nfilename = \"a\"\nshard = \"2/3\"\ncommands = [{ command = \"c\", exit = 0, seconds = 0.1, rss = 12 }]\n\n\
            [sbom]\nformat = \"spdx\"\n";
        let mut note = Note::parse(newer).unwrap();
        assert_eq!(tree(&note.to_toml()), tree(newer), "{}", note.to_toml());
        note.record(Entry::Staging(UploadRun {
            uploaded: Some(Vec::new()),
            ..UploadRun::default()
        }));
        let Raw::Table(after) = tree(&note.to_toml()) else {
            panic!()
        };
        let Raw::Table(before) = tree(newer) else {
            panic!()
        };
        for key in ["future", "verification", "sbom", "tag"] {
            assert_eq!(after[key], before[key], "{key}");
        }
        let (Raw::Table(staging), Raw::Table(was)) = (&after["staging"], &before["staging"]) else {
            panic!()
        };
        assert_eq!(staging["mirror"], was["mirror"]);
        let Raw::Array(runs) = &staging["runs"] else {
            panic!()
        };
        assert_eq!(runs.len(), 2);
        let Raw::Array(earlier) = &was["runs"] else {
            panic!()
        };
        assert_eq!(runs[0], earlier[0]);
    }

    #[test]
    fn a_rerun_is_appended_and_the_first_run_kept() {
        let mut note = Note::new("v1.0", "1.0", Oid::zero());
        assert!(note.production.is_none());
        let run = |uploaded: &[&str]| UploadRun {
            uploaded: Some(uploaded.iter().map(|u| u.to_string()).collect()),
            ..UploadRun::default()
        };
        note.record(Entry::Production(run(&["a.whl", "a.tar.gz"])));
        note.record(Entry::Production(run(&[])));
        note.record(Entry::Production(run(&["b"])));
        // Through TOML text and back, as another clone reads it.
        let back = Note::parse(&note.to_toml()).unwrap();
        let production = back.production.as_ref().unwrap();
        assert_eq!(production.all().count(), 3);
        assert_eq!(production.first.uploaded.as_ref().unwrap().len(), 2);
        assert_eq!(production.latest().uploaded, Some(vec!["b".to_string()]));
        assert!(
            back.to_toml().contains("[[production.runs]]"),
            "{}",
            back.to_toml()
        );
    }

    #[test]
    fn a_note_without_runs_reads_as_one_run() {
        let note = Note::parse("tag = \"v1.0\"\n[verification]\nresult = \"verified\"\n").unwrap();
        let runs = note.verification.as_ref().unwrap();
        assert_eq!(runs.all().count(), 1);
        assert_eq!(runs.latest().result, Some(Verdict::Verified));
    }

    #[test]
    fn each_section_is_written_under_its_name() {
        let mut note = Note::new("v1.0", "1.0", Oid::zero());
        let entries = [
            Entry::Staging(UploadRun::default()),
            Entry::Verification(VerificationRun::default()),
            Entry::Production(UploadRun::default()),
            Entry::ProductionVerification(VerificationRun::default()),
            Entry::Github(GithubRun::default()),
        ];
        for (entry, section) in entries.into_iter().zip(Section::ALL) {
            assert_eq!(entry.section(), section);
            note.record(entry);
        }
        let doc = note.to_document();
        for section in Section::ALL {
            assert!(doc.contains_key(section.as_str()), "{section:?}: {doc}");
        }
        assert_eq!(note.entries().len(), 5);
    }

    #[test]
    fn the_sibling_files_a_verification_installed_are_tables_of_their_own() {
        let mut note = Note::new("cli-v0.3.1", "0.3.1", Oid::zero());
        note.record(Entry::Verification(VerificationRun {
            siblings: vec![SiblingFile {
                package: "core".into(),
                tag: "core-v1.0.1".into(),
                version: "1.0.1".into(),
                filename: "core-1.0.1-py3-none-any.whl".into(),
                sha256: "aa".into(),
                ..SiblingFile::default()
            }],
            ..VerificationRun::default()
        }));
        let text = note.to_toml();
        assert!(
            text.contains("[[verification.siblings]]\npackage = \"core\"\ntag = \"core-v1.0.1\"\n"),
            "{text}"
        );
        assert_eq!(Note::parse(&text).unwrap(), note);
        // A verification without siblings writes none.
        let alone = Note::new("v1.0", "1.0", Oid::zero());
        assert!(!alone.to_toml().contains("siblings"));
    }

    #[test]
    fn verdicts_and_attestations_are_their_words_and_others_are_refused() {
        for verdict in Verdict::ALL {
            let text = format!("[verification]\nresult = \"{}\"\n", verdict.as_str());
            let note = Note::parse(&text).unwrap();
            assert_eq!(note.verification.unwrap().first.result, Some(verdict));
        }
        for made in [
            Attestation::Made,
            Attestation::ApiToken,
            Attestation::Disabled,
            Attestation::NoSigner,
        ] {
            let text = format!("[production]\nattestations = \"{}\"\n", made.as_str());
            assert_eq!(
                Note::parse(&text)
                    .unwrap()
                    .production
                    .unwrap()
                    .first
                    .attestations,
                Some(made)
            );
        }
        let err = Note::parse("tag = \"v1\"\n[verification]\nresult = \"Verified\"\n").unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("not a release note twostage reads") && err.contains("`verification`"),
            "{err}"
        );
        let err = format!("{:#}", Note::parse("[staging\n").unwrap_err());
        assert!(err.contains("not valid TOML"), "{err}");
        let err = format!(
            "{:#}",
            Note::parse("[[artifacts]]\nfilename = 3\n").unwrap_err()
        );
        assert!(err.contains("not a release note twostage reads"), "{err}");
    }

    #[test]
    fn artifacts_round_trip_through_a_manifest() {
        let records = vec![ArtifactRecord {
            filename: "pkg-1.0-py3-none-any.whl".into(),
            size: 1234,
            sha256: "ab".repeat(32),
            blake2_256: "cd".repeat(32),
        }];
        let mut doc = DocumentMut::new();
        doc["tag"] = toml_edit::value("v1.0");
        set_artifacts(&mut doc, &records);
        let text = doc.to_string();
        let back: DocumentMut = text.parse().unwrap();
        assert_eq!(artifacts_of(&back), records);
        assert!(text.contains("[[artifacts]]"), "{text}");
    }
}
