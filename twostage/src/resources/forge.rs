//! GitHub's REST API (https://docs.github.com/en/rest/releases): the release for a tag, made
//! as a draft, its assets, and its publication; and, without a token, what anyone can read of
//! a published release. The token is sent as a Bearer header and never shown (messages go
//! through `secrets::redact` and the server's words are scrubbed).
//!
//! Releases are made so that GitHub's immutable releases can be turned on: assets are only
//! ever added to a draft, and a published release's assets are only read, never changed
//! (https://docs.github.com/en/code-security/supply-chain-security/understanding-your-software-supply-chain/immutable-releases).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::resources::secrets::redact;
use crate::resources::secrets::Secret;

/// The most bytes read of an asset downloaded to be compared (`SHA256SUMS`, the note).
const ASSET_LIMIT: u64 = 16 * 1024 * 1024;

pub struct Github {
    agent: ureq::Agent,
    api: String,
    repository: String,
    /// `None`: anonymous, for what anyone can read (`audit`).
    token: Option<Secret>,
}

/// A release as the API returns it (https://docs.github.com/en/rest/releases/releases#get-a-release),
/// reduced to what we use: other fields are ignored, `id` and `upload_url` are required.
#[derive(Debug, Deserialize)]
pub struct GithubRelease {
    pub id: u64,
    #[serde(default)]
    pub tag_name: String,
    #[serde(default)]
    pub html_url: String,
    pub upload_url: String,
    /// A draft is seen only by those with push access; its assets can still change.
    #[serde(default)]
    pub draft: bool,
    /// Whether GitHub locked the release's assets and tag when it was published.
    #[serde(default)]
    pub immutable: bool,
    #[serde(default, deserialize_with = "crate::resources::json::readable")]
    pub assets: Vec<Asset>,
}

/// One of a release's `assets` (https://docs.github.com/en/rest/releases/assets).
#[derive(Debug, Deserialize)]
pub struct Asset {
    pub id: u64,
    pub name: String,
    pub size: u64,
    /// `sha256:<hex>`, where the API reports it.
    #[serde(default, deserialize_with = "crate::resources::json::lenient")]
    pub digest: Option<String>,
}

/// Draft releases are found only by listing (`GET /repos/{owner}/{repo}/releases`, which
/// lists drafts to users with push access); `GET …/releases/tags/{tag}` returns published
/// releases only. Pages of 100 (the most the API gives), read until one comes back short.
const PER_PAGE: usize = 100;

/// The most pages listed looking for a tag's release (10 000 releases).
const MAX_PAGES: usize = 100;

impl Github {
    pub fn new(api: &str, repository: &str, token: Secret) -> Github {
        Github::with_token(api, repository, Some(token))
    }

    /// A client that sends no credential: it reads what GitHub shows everyone.
    pub fn anonymous(api: &str, repository: &str) -> Github {
        Github::with_token(api, repository, None)
    }

