//! A VCS-versioned project after `promote`: its own builds (setuptools-scm, hatch-vcs,
//! pdm-backend's scm source, from PyPI) read the version from `git describe --tags`, so the
//! `-prod` tag must never be what describe names. Released, staged and promoted through the
//! real binary against the local indexes; then the project's own `python -m build` in fresh
//! clones of origin: on the promoted tag it builds exactly that version, on a commit after it
//! the next development version.

use std::path::{Path, PathBuf};

use crate::common::*;

/// A project of `fixture` (`tests/fixtures/sample-*`) named `name`, its configuration written
/// by hand, released as `v1.4.2` (an annotated tag, as a maintainer makes one) with a change
/// after it.
fn vcs_sample(s: &Scratch, fixture: &str, name: &str) {
    let module = name.replace('-', "_");
    copy_fixture(fixture, &s.work, &[("name", name), ("module", &module)]);
    let keys = s.read("release.toml");
    let keys = keys.strip_prefix("[package]\n").unwrap().trim_end();
    s.write("release.toml", &release_toml(keys));
    s.commit_all("Initial import");
    let sh = s.sh();
    cmd!(sh, "git tag -a v1.4.2 -m 'Release v1.4.2'")
        .run()
        .unwrap();
    let changelog = s.read("CHANGELOG.md");
    s.write(
        "CHANGELOG.md",
        &changelog.replace("- the thing", "- the thing\n- another"),
    );
    s.commit_all("A change after 1.4.2");
}

/// `twostage <args>` with the staging and production tokens, no GitHub release.
fn twostage(s: &Scratch, args: &[&str]) -> Run {
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(args)
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("PYPI_TOKEN", SENTINEL)
        .output()
        .unwrap();
    Run::from(out)
}

/// How `v1.4.3` is made.
#[derive(Clone, Copy)]
enum Tagged {
    /// `release patch --push`: an annotated tag.
    ByRelease,
    /// `git tag v1.4.3` by hand: a lightweight tag, pushed with the branch.
    LightweightByHand,
}

/// `v1.4.3` tagged, pushed, staged, verified and promoted to production.
fn promoted(fixture: &str, name: &str, tagged: Tagged) -> Scratch {
    let s = Scratch::new(name);
    vcs_sample(&s, fixture, name);
    match tagged {
        Tagged::ByRelease => {
            twostage(&s, &["release", "patch", "--push"]).success();
        }
        Tagged::LightweightByHand => {
            s.git(&["tag", "v1.4.3"]);
            s.git(&["push", "--quiet", "origin", "main", "v1.4.3"]);
        }
    }
    twostage(&s, &["stage", "v1.4.3"]).success();
    twostage(&s, &["promote", "v1.4.3", "--no-github"]).success();
    // Promoted indeed: production serves the staged files and origin has the `-prod` tag on
    // the release commit.
    let staged = note_artifacts(&release_note(&s, "v1.4.3"));
    assert_eq!(served_map(&indexes().devpi_index.index_url, name), staged);
    assert_eq!(
        s.git_in(&s.origin, &["rev-parse", "v1.4.3-prod^{commit}"]),
        s.git(&["rev-parse", "v1.4.3^{commit}"])
    );
    s
}

/// A fresh clone of origin at `branch` (a branch or a tag) in `<dir>/<name>`.
fn clone_origin(s: &Scratch, name: &str, branch: &str) -> PathBuf {
    let target = s.dir.join(name);
    let (from, to) = (s.origin.to_str().unwrap(), target.to_str().unwrap());
    s.git_in(&s.dir, &["clone", "--quiet", "--branch", branch, from, to]);
    target
}

/// The project's own build in `dir` (`python -m build`, the sdist and the wheel from it, with
/// the backends of the tools), and the version each file's name carries.
fn own_build(s: &Scratch, dir: &Path) -> Vec<String> {
    let python = testbed::tools().unwrap().python();
    let out = dir.with_extension("dist");
    let sh = s.sh();
    sh.change_dir(dir);
    let built = cmd!(sh, "{python} -m build --no-isolation --outdir {out} .")
        .ignore_status()
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "the project's own build failed in `{}`:\n{}",
        dir.display(),
        String::from_utf8_lossy(&built.stderr)
    );
    let mut versions: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().to_string())
        .map(|file| {
            let stem = file.trim_end_matches(".tar.gz");
            stem.split('-').nth(1).unwrap().to_string()
        })
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

