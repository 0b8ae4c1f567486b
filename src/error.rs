//! The one error type of fedca.
//!
//! Every failure is either *bad input* (exit code 2: a malformed name, option or value,
//! or a request the CA must refuse; nothing is written) or a *runtime failure* (exit
//! code 1: I/O, a corrupt CA directory, a lock that could not be taken).
//! [`Error::exit_code`] tells which.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::name::NameError;

/// Everything that can go wrong in fedca.
/// [`Display`](std::fmt::Display) gives the library's message, naming fields by their
/// domain names ("output directory"); [`Error::cli_message`] gives the command line's,
/// naming them by option (`--out`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A server name or certificate name broke the Matrix grammar or fedca's rules.
    Name(#[from] NameError),

    /// An option or value is malformed or not allowed.
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
    OutsideConstraints {
        /// The refused name.
        name: String,
        /// The constraints, as text.
        permitted: String,
    },

    /// A network spec (`fedca apply`) broke a rule.
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
    CaExists(PathBuf),

    /// The directory holds no CA.
    NoCa(PathBuf),

    /// A server is not in the CA's index.
    UnknownServer(String),

    /// Another fedca process held the CA's lock for too long.
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited_secs: u64,
    },

    /// Reading or writing a file failed.
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A file in the CA directory is not what fedca wrote.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },

    /// A certificate failed the pre-issuance lint and was not written.
    Lint(String),

    /// A cryptographic operation failed.
    Crypto(String),

    /// Encoding fedca's own data (JSON) failed: a bug, never the input's fault.
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
    /// (`invalid --out "x": ...`), in the error's rule as in its head.
    pub fn cli_message(&self) -> String {
        cli_text(&self.marked()).into_owned()
    }

    /// The message with every field as a [`Field::mention`]: the one text both
    /// [`Display`](std::fmt::Display) and [`Error::cli_message`] render.
    fn marked(&self) -> String {
        match self {
            Error::Name(e) => e.to_string(),
            Error::InvalidValue { what, value, rule } => {
                format!("invalid {} {value:?}: {rule}", what.mention())
            }
            Error::OutsideConstraints { name, permitted } => format!(
                "{name:?} is outside the CA's name constraints (permitted: {permitted}); verifiers would refuse the certificate, so it was not issued"
            ),
            Error::Spec {
                file,
                line,
                column,
                rule,
            } => format!("{}:{line}:{column}: {rule}", file.display()),
            Error::CaExists(path) => format!(
                "{}: a CA already exists here; refusing to replace it without {}",
                path.display(),
                Field::Force.mention()
            ),
            Error::NoCa(path) => format!(
                "no fedca CA in {} (fedca looked for its root.pem there); point {} or FEDCA_CA_DIR at the CA's directory",
                path.display(),
                Field::CaDir.mention()
            ),
            Error::UnknownServer(server) => format!(
                "no certificate for server {server:?} in this CA (issue one with `fedca issue {server}`)"
            ),
            Error::LockTimeout { path, waited_secs } => format!(
                "{}: another fedca process holds the lock; waited {waited_secs} s (set FEDCA_LOCK_TIMEOUT to wait longer)",
                path.display()
            ),
            Error::Io { path, source } => format!("{}: {source}", path.display()),
            Error::Corrupt { path, detail } => format!("{}: {detail}", path.display()),
            Error::Lint(detail) => {
                format!("refusing to write a certificate that fails lint: {detail}")
            }
            Error::Crypto(detail) => format!("cryptographic failure: {detail}"),
            Error::Internal(detail) => format!("internal error: {detail}"),
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

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&plain_text(&self.marked()))
    }
}

/// Opens a [`Field::mention`]: a private-use character, which no fedca text holds
/// and JSON writes as it is.
const MENTION_START: char = '\u{E000}';
/// Separates a [`Field::mention`]'s key (the variant) from its name: two fields may
/// share a name ("output directory", with and without an option).
const MENTION_NAME: char = '\u{E002}';
/// Closes a [`Field::mention`].
const MENTION_END: char = '\u{E001}';

