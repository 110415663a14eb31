//! `stage`: build once from a clean clone, upload to a real local index (pypiserver and
//! devpi), wait until it serves the files, record the evidence note.

use std::io::Read;
use std::path::PathBuf;

use crate::common::*;

fn listing(staging: Staging, project: &str) -> Vec<(String, Option<String>)> {
    let (_, url, _) = staging.endpoints();
    let mut files: Vec<(String, Option<String>)> = served(&url, project)
        .into_iter()
        .map(|f| (f.filename, f.sha256))
        .collect();
    files.sort();
    files
}

/// filename → mtime of the files in `dir`.
fn mtimes(dir: &std::path::Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
            (path, mtime)
        })
        .collect();
    files.sort();
    files
}

/// (filename, sha256) of the frozen files.
fn frozen(s: &Scratch, tag: &str) -> Vec<(String, Option<String>)> {
    frozen_files(s, tag)
        .into_iter()
        .map(|(f, sha)| (f, Some(sha)))
        .collect()
}

fn stage_uploads_waits_and_records_and_a_rerun_changes_nothing_on(staging: Staging) {
    let name = format!("ts-stage-{}", format!("{staging:?}").to_lowercase());
    let s = Scratch::new(&name);
    sample_on(&s, Layout::StaticFlit, &name, staging);
    s.twostage(&["release", "patch", "--push"]).success();
    forget_build(&s, "v1.4.3");

    let run = s.stage(&["v1.4.3"], SENTINEL).success();
    run.stderr_has("Building").stderr_has("Staged");
    let frozen = frozen(&s, "v1.4.3");
    assert_eq!(frozen.len(), 2, "a wheel and an sdist: {frozen:?}");
    // The index serves exactly the frozen bytes.
    assert_eq!(listing(staging, &name), frozen, "{staging:?}");

    // The note on the release commit records the artifacts and the staging upload, and
    // it is on the remote.
    let note = s.git(&["notes", "--ref=release", "show", "v1.4.3^{commit}"]);
    for (filename, sha) in &frozen {
        assert!(
            note.contains(filename.as_str()) && note.contains(sha.as_deref().unwrap()),
            "{note}"
        );
    }
    assert!(
        note.contains("[staging]") && note.contains("uploaded = ["),
        "{note}"
    );
    let remote_notes = s.git(&["ls-remote", "origin", "refs/notes/release"]);
    assert!(
        remote_notes.ends_with("refs/notes/release"),
        "{remote_notes}"
    );

    // A rerun uploads nothing (the indexes' stores and logs are as they were) and
    // builds nothing (the frozen files are the same files).
    let seen = uploads_seen(&name);
    let dist_mtimes = mtimes(&frozen_dir(&s, "v1.4.3"));
    let run = s.stage(&["v1.4.3"], SENTINEL).success();
    run.stderr_has("already");
    assert_eq!(uploads_seen(&name), seen, "{}", run.stderr);
    assert_eq!(mtimes(&frozen_dir(&s, "v1.4.3")), dist_mtimes);
    assert_eq!(listing(staging, &name), frozen);

    // Without the note (a rerun after a crash before recording), the index is asked and
    // every file is found there: nothing is uploaded twice.
    s.git(&["notes", "--ref=release", "remove", "v1.4.3^{commit}"]);
    let run = s.stage(&["v1.4.3"], SENTINEL).success();
    run.stderr_has("Fresh")
        .stderr_has("0 uploaded, 2 already there");
    assert_eq!(uploads_seen(&name), seen, "{}", run.stderr);
    assert_eq!(listing(staging, &name), frozen);
    assert_no_secret_in(&s, SENTINEL);

    // The count above can fail: an upload of the same files, refused or ignored by the
    // index, still shows on the server's side.
    let (upload_url, _, username) = staging.endpoints();
    let files: Vec<PathBuf> = frozen_files(&s, "v1.4.3")
        .into_keys()
        .map(|f| frozen_dir(&s, "v1.4.3").join(f))
        .collect();
    let sh = s.sh();
    twine(&sh, &upload_url, &username, &files)
        .ignore_status()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .unwrap();
    assert_ne!(uploads_seen(&name), seen, "{staging:?}");
}

#[test]
fn stage_uploads_waits_and_records_and_a_rerun_changes_nothing_on_pypiserver() {
    stage_uploads_waits_and_records_and_a_rerun_changes_nothing_on(Staging::Pypiserver);
}

#[test]
fn stage_uploads_waits_and_records_and_a_rerun_changes_nothing_on_devpi() {
    stage_uploads_waits_and_records_and_a_rerun_changes_nothing_on(Staging::Devpi);
}

