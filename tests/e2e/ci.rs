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
        // The jobs that upload with a minted token install the signer, hash-pinned.
        for job in ["stage", "promote"] {
            let runs: String = w["jobs"][job]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["run"].as_str())
                .collect();
            assert!(
                runs.contains("--require-hashes")
                    && runs.contains(".github/workflows/release-signer-requirements.txt"),
                "{label}: {job} installs no pinned signer"
            );
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

/// The rule lets a privileged job install one thing, the signer from `init`'s pins with every
/// hash checked and wheels only; any other install, or that one loosened, is still found, also
/// when split over lines.
#[test]
fn the_permission_rule_lets_a_privileged_job_install_only_the_hash_pinned_signer() {
    let pins = ".github/workflows/release-signer-requirements.txt";
    let exact =
        format!("python -m pip install --require-hashes --no-deps --only-binary :all: -r {pins}");
    let job = |run: &str| {
        serde_json::json!({"jobs": {"stage": {
            "permissions": {"id-token": "write"},
            "steps": [{"run": run}],
        }}})
    };
    let split = exact.replace(" --no-deps", " \\\n  --no-deps");
    for allowed in [exact.clone(), split] {
        let found = testbed::workflow::privileged_runs(&job(&allowed), &[]);
        assert!(found.is_empty(), "{allowed}: {found:?}");
    }
    let refused = [
        exact.replace(" --require-hashes", ""),
        exact.replace(" --no-deps", ""),
        exact.replace(" --only-binary :all:", ""),
        exact.replace(pins, "requirements.txt"),
        format!("{exact} && pip install evil"),
        format!("{exact}; uv pip install evil"),
        "pip \\\n  install evil".to_string(),
    ];
    for run in refused {
        let found = testbed::workflow::privileged_runs(&job(&run), &[]);
        assert!(!found.is_empty(), "not found: {run}");
    }
    // What `init` writes beside the workflow pins every requirement with its hashes.
    let s = Scratch::new("ts-ci-pins");
    sample(&s, Layout::StaticFlit, "ts-ci-pins");
    s.twostage(&["init", ".", "--ci", "github"]).success();
    let text = s.read(pins);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let mut requirements = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with(' ') || line.is_empty() {
            continue;
        }
        requirements += 1;
        assert!(line.contains("==") && line.ends_with('\\'), "{line}");
        let next = lines.get(i + 1).copied().unwrap_or_default();
        assert!(
            next.trim_start().starts_with("--hash=sha256:"),
            "{line}: no hash"
        );
    }
    assert!(text.contains("\npypi-attestations==0.0.30 "));
    assert!(
        requirements > 10,
        "pypi-attestations and everything it needs"
    );
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

/// The indexes, stand-ins and configuration one run of the workflow talks to. Each index is
/// reached through the stand-in that takes PEP 740 attestations as Warehouse does.
struct Bed {
    s: Scratch,
    staging_oidc: testbed::OidcStandin,
    production_oidc: testbed::OidcStandin,
    production: testbed::PypiServer,
    staging_attest: testbed::AttestIndex,
    production_attest: testbed::AttestIndex,
    github: testbed::GithubStandin,
    /// The test signer the jobs sign with, and the file it logs each signed file to.
    signer: Vec<String>,
    signed: std::path::PathBuf,
}

fn basic(username: &str, password: &str) -> String {
    let pair = format!("{username}:{password}");
    format!(
        "Basic {}",
        twostage::resources::credentials::base64(pair.as_bytes())
    )
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
    // Each stand-in takes the token its OIDC stand-in mints as a trusted-publishing upload.
    let staging_attest = testbed::AttestIndex::start(
        &s.dir.join("staging-attest"),
        &indexes().pypi.upload_url(),
        &basic("__token__", SENTINEL),
        SENTINEL,
    )
    .unwrap();
    let production_attest = testbed::AttestIndex::start(
        &s.dir.join("production-attest"),
        &production.upload_url(),
        &basic("__token__", PRODUCTION_MINTED),
        PRODUCTION_MINTED,
    )
    .unwrap();
    let signer = testbed::test_signer(&s.dir.join("signer")).unwrap();
    let signed = s.dir.join("signed.log");
    Bed {
        s,
        staging_oidc,
        production_oidc,
        production,
        staging_attest,
        production_attest,
        github,
        signer,
        signed,
    }
}

