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
use ureq::config::RedirectAuthHeaders;

use crate::output::Progress;
use crate::resources::credentials::Credentials;
use crate::resources::dist::{self, normalize_name, Kind, Metadata};
use crate::resources::evidence::ArtifactRecord;
use crate::resources::secrets::{redact, redact_urls};

/// One file listed on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    pub filename: String,
    pub url: String,
    pub sha256: Option<String>,
}

impl IndexFile {
    /// The version part of a wheel or sdist filename, as written.
    pub fn version(&self) -> Option<&str> {
        filename_version(&self.filename)
    }
}

/// The version in a wheel (`name-ver-…whl`) or sdist (`name-ver.tar.gz`) filename.
pub fn filename_version(filename: &str) -> Option<&str> {
    if let Some(stem) = filename.strip_suffix(".whl") {
        return stem.split('-').nth(1);
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz"]
        .iter()
        .find_map(|ext| filename.strip_suffix(ext))?;
    stem.rsplit_once('-').map(|(_, v)| v)
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // Index pages and files may redirect (a CDN, a normalized project URL); credentials
        // never follow a redirect (docs/http-client.md).
        .max_redirects(10)
        .redirect_auth_headers(RedirectAuthHeaders::Never)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(60)))
        .user_agent(concat!("twostage/", env!("CARGO_PKG_VERSION")))
        .tls_config(crate::resources::tls::config())
        .build()
        .into()
}

const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
const PAGE_LIMIT: u64 = 32 * 1024 * 1024;

/// The files an index lists for a project; `None` when the index does not know the project.
/// Caches are bypassed: a just-uploaded file must be seen. Transient failures (connection
/// errors, 429, 5xx) are retried a few times with backoff.
pub fn project_files(
    agent: &ureq::Agent,
    index_url: &str,
    project: &str,
) -> Result<Option<Vec<IndexFile>>> {
    let base = if index_url.ends_with('/') {
        index_url.to_string()
    } else {
        format!("{index_url}/")
    };
    let page = format!("{base}{}/", normalize_name(project));
    let shown = redact(&page);
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        let outcome = fetch_page(agent, &page);
        match outcome {
            Ok(found) => {
                return found
                    .map(|(ctype, body)| parse_page(&page, &ctype, &body))
                    .transpose()
            }
            Err(e) if attempt < 4 && e.transient => {
                std::thread::sleep(delay);
                delay *= 2;
                attempt += 1;
            }
            Err(e) => bail!("cannot read `{shown}`: {}", e.message),
        }
    }
}

struct FetchError {
    message: String,
    transient: bool,
}

fn fetch_page(
    agent: &ureq::Agent,
    page: &str,
) -> std::result::Result<Option<(String, String)>, FetchError> {
    let response = agent
        .get(page)
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
    if content_type.contains("json") {
        parse_json(page, body)
            .with_context(|| format!("`{shown}` is not a valid PEP 691 project page"))
    } else {
        parse_html(page, body)
            .with_context(|| format!("`{shown}` is not a valid PEP 503 project page"))
    }
}

fn parse_json(page: &str, body: &str) -> Result<Vec<IndexFile>> {
    let value: serde_json::Value = serde_json::from_str(body)?;
    let files = value
        .get("files")
        .and_then(|f| f.as_array())
        .context("no `files` array")?;
    files
        .iter()
        .map(|f| {
            let filename = f
                .get("filename")
                .and_then(|v| v.as_str())
                .context("a file without `filename`")?;
            let url = f
                .get("url")
                .and_then(|v| v.as_str())
                .context("a file without `url`")?;
            let sha256 = f
                .get("hashes")
                .and_then(|h| h.get("sha256"))
                .and_then(|v| v.as_str())
                .map(str::to_ascii_lowercase);
            Ok(IndexFile {
                filename: filename.to_string(),
                url: resolve(page, url),
                sha256,
            })
        })
        .collect()
}

