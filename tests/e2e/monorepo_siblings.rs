//! Issue 23, point 4 (docs/monorepo.md, "The dependency rule") on the `uv-workspace` fixture:
//! `-cli` requires `-core`, both released on one commit (`release patch --package … --package …`). The cli's verification installs core
//! from staging's files (counted on staging's side, by the fault proxy in front of pypiserver,
//! with production holding no core at all); the cli's stage is refused before core is staged,
//! and its promotion before core's (nothing uploaded to production, no `-prod` tag); then core
//! is promoted, then cli; a rerun of each changes nothing.

use std::collections::BTreeMap;

use testbed::FaultProxy;

use crate::common::*;

const NAME: &str = "ts-siblings";

/// `release.toml` for the three members of `name`, staging through `staging_root` (the proxy).
fn config(name: &str, staging_root: &str) -> String {
    let base = release_toml("").replace(&indexes().pypi.root_url, staging_root);
    let mut text = base;
    for member in ["core", "cli", "extras"] {
        text.push_str(&format!(
            "\n[[packages]]\nname = \"{name}-{member}\"\nfolder = \"packages/{member}\"\n"
        ));
    }
    text
}

fn run(s: &Scratch, args: &[&str]) -> Run {
    let out = s
        .command(env!("CARGO_BIN_EXE_twostage"))
        .args(args)
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("PYPI_TOKEN", SENTINEL)
        .output()
        .unwrap();
    let run = Run::from(out);
    run.assert_not_shown(SENTINEL);
    run
}

/// The proxy's `GET <file>` events for the files of `project`.
fn downloads(proxy: &FaultProxy, project: &str) -> Vec<String> {
    let prefix = format!("GET {}-", project.replace('-', "_"));
    proxy
        .events()
        .into_iter()
        .filter(|e| e.starts_with(&prefix))
        .collect()
}

