//! The secret-free environment for other people's code. Everything twostage starts that runs
//! code it did not write (the build command and its backend, the installers and the sdist
//! backends they run, smoke commands, the interpreter's own start-up, and chained hooks) gets
//! the tool's environment minus every upload credential: the known names below, the token
//! variables the configuration names, and every variable, whatever its name, whose value equals
//! one of those or a secret the tool loaded (a `~/.pypirc` password, a minted token). Everything
//! else stays (PATH, compilers, proxies, certificates, `SOURCE_DATE_EPOCH`).
//!
//! It also holds the other guards on secrets, so that every module that handles one imports
//! downwards from here: `Secret`, a value that never prints itself; `redact`, which strips
//! `user:password@` of any shape from a URL before it reaches a message; and `redact_secrets`,
//! which removes every loaded secret, in every spelling, from a text (what `output` prints
//! goes through it). A configured URL's credentials are loaded secrets like tokens
//! (`remember_url`).
//!
//! This module only decides what to remove; it knows nothing of where secrets come from. The
//! hook shims cannot compute it in `sh`: the tool hands them the names to drop in
//! `TWOSTAGE_SCRUB` (names only, never a value) when it starts a git command that fires hooks.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::process::Command;
use std::sync::Mutex;

/// Names that hold upload or identity credentials wherever they appear: twine's and uv's
/// upload passwords, GitHub's tokens, and GitHub Actions' OIDC request pair, with which any
/// code could mint a PyPI upload token under trusted publishing.
/// `TWINE_USERNAME` stays: a user name is no secret.
pub const KNOWN_NAMES: &[&str] = &[
    "TEST_PYPI_TOKEN",
    "PYPI_TOKEN",
    "TWINE_PASSWORD",
    "UV_PUBLISH_TOKEN",
    "UV_PUBLISH_PASSWORD",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
];

/// The shortest value remembered as a secret.
const MIN_SECRET: usize = 8;

/// The variable that tells the hook shims which names to remove for a chained hook.
pub const SCRUB_VAR: &str = "TWOSTAGE_SCRUB";

struct Registry {
    names: BTreeSet<String>,
    values: BTreeSet<String>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    names: BTreeSet::new(),
    values: BTreeSet::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds variable names that hold secrets here (the configured `token-env` names).
pub fn protect_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) {
    let mut registry = registry();
    for name in names {
        let name = name.as_ref().trim();
        if !name.is_empty() {
            registry.names.insert(name.to_string());
        }
    }
}

/// Remembers a secret value the tool loaded, so that no variable holding it reaches a child.
pub fn remember(value: &str) {
    let value = value.trim();
    // A value this short would match unrelated variables (`1`, `true`); no token is that short.
    if value.len() >= MIN_SECRET {
        registry().values.insert(value.to_string());
    }
}

