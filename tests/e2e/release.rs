//! `release`: bump, changelog, commit, tag, against scratch repositories with a bare origin
//! and real local indexes.

use crate::common::*;

fn assert_released(s: &Scratch, tag: &str, files: &[(&str, &str)]) {
    // An annotated tag on the release commit, which is HEAD, with a clean tree.
    assert_eq!(s.git(&["cat-file", "-t", tag]), "tag");
    assert_eq!(
        s.git(&["rev-parse", &format!("{tag}^{{commit}}")]),
        s.git(&["rev-parse", "HEAD"])
    );
    assert_eq!(
        s.git(&[
            "for-each-ref",
            "--format=%(contents:subject)",
            &format!("refs/tags/{tag}")
        ]),
        format!("Release {tag}")
    );
    assert_eq!(s.git(&["status", "--porcelain"]), "");
    for (path, needle) in files {
        assert!(
            s.read(path).contains(needle),
            "{path} lacks {needle:?}:\n{}",
            s.read(path)
        );
    }
}

#[test]
fn release_bumps_every_version_file_rolls_the_changelog_commits_and_tags() {
    let s = Scratch::new("static-hatchling");
    sample(&s, Layout::StaticHatchling, "ts-static-hatchling");
    let before_pyproject = s.read("pyproject.toml");
    let run = s.twostage(&["release", "patch"]).success();
    run.stderr_has("Tagging").stderr_has("v1.4.3");

    assert_released(
        &s,
        "v1.4.3",
        &[(
            "src/ts_static_hatchling/__init__.py",
            "__version__ = \"1.4.3\"  # bumped by twostage",
        )],
    );
    assert_eq!(s.git(&["log", "-1", "--format=%s"]), "Release v1.4.3");
    // Only the version's bytes changed: the quotes, comment and spacing are as they were.
    assert_eq!(
        s.read("pyproject.toml"),
        before_pyproject.replace("'1.4.2'", "'1.4.3'")
    );
    assert_eq!(
        s.read("CHANGELOG.md"),
        "# Changelog\n\n## [Unreleased]\n\n## [1.4.3] - 2026-11-24\n\n### Fixed\n- the thing\n\n## [1.4.2] - 2026-01-02\n\n- earlier\n"
    );
    // The release commit touched exactly the version files and the changelog.
    let changed = s.git(&["diff", "--name-only", "HEAD~1", "HEAD"]);
    assert_eq!(
        changed,
        "CHANGELOG.md\npyproject.toml\nsrc/ts_static_hatchling/__init__.py"
    );
    // Nothing was pushed without --push.
    assert_eq!(s.git_in(&s.origin, &["tag"]), "");
    assert_eq!(built_version(&s, "v1.4.3"), "1.4.3");
}

#[test]
fn push_sends_branch_and_tag_atomically() {
    let s = Scratch::new("push");
    sample(&s, Layout::StaticFlit, "ts-push");
    s.twostage(&["release", "rc", "--push"]).success();
    let head = s.git(&["rev-parse", "HEAD"]);
    assert_eq!(s.git_in(&s.origin, &["rev-parse", "main"]), head);
    assert_eq!(
        s.git_in(&s.origin, &["rev-parse", "v1.4.3-rc.1^{commit}"]),
        head
    );
    assert!(s.read("pyproject.toml").contains("version = \"1.4.3rc1\""));
}

/// A sample of `layout` released as a minor bump: `path` holds `needle`, and the real build
/// backend reads the new version back from the tagged commit.
fn assert_minor_bump_builds(layout: Layout, name: &str, path: &str, needle: &str) {
    let s = Scratch::new(name);
    sample(&s, layout, name);
    s.twostage(&["release", "minor"]).success();
    assert_released(
        &s,
        "v1.5.0",
        &[(path, needle), ("CHANGELOG.md", "## [1.5.0] - 2026-11-24")],
    );
    assert_eq!(built_version(&s, "v1.5.0"), "1.5.0", "{layout:?}");
    if let Layout::SetuptoolsAttr = layout {
        assert!(s
            .read("src/ts_setuptools_attr/_unicode.py")
            .contains("1.4.2"));
    }
}

