//! `status`: each release tag's state, read from the release notes and checked against what
//! the indexes really serve (remote truth wins: a note that says "staged" for files the index
//! no longer lists is reported as such).

use std::collections::HashMap;

use anyhow::Result;
use serde_json::json;

use crate::config::Config;
use crate::core::frozen;
use crate::core::index::{Indexes, Role};
use crate::core::production;
use crate::core::verdict;
use crate::resolved;
use crate::resources::evidence::{self, ArtifactRecord, Note, Verdict, VerificationRun};
use crate::resources::git::Repo;
use crate::resources::index::IndexFile;

/// Where a release stands: each state `status` reports, as one closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Tagged,
    Built,
    Staged,
    Verified,
    Promoted,
    Published,
    /// Tagged before twostage was adopted (`before_twostage`): nothing to do.
    BeforeTwostage,
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
            State::BeforeTwostage => "before-twostage",
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
    /// The package of several whose release this is; `None` with one package.
    package: Option<String>,
    state: State,
    files: usize,
    /// Whether the remote has the tag (`None` without a remote or when it cannot be read).
    pushed: Option<bool>,
    staging: Option<bool>,
    production: Option<bool>,
    detail: String,
    /// The cells of the latest verification of what staging serves.
    matrix: Vec<verdict::NotedCell>,
}

impl Row {
    /// A tag from before twostage: no note, no index asked, nothing to do.
    fn before_twostage(tag: String) -> Row {
        Row {
            tag,
            package: None,
            state: State::BeforeTwostage,
            files: 0,
            pushed: None,
            staging: None,
            production: None,
            detail: "tagged before twostage was adopted: nothing to do".into(),
            matrix: Vec::new(),
        }
    }
}

pub fn run(repo: &Repo, config: &Config, only: Option<&str>, json_out: bool) -> Result<()> {
    // Each package's releases by its own tags, when the repository holds several.
    let configs = match config.member() {
        None if config.is_multi_package() => config
            .packages
            .iter()
            .filter_map(|m| config.for_package(&m.name))
            .collect(),
        _ => vec![config.clone()],
    };
    let tags = configs
        .iter()
        .map(|config| release_tags(repo, config, only))
        .collect::<Result<Vec<_>>>()?;
    if let (Some(only), true) = (only, tags.iter().all(Vec::is_empty)) {
        return Err(crate::error::UsageError(format!("there is no release tag `{only}`")).into());
    }
    // A fresh clone or a CI checkout has no notes yet: the remote's are the evidence.
    if !repo.resolves(evidence::NOTES_REF) && repo.remote_url(&config.git.remote).is_some() {
        let _ = evidence::fetch(repo, &config.git.remote, true);
    }
    let mut rows = Vec::new();
    for (config, tags) in configs.iter().zip(tags) {
        rows.extend(package_rows(repo, config, tags)?);
    }
    if json_out {
        print_json(&rows)
    } else {
        print_table(&rows, only.is_some());
        Ok(())
    }
}

/// The rows of one package's release tags (the project's, with one package).
fn package_rows(
    repo: &Repo,
    config: &Config,
    tags: Vec<(pep440_rs::Version, String)>,
) -> Result<Vec<Row>> {
    let mut gather = Gather {
        repo,
        config,
        remote_tags: remote_tags(repo, config),
        indexes: Indexes::new(config),
        pages: HashMap::new(),
    };
    let before = before_twostage(repo, &tags);
    let package = config.member().map(|m| m.name.clone());
    let mut rows = Vec::new();
    for (version, tag) in tags {
        let mut row = match before.contains(&tag) {
            true => Row::before_twostage(tag),
            false => gather.row(&version, tag)?,
        };
        row.package = package.clone();
        rows.push(row);
    }
    Ok(rows)
}

/// The release tags (not the `-prod` ones), newest first; only `only` when given, in any
/// spelling of its version.
fn release_tags(
    repo: &Repo,
    config: &Config,
    only: Option<&str>,
) -> Result<Vec<(pep440_rs::Version, String)>> {
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
    Ok(tags)
}

