//! The rules PyPI's upload server (Warehouse) applies to a file, as pure functions over what
//! `dist` reads (a filename, its size, its core metadata) and what an index page lists, so a
//! file PyPI would refuse is refused before the tag is final and before any upload: a local
//! index (pypiserver, devpi) accepts what PyPI refuses. Each rule cites the Warehouse source it
//! follows: `warehouse/forklift/legacy.py` (upload view), `warehouse/forklift/metadata.py`
//! (PyPI's layer over `packaging.metadata`), `warehouse/constants.py` (size limits),
//! <https://github.com/pypi/warehouse>. What is not checked here is listed in
//! `docs/pypi-rules.md`. This module decides nothing about a release; `core::frozen` (when
//! freezing) and `core::upload` (before an upload) call it.

use crate::output::visible;
use crate::resources::dist::Metadata;
use crate::resources::filename::WheelFilename;

/// `MAX_FILESIZE` in `warehouse/constants.py`: 100 MiB per file unless PyPI raised the
/// project's own limit (`Project.upload_limit`), which an index page does not show.
pub const MAX_FILESIZE: u64 = 100 * 1024 * 1024;

/// `MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS` in `legacy.py`: a release older than this takes no new
/// files.
pub const MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS: u64 = 14;

/// `SUPPORTED_METADATA_VERSIONS` in `warehouse/forklift/metadata.py`.
const SUPPORTED_METADATA_VERSIONS: &[&str] =
    &["1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"];

/// `_allowed_platforms` in `legacy.py`: the platform tags taken as they are.
const ALLOWED_PLATFORMS: &[&str] = &[
    "any",
    "win32",
    "win_arm64",
    "win_amd64",
    "win_ia64",
    "manylinux1_x86_64",
    "manylinux1_i686",
    "manylinux2010_x86_64",
    "manylinux2010_i686",
    "manylinux2014_x86_64",
    "manylinux2014_i686",
    "manylinux2014_aarch64",
    "manylinux2014_armv7l",
    "manylinux2014_ppc64",
    "manylinux2014_ppc64le",
    "manylinux2014_s390x",
    "linux_armv6l",
    "linux_armv7l",
];
/// `_macosx_arches`, `_macosx_major_versions` (macOS 10 has its own rule).
const MACOSX_ARCHES: &[&str] = &[
    "ppc",
    "ppc64",
    "i386",
    "x86_64",
    "arm64",
    "intel",
    "fat",
    "fat3",
    "fat64",
    "universal",
    "universal2",
];
const MACOSX_MAJOR_VERSIONS: &[&str] = &["11", "12", "13", "14", "15", "26"];
/// `_jointlinux_arches`; `_manylinux_arches` adds `ppc64`, `_musllinux_arches` is the same.
const JOINTLINUX_ARCHES: &[&str] = &[
    "x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64",
];
const IOS_ARCHES: &[&str] = &["arm64", "x86_64"];
const ANDROID_ARCHES: &[&str] = &["armeabi_v7a", "arm64_v8a", "x86", "x86_64"];

/// The classifiers Warehouse accepts (`trove_classifiers.all_classifiers`) and the deprecated
/// ones it refuses with their replacements, embedded with the version they were taken from.
const CLASSIFIERS: &str = include_str!("warehouse/classifiers.txt");
const DEPRECATED_CLASSIFIERS: &str = include_str!("warehouse/deprecated-classifiers.txt");
/// The `trove-classifiers` release the embedded lists come from, shown when one is refused.
pub const CLASSIFIERS_VERSION: &str = "2026.9.21.13";

