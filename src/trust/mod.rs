//! Trust configuration: telling each homeserver to trust the federation's roots.
//!
//! A certificate is half the job. Every homeserver must also be told which roots to
//! trust for outbound federation, which certificate to serve, and — when the
//! federation lives on private or loopback addresses — that it may connect there at
//! all. Each implementation has its own rules (see `docs/homeservers/`); one emitter
//! per [`Target`] knows them:
//!
//! | target | module | writes |
//! |---|---|---|
//! | `synapse` | [`synapse`] | a `homeserver.yaml` fragment, one file per trusted root |
//! | `dendrite` | [`dendrite`] | a `dendrite.yaml` fragment, the TLS flags, `SSL_CERT_FILE` |
//! | `conduit`, `conduwuit`, `continuwuity`, `tuwunel` | [`conduit`] | a TOML fragment |
//! | `pem` | [`pem`] | the bundle of trusted roots |
//! | `system` | [`system`] | trust-store anchors and the commands that install them |
//! | `kubernetes` | [`kubernetes`] | a `kubernetes.io/tls` Secret and a CA ConfigMap |
//!
//! [`emit`] renders everything in memory from the [`templates`]; [`write_emission`]
//! writes it only after every file has rendered and the output directory has been
//! checked, so bad input writes nothing.
//!
//! The CA's private key is never read here: a [`TrustBundle`] holds certificates only.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::name::{Host, ServerName};
use crate::store::{self, files, CaDir, IndexRecord, RecordState};

/// Kept at its old path; the module now lives at [`crate::cidr`].
pub use crate::cidr;
pub mod conduit;
pub mod dendrite;
pub mod keyscan;
pub mod kubernetes;
pub mod pem;
pub mod synapse;
pub mod system;
pub mod templates;

use crate::cidr::IpNet;
use templates::Templates;

/// The port Matrix federation uses when a server name (or delegated name) has none.
pub const DEFAULT_FEDERATION_PORT: u16 = 8448;

/// Where `fedca trust` can write configuration for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Target {
    /// Synapse (element-hq/synapse).
    Synapse,
    /// Dendrite (element-hq/dendrite).
    Dendrite,
    /// Conduit (the original, conduit.rs).
    Conduit,
    /// conduwuit.
    Conduwuit,
    /// continuwuity, a conduwuit fork.
    Continuwuity,
    /// tuwunel, a conduwuit fork.
    Tuwunel,
    /// A PEM bundle of the trusted roots, for anything else.
    Pem,
    /// The operating system's trust store (Debian/Ubuntu, Fedora/RHEL).
    System,
    /// A Kubernetes TLS Secret and CA ConfigMap.
    Kubernetes,
}

impl Target {
    /// Every target, in the order `--help` lists them.
    pub const ALL: [Target; 9] = [
        Target::Synapse,
        Target::Dendrite,
        Target::Conduit,
        Target::Conduwuit,
        Target::Continuwuity,
        Target::Tuwunel,
        Target::Pem,
        Target::System,
        Target::Kubernetes,
    ];

    /// The name `--for` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Synapse => "synapse",
            Target::Dendrite => "dendrite",
            Target::Conduit => "conduit",
            Target::Conduwuit => "conduwuit",
            Target::Continuwuity => "continuwuity",
            Target::Tuwunel => "tuwunel",
            Target::Pem => "pem",
            Target::System => "system",
            Target::Kubernetes => "kubernetes",
        }
    }

    /// Whether the target configures one server, so `--server` is required.
    pub fn needs_server(self) -> bool {
        !matches!(self, Target::Pem | Target::System)
    }

    /// Whether the target is a homeserver that connects out to the federation, so
    /// `--federation-addr` and `--bind` apply.
    pub fn is_homeserver(self) -> bool {
        matches!(
            self,
            Target::Synapse
                | Target::Dendrite
                | Target::Conduit
                | Target::Conduwuit
                | Target::Continuwuity
                | Target::Tuwunel
        )
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Target> {
        Target::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "--for",
                    s,
                    format!(
                        "is not a known target; use one of: {}",
                        Target::ALL.map(Target::as_str).join(", ")
                    ),
                )
            })
    }
}

