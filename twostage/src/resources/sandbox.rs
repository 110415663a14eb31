//! The local-index sandbox that `demo` and `rehearse` (and the tests) share: the Python tools
//! in a virtual environment once per user (the platform's cache folder, or
//! `TWOSTAGE_TOOLS_DIR`), `pypiserver` and `devpi-server` on free
//! 127.0.0.1 ports, and a scratch repository with a bare `origin` (a copy of an example, or a
//! clone of a maintainer's own repository).
//!
//! On first use the environment is created from `tools-requirements.txt` (from PyPI, pinned);
//! later uses find it ready. Every server runs under a small `sh` guard that holds a pipe from
//! this process: when the handle is dropped, or this process ends in any way, the pipe closes
//! and the guard stops the server. So no server outlives its sandbox, even a failed one.
//! Nothing here is used by a release itself; test stand-ins live in the `twostage-testbed`
//! crate beside this one.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

const REQUIREMENTS: &str = include_str!("../../tools-requirements.txt");

/// The build backends (and their dependencies) a local "production" index must serve so
/// that an sdist can be built in isolation there, as it would be from PyPI. They are
/// downloaded for the tools' interpreter.
const BACKENDS: &[&str] = &[
    "flit-core==4.2.0",
    "hatchling==1.33.0",
    "hatch-vcs==0.5.0",
    "pdm-backend==2.5.0",
    "setuptools==80.9.0",
    "setuptools-scm==10.3.4",
    // Rust extensions (pyo3): the wheel of this platform, so a maturin sdist builds in
    // isolation against the local production index as it would against PyPI.
    "maturin==1.16.0",
];

/// What the older interpreters a verification also runs on need beside `BACKENDS`, downloaded
/// with their dependencies as Python 3.9 resolves them: hatchling 1.33 (and packaging 26)
/// require Python 3.10, so 3.9 builds with hatchling 1.27, the last for 3.9; hatchling and
/// setuptools-scm need `tomli` below 3.11 (`tomli; python_version < "3.11"`; 2.0.1 is pure
/// Python), and setuptools-scm 10 and vcs-versioning 2 need `typing-extensions>=4.1;
/// python_version < "3.11"` (their wheels' `Requires-Dist`; 4.16.0 is pure Python, 3.9+).
const BACKENDS_FOR_OLDER: &[&str] = &[
    "hatchling==1.27.0",
    "tomli==2.0.1",
    "typing_extensions==4.16.0",
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

pub use crate::resources::cache::TOOLS_DIR_ENV;

/// Where the managed tools live: `TWOSTAGE_TOOLS_DIR` when set (its `venv/` is checked
/// against the pins and reinstalled when they differ), else once per user in the platform's
/// cache folder, in a subfolder named after the pins it holds (`<cache>/twostage/tools-<hash>`,
/// see `cache::keyed`), so two twostage versions never replace each other's environment.
pub fn tools_dir() -> Result<PathBuf> {
    match crate::resources::cache::tools_dir_override() {
        Some(dir) => Ok(dir),
        None => crate::resources::cache::keyed("tools", &wanted_stamp()),
    }
}

/// Everything the tools environment is made of, as written into its stamp.
fn wanted_stamp() -> String {
    format!(
        "{REQUIREMENTS}\n# backend wheels\n{}\n# for Python 3.9, with dependencies\n{}\n",
        BACKENDS.join("\n"),
        BACKENDS_FOR_OLDER.join("\n")
    )
}

/// The tools, installed on first use. Safe to call from many tests and processes at once,
/// and from rehearsals of several repositories at once (a file lock in the folder).
pub fn tools() -> Result<&'static Tools> {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    if let Some(tools) = TOOLS.get() {
        return Ok(tools);
    }
    let tools = install(&tools_dir()?)?;
    Ok(TOOLS.get_or_init(|| tools))
}

