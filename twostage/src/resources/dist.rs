//! Built distributions: their filenames, their core metadata (wheel `METADATA`, sdist
//! `PKG-INFO`) and their digests. Reading is bounded: a metadata file larger than
//! `METADATA_LIMIT`, an archive with too many members, or an sdist with more than one
//! `PKG-INFO` is refused, so a hostile or broken artifact cannot exhaust memory.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use blake2::Blake2b256;
use pep440_rs::Version;
use sha2::{Digest, Sha256};

use crate::resources::filename::{DistFilename, SdistFormat, WheelFilename};

pub const METADATA_LIMIT: u64 = 8 * 1024 * 1024;
pub const MEMBER_LIMIT: usize = 200_000;

/// A wheel or an sdist: the one type for what `verify.artifacts` names and what a file name
/// says (`config::ArtifactKind`, whose words are `wheel` and `sdist`).
pub use crate::config::ArtifactKind as Kind;

impl Kind {
    /// What we release: a wheel (`.whl`) or a PEP 625 sdist (`.tar.gz`), by the extension
    /// alone, so a misnamed file is still checked as what it claims to be. A legacy sdist
    /// (`.zip`, …) is neither.
    pub fn of(filename: &str) -> Option<Kind> {
        if filename.ends_with(".whl") {
            Some(Kind::Wheel)
        } else {
            match SdistFormat::split(filename) {
                Some((_, SdistFormat::TarGz)) => Some(Kind::Sdist),
                _ => None,
            }
        }
    }

    /// The upload form's `filetype`.
    pub fn filetype(self) -> &'static str {
        match self {
            Kind::Wheel => "bdist_wheel",
            Kind::Sdist => "sdist",
        }
    }
}

/// Core metadata as ordered `(field, value)` pairs; the description body, if any, is
/// stored as a `Description` field.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub fields: Vec<(String, String)>,
}

