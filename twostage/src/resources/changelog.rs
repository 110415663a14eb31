//! Rolling a Keep a Changelog file: the `## [Unreleased]` content moves under a heading for
//! the new version and a fresh, empty `## [Unreleased]` stays on top. Any other format
//! (towncrier, reStructuredText, `## Version 8.5.1`) is left to the maintainer. Pure text in,
//! text out: nothing here touches the file system.

/// The outcome of rolling a changelog's text.
#[derive(Debug, PartialEq, Eq)]
pub enum Roll {
    Rolled {
        text: String,
        /// The `Unreleased` section had no entries.
        empty: bool,
    },
    /// No `## [Unreleased]` heading: not a Keep a Changelog file.
    NotKeepAChangelog,
}

fn is_unreleased_heading(line: &str) -> bool {
    let Some(title) = line.trim_end().strip_prefix("## ") else {
        return false;
    };
    let title = title.trim();
    let title = title
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(title);
    title.eq_ignore_ascii_case("unreleased")
}

/// Whether the text is a Keep a Changelog file: one that `roll` can roll.
pub fn is_keep_a_changelog(text: &str) -> bool {
    text.lines().any(is_unreleased_heading)
}

fn is_link_definition(line: &str) -> bool {
    line.starts_with('[') && line.contains("]:")
}

/// Rolls `text` for `version` (as it should appear in the heading), released on `date`
/// (`YYYY-MM-DD`) with tag `new_tag`.
pub fn roll(text: &str, version: &str, new_tag: &str, date: &str) -> Roll {
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(heading) = lines.iter().position(|l| is_unreleased_heading(l)) else {
        return Roll::NotKeepAChangelog;
    };
    let body_end = lines[heading + 1..]
        .iter()
        .position(|l| l.starts_with("## ") || is_link_definition(l))
        .map_or(lines.len(), |p| heading + 1 + p);
    let empty = lines[heading + 1..body_end]
        .iter()
        .all(|l| l.trim().is_empty());

    let mut out = String::with_capacity(text.len() + 64);
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = unreleased_link(line) {
            // `[Unreleased]: https://…/compare/v1.4.2...HEAD` gains the new version's link.
            if let Some((base, previous)) =
                rest.rsplit_once("/compare/").and_then(|(base, range)| {
                    let previous = range.trim_end().strip_suffix("...HEAD")?;
                    Some((base, previous))
                })
            {
                let label = &line[..line.find("]:").unwrap_or(0) + 2];
                out.push_str(&format!("{label} {base}/compare/{new_tag}...HEAD{eol}"));
                out.push_str(&format!(
                    "[{version}]: {base}/compare/{previous}...{new_tag}{eol}"
                ));
                continue;
            }
        }
        out.push_str(line);
        if i == heading {
            if !line.ends_with('\n') {
                out.push_str(eol);
            }
            out.push_str(eol);
            out.push_str(&format!("## [{version}] - {date}{eol}"));
        }
    }
    Roll::Rolled { text: out, empty }
}

fn unreleased_link(line: &str) -> Option<&str> {
    let (label, rest) = line.split_once("]:")?;
    label
        .strip_prefix('[')?
        .eq_ignore_ascii_case("unreleased")
        .then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: &str = "# Changelog\n\n## [Unreleased]\n\n### Fixed\n- a bug\n\n## [1.4.2] - 2026-01-02\n\n- old\n\n[Unreleased]: https://github.com/o/n/compare/v1.4.2...HEAD\n[1.4.2]: https://github.com/o/n/compare/v1.4.1...v1.4.2\n";

    #[test]
    fn unreleased_moves_under_the_new_heading() {
        let Roll::Rolled { text, empty } = roll(KEEP, "1.4.3", "v1.4.3", "2026-11-24") else {
            panic!("not rolled");
        };
        assert!(!empty);
        assert_eq!(
            text,
            "# Changelog\n\n## [Unreleased]\n\n## [1.4.3] - 2026-11-24\n\n### Fixed\n- a bug\n\n## [1.4.2] - 2026-01-02\n\n- old\n\n\
             [Unreleased]: https://github.com/o/n/compare/v1.4.3...HEAD\n\
             [1.4.3]: https://github.com/o/n/compare/v1.4.2...v1.4.3\n\
             [1.4.2]: https://github.com/o/n/compare/v1.4.1...v1.4.2\n"
        );
    }

    #[test]
    fn crlf_files_stay_crlf_and_empty_sections_are_reported() {
        let text = "# Changelog\r\n\r\n## [Unreleased]\r\n\r\n## [1.0] - 2026-01-01\r\n";
        let Roll::Rolled { text, empty } = roll(text, "1.1", "v1.1", "2026-11-24") else {
            panic!("not rolled");
        };
        assert!(empty);
        assert_eq!(
            text,
            "# Changelog\r\n\r\n## [Unreleased]\r\n\r\n## [1.1] - 2026-11-24\r\n\r\n## [1.0] - 2026-01-01\r\n"
        );
    }

    #[test]
    fn other_formats_are_left_alone() {
        assert_eq!(
            roll("Changes\n=======\n\n8.5.1\n-----\n", "8.5.2", "v8.5.2", "d"),
            Roll::NotKeepAChangelog
        );
        assert_eq!(
            roll("## Version 8.5.1\n", "8.5.2", "v8.5.2", "d"),
            Roll::NotKeepAChangelog
        );
        assert!(!is_keep_a_changelog("Changes\n=======\n\n8.5.1\n-----\n"));
        assert!(is_keep_a_changelog(KEEP));
    }
}