/// One trusted root certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedRoot {
    /// A short stable identifier: the first 16 hex digits of the SHA-256 fingerprint.
    /// File names use it, so a root keeps its file name across runs and rotations.
    pub id: String,
    /// SHA-256 fingerprint of the DER certificate, lower-case hex.
    pub sha256: String,
    /// The subject, as text.
    pub subject: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// The certificate as PEM (one block, ending in a newline).
    pub pem: String,
    #[serde(skip)]
    der: Vec<u8>,
}

impl TrustedRoot {
    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    fn from_der(der: Vec<u8>, source: &str) -> Result<TrustedRoot> {
        let bad = |rule: String| Error::invalid("trusted root", source, rule);
        let (rest, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| bad(format!("is not a valid X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(bad("has trailing data after the certificate".into()));
        }
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        if !is_ca {
            return Err(bad(format!(
                "holds {:?}, which is not a CA certificate (basicConstraints CA:TRUE); only roots can be trusted",
                cert.subject().to_string()
            )));
        }
        let sha256 = crate::ca::sha256_hex(&der);
        let not_after = crate::ca::rfc3339(cert.validity().not_after.to_datetime());
        let subject = cert.subject().to_string();
        let pem = ::pem::encode_config(
            &::pem::Pem::new("CERTIFICATE", der.clone()),
            ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
        );
        Ok(TrustedRoot {
            id: sha256[..16].to_string(),
            sha256,
            subject,
            not_after,
            pem,
            der,
        })
    }
}

/// The roots a federation currently trusts.
///
/// Today that is the CA's own `root.pem`. During a root rotation it is several roots
/// — the old and the new — and every emitter writes all of them (Synapse, which
/// reads one certificate per file, gets one file per root).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrustBundle {
    roots: Vec<TrustedRoot>,
}

impl TrustBundle {
    /// The roots of the CA in `dir`: its `root.pem`. The CA key is not read.
    pub fn from_ca_dir(dir: &CaDir) -> Result<TrustBundle> {
        let path = dir.path(files::ROOT_CERT);
        let text = dir.read(files::ROOT_CERT)?;
        TrustBundle::from_pem(&text, &path.display().to_string())
    }

    /// Every certificate in a PEM text, each of which must be a CA certificate.
    /// A private key anywhere in the text is refused: trust material is public.
    pub fn from_pem(text: &str, source: &str) -> Result<TrustBundle> {
        let blocks = ::pem::parse_many(text).map_err(|e| {
            Error::invalid("trusted root", source, format!("is not valid PEM: {e}"))
        })?;
        let mut bundle = TrustBundle::default();
        for block in blocks {
            match block.tag() {
                "CERTIFICATE" => bundle.add(TrustedRoot::from_der(block.into_contents(), source)?),
                tag if tag.contains("PRIVATE KEY") => {
                    return Err(Error::invalid(
                        "trusted root",
                        source,
                        "contains a private key; give only certificates (a root's key must never leave the CA)",
                    ))
                }
                tag => {
                    return Err(Error::invalid(
                        "trusted root",
                        source,
                        format!("contains a {tag:?} PEM block; only CERTIFICATE blocks are roots"),
                    ))
                }
            }
        }
        if bundle.roots.is_empty() {
            return Err(Error::invalid(
                "trusted root",
                source,
                "contains no certificate",
            ));
        }
        Ok(bundle)
    }

    /// Adds a root unless the bundle already holds it.
    pub fn add(&mut self, root: TrustedRoot) {
        if !self.roots.iter().any(|r| r.sha256 == root.sha256) {
            self.roots.push(root);
        }
    }

    /// Adds every root of `other`.
    pub fn extend(&mut self, other: TrustBundle) {
        for r in other.roots {
            self.add(r);
        }
    }

    /// The roots, in the order they were added (the CA's own first).
    pub fn roots(&self) -> &[TrustedRoot] {
        &self.roots
    }

    /// Every root as one PEM text.
    pub fn pem(&self) -> String {
        self.roots.iter().map(|r| r.pem.as_str()).collect()
    }
}

/// The server a target configures, as the CA's index records it.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// The server name.
    pub name: ServerName,
    /// The delegated server (`m.server`), if any.
    pub delegate: Option<ServerName>,
    /// The directory holding its files (absolute).
    pub dir: PathBuf,
    /// Every name in its certificate.
    pub names: Vec<String>,
    /// The certificate's serial.
    pub serial: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
}

