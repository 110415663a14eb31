//! `demo` end to end, and `init` adopting twostage in other repositories.

mod common;

use common::*;

#[test]
fn the_demo_runs_the_whole_lifecycle() {
    let s = Scratch::new("demo");
    let run = s.twostage(&["demo"]).success();
    assert!(
        run.stdout
            .contains("twostage_sample-0.1.1-py3-none-any.whl  sha256="),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("twostage_sample-0.1.1.tar.gz  sha256="),
        "{}",
        run.stdout
    );
    run.stderr_has("is staged and verified")
        .stderr_has("Promoted v0.1.1")
        .stderr_has("in all");
}

/// Adopts twostage with `init` in a sample without release.toml; returns the release.toml.
fn adopt(s: &Scratch) -> String {
    s.git(&["rm", "--quiet", "release.toml"]);
    s.commit_all("Not adopted yet");
    s.twostage(&["init", "."])
        .success()
        .stderr_has("Next steps");
    let after_first = s.snapshot();
    s.twostage(&["init", "."]).success();
    assert_eq!(s.snapshot(), after_first, "a second init changes nothing");
    s.read("release.toml")
}

#[test]
fn init_finds_where_each_kind_of_project_keeps_its_version() {
    let cases = [
        (
            Layout::StaticHatchling,
            "ts-init-hatch",
            Some("version-files = [\"src/ts_init_hatch/__init__.py\"]"),
        ),
        (
            Layout::DynamicFlitModule,
            "ts-init-flit",
            Some("version-files = [\"ts_init_flit/__init__.py\"]"),
        ),
        (
            Layout::SetuptoolsAttr,
            "ts-init-attr",
            Some("version-files = [\"src/ts_init_attr/__init__.py\"]"),
        ),
        (
            Layout::SetupPyOnly,
            "ts-init-setup",
            Some("version-files = [\"ts_init_setup/__init__.py\"]"),
        ),
        (Layout::SetuptoolsScm, "ts-init-scm", None),
        (Layout::StaticPoetry, "ts-init-poetry", None),
    ];
    for (layout, name, expected) in cases {
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
}

#[test]
fn init_joins_an_existing_cargo_workspace_and_cargo_xtask_works_there() {
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
    // The same dependency versions as this workspace, so nothing is fetched.
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"),
        s.work.join("Cargo.lock"),
    )
    .unwrap();
    s.write(".gitignore", &(s.read(".gitignore") + "target/\n"));
    s.commit_all("A Rust workspace too");
    adopt(&s);
    let cargo = s.read("Cargo.toml");
    assert!(
        cargo.starts_with("# Our own workspace.\n")
            && cargo.contains("members = [\"crates/a\", \"xtask\"]"),
        "{cargo}"
    );
    let config = s.read(".cargo/config.toml");
    assert!(
        config.contains("lint = \"clippy\"")
            && config.contains("xtask = \"run --quiet --package xtask --\""),
        "{config}"
    );
    s.commit_all("Adopt twostage");
    // The real `cargo xtask`, built against this checkout of twostage; the lockfile gains the
    // workspace's crates on the first build, and a maintainer commits that.
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("adopted-target");
    let cargo = |args: &[&str]| {
        let out = s
            .command("cargo")
            .args(args)
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_NET_OFFLINE", "true")
            // The toolchain and the registry cache are the machine's; HOME stays the scratch one.
            .env("CARGO_HOME", real_home_dir("CARGO_HOME", ".cargo"))
            .env("RUSTUP_HOME", real_home_dir("RUSTUP_HOME", ".rustup"))
            .output()
            .unwrap();
        Run::from(out)
    };
    cargo(&["build", "--quiet", "--package", "xtask"]).success();
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

fn real_home_dir(variable: &str, default: &str) -> std::path::PathBuf {
    std::env::var_os(variable)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(default)
        })
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
    let tools = twostage::testbed::tools().unwrap();
    let out = std::process::Command::new(tools.python())
        .args(["-c", "import json, sys\nfrom ruamel.yaml import YAML\nprint(json.dumps(YAML(typ='safe').load(open(sys.argv[1]))))"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn init_ci_github_writes_workflows_that_pass_both_linters_and_map_the_tags() {
    let tools = twostage::testbed::tools().unwrap();
    for native in [false, true] {
        let s = Scratch::new(if native { "ts-ci-native" } else { "ts-ci" });
        sample(&s, Layout::StaticFlit, "ts-ci");
        let mut args = vec!["init", ".", "--ci", "github"];
        if native {
            args.push("--native");
        }
        s.twostage(&args).success();
        let workflow = s.work.join(".github/workflows/release.yml");
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
            .args(["--offline", "--no-progress"])
            .arg(&workflow)
            .output()
            .unwrap();
        assert!(
            audit.status.success(),
            "zizmor: {}{}",
            String::from_utf8_lossy(&audit.stdout),
            String::from_utf8_lossy(&audit.stderr)
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
        // v* → stage, v*-prod → promote, the tag passed through env, never expanded in `run:`.
        let plain_only = if native { "wheels" } else { "stage" };
        assert!(w["jobs"][plain_only]["if"]
            .as_str()
            .unwrap()
            .contains("!endsWith(github.ref_name, '-prod')"));
        assert!(run_of("stage").contains("cargo xtask stage \"$TAG\""));
        assert!(w["jobs"]["promote"]["if"]
            .as_str()
            .unwrap()
            .contains("endsWith(github.ref_name, '-prod')"));
        assert!(!w["jobs"]["promote"]["if"].as_str().unwrap().contains('!'));
        assert!(run_of("promote").contains("cargo xtask promote \"$TAG\""));
        for job in w["jobs"].as_object().unwrap().keys() {
            assert!(
                !run_of(job).contains("${{"),
                "an expression expanded in a run script of {job}"
            );
        }
        if native {
            assert!(run_of("stage").contains("--dist dist"));
            assert!(w["jobs"]["stage"]["needs"].as_array().unwrap().len() == 2);
        }
    }
}
