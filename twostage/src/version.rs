//! The version model: PEP 440 package versions, their tag spellings, and bump levels.
//!
//! A package version is PEP 440 (`pep440_rs`). A tag spells it in SemVer (`semver`) where the
//! version has a SemVer form (`0.2.0rc1` ↔ `v0.2.0-rc.1`) and in PEP 440 normal form otherwise
//! (`v26.4`, `v2.0.post1`); reading a tag accepts both. Bumps are worked out on the PEP 440
//! version, whose order is the one installers use (docs/versions.md). This module knows
//! nothing of git, files or indexes: it only maps and compares.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use pep440_rs::{Prerelease, PrereleaseKind, Version};

/// What `release` was asked for: a bump level or an explicit version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bump {
    Major,
    Minor,
    Patch,
    Rc,
    Beta,
    Alpha,
    Exact(Version),
}

impl FromStr for Bump {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "major" => Bump::Major,
            "minor" => Bump::Minor,
            "patch" => Bump::Patch,
            "rc" => Bump::Rc,
            "beta" => Bump::Beta,
            "alpha" => Bump::Alpha,
            other => Bump::Exact(parse_release_version(other)?),
        })
    }
}

impl fmt::Display for Bump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bump::Major => f.write_str("major"),
            Bump::Minor => f.write_str("minor"),
            Bump::Patch => f.write_str("patch"),
            Bump::Rc => f.write_str("rc"),
            Bump::Beta => f.write_str("beta"),
            Bump::Alpha => f.write_str("alpha"),
            Bump::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// Parses a version a user or a tag wrote, in PEP 440 or SemVer spelling, and refuses the
/// ones that cannot be released faithfully.
pub fn parse_release_version(text: &str) -> Result<Version> {
    let text = text.trim();
    if let Some(version) = semver::Version::parse(text)
        .ok()
        .as_ref()
        .and_then(from_semver)
    {
        return Ok(version);
    }
    let version = Version::from_str(text)
        .map_err(|e| anyhow::anyhow!("`{text}` is not a valid version: {e}"))?;
    if version.is_local() {
        bail!(
            "`{text}` has a local version label (`+…`): package indexes such as PyPI refuse local versions"
        );
    }
    if version.post().is_some() && implicit_post_release(text) {
        bail!(
            "`{text}` is a SemVer pre-release, but PEP 440 reads it as the post-release `{version}`, \
             which sorts after the final release; write `-rc.N`, `-beta.N` or `-alpha.N` instead"
        );
    }
    Ok(version)
}

