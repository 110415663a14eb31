//! Issue 23's pieces against real tools, before they are wired into the steps: the uv
//! workspace fixture read as uv itself lists it, and PyPI's new-project limit counted on a real
//! index, with a member of the fixture built by its real backend and uploaded with twine. The
//! limit's test starts a pypiserver of its own (no devpi, no production seed: it needs one
//! index only).

use twostage::core::new_projects::{self, NewProjects};
use twostage::resources::{index, workspace::Workspace};

use crate::common::*;

#[test]
fn new_projects_are_counted_on_a_real_index_and_a_fifth_is_reported_before_anything_is_tagged() {
    let s = Scratch::new("monorepo-limit");
    copy_fixture(
        "uv-workspace",
        &s.work,
        &[("name", "mono-limit"), ("module", "mono_limit")],
    );
    let ws = Workspace::read(&s.work).unwrap();
    let core = ws.package("mono-limit-core").unwrap();
    let wheel = build_wheel(&s.work.join(&core.folder), &s.dir.join("dist"));
    let pypi = testbed::PypiServer::start(&s.dir.join("pypiserver"), "__token__", SENTINEL)
        .expect("pypiserver starts");
    twine_upload(&s, &pypi.upload_url(), &pypi.username, &[wheel]);

    // The workspace's three members and four more: one exists on the index, six do not.
    let mut names: Vec<&str> = ws.names();
    names.extend([
        "mono-limit-a",
        "mono-limit-b",
        "mono-limit-c",
        "mono-limit-d",
    ]);
    let agent = index::agent();
    let simple = pypi.index_url();
    let found = new_projects::count(
        "the staging index",
        &names,
        Some(4),
        new_projects::on_index(&agent, &simple),
    )
    .unwrap();
    assert_eq!(found.existing, ["mono-limit-core"]);
    assert_eq!(
        found.new,
        [
            "mono-limit-cli",
            "mono-limit-extras",
            "mono-limit-a",
            "mono-limit-b",
            "mono-limit-c",
            "mono-limit-d"
        ]
    );
    let problem = found.problem().unwrap();
    assert!(
        problem
            .starts_with("6 of the release set's projects do not exist yet on the staging index"),
        "{problem}"
    );
    assert!(problem.contains("day 1: mono-limit-core, mono-limit-cli, mono-limit-extras, mono-limit-a, mono-limit-b; day 2: mono-limit-c, mono-limit-d"), "{problem}");

    // Within the limit, or on an index without one, nothing to report.
    let within = new_projects::count(
        "the staging index",
        &ws.names(),
        Some(4),
        new_projects::on_index(&agent, &simple),
    )
    .unwrap();
    assert_eq!(within.problem(), None);
    let unlimited = NewProjects {
        limit: None,
        ..found
    };
    assert_eq!(unlimited.problem(), None);
}

#[test]
fn the_workspace_is_read_as_uv_itself_reads_it() {
    let s = Scratch::new("monorepo-uv");
    copy_fixture(
        "uv-workspace",
        &s.work,
        &[("name", "mono-uv"), ("module", "mono_uv")],
    );
    let uv = testbed::tools().unwrap().bin("uv");
    let sh = s.sh();
    let listed = sh
        .cmd(&uv)
        .args(["workspace", "list", "--offline"])
        .read()
        .unwrap();
    let by_uv: Vec<&str> = listed.lines().collect();
    assert_eq!(by_uv, ["mono-uv-cli", "mono-uv-core", "mono-uv-extras"]);
    assert_eq!(Workspace::read(&s.work).unwrap().names(), by_uv);

    // Without the exclusion, uv refuses the folder without a manifest, and so does the reading.
    s.write(
        "pyproject.toml",
        "[tool.uv.workspace]\nmembers = [\"packages/*\"]\n",
    );
    let refused = sh
        .cmd(&uv)
        .args(["workspace", "list", "--offline"])
        .ignore_status()
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("packages/drafts"));
    let err = format!("{:#}", Workspace::read(&s.work).unwrap_err());
    assert!(err.contains("workspace member `packages/drafts`"), "{err}");
}
