//! `rehearse` end to end: a fixture project (flit, with a smoke test) committed in a scratch
//! repository with its own bare origin is rehearsed with the real binary against the local
//! seed (never the network). What production serves is read from the kept sandbox's package
//! folder and hashed here; the repository and its origin are compared byte for byte, `.git`
//! included, before and after.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::*;

/// A scratch repository holding the fixture, committed and pushed, with an earlier release
/// tag, a release note and a hook of the maintainer's own, so there is something to disturb.
fn project(name: &str) -> Scratch {
    let s = Scratch::new(name);
    copy_fixture("rehearse", &s.work, &[]);
    s.commit_all("Import the fixture project");
    s.git(&["tag", "-a", "v1.4.2", "-m", "Release v1.4.2"]);
    s.git(&[
        "notes",
        "--ref",
        "refs/notes/release",
        "add",
        "-m",
        "an earlier release's note",
        "v1.4.2",
    ]);
    s.git(&["push", "--quiet", "origin", "v1.4.2", "refs/notes/release"]);
    s.write("README.md", "A change after 1.4.2.\n");
    s.commit_all("A change after 1.4.2");
    let hook = s.work.join(".git/hooks/pre-push");
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    make_executable(&hook);
    s
}

/// Every file and folder under a folder: path → (mode, bytes).
type Tree = BTreeMap<PathBuf, (u32, Vec<u8>)>;

/// Every file and folder under `dir`, `.git` included.
fn tree(dir: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.insert(relative, (mode, Vec::new()));
                walk(root, &path, out);
            } else {
                out.insert(relative, (mode, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The repository (work tree and `.git`) and the whole bare origin.
fn snapshot(s: &Scratch) -> (Tree, Tree) {
    (tree(&s.work), tree(&s.origin))
}

#[track_caller]
fn assert_unchanged(s: &Scratch, before: &(Tree, Tree)) {
    let after = snapshot(s);
    for (which, old, new) in [
        ("repository", &before.0, &after.0),
        ("origin", &before.1, &after.1),
    ] {
        let changed: Vec<_> = old
            .keys()
            .chain(new.keys())
            .filter(|k| old.get(*k) != new.get(*k))
            .collect();
        assert!(changed.is_empty(), "the {which} changed: {changed:?}");
    }
}

/// Runs `rehearse --keep` with the local seed and a token of the maintainer's own in the
/// environment; returns the run and the kept scratch folder.
fn rehearse(s: &Scratch) -> (Run, PathBuf) {
    rehearse_in(s.command(env!("CARGO_BIN_EXE_twostage")))
}

/// `rehearse` as above, through `command` (the binary with the environment a test chose).
pub fn rehearse_in(mut command: std::process::Command) -> (Run, PathBuf) {
    // Each rehearsal starts a devpi and a pypiserver of its own and waits at most 60 s for
    // them: one rehearsal at a time, so their start-ups do not compete with each other for
    // the CPU while the other tests run beside them.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = command
        .args(["rehearse", "--keep"])
        .env("TWOSTAGE_REHEARSE_OFFLINE", "1")
        // The maintainer's real tokens, under the configured and the usual names.
        .env("TS_REHEARSE_PRODUCTION_TOKEN", SENTINEL)
        .env("TS_REHEARSE_STAGING_TOKEN", SENTINEL)
        .env("PYPI_TOKEN", SENTINEL)
        .env("TWINE_PASSWORD", SENTINEL)
        .output()
        .unwrap();
    let run = Run::from(out);
    let kept = run
        .stderr
        .split("the scratch folder stays at `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no kept scratch folder:\n{}", run.stderr));
    (run, kept)
}

/// The fixture's files in the kept production pypiserver's package folder, with their sha256.
fn production_files(kept: &Path) -> BTreeMap<String, String> {
    hashed_files(&kept.join("pypiserver/packages"), |f| {
        f.starts_with("ts_rehearse")
    })
}

#[test]
fn rehearsal_promotes_to_local_production_and_leaves_the_repository_byte_identical() {
    let s = project("rehearse-ok");
    // Uncommitted work is not part of the rehearsal, and stays as it is.
    s.write("CHANGELOG.md", "# Changelog\n\nwork in progress\n");
    s.write("notes.txt", "untracked\n");
    let before = snapshot(&s);

    let (run, kept) = rehearse(&s);
    let run = run.success();
    run.stderr_has("1 uncommitted change (`CHANGELOG.md`) is not part of the rehearsal")
        .stderr_has("production serves a local seed");

    let served = production_files(&kept);
    let names: Vec<&str> = served.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "ts_rehearse-1.4.3-py2.py3-none-any.whl",
            "ts_rehearse-1.4.3.tar.gz"
        ],
        "{}",
        run.stderr
    );
    for (name, sha256) in &served {
        assert!(
            run.stdout.contains(&format!("{name}  sha256={sha256}")),
            "the summary does not show what production stores:\n{}",
            run.stdout
        );
    }
    // The clone (named like the repository's folder) released the committed changelog, not
    // the work in progress.
    let changelog = std::fs::read_to_string(kept.join("work/CHANGELOG.md")).unwrap();
    assert!(
        changelog.contains("## [1.4.3]") && !changelog.contains("work in progress"),
        "{changelog}"
    );
    assert_unchanged(&s, &before);
    std::fs::remove_dir_all(&kept).unwrap();
}

