//! `audit <tag>`: the chain from the tagged commit to the files on production, checked from
//! what anyone can read (the remote's tags and release notes, the indexes' public pages, the
//! public GitHub API), with no credential, so that a package's user can run it against a
//! released project. Each link is reported; any broken one fails the audit (docs/audit.md
//! says what each link proves and what it cannot).

use std::collections::BTreeSet;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use git2::Oid;
use serde_json::json;
use sha2::{Digest, Sha256};
use toml_edit::DocumentMut;

use crate::config::Config;
use crate::core::index::{Index, Indexes, Role};
use crate::core::production;
use crate::core::verdict;
use crate::resources::evidence::{
    self, ArtifactRecord, Attestation, Note, Runs, UploadRun, Verdict, NOTES_REF,
};
use crate::resources::filename::DistFilename;
use crate::resources::forge::{self, Github};
use crate::resources::git::Repo;
use crate::resources::index::{self, Served};
use crate::resources::secrets::redact;

/// Where the remote's notes are fetched to be read, and removed from afterwards: the audit
/// leaves the clone's own notes as they were.
const AUDIT_NOTES_REF: &str = "refs/notes/release-audit";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// Nothing to check (no GitHub repository, no attestations recorded): said, not failed.
    Skip,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
        }
    }
}

/// One link of the chain: its name, what it came to, and what was seen.
#[derive(Debug, Clone)]
pub struct Link {
    pub name: &'static str,
    pub outcome: Outcome,
    pub lines: Vec<String>,
    /// The signature check of the `attestations` link, for `--json` (`signatures`).
    pub signatures: Option<serde_json::Value>,
}

impl Link {
    fn new(name: &'static str) -> Link {
        Link {
            name,
            outcome: Outcome::Pass,
            lines: Vec::new(),
            signatures: None,
        }
    }

    fn skip(name: &'static str, why: impl Into<String>) -> Link {
        Link {
            name,
            outcome: Outcome::Skip,
            lines: vec![why.into()],
            signatures: None,
        }
    }

    fn fail(&mut self, line: impl Into<String>) {
        self.outcome = Outcome::Fail;
        self.lines.push(line.into());
    }

    fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut value =
            json!({ "link": self.name, "result": self.outcome.as_str(), "details": self.lines });
        if let Some(signatures) = &self.signatures {
            value["signatures"] = signatures.clone();
        }
        value
    }
}

/// What the audit is about: the release tag, its production tag, and the commits the remote
/// (or, without one, this clone) says they name.
struct Subject {
    tag: String,
    prod_tag: String,
    version: pep440_rs::Version,
    project: String,
    tag_commit: Option<Oid>,
    prod_commit: Option<Oid>,
    /// Where the tags were read (`origin`, or "this clone").
    tags_from: String,
}

pub fn run(repo: &Repo, config: &Config, tag: &str, json_out: bool) -> Result<()> {
    let (tag, prod_tag) = production::plain_tag(repo, config, tag)?;
    let release = crate::resolved::tagged_release(repo, config, &tag)?;
    let mut subject = Subject {
        tag,
        prod_tag,
        version: release.version.clone(),
        project: release.project.clone().unwrap_or_default(),
        tag_commit: Some(release.commit),
        prod_commit: None,
        tags_from: "this clone".into(),
    };
    let mut links = vec![read_tags(repo, config, &mut subject)];
    let (note, note_link) = read_note(repo, config, &subject);
    links.push(note_link);
    match &note {
        Some(note) => links.extend(check_note(repo, config, &subject, note)),
        None => links.push(Link::skip("files", "no release note: nothing to compare")),
    }
    let broken: Vec<&str> = links
        .iter()
        .filter(|l| l.outcome == Outcome::Fail)
        .map(|l| l.name)
        .collect();
    report(&subject, &links, json_out)?;
    if !broken.is_empty() {
        bail!(
            "the audit of `{}` found broken links: {} (the lines above say what each saw)",
            subject.tag,
            broken.join(", ")
        );
    }
    Ok(())
}

