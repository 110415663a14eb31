//! Faults injected by a real reverse proxy (mitmproxy) in front of a real index: the release
//! converges, every file is on the index once with its recorded hash, or it fails clearly with
//! nothing wrong uploaded.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;

use crate::common::*;
use testbed::FaultProxy;

/// A released sample whose staging index is reached through a fault proxy.
fn behind_proxy(name: &str) -> (Scratch, FaultProxy) {
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    // `release` builds the tag, so the faults hit only the staging.
    s.twostage(&["release", "patch"]).success();
    let proxy = FaultProxy::start(&s.dir.join("proxy"), &indexes().pypi.root_url).unwrap();
    (s, proxy)
}

fn stage(s: &Scratch, proxy: &FaultProxy, extra: &[(&str, &str)]) -> Run {
    Run::from(stage_command(s, proxy, extra).output().unwrap())
}

/// filename → sha256 as the index itself serves them (not through the proxy).
fn on_index(name: &str) -> BTreeMap<String, String> {
    served_map(&indexes().pypi.index_url(), name)
}

/// The upload requests that reached the proxy, as its event log records them.
fn posts(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .events()
        .into_iter()
        .filter(|e| e.starts_with("POST "))
        .collect()
}

#[test]
fn transient_answers_and_dropped_connections_are_retried_and_nothing_is_doubled() {
    let (s, proxy) = behind_proxy("ts-fault-retry");
    // More failures than attempts: a clear error, after a bounded number of tries.
    proxy.set(&serde_json::json!({"upload_503": 4})).unwrap();
    stage(&s, &proxy, &[])
        .failure(1)
        .stderr_has("after 4 attempts");
    assert!(on_index("ts-fault-retry").is_empty(), "nothing was stored");
    // Fewer: retried through to success.
    proxy
        .set(&serde_json::json!({"upload_503": 1, "upload_429": 1, "drop_before_upload": 1, "hold_seconds": 0.2}))
        .unwrap();
    let run = stage(&s, &proxy, &[]).success();
    run.stderr_has("retrying");
    let events = proxy.events();
    for fault in ["503", "429", "drop-before"] {
        assert_eq!(
            events.iter().filter(|e| e.starts_with(fault)).count(),
            1,
            "{events:?}"
        );
    }
    assert_eq!(on_index("ts-fault-retry"), frozen_files(&s, "v1.4.3"));
}

#[test]
fn a_reply_lost_after_the_index_stored_the_file_is_settled_by_reading_the_index() {
    let (s, proxy) = behind_proxy("ts-fault-stored");
    proxy
        .set(&serde_json::json!({"drop_after_store": 2}))
        .unwrap();
    stage(&s, &proxy, &[]).success();
    assert_eq!(
        proxy
            .events()
            .iter()
            .filter(|e| e.starts_with("drop-after"))
            .count(),
        2
    );
    // pypiserver answers 409 to any second upload: nothing was uploaded twice.
    assert_eq!(on_index("ts-fault-stored"), frozen_files(&s, "v1.4.3"));
}

#[test]
fn a_lagging_page_is_waited_out_and_reported_when_it_lags_too_long() {
    let (s, proxy) = behind_proxy("ts-fault-lag");
    proxy.set(&serde_json::json!({"lag_seconds": 3})).unwrap();
    let started = std::time::Instant::now();
    stage(&s, &proxy, &[]).success();
    assert!(started.elapsed().as_secs() >= 3, "the lag was waited out");
    assert!(proxy.events().iter().any(|e| e.starts_with("lag")));

    let (s, proxy) = behind_proxy("ts-fault-lag-long");
    proxy.set(&serde_json::json!({"lag_seconds": 60})).unwrap();
    stage(&s, &proxy, &[("TWOSTAGE_VERIFY_INDEX_TIMEOUT", "2s")])
        .failure(1)
        .stderr_has("the staging index still does not list")
        .stderr_has("`verify.index-timeout` is 2s");
    // The files are on the index (it was only the page that lagged), with the right bytes.
    assert_eq!(on_index("ts-fault-lag-long"), frozen_files(&s, "v1.4.3"));
}

