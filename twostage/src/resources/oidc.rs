//! Trusted publishing: a short-lived upload token minted from the CI's OIDC identity, so no
//! long-lived token is stored anywhere (https://docs.pypi.org/trusted-publishers/internals/).
//!
//! 1. `GET <index>/_/oidc/audience` gives the audience (`pypi`, `testpypi`);
//! 2. `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud>` with
//!    `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN` gives the OIDC token (`value`);
//! 3. `POST <index>/_/oidc/mint-token` with `{"token": …}` gives `{"token", "expires"}`, or 422
//!    with `errors: [{code, description}]`.
//!
//! 4. after the run's last upload, `POST <index>/_/oidc/burn-token` with `{"token": <minted>}`
//!    ends the minted token before its 15 minutes are up; Warehouse answers 202 (uv does the
//!    same after its uploads: https://github.com/astral-sh/uv/tree/main/crates/uv-publish).
//!
//! The OIDC token and the minted token are secrets: never shown, and masked in GitHub Actions'
//! log with `::add-mask::` the moment they are known.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::resources::json::{self, lenient};
use crate::resources::secrets::redact;
use crate::resources::secrets::Secret;

/// A minted upload token and when it stops working (Unix seconds).
#[derive(Debug, Clone)]
pub struct Minted {
    pub token: Secret,
    pub expires: u64,
}

/// `GET /_/oidc/audience`'s answer (https://docs.pypi.org/trusted-publishers/internals/).
#[derive(Deserialize)]
struct Audience {
    audience: String,
}

/// GitHub Actions' ID-token service's answer, `{"value": <the OIDC token>}`
/// (https://docs.github.com/en/actions/reference/security/oidc).
#[derive(Deserialize)]
struct IdToken {
    value: String,
}

/// The body of `mint-token` and `burn-token`: the token to exchange or to end
/// (https://docs.pypi.org/trusted-publishers/internals/).
#[derive(Serialize)]
struct TokenRequest<'a> {
    token: &'a str,
}

/// `mint-token`'s answer: the upload token and when it expires (Unix seconds); without
/// `expires`, 15 minutes are assumed (https://docs.pypi.org/trusted-publishers/internals/).
#[derive(Deserialize)]
struct MintAnswer {
    token: String,
    #[serde(default, deserialize_with = "lenient")]
    expires: Option<u64>,
}

/// A refused mint's `errors: [{code, description}]`
/// (https://docs.pypi.org/trusted-publishers/troubleshooting/).
#[derive(Deserialize)]
struct MintRefusal {
    #[serde(default, deserialize_with = "json::readable")]
    errors: Vec<MintError>,
}

#[derive(Deserialize)]
struct MintError {
    #[serde(default, deserialize_with = "lenient")]
    code: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    description: Option<String>,
}

/// Re-mint when less than this is left (twine uses the same margin).
pub const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

pub fn ambient_available() -> bool {
    [
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ]
    .iter()
    .all(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()))
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Minted {
    pub fn needs_renewal(&self) -> bool {
        self.expires.saturating_sub(now()) < RENEW_BEFORE.as_secs()
    }
}

/// Tells GitHub Actions to hide a value in the log, line by line: a value from outside with a
/// line break in it would otherwise end the command and start another of its choosing.
fn mask(value: &str) {
    if std::env::var_os("GITHUB_ACTIONS").is_some() {
        for line in value.lines().filter(|l| !l.trim().is_empty()) {
            println!("::add-mask::{line}");
        }
    }
}

/// The origin (`scheme://host[:port]`, https://url.spec.whatwg.org/#origin) of a URL: where
/// an index's trusted-publishing endpoints live, beside its upload URL.
pub fn origin(url: &str) -> Result<String> {
    let parsed = url::Url::parse(url)
        .map_err(|e| anyhow::anyhow!("`{}` is not a valid URL: {e}", redact(url)))?;
    let origin = parsed.origin();
    if !origin.is_tuple() {
        bail!("`{}` has no host to mint a token at", redact(url));
    }
    Ok(origin.ascii_serialization())
}

fn explain(code: &str) -> &'static str {
    match code {
        "invalid-payload" => "the index could not read the OIDC token",
        "not-enabled" => "trusted publishing is not enabled on this index",
        "invalid-token" => "the index rejected the OIDC token (expired, not yet valid, or for another audience)",
        "invalid-publisher" => {
            "no trusted publisher on the index matches this workflow: register this repository, workflow file and environment as a trusted publisher of the project"
        }
        "invalid-pending-publisher" => {
            "the pending trusted publisher does not match this workflow, or the project name is already taken"
        }
        "invalid-reuse-token" => "this OIDC token was already used to mint a token: request a new one",
        _ => "the index refused to mint a token",
    }
}

