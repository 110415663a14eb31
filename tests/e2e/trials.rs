//! What the trials of real projects found (issue 21: adopted as a new user would, from their
//! own PyPI sdists), each reproduced on a small fixture with the feature.

use crate::common::*;
use crate::maturin::{run, SMOKE};

/// rpds-py 0.22.3 (maturin + pyo3), adopted with nothing but the index URLs and tokens set:
/// `release patch` built a `linux_x86_64` wheel (maturin's PEP 517 backend passes
/// `--compatibility off`), which the PyPI rules then refused, so no maturin project could
/// release without writing `MATURIN_PEP517_ARGS` into `build.command` by hand.
#[test]
fn a_maturin_project_releases_a_wheel_pypi_accepts_without_a_build_command_of_its_own() {
    let s = Scratch::outside_workspace("trial-maturin");
    copy_fixture("maturin", &s.work, &[]);
    // The tools' `bin/` on PATH stands in for the maintainer's PATH, where the build without
    // isolation finds `maturin`; nothing else of the build is configured.
    let bin = testbed::tools().unwrap().bin("");
    let toml = release_toml("version-files = [\"Cargo.toml\"]")
        .replace(
            "command = \"'",
            &format!("command = \"env PATH='{}':$PATH '", bin.display()),
        )
        .replace("[verify]\n", &format!("[verify]\nsmoke = [{SMOKE:?}]\n"));
    s.write("release.toml", &toml);
    s.commit_all("Import the extension");

    // `--offline`: the maturin test releases the same fixture's 1.0.1 on the shared indexes.
    let release = run(
        &s,
        env!("CARGO_BIN_EXE_twostage"),
        &["release", "patch", "--offline"],
    );
    let release = release.success();
    let frozen = frozen_files(&s, "v1.0.1");
    let wheels: Vec<&String> = frozen.keys().filter(|n| n.ends_with(".whl")).collect();
    assert!(
        wheels.len() == 1 && wheels[0].contains("-manylinux_"),
        "the frozen wheel is tagged for PyPI: {wheels:?}\n{}",
        release.stderr
    );
    std::fs::remove_dir_all(&s.dir).unwrap();
}

/// rpds-py's `.gitignore` says `/target` (the root's only). With `xtask/` a Cargo workspace
/// of its own, cargo builds the kit into `xtask/target/`, and init's own next step
/// (`git add … xtask …`) then committed the whole build (over a thousand files).
#[test]
fn in_a_rust_project_whose_gitignore_anchors_target_the_kits_build_folder_is_ignored() {
    let s = Scratch::outside_workspace("trial-gitignore");
    copy_fixture("maturin", &s.work, &[]);
    s.write(".gitignore", "/target\n__pycache__/\n");
    s.commit_all("Import the extension");
    let checkout = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    s.twostage(&["init", ".", "--path", checkout]).success();
    // What the first `cargo build --manifest-path xtask/Cargo.toml` leaves, and the project's
    // own build folder.
    s.write("xtask/target/debug/xtask", "a build");
    s.write("target/debug/librpds.so", "a build");
    let untracked = s.git(&["status", "--porcelain", "--untracked-files=all"]);
    let built: Vec<&str> = untracked
        .lines()
        .filter(|l| l.contains("target/"))
        .collect();
    assert!(built.is_empty(), "git would add the builds: {built:?}");
    assert!(
        s.read(".gitignore").starts_with("/target\n__pycache__/\n"),
        "the project's lines stay as they were"
    );
    std::fs::remove_dir_all(&s.dir).unwrap();
}

/// markupsafe 3.0.2, rehearsed: PyPI (which the rehearsal's production mirrors) already has
/// 3.0.3, and the refusal named all 80 of its files on one line, burying the rest of the report.
#[test]
fn a_version_already_on_an_index_names_a_few_of_its_files_and_counts_the_rest() {
    let ix = indexes();
    let s = Scratch::new("trial-many-files");
    sample(&s, Layout::StaticFlit, "ts-trial-many-files");
    let wheels: Vec<String> = (0..12)
        .map(|i| format!("ts_trial_many_files-1.4.3-cp3{i:02}-cp3{i:02}-win_amd64.whl"))
        .collect();
    for wheel in &wheels {
        std::fs::write(ix.pypi.packages.join(wheel), b"placeholder").unwrap();
    }
    let before = s.snapshot();
    let run = s.twostage(&["release", "patch"]).failure(1);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("is already on the staging index"))
        .unwrap_or_else(|| panic!("no refusal line:\n{}", run.stderr));
    let named = wheels.iter().filter(|w| line.contains(w.as_str())).count();
    assert!(
        named == 3 && line.contains(" and 9 more"),
        "names {named} of 12: {line}"
    );
    assert_eq!(s.snapshot(), before);
}

