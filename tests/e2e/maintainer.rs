//! What a maintainer meets in a repository of their own: the whole lifecycle through plain
//! `cargo xtask` and the installed hooks (no `TWOSTAGE_BIN`, none of the variables cargo sets
//! for the test binary itself) without a rebuild, a release that fails whole when its tagged
//! commit does not build, and preflight naming the tools the release needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use crate::common::*;

/// A command as the maintainer's shell would start it, in the shared adopted target.
fn maintainer(s: &Scratch, program: &str, args: &[&str]) -> Command {
    let mut command = s.command(program);
    as_maintainer(&mut command)
        .args(args)
        .env("CARGO_TARGET_DIR", adopted_target())
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("PYPI_TOKEN", SENTINEL);
    command
}

fn run(s: &Scratch, program: &str, args: &[&str]) -> Run {
    Run::from(maintainer(s, program, args).output().unwrap())
}

/// Every fingerprint and output cargo keeps for the adopted workspace, with its mtime: any
/// rebuild changes at least one of them.
fn fingerprints() -> BTreeMap<PathBuf, SystemTime> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(meta) = entry.metadata() {
                out.insert(path, meta.modified().unwrap());
            }
        }
    }
    let debug = adopted_target().join("debug");
    let mut out = BTreeMap::new();
    walk(&debug.join(".fingerprint"), &mut out);
    if let Ok(meta) = std::fs::metadata(debug.join("xtask")) {
        out.insert(debug.join("xtask"), meta.modified().unwrap());
    }
    out
}

fn no_compiling(run: &Run, what: &str) {
    assert!(
        !run.stderr.contains("Compiling "),
        "{what} recompiled the tool:\n{}",
        run.stderr
    );
}

/// The sdist production serves (the same sha256 as the frozen file) carries none of the kit.
fn assert_production_serves_the_frozen_sdist_without_the_kit(s: &Scratch) {
    let served = served_map(&indexes().devpi_index.index_url, "ts-cargo-xtask");
    let sdist_name = "ts_cargo_xtask-1.4.3.tar.gz";
    let sdist = s.work.join(".git/twostage/v1.4.3/dist").join(sdist_name);
    assert_eq!(
        served.get(sdist_name).map(String::as_str),
        Some(sha256_hex(&std::fs::read(&sdist).unwrap()).as_str()),
        "production serves the frozen sdist: {served:?}"
    );
    let members = sdist_members(&sdist);
    assert!(
        members
            .iter()
            .any(|m| m == "PKG-INFO" || m.ends_with("/PKG-INFO")),
        "{members:?}"
    );
    let kit: Vec<_> = members.iter().filter(|m| is_kit(m)).collect();
    assert!(
        kit.is_empty(),
        "the promoted sdist carries the kit: {kit:?}"
    );
}

#[test]
fn the_whole_lifecycle_through_cargo_xtask_and_the_hooks_never_rebuilds() {
    let _target = adopted_target_to_myself();
    let s = Scratch::new("cargo-xtask");
    // setuptools-scm packs every tracked file into the sdist: the kit too, unless excluded.
    sample(&s, Layout::SetuptoolsScm, "ts-cargo-xtask");
    // init writes the path relative to the repository.
    s.twostage(&["init", ".", "--path", env!("CARGO_MANIFEST_DIR")])
        .success();
    s.commit_all("Adopt twostage");
    // The first build of the adopted `xtask` (not part of the lifecycle).
    run(&s, "cargo", &["xtask", "hooks", "install"]).success();
    let before = fingerprints();
    assert!(!before.is_empty(), "cargo keeps fingerprints");

    let release = run(&s, "cargo", &["xtask", "release", "patch"]).success();
    no_compiling(&release, "`cargo xtask release`");
    let tagged = s.git(&["rev-list", "-n", "1", "v1.4.3"]);
    assert!(
        s.work.join(".git/twostage/v1.4.3/artifacts.toml").is_file(),
        "release built the tag before returning"
    );

    let push = run(&s, "git", &["push", "--follow-tags", "origin", "main"]).success();
    no_compiling(&push, "the pre-push hook");
    let staged = pypiserver_files("ts-cargo-xtask")
        .into_keys()
        .filter(|f| f.starts_with("ts_cargo_xtask-1.4.3"))
        .count();
    assert_eq!(staged, 2, "the hook staged the wheel and the sdist");

    let promote = run(&s, "cargo", &["xtask", "promote", "v1.4.3", "--no-github"]).success();
    no_compiling(&promote, "`cargo xtask promote`");
    // The pre-push hook that the promotion's own push fires does not say it a second time.
    assert_eq!(
        promote.stderr.matches("Promoted v1.4.3").count(),
        1,
        "{}",
        promote.stderr
    );
    let status = run(&s, "cargo", &["xtask", "status"]).success();
    no_compiling(&status, "`cargo xtask status`");
    let row = status
        .stdout
        .lines()
        .find(|l| l.starts_with("v1.4.3 "))
        .unwrap_or_else(|| panic!("no row for v1.4.3:\n{}", status.stdout))
        .to_string();
    // No GitHub repository here (the origin is a folder): a promoted release is done, with
    // no next step (`reading::status_names_the_github_release_only_where_…` pins both cases).
    assert!(row.contains("promoted") && !row.contains("next:"), "{row}");
    let prod = s.git_in(&s.origin, &["rev-list", "-n", "1", "refs/tags/v1.4.3-prod"]);
    assert_eq!(
        prod, tagged,
        "the -prod tag on origin is the release commit"
    );

    assert_production_serves_the_frozen_sdist_without_the_kit(&s);

    let after = fingerprints();
    let changed: Vec<_> = after
        .iter()
        .filter(|(path, mtime)| before.get(*path) != Some(mtime))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(changed.is_empty(), "cargo rebuilt: {changed:#?}");
}