/// The names of the variables of `env` that must not reach other people's code.
pub fn names_to_remove(env: &[(OsString, OsString)]) -> BTreeSet<OsString> {
    let registry = registry();
    let is_known = |name: &OsString| {
        name.to_str()
            .is_some_and(|n| KNOWN_NAMES.contains(&n) || registry.names.contains(n))
    };
    let mut values: BTreeSet<&[u8]> = BTreeSet::new();
    for (name, value) in env {
        if is_known(name) && value.len() >= MIN_SECRET {
            values.insert(trim(value.as_encoded_bytes()));
        }
    }
    // A loaded secret anywhere in a value (a URL's password, a header) takes the variable
    // with it; a known variable's value, only as a whole copy.
    let loaded = |value: &[u8]| {
        registry
            .values
            .iter()
            .any(|secret| value.windows(secret.len()).any(|w| w == secret.as_bytes()))
    };
    env.iter()
        .filter(|(name, value)| {
            let value = value.as_encoded_bytes();
            is_known(name) || values.contains(trim(value)) || loaded(value)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

fn current_env() -> Vec<(OsString, OsString)> {
    std::env::vars_os().collect()
}

/// Gives `command` the secret-free environment: every credential variable removed, whatever
/// the command sets itself (`env`) is checked too.
pub fn scrub(command: &mut Command) -> &mut Command {
    let mut env = current_env();
    for (name, value) in command.get_envs() {
        env.retain(|(n, _)| n != name);
        if let Some(value) = value {
            env.push((name.to_os_string(), value.to_os_string()));
        }
    }
    for name in names_to_remove(&env) {
        command.env_remove(name);
    }
    command
}

/// For a git command that fires hooks (`git push`, `git hook run`, a commit or a tag): git
/// keeps its environment (a credential helper may read `GH_TOKEN`), and the shims remove the
/// names in `TWOSTAGE_SCRUB` for the foreign hook they chain.
pub fn for_hooks(command: &mut Command) -> &mut Command {
    let names: Vec<String> = names_to_remove(&current_env())
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        // The shims split the list on spaces: only names a shell can spell go through, and
        // those are all a shell's environment can hold.
        .filter(|n| {
            !n.is_empty()
                && !n.starts_with(|c: char| c.is_ascii_digit())
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect();
    command.env(SCRUB_VAR, names.join(" "))
}

/// A credential held in memory. It never prints itself: its `Debug` and `Display` show
/// `***`, so it cannot leak through an error chain or a log.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// A secret, remembered so that no child process gets a variable holding it.
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        remember(&value);
        Secret(value)
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where a URL's credentials are: the byte range of `user:password` (or a lone `token`) in
/// `url`, whatever the password holds. A parser reads `http://rel:s3cr/et@host/` as host `rel`
/// with a bad port, but the writer meant the password `s3cr/et` (and `http://rel:12/s3cr@host/`
/// even parses, as port 12). So an `@` before the first `/`, or a `:` there that is not a
/// port's (digits), or a `:` there and an `@` anywhere after, means credentials, and they run
/// to the last `@` of the URL. A path with an `@` of its own is then shown without its start:
/// a message loses a host and path rather than show a password.
fn userinfo(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let pre = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    // An IPv6 literal's colons are not a password's.
    let after_host = match pre.strip_prefix('[') {
        Some(inner) => inner.find(']').map_or("", |end| &inner[end + 1..]),
        None => pre,
    };
    let port_or_password = after_host.split_once(':').map(|(_, p)| p);
    let credentials = pre.contains('@')
        || port_or_password.is_some_and(|p| {
            !p.bytes().all(|b| b.is_ascii_digit()) || rest[pre.len()..].contains('@')
        });
    let at = rest.rfind('@').filter(|_| credentials)?;
    Some(start..start + at)
}

/// A URL fit for messages: its `user:password@`, of any shape, is `***@`.
pub fn redact(url: &str) -> String {
    match userinfo(url) {
        Some(range) => format!("{}***{}", &url[..range.start], &url[range.end..]),
        None => url.to_string(),
    }
}

/// A message with every URL in it passed through `redact`; its spacing and line breaks stay.
pub fn redact_urls(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut word = String::new();
    for c in message.chars() {
        if c.is_whitespace() {
            out.push_str(&redact(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out.push_str(&redact(&word));
    out
}

/// Remembers the credentials a configured URL carries (its password, or a lone token as the
/// user name), as written and percent-decoded, so that they are kept from children and
/// redacted like tokens. Returns whether the URL carries any.
pub fn remember_url(url: &str) -> bool {
    let Some(range) = userinfo(url) else {
        return false;
    };
    let userinfo = &url[range];
    let secret = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
    remember(secret);
    remember(&percent_decode(secret));
    true
}

/// `%XX` escapes decoded (RFC 3986 section 2.1); an escape that is not one stays as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A text with every secret the tool loaded removed, in every spelling a server or a parser
/// could give it back in (`find_spelled`), and its Base64 form; a part of a secret that was
/// split on whitespace is removed on its own too; and every URL's credentials are removed.
/// Run it on a text before anything reformats it, and again on what is printed.
pub fn redact_secrets(text: &str) -> String {
    use base64::Engine;
    let values: Vec<String> = registry().values.iter().cloned().collect();
    let mut out = redact_urls(text);
    for value in &values {
        out = out.replace(
            &base64::engine::general_purpose::STANDARD.encode(value),
            "***",
        );
        out = replace_spelled(&out, value);
        // A piece on its own (the text was cut between them).
        let pieces: Vec<&str> = value.split_whitespace().collect();
        if pieces.len() > 1 {
            for piece in pieces.iter().filter(|p| p.len() >= MIN_SECRET / 2) {
                out = replace_spelled(&out, piece);
            }
        }
    }
    out
}

/// Every occurrence of `secret` in `text` replaced with `***`, however it is spelled there.
fn replace_spelled(text: &str, secret: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    let mut at = 0;
    while at < text.len() {
        match find_spelled(&text.as_bytes()[at..], secret.as_bytes()) {
            Some(len) if text.is_char_boundary(at) && text.is_char_boundary(at + len) => {
                out.push_str(&text[from..at]);
                out.push_str("***");
                at += len;
                from = at;
            }
            _ => at += 1,
        }
    }
    out.push_str(&text[from..]);
    out
}

/// How many bytes at the start of `text` spell `secret`, if they do: each of its bytes as
/// itself or percent-encoded (`%2F`, `%2f`: RFC 3986 section 2.1, whichever bytes an encoder
/// chose); a space also as `+` (a form); `/` also as `\/` and a line break or tab also as
/// `\n`, `\r`, `\t` (JSON); and whitespace in the secret as any run of whitespace, or none (a
/// reader that joined or split its lines).
fn find_spelled(text: &[u8], secret: &[u8]) -> Option<usize> {
    let mut i = 0;
    for &byte in secret {
        if byte.is_ascii_whitespace() {
            while let Some(n) = whitespace_at(&text[i..]) {
                i += n;
            }
            continue;
        }
        i += spelled_at(&text[i..], byte)?;
    }
    (i > 0).then_some(i)
}

fn spelled_at(text: &[u8], byte: u8) -> Option<usize> {
    match text {
        [first, ..] if *first == byte => Some(1),
        [b'%', hi, lo, ..] if decoded(*hi, *lo) == Some(byte) => Some(3),
        [b'\\', b'/', ..] if byte == b'/' => Some(2),
        _ => None,
    }
}

fn whitespace_at(text: &[u8]) -> Option<usize> {
    match text {
        [first, ..] if first.is_ascii_whitespace() || *first == b'+' => Some(1),
        [b'%', hi, lo, ..] if decoded(*hi, *lo).is_some_and(|b| b.is_ascii_whitespace()) => Some(3),
        [b'\\', b'n' | b'r' | b't', ..] => Some(2),
        _ => None,
    }
}

fn decoded(hi: u8, lo: u8) -> Option<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    Some((hex(hi)? * 16 + hex(lo)?) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(n, v)| (OsString::from(n), OsString::from(v)))
            .collect()
    }

    #[test]
    fn known_names_configured_names_and_copies_are_removed() {
        protect_names(["MY_INDEX_TOKEN_FOR_UNIT_TEST"]);
        remember("pypi-loaded-from-pypirc-unit");
        let removed = names_to_remove(&env(&[
            ("PATH", "/usr/bin"),
            ("SOURCE_DATE_EPOCH", "1795478400"),
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("TWINE_USERNAME", "__token__"),
            ("PYPI_TOKEN", "pypi-production-value"),
            ("MY_COPY", "pypi-production-value"),
            ("MY_INDEX_TOKEN_FOR_UNIT_TEST", "custom-token-value"),
            ("ANOTHER_COPY", " custom-token-value\n"),
            ("FROM_PYPIRC", "pypi-loaded-from-pypirc-unit"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x"),
            ("SHORT", "1"),
        ]));
        let removed: Vec<&str> = removed.iter().map(|n| n.to_str().unwrap()).collect();
        assert_eq!(
            removed,
            [
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "ANOTHER_COPY",
                "FROM_PYPIRC",
                "MY_COPY",
                "MY_INDEX_TOKEN_FOR_UNIT_TEST",
                "PYPI_TOKEN",
            ]
        );
    }

    #[test]
    fn a_scrubbed_command_keeps_what_it_sets_itself() {
        let mut command = Command::new("true");
        command
            .env("PATH", "/bin")
            .env("GH_TOKEN", "gh-token-set-here");
        scrub(&mut command);
        let envs: Vec<_> = command.get_envs().collect();
        assert!(envs.contains(&(
            std::ffi::OsStr::new("PATH"),
            Some(std::ffi::OsStr::new("/bin"))
        )));
        assert!(envs.contains(&(std::ffi::OsStr::new("GH_TOKEN"), None)));
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("https://u:secret@host:1/simple/"),
            "https://***@host:1/simple/"
        );
        assert_eq!(redact("https://host/a@b"), "https://host/a@b");
        assert_eq!(redact("https://host:8080/a/b"), "https://host:8080/a/b");
        assert_eq!(redact("http://[::1]:3141/a/b"), "http://[::1]:3141/a/b");
        // A port and an `@` after it may be a password of digits and `/`: not shown.
        assert_eq!(redact("https://u:12/34@host/a"), "https://***@host/a");
        assert_eq!(redact("https://host:8080/a@b"), "https://***@b");
        // Passwords holding `/`, `@`, `:`, `?` or `#` unescaped, and a lone token.
        for url in [
            "http://rel:s3cr/et@host/simple/",
            "http://rel:s3@cr/et@host/simple/",
            "http://rel:s3:cr@et@host/simple/",
            "http://rel:s3?cr#et@host/simple/",
            "http://rel:s3cr%2Fet@host/simple/",
            "http://s3cr3t-token@host/simple/",
        ] {
            assert_eq!(redact(url), "http://***@host/simple/", "{url}");
        }
        assert_eq!(
            redact_urls("at `http://rel:s3cr/et@host/` and\nhttps://u:p@x/"),
            "at `http://***@host/` and\nhttps://***@x/"
        );
    }

    #[test]
    fn loaded_secrets_are_redacted_in_every_spelling() {
        remember("pypi-Ab/c+d=e f\nSPLIT-unit-test");
        let shown = redact_secrets(
            "raw pypi-Ab/c+d=e f\nSPLIT-unit-test, joined pypi-Ab/c+d=e f SPLIT-unit-test, \
             escaped pypi-Ab%2Fc%2Bd%3De%20f%0ASPLIT-unit-test, lower pypi-Ab%2fc%2bd%3de%20f%0aSPLIT-unit-test, \
             json pypi-Ab/c+d=e f\\nSPLIT-unit-test, cut SPLIT-unit-test",
        );
        assert!(!shown.contains("SPLIT"), "{shown}");
        assert!(!shown.contains("Ab/c"), "{shown}");
        assert!(
            shown.starts_with("raw ***, joined ***, escaped ***"),
            "{shown}"
        );
        // Whichever bytes an encoder chose to escape, in either case.
        let shown = redact_secrets("odd pypi%2DAb/c%2bd=e%0a f+SPLIT%2Dunit-test.");
        assert_eq!(shown, "odd ***.");
        assert_eq!(redact_secrets("nothing here"), "nothing here");
    }

    #[test]
    fn url_credentials_are_secrets() {
        assert!(remember_url("http://rel:s3cr%2Fet-unit@host/simple/"));
        assert!(!remember_url("http://host/simple/"));
        assert_eq!(redact_secrets("got s3cr/et-unit back"), "got *** back");
        let removed = names_to_remove(&env(&[
            (
                "TWOSTAGE_STAGING_INDEX_URL",
                "http://rel:s3cr%2Fet-unit@host/simple/",
            ),
            ("PIP_INDEX_URL", "http://rel:s3cr%2Fet-unit@host/other/"),
            ("PATH", "/usr/bin"),
        ]));
        let removed: Vec<&str> = removed.iter().map(|n| n.to_str().unwrap()).collect();
        assert_eq!(removed, ["PIP_INDEX_URL", "TWOSTAGE_STAGING_INDEX_URL"]);
    }
}
