//! What a wheel or an sdist holds, checked as an installer would before anything is uploaded:
//! an index keeps a file name for good once it has taken it, so a file an installer refuses
//! must be refused here, before the first upload.
//!
//! - sdist members (a gzipped tar): no absolute path, no `..`, no symbolic or hard link, no
//!   device or FIFO, every member under the one top-level folder `{name}-{version}/` (PEP 625).
//!   This is stricter than Python's `tarfile` `data` filter, which pip and build unpack with
//!   (https://docs.python.org/3/library/tarfile.html#tarfile.data_filter): that filter lets a
//!   link through when it stays inside the folder; here no link is, because an index keeps a
//!   file for good and whether a link stays inside depends on the links before it;
//! - wheel members (a zip): no absolute path, no `..`, no backslash or drive letter (zip-slip),
//!   no symbolic link entry; one `{distribution}-{version}.dist-info/` named as the file is,
//!   holding `METADATA`, `WHEEL` and `RECORD`; every file listed in `RECORD` with a hash
//!   (sha256 or stronger) and size that match its bytes, and `RECORD` naming no other file
//!   (https://packaging.python.org/en/latest/specifications/binary-distribution-format/ and
//!   https://packaging.python.org/en/latest/specifications/recording-installed-packages/);
//! - the project name: PEP 508's rule, ASCII only
//!   (https://packaging.python.org/en/latest/specifications/name-normalization/), a
//!   non-ASCII letter named by its code point and the ASCII letter it looks like.
//!
//! Reading is streamed: tar members are walked in order and zip members hashed as they are
//! decompressed, so memory stays flat whatever the size of the file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::resources::dist::{self, Kind, MEMBER_LIMIT, METADATA_LIMIT};
use crate::resources::filename::{SdistFormat, WheelFilename};

/// At most this many problems are listed per file; the rest are counted.
const SHOWN: usize = 12;

/// Every problem with what `path` (called `filename`) holds, each naming the file, the member
/// and the rule it breaks; empty when an installer would take it.
pub fn problems(path: &Path, filename: &str) -> Vec<String> {
    let found = match Kind::of(filename) {
        Some(Kind::Sdist) => sdist_problems(path, filename),
        Some(Kind::Wheel) => wheel_problems(path, filename),
        None => return Vec::new(),
    };
    let mut found = match found {
        Ok(found) => found,
        Err(e) => vec![format!("cannot read its members: {e:#}")],
    };
    let more = found.len().saturating_sub(SHOWN);
    found.truncate(SHOWN);
    if more > 0 {
        found.push(format!("and {more} more problems"));
    }
    found
        .into_iter()
        .map(|p| format!("`{filename}`: {p}"))
        .collect()
}

/// Why a member name would write outside the folder it is unpacked into, if it would.
pub fn path_rule(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("an empty member name");
    }
    if name.contains('\0') {
        return Some("a NUL byte in the name");
    }
    if name.starts_with('/') {
        return Some("an absolute path, which an installer must refuse");
    }
    if name.contains('\\') {
        return Some("a backslash, a path separator on Windows (zip-slip)");
    }
    let first = name.split('/').next().unwrap_or_default();
    if first.len() == 2 && first.ends_with(':') {
        return Some("a drive letter, an absolute path on Windows (zip-slip)");
    }
    if name.split('/').any(|part| part == "..") {
        return Some("a `..` that climbs out of the folder it is unpacked into (zip-slip)");
    }
    None
}

/// Why `name` is not a project name by PEP 508's rule
/// (`^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`, ASCII, case-insensitive), if it is not.
pub fn name_problem(name: &str) -> Option<String> {
    let shown = name.escape_debug();
    if let Some(c) = name.chars().find(|c| !c.is_ascii()) {
        let looks = confusable(c)
            .map(|a| format!(", which looks like the ASCII `{a}`"))
            .unwrap_or_default();
        return Some(format!(
            "the project name `{shown}` holds `{c}` (U+{:04X}){looks}: a project name is ASCII \
             letters, digits and `._-` (PEP 508); write it with ASCII letters only",
            c as u32
        ));
    }
    let inner = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !(name.chars().all(inner) && ends(name.chars().next()) && ends(name.chars().last())) {
        return Some(format!(
            "the project name `{shown}` breaks PEP 508's rule: ASCII letters, digits and `._-`, \
             starting and ending with a letter or digit"
        ));
    }
    None
}

