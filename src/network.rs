//! `fedca apply`: a whole federation from one spec, declaratively
//! (docs/network-spec.md).
//!
//! [`Spec::load`] reads and checks a YAML spec (a spec error names the file, line,
//! column and rule, and changes nothing); [`plan`] compares it with the CA's index and
//! decides, per server, create / renew / reissue / unchanged (and reports servers that
//! left the spec); [`apply`] carries the plan out: the CA is created if missing, every
//! certificate the plan needs is issued in one transaction
//! ([`crate::store::CaDir::commit_batch`]), and each server's bundle is written, file by
//! file, only where its bytes or mode changed. A second run with no change writes
//! nothing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use crate::authority::Authority;
use crate::authority::{Constraints, InitOptions, KeyType, Permit};
use crate::cidr::IpNet;
use crate::error::{Error, Result};
use crate::issue::{LeafProfile, LeafRequest};
use crate::name::{AltName, Host, ServerName};
use crate::store::{files, CaDir, IndexRecord, RecordKeyType, RecordState};
use crate::trust::Target;
use crate::validity::Validity;
use crate::x509::rfc3339;
use crate::{Ca, Issued};

/// A checked network spec.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The spec file, as given.
    pub file: PathBuf,
    /// The CA directory (absolute).
    pub ca_dir: PathBuf,
    /// The CA's settings, used when the CA is created.
    pub ca: CaSpec,
    /// Renew a certificate this long before it expires (default: in the last third of
    /// its lifetime).
    pub renew_within: Option<Validity>,
    /// Leave the federation allow-list out of the bundles (`trust --open-federation`):
    /// for servers that also federate outside this CA.
    pub open_federation: bool,
    /// The servers, in spec order.
    pub servers: Vec<ServerSpec>,
}

/// The CA part of a spec.
#[derive(Debug, Clone)]
pub struct CaSpec {
    /// The root's common name.
    pub name: String,
    /// The root's key type (and the default of the leaves).
    pub key_type: KeyType,
    /// The root's validity.
    pub validity: Validity,
    /// The default leaf validity.
    pub leaf_validity: Validity,
    /// Name constraints; `None`: derived from the servers' names.
    pub permit: Option<Constraints>,
}

/// One server of a spec.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Its Matrix server name.
    pub name: ServerName,
    /// The delegated server (`m.server`), if any.
    pub delegate: Option<ServerName>,
    /// Extra certificate names.
    pub alts: Vec<AltName>,
    /// Its leaf key type (default: the CA's).
    pub key_type: Option<KeyType>,
    /// Its leaf validity (default: the CA's).
    pub validity: Option<Validity>,
    /// What its bundle configures (`trust` targets).
    pub implementation: Vec<Target>,
    /// Its bundle directory (absolute); the certificate and key go to `tls/` in it.
    pub bundle: PathBuf,
    /// Addresses of a DNS-named server, so that the others may connect to it although
    /// they are private (`trust --federation-addr`).
    pub addresses: Vec<IpNet>,
    /// Addresses its federation listener binds (`trust --bind`).
    pub bind: Vec<IpAddr>,
}

impl ServerSpec {
    /// The directory its certificate, key, chain and root are written to.
    pub fn tls_dir(&self) -> PathBuf {
        self.bundle.join(TLS_DIR)
    }

    fn request(&self) -> LeafRequest {
        LeafRequest {
            server: self.name.clone(),
            delegate: self.delegate.clone(),
            alts: self.alts.clone(),
            validity: self.validity,
            key_type: self.key_type,
        }
    }
}

/// The directory of a bundle that holds the server's certificate and key.
pub const TLS_DIR: &str = "tls";

// ---------------------------------------------------------------------------------
// Parsing

/// A value parsed from a YAML string while the spec is read, so that an error carries
/// the line and column of the value.
#[derive(Debug, Clone)]
struct Parsed<T>(T);

trait SpecValue: Sized {
    fn parse_spec(s: &str) -> Result<Self>;
}

