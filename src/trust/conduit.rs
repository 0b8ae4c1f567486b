//! The Conduit family — Conduit, conduwuit, continuwuity, tuwunel: a TOML fragment
//! and outbound trust.
//!
//! What they need (Conduit `src/config/mod.rs`; conduwuit, continuwuity and tuwunel
//! `src/core/config/mod.rs` and their `*-example.toml`):
//!
//! * `[global.tls]` with `certs` (the certificate chain file) and `key`; with it set,
//!   the server's listeners speak TLS (`address`/`port` in `[global]`);
//! * `[global.well_known] server` — the `m.server` the server itself serves;
//! * `allow_federation` (Conduit's default is false) and `trusted_servers` (the
//!   notary servers, default matrix.org);
//! * conduwuit, continuwuity and tuwunel refuse outbound requests to addresses in
//!   `ip_range_denylist`, whose default is the same 19 ranges as Synapse's blocklist;
//!   Conduit has no such list;
//! * outbound trust comes from the platform store (rustls-native-certs or
//!   rustls-platform-verifier); `SSL_CERT_FILE`, when set, replaces it.

use super::{nets, Emission, EmitContext, EmittedFile, OpenedBlocklist, Target};
use crate::error::{Field, Result};
use crate::store;

/// The default `ip_range_denylist` of conduwuit, continuwuity and tuwunel
/// (`default_ip_range_denylist` in `src/core/config/mod.rs`): the same ranges as
/// Synapse's, the shared table [`super::blocklist::MATRIX_DEFAULT_BLOCKLIST`].
pub const DEFAULT_IP_RANGE_DENYLIST: [&str; 19] = super::blocklist::MATRIX_DEFAULT_BLOCKLIST;

/// The roots bundle for `SSL_CERT_FILE`.
pub use super::BUNDLE;
/// The environment file.
pub use super::ENV_FILE;

/// The fragment's file name for a target of the family.
pub fn fragment(target: Target) -> String {
    format!("{}-fedca.toml", target.as_str())
}

/// Renders the files of one Conduit-family server.
pub fn emit(target: Target, cx: &EmitContext<'_>) -> Result<Emission> {
    let s = cx.server(target)?;
    let single_address = target == Target::Conduit;
    if single_address {
        cx.at_most_one_bind(&format!(
            "Conduit's `address` takes one address; give {} once",
            Field::Bind.mention()
        ))?;
    }
    let has_denylist = target != Target::Conduit;
    let open = cx.federation.addresses();
    let deny = OpenedBlocklist::compute(&nets(&DEFAULT_IP_RANGE_DENYLIST), &open)?;
    let proxied = cx.tls_at == super::deploy::TlsAt::Proxy;
    if proxied {
        super::deploy::check_ports(cx, s)?;
    }
    let addresses: Vec<String> = if proxied {
        vec!["127.0.0.1".into()]
    } else if cx.bind.is_empty() {
        vec![s
            .literal_bind()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "0.0.0.0".into())]
    } else {
        cx.bind.iter().map(ToString::to_string).collect()
    };
    let mut context = cx.base(target, None);
    context["server"] = cx.server_json(s);
    context["flavor"] = serde_json::json!({
        "name": target.as_str(),
        "display": display_name(target),
        "single_address": single_address,
        "has_denylist": has_denylist,
    });
    context["addresses"] = addresses.into();
    context["tls"] = (!proxied).into();
    context["listen_port"] = if proxied {
        cx.client_port
    } else {
        s.federation_port()
    }
    .into();
    context["deny"] = serde_json::to_value(&deny).unwrap_or_default();
    context["bundle"] = cx.install_dir.join(BUNDLE).display().to_string().into();
    context["dns_hosts"] = cx.federation.dns_hosts().into();
    // Conduit has no allow-list (only allow_federation); continuwuity's
    // allowed_remote_server_names only overrides forbidden_remote_server_names, so
    // its allow-list needs everything else forbidden.
    context["allow_list"] = serde_json::json!({
        "supported": target != Target::Conduit,
        "patterns": cx.federation.allowed_patterns(),
        "forbid_others": target == Target::Continuwuity,
    });
    context["unresolved_dns"] =
        (cx.federation.dns_addresses().is_empty() && !cx.federation.dns_hosts().is_empty()).into();

    let name = fragment(target);
    let mut emission = Emission::default();
    emission.files.push(EmittedFile::new(
        name.clone(),
        cx.render("conduit-family.toml.j2", &context)?,
        store::PUBLIC_MODE,
        format!(
            "{} config fragment: merge it into the server's TOML config",
            display_name(target)
        ),
    ));
    super::push_ssl_cert_file(&mut emission, cx, &context, "the server")?;
    if let Some(f) = super::well_known_file(cx, s)? {
        emission.files.push(f);
    }
    emission.notes.push(format!(
        "merge {name} into the [global] section of the {} config and restart it",
        display_name(target)
    ));
    emission.notes.push(
        format!("outbound trust: run `fedca trust {} system {}` on the host (adds the roots to the platform store), or load trust.env (SSL_CERT_FILE replaces the store)", Field::Target.mention(), Field::Install.mention()),
    );
    if !has_denylist && !open.is_empty() {
        emission.notes.push(
            "Conduit has no ip_range_denylist; nothing blocks its federation addresses".into(),
        );
    }
    Ok(emission)
}

fn display_name(target: Target) -> &'static str {
    match target {
        Target::Conduit => "Conduit",
        Target::Conduwuit => "conduwuit",
        Target::Continuwuity => "continuwuity",
        Target::Tuwunel => "tuwunel",
        _ => "Conduit-family server",
    }
}