#[test]
fn a_page_that_goes_back_to_an_older_state_is_read_until_it_is_stable() {
    let (s, proxy) = behind_proxy("ts-fault-flap");
    // Once both files are uploaded: a page that lists them, then an older one that does not
    // (a CDN serving a stale copy), then pages that list them again.
    proxy
        .set(&serde_json::json!({"flap_after_uploads": 2, "flap_pages": ["has", "lacks"]}))
        .unwrap();
    stage(&s, &proxy, &[]).success();
    let pages: Vec<String> = proxy
        .events()
        .iter()
        .filter_map(|e| e.strip_prefix("page ").map(str::to_string))
        .collect();
    let ours = format!("twostage/{}", env!("CARGO_PKG_VERSION"));
    // The wait did not end on the first good read: it read the older page, then as many good
    // ones in a row as it asks for, before anything else read the page.
    let stable = twostage::resources::index::STABLE_READS as usize;
    let expected: Vec<&str> = ["has", "lacks"]
        .into_iter()
        .chain(std::iter::repeat_n("has", stable))
        .collect();
    assert_eq!(
        pages
            .iter()
            .take(expected.len())
            .cloned()
            .collect::<Vec<_>>(),
        expected
            .iter()
            .map(|kind| format!("{kind} {ours}"))
            .collect::<Vec<_>>(),
        "{pages:?}"
    );
    assert_eq!(on_index("ts-fault-flap"), frozen_files(&s, "v1.4.3"));

    // A page that keeps going back fails when the time is up, and says so.
    let (s, proxy) = behind_proxy("ts-fault-flap-long");
    let flapping: Vec<&str> = ["has", "lacks"].repeat(50);
    proxy
        .set(&serde_json::json!({"flap_after_uploads": 2, "flap_pages": flapping}))
        .unwrap();
    stage(&s, &proxy, &[("TWOSTAGE_VERIFY_INDEX_TIMEOUT", "2s")])
        .failure(1)
        .stderr_has("the staging index's page still changes between reads");
    assert_eq!(on_index("ts-fault-flap-long"), frozen_files(&s, "v1.4.3"));

    // A steady page is confirmed even past a timeout shorter than the confirming reads.
    let (s, proxy) = behind_proxy("ts-fault-flap-short");
    proxy
        .set(&serde_json::json!({"flap_after_uploads": 2, "flap_pages": ["has"]}))
        .unwrap();
    stage(&s, &proxy, &[("TWOSTAGE_VERIFY_INDEX_TIMEOUT", "1s")]).success();
    let note = release_note(&s, "v1.4.3");
    assert!(
        note["verification"]["result"].as_str() == Some("verified"),
        "{note}"
    );
}

#[test]
fn a_misreported_hash_fails_the_stage_and_blocks_the_promotion() {
    let (s, proxy) = behind_proxy("ts-fault-sha");
    let wheel = frozen_files(&s, "v1.4.3")
        .into_keys()
        .find(|f| f.ends_with(".whl"))
        .unwrap();
    proxy
        .set(&serde_json::json!({"wrong_sha256": {wheel.clone(): "0".repeat(64)}}))
        .unwrap();
    stage(&s, &proxy, &[])
        .failure(1)
        .stderr_has(&format!("serves `{wheel}` with sha256 {}", "0".repeat(64)))
        .stderr_has("do not promote this release");
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["promote", "v1.4.3"])
        .env("PYPI_TOKEN", SENTINEL)
        .env(
            "TWOSTAGE_STAGING_INDEX_URL",
            format!("{}simple/", proxy.url),
        )
        .output()
        .unwrap();
    Run::from(out).failure(1).stderr_has("nothing was changed");
}

#[test]
fn a_garbage_page_is_a_clear_error() {
    let (s, proxy) = behind_proxy("ts-fault-garbage");
    proxy
        .set(&serde_json::json!({"garbage_pages": 100}))
        .unwrap();
    stage(&s, &proxy, &[])
        .failure(1)
        .stderr_has("is not a valid PEP 503 project page");
    // The project was new (its page a 404, not garbled), so the files went up before the wait
    // read garbage: what is there is right, and a rerun converges without uploading again.
    assert_eq!(on_index("ts-fault-garbage"), frozen_files(&s, "v1.4.3"));
    let first = posts(&proxy);
    assert_eq!(first.len(), 2, "the first run's two uploads: {first:?}");
    // (Setting the faults empties the proxy's log.)
    proxy.set(&serde_json::json!({})).unwrap();
    let seen = uploads_seen("ts-fault-garbage");
    let run = stage(&s, &proxy, &[]).success();
    assert_eq!(uploads_seen("ts-fault-garbage"), seen, "{}", run.stderr);
    assert_eq!(
        posts(&proxy),
        Vec::<String>::new(),
        "no upload passed the proxy"
    );
    assert_eq!(on_index("ts-fault-garbage"), frozen_files(&s, "v1.4.3"));
}

