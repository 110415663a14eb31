//! The release-set benchmark (issue 23, point 6): a set of several packages' files, wheels
//! sized like cibuildwheel's output and an sdist each, put on a fresh local pypiserver through
//! the fault proxy, which holds every request 150 ms (an index across the internet): twostage's
//! set upload (`Index::ensure_set`: every file checked before and after, up to
//! `UPLOADS_IN_FLIGHT` uploads at once, one wait for the whole set) against `twine upload` and
//! `uv publish` run package by package, as a maintainer runs them today. The index is served by
//! one pypiserver process per core (`workers`), for all three. Interleaved rounds; the peak
//! resident memory of each run, and of twostage's set of one package beside the whole set.
//!
//! No command of the product takes several projects' already-built files (`stage TAG…` builds
//! each tag, or takes its frozen files), so twostage's side runs the hidden `cargo xtask bench-set-upload`: the files of each folder
//! hashed as `stage` freezes them (size, sha256, blake2b-256), then `Index::ensure_set` on a
//! staging index, the function `stage` calls, in a process of its own.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use super::{make_wheel_as, measure, Bench, Sample, Series, TOKEN};
use testbed::{FaultProxy, PypiServer};
use twostage::config::Config;
use twostage::core::frozen::Frozen;
use twostage::core::index::{Index, Role};
use twostage::core::upload::{Member, UPLOADS_IN_FLIGHT};
use twostage::resources::evidence::ArtifactRecord;
use twostage::resources::filename::DistFilename;

/// How many packages, wheels per package and bytes per wheel.
pub struct Shape {
    pub packages: usize,
    pub wheels: usize,
    pub wheel_bytes: u64,
}

/// 4 packages × (12 wheels of 3 MB + an sdist): a workspace released with cibuildwheel.
pub const FULL: Shape = Shape {
    packages: 4,
    wheels: 12,
    wheel_bytes: 3_000_000,
};

/// `bench --quick`: 2 packages × (3 wheels of 200 kB + an sdist).
pub const QUICK: Shape = Shape {
    packages: 2,
    wheels: 3,
    wheel_bytes: 200_000,
};

/// What the fault proxy holds every request, in seconds: a round trip to an index far away.
const HOLD_SECONDS: f64 = 0.15;

/// How many processes serve the index: one per core. PyPI stores uploads side by side; one
/// pypiserver process parses one multipart body at a time under its interpreter's lock (about
/// 25 ms of CPU per 3 MB wheel, 1.3 s for the set), which would measure the local server
/// rather than the uploaders. Measured on 2 cores: 2 workers beat 4 and 8 (the proxy and the
/// uploader share the cores).
fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// cibuildwheel's wheels of one project: CPython 3.10 to 3.13 on manylinux x86_64, manylinux
/// aarch64 and musllinux x86_64 (https://cibuildwheel.pypa.io/en/stable/options/#build-skip).
const PYTHONS: [&str; 4] = ["cp310", "cp311", "cp312", "cp313"];
const PLATFORMS: [&str; 3] = [
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "musllinux_1_2_x86_64",
];

impl Shape {
    fn files(&self) -> usize {
        self.wheels + 1
    }

    fn name(&self, packages: usize) -> String {
        format!(
            "set {packages}x{} {:.1}MB",
            self.files(),
            self.wheel_bytes as f64 / 1e6
        )
    }
}

/// The set's files, one folder per package (`benchset0`, …): its wheels and its sdist.
fn make_set(root: &Path, shape: &Shape) -> Result<Vec<PathBuf>> {
    let tags: Vec<String> = PYTHONS
        .iter()
        .flat_map(|py| PLATFORMS.iter().map(move |p| format!("{py}-{py}-{p}")))
        .collect();
    if shape.wheels > tags.len() {
        bail!("at most {} wheels per package", tags.len());
    }
    let mut dirs = Vec::new();
    for package in 0..shape.packages {
        let name = format!("benchset{package}");
        let dir = root.join(&name);
        for tag in &tags[..shape.wheels] {
            make_wheel_as(&dir, &name, tag, shape.wheel_bytes)?;
        }
        make_sdist(&dir, &name)?;
        dirs.push(dir);
    }
    Ok(dirs)
}

