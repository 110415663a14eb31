//! `release`'s journal, and what a rerun does about a release that a kill left half made.
//!
//! Before each step that changes the repository (editing the files, committing, tagging,
//! building) `release` writes what it is about to do to `<git-common-dir>/twostage/release.journal`
//! (the tag, the version, the commit HEAD was at, the worktree, the step and when it began, and
//! the sha256 of each file before and after its edit), and removes the journal once the tag is
//! built or the release undone. A journal found by the next `release` is a run that was killed.
//!
//! The journal says what was planned; what was done is read from the repository, since a kill
//! can land between any two writes: `decide` is a pure function of both. It never guesses a
//! version: the planned tag is finished (tagged, built) when the release commit exists, and the
//! edits are put back when it does not (the rerun then plans the same version afresh). Anything
//! it cannot account for (HEAD moved on, a file changed since, the tag at another commit) is
//! refused with the journal's path, changing nothing.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use toml_edit::{value, ArrayOfTables, DocumentMut, Table};

use crate::resources::git::Repo;

/// What the run was about to do when it wrote the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Edit,
    Commit,
    Tag,
    Build,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Edit => "edit",
            Step::Commit => "commit",
            Step::Tag => "tag",
            Step::Build => "build",
        }
    }

    fn parse(text: &str) -> Option<Step> {
        [Step::Edit, Step::Commit, Step::Tag, Step::Build]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One edited file: its path and the sha256 of its bytes before and after the edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub path: String,
    pub old: String,
    pub new: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    pub tag: String,
    pub version: String,
    /// The commit HEAD was at before the release.
    pub before: String,
    pub worktree: PathBuf,
    pub step: Step,
    /// When the step began, in seconds since the Unix epoch.
    pub at: u64,
    pub files: Vec<Edited>,
}

/// The journal's file.
pub fn path(repo: &Repo) -> PathBuf {
    repo.common_dir().join("twostage").join("release.journal")
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    crate::resources::dist::hex(&sha2::Sha256::digest(bytes))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Journal {
    pub fn to_text(&self) -> String {
        let mut doc = DocumentMut::new();
        doc["tag"] = value(&self.tag);
        doc["version"] = value(&self.version);
        doc["before"] = value(&self.before);
        doc["worktree"] = value(self.worktree.to_string_lossy().as_ref());
        doc["step"] = value(self.step.as_str());
        doc["at"] = value(self.at as i64);
        let mut files = ArrayOfTables::new();
        for file in &self.files {
            let mut t = Table::new();
            t["path"] = value(&file.path);
            t["old"] = value(&file.old);
            t["new"] = value(&file.new);
            files.push(t);
        }
        doc["files"] = toml_edit::Item::ArrayOfTables(files);
        doc.to_string()
    }

    pub fn parse(text: &str) -> Option<Journal> {
        let doc: DocumentMut = text.parse().ok()?;
        let s = |t: &Table, k: &str| t.get(k)?.as_str().map(str::to_string);
        let root = doc.as_table();
        let files = match doc.get("files") {
            None => Vec::new(),
            Some(item) => item
                .as_array_of_tables()?
                .iter()
                .map(|t| {
                    Some(Edited {
                        path: s(t, "path")?,
                        old: s(t, "old")?,
                        new: s(t, "new")?,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        };
        Some(Journal {
            tag: s(root, "tag")?,
            version: s(root, "version")?,
            before: s(root, "before")?,
            worktree: PathBuf::from(s(root, "worktree")?),
            step: Step::parse(&s(root, "step")?)?,
            at: u64::try_from(doc.get("at")?.as_integer()?).ok()?,
            files,
        })
    }

    /// The journal of an interrupted release, if there is one.
    pub fn read(repo: &Repo) -> Result<Option<Journal>> {
        let path = path(repo);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        };
        match Journal::parse(&text) {
            Some(journal) => Ok(Some(journal)),
            None => bail!(
                "`{}` is not a journal of `release`: check `git status`, `git log -1` and \
                 `git tag`, then remove the file",
                path.display()
            ),
        }
    }

    /// Records that `step` is about to begin: written to a new file and renamed over the
    /// journal, so a kill leaves the old journal or the new one, never half of one.
    pub fn begin(&mut self, repo: &Repo, step: Step) -> Result<()> {
        self.step = step;
        self.at = now();
        let path = path(repo);
        let new = path.with_extension("journal.new");
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
        std::fs::write(&new, self.to_text())
            .and_then(|()| std::fs::File::open(&new)?.sync_all())
            .and_then(|()| std::fs::rename(&new, &path))
            .with_context(|| format!("cannot write `{}`", path.display()))
    }

    /// The release is whole (tagged and built) or undone: nothing is left to resume.
    pub fn end(repo: &Repo) -> Result<()> {
        let path = path(repo);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove `{}`", path.display()))
            }
            _ => Ok(()),
        }
    }
}

/// An edited file as the rerun finds it in the working tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Old,
    New,
    /// Neither: changed since, or gone.
    Other,
}

/// What the rerun finds in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The commit the journal's tag names, if the tag exists.
    pub tag_at: Option<String>,
    pub head: String,
    pub head_parent: Option<String>,
    pub head_subject: String,
    /// Whether the tag is built (its files frozen for the commit it names).
    pub built: bool,
    pub files: Vec<(String, FileState)>,
    pub worktree: PathBuf,
}

