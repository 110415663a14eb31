//! A verification's verdict as the release note records it, and the decisions taken from a
//! note value alone: the runs of the verification of an index's files (`Role::runs`), the
//! gate's question "were these exact files verified?" (`verified`, `unverified`), asked by
//! `stage`, `promote`, `status` and `audit` alike, the note's part of the promotion gate (`refusals`), and the
//! pre-push hook's "already promoted" (`already_promoted`). None of them reads git or an index:
//! the callers pass what those say as plain values.

use crate::core::index::Role;
use crate::resources::evidence::{ArtifactRecord, Entry, Note, Runs, Verdict, VerificationRun};

/// The note's verification of an index's files (`Role::verification` names its section).
impl Role {
    /// This verification's section of the note, every run of it.
    pub fn runs(self, note: &Note) -> Option<&Runs<VerificationRun>> {
        note.verifications(self == Role::Production)
    }

    /// The latest run of this verification: what it says now.
    pub fn latest(self, note: &Note) -> Option<&VerificationRun> {
        self.runs(note).map(Runs::latest)
    }

    /// A run of this verification, to record.
    pub fn entry(self, run: VerificationRun) -> Entry {
        match self {
            Role::Staging => Entry::Verification(run),
            Role::Production => Entry::ProductionVerification(run),
        }
    }
}

/// Why a verification does not vouch for a release's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unverified {
    /// No verification is recorded.
    Absent,
    /// Its verdict is not `verified`: failed, skipped (nothing installed), or none written.
    Verdict(Option<Verdict>),
    /// It vouches for another sha256 set than the note's artifacts.
    OtherFiles,
    /// A cell failed, whatever the verdict says.
    FailedCell { filename: String, python: String },
    /// It records failures, whatever the verdict says.
    Failures(usize),
}

impl std::fmt::Display for Unverified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unverified::Absent => write!(f, "no verification is recorded"),
            Unverified::Verdict(Some(v)) => write!(f, "its verdict is `{}`", v.as_str()),
            Unverified::Verdict(None) => write!(f, "it states no verdict"),
            Unverified::OtherFiles => write!(f, "it vouches for other sha256 than the artifacts'"),
            Unverified::FailedCell { filename, python } => {
                write!(f, "`{filename}` failed on Python {python}")
            }
            Unverified::Failures(n) => write!(f, "it records {n} failure(s)"),
        }
    }
}

/// Every reason `run` does not say these exact artifacts were verified; empty when it does.
/// The gate: the verdict `verified`, the sha256 set it vouches for is the artifacts', no cell
/// failed and no failure recorded (every file installed on at least one interpreter and failed
/// on none, see docs/verify.md). A file with no cell (a kind left out of `verify.artifacts`,
/// hash-checked only) is no reason: the vouched set covers it.
pub fn unverified(run: Option<&VerificationRun>, artifacts: &[ArtifactRecord]) -> Vec<Unverified> {
    let Some(run) = run else {
        return vec![Unverified::Absent];
    };
    let mut why = Vec::new();
    if run.result != Some(Verdict::Verified) {
        why.push(Unverified::Verdict(run.result));
    }
    let mut ours: Vec<&str> = artifacts.iter().map(|a| a.sha256.as_str()).collect();
    ours.sort_unstable();
    if run.vouched() != ours {
        why.push(Unverified::OtherFiles);
    }
    for cell in cells_of(run) {
        if cell.result == Some(Verdict::Failed) {
            why.push(Unverified::FailedCell {
                filename: cell.filename,
                python: cell.python,
            });
        }
    }
    match run.failures.as_deref() {
        Some(failures) if !failures.is_empty() => why.push(Unverified::Failures(failures.len())),
        _ => {}
    }
    why
}

/// Whether `run` says these exact artifacts were verified (`unverified` found nothing).
pub fn verified(run: Option<&VerificationRun>, artifacts: &[ArtifactRecord]) -> bool {
    unverified(run, artifacts).is_empty()
}

/// Why the release note refuses a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The note names no files, or records no staging upload.
    NotStaged,
    /// The latest verification of staging does not vouch for the files; `verdict` is what it
    /// says (`None`: absent or no verdict written).
    NotVerified {
        verdict: Option<Verdict>,
        why: Vec<Unverified>,
    },
}

/// The note's part of the promotion gate: these files were staged, and verified.
pub fn refusals(note: &Note) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    if note.artifacts.is_empty() || note.staging.is_none() {
        refusals.push(Refusal::NotStaged);
    }
    let latest = Role::Staging.latest(note);
    let why = unverified(latest, &note.artifacts);
    if !why.is_empty() {
        refusals.push(Refusal::NotVerified {
            verdict: latest.and_then(|run| run.result),
            why,
        });
    }
    refusals
}

