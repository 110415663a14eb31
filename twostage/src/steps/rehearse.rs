//! `rehearse`: the whole lifecycle of the maintainer's own project against local staging and
//! production indexes, before anything touches TestPyPI, PyPI or the repository. The
//! committed state (HEAD) is cloned into a scratch folder under the system's temporary folder
//! (outside every Cargo workspace) with a scratch bare
//! origin; there, as a maintainer would, it runs `hooks install`, `release <LEVEL>`,
//! `git push --follow-tags` (the clone's pre-push hook stages and verifies), `promote
//! --no-github` and `status`, each timed, and ends with what production serves.
//!
//! The maintainer's repository is only read (git2 questions and `git clone --no-local`):
//! no file, ref, tag, note, hook or configuration there changes. The children get the
//! sandbox's indexes and placeholder passwords through the `TWOSTAGE_*` overrides and never
//! the maintainer's tokens. Production mirrors the real PyPI through devpi when PyPI is
//! reachable, else serves a local seed of build backends. This module does not release
//! anything itself; it drives the running binary like a maintainer.

use std::collections::HashSet;
use std::ffi::OsString;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::output::{self, Steps};
use crate::resolved;
use crate::resources::evidence::Note;
use crate::resources::git::{self, Repo};
use crate::resources::index;
use crate::resources::readme;
use crate::resources::repair;
use crate::resources::sandbox::{self, Sandbox, Upstream};

pub struct Options {
    /// The bump level or version, as `release` takes it.
    pub level: String,
    pub keep: bool,
    /// Seed production locally instead of mirroring PyPI (also `TWOSTAGE_REHEARSE_OFFLINE=1`).
    pub offline: bool,
}

/// Forces the local seed instead of the PyPI mirror, as `--offline` does.
pub const OFFLINE_ENV: &str = "TWOSTAGE_REHEARSE_OFFLINE";

/// Credentials the children must never see, whatever the configuration names.
const SECRET_NAMES: &[&str] = &[
    "TEST_PYPI_TOKEN",
    "PYPI_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "TWINE_USERNAME",
    "TWINE_PASSWORD",
    "UV_PUBLISH_TOKEN",
    "UV_PUBLISH_PASSWORD",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
];

/// The maintainer's `TWOSTAGE_*` variables the children keep (by prefix): the interpreter, the
/// tools folder, and the `[build]` and `[verify]` settings, none of which names an index or a
/// credential.
const KEPT_OVERRIDES: &[&str] = &[
    "TWOSTAGE_PYTHON",
    "TWOSTAGE_TOOLS_DIR",
    "TWOSTAGE_BUILD_",
    "TWOSTAGE_VERIFY_",
];

/// Variables that would send the children's builds or installs to other indexes than the
/// sandbox's (git's own are in `sandbox::GIT_ENV`).
const INDEX_REDIRECTING_NAMES: &[&str] = &[
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_CONFIG_FILE",
];

pub fn run(repo_dir: &Path, options: &Options) -> Result<()> {
    let started = Instant::now();
    let exe = std::env::current_exe().context("cannot find the running twostage binary")?;
    let user = Maintainer::read(repo_dir)?;
    check_tools(&user)?;
    let upstream = choose_upstream(options.offline);
    let root = scratch_root(&user.root);
    // Declared before the sandbox, so it is dropped after the servers have stopped.
    let _scratch = Scratch {
        root: root.clone(),
        keep: options.keep,
    };
    let mut steps = Steps::new("the rehearsal");
    let tools_dir = sandbox::tools_dir()?;
    steps.run(
        &format!(
            "set up the local indexes' Python tools (once per user, in `{}`)",
            tools_dir.display()
        ),
        || sandbox::tools().map(|_| ()),
    )?;
    // The README renderer `release` uses, installed here with your package index: the
    // children's pip is pointed at the sandbox's production.
    if let Err(e) = readme::renderer() {
        output::note(format!("cannot install the README renderer: {e:#}"));
    }
    let initial_branch = user.branch.clone().unwrap_or_else(|| "main".into());
    let sandbox = steps.run(
        "start staging and production on 127.0.0.1, clone the repository",
        || start_sandbox(&root, upstream, &user, &initial_branch),
    )?;
    say_where(&sandbox);
    let config = adopt_clone(&sandbox, &initial_branch)?;
    if config.git.sign {
        output::note("tags are not signed in the rehearsal: the scratch clone has no keys");
    }
    let runner = Runner {
        exe: &exe,
        dir: &sandbox.repo,
        env: child_env(&sandbox, &exe, [user.config.as_ref(), Some(&config)])?,
    };
    let (clone, tag) = release_flow(&mut steps, &runner, &sandbox, &config, &options.level)?;
    eprintln!();
    show_production(&sandbox, &clone, &config, &tag)?;
    steps.print(started);
    output::status(
        "Rehearsed",
        format!(
            "{tag} went through staging, verification and promotion; `{}` was only read",
            user.root.display()
        ),
    );
    Ok(())
}

