//! The release workflows `init --ci github` writes: which job may do what (every workflow
//! `init` can write is read, and a job that holds a write permission or `id-token: write`
//! must run no build, install, compile or smoke command), and the whole job graph run on this
//! machine by the test bed's runner (`testbed/src/workflow_runner.py`).

use crate::common::*;

/// Every workflow `init` can write for the sample: plain and `--native`, and with a
/// `requires-python` that narrows the verify matrix. Returns (label, workflow as JSON).
fn every_workflow() -> Vec<(String, serde_json::Value)> {
    let mut all = Vec::new();
    for native in [false, true] {
        for requires in [None, Some(">=3.11")] {
            let label = format!("native={native} requires-python={requires:?}");
            let s = Scratch::new("ts-ci-perm");
            sample(&s, Layout::StaticFlit, "ts-ci-perm");
            if let Some(spec) = requires {
                // `[project]` is the sample's last table.
                let pyproject = s.read("pyproject.toml");
                let narrowed = format!("{}\nrequires-python = \"{spec}\"\n", pyproject.trim_end());
                s.write("pyproject.toml", &narrowed);
            }
            let mut args = vec!["init", ".", "--ci", "github"];
            if native {
                args.push("--native");
            }
            s.twostage(&args).success();
            let path = s.work.join(".github/workflows/release.yml");
            all.push((label, testbed::workflow::workflow_json(&path).unwrap()));
        }
    }
    all
}

#[test]
fn no_job_that_holds_a_permission_runs_a_build_an_install_a_compile_or_a_smoke_command() {
    let workflows = every_workflow();
    assert_eq!(workflows.len(), 4);
    for (label, w) in &workflows {
        let found = testbed::workflow::privileged_runs(w, &["python -c"]);
        assert!(found.is_empty(), "{label}:\n{}", found.join("\n"));
        // The jobs hold exactly what docs/ci.md says.
        let perms = |job: &str| w["jobs"][job]["permissions"].clone();
        assert_eq!(w["permissions"], serde_json::json!({}), "{label}");
        assert_eq!(
            perms("build"),
            serde_json::json!({"contents": "read"}),
            "{label}"
        );
        assert_eq!(
            perms("stage"),
            serde_json::json!({"id-token": "write"}),
            "{label}"
        );
        assert_eq!(perms("verify"), serde_json::json!({}), "{label}");
        assert_eq!(
            perms("record"),
            serde_json::json!({"contents": "write"}),
            "{label}"
        );
        assert_eq!(
            perms("promote"),
            serde_json::json!({"contents": "write", "id-token": "write"}),
            "{label}"
        );
        assert_eq!(w["jobs"]["stage"]["environment"], "testpypi", "{label}");
        assert_eq!(w["jobs"]["promote"]["environment"], "pypi", "{label}");
        // The privileged jobs run the binary the unprivileged build made, checked first.
        for job in ["stage", "record", "promote"] {
            assert!(w["jobs"][job]["needs"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("build")));
        }
        let pythons = &w["jobs"]["verify"]["strategy"]["matrix"]["python"];
        let expected = if label.contains(">=3.11") {
            serde_json::json!(["3.11", "3.12", "3.13"])
        } else {
            serde_json::json!(["3.9", "3.10", "3.11", "3.12", "3.13"])
        };
        assert_eq!(pythons, &expected, "{label}");
    }
}

/// The jobs of the generated workflow and the permissions docs/ci.md gives each.
const HOLDINGS: [(&str, &[&str]); 5] = [
    ("build", &["contents:read"]),
    ("stage", &["id-token:write"]),
    ("verify", &[]),
    ("record", &["contents:write"]),
    ("promote", &["contents:write", "id-token:write"]),
];

const PERMISSIONS: [&str; 3] = ["contents:read", "contents:write", "id-token:write"];

/// The sentinel credential the runner hands `job` for `permission` (distinct for each pair).
fn sentinel(job: &str, permission: &str) -> String {
    format!("SENTINEL-{job}-{}", permission.replace(':', "-"))
}

/// The password of the production pypiserver, minted by its OIDC stand-in for `promote`.
const PRODUCTION_MINTED: &str = "pypi-SENTINEL-production-minted-4b1e";

fn oidc_control(audience: &str, job: &str, minted: &str) -> serde_json::Value {
    serde_json::json!({
        "audience": audience,
        "request_token": sentinel(job, "id-token:write"),
        "jwt": format!("eyJ-SENTINEL-{job}-jwt"),
        "minted": minted,
        "expires_in": 900,
        "error_code": null,
    })
}

