//! Verification: what staging serves is installed into fresh environments, with dependencies
//! from the production index only, and smoke-tested.

use crate::common::*;

/// The hatchling project `tests/fixtures/verify-tsdep` as `name` at 1.4.2, which depends on
/// `tsdep` (served only by production), with `extra_toml` appended to its `pyproject.toml`.
/// `flat`: the package beside `pyproject.toml` instead of under `src/`.
fn verify_sample(s: &Scratch, name: &str, flat: bool, smoke: &[&str], extra_toml: &str) -> String {
    let module = name.replace('-', "_");
    let package_dir = if flat {
        module.clone()
    } else {
        format!("src/{module}")
    };
    copy_fixture(
        "verify-tsdep",
        &s.work,
        &[("name", name), ("package-dir", &package_dir)],
    );
    s.write("pyproject.toml", &(s.read("pyproject.toml") + extra_toml));
    let smoke: Vec<String> = smoke
        .iter()
        .map(|c| format!("{:?}", c.replace("MODULE", &module)))
        .collect();
    let toml = release_toml(&format!("version-files = [\"{package_dir}/__init__.py\"]")).replace(
        "[verify]\n",
        &format!("[verify]\nsmoke = [{}]\n", smoke.join(", ")),
    );
    s.write("release.toml", &toml);
    s.commit_all("Initial import");
    module
}

fn stage(s: &Scratch, extra_env: &[(&str, &str)]) -> Run {
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .args(["stage", "v1.4.3"])
        .env("TEST_PYPI_TOKEN", SENTINEL);
    for (k, v) in extra_env {
        command.env(k, v);
    }
    Run::from(command.output().unwrap())
}

/// A stale `<name>.egg-info` in the repository (a `setup.py` project's leftover, untracked)
/// where twostage runs: the installed version is read from the fresh environment, not from it.
#[test]
fn a_stale_egg_info_beside_the_repository_does_not_answer_for_the_installed_version() {
    let name = "ts-stale-egg";
    let s = Scratch::new(name);
    let module = verify_sample(&s, name, true, &["python -c 'import MODULE'"], "");
    s.twostage(&["release", "patch"]).success();
    s.write(
        &format!("{module}.egg-info/PKG-INFO"),
        &format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.4.2\n"),
    );
    stage(&s, &[])
        .success()
        .stderr_has("is staged and verified");
}

/// Stages with `installer`: both artifacts are installed from staging with the dependency from
/// production, smoke-tested, and recorded.
fn verified_with(installer: &str) {
    let name = format!("ts-green-{installer}");
    let s = Scratch::new(&name);
    let module = verify_sample(
        &s,
        &name,
        false,
        &[
            "python -c 'import MODULE, sys; assert MODULE.VALUE == 42; print(MODULE.__file__)'",
            "test -d \"$TWOSTAGE_REPO/.git\"",
        ],
        "",
    );
    s.twostage(&["release", "patch"]).success();
    let run = stage(&s, &[("TWOSTAGE_VERIFY_INSTALLER", installer)]).success();
    run.stderr_has(&format!("with {installer}"))
        .stderr_has("is staged and verified");

    let note = release_note(&s, "v1.4.3");
    let verification = note["verification"].as_table().unwrap();
    assert_eq!(verification["result"].as_str(), Some("verified"));
    assert!(verification["installer"]
        .as_str()
        .unwrap()
        .starts_with(installer));
    assert!(verification["interpreter"]
        .as_str()
        .unwrap()
        .starts_with("Python 3"));
    // "verified" names exactly the staged set.
    let mut staged: Vec<String> = twostage::resources::evidence::artifacts_of(&note)
        .into_iter()
        .map(|a| a.sha256)
        .collect();
    let mut verified: Vec<String> = verification["verified-sha256"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    staged.sort();
    verified.sort();
    assert_eq!(staged.len(), 2);
    assert_eq!(staged, verified);
    let artifacts = verification["artifacts"].as_array_of_tables().unwrap();
    let kinds: Vec<&str> = artifacts
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"wheel") && kinds.contains(&"sdist"));
    for artifact in artifacts {
        let commands = artifact["commands"].as_array().unwrap();
        // venv, install, version check, two smoke commands: each with its exit code.
        assert_eq!(commands.len(), 5, "{artifact}");
        assert!(commands
            .iter()
            .all(|c| c.as_inline_table().unwrap()["exit"].as_integer() == Some(0)));
    }
    // The log named in the note (relative to the release's work directory, no path of
    // this machine) is there and matches its digest.
    let log_name = verification["log"].as_str().unwrap();
    assert!(!log_name.starts_with('/'), "{log_name}");
    let log = std::fs::read(s.work.join(".git/twostage/v1.4.3").join(log_name)).unwrap();
    let digest = twostage::resources::dist::hex(&<sha2::Sha256 as sha2::Digest>::digest(&log));
    assert_eq!(verification["log-sha256"].as_str(), Some(digest.as_str()));
    // The smoke test imported the installed copy.
    assert!(String::from_utf8_lossy(&log).contains(&format!("site-packages/{module}/__init__.py")));

    // `verify` runs it again and records it again.
    let again = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["verify", "v1.4.3"])
        .output()
        .unwrap();
    Run::from(again).success().stderr_has("Verified");
}

