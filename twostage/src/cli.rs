//! The command line: every command's arguments in one place, and the dispatch to the stages.
//! Exit codes: 0 success, 1 failure, 2 usage or configuration error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::Config;
use crate::error::UsageError;
use crate::output;
use crate::resources::git::Repo;
use crate::steps::{release, stage};
use crate::version::Bump;

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
    /// changed unless all pass. In a repository of several packages, name them with
    /// `--package` or pick the changed ones with `--changed`: one commit, a tag each
    /// (`<name>-v<version>`).
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
        /// In a repository of several packages: release this one (repeatable); they share
        /// one release commit, each with its own bump, changelog roll and tag.
        #[arg(long = "package", value_name = "NAME", conflicts_with = "changed")]
        packages: Vec<String>,
        /// In a repository of several packages: release every package with commits touching
        /// its folder (or a path it declares) since its last release tag; says which it skips.
        #[arg(long)]
        changed: bool,
    },
    /// Build the tag once (or take `--dist`), upload it to the staging index, wait until the
    /// index serves every file with its sha256, and record it in the release note.
    ///
    /// What the pre-push hook runs for a release tag. Several packages' tags are staged as the
    /// hook stages a push of them: one set, their files uploaded together and waited for once,
    /// each verified after the packages it requires. Rerunning it is a no-op success.
    Stage {
        /// The release tag, e.g. `v1.4.3`; several are staged as one set, as a push of them
        /// is (`acme-core-v1.2.0 acme-cli-v0.4.0` in a repository of several packages).
        #[arg(required = true, value_name = "TAG")]
        tags: Vec<String>,
        /// Stage the wheels and sdist in this folder (built elsewhere, e.g. a CI matrix)
        /// instead of building.
        #[arg(long, value_name = "DIR")]
        dist: Option<PathBuf>,
        /// Upload and wait until staging serves every file, then stop: no verification (CI
        /// verifies in jobs of their own, docs/ci.md).
        #[arg(long, conflicts_with = "build_only")]
        no_verify: bool,
        /// With `--no-verify`: write the staging record to FILE for `record` instead of the
        /// release note, and push nothing.
        #[arg(long, value_name = "FILE", requires = "no_verify")]
        results: Option<PathBuf>,
        /// Only build (or take the frozen files) and copy them into DIR: no credential is
        /// read and nothing is uploaded.
        #[arg(long, value_name = "DIR", conflicts_with = "dist")]
        build_only: Option<PathBuf>,
    },
    /// Install what the index serves into fresh environments and run the smoke tests again;
    /// record the result in the release note.
    Verify {
        /// The release tag, e.g. `v1.4.3`.
        tag: String,
        /// Verify against the production index (after promotion) instead of staging.
        #[arg(long)]
        production: bool,
        /// Write the result to FILE for `record` instead of the release note, and push
        /// nothing.
        #[arg(long, value_name = "FILE")]
        results: Option<PathBuf>,
        /// With `--results`: verify the frozen files in DIR (as `stage --dist` checks them)
        /// instead of the files the release note names.
        #[arg(long, value_name = "DIR", requires = "results")]
        dist: Option<PathBuf>,
    },
    /// Put results written by `stage --results` and `verify --results` into the release note
    /// and push it; results about other bytes than the frozen ones are refused.
    Record {
        /// The release tag, e.g. `v1.4.3`.
        tag: String,
        /// The results files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The frozen files to check the results against (else the note's, else the staging
        /// results').
        #[arg(long, value_name = "DIR")]
        dist: Option<PathBuf>,
    },
    /// Promote a verified release: the same bytes to production, the `-prod` tag, the GitHub
    /// release.
    ///
    /// The gate first: the release note must say exactly these files were staged and
    /// verified, and staging must still serve them; otherwise nothing changes. Rerunning it
    /// after an interruption finishes the job.
    Promote {
        /// The release tag, e.g. `v1.4.3` (or `v1.4.3-prod`).
        tag: String,
        /// Print the plan and every problem; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not push the `-prod` tag or the notes.
        #[arg(long)]
        no_push: bool,
        /// Do not create or update the GitHub release.
        #[arg(long)]
        no_github: bool,
    },
    /// Each release's state, from the release notes and what the indexes serve.
    Status {
        /// Only this release tag.
        tag: Option<String>,
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check a promoted release end to end from what anyone can read, with no credential:
    /// the tags name the note's commit, production serves exactly the note's files, staging
    /// served them, every file passed verification, the GitHub release attaches them.
    ///
    /// Reads the remote's tags and release notes, the indexes' public pages and GitHub's
    /// public API; sends no token. Exit 1 names each broken link (docs/audit.md).
    Audit {
        /// The release tag, e.g. `v1.4.3` (or its `-prod` tag).
        tag: String,
        /// Print the links as JSON on stdout (`link`, `result`: pass, fail or skip, `details`).
        #[arg(long)]
        json: bool,
    },
    /// Install, remove or inspect the git hooks.
    Hooks {
        #[command(subcommand)]
        action: HooksAction,
    },
    /// The entry points the hook shims call.
    #[command(hide = true)]
    Hook {
        #[command(subcommand)]
        hook: HookCall,
    },
    /// Adopt twostage in another repository: the `cargo xtask` alias, an `xtask` crate, the
    /// workspace, the hook shims and `[tool.twostage]` in `pyproject.toml` (`release.toml`
    /// without one) filled in from the project.
    Init {
        /// The repository to adopt twostage in.
        dir: PathBuf,
        /// Depend on twostage from this git URL instead of the published crate.
        #[arg(long, value_name = "URL", conflicts_with = "path")]
        git: Option<String>,
        /// Depend on the twostage checkout at DIR instead of the published crate (written
        /// relative to the adopted repository; it builds only where that path exists).
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// Overwrite files that differ.
        #[arg(long)]
        force: bool,
        /// Also write a CI workflow that stages and promotes on tag pushes (`github`).
        #[arg(long, value_name = "CI")]
        ci: Option<String>,
        /// With `--ci github`: build native wheels on many machines and stage them as one set.
        #[arg(long, requires = "ci")]
        native: bool,
    },
    /// Rehearse the whole lifecycle of this project on local indexes: release, stage, verify,
    /// promote and status in a throwaway clone.
    ///
    /// The committed state (HEAD) is cloned under `target/twostage-rehearse/` with a scratch
    /// bare origin and its own hooks; staging (devpi) and production (devpi mirroring PyPI
    /// when it is reachable, else pypiserver with a local seed of build backends) run on
    /// 127.0.0.1 and stop when it ends. Your repository, its remote, tags, notes and hooks,
    /// TestPyPI and PyPI stay untouched, and your tokens are withheld from everything it runs.
    /// Uncommitted changes are not part of the rehearsal.
    Rehearse {
        /// `major`, `minor`, `patch`, `rc`, `beta`, `alpha`, or an explicit version.
        #[arg(value_name = "LEVEL|VERSION", default_value = "patch", value_parser = parse_level)]
        level: String,
        /// Keep the scratch folder (clone, origin, index data and logs) afterwards.
        #[arg(long)]
        keep: bool,
        /// Do not mirror PyPI: production serves only a local seed of build backends (also
        /// `TWOSTAGE_REHEARSE_OFFLINE=1`).
        #[arg(long)]
        offline: bool,
    },
}

