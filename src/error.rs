//! The one error type of fedca.
//!
//! Every failure is either *bad input* (exit code 2: a malformed name, option or value,
//! or a request the CA must refuse; nothing is written) or a *runtime failure* (exit
//! code 1: I/O, a corrupt CA directory, a lock that could not be taken).
//! [`Error::exit_code`] tells which.

use std::path::{Path, PathBuf};

use crate::name::NameError;

/// Everything that can go wrong in fedca.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A server name or certificate name broke the Matrix grammar or fedca's rules.
    #[error("{0}")]
    Name(#[from] NameError),

    /// An option or value is malformed or not allowed.
    #[error("invalid {what} {value:?}: {rule}")]
    InvalidValue {
        /// Which option or field.
        what: String,
        /// The offending value, as given.
        value: String,
        /// The rule it broke.
        rule: String,
    },

    /// A name is outside the issuing CA's name constraints, so verifiers would refuse it.
    #[error("{name:?} is outside the CA's name constraints (permitted: {permitted}); verifiers would refuse the certificate, so it was not issued")]
    OutsideConstraints {
        /// The refused name.
        name: String,
        /// The constraints, as text.
        permitted: String,
    },

    /// A network spec (`fedca apply`) broke a rule.
    #[error("{}:{line}:{column}: {rule}", .file.display())]
    Spec {
        /// The spec file.
        file: PathBuf,
        /// The line (1-based).
        line: usize,
        /// The column (1-based).
        column: usize,
        /// The rule broken.
        rule: String,
    },

    /// `init` found a CA already in the directory and `--force` was not given.
    #[error("{}: a CA already exists here; refusing to replace it without --force", .0.display())]
    CaExists(PathBuf),

    /// The directory holds no CA.
    #[error("{}: no fedca CA here (create one with `fedca init --ca-dir {}`)", .0.display(), .0.display())]
    NoCa(PathBuf),

    /// A server is not in the CA's index.
    #[error("no certificate for server {0:?} in this CA (issue one with `fedca issue {0}`)")]
    UnknownServer(String),

    /// Another fedca process held the CA's lock for too long.
    #[error("{}: another fedca process holds the lock; waited {waited_secs} s (set FEDCA_LOCK_TIMEOUT to wait longer)", .path.display())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited_secs: u64,
    },

    /// Reading or writing a file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A file in the CA directory is not what fedca wrote.
    #[error("{}: {detail}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },

    /// A certificate failed the pre-issuance lint and was not written.
    #[error("refusing to write a certificate that fails lint: {0}")]
    Lint(String),

    /// A cryptographic operation failed.
    #[error("cryptographic failure: {0}")]
    Crypto(String),

    /// Encoding fedca's own data (JSON) failed: a bug, never the input's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The process exit code: 2 for bad input, 1 for runtime failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Name(_)
            | Error::InvalidValue { .. }
            | Error::Spec { .. }
            | Error::OutsideConstraints { .. }
            | Error::CaExists(_)
            | Error::NoCa(_)
            | Error::UnknownServer(_) => 2,
            Error::LockTimeout { .. }
            | Error::Io { .. }
            | Error::Corrupt { .. }
            | Error::Lint(_)
            | Error::Crypto(_)
            | Error::Internal(_) => 1,
        }
    }

    /// Builds an [`Error::InvalidValue`].
    pub fn invalid(
        what: impl Into<String>,
        value: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        Error::InvalidValue {
            what: what.into(),
            value: value.into(),
            rule: rule.into(),
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether this is a write to a closed pipe (`fedca list | head -1`): not an error
    /// worth reporting, the reader has what it wanted.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub(crate) fn corrupt(path: &Path, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

/// Keeps other crates' error types out of fedca's public API (the rcgen pattern).
pub(crate) trait ExternalError<T>: Sized {
    fn crypto(self, context: &str) -> Result<T, Error>;
}

impl<T, E: std::fmt::Display> ExternalError<T> for Result<T, E> {
    fn crypto(self, context: &str) -> Result<T, Error> {
        self.map_err(|e| Error::Crypto(format!("{context}: {e}")))
    }
}

/// fedca's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
