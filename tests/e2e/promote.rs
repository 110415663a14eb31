//! `promote` and `status`: the gate, the same bytes to production (devpi), the `-prod` tag,
//! the GitHub release against a stand-in that checks every request against GitHub's OpenAPI
//! description, and convergence after interruptions.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::common::*;
use testbed::GithubStandin;

const GITHUB_SENTINEL: &str = "ghp_SENTINEL-github-token-do-not-print";

pub(crate) fn github() -> &'static GithubStandin {
    static STANDIN: OnceLock<GithubStandin> = OnceLock::new();
    STANDIN.get_or_init(|| {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("twostage-tests")
            .join(format!("github-{}", std::process::id()));
        GithubStandin::start(&dir, GITHUB_SENTINEL).expect("the GitHub stand-in starts")
    })
}

/// A released and staged (verified) sample named `name`, with the GitHub repository `o/<name>`.
pub(crate) fn staged(name: &str) -> Scratch {
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.twostage(&["release", "patch"]).success();
    run(&s, &["stage", "v1.4.3"]).success();
    s
}

pub(crate) fn run(s: &Scratch, args: &[&str]) -> Run {
    run_with(s, args, &[])
}

/// `run` with more variables set.
fn run_with(s: &Scratch, args: &[&str], extra: &[(&str, String)]) -> Run {
    let name = s.dir.file_name().unwrap().to_str().unwrap().to_string();
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(args)
        .envs(extra.iter().map(|(k, v)| (k, v)))
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("PYPI_TOKEN", SENTINEL)
        .env("GITHUB_TOKEN", GITHUB_SENTINEL)
        .env("TWOSTAGE_GITHUB_API_URL", &github().api_url)
        .env("TWOSTAGE_GITHUB_REPOSITORY", format!("o/{name}"))
        .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
        .output()
        .unwrap();
    let run = Run::from(out);
    assert!(!run.stderr.contains(GITHUB_SENTINEL) && !run.stdout.contains(GITHUB_SENTINEL));
    run
}

/// The GitHub repository a scratch repository's runs publish to.
pub(crate) fn repository(s: &Scratch) -> String {
    format!("o/{}", s.dir.file_name().unwrap().to_str().unwrap())
}

/// filename → sha256 on the production index.
pub(crate) fn production(name: &str) -> BTreeMap<String, String> {
    let ix = indexes();
    served_map(&ix.devpi_index.index_url, name)
}

fn staged_set(s: &Scratch) -> BTreeMap<String, String> {
    note_artifacts(&release_note(s, "v1.4.3"))
}

/// Asset uploads the GitHub stand-in received for `repository`, from its request log.
fn asset_uploads(repository: &str) -> usize {
    std::fs::read_to_string(&github().log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| {
            e["operation"]
                .as_str()
                .is_some_and(|o| o.contains("upload-release-asset"))
                && e["path"]
                    .as_str()
                    .is_some_and(|p| p.contains(&format!("/repos/{repository}/")))
        })
        .count()
}

/// filename → sha256 that the note's `[production]` section (the first promotion) records as
/// uploaded: the names from the section, their sha256 from `[[artifacts]]`.
fn first_production_uploads(note: &toml_edit::DocumentMut) -> BTreeMap<String, String> {
    let sha256 = note_artifacts(note);
    note["production"]["uploaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = f.as_str().unwrap().to_string();
            let sha = sha256[&name].clone();
            (name, sha)
        })
        .collect()
}

pub(crate) fn assert_no_openapi_violations() {
    let violations = github().violations().unwrap();
    assert!(
        violations.is_empty(),
        "requests GitHub's OpenAPI description does not allow:\n{}",
        violations.join("\n")
    );
}

