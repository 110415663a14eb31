//! Issue 23 wired into `init` and `release` (docs/monorepo.md): `init` in a uv workspace of
//! three packages writes one `[[packages]]` entry each; `release --package NAME` and
//! `release --changed` bump each chosen package in its folder, roll its changelog and tag it
//! `<name>-v<version>` on one shared release commit, with the members' versions in `uv.lock`;
//! the new-project limit and every usage error change nothing. Outcomes are read with the
//! test's own code: the tags and what they point at, the commit's diff, the files, and what
//! the tools' uv writes into `uv.lock`.

use std::process::Stdio;

use twostage::config::Config;

use crate::common::*;

/// The `uv-workspace` fixture as `name`, with a `release.toml` naming its three packages
/// (the test servers' indexes, each package's smoke test), committed and pushed.
fn workspace(s: &Scratch, name: &str) {
    let module = name.replace('-', "_");
    copy_fixture(
        "uv-workspace",
        &s.work,
        &[("name", name), ("module", &module)],
    );
    let mut toml = release_toml("");
    for part in ["core", "cli", "extras"] {
        toml.push_str(&format!(
            "\n[[packages]]\nname = \"{name}-{part}\"\nfolder = \"packages/{part}\"\nsmoke = \
             [\"python -c 'import {module}_{part}'\"]\n"
        ));
    }
    s.write("release.toml", &toml);
    s.commit_all("Initial import");
}

/// The tags of the work repository, each with the commit it points at.
fn tags(s: &Scratch) -> Vec<(String, String)> {
    let listed = s.git(&[
        "for-each-ref",
        "--format=%(refname:short) %(*objectname)",
        "refs/tags",
    ]);
    listed
        .lines()
        .map(|l| {
            let (name, commit) = l.split_once(' ').unwrap();
            (name.to_string(), commit.to_string())
        })
        .collect()
}

/// The paths the commit `rev` changed.
fn changed_in(s: &Scratch, rev: &str) -> Vec<String> {
    let out = s.git(&["diff", "--name-only", &format!("{rev}^"), rev]);
    out.lines().map(str::to_string).collect()
}

/// `[project] version` of a package's manifest.
fn version_of(s: &Scratch, part: &str) -> String {
    let text = s.read(&format!("packages/{part}/pyproject.toml"));
    let doc: toml_edit::DocumentMut = text.parse().unwrap();
    doc["project"]["version"].as_str().unwrap().to_string()
}

#[test]
fn init_writes_one_entry_per_package_and_a_rerun_changes_nothing() {
    let s = Scratch::new("multi-init");
    copy_fixture(
        "uv-workspace",
        &s.work,
        &[("name", "mr-init"), ("module", "mr_init")],
    );
    s.commit_all("Initial import");
    s.twostage(&["init", "."]).success();
    let after_first = s.snapshot();
    s.twostage(&["init", "."]).success();
    assert_eq!(s.snapshot(), after_first, "a second init changes nothing");

    // The virtual root's `pyproject.toml` holds it; no `release.toml`.
    assert!(!s.work.join("release.toml").exists());
    let pyproject = s.read("pyproject.toml");
    assert!(
        pyproject.starts_with(
            &std::fs::read_to_string(fixture_dir("uv-workspace/pyproject.toml")).unwrap()
        ),
        "the root's own text is kept:\n{pyproject}"
    );
    let doc: toml_edit::DocumentMut = pyproject.parse().unwrap();
    let entries = doc["tool"]["twostage"]["packages"]
        .as_array_of_tables()
        .expect("[[tool.twostage.packages]]");
    let written: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["folder"].as_str().unwrap().to_string(),
                e["smoke"]
                    .as_array()
                    .unwrap()
                    .get(0)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let smoke = |m: &str| format!("python -c 'import {m}; print({m}.__name__)'");
    assert_eq!(
        written,
        [
            (
                "mr-init-cli".to_string(),
                "packages/cli".to_string(),
                smoke("mr_init_cli")
            ),
            (
                "mr-init-core".to_string(),
                "packages/core".to_string(),
                smoke("mr_init_core")
            ),
            (
                "mr-init-extras".to_string(),
                "packages/extras".to_string(),
                smoke("mr_init_extras")
            ),
        ]
    );
    assert!(
        doc["tool"]["twostage"].get("package").is_none(),
        "{pyproject}"
    );

    // It loads, and each package's configuration reads its own manifest and tags.
    let config = Config::load(&s.work).unwrap();
    assert_eq!(config.packages.len(), 3);
    for (part, version) in [("cli", "0.3.0"), ("core", "1.0.0"), ("extras", "2.1.0")] {
        let one = config.for_package(&format!("mr-init-{part}")).unwrap();
        assert_eq!(
            one.package.manifest,
            format!("packages/{part}/pyproject.toml")
        );
        assert_eq!(
            one.package.changelog,
            format!("packages/{part}/CHANGELOG.md")
        );
        let v: pep440_rs::Version = version.parse().unwrap();
        assert_eq!(
            one.git.tag_scheme().tag(&v),
            format!("mr-init-{part}-v{version}")
        );
    }
    // The kit as for one package; nothing of the kit's in a package's folder.
    for kit in ["hooks/pre-push", "xtask/src/main.rs", ".cargo/config.toml"] {
        assert!(s.work.join(kit).exists(), "{kit}");
    }
    let status = s.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(!status.contains("packages/"), "{status}");
}

