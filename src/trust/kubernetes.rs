//! `kubernetes`: a `kubernetes.io/tls` Secret with the server's chain and key, and a
//! ConfigMap with the trusted roots.
//!
//! The Secret's `tls.crt` is the full chain (what the server must present) and
//! `tls.key` its private key — the one emitted file that holds a private key, written
//! 0600. The CA's own key never appears anywhere.

use super::{Emission, EmitContext, EmittedFile, Target};
use crate::error::{Error, Result};
use crate::store;

/// The Secret's file name.
pub const SECRET: &str = "tls-secret.yaml";
/// The ConfigMap's file name.
pub const CONFIGMAP: &str = "ca-configmap.yaml";
/// The ConfigMap's object name.
pub const CONFIGMAP_NAME: &str = "fedca-trusted-roots";

/// A Kubernetes object name (RFC 1123 subdomain) derived from a server directory name.
pub fn object_name(dir_name: &str) -> String {
    let mut s: String = dir_name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s = s
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    let mut name = format!("fedca-{s}-tls");
    name.truncate(253);
    name
}

/// Renders the Secret and the ConfigMap.
pub fn emit(cx: &EmitContext<'_>) -> Result<Emission> {
    let s = cx.server(Target::Kubernetes)?;
    let read = |p: &std::path::Path| std::fs::read_to_string(p).map_err(|e| Error::io(p, e));
    let fullchain = read(&s.fullchain_path())?;
    let key = read(&s.key_path())?;
    let mut context = cx.base(Target::Kubernetes, None);
    context["server"] = cx.server_json(s);
    context["secret_name"] = object_name(&s.name.dir_name()).into();
    context["configmap_name"] = CONFIGMAP_NAME.into();
    context["fullchain_pem"] = fullchain.into();
    // Only the Secret's context holds the key: a public output's template never sees
    // it, so no filter (`reverse`, `b64`, ...) can smuggle it past the key scan.
    let mut secret_context = context.clone();
    secret_context["key_pem"] = key.clone().into();
    let mut emission = Emission::default();
    emission.files.push(EmittedFile::new(
        SECRET,
        cx.render("kubernetes-tls-secret.yaml.j2", &secret_context)?,
        store::KEY_MODE,
        "kubernetes.io/tls Secret: the server's chain and private key (0600; keep it out of git)",
    )
    .with_server_key(&key));
    emission.files.push(EmittedFile::new(
        CONFIGMAP,
        cx.render("kubernetes-ca-configmap.yaml.j2", &context)?,
        store::PUBLIC_MODE,
        "ConfigMap with the trusted roots (ca.crt)",
    ));
    emission.notes.push(format!(
        "apply with `kubectl apply -n NAMESPACE -f {} -f {}`",
        cx.out.join(SECRET).display(),
        cx.out.join(CONFIGMAP).display()
    ));
    Ok(emission)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_rfc1123() {
        assert_eq!(object_name("hs1.fed.test"), "fedca-hs1.fed.test-tls");
        assert_eq!(object_name("127.0.0.1_8448"), "fedca-127.0.0.1-8448-tls");
        assert_eq!(object_name("ipv6_fd00--7"), "fedca-ipv6-fd00--7-tls");
    }
}