/// Anchors of a PEP 503 page. The format is a flat list of `<a href="…">filename</a>`; a
/// tolerant scan is enough and avoids an HTML parser dependency.
fn parse_html(page: &str, body: &str) -> Result<Vec<IndexFile>> {
    let lower = body.to_ascii_lowercase();
    if !lower.contains("<html")
        && !lower.contains("<a ")
        && !lower.trim().is_empty()
        && !lower.contains("<!doctype")
    {
        bail!("the page is not HTML");
    }
    let mut files = Vec::new();
    let mut rest = 0;
    while let Some(start) = lower[rest..].find("<a ").map(|i| rest + i) {
        let tag_end = lower[start..]
            .find('>')
            .map(|i| start + i)
            .context("an unterminated `<a` tag")?;
        let close = lower[tag_end..]
            .find("</a>")
            .map(|i| tag_end + i)
            .context("an `<a>` without `</a>`")?;
        let tag = &body[start..tag_end];
        let text = unescape(body[tag_end + 1..close].trim());
        rest = close + 4;
        let Some(href) = attribute(tag, "href") else {
            continue;
        };
        let href = unescape(&href);
        let (url, fragment) = href
            .split_once('#')
            .map_or((href.as_str(), None), |(u, f)| (u, Some(f)));
        let sha256 = fragment
            .and_then(|f| f.strip_prefix("sha256="))
            .map(str::to_ascii_lowercase);
        files.push(IndexFile {
            filename: text,
            url: resolve(page, url),
            sha256,
        });
    }
    Ok(files)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name).map(|i| from + i) {
        from = i + name.len();
        let before_ok = lower[..i].ends_with(char::is_whitespace);
        let after = lower[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - after.len() + 1;
        let value = tag[value_start..].trim_start();
        return Some(match value.chars().next()? {
            q @ ('"' | '\'') => value[1..].split(q).next()?.to_string(),
            _ => value
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()?
                .to_string(),
        });
    }
    None
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Resolves a link on `page` (absolute, host-relative or path-relative, with `..`).
pub fn resolve(page: &str, link: &str) -> String {
    if link.contains("://") {
        return link.to_string();
    }
    let (scheme, rest) = page.split_once("://").unwrap_or(("http", page));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    if let Some(path) = link.strip_prefix("//") {
        return format!("{scheme}://{path}");
    }
    let path = &rest[authority_end..];
    let mut segments: Vec<&str> = if link.starts_with('/') {
        Vec::new()
    } else {
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        dir.split('/').filter(|s| !s.is_empty()).collect()
    };
    let parts: Vec<&str> = link.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        match *part {
            "." => {}
            ".." => {
                segments.pop();
            }
            p if p.is_empty() && i + 1 < parts.len() => {}
            p => segments.push(p),
        }
    }
    format!("{origin}/{}", segments.join("/"))
}

/// One file to upload, with what the form needs.
pub struct Upload<'a> {
    pub path: &'a Path,
    pub filename: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    pub blake2_256: &'a str,
    pub metadata: &'a Metadata,
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

pub fn upload_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A streamed body cannot be replayed on a redirect: report it instead. PyPI answers a
        // POST to `/legacy` with a 308 to `/legacy/`; uv follows such redirects itself
        // (https://github.com/astral-sh/uv/blob/main/crates/uv-publish/src/lib.rs).
        .max_redirects(0)
        .redirect_auth_headers(RedirectAuthHeaders::Never)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(600)))
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
    let boundary = format!("twostage-{}", &file.sha256[..32]);
    let mut head = String::new();
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
    let length = head.len() as u64 + file.size + tail.len() as u64;
    let content = match std::fs::File::open(file.path) {
        Ok(f) => f,
        Err(e) => {
            return PostOutcome::Refused {
                status: 0,
                message: format!("cannot open `{}`: {e}", file.path.display()),
            }
        }
    };
    let progress = Progress::new(format!("`{}`", file.filename), length);
    let body = std::io::Cursor::new(head.into_bytes())
        .chain(content.take(file.size))
        .chain(std::io::Cursor::new(tail.into_bytes()));
    let body = progress.reader(body);
    let response = agent
        .post(upload_url)
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
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
    let mut response = match response {
        Ok(r) => r,
        // A refused certificate is refused again on every try: no retry.
        Err(e) if crate::resources::tls::is_certificate_error(&e) => {
            return PostOutcome::Refused {
                status: 0,
                message: scrub(&crate::resources::tls::explain(&e, upload_url), credentials),
            }
        }
        Err(e) => {
            return PostOutcome::Transient {
                message: scrub(&e.to_string(), credentials),
                retry_after: None,
            }
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(60)));
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let message = scrub(&server_message(&text), credentials);
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
                redact(location.as_deref().unwrap_or("?"))
            ),
        },
        _ => PostOutcome::Refused { status, message },
    }
}

