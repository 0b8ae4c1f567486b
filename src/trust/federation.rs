//! The federation as the CA knows it, and the addresses a homeserver must reach.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::cidr::IpNet;
use crate::error::{Error, Result};
use crate::name::{Host, ServerName};
use crate::store::{CaDir, IndexRecord, RecordState};

/// The federation as the CA knows it: every active server and delegated server in
/// the index, plus addresses the user gave for DNS-named servers.
#[derive(Debug, Clone, Default)]
pub struct Federation {
    /// Server names and delegated names of every active certificate.
    pub servers: Vec<ServerName>,
    /// Addresses of DNS-named servers, given with `--federation-addr`.
    pub extra_addrs: Vec<IpNet>,
    /// With `--carve-out permitted`: the CA's permitted IP ranges, opened whole instead
    /// of the issued servers' addresses.
    pub permitted_ranges: Option<Vec<IpNet>>,
    /// The server names allowed to federate — every server whose newest certificate is
    /// not revoked ([`crate::revocation::allowed_in`]) — for the homeserver's
    /// federation allow-list; `None` with `--open-federation` (no allow-list).
    pub allowed: Option<Vec<String>>,
}

impl Federation {
    /// The servers of the CA in `dir`; `extra_addrs` are the `--federation-addr` values.
    pub fn from_index(dir: &CaDir, extra_addrs: Vec<IpNet>) -> Result<Federation> {
        Federation::from_records(&dir.read_index()?, extra_addrs)
    }

    /// As [`Federation::from_index`], from index records already read.
    pub fn from_records(records: &[IndexRecord], extra_addrs: Vec<IpNet>) -> Result<Federation> {
        let mut seen = BTreeSet::new();
        let mut servers = Vec::new();
        for r in records {
            if r.state != RecordState::Active {
                continue;
            }
            for name in std::iter::once(&r.server).chain(r.delegate.as_ref()) {
                if seen.insert(name.to_string()) {
                    servers.push(name.clone());
                }
            }
        }
        for a in &extra_addrs {
            let host_len = if a.is_ipv6() { 128 } else { 32 };
            if a.prefix() == 0 || (a.addr().is_unspecified() && a.prefix() == host_len) {
                return Err(Error::invalid(
                    crate::error::Field::FederationAddr,
                    a.to_string(),
                    "names every address or the unspecified address; give the federation's own addresses",
                ));
            }
        }
        Ok(Federation {
            servers,
            extra_addrs,
            permitted_ranges: None,
            allowed: None,
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
    /// With `--carve-out permitted`, the CA's permitted IP ranges and the extra
    /// addresses instead.
    pub fn addresses(&self) -> Vec<IpNet> {
        let set: BTreeSet<IpNet> = match &self.permitted_ranges {
            Some(ranges) => ranges
                .iter()
                .copied()
                .chain(self.extra_addrs.iter().copied())
                .collect(),
            None => self
                .literal_addrs()
                .into_iter()
                .map(IpNet::host)
                .chain(self.extra_addrs.iter().copied())
                .collect(),
        };
        set.into_iter().collect()
    }

    /// The allow-list as anchored, escaped regular expressions (`^hs1\.fed\.test$`),
    /// for the Conduit family's `allowed_remote_server_names`.
    pub fn allowed_patterns(&self) -> Option<Vec<String>> {
        self.allowed.as_ref().map(|names| {
            names
                .iter()
                .map(|n| format!("^{}$", regex_escape(n)))
                .collect()
        })
    }

    /// The addresses DNS names of the federation may resolve to: `--federation-addr`,
    /// and with `--carve-out permitted` the CA's permitted ranges.
    pub fn dns_addresses(&self) -> Vec<IpNet> {
        let set: BTreeSet<IpNet> = self
            .extra_addrs
            .iter()
            .chain(self.permitted_ranges.iter().flatten())
            .copied()
            .collect();
        set.into_iter().collect()
    }
}

/// `s` with every regular-expression metacharacter escaped (the Rust `regex` crate's
/// syntax, which the Conduit family uses).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns_are_anchored_and_escaped() {
        let f = super::Federation {
            allowed: Some(vec!["hs1.fed.test".into(), "[fd00::7]:8448".into()]),
            ..Default::default()
        };
        assert_eq!(
            f.allowed_patterns().unwrap(),
            [r"^hs1\.fed\.test$", r"^\[fd00::7\]:8448$"]
        );
        assert_eq!(super::Federation::default().allowed_patterns(), None);
    }
}