#[test]
fn a_static_flit_version_is_bumped_so_the_backend_builds_the_new_version() {
    assert_minor_bump_builds(
        Layout::StaticFlit,
        "ts-static-flit",
        "pyproject.toml",
        "version = \"1.5.0\"",
    );
}

#[test]
fn a_static_poetry_version_is_bumped_so_the_backend_builds_the_new_version() {
    assert_minor_bump_builds(
        Layout::StaticPoetry,
        "ts-static-poetry",
        "pyproject.toml",
        "version = \"1.5.0\"",
    );
}

#[test]
fn a_dynamic_flit_version_is_bumped_so_the_backend_builds_the_new_version() {
    assert_minor_bump_builds(
        Layout::DynamicFlitModule,
        "ts-dynamic-flit",
        "ts_dynamic_flit/__init__.py",
        "__version__ = \"1.5.0\"",
    );
}

#[test]
fn a_setuptools_attr_version_is_bumped_so_the_backend_builds_the_new_version() {
    assert_minor_bump_builds(
        Layout::SetuptoolsAttr,
        "ts-setuptools-attr",
        "src/ts_setuptools_attr/__init__.py",
        "__version__ = \"1.5.0\"",
    );
}

#[test]
fn a_setup_py_only_version_is_bumped_so_the_backend_builds_the_new_version() {
    assert_minor_bump_builds(
        Layout::SetupPyOnly,
        "ts-setup-py",
        "ts_setup_py/__init__.py",
        "__version__ = \"1.5.0\"",
    );
}

#[test]
fn a_vcs_versioned_project_gets_only_the_changelog_committed_and_the_tag() {
    let s = Scratch::new("scm");
    sample(&s, Layout::SetuptoolsScm, "ts-scm");
    let pyproject = s.read("pyproject.toml");
    let run = s.twostage(&["release", "patch"]).success();
    run.stderr_has("no file is bumped");
    assert_released(&s, "v1.4.3", &[("CHANGELOG.md", "## [1.4.3] - 2026-11-24")]);
    assert_eq!(s.read("pyproject.toml"), pyproject);
    assert_eq!(
        s.git(&["diff", "--name-only", "HEAD~1", "HEAD"]),
        "CHANGELOG.md"
    );
    assert_eq!(built_version(&s, "v1.4.3"), "1.4.3");
}

