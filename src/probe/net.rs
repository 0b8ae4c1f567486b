//! One address: TCP connect, TLS handshake (the chain is captured and then checked with
//! fedca's verifier, for its diagnoses), and HTTP/1.1 GETs through hyper on the same
//! connection. Every step has the probe's timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName as PkiServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::name::Host;
use crate::verify::{Verdict, Verifier};

/// The largest body read (Synapse reads at most 50 KiB of `.well-known`).
pub const MAX_BODY: usize = 512 * 1024;

/// Why a step on the wire failed: a stable kind and the words.
#[derive(Debug, Clone)]
pub struct WireError {
    /// The step that failed: `connect`, `tls` or `http`.
    pub stage: &'static str,
    /// `connection_refused`, `connect_failed`, `timeout`, `tls`, `http`.
    pub kind: &'static str,
    /// What happened.
    pub detail: String,
}

impl WireError {
    fn at(mut self, stage: &'static str) -> Self {
        self.stage = stage;
        self
    }

    fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        WireError {
            stage: "http",
            kind,
            detail: detail.into(),
        }
    }
}

/// A TLS connection with what the handshake showed.
pub struct Tls {
    /// The stream, for HTTP.
    pub stream: TlsStream<TcpStream>,
    /// `TLSv1_3`.
    pub protocol: String,
    /// `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// fedca's verdict on the presented chain for the expected name.
    pub verdict: Verdict,
}

/// Accepts any chain during the handshake (it is checked right after, by
/// [`Verifier::verify`], which explains a refusal), but checks the handshake
/// signatures for real. Nothing is sent over a connection whose chain fails.
#[derive(Debug)]
struct Capture(Verifier);

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &PkiServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The client configuration of a probe: rustls with ring, TLS 1.2 and 1.3, the chain
/// captured for [`Verifier::verify`].
pub fn client_config(verifier: &Verifier) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Capture(verifier.clone())))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects to `addr` and runs a TLS handshake for `expected` (SNI sent for DNS names,
/// none for IP literals, as the specification asks), then verifies the chain.
pub async fn connect(
    addr: SocketAddr,
    expected: &Host,
    config: Arc<ClientConfig>,
    verifier: &Verifier,
    timeout: Duration,
) -> Result<Tls, WireError> {
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => {
            return Err(WireError::new(
                "timeout",
                format!("no TCP connection to {addr} within {}", secs(timeout)),
            )
            .at("connect"))
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(WireError::new(
                "connection_refused",
                format!("{addr} refused the connection (nothing listens there)"),
            )
            .at("connect"))
        }
        Ok(Err(e)) => {
            return Err(
                WireError::new("connect_failed", format!("cannot connect to {addr}: {e}"))
                    .at("connect"),
            )
        }
        Ok(Ok(s)) => s,
    };
    let name = match expected.ip() {
        Some(ip) => PkiServerName::IpAddress(ip.into()),
        None => PkiServerName::try_from(expected.verify_name())
            .map_err(|e| WireError::new("tls", format!("{expected}: {e}")))?,
    };
    let stream = match tokio::time::timeout(timeout, TlsConnector::from(config).connect(name, tcp))
        .await
    {
        Err(_) => {
            return Err(WireError::new(
                "timeout",
                format!(
                "{addr} accepted the TCP connection but did not complete a TLS handshake within {}",
                secs(timeout)
            ),
            )
            .at("tls"))
        }
        Ok(Err(e)) => {
            return Err(
                WireError::new("tls", format!("TLS handshake with {addr} failed: {e}")).at("tls"),
            )
        }
        Ok(Ok(s)) => s,
    };
    let conn = stream.get_ref().1;
    let protocol = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let cipher_suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    let chain: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    let verdict = verifier.verify(&chain, expected, UnixTime::now());
    Ok(Tls {
        stream,
        protocol,
        cipher_suite,
        verdict,
    })
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers, lower-case names.
    pub headers: hyper::HeaderMap,
    /// The body (at most [`MAX_BODY`] bytes).
    pub body: Bytes,
}

/// An HTTP/1.1 connection over TLS (hyper), for one or more GETs.
pub struct Http {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    timeout: Duration,
}

impl Http {
    /// Starts HTTP/1.1 over the TLS stream.
    pub async fn start(stream: TlsStream<TcpStream>, timeout: Duration) -> Result<Http, WireError> {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| WireError::new("http", format!("HTTP/1.1 setup failed: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Http { sender, timeout })
    }

    /// `GET path` with the given Host header.
    pub async fn get(&mut self, path: &str, host: &str) -> Result<Answer, WireError> {
        let timeout = self.timeout;
        let request = hyper::Request::builder()
            .method("GET")
            .uri(path)
            .header(hyper::header::HOST, host)
            .header(
                hyper::header::USER_AGENT,
                concat!("fedca-probe/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| WireError::new("http", format!("bad request {path}: {e}")))?;
        let work = async {
            self.sender
                .ready()
                .await
                .map_err(|e| WireError::new("http", format!("the connection closed: {e}")))?;
            let response = self
                .sender
                .send_request(request)
                .await
                .map_err(|e| WireError::new("http", format!("GET {path} failed: {e}")))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| {
                    WireError::new("http", format!("reading the body of GET {path}: {e}"))
                })?
                .to_bytes();
            Ok(Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(WireError::new(
                "timeout",
                format!("GET {path}: no complete answer within {}", secs(timeout)),
            )),
        }
    }
}

/// `5 s`, `0.5 s`.
pub fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}