/// `kill_group_when`, and the stderr seen until the kill holds no secret.
fn kill_when(command: std::process::Command, needle: &str, after: std::time::Duration) -> String {
    let seen = kill_group_when(command, needle, after);
    assert!(!seen.contains(SENTINEL));
    seen
}

fn stage_command(s: &Scratch, proxy: &FaultProxy, extra: &[(&str, &str)]) -> std::process::Command {
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .args(["stage", "v1.4.3"])
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("TWOSTAGE_STAGING_UPLOAD_URL", &proxy.url)
        .env(
            "TWOSTAGE_STAGING_INDEX_URL",
            format!("{}simple/", proxy.url),
        );
    for (k, v) in extra {
        command.env(k, v);
    }
    command
}

/// The end state every interrupted stage must converge to.
fn assert_staged_and_verified(s: &Scratch, name: &str) {
    assert_eq!(on_index(name), frozen_files(s, "v1.4.3"));
    let note = s.git(&["notes", "--ref=release", "show", "v1.4.3^{commit}"]);
    assert!(note.contains("result = \"verified\""), "{note}");
}

#[test]
fn a_stage_killed_at_every_step_converges_on_the_rerun() {
    let ms = std::time::Duration::from_millis;
    // During the build (a slow build command).
    let s = Scratch::new("ts-kill-build");
    sample(&s, Layout::StaticFlit, "ts-kill-build");
    s.twostage(&["release", "patch"]).success();
    // `release` built the tag: the stage builds it again, as a fresh clone's would.
    forget_build(&s, "v1.4.3");
    let proxy = FaultProxy::start(&s.dir.join("proxy"), &indexes().pypi.root_url).unwrap();
    let slow = format!(
        "sleep 5; {}",
        s.read("release.toml")
            .lines()
            .find(|l| l.starts_with("command = "))
            .unwrap()
            .trim_start_matches("command = \"")
            .trim_end_matches('"')
            .replace("\\\"", "\"")
    );
    kill_when(
        stage_command(&s, &proxy, &[("TWOSTAGE_BUILD_COMMAND", &slow)]),
        "Building",
        ms(500),
    );
    stage(&s, &proxy, &[]).success();
    assert_staged_and_verified(&s, "ts-kill-build");

    // During each upload (held at the proxy), during the wait (a lagging page) and during the
    // verification.
    for (name, faults, needle, after) in [
        (
            "ts-kill-upload1",
            serde_json::json!({"hold_seconds": 2}),
            "Uploading",
            ms(500),
        ),
        (
            "ts-kill-upload2",
            serde_json::json!({"hold_seconds": 1}),
            ".tar.gz` to staging",
            ms(300),
        ),
        (
            "ts-kill-wait",
            serde_json::json!({"lag_seconds": 30}),
            ".tar.gz` to staging",
            ms(1500),
        ),
        (
            "ts-kill-verify",
            serde_json::json!({}),
            "Installing",
            ms(200),
        ),
    ] {
        let (s, proxy) = behind_proxy(name);
        proxy.set(&faults).unwrap();
        let seen = kill_when(stage_command(&s, &proxy, &[]), needle, after);
        assert!(seen.contains(needle), "{name}: {seen}");
        proxy.set(&serde_json::json!({})).unwrap();
        let rerun = stage(&s, &proxy, &[]).success();
        rerun.stderr_has("is staged and verified");
        assert_staged_and_verified(&s, name);
    }
}