/// The smoke test of the C-extension fixture: the compiled module imports and computes.
const CEXT_SMOKE: &str = "python -c 'from MODULE import _speedups as m; r = m.add(2, 3); assert r == 5; print(\"add(2, 3) =\", r, \"from\", m.__file__)'";

/// A setuptools project with one C extension (`cext`, as markupsafe 3.0.2 with its
/// `_speedups.c`), released with the tests' `release.toml` and nothing added but the smoke test.
fn cext_project(s: &Scratch, name: &str, extra_build_keys: &str) -> String {
    let module = name.replace('-', "_");
    copy_fixture("cext", &s.work, &[("name", name), ("module", &module)]);
    let package = s.read("release.toml");
    let keys = package.strip_prefix("[package]\n").unwrap().trim_end();
    let smoke = CEXT_SMOKE.replace("MODULE", &module);
    let toml = release_toml(keys)
        .replace("[build]\n", &format!("[build]\n{extra_build_keys}"))
        .replace("[verify]\n", &format!("[verify]\nsmoke = [{smoke:?}]\n"));
    s.write("release.toml", &toml);
    s.commit_all("Import the extension");
    module
}

/// The `WHEEL` file of the wheel at `path`, read with the tools' Python.
fn wheel_file(path: &std::path::Path) -> String {
    let python = testbed::tools().unwrap().python();
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n\
                  print(z.read(next(n for n in z.namelist() if n.endswith('.dist-info/WHEEL'))).decode())";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// markupsafe 3.0.2 (setuptools, `ext_modules`), adopted with `init`: `release patch` built a
/// `linux_x86_64` wheel, which PyPI refuses, so the release was refused and went through only
/// with `build.command` building the sdist alone and `verify.artifacts = ["sdist"]`. Now the
/// wheel is repaired with `auditwheel repair` before the freeze: the frozen, staged and
/// verified wheel is the `manylinux_*` one, and the `linux_*` original is nowhere.
#[test]
fn a_setuptools_c_extension_releases_a_repaired_manylinux_wheel_without_a_hand_fix() {
    let ix = indexes();
    let name = "ts-trial-cext";
    let s = Scratch::new("trial-cext");
    let module = cext_project(&s, name, "");

    let release = s.twostage(&["release", "patch"]).success();
    let frozen = frozen_files(&s, "v3.0.3");
    let wheels: Vec<&String> = frozen.keys().filter(|n| n.ends_with(".whl")).collect();
    assert!(
        frozen.len() == 2
            && frozen.contains_key(&format!("{module}-3.0.3.tar.gz"))
            && wheels.len() == 1
            && wheels[0].contains("manylinux")
            && !wheels[0].contains("-linux_"),
        "the sdist and the repaired wheel are frozen: {frozen:?}\n{}",
        release.stderr
    );
    let wheel = wheels[0].clone();
    let tags = wheel_file(&frozen_dir(&s, "v3.0.3").join(&wheel));
    let tag_lines: Vec<&str> = tags.lines().filter(|l| l.starts_with("Tag: ")).collect();
    assert!(
        !tag_lines.is_empty() && tag_lines.iter().all(|l| l.contains("-manylinux")),
        "the wheel's own WHEEL file names the manylinux tag: {tags}"
    );

    s.stage(&["v3.0.3"], SENTINEL).success();
    // Staging serves exactly the frozen bytes, as the index lists them and as it stores them.
    assert_eq!(served_map(&ix.pypi.index_url(), name), frozen);
    assert_eq!(pypiserver_files(name), frozen);
    // Verification installed both, the repaired wheel among them, and ran the smoke test.
    let note = release_note(&s, "v3.0.3");
    let verification = note["verification"].as_table().unwrap();
    assert_eq!(verification["result"].as_str(), Some("verified"));
    let verified: Vec<&str> = verification["verified-sha256"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(verified.contains(&frozen[&wheel].as_str()), "{verified:?}");
}

/// `build.repair = false`: the build's `linux_*` wheel is left as it is, and so refused by the
/// PyPI rules as before, the tag undone.
#[test]
fn with_the_repair_turned_off_a_linux_wheel_is_refused_as_pypi_would() {
    let s = Scratch::new("trial-cext-norepair");
    cext_project(&s, "ts-trial-cext-norepair", "repair = false\n");
    let before = s.snapshot();
    let run = s.twostage(&["release", "patch"]).failure(1);
    let refusal = run
        .stderr
        .lines()
        .find(|l| l.contains("PyPI refuses the platform tag `linux_"))
        .unwrap_or_else(|| panic!("no platform refusal:\n{}", run.stderr));
    assert!(refusal.contains("-linux_"), "{refusal}");
    assert_eq!(s.snapshot(), before);
}

/// setuptools-scm 10 (and vcs-versioning, which it builds on) needs `typing-extensions` below
/// Python 3.11 (`typing-extensions>=4.1; python_version < "3.11"` in their metadata): the
/// production index these tests seed (as `rehearse --offline` does) must serve it, or the
/// sdist of a VCS-versioned project cannot be built in isolation there on Python 3.10.
#[test]
fn a_setuptools_scm_sdist_builds_on_python_3_10_from_the_seeded_production_index() {
    let s = Scratch::new("trial-scm-310");
    sample(&s, Layout::SetuptoolsScm, "ts-trial-scm-310");
    let toml = s
        .read("release.toml")
        .replace("[verify]\n", "[verify]\npython = [\"3.10\"]\n");
    s.write("release.toml", &toml);
    s.commit_all("Verify on Python 3.10");
    s.twostage(&["release", "patch"]).success();
    let stage = s.stage(&["v1.4.3"], SENTINEL);
    let note = release_note(&s, "v1.4.3");
    let verification = note["verification"].as_table().unwrap();
    let cells: Vec<(String, String, String)> = verification["artifacts"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .map(|c| {
            let text = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            (text("filename"), text("python"), text("result"))
        })
        .collect();
    assert!(
        cells.len() == 2
            && cells
                .iter()
                .all(|(_, python, result)| python.starts_with("3.10") && result == "verified"),
        "both files verified on 3.10: {cells:#?}\n{}",
        stage.stderr
    );
}

/// An extension linked to a library auditwheel cannot find (built beside the project and gone
/// by the time the wheel is repaired): no manylinux policy can be satisfied, so the release is
/// refused, naming the wheel, auditwheel's reason and the fixes, and undone.
#[test]
fn a_wheel_auditwheel_cannot_repair_is_refused_with_its_reason_and_the_fixes() {
    let s = Scratch::new("trial-cext-unrepairable");
    let module = cext_project(&s, "ts-trial-cext-unrepairable", "");
    let lib = s.dir.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("tsx.c"), "int tsx(void) { return 1; }\n").unwrap();
    let gcc = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(lib.join("libtsx.so"))
        .arg(lib.join("tsx.c"))
        .status()
        .unwrap();
    assert!(gcc.success());
    let c = format!("{module}/_speedups.c");
    s.write(
        &c,
        &s.read(&c).replace(
            "return PyLong_FromLong(a + b);",
            "extern int tsx(void);\n    return PyLong_FromLong(a + b + tsx() - 1);",
        ),
    );
    s.write(
        "setup.py",
        &s.read("setup.py").replace(
            "_speedups.c\"])",
            &format!(
                "_speedups.c\"], libraries=[\"tsx\"], library_dirs=[{:?}])",
                lib.display().to_string()
            ),
        ),
    );
    // The library is removed once the wheel is built, before the repair looks for it.
    let toml = s.read("release.toml").replace(
        "--outdir {out}\"",
        &format!(
            "--outdir {{out}} && rm -f '{}'\"",
            lib.join("libtsx.so").display()
        ),
    );
    s.write("release.toml", &toml);
    s.commit_all("Link a library of the machine's");
    let before = s.snapshot();

    let run = s.twostage(&["release", "patch"]).failure(1);
    let refusal = run
        .stderr
        .lines()
        .find(|l| l.contains("cannot be repaired into a wheel PyPI takes"))
        .unwrap_or_else(|| panic!("no repair refusal:\n{}", run.stderr));
    assert!(
        refusal.contains("-linux_x86_64.whl`")
            && refusal.contains("\"libtsx.so\" could not be located")
            && refusal.contains("cibuildwheel")
            && refusal.contains("stage --dist DIR")
            && refusal.contains("build.command"),
        "{refusal}"
    );
    assert_eq!(s.snapshot(), before);
}

/// Offline on first use: auditwheel cannot be installed, so the `linux_*` wheel is refused by
/// the platform rule as before, with one more line saying the repair could not run.
#[test]
fn without_the_repair_tool_the_platform_refusal_says_the_repair_could_not_run() {
    let s = Scratch::new("trial-cext-offline");
    cext_project(&s, "ts-trial-cext-offline", "");
    let before = s.snapshot();
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["release", "patch"])
        // A folder where the tool is not installed, and an index nothing answers on.
        .env("TWOSTAGE_REPAIR_DIR", s.dir.join("no-repair-tool"))
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
        .env("PIP_RETRIES", "0")
        .env("PIP_NO_CACHE_DIR", "1")
        .output()
        .unwrap();
    let run = Run::from(out).failure(1);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("-linux_x86_64.whl`: PyPI refuses the platform tag")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.lines().any(|l| l
            .contains("the repair with `auditwheel repair` could not run here")
            && l.contains("cannot install auditwheel")),
        "{}",
        run.stderr
    );
    assert!(!s
        .dir
        .join("no-repair-tool/venv/.twostage-requirements")
        .exists());
    assert_eq!(s.snapshot(), before);
}