/// What the rerun does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing was committed: put the edited files and their index entries back; the rerun
    /// then plans the release afresh (the same version, since the files say the old one).
    Undo,
    /// The release commit is made (or, with nothing to commit, HEAD is as it was): tag it,
    /// then build.
    Tag {
        commit: String,
    },
    /// Tagged at the release commit, not built.
    Build,
    /// Tagged and built: only the journal was left.
    Finished,
    Refuse(String),
}

/// The pure decision over the journal and what was found.
pub fn decide(journal: &Journal, found: &Found) -> Decision {
    let tag = &journal.tag;
    if found.worktree != journal.worktree {
        return Decision::Refuse(format!(
            "the interrupted release of {tag} was made in the worktree `{}`: run \
             `cargo xtask release` there to finish it",
            journal.worktree.display()
        ));
    }
    let committed = found.head_parent.as_deref() == Some(journal.before.as_str())
        && found.head_subject == format!("Release {tag}");
    // The commit the tag belongs on: the release commit, or HEAD as it was when no file is
    // edited (a VCS-versioned project without a changelog tags HEAD itself).
    let release_commit = match (journal.files.is_empty(), committed) {
        (true, _) => Some(journal.before.clone()),
        (false, true) => Some(found.head.clone()),
        (false, false) => None,
    };
    match &found.tag_at {
        Some(at) if release_commit.as_ref() == Some(at) => match found.built {
            true => Decision::Finished,
            false => Decision::Build,
        },
        Some(at) => Decision::Refuse(format!(
            "tag `{tag}` exists at {at}, which is not the release commit the interrupted run \
             made from {}",
            journal.before
        )),
        None if committed && !journal.files.is_empty() => Decision::Tag {
            commit: found.head.clone(),
        },
        None if found.head == journal.before => {
            match found.files.iter().find(|(_, s)| *s == FileState::Other) {
                Some((path, _)) => Decision::Refuse(format!(
                    "`{path}` has changed since the interrupted release of {tag} edited it"
                )),
                None if journal.files.is_empty() => Decision::Tag {
                    commit: journal.before.clone(),
                },
                None => Decision::Undo,
            }
        }
        None => Decision::Refuse(format!(
            "HEAD is at {}, neither where the interrupted release of {tag} began ({}) nor its \
             release commit",
            found.head, journal.before
        )),
    }
}

