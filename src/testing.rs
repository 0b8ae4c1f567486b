//! Ephemeral federations for tests: a root and one certificate per server, in memory,
//! in milliseconds.
//!
//! A [`TestFederation`] is a fedca CA that lives only in memory
//! ([`Authority::ephemeral`]) and the leaves it issued through the same path
//! `fedca issue` takes ([`issue::sign`]: the same profile, the same lint and the same
//! rustls verification before a certificate is handed out). Each [`TestServer`] gives
//! its chain and key as PEM and as rustls types, and a ready `rustls::ServerConfig`;
//! [`TestFederation::client_config`] gives a `rustls::ClientConfig` that trusts only the
//! federation's root, checked by fedca's [`Verifier`]. Nothing touches the disk until
//! [`TestFederation::write_to`] is asked to.
//!
//! ```
//! let fed = fedca::TestFederation::new(["hs1.fed.test", "127.0.0.1:8448", "[::1]:8448"])?;
//! let hs1 = fed.server("hs1.fed.test").expect("issued");
//! let (server, client) = (hs1.server_config()?, fed.client_config()?);
//! # let _ = (server, client);
//! # Ok::<(), fedca::Error>(())
//! ```
//!
//! A TLS handshake between the two, in memory (see `examples/federation_handshake.rs`
//! for one over TCP):
//!
//! ```
//! use fedca::rustls::{ClientConnection, ServerConnection};
//!
//! let onion = fedca::name::onion_address_from_pubkey(&[7; 32]);
//! let fed = fedca::TestFederation::new(["hs1.fed.test", onion.as_str()])?;
//! for hs in fed.servers() {
//!     let mut client = ClientConnection::new(fed.client_config()?, hs.tls_server_name()?)
//!         .expect("client");
//!     let mut server = ServerConnection::new(hs.server_config()?).expect("server");
//!     while client.is_handshaking() || server.is_handshaking() {
//!         let mut buf = Vec::new();
//!         client.write_tls(&mut buf).expect("write");
//!         server.read_tls(&mut buf.as_slice()).expect("read");
//!         server.process_new_packets().expect("the server accepts the client");
//!         buf.clear();
//!         server.write_tls(&mut buf).expect("write");
//!         client.read_tls(&mut buf.as_slice()).expect("read");
//!         client.process_new_packets().expect("the client accepts the server's certificate");
//!     }
//! }
//! # Ok::<(), fedca::Error>(())
//! ```

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, ServerConfig};
use time::OffsetDateTime;

use crate::authority::{Authority, InitOptions};
use crate::error::{Error, Field, Result};
use crate::issue::{self, IssuedLeaf, LeafProfile, LeafRequest};
use crate::name::{Host, ServerName};
use crate::store::{self, files, KEY_MODE, PUBLIC_MODE};
use crate::verify::{TrustBundle, Verifier};

/// An in-memory CA and one certificate per server.
#[derive(Debug)]
pub struct TestFederation {
    authority: Authority,
    servers: Vec<TestServer>,
}

/// One server of a [`TestFederation`]: its certificate and key.
#[derive(Clone)]
pub struct TestServer {
    name: ServerName,
    serial: String,
    names: Vec<String>,
    not_after: OffsetDateTime,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key_pem: String,
    key_der: Vec<u8>,
    ca_pem: String,
}

