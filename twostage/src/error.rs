//! The one error the tool tells apart from the rest: a usage or configuration error, for which
//! the command exits with 2 instead of 1 (`cli` looks for it in the error chain). Every other
//! failure is a plain `anyhow::Error`.

/// A usage or configuration error: the command exits with 2 instead of 1.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