    fn with_token(api: &str, repository: &str, token: Option<Secret>) -> Github {
        Github {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                // GitHub answers a renamed repository with a redirect on the same API host:
                // the token follows it there and nowhere else (docs/http-client.md). An
                // asset download is redirected to a storage host, which gets no token.
                .max_redirects(5)
                .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
                // An asset upload streams a whole wheel: 300 s in all, 10 s to connect, 60 s
                // for GitHub to take each write (docs/http-client.md).
                .timeout_connect(Some(Duration::from_secs(10)))
                .timeout_per_write(Some(Duration::from_secs(60)))
                .timeout_global(Some(Duration::from_secs(300)))
                .user_agent(concat!("twostage/", env!("CARGO_PKG_VERSION")))
                .tls_config(crate::resources::tls::config())
                .build()
                .into(),
            api: api.trim_end_matches('/').to_string(),
            repository: repository.to_string(),
            token,
        }
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    fn request<B>(
        &self,
        request: ureq::RequestBuilder<B>,
        accept: &str,
    ) -> ureq::RequestBuilder<B> {
        let request = request
            .header("Accept", accept)
            .header("X-GitHub-Api-Version", "2022-11-28");
        match &self.token {
            Some(token) => request.header("Authorization", &format!("Bearer {}", token.expose())),
            None => request,
        }
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        const JSON: &str = "application/vnd.github+json";
        let response = match (method, body) {
            ("GET", _) => self.request(self.agent.get(url), JSON).call(),
            ("DELETE", _) => self.request(self.agent.delete(url), JSON).call(),
            ("POST", Some(body)) => self
                .request(self.agent.post(url), JSON)
                .header("Content-Type", "application/json")
                .send(body),
            ("PATCH", Some(body)) => self
                .request(self.agent.patch(url), JSON)
                .header("Content-Type", "application/json")
                .send(body),
            _ => bail!("unsupported request {method}"),
        };
        response.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach `{}`: {}",
                redact(url),
                self.scrub(&crate::resources::tls::explain(&e, url))
            )
        })
    }

    /// One request; the answer's status and body (empty when it cannot be read).
    fn call(&self, method: &str, url: &str, body: Option<&str>) -> Result<(u16, String)> {
        let mut response = self.send(method, url, body)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        Ok((status, text))
    }

    fn scrub(&self, text: &str) -> String {
        let text = match &self.token {
            Some(token) => text.replace(token.expose(), "***"),
            None => text.to_string(),
        };
        crate::resources::secrets::redact_secrets(&text)
    }

    fn fail(&self, what: &str, status: u16, text: &str) -> anyhow::Error {
        let answer = serde_json::from_str::<ErrorAnswer>(text).ok();
        let message = answer
            .as_ref()
            .and_then(|a| a.message.as_deref())
            .unwrap_or("(no message)");
        anyhow::anyhow!(
            "GitHub refused to {what} (HTTP {status}): {}",
            self.scrub(message)
        )
    }

    /// The published release for `tag`, as anyone sees it (drafts are not returned).
    pub fn published_release(&self, tag: &str) -> Result<Option<GithubRelease>> {
        let url = format!("{}/repos/{}/releases/tags/{tag}", self.api, self.repository);
        match self.call("GET", &url, None)? {
            (200, text) => Ok(Some(parse_release(&text)?)),
            (404, _) => Ok(None),
            (status, text) => {
                Err(self.fail(&format!("read the release for `{tag}`"), status, &text))
            }
        }
    }

    /// The release for `tag`, draft or published: drafts are found only in the authenticated
    /// listing of the repository's releases.
    pub fn release_for_tag(&self, tag: &str) -> Result<Option<GithubRelease>> {
        for page in 1..=MAX_PAGES {
            let url = format!(
                "{}/repos/{}/releases?per_page={PER_PAGE}&page={page}",
                self.api, self.repository
            );
            let (status, text) = self.call("GET", &url, None)?;
            let releases: Vec<GithubRelease> = match status {
                200 => serde_json::from_str(&text).map_err(|e| {
                    anyhow::anyhow!("GitHub's list of releases cannot be read: {e}")
                })?,
                _ => return Err(self.fail("list the releases", status, &text)),
            };
            let count = releases.len();
            if let Some(found) = releases.into_iter().find(|r| r.tag_name == tag) {
                return Ok(Some(found));
            }
            let releases = count;
            if releases < PER_PAGE {
                break;
            }
        }
        Ok(None)
    }

    /// Creates a draft release for `tag`. `commit` is where GitHub makes the tag if the
    /// remote does not have it yet (at publication).
    pub fn create_draft(
        &self,
        tag: &str,
        commit: &str,
        title: &str,
        notes: &str,
        prerelease: bool,
    ) -> Result<GithubRelease> {
        let body = to_json(&NewRelease {
            tag_name: tag,
            target_commitish: commit,
            name: title,
            body: notes,
            prerelease,
            draft: true,
        });
        let url = format!("{}/repos/{}/releases", self.api, self.repository);
        match self.call("POST", &url, Some(&body))? {
            (201, text) => parse_release(&text),
            (status, text) => Err(self.fail("create the draft release", status, &text)),
        }
    }

    /// Publishes a draft (`draft: false`), with its title, notes and pre-release flag as
    /// they should be: the one edit after which, with immutable releases on, its assets and
    /// tag are locked.
    pub fn publish(
        &self,
        draft: &GithubRelease,
        title: &str,
        notes: &str,
        prerelease: bool,
    ) -> Result<GithubRelease> {
        let url = format!(
            "{}/repos/{}/releases/{}",
            self.api, self.repository, draft.id
        );
        let update = to_json(&ReleaseUpdate {
            name: title,
            body: notes,
            prerelease,
            draft: false,
        });
        match self.call("PATCH", &url, Some(&update))? {
            (200, text) => parse_release(&text),
            (status, text) => Err(self.fail("publish the release", status, &text)),
        }
    }

    pub fn delete_asset(&self, asset: &Asset) -> Result<()> {
        let url = format!(
            "{}/repos/{}/releases/assets/{}",
            self.api, self.repository, asset.id
        );
        match self.call("DELETE", &url, None)? {
            (204, _) => Ok(()),
            (status, text) => {
                Err(self.fail(&format!("delete the asset `{}`", asset.name), status, &text))
            }
        }
    }

    /// An asset's bytes (`Accept: application/octet-stream` on the asset's API URL: GitHub
    /// answers with the bytes or a redirect to them), at most 16 MB.
    pub fn download_asset(&self, asset: &Asset) -> Result<Vec<u8>> {
        let url = format!(
            "{}/repos/{}/releases/assets/{}",
            self.api, self.repository, asset.id
        );
        let response = self
            .request(self.agent.get(&url), "application/octet-stream")
            .call();
        let mut response = response.map_err(|e| {
            anyhow::anyhow!(
                "cannot download the asset `{}`: {}",
                asset.name,
                self.scrub(&crate::resources::tls::explain(&e, &url))
            )
        })?;
        let status = response.status().as_u16();
        if status != 200 {
            let text = crate::resources::json::body_text(&mut response);
            return Err(self.fail(&format!("give the asset `{}`", asset.name), status, &text));
        }
        response
            .body_mut()
            .with_config()
            .limit(ASSET_LIMIT)
            .read_to_vec()
            .with_context(|| format!("cannot read the asset `{}` (at most 16 MB)", asset.name))
    }

    /// Uploads a file as an asset, streamed from disk.
    pub fn upload_asset(&self, release: &GithubRelease, path: &Path, name: &str) -> Result<()> {
        let url = asset_upload_url(&release.upload_url, name)?;
        let url = url.as_str();
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open `{}`", path.display()))?;
        let size = file.metadata()?.len();
        let response = self
            .request(self.agent.post(url), "application/vnd.github+json")
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", &size.to_string())
            .send(ureq::SendBody::from_owned_reader(file));
        let mut response = response.map_err(|e| {
            anyhow::anyhow!(
                "cannot upload `{name}` to GitHub: {}",
                self.scrub(&crate::resources::tls::explain(&e, url))
            )
        })?;
        let status = response.status().as_u16();
        if status != 201 {
            let text = crate::resources::json::body_text(&mut response);
            return Err(self.fail(&format!("take the asset `{name}`"), status, &text));
        }
        Ok(())
    }
}

