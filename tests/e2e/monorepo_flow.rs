//! Several packages of one repository through the flow (issue 23, docs/monorepo.md): the
//! `uv-workspace` fixture with `[[packages]]`, two packages released on one commit (the
//! release commit and its two tags made by hand with git), one push staging both through the
//! pre-push hook in dependency order, the commit's note holding one section per package, a
//! rerun changing nothing, and `status` listing each package's releases. Staging is the
//! suite's pypiserver, production its devpi.
//!
//! The single-package note format is held by `stage::stage_uploads_waits_and_records_and_a_rerun_changes_nothing_on_pypiserver`
//! (the note's top-level `tag`, `[[artifacts]]`, `[staging]`) and the unit test
//! `resources::evidence::tests::a_note_reads_and_writes_back_to_the_same_toml`.

use std::collections::BTreeMap;

use crate::common::*;

/// The workspace's members as `[[packages]]`, after the suite's `release.toml`.
fn packages_toml() -> String {
    let mut toml = release_toml("");
    for member in ["core", "cli", "extras"] {
        toml.push_str(&format!(
            "\n[[packages]]\nname = \"mf-flow-{member}\"\nfolder = \"packages/{member}\"\n"
        ));
    }
    toml
}

/// `version = "<old>"` → `version = "<new>"` in a member's manifest.
fn bump(s: &Scratch, member: &str, old: &str, new: &str) {
    let path = format!("packages/{member}/pyproject.toml");
    let text = s.read(&path);
    let (from, to) = (
        format!("version = \"{old}\""),
        format!("version = \"{new}\""),
    );
    assert!(text.contains(&from), "{text}");
    s.write(&path, &text.replace(&from, &to));
}

/// The newest modification time of `project`'s files in pypiserver's folder: when the last
/// of them reached the server.
fn last_stored_at(project: &str) -> u128 {
    stored_times(project).into_iter().max().unwrap()
}

fn stored_times(project: &str) -> Vec<u128> {
    pypiserver_stored(project)
        .into_values()
        .map(|v| v.rsplit(' ').next().unwrap().parse::<u128>().unwrap())
        .collect()
}

/// The earliest one: when the first of them reached the server.
fn first_stored_at(project: &str) -> u128 {
    stored_times(project).into_iter().min().unwrap()
}

/// The raw note on the commit of `tag`, as git stores it.
fn note_text(s: &Scratch, tag: &str) -> String {
    s.git(&[
        "notes",
        "--ref=release",
        "show",
        &format!("{tag}^{{commit}}"),
    ])
}

