//! Release tags of one package among several in a repository: `<name>-v<version>` and its
//! production tag `<name>-v<version>-prod` by default, or any template with one `{version}`
//! (and `{name}` at most once), as python-semantic-release's `tag_format` is
//! (https://python-semantic-release.readthedocs.io/en/latest/configuration/configuration.html#tag-format).
//! The versions are spelled and read as `version` spells them for a single package's
//! `v<version>`, which stays `version::TagScheme`. This module only formats and parses names:
//! it knows nothing of git.

use anyhow::{bail, Result};
use pep440_rs::Version;

use crate::version::{parse_release_version, tag_spelling, ReleaseTag, TagScheme};

/// The tag template of a package that sets none (cargo-release's `{{crate_name}}-v{{version}}`,
/// release-please's `<component>-v<version>`).
pub const DEFAULT_TEMPLATE: &str = "{name}-v{version}";

/// One package's release tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageTags {
    /// The package's normalized name.
    pub package: String,
    /// The template as configured.
    pub template: String,
    /// What comes before and after the version once `{name}` is filled in.
    prefix: String,
    suffix: String,
    prod_suffix: String,
}

impl PackageTags {
    /// The tags of `package` (a PEP 503 normalized name) by `template`, with `prod_suffix`
    /// (`-prod`) after a production tag.
    pub fn new(package: &str, template: &str, prod_suffix: &str) -> Result<PackageTags> {
        if package.is_empty()
            || package.starts_with('-')
            || package.ends_with('-')
            || package.contains("--")
            || !package
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            bail!("`{package}` is not a normalized distribution name (PEP 503: `acme-core`)");
        }
        let filled = template.replace("{name}", package);
        let Some((prefix, suffix)) = filled.split_once("{version}") else {
            bail!("the tag template `{template}` has no `{{version}}`");
        };
        if template.matches("{name}").count() > 1
            || format!("{prefix}{suffix}").contains(['{', '}'])
        {
            bail!(
                "the tag template `{template}` may hold `{{version}}` once and `{{name}}` at most \
                 once, and no other `{{…}}`"
            );
        }
        if prefix.is_empty() && suffix.is_empty() {
            bail!(
                "the tag template `{template}` makes tags of the version alone, which is the \
                 single-package scheme (`v<version>`); in a repository of several packages each \
                 tag names its package: `{DEFAULT_TEMPLATE}`"
            );
        }
        let tags = PackageTags {
            package: package.to_string(),
            template: template.to_string(),
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
            prod_suffix: prod_suffix.to_string(),
        };
        let sample = tags.prod_tag(&Version::new([1, 0, 0]));
        if !git2::Reference::is_valid_name(&format!("refs/tags/{sample}")) {
            bail!(
                "the tag template `{template}` makes `{sample}`, which git refuses as a tag name"
            );
        }
        Ok(tags)
    }

    pub fn tag(&self, version: &Version) -> String {
        format!("{}{}{}", self.prefix, tag_spelling(version), self.suffix)
    }

    /// These tags as the steps read and make them.
    pub fn scheme(&self) -> TagScheme {
        TagScheme {
            prefix: self.prefix.clone(),
            suffix: self.suffix.clone(),
            prod_suffix: self.prod_suffix.clone(),
        }
    }

    pub fn prod_tag(&self, version: &Version) -> String {
        format!("{}{}", self.tag(version), self.prod_suffix)
    }

    /// Reads a tag name as this package's, `None` when it is not one of its tags. The
    /// production suffix is stripped before the version is read, so a version's own
    /// pre-release is never taken for it.
    pub fn parse(&self, name: &str) -> Option<ReleaseTag> {
        let name = name.strip_prefix("refs/tags/").unwrap_or(name);
        let rest = name.strip_prefix(&self.prefix)?;
        let (rest, prod) = match rest.strip_suffix(&self.prod_suffix) {
            Some(rest) if !self.prod_suffix.is_empty() => (rest, true),
            _ => (rest, false),
        };
        let spelled = rest.strip_suffix(&self.suffix)?;
        if !spelled.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let version = parse_release_version(spelled).ok()?;
        Some(ReleaseTag { version, prod })
    }
}

