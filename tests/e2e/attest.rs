//! PEP 740 attestations and burned tokens under trusted publishing: `stage` and `promote` as a
//! CI job with an OIDC identity runs them, against index stand-ins that take attestations as
//! Warehouse's legacy upload does (in front of pypiserver for staging, devpi for production),
//! the OIDC stand-in that mints and burns tokens, and a test signer that writes structurally
//! valid attestations. Every outcome is read on the stand-ins' side and in the release note.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::common::*;
use serde_json::{json, Value};
use testbed::{AttestIndex, OidcStandin};

const REQUEST_TOKEN: &str = "actions-request-SENTINEL-a7e1";
const JWT: &str = "eyJ-oidc-SENTINEL-jwt-attest";
/// What the OIDC stand-in mints, numbered `-1`, `-2`, … (a new token each time); the index
/// stand-ins take a password that starts so as a trusted-publishing token.
const MINTED: &str = "pypi-MINTED-SENTINEL-4b2e";

struct Bed {
    oidc: OidcStandin,
    staging: AttestIndex,
    production: AttestIndex,
    signer: Vec<String>,
    signed: PathBuf,
}

fn basic(username: &str, password: &str) -> String {
    let pair = format!("{username}:{password}");
    format!(
        "Basic {}",
        twostage::resources::credentials::base64(pair.as_bytes())
    )
}

fn bed(s: &Scratch) -> Bed {
    let ix = indexes();
    let oidc = OidcStandin::start(
        &s.dir.join("oidc"),
        &json!({
            "audience": "pypi",
            "request_token": REQUEST_TOKEN,
            "jwt": JWT,
            "minted": MINTED,
            "numbered": true,
            "expires_in": 900,
        }),
    )
    .unwrap();
    let staging = AttestIndex::start(
        &s.dir.join("staging-index"),
        &ix.pypi.upload_url(),
        &basic("__token__", SENTINEL),
        MINTED,
    )
    .unwrap();
    let production = AttestIndex::start(
        &s.dir.join("production-index"),
        &ix.devpi.url,
        &basic(&ix.devpi.username, SENTINEL),
        MINTED,
    )
    .unwrap();
    Bed {
        oidc,
        staging,
        production,
        signer: testbed::test_signer(&s.dir.join("signer")).unwrap(),
        signed: s.dir.join("signed.log"),
    }
}

/// The production index's URLs through its stand-in: devpi's paths on the stand-in's host.
fn production_urls(bed: &Bed) -> (String, String) {
    let ix = indexes();
    let through = |url: &str| url.replace(&ix.devpi.url, &bed.production.url);
    (
        through(&ix.devpi_index.upload_url),
        through(&ix.devpi_index.index_url),
    )
}

/// `twostage <args>` as a GitHub Actions job with `id-token: write` and no stored token.
fn in_ci(s: &Scratch, bed: &Bed, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let signer = Value::from(bed.signer.clone()).to_string();
    let (production_upload, production_index) = production_urls(bed);
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/token?api-version=2.0", bed.oidc.url),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
        .env(
            "TWOSTAGE_STAGING_UPLOAD_URL",
            format!("{}/", bed.staging.url),
        )
        .env(
            "TWOSTAGE_STAGING_INDEX_URL",
            format!("{}/simple/", bed.staging.url),
        )
        .env("TWOSTAGE_STAGING_OIDC_URL", &bed.oidc.url)
        .env("TWOSTAGE_STAGING_ATTEST_COMMAND", &signer)
        .env("TWOSTAGE_PRODUCTION_UPLOAD_URL", production_upload)
        .env("TWOSTAGE_PRODUCTION_INDEX_URL", production_index)
        .env("TWOSTAGE_PRODUCTION_OIDC_URL", &bed.oidc.url)
        .env("TWOSTAGE_PRODUCTION_ATTEST_COMMAND", &signer)
        .env("TEST_SIGNER_LOG", &bed.signed);
    for (k, v) in extra {
        command.env(k, v);
    }
    let run = Run::from(command.output().unwrap());
    for secret in [REQUEST_TOKEN, JWT, MINTED] {
        run.assert_not_shown(secret);
    }
    run
}

fn released(name: &str) -> (Scratch, Bed) {
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.twostage(&["release", "patch"]).success();
    let bed = bed(&s);
    (s, bed)
}

