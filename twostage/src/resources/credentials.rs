//! Upload credentials: the variable named by `token-env`, else the matching `~/.pypirc`
//! section (`testpypi` for staging, `pypi` for production). A `Secret` never prints itself:
//! its `Debug` and `Display` show `***`, so it cannot leak through an error chain or a log.

use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Result};

use crate::config::{self, TrustedPublishing};
use crate::resources::ini::Ini;
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
pub enum CredentialSource {
    Static(Credentials),
    Trusted {
        oidc_base: String,
        minted: Mutex<Minted>,
        /// Every token minted for this index in this run, to burn when its uploads are done.
        issued: Mutex<Vec<Secret>>,
    },
}

impl CredentialSource {
    /// Credentials good for the next upload.
    pub fn current(&self) -> Result<Credentials> {
        match self {
            CredentialSource::Static(credentials) => Ok(credentials.clone()),
            CredentialSource::Trusted {
                oidc_base,
                minted,
                issued,
            } => {
                let mut minted = minted.lock().unwrap_or_else(|e| e.into_inner());
                if minted.needs_renewal() {
                    *minted = oidc::mint(oidc_base)?;
                    lock(issued).push(minted.token.clone());
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
            CredentialSource::Static(_) => format!(
                "check the credentials: `{}` or the `~/.pypirc` section",
                index.token_env
            ),
            CredentialSource::Trusted { .. } => {
                "check the trusted publisher registered for this project on the index".into()
            }
        }
    }

    pub fn trusted(&self) -> bool {
        matches!(self, CredentialSource::Trusted { .. })
    }

    /// Ends every token minted for this index so far (docs/provenance.md): after the run's
    /// last upload there, and, through `Drop`, on whatever path the run ends. A token the
    /// user supplied is never sent. A refusal is a warning: the token expires by itself.
    pub fn burn(&self) {
        let CredentialSource::Trusted {
            oidc_base, issued, ..
        } = self
        else {
            return;
        };
        for token in std::mem::take(&mut *lock(issued)) {
            if let Err(e) = oidc::burn(oidc_base, &token) {
                crate::output::warn(format!(
                    "could not end the upload token minted by `{}` ({e:#}); it expires by \
                     itself within 15 minutes",
                    crate::resources::secrets::redact(oidc_base)
                ));
            }
        }
    }
}

impl Drop for CredentialSource {
    fn drop(&mut self) {
        self.burn();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The credentials for an index, by `trusted-publishing` mode (`auto`: a configured token,
/// else trusted publishing when the CI offers an OIDC identity; `always`; `never`). Anything
/// missing is an error naming what to set, raised before anything is built or uploaded.
pub fn obtain(
    index: &config::Index,
    pypirc_section: &str,
    home: Option<&Path>,
) -> Result<CredentialSource> {
    match choose(index, pypirc_section, home)? {
        Choice::Static(credentials) => Ok(CredentialSource::Static(credentials)),
        Choice::Mint { oidc_base } => {
            let minted = oidc::mint(&oidc_base)?;
            crate::output::status(
                "Minted",
                "an upload token from the CI's identity (trusted publishing)",
            );
            Ok(CredentialSource::Trusted {
                oidc_base,
                issued: Mutex::new(vec![minted.token.clone()]),
                minted: Mutex::new(minted),
            })
        }
    }
}

/// Which credential an index will take, decided without minting anything.
pub enum Choice {
    /// A configured token or `~/.pypirc` password.
    Static(Credentials),
    /// A token to mint from the CI's identity at `oidc_base` (trusted publishing).
    Mint { oidc_base: String },
}

/// The credential decision of `resolve`, with no request made: `promote --dry-run` asks it so
/// that it refuses exactly where the real run refuses.
pub fn choose(index: &config::Index, pypirc_section: &str, home: Option<&Path>) -> Result<Choice> {
    let mint = || -> Result<Choice> {
        let oidc_base = match &index.oidc_url {
            Some(url) => url.clone(),
            None => oidc::origin(&index.upload_url)?,
        };
        Ok(Choice::Mint { oidc_base })
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
                Ok(credentials) => Ok(Choice::Static(credentials)),
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
    // A `~/.pypirc` that configparser refuses is said, not taken for an absent one (the
    // reason names a line and a key, never a value).
    let unread = home
        .and_then(|home| std::fs::read_to_string(home.join(".pypirc")).ok())
        .and_then(|text| Ini::parse(&text).err())
        .map(|why| format!(" (`~/.pypirc` was not read, as twine would not read it: {why})"))
        .unwrap_or_default();
    anyhow::bail!(
        "no credentials for `{}`: set `{}` to the upload token or password{where_to_get}, or add a \
         `[{pypirc_section}]` section with a `password` to `~/.pypirc`{unread}",
        crate::resources::secrets::redact(&index.upload_url),
        index.token_env
    )
}

/// `username`/`password` of one section of a `.pypirc` (an INI file).
/// The section's credentials, only when the section is for `upload_url`'s host (its
/// `repository`, else the section's default: `upload.pypi.org` for `pypi`, `test.pypi.org` for
/// `testpypi`), so a PyPI token is never sent to another server.
fn from_pypirc(path: &Path, section: &str, upload_url: &str) -> Option<Credentials> {
    // A file twine could not read either gives no credentials (`resources::ini`).
    let ini = Ini::parse(&std::fs::read_to_string(path).ok()?).ok()?;
    let field = |key: &str| ini.get(section, key).map(str::to_string);
    let (username, password, repository) =
        (field("username"), field("password"), field("repository"));
    let default = match section {
        "pypi" => "https://upload.pypi.org/legacy/",
        "testpypi" => "https://test.pypi.org/legacy/",
        _ => "",
    };
    let repository = repository.unwrap_or_else(|| default.to_string());
    if !same_origin(&repository, upload_url) {
        return None;
    }
    Some(Credentials {
        username: username.unwrap_or_else(|| "__token__".into()),
        password: Secret::new(password.filter(|p| !p.is_empty())?),
    })
}

/// Whether two URLs have the same origin (scheme, host and port, the default port spelled or
/// not; https://url.spec.whatwg.org/#origin). A `.pypirc` `repository` written without a
/// scheme is https, as twine reads it; a URL that does not parse matches nothing.
fn same_origin(a: &str, b: &str) -> bool {
    let parse = |u: &str| match u.contains("://") {
        true => url::Url::parse(u),
        false => url::Url::parse(&format!("https://{u}")),
    };
    match (parse(a), parse(b)) {
        (Ok(a), Ok(b)) => a.origin().is_tuple() && a.origin() == b.origin(),
        _ => false,
    }
}

/// Standard Base64 with padding (RFC 4648 section 4), as HTTP Basic auth spells credentials
/// (RFC 7617).
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
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
        // Bytes that use the last two letters of the alphabet (`+`, `/`), not the URL-safe ones.
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    }

    #[test]
    fn basic_auth_is_user_colon_password_in_base64() {
        let c = Credentials {
            username: "__token__".into(),
            password: Secret::new("pypi-AgEI:é"),
        };
        // `printf '__token__:pypi-AgEI:é' | base64`
        assert_eq!(c.basic_auth(), "Basic X190b2tlbl9fOnB5cGktQWdFSTrDqQ==");
    }

    #[test]
    fn origins_match_by_scheme_host_and_port() {
        assert!(same_origin(
            "https://upload.pypi.org/legacy/",
            "https://UPLOAD.pypi.org:443/other/"
        ));
        assert!(same_origin(
            "http://u:p@[::1]:8080/legacy/",
            "http://[0:0::1]:8080/"
        ));
        assert!(!same_origin(
            "https://upload.pypi.org/legacy/",
            "http://upload.pypi.org/legacy/"
        ));
        assert!(!same_origin(
            "https://upload.pypi.org/legacy/",
            "https://upload.pypi.org.evil.example/legacy/"
        ));
        assert!(!same_origin(
            "https://upload.pypi.org:8443/",
            "https://upload.pypi.org/"
        ));
        assert!(!same_origin("not a url", "not a url"));
        // A `.pypirc` repository without a scheme is https, as twine reads it.
        assert!(same_origin(
            "upload.pypi.org/legacy/",
            "https://upload.pypi.org/legacy/"
        ));
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

    #[test]
    fn pypirc_is_read_as_twines_configparser_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".pypirc");
        // A multi-line `index-servers` (as packaging.python.org's example writes it), a
        // comment, upper-case keys and a `;` that is part of the token, not a comment.
        std::fs::write(
            &path,
            "[distutils]\nindex-servers =\n    pypi\n    testpypi\n\n[pypi]\n# the token\nUSERNAME = __token__\nPassword = pypi-a;b\n",
        )
        .unwrap();
        let pypi = from_pypirc(&path, "pypi", "https://upload.pypi.org/legacy/").unwrap();
        assert_eq!(pypi.password.expose(), "pypi-a;b");
        // A file configparser refuses (a key given twice) gives no credentials, as twine
        // would stop on it.
        std::fs::write(
            &path,
            "[pypi]\npassword = pypi-s3cret-1\npassword = pypi-s3cret-2\n",
        )
        .unwrap();
        assert!(from_pypirc(&path, "pypi", "https://upload.pypi.org/legacy/").is_none());
        // ... and the missing credentials say why, without the values.
        let index = config::Index {
            upload_url: "https://upload.pypi.org/legacy/".into(),
            index_url: "https://pypi.org/simple/".into(),
            username: "__token__".into(),
            token_env: "TWOSTAGE_TEST_UNSET_TOKEN".into(),
            trusted_publishing: TrustedPublishing::Never,
            oidc_url: None,
            attest_command: None,
            new_project_limit: None,
        };
        let refused = for_index(&index, "pypi", Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("line 3: the key `password` given twice"),
            "{refused}"
        );
        assert!(!refused.contains("pypi-s3cret"), "{refused}");
    }
}