#[derive(Subcommand)]
enum HooksAction {
    /// Put the shims in place (chaining any hook already there); running it twice changes nothing.
    Install,
    /// Remove the shims and restore the hooks they chained.
    Uninstall,
    /// Say which hooks are installed and whether each is current.
    Status,
}

#[derive(Subcommand)]
enum HookCall {
    /// Called by the pre-push shim with the ref lines on stdin.
    PrePush { remote: String, url: String },
    /// Called after a release tag is made.
    PostTag { tag: String },
}

fn parse_bump(text: &str) -> Result<Bump, String> {
    text.parse::<Bump>().map_err(|e| format!("{e:#}"))
}

/// A bump level checked like `release`'s, kept as written to pass on to `release`.
fn parse_level(text: &str) -> Result<String, String> {
    parse_bump(text).map(|_| text.to_string())
}

pub fn main() -> ExitCode {
    prepare();
    run_matches(&command().get_matches())
}

/// What every `cargo xtask` does first, before any thread exists and before any token is
/// read: make this process unreadable to other processes of the user, forget what `cargo run`
/// set (so nothing started from here makes cargo rebuild) and let the hooks fired from here run
/// this very binary.
pub fn prepare() {
    forbid_reading_by_others();
    crate::cargo_env::forget();
    crate::steps::hooks::fire_hooks_with_this_binary();
}

