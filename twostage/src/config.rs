//! The configuration: a typed record read with serde, every key spelled once, as the field of
//! its table's type (`rename_all = "kebab-case"`), its default in `DEFAULTS`. It lives in
//! `[tool.twostage]` of `pyproject.toml`, where Python tools keep theirs
//! (https://packaging.python.org/en/latest/specifications/pyproject-toml/#arbitrary-tool-configuration-the-tool-table),
//! or in a `release.toml` of twostage's own; see `load` for which wins.
//!
//! The file is parsed with `toml_edit` so that an error can name the line. Every key can be
//! overridden by `TWOSTAGE_<SECTION>_<KEY>` (upper case, `-` → `_`). Each setting given is read
//! alone first, so that every problem is said at once with its line or variable; then the
//! whole, over the defaults. Unknown keys, in the file or in such a variable, are errors
//! (`deny_unknown_fields`): a typo must not silently fall back to a default.
//! This module only reads; it knows nothing of what the settings are used for.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde::de::{Deserializer, IntoDeserializer};
use serde::Deserialize;
use toml_edit::{Item, TableLike};

use crate::error::UsageError;

mod members;
mod raw;

pub use members::{check_paths, IndexOverride, Member};
use raw::{Problem, Raw, Table, Tables};

pub const FILE_NAME: &str = "release.toml";

/// The list of a repository's packages when it holds several (`[[packages]]`).
const PACKAGES: &str = "packages";

/// The project's manifest, whose `[tool.twostage]` holds the configuration.
pub const PYPROJECT: &str = "pyproject.toml";

/// The tables of `[tool.twostage]`, as a path from the document's root.
const TOOL_TABLE: [&str; 2] = ["tool", "twostage"];

/// Every default, read beneath the file and the environment (docs/configuration.md lists
/// them). A key absent here has none: it is `None`, worked out where it is used.
const DEFAULTS: &str = r#"
[package]
manifest = "pyproject.toml"
version-files = []
changelog = "CHANGELOG.md"
[git]
remote = "origin"
branch = "main"
tag-prefix = "v"
prod-suffix = "-prod"
sign = false
[build]
repair = true
[staging]
upload-url = "https://test.pypi.org/legacy/"
index-url = "https://test.pypi.org/simple/"
username = "__token__"
token-env = "TEST_PYPI_TOKEN"
trusted-publishing = "auto"
[production]
upload-url = "https://upload.pypi.org/legacy/"
index-url = "https://pypi.org/simple/"
username = "__token__"
token-env = "PYPI_TOKEN"
trusted-publishing = "auto"
[verify]
smoke = []
artifacts = ["wheel", "sdist"]
index-timeout = "15m"
timeout = "10m"
installer = "auto"
python = []
[github]
token-env = "GITHUB_TOKEN"
api-url = "https://api.github.com"
"#;

/// The tables, in the order their names are listed in messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub package: Package,
    pub git: Git,
    pub build: Build,
    pub staging: Index,
    pub production: Index,
    pub verify: Verify,
    pub github: Github,
    /// `[[packages]]`: the repository's packages when it holds several; empty for one
    /// package, which `[package]` describes (docs/monorepo.md).
    #[serde(skip)]
    pub packages: Vec<Member>,
    /// Where the configuration was read, for messages that name a key: `release.toml`, or
    /// `[tool.twostage]` of `pyproject.toml`; empty when neither holds it (every default).
    #[serde(skip)]
    pub home: &'static str,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Package {
    /// The distribution name; by default read from the manifest.
    #[serde(default, deserialize_with = "optional")]
    pub name: Option<String>,
    pub manifest: String,
    pub version_files: Vec<String>,
    pub changelog: String,
    /// The package's folder relative to the repository root (`""`: the root). Set only in
    /// the configuration of one package of several (`Config::for_package`).
    #[serde(skip)]
    pub folder: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Git {
    pub remote: String,
    pub branch: String,
    pub tag_prefix: String,
    /// `git.tag-prefix` was set (file or environment). When it was not, `tag_prefix` is
    /// settled from the repository's tags before any step runs (`project::settled_prefix`).
    #[serde(skip)]
    pub tag_prefix_set: bool,
    pub prod_suffix: String,
    pub sign: bool,
    /// The tags of one package of several (`Config::for_package`); `None`: the
    /// single-package `<tag-prefix><version>`.
    #[serde(skip)]
    pub package_tags: Option<crate::package_tags::PackageTags>,
}

impl Git {
    /// How this project (or this package of several) names its release tags.
    pub fn tag_scheme(&self) -> crate::version::TagScheme {
        match &self.package_tags {
            Some(tags) => tags.scheme(),
            None => crate::version::TagScheme {
                prefix: self.tag_prefix.clone(),
                suffix: String::new(),
                prod_suffix: self.prod_suffix.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Build {
    /// `None`: `uv build` where uv is found, else `python -m build`.
    #[serde(default, deserialize_with = "optional")]
    pub command: Option<String>,
    /// `build.repair`: whether a `linux_*` wheel the build leaves is repaired with
    /// `auditwheel repair` before it is frozen (docs/pypi-rules.md); on unless `false`.
    pub repair: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Index {
    #[serde(deserialize_with = "url")]
    pub upload_url: String,
    #[serde(deserialize_with = "url")]
    pub index_url: String,
    pub username: String,
    pub token_env: String,
    pub trusted_publishing: TrustedPublishing,
    /// Where the index's `/_/oidc/` endpoints live; by default the upload URL's origin.
    #[serde(default, deserialize_with = "optional_url")]
    pub oidc_url: Option<String>,
    /// `attest-command`: the PEP 740 signer run as `<command…> <file>` under trusted
    /// publishing; `None` is the default, `pypi-attestations sign`; empty: no attestations.
    #[serde(default)]
    pub attest_command: Option<Vec<String>>,
    /// `new-project-limit`: how many new projects the index creates per user in 24 hours, for
    /// the preflight of a release of several packages (docs/monorepo.md); `None`: the limit
    /// known for the index's host (Warehouse's 4 on pypi.org and test.pypi.org), else none.
    #[serde(default, deserialize_with = "new_project_limit")]
    pub new_project_limit: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Verify {
    #[serde(deserialize_with = "commands")]
    pub smoke: Vec<String>,
    /// `verify.smoke` was set, even to `[]`. When it was not, verify imports the top-level
    /// names of the release's wheel (docs/verify.md, "The default smoke test").
    #[serde(skip)]
    pub smoke_set: bool,
    #[serde(deserialize_with = "artifacts")]
    pub artifacts: Vec<ArtifactKind>,
    #[serde(deserialize_with = "duration")]
    pub index_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    pub installer: InstallerChoice,
    /// `verify.python`: the interpreter versions (`3.12`, or `3.12.1`) each file is verified
    /// on; empty: every interpreter found that the project's `requires-python` admits.
    #[serde(deserialize_with = "python")]
    pub python: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Github {
    /// `owner/name`; by default parsed from the remote's URL.
    #[serde(default, deserialize_with = "optional")]
    pub repository: Option<String>,
    pub token_env: String,
    #[serde(deserialize_with = "url")]
    pub api_url: String,
}

/// A setting whose value is one of a few words: parsed once at load, matched as a type after.
macro_rules! closed_set {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            pub fn parse(word: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == word)
            }

            /// "`a`, `b` or `c`", for error messages.
            fn choices() -> String {
                let words: Vec<String> = Self::ALL.iter().map(|v| format!("`{}`", v.as_str())).collect();
                match words.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<$name, D::Error> {
                let word = String::deserialize(d)?;
                $name::parse(&word).ok_or_else(|| {
                    serde::de::Error::custom(format!("must be {}, not `{word}`", $name::choices()))
                })
            }
        }
    };
}

closed_set! {
    /// `verify.installer`: `auto` is uv when it is on PATH, else pip.
    InstallerChoice { Auto = "auto", Uv = "uv", Pip = "pip" }
}

closed_set! {
    /// An entry of `verify.artifacts`: which kinds of file are installed and smoke-tested
    /// (`resources::dist::Kind` is this type).
    ArtifactKind { Wheel = "wheel", Sdist = "sdist" }
}

closed_set! {
    /// `trusted-publishing`: `auto` mints a token from the CI's OIDC identity when no token is
    /// configured; `always` only mints; `never` only uses a configured token.
    TrustedPublishing { Auto = "auto", Always = "always", Never = "never" }
}

type De<T, E> = std::result::Result<T, E>;

/// A string whose absence (or emptiness) means "work it out".
fn optional<'de, D: Deserializer<'de>>(d: D) -> De<Option<String>, D::Error> {
    Ok(Some(String::deserialize(d)?).filter(|s| !s.is_empty()))
}

/// A URL setting, read through `raw::URL` so that a variable holding one is known. Its
/// `user:password@` is a secret from here on: kept from other people's code and from every
/// message, like a token (the variable that held it is dropped from children too).
fn read_url<'de, D: Deserializer<'de>>(d: D) -> De<String, D::Error> {
    struct Read;
    impl<'de> serde::de::Visitor<'de> for Read {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> De<String, D::Error> {
            String::deserialize(d)
        }
        fn visit_str<E: serde::de::Error>(self, url: &str) -> De<String, E> {
            Ok(url.to_string())
        }
    }
    let url = d.deserialize_newtype_struct(raw::URL, Read)?;
    crate::resources::secrets::remember_url(&url);
    Ok(url)
}

/// Each URL setting parses, with an `http` or `https` scheme and a host. Without this,
/// `127.0.0.1:9/` would reach the HTTP client and come back as a network fault.
fn url<'de, D: Deserializer<'de>>(d: D) -> De<String, D::Error> {
    let url = read_url(d)?;
    check_url(&url).map_err(serde::de::Error::custom)?;
    Ok(url)
}

/// An empty `oidc-url` means the default, the upload URL's origin.
fn optional_url<'de, D: Deserializer<'de>>(d: D) -> De<Option<String>, D::Error> {
    let url = read_url(d)?;
    if url.is_empty() {
        return Ok(None);
    }
    check_url(&url).map_err(serde::de::Error::custom)?;
    Ok(Some(url))
}

/// A number of seconds, or a duration written as `parse_duration` reads it.
fn duration<'de, D: Deserializer<'de>>(d: D) -> De<Duration, D::Error> {
    struct Read;
    impl serde::de::Visitor<'_> for Read {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"90s\", \"10m\" or \"1h\"")
        }
        fn visit_u64<E: serde::de::Error>(self, secs: u64) -> De<Duration, E> {
            Ok(Duration::from_secs(secs))
        }
        fn visit_i64<E: serde::de::Error>(self, secs: i64) -> De<Duration, E> {
            u64::try_from(secs)
                .map(Duration::from_secs)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(secs), &self))
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> De<Duration, E> {
            parse_duration(text)
                .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(""), &self))
        }
    }
    d.deserialize_any(Read)
}