/// The tags of `tags` made before twostage came (docs/promote.md, "Tags from before
/// twostage"): a tag with no release note and no frozen build whose commit descends from no
/// commit that adopted twostage (the first with `xtask/Cargo.toml`, with twostage's own
/// `release.toml`, or with `[tool.twostage]` in `pyproject.toml`), or whose version is older
/// than every tag with a note.
fn before_twostage(repo: &Repo, tags: &[(pep440_rs::Version, String)]) -> Vec<String> {
    let noted = |tag: &str| {
        repo.tag_commit(tag)
            .and_then(|c| Note::read(repo, c, tag).ok().flatten())
            .is_some()
    };
    let (with_note, without): (Vec<_>, Vec<_>) = tags.iter().partition(|(_, t)| noted(t));
    let oldest_noted = with_note.iter().map(|(v, _)| v).min();
    let after_adoption = tags_after_adoption(repo);
    without
        .into_iter()
        .filter(|(version, tag)| {
            let older = oldest_noted.is_some_and(|oldest| version < oldest);
            let before = after_adoption
                .as_ref()
                .is_some_and(|after| !after.contains(tag));
            (older || before) && frozen::frozen(repo, tag).ok().flatten().is_none()
        })
        .map(|(_, tag)| tag.clone())
        .collect()
}

/// The tags whose commit descends from a commit that adopted twostage, or `None` when the
/// history has no such commit (a shallow clone, a configuration never committed): then no
/// tag is told apart by its history.
fn tags_after_adoption(repo: &Repo) -> Option<Vec<String>> {
    let ours = std::fs::read_to_string(repo.root().join(crate::config::FILE_NAME))
        .is_ok_and(|t| !crate::config::is_foreign(&t));
    let mut adoptions = vec![
        repo.first_commit_adding("xtask/Cargo.toml"),
        repo.first_commit_adding_text("[tool.twostage]", crate::config::PYPROJECT),
    ];
    if ours {
        adoptions.push(repo.first_commit_adding(crate::config::FILE_NAME));
    }
    let adoptions: Vec<String> = adoptions
        .into_iter()
        .flat_map(|a| a.ok().flatten())
        .collect();
    if adoptions.is_empty() {
        return None;
    }
    let mut tags = Vec::new();
    for commit in adoptions {
        tags.extend(repo.tags_containing(&commit).ok()?);
    }
    Some(tags)
}

/// The release tags the remote has (`None` without a remote or when it cannot be read).
fn remote_tags(repo: &Repo, config: &Config) -> Option<Vec<String>> {
    repo.remote_url(&config.git.remote).and_then(|_| {
        let pattern = format!("refs/tags/{}*", config.git.tag_scheme().prefix);
        repo.ls_remote(&config.git.remote, &[&pattern])
            .ok()
            .map(|refs| refs.into_iter().map(|(name, _)| name).collect())
    })
}

/// What the rows are read from: the repository, its remote's tags, and each index's project
/// page, read once.
struct Gather<'a> {
    repo: &'a Repo,
    config: &'a Config,
    remote_tags: Option<Vec<String>>,
    indexes: Indexes<'a>,
    pages: HashMap<String, Option<Vec<IndexFile>>>,
}