impl ServerInfo {
    /// Looks `name` up in the CA's index: its newest active certificate. The files
    /// must be where the index says, and `fullchain.pem` must hold the certificate the
    /// index records (a file replaced by hand is caught here, not by a homeserver).
    pub fn lookup(dir: &CaDir, name: &ServerName) -> Result<ServerInfo> {
        let wanted = name.to_string();
        let records: Vec<IndexRecord> = dir
            .read_index()?
            .into_iter()
            .filter(|r| r.server == wanted)
            .collect();
        let Some(record) = records
            .iter()
            .rev()
            .find(|r| r.state == RecordState::Active)
        else {
            if records.iter().any(|r| r.state == RecordState::Revoked) {
                return Err(Error::invalid(
                    "--server",
                    wanted.clone(),
                    format!(
                        "its certificate is revoked; issue a new one with `fedca issue {wanted}`"
                    ),
                ));
            }
            return Err(Error::UnknownServer(wanted));
        };
        let server_dir = dir.resolve_record_path(&record.path);
        let fullchain = server_dir.join(files::FULLCHAIN);
        let chain = std::fs::read_to_string(&fullchain).map_err(|e| Error::io(&fullchain, e))?;
        let leaf = ::pem::parse_many(&chain)
            .ok()
            .and_then(|blocks| blocks.into_iter().find(|b| b.tag() == "CERTIFICATE"))
            .ok_or_else(|| Error::corrupt(&fullchain, "holds no certificate"))?;
        if crate::ca::sha256_hex(leaf.contents()) != record.sha256 {
            return Err(Error::corrupt(
                &fullchain,
                format!(
                    "is not the certificate the index records for {wanted} (serial {}); re-issue with `fedca issue` instead of replacing files by hand",
                    record.serial
                ),
            ));
        }
        let key = server_dir.join(files::KEY);
        std::fs::metadata(&key).map_err(|e| Error::io(&key, e))?;
        let delegate = record
            .delegate
            .as_deref()
            .map(|d| {
                ServerName::parse(d).map_err(|e| {
                    Error::corrupt(&dir.path(files::INDEX), format!("bad delegate: {e}"))
                })
            })
            .transpose()?;
        Ok(ServerInfo {
            name: name.clone(),
            delegate,
            dir: server_dir,
            names: record.names.clone(),
            serial: record.serial.clone(),
            not_after: record.not_after.clone(),
        })
    }

    /// The certificate chain the server must serve.
    pub fn fullchain_path(&self) -> PathBuf {
        self.dir.join(files::FULLCHAIN)
    }

    /// The server's private key.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join(files::KEY)
    }

    /// Where other servers connect for federation: the delegated server when there is
    /// one, otherwise the server name itself.
    pub fn federation_endpoint(&self) -> &ServerName {
        self.delegate.as_ref().unwrap_or(&self.name)
    }

    /// The federation port: the endpoint's explicit port or 8448.
    pub fn federation_port(&self) -> u16 {
        self.federation_endpoint()
            .port()
            .unwrap_or(DEFAULT_FEDERATION_PORT)
    }

    /// The addresses the federation listener binds by default: the endpoint's IP
    /// literal, or `None` for a DNS endpoint (the emitter picks "all interfaces").
    pub fn literal_bind(&self) -> Option<IpAddr> {
        self.federation_endpoint().host().ip()
    }

    /// The body of `.well-known/matrix/server` for a delegated server.
    pub fn well_known_body(&self) -> Option<String> {
        self.delegate.as_ref().map(|d| {
            let mut body = serde_json::json!({ "m.server": d.to_string() }).to_string();
            body.push('\n');
            body
        })
    }
}

/// The federation as the CA knows it: every active server and delegated server in
/// the index, plus addresses the user gave for DNS-named servers.
#[derive(Debug, Clone, Default)]
pub struct Federation {
    /// Server names and delegated names of every active certificate.
    pub servers: Vec<ServerName>,
    /// Addresses of DNS-named servers, given with `--federation-addr`.
    pub extra_addrs: Vec<IpNet>,
}