/// After the promotion, a fresh clone of the promoted tag builds exactly `1.4.3`, and a fresh
/// clone of a commit after it the next development version, `1.4.4.dev1+g<commit>`.
fn assert_builds_after_promotion(fixture: &str, name: &str, tagged: Tagged) {
    let s = promoted(fixture, name, tagged);
    let at_tag = clone_origin(&s, "at-tag", "v1.4.3");
    assert_eq!(own_build(&s, &at_tag), ["1.4.3"], "{name} at v1.4.3");

    s.write(
        "CHANGELOG.md",
        &s.read("CHANGELOG.md")
            .replace("- earlier", "- earlier\n- next"),
    );
    s.commit_all("A change after 1.4.3");
    let commit = s.git(&["rev-parse", "HEAD"]);
    let after = clone_origin(&s, "after-tag", "main");
    let versions = own_build(&s, &after);
    let node = versions
        .first()
        .and_then(|v| v.strip_prefix("1.4.4.dev1+g"))
        .unwrap_or_default();
    assert!(
        versions.len() == 1 && node.len() >= 7 && commit.starts_with(node),
        "{name} one commit after v1.4.3 ({commit}): {versions:?}"
    );
}

#[test]
fn a_setuptools_scm_project_builds_its_own_versions_after_promotion() {
    assert_builds_after_promotion("sample-setuptools-scm", "ts-vcs-scm", Tagged::ByRelease);
}

#[test]
fn a_hatch_vcs_project_builds_its_own_versions_after_promotion() {
    assert_builds_after_promotion("sample-hatch-vcs", "ts-vcs-hatch", Tagged::ByRelease);
}

#[test]
fn a_pdm_scm_project_builds_its_own_versions_after_promotion() {
    assert_builds_after_promotion("sample-pdm-scm", "ts-vcs-pdm", Tagged::ByRelease);
}

#[test]
fn a_release_tag_made_lightweight_by_hand_still_names_the_builds_after_promotion() {
    // Two lightweight tags on one commit: describe keeps the first in ref order, `v1.4.3`.
    assert_builds_after_promotion(
        "sample-setuptools-scm",
        "ts-vcs-light",
        Tagged::LightweightByHand,
    );
}

/// The project's own build in `dir`, which must fail; its error output.
fn own_build_fails(s: &Scratch, dir: &Path) -> String {
    let python = testbed::tools().unwrap().python();
    let out = dir.with_extension("dist");
    let sh = s.sh();
    sh.change_dir(dir);
    let built = cmd!(sh, "{python} -m build --no-isolation --outdir {out} .")
        .ignore_status()
        .output()
        .unwrap();
    assert!(
        !built.status.success(),
        "the build should fail in `{}`",
        dir.display()
    );
    String::from_utf8_lossy(&built.stderr).into_owned()
}

#[test]
fn an_annotated_prod_tag_is_named_by_status_with_a_fix_that_mends_the_builds() {
    let s = Scratch::new("vcs-annotated");
    vcs_sample(&s, "sample-setuptools-scm", "ts-vcs-annotated");
    twostage(&s, &["release", "patch", "--push"]).success();
    // An annotated `-prod` tag, as an earlier twostage (or a maintainer by hand) made one.
    s.git(&[
        "tag",
        "-a",
        "v1.4.3-prod",
        "v1.4.3^{commit}",
        "-m",
        "Promote v1.4.3 to production",
    ]);
    s.git(&["push", "--quiet", "origin", "refs/tags/v1.4.3-prod"]);
    // The control: the project's own build of the released tag fails on it.
    let broken = clone_origin(&s, "broken", "v1.4.3");
    let error = own_build_fails(&s, &broken);
    assert!(error.contains("v1.4.3-prod"), "{error}");

    let status = twostage(&s, &["status", "--json"]).success();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let detail = rows[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("`v1.4.3-prod` is an annotated tag")
            && detail.contains("`git tag -f v1.4.3-prod v1.4.3-prod^{commit}`")
            && detail.contains("`git push --force origin refs/tags/v1.4.3-prod`"),
        "{detail}"
    );
    // The fix status names, as the maintainer runs it.
    s.git(&["tag", "-f", "v1.4.3-prod", "v1.4.3-prod^{commit}"]);
    s.git(&[
        "push",
        "--quiet",
        "--force",
        "origin",
        "refs/tags/v1.4.3-prod",
    ]);
    assert_eq!(
        s.git_in(&s.origin, &["cat-file", "-t", "refs/tags/v1.4.3-prod"]),
        "commit"
    );
    let mended = clone_origin(&s, "mended", "v1.4.3");
    assert_eq!(own_build(&s, &mended), ["1.4.3"]);
}
