//! PyPI's new-project limit, checked before anything is tagged: PyPI (and TestPyPI, the same
//! Warehouse) creates at most 4 new projects per user, and per IP address, in 24 hours; the
//! fifth first upload is refused with `429 Too many new projects created` and the headers
//! `Ratelimit-Policy: "project.create.ip";q=4;w=86400;pk=:ip:, "project.create.user";q=4;
//! w=86400;pk=:user:` (https://github.com/pypi/warehouse/pull/13097 made the limit,
//! https://github.com/pypi/support/issues/11827 shows the headers). A larger first release of
//! a workspace would stop halfway, some projects on the index and the rest refused for a day.
//! This module counts the release set's projects an index does not have yet and says what to
//! do past the limit. Whether a project exists is asked through a closure (`on_index` asks a
//! PEP 503/691 project page: a 404 is a project that does not exist). Not wired into the
//! preflight yet (docs/monorepo.md).

use anyhow::Result;

use crate::resources::index;

/// `q=4` of `"project.create.user";q=4;w=86400`.
pub const WAREHOUSE_NEW_PROJECTS_PER_DAY: usize = 4;

/// The new-project limit of the index at `url` (its upload or simple URL): Warehouse's on
/// pypi.org and test.pypi.org, none known elsewhere (pypiserver, devpi, a company's index).
pub fn limit_for(url: &str) -> Option<usize> {
    let host = url::Url::parse(url).ok()?.host_str()?.to_ascii_lowercase();
    let warehouse = ["pypi.org", "upload.pypi.org", "test.pypi.org"]
        .iter()
        .any(|h| host == *h || host == format!("www.{h}"));
    warehouse.then_some(WAREHOUSE_NEW_PROJECTS_PER_DAY)
}

/// A release set's projects on one index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProjects {
    /// The index as a message names it.
    pub index: String,
    /// The projects the index does not have, in the set's order.
    pub new: Vec<String>,
    pub existing: Vec<String>,
    pub limit: Option<usize>,
}

/// Asks `exists` about each name of the set (in release order) and sorts them.
pub fn count(
    index: &str,
    names: &[&str],
    limit: Option<usize>,
    mut exists: impl FnMut(&str) -> Result<bool>,
) -> Result<NewProjects> {
    let mut found = NewProjects {
        index: index.to_string(),
        new: Vec::new(),
        existing: Vec::new(),
        limit,
    };
    for name in names {
        if exists(name)? {
            found.existing.push(name.to_string());
        } else {
            found.new.push(name.to_string());
        }
    }
    Ok(found)
}

/// Whether a project exists on the index whose simple (PEP 503/691) root is `simple_url`: its
/// page is served (a 404 is no such project).
pub fn on_index<'a>(
    agent: &'a ureq::Agent,
    simple_url: &'a str,
) -> impl FnMut(&str) -> Result<bool> + 'a {
    move |name| Ok(index::project_files(agent, simple_url, name)?.is_some())
}

impl NewProjects {
    /// The new projects in batches the limit lets through, one batch per 24 hours: the first
    /// batch also carries every project that exists already. One batch when under the limit.
    pub fn batches(&self) -> Vec<Vec<String>> {
        let per_batch = self.limit.unwrap_or(usize::MAX).max(1);
        let mut batches: Vec<Vec<String>> =
            self.new.chunks(per_batch).map(<[String]>::to_vec).collect();
        if batches.is_empty() {
            batches.push(Vec::new());
        }
        batches[0].splice(0..0, self.existing.iter().cloned());
        batches
    }

    /// The problem to report before anything is tagged, `None` within the limit.
    pub fn problem(&self) -> Option<String> {
        let limit = self.limit?;
        if self.new.len() <= limit {
            return None;
        }
        let batches = self
            .batches()
            .iter()
            .enumerate()
            .map(|(day, names)| format!("day {}: {}", day + 1, names.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        Some(format!(
            "{} of the release set's projects do not exist yet on {} ({}), and it creates at \
             most {limit} new projects per user in 24 hours (`Ratelimit-Policy: \
             \"project.create.user\";q={limit};w=86400`): the upload of the {} would be refused \
             halfway through the set. Register a pending trusted publisher for each new \
             project first (https://docs.pypi.org/trusted-publishers/creating-a-project-through-oidc/), \
             or release the set in batches a day apart ({batches}), or ask for a higher limit \
             (https://github.com/pypi/support)",
            self.new.len(),
            self.index,
            self.new.join(", "),
            ordinal(limit + 1),
        ))
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, r) if r != 11 => "st",
        (2, r) if r != 12 => "nd",
        (3, r) if r != 13 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(names: &[&str], existing: &[&str], limit: Option<usize>) -> NewProjects {
        count("PyPI", names, limit, |name| Ok(existing.contains(&name))).unwrap()
    }

    #[test]
    fn four_new_projects_pass_and_a_fifth_is_reported_with_what_to_do() {
        let names = [
            "acme-core",
            "acme-cli",
            "acme-a",
            "acme-b",
            "acme-c",
            "acme-d",
        ];
        let four = counted(&names, &["acme-core", "acme-cli"], Some(4));
        assert_eq!(four.new, ["acme-a", "acme-b", "acme-c", "acme-d"]);
        assert_eq!(four.problem(), None);
        assert_eq!(four.batches(), [names.to_vec()]);

        let five = counted(&names, &["acme-core"], Some(4));
        let problem = five.problem().unwrap();
        assert_eq!(
            problem,
            "5 of the release set's projects do not exist yet on PyPI (acme-cli, acme-a, acme-b, \
             acme-c, acme-d), and it creates at most 4 new projects per user in 24 hours \
             (`Ratelimit-Policy: \"project.create.user\";q=4;w=86400`): the upload of the 5th \
             would be refused halfway through the set. Register a pending trusted publisher for \
             each new project first \
             (https://docs.pypi.org/trusted-publishers/creating-a-project-through-oidc/), or \
             release the set in batches a day apart (day 1: acme-core, acme-cli, acme-a, \
             acme-b, acme-c; day 2: acme-d), or ask for a higher limit \
             (https://github.com/pypi/support)"
        );
    }

    #[test]
    fn only_warehouse_has_the_limit() {
        for url in [
            "https://upload.pypi.org/legacy/",
            "https://test.pypi.org/legacy/",
            "https://pypi.org/simple/",
            "https://TEST.PyPI.org/simple/",
        ] {
            assert_eq!(limit_for(url), Some(4), "{url}");
        }
        for url in [
            "http://127.0.0.1:8080/",
            "https://pypi.example.org/simple/",
            "not a url",
        ] {
            assert_eq!(limit_for(url), None, "{url}");
        }
        let local = counted(
            &["a", "b", "c", "d", "e"],
            &[],
            limit_for("http://127.0.0.1:1/"),
        );
        assert_eq!(local.problem(), None);
    }

    #[test]
    fn an_index_that_cannot_be_asked_stops_the_count() {
        let err = count("PyPI", &["a", "b"], Some(4), |name| {
            if name == "b" {
                anyhow::bail!("cannot read `https://pypi.org/simple/b/`")
            }
            Ok(false)
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "cannot read `https://pypi.org/simple/b/`");
    }

    #[test]
    fn ordinals_read_as_english() {
        let spelled: Vec<String> = [1, 2, 3, 4, 5, 11, 12, 13, 21, 22, 101, 111]
            .map(ordinal)
            .to_vec();
        assert_eq!(
            spelled,
            [
                "1st", "2nd", "3rd", "4th", "5th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }
}
