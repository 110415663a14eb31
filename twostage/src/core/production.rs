//! What names a release on production, shared by `promote`, `audit`, `status` and `hooks`: the
//! plain tag and its `-prod` tag for a tag given either way, the commit a remote's tag names
//! (the peeled `^{}` entry git-ls-remote(1) lists for an annotated tag), the warning for an
//! annotated `-prod` tag, `SHA256SUMS` and its digest, and the names of the GitHub release's
//! assets.

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::UsageError;
use crate::resources::dist;
use crate::resources::evidence::ArtifactRecord;
use crate::resources::git::Repo;

/// The plain release tag and its production tag for a tag given either way (`v1.4.3` or
/// `v1.4.3-prod`), as the repository spells it: a tag made as `v0.2.0rc1` is found under that
/// name, not only under the canonical `v0.2.0-rc.1`.
pub fn plain_tag(repo: &Repo, config: &Config, tag: &str) -> Result<(String, String)> {
    let scheme = config.git.tag_scheme();
    let parsed = scheme
        .parse(tag)
        .map_err(|e| UsageError(format!("{e:#}")))?;
    let written = if parsed.prod {
        tag.strip_suffix(&scheme.prod_suffix)
            .unwrap_or(tag)
            .to_string()
    } else {
        tag.to_string()
    };
    let plain = if repo.tag_commit(&written).is_some() {
        written
    } else {
        repo.tags()?
            .into_iter()
            .map(|(name, _)| name)
            .find(|name| {
                scheme
                    .parse(name)
                    .is_ok_and(|t| !t.prod && t.version == parsed.version)
            })
            .unwrap_or_else(|| scheme.tag(&parsed.version))
    };
    let prod = format!("{plain}{}", scheme.prod_suffix);
    Ok((plain, prod))
}

/// `SHA256SUMS`: one `<sha256>  <filename>` line per artifact, sorted by name.
/// The GitHub repository the release is published to: `github.repository`, else the remote's,
/// when it is on github.com (`owner/name`); `None` when neither says.
pub fn github_repository(repo: &Repo, config: &Config) -> Option<String> {
    config.github.repository.clone().or_else(|| {
        repo.remote_url(&config.git.remote)
            .and_then(|u| crate::resources::git::github_repository(&u))
    })
}

pub fn sha256sums(artifacts: &[ArtifactRecord]) -> String {
    let mut sorted: Vec<&ArtifactRecord> = artifacts.iter().collect();
    sorted.sort_by(|a, b| a.filename.cmp(&b.filename));
    sorted
        .iter()
        .map(|a| format!("{}  {}\n", a.sha256, a.filename))
        .collect()
}

/// The digest that names the artifact set in the `-prod` tag's message.
pub fn manifest_digest(artifacts: &[ArtifactRecord]) -> String {
    dist::hex(&Sha256::digest(sha256sums(artifacts).as_bytes()))
}

/// The commit a remote's tag names: the peeled `^{}` entry of an annotated tag, else the
/// entry itself (a lightweight tag).
pub fn remote_commit(refs: &[(String, git2::Oid)], tag: &str) -> Option<git2::Oid> {
    let name = format!("refs/tags/{tag}");
    let peeled = format!("{name}^{{}}");
    let find = |wanted: &str| refs.iter().find(|(n, _)| n == wanted).map(|(_, oid)| *oid);
    find(&peeled).or_else(|| find(&name))
}

/// What to say of a `-prod` tag that is an annotated tag object (made by hand, or by a
/// twostage that made them annotated): `git describe --tags` names it instead of the release
/// tag, so a VCS-versioned project's builds of that commit, and of every commit after it up to
/// the next release, read `vX.Y.Z-prod` as their version and fail. `None` for a lightweight
/// tag, or none at all. The fix keeps the commit: the record is in the release note.
pub fn annotated_prod_tag(repo: &Repo, remote: &str, prod_tag: &str) -> Option<String> {
    (repo.tag_is_annotated(prod_tag) == Some(true)).then(|| {
        format!(
            "`{prod_tag}` is an annotated tag: `git describe --tags` names it instead of the \
             release tag, so setuptools-scm, hatch-vcs and pdm-backend builds from here on read \
             `{prod_tag}` as the version and fail; make it lightweight on the same commit: \
             `git tag -f {prod_tag} {prod_tag}^{{commit}}` and \
             `git push --force {remote} refs/tags/{prod_tag}` (other clones: \
             `git fetch --force {remote} refs/tags/{prod_tag}:refs/tags/{prod_tag}`)"
        )
    })
}

/// The name of the release note's asset: the note as TOML when the release was made.
pub const NOTE_ASSET: &str = "release-note.toml";

/// What an attestation beside a frozen file is named (PEP 740 as uv and
/// `pypi-attestations sign` write them: `<file>.publish.attestation`).
pub const ATTESTATION_SUFFIX: &str = ".publish.attestation";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sums_are_sorted_and_digested() {
        let a = |name: &str, sha: &str| ArtifactRecord {
            filename: name.into(),
            size: 1,
            sha256: sha.into(),
            blake2_256: String::new(),
        };
        let artifacts = vec![
            a("pkg-1.0.tar.gz", "bb"),
            a("pkg-1.0-py3-none-any.whl", "aa"),
        ];
        assert_eq!(
            sha256sums(&artifacts),
            "aa  pkg-1.0-py3-none-any.whl\nbb  pkg-1.0.tar.gz\n"
        );
        assert_eq!(manifest_digest(&artifacts).len(), 64);
    }

    #[test]
    fn a_remote_tag_is_read_peeled() {
        let oid = |c: char| git2::Oid::from_str(&c.to_string().repeat(40)).unwrap();
        let refs = vec![
            ("refs/tags/v1.0".to_string(), oid('a')),
            ("refs/tags/v1.0^{}".to_string(), oid('b')),
            ("refs/tags/v1.0-prod".to_string(), oid('c')),
            ("refs/tags/x/refs/tags/v2.0".to_string(), oid('d')),
        ];
        assert_eq!(
            remote_commit(&refs, "v1.0"),
            Some(oid('b')),
            "annotated: peeled"
        );
        assert_eq!(
            remote_commit(&refs, "v1.0-prod"),
            Some(oid('c')),
            "lightweight"
        );
        assert_eq!(remote_commit(&refs, "v2.0"), None, "only the exact name");
    }
}