fn a_same_named_file_with_other_bytes_stops_before_anything_is_uploaded_on(staging: Staging) {
    let name = format!("ts-conflict-{}", format!("{staging:?}").to_lowercase());
    let s = Scratch::new(&name);
    sample_on(&s, Layout::StaticFlit, &name, staging);
    s.twostage(&["release", "patch"]).success();
    // Someone uploaded an sdist of 1.4.3 built from other sources.
    let other = s.clone_work("other", Some("v1.4.3"));
    std::fs::write(other.join("EXTRA.txt"), "other bytes\n").unwrap();
    std::fs::write(
        other.join(format!("{}/__init__.py", name.replace('-', "_"))),
        "\"\"\"Other.\"\"\"\n",
    )
    .unwrap();
    let [sdist] = &python_build(&s, &other, &s.dir.join("other-dist"), &["--sdist"])[..] else {
        panic!("one sdist")
    };
    upload_with_twine(&s, staging, sdist);
    let before = listing(staging, &name);
    assert_eq!(before.len(), 1);

    let run = s.stage(&["v1.4.3"], SENTINEL).failure(1);
    let sdist_name = sdist.file_name().unwrap().to_str().unwrap();
    run.stderr_has("nothing was uploaded")
        .stderr_has(sdist_name);
    // The wheel was not uploaded either.
    assert_eq!(listing(staging, &name), before, "{staging:?}");
    assert!(
        s.git(&["notes", "--ref=release", "list"]).is_empty(),
        "no note is written"
    );
}

#[test]
fn a_same_named_file_with_other_bytes_stops_before_anything_is_uploaded_on_pypiserver() {
    a_same_named_file_with_other_bytes_stops_before_anything_is_uploaded_on(Staging::Pypiserver);
}

#[test]
fn a_same_named_file_with_other_bytes_stops_before_anything_is_uploaded_on_devpi() {
    a_same_named_file_with_other_bytes_stops_before_anything_is_uploaded_on(Staging::Devpi);
}

fn upload_with_twine(s: &Scratch, staging: Staging, file: &std::path::Path) {
    let (url, _, user) = staging.endpoints();
    twine_upload(s, &url, &user, &[file.to_path_buf()]);
}

fn a_wrong_token_is_a_clear_refusal_and_never_printed_on(staging: Staging) {
    let wrong = "pypi-WRONG-token-5b1e-do-not-print";
    let name = format!("ts-wrong-token-{}", format!("{staging:?}").to_lowercase());
    let s = Scratch::new(&name);
    sample_on(&s, Layout::StaticFlit, &name, staging);
    s.twostage(&["release", "patch"]).success();
    let run = s.stage(&["v1.4.3"], wrong).failure(1);
    run.stderr_has("refused").stderr_has("TEST_PYPI_TOKEN");
    assert!(
        run.stderr.contains("HTTP 403") || run.stderr.contains("HTTP 401"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(wrong) && !run.stdout.contains(wrong));
    assert!(listing(staging, &name).is_empty());
    assert_no_secret_in(&s, wrong);
}

#[test]
fn a_wrong_token_is_a_clear_refusal_and_never_printed_on_pypiserver() {
    a_wrong_token_is_a_clear_refusal_and_never_printed_on(Staging::Pypiserver);
}

#[test]
fn a_wrong_token_is_a_clear_refusal_and_never_printed_on_devpi() {
    a_wrong_token_is_a_clear_refusal_and_never_printed_on(Staging::Devpi);
}

#[test]
fn a_missing_token_is_reported_before_anything_is_built() {
    let s = Scratch::new("no-token");
    sample(&s, Layout::StaticFlit, "ts-no-token");
    s.twostage(&["release", "patch"]).success();
    forget_build(&s, "v1.4.3");
    let run = s.twostage(&["stage", "v1.4.3"]).failure(1);
    run.stderr_has("set `TEST_PYPI_TOKEN`");
    assert!(
        !s.work.join(".git/twostage/v1.4.3").exists(),
        "nothing was built"
    );
}

#[test]
fn an_index_that_is_down_fails_after_bounded_retries() {
    let s = Scratch::new("down");
    sample(&s, Layout::StaticFlit, "ts-down");
    s.twostage(&["release", "patch"]).success();
    let port = testbed::free_port().unwrap();
    let started = std::time::Instant::now();
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["stage", "v1.4.3"])
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env(
            "TWOSTAGE_STAGING_INDEX_URL",
            format!("http://127.0.0.1:{port}/simple/"),
        )
        .env(
            "TWOSTAGE_STAGING_UPLOAD_URL",
            format!("http://127.0.0.1:{port}/"),
        )
        .output()
        .unwrap();
    let run = Run::from(out).failure(1);
    run.stderr_has("cannot read the staging index")
        .stderr_has(&format!("127.0.0.1:{port}"));
    assert!(started.elapsed().as_secs() < 60, "retries are bounded");
}

