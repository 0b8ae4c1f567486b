//! Two homeservers of one federation shake hands over loopback TCP, both ways, with
//! certificates from `fedca::testing` — real TLS (rustls, ring), nothing on disk.
//!
//! ```text
//! cargo run --example federation_handshake
//! ```
//!
//! Each server listens on 127.0.0.1 with its own certificate; each connects to the
//! other as a federation client does: SNI for a DNS name, none for an IP literal, and
//! only the federation's root trusted (fedca's verifier). A server of another
//! federation is refused.

use std::error::Error;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use fedca::rustls::{self, ClientConfig, ClientConnection, ServerConnection};
use fedca::{TestFederation, TestServer};

type BoxResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

fn main() -> ExitCode {
    match run() {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("federation_handshake: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the handshakes and returns one line per connection.
pub fn run() -> BoxResult<Vec<String>> {
    let fed = TestFederation::new(["hs1.fed.test", "127.0.0.1:8448"])?;
    let [a, b] = fed.servers() else {
        return Err("expected two servers".into());
    };
    let client = fed.client_config()?;
    let mut lines = vec![format!(
        "one root, two servers: {} and {}",
        a.name(),
        b.name()
    )];
    for (from, to) in [(a, b), (b, a)] {
        lines.push(handshake(from, to, client.clone())?);
    }
    // A server whose certificate comes from another root: this federation refuses it.
    let stranger = TestFederation::new(["hs1.fed.test"])?;
    match handshake(a, &stranger.servers()[0], client) {
        Ok(line) => return Err(format!("a stranger's certificate was accepted: {line}").into()),
        Err(e) => lines.push(format!("a server of another federation is refused: {e}")),
    }
    Ok(lines)
}

/// `from` connects to `to` (listening on an ephemeral loopback port) and they
/// exchange one request and one response over TLS.
fn handshake(from: &TestServer, to: &TestServer, client: Arc<ClientConfig>) -> BoxResult<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = serve(listener, to)?;
    let result = connect(addr, from, to, client);
    // On a refused handshake the server sees an alert; either way its thread ends.
    let sni = server.join().map_err(|_| "server thread panicked")?;
    let (protocol, reply) = result?;
    let sni = sni.map_err(|e| format!("{}: {e}", to.name()))?;
    Ok(format!(
        "{} -> {}: {protocol}, SNI {}, reply {reply:?}",
        from.name(),
        to.name(),
        sni.as_deref().unwrap_or("(none: IP literal)"),
    ))
}

fn serve(
    listener: TcpListener,
    me: &TestServer,
) -> BoxResult<JoinHandle<Result<Option<String>, String>>> {
    let config = me.server_config()?;
    let name = me.name().to_string();
    Ok(std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut request = [0u8; 4];
        tls.read_exact(&mut request).map_err(|e| e.to_string())?;
        tls.write_all(format!("hello from {name}").as_bytes())
            .map_err(|e| e.to_string())?;
        tls.flush().map_err(|e| e.to_string())?;
        let sni = tls.conn.server_name().map(str::to_string);
        tls.conn.send_close_notify();
        tls.conn.complete_io(tls.sock).map_err(|e| e.to_string())?;
        Ok(sni)
    }))
}

fn connect(
    addr: SocketAddr,
    from: &TestServer,
    to: &TestServer,
    client: Arc<ClientConfig>,
) -> BoxResult<(String, String)> {
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut conn = ClientConnection::new(client, to.tls_server_name()?)?;
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(b"ping")
        .map_err(|e| format!("{} -> {}: {e}", from.name(), to.name()))?;
    let mut reply = String::new();
    tls.read_to_string(&mut reply)?;
    let protocol = tls
        .conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    Ok((protocol, reply))
}
