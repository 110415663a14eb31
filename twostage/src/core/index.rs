//! One index of the release, staging or production, as a value: its role, the label messages
//! give it, its project-page and upload URLs, its HTTP clients (each built once, when first
//! needed) and its upload credential (decided when first needed: reading needs none). A step
//! builds each index it uses once per run and passes it on; `resources::index` does the
//! requests. Putting files up (`ensure`) is in `core::upload`.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::{self, Config};
use crate::resources::credentials::{self, Choice, CredentialSource};
use crate::resources::evidence::{ArtifactRecord, Section};
use crate::resources::index::{self, IndexFile, Listing, Served};

/// Which of the release's two indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Staging,
    Production,
}

impl Role {
    /// The index's name in messages.
    pub fn label(self) -> &'static str {
        match self {
            Role::Staging => "staging",
            Role::Production => "production",
        }
    }

    /// The release note's section for a verification of what this index serves.
    pub fn verification(self) -> Section {
        match self {
            Role::Staging => Section::Verification,
            Role::Production => Section::ProductionVerification,
        }
    }

    /// The configuration of this index (`[tool.twostage.staging]` or `.production`).
    pub fn config(self, config: &Config) -> &config::Index {
        match self {
            Role::Staging => &config.staging,
            Role::Production => &config.production,
        }
    }

    /// The `~/.pypirc` section whose password this index takes (docs/credentials.md).
    pub fn pypirc_section(self) -> &'static str {
        match self {
            Role::Staging => "testpypi",
            Role::Production => "pypi",
        }
    }
}

/// One index for one run: build it once (`Index::new`) and pass it to whatever reads or
/// uploads there.
pub struct Index<'c> {
    role: Role,
    config: &'c config::Index,
    /// `verify.index-timeout`: how long `wait` waits for files to be served.
    timeout: Duration,
    agent: OnceLock<ureq::Agent>,
    upload_agent: OnceLock<ureq::Agent>,
    credentials: OnceLock<CredentialSource>,
}

impl<'c> Index<'c> {
    pub fn new(role: Role, config: &'c Config) -> Index<'c> {
        Index {
            role,
            config: role.config(config),
            timeout: config.verify.index_timeout,
            agent: OnceLock::new(),
            upload_agent: OnceLock::new(),
            credentials: OnceLock::new(),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn label(&self) -> &'static str {
        self.role.label()
    }

    /// The index's configuration: URLs, token variable, trusted publishing, signer.
    pub fn config(&self) -> &'c config::Index {
        self.config
    }

    /// The simple API's URL (PEP 503/691), under which each project has its page.
    pub fn url(&self) -> &'c str {
        &self.config.index_url
    }

    /// The legacy upload API's URL (https://docs.pypi.org/api/upload/).
    pub fn upload_url(&self) -> &'c str {
        &self.config.upload_url
    }

    /// The client for pages and downloads, built on first use.
    pub fn agent(&self) -> &ureq::Agent {
        self.agent.get_or_init(index::agent)
    }

    /// The client for uploads (no redirects, an upload's timeouts), built on first use.
    pub fn upload_agent(&self) -> &ureq::Agent {
        self.upload_agent.get_or_init(index::upload_agent)
    }

    /// Which credential this index takes, decided without any request (what `promote
    /// --dry-run` checks: the real run takes the same decision in `credentials`).
    pub fn choice(&self) -> Result<Choice> {
        credentials::choose(self.config, self.role.pypirc_section(), home().as_deref())
    }

    /// The upload credential: decided (`credentials::obtain`, which mints under trusted
    /// publishing) on the first call, the same value after.
    pub fn credentials(&self) -> Result<&CredentialSource> {
        if let Some(credentials) = self.credentials.get() {
            return Ok(credentials);
        }
        let resolved =
            credentials::obtain(self.config, self.role.pypirc_section(), home().as_deref())?;
        Ok(self.credentials.get_or_init(|| resolved))
    }

    /// Ends the tokens minted for this index so far (its last upload of the run is done).
    pub fn burn(&self) {
        if let Some(credentials) = self.credentials.get() {
            credentials.burn();
        }
    }

    /// The project's page: its files and PEP 792 status; `None` when the index does not know
    /// the project.
    pub fn listing(&self, project: &str) -> Result<Option<Listing>> {
        index::project_listing(self.agent(), self.url(), project)
    }

    /// The files the index lists for the project (none when it does not know the project).
    pub fn files(&self, project: &str) -> Result<Vec<IndexFile>> {
        Ok(index::project_files(self.agent(), self.url(), project)?.unwrap_or_default())
    }

    /// Whether `listing` (this index's page, already read) serves `filename` with `sha256`
    /// (`index::served_as`: a file listed without a hash is downloaded and hashed).
    pub fn served_as(&self, listing: &[IndexFile], filename: &str, sha256: &str) -> Result<Served> {
        index::served_as(self.agent(), listing, filename, sha256)
    }

    /// Whether `listing` serves every artifact with its recorded sha256.
    pub fn all_served(&self, listing: &[IndexFile], artifacts: &[ArtifactRecord]) -> Result<bool> {
        index::all_served(self.agent(), listing, artifacts)
    }

    /// Whether the index serves every artifact with its recorded sha256, right now.
    pub fn serves(&self, project: &str, artifacts: &[ArtifactRecord]) -> Result<bool> {
        self.all_served(&self.files(project)?, artifacts)
    }

    /// Waits until the index serves every file with its sha256, for `verify.index-timeout`
    /// at most; returns how long it took.
    pub fn wait(&self, project: &str, artifacts: &[ArtifactRecord]) -> Result<Duration> {
        self.wait_within(project, artifacts, self.timeout)
    }

    /// `wait` with another limit.
    pub fn wait_within(
        &self,
        project: &str,
        artifacts: &[ArtifactRecord],
        timeout: Duration,
    ) -> Result<Duration> {
        self.wait_for_set(&[(project, artifacts)], timeout)
    }

    /// Waits until the index serves every file of every project of the set with its sha256:
    /// one wait, reading the set's project pages together (`index::wait_until_served`).
    pub fn wait_for_set(&self, set: &[index::ProjectFiles], timeout: Duration) -> Result<Duration> {
        index::wait_until_served(self.agent(), self.label(), self.url(), set, timeout)
    }

    /// `verify.index-timeout`, which bounds `wait`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Downloads a listed file to `dest`, checked against its recorded size and sha256;
    /// returns why the bytes were refused (`dest` then untouched), or `None`.
    pub fn download(
        &self,
        listing: &[IndexFile],
        artifact: &ArtifactRecord,
        dest: &Path,
    ) -> Result<Option<String>> {
        let url = url_of(listing, &artifact.filename)
            .with_context(|| format!("{} no longer lists `{}`", self.label(), artifact.filename))?;
        index::download(self.agent(), url, dest, artifact.size, &artifact.sha256)
    }
}

