//! `cargo xtask bench`: twostage measured against what maintainers use instead, in one run
//! on one machine, interleaved so that the machine's drift hits every tool alike. Absolute
//! times on a shared machine are noisy; the ratios are the figures to read.
//!
//! - **upload**: one large wheel to a local pypiserver by `twostage stage --dist` (which also
//!   copies, hashes, checks the metadata, waits for the index and writes the note) against
//!   `twine upload` and `uv publish` of the same file;
//! - **the release set** (`set.rs`): 4 packages × 13 files through a fault proxy that holds
//!   every request 150 ms, twostage's concurrent set upload against `twine upload` and `uv
//!   publish` run package by package;
//! - **hook overhead**: a branch-only `git push` to a local bare repository with the hooks
//!   installed against one without, interleaved;
//! - **the whole lifecycle** of the sample package (release, the push that stages and verifies,
//!   promote) against the hand-made equivalent (`HAND_MADE`), each in its own sandbox of local
//!   indexes, releasing successive versions, interleaved;
//! - **verification**: `twostage verify` of the sample package's wheel with uv against pip;
//! - **the interpreter matrix**: the same verification on three interpreters (`verify.python`)
//!   against one, each cell in its own environment, as many at once as there are cores;
//! - **the adopted lifecycle**: the sample adopted with `init`, its whole lifecycle through plain
//!   `cargo xtask` and the installed hooks (what a maintainer runs) against the same through
//!   the adopted repository's compiled binary, alternating releases in one sandbox.
//!
//! Each sandbox starts a devpi, the slowest part of a run: the verification reuses the
//! lifecycle's twostage sandbox (its last release staged), and the adoption the hand-made one
//! (a repository released by hand that adopts twostage), when those benchmarks run together.
//!
//! Wall time, throughput and the peak resident memory of the process (`wait4`'s rusage).

mod set;

pub use set::set_upload;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Cmd, Shell};

use testbed::{self, PypiServer, Sandbox};
// The setup's git commands (not timed) run as the product runs its own: output captured, no
// prompt, and a chained hook sees no credentials.
use twostage::resources::git::run as git;

pub struct Options {
    pub quick: bool,
    pub json: bool,
    /// Size of the wheel in the upload benchmark, in MB.
    pub upload_mb: u64,
    /// Run only these benchmarks (`upload`, `set`, `verify`, `matrix`, `hooks`, `lifecycle`,
    /// `adopted`); all when empty.
    pub only: Vec<String>,
}

/// One measured run of one tool.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    max_rss_kb: u64,
}

struct Series {
    benchmark: String,
    tool: &'static str,
    samples: Vec<Sample>,
    bytes: u64,
}

impl Series {
    fn new(benchmark: impl Into<String>, tool: &'static str) -> Series {
        Series {
            benchmark: benchmark.into(),
            tool,
            samples: Vec::new(),
            bytes: 0,
        }
    }

    fn median(&self) -> Duration {
        let mut walls: Vec<Duration> = self.samples.iter().map(|s| s.wall).collect();
        walls.sort();
        walls[walls.len() / 2]
    }

    fn min(&self) -> Duration {
        self.samples
            .iter()
            .map(|s| s.wall)
            .min()
            .unwrap_or_default()
    }

    fn max(&self) -> Duration {
        self.samples
            .iter()
            .map(|s| s.wall)
            .max()
            .unwrap_or_default()
    }

    fn peak_rss_mb(&self) -> f64 {
        self.samples.iter().map(|x| x.max_rss_kb).max().unwrap_or(0) as f64 / 1024.0
    }

    /// MB/s at the median, for the series that move bytes.
    fn throughput(&self) -> Option<f64> {
        (self.bytes != 0).then(|| self.bytes as f64 / 1e6 / self.median().as_secs_f64())
    }
}

/// What every benchmark shares: where it writes, the isolated HOME, this binary, how many
/// rounds.
struct Bench {
    root: PathBuf,
    home: PathBuf,
    exe: PathBuf,
    rounds: usize,
}

impl Bench {
    /// Runs a command to its end under the benchmark's HOME (see `measure`), logging to
    /// `log` under the benchmark's folder.
    fn measure(&self, command: impl Into<Command>, log: &str) -> Result<Sample> {
        measure(command.into(), &self.root.join(log), &self.home)
    }
}

const TOKEN: &str = "bench-token-not-a-secret";

/// Branch-only pushes per configuration: the hooks' overhead is a few milliseconds, so the
/// median needs many.
const PUSHES: usize = 40;
const PUSHES_QUICK: usize = 10;

