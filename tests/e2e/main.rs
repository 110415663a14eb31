//! The end-to-end tests, one binary with a module per step (as cargo-release's
//! `tests/testsuite`): real git with a bare origin, real pypiserver and devpi on 127.0.0.1
//! started once for the whole suite, real virtual environments, real build backends, and the
//! real `twostage` binary. Each test releases a project of its own name, so tests never see
//! each other's files on the shared indexes.

mod common;

mod adopt;
mod attest;
mod audit;
mod boundary;
mod ci;
mod config;
mod faults;
mod hooks;
mod hostile_input;
mod hostile_output;
mod maintainer;
mod matrix;
mod maturin;
mod monorepo;
mod monorepo_flow;
mod monorepo_multirel;
mod monorepo_siblings;
mod promote;
mod pyconfig;
mod pypirules;
mod races;
mod reading;
mod rehearse;
mod release;
mod stage;
mod tls;
mod trials;
mod trust;
mod trusted;
mod vcs;
mod verify;
