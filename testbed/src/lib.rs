//! Test stand-ins on 127.0.0.1 (a GitHub API, trusted publishing, a fault-injecting proxy) and
//! the seeding of a local production index, for the tests and the benchmarks. The servers,
//! the tools and the sandbox themselves live in the product's `sandbox` (`rehearse` uses them)
//! and are re-exported here. A crate of its own, beside the product: adopters never compile it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Cmd, Shell};

pub mod workflow;

use twostage::resources::sandbox::Guarded;
pub use twostage::resources::sandbox::{
    free_port, target_dir, tools, Devpi, DevpiIndex, PypiServer, Sandbox, Tools, SANDBOX_TOKEN,
    TOOLS_DIR_ENV,
};

/// The folder of the tests' own tools: `TWOSTAGE_TOOLS_DIR` (which `.cargo/config.toml` and
/// `.ci/run` set to `target/twostage-tools`), else `target/twostage-tools` all the same. The
/// tests' extras (the OpenAPI description, mitmproxy's venv, actionlint) live there too,
/// never in the user's cache.
pub fn tools_dir() -> PathBuf {
    std::env::var_os(TOOLS_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("twostage-tools"))
}

/// Runs a command to its end with its output captured: its stdout, or an error that carries
/// both streams (the product's `sandbox::run`), so the tests' output stays quiet.
fn run(command: Cmd<'_>) -> Result<String> {
    twostage::resources::sandbox::run(&mut command.into())
}

/// `examples/sample` of this workspace.
pub fn sample_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sample")
}