impl Federation {
    /// The servers of the CA in `dir`; `extra_addrs` are the `--federation-addr` values.
    pub fn from_index(dir: &CaDir, extra_addrs: Vec<IpNet>) -> Result<Federation> {
        let index = dir.path(files::INDEX);
        let mut seen = BTreeSet::new();
        let mut servers = Vec::new();
        for r in dir.read_index()? {
            if r.state != RecordState::Active {
                continue;
            }
            for text in std::iter::once(&r.server).chain(r.delegate.as_ref()) {
                let name = ServerName::parse(text).map_err(|e| {
                    Error::corrupt(&index, format!("bad server name {text:?}: {e}"))
                })?;
                if seen.insert(name.to_string()) {
                    servers.push(name);
                }
            }
        }
        for a in &extra_addrs {
            let host_len = if a.is_ipv6() { 128 } else { 32 };
            if a.prefix() == 0 || (a.addr().is_unspecified() && a.prefix() == host_len) {
                return Err(Error::invalid(
                    "--federation-addr",
                    a.to_string(),
                    "names every address or the unspecified address; give the federation's own addresses",
                ));
            }
        }
        Ok(Federation {
            servers,
            extra_addrs,
        })
    }

    /// The IP addresses that are server names (or delegated names) themselves.
    pub fn literal_addrs(&self) -> Vec<IpAddr> {
        let set: BTreeSet<IpAddr> = self.servers.iter().filter_map(|s| s.host().ip()).collect();
        set.into_iter().collect()
    }

    /// The DNS names (without ports) among the servers.
    pub fn dns_hosts(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .servers
            .iter()
            .filter_map(|s| match s.host() {
                Host::Dns(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        set.into_iter().collect()
    }

    /// Every address of the federation: the IP-literal names and the extra addresses.
    pub fn addresses(&self) -> Vec<IpNet> {
        let set: BTreeSet<IpNet> = self
            .literal_addrs()
            .into_iter()
            .map(IpNet::host)
            .chain(self.extra_addrs.iter().copied())
            .collect();
        set.into_iter().collect()
    }
}

/// One entry of a homeserver's default blocklist after the federation's own
/// addresses are cut out of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockEntry {
    /// The default entry.
    pub default: IpNet,
    /// What remains of it: `[default]` when untouched, empty when wholly removed.
    pub kept: Vec<IpNet>,
    /// The federation addresses removed from it.
    pub removed: Vec<IpNet>,
}

/// A default blocklist minus the federation's addresses, entry by entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenedBlocklist {
    /// The entries, in the default list's order.
    pub entries: Vec<BlockEntry>,
    /// Whether any federation address was inside the defaults (otherwise the
    /// defaults already allow the federation and nothing needs to change).
    pub changed: bool,
    /// The federation addresses that were inside the defaults.
    pub opened: Vec<IpNet>,
}

impl OpenedBlocklist {
    /// Cuts `open` out of `defaults`. Refuses (bad input) a result with no entries
    /// left: an emptied blocklist would let the server reach everything.
    pub fn compute(defaults: &[IpNet], open: &[IpNet]) -> Result<OpenedBlocklist> {
        let mut entries = Vec::with_capacity(defaults.len());
        let mut opened = BTreeSet::new();
        for &d in defaults {
            let removed: Vec<IpNet> = open.iter().copied().filter(|o| d.overlaps(o)).collect();
            opened.extend(removed.iter().copied());
            entries.push(BlockEntry {
                default: d,
                kept: cidr::difference(d, &removed),
                removed,
            });
        }
        let changed = !opened.is_empty();
        if changed && entries.iter().all(|e| e.kept.is_empty()) {
            return Err(Error::invalid(
                "--federation-addr",
                open.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                "would empty the homeserver's IP blocklist; give the federation's own addresses, not whole ranges",
            ));
        }
        Ok(OpenedBlocklist {
            entries,
            changed,
            opened: opened.into_iter().collect(),
        })
    }

    /// Every block of the resulting list, in order.
    pub fn blocks(&self) -> Vec<IpNet> {
        self.entries
            .iter()
            .flat_map(|e| e.kept.iter().copied())
            .collect()
    }
}

/// Parses a list of CIDR constants (the homeservers' default lists).
pub(crate) fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter()
        .filter_map(|s| IpNet::parse(s, "default list").ok())
        .collect()
}

/// Everything an emitter needs.
#[derive(Debug, Clone)]
pub struct EmitContext<'a> {
    /// The roots to trust.
    pub bundle: &'a TrustBundle,
    /// The server to configure (required by targets that configure one).
    pub server: Option<&'a ServerInfo>,
    /// The federation's servers and addresses.
    pub federation: &'a Federation,
    /// The output directory, absolute: paths inside the emitted configuration point
    /// into it.
    pub out: &'a Path,
    /// The templates.
    pub templates: &'a Templates,
    /// Addresses for the federation listener to bind (`--bind`); empty for the default.
    pub bind: &'a [IpAddr],
}

