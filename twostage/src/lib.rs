//! twostage: two-stage, verified releases of Python packages, driven from `cargo xtask`.
//!
//! One module per release stage (`release`, `build`, `stage`, `verify`, `promote`, `hooks`,
//! `status`) orchestrating resource modules that know nothing of the release plan (`git`,
//! `index`, `dist`, `pyenv`, `forge`, `manifest`, `changelog`, `credentials`, `evidence`).

pub mod build;
pub mod cargo_env;
pub mod changelog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod dist;
pub mod evidence;
pub mod forge;
pub mod git;
pub mod hooks;
pub mod index;
pub mod init;
pub mod interrupt;
pub mod manifest;
pub mod oidc;
pub mod output;
pub mod promote;
pub mod pyenv;
pub mod rehearse;
pub mod release;
pub mod resolved;
pub mod sandbox;
pub mod secrets;
pub mod stage;
pub mod status;
pub mod testbed;
pub mod tls;
pub mod verify;
pub mod version;

/// A usage or configuration error: the command exits with 2 instead of 1.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