/// A release answered by the API, read as `Release`: a missing `id` or `upload_url` is an
/// error naming it.
fn parse_release(text: &str) -> Result<GithubRelease> {
    serde_json::from_str(text)
        .map_err(|e| anyhow::anyhow!("GitHub answered a release that cannot be read: {e}"))
}

/// The body of `POST /repos/{owner}/{repo}/releases`
/// (https://docs.github.com/en/rest/releases/releases#create-a-release).
#[derive(Serialize)]
struct NewRelease<'a> {
    tag_name: &'a str,
    target_commitish: &'a str,
    name: &'a str,
    body: &'a str,
    prerelease: bool,
    draft: bool,
}

/// The body of `PATCH /repos/{owner}/{repo}/releases/{id}`
/// (https://docs.github.com/en/rest/releases/releases#update-a-release).
#[derive(Serialize)]
struct ReleaseUpdate<'a> {
    name: &'a str,
    body: &'a str,
    prerelease: bool,
    draft: bool,
}

/// An error answer's `message` (https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api).
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default, deserialize_with = "crate::resources::json::lenient")]
    message: Option<String>,
}

fn to_json(body: &impl Serialize) -> String {
    serde_json::to_string(body).unwrap_or_default()
}

/// Where to post an asset: the release's `upload_url` is a URI template
/// (`…/assets{?name,label}`, RFC 6570); its query is filled with `name`, form-encoded.
fn asset_upload_url(upload_url: &str, name: &str) -> Result<url::Url> {
    let base = upload_url.split('{').next().unwrap_or_default();
    let mut url = url::Url::parse(base)
        .with_context(|| format!("GitHub gave the upload URL `{}`", redact(upload_url)))?;
    url.query_pairs_mut().append_pair("name", name);
    Ok(url)
}

