//! `cargo xtask bench`: twostage measured against what maintainers use instead, in one run
//! on one machine, interleaved so that the machine's drift hits every tool alike. Absolute
//! times on a shared machine are noisy; the ratios are the figures to read.
//!
//! - **upload**: one large wheel to a local pypiserver by `twostage stage --dist` (which also
//!   copies, hashes, checks the metadata, waits for the index and writes the note) against
//!   `twine upload` and `uv publish` of the same file;
//! - **verification**: `twostage verify` of the sample package's wheel with uv against pip;
//! - **hook overhead**: a branch-only `git push` to a local bare repository with the hooks
//!   installed against one without, interleaved;
//! - **the whole lifecycle** of the sample package (release, the push that stages and verifies,
//!   promote) against the hand-made equivalent (`HAND_MADE`), each in its own sandbox of local
//!   indexes, releasing successive versions, interleaved.
//! - **the adopted lifecycle**: the sample adopted with `init`, its whole lifecycle through plain
//!   `cargo xtask` and the installed hooks (what a maintainer runs) against the same through
//!   the adopted repository's compiled binary, alternating releases in one sandbox.
//!
//! Wall time, throughput and the peak resident memory of the process (`wait4`'s rusage).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use testbed::{self, PypiServer, Sandbox};

pub struct Options {
    pub quick: bool,
    pub json: bool,
    /// Size of the wheel in the upload benchmark, in MB.
    pub upload_mb: u64,
    /// Run only these benchmarks (`upload`, `verify`, `hooks`, `lifecycle`, `adopted`); all
    /// when empty.
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
    fn median(&self) -> Duration {
        let mut walls: Vec<Duration> = self.samples.iter().map(|s| s.wall).collect();
        walls.sort();
        walls[walls.len() / 2]
    }
}

const TOKEN: &str = "bench-token-not-a-secret";

pub fn run(options: &Options) -> Result<()> {
    testbed::tools()?;
    let root = testbed::target_dir()
        .join("twostage-bench")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&root)?;
    let rounds = if options.quick { 1 } else { 3 };

    std::fs::create_dir_all(root.join("home"))?;
    std::fs::write(
        root.join("home/.gitconfig"),
        "[user]\n\tname = bench\n\temail = bench@example.invalid\n",
    )?;
    let exe = std::env::current_exe()?;
    let wanted = |name: &str| options.only.is_empty() || options.only.iter().any(|o| o == name);
    let mut series = Vec::new();
    if wanted("upload") {
        series.extend(bench_upload(&root, &exe, rounds, options.upload_mb)?);
    }
    if wanted("verify") {
        series.extend(bench_verification(&root, &exe, rounds)?);
    }
    if wanted("hooks") {
        series.extend(bench_hooks(&root, &exe, 40)?);
    }
    if wanted("lifecycle") {
        series.extend(bench_lifecycle(&root, &exe, rounds)?);
    }
    if wanted("adopted") {
        series.extend(bench_adopted(&root, &exe, rounds)?);
    }
    if series.is_empty() {
        bail!("`--only` names no benchmark: use upload, verify, hooks, lifecycle or adopted");
    }
    if std::env::var_os("TWOSTAGE_BENCH_KEEP").is_none() {
        std::fs::remove_dir_all(&root).ok();
    }
    report(&series, options.json);
    Ok(())
}

