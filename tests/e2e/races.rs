//! Two runs at once, and a `release` killed at each step: the lock of one run per repository
//! makes two runs end as one would have, and the release journal lets a rerun finish (or undo)
//! a half-made release without skipping a version (docs/release.md, "One run at a time" and
//! "A release that was killed").

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// How many times each race is run (the issue asks for 20).
const RACES: usize = 20;

/// Fixed dates for every git object a run makes, so that two repositories given the same
/// commands make the same objects, byte for byte.
const DATES: [(&str, &str); 2] = [
    ("GIT_AUTHOR_DATE", "2026-11-24T12:00:00Z"),
    ("GIT_COMMITTER_DATE", "2026-11-24T12:00:00Z"),
];

fn twostage(s: &Scratch, args: &[&str]) -> Command {
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .args(args)
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .envs(DATES)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn finish(child: Child) -> Run {
    Run::from(child.wait_with_output().unwrap())
}

/// A change to release, committed and pushed.
fn change(s: &Scratch, n: usize) {
    s.write("NOTES.txt", &format!("change {n}\n"));
    s.git(&["add", "-A"]);
    let sh = s.sh();
    let message = format!("Change {n}");
    cmd!(sh, "git commit --quiet -m {message}")
        .envs(DATES)
        .run()
        .unwrap();
    s.git(&["push", "--quiet", "origin", "main"]);
}

/// Whether the release note of `tag` says it was verified.
fn verified(s: &Scratch, tag: &str) -> bool {
    let sh = s.sh();
    let commit = format!("{tag}^{{commit}}");
    let note = cmd!(sh, "git notes --ref=release show {commit}")
        .ignore_status()
        .ignore_stderr()
        .read()
        .unwrap_or_default();
    note.contains("result = \"verified\"")
}

#[test]
fn two_stages_of_one_tag_at_once_both_end_verified_with_one_copy_of_each_file() {
    let name = "ts-race-stage";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    let started = Instant::now();
    let mut expected = std::collections::BTreeMap::new();
    for n in 0..RACES {
        if n > 0 {
            change(&s, n);
        }
        s.twostage(&["release", "patch"]).success();
        let tag = format!("v1.4.{}", 3 + n);
        let first = twostage(&s, &["stage", &tag]).spawn().unwrap();
        let second = twostage(&s, &["stage", &tag]).spawn().unwrap();
        let (first, second) = (finish(first), finish(second));
        for run in [&first, &second] {
            assert_eq!(
                run.code, 0,
                "run {n}:\n{}\n---\n{}",
                first.stderr, second.stderr
            );
        }
        assert!(verified(&s, &tag), "run {n}");
        // Exactly the frozen files, each stored once and never offered twice.
        expected.extend(frozen_files(&s, &tag));
        assert_eq!(pypiserver_files(name), expected, "run {n}");
        assert_eq!(
            upload_requests(name),
            0,
            "run {n}: an upload was refused as a copy"
        );
    }
    assert_eq!(pypiserver_stored(name).len(), 2 * RACES);
    eprintln!(
        "{RACES} races of two stages took {:.0}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn two_releases_at_once_make_one_release_as_one_run_would() {
    let name = "ts-race-release";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    let mut refused = 0;
    for n in 0..RACES {
        change(&s, n);
        // A copy of the repository and its origin, released once: what one run gives.
        let twin_dir = s.dir.with_file_name(format!(
            "{}-twin-{n}",
            s.dir.file_name().unwrap().to_str().unwrap()
        ));
        let _ = std::fs::remove_dir_all(&twin_dir);
        let sh = s.sh();
        let (from, to) = (&s.dir, &twin_dir);
        cmd!(sh, "cp -a {from} {to}").run().unwrap();
        let twin = Scratch {
            work: twin_dir.join("work"),
            origin: twin_dir.join("origin.git"),
            home: twin_dir.join("home"),
            dir: twin_dir.clone(),
        };
        let origin = twin.origin.to_str().unwrap().to_string();
        twin.git(&["remote", "set-url", "origin", &origin]);
        finish(twostage(&twin, &["release", "patch"]).spawn().unwrap()).success();
        let one_run = twin.snapshot();

        let before = s.snapshot();
        let first = twostage(&s, &["release", "patch"]).spawn().unwrap();
        let second = twostage(&s, &["release", "patch"]).spawn().unwrap();
        let pids = [first.id(), second.id()];
        let runs = [finish(first), finish(second)];
        let won: Vec<usize> = (0..2).filter(|&i| runs[i].code == 0).collect();
        assert_eq!(
            won.len(),
            1,
            "run {n}: {} / {}",
            runs[0].stderr,
            runs[1].stderr
        );
        let (winner, loser) = (won[0], 1 - won[0]);
        let loser_run = &runs[loser];
        assert_eq!(loser_run.code, 1, "{}", loser_run.stderr);
        let named = format!("holds the lock of this repository: pid {}", pids[winner]);
        if loser_run.stderr.contains(&named) {
            refused += 1;
        } else {
            // It started after the winner had finished: HEAD was released by then.
            loser_run.stderr_has("HEAD is already released as");
        }
        assert_ne!(s.snapshot(), before, "run {n}");
        assert_eq!(s.snapshot(), one_run, "run {n}: {}", runs[winner].stderr);
        let tag = format!("v1.4.{}", 3 + n);
        assert_eq!(
            s.git(&["rev-parse", &format!("{tag}^{{commit}}")]),
            s.git(&["rev-parse", "HEAD"])
        );
        assert!(!frozen_files(&s, &tag).is_empty(), "run {n}: built");
        std::fs::remove_dir_all(&twin_dir).unwrap();
    }
    assert!(refused > 0, "no two runs overlapped in {RACES} races");
    eprintln!("{refused} of {RACES} second releases were refused naming the holder");
}

fn hook(s: &Scratch, name: &str, body: &str) {
    let path = s.work.join(".git/hooks").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    make_executable(&path);
}

/// The build command of the sample's `release.toml`, slowed down.
fn slow_build(s: &Scratch) -> String {
    let command = s
        .read("release.toml")
        .lines()
        .find(|l| l.starts_with("command = "))
        .unwrap()
        .trim_start_matches("command = \"")
        .trim_end_matches('"')
        .replace("\\\"", "\"");
    format!("sleep 5; {command}")
}

/// Exactly one release was made from `before`, of 1.4.3: the tag on a commit `Release v1.4.3`
/// whose parent is `before`, the version files saying 1.4.3, the tag built, the tree clean,
/// and no later version tagged.
fn assert_released_once(s: &Scratch, before: &str, what: &str) {
    let commit = s.git(&["rev-parse", "v1.4.3^{commit}"]);
    assert_eq!(commit, s.git(&["rev-parse", "HEAD"]), "{what}");
    assert_eq!(s.git(&["rev-parse", "HEAD^"]), before, "{what}");
    assert_eq!(
        s.git(&["log", "-1", "--format=%s"]),
        "Release v1.4.3",
        "{what}"
    );
    assert_eq!(s.git(&["tag", "--list"]), "v1.4.3", "{what}");
    assert!(
        s.read("pyproject.toml").contains("version = \"1.4.3\""),
        "{what}"
    );
    assert!(s.read("CHANGELOG.md").contains("## [1.4.3]"), "{what}");
    assert_eq!(s.git(&["status", "--porcelain"]), "", "{what}");
    assert!(!frozen_files(s, "v1.4.3").is_empty(), "{what}: built");
    // Built for this commit: the frozen set's manifest names it.
    let frozen: toml_edit::DocumentMut =
        std::fs::read_to_string(s.work.join(".git/twostage/v1.4.3/artifacts.toml"))
            .unwrap()
            .parse()
            .unwrap();
    assert_eq!(frozen["commit"].as_str(), Some(commit.as_str()), "{what}");
    assert!(
        !s.work.join(".git/twostage/release.journal").exists(),
        "{what}: the journal is gone"
    );
}

/// Where a `release` is killed: the git hook that holds it there (with its body), whether the
/// build is slowed down, the stderr line to kill on, and how long after it.
struct KillPoint {
    what: &'static str,
    hook: Option<(&'static str, &'static str)>,
    slow_build: bool,
    needle: &'static str,
    after: Duration,
}

/// Kills a `release patch` at `at`, checks the state it left is the one named, and that the
/// rerun ends with exactly one release of 1.4.3 (and the next release is 1.4.4).
fn killed_release_is_finished_by_the_rerun(at: KillPoint) {
    let what = at.what;
    let name = format!("ts-kill-release-{}", what.replace(' ', "-"));
    let s = Scratch::new(&name);
    sample(&s, Layout::StaticFlit, &name);
    let before = s.git(&["rev-parse", "HEAD"]);
    if let Some((hook_name, body)) = at.hook {
        hook(&s, hook_name, body);
    }
    let mut command = twostage(&s, &["release", "patch"]);
    if at.slow_build {
        command.env("TWOSTAGE_BUILD_COMMAND", slow_build(&s));
    }
    let seen = kill_group_when(command, at.needle, at.after);
    assert!(seen.contains(at.needle), "{what}: {seen}");
    // The state the kill left, as the case says.
    let head = s.git(&["rev-parse", "HEAD"]);
    let tagged = !s.git(&["tag", "--list"]).is_empty();
    let edited = !s.git(&["status", "--porcelain"]).is_empty();
    match what {
        "after the bump" => assert!(head == before && !tagged && edited, "{what}"),
        "during the commit" => {
            assert!(head == before && !tagged && edited, "{what}");
            assert!(s.work.join(".git/index.lock").exists(), "{what}");
        }
        "after the commit" => assert!(head != before && !tagged, "{what}"),
        _ => assert!(tagged && !s.work.join(".git/twostage/v1.4.3/artifacts.toml").exists()),
    }
    if let Some((hook_name, _)) = at.hook {
        std::fs::remove_file(s.work.join(".git/hooks").join(hook_name)).unwrap();
    }
    let rerun = finish(twostage(&s, &["release", "patch"]).spawn().unwrap()).success();
    rerun.stderr_has("Resuming");
    assert_released_once(&s, &before, what);
    // The next release is the next version.
    change(&s, 1);
    finish(twostage(&s, &["release", "patch"]).spawn().unwrap()).success();
    assert_eq!(s.git(&["tag", "--list"]), "v1.4.3\nv1.4.4", "{what}");
}

#[test]
fn a_release_killed_after_the_bump_is_undone_and_made_again_by_the_rerun() {
    // The files written (some or all, staged or not), the commit not begun: the kill lands
    // while the second file is written or git adds them, before the pre-commit hook.
    killed_release_is_finished_by_the_rerun(KillPoint {
        what: "after the bump",
        hook: Some(("pre-commit", "sleep 5")),
        slow_build: false,
        needle: "Editing `CHANGELOG.md`",
        after: Duration::ZERO,
    });
}

#[test]
fn a_release_killed_during_the_commit_is_undone_and_made_again_by_the_rerun() {
    // git commit running its pre-commit hook, holding `index.lock`.
    killed_release_is_finished_by_the_rerun(KillPoint {
        what: "during the commit",
        hook: Some(("pre-commit", "sleep 5")),
        slow_build: false,
        needle: "Committing",
        after: Duration::from_millis(1000),
    });
}

#[test]
fn a_release_commit_killed_before_its_tag_is_tagged_and_built_by_the_rerun() {
    // The release commit made, its post-commit hook running, no tag.
    killed_release_is_finished_by_the_rerun(KillPoint {
        what: "after the commit",
        hook: Some(("post-commit", "sleep 5")),
        slow_build: false,
        needle: "Committing",
        after: Duration::from_millis(1000),
    });
}

#[test]
fn a_release_killed_during_its_build_is_built_by_the_rerun() {
    // The tag made, its build running.
    killed_release_is_finished_by_the_rerun(KillPoint {
        what: "during the build",
        hook: None,
        slow_build: true,
        needle: "Building",
        after: Duration::from_millis(500),
    });
}

#[test]
fn a_held_lock_is_named_and_a_killed_holders_lock_is_taken_over() {
    let name = "ts-lock-held";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.twostage(&["release", "patch"]).success();
    change(&s, 1);
    // A release that holds the lock while git runs its pre-commit hook.
    hook(&s, "pre-commit", "sleep 30");
    let mut holder = twostage(&s, &["release", "patch"])
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    while !seen.contains("Committing") {
        let line = lines.next().unwrap().unwrap();
        seen.push_str(&line);
        seen.push('\n');
    }
    let pid = holder.id();
    let named = format!("pid {pid} (`twostage release patch`) since ");

    // A second release is refused at once, naming the holder, and changes nothing.
    let before = s.snapshot();
    let refused = finish(twostage(&s, &["release", "patch"]).spawn().unwrap());
    refused
        .failure(1)
        .stderr_has("another twostage run holds the lock of this repository")
        .stderr_has(&named);
    assert_eq!(s.snapshot(), before);
    // A stage waits, saying for whom, and gives up when its wait is over.
    let waited = Instant::now();
    let gave_up = finish(
        twostage(&s, &["stage", "v1.4.3"])
            .env("TWOSTAGE_LOCK_WAIT", "2s")
            .spawn()
            .unwrap(),
    );
    gave_up
        .failure(1)
        .stderr_has("Waiting")
        .stderr_has("gave up after 2s waiting for the lock")
        .stderr_has(&named);
    assert!(waited.elapsed() >= Duration::from_secs(2));
    assert!(!verified(&s, "v1.4.3"), "nothing staged");
    assert!(pypiserver_files(name).is_empty(), "nothing uploaded");

    // The holder is killed: its record stays, the kernel's lock does not.
    // SAFETY: kill(2) of the child's own process group.
    unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
    holder.wait().unwrap();
    let record = std::fs::read_to_string(s.work.join(".git/twostage/run.lock")).unwrap();
    assert!(record.contains(&format!("pid = {pid}\n")), "{record}");
    std::fs::remove_file(s.work.join(".git/hooks/pre-commit")).unwrap();
    let rerun = finish(twostage(&s, &["release", "patch"]).spawn().unwrap()).success();
    rerun
        .stderr_has("taking over the lock of this repository from")
        .stderr_has(&named)
        .stderr_has("Resuming");
    assert_eq!(s.git(&["tag", "--list"]), "v1.4.3\nv1.4.4");
    assert_eq!(
        s.git(&["rev-parse", "v1.4.4^{commit}"]),
        s.git(&["rev-parse", "HEAD"])
    );
    // A run that ended well clears its record.
    let record = std::fs::read_to_string(s.work.join(".git/twostage/run.lock")).unwrap();
    assert_eq!(record, "");
    // The stage that gave up now goes through.
    let staged = finish(twostage(&s, &["stage", "v1.4.3"]).spawn().unwrap()).success();
    staged.stderr_has("is staged and verified");
    assert!(verified(&s, "v1.4.3"));
}

#[test]
fn the_hooks_a_holder_fires_run_under_its_lock() {
    let name = "ts-lock-descendants";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.twostage(&["hooks", "install"]).success();
    // `release --push` holds the lock while git runs the pre-push hook, whose `stage` runs in
    // a grandchild: it must go through, not wait for its own ancestor.
    let run = finish(
        twostage(&s, &["release", "patch", "--push"])
            .env("TWOSTAGE_LOCK_WAIT", "5s")
            .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
            .spawn()
            .unwrap(),
    );
    run.success().stderr_has("is staged and verified");
    assert!(verified(&s, "v1.4.3"));
    assert_eq!(pypiserver_files(name), frozen_files(&s, "v1.4.3"));
    assert_eq!(
        s.git_in(&s.origin, &["rev-parse", "v1.4.3^{commit}"]),
        s.git(&["rev-parse", "HEAD"])
    );
}

#[test]
fn a_release_commit_without_its_tag_and_without_a_journal_is_refused() {
    // As an older twostage, killed between the commit and the tag, left it: no journal.
    let name = "ts-untagged-release";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    let pyproject = s.read("pyproject.toml").replace("1.4.2", "1.4.3");
    s.write("pyproject.toml", &pyproject);
    s.git(&["commit", "--quiet", "-am", "Release v1.4.3"]);
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("HEAD is the release commit `Release v1.4.3` without the tag `v1.4.3`");
    assert_eq!(s.snapshot(), before, "nothing changed, v1.4.4 not made");
}