#[test]
fn a_failing_smoke_test_stops_the_rehearsal_before_production() {
    let s = project("rehearse-fail");
    s.write(
        "tests/smoke.py",
        "raise SystemExit(\"the smoke test fails on purpose\")\n",
    );
    s.commit_all("Break the smoke test");
    let before = snapshot(&s);

    let (run, kept) = rehearse(&s);
    let run = run.failure(1);
    run.stderr_has("the smoke test fails on purpose")
        .stderr_has("the rehearsal stopped at: git push --follow-tags origin main");
    assert!(
        production_files(&kept).is_empty(),
        "production got files: {:?}",
        production_files(&kept)
    );
    assert_unchanged(&s, &before);
    std::fs::remove_dir_all(&kept).unwrap();
}

#[test]
fn a_folder_outside_any_repository_is_a_usage_error() {
    let s = Scratch::new("rehearse-norepo");
    // Outside the scratch root, which lies inside this workspace's own repository.
    let outside = std::env::temp_dir().join(format!("twostage-norepo-{}", std::process::id()));
    std::fs::create_dir_all(&outside).unwrap();
    let run = Run::from(
        s.command(env!("CARGO_BIN_EXE_twostage"))
            .args(["rehearse", "--repo"])
            .arg(&outside)
            .env("TWOSTAGE_REHEARSE_OFFLINE", "1")
            .output()
            .unwrap(),
    );
    std::fs::remove_dir_all(&outside).unwrap();
    let run = run.failure(2);
    run.stderr_has("is not inside a git repository");
    assert!(
        !run.stderr.contains("Step"),
        "nothing was started: {}",
        run.stderr
    );
}

#[test]
fn a_project_without_release_toml_on_another_branch_is_rehearsed_with_the_defaults() {
    let s = project("rehearse-defaults");
    s.git(&["checkout", "--quiet", "-b", "feature"]);
    s.git(&["rm", "--quiet", "release.toml"]);
    s.write(
        "pyproject.toml",
        "[build-system]\nrequires = [\"flit_core >=3.2,<5\"]\nbuild-backend = \"flit_core.buildapi\"\n\n\
         [project]\nname = \"ts-rehearse\"\nversion = \"1.4.2\"\ndescription = \"A fixture\"\n",
    );
    s.git(&[
        "commit",
        "--quiet",
        "-am",
        "No release.toml, a static version",
    ]);
    let before = snapshot(&s);
    // An earlier rehearsal, interrupted (its process is gone), and one kept with `--keep`.
    let scratches = twostage::steps::rehearse::scratch_parent();
    let (stale, kept_earlier) = (
        scratches.join("old-999999999"),
        scratches.join("old-999999998"),
    );
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::create_dir_all(&kept_earlier).unwrap();
    std::fs::write(kept_earlier.join(".kept"), "").unwrap();

    let (run, kept) = rehearse(&s);
    assert!(!stale.exists(), "an interrupted rehearsal's folder stays");
    assert!(kept_earlier.exists(), "a kept folder was removed");
    std::fs::remove_dir_all(&kept_earlier).unwrap();
    let run = run.success();
    run.stderr_has("no `release.toml` is committed")
        .stderr_has("the clone releases it as the release branch `main`");
    let served = production_files(&kept);
    assert_eq!(
        served.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "ts_rehearse-1.4.3-py2.py3-none-any.whl",
            "ts_rehearse-1.4.3.tar.gz"
        ],
        "{}",
        run.stderr
    );
    assert_unchanged(&s, &before);
    std::fs::remove_dir_all(&kept).unwrap();
}

/// A folder for PATH holding `git`, `sh` and a `python3` that runs `python` with `flags`,
/// writing each command line it gets to `calls` first; no `uv`.
fn path_without_uv(s: &Scratch, python: &Path, flags: &str, calls: &Path) -> PathBuf {
    let bin = s.dir.join("bin-without-uv");
    std::fs::create_dir_all(&bin).unwrap();
    for program in ["git", "sh"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(program))
            .find(|p| p.is_file())
            .unwrap();
        std::os::unix::fs::symlink(found, bin.join(program)).unwrap();
    }
    let wrapper = bin.join("python3");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' {flags} \"$@\"\n",
            calls.display(),
            python.display()
        ),
    )
    .unwrap();
    make_executable(&wrapper);
    bin
}

/// The interpreter the tools' venv was made from: Python without `build` or any other package
/// when started with `-S`.
fn base_python() -> PathBuf {
    let python = testbed::tools().unwrap().python();
    let out = std::process::Command::new(python)
        .args(["-c", "import sys; print(sys._base_executable)"])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// The problem lines (`  - …`) of a refusal.
fn problem_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with("  - "))
        .map(str::to_string)
        .collect()
}

