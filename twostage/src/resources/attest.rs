//! PEP 740 attestations (https://peps.python.org/pep-0740/): signing a file with a signer
//! command, checking what it signed, and reading back the provenance an index serves.
//!
//! The signer (by default `pypi-attestations sign`, https://github.com/pypi/pypi-attestations)
//! writes `<file>.publish.attestation` beside the file: an `Attestation` object whose
//! `envelope.statement` is an in-toto v1 statement
//! (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md) naming the file
//! and its sha256 as its one subject. The upload carries the attestations as a JSON array in
//! the legacy API's `attestations` field (https://docs.pypi.org/api/upload/); the index then
//! serves them as provenance: the PEP 691 file entry's `provenance` URL, or the integrity API
//! `<index host>/integrity/<project>/<version>/<file>/provenance`
//! (https://docs.pypi.org/api/integrity/). Which files to sign, and when, is the stages'
//! business.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use crate::resources::dist::normalize_name;
use crate::resources::evidence::ArtifactRecord;
use crate::resources::secrets::{redact, redact_secrets};

/// The signer used when `attest-command` is not set.
pub const DEFAULT_SIGNER: [&str; 2] = ["pypi-attestations", "sign"];

/// What the signer may see of the environment's credentials: the CI identity it signs as
/// (GitHub Actions' OIDC token request, or an identity token given to Sigstore directly).
const SIGNER_IDENTITY: [&str; 3] = [
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "SIGSTORE_ID_TOKEN",
];

/// The verifier used when `TWOSTAGE_ATTESTATION_VERIFIER` is not set: pypi-attestations'
/// check of a file against its provenance and a trusted publisher, run as `<command…>
/// --repository <https://github.com/OWNER/REPO> --provenance-file <provenance.json> <file>`
/// (https://github.com/pypi/pypi-attestations, `_cli.py`'s `verify pypi`; the provenance is
/// given as a file because it is read from the configured production index, not pypi.org).
pub const DEFAULT_VERIFIER: [&str; 3] = ["pypi-attestations", "verify", "pypi"];

/// Names another verifier (a TOML array of strings, or one program). An environment variable
/// and not a key of `[tool.twostage]`: the one who audits chooses it, never the repository
/// audited, whose configuration could name a verifier that passes anything.
pub const VERIFIER_ENV: &str = "TWOSTAGE_ATTESTATION_VERIFIER";

/// The verifier to run: `TWOSTAGE_ATTESTATION_VERIFIER`, else `pypi-attestations verify pypi`
/// when `pypi-attestations` is on PATH, else none (`Ok(None)`).
pub fn verifier() -> Result<Option<Vec<String>>> {
    let Ok(raw) = std::env::var(VERIFIER_ENV) else {
        let found = crate::resources::pyenv::runnable(DEFAULT_VERIFIER[0]);
        return Ok(found.then(|| DEFAULT_VERIFIER.map(String::from).into()));
    };
    let command: Vec<String> = if raw.trim_start().starts_with('[') {
        let value: toml_edit::Value = raw
            .parse()
            .with_context(|| format!("`{VERIFIER_ENV}` is not a TOML array of strings"))?;
        let array = value.as_array().context("not an array")?;
        array
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .with_context(|| format!("`{VERIFIER_ENV}` must be an array of strings"))?
    } else {
        vec![raw]
    };
    if command.first().is_none_or(|p| p.trim().is_empty()) {
        bail!("`{VERIFIER_ENV}` names no program");
    }
    Ok(Some(command))
}

/// Runs `command` on `file` (the bytes production serves) with its `provenance` (as the index
/// serves it) and the trusted publisher `repository_url`, in the secret-free environment
/// (docs/trust.md); `Err` holds what it said when it refused (its last line).
pub fn verify(
    command: &[String],
    repository_url: &str,
    provenance: &Path,
    file: &Path,
) -> std::result::Result<(), String> {
    let (program, args) = command.split_first().ok_or("no verifier")?;
    let mut verifier = Command::new(program);
    verifier
        .args(args)
        .args(["--repository", repository_url, "--provenance-file"])
        .arg(provenance)
        .arg(file);
    crate::resources::secrets::scrub(&mut verifier);
    let output = verifier
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(crate::resources::cache::last_line(
        &output.stderr,
        output.status,
    ))
}

/// Warehouse takes at most one attestation per predicate, and knows two predicates.
const MAX_PER_FILE: usize = 2;

