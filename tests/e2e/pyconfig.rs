//! The configuration in `[tool.twostage]` of `pyproject.toml`, where Python tools keep theirs:
//! read by every command, its errors naming `pyproject.toml` and the line, a cargo-release
//! `release.toml` beside it left alone, and `init` writing it (and keeping a `release.toml` of
//! twostage's own).

use crate::common::*;

/// A cargo-release `release.toml` (https://github.com/crate-ci/cargo-release/blob/master/docs/reference.md):
/// today's twostage stops at its `publish`.
const CARGO_RELEASE: &str = "# cargo-release\nsign-commit = true\nsign-tag = true\npush = false\n\
                             publish = false\ntag-name = \"v{{version}}\"\nallow-branch = [\"main\"]\n\
                             consolidate-commits = true\n\n[[pre-release-replacements]]\n\
                             file = \"CHANGELOG.md\"\nsearch = \"Unreleased\"\nreplace = \"{{version}}\"\n";

/// `release.toml`'s tables as `[tool.twostage.*]` tables of the same keys.
fn as_tool_tables(release_toml: &str) -> String {
    release_toml
        .lines()
        .map(|line| match line.strip_prefix('[') {
            Some(rest) if !line.starts_with("[[") => format!("[tool.twostage.{rest}\n"),
            _ => format!("{line}\n"),
        })
        .collect()
}

/// A sample `name` whose configuration (this binary's servers and build) is moved from
/// `release.toml` into `[tool.twostage]` at the end of `pyproject.toml`, committed.
fn configured_in_pyproject(name: &str) -> Scratch {
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    let tables = as_tool_tables(&s.read("release.toml"));
    s.write(
        "pyproject.toml",
        &format!("{}\n{tables}", s.read("pyproject.toml")),
    );
    s.git(&["rm", "--quiet", "release.toml"]);
    s.commit_all("Configuration in [tool.twostage]");
    s
}

/// The files staging serves of `name`, as (filename, sha256), read from the index.
fn staged(name: &str) -> Vec<(String, String)> {
    let (_, url, _) = Staging::Pypiserver.endpoints();
    let mut files: Vec<(String, String)> = served(&url, name)
        .into_iter()
        .map(|f| (f.filename, f.sha256.unwrap_or_default()))
        .collect();
    files.sort();
    files
}

#[test]
fn a_project_configured_in_tool_twostage_releases_and_stages() {
    let name = "ts-pyconfig-release";
    let s = configured_in_pyproject(name);
    s.twostage(&["release", "patch", "--push"]).success();
    assert_eq!(s.git(&["describe", "--tags"]), "v1.4.3");
    assert!(s.read("pyproject.toml").contains("version = \"1.4.3\""));
    assert_eq!(built_version(&s, "v1.4.3"), "1.4.3");

    s.stage(&["v1.4.3"], SENTINEL).success();
    // The staging index named in `[tool.twostage.staging]` serves exactly the frozen bytes.
    let frozen: Vec<(String, String)> = frozen_files(&s, "v1.4.3").into_iter().collect();
    assert_eq!(frozen.len(), 2, "a wheel and an sdist: {frozen:?}");
    assert_eq!(staged(name), frozen);
    assert!(!s.work.join("release.toml").exists());
}