#[test]
fn without_uv_and_build_the_rehearsal_refuses_as_release_would_before_starting_anything() {
    let s = project("rehearse-notools");
    let calls = s.dir.join("python3-calls");
    let bin = path_without_uv(&s, &base_python(), "-S", &calls);
    let tmp = s.dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let before = snapshot(&s);
    let snap = s.snapshot();

    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command.env("PATH", &bin).env("TMPDIR", &tmp);
    let run = Run::from(
        command
            .args(["rehearse", "--keep"])
            .env("TWOSTAGE_REHEARSE_OFFLINE", "1")
            .output()
            .unwrap(),
    )
    .failure(1);
    // No server, no scratch folder: nothing was started, and nothing changed.
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "{}",
        run.stderr
    );
    assert_unchanged(&s, &before);
    assert_eq!(s.snapshot(), snap);

    let mut release = s.command(env!("CARGO_BIN_EXE_twostage"));
    release.env("PATH", &bin);
    let released = Run::from(release.args(["release", "patch"]).output().unwrap()).failure(1);

    let (rehearsed, refused) = (problem_lines(&run.stderr), problem_lines(&released.stderr));
    assert!(
        rehearsed
            .iter()
            .any(|l| l.contains("needs the Python package `build`")),
        "{}",
        run.stderr
    );
    // The same check as `release`'s, word for word (release adds its own other checks).
    for line in &rehearsed {
        assert!(
            refused.contains(line),
            "`release` does not say {line:?}:\n{}",
            released.stderr
        );
    }
}

#[test]
fn without_uv_the_rehearsal_builds_and_verifies_with_what_release_finds_on_path() {
    let s = project("rehearse-pip");
    let calls = s.dir.join("python3-calls");
    // A `python3` that has `build` and pip (the tools' venv), and no uv anywhere on PATH.
    let tools_python = testbed::tools().unwrap().python();
    let bin = path_without_uv(&s, &tools_python, "", &calls);
    let rest = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .filter(|d| !d.join("uv").exists())
        .collect::<Vec<_>>();
    let path = std::env::join_paths(std::iter::once(bin).chain(rest)).unwrap();
    let before = snapshot(&s);

    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command.env("PATH", &path);
    let (run, kept) = rehearse_in(command);
    let run = run.success();

    let calls = std::fs::read_to_string(&calls).unwrap();
    assert!(
        calls.lines().any(|l| l.starts_with("-m build --outdir")),
        "the release's default build without uv (`python3 -m build`) did not run: {calls}\n{}",
        run.stderr
    );
    let note = kept_note(&kept.join("work"), "v1.4.3");
    let installer = note["verification"]["installer"].as_str().unwrap();
    assert!(installer.starts_with("pip "), "{installer}\n{}", run.stderr);
    assert_eq!(production_files(&kept).len(), 2, "{}", run.stderr);
    assert_unchanged(&s, &before);
    std::fs::remove_dir_all(&kept).unwrap();
}

/// The release note of `tag` in the kept clone `work`.
fn kept_note(work: &Path, tag: &str) -> toml_edit::DocumentMut {
    let out = std::process::Command::new("git")
        .current_dir(work)
        .args([
            "notes",
            "--ref=release",
            "show",
            &format!("{tag}^{{commit}}"),
        ])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().parse().unwrap()
}

#[test]
fn the_managed_tools_go_to_the_users_cache_folder_not_the_binarys_target() {
    let s = project("rehearse-cache");
    let cache = s.dir.join("cache");
    let tmp = s.dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    // No tools folder named: the platform's. An interpreter that cannot make the venv ends the
    // install at once, after the folder is chosen and locked: the test stays cheap.
    command
        .env_remove(testbed::TOOLS_DIR_ENV)
        .env("XDG_CACHE_HOME", &cache)
        .env("TMPDIR", &tmp)
        .env("TWOSTAGE_PYTHON", s.dir.join("no-such-python"));
    let run = Run::from(
        command
            .args(["rehearse"])
            .env("TWOSTAGE_REHEARSE_OFFLINE", "1")
            .output()
            .unwrap(),
    )
    .failure(1);
    let folders: Vec<PathBuf> = std::fs::read_dir(cache.join("twostage"))
        .unwrap_or_else(|e| panic!("no `twostage` in the cache folder ({e}):\n{}", run.stderr))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let name = folders[0].file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("tools-") && name.len() == 22, "{name}");
    assert!(folders[0].join(".lock").is_file(), "{}", run.stderr);
    run.stderr_has(&format!("`{}`", folders[0].display()))
        .stderr_has("once per user");
}

#[test]
fn the_maintainers_verify_override_reaches_the_rehearsals_stage() {
    let s = project("rehearse-override");
    let before = snapshot(&s);
    // uv is on PATH (the tests' own), and `release`/`stage` here would install with pip.
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command.env("TWOSTAGE_VERIFY_INSTALLER", "pip");
    let (run, kept) = rehearse_in(command);
    let run = run.success();
    let note = kept_note(&kept.join("work"), "v1.4.3");
    let installer = note["verification"]["installer"].as_str().unwrap();
    assert!(installer.starts_with("pip "), "{installer}\n{}", run.stderr);
    assert_unchanged(&s, &before);
    std::fs::remove_dir_all(&kept).unwrap();
}