const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// Signs `file` (the frozen bytes of `artifact`) with `command` in `dir`, a folder of this
/// index's own: the file is linked there afresh, since the signer refuses to overwrite an
/// attestation. Returns the attestations, as the JSON array the upload carries, once each
/// one's subject is checked against the frozen record.
pub fn sign(
    command: &[String],
    dir: &Path,
    file: &Path,
    artifact: &ArtifactRecord,
) -> Result<String> {
    let (program, args) = command.split_first().context("`attest-command` is empty")?;
    let copy = fresh_copy(dir, file, &artifact.filename)?;
    let mut signer = Command::new(program);
    signer.args(args).arg(&copy);
    // Code we did not write gets no credential (docs/trust.md), except the CI identity it
    // signs with: Sigstore's ambient credential is the job's OIDC token
    // (https://github.com/sigstore/sigstore-python, `sigstore.oidc.detect_credential`).
    crate::resources::secrets::scrub(&mut signer);
    for name in SIGNER_IDENTITY {
        if let Some(value) = std::env::var_os(name) {
            signer.env(name, value);
        }
    }
    let output = signer
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| {
            format!("cannot run the attestation signer `{program}`: install it, or set `attest-command`")
        })?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = redact_secrets(said.trim());
        bail!(
            "the attestation signer `{}` failed on `{}` ({}):\n{said}",
            command.join(" "),
            artifact.filename,
            output.status
        );
    }
    let written = written(dir, &artifact.filename)?;
    if written.is_empty() {
        bail!(
            "the attestation signer `{}` wrote no `{}.publish.attestation`",
            command.join(" "),
            artifact.filename
        );
    }
    let mut attestations = Vec::new();
    let mut predicates = Vec::new();
    for path in written {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        let attestation: Value = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not JSON", path.display()))?;
        let predicate = check(&attestation, artifact)
            .with_context(|| format!("`{}` does not attest our file", path.display()))?;
        if predicates.contains(&predicate) {
            bail!(
                "two attestations of `{}` for predicate `{predicate}`: an index takes one",
                artifact.filename
            );
        }
        predicates.push(predicate);
        attestations.push(attestation);
    }
    if attestations.len() > MAX_PER_FILE {
        bail!(
            "{} attestations of `{}`: an index takes at most {MAX_PER_FILE}",
            attestations.len(),
            artifact.filename
        );
    }
    Ok(Value::Array(attestations).to_string())
}

/// `dir/<filename>`, linked (or copied) from `file`, with no attestation beside it yet.
fn fresh_copy(dir: &Path, file: &Path, filename: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    for old in written(dir, filename)? {
        std::fs::remove_file(&old).with_context(|| format!("cannot remove `{}`", old.display()))?;
    }
    let copy = dir.join(filename);
    let _ = std::fs::remove_file(&copy);
    if std::fs::hard_link(file, &copy).is_err() {
        std::fs::copy(file, &copy)
            .with_context(|| format!("cannot copy `{}` to `{}`", file.display(), dir.display()))?;
    }
    Ok(copy)
}

/// The `<filename>.<kind>.attestation` files in `dir` (uv's naming for what it uploads).
fn written(dir: &Path, filename: &str) -> Result<Vec<PathBuf>> {
    let prefix = format!("{filename}.");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&prefix) && n.ends_with(".attestation") && n.len() > prefix.len() + 12
            })
        })
        .collect();
    found.sort();
    Ok(found)
}

/// The in-toto statement inside an attestation object.
pub fn statement(attestation: &Value) -> Result<Value> {
    if attestation.get("version").and_then(Value::as_u64) != Some(1) {
        bail!("not a version 1 attestation object");
    }
    let encoded = attestation
        .pointer("/envelope/statement")
        .and_then(Value::as_str)
        .context("no `envelope.statement`")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .context("`envelope.statement` is not Base64")?;
    let statement: Value =
        serde_json::from_slice(&bytes).context("`envelope.statement` is not JSON")?;
    if statement.get("_type").and_then(Value::as_str) != Some(STATEMENT_TYPE) {
        bail!("the statement is not an in-toto v1 statement (`_type` {STATEMENT_TYPE})");
    }
    Ok(statement)
}

