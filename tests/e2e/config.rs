//! Configuration checked whole at load: each bad `release.toml` value (or its
//! `TWOSTAGE_<SECTION>_<KEY>` override) is refused by `release` and `stage` with exit code 2,
//! an error naming the file and line (or the variable), the key and the fix, before anything
//! is built, tagged or uploaded: the repository and the indexes are as they were.

use crate::common::*;

/// A project `name` whose `release.toml` has `edit` applied, committed, with a release tag
/// `v1.4.2` made by hand (so `stage` has a tag to work on, and nothing was built yet).
fn project(name: &str, edit: impl Fn(String) -> String) -> Scratch {
    let s = Scratch::new(name);
    sample(&s, Layout::StaticFlit, name);
    let toml = edit(s.read("release.toml"));
    assert_ne!(toml, s.read("release.toml"), "the edit changed nothing");
    s.write("release.toml", &toml);
    s.commit_all("A bad setting");
    s.git(&["tag", "-a", "v1.4.2", "-m", "Release v1.4.2"]);
    s
}

/// Runs `args` with `env` and asserts the refusal: exit 2, every `expected` text in stderr,
/// and nothing changed: the repository's files and refs (local and origin), no build folder,
/// and neither index stores a file of the project.
#[track_caller]
fn refused(s: &Scratch, name: &str, args: &[&str], env: &[(&str, &str)], expected: &[&str]) {
    let before = s.snapshot();
    let mut command = s.command(env!("CARGO_BIN_EXE_twostage"));
    command
        .args(args)
        .env("TEST_PYPI_TOKEN", SENTINEL)
        .env("PYPI_TOKEN", SENTINEL);
    for (key, value) in env {
        command.env(key, value);
    }
    let run = Run::from(command.output().unwrap()).failure(2);
    for text in expected {
        run.stderr_has(text);
    }
    assert_eq!(s.snapshot(), before, "{args:?} changed the repository");
    assert!(
        !s.work.join(".git/twostage").exists(),
        "{args:?} made a build folder"
    );
    assert!(
        pypiserver_stored(name).is_empty(),
        "{args:?} uploaded to staging"
    );
    assert!(served(&indexes().pypi.index_url(), name).is_empty());
    assert!(devpi_stored(&indexes().devpi_index, name).is_empty());
}

fn with_key(section: &str, line: &str) -> impl Fn(String) -> String {
    let header = format!("[{section}]\n");
    let line = line.to_string();
    move |toml: String| toml.replacen(&header, &format!("{header}{line}\n"), 1)
}

#[test]
fn a_manifest_that_does_not_exist_is_refused() {
    let name = "ts-config-manifest";
    let s = project(name, with_key("package", "manifest = \"pyproject.tom\""));
    let expected =
        ["release.toml:2: `package.manifest` names `pyproject.tom`, which is not a file"];
    refused(&s, name, &["release", "patch", "--push"], &[], &expected);
    refused(&s, name, &["stage", "v1.4.2"], &[], &expected);
    // The same through the environment, naming the variable.
    let s = Scratch::new("ts-config-manifest-env");
    sample(&s, Layout::StaticFlit, "ts-config-manifest-env");
    refused(
        &s,
        "ts-config-manifest-env",
        &["release", "patch"],
        &[("TWOSTAGE_PACKAGE_VERSION_FILES", "src/gone.py")],
        &["environment variable `TWOSTAGE_PACKAGE_VERSION_FILES` (`package.version-files`) names `src/gone.py`"],
    );
}