pub fn run(options: &Options) -> Result<()> {
    testbed::tools()?;
    let root = testbed::target_dir()
        .join("twostage-bench")
        .join(std::process::id().to_string());
    let home = root.join("home");
    std::fs::create_dir_all(&home)?;
    std::fs::write(
        home.join(".gitconfig"),
        "[user]\n\tname = bench\n\temail = bench@example.invalid\n",
    )?;
    let bench = Bench {
        root,
        home,
        exe: std::env::current_exe()?,
        rounds: if options.quick { 1 } else { 3 },
    };
    let series = run_wanted(&bench, options)?;
    if std::env::var_os("TWOSTAGE_BENCH_KEEP").is_none() {
        std::fs::remove_dir_all(&bench.root).ok();
    }
    if options.json {
        report_json(&series);
    } else {
        report_table(&series);
    }
    Ok(())
}

/// The benchmarks `--only` names (all by default), in order; the lifecycle's sandboxes are
/// handed on to the verification and the adoption.
fn run_wanted(bench: &Bench, options: &Options) -> Result<Vec<Series>> {
    let wanted = |name: &str| options.only.is_empty() || options.only.iter().any(|o| o == name);
    let mut series = Vec::new();
    if wanted("upload") {
        series.extend(bench_upload(bench, options.upload_mb)?);
    }
    if wanted("set") {
        let shape = if options.quick {
            &set::QUICK
        } else {
            &set::FULL
        };
        series.extend(set::bench_set(bench, shape)?);
    }
    if wanted("hooks") {
        let pushes = if options.quick { PUSHES_QUICK } else { PUSHES };
        series.extend(bench_hooks(bench, pushes)?);
    }
    let mut lifecycle = None;
    if wanted("lifecycle") {
        let (measured, sandboxes) = bench_lifecycle(bench)?;
        series.extend(measured);
        lifecycle = Some(sandboxes);
    }
    let staged = match &lifecycle {
        None if wanted("verify") || wanted("matrix") => Some(staged_sample(bench)?),
        _ => None,
    };
    let verified = match (&lifecycle, &staged) {
        (Some(done), _) => Some((&done.ours, done.last_tag.as_str())),
        (None, Some(sandbox)) => Some((sandbox, "v0.1.1")),
        (None, None) => None,
    };
    if let (true, Some((sandbox, tag))) = (wanted("verify"), verified) {
        series.extend(bench_verification(bench, sandbox, tag)?);
    }
    if let (true, Some((sandbox, tag))) = (wanted("matrix"), verified) {
        series.extend(bench_matrix(bench, sandbox, tag)?);
    }
    if wanted("adopted") {
        series.extend(match &lifecycle {
            Some(done) => bench_adopted(bench, &done.hand)?,
            None => bench_adopted(bench, &sample_sandbox(bench, "adopted")?)?,
        });
    }
    if series.is_empty() {
        bail!(
            "`--only` names no benchmark: use upload, set, verify, matrix, hooks, lifecycle or adopted"
        );
    }
    Ok(series)
}

/// The sample in a fresh sandbox under the benchmark's folder.
fn sample_sandbox(bench: &Bench, name: &str) -> Result<Sandbox> {
    Sandbox::create(&bench.root.join(name), &testbed::sample_project())
}

/// The uploaders measured, in their rows' order.
#[derive(Debug, Clone, Copy)]
enum Uploader {
    Twostage,
    Twine,
    Uv,
}

impl Uploader {
    const ALL: [Uploader; 3] = [Uploader::Twostage, Uploader::Twine, Uploader::Uv];

    fn tool(self) -> &'static str {
        match self {
            Uploader::Twostage => "twostage stage",
            Uploader::Twine => "twine upload",
            Uploader::Uv => "uv publish",
        }
    }

    /// The upload of `wheel` (in `wheel_dir`) to `server`; twostage's goes through `repo`.
    fn command<'a>(
        self,
        sh: &'a Shell,
        exe: &Path,
        repo: &Path,
        wheel: &Path,
        server: &PypiServer,
    ) -> Result<Cmd<'a>> {
        let url = server.upload_url();
        Ok(match self {
            Uploader::Twostage => {
                let wheel_dir = wheel.parent().context("a wheel without a folder")?;
                cmd!(sh, "{exe} --repo {repo} stage v1.0.0 --dist {wheel_dir}")
                    .env("TWOSTAGE_STAGING_UPLOAD_URL", url)
                    .env("TWOSTAGE_STAGING_INDEX_URL", server.index_url())
                    .env("TEST_PYPI_TOKEN", TOKEN)
            }
            Uploader::Twine => {
                let twine = testbed::tools()?.bin("twine");
                cmd!(sh, "{twine} upload --non-interactive --disable-progress-bar --repository-url {url} -u __token__ -p {TOKEN} {wheel}")
            }
            Uploader::Uv => {
                let uv = testbed::tools()?.bin("uv");
                cmd!(sh, "{uv} publish --no-progress --publish-url {url} --username __token__ --password {TOKEN} {wheel}")
            }
        })
    }
}