impl EmitContext<'_> {
    /// Refuses more than one `--bind` for a homeserver whose listener takes one
    /// address; `rule` says which setting that is.
    fn at_most_one_bind(&self, rule: &str) -> Result<()> {
        if self.bind.len() <= 1 {
            return Ok(());
        }
        let given: Vec<String> = self.bind.iter().map(ToString::to_string).collect();
        Err(Error::invalid("--bind", given.join(" "), rule))
    }

    fn server(&self, target: Target) -> Result<&ServerInfo> {
        self.server.ok_or_else(|| {
            Error::invalid(
                "--server",
                "(not given)",
                format!("is required with --for {target}: the configuration names the server's certificate and key"),
            )
        })
    }

    /// The context every template receives: version, target, roots (with the path
    /// of each root's file under the output directory, for targets that write one).
    fn base(
        &self,
        target: Target,
        root_file: Option<&dyn Fn(&TrustedRoot) -> String>,
    ) -> serde_json::Value {
        let roots: Vec<serde_json::Value> = self
            .bundle
            .roots()
            .iter()
            .map(|r| {
                let mut v = serde_json::json!({
                    "id": r.id,
                    "sha256": r.sha256,
                    "subject": r.subject,
                    "not_after": r.not_after,
                    "pem": r.pem,
                });
                if let Some(f) = root_file {
                    v["file"] = self.out.join(f(r)).display().to_string().into();
                }
                v
            })
            .collect();
        serde_json::json!({
            "fedca_version": env!("CARGO_PKG_VERSION"),
            "target": target.as_str(),
            "out": self.out.display().to_string(),
            "roots": roots,
            "bundle_pem": self.bundle.pem(),
        })
    }

    fn server_json(&self, s: &ServerInfo) -> serde_json::Value {
        serde_json::json!({
            "name": s.name.to_string(),
            "host": s.name.host().to_string(),
            "delegate": s.delegate.as_ref().map(ToString::to_string),
            "endpoint": s.federation_endpoint().to_string(),
            "endpoint_host": s.federation_endpoint().host().to_string(),
            "port": s.federation_port(),
            "explicit_port": s.federation_endpoint().port().is_some(),
            "fullchain": s.fullchain_path().display().to_string(),
            "key": s.key_path().display().to_string(),
            "names": s.names,
            "serial": s.serial,
            "not_after": s.not_after,
        })
    }

    fn render(&self, template: &str, context: &serde_json::Value) -> Result<String> {
        self.templates
            .render(template, &minijinja::Value::from_serialize(context))
    }
}

/// One file an emitter produced, not yet written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmittedFile {
    /// Its path relative to the output directory.
    pub path: PathBuf,
    /// Its contents.
    #[serde(skip)]
    pub contents: String,
    /// Its file mode (0600 for anything holding a private key).
    pub mode: u32,
    /// What it is, for the report.
    pub what: String,
    /// The server's own key (PEM), when this file is meant to carry it (the Kubernetes
    /// Secret, 0600): the only private key any output may hold.
    #[serde(skip)]
    server_key: Option<String>,
}

impl EmittedFile {
    fn new(path: impl Into<PathBuf>, contents: String, mode: u32, what: impl Into<String>) -> Self {
        EmittedFile {
            path: path.into(),
            contents,
            mode,
            what: what.into(),
            server_key: None,
        }
    }

    /// Marks the file as the one that carries the server's own key `key_pem`.
    fn with_server_key(mut self, key_pem: &str) -> Self {
        self.server_key = Some(key_pem.to_string());
        self
    }

    /// Refuses contents holding private-key material in any encoding (see
    /// [`keyscan`]), other than the server's own key in the file meant to carry it.
    /// The CA's key is never read: the check looks for the structure of a key.
    pub fn refuse_private_keys(&self) -> Result<()> {
        let mut contents = self.contents.clone();
        if let Some(key) = &self.server_key {
            if self.mode != store::KEY_MODE {
                return Err(Error::Internal(format!(
                    "{} carries a private key but is not 0600",
                    self.path.display()
                )));
            }
            contents = contents
                .replace(&data_encoding::BASE64.encode(key.as_bytes()), "")
                .replace(key.as_str(), "");
        }
        match keyscan::find_private_key(contents.as_bytes()) {
            None => Ok(()),
            Some(what) => Err(Error::invalid(
                "--templates",
                self.path.display().to_string(),
                format!(
                    "would receive {what} from its template; trust output never holds a private key{} — check the template files (a link to a key, or a key pasted in)",
                    if self.server_key.is_some() {
                        " other than the server's own key"
                    } else {
                        ""
                    }
                ),
            )),
        }
    }
}

