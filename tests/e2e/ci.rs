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