#[test]
fn a_vcs_versioned_project_without_changelog_is_tagged_where_it_stands() {
    let s = Scratch::new("scm-plain");
    sample(&s, Layout::SetuptoolsScm, "ts-scm-plain");
    s.git(&["rm", "--quiet", "CHANGELOG.md"]);
    s.commit_all("No changelog");
    let head = s.git(&["rev-parse", "HEAD"]);
    s.twostage(&["release", "minor"]).success();
    assert_eq!(s.git(&["rev-parse", "HEAD"]), head, "no commit is made");
    assert_eq!(s.git(&["rev-parse", "v1.5.0^{commit}"]), head);
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let s = Scratch::new("dry-run");
    sample(&s, Layout::StaticHatchling, "ts-dry-run");
    let before = s.snapshot();
    let run = s
        .twostage(&["release", "major", "--dry-run", "--push"])
        .success();
    assert_eq!(s.snapshot(), before);
    assert!(
        run.stdout
            .contains("-version = '1.4.2'   # comment stays\n+version = '2.0.0'   # comment stays"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("+## [2.0.0] - 2026-11-24"),
        "{}",
        run.stdout
    );
    run.stderr_has("Would commit")
        .stderr_has("`Release v2.0.0`")
        .stderr_has("Would push");
}

#[test]
fn dry_run_reports_every_problem_and_changes_nothing() {
    let s = Scratch::new("dry-run-problems");
    sample(&s, Layout::StaticFlit, "ts-dry-problems");
    s.git(&["checkout", "--quiet", "-b", "feature"]);
    s.write(
        "pyproject.toml",
        &(s.read("pyproject.toml") + "\n# local edit\n"),
    );
    let before = s.snapshot();
    let run = s.twostage(&["release", "patch", "--dry-run"]).failure(1);
    run.stderr_has("uncommitted changes (pyproject.toml)")
        .stderr_has("on branch `feature`");
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_dirty_tree_is_refused_and_nothing_changes() {
    let s = Scratch::new("dirty");
    sample(&s, Layout::StaticFlit, "ts-dirty");
    s.write(
        "ts_dirty/__init__.py",
        "\"\"\"Edited, not committed.\"\"\"\n",
    );
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("uncommitted changes (ts_dirty/__init__.py)");
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_wrong_branch_is_refused_and_nothing_changes() {
    let s = Scratch::new("branch");
    sample(&s, Layout::StaticFlit, "ts-branch");
    s.git(&["checkout", "--quiet", "-b", "topic"]);
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("on branch `topic`, but releases are made from `main`")
        .stderr_has("(`git.branch` in `release.toml`)");
    assert_eq!(s.snapshot(), before);
}

#[test]
fn an_existing_tag_locally_or_on_the_remote_is_refused() {
    let s = Scratch::new("tag-exists");
    sample(&s, Layout::StaticFlit, "ts-tag-exists");
    // The same version in its PEP 440 spelling counts as the same tag.
    s.git(&["tag", "v1.4.3"]);
    s.write("README.md", "more\n");
    s.commit_all("More");
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("tag `v1.4.3` already exists");
    assert_eq!(s.snapshot(), before);

    s.git(&["push", "--quiet", "origin", "v1.4.3"]);
    s.git(&["tag", "-d", "v1.4.3"]);
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("the remote `origin` already has `refs/tags/v1.4.3`");
    assert_eq!(s.snapshot(), before);
}

#[test]
fn head_already_released_is_refused() {
    let s = Scratch::new("nothing-new");
    sample(&s, Layout::StaticFlit, "ts-nothing-new");
    s.twostage(&["release", "patch", "--offline"]).success();
    let before = s.snapshot();
    s.twostage(&["release", "patch", "--offline"])
        .failure(1)
        .stderr_has("HEAD is already released as `v1.4.3`");
    assert_eq!(s.snapshot(), before);
}

#[test]
fn being_behind_the_upstream_is_refused() {
    let s = Scratch::new("behind");
    sample(&s, Layout::StaticFlit, "ts-behind");
    let (origin, other) = (&s.origin, s.dir.join("other"));
    let sh = s.sh();
    cmd!(sh, "git clone --quiet {origin} {other}")
        .run()
        .unwrap();
    sh.change_dir(&other);
    std::fs::write(other.join("NEWS"), "news\n").unwrap();
    cmd!(sh, "git add NEWS").run().unwrap();
    cmd!(sh, "git commit --quiet -m Elsewhere").run().unwrap();
    cmd!(sh, "git push --quiet origin main").run().unwrap();
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("`main` is behind `origin/main`: pull first");
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_version_already_on_an_index_is_refused() {
    let ix = indexes();
    // On the staging index (pypiserver, PEP 503 HTML): a file with that version is listed.
    let s = Scratch::new("on-staging");
    sample(&s, Layout::StaticFlit, "ts-on-staging");
    std::fs::write(
        ix.pypi.packages.join("ts_on_staging-1.4.3.tar.gz"),
        b"placeholder",
    )
    .unwrap();
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("version 1.4.3 of `ts-on-staging` is already on the staging index")
        .stderr_has("ts_on_staging-1.4.3.tar.gz");
    assert_eq!(s.snapshot(), before);

    // On the production index (devpi, PEP 691 JSON): a real wheel uploaded with twine.
    let s = Scratch::new("on-production");
    sample(&s, Layout::StaticFlit, "ts-on-production");
    let project = s.clone_work("elsewhere", None);
    let pyproject = std::fs::read_to_string(project.join("pyproject.toml")).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        pyproject.replace("1.4.2", "1.4.3"),
    )
    .unwrap();
    let wheel = build_wheel(&project, &s.dir.join("dist"));
    upload_to_production(&s, &[wheel]);
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("version 1.4.3 of `ts-on-production` is already on the production index")
        .stderr_has("ts_on_production-1.4.3-py");
    assert_eq!(s.snapshot(), before);
    // --offline skips the index checks, and then the release goes through.
    s.twostage(&["release", "patch", "--offline"]).success();
}

#[test]
fn an_unreachable_index_is_reported() {
    let s = Scratch::new("unreachable");
    sample(&s, Layout::StaticFlit, "ts-unreachable");
    let port = testbed::free_port().unwrap();
    let before = s.snapshot();
    let run = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["release", "patch"])
        .env(
            "TWOSTAGE_STAGING_INDEX_URL",
            format!("http://127.0.0.1:{port}/simple/"),
        )
        .output()
        .unwrap();
    let run = Run::from(run).failure(1);
    run.stderr_has("cannot check the staging index")
        .stderr_has("--offline");
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_failing_commit_leaves_the_tree_as_it_was() {
    let s = Scratch::new("commit-fails");
    sample(&s, Layout::StaticHatchling, "ts-commit-fails");
    let hook = s.work.join(".git/hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\necho 'pre-commit says no' >&2\nexit 1\n").unwrap();
    make_executable(&hook);
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("pre-commit says no")
        .stderr_has("back as it was");
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_failing_tag_after_the_commit_leaves_no_commit_and_no_ref() {
    let s = Scratch::new("tag-fails");
    sample(&s, Layout::StaticHatchling, "ts-tag-fails");
    // A signed tag whose signing program fails: the commit is made, then the tag step fails.
    s.write(
        "release.toml",
        &(s.read("release.toml") + "\n[git]\nsign = true\n"),
    );
    s.commit_all("Sign tags");
    s.git(&["config", "gpg.program", "false"]);
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("git tag -s")
        .stderr_has("back as it was");
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_missing_release_toml_says_how_to_create_one() {
    let s = Scratch::new("no-config");
    s.write(
        "pyproject.toml",
        "[project]\nname = \"x\"\nversion = \"1.0\"\n",
    );
    s.commit_all("Initial");
    s.twostage(&["release", "patch"])
        .failure(2)
        .stderr_has("no `release.toml`")
        .stderr_has("cargo xtask init");
}

#[test]
fn bad_configuration_and_manifests_are_clear_errors_that_change_nothing() {
    let s = Scratch::new("bad-input");
    sample(&s, Layout::StaticFlit, "ts-bad-input");
    let good = s.read("release.toml");
    s.write(
        "release.toml",
        &(good.clone() + "\n[git]\nbrnach = \"main\"\n"),
    );
    s.commit_all("Typo");
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(2)
        .stderr_has("unknown key `brnach` in `[git]`")
        .stderr_has("release.toml:");
    assert_eq!(s.snapshot(), before);

    s.write("release.toml", &good);
    s.write("pyproject.toml", "[project\nname = \"x\"\n");
    s.commit_all("Broken manifest");
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("`pyproject.toml` is not valid TOML");
    assert_eq!(s.snapshot(), before);

    s.write(
        "pyproject.toml",
        "[project]\nname = \"x\"\nversion = \"1.4.2\"\n",
    );
    s.commit_all("Fixed manifest");
    for (bad, reason) in [
        ("1.0.0-1", "post-release"),
        ("1.5.0+local", "local version"),
        ("1.0.0-x.7.z", "not a valid version"),
        ("1.4.1", "lower than"),
        ("1.4.2", "equal to"),
    ] {
        s.twostage(&["release", bad]).failure(2).stderr_has(reason);
    }
}

#[test]
fn help_describes_every_option() {
    let s = Scratch::new("help");
    let run = s.twostage(&["release", "--help"]).success();
    for option in [
        "--dry-run",
        "--push",
        "--allow-dirty",
        "--offline",
        "--repo",
    ] {
        assert!(
            run.stdout.contains(option),
            "{option} missing from:\n{}",
            run.stdout
        );
    }
}