impl Gather<'_> {
    /// One tag's row: what its note says, checked against what the indexes serve.
    fn row(&mut self, version: &pep440_rs::Version, tag: String) -> Result<Row> {
        let (repo, config) = (self.repo, self.config);
        let release = resolved::tagged_release(repo, config, &tag)?;
        let note = Note::read(repo, release.commit, &tag).ok().flatten();
        let artifacts = note.as_ref().map(Note::artifacts).unwrap_or_default();
        let project = release.project.clone().unwrap_or_default();
        let staging = if note.as_ref().is_some_and(|n| n.staging.is_some()) {
            self.serves(Role::Staging, &project, &artifacts)
        } else {
            None
        };
        let production = if note.as_ref().is_some_and(|n| n.production.is_some()) {
            self.serves(Role::Production, &project, &artifacts)
        } else {
            None
        };
        let prod_tag = config.git.tag_scheme().prod_tag(version);
        let seen = Seen {
            prod_tag: repo.tag_commit(&prod_tag).is_some(),
            staging,
            production,
        };
        let built = || frozen::frozen(repo, &tag).ok().flatten().is_some();
        let (state, detail) = state_of(&tag, &prod_tag, note.as_ref(), &seen, built);
        let pushed = self
            .remote_tags
            .as_ref()
            .map(|tags| tags.iter().any(|t| *t == format!("refs/tags/{tag}")));
        let matrix = note
            .as_ref()
            .and_then(|n| Role::Staging.latest(n))
            .map(verdict::cells_of)
            .unwrap_or_default();
        let github = config.github.repository.is_some()
            || repo
                .remote_url(&config.git.remote)
                .and_then(|u| crate::resources::git::github_repository(&u))
                .is_some();
        let next = next_step(state, &tag, pushed, &config.git.remote, github);
        // A `-prod` tag made annotated (by hand, or by an earlier twostage) breaks the
        // project's own VCS-versioned builds: said with the fix, whatever the state.
        let detail = match production::annotated_prod_tag(repo, &config.git.remote, &prod_tag) {
            Some(warning) if detail.is_empty() => warning,
            Some(warning) => format!("{detail}; {warning}"),
            None => detail,
        };
        let detail = match (detail.is_empty(), next.is_empty()) {
            (_, true) => detail,
            (true, false) => format!("next: {next}"),
            (false, false) => format!("{detail}; next: {next}"),
        };
        Ok(Row {
            pushed,
            tag,
            package: None,
            state,
            files: artifacts.len(),
            staging,
            production,
            detail,
            matrix,
        })
    }

    /// Whether the index serves every recorded file with its sha256 (`None` when there is
    /// nothing to ask or the index cannot be read).
    fn serves(&mut self, role: Role, project: &str, artifacts: &[ArtifactRecord]) -> Option<bool> {
        if artifacts.is_empty() || project.is_empty() {
            return None;
        }
        let index = self.indexes.of(role);
        let listing = self
            .pages
            .entry(index.url().to_string())
            .or_insert_with(|| index.listing(project).ok().flatten().map(|l| l.files));
        let listing = listing.as_ref()?;
        index.all_served(listing, artifacts).ok()
    }
}

/// What is known of a release beside its note, read by the caller: whether the `-prod` tag
/// exists here, and whether each index serves the recorded files (`None`: not asked, since the
/// note records no upload there, or the index could not be read).
struct Seen {
    prod_tag: bool,
    staging: Option<bool>,
    production: Option<bool>,
}

/// Where a release stands, and why when it failed: what its note says (`noted_state`), then
/// remote truth (`reconcile`). `built` is asked only when nothing later is recorded.
fn state_of(
    tag: &str,
    prod_tag: &str,
    note: Option<&Note>,
    seen: &Seen,
    built: impl FnOnce() -> bool,
) -> (State, String) {
    let (state, detail) = noted_state(tag, prod_tag, note, seen.prod_tag, built);
    reconcile(state, detail, seen.staging, seen.production)
}

/// The state the release note (and the tags) say the release is in, and why when it failed.
fn noted_state(
    tag: &str,
    prod_tag: &str,
    note: Option<&Note>,
    prod_tagged: bool,
    built: impl FnOnce() -> bool,
) -> (State, String) {
    let Some(note) = note else {
        return (
            if built() { State::Built } else { State::Tagged },
            String::new(),
        );
    };
    let verification = Role::Staging.latest(note);
    if note.github.is_some() {
        (State::Published, String::new())
    } else if note.production.is_some() && prod_tagged {
        (State::Promoted, String::new())
    } else if note.production.is_some() {
        (State::Failed(Step::Promote), format!("production has the files but `{prod_tag}` is missing: rerun `cargo xtask promote {tag}`"))
    } else if verdict::verified(verification, &note.artifacts) {
        (State::Verified, String::new())
    } else if verification.and_then(|v| v.result) == Some(Verdict::Failed) {
        (State::Failed(Step::Verify), failure(verification, tag))
    } else if note.staging.is_some() {
        (State::Staged, String::new())
    } else if built() {
        (State::Built, String::new())
    } else {
        (State::Tagged, String::new())
    }
}