/// A small valid sdist of `name` 1.0.0: `PKG-INFO` and `pyproject.toml` in its top folder.
fn make_sdist(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(format!("{name}-1.0.0.tar.gz"));
    let gz =
        flate2::write::GzEncoder::new(std::fs::File::create(&path)?, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let pkg_info = format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\n");
    let pyproject = format!("[project]\nname = \"{name}\"\nversion = \"1.0.0\"\n");
    for (member, body) in [("PKG-INFO", pkg_info), ("pyproject.toml", pyproject)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(
            &mut header,
            format!("{name}-1.0.0/{member}"),
            body.as_bytes(),
        )?;
    }
    tar.into_inner()?.finish()?.flush()?;
    Ok(path)
}

/// The uploaders of the set, in their rows' order.
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
            Uploader::Twostage => "twostage set",
            Uploader::Twine => "twine upload",
            Uploader::Uv => "uv publish",
        }
    }

    /// The upload of every folder of `dirs` through `proxy`: twostage's as one set, the others
    /// one package after another (`"$d"/*`, as a maintainer's release script runs them).
    fn command(
        self,
        exe: &Path,
        dirs: &[PathBuf],
        proxy: &FaultProxy,
    ) -> Result<std::process::Command> {
        let sh = Shell::new()?;
        let url = &proxy.url;
        let command = match self {
            Uploader::Twostage => {
                let index = format!("{url}simple/");
                cmd!(
                    sh,
                    "{exe} bench-set-upload --index-url {index} --upload-url {url} {dirs...}"
                )
                .env("TEST_PYPI_TOKEN", TOKEN)
            }
            Uploader::Twine => {
                let twine = testbed::tools()?.bin("twine");
                let script = r#"for d in "$@"; do "$TWINE" upload --non-interactive --disable-progress-bar --repository-url "$URL" -u __token__ -p "$TOKEN" "$d"/* || exit 1; done"#;
                cmd!(sh, "sh -c {script} sh {dirs...}").env("TWINE", twine)
            }
            Uploader::Uv => {
                let uv = testbed::tools()?.bin("uv");
                let script = r#"for d in "$@"; do "$UV" publish --no-progress --publish-url "$URL" --username __token__ --password "$TOKEN" "$d"/* || exit 1; done"#;
                cmd!(sh, "sh -c {script} sh {dirs...}").env("UV", uv)
            }
        };
        Ok(command.env("URL", url).env("TOKEN", TOKEN).into())
    }
}

/// The set uploaded by each uploader in turn, each run to a fresh pypiserver behind a fresh
/// fault proxy; and twostage's upload of one package's files, for its memory beside the set's.
pub fn bench_set(bench: &Bench, shape: &Shape) -> Result<Vec<Series>> {
    let files = shape.packages * shape.files();
    eprintln!(
        "     Preparing a set of {} packages x {} files ({:.1} MB wheels)",
        shape.packages,
        shape.files(),
        shape.wheel_bytes as f64 / 1e6
    );
    let dirs = make_set(&bench.root.join("set"), shape)?;
    let bytes: u64 = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten())
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let mut series: Vec<Series> = Uploader::ALL
        .into_iter()
        .map(|uploader| Series {
            bytes,
            ..Series::new(shape.name(shape.packages), uploader.tool())
        })
        .collect();
    let mut one = Series::new(shape.name(1), Uploader::Twostage.tool());
    let mut in_flight = 0;
    for round in 0..bench.rounds {
        for (uploader, entry) in Uploader::ALL.into_iter().zip(series.iter_mut()) {
            eprintln!(
                "     Uploading the set with {} (round {} of {})",
                entry.tool,
                round + 1,
                bench.rounds
            );
            let run = run_once(bench, uploader, &dirs, files, &format!("{round}"))?;
            entry.samples.push(run.0);
            if let Uploader::Twostage = uploader {
                in_flight = in_flight.max(run.1);
            }
        }
        let single = run_once(
            bench,
            Uploader::Twostage,
            &dirs[..1],
            shape.files(),
            &format!("{round}-one"),
        )?;
        one.samples.push(single.0);
    }
    let ratio = |i: usize| series[0].median().as_secs_f64() / series[i].median().as_secs_f64();
    eprintln!(
        "       The set of {files} files: twostage takes {:.2}x twine's time and {:.2}x uv's, \
         at most {in_flight} uploads in flight (bound {UPLOADS_IN_FLIGHT}); peak RSS {:.1} MB, \
         {:.1} MB for one package's {} files",
        ratio(1),
        ratio(2),
        series[0].peak_rss_mb(),
        one.peak_rss_mb(),
        shape.files()
    );
    series.push(one);
    Ok(series)
}