#[test]
fn an_artifact_whose_version_disagrees_with_the_tag_is_refused_before_upload() {
    let s = Scratch::new("wrong-version");
    sample(&s, Layout::StaticFlit, "ts-wrong-version");
    s.twostage(&["release", "patch"]).success();
    forget_build(&s, "v1.4.3");
    // A wheel of 1.4.4 offered for the tag v1.4.3.
    let other = s.clone_work("other", None);
    let pyproject = std::fs::read_to_string(other.join("pyproject.toml")).unwrap();
    std::fs::write(
        other.join("pyproject.toml"),
        pyproject.replace("1.4.3", "1.4.4"),
    )
    .unwrap();
    let dist = s.dir.join("dist");
    python_build(&s, &other, &dist, &["--wheel"]);
    let run = s
        .stage(&["v1.4.3", "--dist", dist.to_str().unwrap()], SENTINEL)
        .failure(1);
    run.stderr_has("its metadata says version `1.4.4`, but the tag is for `1.4.3`");
    assert!(listing(Staging::Pypiserver, "ts-wrong-version").is_empty());
}

#[test]
fn dist_stages_a_set_built_elsewhere() {
    let s = Scratch::new("dist");
    sample(&s, Layout::StaticFlit, "ts-dist");
    s.twostage(&["release", "patch"]).success();
    forget_build(&s, "v1.4.3");
    let other = s.clone_work("other", Some("v1.4.3"));
    let dist = s.dir.join("dist");
    python_build(&s, &other, &dist, &["--wheel"]);
    // Only a wheel was built elsewhere, so only a wheel is verified.
    let toml = s
        .read("release.toml")
        .replace("[verify]\n", "[verify]\nartifacts = [\"wheel\"]\n");
    s.write("release.toml", &toml);
    s.commit_all("Verify the wheel only");
    s.stage(&["v1.4.3", "--dist", dist.to_str().unwrap()], SENTINEL)
        .success()
        .stderr_has("1 uploaded");
    assert_eq!(
        listing(Staging::Pypiserver, "ts-dist"),
        frozen(&s, "v1.4.3")
    );
    assert!(
        std::fs::read_dir(&dist).unwrap().count() == 1,
        "the caller's files stay"
    );
}

#[test]
fn an_uncommitted_file_never_reaches_an_artifact() {
    let s = Scratch::new("uncommitted");
    sample(&s, Layout::StaticFlit, "ts-uncommitted");
    s.twostage(&["release", "patch"]).success();
    s.write("ts_uncommitted/local_only.py", "LEAK = True\n");
    s.write(
        "ts_uncommitted/__init__.py",
        "\"\"\"Edited after the tag.\"\"\"\nLEAK = True\n",
    );
    s.stage(&["v1.4.3"], SENTINEL).success();
    let (wheel, _) = frozen(&s, "v1.4.3")
        .into_iter()
        .find(|(f, _)| f.ends_with(".whl"))
        .unwrap();
    let wheel = frozen_dir(&s, "v1.4.3").join(wheel);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&wheel).unwrap()).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
    assert!(!names.iter().any(|n| n.contains("local_only")), "{names:?}");
    let mut init = String::new();
    zip.by_name("ts_uncommitted/__init__.py")
        .unwrap()
        .read_to_string(&mut init)
        .unwrap();
    assert!(!init.contains("LEAK"), "{init}");
}

#[test]
fn a_setuptools_scm_project_builds_exactly_the_tag_version() {
    let s = Scratch::new("scm-stage");
    sample(&s, Layout::SetuptoolsScm, "ts-scm-stage");
    s.twostage(&["release", "patch"]).success();
    s.stage(&["v1.4.3"], SENTINEL).success();
    let files: Vec<String> = frozen(&s, "v1.4.3").into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        files,
        [
            "ts_scm_stage-1.4.3-py3-none-any.whl",
            "ts_scm_stage-1.4.3.tar.gz"
        ]
    );
    for file in &files {
        let metadata =
            twostage::resources::dist::read_metadata(&frozen_dir(&s, "v1.4.3").join(file)).unwrap();
        assert_eq!(metadata.get("Version"), Some("1.4.3"), "{file}");
    }
}

