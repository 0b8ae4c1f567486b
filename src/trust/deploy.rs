//! The deployable bundle of a homeserver: its certificate, chain and key, where they
//! will live on the homeserver (`--install-dir`), who owns them there (`--owner`), an
//! `install.sh` that puts every file in place, and — when TLS ends at a reverse proxy
//! (`--tls-at proxy`) — ready nginx, Caddy and haproxy snippets.
//!
//! Every homeserver target (Synapse, Dendrite, the Conduit family) gets the same
//! bundle around its own configuration fragment. Public files are 0644 in 0755
//! directories (a web server's workers must read `.well-known`); only keys are 0600.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use super::{Emission, EmitContext, EmittedFile, ServerInfo, Target};
use crate::error::{Error, Result};
use crate::store;

/// The server's certificate chain in the bundle (leaf first).
pub const FULLCHAIN: &str = "fullchain.pem";
/// The server's private key in the bundle (0600).
pub const KEY: &str = "key.pem";
/// The script that installs the bundle on the homeserver.
pub const INSTALL_SCRIPT: &str = "install.sh";
/// The nginx snippet (`--tls-at proxy`): `server` blocks for the `http` context.
pub const NGINX: &str = "nginx-fedca.conf";
/// The Caddy snippet (`--tls-at proxy`): Caddyfile site blocks.
pub const CADDY: &str = "Caddyfile-fedca";
/// The haproxy snippet (`--tls-at proxy`): a frontend and a backend.
pub const HAPROXY: &str = "haproxy-fedca.cfg";
/// haproxy's `crt` file: the chain followed by the key (0600).
pub const HAPROXY_PEM: &str = "haproxy-fedca.pem";
/// Synapse's default client port, and `--client-port`'s default.
pub const DEFAULT_CLIENT_PORT: u16 = 8008;

/// Where TLS for federation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsAt {
    /// The homeserver serves TLS on the federation port itself.
    #[default]
    Homeserver,
    /// A reverse proxy (nginx, Caddy, haproxy) serves TLS on the federation port and
    /// forwards plain HTTP to the homeserver's loopback client port.
    Proxy,
}

impl TlsAt {
    /// The name `--tls-at` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsAt::Homeserver => "homeserver",
            TlsAt::Proxy => "proxy",
        }
    }
}

impl fmt::Display for TlsAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TlsAt {
    type Err = Error;
    fn from_str(s: &str) -> Result<TlsAt> {
        match s {
            "homeserver" => Ok(TlsAt::Homeserver),
            "proxy" => Ok(TlsAt::Proxy),
            _ => Err(Error::invalid(
                crate::error::Field::TlsAt,
                s,
                "is not where TLS can end; use homeserver (the homeserver serves TLS) or proxy (nginx, Caddy or haproxy does)",
            )),
        }
    }
}

/// What the homeserver's IP blocklist is opened for (`--carve-out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CarveOut {
    /// Exactly the issued servers' addresses (and `--federation-addr`): the least
    /// exposure; adding a server means re-running `fedca trust` for every homeserver.
    #[default]
    Issued,
    /// The CA's permitted IP ranges whole: a server added inside them needs no
    /// reconfiguration, but the homeserver may reach every address in those ranges.
    Permitted,
}

impl FromStr for CarveOut {
    type Err = Error;
    fn from_str(s: &str) -> Result<CarveOut> {
        match s {
            "issued" => Ok(CarveOut::Issued),
            "permitted" => Ok(CarveOut::Permitted),
            _ => Err(Error::invalid(
                crate::error::Field::CarveOut,
                s,
                "is not a carve-out; use issued (the issued servers' addresses) or permitted (the CA's permitted IP ranges)",
            )),
        }
    }
}

/// Who owns the installed files on the homeserver: `USER[:GROUP]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Owner {
    /// The user.
    pub user: String,
    /// The group (the user's name when not given).
    pub group: String,
}

impl Owner {
    /// Parses `USER[:GROUP]` (POSIX portable user names).
    pub fn parse(s: &str) -> Result<Owner> {
        let (user, group) = s.split_once(':').unwrap_or((s, s));
        let ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 32
                && !n.starts_with('-')
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        if !ok(user) || !ok(group) {
            return Err(Error::invalid(
                crate::error::Field::Owner,
                s,
                "is not USER or USER:GROUP (letters, digits, '_', '-', '.'; not starting with '-')",
            ));
        }
        Ok(Owner {
            user: user.into(),
            group: group.into(),
        })
    }

