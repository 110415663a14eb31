//! `status`: each release tag's state, read from the release notes and checked against what
//! the indexes really serve (remote truth wins: a note that says "staged" for files the index
//! no longer lists is reported as such).

use anyhow::Result;
use serde_json::json;

use crate::config::Config;
use crate::resolved;
use crate::resources::evidence::{Note, Section};
use crate::resources::git::Repo;
use crate::resources::index::{self, IndexFile};
use crate::steps::build;
use crate::steps::verify::{self, Source};

/// Where a release stands: each state `status` reports, as one closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Tagged,
    Built,
    Staged,
    Verified,
    Promoted,
    Published,
    /// The stage that failed, or whose files an index no longer serves.
    Failed(Step),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Stage,
    Verify,
    Promote,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Tagged => "tagged",
            State::Built => "built",
            State::Staged => "staged",
            State::Verified => "verified",
            State::Promoted => "promoted",
            State::Published => "published",
            State::Failed(Step::Stage) => "failed:stage",
            State::Failed(Step::Verify) => "failed:verify",
            State::Failed(Step::Promote) => "failed:promote",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so that a width in the table's format string applies.
        f.pad(self.as_str())
    }
}

struct Row {
    tag: String,
    state: State,
    files: usize,
    /// Whether the remote has the tag (`None` without a remote or when it cannot be read).
    pushed: Option<bool>,
    staging: Option<bool>,
    production: Option<bool>,
    detail: String,
}