#[test]
fn a_release_of_one_package_by_name_bumps_and_tags_only_it() {
    let s = Scratch::new("multi-one");
    workspace(&s, "mr-one");
    let initial = s.git(&["rev-parse", "HEAD"]);
    s.twostage(&["release", "patch", "--package", "mr-one-core"])
        .success();
    let head = s.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        s.git(&["rev-parse", "HEAD^"]),
        initial,
        "one release commit"
    );
    assert_eq!(tags(&s), [("mr-one-core-v1.0.1".to_string(), head.clone())]);
    assert_eq!(
        changed_in(&s, "HEAD"),
        ["packages/core/CHANGELOG.md", "packages/core/pyproject.toml"]
    );
    assert_eq!(version_of(&s, "core"), "1.0.1");
    assert_eq!(version_of(&s, "cli"), "0.3.0");
    assert_eq!(version_of(&s, "extras"), "2.1.0");
    assert!(s.read("packages/core/CHANGELOG.md").contains("## [1.0.1]"));
    let message = s.git(&["log", "-1", "--format=%s"]);
    assert_eq!(message, "Release mr-one-core-v1.0.1");
    // Built in its folder: the frozen files are the core package's, at the new version.
    let frozen = frozen_files(&s, "mr-one-core-v1.0.1");
    let names: Vec<&String> = frozen.keys().collect();
    assert_eq!(
        names,
        [
            "mr_one_core-1.0.1-py2.py3-none-any.whl",
            "mr_one_core-1.0.1.tar.gz"
        ]
    );
}

#[test]
fn two_packages_by_name_share_one_release_commit_and_push_with_both_tags() {
    let s = Scratch::new("multi-two");
    workspace(&s, "mr-two");
    let initial = s.git(&["rev-parse", "HEAD"]);
    s.twostage(&[
        "release",
        "minor",
        "--package",
        "mr-two-cli",
        "--package",
        "MR_two.core",
        "--push",
    ])
    .success();
    let head = s.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        s.git(&["rev-parse", "HEAD^"]),
        initial,
        "one release commit"
    );
    assert_eq!(
        tags(&s),
        [
            ("mr-two-cli-v0.4.0".to_string(), head.clone()),
            ("mr-two-core-v1.1.0".to_string(), head.clone()),
        ]
    );
    assert_eq!(
        changed_in(&s, "HEAD"),
        [
            "packages/cli/CHANGELOG.md",
            "packages/cli/pyproject.toml",
            "packages/core/CHANGELOG.md",
            "packages/core/pyproject.toml",
        ]
    );
    assert_eq!(version_of(&s, "extras"), "2.1.0");
    // `--push`: the branch and both tags on the origin.
    let origin = s.git_in(
        &s.origin,
        &[
            "for-each-ref",
            "--format=%(refname) %(*objectname)%(objectname)",
        ],
    );
    assert!(
        origin.contains(&format!("refs/heads/main {head}")),
        "{origin}"
    );
    for tag in ["mr-two-cli-v0.4.0", "mr-two-core-v1.1.0"] {
        assert!(
            origin.contains(&format!("refs/tags/{tag} {head}")),
            "{tag}:\n{origin}"
        );
    }
}