    /// The default owner: the user that reads the key. With TLS at the proxy that is
    /// root (nginx and haproxy read keys before dropping privileges); otherwise the
    /// homeserver's user — `matrix-synapse` for Debian's Synapse package, the
    /// project's name for the others.
    pub fn default_for(target: Target, tls_at: TlsAt) -> Owner {
        let user = match (tls_at, target) {
            (TlsAt::Proxy, _) => "root",
            (_, Target::Synapse) => "matrix-synapse",
            (_, t) => t.as_str(),
        };
        Owner {
            user: user.into(),
            group: user.into(),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.user, self.group)
    }
}

/// The addresses a TLS listener binds for `s`: `--bind`, else the federation
/// endpoint's IP literal, else every interface (`None`).
pub fn listen_addrs(cx: &EmitContext<'_>, s: &ServerInfo) -> Option<Vec<IpAddr>> {
    if !cx.bind.is_empty() {
        return Some(cx.bind.to_vec());
    }
    s.literal_bind().map(|a| vec![a])
}

/// Refuses a client port equal to the federation port: two listeners would fight over it.
pub fn check_ports(cx: &EmitContext<'_>, s: &ServerInfo) -> Result<()> {
    let port = s.federation_port();
    if cx.client_port == port {
        return Err(Error::invalid(
            crate::error::Field::ClientPort,
            port.to_string(),
            format!(
                "is {}'s federation port too; the plain client listener needs a port of its own: give {} PORT (another port)",
                s.name,
                crate::error::Field::ClientPort.mention()
            ),
        ));
    }
    Ok(())
}

/// Adds the server's chain and key, the proxy snippets (with `--tls-at proxy`) and
/// `install.sh` to a homeserver's emission.
pub fn finish(cx: &EmitContext<'_>, s: &ServerInfo, emission: &mut Emission) -> Result<()> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| Error::io(p, e));
    let fullchain = read(&s.fullchain_path())?;
    let key = read(&s.key_path())?;
    emission.files.push(EmittedFile::new(
        FULLCHAIN,
        fullchain.clone(),
        store::PUBLIC_MODE,
        format!("{}'s certificate chain (leaf first)", s.name),
    ));
    emission.files.push(
        EmittedFile::new(
            KEY,
            key.clone(),
            store::KEY_MODE,
            format!("{}'s private key (0600)", s.name),
        )
        .with_server_key(&key),
    );
    if cx.tls_at == TlsAt::Proxy {
        proxy_files(cx, s, emission, &fullchain, &key)?;
    }
    emission.notes.push(if cx.federation.permitted_ranges.is_some() {
        format!("the blocklist is opened for the CA's permitted IP ranges ({} permitted): servers added inside them need no change; re-run trust when a certificate is renewed or a root rotated", crate::error::Field::CarveOut.mention())
    } else {
        format!("when the federation changes (a server added or re-addressed, a certificate renewed, a root rotated), re-run `fedca trust` for every homeserver and its install.sh: the blocklist carve-out lists the servers issued now ({} permitted opens the CA's ranges instead)", crate::error::Field::CarveOut.mention())
    });
    install_script(cx, s, emission)
}