/// The release notes for `version` from a changelog's text: the section under the heading that
/// names it, in Markdown (`## [1.4.3] - …`, `## Version 1.4.3`) or reStructuredText (a title
/// underlined with `=`, `-`, `~`, …).
pub fn notes_from_changelog(text: &str, spellings: &[String]) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let names_version = |line: &str| {
        spellings.iter().any(|v| {
            line.match_indices(v.as_str()).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + v.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
                    && !after.is_some_and(|c| {
                        c.is_ascii_alphanumeric()
                            || c == '.'
                                && line[at + v.len() + 1..]
                                    .starts_with(|d: char| d.is_ascii_digit())
                    })
            })
        })
    };
    // Markdown headings.
    for (i, line) in lines.iter().enumerate() {
        let level = line.chars().take_while(|c| *c == '#').count();
        if level == 0 || !line[level..].starts_with(' ') || !names_version(line) {
            continue;
        }
        let end = lines[i + 1..]
            .iter()
            .position(|l| {
                let l_level = l.chars().take_while(|c| *c == '#').count();
                l_level > 0 && l_level <= level && l[l_level..].starts_with(' ')
            })
            .map_or(lines.len(), |p| i + 1 + p);
        return Some(trim_notes(&lines[i + 1..end]));
    }
    // reStructuredText titles: a line naming the version, then an underline of one character.
    for i in 0..lines.len().saturating_sub(1) {
        let underline = lines[i + 1].trim_end();
        let Some(mark) = underline.chars().next() else {
            continue;
        };
        let is_underline = !mark.is_alphanumeric()
            && underline.chars().all(|c| c == mark)
            && underline.len() >= lines[i].trim_end().len()
            && !lines[i].trim().is_empty();
        if !is_underline || !names_version(lines[i]) {
            continue;
        }
        let end = (i + 2..lines.len().saturating_sub(1))
            .find(|&j| {
                let u = lines[j + 1].trim_end();
                !lines[j].trim().is_empty()
                    && u.len() >= lines[j].trim_end().len()
                    && u.chars().all(|c| c == mark)
                    && !u.is_empty()
            })
            .unwrap_or(lines.len());
        return Some(trim_notes(&lines[i + 2..end]));
    }
    None
}

