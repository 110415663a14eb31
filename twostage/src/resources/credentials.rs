//! Upload credentials: the variable named by `token-env`, else the matching `~/.pypirc`
//! section (`testpypi` for staging, `pypi` for production). A `Secret` never prints itself:
//! its `Debug` and `Display` show `***`, so it cannot leak through an error chain or a log.

use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Result};

use crate::config::{self, TrustedPublishing};
use crate::resources::oidc::{self, Minted};
use crate::resources::secrets::Secret;

#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

impl Credentials {
    /// The `Authorization` header value (HTTP Basic).
    pub fn basic_auth(&self) -> String {
        format!(
            "Basic {}",
            base64(format!("{}:{}", self.username, self.password.expose()).as_bytes())
        )
    }
}

/// Where an index's upload credentials come from: a configured token, or a token minted from
/// the CI's OIDC identity (trusted publishing), minted again when it nears expiry.
#[derive(Debug)]
pub enum Source {
    Static(Credentials),
    Trusted {
        oidc_base: String,
        minted: Mutex<Minted>,
    },
}

impl Source {
    /// Credentials good for the next upload.
    pub fn current(&self) -> Result<Credentials> {
        match self {
            Source::Static(credentials) => Ok(credentials.clone()),
            Source::Trusted { oidc_base, minted } => {
                let mut minted = minted.lock().unwrap_or_else(|e| e.into_inner());
                if minted.needs_renewal() {
                    *minted = oidc::mint(oidc_base)?;
                    crate::output::status("Minted", "a new upload token (trusted publishing)");
                }
                Ok(Credentials {
                    username: "__token__".into(),
                    password: minted.token.clone(),
                })
            }
        }
    }

    /// What to check when the index refuses the credentials.
    pub fn hint(&self, index: &config::Index) -> String {
        match self {
            Source::Static(_) => format!(
                "check the credentials: `{}` or the `~/.pypirc` section",
                index.token_env
            ),
            Source::Trusted { .. } => {
                "check the trusted publisher registered for this project on the index".into()
            }
        }
    }

    pub fn trusted(&self) -> bool {
        matches!(self, Source::Trusted { .. })
    }
}

/// The credentials for an index, by `trusted-publishing` mode (`auto`: a configured token,
/// else trusted publishing when the CI offers an OIDC identity; `always`; `never`). Anything
/// missing is an error naming what to set, raised before anything is built or uploaded.
pub fn resolve(index: &config::Index, pypirc_section: &str, home: Option<&Path>) -> Result<Source> {
    let mint = || -> Result<Source> {
        let oidc_base = index
            .oidc_url
            .clone()
            .unwrap_or_else(|| oidc::origin(&index.upload_url));
        let minted = oidc::mint(&oidc_base)?;
        crate::output::status(
            "Minted",
            "an upload token from the CI's identity (trusted publishing)",
        );
        Ok(Source::Trusted {
            oidc_base,
            minted: Mutex::new(minted),
        })
    };
    match index.trusted_publishing {
        TrustedPublishing::Always => {
            if !oidc::ambient_available() {
                bail!(
                    "`trusted-publishing = \"always\"`, but this is not a CI job with an OIDC identity \
                     (`ACTIONS_ID_TOKEN_REQUEST_URL` and `_TOKEN` are unset: does the job have `permissions: id-token: write`?)"
                );
            }
            mint()
        }
        TrustedPublishing::Auto | TrustedPublishing::Never => {
            match for_index(index, pypirc_section, home) {
                Ok(credentials) => Ok(Source::Static(credentials)),
                Err(_)
                    if index.trusted_publishing == TrustedPublishing::Auto
                        && oidc::ambient_available() =>
                {
                    mint()
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// Finds a configured token for an index; a missing one is an error naming the variable and
/// saying where to get a token.
pub fn for_index(
    index: &config::Index,
    pypirc_section: &str,
    home: Option<&Path>,
) -> Result<Credentials> {
    if let Ok(token) = std::env::var(&index.token_env) {
        if !token.trim().is_empty() {
            return Ok(Credentials {
                username: index.username.clone(),
                password: Secret::new(token.trim()),
            });
        }
    }
    if let Some(found) =
        home.and_then(|home| from_pypirc(&home.join(".pypirc"), pypirc_section, &index.upload_url))
    {
        return Ok(found);
    }
    let where_to_get = if index.upload_url.contains("test.pypi.org") {
        " (an API token from https://test.pypi.org/manage/account/token/)"
    } else if index.upload_url.contains("pypi.org") {
        " (an API token from https://pypi.org/manage/account/token/)"
    } else {
        ""
    };
    anyhow::bail!(
        "no credentials for `{}`: set `{}` to the upload token or password{where_to_get}, or add a \
         `[{pypirc_section}]` section with a `password` to `~/.pypirc`",
        crate::resources::secrets::redact(&index.upload_url),
        index.token_env
    )
}

/// `username`/`password` of one section of a `.pypirc` (an INI file).
/// The section's credentials, only when the section is for `upload_url`'s host (its
/// `repository`, else the section's default: `upload.pypi.org` for `pypi`, `test.pypi.org` for
/// `testpypi`), so a PyPI token is never sent to another server.
fn from_pypirc(path: &Path, section: &str, upload_url: &str) -> Option<Credentials> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut in_section = false;
    let mut username = None;
    let mut password = None;
    let mut repository = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            in_section = line[1..line.len() - 1].trim() == section;
            continue;
        }
        if !in_section || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some((key, value)) = line.split_once(['=', ':']) {
            match key.trim() {
                "username" => username = Some(value.trim().to_string()),
                "password" => password = Some(value.trim().to_string()),
                "repository" => repository = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let default = match section {
        "pypi" => "https://upload.pypi.org/legacy/",
        "testpypi" => "https://test.pypi.org/legacy/",
        _ => "",
    };
    let repository = repository.unwrap_or_else(|| default.to_string());
    if oidc::origin(&repository) != oidc::origin(upload_url) {
        return None;
    }
    Some(Credentials {
        username: username.unwrap_or_else(|| "__token__".into()),
        password: Secret::new(password.filter(|p| !p.is_empty())?),
    })
}

pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn secrets_never_print() {
        let c = Credentials {
            username: "__token__".into(),
            password: Secret::new("pypi-s3cret"),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(!format!("{}", c.password).contains("s3cret"));
    }

    #[test]
    fn pypirc_sections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".pypirc");
        std::fs::write(
            &path,
            "[distutils]\nindex-servers = pypi testpypi\n\n[pypi]\nusername = __token__\npassword = pypi-prod\n\n[testpypi]\npassword: pypi-test\n",
        )
        .unwrap();
        assert_eq!(
            from_pypirc(&path, "pypi", "https://upload.pypi.org/legacy/")
                .unwrap()
                .password
                .expose(),
            "pypi-prod"
        );
        let test = from_pypirc(&path, "testpypi", "https://test.pypi.org/legacy/").unwrap();
        assert_eq!(test.password.expose(), "pypi-test");
        assert_eq!(test.username, "__token__");
        assert!(from_pypirc(&path, "other", "https://upload.pypi.org/legacy/").is_none());
        // The PyPI token never goes to another host.
        assert!(from_pypirc(&path, "pypi", "https://pypi.example.com/upload/").is_none());
    }
}
