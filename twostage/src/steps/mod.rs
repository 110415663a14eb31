//! The release steps: one module per step, each an orchestration that decides what to do and
//! calls the resources (`crate::resources`) to do it. One release flows through them in order:
//! `release` bumps, commits and tags; `build` builds the files once and freezes them; `stage`
//! makes sure they are on the staging index and calls `verify`, which installs and smoke-tests
//! them from there; `promote` puts the same bytes on production; `record` puts results written by CI jobs that
//! may not push into the note. `status` reports where each
//! release stands, `hooks` runs these steps from git's hooks, `init` adopts a repository and
//! `rehearse` runs the whole flow against local indexes. A step may call a later step's module
//! where the flow does (`stage` calls `verify`, `hooks` calls `stage` and `promote`); what
//! several steps share is in `crate::core`, and nothing below calls a step.

pub mod audit;
pub mod build;
pub mod hooks;
pub mod init;
pub mod promote;
pub mod record;
pub mod rehearse;
pub mod release;
pub mod resume;
pub mod stage;
pub mod status;
pub mod verify;