#[test]
fn a_release_whose_tagged_commit_does_not_build_leaves_no_tag_no_commit_and_a_clean_tree() {
    let s = Scratch::new("unbuildable");
    sample(&s, Layout::StaticFlit, "ts-unbuildable");
    // flit cannot package a module that is not there: the sdist would be broken.
    s.git(&["rm", "--quiet", "-r", "ts_unbuildable"]);
    s.commit_all("Lose the module");
    let before = s.snapshot();
    let run = s.twostage(&["release", "patch"]).failure(1);
    run.stderr_has("v1.4.3 was not released")
        .stderr_has("the build of v1.4.3 failed");
    assert!(
        run.stderr.contains("ts_unbuildable"),
        "the build's own error is shown:\n{}",
        run.stderr
    );
    assert_eq!(
        s.snapshot(),
        before,
        "no tag, no commit, every file as it was"
    );
    assert!(
        !s.work.join(".git/twostage/v1.4.3").exists(),
        "no half-built state is left"
    );
}

#[test]
fn preflight_names_a_missing_build_tool_and_how_to_get_it() {
    let s = Scratch::new("no-build-tool");
    sample(&s, Layout::StaticFlit, "ts-no-build-tool");
    let before = s.snapshot();
    let run = Run::from(
        s.command(env!("CARGO_BIN_EXE_twostage"))
            .args(["release", "patch", "--offline"])
            .env("TWOSTAGE_BUILD_COMMAND", "no-such-builder --out {out}")
            .output()
            .unwrap(),
    )
    .failure(1);
    run.stderr_has("needs `no-such-builder`, which is not on PATH")
        .stderr_has("`build.command`");

    // An interpreter without the `build` package, as on a fresh machine.
    let bare = s.dir.join("bare-python");
    let sh = s.sh();
    cmd!(sh, "python3 -m venv --without-pip {bare}")
        .run()
        .unwrap();
    let python = bare.join("bin/python");
    let command = format!("'{}' -m build --outdir {{out}}", python.display());
    let run = Run::from(
        s.command(env!("CARGO_BIN_EXE_twostage"))
            .args(["release", "patch", "--dry-run", "--offline"])
            .env("TWOSTAGE_BUILD_COMMAND", &command)
            .output()
            .unwrap(),
    )
    .failure(1);
    run.stderr_has("needs the Python package `build`")
        .stderr_has("-m pip install build");
    assert_eq!(s.snapshot(), before, "nothing changed");
}

#[test]
fn a_stale_index_lock_is_reported_before_any_file_is_edited() {
    let s = Scratch::new("index-lock");
    sample(&s, Layout::StaticHatchling, "ts-index-lock");
    std::fs::write(s.work.join(".git/index.lock"), "").unwrap();
    let before = s.snapshot();
    let run = s.twostage(&["release", "patch", "--offline"]).failure(1);
    run.stderr_has("index.lock` exists");
    assert_eq!(s.snapshot(), before, "nothing changed");
}

#[test]
fn a_tag_made_by_hand_that_does_not_build_says_how_to_remove_it() {
    let s = Scratch::new("hand-tag");
    sample(&s, Layout::StaticFlit, "ts-hand-tag");
    with_hooks(&s, env!("CARGO_BIN_EXE_twostage"), &["hooks", "install"]).success();
    // A release made by hand, whose module went missing.
    s.write(
        "pyproject.toml",
        &s.read("pyproject.toml").replace("1.4.2", "1.4.3"),
    );
    s.git(&["rm", "--quiet", "-r", "ts_hand_tag"]);
    s.commit_all("Release 1.4.3, by hand");
    // `git tag` cannot be undone by a hook: git made the tag before the hook ran.
    let tag = with_hooks(&s, "git", &["tag", "-a", "v1.4.3", "-m", "by hand"]);
    assert!(
        tag.stderr.contains("the build of v1.4.3 failed")
            && tag.stderr.contains("`git tag -d v1.4.3`")
            && tag.stderr.contains("`cargo xtask stage v1.4.3`"),
        "{}",
        tag.stderr
    );
}
