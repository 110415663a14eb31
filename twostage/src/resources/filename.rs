//! Distribution file names: the one place a wheel or sdist file name is split into its parts.
//!
//! - A wheel is `{distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform
//!   tag}.whl`; the build tag starts with a digit, and each tag may be a compressed tag set
//!   (`py2.py3`) (https://packaging.python.org/en/latest/specifications/binary-distribution-format/#file-name-convention,
//!   https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/#compressed-tag-sets).
//! - An sdist is `{name}-{version}.tar.gz` (PEP 625,
//!   https://packaging.python.org/en/latest/specifications/source-distribution-format/#source-distribution-file-name).
//!   The archive formats an index took before PEP 625 (`.zip`, `.tar.bz2`, …) parse too, so
//!   that a listing is read whole, but they are not ours to produce: `Kind::of` names only
//!   `.whl` and `.tar.gz`. A legacy name may hold `-` in its name part; its version is what
//!   follows the last `-`, as pip reads one.
//!
//! Nothing here checks the parts against PEP 440 or the project: `dist::check` and
//! `dist::release_filename` do, with the messages that say how to fix a name.

/// A wheel or sdist file name, split; every part borrows from the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistFilename<'a> {
    Wheel(WheelFilename<'a>),
    Sdist(SdistFilename<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelFilename<'a> {
    pub distribution: &'a str,
    pub version: &'a str,
    pub build: Option<&'a str>,
    /// The tags as written, each possibly a compressed set (`py2.py3`).
    pub python: &'a str,
    pub abi: &'a str,
    pub platform: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdistFilename<'a> {
    pub distribution: &'a str,
    pub version: &'a str,
    pub format: SdistFormat,
}

/// The archive formats of sdists an index may list: `.tar.gz` (the only one since PEP 625)
/// and the older ones PyPI once took (warehouse's `_dist_file_extensions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdistFormat {
    TarGz,
    Zip,
    TarBz2,
    TarXz,
    TarZ,
    Tgz,
    Tar,
}

impl SdistFormat {
    const ALL: [(SdistFormat, &'static str); 7] = [
        (SdistFormat::TarGz, ".tar.gz"),
        (SdistFormat::TarBz2, ".tar.bz2"),
        (SdistFormat::TarXz, ".tar.xz"),
        (SdistFormat::TarZ, ".tar.Z"),
        (SdistFormat::Zip, ".zip"),
        (SdistFormat::Tgz, ".tgz"),
        (SdistFormat::Tar, ".tar"),
    ];

    pub fn extension(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map(|(_, ext)| *ext)
            .unwrap_or_default()
    }

    /// The format a file name's extension says, and the name without it.
    pub fn split(filename: &str) -> Option<(&str, SdistFormat)> {
        Self::ALL
            .iter()
            .find_map(|(f, ext)| filename.strip_suffix(ext).map(|stem| (stem, *f)))
    }
}

impl<'a> DistFilename<'a> {
    /// Splits a wheel or sdist file name; `None` when it is neither or breaks its rule's shape
    /// (a part missing or empty, a build tag that does not start with a digit).
    pub fn parse(filename: &'a str) -> Option<DistFilename<'a>> {
        if let Some(stem) = filename.strip_suffix(".whl") {
            return WheelFilename::parse_stem(stem).map(DistFilename::Wheel);
        }
        let (stem, format) = SdistFormat::split(filename)?;
        let (distribution, version) = stem.rsplit_once('-')?;
        if distribution.is_empty() || version.is_empty() {
            return None;
        }
        Some(DistFilename::Sdist(SdistFilename {
            distribution,
            version,
            format,
        }))
    }

    /// The distribution part as written (normalize it to compare: `dist::normalize_name`).
    pub fn distribution(&self) -> &'a str {
        match self {
            DistFilename::Wheel(w) => w.distribution,
            DistFilename::Sdist(s) => s.distribution,
        }
    }

    /// The version part as written.
    pub fn version(&self) -> &'a str {
        match self {
            DistFilename::Wheel(w) => w.version,
            DistFilename::Sdist(s) => s.version,
        }
    }

    pub fn wheel(&self) -> Option<&WheelFilename<'a>> {
        match self {
            DistFilename::Wheel(w) => Some(w),
            DistFilename::Sdist(_) => None,
        }
    }

    pub fn is_sdist(&self) -> bool {
        matches!(self, DistFilename::Sdist(_))
    }
}