/// Everything one target emits.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Emission {
    /// The files, in the order they are written.
    pub files: Vec<EmittedFile>,
    /// Next steps and warnings for the person running fedca.
    pub notes: Vec<String>,
}

/// Renders everything `target` emits, in memory. Nothing is written.
pub fn emit(target: Target, cx: &EmitContext<'_>) -> Result<Emission> {
    if cx.bundle.roots().is_empty() {
        return Err(Error::invalid("trusted roots", "", "the bundle is empty"));
    }
    match target {
        Target::Synapse => synapse::emit(cx),
        Target::Dendrite => dendrite::emit(cx),
        Target::Conduit | Target::Conduwuit | Target::Continuwuity | Target::Tuwunel => {
            conduit::emit(target, cx)
        }
        Target::Pem => pem::emit(cx),
        Target::System => system::emit(cx),
        Target::Kubernetes => kubernetes::emit(cx),
    }
}

/// The file name of the roots bundle (for `SSL_CERT_FILE`, or any other verifier).
pub const BUNDLE: &str = "fedca-roots.pem";
/// The file name of the environment file that sets `SSL_CERT_FILE`.
pub const ENV_FILE: &str = "trust.env";

/// Pushes the two files of outbound trust through `SSL_CERT_FILE` (Go, rustls-native-certs
/// and rustls-platform-verifier honour it, and it REPLACES the platform store): the
/// roots bundle and an environment file for `who` (the server that reads it).
fn push_ssl_cert_file(
    emission: &mut Emission,
    cx: &EmitContext<'_>,
    context: &serde_json::Value,
    who: &str,
) -> Result<()> {
    emission.files.push(EmittedFile::new(
        BUNDLE,
        cx.render("roots-bundle.pem.j2", context)?,
        crate::store::PUBLIC_MODE,
        "the trusted roots, for SSL_CERT_FILE",
    ));
    emission.files.push(EmittedFile::new(
        ENV_FILE,
        cx.render("trust.env.j2", context)?,
        crate::store::PUBLIC_MODE,
        format!("SSL_CERT_FILE for {who}'s environment (replaces the platform store)"),
    ));
    Ok(())
}

/// The emitted `.well-known/matrix/server` file of a delegated server, if delegated.
fn well_known_file(cx: &EmitContext<'_>, s: &ServerInfo) -> Result<Option<EmittedFile>> {
    let Some(delegate) = &s.delegate else {
        return Ok(None);
    };
    let context =
        serde_json::json!({ "m_server": delegate.to_string(), "server": cx.server_json(s) });
    let body = cx.render("well-known-matrix-server.json.j2", &context)?;
    // The template is the user's to change, but what it renders must stay JSON.
    serde_json::from_str::<serde_json::Value>(&body).map_err(|e| {
        Error::invalid(
            "template",
            "well-known-matrix-server.json.j2",
            format!("must render JSON, but: {e}"),
        )
    })?;
    Ok(Some(EmittedFile::new(
        WELL_KNOWN_PATH,
        body,
        store::PUBLIC_MODE,
        format!(
            "serve at https://{}/.well-known/matrix/server (port 443): delegates federation to {delegate}",
            s.name.host()
        ),
    )))
}

/// Where the `.well-known/matrix/server` file goes under the output directory.
pub const WELL_KNOWN_PATH: &str = ".well-known/matrix/server";

/// Checks that `out` can hold the emission: it is (or can be created as) a writable
/// directory, and no emitted path collides with a directory or a non-directory.
/// Returns the absolute output directory. Nothing is created.
pub fn check_out_dir(out: &Path) -> Result<PathBuf> {
    let shown = out.display().to_string();
    let abs = std::path::absolute(out).map_err(|e| Error::io(out, e))?;
    let mut existing = abs.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(p) => existing = p,
            None => break,
        }
    }
    let meta = std::fs::metadata(existing).map_err(|e| Error::io(existing, e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(
            "--out",
            shown,
            format!("{} exists and is not a directory", existing.display()),
        ));
    }
    // Probe writability without leaving anything behind (an unnamed temporary file).
    if let Err(e) = tempfile::tempfile_in(existing) {
        return Err(Error::invalid(
            "--out",
            shown,
            format!("{} is not writable ({e})", existing.display()),
        ));
    }
    Ok(abs)
}

