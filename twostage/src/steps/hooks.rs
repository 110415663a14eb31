//! The `hooks` stage: installing the shims, and what they call.
//!
//! `hooks install` writes the shims of `hooks/` (pre-push, reference-transaction, post-tag)
//! into the folder `git rev-parse --git-path hooks` names (so `core.hooksPath` and linked
//! worktrees work). A hook already there that is not ours is kept as
//! `<name>.twostage-chained` and run first by the shim; `uninstall` puts it back. The shims
//! decide in `sh` whether a push carries a release tag, so a branch-only push never starts
//! cargo or the binary. `hook pre-push` and `hook post-tag` are the entry points they call: the
//! same idempotent `stage` and `promote` code the commands run.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::core::build;
use crate::core::frozen;
use crate::core::hook::Hook;
use crate::core::release_order;
use crate::output;
use crate::resolved;
use crate::resources::git::Repo;
use crate::steps::stage;
use crate::version::TagScheme;

const MARKER: &str = "twostage-shim";
const CHAINED: &str = ".twostage-chained";

fn shim(text: &str, config: &Config) -> String {
    // The names a chained hook never sees, even on a push the tool did not start: only names a
    // shell can `unset` (a configured name that is not one is still removed through
    // `TWOSTAGE_SCRUB` when the tool starts git).
    let mut scrub: Vec<String> = crate::resources::secrets::KNOWN_NAMES
        .iter()
        .map(|n| n.to_string())
        .collect();
    for name in config.token_env_names() {
        let valid = !name.starts_with(|c: char| c.is_ascii_digit())
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid && !scrub.contains(&name) {
            scrub.push(name);
        }
    }
    text.replace("@PREFIX@", &shim_prefix(config).replace('\'', "'\\''"))
        .replace("@SCRUB@", &scrub.join(" "))
}

/// What every release tag starts with, for the shims to tell a push carrying one: the tag
/// prefix, or, with several packages, what every package's tags share (often nothing: then
/// every tag push asks the binary, which reads each tag by its package's template).
fn shim_prefix(config: &Config) -> String {
    let mut prefixes = config.packages.iter().map(|m| m.tags.scheme().prefix);
    let Some(first) = prefixes.next() else {
        return config.git.tag_prefix.clone();
    };
    prefixes.fold(first, |common, prefix| {
        let shared = common
            .char_indices()
            .zip(prefix.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8());
        common[..shared].to_string()
    })
}