fn proxy_files(
    cx: &EmitContext<'_>,
    s: &ServerInfo,
    emission: &mut Emission,
    fullchain: &str,
    key: &str,
) -> Result<()> {
    let port = s.federation_port();
    let addrs = listen_addrs(cx, s);
    // nginx `listen`, Caddy site addresses (with `bind`), haproxy `bind` lines.
    let (nginx, caddy, haproxy): (Vec<String>, Vec<serde_json::Value>, Vec<String>) = match &addrs {
        Some(addrs) => (
            addrs
                .iter()
                .map(|a| match a {
                    IpAddr::V6(v6) => format!("[{v6}]:{port}"),
                    IpAddr::V4(v4) => format!("{v4}:{port}"),
                })
                .collect(),
            addrs
                .iter()
                .map(|a| {
                    let site = match a {
                        IpAddr::V6(v6) => format!("https://[{v6}]:{port}"),
                        IpAddr::V4(v4) => format!("https://{v4}:{port}"),
                    };
                    serde_json::json!({ "site": site, "bind": a.to_string() })
                })
                .collect(),
            addrs.iter().map(|a| format!("{a}:{port}")).collect(),
        ),
        None => (
            vec![port.to_string(), format!("[::]:{port}")],
            vec![serde_json::json!({ "site": format!("https://:{port}"), "bind": null })],
            vec![format!(":::{port} v4v6")],
        ),
    };
    let section: String = s
        .name
        .dir_name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let endpoint = s.federation_endpoint();
    let mut context = cx.base(cx.target, None);
    context["server"] = cx.server_json(s);
    context["proxy"] = serde_json::json!({
        "listen": nginx,
        "caddy_sites": caddy,
        "haproxy_binds": haproxy,
        "section": format!("fedca-{section}"),
        "port": port,
        "upstream": format!("127.0.0.1:{}", cx.client_port),
        "server_names": if endpoint.host().ip().is_some() { "_".to_string() } else { endpoint.host().to_string() },
        "endpoint_host": endpoint.host().to_string(),
        "haproxy_pem": cx.install_dir.join(HAPROXY_PEM).display().to_string(),
        "well_known_file": cx.install_dir.join(super::WELL_KNOWN_PATH).display().to_string(),
    });
    context["well_known"] = s.delegate.is_some().into();
    emission.files.push(EmittedFile::new(
        NGINX,
        cx.render("nginx-fedca.conf.j2", &context)?,
        store::PUBLIC_MODE,
        "nginx: server blocks for the http context (e.g. /etc/nginx/conf.d/)",
    ));
    emission.files.push(EmittedFile::new(
        CADDY,
        cx.render("Caddyfile-fedca.j2", &context)?,
        store::PUBLIC_MODE,
        "Caddy: site blocks to import into the Caddyfile",
    ));
    emission.files.push(EmittedFile::new(
        HAPROXY,
        cx.render("haproxy-fedca.cfg.j2", &context)?,
        store::PUBLIC_MODE,
        "haproxy: a frontend and a backend to add to haproxy.cfg",
    ));
    let mut combined = fullchain.to_string();
    if !combined.ends_with('\n') {
        combined.push('\n');
    }
    combined.push_str(key);
    emission.files.push(
        EmittedFile::new(
            HAPROXY_PEM,
            combined,
            store::KEY_MODE,
            "haproxy's crt file: the chain, then the key (0600)",
        )
        .with_server_key(key),
    );
    emission.notes.push(format!(
        "TLS ends at the proxy: include {NGINX} (nginx), import {CADDY} (Caddy) or add {HAPROXY} (haproxy); each forwards port {port} to the homeserver's plain listener on {}",
        cx.client_port
    ));
    Ok(())
}

fn install_script(cx: &EmitContext<'_>, s: &ServerInfo, emission: &mut Emission) -> Result<()> {
    let files: Vec<serde_json::Value> = emission
        .files
        .iter()
        .map(|f| {
            let path = f.path.display().to_string();
            let dir = f
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.display().to_string());
            serde_json::json!({ "path": path, "dir": dir, "mode": format!("{:04o}", f.mode) })
        })
        .collect();
    let mut context = cx.base(cx.target, None);
    context["server"] = cx.server_json(s);
    context["files"] = files.into();
    context["owner"] = cx.owner.user.clone().into();
    context["group"] = cx.owner.group.clone().into();
    context["tls_at"] = cx.tls_at.as_str().into();
    emission.files.push(EmittedFile::new(
        INSTALL_SCRIPT,
        cx.render("install.sh.j2", &context)?,
        0o755,
        format!(
            "run as root on the homeserver: installs these files into {} (owner {}, keys 0600, others 0644)",
            cx.install_dir.display(),
            cx.owner
        ),
    ));
    emission.notes.push(format!(
        "copy this directory to the homeserver and run `sh {INSTALL_SCRIPT}` there as root: it installs every file into {}",
        cx.install_dir.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_parse_and_default() {
        assert_eq!(Owner::parse("a:b").unwrap().to_string(), "a:b");
        assert_eq!(
            Owner::parse("matrix-synapse").unwrap().group,
            "matrix-synapse"
        );
        for bad in ["", ":x", "x:", "-r", "a b", "a;rm"] {
            assert_eq!(Owner::parse(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
        assert_eq!(
            Owner::default_for(Target::Synapse, TlsAt::Homeserver).user,
            "matrix-synapse"
        );
        assert_eq!(
            Owner::default_for(Target::Synapse, TlsAt::Proxy).user,
            "root"
        );
    }
}