/// `1.0.0-1` (SemVer pre-release 1) is PEP 440's implicit post-release `1.0.0.post1`: a `-`
/// followed by a digit straight after the release numbers.
fn implicit_post_release(text: &str) -> bool {
    let text = text.trim_start_matches(['v', 'V']);
    let text = text.split_once('!').map_or(text, |(_, rest)| rest);
    let rest = text.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    rest.strip_prefix('-')
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

/// Whether the version has a SemVer spelling: `X.Y.Z` with an optional alpha, beta or rc.
fn has_semver_form(version: &Version) -> bool {
    version.epoch() == 0
        && version.release().len() == 3
        && version.post().is_none()
        && version.dev().is_none()
        && !version.is_local()
}

/// The SemVer form of a version (`X.Y.Z`, `X.Y.Z-rc.N`, `-beta.N`, `-alpha.N`), if it has one.
pub fn to_semver(version: &Version) -> Option<semver::Version> {
    if !has_semver_form(version) {
        return None;
    }
    let [major, minor, patch] = *version.release() else {
        return None;
    };
    let pre = match version.pre() {
        None => semver::Prerelease::EMPTY,
        Some(Prerelease { kind, number }) => {
            semver::Prerelease::new(&format!("{}.{number}", kind_name(kind))).ok()?
        }
    };
    Some(semver::Version {
        pre,
        ..semver::Version::new(major, minor, patch)
    })
}

/// The PEP 440 version a SemVer version spells, if it spells one: no build metadata, and no
/// pre-release or one of `alpha.N`, `beta.N`, `rc.N`.
pub fn from_semver(version: &semver::Version) -> Option<Version> {
    if !version.build.is_empty() {
        return None;
    }
    let release = Version::new([version.major, version.minor, version.patch]);
    if version.pre.is_empty() {
        return Some(release);
    }
    let (kind, number) = version.pre.as_str().split_once('.')?;
    let kind = match kind {
        "alpha" => PrereleaseKind::Alpha,
        "beta" => PrereleaseKind::Beta,
        "rc" => PrereleaseKind::Rc,
        _ => return None,
    };
    let number = number.parse().ok()?;
    Some(release.with_pre(Some(Prerelease { kind, number })))
}

/// The version as a tag spells it (without prefix): SemVer where it has a SemVer form.
pub fn tag_spelling(version: &Version) -> String {
    match to_semver(version) {
        Some(semver) => semver.to_string(),
        None => version.to_string(),
    }
}

/// The version as Cargo (SemVer) spells it, for maturin projects' `Cargo.toml`.
pub fn cargo_spelling(version: &Version) -> Result<String> {
    match to_semver(version) {
        Some(semver) => Ok(semver.to_string()),
        None => {
            bail!("`{version}` has no SemVer form, so it cannot be written into a `Cargo.toml`")
        }
    }
}

/// The release tags of a project: `<prefix><version>` and `<prefix><version><prod-suffix>`;
/// of one package of several (`package_tags`), `<prefix><version><suffix>` and its
/// `<prod-suffix>` after.
#[derive(Debug, Clone)]
pub struct TagScheme {
    pub prefix: String,
    /// After the version: empty but for a package's template that puts text there.
    pub suffix: String,
    pub prod_suffix: String,
}

/// A tag name read back: which version, and whether it is the production tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseTag {
    pub version: Version,
    pub prod: bool,
}

impl TagScheme {
    pub fn tag(&self, version: &Version) -> String {
        format!("{}{}{}", self.prefix, tag_spelling(version), self.suffix)
    }

    pub fn prod_tag(&self, version: &Version) -> String {
        format!("{}{}", self.tag(version), self.prod_suffix)
    }

    /// Reads a tag name. The production suffix is stripped before parsing, so a version's own
    /// pre-release can never be taken for it.
    pub fn parse(&self, name: &str) -> Result<ReleaseTag> {
        let name = name.strip_prefix("refs/tags/").unwrap_or(name);
        let Some(rest) = name.strip_prefix(&self.prefix) else {
            bail!(
                "`{name}` is not a release tag: release tags start with `{}`",
                self.prefix
            );
        };
        let (rest, prod) = match rest.strip_suffix(&self.prod_suffix) {
            Some(rest) if !self.prod_suffix.is_empty() => (rest, true),
            _ => (rest, false),
        };
        let Some(rest) = rest.strip_suffix(&self.suffix) else {
            bail!(
                "`{name}` is not a release tag: release tags end with `{}` (before `{}`)",
                self.suffix,
                self.prod_suffix
            );
        };
        if !rest.starts_with(|c: char| c.is_ascii_digit()) {
            bail!("`{name}` is not a release tag: `{rest}` does not start with a digit");
        }
        let version = parse_release_version(rest)
            .with_context(|| format!("`{name}` is not a release tag"))?;
        Ok(ReleaseTag { version, prod })
    }
}