/// One large wheel: `twostage stage --dist`, `twine upload` and `uv publish`, each to a fresh
/// local pypiserver; and how long twostage waited for the index to serve it.
fn bench_upload(bench: &Bench, upload_mb: u64) -> Result<Vec<Series>> {
    eprintln!("     Preparing a {upload_mb} MB wheel and a scratch repository");
    let wheel = make_wheel(&bench.root.join("wheel"), upload_mb * 1_000_000)?;
    let size = std::fs::metadata(&wheel)?.len();
    let repo = scratch_repo(&bench.root.join("repo"))?;
    let sh = Shell::new()?;
    let mut waits = Series::new("index wait", "after upload");
    let mut series: Vec<Series> = Uploader::ALL
        .into_iter()
        .map(|uploader| Series {
            bytes: size,
            ..Series::new(format!("upload {upload_mb} MB"), uploader.tool())
        })
        .collect();
    for round in 0..bench.rounds {
        for (uploader, entry) in Uploader::ALL.into_iter().zip(series.iter_mut()) {
            let dir = bench
                .root
                .join(format!("round{round}-{}", entry.tool.replace(' ', "-")));
            let server = PypiServer::start(&dir, "__token__", TOKEN)?;
            if let Uploader::Twostage = uploader {
                reset_release_state(&repo)?;
            }
            let rounds = bench.rounds;
            eprintln!(
                "     Running {} (round {} of {rounds})",
                entry.tool,
                round + 1
            );
            let command = uploader.command(&sh, &bench.exe, &repo, &wheel, &server)?;
            entry
                .samples
                .push(measure(command.into(), &dir.join("run.log"), &bench.home)?);
            let served = std::fs::read_dir(&server.packages)?.count();
            if served != 1 {
                bail!(
                    "{} left {served} files on the index instead of 1",
                    entry.tool
                );
            }
            if let Uploader::Twostage = uploader {
                waits.samples.push(staging_wait(&repo)?);
            }
            drop(server);
            std::fs::remove_dir_all(&dir).ok();
        }
    }
    series.push(waits);
    Ok(series)
}

/// From the upload's last byte to "the index serves every file with its hash", as the note
/// of `v1.0.0` in `repo` records it: the floor is one poll of the project page.
fn staging_wait(repo: &Path) -> Result<Sample> {
    let sh = Shell::new()?;
    let notes = twostage::resources::evidence::NOTES_REF;
    let commit = "v1.0.0^{commit}";
    let note = cmd!(sh, "git -C {repo} notes --ref {notes} show {commit}").read()?;
    let doc: toml_edit::DocumentMut = note.parse()?;
    let waited = doc["staging"]["served-after-seconds"]
        .as_float()
        .unwrap_or_default();
    Ok(Sample {
        wall: Duration::from_secs_f64(waited),
        max_rss_kb: 0,
    })
}

/// Branch-only pushes with and without the hooks, interleaved: the shims must decide in `sh`
/// that there is nothing to do, without starting cargo or the binary.
fn bench_hooks(bench: &Bench, pushes: usize) -> Result<Vec<Series>> {
    eprintln!("     Pushing a branch {pushes} times with and without the hooks");
    let sh = Shell::new()?;
    let mut series = Vec::new();
    let mut repos = Vec::new();
    for (tool, hooks) in [("git push", false), ("git push + hooks", true)] {
        let dir = bench.root.join(format!("push-{hooks}"));
        let repo = scratch_repo(&dir.join("work"))?;
        let origin = dir.join("origin.git");
        git(cmd!(sh, "git init --quiet --bare {origin}"))?;
        git(cmd!(sh, "git -C {repo} remote add origin {origin}"))?;
        if hooks {
            let exe = &bench.exe;
            let install = cmd!(sh, "{exe} --repo {repo} hooks install");
            measure(install.into(), &dir.join("install.log"), &bench.home)?;
        }
        repos.push(repo);
        series.push(Series::new("branch push", tool));
    }
    for i in 0..pushes {
        for (repo, entry) in repos.iter().zip(series.iter_mut()) {
            write_and_commit(repo, "NEWS", &format!("{i}\n"))?;
            let push = cmd!(sh, "git -C {repo} push --quiet origin main");
            entry.samples.push(bench.measure(push, "push.log")?);
        }
    }
    let added = series[1].median().as_secs_f64() - series[0].median().as_secs_f64();
    eprintln!(
        "       Hooks add {:.1} ms to a branch-only push (median of {pushes})",
        added * 1000.0
    );
    Ok(series)
}

