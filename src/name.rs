//! Matrix server names.
//!
//! Every name that enters fedca goes through [`ServerName::parse`] (or, for extra
//! certificate names, [`AltName::parse`]). The grammar is the one in the Matrix
//! specification's appendix ("Server Name"):
//!
//! ```text
//! server_name = hostname [ ":" port ]
//! hostname    = IPv4address / "[" IPv6address "]" / dns-name
//! ```
//!
//! fedca is stricter than the bare grammar where the grammar admits text that real
//! resolvers and verifiers disagree about:
//!
//! * IPv4 literals are four decimal octets 0–255 without leading zeros (`010.0.0.1`
//!   is octal to some resolvers and decimal to others).
//! * IPv6 literals are any RFC 4291 text form, normalised to RFC 5952; zone ids
//!   (`%eth0`) are refused because they are meaningless outside one host.
//! * DNS names have labels of 1–63 ASCII letters, digits and hyphens that neither
//!   start nor end with a hyphen, at most 253 characters in all (the grammar says 255,
//!   but DNS and every verifier stop at 253), and a last label
//!   that is not all digits (so `1.2.3` is a malformed IPv4 literal, not a name).
//! * ports are 1–65535 without leading zeros (`:08448` and `:8448` would be two
//!   different server names, since server names are compared as text);
//! * `.onion` names must be Tor v3 addresses whose checksum and version verify;
//!   v2 addresses are refused.
//! * Non-ASCII names are refused, with their A-label (punycode) form suggested.
//!
//! The port never goes into a certificate: [`ServerName::host`] is what a
//! certificate must name.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use sha3::{Digest, Sha3_256};

/// Why a piece of text is not a valid server name or certificate name.
///
/// The `Display` form names the offending input and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    input: String,
    rule: String,
}

impl NameError {
    fn new(input: &str, rule: impl Into<String>) -> Self {
        NameError {
            input: input.to_string(),
            rule: rule.into(),
        }
    }

    /// The text that was refused.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The rule it broke, in words.
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid server name {:?}: {}", self.input, self.rule)
    }
}

impl std::error::Error for NameError {}

/// A validated DNS name (ASCII, at most 253 characters, labels of 1–63 LDH characters).
///
/// The original spelling is kept; comparisons for certificate purposes use
/// [`DnsName::to_ascii_lowercase`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsName(String);

