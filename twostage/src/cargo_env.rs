//! What `cargo run` adds to the environment of the program it runs, taken out again at start-up
//! so that nothing twostage starts inherits it.
//!
//! `cargo xtask` is `cargo run`: cargo hands the running tool `CARGO_MANIFEST_DIR`,
//! `CARGO_PKG_*`, the dynamic-library path and friends. The hooks the tool fires (post-tag
//! from `release`, pre-push from the push in `promote`) run `cargo xtask hook …` again; with
//! those variables still set, build scripts that track them (`ring`'s tracks
//! `CARGO_MANIFEST_DIR`) look changed, the nested run recompiles, and the next plain run
//! recompiles back. Measured in an adopted repository: `cargo xtask status` takes 0.11 s when
//! nothing changed and 7.7 s after such a flip. The variables are listed in
//! <https://doc.rust-lang.org/cargo/reference/environment-variables.html#environment-variables-cargo-sets-for-crates>
//! and <https://doc.rust-lang.org/cargo/reference/environment-variables.html#dynamic-library-paths>.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The variables `cargo run` sets for the program, by exact name.
pub const SET_BY_CARGO_RUN: &[&str] = &[
    "CARGO",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "RUST_RECURSION_COUNT",
];

/// Every variable `cargo run` set for this process, with the value it should have instead
/// (`None`: remove it). Empty when the tool was not started by cargo.
pub fn added_by_cargo(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    exe: &Path,
) -> Vec<(OsString, Option<OsString>)> {
    let mut changes = Vec::new();
    for (name, value) in vars {
        let Some(text) = name.to_str() else { continue };
        if SET_BY_CARGO_RUN.contains(&text) || text.starts_with("CARGO_PKG_") {
            changes.push((name, None));
        } else if text == "LD_LIBRARY_PATH" || text == "DYLD_FALLBACK_LIBRARY_PATH" {
            let kept = library_path_without_cargo(&value, exe);
            if kept != value {
                changes.push((name, (!kept.is_empty()).then_some(kept)));
            }
        }
    }
    changes
}

/// cargo puts the target directory's output folders and the toolchain's `lib/rustlib` in front
/// of the user's own library path: keep only the user's entries.
fn library_path_without_cargo(value: &OsString, exe: &Path) -> OsString {
    let output_dir: Option<PathBuf> = exe.parent().map(Path::to_path_buf);
    let kept: Vec<PathBuf> = std::env::split_paths(value)
        .filter(|entry| {
            let from_target = output_dir
                .as_deref()
                .is_some_and(|dir| entry.starts_with(dir));
            let from_toolchain = entry
                .components()
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| w[0].as_os_str() == "lib" && w[1].as_os_str() == "rustlib");
            !from_target && !from_toolchain
        })
        .collect();
    std::env::join_paths(kept).unwrap_or_default()
}

/// Removes what `cargo run` added from this process's environment. Called first thing in
/// `main`, before any thread exists.
pub fn forget() {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    for (name, value) in added_by_cargo(std::env::vars_os(), &exe) {
        // SAFETY: called at the start of `main`, before any other thread is spawned.
        unsafe {
            match value {
                Some(value) => std::env::set_var(&name, value),
                None => std::env::remove_var(&name),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn what_cargo_run_sets_is_removed_and_the_rest_kept() {
        let exe = Path::new("/repo/target/debug/xtask");
        let changes = added_by_cargo(
            vars(&[
                ("CARGO_MANIFEST_DIR", "/repo/xtask"),
                ("CARGO_PKG_NAME", "xtask"),
                ("CARGO", "/home/u/.cargo/bin/cargo"),
                ("CARGO_HOME", "/home/u/.cargo"),
                ("CARGO_TARGET_DIR", "/tmp/t"),
                ("PATH", "/usr/bin"),
                (
                    "LD_LIBRARY_PATH",
                    "/repo/target/debug:/repo/target/debug/deps:/home/u/.rustup/toolchains/stable/lib/rustlib/x86_64-unknown-linux-gnu/lib:/opt/lib",
                ),
            ]),
            exe,
        );
        let names: Vec<_> = changes
            .iter()
            .map(|(n, v)| (n.to_str().unwrap(), v.clone()))
            .collect();
        assert_eq!(
            names,
            [
                ("CARGO_MANIFEST_DIR", None),
                ("CARGO_PKG_NAME", None),
                ("CARGO", None),
                ("LD_LIBRARY_PATH", Some(OsString::from("/opt/lib"))),
            ]
        );
    }

    #[test]
    fn a_library_path_of_cargo_only_is_removed_whole() {
        let exe = Path::new("/repo/target/debug/xtask");
        let changes = added_by_cargo(
            vars(&[(
                "LD_LIBRARY_PATH",
                "/repo/target/debug:/repo/target/debug/deps",
            )]),
            exe,
        );
        assert_eq!(changes, [(OsString::from("LD_LIBRARY_PATH"), None)]);
        assert!(added_by_cargo(vars(&[("LD_LIBRARY_PATH", "/opt/lib")]), exe).is_empty());
    }
}