/// The maintainer's repository, as far as the rehearsal reads it.
struct Maintainer {
    /// The work tree, without the trailing slash git2 gives it.
    root: PathBuf,
    head: git2::Oid,
    branch: Option<String>,
    /// Its `release.toml`, whose token names are withheld too; `None` when it has none (the
    /// rehearsal then uses the defaults).
    config: Option<Config>,
}

impl Maintainer {
    /// Reads the repository around `dir` and says what is rehearsed, warning of uncommitted
    /// changes, which are not.
    fn read(dir: &Path) -> Result<Maintainer> {
        let repo = Repo::discover(dir)?;
        let head = repo.head_commit().map_err(|_| {
            crate::error::UsageError(format!(
                "`{}` has no commit yet: commit your project, then rehearse",
                repo.root().display()
            ))
        })?;
        // git2 ends a work tree's path with a slash; shown and cloned without it.
        let root: PathBuf = repo.root().components().collect();
        let head_short = &head.to_string()[..12];
        let branch = repo.current_branch();
        output::status(
            "Rehearsing",
            format!(
                "`{}` at {head_short}{} on local indexes; the repository, its remote and the real \
                 indexes stay untouched",
                root.display(),
                branch
                    .as_deref()
                    .map(|b| format!(" (`{b}`)"))
                    .unwrap_or_default()
            ),
        );
        let dirty = repo.changed_files()?;
        if !dirty.is_empty() {
            output::warn(format!(
                "{} uncommitted {} ({}) {} not part of the rehearsal: it releases the committed \
                 state, {head_short}",
                dirty.len(),
                plural(dirty.len(), "change", "changes"),
                dirty
                    .iter()
                    .take(5)
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                plural(dirty.len(), "is", "are"),
            ));
        }
        Ok(Maintainer {
            config: Config::load(repo.root()).ok(),
            root,
            head,
            branch,
        })
    }
}

/// Refuses, before anything starts, when `release` would refuse for a missing program (the
/// same check, the same words), and says which build command and installer the rehearsal's
/// `release` and `stage` will use: this machine's, from PATH, as the real ones will.
fn check_tools(user: &Maintainer) -> Result<()> {
    let defaults;
    let config = match &user.config {
        Some(config) => config,
        None => {
            defaults = Config::parse("", "release.toml", std::env::vars())?;
            &defaults
        }
    };
    let problems = crate::core::tools::missing(config);
    if !problems.is_empty() {
        bail!(
            "cannot rehearse: `release` would refuse on this machine, nothing was started:\n  - {}",
            problems.join("\n  - ")
        );
    }
    output::status(
        "Tools",
        format!(
            "{} (PATH and configuration as `release` and `stage` use them here)",
            crate::core::tools::describe(config)
        ),
    );
    output::note(
        "what differs from the real release: the hooks run this binary (`TWOSTAGE_BIN`), not \
         `cargo xtask hook`; the indexes, the passwords and HOME (so the uv and pip caches) are \
         the sandbox's",
    );
    Ok(())
}

