//! Everything from outside is untrusted: the remote's tags, the paths `release.toml` names,
//! and the members of a wheel or an sdist. Each refusal is checked for its exit code, a
//! message that names the problem, and nothing changed: the repository byte for byte
//! (`snapshot()`), both indexes' file lists, and the upload requests the servers logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common::*;

/// The files both indexes list for `project`, and the uploads they logged of it. A name
/// that is not ASCII is not asked for over HTTP (an index answers it with an error or a
/// redirect loop): what the servers logged and stored is read from their folders.
fn indexes_of(project: &str) -> String {
    let ix = indexes();
    if !project.is_ascii() {
        return format!(
            "requests: {}\npypiserver: {:?}",
            upload_requests(project),
            pypiserver_stored(project)
        );
    }
    format!(
        "staging: {:?}\nproduction: {:?}\n{}",
        served(&ix.pypi.index_url(), project),
        served(&ix.devpi_index.index_url, project),
        uploads_seen(project)
    )
}

fn production_serves(project: &str) -> Vec<Listed> {
    served(&indexes().devpi_index.index_url, project)
}

/// `twostage <args>` with both tokens and the hooks' binary.
fn run(s: &Scratch, args: &[&str]) -> Run {
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(args)
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("PYPI_TOKEN", SENTINEL)
        .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
        .output()
        .unwrap();
    Run::from(out)
}

// The gate: the remote's tags are read before the first production upload.

/// A released, staged and verified sample `name` at `v1.4.3`, then a commit after it (pushed).
fn staged_then_moved_on(name: &str) -> (Scratch, String) {
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.twostage(&["release", "patch"]).success();
    run(&s, &["stage", "v1.4.3"]).success();
    s.write("NEWS", "after the release\n");
    s.commit_all("After the release");
    let head = s.git(&["rev-parse", "HEAD"]);
    (s, head)
}

/// `promote --dry-run` and `promote` both refuse with `expected`, and nothing changes: no
/// production upload (counted by the servers), no local `-prod` tag, no ref or note here or
/// on origin.
#[track_caller]
fn promotion_refused(s: &Scratch, name: &str, expected: &str) {
    let (before, seen) = (s.snapshot(), indexes_of(name));
    run(s, &["promote", "v1.4.3", "--dry-run"])
        .failure(1)
        .stderr_has("the promotion would be refused")
        .stderr_has(expected);
    assert_eq!(s.snapshot(), before, "the dry run changed the repository");
    run(s, &["promote", "v1.4.3"])
        .failure(1)
        .stderr_has("nothing was changed")
        .stderr_has(expected);
    assert_eq!(s.snapshot(), before, "the promotion changed the repository");
    assert_eq!(indexes_of(name), seen, "an index received something");
    assert!(production_serves(name).is_empty());
    assert!(s.git(&["tag", "--list", "v1.4.3-prod"]).is_empty());
}

#[test]
fn a_prod_tag_on_the_remote_at_another_commit_refuses_the_promotion_before_any_upload() {
    let name = "ts-gate-remote-prod";
    let (s, head) = staged_then_moved_on(name);
    // Another machine promoted, wrongly, onto the later commit; this clone has no such tag.
    s.git(&["tag", "-a", "v1.4.3-prod", "-m", "on the wrong commit"]);
    s.git(&["push", "--quiet", "origin", "v1.4.3-prod"]);
    s.git(&["tag", "-d", "v1.4.3-prod"]);
    promotion_refused(&s, name, &format!("`origin` has `v1.4.3-prod` at {head}"));
}

#[test]
fn a_release_tag_moved_on_the_remote_or_a_remote_that_cannot_be_read_refuses_the_promotion() {
    let name = "ts-gate-moved";
    let (s, head) = staged_then_moved_on(name);
    let ours = s.git(&["rev-parse", "v1.4.3^{commit}"]);
    s.git(&[
        "push",
        "--quiet",
        "--force",
        "origin",
        &format!("{head}:refs/tags/v1.4.3"),
    ]);
    promotion_refused(
        &s,
        name,
        &format!("`origin` has `v1.4.3` at {head}, not at {ours} as here"),
    );
    // The remote is gone: what it holds cannot be checked, so nothing is promoted.
    let gone = s.dir.join("gone.git");
    s.git(&["remote", "set-url", "origin", gone.to_str().unwrap()]);
    promotion_refused(&s, name, "cannot read the tags of `origin`");
}