/// A count of projects: a whole number (from the file, or a variable's text).
fn new_project_limit<'de, D: Deserializer<'de>>(d: D) -> De<Option<usize>, D::Error> {
    struct Read;
    impl serde::de::Visitor<'_> for Read {
        type Value = Option<usize>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number of projects, such as 4")
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> De<Option<usize>, E> {
            usize::try_from(n)
                .map(Some)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(n), &self))
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> De<Option<usize>, E> {
            usize::try_from(n)
                .map(Some)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> De<Option<usize>, E> {
            text.trim()
                .parse()
                .map(Some)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(""), &self))
        }
    }
    d.deserialize_any(Read)
}

/// No smoke command may be empty: it would pass as a test that tests nothing.
fn commands<'de, D: Deserializer<'de>>(d: D) -> De<Vec<String>, D::Error> {
    let commands = Vec::<String>::deserialize(d)?;
    if commands.iter().any(|c| c.trim().is_empty()) {
        return Err(serde::de::Error::custom(
            "holds an empty command: remove the entry `\"\"`, or write the command it should run",
        ));
    }
    Ok(commands)
}

/// Words of `ArtifactKind`, each once; each unknown word is a problem (one a line).
fn artifacts<'de, D: Deserializer<'de>>(d: D) -> De<Vec<ArtifactKind>, D::Error> {
    let mut artifacts = Vec::new();
    let mut problems = Vec::new();
    for word in Vec::<String>::deserialize(d)? {
        match ArtifactKind::parse(&word) {
            Some(kind) if !artifacts.contains(&kind) => artifacts.push(kind),
            Some(_) => {}
            None => problems.push(format!(
                "may hold {}, not `{word}`",
                ArtifactKind::choices().replace(" or ", " and ")
            )),
        }
    }
    match problems.is_empty() {
        true => Ok(artifacts),
        false => Err(serde::de::Error::custom(problems.join("\n"))),
    }
}

/// `verify.python`: versions such as `3.12` or `3.12.1`; an entry may hold several,
/// separated by commas or spaces (as `TWOSTAGE_VERIFY_PYTHON="3.11 3.12"` does). Each bad
/// one is a problem (one a line).
fn python<'de, D: Deserializer<'de>>(d: D) -> De<Vec<String>, D::Error> {
    let entries = Vec::<String>::deserialize(d)?;
    let mut versions: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for version in entries
        .iter()
        .flat_map(|e| e.split([',', ' ']).filter(|v| !v.is_empty()))
    {
        let parts: Vec<&str> = version.split('.').collect();
        let numeric = parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !numeric || !(2..=3).contains(&parts.len()) {
            problems.push(format!(
                "holds `{version}`: write a version such as `3.12` or `3.12.1`"
            ));
        } else if !versions.iter().any(|v| v == version) {
            versions.push(version.to_string());
        }
    }
    match problems.is_empty() {
        true => Ok(versions),
        false => Err(serde::de::Error::custom(problems.join("\n"))),
    }
}

/// Where a setting came from, so that a problem names its line or its variable.
#[derive(Debug, Clone)]
enum Origin {
    /// `DEFAULTS`.
    Default,
    /// `release.toml:12`, in the table written `[tool.twostage.git]` (or `[git]`).
    File { at: String, table: String },
    /// `TWOSTAGE_VERIFY_INSTALLER`
    Env(String),
}

impl Origin {
    fn problem(&self, section: &str, key: &str, message: &str) -> String {
        match self {
            Origin::Default => format!("the default of `{section}.{key}` {message}"),
            Origin::File { at, .. } => format!("{at}: `{section}.{key}` {message}"),
            Origin::Env(name) => {
                format!("environment variable `{name}` (`{section}.{key}`) {message}")
            }
        }
    }

    fn unknown(&self, section: &str, key: &str, keys: &[&str]) -> String {
        match self {
            Origin::File { at, table } => format!(
                "{at}: unknown key `{key}` in `[{table}]` (expected one of: {})",
                raw::list(keys)
            ),
            Origin::Env(name) => format!(
                "environment variable `{name}` names no setting of `[{section}]` (its keys: {})",
                raw::list(keys)
            ),
            Origin::Default => format!("the default `{section}.{key}` is not a setting"),
        }
    }
}

/// One setting as given, and where.
#[derive(Debug, Clone)]
struct Entry {
    raw: Raw,
    origin: Origin,
}

/// A table's settings by key, in the order they were given.
type Settings = Vec<(String, Entry)>;

/// The settings of one load by table and key (a variable's in place of the file's), in the
/// order they were given, with the problems found in them so far.
#[derive(Default)]
struct Given {
    settings: Vec<(&'static str, Settings)>,
    /// `[[packages]]` as written, the file's name and text (for the lines of messages).
    packages: Option<(Item, String, String)>,
    problems: Vec<String>,
}

/// The tables' names, as `Config`'s fields.
fn sections() -> &'static [&'static str] {
    raw::fields::<Config>()
}

impl Config {
    /// Loads the configuration from the repository root, then applies the environment, and
    /// checks the whole: the files it names exist under `root`.
    ///
    /// Where it comes from: a `release.toml` of twostage's own, else `[tool.twostage]` of
    /// `pyproject.toml`; both at once is an error naming both. A `release.toml` that is
    /// cargo-release's (see `is_foreign`) is left alone and said once; then `[tool.twostage]`,
    /// or every default when there is none. Neither file: twostage is not set up.
    pub fn load(root: &Path) -> Result<Config> {
        let env = std::env::vars();
        let release = read_regular(root, FILE_NAME)?;
        let foreign = release.as_deref().is_some_and(is_foreign);
        if let Some(text) = release.as_deref().filter(|_| !foreign) {
            if pyproject_has_table(root) {
                return Err(UsageError(format!(
                    "`{}` has its configuration twice, in `{FILE_NAME}` and in `[tool.twostage]` \
                     of `{PYPROJECT}`: keep one (move the keys into one place and delete the other)",
                    root.display()
                ))
                .into());
            }
            return Self::parse_in(text, FILE_NAME, env, Some(root)).map(|mut config| {
                config.home = "`release.toml`";
                config
            });
        }
        if foreign {
            say_foreign_once();
        }
        if let Some(text) = read_regular(root, PYPROJECT)? {
            if let Some(given) = parse_pyproject(&text, PYPROJECT).map_err(UsageError)? {
                return Self::from_given(given, env, Some(root)).map(|mut config| {
                    config.home = "`[tool.twostage]` of `pyproject.toml`";
                    config
                });
            }
        }
        if foreign {
            return Self::parse_in("", FILE_NAME, env, Some(root));
        }
        Err(UsageError(format!(
            "no `[tool.twostage]` in `{PYPROJECT}` and no `{FILE_NAME}` in `{}`: twostage is not \
             set up in this repository; run `cargo xtask init {}` to write its configuration \
             from your `pyproject.toml`, or add `[tool.twostage]` by hand (every key is \
             optional; see docs/configuration.md)",
            root.display(),
            root.display()
        ))
        .into())
    }