/// Mints an upload token for the index at `oidc_base` (the origin of its upload URL).
pub fn mint(oidc_base: &str) -> Result<Minted> {
    let agent = agent();
    let base = oidc_base.trim_end_matches('/');
    let audience = audience(&agent, base)?;
    let oidc_token = identity_token(&agent, &audience)?;
    mask(oidc_token.expose());
    exchange(&agent, base, &oidc_token)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // The token exchange is fixed endpoints; a redirect is followed a few times at most,
        // and never with the bearer token of the request (docs/http-client.md).
        .max_redirects(3)
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
        // Every exchange within 60 s in all, 10 s to connect, 30 s of silence at most
        // (docs/http-client.md).
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_per_read(Some(Duration::from_secs(30)))
        .timeout_global(Some(Duration::from_secs(60)))
        .user_agent(concat!("twostage/", env!("CARGO_PKG_VERSION")))
        .tls_config(crate::resources::tls::config())
        .build()
        .into()
}

/// Step 1: the audience the index expects in the OIDC token.
fn audience(agent: &ureq::Agent, base: &str) -> Result<String> {
    let shown = redact(base);
    let audience_url = format!("{base}/_/oidc/audience");
    let mut response = agent.get(&audience_url).call().map_err(|e| {
        anyhow::anyhow!(
            "cannot reach `{shown}` for trusted publishing: {}",
            redact(&crate::resources::tls::explain(&e, &audience_url))
        )
    })?;
    let status = response.status().as_u16();
    if status == 404 {
        bail!("`{shown}` does not offer trusted publishing (no `/_/oidc/audience`): set the token variable instead");
    }
    let body: Option<Audience> = json::read(&mut response);
    let audience = body.map(|b| b.audience).with_context(|| {
        format!("`{shown}/_/oidc/audience` answered HTTP {status} without an audience")
    })?;
    Ok(audience)
}

/// Step 2: the CI's OIDC token for `audience`, from GitHub Actions' token service.
fn identity_token(agent: &ureq::Agent, audience: &str) -> Result<Secret> {
    let request_url = std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL")
        .context("`ACTIONS_ID_TOKEN_REQUEST_URL` is not set")?;
    let request_token = Secret::new(
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
            .context("`ACTIONS_ID_TOKEN_REQUEST_TOKEN` is not set")?,
    );
    // The service's URL is not shown: it carries the run's identity.
    let url = with_audience(&request_url, audience)
        .context("`ACTIONS_ID_TOKEN_REQUEST_URL` is not a valid URL")?;
    let mut response = agent
        .get(url.as_str())
        .header(
            "Authorization",
            &format!("bearer {}", request_token.expose()),
        )
        .header("Accept", "application/json")
        .call()
        .map_err(|e| {
            // Only a refused certificate is explained.
            let why = if crate::resources::tls::is_certificate_error(&e) {
                format!(": {}", crate::resources::tls::explain(&e, &request_url))
            } else {
                String::new()
            };
            anyhow::anyhow!(
                "cannot reach the CI's OIDC token service (`ACTIONS_ID_TOKEN_REQUEST_URL`){why}"
            )
        })?;
    let status = response.status().as_u16();
    match json::read::<IdToken>(&mut response) {
        Some(token) => Ok(Secret::new(token.value)),
        None => bail!(
            "the CI's OIDC token service answered HTTP {status} without a token: does the job have `permissions: id-token: write`?"
        ),
    }
}

/// The token service's URL with `audience=…` added to whatever query it already has.
fn with_audience(request_url: &str, audience: &str) -> Result<url::Url, url::ParseError> {
    let mut url = url::Url::parse(request_url)?;
    url.query_pairs_mut().append_pair("audience", audience);
    Ok(url)
}

/// Step 3: the OIDC token exchanged for an upload token.
fn exchange(agent: &ureq::Agent, base: &str, oidc_token: &Secret) -> Result<Minted> {
    let shown = redact(base);
    let mut response = agent
        .post(&format!("{base}/_/oidc/mint-token"))
        .header("Content-Type", "application/json")
        .send(token_request(oidc_token))
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot reach `{shown}/_/oidc/mint-token`: {}",
                redact(&crate::resources::tls::explain(&e, base))
            )
        })?;
    let status = response.status().as_u16();
    let text = json::body_text(&mut response);
    if status != 200 {
        let errors = mint_errors(&text, oidc_token);
        if errors.is_empty() {
            bail!("`{shown}` refused to mint an upload token (HTTP {status})");
        }
        bail!(
            "`{shown}` refused to mint an upload token (HTTP {status}):\n  - {}",
            errors.join("\n  - ")
        );
    }
    let answer = serde_json::from_str::<MintAnswer>(&text)
        .ok()
        .with_context(|| format!("`{shown}/_/oidc/mint-token` answered without a token"))?;
    let token = Secret::new(answer.token);
    mask(token.expose());
    let expires = answer.expires.unwrap_or_else(|| now() + 900);
    Ok(Minted { token, expires })
}

