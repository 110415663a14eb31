//! The README as PyPI renders it. Warehouse renders an upload's description with
//! `readme_renderer` for its `Description-Content-Type` and refuses the upload when it does not
//! render ("The description failed to render for '<type>'", `warehouse/forklift/legacy.py`,
//! through `warehouse/utils/readme.py`; https://github.com/pypi/warehouse). Markdown
//! (cmarkgfm) and plain text render whatever they get; reStructuredText (docutils, the type
//! when none is given) fails at its first error, so only that is rendered here, with the real
//! renderer: a small venv holding the pins of `readme-requirements.txt`, installed on first
//! use once per user (`cache::keyed`) or under `TWOSTAGE_TOOLS_DIR`. When it cannot be
//! installed (offline, no `venv`), the README is said to be unchecked, once, and nothing fails.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};

use crate::output;
use crate::resources::{cache, warehouse};

const REQUIREMENTS: &str = include_str!("../../readme-requirements.txt");

/// Names the renderer's folder exactly; `rehearse` hands its own to its children, whose HOME
/// (and so whose cache folder) is the sandbox's.
pub const README_DIR_ENV: &str = "TWOSTAGE_README_DIR";

/// Renders each text of a JSON list on stdin as Warehouse does (`readme_renderer.rst.render`
/// with a stream for docutils' report); prints a JSON list: `null` when it rendered, else the
/// report.
const RENDER: &str = r#"
import io, json, sys
from readme_renderer.rst import render
out = []
for text in json.load(sys.stdin):
    stream = io.StringIO()
    out.append(None if render(text, stream=stream) is not None else stream.getvalue())
json.dump(out, sys.stdout)
"#;

/// One artifact's README to render: the file's name, its content type as declared (or
/// `text/x-rst` when none is), and the description.
pub struct Readme {
    pub filename: String,
    pub content_type: String,
    pub text: String,
}

/// The refusals PyPI would give for these READMEs, each naming the file, the rule and the
/// line; none, with a note said once, when the renderer cannot run here.
pub fn problems(readmes: &[Readme]) -> Vec<String> {
    if readmes.is_empty() {
        return Vec::new();
    }
    let mut texts: Vec<&str> = readmes.iter().map(|r| r.text.as_str()).collect();
    texts.sort();
    texts.dedup();
    let reports = match renderer().and_then(|python| render(&python, &texts)) {
        Ok(reports) => reports,
        Err(e) => {
            not_checked(&format!("{e:#}"));
            return Vec::new();
        }
    };
    readmes
        .iter()
        .filter_map(|r| {
            let i = texts.iter().position(|t| *t == r.text)?;
            let report = reports.get(i)?.as_deref()?;
            Some(warehouse::readme_problem(
                &r.filename,
                &r.content_type,
                &r.text,
                report,
            ))
        })
        .collect()
}

fn not_checked(why: &str) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::SeqCst) {
        output::note(format!(
            "the README was not checked as PyPI renders it ({why}); `twine check dist/*` does"
        ));
    }
}

/// The renderer's folder: `TWOSTAGE_README_DIR`, else `TWOSTAGE_TOOLS_DIR/readme`, else
/// `<cache>/twostage/readme-<hash of the pins>`.
pub fn dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(README_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    match cache::tools_dir_override() {
        Some(dir) => Ok(dir.join("readme")),
        None => cache::keyed("readme", REQUIREMENTS),
    }
}

/// The renderer venv's interpreter, installed on first use (one process installs, others
/// wait on the folder's lock).
pub fn renderer() -> Result<PathBuf> {
    let venv = cache::managed_venv(
        &dir()?,
        REQUIREMENTS,
        "readme_renderer (what PyPI renders a README with)",
    )?;
    Ok(venv.join("bin/python"))
}

/// Each text's docutils report when it does not render, `None` when it does.
fn render(python: &std::path::Path, texts: &[&str]) -> Result<Vec<Option<String>>> {
    let mut command = Command::new(python);
    command.args(["-I", "-c", RENDER]);
    crate::resources::secrets::scrub(&mut command);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{}`", python.display()))?;
    let input = serde_json::to_vec(texts)?;
    child
        .stdin
        .take()
        .context("no stdin for the renderer")?
        .write_all(&input)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "the renderer failed: {}",
            cache::last_line(&out.stderr, out.status)
        );
    }
    let reports: Vec<Option<String>> =
        serde_json::from_slice(&out.stdout).context("the renderer's answer is not JSON")?;
    if reports.len() != texts.len() {
        bail!(
            "the renderer answered for {} of {} texts",
            reports.len(),
            texts.len()
        );
    }
    Ok(reports)
}
