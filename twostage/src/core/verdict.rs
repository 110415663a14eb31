//! A verification's verdict as the release note records it: the keys of its section (which
//! index it read is `core::index::Role`), and the gate's question "were these exact files verified?"
//! (`verified`), asked by `stage`, `promote`, `status` and `audit` alike.

use toml_edit::{Item, Table};

use crate::resources::evidence::{self, ArtifactRecord, Verdict};

/// The key of the sha256 set a verification vouches for.
pub const VERIFIED_SHA256: &str = "verified-sha256";

/// The key of what a failed verification found wrong, one line per failure (`status` shows the
/// first).
pub const FAILURES: &str = "failures";

/// The key of the cells in a verification's section: one table per file and interpreter
/// (one per file in a note written before `verify.python`).
pub const CELLS: &str = "artifacts";

/// The key of a cell's interpreter version; a cell without it ran on the section's
/// `interpreter`.
pub const CELL_PYTHON: &str = "python";

/// The key of the reason a cell was skipped.
pub const CELL_REASON: &str = "reason";

/// Whether a note section says these exact artifacts were verified: its verdict, the sha256
/// set it vouches for, and no cell of it failed (the gate: every file installed on at least
/// one interpreter and failed on none, see docs/verify.md).
pub fn verified(section: Option<&Table>, artifacts: &[ArtifactRecord]) -> bool {
    let Some(section) = section else { return false };
    let mut recorded: Vec<String> = section
        .get(VERIFIED_SHA256)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    recorded.sort();
    let mut ours: Vec<String> = artifacts.iter().map(|a| a.sha256.clone()).collect();
    ours.sort();
    let no_cell_failed = section
        .get(CELLS)
        .and_then(Item::as_array_of_tables)
        .is_none_or(|cells| {
            cells
                .iter()
                .all(|c| Verdict::of(c) != Some(Verdict::Failed))
        });
    Verdict::of(section) == Some(Verdict::Verified) && recorded == ours && no_cell_failed
}

/// A cell as a note records it, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotedCell {
    pub filename: String,
    /// The interpreter's version; in a note written before `verify.python`, the section's
    /// `interpreter` (`Python 3.11.7`) without its `Python `.
    pub python: String,
    /// `verified`, `failed` or `skipped` (as written, `?` when missing).
    pub result: String,
    pub reason: Option<String>,
}

/// The cells of a verification's section, in the order recorded.
pub fn cells_of(section: &Table) -> Vec<NotedCell> {
    let interpreter = section
        .get("interpreter")
        .and_then(Item::as_str)
        .unwrap_or_default();
    let fallback = interpreter.strip_prefix("Python ").unwrap_or(interpreter);
    let text = |t: &Table, key: &str| t.get(key).and_then(Item::as_str).map(str::to_string);
    section
        .get(CELLS)
        .and_then(Item::as_array_of_tables)
        .map(|cells| {
            cells
                .iter()
                .map(|c| NotedCell {
                    filename: text(c, "filename").unwrap_or_default(),
                    python: text(c, CELL_PYTHON).unwrap_or_else(|| fallback.to_string()),
                    result: text(c, evidence::RESULT).unwrap_or_else(|| "?".into()),
                    reason: text(c, CELL_REASON),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_note_reads_as_a_one_column_matrix() {
        let section: toml_edit::DocumentMut =
            "interpreter = \"Python 3.11.7\"\nresult = \"verified\"\n\
             [[artifacts]]\nfilename = \"a-1-py3-none-any.whl\"\nresult = \"verified\"\n"
                .parse()
                .unwrap();
        let cells = cells_of(section.as_table());
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].python, "3.11.7");
        assert_eq!(cells[0].result, "verified");
    }

    #[test]
    fn one_failed_cell_refuses_the_gate() {
        let artifact = ArtifactRecord {
            filename: "a-1-py3-none-any.whl".into(),
            size: 1,
            sha256: "aa".into(),
            blake2_256: "bb".into(),
        };
        let text = |cell: &str| {
            format!(
                "result = \"verified\"\nverified-sha256 = [\"aa\"]\n\
                 [[artifacts]]\npython = \"3.12.1\"\nresult = \"verified\"\n\
                 [[artifacts]]\npython = \"3.9.18\"\nresult = \"{cell}\"\n"
            )
        };
        let section = |cell| text(cell).parse::<toml_edit::DocumentMut>().unwrap();
        let artifacts = std::slice::from_ref(&artifact);
        assert!(verified(Some(section("verified").as_table()), artifacts));
        assert!(verified(Some(section("skipped").as_table()), artifacts));
        assert!(!verified(Some(section("failed").as_table()), artifacts));
    }
}
