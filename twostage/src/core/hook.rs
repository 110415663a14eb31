//! The git hooks the tool installs a shim for (githooks(5): `pre-push`,
//! `reference-transaction`, `post-tag`), and the shim each one ships as: what `hooks install`
//! writes and `init` lists.

/// The hooks the tool installs a shim for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    PrePush,
    ReferenceTransaction,
    PostTag,
}

impl Hook {
    pub const ALL: [Hook; 3] = [Hook::PrePush, Hook::ReferenceTransaction, Hook::PostTag];

    /// git's name of the hook, and the shim's file name.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::PrePush => "pre-push",
            Hook::ReferenceTransaction => "reference-transaction",
            Hook::PostTag => "post-tag",
        }
    }

    /// The shim as shipped, before `@PREFIX@` and `@SCRUB@` are filled in.
    pub fn template(self) -> &'static str {
        match self {
            Hook::PrePush => include_str!("../../hooks/pre-push"),
            Hook::ReferenceTransaction => include_str!("../../hooks/reference-transaction"),
            Hook::PostTag => include_str!("../../hooks/post-tag"),
        }
    }
}