impl TestFederation {
    /// A new root (fedca's defaults: ECDSA P-256, unconstrained) and one leaf per
    /// server name (`hs1.fed.test`, `127.0.0.1:8448`, `[::1]:8448`, a v3 `.onion`
    /// name, ...), with the names checked exactly as `fedca issue` checks them.
    pub fn new<I, S>(servers: I) -> Result<TestFederation>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        TestFederation::with_options(&InitOptions::default(), servers)
    }

    /// Like [`TestFederation::new`], with the root's name, key type, validities and
    /// name constraints from `opts` (`opts.force` is ignored).
    pub fn with_options<I, S>(opts: &InitOptions, servers: I) -> Result<TestFederation>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let requests = servers
            .into_iter()
            .map(|s| Ok(LeafRequest::new(ServerName::parse(s.as_ref())?)))
            .collect::<Result<Vec<_>>>()?;
        let mut fed = TestFederation {
            authority: Authority::ephemeral(opts)?,
            servers: Vec::with_capacity(requests.len()),
        };
        fed.issue(&requests)?;
        Ok(fed)
    }

    /// Issues more certificates from the same root, one per request (delegated names,
    /// extra names, validity and key type as [`LeafRequest`] allows), and returns them.
    /// Every request is checked before any is signed; a server that already has a
    /// certificate is refused.
    pub fn issue(&mut self, requests: &[LeafRequest]) -> Result<&[TestServer]> {
        let now = OffsetDateTime::now_utc();
        let mut dirs: BTreeSet<String> = self.servers.iter().map(|s| s.name.dir_name()).collect();
        let mut profiles = Vec::with_capacity(requests.len());
        for req in requests {
            if !dirs.insert(req.server.dir_name()) {
                return Err(Error::invalid(
                    Field::ServerName,
                    req.server.to_string(),
                    "is given twice in one federation",
                ));
            }
            profiles.push(LeafProfile::build(req, &self.authority, now)?);
        }
        let mut taken: BTreeSet<String> = self.servers.iter().map(|s| s.serial.clone()).collect();
        let first = self.servers.len();
        for profile in profiles {
            let leaf = issue::sign(&self.authority, profile, &taken)?;
            taken.insert(leaf.serial.clone());
            self.servers
                .push(TestServer::from_leaf(leaf, &self.authority)?);
        }
        Ok(&self.servers[first..])
    }

    /// The in-memory CA, which can sign more (see [`TestFederation::issue`]).
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The root certificate, PEM.
    pub fn root_pem(&self) -> &str {
        self.authority.cert_pem()
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.authority.cert_der().to_vec())
    }

    /// Every server, in the order given.
    pub fn servers(&self) -> &[TestServer] {
        &self.servers
    }

    /// The server named `name` (compared as parsed server names, exactly as Matrix
    /// compares them), if the federation has it.
    pub fn server(&self, name: &str) -> Option<&TestServer> {
        let wanted = ServerName::parse(name).ok()?;
        self.servers.iter().find(|s| s.name == wanted)
    }

    /// The federation's root as a [`TrustBundle`].
    pub fn trust_bundle(&self) -> Result<TrustBundle> {
        TrustBundle::from_der(vec![self.root_der()])
    }

    /// fedca's [`Verifier`] trusting only the federation's root: a rustls
    /// `ServerCertVerifier` that also explains refusals.
    pub fn verifier(&self) -> Result<Verifier> {
        self.trust_bundle()?.verifier()
    }

    /// A rustls client configuration (ring provider, TLS 1.2 and 1.3, no client
    /// certificate) that trusts only the federation's root, verifying with fedca's
    /// [`Verifier`] — a federation client of this federation.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>> {
        Ok(Arc::new(self.trust_bundle()?.client_config(None)?))
    }

    /// Writes the federation to `dir` (created 0700 if missing): `root.pem`, and for
    /// each server `servers/DIR-NAME/` with `cert.pem`, `fullchain.pem`, `key.pem`
    /// (0600) and `ca.pem` — the layout of a CA's `servers/` directory. The root's
    /// key is not written. Files are written atomically; existing ones are replaced.
    pub fn write_to(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        store::create_dir_all_private(dir)?;
        store::write_atomic(
            &dir.join(files::ROOT_CERT),
            self.root_pem().as_bytes(),
            PUBLIC_MODE,
        )?;
        let servers = dir.join(files::SERVERS);
        store::create_dir_all_private(&servers)?;
        for s in &self.servers {
            let d = servers.join(s.dir_name());
            store::create_dir_all_private(&d)?;
            for (file, text, mode) in [
                (files::LEAF, &s.cert_pem, PUBLIC_MODE),
                (files::FULLCHAIN, &s.cert_pem, PUBLIC_MODE),
                (files::KEY, &s.key_pem, KEY_MODE),
                (files::CA, &s.ca_pem, PUBLIC_MODE),
            ] {
                store::write_atomic(&d.join(file), text.as_bytes(), mode)?;
            }
        }
        Ok(())
    }
}

