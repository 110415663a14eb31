//! Package indexes: reading a project's page (PEP 691 JSON where offered, else PEP 503 HTML),
//! uploading one file (a streamed multipart POST to the legacy upload API), and downloading.
//!
//! This module answers "what does the index serve?" and carries out "send this file"; deciding
//! what to upload, and what a duplicate means, is the stages' business. Credentials are never
//! shown: every URL in a message goes through `redact`, and a server's message is scrubbed of
//! the secret before it is repeated.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use ureq::config::RedirectAuthHeaders;
use url::Url;

use crate::output::Progress;
use crate::resources::credentials::Credentials;
use crate::resources::dist::{self, normalize_name, Kind, Metadata};
use crate::resources::evidence::ArtifactRecord;
use crate::resources::filename::DistFilename;
use crate::resources::json::lenient;
use crate::resources::secrets::{redact, redact_secrets, redact_urls};

/// One file listed on a project page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexFile {
    pub filename: String,
    pub url: String,
    pub sha256: Option<String>,
    /// `data-requires-python` (PEP 503) / `requires-python` (PEP 691), decoded.
    pub requires_python: Option<String>,
    /// Yanked (PEP 592), with the reason given, which may be empty.
    pub yanked: Option<String>,
    /// `data-core-metadata`, or the older `data-dist-info-metadata` (PEP 714): `true` or a
    /// `sha256=<hex>` of the file's METADATA.
    pub core_metadata: Option<String>,
    /// PEP 700's `upload-time` (RFC 3339 UTC), which only a JSON page carries.
    pub upload_time: Option<String>,
    /// PEP 740's provenance URL (`provenance` / `data-provenance`), where the page gives one.
    pub provenance: Option<String>,
}

impl IndexFile {
    /// The version part of a wheel or sdist filename, as written.
    pub fn version(&self) -> Option<&str> {
        filename_version(&self.filename)
    }
}

/// The version in a wheel (`name-ver-…whl`) or sdist (`name-ver.tar.gz`, or a legacy
/// `.zip`, …) filename.
pub fn filename_version(filename: &str) -> Option<&str> {
    DistFilename::parse(filename).map(|name| name.version())
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // Index pages and files may redirect (a CDN, a normalized project URL); credentials
        // never follow a redirect (docs/http-client.md).
        .max_redirects(10)
        .redirect_auth_headers(RedirectAuthHeaders::Never)
        // Each request (a page, a download) within 60 s in all, 10 s to connect, 30 s of
        // silence at most; a page read with its retries within `PAGE_TOTAL`
        // (docs/http-client.md).
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_per_read(Some(Duration::from_secs(30)))
        .timeout_global(Some(Duration::from_secs(60)))
        .user_agent(concat!("twostage/", env!("CARGO_PKG_VERSION")))
        .tls_config(crate::resources::tls::config())
        .build()
        .into()
}

const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
const PAGE_LIMIT: u64 = 32 * 1024 * 1024;
/// One try at a project page, and all its tries together.
const PAGE_REQUEST: Duration = Duration::from_secs(30);
const PAGE_TOTAL: Duration = Duration::from_secs(60);

/// The files an index lists for a project; `None` when the index does not know the project.
/// Caches are bypassed: a just-uploaded file must be seen. Transient failures (connection
/// errors, timeouts, 429, 5xx) are retried a few times with backoff; each try has
/// `PAGE_REQUEST` at most, and all of them `PAGE_TOTAL`.
pub fn project_files(
    agent: &ureq::Agent,
    index_url: &str,
    project: &str,
) -> Result<Option<Vec<IndexFile>>> {
    Ok(project_listing(agent, index_url, project)?.map(|listing| listing.files))
}

/// A project page: its files and PEP 792's `project-status` where the page gives one.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub files: Vec<IndexFile>,
    /// `active`, `archived`, `quarantined` or `deprecated` (PEP 792), as the page says it.
    pub status: Option<String>,
}

/// `project_files` with the page's `project-status`.
pub fn project_listing(
    agent: &ureq::Agent,
    index_url: &str,
    project: &str,
) -> Result<Option<Listing>> {
    let page = project_page(index_url, project)?;
    let page = page.as_str();
    let shown = redact(page);
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        let budget = PAGE_TOTAL
            .saturating_sub(started.elapsed())
            .min(PAGE_REQUEST);
        let outcome = fetch_page(agent, page, budget);
        let left = PAGE_TOTAL.saturating_sub(started.elapsed());
        match outcome {
            Ok(found) => {
                return found
                    .map(|(ctype, body)| {
                        let files = parse_page(page, &ctype, &body)?;
                        let status = project_status(&ctype, &body);
                        Ok(Listing { files, status })
                    })
                    .transpose()
            }
            Err(e) if attempt < 4 && e.transient && left > delay => {
                std::thread::sleep(delay);
                delay *= 2;
                attempt += 1;
            }
            Err(e) => bail!(
                "cannot read `{shown}` ({attempt} tries in {}s; a page read has {}s in all): {}",
                started.elapsed().as_secs(),
                PAGE_TOTAL.as_secs(),
                e.message
            ),
        }
    }
}

/// `<index>/<normalized name>/`: the index URL taken as a folder, whether or not it ends in
/// `/` (PEP 503: "the URL … MUST end with a /").
fn project_page(index_url: &str, project: &str) -> Result<Url> {
    let mut base = Url::parse(index_url)
        .with_context(|| format!("the index URL `{}` is not a valid URL", redact(index_url)))?;
    if base.cannot_be_a_base() {
        bail!("the index URL `{}` is not a folder URL", redact(index_url));
    }
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    // A normalized name is letters, digits and `-`: nothing to escape.
    Ok(base.join(&format!("{}/", normalize_name(project)))?)
}

struct FetchError {
    message: String,
    transient: bool,
}

fn fetch_page(
    agent: &ureq::Agent,
    page: &str,
    budget: Duration,
) -> std::result::Result<Option<(String, String)>, FetchError> {
    let response = agent
        .get(page)
        .config()
        .timeout_global(Some(budget))
        .build()
        .header("Accept", ACCEPT)
        .header("Cache-Control", "no-cache")
        .header("Pragma", "no-cache")
        .call();
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            return Err(FetchError {
                message: redact_urls(&crate::resources::tls::explain(&e, page)),
                transient: !crate::resources::tls::is_certificate_error(&e),
            })
        }
    };
    let status = response.status().as_u16();
    if status == 404 {
        return Ok(None);
    }
    if status != 200 {
        return Err(FetchError {
            message: format!("the index answered HTTP {status}"),
            transient: status == 429 || status >= 500,
        });
    }
    let ctype = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/html")
        .to_ascii_lowercase();
    let body = response
        .body_mut()
        .with_config()
        .limit(PAGE_LIMIT)
        .read_to_string()
        .map_err(|e| FetchError {
            message: format!("the page could not be read: {}", redact(&e.to_string())),
            transient: true,
        })?;
    Ok(Some((ctype, body)))
}

fn parse_page(page: &str, content_type: &str, body: &str) -> Result<Vec<IndexFile>> {
    let shown = redact(page);
    let page = Url::parse(page).with_context(|| format!("`{shown}` is not a valid URL"))?;
    if content_type.contains("json") {
        parse_json(&page, body)
            .with_context(|| format!("`{shown}` is not a valid PEP 691 project page"))
    } else {
        parse_html(&page, body)
            .with_context(|| format!("`{shown}` is not a valid PEP 503 project page"))
    }
}