/// The prefix of the temporary files fedca stages its output in, next to their target.
pub const TMP_PREFIX: &str = ".tmp-fedca-";

/// Writes an emission under `out` (absolute, checked with [`check_out_dir`]).
///
/// Every check comes before the first write: no file may hold a private key (other
/// than the Kubernetes Secret's server key), and no path below `out` may be a
/// symbolic link, a directory where a file goes or a file where a directory goes.
/// Then, under an exclusive lock on `out`, each file is staged in a `.tmp-fedca-*` file
/// created with its mode (0600 for keys) beside its target and renamed into place,
/// each directory below `out` opened with `O_NOFOLLOW` relative to its parent (so a
/// link planted meanwhile is refused too) and created 0700. Temporary files a killed
/// run left in those directories are removed first.
pub fn write_emission(out: &Path, emission: &Emission) -> Result<Vec<PathBuf>> {
    write_emission_with(out, emission, true)
}

/// [`write_emission`] without an fsync per file and directory: the caller makes the
/// written paths durable at once (`fedca apply`: one `syncfs` for every bundle).
pub fn write_emission_unsynced(out: &Path, emission: &Emission) -> Result<Vec<PathBuf>> {
    write_emission_with(out, emission, false)
}

fn write_emission_with(out: &Path, emission: &Emission, sync: bool) -> Result<Vec<PathBuf>> {
    let shown = out.display().to_string();
    for f in &emission.files {
        f.refuse_private_keys()?;
        check_below_out(out, &f.path)?;
    }
    store::create_dir_all_private(out)?;
    let root = std::fs::File::from(
        rustix::fs::open(
            out,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Error::io(out, e.into()))?,
    );
    // Two runs into the same directory would sweep each other's staged files.
    store::wait_for_lock(&root, out, store::default_lock_timeout())?;
    let mut swept = BTreeSet::new();
    let mut written = Vec::with_capacity(emission.files.len());
    for f in &emission.files {
        let target = out.join(&f.path);
        let mut dir = root.try_clone().map_err(|e| Error::io(out, e))?;
        let mut dir_path = out.to_path_buf();
        let mut parts: Vec<&std::ffi::OsStr> = f.path.iter().collect();
        let name = parts
            .pop()
            .ok_or_else(|| Error::Internal(format!("empty output path under {shown}")))?;
        for part in parts {
            dir_path.push(part);
            dir = open_subdir(&dir, part, &dir_path)?;
        }
        if swept.insert(dir_path.clone()) {
            sweep_staged(&dir, &dir_path)?;
        }
        write_at(&dir, &dir_path, name, f.contents.as_bytes(), f.mode, sync)?;
        written.push(target);
    }
    Ok(written)
}

/// Refuses a symbolic link at any component of `rel` below `out`, a directory at its
/// last component and a non-directory at any other.
fn check_below_out(out: &Path, rel: &Path) -> Result<()> {
    let bad = |rule: String| Error::invalid("--out", out.display().to_string(), rule);
    let parts: Vec<_> = rel.components().collect();
    let target = out.join(rel);
    let mut cur = out.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        if !matches!(part, std::path::Component::Normal(_)) {
            return Err(Error::Internal(format!(
                "output path {} is not plain",
                rel.display()
            )));
        }
        cur.push(part);
        let last = i + 1 == parts.len();
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(bad(format!(
                    "{} is a symbolic link; fedca follows no link below --out (a planted link would send its output elsewhere): remove it",
                    cur.display()
                )))
            }
            Ok(m) if last && m.is_dir() => {
                return Err(bad(format!(
                    "{} is a directory; fedca would write a file there",
                    cur.display()
                )))
            }
            Ok(m) if !last && !m.is_dir() => {
                return Err(bad(format!(
                    "{} is not a directory; fedca would write {} inside it",
                    cur.display(),
                    target.display()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(Error::io(&cur, e)),
        }
    }
    Ok(())
}

fn link_refused(path: &Path, e: rustix::io::Errno) -> Error {
    if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
        Error::io(
            path,
            std::io::Error::other(
                "is a symbolic link or not a directory (changed while fedca ran); fedca follows no link below --out",
            ),
        )
    } else {
        Error::io(path, e.into())
    }
}

