//! Human output on stderr in cargo's style: a right-aligned verb, green when stderr is a
//! terminal and `NO_COLOR` is unset. Results meant for programs go to stdout, never here.

use std::io::{IsTerminal, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Text from outside (an index's or GitHub's answer, a page, a note, a changelog, a file's
/// contents, a tag or commit message) made safe for a terminal, on one line: every control
/// character and bidirectional override shown as visible text, so that none can move the
/// cursor, clear the screen, retitle the window or write the clipboard (OSC 52) of whoever
/// reads it. ESC is `^[`, the other C0 controls and DEL are caret notation (`^G`, `^M`, `^J`,
/// `^?`), the C1 controls (U+0080–U+009F, which a terminal may read as ESC sequences) and the
/// bidi controls of Unicode's Trojan Source advisory (CVE-2021-42574) are `\u{…}`.
pub fn visible(text: &str) -> String {
    escape(text, false)
}

/// As `visible`, keeping line breaks (`\n`) and tabs: a multi-line text such as a diff.
pub fn visible_lines(text: &str) -> String {
    escape(text, true)
}

fn escape(text: &str, keep_lines: bool) -> String {
    if !text.chars().any(|c| needs_escape(c, keep_lines)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c, keep_lines) {
            out.push(c);
        } else if (c as u32) < 0x20 {
            out.push('^');
            out.push(char::from(b'@' + c as u8));
        } else if c == '\u{7f}' {
            out.push_str("^?");
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    out
}

fn needs_escape(c: char, keep_lines: bool) -> bool {
    match c {
        '\n' | '\t' => !keep_lines,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // Bidi embeddings, overrides, isolates and marks.
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            true
        }
        _ => false,
    }
}

/// What every line we print goes through: every secret the tool loaded removed (before any
/// escaping changes its spelling), then every control character made visible. Our own line
/// breaks stay.
fn safe(message: &str) -> String {
    visible_lines(&crate::resources::secrets::redact_secrets(message))
}

fn line(verb: &str, code: &str, message: &str) {
    let message = safe(message);
    let mut err = std::io::stderr().lock();
    if color() {
        let _ = writeln!(err, "\x1b[1;{code}m{verb:>12}\x1b[0m {message}");
    } else {
        let _ = writeln!(err, "{verb:>12} {message}");
    }
}

/// `   Bumping version 1.4.2 → 1.4.3`
pub fn status(verb: &str, message: impl AsRef<str>) {
    line(verb, "32", message.as_ref());
}

pub fn note(message: impl AsRef<str>) {
    line("Note", "36", message.as_ref());
}

/// Whether this runs in GitHub Actions, whose log reads workflow commands from stdout.
fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// A workflow command's message: `%`, CR and LF escaped as GitHub documents.
fn command_text(message: &str) -> String {
    message
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Runs `f` inside a collapsible group of the GitHub Actions log (a no-op elsewhere).
pub fn group<T>(title: &str, f: impl FnOnce() -> T) -> T {
    if in_actions() {
        println!("::group::{}", command_text(&safe(title)));
    }
    let result = f();
    if in_actions() {
        println!("::endgroup::");
    }
    result
}

pub fn warn(message: impl AsRef<str>) {
    let message = safe(message.as_ref());
    if in_actions() {
        println!("::warning::{}", command_text(&message));
    }
    let mut err = std::io::stderr().lock();
    if color() {
        let _ = writeln!(err, "\x1b[1;33mwarning\x1b[0m: {message}");
    } else {
        let _ = writeln!(err, "warning: {message}");
    }
}

pub fn error(message: impl AsRef<str>) {
    let message = safe(message.as_ref());
    if in_actions() {
        println!("::error::{}", command_text(&message));
    }
    let mut err = std::io::stderr().lock();
    if color() {
        let _ = writeln!(err, "\x1b[1;31merror\x1b[0m: {message}");
    } else {
        let _ = writeln!(err, "error: {message}");
    }
}

/// A progress line for a long transfer or wait, drawn only when stderr is a terminal.
pub struct Progress {
    label: String,
    total: u64,
    done: Arc<AtomicU64>,
    enabled: bool,
}

impl Progress {
    pub fn new(label: impl Into<String>, total: u64) -> Progress {
        Progress {
            label: safe(&label.into()),
            total,
            done: Arc::new(AtomicU64::new(0)),
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Wraps a reader so that what it yields advances the line.
    pub fn reader<R: Read>(&self, inner: R) -> ProgressReader<R> {
        ProgressReader {
            inner,
            label: self.label.clone(),
            total: self.total,
            done: Arc::clone(&self.done),
            enabled: self.enabled,
            last: None,
        }
    }

    /// Draws a free-form progress message (a wait's state) in place.
    pub fn message(&self, text: &str) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2K{:>12} {} {}",
                "Waiting",
                self.label,
                safe(text)
            );
            let _ = err.flush();
        }
    }

    pub fn finish(&self) {
        if self.enabled {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

pub struct ProgressReader<R> {
    inner: R,
    label: String,
    total: u64,
    done: Arc<AtomicU64>,
    enabled: bool,
    last: Option<Instant>,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let done = self.done.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if self.enabled && self.last.is_none_or(|t| t.elapsed().as_millis() >= 100) {
            self.last = Some(Instant::now());
            let percent = (done * 100).checked_div(self.total).unwrap_or(100);
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2K{:>12} {} {percent:>3}% ({:.1}/{:.1} MB)",
                "Uploading",
                self.label,
                done as f64 / 1e6,
                self.total as f64 / 1e6
            );
            let _ = err.flush();
        }
        Ok(n)
    }
}

/// A unified diff of two texts, three lines of context per hunk, each line made `visible`
/// (a changelog is other people's text). Myers' algorithm as `similar` runs it (what
/// cargo-release shows its edits with): memory linear in the lines, not the old × new table
/// of a plain longest common subsequence, and a deadline after which it settles for a
/// coarser diff, so a 10 MB changelog costs a few times its size.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .timeout(std::time::Duration::from_secs(2))
        .diff_lines(old, new);
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        out.push_str(&format!("{}\n", hunk.header()));
        for change in hunk.iter_changes() {
            out.push(match change.tag() {
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Equal => ' ',
            });
            out.push_str(&visible(change.value().trim_end_matches(['\n', '\r'])));
            out.push('\n');
        }
    }
    out
}

/// `1 file`, `2 files`: a count with its noun, for nouns whose plural adds an `s`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Named steps of a long run (`rehearse`, `demo`): each shown as it starts and timed; a
/// failure says which step it stopped at.
pub struct Steps {
    run: &'static str,
    timings: Vec<(String, f64)>,
}

impl Steps {
    /// `run` names the whole in an error: "the rehearsal stopped at: …".
    pub fn new(run: &'static str) -> Steps {
        Steps {
            run,
            timings: Vec::new(),
        }
    }

    pub fn run<T>(
        &mut self,
        title: &str,
        f: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        use anyhow::Context;
        eprintln!();
        status("Step", title);
        let started = Instant::now();
        let result = f().with_context(|| format!("{} stopped at: {title}", self.run));
        self.timings
            .push((title.to_string(), started.elapsed().as_secs_f64()));
        result
    }

    /// Each step's time, then the whole run's since `started`.
    pub fn print(&self, started: Instant) {
        eprintln!();
        for (title, secs) in &self.timings {
            eprintln!("{secs:>9.2}s  {title}");
        }
        eprintln!("{:>9.2}s  in all", started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_made_visible() {
        let hostile = "a\x1b]52;c;cHduZWQ=\x07b\x1b[2Jc\rd\u{9b}31me\u{202e}f\u{7f}\ng\th";
        assert_eq!(
            super::visible(hostile),
            "a^[]52;c;cHduZWQ=^Gb^[[2Jc^Md\\u{9b}31me\\u{202e}f^?^Jg^Ih"
        );
        assert_eq!(
            super::visible_lines(hostile),
            "a^[]52;c;cHduZWQ=^Gb^[[2Jc^Md\\u{9b}31me\\u{202e}f^?\ng\th"
        );
        assert_eq!(super::visible("plain — text ✓"), "plain — text ✓");
        // Idempotent: what was made visible stays as it is.
        assert_eq!(
            super::visible(&super::visible(hostile)),
            super::visible(hostile)
        );
    }

    #[test]
    fn diff_of_a_large_text_is_linear_and_hostile_lines_are_visible() {
        let mut old = String::from("# Changelog\n\n## [Unreleased]\n\n- \x1b]52;c;eA==\x07new\n\n");
        for i in 0..200_000 {
            old.push_str(&format!("## [0.{i}.0]\n\n- change {i}\n\n"));
        }
        let new = old.replacen(
            "## [Unreleased]\n",
            "## [Unreleased]\n\n## [1.0.1] - 2026-12-03\n",
            1,
        );
        let started = std::time::Instant::now();
        let diff = super::unified_diff("CHANGELOG.md", &old, &new);
        assert!(started.elapsed().as_secs() < 10);
        assert_eq!(
            diff,
            "--- a/CHANGELOG.md\n+++ b/CHANGELOG.md\n@@ -2,6 +2,8 @@\n \n ## [Unreleased]\n \n+## [1.0.1] - 2026-12-03\n+\n - ^[]52;c;eA==^Gnew\n \n ## [0.0.0]\n"
        );
    }

    #[test]
    fn diff_shows_only_the_changed_region() {
        let old = "a\nb\nc\nd\ne\nf\ng\nversion = \"1.0\"\nh\ni\nj\nk\nl\n";
        let new = old.replace("1.0", "1.1");
        let diff = super::unified_diff("x.toml", old, &new);
        assert_eq!(
            diff,
            "--- a/x.toml\n+++ b/x.toml\n@@ -5,7 +5,7 @@\n e\n f\n g\n-version = \"1.0\"\n+version = \"1.1\"\n h\n i\n j\n"
        );
    }
}