impl<'a> WheelFilename<'a> {
    pub fn parse(filename: &'a str) -> Option<WheelFilename<'a>> {
        Self::parse_stem(filename.strip_suffix(".whl")?)
    }

    fn parse_stem(stem: &'a str) -> Option<WheelFilename<'a>> {
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        let (distribution, version, build, tags) = match parts.as_slice() {
            [d, v, tags @ ..] if tags.len() == 3 => (*d, *v, None, tags),
            [d, v, b, tags @ ..] if tags.len() == 3 => (*d, *v, Some(*b), tags),
            _ => return None,
        };
        if build.is_some_and(|b| !b.starts_with(|c: char| c.is_ascii_digit())) {
            return None;
        }
        Some(WheelFilename {
            distribution,
            version,
            build,
            python: tags[0],
            abi: tags[1],
            platform: tags[2],
        })
    }

    /// The platform tags of the compressed set (`manylinux_2_17_x86_64.manylinux2014_x86_64`).
    pub fn platform_tags(&self) -> impl Iterator<Item = &'a str> {
        self.platform.split('.')
    }

    /// Every `python-abi-platform` triple the compressed tag sets stand for, in order.
    pub fn tag_triples(&self) -> Vec<String> {
        let mut triples = Vec::new();
        for python in self.python.split('.') {
            for abi in self.abi.split('.') {
                for platform in self.platform.split('.') {
                    triples.push(format!("{python}-{abi}-{platform}"));
                }
            }
        }
        triples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheel(name: &str) -> WheelFilename<'_> {
        WheelFilename::parse(name).unwrap_or_else(|| panic!("{name} should parse"))
    }

    #[test]
    fn wheels_from_the_spec() {
        // The specification's own example.
        let w = wheel("distribution-1.0-1-py27-none-any.whl");
        assert_eq!(
            (w.distribution, w.version, w.build),
            ("distribution", "1.0", Some("1"))
        );
        assert_eq!((w.python, w.abi, w.platform), ("py27", "none", "any"));
        let w = wheel("pkg_a-1.4.3-py3-none-any.whl");
        assert_eq!(
            (w.distribution, w.version, w.build),
            ("pkg_a", "1.4.3", None)
        );
        let w = wheel("Pkg.A-1.4.3-1b-cp311-cp311-manylinux_2_17_x86_64.whl");
        assert_eq!(w.build, Some("1b"));
        assert_eq!(w.platform, "manylinux_2_17_x86_64");
        let w = wheel("pkg-1.0+local.1-py3-none-any.whl");
        assert_eq!(w.version, "1.0+local.1");
    }

    #[test]
    fn compressed_tag_sets_expand() {
        let w = wheel("pip-18.0-py2.py3-none-any.whl");
        assert_eq!(w.tag_triples(), ["py2-none-any", "py3-none-any"]);
        let w = wheel("numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        assert_eq!(
            w.platform_tags().collect::<Vec<_>>(),
            ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
        );
        assert_eq!(w.tag_triples().len(), 2);
        let w = wheel("p-1-py2.py3-cp3.abi3-a.b.whl");
        assert_eq!(w.tag_triples().len(), 8);
    }

    #[test]
    fn wheels_that_break_the_rule() {
        for bad in [
            "pkg-1.0-py3-none.whl",               // a tag missing
            "pkg-1.0-py3-any.whl",                // a tag missing
            "pkg-1.0-x-y-py3-none-any.whl",       // too many parts
            "pkg-1.0-b1-py3-none-any.whl",        // a build tag not starting with a digit
            "pkg--py3-none-any.whl",              // an empty version
            "-1.0-py3-none-any.whl",              // an empty name
            "pkg-1.0-py3-none-any.tar.gz.whl.gz", // not a wheel at all
            "pkg-1.0-py3-none-any",
        ] {
            assert_eq!(WheelFilename::parse(bad), None, "{bad}");
            assert!(
                DistFilename::parse(bad)
                    .and_then(|d| d.wheel().copied())
                    .is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn sdists_and_their_legacy_formats() {
        let parsed = |name| match DistFilename::parse(name) {
            Some(DistFilename::Sdist(s)) => Some((s.distribution, s.version, s.format)),
            _ => None,
        };
        assert_eq!(
            parsed("demo_pkg-0.2.0rc1.tar.gz"),
            Some(("demo_pkg", "0.2.0rc1", SdistFormat::TarGz))
        );
        // Before PEP 625 a name could hold `-`; the version follows the last one.
        assert_eq!(
            parsed("my-pkg-1.0.zip"),
            Some(("my-pkg", "1.0", SdistFormat::Zip))
        );
        for (name, format) in [
            ("pkg-1.0.tar.bz2", SdistFormat::TarBz2),
            ("pkg-1.0.tar.xz", SdistFormat::TarXz),
            ("pkg-1.0.tar.Z", SdistFormat::TarZ),
            ("pkg-1.0.tgz", SdistFormat::Tgz),
            ("pkg-1.0.tar", SdistFormat::Tar),
        ] {
            assert_eq!(parsed(name), Some(("pkg", "1.0", format)), "{name}");
            assert!(name.ends_with(format.extension()));
        }
        for bad in [
            "pkg.tar.gz",
            "pkg-.tar.gz",
            "-1.0.tar.gz",
            "pkg-1.0.egg",
            "pkg-1.0.exe",
            "pkg-1.0.rpm",
            "pkg-1.0",
        ] {
            assert_eq!(DistFilename::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn parts_of_either_kind() {
        let w = DistFilename::parse("a_b-2.0-py3-none-any.whl").unwrap();
        assert_eq!(
            (w.distribution(), w.version(), w.is_sdist()),
            ("a_b", "2.0", false)
        );
        let s = DistFilename::parse("a_b-2.0.tar.gz").unwrap();
        assert_eq!(
            (s.distribution(), s.version(), s.is_sdist()),
            ("a_b", "2.0", true)
        );
        assert!(s.wheel().is_none());
    }
}
