//! twostage: two-stage, verified releases of Python packages, driven from `cargo xtask`.
//!
//! Two folders show the architecture (see `docs/architecture.md`): `steps` holds one module per
//! release step (`release`, `build`, `stage`, `verify`, `promote`, `status`, `hooks`, `init`,
//! `rehearse`), each an orchestration that decides what to do; `resources` holds the modules
//! that do it and know nothing of the release plan (`git`, `index`, `dist`, `pyenv`, `forge`,
//! `manifest`, `changelog`, `evidence`, `credentials`, `oidc`, `tls`, `secrets`, `sandbox`).
//! Between them, `core` holds what several steps share (the frozen set, putting files on an
//! index, the verification's verdict, the release's production names). A step imports the core
//! and resources; neither imports a step. At the top level stay the
//! command line (`cli`) and what every layer shares (`config`, `error`, `resolved`, `output`,
//! `interrupt`, `clock`, `version`, `cargo_env`). The test bed (stand-ins, the fault proxy) is
//! the `twostage-testbed` crate beside this one; `demo` and `bench` are this repository's xtask.

pub mod cargo_env;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
pub mod error;
pub mod interrupt;
pub mod output;
pub mod package_tags;
pub mod resolved;
pub mod resources;
pub mod steps;
pub mod version;
