//! One reading of the project, shared by `init` and every step: a `setup.py` project's name
//! known to `release` and `stage` as it is to `init`; the tag prefix (from the tags, with or
//! without `init`, and checked against the VCS tool's tag regex), the import name (from the
//! sources, else the built wheel) and what `init` could not find; `status`'s next step where
//! there is no GitHub repository.

use crate::common::*;

/// `init` in the sample at `s` (its `release.toml` removed first); init's own `release.toml`,
/// parsed. Commits nothing.
fn init(s: &Scratch) -> (Run, toml_edit::DocumentMut) {
    s.git(&["rm", "--quiet", "release.toml"]);
    s.commit_all("Not adopted yet");
    let run = s.twostage(&["init", "."]).success();
    if s.work.join("release.toml").exists() {
        return (run, s.read("release.toml").parse().unwrap());
    }
    // init wrote `[tool.twostage]`: the test takes it out into a `release.toml` of its own, so
    // it can add the test servers' tables key by key.
    let mut manifest: toml_edit::DocumentMut = s.read("pyproject.toml").parse().unwrap();
    let table = manifest["tool"]
        .as_table_mut()
        .and_then(|tool| tool.remove("twostage"))
        .expect("init writes [tool.twostage]");
    s.write("pyproject.toml", &manifest.to_string());
    let mut doc = toml_edit::DocumentMut::new();
    for (key, item) in table.as_table().unwrap().iter() {
        doc.insert(key, item.clone());
    }
    (run, doc)
}

/// init's `release.toml` with the test servers' tables (build, indexes, verify timeout)
/// merged in, key by key: what init wrote stays as it wrote it.
fn with_test_servers(mut adopted: toml_edit::DocumentMut) -> String {
    let servers: toml_edit::DocumentMut = release_toml("").parse().unwrap();
    for (table, item) in servers.iter().filter(|(t, _)| *t != "package") {
        let Some(keys) = item.as_table() else {
            continue;
        };
        let target = adopted
            .entry(table)
            .or_insert(toml_edit::table())
            .as_table_mut()
            .unwrap();
        for (key, value) in keys.iter() {
            target.insert(key, value.clone());
        }
    }
    adopted.to_string()
}

#[test]
fn a_setup_py_project_without_package_name_in_its_configuration_releases_and_stages() {
    let name = "ts-read-setup";
    let module = "ts_read_setup";
    let s = Scratch::new(name);
    copy_fixture(
        "sample-setup-py",
        &s.work,
        &[("name", name), ("module", module)],
    );
    // Hand-written, without `package.name`: the name is only in setup.py's `setup(name=…)`.
    s.write(
        "release.toml",
        &release_toml(&format!("version-files = [\"{module}/__init__.py\"]")),
    );
    s.commit_all("Initial import");
    s.twostage(&["release", "patch"]).success();
    assert_eq!(s.git(&["tag", "--list", "v1.4.3"]), "v1.4.3");
    s.stage(&["v1.4.3"], SENTINEL).success();
    let noted = note_artifacts(&release_note(&s, "v1.4.3"));
    assert_eq!(noted.len(), 2, "an sdist and a wheel: {noted:?}");
    assert_eq!(pypiserver_files(name), noted);
    assert_eq!(frozen_files(&s, "v1.4.3"), noted);
}

#[test]
fn init_takes_the_unprefixed_tags_prefix_and_the_next_release_tags_unprefixed() {
    let name = "ts-read-prefix";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.git(&["tag", "-a", "1.4.2", "-m", "Release 1.4.2"]);
    s.git(&["tag", "-a", "1.4.2-prod", "-m", "Promote 1.4.2"]);
    s.git(&["tag", "latest"]);
    let (_, adopted) = init(&s);
    let prefix = adopted
        .get("git")
        .and_then(|g| g.get("tag-prefix"))
        .and_then(|p| p.as_str());
    assert_eq!(prefix, Some(""), "{adopted}");
    s.write("release.toml", &with_test_servers(adopted));
    s.commit_all("Adopt twostage");
    s.twostage(&["release", "patch"]).success();
    assert_eq!(s.git(&["tag", "--list", "1.4.3"]), "1.4.3");
    assert_eq!(s.git(&["tag", "--list", "v*"]), "");
    assert_eq!(
        s.git(&["rev-parse", "1.4.3^{commit}"]),
        s.git(&["rev-parse", "HEAD"])
    );
}