/// Builds a wheel of the project at `dir` with the tools' backends (no download) into `out`.
pub fn build_wheel(dir: &Path, out: &Path) -> Result<PathBuf> {
    let sh = Shell::new()?;
    let python = tools()?.python();
    run(cmd!(
        sh,
        "{python} -m build --no-isolation --wheel --outdir {out} {dir}"
    ))
    .with_context(|| format!("cannot build `{}`", dir.display()))?;
    std::fs::read_dir(out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("the build made no wheel")
}

/// Makes a devpi index serve what PyPI would for the samples: the build backends (so an sdist
/// builds in isolation there) and `tsdep`, a small dependency found on no other index.
pub fn seed_production(dir: &Path, devpi: &Devpi, index: &DevpiIndex) -> Result<()> {
    let tools = tools()?;
    let dep = dir.join("tsdep");
    std::fs::create_dir_all(dep.join("tsdep"))?;
    std::fs::write(
        dep.join("pyproject.toml"),
        "[build-system]\nrequires = [\"flit_core >=3.2,<5\"]\nbuild-backend = \"flit_core.buildapi\"\n\n\
         [project]\nname = \"tsdep\"\nversion = \"1.0\"\ndescription = \"A dependency served only by production\"\n",
    )?;
    std::fs::write(dep.join("tsdep/__init__.py"), "VALUE = 42\n")?;
    let mut files = tools.backend_wheels()?;
    files.push(build_wheel(&dep, &dir.join("tsdep-dist"))?);
    let sh = Shell::new()?;
    let (twine, url, user) = (tools.bin("twine"), &index.upload_url, &devpi.username);
    run(cmd!(
        sh,
        "{twine} upload --non-interactive --disable-progress-bar --repository-url {url} -u {user} {files...}"
    )
    .env("TWINE_PASSWORD", &devpi.password))
    .context("cannot seed the production index")?;
    Ok(())
}

/// The version of `@octokit/openapi` (from the npm registry) whose `api.github.com`
/// description the GitHub stand-in checks requests against.
const OCTOKIT_OPENAPI: &str = "@octokit/openapi@23.0.2";

/// GitHub's dereferenced OpenAPI description, fetched with `npm pack` on first use.
pub fn github_openapi() -> Result<PathBuf> {
    let dir = tools_dir().join("openapi");
    let spec = dir.join("api.github.com.deref.json");
    if spec.exists() {
        return Ok(spec);
    }
    std::fs::create_dir_all(&dir)?;
    let lock = std::fs::File::create(dir.join(".lock"))?;
    lock.lock()?;
    if spec.exists() {
        return Ok(spec);
    }
    let sh = Shell::new()?;
    sh.change_dir(&dir);
    let packed = run(cmd!(sh, "npm pack --silent {OCTOKIT_OPENAPI}"))
        .context("cannot fetch GitHub's OpenAPI description with `npm pack` (is npm installed?)")?;
    let tarball = dir.join(packed.trim());
    run(cmd!(
        sh,
        "tar xzf {tarball} -C {dir} --strip-components=2 package/generated/api.github.com.deref.json"
    ))?;
    std::fs::remove_file(&tarball).ok();
    Ok(spec)
}

/// A stand-in for GitHub's REST API that checks every request against the OpenAPI
/// description (see `github_standin.py`).
#[derive(Debug)]
pub struct GithubStandin {
    _server: Guarded,
    pub api_url: String,
    pub log: PathBuf,
}

impl GithubStandin {
    pub fn start(dir: &Path, token: &str) -> Result<GithubStandin> {
        let tools = tools()?;
        let spec = github_openapi()?;
        std::fs::create_dir_all(dir)?;
        let script = dir.join("github_standin.py");
        std::fs::write(&script, include_str!("github_standin.py"))?;
        let log = dir.join("requests.jsonl");
        std::fs::write(&log, "")?;
        let port = free_port()?;
        let args = vec![
            script.display().to_string(),
            spec.display().to_string(),
            port.to_string(),
            log.display().to_string(),
        ];
        let mut server = Guarded::spawn(
            &tools.python(),
            &args,
            &dir.join("standin.log"),
            &[("GITHUB_STANDIN_TOKEN", token)],
        )?;
        let api_url = format!("http://127.0.0.1:{port}");
        server.wait_until_up(&format!("{api_url}/_standin/state"), "the GitHub stand-in")?;
        Ok(GithubStandin {
            _server: server,
            api_url,
            log,
        })
    }

    /// Every logged request's violations of the OpenAPI description.
    pub fn violations(&self) -> Result<Vec<String>> {
        let text = std::fs::read_to_string(&self.log)?;
        let mut found = Vec::new();
        for line in text.lines() {
            let entry: serde_json::Value = serde_json::from_str(line)?;
            for v in entry["violations"].as_array().into_iter().flatten() {
                found.push(format!("{} {}: {}", entry["method"], entry["path"], v));
            }
        }
        Ok(found)
    }

    /// The operations called, in order (`repos/create-release`, …).
    pub fn operations(&self) -> Result<Vec<String>> {
        let text = std::fs::read_to_string(&self.log)?;
        text.lines()
            .map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line)?;
                Ok(entry["operation"].as_str().unwrap_or("?").to_string())
            })
            .collect()
    }

    /// The logged requests on `repository` (`owner/name`), in order: each with its
    /// `method`, `operation`, `json` body and whether it was `authenticated`.
    pub fn requests(&self, repository: &str) -> Result<Vec<serde_json::Value>> {
        let text = std::fs::read_to_string(&self.log)?;
        let mut found = Vec::new();
        for line in text.lines() {
            let entry: serde_json::Value = serde_json::from_str(line)?;
            let path = entry["path"].as_str().unwrap_or_default();
            if path.contains(&format!("/repos/{repository}/")) {
                found.push(entry);
            }
        }
        Ok(found)
    }

    /// Sends a test control (`tamper`, `fail`; see `github_standin.py`).
    pub fn control(&self, what: &str, body: &serde_json::Value) -> Result<()> {
        let response = twostage::resources::index::agent()
            .post(&format!("{}/_standin/{what}", self.api_url))
            .header("Content-Type", "application/json")
            .send(body.to_string())?;
        anyhow::ensure!(
            response.status() == 200,
            "the stand-in refused `{what}`: {}",
            response.status()
        );
        Ok(())
    }

    /// The releases the stand-in holds, as JSON.
    pub fn state(&self) -> Result<serde_json::Value> {
        let mut response = twostage::resources::index::agent()
            .get(&format!("{}/_standin/state", self.api_url))
            .call()?;
        Ok(serde_json::from_str(
            &response.body_mut().read_to_string()?,
        )?)
    }
}

/// A stand-in for trusted publishing: an index's `/_/oidc/` endpoints and the Actions OIDC
/// token service (see `oidc_standin.py`). `control` is rewritten to change its answers.
#[derive(Debug)]
pub struct OidcStandin {
    _server: Guarded,
    pub url: String,
    pub control: PathBuf,
    pub log: PathBuf,
}

impl OidcStandin {
    pub fn start(dir: &Path, control: &serde_json::Value) -> Result<OidcStandin> {
        let tools = tools()?;
        std::fs::create_dir_all(dir)?;
        let script = dir.join("oidc_standin.py");
        std::fs::write(&script, include_str!("oidc_standin.py"))?;
        let control_path = dir.join("control.json");
        std::fs::write(&control_path, control.to_string())?;
        let log = dir.join("requests.jsonl");
        std::fs::write(&log, "")?;
        let port = free_port()?;
        let args = vec![
            script.display().to_string(),
            port.to_string(),
            control_path.display().to_string(),
            log.display().to_string(),
        ];
        let mut server = Guarded::spawn(&tools.python(), &args, &dir.join("standin.log"), &[])?;
        let url = format!("http://127.0.0.1:{port}");
        server.wait_until_up(&format!("{url}/_/oidc/audience"), "the OIDC stand-in")?;
        Ok(OidcStandin {
            _server: server,
            url,
            control: control_path,
            log,
        })
    }

