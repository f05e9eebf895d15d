//! Typed errors of the daemon. Every error has a stable category that becomes the gRPC status
//! code the kubelet sees (and the `code` label of the RPC metrics).

use std::fmt;

/// Stable error categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    NotFound,
    InvalidArgument,
    AlreadyExists,
    FailedPrecondition,
    Unavailable,
    DeadlineExceeded,
    Unimplemented,
    Internal,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::NotFound => "NotFound",
            Category::InvalidArgument => "InvalidArgument",
            Category::AlreadyExists => "AlreadyExists",
            Category::FailedPrecondition => "FailedPrecondition",
            Category::Unavailable => "Unavailable",
            Category::DeadlineExceeded => "DeadlineExceeded",
            Category::Unimplemented => "Unimplemented",
            Category::Internal => "Internal",
        }
    }
}

/// An error with its category and a message that says what was wrong with which value.
#[derive(Debug, Clone)]
pub struct CriError {
    pub category: Category,
    pub message: String,
}

impl CriError {
    pub fn new(category: Category, message: impl Into<String>) -> Self {
        CriError {
            category,
            message: message.into(),
        }
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(Category::NotFound, m)
    }
    pub fn invalid(m: impl Into<String>) -> Self {
        Self::new(Category::InvalidArgument, m)
    }
    pub fn precondition(m: impl Into<String>) -> Self {
        Self::new(Category::FailedPrecondition, m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(Category::Internal, m)
    }
    /// Prefixes the message with what we were doing.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for CriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CriError {}

impl From<CriError> for tonic::Status {
    fn from(e: CriError) -> Self {
        let code = match e.category {
            Category::NotFound => tonic::Code::NotFound,
            Category::InvalidArgument => tonic::Code::InvalidArgument,
            Category::AlreadyExists => tonic::Code::AlreadyExists,
            Category::FailedPrecondition => tonic::Code::FailedPrecondition,
            Category::Unavailable => tonic::Code::Unavailable,
            Category::DeadlineExceeded => tonic::Code::DeadlineExceeded,
            Category::Unimplemented => tonic::Code::Unimplemented,
            Category::Internal => tonic::Code::Internal,
        };
        tonic::Status::new(code, e.message)
    }
}

impl From<std::io::Error> for CriError {
    fn from(e: std::io::Error) -> Self {
        CriError::internal(e.to_string())
    }
}

pub type Result<T, E = CriError> = std::result::Result<T, E>;

/// Adds context to io errors: `fs::create_dir(p).ctx(|| format!("creating {}", p.display()))`.
pub trait Ctx<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T, E: fmt::Display> Ctx<T> for std::result::Result<T, E> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| CriError::internal(format!("{}: {e}", f())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_map_to_grpc_codes() {
        let s: tonic::Status = CriError::not_found("container \"x\" not found").into();
        assert_eq!(s.code(), tonic::Code::NotFound);
        assert_eq!(s.message(), "container \"x\" not found");
        let s: tonic::Status = CriError::invalid("bad")
            .context("creating container")
            .into();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert_eq!(s.message(), "creating container: bad");
    }
}