    /// The names of every variable that holds a token: the repository's staging, production
    /// and GitHub ones and each package's own (`[packages.staging] token-env`), each once.
    pub fn token_env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let own = self.packages.iter().flat_map(|m| {
            [&m.staging.token_env, &m.production.token_env]
                .into_iter()
                .flatten()
        });
        let repository = [
            &self.staging.token_env,
            &self.production.token_env,
            &self.github.token_env,
        ];
        for name in repository.into_iter().chain(own) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// Whether the repository holds several packages (`[[packages]]`).
    pub fn is_multi_package(&self) -> bool {
        !self.packages.is_empty()
    }

    /// The configuration `name` (a distribution name, in any spelling) is released with: its
    /// manifest, version files, changelog, folder, tags, smoke commands and index settings in
    /// place of the repository's. `None` when it is not one of `[[packages]]`.
    pub fn for_package(&self, name: &str) -> Option<Config> {
        let wanted = crate::resources::dist::normalize_name(name);
        let member = self.packages.iter().find(|m| m.name == wanted)?;
        let mut config = self.clone();
        config.package = Package {
            name: Some(member.name.clone()),
            manifest: member.manifest.clone(),
            version_files: member.version_files.clone(),
            changelog: member.changelog.clone(),
            folder: member.folder.clone(),
        };
        config.git.package_tags = Some(member.tags.clone());
        if let Some(smoke) = &member.smoke {
            config.verify.smoke = smoke.clone();
            config.verify.smoke_set = true;
        }
        member.staging.apply(&mut config.staging);
        member.production.apply(&mut config.production);
        Some(config)
    }

    /// The package of `[[packages]]` whose tag `tag` is, with its configuration and the tag
    /// read; `None` when no package's scheme reads it (or there is one package).
    pub fn for_tag(&self, tag: &str) -> Option<(Config, crate::version::ReleaseTag)> {
        let schemes: Vec<_> = self.packages.iter().map(|m| m.tags.clone()).collect();
        let (owner, read) = crate::package_tags::owner(&schemes, tag)?;
        Some((self.for_package(&owner.package)?, read))
    }

    /// The package this configuration releases, when it is one of several.
    pub fn member(&self) -> Option<&Member> {
        let tags = self.git.package_tags.as_ref()?;
        self.packages.iter().find(|m| m.name == tags.package)
    }

    /// A key as a message names it, with where to set it: "`git.branch` in `release.toml`".
    pub fn key_in_home(&self, key: &str) -> String {
        match self.home {
            "" => format!("`{key}` in `[tool.twostage]` of `pyproject.toml`"),
            home => format!("`{key}` in {home}"),
        }
    }