/// Makes `/proc/<our pid>/environ` (and `mem`, `maps`, ptrace) closed to every process
/// without `CAP_SYS_PTRACE`, the children this tool starts included: the tokens in this
/// process's environment cannot be read back by a build backend or a smoke command running as
/// the same user, as `ssh-agent` does for its keys (prctl(2), `PR_SET_DUMPABLE`; proc(5):
/// such files are then owned by root). Children are unaffected: execve(2) makes every new
/// program dumpable again. It also turns off core dumps of this process, which would hold the
/// tokens too. Our own `/proc/self` stays readable to us. Linux only; elsewhere a no-op.
fn forbid_reading_by_others() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) with PR_SET_DUMPABLE takes one integer argument and touches no memory
    // of ours; a failure (never expected) leaves the process as it was.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// The command line, for a repository's own xtask to add its own tasks to (this repository
/// adds `demo` and `bench`).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Runs the release command that `matches` (from [`command`]) names.
pub fn run_matches(matches: &clap::ArgMatches) -> ExitCode {
    match Cli::from_arg_matches(matches) {
        Ok(cli) => {
            crate::interrupt::install();
            exit(run(cli))
        }
        Err(error) => error.exit(),
    }
}

/// The exit code of a command's result, its error printed: 2 for a usage or configuration
/// error, 1 for any other failure.
pub fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
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
    match cli.command {
        // These make or name their own repositories: they need none around them.
        Command::Rehearse {
            level,
            keep,
            offline,
        } => crate::steps::rehearse::run(
            &repo_dir(cli.repo)?,
            &crate::steps::rehearse::Options {
                level,
                keep,
                offline,
            },
        ),
        Command::Init {
            dir,
            git,
            path,
            force,
            ci,
            native,
        } => crate::steps::init::run(
            &dir,
            &crate::steps::init::Options {
                git,
                path,
                force,
                ci,
                native,
            },
        ),
        command => in_repository(cli.repo, command),
    }
}

/// `--repo`, or the current directory.
fn repo_dir(repo: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match repo {
        Some(dir) => Ok(dir),
        None => Ok(std::env::current_dir()?),
    }
}

/// The commands that act on the repository around `dir`, with its configuration.
fn in_repository(dir: Option<PathBuf>, command: Command) -> anyhow::Result<()> {
    if let Command::Hook { .. } = command {
        crate::steps::hooks::clear_git_env();
    }
    let repo = Repo::discover(&repo_dir(dir)?)?;
    let config = configuration(&repo, &command)?;
    match command {
        Command::Release {
            bump,
            dry_run,
            push,
            allow_dirty,
            offline,
            packages,
            changed,
        } => release::run(
            &repo,
            &config,
            &release::Options {
                bump,
                dry_run,
                push,
                allow_dirty,
                offline,
                packages,
                changed,
            },
        ),
        command @ Command::Stage { .. } => stage_command(&repo, &config, command),
        Command::Verify {
            tag,
            production,
            results,
            dist,
        } => verify(
            &repo,
            &config,
            &tag,
            production,
            results.as_deref(),
            dist.as_deref(),
        ),
        Command::Record { tag, files, dist } => {
            crate::steps::record::run(&repo, &config, &tag, dist.as_deref(), &files)
        }
        Command::Promote {
            tag,
            dry_run,
            no_push,
            no_github,
        } => crate::steps::promote::run(
            &repo,
            &config,
            &tag,
            &crate::steps::promote::Options {
                dry_run,
                no_push,
                no_github,
            },
        ),
        Command::Status { tag, json } => {
            crate::steps::status::run(&repo, &config, tag.as_deref(), json)
        }
        Command::Audit { tag, json } => crate::steps::audit::run(&repo, &config, &tag, json),
        Command::Hooks { action } => hooks_action(&repo, &config, action),
        Command::Hook { hook } => hook_call(&repo, &config, hook),
        Command::Init { .. } | Command::Rehearse { .. } => {
            unreachable!("`run` handles the commands that need no repository")
        }
    }
}

