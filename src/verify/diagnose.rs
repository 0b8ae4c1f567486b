//! Turning a rustls refusal into a stable kind and one line an admin can act on, by
//! reading the chain with x509-parser; and the checks webpki skips (see the parent
//! module's documentation).

use std::net::IpAddr;

use rustls::CertificateError;
use x509_parser::prelude::*;

use super::{Diagnosis, ErrorKind};
use crate::name::Host;
use crate::x509::{self, dn_label, san_names, time_text, unix_text, ConstrainedName, Subtree};

/// Everything the refinement looks at.
pub(super) struct Context<'c, 'a> {
    pub(super) chain: &'c [X509Certificate<'a>],
    pub(super) roots: &'c [X509Certificate<'c>],
    pub(super) host: &'c Host,
    pub(super) at: i64,
}

/// Whether `issuer` could have issued `child`: names match, and key identifiers match
/// when both are present.
fn issues(issuer: &X509Certificate<'_>, child: &X509Certificate<'_>) -> bool {
    if issuer.subject().as_raw() != child.issuer().as_raw() {
        return false;
    }
    match (x509::subject_key_id(issuer), x509::authority_key_id(child)) {
        (Some(ski), Some(aki)) => ski == aki,
        _ => true,
    }
}

fn quote_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names_text(c: &X509Certificate<'_>) -> String {
    let names = san_names(c);
    if names.is_empty() {
        format!("\"{}\"", dn_label(c.subject()))
    } else {
        names.join(", ")
    }
}