/// The `-prod` tag is a lightweight tag of the release commit (so that `git describe` keeps
/// naming the release tag), on origin too; the note records the manifest digest, and, with
/// its `[production]` and `[github]`, reached origin.
fn assert_prod_tagged_and_recorded(s: &Scratch) {
    let commit = s.git(&["rev-parse", "v1.4.3^{commit}"]);
    assert_eq!(s.git(&["rev-parse", "refs/tags/v1.4.3-prod"]), commit);
    assert_eq!(
        s.git_in(&s.origin, &["rev-parse", "refs/tags/v1.4.3-prod"]),
        commit
    );
    let note = release_note(s, "v1.4.3");
    let digest = note["production"]["manifest-sha256"].as_str().unwrap();
    assert_eq!(digest.len(), 64, "{note}");
    assert!(note.get("github").is_some(), "{note}");
    // The notes reached origin.
    let remote_note = s.git_in(&s.origin, &["notes", "--ref=release", "show", &commit]);
    assert!(remote_note.contains("[production]") && remote_note.contains("[github]"));
}

/// The GitHub stand-in's releases for `tag`, of every test of this binary.
fn releases_tagged(tag: &str) -> Vec<serde_json::Value> {
    github().state().unwrap()["releases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tag_name"] == tag)
        .cloned()
        .collect()
}

/// The release of `project` among `releases` (the stand-in is shared by the tests of this
/// binary: a release is found by its assets), in the repository `o/<project>-…`.
fn our_release<'a>(releases: &'a [serde_json::Value], project: &str) -> &'a serde_json::Value {
    let prefix = format!("{}-", project.replace('-', "_"));
    let release = releases
        .iter()
        .find(|r| {
            r["assets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a.as_str().unwrap().starts_with(&prefix))
        })
        .expect("our release");
    assert!(release["repository"]
        .as_str()
        .unwrap()
        .starts_with(&format!("o/{project}-")));
    release
}

/// The release's notes come from the changelog, and it attaches the staged files,
/// SHA256SUMS and the release note.
fn assert_release_attaches(release: &serde_json::Value, staged: &BTreeMap<String, String>) {
    assert_eq!(release["body"].as_str(), Some("### Fixed\n- the thing"));
    let mut assets: Vec<String> = release["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assets.sort();
    let mut expected: Vec<String> = staged
        .keys()
        .cloned()
        .chain(["SHA256SUMS".to_string(), "release-note.toml".to_string()])
        .collect();
    expected.sort();
    assert_eq!(assets, expected);
}

#[test]
fn promote_sends_the_verified_bytes_tags_and_publishes_and_a_rerun_changes_nothing() {
    let s = staged("ts-promote");
    let staged = staged_set(&s);
    let run1 = run(&s, &["promote", "v1.4.3"]).success();
    run1.stderr_has("Promoted");
    // Production serves exactly the staged, verified bytes.
    assert_eq!(production("ts-promote"), staged);
    assert_prod_tagged_and_recorded(&s);

    // One GitHub release, notes from the changelog, the files and SHA256SUMS attached.
    let ours = releases_tagged("v1.4.3");
    let release = our_release(&ours, "ts-promote");
    assert_release_attaches(release, &staged);
    assert_no_openapi_violations();

    // A rerun converges: nothing uploaded to the index or attached to the release (counted
    // by the index and the stand-in), the release updated rather than duplicated.
    let repository = release["repository"].as_str().unwrap().to_string();
    let seen = uploads_seen("ts-promote");
    let attached = asset_uploads(&repository);
    assert_eq!(
        attached,
        staged.len() + 2,
        "the files, SHA256SUMS and the note"
    );
    let run2 = run(&s, &["promote", "v1.4.3"]).success();
    assert_eq!(uploads_seen("ts-promote"), seen, "{}", run2.stderr);
    assert_eq!(asset_uploads(&repository), attached, "{}", run2.stderr);
    // Other tests of this binary add releases to the shared stand-in meanwhile: counted in
    // this repository only.
    let in_repository = |releases: &[serde_json::Value]| {
        releases
            .iter()
            .filter(|r| r["repository"] == repository.as_str())
            .count()
    };
    assert_eq!(
        in_repository(&releases_tagged("v1.4.3")),
        1,
        "no second release for the tag"
    );
    assert_eq!(in_repository(&ours), 1);
    assert_eq!(production("ts-promote"), staged);
    assert_no_openapi_violations();

    let status = run(&s, &["status", "--json"]).success();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["tag"], "v1.4.3");
    assert_eq!(rows[0]["state"], "published");
    assert_eq!(rows[0]["production_serves"], true);
}

