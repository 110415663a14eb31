//! HTTPS as a corporate TLS-inspecting proxy makes it: the staging index is reached through
//! mitmproxy, whose certificate comes from a CA that only `SSL_CERT_FILE` or `SSL_CERT_DIR`
//! names. With either variable the release is staged; without, it stops at once, says which
//! variable to set, and uploads nothing. The variables are set per command, never in this
//! process, so no other test trusts the CA.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use testbed::HttpsProxy;

/// A released and built sample, and an HTTPS front for the staging index.
fn released_behind_https(name: &str) -> (Scratch, HttpsProxy) {
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.twostage(&["release", "patch"]).success(); // tags and builds
    let proxy = HttpsProxy::start(&s.dir.join("https"), &indexes().pypi.root_url).unwrap();
    (s, proxy)
}

/// `stage v1.4.3` against the HTTPS front, with the certificate variables as given and no
/// others (the runner's own `SSL_CERT_*` must not decide the outcome).
fn stage(
    s: &Scratch,
    proxy: &HttpsProxy,
    variables: &[(&str, &Path)],
) -> (Run, std::time::Duration) {
    stage_with(s, &proxy.url, &format!("{}simple/", proxy.url), variables)
}

fn stage_with(
    s: &Scratch,
    upload_url: &str,
    index_url: &str,
    variables: &[(&str, &Path)],
) -> (Run, std::time::Duration) {
    let mut command: Command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .args(["stage", "v1.4.3"])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("TWOSTAGE_STAGING_UPLOAD_URL", upload_url)
        .env("TWOSTAGE_STAGING_INDEX_URL", index_url);
    for (key, value) in variables {
        command.env(key, value);
    }
    let started = std::time::Instant::now();
    let run = Run::from(command.output().unwrap());
    (run, started.elapsed())
}

fn assert_staged_over_https(s: &Scratch, proxy: &HttpsProxy, name: &str) {
    let files = frozen_files(s, "v1.4.3");
    assert_eq!(files.len(), 2, "a wheel and an sdist: {files:?}");
    assert_eq!(pypiserver_files(name), files);
    let (established, failed) = proxy.handshakes();
    assert!(established > 0, "nothing went through the HTTPS front");
    assert_eq!(failed, 0, "a client refused the front's certificate");
    let note = s.git(&["notes", "--ref=release", "show", "v1.4.3^{commit}"]);
    assert!(note.contains("result = \"verified\""), "{note}");
}

#[test]
fn an_index_signed_by_a_ca_in_ssl_cert_file_is_trusted() {
    let (s, proxy) = released_behind_https("ts-tls-file");
    let (run, _) = stage(&s, &proxy, &[("SSL_CERT_FILE", &proxy.ca)]);
    run.success();
    assert_staged_over_https(&s, &proxy, "ts-tls-file");
}

#[test]
fn an_index_signed_by_a_ca_in_ssl_cert_dir_is_trusted() {
    let (s, proxy) = released_behind_https("ts-tls-dir");
    // A list of folders, as OpenSSL reads it: an empty one, then one with the CA among other
    // files.
    let empty = s.dir.join("certs-empty");
    let certs = s.dir.join("certs");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&proxy.ca, certs.join("corporate-ca.crt")).unwrap();
    std::fs::write(certs.join("README"), "certificates of this machine\n").unwrap();
    let list = PathBuf::from(format!("{}:{}", empty.display(), certs.display()));
    let (run, _) = stage(&s, &proxy, &[("SSL_CERT_DIR", &list)]);
    run.success();
    assert_staged_over_https(&s, &proxy, "ts-tls-dir");
}

#[test]
fn an_untrusted_certificate_stops_at_once_and_names_ssl_cert_file() {
    let (s, proxy) = released_behind_https("ts-tls-untrusted");
    let (run, elapsed) = stage(&s, &proxy, &[]);
    let run = run.failure(1);
    run.stderr_has("is not trusted by this machine's certificate store")
        .stderr_has("set `SSL_CERT_FILE` to a PEM file with that CA");
    assert!(
        pypiserver_files("ts-tls-untrusted").is_empty(),
        "nothing was uploaded"
    );
    // One refused handshake: the failure was not retried as a network fault.
    assert_eq!(proxy.handshakes(), (0, 1), "{}", run.stderr);
    eprintln!("refused after {elapsed:?}");

    // The same for the upload, when only the upload URL goes through the front.
    let (run, _) = stage_with(&s, &proxy.url, &indexes().pypi.index_url(), &[]);
    let run = run.failure(1);
    run.stderr_has("set `SSL_CERT_FILE` to a PEM file with that CA");
    assert!(
        pypiserver_files("ts-tls-untrusted").is_empty(),
        "nothing was uploaded"
    );
    assert_eq!(
        proxy.handshakes(),
        (0, 2),
        "the upload was not retried: {}",
        run.stderr
    );
}

#[test]
fn a_missing_ssl_cert_file_is_a_clear_error() {
    let (s, proxy) = released_behind_https("ts-tls-missing");
    let missing = s.dir.join("no-such-ca.pem");
    let (run, _) = stage(&s, &proxy, &[("SSL_CERT_FILE", &missing)]);
    let run = run.failure(1);
    run.stderr_has(&format!(
        "`SSL_CERT_FILE` names `{}`, which cannot be read",
        missing.display()
    ));
    assert!(
        pypiserver_files("ts-tls-missing").is_empty(),
        "nothing was uploaded"
    );
    assert_eq!(proxy.handshakes(), (0, 1), "{}", run.stderr);
}
