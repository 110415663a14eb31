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
