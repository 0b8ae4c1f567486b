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
        /// Which field: the library names the domain field; the command line maps it to
        /// its option ([`Field::flag`]).
        what: Field,
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
    #[error("no fedca CA in {} (fedca looked for its root.pem there); point --ca-dir or FEDCA_CA_DIR at the CA's directory", .0.display())]
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
        what: impl Into<Field>,
        value: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        Error::InvalidValue {
            what: what.into(),
            value: value.into(),
            rule: rule.into(),
        }
    }

    /// The message as the command line prints it: fields named by their options
    /// (`invalid --out "x": ...`); every other error as [`Display`](std::fmt::Display)
    /// gives it.
    pub fn cli_message(&self) -> String {
        match self {
            Error::InvalidValue { what, value, rule } => {
                format!("invalid {} {value:?}: {rule}", what.cli_name())
            }
            other => other.to_string(),
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

/// The field an [`Error::InvalidValue`] is about. The library's messages name the
/// domain field ("output directory"); the command line names the option that sets it
/// (`--out`, from [`Field::flag`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// The CA directory (`--ca-dir`).
    CaDir,
    /// Where certificates or configuration are written (`--out`).
    OutputDir,
    /// A certificate's validity (`--validity`).
    Validity,
    /// The default validity of a CA's leaves (`--leaf-validity`).
    LeafValidity,
    /// A key type (`--key`).
    KeyType,
    /// The CA's name (`--name`).
    CaName,
    /// A permitted name-constraint subtree (`--permit`).
    Permit,
    /// A server's delegated server (`--delegate`).
    Delegate,
    /// An extra certificate name (`--alt`).
    Alt,
    /// A trust target (`--for`).
    Target,
    /// A server of the CA (`--server`).
    Server,
    /// A templates directory (`--templates`).
    Templates,
    /// A file of trusted roots to verify against (`--trust`).
    TrustFile,
    /// A file of extra trusted roots (`--also-trust`).
    AlsoTrust,
    /// A file to read (`FILE`).
    InputFile,
    /// A certificate chain file (`CHAIN`).
    ChainFile,
    /// The time to verify at (`--at`).
    VerifyTime,
    /// An address to listen on (`--bind`).
    Bind,
    /// A name resolution override (`--resolve`).
    Resolve,
    /// A Matrix server name (no option: the positional names).
    ServerName,
    /// A trusted root certificate (no option of its own).
    TrustedRoot,
    /// A trust bundle (no option of its own).
    TrustBundle,
    /// Any other field, named as given.
    Other(String),
}

impl Field {
    /// Every field with an option, and the option.
    const FLAGS: &'static [(Field, &'static str)] = &[
        (Field::CaDir, "--ca-dir"),
        (Field::OutputDir, "--out"),
        (Field::Validity, "--validity"),
        (Field::LeafValidity, "--leaf-validity"),
        (Field::KeyType, "--key"),
        (Field::CaName, "--name"),
        (Field::Permit, "--permit"),
        (Field::Delegate, "--delegate"),
        (Field::Alt, "--alt"),
        (Field::Target, "--for"),
        (Field::Server, "--server"),
        (Field::Templates, "--templates"),
        (Field::TrustFile, "--trust"),
        (Field::AlsoTrust, "--also-trust"),
        (Field::InputFile, "FILE"),
        (Field::ChainFile, "CHAIN"),
        (Field::VerifyTime, "--at"),
        (Field::Bind, "--bind"),
        (Field::Resolve, "--resolve"),
    ];

    /// The field's name in the library's messages.
    pub fn name(&self) -> &str {
        match self {
            Field::CaDir => "CA directory",
            Field::OutputDir => "output directory",
            Field::Validity => "validity",
            Field::LeafValidity => "leaf validity",
            Field::KeyType => "key type",
            Field::CaName => "CA name",
            Field::Permit => "permitted subtree",
            Field::Delegate => "delegated server",
            Field::Alt => "extra name",
            Field::Target => "trust target",
            Field::Server => "server",
            Field::Templates => "templates directory",
            Field::TrustFile => "trust file",
            Field::AlsoTrust => "extra trusted roots file",
            Field::InputFile => "input file",
            Field::ChainFile => "chain file",
            Field::VerifyTime => "verification time",
            Field::Bind => "bind address",
            Field::Resolve => "resolve override",
            Field::ServerName => "server name",
            Field::TrustedRoot => "trusted root",
            Field::TrustBundle => "trust bundle",
            Field::Other(s) => s,
        }
    }

    /// The command-line option that sets the field, if one does.
    pub fn flag(&self) -> Option<&'static str> {
        Self::FLAGS
            .iter()
            .find(|(f, _)| f == self)
            .map(|(_, flag)| *flag)
    }

    /// The field as the command line names it: its option, else its name.
    pub fn cli_name(&self) -> &str {
        self.flag().unwrap_or_else(|| self.name())
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An option (`"--out"`) or a field name (`"server name"`) given as text: the field it
/// names, else [`Field::Other`]. Option text maps to its field, so the command line
/// still prints the option.
impl From<&str> for Field {
    fn from(s: &str) -> Field {
        if let Some((f, _)) = Field::FLAGS.iter().find(|(_, flag)| *flag == s) {
            return f.clone();
        }
        match s {
            "server name" => Field::ServerName,
            "trusted root" => Field::TrustedRoot,
            "trust bundle" => Field::TrustBundle,
            other => Field::Other(other.to_string()),
        }
    }
}

impl From<String> for Field {
    fn from(s: String) -> Field {
        Field::from(s.as_str())
    }
}

impl From<&String> for Field {
    fn from(s: &String) -> Field {
        Field::from(s.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_in_the_library_and_by_option_on_the_command_line() {
        let e = Error::invalid(Field::OutputDir, "/x", "is a file");
        assert_eq!(e.to_string(), "invalid output directory \"/x\": is a file");
        assert_eq!(e.cli_message(), "invalid --out \"/x\": is a file");
        // Option text (older call sites, the CLI's own) maps to its field and back.
        for (field, flag) in Field::FLAGS {
            assert_eq!(&Field::from(*flag), field);
            assert_eq!(field.flag(), Some(*flag));
            assert!(!field.name().starts_with('-'), "{field:?}");
        }
        // A field without an option keeps its name everywhere.
        let e = Error::invalid("server name", "a", "b");
        assert_eq!(e.to_string(), e.cli_message());
        let e = Error::invalid("default list", "a", "b");
        assert_eq!(e.cli_message(), "invalid default list \"a\": b");
    }
}