pub fn install(repo: &Repo, config: &Config) -> Result<()> {
    let dir = repo.hooks_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    for hook in Hook::ALL {
        let name = hook.as_str();
        let path = dir.join(name);
        let wanted = shim(hook.template(), config);
        let chained = dir.join(format!("{name}{CHAINED}"));
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == wanted => {
                output::status("Fresh", format!("`{}`", path.display()));
                continue;
            }
            Ok(existing) if existing.contains(MARKER) => {
                output::status("Updating", format!("`{}`", path.display()));
            }
            Ok(_) | Err(_) if path.exists() => {
                if chained.exists() {
                    bail!(
                        "`{}` is a hook of its own and `{}` is already kept: merge them by hand, then run `hooks install` again",
                        path.display(),
                        chained.display()
                    );
                }
                std::fs::rename(&path, &chained)?;
                output::status(
                    "Keeping",
                    format!(
                        "the existing `{name}` hook: it runs first, as `{}`",
                        chained.display()
                    ),
                );
            }
            _ => output::status("Installing", format!("`{}`", path.display())),
        }
        std::fs::write(&path, &wanted)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

pub fn uninstall(repo: &Repo) -> Result<()> {
    let dir = repo.hooks_dir()?;
    for name in Hook::ALL.map(Hook::as_str) {
        let path = dir.join(name);
        let chained = dir.join(format!("{name}{CHAINED}"));
        let ours = std::fs::read_to_string(&path).is_ok_and(|t| t.contains(MARKER));
        if ours {
            std::fs::remove_file(&path)?;
            output::status("Removed", format!("`{}`", path.display()));
        }
        if chained.exists() && !path.exists() {
            std::fs::rename(&chained, &path)?;
            output::status("Restored", format!("the earlier `{name}` hook"));
        }
    }
    Ok(())
}

pub fn status(repo: &Repo, config: &Config) -> Result<()> {
    let dir = repo.hooks_dir()?;
    println!("hooks folder: {}", dir.display());
    for hook in Hook::ALL {
        let name = hook.as_str();
        let path = dir.join(name);
        let state = match std::fs::read_to_string(&path) {
            Ok(t) if t == shim(hook.template(), config) => "installed, current",
            Ok(t) if t.contains(MARKER) => "installed, outdated: run `cargo xtask hooks install`",
            Ok(_) => "another tool's hook: run `cargo xtask hooks install` to chain it",
            Err(_) => "not installed",
        };
        let chained = if dir.join(format!("{name}{CHAINED}")).exists() {
            " (runs the earlier hook first)"
        } else {
            ""
        };
        println!("{name:<22} {state}{chained}");
    }
    Ok(())
}

/// The hooks that the tool's own git commands fire (post-tag after `release` tags, pre-push
/// when `promote` pushes the `-prod` tag) run this very binary, which is current by definition,
/// instead of asking cargo again: the shims prefer `TWOSTAGE_BIN`. A value the user set wins.
pub fn fire_hooks_with_this_binary() {
    if std::env::var_os("TWOSTAGE_BIN").is_some_and(|v| !v.is_empty()) {
        return;
    }
    if let Ok(exe) = std::env::current_exe() {
        // SAFETY: called at the start of `main`, before any other thread is spawned.
        unsafe { std::env::set_var("TWOSTAGE_BIN", exe) };
    }
}

/// Variables git exports to hooks that would point our own git calls at the wrong repository
/// (a linked worktree's `GIT_DIR`, for one).
pub fn clear_git_env() {
    for name in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_PREFIX",
        "GIT_OBJECT_DIRECTORY",
        "GIT_COMMON_DIR",
    ] {
        // SAFETY: called at start-up of the hook commands, before any thread is spawned.
        unsafe { std::env::remove_var(name) };
    }
}

/// `git push --dry-run` runs pre-push too, and the hook cannot see the flag in its arguments
/// (https://git-scm.com/docs/githooks#_pre_push passes only the remote's name and URL): the shim passes the parent `git push` command line.
fn push_is_dry_run(command: &str) -> bool {
    let mut words = command
        .split_whitespace()
        .skip_while(|w| *w != "push")
        .skip(1);
    words.any(|w| {
        w == "--dry-run" || (w.starts_with('-') && !w.starts_with("--") && w.contains('n'))
    })
}

/// The release tags a push carries, by the name the remote gets.
#[derive(Debug, Default, PartialEq, Eq)]
struct Pushed {
    /// Release tags, to stage.
    plain: Vec<String>,
    /// `-prod` tags, to promote.
    prod: Vec<String>,
}

impl Pushed {
    /// Reads pre-push's stdin: `<local ref> <local oid> <remote ref> <remote oid>` lines.
    fn read(input: &str, scheme: &TagScheme) -> Pushed {
        Pushed::read_with(input, |tag| scheme.parse(tag).ok().map(|t| t.prod))
    }

    /// The pushed release tags of a repository's configuration: each tag read by its
    /// package's template when there are several packages.
    fn of(input: &str, config: &Config) -> Pushed {
        if !config.is_multi_package() {
            return Pushed::read(input, &config.git.tag_scheme());
        }
        Pushed::read_with(input, |tag| config.for_tag(tag).map(|(_, t)| t.prod))
    }

    /// Reads the lines with `release`, which says of a tag whether it is a production tag
    /// (`None`: not a release tag).
    fn read_with(input: &str, release: impl Fn(&str) -> Option<bool>) -> Pushed {
        let mut pushed = Pushed::default();
        for line in input.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, local_oid, remote_ref, _] = fields.as_slice() else {
                continue;
            };
            if local_oid.chars().all(|c| c == '0') {
                continue; // a deletion
            }
            // The name the remote gets: `git push origin HEAD:refs/tags/v1.2.0` makes a tag too.
            let Some(tag) = remote_ref.strip_prefix("refs/tags/") else {
                continue;
            };
            match release(tag) {
                Some(true) => pushed.prod.push(tag.to_string()),
                Some(false) => pushed.plain.push(tag.to_string()),
                None => {}
            }
        }
        pushed
    }

    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.prod.is_empty()
    }
}