/// The indexes, stand-ins and configuration one run of the workflow talks to.
struct Bed {
    s: Scratch,
    staging_oidc: testbed::OidcStandin,
    production_oidc: testbed::OidcStandin,
    production: testbed::PypiServer,
    github: testbed::GithubStandin,
}

const NAME: &str = "ts-ci-run";

fn bed() -> Bed {
    let s = Scratch::new(NAME);
    sample(&s, Layout::StaticFlit, NAME);
    let staging_oidc = testbed::OidcStandin::start(
        &s.dir.join("oidc-staging"),
        &oidc_control("testpypi", "stage", SENTINEL),
    )
    .unwrap();
    let production_oidc = testbed::OidcStandin::start(
        &s.dir.join("oidc-production"),
        &oidc_control("pypi", "promote", PRODUCTION_MINTED),
    )
    .unwrap();
    let production =
        testbed::PypiServer::start(&s.dir.join("production"), "__token__", PRODUCTION_MINTED)
            .unwrap();
    // What PyPI would serve the verification: the build backends, for the sdist.
    for wheel in testbed::tools().unwrap().backend_wheels().unwrap() {
        std::fs::copy(&wheel, production.packages.join(wheel.file_name().unwrap())).unwrap();
    }
    let github = testbed::GithubStandin::start(
        &s.dir.join("github"),
        &sentinel("promote", "contents:write"),
    )
    .unwrap();
    Bed {
        s,
        staging_oidc,
        production_oidc,
        production,
        github,
    }
}

/// The sample's `release.toml` for the workflow: trusted publishing to both indexes through
/// the stand-ins, production on its own pypiserver, the GitHub stand-in, a smoke command.
fn configure(bed: &Bed) {
    let mut doc: toml_edit::DocumentMut = bed.s.read("release.toml").parse().unwrap();
    doc["staging"]["oidc-url"] = toml_edit::value(&bed.staging_oidc.url);
    doc["production"]["upload-url"] = toml_edit::value(bed.production.upload_url());
    doc["production"]["index-url"] = toml_edit::value(bed.production.index_url());
    doc["production"]["username"] = toml_edit::value("__token__");
    doc["production"]["oidc-url"] = toml_edit::value(&bed.production_oidc.url);
    doc["github"]["repository"] = toml_edit::value(format!("o/{NAME}"));
    doc["github"]["api-url"] = toml_edit::value(&bed.github.api_url);
    let mut smoke = toml_edit::Array::new();
    smoke.push("python -c 'import ts_ci_run, sys; print(sys.version)'");
    doc["verify"]["smoke"] = toml_edit::value(smoke);
    bed.s.write("release.toml", &doc.to_string());
}

/// What every job gets from the runner besides its permissions': the machine's toolchains,
/// one cargo target for every job (so `build` and the verify cells compile once), no colour.
fn runner_config(bed: &Bed, ref_name: &str) -> serde_json::Value {
    let home = std::env::var("HOME").unwrap();
    let cargo_home = std::env::var("CARGO_HOME").unwrap_or(format!("{home}/.cargo"));
    let rustup_home = std::env::var("RUSTUP_HOME").unwrap_or(format!("{home}/.rustup"));
    let mut credentials = serde_json::Map::new();
    for (job, _) in HOLDINGS {
        let oidc = if job == "promote" {
            &bed.production_oidc.url
        } else {
            &bed.staging_oidc.url
        };
        credentials.insert(
            job.to_string(),
            serde_json::json!({
                "contents:read": sentinel(job, "contents:read"),
                "contents:write": sentinel(job, "contents:write"),
                "id-token:write": {
                    "url": format!("{oidc}/token?api-version=2.0"),
                    "token": sentinel(job, "id-token:write"),
                },
            }),
        );
    }
    let uv = testbed::tools().unwrap().venv.join("uv-only");
    serde_json::json!({
        "ref_name": ref_name,
        "origin": bed.s.origin.display().to_string(),
        "workspace_root": bed.s.dir.display().to_string(),
        "uv_dir": uv.display().to_string(),
        "base_env": {
            "PATH": format!("{cargo_home}/bin:/usr/local/bin:/usr/bin:/bin"),
            "CARGO_HOME": cargo_home,
            "RUSTUP_HOME": rustup_home,
            "CARGO_TARGET_DIR": testbed::target_dir().join("twostage-ci-target").display().to_string(),
            "GIT_CONFIG_NOSYSTEM": "1",
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
        },
        "credentials": credentials,
    })
}