/// Where every rehearsal keeps its scratch folder: the system's temporary folder (`TMPDIR`),
/// outside every Cargo workspace. Under the adopted repository's `target/` (or `xtask/target/`)
/// the clone sat inside a workspace, and cargo refuses to build a crate found there that the
/// workspace does not list ("current package believes it's in a workspace when it's not"),
/// so a Rust extension could not be built in the rehearsal.
/// https://doc.rust-lang.org/cargo/reference/workspaces.html#the-workspace-section
pub fn scratch_parent() -> PathBuf {
    std::env::temp_dir().join("twostage-rehearse")
}

/// This rehearsal's scratch folder, `<scratch_parent>/<name>-<pid>`, with the stale ones of
/// earlier rehearsals removed.
fn scratch_root(user_root: &Path) -> PathBuf {
    let name = user_root
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("project")
        .to_string();
    let scratches = scratch_parent();
    remove_stale(&scratches);
    scratches.join(format!("{name}-{}", std::process::id()))
}

/// Starts the indexes and clones the maintainer's HEAD; when the PyPI mirror does not work,
/// production serves the local seed instead.
fn start_sandbox(
    root: &Path,
    upstream: Upstream,
    user: &Maintainer,
    initial_branch: &str,
) -> Result<Sandbox> {
    let make = |upstream| {
        Sandbox::clone_repository(
            root,
            upstream,
            &user.root,
            &user.head.to_string(),
            "origin",
            initial_branch,
        )
    };
    let sandbox = make(upstream)?;
    match sandbox.check_mirror() {
        Ok(()) => Ok(sandbox),
        Err(e) => {
            seed_instead(&format!("{e:#}"));
            drop(sandbox);
            make(Upstream::Seed)
        }
    }
}

/// Says where staging, production and the scratch clone are.
fn say_where(sandbox: &Sandbox) {
    output::status(
        "Staging",
        format!("`{}` (devpi)", sandbox.staging.index_url),
    );
    output::status(
        "Production",
        format!(
            "`{}` ({})",
            sandbox.production.index_url(),
            match sandbox.production.upstream() {
                Upstream::Seed =>
                    "pypiserver with a local seed of build backends: only what the seed holds installs",
                Upstream::MirrorPypi => "devpi, mirroring https://pypi.org/simple/",
            }
        ),
    );
    output::status(
        "Scratch",
        format!(
            "`{}` (origin `{}`)",
            sandbox.repo.display(),
            sandbox.origin.display()
        ),
    );
}

/// Runs commands in the clone with the children's environment only, as a maintainer would.
struct Runner<'a> {
    exe: &'a Path,
    dir: &'a Path,
    env: Vec<(OsString, OsString)>,
}

impl Runner<'_> {
    /// This very binary, shown as `cargo xtask`.
    fn xtask(&self, args: &[&str]) -> Result<()> {
        let line = format!("cargo xtask {}", args.join(" "));
        output::status("Running", format!("`{line}`"));
        // std's Command, not xshell: the environment is cleared and replaced whole, and the
        // line is shown as the maintainer types it (`cargo xtask …`), not as the binary's path.
        let status = Command::new(self.exe)
            .args(args)
            .current_dir(self.dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .status()
            .with_context(|| format!("cannot run `{}`", self.exe.display()))?;
        Self::check(&line, status)
    }

    /// `git push --follow-tags <remote> <branch>`.
    fn push(&self, remote: &str, branch: &str) -> Result<()> {
        let line = format!("git push --follow-tags {remote} {branch}");
        output::status("Running", format!("`{line}`"));
        let follow_tags = git::Push {
            follow_tags: true,
            ..git::Push::default()
        };
        let status = git::push_with_env(self.dir, &self.env, remote, &[branch], &follow_tags)?;
        Self::check(&line, status)
    }

    fn check(line: &str, status: std::process::ExitStatus) -> Result<()> {
        if !status.success() {
            bail!("`{line}` failed ({status})");
        }
        Ok(())
    }
}