/// Whether `index.lock`, last changed at `lock_mtime` (seconds since the epoch), was left by the
/// git command the interrupted run was in: it was committing, and the lock is no older than
/// that step. The lock is ours to hold now, so no other `release` is running.
pub fn index_lock_is_ours(journal: &Journal, lock_mtime: u64) -> bool {
    journal.step == Step::Commit && lock_mtime >= journal.at
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "1111111111111111111111111111111111111111";
    const RELEASE: &str = "2222222222222222222222222222222222222222";
    const OTHER: &str = "3333333333333333333333333333333333333333";

    fn journal(step: Step) -> Journal {
        Journal {
            tag: "v1.4.3".into(),
            version: "1.4.3".into(),
            before: BEFORE.into(),
            worktree: "/w".into(),
            step,
            at: 1_000,
            files: vec![
                Edited {
                    path: "pyproject.toml".into(),
                    old: "a".into(),
                    new: "b".into(),
                },
                Edited {
                    path: "CHANGELOG.md".into(),
                    old: "c".into(),
                    new: "d".into(),
                },
            ],
        }
    }

    fn found(head: &str, tag_at: Option<&str>, built: bool, files: [FileState; 2]) -> Found {
        let committed = head == RELEASE;
        Found {
            tag_at: tag_at.map(str::to_string),
            head: head.into(),
            head_parent: Some(if committed { BEFORE } else { "0" }.into()),
            head_subject: if committed {
                "Release v1.4.3"
            } else {
                "Earlier work"
            }
            .into(),
            built,
            files: vec![
                ("pyproject.toml".into(), files[0]),
                ("CHANGELOG.md".into(), files[1]),
            ],
            worktree: "/w".into(),
        }
    }

    use FileState::{New, Old, Other};

    #[test]
    fn the_journal_reads_back() {
        let j = journal(Step::Tag);
        assert_eq!(Journal::parse(&j.to_text()), Some(j));
        let mut none = journal(Step::Edit);
        none.files.clear();
        assert_eq!(Journal::parse(&none.to_text()), Some(none));
        assert_eq!(Journal::parse("tag = \"v1\"\n"), None);
        assert_eq!(Journal::parse("not toml ="), None);
    }

    #[test]
    fn before_the_commit_the_edits_are_undone() {
        // Killed after some, all or none of the edits, staged or not (staging does not show in
        // the working tree's bytes).
        for files in [[Old, Old], [New, Old], [New, New]] {
            for step in [Step::Edit, Step::Commit] {
                let d = decide(&journal(step), &found(BEFORE, None, false, files));
                assert_eq!(d, Decision::Undo, "{files:?} {step:?}");
            }
        }
    }

    #[test]
    fn a_release_commit_without_its_tag_is_tagged_and_a_tag_without_its_build_is_built() {
        let d = decide(
            &journal(Step::Tag),
            &found(RELEASE, None, false, [New, New]),
        );
        assert_eq!(
            d,
            Decision::Tag {
                commit: RELEASE.into()
            }
        );
        // The commit was made although the journal still said "commit".
        let d = decide(
            &journal(Step::Commit),
            &found(RELEASE, None, false, [New, New]),
        );
        assert!(matches!(d, Decision::Tag { .. }), "{d:?}");
        let d = decide(
            &journal(Step::Build),
            &found(RELEASE, Some(RELEASE), false, [New, New]),
        );
        assert_eq!(d, Decision::Build);
        let d = decide(
            &journal(Step::Tag),
            &found(RELEASE, Some(RELEASE), true, [New, New]),
        );
        assert_eq!(d, Decision::Finished);
    }

    #[test]
    fn with_nothing_to_commit_head_itself_is_tagged() {
        let mut j = journal(Step::Tag);
        j.files.clear();
        let mut f = found(BEFORE, None, false, [Old, Old]);
        f.files.clear();
        assert_eq!(
            decide(&j, &f),
            Decision::Tag {
                commit: BEFORE.into()
            }
        );
        f.tag_at = Some(BEFORE.into());
        assert_eq!(decide(&j, &f), Decision::Build);
    }

    #[test]
    fn what_the_journal_cannot_account_for_is_refused() {
        let refused = |d: Decision| matches!(d, Decision::Refuse(_));
        // A file changed since the edit.
        assert!(refused(decide(
            &journal(Step::Edit),
            &found(BEFORE, None, false, [New, Other])
        )));
        // HEAD moved on to a commit that is not the release commit.
        assert!(refused(decide(
            &journal(Step::Tag),
            &found(OTHER, None, false, [New, New])
        )));
        // The tag names another commit.
        assert!(refused(decide(
            &journal(Step::Build),
            &found(RELEASE, Some(OTHER), false, [New, New])
        )));
        // Another worktree.
        let mut f = found(BEFORE, None, false, [Old, Old]);
        f.worktree = "/elsewhere".into();
        assert!(refused(decide(&journal(Step::Edit), &f)));
    }

    #[test]
    fn only_an_index_lock_from_the_interrupted_commit_is_ours() {
        assert!(index_lock_is_ours(&journal(Step::Commit), 1_000));
        assert!(index_lock_is_ours(&journal(Step::Commit), 1_005));
        assert!(!index_lock_is_ours(&journal(Step::Commit), 999));
        assert!(!index_lock_is_ours(&journal(Step::Edit), 1_005));
    }
}