impl<'de, T: SpecValue> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        // Parsing inside the visitor makes the error carry the value's own place.
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: SpecValue> serde::de::Visitor<'de> for V<T> {
            type Value = Parsed<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                T::parse_spec(v).map(Parsed).map_err(E::custom)
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl SpecValue for ServerName {
    fn parse_spec(s: &str) -> Result<Self> {
        Ok(ServerName::parse(s)?)
    }
}
impl SpecValue for AltName {
    fn parse_spec(s: &str) -> Result<Self> {
        Ok(AltName::parse(s)?)
    }
}
impl SpecValue for KeyType {
    fn parse_spec(s: &str) -> Result<Self> {
        s.parse()
    }
}
impl SpecValue for Permit {
    fn parse_spec(s: &str) -> Result<Self> {
        Permit::parse(s)
    }
}
impl SpecValue for IpNet {
    fn parse_spec(s: &str) -> Result<Self> {
        IpNet::parse(s, crate::error::Field::Address)
    }
}
impl SpecValue for IpAddr {
    fn parse_spec(s: &str) -> Result<Self> {
        s.parse()
            .map_err(|_| Error::invalid(crate::error::Field::SpecBind, s, "is not an IP address"))
    }
}
impl SpecValue for Target {
    fn parse_spec(s: &str) -> Result<Self> {
        s.parse()
    }
}
/// A leaf validity (at most 398 days).
#[derive(Debug, Clone, Copy)]
struct LeafValidity(Validity);
impl SpecValue for LeafValidity {
    fn parse_spec(s: &str) -> Result<Self> {
        crate::validity::parse_leaf(s, crate::error::Field::AnyValidity).map(LeafValidity)
    }
}
impl SpecValue for Validity {
    fn parse_spec(s: &str) -> Result<Self> {
        Validity::parse(s)
    }
}

/// `implementation:` — one target or a list of them.
#[derive(Debug, Clone)]
struct Implementations(Vec<Target>);

