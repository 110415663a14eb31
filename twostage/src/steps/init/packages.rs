//! `init` in a repository of several packages (docs/monorepo.md): the packages
//! `Workspace::read` finds (a uv workspace's members, or folders holding a `pyproject.toml`),
//! each detected in its folder as `init` detects one project (`detect`: its version of record
//! and version files, its changelog, its import name for the smoke test), written as one
//! `[[packages]]` entry each. The kit, the hooks and the workflow are the repository's, as for
//! one package; only the configuration differs.

use std::path::Path;

use anyhow::Result;

use super::{detect, Detected};
use crate::output;
use crate::resources::workspace::{Package, Workspace};

/// A repository of several packages, each with what `detect` found in its folder.
pub(super) struct Several {
    pub found: Vec<(Package, Detected)>,
    /// The root is one of the packages (a uv workspace's root member, or a root
    /// `pyproject.toml` with a name): its sdist gets the kit's exclusion as today.
    pub root_is_package: bool,
}

/// The repository's packages when it holds more than one, `None` for one (or none).
/// A uv workspace that does not read is an error (uv refuses it too); otherwise a walk that
/// fails leaves `init` adopting one package, as before it knew several.
pub(super) fn several(dir: &Path) -> Result<Option<Several>> {
    let workspace = match Workspace::read(dir) {
        Ok(workspace) => workspace,
        Err(e) if has_uv_workspace(dir) => return Err(e),
        Err(e) => {
            output::warn(format!(
                "cannot read the repository's packages ({e:#}): adopting it as one package"
            ));
            return Ok(None);
        }
    };
    if workspace.packages.len() < 2 {
        return Ok(None);
    }
    for skipped in &workspace.skipped {
        output::note(format!(
            "skipping `{}`: {}",
            skipped.manifest, skipped.reason
        ));
    }
    let mut found = Vec::new();
    for package in workspace.packages {
        let mut detected = detect(&dir.join(&package.folder))?;
        // A package's smoke test is set in its entry, not in the repository's `[verify]`.
        let entry = format!("its `[[packages]]` entry (`name = \"{}\"`)", package.name);
        detected.warnings = detected
            .warnings
            .iter()
            .map(|w| {
                let w = w
                    .replace("`[tool.twostage.verify]` of `pyproject.toml`", &entry)
                    .replace("`[verify]` of `release.toml`", &entry)
                    .replace("`verify.smoke` is left unset", "`smoke` is left unset");
                format!("{}: {w}", package.name)
            })
            .collect();
        found.push((package, detected));
    }
    let root_is_package = found.iter().any(|(p, _)| p.folder.is_empty());
    output::status(
        "Found",
        format!(
            "{} packages: {}",
            found.len(),
            found
                .iter()
                .map(|(p, _)| format!("{} ({})", p.name, p.shown_folder()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    Ok(Some(Several {
        found,
        root_is_package,
    }))
}

fn has_uv_workspace(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(crate::config::PYPROJECT))
        .ok()
        .and_then(|t| t.parse::<toml_edit::DocumentMut>().ok())
        .is_some_and(|doc| {
            doc.get("tool")
                .and_then(|t| t.get("uv"))
                .and_then(|u| u.get("workspace"))
                .is_some()
        })
}

/// What the root's detection says of the repository as a whole (its branch, its GitHub
/// repository, its Rust) when the root is no package: nothing of a project's own.
pub(super) fn repository_only(mut root: Detected) -> Detected {
    root.warnings.clear();
    root.version_files.clear();
    root.module = None;
    root.name = None;
    root.changelog = None;
    root.changelog_not_rolled = None;
    // Each package has its tags (`<name>-v<version>`): a prefix of `v…` tags is not theirs.
    root.tag_prefix = None;
    root
}

/// Every package's warnings, to be said with the root's (a root package's are the root's).
pub(super) fn warnings(several: &Several) -> Vec<String> {
    several
        .found
        .iter()
        .filter(|(p, _)| !(several.root_is_package && p.folder.is_empty()))
        .flat_map(|(_, d)| d.warnings.iter().cloned())
        .collect()
}

/// `folder/file`, or `file` for the root package.
fn in_folder(folder: &str, file: &str) -> String {
    match folder {
        "" => file.to_string(),
        folder => format!("{folder}/{file}"),
    }
}

/// The `[[packages]]` entries (`prefix`: `""` in `release.toml`, `tool.twostage.` in
/// `pyproject.toml`); every path relative to the repository root.
pub(super) fn entries(several: &Several, prefix: &str) -> Result<String> {
    let quoted = |s: &str| toml_edit::Value::from(s).to_string();
    let mut out = String::from(
        "\n# The repository's packages, each released with its own version and tags\n\
         # (`<name>-v<version>`, `<name>-v<version>-prod`): `[[packages]]` in the\n\
         # documentation named above.\n",
    );
    for (package, d) in &several.found {
        let folder = &package.folder;
        out.push_str(&format!(
            "\n[[{prefix}packages]]\nname = {}\nfolder = {}\n",
            quoted(&package.name),
            quoted(folder)
        ));
        match d.vcs {
            Some(tool) => out.push_str(&format!(
                "# The version comes from the git tag ({}): no file is bumped.\n",
                tool.as_str()
            )),
            None if !d.version_files.is_empty() => {
                let files: Vec<String> = d
                    .version_files
                    .iter()
                    .map(|f| quoted(&in_folder(folder, f)))
                    .collect();
                out.push_str(&format!("version-files = [{}]\n", files.join(", ")));
            }
            None => {}
        }
        if let Some(changelog) = &d.changelog {
            out.push_str(&format!(
                "changelog = {}\n",
                quoted(&in_folder(folder, changelog))
            ));
        }
        if let Some(changelog) = &d.changelog_not_rolled {
            out.push_str(&format!(
                "# `{}` is not in Keep a Changelog form: `release` does not roll it.\n",
                in_folder(folder, changelog)
            ));
        }
        match &d.module {
            Some(module) => out.push_str(&format!(
                "smoke = [\"python -c 'import {module}; print({module}.__name__)'\"]\n"
            )),
            None => out.push_str(
                "# No import name was found in the sources: verification imports the\n\
                 # top-level names of the built wheel; set `smoke` to pin it.\n",
            ),
        }
    }
    Ok(out)
}