#[test]
fn the_gate_refuses_an_unverified_release_and_changes_nothing() {
    let s = Scratch::new("ts-unverified");
    sample(&s, Layout::StaticFlit, "ts-unverified");
    let toml = s
        .read("release.toml")
        .replace("[verify]\n", "[verify]\nsmoke = [\"false\"]\n");
    s.write("release.toml", &toml);
    s.commit_all("A smoke test that fails");
    s.twostage(&["release", "patch"]).success();
    run(&s, &["stage", "v1.4.3"]).failure(1);
    let before = s.snapshot();
    run(&s, &["promote", "v1.4.3"])
        .failure(1)
        .stderr_has("nothing was changed")
        .stderr_has("verification: failed");
    assert_eq!(s.snapshot(), before);
    assert!(production("ts-unverified").is_empty());
    let status = run(&s, &["status", "v1.4.3"]).success();
    assert!(status.stdout.contains("failed:verify"), "{}", status.stdout);

    // Never staged at all.
    s.write("NEWS", "x\n");
    s.commit_all("More");
    s.twostage(&["release", "patch", "--offline"]).success();
    run(&s, &["promote", "v1.4.4", "--dry-run"])
        .failure(1)
        .stderr_has("it was never staged");
}

#[test]
fn a_prod_tag_on_another_commit_is_refused() {
    let s = staged("ts-prod-elsewhere");
    s.write("NEWS", "x\n");
    s.commit_all("After the release");
    s.git(&[
        "tag",
        "-a",
        "v1.4.3-prod",
        "-m",
        "by hand, on the wrong commit",
    ]);
    let before = s.snapshot();
    run(&s, &["promote", "v1.4.3"])
        .failure(1)
        .stderr_has("must name the same commit");
    assert_eq!(s.snapshot(), before);
    assert!(production("ts-prod-elsewhere").is_empty());
}

#[test]
fn other_bytes_under_a_used_name_stop_the_promotion_before_any_upload() {
    let s = staged("ts-prod-conflict");
    // Production already has an sdist of that name with other bytes.
    let fake = s.dir.join("fake");
    std::fs::create_dir_all(&fake).unwrap();
    let other = s.clone_work("other", Some("v1.4.3"));
    std::fs::write(
        other.join("ts_prod_conflict/__init__.py"),
        "\"\"\"Other bytes.\"\"\"\n",
    )
    .unwrap();
    let built = python_build(&s, &other, &fake, &["--sdist"]);
    let [sdist] = built.as_slice() else {
        panic!("one sdist: {built:?}")
    };
    upload_to_production(&s, std::slice::from_ref(sdist));
    let before_index = production("ts-prod-conflict");
    run(&s, &["promote", "v1.4.3"])
        .failure(1)
        .stderr_has("nothing was uploaded")
        .stderr_has("ts_prod_conflict-1.4.3.tar.gz");
    assert_eq!(
        production("ts-prod-conflict"),
        before_index,
        "the wheel was not uploaded"
    );
    assert!(s.git(&["tag", "--list", "v1.4.3-prod"]).is_empty());
}

