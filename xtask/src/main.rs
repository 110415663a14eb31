//! This repository's `cargo xtask`: every release command of `twostage` (what an adopted
//! repository's xtask offers), plus this repository's own chores, `demo` and `bench`, in the
//! manner of rust-analyzer's xtask.

mod bench;
mod demo;

use std::process::ExitCode;

use clap::{Args, FromArgMatches};

/// The whole lifecycle of the sample package against local registries.
#[derive(Args)]
struct DemoArgs {
    /// Keep the scratch repository afterwards.
    #[arg(long)]
    keep: bool,
}

/// Measure twostage against the tools maintainers use instead (twine, uv), on local indexes,
/// interleaved; prints medians and ratios.
#[derive(Args)]
struct BenchArgs {
    /// One round instead of three, and 10 branch pushes instead of 40.
    #[arg(long)]
    quick: bool,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Size of the wheel in the upload benchmark, in MB.
    #[arg(long, default_value_t = 200, value_name = "MB")]
    upload_mb: u64,
    /// Run only this benchmark (repeatable): upload, set, verify, matrix, hooks, lifecycle,
    /// adopted.
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
}

/// The benchmark's driver of twostage's set upload (`bench --only set`), hidden: no command
/// of the product takes several projects' files yet.
#[derive(Args)]
struct SetUploadArgs {
    /// The staging index's simple API (PEP 503/691).
    #[arg(long)]
    index_url: String,
    /// The staging index's upload URL.
    #[arg(long)]
    upload_url: String,
    /// One folder of wheels and sdists per project.
    #[arg(required = true)]
    dirs: Vec<std::path::PathBuf>,
}

fn main() -> ExitCode {
    twostage::cli::prepare();
    let matches = twostage::cli::command()
        .subcommand(DemoArgs::augment_args(clap::Command::new("demo").about(
            "The whole lifecycle of the sample package against local registries",
        )))
        .subcommand(BenchArgs::augment_args(clap::Command::new("bench").about(
            "Measure twostage against the tools maintainers use instead, on local indexes",
        )))
        .subcommand(
            SetUploadArgs::augment_args(clap::Command::new("bench-set-upload"))
                .hide(true)
                .about("Put several projects' files on a staging index as one set (the bench's)"),
        )
        .get_matches();
    let result = match matches.subcommand() {
        Some(("demo", args)) => DemoArgs::from_arg_matches(args)
            .map_err(anyhow::Error::from)
            .and_then(|a| demo::run(&demo::Options { keep: a.keep })),
        Some(("bench", args)) => BenchArgs::from_arg_matches(args)
            .map_err(anyhow::Error::from)
            .and_then(|a| {
                bench::run(&bench::Options {
                    quick: a.quick,
                    json: a.json,
                    upload_mb: a.upload_mb,
                    only: a.only,
                })
            }),
        Some(("bench-set-upload", args)) => SetUploadArgs::from_arg_matches(args)
            .map_err(anyhow::Error::from)
            .and_then(|a| bench::set_upload(&a.index_url, &a.upload_url, &a.dirs)),
        _ => return twostage::cli::run_matches(&matches),
    };
    twostage::cli::exit(result)
}