/// What a maintainer runs, each a timed step: `hooks install`, `release`, the push (whose
/// pre-push hook stages and verifies), `promote` and `status`. Returns the clone and the tag.
fn release_flow(
    steps: &mut Steps,
    runner: &Runner,
    sandbox: &Sandbox,
    config: &Config,
    level: &str,
) -> Result<(Repo, String)> {
    let (remote, branch) = (&config.git.remote, &config.git.branch);
    steps.run("cargo xtask hooks install (in the clone)", || {
        runner.xtask(&["hooks", "install"])
    })?;
    steps.run(
        &format!("cargo xtask release {level} (bump, changelog, commit, tag; post-tag builds)"),
        || runner.xtask(&["release", level]),
    )?;
    let clone = Repo::discover(&sandbox.repo)?;
    let tag = release_tag(&clone, config)?;
    steps.run(
        &format!("git push --follow-tags {remote} {branch} (pre-push stages and verifies)"),
        || runner.push(remote, branch),
    )?;
    steps.run(&format!("cargo xtask promote {tag} --no-github"), || {
        runner.xtask(&["promote", &tag, "--no-github"])
    })?;
    steps.run("cargo xtask status", || runner.xtask(&["status"]))?;
    Ok((clone, tag))
}

/// The PyPI mirror when PyPI answers, else the local seed, saying which and why.
fn choose_upstream(offline: bool) -> Upstream {
    let forced = std::env::var(OFFLINE_ENV).is_ok_and(|v| matches!(v.trim(), "1" | "true"));
    if offline || forced {
        output::note(format!(
            "production serves a local seed of build backends (`--offline`{})",
            if forced {
                format!(" through `{OFFLINE_ENV}`")
            } else {
                String::new()
            }
        ));
        return Upstream::Seed;
    }
    // A quick look first, so an offline machine does not wait for devpi to find out; whether
    // the mirror really works (certificates included) is asked of devpi once it runs.
    let reachable = ("pypi.org", 443)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .map(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)));
    match reachable {
        Some(Ok(_)) => Upstream::MirrorPypi,
        Some(Err(e)) => {
            seed_instead(&format!("cannot connect to `pypi.org:443`: {e}"));
            Upstream::Seed
        }
        None => {
            seed_instead("cannot resolve `pypi.org`");
            Upstream::Seed
        }
    }
}

fn seed_instead(why: &str) {
    output::warn(format!(
        "PyPI is not reachable ({why}): production serves a local seed of build backends \
         instead, so dependencies beyond them will not install"
    ));
}

/// Makes the clone release the way the maintainer's configuration says: the remote's name,
/// the release branch at the rehearsed commit, and the defaults when no `release.toml` is
/// committed (written untracked, so the clone's tree stays clean).
fn adopt_clone(sandbox: &Sandbox, initial_branch: &str) -> Result<Config> {
    let config_path = sandbox.repo.join("release.toml");
    // A `[tool.twostage]` in `pyproject.toml` is the configuration too: no file beside it.
    if !config_path.exists() && !crate::config::pyproject_has_table(&sandbox.repo) {
        std::fs::write(
            &config_path,
            "# Written by `cargo xtask rehearse`: no release.toml is committed, so the defaults apply.\n",
        )?;
        output::note(
            "no `release.toml` is committed: the rehearsal uses the defaults (`cargo xtask init` writes one)",
        );
    }
    let config = Config::load(&sandbox.repo)?;
    if config.git.remote != "origin" {
        sandbox.git(
            &sandbox.repo,
            &["remote", "rename", "origin", &config.git.remote],
        )?;
    }
    let branch = &config.git.branch;
    if branch != initial_branch {
        output::note(format!(
            "the rehearsed commit is on `{initial_branch}`: the clone releases it as the release branch `{branch}`"
        ));
        sandbox.git(&sandbox.repo, &["checkout", "--quiet", "-B", branch])?;
        sandbox.git(
            &sandbox.repo,
            &[
                "push",
                "--quiet",
                "--force",
                "--no-verify",
                "--set-upstream",
                &config.git.remote,
                branch,
            ],
        )?;
    }
    Ok(config)
}