/// The URL `listing` gives `filename`, if it lists it.
pub fn url_of<'l>(listing: &'l [IndexFile], filename: &str) -> Option<&'l str> {
    listing
        .iter()
        .find(|f| f.filename == filename)
        .map(|f| f.url.as_str())
}

fn home() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(std::path::PathBuf::from)
}

/// The release's two indexes, for a step that reads or uploads on both.
pub struct Indexes<'c> {
    pub staging: Index<'c>,
    pub production: Index<'c>,
}

impl<'c> Indexes<'c> {
    pub fn new(config: &'c Config) -> Indexes<'c> {
        Indexes {
            staging: Index::new(Role::Staging, config),
            production: Index::new(Role::Production, config),
        }
    }

    pub fn of(&self, role: Role) -> &Index<'c> {
        match role {
            Role::Staging => &self.staging,
            Role::Production => &self.production,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A loopback index serving one PEP 691 page for every GET; counts the requests.
    fn serve_page(body: &'static str) -> (String, Arc<AtomicUsize>) {
        crate::resources::index::tests::serve_for_every_get(
            "/simple/",
            Some("application/vnd.pypi.simple.v1+json"),
            body.as_bytes(),
        )
    }

    fn config(index_url: &str, token_env: &str) -> Config {
        let text = format!(
            "[staging]\nindex-url = \"{index_url}\"\nupload-url = \"{index_url}\"\n\
             token-env = \"{token_env}\"\ntrusted-publishing = \"never\"\n"
        );
        Config::parse(&text, "release.toml", Vec::new()).unwrap()
    }

    #[test]
    fn an_index_reads_without_a_credential_and_builds_each_thing_once() {
        let page = r#"{"meta":{"api-version":"1.1"},"name":"pkg","files":[
            {"filename":"pkg-1.0.tar.gz","url":"../../f/pkg-1.0.tar.gz","hashes":{"sha256":"AA"}}]}"#;
        let (url, requests) = serve_page(page);
        let token_env = "TWOSTAGE_CORE_INDEX_TEST_TOKEN";
        let config = config(&url, token_env);
        let staging = Index::new(Role::Staging, &config);
        assert!(staging.agent.get().is_none() && staging.upload_agent.get().is_none());
        // Reading needs no credential: none is set, and the page is read.
        let files = staging.files("pkg").unwrap();
        assert_eq!(requests.load(Ordering::SeqCst), 1);
        assert_eq!(
            url_of(&files, "pkg-1.0.tar.gz"),
            Some(format!("{}f/pkg-1.0.tar.gz", url.trim_end_matches("simple/")).as_str())
        );
        assert_eq!(
            staging.served_as(&files, "pkg-1.0.tar.gz", "aa").unwrap(),
            Served::Same
        );
        // One client for every read of the run, and no upload client until an upload.
        assert!(std::ptr::eq(staging.agent(), staging.agent()));
        assert!(staging.upload_agent.get().is_none());
        // The credential is decided when first asked for, and once.
        assert!(staging.credentials.get().is_none());
        let missing = format!("{:#}", staging.credentials().err().unwrap());
        assert!(missing.contains(token_env), "{missing}");
        std::env::set_var(token_env, "pypi-core-index-test");
        let first: *const CredentialSource = staging.credentials().unwrap();
        assert!(std::ptr::eq(first, staging.credentials().unwrap()));
        std::env::remove_var(token_env);
        assert!(std::ptr::eq(first, staging.credentials().unwrap()));
    }

    #[test]
    fn roles_name_their_index() {
        let config = config("http://127.0.0.1:9/simple/", "UNUSED");
        let indexes = Indexes::new(&config);
        assert_eq!(
            indexes.of(Role::Staging).url(),
            "http://127.0.0.1:9/simple/"
        );
        assert_eq!(
            indexes.of(Role::Production).url(),
            config.production.index_url
        );
        assert_eq!(indexes.of(Role::Production).label(), "production");
        assert_eq!(Role::Staging.pypirc_section(), "testpypi");
        assert_eq!(
            Role::Production.verification(),
            Section::ProductionVerification
        );
    }
}
