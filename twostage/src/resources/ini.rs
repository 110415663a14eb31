//! INI files as Python's `configparser` reads them, for the two twostage reads: `~/.pypirc`
//! (twine reads it with `configparser.RawConfigParser`) and `setup.cfg` (setuptools reads it
//! with `configparser.ConfigParser`). The rules, from CPython's `RawConfigParser._read`
//! (https://docs.python.org/3/library/configparser.html#supported-ini-file-structure), with
//! its defaults:
//!
//! - `[name]` opens a section; the name is what lies between the `[` and the line's last `]`,
//!   spaces kept and case kept; `[DEFAULT]` holds values every section inherits;
//! - `key = value` or `key: value`, split at the first `=` or `:`; keys are compared in lower
//!   case, both sides are stripped;
//! - a line indented deeper than its key's line continues the value (joined with `\n`; blank
//!   lines inside are kept, trailing ones dropped);
//! - a line whose first non-blank character is `#` or `;` is a comment, also inside a
//!   multi-line value; there are no inline comments (`a = b ; c` is `b ; c`);
//! - a key line before any section, a line that is neither, an empty key, a section or a key
//!   given twice: the file is refused (`configparser` raises), and here `parse` says why.
//!
//! Interpolation (`%(name)s`) is not applied: twine reads raw, and the setup.cfg fields read
//! (`name`, `version`) hold no `%`.

/// The sections of an INI file in order, each with its keys (lower case) and values.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ini {
    defaults: Vec<(String, String)>,
    sections: Vec<(String, Vec<(String, String)>)>,
}

/// `configparser`'s default section, inherited by every other.
const DEFAULT: &str = "DEFAULT";

impl Ini {
    /// Reads an INI text; the error names the first line `configparser` would refuse.
    pub fn parse(text: &str) -> Result<Ini, String> {
        let mut ini = Ini::default();
        // The section being filled (`Some(None)` is `[DEFAULT]`), the key whose value lines are
        // being read, those lines, and the indent of the key's line.
        let mut section: Option<Option<usize>> = None;
        let mut open: Option<usize> = None;
        let mut lines: Vec<String> = Vec::new();
        let mut indent_level = usize::MAX;
        for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
            let value = line.trim();
            if value.starts_with(['#', ';']) {
                continue;
            }
            if value.is_empty() {
                if open.is_some() {
                    lines.push(String::new());
                }
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            if open.is_some() && indent > indent_level {
                lines.push(value.to_string());
                continue;
            }
            indent_level = indent;
            if let (Some(section), Some(key)) = (section, open.take()) {
                ini.keys_mut(section)[key].1 = join(&mut lines);
            }
            if let Some(name) = section_header(value) {
                section = Some(ini.open(name).map_err(|e| format!("line {number}: {e}"))?);
                continue;
            }
            let Some(current) = section else {
                return Err(format!("line {number}: a key before any `[section]`"));
            };
            let Some((key, first)) = value.split_once(['=', ':']) else {
                return Err(format!(
                    "line {number}: neither `[section]` nor `key = value`"
                ));
            };
            let key = key.trim_end().to_lowercase();
            if key.is_empty() {
                return Err(format!("line {number}: a value without a key"));
            }
            let keys = ini.keys_mut(current);
            if keys.iter().any(|(k, _)| *k == key) {
                return Err(format!("line {number}: the key `{key}` given twice"));
            }
            keys.push((key, String::new()));
            open = Some(keys.len() - 1);
            lines.push(first.trim().to_string());
        }
        if let (Some(section), Some(key)) = (section, open) {
            ini.keys_mut(section)[key].1 = join(&mut lines);
        }
        Ok(ini)
    }

    /// A key's value in a section, else in `[DEFAULT]`; `None` when the section is absent.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        let key = key.to_lowercase();
        let find = |keys: &'_ [(String, String)]| -> Option<usize> {
            keys.iter().position(|(k, _)| *k == key)
        };
        let own = match section {
            DEFAULT => None,
            _ => Some(&self.sections.iter().find(|(name, _)| name == section)?.1),
        };
        own.and_then(|keys| find(keys).map(|i| keys[i].1.as_str()))
            .or_else(|| find(&self.defaults).map(|i| self.defaults[i].1.as_str()))
    }

    /// Opens `[name]`: `Some(index)` of a new section, `None` for `[DEFAULT]`.
    fn open(&mut self, name: &str) -> Result<Option<usize>, String> {
        if name == DEFAULT {
            return Ok(None);
        }
        if self.sections.iter().any(|(n, _)| n == name) {
            return Err(format!("the section `[{name}]` given twice"));
        }
        self.sections.push((name.to_string(), Vec::new()));
        Ok(Some(self.sections.len() - 1))
    }

    fn keys_mut(&mut self, section: Option<usize>) -> &mut Vec<(String, String)> {
        match section {
            Some(i) => &mut self.sections[i].1,
            None => &mut self.defaults,
        }
    }
}

/// A value's lines joined as `configparser` joins them: with `\n`, trailing blank lines dropped.
fn join(lines: &mut Vec<String>) -> String {
    std::mem::take(lines).join("\n").trim_end().to_string()
}

