//! The local boundary: what a child of twostage running as the same (non-root) user can read
//! of the tokens twostage holds. Removing the variables keeps them out of the child's own
//! environment; `/proc/<twostage's pid>/environ` is closed by `PR_SET_DUMPABLE` (see
//! docs/trust.md). The tests run as root, and root reads every process's files, so twostage is
//! run here as `nobody`, with its smoke command as `nobody` too.

use std::path::Path;

use crate::common::*;

/// A smoke command that walks up its ancestors and appends, for each, its `Uid:` line and
/// whatever `/proc/<pid>/environ` gives (or the error) to `out`.
fn ancestor_reader(out: &Path) -> String {
    let out = out.display();
    format!(
        "p=$PPID; while [ \"$p\" -gt 1 ]; do \
         echo \"== $p $(grep ^Uid: /proc/$p/status)\" >> {out}; \
         cat /proc/$p/environ >> {out} 2>&1; echo >> {out}; \
         p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status); done"
    )
}

/// `setpriv` arguments that run the rest as `nobody`, without root's groups.
const AS_NOBODY: [&str; 4] = [
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
];

#[test]
fn a_smoke_command_of_the_same_user_cannot_read_the_token_from_twostages_environment() {
    let name = "ts-boundary";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticHatchling, name);
    s.twostage(&["release", "patch"]).success();
    s.stage(&["v1.4.3"], SENTINEL).success();

    // Verify again as `nobody`, holding the token, with the reader as the smoke command. The
    // system interpreter: root's pyenv is closed to `nobody`.
    let out = s.dir.join("read-by-the-smoke-command.txt");
    let toml = s.read("release.toml").replace(
        "[verify]\n",
        &format!("[verify]\nsmoke = [{:?}]\n", ancestor_reader(&out)),
    );
    s.write("release.toml", &toml);
    let dir = s.dir.to_str().unwrap();
    let sh = s.sh();
    cmd!(sh, "chown -R nobody:nogroup {dir}").run().unwrap();
    let run = Run::from(
        s.command(AS_NOBODY[0])
            .args(&AS_NOBODY[1..])
            .args([env!("CARGO_BIN_EXE_twostage"), "verify", "v1.4.3"])
            .env("TEST_PYPI_TOKEN", SENTINEL)
            .env("TWOSTAGE_PYTHON", "/usr/bin/python3")
            .output()
            .unwrap(),
    );
    run.success();

    let read = std::fs::read_to_string(&out).unwrap();
    let first = read.lines().next().unwrap_or_default();
    // The smoke command's parent is twostage, running as `nobody` (65534), as the child does.
    assert!(first.contains("Uid:\t65534\t65534"), "{read}");
    assert!(read.contains("Permission denied"), "{read}");
    assert!(!read.contains(SENTINEL), "a child read the token:\n{read}");

    // The same reader under a parent of the same user that did not close itself reads it.
    // (Not a `Run`: its output holds the token on purpose.)
    let control = s
        .command(AS_NOBODY[0])
        .args(&AS_NOBODY[1..])
        .args(["env", &format!("TEST_PYPI_TOKEN={SENTINEL}"), "sh", "-c"])
        .arg("sh -c 'cat /proc/$PPID/environ'; true")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&control.stdout).contains(SENTINEL),
        "the control could not read its parent: {}",
        String::from_utf8_lossy(&control.stderr)
    );
}