pub fn run(repo: &Repo, config: &Config, only: Option<&str>, json_out: bool) -> Result<()> {
    let scheme = config.git.tag_scheme();
    let mut tags: Vec<(pep440_rs::Version, String)> = repo
        .tags()?
        .into_iter()
        .filter_map(|(name, _)| {
            scheme
                .parse(&name)
                .ok()
                .filter(|t| !t.prod)
                .map(|t| (t.version, name))
        })
        .filter(|(_, name)| {
            only.is_none_or(|o| {
                o == name
                    || scheme
                        .parse(o)
                        .is_ok_and(|t| scheme.tag(&t.version) == *name)
            })
        })
        .collect();
    tags.sort();
    tags.reverse();
    if let (Some(only), true) = (only, tags.is_empty()) {
        return Err(crate::error::UsageError(format!("there is no release tag `{only}`")).into());
    }
    // A fresh clone or a CI checkout has no notes yet: the remote's are the evidence.
    if repo
        .git(&[
            "rev-parse",
            "--verify",
            "--quiet",
            crate::resources::evidence::NOTES_REF,
        ])
        .is_err()
        && repo.remote_url(&config.git.remote).is_some()
    {
        let _ = crate::resources::evidence::fetch(repo, &config.git.remote, true);
    }
    let agent = index::agent();
    let remote_tags: Option<Vec<String>> = repo.remote_url(&config.git.remote).and_then(|_| {
        let pattern = format!("refs/tags/{}*", config.git.tag_prefix);
        repo.ls_remote(&config.git.remote, &[&pattern])
            .ok()
            .map(|refs| refs.into_iter().map(|(name, _)| name).collect())
    });
    let mut pages: std::collections::HashMap<String, Option<Vec<IndexFile>>> = Default::default();
    let mut rows = Vec::new();
    for (version, tag) in tags {
        let release = resolved::resolve(repo, config, &tag)?;
        let note = Note::read(repo, release.commit, &tag).ok().flatten();
        let artifacts = note.as_ref().map(Note::artifacts).unwrap_or_default();
        let project = release.project.clone().unwrap_or_default();
        let mut serves = |index_url: &str| -> Option<bool> {
            if artifacts.is_empty() || project.is_empty() {
                return None;
            }
            let listing = pages.entry(index_url.to_string()).or_insert_with(|| {
                index::project_files(&agent, index_url, &project)
                    .ok()
                    .flatten()
            });
            let listing = listing.as_ref()?;
            index::all_served(&agent, listing, &artifacts).ok()
        };
        let staged = note
            .as_ref()
            .is_some_and(|n| n.section(Section::Staging).is_some());
        let production_noted = note
            .as_ref()
            .is_some_and(|n| n.section(Section::Production).is_some());
        let staging = if staged {
            serves(&config.staging.index_url)
        } else {
            None
        };
        let production = if production_noted {
            serves(&config.production.index_url)
        } else {
            None
        };
        let verification = note
            .as_ref()
            .and_then(|n| n.latest(Source::Staging.section()));
        let verified = verify::verified(verification, &artifacts);
        let failed = verification
            .and_then(|s| s.get("result"))
            .and_then(|r| r.as_str())
            == Some("failed");
        let prod_tag = scheme.prod_tag(&version);
        let (state, detail) = if note
            .as_ref()
            .is_some_and(|n| n.section(Section::Github).is_some())
        {
            (State::Published, String::new())
        } else if production_noted && repo.tag_commit(&prod_tag).is_some() {
            (State::Promoted, String::new())
        } else if production_noted {
            (State::Failed(Step::Promote), format!("production has the files but `{prod_tag}` is missing: rerun `cargo xtask promote {tag}`"))
        } else if verified {
            (State::Verified, String::new())
        } else if failed {
            let why = verification
                .and_then(|s| s.get("failures"))
                .and_then(|f| f.as_array())
                .and_then(|a| a.get(0))
                .and_then(|f| f.as_str())
                .unwrap_or("see the verification log");
            // The first line is the reason; the rest is the end of a command's output, kept
            // in the log rather than cut into the table.
            let mut lines = why.lines();
            let first = lines.next().unwrap_or_default().trim_end_matches(':');
            let why = if lines.next().is_some() {
                format!("{first} (the output is in `.git/twostage/{tag}/`)")
            } else {
                first.to_string()
            };
            (State::Failed(Step::Verify), why)
        } else if staged {
            (State::Staged, String::new())
        } else if build::frozen(repo, &tag).ok().flatten().is_some() {
            (State::Built, String::new())
        } else {
            (State::Tagged, String::new())
        };
        let (state, detail) = match (staging, production) {
            (Some(false), _) if state != State::Tagged => (
                State::Failed(Step::Stage),
                "staging no longer serves the recorded files".to_string(),
            ),
            (_, Some(false)) => (
                State::Failed(Step::Promote),
                "production does not serve the recorded files".to_string(),
            ),
            _ => (state, detail),
        };
        let pushed = remote_tags
            .as_ref()
            .map(|tags| tags.iter().any(|t| *t == format!("refs/tags/{tag}")));
        let next = next_step(state, &tag, pushed, &config.git.remote);
        let detail = match (detail.is_empty(), next.is_empty()) {
            (_, true) => detail,
            (true, false) => format!("next: {next}"),
            (false, false) => format!("{detail}; next: {next}"),
        };
        rows.push(Row {
            pushed,
            tag,
            state,
            files: artifacts.len(),
            staging,
            production,
            detail,
        });
    }
    if json_out {
        let value: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "tag": r.tag, "state": r.state.as_str(), "files": r.files, "pushed": r.pushed,
                    "staging_serves": r.staging, "production_serves": r.production, "detail": r.detail,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mark = |v: Option<bool>| match v {
        Some(true) => "serves",
        Some(false) => "MISSING",
        None => "-",
    };
    println!(
        "{:<18} {:<16} {:>5}  {:<6} {:<9} {:<10} detail",
        "tag", "state", "files", "pushed", "staging", "production"
    );
    for r in rows {
        let pushed = match r.pushed {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        println!(
            "{:<18} {:<16} {:>5}  {:<6} {:<9} {:<10} {}",
            r.tag,
            r.state,
            r.files,
            pushed,
            mark(r.staging),
            mark(r.production),
            r.detail
        );
    }
    Ok(())
}

/// The command that takes a release in `state` one step further (empty when it is done, or
/// when the detail already names it).
fn next_step(state: State, tag: &str, pushed: Option<bool>, remote: &str) -> String {
    match state {
        State::Tagged | State::Built if pushed == Some(true) => {
            format!("`cargo xtask stage {tag}`")
        }
        State::Tagged | State::Built => format!("`git push {remote} {tag}` (the hook stages it)"),
        State::Staged => format!("`cargo xtask verify {tag}`"),
        State::Verified => format!("`cargo xtask promote {tag}`"),
        State::Promoted => format!("`cargo xtask promote {tag}` publishes the GitHub release"),
        State::Failed(Step::Verify) => format!(
            "fix it and release a new version (`cargo xtask release patch`), or `cargo xtask verify {tag}` if it was passing trouble"
        ),
        State::Failed(Step::Stage) => format!("`cargo xtask stage {tag}`"),
        State::Published | State::Failed(Step::Promote) => String::new(),
    }
}