/// `[name]`: the text between the `[` and the line's last `]` (`configparser`'s
/// `\[(?P<header>.+)\]`, matched from the start of the stripped line).
fn section_header(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// INI texts where readers disagree, each read here and by Python's own `configparser`.
    const CASES: &[&str] = &[
        "[pypi]\nusername = __token__\npassword = pypi-AgE\n",
        "[testpypi]\npassword: pypi-test\nrepository:https://test.pypi.org/legacy/\n",
        "[s]\nkey = a ; not a comment\nother = b # nor this\n",
        "[s]\n# a comment\n; another\nkey = value\n  # a comment inside\n  more\n",
        "[s]\nkey = first\n  second\n\n  third\n\n\nnext = 1\n",
        "[s]\nKey = Upper\nurl = https://x:1/a=b\n",
        "[ spaced ]\nk = 1\n[s] trailing\nk = 2\n",
        "[DEFAULT]\nusername = shared\n[a]\npassword = p\n[b]\nusername = own\n",
        "  [s]\n  key = indented\n  other = too\n",
        "[metadata]\nname = pkg\nversion =\n    1.0\n",
        "[s]\nk = v\n[t]\nk = w\n",
        "[s]\nempty =\n",
        "key = before any section\n",
        "[s]\nbare word\n",
        "[s]\nk = 1\nk = 2\n",
        "[s]\nK = 1\nk = 2\n",
        "[s]\n[s]\n",
        "[s]\n= no key\n",
    ];

    /// What this reader makes of a text, in the shape the Python side prints:
    /// `section<TAB>key<TAB>value` lines (values with `\n` escaped), or `error`.
    fn ours(text: &str) -> String {
        let Ok(ini) = Ini::parse(text) else {
            return "error\n".into();
        };
        let mut out = String::new();
        let mut line = |section: &str, key: &str, value: &str| {
            out.push_str(&format!(
                "{section}\t{key}\t{}\n",
                value.replace('\n', "\\n")
            ));
        };
        for (key, value) in &ini.defaults {
            line(DEFAULT, key, value);
        }
        for (section, keys) in &ini.sections {
            let mut all: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
            let inherited: Vec<&str> = ini
                .defaults
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|d| !all.contains(d))
                .collect();
            all.extend(inherited);
            for key in all {
                line(section, key, ini.get(section, key).unwrap_or_default());
            }
        }
        out
    }

    /// Reads each NUL-separated text of stdin with `RawConfigParser` and prints what it holds,
    /// each text's lines closed by a NUL.
    const PYTHON: &str = r#"
import configparser, sys
for text in sys.stdin.read().split("\0"):
    p = configparser.RawConfigParser()
    try:
        p.read_string(text)
    except configparser.Error:
        print("error")
    else:
        for k, v in p.defaults().items():
            print("DEFAULT\t%s\t%s" % (k, v.replace("\n", "\\n")))
        for s in p.sections():
            for k in p.options(s):
                print("%s\t%s\t%s" % (s, k, p.get(s, k).replace("\n", "\\n")))
    sys.stdout.write("\0")
"#;

    /// What Python's `configparser` makes of each text, in `ours`' shape.
    fn python(texts: &[&str]) -> Vec<String> {
        use std::io::Write;
        let mut child = std::process::Command::new("python3")
            .args(["-c", PYTHON])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 on PATH: the reader is checked against its configparser");
        let input = texts.join("\0");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let mut read: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .map(str::to_string)
            .collect();
        read.pop();
        read
    }

    #[test]
    fn reads_as_pythons_configparser_does() {
        let theirs = python(CASES);
        assert_eq!(theirs.len(), CASES.len());
        for (text, theirs) in CASES.iter().zip(theirs) {
            assert_eq!(ours(text), theirs, "{text:?}");
        }
    }

    #[test]
    fn the_cases_that_matter_read_as_recorded() {
        // Recorded from `python3 -c` with `PYTHON` above (Python 3.11), so a reader change is
        // seen without Python too.
        let ini = Ini::parse(CASES[3]).unwrap();
        assert_eq!(ini.get("s", "key"), Some("value\nmore"));
        let ini = Ini::parse(CASES[2]).unwrap();
        assert_eq!(ini.get("s", "key"), Some("a ; not a comment"));
        let ini = Ini::parse(CASES[1]).unwrap();
        assert_eq!(
            ini.get("testpypi", "repository"),
            Some("https://test.pypi.org/legacy/")
        );
        let ini = Ini::parse(CASES[4]).unwrap();
        assert_eq!(ini.get("s", "key"), Some("first\nsecond\n\nthird"));
        let ini = Ini::parse(CASES[6]).unwrap();
        assert_eq!(ini.get(" spaced ", "k"), Some("1"));
        assert_eq!(ini.get("spaced", "k"), None);
        let ini = Ini::parse(CASES[7]).unwrap();
        assert_eq!(ini.get("a", "USERNAME"), Some("shared"));
        assert_eq!(ini.get("b", "username"), Some("own"));
        assert_eq!(ini.get("c", "username"), None);
        for refused in &CASES[12..] {
            assert!(Ini::parse(refused).is_err(), "{refused:?}");
        }
    }
}