/// Whether a sibling's section of the note (`None`: it has none) says the sibling is on
/// `role`'s index, so that its dependent can be verified there against its files: for staging,
/// its files and its staging upload are recorded; for production, its production upload too.
pub fn sibling_on(note: Option<&Note>, role: Role) -> bool {
    let Some(note) = note else {
        return false;
    };
    let staged = !note.artifacts.is_empty() && note.staging.is_some();
    match role {
        Role::Staging => staged,
        Role::Production => staged && note.production.is_some(),
    }
}

/// A sibling of the release as the promotion gate sees it: its section of the note and
/// whether production serves its files with their recorded sha256 (asked only when its section
/// records production's upload).
#[derive(Debug, Clone, Copy)]
pub struct SiblingState<'a> {
    pub package: &'a str,
    pub tag: &'a str,
    pub note: Option<&'a Note>,
    pub production_serves: bool,
}

/// Why the promotion order refuses a dependent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiblingRefusal {
    /// The sibling is not on production yet: promote it first.
    NotOnProduction { package: String, tag: String },
    /// The dependent's latest verification of staging did not install the sibling's files as
    /// its section records them (verified before the sibling was staged, or against other bytes).
    NotVerifiedWith { package: String, tag: String },
}

/// The promotion order over note values: a dependent (`note`) is promoted only after every
/// sibling is on production (its section records production's upload and production serves
/// its files), and only when its latest verification of staging installed each sibling's
/// files as that sibling's section records them (docs/monorepo.md, "The dependency rule").
pub fn sibling_refusals(note: &Note, siblings: &[SiblingState]) -> Vec<SiblingRefusal> {
    let installed = Role::Staging
        .latest(note)
        .map(|run| run.siblings.as_slice())
        .unwrap_or_default();
    let mut refusals = Vec::new();
    for sibling in siblings {
        let (package, tag) = (sibling.package.to_string(), sibling.tag.to_string());
        let promoted = sibling.note.is_some_and(|n| n.production.is_some());
        if !promoted || !sibling.production_serves {
            refusals.push(SiblingRefusal::NotOnProduction {
                package: package.clone(),
                tag: tag.clone(),
            });
        }
        let recorded: Vec<&str> = sibling
            .note
            .map(|n| n.artifacts.iter().map(|a| a.sha256.as_str()).collect())
            .unwrap_or_default();
        let mut with = installed.iter().filter(|f| f.tag == sibling.tag).peekable();
        let verified_with =
            with.peek().is_some() && with.all(|f| recorded.contains(&f.sha256.as_str()));
        if !verified_with {
            refusals.push(SiblingRefusal::NotVerifiedWith { package, tag });
        }
    }
    refusals
}

/// The pre-push hook's no-op: production's upload is recorded, production serves the files
/// (`production_serves`, asked only when it is recorded) and the `-prod` tag names the release
/// commit (`prod_tag_at_release`).
pub fn already_promoted(note: &Note, production_serves: bool, prod_tag_at_release: bool) -> bool {
    note.production.is_some() && production_serves && prod_tag_at_release
}

/// A cell as a note records it, for `status` and `audit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotedCell {
    pub filename: String,
    /// The interpreter's version; in a note written before `verify.python`, the run's
    /// `interpreter` (`Python 3.11.7`) without its `Python `.
    pub python: String,
    /// `None` when the cell states no verdict (shown `?`).
    pub result: Option<Verdict>,
    pub reason: Option<String>,
}