/// The ASCII letter a Cyrillic or Greek letter is drawn like, for the letters that are
/// (Unicode's confusables, https://www.unicode.org/Public/security/latest/confusables.txt).
fn confusable(c: char) -> Option<char> {
    const PAIRS: &[(char, char)] = &[
        ('а', 'a'),
        ('е', 'e'),
        ('о', 'o'),
        ('р', 'p'),
        ('с', 'c'),
        ('у', 'y'),
        ('х', 'x'),
        ('і', 'i'),
        ('ј', 'j'),
        ('ѕ', 's'),
        ('ԁ', 'd'),
        ('ԛ', 'q'),
        ('ԝ', 'w'),
        ('А', 'A'),
        ('В', 'B'),
        ('Е', 'E'),
        ('К', 'K'),
        ('М', 'M'),
        ('Н', 'H'),
        ('О', 'O'),
        ('Р', 'P'),
        ('С', 'C'),
        ('Т', 'T'),
        ('Х', 'X'),
        ('І', 'I'),
        ('Ј', 'J'),
        ('Ѕ', 'S'),
        ('ο', 'o'),
        ('α', 'a'),
        ('ν', 'v'),
        ('ι', 'i'),
        ('Α', 'A'),
        ('Β', 'B'),
        ('Ε', 'E'),
        ('Ζ', 'Z'),
        ('Η', 'H'),
        ('Ι', 'I'),
        ('Κ', 'K'),
        ('Μ', 'M'),
        ('Ν', 'N'),
        ('Ο', 'O'),
        ('Ρ', 'P'),
        ('Τ', 'T'),
        ('Υ', 'Y'),
        ('Χ', 'X'),
    ];
    PAIRS.iter().find(|(from, _)| *from == c).map(|(_, to)| *to)
}

/// The member problems of an sdist, in archive order.
fn sdist_problems(path: &Path, filename: &str) -> Result<Vec<String>> {
    let top = SdistFormat::split(filename).map_or(filename, |(stem, _)| stem);
    let gz = flate2::read::GzDecoder::new(BufReader::new(File::open(path)?));
    let mut archive = tar::Archive::new(gz);
    let mut problems = Vec::new();
    let entries = archive.entries().context("not a gzipped tar archive")?;
    for (count, entry) in entries.enumerate() {
        if count >= MEMBER_LIMIT {
            bail!("the archive has more than {MEMBER_LIMIT} members");
        }
        let entry = entry.context("a damaged tar member")?;
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            // A pax global header (`git archive` writes one) is metadata, not a member.
            continue;
        }
        let Ok(name) = String::from_utf8(entry.path_bytes().into_owned()) else {
            problems.push(format!(
                "member `{}`: a name that is not UTF-8",
                String::from_utf8_lossy(&entry.path_bytes()).escape_debug()
            ));
            continue;
        };
        let target = entry
            .link_name_bytes()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default();
        let member = format!("member `{}`", name.escape_debug());
        if let Some(rule) = path_rule(&name) {
            problems.push(format!("{member}: {rule}"));
        } else if let Some(rule) = sdist_kind_rule(kind, &target) {
            problems.push(format!("{member}: {rule}"));
        } else if !under_top(&name, top) {
            problems.push(format!(
                "{member}: outside the one top-level folder `{top}/` an sdist holds (PEP 625)"
            ));
        }
    }
    Ok(problems)
}

/// Why an sdist member of this type is refused: only files and folders are unpacked.
fn sdist_kind_rule(kind: tar::EntryType, target: &str) -> Option<String> {
    use tar::EntryType::*;
    let target = target.escape_debug();
    match kind {
        Regular | Continuous | Directory => None,
        Symlink => Some(format!(
            "a symbolic link (to `{target}`), which an installer must not unpack"
        )),
        Link => Some(format!(
            "a hard link (to `{target}`), which an installer must not unpack"
        )),
        Char | Block => Some("a device, which an installer must not unpack".into()),
        Fifo => Some("a FIFO, which an installer must not unpack".into()),
        other => Some(format!(
            "a tar entry of type `{}`, neither a file nor a folder",
            other.as_byte() as char
        )),
    }
}

/// Whether `name` is the sdist's top folder `top` or inside it (`./` allowed in front; the
/// folder's name compared as PEP 503 names and versions are).
fn under_top(name: &str, top: &str) -> bool {
    let name = name.trim_start_matches("./");
    let first = name.split('/').next().unwrap_or_default();
    !first.is_empty() && dist::normalize_name(first) == dist::normalize_name(top)
}

