//! "Resolving server names" of the server-server specification, step by step, with the
//! reason each step decided or fell through.

use std::collections::HashSet;
use std::net::SocketAddr;

use serde::Serialize;
use serde_json::Value;

use super::net;
use super::{Check, Ctx};
use crate::name::{Host, ServerName};

/// The federation port a homeserver uses when nothing says otherwise.
pub const DEFAULT_PORT: u16 = 8448;
/// How many redirects of `.well-known` are followed.
pub const MAX_REDIRECTS: usize = 5;

const DECIDED: &str = "decided";
const FELL_THROUGH: &str = "fell_through";
const NOT_APPLICABLE: &str = "not_applicable";

/// One step of the resolution algorithm.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `ip_literal`, `explicit_port`, `well_known`, `delegated_ip_literal`,
    /// `delegated_explicit_port`, `delegated_srv_matrix_fed`, `delegated_srv_matrix`,
    /// `delegated_default_port`, `srv_matrix_fed`, `srv_matrix`, `default_port`.
    pub step: String,
    /// `decided`, `fell_through` or `not_applicable`.
    pub outcome: &'static str,
    /// Why.
    pub detail: String,
    /// For a step that fell through on an error: its stable kind (`http_status`,
    /// `invalid_json`, `redirect_loop`, `certificate`, `timeout`, `no_record`, ...).
    pub kind: Option<String>,
}

/// A host and port resolution chose, with its addresses.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The host connected to (an SRV target, the delegated host or the server name's).
    pub host: String,
    /// The port.
    pub port: u16,
    /// Its addresses.
    pub addresses: Vec<SocketAddr>,
    /// Where the addresses came from: `ip_literal`, `dns`, `pinned`.
    pub source: &'static str,
    /// Why it has no address.
    pub error: Option<String>,
}

/// One request of the `.well-known` fetch (redirects give more than one).
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    /// The URL requested.
    pub url: String,
    /// The address connected to.
    pub address: Option<SocketAddr>,
    /// The Host header sent.
    pub host_header: String,
    /// The SNI sent (`None` for an IP literal).
    pub sni: Option<String>,
    /// The HTTP status (`http_status` in JSON: `status` is a certificate's, docs/json.md).
    #[serde(rename = "http_status")]
    pub status: Option<u16>,
    /// The Location of a redirect.
    pub location: Option<String>,
}

/// What `.well-known/matrix/server` said.
#[derive(Debug, Clone, Serialize)]
pub struct WellKnown {
    /// The first URL.
    pub url: String,
    /// Every request made, redirects included.
    pub hops: Vec<Hop>,
    /// The final HTTP status (`http_status` in JSON: `status` is a certificate's).
    #[serde(rename = "http_status")]
    pub status: Option<u16>,
    /// The final answer's Cache-Control header (homeservers cache the answer, 24 h by
    /// default and 48 h at most; failures up to 1 h).
    pub cache_control: Option<String>,
    /// The final answer's Expires header.
    pub expires: Option<String>,
    /// `m.server`, as served.
    pub m_server: Option<String>,
    /// Why it did not delegate: a stable kind.
    pub error: Option<String>,
    /// Why it did not delegate: in words.
    pub detail: Option<String>,
    #[serde(skip)]
    delegated: Option<ServerName>,
}

impl WellKnown {
    fn fail(mut self, kind: &str, detail: impl Into<String>) -> Self {
        self.error = Some(kind.to_string());
        self.detail = Some(detail.into());
        self
    }
}