impl Context<'_, '_> {
    fn leaf(&self) -> &X509Certificate<'_> {
        &self.chain[0]
    }

    fn label(&self, c: &X509Certificate<'_>) -> String {
        format!("\"{}\"", dn_label(c.subject()))
    }

    fn trusted_text(&self) -> String {
        let names: Vec<String> = self.roots.iter().map(|r| dn_label(r.subject())).collect();
        quote_list(&names)
    }

    fn host_text(&self) -> String {
        self.host.verify_name()
    }

    /// The path through the chain from the leaf, following issuer links (each
    /// certificate once) until a certificate a trusted root issues, or a self-issued
    /// one. Returns chain indices.
    fn path(&self) -> Vec<usize> {
        let mut path = vec![0];
        loop {
            let cur = &self.chain[path[path.len() - 1]];
            if cur.subject().as_raw() == cur.issuer().as_raw() || self.root_for(cur).is_some() {
                break;
            }
            let next =
                (1..self.chain.len()).find(|i| !path.contains(i) && issues(&self.chain[*i], cur));
            match next {
                Some(i) => path.push(i),
                None => break,
            }
        }
        path
    }

    /// The trusted root that issues `c`, if any.
    fn root_for(&self, c: &X509Certificate<'_>) -> Option<&X509Certificate<'_>> {
        self.roots.iter().find(|r| issues(r, c))
    }

    pub(super) fn diagnose(&self, err: &rustls::Error) -> Diagnosis {
        use CertificateError as CE;
        let rustls::Error::InvalidCertificate(ce) = err else {
            return Diagnosis::new(ErrorKind::Other, format!("rustls refuses the chain: {err}"));
        };
        #[allow(deprecated)]
        match ce {
            CE::BadEncoding => Diagnosis::new(
                ErrorKind::Malformed,
                format!("rustls cannot decode the certificate ({err}); re-issue it or check the file is the server's certificate"),
            ),
            CE::Expired | CE::ExpiredContext { .. } => self.expired(),
            CE::NotValidYet | CE::NotValidYetContext { .. } => self.not_yet_valid(),
            CE::UnknownIssuer => self.unknown_issuer(),
            CE::BadSignature => self.bad_signature(),
            CE::UnsupportedSignatureAlgorithm
            | CE::UnsupportedSignatureAlgorithmContext { .. }
            | CE::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                self.unsupported_signature()
            }
            CE::NotValidForName | CE::NotValidForNameContext { .. } => self.name_mismatch(),
            CE::InvalidPurpose | CE::InvalidPurposeContext { .. } => self.wrong_eku(),
            CE::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
                Some(w) => self.diagnose_webpki(w, err),
                None => Diagnosis::new(ErrorKind::Other, format!("rustls refuses the chain: {err}")),
            },
            _ => Diagnosis::new(ErrorKind::Other, format!("rustls refuses the chain: {err}")),
        }
    }

    fn diagnose_webpki(&self, w: &webpki::Error, err: &rustls::Error) -> Diagnosis {
        use webpki::Error as W;
        #[allow(deprecated)]
        match w {
            W::CaUsedAsEndEntity => self.ca_as_leaf(),
            W::EndEntityUsedAsCa => self.intermediate_not_ca(),
            W::PathLenConstraintViolated | W::MaximumPathDepthExceeded => self.path_length(),
            W::NameConstraintViolation => self.name_constraints(),
            W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) | W::EmptyEkuExtension => {
                self.wrong_eku()
            }
            W::InvalidSignatureForPublicKey | W::SignatureAlgorithmMismatch => self.bad_signature(),
            W::BadDer
            | W::BadDerTime
            | W::MalformedExtensions
            | W::ExtensionValueInvalid
            | W::MalformedDnsIdentifier
            | W::MalformedNameConstraint
            | W::InvalidNetworkMaskConstraint
            | W::InvalidSerialNumber
            | W::UnsupportedCertVersion
            | W::TrailingData(_) => Diagnosis::new(
                ErrorKind::Malformed,
                format!("webpki cannot accept how a certificate of the chain is encoded: {w}; re-issue it with a standard tool (fedca issue)"),
            ),
            _ => Diagnosis::new(ErrorKind::Other, format!("rustls refuses the chain: {err}")),
        }
    }

    fn expired(&self) -> Diagnosis {
        let leaf = self.leaf();
        let v = leaf.validity();
        if v.not_after.timestamp() < self.at {
            return Diagnosis::new(
                ErrorKind::Expired,
                format!(
                    "the certificate for {} expired on {} (valid from {} to {}; checked at {}): issue a new one (fedca issue {}) and reload the homeserver",
                    names_text(leaf),
                    time_text(v.not_after),
                    time_text(v.not_before),
                    time_text(v.not_after),
                    unix_text(self.at),
                    self.host
                ),
            );
        }
        for c in self.path().iter().skip(1).map(|i| &self.chain[*i]) {
            let v = c.validity();
            if v.not_after.timestamp() < self.at {
                return Diagnosis::new(
                    ErrorKind::ExpiredIntermediate,
                    format!(
                        "the intermediate CA {} in the chain expired on {} (valid from {} to {}; checked at {}), although the server certificate itself is still valid: put the current intermediate in the served chain (fullchain.pem), or re-issue the certificate under a valid intermediate",
                        self.label(c),
                        time_text(v.not_after),
                        time_text(v.not_before),
                        time_text(v.not_after),
                        unix_text(self.at)
                    ),
                );
            }
        }
        // Some other chain certificate (not on the name path) expired.
        for c in self.chain.iter().skip(1) {
            let v = c.validity();
            if v.not_after.timestamp() < self.at {
                return Diagnosis::new(
                    ErrorKind::ExpiredIntermediate,
                    format!(
                        "the CA certificate {} in the chain expired on {} (valid from {} to {}; checked at {}): replace it in the served chain with the current one",
                        self.label(c),
                        time_text(v.not_after),
                        time_text(v.not_before),
                        time_text(v.not_after),
                        unix_text(self.at)
                    ),
                );
            }
        }
        Diagnosis::new(
            ErrorKind::Expired,
            format!(
                "a certificate of the chain has expired (checked at {}): renew it",
                unix_text(self.at)
            ),
        )
    }

    fn not_yet_valid(&self) -> Diagnosis {
        let advice =
            "check this machine's clock and the issuing machine's clock, or wait until then";
        for (i, c) in self.chain.iter().enumerate() {
            let v = c.validity();
            if v.not_before.timestamp() > self.at {
                let what = if i == 0 {
                    format!("the certificate for {}", names_text(c))
                } else {
                    format!("the intermediate CA {}", self.label(c))
                };
                return Diagnosis::new(
                    ErrorKind::NotYetValid,
                    format!(
                        "{what} is not valid until {} (valid from {} to {}; checked at {}): {advice}",
                        time_text(v.not_before),
                        time_text(v.not_before),
                        time_text(v.not_after),
                        unix_text(self.at)
                    ),
                );
            }
        }
        Diagnosis::new(
            ErrorKind::NotYetValid,
            format!(
                "a certificate of the chain is not valid yet at {}: {advice}",
                unix_text(self.at)
            ),
        )
    }

    fn unknown_issuer(&self) -> Diagnosis {
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        let trusted = self.trusted_text();
        let top_is_leaf = path.len() == 1;
        let what = if top_is_leaf {
            format!("the certificate for {}", names_text(top))
        } else {
            format!("the chain's last certificate {}", self.label(top))
        };
        if top.subject().as_raw() == top.issuer().as_raw() {
            let detail = if top_is_leaf {
                format!("{what} is self-signed (issuer = subject {}), and a self-signed certificate is trusted by no federation peer; trusted roots: {trusted}. Issue a certificate from your federation's CA (fedca issue {}) instead", self.label(top), self.host)
            } else {
                format!("the chain ends at the root {} that the server sends itself, but a root sent by the server is never trusted, and it is not among the trusted roots ({trusted}): trust that root on every federation peer, or re-issue the certificate from a trusted CA", self.label(top))
            };
            return Diagnosis::new(ErrorKind::UnknownIssuer, detail);
        }
        let issuer = dn_label(top.issuer());
        // The path stopped because the only issuer of its last certificate is already
        // on it: the CA certificates issue each other and never reach a root.
        if let Some(&back) = path[..path.len() - 1]
            .iter()
            .find(|&&i| issues(&self.chain[i], top))
        {
            // The leaf itself may be in the loop (it issues a CA that issues it).
            let who = if back == 0 {
                "the server's certificate and these CA certificates certify each other"
            } else {
                "these CA certificates certify each other (cross-signed both ways)"
            };
            let mut cycle: Vec<String> = path[path.iter().position(|&i| i == back).unwrap_or(0)..]
                .iter()
                .map(|&i| self.label(&self.chain[i]))
                .collect();
            cycle.push(self.label(&self.chain[back]));
            return Diagnosis::new(
                ErrorKind::ChainLoop,
                format!("the chain loops: following issuers goes {} again and never reaches a trusted root ({trusted}); {who}. Serve a chain that ends at a certificate issued by a trusted root", cycle.join(" → ")),
            );
        }
        // A trusted root with the same name but another key: a re-created CA.
        if self
            .roots
            .iter()
            .any(|r| r.subject().as_raw() == top.issuer().as_raw())
        {
            return Diagnosis::new(
                ErrorKind::UnknownIssuer,
                format!("{what} names the issuer \"{issuer}\", and a trusted root has that name but a different key (its key identifier does not match): the CA was probably re-created (fedca init {}) or the certificate comes from another CA with the same name. Trusted roots: {trusted}. Re-issue the certificate from the current CA, or trust the CA that issued it", crate::error::Field::Force.mention()),
            );
        }
        // Certificates in the chain that are not on the path, but lead to a trusted
        // root: the server sends part of a chain with a link missing.
        let off_path: Vec<&X509Certificate<'_>> = (1..self.chain.len())
            .filter(|i| !path.contains(i))
            .map(|i| &self.chain[i])
            .collect();
        let linked_to_trust = off_path.iter().any(|c| {
            self.root_for(c).is_some()
                || self
                    .roots
                    .iter()
                    .any(|r| r.subject().as_raw() == c.subject().as_raw())
        });
        let missing = format!("{what} is issued by \"{issuer}\", which is neither in the chain nor a trusted root ({trusted})");
        let fix_chain = format!("if \"{issuer}\" is an intermediate CA, the server must send it after its certificate (serve fullchain.pem, not cert.pem); if it is a root, trust it on every federation peer");
        if linked_to_trust {
            return Diagnosis::new(
                ErrorKind::MissingIntermediate,
                format!("{missing}: the intermediate \"{issuer}\" is missing from the chain the server sends — {fix_chain}"),
            );
        }
        Diagnosis::new(ErrorKind::UnknownIssuer, format!("{missing}: {fix_chain}"))
    }

    fn bad_signature(&self) -> Diagnosis {
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        // A trusted root with the issuer's name but another key (the key identifiers
        // say so): not a forged signature but a different CA.
        if self.root_for(top).is_none() {
            if let Some(aki) = x509::authority_key_id(top) {
                let same_name = self
                    .roots
                    .iter()
                    .find(|r| r.subject().as_raw() == top.issuer().as_raw());
                if let Some(root) = same_name {
                    if x509::subject_key_id(root).is_some_and(|ski| ski != aki) {
                        return self.unknown_issuer();
                    }
                }
            }
        }
        for (pos, i) in path.iter().enumerate() {
            let c = &self.chain[*i];
            let issuer = match path.get(pos + 1) {
                Some(j) => Some(&self.chain[*j]),
                None => self.root_for(c).or_else(|| {
                    self.roots
                        .iter()
                        .find(|r| r.subject().as_raw() == c.issuer().as_raw())
                }),
            };
            let Some(issuer) = issuer else { continue };
            if let Some(d) = self.weak_issuer_key(c, issuer) {
                return d;
            }
            if c.verify_signature(Some(issuer.public_key())).is_err() {
                return Diagnosis::new(
                    ErrorKind::BadSignature,
                    format!("the signature on {} does not verify with the key of its issuer {}: the certificate was altered after signing, or it was signed by a different CA that has the same name; re-issue it from the CA you trust", self.label(c), self.label(issuer)),
                );
            }
        }
        Diagnosis::new(
            ErrorKind::BadSignature,
            format!(
                "a signature in the chain does not verify (issuer of the leaf: \"{}\"): re-issue the certificate",
                dn_label(self.leaf().issuer())
            ),
        )
    }

    fn weak_issuer_key(
        &self,
        c: &X509Certificate<'_>,
        issuer: &X509Certificate<'_>,
    ) -> Option<Diagnosis> {
        let key = x509::key_desc(issuer.public_key());
        (key.key_type.starts_with("rsa") && key.bits > 0 && key.bits < 2048).then(|| {
            Diagnosis::new(
                ErrorKind::UnsupportedSignatureAlgorithm,
                format!("{} is signed by {} with an RSA key of {} bits; rustls accepts RSA signatures from 2048 bits up: re-create that CA with a stronger key", self.label(c), self.label(issuer), key.bits),
            )
        })
    }

    fn unsupported_signature(&self) -> Diagnosis {
        for c in self.chain {
            let id = c.signature_algorithm.algorithm.to_id_string();
            if let Some(words) = weak_algorithm(&id) {
                return Diagnosis::new(
                    ErrorKind::UnsupportedSignatureAlgorithm,
                    format!("{} is signed with {words} ({}), which rustls refuses (as do Go, GnuTLS and OpenSSL at its default security level): re-issue it signed with SHA-256 or better, or with ECDSA/Ed25519 as fedca does", self.label(c), x509::sig_alg_name(&c.signature_algorithm.algorithm)),
                );
            }
        }
        for c in self.chain {
            let name = x509::sig_alg_name(&c.signature_algorithm.algorithm);
            if !x509::SUPPORTED_SIGNATURES.contains(&name.as_str()) {
                return Diagnosis::new(
                    ErrorKind::UnsupportedSignatureAlgorithm,
                    format!("{} is signed with {name}, which rustls (ring) does not support: re-issue it with ECDSA P-256/P-384, Ed25519, or RSA with SHA-256/384/512", self.label(c)),
                );
            }
        }
        Diagnosis::new(
            ErrorKind::UnsupportedSignatureAlgorithm,
            "a signature in the chain uses an algorithm or key combination rustls does not support (for instance an ECDSA P-256 key with SHA-512): re-issue with ECDSA P-256/P-384 + SHA-256/384, Ed25519, or RSA with SHA-256/384/512",
        )
    }

    fn name_mismatch(&self) -> Diagnosis {
        let leaf = self.leaf();
        let name = self.host_text();
        let has_san = leaf
            .subject_alternative_name()
            .ok()
            .flatten()
            .is_some_and(|s| !s.value.general_names.is_empty());
        if !has_san {
            let cn: Vec<String> = leaf
                .subject()
                .iter_common_name()
                .filter_map(|c| c.as_str().ok().map(str::to_string))
                .collect();
            let cn_text = if cn.is_empty() {
                "no CN either".to_string()
            } else {
                format!("only the common name (CN) {}", quote_list(&cn))
            };
            return Diagnosis::new(
                ErrorKind::NoSan,
                format!("the certificate has no subjectAltName, {cn_text}; rustls/webpki, Go and service_identity (Synapse) ignore the CN, so it is valid for no name: re-issue it with {name} as a subjectAltName (fedca issue {})", self.host),
            );
        }
        let names = san_names(leaf);
        let mut hint = String::new();
        match self.host.ip() {
            Some(ip) => {
                if names.iter().any(|n| {
                    n.strip_prefix("DNS:")
                        .and_then(|d| d.parse::<IpAddr>().ok())
                        == Some(ip)
                }) {
                    hint = format!(" ({ip} is there as a DNS name, but an IP literal server name must be an iPAddress SAN)");
                }
            }
            None => {
                let wanted = name.to_ascii_lowercase();
                for n in &names {
                    let Some(base) = n.strip_prefix("DNS:*.") else {
                        continue;
                    };
                    if wanted.ends_with(&format!(".{}", base.to_ascii_lowercase())) {
                        hint = format!(" (a wildcard covers exactly one label: *.{base} does not match {wanted})");
                    }
                }
            }
        }
        Diagnosis::new(
            ErrorKind::NameMismatch,
            format!("the certificate is not valid for {name}: it names {}{hint}; issue one that names {name} (fedca issue {}), or check the server presents the right certificate (SNI, .well-known delegation)", names.join(", "), self.host),
        )
    }

    fn wrong_eku(&self) -> Diagnosis {
        for (i, c) in self.chain.iter().enumerate() {
            let Ok(Some(e)) = c.extended_key_usage() else {
                continue;
            };
            if e.value.server_auth || e.value.any {
                continue;
            }
            let names = x509::eku_names(e.value);
            let has = if names.is_empty() {
                "is empty".to_string()
            } else {
                format!("is {} only", names.join(", "))
            };
            let what = if i == 0 {
                format!("the certificate for {}", names_text(c))
            } else {
                format!("the intermediate CA {}", self.label(c))
            };
            return Diagnosis::new(
                ErrorKind::WrongEku,
                format!("the extended key usage of {what} {has}; a federation server certificate (and any CA above it that restricts usages) needs serverAuth: re-issue it with serverAuth (fedca issues serverAuth + clientAuth)"),
            );
        }
        Diagnosis::new(
            ErrorKind::WrongEku,
            "a certificate of the chain is not allowed for TLS servers: it needs the serverAuth extended key usage",
        )
    }

    fn ca_as_leaf(&self) -> Diagnosis {
        let leaf = self.leaf();
        // A chain in the wrong order: a server certificate this CA issued comes later.
        if let Some(real) = self
            .chain
            .iter()
            .skip(1)
            .find(|c| !c.is_ca() && issues(leaf, c))
        {
            return Diagnosis::new(
                ErrorKind::CaAsLeaf,
                format!("the chain is in the wrong order: it starts with the CA certificate {}, and the server certificate for {} comes after it; the server certificate must come first (serve fullchain.pem as fedca writes it: leaf, then intermediates)", self.label(leaf), names_text(real)),
            );
        }
        Diagnosis::new(
            ErrorKind::CaAsLeaf,
            format!("the certificate presented for {} is a CA certificate (basicConstraints CA:TRUE); rustls/webpki refuses a CA as a server certificate (OpenSSL, GnuTLS, Go and service_identity accept it): issue a server certificate (CA:FALSE) for it (fedca issue {})", names_text(leaf), self.host),
        )
    }

    fn intermediate_not_ca(&self) -> Diagnosis {
        for c in self.chain.iter().skip(1) {
            if c.is_ca() {
                continue;
            }
            let child = self.chain.iter().find(|x| issues(c, x));
            let issued = child
                .map(|x| format!(" (it issued {})", self.label(x)))
                .unwrap_or_default();
            return Diagnosis::new(
                ErrorKind::IntermediateNotCa,
                format!("{} is used as an intermediate CA{issued} but it is not a CA (no basicConstraints CA:TRUE): the chain holds a server certificate where the intermediate CA should be — serve the leaf followed by the real intermediate CA, or re-issue from a proper CA", self.label(c)),
            );
        }
        Diagnosis::new(
            ErrorKind::IntermediateNotCa,
            "a certificate used as a CA in the chain is not a CA (basicConstraints CA:FALSE): serve the leaf followed by the real intermediate CA",
        )
    }

    fn path_length(&self) -> Diagnosis {
        self.path_length_violation().unwrap_or_else(|| {
            Diagnosis::new(
                ErrorKind::PathLengthExceeded,
                "the chain is longer than a CA's path length constraint allows: issue the certificate from a CA closer to the root",
            )
        })
    }

    fn path_length_violation(&self) -> Option<Diagnosis> {
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        // Candidate CAs with their position: chain intermediates, then the root.
        let mut cas: Vec<(&X509Certificate<'_>, usize)> = path
            .iter()
            .enumerate()
            .skip(1)
            .map(|(pos, i)| (&self.chain[*i], pos - 1))
            .collect();
        if let Some(root) = self.root_for(top) {
            cas.push((root, path.len() - 1));
        }
        for (ca, below) in cas {
            let limit = ca
                .basic_constraints()
                .ok()
                .flatten()
                .and_then(|b| b.value.path_len_constraint);
            if let Some(limit) = limit {
                if below > limit as usize {
                    let inters: Vec<String> = path[1..]
                        .iter()
                        .map(|i| dn_label(self.chain[*i].subject()))
                        .take(below)
                        .collect();
                    return Some(Diagnosis::new(
                        ErrorKind::PathLengthExceeded,
                        format!("{} allows {limit} intermediate CA(s) below it (pathlen:{limit}), but the chain puts {below} between it and the server certificate: {}; issue the certificate directly from {}, or re-create that CA with a larger path length", self.label(ca), quote_list(&inters), self.label(ca)),
                    ));
                }
            }
        }
        None
    }

    fn name_constraints(&self) -> Diagnosis {
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        let mut cas: Vec<(usize, &X509Certificate<'_>)> = path
            .iter()
            .enumerate()
            .skip(1)
            .map(|(pos, i)| (pos, &self.chain[*i]))
            .collect();
        if let Some(root) = self.root_for(top) {
            cas.push((path.len(), root));
        }
        for (pos, ca) in &cas {
            let Ok(Some(nc)) = ca.name_constraints() else {
                continue;
            };
            let nc = nc.value;
            let permitted: Vec<String> = nc
                .permitted_subtrees
                .iter()
                .flatten()
                .map(|s| x509::subtree_text(&s.base))
                .collect();
            let excluded: Vec<String> = nc
                .excluded_subtrees
                .iter()
                .flatten()
                .map(|s| x509::subtree_text(&s.base))
                .collect();
            let mut bad = Vec::new();
            for i in &path[..*pos] {
                let c = &self.chain[*i];
                let Ok(Some(san)) = c.subject_alternative_name() else {
                    continue;
                };
                for g in &san.value.general_names {
                    if !name_allowed(g, nc) {
                        bad.push(x509::general_name_text(g));
                    }
                }
            }
            if bad.is_empty() {
                continue;
            }
            let mut constraints = format!("permitted: {}", or_none(&permitted));
            if !excluded.is_empty() {
                constraints.push_str(&format!("; excluded: {}", excluded.join(", ")));
            }
            let is_v6 = |t: &str| t.contains(':');
            let family_missing = |b: &String| {
                b.strip_prefix("IP:").is_some_and(|ip| {
                    permitted.iter().any(|p| p.starts_with("IP:"))
                        && !permitted
                            .iter()
                            .any(|p| p.strip_prefix("IP:").is_some_and(|r| is_v6(r) == is_v6(ip)))
                })
            };
            let family_hint = if bad.iter().any(family_missing) {
                " (once a CA permits any IP range, an address of a family with no permitted range is refused)"
            } else {
                ""
            };
            return Diagnosis::new(
                ErrorKind::NameConstraintViolation,
                format!("{} is outside the name constraints of {} ({constraints}){family_hint}; every name in the certificate must be permitted: issue a certificate with only permitted names, or from a CA whose constraints include them", bad.join(", "), self.label(ca)),
            );
        }
        let all: Vec<String> = cas
            .iter()
            .filter_map(|(_, ca)| {
                ca.name_constraints().ok().flatten().map(|nc| {
                    format!(
                        "{}: {}",
                        self.label(ca),
                        nc.value
                            .permitted_subtrees
                            .iter()
                            .flatten()
                            .map(|s| x509::subtree_text(&s.base))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
            .collect();
        Diagnosis::new(
            ErrorKind::NameConstraintViolation,
            format!("a name in the chain is outside a CA's name constraints ({}): issue a certificate with only permitted names", or_none(&all)),
        )
    }

    /// The checks webpki skips and the other federation verifiers make (see the module
    /// documentation), run on a chain rustls accepted.
    pub(super) fn beyond_webpki(&self) -> Option<Diagnosis> {
        if let Some(d) = self.key_usage() {
            return Some(d);
        }
        if let Some(mut d) = self.path_length_violation() {
            d.detail.push_str(" (rustls/webpki does not apply a trusted root's path length and would accept the chain; OpenSSL, and so Synapse, Go, and so Dendrite, and GnuTLS refuse it)");
            return Some(d);
        }
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        let root = self.root_for(top)?;
        let v = root.validity();
        let dates = format!(
            "valid from {} to {}; checked at {}",
            time_text(v.not_before),
            time_text(v.not_after),
            unix_text(self.at)
        );
        let why = "rustls/webpki does not check a trust anchor's dates and would accept the chain, but OpenSSL, and so Synapse, and Go, and so Dendrite, refuse it";
        if v.not_after.timestamp() < self.at {
            return Some(Diagnosis::new(
                ErrorKind::Expired,
                format!("the trusted root {} expired on {} ({dates}): {why}; create a new root (fedca init), re-issue the federation's certificates from it, and distribute it to every peer", self.label(root), time_text(v.not_after)),
            ));
        }
        if v.not_before.timestamp() > self.at {
            return Some(Diagnosis::new(
                ErrorKind::NotYetValid,
                format!(
                    "the trusted root {} is not valid until {} ({dates}): {why}; check the clocks",
                    self.label(root),
                    time_text(v.not_before)
                ),
            ));
        }
        None
    }

    /// webpki ignores keyUsage; OpenSSL (Synapse) does not.
    fn key_usage(&self) -> Option<Diagnosis> {
        let leaf = self.leaf();
        if let Ok(Some(ku)) = leaf.key_usage() {
            if !ku.value.digital_signature() {
                let has = x509::key_usage_names(ku.value);
                return Some(Diagnosis::new(
                    ErrorKind::WrongKeyUsage,
                    format!("the keyUsage of the certificate for {} is {} only, without digitalSignature, which a TLS server key needs to sign the handshake: OpenSSL, and so Synapse, refuses it (rustls/webpki, Go and GnuTLS ignore keyUsage and would accept it); re-issue it with digitalSignature (fedca issue {})", names_text(leaf), or_none(&has), self.host),
                ));
            }
        }
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        let mut cas: Vec<&X509Certificate<'_>> =
            path.iter().skip(1).map(|i| &self.chain[*i]).collect();
        cas.extend(self.root_for(top));
        for ca in cas {
            if let Ok(Some(ku)) = ca.key_usage() {
                if !ku.value.key_cert_sign() {
                    let has = x509::key_usage_names(ku.value);
                    return Some(Diagnosis::new(
                        ErrorKind::WrongKeyUsage,
                        format!("the CA {} has keyUsage {} without keyCertSign: OpenSSL, and so Synapse, refuses certificates it signed (rustls/webpki ignores keyUsage and would accept them); re-create the CA with keyCertSign", self.label(ca), or_none(&has)),
                    ));
                }
            }
        }
        None
    }

    pub(super) fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let path = self.path();
        let top = &self.chain[path[path.len() - 1]];
        if let Some(root) = self.root_for(top) {
            let left = root.validity().not_after.timestamp() - self.at;
            if left < 30 * 86_400 {
                out.push(format!(
                    "the trusted root {} expires on {}: plan its rotation now",
                    self.label(root),
                    time_text(root.validity().not_after)
                ));
            }
        }
        let is_root = |c: &X509Certificate<'_>| self.roots.iter().any(|r| r.as_raw() == c.as_raw());
        let sent_roots: Vec<String> = (1..self.chain.len())
            .filter(|i| is_root(&self.chain[*i]))
            .map(|i| self.label(&self.chain[i]))
            .collect();
        if !sent_roots.is_empty() {
            out.push(format!(
                "the chain includes the trusted root {}: harmless, but peers never use a root the server sends",
                sent_roots.join(", ")
            ));
        }
        let unused: Vec<String> = (1..self.chain.len())
            .filter(|i| !path.contains(i) && !is_root(&self.chain[*i]))
            .map(|i| self.label(&self.chain[i]))
            .collect();
        if !unused.is_empty() {
            out.push(format!(
                "the chain carries certificates that are not part of the path to the leaf: {}",
                unused.join(", ")
            ));
        }
        out
    }
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// The words for a broken digest in a signature algorithm OID.
fn weak_algorithm(oid: &str) -> Option<&'static str> {
    match oid {
        "1.2.840.113549.1.1.2" => Some("RSA with MD2"),
        "1.2.840.113549.1.1.4" => Some("RSA with MD5"),
        "1.2.840.113549.1.1.5" => Some("RSA with SHA-1"),
        "1.2.840.10045.4.1" => Some("ECDSA with SHA-1"),
        "1.2.840.10040.4.3" => Some("DSA with SHA-1"),
        _ => None,
    }
}

/// RFC 5280 §4.2.1.10, through the crate's one matcher ([`x509::name_permitted`]);
/// names of other types than DNS and IP pass.
fn name_allowed(g: &GeneralName<'_>, nc: &NameConstraints<'_>) -> bool {
    let name = match g {
        GeneralName::DNSName(n) => ConstrainedName::Dns(n),
        GeneralName::IPAddress(a) => ConstrainedName::Ip(a),
        _ => return true,
    };
    let subtrees = |s: &Option<Vec<GeneralSubtree<'_>>>| -> Vec<Subtree> {
        s.iter()
            .flatten()
            .filter_map(|s| Subtree::from_general_name(&s.base))
            .collect()
    };
    x509::name_permitted(
        name,
        &subtrees(&nc.permitted_subtrees),
        &subtrees(&nc.excluded_subtrees),
    )
}
