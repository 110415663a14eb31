//! The resources: modules that each own one outside thing (a git repository, a package index,
//! a distribution file, a Python environment, GitHub, a manifest, a changelog, the release
//! notes, credentials and OIDC tokens, TLS, the secret-free environment, the local-index
//! sandbox, the lock of one run at a time) and know nothing of the release plan. They import
//! each other and the shared top-level modules (`config`, `output`, `interrupt`, `version`),
//! never a step (`crate::steps`).

pub mod attest;
pub mod cache;
pub mod changelog;
pub mod changes;
pub mod contents;
pub mod credentials;
pub mod dist;
pub mod evidence;
pub mod filename;
pub mod forge;
pub mod git;
pub mod index;
pub mod ini;
pub mod json;
pub mod lock;
pub mod manifest;
pub mod oidc;
pub mod project;
pub mod pyenv;
pub mod readme;
pub mod repair;
pub mod sandbox;
pub mod secrets;
pub mod tls;
pub mod warehouse;
pub mod workspace;