    /// Parses `[tool.twostage]` of a `pyproject.toml` text (named `origin` in errors) with the
    /// given environment; `None` when the document has no such table.
    pub fn parse_pyproject(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Option<Config>> {
        match parse_pyproject(text, origin).map_err(UsageError)? {
            Some(given) => Self::from_given(given, env, None).map(Some),
            None => Ok(None),
        }
    }

    /// Parses the file's text (named `origin` in errors) with the given environment; the
    /// files it names are not looked for.
    pub fn parse(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config> {
        Self::parse_in(text, origin, env, None)
    }

    /// Every problem is collected, from the file, the environment and the checks of the
    /// values, and reported together: a usage error (exit code 2).
    fn parse_in(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
        root: Option<&Path>,
    ) -> Result<Config> {
        let given = parse_file(text, origin).map_err(UsageError)?;
        Self::from_given(given, env, root)
    }

    fn from_given(
        mut given: Given,
        env: impl IntoIterator<Item = (String, String)>,
        root: Option<&Path>,
    ) -> Result<Config> {
        given.read_env(env);
        given.check_each();
        given
            .into_config(root)
            .map_err(|problems| UsageError(problems.join("\n")).into())
    }
}

impl Given {
    /// `key` of `section` is `entry`, in place of what was given before.
    fn set(&mut self, section: &'static str, key: String, entry: Entry) {
        let at = match self.settings.iter().position(|(s, _)| *s == section) {
            Some(at) => at,
            None => {
                self.settings.push((section, Vec::new()));
                self.settings.len() - 1
            }
        };
        let keys = &mut self.settings[at].1;
        match keys.iter_mut().find(|(k, _)| *k == key) {
            Some((_, given)) => *given = entry,
            None => keys.push((key, entry)),
        }
    }

    /// What was given for `key` of `section`, but not by `DEFAULTS`.
    fn given(&self, section: &str, key: &str) -> Option<&Origin> {
        let (_, keys) = self.settings.iter().find(|(s, _)| *s == section)?;
        let (_, entry) = keys.iter().find(|(k, _)| k == key)?;
        Some(&entry.origin).filter(|origin| !matches!(origin, Origin::Default))
    }

    /// The settings of `tables` (a document's root, or `[tool.twostage]`) of the text named
    /// `origin`, their tables' names written in errors after `prefix`.
    fn read_tables(&mut self, text: &str, tables: &dyn TableLike, origin: &str, prefix: &str) {
        for (section, item) in tables.iter() {
            if section == PACKAGES {
                self.packages = Some((item.clone(), origin.to_string(), text.to_string()));
                continue;
            }
            let at = line_of(text, tables.key(section).and_then(|k| k.span()));
            let Some(table) = item.as_table_like() else {
                self.problems.push(format!(
                    "{origin}{at}: `{prefix}{section}` must be a table such as `[{prefix}{section}]`"
                ));
                continue;
            };
            let Some(&section) = sections().iter().find(|s| **s == section) else {
                self.problems.push(format!(
                    "{origin}{at}: unknown section `[{prefix}{section}]` (expected one of: {})",
                    sections()
                        .iter()
                        .map(|s| format!("`[{prefix}{s}]`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            };
            for (key, item) in table.iter() {
                let at = line_of(text, table.key(key).and_then(|k| k.span()));
                let origin = Origin::File {
                    at: format!("{origin}{at}"),
                    table: format!("{prefix}{section}"),
                };
                let raw = Raw::Toml(value_of(item.clone()));
                self.set(section, key.to_string(), Entry { raw, origin });
            }
        }
    }

    /// `TWOSTAGE_<SECTION>_<KEY>` overrides, over the file's settings. A key the section does
    /// not have is said when the settings are checked.
    fn read_env(&mut self, env: impl IntoIterator<Item = (String, String)>) {
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("TWOSTAGE_") else {
                continue;
            };
            let Some(&section) = sections()
                .iter()
                .find(|s| rest.starts_with(&format!("{}_", s.to_ascii_uppercase())))
            else {
                // TWOSTAGE_BIN, TWOSTAGE_SKIP and the like are not configuration.
                continue;
            };
            let part = &rest[section.len() + 1..];
            // The variable is upper case: a lower-case one names no key (the name is none).
            let key = match part.bytes().any(|b| b.is_ascii_lowercase()) {
                true => name.clone(),
                false => part.to_ascii_lowercase().replace('_', "-"),
            };
            let origin = Origin::Env(name.clone());
            let entry = Entry {
                raw: Raw::Env { name, value },
                origin,
            };
            self.set(section, key, entry);
        }
    }

    /// Reads each setting alone, so that every problem is said with its line or variable.
    fn check_each(&mut self) {
        for &(section, ref keys) in &self.settings {
            for (key, entry) in keys {
                let one = Table(vec![(key.clone(), entry.raw.clone())]);
                let alone = Tables(vec![(section, one)]).into_deserializer();
                match Config::deserialize(alone) {
                    Ok(_) | Err(Problem::Missing) => {}
                    Err(Problem::Unknown(keys)) => {
                        self.problems.push(entry.origin.unknown(section, key, keys));
                    }
                    Err(Problem::Said(message)) => self.problems.extend(
                        message
                            .lines()
                            .map(|line| entry.origin.problem(section, key, line)),
                    ),
                }
            }
        }
    }

    /// The whole, over the defaults, once every setting reads; then the files it names are
    /// checked under `root`.
    fn into_config(mut self, root: Option<&Path>) -> std::result::Result<Config, Vec<String>> {
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        let mut defaults = Given::default();
        let text = DEFAULTS;
        let doc = parse_toml(text, "defaults").map_err(|e| vec![e])?;
        defaults.read_tables(text, doc.as_table(), "defaults", "");
        for (section, keys) in defaults.settings {
            for (key, mut entry) in keys {
                if self.given(section, &key).is_none() {
                    entry.origin = Origin::Default;
                    self.set(section, key, entry);
                }
            }
        }
        let packages = self.packages.take();
        let single_keys: Vec<&str> = ["name", "manifest", "version-files", "changelog"]
            .into_iter()
            .filter(|key| self.given("package", key).is_some())
            .collect();
        let tag_prefix_set = self.given("git", "tag-prefix").is_some();
        let smoke_set = self.given("verify", "smoke").is_some();
        // The files it names, when given, with what an absent one is told (the changelog may be).
        let files = [
            ("manifest", Some(ABSENT_MANIFEST)),
            ("version-files", Some(ABSENT_VERSION_FILE)),
            ("changelog", None),
        ]
        .map(|(key, absent)| (self.given("package", key).cloned(), key, absent));
        let tables = self.settings.into_iter().map(|(section, keys)| {
            let keys = keys.into_iter().map(|(key, entry)| (key, entry.raw));
            (section, Table(keys.collect()))
        });
        let mut config = Config::deserialize(Tables(tables.collect()).into_deserializer())
            .map_err(|e| vec![format!("the configuration {e}")])?;
        config.git.tag_prefix_set = tag_prefix_set;
        config.verify.smoke_set = smoke_set;
        let mut problems = Vec::new();
        if let Some((item, origin, text)) = packages {
            let at = |span| format!("{origin}{}", line_of(&text, span));
            match members::read(&item, &at, &config.git.prod_suffix, root) {
                Ok(members) => config.packages = members,
                Err(found) => problems.extend(found),
            }
            if let Some(key) = single_keys.first() {
                problems.push(format!(
                    "{}: `package.{key}` is set beside `[[packages]]`: in a repository of \
                     several packages each `[[packages]]` entry sets its own; remove it from \
                     `[package]`",
                    at(item.span())
                ));
            }
        }
        if let Some(root) = root {
            let package = &config.package;
            let paths = [
                std::slice::from_ref(&package.manifest),
                &package.version_files[..],
                std::slice::from_ref(&package.changelog),
            ];
            for ((origin, key, absent), paths) in files.into_iter().zip(paths) {
                if let Some(origin) = origin {
                    let file = (&origin, key, absent);
                    problems.extend(check_files(root, file, paths));
                }
            }
        }
        match problems.is_empty() {
            true => Ok(config),
            false => Err(problems),
        }
    }
}

/// A table's item as a value: a subtable where a value belongs is refused as the value it is.
fn value_of(item: Item) -> toml_edit::Value {
    match item {
        Item::Value(value) => value,
        Item::Table(table) => toml_edit::Value::InlineTable(table.into_inline_table()),
        Item::ArrayOfTables(tables) => toml_edit::Value::Array(tables.into_array()),
        Item::None => toml_edit::Value::InlineTable(Default::default()),
    }
}

/// The manifest, when set, each version file and the changelog, when set, are regular files
/// inside the repository: relative, without `..`, and with no symbolic link anywhere on the
/// way, so that a release writes only the repository's own files. The manifest and the
/// version files must exist; the changelog may be absent: the release then starts none.
fn check_files(
    root: &Path,
    (origin, key, absent): (&Origin, &str, Option<&str>),
    paths: &[String],
) -> Vec<String> {
    let mut problems = Vec::new();
    for path in paths {
        let why = match (file_inside(root, path), absent) {
            (Ok(Presence::File), _) | (Ok(Presence::Absent), None) => continue,
            (Ok(Presence::Absent), Some(absent)) => {
                format!("is not a file in `{}`: {absent}", root.display())
            }
            (Err(why), _) => why,
        };
        let message = format!("names `{}`, which {why}", path.escape_debug());
        problems.push(origin.problem("package", key, &message));
    }
    problems
}

const ABSENT_MANIFEST: &str = "write the path of the project's `pyproject.toml` (or `setup.py`), \
                               relative to the repository root";
const ABSENT_VERSION_FILE: &str =
    "write paths relative to the repository root, or remove the entry";

/// A `release.toml` of twostage's own: its tables are the configuration's.
fn parse_file(text: &str, origin: &str) -> std::result::Result<Given, String> {
    let doc = parse_toml(text, origin)?;
    let mut given = Given::default();
    given.read_tables(text, doc.as_table(), origin, "");
    Ok(given)
}

/// `[tool.twostage]` of a `pyproject.toml`, `None` when the document has none.
fn parse_pyproject(text: &str, origin: &str) -> std::result::Result<Option<Given>, String> {
    let doc = parse_toml(text, origin)?;
    let Some(tool) = doc.as_table().get(TOOL_TABLE[0]) else {
        return Ok(None);
    };
    let at = line_of(
        text,
        doc.as_table().key(TOOL_TABLE[0]).and_then(|k| k.span()),
    );
    let Some(tool) = tool.as_table_like() else {
        return Err(format!(
            "{origin}{at}: `tool` must be a table such as `[tool]`"
        ));
    };
    let Some(ours) = tool.get(TOOL_TABLE[1]) else {
        return Ok(None);
    };
    let at = line_of(text, tool.key(TOOL_TABLE[1]).and_then(|k| k.span()));
    let Some(ours) = ours.as_table_like() else {
        return Err(format!(
            "{origin}{at}: `tool.twostage` must be a table such as `[tool.twostage]`"
        ));
    };
    let mut given = Given::default();
    given.read_tables(text, ours, origin, "tool.twostage.");
    Ok(Some(given))
}

/// Why `url` is not an `http(s)://host/…` URL, with the fix. The URL is parsed as the index
/// reader parses it (WHATWG, https://url.spec.whatwg.org/), so that what passes here reads
/// there; it is shown without its credentials, whatever characters they hold.
fn check_url(url: &str) -> std::result::Result<(), String> {
    // A URL without its scheme may still carry credentials (`user:token@host/`).
    let shown = match url.contains("://") {
        true => crate::resources::secrets::redact(url),
        false => crate::resources::secrets::redact(&format!("x://{url}"))[4..].to_string(),
    };
    if !url.contains("://") {
        return Err(format!(
            "is `{shown}`, which has no scheme: write `https://{shown}` (or `http://` for a \
             local index)"
        ));
    }
    let parsed = url::Url::parse(url).map_err(|e| {
        format!(
            "is `{shown}`, which is not a URL ({e}): a password holding `/`, `@`, `:`, `?` or \
             `#` must be percent-encoded (`%2F`, `%40`, `%3A`, `%3F`, `%23`)"
        )
    })?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => {
            return Err(format!(
                "is `{shown}`, whose scheme `{other}` is neither `http` nor `https`"
            ))
        }
    }
    // WHATWG reads `https:///x` as host `x`: a typo, not a host.
    let written_host = url.split_once("://").map_or("", |(_, rest)| rest);
    if parsed.host_str().is_none_or(str::is_empty) || written_host.starts_with('/') {
        return Err(format!("is `{shown}`, which names no host"));
    }
    // A password with an unescaped `/` or `@` can still parse (`http://u:1/x@h/`: host `u`,
    // port 1; `http://u:p@s/x@h/`: host `s`), and the request would go to the wrong host with
    // the rest of the password in its path: credentials and an `@` after the authority are
    // refused.
    let after_authority = &written_host[written_host
        .find(['/', '?', '#'])
        .unwrap_or(written_host.len())..];
    if after_authority.contains('@') && crate::resources::secrets::redact(url) != url {
        return Err(format!(
            "is `{shown}`, which reads as credentials holding an unescaped `/` (or a path \
             holding an `@`): percent-encode it (`%2F`, `%40`)"
        ));
    }
    Ok(())
}

/// Whether a path that `release.toml` names is there.
#[derive(Debug, PartialEq, Eq)]
pub enum Presence {
    File,
    Absent,
}

/// Whether `path` is a regular file inside the repository at `root`, absent, or neither (the
/// reason, to follow "which"): an absolute path, a `..`, a symbolic link on the way or at the
/// end (which would carry a write outside the repository), a directory or a device.
pub fn file_inside(root: &Path, path: &str) -> std::result::Result<Presence, String> {
    use std::path::Component;
    let relative = Path::new(path);
    if relative.has_root() || relative.is_absolute() {
        return Err(
            "is an absolute path: write a path relative to the repository root, inside it".into(),
        );
    }
    let parts: Vec<&std::ffi::OsStr> = relative
        .components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| match c {
            Component::Normal(part) => Ok(part),
            _ => Err("climbs out of the repository with `..`: name a file inside it".to_string()),
        })
        .collect::<std::result::Result<_, _>>()?;
    if parts.is_empty() {
        return Err(
            "names no file: write the path of a file, relative to the repository root".into(),
        );
    }
    let mut at = root.to_path_buf();
    let mut walked = std::path::PathBuf::new();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        walked.push(part);
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Presence::Absent),
            Err(e) => return Err(format!("cannot be read ({e})")),
        };
        let last = i + 1 == parts.len();
        let kind = meta.file_type();
        if kind.is_symlink() {
            return Err(match last {
                true => "is a symbolic link: a release writes only the repository's own files; \
                         name the file it points at, if that is inside the repository"
                    .into(),
                false => format!(
                    "goes through `{}`, a symbolic link: a release writes only the repository's \
                     own files; name the file by its real path inside the repository",
                    walked.display()
                ),
            });
        }
        if !last && !kind.is_dir() {
            return Ok(Presence::Absent);
        }
        if last && kind.is_dir() {
            return Err("is a folder, not a file: name the file itself".into());
        }
        if last && !kind.is_file() {
            return Err("is not a regular file (a FIFO, a socket or a device)".into());
        }
    }
    Ok(Presence::File)
}

/// A configuration file of the repository, read only as the regular file it is: a symlink
/// (which could point at `~/.pypirc`), a FIFO or a device is refused, naming the file. The
/// file is opened without following a symlink (`O_NOFOLLOW`) and without blocking on a FIFO
/// (`O_NONBLOCK`), then checked on the open file, so that nothing can swap it in between
/// (https://man7.org/linux/man-pages/man2/open.2.html).
/// `None` when there is no such file.
fn read_regular(root: &Path, name: &str) -> Result<Option<String>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join(name);
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path);
    let refuse = |what: &str| -> anyhow::Error {
        UsageError(format!(
            "`{}` is {what}, not a regular file: twostage reads its configuration only from a \
             regular file in the repository; replace it with the file itself",
            path.display()
        ))
        .into()
    };
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if path.symlink_metadata().is_ok() {
                return Err(refuse("a symbolic link to nothing"));
            }
            return Ok(None);
        }
        // ELOOP: the last component is a symbolic link.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(refuse("a symbolic link")),
        Err(e) => return Err(UsageError(format!("cannot read `{}`: {e}", path.display())).into()),
    };
    let kind = file
        .metadata()
        .map_err(|e| UsageError(format!("cannot read `{}`: {e}", path.display())))?
        .file_type();
    if !kind.is_file() {
        return Err(refuse(if kind.is_dir() {
            "a directory"
        } else {
            "a special file"
        }));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| UsageError(format!("cannot read `{}`: {e}", path.display())))?;
    String::from_utf8(bytes).map(Some).map_err(|e| {
        let (line, column) = line_column(
            &String::from_utf8_lossy(e.as_bytes()),
            e.utf8_error().valid_up_to(),
        );
        UsageError(format!(
            "{}:{line}:{column}: `{name}` is not UTF-8 text: write it as UTF-8",
            path.display()
        ))
        .into()
    })
}