impl Metadata {
    pub fn parse(text: &str) -> Metadata {
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut lines = text.split_inclusive('\n');
        for line in lines.by_ref() {
            let bare = line.trim_end_matches(['\n', '\r']);
            if bare.is_empty() {
                break;
            }
            if bare.starts_with([' ', '\t']) {
                if let Some((_, value)) = fields.last_mut() {
                    value.push('\n');
                    value.push_str(bare.trim_start());
                }
                continue;
            }
            if let Some((key, value)) = bare.split_once(':') {
                fields.push((key.trim().to_string(), value.trim().to_string()));
            }
        }
        let body: String = lines.collect();
        if !body.trim().is_empty() {
            fields.push(("Description".into(), body));
        }
        Metadata { fields }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The legacy upload API's form fields for this metadata (warehouse's names; multi-use
    /// fields repeated). `requires_python` is always sent, as twine and uv do.
    pub fn form_fields(&self) -> Vec<(&'static str, String)> {
        const MAP: &[(&str, &str)] = &[
            ("metadata-version", "metadata_version"),
            ("name", "name"),
            ("version", "version"),
            ("summary", "summary"),
            ("description", "description"),
            ("description-content-type", "description_content_type"),
            ("keywords", "keywords"),
            ("home-page", "home_page"),
            ("download-url", "download_url"),
            ("author", "author"),
            ("author-email", "author_email"),
            ("maintainer", "maintainer"),
            ("maintainer-email", "maintainer_email"),
            ("license", "license"),
            ("license-expression", "license_expression"),
            ("requires-python", "requires_python"),
            ("classifier", "classifiers"),
            ("requires-dist", "requires_dist"),
            ("provides-extra", "provides_extra"),
            ("project-url", "project_urls"),
            ("platform", "platform"),
            ("dynamic", "dynamic"),
            ("license-file", "license_file"),
            ("obsoletes-dist", "obsoletes_dist"),
            ("provides-dist", "provides_dist"),
            ("requires-external", "requires_external"),
        ];
        let mut out = Vec::new();
        for (key, value) in &self.fields {
            let key = key.to_ascii_lowercase();
            if let Some((_, form)) = MAP.iter().find(|(k, _)| *k == key) {
                out.push((*form, value.clone()));
            }
        }
        if !out.iter().any(|(k, _)| *k == "requires_python") {
            out.push(("requires_python", String::new()));
        }
        out
    }
}

/// Reads the core metadata of a wheel or an sdist.
pub fn read_metadata(path: &Path) -> Result<Metadata> {
    let filename = file_name(path)?;
    match Kind::of(&filename) {
        Some(Kind::Wheel) => read_wheel_metadata(path),
        Some(Kind::Sdist) => read_sdist_metadata(path),
        None => bail!("`{filename}` is neither a wheel (`.whl`) nor an sdist (`.tar.gz`)"),
    }
    .with_context(|| format!("cannot read the metadata of `{filename}`"))
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .with_context(|| format!("`{}` has no UTF-8 file name", path.display()))
}

fn read_limited(reader: impl Read, declared: Option<u64>, what: &str) -> Result<String> {
    if declared.is_some_and(|size| size > METADATA_LIMIT) {
        bail!(
            "`{what}` is larger than {} MiB",
            METADATA_LIMIT / (1024 * 1024)
        );
    }
    let mut bytes = Vec::new();
    reader.take(METADATA_LIMIT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > METADATA_LIMIT {
        bail!(
            "`{what}` is larger than {} MiB",
            METADATA_LIMIT / (1024 * 1024)
        );
    }
    String::from_utf8(bytes).with_context(|| format!("`{what}` is not UTF-8"))
}

fn read_wheel_metadata(path: &Path) -> Result<Metadata> {
    let mut archive = zip::ZipArchive::new(BufReader::new(File::open(path)?))
        .context("not a valid zip archive")?;
    if archive.len() > MEMBER_LIMIT {
        bail!("the archive has more than {MEMBER_LIMIT} members");
    }
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<std::result::Result<_, _>>()
        .context("a member name is not readable")?;
    let candidates: Vec<String> = names
        .into_iter()
        .filter(|n| {
            let parts: Vec<&str> = n.split('/').collect();
            parts.len() == 2 && parts[0].ends_with(".dist-info") && parts[1] == "METADATA"
        })
        .collect();
    let name = match candidates.as_slice() {
        [one] => one.clone(),
        [] => bail!("no `*.dist-info/METADATA` in the wheel"),
        many => bail!("more than one `METADATA` in the wheel: {}", many.join(", ")),
    };
    let entry = archive.by_name(&name)?;
    let declared = entry.size();
    let text = read_limited(entry, Some(declared), &name)?;
    Ok(Metadata::parse(&text))
}

type SdistEntry<'a> = tar::Entry<'a, flate2::read::GzDecoder<BufReader<File>>>;

/// Walks an sdist's members, at most `MEMBER_LIMIT` of them, handing `visit` each one's path
/// (without a leading `./`) and its entry to read from: the one bounded walk that both the
/// metadata check and the kit check use.
fn walk_sdist(
    path: &Path,
    mut visit: impl FnMut(&str, &mut SdistEntry<'_>) -> Result<()>,
) -> Result<()> {
    let gz = flate2::read::GzDecoder::new(BufReader::new(File::open(path)?));
    let mut archive = tar::Archive::new(gz);
    for (count, entry) in archive
        .entries()
        .context("not a gzipped tar archive")?
        .enumerate()
    {
        if count >= MEMBER_LIMIT {
            bail!("the archive has more than {MEMBER_LIMIT} members");
        }
        let mut entry = entry.context("a damaged tar member")?;
        let member = entry.path()?.to_string_lossy().into_owned();
        visit(member.trim_start_matches("./"), &mut entry)?;
    }
    Ok(())
}

fn read_sdist_metadata(path: &Path) -> Result<Metadata> {
    let mut top: Option<String> = None;
    let mut found: Option<String> = None;
    walk_sdist(path, |member, entry| {
        let Some(first) = member.split('/').next().filter(|f| !f.is_empty()) else {
            return Ok(());
        };
        match &top {
            None => top = Some(first.to_string()),
            Some(t) if t != first => {
                bail!("the sdist has more than one top-level folder (`{t}`, `{first}`)")
            }
            Some(_) => {}
        }
        if member.trim_end_matches('/') == format!("{first}/PKG-INFO") {
            if found.is_some() {
                bail!("the sdist has more than one `{first}/PKG-INFO`");
            }
            let declared = entry.header().size().ok();
            found = Some(read_limited(entry, declared, member)?);
        }
        Ok(())
    })?;
    let text = found.context("no `<name>-<version>/PKG-INFO` in the sdist")?;
    Ok(Metadata::parse(&text))
}

/// The hook shims `init` writes under `hooks/`.
pub const KIT_SHIMS: &[&str] = &["pre-push", "post-tag", "reference-transaction"];

/// The members of an sdist that belong to twostage's release kit rather than to the project:
/// `xtask/…`, the hook shims, a `.cargo/config.toml` that holds nothing but the `cargo xtask`
/// alias, and a root `Cargo.toml` whose workspace lists `xtask`. `release.toml` is not among
/// them: it holds no secret and no machine's path, builds nothing, and many projects shipped it
/// before adopting the kit (`init` still keeps it out of the sdist, for tidiness). A
/// VCS-driven backend (hatch-vcs, setuptools-scm) packs every tracked file, so these reach
/// the sdist unless the project excludes them (`cargo xtask init` does).
pub fn kit_files(path: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    walk_sdist(path, |member, entry| {
        if entry.header().entry_type().is_dir() {
            return Ok(());
        }
        let Some((_, inner)) = member.split_once('/') else {
            return Ok(());
        };
        let kit = match inner {
            _ if inner.starts_with("xtask/") => true,
            _ if inner
                .strip_prefix("hooks/")
                .is_some_and(|shim| KIT_SHIMS.contains(&shim)) =>
            {
                true
            }
            ".cargo/config.toml" | "Cargo.toml" => {
                let declared = entry.header().size().ok();
                let text = read_limited(entry, declared, member)?;
                match inner {
                    "Cargo.toml" => workspace_lists_xtask(&text),
                    _ => is_kit_cargo_config(&text),
                }
            }
            _ => false,
        };
        if kit {
            found.push(member.to_string());
        }
        Ok(())
    })?;
    found.sort();
    Ok(found)
}

fn workspace_lists_xtask(text: &str) -> bool {
    let Ok(doc) = text.parse::<toml_edit::DocumentMut>() else {
        return false;
    };
    doc.get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("xtask")))
}

/// A `.cargo/config.toml` with nothing but an `[alias]` table holding `xtask`: the one
/// `init` writes when the project had none.
pub fn is_kit_cargo_config(text: &str) -> bool {
    let Ok(doc) = text.parse::<toml_edit::DocumentMut>() else {
        return false;
    };
    let keys: Vec<&str> = doc.iter().map(|(k, _)| k).collect();
    let alias = doc.get("alias").and_then(|a| a.as_table_like());
    keys == ["alias"] && alias.is_some_and(|a| a.len() == 1 && a.get("xtask").is_some())
}

/// The problem to report for an sdist that carries the release kit, if it does.
pub fn kit_problem(path: &Path, filename: &str) -> Option<String> {
    match kit_files(path) {
        Ok(kit) if kit.is_empty() => None,
        Ok(kit) => {
            let shown: Vec<String> = kit.iter().take(8).map(|k| format!("`{k}`")).collect();
            let more = match kit.len().saturating_sub(shown.len()) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            Some(format!(
                "`{filename}` carries twostage's release kit, which is not part of the project: \
                 {}{more}; run `cargo xtask init .` again to add the exclusion your build \
                 backend understands, or exclude these files from the sdist yourself \
                 (see docs/adoption.md)",
                shown.join(", ")
            ))
        }
        Err(e) => Some(format!("`{filename}`: cannot list its members: {e:#}")),
    }
}

/// Size, sha256 and blake2b-256 of a file, streamed. The two digests run on two threads,
/// each reading the file (the second read comes from the page cache): on the 2-core machines
/// this runs on, that halves the time for a large wheel.
pub fn digests(path: &Path) -> Result<(u64, String, String)> {
    fn stream<D: Digest>(path: &Path) -> Result<(u64, String)> {
        let mut file =
            File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
        let mut digest = D::new();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            digest.update(&buffer[..n]);
            size += n as u64;
        }
        Ok((size, hex(&digest.finalize())))
    }
    let (sha, blake) = std::thread::scope(|scope| {
        let blake = scope.spawn(|| stream::<Blake2b256>(path));
        let sha = stream::<Sha256>(path);
        (
            sha,
            blake
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("hashing panicked"))),
        )
    });
    let ((size, sha), (blake_size, blake)) = (sha?, blake?);
    if size != blake_size {
        bail!("`{}` changed while it was being hashed", path.display());
    }
    Ok((size, sha, blake))
}