fn run_graph(bed: &Bed, ref_name: &str) -> Vec<testbed::workflow::JobRun> {
    let workflow = bed.s.work.join(".github/workflows/release.yml");
    let dir = bed.s.dir.join(format!("runner-{ref_name}"));
    let (runs, ok) =
        testbed::workflow::run_workflow(&workflow, &dir, runner_config(bed, ref_name)).unwrap();
    let failed: Vec<String> = runs
        .iter()
        .filter(|r| r.result == "failure")
        .map(|r| {
            let log = r.log.as_ref().map(std::fs::read_to_string);
            format!(
                "{}:\n{}",
                r.cell,
                log.and_then(Result::ok).unwrap_or_default()
            )
        })
        .collect();
    assert!(ok && failed.is_empty(), "{}", failed.join("\n\n"));
    runs
}

/// Each run job's dumps must hold the sentinel of a permission only when that job holds it;
/// the jobs that hold one must show it (the dumps see what they should); no minted token
/// reached any environment.
fn assert_sentinels(runs: &[testbed::workflow::JobRun]) {
    for run in runs.iter().filter(|r| r.dump.is_some()) {
        let dump = std::fs::read_to_string(run.dump.as_ref().unwrap()).unwrap();
        assert!(
            dump.contains("/environ"),
            "{}: no process was sampled",
            run.cell
        );
        let held = HOLDINGS.iter().find(|(j, _)| *j == run.job).unwrap().1;
        for (job, _) in HOLDINGS {
            for permission in PERMISSIONS {
                let present = dump.contains(&sentinel(job, permission));
                let allowed = job == run.job && held.contains(&permission);
                assert!(
                    !present || allowed,
                    "{}: the {permission} credential of `{job}` reached it",
                    run.cell
                );
            }
        }
        for token in [SENTINEL, PRODUCTION_MINTED, "eyJ-SENTINEL"] {
            assert!(
                !dump.contains(token),
                "{}: a minted token in its environment",
                run.cell
            );
        }
        let must_show: &[&str] = match run.job.as_str() {
            "stage" => &["id-token:write"],
            "record" => &["contents:write"],
            "promote" => &["id-token:write", "contents:write"],
            _ => &[],
        };
        for permission in must_show {
            assert!(
                dump.contains(&sentinel(&run.job, permission)),
                "{}: its own {permission} credential is not in its dumps",
                run.cell
            );
        }
    }
}

#[test]
fn a_tag_and_its_prod_tag_go_through_the_generated_workflow_to_production() {
    let bed = bed();
    let s = &bed.s;
    configure(&bed);
    let twostage_crate = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let crate_path = twostage_crate.display().to_string();
    s.twostage(&["init", ".", "--ci", "github", "--path", &crate_path])
        .success();
    s.commit_all("Adopt twostage, in CI");
    s.twostage(&["release", "patch"]).success();
    s.git(&["push", "--quiet", "origin", "main", "v1.4.3"]);

    let runs = run_graph(&bed, "v1.4.3");
    let result = |cell: &str| {
        runs.iter()
            .find(|r| r.cell == cell)
            .map(|r| r.result.clone())
    };
    for job in ["build", "stage", "record"] {
        assert_eq!(result(job).as_deref(), Some("success"), "{job}");
    }
    assert_eq!(result("promote").as_deref(), Some("skipped"));
    let pythons = ["3.9", "3.10", "3.11", "3.12", "3.13"];
    for python in pythons {
        let linux = format!("verify-ubuntu-24.04-{python}");
        assert_eq!(result(&linux).as_deref(), Some("success"), "{linux}");
        // Only Linux runs here: the macOS cells are listed, not run.
        let mac = format!("verify-macos-14-{python}");
        assert_eq!(result(&mac).as_deref(), Some("not-run-here"), "{mac}");
    }

    // The note on origin: the staging upload and every Linux cell, each verified.
    s.git(&[
        "fetch",
        "--quiet",
        "origin",
        "+refs/notes/release:refs/notes/release",
    ]);
    let note = release_note(s, "v1.4.3");
    let frozen = note_artifacts(&note);
    assert_eq!(frozen.len(), 2, "a wheel and an sdist: {frozen:?}");
    assert_eq!(served_map(&indexes().pypi.index_url(), NAME), frozen);
    assert!(note["staging"]["from"].as_str() == Some("staged.toml"));
    let verification = note["verification"].as_table().unwrap();
    let mut cells = vec![verification.clone()];
    cells.extend(
        verification["runs"]
            .as_array_of_tables()
            .into_iter()
            .flatten()
            .cloned(),
    );
    let mut from: Vec<String> = cells
        .iter()
        .map(|c| c["from"].as_str().unwrap().to_string())
        .collect();
    from.sort();
    let mut expected: Vec<String> = pythons
        .iter()
        .map(|p| format!("verify-ubuntu-24.04-py{p}.toml"))
        .collect();
    expected.sort();
    assert_eq!(from, expected);
    for cell in &cells {
        assert_eq!(cell["result"].as_str(), Some("verified"), "{cell}");
        let from = cell["from"].as_str().unwrap();
        let python = from
            .trim_start_matches("verify-ubuntu-24.04-py")
            .trim_end_matches(".toml");
        let interpreter = cell["interpreter"].as_str().unwrap();
        assert!(
            interpreter.starts_with(&format!("Python {python}.")),
            "{from}: {interpreter}"
        );
    }

    // The maintainer pushes the production tag; the workflow promotes.
    s.git(&[
        "tag",
        "-a",
        "v1.4.3-prod",
        "-m",
        "Promote v1.4.3",
        "v1.4.3^{commit}",
    ]);
    s.git(&["push", "--quiet", "origin", "v1.4.3-prod"]);
    let prod_runs = run_graph(&bed, "v1.4.3-prod");
    let prod_result = |cell: &str| {
        prod_runs
            .iter()
            .find(|r| r.cell == cell)
            .map(|r| r.result.clone())
    };
    assert_eq!(prod_result("build").as_deref(), Some("success"));
    assert_eq!(prod_result("promote").as_deref(), Some("success"));
    assert_eq!(prod_result("stage").as_deref(), Some("skipped"));
    assert_eq!(served_map(&bed.production.index_url(), NAME), frozen);
    let state = bed.github.state().unwrap();
    assert!(state.to_string().contains(&format!("o/{NAME}")), "{state}");
    assert!(bed.github.violations().unwrap().is_empty());

    let mut all = runs;
    all.extend(prod_runs);
    assert_sentinels(&all);
}

