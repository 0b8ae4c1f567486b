//! Synapse: a `homeserver.yaml` fragment, one file per trusted root, and
//! `.well-known/matrix/server` for a delegated server.
//!
//! What Synapse needs (element-hq/synapse `docs/usage/configuration/config_documentation.md`,
//! `synapse/config/tls.py`, `synapse/config/server.py`, `synapse/http/matrixfederationclient.py`):
//!
//! * `tls_certificate_path` is loaded with `use_certificate_chain_file`: the full chain;
//! * `federation_custom_ca_list` *replaces* the system roots for federation and each
//!   file is read with `Certificate.loadPEM`, one certificate per file — so every
//!   trusted root gets its own file;
//! * outbound federation to private and loopback addresses is refused by
//!   `ip_range_blacklist` (default [`DEFAULT_IP_RANGE_BLOCKLIST`]). A server name that
//!   *is* an IP literal is checked by `BlocklistingAgentWrapper`, built with the
//!   blacklist and no allowlist: `ip_range_whitelist` does not help there. So the
//!   blacklist must be the defaults minus exactly the federation's addresses;
//!   `ip_range_whitelist` serves DNS-named servers (it is consulted when a DNS name
//!   resolves to a blocked address, including the `.well-known` lookup).

use std::net::IpAddr;

use super::{nets, Emission, EmitContext, EmittedFile, OpenedBlocklist, Target};
use crate::cidr::IpNet;
use crate::error::Result;
use crate::store;

/// Synapse's `DEFAULT_IP_RANGE_BLOCKLIST` (`synapse/config/server.py` of matrix-synapse
/// 1.163.2, the default of `ip_range_blacklist`): the shared table
/// [`super::blocklist::MATRIX_DEFAULT_BLOCKLIST`]. Synapse also always blocks `0.0.0.0`
/// and `::`.
pub const DEFAULT_IP_RANGE_BLOCKLIST: [&str; 19] = super::blocklist::MATRIX_DEFAULT_BLOCKLIST;

/// The Synapse release [`DEFAULT_IP_RANGE_BLOCKLIST`] was copied from.
pub const BLOCKLIST_SOURCE_VERSION: &str = "1.163.2";

/// The fragment's file name.
pub const FRAGMENT: &str = "homeserver-fedca.yaml";

/// The file name of a root's own file.
pub fn root_file(id: &str) -> String {
    format!("fedca-root-{id}.pem")
}

/// The addresses Synapse's federation listener binds when `--bind` is not given:
/// the federation endpoint's IP literal, or every interface (`::` and `0.0.0.0`;
/// Synapse tolerates the second bind failing when `::` already covers IPv4).
pub fn default_bind(literal: Option<IpAddr>) -> Vec<String> {
    match literal {
        Some(ip) => vec![ip.to_string()],
        None => vec!["::".into(), "0.0.0.0".into()],
    }
}