/// PEP 503 name normalization: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The distribution part of a filename: the normalized name with `_` (PEP 427, PEP 625).
pub fn filename_name(name: &str) -> String {
    normalize_name(name).replace('-', "_")
}

/// Checks an artifact's filename and metadata against the project and the tag's version.
/// Returns every problem found.
pub fn check(
    filename: &str,
    metadata: &Metadata,
    project: Option<&str>,
    version: &Version,
) -> Vec<String> {
    let mut problems = Vec::new();
    let meta_name = metadata.get("Name").unwrap_or_default();
    let meta_version = metadata.get("Version").unwrap_or_default();
    if meta_name.is_empty() || meta_version.is_empty() {
        problems.push(format!(
            "`{filename}`: its metadata lacks `Name` or `Version`"
        ));
        return problems;
    }
    if let Some(project) = project {
        if normalize_name(meta_name) != normalize_name(project) {
            problems.push(format!(
                "`{filename}`: its metadata names the project `{meta_name}`, not `{project}`"
            ));
        }
    }
    match meta_version.parse::<Version>() {
        Ok(v) if &v == version => {}
        Ok(v) => problems.push(format!(
            "`{filename}`: its metadata says version `{v}`, but the tag is for `{version}`"
        )),
        Err(_) => problems.push(format!(
            "`{filename}`: its metadata version `{meta_version}` is not PEP 440"
        )),
    }
    let dist = filename_name(meta_name);
    let expected_version = version.to_string();
    match Kind::of(filename) {
        Some(Kind::Wheel) => {
            let valid = WheelFilename::parse(filename)
                .is_some_and(|w| w.distribution == dist && w.version == expected_version);
            if !valid {
                problems.push(format!(
                    "`{filename}` breaks the wheel naming rule `{dist}-{expected_version}(-build)?-python-abi-platform.whl`"
                ));
            }
        }
        Some(Kind::Sdist) => {
            let expected = format!("{dist}-{expected_version}.tar.gz");
            if filename != expected {
                problems.push(format!(
                    "`{filename}` breaks the sdist naming rule (PEP 625): expected `{expected}`"
                ));
            }
        }
        None => problems.push(format!(
            "`{filename}` is neither a wheel nor a `.tar.gz` sdist"
        )),
    }
    problems
}

