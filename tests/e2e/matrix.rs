//! Verification on every interpreter the project supports (`verify.python`): each file is
//! installed and smoke-tested once per interpreter, each in an environment of its own; a file an
//! interpreter cannot install is skipped there with the reason; a failure names its
//! interpreter, is recorded as a cell of the note, and keeps the release from promotion.

use crate::common::*;

/// The three interpreters of these tests (pyenv's, on this machine).
const PYTHONS: [&str; 3] = ["3.10", "3.11", "3.12"];

/// The hatchling project `tests/fixtures/verify-tsdep` as `name` at 1.4.2 (its dependency
/// `tsdep` served only by production), verified on `PYTHONS` with one smoke command that
/// imports it; `code` appended to its `__init__.py`, `toml` to its `pyproject.toml`, and
/// `build_env` put before the build command.
fn matrix_sample(s: &Scratch, name: &str, code: &str, toml: &str, build_env: &str) -> String {
    let module = name.replace('-', "_");
    let package_dir = format!("src/{module}");
    copy_fixture(
        "verify-tsdep",
        &s.work,
        &[("name", name), ("package-dir", &package_dir)],
    );
    let init = format!("{package_dir}/__init__.py");
    s.write(&init, &(s.read(&init) + code));
    s.write("pyproject.toml", &(s.read("pyproject.toml") + toml));
    let pythons: Vec<String> = PYTHONS.iter().map(|p| format!("{p:?}")).collect();
    let release = release_toml(&format!("version-files = [\"{package_dir}/__init__.py\"]"))
        .replace(
            "[verify]\n",
            &format!(
                "[verify]\npython = [{}]\nsmoke = [\"python -c 'import {module}'\"]\n",
                pythons.join(", ")
            ),
        )
        .replace("command = \"", &format!("command = \"{build_env}"));
    s.write("release.toml", &release);
    s.commit_all("Initial import");
    module
}

/// The cells of the note's (latest) staging verification: (filename, python, result, reason).
fn cells(s: &Scratch, tag: &str) -> Vec<(String, String, String, Option<String>)> {
    let note = release_note(s, tag);
    let verification = note["verification"].as_table().unwrap();
    let text = |t: &toml_edit::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(String::from);
    verification["artifacts"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .map(|c| {
            (
                text(c, "filename").unwrap(),
                text(c, "python").unwrap(),
                text(c, "result").unwrap(),
                text(c, "reason"),
            )
        })
        .collect()
}

/// The minor version of a cell's `python` (`3.11` of `3.11.7`).
fn minor(python: &str) -> String {
    python.split('.').take(2).collect::<Vec<_>>().join(".")
}

#[test]
fn code_only_3_12_accepts_fails_on_3_10_and_3_11_by_name_and_the_release_is_not_promoted() {
    let name = "ts-matrix-syntax";
    let s = Scratch::new(name);
    // A PEP 695 type alias statement: a syntax error before Python 3.12.
    matrix_sample(&s, name, "\ntype Number = int\n", "", "");
    s.twostage(&["release", "patch"]).success();
    let run = s.stage(&["v1.4.3"], SENTINEL).failure(1);
    run.stderr_has("on Python 3.11.").stderr_has("SyntaxError");

    let note = release_note(&s, "v1.4.3");
    let verification = note["verification"].as_table().unwrap();
    assert_eq!(verification["result"].as_str(), Some("failed"));
    let failures: Vec<&str> = verification["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    // Both files on both older interpreters, each named, with the interpreter's error.
    assert_eq!(failures.len(), 4, "{failures:#?}");
    for python in ["3.10", "3.11"] {
        for file in [".whl", ".tar.gz"] {
            assert!(
                failures.iter().any(|f| f.contains(file)
                    && f.contains(&format!("on Python {python}."))
                    && f.contains("SyntaxError")),
                "no failure of {file} on {python}: {failures:#?}"
            );
        }
    }
    // Six cells, one per file and interpreter: failed below 3.12, verified on it.
    let cells = cells(&s, "v1.4.3");
    assert_eq!(cells.len(), 6, "{cells:#?}");
    for (filename, python, result, _) in &cells {
        let expected = if minor(python) == "3.12" {
            "verified"
        } else {
            "failed"
        };
        assert_eq!(result, expected, "{filename} on {python}");
    }
    let mut minors: Vec<String> = cells.iter().map(|c| minor(&c.1)).collect();
    minors.sort();
    minors.dedup();
    assert_eq!(minors, PYTHONS);

    // The gate refuses it: production serves nothing of it.
    let promote = s.twostage(&["promote", "v1.4.3", "--no-github"]);
    assert_ne!(promote.code, 0, "{}", promote.stderr);
    assert!(served(&indexes().devpi_index.index_url, name).is_empty());
    // `status` shows the matrix.
    let status = s.twostage(&["status", "v1.4.3"]).success();
    let line = status
        .stdout
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with(&format!("{}-1.4.3-py", name.replace('-', "_")))
        })
        .unwrap_or_else(|| panic!("no matrix line for the wheel:\n{}", status.stdout));
    assert_eq!(
        line.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["failed", "failed", "verified"],
        "{}",
        status.stdout
    );
}