/// The statement's one subject (name, sha256).
pub fn subject(attestation: &Value) -> Result<(String, String)> {
    let statement = statement(attestation)?;
    let subjects = statement
        .get("subject")
        .and_then(Value::as_array)
        .context("the statement has no `subject` list")?;
    let [subject] = subjects.as_slice() else {
        bail!("the statement names {} subjects, not one", subjects.len());
    };
    let name = subject
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let sha256 = subject
        .pointer("/digest/sha256")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok((name.to_string(), sha256.to_ascii_lowercase()))
}

/// Checks that the attestation's one subject is the frozen file; returns its predicate type.
fn check(attestation: &Value, artifact: &ArtifactRecord) -> Result<String> {
    let (name, sha256) = subject(attestation)?;
    if name != artifact.filename || sha256 != artifact.sha256 {
        bail!(
            "its subject is `{name}` with sha256 {sha256}, but the frozen file is `{}` with \
             sha256 {}: the signer signed other bytes; nothing was uploaded",
            artifact.filename,
            artifact.sha256
        );
    }
    let predicate = statement(attestation)?
        .get("predicateType")
        .and_then(Value::as_str)
        .context("the statement has no `predicateType`")?
        .to_string();
    Ok(predicate)
}

/// What an index says of a file's provenance.
#[derive(Debug, PartialEq, Eq)]
pub enum Provenance {
    /// An attestation whose subject is this file.
    Ours,
    /// None at all (404, or no attestation for the file).
    Absent,
    /// Attestations, none of them for this file's name and sha256.
    Other,
}

/// The integrity API's provenance URL of a file: `<index_url's origin>/integrity/<project>/
/// <version>/<filename>/provenance`.
pub fn integrity_url(index_url: &str, project: &str, filename: &str) -> Result<String> {
    let origin = crate::resources::oidc::origin(index_url)?;
    let version = crate::resources::index::filename_version(filename)
        .with_context(|| format!("`{filename}` names no version"))?;
    Ok(format!(
        "{origin}/integrity/{}/{version}/{filename}/provenance",
        normalize_name(project)
    ))
}

/// Where `index_url` serves `artifact`'s provenance: the URL its project page gives
/// (`listing`, PEP 740), else the integrity API.
pub fn provenance_url(
    index_url: &str,
    project: &str,
    listing: &[crate::resources::index::IndexFile],
    filename: &str,
) -> Result<String> {
    let listed = listing
        .iter()
        .find(|f| f.filename == filename)
        .and_then(|f| f.provenance.clone());
    match listed {
        Some(url) => Ok(url),
        None => integrity_url(index_url, project, filename),
    }
}

/// What `index_url` serves as `artifact`'s provenance (see [`provenance_url`]).
pub fn provenance_of(
    agent: &ureq::Agent,
    index_url: &str,
    project: &str,
    listing: &[crate::resources::index::IndexFile],
    artifact: &ArtifactRecord,
) -> Result<Provenance> {
    let url = provenance_url(index_url, project, listing, &artifact.filename)?;
    provenance(agent, &url, artifact)
}

/// A provenance object as an index serves it (PEP 740,
/// https://peps.python.org/pep-0740/#provenance-objects; https://docs.pypi.org/api/integrity/):
/// its attestation bundles, each with its attestations (read by `subject`). Other fields
/// (`version`, each bundle's `publisher`) are not needed here and ignored; a bundle that
/// cannot be read is skipped.
#[derive(Debug, Default, Deserialize)]
struct ProvenanceDocument {
    #[serde(default, deserialize_with = "crate::resources::json::readable")]
    attestation_bundles: Vec<AttestationBundle>,
}

#[derive(Debug, Deserialize)]
struct AttestationBundle {
    #[serde(deserialize_with = "crate::resources::json::readable")]
    attestations: Vec<Value>,
}

/// Reads the provenance at `url` and looks for an attestation of `artifact`.
pub fn provenance(agent: &ureq::Agent, url: &str, artifact: &ArtifactRecord) -> Result<Provenance> {
    let Some(document) = provenance_document(agent, url)? else {
        return Ok(Provenance::Absent);
    };
    let document: ProvenanceDocument = serde_json::from_value(document).unwrap_or_default();
    Ok(judge(&document, artifact))
}