/// A verification fragment of `v1.4.3` as a verify cell writes it, vouching for `hashes`.
fn fragment(s: &Scratch, hashes: &[String]) -> String {
    let manifest =
        std::fs::read_to_string(frozen_dir(s, "v1.4.3").with_file_name("artifacts.toml")).unwrap();
    let frozen: toml_edit::DocumentMut = manifest.parse().unwrap();
    let mut doc = toml_edit::DocumentMut::new();
    doc["tag"] = toml_edit::value("v1.4.3");
    doc["version"] = toml_edit::value("1.4.3");
    doc["commit"] = toml_edit::value(s.git(&["rev-parse", "v1.4.3^{commit}"]));
    doc["artifacts"] = frozen["artifacts"].clone();
    let mut verification = toml_edit::Table::new();
    verification["result"] = toml_edit::value("verified");
    let mut list = toml_edit::Array::new();
    for h in hashes {
        list.push(h.as_str());
    }
    verification["verified-sha256"] = toml_edit::value(list);
    doc["verification"] = toml_edit::Item::Table(verification);
    doc.to_string()
}

#[test]
fn record_refuses_results_about_other_bytes_than_the_frozen_ones_and_records_the_rest() {
    let s = Scratch::new("ts-ci-record");
    sample(&s, Layout::StaticFlit, "ts-ci-record");
    s.twostage(&["release", "patch"]).success();
    let frozen: Vec<String> = frozen_files(&s, "v1.4.3").into_values().collect();
    let dist = frozen_dir(&s, "v1.4.3");
    let dist_arg = dist.to_str().unwrap();

    let mut forged = frozen.clone();
    forged[0] = "0".repeat(64);
    std::fs::write(s.dir.join("verify-forged.toml"), fragment(&s, &forged)).unwrap();
    let before = s.snapshot();
    let forged_path = s.dir.join("verify-forged.toml");
    s.twostage(&[
        "record",
        "v1.4.3",
        "--dist",
        dist_arg,
        forged_path.to_str().unwrap(),
    ])
    .failure(1)
    .stderr_has("none of the frozen files");
    assert_eq!(s.snapshot(), before, "a refused record changed nothing");

    let good_path = s.dir.join("verify-good.toml");
    std::fs::write(&good_path, fragment(&s, &frozen)).unwrap();
    s.twostage(&[
        "record",
        "v1.4.3",
        "--dist",
        dist_arg,
        good_path.to_str().unwrap(),
    ])
    .success();
    let note = release_note(&s, "v1.4.3");
    assert_eq!(
        note["verification"]["from"].as_str(),
        Some("verify-good.toml")
    );
    assert_eq!(note_artifacts(&note), frozen_files(&s, "v1.4.3"));
    // And the note reached the origin.
    let pushed = s.git_in(&s.origin, &["notes", "--ref=release", "list"]);
    assert!(!pushed.is_empty());
}