impl DnsName {
    /// Parses and validates a DNS name (no wildcard, no trailing dot).
    pub fn parse(input: &str) -> Result<Self, NameError> {
        check_ascii(input)?;
        validate_dns(input, input)?;
        if is_onion(input) {
            validate_onion(input, input)?;
        }
        Ok(DnsName(input.to_string()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name in lower case, as it goes into a certificate.
    pub fn to_ascii_lowercase(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// Whether this is a Tor `.onion` name (already verified as v3 by `parse`).
    pub fn is_onion(&self) -> bool {
        is_onion(&self.0)
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host part of a server name: what a certificate must be valid for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// An IPv4 literal: becomes an iPAddress SAN, and no SNI is sent.
    Ipv4(Ipv4Addr),
    /// A bracketed IPv6 literal: becomes an iPAddress SAN, and no SNI is sent.
    Ipv6(Ipv6Addr),
    /// A DNS name, including v3 `.onion` names: becomes a dNSName SAN.
    Dns(DnsName),
}

impl Host {
    /// The IP address, for IP literals.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a) => Some(IpAddr::V6(*a)),
            Host::Dns(_) => None,
        }
    }

    /// The host as a verifier is asked to match it: a lower-case DNS name, or an IP
    /// address without brackets.
    pub fn verify_name(&self) -> String {
        match self {
            Host::Ipv4(a) => a.to_string(),
            Host::Ipv6(a) => a.to_string(),
            Host::Dns(d) => d.to_ascii_lowercase(),
        }
    }

    fn parse(input: &str, whole: &str) -> Result<Host, NameError> {
        if let Some(rest) = input.strip_prefix('[') {
            let Some(inner) = rest.strip_suffix(']') else {
                return Err(NameError::new(whole, "an IPv6 literal must end with ']'"));
            };
            return parse_ipv6(inner, whole).map(Host::Ipv6);
        }
        if input.contains(']') {
            return Err(NameError::new(
                whole,
                "']' without '[': an IPv6 literal is written [addr]",
            ));
        }
        if input.contains(':') {
            return Err(NameError::new(
                whole,
                "an IPv6 literal must be in brackets, e.g. [fd00::7]:8448",
            ));
        }
        if looks_like_ipv4(input) {
            return parse_ipv4(input, whole).map(Host::Ipv4);
        }
        validate_dns(input, whole)?;
        if is_onion(input) {
            validate_onion(input, whole)?;
        }
        Ok(Host::Dns(DnsName(input.to_string())))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
            Host::Dns(d) => write!(f, "{d}"),
        }
    }
}

/// A Matrix server name: a host and an optional port.
///
/// ```
/// use fedca::name::{Host, ServerName};
///
/// let n = ServerName::parse("[fd00:0::7]:8448").unwrap();
/// assert_eq!(n.to_string(), "[fd00::7]:8448");
/// assert!(matches!(n.host(), Host::Ipv6(_)));
/// assert_eq!(n.port(), Some(8448));
///
/// let err = ServerName::parse("hs1.fed.test:0").unwrap_err();
/// assert!(err.to_string().contains("port"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerName {
    host: Host,
    port: Option<u16>,
}

/// Refuses a server name that differs from another only in the case of its letters —
/// among `new` (the names of one `issue` call) or against `existing` (the CA's current
/// server names). DNS and certificate name matching ignore case, so `HS4.FED.TEST` and
/// `hs4.fed.test` are one server: issuing both would give it two current certificates
/// under two names. The error names the first. An identical name (a renewal) passes.
pub fn refuse_case_duplicates<'a>(
    new: impl IntoIterator<Item = &'a ServerName>,
    existing: impl IntoIterator<Item = String>,
) -> Result<(), NameError> {
    let mut spellings = CaseSpellings::of_existing(existing);
    for name in new {
        spellings.check(name)?;
        spellings.note(name.to_string(), "given earlier in this call");
    }
    Ok(())
}

