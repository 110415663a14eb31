//! What the trials of real projects found (issue 21: adopted as a new user would, from their
//! own PyPI sdists), each reproduced on a small fixture with the feature.

use std::path::Path;

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

/// rpds-py 0.22.3 is the distribution `rpds-py` and imports as `rpds`: maturin names the module
/// after `[tool.maturin] module-name`, else the crate's `[lib] name`, else its package name.
/// `init` read only the first, warned "no import name" and left the smoke test unset.
#[test]
fn init_names_a_maturin_projects_module_after_its_crate_as_maturin_does() {
    let checkout = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    // (what the crate's `Cargo.toml` says, the module maturin builds)
    let cases = [
        ("name = \"ts_fx_maturin\"", "name = \"rpds\"", "rpds"),
        ("[lib]\nname = \"ts_fx_maturin\"\n", "[lib]\n", "ts_fx_rpds"),
    ];
    for (from, to, module) in cases {
        let s = Scratch::outside_workspace("trial-maturin-module");
        copy_fixture("maturin", &s.work, &[]);
        let cargo = s.read("Cargo.toml").replace(from, to);
        s.write("Cargo.toml", &cargo.replace("ts-fx-maturin", "ts-fx-rpds"));
        let pyproject = s.read("pyproject.toml");
        s.write(
            "pyproject.toml",
            &pyproject.replace("ts-fx-maturin", "rpds-py"),
        );
        s.commit_all("Import the extension");
        s.twostage(&["init", ".", "--path", checkout]).success();
        let doc: toml_edit::DocumentMut = s.read("pyproject.toml").parse().unwrap();
        let smoke = doc
            .get("tool")
            .and_then(|t| t.get("twostage"))
            .and_then(|t| t.get("verify"))
            .and_then(|v| v.get("smoke"))
            .and_then(|s| s.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>())
            .unwrap_or_default();
        assert_eq!(
            smoke,
            [format!(
                "python -c 'import {module}; print({module}.__name__)'"
            )],
            "{cargo}"
        );
        std::fs::remove_dir_all(&s.dir).unwrap();
    }
}

/// A project `init` finds no import name in (two packages): the warning names the table and
/// the file `init` wrote the configuration to, `[tool.twostage]` of `pyproject.toml`, not
/// `release.toml`; the configuration's comment points at documentation that exists (the
/// project has no `docs/configuration.md` of twostage's); "Next steps" has no `cd` into the
/// folder it runs in and `git add`s exactly what `init` changed (not an unchanged
/// `.gitignore`) and the kit's lock.
#[test]
fn init_run_in_its_folder_lists_only_what_it_changed_and_names_where_the_smoke_goes() {
    let s = Scratch::new("trial-init-output");
    s.write(
        "pyproject.toml",
        "[build-system]\nrequires = [\"flit_core >=3.2,<5\"]\nbuild-backend = \"flit_core.buildapi\"\n\n\
         [project]\nname = \"ts-trial-two\"\nversion = \"0.1.0\"\ndescription = \"Two packages\"\n",
    );
    s.write("alpha/__init__.py", "");
    s.write("beta/__init__.py", "");
    s.write(".gitignore", "target/\n__pycache__/\n");
    s.commit_all("Two packages");
    let checkout = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let run = s.twostage(&["init", ".", "--path", checkout]).success();
    let warning = run
        .stderr
        .lines()
        .find(|l| l.contains("found no import name"))
        .unwrap_or_else(|| panic!("no warning:\n{}", run.stderr));
    assert!(
        warning.contains("`[tool.twostage.verify]` of `pyproject.toml`"),
        "{warning}"
    );
    let pyproject = s.read("pyproject.toml");
    let comment = pyproject
        .lines()
        .find(|l| l.starts_with("# twostage configuration"))
        .unwrap();
    let docs = comment.split('`').nth(1).unwrap_or_default();
    assert!(Path::new(docs).is_file(), "{comment}");

    let steps: Vec<&str> = run
        .stderr
        .lines()
        .skip_while(|l| *l != "Next steps:")
        .skip(1)
        .map(str::trim)
        .collect();
    assert!(steps[0].starts_with("cargo build"), "{steps:?}");
    let add: std::collections::BTreeSet<&str> = steps
        .iter()
        .find_map(|l| l.strip_prefix("git add "))
        .and_then(|l| l.split(" && ").next())
        .unwrap()
        .split(' ')
        .collect();
    let status = s.git(&["status", "--porcelain", "--untracked-files=all"]);
    let mut changed: std::collections::BTreeSet<&str> = status
        .lines()
        .filter_map(|l| l.split_whitespace().last()?.split('/').next())
        .collect();
    // The kit's first build writes it.
    changed.insert("Cargo.lock");
    assert_eq!(add, changed, "{status}");

    // From another folder, the first step goes there.
    let other = Scratch::new("trial-init-elsewhere");
    other.write("pyproject.toml", &s.git(&["show", "HEAD:pyproject.toml"]));
    other.commit_all("A project");
    let out = other
        .command(env!("CARGO_BIN_EXE_twostage"))
        .current_dir(&other.dir)
        .args(["init", "work", "--path", checkout])
        .output()
        .unwrap();
    let run = Run::from(out).success().stderr.clone();
    let work = other.work.canonicalize().unwrap();
    run.lines()
        .skip_while(|l| *l != "Next steps:")
        .nth(1)
        .filter(|l| l.trim() == format!("cd {}", work.display()))
        .unwrap_or_else(|| panic!("no `cd`:\n{run}"));
}