/// What a maintainer runs by hand today for one release of the sample: edit the version,
/// commit, tag, build, upload to staging, a fresh venv and `pip install` per artifact with the
/// smoke test, upload to production, push. `$1` is the new version.
const HAND_MADE: &str = r#"set -e
v="$1"
sed -i "s/^version = .*/version = \"$v\"/" pyproject.toml
sed -i "s/^__version__ = .*/__version__ = \"$v\"/" src/twostage_sample/__init__.py
git commit --quiet -am "Release v$v"
git tag -a "v$v" -m "Release v$v"
rm -rf dist
python -m build --outdir dist >/dev/null
twine upload --non-interactive --disable-progress-bar --repository-url "$STAGING_UPLOAD" -u "$STAGING_USER" -p "$TOKEN" dist/* >/dev/null
for f in dist/*; do
    rm -rf "$ENVS/env"
    python -m venv "$ENVS/env"
    "$ENVS/env/bin/pip" install --quiet --index-url "$STAGING_INDEX" --extra-index-url "$PRODUCTION_INDEX" "twostage-sample==$v" $( case "$f" in *.tar.gz) echo --no-binary twostage-sample ;; esac )
    (cd "$ENVS" && "$ENVS/env/bin/python" "$OLDPWD/tests/smoke.py")
done
twine upload --non-interactive --disable-progress-bar --repository-url "$PRODUCTION_UPLOAD" -u __token__ -p "$TOKEN" dist/* >/dev/null
git push --quiet --follow-tags origin main
"#;

/// The lifecycle's two sandboxes, kept for the benchmarks after it.
struct Lifecycle {
    /// Released with twostage; its last release, `last_tag`, is staged, verified and promoted.
    ours: Sandbox,
    last_tag: String,
    /// Released by hand, without twostage.
    hand: Sandbox,
}

/// The lifecycle of the sample, twostage against `HAND_MADE`, in two sandboxes.
fn bench_lifecycle(bench: &Bench) -> Result<(Vec<Series>, Lifecycle)> {
    eprintln!("     Preparing two sandboxes for the whole lifecycle");
    // Both start at once: most of a sandbox's start is waiting for devpi.
    let (ours, hand) = std::thread::scope(|scope| {
        let ours = scope.spawn(|| sample_sandbox(bench, "lifecycle-twostage"));
        let hand = sample_sandbox(bench, "lifecycle-hand");
        let ours = ours.join().expect("the sandbox thread panicked");
        Ok::<_, anyhow::Error>((ours?, hand?))
    })?;
    let ours_env = lifecycle_env(&ours, &bench.exe)?;
    let hand_env = hand_made_env(bench, &hand)?;
    let log = bench.root.join("lifecycle.log");
    let (sh, exe) = (Shell::new()?, &bench.exe);
    sh.change_dir(&ours.repo);
    let install = cmd!(sh, "{exe} hooks install").envs(ours_env.clone());
    measure(install.into(), &log, &ours.home)?;
    sh.change_dir(&hand.repo);
    let mut series = vec![
        Series::new("lifecycle", "twostage"),
        Series::new("lifecycle", "by hand"),
    ];
    let mut last_tag = String::new();
    for round in 0..bench.rounds {
        let version = format!("0.1.{}", round + 1);
        eprintln!(
            "     Releasing {version} with twostage and by hand (round {} of {})",
            round + 1,
            bench.rounds
        );
        last_tag = format!("v{version}");
        // Something new to release (not timed).
        write_and_commit(&ours.repo, "NEWS", &format!("{version}\n"))?;
        let sample = release_with_twostage(bench, &ours, &ours_env, &last_tag)?;
        series[0].samples.push(sample);
        let by_hand = cmd!(sh, "sh -c {HAND_MADE} hand-made {version}").envs(hand_env.clone());
        series[1]
            .samples
            .push(measure(by_hand.into(), &log, &hand.home)?);
    }
    let sandboxes = Lifecycle {
        ours,
        last_tag,
        hand,
    };
    Ok((series, sandboxes))
}

/// The sandbox's environment for twostage in the lifecycle: its own default build (`uv
/// build`, isolated, its cache warm after the first run), with the build backend from the
/// local production index, as the hand-made build gets it; the hooks run this binary.
fn lifecycle_env(sandbox: &Sandbox, exe: &Path) -> Result<Vec<(String, OsString)>> {
    let mut env = sandbox.env()?;
    env.retain(|(k, _)| k != "TWOSTAGE_BUILD_COMMAND");
    env.push(("UV_INDEX_URL".into(), sandbox.production.index_url().into()));
    env.push(("TWOSTAGE_BIN".into(), exe.into()));
    Ok(env)
}

/// `HAND_MADE`'s environment: the Python tools first on PATH, the sandbox's indexes.
fn hand_made_env(bench: &Bench, sandbox: &Sandbox) -> Result<Vec<(&'static str, OsString)>> {
    let tools = testbed::tools()?;
    let path_with_tools = std::env::join_paths(std::iter::once(tools.venv.join("bin")).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let envs = bench.root.join("hand-envs");
    std::fs::create_dir_all(&envs)?;
    Ok(vec![
        ("PATH", path_with_tools),
        ("PIP_INDEX_URL", sandbox.production.index_url().into()),
        ("STAGING_UPLOAD", sandbox.staging.upload_url.clone().into()),
        ("STAGING_INDEX", sandbox.staging.index_url.clone().into()),
        ("STAGING_USER", sandbox.devpi.username.clone().into()),
        ("PRODUCTION_UPLOAD", sandbox.production.upload_url().into()),
        ("PRODUCTION_INDEX", sandbox.production.index_url().into()),
        ("TOKEN", testbed::SANDBOX_TOKEN.into()),
        ("ENVS", envs.into()),
    ])
}

/// One release with twostage, timed from `release patch` to the end of `promote`: the wall
/// time of the three and the peak memory of any of them.
fn release_with_twostage(
    bench: &Bench,
    sandbox: &Sandbox,
    env: &[(String, OsString)],
    tag: &str,
) -> Result<Sample> {
    let sh = Shell::new()?;
    sh.change_dir(&sandbox.repo);
    let exe = &bench.exe;
    let log = bench.root.join("lifecycle.log");
    let started = Instant::now();
    let mut peak = 0;
    for command in [
        cmd!(sh, "{exe} release patch"),
        cmd!(sh, "git push --quiet --follow-tags origin main"),
        cmd!(sh, "{exe} promote {tag}"),
    ] {
        let sample = measure(command.envs(env.to_vec()).into(), &log, &sandbox.home)?;
        peak = peak.max(sample.max_rss_kb);
    }
    Ok(Sample {
        wall: started.elapsed(),
        max_rss_kb: peak,
    })
}

/// The sample adopted with `init --path`, released round after round through plain
/// `cargo xtask` + the hooks and through the adopted binary, alternating in one sandbox.
fn bench_adopted(bench: &Bench, sandbox: &Sandbox) -> Result<Vec<Series>> {
    let adopted = Adopted::new(bench, sandbox)?;
    adopted.adopt()?;
    let mut series = vec![
        Series::new("adopted", "xtask binary"),
        Series::new("adopted", "cargo xtask"),
    ];
    for round in 0..bench.rounds {
        for (entry, through_cargo) in series.iter_mut().zip([false, true]) {
            let sh = Shell::new()?;
            let repo = &sandbox.repo;
            let version = cmd!(sh, "git -C {repo} describe --tags --abbrev=0")
                .quiet()
                .ignore_stderr()
                .read()
                .ok()
                .map(|t| t.trim().trim_end_matches("-prod").to_string());
            write_and_commit(repo, "NEWS", &format!("{round} {through_cargo}\n"))?;
            eprintln!(
                "     Releasing through {} (round {} of {}, after {})",
                entry.tool,
                round + 1,
                bench.rounds,
                version.as_deref().unwrap_or("nothing")
            );
            entry.samples.push(adopted.release(through_cargo)?);
        }
    }
    let ratio = series[1].median().as_secs_f64() / series[0].median().as_secs_f64();
    eprintln!(
        "       The adopted lifecycle through `cargo xtask` takes {ratio:.2}x the time through the binary"
    );
    Ok(series)
}

/// The sandbox whose sample adopts twostage, and how to run its commands.
struct Adopted<'a> {
    sandbox: &'a Sandbox,
    sh: Shell,
    /// Kept between benchmark runs (and shared with the end-to-end maintainer test): the
    /// first compile of the adopted `xtask` is not what is measured (it is reported).
    target: PathBuf,
    log: PathBuf,
}

impl<'a> Adopted<'a> {
    fn new(bench: &Bench, sandbox: &'a Sandbox) -> Result<Adopted<'a>> {
        let sh = Shell::new()?;
        sh.change_dir(&sandbox.repo);
        let target = testbed::target_dir().join("twostage-adopted-target");
        for (key, value) in sandbox.env()? {
            sh.set_var(key, value);
        }
        sh.set_var("CARGO_TARGET_DIR", &target);
        let exe = &bench.exe;
        // init writes the path relative to the repository.
        let twostage_crate = Path::new(env!("CARGO_MANIFEST_DIR")).join("../twostage");
        let adopted = Adopted {
            sandbox,
            sh,
            target,
            log: bench.root.join("adopted.log"),
        };
        eprintln!("     Preparing an adopted repository");
        adopted.measure(
            cmd!(adopted.sh, "{exe} init . --path {twostage_crate}"),
            false,
        )?;
        Ok(adopted)
    }

    /// Runs a command in the adopted repository; with `with_bin` its hooks run the adopted
    /// binary, without it whatever the shims find (`cargo xtask`).
    fn measure(&self, command: Cmd<'_>, with_bin: bool) -> Result<Sample> {
        let command = if with_bin {
            command.env("TWOSTAGE_BIN", self.binary())
        } else {
            command.env_remove("TWOSTAGE_BIN")
        };
        measure(command.into(), &self.log, &self.sandbox.home)
    }

    fn binary(&self) -> PathBuf {
        self.target.join("debug/xtask")
    }

    /// Commits and pushes the adoption, and compiles the adopted `cargo xtask` by installing
    /// the hooks with it.
    fn adopt(&self) -> Result<()> {
        write_and_commit(&self.sandbox.repo, "NEWS", "adopted\n")?;
        git(cmd!(self.sh, "git push --quiet origin main"))?;
        eprintln!("     Compiling the adopted repository's `cargo xtask` (once, not measured)");
        let first = self.measure(cmd!(self.sh, "cargo xtask hooks install"), false)?;
        eprintln!(
            "       First `cargo xtask` in the adopted repository: {:.1}s",
            first.wall.as_secs_f64()
        );
        Ok(())
    }

    /// `release patch`, the push that stages and verifies, `promote`: through `cargo xtask`,
    /// or through the adopted binary (which the hooks then run too).
    fn release(&self, through_cargo: bool) -> Result<Sample> {
        let sh = &self.sh;
        let binary = self.binary();
        let xtask = |args: &[&str]| {
            let command = if through_cargo {
                cmd!(sh, "cargo xtask {args...}")
            } else {
                cmd!(sh, "{binary} {args...}")
            };
            self.measure(command, !through_cargo)
        };
        let started = Instant::now();
        let mut peak = xtask(&["release", "patch"])?.max_rss_kb;
        let tag = cmd!(sh, "git describe --tags --exact-match")
            .quiet()
            .read()?;
        let push = cmd!(sh, "git push --quiet --follow-tags origin main");
        peak = peak.max(self.measure(push, !through_cargo)?.max_rss_kb);
        let promote = xtask(&["promote", tag.trim(), "--no-github"])?;
        peak = peak.max(promote.max_rss_kb);
        Ok(Sample {
            wall: started.elapsed(),
            max_rss_kb: peak,
        })
    }
}

/// The sample released (`v0.1.1`) and staged, for the verification on its own.
fn staged_sample(bench: &Bench) -> Result<Sandbox> {
    eprintln!("     Preparing the sample package, staged on a local devpi");
    let sandbox = sample_sandbox(bench, "verify-sandbox")?;
    let sh = Shell::new()?;
    let (exe, repo) = (&bench.exe, &sandbox.repo);
    for command in [
        cmd!(sh, "{exe} --repo {repo} release patch"),
        cmd!(sh, "{exe} --repo {repo} stage v0.1.1"),
    ] {
        let command = command.envs(sandbox.env()?);
        measure(
            command.into(),
            &bench.root.join("verify-setup.log"),
            &sandbox.home,
        )?;
    }
    Ok(sandbox)
}

/// `twostage verify` of the sample's wheel (`tag`, staged in `sandbox`), with uv and with pip,
/// interleaved.
fn bench_verification(bench: &Bench, sandbox: &Sandbox, tag: &str) -> Result<Vec<Series>> {
    let sh = Shell::new()?;
    let (exe, repo) = (&bench.exe, &sandbox.repo);
    let env = sandbox.env()?;
    let mut series = vec![
        Series::new("verify 1 wheel", "twostage (uv)"),
        Series::new("verify 1 wheel", "twostage (pip)"),
    ];
    for round in 0..bench.rounds {
        for (entry, installer) in series.iter_mut().zip(["uv", "pip"]) {
            eprintln!(
                "     Running verify with {installer} (round {} of {})",
                round + 1,
                bench.rounds
            );
            let command = cmd!(sh, "{exe} --repo {repo} verify {tag}")
                .envs(env.clone())
                .env("TWOSTAGE_VERIFY_INSTALLER", installer)
                .env("TWOSTAGE_VERIFY_ARTIFACTS", "wheel");
            let log = bench.root.join("verify.log");
            entry
                .samples
                .push(measure(command.into(), &log, &sandbox.home)?);
        }
    }
    Ok(series)
}

/// The interpreters of the matrix benchmark: the first alone, then all three.
const MATRIX_PYTHONS: [&str; 3] = ["3.11", "3.10", "3.12"];

/// `twostage verify` of the sample's wheel on one interpreter and on three (`verify.python`),
/// with uv, interleaved: what verifying every supported Python costs.
fn bench_matrix(bench: &Bench, sandbox: &Sandbox, tag: &str) -> Result<Vec<Series>> {
    let sh = Shell::new()?;
    let (exe, repo) = (&bench.exe, &sandbox.repo);
    let env = sandbox.env()?;
    let mut series = vec![
        Series::new("verify matrix", "1 interpreter"),
        Series::new("verify matrix", "3 interpreters"),
    ];
    let all = MATRIX_PYTHONS.join(" ");
    for round in 0..bench.rounds {
        for (entry, pythons) in series.iter_mut().zip([MATRIX_PYTHONS[0], all.as_str()]) {
            eprintln!(
                "     Running verify on Python {pythons} (round {} of {})",
                round + 1,
                bench.rounds
            );
            let command = cmd!(sh, "{exe} --repo {repo} verify {tag}")
                .envs(env.clone())
                .env("TWOSTAGE_VERIFY_INSTALLER", "uv")
                .env("TWOSTAGE_VERIFY_ARTIFACTS", "wheel")
                .env("TWOSTAGE_VERIFY_PYTHON", pythons);
            let log = bench.root.join("verify-matrix.log");
            entry
                .samples
                .push(measure(command.into(), &log, &sandbox.home)?);
        }
    }
    Ok(series)
}

/// Runs a command to its end; wall time and peak RSS of that process (Linux `wait4`). A
/// `std::process::Command` rather than xshell's: `wait4` needs the child's pid.
fn measure(mut command: Command, log: &Path, home: &Path) -> Result<Sample> {
    let log_file = std::fs::File::create(log)?;
    let started = Instant::now();
    let child = command
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be filled in by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own child's, and both pointers are to live locals.
    let reaped = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if reaped < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        bail!("{:?} failed:\n{text}", command.get_program());
    }
    Ok(Sample {
        wall,
        max_rss_kb: usage.ru_maxrss as u64,
    })
}

/// Each benchmark's first tool is its baseline.
fn baseline(series: &[Series], benchmark: &str) -> Duration {
    series
        .iter()
        .find(|s| s.benchmark == benchmark)
        .map(Series::median)
        .unwrap_or_default()
}

fn report_json(series: &[Series]) {
    let rows: Vec<serde_json::Value> = series
        .iter()
        .map(|s| {
            let walls: Vec<f64> = s.samples.iter().map(|x| x.wall.as_secs_f64()).collect();
            let median = s.median().as_secs_f64();
            serde_json::json!({
                "benchmark": s.benchmark,
                "tool": s.tool,
                "median_s": median,
                "min_s": walls.iter().cloned().fold(f64::INFINITY, f64::min),
                "max_s": walls.iter().cloned().fold(0.0, f64::max),
                "peak_rss_mb": s.peak_rss_mb(),
                "throughput_mb_s": s.bytes as f64 / 1e6 / median,
                "ratio_to_first": median / baseline(series, &s.benchmark).as_secs_f64(),
                "runs": walls,
            })
        })
        .collect();
    println!("{}", serde_json::Value::Array(rows));
}

fn report_table(series: &[Series]) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<16} {:<16} {:>9} {:>9} {:>9} {:>10} {:>11} {:>10}",
        "benchmark", "tool", "median", "min", "max", "peak RSS", "throughput", "vs first"
    );
    for s in series {
        let median = s.median().as_secs_f64();
        let throughput = s
            .throughput()
            .map_or_else(|| "-".to_string(), |t| format!("{t:.0} MB/s"));
        let _ = writeln!(
            out,
            "{:<16} {:<16} {:>8.3}s {:>8.3}s {:>8.3}s {:>7.1} MB {:>11} {:>9.2}x",
            s.benchmark,
            s.tool,
            median,
            s.min().as_secs_f64(),
            s.max().as_secs_f64(),
            s.peak_rss_mb(),
            throughput,
            median / baseline(series, &s.benchmark).as_secs_f64()
        );
    }
}

/// A valid wheel holding `payload` bytes of incompressible data, stored uncompressed, its
/// `RECORD` listing every member with its sha256 and size (staging checks them, as an
/// installer does).
fn make_wheel(dir: &Path, payload: u64) -> Result<PathBuf> {
    make_wheel_as(dir, "benchpkg", "py3-none-any", payload)
}

/// `make_wheel` of distribution `name` (a valid module name) at 1.0.0 with the wheel tag
/// `tag` (`cp312-cp312-manylinux_2_17_x86_64`), its data drawn from its own seed.
fn make_wheel_as(dir: &Path, name: &str, tag: &str, payload: u64) -> Result<PathBuf> {
    use base64::Engine;
    use sha2::Digest;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}-1.0.0-{tag}.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path)?);
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(payload > u32::MAX as u64);
    let row = |name: &str, digest: sha2::Sha256, size: u64| {
        let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.finalize());
        format!("{name},sha256={hash},{size}\n")
    };
    let mut record = String::new();
    let mut small = |zip: &mut zip::ZipWriter<std::fs::File>, name: &str, bytes: &[u8]| {
        zip.start_file(name, stored)?;
        zip.write_all(bytes)?;
        record.push_str(&row(
            name,
            sha2::Sha256::new_with_prefix(bytes),
            bytes.len() as u64,
        ));
        Ok::<_, anyhow::Error>(())
    };
    small(&mut zip, &format!("{name}/__init__.py"), b"")?;
    zip.start_file(format!("{name}/blob.bin"), stored)?;
    // Each wheel its own bytes: the seed is its file name's FNV-1a hash.
    let mut state = path
        .file_name()
        .map_or(&b""[..], |n| n.as_encoded_bytes())
        .iter()
        .fold(0xCBF2_9CE4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01B3)
        })
        | 1;
    let mut chunk = vec![0u8; 1 << 20];
    let (mut left, mut blob) = (payload, sha2::Sha256::new());
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            // xorshift64: cheap, incompressible enough for a transfer benchmark.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        zip.write_all(&chunk[..n])?;
        blob.update(&chunk[..n]);
        left -= n as u64;
    }
    let mut record_rows = row(&format!("{name}/blob.bin"), blob, payload);
    let info = format!("{name}-1.0.0.dist-info");
    let metadata = format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\nSummary: A large wheel for benchmarks\n"
    );
    small(&mut zip, &format!("{info}/METADATA"), metadata.as_bytes())?;
    let purelib = tag.ends_with("-none-any");
    let wheel = format!(
        "Wheel-Version: 1.0\nGenerator: twostage-bench\nRoot-Is-Purelib: {purelib}\nTag: {tag}\n"
    );
    small(&mut zip, &format!("{info}/WHEEL"), wheel.as_bytes())?;
    record_rows.push_str(&record);
    record_rows.push_str(&format!("{info}/RECORD,,\n"));
    zip.start_file(format!("{info}/RECORD"), stored)?;
    zip.write_all(record_rows.as_bytes())?;
    zip.finish()?;
    Ok(path)
}

/// A repository with `release.toml` and the annotated tag `v1.0.0`.
fn scratch_repo(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("pyproject.toml"),
        "[project]\nname = \"benchpkg\"\nversion = \"1.0.0\"\n",
    )?;
    // The upload alone is measured: no verification.
    std::fs::write(
        dir.join("release.toml"),
        "[verify]\nartifacts = []\nindex-timeout = \"60s\"\n",
    )?;
    let sh = Shell::new()?;
    git(cmd!(sh, "git -C {dir} init --quiet -b main"))?;
    write_and_commit(dir, "README", "benchpkg\n")?;
    git(cmd!(
        sh,
        "git -C {dir} {IDENTITY...} tag -a v1.0.0 -m 'Release v1.0.0'"
    ))?;
    Ok(dir.to_path_buf())
}

/// The benchmark's own git identity (the machine may have none configured).
const IDENTITY: [&str; 4] = [
    "-c",
    "user.name=bench",
    "-c",
    "user.email=bench@example.invalid",
];

/// Writes a file and commits everything (not timed: setup between measured runs).
fn write_and_commit(repo: &Path, file: &str, text: &str) -> Result<()> {
    std::fs::write(repo.join(file), text)?;
    let sh = Shell::new()?;
    git(cmd!(sh, "git -C {repo} add -A"))?;
    git(cmd!(
        sh,
        "git -C {repo} {IDENTITY...} commit --quiet -m Change"
    ))?;
    Ok(())
}

/// Forgets what `stage` recorded, so that the next upload starts from nothing.
fn reset_release_state(repo: &Path) -> Result<()> {
    let state = repo.join(".git/twostage");
    if state.exists() {
        std::fs::remove_dir_all(&state)?;
    }
    let sh = Shell::new()?;
    let notes = twostage::resources::evidence::NOTES_REF;
    let _ = git(cmd!(sh, "git -C {repo} update-ref -d {notes}"));
    Ok(())
}