#[test]
fn an_interrupted_promotion_completes_on_the_next_run() {
    let s = staged("ts-interrupted");
    // As if killed after the first production upload: only the wheel is there.
    let wheel = std::fs::read_dir(s.work.join(".git/twostage/v1.4.3/dist"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .unwrap();
    upload_to_production(&s, &[wheel]);
    let resumed = run(&s, &["promote", "v1.4.3", "--no-github"]).success();
    resumed
        .stderr_has("Present `ts_interrupted-1.4.3-py")
        .stderr_has("Uploading `ts_interrupted-1.4.3.tar.gz`");
    assert!(
        !resumed
            .stderr
            .contains("Uploading `ts_interrupted-1.4.3-py"),
        "{}",
        resumed.stderr
    );
    assert_eq!(production("ts-interrupted"), staged_set(&s));
    let note = s.git(&["notes", "--ref=release", "show", "v1.4.3^{commit}"]);
    assert!(
        note.contains("already-present = [\"") && note.contains(".whl\"]"),
        "{note}"
    );
    // As if killed after the production upload but before the tag.
    s.git(&["tag", "-d", "v1.4.3-prod"]);
    s.git(&[
        "push",
        "--quiet",
        "--no-verify",
        "origin",
        ":refs/tags/v1.4.3-prod",
    ]);
    run(&s, &["promote", "v1.4.3", "--no-github"]).success();
    assert!(!s
        .git_in(&s.origin, &["tag", "--list", "v1.4.3-prod"])
        .is_empty());
}

#[test]
fn promote_works_from_a_fresh_clone_with_the_notes_and_the_staged_bytes() {
    let s = staged("ts-fresh-clone");
    s.git(&["push", "--quiet", "--no-verify", "origin", "main", "v1.4.3"]);
    let clone = s.dir.join("ci");
    s.git_in(
        &s.dir,
        &[
            "clone",
            "--quiet",
            s.origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    assert!(
        s.git_in(&clone, &["notes", "--ref=release", "list"])
            .is_empty(),
        "a clone has no notes yet"
    );
    // `status` in the fresh checkout reads the remote's notes.
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .current_dir(&clone)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let status = Run::from(out).success();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "verified", "{}", status.stdout);
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .current_dir(&clone)
        .args(["promote", "v1.4.3", "--no-github"])
        .env("PYPI_TOKEN", SENTINEL)
        .output()
        .unwrap();
    Run::from(out).success().stderr_has("Downloading");
    assert_eq!(production("ts-fresh-clone"), staged_set(&s));
}

/// `git tag -a v1.4.3-prod` by hand on the release commit, with the hooks' binary.
fn tag_prod_by_hand(s: &Scratch) -> Run {
    let sh = s.sh();
    let commit = "v1.4.3^{commit}";
    Run::of(
        cmd!(sh, "git tag -a v1.4.3-prod {commit} -m promote")
            .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
            .env("TEST_PYPI_TOKEN", SENTINEL),
    )
}

/// `git push origin v1.4.3-prod` by hand, with the hooks' binary and the production token.
fn push_prod_by_hand(s: &Scratch) -> Run {
    let sh = s.sh();
    Run::of(
        cmd!(sh, "git push origin v1.4.3-prod")
            .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
            .env("PYPI_TOKEN", SENTINEL),
    )
}

#[test]
fn pushing_a_prod_tag_made_by_hand_promotes_behind_the_same_gate() {
    let s = staged("ts-hand-prod");
    s.twostage(&["hooks", "install"]).success();
    tag_prod_by_hand(&s)
        .success()
        .stderr_has("passes the promotion gate")
        // Annotated, it would be what `git describe` names: the hook says how to mend it.
        .stderr_has("`v1.4.3-prod` is an annotated tag")
        .stderr_has("`git tag -f v1.4.3-prod v1.4.3-prod^{commit}`");
    run(&s, &["--repo", ".", "status"]).success();
    push_prod_by_hand(&s).success();
    assert_eq!(production("ts-hand-prod"), staged_set(&s));
    assert!(!s
        .git_in(&s.origin, &["tag", "--list", "v1.4.3-prod"])
        .is_empty());
    // A rerun of `promote` finds the annotated tag there, keeps it, and says how to mend it.
    let tag_object = s.git(&["rev-parse", "refs/tags/v1.4.3-prod"]);
    run(&s, &["promote", "v1.4.3", "--no-github"])
        .success()
        .stderr_has("`v1.4.3-prod` is an annotated tag");
    assert_eq!(s.git(&["rev-parse", "refs/tags/v1.4.3-prod"]), tag_object);
}

#[test]
fn dry_run_and_missing_tokens_change_nothing() {
    let s = staged("ts-promote-dry");
    let before = s.snapshot();
    run(&s, &["promote", "v1.4.3", "--dry-run"])
        .success()
        .stderr_has("Would upload")
        .stderr_has("Would tag");
    assert_eq!(s.snapshot(), before);
    assert!(production("ts-promote-dry").is_empty());
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["promote", "v1.4.3"])
        .output()
        .unwrap();
    Run::from(out).failure(1).stderr_has("set `PYPI_TOKEN`");
    assert_eq!(s.snapshot(), before);
    // Without a GitHub token the release is skipped with a note; the rest is done.
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["promote", "v1.4.3"])
        .env("PYPI_TOKEN", SENTINEL)
        .env("TWOSTAGE_GITHUB_REPOSITORY", repository(&s))
        .output()
        .unwrap();
    Run::from(out)
        .success()
        .stderr_has("no `GITHUB_TOKEN`: no GitHub release");
    assert_eq!(production("ts-promote-dry"), staged_set(&s));
}

/// With no GitHub repository to publish to (none configured, and the remote is not on
/// github.com), a GitHub token in the environment changes nothing: production gets the files,
/// the `-prod` tag is made, and the note says why there is no release instead of asking for the
/// token that is already set (before, the run failed after production with "cannot tell the
/// GitHub repository").
#[test]
fn without_a_github_repository_promote_completes_and_says_why_there_is_no_release() {
    let s = staged("ts-promote-nogh");
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["promote", "v1.4.3"])
        .env("PYPI_TOKEN", SENTINEL)
        .env("GITHUB_TOKEN", GITHUB_SENTINEL)
        .env("TWOSTAGE_GITHUB_API_URL", &github().api_url)
        .output()
        .unwrap();
    let run = Run::from(out).success();
    run.stderr_has("no GitHub repository");
    assert!(
        !run.stderr.contains("set it to publish one"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(GITHUB_SENTINEL), "{}", run.stderr);
    assert_eq!(production("ts-promote-nogh"), staged_set(&s));
    assert_eq!(
        s.git_in(&s.origin, &["rev-parse", "v1.4.3-prod^{commit}"]),
        s.git(&["rev-parse", "v1.4.3^{commit}"])
    );
}

/// `promote` with a production token set and `trusted-publishing = "always"` outside CI, so
/// the only credential production may take cannot be had.
fn promote_always_trusted_outside_ci(s: &Scratch, args: &[&str]) -> Run {
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(args)
        .env("PYPI_TOKEN", SENTINEL)
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        .output()
        .unwrap();
    Run::from(out)
}

#[test]
fn the_dry_run_refuses_the_credentials_the_real_run_refuses() {
    let s = staged("ts-promote-dry-trusted");
    let toml = s.read("release.toml");
    s.write(
        "release.toml",
        &toml.replace(
            "[production]\n",
            "[production]\ntrusted-publishing = \"always\"\n",
        ),
    );
    s.commit_all("Production takes trusted publishing only");
    let before = s.snapshot();
    promote_always_trusted_outside_ci(&s, &["promote", "v1.4.3", "--no-github"]).failure(1);
    assert_eq!(s.snapshot(), before);
    assert!(production("ts-promote-dry-trusted").is_empty());
    // The dry run takes the same decision: it refuses too, and changes nothing either.
    promote_always_trusted_outside_ci(&s, &["promote", "v1.4.3", "--dry-run"])
        .failure(1)
        .stderr_has("the promotion would be refused")
        .stderr_has("`trusted-publishing = \"always\"`, but this is not a CI job");
    assert_eq!(s.snapshot(), before);
    assert!(production("ts-promote-dry-trusted").is_empty());
}

#[test]
fn a_promotion_without_the_frozen_set_fetches_each_file_from_staging_once() {
    let name = "ts-promote-fetch-once";
    let s = staged(name);
    // As in CI: no frozen set here, so the verified bytes come from staging, through a proxy
    // that logs every file download.
    forget_build(&s, "v1.4.3");
    let proxy = testbed::FaultProxy::start(&s.dir.join("proxy"), &indexes().pypi.root_url).unwrap();
    let staging = (
        "TWOSTAGE_STAGING_INDEX_URL",
        format!("{}simple/", proxy.url),
    );
    run_with(&s, &["promote", "v1.4.3"], &[staging]).success();
    assert_eq!(production(name), staged_set(&s));
    let events = proxy.events();
    for file in staged_set(&s).keys() {
        let gets = events
            .iter()
            .filter(|e| **e == format!("GET {file}"))
            .count();
        assert_eq!(gets, 1, "`{file}` fetched {gets} times: {events:?}");
    }
}

#[test]
fn the_full_lifecycle_through_the_push_ends_with_production_serving_the_staged_bytes() {
    let s = Scratch::new("ts-full");
    sample(&s, Layout::StaticFlit, "ts-full");
    run(&s, &["hooks", "install"]).success();
    run(&s, &["release", "patch"]).success();
    let sh = s.sh();
    Run::of(
        cmd!(sh, "git push --follow-tags origin main")
            .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
            .env("TEST_PYPI_TOKEN", SENTINEL),
    )
    .success()
    .stderr_has("is staged and verified");
    run(&s, &["promote", "v1.4.3", "--no-github"]).success();
    assert_eq!(production("ts-full"), staged_set(&s));
    let commit = s.git(&["rev-parse", "v1.4.3^{commit}"]);
    assert_eq!(
        s.git_in(&s.origin, &["rev-parse", "v1.4.3-prod^{commit}"]),
        commit
    );
    // The first promotion uploaded both files, and the note says so.
    let first = release_note(&s, "v1.4.3");
    assert_eq!(first_production_uploads(&first), staged_set(&s));
    // Promote again: nothing is uploaded (counted by the index) or tagged (the tag object is
    // the same), and the note keeps the first promotion's record and appends this run.
    let seen = uploads_seen("ts-full");
    let prod_tag = s.git(&["rev-parse", "v1.4.3-prod"]);
    let again = run(&s, &["promote", "v1.4.3", "--no-github"]).success();
    assert_eq!(uploads_seen("ts-full"), seen, "{}", again.stderr);
    assert_eq!(s.git(&["rev-parse", "v1.4.3-prod"]), prod_tag);
    assert_eq!(s.git_in(&s.origin, &["rev-parse", "v1.4.3-prod"]), prod_tag);
    let note = release_note(&s, "v1.4.3");
    assert_eq!(first_production_uploads(&note), staged_set(&s), "{note}");
    assert_eq!(first_production_uploads(&note), production("ts-full"));
    let runs = note["production"]["runs"].as_array_of_tables().unwrap();
    assert_eq!(runs.len(), 1, "{note}");
    let rerun = runs.get(0).unwrap();
    assert_eq!(rerun["uploaded"].as_array().unwrap().len(), 0, "{note}");
    assert_eq!(
        rerun["already-present"].as_array().unwrap().len(),
        2,
        "{note}"
    );
    // The staging record and the verification are still there too.
    assert_eq!(
        note["staging"]["uploaded"].as_array().unwrap().len(),
        2,
        "{note}"
    );
    assert_eq!(note["verification"]["result"].as_str(), Some("verified"));
    // No note holds a path of this machine.
    let text = note.to_string();
    assert!(
        !text.contains(s.dir.to_str().unwrap()) && !text.contains("/.git/"),
        "{text}"
    );
    let status = run(&s, &["status", "--json"]).success();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "promoted");
    assert_eq!(rows[0]["pushed"], true);
}