/// How a server name resolved.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Resolution {
    /// The step that chose the targets (`None` when none could).
    pub decided_by: Option<String>,
    /// Every step considered, in the specification's order.
    pub steps: Vec<Step>,
    /// The `.well-known` fetch, when it was made.
    pub well_known: Option<WellKnown>,
    /// The delegated server name, when `.well-known` delegated.
    pub delegated: Option<String>,
    /// The Host header a homeserver sends to the targets.
    pub host_header: Option<String>,
    /// The SNI a homeserver sends (`None` for an IP literal: no SNI).
    pub sni: Option<String>,
    /// The name the certificate must be valid for.
    pub certificate_name: Option<String>,
    /// Where to connect.
    pub targets: Vec<Target>,
    #[serde(skip)]
    pub(crate) expected: Option<Host>,
    #[serde(skip)]
    pub(crate) error: Option<Check>,
}

impl Resolution {
    fn step(&mut self, step: &str, outcome: &'static str, detail: impl Into<String>) {
        self.steps.push(Step {
            step: step.to_string(),
            outcome,
            detail: detail.into(),
            kind: None,
        });
    }

    fn fell(&mut self, step: &str, kind: &str, detail: impl Into<String>) {
        self.steps.push(Step {
            step: step.to_string(),
            outcome: FELL_THROUGH,
            detail: detail.into(),
            kind: Some(kind.to_string()),
        });
    }

    fn decide(&mut self, step: &str, host_header: String, expected: &Host, targets: Vec<Target>) {
        self.decided_by = Some(step.to_string());
        self.host_header = Some(host_header);
        self.sni = match expected {
            Host::Dns(d) => Some(d.to_ascii_lowercase()),
            _ => None,
        };
        self.certificate_name = Some(expected.verify_name());
        self.expected = Some(expected.clone());
        if targets.iter().all(|t| t.addresses.is_empty()) {
            let why: Vec<String> = targets
                .iter()
                .map(|t| {
                    format!(
                        "{}:{}: {}",
                        t.host,
                        t.port,
                        t.error.as_deref().unwrap_or("no address")
                    )
                })
                .collect();
            self.error = Some(Check::fail(
                "resolve",
                "no_address",
                format!("{step} chose targets without an address ({})", why.join("; ")),
                format!(
                    "publish A/AAAA records for the target (or pin it with {} HOST:PORT:ADDR to test)",
                    crate::error::Field::Resolve.mention()
                ),
            ));
        }
        self.targets = targets;
    }
}

/// Resolves `name` as a homeserver does.
pub(crate) async fn resolve(name: &ServerName, cx: &Ctx) -> Resolution {
    let mut r = Resolution::default();
    let host = name.host();
    if let Some(ip) = host.ip() {
        let port = name.port().unwrap_or(DEFAULT_PORT);
        let addr = SocketAddr::new(ip, port);
        r.step(
            "ip_literal",
            DECIDED,
            format!("{name} is an IP literal: connect to {addr}, Host {name}, no SNI, the certificate must name the IP address"),
        );
        let t = Target {
            host: host.to_string(),
            port,
            addresses: vec![addr],
            source: "ip_literal",
            error: None,
        };
        r.decide("ip_literal", name.to_string(), host, vec![t]);
        return r;
    }
    let Host::Dns(dns) = host else { return r };
    let h = dns.to_ascii_lowercase();
    r.step(
        "ip_literal",
        NOT_APPLICABLE,
        format!("{h} is not an IP literal"),
    );
    if let Some(port) = name.port() {
        r.step(
            "explicit_port",
            DECIDED,
            format!(
                "{name} has an explicit port: A/AAAA of {h}, port {port}, Host {h}:{port}, SNI {h}"
            ),
        );
        let t = lookup(&h, port, cx).await;
        r.decide("explicit_port", format!("{h}:{port}"), host, vec![t]);
        return r;
    }
    r.step(
        "explicit_port",
        NOT_APPLICABLE,
        format!("{name} has no explicit port"),
    );
    let wk = well_known(host, cx).await;
    match wk.delegated.clone() {
        Some(del) => {
            r.step(
                "well_known",
                DECIDED,
                format!("https://{h}/.well-known/matrix/server delegates to {del}"),
            );
            r.delegated = Some(del.to_string());
            r.well_known = Some(wk);
            resolve_delegated(&del, &mut r, cx).await;
        }
        None => {
            let kind = wk.error.clone().unwrap_or_else(|| "other".into());
            let detail = wk.detail.clone().unwrap_or_default();
            r.fell(
                "well_known",
                &kind,
                format!("{detail}; a homeserver goes on with SRV records (and caches this failure for up to an hour)"),
            );
            r.well_known = Some(wk);
            srv_chain(host, &h, "", &mut r, cx).await;
        }
    }
    r
}