#[test]
fn changed_releases_only_the_package_whose_folder_changed_and_then_nothing() {
    let s = Scratch::new("multi-changed");
    workspace(&s, "mr-chg");
    let sh = s.sh();
    for (part, version) in [("core", "1.0.0"), ("cli", "0.3.0"), ("extras", "2.1.0")] {
        let tag = format!("mr-chg-{part}-v{version}");
        xshell::cmd!(sh, "git tag -a {tag} -m {tag}").run().unwrap();
    }
    let before_tags = tags(&s);
    s.write(
        "packages/extras/mr_chg_extras/helpers.py",
        "\"\"\"More helpers.\"\"\"\n",
    );
    s.commit_all("extras: helpers");
    let changed_at = s.git(&["rev-parse", "HEAD"]);
    let run = s.twostage(&["release", "patch", "--changed"]).success();
    run.stderr_has("mr-chg-core").stderr_has("mr-chg-cli");
    let head = s.git(&["rev-parse", "HEAD"]);
    assert_eq!(s.git(&["rev-parse", "HEAD^"]), changed_at);
    let mut expected = before_tags.clone();
    expected.push(("mr-chg-extras-v2.1.1".to_string(), head));
    expected.sort();
    let mut found = tags(&s);
    found.sort();
    assert_eq!(found, expected);
    assert_eq!(
        changed_in(&s, "HEAD"),
        [
            "packages/extras/CHANGELOG.md",
            "packages/extras/pyproject.toml"
        ]
    );
    assert_eq!(version_of(&s, "core"), "1.0.0");
    assert_eq!(version_of(&s, "cli"), "0.3.0");

    // Nothing changed since each package's last release: nothing released, exit 0.
    let before = s.snapshot();
    s.twostage(&["release", "patch", "--changed"]).success();
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_dry_run_of_two_packages_shows_both_plans_and_changes_nothing() {
    let s = Scratch::new("multi-dry");
    workspace(&s, "mr-dry");
    let before = s.snapshot();
    let run = s
        .twostage(&[
            "release",
            "patch",
            "--package",
            "mr-dry-core",
            "--package",
            "mr-dry-extras",
            "--dry-run",
        ])
        .success();
    assert_eq!(s.snapshot(), before, "a dry run changes nothing");
    for line in [
        "+version = \"1.0.1\"",
        "+version = \"2.1.1\"",
        "+++ b/packages/core/CHANGELOG.md",
        "+++ b/packages/extras/pyproject.toml",
    ] {
        assert!(
            run.stdout.contains(line),
            "{line:?} not in:\n{}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains("packages/cli"), "{}", run.stdout);
}

#[test]
fn the_release_commit_carries_the_members_versions_in_uv_lock_as_uv_writes_them() {
    let s = Scratch::new("multi-uvlock");
    workspace(&s, "mr-lock");
    let uv = testbed::tools().unwrap().bin("uv");
    let sh = s.sh();
    sh.cmd(&uv).args(["lock", "--offline"]).run().unwrap();
    s.commit_all("Lock the workspace");
    let locked = s.read("uv.lock");
    s.twostage(&[
        "release",
        "patch",
        "--package",
        "mr-lock-core",
        "--package",
        "mr-lock-cli",
    ])
    .success();
    assert!(changed_in(&s, "HEAD").contains(&"uv.lock".to_string()));
    let released = s.read("uv.lock");
    assert_ne!(released, locked);
    // What uv itself writes for the bumped workspace is what the release commit holds.
    sh.cmd(&uv).args(["lock", "--offline"]).run().unwrap();
    assert_eq!(
        s.read("uv.lock"),
        released,
        "uv lock would write another lock"
    );
    let status = s.git(&["status", "--porcelain"]);
    assert_eq!(status, "", "the tree is clean after `uv lock`");
    let doc: toml_edit::DocumentMut = released.parse().unwrap();
    let versions: Vec<(String, String)> = doc["package"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for expected in [
        ("mr-lock-cli", "0.3.1"),
        ("mr-lock-core", "1.0.1"),
        ("mr-lock-extras", "2.1.0"),
    ] {
        assert!(
            versions.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} not in {versions:?}"
        );
    }
}

#[test]
fn past_the_new_project_limit_the_release_is_refused_and_nothing_changes() {
    let s = Scratch::new("multi-limit");
    workspace(&s, "mr-limit");
    // The test index has no limit of its own: the configuration gives it one.
    let toml =
        s.read("release.toml")
            .replacen("[staging]\n", "[staging]\nnew-project-limit = 1\n", 1);
    s.write("release.toml", &toml);
    s.commit_all("A limit of one new project a day");
    let before = s.snapshot();
    let run = s
        .twostage(&[
            "release",
            "patch",
            "--package",
            "mr-limit-core",
            "--package",
            "mr-limit-cli",
        ])
        .failure(1);
    run.stderr_has("2 of the release set's projects do not exist yet on the staging index");
    assert_eq!(s.snapshot(), before, "nothing changed");
    assert!(tags(&s).is_empty());

    // One package is within the limit of one.
    s.twostage(&[
        "release",
        "patch",
        "--package",
        "mr-limit-core",
        "--dry-run",
    ])
    .success();
}

#[test]
fn usage_errors_name_the_packages_and_change_nothing() {
    let s = Scratch::new("multi-usage");
    workspace(&s, "mr-use");
    let before = s.snapshot();
    let run = s
        .twostage(&[
            "release",
            "patch",
            "--package",
            "mr-use-nope",
            "--package",
            "mr-use-core",
            "--package",
            "mr-use-zilch",
        ])
        .failure(2);
    run.stderr_has("`--package mr-use-nope`, `--package mr-use-zilch`")
        .stderr_has("mr-use-core, mr-use-cli, mr-use-extras");
    let run = s.twostage(&["release", "patch"]).failure(2);
    run.stderr_has("--package")
        .stderr_has("mr-use-core, mr-use-cli, mr-use-extras");
    assert_eq!(s.snapshot(), before);

    let one = Scratch::new("multi-usage-single");
    sample(&one, Layout::StaticHatchling, "mr-use-single");
    let before = one.snapshot();
    one.twostage(&["release", "patch", "--package", "mr-use-single"])
        .failure(2)
        .stderr_has("`--package` is for a repository of several packages");
    one.twostage(&["release", "patch", "--changed"]).failure(2);
    assert_eq!(one.snapshot(), before);
}

#[test]
fn a_release_commit_of_several_packages_without_its_tags_is_refused_and_nothing_changes() {
    let s = Scratch::new("multi-untagged");
    workspace(&s, "mr-untag");
    // What a release stopped between its commit and its tags leaves (a set keeps no journal).
    for (part, from, to) in [("core", "1.0.0", "1.0.1"), ("cli", "0.3.0", "0.3.1")] {
        let path = format!("packages/{part}/pyproject.toml");
        let text = s.read(&path);
        s.write(
            &path,
            &text.replace(
                &format!("version = \"{from}\""),
                &format!("version = \"{to}\""),
            ),
        );
    }
    s.commit_all("Release mr-untag-core-v1.0.1, mr-untag-cli-v0.3.1");
    let before = s.snapshot();
    s.twostage(&["release", "patch", "--package", "mr-untag-extras"])
        .failure(1)
        .stderr_has("without the tags `mr-untag-core-v1.0.1`, `mr-untag-cli-v0.3.1`");
    assert_eq!(s.snapshot(), before, "nothing changed");
    assert!(tags(&s).is_empty());
}

#[test]
fn an_interrupt_while_the_release_commit_is_made_puts_everything_back_and_the_rerun_releases() {
    use std::io::{BufRead, BufReader};
    let s = Scratch::new("multi-interrupt");
    workspace(&s, "mr-int");
    // git's pre-commit hook holds the commit while the interrupt comes.
    let hook = s.work.join(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, "#!/bin/sh\nsleep 3\n").unwrap();
    make_executable(&hook);
    let before = s.snapshot();
    let release = [
        "release",
        "patch",
        "--package",
        "mr-int-cli",
        "--package",
        "mr-int-core",
    ];
    let mut child = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(release)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        stderr.push_str(&line);
        stderr.push('\n');
        if line.contains("Committing") {
            // SAFETY: kill(2) of the child process this test started.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            break;
        }
    }
    for line in lines {
        stderr.push_str(&line.unwrap());
        stderr.push('\n');
    }
    assert_eq!(child.wait().unwrap().code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted while making the release commit and tags of")
            && stderr.contains("nothing was released: every file and ref is back as it was")
            && stderr.contains(
                "run `cargo xtask release patch --package mr-int-cli --package mr-int-core` to \
                 resume"
            ),
        "{stderr}"
    );
    // The commit git was making when the interrupt came, the edits and the tags: all undone.
    assert_eq!(s.snapshot(), before, "{stderr}");

    std::fs::remove_file(&hook).unwrap();
    s.twostage(&release).success();
    let head = s.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        tags(&s),
        [
            ("mr-int-cli-v0.3.1".to_string(), head.clone()),
            ("mr-int-core-v1.0.1".to_string(), head),
        ]
    );
}