#[test]
fn an_unverified_release_is_refused_by_command_and_by_push() {
    let s = Scratch::new("ts-never-staged");
    sample(&s, Layout::StaticFlit, "ts-never-staged");
    run(&s, &["hooks", "install"]).success();
    run(&s, &["release", "patch", "--offline"]).success();
    // Pushed past the hook: never staged.
    s.git(&["push", "--quiet", "--no-verify", "origin", "main", "v1.4.3"]);
    let status = run(&s, &["status", "--json"]).success();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "built", "{}", status.stdout);
    assert_eq!(rows[0]["pushed"], true);
    assert_eq!(rows[0]["staging_serves"], serde_json::Value::Null);
    run(&s, &["promote", "v1.4.3"])
        .failure(1)
        .stderr_has("never staged");
    // A -prod tag made by hand for it: post-tag says loudly it will be refused, and the push is.
    tag_prod_by_hand(&s).success().stderr_has("WILL BE REFUSED");
    push_prod_by_hand(&s)
        .failure(1)
        .stderr_has("the promotion of v1.4.3 is refused");
    assert!(s
        .git_in(&s.origin, &["tag", "--list", "v1.4.3-prod"])
        .is_empty());
    assert!(
        production("ts-never-staged").is_empty(),
        "nothing was uploaded"
    );
}