/// The spellings of server names by lowercase form, each with where it was seen first:
/// [`refuse_case_duplicates`], and a check of one name at a time (`renew`, where each
/// server is refused on its own). Linear in the number of names.
#[derive(Debug, Default)]
pub struct CaseSpellings(std::collections::HashMap<String, Vec<(String, &'static str)>>);

impl CaseSpellings {
    /// The CA's current server names, in index order (the error names the first).
    pub fn of_existing(existing: impl IntoIterator<Item = String>) -> CaseSpellings {
        let mut spellings = CaseSpellings::default();
        for s in existing {
            spellings.note(s, "which this CA already has");
        }
        spellings
    }

    fn note(&mut self, s: String, where_: &'static str) {
        let spellings = self.0.entry(s.to_ascii_lowercase()).or_default();
        if !spellings.iter().any(|(t, _)| *t == s) {
            spellings.push((s, where_));
        }
    }

    /// Refuses `name` if a name seen so far differs from it only in case.
    pub fn check(&self, name: &ServerName) -> Result<(), NameError> {
        let text = name.to_string();
        if let Some((first, where_)) = self
            .0
            .get(&text.to_ascii_lowercase())
            .and_then(|v| v.iter().find(|(s, _)| *s != text))
        {
            return Err(NameError::new(
                &text,
                format!(
                    "differs only in case from {first:?}, {where_}; DNS and certificate names ignore case, so they are one server: use {first:?}"
                ),
            ));
        }
        Ok(())
    }
}

impl ServerName {
    /// Parses a server name as the Matrix specification defines it (see the module docs
    /// for where fedca is stricter).
    pub fn parse(input: &str) -> Result<Self, NameError> {
        check_ascii(input)?;
        if input.is_empty() {
            return Err(NameError::new(input, "a server name cannot be empty"));
        }
        if input
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
        {
            return Err(NameError::new(
                input,
                "whitespace and control characters are not allowed",
            ));
        }
        let (host_text, port_text) = split_port(input)?;
        let host = Host::parse(host_text, input)?;
        let port = match port_text {
            None => None,
            Some(p) => Some(parse_port(p, input)?),
        };
        Ok(ServerName { host, port })
    }

    /// Builds a server name from parts.
    pub fn new(host: Host, port: Option<u16>) -> Self {
        ServerName { host, port }
    }

    /// The host: what the certificate must be valid for.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The explicit port, if the name has one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// A file-system-safe, collision-free directory name for this server name.
    ///
    /// * DNS names and IPv4 literals are used as they are (`hs1.fed.test`, `10.0.0.7`);
    /// * IPv6 literals become `ipv6_` followed by the RFC 5952 form with `:` replaced
    ///   by `-` (`ipv6_fd00--7`);
    /// * an explicit port is appended as `_PORT` (`10.0.0.7_8448`).
    ///
    /// DNS names and IPv4 literals never contain `_`, the IPv6 form is canonical and
    /// prefixed, and ports are printed in canonical decimal, so two different server
    /// names never share a directory name. The result never contains `/`, `\`, `:`,
    /// NUL, and never starts with `.`.
    pub fn dir_name(&self) -> String {
        let mut out = match &self.host {
            Host::Ipv4(a) => a.to_string(),
            Host::Ipv6(a) => format!("ipv6_{}", a.to_string().replace(':', "-")),
            Host::Dns(d) => d.as_str().to_string(),
        };
        if let Some(p) = self.port {
            out.push('_');
            out.push_str(&p.to_string());
        }
        out
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl FromStr for ServerName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServerName::parse(s)
    }
}

/// An extra name for a certificate (`--alt`): a DNS name, a wildcard DNS name
/// (`*.fed.test`) or an IP address (bare or bracketed). Ports are refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AltName {
    /// A plain host (DNS name or IP literal).
    Host(Host),
    /// A wildcard DNS name: `*.` followed by the base name (stored without `*.`).
    Wildcard(DnsName),
}

impl AltName {
    /// Parses an `--alt` value.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        check_ascii(input)?;
        if input.is_empty() {
            return Err(NameError::new(input, "a name cannot be empty"));
        }
        if let Some(base) = input.strip_prefix("*.") {
            if base.contains('*') {
                return Err(NameError::new(
                    input,
                    "a wildcard may only be the whole left-most label (*.example.org)",
                ));
            }
            validate_dns(base, input)?;
            if base.split('.').count() < 2 {
                return Err(NameError::new(
                    input,
                    "a wildcard needs at least two labels after '*.' (verifiers refuse *.tld)",
                ));
            }
            if is_onion(base) {
                validate_onion(base, input)?;
            }
            return Ok(AltName::Wildcard(DnsName(base.to_string())));
        }
        if input.contains('*') {
            return Err(NameError::new(
                input,
                "a wildcard may only be the whole left-most label (*.example.org)",
            ));
        }
        // A bare IPv6 address is accepted here as a convenience.
        if !input.starts_with('[') && input.contains(':') {
            if let Ok(a) = Ipv6Addr::from_str(input) {
                refuse_embedded_ipv4(a, input)?;
                return Ok(AltName::Host(Host::Ipv6(a)));
            }
        }
        let name = ServerName::parse(input)?;
        if name.port().is_some() {
            return Err(NameError::new(
                input,
                "a certificate name has no port: drop the ':PORT'",
            ));
        }
        Ok(AltName::Host(name.host))
    }

    /// The name as it goes into a certificate (`*.x` for wildcards, IPs without brackets).
    pub fn san_text(&self) -> String {
        match self {
            AltName::Host(h) => h.verify_name(),
            AltName::Wildcard(d) => format!("*.{}", d.to_ascii_lowercase()),
        }
    }
}

impl fmt::Display for AltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AltName::Host(h) => write!(f, "{h}"),
            AltName::Wildcard(d) => write!(f, "*.{d}"),
        }
    }
}