/// Renders `text`'s [`Field::mention`]s by `name(key, field name)`.
fn render_mentions<'a>(text: &'a str, name: impl Fn(&'a str, &'a str) -> &'a str) -> Cow<'a, str> {
    // Most texts (every line `outln!` prints) hold no mention: not copied.
    if !text.contains(MENTION_START) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(MENTION_START) {
        out.push_str(&rest[..i]);
        let after = &rest[i + MENTION_START.len_utf8()..];
        match after.find(MENTION_END) {
            Some(j) => {
                let mention = &after[..j];
                let (key, field_name) = mention.split_once(MENTION_NAME).unwrap_or(("", mention));
                out.push_str(name(key, field_name));
                rest = &after[j + MENTION_END.len_utf8()..];
            }
            None => {
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A text of the library's (a rule, a note, a hint) with its [`Field::mention`]s
/// named as the library names fields ("output directory").
pub fn plain_text(text: &str) -> Cow<'_, str> {
    render_mentions(text, |_, name| name)
}

/// A text of the library's (a rule, a note, a hint) with its [`Field::mention`]s
/// named as the command line names them (`--out`): the one place the command line's
/// option names enter fedca's messages.
pub fn cli_text(text: &str) -> Cow<'_, str> {
    render_mentions(text, |key, name| {
        Field::FLAGS
            .iter()
            .find(|(f, _)| format!("{f:?}") == key)
            .map_or(name, |(_, flag)| *flag)
    })
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
    /// Replacing what exists (`--force`).
    Force,
    /// Using a CA directory others can change (`--insecure-permissions`).
    InsecurePermissions,
    /// Installing into the system trust store (`--install`).
    Install,
    /// Where the configured files will live on the server (`--install-dir`).
    InstallDir,
    /// Where TLS terminates (`--tls-at`).
    TlsAt,
    /// The federation's hole in Synapse's IP blocklist (`--carve-out`).
    CarveOut,
    /// The owner of written files (`--owner`).
    Owner,
    /// The homeserver's client port (`--client-port`).
    ClientPort,
    /// A server's federation address (`--federation-addr`).
    FederationAddr,
    /// A CRL's next update (`--next-update`).
    NextUpdate,
    /// A revocation reason (`--reason`).
    Reason,
    /// Where the root key is exported (`--to`).
    ExportTo,
    /// A CA with an intermediate (`--intermediate`).
    Intermediate,
    /// What to revoke, a server name or a serial (`NAME|SERIAL`).
    RevokeTarget,
    /// Starting a root rotation (`rotate-root`).
    RotationStart,
    /// Finishing a root rotation (`rotate-root --finish`).
    RotationFinish,
    /// How long a probe waits (`--timeout`).
    Timeout,
    /// A DNS server to ask (`--dns`).
    Dns,
    /// Every server of the CA (`--all`).
    All,
    /// How soon certificates expire to be listed (`--within`).
    Within,
    /// A command run after renewal (`--deploy-hook`).
    DeployHook,
    /// The CA itself (its name as the value).
    Ca,
    /// A certificate signing request.
    Csr,
    /// The CA's root key.
    RootKey,
    /// A key file to import.
    KeyFile,
    /// A key's passphrase.
    Passphrase,
    /// A network spec file.
    Spec,
    /// A path fedca records.
    Path,
    /// Reusing a server's key on renewal (`--reuse-key`).
    ReuseKey,
    /// A federation open to servers outside the CA (`--open-federation`).
    OpenFederation,
    /// A directory fedca writes server files into, as resolved (from `--out` or the
    /// default, or a stored record's): no option of its own.
    Directory,
    /// A validity wherever it is given (a spec, a stored record): no option of its
    /// own; the command line names [`Field::Validity`] where the option gave it.
    AnyValidity,
    /// A leaf validity wherever it is given: no option of its own.
    AnyLeafValidity,
    /// A key type wherever it is given (a stored record, a parsed name): no option of
    /// its own.
    AnyKeyType,
    /// An IP network (`ADDR/PREFIX`).
    IpNetwork,
    /// An address in a network spec.
    Address,
    /// A `bind` entry of a network spec.
    SpecBind,
    /// The default leaf validity stored in a CA's policy.
    PolicyLeafValidity,
    /// The trusted roots of a trust output.
    TrustedRoots,
    /// A configuration template.
    Template,
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
        (Field::Force, "--force"),
        (Field::InsecurePermissions, "--insecure-permissions"),
        (Field::Install, "--install"),
        (Field::InstallDir, "--install-dir"),
        (Field::TlsAt, "--tls-at"),
        (Field::CarveOut, "--carve-out"),
        (Field::Owner, "--owner"),
        (Field::ClientPort, "--client-port"),
        (Field::FederationAddr, "--federation-addr"),
        (Field::NextUpdate, "--next-update"),
        (Field::Reason, "--reason"),
        (Field::ExportTo, "--to"),
        (Field::Intermediate, "--intermediate"),
        (Field::RevokeTarget, "NAME|SERIAL"),
        (Field::RotationStart, "rotate-root"),
        (Field::RotationFinish, "rotate-root --finish"),
        (Field::ReuseKey, "--reuse-key"),
        (Field::OpenFederation, "--open-federation"),
        (Field::Timeout, "--timeout"),
        (Field::Dns, "--dns"),
        (Field::All, "--all"),
        (Field::Within, "--within"),
        (Field::DeployHook, "--deploy-hook"),
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
            Field::Force => "force",
            Field::InsecurePermissions => "insecure permissions",
            Field::Install => "install",
            Field::InstallDir => "install directory",
            Field::TlsAt => "TLS termination",
            Field::CarveOut => "blocklist carve-out",
            Field::Owner => "file owner",
            Field::ClientPort => "client port",
            Field::FederationAddr => "federation address",
            Field::NextUpdate => "next update",
            Field::Reason => "revocation reason",
            Field::ExportTo => "key export destination",
            Field::Intermediate => "intermediate",
            Field::RevokeTarget => "server name or serial",
            Field::RotationStart => "root rotation",
            Field::RotationFinish => "end of the root rotation",
            Field::Timeout => "timeout",
            Field::Dns => "DNS server",
            Field::All => "all servers",
            Field::Within => "expiry window",
            Field::DeployHook => "deploy hook",
            Field::ReuseKey => "key reuse",
            Field::OpenFederation => "open federation",
            Field::Directory => "output directory",
            Field::AnyValidity => "validity",
            Field::AnyLeafValidity => "leaf validity",
            Field::AnyKeyType => "key type",
            Field::IpNetwork => "IP network",
            Field::Address => "address",
            Field::SpecBind => "bind",
            Field::PolicyLeafValidity => "leaf_validity in policy.json",
            Field::TrustedRoots => "trusted roots",
            Field::Template => "template",
            Field::Ca => "CA",
            Field::Csr => "CSR",
            Field::RootKey => "root key",
            Field::KeyFile => "key file",
            Field::Passphrase => "passphrase",
            Field::Spec => "spec",
            Field::Path => "path",
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

    /// The field named inside a library text (a rule, a note, a hint): rendered as its
    /// name by [`plain_text`] and [`Error`]'s `Display`, as its option by [`cli_text`]
    /// and [`Error::cli_message`]. The library writes `give {}` with
    /// `Field::Validity.mention()`, never the option's text.
    pub fn mention(&self) -> String {
        format!(
            "{MENTION_START}{self:?}{MENTION_NAME}{}{MENTION_END}",
            self.name()
        )
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
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
        for (field, flag) in Field::FLAGS {
            assert_eq!(field.flag(), Some(*flag));
            assert_eq!(cli_text(&field.mention()), *flag);
            assert_eq!(plain_text(&field.mention()), field.name());
            assert!(!field.name().starts_with('-'), "{field:?}");
        }
        // A field without an option keeps its name everywhere.
        let e = Error::invalid(Field::ServerName, "a", "b");
        assert_eq!(e.to_string(), e.cli_message());
        let e = Error::invalid(Field::Other("default list".into()), "a", "b");
        assert_eq!(e.cli_message(), "invalid default list \"a\": b");
    }

    #[test]
    fn mentions_in_rules_are_options_on_the_command_line_only() {
        let rule = format!("give {} 398d or less", Field::Validity.mention());
        let e = Error::invalid(Field::Validity, "900d", rule);
        assert_eq!(
            e.cli_message(),
            "invalid --validity \"900d\": give --validity 398d or less"
        );
        assert_eq!(
            e.to_string(),
            "invalid validity \"900d\": give validity 398d or less"
        );
        let e = Error::CaExists("/ca".into());
        assert!(e.cli_message().ends_with("without --force"), "{e}");
        assert!(!e.to_string().contains("--"), "{e}");
        // Two fields may share a name; only the one with an option prints it.
        assert_eq!(Field::Directory.name(), Field::OutputDir.name());
        let e = Error::invalid(Field::Directory, "/x", "is a file");
        assert_eq!(
            e.cli_message(),
            "invalid output directory \"/x\": is a file"
        );
        // JSON keeps a mention as it is, so the command line renders it there too.
        let json = serde_json::to_string(&Field::Validity.mention()).unwrap();
        assert_eq!(cli_text(&json), "\"--validity\"");
    }
}
