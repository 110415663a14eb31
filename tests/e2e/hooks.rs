//! The git hooks through the real `git` binary: pushes stage, failures block, a branch-only
//! push never starts the binary, foreign hooks are chained, worktrees and `core.hooksPath`.

use std::path::{Path, PathBuf};

use crate::common::*;

fn install(s: &Scratch) {
    s.twostage(&["hooks", "install"]).success();
}

fn origin_has(s: &Scratch, tag: &str) -> bool {
    !s.git_in(&s.origin, &["tag", "--list", tag]).is_empty()
}

fn staged_files(name: &str) -> Vec<String> {
    let ix = indexes();
    served(&ix.pypi.index_url(), name)
        .into_iter()
        .map(|f| f.filename)
        .collect()
}

#[test]
fn install_is_idempotent_chains_a_foreign_hook_and_uninstall_restores_it() {
    let s = Scratch::new("install");
    sample(&s, Layout::StaticFlit, "ts-install");
    let hooks = s.work.join(".git/hooks");
    std::fs::write(hooks.join("pre-push"), "#!/bin/sh\necho foreign >&2\n").unwrap();
    make_executable(&hooks.join("pre-push"));
    install(&s);
    let shim = std::fs::read(hooks.join("pre-push")).unwrap();
    assert!(!shim.contains(&b'\r'), "LF only");
    assert!(shim.starts_with(b"#!/bin/sh\n"));
    assert!(is_executable(&hooks.join("pre-push")));
    assert!(hooks.join("pre-push.twostage-chained").exists());
    let before = s.snapshot() + &listing(&hooks);
    s.twostage(&["hooks", "install"])
        .success()
        .stderr_has("Fresh");
    assert_eq!(
        s.snapshot() + &listing(&hooks),
        before,
        "a second install changes nothing"
    );
    let status = s.twostage(&["hooks", "status"]).success();
    assert!(
        status.stdout.contains("pre-push")
            && status
                .stdout
                .contains("installed, current (runs the earlier hook first)"),
        "{}",
        status.stdout
    );
    s.twostage(&["hooks", "uninstall"]).success();
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-push")).unwrap(),
        "#!/bin/sh\necho foreign >&2\n"
    );
    assert!(!hooks.join("reference-transaction").exists() && !hooks.join("post-tag").exists());
    assert!(s
        .twostage(&["hooks", "status"])
        .success()
        .stdout
        .contains("not installed"));
}

fn listing(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names.join(",")
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o111 != 0
}

#[test]
fn release_then_push_follow_tags_builds_stages_and_verifies() {
    let s = Scratch::new("push-stages");
    sample(&s, Layout::StaticFlit, "ts-push-stages");
    install(&s);
    // post-tag builds right after `release` tags.
    with_hooks(&s, env!("CARGO_BIN_EXE_twostage"), &["release", "patch"])
        .success()
        .stderr_has("Built");
    assert!(s.work.join(".git/twostage/v1.4.3/artifacts.toml").exists());
    let run = with_hooks(&s, "git", &["push", "--follow-tags", "origin", "main"]).success();
    run.stderr_has("is staged and verified");
    assert!(origin_has(&s, "v1.4.3"));
    assert_eq!(staged_files("ts-push-stages").len(), 2);
    let note = s.git(&["notes", "--ref=release", "show", "v1.4.3^{commit}"]);
    assert!(note.contains("result = \"verified\""), "{note}");
    // Pushing the same tag again (e.g. to a second push URL) uploads nothing.
    let seen = uploads_seen("ts-push-stages");
    let run = with_hooks(&s, "git", &["push", "origin", "v1.4.3"]).success();
    assert_eq!(uploads_seen("ts-push-stages"), seen, "{}", run.stderr);
}

#[test]
fn a_failing_smoke_test_blocks_the_push() {
    let s = Scratch::new("push-blocked");
    sample(&s, Layout::StaticFlit, "ts-push-blocked");
    let toml = s.read("release.toml").replace(
        "[verify]\n",
        "[verify]\nsmoke = [\"python -c 'import ts_push_blocked.nothing_here'\"]\n",
    );
    s.write("release.toml", &toml);
    s.commit_all("A smoke test that fails");
    install(&s);
    with_hooks(&s, env!("CARGO_BIN_EXE_twostage"), &["release", "patch"]).success();
    let run = with_hooks(&s, "git", &["push", "--follow-tags", "origin", "main"]).failure(1);
    run.stderr_has("No module named 'ts_push_blocked.nothing_here'")
        .stderr_has("staging failed");
    assert!(!origin_has(&s, "v1.4.3"), "origin must not get the tag");
}