impl<'de> Deserialize<'de> for Implementations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Implementations;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an implementation (synapse, dendrite, conduwuit, ...) or a list of them",
                )
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                Target::parse_spec(v)
                    .map(|t| Implementations(vec![t]))
                    .map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(t) = seq.next_element::<Parsed<Target>>()? {
                    out.push(t.0);
                }
                Ok(Implementations(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    #[serde(default)]
    federation: Option<String>,
    #[serde(default)]
    ca_dir: Option<PathBuf>,
    #[serde(default)]
    bundles: Option<PathBuf>,
    #[serde(default)]
    ca: RawCa,
    #[serde(default)]
    renew_within: Option<Parsed<Validity>>,
    #[serde(default)]
    open_federation: bool,
    servers: Vec<RawServer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCa {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    key: Option<Parsed<KeyType>>,
    #[serde(default)]
    validity: Option<Parsed<Validity>>,
    #[serde(default)]
    leaf_validity: Option<Parsed<LeafValidity>>,
    #[serde(default)]
    permit: Option<Vec<Parsed<Permit>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    name: Parsed<ServerName>,
    #[serde(default)]
    delegate: Option<Parsed<ServerName>>,
    #[serde(default)]
    alts: Vec<Parsed<AltName>>,
    #[serde(default)]
    key: Option<Parsed<KeyType>>,
    #[serde(default)]
    validity: Option<Parsed<LeafValidity>>,
    #[serde(default)]
    implementation: Option<Implementations>,
    #[serde(default)]
    bundle: Option<PathBuf>,
    #[serde(default)]
    addresses: Vec<Parsed<IpNet>>,
    #[serde(default)]
    bind: Vec<Parsed<IpAddr>>,
}

impl Spec {
    /// Reads and checks the spec in `file`. Relative paths in it are relative to the
    /// directory holding it.
    pub fn load(file: &Path) -> Result<Spec> {
        let text = crate::store::read_input_text(file, crate::error::Field::Spec, "is not UTF-8")?;
        Spec::parse(file, &text)
    }

    /// Checks spec text; `file` names it in errors and anchors its relative paths.
    pub fn parse(file: &Path, text: &str) -> Result<Spec> {
        let raw: RawSpec = serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            let mut rule = e.to_string();
            if let Some(i) = rule.find(" at line ") {
                rule.truncate(i);
            }
            Error::Spec {
                file: file.to_path_buf(),
                line,
                column,
                rule,
            }
        })?;
        let at = |needle: &str, nth: usize, rule: String| {
            let (line, column) = locate(text, needle, nth);
            Error::Spec {
                file: file.to_path_buf(),
                line,
                column,
                rule,
            }
        };
        let abs = std::path::absolute(file).map_err(|e| Error::io(file, e))?;
        let base = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
        let stem = abs
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("federation")
            .to_string();
        let state = base.join(format!("{stem}.fedca"));
        let rel = |p: &Path| clean(&base.join(p));
        let ca_dir = raw
            .ca_dir
            .as_deref()
            .map(rel)
            .unwrap_or_else(|| state.join("ca"));
        let bundles = raw
            .bundles
            .as_deref()
            .map(rel)
            .unwrap_or_else(|| state.join("bundles"));
        let defaults = InitOptions::default();
        let ca = CaSpec {
            name: raw.ca.name.unwrap_or_else(|| {
                format!(
                    "{} federation root",
                    raw.federation.as_deref().unwrap_or(&stem)
                )
            }),
            key_type: raw.ca.key.map(|k| k.0).unwrap_or(defaults.key_type),
            validity: raw.ca.validity.map(|v| v.0).unwrap_or(defaults.validity),
            leaf_validity: raw
                .ca
                .leaf_validity
                .map(|v| v.0 .0)
                .unwrap_or(defaults.leaf_validity),
            permit: raw
                .ca
                .permit
                .map(|p| Constraints(p.into_iter().map(|p| p.0).collect())),
        };
        if raw.servers.is_empty() {
            return Err(at("servers", 0, "servers: the spec names no server".into()));
        }
        let mut servers = Vec::with_capacity(raw.servers.len());
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut bundles_seen: HashSet<PathBuf> = HashSet::new();
        for r in raw.servers {
            let name = r.name.0;
            let shown = name.to_string();
            let count = names.entry(shown.clone()).or_insert(0);
            *count += 1;
            if *count > 1 {
                return Err(at(
                    &shown,
                    *count - 1,
                    format!("server {shown} is listed twice; each server appears once"),
                ));
            }
            let bundle = r
                .bundle
                .as_deref()
                .map(rel)
                .unwrap_or_else(|| bundles.join(name.dir_name()));
            if !bundles_seen.insert(bundle.clone()) {
                return Err(at(
                    &shown,
                    0,
                    format!(
                        "server {shown}: its bundle {} is another server's; give each server its own bundle directory",
                        bundle.display()
                    ),
                ));
            }
            if bundle.starts_with(&ca_dir) || ca_dir.starts_with(&bundle) {
                return Err(at(
                    &shown,
                    0,
                    format!(
                        "server {shown}: its bundle {} and the CA directory {} must not contain each other",
                        bundle.display(),
                        ca_dir.display()
                    ),
                ));
            }
            if bundle.to_str().is_none() {
                return Err(at(
                    &shown,
                    0,
                    format!("server {shown}: its bundle path is not UTF-8"),
                ));
            }
            let implementation = r
                .implementation
                .map(|i| i.0)
                .unwrap_or_else(|| vec![Target::Synapse]);
            if let Some(t) = implementation.iter().find(|t| matches!(t, Target::System)) {
                return Err(at(
                    &shown,
                    0,
                    format!("server {shown}: implementation {t} installs into this machine's trust store; run `fedca trust {} system` on the machine instead", crate::error::Field::Target.mention()),
                ));
            }
            servers.push(ServerSpec {
                name,
                delegate: r.delegate.map(|d| d.0),
                alts: r.alts.into_iter().map(|a| a.0).collect(),
                key_type: r.key.map(|k| k.0),
                validity: r.validity.map(|v| v.0 .0),
                implementation,
                bundle,
                addresses: r.addresses.into_iter().map(|a| a.0).collect(),
                bind: r.bind.into_iter().map(|a| a.0).collect(),
            });
        }
        Ok(Spec {
            file: file.to_path_buf(),
            ca_dir,
            ca,
            renew_within: raw.renew_within.map(|v| v.0),
            open_federation: raw.open_federation,
            servers,
        })
    }

    /// The name constraints of a CA created for this spec: as given, or derived from
    /// the servers' names (see [`derive_constraints`]).
    pub fn constraints(&self) -> Constraints {
        self.ca
            .permit
            .clone()
            .unwrap_or_else(|| derive_constraints(&self.servers))
    }
}

