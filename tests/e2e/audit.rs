//! `audit`: a promoted release checked end to end from a fresh clone with no credential, and
//! each link broken in turn (a production file replaced, `SHA256SUMS` edited on the GitHub
//! stand-in, the `-prod` tag moved on origin, a verification cell removed from origin's note):
//! exit 1 naming the link, and `--json` saying which link failed.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use crate::common::*;
use crate::promote::{assert_no_openapi_violations, github, repository, run, staged};

/// `audit <args>` in `clone`, as a package's user would run it: no token of any kind, the
/// GitHub repository and API given as configuration.
fn audit(s: &Scratch, clone: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .current_dir(clone)
        .arg("audit")
        .args(args)
        .env_remove("GITHUB_TOKEN")
        .env("TWOSTAGE_GITHUB_API_URL", &github().api_url)
        .env("TWOSTAGE_GITHUB_REPOSITORY", repository(s));
    for (key, value) in env {
        command.env(key, value);
    }
    Run::from(command.output().unwrap())
}

/// Each link's name → its result, from `audit --json`.
fn results(run: &Run) -> Vec<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stdout);
    doc["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["link"].as_str().unwrap().to_string(),
                l["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The links that failed, from `audit --json`.
fn failed(run: &Run) -> Vec<String> {
    results(run)
        .into_iter()
        .filter(|(_, r)| r == "fail")
        .map(|(l, _)| l)
        .collect()
}

/// A one-page index on 127.0.0.1 that answers every request with `page`: what production
/// would serve after one of its files was replaced.
fn serve_page(page: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/simple/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 8192];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                page.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(page.as_bytes());
        }
    });
    url
}

/// origin's release note on `commit`, and a way to put text there instead.
fn origin_note(s: &Scratch, commit: &str) -> String {
    s.git_in(&s.origin, &["notes", "--ref=release", "show", commit])
}

fn set_origin_note(s: &Scratch, commit: &str, text: &str) {
    s.git_in(
        &s.origin,
        &["notes", "--ref=release", "add", "-f", "-m", text, commit],
    );
}

