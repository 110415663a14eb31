//! The command line: every command's arguments in one place, and the dispatch to the stages.
//! Exit codes: 0 success, 1 failure, 2 usage or configuration error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::git::Repo;
use crate::version::Bump;
use crate::{output, release, stage, UsageError};

/// Two-stage, verified releases of Python packages: tag, build once, stage to TestPyPI,
/// verify, then promote the same bytes to PyPI.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    /// Act on the git repository that contains this directory (default: the current one).
    #[arg(long, global = true, value_name = "DIR")]
    repo: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bump the version, roll the changelog, commit `Release vX.Y.Z` and tag it.
    ///
    /// Every check runs first (clean tree, release branch, not behind upstream, tag free,
    /// version not on either index) and every problem is reported together; nothing is
    /// changed unless all pass.
    Release {
        /// `major`, `minor`, `patch`, `rc`, `beta`, `alpha`, or an explicit version
        /// (`1.5.0`, `1.5.0-rc.1` or `1.5.0rc1`).
        #[arg(value_name = "LEVEL|VERSION", value_parser = parse_bump)]
        bump: Bump,
        /// Print the plan and the diff of every file; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Push the branch and the tag with `git push --atomic` afterwards.
        #[arg(long)]
        push: bool,
        /// Release even with uncommitted changes to tracked files.
        #[arg(long)]
        allow_dirty: bool,
        /// Skip the checks that need the network (the remote's refs and both indexes).
        #[arg(long)]
        offline: bool,
    },
    /// Build the tag once (or take `--dist`), upload it to the staging index, wait until the
    /// index serves every file with its sha256, and record it in the release note.
    ///
    /// What the pre-push hook runs for a release tag. Rerunning it is a no-op success.
    Stage {
        /// The release tag, e.g. `v1.4.3`.
        tag: String,
        /// Stage the wheels and sdist in this folder (built elsewhere, e.g. a CI matrix)
        /// instead of building.
        #[arg(long, value_name = "DIR")]
        dist: Option<PathBuf>,
    },
    /// Install what the index serves into fresh environments and run the smoke tests again;
    /// record the result in the release note.
    Verify {
        /// The release tag, e.g. `v1.4.3`.
        tag: String,
        /// Verify against the production index (after promotion) instead of staging.
        #[arg(long)]
        production: bool,
    },
    /// Measure twostage against the tools maintainers use instead (twine, uv), on local
    /// indexes, interleaved; prints medians and ratios.
    Bench {
        /// One round instead of three.
        #[arg(long)]
        quick: bool,
        /// Print the results as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Size of the wheel in the upload benchmark, in MB.
        #[arg(long, default_value_t = 200, value_name = "MB")]
        upload_mb: u64,
    },
}

fn parse_bump(text: &str) -> Result<Bump, String> {
    text.parse::<Bump>().map_err(|e| format!("{e:#}"))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            output::error(format!("{error:#}"));
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // The benchmark makes its own repositories: it needs none around it.
    if let Command::Bench {
        quick,
        json,
        upload_mb,
    } = cli.command
    {
        return crate::bench::run(&crate::bench::Options {
            quick,
            json,
            upload_mb,
        });
    }
    let dir = match cli.repo {
        Some(dir) => dir,
        None => std::env::current_dir()?,
    };
    let repo = Repo::discover(&dir)?;
    let config = Config::load(repo.root())?;
    match cli.command {
        Command::Release {
            bump,
            dry_run,
            push,
            allow_dirty,
            offline,
        } => release::run(
            &repo,
            &config,
            &release::Options {
                bump,
                dry_run,
                push,
                allow_dirty,
                offline,
            },
        ),
        Command::Stage { tag, dist } => stage::run(&repo, &config, &tag, dist.as_deref()),
        Command::Verify { tag, production } => {
            let source = if production {
                crate::verify::Source::Production
            } else {
                crate::verify::Source::Staging
            };
            crate::verify::run(&repo, &config, &tag, source)
        }
        Command::Bench { .. } => unreachable!("handled above"),
    }
}