fn check_note(repo: &Repo, config: &Config, subject: &Subject, note: &Note) -> Vec<Link> {
    let artifacts = note.artifacts();
    let indexes = Indexes::new(config);
    let project = if subject.project.is_empty() {
        artifacts
            .first()
            .and_then(|a| DistFilename::parse(&a.filename).map(|n| n.distribution()))
            .unwrap_or_default()
            .to_string()
    } else {
        subject.project.clone()
    };
    vec![
        tags_link(subject, note),
        production_link(&indexes.production, subject, &project, &artifacts),
        staging_link(&indexes.staging, &project, note, &artifacts),
        verification_link(note, &artifacts),
        github_link(repo, config, subject, note, &artifacts),
        attestations_link(
            indexes.production.agent(),
            config,
            crate::core::production::github_repository(repo, config).as_deref(),
            &project,
            note,
            &artifacts,
        ),
    ]
}

/// The commits the tags name, from the remote when there is one (what every other clone
/// fetches; `git ls-remote`, https://git-scm.com/docs/git-ls-remote), else from this clone.
fn read_tags(repo: &Repo, config: &Config, subject: &mut Subject) -> Link {
    let mut link = Link::new("remote");
    let remote = &config.git.remote;
    if repo.remote_url(remote).is_none() {
        subject.prod_commit = repo.tag_commit(&subject.prod_tag);
        link.say(format!(
            "no remote `{remote}`: the tags and notes of this clone are read"
        ));
        return link;
    }
    let patterns: Vec<String> = [&subject.tag, &subject.prod_tag]
        .iter()
        .flat_map(|t| [format!("refs/tags/{t}"), format!("refs/tags/{t}^{{}}")])
        .collect();
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    match repo.ls_remote(remote, &patterns) {
        Ok(refs) => {
            subject.tag_commit = production::remote_commit(&refs, &subject.tag);
            subject.prod_commit = production::remote_commit(&refs, &subject.prod_tag);
            subject.tags_from = format!("`{remote}`");
            link.say(format!("the tags and notes are read from `{remote}`"));
        }
        Err(e) => link.fail(format!("cannot read the tags of `{remote}`: {e:#}")),
    }
    link
}

/// The note on the commit the release tag names, from the remote's `refs/notes/release`
/// (fetched to a ref of its own and removed again), else this clone's.
fn read_note(repo: &Repo, config: &Config, subject: &Subject) -> (Option<Note>, Link) {
    let mut link = Link::new("note");
    let Some(commit) = subject.tag_commit else {
        link.fail(format!(
            "{} has no tag `{}`",
            subject.tags_from, subject.tag
        ));
        return (None, link);
    };
    let text = match remote_note(repo, &config.git.remote, commit) {
        Ok(text) => text,
        Err(e) => {
            link.fail(format!("{e:#}"));
            return (None, link);
        }
    };
    let Some(text) = text else {
        link.fail(format!(
            "there is no release note on {commit}, the commit `{}` names: it was never staged \
             there, or the tag was moved",
            subject.tag
        ));
        return (None, link);
    };
    // A note of several packages: the section of this tag (`[packages.<name>]`).
    let note = match Note::sections(&text) {
        Ok(Some(sections)) => match sections.into_iter().find(|n| n.tag == subject.tag) {
            Some(section) => Ok(section),
            None => {
                link.fail(format!(
                    "the release note on {commit} has no section for `{}`: it was never staged \
                     there, or the tag was moved",
                    subject.tag
                ));
                return (None, link);
            }
        },
        Ok(None) => Note::parse(&text),
        Err(e) => Err(e),
    };
    let note = match note {
        Ok(note) => note,
        Err(e) => {
            // "not valid TOML", or a key of the wrong shape, with its line.
            link.fail(format!("the release note on {commit} is {e:#}"));
            return (None, link);
        }
    };
    if note.tag != subject.tag {
        link.fail(format!(
            "the release note on {commit} is for `{}`, not `{}`",
            note.tag, subject.tag
        ));
        return (None, link);
    }
    link.say(format!("the release note on {commit}"));
    (Some(note), link)
}