/// The first 16 hex digits of a token's sha256, as the OIDC stand-in logs tokens.
fn token_digest(token: &str) -> String {
    sha256_hex(token.as_bytes())[..16].to_string()
}

/// The tokens the OIDC stand-in minted and those it was asked to burn, as digests, sorted.
fn minted_and_burned(oidc: &OidcStandin) -> (Vec<String>, Vec<String>) {
    let requests = oidc.requests().unwrap();
    let of = |endpoint: &str| {
        let mut found: Vec<String> = requests
            .iter()
            .filter(|r| r["endpoint"] == endpoint)
            .filter_map(|r| r["token_sha256"].as_str().map(str::to_string))
            .collect();
        found.sort();
        found
    };
    (of("mint"), of("burn"))
}

/// Each file went up once to `index`, under trusted publishing, with one attestation whose
/// subject is the frozen file; the stored attestation is one `pypi-attestations` can read.
fn assert_attested_once(index: &AttestIndex, frozen: &BTreeMap<String, String>) {
    let uploads = index.uploads();
    assert_eq!(uploads.len(), frozen.len(), "{uploads:#?}");
    for upload in &uploads {
        let name = upload["upload"].as_str().unwrap();
        assert_eq!(upload["status"], 200, "{upload}");
        assert_eq!(upload["trusted"], true, "{upload}");
        assert_eq!(
            upload["attestations"],
            json!([[{"name": name, "digest": {"sha256": frozen[name]}}]]),
            "one attestation, of this file's name and sha256"
        );
    }
    let stored = index.stored();
    for name in frozen.keys() {
        let attestations = stored[name]["attestations"].as_array().unwrap();
        assert_eq!(attestations.len(), 1);
        testbed::valid_attestation(&attestations[0]).unwrap();
    }
}

