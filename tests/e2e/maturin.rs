//! A Rust extension end to end: the `maturin` fixture (pyo3 from crates.io, one
//! `#[pyfunction]`, its own committed `Cargo.lock`) adopted with `init --path`, released
//! through the real binary (wheel and sdist built by maturin in the clean clone), staged and
//! verified (the wheel and the sdist, built in isolation against production, each installed
//! and smoke-tested by calling the function), then rehearsed. One test walks the whole path,
//! so pyo3 compiles into one shared target folder (`CARGO_BUILD_TARGET_DIR`, which every build
//! maturin runs reads through `cargo metadata`) with the machine's cargo home.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::common::*;

const TAG: &str = "v1.0.1";

/// The smoke command: the installed module's function, called, and where it was loaded from.
pub(crate) const SMOKE: &str = "python -c 'import ts_fx_maturin as m; r = m.add(2, 3); assert r == 5; print(\"add(2, 3) =\", r, \"from\", m.__file__)'";

/// The target folder of every maturin build in this test: pyo3 compiles once per profile
/// and interpreter, not once per clean clone and sdist.
fn shared_target() -> PathBuf {
    testbed::target_dir().join("twostage-maturin-target")
}

/// `program` in the work tree as the maintainer runs it, with the machine's toolchain and
/// registry cache (the scratch HOME has neither) and the shared target folder.
fn with_cargo(s: &Scratch, program: &str) -> Command {
    let mut command = s.command(program);
    as_maintainer(&mut command)
        .env("CARGO_HOME", real_home_dir("CARGO_HOME", ".cargo"))
        .env("RUSTUP_HOME", real_home_dir("RUSTUP_HOME", ".rustup"))
        .env("CARGO_BUILD_TARGET_DIR", shared_target());
    command
}

pub(crate) fn run(s: &Scratch, program: &str, args: &[&str]) -> Run {
    let out = with_cargo(s, program)
        .args(args)
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .output()
        .unwrap();
    Run::from(out)
}

/// The project's own Cargo files, byte for byte.
fn cargo_files(s: &Scratch) -> (Vec<u8>, Vec<u8>) {
    let read = |name: &str| std::fs::read(s.work.join(name)).unwrap();
    (read("Cargo.toml"), read("Cargo.lock"))
}