fn remote_note(repo: &Repo, remote: &str, commit: Oid) -> Result<Option<String>> {
    if repo.remote_url(remote).is_none() {
        return Ok(repo.note(NOTES_REF, commit));
    }
    let never_pushed = || {
        format!(
            "cannot fetch `{NOTES_REF}` from `{remote}`: the release notes were never pushed there"
        )
    };
    repo.fetch_ref(remote, NOTES_REF, AUDIT_NOTES_REF, true)
        .with_context(never_pushed)?;
    let text = repo.note(AUDIT_NOTES_REF, commit);
    repo.delete_ref(AUDIT_NOTES_REF)?;
    Ok(text)
}

/// The release tag and its `-prod` tag both name the commit the note is the release of.
fn tags_link(subject: &Subject, note: &Note) -> Link {
    let mut link = Link::new("tags");
    let noted = Oid::from_str(&note.commit).ok();
    let Some(noted) = noted else {
        link.fail("the release note names no commit");
        return link;
    };
    let from = &subject.tags_from;
    for (tag, commit) in [
        (&subject.tag, subject.tag_commit),
        (&subject.prod_tag, subject.prod_commit),
    ] {
        match commit {
            Some(c) if c == noted => {
                link.say(format!("{from} has `{tag}` at {c}, the note's commit"))
            }
            Some(c) => link.fail(format!(
                "{from} has `{tag}` at {c}, but the release note is of {noted}: the tag was moved"
            )),
            None => link.fail(format!(
                "{from} has no `{tag}`: the release was not promoted"
            )),
        }
    }
    link
}

/// The files of the release's version an index's page lists.
fn listed_of_version<'a>(
    files: &'a [index::IndexFile],
    version: &pep440_rs::Version,
) -> Vec<&'a index::IndexFile> {
    files
        .iter()
        .filter(|f| {
            f.version()
                .and_then(|v| pep440_rs::Version::from_str(v).ok())
                .is_some_and(|v| v == *version)
        })
        .collect()
}

/// Production serves exactly the note's files of this version, each with its sha256.
fn production_link(
    production: &Index,
    subject: &Subject,
    project: &str,
    artifacts: &[ArtifactRecord],
) -> Link {
    let mut link = Link::new("production");
    let url = redact(production.url());
    let files = match production.listing(project) {
        Ok(Some(listing)) => listing.files,
        Ok(None) => {
            link.fail(format!("production (`{url}`) has no project `{project}`"));
            return link;
        }
        Err(e) => {
            link.fail(format!("cannot read production (`{url}`): {e:#}"));
            return link;
        }
    };
    for a in artifacts {
        match production.served_as(&files, &a.filename, &a.sha256) {
            Ok(Served::Same) => {}
            Ok(Served::Absent) => link.fail(format!("production does not serve `{}`", a.filename)),
            Ok(Served::Other(sha)) => link.fail(format!(
                "production serves `{}` with sha256 {sha}, the note records {}",
                a.filename, a.sha256
            )),
            Err(e) => link.fail(format!("{e:#}")),
        }
    }
    for f in listed_of_version(&files, &subject.version) {
        if !artifacts.iter().any(|a| a.filename == f.filename) {
            link.fail(format!(
                "production serves `{}`, which the release note does not record",
                f.filename
            ));
        }
    }
    if link.outcome == Outcome::Pass {
        link.say(format!(
            "production (`{url}`) serves the {} files of the note, with their sha256, and no other of {}",
            artifacts.len(),
            subject.version
        ));
    }
    link
}

/// Staging served the same files: the note's staging records name every file (a stage
/// records only after staging served each with its sha256), and what staging still lists of
/// them has those sha256. Files staging no longer lists (an index that was cleaned) are said,
/// not failed: the record of what it served stands.
fn staging_link(staging: &Index, project: &str, note: &Note, artifacts: &[ArtifactRecord]) -> Link {
    let mut link = Link::new("staging");
    let runs: Vec<&UploadRun> = note.staging.iter().flat_map(Runs::all).collect();
    let recorded: BTreeSet<String> = runs
        .iter()
        .flat_map(|run| [&run.uploaded, &run.already_present])
        .flatten()
        .flatten()
        .cloned()
        .collect();
    if runs.is_empty() {
        link.fail("the release note records no staging");
        return link;
    }
    for a in artifacts {
        if !recorded.contains(&a.filename) {
            link.fail(format!(
                "the note's staging records do not name `{}`",
                a.filename
            ));
        }
    }
    let url = redact(staging.url());
    let files = match staging.files(project) {
        Ok(files) => files,
        Err(e) => {
            link.say(format!(
                "staging (`{url}`) cannot be read now ({e:#}): the note's record stands"
            ));
            return link;
        }
    };
    let mut gone = 0;
    for a in artifacts {
        match staging.served_as(&files, &a.filename, &a.sha256) {
            Ok(Served::Same) => {}
            Ok(Served::Absent) => gone += 1,
            Ok(Served::Other(sha)) => link.fail(format!(
                "staging now serves `{}` with sha256 {sha}, the note records {}",
                a.filename, a.sha256
            )),
            Err(e) => link.fail(format!("{e:#}")),
        }
    }
    link.say(format!(
        "the note records staging serving all {} files; staging (`{url}`) still serves {} of them with those sha256{}",
        artifacts.len(),
        artifacts.len() - gone,
        if gone > 0 { " (the others were removed from it)" } else { "" }
    ));
    link
}