async fn resolve_delegated(del: &ServerName, r: &mut Resolution, cx: &Ctx) {
    let host = del.host();
    if let Some(ip) = host.ip() {
        let port = del.port().unwrap_or(DEFAULT_PORT);
        let addr = SocketAddr::new(ip, port);
        r.step(
            "delegated_ip_literal",
            DECIDED,
            format!(
                "the delegated name {del} is an IP literal: connect to {addr}, Host {del}, no SNI"
            ),
        );
        let t = Target {
            host: host.to_string(),
            port,
            addresses: vec![addr],
            source: "ip_literal",
            error: None,
        };
        r.decide("delegated_ip_literal", del.to_string(), host, vec![t]);
        return;
    }
    let h = host.verify_name();
    r.step(
        "delegated_ip_literal",
        NOT_APPLICABLE,
        format!("{h} is not an IP literal"),
    );
    if let Some(port) = del.port() {
        r.step(
            "delegated_explicit_port",
            DECIDED,
            format!("the delegated name {del} has an explicit port: A/AAAA of {h}, port {port}, Host {h}:{port}, SNI {h}"),
        );
        let t = lookup(&h, port, cx).await;
        r.decide(
            "delegated_explicit_port",
            format!("{h}:{port}"),
            host,
            vec![t],
        );
        return;
    }
    r.step(
        "delegated_explicit_port",
        NOT_APPLICABLE,
        format!("{del} has no explicit port"),
    );
    srv_chain(host, &h, "delegated_", r, cx).await;
}

async fn srv_chain(host: &Host, h: &str, prefix: &str, r: &mut Resolution, cx: &Ctx) {
    for (step, service) in [
        ("srv_matrix_fed", "_matrix-fed._tcp"),
        ("srv_matrix", "_matrix._tcp"),
    ] {
        let step = format!("{prefix}{step}");
        let qname = format!("{service}.{h}");
        match srv(&qname, cx).await {
            Ok(records) if !records.is_empty() => {
                let mut targets = Vec::new();
                for (target, port) in &records {
                    targets.push(lookup(target, *port, cx).await);
                }
                let list: Vec<String> = records.iter().map(|(t, p)| format!("{t}:{p}")).collect();
                let deprecated = if service == "_matrix._tcp" {
                    " (deprecated: publish _matrix-fed._tcp instead)"
                } else {
                    ""
                };
                r.step(
                    &step,
                    DECIDED,
                    format!("SRV {qname} -> {}{deprecated}; Host {h}, SNI {h}, the certificate must name {h} (never the SRV target)", list.join(", ")),
                );
                r.decide(&step, h.to_string(), host, targets);
                return;
            }
            Ok(_) => r.fell(&step, "no_record", format!("no SRV record {qname}")),
            Err((kind, detail)) => r.fell(&step, kind, format!("SRV {qname}: {detail}")),
        }
    }
    let step = format!("{prefix}default_port");
    r.step(
        &step,
        DECIDED,
        format!("no SRV record: A/AAAA of {h}, port {DEFAULT_PORT}, Host {h}, SNI {h}"),
    );
    let t = lookup(h, DEFAULT_PORT, cx).await;
    r.decide(&step, h.to_string(), host, vec![t]);
}

