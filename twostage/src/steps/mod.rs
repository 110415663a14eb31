//! The release steps: one module per step, each an orchestration that decides what to do and
//! calls the resources (`crate::resources`) to do it. One release flows through them in order:
//! `release` bumps, commits and tags, and has the tag built once (`crate::core::build`, which
//! `stage` and the post-tag hook call too); `stage` makes sure the files are on the staging
//! index and calls `verify`, which installs and smoke-tests them from there; `promote` puts the
//! same bytes on production; `record` puts results written by CI jobs that may not push into
//! the note. `status` reports where each release stands, `hooks` runs these steps from git's
//! hooks, `init` adopts a repository and `rehearse` runs the whole flow against local indexes.
//! A step may call a later step's module where the flow does (`stage` calls `verify`, `hooks`
//! calls `stage` and `promote`), and `release` keeps its journal in `resume`; what several
//! steps share is in `crate::core`, and nothing below calls a step. No step runs a git command
//! line: the git verbs are `crate::resources::git`'s.

pub mod audit;
pub mod hooks;
pub mod init;
pub mod promote;
pub mod record;
pub mod rehearse;
pub mod release;
pub mod resume;
pub mod stage;
pub mod status;
pub mod verify;

/// The figures of issue 22 that `docs/architecture.md` states, read from the sources: which
/// step names which, and that no step writes a git command line.
#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Each step module's text up to its tests; a step's submodules (`release/set.rs`) are
    /// the step's.
    fn steps() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/steps");
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            match path.is_dir() {
                true => files.extend(
                    std::fs::read_dir(&path)
                        .unwrap()
                        .map(|e| (name.clone(), e.unwrap().path())),
                ),
                false => files.push((name, path)),
            }
        }
        let mut steps = Vec::new();
        for (name, path) in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let product = text.split("#[cfg(test)]").next().unwrap().to_string();
            if name != "mod" {
                steps.push((name, product));
            }
        }
        steps
    }

    #[test]
    fn steps_name_other_steps_only_where_the_flow_calls_them() {
        let mut pairs = BTreeSet::new();
        for (name, text) in steps() {
            for (at, prefix) in text.match_indices("crate::steps::") {
                let rest = &text[at + prefix.len()..];
                // `crate::steps::stage`, `crate::steps::stage::run`, `crate::steps::{stage, verify}`
                let named = match rest.strip_prefix('{') {
                    Some(list) => list.split('}').next().unwrap_or_default(),
                    None => rest,
                };
                for other in named.split(',') {
                    let other: String = other
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !other.is_empty() && other != name {
                        pairs.insert(format!("{name} → {other}"));
                    }
                    if !rest.starts_with('{') {
                        break;
                    }
                }
            }
        }
        let expected = [
            "hooks → promote",
            "hooks → stage",
            "release → resume",
            "stage → verify",
        ];
        assert_eq!(
            pairs.iter().map(String::as_str).collect::<Vec<_>>(),
            expected,
            "docs/architecture.md, \"The rule: imports run downwards\""
        );
    }

    #[test]
    fn no_step_runs_a_git_command_line() {
        for (name, text) in steps() {
            // The command line is the first string literal after `cmd!(`.
            let commands: Vec<&str> = text
                .match_indices("cmd!(")
                .filter_map(|(i, _)| text[i..].split('"').nth(1))
                .filter(|line| line.starts_with("git "))
                .collect();
            assert!(commands.is_empty(), "steps/{name}.rs runs {commands:?}");
            for call in ["git::run(", "git::run_with_input(", "Command::new(\"git\")"] {
                assert!(!text.contains(call), "steps/{name}.rs calls `{call}`");
            }
        }
    }
}