/// A refusal that names a key says where that key lives: `[tool.twostage]` of
/// `pyproject.toml` here, not a `release.toml` the project does not have.
#[test]
fn a_refusal_naming_a_key_points_to_tool_twostage() {
    let s = configured_in_pyproject("ts-pyconfig-where");
    s.git(&["checkout", "--quiet", "-b", "topic"]);
    let before = s.snapshot();
    let run = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["release", "patch", "--offline"])
        .env("TWOSTAGE_BUILD_COMMAND", "no-such-builder --out {out}")
        .output()
        .unwrap();
    let run = Run::from(run).failure(1);
    run.stderr_has("(`git.branch` in `[tool.twostage]` of `pyproject.toml`)")
        .stderr_has("set `build.command` in `[tool.twostage]` of `pyproject.toml`");
    assert!(!run.stderr.contains("release.toml"), "{}", run.stderr);
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_malformed_key_in_tool_twostage_is_exit_2_naming_pyproject_and_its_line() {
    let name = "ts-pyconfig-typo";
    let s = configured_in_pyproject(name);
    let pyproject = s.read("pyproject.toml");
    let with_typo = pyproject.replacen(
        "[tool.twostage.verify]\n",
        "[tool.twostage.verify]\ntimout = \"10m\"\n",
        1,
    );
    assert_ne!(with_typo, pyproject);
    // The line of the typo, counted here.
    let line = with_typo
        .lines()
        .position(|l| l.starts_with("timout"))
        .unwrap()
        + 1;
    s.write("pyproject.toml", &with_typo);
    s.commit_all("A typo");
    let before = s.snapshot();
    for args in [&["release", "patch"][..], &["status"][..]] {
        s.twostage(args).failure(2).stderr_has(&format!(
            "pyproject.toml:{line}: unknown key `timout` in `[tool.twostage.verify]`"
        ));
    }
    assert_eq!(s.snapshot(), before, "nothing changed");
    assert!(pypiserver_stored(name).is_empty());
}

#[test]
fn a_cargo_release_file_beside_tool_twostage_is_left_alone_and_ignored() {
    let name = "ts-pyconfig-cargo-release";
    let s = configured_in_pyproject(name);
    s.write("release.toml", CARGO_RELEASE);
    s.commit_all("cargo-release's configuration");
    let before = std::fs::read(s.work.join("release.toml")).unwrap();

    s.twostage(&["release", "patch", "--push"]).success();
    s.stage(&["v1.4.3"], SENTINEL).success();
    // Read from `[tool.twostage]`: the staging index named there has the release.
    assert_eq!(staged(name).len(), 2, "{:?}", staged(name));
    // The release commit and the tag leave the file byte for byte as it was.
    assert_eq!(std::fs::read(s.work.join("release.toml")).unwrap(), before);
    let changed = s.git(&["diff", "--name-only", "HEAD~1", "HEAD"]);
    assert_eq!(changed, "CHANGELOG.md\npyproject.toml");
    assert_eq!(
        s.git(&["show", "v1.4.3:release.toml"]).as_bytes(),
        before.trim_ascii_end()
    );
}

/// A `pyproject.toml` with comments and spacing of its own, for `init` to keep.
const HAND_WRITTEN: &str = "# The project's own manifest, written by hand.\n\
                            [build-system]\nrequires = [\"flit_core >=3.2,<5\"]   # pinned\n\
                            build-backend = \"flit_core.buildapi\"\n\n\
                            [project]\nname    = \"ts-pyconfig-init\"\nversion = \"1.4.2\"\n\
                            description = 'A sample'  # single quotes\n\n\
                            [tool.ruff]\nline-length = 99\n";

#[test]
fn init_writes_tool_twostage_keeping_the_rest_of_pyproject_and_the_project_releases() {
    let name = "ts-pyconfig-init";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.git(&["rm", "--quiet", "release.toml"]);
    s.write("pyproject.toml", HAND_WRITTEN);
    s.commit_all("Not adopted yet");

    s.twostage(&["init", "."]).success();
    assert!(
        !s.work.join("release.toml").exists(),
        "no release.toml beside pyproject.toml"
    );
    let after = s.read("pyproject.toml");
    // Every byte the project wrote is where it was; what follows is the flit exclusion and
    // the new table, and nothing else.
    assert!(after.starts_with(HAND_WRITTEN), "{after}");
    let added: toml_edit::DocumentMut = after[HAND_WRITTEN.len()..].parse().unwrap();
    let tool = added["tool"].as_table().unwrap();
    let keys: Vec<&str> = tool.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["flit", "twostage"], "{after}");
    let ours = tool["twostage"].as_table().unwrap();
    assert!(ours["verify"]["smoke"].as_array().is_some(), "{after}");
    // A second init changes nothing.
    let first = s.snapshot();
    s.twostage(&["init", "."]).success();
    assert_eq!(s.snapshot(), first);

    // The project releases with what init wrote (built here offline, as every test does).
    let python = testbed::tools().unwrap().python();
    s.write(
        "pyproject.toml",
        &format!(
            "{after}\n[tool.twostage.build]\ncommand = \"'{}' -m build --no-isolation --outdir {{out}}\"\n",
            python.display()
        ),
    );
    s.commit_all("Adopt twostage");
    s.twostage(&["release", "patch", "--offline"]).success();
    assert_eq!(s.git(&["describe", "--tags"]), "v1.4.3");
    assert_eq!(built_version(&s, "v1.4.3"), "1.4.3");
    let released = s.git(&["show", "v1.4.3:pyproject.toml"]);
    assert!(
        released.starts_with(&HAND_WRITTEN.replace("\"1.4.2\"", "\"1.4.3\"")),
        "{released}"
    );
}