/// Splits `host[:port]`, honouring brackets around IPv6 literals.
fn split_port(input: &str) -> Result<(&str, Option<&str>), NameError> {
    if input.starts_with('[') {
        return match input.find(']') {
            None => Err(NameError::new(input, "an IPv6 literal must end with ']'")),
            Some(end) => {
                let rest = &input[end + 1..];
                if rest.is_empty() {
                    Ok((input, None))
                } else if let Some(p) = rest.strip_prefix(':') {
                    Ok((&input[..=end], Some(p)))
                } else {
                    Err(NameError::new(
                        input,
                        "only ':PORT' may follow an IPv6 literal's ']'",
                    ))
                }
            }
        };
    }
    match input.matches(':').count() {
        0 => Ok((input, None)),
        1 => {
            let (h, p) = input.split_once(':').unwrap_or((input, ""));
            Ok((h, Some(p)))
        }
        _ => Err(NameError::new(
            input,
            "an IPv6 literal must be in brackets, e.g. [fd00::7]:8448",
        )),
    }
}

fn parse_port(p: &str, whole: &str) -> Result<u16, NameError> {
    if p.is_empty() {
        return Err(NameError::new(whole, "the port after ':' is empty"));
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NameError::new(
            whole,
            format!("the port {p:?} must be plain decimal digits"),
        ));
    }
    if p.len() > 1 && p.starts_with('0') {
        return Err(NameError::new(
            whole,
            format!(
                "the port {p} has a leading zero: server names are compared as text, so write {}",
                p.trim_start_matches('0')
            ),
        ));
    }
    if p.len() > 5 {
        return Err(NameError::new(
            whole,
            format!("the port {p:?} has more than 5 digits"),
        ));
    }
    match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(NameError::new(
            whole,
            format!("the port {p} is outside 1-65535"),
        )),
    }
}

fn check_ascii(input: &str) -> Result<(), NameError> {
    if input.is_ascii() {
        return Ok(());
    }
    let host = input.rsplit_once(':').map_or(input, |(h, _)| h);
    let suggestion = match crate::punycode::to_ascii_suggestion(host) {
        Some(a) => format!("; use its A-label (punycode) form {a:?}"),
        None => String::new(),
    };
    Err(NameError::new(
        input,
        format!("server names must be ASCII (Matrix appendix grammar){suggestion}"),
    ))
}

/// True when the text has the shape `d.d.d.d` with only digits and dots: then it must
/// be a valid IPv4 literal (and a name whose last label is all digits is not a DNS
/// name either).
fn looks_like_ipv4(s: &str) -> bool {
    let last = s.rsplit('.').next().unwrap_or("");
    !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())
}

fn parse_ipv4(s: &str, whole: &str) -> Result<Ipv4Addr, NameError> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return Err(NameError::new(
            whole,
            format!(
                "{s:?} is not an IPv4 literal (needs four decimal octets) and a DNS name's last label cannot be all digits"
            ),
        ));
    }
    let mut octets = [0u8; 4];
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NameError::new(
                whole,
                format!("IPv4 octet {part:?} must be 1-3 decimal digits"),
            ));
        }
        if part.len() > 1 && part.starts_with('0') {
            return Err(NameError::new(
                whole,
                format!("IPv4 octet {part:?} has a leading zero (read as octal by some resolvers)"),
            ));
        }
        let v: u32 = part.parse().unwrap_or(256);
        if v > 255 {
            return Err(NameError::new(
                whole,
                format!("IPv4 octet {part} is greater than 255"),
            ));
        }
        octets[i] = v as u8;
    }
    Ok(Ipv4Addr::from(octets))
}

