//! The targets `fedca trust` writes configuration for.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Error, Result};

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
                    crate::error::Field::Target,
                    s,
                    format!(
                        "is not a known target; use one of: {}",
                        Target::ALL.map(Target::as_str).join(", ")
                    ),
                )
            })
    }
}