/// `hook pre-push <remote> <url>`: stage plain release tags, promote `-prod` tags.
pub fn pre_push(repo: &Repo, config: &Config, remote: &str, url: &str) -> Result<()> {
    // The push command line may hold a URL with a token in it: read it, then keep it from
    // every process started from here (builds, installers, smoke tests).
    let push_command = std::env::var("TWOSTAGE_PUSH_COMMAND").unwrap_or_default();
    // SAFETY: the hook commands run single-threaded up to here.
    unsafe { std::env::remove_var("TWOSTAGE_PUSH_COMMAND") };
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let pushed = Pushed::of(&input, config);
    if pushed.is_empty() {
        return Ok(());
    }
    if std::env::var("TWOSTAGE_SKIP").is_ok_and(|v| v == "1") {
        output::warn("TWOSTAGE_SKIP=1: release tags are pushed without staging or promotion");
        return Ok(());
    }
    if !to_release_remote(repo, config, remote, url) {
        return Ok(());
    }
    if push_is_dry_run(&push_command) {
        say_dry_run(&pushed);
        return Ok(());
    }
    // Each tag with its package's configuration, the packages in dependency order.
    // Several packages' tags are staged as one set (`stage::run_set`).
    let mut staged = Vec::new();
    for tag in release_order::tags_in_order(repo, config, &pushed.plain)? {
        staged.push((resolved::config_for_tag(config, &tag)?, tag));
    }
    stage::run_set(repo, &staged)?;
    for tag in release_order::tags_in_order(repo, config, &pushed.prod)? {
        let config = resolved::config_for_tag(config, &tag)?;
        crate::steps::promote::from_hook(repo, &config, &tag)
            .with_context(|| format!("{tag} is not pushed: the promotion failed"))?;
    }
    Ok(())
}

/// Whether the push goes to the release remote (`git.remote`), by name or by URL; if not,
/// says that twostage does nothing.
fn to_release_remote(repo: &Repo, config: &Config, remote: &str, url: &str) -> bool {
    let configured = &config.git.remote;
    let configured_url = repo.remote_url(configured);
    if remote != configured && Some(url) != configured_url.as_deref() {
        output::note(format!(
            "pushing to `{}`, not `{configured}` (`git.remote`): twostage does nothing",
            crate::resources::secrets::redact(remote)
        ));
        return false;
    }
    true
}

fn say_dry_run(pushed: &Pushed) {
    for tag in pushed.plain.iter().chain(&pushed.prod) {
        output::status(
            "Dry run",
            format!(
                "would {} {tag}; nothing is uploaded",
                if pushed.prod.contains(tag) {
                    "promote"
                } else {
                    "stage"
                }
            ),
        );
    }
}