/// One upload of `dirs` to a fresh pypiserver behind a fresh fault proxy, checked on the
/// server's disk (`expected` files); the run, and the most uploads the proxy saw in flight.
fn run_once(
    bench: &Bench,
    uploader: Uploader,
    dirs: &[PathBuf],
    expected: usize,
    round: &str,
) -> Result<(Sample, usize)> {
    let dir = bench
        .root
        .join(format!("set-{round}-{}", uploader.tool().replace(' ', "-")));
    let server = PypiServer::start_workers(&dir.join("index"), "__token__", TOKEN, workers())?;
    let proxy = FaultProxy::start(&dir.join("proxy"), &server.root_url)?;
    proxy.set(&serde_json::json!({ "hold_seconds": HOLD_SECONDS }))?;
    let command = uploader.command(&bench.exe, dirs, &proxy)?;
    let sample = measure(command, &dir.join("run.log"), &bench.home)?;
    let served = std::fs::read_dir(&server.packages)?.count();
    if served != expected {
        bail!(
            "{} left {served} files on the index instead of {expected}",
            uploader.tool()
        );
    }
    if std::env::var_os("TWOSTAGE_BENCH_KEEP").is_some() {
        let log = std::fs::read_to_string(dir.join("run.log")).unwrap_or_default();
        let last = log.lines().last().unwrap_or_default();
        eprintln!("       {}: {}", uploader.tool(), last.trim());
    }
    let in_flight = proxy
        .events()
        .iter()
        .filter_map(|e| e.strip_prefix("inflight ")?.parse().ok())
        .max()
        .unwrap_or(0);
    drop(proxy);
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
    Ok((sample, in_flight))
}

/// `cargo xtask bench-set-upload` (hidden): the files of each folder, one project's release
/// each, hashed as a freeze records them, put on the staging index at `index_url` /
/// `upload_url` as one set (`Index::ensure_set`), with the token in `TEST_PYPI_TOKEN`.
pub fn set_upload(index_url: &str, upload_url: &str, dirs: &[PathBuf]) -> Result<()> {
    let text = format!(
        "[staging]\nindex-url = \"{index_url}\"\nupload-url = \"{upload_url}\"\n\
         token-env = \"TEST_PYPI_TOKEN\"\ntrusted-publishing = \"never\"\n"
    );
    let config = Config::parse(&text, "bench-set-upload", Vec::new())?;
    let started = std::time::Instant::now();
    let frozen = dirs.iter().map(|d| hashed(d)).collect::<Result<Vec<_>>>()?;
    let hashing = started.elapsed();
    let members: Vec<Member> = frozen
        .iter()
        .map(|(project, frozen)| Member { project, frozen })
        .collect();
    let staging = Index::new(Role::Staging, &config);
    staging.credentials()?;
    let set = staging.ensure_set(&members)?;
    let uploaded: usize = set.members.iter().map(|m| m.uploaded.len()).sum();
    let total = started.elapsed();
    eprintln!(
        "   Uploaded {uploaded} files of {} projects: hashed in {:.2}s, checked and uploaded \
         in {:.2}s, served after {:.2}s more",
        members.len(),
        hashing.as_secs_f64(),
        (total - hashing - set.waited).as_secs_f64(),
        set.waited.as_secs_f64()
    );
    Ok(())
}

/// A folder's wheels and sdists with their sizes and digests, and their project's name.
fn hashed(dir: &Path) -> Result<(String, Frozen)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| DistFilename::parse(n).is_some())
        .collect();
    names.sort();
    let digests = twostage::resources::index::concurrently(&names, 2, |name| {
        twostage::resources::dist::digests(&dir.join(name))
    });
    let mut artifacts = Vec::new();
    for (filename, digest) in names.iter().zip(digests) {
        let (size, sha256, blake2_256) = digest.context("interrupted")??;
        artifacts.push(ArtifactRecord {
            filename: filename.clone(),
            size,
            sha256,
            blake2_256,
        });
    }
    let first = names.first().context("a folder without wheels or sdists")?;
    let project = DistFilename::parse(first)
        .map(|f| twostage::resources::dist::normalize_name(f.distribution()))
        .context("a file name that is not a distribution's")?;
    Ok((
        project,
        Frozen {
            dir: dir.to_path_buf(),
            artifacts,
        },
    ))
}