/// One row of a wheel's `RECORD`: the hash (`sha256=…`, may be empty) and the size.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    hash: String,
    size: Option<u64>,
}

/// The rows of a `RECORD` (CSV: path, hash, size; a path with a comma or a quote is quoted).
fn parse_record(text: &str) -> std::result::Result<BTreeMap<String, Row>, String> {
    let mut rows = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let mut fields = line.rsplitn(3, ',');
        let (Some(size), Some(hash), Some(path)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!(
                "line {} of `RECORD` is not `path,hash,size`",
                number + 1
            ));
        };
        let path = match path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\"\"", "\""),
            None => path.to_string(),
        };
        let size = match size.trim() {
            "" => None,
            s => Some(
                s.parse::<u64>()
                    .map_err(|_| format!("line {} of `RECORD` gives the size `{s}`", number + 1))?,
            ),
        };
        rows.insert(
            path,
            Row {
                hash: hash.trim().to_string(),
                size,
            },
        );
    }
    Ok(rows)
}

/// What the wheel's central directory says of one member.
struct Member {
    index: usize,
    name: String,
    size: u64,
}

/// The member problems of a wheel.
fn wheel_problems(path: &Path, filename: &str) -> Result<Vec<String>> {
    let mut archive = zip::ZipArchive::new(BufReader::new(File::open(path)?))
        .context("not a valid zip archive")?;
    if archive.len() > MEMBER_LIMIT {
        bail!("the archive has more than {MEMBER_LIMIT} members");
    }
    let mut problems = Vec::new();
    let files = wheel_members(&mut archive, &mut problems)?;
    let Some(dist_info) = dist_info_dir(filename, &files, &mut problems) else {
        return Ok(problems);
    };
    let record_name = format!("{dist_info}/RECORD");
    for required in ["METADATA", "WHEEL"] {
        if !files
            .iter()
            .any(|m| m.name == format!("{dist_info}/{required}"))
        {
            problems.push(format!(
                "no `{dist_info}/{required}`, which every wheel holds"
            ));
        }
    }
    let Some(record) = files.iter().find(|m| m.name == record_name) else {
        problems.push(format!(
            "no `{record_name}`: an installer must refuse a wheel without one"
        ));
        return Ok(problems);
    };
    let entry = archive.by_index(record.index)?;
    let declared = entry.size();
    let text = read_record(entry, declared, &record_name)?;
    let rows = match parse_record(&text) {
        Ok(rows) => rows,
        Err(why) => {
            problems.push(format!("member `{record_name}`: {why}"));
            return Ok(problems);
        }
    };
    check_rows(&rows, &files, &record_name, &mut problems);
    for member in &files {
        if let Some(problem) = record_problem(&mut archive, member, &rows, &dist_info)? {
            problems.push(format!(
                "member `{}`: {problem}",
                member.name.escape_debug()
            ));
        }
    }
    Ok(problems)
}

/// The wheel's files (not folders), with every member whose name or type an installer
/// refuses said in `problems`.
fn wheel_members<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    problems: &mut Vec<String>,
) -> Result<Vec<Member>> {
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index)?;
        let Ok(name) = String::from_utf8(entry.name_raw().to_vec()) else {
            problems.push(format!(
                "member `{}`: a name that is not UTF-8",
                String::from_utf8_lossy(entry.name_raw()).escape_debug()
            ));
            continue;
        };
        let member = format!("member `{}`", name.escape_debug());
        if let Some(rule) = path_rule(&name) {
            problems.push(format!("{member}: {rule}"));
        } else if entry.is_symlink() {
            problems.push(format!(
                "{member}: a symbolic link entry, which an installer must not unpack"
            ));
        } else if !entry.is_dir() {
            files.push(Member {
                index,
                name,
                size: entry.size(),
            });
        }
    }
    Ok(files)
}