#[test]
fn pushing_a_prod_tag_the_remote_has_at_another_commit_is_refused_by_the_hook_before_any_upload() {
    let name = "ts-gate-hook";
    let (s, head) = staged_then_moved_on(name);
    s.twostage(&["hooks", "install"]).success();
    // Another machine pushed `v1.4.3-prod` onto the later commit, past its hooks.
    s.git(&[
        "push",
        "--quiet",
        "--no-verify",
        "origin",
        "HEAD:refs/tags/v1.4.3-prod",
    ]);
    let sh = s.sh();
    let commit = "v1.4.3^{commit}";
    let tagged = Run::of(
        cmd!(sh, "git tag -a v1.4.3-prod {commit} -m promote")
            .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
            .env("TEST_PYPI_TOKEN", SENTINEL),
    );
    tagged.success().stderr_has("WILL BE REFUSED");
    let (before, seen) = (s.snapshot(), indexes_of(name));
    Run::of(
        cmd!(sh, "git push origin v1.4.3-prod")
            .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
            .env("PYPI_TOKEN", SENTINEL),
    )
    .failure(1)
    .stderr_has("the promotion of v1.4.3 is refused")
    .stderr_has(&format!("`origin` has `v1.4.3-prod` at {head}"));
    assert_eq!(s.snapshot(), before);
    assert_eq!(indexes_of(name), seen, "an index received something");
    assert!(production_serves(name).is_empty());
}

// Paths: what `release.toml` names stays inside the repository.

/// A sample whose version lives in `<module>/__init__.py` (`release.toml` line 2), with a file
/// `outside/__init__.py` beside the repository.
fn dynamic(name: &str) -> (Scratch, PathBuf) {
    let s = Scratch::new(name);
    sample(&s, Layout::DynamicFlitModule, name);
    let outside = s.dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let module = name.replace('-', "_");
    std::fs::copy(
        s.work.join(&module).join("__init__.py"),
        outside.join("__init__.py"),
    )
    .unwrap();
    (s, outside.join("__init__.py"))
}

/// `release patch` exits with `code` naming `expected`; the repository, `outside` and the
/// indexes are as they were.
#[track_caller]
fn release_refused(s: &Scratch, name: &str, outside: &Path, code: i32, expected: &[&str]) {
    let (before, seen) = (s.snapshot(), indexes_of(name));
    let outside_before = std::fs::read(outside).unwrap();
    let run = run(s, &["release", "patch"]).failure(code);
    for text in expected {
        run.stderr_has(text);
    }
    assert_eq!(
        std::fs::read(outside).unwrap(),
        outside_before,
        "written through"
    );
    assert_eq!(s.snapshot(), before);
    assert_eq!(indexes_of(name), seen);
    assert!(s.git(&["tag", "--list", "v1.4.3"]).is_empty());
}

#[test]
fn a_version_file_that_is_a_symbolic_link_out_of_the_repository_is_refused_at_load() {
    let name = "ts-path-symlink";
    let (s, outside) = dynamic(name);
    let file = format!("{}/__init__.py", name.replace('-', "_"));
    std::fs::remove_file(s.work.join(&file)).unwrap();
    std::os::unix::fs::symlink(&outside, s.work.join(&file)).unwrap();
    s.commit_all("The version file is a link");
    let expected =
        format!("release.toml:2: `package.version-files` names `{file}`, which is a symbolic link");
    release_refused(&s, name, &outside, 2, &[&expected]);
}

#[test]
fn absolute_and_climbing_version_files_are_refused_at_load_with_their_line() {
    let name = "ts-path-outside";
    let (s, outside) = dynamic(name);
    let module = name.replace('-', "_");
    let absolute = outside.to_str().unwrap().to_string();
    let toml = s.read("release.toml").replace(
        &format!("version-files = [\"{module}/__init__.py\"]"),
        &format!("version-files = [\"{module}/__init__.py\", \"{absolute}\", \"../outside/__init__.py\"]"),
    );
    s.write("release.toml", &toml);
    s.commit_all("Version files outside");
    release_refused(
        &s,
        name,
        &outside,
        2,
        &[
            &format!("release.toml:2: `package.version-files` names `{absolute}`, which is an absolute path"),
            "release.toml:2: `package.version-files` names `../outside/__init__.py`, which climbs out of the repository with `..`",
        ],
    );
    // The same from the environment names the variable.
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["release", "patch"])
        .env("TWOSTAGE_PACKAGE_VERSION_FILES", &absolute)
        .output()
        .unwrap();
    Run::from(out)
        .failure(2)
        .stderr_has(
            "environment variable `TWOSTAGE_PACKAGE_VERSION_FILES` (`package.version-files`)",
        )
        .stderr_has("which is an absolute path");
}

