//! Rendering: what an emitter gets ([`EmitContext`]) and produces ([`Emission`]).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::templates::Templates;
use super::{
    conduit, dendrite, deploy, keyscan, kubernetes, synapse, system, Federation, ServerInfo,
    Target, TrustBundle, TrustedRoot,
};
use crate::error::{Error, Field, Result};
use crate::store;

/// Everything an emitter needs.
#[derive(Debug, Clone)]
pub struct EmitContext<'a> {
    /// The roots to trust.
    pub bundle: &'a TrustBundle,
    /// The server to configure (required by targets that configure one).
    pub server: Option<&'a ServerInfo>,
    /// The federation's servers and addresses.
    pub federation: &'a Federation,
    /// The output directory, absolute: paths inside the emitted configuration point
    /// into it.
    pub out: &'a Path,
    /// The templates.
    pub templates: &'a Templates,
    /// Addresses for the federation listener to bind (`--bind`); empty for the default.
    pub bind: &'a [IpAddr],
    /// The target being rendered.
    pub target: Target,
    /// Where the files will live on the homeserver (`--install-dir`, default the
    /// output directory): paths inside the emitted configuration point there.
    pub install_dir: &'a Path,
    /// Where federation TLS ends (`--tls-at`).
    pub tls_at: deploy::TlsAt,
    /// The homeserver's plain client listener port (`--client-port`).
    pub client_port: u16,
    /// Who owns the installed files (`--owner`).
    pub owner: deploy::Owner,
}

impl<'a> EmitContext<'a> {
    /// A context with every deployment option at its default: no server, no `--bind`,
    /// `install_dir` = `out`, TLS at the homeserver, client port 8008, the target's
    /// default owner. Set the other fields with struct update syntax.
    pub fn new(
        target: Target,
        bundle: &'a TrustBundle,
        federation: &'a Federation,
        templates: &'a Templates,
        out: &'a Path,
    ) -> EmitContext<'a> {
        EmitContext {
            bundle,
            server: None,
            federation,
            out,
            templates,
            bind: &[],
            target,
            install_dir: out,
            tls_at: deploy::TlsAt::Homeserver,
            client_port: deploy::DEFAULT_CLIENT_PORT,
            owner: deploy::Owner::default_for(target, deploy::TlsAt::Homeserver),
        }
    }
}

impl EmitContext<'_> {
    /// Refuses more than one `--bind` for a homeserver whose listener takes one
    /// address; `rule` says which setting that is.
    pub(crate) fn at_most_one_bind(&self, rule: &str) -> Result<()> {
        if self.bind.len() <= 1 {
            return Ok(());
        }
        let given: Vec<String> = self.bind.iter().map(ToString::to_string).collect();
        Err(Error::invalid(
            crate::error::Field::Bind,
            given.join(" "),
            rule,
        ))
    }

    pub(crate) fn server(&self, target: Target) -> Result<&ServerInfo> {
        self.server.ok_or_else(|| {
            Error::invalid(
                crate::error::Field::Server,
                "(not given)",
                format!("is required with {} {target}: the configuration names the server's certificate and key", Field::Target.mention()),
            )
        })
    }

    /// The context every template receives: version, target, roots (with the path
    /// of each root's file under the output directory, for targets that write one).
    pub(crate) fn base(
        &self,
        target: Target,
        root_file: Option<&dyn Fn(&TrustedRoot) -> String>,
    ) -> serde_json::Value {
        let roots: Vec<serde_json::Value> = self
            .bundle
            .trusted()
            .iter()
            .map(|r| {
                let mut v = serde_json::json!({
                    "id": r.id,
                    "sha256": r.sha256,
                    "subject": r.subject,
                    "not_after": r.not_after,
                    "pem": r.pem,
                });
                if let Some(f) = root_file {
                    v["file"] = self.install_dir.join(f(r)).display().to_string().into();
                }
                v
            })
            .collect();
        serde_json::json!({
            "fedca_version": env!("CARGO_PKG_VERSION"),
            "target": target.as_str(),
            "out": self.out.display().to_string(),
            "install_dir": self.install_dir.display().to_string(),
            "tls_at": self.tls_at.as_str(),
            "client_port": self.client_port,
            "roots": roots,
            "bundle_pem": self.bundle.pem(),
        })
    }

    pub(crate) fn server_json(&self, s: &ServerInfo) -> serde_json::Value {
        serde_json::json!({
            "name": s.name.to_string(),
            "host": s.name.host().to_string(),
            "delegate": s.delegate.as_ref().map(ToString::to_string),
            "endpoint": s.federation_endpoint().to_string(),
            "endpoint_host": s.federation_endpoint().host().to_string(),
            "port": s.federation_port(),
            "explicit_port": s.federation_endpoint().port().is_some(),
            "fullchain": self.install_dir.join(deploy::FULLCHAIN).display().to_string(),
            "key": self.install_dir.join(deploy::KEY).display().to_string(),
            "names": s.names,
            "serial": s.serial,
            "not_after": crate::x509::rfc3339(s.not_after),
        })
    }

    pub(crate) fn render(&self, template: &str, context: &serde_json::Value) -> Result<String> {
        self.templates
            .render(template, &minijinja::Value::from_serialize(context))
    }
}

/// One file an emitter produced, not yet written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmittedFile {
    /// Its path relative to the output directory.
    pub path: PathBuf,
    /// Its contents.
    #[serde(skip)]
    pub contents: String,
    /// Its file mode (0600 for anything holding a private key).
    pub mode: u32,
    /// What it is, for the report.
    pub what: String,
    /// The server's own key (PEM), when this file is meant to carry it (the Kubernetes
    /// Secret, 0600): the only private key any output may hold.
    #[serde(skip)]
    server_key: Option<String>,
}