/// PEP 792's project status: `project-status.status` on a JSON page, the
/// `<meta name="pypi:project-status" content="…">` of an HTML one.
fn project_status(content_type: &str, body: &str) -> Option<String> {
    if content_type.contains("json") {
        let page: StatusPage = serde_json::from_str(body).ok()?;
        return page.project_status.map(|s| s.status);
    }
    let dom = tl::parse(body, tl::ParserOptions::default()).ok()?;
    dom.nodes()
        .iter()
        .filter_map(tl::Node::as_tag)
        .filter(|tag| named(tag, "meta"))
        .find(|tag| attribute(tag, "name").as_deref() == Some("pypi:project-status"))
        .and_then(|tag| attribute(tag, "content"))
}

/// A PEP 691 project page (https://peps.python.org/pep-0691/#project-detail): its `files`;
/// `name`, `meta` and the rest are not needed here, and unknown keys are ignored as the PEP
/// asks of clients.
#[derive(Deserialize)]
struct JsonPage {
    files: Vec<JsonFile>,
}

/// PEP 792's `project-status` of a JSON page (https://peps.python.org/pep-0792/).
#[derive(Deserialize)]
struct StatusPage {
    #[serde(rename = "project-status", default, deserialize_with = "lenient")]
    project_status: Option<ProjectStatus>,
}

#[derive(Deserialize)]
struct ProjectStatus {
    status: String,
}

/// One entry of a PEP 691 `files` array: `filename` and `url` required; `hashes`,
/// `requires-python`, `yanked` (PEP 691), `core-metadata` and the older `dist-info-metadata`
/// (PEP 714), `upload-time` (PEP 700) and `provenance` (PEP 740) read where given. An optional
/// key of another type than its PEP gives it is left out.
#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default, deserialize_with = "lenient")]
    hashes: Option<Hashes>,
    #[serde(rename = "requires-python", default, deserialize_with = "lenient")]
    requires_python: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    yanked: Option<Yanked>,
    #[serde(rename = "core-metadata", default, deserialize_with = "present")]
    core_metadata: Option<CoreMetadata>,
    #[serde(rename = "dist-info-metadata", default, deserialize_with = "present")]
    dist_info_metadata: Option<CoreMetadata>,
    #[serde(rename = "upload-time", default, deserialize_with = "lenient")]
    upload_time: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    provenance: Option<String>,
}

/// A hash dictionary (`hashes`, or `core-metadata`'s), of which only `sha256` is read.
#[derive(Deserialize)]
struct Hashes {
    #[serde(default, deserialize_with = "lenient")]
    sha256: Option<String>,
}

/// PEP 691: `yanked` is `false`, `true` or the reason.
#[derive(Deserialize)]
#[serde(untagged)]
enum Yanked {
    Flag(bool),
    Reason(String),
}

/// PEP 714: `core-metadata` is a boolean or a dictionary of hashes. A key present with any
/// other value (even `null`) still says "this key, not the older one": it reads as `Other`.
#[derive(Deserialize)]
#[serde(untagged)]
enum CoreMetadata {
    Flag(bool),
    Hashes(Hashes),
    Other(serde::de::IgnoredAny),
}

/// A key that is there, whatever its value; `None` only when it is missing (`default`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<CoreMetadata>, D::Error> {
    CoreMetadata::deserialize(deserializer).map(Some)
}

fn parse_json(page: &Url, body: &str) -> Result<Vec<IndexFile>> {
    let page_json: JsonPage = serde_json::from_str(body)?;
    page_json
        .files
        .into_iter()
        .map(|f| json_file(page, f))
        .collect()
}

/// One entry of a PEP 691 `files` array, its links resolved against the page.
fn json_file(page: &Url, file: JsonFile) -> Result<IndexFile> {
    let yanked = match file.yanked {
        Some(Yanked::Reason(reason)) => Some(reason),
        Some(Yanked::Flag(true)) => Some(String::new()),
        _ => None,
    };
    let core_metadata = match file.core_metadata.or(file.dist_info_metadata) {
        Some(CoreMetadata::Flag(true)) => Some("true".to_string()),
        Some(CoreMetadata::Hashes(hashes)) => Some(match hashes.sha256 {
            Some(sha) => format!("sha256={sha}"),
            None => "true".to_string(),
        }),
        _ => None,
    };
    Ok(IndexFile {
        url: join_link(page, &file.url)?.to_string(),
        filename: file.filename,
        sha256: file
            .hashes
            .and_then(|h| h.sha256)
            .map(|sha| sha.to_ascii_lowercase()),
        requires_python: file.requires_python,
        yanked,
        core_metadata,
        upload_time: file.upload_time,
        provenance: file
            .provenance
            .map(|p| join_link(page, &p).map(|u| u.to_string()))
            .transpose()?,
    })
}

/// The anchors of a PEP 503 page (https://peps.python.org/pep-0503/), read with an HTML
/// tokenizer: links resolve against the page's `<base href>` if it has one, and character
/// references in attributes and link text are decoded.
fn parse_html(page: &Url, body: &str) -> Result<Vec<IndexFile>> {
    let lower = body.to_ascii_lowercase();
    if !lower.contains("<html")
        && !lower.contains("<a ")
        && !lower.trim().is_empty()
        && !lower.contains("<!doctype")
    {
        bail!("the page is not HTML");
    }
    let dom = tl::parse(body, tl::ParserOptions::default())?;
    let tags = || dom.nodes().iter().filter_map(tl::Node::as_tag);
    // https://html.spec.whatwg.org/multipage/urls-and-fetching.html#document-base-url: the
    // first `<base>` with an `href`.
    let base = match tags().find_map(|tag| named(tag, "base").then(|| attribute(tag, "href"))?) {
        Some(href) => join_link(page, &href)?,
        None => page.clone(),
    };
    // The tokenizer drops an anchor it cannot read (an unquoted `href=/a/b`), and a file left
    // out of a listing would read as "not on the index": refuse the page instead.
    let read = tags().filter(|tag| named(tag, "a")).count();
    let written = anchors_written(&lower);
    if read < written {
        bail!(
            "the page has {written} links but only {read} could be read (attribute values \
             without quotes?)"
        );
    }
    let mut files = Vec::new();
    for anchor in tags().filter(|tag| named(tag, "a")) {
        let Some(href) = attribute(anchor, "href") else {
            continue;
        };
        let mut url = join_link(&base, &href)?;
        let sha256 = url
            .fragment()
            .and_then(|f| f.strip_prefix("sha256="))
            .map(str::to_ascii_lowercase);
        url.set_fragment(None);
        files.push(IndexFile {
            filename: decode(anchor.inner_text(dom.parser()).trim()),
            url: url.to_string(),
            sha256,
            requires_python: attribute(anchor, "data-requires-python"),
            yanked: attribute(anchor, "data-yanked"),
            core_metadata: attribute(anchor, "data-core-metadata")
                .or_else(|| attribute(anchor, "data-dist-info-metadata")),
            upload_time: None,
            provenance: attribute(anchor, "data-provenance")
                .map(|p| join_link(&base, &p).map(|u| u.to_string()))
                .transpose()?,
        });
    }
    Ok(files)
}