fn parse_ipv6(s: &str, whole: &str) -> Result<Ipv6Addr, NameError> {
    if s.contains('%') {
        return Err(NameError::new(
            whole,
            "IPv6 zone ids (%...) are not allowed in server names",
        ));
    }
    if s.is_empty() {
        return Err(NameError::new(
            whole,
            "the IPv6 literal between [ ] is empty",
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    {
        return Err(NameError::new(
            whole,
            format!("{s:?} is not an IPv6 address (only hex digits, ':' and '.' are allowed)"),
        ));
    }
    let a = Ipv6Addr::from_str(s).map_err(|_| {
        NameError::new(
            whole,
            format!("{s:?} is not a valid IPv6 address (RFC 4291 text form)"),
        )
    })?;
    refuse_embedded_ipv4(a, whole)?;
    Ok(a)
}

/// Refuses IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`, deprecated
/// by RFC 4291) IPv6 addresses: they name an IPv4 host, and Go's crypto/x509 matches
/// them against the IPv4 literal, so a certificate for one would be an IPv4 name that
/// the CA's IPv4 constraints never see.
fn refuse_embedded_ipv4(a: Ipv6Addr, whole: &str) -> Result<(), NameError> {
    let seg = a.segments();
    let v4 = if let Some(v4) = a.to_ipv4_mapped() {
        Some(("an IPv4-mapped IPv6 address", v4))
    } else if seg[..6] == [0; 6] && (seg[6] != 0 || seg[7] > 1) {
        Some((
            "an IPv4-compatible IPv6 address (deprecated)",
            Ipv4Addr::new(
                (seg[6] >> 8) as u8,
                seg[6] as u8,
                (seg[7] >> 8) as u8,
                seg[7] as u8,
            ),
        ))
    } else {
        None
    };
    match v4 {
        Some((what, v4)) => Err(NameError::new(
            whole,
            format!("{a} is {what}: it names the IPv4 host {v4}; write {v4} instead"),
        )),
        None => Ok(()),
    }
}

fn validate_dns(name: &str, whole: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::new(whole, "the host name is empty"));
    }
    if name.len() > 253 {
        return Err(NameError::new(
            whole,
            format!(
                "a DNS name is at most 253 characters, the most DNS and every verifier accept (this one has {})",
                name.len()
            ),
        ));
    }
    if name.ends_with('.') {
        return Err(NameError::new(
            whole,
            "a trailing dot is not allowed in a server name",
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(NameError::new(
                whole,
                "a DNS name cannot have an empty label ('..' or a leading '.')",
            ));
        }
        if label.len() > 63 {
            return Err(NameError::new(
                whole,
                format!("DNS label {label:?} is longer than 63 characters"),
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(NameError::new(
                whole,
                format!("DNS label {label:?} contains {bad:?}: only letters, digits and '-' are allowed"),
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(NameError::new(
                whole,
                format!("DNS label {label:?} starts or ends with '-'"),
            ));
        }
    }
    let last = name.rsplit('.').next().unwrap_or("");
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NameError::new(
            whole,
            "the last label of a DNS name cannot be all digits",
        ));
    }
    Ok(())
}

fn is_onion(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "onion" || lower.ends_with(".onion")
}

/// Length of a v3 onion address label (base32 of 35 bytes).
pub const ONION_V3_LEN: usize = 56;

fn validate_onion(name: &str, whole: &str) -> Result<(), NameError> {
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(NameError::new(
            whole,
            "'onion' alone is not a host: a v3 address is 56 base32 characters followed by .onion",
        ));
    }
    let addr = labels[labels.len() - 2];
    match addr.len() {
        16 => {
            return Err(NameError::new(
                whole,
                format!(
                    "{addr:?} is a v2 onion address (16 characters); Tor retired v2 onion services in 2021 — use the service's v3 address (56 characters)"
                ),
            ))
        }
        ONION_V3_LEN => {}
        n => {
            return Err(NameError::new(
                whole,
                format!("onion address {addr:?} has {n} characters; a v3 address has 56 base32 characters"),
            ))
        }
    }
    let decoded = data_encoding::BASE32_NOPAD
        .decode(addr.to_ascii_uppercase().as_bytes())
        .map_err(|_| {
            NameError::new(
                whole,
                format!("onion address {addr:?} is not base32 (letters a-z and digits 2-7)"),
            )
        })?;
    if decoded.len() != 35 {
        return Err(NameError::new(
            whole,
            "onion address does not decode to 35 bytes",
        ));
    }
    let (pubkey, rest) = decoded.split_at(32);
    let (checksum, version) = rest.split_at(2);
    if version[0] != 3 {
        return Err(NameError::new(
            whole,
            format!(
                "onion address version byte is {} (v3 addresses have 3)",
                version[0]
            ),
        ));
    }
    if checksum != onion_checksum(pubkey, 3) {
        return Err(NameError::new(
            whole,
            "onion address checksum does not verify (SHA3-256 over \".onion checksum\" | pubkey | version): a character is wrong",
        ));
    }
    Ok(())
}

fn onion_checksum(pubkey: &[u8], version: u8) -> [u8; 2] {
    let mut h = Sha3_256::new();
    h.update(b".onion checksum");
    h.update(pubkey);
    h.update([version]);
    let d = h.finalize();
    [d[0], d[1]]
}

/// Builds the v3 onion address (`<56 chars>.onion`) of an ed25519 public key, as Tor's
/// rend-spec-v3 §6 defines it.
pub fn onion_address_from_pubkey(pubkey: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(35);
    bytes.extend_from_slice(pubkey);
    bytes.extend_from_slice(&onion_checksum(pubkey, 3));
    bytes.push(3);
    format!(
        "{}.onion",
        data_encoding::BASE32_NOPAD
            .encode(&bytes)
            .to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn onion(seed: u8) -> String {
        use ring::signature::{Ed25519KeyPair, KeyPair};
        let kp = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
        let pk: [u8; 32] = kp.public_key().as_ref().try_into().unwrap();
        onion_address_from_pubkey(&pk)
    }

    #[test]
    fn valid_names() {
        let o = onion(7);
        let cases: Vec<(String, &str, Option<u16>)> = vec![
            ("matrix.org".into(), "matrix.org", None),
            ("matrix.org:8888".into(), "matrix.org", Some(8888)),
            ("1.2.3.4".into(), "1.2.3.4", None),
            ("1.2.3.4:1234".into(), "1.2.3.4", Some(1234)),
            ("[1234:5678::abcd]".into(), "[1234:5678::abcd]", None),
            (
                "[1234:5678::abcd]:5678".into(),
                "[1234:5678::abcd]",
                Some(5678),
            ),
            ("localhost".into(), "localhost", None),
            ("hs1.fed.test".into(), "hs1.fed.test", None),
            ("HS1.Fed.Test".into(), "HS1.Fed.Test", None),
            ("a-b.c-d.e".into(), "a-b.c-d.e", None),
            ("0.0.0.0".into(), "0.0.0.0", None),
            (
                "255.255.255.255:65535".into(),
                "255.255.255.255",
                Some(65535),
            ),
            ("10.0.0.7:1".into(), "10.0.0.7", Some(1)),
            ("[::1]".into(), "[::1]", None),
            ("[::]".into(), "[::]", None),
            ("[FD00:0:0:0:0:0:0:7]".into(), "[fd00::7]", None),
            ("[2001:db8::1]:8448".into(), "[2001:db8::1]", Some(8448)),
            ("x".into(), "x", None),
            ("1x.com".into(), "1x.com", None),
            ("123.abc".into(), "123.abc", None),
            (
                "xn--bcher-kva.example".into(),
                "xn--bcher-kva.example",
                None,
            ),
            (o.to_string(), o.as_str(), None),
            (format!("{o}:8448"), o.as_str(), Some(8448)),
            (format!("matrix.{o}"), "", None),
            (format!("{}.{}", "a".repeat(63), "b".repeat(63)), "", None),
            (
                format!(
                    "{}.{}.{}.{}",
                    "a".repeat(63),
                    "b".repeat(63),
                    "c".repeat(63),
                    "d".repeat(61)
                ),
                "",
                None,
            ),
        ];
        for (input, host, port) in &cases {
            let n = ServerName::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            if !host.is_empty() {
                assert_eq!(n.host().to_string(), *host, "{input}");
            }
            assert_eq!(n.port(), *port, "{input}");
        }
        assert!(cases.len() >= 25);
    }

    #[test]
    fn invalid_names() {
        let o = onion(9);
        let mut bad_onion = o.clone();
        // Flip one character of the address part: the checksum must catch it.
        let first = bad_onion.remove(0);
        bad_onion.insert(0, if first == 'a' { 'b' } else { 'a' });
        let mut v2_ver = {
            use ring::signature::{Ed25519KeyPair, KeyPair};
            let kp = Ed25519KeyPair::from_seed_unchecked(&[3; 32]).unwrap();
            let mut bytes = kp.public_key().as_ref().to_vec();
            bytes.extend_from_slice(&onion_checksum(kp.public_key().as_ref(), 2));
            bytes.push(2);
            data_encoding::BASE32_NOPAD
                .encode(&bytes)
                .to_ascii_lowercase()
        };
        v2_ver.push_str(".onion");
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "empty"),
            (":8448".into(), "empty"),
            ("matrix.org:".into(), "empty"),
            ("[::ffff:192.0.2.1]".into(), "write 192.0.2.1 instead"),
            ("[::ffff:c000:201]:8448".into(), "IPv4-mapped"),
            ("[::192.0.2.1]".into(), "IPv4-compatible"),
            ("matrix.org:0".into(), "1-65535"),
            ("matrix.org:65536".into(), "1-65535"),
            ("matrix.org:123456".into(), "more than 5"),
            ("matrix.org:+80".into(), "decimal"),
            ("matrix.org:80a".into(), "decimal"),
            ("matrix.org:80:80".into(), "brackets"),
            ("1.2.3.256".into(), "greater than 255"),
            ("1.2.3".into(), "four decimal octets"),
            ("1.2.3.4.5".into(), "four decimal octets"),
            ("01.2.3.4".into(), "leading zero"),
            ("1..3.4".into(), "1-3 decimal digits"),
            ("1234::5678".into(), "brackets"),
            ("[1234::5678".into(), "']'"),
            ("1234::5678]".into(), "brackets"),
            ("[1234::5678]x".into(), "only ':PORT'"),
            ("[fe80::1%eth0]".into(), "zone"),
            ("[1:2:3:4:5:6:7:8:9]".into(), "not a valid IPv6"),
            ("[::g]".into(), "not an IPv6"),
            ("[]".into(), "empty"),
            ("[1.2.3.4]".into(), "not a valid IPv6"),
            ("-matrix.org".into(), "starts or ends"),
            ("matrix-.org".into(), "starts or ends"),
            ("matrix..org".into(), "empty label"),
            (".matrix.org".into(), "empty label"),
            ("matrix.org.".into(), "trailing dot"),
            ("mat_rix.org".into(), "'_'"),
            ("matrix.org/path".into(), "'/'"),
            ("*.matrix.org".into(), "'*'"),
            ("user@matrix.org".into(), "'@'"),
            ("matrix org".into(), "whitespace"),
            ("matrix.org\n".into(), "whitespace"),
            (format!("{}.org", "a".repeat(64)), "longer than 63"),
            (format!("{}.org", "abc.".repeat(64)), "253"),
            (
                format!(
                    "{}.{}.{}.{}",
                    "a".repeat(63),
                    "b".repeat(63),
                    "c".repeat(63),
                    "d".repeat(62)
                ),
                "253",
            ),
            ("matrix.org:08448".into(), "leading zero"),
            ("bücher.example".into(), "xn--bcher-kva.example"),
            ("例え.テスト".into(), "punycode"),
            ("expyuzz4wqqyqhjn.onion".into(), "v2"),
            ("abc.onion".into(), "56 base32"),
            (bad_onion, "checksum"),
            (v2_ver, "version byte"),
            (format!("{}.onion", "1".repeat(56)), "base32"),
            ("onion".into(), "56 base32"),
            ("http://matrix.org".into(), "decimal"),
        ];
        for (input, rule) in &cases {
            let e = ServerName::parse(input).expect_err(input);
            let msg = e.to_string();
            assert!(
                msg.contains(rule),
                "{input:?}: message {msg:?} does not mention {rule:?}"
            );
            assert!(
                msg.contains(&format!("{input:?}")),
                "{msg:?} does not name the input"
            );
        }
        assert!(cases.len() >= 40);
    }

    #[test]
    fn onion_vectors_from_real_keys() {
        // rend-spec-v3 §6: the address of an ed25519 key round-trips and verifies.
        for seed in 0..16u8 {
            let o = onion(seed);
            assert_eq!(o.len(), 56 + ".onion".len());
            let n = ServerName::parse(&o).unwrap();
            assert!(matches!(n.host(), Host::Dns(d) if d.is_onion()));
            // Upper case is the same address.
            ServerName::parse(&o.to_ascii_uppercase()).unwrap();
        }
        // A published v3 address (the Tor Project's website), checksum verified.
        ServerName::parse("2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion")
            .unwrap();
    }

    #[test]
    fn dir_names_are_distinct_and_safe() {
        let names = [
            "hs1.fed.test",
            "hs1.fed.test:8448",
            "10.0.0.7",
            "10.0.0.7:8448",
            "[fd00::7]",
            "[fd00::7]:8448",
            "[1:2:3:4:5:6:7:8]",
            "ipv6-fd00--7",
        ];
        let dirs: std::collections::BTreeSet<String> = names
            .iter()
            .map(|n| ServerName::parse(n).unwrap().dir_name())
            .collect();
        assert_eq!(dirs.len(), names.len());
        for d in &dirs {
            assert!(!d.starts_with('.'));
            assert!(!d.contains(['/', '\\', ':', '\0']));
        }
        assert_eq!(
            ServerName::parse("[fd00::7]:8448").unwrap().dir_name(),
            "ipv6_fd00--7_8448"
        );
    }

    #[test]
    fn alt_names() {
        assert_eq!(
            AltName::parse("*.fed.test").unwrap().san_text(),
            "*.fed.test"
        );
        assert_eq!(AltName::parse("fd00::1").unwrap().san_text(), "fd00::1");
        assert_eq!(AltName::parse("[fd00::1]").unwrap().san_text(), "fd00::1");
        assert!(AltName::parse("::ffff:8.8.8.8").is_err());
        assert!(AltName::parse("[::ffff:8.8.8.8]").is_err());
        assert!(AltName::parse("*.test").is_err());
        assert!(AltName::parse("a.*.test").is_err());
        assert!(AltName::parse("**.fed.test").is_err());
        assert!(AltName::parse("hs1.fed.test:443").is_err());
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn label() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
        }

        fn dns() -> impl Strategy<Value = String> {
            (
                prop::collection::vec(label(), 0..4),
                "[a-zA-Z][a-zA-Z0-9-]{0,20}[a-zA-Z0-9]",
            )
                .prop_map(|(mut labels, tld)| {
                    labels.push(tld);
                    labels.join(".")
                })
                .prop_filter("at most 253 characters", |s| s.len() <= 253)
        }

        fn host() -> impl Strategy<Value = String> {
            prop_oneof![
                dns(),
                any::<u32>().prop_map(|v| Ipv4Addr::from(v).to_string()),
                any::<u128>().prop_map(|v| format!("[{}]", Ipv6Addr::from(v))),
                any::<[u8; 32]>().prop_map(|k| onion_address_from_pubkey(&k)),
            ]
        }

        proptest! {
            #[test]
            fn display_then_parse_is_identity(h in host(), port in proptest::option::of(1u16..)) {
                let text = match port { Some(p) => format!("{h}:{p}"), None => h };
                let name = ServerName::parse(&text).unwrap();
                prop_assert_eq!(name.to_string(), text.clone());
                prop_assert_eq!(ServerName::parse(&name.to_string()).unwrap(), name);
            }

            #[test]
            fn parse_never_panics(s in "\\PC{0,80}") {
                let _ = ServerName::parse(&s);
                let _ = AltName::parse(&s);
            }
        }
    }
}