#[test]
fn a_release_verified_through_its_wheel_alone_can_be_promoted() {
    // The sdist is hash-checked but not installed (as wheels for other platforms are in CI).
    let s = Scratch::new("ts-wheel-only");
    sample(&s, Layout::StaticFlit, "ts-wheel-only");
    let toml = s
        .read("release.toml")
        .replace("[verify]\n", "[verify]\nartifacts = [\"wheel\"]\n");
    s.write("release.toml", &toml);
    s.commit_all("Verify the wheel only");
    s.twostage(&["release", "patch"]).success();
    run(&s, &["stage", "v1.4.3"]).success();
    run(&s, &["promote", "v1.4.3", "--no-github"]).success();
    assert_eq!(production("ts-wheel-only"), staged_set(&s));
    assert_eq!(staged_set(&s).len(), 2);
}

/// The stand-in's recorded operations on `repository` that change something (every method
/// but GET), as `<operation> <draft flag of its JSON body, if any>`.
fn writes(repository: &str) -> Vec<String> {
    github()
        .requests(repository)
        .unwrap()
        .iter()
        .filter(|e| e["method"] != "GET")
        .map(|e| {
            let op = e["operation"].as_str().unwrap_or("?").to_string();
            match e["json"]["draft"].as_bool() {
                Some(draft) => format!("{op} draft={draft}"),
                None => op,
            }
        })
        .collect()
}