/// How many `<a` start tags the (lower-cased) text holds.
fn anchors_written(lower: &str) -> usize {
    lower
        .match_indices("<a")
        .filter(|(at, _)| {
            lower[at + 2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_whitespace() || c == '>')
        })
        .count()
}

/// Whether an element has this (lower-case) name; HTML names are case-insensitive.
fn named(tag: &tl::HTMLTag, name: &str) -> bool {
    tag.name().as_utf8_str().eq_ignore_ascii_case(name)
}

/// An attribute's value with its character references decoded; an attribute written without a
/// value (`data-yanked`) is the empty string.
fn attribute(tag: &tl::HTMLTag, name: &str) -> Option<String> {
    tag.attributes()
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.map_or_else(String::new, |v| decode(&v)))
}

/// Text with its character references (`&amp;`, `&#38;`, `&#x26;`, every named one) decoded.
fn decode(text: &str) -> String {
    html_escape::decode_html_entities(text).into_owned()
}

/// Resolves a link (absolute, scheme-relative, host-relative or path-relative, with `..`)
/// against `base`, as a browser does (https://url.spec.whatwg.org/#concept-url-parser).
fn join_link(base: &Url, link: &str) -> Result<Url> {
    base.join(link.trim())
        .with_context(|| format!("the link `{}` is not a valid URL", redact(link)))
}

/// One file to upload, with what the form needs.
pub struct Upload<'a> {
    pub path: &'a Path,
    pub filename: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    pub blake2_256: &'a str,
    pub metadata: &'a Metadata,
    /// PEP 740 attestations of this file, the JSON array the `attestations` field carries.
    pub attestations: Option<&'a str>,
}

/// How one POST ended.
#[derive(Debug)]
pub enum PostOutcome {
    /// 200: the index took the file.
    Accepted,
    /// 409, or 400 saying the file exists: the index has a file of that name, the same or not.
    Exists(String),
    /// The connection failed or the index answered 429/5xx: the index may or may not have the
    /// file. `retry_after` is the server's `Retry-After`, if any.
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// A refusal that another try will not change (400, 401, 403, …), with the server's words.
    Refused { status: u16, message: String },
}

const UPLOAD_STALL: Duration = Duration::from_secs(60);
const UPLOAD_ANSWER_BODY: Duration = Duration::from_secs(30);

pub fn upload_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A streamed body cannot be replayed on a redirect: report it instead. PyPI answers a
        // POST to `/legacy` with a 308 to `/legacy/`; uv follows such redirects itself
        // (https://github.com/astral-sh/uv/blob/main/crates/uv-publish/src/lib.rs).
        .max_redirects(0)
        .redirect_auth_headers(RedirectAuthHeaders::Never)
        // Bounds on every phase of an upload (docs/http-client.md): 15 s to connect, 60 s for
        // the index to take each write of the body, 600 s from the last byte sent to the
        // answer's headers (an index checks a big file before it answers, in silence), 30 s
        // for the answer's body (a message of at most 64 KB), and an hour in all. A timed-out
        // answer is transient: the stage settles it by reading the index.
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_per_write(Some(UPLOAD_STALL))
        .timeout_recv_response(Some(Duration::from_secs(600)))
        .timeout_recv_body(Some(UPLOAD_ANSWER_BODY))
        .timeout_global(Some(Duration::from_secs(3600)))
        .user_agent(concat!("twostage/", env!("CARGO_PKG_VERSION")))
        .tls_config(crate::resources::tls::config())
        .build()
        .into()
}

/// Sends one file with one multipart POST, streaming it from disk: memory stays flat
/// whatever the file's size.
pub fn post_file(
    agent: &ureq::Agent,
    upload_url: &str,
    credentials: &Credentials,
    file: &Upload,
) -> PostOutcome {
    match send(agent, upload_url, credentials, file) {
        Ok(response) => outcome(upload_url, response, credentials),
        Err(outcome) => outcome,
    }
}

/// The parts of a `multipart/form-data` body (RFC 7578) around the file's bytes.
struct Form {
    boundary: String,
    head: String,
    tail: String,
}

impl Form {
    /// The legacy upload API's fields (https://docs.pypi.org/api/upload/) and the file's part
    /// header, then the closing boundary.
    fn for_upload(file: &Upload) -> Form {
        let boundary = format!("twostage-{}", &file.sha256[..32]);
        let kind = Kind::of(file.filename).unwrap_or(Kind::Sdist);
        let pyversion = match kind {
            Kind::Wheel => dist::wheel_python_tag(file.filename)
                .unwrap_or("py3")
                .to_string(),
            Kind::Sdist => "source".to_string(),
        };
        let mut fields: Vec<(&str, String)> = vec![
            (":action", "file_upload".into()),
            ("protocol_version", "1".into()),
            ("filetype", kind.filetype().into()),
            ("pyversion", pyversion),
            ("sha256_digest", file.sha256.into()),
            ("blake2_256_digest", file.blake2_256.into()),
        ];
        fields.extend(file.metadata.form_fields());
        if let Some(attestations) = file.attestations {
            // Warehouse reads it as a JSON array of attestation objects, one per predicate
            // (`warehouse/attestations/services.py` in pypi/warehouse).
            fields.push(("attestations", attestations.to_string()));
        }
        let mut head = String::new();
        for (name, value) in &fields {
            head.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            file.filename
        ));
        let tail = format!("\r\n--{boundary}--\r\n");
        Form {
            boundary,
            head,
            tail,
        }
    }

    fn length(&self, file_size: u64) -> u64 {
        self.head.len() as u64 + file_size + self.tail.len() as u64
    }
}

/// The POST itself; a failure before any answer is already its outcome.
fn send(
    agent: &ureq::Agent,
    upload_url: &str,
    credentials: &Credentials,
    file: &Upload,
) -> std::result::Result<ureq::http::Response<ureq::Body>, PostOutcome> {
    let form = Form::for_upload(file);
    let length = form.length(file.size);
    let content = std::fs::File::open(file.path).map_err(|e| PostOutcome::Refused {
        status: 0,
        message: format!("cannot open `{}`: {e}", file.path.display()),
    })?;
    let progress = Progress::new(format!("`{}`", file.filename), length);
    let body = std::io::Cursor::new(form.head.into_bytes())
        .chain(content.take(file.size))
        .chain(std::io::Cursor::new(form.tail.into_bytes()));
    let body = progress.reader(body);
    let response = agent
        .post(upload_url)
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={}", form.boundary),
        )
        .header("Content-Length", &length.to_string())
        .header("Authorization", &credentials.basic_auth())
        // PyPI answers errors as JSON `{"message": …}` when asked (uv does the same).
        .header(
            "Accept",
            "application/json;q=0.9, text/plain;q=0.8, text/html;q=0.7",
        )
        .send(ureq::SendBody::from_owned_reader(body));
    progress.finish();
    response.map_err(|e| {
        if crate::resources::tls::is_certificate_error(&e) {
            // A refused certificate is refused again on every try: no retry.
            PostOutcome::Refused {
                status: 0,
                message: scrub(&crate::resources::tls::explain(&e, upload_url), credentials),
            }
        } else {
            PostOutcome::Transient {
                message: scrub(&e.to_string(), credentials),
                retry_after: None,
            }
        }
    })
}