#[test]
fn init_keeps_a_release_toml_of_ours_and_writes_no_table() {
    let name = "ts-pyconfig-keep";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    let release_toml = std::fs::read(s.work.join("release.toml")).unwrap();
    s.twostage(&["init", "."])
        .success()
        .stderr_has("Keeping the existing `release.toml`");
    assert_eq!(
        std::fs::read(s.work.join("release.toml")).unwrap(),
        release_toml
    );
    let pyproject = s.read("pyproject.toml");
    assert!(!pyproject.contains("twostage"), "{pyproject}");
    // The configuration it keeps is still read: the project releases.
    s.commit_all("Adopt twostage");
    s.twostage(&["release", "patch"]).success();
    assert_eq!(built_version(&s, "v1.4.3"), "1.4.3");
}

#[test]
fn init_beside_a_cargo_release_file_writes_tool_twostage_and_leaves_the_file() {
    let name = "ts-pyconfig-init-cargo";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.write("release.toml", CARGO_RELEASE);
    s.commit_all("cargo-release's configuration");
    s.twostage(&["init", "."]).success();
    assert_eq!(s.read("release.toml"), CARGO_RELEASE);
    let pyproject: toml_edit::DocumentMut = s.read("pyproject.toml").parse().unwrap();
    assert!(pyproject["tool"]["twostage"].is_table());
    // The sdist exclusion leaves the project's own release.toml alone.
    let exclude = pyproject["tool"]["flit"]["sdist"]["exclude"]
        .as_array()
        .unwrap();
    assert!(
        exclude.iter().all(|e| e.as_str() != Some("release.toml")),
        "{exclude:?}"
    );
    s.commit_all("Adopt twostage");
    s.twostage(&["release", "patch", "--dry-run", "--offline"])
        .success();
}

#[test]
fn a_project_configured_in_tool_twostage_rehearses_with_it() {
    let s = Scratch::new("ts-pyconfig-rehearse");
    copy_fixture("rehearse", &s.work, &[]);
    let tables = as_tool_tables(&s.read("release.toml"));
    // A release branch of its own, which the rehearsal's clone must take from the table.
    let tables = tables.replacen(
        "[tool.twostage.staging]\n",
        "[tool.twostage.git]\nbranch = \"trunk\"\n\n[tool.twostage.staging]\n",
        1,
    );
    s.write(
        "pyproject.toml",
        &format!("{}\n{tables}", s.read("pyproject.toml")),
    );
    std::fs::remove_file(s.work.join("release.toml")).unwrap();
    s.commit_all("Configuration in [tool.twostage]");
    s.git(&["tag", "-a", "v1.4.2", "-m", "Release v1.4.2"]);
    s.write("README.md", "A change after 1.4.2.\n");
    s.commit_all("A change after 1.4.2");

    let (run, kept) = crate::rehearse::rehearse_in(s.command(env!("CARGO_BIN_EXE_twostage")));
    run.success();
    let origin = kept.join("origin.git");
    let git_dir = format!("--git-dir={}", origin.display());
    // The clone released on the branch `[tool.twostage.git]` names, and promoted.
    s.git(&[
        &git_dir,
        "rev-parse",
        "--verify",
        "--quiet",
        "refs/heads/trunk",
    ]);
    s.git(&[
        &git_dir,
        "rev-parse",
        "--verify",
        "--quiet",
        "refs/tags/v1.4.3-prod",
    ]);
    let promoted = hashed_files(&kept.join("pypiserver/packages"), |f| {
        f.starts_with("ts_rehearse")
    });
    assert_eq!(promoted.len(), 2, "{promoted:?}");
    std::fs::remove_dir_all(&kept).unwrap();
}
