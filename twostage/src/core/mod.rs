//! The release core: the machinery several steps share, beneath `steps` and over `resources`.
//! A step decides; the core holds what more than one step needs to act on a release, so that a
//! step calls another step only where the flow itself does (`stage` calls `verify`, `hooks`
//! calls `stage` and `promote`): the build of a tag (`build`) that `release`, the post-tag hook
//! and `stage` all need is here. The core imports resources and the shared top-level modules,
//! never a step.

pub mod build;
pub mod changed;
pub mod frozen;
pub mod hook;
pub mod index;
pub mod new_projects;
pub mod production;
pub mod release_order;
pub mod schedule;
pub mod siblings;
pub mod tools;
pub mod upload;
pub mod verdict;
