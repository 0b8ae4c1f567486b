//! Real TLS handshakes over loopback between a rustls server presenting a server's
//! files and a rustls client that trusts only given roots — the check `fedca demo`
//! runs and the tests build on.
//!
//! The client behaves as the Matrix specification asks of a federation client: it
//! sends SNI for DNS names and none for IP literals, and it verifies with rustls's
//! webpki verifier (ring provider).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use crate::name::Host;

/// What a successful handshake looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The negotiated protocol version (`TLSv1_3`).
    pub protocol: String,
    /// The negotiated cipher suite.
    pub cipher_suite: String,
    /// The SNI the server received, if any.
    pub sni: Option<String>,
}

/// Why a handshake failed, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError(pub String);

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandshakeError {}

#[derive(Debug)]
struct FixedTime(UnixTime);

impl TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(self.0)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses every certificate in a PEM text.
pub fn pem_certs(pem_text: &str) -> Result<Vec<CertificateDer<'static>>, HandshakeError> {
    let blocks =
        crate::x509::pem_all(pem_text).map_err(|e| HandshakeError(format!("bad PEM: {e}")))?;
    Ok(blocks
        .into_iter()
        .filter(|b| b.tag == "CERTIFICATE")
        .map(|b| CertificateDer::from(b.der))
        .collect())
}

/// A rustls client configuration trusting exactly the roots in `roots_pem`, with the
/// clock at `at` (now when `None`).
pub fn client_config(
    roots_pem: &str,
    at: Option<UnixTime>,
) -> Result<ClientConfig, HandshakeError> {
    let mut roots = RootCertStore::empty();
    for c in pem_certs(roots_pem)? {
        roots
            .add(c)
            .map_err(|e| HandshakeError(format!("unusable root: {e}")))?;
    }
    let builder = match at {
        Some(t) => ClientConfig::builder_with_details(provider(), Arc::new(FixedTime(t))),
        None => ClientConfig::builder_with_provider(provider()),
    };
    Ok(builder
        .with_safe_default_protocol_versions()
        .map_err(|e| HandshakeError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The name a federation client verifies and (for DNS names) sends as SNI.
pub fn server_name_for(host: &Host) -> Result<ServerName<'static>, HandshakeError> {
    match host.ip() {
        Some(ip) => Ok(ServerName::IpAddress(ip.into())),
        None => ServerName::try_from(host.verify_name())
            .map_err(|e| HandshakeError(format!("{host}: {e}"))),
    }
}

/// Runs one TLS handshake over 127.0.0.1: a rustls server presenting `fullchain_pem`
/// and `key_pem`, a rustls client trusting only `roots_pem` and expecting `host`,
/// with its clock at `at` (now when `None`). Application data goes both ways.
pub fn loopback(
    fullchain_pem: &str,
    key_pem: &str,
    roots_pem: &str,
    host: &Host,
    at: Option<UnixTime>,
) -> Result<Handshake, HandshakeError> {
    let client = client_config(roots_pem, at)?;
    loopback_with(fullchain_pem, key_pem, Arc::new(client), host)
}

/// Like [`loopback`], with any client configuration (for a custom verifier).
pub fn loopback_with(
    fullchain_pem: &str,
    key_pem: &str,
    client: Arc<ClientConfig>,
    host: &Host,
) -> Result<Handshake, HandshakeError> {
    let chain = pem_certs(fullchain_pem)?;
    let key = PrivateKeyDer::try_from(
        crate::x509::pem_first(key_pem)
            .map_err(|e| HandshakeError(format!("bad key PEM: {e}")))?
            .der,
    )
    .map_err(|e| HandshakeError(format!("bad key: {e}")))?;
    let server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| HandshakeError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| HandshakeError(format!("server cannot use the certificate: {e}")))?;
    let server = Arc::new(server);
    let name = server_name_for(host)?;

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| HandshakeError(format!("bind: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| HandshakeError(e.to_string()))?;
    let server_thread = std::thread::spawn(move || -> Result<Option<String>, String> {
        let (mut sock, _) = listener.accept().map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut conn = ServerConnection::new(server).map_err(|e| e.to_string())?;
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).map_err(|e| e.to_string())?;
        tls.write_all(b"pong").map_err(|e| e.to_string())?;
        tls.flush().map_err(|e| e.to_string())?;
        let sni = tls.conn.server_name().map(str::to_string);
        tls.conn.send_close_notify();
        let _ = tls.conn.complete_io(tls.sock);
        Ok(sni)
    });

    let result = (|| {
        let mut sock =
            TcpStream::connect(addr).map_err(|e| HandshakeError(format!("connect: {e}")))?;
        sock.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut conn =
            ClientConnection::new(client, name).map_err(|e| HandshakeError(e.to_string()))?;
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        tls.write_all(b"ping")
            .map_err(|e| HandshakeError(e.to_string()))?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf)
            .map_err(|e| HandshakeError(e.to_string()))?;
        if &buf != b"pong" {
            return Err(HandshakeError("unexpected application data".into()));
        }
        Ok((
            format!(
                "{:?}",
                tls.conn
                    .protocol_version()
                    .unwrap_or(rustls::ProtocolVersion::Unknown(0))
            ),
            tls.conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
        ))
    })();
    // On client failure the server side sees an alert or EOF; either way it ends.
    let server_result = server_thread
        .join()
        .map_err(|_| HandshakeError("server thread panicked".into()))?;
    let (protocol, cipher_suite) = result?;
    let sni = server_result.map_err(|e| HandshakeError(format!("server: {e}")))?;
    Ok(Handshake {
        protocol,
        cipher_suite,
        sni,
    })
}
