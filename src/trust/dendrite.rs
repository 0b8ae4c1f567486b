//! Dendrite: the TLS flags, a `dendrite.yaml` fragment, and outbound trust.
//!
//! What Dendrite needs (element-hq/dendrite `cmd/dendrite/main.go`,
//! `setup/config/config_federationapi.go`, `dendrite-sample.yaml`):
//!
//! * it serves TLS only from the command line: `--tls-cert`, `--tls-key` and
//!   `--https-bind-address` (default `:8448`);
//! * it has no custom-CA setting: outbound federation trusts Go's system pool, which
//!   reads `SSL_CERT_FILE` (replacing the system bundle file) and the certificate
//!   directories (`SSL_CERT_DIR`, default `/etc/ssl/certs`);
//! * `federation_api.deny_networks` blocks loopback and private ranges by default
//!   and is checked *before* `allow_networks`, so the federation's addresses must be
//!   cut out of the deny list; `allow_networks` defaults to `0.0.0.0/0`, which holds
//!   no IPv6 address, so IPv6 federations also need `::/0` there.

use super::{nets, Emission, EmitContext, EmittedFile, OpenedBlocklist, Target};
use crate::error::{Field, Result};
use crate::store;

/// Dendrite's default `federation_api.deny_networks` (from `dendrite-sample.yaml`,
/// where the first entry is written `127.0.0.1/8`).
pub const DEFAULT_DENY_NETWORKS: [&str; 9] = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "::1/128",
    "fe80::/64",
    "fc00::/7",
];

/// The fragment's file name.
pub const FRAGMENT: &str = "dendrite-fedca.yaml";
/// The start script's file name.
pub const RUN_SCRIPT: &str = "dendrite-run.sh";
/// The roots bundle for `SSL_CERT_FILE`.
pub use super::BUNDLE;
/// The environment file.
pub use super::ENV_FILE;

/// Renders Dendrite's files.
pub fn emit(cx: &EmitContext<'_>) -> Result<Emission> {
    let s = cx.server(Target::Dendrite)?;
    cx.at_most_one_bind(&format!(
        "Dendrite's --https-bind-address takes one address; give {} once",
        Field::Bind.mention()
    ))?;
    let defaults = nets(&DEFAULT_DENY_NETWORKS);
    let open = cx.federation.addresses();
    let deny = OpenedBlocklist::compute(&defaults, &open)?;
    let ipv6 = open.iter().any(|a| a.is_ipv6());
    let bind = cx.bind.first().copied().or(s.literal_bind());
    let port = s.federation_port();
    super::deploy::check_ports(cx, s)?;
    let https_bind = match bind {
        Some(std::net::IpAddr::V6(a)) => format!("[{a}]:{port}"),
        Some(a) => format!("{a}:{port}"),
        None => format!(":{port}"),
    };
    let bundle_path = cx.install_dir.join(BUNDLE).display().to_string();
    let mut context = cx.base(Target::Dendrite, None);
    context["server"] = cx.server_json(s);
    context["deny"] = serde_json::to_value(&deny).unwrap_or_default();
    context["allow_ipv6"] = ipv6.into();
    context["https_bind"] = https_bind.into();
    context["tls"] = (cx.tls_at == super::deploy::TlsAt::Homeserver).into();
    context["http_bind"] = format!("127.0.0.1:{}", cx.client_port).into();
    context["bundle"] = bundle_path.into();
    context["dns_hosts"] = cx.federation.dns_hosts().into();
    context["unresolved_dns"] =
        (cx.federation.dns_addresses().is_empty() && !cx.federation.dns_hosts().is_empty()).into();

    let mut emission = Emission::default();
    emission.files.push(EmittedFile::new(
        FRAGMENT,
        cx.render("dendrite.yaml.j2", &context)?,
        store::PUBLIC_MODE,
        "dendrite.yaml fragment: merge it into dendrite.yaml",
    ));
    emission.files.push(EmittedFile::new(
        RUN_SCRIPT,
        cx.render("dendrite-run.sh.j2", &context)?,
        0o755,
        "starts Dendrite with --tls-cert/--tls-key/--https-bind-address",
    ));
    super::push_ssl_cert_file(&mut emission, cx, &context, "Dendrite")?;
    if let Some(f) = super::well_known_file(cx, s)? {
        emission.files.push(f);
    }
    emission.notes.push(format!(
        "merge {FRAGMENT} into dendrite.yaml and start Dendrite as {RUN_SCRIPT} shows"
    ));
    emission.notes.push(
        format!("outbound trust: run `fedca trust {} system {}` on the host (adds the roots to the system store), or load trust.env (SSL_CERT_FILE replaces the system bundle)", Field::Target.mention(), Field::Install.mention()),
    );
    Ok(emission)
}