/// The wheel's one `.dist-info` folder when it is named as the file is
/// (`{distribution}-{version}.dist-info`); every other top-level `.dist-info` or `.data` folder,
/// and a misnamed one, said in `problems`.
fn dist_info_dir(filename: &str, files: &[Member], problems: &mut Vec<String>) -> Option<String> {
    let (dist, version) =
        WheelFilename::parse(filename).map_or(("", ""), |w| (w.distribution, w.version));
    let expected = format!("{dist}-{version}");
    let same = |folder: &str| {
        let (name, v) = folder.split_once('-').unwrap_or((folder, ""));
        dist::normalize_name(name) == dist::normalize_name(dist)
            && v.parse::<pep440_rs::Version>().ok() == version.parse().ok()
    };
    let mut found: Vec<String> = Vec::new();
    for member in files {
        let Some((top, _)) = member.name.split_once('/') else {
            continue;
        };
        for suffix in [".dist-info", ".data"] {
            let Some(folder) = top.strip_suffix(suffix) else {
                continue;
            };
            if !same(folder) {
                let problem = format!(
                    "member `{}`: the folder `{top}` names another project or version than the \
                     file name does: a wheel's is `{expected}{suffix}` (binary distribution format)",
                    member.name.escape_debug()
                );
                if !problems
                    .iter()
                    .any(|p| p.contains(&format!("folder `{top}`")))
                {
                    problems.push(problem);
                }
            } else if suffix == ".dist-info" && !found.iter().any(|f| f == top) {
                found.push(top.to_string());
            }
        }
    }
    match found.as_slice() {
        [one] => Some(one.clone()),
        [] => {
            problems.push(format!(
                "no `{expected}.dist-info` folder, which every wheel holds"
            ));
            None
        }
        many => {
            problems.push(format!(
                "more than one `.dist-info` folder: {}",
                many.join(", ")
            ));
            None
        }
    }
}

fn read_record(entry: impl Read, declared: u64, name: &str) -> Result<String> {
    if declared > METADATA_LIMIT {
        bail!(
            "`{name}` is larger than {} MiB",
            METADATA_LIMIT / (1024 * 1024)
        );
    }
    let mut bytes = Vec::new();
    entry.take(METADATA_LIMIT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > METADATA_LIMIT {
        bail!(
            "`{name}` is larger than {} MiB",
            METADATA_LIMIT / (1024 * 1024)
        );
    }
    String::from_utf8(bytes).with_context(|| format!("`{name}` is not UTF-8"))
}

/// `RECORD` names only the wheel's own files, each by a path inside it: an uninstaller
/// removes what `RECORD` lists.
fn check_rows(
    rows: &BTreeMap<String, Row>,
    files: &[Member],
    record_name: &str,
    problems: &mut Vec<String>,
) {
    for path in rows.keys() {
        let shown = path.escape_debug();
        if let Some(rule) = path_rule(path) {
            problems.push(format!("member `{record_name}` lists `{shown}`: {rule}"));
        } else if !files.iter().any(|m| &m.name == path) {
            problems.push(format!(
                "member `{record_name}` lists `{shown}`, which the wheel does not hold"
            ));
        }
    }
}

/// Why `member` does not match its `RECORD` row, if it does not: not listed, no hash, a
/// weak hash, other bytes or another size. `RECORD` itself and its signatures carry no hash.
fn record_problem<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    member: &Member,
    rows: &BTreeMap<String, Row>,
    dist_info: &str,
) -> Result<Option<String>> {
    let unhashed = ["RECORD", "RECORD.jws", "RECORD.p7s"].map(|f| format!("{dist_info}/{f}"));
    if unhashed.contains(&member.name) {
        return Ok(None);
    }
    let Some(row) = rows.get(&member.name) else {
        return Ok(Some(
            "not listed in `RECORD`: an installer must refuse a file that `RECORD` does not list \
             with its hash (binary distribution format)"
                .into(),
        ));
    };
    let Some((algorithm, recorded)) = row.hash.split_once('=') else {
        return Ok(Some("listed in `RECORD` without a hash".into()));
    };
    let limit = row.size.unwrap_or(member.size).max(member.size);
    let entry = archive.by_index(member.index)?;
    let digest = match algorithm {
        "sha256" => stream::<Sha256>(entry, limit),
        "sha384" => stream::<Sha384>(entry, limit),
        "sha512" => stream::<Sha512>(entry, limit),
        other => {
            return Ok(Some(format!(
                "hashed with `{other}` in `RECORD`: the binary distribution format asks for \
                 sha256 or stronger"
            )))
        }
    };
    let (size, actual) = match digest {
        Ok(found) => found,
        Err(e) => return Ok(Some(format!("cannot be read: {e:#}"))),
    };
    if actual != recorded {
        return Ok(Some(format!(
            "its {algorithm} in `RECORD` is `{recorded}`, but its bytes hash to `{actual}`: an \
             installer must refuse it"
        )));
    }
    if row.size.is_some_and(|s| s != size) {
        return Ok(Some(format!(
            "`RECORD` gives {} bytes, but it holds {size}",
            row.size.unwrap_or_default()
        )));
    }
    Ok(None)
}