/// Name constraints that cover every server of a spec and little else: for a DNS
/// name, the domain its first label sits in (`hs1.fed.test` → `fed.test`; a name of
/// two labels is kept whole); for an IPv4 literal its /24, for IPv6 its /64; `onion`
/// for onion names. Each of a server's names counts (delegate, extra names).
pub fn derive_constraints(servers: &[ServerSpec]) -> Constraints {
    let mut dns: BTreeSet<String> = BTreeSet::new();
    let mut ips: BTreeSet<String> = BTreeSet::new();
    let mut onion = false;
    let mut host = |h: &Host| match h {
        Host::Dns(d) if d.is_onion() => onion = true,
        Host::Dns(d) => {
            let text = d.to_ascii_lowercase();
            let labels: Vec<&str> = text.split('.').collect();
            let domain = if labels.len() >= 3 {
                labels[1..].join(".")
            } else {
                text.clone()
            };
            dns.insert(domain);
        }
        Host::Ipv4(a) => {
            let o = a.octets();
            ips.insert(format!("{}.{}.{}.0/24", o[0], o[1], o[2]));
        }
        Host::Ipv6(a) => {
            let s = a.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            ips.insert(format!("{net}/64"));
        }
    };
    for s in servers {
        host(s.name.host());
        if let Some(d) = &s.delegate {
            host(d.host());
        }
        for a in &s.alts {
            match a {
                AltName::Host(h) => host(h),
                AltName::Wildcard(d) => host(&Host::Dns(d.clone())),
            }
        }
    }
    // A domain inside another listed one adds nothing.
    let covered = |d: &String| dns.iter().any(|o| o != d && d.ends_with(&format!(".{o}")));
    let mut permits: Vec<Permit> = dns
        .iter()
        .filter(|d| !covered(d))
        .filter_map(|d| Permit::parse(d).ok())
        .collect();
    permits.extend(ips.iter().filter_map(|i| Permit::parse(i).ok()));
    if onion {
        permits.push(Permit::Onion);
    }
    Constraints(permits)
}

/// The line and column (1-based) of the `nth` occurrence of `needle` in `text` (the
/// first line when it does not occur).
fn locate(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let Some((off, _)) = text.match_indices(needle).nth(nth) else {
        return (1, 1);
    };
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let column = off - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

/// `p` without `.` components and with `..` applied (it need not exist).
fn clean(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Planning

/// What `apply` does to one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Issue its first certificate.
    Create,
    /// Re-issue with the same settings: the certificate is in its renewal window.
    Renew,
    /// Re-issue: its names or settings changed, or its files are not the ones issued.
    Reissue,
    /// Revoke: it left the spec; its unexpired certificates are revoked
    /// (`cessation-of-operation`).
    Revoke,
    /// Nothing to do.
    Unchanged,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Renew => "renew",
            Action::Reissue => "reissue",
            Action::Revoke => "revoke",
            Action::Unchanged => "unchanged",
        })
    }
}