/// SRV records of `qname`, lowest priority first, then highest weight.
async fn srv(qname: &str, cx: &Ctx) -> Result<Vec<(String, u16)>, (&'static str, String)> {
    use hickory_resolver::proto::rr::RData;
    let fqdn = format!("{qname}.");
    let lookup = match tokio::time::timeout(cx.timeout, cx.resolver.srv_lookup(fqdn.as_str())).await
    {
        Err(_) => {
            return Err((
                "timeout",
                format!("no DNS answer within {}", net::secs(cx.timeout)),
            ))
        }
        Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => return Ok(Vec::new()),
        Ok(Err(e)) => return Err(("dns_error", e.to_string())),
        Ok(Ok(l)) => l,
    };
    let mut records: Vec<(u16, std::cmp::Reverse<u16>, String, u16)> = lookup
        .answers()
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::SRV(s) => {
                let target = s.target.to_ascii();
                let target = target.trim_end_matches('.').to_ascii_lowercase();
                (!target.is_empty()).then_some((
                    s.priority,
                    std::cmp::Reverse(s.weight),
                    target,
                    s.port,
                ))
            }
            _ => None,
        })
        .collect();
    records.sort();
    Ok(records.into_iter().map(|(_, _, t, p)| (t, p)).collect())
}

/// The addresses of `host` for `port`: a `--resolve` pin, else A/AAAA.
async fn lookup(host: &str, port: u16, cx: &Ctx) -> Target {
    let mut t = Target {
        host: host.to_string(),
        port,
        addresses: Vec::new(),
        source: "dns",
        error: None,
    };
    let pinned: Vec<SocketAddr> = cx
        .pins
        .iter()
        .filter(|p| p.host == host && p.port == port)
        .map(|p| SocketAddr::new(p.addr, port))
        .collect();
    if !pinned.is_empty() {
        t.addresses = pinned;
        t.source = "pinned";
        return t;
    }
    let fqdn = format!("{host}.");
    match tokio::time::timeout(cx.timeout, cx.resolver.lookup_ip(fqdn.as_str())).await {
        Err(_) => {
            t.error = Some(format!(
                "no DNS answer for {host} within {}",
                net::secs(cx.timeout)
            ))
        }
        Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => {
            t.error = Some(format!("no A/AAAA record for {host}"))
        }
        Ok(Err(e)) => t.error = Some(format!("looking up {host}: {e}")),
        Ok(Ok(ips)) => t.addresses = ips.iter().map(|ip| SocketAddr::new(ip, port)).collect(),
    }
    t
}

