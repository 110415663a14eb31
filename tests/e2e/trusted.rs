//! Trusted publishing: the token exchange end to end against a stand-in for the index's
//! `/_/oidc/` endpoints and the Actions OIDC token service (documented shapes), uploading to a
//! real pypiserver with the minted token. No token appears in any output.

use crate::common::*;
use testbed::OidcStandin;

const REQUEST_TOKEN: &str = "actions-request-SENTINEL-3c1d";
const JWT: &str = "eyJ-oidc-SENTINEL-jwt-9f2a";

fn control(expires_in: u64, error_code: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "audience": "testpypi",
        "request_token": REQUEST_TOKEN,
        "jwt": JWT,
        // pypiserver takes it as the password of `__token__`.
        "minted": SENTINEL,
        "expires_in": expires_in,
        "error_code": error_code,
    })
}

fn standin(s: &Scratch, control: &serde_json::Value) -> OidcStandin {
    OidcStandin::start(&s.dir.join("oidc"), control).unwrap()
}

/// `stage` as a GitHub Actions job with `id-token: write` and no stored token would run it.
fn stage_in_ci(s: &Scratch, oidc: &OidcStandin, extra: &[(&str, &str)]) -> Run {
    std::fs::write(&oidc.log, "").unwrap();
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .args(["stage", "v1.4.3"])
        .env("GITHUB_ACTIONS", "true")
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/token?api-version=2.0", oidc.url),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
        .env("TWOSTAGE_STAGING_OIDC_URL", &oidc.url);
    for (k, v) in extra {
        command.env(k, v);
    }
    let run = Run::from(command.output().unwrap());
    run.assert_not_shown(REQUEST_TOKEN);
    run.assert_not_shown(JWT);
    run
}

fn staged(name: &str) -> usize {
    let ix = indexes();
    served(&ix.pypi.index_url(), name).len()
}

#[test]
fn a_token_minted_from_the_ci_identity_stages_without_any_stored_token() {
    let s = Scratch::new("ts-trusted");
    sample(&s, Layout::StaticFlit, "ts-trusted");
    s.twostage(&["release", "patch"]).success();
    let oidc = standin(&s, &control(900, None));
    let run = stage_in_ci(&s, &oidc, &[]).success();
    run.stderr_has("trusted publishing")
        .stderr_has("is staged and verified");
    // The secrets were masked for the Actions log the moment they were known.
    assert!(
        run.stdout.contains(&format!("::add-mask::{JWT}"))
            && run.stdout.contains(&format!("::add-mask::{SENTINEL}"))
    );
    assert_eq!(staged("ts-trusted"), 2);
    // In GitHub Actions the stages are collapsible groups of the log.
    for group in [
        "::group::Build v1.4.3",
        "::group::Upload v1.4.3 to staging",
        "::group::Verify v1.4.3",
        "::endgroup::",
    ] {
        assert!(
            run.stdout.contains(group),
            "{group} missing:\n{}",
            run.stdout
        );
    }
    let requests = oidc.requests().unwrap();
    let endpoints: Vec<&str> = requests
        .iter()
        .map(|r| r["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        endpoints,
        ["audience", "token", "mint", "burn"],
        "one exchange for a fresh 15-minute token, burned after the uploads"
    );
    assert_eq!(
        requests[1]["auth"], true,
        "the request token is sent as a bearer token"
    );
    assert_eq!(
        requests[1]["audience"], true,
        "the audience from the index is asked for"
    );
    assert_eq!(
        requests[2]["token_ok"], true,
        "the OIDC token is exchanged as {{\"token\": …}}"
    );
}

#[test]
fn a_token_near_its_expiry_is_minted_again_before_an_upload() {
    let s = Scratch::new("ts-remint");
    sample(&s, Layout::StaticFlit, "ts-remint");
    s.twostage(&["release", "patch"]).success();
    // Tokens that expire within the renewal margin: every upload asks for a fresh one.
    let oidc = standin(&s, &control(60, None));
    stage_in_ci(&s, &oidc, &[])
        .success()
        .stderr_has("Minted a new upload token");
    let requests = oidc.requests().unwrap();
    let count = |endpoint: &str| {
        requests
            .iter()
            .filter(|r| r["endpoint"] == endpoint)
            .count()
    };
    assert_eq!(
        count("mint"),
        3,
        "one at the start, one before each of the two uploads"
    );
    assert_eq!(count("burn"), 3, "each minted token burned once");
    assert_eq!(staged("ts-remint"), 2);
}

#[test]
fn every_documented_error_code_gives_its_message_and_nothing_is_uploaded() {
    let s = Scratch::new("ts-oidc-errors");
    sample(&s, Layout::StaticFlit, "ts-oidc-errors");
    s.twostage(&["release", "patch"]).success();
    forget_build(&s, "v1.4.3");
    let oidc = standin(&s, &control(900, None));
    for (code, says) in [
        ("invalid-payload", "could not read the OIDC token"),
        ("not-enabled", "not enabled on this index"),
        ("invalid-token", "rejected the OIDC token"),
        (
            "invalid-publisher",
            "no trusted publisher on the index matches this workflow",
        ),
        ("invalid-pending-publisher", "pending trusted publisher"),
        ("invalid-reuse-token", "already used"),
    ] {
        oidc.set(&control(900, Some(code))).unwrap();
        let run = stage_in_ci(&s, &oidc, &[]).failure(1);
        run.stderr_has(code)
            .stderr_has(says)
            .stderr_has("refused to mint an upload token (HTTP 422)");
        assert!(
            run.stdout.contains("::error::") && run.stdout.contains(code),
            "an error annotation:\n{}",
            run.stdout
        );
        assert!(
            !s.work.join(".git/twostage/v1.4.3").exists(),
            "{code}: nothing was built"
        );
    }
    assert_eq!(staged("ts-oidc-errors"), 0);
}

#[test]
fn never_and_always_say_what_is_missing() {
    let s = Scratch::new("ts-oidc-modes");
    sample(&s, Layout::StaticFlit, "ts-oidc-modes");
    s.twostage(&["release", "patch"]).success();
    let oidc = standin(&s, &control(900, None));
    stage_in_ci(
        &s,
        &oidc,
        &[("TWOSTAGE_STAGING_TRUSTED_PUBLISHING", "never")],
    )
    .failure(1)
    .stderr_has("set `TEST_PYPI_TOKEN`");
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["stage", "v1.4.3"])
        .env("TWOSTAGE_STAGING_TRUSTED_PUBLISHING", "always")
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .output()
        .unwrap();
    Run::from(out).failure(1).stderr_has("id-token: write");
    stage_in_ci(
        &s,
        &oidc,
        &[("TWOSTAGE_STAGING_TRUSTED_PUBLISHING", "sometimes")],
    )
    .failure(2);
    assert_eq!(staged("ts-oidc-modes"), 0);
}