/// `hook post-tag <tag>`: a new release tag is checked and built; a new `-prod` tag is checked
/// against the promotion gate, loudly.
pub fn post_tag(repo: &Repo, config: &Config, tag: &str) -> Result<()> {
    // With several packages, the tag's package's configuration; a tag of none is not ours.
    let Ok(config) = resolved::config_for_tag(config, tag) else {
        return Ok(());
    };
    let config = &config;
    let scheme = config.git.tag_scheme();
    let Ok(parsed) = scheme.parse(tag) else {
        return Ok(());
    };
    if parsed.prod {
        if let Some(warning) =
            crate::core::production::annotated_prod_tag(repo, &config.git.remote, tag)
        {
            output::warn(warning);
        }
        return crate::steps::promote::warn_if_refused(repo, config, tag);
    }
    if frozen::is_built(repo, tag)? {
        return Ok(()); // `release` built it before firing the hook
    }
    // One run per repository at a time (docs/release.md, "One run at a time").
    let _lock =
        crate::resources::lock::hold(repo.common_dir(), crate::resources::lock::Wait::patient())?;
    build::build_tag(repo, config, tag).with_context(|| {
        format!(
            "{tag} is tagged but not built; the push will be refused until it builds: fix the \
             problem and run `cargo xtask stage {tag}`, or remove the tag with `git tag -d {tag}`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packages_own_token_variable_is_scrubbed_by_the_shims_too() {
        let text = "[[packages]]\nname = \"acme-cli\"\nfolder = \"cli\"\n\
                    [packages.production]\ntoken-env = \"ACME_CLI_PYPI_TOKEN\"\n";
        let config = Config::parse(text, "release.toml", Vec::new()).unwrap();
        let scrub = shim("scrub='@SCRUB@'", &config);
        for name in [
            "ACME_CLI_PYPI_TOKEN",
            "PYPI_TOKEN",
            "TEST_PYPI_TOKEN",
            "GITHUB_TOKEN",
        ] {
            assert!(
                scrub.split([' ', '\'']).any(|n| n == name),
                "{name}: {scrub}"
            );
        }
    }

    #[test]
    fn hook_names_are_gits() {
        assert_eq!(
            Hook::ALL.map(Hook::as_str),
            ["pre-push", "reference-transaction", "post-tag"]
        );
    }

    #[test]
    fn pushed_release_tags_are_read_by_the_name_the_remote_gets() {
        let scheme = TagScheme {
            prefix: "v".into(),
            suffix: String::new(),
            prod_suffix: "-prod".into(),
        };
        let zero = "0".repeat(40);
        let oid = "a".repeat(40);
        let input = format!(
            "refs/heads/main {oid} refs/heads/main {zero}\n\
             HEAD {oid} refs/tags/v1.2.0 {zero}\n\
             refs/tags/v1.1.0-prod {oid} refs/tags/v1.1.0-prod {zero}\n\
             (delete) {zero} refs/tags/v1.0.0 {oid}\n\
             refs/tags/other {oid} refs/tags/other {zero}\n"
        );
        assert_eq!(
            Pushed::read(&input, &scheme),
            Pushed {
                plain: vec!["v1.2.0".into()],
                prod: vec!["v1.1.0-prod".into()],
            }
        );
    }

    #[test]
    fn with_several_packages_each_pushed_tag_is_read_by_its_packages_template() {
        let text = "[[packages]]\nname = \"acme-core\"\nfolder = \"core\"\n\
                    [[packages]]\nname = \"acme-cli\"\nfolder = \"cli\"\n";
        let config = Config::parse(text, "release.toml", Vec::new()).unwrap();
        let (zero, oid) = ("0".repeat(40), "a".repeat(40));
        let line = |tag: &str| format!("refs/tags/{tag} {oid} refs/tags/{tag} {zero}\n");
        let input: String = [
            "acme-cli-v0.4.0",
            "v1.0.0",
            "acme-core-v1.1.0-prod",
            "acme-core-v1.1.0",
        ]
        .map(line)
        .concat();
        assert_eq!(
            Pushed::of(&input, &config),
            Pushed {
                plain: vec!["acme-cli-v0.4.0".into(), "acme-core-v1.1.0".into()],
                prod: vec!["acme-core-v1.1.0-prod".into()],
            }
        );
        // The shims look for what both packages' tags start with; one package, its prefix.
        assert_eq!(shim_prefix(&config), "acme-c");
        let single = Config::parse("", "release.toml", Vec::new()).unwrap();
        assert_eq!(shim_prefix(&single), "v");
        assert_eq!(Pushed::of(&input, &single).plain, ["v1.0.0"]);
    }

    #[test]
    fn dry_run_is_read_from_the_push_command() {
        let cases = [
            ("git push --dry-run origin v1", true),
            ("git push -n origin v1", true),
            ("/usr/bin/git push -vn --follow-tags", true),
            ("git push --follow-tags origin main", false),
            ("git push origin main", false),
            ("", false),
        ];
        for (command, expected) in cases {
            assert_eq!(super::push_is_dry_run(command), expected, "{command}");
        }
    }
}