#[test]
fn uv_installs_both_artifacts_from_staging_with_dependencies_from_production_and_records_it() {
    verified_with("uv");
}

#[test]
fn pip_installs_both_artifacts_from_staging_with_dependencies_from_production_and_records_it() {
    verified_with("pip");
}

#[test]
fn a_package_that_imports_a_missing_name_fails_the_stage_with_the_error() {
    let s = Scratch::new("missing-name");
    let module = verify_sample(
        &s,
        "ts-missing-name",
        false,
        &["python -c 'import MODULE'"],
        "",
    );
    s.write(
        &format!("src/{module}/__init__.py"),
        "from tsdep import NO_SUCH_NAME\n\n__version__ = \"1.4.2\"\n",
    );
    s.commit_all("Break the import");
    s.twostage(&["release", "patch"]).success();
    let run = stage(&s, &[]).failure(1);
    run.stderr_has("cannot import name 'NO_SUCH_NAME'")
        .stderr_has("verification of v1.4.3 from staging failed");
    let note = release_note(&s, "v1.4.3");
    assert_eq!(note["verification"]["result"].as_str(), Some("failed"));
    assert!(note["verification"].get("verified-sha256").is_none());
    // A rerun verifies again rather than trusting the failed record.
    stage(&s, &[]).failure(1).stderr_has("NO_SUCH_NAME");
}

#[test]
fn an_sdist_missing_a_module_fails_only_the_sdist_and_names_it() {
    let s = Scratch::new("sdist-missing");
    let module = verify_sample(
        &s,
        "ts-sdist-missing",
        false,
        &["python -c 'import MODULE.extra'"],
        "\n[tool.hatch.build.targets.sdist]\nexclude = [\"src/ts_sdist_missing/extra.py\"]\n",
    );
    // Build the wheel from the tree, not from the sdist, as a maintainer's broken config would.
    let toml = s.read("release.toml").replace(
        "--no-isolation --outdir",
        "--no-isolation --sdist --wheel --outdir",
    );
    s.write("release.toml", &toml);
    s.commit_all("Build both from the tree");
    s.twostage(&["release", "patch"]).success();
    let run = stage(&s, &[]).failure(1);
    run.stderr_has("ts_sdist_missing-1.4.3.tar.gz` (sdist)")
        .stderr_has(&format!("No module named '{module}.extra'"));
    assert!(
        !run.stderr.contains("py3-none-any.whl` (wheel)"),
        "{}",
        run.stderr
    );
    let note = release_note(&s, "v1.4.3");
    for artifact in note["verification"]["artifacts"]
        .as_array_of_tables()
        .unwrap()
    {
        let expected = if artifact["kind"].as_str() == Some("sdist") {
            "failed"
        } else {
            "verified"
        };
        assert_eq!(artifact["result"].as_str(), Some(expected), "{artifact}");
    }
}