fn names(item: &toml_edit::Item) -> Vec<String> {
    let mut names: Vec<String> = item
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {item}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn a_trusted_stage_and_promote_attest_each_file_once_per_index_and_burn_their_tokens() {
    let (s, bed) = released("ts-attest");
    in_ci(&s, &bed, &["stage", "v1.4.3"], &[])
        .success()
        .stderr_has("is staged and verified");
    let frozen = frozen_files(&s, "v1.4.3");
    assert_eq!(frozen.len(), 2);
    let files: Vec<String> = frozen.keys().cloned().collect();
    assert_attested_once(&bed.staging, &frozen);
    let (minted, burned) = minted_and_burned(&bed.oidc);
    assert_eq!(minted.len(), 1, "one token for the stage");
    assert_eq!(burned, minted, "the stage's token was burned once");

    in_ci(&s, &bed, &["promote", "v1.4.3", "--no-github"], &[]).success();
    assert_attested_once(&bed.production, &frozen);
    let (minted, burned) = minted_and_burned(&bed.oidc);
    assert_eq!(minted.len(), 2, "one more token for the promotion");
    assert_eq!(burned, minted, "every minted token burned once");

    let note = release_note(&s, "v1.4.3");
    for section in ["staging", "production"] {
        assert_eq!(note[section]["attestations"].as_str(), Some("made"));
        assert_eq!(names(&note[section]["attested"]), files, "{section}");
        assert!(names(&note[section]["not-attested"]).is_empty());
    }
    // Each index's provenance was read back where the index serves it.
    for index in [&bed.staging, &bed.production] {
        let reads: Vec<Value> = index
            .events()
            .into_iter()
            .filter(|e| e.get("provenance_read").is_some())
            .collect();
        assert_eq!(reads.len(), 2, "{reads:?}");
        assert!(reads.iter().all(|r| r["found"] == true));
    }
    let signed = std::fs::read_to_string(&bed.signed).unwrap();
    assert_eq!(signed.lines().count(), 4, "each file signed once per index");
}

/// The signer is code we did not write: it sees the CI identity it signs as, and no other
/// credential of the job (here its `GITHUB_TOKEN`).
#[test]
fn the_signer_gets_the_ci_identity_and_no_other_credential() {
    let (s, bed) = released("ts-attest-signer-env");
    let seen = s.dir.join("signer-env.log");
    let github_token = "ghs_SIGNER-SENTINEL-5c1d9e";
    in_ci(
        &s,
        &bed,
        &["stage", "v1.4.3"],
        &[
            ("TEST_SIGNER_ENV", seen.to_str().unwrap()),
            ("GITHUB_TOKEN", github_token),
        ],
    )
    .success();
    let env = std::fs::read_to_string(&seen).unwrap();
    assert!(
        env.lines()
            .any(|l| l == format!("ACTIONS_ID_TOKEN_REQUEST_TOKEN={REQUEST_TOKEN}")),
        "the signer needs the job's identity"
    );
    assert!(
        !env.contains(github_token),
        "the job's GITHUB_TOKEN reached the signer"
    );
    assert!(!env.contains(MINTED));
}

#[test]
fn a_file_already_on_the_index_is_recorded_already_there_not_attested() {
    let (s, bed) = released("ts-attest-present");
    let out = s.dir.join("built");
    s.twostage(&["stage", "v1.4.3", "--build-only", out.to_str().unwrap()])
        .success();
    let frozen = frozen_files(&s, "v1.4.3");
    let wheel = frozen.keys().find(|n| n.ends_with(".whl")).unwrap().clone();
    // Another run put the wheel there before, with an API token and no attestation.
    twine_upload(
        &s,
        &format!("{}/", bed.staging.url),
        "__token__",
        &[out.join(&wheel)],
    );
    let run = in_ci(&s, &bed, &["stage", "v1.4.3"], &[]).success();
    run.stderr_has(&format!(
        "`{wheel}` on staging: already there, not attested"
    ));
    let uploads = bed.staging.uploads();
    assert_eq!(
        uploads.len(),
        2,
        "twine's wheel and our sdist: {uploads:#?}"
    );
    assert_eq!(uploads[1]["attestations"].as_array().unwrap().len(), 1);
    let note = release_note(&s, "v1.4.3");
    let sdist: Vec<String> = frozen.keys().filter(|n| **n != wheel).cloned().collect();
    assert_eq!(names(&note["staging"]["attested"]), sdist);
    assert_eq!(
        names(&note["staging"]["not-attested"]),
        std::slice::from_ref(&wheel)
    );
    assert_eq!(names(&note["staging"]["already-present"]), [wheel]);
}

#[test]
fn an_identical_re_upload_the_index_takes_without_its_attestation_is_recorded_not_attested() {
    let (s, bed) = released("ts-attest-reupload");
    let out = s.dir.join("built");
    s.twostage(&["stage", "v1.4.3", "--build-only", out.to_str().unwrap()])
        .success();
    let frozen = frozen_files(&s, "v1.4.3");
    let wheel = frozen.keys().find(|n| n.ends_with(".whl")).unwrap().clone();
    twine_upload(
        &s,
        &format!("{}/", bed.staging.url),
        "__token__",
        &[out.join(&wheel)],
    );
    // The index has the wheel but its page does not show it yet: twostage uploads it again,
    // and the index answers 200 without reading the attestation, as Warehouse does.
    bed.staging
        .set("hide_from_pages", json!({ wheel.clone(): 1 }))
        .unwrap();
    let run = in_ci(&s, &bed, &["stage", "v1.4.3"], &[]).success();
    run.stderr_has(&format!(
        "`{wheel}` on staging: already there, not attested"
    ));
    let uploads = bed.staging.uploads();
    let ours: Vec<&Value> = uploads
        .iter()
        .filter(|u| u["upload"] == wheel.as_str())
        .collect();
    assert_eq!(ours.len(), 2, "twine's and ours: {uploads:#?}");
    assert_eq!(ours[1]["message"], "identical re-upload: nothing stored");
    assert!(bed.staging.stored()[&wheel]["attestations"]
        .as_array()
        .unwrap()
        .is_empty());
    let note = release_note(&s, "v1.4.3");
    let sdist: Vec<String> = frozen.keys().filter(|n| **n != wheel).cloned().collect();
    assert_eq!(names(&note["staging"]["attested"]), sdist);
    assert_eq!(
        names(&note["staging"]["not-attested"]),
        std::slice::from_ref(&wheel)
    );
}

#[test]
fn a_subject_that_is_not_the_frozen_file_stops_before_any_upload() {
    let (s, bed) = released("ts-attest-mismatch");
    let before = s.snapshot();
    in_ci(
        &s,
        &bed,
        &["stage", "v1.4.3"],
        &[("TEST_SIGNER_MODE", "wrong-digest")],
    )
    .failure(1)
    .stderr_has("signed other bytes");
    assert!(bed.staging.uploads().is_empty());
    assert!(pypiserver_stored("ts-attest-mismatch").is_empty());
    assert_eq!(s.snapshot(), before);
    let (minted, burned) = minted_and_burned(&bed.oidc);
    assert_eq!(minted.len(), 1);
    assert_eq!(burned, minted, "a failed run burns its token too");
}

#[test]
fn a_refused_upload_still_burns_every_minted_token() {
    let (s, bed) = released("ts-attest-refused");
    bed.staging.set("refuse_uploads", json!(403)).unwrap();
    in_ci(&s, &bed, &["stage", "v1.4.3"], &[])
        .failure(1)
        .stderr_has("refused");
    assert_eq!(
        bed.staging.uploads().len(),
        1,
        "the first upload was refused"
    );
    let (minted, burned) = minted_and_burned(&bed.oidc);
    assert_eq!(minted.len(), 1);
    assert_eq!(burned, minted);
}

#[test]
fn a_refused_burn_is_a_warning_that_shows_no_body() {
    let (s, bed) = released("ts-attest-burn-refused");
    let mut control: Value =
        serde_json::from_str(&std::fs::read_to_string(&bed.oidc.control).unwrap()).unwrap();
    // The stand-in's refusal echoes the token in its body.
    control["burn_status"] = json!(500);
    bed.oidc.set(&control).unwrap();
    let run = in_ci(&s, &bed, &["stage", "v1.4.3"], &[]).success();
    run.stderr_has("could not end the upload token")
        .stderr_has(&bed.oidc.url);
    assert_eq!(pypiserver_stored("ts-attest-burn-refused").len(), 2);
}

#[test]
fn an_api_token_run_makes_no_attestation_and_burns_nothing() {
    let (s, bed) = released("ts-attest-token");
    let run = in_ci(
        &s,
        &bed,
        &["stage", "v1.4.3"],
        &[("TEST_PYPI_TOKEN", SENTINEL)],
    )
    .success();
    let said = run.stderr.matches("no PEP 740 attestations").count();
    assert_eq!(said, 1, "said once:\n{}", run.stderr);
    // The index stand-in refuses attestations with an API token: none were sent.
    let uploads = bed.staging.uploads();
    assert_eq!(uploads.len(), 2);
    assert!(uploads
        .iter()
        .all(|u| u["trusted"] == false && u["attestations"].is_null() && u["status"] == 200));
    assert!(!bed.signed.exists(), "the signer never ran");
    let requests = bed.oidc.requests().unwrap();
    assert!(
        requests.iter().all(|r| r["endpoint"] != "burn"),
        "a token the user supplied is never burned: {requests:?}"
    );
    assert!(!requests
        .iter()
        .any(|r| r["token_sha256"] == token_digest(SENTINEL).as_str()));
    let note = release_note(&s, "v1.4.3");
    assert_eq!(note["staging"]["attestations"].as_str(), Some("api-token"));
    assert!(note["staging"].get("attested").is_none());
}

/// The stand-in itself: what Warehouse refuses, it refuses (twine `--attestations` uploads
/// each file with the `<file>.*.attestation` files given beside it).
#[test]
fn the_index_stand_in_refuses_what_warehouse_refuses() {
    let (s, bed) = released("ts-attest-standin");
    let out = s.dir.join("built");
    s.twostage(&["stage", "v1.4.3", "--build-only", out.to_str().unwrap()])
        .success();
    let wheel = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .unwrap();
    let attestation = PathBuf::from(format!("{}.publish.attestation", wheel.display()));
    let sign = |mode: &str| {
        let _ = std::fs::remove_file(&attestation);
        let sh = s.sh();
        let (python, script) = (&bed.signer[0], &bed.signer[1]);
        cmd!(sh, "{python} {script} {wheel}")
            .env("TEST_SIGNER_MODE", mode)
            .run()
            .unwrap();
    };
    let upload_with = |password: &str, more: &[PathBuf]| {
        let sh = s.sh();
        let twine = testbed::tools().unwrap().bin("twine");
        let url = format!("{}/", bed.staging.url);
        Run::of(
            cmd!(sh, "{twine} upload --attestations --non-interactive --disable-progress-bar --repository-url {url} -u __token__ {wheel} {attestation} {more...}")
                .env("TWINE_PASSWORD", password),
        )
    };
    let upload = |password: &str| upload_with(password, &[]);
    sign("");
    let api = upload(SENTINEL);
    assert_ne!(api.code, 0);
    // twine wraps its lines.
    let said: Vec<&str> = api
        .stdout
        .split_whitespace()
        .chain(api.stderr.split_whitespace())
        .collect();
    assert!(
        said.join(" ")
            .contains("only supported when using Trusted Publishing"),
        "{}\n{}",
        api.stdout,
        api.stderr
    );
    let minted = format!("{MINTED}-1");
    sign("wrong-name");
    assert_ne!(upload(&minted).code, 0);
    // Two attestations of one predicate.
    sign("");
    let second = PathBuf::from(format!("{}.slsa.attestation", wheel.display()));
    std::fs::copy(&attestation, &second).unwrap();
    assert_ne!(upload_with(&minted, std::slice::from_ref(&second)).code, 0);
    std::fs::remove_file(&second).unwrap();
    let statuses: Vec<Value> = bed
        .staging
        .uploads()
        .iter()
        .map(|u| u["status"].clone())
        .collect();
    assert_eq!(statuses, [json!(400), json!(400), json!(400)]);
    let messages: Vec<String> = bed
        .staging
        .uploads()
        .iter()
        .map(|u| u["message"].as_str().unwrap_or_default().to_string())
        .collect();
    for (message, says) in messages.iter().zip([
        "only supported when using Trusted Publishing",
        "subject is not this file's name and sha256",
        "Multiple attestations for the same predicate type",
    ]) {
        assert!(message.contains(says), "{message}");
    }
    assert!(pypiserver_stored("ts-attest-standin").is_empty());
    sign("");
    upload(&minted).success();
    let name = wheel.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        bed.staging.stored()[name]["attestations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// `audit <tag> --json` with no credential of any kind, reading both indexes through their
/// stand-ins (with `extra` variables); the links that failed.
fn audit_failures(s: &Scratch, bed: &Bed, tag: &str, extra: &[(&str, &str)]) -> (Run, Vec<String>) {
    let (_, production_index) = production_urls(bed);
    let run = Run::from(
        s.command(env!("CARGO_BIN_EXE_twostage"))
            .args(["audit", tag, "--json"])
            .env(
                "TWOSTAGE_STAGING_INDEX_URL",
                format!("{}/simple/", bed.staging.url),
            )
            .env("TWOSTAGE_PRODUCTION_INDEX_URL", production_index)
            .envs(extra.iter().copied())
            .output()
            .unwrap(),
    );
    let doc: Value = serde_json::from_str(&run.stdout).expect(&run.stdout);
    let failed = doc["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["result"] == "fail")
        .map(|l| l["link"].as_str().unwrap().to_string())
        .collect();
    (run, failed)
}

#[test]
fn audit_checks_production_provenance_and_fails_on_an_attestation_for_other_bytes() {
    let (s, bed) = released("ts-attest-audit");
    in_ci(&s, &bed, &["stage", "v1.4.3"], &[]).success();
    in_ci(&s, &bed, &["promote", "v1.4.3", "--no-github"], &[]).success();
    // What a maintainer's `git push --follow-tags` and the notes push leave on origin.
    s.git(&["push", "--quiet", "origin", "v1.4.3", "v1.4.3-prod"]);
    s.git(&["push", "--quiet", "--force", "origin", "refs/notes/release"]);
    let (run, failed) = audit_failures(&s, &bed, "v1.4.3", &[]);
    assert!(
        failed.is_empty(),
        "{failed:?}\n{}\n{}",
        run.stdout,
        run.stderr
    );
    let link = attestations_of(&run);
    assert_eq!(link["result"], "pass", "{link}");
    // No `pypi-attestations` on PATH here: said, not failed.
    assert!(
        link["details"].as_array().unwrap().contains(&json!(
            "signatures not checked (pypi-attestations not installed)"
        )),
        "{link}"
    );
    assert_eq!(link["signatures"]["checked"], false, "{link}");
    let reads_before = bed
        .production
        .events()
        .iter()
        .filter(|e| e.get("provenance_read").is_some())
        .count();
    assert!(reads_before >= 2);

    audit_runs_the_verifier_once_per_file(&s, &bed);

    // Production now serves, as the wheel's provenance, the sdist's attestation.
    let store = bed.production.control.with_extension("json.store");
    let mut stored = bed.production.stored();
    let frozen = frozen_files(&s, "v1.4.3");
    let wheel = frozen.keys().find(|n| n.ends_with(".whl")).unwrap().clone();
    let sdist = frozen
        .keys()
        .find(|n| n.ends_with(".tar.gz"))
        .unwrap()
        .clone();
    stored[&wheel]["attestations"] = stored[&sdist]["attestations"].clone();
    std::fs::write(&store, stored.to_string()).unwrap();
    let (run, failed) = audit_failures(&s, &bed, "v1.4.3", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(failed, vec!["attestations".to_string()], "{}", run.stdout);
    assert!(run.stdout.contains(&wheel), "{}", run.stdout);
    let reads_after = bed
        .production
        .events()
        .iter()
        .filter(|e| e.get("provenance_read").is_some())
        .count();
    assert!(
        reads_after > reads_before,
        "the audit read production's provenance"
    );
}

/// The `attestations` link of an `audit --json` run.
fn attestations_of(run: &Run) -> Value {
    let doc: Value = serde_json::from_str(&run.stdout).expect(&run.stdout);
    doc["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["link"] == "attestations")
        .unwrap()
        .clone()
}

/// With a verifier (the test verifier in place of `pypi-attestations verify pypi`), `audit`
/// runs it once per production file, on production's bytes, with the repository's trusted
/// publisher and no credential in its environment; it passes, and when the verifier refuses
/// one file the audit exits 1 naming that file.
fn audit_runs_the_verifier_once_per_file(s: &Scratch, bed: &Bed) {
    let verifier = testbed::test_verifier(&s.dir.join("verifier")).unwrap();
    let log = s.dir.join("verified.log");
    let log_path = log.to_str().unwrap();
    let repository = "o/ts-attest-audit";
    let api = crate::promote::github().api_url.clone();
    let github_token = "ghs_VERIFIER-SENTINEL-77ad";
    let mut extra = vec![
        ("TWOSTAGE_ATTESTATION_VERIFIER", verifier.as_str()),
        ("TEST_VERIFIER_LOG", log_path),
        ("TWOSTAGE_GITHUB_REPOSITORY", repository),
        ("TWOSTAGE_GITHUB_API_URL", api.as_str()),
        ("GITHUB_TOKEN", github_token),
    ];
    let (run, failed) = audit_failures(s, bed, "v1.4.3", &extra);
    assert!(
        failed.is_empty(),
        "{failed:?}\n{}\n{}",
        run.stdout,
        run.stderr
    );
    let frozen = frozen_files(s, "v1.4.3");
    let calls: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut seen: Vec<(String, String)> = calls
        .iter()
        .map(|c| {
            assert_eq!(
                c["repository"], "https://github.com/o/ts-attest-audit",
                "{c}"
            );
            let env = c["env"].as_array().unwrap();
            assert!(!env.contains(&json!("GITHUB_TOKEN")), "{c}");
            (
                c["file"].as_str().unwrap().to_string(),
                c["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let expected: Vec<(String, String)> = frozen.clone().into_iter().collect();
    assert_eq!(seen, expected, "once per file, on the frozen bytes");
    let link = attestations_of(&run);
    assert_eq!(link["signatures"]["checked"], true, "{link}");
    for name in frozen.keys() {
        assert_eq!(link["signatures"]["files"][name], "verified", "{link}");
    }

    let wheel = frozen.keys().find(|n| n.ends_with(".whl")).unwrap().clone();
    extra.push(("TEST_VERIFIER_REFUSE", wheel.as_str()));
    let (run, failed) = audit_failures(s, bed, "v1.4.3", &extra);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(failed, vec!["attestations".to_string()], "{}", run.stdout);
    let link = attestations_of(&run);
    let details = link["details"].to_string();
    assert!(
        details.contains(&format!("`{wheel}`: its attestation does not verify")),
        "{link}"
    );
    assert_eq!(link["signatures"]["files"][&wheel], "failed", "{link}");
    std::fs::remove_file(&log).unwrap();
}