/// One line of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The server.
    pub server: String,
    /// What happens to it.
    pub action: Action,
    /// Why.
    pub reason: String,
    /// Its bundle directory (empty for a server that left the spec).
    pub bundle: String,
}

/// What `apply` would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The CA directory.
    pub ca_dir: String,
    /// Whether the CA is created.
    pub create_ca: bool,
    /// The name constraints of a CA to be created (empty when it exists).
    pub constraints: String,
    /// One step per server of the spec, then one per server that left it.
    pub steps: Vec<Step>,
}

impl Plan {
    /// How many servers get a new certificate.
    pub fn issues(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.action, Action::Create | Action::Renew | Action::Reissue))
            .count()
    }
}

/// Compares `spec` with the CA (reading its index once) and decides every step.
/// Reads only: nothing is written.
pub fn plan(spec: &Spec, dir: &CaDir) -> Result<Plan> {
    let exists = dir.exists();
    let ca = if exists {
        Some(Ca::open_in(dir.clone())?)
    } else {
        None
    };
    let records = match &ca {
        Some(_) => dir.read_index()?,
        None => Vec::new(),
    };
    let mut current: HashMap<&ServerName, &IndexRecord> = HashMap::new();
    for r in &records {
        if r.state == RecordState::Active {
            current.insert(&r.server, r);
        }
    }
    let now = OffsetDateTime::now_utc();
    let new_constraints = spec.constraints();
    let mut steps = Vec::with_capacity(spec.servers.len());
    let mut wanted: HashSet<String> = HashSet::with_capacity(spec.servers.len());
    for s in &spec.servers {
        let name = s.name.to_string();
        // Every name is checked against the CA's constraints before anything happens.
        let profile = match &ca {
            Some(ca) => Some(LeafProfile::build(&s.request(), ca.authority(), now)?),
            None => {
                // The CA to be created gets these constraints: check against them now.
                let names = std::iter::once(AltName::Host(s.name.host().clone()))
                    .chain(s.delegate.iter().map(|d| AltName::Host(d.host().clone())))
                    .chain(s.alts.iter().cloned());
                for n in names {
                    new_constraints.check(&n)?;
                }
                None
            }
        };
        let (action, reason) = match (current.get(&s.name), &ca, profile) {
            (Some(r), Some(ca), Some(profile)) => {
                decide(s, r, dir, ca.authority(), &profile, spec.renew_within, now)?
            }
            _ => (Action::Create, "not issued yet".to_string()),
        };
        wanted.insert(name.clone());
        steps.push(Step {
            server: name,
            action,
            reason,
            bundle: s.bundle.display().to_string(),
        });
    }
    for r in &records {
        if r.state == RecordState::Active && !wanted.contains(&r.server.to_string()) {
            steps.push(Step {
                server: r.server.to_string(),
                action: Action::Revoke,
                reason: "not in the spec any more: its certificates are revoked (cessation-of-operation); its bundle is left where it is".into(),
                bundle: String::new(),
            });
        }
    }
    Ok(Plan {
        ca_dir: spec.ca_dir.display().to_string(),
        create_ca: !exists,
        constraints: if exists {
            String::new()
        } else {
            spec.constraints().to_string()
        },
        steps,
    })
}