#[test]
fn a_hanging_smoke_command_is_stopped_at_the_timeout() {
    let s = Scratch::new("hang");
    verify_sample(&s, "ts-hang", false, &["sleep 300"], "");
    let toml = s.read("release.toml").replace(
        "[verify]\n",
        "[verify]\ntimeout = \"3s\"\nartifacts = [\"wheel\"]\n",
    );
    s.write("release.toml", &toml);
    s.commit_all("Short timeout");
    s.twostage(&["release", "patch"]).success();
    let started = std::time::Instant::now();
    stage(&s, &[])
        .failure(1)
        .stderr_has("`sleep 300` was stopped at the 3s timeout");
    assert!(started.elapsed().as_secs() < 120);
}

#[test]
fn a_flat_layout_is_tested_against_the_installed_copy() {
    let s = Scratch::new("flat");
    verify_sample(
        &s,
        "ts-flat",
        true,
        &["python -c 'import MODULE; assert \"site-packages\" in MODULE.__file__, MODULE.__file__'", "test ! -e MODULE"],
        "",
    );
    s.twostage(&["release", "patch"]).success();
    stage(&s, &[]).success();
    assert_eq!(
        release_note(&s, "v1.4.3")["verification"]["result"].as_str(),
        Some("verified")
    );
}

#[test]
fn verify_production_checks_what_production_serves() {
    let s = Scratch::new("verify-prod");
    verify_sample(
        &s,
        "ts-verify-prod",
        false,
        &["python -c 'import MODULE'"],
        "",
    );
    s.twostage(&["release", "patch"]).success();
    stage(&s, &[]).success();
    // Not on production yet: the wait times out and says which files are missing.
    let toml = s
        .read("release.toml")
        .replace("index-timeout = \"30s\"", "index-timeout = \"2s\"");
    s.write("release.toml", &toml);
    let run = s.twostage(&["verify", "v1.4.3", "--production"]).failure(1);
    run.stderr_has("the production index still does not list");
    // Put the frozen files on production (as promotion will), then verify from there.
    let dist = s.work.join(".git/twostage/v1.4.3/dist");
    let files: Vec<_> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    upload_to_production(&s, &files);
    s.twostage(&["verify", "v1.4.3", "--production"]).success();
    assert_eq!(
        release_note(&s, "v1.4.3")["production-verification"]["result"].as_str(),
        Some("verified")
    );
}

/// With neither `verify.python` nor `requires-python`, verification uses the current
/// interpreter and starts no other: an interpreter of uv's (a script that records each run and
/// answers nothing) is never asked. Once `verify.python` names a version, it is asked.
#[test]
fn without_verify_python_or_requires_python_no_other_interpreter_is_started() {
    let name = "ts-verify-current";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    assert!(!s.read("pyproject.toml").contains("requires-python"));
    let managed = s.dir.join("uv-pythons");
    let asked = s.dir.join("asked.log");
    let fake = managed.join("cpython-3.99.0-linux-x86_64-gnu/bin/python3");
    std::fs::create_dir_all(fake.parent().unwrap()).unwrap();
    let script = format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit 1\n", asked.display());
    std::fs::write(&fake, script).unwrap();
    make_executable(&fake);
    let managed_env = ("UV_PYTHON_INSTALL_DIR", managed.to_str().unwrap());
    s.twostage(&["release", "patch"]).success();
    stage(&s, &[managed_env])
        .success()
        .stderr_has("is staged and verified");
    assert!(
        !asked.exists(),
        "another interpreter was started: {}",
        std::fs::read_to_string(&asked).unwrap_or_default()
    );

    // The control: naming the current interpreter's version asks every one found.
    let sh = s.sh();
    let current = cmd!(
        sh,
        "python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'"
    )
    .read()
    .unwrap();
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .args(["verify", "v1.4.3"])
        .env(managed_env.0, managed_env.1)
        .env("TWOSTAGE_VERIFY_PYTHON", &current)
        .env("TEST_PYPI_TOKEN", SENTINEL);
    Run::from(command.output().unwrap()).success();
    assert!(asked.exists(), "uv's interpreter was not asked");
}