    pub fn set(&self, control: &serde_json::Value) -> Result<()> {
        Ok(std::fs::write(&self.control, control.to_string())?)
    }

    pub fn requests(&self) -> Result<Vec<serde_json::Value>> {
        std::fs::read_to_string(&self.log)?
            .lines()
            .map(|l| Ok(serde_json::from_str(l)?))
            .collect()
    }
}

const MITMPROXY: &str = "mitmproxy==11.0.2";

/// `mitmdump`, in a virtual environment of its own (its pins clash with devpi's).
pub fn mitmdump() -> Result<PathBuf> {
    let dir = tools_dir().join("mitm-venv");
    let bin = dir.join("bin").join("mitmdump");
    let stamp = dir.join(".twostage-requirements");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == MITMPROXY) {
        return Ok(bin);
    }
    std::fs::create_dir_all(dir.parent().context("no parent")?)?;
    let lock = std::fs::File::create(dir.with_extension("lock"))?;
    lock.lock()?;
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == MITMPROXY) {
        return Ok(bin);
    }
    let python = std::env::var("TWOSTAGE_PYTHON").unwrap_or_else(|_| "python3".into());
    let sh = Shell::new()?;
    run(cmd!(sh, "{python} -m venv --clear {dir}"))?;
    let venv_python = dir.join("bin/python");
    run(cmd!(
        sh,
        "{venv_python} -m pip install --quiet --disable-pip-version-check {MITMPROXY}"
    ))
    .context("cannot install mitmproxy from PyPI")?;
    std::fs::write(&stamp, MITMPROXY)?;
    Ok(bin)
}

/// A reverse proxy (mitmproxy) in front of a local index that injects the faults its control
/// file names (see `fault_proxy.py`).
#[derive(Debug)]
pub struct FaultProxy {
    _route: Route,
    pub url: String,
    pub control: PathBuf,
}

/// mitmdump in reverse mode in front of `upstream` on 127.0.0.1:`port`, its configuration in
/// `dir/conf`, running `addon` (a file name and its text, written into `dir`) with `env`;
/// returned once `probe` (a URL and what answers there) answers.
fn reverse_proxy(
    dir: &Path,
    upstream: &str,
    port: u16,
    (name, text): (&str, &str),
    env: &[(&str, &str)],
    (probe, what): (&str, &str),
) -> Result<Guarded> {
    let script = dir.join(name);
    std::fs::write(&script, text)?;
    let args = vec![
        "--quiet".to_string(),
        "--mode".into(),
        format!("reverse:{}", upstream.trim_end_matches('/')),
        "--listen-host".into(),
        "127.0.0.1".into(),
        "--listen-port".into(),
        port.to_string(),
        "--set".into(),
        format!("confdir={}", dir.join("conf").display()),
        "-s".into(),
        script.display().to_string(),
    ];
    let mut server = Guarded::spawn(&mitmdump()?, &args, &dir.join("mitmdump.log"), env)?;
    server.wait_until_up(probe, what)?;
    Ok(server)
}

/// The one mitmdump of this process (`proxy_hub.py`): every [`FaultProxy`] and [`AttestIndex`]
/// is a route on it, a port of its own with its own upstream and addon, instead of a mitmdump
/// start each (0.8 to 1.6 s of CPU, docs/testing.md). Started on first use. mitmproxy connects
/// to a reverse mode's upstream as soon as a client connects and drops the client when that
/// fails, so the control mode, whose requests the hub answers itself, has an upstream of its
/// own that lives as long as this process: a listener here that takes and closes connections.
#[derive(Debug)]
struct Hub {
    _server: Guarded,
    /// `http://127.0.0.1:PORT/_hub/routes`.
    routes: String,
}

