//! Real local package indexes for the tests and the demo: the Python tools in a virtual
//! environment under `target/`, and `pypiserver` and `devpi-server` on free 127.0.0.1 ports.
//!
//! On first use the environment is created from `tools-requirements.txt` (from PyPI, pinned);
//! later uses find it ready. Every server runs under a small `sh` guard that holds a pipe from
//! this process: when the handle is dropped, or this process ends in any way, the pipe closes
//! and the guard stops the server. So no server outlives its test, even a failed one.
//! Nothing here is used by a release itself.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const REQUIREMENTS: &str = include_str!("../tools-requirements.txt");

/// The build backends (and their dependencies) a local "production" index must serve so
/// that an sdist can be built in isolation there, as it would be from PyPI.
const BACKENDS: &[&str] = &[
    "flit-core==4.2.0",
    "hatchling==1.33.0",
    "setuptools==80.9.0",
    "setuptools-scm==10.3.4",
];

/// The virtual environment with the Python tools.
#[derive(Debug)]
pub struct Tools {
    pub venv: PathBuf,
}

impl Tools {
    pub fn bin(&self, name: &str) -> PathBuf {
        self.venv.join("bin").join(name)
    }

    pub fn python(&self) -> PathBuf {
        self.bin("python")
    }

    /// Wheels of the build backends and their dependencies, downloaded at install time.
    pub fn backend_wheels(&self) -> Result<Vec<PathBuf>> {
        let dir = self.venv.join("backend-wheels");
        let mut wheels: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read `{}`", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "whl"))
            .collect();
        wheels.sort();
        Ok(wheels)
    }
}

/// `target/` of the workspace this binary was built in (`CARGO_TARGET_DIR` wins).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == "target"))
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The tools, installed on first use. Safe to call from many tests and processes at once.
pub fn tools() -> Result<&'static Tools> {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    if let Some(tools) = TOOLS.get() {
        return Ok(tools);
    }
    let tools = install(&target_dir().join("twostage-tools"))?;
    Ok(TOOLS.get_or_init(|| tools))
}

fn install(dir: &Path) -> Result<Tools> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    // Test binaries run in parallel under nextest: one installs, the others wait.
    let lock = std::fs::File::create(dir.join(".lock"))?;
    lock.lock().context("cannot lock the tools folder")?;
    let tools = Tools {
        venv: dir.join("venv"),
    };
    let stamp = tools.venv.join(".twostage-requirements");
    let wanted = format!(
        "{REQUIREMENTS}\n# backend wheels\n{}\n",
        BACKENDS.join("\n")
    );
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(tools);
    }
    let python = std::env::var("TWOSTAGE_PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!(
        "  Installing the Python tools (pypiserver, devpi, uv, build, twine) into `{}`",
        tools.venv.display()
    );
    let started = Instant::now();
    run(Command::new(&python)
        .args(["-m", "venv", "--clear"])
        .arg(&tools.venv))
    .with_context(|| format!("cannot create a virtual environment with `{python}`"))?;
    let requirements = dir.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS)?;
    run(Command::new(tools.python())
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))
    .context("cannot install the Python tools from PyPI")?;
    run(Command::new(tools.python())
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary",
            ":all:",
            "--dest",
        ])
        .arg(tools.venv.join("backend-wheels"))
        .args(BACKENDS))
    .context("cannot download the build backends' wheels from PyPI")?;
    std::fs::write(&stamp, wanted)?;
    eprintln!(
        "   Installed the Python tools in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(tools)
}

fn run(command: &mut Command) -> Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}{}",
            command.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A free port on 127.0.0.1 (the OS picks it; the tiny race with another process taking it
/// before the server binds is accepted in tests).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A server process under a guard that stops it when the handle drops or this process ends.
#[derive(Debug)]
struct Guarded {
    guard: Child,
    log: PathBuf,
}

impl Guarded {
    fn spawn(program: &Path, args: &[String], log: &Path, env: &[(&str, &str)]) -> Result<Guarded> {
        let log_file = std::fs::File::create(log)?;
        // `read` returns when our end of the pipe closes: on drop, or when we exit or crash.
        let script = r#""$@" & pid=$!; read _ignored; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; exit 0"#;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg("guard")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        for (key, value) in env {
            command.env(key, value);
        }
        let guard = command
            .spawn()
            .with_context(|| format!("cannot start `{}`", program.display()))?;
        Ok(Guarded {
            guard,
            log: log.to_path_buf(),
        })
    }

    fn wait_until_up(&mut self, url: &str, what: &str) -> Result<()> {
        let agent = crate::index::agent();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.guard.try_wait()? {
                bail!("{what} exited ({status}): {}", self.log_tail());
            }
            if agent
                .get(url)
                .call()
                .is_ok_and(|r| r.status().as_u16() < 500)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "{what} did not answer at `{url}` within 60s: {}",
            self.log_tail()
        )
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.guard.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.guard.wait();
    }
}