#[test]
fn init_finds_the_import_name_of_a_distribution_named_otherwise() {
    let name = "ts-read-imp-py";
    let s = Scratch::new(name);
    copy_fixture(
        "reading-import-name",
        &s.work,
        &[("name", name), ("module", "ts_read_imp")],
    );
    s.write("release.toml", "[package]\n");
    s.commit_all("Initial import");
    let (_, adopted) = init(&s);
    let smoke: Vec<&str> = adopted["verify"]["smoke"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(
        smoke,
        ["python -c 'import ts_read_imp; print(ts_read_imp.__name__)'"],
        "{adopted}"
    );
}

#[test]
fn init_says_which_key_to_set_when_it_finds_no_import_name() {
    let name = "ts-read-noimp";
    let s = Scratch::new(name);
    copy_fixture(
        "reading-import-name",
        &s.work,
        &[("name", name), ("module", "ts_read_one")],
    );
    // Two packages, neither named after the distribution: none is guessed.
    s.write("ts_read_two/__init__.py", "");
    s.write("release.toml", "[package]\n");
    s.commit_all("Initial import");
    let (run, adopted) = init(&s);
    // Unset, not `[]`: verification imports the built wheel's top-level names.
    assert!(adopted["verify"].get("smoke").is_none(), "{adopted}");
    run.stderr_has("warning")
        .stderr_has("`verify.smoke`")
        .stderr_has("ts_read_one, ts_read_two");
}

/// `status --json`'s detail of `tag`, with `env` set.
fn status_detail(s: &Scratch, tag: &str, env: &[(&str, &str)]) -> String {
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["status", tag, "--json"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let run = Run::from(out).success();
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows[0]["state"], "promoted", "{}", run.stdout);
    rows[0]["detail"].as_str().unwrap().to_string()
}

#[test]
fn status_names_the_github_release_only_where_there_is_a_github_repository() {
    let name = "ts-read-status";
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    s.twostage(&["release", "patch"]).success();
    s.stage(&["v1.4.3"], SENTINEL).success();
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["promote", "v1.4.3", "--no-github"])
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("PYPI_TOKEN", SENTINEL)
        .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
        .output()
        .unwrap();
    Run::from(out).success();
    assert!(!s.git(&["tag", "--list", "v1.4.3-prod"]).is_empty());
    // The origin is a folder, and no `github.repository` is set: promoted is done.
    assert_eq!(status_detail(&s, "v1.4.3", &[]), "");
    // With a GitHub repository configured, the GitHub release is still to publish.
    let detail = status_detail(&s, "v1.4.3", &[("TWOSTAGE_GITHUB_REPOSITORY", "o/n")]);
    assert_eq!(
        detail,
        "next: `cargo xtask promote v1.4.3` publishes the GitHub release"
    );
}

#[test]
fn a_hatch_vcs_project_with_a_hand_written_configuration_releases_its_unprefixed_tags() {
    let name = "ts-read-vcs-bare";
    let module = name.replace('-', "_");
    let s = Scratch::new(name);
    copy_fixture(
        "sample-hatch-vcs",
        &s.work,
        &[("name", name), ("module", &module)],
    );
    // Written by hand: no `git.tag-prefix`, and the project's tags are unprefixed.
    s.write("release.toml", &release_toml(""));
    s.commit_all("Initial import");
    s.git(&["tag", "-a", "1.4.2", "-m", "Release 1.4.2"]);
    s.write("NEWS", "a change after 1.4.2\n");
    s.commit_all("A change after 1.4.2");
    s.twostage(&["release", "patch"]).success();
    // The tag the reading settled on is the one init writes (`tag-prefix = ""`).
    assert_eq!(s.git(&["tag", "--list", "1.4.3"]), "1.4.3");
    assert_eq!(s.git(&["tag", "--list", "v*"]), "");
    s.stage(&["1.4.3"], SENTINEL).success();
    let served = pypiserver_files(name);
    assert_eq!(served.len(), 2, "an sdist and a wheel: {served:?}");
    assert!(
        served.keys().all(|f| f.contains("-1.4.3")),
        "hatch-vcs built 1.4.3 from tag `1.4.3`: {served:?}"
    );
}

/// The commands verification ran on the wheel of `tag`, as its note records them.
fn wheel_commands(s: &Scratch, tag: &str) -> Vec<(String, i64)> {
    let note = release_note(s, tag);
    let artifacts = note["verification"]["artifacts"]
        .as_array_of_tables()
        .unwrap();
    let wheel = artifacts
        .iter()
        .find(|a| a["kind"].as_str() == Some("wheel"))
        .expect("the wheel was verified");
    wheel["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let c = c.as_inline_table().unwrap();
            let command = c["command"].as_str().unwrap().to_string();
            (command, c["exit"].as_integer().unwrap())
        })
        .collect()
}

