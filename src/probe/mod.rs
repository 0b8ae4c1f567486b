//! Live federation checks: resolve a server name exactly as the server-server
//! specification's "Resolving server names" says a homeserver does, connect to every
//! address it gives with TLS (the spec's SNI rule, the chain checked by [`crate::verify`]
//! against the federation's private roots), and check the Matrix endpoints
//! (`/_matrix/federation/v1/version`, `/_matrix/key/v2/server` with its signatures over
//! canonical JSON).
//!
//! DNS goes through hickory-resolver, HTTP through hyper over tokio-rustls (rustls with
//! ring, the same as the rest of fedca). Every network step has its own timeout.
//!
//! ```no_run
//! use std::time::Duration;
//! use fedca::name::ServerName;
//! use fedca::probe::{probe_blocking, Options};
//! use fedca::verify::TrustBundle;
//!
//! # fn main() -> fedca::Result<()> {
//! let roots = TrustBundle::from_ca_dir("./fedca-ca".as_ref())?;
//! let opts = Options::new(roots, Duration::from_secs(5));
//! let report = probe_blocking(&[ServerName::parse("hs1.fed.test")?], &opts)?;
//! println!("federation would work: {}", report[0].ok);
//! # Ok(()) }
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Field, Result};
use crate::name::ServerName;
use crate::verify::{TrustBundle, Verdict, Verifier};

pub mod canonical_json;
pub mod matrix;
mod net;
mod resolve;

pub use resolve::{Resolution, Step, Target, WellKnown};

/// The default per-step timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A `--resolve HOST:PORT:ADDR` pin: connections to HOST:PORT go to ADDR, without DNS
/// (like curl's option of the same name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The host, lower case.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Where to connect.
    pub addr: IpAddr,
}

impl Pin {
    /// Parses `HOST:PORT:ADDR` (ADDR an IPv4 address, or an IPv6 address with or
    /// without brackets). A bad pin is bad input for `--resolve`.
    pub fn parse(text: &str) -> Result<Pin> {
        let bad = |rule: &str| Error::invalid(Field::Resolve, text, rule);
        let rule = "must be HOST:PORT:ADDR, e.g. matrix.hs1.fed.test:8448:127.0.0.3";
        let mut parts = text.splitn(3, ':');
        let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(rule));
        };
        if host.is_empty() {
            return Err(bad(rule));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("PORT must be a number from 1 to 65535"))?;
        let addr_text = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| bad("ADDR must be an IPv4 or IPv6 address"))?;
        Ok(Pin {
            host: host.to_ascii_lowercase(),
            port,
            addr,
        })
    }
}

/// How to probe.
#[derive(Debug, Clone)]
pub struct Options {
    /// The federation's roots: `.well-known` and every federation address must chain
    /// to one of them.
    pub roots: TrustBundle,
    /// The limit of each step (a DNS query, a TCP connect, a TLS handshake, one HTTP
    /// request).
    pub timeout: Duration,
    /// The DNS server to ask (`None`: the system's resolv.conf).
    pub dns: Option<SocketAddr>,
    /// Pinned addresses.
    pub pins: Vec<Pin>,
}

impl Options {
    /// Options with the system's DNS and no pins.
    pub fn new(roots: TrustBundle, timeout: Duration) -> Self {
        Options {
            roots,
            timeout,
            dns: None,
            pins: Vec::new(),
        }
    }
}

/// One check's verdict: a stable id, ok or not, and for a failure a stable kind and a
/// one-line fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `resolve`, `connect`, `tls`, `certificate`, `federation_version`, `key_fetch`,
    /// `key_server_name`, `key_valid_until`, `key_ed25519`, `key_signatures`.
    pub id: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// The failure's stable kind (`None` when it passed).
    pub kind: Option<String>,
    /// What was seen.
    pub detail: String,
    /// What to do (`None` when it passed). It may name a setting as a
    /// [`Field::mention`](crate::error::Field::mention): render it with
    /// [`plain_text`](crate::error::plain_text) or [`cli_text`](crate::error::cli_text).
    pub fix: Option<String>,
}