/// The wheel's Python tag (`py3`, `cp311`, `py2.py3`), the upload form's `pyversion`.
pub fn wheel_python_tag(filename: &str) -> Option<&str> {
    WheelFilename::parse(filename).map(|w| w.python)
}

/// Checks a filename that came from outside (a release note, an index page) before it is
/// used as a path: one path component made of the characters wheel and sdist names use, that
/// follows the wheel or sdist naming rule (PEP 427, PEP 625) for `project` at `version`.
pub fn release_filename(filename: &str, project: &str, version: &Version) -> Result<Kind> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '+' | '!');
    if filename.is_empty() || filename.starts_with('.') || !filename.chars().all(allowed) {
        bail!(
            "`{}` is not a file name of a release: it must be one path component of letters, \
             digits and `_.-+!`",
            filename.escape_debug()
        );
    }
    let Some(kind) = Kind::of(filename) else {
        bail!("`{filename}` is neither a wheel nor a `.tar.gz` sdist");
    };
    // PEP 625's name part is normalized with `_`: one `-` in an sdist's name.
    let parsed =
        DistFilename::parse(filename).filter(|p| !(p.is_sdist() && p.distribution().contains('-')));
    let Some(parsed) = parsed else {
        bail!(
            "`{filename}` breaks the {} naming rule",
            match kind {
                Kind::Wheel => "wheel (`name-version(-build)?-python-abi-platform.whl`)",
                Kind::Sdist => "sdist (`name-version.tar.gz`)",
            }
        );
    };
    if normalize_name(parsed.distribution()) != normalize_name(project) {
        bail!("`{filename}` is not a file of the project `{project}`");
    }
    if parsed.version().parse::<Version>().ok().as_ref() != Some(version) {
        bail!("`{filename}` is not a file of version `{version}`");
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::str::FromStr;

    fn v(s: &str) -> Version {
        Version::from_str(s).unwrap()
    }

    #[test]
    fn names_normalize() {
        assert_eq!(normalize_name("Demo.Pkg__Rel"), "demo-pkg-rel");
        assert_eq!(normalize_name("twostage-sample"), "twostage-sample");
    }

    #[test]
    fn metadata_parsing_and_form_fields() {
        let m = Metadata::parse(
            "Metadata-Version: 2.1\nName: Demo.Pkg\nVersion: 0.2.0rc1\nSummary: A demo\nClassifier: A\nClassifier: B\nRequires-Dist: idna>=3\nLicense: line one\n        line two\n\nLong description\nhere\n",
        );
        assert_eq!(m.get("name"), Some("Demo.Pkg"));
        assert_eq!(m.get("License"), Some("line one\nline two"));
        let form = m.form_fields();
        assert!(form.contains(&("classifiers", "A".into())));
        assert!(form.contains(&("classifiers", "B".into())));
        assert!(form.contains(&("requires_dist", "idna>=3".into())));
        assert!(form.contains(&("description", "Long description\nhere\n".into())));
        assert!(form.contains(&("requires_python", String::new())));
    }

    #[test]
    fn what_we_release_is_a_wheel_or_a_tar_gz_sdist() {
        assert_eq!(Kind::of("pkg-1.0-py3-none-any.whl"), Some(Kind::Wheel));
        assert_eq!(Kind::of("pkg-1.0.tar.gz"), Some(Kind::Sdist));
        // By extension alone, so a misnamed file is checked as what it claims to be.
        assert_eq!(Kind::of("misnamed.whl"), Some(Kind::Wheel));
        for legacy in [
            "pkg-1.0.zip",
            "pkg-1.0.tar.bz2",
            "pkg-1.0.tgz",
            "pkg-1.0.tar",
        ] {
            assert_eq!(Kind::of(legacy), None, "{legacy}");
        }
        assert_eq!(
            (Kind::Wheel.filetype(), Kind::Sdist.as_str()),
            ("bdist_wheel", "sdist")
        );
    }

    #[test]
    fn filename_rules() {
        let m = Metadata::parse("Name: Demo.Pkg_Rel\nVersion: 0.2.0rc1\n");
        assert!(check(
            "demo_pkg_rel-0.2.0rc1-py3-none-any.whl",
            &m,
            Some("demo-pkg-rel"),
            &v("0.2.0rc1")
        )
        .is_empty());
        assert!(check(
            "demo_pkg_rel-0.2.0rc1-1-py3-none-any.whl",
            &m,
            None,
            &v("0.2.0rc1")
        )
        .is_empty());
        assert!(check("demo_pkg_rel-0.2.0rc1.tar.gz", &m, None, &v("0.2.0rc1")).is_empty());
        assert_eq!(
            check("Demo.Pkg_Rel-0.2.0rc1.tar.gz", &m, None, &v("0.2.0rc1")).len(),
            1
        );
        assert_eq!(
            check(
                "demo_pkg_rel-0.2.0-rc.1-py3-none-any.whl",
                &m,
                None,
                &v("0.2.0rc1")
            )
            .len(),
            1
        );
        let problems = check("demo_pkg_rel-0.2.0rc1.tar.gz", &m, None, &v("0.2.0"));
        assert!(problems[0].contains("tag is for `0.2.0`"), "{problems:?}");
        let problems = check(
            "demo_pkg_rel-0.2.0rc1.tar.gz",
            &m,
            Some("other"),
            &v("0.2.0rc1"),
        );
        assert!(problems[0].contains("not `other`"), "{problems:?}");
        assert_eq!(
            wheel_python_tag("a-1-py2.py3-none-any.whl"),
            Some("py2.py3")
        );
    }

    fn sdist_with(dir: &Path, members: &[(&str, &[u8])]) -> std::path::PathBuf {
        let path = dir.join("pkg-1.0.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, data) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        tempfile::Builder::new()
            .prefix(&format!("twostage-dist-{name}-"))
            .tempdir()
            .unwrap()
            .keep()
    }

    #[test]
    fn sdists_need_exactly_one_pkg_info() {
        let dir = scratch("sdist");
        let ok = sdist_with(
            &dir,
            &[
                ("pkg-1.0/PKG-INFO", b"Name: pkg\nVersion: 1.0\n"),
                ("pkg-1.0/x.py", b""),
            ],
        );
        assert_eq!(read_metadata(&ok).unwrap().get("Version"), Some("1.0"));
        let two = sdist_with(
            &dir,
            &[
                ("pkg-1.0/PKG-INFO", b"Name: pkg\n"),
                ("pkg-1.0/PKG-INFO", b"Name: evil\n"),
            ],
        );
        let err = format!("{:#}", read_metadata(&two).unwrap_err());
        assert!(err.contains("more than one"), "{err}");
        let none = sdist_with(&dir, &[("pkg-1.0/setup.py", b"")]);
        assert!(read_metadata(&none).is_err());
        let tops = sdist_with(&dir, &[("a/PKG-INFO", b""), ("b/x", b"")]);
        assert!(format!("{:#}", read_metadata(&tops).unwrap_err()).contains("top-level"));
    }

    #[test]
    fn the_release_kit_is_found_in_an_sdist_and_nothing_else_is() {
        let dir = scratch("kit");
        let clean = sdist_with(
            &dir,
            &[
                ("pkg-1.0/PKG-INFO", b"Name: pkg\nVersion: 1.0\n"),
                ("pkg-1.0/hooks/pre-commit", b""),
                ("pkg-1.0/pkg/xtask/a.py", b""),
                ("pkg-1.0/Cargo.toml", b"[package]\nname = \"pkg\"\n"),
                (
                    "pkg-1.0/.cargo/config.toml",
                    b"[build]\nrustflags = []\n[alias]\nxtask = \"run\"\n",
                ),
            ],
        );
        assert_eq!(kit_files(&clean).unwrap(), Vec::<String>::new());
        assert_eq!(kit_problem(&clean, "pkg-1.0.tar.gz"), None);
        let carrying = sdist_with(
            &dir,
            &[
                ("pkg-1.0/PKG-INFO", b"Name: pkg\nVersion: 1.0\n"),
                ("pkg-1.0/xtask/Cargo.toml", b""),
                ("pkg-1.0/hooks/post-tag", b""),
                ("pkg-1.0/release.toml", b""),
                (
                    "pkg-1.0/Cargo.toml",
                    b"[workspace]\nmembers = [\"xtask\"]\n",
                ),
                (
                    "pkg-1.0/.cargo/config.toml",
                    b"[alias]\nxtask = \"run --package xtask --\"\n",
                ),
            ],
        );
        assert_eq!(
            kit_files(&carrying).unwrap(),
            [
                "pkg-1.0/.cargo/config.toml",
                "pkg-1.0/Cargo.toml",
                "pkg-1.0/hooks/post-tag",
                "pkg-1.0/xtask/Cargo.toml"
            ]
        );
        let problem = kit_problem(&carrying, "pkg-1.0.tar.gz").unwrap();
        assert!(
            problem.contains("`pkg-1.0/xtask/Cargo.toml`") && problem.contains("init ."),
            "{problem}"
        );
    }

    #[test]
    fn huge_wheel_metadata_is_refused_without_reading_it_all() {
        let dir = scratch("wheel");
        let path = dir.join("pkg-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("pkg-1.0.dist-info/METADATA", options)
            .unwrap();
        // 64 MiB of zeros compresses to a few dozen KiB: a zip bomb in miniature.
        let chunk = vec![b'a'; 1024 * 1024];
        for _ in 0..64 {
            zip.write_all(&chunk).unwrap();
        }
        zip.finish().unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() < 1024 * 1024);
        let err = format!("{:#}", read_metadata(&path).unwrap_err());
        assert!(err.contains("larger than 8 MiB"), "{err}");
    }

    #[test]
    fn digests_are_streamed() {
        let dir = scratch("digest");
        let path = dir.join("f");
        std::fs::write(&path, b"abc").unwrap();
        let (size, sha, blake) = digests(&path).unwrap();
        assert_eq!(size, 3);
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            blake,
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
        );
    }

    #[test]
    fn names_from_outside_are_one_component_of_the_release() {
        let v: Version = "1.4.3".parse().unwrap();
        for good in [
            "pkg_a-1.4.3-py3-none-any.whl",
            "Pkg.A-1.4.3-1-cp311-cp311-manylinux_2_17_x86_64.whl",
            "pkg_a-1.4.3.tar.gz",
        ] {
            assert!(release_filename(good, "pkg-a", &v).is_ok(), "{good}");
        }
        for bad in [
            "../../x",
            "/etc/passwd",
            "..",
            "",
            ".hidden-1.4.3.tar.gz",
            "pkg_a-1.4.3/../../x.whl",
            "pkg_a-1.4.3-py3-none-any.whl\0",
            "pkg_a-1.4.3.zip",
            "other-1.4.3.tar.gz",
            "pkg_a-1.4.4.tar.gz",
            "pkg_a-1.4.3-py3-any.whl",
            "pkg-a-1.4.3.tar.gz",
            "pkg_a-1.4.3-x1-py3-none-any.whl",
        ] {
            assert!(release_filename(bad, "pkg-a", &v).is_err(), "{bad}");
        }
    }
}