/// The stand-in's state of the release of `repository`.
fn release_of(repository: &str) -> serde_json::Value {
    github().state().unwrap()["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repository"] == repository)
        .cloned()
        .expect("a release")
}

#[test]
fn the_github_release_is_a_draft_until_every_asset_is_on_it_then_never_changed() {
    let s = staged("ts-gh-draft");
    let staged = staged_set(&s);
    let repository = repository(&s);
    run(&s, &["promote", "v1.4.3"]).success();
    // Draft, then every asset, then published: in that order, on the stand-in's log.
    let uploads = staged.len() + 2;
    let mut expected = vec!["repos/create-release draft=true".to_string()];
    expected.extend(std::iter::repeat_n(
        "repos/upload-release-asset".to_string(),
        uploads,
    ));
    expected.push("repos/update-release draft=false".to_string());
    assert_eq!(writes(&repository), expected);
    // The draft was looked for in the authenticated listing (a draft is found only there).
    let requests = github().requests(&repository).unwrap();
    assert_eq!(requests[0]["operation"], "repos/list-releases");
    assert_eq!(requests[0]["authenticated"], true);
    let release = release_of(&repository);
    assert_eq!(release["draft"], false);
    assert_eq!(release["immutable"], true);
    assert_no_openapi_violations();

    // A rerun reads the published release and writes nothing to it.
    let before = writes(&repository).len();
    run(&s, &["promote", "v1.4.3"]).success();
    assert_eq!(
        writes(&repository).len(),
        before,
        "{:?}",
        writes(&repository)
    );

    // The stand-in refuses an asset upload to the published release, as GitHub does.
    let upload_url = format!(
        "{}/uploads/repos/{repository}/releases/{}/assets?name=extra.txt",
        github().api_url,
        release["id"]
    );
    let mut refused = twostage::resources::index::agent()
        .post(&upload_url)
        .header("Authorization", &format!("Bearer {GITHUB_SENTINEL}"))
        .header("Content-Type", "application/octet-stream")
        .send("x")
        .unwrap();
    assert_eq!(refused.status(), 422);
    let body = refused.body_mut().read_to_string().unwrap();
    assert!(
        body.contains("Cannot upload assets to an immutable release"),
        "{body}"
    );
    assert_eq!(release_of(&repository)["assets"], release["assets"]);

    // A published release whose asset no longer matches the note: an error naming it, and
    // still no write.
    github()
        .control(
            "tamper",
            &serde_json::json!({"repository": repository, "tag": "v1.4.3",
                "asset": "SHA256SUMS", "text": "0000  forged\n"}),
        )
        .unwrap();
    let before = writes(&repository).len();
    run(&s, &["promote", "v1.4.3"])
        .failure(1)
        .stderr_has("its asset `SHA256SUMS` is not what the release note records");
    assert_eq!(
        writes(&repository).len(),
        before,
        "{:?}",
        writes(&repository)
    );
}