/// The next version for a bump level. Keeps the precision the project uses (`26.3` patch →
/// `26.3.1`, minor → `26.4`); a pre-release is finished by the level it is a pre-release of
/// (`1.4.3rc2` patch → `1.4.3`), as cargo-release and bump-my-version do.
pub fn next_version(current: &Version, bump: &Bump) -> Result<Version> {
    let next = match bump {
        Bump::Exact(v) => v.clone(),
        Bump::Major => bump_release(current, 0),
        Bump::Minor => bump_release(current, 1),
        Bump::Patch => bump_release(current, 2),
        Bump::Rc => bump_pre(current, PrereleaseKind::Rc)?,
        Bump::Beta => bump_pre(current, PrereleaseKind::Beta)?,
        Bump::Alpha => bump_pre(current, PrereleaseKind::Alpha)?,
    };
    if next.is_local() {
        bail!("`{next}` has a local version label: package indexes refuse local versions");
    }
    if next <= *current {
        let relation = if next == *current {
            "equal to"
        } else {
            "lower than"
        };
        bail!("`{next}` is {relation} the current version `{current}`: a release must go up");
    }
    Ok(next)
}

fn bump_release(current: &Version, index: usize) -> Version {
    let mut release: Vec<u64> = current.release().to_vec();
    if release.len() <= index {
        release.resize(index + 1, 0);
    }
    // A pre- or dev-release of exactly this level (2.0.0rc1 for major, 1.4.3rc2 for patch) is
    // finished, not skipped.
    let unfinished = current.any_prerelease() && current.post().is_none();
    let finishes_here = unfinished && release[index + 1..].iter().all(|&n| n == 0);
    if !finishes_here {
        release[index] += 1;
        for n in &mut release[index + 1..] {
            *n = 0;
        }
    }
    Version::new(release).with_epoch(current.epoch())
}

fn bump_pre(current: &Version, kind: PrereleaseKind) -> Result<Version> {
    let same_release =
        || Version::new(current.release().iter().copied()).with_epoch(current.epoch());
    let pre = |number| Some(Prerelease { kind, number });
    match (current.pre(), current.post()) {
        (Some(existing), None) => {
            let number = match existing.kind.cmp(&kind) {
                // `1.4.4rc1.dev2` comes before `1.4.4rc1`, so `rc` finishes it.
                std::cmp::Ordering::Equal if current.dev().is_some() => existing.number,
                std::cmp::Ordering::Equal => existing.number + 1,
                std::cmp::Ordering::Less => 1,
                std::cmp::Ordering::Greater => bail!(
                    "`{current}` is already past {name}: a {name} of the same release would sort \
                     before it (use `patch` to finish it, or name the version)",
                    name = kind_name(kind)
                ),
            };
            Ok(same_release().with_pre(pre(number)))
        }
        // `1.4.3.dev1` comes before `1.4.3a1`.
        (None, None) if current.dev().is_some() => Ok(same_release().with_pre(pre(1))),
        _ => Ok(bump_release(current, 2).with_pre(pre(1))),
    }
}

