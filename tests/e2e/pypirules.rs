//! What PyPI's upload server refuses and a local index takes (docs/pypi-rules.md): refused at
//! the freeze (`release`, `stage --dist`) and before the first upload, with nothing uploaded
//! and a release's commit and tag undone.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common::*;

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

/// One `RECORD` row: the path, `sha256=` and the urlsafe unpadded base64 digest, the size.
fn record_row(member: &str, data: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    format!("{member},sha256={hash},{}\n", data.len())
}

/// `<dist>-1.4.2-py3-none-<platform>.whl` in `dir`, well formed in every other way: what an
/// `uv build`/`pip wheel` of an extension makes on Linux before `auditwheel repair`.
fn wheel_for(dir: &Path, name: &str, platform: &str) -> PathBuf {
    let dist = name.replace('-', "_");
    let tag = format!("py3-none-{platform}");
    let path = dir.join(format!("{dist}-{VERSION}-{tag}.whl"));
    let dist_info = format!("{dist}-{VERSION}.dist-info");
    let metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {VERSION}\n");
    let wheel =
        format!("Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: false\nTag: {tag}\n");
    let members = [
        (
            format!("{dist}/__init__.py"),
            "\"\"\"Hand-made.\"\"\"\n".to_string(),
        ),
        (format!("{dist_info}/METADATA"), metadata),
        (format!("{dist_info}/WHEEL"), wheel),
    ];
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    let mut record = String::new();
    for (member, data) in &members {
        zip.start_file(member.as_str(), options).unwrap();
        zip.write_all(data.as_bytes()).unwrap();
        record.push_str(&record_row(member, data.as_bytes()));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    zip.start_file(format!("{dist_info}/RECORD"), options)
        .unwrap();
    zip.write_all(record.as_bytes()).unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn a_linux_x86_64_wheel_is_refused_by_stage_dist_with_nothing_uploaded() {
    let name = "ts-rules-linux-wheel";
    let s = tagged(name);
    let dist = s.dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    wheel_for(&dist, name, "linux_x86_64");
    let before = s.snapshot();
    let run = s
        .stage(&["v1.4.2", "--dist", dist.to_str().unwrap()], SENTINEL)
        .failure(1);
    run.stderr_has("the artifacts of v1.4.2 cannot be released")
        .stderr_has("`linux_x86_64`")
        .stderr_has("auditwheel repair");
    assert_eq!(s.snapshot(), before);
    assert_eq!(
        upload_requests(name),
        0,
        "an upload request reached an index"
    );
    assert!(pypiserver_stored(name).is_empty(), "staging stores a file");
    assert!(!frozen_dir(&s, "v1.4.2").exists(), "the files were frozen");

    // The same wheel tagged for manylinux2014 is taken: the rule is the tag, not the wheel.
    std::fs::remove_dir_all(&dist).unwrap();
    std::fs::create_dir_all(&dist).unwrap();
    let good = wheel_for(&dist, name, "manylinux2014_x86_64");
    s.stage(
        &["v1.4.2", "--dist", dist.to_str().unwrap(), "--no-verify"],
        SENTINEL,
    )
    .success();
    let stored = pypiserver_stored(name);
    let filename = good.file_name().unwrap().to_str().unwrap();
    assert_eq!(stored.keys().collect::<Vec<_>>(), [filename], "{stored:?}");
}

#[test]
fn an_unknown_classifier_is_refused_at_release_with_the_commit_and_tag_undone() {
    let name = "ts-rules-classifier";
    let s = Scratch::new(name);
    // flit_core, which writes classifiers as given (hatchling checks them itself).
    sample(&s, Layout::StaticFlit, name);
    let pyproject = s.read("pyproject.toml").replace(
        "description = \"A sample\"\n",
        "description = \"A sample\"\nclassifiers = [\"Programming Language :: Pyhton :: 3\"]\n",
    );
    s.write("pyproject.toml", &pyproject);
    s.commit_all("A classifier with a typo");
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("`Programming Language :: Pyhton :: 3`")
        .stderr_has("https://pypi.org/classifiers/")
        .stderr_has("back as it was");
    assert_eq!(s.snapshot(), before);
    assert_eq!(upload_requests(name), 0);
}

/// An sdist of `name` 1.4.3 named as setuptools named them before PEP 625
/// (`<name as written>-1.4.3.tar.gz`), as an older tool uploaded it by hand.
fn legacy_sdist(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}-1.4.3.tar.gz"));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    // The top folder as its own member, as setuptools wrote it (twine looks for it).
    let mut folder = tar::Header::new_gnu();
    folder.set_entry_type(tar::EntryType::Directory);
    folder.set_size(0);
    folder.set_mode(0o755);
    folder.set_cksum();
    tar.append_data(&mut folder, format!("{name}-1.4.3/"), std::io::empty())
        .unwrap();
    let pkg_info = format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.4.3\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(pkg_info.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(
        &mut header,
        format!("{name}-1.4.3/PKG-INFO"),
        pkg_info.as_bytes(),
    )
    .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    path
}

#[test]
fn a_second_sdist_of_a_release_is_refused_before_any_upload() {
    let name = "ts-rules-second-sdist";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.twostage(&["release", "patch"]).success();
    let other = s.dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let legacy = legacy_sdist(&other, name);
    let (url, _, user) = Staging::Pypiserver.endpoints();
    twine_upload(&s, &url, &user, std::slice::from_ref(&legacy));
    let stored = pypiserver_stored(name);
    let (before, requests) = (s.snapshot(), upload_requests(name));
    s.stage(&["v1.4.3"], SENTINEL)
        .failure(1)
        .stderr_has("second sdist")
        .stderr_has(legacy.file_name().unwrap().to_str().unwrap());
    assert_eq!(
        pypiserver_stored(name),
        stored,
        "staging stored another file"
    );
    assert_eq!(
        upload_requests(name),
        requests,
        "an upload request was made"
    );
    assert_eq!(s.snapshot(), before);
}

/// A stand-in project page on 127.0.0.1 that serves `body` as a PEP 691 JSON page to at most
/// 20 requests, then stops: what PyPI serves of an archived project (PEP 792), which
/// pypiserver and devpi do not.
fn json_page_standin(body: String) -> String {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/simple/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.pypi.simple.v1+json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    url
}

#[test]
fn an_archived_project_takes_no_upload_and_nothing_is_sent() {
    let name = "ts-rules-archived";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    let page = format!(
        r#"{{"meta":{{"api-version":"1.4"}},"name":"{name}","project-status":{{"status":"archived"}},"files":[]}}"#
    );
    let standin = json_page_standin(page);
    let (_, index_url, _) = Staging::Pypiserver.endpoints();
    let toml = s.read("release.toml");
    assert!(toml.contains(&index_url), "{toml}");
    s.write("release.toml", &toml.replace(&index_url, &standin));
    s.commit_all("Staging read from a page that says archived");
    s.git(&["tag", "-a", "v1.4.2", "-m", "Release v1.4.2"]);
    s.git(&["push", "--quiet", "origin", "v1.4.2"]);
    let dist = s.dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    wheel_for(&dist, name, "any");
    let before = s.snapshot();
    s.stage(
        &["v1.4.2", "--dist", dist.to_str().unwrap(), "--no-verify"],
        SENTINEL,
    )
    .failure(1)
    .stderr_has("is archived on the staging index");
    assert!(pypiserver_stored(name).is_empty(), "staging stores a file");
    assert_eq!(upload_requests(name), 0);
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_readme_that_does_not_render_as_restructuredtext_is_refused_at_release_and_markdown_passes() {
    let name = "ts-rules-readme";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    let readme_key = |file: &str| {
        s.read("pyproject.toml")
            .lines()
            .filter(|l| !l.starts_with("readme ="))
            .collect::<Vec<_>>()
            .join("\n")
            .replace(
                "description = \"A sample\"",
                &format!("description = \"A sample\"\nreadme = \"{file}\""),
            )
            + "\n"
    };
    // An unknown directive is an error to docutils (a short title underline only a warning).
    let broken = "A sample\n========\n\nIt does things.\n\n.. frobnicate:: x\n";
    s.write("README.rst", broken);
    s.write("pyproject.toml", &readme_key("README.rst"));
    s.commit_all("A README with an unknown directive");
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("`ts_rules_readme-1.4.3.tar.gz`: PyPI refuses its README (the description, `text/x-rst`)")
        .stderr_has("at line 6 (`.. frobnicate:: x`): (ERROR/3) Unknown directive type \"frobnicate\".")
        .stderr_has("back as it was");
    assert_eq!(s.snapshot(), before);
    assert_eq!(upload_requests(name), 0);
    assert!(!s.git(&["tag", "--list"]).contains("v1.4.3"));

    // The same text as Markdown renders (cmarkgfm takes anything): released.
    s.git(&["mv", "README.rst", "README.md"]);
    s.write("pyproject.toml", &readme_key("README.md"));
    s.commit_all("The README is Markdown");
    s.twostage(&["release", "patch"]).success();
    assert!(s.git(&["tag", "--list"]).contains("v1.4.3"));

    // Valid reStructuredText, a short title underline (a docutils warning) included: released.
    s.git(&["mv", "README.md", "README.rst"]);
    s.write("README.rst", "A sample\n===\n\nIt *does* things.\n");
    s.write("pyproject.toml", &readme_key("README.rst"));
    s.commit_all("The README is reStructuredText again");
    s.twostage(&["release", "patch"]).success();
    assert!(s.git(&["tag", "--list"]).contains("v1.4.4"));
}

#[test]
fn without_a_readme_renderer_the_release_goes_on_and_says_the_readme_was_not_checked() {
    let name = "ts-rules-readme-offline";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.write("README.rst", "A sample\n========\n\n.. frobnicate:: x\n");
    let pyproject = s.read("pyproject.toml").replace(
        "description = \"A sample\"",
        "description = \"A sample\"\nreadme = \"README.rst\"",
    );
    s.write("pyproject.toml", &pyproject);
    s.commit_all("A README");
    // A renderer folder of its own, and no interpreter to make its venv with.
    let run = Run::from(
        s.command(env!("CARGO_BIN_EXE_twostage"))
            .args(["release", "patch"])
            .env("TWOSTAGE_README_DIR", s.dir.join("renderer"))
            .env("TWOSTAGE_PYTHON", s.dir.join("no-such-python"))
            .output()
            .unwrap(),
    )
    .success();
    assert_eq!(
        run.stderr
            .matches("the README was not checked as PyPI renders it")
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert!(s.git(&["tag", "--list"]).contains("v1.4.3"));
}