/// A server's error body made readable: JSON `message`, else the text with tags removed.
fn server_message(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        if let Some(message) = value.get("message").and_then(|m| m.as_str()) {
            return message.to_string();
        }
    }
    let body = without_elements(body, &["style", "script", "title"]);
    let mut text = String::with_capacity(body.len());
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = unescape(&text);
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

/// An error page without the elements that are not its message: a stylesheet (pypiserver's
/// 403 page starts with one), scripts, and the title that repeats the heading.
fn without_elements(body: &str, names: &[&str]) -> String {
    let lower = body.to_ascii_lowercase();
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    while at < body.len() {
        let next = names
            .iter()
            .filter_map(|name| {
                let start = at + lower[at..].find(&format!("<{name}"))?;
                let close = format!("</{name}>");
                let end = lower[start..]
                    .find(&close)
                    .map_or(body.len(), |i| start + i + close.len());
                Some((start, end))
            })
            .min();
        let Some((start, end)) = next else { break };
        out.push_str(&body[at..start]);
        out.push(' ');
        at = end;
    }
    if at < body.len() {
        out.push_str(&body[at..]);
    }
    out
}

/// Removes the secret (and its Base64 form in a Basic header) from a message.
fn scrub(message: &str, credentials: &Credentials) -> String {
    let secret = credentials.password.expose();
    let mut out = redact_urls(message);
    if !secret.is_empty() {
        out = out.replace(secret, "***");
        let header = credentials.basic_auth();
        let encoded = header.trim_start_matches("Basic ");
        out = out.replace(encoded, "***");
    }
    out
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

/// Polls the project page, bypassing caches, until every file is listed with its recorded
/// sha256. A file listed with another hash fails at once; a lag is waited out up to `timeout`.
pub fn wait_until_served(
    agent: &ureq::Agent,
    label: &str,
    index_url: &str,
    project: &str,
    artifacts: &[ArtifactRecord],
    timeout: Duration,
) -> Result<Duration> {
    let started = Instant::now();
    let progress = Progress::new(format!("for {label} to serve {} files", artifacts.len()), 0);
    let mut poll = Duration::from_millis(200);
    loop {
        let listing = project_files(agent, index_url, project)
            .with_context(|| format!("cannot read the {label} index while waiting for it"))?
            .unwrap_or_default();
        let mut missing = Vec::new();
        for artifact in artifacts {
            match served_as(agent, &listing, &artifact.filename, &artifact.sha256)? {
                Served::Same => {}
                Served::Absent => missing.push(artifact.filename.clone()),
                Served::Other(sha) => {
                    progress.finish();
                    bail!(
                        "the {label} index serves `{}` with sha256 {sha}, but {} was uploaded: \
                         do not promote this release",
                        artifact.filename,
                        artifact.sha256
                    );
                }
            }
        }
        if missing.is_empty() {
            progress.finish();
            return Ok(started.elapsed());
        }
        if started.elapsed() >= timeout {
            progress.finish();
            bail!(
                "after {}s the {label} index still does not list {} (`verify.index-timeout` is {}s)",
                started.elapsed().as_secs(),
                missing.join(", "),
                timeout.as_secs()
            );
        }
        progress.message(&format!(
            "({} of {} listed, {}s)",
            artifacts.len() - missing.len(),
            artifacts.len(),
            started.elapsed().as_secs()
        ));
        std::thread::sleep(poll.min(timeout.saturating_sub(started.elapsed())));
        poll = (poll * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
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
                },
                IndexFile {
                    filename: "pkg-1.0.tar.gz".into(),
                    url: "http://127.0.0.1:8080/packages/pkg-1.0.tar.gz".into(),
                    sha256: None,
                },
            ]
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
        assert!(parse_page(page, "application/json", "{\"nope\":1}").is_err());
        assert!(parse_page(page, "text/html", "garbage { not html").is_err());
    }
    /// A loopback server that serves `body` for every GET and counts the requests.
    fn serve_bytes(
        body: &'static [u8],
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::Write;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/packages/pkg-1.0.tar.gz",
            listener.local_addr().unwrap()
        );
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
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
        });
        (url, count)
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
}