#[test]
fn skip_and_no_verify_bypass_the_hook() {
    let s = Scratch::new("bypass");
    sample(&s, Layout::StaticFlit, "ts-bypass");
    install(&s);
    s.twostage(&["release", "patch", "--offline"]).success();
    let out = s
        .command("git")
        .args(["push", "origin", "v1.4.3"])
        .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
        .env("TWOSTAGE_SKIP", "1")
        .output()
        .unwrap();
    Run::from(out).success().stderr_has("TWOSTAGE_SKIP=1");
    assert!(origin_has(&s, "v1.4.3"));
    s.twostage(&["release", "patch", "--offline"]).failure(1); // HEAD already released
    s.write("NEWS", "x\n");
    s.commit_all("More");
    s.twostage(&["release", "patch", "--offline"]).success();
    with_hooks(&s, "git", &["push", "--no-verify", "origin", "v1.4.4"]).success();
    assert!(origin_has(&s, "v1.4.4"));
    assert!(staged_files("ts-bypass").is_empty(), "nothing was staged");
}

/// A `TWOSTAGE_BIN` that records every call.
fn recorder(s: &Scratch) -> (PathBuf, PathBuf) {
    let log = s.dir.join("calls.log");
    let bin = s.dir.join("recorder");
    std::fs::write(
        &bin,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    make_executable(&bin);
    (bin, log)
}

#[test]
fn a_branch_only_push_never_starts_the_binary_but_a_foreign_hook_still_runs() {
    let s = Scratch::new("branch-push");
    sample(&s, Layout::StaticFlit, "ts-branch-push");
    let hooks = s.work.join(".git/hooks");
    let marker = s.dir.join("foreign-ran");
    std::fs::write(
        hooks.join("pre-push"),
        format!("#!/bin/sh\ncat > '{}'\n", marker.display()),
    )
    .unwrap();
    make_executable(&hooks.join("pre-push"));
    install(&s);
    let (bin, log) = recorder(&s);
    s.write("NEWS", "x\n");
    s.git(&["add", "NEWS"]);
    s.git(&["commit", "--quiet", "-m", "News"]);
    let sh = s.sh();
    Run::of(cmd!(sh, "git push origin main").env("TWOSTAGE_BIN", &bin)).success();
    assert!(!log.exists(), "the binary ran on a branch-only push");
    let seen = std::fs::read_to_string(&marker).unwrap();
    assert!(
        seen.contains("refs/heads/main"),
        "the foreign hook got the ref lines: {seen:?}"
    );
    // The control: a release tag push does start it.
    Run::of(cmd!(sh, "git tag -a v9.0.0 -m 'by hand'").env("TWOSTAGE_BIN", &bin)).success();
    Run::of(cmd!(sh, "git push origin v9.0.0").env("TWOSTAGE_BIN", &bin)).success();
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains("hook pre-push origin"), "{calls}");
    // A tag created on the remote from a commit (`HEAD:refs/tags/…`) starts it too.
    std::fs::remove_file(&log).unwrap();
    Run::of(cmd!(sh, "git push origin HEAD:refs/tags/v9.0.1").env("TWOSTAGE_BIN", &bin)).success();
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("hook pre-push origin"));
    assert!(
        calls.contains("hook post-tag v9.0.0"),
        "the hand-made tag fired post-tag: {calls}"
    );
}

#[test]
fn a_dry_run_push_uploads_nothing_and_says_so() {
    let s = Scratch::new("dry-push");
    sample(&s, Layout::StaticFlit, "ts-dry-push");
    install(&s);
    s.twostage(&["release", "patch", "--offline"]).success();
    let run = with_hooks(&s, "git", &["push", "--dry-run", "origin", "v1.4.3"]).success();
    run.stderr_has("would stage v1.4.3; nothing is uploaded");
    assert!(staged_files("ts-dry-push").is_empty());
}

