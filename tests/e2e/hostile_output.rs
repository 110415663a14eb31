//! Everything from outside is untrusted: nothing the tool prints carries a secret (a token
//! echoed back split across lines, a URL password of any shape, a configuration file that is
//! really `~/.pypirc`) or a terminal control sequence (from an index, a page, GitHub, a
//! changelog, a note); every wait has a bound; memory stays flat in the size of what is read.
//! The misbehaving servers are tiny stand-ins on 127.0.0.1 in front of the real pypiserver.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// What a hostile server sends: OSC 52 (write the clipboard), clear the screen, BEL.
const HOSTILE: &str = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\x07";

/// No raw ESC or BEL in either stream: every control sequence was made visible.
#[track_caller]
fn assert_no_control_bytes(run: &Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.bytes().any(|b| b == 0x1b || b == 0x07),
            "{name} holds a raw control byte:\n{text:?}"
        );
    }
}

/// One request as the stand-in read it.
struct Request {
    method: String,
    path: String,
    head: String,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

/// One answer: status, content type, body, and whether the body goes out a byte a second.
struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    trickle: bool,
}

impl Reply {
    fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            content_type: content_type.into(),
            body: body.into(),
            trickle: false,
        }
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A stand-in on 127.0.0.1: every request is answered by `handler`, one connection each
/// (`Connection: close`). Its log holds `<METHOD> <path>` per request, and `hung up after
/// <secs>` when the client went away during a trickled body.
struct Standin {
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Standin {
    fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Standin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, log) = (handler.clone(), seen.clone());
                std::thread::spawn(move || serve(stream, &*handler, &log));
            }
        });
        Standin { url, log }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn count(&self, prefix: &str) -> usize {
        self.log().iter().filter(|l| l.starts_with(prefix)).count()
    }
}

