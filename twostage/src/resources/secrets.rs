//! The secret-free environment for other people's code. Everything twostage starts that runs
//! code it did not write (the build command and its backend, the installers and the sdist
//! backends they run, smoke commands, the interpreter's own start-up, and chained hooks) gets
//! the tool's environment minus every upload credential: the known names below, the token
//! variables the configuration names, and every variable, whatever its name, whose value equals
//! one of those or a secret the tool loaded (a `~/.pypirc` password, a minted token). Everything
//! else stays (PATH, compilers, proxies, certificates, `SOURCE_DATE_EPOCH`).
//!
//! It also holds the two other guards on secrets, so that every module that handles one
//! imports downwards from here: `Secret`, a value that never prints itself, and `redact`, which
//! strips `user:password@` from a URL before it reaches a message.
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
    if value.len() >= 8 {
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
    let mut values: BTreeSet<&[u8]> = registry.values.iter().map(|v| v.as_bytes()).collect();
    for (name, value) in env {
        if is_known(name) && value.len() >= 8 {
            values.insert(trim(value.as_encoded_bytes()));
        }
    }
    env.iter()
        .filter(|(name, value)| is_known(name) || values.contains(trim(value.as_encoded_bytes())))
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

/// A URL fit for messages: any `user:password@` removed.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// A message with every URL in it passed through `redact`.
pub fn redact_urls(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            if word.contains("://") {
                redact(word)
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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
    }
}