/// A `pypiserver` with htpasswd authentication and no fallback to pypi.org: HTML pages only,
/// 409 on any re-upload (see reference/pypi-protocol.md §3.1).
#[derive(Debug)]
pub struct PypiServer {
    _server: Guarded,
    pub root_url: String,
    pub packages: PathBuf,
    pub username: String,
    pub password: String,
}

impl PypiServer {
    /// Starts a server over a fresh package folder inside `dir`.
    pub fn start(dir: &Path, username: &str, password: &str) -> Result<PypiServer> {
        let tools = tools()?;
        let packages = dir.join("packages");
        std::fs::create_dir_all(&packages)?;
        let htpasswd = dir.join("htpasswd");
        run(Command::new(tools.python())
            .args([
                "-c",
                "import sys; from passlib.apache import HtpasswdFile as H; \
                 h = H(sys.argv[1], new=True); h.set_password(sys.argv[2], sys.argv[3]); h.save()",
            ])
            .arg(&htpasswd)
            .args([username, password]))
        .context("cannot write the htpasswd file")?;
        let port = free_port()?;
        let args = vec![
            "run".to_string(),
            "--interface".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--authenticate".into(),
            "update".into(),
            "--passwords".into(),
            htpasswd.display().to_string(),
            "--disable-fallback".into(),
            packages.display().to_string(),
        ];
        let mut server = Guarded::spawn(
            &tools.bin("pypi-server"),
            &args,
            &dir.join("pypiserver.log"),
            &[],
        )?;
        let root_url = format!("http://127.0.0.1:{port}/");
        server.wait_until_up(&format!("{root_url}health"), "pypiserver")?;
        Ok(PypiServer {
            _server: server,
            root_url,
            packages,
            username: username.into(),
            password: password.into(),
        })
    }

    pub fn upload_url(&self) -> String {
        self.root_url.clone()
    }

    pub fn index_url(&self) -> String {
        format!("{}simple/", self.root_url)
    }
}

/// A `devpi-server` in offline mode with one user; each test makes its own non-volatile index
/// (PEP 691 JSON pages, 200 on an identical re-upload, 409 on other bytes).
#[derive(Debug)]
pub struct Devpi {
    _server: Guarded,
    pub url: String,
    pub username: String,
    pub password: String,
    clientdir: PathBuf,
}

/// One index on a devpi server.
#[derive(Debug, Clone)]
pub struct DevpiIndex {
    pub upload_url: String,
    pub index_url: String,
}

impl Devpi {
    pub fn start(dir: &Path, username: &str, password: &str) -> Result<Devpi> {
        let tools = tools()?;
        let serverdir = dir.join("server");
        let root_password = "root-password-for-tests";
        run(Command::new(tools.bin("devpi-init"))
            .arg("--serverdir")
            .arg(&serverdir)
            .args(["--no-root-pypi", "--root-passwd", root_password]))
        .context("cannot initialise devpi")?;
        let port = free_port()?;
        let args = vec![
            "--serverdir".to_string(),
            serverdir.display().to_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--offline-mode".into(),
        ];
        let mut server = Guarded::spawn(
            &tools.bin("devpi-server"),
            &args,
            &dir.join("devpi.log"),
            &[],
        )?;
        let url = format!("http://127.0.0.1:{port}");
        server.wait_until_up(&format!("{url}/+api"), "devpi-server")?;
        let devpi = Devpi {
            _server: server,
            url,
            username: username.into(),
            password: password.into(),
            clientdir: dir.join("client"),
        };
        devpi.client(&["use", &devpi.url])?;
        devpi.client(&["user", "-c", username, &format!("password={password}")])?;
        devpi.client(&["login", username, "--password", password])?;
        Ok(devpi)
    }

    fn client(&self, args: &[&str]) -> Result<String> {
        let tools = tools()?;
        run(Command::new(tools.bin("devpi"))
            .arg("--clientdir")
            .arg(&self.clientdir)
            .args(args))
        .with_context(|| format!("`devpi {}` failed", args.first().unwrap_or(&"")))
    }