#[test]
fn a_tag_made_by_hand_is_built_but_a_fetched_tag_is_not() {
    let s = Scratch::new("by-hand");
    sample(&s, Layout::StaticFlit, "ts-by-hand");
    install(&s);
    // Bump by hand and tag with plain git: the reference-transaction shim fires post-tag.
    s.write(
        "pyproject.toml",
        &s.read("pyproject.toml").replace("1.4.2", "1.4.3"),
    );
    s.commit_all("Bump by hand");
    with_hooks(&s, "git", &["tag", "-a", "v1.4.3", "-m", "Release v1.4.3"])
        .success()
        .stderr_has("Built");
    assert!(s.work.join(".git/twostage/v1.4.3/artifacts.toml").exists());
    // A tag that disagrees with the version of record is reported.
    with_hooks(&s, "git", &["tag", "-a", "v1.4.9", "-m", "wrong"])
        .stderr_has("the version of record");
    s.git(&["tag", "-d", "v1.4.9"]);
    s.git(&["push", "--quiet", "--no-verify", "origin", "v1.4.3"]);

    // A second clone with the hooks installed fetches the tag: nothing is built.
    let clone = s.dir.join("clone");
    s.git_in(
        &s.dir,
        &[
            "clone",
            "--quiet",
            "--no-tags",
            s.origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let (bin, log) = recorder(&s);
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .current_dir(&clone)
        .args(["hooks", "install"])
        .output()
        .unwrap();
    Run::from(out).success();
    let out = s
        .command("git")
        .current_dir(&clone)
        .args(["fetch", "--quiet", "origin", "tag", "v1.4.3"])
        .env("TWOSTAGE_BIN", &bin)
        .output()
        .unwrap();
    Run::from(out).success();
    s.git_in(&clone, &["pack-refs", "--all"]);
    assert!(!s.git_in(&clone, &["tag", "--list", "v1.4.3"]).is_empty());
    assert!(!log.exists(), "fetch or pack-refs started the binary");
    assert!(!clone.join(".git/twostage").exists());
}

#[test]
fn hooks_work_from_a_linked_worktree_and_with_core_hooks_path() {
    // A linked worktree shares the main repository's hooks.
    let s = Scratch::new("worktree");
    sample(&s, Layout::StaticFlit, "ts-worktree");
    install(&s);
    let wt = s.dir.join("wt");
    s.git(&[
        "worktree",
        "add",
        "--quiet",
        "-b",
        "side",
        wt.to_str().unwrap(),
    ]);
    std::fs::write(wt.join("NEWS"), "x\n").unwrap();
    s.git_in(&wt, &["add", "NEWS"]);
    s.git_in(&wt, &["commit", "--quiet", "-m", "On the side"]);
    // The post-tag hook runs the binary under test: without `TWOSTAGE_BIN` its shim would
    // ask `cargo xtask`, and cargo would find this checkout's workspace above the scratch folder.
    let sh = s.sh();
    sh.change_dir(&wt);
    let bin = env!("CARGO_BIN_EXE_twostage");
    Run::of(cmd!(sh, "git tag -a v1.4.2 -m 'Release v1.4.2'").env("TWOSTAGE_BIN", bin)).success();
    Run::of(
        cmd!(sh, "git push origin v1.4.2")
            .env("TWOSTAGE_BIN", bin)
            .env("TEST_PYPI_TOKEN", SENTINEL),
    )
    .success()
    .stderr_has("is staged and verified");
    assert_eq!(staged_files("ts-worktree").len(), 2);

    // core.hooksPath replaces .git/hooks entirely: install goes there.
    let s = Scratch::new("hookspath");
    sample(&s, Layout::StaticFlit, "ts-hookspath");
    s.git(&["config", "core.hooksPath", ".githooks"]);
    install(&s);
    assert!(s.work.join(".githooks/pre-push").exists());
    assert!(!s.work.join(".git/hooks/pre-push").exists());
    s.twostage(&["release", "patch", "--offline"]).success();
    with_hooks(&s, "git", &["push", "origin", "v1.4.3"])
        .success()
        .stderr_has("is staged and verified");
}

#[test]
fn pushing_to_another_remote_does_nothing() {
    let s = Scratch::new("other-remote");
    sample(&s, Layout::StaticFlit, "ts-other-remote");
    install(&s);
    let mirror = s.dir.join("mirror.git");
    s.git_in(
        &s.dir,
        &["init", "--quiet", "--bare", mirror.to_str().unwrap()],
    );
    s.git(&["remote", "add", "mirror", mirror.to_str().unwrap()]);
    s.twostage(&["release", "patch", "--offline"]).success();
    with_hooks(&s, "git", &["push", "mirror", "v1.4.3"])
        .success()
        .stderr_has("twostage does nothing");
    assert!(staged_files("ts-other-remote").is_empty());
}