/// Every file has a passing verification: the latest verification of what staging served
/// vouches for these sha256, and has a cell for every file on every interpreter it ran, none
/// failed, each file installed on at least one.
pub fn verification_link(note: &Note, artifacts: &[ArtifactRecord]) -> Link {
    let mut link = Link::new("verification");
    let Some(section) = Role::Staging.latest(note) else {
        link.fail("the release note records no verification");
        return link;
    };
    if !verdict::verified(Some(section), artifacts) {
        link.fail("the latest verification does not vouch for these files: its verdict, its sha256 set or a failed cell");
    }
    let cells = verdict::cells_of(section);
    let mut pythons: Vec<String> = section.pythons.clone().unwrap_or_default();
    for c in &cells {
        if !pythons.contains(&c.python) {
            pythons.push(c.python.clone());
        }
    }
    for a in artifacts {
        let mine: Vec<&verdict::NotedCell> =
            cells.iter().filter(|c| c.filename == a.filename).collect();
        for python in &pythons {
            match mine.iter().find(|c| &c.python == python) {
                None => link.fail(format!(
                    "no verification cell for `{}` on Python {python}",
                    a.filename
                )),
                Some(c) if c.result == Some(Verdict::Failed) => link.fail(format!(
                    "`{}` failed its verification on Python {python}",
                    a.filename
                )),
                Some(_) => {}
            }
        }
        if !mine.iter().any(|c| c.result == Some(Verdict::Verified)) {
            link.fail(format!("`{}` was verified on no interpreter", a.filename));
        }
    }
    if link.outcome == Outcome::Pass {
        link.say(format!(
            "{} files verified on Python {}",
            artifacts.len(),
            pythons.join(", ")
        ));
    }
    link
}

/// The GitHub release, read without a token: its assets are the note's files with their
/// sha256, its `SHA256SUMS` lists exactly them, its release note lists the same artifacts.
fn github_link(
    repo: &Repo,
    config: &Config,
    subject: &Subject,
    note: &Note,
    artifacts: &[ArtifactRecord],
) -> Link {
    let mut link = Link::new("github");
    let Some(repository) = crate::core::production::github_repository(repo, config) else {
        return Link::skip("github", "no GitHub repository (`github.repository`, or a remote on github.com): no release to check");
    };
    let github = Github::anonymous(&config.github.api_url, &repository);
    let release = match github.published_release(&subject.tag) {
        Ok(Some(release)) => release,
        Ok(None) if note.github.is_none() => {
            return Link::skip(
                "github",
                format!(
                    "`{repository}` has no release for `{}`, and the note records none",
                    subject.tag
                ),
            );
        }
        Ok(None) => {
            link.fail(format!(
                "`{repository}` has no published release for `{}`, which the note records",
                subject.tag
            ));
            return link;
        }
        Err(e) => {
            link.fail(format!("{e:#}"));
            return link;
        }
    };
    for problem in release_problems(&github, &release, artifacts) {
        link.fail(problem);
    }
    if link.outcome == Outcome::Pass {
        link.say(format!(
            "{} attaches the {} files with their sha256 and a `SHA256SUMS` that lists them",
            release.html_url,
            artifacts.len()
        ));
    }
    link.say(if release.immutable {
        "the release is immutable: GitHub locked its assets and tag when it was published"
            .to_string()
    } else {
        "the release is not immutable: its assets could have been changed since".to_string()
    });
    link
}