    /// Creates a non-volatile index without bases (nothing is inherited from anywhere).
    pub fn create_index(&self, name: &str) -> Result<DevpiIndex> {
        let full = format!("{}/{name}", self.username);
        self.client(&["index", "-c", &full, "volatile=False", "bases="])?;
        Ok(DevpiIndex {
            upload_url: format!("{}/{full}/", self.url),
            index_url: format!("{}/{full}/+simple/", self.url),
        })
    }
}

/// Builds a wheel of the project at `dir` with the tools' backends (no download) into `out`.
pub fn build_wheel(dir: &Path, out: &Path) -> Result<PathBuf> {
    let tools = tools()?;
    run(Command::new(tools.python())
        .args(["-m", "build", "--no-isolation", "--wheel", "--outdir"])
        .arg(out)
        .arg(dir))
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
    run(Command::new(tools.bin("twine"))
        .args([
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            &index.upload_url,
            "-u",
            &devpi.username,
        ])
        .env("TWINE_PASSWORD", &devpi.password)
        .args(&files))
    .context("cannot seed the production index")?;
    Ok(())
}

/// The whole lifecycle's surroundings on this machine, for the demo and the benchmarks: a
/// staging devpi index, a production pypiserver that serves the build backends (as PyPI
/// would), and a scratch copy of a sample project with a bare `origin`. Everything lives
/// under `root`; the servers stop when the sandbox is dropped.
pub struct Sandbox {
    pub root: PathBuf,
    pub devpi: Devpi,
    pub staging: DevpiIndex,
    pub production: PypiServer,
    pub repo: PathBuf,
    pub origin: PathBuf,
    pub home: PathBuf,
}

/// The local indexes' password: a placeholder, not a secret.
pub const SANDBOX_TOKEN: &str = "local-sandbox-password";