/// `_valid_platform_tag` in `legacy.py`, rule for rule. Python's `re.match` anchors at the
/// start only, so a trailing remainder after `iphoneos` is tolerated there as here.
pub fn valid_platform_tag(tag: &str) -> bool {
    if ALLOWED_PLATFORMS.contains(&tag) {
        return true;
    }
    if let Some([major, minor, arch]) = digits_digits_rest(tag, "macosx_") {
        if major == "10" && MACOSX_ARCHES.contains(&arch) {
            return true;
        }
        if MACOSX_MAJOR_VERSIONS.contains(&major) && minor == "0" && MACOSX_ARCHES.contains(&arch) {
            return true;
        }
    }
    if let Some([_, _, arch]) = digits_digits_rest(tag, "musllinux_") {
        return JOINTLINUX_ARCHES.contains(&arch);
    }
    if let Some([_, _, arch]) = digits_digits_rest(tag, "manylinux_") {
        return JOINTLINUX_ARCHES.contains(&arch) || arch == "ppc64";
    }
    if let Some([_, _, rest]) = digits_digits_rest(tag, "ios_") {
        let arch = ["_iphonesimulator", "_iphoneos"]
            .iter()
            .filter_map(|suffix| rest.rfind(suffix).map(|at| &rest[..at]))
            .max_by_key(|arch| arch.len());
        if arch.is_some_and(|arch| IOS_ARCHES.contains(&arch)) {
            return true;
        }
    }
    if let Some((level, arch)) = tag
        .strip_prefix("android_")
        .and_then(|rest| rest.split_once('_'))
    {
        if is_digits(level) && ANDROID_ARCHES.contains(&arch) {
            return true;
        }
    }
    digits_digits_rest(tag, "pyemscripten_").is_some_and(|[_, _, rest]| rest.starts_with("wasm32"))
}