/// Renders Synapse's files.
pub fn emit(cx: &EmitContext<'_>) -> Result<Emission> {
    let s = cx.server(Target::Synapse)?;
    let defaults = nets(&DEFAULT_IP_RANGE_BLOCKLIST);
    let open = cx.federation.addresses();
    let blocklist = OpenedBlocklist::compute(&defaults, &open)?;
    // DNS-named servers' addresses that the defaults block: the whitelist lets a DNS
    // name resolve to them (the blacklist no longer holds them either).
    let whitelist: Vec<IpNet> = cx
        .federation
        .dns_addresses()
        .into_iter()
        .filter(|a| defaults.iter().any(|d| d.overlaps(a)))
        .collect();
    let dns_hosts = cx.federation.dns_hosts();
    let unresolved = cx.federation.dns_addresses().is_empty() && !dns_hosts.is_empty();
    let bind: Vec<String> = if cx.bind.is_empty() {
        default_bind(s.literal_bind())
    } else {
        cx.bind.iter().map(ToString::to_string).collect()
    };
    let port = s.federation_port();
    super::deploy::check_ports(cx, s)?;
    let mut context = cx.base(Target::Synapse, Some(&|r| root_file(&r.id)));
    context["server"] = cx.server_json(s);
    context["listener"] = serde_json::json!({
        "port": port,
        "bind_addresses": bind,
        "tls": cx.tls_at == super::deploy::TlsAt::Homeserver,
        "client_port": cx.client_port,
    });
    context["blocklist"] = serde_json::to_value(&blocklist).unwrap_or_default();
    context["blocklist_version"] = BLOCKLIST_SOURCE_VERSION.into();
    context["whitelist"] = serde_json::to_value(&whitelist).unwrap_or_default();
    context["literal_addrs"] = cx
        .federation
        .literal_addrs()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .into();
    context["dns_hosts"] = dns_hosts.clone().into();
    context["unresolved_dns"] = unresolved.into();
    context["well_known"] = s.delegate.is_some().into();
    context["carve_out_permitted"] = cx.federation.permitted_ranges.is_some().into();
    if let Some(allowed) = &cx.federation.allowed {
        context["allowed_servers"] = allowed.clone().into();
    }

    let mut emission = Emission::default();
    emission.files.push(EmittedFile::new(
        FRAGMENT,
        cx.render("synapse-homeserver.yaml.j2", &context)?,
        store::PUBLIC_MODE,
        "homeserver.yaml fragment: merge its top-level keys into homeserver.yaml",
    ));
    for root in cx.bundle.trusted() {
        let ctx = serde_json::json!({ "root": root });
        emission.files.push(EmittedFile::new(
            root_file(&root.id),
            cx.render("root.pem.j2", &ctx)?,
            store::PUBLIC_MODE,
            format!("trusted root {} (federation_custom_ca_list)", root.subject),
        ));
    }
    if let Some(f) = super::well_known_file(cx, s)? {
        emission.files.push(f);
    }
    emission.notes.push(format!(
        "merge {FRAGMENT} into homeserver.yaml (its top-level keys replace Synapse's own), then restart Synapse"
    ));
    if unresolved {
        emission.notes.push(format!(
            "the federation has DNS-named servers ({}); if they resolve to private or loopback addresses, re-run with {} ADDR for each, or Synapse will refuse to connect to them",
            dns_hosts.join(", "),
            crate::error::Field::FederationAddr.mention()
        ));
    }
    if s.delegate.is_some() {
        emission.notes.push(format!(
            "serve {} at https://{}/.well-known/matrix/server with this server's certificate (it names {} too)",
            super::WELL_KNOWN_PATH,
            s.name.host(),
            s.name.host()
        ));
    }
    Ok(emission)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocklist_minus_two_loopback_servers_has_42_entries() {
        let defaults = nets(&DEFAULT_IP_RANGE_BLOCKLIST);
        assert_eq!(defaults.len(), DEFAULT_IP_RANGE_BLOCKLIST.len());
        let open = nets(&["127.0.0.1", "127.0.0.2"]);
        let b = OpenedBlocklist::compute(&defaults, &open).unwrap();
        let blocks = b.blocks();
        assert_eq!(blocks.len(), 42);
        for a in ["127.0.0.1", "127.0.0.2"] {
            let a: IpAddr = a.parse().unwrap();
            assert!(!blocks.iter().any(|n| n.contains_addr(a)));
        }
        for a in [
            "127.0.0.3",
            "127.0.0.0",
            "127.255.255.255",
            "10.1.2.3",
            "::1",
            "fd00::1",
        ] {
            let a: IpAddr = a.parse().unwrap();
            assert!(
                blocks.iter().any(|n| n.contains_addr(a)),
                "{a} must stay blocked"
            );
        }
    }

    #[test]
    fn default_bind_follows_the_endpoint() {
        assert_eq!(
            default_bind(Some("127.0.0.2".parse().unwrap())),
            ["127.0.0.2"]
        );
        assert_eq!(default_bind(None), ["::", "0.0.0.0"]);
    }
}