#[test]
fn an_unknown_installer_is_refused_before_anything_is_built_or_uploaded() {
    let name = "ts-config-installer";
    let s = project(name, with_key("verify", "installer = \"uvv\""));
    let line = s
        .read("release.toml")
        .lines()
        .position(|l| l.starts_with("installer"))
        .unwrap()
        + 1;
    let expected =
        format!("release.toml:{line}: `verify.installer` must be `auto`, `uv` or `pip`, not `uvv`");
    refused(&s, name, &["release", "patch"], &[], &[&expected]);
    refused(&s, name, &["stage", "v1.4.2"], &[], &[&expected]);

    // A good file, and the typo in the override.
    let name = "ts-config-installer-env";
    let s = project(name, |t| t.replace("[verify]\n", "[verify]\n# uv or pip\n"));
    refused(
        &s,
        name,
        &["stage", "v1.4.2"],
        &[("TWOSTAGE_VERIFY_INSTALLER", "uvv")],
        &["environment variable `TWOSTAGE_VERIFY_INSTALLER` (`verify.installer`) must be `auto`, `uv` or `pip`, not `uvv`"],
    );
}

#[test]
fn an_unknown_artifact_kind_is_refused() {
    let name = "ts-config-artifacts";
    let s = project(name, with_key("verify", "artifacts = [\"wheel\", \"egg\"]"));
    let expected = ["`verify.artifacts` may hold `wheel` and `sdist`, not `egg`"];
    refused(&s, name, &["release", "patch"], &[], &expected);
    refused(&s, name, &["stage", "v1.4.2"], &[], &expected);
}

#[test]
fn an_empty_smoke_command_is_refused() {
    let name = "ts-config-smoke";
    let s = project(
        name,
        with_key(
            "verify",
            "smoke = [\"python -c 'import ts_config_smoke'\", \"\"]",
        ),
    );
    let expected = ["`verify.smoke` holds an empty command"];
    refused(&s, name, &["release", "patch"], &[], &expected);
    refused(&s, name, &["stage", "v1.4.2"], &[], &expected);
    refused(
        &s,
        name,
        &["stage", "v1.4.2"],
        &[("TWOSTAGE_VERIFY_SMOKE", "  ")],
        &["environment variable `TWOSTAGE_VERIFY_SMOKE` (`verify.smoke`) holds an empty command"],
    );
}

#[test]
fn a_url_without_a_scheme_names_the_setting_and_the_scheme() {
    let name = "ts-config-url";
    let root = indexes().pypi.root_url.clone();
    let bare = root.trim_start_matches("http://").to_string();
    let s = project(name, |t| {
        t.replace(&format!("\"{root}"), &format!("\"{bare}"))
    });
    refused(
        &s,
        name,
        &["stage", "v1.4.2"],
        &[],
        &[
            &format!(
                "`staging.upload-url` is `{bare}`, which has no scheme: write `https://{bare}`"
            ),
            &format!("`staging.index-url` is `{bare}simple/`, which has no scheme"),
        ],
    );
    refused(
        &s,
        name,
        &["release", "patch"],
        &[],
        &["`staging.upload-url`"],
    );

    // A good file, and the override without a scheme: not retried as a network fault.
    let name = "ts-config-url-env";
    let s = project(name, |t| t.replace("[verify]\n", "[verify]\n# urls\n"));
    let started = std::time::Instant::now();
    refused(
        &s,
        name,
        &["stage", "v1.4.2"],
        &[("TWOSTAGE_PRODUCTION_UPLOAD_URL", "127.0.0.1:9/")],
        &["environment variable `TWOSTAGE_PRODUCTION_UPLOAD_URL` (`production.upload-url`) is `127.0.0.1:9/`, which has no scheme"],
    );
    assert!(started.elapsed().as_secs() < 20, "no retries");
}

#[test]
fn a_typo_in_the_file_and_a_bad_override_are_refused_together() {
    let name = "ts-config-together";
    let s = project(name, with_key("build", "comand = \"uv build\""));
    let line = s
        .read("release.toml")
        .lines()
        .position(|l| l.starts_with("comand"))
        .unwrap()
        + 1;
    let expected = [
        format!("release.toml:{line}: unknown key `comand` in `[build]`"),
        "environment variable `TWOSTAGE_VERIFY_TIMEOUT` (`verify.timeout`) must be a duration"
            .to_string(),
    ];
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    let env = [("TWOSTAGE_VERIFY_TIMEOUT", "soon")];
    refused(&s, name, &["release", "patch"], &env, &expected);
    refused(&s, name, &["stage", "v1.4.2"], &env, &expected);
}