/// What the index's answer to an upload means.
fn outcome(
    upload_url: &str,
    mut response: ureq::http::Response<ureq::Body>,
    credentials: &Credentials,
) -> PostOutcome {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(60)));
    let location = header("location");
    let text = match response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
    {
        Ok(text) => text,
        Err(ureq::Error::BodyExceedsLimit(_)) => "(a message of over 64 KB)".into(),
        // A success is one whatever its message; anything else whose message stalls or
        // breaks off is settled by reading the index, as a failed connection is.
        Err(e) if !(200..=299).contains(&status) => {
            return PostOutcome::Transient {
                message: format!(
                    "HTTP {status}, whose message did not arrive whole ({})",
                    scrub(&e.to_string(), credentials)
                ),
                retry_after,
            }
        }
        Err(_) => String::new(),
    };
    // Scrubbed before it is reformatted (tags dropped, whitespace joined), which could split
    // an echoed secret, and again after.
    let message = scrub(&server_message(&scrub(&text, credentials)), credentials);
    match status {
        200..=299 => PostOutcome::Accepted,
        409 => PostOutcome::Exists(message),
        400 if message.to_ascii_lowercase().contains("already exist") => {
            PostOutcome::Exists(message)
        }
        429 | 500..=599 => PostOutcome::Transient {
            message: format!("HTTP {status}: {message}"),
            retry_after,
        },
        300..=399 => PostOutcome::Refused {
            status,
            message: format!(
                "the index redirects to `{}`: set the upload URL to that address",
                redirect_target(upload_url, location.as_deref())
            ),
        },
        _ => PostOutcome::Refused { status, message },
    }
}

/// Where a redirect points, as a whole URL fit for a message: `Location` may be relative
/// (PyPI answers `/legacy` with `Location: /legacy/`), so it is resolved against the URL
/// posted to.
fn redirect_target(upload_url: &str, location: Option<&str>) -> String {
    let Some(location) = location else {
        return "?".into();
    };
    let resolved = Url::parse(upload_url).and_then(|base| base.join(location));
    redact(resolved.as_ref().map_or(location, Url::as_str))
}

/// A server's error body made readable: JSON `message`, else the page's text, without the
/// elements that are not its message (a stylesheet, as pypiserver's 403 page starts with,
/// scripts, and the title that repeats the heading), at most 500 bytes.
fn server_message(body: &str) -> String {
    if let Ok(UploadError {
        message: Some(message),
    }) = serde_json::from_str(body)
    {
        return message;
    }
    let mut text = String::with_capacity(body.len());
    match tl::parse(body, tl::ParserOptions::default()) {
        Ok(dom) => {
            for node in dom.children() {
                page_text(node, dom.parser(), &mut text);
            }
        }
        Err(_) => text.push_str(body),
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut message = words.join(" ");
    if message.len() > 500 {
        let cut = (0..=500)
            .rev()
            .find(|&i| message.is_char_boundary(i))
            .unwrap_or(0);
        message.truncate(cut);
        message.push('…');
    }
    if message.is_empty() {
        "(no message)".into()
    } else {
        message
    }
}

/// An upload's error answer as JSON: Warehouse's `{"message": …}` when asked for JSON (the
/// `Accept` header `send` gives; https://docs.pypi.org/api/upload/).
#[derive(Deserialize)]
struct UploadError {
    #[serde(default, deserialize_with = "lenient")]
    message: Option<String>,
}

/// The text under `node`, decoded, every element a word boundary.
fn page_text(node: &tl::NodeHandle, parser: &tl::Parser, out: &mut String) {
    match node.get(parser) {
        Some(tl::Node::Raw(text)) => out.push_str(&decode(&text.as_utf8_str())),
        Some(tl::Node::Tag(tag)) if !["style", "script", "title"].iter().any(|n| named(tag, n)) => {
            out.push(' ');
            for child in tag.children().top().iter() {
                page_text(child, parser, out);
            }
            out.push(' ');
        }
        _ => {}
    }
}

/// Removes the secret (and its Base64 form in a Basic header), every other loaded secret in
/// every spelling, and URL credentials from a message.
fn scrub(message: &str, credentials: &Credentials) -> String {
    let secret = credentials.password.expose();
    let mut out = message.to_string();
    if !secret.is_empty() {
        let header = credentials.basic_auth();
        out = out.replace(header.trim_start_matches("Basic "), "***");
        out = out.replace(secret, "***");
    }
    redact_secrets(&out)
}

/// The size and sha256 of what `url` serves, read without keeping it (an index page that
/// shows no hash). Memory stays flat whatever the size.
pub fn digest(agent: &ureq::Agent, url: &str) -> Result<(u64, String)> {
    let mut sink = std::io::sink();
    fetch(agent, url, u64::MAX, &mut sink)
}

/// Downloads `url` to `dest` as a file of `size` bytes with `sha256`: through a temporary file
/// beside `dest`, reading at most one byte more than `size`, renamed into place only once the
/// hash matches. Returns why the bytes were refused (`dest` then untouched), or `None`.
pub fn download(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    size: u64,
    sha256: &str,
) -> Result<Option<String>> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in `{}`", dir.display()))?;
    let (got_size, got_sha256) = fetch(agent, url, size.saturating_add(1), temp.as_file_mut())?;
    if got_size > size {
        return Ok(Some(format!(
            "the index served more than the recorded {size} bytes"
        )));
    }
    if got_sha256 != sha256 {
        return Ok(Some(format!(
            "the index served bytes with sha256 {got_sha256}, not the recorded {sha256}"
        )));
    }
    temp.as_file().sync_all()?;
    temp.persist(dest)
        .with_context(|| format!("cannot write `{}`", dest.display()))?;
    Ok(None)
}

/// Streams at most `limit` bytes of `url` into `out`; returns their size and sha256.
fn fetch(
    agent: &ureq::Agent,
    url: &str,
    limit: u64,
    out: &mut dyn std::io::Write,
) -> Result<(u64, String)> {
    use sha2::{Digest, Sha256};
    let shown = redact(url);
    let mut response = agent.get(url).call().map_err(|e| {
        anyhow::anyhow!(
            "cannot download `{shown}`: {}",
            redact_urls(&crate::resources::tls::explain(&e, url))
        )
    })?;
    let status = response.status().as_u16();
    if status != 200 {
        bail!("cannot download `{shown}`: HTTP {status}");
    }
    let reader = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut reader = reader.take(limit);
    let mut sha = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = reader
            .read(&mut buffer)
            .with_context(|| format!("cannot download `{shown}`"))?;
        if n == 0 {
            break;
        }
        sha.update(&buffer[..n]);
        out.write_all(&buffer[..n])
            .context("cannot write the download")?;
        size += n as u64;
    }
    Ok((size, dist::hex(&sha.finalize())))
}

/// What an index serves under one of our file names, against the sha256 we recorded.
#[derive(Debug, PartialEq, Eq)]
pub enum Served {
    /// The page does not list the file.
    Absent,
    /// The file is served with the recorded sha256.
    Same,
    /// The file is served with other bytes: this sha256.
    Other(String),
}

/// Whether `listing` (a project page already read) serves `filename` with `sha256`: the one
/// "is this file served with this hash" check that every step uses. A page that lists the file
/// without a hash is not taken on trust: the served bytes are downloaded and hashed.
pub fn served_as(
    agent: &ureq::Agent,
    listing: &[IndexFile],
    filename: &str,
    sha256: &str,
) -> Result<Served> {
    let Some(file) = listing.iter().find(|f| f.filename == filename) else {
        return Ok(Served::Absent);
    };
    let served = match &file.sha256 {
        Some(sha) => sha.clone(),
        None => {
            digest(agent, &file.url)
                .with_context(|| format!("cannot hash `{filename}` as the index serves it"))?
                .1
        }
    };
    Ok(if served == sha256 {
        Served::Same
    } else {
        Served::Other(served)
    })
}