fn install(dir: &Path) -> Result<Tools> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    // Test binaries run in parallel under nextest: one installs, the others wait.
    let lock = std::fs::File::create(dir.join(".lock"))
        .with_context(|| format!("cannot write `{}`", dir.join(".lock").display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock `{}`", dir.display()))?;
    let tools = Tools {
        venv: dir.join("venv"),
    };
    let stamp = tools.venv.join(".twostage-requirements");
    let wanted = wanted_stamp();
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(tools);
    }
    let python = std::env::var("TWOSTAGE_PYTHON").unwrap_or_else(|_| "python3".into());
    let once = if crate::resources::cache::tools_dir_override().is_some() {
        format!("once (`{TOOLS_DIR_ENV}`)")
    } else {
        "once per user".to_string()
    };
    eprintln!(
        "  Installing the Python tools (pypiserver, devpi, uv, build, twine) into `{}`, {once}",
        tools.venv.display()
    );
    let started = Instant::now();
    let sh = Shell::new()?;
    let (venv, tools_python) = (&tools.venv, tools.python());
    run(&mut cmd!(sh, "{python} -m venv --clear {venv}").into())
        .with_context(|| format!("cannot create a virtual environment with `{python}`"))?;
    let requirements = dir.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS)?;
    let quiet = ["--quiet", "--disable-pip-version-check"];
    run(&mut cmd!(
        sh,
        "{tools_python} -m pip install {quiet...} -r {requirements}"
    )
    .into())
    .context("cannot install the Python tools from PyPI")?;
    let wheels = tools.venv.join("backend-wheels");
    run(&mut cmd!(sh, "{tools_python} -m pip download {quiet...} --only-binary :all: --dest {wheels} {BACKENDS...}").into())
    .context("cannot download the build backends' wheels from PyPI")?;
    run(&mut cmd!(sh, "{tools_python} -m pip download {quiet...} --only-binary :all: --python-version 3.9 --dest {wheels} {BACKENDS_FOR_OLDER...}").into())
    .context("cannot download the build backends' wheels for Python 3.9 from PyPI")?;
    std::fs::write(&stamp, wanted)?;
    eprintln!(
        "   Installed the Python tools in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(tools)
}