/// One large wheel: `twostage stage --dist`, `twine upload` and `uv publish`, each to a fresh
/// local pypiserver.
fn bench_upload(root: &Path, exe: &Path, rounds: usize, upload_mb: u64) -> Result<Vec<Series>> {
    let tools = testbed::tools()?;
    eprintln!(
        "     Preparing a {} MB wheel and a scratch repository",
        upload_mb
    );
    let wheel_dir = root.join("wheel");
    let wheel = make_wheel(&wheel_dir, upload_mb * 1_000_000)?;
    let size = std::fs::metadata(&wheel)?.len();
    let repo = scratch_repo(&root.join("repo"))?;

    let mut waits = Vec::new();
    let mut series: Vec<Series> = ["twostage stage", "twine upload", "uv publish"]
        .into_iter()
        .map(|tool| Series {
            benchmark: format!("upload {} MB", upload_mb),
            tool,
            samples: Vec::new(),
            bytes: size,
        })
        .collect();
    for round in 0..rounds {
        for entry in series.iter_mut() {
            let dir = root.join(format!("round{round}-{}", entry.tool.replace(' ', "-")));
            let server = PypiServer::start(&dir, "__token__", TOKEN)?;
            let mut command = match entry.tool {
                "twostage stage" => {
                    reset_release_state(&repo)?;
                    let mut c = Command::new(exe);
                    c.arg("--repo")
                        .arg(&repo)
                        .args(["stage", "v1.0.0", "--dist"])
                        .arg(&wheel_dir)
                        .env("TWOSTAGE_STAGING_UPLOAD_URL", server.upload_url())
                        .env("TWOSTAGE_STAGING_INDEX_URL", server.index_url())
                        .env("TEST_PYPI_TOKEN", TOKEN);
                    c
                }
                "twine upload" => {
                    let mut c = Command::new(tools.bin("twine"));
                    c.args([
                        "upload",
                        "--non-interactive",
                        "--disable-progress-bar",
                        "--repository-url",
                    ])
                    .arg(server.upload_url())
                    .args(["-u", "__token__", "-p", TOKEN])
                    .arg(&wheel);
                    c
                }
                _ => {
                    let mut c = Command::new(tools.bin("uv"));
                    c.args(["publish", "--no-progress", "--publish-url"])
                        .arg(server.upload_url())
                        .args(["--username", "__token__", "--password", TOKEN])
                        .arg(&wheel);
                    c
                }
            };
            eprintln!(
                "     Running {} (round {} of {rounds})",
                entry.tool,
                round + 1
            );
            let sample = measure(&mut command, &dir.join("run.log"), &root.join("home"))?;
            let served = std::fs::read_dir(&server.packages)?.count();
            if served != 1 {
                bail!(
                    "{} left {served} files on the index instead of 1",
                    entry.tool
                );
            }
            entry.samples.push(sample);
            if entry.tool == "twostage stage" {
                // From the upload's last byte to "the index serves every file with its hash",
                // as the note records it: the floor is one poll of the project page.
                let note = twostage::git::git_in(
                    &repo,
                    &[
                        "notes",
                        "--ref",
                        twostage::evidence::NOTES_REF,
                        "show",
                        "v1.0.0^{commit}",
                    ],
                )?;
                let doc: toml_edit::DocumentMut = note.parse()?;
                let waited = doc["staging"]["served-after-seconds"]
                    .as_float()
                    .unwrap_or_default();
                waits.push(Sample {
                    wall: Duration::from_secs_f64(waited),
                    max_rss_kb: 0,
                });
            }
            drop(server);
            std::fs::remove_dir_all(&dir).ok();
        }
    }
    series.push(Series {
        benchmark: "index wait".into(),
        tool: "after upload",
        samples: waits,
        bytes: 0,
    });
    Ok(series)
}
/// Branch-only pushes with and without the hooks, interleaved: the shims must decide in `sh`
/// that there is nothing to do, without starting cargo or the binary.
fn bench_hooks(root: &Path, exe: &Path, pushes: usize) -> Result<Vec<Series>> {
    eprintln!("     Pushing a branch {pushes} times with and without the hooks");
    let home = root.join("home");
    let mut series = Vec::new();
    let mut repos = Vec::new();
    for (tool, hooks) in [("git push", false), ("git push + hooks", true)] {
        let dir = root.join(format!("push-{hooks}"));
        let repo = scratch_repo(&dir.join("work"))?;
        twostage::git::git_in(&dir, &["init", "--quiet", "--bare", "origin.git"])?;
        twostage::git::git_in(
            &repo,
            &[
                "remote",
                "add",
                "origin",
                &dir.join("origin.git").display().to_string(),
            ],
        )?;
        if hooks {
            let mut install = Command::new(exe);
            install.arg("--repo").arg(&repo).args(["hooks", "install"]);
            measure(&mut install, &dir.join("install.log"), &home)?;
        }
        repos.push(repo);
        series.push(Series {
            benchmark: "branch push".into(),
            tool,
            samples: Vec::new(),
            bytes: 0,
        });
    }
    for i in 0..pushes {
        for (repo, entry) in repos.iter().zip(series.iter_mut()) {
            write_and_commit(repo, "NEWS", &format!("{i}\n"))?;
            let mut push = Command::new("git");
            push.args(["push", "--quiet", "origin", "main"])
                .current_dir(repo);
            entry
                .samples
                .push(measure(&mut push, &root.join("push.log"), &home)?);
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

/// The lifecycle of the sample, twostage against `HAND_MADE`, in two sandboxes.
fn bench_lifecycle(root: &Path, exe: &Path, rounds: usize) -> Result<Vec<Series>> {
    eprintln!("     Preparing two sandboxes for the whole lifecycle");
    let tools = testbed::tools()?;
    let ours = Sandbox::create(&root.join("lifecycle-twostage"), &testbed::sample_project())?;
    let theirs = Sandbox::create(&root.join("lifecycle-hand"), &testbed::sample_project())?;
    let mut ours_env = ours.env()?;
    // twostage's own default build (`uv build`, isolated, its cache warm after the first run),
    // with the build backend from the local production index, as the hand-made build gets it.
    ours_env.retain(|(k, _)| k != "TWOSTAGE_BUILD_COMMAND");
    ours_env.push(("UV_INDEX_URL".into(), ours.production.index_url().into()));
    let path_with_tools = std::env::join_paths(std::iter::once(tools.venv.join("bin")).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let run_in = |sandbox: &Sandbox,
                  env: &[(String, std::ffi::OsString)],
                  program: &Path,
                  args: &[&str],
                  extra: &[(&str, std::ffi::OsString)]|
     -> Result<Sample> {
        let mut c = Command::new(program);
        c.args(args).current_dir(&sandbox.repo);
        for (k, v) in env {
            c.env(k, v);
        }
        for (k, v) in extra {
            c.env(k, v);
        }
        measure(&mut c, &root.join("lifecycle.log"), &sandbox.home)
    };
    let exe_env = [("TWOSTAGE_BIN", exe.as_os_str().to_os_string())];
    run_in(&ours, &ours_env, exe, &["hooks", "install"], &exe_env)?;
    let envs = root.join("hand-envs");
    std::fs::create_dir_all(&envs)?;
    let hand_env: Vec<(&str, std::ffi::OsString)> = vec![
        ("PATH", path_with_tools.clone()),
        ("PIP_INDEX_URL", theirs.production.index_url().into()),
        ("STAGING_UPLOAD", theirs.staging.upload_url.clone().into()),
        ("STAGING_INDEX", theirs.staging.index_url.clone().into()),
        ("STAGING_USER", theirs.devpi.username.clone().into()),
        ("PRODUCTION_UPLOAD", theirs.production.upload_url().into()),
        ("PRODUCTION_INDEX", theirs.production.index_url().into()),
        ("TOKEN", testbed::SANDBOX_TOKEN.into()),
        ("ENVS", envs.clone().into()),
    ];
    let mut series = vec![
        Series {
            benchmark: "lifecycle".into(),
            tool: "twostage",
            samples: Vec::new(),
            bytes: 0,
        },
        Series {
            benchmark: "lifecycle".into(),
            tool: "by hand",
            samples: Vec::new(),
            bytes: 0,
        },
    ];
    for round in 0..rounds {
        let version = format!("0.1.{}", round + 1);
        let tag = format!("v{version}");
        eprintln!(
            "     Releasing {version} with twostage and by hand (round {} of {rounds})",
            round + 1
        );
        // Something new to release (not timed).
        write_and_commit(&ours.repo, "NEWS", &format!("{version}\n"))?;
        let started = Instant::now();
        let mut peak = 0;
        for args in [
            vec!["release", "patch"],
            vec!["push-follow-tags"],
            vec!["promote", tag.as_str()],
        ] {
            let sample = if args[0] == "push-follow-tags" {
                run_in(
                    &ours,
                    &ours_env,
                    Path::new("git"),
                    &["push", "--quiet", "--follow-tags", "origin", "main"],
                    &exe_env,
                )?
            } else {
                run_in(&ours, &ours_env, exe, &args, &exe_env)?
            };
            peak = peak.max(sample.max_rss_kb);
        }
        series[0].samples.push(Sample {
            wall: started.elapsed(),
            max_rss_kb: peak,
        });
        let sample = run_in(
            &theirs,
            &[],
            Path::new("sh"),
            &["-c", HAND_MADE, "hand-made", &version],
            &hand_env,
        )?;
        series[1].samples.push(sample);
    }
    Ok(series)
}

/// The sample adopted with `init --path`, released round after round through plain
/// `cargo xtask` + the hooks and through the adopted binary, alternating in one sandbox.
fn bench_adopted(root: &Path, exe: &Path, rounds: usize) -> Result<Vec<Series>> {
    eprintln!("     Preparing an adopted repository");
    let sandbox = Sandbox::create(&root.join("adopted"), &testbed::sample_project())?;
    let env = sandbox.env()?;
    // Kept between benchmark runs: the first compile of the adopted `xtask` is not what is
    // measured (it is reported below).
    let target = testbed::target_dir().join("twostage-adopted-target");
    // init writes the path relative to the repository.
    let twostage_crate = Path::new(env!("CARGO_MANIFEST_DIR")).join("../twostage");
    let command = |program: &Path, args: &[&str], with_bin: bool| {
        let mut c = Command::new(program);
        c.args(args)
            .current_dir(&sandbox.repo)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("TWOSTAGE_BIN");
        for (k, v) in &env {
            c.env(k, v);
        }
        if with_bin {
            c.env("TWOSTAGE_BIN", target.join("debug/xtask"));
        }
        c
    };
    let log = root.join("adopted.log");
    measure(
        &mut command(
            exe,
            &["init", ".", "--path", &twostage_crate.display().to_string()],
            false,
        ),
        &log,
        &sandbox.home,
    )?;
    write_and_commit(
        &sandbox.repo,
        "NEWS",
        "adopted
",
    )?;
    twostage::git::git_in(&sandbox.repo, &["push", "--quiet", "origin", "main"])?;
    eprintln!("     Compiling the adopted repository's `cargo xtask` (once, not measured)");
    let first = measure(
        &mut command(Path::new("cargo"), &["xtask", "hooks", "install"], false),
        &log,
        &sandbox.home,
    )?;
    eprintln!(
        "       First `cargo xtask` in the adopted repository: {:.1}s",
        first.wall.as_secs_f64()
    );
    let binary = target.join("debug/xtask");
    let mut series = vec![
        Series {
            benchmark: "adopted".into(),
            tool: "xtask binary",
            samples: Vec::new(),
            bytes: 0,
        },
        Series {
            benchmark: "adopted".into(),
            tool: "cargo xtask",
            samples: Vec::new(),
            bytes: 0,
        },
    ];
    for round in 0..rounds {
        for (entry, through_cargo) in series.iter_mut().zip([false, true]) {
            let version =
                twostage::git::git_in(&sandbox.repo, &["describe", "--tags", "--abbrev=0"])
                    .ok()
                    .map(|t| t.trim().trim_end_matches("-prod").to_string());
            write_and_commit(&sandbox.repo, "NEWS", &format!("{round} {through_cargo}\n"))?;
            eprintln!(
                "     Releasing through {} (round {} of {rounds}, after {})",
                entry.tool,
                round + 1,
                version.as_deref().unwrap_or("nothing")
            );
            let started = Instant::now();
            let mut peak = 0;
            let xtask = |args: &[&str]| {
                if through_cargo {
                    let mut all = vec!["xtask"];
                    all.extend_from_slice(args);
                    command(Path::new("cargo"), &all, false)
                } else {
                    command(&binary, args, true)
                }
            };
            let sample = measure(&mut xtask(&["release", "patch"]), &log, &sandbox.home)?;
            peak = peak.max(sample.max_rss_kb);
            let tag =
                twostage::git::git_in(&sandbox.repo, &["describe", "--tags", "--exact-match"])?;
            let push = ["push", "--quiet", "--follow-tags", "origin", "main"];
            let sample = measure(
                &mut command(Path::new("git"), &push, !through_cargo),
                &log,
                &sandbox.home,
            )?;
            peak = peak.max(sample.max_rss_kb);
            let sample = measure(
                &mut xtask(&["promote", tag.trim(), "--no-github"]),
                &log,
                &sandbox.home,
            )?;
            peak = peak.max(sample.max_rss_kb);
            entry.samples.push(Sample {
                wall: started.elapsed(),
                max_rss_kb: peak,
            });
        }
    }
    let ratio = series[1].median().as_secs_f64() / series[0].median().as_secs_f64();
    eprintln!(
        "       The adopted lifecycle through `cargo xtask` takes {ratio:.2}x the time through the binary"
    );
    Ok(series)
}

/// `twostage verify` of the sample's wheel, with uv and with pip, interleaved.
fn bench_verification(root: &Path, exe: &Path, rounds: usize) -> Result<Vec<Series>> {
    eprintln!("     Preparing the sample package, staged on a local devpi");
    let sandbox = Sandbox::create(&root.join("verify-sandbox"), &testbed::sample_project())?;
    let env = sandbox.env()?;
    let twostage = |args: &[&str], extra: &[(&str, &str)]| {
        let mut c = Command::new(exe);
        c.arg("--repo").arg(&sandbox.repo).args(args);
        for (k, v) in &env {
            c.env(k, v);
        }
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    };
    let log = root.join("verify-setup.log");
    measure(
        &mut twostage(&["release", "patch"], &[]),
        &log,
        &sandbox.home,
    )?;
    measure(
        &mut twostage(&["stage", "v0.1.1"], &[]),
        &log,
        &sandbox.home,
    )?;
    let mut series: Vec<Series> = ["uv", "pip"]
        .into_iter()
        .map(|installer| Series {
            benchmark: "verify 1 wheel".into(),
            tool: if installer == "uv" {
                "twostage (uv)"
            } else {
                "twostage (pip)"
            },
            samples: Vec::new(),
            bytes: 0,
        })
        .collect();
    for round in 0..rounds {
        for entry in series.iter_mut() {
            let installer = if entry.tool.contains("uv") {
                "uv"
            } else {
                "pip"
            };
            eprintln!(
                "     Running verify with {installer} (round {} of {rounds})",
                round + 1
            );
            let mut command = twostage(
                &["verify", "v0.1.1"],
                &[
                    ("TWOSTAGE_VERIFY_INSTALLER", installer),
                    ("TWOSTAGE_VERIFY_ARTIFACTS", "wheel"),
                ],
            );
            entry
                .samples
                .push(measure(&mut command, &log, &sandbox.home)?);
        }
    }
    Ok(series)
}

/// Runs a command to its end; wall time and peak RSS of that process (Linux `wait4`).
fn measure(command: &mut Command, log: &Path, home: &Path) -> Result<Sample> {
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

fn report(series: &[Series], json: bool) {
    // Each benchmark's first tool is its baseline.
    let base_of = |benchmark: &str| {
        series
            .iter()
            .find(|s| s.benchmark == benchmark)
            .map(Series::median)
            .unwrap_or_default()
    };
    if json {
        let rows: Vec<serde_json::Value> = series
            .iter()
            .map(|s| {
                let walls: Vec<f64> = s.samples.iter().map(|x| x.wall.as_secs_f64()).collect();
                serde_json::json!({
                    "benchmark": s.benchmark,
                    "tool": s.tool,
                    "median_s": s.median().as_secs_f64(),
                    "min_s": walls.iter().cloned().fold(f64::INFINITY, f64::min),
                    "max_s": walls.iter().cloned().fold(0.0, f64::max),
                    "peak_rss_mb": s.samples.iter().map(|x| x.max_rss_kb).max().unwrap_or(0) as f64 / 1024.0,
                    "throughput_mb_s": s.bytes as f64 / 1e6 / s.median().as_secs_f64(),
                    "ratio_to_first": s.median().as_secs_f64() / base_of(&s.benchmark).as_secs_f64(),
                    "runs": walls,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<16} {:<16} {:>9} {:>9} {:>9} {:>10} {:>11} {:>10}",
        "benchmark", "tool", "median", "min", "max", "peak RSS", "throughput", "vs first"
    );
    for s in series {
        let walls: Vec<Duration> = s.samples.iter().map(|x| x.wall).collect();
        let min = walls.iter().min().copied().unwrap_or_default();
        let max = walls.iter().max().copied().unwrap_or_default();
        let rss = s.samples.iter().map(|x| x.max_rss_kb).max().unwrap_or(0) as f64 / 1024.0;
        let _ = writeln!(
            out,
            "{:<16} {:<16} {:>8.3}s {:>8.3}s {:>8.3}s {:>7.1} MB {:>11} {:>9.2}x",
            s.benchmark,
            s.tool,
            s.median().as_secs_f64(),
            min.as_secs_f64(),
            max.as_secs_f64(),
            rss,
            if s.bytes == 0 {
                "-".to_string()
            } else {
                format!(
                    "{:.0} MB/s",
                    s.bytes as f64 / 1e6 / s.median().as_secs_f64()
                )
            },
            s.median().as_secs_f64() / base_of(&s.benchmark).as_secs_f64()
        );
    }
}

/// A valid wheel holding `payload` bytes of incompressible data, stored uncompressed.
fn make_wheel(dir: &Path, payload: u64) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("benchpkg-1.0.0-py3-none-any.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path)?);
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(payload > u32::MAX as u64);
    zip.start_file("benchpkg/__init__.py", stored)?;
    zip.write_all(b"")?;
    zip.start_file("benchpkg/blob.bin", stored)?;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = payload;
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
        left -= n as u64;
    }
    zip.start_file("benchpkg-1.0.0.dist-info/METADATA", stored)?;
    zip.write_all(b"Metadata-Version: 2.1\nName: benchpkg\nVersion: 1.0.0\nSummary: A large wheel for benchmarks\n")?;
    zip.start_file("benchpkg-1.0.0.dist-info/WHEEL", stored)?;
    zip.write_all(b"Wheel-Version: 1.0\nGenerator: twostage-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")?;
    zip.start_file("benchpkg-1.0.0.dist-info/RECORD", stored)?;
    zip.write_all(b"")?;
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
    twostage::git::git_in(dir, &["init", "--quiet", "-b", "main"])?;
    write_and_commit(dir, "README", "benchpkg\n")?;
    git_as_bench(dir, &["tag", "-a", "v1.0.0", "-m", "Release v1.0.0"])?;
    Ok(dir.to_path_buf())
}

/// `git` with the benchmark's own identity (the machine may have none configured).
fn git_as_bench(repo: &Path, args: &[&str]) -> Result<String> {
    let mut all = vec![
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.invalid",
    ];
    all.extend_from_slice(args);
    twostage::git::git_in(repo, &all)
}

/// Writes a file and commits everything (not timed: setup between measured runs).
fn write_and_commit(repo: &Path, file: &str, text: &str) -> Result<()> {
    std::fs::write(repo.join(file), text)?;
    twostage::git::git_in(repo, &["add", "-A"])?;
    git_as_bench(repo, &["commit", "--quiet", "-m", "Change"])?;
    Ok(())
}

fn reset_release_state(repo: &Path) -> Result<()> {
    let state = repo.join(".git/twostage");
    if state.exists() {
        std::fs::remove_dir_all(&state)?;
    }
    let _ = twostage::git::git_in(repo, &["update-ref", "-d", twostage::evidence::NOTES_REF]);
    Ok(())
}