/// Step 4: ends a minted token at the index that minted it (`oidc_base`). Only the status is
/// read: an answer's body might echo the token.
pub fn burn(oidc_base: &str, token: &Secret) -> Result<()> {
    let base = oidc_base.trim_end_matches('/');
    let response = agent()
        .post(&format!("{base}/_/oidc/burn-token"))
        .header("Content-Type", "application/json")
        .send(token_request(token))
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot reach `{}/_/oidc/burn-token`: {}",
                redact(base),
                redact(&crate::resources::tls::explain(&e, base))
            )
        })?;
    let status = response.status().as_u16();
    if !(200..=299).contains(&status) {
        bail!(
            "`{}/_/oidc/burn-token` answered HTTP {status}",
            redact(base)
        );
    }
    Ok(())
}

/// The index's `errors: [{code, description}]`, each with what it means, the OIDC token
/// scrubbed from the index's words.
fn mint_errors(text: &str, oidc_token: &Secret) -> Vec<String> {
    let errors = serde_json::from_str::<MintRefusal>(text)
        .map(|r| r.errors)
        .unwrap_or_default();
    errors
        .iter()
        .map(|e| {
            let code = e.code.as_deref().unwrap_or("unknown");
            let description = e
                .description
                .as_deref()
                .unwrap_or_default()
                .replace(oidc_token.expose(), "***");
            format!("{code}: {} ({description})", explain(code))
        })
        .collect()
}

/// `{"token": …}`, the body of a mint or a burn.
fn token_request(token: &Secret) -> String {
    serde_json::to_string(&TokenRequest {
        token: token.expose(),
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://upload.pypi.org/legacy/").unwrap(),
            "https://upload.pypi.org"
        );
        assert_eq!(
            origin("http://u:p@127.0.0.1:8080/x/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            origin("https://upload.pypi.org:443/legacy/").unwrap(),
            "https://upload.pypi.org"
        );
        assert_eq!(
            origin("http://[::1]:8080/legacy/").unwrap(),
            "http://[::1]:8080"
        );
        let err = origin("upload.pypi.org/legacy/").unwrap_err().to_string();
        assert!(err.contains("not a valid URL"), "{err}");
    }

    #[test]
    fn mint_answers_and_refusals_are_read_as_their_types() {
        let token = Secret::new("oidc-SECRET");
        let refusal = r#"{"message": "Token request failed", "errors": [
            {"code": "invalid-publisher", "description": "no publisher for oidc-SECRET"},
            7, {"description": 3}, {"code": "not-enabled"}]}"#;
        let errors = mint_errors(refusal, &token);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("invalid-publisher: no trusted publisher"));
        assert!(
            errors[0].ends_with("(no publisher for ***)"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("unknown: the index refused"),
            "{}",
            errors[1]
        );
        assert!(errors[2].ends_with("()"), "{}", errors[2]);
        assert!(mint_errors("not json", &token).is_empty());
        let answer: MintAnswer =
            serde_json::from_str(r#"{"success": true, "token": "pypi-x", "expires": 1700000000}"#)
                .unwrap();
        assert_eq!(
            (answer.token.as_str(), answer.expires),
            ("pypi-x", Some(1700000000))
        );
        let answer: MintAnswer =
            serde_json::from_str(r#"{"token": "pypi-x", "expires": "soon"}"#).unwrap();
        assert_eq!(answer.expires, None);
        assert!(serde_json::from_str::<MintAnswer>(r#"{"expires": 1}"#).is_err());
        assert_eq!(token_request(&token), r#"{"token":"oidc-SECRET"}"#);
    }

    #[test]
    fn the_audience_is_added_to_the_request_query() {
        assert_eq!(
            with_audience("https://token.actions.example/x?api-version=2.0", "pypi")
                .unwrap()
                .as_str(),
            "https://token.actions.example/x?api-version=2.0&audience=pypi"
        );
        assert_eq!(
            with_audience("http://127.0.0.1:9/token", "test pypi&x")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/token?audience=test+pypi%26x"
        );
    }
}