fn release_problems(
    github: &Github,
    release: &forge::GithubRelease,
    artifacts: &[ArtifactRecord],
) -> Vec<String> {
    let mut problems = Vec::new();
    let asset_bytes = |name: &str| -> Result<Option<Vec<u8>>> {
        match release.assets.iter().find(|a| a.name == name) {
            Some(asset) => github.download_asset(asset).map(Some),
            None => Ok(None),
        }
    };
    for a in artifacts {
        let Some(asset) = release.assets.iter().find(|x| x.name == a.filename) else {
            problems.push(format!("the release has no asset `{}`", a.filename));
            continue;
        };
        let sha256 = match &asset.digest {
            Some(digest) => Ok(digest.trim_start_matches("sha256:").to_string()),
            None => github
                .download_asset(asset)
                .map(|bytes| crate::resources::dist::hex(&Sha256::digest(&bytes))),
        };
        match sha256 {
            Ok(sha) if sha == a.sha256 => {}
            Ok(sha) => problems.push(format!(
                "the release's `{}` has sha256 {sha}, the note records {}",
                a.filename, a.sha256
            )),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    match asset_bytes("SHA256SUMS") {
        Ok(Some(bytes)) if bytes == production::sha256sums(artifacts).as_bytes() => {}
        Ok(Some(_)) => problems.push(
            "the release's `SHA256SUMS` does not list exactly the note's files and sha256".into(),
        ),
        Ok(None) => problems.push("the release has no asset `SHA256SUMS`".into()),
        Err(e) => problems.push(format!("{e:#}")),
    }
    match asset_bytes(production::NOTE_ASSET) {
        Ok(Some(bytes)) => {
            let doc: Option<DocumentMut> =
                String::from_utf8(bytes).ok().and_then(|t| t.parse().ok());
            if !doc.is_some_and(|d| evidence::artifacts_of(&d) == artifacts) {
                problems.push(format!(
                    "the release's `{}` does not record the note's files",
                    production::NOTE_ASSET
                ));
            }
        }
        Ok(None) => {}
        Err(e) => problems.push(format!("{e:#}")),
    }
    for asset in &release.assets {
        let known = asset.name == "SHA256SUMS"
            || asset.name == production::NOTE_ASSET
            || artifacts.iter().any(|a| {
                asset.name == a.filename
                    || asset.name == format!("{}{}", a.filename, production::ATTESTATION_SUFFIX)
            });
        if !known {
            problems.push(format!(
                "the release has an asset the note does not record: `{}`",
                asset.name
            ));
        }
    }
    problems
}

/// Where attestations were made (the note's production records say `attestations = "made"`,
/// docs/provenance.md): production serves provenance for each file the note records as
/// attested, and one of its attestations has that file's name and sha256 as its subject. A
/// file recorded as not attested is said, not failed. Then each one's signatures are checked
/// against `repository`'s trusted publisher where a verifier is installed
/// (`check_signatures`).
pub fn attestations_link(
    agent: &ureq::Agent,
    config: &Config,
    repository: Option<&str>,
    project: &str,
    note: &Note,
    artifacts: &[ArtifactRecord],
) -> Link {
    let recorded = Attested::recorded(note);
    let Some(attested) = recorded.attested else {
        let why = match recorded.kind {
            Some(kind) => format!("production's uploads recorded `attestations = \"{kind}\"`"),
            None => "no attestations recorded".to_string(),
        };
        return Link::skip("attestations", why);
    };
    let mut link = Link::new("attestations");
    let listing = index::project_files(agent, &config.production.index_url, project)
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut ours = Vec::new();
    for artifact in artifacts {
        if !attested.contains(&artifact.filename) {
            link.say(format!(
                "`{}` is recorded as not attested (already on production)",
                artifact.filename
            ));
            continue;
        }
        let found = crate::resources::attest::provenance_of(
            agent,
            &config.production.index_url,
            project,
            &listing,
            artifact,
        );
        match found {
            Ok(crate::resources::attest::Provenance::Ours) => ours.push(artifact),
            Ok(crate::resources::attest::Provenance::Absent) => link.fail(format!(
                "production serves no provenance for `{}`, which the note records as attested",
                artifact.filename
            )),
            Ok(crate::resources::attest::Provenance::Other) => link.fail(format!(
                "production's provenance for `{}` attests other bytes (no subject is its name \
                 and sha256 {})",
                artifact.filename, artifact.sha256
            )),
            Err(e) => link.fail(format!("{e:#}")),
        }
    }
    if link.outcome == Outcome::Pass {
        link.say(format!(
            "production serves provenance for the {} attested file(s), each naming its bytes",
            attested.len()
        ));
    }
    let files = Files {
        agent,
        index_url: &config.production.index_url,
        project,
        listing: &listing,
    };
    check_signatures(&files, repository, &ours, &mut link);
    link
}

/// Production's files and pages, for the signature check.
struct Files<'a> {
    agent: &'a ureq::Agent,
    index_url: &'a str,
    project: &'a str,
    listing: &'a [index::IndexFile],
}

/// Each file of `attested` checked by the verifier (`attest::verifier`: by default
/// `pypi-attestations verify pypi`) against the trusted publisher `https://github.com/
/// <repository>`, on the bytes and the provenance production serves. No verifier, or no
/// repository to name the publisher, is said (`signatures not checked`), not failed; a file
/// the verifier refuses fails the link, named.
fn check_signatures(
    files: &Files,
    repository: Option<&str>,
    attested: &[&ArtifactRecord],
    link: &mut Link,
) {
    if attested.is_empty() {
        return;
    }
    let not_checked = |link: &mut Link, why: &str| {
        link.say(format!("signatures not checked ({why})"));
        link.signatures = Some(json!({"checked": false, "why": why}));
    };
    let command = match crate::resources::attest::verifier() {
        Ok(Some(command)) => command,
        Ok(None) => return not_checked(link, "pypi-attestations not installed"),
        Err(e) => return link.fail(format!("{e:#}")),
    };
    let Some(repository) = repository else {
        return not_checked(
            link,
            "no GitHub repository to name the trusted publisher: set `github.repository`",
        );
    };
    let publisher = format!("https://github.com/{repository}");
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return link.fail(format!("cannot make a temporary folder: {e}")),
    };
    let mut outcomes = serde_json::Map::new();
    for artifact in attested {
        let outcome = verify_one(files, artifact, &command, &publisher, dir.path());
        let verdict = if let Err(why) = outcome {
            link.fail(format!(
                "`{}`: its attestation does not verify against the trusted publisher \
                 {publisher}: {why}",
                artifact.filename
            ));
            "failed"
        } else {
            "verified"
        };
        outcomes.insert(artifact.filename.clone(), verdict.into());
    }
    if link.outcome == Outcome::Pass {
        link.say(format!(
            "the signatures of the {} attested file(s) verify against the trusted publisher \
             {publisher} (`{}`)",
            attested.len(),
            command.join(" ")
        ));
    }
    link.signatures = Some(json!({
        "checked": true,
        "publisher": publisher,
        "verifier": command,
        "files": outcomes,
    }));
}