/// The environment of every command the rehearsal runs: the maintainer's environment without
/// credentials or redirections, plus the sandbox's indexes, placeholder passwords and HOME,
/// and this binary for the hooks.
fn child_env<'a>(
    sandbox: &Sandbox,
    exe: &Path,
    configs: impl IntoIterator<Item = Option<&'a Config>>,
) -> Result<Vec<(OsString, OsString)>> {
    let mut secret_names: HashSet<String> = SECRET_NAMES.iter().map(|s| s.to_string()).collect();
    for config in configs.into_iter().flatten() {
        secret_names.extend(config.token_env_names());
    }
    let mut env = inherited(std::env::vars_os().collect(), &secret_names);
    let production = sandbox.production.index_url();
    let overrides: Vec<(String, OsString)> = sandbox
        .env()?
        .into_iter()
        // The project's own build command runs, isolated, with backends from production, and
        // the maintainer's PATH stays: the sandbox's uv would build and install where the
        // real release finds no uv (the managed tools serve only the local indexes).
        .filter(|(k, _)| k != "TWOSTAGE_BUILD_COMMAND" && k != "PATH")
        .chain(
            [
                ("TWOSTAGE_BIN", exe.as_os_str().to_owned()),
                // The children's HOME, so their cache folder, is the sandbox's.
                (readme::README_DIR_ENV, readme::dir()?.into_os_string()),
                (repair::REPAIR_DIR_ENV, repair::dir()?.into_os_string()),
                ("TWOSTAGE_STAGING_TOKEN_ENV", "TEST_PYPI_TOKEN".into()),
                ("TWOSTAGE_PRODUCTION_TOKEN_ENV", "PYPI_TOKEN".into()),
                ("TWOSTAGE_STAGING_TRUSTED_PUBLISHING", "never".into()),
                ("TWOSTAGE_PRODUCTION_TRUSTED_PUBLISHING", "never".into()),
                ("TWOSTAGE_GIT_SIGN", "false".into()),
                ("UV_INDEX_URL", production.clone().into()),
                ("PIP_INDEX_URL", production.into()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        )
        .collect();
    for (key, value) in overrides {
        env.retain(|(k, _)| k.to_str() != Some(key.as_str()));
        env.push((key.into(), value));
    }
    Ok(env)
}

/// The maintainer's variables the children may keep: no credential (by name, or by value
/// equal to one), no `TWOSTAGE_*` override but `KEPT_OVERRIDES`, nothing that redirects git
/// or the installers, nothing cargo set for this run.
fn inherited(
    vars: Vec<(OsString, OsString)>,
    secret_names: &HashSet<String>,
) -> Vec<(OsString, OsString)> {
    let secret_values: HashSet<OsString> = vars
        .iter()
        .filter(|(k, v)| !v.is_empty() && k.to_str().is_some_and(|k| secret_names.contains(k)))
        .map(|(_, v)| v.clone())
        .collect();
    vars.into_iter()
        .filter(|(k, v)| {
            let name = k.to_string_lossy();
            let secret = secret_names.contains(name.as_ref()) || secret_values.contains(v);
            // The maintainer's own overrides would point at the real indexes; those of how
            // to build and verify stay, as `release` and `stage` would read them.
            let override_ = name.starts_with("TWOSTAGE_")
                && !KEPT_OVERRIDES.iter().any(|p| name.starts_with(p));
            // What cargo set for `cargo xtask rehearse` itself is not the children's (gone
            // already when `cli` ran `cargo_env::forget`; this keeps the rule in one place).
            let cargo_run = crate::cargo_env::SET_BY_CARGO_RUN.contains(&name.as_ref())
                || name.starts_with("CARGO_PKG_");
            let redirecting = crate::resources::sandbox::GIT_ENV.contains(&name.as_ref())
                || INDEX_REDIRECTING_NAMES.contains(&name.as_ref());
            !(secret || override_ || cargo_run || redirecting)
        })
        .collect()
}

/// The release tag `release` just made on the clone's HEAD.
fn release_tag(clone: &Repo, config: &Config) -> Result<String> {
    let head = clone.head_commit()?;
    let scheme = config.git.tag_scheme();
    clone
        .tags()?
        .into_iter()
        .find(|(name, oid)| *oid == head && scheme.parse(name).is_ok_and(|t| !t.prod))
        .map(|(name, _)| name)
        .context("`release` made no release tag on the clone's HEAD")
}

/// Prints what production serves of the release, read from the index, beside the hashes the
/// release note recorded.
fn show_production(sandbox: &Sandbox, clone: &Repo, config: &Config, tag: &str) -> Result<()> {
    let release = resolved::tagged_release(clone, config, tag)?;
    let recorded = Note::read(clone, release.commit, tag)?
        .map(|n| n.artifacts())
        .unwrap_or_default();
    let project = release.project_name(&recorded);
    let url = sandbox.production.index_url();
    let served = index::project_files(&index::agent(), &url, &project)?.unwrap_or_default();
    let mine: Vec<_> = served
        .iter()
        .filter(|f| recorded.iter().any(|r| r.filename == f.filename))
        .collect();
    output::status("Production", format!("`{url}` serves {project} {tag}:"));
    if mine.is_empty() {
        bail!("production serves none of {tag}'s files after the promotion");
    }
    for file in mine {
        let sha = file.sha256.as_deref().unwrap_or("?");
        let same = recorded
            .iter()
            .any(|r| r.filename == file.filename && r.sha256 == sha);
        println!(
            "  {}  sha256={}{}",
            output::visible(&file.filename),
            output::visible(sha),
            if same {
                ""
            } else {
                "  (differs from the staged file!)"
            }
        );
    }
    Ok(())
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Marks a scratch folder kept with `--keep`, so a later rehearsal leaves it alone.
const KEPT_MARKER: &str = ".kept";

/// Removes the scratch folders (`<name>-<pid>`) of earlier rehearsals that could not clean
/// up (an interrupt ends the process before `Scratch` is dropped), unless kept or their
/// process still runs.
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        let Some(pid) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit('-').next())
            .and_then(|p| p.parse::<libc::pid_t>().ok())
            .filter(|p| *p > 0)
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
        let running = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !running && !path.join(KEPT_MARKER).exists() {
            std::fs::remove_dir_all(&path).ok();
        }
    }
}

