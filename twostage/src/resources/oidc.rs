//! Trusted publishing: a short-lived upload token minted from the CI's OIDC identity, so no
//! long-lived token is stored anywhere (https://docs.pypi.org/trusted-publishers/internals/).
//!
//! 1. `GET <index>/_/oidc/audience` gives the audience (`pypi`, `testpypi`);
//! 2. `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud>` with
//!    `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN` gives the OIDC token (`value`);
//! 3. `POST <index>/_/oidc/mint-token` with `{"token": …}` gives `{"token", "expires"}`, or 422
//!    with `errors: [{code, description}]`.
//!
//! The OIDC token and the minted token are secrets: never shown, and masked in GitHub Actions'
//! log with `::add-mask::` the moment they are known.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::resources::secrets::redact;
use crate::resources::secrets::Secret;

/// A minted upload token and when it stops working (Unix seconds).
#[derive(Debug, Clone)]
pub struct Minted {
    pub token: Secret,
    pub expires: u64,
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

/// Tells GitHub Actions to hide a value in the log.
fn mask(value: &str) {
    if std::env::var_os("GITHUB_ACTIONS").is_some() {
        println!("::add-mask::{value}");
    }
}

/// The origin (`scheme://host[:port]`) of a URL.
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let host = rest.split('/').next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    format!("{scheme}://{host}")
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
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // The token exchange is fixed endpoints; a redirect is followed a few times at most,
        // and never with the bearer token of the request (docs/http-client.md).
        .max_redirects(3)
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
        .timeout_global(Some(Duration::from_secs(60)))
        .user_agent(concat!("twostage/", env!("CARGO_PKG_VERSION")))
        .tls_config(crate::resources::tls::config())
        .build()
        .into();
    let base = oidc_base.trim_end_matches('/');
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
    let body: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap_or_default())
            .unwrap_or(Value::Null);
    let audience = body
        .get("audience")
        .and_then(Value::as_str)
        .with_context(|| {
            format!("`{shown}/_/oidc/audience` answered HTTP {status} without an audience")
        })?
        .to_string();

    let request_url = std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL")
        .context("`ACTIONS_ID_TOKEN_REQUEST_URL` is not set")?;
    let request_token = Secret::new(
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
            .context("`ACTIONS_ID_TOKEN_REQUEST_TOKEN` is not set")?,
    );
    let separator = if request_url.contains('?') { '&' } else { '?' };
    let mut response = agent
        .get(&format!("{request_url}{separator}audience={audience}"))
        .header(
            "Authorization",
            &format!("bearer {}", request_token.expose()),
        )
        .header("Accept", "application/json")
        .call()
        .map_err(|e| {
            // Only a refused certificate is explained: the service's URL is not shown.
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
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let Some(oidc_token) = value.get("value").and_then(Value::as_str).map(Secret::new) else {
        bail!(
            "the CI's OIDC token service answered HTTP {status} without a token: does the job have `permissions: id-token: write`?"
        );
    };
    mask(oidc_token.expose());

    let mut response = agent
        .post(&format!("{base}/_/oidc/mint-token"))
        .header("Content-Type", "application/json")
        .send(json!({ "token": oidc_token.expose() }).to_string())
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot reach `{shown}/_/oidc/mint-token`: {}",
                redact(&crate::resources::tls::explain(&e, base))
            )
        })?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status != 200 {
        let errors: Vec<String> = value
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        let code = e.get("code").and_then(Value::as_str).unwrap_or("unknown");
                        let description = e
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        let description = description.replace(oidc_token.expose(), "***");
                        format!("{code}: {} ({description})", explain(code))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if errors.is_empty() {
            bail!("`{shown}` refused to mint an upload token (HTTP {status})");
        }
        bail!(
            "`{shown}` refused to mint an upload token (HTTP {status}):\n  - {}",
            errors.join("\n  - ")
        );
    }
    let token = value
        .get("token")
        .and_then(Value::as_str)
        .map(Secret::new)
        .with_context(|| format!("`{shown}/_/oidc/mint-token` answered without a token"))?;
    mask(token.expose());
    let expires = value
        .get("expires")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| now() + 900);
    Ok(Minted { token, expires })
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins() {
        assert_eq!(
            super::origin("https://upload.pypi.org/legacy/"),
            "https://upload.pypi.org"
        );
        assert_eq!(
            super::origin("http://u:p@127.0.0.1:8080/x/"),
            "http://127.0.0.1:8080"
        );
    }
}