fn kind_name(kind: PrereleaseKind) -> &'static str {
    match kind {
        PrereleaseKind::Alpha => "alpha",
        PrereleaseKind::Beta => "beta",
        PrereleaseKind::Rc => "rc",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::from_str(s).unwrap()
    }

    fn scheme() -> TagScheme {
        TagScheme {
            prefix: "v".into(),
            suffix: String::new(),
            prod_suffix: "-prod".into(),
        }
    }

    #[test]
    fn tag_spelling_table_both_ways() {
        let table = [
            ("0.2.0rc1", "v0.2.0-rc.1"),
            ("0.2.0b2", "v0.2.0-beta.2"),
            ("0.2.0a1", "v0.2.0-alpha.1"),
            ("1.4.2", "v1.4.2"),
            ("26.4", "v26.4"),
            ("26.4rc1", "v26.4rc1"),
            ("2.0.post1", "v2.0.post1"),
            ("1.0.0.dev3", "v1.0.0.dev3"),
            ("1!2.0.0", "v1!2.0.0"),
            ("1.2.3.4", "v1.2.3.4"),
        ];
        for (version, tag) in table {
            assert_eq!(scheme().tag(&v(version)), tag, "{version}");
            let read = scheme().parse(tag).unwrap();
            assert_eq!(read.version, v(version), "{tag}");
            assert!(!read.prod);
            let prod = scheme().parse(&format!("{tag}-prod")).unwrap();
            assert_eq!(prod.version, v(version));
            assert!(prod.prod);
        }
    }

    #[test]
    fn reading_accepts_the_pep440_spelling_of_a_semver_tag() {
        assert_eq!(scheme().parse("v0.2.0rc1").unwrap().version, v("0.2.0rc1"));
        assert_eq!(
            scheme().parse("v0.2.0-beta.2").unwrap().version,
            v("0.2.0b2")
        );
        assert_eq!(
            scheme().parse("refs/tags/v1.4.2").unwrap().version,
            v("1.4.2")
        );
    }

    #[test]
    fn unfaithful_versions_are_refused_with_the_reason() {
        let err = parse_release_version("1.0.0-1").unwrap_err().to_string();
        assert!(err.contains("post-release"), "{err}");
        let err = parse_release_version("1.0.0+build.5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("local version"), "{err}");
        let err = parse_release_version("1.0.0-x.7.z")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid version"), "{err}");
        assert!(parse_release_version("1.0.post1").is_ok());
        assert!(parse_release_version("1.0.0-rc.1").is_ok());
    }

    #[test]
    fn malformed_tags_are_refused() {
        for bad in [
            "1.2.3",
            "v1.2.3-prod-prod",
            "vfoo",
            "v",
            "v1.0.0-1",
            "v1.0.0+abc",
        ] {
            assert!(scheme().parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn bump_levels() {
        let table = [
            ("1.4.2", Bump::Patch, "1.4.3"),
            ("1.4.2", Bump::Minor, "1.5.0"),
            ("1.4.2", Bump::Major, "2.0.0"),
            ("1.4.3rc2", Bump::Patch, "1.4.3"),
            ("1.4.3", Bump::Rc, "1.4.4rc1"),
            ("1.4.4rc1", Bump::Rc, "1.4.4rc2"),
            ("1.4.3", Bump::Beta, "1.4.4b1"),
            ("1.4.4b1", Bump::Beta, "1.4.4b2"),
            ("1.4.4b2", Bump::Rc, "1.4.4rc1"),
            ("1.4.3", Bump::Alpha, "1.4.4a1"),
            ("1.4.4a1", Bump::Beta, "1.4.4b1"),
            ("2.0.0rc1", Bump::Major, "2.0.0"),
            ("2.0.0rc1", Bump::Minor, "2.0.0"),
            ("1.5.0b1", Bump::Minor, "1.5.0"),
            ("1.5.0b1", Bump::Major, "2.0.0"),
            ("26.3", Bump::Minor, "26.4"),
            ("26.3", Bump::Patch, "26.3.1"),
            ("26.3", Bump::Major, "27.0"),
            ("1.4.2.post1", Bump::Patch, "1.4.3"),
            ("1.4.3.dev2", Bump::Patch, "1.4.3"),
            ("1!1.0.0", Bump::Minor, "1!1.1.0"),
            ("1.4.2", Bump::Exact(v("1.5.0rc1")), "1.5.0rc1"),
        ];
        for (from, bump, to) in table {
            let next =
                next_version(&v(from), &bump).unwrap_or_else(|e| panic!("{from} {bump}: {e}"));
            assert_eq!(next, v(to), "{from} {bump}");
            assert_eq!(next.to_string(), to, "{from} {bump} keeps its spelling");
        }
    }

    #[test]
    fn downgrades_and_repeats_are_refused() {
        let err = next_version(&v("1.4.2"), &Bump::Exact(v("1.4.2"))).unwrap_err();
        assert!(err.to_string().contains("equal to"), "{err}");
        let err = next_version(&v("1.4.2"), &Bump::Exact(v("1.4.2.0"))).unwrap_err();
        assert!(err.to_string().contains("equal to"), "{err}");
        let err = next_version(&v("1.4.2"), &Bump::Exact(v("1.3.9"))).unwrap_err();
        assert!(err.to_string().contains("lower than"), "{err}");
        let err = next_version(&v("1.4.4rc1"), &Bump::Alpha).unwrap_err();
        assert!(err.to_string().contains("past alpha"), "{err}");
    }

    /// Tag spelling → parse → spelling is the identity, for the production tag too; and the
    /// PEP 440 ↔ SemVer mapping round-trips wherever it is defined.
    #[test]
    fn spellings_round_trip() {
        let tags = [
            "v0.0.0",
            "v1.2.3",
            "v10.20.30",
            "v0.2.0-rc.1",
            "v1.0.0-rc.12",
            "v0.2.0-beta.2",
            "v0.2.0-alpha.1",
            "v3.0.0-alpha.0",
            "v26.4",
            "v26.4rc1",
            "v2.0.post1",
            "v1.0.0.dev3",
            "v1.0.0rc1.dev2",
            "v1!2.0.0",
            "v1.2.3.4",
            "v7",
        ];
        for tag in tags {
            let read = scheme().parse(tag).unwrap_or_else(|e| panic!("{tag}: {e}"));
            assert_eq!(scheme().tag(&read.version), tag);
            let prod = scheme().parse(&scheme().prod_tag(&read.version)).unwrap();
            assert_eq!(
                prod,
                ReleaseTag {
                    version: read.version.clone(),
                    prod: true
                }
            );
            assert_eq!(scheme().prod_tag(&prod.version), format!("{tag}-prod"));
            // Where the version has a SemVer form, PEP 440 → SemVer → PEP 440 is the identity
            // and the SemVer text is the tag's.
            if let Some(semver) = to_semver(&read.version) {
                assert_eq!(from_semver(&semver), Some(read.version.clone()), "{tag}");
                assert_eq!(format!("v{semver}"), tag);
            }
        }
        // SemVer → PEP 440 → SemVer, where the SemVer version spells a PEP 440 one.
        for text in [
            "1.2.3",
            "0.2.0-rc.1",
            "0.2.0-beta.2",
            "0.2.0-alpha.1",
            "4.5.6-rc.0",
        ] {
            let semver = semver::Version::parse(text).unwrap();
            let pep440 = from_semver(&semver).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(to_semver(&pep440), Some(semver), "{text}");
        }
        // Where the mapping is not defined, both directions say so.
        for text in [
            "1.0.0-1",
            "1.0.0-x.7.z",
            "1.0.0+build.5",
            "1.0.0-rc",
            "1.0.0-rc.1.2",
            "1.0.0-dev.1",
        ] {
            let semver = semver::Version::parse(text).unwrap();
            assert_eq!(from_semver(&semver), None, "{text}");
        }
        for version in [
            "26.4",
            "1.0.0.post1",
            "1.0.0.dev1",
            "1!1.0.0",
            "1.2.3.4",
            "1.0.0rc1.dev1",
        ] {
            assert_eq!(to_semver(&v(version)), None, "{version}");
        }
    }

    /// A tag's SemVer precedence and the package's PEP 440 order agree, so that "a release must
    /// go up" means the same for the tags as for the index.
    #[test]
    fn semver_precedence_agrees_with_pep440_order() {
        let versions = [
            "0.9.9",
            "1.0.0a1",
            "1.0.0a2",
            "1.0.0b1",
            "1.0.0rc1",
            "1.0.0rc2",
            "1.0.0rc10",
            "1.0.0",
            "1.0.1a1",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for (i, a) in versions.iter().enumerate() {
            for b in &versions[i..] {
                let (pa, pb) = (v(a), v(b));
                let (sa, sb) = (to_semver(&pa).unwrap(), to_semver(&pb).unwrap());
                assert_eq!(pa.cmp(&pb), sa.cmp(&sb), "{a} against {b}");
            }
        }
    }

    #[test]
    fn cargo_spelling_needs_a_semver_form() {
        assert_eq!(cargo_spelling(&v("1.4.4rc1")).unwrap(), "1.4.4-rc.1");
        assert!(cargo_spelling(&v("26.4")).is_err());
    }
}