#[test]
fn a_changelog_that_is_a_symbolic_link_is_refused_named_at_load_and_by_default_at_the_write() {
    let name = "ts-path-changelog";
    let (s, outside) = dynamic(name);
    let changes = s.dir.join("outside/CHANGELOG.md");
    std::fs::rename(s.work.join("CHANGELOG.md"), &changes).unwrap();
    std::os::unix::fs::symlink(&changes, s.work.join("CHANGELOG.md")).unwrap();
    s.commit_all("The changelog is a link");
    // By default (`changelog` not set): the write refuses it, and the release is undone.
    release_refused(
        &s,
        name,
        &changes,
        1,
        &["refusing to write `CHANGELOG.md`, which is a symbolic link"],
    );
    assert!(std::fs::read(&outside).is_ok());
    // Named in release.toml: refused at load, with its line.
    let toml = s
        .read("release.toml")
        .replace("[package]\n", "[package]\nchangelog = \"CHANGELOG.md\"\n");
    s.write("release.toml", &toml);
    s.commit_all("Name the changelog");
    release_refused(
        &s,
        name,
        &changes,
        2,
        &["release.toml:2: `package.changelog` names `CHANGELOG.md`, which is a symbolic link"],
    );
}

#[test]
fn a_manifest_that_is_a_folder_is_refused_at_load() {
    let name = "ts-path-manifest";
    let (s, outside) = dynamic(name);
    s.write("build-config/setup.cfg", "[metadata]\n");
    let toml = s
        .read("release.toml")
        .replace("[package]\n", "[package]\nmanifest = \"build-config\"\n");
    s.write("release.toml", &toml);
    s.commit_all("A folder as the manifest");
    release_refused(
        &s,
        name,
        &outside,
        2,
        &["release.toml:2: `package.manifest` names `build-config`, which is a folder"],
    );
}

// Artifacts: what a wheel or an sdist holds is checked before the first upload.

const VERSION: &str = "1.4.2";

/// A sample `name` at 1.4.2 with the tag `v1.4.2` made by hand: nothing built, ready for
/// `stage --dist`.
fn tagged(name: &str) -> Scratch {
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.git(&["tag", "-a", "v1.4.2", "-m", "Release v1.4.2"]);
    s.git(&["push", "--quiet", "origin", "v1.4.2"]);
    s
}

fn metadata(name: &str) -> String {
    format!("Metadata-Version: 2.1\nName: {name}\nVersion: {VERSION}\nSummary: hand-made\n")
}