/// The `-prod` tags here and at the origin, each with the commit it names.
fn prod_tags(s: &Scratch) -> (String, String) {
    let tags = |dir: &std::path::Path| {
        let names = s.git_in(
            dir,
            &["for-each-ref", "--format=%(refname)", "refs/tags/*-prod"],
        );
        names
            .lines()
            .map(|name| {
                let commit = s.git_in(dir, &["rev-parse", &format!("{name}^{{commit}}")]);
                format!("{name} {commit}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    (tags(&s.work), tags(&s.origin))
}

/// The package's section of the commit's note, read with the test's own TOML reading.
fn section(s: &Scratch, commit: &str, package: &str) -> toml_edit::Table {
    let text = s.git(&["notes", "--ref", "refs/notes/release", "show", commit]);
    let doc: toml_edit::DocumentMut = text.parse().unwrap();
    doc["packages"][package].as_table().unwrap().clone()
}

/// The siblings' files the section's latest verification of staging records: filename → sha256.
fn verified_with(section: &toml_edit::Table) -> BTreeMap<String, String> {
    let verification = &section["verification"];
    let latest = verification
        .get("runs")
        .and_then(|r| r.as_array_of_tables())
        .and_then(|r| r.iter().last())
        .unwrap_or_else(|| verification.as_table().unwrap());
    assert_eq!(latest["result"].as_str(), Some("verified"), "{section}");
    latest
        .get("siblings")
        .and_then(|s| s.as_array_of_tables())
        .into_iter()
        .flatten()
        .map(|f| {
            assert_eq!(f["tag"].as_str(), Some(&*format!("{NAME}-core-v1.0.1")));
            (
                f["filename"].as_str().unwrap().to_string(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The fixture as `name`, staging through a fault proxy, its core and cli released on one
/// commit (`release patch --package … --package … --push`), each with its tag.
struct Released {
    s: Scratch,
    proxy: FaultProxy,
    core_name: String,
    cli_name: String,
    core: String,
    cli: String,
    commit: String,
}

fn released(name: &str, module: &str) -> Released {
    let s = Scratch::new(name);
    copy_fixture(
        "uv-workspace",
        &s.work,
        &[("name", name), ("module", module)],
    );
    let proxy = FaultProxy::start(&s.dir.join("proxy"), &indexes().pypi.root_url).unwrap();
    s.write("release.toml", &config(name, &proxy.url));
    s.commit_all("Initial import");
    let (core_name, cli_name) = (format!("{name}-core"), format!("{name}-cli"));
    let release = [
        "release",
        "patch",
        "--package",
        &cli_name,
        "--package",
        &core_name,
    ];
    run(&s, &[&release[..], &["--push"]].concat()).success();
    let (core, cli) = (format!("{core_name}-v1.0.1"), format!("{cli_name}-v0.3.1"));
    let commit = s.git(&["rev-parse", "HEAD"]);
    Released {
        s,
        proxy,
        core_name,
        cli_name,
        core,
        cli,
        commit,
    }
}

#[test]
fn a_dependent_is_verified_against_its_siblings_staged_files_and_promoted_after_it() {
    let Released {
        s,
        proxy,
        core_name,
        cli_name,
        core,
        cli,
        commit,
    } = released(NAME, "ts_siblings");
    for tag in [&core, &cli] {
        assert_eq!(s.git(&["rev-parse", &format!("{tag}^{{commit}}")]), commit);
    }
    let production = &indexes().devpi_index.index_url;

    // The dependent first: refused before anything is built or uploaded, naming its sibling.
    let early = run(&s, &["stage", &cli]).failure(2);
    early.stderr_has(&format!("requires `{core_name}`"));
    early.stderr_has(&format!("stage it first (`cargo xtask stage {core}`)"));
    assert_eq!(pypiserver_files(&cli_name), BTreeMap::new());

    run(&s, &["stage", &core]).success();
    let core_staged = pypiserver_files(&core_name);
    let core_wheel = core_staged
        .keys()
        .find(|f| f.ends_with(".whl"))
        .unwrap()
        .clone();
    let before = downloads(&proxy, &core_name);

    // The cli verified with core's staged wheel, downloaded from staging once (the proxy saw
    // it), while production has no core at all: without it the install could not resolve.
    run(&s, &["stage", &cli]).success();
    let during: Vec<String> = downloads(&proxy, &core_name)[before.len()..].to_vec();
    assert_eq!(during, [format!("GET {core_wheel}")]);
    assert_eq!(served_map(production, &core_name), BTreeMap::new());
    let with = verified_with(&section(&s, &commit, &cli_name));
    assert_eq!(
        with,
        BTreeMap::from([(core_wheel.clone(), core_staged[&core_wheel].clone())])
    );

    // The cli's promotion before core's: refused, nothing on production, no `-prod` tag.
    let seen = uploads_seen(&cli_name);
    let refused = run(&s, &["promote", &cli, "--no-github"]).failure(1);
    refused.stderr_has(&format!("cargo xtask promote {core}"));
    assert_eq!(served_map(production, &cli_name), BTreeMap::new());
    assert_eq!(uploads_seen(&cli_name), seen);
    assert_eq!(prod_tags(&s), (String::new(), String::new()));

    run(&s, &["promote", &core, "--no-github"]).success();
    run(&s, &["promote", &cli, "--no-github"]).success();
    assert_eq!(served_map(production, &core_name), core_staged);
    assert_eq!(
        served_map(production, &cli_name),
        pypiserver_files(&cli_name)
    );
    let tagged = format!("refs/tags/{cli}-prod {commit}\nrefs/tags/{core}-prod {commit}");
    assert_eq!(prod_tags(&s), (tagged.clone(), tagged.clone()));

    // A rerun of each step changes nothing: no upload anywhere, the same tags.
    let seen = (uploads_seen(&core_name), uploads_seen(&cli_name));
    let refs = s.git(&["for-each-ref", "refs/tags"]);
    for args in [
        ["stage", core.as_str(), ""],
        ["stage", cli.as_str(), ""],
        ["promote", core.as_str(), "--no-github"],
        ["promote", cli.as_str(), "--no-github"],
    ] {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        run(&s, &args).success();
    }
    assert_eq!((uploads_seen(&core_name), uploads_seen(&cli_name)), seen);
    assert_eq!(s.git(&["for-each-ref", "refs/tags"]), refs);
    assert_eq!(prod_tags(&s), (tagged.clone(), tagged));
}

#[test]
fn one_stage_command_stages_several_packages_tags_as_one_set_in_dependency_order() {
    let Released {
        s,
        proxy,
        core_name,
        cli_name,
        core,
        cli,
        commit,
    } = released("ts-siblings-set", "ts_siblings_set");

    // An option for one tag's files, with several tags: a usage error that changes nothing.
    let before = s.snapshot();
    run(&s, &["stage", &cli, &core, "--no-verify"])
        .failure(2)
        .stderr_has("`stage --no-verify` takes one tag, not 2");
    run(&s, &["stage", &core, &core])
        .failure(2)
        .stderr_has(&format!("`{core}` is named twice"));
    assert_eq!(s.snapshot(), before);
    assert_eq!(pypiserver_files(&core_name), BTreeMap::new());

    // The dependent named first, in one command: staged as one set, core's files with it.
    let staged = run(&s, &["stage", &cli, &core]).success();
    assert_eq!(pypiserver_files(&core_name), frozen_files(&s, &core));
    assert_eq!(pypiserver_files(&cli_name), frozen_files(&s, &cli));
    // Uploaded together and waited for once, each in its own section, each verified.
    assert_eq!(
        staged.stderr.matches("Confirming").count(),
        1,
        "{}",
        staged.stderr
    );
    for (package, tag) in [(&core_name, &core), (&cli_name, &cli)] {
        let section = section(&s, &commit, package);
        let uploaded: Vec<&str> = section["staging"]["uploaded"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let frozen: Vec<String> = frozen_files(&s, tag).into_keys().collect();
        assert_eq!(uploaded, frozen, "{section}");
        assert_eq!(
            section["verification"]["result"].as_str(),
            Some("verified"),
            "{section}"
        );
    }
    // The cli was verified after core, with core's staged wheel: the proxy saw core's files
    // fetched by core's verification, and its wheel once more, by the cli's.
    let mut fetched = downloads(&proxy, &core_name);
    fetched.sort();
    let mut expected: Vec<String> = frozen_files(&s, &core)
        .into_keys()
        .map(|f| format!("GET {f}"))
        .collect();
    expected.extend(expected.clone().into_iter().filter(|f| f.ends_with(".whl")));
    expected.sort();
    assert_eq!(fetched, expected);
    let (verified_core, verified_cli) = (
        staged.stderr.find(&format!("Verified {core}")),
        staged.stderr.find(&format!("Verified {cli}")),
    );
    assert!(
        verified_core.is_some() && verified_core < verified_cli,
        "{}",
        staged.stderr
    );

    // Again: nothing is uploaded, the note stays as it is.
    let (seen, note) = (
        (uploads_seen(&core_name), uploads_seen(&cli_name)),
        s.git(&["notes", "--ref", "refs/notes/release", "show", &commit]),
    );
    run(&s, &["stage", &core, &cli]).success();
    assert_eq!((uploads_seen(&core_name), uploads_seen(&cli_name)), seen);
    assert_eq!(
        s.git(&["notes", "--ref", "refs/notes/release", "show", &commit]),
        note
    );
}