/// The 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = (0..=offset.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |n| n + 1)..]
        .chars()
        .count()
        + 1;
    (line, column)
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!(":{line}")
        }
        None => String::new(),
    }
}

/// Parses a TOML text named `origin` in errors. The parser's own rendering quotes the line,
/// which may hold a secret (a file that was meant to be `~/.pypirc`): say where and what was
/// expected, never the text.
fn parse_toml(
    text: &str,
    origin: &str,
) -> std::result::Result<toml_edit::Document<String>, String> {
    toml_edit::Document::parse(text.to_string()).map_err(|e| toml_error(text, origin, &e))
}

/// A TOML error of `text` (named `origin`) that says where and what was expected, never the
/// line itself (the parser's own rendering quotes it).
pub fn toml_error(text: &str, origin: &str, e: &toml_edit::TomlError) -> String {
    let at = e.span().map_or_else(String::new, |span| {
        let (line, column) = line_column(text, span.start);
        format!(":{line}:{column}")
    });
    format!(
        "{origin}{at}: `{origin}` is not valid TOML: {} (see https://toml.io/en/v1.0.0)",
        e.message().replace('\n', "; ")
    )
}

/// Whether the repository's `pyproject.toml` has a `[tool.twostage]` table. A manifest that
/// cannot be read or parsed has none here: its own problems are reported where it is read.
pub fn pyproject_has_table(root: &Path) -> bool {
    let Ok(Some(text)) = read_regular(root, PYPROJECT) else {
        return false;
    };
    parse_toml(&text, PYPROJECT).is_ok_and(|doc| {
        doc.as_table()
            .get(TOOL_TABLE[0])
            .and_then(Item::as_table_like)
            .is_some_and(|tool| tool.contains_key(TOOL_TABLE[1]))
    })
}

/// Whether a `release.toml` text is another tool's, not twostage's: cargo-release reads a
/// file of the same name whose settings are top-level keys (`publish`, `push`, `tag-name`,
/// `sign-commit`, `allow-branch`, arrays of tables such as `[[pre-release-replacements]]`;
/// https://github.com/crate-ci/cargo-release/blob/master/docs/reference.md), or a
/// `[workspace]` table. Ours holds only tables (or dotted keys that make them), so one
/// top-level value or array of tables (but `[[packages]]`), or a `[workspace]`, makes the file foreign, unless it
/// also has a table of ours (`[git]`, …): that is ours with a stray key, whose error is said
/// rather than the file skipped. A text that is not TOML is taken for ours, for the same reason.
pub fn is_foreign(text: &str) -> bool {
    let Ok(doc) = parse_toml(text, FILE_NAME) else {
        return false;
    };
    let root = doc.as_table();
    // `[[packages]]` is ours: the one list of tables twostage reads.
    let packages = |key: &str, item: &Item| key == PACKAGES && item.is_array_of_tables();
    let ours = root.iter().any(|(key, item)| {
        (item.is_table_like() && sections().contains(&key)) || packages(key, item)
    });
    let foreign = root.iter().any(|(key, item)| {
        (item.as_table_like().is_none() && !packages(key, item)) || key == "workspace"
    });
    foreign && !ours
}

/// Says, once a run, that `release.toml` is cargo-release's and not read.
fn say_foreign_once() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        crate::output::note(format!(
            "`{FILE_NAME}` belongs to cargo-release (it has top-level settings): twostage \
             ignores it and reads `[tool.twostage]` of `{PYPROJECT}`"
        ));
    });
}

/// A bare number of seconds (`"90"`), or a duration as `humantime` reads one: numbers with
/// units, a space between allowed, several summed (`"500ms"`, `"90s"`, `"90 s"`, `"10m"`,
/// `"10min"`, `"1h"`, `"1h 30m"`, `"1.5h"`, `"2d"`; https://docs.rs/humantime). Surrounding
/// spaces are ignored; a negative or overflowing one is not a duration.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok().map(Duration::from_secs);
    }
    humantime::parse_duration(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, "release.toml", Vec::new())
    }

    const PACKAGES_TOML: &str = r#"
[verify]
smoke = ["python -c 'import sys'"]

[[packages]]
name = "Acme_Core"
folder = "packages/core"