impl Sandbox {
    pub fn create(root: &Path, example: &Path) -> Result<Sandbox> {
        let tools = tools()?;
        if root.exists() {
            std::fs::remove_dir_all(root)?;
        }
        std::fs::create_dir_all(root)?;
        let devpi = Devpi::start(&root.join("devpi"), "demo", SANDBOX_TOKEN)?;
        let staging = devpi.create_index("staging")?;
        let production = PypiServer::start(&root.join("pypiserver"), "__token__", SANDBOX_TOKEN)?;
        for wheel in tools.backend_wheels()? {
            let name = wheel.file_name().context("a wheel without a name")?;
            std::fs::copy(&wheel, production.packages.join(name))?;
        }
        let home = root.join("home");
        std::fs::create_dir_all(&home)?;
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = twostage demo\n\temail = demo@example.invalid\n[init]\n\tdefaultBranch = main\n",
        )?;
        let origin = root.join("origin.git");
        let repo = root.join("sample");
        copy_tree(example, &repo)?;
        let sandbox = Sandbox {
            root: root.to_path_buf(),
            devpi,
            staging,
            production,
            repo,
            origin,
            home,
        };
        sandbox.git(root, &["init", "--quiet", "--bare", "origin.git"])?;
        sandbox.git(&sandbox.repo, &["init", "--quiet", "-b", "main"])?;
        sandbox.git(&sandbox.repo, &["add", "-A"])?;
        sandbox.git(
            &sandbox.repo,
            &["commit", "--quiet", "-m", "Import the sample package"],
        )?;
        sandbox.git(
            &sandbox.repo,
            &[
                "remote",
                "add",
                "origin",
                &sandbox.origin.display().to_string(),
            ],
        )?;
        sandbox.git(
            &sandbox.repo,
            &["push", "--quiet", "--set-upstream", "origin", "main"],
        )?;
        Ok(sandbox)
    }

    /// The environment every command in the sandbox runs with: the local indexes, their
    /// passwords, an isolated HOME, an offline build with the tools' backends, and uv on PATH.
    pub fn env(&self) -> Result<Vec<(String, std::ffi::OsString)>> {
        let tools = tools()?;
        let uv_dir = tools.venv.join("uv-only");
        std::fs::create_dir_all(&uv_dir)?;
        if !uv_dir.join("uv").exists() {
            std::os::unix::fs::symlink(tools.bin("uv"), uv_dir.join("uv"))?;
        }
        let path = std::env::join_paths(std::iter::once(uv_dir).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))?;
        let build = format!(
            "'{}' -m build --no-isolation --outdir {{out}}",
            tools.python().display()
        );
        Ok([
            (
                "TWOSTAGE_STAGING_UPLOAD_URL",
                self.staging.upload_url.clone().into(),
            ),
            (
                "TWOSTAGE_STAGING_INDEX_URL",
                self.staging.index_url.clone().into(),
            ),
            (
                "TWOSTAGE_STAGING_USERNAME",
                self.devpi.username.clone().into(),
            ),
            (
                "TWOSTAGE_PRODUCTION_UPLOAD_URL",
                self.production.upload_url().into(),
            ),
            (
                "TWOSTAGE_PRODUCTION_INDEX_URL",
                self.production.index_url().into(),
            ),
            ("TWOSTAGE_BUILD_COMMAND", build.into()),
            ("TEST_PYPI_TOKEN", SANDBOX_TOKEN.into()),
            ("PYPI_TOKEN", SANDBOX_TOKEN.into()),
            ("HOME", self.home.clone().into_os_string()),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            ("PATH", path),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect())
    }

    fn git(&self, dir: &Path, args: &[&str]) -> Result<String> {
        run(Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1"))
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read `{}`", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// `examples/sample` of this workspace.
pub fn sample_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sample")
}

/// The version of `@octokit/openapi` (from the npm registry) whose `api.github.com`
/// description the GitHub stand-in checks requests against.
const OCTOKIT_OPENAPI: &str = "@octokit/openapi@23.0.2";

/// GitHub's dereferenced OpenAPI description, fetched with `npm pack` on first use.
pub fn github_openapi() -> Result<PathBuf> {
    let dir = target_dir().join("twostage-tools").join("openapi");
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
    let packed = run(Command::new("npm")
        .args(["pack", "--silent", OCTOKIT_OPENAPI])
        .current_dir(&dir))
    .context("cannot fetch GitHub's OpenAPI description with `npm pack` (is npm installed?)")?;
    let tarball = dir.join(packed.trim());
    run(Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .args(["-C"])
        .arg(&dir)
        .args([
            "--strip-components=2",
            "package/generated/api.github.com.deref.json",
        ]))?;
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

    /// The releases the stand-in holds, as JSON.
    pub fn state(&self) -> Result<serde_json::Value> {
        let mut response = crate::index::agent()
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
    let dir = target_dir().join("twostage-tools").join("mitm-venv");
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
    run(Command::new(&python)
        .args(["-m", "venv", "--clear"])
        .arg(&dir))?;
    run(Command::new(dir.join("bin/python")).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        MITMPROXY,
    ]))
    .context("cannot install mitmproxy from PyPI")?;
    std::fs::write(&stamp, MITMPROXY)?;
    Ok(bin)
}

/// A reverse proxy (mitmproxy) in front of a local index that injects the faults its control
/// file names (see `fault_proxy.py`).
#[derive(Debug)]
pub struct FaultProxy {
    _server: Guarded,
    pub url: String,
    pub control: PathBuf,
}

impl FaultProxy {
    pub fn start(dir: &Path, upstream: &str) -> Result<FaultProxy> {
        let mitmdump = mitmdump()?;
        std::fs::create_dir_all(dir)?;
        let script = dir.join("fault_proxy.py");
        std::fs::write(&script, include_str!("fault_proxy.py"))?;
        let control = dir.join("control.json");
        std::fs::write(&control, "{}")?;
        let port = free_port()?;
        let upstream = upstream.trim_end_matches('/');
        let args = vec![
            "--quiet".to_string(),
            "--mode".into(),
            format!("reverse:{upstream}"),
            "--listen-host".into(),
            "127.0.0.1".into(),
            "--listen-port".into(),
            port.to_string(),
            "--set".into(),
            format!("confdir={}", dir.join("conf").display()),
            "-s".into(),
            script.display().to_string(),
        ];
        let control_str = control.display().to_string();
        let mut server = Guarded::spawn(
            &mitmdump,
            &args,
            &dir.join("mitmdump.log"),
            &[("FAULT_PROXY_CONTROL", control_str.as_str())],
        )?;
        let url = format!("http://127.0.0.1:{port}/");
        server.wait_until_up(&url, "the fault proxy")?;
        Ok(FaultProxy {
            _server: server,
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

    /// What the proxy did, one line per injected fault and per upload request (`POST <file>`).
    pub fn events(&self) -> Vec<String> {
        std::fs::read_to_string(self.control.with_extension("json.events"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}
