//! Homeservers' default IP blocklists, and the least change that lets them reach the
//! federation: the default list minus the federation's addresses (a CIDR difference).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::cidr::{self, IpNet};
use crate::error::{Error, Field, Result};

/// The default outbound IP blocklist shared by Synapse (`DEFAULT_IP_RANGE_BLOCKLIST` in
/// `synapse/config/server.py`, matrix-synapse 1.163.2, the default of
/// `ip_range_blacklist`) and conduwuit, continuwuity and tuwunel
/// (`default_ip_range_denylist` in `src/core/config/mod.rs`): one table, both use it.
pub const MATRIX_DEFAULT_BLOCKLIST: [&str; 19] = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "169.254.0.0/16",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
    "2001:db8::/32",
    "ff00::/8",
    "fec0::/10",
];

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
                crate::error::Field::FederationAddr,
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
        .filter_map(|s| IpNet::parse(s, Field::IpNetwork).ok())
        .collect()
}