fn serve(mut stream: TcpStream, handler: &Handler, log: &Mutex<Vec<String>>) {
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    log.lock()
        .unwrap()
        .push(format!("{} {}", request.method, request.path));
    let reply = handler(&request);
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    if !reply.trickle {
        let _ = stream.write_all(&reply.body);
        return;
    }
    let started = Instant::now();
    for byte in &reply.body {
        if stream
            .write_all(&[*byte])
            .and_then(|_| stream.flush())
            .is_err()
        {
            log.lock()
                .unwrap()
                .push(format!("hung up after {}", started.elapsed().as_secs()));
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    log.lock().unwrap().push("trickled to the end".into());
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? != 1 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut words = head.split_whitespace();
    let (method, path) = (words.next()?.to_string(), words.next()?.to_string());
    let mut request = Request {
        method,
        path,
        head,
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    request.body = vec![0u8; length];
    stream.read_exact(&mut request.body).ok()?;
    Some(request)
}

/// The request passed on to pypiserver as HTTP/1.0 (whole, never chunked), and its answer.
fn forward(request: &Request) -> Reply {
    let root = indexes().pypi.root_url.clone();
    let host = root
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut upstream = TcpStream::connect(&host).unwrap();
    let mut out = format!(
        "{} {} HTTP/1.0\r\nHost: {host}\r\n",
        request.method, request.path
    );
    for line in request.head.lines().skip(1) {
        let key = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !line.is_empty() && !["host", "connection"].contains(&key.as_str()) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    upstream.write_all(out.as_bytes()).unwrap();
    upstream.write_all(&request.body).unwrap();
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "text/html".into());
    Reply::new(status, &content_type, answer[split + 4..].to_vec())
}

/// The password of a Basic `Authorization` header.
fn basic_password(request: &Request) -> String {
    use base64::Engine;
    let header = request.header("authorization").unwrap_or_default();
    let encoded = header.trim_start_matches("Basic ");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_default();
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    decoded
        .split_once(':')
        .map(|(_, p)| p.to_string())
        .unwrap_or(decoded)
}

/// A released sample (its tag built, its staging index pypiserver).
fn released(name: &str) -> Scratch {
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.twostage(&["release", "patch"]).success();
    s
}

/// `stage v1.4.3` uploading to `upload_url` (the index read is pypiserver's own, unless
/// `index_url` says otherwise), with `token` as the staging token.
fn stage_via(s: &Scratch, upload_url: &str, index_url: Option<&str>, token: &str) -> Run {
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .args(["stage", "v1.4.3"])
        .env("TEST_PYPI_TOKEN", token)
        .env("TWOSTAGE_STAGING_UPLOAD_URL", upload_url);
    if let Some(index_url) = index_url {
        command.env("TWOSTAGE_STAGING_INDEX_URL", index_url);
    }
    Run::from(command.output().unwrap())
}

/// `release patch --dry-run` with extra variables.
fn dry_run(s: &Scratch, env: &[(&str, &str)]) -> Run {
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command.args(["release", "patch", "--dry-run"]);
    for (k, v) in env {
        command.env(k, v);
    }
    Run::from(command.output().unwrap())
}

fn pypi_host() -> String {
    indexes()
        .pypi
        .root_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

// Secrets.

#[test]
fn a_release_toml_symlinked_to_a_file_holding_a_token_is_refused_unread() {
    let s = Scratch::new("hostile-symlink");
    sample(&s, Layout::StaticFlit, "ts-hostile-symlink");
    let pypirc = s.home.join(".pypirc");
    std::fs::write(
        &pypirc,
        format!("[pypi]\npassword = {SENTINEL}\nusername = __token__\n"),
    )
    .unwrap();
    std::fs::remove_file(s.work.join("release.toml")).unwrap();
    std::os::unix::fs::symlink(&pypirc, s.work.join("release.toml")).unwrap();
    let before = s.snapshot();
    // `Run` fails the test if the token is in either stream.
    dry_run(&s, &[])
        .failure(2)
        .stderr_has("release.toml` is a symbolic link, not a regular file");
    s.twostage(&["status"])
        .failure(2)
        .stderr_has("is a symbolic link");
    // A FIFO is refused too, without blocking on it.
    std::fs::remove_file(s.work.join("release.toml")).unwrap();
    let fifo = std::ffi::CString::new(s.work.join("release.toml").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    dry_run(&s, &[])
        .failure(2)
        .stderr_has("is a special file, not a regular file");
    std::fs::remove_file(s.work.join("release.toml")).unwrap();
    std::os::unix::fs::symlink(&pypirc, s.work.join("release.toml")).unwrap();
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_malformed_release_toml_line_holding_a_token_is_never_quoted() {
    let s = Scratch::new("hostile-malformed");
    sample(&s, Layout::StaticFlit, "ts-hostile-malformed");
    let toml = s.read("release.toml");
    // Each is the first error of its file, on the line that holds the token.
    for bad in [
        format!("[pypi]\npassword = {SENTINEL}\n"),
        format!("[pypi]\ntoken = \"{SENTINEL}\n"),
        format!("[pypi]\n{SENTINEL}\n"),
    ] {
        s.write("release.toml", &format!("{toml}\n{bad}"));
        let before = s.snapshot();
        dry_run(&s, &[])
            .failure(2)
            .stderr_has("is not valid TOML")
            .stderr_has("release.toml:");
        assert_eq!(s.snapshot(), before);
    }
}

#[test]
fn a_token_holding_a_newline_echoed_back_by_the_index_is_never_shown() {
    let s = released("ts-hostile-echo");
    // The index repeats the password in its refusal, as HTML: its reader joins the lines.
    let index = Standin::start(|request| {
        let echoed = basic_password(request);
        Reply::new(
            403,
            "text/html",
            format!("<html><body><h1>403</h1><p>bad token\n{echoed}\n</p></body></html>"),
        )
    });
    let token = "pypi-ECHOED-first-half-4f1c\nECHOED-second-half-9a2e";
    let run = stage_via(&s, &index.url, None, token).failure(1);
    for part in ["ECHOED-first-half-4f1c", "ECHOED-second-half-9a2e"] {
        run.assert_not_shown(part);
    }
    run.stderr_has("HTTP 403").stderr_has("bad token ***");
    assert!(index.count("POST ") >= 1, "{:?}", index.log());
    assert!(pypiserver_files("ts-hostile-echo").is_empty());
    // The same token, percent-encoded by the index.
    let index = Standin::start(|request| {
        let echoed = basic_password(request)
            .replace('\n', "%0A")
            .replace('-', "%2D");
        Reply::new(
            400,
            "application/json",
            format!("{{\"message\": \"bad {echoed}\"}}"),
        )
    });
    let run = stage_via(&s, &index.url, None, token).failure(1);
    run.stderr_has("HTTP 400");
    run.assert_not_shown("first%2Dhalf");
    run.assert_not_shown("second%2Dhalf");
}

#[test]
fn a_url_password_of_any_shape_is_a_configuration_error_never_shown() {
    let s = Scratch::new("hostile-url");
    sample(&s, Layout::StaticFlit, "ts-hostile-url");
    let before = s.snapshot();
    let host = pypi_host();
    for password in ["s3cr/URLPASS-1", "s3@cr/URLPASS-2", "s3:cr@e/t?URLPASS-3"] {
        let url = format!("http://rel:{password}@{host}/simple/");
        let run = dry_run(&s, &[("TWOSTAGE_STAGING_INDEX_URL", &url)]).failure(2);
        run.stderr_has("`TWOSTAGE_STAGING_INDEX_URL` (`staging.index-url`)")
            .stderr_has("percent-encode");
        run.assert_not_shown("URLPASS");
        assert_eq!(s.snapshot(), before);
    }
    // In the file, the same.
    let toml = s.read("release.toml");
    let start = toml.find("index-url = ").unwrap();
    let end = start + toml[start..].find('\n').unwrap();
    let mut bad = toml.clone();
    bad.replace_range(
        start..end,
        &format!("index-url = \"http://rel:s3cr/URLPASS-4@{host}/simple/\""),
    );
    s.write("release.toml", &bad);
    let before = s.snapshot();
    let run = dry_run(&s, &[]).failure(2);
    run.stderr_has("`staging.index-url` is `http://***@");
    run.assert_not_shown("URLPASS");
    assert_eq!(s.snapshot(), before);
}

#[test]
fn url_credentials_never_reach_the_build_the_installer_or_a_smoke_command() {
    let s = Scratch::new("hostile-url-env");
    let name = "ts-hostile-url-env";
    let module = name.replace('-', "_");
    copy_fixture(
        "trust-project",
        &s.work,
        &[("name", name), ("module", &module)],
    );
    let toml = release_toml("").replace(
        "[verify]\n",
        &format!("[verify]\nsmoke = [\"python -m {module}.record smoke\"]\n"),
    );
    s.write("release.toml", &toml);
    s.write(".gitignore", "dist/\n__pycache__/\n");
    s.commit_all("Initial import");
    let records = s.dir.join("records");
    std::fs::create_dir_all(&records).unwrap();
    // pypiserver reads without authentication: the credentials ride along unused.
    let password = "URLCRED-SENTINEL-5e7d";
    let url = format!("http://reader:{password}@{}/simple/", pypi_host());
    let run = |args: &[&str]| {
        let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
        command
            .args(args)
            .env("TEST_PYPI_TOKEN", SENTINEL)
            .env("TRUST_RECORD_DIR", &records)
            .env("TWOSTAGE_STAGING_INDEX_URL", &url)
            .env("MY_COPY_OF_THE_URL", &url);
        let run = Run::from(command.output().unwrap());
        run.assert_not_shown(password);
        run
    };
    run(&["release", "patch"]).success();
    run(&["stage", "v1.4.3"]).success();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&records).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(password),
            "{} holds the URL's password",
            path.display()
        );
        assert!(text.contains("TRUST_RECORD_DIR"), "{}", path.display());
        files.push(path.file_name().unwrap().to_str().unwrap().to_string());
    }
    assert!(
        files.iter().any(|f| f.starts_with("backend-build_wheel-")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.starts_with("smoke-smoke-")),
        "{files:?}"
    );
    assert_eq!(
        release_note(&s, "v1.4.3")["verification"]["result"].as_str(),
        Some("verified")
    );
}

// Control sequences.

#[test]
fn an_index_refusal_body_reaches_the_terminal_only_made_visible() {
    let s = released("ts-hostile-refusal");
    let index = Standin::start(|_| {
        Reply::new(
            400,
            "text/html",
            format!("<html><body><p>no{HOSTILE}\u{202e}way\u{9b}31m</p></body></html>"),
        )
    });
    let run = stage_via(&s, &index.url, None, SENTINEL).failure(1);
    run.stderr_has("HTTP 400")
        .stderr_has("no^[]52;c;cHduZWQ=^G^[[2J^G");
    run.stderr_has("\\u{202e}way\\u{9b}31m");
    assert_no_control_bytes(&run);
    assert!(pypiserver_files("ts-hostile-refusal").is_empty());
}

#[test]
fn a_link_on_an_index_page_reaches_the_terminal_only_made_visible() {
    let s = Scratch::new("hostile-link");
    sample(&s, Layout::StaticFlit, "ts-hostile-link");
    let index = Standin::start(|_| {
        Reply::new(
            200,
            "text/html",
            format!(
                "<!DOCTYPE html><html><body><a href=\"http://ho{HOSTILE}st/x-1.0.tar.gz\">x-1.0.tar.gz</a></body></html>"
            ),
        )
    });
    let before = s.snapshot();
    let page = format!("{}simple/", index.url);
    let run = dry_run(&s, &[("TWOSTAGE_STAGING_INDEX_URL", &page)]).failure(1);
    run.stderr_has("the link `http://ho^[]52;c;cHduZWQ=^G^[[2J^Gst/x-1.0.tar.gz`");
    assert_no_control_bytes(&run);
    assert!(index.count("GET ") >= 1);
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_changelog_line_in_a_dry_run_reaches_the_terminal_only_made_visible() {
    let s = Scratch::new("hostile-changelog");
    sample(&s, Layout::StaticFlit, "ts-hostile-changelog");
    let changelog = s.read("CHANGELOG.md");
    let hostile = changelog.replacen(
        "## [Unreleased]\n",
        &format!("## [Unreleased]\n\n- a fix{HOSTILE}\r\n- \u{202e}txt.exe\n"),
        1,
    );
    assert_ne!(hostile, changelog);
    s.write("CHANGELOG.md", &hostile);
    s.commit_all("A hostile changelog");
    let before = s.snapshot();
    let run = dry_run(&s, &[]).success();
    assert!(run.stdout.contains("+++ b/CHANGELOG.md"), "{}", run.stdout);
    assert!(
        run.stdout.contains(" - a fix^[]52;c;cHduZWQ=^G^[[2J^G"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\\u{202e}txt.exe"), "{}", run.stdout);
    assert_no_control_bytes(&run);
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_failure_text_in_a_note_reaches_the_terminal_only_made_visible() {
    let s = released("ts-hostile-note");
    // A note as a remote could hand it over: its failure text is someone else's.
    let commit = s.git(&["rev-parse", "v1.4.3^{commit}"]);
    let note = format!(
        "tag = \"v1.4.3\"\nversion = \"1.4.3\"\ncommit = \"{commit}\"\n\n[verification]\nresult = \"failed\"\nfailures = [{:?}]\n",
        format!("the smoke command failed{HOSTILE}")
    )
    .replace("\\u{1b}", "\\u001b")
    .replace("\\u{7}", "\\u0007");
    s.git(&[
        "notes",
        "--ref=release",
        "append",
        "-m",
        &note,
        "v1.4.3^{commit}",
    ]);
    let before = s.snapshot();
    let run = s.twostage(&["status"]).success();
    assert!(
        run.stdout
            .contains("the smoke command failed^[]52;c;cHduZWQ=^G^[[2J^G"),
        "{}",
        run.stdout
    );
    assert_no_control_bytes(&run);
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_github_error_message_reaches_the_terminal_only_made_visible() {
    let s = released("ts-hostile-github");
    s.stage(&["v1.4.3"], SENTINEL).success();
    let github = Standin::start(|_| {
        Reply::new(
            403,
            "application/json",
            serde_json::json!({ "message": format!("Resource not accessible{HOSTILE}") })
                .to_string(),
        )
    });
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .args(["promote", "v1.4.3"])
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("PYPI_TOKEN", SENTINEL)
        .env("GITHUB_TOKEN", "ghp_hostile-standin-token-1234")
        .env("TWOSTAGE_GITHUB_API_URL", &github.url)
        .env("TWOSTAGE_GITHUB_REPOSITORY", "o/ts-hostile-github")
        .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"));
    let run = Run::from(command.output().unwrap());
    run.assert_not_shown("ghp_hostile-standin-token-1234");
    run.stderr_has("Resource not accessible^[]52;c;cHduZWQ=^G^[[2J^G");
    assert_no_control_bytes(&run);
    assert!(
        github.count("GET ") + github.count("POST ") >= 1,
        "{:?}",
        github.log()
    );
}

// Bounds.

#[test]
fn an_upload_answered_a_byte_a_second_ends_within_its_bound_and_is_settled_by_the_index() {
    let s = released("ts-hostile-slow-upload");
    // The index stores the file, then its answer (a 503) crawls: 120 bytes, a byte a second.
    let index = Standin::start(|request| {
        let stored = forward(request);
        assert_eq!(
            stored.status,
            200,
            "{}",
            String::from_utf8_lossy(&stored.body)
        );
        Reply {
            trickle: true,
            ..Reply::new(503, "text/plain", vec![b'.'; 120])
        }
    });
    let started = Instant::now();
    stage_via(&s, &index.url, None, SENTINEL).success();
    let log = index.log();
    // Each answer's body was given up on 30 s in (docs/http-client.md), and the index read
    // said the file was stored: no file was sent twice.
    let hangups: Vec<u64> = log
        .iter()
        .filter_map(|l| l.strip_prefix("hung up after ")?.parse().ok())
        .collect();
    assert_eq!(hangups.len(), 2, "{log:?}");
    assert!(
        hangups.iter().all(|&secs| (28..=36).contains(&secs)),
        "{log:?}"
    );
    assert_eq!(index.count("POST "), 2, "{log:?}");
    assert!(started.elapsed() < Duration::from_secs(240));
    assert_eq!(
        served_map(&indexes().pypi.index_url(), "ts-hostile-slow-upload"),
        frozen_files(&s, "v1.4.3")
    );
}

#[test]
fn a_page_served_a_byte_a_second_is_given_up_within_its_bound() {
    let s = Scratch::new("hostile-slow-page");
    sample(&s, Layout::StaticFlit, "ts-hostile-slow-page");
    // A project page the index has (a 404 is an answer without a body to wait for).
    let index = Standin::start(|_| {
        let mut page = b"<!DOCTYPE html><html><body>".to_vec();
        page.resize(200, b' ');
        Reply {
            trickle: true,
            ..Reply::new(200, "text/html", page)
        }
    });
    let before = s.snapshot();
    let page = format!("{}simple/", index.url);
    let started = Instant::now();
    let run = dry_run(&s, &[("TWOSTAGE_STAGING_INDEX_URL", &page)]).failure(1);
    let took = started.elapsed();
    // 60 s for the page and its retries, with a margin for the rest of the dry run.
    assert!(took < Duration::from_secs(80), "{took:?}");
    run.stderr_has("a page read has 60s in all");
    assert!((1..=4).contains(&index.count("GET ")), "{:?}", index.log());
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_page_that_never_answers_is_given_up_within_its_bound() {
    let s = Scratch::new("hostile-silent-page");
    sample(&s, Layout::StaticFlit, "ts-hostile-silent-page");
    // Accepts, reads the request, and says nothing.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let page = format!("http://{}/simple/", listener.local_addr().unwrap());
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let held = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            held.lock().unwrap().push(stream);
        }
    });
    let before = s.snapshot();
    let started = Instant::now();
    let run = dry_run(&s, &[("TWOSTAGE_STAGING_INDEX_URL", &page)]).failure(1);
    let took = started.elapsed();
    run.stderr_has("cannot check the staging index");
    assert!(took < Duration::from_secs(80), "{took:?}");
    assert!(!accepted.lock().unwrap().is_empty());
    assert_eq!(s.snapshot(), before);
}

// Memory.

/// Runs `command` to its end; its output and its peak resident set in kB (`wait4`, which
/// reaps the child: `Child::wait` would find it gone).
#[allow(clippy::zombie_processes)]
fn with_peak_rss(mut command: std::process::Command) -> (Run, i64) {
    use std::process::Stdio;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let readers = (
        std::thread::spawn(move || {
            let mut v = Vec::new();
            stdout.read_to_end(&mut v).unwrap();
            v
        }),
        std::thread::spawn(move || {
            let mut v = Vec::new();
            stderr.read_to_end(&mut v).unwrap();
            v
        }),
    );
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let run = Run {
        code,
        stdout: String::from_utf8_lossy(&readers.0.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&readers.1.join().unwrap()).into_owned(),
    };
    run.assert_not_shown(SENTINEL);
    (run, usage.ru_maxrss)
}

/// A changelog of about `size` bytes: the fixture's, then old releases.
fn long_changelog(s: &Scratch, size: usize) {
    let mut text = s.read("CHANGELOG.md");
    let mut i = 0;
    while text.len() < size {
        text.push_str(&format!(
            "\n## [0.{i}.0] - 2020-01-01\n\n- change number {i}, in a line long enough to count\n"
        ));
        i += 1;
    }
    s.write("CHANGELOG.md", &text);
    s.commit_all("A long history");
}

#[test]
fn a_dry_run_with_a_10_mb_changelog_completes_in_flat_memory() {
    let s = Scratch::new("hostile-long-changelog");
    sample(&s, Layout::StaticFlit, "ts-hostile-long-changelog");
    long_changelog(&s, 10 * 1024 * 1024);
    let before = s.snapshot();
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command.args(["release", "patch", "--dry-run"]);
    let (run, peak_kb) = with_peak_rss(command);
    let run = run.success();
    assert!(
        run.stdout.contains("+## [1.4.3]"),
        "{}",
        &run.stdout[..run.stdout.len().min(2000)]
    );
    eprintln!("release --dry-run, 10 MB changelog: peak RSS {peak_kb} kB");
    assert!(peak_kb < 400 * 1024, "peak RSS {peak_kb} kB");
    assert_eq!(s.snapshot(), before);
}

#[test]
fn an_endless_refusal_body_is_read_only_to_its_cap() {
    let s = released("ts-hostile-endless");
    // 200 MB of refusal: the reader stops at its cap and says what the index did.
    let index = Standin::start(|_| Reply::new(400, "text/plain", vec![b'x'; 200 * 1024 * 1024]));
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .args(["stage", "v1.4.3"])
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("TWOSTAGE_STAGING_UPLOAD_URL", &index.url);
    let (run, peak_kb) = with_peak_rss(command);
    let run = run.failure(1);
    run.stderr_has("HTTP 400")
        .stderr_has("a message of over 64 KB");
    eprintln!("stage against a 200 MB refusal: peak RSS {peak_kb} kB");
    assert!(peak_kb < 200 * 1024, "peak RSS {peak_kb} kB");
    assert!(pypiserver_files("ts-hostile-endless").is_empty());
}