/// Downloads `artifact` and its provenance from production into `dir` and runs the verifier
/// on them; `Err` says why it does not verify.
fn verify_one(
    files: &Files,
    artifact: &ArtifactRecord,
    command: &[String],
    publisher: &str,
    dir: &std::path::Path,
) -> std::result::Result<(), String> {
    let url = files
        .listing
        .iter()
        .find(|f| f.filename == artifact.filename)
        .map(|f| f.url.clone())
        .ok_or("production does not list it")?;
    let file = dir.join(&artifact.filename);
    let refused = index::download(files.agent, &url, &file, artifact.size, &artifact.sha256)
        .map_err(|e| format!("{e:#}"))?;
    if let Some(why) = refused {
        return Err(why);
    }
    let provenance = crate::resources::attest::provenance_url(
        files.index_url,
        files.project,
        files.listing,
        &artifact.filename,
    )
    .and_then(|url| crate::resources::attest::provenance_document(files.agent, &url))
    .map_err(|e| format!("{e:#}"))?
    .ok_or("production serves no provenance for it")?;
    let path = dir.join(format!("{}.provenance.json", artifact.filename));
    std::fs::write(&path, provenance.to_string())
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    crate::resources::attest::verify(command, publisher, &path, &file)
}

/// What the note's production records say of attestations.
#[derive(Debug, Default, PartialEq)]
struct Attested {
    /// The last `attestations` value recorded.
    kind: Option<String>,
    /// Every file recorded as attested, when some run made attestations.
    attested: Option<BTreeSet<String>>,
}