#[test]
fn a_production_or_unknown_tag_is_a_usage_error() {
    let s = Scratch::new("bad-tag");
    sample(&s, Layout::StaticFlit, "ts-bad-tag");
    s.stage(&["v1.4.3-prod"], SENTINEL)
        .failure(2)
        .stderr_has("production tag");
    s.stage(&["v9.9.9"], SENTINEL)
        .failure(2)
        .stderr_has("no tag `v9.9.9`");
    s.stage(&["v1.2.3-prod-prod"], SENTINEL)
        .failure(2)
        .stderr_has("not a release tag");
    s.stage(&["v1.2"], SENTINEL)
        .failure(2)
        .stderr_has("no tag `v1.2`");
    // An rc that was never verified cannot be promoted by its -prod name either.
    s.twostage(&["release", "rc", "--offline"]).success();
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["promote", "v1.4.3-rc.1-prod"])
        .env("PYPI_TOKEN", SENTINEL)
        .output()
        .unwrap();
    Run::from(out).failure(1).stderr_has("never staged");
    s.stage(&["1.2.3"], SENTINEL)
        .failure(2)
        .stderr_has("not a release tag");
}

#[test]
fn a_tag_made_again_on_another_commit_is_built_again() {
    let s = Scratch::new("remade");
    sample(&s, Layout::StaticFlit, "ts-remade");
    s.twostage(&["release", "patch"])
        .success()
        .stderr_has("Building");
    let again = s.twostage(&["hook", "post-tag", "v1.4.3"]).success();
    assert!(
        !again.stderr.contains("Building"),
        "built once, by release: {}",
        again.stderr
    );
    // The tag is deleted and made again on a fixed commit: the old build must not be reused.
    s.git(&["tag", "-d", "v1.4.3"]);
    s.write("ts_remade/__init__.py", "\"\"\"Fixed.\"\"\"\n");
    s.commit_all("Fix");
    s.git(&["tag", "-a", "v1.4.3", "-m", "Release v1.4.3"]);
    s.twostage(&["hook", "post-tag", "v1.4.3"])
        .success()
        .stderr_has("Building");
}

#[test]
fn a_rerun_keeps_the_first_staging_record_and_appends_its_own() {
    let name = "ts-stage-twice";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.twostage(&["release", "patch"]).success();
    // The first run uploads both files, then its smoke test fails.
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["stage", "v1.4.3"])
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("TWOSTAGE_VERIFY_SMOKE", "false")
        .output()
        .unwrap();
    Run::from(out).failure(1);
    let seen = uploads_seen(name);
    // The second uploads nothing and verifies.
    s.stage(&["v1.4.3"], SENTINEL).success();
    assert_eq!(uploads_seen(name), seen);

    let note = release_note(&s, "v1.4.3");
    let sha256 = note_artifacts(&note);
    // `[staging]` is still the first run: both files uploaded, with the sha256 the index serves.
    let mut uploaded: Vec<(String, Option<String>)> = note["staging"]["uploaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let f = f.as_str().unwrap();
            (f.to_string(), Some(sha256[f].to_string()))
        })
        .collect();
    uploaded.sort();
    assert_eq!(uploaded.len(), 2, "{note}");
    assert_eq!(uploaded, listing(Staging::Pypiserver, name));
    assert_eq!(uploaded, frozen(&s, "v1.4.3"));
    // The rerun is appended: nothing uploaded, both already there.
    let runs = note["staging"]["runs"].as_array_of_tables().unwrap();
    assert_eq!(runs.len(), 1, "{note}");
    let rerun = runs.get(0).unwrap();
    assert!(rerun["uploaded"].as_array().unwrap().is_empty(), "{note}");
    assert_eq!(rerun["already-present"].as_array().unwrap().len(), 2);
    // The failed verification is kept; the passing one is appended and is what counts.
    assert_eq!(note["verification"]["result"].as_str(), Some("failed"));
    let verifications = note["verification"]["runs"].as_array_of_tables().unwrap();
    assert_eq!(
        verifications.iter().last().unwrap()["result"].as_str(),
        Some("verified")
    );
    // No path of this machine: the log is named relative to the work directory.
    let text = note.to_string();
    assert!(!text.contains(s.dir.to_str().unwrap()), "{text}");
    assert!(!text.contains("/.git/"), "{text}");
    let log = note["verification"]["log"].as_str().unwrap();
    assert!(
        s.work.join(".git/twostage/v1.4.3").join(log).is_file(),
        "{log}"
    );
    // Promotion reads the latest verification: the gate opens.
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["promote", "v1.4.3", "--dry-run"])
        .env("PYPI_TOKEN", SENTINEL)
        .output()
        .unwrap();
    Run::from(out).success();
}