/// Version spellings a conflict check tries: releases of one to four parts, pre-, post- and
/// dev releases, an epoch, and numbers of several digits (which a prefix ending in a digit
/// could swallow).
const PROBES: &[&str] = &[
    "0.1.0",
    "1.0.0",
    "1.2.3",
    "10.20.30",
    "1.0",
    "2026.1",
    "1.2.3.4",
    "1.0.0rc1",
    "2.0.0b2",
    "3.1.0a10",
    "1.0.post1",
    "1.0.dev3",
    "1!2.0",
    "11.0.0",
    "1.0.0rc1.post2",
];

/// Refuses a set of packages' tags in which one package's tag could be read as another's:
/// `acme` with `{name}{version}` would read `acme1`'s `acme11.0.0` as its own `11.0.0`, and two
/// packages with one fixed template (`v{version}`) would share every tag. Each package's plain
/// and production tags of many version spellings (`PROBES`) are read by every other package's
/// scheme; any that parses is a conflict. (`acme` and `acme-core` with `{name}-v{version}` do
/// not conflict: `acme-v` is not a prefix of `acme-core-v1.0.0`.)
pub fn check_distinct(schemes: &[PackageTags]) -> Result<()> {
    let mut problems = Vec::new();
    for (i, a) in schemes.iter().enumerate() {
        for b in &schemes[i + 1..] {
            if let Some(tag) = mistaken(a, b).or_else(|| mistaken(b, a)) {
                problems.push(format!(
                    "the tags of `{}` (`{}`) and `{}` (`{}`) can be mistaken for each other \
                     (`{tag}` reads as either's); give one a template that sets it apart, such \
                     as `{DEFAULT_TEMPLATE}`",
                    a.package, a.template, b.package, b.template
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(())
}

/// A tag of `b` that `a` reads as its own.
fn mistaken(a: &PackageTags, b: &PackageTags) -> Option<String> {
    PROBES
        .iter()
        .filter_map(|v| parse_release_version(v).ok())
        .flat_map(|v| [b.tag(&v), b.prod_tag(&v)])
        .find(|tag| a.parse(tag).is_some())
}

/// The package a tag belongs to, and the tag read, among schemes `check_distinct` accepted.
pub fn owner<'a>(schemes: &'a [PackageTags], tag: &str) -> Option<(&'a PackageTags, ReleaseTag)> {
    schemes
        .iter()
        .find_map(|scheme| scheme.parse(tag).map(|parsed| (scheme, parsed)))
}

/// The highest release (not production) tag of a package among `names`, with its version.
pub fn latest<'n>(scheme: &PackageTags, names: &'n [String]) -> Option<(&'n str, Version)> {
    names
        .iter()
        .filter_map(|name| {
            let parsed = scheme.parse(name)?;
            (!parsed.prod).then_some((name.as_str(), parsed.version))
        })
        .max_by(|a, b| a.1.cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(package: &str, template: &str) -> PackageTags {
        PackageTags::new(package, template, "-prod").unwrap()
    }

    fn v(text: &str) -> Version {
        parse_release_version(text).unwrap()
    }

    #[test]
    fn the_default_template_names_the_package_and_spells_the_version_as_v_tags_do() {
        let core = tags("acme-core", DEFAULT_TEMPLATE);
        assert_eq!(core.tag(&v("1.2.3")), "acme-core-v1.2.3");
        assert_eq!(core.prod_tag(&v("1.2.3")), "acme-core-v1.2.3-prod");
        assert_eq!(core.tag(&v("0.2.0rc1")), "acme-core-v0.2.0-rc.1");
        assert_eq!(core.tag(&v("26.4")), "acme-core-v26.4");
        for (name, version, prod) in [
            ("acme-core-v1.2.3", "1.2.3", false),
            ("refs/tags/acme-core-v1.2.3-prod", "1.2.3", true),
            ("acme-core-v0.2.0-rc.1", "0.2.0rc1", false),
            ("acme-core-v0.2.0-rc.1-prod", "0.2.0rc1", true),
            ("acme-core-v0.2.0rc1", "0.2.0rc1", false),
        ] {
            let parsed = core.parse(name).unwrap();
            assert_eq!((parsed.version, parsed.prod), (v(version), prod), "{name}");
        }
        for other in [
            "v1.2.3",
            "acme-core-1.2.3",
            "acme-core-vnext",
            "acme-core-v1.2.3-extra",
        ] {
            assert_eq!(core.parse(other), None, "{other}");
        }
    }

    #[test]
    fn a_template_may_put_the_name_after_the_version() {
        let core = tags("acme-core", "release-{version}+{name}");
        assert_eq!(core.prod_tag(&v("1.2.3")), "release-1.2.3+acme-core-prod");
        let parsed = core.parse("release-1.2.3+acme-core-prod").unwrap();
        assert_eq!((parsed.version, parsed.prod), (v("1.2.3"), true));
        assert_eq!(core.parse("release-1.2.3+acme-cli"), None);
        assert_eq!(core.parse("release-1.2.3"), None);
    }

    #[test]
    fn a_package_whose_name_starts_another_name_reads_only_its_own_tags() {
        let schemes = [
            tags("acme", DEFAULT_TEMPLATE),
            tags("acme-core", DEFAULT_TEMPLATE),
        ];
        check_distinct(&schemes).unwrap();
        let (owner_of, parsed) = owner(&schemes, "acme-core-v1.0.0").unwrap();
        assert_eq!(owner_of.package, "acme-core");
        assert_eq!(parsed.version, v("1.0.0"));
        assert_eq!(schemes[0].parse("acme-core-v1.0.0"), None);
        assert_eq!(schemes[0].parse("acme-core-v1.0.0-prod"), None);
        assert_eq!(
            owner(&schemes, "acme-v2.0.0-prod").unwrap().0.package,
            "acme"
        );
    }

    #[test]
    fn templates_whose_tags_could_be_mistaken_are_refused() {
        for (a, b, shared) in [
            (
                ("acme", "{name}{version}"),
                ("acme1", "{name}{version}"),
                "acme10.1.0",
            ),
            (("acme", "v{version}"), ("tools", "v{version}"), "v0.1.0"),
            (
                ("acme", "{name}-{version}"),
                ("other", "acme-{version}"),
                "acme-0.1.0",
            ),
            (
                ("acme", "{name}-v{version}"),
                ("acme-v1", "{name}.{version}"),
                "acme-v1.0.1.0",
            ),
        ] {
            let schemes = [tags(a.0, a.1), tags(b.0, b.1)];
            let err = check_distinct(&schemes).unwrap_err().to_string();
            assert!(
                err.contains(&format!("the tags of `{}` (`{}`) and `{}`", a.0, a.1, b.0)),
                "{err}"
            );
            assert!(err.contains(shared), "{err}");
        }
        // Fixed templates that differ, and names apart, are fine.
        check_distinct(&[
            tags("acme-core", "core-v{version}"),
            tags("acme-cli", "cli-v{version}"),
        ])
        .unwrap();
        check_distinct(&[
            tags("acme", "{name}{version}"),
            tags("acmex", "{name}{version}"),
        ])
        .unwrap();
    }

    #[test]
    fn a_template_is_checked_when_made() {
        for (package, template, says) in [
            ("acme", "{name}-v", "has no `{version}`"),
            ("acme", "{version}", "the single-package scheme"),
            ("acme", "{name}-{name}-{version}", "`{name}` at most once"),
            ("acme", "{name}-{version}-{version}", "`{version}` once"),
            ("acme", "{name}-{major}.{version}", "no other `{…}`"),
            ("acme", "{name} v{version}", "which git refuses"),
            (
                "Acme_Core",
                DEFAULT_TEMPLATE,
                "not a normalized distribution name",
            ),
        ] {
            let err = PackageTags::new(package, template, "-prod")
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{template}: {err}");
        }
    }

    #[test]
    fn the_latest_tag_is_the_highest_plain_release() {
        let core = tags("acme-core", DEFAULT_TEMPLATE);
        let names: Vec<String> = [
            "acme-core-v1.2.0",
            "acme-core-v1.10.0-prod",
            "acme-core-v1.9.0",
            "acme-v9.0.0",
            "v3.0.0",
            "acme-core-v1.10.0-rc.1",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            latest(&core, &names),
            Some(("acme-core-v1.10.0-rc.1", v("1.10.0rc1")))
        );
        assert_eq!(latest(&tags("acme-cli", DEFAULT_TEMPLATE), &names), None);
    }
}