/// `<prefix><digits>_<digits>_<rest>` split in three.
fn digits_digits_rest<'a>(tag: &'a str, prefix: &str) -> Option<[&'a str; 3]> {
    let mut parts = tag.strip_prefix(prefix)?.splitn(3, '_');
    let (major, minor, rest) = (parts.next()?, parts.next()?, parts.next()?);
    (is_digits(major) && is_digits(minor)).then_some([major, minor, rest])
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The wheel's platform tags PyPI refuses ("Binary wheel … has an unsupported platform tag",
/// `legacy.py`), each of a compressed tag set (PEP 425) on its own, with the fix.
pub fn platform_problems(filename: &str) -> Vec<String> {
    let Some(wheel) = WheelFilename::parse(filename) else {
        return Vec::new();
    };
    wheel
        .platform_tags()
        .filter(|tag| !valid_platform_tag(tag))
        .map(|tag| {
            let fix = if tag.starts_with("linux_") {
                "a `linux_*` wheel is only for the machine it was built on: repair it with \
                 `auditwheel repair` into a `manylinux_*` wheel, build it with cibuildwheel, or \
                 for maturin build with `--compatibility pypi` (or `manylinux2014`; through \
                 its PEP 517 backend, `MATURIN_PEP517_ARGS='--compatibility pypi'` in \
                 `build.command`, since that backend passes `--compatibility off`)"
            } else {
                "build it for a platform PyPI lists (docs/pypi-rules.md, \"Platform tags\")"
            };
            format!("`{filename}`: PyPI refuses the platform tag `{tag}`: {fix}")
        })
        .collect()
}

/// The file size limit (`MAX_FILESIZE`, checked in `legacy.py` "File too large").
pub fn size_problem(filename: &str, size: u64) -> Option<String> {
    (size > MAX_FILESIZE).then(|| {
        format!(
            "`{filename}` is {:.1} MiB: PyPI refuses files over {} MiB unless the project's \
             limit was raised (https://docs.pypi.org/project-management/storage-limits/); \
             ship less in it, or ask PyPI for a larger limit first",
            size as f64 / (1024.0 * 1024.0),
            MAX_FILESIZE / (1024 * 1024)
        )
    })
}

/// Every core-metadata rule of Warehouse's `_validate_metadata` and of `packaging.metadata`
/// that the fields show, for the file `filename`.
pub fn metadata_problems(filename: &str, metadata: &Metadata) -> Vec<String> {
    let mut problems = Vec::new();
    let version = metadata.get("Metadata-Version").unwrap_or_default();
    if !SUPPORTED_METADATA_VERSIONS.contains(&version) {
        problems.push(format!(
            "its `Metadata-Version` `{version}` is not one PyPI supports ({}): upgrade the \
             build backend",
            SUPPORTED_METADATA_VERSIONS.join(", ")
        ));
    }
    if let Some(v) = metadata.get("Version").filter(|v| v.contains('+')) {
        problems.push(format!(
            "its version `{v}` has a local part (`+…`), which PyPI refuses: release without it"
        ));
    }
    problems.extend(name_problem(metadata.get("Name").unwrap_or_default()));
    if let Some(summary) = metadata.get("Summary") {
        if summary.contains('\n') {
            problems.push("its `Summary` has more than one line: make it one line".into());
        } else if summary.chars().count() > 512 {
            problems.push("its `Summary` is over 512 characters: shorten it".into());
        }
    }
    if let Some(ctype) = metadata.get("Description-Content-Type") {
        problems.extend(content_type_problem(ctype));
    }
    problems.extend(classifier_problems(metadata));
    problems.extend(project_url_problems(metadata));
    problems
        .into_iter()
        .map(|p| format!("`{filename}`: {p}"))
        .collect()
}

/// `packaging.utils.canonicalize_name(validate=True)`'s rule, PEP 508's
/// `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$` (case-insensitive).
fn name_problem(name: &str) -> Option<String> {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let inner = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let valid = inner && edge(name.chars().next()) && edge(name.chars().last());
    (!valid && !name.is_empty()).then(|| {
        format!(
            "its `Name` `{}` is not a valid project name (ASCII letters, digits and `._-`, \
             starting and ending with a letter or digit): rename the project",
            name.escape_debug()
        )
    })
}

/// `packaging.metadata`'s `_process_description_content_type`: one of the three types PyPI
/// renders, `charset=UTF-8` if a charset is given, and for Markdown a `variant` of `GFM` or
/// `CommonMark`.
pub fn content_type_problem(value: &str) -> Option<String> {
    let mut parts = value.split(';').map(str::trim);
    let ctype = parts.next().unwrap_or_default().to_ascii_lowercase();
    let fix = "set `readme` in `pyproject.toml` to a `.md`, `.rst` or `.txt` file (or \
               `content-type` to `text/markdown`, `text/x-rst` or `text/plain`)";
    if !["text/plain", "text/x-rst", "text/markdown"].contains(&ctype.as_str()) {
        return Some(format!(
            "its `Description-Content-Type` `{value}` is not one PyPI renders: {fix}"
        ));
    }
    for param in parts.filter(|p| !p.is_empty()) {
        let (key, val) = param.split_once('=').unwrap_or((param, ""));
        let (key, val) = (
            key.trim().to_ascii_lowercase(),
            val.trim().trim_matches('"'),
        );
        let bad = match key.as_str() {
            "charset" => !val.eq_ignore_ascii_case("utf-8"),
            "variant" => ctype == "text/markdown" && !["GFM", "CommonMark"].contains(&val),
            _ => false,
        };
        if bad {
            return Some(format!(
                "its `Description-Content-Type` `{value}` has `{param}`, which PyPI refuses \
                 (only `charset=UTF-8`; for Markdown `variant=GFM` or `variant=CommonMark`)"
            ));
        }
    }
    None
}

/// The description Warehouse would render with docutils, with its content type as shown in a
/// refusal: a `Description-Content-Type` of `text/x-rst`, or none at all (Warehouse's default,
/// `warehouse/forklift/legacy.py`). Markdown and plain text always render
/// (`readme_renderer.markdown`, `.txt`), so they are not asked for.
pub fn readme_to_render(metadata: &Metadata) -> Option<(String, &str)> {
    let text = metadata
        .get("Description")
        .filter(|d| !d.trim().is_empty())?;
    let declared = metadata
        .get("Description-Content-Type")
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let media = declared
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match media.as_deref() {
        None => Some(("text/x-rst".into(), text)),
        Some("text/x-rst") => Some((declared.unwrap_or_default().to_string(), text)),
        Some(_) => None,
    }
}

/// The refusal for a README docutils did not render: the file, the rule, the first complaint
/// of the renderer's `report` (`<string>:4: (ERROR/3) Unknown directive type "x".`) with the
/// README's line it names, and the fix.
pub fn readme_problem(filename: &str, content_type: &str, text: &str, report: &str) -> String {
    let first = report
        .lines()
        .find(|l| l.starts_with("<string>:"))
        .or_else(|| report.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("no report");
    let (line, complaint) = match first
        .strip_prefix("<string>:")
        .and_then(|r| r.split_once(": "))
    {
        Some((n, rest)) if n.parse::<usize>().is_ok() => (n.parse::<usize>().ok(), rest),
        _ => (None, first),
    };
    let at = line
        .and_then(|n| text.lines().nth(n.saturating_sub(1)).map(|l| (n, l)))
        .map(|(n, l)| format!(" at line {n} (`{}`)", visible(l.trim_end())))
        .unwrap_or_default();
    format!(
        "`{filename}`: PyPI refuses its README (the description, `{}`): it does not render \
         with readme_renderer, as PyPI renders it{at}: {}: fix that line of the README \
         (`twine check dist/*` shows the same), or make the README Markdown",
        visible(content_type),
        visible(complaint.trim())
    )
}

/// The classifiers Warehouse refuses: unknown to `trove-classifiers` (this includes every
/// `Private :: …`, which exists to stop an upload), or deprecated.
fn classifier_problems(metadata: &Metadata) -> Vec<String> {
    let known = |c: &str| CLASSIFIERS.lines().any(|line| line == c);
    let mut problems = Vec::new();
    for classifier in metadata
        .fields
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Classifier"))
        .map(|(_, v)| v.as_str())
    {
        let deprecated = DEPRECATED_CLASSIFIERS
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(old, _)| *old == classifier);
        if let Some((_, by)) = deprecated {
            let instead = if by.is_empty() {
                "remove it".to_string()
            } else {
                format!("use `{by}` instead")
            };
            problems.push(format!(
                "PyPI refuses the deprecated classifier `{classifier}`: {instead}"
            ));
        } else if classifier.starts_with("Private ::") {
            problems.push(format!(
                "the classifier `{classifier}` is there to stop an upload to PyPI: remove it to \
                 release there"
            ));
        } else if !known(classifier) {
            problems.push(format!(
                "PyPI refuses the classifier `{classifier}`, which trove-classifiers \
                 {CLASSIFIERS_VERSION} does not list: correct it from \
                 https://pypi.org/classifiers/"
            ));
        }
    }
    problems
}

/// Warehouse's `Project-URL` rule: `label, url` with a label of 32 characters at most.
fn project_url_problems(metadata: &Metadata) -> Vec<String> {
    metadata
        .fields
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Project-URL"))
        .filter_map(|(_, value)| {
            let (label, url) = value.split_once(',').unwrap_or(("", ""));
            let (label, url) = (label.trim(), url.trim());
            if label.is_empty() || url.is_empty() {
                Some(format!(
                    "its `Project-URL` `{value}` needs a label and a URL (`Label, https://…`)"
                ))
            } else if label.chars().count() > 32 {
                Some(format!(
                    "its `Project-URL` label `{label}` is over 32 characters: shorten it"
                ))
            } else {
                None
            }
        })
        .collect()
}

/// "Only one sdist may be uploaded per release" (`legacy.py`): the sdists the index already
/// lists for `version` under another name than ours, when we would upload one.
pub fn second_sdist_problem(ours: &str, listed_sdists: &[String], index: &str) -> Option<String> {
    let others: Vec<&String> = listed_sdists.iter().filter(|f| *f != ours).collect();
    (!others.is_empty()).then(|| {
        format!(
            "`{ours}` would be a second sdist of its release on the {index} index, which has \
             {}: PyPI takes one sdist per release; release a new version",
            others
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// "Uploading new files to releases older than 14 days is not allowed" (`legacy.py`):
/// `oldest_upload` is the earliest upload time the index shows for the release's files, as
/// seconds since the epoch, `now` likewise.
pub fn release_age_problem(
    version: &str,
    oldest_upload: u64,
    now: u64,
    index: &str,
) -> Option<String> {
    let limit = MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS * 24 * 3600;
    (now.saturating_sub(oldest_upload) > limit).then(|| {
        format!(
            "the release {version} on the {index} index is {} days old: PyPI takes no new \
             files for a release older than {MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS} days; release a \
             new version",
            now.saturating_sub(oldest_upload) / (24 * 3600)
        )
    })
}

/// PEP 792's `project-status`: an `archived` (or `quarantined`) project takes no uploads.
pub fn project_status_problem(status: &str, project: &str, index: &str) -> Option<String> {
    matches!(status, "archived" | "quarantined").then(|| {
        format!(
            "the project `{project}` is {status} on the {index} index (PEP 792 \
             `project-status`), which takes no uploads for it: unarchive it in the project's \
             settings first"
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_restructuredtext_readme_is_rendered() {
        let meta = |fields: &[(&str, &str)]| Metadata {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let rst = meta(&[("Description", "Title\n=====\n")]);
        assert_eq!(
            readme_to_render(&rst),
            Some(("text/x-rst".into(), "Title\n=====\n"))
        );
        let declared = meta(&[
            ("Description-Content-Type", "text/x-rst; charset=UTF-8"),
            ("Description", "x"),
        ]);
        assert_eq!(
            readme_to_render(&declared).map(|(t, _)| t),
            Some("text/x-rst; charset=UTF-8".into())
        );
        for other in ["text/markdown", "text/plain", "Text/Markdown; variant=GFM"] {
            let m = meta(&[
                ("Description-Content-Type", other),
                ("Description", ".. x::"),
            ]);
            assert_eq!(readme_to_render(&m), None, "{other}");
        }
        assert_eq!(readme_to_render(&meta(&[("Description", "  \n")])), None);
        assert_eq!(readme_to_render(&meta(&[])), None);
    }

    #[test]
    fn a_readme_refusal_names_the_file_the_line_and_the_complaint() {
        let text = "Title\n=====\n\n.. frobnicate:: x\n";
        let report =
            "<string>:4: (ERROR/3) Unknown directive type \"frobnicate\".\n\n.. frobnicate:: x\n";
        let problem = readme_problem("p-1.0.tar.gz", "text/x-rst", text, report);
        assert!(
            problem.starts_with("`p-1.0.tar.gz`: PyPI refuses its README"),
            "{problem}"
        );
        assert!(
            problem.contains(
                "at line 4 (`.. frobnicate:: x`): (ERROR/3) Unknown directive type \"frobnicate\"."
            ),
            "{problem}"
        );
        // A line with a control character is shown escaped.
        let problem = readme_problem(
            "p.whl",
            "text/x-rst",
            "a\x1b[31m\n",
            "<string>:1: (ERROR/3) x\n",
        );
        assert!(!problem.contains('\x1b'), "{problem}");
        // A report without a line number is shown whole.
        let problem = readme_problem("p.whl", "text/x-rst", "a", "something odd\n");
        assert!(problem.contains(": something odd:"), "{problem}");
    }

    use super::*;

    fn metadata(text: &str) -> Metadata {
        Metadata::parse(text)
    }

    const BASE: &str = "Metadata-Version: 2.1\nName: ts-pkg\nVersion: 1.0.0\n";

    #[test]
    fn platform_tags_follow_warehouse() {
        for good in [
            "any",
            "win_amd64",
            "manylinux2014_x86_64",
            "manylinux_2_17_x86_64",
            "manylinux_2_28_ppc64",
            "musllinux_1_2_aarch64",
            "macosx_10_9_x86_64",
            "macosx_11_0_arm64",
            "macosx_14_0_universal2",
            "ios_13_0_arm64_iphoneos",
            "ios_13_0_x86_64_iphonesimulator",
            "android_21_arm64_v8a",
            "pyemscripten_2024_0_wasm32",
            "linux_armv7l",
        ] {
            assert!(valid_platform_tag(good), "{good}");
        }
        for bad in [
            "linux_x86_64",
            "linux_aarch64",
            "macosx_11_1_arm64",
            "macosx_9_0_x86_64",
            "musllinux_1_2_ppc64",
            "manylinux_2_17_sparc",
            "manylinux2014_riscv64",
            "ios_13_0_armv7_iphoneos",
            "android_21_mips",
            "cygwin_x86_64",
        ] {
            assert!(!valid_platform_tag(bad), "{bad}");
        }
    }

    #[test]
    fn a_linux_wheel_is_refused_with_the_fix() {
        let problems = platform_problems("ts_pkg-1.0.0-cp311-cp311-linux_x86_64.whl");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("`linux_x86_64`") && problems[0].contains("auditwheel"));
        let compressed = "ts_pkg-1.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        assert!(platform_problems(compressed).is_empty());
        assert!(platform_problems("ts_pkg-1.0.0.tar.gz").is_empty());
    }

    #[test]
    fn the_file_size_limit_is_100_mib() {
        assert!(size_problem("a.whl", MAX_FILESIZE).is_none());
        assert!(size_problem("a.whl", MAX_FILESIZE + 1).is_some());
    }

    #[test]
    fn metadata_versions_and_local_versions() {
        assert!(metadata_problems("f", &metadata(BASE)).is_empty());
        let old = metadata("Metadata-Version: 2.0\nName: ts-pkg\nVersion: 1.0.0\n");
        assert!(metadata_problems("f", &old)[0].contains("`2.0`"));
        let local = metadata("Metadata-Version: 2.4\nName: ts-pkg\nVersion: 1.0.0+dirty\n");
        assert!(metadata_problems("f", &local)[0].contains("local part"));
    }

    #[test]
    fn names_and_summaries() {
        let name = metadata("Metadata-Version: 2.1\nName: -bad\nVersion: 1.0.0\n");
        assert!(metadata_problems("f", &name)[0].contains("not a valid project name"));
        let long = format!("{BASE}Summary: {}\n", "x".repeat(513));
        assert!(metadata_problems("f", &metadata(&long))[0].contains("512"));
        let fine = format!("{BASE}Summary: {}\n", "x".repeat(512));
        assert!(metadata_problems("f", &metadata(&fine)).is_empty());
    }

    #[test]
    fn description_content_types() {
        for good in [
            "text/markdown",
            "text/markdown; charset=UTF-8; variant=GFM",
            "text/x-rst",
            "text/plain; charset=utf-8",
        ] {
            assert_eq!(content_type_problem(good), None, "{good}");
        }
        for bad in [
            "text/html",
            "text/markdown; variant=Marked",
            "text/plain; charset=latin-1",
        ] {
            assert!(content_type_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn classifiers_unknown_private_and_deprecated() {
        let good = format!("{BASE}Classifier: Programming Language :: Python :: 3\n");
        assert!(metadata_problems("f", &metadata(&good)).is_empty());
        let typo = format!("{BASE}Classifier: Programming Language :: Pyhton :: 3\n");
        assert!(metadata_problems("f", &metadata(&typo))[0].contains("does not list"));
        let private = format!("{BASE}Classifier: Private :: Do Not Upload\n");
        assert!(metadata_problems("f", &metadata(&private))[0].contains("stop an upload"));
        let old = format!("{BASE}Classifier: Framework :: Django CMS :: 4.2\n");
        assert!(metadata_problems("f", &metadata(&old))[0].contains("Django CMS :: 5.0"));
    }

    #[test]
    fn project_url_labels() {
        let long = format!("{BASE}Project-URL: {}, https://e.org\n", "l".repeat(33));
        assert!(metadata_problems("f", &metadata(&long))[0].contains("32"));
        let fine = format!("{BASE}Project-URL: Source, https://e.org\n");
        assert!(metadata_problems("f", &metadata(&fine)).is_empty());
    }

    #[test]
    fn one_sdist_per_release() {
        let ours = "ts_pkg-1.0.0.tar.gz";
        assert!(second_sdist_problem(ours, &[ours.to_string()], "staging").is_none());
        let other = ["ts-pkg-1.0.0.tar.gz".to_string()];
        assert!(second_sdist_problem(ours, &other, "staging").is_some());
    }

    #[test]
    fn releases_older_than_14_days_take_no_files() {
        let day = 24 * 3600;
        assert!(release_age_problem("1.0", 0, 14 * day, "staging").is_none());
        assert!(release_age_problem("1.0", 0, 14 * day + 1, "staging").is_some());
    }

    #[test]
    fn archived_projects_take_no_uploads() {
        assert!(project_status_problem("archived", "p", "staging").is_some());
        assert!(project_status_problem("active", "p", "staging").is_none());
        assert!(project_status_problem("deprecated", "p", "staging").is_none());
    }
}