impl EmittedFile {
    pub(crate) fn new(
        path: impl Into<PathBuf>,
        contents: String,
        mode: u32,
        what: impl Into<String>,
    ) -> Self {
        EmittedFile {
            path: path.into(),
            contents,
            mode,
            what: what.into(),
            server_key: None,
        }
    }

    /// Marks the file as the one that carries the server's own key `key_pem`.
    pub(crate) fn with_server_key(mut self, key_pem: &str) -> Self {
        self.server_key = Some(key_pem.to_string());
        self
    }

    /// Refuses contents holding private-key material in any encoding (see
    /// [`keyscan`]), other than the server's own key in the file meant to carry it.
    /// The CA's key is never read: the check looks for the structure of a key.
    pub fn refuse_private_keys(&self) -> Result<()> {
        let mut contents = self.contents.clone();
        if let Some(key) = &self.server_key {
            if self.mode != store::KEY_MODE {
                return Err(Error::Internal(format!(
                    "{} carries a private key but is not 0600",
                    self.path.display()
                )));
            }
            contents = contents
                .replace(&data_encoding::BASE64.encode(key.as_bytes()), "")
                .replace(key.as_str(), "");
        }
        match keyscan::find_private_key(contents.as_bytes()) {
            None => Ok(()),
            Some(what) => Err(Error::invalid(
                crate::error::Field::Templates,
                self.path.display().to_string(),
                format!(
                    "would receive {what} from its template; trust output never holds a private key{} — check the template files (a link to a key, or a key pasted in)",
                    if self.server_key.is_some() {
                        " other than the server's own key"
                    } else {
                        ""
                    }
                ),
            )),
        }
    }
}

/// Everything one target emits.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Emission {
    /// The files, in the order they are written.
    pub files: Vec<EmittedFile>,
    /// Next steps and warnings for the person running fedca. A note may name a
    /// setting as a [`Field::mention`]: render it with
    /// [`plain_text`](crate::error::plain_text) or [`cli_text`](crate::error::cli_text).
    pub notes: Vec<String>,
}

/// Renders everything `target` emits, in memory. Nothing is written.
pub fn emit(target: Target, cx: &EmitContext<'_>) -> Result<Emission> {
    if cx.bundle.trusted().is_empty() {
        return Err(Error::invalid(
            Field::TrustedRoots,
            "",
            "the bundle is empty",
        ));
    }
    let mut emission = match target {
        Target::Synapse => synapse::emit(cx)?,
        Target::Dendrite => dendrite::emit(cx)?,
        Target::Conduit | Target::Conduwuit | Target::Continuwuity | Target::Tuwunel => {
            conduit::emit(target, cx)?
        }
        Target::Pem => return super::pem::emit(cx),
        Target::System => return system::emit(cx),
        Target::Kubernetes => return kubernetes::emit(cx),
    };
    let s = cx.server(target)?;
    deploy::finish(cx, s, &mut emission)?;
    Ok(emission)
}

/// The file name of the roots bundle (for `SSL_CERT_FILE`, or any other verifier).
pub const BUNDLE: &str = "fedca-roots.pem";
/// The file name of the environment file that sets `SSL_CERT_FILE`.
pub const ENV_FILE: &str = "trust.env";

/// Pushes the two files of outbound trust through `SSL_CERT_FILE` (Go, rustls-native-certs
/// and rustls-platform-verifier honour it, and it REPLACES the platform store): the
/// roots bundle and an environment file for `who` (the server that reads it).
pub(crate) fn push_ssl_cert_file(
    emission: &mut Emission,
    cx: &EmitContext<'_>,
    context: &serde_json::Value,
    who: &str,
) -> Result<()> {
    emission.files.push(EmittedFile::new(
        BUNDLE,
        cx.render("roots-bundle.pem.j2", context)?,
        crate::store::PUBLIC_MODE,
        "the trusted roots, for SSL_CERT_FILE",
    ));
    emission.files.push(EmittedFile::new(
        ENV_FILE,
        cx.render("trust.env.j2", context)?,
        crate::store::PUBLIC_MODE,
        format!("SSL_CERT_FILE for {who}'s environment (replaces the platform store)"),
    ));
    Ok(())
}

/// The emitted `.well-known/matrix/server` file of a delegated server, if delegated.
pub(crate) fn well_known_file(cx: &EmitContext<'_>, s: &ServerInfo) -> Result<Option<EmittedFile>> {
    let Some(delegate) = &s.delegate else {
        return Ok(None);
    };
    let context =
        serde_json::json!({ "m_server": delegate.to_string(), "server": cx.server_json(s) });
    let body = cx.render("well-known-matrix-server.json.j2", &context)?;
    // The template is the user's to change, but what it renders must stay JSON.
    serde_json::from_str::<serde_json::Value>(&body).map_err(|e| {
        Error::invalid(
            Field::Template,
            "well-known-matrix-server.json.j2",
            format!("must render JSON, but: {e}"),
        )
    })?;
    Ok(Some(EmittedFile::new(
        WELL_KNOWN_PATH,
        body,
        store::PUBLIC_MODE,
        format!(
            "serve at https://{}/.well-known/matrix/server (port 443): delegates federation to {delegate}",
            s.name.host()
        ),
    )))
}

/// Where the `.well-known/matrix/server` file goes under the output directory.
pub const WELL_KNOWN_PATH: &str = ".well-known/matrix/server";