/// Removes the scratch folder when the rehearsal ends, on every path, unless `--keep`.
struct Scratch {
    root: PathBuf,
    keep: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.root.exists() {
            return;
        }
        if self.keep {
            std::fs::write(self.root.join(KEPT_MARKER), "").ok();
            output::note(format!(
                "the scratch folder stays at `{}` (its servers are stopped)",
                self.root.display()
            ));
        } else {
            std::fs::remove_dir_all(&self.root).ok();
            output::note(format!(
                "the scratch folder `{}` was removed (`--keep` keeps it)",
                self.root.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(env: &[(OsString, OsString)]) -> Vec<String> {
        env.iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn credentials_overrides_and_redirections_are_not_inherited() {
        let vars = [
            ("PATH", "/usr/bin"),
            ("PYPI_TOKEN", "pypi-real"),
            ("MY_PYPI_TOKEN", "pypi-mine"),
            ("COPY_OF_IT", "pypi-mine"),
            ("EMPTY_TOKEN", ""),
            ("UNRELATED_EMPTY", ""),
            (
                "TWOSTAGE_PRODUCTION_UPLOAD_URL",
                "https://upload.pypi.org/legacy/",
            ),
            ("TWOSTAGE_PYTHON", "python3.12"),
            ("TWOSTAGE_VERIFY_INSTALLER", "pip"),
            ("PIP_INDEX_URL", "https://mirror.example/simple/"),
            ("GIT_DIR", "/elsewhere/.git"),
            ("SSL_CERT_FILE", "/etc/ssl/certs/ca.pem"),
            ("CARGO_MANIFEST_DIR", "/work/xtask"),
            ("CARGO_PKG_NAME", "xtask"),
            ("CARGO_HOME", "/home/me/.cargo"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .to_vec();
        let secret_names: HashSet<String> = ["PYPI_TOKEN", "MY_PYPI_TOKEN", "EMPTY_TOKEN"]
            .map(String::from)
            .into();
        assert_eq!(
            names(&inherited(vars, &secret_names)),
            [
                "PATH",
                "UNRELATED_EMPTY",
                "TWOSTAGE_PYTHON",
                "TWOSTAGE_VERIFY_INSTALLER",
                "SSL_CERT_FILE",
                "CARGO_HOME"
            ]
        );
    }
}