#[test]
fn a_cp311_wheel_is_verified_on_3_11_and_skipped_with_the_reason_on_the_others() {
    let name = "ts-matrix-cp311";
    let s = Scratch::new(name);
    // A hatchling build hook that tags the wheel `cp311-cp311-manylinux2014_x86_64` when the
    // build command asks for it (packaging's `sys_tags` lists it on a glibc 2.17+ Linux, where
    // `cp311-none-any` is not always listed; `linux_x86_64` would be refused as PyPI refuses
    // it); the sdist, built by the installer on each interpreter, makes a pure wheel.
    s.write(
        "hatch_build.py",
        "import os\n\
         from hatchling.builders.hooks.plugin.interface import BuildHookInterface\n\n\
         class CustomBuildHook(BuildHookInterface):\n\
         \x20   def initialize(self, version, build_data):\n\
         \x20       tag = os.environ.get('TS_WHEEL_TAG')\n\
         \x20       if self.target_name == 'wheel' and tag:\n\
         \x20           build_data['tag'] = tag\n",
    );
    matrix_sample(
        &s,
        name,
        "",
        "\n[tool.hatch.build.targets.wheel.hooks.custom]\n",
        "env TS_WHEEL_TAG=cp311-cp311-manylinux2014_x86_64 ",
    );
    s.twostage(&["release", "patch"]).success();
    s.stage(&["v1.4.3"], SENTINEL)
        .success()
        .stderr_has("is staged and verified");

    let wheel = format!(
        "{}-1.4.3-cp311-cp311-manylinux2014_x86_64.whl",
        name.replace('-', "_")
    );
    let cells = cells(&s, "v1.4.3");
    assert_eq!(cells.len(), 6, "{cells:#?}");
    for (filename, python, result, reason) in &cells {
        match (filename == &wheel, minor(python) == "3.11") {
            (true, true) | (false, _) => {
                assert_eq!(result, "verified", "{filename} on {python}");
                assert_eq!(reason, &None);
            }
            (true, false) => {
                assert_eq!(result, "skipped", "{filename} on {python}");
                let reason = reason.as_deref().unwrap_or_default();
                assert!(
                    reason.contains(&format!("Python {python}"))
                        && reason.contains("accepts none of its tags"),
                    "{reason}"
                );
            }
        }
    }
    // Each verified cell had an environment of its own.
    let work = s.work.join(".git/twostage/v1.4.3/verify-staging");
    for (filename, python, result, _) in &cells {
        let env = work.join(filename).join(python).join("env");
        assert_eq!(
            env.join("bin/python").exists(),
            result == "verified",
            "{env:?}"
        );
    }
    // The skipped cells are neither verified nor failed: the gate passes.
    let status = s.twostage(&["status", "v1.4.3", "--json"]).success();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "verified", "{}", status.stdout);
    assert_eq!(rows[0]["matrix"].as_array().unwrap().len(), 6);
}

#[test]
fn without_verify_python_every_interpreter_found_that_requires_python_admits_is_verified() {
    let name = "ts-matrix-default";
    let s = Scratch::new(name);
    matrix_sample(&s, name, "", "", "");
    let release = s.read("release.toml");
    let pythons_line = release
        .lines()
        .find(|l| l.starts_with("python = "))
        .unwrap();
    s.write(
        "release.toml",
        &release.replace(&format!("{pythons_line}\n"), ""),
    );
    let pyproject = s.read("pyproject.toml").replace(
        "dependencies = [\"tsdep\"]\n",
        "dependencies = [\"tsdep\"]\nrequires-python = \">=3.12\"\n",
    );
    s.write("pyproject.toml", &pyproject);
    s.commit_all("Supports Python 3.12 and later");
    s.twostage(&["release", "patch"]).success();
    let run = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["stage", "v1.4.3"])
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("TWOSTAGE_VERIFY_ARTIFACTS", "wheel")
        .output()
        .unwrap();
    Run::from(run).success();

    // pyenv's 3.12 and later on this machine, one per minor version.
    let versions = std::path::PathBuf::from(std::env::var("PYENV_ROOT").unwrap()).join("versions");
    let mut expected: Vec<String> = std::fs::read_dir(versions)
        .unwrap()
        .flatten()
        .map(|e| minor(&e.file_name().to_string_lossy()))
        .filter(|m| m.split('.').nth(1).and_then(|n| n.parse::<u32>().ok()) >= Some(12))
        .collect();
    expected.sort();
    expected.dedup();
    assert!(expected.len() >= 2, "{expected:?}");
    let mut found: Vec<String> = cells(&s, "v1.4.3").iter().map(|c| minor(&c.1)).collect();
    found.sort();
    assert_eq!(found, expected);
    assert!(cells(&s, "v1.4.3").iter().all(|c| c.2 == "verified"));
}

#[test]
fn a_wheel_is_verified_on_python_3_7_which_has_no_importlib_metadata() {
    // Found releasing iniconfig 2.0.0 (`requires-python = ">=3.7"`): the installed version was
    // read with `importlib.metadata`, which Python 3.7 does not have, so 3.7 always failed.
    let name = "ts-matrix-py37";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    let release = s.read("release.toml").replace(
        "[verify]\n",
        "[verify]\npython = [\"3.7\"]\nartifacts = [\"wheel\"]\n",
    );
    s.write("release.toml", &release);
    s.commit_all("Verify on 3.7");
    s.twostage(&["release", "patch"]).success();
    s.stage(&["v1.4.3"], SENTINEL).success();
    let cells = cells(&s, "v1.4.3");
    assert_eq!(cells.len(), 1, "{cells:?}");
    let (file, python, result, _) = &cells[0];
    assert!(file.ends_with(".whl"), "{cells:?}");
    assert_eq!(minor(python), "3.7", "{cells:?}");
    assert_eq!(result, "verified", "{cells:?}");
}