impl Attested {
    fn recorded(note: &Note) -> Attested {
        let mut found = Attested::default();
        for run in note.production.iter().flat_map(Runs::all) {
            let Some(kind) = run.attestations else {
                continue;
            };
            found.kind = Some(kind.as_str().to_string());
            if kind == Attestation::Made {
                let names = run.attested.iter().flatten().cloned();
                found
                    .attested
                    .get_or_insert_with(BTreeSet::new)
                    .extend(names);
            }
        }
        found
    }
}

fn report(subject: &Subject, links: &[Link], json_out: bool) -> Result<()> {
    let ok = links.iter().all(|l| l.outcome != Outcome::Fail);
    if json_out {
        let value = json!({
            "tag": subject.tag,
            "prod_tag": subject.prod_tag,
            "commit": subject.tag_commit.map(|c| c.to_string()),
            "ok": ok,
            "links": links.iter().map(Link::to_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("audit of {}", crate::output::visible(&subject.tag));
    for link in links {
        let mark = match link.outcome {
            Outcome::Pass => "ok  ",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "skip",
        };
        let mut lines = link.lines.iter();
        let first = lines.next().map(String::as_str).unwrap_or_default();
        println!(
            "  {mark}  {:<13} {}",
            link.name,
            crate::output::visible(first)
        );
        for line in lines {
            println!("        {:<13} {}", "", crate::output::visible(line));
        }
    }
    println!(
        "{}",
        if ok {
            "every link holds"
        } else {
            "the chain is broken"
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(text: &str) -> Note {
        Note::parse(text).unwrap()
    }

    #[test]
    fn the_attestations_recorded_are_every_production_run_that_made_them() {
        assert_eq!(
            Attested::recorded(&note("tag = \"v1.0.0\"\n")),
            Attested::default()
        );
        let token = note("[production]\nattestations = \"api-token\"\n");
        assert_eq!(
            Attested::recorded(&token).kind.as_deref(),
            Some("api-token")
        );
        assert_eq!(Attested::recorded(&token).attested, None);
        let made = note(
            "[production]\nattestations = \"made\"\nattested = [\"a.whl\"]\n\
             [[production.runs]]\nattestations = \"made\"\nattested = [\"b.tar.gz\"]\n",
        );
        let names: BTreeSet<String> = ["a.whl", "b.tar.gz"].map(String::from).into();
        assert_eq!(Attested::recorded(&made).attested, Some(names));
    }

    #[test]
    fn a_missing_verification_cell_breaks_the_link() {
        let cells = "result = \"verified\"\nverified-sha256 = [\"aa\", \"bb\"]\npythons = [\"3.12.1\"]\n\
            [[verification.artifacts]]\nfilename = \"p-1.0.0.tar.gz\"\npython = \"3.12.1\"\nresult = \"verified\"\n";
        let full = format!(
            "[verification]\n{}\
             [[verification.artifacts]]\nfilename = \"p-1.0.0-py3-none-any.whl\"\npython = \"3.12.1\"\nresult = \"verified\"\n",
            cells
        );
        let files = [
            ArtifactRecord::sample("p-1.0.0.tar.gz", "aa"),
            ArtifactRecord::sample("p-1.0.0-py3-none-any.whl", "bb"),
        ];
        assert_eq!(
            verification_link(&note(&full), &files).outcome,
            Outcome::Pass
        );
        let cut = format!("[verification]\n{cells}");
        let link = verification_link(&note(&cut), &files);
        assert_eq!(link.outcome, Outcome::Fail);
        assert!(
            link.lines.iter().any(|l| l
                .contains("no verification cell for `p-1.0.0-py3-none-any.whl` on Python 3.12.1")),
            "{:?}",
            link.lines
        );
    }
}