pub fn run(command: &mut Command) -> Result<String> {
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
pub struct Guarded {
    guard: Child,
    log: PathBuf,
}

impl Guarded {
    pub fn spawn(
        program: &Path,
        args: &[String],
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<Guarded> {
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

    pub fn wait_until_up(&mut self, url: &str, what: &str) -> Result<()> {
        let agent = crate::resources::index::agent();
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
/// 409 on any re-upload (without `--overwrite`: https://github.com/pypiserver/pypiserver#uploading-packages).
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
        Self::start_workers(dir, username, password, 1)
    }

    /// `start`, served by `workers` processes when more than one: pypiserver's WSGI app under
    /// gunicorn's pre-forked workers (https://docs.gunicorn.org/en/stable/design.html), so
    /// that uploads arriving together are stored side by side, as PyPI stores them, instead of
    /// one after another under one interpreter's lock (pypiserver parses each multipart body
    /// in Python: about 25 ms of CPU for a 3 MB wheel). `cargo xtask bench`'s set upload runs
    /// its index so.
    pub fn start_workers(
        dir: &Path,
        username: &str,
        password: &str,
        workers: usize,
    ) -> Result<PypiServer> {
        let tools = tools()?;
        let packages = dir.join("packages");
        std::fs::create_dir_all(&packages)?;
        let htpasswd = dir.join("htpasswd");
        let (sh, python) = (Shell::new()?, tools.python());
        let script = "import sys; from passlib.apache import HtpasswdFile as H; \
                      h = H(sys.argv[1], new=True); h.set_password(sys.argv[2], sys.argv[3]); h.save()";
        run(&mut cmd!(sh, "{python} -c {script} {htpasswd} {username} {password}").into())
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
        let mut server = if workers > 1 {
            // The app's settings reach the workers through the environment (no quoting of
            // paths into a Python expression): `pypiserver.app` takes `run`'s settings.
            let module = dir.join("pypiserver_workers.py");
            std::fs::write(
                &module,
                "import os, pypiserver\n\
                 app = pypiserver.app(root=os.environ['TWOSTAGE_PYPISERVER_ROOT'], \
                 password_file=os.environ['TWOSTAGE_PYPISERVER_PASSWORDS'], \
                 authenticate=['update'], disable_fallback=True)\n",
            )?;
            let args = vec![
                "--chdir".to_string(),
                dir.display().to_string(),
                "--workers".into(),
                workers.to_string(),
                "--bind".into(),
                format!("127.0.0.1:{port}"),
                "pypiserver_workers:app".into(),
            ];
            let (root, passwords) = (
                packages.display().to_string(),
                htpasswd.display().to_string(),
            );
            let env = [
                ("TWOSTAGE_PYPISERVER_ROOT", root.as_str()),
                ("TWOSTAGE_PYPISERVER_PASSWORDS", passwords.as_str()),
            ];
            Guarded::spawn(
                &tools.bin("gunicorn"),
                &args,
                &dir.join("pypiserver.log"),
                &env,
            )?
        } else {
            Guarded::spawn(
                &tools.bin("pypi-server"),
                &args,
                &dir.join("pypiserver.log"),
                &[],
            )?
        };
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

/// A `devpi-server` (offline, or mirroring PyPI) with one user; each test makes its own non-volatile index
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
    /// An offline server: nothing is ever fetched from pypi.org.
    pub fn start(dir: &Path, username: &str, password: &str) -> Result<Devpi> {
        Devpi::launch(dir, username, password, false)
    }

    /// A server that may fetch from the network, for mirror indexes (`create_mirror`).
    pub fn start_online(dir: &Path, username: &str, password: &str) -> Result<Devpi> {
        Devpi::launch(dir, username, password, true)
    }

    fn launch(dir: &Path, username: &str, password: &str, online: bool) -> Result<Devpi> {
        let tools = tools()?;
        let serverdir = dir.join("server");
        let root_password = "root-password-for-tests";
        let (sh, devpi_init) = (Shell::new()?, tools.bin("devpi-init"));
        run(&mut cmd!(
            sh,
            "{devpi_init} --serverdir {serverdir} --no-root-pypi --root-passwd {root_password}"
        )
        .into())
        .context("cannot initialise devpi")?;
        let port = free_port()?;
        let mut args = vec![
            "--serverdir".to_string(),
            serverdir.display().to_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
        ];
        if !online {
            args.push("--offline-mode".into());
        }
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

    /// The last lines of the server's log, for an error.
    pub fn log_tail(&self) -> String {
        self._server.log_tail()
    }

    fn client(&self, args: &[&str]) -> Result<String> {
        let tools = tools()?;
        let (sh, devpi, clientdir) = (Shell::new()?, tools.bin("devpi"), &self.clientdir);
        run(&mut cmd!(sh, "{devpi} --clientdir {clientdir} {args...}").into())
            .with_context(|| format!("`devpi {}` failed", args.first().unwrap_or(&"")))
    }

    /// Creates a non-volatile index without bases (nothing is inherited from anywhere).
    pub fn create_index(&self, name: &str) -> Result<DevpiIndex> {
        self.create_index_with_bases(name, "")
    }

    /// Creates a mirror index of `url` (a PEP 503 root such as https://pypi.org/simple/). It
    /// fetches each project's page on demand and never the whole project list (that list
    /// alone costs devpi half a minute on a busy machine); the server must run online.
    pub fn create_mirror(&self, name: &str, url: &str) -> Result<String> {
        let full = format!("{}/{name}", self.username);
        self.client(&[
            "index",
            "-c",
            &full,
            "type=mirror",
            &format!("mirror_url={url}"),
            "mirror_no_project_list=True",
        ])?;
        Ok(full)
    }

    /// Creates a non-volatile index that also serves what `bases` (e.g. a mirror) serve.
    pub fn create_index_with_bases(&self, name: &str, bases: &str) -> Result<DevpiIndex> {
        let full = format!("{}/{name}", self.username);
        self.client(&[
            "index",
            "-c",
            &full,
            "volatile=False",
            &format!("bases={bases}"),
        ])?;
        Ok(DevpiIndex {
            upload_url: format!("{}/{full}/", self.url),
            index_url: format!("{}/{full}/+simple/", self.url),
        })
    }
}

/// Where the sandbox's production index gets the projects PyPI would serve (build backends,
/// dependencies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// A `pypiserver` seeded with the tools' backend wheels: no network needed.
    Seed,
    /// A devpi index whose base is a devpi mirror of the real PyPI.
    MirrorPypi,
}

/// The production index of a sandbox.
#[derive(Debug)]
pub enum Production {
    Seeded(PypiServer),
    Mirror { index: DevpiIndex, username: String },
}

impl Production {
    pub fn upload_url(&self) -> String {
        match self {
            Production::Seeded(server) => server.upload_url(),
            Production::Mirror { index, .. } => index.upload_url.clone(),
        }
    }

    pub fn index_url(&self) -> String {
        match self {
            Production::Seeded(server) => server.index_url(),
            Production::Mirror { index, .. } => index.index_url.clone(),
        }
    }

    pub fn username(&self) -> &str {
        match self {
            Production::Seeded(server) => &server.username,
            Production::Mirror { username, .. } => username,
        }
    }

    pub fn upstream(&self) -> Upstream {
        match self {
            Production::Seeded(_) => Upstream::Seed,
            Production::Mirror { .. } => Upstream::MirrorPypi,
        }
    }
}

/// The whole lifecycle's surroundings on this machine, for the demo, `rehearse` and the
/// benchmarks: a staging devpi index, a production index that serves the build backends (as
/// PyPI would), and a scratch repository with a bare `origin`. Everything lives under
/// `root`; the servers stop when the sandbox is dropped.
pub struct Sandbox {
    pub root: PathBuf,
    pub devpi: Devpi,
    pub staging: DevpiIndex,
    pub production: Production,
    pub repo: PathBuf,
    pub origin: PathBuf,
    pub home: PathBuf,
}

/// What a mirroring production index mirrors.
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple/";

/// The local indexes' password: a placeholder, not a secret.
pub const SANDBOX_TOKEN: &str = "local-sandbox-password";

/// Variables that would make git act on another repository or read another configuration
/// than the sandbox's.
pub const GIT_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_PREFIX",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_CONFIG",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_NAMESPACE",
];

impl Sandbox {
    /// A sandbox around a copy of `example`, committed on `main` in a fresh repository.
    pub fn create(root: &Path, example: &Path) -> Result<Sandbox> {
        let mut sandbox = Sandbox::start(root, Upstream::Seed, "sample")?;
        copy_tree(example, &sandbox.repo)?;
        let root = sandbox.root.clone();
        sandbox.git(&root, &["init", "--quiet", "--bare", "origin.git"])?;
        sandbox.git(&sandbox.repo, &["init", "--quiet", "-b", "main"])?;
        sandbox.git(&sandbox.repo, &["add", "-A"])?;
        sandbox.git(
            &sandbox.repo,
            &["commit", "--quiet", "-m", "Import the sample package"],
        )?;
        let origin = sandbox.origin.display().to_string();
        sandbox.git(&sandbox.repo, &["remote", "add", "origin", &origin])?;
        sandbox.git(
            &sandbox.repo,
            &["push", "--quiet", "--set-upstream", "origin", "main"],
        )?;
        sandbox.repo = sandbox.repo.canonicalize()?;
        Ok(sandbox)
    }

    /// A sandbox around a clone of the existing repository `source` at its commit `commit`:
    /// `origin.git` is a bare copy of `source` (every branch and tag, no notes), and the
    /// working clone has `branch` at `commit`, tracking `remote`/`branch`. `source` is only
    /// read (`git clone --no-local` runs `git upload-pack` there, which writes nothing).
    pub fn clone_repository(
        root: &Path,
        upstream: Upstream,
        source: &Path,
        commit: &str,
        remote: &str,
        branch: &str,
    ) -> Result<Sandbox> {
        let name = source
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && *n != "origin.git")
            .unwrap_or("project")
            .to_string();
        let sandbox = Sandbox::start(root, upstream, &name)?;
        let origin = sandbox.origin.display().to_string();
        sandbox
            .git(
                &sandbox.root,
                &[
                    "clone",
                    "--quiet",
                    "--bare",
                    "--no-local",
                    "--",
                    &source.display().to_string(),
                    &origin,
                ],
            )
            .with_context(|| format!("cannot clone `{}`", source.display()))?;
        // The rehearsed commit becomes the release branch's tip on the scratch origin, whatever
        // branch it is on in the maintainer's repository.
        sandbox.git(
            &sandbox.origin,
            &["update-ref", &format!("refs/heads/{branch}"), commit],
        )?;
        let repo = sandbox.repo.display().to_string();
        sandbox.git(
            &sandbox.root,
            &[
                "clone", "--quiet", "--origin", remote, "--branch", branch, "--", &origin, &repo,
            ],
        )?;
        Ok(sandbox)
    }

    /// The servers, the isolated HOME and the paths; no repository yet.
    fn start(root: &Path, upstream: Upstream, repo_name: &str) -> Result<Sandbox> {
        let tools = tools()?;
        if root.exists() {
            std::fs::remove_dir_all(root)
                .with_context(|| format!("cannot remove `{}`", root.display()))?;
        }
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create `{}`", root.display()))?;
        let root = root.canonicalize()?;
        let (devpi, production) = match upstream {
            Upstream::Seed => {
                let devpi = Devpi::start(&root.join("devpi"), "demo", SANDBOX_TOKEN)?;
                let production =
                    PypiServer::start(&root.join("pypiserver"), "__token__", SANDBOX_TOKEN)?;
                for wheel in tools.backend_wheels()? {
                    let name = wheel.file_name().context("a wheel without a name")?;
                    std::fs::copy(&wheel, production.packages.join(name))?;
                }
                (devpi, Production::Seeded(production))
            }
            Upstream::MirrorPypi => {
                let devpi = Devpi::start_online(&root.join("devpi"), "demo", SANDBOX_TOKEN)?;
                let mirror = devpi.create_mirror("pypi", PYPI_SIMPLE)?;
                let index = devpi.create_index_with_bases("production", &mirror)?;
                let username = devpi.username.clone();
                (devpi, Production::Mirror { index, username })
            }
        };
        let staging = devpi.create_index("staging")?;
        let home = root.join("home");
        std::fs::create_dir_all(&home)?;
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = twostage sandbox\n\temail = sandbox@example.invalid\n[init]\n\tdefaultBranch = main\n",
        )?;
        Ok(Sandbox {
            origin: root.join("origin.git"),
            repo: root.join(repo_name),
            root,
            devpi,
            staging,
            production,
            home,
        })
    }

    /// Whether production's mirror of PyPI works: devpi is asked for a PyPI project it must
    /// fetch upstream (with the certificates its own environment names, as pip would).
    /// `packaging` is small to mirror, and most build backends need it anyway.
    pub fn check_mirror(&self) -> Result<()> {
        if self.production.upstream() != Upstream::MirrorPypi {
            return Ok(());
        }
        let url = format!(
            "{}/{}/pypi/+simple/packaging/",
            self.devpi.url, self.devpi.username
        );
        let mut response = crate::resources::index::agent()
            .get(&url)
            .header("Accept", "text/html")
            .call()
            .with_context(|| format!("cannot read `{url}`"))?;
        let status = response.status();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        if !status.is_success() || !body.contains("packaging-") {
            bail!(
                "devpi's mirror of PyPI answered HTTP {status} for `{url}`: {}",
                self.devpi.log_tail()
            );
        }
        Ok(())
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
            (
                "TWOSTAGE_PRODUCTION_USERNAME",
                self.production.username().into(),
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

    /// Runs `git` in `dir` with the sandbox's HOME and no system or inherited configuration.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Result<String> {
        let sh = crate::resources::git::shell_in(dir)?;
        let mut git = cmd!(sh, "git {args...}")
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0");
        for name in GIT_ENV {
            git = git.env_remove(name);
        }
        run(&mut git.into())
    }
}

pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
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