/// Whether a provenance document attests `artifact`: one of its attestations has the file's
/// name and sha256 as its subject.
fn judge(document: &ProvenanceDocument, artifact: &ArtifactRecord) -> Provenance {
    let attestations: Vec<&Value> = document
        .attestation_bundles
        .iter()
        .flat_map(|bundle| &bundle.attestations)
        .collect();
    if attestations.is_empty() {
        return Provenance::Absent;
    }
    let ours = attestations.iter().any(|a| {
        subject(a).is_ok_and(|(name, sha)| name == artifact.filename && sha == artifact.sha256)
    });
    if ours {
        Provenance::Ours
    } else {
        Provenance::Other
    }
}

/// The provenance document at `url` (PEP 740's `Provenance` object), `None` on a 404.
pub fn provenance_document(agent: &ureq::Agent, url: &str) -> Result<Option<Value>> {
    let mut response = agent
        .get(url)
        .header(
            "Accept",
            "application/vnd.pypi.integrity.v1+json, application/json;q=0.5",
        )
        .call()
        .map_err(|e| {
            anyhow::anyhow!("cannot read `{}`: {}", redact(url), redact(&e.to_string()))
        })?;
    let status = response.status().as_u16();
    if status == 404 {
        return Ok(None);
    }
    if status != 200 {
        bail!("`{}` answered HTTP {status}", redact(url));
    }
    Ok(Some(
        crate::resources::json::read(&mut response).unwrap_or(Value::Null),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attestation(name: &str, sha256: &str) -> Value {
        let statement = json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": name, "digest": {"sha256": sha256}}],
            "predicateType": "https://docs.pypi.org/attestations/publish/v1",
            "predicate": null,
        });
        let encoded = base64::engine::general_purpose::STANDARD.encode(statement.to_string());
        json!({"version": 1, "verification_material": {}, "envelope": {"statement": encoded, "signature": ""}})
    }

    #[test]
    fn the_subject_must_be_the_frozen_file() {
        let ours = ArtifactRecord {
            filename: "pkg-1.0.tar.gz".into(),
            size: 1,
            sha256: "ab".repeat(32),
            blake2_256: "00".into(),
        };
        let good = attestation("pkg-1.0.tar.gz", &"AB".repeat(32));
        assert_eq!(
            check(&good, &ours).unwrap(),
            "https://docs.pypi.org/attestations/publish/v1"
        );
        let other_bytes = attestation("pkg-1.0.tar.gz", &"cd".repeat(32));
        let err = check(&other_bytes, &ours).unwrap_err().to_string();
        assert!(err.contains("signed other bytes"), "{err}");
        assert!(check(&attestation("pkg-1.1.tar.gz", &"ab".repeat(32)), &ours).is_err());
        assert!(check(&json!({"version": 2}), &ours).is_err());
    }

    #[test]
    fn provenance_documents_are_read_bundle_by_bundle() {
        let ours = ArtifactRecord {
            filename: "pkg-1.0.tar.gz".into(),
            size: 1,
            sha256: "ab".repeat(32),
            blake2_256: "00".into(),
        };
        let document = |bundles: Value| -> ProvenanceDocument {
            serde_json::from_value(json!({"version": 1, "attestation_bundles": bundles})).unwrap()
        };
        let publisher = json!({"kind": "GitHub", "repository": "o/r"});
        let mine = attestation("pkg-1.0.tar.gz", &"ab".repeat(32));
        let other = attestation("pkg-1.0.tar.gz", &"cd".repeat(32));
        // A bundle that cannot be read (no `attestations` list) is skipped, not fatal.
        let found = document(json!([
            {"publisher": publisher},
            {"publisher": publisher, "attestations": [other, mine]},
        ]));
        assert_eq!(judge(&found, &ours), Provenance::Ours);
        let others = document(json!([{"publisher": publisher, "attestations": [other]}]));
        assert_eq!(judge(&others, &ours), Provenance::Other);
        assert_eq!(judge(&document(json!([])), &ours), Provenance::Absent);
        assert_eq!(judge(&document(json!("x")), &ours), Provenance::Absent);
        assert_eq!(
            judge(&ProvenanceDocument::default(), &ours),
            Provenance::Absent
        );
    }

    #[test]
    fn integrity_urls_are_on_the_index_host() {
        assert_eq!(
            integrity_url(
                "https://pypi.org/simple/",
                "My_Pkg",
                "my_pkg-1.0-py3-none-any.whl"
            )
            .unwrap(),
            "https://pypi.org/integrity/my-pkg/1.0/my_pkg-1.0-py3-none-any.whl/provenance"
        );
    }
}