/// Create/renew/reissue/unchanged for a server that has a current certificate.
fn decide(
    s: &ServerSpec,
    r: &IndexRecord,
    dir: &CaDir,
    authority: &Authority,
    profile: &LeafProfile,
    renew_within: Option<Validity>,
    now: OffsetDateTime,
) -> Result<(Action, String)> {
    let tls = s.tls_dir();
    let recorded = dir.resolve_record_path(&r.path);
    if recorded != tls {
        return Ok((
            Action::Reissue,
            format!(
                "its files move from {} to {}",
                recorded.display(),
                tls.display()
            ),
        ));
    }
    let want_names = profile.san_texts();
    let have: BTreeSet<&str> = r.names.iter().map(String::as_str).collect();
    let want: BTreeSet<&str> = want_names.iter().map(String::as_str).collect();
    if have != want {
        let added: Vec<&str> = want.difference(&have).copied().collect();
        let removed: Vec<&str> = have.difference(&want).copied().collect();
        return Ok((
            Action::Reissue,
            format!(
                "names changed (added: {}; removed: {})",
                list_or_none(&added),
                list_or_none(&removed)
            ),
        ));
    }
    if s.delegate != r.delegate {
        let text = |d: &Option<ServerName>| d.as_ref().map_or("none".into(), |d| d.to_string());
        return Ok((
            Action::Reissue,
            format!(
                "delegation changed from {} to {}",
                text(&r.delegate),
                text(&s.delegate)
            ),
        ));
    }
    let key = RecordKeyType::from(profile.key_type);
    if key != r.key_type {
        return Ok((
            Action::Reissue,
            format!("key type changed from {} to {key}", r.key_type),
        ));
    }
    let validity = s
        .validity
        .unwrap_or(authority.policy().leaf_validity)
        .to_string();
    if let Some(stored) = &r.validity {
        if *stored != validity {
            return Ok((
                Action::Reissue,
                format!("validity changed from {stored} to {validity}"),
            ));
        }
    }
    let (nb, na) = (r.not_before, r.not_after);
    let window = match renew_within {
        Some(v) => v.duration(),
        None => (na - nb) / 3,
    };
    if now >= na {
        return Ok((Action::Renew, format!("expired at {}", rfc3339(na))));
    }
    if now >= na - window {
        return Ok((
            Action::Renew,
            format!(
                "expires at {}, inside the renewal window ({})",
                rfc3339(na),
                renew_within
                    .map(|v| format!("last {v}"))
                    .unwrap_or_else(|| "last third of its lifetime".into())
            ),
        ));
    }
    // The files must be the ones issued (deleted or replaced by hand: re-issue).
    let cert = tls.join(files::LEAF);
    let ok = std::fs::read_to_string(&cert)
        .ok()
        .and_then(|t| crate::x509::pem_first(t).ok())
        .is_some_and(|p| crate::x509::sha256_hex(&p.der) == r.sha256)
        && [files::KEY, files::FULLCHAIN, files::CA]
            .iter()
            .all(|f| tls.join(f).is_file());
    if !ok {
        return Ok((
            Action::Reissue,
            format!(
                "its files in {} are missing or not the ones issued",
                tls.display()
            ),
        ));
    }
    Ok((Action::Unchanged, format!("valid until {}", rfc3339(na))))
}

fn list_or_none(v: &[&str]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

// ---------------------------------------------------------------------------------
// Applying

/// What `apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The plan it carried out.
    pub plan: Plan,
    /// The certificates issued.
    pub issued: usize,
    /// The certificates revoked (of servers that left the spec).
    pub revoked: usize,
    /// Files written into bundles (besides the certificates).
    pub files_written: usize,
    /// Notes from the trust configuration.
    pub notes: Vec<String>,
}