/// The `[[package]]` names a `Cargo.lock` holds, read with the tests' own parser.
fn locked_names(lock: &str) -> Vec<String> {
    let doc: toml_edit::DocumentMut = lock.parse().unwrap();
    doc["package"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// An sdist member (below its top folder) that is twostage's release kit. The root
/// `Cargo.toml` and `Cargo.lock` are the extension's own here.
fn is_kit_of_an_extension(member: &str) -> bool {
    ["xtask/", ".cargo/", "hooks/"]
        .iter()
        .any(|p| member.starts_with(p))
        || member == "release.toml"
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    eprintln!("[maturin] {what}: {:.1}s", started.elapsed().as_secs_f64());
    out
}

#[test]
fn a_maturin_extension_adopts_releases_verifies_and_rehearses_with_its_cargo_files_its_own() {
    let started = Instant::now();
    let s = Scratch::outside_workspace("maturin");
    copy_fixture("maturin", &s.work, &[]);
    // maturin's PEP 517 hooks run the `maturin` program from PATH, which a build without
    // isolation finds only with the tools' `bin/` there. They pass `--compatibility off`
    // (a `linux_x86_64` wheel, which PyPI and so the release refuse) unless
    // `MATURIN_PEP517_ARGS` says otherwise: `pypi` makes the lowest `manylinux_*` tag that
    // maturin's own auditwheel check passes.
    let bin = testbed::tools().unwrap().bin("");
    let toml = release_toml("version-files = [\"Cargo.toml\"]")
        .replace(
            "command = \"'",
            &format!(
                "command = \"env PATH='{}':$PATH MATURIN_PEP517_ARGS='--compatibility pypi' '",
                bin.display()
            ),
        )
        .replace("[verify]\n", &format!("[verify]\nsmoke = [{SMOKE:?}]\n"));
    s.write("release.toml", &toml);
    s.commit_all("Import the extension");

    let before = cargo_files(&s);
    let checkout = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    s.twostage(&["init", ".", "--path", checkout]).success();
    assert!(
        cargo_files(&s) == before,
        "adoption changed the project's `Cargo.toml` or `Cargo.lock`"
    );
    s.commit_all("Adopt twostage");

    let release = timed(
        "release patch (the clean clone builds wheel and sdist)",
        || run(&s, env!("CARGO_BIN_EXE_twostage"), &["release", "patch"]),
    );
    let release = release.success();
    assert_the_release_commit_bumps_both(&s, &before.1, &release);
    let sdist = assert_the_frozen_sdist_is_the_extensions_alone(&s);
    assert_cargo_leaves_the_tree_clean(&s);

    let stage = timed(
        "stage (verify installs the wheel and builds the sdist)",
        || run(&s, env!("CARGO_BIN_EXE_twostage"), &["stage", TAG]),
    );
    stage.success().stderr_has("is staged and verified");
    assert_both_files_were_installed_and_called(&s, &sdist);

    // Something new to release, as a maintainer would rehearse it.
    let changelog = s.read("CHANGELOG.md").replacen(
        "## [Unreleased]\n",
        "## [Unreleased]\n\n### Fixed\n- a change after 1.0.1\n",
        1,
    );
    s.write("CHANGELOG.md", &changelog);
    s.commit_all("A change after 1.0.1");
    let (rehearsal, kept) = timed("rehearse", || {
        crate::rehearse::rehearse_in(with_cargo(&s, env!("CARGO_BIN_EXE_twostage")))
    });
    let rehearsal = rehearsal.success();
    let promoted = hashed_files(&kept.join("pypiserver/packages"), |f| {
        f.starts_with("ts_fx_maturin-1.0.2")
    });
    assert!(
        promoted.len() == 2 && promoted.keys().any(|f| f.ends_with(".tar.gz")),
        "the rehearsal promotes the wheel and the sdist: {promoted:?}\n{}",
        rehearsal.stderr
    );
    std::fs::remove_dir_all(&kept).unwrap();
    std::fs::remove_dir_all(&s.dir).unwrap();
    eprintln!(
        "[maturin] the whole path: {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// The release commit (the tag's) changes the version in `Cargo.toml` and in the package's
/// `Cargo.lock` entry, and nothing else of the lock.
fn assert_the_release_commit_bumps_both(s: &Scratch, lock_before: &[u8], release: &Run) {
    let changed = s.git(&[
        "show",
        "--format=",
        "--name-only",
        &format!("{TAG}^{{commit}}"),
    ]);
    let changed: Vec<&str> = changed.lines().collect();
    assert!(
        changed.contains(&"Cargo.toml") && changed.contains(&"Cargo.lock"),
        "the release commit changes {changed:?}\n{}",
        release.stderr
    );
    let manifest = s.git(&["show", &format!("{TAG}:Cargo.toml")]);
    assert!(manifest.contains("version = \"1.0.1\""), "{manifest}");
    let entry = |v: &str| format!("name = \"ts-fx-maturin\"\nversion = \"{v}\"\n");
    let expected = String::from_utf8(lock_before.to_vec()).unwrap().replacen(
        &entry("1.0.0"),
        &entry("1.0.1"),
        1,
    );
    let tagged = s.git(&["show", &format!("{TAG}:Cargo.lock")]);
    // `git show` output is trimmed by `Scratch::git`.
    assert_eq!(
        tagged,
        expected.trim_end(),
        "the tagged lock is the old one with the package's version moved"
    );
}

/// The frozen files are a wheel and an sdist; the sdist carries none of the kit, and its
/// `Cargo.lock` is the tagged commit's, naming neither `twostage` nor `xtask`. Returns it.
fn assert_the_frozen_sdist_is_the_extensions_alone(s: &Scratch) -> PathBuf {
    let frozen = frozen_files(s, TAG);
    let names: Vec<&String> = frozen.keys().collect();
    assert!(
        names.len() == 2
            && names.iter().any(|n| n.ends_with(".whl"))
            && frozen.contains_key("ts_fx_maturin-1.0.1.tar.gz"),
        "{names:?}"
    );
    let sdist = frozen_dir(s, TAG).join("ts_fx_maturin-1.0.1.tar.gz");
    let tagged = s.git(&["show", &format!("{TAG}:Cargo.lock")]);
    assert_the_sdist_is_the_extensions_alone(&sdist, &tagged);
    sdist
}

/// `sdist` carries none of the kit, and its `Cargo.lock` is `committed` (trimmed), naming
/// neither `twostage` nor `xtask`.
fn assert_the_sdist_is_the_extensions_alone(sdist: &Path, committed: &str) {
    let members = tar_members(sdist);
    let inner = |name: &str| {
        name.split_once('/')
            .map_or("", |(_, rest)| rest)
            .to_string()
    };
    let kit: Vec<String> = members
        .iter()
        .map(|(n, _)| inner(n))
        .filter(|m| is_kit_of_an_extension(m))
        .collect();
    assert!(kit.is_empty(), "the sdist carries the kit: {kit:?}");
    let lock = members
        .iter()
        .find(|(n, _)| inner(n) == "Cargo.lock")
        .map(|(_, bytes)| String::from_utf8(bytes.clone()).unwrap())
        .expect("the sdist ships `Cargo.lock`");
    let names = locked_names(&lock);
    assert!(
        !names.iter().any(|n| n == "twostage" || n == "xtask"),
        "the sdist's lock names the kit: {names:?}"
    );
    let differing: Vec<(&str, &str)> = lock
        .lines()
        .zip(committed.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert!(
        lock.trim_end() == committed,
        "the sdist's lock is not the committed one (sdist, committed): {differing:?}"
    );
}

/// cargo, run on the project after the release, finds its lock up to date.
fn assert_cargo_leaves_the_tree_clean(s: &Scratch) {
    run(s, "cargo", &["metadata", "--format-version", "1"]).success();
    assert_eq!(
        s.git(&["status", "--porcelain", "--untracked-files=all"]),
        "",
        "cargo changed the tree after the release"
    );
}

/// The note records both files verified, and the verification log shows the function called
/// in each one's own environment (the sdist's built there).
fn assert_both_files_were_installed_and_called(s: &Scratch, sdist: &Path) {
    let note = release_note(s, TAG);
    let verification = note["verification"].as_table().unwrap();
    assert_eq!(verification["result"].as_str(), Some("verified"));
    let kinds: Vec<&str> = verification["artifacts"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"wheel") && kinds.contains(&"sdist"),
        "{kinds:?}"
    );
    let verified: Vec<&str> = verification["verified-sha256"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let sdist_sha = sha256_hex(&std::fs::read(sdist).unwrap());
    assert!(verified.contains(&sdist_sha.as_str()), "{verified:?}");
    let log = std::fs::read_to_string(
        s.work
            .join(".git/twostage")
            .join(TAG)
            .join(verification["log"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(
        log.matches("add(2, 3) = 5 from ").count(),
        2,
        "the smoke test called the function once per file:\n{log}"
    );
}

/// With `--git` (the URL of a local clone of this checkout) and with the default requirement
/// on the published crate, adoption leaves the extension's Cargo files byte for byte, the
/// project's own cargo never sees the kit (`cargo metadata` names neither `twostage` nor
/// `xtask`, and the tree stays clean), and the sdist maturin packs from a clean clone carries
/// none of the kit. Nothing the release runs on the project reads `xtask/Cargo.toml`, so the
/// dependency is never fetched here; building the kit itself from git or crates.io is not
/// tested (twostage is not on crates.io).
#[test]
fn a_maturin_extension_adopted_with_git_or_the_published_crate_keeps_the_kit_out_of_its_cargo() {
    let checkout = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .canonicalize()
        .unwrap();
    let url = format!("file://{}", checkout.display());
    for (label, extra) in [("git", vec!["--git", url.as_str()]), ("published", vec![])] {
        let s = Scratch::outside_workspace(&format!("maturin-{label}"));
        copy_fixture("maturin", &s.work, &[]);
        s.commit_all("Import the extension");
        let before = cargo_files(&s);
        s.twostage(&[&["init", "."][..], &extra].concat()).success();
        assert!(
            cargo_files(&s) == before,
            "{label}: adoption changed the project's `Cargo.toml` or `Cargo.lock`"
        );
        let kit = s.read("xtask/Cargo.toml");
        assert!(
            kit.ends_with("\n[workspace]\n") && (label != "git" || kit.contains(&url)),
            "{label}:\n{kit}"
        );
        s.commit_all("Adopt twostage");

        let metadata = run(&s, "cargo", &["metadata", "--format-version", "1"]).success();
        for name in ["twostage", "xtask"] {
            assert!(
                !metadata.stdout.contains(&format!("\"name\":\"{name}\"")),
                "{label}: the project's cargo sees `{name}`"
            );
        }
        assert_eq!(
            s.git(&["status", "--porcelain", "--untracked-files=all"]),
            "",
            "{label}: cargo changed the tree"
        );

        let clean = s.clone_work("checkout", None);
        let out = s.dir.join("dist");
        let tools = testbed::tools().unwrap();
        let path = std::env::join_paths(std::iter::once(tools.bin("")).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let build = with_cargo(&s, tools.python().to_str().unwrap())
            .args(["-m", "build", "--sdist", "--no-isolation", "--outdir"])
            .arg(&out)
            .arg(&clean)
            .env("PATH", path)
            .output()
            .unwrap();
        Run::from(build).success();
        let sdist = out.join("ts_fx_maturin-1.0.0.tar.gz");
        assert_the_sdist_is_the_extensions_alone(&sdist, &s.git(&["show", "HEAD:Cargo.lock"]));
        std::fs::remove_dir_all(&s.dir).unwrap();
    }
}