/// The cells of a verification, in the order recorded.
pub fn cells_of(run: &VerificationRun) -> Vec<NotedCell> {
    let interpreter = run.interpreter.as_deref().unwrap_or_default();
    let fallback = interpreter.strip_prefix("Python ").unwrap_or(interpreter);
    run.cells
        .iter()
        .map(|c| NotedCell {
            filename: c.filename.clone().unwrap_or_default(),
            python: c.python.clone().unwrap_or_else(|| fallback.to_string()),
            result: c.result,
            reason: c.reason.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::evidence::{Note, UploadRun};

    fn note(text: &str) -> Note {
        Note::parse(text).unwrap()
    }

    #[test]
    fn an_old_note_reads_as_a_one_column_matrix() {
        let note = note(
            "[verification]\ninterpreter = \"Python 3.11.7\"\nresult = \"verified\"\n\
             [[verification.artifacts]]\nfilename = \"a-1-py3-none-any.whl\"\nresult = \"verified\"\n",
        );
        let cells = cells_of(Role::Staging.latest(&note).unwrap());
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].python, "3.11.7");
        assert_eq!(cells[0].result, Some(Verdict::Verified));
    }

    #[test]
    fn one_failed_cell_refuses_the_gate() {
        let artifacts = [ArtifactRecord::sample("a-1-py3-none-any.whl", "aa")];
        let text = |cell: &str| {
            format!(
                "[verification]\nresult = \"verified\"\nverified-sha256 = [\"aa\"]\n\
                 [[verification.artifacts]]\nfilename = \"a-1-py3-none-any.whl\"\npython = \"3.12.1\"\nresult = \"verified\"\n\
                 [[verification.artifacts]]\nfilename = \"a-1-py3-none-any.whl\"\npython = \"3.9.18\"\nresult = \"{cell}\"\n"
            )
        };
        let run = |cell| Role::Staging.latest(&note(&text(cell))).cloned();
        assert!(verified(run("verified").as_ref(), &artifacts));
        assert!(verified(run("skipped").as_ref(), &artifacts));
        assert_eq!(
            unverified(run("failed").as_ref(), &artifacts),
            [Unverified::FailedCell {
                filename: "a-1-py3-none-any.whl".into(),
                python: "3.9.18".into()
            }]
        );
    }

    /// A note that was staged and verified: the gate opens.
    fn passing() -> Note {
        let mut note = Note::new("v1.0.0", "1.0.0", git2::Oid::zero());
        note.artifacts = vec![
            ArtifactRecord::sample("p-1.0.0.tar.gz", "aa"),
            ArtifactRecord::sample("p-1.0.0-py3-none-any.whl", "bb"),
        ];
        note.record(Entry::Staging(UploadRun::default()));
        note.record(Entry::Verification(VerificationRun {
            result: Some(Verdict::Verified),
            verified_sha256: Some(vec!["bb".into(), "aa".into()]),
            ..VerificationRun::default()
        }));
        note
    }

    fn latest_mut(note: &mut Note) -> &mut VerificationRun {
        let runs = note.verification.as_mut().unwrap();
        runs.later.last_mut().unwrap_or(&mut runs.first)
    }

    fn why(note: &Note) -> Vec<Unverified> {
        match refusals(note).as_slice() {
            [Refusal::NotVerified { why, .. }] => why.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_gate_opens_on_a_staged_and_verified_note_only() {
        // Each vouched sha256 once, in any order; a file with no cell (hash-checked only) is
        // covered by the vouched set.
        assert_eq!(refusals(&passing()), []);

        let mut unstaged = passing();
        unstaged.staging = None;
        assert_eq!(refusals(&unstaged), [Refusal::NotStaged]);
        let mut empty = passing();
        empty.artifacts.clear();
        assert!(refusals(&empty).contains(&Refusal::NotStaged));

        let mut never = passing();
        never.verification = None;
        assert_eq!(
            refusals(&never),
            [Refusal::NotVerified {
                verdict: None,
                why: vec![Unverified::Absent]
            }]
        );

        for verdict in [Some(Verdict::Failed), Some(Verdict::Skipped), None] {
            let mut note = passing();
            latest_mut(&mut note).result = verdict;
            assert_eq!(
                refusals(&note),
                [Refusal::NotVerified {
                    verdict,
                    why: vec![Unverified::Verdict(verdict)]
                }]
            );
        }

        let mut other = passing();
        latest_mut(&mut other).verified_sha256 = Some(vec!["aa".into(), "cc".into()]);
        assert_eq!(why(&other), [Unverified::OtherFiles]);
        let mut fewer = passing();
        latest_mut(&mut fewer).verified_sha256 = Some(vec!["aa".into()]);
        assert_eq!(why(&fewer), [Unverified::OtherFiles]);
        let mut none = passing();
        latest_mut(&mut none).verified_sha256 = None;
        assert_eq!(why(&none), [Unverified::OtherFiles]);

        let mut failures = passing();
        latest_mut(&mut failures).failures = Some(vec!["the smoke test".into()]);
        assert_eq!(why(&failures), [Unverified::Failures(1)]);
    }

    #[test]
    fn the_latest_verification_decides() {
        let mut note = passing();
        let mut failed = VerificationRun {
            result: Some(Verdict::Failed),
            failures: Some(vec!["x".into()]),
            ..VerificationRun::default()
        };
        note.record(Entry::Verification(failed.clone()));
        assert_eq!(
            why(&note),
            [
                Unverified::Verdict(Some(Verdict::Failed)),
                Unverified::OtherFiles,
                Unverified::Failures(1)
            ]
        );
        failed = note.verification.as_ref().unwrap().first.clone();
        note.record(Entry::Verification(failed));
        assert_eq!(refusals(&note), []);
        // A verification of production is not the gate's.
        let mut production = passing();
        production.verification = None;
        production.production_verification = passing().verification;
        assert!(!refusals(&production).is_empty());
    }

    #[test]
    fn the_hook_is_a_no_op_only_when_production_is_recorded_served_and_tagged() {
        let mut note = passing();
        assert!(!already_promoted(&note, true, true));
        note.record(Entry::Production(UploadRun::default()));
        assert!(already_promoted(&note, true, true));
        assert!(!already_promoted(&note, false, true));
        assert!(!already_promoted(&note, true, false));
    }

    /// The section of a sibling at `stage`: 0 nothing, 1 staged, 2 promoted.
    fn sibling_note(stage: u8) -> Note {
        let mut note = passing();
        note.tag = "core-v1.0.1".into();
        if stage == 0 {
            note.staging = None;
        }
        if stage >= 2 {
            note.record(Entry::Production(UploadRun::default()));
        }
        note
    }

    #[test]
    fn a_sibling_is_on_an_index_once_its_section_records_the_upload_there() {
        assert!(!sibling_on(None, Role::Staging));
        assert!(!sibling_on(Some(&sibling_note(0)), Role::Staging));
        assert!(sibling_on(Some(&sibling_note(1)), Role::Staging));
        assert!(!sibling_on(Some(&sibling_note(1)), Role::Production));
        assert!(sibling_on(Some(&sibling_note(2)), Role::Production));
        let mut no_files = sibling_note(1);
        no_files.artifacts.clear();
        assert!(!sibling_on(Some(&no_files), Role::Staging));
    }

    #[test]
    fn a_dependent_is_promoted_after_its_sibling_and_only_as_verified_with_it() {
        use crate::resources::evidence::SiblingFile;
        let with = |sha256: &str| SiblingFile {
            package: "core".into(),
            tag: "core-v1.0.1".into(),
            version: "1.0.1".into(),
            filename: "core-1.0.1-py3-none-any.whl".into(),
            sha256: sha256.into(),
            ..SiblingFile::default()
        };
        let dependent = |files: Vec<SiblingFile>| {
            let mut note = passing();
            latest_mut(&mut note).siblings = files;
            note
        };
        let (staged, promoted) = (sibling_note(1), sibling_note(2));
        let state = |note, production_serves| SiblingState {
            package: "core",
            tag: "core-v1.0.1",
            note,
            production_serves,
        };
        let not_on = SiblingRefusal::NotOnProduction {
            package: "core".into(),
            tag: "core-v1.0.1".into(),
        };
        let not_with = SiblingRefusal::NotVerifiedWith {
            package: "core".into(),
            tag: "core-v1.0.1".into(),
        };
        let verified = dependent(vec![with("bb")]);
        assert_eq!(
            sibling_refusals(&verified, &[state(Some(&promoted), true)]),
            []
        );
        // Staged only, or recorded on production but not served there, or no section at all.
        assert_eq!(
            sibling_refusals(&verified, &[state(Some(&staged), false)]),
            std::slice::from_ref(&not_on)
        );
        assert_eq!(
            sibling_refusals(&verified, &[state(Some(&promoted), false)]),
            std::slice::from_ref(&not_on)
        );
        assert_eq!(
            sibling_refusals(&verified, &[state(None, false)]),
            [not_on, not_with.clone()]
        );
        // Verified without the sibling's files, or with bytes its section does not record.
        for files in [vec![], vec![with("zz")], vec![with("bb"), with("zz")]] {
            assert_eq!(
                sibling_refusals(&dependent(files), &[state(Some(&promoted), true)]),
                std::slice::from_ref(&not_with)
            );
        }
        // No sibling: nothing to wait for.
        assert_eq!(sibling_refusals(&dependent(vec![]), &[]), []);
    }

    #[test]
    fn every_reason_reads_as_a_sentence() {
        let reasons = [
            (Unverified::Absent, "no verification is recorded"),
            (
                Unverified::Verdict(Some(Verdict::Failed)),
                "its verdict is `failed`",
            ),
            (Unverified::Verdict(None), "it states no verdict"),
            (
                Unverified::OtherFiles,
                "it vouches for other sha256 than the artifacts'",
            ),
            (
                Unverified::FailedCell {
                    filename: "a.whl".into(),
                    python: "3.9.18".into(),
                },
                "`a.whl` failed on Python 3.9.18",
            ),
            (Unverified::Failures(2), "it records 2 failure(s)"),
        ];
        for (reason, text) in reasons {
            assert_eq!(reason.to_string(), text);
        }
    }
}