/// The size and the urlsafe, unpadded base64 digest of what `reader` yields, read in chunks
/// and at most `limit + 1` bytes (a member larger than it says stops there).
fn stream<D: Digest>(reader: impl Read, limit: u64) -> Result<(u64, String)> {
    use base64::Engine;
    let mut reader = reader.take(limit.saturating_add(1));
    let mut digest = D::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        digest.update(&buffer[..n]);
        size += n as u64;
    }
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.finalize());
    Ok((size, encoded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch() -> std::path::PathBuf {
        tempfile::Builder::new()
            .prefix("twostage-contents-")
            .tempdir()
            .unwrap()
            .keep()
    }

    /// An sdist `pkg-1.0.tar.gz` of `(name, type, link target)` members.
    fn sdist(members: &[(&str, tar::EntryType, &str)]) -> std::path::PathBuf {
        let path = scratch().join("pkg-1.0.tar.gz");
        let gz = flate2::write::GzEncoder::new(File::create(&path).unwrap(), Default::default());
        let mut tar = tar::Builder::new(gz);
        for (name, kind, target) in members {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(0);
            header.set_mode(0o644);
            // Written raw: the tar crate refuses `..` and absolute names on its safe paths.
            let raw = &mut header.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            if !target.is_empty() {
                header.set_link_name(target).unwrap();
            }
            header.set_cksum();
            tar.append(&header, std::io::empty()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    fn record_line(name: &str, data: &[u8]) -> String {
        use base64::Engine;
        let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data));
        format!("{name},sha256={hash},{}\n", data.len())
    }

    /// A wheel `pkg-1.0-py3-none-any.whl` of `members`, with a RECORD made for them and then
    /// changed by `edit`.
    fn wheel(members: &[(&str, &[u8])], edit: impl Fn(String) -> String) -> std::path::PathBuf {
        let path = scratch().join("pkg-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        let mut record = String::new();
        for (name, data) in members {
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
            record.push_str(&record_line(name, data));
        }
        record.push_str("pkg-1.0.dist-info/RECORD,,\n");
        zip.start_file("pkg-1.0.dist-info/RECORD", options).unwrap();
        zip.write_all(edit(record).as_bytes()).unwrap();
        zip.finish().unwrap();
        path
    }

    const GOOD: &[(&str, &[u8])] = &[
        ("pkg/__init__.py", b"x = 1\n"),
        ("pkg-1.0.dist-info/METADATA", b"Name: pkg\nVersion: 1.0\n"),
        ("pkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
    ];

    fn one(path: &Path) -> String {
        let name = path.file_name().unwrap().to_str().unwrap();
        let found = problems(path, name);
        assert_eq!(found.len(), 1, "{found:#?}");
        found[0].clone()
    }

    #[test]
    fn member_paths_that_escape_are_named() {
        for (name, rule) in [
            ("../x", "`..`"),
            ("a/../../x", "`..`"),
            ("/etc/passwd", "absolute"),
            ("a\\..\\x", "backslash"),
            ("C:/x", "drive letter"),
            ("", "empty"),
        ] {
            assert!(path_rule(name).is_some_and(|r| r.contains(rule)), "{name}");
        }
        for name in ["pkg/a..b.py", "pkg-1.0/x", "./pkg-1.0/x", "pkg/.hidden"] {
            assert_eq!(path_rule(name), None, "{name}");
        }
    }

    #[test]
    fn sdist_members_are_checked_as_the_data_filter_does() {
        use tar::EntryType::*;
        let good = sdist(&[
            ("pkg-1.0/", Directory, ""),
            ("pkg-1.0/PKG-INFO", Regular, ""),
        ]);
        assert!(problems(&good, "pkg-1.0.tar.gz").is_empty());
        for (member, kind, target, rule) in [
            ("pkg-1.0/../evil", Regular, "", "`..`"),
            ("/tmp/evil", Regular, "", "absolute path"),
            (
                "pkg-1.0/link",
                Symlink,
                "/etc/passwd",
                "a symbolic link (to `/etc/passwd`)",
            ),
            ("pkg-1.0/hard", Link, "pkg-1.0/PKG-INFO", "a hard link"),
            ("pkg-1.0/dev", Char, "", "a device"),
            ("pkg-1.0/fifo", Fifo, "", "a FIFO"),
            ("other-2.0/x", Regular, "", "top-level folder `pkg-1.0/`"),
        ] {
            let path = sdist(&[("pkg-1.0/PKG-INFO", Regular, ""), (member, kind, target)]);
            let problem = one(&path);
            assert!(
                problem.contains(&format!("`pkg-1.0.tar.gz`: member `{member}`"))
                    && problem.contains(rule),
                "{problem}"
            );
        }
    }

    #[test]
    fn a_wheel_is_checked_against_its_record() {
        assert!(problems(&wheel(GOOD, |r| r), "pkg-1.0-py3-none-any.whl").is_empty());
        let wrong = wheel(GOOD, |r| {
            r.replace(
                &record_line("pkg/__init__.py", b"x = 1\n"),
                &record_line("pkg/__init__.py", b"x = 2\n"),
            )
        });
        let problem = one(&wrong);
        assert!(
            problem.contains("member `pkg/__init__.py`: its sha256 in `RECORD`"),
            "{problem}"
        );
        let missing = wheel(GOOD, |r| {
            r.replace(&record_line("pkg/__init__.py", b"x = 1\n"), "")
        });
        assert!(one(&missing).contains("`pkg/__init__.py`: not listed in `RECORD`"));
        let md5 = wheel(GOOD, |r| {
            r.replace("pkg/__init__.py,sha256=", "pkg/__init__.py,md5=")
        });
        assert!(one(&md5).contains("hashed with `md5`"));
        let size = wheel(GOOD, |r| r.replace(",6\n", ",7\n"));
        assert!(one(&size).contains("`RECORD` gives 7 bytes, but it holds 6"));
        let extra = wheel(GOOD, |r| format!("{r}../../etc/passwd,,\n"));
        assert!(one(&extra).contains("lists `../../etc/passwd`: a `..`"));
    }

    #[test]
    fn wheel_members_and_folders_are_named() {
        let mut slip = GOOD.to_vec();
        slip.push(("../../evil.py", b"boom"));
        let found = problems(&wheel(&slip, |r| r), "pkg-1.0-py3-none-any.whl");
        assert!(
            found
                .iter()
                .any(|p| p.contains("member `../../evil.py`: a `..`")),
            "{found:#?}"
        );
        let other = [
            ("pkg/__init__.py", b"" as &[u8]),
            ("other-1.0.dist-info/METADATA", b"Name: other\n"),
            ("other-1.0.dist-info/WHEEL", b""),
        ];
        let found = problems(
            &wheel(&other, |r| {
                r.replace("pkg-1.0.dist-info/RECORD", "other-1.0.dist-info/RECORD")
            }),
            "pkg-1.0-py3-none-any.whl",
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("the folder `other-1.0.dist-info` names another project")),
            "{found:#?}"
        );
        let path = scratch().join("pkg-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        zip.add_symlink(
            "pkg/link",
            "/etc/passwd",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.finish().unwrap();
        let found = problems(&path, "pkg-1.0-py3-none-any.whl");
        assert!(
            found
                .iter()
                .any(|p| p.contains("member `pkg/link`: a symbolic link entry")),
            "{found:#?}"
        );
    }

    #[test]
    fn project_names_follow_pep_508_in_ascii() {
        for good in ["Acme.Tally", "a", "a-b_c.d", "A1"] {
            assert_eq!(name_problem(good), None, "{good}");
        }
        let problem = name_problem("Acme.T\u{430}lly").unwrap();
        assert!(
            problem.contains("U+0430") && problem.contains("looks like the ASCII `a`"),
            "{problem}"
        );
        for bad in ["-a", "a-", "a b", "a/b", ""] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn record_rows_are_read_with_quotes_and_empty_fields() {
        let rows = parse_record("a.py,sha256=x,3\n\"b,c.py\",sha256=y,\nd/RECORD,,\n").unwrap();
        assert_eq!(
            rows["a.py"],
            Row {
                hash: "sha256=x".into(),
                size: Some(3)
            }
        );
        assert_eq!(rows["b,c.py"].size, None);
        assert_eq!(rows["d/RECORD"].hash, "");
        assert!(parse_record("a.py\n").is_err());
    }
}