/// The configuration `command` runs with, its token variables' names protected.
fn configuration(repo: &Repo, command: &Command) -> anyhow::Result<Config> {
    let mut config = Config::load(repo.root())?;
    crate::resources::project::settle_tag_prefix(&mut config, repo);
    // Each package's own token variables too (`[packages.staging] token-env`).
    crate::resources::secrets::protect_names(config.token_env_names());
    // A tag names its package: a command acting on one runs with that package's
    // configuration (docs/monorepo.md), which is the whole configuration for one package.
    if let Some(tag) = tag_of(command) {
        config = crate::resolved::config_for_tag(&config, tag)?;
    }
    Ok(config)
}

/// The release tag a command acts on, if it takes one.
fn tag_of(command: &Command) -> Option<&str> {
    match command {
        // Several tags are each staged with their own package's configuration.
        Command::Stage { tags, .. } => match tags.as_slice() {
            [tag] => Some(tag),
            _ => None,
        },
        Command::Verify { tag, .. }
        | Command::Record { tag, .. }
        | Command::Promote { tag, .. }
        | Command::Audit { tag, .. } => Some(tag),
        Command::Status { tag, .. } => tag.as_deref(),
        _ => None,
    }
}

fn stage_command(repo: &Repo, config: &Config, command: Command) -> anyhow::Result<()> {
    let Command::Stage {
        tags,
        dist,
        no_verify,
        results,
        build_only,
    } = command
    else {
        unreachable!("`in_repository` passes `stage` only")
    };
    if let [tag] = tags.as_slice() {
        let options = stage::Options {
            dist: dist.as_deref(),
            no_verify,
            results: results.as_deref(),
            build_only: build_only.as_deref(),
        };
        return stage::run_with(repo, config, tag, &options);
    }
    let one_tag_only = [
        ("--dist", dist.is_some()),
        ("--no-verify", no_verify),
        ("--build-only", build_only.is_some()),
    ];
    if let Some((option, _)) = one_tag_only.iter().find(|(_, given)| *given) {
        return Err(UsageError(format!(
            "`stage {option}` takes one tag, not {}",
            tags.len()
        ))
        .into());
    }
    if let Some(tag) = tags
        .iter()
        .find(|t| tags.iter().filter(|u| u == t).count() > 1)
    {
        return Err(UsageError(format!("`{tag}` is named twice")).into());
    }
    // Each tag with its package's configuration, in dependency order, as the hook stages them.
    let mut releases = Vec::new();
    for tag in crate::core::release_order::tags_in_order(repo, config, &tags)? {
        releases.push((crate::resolved::config_for_tag(config, &tag)?, tag));
    }
    stage::run_set(repo, &releases)
}

fn verify(
    repo: &Repo,
    config: &Config,
    tag: &str,
    production: bool,
    results: Option<&std::path::Path>,
    dist: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let role = if production {
        crate::core::index::Role::Production
    } else {
        crate::core::index::Role::Staging
    };
    match results {
        Some(path) => crate::steps::verify::run_to_file(repo, config, tag, role, dist, path),
        None => crate::steps::verify::run(repo, config, tag, role),
    }
}

fn hooks_action(repo: &Repo, config: &Config, action: HooksAction) -> anyhow::Result<()> {
    match action {
        HooksAction::Install => crate::steps::hooks::install(repo, config),
        HooksAction::Uninstall => crate::steps::hooks::uninstall(repo),
        HooksAction::Status => crate::steps::hooks::status(repo, config),
    }
}

fn hook_call(repo: &Repo, config: &Config, hook: HookCall) -> anyhow::Result<()> {
    match hook {
        HookCall::PrePush { remote, url } => {
            crate::steps::hooks::pre_push(repo, config, &remote, &url)
        }
        HookCall::PostTag { tag } => crate::steps::hooks::post_tag(repo, config, &tag),
    }
}