#[test]
fn a_promotion_killed_during_the_uploads_or_the_tag_push_converges_on_the_rerun() {
    let ms = std::time::Duration::from_millis;
    for (name, needle, after) in [
        ("ts-kill-production", "Uploading", ms(500)),
        ("ts-kill-tag-push", "Pushing `v1.4.3-prod`", ms(500)),
    ] {
        let (s, staging) = behind_proxy(name);
        stage(&s, &staging, &[]).success();
        let ix = indexes();
        let production = FaultProxy::start(&s.dir.join("production-proxy"), &ix.devpi.url).unwrap();
        production
            .set(&serde_json::json!({"hold_seconds": 2}))
            .unwrap();
        // The origin takes its time over a push, so that one can be interrupted.
        let hook = s.origin.join("hooks/pre-receive");
        std::fs::write(&hook, "#!/bin/sh\ncat >/dev/null\nsleep 3\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let promote = || {
            let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
            command
                .args(["promote", "v1.4.3", "--no-github"])
                .env("PYPI_TOKEN", SENTINEL)
                .env(
                    "TWOSTAGE_STAGING_INDEX_URL",
                    format!("{}simple/", staging.url),
                )
                .env(
                    "TWOSTAGE_PRODUCTION_UPLOAD_URL",
                    format!("{}tester/production/", production.url),
                )
                .env(
                    "TWOSTAGE_PRODUCTION_INDEX_URL",
                    format!("{}tester/production/+simple/", production.url),
                );
            command
        };
        let seen = kill_when(promote(), needle, after);
        assert!(seen.contains(needle), "{name}: {seen}");
        production.set(&serde_json::json!({})).unwrap();
        std::fs::remove_file(&hook).unwrap();
        Run::from(promote().output().unwrap()).success();
        // Production serves exactly the staged bytes, and origin has the -prod tag on the
        // release commit.
        let served = served_map(&ix.devpi_index.index_url, name);
        assert_eq!(served, frozen_files(&s, "v1.4.3"), "{name}");
        assert_eq!(
            s.git_in(&s.origin, &["rev-parse", "v1.4.3-prod^{commit}"]),
            s.git(&["rev-parse", "v1.4.3^{commit}"]),
            "{name}"
        );
    }
}

#[test]
fn spaces_non_utf8_names_and_credentials_in_urls_are_handled_and_never_shown() {
    // A repository under a path with a space, holding a file whose name is not UTF-8.
    let s = Scratch::new("ts with space");
    sample(&s, Layout::StaticFlit, "ts-odd-paths");
    let odd = std::ffi::OsStr::from_bytes(b"notes-\xff\xfe.txt");
    std::fs::write(s.work.join(odd), "bytes\n").unwrap();
    s.commit_all("A file with a non-UTF-8 name");
    s.twostage(&["release", "patch"]).success();
    // The staging index URL carries credentials: they are used, and redacted everywhere.
    let ix = indexes();
    let with_credentials = ix
        .pypi
        .index_url()
        .replace("http://", &format!("http://__token__:{SENTINEL}@"));
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["stage", "v1.4.3"])
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("TWOSTAGE_STAGING_INDEX_URL", &with_credentials)
        .output()
        .unwrap();
    let run = Run::from(out);
    run.success().stderr_has("is staged and verified");
    let note = s.git(&["notes", "--ref=release", "show", "v1.4.3^{commit}"]);
    assert!(
        note.contains("index-url = \"http://***@127.0.0.1"),
        "{note}"
    );
    assert_no_secret_in(&s, SENTINEL);
}

#[test]
fn hostile_artifacts_are_refused_before_anything_is_uploaded() {
    use std::io::Write;
    let s = Scratch::new("ts-hostile");
    sample(&s, Layout::StaticFlit, "ts-hostile");
    s.twostage(&["release", "patch"]).success();
    // The set comes from elsewhere, not the one `release` built.
    forget_build(&s, "v1.4.3");
    let dist = s.dir.join("hostile");
    std::fs::create_dir_all(&dist).unwrap();
    // A wheel whose METADATA inflates to 64 MiB from a few dozen KiB: a zip bomb.
    let mut zip = zip::ZipWriter::new(
        std::fs::File::create(dist.join("ts_hostile-1.4.3-py3-none-any.whl")).unwrap(),
    );
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("ts_hostile-1.4.3.dist-info/METADATA", deflated)
        .unwrap();
    for _ in 0..64 {
        zip.write_all(&[b'a'; 1 << 20]).unwrap();
    }
    zip.finish().unwrap();
    // An sdist with two PKG-INFO files.
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dist.join("ts_hostile-1.4.3.tar.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for body in [
        &b"Name: ts-hostile\nVersion: 1.4.3\n"[..],
        &b"Name: evil\nVersion: 9.9\n"[..],
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "ts_hostile-1.4.3/PKG-INFO", body)
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let before = s.snapshot();
    s.stage(&["v1.4.3", "--dist", dist.to_str().unwrap()], SENTINEL)
        .failure(1)
        .stderr_has("is larger than 8 MiB")
        .stderr_has("more than one `ts_hostile-1.4.3/PKG-INFO`");
    assert!(on_index("ts-hostile").is_empty(), "nothing was uploaded");
    assert_eq!(s.snapshot(), before, "nothing changed");
}

