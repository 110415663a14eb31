//! This repository's own `cargo xtask` tasks, run through the real `xtask` binary: `demo`
//! releases the sample end to end, `bench --quick` prints every row, and only this
//! repository's xtask offers them (an adopter's, the `twostage` binary's command line, does
//! not).

use std::path::PathBuf;
use std::process::Output;

use xshell::{cmd, Shell};

/// A scratch HOME with a git identity, and nothing of the user's environment that steers
/// twostage or git.
fn xtask(name: &str, args: &[&str]) -> Output {
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("xtask-home-{name}"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join(".gitconfig"),
        "[user]\n\tname = Test\n\temail = test@example.invalid\n[init]\n\tdefaultBranch = main\n",
    )
    .unwrap();
    let sh = Shell::new().unwrap();
    let exe = env!("CARGO_BIN_EXE_xtask");
    // The tests assert on the exit status themselves, with the output in the message.
    let mut command = cmd!(sh, "{exe} {args...}").ignore_status().quiet();
    for (key, _) in std::env::vars() {
        if key.starts_with("TWOSTAGE_") || key.starts_with("GIT_") || key.ends_with("PYPI_TOKEN") {
            command = command.env_remove(key);
        }
    }
    command
        .env("HOME", &home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn only_this_repositorys_xtask_offers_demo_and_bench() {
    let ours = xtask("help", &["--help"]);
    assert!(ours.status.success());
    let ours = subcommands(&text(&ours.stdout));
    for task in ["demo", "bench"] {
        assert!(ours.iter().any(|c| c == task), "{task} in {ours:?}");
    }
    for command in [
        "release", "stage", "verify", "promote", "status", "hooks", "init", "rehearse",
    ] {
        assert!(ours.iter().any(|c| c == command), "{command} in {ours:?}");
    }
    // An adopted repository's xtask is `twostage::cli::main`, the `twostage` binary's command
    // line.
    let product = twostage_help();
    for task in ["demo", "bench"] {
        assert!(!product.iter().any(|c| c == task), "{task} in {product:?}");
    }
    assert!(product.iter().any(|c| c == "release"), "{product:?}");
}

/// The subcommands of the product's own command line, as an adopter's xtask builds it.
fn twostage_help() -> Vec<String> {
    let mut help = Vec::new();
    twostage::cli::command().write_long_help(&mut help).unwrap();
    subcommands(&text(&help))
}

#[test]
fn the_demo_runs_the_whole_lifecycle() {
    let run = xtask("demo", &["demo"]);
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert!(run.status.success(), "{stderr}");
    assert!(
        stdout.contains("twostage_sample-0.1.1-py3-none-any.whl  sha256="),
        "{stdout}"
    );
    assert!(
        stdout.contains("twostage_sample-0.1.1.tar.gz  sha256="),
        "{stdout}"
    );
    for said in ["is staged and verified", "Promoted v0.1.1", "in all"] {
        assert!(stderr.contains(said), "{said}:\n{stderr}");
    }
}

/// `bench --quick` completes and prints every row (figures are not asserted: absolute times on
/// a shared machine are noise; the benchmark exists to be read).
#[test]
fn bench_quick_prints_every_row() {
    let run = xtask("bench", &["bench", "--quick", "--upload-mb", "5"]);
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert!(run.status.success(), "{stderr}");
    let rows: Vec<&str> = stdout.lines().collect();
    for (benchmark, tool) in [
        ("upload 5 MB", "twostage stage"),
        ("upload 5 MB", "twine upload"),
        ("upload 5 MB", "uv publish"),
        ("index wait", "after upload"),
        ("set 2x4 0.2MB", "twostage set"),
        ("set 2x4 0.2MB", "twine upload"),
        ("set 2x4 0.2MB", "uv publish"),
        ("set 1x4 0.2MB", "twostage set"),
        ("verify 1 wheel", "twostage (uv)"),
        ("verify 1 wheel", "twostage (pip)"),
        ("branch push", "git push"),
        ("branch push", "git push + hooks"),
        ("lifecycle", "twostage"),
        ("lifecycle", "by hand"),
        ("adopted", "xtask binary"),
        ("adopted", "cargo xtask"),
    ] {
        assert!(
            rows.iter()
                .any(|r| r.starts_with(benchmark) && r[16..].trim_start().starts_with(tool)),
            "no row for {benchmark} / {tool}:\n{stdout}"
        );
    }
    assert!(stderr.contains("Hooks add"), "{stderr}");
    assert!(
        stderr.contains("The set of 8 files: twostage takes"),
        "{stderr}"
    );
    assert!(stderr.contains("through `cargo xtask` takes"), "{stderr}");
}