impl Check {
    /// A passed check.
    pub fn pass(id: &'static str, detail: impl Into<String>) -> Check {
        Check {
            id,
            ok: true,
            kind: None,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A failed check.
    pub fn fail(
        id: &'static str,
        kind: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            id,
            ok: false,
            kind: Some(kind.into()),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// What one address showed.
#[derive(Debug, Clone, Serialize)]
pub struct AddressReport {
    /// `127.0.0.1:8448`.
    pub address: String,
    /// The target (SRV target or host) this address came from.
    pub target: String,
    /// Whether every check passed.
    pub ok: bool,
    /// The negotiated TLS version (`TLSv1_3`), when the handshake completed.
    pub tls_version: Option<String>,
    /// The negotiated cipher suite, when the handshake completed.
    pub cipher_suite: Option<String>,
    /// fedca's verdict on the presented chain (the same as `fedca verify --json`).
    pub certificate: Option<Verdict>,
    /// The homeserver software, from `/_matrix/federation/v1/version`.
    pub server_software: Option<String>,
    /// The checks, in order: connect, tls, certificate, federation_version, then the
    /// key checks. A check that could not run after a failure is absent.
    pub checks: Vec<Check>,
}

/// Everything `fedca probe` found out about one server name.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The server name probed.
    pub server_name: String,
    /// Whether federation to it would work: resolution gave addresses and every
    /// address passed every check.
    pub ok: bool,
    /// How the name resolved.
    pub resolution: Resolution,
    /// One entry per address.
    pub addresses: Vec<AddressReport>,
    /// Failures before any address (resolution found no address).
    pub checks: Vec<Check>,
}

impl Report {
    /// Every failed check (resolution, then per address).
    pub fn failures(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .chain(self.addresses.iter().flat_map(|a| a.checks.iter()))
            .filter(|c| !c.ok)
            .collect()
    }
}

pub(crate) struct Ctx {
    resolver: hickory_resolver::TokioResolver,
    verifier: Verifier,
    config: Arc<rustls::ClientConfig>,
    timeout: Duration,
    pins: Vec<Pin>,
}

impl Ctx {
    fn new(opts: &Options) -> Result<Ctx> {
        use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        let dns_err = |e: &dyn std::fmt::Display| {
            Error::Internal(format!("cannot set up the DNS resolver: {e}"))
        };
        let mut builder = match opts.dns {
            Some(server) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                let ns = NameServerConfig::new(server.ip(), true, vec![udp, tcp]);
                hickory_resolver::Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => hickory_resolver::TokioResolver::builder_tokio().map_err(|e| dns_err(&e))?,
        };
        let o = builder.options_mut();
        o.timeout = opts.timeout;
        o.attempts = 1;
        let resolver = builder.build().map_err(|e| dns_err(&e))?;
        let verifier = opts.roots.verifier()?;
        let config = net::client_config(&verifier).map_err(Error::Internal)?;
        Ok(Ctx {
            resolver,
            verifier,
            config,
            timeout: opts.timeout,
            pins: opts.pins.clone(),
        })
    }
}

/// Probes server names concurrently; the reports come back in the order of `names`.
pub async fn probe_all(names: &[ServerName], opts: &Options) -> Result<Vec<Report>> {
    let cx = Arc::new(Ctx::new(opts)?);
    let mut set = tokio::task::JoinSet::new();
    for (i, name) in names.iter().enumerate() {
        let cx = cx.clone();
        let name = name.clone();
        set.spawn(async move { (i, probe_one(&name, &cx).await) });
    }
    let mut out: Vec<Option<Report>> = vec![None; names.len()];
    while let Some(r) = set.join_next().await {
        let (i, report) = r.map_err(|e| Error::Internal(format!("a probe task failed: {e}")))?;
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(report);
        }
    }
    out.into_iter()
        .map(|r| r.ok_or_else(|| Error::Internal("a probe gave no report".into())))
        .collect()
}

/// [`probe_all`] on a runtime of its own, for synchronous callers.
pub fn probe_blocking(names: &[ServerName], opts: &Options) -> Result<Vec<Report>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(probe_all(names, opts))
}

async fn probe_one(name: &ServerName, cx: &Arc<Ctx>) -> Report {
    let resolution = resolve::resolve(name, cx).await;
    let mut checks = Vec::new();
    let mut addresses = Vec::new();
    match (&resolution.expected, resolution.error.clone()) {
        (_, Some(err)) => checks.push(err),
        (None, None) => checks.push(Check::fail(
            "resolve",
            "no_address",
            "resolution gave no address",
            "publish an address for the server name",
        )),
        (Some(cert_host), None) => {
            let mut set = tokio::task::JoinSet::new();
            for target in &resolution.targets {
                for addr in &target.addresses {
                    let cx = cx.clone();
                    let addr = *addr;
                    let target = format!("{}:{}", target.host, target.port);
                    let cert_host = cert_host.clone();
                    let host_header = resolution.host_header.clone().unwrap_or_default();
                    let server_name = name.to_string();
                    set.spawn(async move {
                        probe_address(addr, target, &cert_host, &host_header, &server_name, &cx)
                            .await
                    });
                }
            }
            while let Some(r) = set.join_next().await {
                match r {
                    Ok(a) => addresses.push(a),
                    Err(e) => checks.push(Check::fail(
                        "connect",
                        "internal",
                        format!("a probe task failed: {e}"),
                        "report this as a fedca bug",
                    )),
                }
            }
            addresses.sort_by(|a: &AddressReport, b| a.address.cmp(&b.address));
            if addresses.is_empty() && checks.is_empty() {
                checks.push(Check::fail(
                    "resolve",
                    "no_address",
                    "resolution gave no address",
                    "publish A/AAAA records for the host resolution chose",
                ));
            }
        }
    }
    let ok = checks.iter().all(|c| c.ok) && !addresses.is_empty() && addresses.iter().all(|a| a.ok);
    Report {
        server_name: name.to_string(),
        ok,
        resolution,
        addresses,
        checks,
    }
}

async fn probe_address(
    addr: SocketAddr,
    target: String,
    cert_host: &crate::name::Host,
    host_header: &str,
    server_name: &str,
    cx: &Ctx,
) -> AddressReport {
    let mut r = AddressReport {
        address: addr.to_string(),
        target,
        ok: false,
        tls_version: None,
        cipher_suite: None,
        certificate: None,
        server_software: None,
        checks: Vec::new(),
    };
    let tls = match net::connect(addr, cert_host, cx.config.clone(), &cx.verifier, cx.timeout).await
    {
        Ok(t) => t,
        Err(e) => {
            let (id, fix) = match (e.stage, e.kind) {
                ("connect", "timeout") => ("connect", format!("nothing answers at {addr}: check the host is up and no firewall drops the federation port")),
                ("connect", _) => ("connect", format!("start the homeserver's federation listener on {addr}, or correct the DNS / SRV / .well-known record that leads here")),
                (_, "timeout") => ("tls", format!("{addr} accepts connections but does not speak TLS in time: check the listener there is the homeserver's TLS federation listener and that it is not stuck")),
                _ => ("tls", format!("serve TLS 1.2 or 1.3 with the certificate for {cert_host} on {addr}")),
            };
            if id == "tls" {
                r.checks
                    .push(Check::pass("connect", format!("TCP connection to {addr}")));
            }
            r.checks.push(Check::fail(id, e.kind, e.detail, fix));
            return r;
        }
    };
    r.checks
        .push(Check::pass("connect", format!("TCP connection to {addr}")));
    r.tls_version = Some(tls.protocol.clone());
    r.cipher_suite = Some(tls.cipher_suite.clone());
    let sni = match cert_host.ip() {
        Some(_) => "no SNI (IP literal)".to_string(),
        None => format!("SNI {}", cert_host.verify_name()),
    };
    r.checks.push(Check::pass(
        "tls",
        format!("{} {}, {sni}", tls.protocol, tls.cipher_suite),
    ));
    let verdict = tls.verdict.clone();
    r.certificate = Some(verdict.clone());
    match &verdict.error {
        Some(d) => {
            r.checks.push(Check::fail(
                "certificate",
                d.kind.as_str(),
                d.detail.clone(),
                certificate_fix(d.kind, cert_host),
            ));
            return r;
        }
        None => r.checks.push(Check::pass(
            "certificate",
            format!(
                "the chain is valid for {} (rustls/webpki, plus the checks OpenSSL and Go add)",
                verdict.name
            ),
        )),
    }
    let mut http = match net::Http::start(tls.stream, cx.timeout).await {
        Ok(h) => h,
        Err(e) => {
            r.checks.push(Check::fail(
                "federation_version",
                e.kind,
                e.detail,
                "serve HTTP/1.1 on the federation listener",
            ));
            return r;
        }
    };
    match http
        .get("/_matrix/federation/v1/version", host_header)
        .await
    {
        Ok(a) => {
            let (check, software) = matrix::check_version(a.status, &a.body);
            r.server_software = software;
            r.checks.push(check);
        }
        Err(e) => {
            r.checks.push(Check::fail(
                "federation_version",
                e.kind,
                e.detail,
                format!("the homeserver at {addr} does not answer federation requests: check it is running and not overloaded"),
            ));
            return r;
        }
    }
    match http.get("/_matrix/key/v2/server", host_header).await {
        Ok(a) => {
            let now_ms = i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0),
            )
            .unwrap_or(i64::MAX);
            r.checks
                .extend(matrix::check_keys(a.status, &a.body, server_name, now_ms));
        }
        Err(e) => r.checks.push(Check::fail(
            "key_fetch",
            e.kind,
            e.detail,
            format!("the homeserver at {addr} does not answer /_matrix/key/v2/server: check it is running"),
        )),
    }
    r.ok = r.checks.iter().all(|c| c.ok);
    r
}

fn certificate_fix(kind: crate::verify::ErrorKind, host: &crate::name::Host) -> String {
    use crate::verify::ErrorKind as K;
    match kind {
        K::UnknownIssuer => format!("serve a certificate for {host} issued by this federation's CA (fedca issue {host}), or probe with the roots the homeservers trust ({} / {})", Field::TrustFile.mention(), Field::CaDir.mention()),
        K::MissingIntermediate => "serve fullchain.pem (leaf then intermediates), not cert.pem".to_string(),
        K::Expired | K::NotYetValid | K::ExpiredIntermediate => format!("issue a fresh certificate (fedca issue {host}), install it and reload the homeserver; check the clocks"),
        K::NameMismatch | K::NoSan => format!("serve a certificate naming {host} (fedca issue {host}): a homeserver checks the name resolution chose, never the SRV target"),
        _ => format!("issue the certificate for {host} with fedca (fedca issue {host}) and serve its fullchain.pem"),
    }
}