/// `<dist>-1.4.2.tar.gz` in `dir`: a good `PKG-INFO`, then `members` (name, type, link
/// target), written raw so that names the tar crate would refuse to write get in.
fn sdist(dir: &Path, name: &str, members: &[(&str, tar::EntryType, &str)]) -> PathBuf {
    let dist = name.replace('-', "_");
    let path = dir.join(format!("{dist}-{VERSION}.tar.gz"));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let pkg_info = format!("{dist}-{VERSION}/PKG-INFO");
    let text = metadata(name);
    let all = std::iter::once((pkg_info.as_str(), tar::EntryType::Regular, ""))
        .chain(members.iter().copied());
    for (member, kind, target) in all {
        let data: &[u8] = match member == pkg_info {
            true => text.as_bytes(),
            false => b"",
        };
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.as_old_mut().name[..member.len()].copy_from_slice(member.as_bytes());
        if !target.is_empty() {
            header.set_link_name(target).unwrap();
        }
        header.set_cksum();
        tar.append(&header, data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    path
}

/// One `RECORD` row: the path, `sha256=` and the urlsafe unpadded base64 digest, the size.
fn record_row(member: &str, data: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    format!("{member},sha256={hash},{}\n", data.len())
}

/// `<dist>-1.4.2-py3-none-any.whl` in `dir` for the project `name`: its module, `METADATA`
/// and `WHEEL` in `<dist_info>` and `extra` members, a `RECORD` made for all of them and then
/// changed by `edit`.
fn wheel(
    dir: &Path,
    name: &str,
    dist_info: &str,
    extra: &[(&str, &[u8])],
    edit: impl Fn(String) -> String,
) -> PathBuf {
    let dist = name.replace('-', "_");
    let path = dir.join(format!("{dist}-{VERSION}-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let (module, meta) = (format!("{dist}/__init__.py"), metadata(name));
    let wheel_file =
        "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    let members: Vec<(String, Vec<u8>)> = [
        (module, b"\"\"\"Hand-made.\"\"\"\n".to_vec()),
        (format!("{dist_info}/METADATA"), meta.into_bytes()),
        (format!("{dist_info}/WHEEL"), wheel_file.as_bytes().to_vec()),
    ]
    .into_iter()
    .chain(extra.iter().map(|(n, d)| (n.to_string(), d.to_vec())))
    .collect();
    let mut record = String::new();
    for (member, data) in &members {
        zip.start_file(member.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
        record.push_str(&record_row(member, data));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    zip.start_file(format!("{dist_info}/RECORD"), options)
        .unwrap();
    zip.write_all(edit(record).as_bytes()).unwrap();
    zip.finish().unwrap();
    path
}

/// `stage v1.4.2 --dist DIR` with the files `make` writes into DIR: exit 1, every `expected`
/// text in stderr, and nothing anywhere: the repository byte for byte, no frozen build, no
/// upload request, neither index listing a file of the project.
#[track_caller]
fn staging_refused(name: &str, make: impl Fn(&Path), expected: &[&str]) {
    let s = tagged(name);
    let dist = s.dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    make(&dist);
    let (before, seen) = (s.snapshot(), indexes_of(name));
    let run = s
        .stage(&["v1.4.2", "--dist", dist.to_str().unwrap()], SENTINEL)
        .failure(1);
    run.stderr_has("the artifacts of v1.4.2 cannot be released");
    for text in expected {
        run.stderr_has(text);
    }
    assert_eq!(s.snapshot(), before);
    assert_eq!(indexes_of(name), seen, "an index received something");
    assert!(pypiserver_stored(name).is_empty(), "staging stores a file");
    assert!(!frozen_dir(&s, "v1.4.2").exists(), "the files were frozen");
}

#[test]
fn sdist_members_that_climb_out_are_refused_before_any_upload() {
    let name = "ts-hostile-sdist-dotdot";
    staging_refused(
        name,
        |dir| {
            sdist(dir, name, &[("ts_hostile_sdist_dotdot-1.4.2/../../evil.py", tar::EntryType::Regular, "")]);
        },
        &["`ts_hostile_sdist_dotdot-1.4.2.tar.gz`: member `ts_hostile_sdist_dotdot-1.4.2/../../evil.py`: a `..` that climbs out"],
    );
}

#[test]
fn an_sdist_member_with_an_absolute_path_is_refused_before_any_upload() {
    let name = "ts-hostile-sdist-abs";
    staging_refused(
        name,
        |dir| {
            sdist(dir, name, &[("/tmp/evil.py", tar::EntryType::Regular, "")]);
        },
        &["member `/tmp/evil.py`: an absolute path"],
    );
}

#[test]
fn sdist_symbolic_and_hard_links_are_refused_before_any_upload() {
    let name = "ts-hostile-sdist-links";
    let top = "ts_hostile_sdist_links-1.4.2";
    staging_refused(
        name,
        |dir| {
            sdist(
                dir,
                name,
                &[
                    (
                        &format!("{top}/passwd"),
                        tar::EntryType::Symlink,
                        "/etc/passwd",
                    ),
                    (&format!("{top}/hard"), tar::EntryType::Link, "/etc/shadow"),
                    (&format!("{top}/fifo"), tar::EntryType::Fifo, ""),
                ],
            );
        },
        &[
            &format!("member `{top}/passwd`: a symbolic link (to `/etc/passwd`)"),
            &format!("member `{top}/hard`: a hard link (to `/etc/shadow`)"),
            &format!("member `{top}/fifo`: a FIFO"),
        ],
    );
}

#[test]
fn an_sdist_member_outside_its_one_top_folder_is_refused_before_any_upload() {
    let name = "ts-hostile-sdist-top";
    staging_refused(
        name,
        |dir| {
            sdist(dir, name, &[("other-9.9/setup.py", tar::EntryType::Regular, "")]);
        },
        &["member `other-9.9/setup.py`: outside the one top-level folder `ts_hostile_sdist_top-1.4.2/`"],
    );
}

#[test]
fn a_wheel_with_a_zip_slip_member_is_refused_before_any_upload() {
    let name = "ts-hostile-whl-slip";
    staging_refused(
        name,
        |dir| {
            wheel(dir, name, "ts_hostile_whl_slip-1.4.2.dist-info", &[("../../../.bashrc", b"evil\n")], |r| r);
        },
        &["`ts_hostile_whl_slip-1.4.2-py3-none-any.whl`: member `../../../.bashrc`: a `..` that climbs out of the folder it is unpacked into (zip-slip)"],
    );
}

#[test]
fn a_wheel_whose_record_gives_a_wrong_sha256_is_refused_before_any_upload() {
    let name = "ts-hostile-whl-hash";
    let module = "ts_hostile_whl_hash/__init__.py";
    staging_refused(
        name,
        |dir| {
            wheel(dir, name, "ts_hostile_whl_hash-1.4.2.dist-info", &[], |r| {
                let right = record_row(module, b"\"\"\"Hand-made.\"\"\"\n");
                let wrong = record_row(module, b"\"\"\"Other bytes.\"\"\"\n");
                r.replace(&right, &wrong)
            });
        },
        &[
            &format!("member `{module}`: its sha256 in `RECORD` is"),
            "an installer must refuse it",
        ],
    );
}

#[test]
fn a_wheel_member_missing_from_record_is_refused_before_any_upload() {
    let name = "ts-hostile-whl-unlisted";
    staging_refused(
        name,
        |dir| {
            let extra: &[(&str, &[u8])] = &[("ts_hostile_whl_unlisted/payload.py", b"import os\n")];
            wheel(
                dir,
                name,
                "ts_hostile_whl_unlisted-1.4.2.dist-info",
                extra,
                |r| {
                    r.lines()
                        .filter(|l| !l.starts_with("ts_hostile_whl_unlisted/payload.py,"))
                        .map(|l| format!("{l}\n"))
                        .collect()
                },
            );
        },
        &["member `ts_hostile_whl_unlisted/payload.py`: not listed in `RECORD`"],
    );
}

#[test]
fn a_wheel_whose_dist_info_names_another_project_is_refused_before_any_upload() {
    let name = "ts-hostile-whl-other";
    staging_refused(
        name,
        |dir| {
            wheel(dir, name, "requests-2.99.0.dist-info", &[], |r| r);
        },
        &["the folder `requests-2.99.0.dist-info` names another project or version than the file name does: a wheel's is `ts_hostile_whl_other-1.4.2.dist-info`"],
    );
}

#[test]
fn a_wheel_whose_record_lists_a_path_outside_it_is_refused_before_any_upload() {
    let name = "ts-hostile-whl-record";
    staging_refused(
        name,
        |dir| {
            wheel(dir, name, "ts_hostile_whl_record-1.4.2.dist-info", &[], |r| {
                format!("{r}../../../../home/user/.ssh/authorized_keys,,\n")
            });
        },
        &["member `ts_hostile_whl_record-1.4.2.dist-info/RECORD` lists `../../../../home/user/.ssh/authorized_keys`: a `..`"],
    );
}

#[test]
fn a_project_name_with_a_confusable_letter_is_named_before_any_upload() {
    // `а` is CYRILLIC SMALL LETTER A (U+0430), drawn as the ASCII `a`.
    let name = "ts-t\u{430}lly";
    staging_refused(
        name,
        |dir| {
            wheel(dir, name, "ts_t\u{430}lly-1.4.2.dist-info", &[], |r| r);
        },
        &[
            "the project name `ts-t\u{430}lly` holds `\u{430}` (U+0430), which looks like the ASCII `a`",
            "(PEP 508)",
        ],
    );
}

#[test]
fn a_release_of_a_project_name_with_a_confusable_letter_is_refused_naming_the_letter() {
    let s = Scratch::new("ts-rel-tally");
    sample(&s, Layout::StaticFlit, "ts-rel-tally");
    let manifest = s.read("pyproject.toml");
    let renamed = manifest.replacen("\"ts-rel-tally\"", "\"ts-rel-t\u{430}lly\"", 1);
    assert_ne!(renamed, manifest, "the fixture names the project");
    s.write("pyproject.toml", &renamed);
    s.commit_all("A confusable name");
    let before = s.snapshot();
    run(&s, &["release", "patch"])
        .failure(1)
        .stderr_has("the project name `ts-rel-t\u{430}lly` holds `\u{430}` (U+0430), which looks like the ASCII `a`");
    assert_eq!(s.snapshot(), before);
    assert!(s.git(&["tag", "--list"]).is_empty());
}