/// humanize 4.12.1 (unprefixed tags) and rpds-py 0.22.3, adopted: `status` listed every old
/// release as "tagged, next: `cargo xtask stage …`". Tags from before the commit that adopted
/// twostage are `before-twostage`, shown once as a count; a tag made after it is not.
#[test]
fn status_counts_the_tags_from_before_twostage_once_and_suggests_nothing_for_them() {
    let s = Scratch::new("trial-old-tags");
    copy_fixture(
        "sample-flit",
        &s.work,
        &[
            ("name", "ts-trial-old-tags"),
            ("module", "ts_trial_old_tags"),
        ],
    );
    let keys = s.read("release.toml");
    std::fs::remove_file(s.work.join("release.toml")).unwrap();
    s.commit_all("Before twostage");
    s.git(&["tag", "v1.4.0"]);
    s.git(&["tag", "-a", "v1.4.1", "-m", "1.4.1"]);
    let keys = keys.strip_prefix("[package]\n").unwrap().trim_end();
    s.write("release.toml", &release_toml(keys));
    s.commit_all("Adopt twostage");
    // A tag made after the adoption, by hand, not staged yet: still a release to act on.
    s.git(&["tag", "v1.4.2"]);

    let json = s.twostage(&["status", "--json"]).success().stdout.clone();
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let states: Vec<(&str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["tag"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("v1.4.2", "tagged"),
            ("v1.4.1", "before-twostage"),
            ("v1.4.0", "before-twostage")
        ]
    );
    let table = s.twostage(&["status"]).success().stdout.clone();
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with('v')).collect();
    assert!(
        rows.len() == 1 && rows[0].contains("next: `git push origin v1.4.2`"),
        "{table}"
    );
    assert!(
        table.contains("2 tags before twostage (the newest `v1.4.1`)"),
        "{table}"
    );
}

/// markupsafe's first rehearsal: the build succeeded and a PyPI rule refused its files, and
/// `release` said "its tagged commit does not build". It says which happened.
#[test]
fn a_release_whose_files_are_refused_says_so_and_one_that_fails_to_build_says_that() {
    let name = "ts-trial-refused";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    let pyproject = s.read("pyproject.toml").replace(
        "description = \"A sample\"\n",
        "description = \"A sample\"\nclassifiers = [\"Programming Language :: Pyhton :: 3\"]\n",
    );
    s.write("pyproject.toml", &pyproject);
    s.commit_all("A classifier with a typo");
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("v1.4.3 was not released: its tagged commit builds, but its files are refused");
    assert_eq!(s.snapshot(), before);

    s.git(&["rm", "--quiet", "-r", "ts_trial_refused"]);
    s.commit_all("Lose the module");
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("v1.4.3 was not released: its tagged commit does not build");
}

/// "installed and 0 smoke commands passed" read as a pass of a smoke test: with
/// `verify.smoke = []` the verification says no smoke command ran, and how to set one.
#[test]
fn a_verification_with_no_smoke_command_says_none_ran() {
    let name = "ts-trial-no-smoke";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    let toml = s
        .read("release.toml")
        .replace("[verify]\n", "[verify]\nsmoke = []\n");
    s.write("release.toml", &toml);
    s.commit_all("No smoke test");
    s.twostage(&["release", "patch"]).success();
    let run = s.stage(&["v1.4.3"], SENTINEL).success();
    let verified: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("Verified") && l.contains(".whl"))
        .collect();
    assert!(
        !verified.is_empty()
            && verified
                .iter()
                .all(|l| l.contains("installed; no smoke command ran (set `verify.smoke`)")),
        "{}",
        run.stderr
    );
}