/// The first reason a verification failed, short enough for the table.
fn failure(verification: Option<&VerificationRun>, tag: &str) -> String {
    let why = verification
        .and_then(|v| v.failures.as_deref())
        .and_then(<[String]>::first)
        .map_or("see the verification log", String::as_str);
    // The first line is the reason; the rest is the end of a command's output, kept
    // in the log rather than cut into the table.
    let mut lines = why.lines();
    let first = lines.next().unwrap_or_default().trim_end_matches(':');
    if lines.next().is_some() {
        format!("{first} (the output is in `.git/twostage/{tag}/`)")
    } else {
        first.to_string()
    }
}

/// Remote truth wins: an index that no longer serves the recorded files fails the stage
/// that put them there, whatever the note says.
fn reconcile(
    state: State,
    detail: String,
    staging: Option<bool>,
    production: Option<bool>,
) -> (State, String) {
    match (staging, production) {
        (Some(false), _) if state != State::Tagged => (
            State::Failed(Step::Stage),
            "staging no longer serves the recorded files".to_string(),
        ),
        (_, Some(false)) => (
            State::Failed(Step::Promote),
            "production does not serve the recorded files".to_string(),
        ),
        _ => (state, detail),
    }
}

fn print_json(rows: &[Row]) -> Result<()> {
    let value: Vec<_> = rows
        .iter()
        .map(|r| {
            let mut row = json!({
                "tag": r.tag, "state": r.state.as_str(), "files": r.files, "pushed": r.pushed,
                "staging_serves": r.staging, "production_serves": r.production, "detail": r.detail,
                "matrix": r.matrix.iter().map(|c| json!({
                    "filename": c.filename, "python": c.python, "result": c.result.map_or("?", Verdict::as_str), "reason": c.reason,
                })).collect::<Vec<_>>(),
            });
            // With several packages, each row says whose release it is.
            if let Some(package) = &r.package {
                row["package"] = json!(package);
            }
            row
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// The table, then the verification matrix of each release asked for by name and of each
/// whose verification failed.
fn print_table(rows: &[Row], one: bool) {
    let mark = |v: Option<bool>| match v {
        Some(true) => "serves",
        Some(false) => "MISSING",
        None => "-",
    };
    // One package's tags fit 18 columns; several packages' tags carry their names.
    let width = match rows.iter().any(|r| r.package.is_some()) {
        true => rows.iter().map(|r| r.tag.len()).max().unwrap_or(0).max(18),
        false => 18,
    };
    println!(
        "{:<width$} {:<16} {:>5}  {:<6} {:<9} {:<10} detail",
        "tag", "state", "files", "pushed", "staging", "production"
    );
    let (before, rows): (Vec<&Row>, Vec<&Row>) = rows
        .iter()
        .partition(|r| r.state == State::BeforeTwostage && !one);
    for r in &rows {
        let pushed = match r.pushed {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        println!(
            "{:<width$} {:<16} {:>5}  {:<6} {:<9} {:<10} {}",
            crate::output::visible(&r.tag),
            r.state,
            r.files,
            pushed,
            mark(r.staging),
            mark(r.production),
            crate::output::visible(&r.detail)
        );
    }
    if let Some(newest) = before.first() {
        // Once, as a count: the project's history, not releases to act on.
        println!(
            "{} before twostage (the newest `{}`): no release note, nothing to do",
            crate::output::plural(before.len(), "tag"),
            crate::output::visible(&newest.tag)
        );
    }
    for r in rows {
        if !r.matrix.is_empty() && (one || r.state == State::Failed(Step::Verify)) {
            print_matrix(&r.tag, &r.matrix);
        }
    }
}

/// One line per file, one column per interpreter: what each cell came to, and below, why
/// each skipped cell was skipped.
fn print_matrix(tag: &str, cells: &[verdict::NotedCell]) {
    let mut pythons: Vec<&str> = Vec::new();
    let mut files: Vec<&str> = Vec::new();
    for c in cells {
        if !pythons.contains(&c.python.as_str()) {
            pythons.push(&c.python);
        }
        if !files.contains(&c.filename.as_str()) {
            files.push(&c.filename);
        }
    }
    let width = files.iter().map(|f| f.len()).max().unwrap_or(0);
    println!("\n{tag}: the verification by interpreter");
    let header: Vec<String> = pythons.iter().map(|p| format!("{p:<10}")).collect();
    println!("  {:<width$}  {}", "file", header.join(" ").trim_end());
    for file in &files {
        let row: Vec<String> = pythons
            .iter()
            .map(|p| {
                let result = cells
                    .iter()
                    .find(|c| c.filename == *file && c.python == *p)
                    .map_or("-", |c| c.result.map_or("?", Verdict::as_str));
                format!("{result:<10}")
            })
            .collect();
        println!("  {file:<width$}  {}", row.join(" ").trim_end());
    }
    for c in cells {
        if let Some(reason) = &c.reason {
            println!("  {} on {}: skipped, {reason}", c.filename, c.python);
        }
    }
}

/// The command that takes a release in `state` one step further (empty when it is done, or
/// when the detail already names it). A promoted release is done unless a GitHub repository
/// is configured or the remote is on GitHub (`github`): only then is there a GitHub release
/// to publish.
fn next_step(state: State, tag: &str, pushed: Option<bool>, remote: &str, github: bool) -> String {
    match state {
        State::Tagged | State::Built if pushed == Some(true) => {
            format!("`cargo xtask stage {tag}`")
        }
        State::Tagged | State::Built => format!("`git push {remote} {tag}` (the hook stages it)"),
        State::Staged => format!("`cargo xtask verify {tag}`"),
        State::Verified => format!("`cargo xtask promote {tag}`"),
        State::Promoted if github => {
            format!("`cargo xtask promote {tag}` publishes the GitHub release")
        }
        State::Promoted => String::new(),
        State::Failed(Step::Verify) => format!(
            "fix it and release a new version (`cargo xtask release patch`), or `cargo xtask verify {tag}` if it was passing trouble"
        ),
        State::Failed(Step::Stage) => format!("`cargo xtask stage {tag}`"),
        State::Published | State::BeforeTwostage | State::Failed(Step::Promote) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::evidence::{Entry, GithubRun, UploadRun};

    fn staged() -> Note {
        let mut note = Note::new("v1.0.0", "1.0.0", git2::Oid::zero());
        note.artifacts = vec![ArtifactRecord::sample("p-1.0.0.tar.gz", "aa")];
        note.record(Entry::Staging(UploadRun::default()));
        note
    }

    fn verified() -> Note {
        let mut note = staged();
        note.record(Entry::Verification(VerificationRun {
            result: Some(Verdict::Verified),
            verified_sha256: Some(vec!["aa".into()]),
            ..VerificationRun::default()
        }));
        note
    }

    fn failed(failure: &str) -> Note {
        let mut note = staged();
        note.record(Entry::Verification(VerificationRun {
            result: Some(Verdict::Failed),
            failures: Some(vec![failure.into()]),
            ..VerificationRun::default()
        }));
        note
    }

    fn promoted() -> Note {
        let mut note = verified();
        note.record(Entry::Production(UploadRun::default()));
        note
    }

    fn published() -> Note {
        let mut note = promoted();
        note.record(Entry::Github(GithubRun::default()));
        note
    }

    const SERVED: Seen = Seen {
        prod_tag: true,
        staging: Some(true),
        production: Some(true),
    };

    fn state(note: Option<&Note>, seen: &Seen, built: bool) -> (String, String) {
        let (state, detail) = state_of("v1.0.0", "v1.0.0-prod", note, seen, || built);
        (state.to_string(), detail)
    }

    #[test]
    fn every_state_comes_from_a_note_and_what_the_indexes_and_tags_say() {
        let none = Seen {
            prod_tag: false,
            staging: None,
            production: None,
        };
        let said = |s: &str| (s.to_string(), String::new());
        assert_eq!(state(None, &none, false), said("tagged"));
        assert_eq!(state(None, &none, true), said("built"));
        let empty = Note::new("v1.0.0", "1.0.0", git2::Oid::zero());
        assert_eq!(state(Some(&empty), &none, true), said("built"));
        assert_eq!(state(Some(&empty), &none, false), said("tagged"));
        assert_eq!(state(Some(&staged()), &SERVED, false), said("staged"));
        assert_eq!(state(Some(&verified()), &SERVED, false), said("verified"));
        assert_eq!(state(Some(&promoted()), &SERVED, false), said("promoted"));
        assert_eq!(state(Some(&published()), &SERVED, false), said("published"));

        let untagged = Seen {
            prod_tag: false,
            ..SERVED
        };
        let (name, detail) = state(Some(&promoted()), &untagged, false);
        assert_eq!(name, "failed:promote");
        assert!(detail.contains("`v1.0.0-prod` is missing"), "{detail}");

        let (name, detail) = state(Some(&failed("the smoke command failed")), &SERVED, false);
        assert_eq!(
            (name.as_str(), detail.as_str()),
            ("failed:verify", "the smoke command failed")
        );
        let (_, detail) = state(
            Some(&failed("`p` on Python 3.12:\nTraceback")),
            &SERVED,
            false,
        );
        assert_eq!(
            detail,
            "`p` on Python 3.12 (the output is in `.git/twostage/v1.0.0/`)"
        );
        let mut silent = failed("x");
        silent.verification.as_mut().unwrap().first.failures = None;
        assert_eq!(
            state(Some(&silent), &SERVED, false).1,
            "see the verification log"
        );

        // Remote truth wins over the note.
        let gone = Seen {
            staging: Some(false),
            ..SERVED
        };
        let (name, detail) = state(Some(&verified()), &gone, false);
        assert_eq!(name, "failed:stage");
        assert_eq!(detail, "staging no longer serves the recorded files");
        assert_eq!(state(None, &gone, false), said("tagged"));
        let lost = Seen {
            production: Some(false),
            ..SERVED
        };
        let (name, detail) = state(Some(&published()), &lost, false);
        assert_eq!(name, "failed:promote");
        assert_eq!(detail, "production does not serve the recorded files");
    }

    #[test]
    fn the_frozen_files_are_looked_for_only_when_nothing_later_is_recorded() {
        let asked = std::cell::Cell::new(false);
        let built = || {
            asked.set(true);
            true
        };
        state_of("v1.0.0", "v1.0.0-prod", Some(&staged()), &SERVED, built);
        assert!(!asked.get());
    }

    #[test]
    fn every_state_prints_as_its_word_and_pads() {
        let all = [
            (State::Tagged, "tagged"),
            (State::Built, "built"),
            (State::Staged, "staged"),
            (State::Verified, "verified"),
            (State::Promoted, "promoted"),
            (State::Published, "published"),
            (State::BeforeTwostage, "before-twostage"),
            (State::Failed(Step::Stage), "failed:stage"),
            (State::Failed(Step::Verify), "failed:verify"),
            (State::Failed(Step::Promote), "failed:promote"),
        ];
        for (state, word) in all {
            assert_eq!(state.as_str(), word);
            assert_eq!(format!("{state:<16}|"), format!("{word:<16}|"));
        }
        let next = |state| next_step(state, "v1", Some(true), "origin", true);
        assert_eq!(next(State::Tagged), "`cargo xtask stage v1`");
        assert_eq!(next(State::Staged), "`cargo xtask verify v1`");
        assert_eq!(next(State::Verified), "`cargo xtask promote v1`");
        assert!(next(State::Promoted).contains("publishes the GitHub release"));
        assert_eq!(next_step(State::Promoted, "v1", None, "origin", false), "");
        assert_eq!(next(State::Published), "");
    }
}