/// filename → sha256 of a note section's `[[artifacts]]`, read with the test's own TOML.
fn section_artifacts(section: &toml_edit::Item) -> BTreeMap<String, String> {
    section["artifacts"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["filename"].as_str().unwrap().to_string(),
                a["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn two_packages_tagged_on_one_commit_are_staged_by_one_push_in_dependency_order_each_in_its_section(
) {
    let s = Scratch::new("mono-flow");
    copy_fixture(
        "uv-workspace",
        &s.work,
        &[("name", "mf-flow"), ("module", "mf_flow")],
    );
    s.write("release.toml", &packages_toml());
    s.commit_all("Initial import");
    // What production already serves: the core's 1.0.0, which the cli's `>=1.0` takes until
    // the set is promoted (its verification installs its requirements from production).
    let wheel = build_wheel(&s.work.join("packages/core"), &s.dir.join("dist-1.0.0"));
    upload_to_production(&s, &[wheel]);
    s.twostage(&["hooks", "install"]).success();
    let hook = std::fs::read_to_string(s.work.join(".git/hooks/pre-push")).unwrap();
    assert!(hook.contains("prefix='mf-flow-'"), "{hook}");

    // One release commit for two packages, each with its own version and tag.
    bump(&s, "core", "1.0.0", "1.1.0");
    bump(&s, "cli", "0.3.0", "0.4.0");
    s.git(&["add", "-A"]);
    s.git(&[
        "commit",
        "--quiet",
        "-m",
        "Release mf-flow-core-v1.1.0, mf-flow-cli-v0.4.0",
    ]);
    let (core, cli) = ("mf-flow-core-v1.1.0", "mf-flow-cli-v0.4.0");
    // The cli's tag first: the push must still stage the core first.
    for tag in [cli, core] {
        with_hooks(
            &s,
            "git",
            &["tag", "-a", tag, "-m", &format!("Release {tag}")],
        )
        .success();
    }

    // A tag of no package, and a bare version, are refused naming the packages' tags.
    let before = s.snapshot();
    s.stage(&["v1.1.0"], SENTINEL)
        .failure(2)
        .stderr_has("the tag of no package here")
        .stderr_has("`mf-flow-core-v<version>` (mf-flow-core)")
        .stderr_has("`mf-flow-cli-v<version>` (mf-flow-cli)");
    s.twostage(&["promote", "1.1.0"])
        .failure(2)
        .stderr_has("`1.1.0` is a version, not a tag: which package?");
    assert_eq!(s.snapshot(), before);
    assert!(pypiserver_stored("mf-flow-core").is_empty());

    let run = with_hooks(&s, "git", &["push", "--follow-tags", "origin", "main"]).success();
    for tag in [core, cli] {
        assert!(
            !s.git_in(&s.origin, &["tag", "--list", tag]).is_empty(),
            "{}",
            run.stderr
        );
    }
    // Both on staging, as the server stores them, with the frozen bytes; the core first.
    let core_files = pypiserver_files("mf-flow-core");
    let cli_files = pypiserver_files("mf-flow-cli");
    assert_eq!(core_files, frozen_files(&s, core), "{}", run.stderr);
    assert_eq!(cli_files, frozen_files(&s, cli));
    assert_eq!(core_files.len(), 2, "{core_files:?}");
    assert!(
        cli_files.keys().all(|f| f.contains("0.4.0")),
        "{cli_files:?}"
    );
    assert!(pypiserver_files("mf-flow-extras").is_empty());
    // One set, not one package after the other (`Index::ensure_set`): the files of both went
    // up together, so the cli's first file reached staging less than a second after the core's
    // last one, if not before it. Staged one after the other, the core's stage would wait for
    // its page's three confirming reads, 2 s at least, before any cli file went up.
    let gap = first_stored_at("mf-flow-cli").saturating_sub(last_stored_at("mf-flow-core"));
    assert!(
        gap < 1_000_000_000,
        "the cli's files reached staging {gap} ns after the core's: {:?} {:?}",
        pypiserver_stored("mf-flow-core"),
        pypiserver_stored("mf-flow-cli")
    );

    // One note on the shared commit, a section per package, each its own release's.
    let text = note_text(&s, core);
    assert_eq!(text, note_text(&s, cli));
    let note: toml_edit::DocumentMut = text.parse().unwrap();
    assert!(note.get("tag").is_none(), "{text}");
    let sections = note["packages"].as_table().unwrap();
    let names: Vec<&str> = sections.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["mf-flow-core", "mf-flow-cli"], "{text}");
    for (package, tag, files) in [
        ("mf-flow-core", core, &core_files),
        ("mf-flow-cli", cli, &cli_files),
    ] {
        let section = &note["packages"][package];
        assert_eq!(section["tag"].as_str(), Some(tag), "{text}");
        assert_eq!(&section_artifacts(section), files, "{text}");
        assert!(section["staging"].is_table(), "{text}");
        assert_eq!(
            section["verification"]["result"].as_str(),
            Some("verified"),
            "{text}"
        );
    }

    // A rerun of each stage uploads nothing and leaves the note as it is.
    let seen = (uploads_seen("mf-flow-core"), uploads_seen("mf-flow-cli"));
    for tag in [core, cli] {
        s.stage(&[tag], SENTINEL)
            .success()
            .stderr_has(&format!("{tag} already"));
    }
    assert_eq!(
        (uploads_seen("mf-flow-core"), uploads_seen("mf-flow-cli")),
        seen
    );
    assert_eq!(note_text(&s, core), text);

    // `status` lists each package's releases, and one by its tag.
    let out = s.twostage(&["status", "--json"]).success().stdout;
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let listed: Vec<(&str, &str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["package"].as_str().unwrap(),
                r["tag"].as_str().unwrap(),
                r["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("mf-flow-core", core, "verified"),
            ("mf-flow-cli", cli, "verified")
        ],
        "{out}"
    );
    let one = s.twostage(&["status", cli]).success().stdout;
    assert!(one.contains(cli) && !one.contains(core), "{one}");

    // A package's tag promotes that package: production serves its staged bytes, its `-prod`
    // tag names the shared commit, its section records production, the other section is as
    // it was; `audit` reads its section.
    let cli_section = note["packages"]["mf-flow-cli"].to_string();
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(["promote", core, "--no-github"])
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("PYPI_TOKEN", SENTINEL)
        .env("TWOSTAGE_BIN", env!("CARGO_BIN_EXE_twostage"))
        .output()
        .unwrap();
    let run = Run::from(out).success();
    let production: BTreeMap<String, String> =
        served_map(&indexes().devpi_index.index_url, "mf-flow-core")
            .into_iter()
            .filter(|(name, _)| name.contains("1.1.0"))
            .collect();
    assert_eq!(production, core_files, "{}", run.stderr);
    let commit = s.git(&["rev-parse", "HEAD"]);
    let prod = format!("{core}-prod");
    let at = s.git_in(&s.origin, &["rev-parse", &format!("{prod}^{{commit}}")]);
    assert_eq!(at, commit);
    let promoted: toml_edit::DocumentMut = note_text(&s, core).parse().unwrap();
    assert!(promoted["packages"]["mf-flow-core"]["production"].is_table());
    assert_eq!(promoted["packages"]["mf-flow-cli"].to_string(), cli_section);
    let out = s.twostage(&["audit", core, "--json"]).stdout;
    let audit: serde_json::Value = serde_json::from_str(&out).unwrap();
    let result = |link: &str| {
        audit["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["link"] == link)
            .map(|l| l["result"].as_str().unwrap().to_string())
    };
    for link in ["note", "tags", "production", "staging", "verification"] {
        assert_eq!(result(link).as_deref(), Some("pass"), "{link}: {out}");
    }
}