/// Progress callbacks for a long `apply` (a progress bar on a terminal).
pub trait Progress {
    /// A phase starts with `total` units of work.
    fn start(&self, phase: &str, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The phase is over.
    fn finish(&self);
}

/// No progress display.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _phase: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

/// Carries the spec out: creates the CA if missing, issues what the plan needs as one
/// transaction, and writes every server's bundle (only the files whose bytes or mode
/// changed). `dir` configures the CA directory (lock timeout, permission checks); its
/// path must be the spec's `ca_dir`.
pub fn apply(spec: &Spec, dir: CaDir, progress: &dyn Progress) -> Result<Outcome> {
    let plan = plan(spec, &dir)?;
    let ca = if plan.create_ca {
        let opts = InitOptions {
            name: spec.ca.name.clone(),
            key_type: spec.ca.key_type,
            validity: spec.ca.validity,
            leaf_validity: spec.ca.leaf_validity,
            permitted: spec.constraints(),
            force: false,
            ..InitOptions::default()
        };
        // The CA's parent is public, as the bundles beside it must be reachable; the
        // CA directory itself is created 0700.
        if let Some(parent) = spec.ca_dir.parent() {
            crate::trust::write::create_public_dirs(parent)?;
        }
        Ca::init_in(dir, &opts)?.0
    } else {
        Ca::open_in(dir)?
    };
    let by_name: HashMap<String, &ServerSpec> = spec
        .servers
        .iter()
        .map(|s| (s.name.to_string(), s))
        .collect();
    let mut requests = Vec::new();
    let mut targets = Vec::new();
    for step in &plan.steps {
        if matches!(
            step.action,
            Action::Create | Action::Renew | Action::Reissue
        ) {
            if let Some(s) = by_name.get(&step.server) {
                requests.push(s.request());
                targets.push(s.tls_dir());
            }
        }
    }
    // The bundle directory of each server issued, and the missing directories above it,
    // public (0755), as `fedca trust --out` makes them: the homeserver's user and a web
    // server's workers read the configuration, the chain and `.well-known` in place.
    // Only `tls/` (created 0700 by the commit) and the keys are private. Existing
    // directories are left as they are. (The bundle of a server not issued is made,
    // public too, when its files are written below.)
    crate::store::parallel_map(&targets, |t: &PathBuf| match t.parent() {
        Some(bundle) => crate::trust::write::create_public_dirs(bundle),
        None => Ok(()),
    })?;
    progress.start("issuing", requests.len() as u64);
    // Only the count is kept: the records are read back from the index below.
    let issued: Vec<Issued> = ca.issue_into(&requests, &targets)?;
    let issued = issued.len();
    drop((requests, targets));
    progress.advance(issued as u64);
    progress.finish();
    let revoked = revoke_removed(ca.dir(), &plan)?;

    // The bundles: the index is read once more, after the batch committed.
    let records = ca.dir().read_index()?;
    let mut current: HashMap<&ServerName, &IndexRecord> = HashMap::new();
    for r in &records {
        if r.state == RecordState::Active {
            current.insert(&r.server, r);
        }
    }
    let addresses: Vec<IpNet> = spec
        .servers
        .iter()
        .flat_map(|s| s.addresses.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut federation = crate::trust::Federation::from_records(&records, addresses)?;
    if !spec.open_federation {
        // As `fedca trust` does: homeservers read no CRL, so the allow-list (every
        // server whose newest certificate is not revoked) is what shuts out a server
        // that left the spec.
        federation.allowed = Some(crate::revocation::allowed_in(&records));
    }
    let bundle = crate::trust::TrustBundle::from_ca_dir(ca.dir().root())?;
    let templates = crate::trust::templates::Templates::embedded();
    let mut files_written = 0;
    let mut written = Vec::new();
    // Deduplicated as they come: one federation-wide note per server would be O(n²).
    let mut notes = BTreeSet::new();
    progress.start("bundles", spec.servers.len() as u64);
    // On every core, a slice at a time (for the progress bar).
    for slice in spec.servers.chunks(256) {
        let done = crate::store::parallel_map(slice, |s| {
            let name = s.name.to_string();
            let r = current.get(&s.name).ok_or_else(|| {
                Error::Internal(format!("{name} has no current certificate after apply"))
            })?;
            let info = crate::trust::ServerInfo {
                name: s.name.clone(),
                delegate: s.delegate.clone(),
                dir: s.tls_dir(),
                names: r.names.clone(),
                serial: r.serial.clone(),
                not_after: r.not_after,
            };
            write_bundle(s, &info, &federation, &bundle, &templates)
        })?;
        for (paths, more) in done {
            files_written += paths.len();
            written.extend(paths);
            notes.extend(more);
        }
        progress.advance(slice.len() as u64);
    }
    // Every bundle file written made durable at once (one syncfs for a large run).
    let mut dirs: Vec<PathBuf> = written
        .iter()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    written.append(&mut dirs);
    crate::store::make_durable(&written)?;
    progress.finish();
    Ok(Outcome {
        plan,
        issued,
        revoked,
        files_written,
        notes: notes.into_iter().collect(),
    })
}

/// Revokes the certificates of the servers that left the spec (the plan's `revoke`
/// steps), as `fedca revoke NAME --reason cessation-of-operation` would: every
/// unexpired certificate of each (or its newest, when all expired), through
/// [`crate::revocation::revoke_each`]: one lock, one append, the index read again under
/// the lock (a certificate issued since the plan was made is revoked too). Returns how
/// many certificates it revoked.
fn revoke_removed(dir: &CaDir, plan: &Plan) -> Result<usize> {
    let removed: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Revoke)
        .map(|s| s.server.as_str())
        .collect();
    if removed.is_empty() {
        return Ok(0);
    }
    let outcomes = crate::revocation::revoke_each(
        dir,
        &removed,
        crate::revocation::Reason::CessationOfOperation,
    )?;
    Ok(outcomes.iter().map(|o| o.revoked.len()).sum())
}

/// Writes one server's trust configuration for each of its implementations into its
/// bundle directory: only files whose bytes or mode differ are written, and returns
/// their paths (to be made durable by the caller). The one call site of the trust
/// emission (`trust::emit`, `trust::write_emission_unsynced`).
fn write_bundle(
    s: &ServerSpec,
    info: &crate::trust::ServerInfo,
    federation: &crate::trust::Federation,
    bundle: &crate::trust::TrustBundle,
    templates: &crate::trust::templates::Templates,
) -> Result<(Vec<PathBuf>, Vec<String>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut written = Vec::new();
    let mut notes = Vec::new();
    for target in &s.implementation {
        let cx = crate::trust::EmitContext {
            server: Some(info),
            bind: &s.bind,
            ..crate::trust::EmitContext::new(*target, bundle, federation, templates, &s.bundle)
        };
        let mut emission = crate::trust::emit(*target, &cx)?;
        emission.files.retain(|f| {
            let p = s.bundle.join(&f.path);
            let same_bytes = std::fs::read(&p).is_ok_and(|b| b == f.contents.as_bytes());
            let same_mode = std::fs::symlink_metadata(&p)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o7777 == f.mode);
            !(same_bytes && same_mode)
        });
        if !emission.files.is_empty() {
            // Not synced file by file: apply makes every bundle durable at once.
            written.extend(crate::trust::write_emission_unsynced(&s.bundle, &emission)?);
        }
        notes.append(&mut emission.notes);
    }
    Ok((written, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_are_derived_from_the_servers() {
        let spec = Spec::parse(
            Path::new("/x/net.yaml"),
            "servers:\n  - name: hs1.fed.test\n  - name: 10.0.0.7:8448\n  - name: '[fd00::7]'\n    delegate: matrix.other.test\n",
        )
        .unwrap();
        assert_eq!(
            spec.constraints().to_string(),
            "fed.test, other.test, 10.0.0.0/24, fd00::/64"
        );
        assert_eq!(spec.ca_dir, Path::new("/x/net.fedca/ca"));
        assert_eq!(
            spec.servers[1].bundle,
            Path::new("/x/net.fedca/bundles/10.0.0.7_8448")
        );
    }

    #[test]
    fn spec_errors_name_line_and_column() {
        let e = Spec::parse(
            Path::new("n.yaml"),
            "servers:\n  - name: hs1.fed.test\n  - name: hs_2.fed.test\n",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("n.yaml:3:"), "{text}");
        assert_eq!(e.exit_code(), 2);
        let e = Spec::parse(
            Path::new("n.yaml"),
            "servers:\n  - name: hs1.fed.test\n    colour: blue\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("n.yaml:3:"), "{e}");
        let e = Spec::parse(
            Path::new("n.yaml"),
            "servers:\n  - name: hs1.fed.test\n  - name: hs1.fed.test\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("n.yaml:3:"), "{e}");
    }
}