/// Whether the index serves every artifact with its recorded sha256, right now.
pub fn serves(
    agent: &ureq::Agent,
    index_url: &str,
    project: &str,
    artifacts: &[ArtifactRecord],
) -> Result<bool> {
    let listing = project_files(agent, index_url, project)?.unwrap_or_default();
    all_served(agent, &listing, artifacts)
}

/// Whether `listing` (a page already read) serves every artifact with its recorded sha256.
pub fn all_served(
    agent: &ureq::Agent,
    listing: &[IndexFile],
    artifacts: &[ArtifactRecord],
) -> Result<bool> {
    for artifact in artifacts {
        if served_as(agent, listing, &artifact.filename, &artifact.sha256)? != Served::Same {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One project's files of a set on one index: its name and the files with their hashes.
pub type ProjectFiles<'a> = (&'a str, &'a [ArtifactRecord]);

/// `f` over every item, at most `limit` at once on threads of their own (each request to an
/// index waits mostly on the network); the results in the items' order. Nothing new starts
/// once an interrupt is being handled (its item gets `None`).
pub fn concurrently<T: Sync, R: Send>(
    items: &[T],
    limit: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<R>>> =
        std::sync::Mutex::new(items.iter().map(|_| None).collect());
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        if i >= items.len() || crate::interrupt::stopping() {
            return;
        }
        let result = f(&items[i]);
        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
    };
    std::thread::scope(|scope| {
        for _ in 1..limit.clamp(1, items.len().max(1)) {
            scope.spawn(worker);
        }
        // The calling thread is one of the workers.
        worker();
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// How many reads in a row must list every file with its recorded sha256 before a wait counts
/// as served, and how far apart those reads are. An index behind a CDN (TestPyPI, PyPI) can
/// serve an older page right after a newer one, so one good read is not yet "served". uv's
/// publish tests ask for 3 consecutive consistent reads, 2 s apart (`wait_for_index` in
/// astral-sh/uv `scripts/publish/test_publish.py`, uv pull request 21050); twostage asks for
/// the same 3, 1 s apart, since it polls a lagging page from 0.2 s rather than every 2 s.
pub const STABLE_READS: u32 = 3;

/// The file sets this process has seen served stably, by index, project and file hashes.
fn confirmed() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<String>> {
    static CONFIRMED: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    CONFIRMED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One key per file of the set: a wait confirms each file, so that a later wait for any of
/// them (a project's verification, a dependent's verification that installs a sibling's
/// wheel) counts as confirmed too.
fn confirmation_keys(index_url: &str, set: &[ProjectFiles]) -> Vec<String> {
    set.iter()
        .flat_map(|(project, artifacts)| {
            artifacts
                .iter()
                .map(move |a| format!("{index_url} {project} {}={}", a.filename, a.sha256))
        })
        .collect()
}

pub const STABLE_SPACING: Duration = Duration::from_secs(1);

/// Polls the project pages of the set (each project's page, all read at once), bypassing
/// caches, until `STABLE_READS` reads in a row list every file with its recorded sha256: one
/// wait for the whole set, however many projects it spans. A file listed with another hash
/// fails at once; a lag, or a page that goes back to an older state, is waited out up to
/// `timeout`.
pub fn wait_until_served(
    agent: &ureq::Agent,
    label: &str,
    index_url: &str,
    set: &[ProjectFiles],
    timeout: Duration,
) -> Result<Duration> {
    let started = Instant::now();
    let total: usize = set.iter().map(|(_, artifacts)| artifacts.len()).sum();
    let progress = Progress::new(format!("for {label} to serve {total} files"), 0);
    let mut poll = Duration::from_millis(200);
    let (mut agreeing, mut said) = (0, false);
    let keys = confirmation_keys(index_url, set);
    // Confirmed once in this run (staging's upload, then its verification): one read that
    // lists every file is enough the second time.
    let needed = if keys.iter().all(|key| confirmed().contains(key)) {
        1
    } else {
        STABLE_READS
    };
    loop {
        let read_at = Instant::now();
        let missing =
            missing_now(agent, label, index_url, set).inspect_err(|_| progress.finish())?;
        let seconds = started.elapsed().as_secs();
        if missing.is_empty() {
            agreeing += 1;
            if agreeing >= needed {
                progress.finish();
                confirmed().extend(keys);
                return Ok(started.elapsed());
            }
            if !said {
                said = true;
                crate::output::status(
                    "Confirming",
                    format!(
                        "the {label} index lists every file; it counts as served after \
                         {STABLE_READS} reads in a row, {}s apart, agree",
                        STABLE_SPACING.as_secs()
                    ),
                );
            }
            progress.message(&format!(
                "(every file listed, {agreeing} of {STABLE_READS} reads in a row, {seconds}s)"
            ));
        } else {
            if agreeing > 0 {
                crate::output::warn(format!(
                    "the {label} index listed every file, then served a page without {}: \
                     an older page (a CDN); waiting for {STABLE_READS} reads in a row",
                    missing.join(", ")
                ));
            }
            agreeing = 0;
            progress.message(&format!(
                "({} of {total} listed, {seconds}s)",
                total - missing.len(),
            ));
        }
        // The timeout bounds the wait for the files; once every one is listed, the reads
        // that confirm it are not cut short (a page that goes back starts the count again).
        if agreeing == 0 && started.elapsed() >= timeout {
            progress.finish();
            return Err(timed_out(label, seconds, &missing, said, timeout));
        }
        if agreeing == 0 {
            std::thread::sleep(poll.min(timeout.saturating_sub(started.elapsed())));
            poll = (poll * 2).min(Duration::from_secs(2));
        } else {
            // The confirming reads start `STABLE_SPACING` apart, however long each takes.
            std::thread::sleep(STABLE_SPACING.saturating_sub(read_at.elapsed()));
        }
    }
}

/// The error of a wait that ran out of time with `missing` not listed; `flapped` when the
/// index had listed every file on an earlier read.
fn timed_out(
    label: &str,
    seconds: u64,
    missing: &[String],
    flapped: bool,
    timeout: Duration,
) -> anyhow::Error {
    let limit = format!("(`verify.index-timeout` is {}s)", timeout.as_secs());
    let missing = missing.join(", ");
    match flapped {
        true => anyhow::anyhow!(
            "after {seconds}s the {label} index's page still changes between reads: it listed \
             every file, then not {missing}; never {STABLE_READS} reads in a row {limit}"
        ),
        false => anyhow::anyhow!(
            "after {seconds}s the {label} index still does not list {missing} {limit}"
        ),
    }
}

/// How many project pages a wait reads at once.
const PAGES_AT_ONCE: usize = 4;

/// One read of every project page of the set (at most `PAGES_AT_ONCE` at a time): the files
/// they do not list yet. A file listed with another sha256 than the one uploaded is an error.
fn missing_now(
    agent: &ureq::Agent,
    label: &str,
    index_url: &str,
    set: &[ProjectFiles],
) -> Result<Vec<String>> {
    let read = concurrently(set, PAGES_AT_ONCE, |(project, artifacts)| {
        missing_of(agent, label, index_url, project, artifacts)
    });
    let mut missing = Vec::new();
    for files in read {
        // `None`: an interrupt is being handled, and the process ends.
        missing.extend(files.context("interrupted")??);
    }
    Ok(missing)
}

/// One read of one project's page: its files the page does not list yet.
fn missing_of(
    agent: &ureq::Agent,
    label: &str,
    index_url: &str,
    project: &str,
    artifacts: &[ArtifactRecord],
) -> Result<Vec<String>> {
    let listing = project_files(agent, index_url, project)
        .with_context(|| format!("cannot read the {label} index while waiting for it"))?
        .unwrap_or_default();
    let mut missing = Vec::new();
    for artifact in artifacts {
        match served_as(agent, &listing, &artifact.filename, &artifact.sha256)? {
            Served::Same => {}
            Served::Absent => missing.push(artifact.filename.clone()),
            Served::Other(sha) => bail!(
                "the {label} index serves `{}` with sha256 {sha}, but {} was uploaded: \
                 do not promote this release",
                artifact.filename,
                artifact.sha256
            ),
        }
    }
    Ok(missing)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn server_messages_are_readable_and_scrubbed() {
        assert_eq!(
            server_message(
                "<html><body><h1>403 Forbidden</h1><p>Invalid &amp; wrong</p></body></html>"
            ),
            "403 Forbidden Invalid & wrong"
        );
        assert_eq!(
            server_message(
                "<html><head><title>Error: 403 Forbidden</title>\n<STYLE type=\"text/css\">html {background-color: #eee}</STYLE></head>\
                 <body><h1>Error: 403 Forbidden</h1><p>Sorry, the requested URL caused an error:</p></body></html>"
            ),
            "Error: 403 Forbidden Sorry, the requested URL caused an error:"
        );
        assert_eq!(
            server_message(r#"{"message": "File already exists"}"#),
            "File already exists"
        );
        let credentials = Credentials {
            username: "__token__".into(),
            password: crate::resources::secrets::Secret::new("pypi-SECRET"),
        };
        let header = credentials.basic_auth();
        let echoed = format!("bad token pypi-SECRET {header} at https://u:pw@host/x");
        let scrubbed = scrub(&echoed, &credentials);
        assert!(!scrubbed.contains("SECRET"), "{scrubbed}");
        assert!(
            !scrubbed.contains(header.trim_start_matches("Basic ")),
            "{scrubbed}"
        );
        assert!(!scrubbed.contains("u:pw"), "{scrubbed}");
    }

    #[test]
    fn redirects_are_shown_as_whole_urls_without_credentials() {
        assert_eq!(
            redirect_target("https://upload.pypi.org/legacy", Some("/legacy/")),
            "https://upload.pypi.org/legacy/"
        );
        assert_eq!(
            redirect_target(
                "http://u:pw@127.0.0.1:8080/upload",
                Some("http://u:pw@127.0.0.1:8080/upload/")
            ),
            "http://***@127.0.0.1:8080/upload/"
        );
        assert_eq!(redirect_target("https://x/legacy", None), "?");
    }

    #[test]
    fn the_upload_form_frames_the_file_exactly() {
        let metadata = Metadata::parse("Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n");
        let sha256 = "ab".repeat(32);
        let file = Upload {
            path: Path::new("/nonexistent"),
            filename: "pkg-1.0-py3-none-any.whl",
            size: 7,
            sha256: &sha256,
            blake2_256: "cd",
            metadata: &metadata,
            attestations: None,
        };
        let form = Form::for_upload(&file);
        assert_eq!(form.boundary, format!("twostage-{}", "ab".repeat(16)));
        assert!(form.head.starts_with(&format!(
            "--{}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n",
            form.boundary
        )));
        assert!(form
            .head
            .contains("name=\"filetype\"\r\n\r\nbdist_wheel\r\n"));
        assert!(form.head.contains("name=\"pyversion\"\r\n\r\npy3\r\n"));
        assert!(form.head.ends_with(
            "filename=\"pkg-1.0-py3-none-any.whl\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ));
        assert_eq!(form.tail, format!("\r\n--{}--\r\n", form.boundary));
        assert_eq!(
            form.length(7),
            (form.head.len() + 7 + form.tail.len()) as u64
        );
        // A file that cannot be opened is refused before anything is sent.
        let outcome = post_file(
            &upload_agent(),
            "http://127.0.0.1:9/",
            &Credentials {
                username: "__token__".into(),
                password: crate::resources::secrets::Secret::new("pypi-unused-here"),
            },
            &file,
        );
        assert!(
            matches!(outcome, PostOutcome::Refused { status: 0, .. }),
            "{outcome:?}"
        );
    }

    #[test]
    fn attestations_go_in_their_own_field_before_the_file() {
        let metadata = Metadata::parse("Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n");
        let sha256 = "ab".repeat(32);
        let file = Upload {
            path: Path::new("/nonexistent"),
            filename: "pkg-1.0.tar.gz",
            size: 7,
            sha256: &sha256,
            blake2_256: "cd",
            metadata: &metadata,
            attestations: Some(r#"[{"version":1}]"#),
        };
        let form = Form::for_upload(&file);
        let field = "name=\"attestations\"\r\n\r\n[{\"version\":1}]\r\n";
        let at = form.head.find(field).expect("an attestations field");
        assert!(at < form.head.find("name=\"content\"").unwrap());
        let without = Form::for_upload(&Upload {
            attestations: None,
            ..file
        });
        assert!(!without.head.contains("attestations"));
    }

    #[test]
    fn filename_versions() {
        assert_eq!(
            filename_version("pkg-1.4.3-py3-none-any.whl"),
            Some("1.4.3")
        );
        assert_eq!(
            filename_version("demo_pkg-0.2.0rc1.tar.gz"),
            Some("0.2.0rc1")
        );
        assert_eq!(filename_version("my-pkg-1.0.zip"), Some("1.0"));
        assert_eq!(filename_version("README"), None);
    }

    #[test]
    fn html_pages_with_relative_links_and_hashes() {
        let page = "http://127.0.0.1:8080/simple/pkg/";
        let body = "<!DOCTYPE html><html><body>\n<a href=\"../../packages/pkg-1.0-py3-none-any.whl#sha256=ABC\" data-requires-python=\"&gt;=3.8\">pkg-1.0-py3-none-any.whl</a><br>\n<a href='/packages/pkg-1.0.tar.gz#md5=x'>pkg-1.0.tar.gz</a>\n</body></html>";
        let files = parse_page(page, "text/html", body).unwrap();
        assert_eq!(
            files,
            vec![
                IndexFile {
                    filename: "pkg-1.0-py3-none-any.whl".into(),
                    url: "http://127.0.0.1:8080/packages/pkg-1.0-py3-none-any.whl".into(),
                    sha256: Some("abc".into()),
                    requires_python: Some(">=3.8".into()),
                    ..Default::default()
                },
                IndexFile {
                    filename: "pkg-1.0.tar.gz".into(),
                    url: "http://127.0.0.1:8080/packages/pkg-1.0.tar.gz".into(),
                    sha256: None,
                    ..Default::default()
                },
            ]
        );
    }

    #[test]
    fn html_links_resolve_against_the_base_href() {
        let page = "https://pypi.example/simple/pkg/";
        // A relative base resolves against the page; links then against the base.
        let body = "<!DOCTYPE html><html><head><BASE HREF=\"../../mirror/files/\"></head><body>\
                    <a href=\"pkg-1.0.tar.gz#sha256=AA\">pkg-1.0.tar.gz</a>\
                    <a href=\"../other/pkg-1.0-py3-none-any.whl\">pkg-1.0-py3-none-any.whl</a>\
                    <a href=\"/abs/pkg-0.9.tar.gz\">pkg-0.9.tar.gz</a>\
                    <a href=\"//cdn.example/pkg-0.8.tar.gz\">pkg-0.8.tar.gz</a>\
                    </body></html>";
        let urls: Vec<String> = parse_page(page, "text/html", body)
            .unwrap()
            .into_iter()
            .map(|f| f.url)
            .collect();
        assert_eq!(
            urls,
            [
                "https://pypi.example/mirror/files/pkg-1.0.tar.gz",
                "https://pypi.example/mirror/other/pkg-1.0-py3-none-any.whl",
                "https://pypi.example/abs/pkg-0.9.tar.gz",
                "https://cdn.example/pkg-0.8.tar.gz",
            ]
        );
        // An absolute base on another host.
        let body = "<html><base href=\"https://files.example/p/\"><a href=\"x-1.0.zip\">x-1.0.zip</a></html>";
        let files = parse_page(page, "text/html", body).unwrap();
        assert_eq!(files[0].url, "https://files.example/p/x-1.0.zip");
    }

    #[test]
    fn a_page_whose_links_cannot_all_be_read_is_refused_not_read_short() {
        let page = "https://pypi.example/simple/pkg/";
        let body = "<html><body><a href=/f/pkg-1.0.tar.gz#sha256=ab>pkg-1.0.tar.gz</a>\
                    <a href=\"/f/pkg-1.1.tar.gz\">pkg-1.1.tar.gz</a></body></html>";
        let err = format!("{:#}", parse_page(page, "text/html", body).unwrap_err());
        assert!(err.contains("2 links but only 1"), "{err}");
        // Quoted either way, and names that merely start with `a`, are read whole.
        let body = "<html><abbr>x</abbr><A HREF='/f/pkg-1.0.tar.gz'>pkg-1.0.tar.gz</A>\
                    <a\nhref=\"/f/pkg-1.1.tar.gz\">pkg-1.1.tar.gz</a></html>";
        assert_eq!(parse_page(page, "text/html", body).unwrap().len(), 2);
    }

    #[test]
    fn html_character_references_are_decoded_in_attributes_and_text() {
        let page = "http://[::1]:8080/simple/pkg/";
        let body = "<html><body>\
            <a href=\"/f/pkg-1.0.tar.gz?a=1&amp;b=2&#38;c=3&#x26;d=4#sha256=Ab\" \
               data-requires-python=\"&gt;=3.8,&#x3C;4\" data-yanked=\"bad &quot;build&quot;\" \
               data-dist-info-metadata=\"sha256=&#x31;23\">pkg&#45;1.0.tar.gz</a>\
            <A HREF='../../f/pkg%2B1-1.1 final.tar.gz' data-core-metadata=true data-yanked>pkg-1.1.tar.gz</A>\
            </body></html>";
        let files = parse_page(page, "text/html", body).unwrap();
        assert_eq!(
            files,
            [
                IndexFile {
                    filename: "pkg-1.0.tar.gz".into(),
                    url: "http://[::1]:8080/f/pkg-1.0.tar.gz?a=1&b=2&c=3&d=4".into(),
                    sha256: Some("ab".into()),
                    requires_python: Some(">=3.8,<4".into()),
                    yanked: Some("bad \"build\"".into()),
                    core_metadata: Some("sha256=123".into()),
                    upload_time: None,
                    provenance: None,
                },
                IndexFile {
                    filename: "pkg-1.1.tar.gz".into(),
                    // Percent-escapes stay as written; a space is escaped.
                    url: "http://[::1]:8080/f/pkg%2B1-1.1%20final.tar.gz".into(),
                    sha256: None,
                    requires_python: None,
                    yanked: Some(String::new()),
                    core_metadata: Some("true".into()),
                    upload_time: None,
                    provenance: None,
                },
            ]
        );
    }

    #[test]
    fn project_pages_are_folders_under_the_index() {
        let page = |index: &str, name: &str| project_page(index, name).unwrap().to_string();
        assert_eq!(
            page("https://pypi.org/simple", "My_Pkg.x"),
            "https://pypi.org/simple/my-pkg-x/"
        );
        assert_eq!(
            page("https://pypi.org/simple/", "pkg"),
            "https://pypi.org/simple/pkg/"
        );
        assert_eq!(
            page("http://u:p%40ss@[::1]:3141/root/+simple", "pkg"),
            "http://u:p%40ss@[::1]:3141/root/+simple/pkg/"
        );
        assert!(project_page("pypi.org/simple", "pkg").is_err());
        assert!(project_page("mailto:x@example.org", "pkg").is_err());
    }

    #[test]
    fn project_statuses() {
        let json =
            r#"{"meta":{"api-version":"1.4"},"project-status":{"status":"archived"},"files":[]}"#;
        assert_eq!(
            project_status("application/vnd.pypi.simple.v1+json", json).as_deref(),
            Some("archived")
        );
        let html = r#"<html><head><meta name="pypi:project-status" content="archived"></head><body></body></html>"#;
        assert_eq!(
            project_status("text/html", html).as_deref(),
            Some("archived")
        );
        assert_eq!(project_status("text/html", "<html></html>"), None);
        assert_eq!(
            project_status("application/vnd.pypi.simple.v1+json", "{}"),
            None
        );
    }

    #[test]
    fn json_pages() {
        let page = "http://127.0.0.1:3141/u/staging/+simple/pkg/";
        let body = r#"{"meta":{"api-version":"1.0"},"name":"pkg","files":[{"filename":"pkg-1.0.tar.gz","url":"../../+f/abc/pkg-1.0.tar.gz#sha256=ff","hashes":{"sha256":"FF"}}]}"#;
        let files = parse_page(page, "application/vnd.pypi.simple.v1+json", body).unwrap();
        assert_eq!(
            files[0].url,
            "http://127.0.0.1:3141/u/staging/+f/abc/pkg-1.0.tar.gz#sha256=ff"
        );
        assert_eq!(files[0].sha256.as_deref(), Some("ff"));
        assert_eq!(files[0].yanked, None);
        assert_eq!(files[0].upload_time, None);
        let body = r#"{"files":[{"filename":"a-1.tar.gz","url":"a-1.tar.gz","hashes":{},
            "upload-time":"2026-11-24T01:02:03.123456Z"}]}"#;
        let files = parse_page(page, "application/vnd.pypi.simple.v1+json", body).unwrap();
        assert_eq!(
            files[0].upload_time.as_deref(),
            Some("2026-11-24T01:02:03.123456Z")
        );
        let body = r#"{"files":[{"filename":"a-1.tar.gz","url":"a-1.tar.gz","hashes":{},
            "requires-python":">=3.9","yanked":"broken","core-metadata":{"sha256":"cc"}},
            {"filename":"a-2.tar.gz","url":"a-2.tar.gz","hashes":{},"yanked":true,
            "dist-info-metadata":true}]}"#;
        let files = parse_page(page, "application/vnd.pypi.simple.v1+json", body).unwrap();
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.9"));
        assert_eq!(files[0].yanked.as_deref(), Some("broken"));
        assert_eq!(files[0].core_metadata.as_deref(), Some("sha256=cc"));
        assert_eq!(files[1].yanked.as_deref(), Some(""));
        assert_eq!(files[1].core_metadata.as_deref(), Some("true"));
        // Unknown keys are ignored; an optional key of another type is left out.
        let body = r#"{"meta":{"api-version":"1.4","_x":1},"name":"a","versions":["1"],"files":[
            {"filename":"a-1.tar.gz","url":"a-1.tar.gz","hashes":{"sha256":7,"md5":"x"},
             "size":10,"gpg-sig":false,"yanked":3,"core-metadata":"sha256=1",
             "dist-info-metadata":true,"upload-time":null,"requires-python":[]}]}"#;
        let files = parse_page(page, "application/vnd.pypi.simple.v1+json", body).unwrap();
        assert_eq!(files[0].sha256, None);
        assert_eq!(files[0].yanked, None);
        // `core-metadata` present, even unreadable, takes the place of `dist-info-metadata`.
        assert_eq!(files[0].core_metadata, None);
        assert_eq!(files[0].requires_python, None);
        let no_url = r#"{"files":[{"filename":"a-1.tar.gz","hashes":{}}]}"#;
        let err = parse_page(page, "application/vnd.pypi.simple.v1+json", no_url).unwrap_err();
        assert!(
            format!("{err:#}").contains("missing field `url`"),
            "{err:#}"
        );
        assert!(parse_page(page, "application/json", "{\"nope\":1}").is_err());
        assert!(parse_page(page, "text/html", "garbage { not html").is_err());
    }
    /// A loopback server that serves `body` (as `content_type`, when given) at `path` for every
    /// GET and counts the requests; shared with `core::index`'s tests.
    pub(crate) fn serve_for_every_get(
        path: &str,
        content_type: Option<&str>,
        body: &'static [u8],
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let content_type = content_type
            .map(|t| format!("Content-Type: {t}\r\n"))
            .unwrap_or_default();
        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                    request.push(byte[0]);
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let head = format!(
                    "HTTP/1.1 200 OK\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
        });
        (url, count)
    }

    fn serve_bytes(
        body: &'static [u8],
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        serve_for_every_get("/packages/pkg-1.0.tar.gz", None, body)
    }

    #[test]
    fn a_page_without_a_hash_is_checked_by_hashing_the_served_bytes() {
        use sha2::{Digest, Sha256};
        use std::sync::atomic::Ordering;
        let (url, requests) = serve_bytes(b"the served bytes");
        let ours = dist::hex(&Sha256::digest(b"the served bytes"));
        let other = dist::hex(&Sha256::digest(b"other bytes"));
        let agent = agent();
        let file = |sha256: Option<&str>| IndexFile {
            filename: "pkg-1.0.tar.gz".into(),
            url: url.clone(),
            sha256: sha256.map(str::to_string),
            ..Default::default()
        };
        let listing = [file(None)];
        assert_eq!(
            served_as(&agent, &listing, "pkg-1.0.tar.gz", &ours).unwrap(),
            Served::Same
        );
        assert_eq!(
            served_as(&agent, &listing, "pkg-1.0.tar.gz", &other).unwrap(),
            Served::Other(ours.clone())
        );
        assert_eq!(requests.load(Ordering::SeqCst), 2);
        // A listed hash is taken as the page gives it: nothing is downloaded.
        let listing = [file(Some(&other))];
        assert_eq!(
            served_as(&agent, &listing, "pkg-1.0.tar.gz", &ours).unwrap(),
            Served::Other(other.clone())
        );
        assert_eq!(
            served_as(&agent, &listing, "pkg-1.0.tar.gz", &other).unwrap(),
            Served::Same
        );
        assert_eq!(
            served_as(&agent, &listing, "pkg-2.0.tar.gz", &other).unwrap(),
            Served::Absent
        );
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn concurrently_keeps_the_order_and_the_bound() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let items: Vec<u64> = (0..12).collect();
        let results = concurrently(&items, 3, |&i| {
            let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(in_flight, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(30));
            now.fetch_sub(1, Ordering::SeqCst);
            i * 10
        });
        let expected: Vec<Option<u64>> = items.iter().map(|i| Some(i * 10)).collect();
        assert_eq!(results, expected);
        assert_eq!(most.load(Ordering::SeqCst), 3, "three at once, never more");
        // One item, or a bound of 0, runs on the calling thread alone.
        assert_eq!(concurrently(&[7], 4, |&i| i), vec![Some(7)]);
        assert_eq!(concurrently(&[1, 2], 0, |&i| i), vec![Some(1), Some(2)]);
        assert!(concurrently(&[] as &[u8], 4, |&i| i).is_empty());
    }

    #[test]
    fn one_wait_reads_every_project_of_the_set_and_confirms_each() {
        use std::sync::atomic::Ordering;
        // One page for every project: it lists both projects' files.
        let page = br#"{"meta":{"api-version":"1.1"},"name":"x","files":[
            {"filename":"a-1.0.tar.gz","url":"a-1.0.tar.gz","hashes":{"sha256":"aa"}},
            {"filename":"a-1.0-py3-none-any.whl","url":"a.whl","hashes":{"sha256":"ab"}},
            {"filename":"b-1.0.tar.gz","url":"b-1.0.tar.gz","hashes":{"sha256":"bb"}}]}"#;
        let (url, requests) = serve_for_every_get(
            "/simple/",
            Some("application/vnd.pypi.simple.v1+json"),
            page,
        );
        let a = [
            ArtifactRecord::sample("a-1.0.tar.gz", "aa"),
            ArtifactRecord::sample("a-1.0-py3-none-any.whl", "ab"),
        ];
        let b = [ArtifactRecord::sample("b-1.0.tar.gz", "bb")];
        let set: [ProjectFiles; 2] = [("a", &a), ("b", &b)];
        let agent = agent();
        let timeout = Duration::from_secs(30);
        wait_until_served(&agent, "staging", &url, &set, timeout).unwrap();
        // STABLE_READS rounds, each reading both pages: one wait for the set.
        let reads = requests.load(Ordering::SeqCst);
        assert_eq!(reads, 2 * STABLE_READS as usize);
        // Each project counts as confirmed on its own: a later wait for one reads once.
        wait_until_served(&agent, "staging", &url, &set[..1], timeout).unwrap();
        assert_eq!(requests.load(Ordering::SeqCst), reads + 1);
        // So does each file: a dependent's verification waits for its sibling's wheel alone.
        let wheel: [ProjectFiles; 1] = [("a", &a[1..])];
        wait_until_served(&agent, "staging", &url, &wheel, timeout).unwrap();
        assert_eq!(requests.load(Ordering::SeqCst), reads + 2);
        // Other bytes under one project's file fail the whole wait at once.
        let wrong = [ArtifactRecord::sample("b-1.0.tar.gz", "cc")];
        let set: [ProjectFiles; 2] = [("a", &a), ("b", &wrong)];
        let error = wait_until_served(&agent, "staging", &url, &set, timeout).unwrap_err();
        assert!(format!("{error:#}").contains("serves `b-1.0.tar.gz` with sha256 bb"));
    }
}