#[test]
fn a_package_the_layout_does_not_show_is_smoke_tested_by_the_built_wheels_name() {
    let name = "ts-read-wheel-py";
    let module = "ts_read_whl";
    let s = Scratch::new(name);
    // The package is `lib/ts_read_whl`, mapped by `[tool.setuptools] package-dir`: neither
    // named after the distribution nor in `src/` or the top folder.
    copy_fixture(
        "reading-package-dir",
        &s.work,
        &[("name", name), ("module", module)],
    );
    s.write("release.toml", "[package]\n");
    s.commit_all("Initial import");
    let (run, adopted) = init(&s);
    assert!(adopted["verify"].get("smoke").is_none(), "{adopted}");
    run.stderr_has("`verify.smoke`");
    s.write("release.toml", &with_test_servers(adopted));
    s.commit_all("Adopt twostage");
    s.twostage(&["release", "patch"])
        .success()
        .stderr_has(&format!("python -c 'import {module}'"));
    s.stage(&["v1.4.3"], SENTINEL).success();
    let commands = wheel_commands(&s, "v1.4.3");
    let smoke: Vec<&(String, i64)> = commands
        .iter()
        .filter(|(c, _)| c.contains(&format!("import {module}")))
        .collect();
    assert_eq!(smoke.len(), 1, "{commands:?}");
    assert_eq!(
        smoke[0].1, 0,
        "the installed wheel's package imports: {commands:?}"
    );
}

#[test]
fn a_configured_smoke_test_the_wheel_cannot_answer_is_warned_about_before_the_push() {
    let name = "ts-read-lack-py";
    let module = "ts_read_lack";
    let s = Scratch::new(name);
    copy_fixture(
        "reading-package-dir",
        &s.work,
        &[("name", name), ("module", module)],
    );
    // `[verify]` is the last table of the test servers' configuration.
    let config = release_toml("") + "smoke = [\"python -c 'import ts_read_other'\"]\n";
    s.write("release.toml", &config);
    s.commit_all("Initial import");
    s.twostage(&["release", "patch"])
        .success()
        .stderr_has("warning")
        .stderr_has("`verify.smoke` imports `ts_read_other`")
        .stderr_has(&format!("`{module}`"));
    // A warning, not a refusal: the tag is made and built, and only local so far.
    assert_eq!(s.git(&["tag", "--list", "v1.4.3"]), "v1.4.3");
    assert_eq!(s.git_in(&s.origin, &["tag", "--list"]), "");
}

#[test]
fn init_says_a_vcs_project_without_tags_needs_its_first_version_named_and_the_crate_is_unpublished()
{
    let name = "ts-read-vcs-new";
    let module = name.replace('-', "_");
    let s = Scratch::new(name);
    copy_fixture(
        "sample-hatch-vcs",
        &s.work,
        &[("name", name), ("module", &module)],
    );
    s.commit_all("Initial import");
    // No tag yet: the version is the first release tag, which `release patch` cannot bump.
    let (run, adopted) = init(&s);
    run.stderr_has("the release tags (hatch-vcs), and there is none yet")
        .stderr_has("`cargo xtask release 0.1.0` tags `v0.1.0`")
        // The default dependency is the published crate, which does not resolve yet.
        .stderr_has("twostage is not on crates.io yet")
        .stderr_has("`--git URL`");
    // What init said is what `release` does: `patch` has nothing to bump, 0.1.0 is named.
    s.write("release.toml", &with_test_servers(adopted));
    s.commit_all("Adopt twostage");
    s.twostage(&["release", "patch", "--dry-run", "--offline"])
        .failure(2)
        .stderr_has("cargo xtask release 0.1.0");
    s.twostage(&["release", "0.1.0"]).success();
    assert_eq!(s.git(&["tag", "--list", "v0.1.0"]), "v0.1.0");
}

#[test]
fn a_tag_prefix_the_vcs_tool_cannot_read_is_refused_before_anything_changes() {
    let name = "ts-read-vcs-rel";
    let module = name.replace('-', "_");
    let s = Scratch::new(name);
    copy_fixture(
        "sample-hatch-vcs",
        &s.work,
        &[("name", name), ("module", &module)],
    );
    // hatch-vcs's default `tag_regex` does not read `rel_1.4.2`.
    s.write(
        "release.toml",
        &(release_toml("") + "\n[git]\ntag-prefix = \"rel_\"\n"),
    );
    s.commit_all("Initial import");
    s.git(&["tag", "-a", "rel_1.4.2", "-m", "Release 1.4.2"]);
    s.write("NEWS", "a change after 1.4.2\n");
    s.commit_all("A change after 1.4.2");
    let before = s.snapshot();
    s.twostage(&["release", "patch"])
        .failure(1)
        .stderr_has("`git.tag-prefix` is `rel_`, but hatch-vcs")
        .stderr_has("tag-pattern");
    assert_eq!(s.snapshot(), before);
    assert_eq!(s.git(&["tag", "--list", "rel_1.4.3"]), "");
}