#[test]
fn a_draft_left_by_an_interrupted_run_is_completed_by_the_next() {
    let s = staged("ts-gh-resume");
    let staged = staged_set(&s);
    let repository = repository(&s);
    // The second asset upload fails: the run stops with a draft holding one asset.
    github()
        .control(
            "fail",
            &serde_json::json!({"repository": repository,
                "operation": "repos/upload-release-asset", "skip": 1, "times": 1}),
        )
        .unwrap();
    run(&s, &["promote", "v1.4.3"]).failure(1);
    let draft = release_of(&repository);
    assert_eq!(draft["draft"], true);
    assert_eq!(draft["assets"].as_array().unwrap().len(), 1);
    // Anyone else sees no release yet.
    let public = twostage::resources::index::agent()
        .get(&format!(
            "{}/repos/{repository}/releases/tags/v1.4.3",
            github().api_url
        ))
        .call()
        .unwrap();
    assert_eq!(public.status(), 404);

    let before = writes(&repository).len();
    run(&s, &["promote", "v1.4.3"]).success();
    let mut expected: Vec<String> =
        std::iter::repeat_n("repos/upload-release-asset".to_string(), staged.len() + 1).collect();
    expected.push("repos/update-release draft=false".to_string());
    assert_eq!(
        writes(&repository)[before..],
        expected[..],
        "the draft completed, not made again"
    );
    let release = release_of(&repository);
    assert_eq!(release["draft"], false);
    assert_eq!(release["id"], draft["id"]);
    assert_eq!(
        release["assets"].as_array().unwrap().len(),
        staged.len() + 2
    );
    assert_no_openapi_violations();
}

#[test]
fn a_release_published_without_the_note_asset_is_accepted_as_it_is() {
    let s = staged("ts-gh-older");
    let staged = staged_set(&s);
    let repository = repository(&s);
    // As an earlier twostage published it: the files and SHA256SUMS, no `release-note.toml`.
    let api = &github().api_url;
    let agent = twostage::resources::index::agent();
    let auth = format!("Bearer {GITHUB_SENTINEL}");
    let post = |url: &str, body: String, ctype: &str| -> serde_json::Value {
        let mut r = agent
            .post(url)
            .header("Authorization", &auth)
            .header("Content-Type", ctype)
            .send(body)
            .unwrap();
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    };
    let draft = post(
        &format!("{api}/repos/{repository}/releases"),
        serde_json::json!({"tag_name": "v1.4.3", "draft": true}).to_string(),
        "application/json",
    );
    let frozen = frozen_dir(&s, "v1.4.3");
    let sums: String = staged.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
    let mut uploads: Vec<(String, Vec<u8>)> = staged
        .keys()
        .map(|n| (n.clone(), std::fs::read(frozen.join(n)).unwrap()))
        .collect();
    uploads.push(("SHA256SUMS".into(), sums.into_bytes()));
    for (name, bytes) in uploads {
        let url = format!(
            "{api}/uploads/repos/{repository}/releases/{}/assets?name={name}",
            draft["id"]
        );
        let r = agent
            .post(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/octet-stream")
            .send(&bytes[..])
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    agent
        .patch(&format!(
            "{api}/repos/{repository}/releases/{}",
            draft["id"]
        ))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(serde_json::json!({"draft": false}).to_string())
        .unwrap();
    let before = writes(&repository).len();
    run(&s, &["promote", "v1.4.3"])
        .success()
        .stderr_has("has no `release-note.toml`");
    assert_eq!(
        writes(&repository).len(),
        before,
        "{:?}",
        writes(&repository)
    );
    assert_no_openapi_violations();
}