fn promoted_clone(name: &str) -> (Scratch, PathBuf) {
    let s = staged(name);
    run(&s, &["promote", "v1.4.3"]).success();
    s.git(&["push", "--quiet", "--no-verify", "origin", "main", "v1.4.3"]);
    let clone = s.dir.join("user");
    s.git_in(
        &s.dir,
        &[
            "clone",
            "--quiet",
            s.origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    (s, clone)
}

#[test]
fn audit_passes_on_a_promoted_release_and_names_each_broken_link() {
    let (s, clone) = promoted_clone("ts-audit");
    let repository = repository(&s);
    let commit = s.git(&["rev-parse", "v1.4.3^{commit}"]);

    // Every link holds, read with no credential (every request the stand-in saw from the
    // audit was anonymous and a read).
    let seen = github().requests(&repository).unwrap().len();
    let ok = audit(&s, &clone, &["v1.4.3", "--json"], &[]).success();
    let links = results(&ok);
    let names: Vec<&str> = links.iter().map(|(l, _)| l.as_str()).collect();
    for link in [
        "tags",
        "production",
        "staging",
        "verification",
        "github",
        "attestations",
    ] {
        assert!(names.contains(&link), "{link} in {names:?}");
    }
    assert!(failed(&ok).is_empty(), "{}", ok.stdout);
    assert!(
        links.contains(&("github".to_string(), "pass".to_string())),
        "{}",
        ok.stdout
    );
    assert!(links.contains(&("attestations".to_string(), "skip".to_string())));
    let requests = github().requests(&repository).unwrap();
    assert!(requests.len() > seen, "the audit read the release");
    for r in &requests[seen..] {
        assert_eq!(
            (r["method"].as_str(), r["authenticated"].as_bool()),
            (Some("GET"), Some(false)),
            "{r}"
        );
    }
    audit(&s, &clone, &["v1.4.3"], &[]).success();
    assert_no_secret_in(&s, SENTINEL);

    // A production file replaced: production (as the auditor reads it) serves other bytes
    // under the sdist's name.
    let note = release_note(&s, "v1.4.3");
    let files = note_artifacts(&note);
    let sdist = files
        .keys()
        .find(|f| f.ends_with(".tar.gz"))
        .unwrap()
        .clone();
    let page: String = files
        .iter()
        .map(|(name, sha)| {
            let sha = if *name == sdist {
                sha256_hex(b"other bytes")
            } else {
                sha.clone()
            };
            format!("<a href=\"/files/{name}#sha256={sha}\">{name}</a>\n")
        })
        .collect();
    let fake = serve_page(format!(
        "<!DOCTYPE html><html><body>\n{page}</body></html>\n"
    ));
    let broken = audit(
        &s,
        &clone,
        &["v1.4.3", "--json"],
        &[("TWOSTAGE_PRODUCTION_INDEX_URL", &fake)],
    );
    let broken = broken.failure(1);
    broken.stderr_has("broken links: production");
    assert_eq!(failed(&broken), ["production"], "{}", broken.stdout);
    assert!(broken.stdout.contains(&sdist), "{}", broken.stdout);

    // `SHA256SUMS` edited on the GitHub release.
    let sums: String = files.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
    let tamper = |text: &str| {
        github()
            .control(
                "tamper",
                &serde_json::json!({"repository": repository, "tag": "v1.4.3",
                    "asset": "SHA256SUMS", "text": text}),
            )
            .unwrap()
    };
    tamper(&sums.replacen(&files[&sdist], &"0".repeat(64), 1));
    let broken = audit(&s, &clone, &["v1.4.3", "--json"], &[]).failure(1);
    broken.stderr_has("broken links: github");
    assert_eq!(failed(&broken), ["github"], "{}", broken.stdout);
    assert!(broken.stdout.contains("SHA256SUMS"), "{}", broken.stdout);
    tamper(&sums);
    audit(&s, &clone, &["v1.4.3"], &[]).success();

    // The `-prod` tag moved on origin.
    let parent = s.git(&["rev-parse", "v1.4.3^{commit}^"]);
    s.git_in(&s.origin, &["tag", "-f", "v1.4.3-prod", &parent]);
    let broken = audit(&s, &clone, &["v1.4.3", "--json"], &[]).failure(1);
    broken.stderr_has("broken links: tags");
    assert_eq!(failed(&broken), ["tags"], "{}", broken.stdout);
    assert!(broken.stdout.contains("v1.4.3-prod"), "{}", broken.stdout);
    s.git_in(&s.origin, &["tag", "-f", "v1.4.3-prod", &commit]);
    audit(&s, &clone, &["v1.4.3"], &[]).success();

    // A verification cell removed from origin's note.
    let original = origin_note(&s, &commit);
    let mut doc: toml_edit::DocumentMut = original.parse().unwrap();
    let cells = doc["verification"]["artifacts"]
        .as_array_of_tables_mut()
        .unwrap();
    assert!(cells.len() >= 2, "{original}");
    cells.remove(0);
    set_origin_note(&s, &commit, &doc.to_string());
    let broken = audit(&s, &clone, &["v1.4.3", "--json"], &[]).failure(1);
    broken.stderr_has("broken links: verification");
    assert_eq!(failed(&broken), ["verification"], "{}", broken.stdout);
    assert!(
        broken.stdout.contains("no verification cell for"),
        "{}",
        broken.stdout
    );
    set_origin_note(&s, &commit, &original);
    audit(&s, &clone, &["v1.4.3"], &[]).success();

    // Without a GitHub repository (origin is no GitHub URL and none is configured) the link
    // is skipped with a line, and nothing is asked of the stand-in.
    let seen = github().requests(&repository).unwrap().len();
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .current_dir(&clone)
        .args(["audit", "v1.4.3", "--json"])
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    let without = Run::from(out).success();
    assert!(
        results(&without).contains(&("github".to_string(), "skip".to_string())),
        "{}",
        without.stdout
    );
    assert!(
        without.stdout.contains("no GitHub repository"),
        "{}",
        without.stdout
    );
    assert_eq!(github().requests(&repository).unwrap().len(), seen);
    assert_no_openapi_violations();
}