/// Fetches `https://<host>/.well-known/matrix/server`, validated against the private
/// roots, following redirects (bounded, loops refused).
async fn well_known(host: &Host, cx: &Ctx) -> WellKnown {
    let path0 = "/.well-known/matrix/server";
    let mut wk = WellKnown {
        url: format!("https://{host}{path0}"),
        hops: Vec::new(),
        status: None,
        cache_control: None,
        expires: None,
        m_server: None,
        error: None,
        detail: None,
        delegated: None,
    };
    let mut seen = HashSet::new();
    let (mut cur, mut port, mut path) = (host.clone(), 443u16, path0.to_string());
    for _ in 0..=MAX_REDIRECTS {
        let authority = if port == 443 {
            cur.to_string()
        } else {
            format!("{cur}:{port}")
        };
        let url = format!("https://{authority}{path}");
        if !seen.insert(url.clone()) {
            return wk.fail("redirect_loop", format!("the redirects loop back to {url}"));
        }
        let mut hop = Hop {
            url: url.clone(),
            address: None,
            host_header: authority.clone(),
            sni: match &cur {
                Host::Dns(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            },
            status: None,
            location: None,
        };
        let addrs = match cur.ip() {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => {
                let t = lookup(&cur.verify_name(), port, cx).await;
                if t.addresses.is_empty() {
                    wk.hops.push(hop);
                    let why = t.error.unwrap_or_else(|| "no address".into());
                    return wk.fail("dns", format!("GET {url}: {why}"));
                }
                t.addresses
            }
        };
        let mut tls = None;
        let mut last = None;
        for a in addrs {
            match net::connect(a, &cur, cx.config.clone(), &cx.verifier, cx.timeout).await {
                Ok(t) => {
                    hop.address = Some(a);
                    tls = Some(t);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(tls) = tls else {
            wk.hops.push(hop);
            let (kind, detail) = last
                .map(|e| (e.kind, e.detail))
                .unwrap_or(("connect_failed", "no address".into()));
            return wk.fail(kind, format!("GET {url}: {detail}"));
        };
        if let Some(d) = &tls.verdict.error {
            wk.hops.push(hop);
            return wk.fail(
                "certificate",
                format!("GET {url}: the certificate is refused against the federation's roots ({}: {}); .well-known needs a certificate for {cur} on port {port} from the federation's CA", d.kind, d.detail),
            );
        }
        let answer = match net::Http::start(tls.stream, cx.timeout).await {
            Ok(mut http) => http.get(&path, &authority).await,
            Err(e) => Err(e),
        };
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                wk.hops.push(hop);
                return wk.fail(e.kind, format!("GET {url}: {}", e.detail));
            }
        };
        hop.status = Some(answer.status);
        let header = |n: hyper::header::HeaderName| {
            answer
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if (300..400).contains(&answer.status) {
            let location = header(hyper::header::LOCATION);
            hop.location = location.clone();
            wk.hops.push(hop);
            let Some(location) = location else {
                return wk.fail(
                    "http_status",
                    format!("GET {url}: HTTP {} without a Location", answer.status),
                );
            };
            match follow(&location, &cur, port) {
                Ok((h, p, pa)) => (cur, port, path) = (h, p, pa),
                Err(why) => {
                    return wk.fail(
                        "bad_redirect",
                        format!("GET {url}: redirect to {location:?}: {why}"),
                    )
                }
            }
            continue;
        }
        wk.hops.push(hop);
        wk.status = Some(answer.status);
        wk.cache_control = header(hyper::header::CACHE_CONTROL);
        wk.expires = header(hyper::header::EXPIRES);
        if answer.status != 200 {
            return wk.fail(
                "http_status",
                format!("GET {url}: HTTP {}, not 200", answer.status),
            );
        }
        let m_server = match serde_json::from_slice::<Value>(&answer.body) {
            Ok(Value::Object(o)) => o.get("m.server").cloned(),
            _ => {
                let ct = header(hyper::header::CONTENT_TYPE).unwrap_or_default();
                return wk.fail(
                    "invalid_json",
                    format!("GET {url}: the answer is not a JSON object (Content-Type {ct:?})"),
                );
            }
        };
        let Some(Value::String(m)) = m_server else {
            return wk.fail(
                "missing_m_server",
                format!("GET {url}: the JSON has no string m.server"),
            );
        };
        wk.m_server = Some(m.clone());
        return match ServerName::parse(&m) {
            Ok(n) => {
                wk.delegated = Some(n);
                wk
            }
            Err(e) => wk.fail(
                "invalid_m_server",
                format!(
                    "GET {url}: m.server {m:?} is not a server name: {}",
                    e.rule()
                ),
            ),
        };
    }
    wk.fail(
        "too_many_redirects",
        format!("more than {MAX_REDIRECTS} redirects"),
    )
}

/// The host, port and path a Location leads to (https only).
fn follow(location: &str, cur: &Host, port: u16) -> Result<(Host, u16, String), String> {
    let uri: hyper::Uri = location.parse().map_err(|e| format!("{e}"))?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".into());
    match (uri.scheme_str(), uri.authority()) {
        (None, None) if location.starts_with('/') => Ok((cur.clone(), port, path)),
        (Some("https"), Some(a)) => {
            let n = ServerName::parse(a.as_str()).map_err(|e| e.rule().to_string())?;
            Ok((n.host().clone(), n.port().unwrap_or(443), path))
        }
        _ => Err("only https:// URLs and absolute paths are followed".into()),
    }
}