fn trim_notes(lines: &[&str]) -> String {
    let text = lines.join("\n");
    // Link reference definitions at the end of a Keep a Changelog file are not notes.
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !(l.starts_with('[') && l.contains("]: ")))
        .collect();
    kept.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn asset_upload_urls_fill_the_template() {
        let template = "https://uploads.github.com/repos/o/n/releases/1/assets{?name,label}";
        assert_eq!(
            asset_upload_url(template, "pkg-1.0.tar.gz")
                .unwrap()
                .as_str(),
            "https://uploads.github.com/repos/o/n/releases/1/assets?name=pkg-1.0.tar.gz"
        );
        assert_eq!(
            asset_upload_url(template, "a b&c=d+é.whl")
                .unwrap()
                .as_str(),
            "https://uploads.github.com/repos/o/n/releases/1/assets?name=a+b%26c%3Dd%2B%C3%A9.whl"
        );
        assert!(asset_upload_url("{?name}", "x").is_err());
    }

    #[test]
    fn releases_are_read_as_the_api_gives_them() {
        let text = r#"{"id": 7, "tag_name": "v1.0", "html_url": "https://h/r/7",
            "upload_url": "https://u/7/assets{?name,label}", "draft": true,
            "author": {"login": "someone"}, "body": "notes",
            "assets": [{"id": 1, "name": "a-1.0.tar.gz", "size": 3, "digest": "sha256:ab"},
                       {"id": 2, "name": "no-size"},
                       {"id": 3, "name": "b-1.0.whl", "size": 1, "digest": null}]}"#;
        let release = parse_release(text).unwrap();
        assert_eq!((release.id, release.tag_name.as_str()), (7, "v1.0"));
        assert!(release.draft && !release.immutable);
        let assets: Vec<(u64, Option<&str>)> = release
            .assets
            .iter()
            .map(|a| (a.id, a.digest.as_deref()))
            .collect();
        assert_eq!(assets, [(1, Some("sha256:ab")), (3, None)]);
        let err = parse_release(r#"{"tag_name": "v1.0", "upload_url": "u"}"#).unwrap_err();
        assert!(format!("{err:#}").contains("missing field `id`"), "{err:#}");
        let err = parse_release(r#"{"id": 1}"#).unwrap_err();
        assert!(format!("{err:#}").contains("`upload_url`"), "{err:#}");
        assert!(parse_release("").is_err());
        let body = to_json(&ReleaseUpdate {
            name: "v1.0",
            body: "n",
            prerelease: false,
            draft: false,
        });
        assert_eq!(
            body,
            r#"{"name":"v1.0","body":"n","prerelease":false,"draft":false}"#
        );
    }

    #[test]
    fn notes_from_keep_a_changelog() {
        let text = "# Changelog\n\n## [Unreleased]\n\n## [1.4.3] - 2026-11-24\n\n### Fixed\n- a bug\n\n## [1.4.2] - 2026-01-02\n\n- old\n\n[1.4.3]: https://x/compare/v1.4.2...v1.4.3\n";
        assert_eq!(
            notes_from_changelog(text, &s(&["1.4.3"])).unwrap(),
            "### Fixed\n- a bug"
        );
        assert_eq!(notes_from_changelog(text, &s(&["1.4.2"])).unwrap(), "- old");
        assert_eq!(notes_from_changelog(text, &s(&["1.4"])), None);
    }

    #[test]
    fn notes_from_other_markdown_and_rst() {
        let md = "# Changes\n\n## Version 8.5.1\n\nReleased 2026-03-01\n\n- fix\n\n## Version 8.5.0\n\n- older\n";
        assert_eq!(
            notes_from_changelog(md, &s(&["8.5.1"])).unwrap(),
            "Released 2026-03-01\n\n- fix"
        );
        let rst = "Changes\n=======\n\n0.2.0rc1 (2026-02-01)\n---------------------\n\n- new thing\n\n0.1.0\n-----\n\n- first\n";
        assert_eq!(
            notes_from_changelog(rst, &s(&["0.2.0rc1", "0.2.0-rc.1"])).unwrap(),
            "- new thing"
        );
        assert_eq!(
            notes_from_changelog(rst, &s(&["0.1.0"])).unwrap(),
            "- first"
        );
    }
}