/// The sample's `release.toml` for the workflow: trusted publishing to both indexes through
/// the stand-ins, production on its own pypiserver, the GitHub stand-in, a smoke command.
fn configure(bed: &Bed) {
    let mut doc: toml_edit::DocumentMut = bed.s.read("release.toml").parse().unwrap();
    let staging = &bed.staging_attest.url;
    doc["staging"]["upload-url"] = toml_edit::value(format!("{staging}/"));
    doc["staging"]["index-url"] = toml_edit::value(format!("{staging}/simple/"));
    doc["staging"]["oidc-url"] = toml_edit::value(&bed.staging_oidc.url);
    let production = &bed.production_attest.url;
    doc["production"]["upload-url"] = toml_edit::value(format!("{production}/"));
    doc["production"]["index-url"] = toml_edit::value(format!("{production}/simple/"));
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
/// one cargo target for every job (so `build` and the verify cells compile once), no colour,
/// a pip cache under `target/` (the signer's wheels, still checked against their hashes),
/// and the test signer in place of `pypi-attestations sign`, which needs Sigstore.
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
    let signer = serde_json::Value::from(bed.signer.clone()).to_string();
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
            "PIP_CACHE_DIR": testbed::tools_dir().join("signer-pip-cache").display().to_string(),
            "TWOSTAGE_STAGING_ATTEST_COMMAND": signer,
            "TWOSTAGE_PRODUCTION_ATTEST_COMMAND": signer,
            "TEST_SIGNER_LOG": bed.signed.display().to_string(),
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
    assert_attested_in_ci(&bed.staging_attest, &frozen);
    assert_signer_installed(&bed, "v1.4.3", "stage");
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
    assert_attested_in_ci(&bed.production_attest, &frozen);
    assert_signer_installed(&bed, "v1.4.3-prod", "promote");
    s.git(&[
        "fetch",
        "--quiet",
        "origin",
        "+refs/notes/release:refs/notes/release",
    ]);
    let note = release_note(s, "v1.4.3");
    let files: Vec<String> = frozen.keys().cloned().collect();
    for section in ["staging", "production"] {
        assert_eq!(
            note[section]["attestations"].as_str(),
            Some("made"),
            "{section}"
        );
        let attested: Vec<&str> = note[section]["attested"]
            .as_array()
            .unwrap_or_else(|| panic!("{section}: no `attested`"))
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(attested, files, "{section}");
    }
    let signed = std::fs::read_to_string(&bed.signed).unwrap();
    assert_eq!(signed.lines().count(), 4, "each file signed once per index");
    let state = bed.github.state().unwrap();
    assert!(state.to_string().contains(&format!("o/{NAME}")), "{state}");
    assert!(bed.github.violations().unwrap().is_empty());

    let mut all = runs;
    all.extend(prod_runs);
    assert_sentinels(&all);
}

/// Each frozen file went up once to `index` under trusted publishing with one attestation,
/// whose subject is the file's name and sha256, and the index stored it (what Warehouse then
/// serves as the file's provenance).
fn assert_attested_in_ci(
    index: &testbed::AttestIndex,
    frozen: &std::collections::BTreeMap<String, String>,
) {
    let uploads = index.uploads();
    assert_eq!(uploads.len(), frozen.len(), "{uploads:#?}");
    for upload in &uploads {
        let name = upload["upload"].as_str().unwrap();
        assert_eq!(upload["status"], 200, "{upload}");
        assert_eq!(upload["trusted"], true, "{upload}");
        assert_eq!(
            upload["attestations"],
            serde_json::json!([[{"name": name, "digest": {"sha256": frozen[name]}}]]),
            "one attestation, of this file's name and sha256"
        );
    }
    let stored = index.stored();
    for name in frozen.keys() {
        let attestations = stored[name]["attestations"].as_array().unwrap();
        assert_eq!(attestations.len(), 1, "{name}");
    }
}

/// The workflow's install step put a working `pypi-attestations` (the pinned version) first on
/// PATH for the job's twostage step: the default signer twostage runs on GitHub.
fn assert_signer_installed(bed: &Bed, ref_name: &str, job: &str) {
    let bin = bed
        .s
        .dir
        .join(format!("runner-{ref_name}/temp/{job}/signer-bin"));
    assert!(
        bin.join("pypi-attestations").exists(),
        "{job}: the workflow installed no signer in `{}`",
        bin.display()
    );
    let version = std::process::Command::new(bin.join("pypi-attestations"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        "pypi-attestations 0.0.30",
        "{}",
        String::from_utf8_lossy(&version.stderr)
    );
    let dump = bed.s.dir.join(format!("runner-{ref_name}/dumps/{job}.env"));
    let first_on_path = format!("PATH={}:", bin.display());
    assert!(
        std::fs::read_to_string(dump)
            .unwrap()
            .lines()
            .any(|l| l.starts_with(&first_on_path)),
        "{job}: the signer's folder is never first on PATH"
    );
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