/// Opens (creating it 0700 if missing) the directory `name` in `dir`, refusing a
/// symbolic link.
fn open_subdir(dir: &std::fs::File, name: &std::ffi::OsStr, path: &Path) -> Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => return Ok(fd.into()),
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(link_refused(path, e)),
    }
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(store::DIR_MODE)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(Error::io(path, e.into())),
    }
    rustix::fs::openat(dir, name, flags, Mode::empty())
        .map(Into::into)
        .map_err(|e| link_refused(path, e))
}

/// Whether `name` is a temporary file fedca stages output in: `.tmp-fedca-*`, or
/// the `.tmp-XXXXXX` of earlier versions.
fn is_staged_name(name: &[u8]) -> bool {
    name.starts_with(TMP_PREFIX.as_bytes())
        || (name.len() == 11
            && name.starts_with(b".tmp-")
            && name[5..].iter().all(u8::is_ascii_alphanumeric))
}

/// Removes the regular files a killed run staged in `dir` (never links or directories).
fn sweep_staged(dir: &std::fs::File, path: &Path) -> Result<()> {
    use rustix::fs::{AtFlags, FileType};
    let entries = rustix::fs::Dir::read_from(dir).map_err(|e| Error::io(path, e.into()))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(path, e.into()))?;
        let name = entry.file_name();
        if !is_staged_name(name.to_bytes()) {
            continue;
        }
        let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile {
            match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(Error::io(path, e.into())),
            }
        }
    }
    Ok(())
}

/// Writes `name` in `dir` atomically: a temporary file created with `mode` (no link
/// followed), written and fsynced, renamed over `name` unless that is a link or a
/// directory, then the directory fsynced.
fn write_at(
    dir: &std::fs::File,
    dir_path: &Path,
    name: &std::ffi::OsStr,
    contents: &[u8],
    mode: u32,
    sync: bool,
) -> Result<()> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let target = dir_path.join(name);
    let tmp = format!(
        "{TMP_PREFIX}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let fd = rustix::fs::openat(
        dir,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .map_err(|e| Error::io(&dir_path.join(&tmp), e.into()))?;
    let mut file = std::fs::File::from(fd);
    let staged = (|| -> Result<()> {
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .and_then(|_| file.write_all(contents))
            .and_then(|_| if sync { file.sync_all() } else { Ok(()) })
            .map_err(|e| Error::io(&target, e))?;
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::Symlink => {
                    return Err(Error::io(
                        &target,
                        std::io::Error::other("is a symbolic link (planted while fedca ran); fedca follows no link below --out"),
                    ))
                }
                FileType::Directory => {
                    return Err(Error::io(
                        &target,
                        std::io::Error::other("is a directory; fedca would write a file there"),
                    ))
                }
                _ => {}
            },
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(Error::io(&target, e.into())),
        }
        rustix::fs::renameat(dir, tmp.as_str(), dir, name).map_err(|e| Error::io(&target, e.into()))
    })();
    if let Err(e) = staged {
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
        return Err(e);
    }
    if sync {
        dir.sync_all().map_err(|e| Error::io(dir_path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip() {
        for t in Target::ALL {
            assert_eq!(t.as_str().parse::<Target>().unwrap(), t);
        }
        let e = "matrix".parse::<Target>().unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("\"matrix\""), "{e}");
        assert!(e.to_string().contains("synapse"), "{e}");
    }

    #[test]
    fn bundle_refuses_keys_and_leaves() {
        let e = TrustBundle::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "x.pem",
        )
        .unwrap_err();
        assert!(e.to_string().contains("private key"), "{e}");
        assert_eq!(e.exit_code(), 2);
        assert!(TrustBundle::from_pem("", "empty.pem").is_err());
    }

    #[test]
    fn opened_blocklist_refuses_emptying() {
        let defaults = nets(&["127.0.0.0/8", "10.0.0.0/8"]);
        let all = nets(&["0.0.0.0/0"]);
        assert!(OpenedBlocklist::compute(&defaults, &all).is_err());
        let none = OpenedBlocklist::compute(&defaults, &nets(&["8.8.8.8"])).unwrap();
        assert!(!none.changed);
        assert_eq!(none.blocks(), defaults);
        let some =
            OpenedBlocklist::compute(&defaults, &nets(&["10.0.0.0/8", "127.0.0.1"])).unwrap();
        assert!(some.changed);
        assert!(some.entries[1].kept.is_empty());
        assert_eq!(some.blocks().len(), 24);
    }
}