/// Leaves the key out, as [`Authority`]'s does.
impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("name", &self.name)
            .field("serial", &self.serial)
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    fn from_leaf(leaf: IssuedLeaf, ca: &Authority) -> Result<TestServer> {
        let key_der = crate::x509::pem_first(&leaf.key_pem)
            .map_err(|e| Error::Internal(format!("fedca's own key PEM does not parse: {e}")))?
            .der;
        Ok(TestServer {
            name: leaf.profile.server.clone(),
            names: leaf.profile.san_texts(),
            // As the certificate encodes it: whole seconds.
            not_after: leaf
                .profile
                .not_after
                .replace_nanosecond(0)
                .unwrap_or(leaf.profile.not_after),
            serial: leaf.serial,
            cert_der: CertificateDer::from(leaf.cert_der),
            cert_pem: leaf.cert_pem,
            key_pem: leaf.key_pem,
            key_der,
            ca_pem: ca.cert_pem().to_string(),
        })
    }

    /// The server name.
    pub fn name(&self) -> &ServerName {
        &self.name
    }

    /// The host a federation client checks the certificate against.
    pub fn host(&self) -> &Host {
        self.name.host()
    }

    /// Every name in the certificate, as written in it.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The certificate's serial, lower-case hex.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// End of the certificate's validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The directory name fedca gives this server under `servers/`.
    pub fn dir_name(&self) -> String {
        self.name.dir_name()
    }

    /// The leaf certificate, PEM (`cert.pem`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The chain the server serves, PEM (`fullchain.pem`: the leaf; fedca issues from
    /// the root directly).
    pub fn fullchain_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PKCS#8 PEM (`key.pem`).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The root certificate, PEM (`ca.pem`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The leaf certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The chain the server serves, as rustls takes it.
    pub fn cert_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert_der.clone()]
    }

    /// The private key, as rustls takes it.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// A rustls server configuration (ring provider, TLS 1.2 and 1.3, no client
    /// authentication) presenting this server's chain.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Internal(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.cert_chain(), self.private_key())
            .map_err(|e| Error::Internal(format!("rustls refuses fedca's certificate: {e}")))?;
        Ok(Arc::new(config))
    }

    /// The name a federation client connects to this server with: a DNS name (sent
    /// as SNI) or an IP address (no SNI), port dropped.
    pub fn tls_server_name(&self) -> Result<rustls::pki_types::ServerName<'static>> {
        crate::handshake::server_name_for(self.host()).map_err(|e| Error::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::{Constraints, KeyType, Permit};

    #[test]
    fn servers_get_verifiable_certificates_for_their_hosts() {
        let onion = crate::name::onion_address_from_pubkey(&[3; 32]);
        let fed = TestFederation::new([
            "hs1.fed.test",
            "127.0.0.1:8448",
            "[::1]:8448",
            onion.as_str(),
        ])
        .unwrap();
        assert_eq!(fed.servers().len(), 4);
        let verifier = fed.verifier().unwrap();
        for s in fed.servers() {
            let v = verifier.verify(
                &s.cert_chain(),
                s.host(),
                rustls::pki_types::UnixTime::now(),
            );
            assert!(v.valid, "{}: {:?}", s.name(), v.error);
            assert!(s.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
            assert_eq!(s.ca_pem(), fed.root_pem());
        }
        assert_eq!(fed.server("[::1]:8448").unwrap().names(), ["::1"]);
        assert_eq!(fed.server("127.0.0.1:8448").unwrap().names(), ["127.0.0.1"]);
        assert!(fed.server("hs2.fed.test").is_none());
        // A certificate is for its own host only.
        let hs1 = fed.server("hs1.fed.test").unwrap();
        let other = ServerName::parse("hs2.fed.test").unwrap();
        assert!(
            !verifier
                .verify(
                    &hs1.cert_chain(),
                    other.host(),
                    rustls::pki_types::UnixTime::now()
                )
                .valid
        );
    }

    #[test]
    fn another_federation_is_not_trusted() {
        let a = TestFederation::new(["hs1.fed.test"]).unwrap();
        let b = TestFederation::new(["hs1.fed.test"]).unwrap();
        let s = a.server("hs1.fed.test").unwrap();
        let v = b.verifier().unwrap().verify(
            &s.cert_chain(),
            s.host(),
            rustls::pki_types::UnixTime::now(),
        );
        assert_eq!(
            v.error.unwrap().kind,
            crate::verify::ErrorKind::UnknownIssuer
        );
    }

    #[test]
    fn bad_names_duplicates_and_constraints_are_refused() {
        let e = TestFederation::new(["hs1.fed.test", "bad name"]).unwrap_err();
        assert!(e.to_string().contains("bad name"), "{e}");
        let e = TestFederation::new(["hs1.fed.test", "hs1.fed.test"]).unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
        let opts = InitOptions {
            permitted: Constraints(vec![Permit::parse("fed.test").unwrap()]),
            key_type: KeyType::Ed25519,
            ..InitOptions::default()
        };
        let e = TestFederation::with_options(&opts, ["hs1.other.test"]).unwrap_err();
        assert!(matches!(e, Error::OutsideConstraints { .. }), "{e}");
        let mut fed = TestFederation::with_options(&opts, ["hs1.fed.test"]).unwrap();
        let more = fed
            .issue(&[LeafRequest::new(ServerName::parse("hs2.fed.test").unwrap())])
            .unwrap();
        assert_eq!(more.len(), 1);
        assert_eq!(fed.servers().len(), 2);
        assert!(fed
            .issue(&[LeafRequest::new(ServerName::parse("hs2.fed.test").unwrap())])
            .is_err());
    }

    #[test]
    fn write_to_lays_out_a_servers_dir() {
        use std::os::unix::fs::PermissionsExt;
        let fed = TestFederation::new(["hs1.fed.test", "[::1]:8448"]).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("fed");
        fed.write_to(&dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("root.pem")).unwrap(),
            fed.root_pem()
        );
        for s in fed.servers() {
            let d = dir.join("servers").join(s.dir_name());
            let read = |f: &str| std::fs::read_to_string(d.join(f)).unwrap();
            assert_eq!(read("cert.pem"), s.cert_pem());
            assert_eq!(read("fullchain.pem"), s.fullchain_pem());
            assert_eq!(read("key.pem"), s.key_pem());
            assert_eq!(read("ca.pem"), fed.root_pem());
            let mode = |f: &str| std::fs::metadata(d.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode("key.pem"), 0o600);
            assert_eq!(mode("cert.pem"), 0o644);
        }
        assert!(dir.join("servers/ipv6_--1_8448/key.pem").is_file());
        assert!(!dir.join("root-key.pem").exists());
    }

    #[test]
    fn debug_output_holds_no_key() {
        let fed = TestFederation::new(["hs1.fed.test"]).unwrap();
        let shown = format!("{fed:?} {:?}", fed.servers());
        assert!(shown.contains("hs1.fed.test"), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        let key_der = &fed.servers()[0].key_der;
        assert!(!shown.contains(&format!("{:?}", &key_der[..8])), "{shown}");
    }
}