/// A copy of `wheel` under the Python tag `python` (`py38`): its `WHEEL` file's `Tag`s and
/// `RECORD`'s row for it rewritten, every other member as it was. A release of several
/// wheels from one pure-Python build.
fn retagged(wheel: &std::path::Path, python: &str, dir: &std::path::Path) -> std::path::PathBuf {
    use base64::Engine;
    use sha2::Digest;
    use std::io::{Read, Write};
    let name = wheel.file_name().unwrap().to_str().unwrap();
    let parts: Vec<&str> = name.trim_end_matches(".whl").split('-').collect();
    let target = dir.join(format!("{}-{}-{python}-none-any.whl", parts[0], parts[1]));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let mut members: Vec<(String, Vec<u8>)> = (0..archive.len())
        .map(|i| {
            let mut member = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            member.read_to_end(&mut bytes).unwrap();
            (member.name().unwrap().to_string(), bytes)
        })
        .collect();
    let (wheel_path, wheel_file) = members
        .iter_mut()
        .find(|(n, _)| n.ends_with(".dist-info/WHEEL"))
        .unwrap();
    let text = String::from_utf8(wheel_file.clone()).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("Tag:"))
        .map(str::to_string)
        .collect();
    lines.push(format!("Tag: {python}-none-any"));
    *wheel_file = (lines.join("\n") + "\n").into_bytes();
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(&wheel_file[..]));
    let row = format!("{wheel_path},sha256={digest},{}", wheel_file.len());
    let wheel_path = wheel_path.clone();
    let (_, record) = members
        .iter_mut()
        .find(|(n, _)| n.ends_with(".dist-info/RECORD"))
        .unwrap();
    let record_text = String::from_utf8(record.clone()).unwrap();
    *record = record_text
        .lines()
        .map(|l| match l.starts_with(&format!("{wheel_path},")) {
            true => row.clone(),
            false => l.to_string(),
        })
        .map(|l| l + "\n")
        .collect::<String>()
        .into_bytes();
    let mut out = zip::ZipWriter::new(std::fs::File::create(&target).unwrap());
    for (name, bytes) in &members {
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(bytes).unwrap();
    }
    out.finish().unwrap();
    target
}

/// The Python tags of the wheels `several_files` adds to the built one.
const MORE_TAGS: [&str; 5] = ["py38", "py39", "py310", "py311", "py312"];

/// A released sample behind the fault proxy whose release is 7 files: the built wheel and
/// sdist, and the wheel under 5 more Python tags, in `dist/` for `stage --dist`.
fn several_files(name: &str) -> (Scratch, FaultProxy, std::path::PathBuf) {
    let (s, proxy) = behind_proxy(name);
    let built = frozen_dir(&s, "v1.4.3");
    let dist = s.dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for entry in std::fs::read_dir(&built).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dist.join(path.file_name().unwrap())).unwrap();
        if path.extension().is_some_and(|e| e == "whl") {
            for tag in MORE_TAGS {
                retagged(&path, tag, &dist);
            }
        }
    }
    forget_build(&s, "v1.4.3");
    (s, proxy, dist)
}

fn stage_dist(s: &Scratch, proxy: &FaultProxy, dist: &std::path::Path) -> Run {
    let mut command = stage_command(s, proxy, &[]);
    command.args(["--dist", dist.to_str().unwrap(), "--no-verify"]);
    Run::from(command.output().unwrap())
}