[[packages]]
name = "acme-cli"
folder = "./packages/cli/"
tag = "cli-{version}"
paths = ["shared/schema.json"]
smoke = ["acme --help"]
[packages.staging]
index-url = "http://127.0.0.1:9/cli/simple/"
token-env = "CLI_TEST_TOKEN"
"#;

    #[test]
    fn packages_give_each_package_its_own_configuration() {
        let c = parse(PACKAGES_TOML).unwrap();
        assert!(c.is_multi_package());
        let names: Vec<&str> = c.packages.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["acme-core", "acme-cli"]);

        let core = c.for_package("acme_core").unwrap();
        assert_eq!(core.package.name.as_deref(), Some("acme-core"));
        assert_eq!(core.package.folder, "packages/core");
        assert_eq!(core.package.manifest, "packages/core/pyproject.toml");
        assert_eq!(core.package.changelog, "packages/core/CHANGELOG.md");
        assert_eq!(core.verify.smoke, ["python -c 'import sys'"]);
        assert_eq!(core.staging.index_url, c.staging.index_url);
        let v = pep440_rs::Version::new([1, 2, 0]);
        assert_eq!(core.git.tag_scheme().tag(&v), "acme-core-v1.2.0");
        assert_eq!(core.git.tag_scheme().prod_tag(&v), "acme-core-v1.2.0-prod");
        assert_eq!(core.member().map(|m| m.name.as_str()), Some("acme-core"));

        let cli = c.for_package("acme-cli").unwrap();
        assert_eq!(cli.package.folder, "packages/cli");
        assert_eq!(cli.verify.smoke, ["acme --help"]);
        assert!(cli.verify.smoke_set);
        assert_eq!(cli.staging.index_url, "http://127.0.0.1:9/cli/simple/");
        assert_eq!(cli.staging.token_env, "CLI_TEST_TOKEN");
        assert_eq!(cli.production.token_env, "PYPI_TOKEN");
        assert_eq!(cli.git.tag_scheme().tag(&v), "cli-1.2.0");
        let read = cli.git.tag_scheme().parse("cli-1.2.0-prod").unwrap();
        assert_eq!((read.version, read.prod), (v.clone(), true));

        let (owner, read) = c.for_tag("acme-core-v1.2.0").unwrap();
        assert_eq!(owner.package.name.as_deref(), Some("acme-core"));
        assert!(!read.prod);
        assert!(c.for_tag("v1.2.0").is_none());
        assert!(c.for_package("acme-extras").is_none());
        // One package: no `[[packages]]`, the tags as they were.
        let single = parse("").unwrap();
        assert!(!single.is_multi_package());
        assert!(single.member().is_none());
        assert_eq!(single.git.tag_scheme().tag(&v), "v1.2.0");
    }

    #[test]
    fn a_packages_list_of_tables_is_ours_not_cargo_releases() {
        assert!(!is_foreign("[[packages]]\nname = \"a\"\nfolder = \"a\"\n"));
        assert!(is_foreign("[[pre-release-replacements]]\nfile = \"a\"\n"));
    }

    #[test]
    fn two_packages_writing_one_file_are_refused() {
        let text = "[[packages]]\nname = \"a\"\nfolder = \"a\"\nchangelog = \"CHANGELOG.md\"\n\
                    [[packages]]\nname = \"b\"\nfolder = \"b\"\nchangelog = \"CHANGELOG.md\"\n\
                    version-files = [\"a/pyproject.toml\"]\n";
        let err = format!("{:#}", parse(text).unwrap_err());
        assert!(
            err.contains("`CHANGELOG.md` is named by `a` and `b`"),
            "{err}"
        );
        assert!(
            err.contains("`a/pyproject.toml` is named by `a` and `b`"),
            "{err}"
        );
    }

    #[test]
    fn a_package_folder_through_a_symbolic_link_is_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/tmp", root.path().join("out")).unwrap();
        std::fs::write(root.path().join("real/pyproject.toml"), "").unwrap();
        let text = "[[packages]]\nname = \"a\"\nfolder = \"out\"\n\
                    [[packages]]\nname = \"b\"\nfolder = \"real\"\n\
                    [[packages]]\nname = \"c\"\nfolder = \"none\"\n";
        let err = format!(
            "{:#}",
            Config::parse_in(text, "release.toml", Vec::new(), Some(root.path())).unwrap_err()
        );
        assert!(
            err.contains("`folder = \"out\"` goes through `out`, a symbolic link"),
            "{err}"
        );
        assert!(
            err.contains("`folder = \"none\"` is not a folder of the repository"),
            "{err}"
        );
        assert!(!err.contains("`folder = \"real\"`"), "{err}");
    }

    #[test]
    fn bad_packages_are_each_refused_with_their_entry() {
        let text = r#"
[package]
name = "acme"

[[packages]]
name = "acme-core"
folder = "../core"
tag = "{name}"

[[packages]]
name = "acme-cli"
folder = "cli"
colour = "blue"

[[packages]]
name = "acme_y"
folder = "core2"

[[packages]]
name = "Acme.Y"
folder = "y"

[[packages]]
name = "acme-x"
folder = "x"
[packages.staging]
trusted-publishing = "sometimes"
upload-url = "ftp://x/"
"#;
        let err = format!("{:#}", parse(text).unwrap_err());
        for expected in [
            "release.toml:5: `[[packages]]` entry 1: `folder = \"../core\"` is not a folder inside",
            "entry 1: `tag`: the tag template `{name}` has no `{version}`",
            "entry 2: unknown field `colour`",
            "`[[packages]]` names `acme-y` twice",
            "release.toml:23: `[[packages]]` entry 5: `staging.upload-url` is `ftp://x/`",
            "entry 5: `staging.trusted-publishing` must be `auto`, `always` or `never`",
            "`package.name` is set beside `[[packages]]`",
        ] {
            assert!(err.contains(expected), "{expected:?} not in:\n{err}");
        }
    }

    #[test]
    fn an_empty_file_gives_every_default() {
        let c = parse("").unwrap();
        assert_eq!(c.package.manifest, "pyproject.toml");
        assert!(c.package.version_files.is_empty());
        assert_eq!(c.package.changelog, "CHANGELOG.md");
        assert_eq!(c.git.remote, "origin");
        assert_eq!(c.git.branch, "main");
        assert_eq!(c.git.tag_prefix, "v");
        assert_eq!(c.git.prod_suffix, "-prod");
        assert!(!c.git.sign);
        assert!(c.build.command.is_none());
        assert!(c.build.repair);
        assert_eq!(c.staging.upload_url, "https://test.pypi.org/legacy/");
        assert_eq!(c.staging.index_url, "https://test.pypi.org/simple/");
        assert_eq!(c.staging.token_env, "TEST_PYPI_TOKEN");
        assert_eq!(c.production.upload_url, "https://upload.pypi.org/legacy/");
        assert_eq!(c.production.index_url, "https://pypi.org/simple/");
        assert_eq!(c.production.username, "__token__");
        assert_eq!(c.production.token_env, "PYPI_TOKEN");
        assert_eq!(
            c.verify.artifacts,
            [ArtifactKind::Wheel, ArtifactKind::Sdist]
        );
        assert_eq!(c.verify.index_timeout, Duration::from_secs(900));
        assert_eq!(c.verify.timeout, Duration::from_secs(600));
        assert_eq!(c.verify.installer, InstallerChoice::Auto);
        assert!(c.verify.python.is_empty());
        assert_eq!(c.staging.trusted_publishing, TrustedPublishing::Auto);
        assert_eq!(c.github.token_env, "GITHUB_TOKEN");
        assert_eq!(c.github.api_url, "https://api.github.com");
        assert!(c.github.repository.is_none());
    }

    #[test]
    fn every_key_is_read() {
        let c = parse(
            r#"
[package]
name = "pkg"
manifest = "pyproject.toml"
version-files = ["src/pkg/__init__.py"]
changelog = "CHANGES.md"
[git]
remote = "upstream"
branch = "trunk"
tag-prefix = "release-"
prod-suffix = "+prod"
sign = true
[build]
command = "uv build --out-dir {out}"
repair = false
[staging]
upload-url = "http://127.0.0.1:1/"
index-url = "http://127.0.0.1:1/simple/"
username = "me"
token-env = "STAGING"
[production]
trusted-publishing = "never"
[verify]
smoke = ["python -c 'import pkg'"]
artifacts = ["wheel"]
installer = "pip"
python = ["3.11", "3.12.1, 3.13"]
index-timeout = "2m"
timeout = 30
[github]
repository = "o/n"
"#,
        )
        .unwrap();
        assert_eq!(c.package.name.as_deref(), Some("pkg"));
        assert_eq!(c.package.version_files, ["src/pkg/__init__.py"]);
        assert_eq!(c.git.branch, "trunk");
        assert!(c.git.sign);
        assert_eq!(c.build.command.as_deref(), Some("uv build --out-dir {out}"));
        assert!(!c.build.repair);
        assert_eq!(c.staging.username, "me");
        assert_eq!(c.verify.artifacts, [ArtifactKind::Wheel]);
        assert_eq!(c.verify.installer, InstallerChoice::Pip);
        assert_eq!(c.verify.python, ["3.11", "3.12.1", "3.13"]);
        assert_eq!(c.production.trusted_publishing, TrustedPublishing::Never);
        assert_eq!(c.verify.index_timeout, Duration::from_secs(120));
        assert_eq!(c.verify.timeout, Duration::from_secs(30));
        assert_eq!(c.github.repository.as_deref(), Some("o/n"));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_file_line_key_and_expectation() {
        let err =
            parse("[git]\nbranch = \"main\"\nsgin = true\n[verify]\ntimeout = \"soon\"\n[bulid]\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("release.toml:3: unknown key `sgin` in `[git]`"),
            "{err}"
        );
        assert!(err.contains("`sign`"), "{err}");
        assert!(
            err.contains("release.toml:5: `verify.timeout` must be a duration"),
            "{err}"
        );
        assert!(
            err.contains("release.toml:6: unknown section `[bulid]`"),
            "{err}"
        );
        let err = parse("[package]\nversion-files = \"a.py\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`package.version-files` must be an array of strings"),
            "{err}"
        );
        let err = parse("[package\n").unwrap_err().to_string();
        assert!(err.contains("not valid TOML"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = vec![
            (
                "TWOSTAGE_STAGING_INDEX_URL".to_string(),
                "http://127.0.0.1:9/simple/".to_string(),
            ),
            ("TWOSTAGE_GIT_SIGN".to_string(), "true".to_string()),
            (
                "TWOSTAGE_VERIFY_SMOKE".to_string(),
                "python -c 'import a, b'".to_string(),
            ),
            (
                "TWOSTAGE_PACKAGE_VERSION_FILES".to_string(),
                r#"["a.py", "b.py"]"#.to_string(),
            ),
            ("TWOSTAGE_BIN".to_string(), "/bin/true".to_string()),
        ];
        let c = Config::parse("[staging]\nindex-url = \"x\"\n", "release.toml", env).unwrap();
        assert_eq!(c.staging.index_url, "http://127.0.0.1:9/simple/");
        assert!(c.git.sign);
        assert_eq!(c.verify.smoke, ["python -c 'import a, b'"]);
        assert_eq!(c.package.version_files, ["a.py", "b.py"]);
    }

    #[test]
    fn a_misspelt_environment_override_is_an_error() {
        let env = vec![("TWOSTAGE_STAGING_INDEXURL".to_string(), "x".to_string())];
        let err = Config::parse("", "release.toml", env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`TWOSTAGE_STAGING_INDEXURL`"), "{err}");
        let env = vec![("TWOSTAGE_GIT_SIGN".to_string(), "maybe".to_string())];
        assert!(Config::parse("", "release.toml", env).is_err());
    }

    #[test]
    fn verify_python_holds_versions() {
        let err = parse("[verify]\npython = [\"3.12\", \"py3.11\", \"3\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("release.toml:2: `verify.python` holds `py3.11`: write a version such as `3.12` or `3.12.1`")
                && err.contains("holds `3`:"),
            "{err}"
        );
    }

    #[test]
    fn closed_sets_are_checked_at_load_with_every_problem_and_its_line() {
        let err = parse(
            "[verify]\ninstaller = \"uvv\"\nartifacts = [\"wheel\", \"egg\"]\nsmoke = [\"python -c 1\", \" \"]\n[staging]\ntrusted-publishing = \"sometimes\"\n",
        )
        .unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        let err = err.to_string();
        for expected in [
            "release.toml:2: `verify.installer` must be `auto`, `uv` or `pip`, not `uvv`",
            "release.toml:3: `verify.artifacts` may hold `wheel` and `sdist`, not `egg`",
            "release.toml:4: `verify.smoke` holds an empty command",
            "release.toml:6: `staging.trusted-publishing` must be `auto`, `always` or `never`, not `sometimes`",
        ] {
            assert!(err.contains(expected), "{expected:?} not in:\n{err}");
        }
    }

    #[test]
    fn a_toml_error_names_line_and_column_but_never_quotes_the_line() {
        let err = parse("[staging]\n\npassword = pypi-AgEIcHlwaS5vcmcSECRET\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("release.toml:3:12: `release.toml` is not valid TOML: "),
            "{err}"
        );
        assert!(!err.contains("AgEI"), "{err}");
        assert!(!err.contains("password"), "{err}");
    }

    #[test]
    fn a_url_password_of_any_shape_is_never_shown() {
        for url in [
            "http://rel:s3cr/et@host/simple/",
            "http://rel:12/s3cret@host/simple/",
            "http://rel:s3@cr/et@host/simple/",
        ] {
            let err = parse(&format!("[staging]\nindex-url = \"{url}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("release.toml:2: `staging.index-url` is `http://***@host/simple/`"),
                "{err}"
            );
            assert!(!err.contains("s3"), "{err}");
        }
    }

    #[test]
    fn the_file_is_read_only_as_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pypirc");
        std::fs::write(&secret, "[pypi]\npassword = pypi-SYMLINKED\n").unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(&secret, root.join(FILE_NAME)).unwrap();
        let err = Config::load(&root).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        let err = err.to_string();
        assert!(
            err.contains("release.toml` is a symbolic link, not a regular file"),
            "{err}"
        );
        assert!(!err.contains("SYMLINKED"), "{err}");
        std::fs::remove_file(root.join(FILE_NAME)).unwrap();
        std::fs::create_dir(root.join(FILE_NAME)).unwrap();
        let err = Config::load(&root).unwrap_err().to_string();
        assert!(err.contains("is a directory, not a regular file"), "{err}");
    }

    #[test]
    fn urls_need_an_http_scheme_and_a_host() {
        let err = parse(
            "[staging]\nindex-url = \"127.0.0.1:9/\"\nupload-url = \"ftp://127.0.0.1/\"\noidc-url = \"\"\n[github]\napi-url = \"https:///x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("release.toml:2: `staging.index-url` is `127.0.0.1:9/`, which has no scheme: write `https://127.0.0.1:9/`"),
            "{err}"
        );
        assert!(
            err.contains(
                "release.toml:3: `staging.upload-url` is `ftp://127.0.0.1/`, whose scheme `ftp`"
            ),
            "{err}"
        );
        assert!(err.contains("release.toml:6: `github.api-url`"), "{err}");
        assert!(
            !err.contains("oidc-url"),
            "an empty oidc-url is the default: {err}"
        );
        // Credentials in a URL without a scheme are not shown either.
        let err = parse("[production]\nupload-url = \"me:s3cret@host/legacy/\"\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
        for good in [
            "http://127.0.0.1:9/simple/",
            "https://__token__:pypi-abc@upload.example.org/legacy/",
            "http://[::1]:8080/simple",
        ] {
            let text = format!("[staging]\nindex-url = \"{good}\"\n");
            assert!(parse(&text).is_ok(), "{good}");
        }
    }

    #[test]
    fn overrides_are_checked_like_the_file_and_name_the_variable() {
        let env = vec![
            ("TWOSTAGE_VERIFY_INSTALLER".to_string(), "uvv".to_string()),
            (
                "TWOSTAGE_PRODUCTION_INDEX_URL".to_string(),
                "127.0.0.1:9/".to_string(),
            ),
            ("TWOSTAGE_VERIFY_SMOKE".to_string(), "".to_string()),
        ];
        let err = Config::parse("", "release.toml", env)
            .unwrap_err()
            .to_string();
        for expected in [
            "environment variable `TWOSTAGE_VERIFY_INSTALLER` (`verify.installer`) must be `auto`, `uv` or `pip`, not `uvv`",
            "environment variable `TWOSTAGE_PRODUCTION_INDEX_URL` (`production.index-url`) is `127.0.0.1:9/`, which has no scheme",
            "environment variable `TWOSTAGE_VERIFY_SMOKE` (`verify.smoke`) holds an empty command",
        ] {
            assert!(err.contains(expected), "{expected:?} not in:\n{err}");
        }
    }

    #[test]
    fn named_files_must_exist_but_the_changelog_may_not() {
        let root = std::env::temp_dir().join(format!("twostage-config-{}", std::process::id()));
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/__init__.py"), "").unwrap();
        let text = "[package]\nmanifest = \"pyproject.tom\"\nversion-files = [\"src/__init__.py\", \"src/missing.py\"]\nchangelog = \"NEWS.md\"\n";
        let err = Config::parse_in(text, "release.toml", Vec::new(), Some(&root))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "release.toml:2: `package.manifest` names `pyproject.tom`, which is not a file"
            ),
            "{err}"
        );
        assert!(
            err.contains("release.toml:3: `package.version-files` names `src/missing.py`"),
            "{err}"
        );
        assert!(!err.contains("src/__init__.py"), "{err}");
        assert!(!err.contains("NEWS.md"), "{err}");
        std::fs::write(root.join("pyproject.tom"), "").unwrap();
        std::fs::write(root.join("src/missing.py"), "").unwrap();
        assert!(Config::parse_in(text, "release.toml", Vec::new(), Some(&root)).is_ok());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn named_files_stay_inside_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("repo"), dir.path().join("outside"));
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("v.py"), "__version__ = \"1.0\"\n").unwrap();
        std::fs::write(root.join("pyproject.toml"), "").unwrap();
        std::os::unix::fs::symlink(outside.join("v.py"), root.join("src/v.py")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("linked")).unwrap();
        std::fs::create_dir_all(root.join("docs")).unwrap();
        let text = "[package]\nmanifest = \"docs\"\nversion-files = [\"src/v.py\", \"/etc/hostname\", \"../outside/v.py\", \"linked/v.py\", \"./pyproject.toml\"]\nchangelog = \"linked/CHANGES.md\"\n";
        let err = Config::parse_in(text, "release.toml", Vec::new(), Some(&root)).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        let err = err.to_string();
        for expected in [
            "release.toml:2: `package.manifest` names `docs`, which is a folder",
            "release.toml:3: `package.version-files` names `src/v.py`, which is a symbolic link",
            "release.toml:3: `package.version-files` names `/etc/hostname`, which is an absolute path",
            "release.toml:3: `package.version-files` names `../outside/v.py`, which climbs out of the repository with `..`",
            "release.toml:3: `package.version-files` names `linked/v.py`, which goes through `linked`, a symbolic link",
            "release.toml:4: `package.changelog` names `linked/CHANGES.md`, which goes through `linked`",
        ] {
            assert!(err.contains(expected), "{expected:?} not in:\n{err}");
        }
        assert!(!err.contains("./pyproject.toml"), "{err}");
        assert_eq!(file_inside(&root, "NEWS.md"), Ok(Presence::Absent));
        assert_eq!(file_inside(&root, "pyproject.toml"), Ok(Presence::File));
        assert!(file_inside(&root, "").is_err());
    }

    #[test]
    fn a_cargo_release_file_is_told_from_ours() {
        for foreign in [
            "publish = false\n",
            "sign-commit = true\nallow-branch = [\"main\"]\n",
            "[[pre-release-replacements]]\nfile = \"CHANGELOG.md\"\nsearch = \"a\"\nreplace = \"b\"\n",
            "[workspace]\npush = false\n",
            "tag-name = \"v{{version}}\"\n",
        ] {
            assert!(is_foreign(foreign), "{foreign:?}");
        }
        for ours in [
            "",
            "# only a comment\n",
            "[package]\nname = \"x\"\n[git]\nsign = true\n",
            "git.sign = true\n",
            "verify = { smoke = [] }\n",
            // A misspelt section of ours is still ours, so that its error is said.
            "[bulid]\ncommand = \"x\"\n",
            // A stray top-level key beside a table of ours: ours, with its error.
            "sign = true\n[git]\nbranch = \"main\"\n",
            // Not TOML: ours, so that the parse error names the line.
            "[git\n",
        ] {
            assert!(!is_foreign(ours), "{ours:?}");
        }
    }

    #[test]
    fn pyproject_tables_are_read_with_their_lines() {
        let text = "[project]\nname = \"p\"\n\n[tool.ruff]\nline-length = 99\n\n\
                    [tool.twostage.git]\nsign = true\n\n[tool.twostage.verify]\nsmoke = [\"true\"]\n";
        let c = Config::parse_pyproject(text, "pyproject.toml", Vec::new())
            .unwrap()
            .unwrap();
        assert!(c.git.sign);
        assert_eq!(c.verify.smoke, ["true"]);
        let none =
            Config::parse_pyproject("[project]\nname = \"p\"\n", "pyproject.toml", Vec::new());
        assert!(none.unwrap().is_none());

        let bad = "[project]\nname = \"p\"\n\n[tool.twostage.git]\nsgin = true\n\
                   [tool.twostage.verify]\ntimeout = \"soon\"\n[tool.twostage.bulid]\n";
        let err = Config::parse_pyproject(bad, "pyproject.toml", Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pyproject.toml:5: unknown key `sgin` in `[tool.twostage.git]`"),
            "{err}"
        );
        assert!(
            err.contains("pyproject.toml:7: `verify.timeout` must be a duration"),
            "{err}"
        );
        assert!(
            err.contains("pyproject.toml:8: unknown section `[tool.twostage.bulid]`"),
            "{err}"
        );
        let err = Config::parse_pyproject("[tool]\ntwostage = 1\n", "pyproject.toml", Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pyproject.toml:2: `tool.twostage` must be a table"),
            "{err}"
        );
        let env = vec![("TWOSTAGE_GIT_SIGN".to_string(), "false".to_string())];
        let c = Config::parse_pyproject(text, "pyproject.toml", env)
            .unwrap()
            .unwrap();
        assert!(!c.git.sign, "the environment overrides `[tool.twostage]`");
    }

    #[test]
    fn a_toml_error_in_pyproject_names_its_line_but_never_quotes_it() {
        let text = "[project]\nname = \"p\"\npassword = pypi-SECRET\n[tool.twostage]\n";
        let err = Config::parse_pyproject(text, "pyproject.toml", Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("pyproject.toml:3:"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }

    fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    const CARGO_RELEASE: &str = "publish = false\npush = false\ntag-name = \"v{{version}}\"\n";
    const PYPROJECT_SIGNED: &str = "[project]\nname = \"p\"\n[tool.twostage.git]\nsign = true\n";

    #[test]
    fn where_the_configuration_is_read_from() {
        // Ours and `[tool.twostage]`: refused, naming both.
        let both = repo_with(&[
            (FILE_NAME, "[git]\nsign = false\n"),
            (PYPROJECT, PYPROJECT_SIGNED),
        ]);
        let err = Config::load(both.path()).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        let err = err.to_string();
        assert!(
            err.contains("`release.toml`") && err.contains("`[tool.twostage]` of `pyproject.toml`"),
            "{err}"
        );
        // Ours alone, with a pyproject.toml without the table: ours.
        let ours = repo_with(&[
            (FILE_NAME, "[git]\nsign = true\n"),
            (PYPROJECT, "[project]\nname = \"p\"\n"),
        ]);
        assert!(Config::load(ours.path()).unwrap().git.sign);
        // cargo-release's beside `[tool.twostage]`: the table.
        let beside = repo_with(&[(FILE_NAME, CARGO_RELEASE), (PYPROJECT, PYPROJECT_SIGNED)]);
        assert!(Config::load(beside.path()).unwrap().git.sign);
        // cargo-release's alone: the defaults.
        let alone = repo_with(&[(FILE_NAME, CARGO_RELEASE), (PYPROJECT, "[project]\n")]);
        assert!(!Config::load(alone.path()).unwrap().git.sign);
        // Neither: not set up.
        let neither = repo_with(&[(PYPROJECT, "[project]\nname = \"p\"\n")]);
        let err = Config::load(neither.path()).unwrap_err().to_string();
        assert!(err.contains("twostage is not set up"), "{err}");
        // `[tool.twostage]` problems name pyproject.toml and the line.
        let typo = repo_with(&[(PYPROJECT, "[project]\n[tool.twostage.git]\nsgin = true\n")]);
        let err = Config::load(typo.path()).unwrap_err().to_string();
        assert!(
            err.contains("pyproject.toml:3: unknown key `sgin`"),
            "{err}"
        );
    }

    #[test]
    fn pyproject_is_read_only_as_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pypirc");
        std::fs::write(
            &secret,
            "[tool.twostage.git]\nsign = true\n# pypi-SYMLINKED\n",
        )
        .unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(&secret, root.join(PYPROJECT)).unwrap();
        let err = Config::load(&root).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        let err = err.to_string();
        assert!(
            err.contains("pyproject.toml` is a symbolic link, not a regular file"),
            "{err}"
        );
        assert!(!err.contains("SYMLINKED"), "{err}");
    }

    #[test]
    fn every_problem_of_the_file_and_the_environment_is_said_at_once_never_a_value() {
        let text = "[git]\nsgin = true\nbranch = [\"pypi-SECRET-1\"]\n[staging]\n\
                    username = { token = \"pypi-SECRET-2\" }\n[verify]\ninstaller = \"uvv\"\n";
        let env = vec![
            ("TWOSTAGE_VERIFY_TIMEOUT".to_string(), "soon".to_string()),
            (
                "TWOSTAGE_STAGING_INDEXURL".to_string(),
                "pypi-SECRET-3".to_string(),
            ),
            ("TWOSTAGE_VERIFY_INSTALLER".to_string(), "uv".to_string()),
        ];
        let err = Config::parse(text, "release.toml", env).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        let err = err.to_string();
        for expected in [
            "release.toml:2: unknown key `sgin` in `[git]`",
            "release.toml:3: `git.branch` must be a string",
            "release.toml:5: `staging.username` must be a string",
            "environment variable `TWOSTAGE_VERIFY_TIMEOUT` (`verify.timeout`) must be a duration",
            "environment variable `TWOSTAGE_STAGING_INDEXURL` names no setting of `[staging]`",
        ] {
            assert!(err.contains(expected), "{expected:?} not in:\n{err}");
        }
        assert_eq!(err.lines().count(), 5, "{err}");
        // The variable's `uv` is the setting: the file's `uvv` beneath it is not checked.
        assert!(!err.contains("uvv"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }

    #[test]
    fn the_documented_keys_are_the_fields() {
        let docs = include_str!("../../docs/configuration.md");
        let documented: std::collections::BTreeSet<String> = docs
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split_once('`'))
            .map(|(key, _)| key.to_string())
            .collect();
        let tables: [(&str, &[&str]); 7] = [
            ("package", raw::fields::<Package>()),
            ("git", raw::fields::<Git>()),
            ("build", raw::fields::<Build>()),
            ("staging", raw::fields::<Index>()),
            ("production", raw::fields::<Index>()),
            ("verify", raw::fields::<Verify>()),
            ("github", raw::fields::<Github>()),
        ];
        assert_eq!(tables.map(|(s, _)| s), sections());
        let fields: std::collections::BTreeSet<String> = tables
            .iter()
            .flat_map(|(s, keys)| keys.iter().map(move |k| format!("{s}.{k}")))
            .collect();
        assert_eq!(documented, fields);
        // Every default is a setting of its table, and is read.
        let given = parse_file(DEFAULTS, "defaults").unwrap();
        assert!(given.problems.is_empty(), "{:?}", given.problems);
        for (section, keys) in &given.settings {
            for (key, _) in keys {
                assert!(
                    fields.contains(&format!("{section}.{key}")),
                    "{section}.{key}"
                );
            }
        }
    }

    #[test]
    fn durations_keep_every_spelling_they_had_and_read_humantimes() {
        let secs = Duration::from_secs;
        // Every spelling the hand-written reader took before humantime.
        for (text, expected) in [
            ("90", secs(90)),
            (" 90 ", secs(90)),
            ("0", secs(0)),
            ("90s", secs(90)),
            ("90 s", secs(90)),
            ("500ms", Duration::from_millis(500)),
            ("10m", secs(600)),
            ("10min", secs(600)),
            ("10 min", secs(600)),
            ("1h", secs(3600)),
            (" 2h ", secs(7200)),
            ("18446744073709551615", secs(u64::MAX)),
            // What humantime adds.
            ("1h 30m", secs(5400)),
            ("1h30m", secs(5400)),
            ("1.5h", secs(5400)),
            ("2d", secs(2 * 86400)),
        ] {
            assert_eq!(parse_duration(text), Some(expected), "{text:?}");
        }
        for refused in ["", "s", "-1s", "90S", "ten", "90x", "18446744073709551615h"] {
            assert_eq!(parse_duration(refused), None, "{refused:?}");
        }
    }
}