fn hub() -> Result<&'static Hub> {
    static HUB: std::sync::OnceLock<std::result::Result<Hub, String>> = std::sync::OnceLock::new();
    let start = || -> Result<Hub> {
        let dir = target_dir()
            .join("tmp/twostage-tests")
            .join(format!("proxy-hub-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let sink = std::net::TcpListener::bind("127.0.0.1:0")?;
        let upstream = format!("http://{}", sink.local_addr()?);
        std::thread::spawn(move || sink.incoming().for_each(drop));
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}/_hub/");
        let server = reverse_proxy(
            &dir,
            &upstream,
            port,
            ("proxy_hub.py", include_str!("proxy_hub.py")),
            &[],
            (&url, "the proxy hub"),
        )?;
        Ok(Hub {
            _server: server,
            routes: format!("{url}routes"),
        })
    };
    HUB.get_or_init(|| start().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// A reverse proxy on the [`Hub`], on its port until dropped.
#[derive(Debug)]
struct Route {
    port: u16,
    routes: String,
}

impl Route {
    /// A route in front of `upstream` on 127.0.0.1:`port` running `addon` (a file name and its
    /// text, written into `dir`), which loads with `env` in its environment; returned once
    /// `probe` (a URL and what answers there) answers through it.
    fn open(
        dir: &Path,
        upstream: &str,
        port: u16,
        (name, text): (&str, &str),
        env: &[(&str, &str)],
        (probe, what): (&str, &str),
    ) -> Result<Route> {
        let hub = hub()?;
        let script = dir.join(name);
        std::fs::write(&script, text)?;
        let env: serde_json::Map<String, serde_json::Value> = env
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        let asked = serde_json::json!({
            "port": port,
            "upstream": upstream.trim_end_matches('/'),
            "addon": script,
            "env": env,
        });
        let agent = twostage::resources::index::agent();
        agent
            .post(&hub.routes)
            .header("Content-Type", "application/json")
            .send(asked.to_string())
            .with_context(|| format!("the proxy hub did not open {what}"))?;
        let route = Route {
            port,
            routes: hub.routes.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !agent
            .get(probe)
            .call()
            .is_ok_and(|r| r.status().as_u16() < 500)
        {
            if Instant::now() > deadline {
                bail!("{what} did not answer at `{probe}` within 60s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(route)
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        let url = format!("{}/{}", self.routes, self.port);
        let _ = twostage::resources::index::agent().delete(&url).call();
    }
}

impl FaultProxy {
    pub fn start(dir: &Path, upstream: &str) -> Result<FaultProxy> {
        std::fs::create_dir_all(dir)?;
        let control = dir.join("control.json");
        std::fs::write(&control, "{}")?;
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}/");
        let control_str = control.display().to_string();
        let route = Route::open(
            dir,
            upstream,
            port,
            ("fault_proxy.py", include_str!("fault_proxy.py")),
            &[("FAULT_PROXY_CONTROL", control_str.as_str())],
            (&url, "the fault proxy"),
        )?;
        Ok(FaultProxy {
            _route: route,
            url,
            control,
        })
    }

    /// Sets the faults to inject from now on; the counters start again.
    pub fn set(&self, faults: &serde_json::Value) -> Result<()> {
        let _ = std::fs::remove_file(self.control.with_extension("json.state"));
        let _ = std::fs::remove_file(self.control.with_extension("json.events"));
        Ok(std::fs::write(&self.control, faults.to_string())?)
    }

    /// What the proxy did, one line per injected fault, per upload request (`POST <file>`) and
    /// per file download (`GET <file>`).
    pub fn events(&self) -> Vec<String> {
        std::fs::read_to_string(self.control.with_extension("json.events"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// The command of a test signer (`test_signer.py`, written into `dir`) that writes
/// structurally valid PEP 740 attestations with placeholder signatures: for `attest-command`.
pub fn test_signer(dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let script = dir.join("test_signer.py");
    std::fs::write(&script, include_str!("test_signer.py"))?;
    Ok(vec![
        tools()?.python().display().to_string(),
        script.display().to_string(),
    ])
}

/// The command of a test verifier in place of `pypi-attestations verify pypi` (the same
/// `test_signer.py`, `verify`): for `TWOSTAGE_ATTESTATION_VERIFIER`, as a TOML array.
pub fn test_verifier(dir: &Path) -> Result<String> {
    let mut command = test_signer(dir)?;
    command.push("verify".into());
    Ok(serde_json::Value::from(command).to_string())
}

/// Checks an attestation object against `pypi-attestations`' own model of it (from the
/// tools), the model Warehouse validates uploads with; the error says what is wrong.
pub fn valid_attestation(attestation: &serde_json::Value) -> Result<()> {
    let sh = Shell::new()?;
    let python = tools()?.python();
    let text = attestation.to_string();
    run(cmd!(
        sh,
        "{python} -c 'import sys; from pypi_attestations import Attestation; Attestation.model_validate_json(sys.argv[1])' {text}"
    ))
    .map(|_| ())
}

/// An index that takes PEP 740 attestations as Warehouse's legacy upload does (mitmproxy in
/// reverse mode in front of a local index, see `attest_index.py`): uploads with a token
/// starting `minted_prefix` go on with `upstream_auth` (the local index's own credentials).
#[derive(Debug)]
pub struct AttestIndex {
    _route: Route,
    /// `http://127.0.0.1:PORT`, without a trailing `/`.
    pub url: String,
    pub control: PathBuf,
}

impl AttestIndex {
    pub fn start(
        dir: &Path,
        upstream: &str,
        upstream_auth: &str,
        minted_prefix: &str,
    ) -> Result<AttestIndex> {
        std::fs::create_dir_all(dir)?;
        let control = dir.join("control.json");
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let settings = serde_json::json!({
            "url": url,
            "upstream_auth": upstream_auth,
            "minted_prefix": minted_prefix,
        });
        std::fs::write(&control, settings.to_string())?;
        let control_str = control.display().to_string();
        let route = Route::open(
            dir,
            upstream,
            port,
            ("attest_index.py", include_str!("attest_index.py")),
            &[("ATTEST_INDEX_CONTROL", control_str.as_str())],
            (&format!("{url}/"), "the attestation index stand-in"),
        )?;
        Ok(AttestIndex {
            _route: route,
            url,
            control,
        })
    }

    /// Changes one setting of the control file (`refuse_uploads`, …).
    pub fn set(&self, key: &str, value: serde_json::Value) -> Result<()> {
        let mut control: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&self.control)?)?;
        control[key] = value;
        Ok(std::fs::write(&self.control, control.to_string())?)
    }

    /// Every upload and provenance read the stand-in saw, in order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.control.with_extension("json.events"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The upload requests among the events.
    pub fn uploads(&self) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e.get("upload").is_some())
            .collect()
    }

    /// filename → `{sha256, attestations}` of what was stored through the stand-in.
    pub fn stored(&self) -> serde_json::Value {
        std::fs::read_to_string(self.control.with_extension("json.store"))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| serde_json::json!({}))
    }
}

/// Records each TLS handshake with a client, for [`HttpsProxy`].
const HANDSHAKE_LOG_ADDON: &str = r#"
import os

def _record(outcome):
    with open(os.environ["TWOSTAGE_HANDSHAKE_LOG"], "a") as log:
        log.write(outcome + "\n")

def tls_established_client(data):
    _record("established")

def tls_failed_client(data):
    _record("failed")
"#;

/// An HTTPS front (mitmproxy in reverse mode) for a local index, whose certificate is signed
/// by a CA that mitmproxy generates in a folder of its own: trusted by nothing on the machine
/// until `SSL_CERT_FILE`/`SSL_CERT_DIR` name `ca`.
#[derive(Debug)]
pub struct HttpsProxy {
    _server: Guarded,
    /// `https://localhost:PORT/`: the name the generated certificate is issued for.
    pub url: String,
    /// The generated CA certificate (PEM).
    pub ca: PathBuf,
    handshakes: PathBuf,
}

impl HttpsProxy {
    pub fn start(dir: &Path, upstream: &str) -> Result<HttpsProxy> {
        std::fs::create_dir_all(dir)?;
        let handshakes = dir.join("handshakes.log");
        std::fs::write(&handshakes, "")?;
        let port = free_port()?;
        let log = handshakes.display().to_string();
        // The same port answers plain HTTP too (mitmproxy detects TLS per connection).
        let server = reverse_proxy(
            dir,
            upstream,
            port,
            ("handshakes.py", HANDSHAKE_LOG_ADDON),
            &[("TWOSTAGE_HANDSHAKE_LOG", log.as_str())],
            (&format!("http://127.0.0.1:{port}/"), "the HTTPS proxy"),
        )?;
        let ca = dir.join("conf").join("mitmproxy-ca-cert.pem");
        if !ca.is_file() {
            bail!("mitmproxy did not write its CA to `{}`", ca.display());
        }
        Ok(HttpsProxy {
            _server: server,
            url: format!("https://localhost:{port}/"),
            ca,
            handshakes,
        })
    }

    /// How many TLS handshakes with clients succeeded and failed so far. mitmproxy records a
    /// handshake a moment after the client has gone, so this waits until the record has been
    /// still for half a second (at most 10 s).
    pub fn handshakes(&self) -> (usize, usize) {
        let read = || std::fs::read_to_string(&self.handshakes).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut log = read();
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = read();
            if now == log || Instant::now() > deadline {
                break;
            }
            log = now;
        }
        let count = |outcome: &str| log.lines().filter(|l| *l == outcome).count();
        (count("established"), count("failed"))
    }
}