/// The most uploads the proxy saw in flight at once (its `inflight N` events).
fn most_in_flight(proxy: &FaultProxy) -> usize {
    proxy
        .events()
        .iter()
        .filter_map(|e| e.strip_prefix("inflight ")?.parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_release_of_several_files_goes_up_several_at_once_and_is_waited_for_once() {
    let (s, proxy, dist) = several_files("ts-fault-concurrent");
    // Every request held 0.3 s: uploads one after another would never overlap.
    proxy
        .set(&serde_json::json!({"hold_seconds": 0.3}))
        .unwrap();
    let run = stage_dist(&s, &proxy, &dist).success();
    let offered = hashed_files(&dist, |_| true);
    assert_eq!(offered.len(), 7);
    // What the index serves, read past the proxy: every file, with its sha256.
    assert_eq!(on_index("ts-fault-concurrent"), offered);
    let in_flight = most_in_flight(&proxy);
    let bound = twostage::core::upload::UPLOADS_IN_FLIGHT;
    assert!(
        in_flight > 1 && in_flight <= bound,
        "at most {in_flight} uploads in flight at once (bound {bound}): {:?}",
        proxy.events()
    );
    // The release is new on the index: its first file went up alone (it creates the
    // release), the others only after it had its answer.
    let arrivals: Vec<String> = proxy
        .events()
        .into_iter()
        .filter(|e| e.starts_with("inflight "))
        .collect();
    assert_eq!(arrivals[..2], ["inflight 1", "inflight 1"], "{arrivals:?}");
    // Each file went up once, the sdist after every wheel had its answer.
    let uploads = posts(&proxy);
    assert_eq!(uploads.len(), 7, "{uploads:?}");
    assert!(uploads.last().unwrap().ends_with(".tar.gz"), "{uploads:?}");
    // One wait for the set: one "Confirming" for all seven files.
    assert_eq!(
        run.stderr.matches("Confirming").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn a_file_the_index_refuses_fails_the_set_after_the_others_and_a_rerun_uploads_only_it() {
    let (s, proxy, dist) = several_files("ts-fault-one-refused");
    let refused = "ts_fault_one_refused-1.4.3-py310-none-any.whl";
    assert!(dist.join(refused).exists());
    proxy
        .set(&serde_json::json!({"refuse_upload": {refused: 400}, "hold_seconds": 0.1}))
        .unwrap();
    let run = stage_dist(&s, &proxy, &dist).failure(1);
    run.stderr_has(&format!("`{refused}`"))
        .stderr_has("1 of 7 files could not be put on the staging index");
    // The other wheels went up and are served; the sdist waits for every wheel, so it is held.
    let offered = hashed_files(&dist, |_| true);
    let served = on_index("ts-fault-one-refused");
    let wheels_but_refused: BTreeMap<String, String> = offered
        .iter()
        .filter(|(f, _)| f.ends_with(".whl") && f.as_str() != refused)
        .map(|(f, h)| (f.clone(), h.clone()))
        .collect();
    assert_eq!(served, wheels_but_refused, "{}", run.stderr);
    assert_eq!(posts(&proxy).len(), 6, "{:?}", proxy.events());
    // Nothing recorded as staged in the note.
    let note = s
        .command("git")
        .args(["notes", "--ref=release", "show", "v1.4.3^{commit}"])
        .output()
        .unwrap();
    let note = String::from_utf8_lossy(&note.stdout);
    assert!(!note.contains("[staging]"), "{note}");
    // The rerun, the index no longer refusing: in the proxy's log and on pypiserver's disk,
    let stored = pypiserver_stored("ts-fault-one-refused");
    proxy.set(&serde_json::json!({})).unwrap();
    stage_dist(&s, &proxy, &dist).success();
    // only the refused wheel and then the sdist go up, the others' stored files untouched.
    let sdist = offered.keys().find(|f| f.ends_with(".tar.gz")).unwrap();
    assert_eq!(
        posts(&proxy),
        vec![format!("POST {refused}"), format!("POST {sdist}")]
    );
    assert_eq!(on_index("ts-fault-one-refused"), offered);
    let after = pypiserver_stored("ts-fault-one-refused");
    for (file, state) in &stored {
        assert_eq!(after.get(file), Some(state), "`{file}` was stored again");
    }
}
