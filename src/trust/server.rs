//! The server a target configures: found in the CA's index, its files checked.

use std::net::IpAddr;
use std::path::PathBuf;

use super::DEFAULT_FEDERATION_PORT;
use crate::error::{Error, Result};
use crate::name::{Host, ServerName};
use crate::store::{files, CaDir, IndexRecord, RecordState};

/// The server a target configures, as the CA's index records it.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// The server name.
    pub name: ServerName,
    /// The delegated server (`m.server`), if any.
    pub delegate: Option<ServerName>,
    /// The directory holding its files (absolute).
    pub dir: PathBuf,
    /// Every name in its certificate.
    pub names: Vec<String>,
    /// The certificate's serial.
    pub serial: String,
    /// End of validity.
    pub not_after: time::OffsetDateTime,
}

impl ServerInfo {
    /// Looks `name` up in the CA's index: its newest active certificate. The files
    /// must be where the index says, and `fullchain.pem` must hold the certificate the
    /// index records (a file replaced by hand is caught here, not by a homeserver).
    pub fn lookup(dir: &CaDir, name: &ServerName) -> Result<ServerInfo> {
        ServerInfo::from_records(dir, &dir.read_index()?, name)
    }

    /// As [`ServerInfo::lookup`], in index records already read.
    pub fn from_records(
        dir: &CaDir,
        records: &[IndexRecord],
        name: &ServerName,
    ) -> Result<ServerInfo> {
        let wanted = name.to_string();
        let records: Vec<&IndexRecord> = records.iter().filter(|r| r.server == *name).collect();
        let Some(record) = records
            .iter()
            .rev()
            .find(|r| r.state == RecordState::Active)
        else {
            if records.iter().any(|r| r.state == RecordState::Revoked) {
                return Err(Error::invalid(
                    crate::error::Field::Server,
                    wanted.clone(),
                    format!(
                        "its certificate is revoked; issue a new one with `fedca issue {wanted}`"
                    ),
                ));
            }
            return Err(Error::UnknownServer(wanted));
        };
        let server_dir = dir.resolve_record_path(&record.path);
        let fullchain = server_dir.join(files::FULLCHAIN);
        let chain = std::fs::read_to_string(&fullchain).map_err(|e| Error::io(&fullchain, e))?;
        let leaf = crate::x509::pem_all(&chain)
            .ok()
            .and_then(|blocks| blocks.into_iter().find(|b| b.tag == "CERTIFICATE"))
            .ok_or_else(|| Error::corrupt(&fullchain, "holds no certificate"))?;
        if crate::x509::sha256_hex(&leaf.der) != record.sha256 {
            return Err(Error::corrupt(
                &fullchain,
                format!(
                    "is not the certificate the index records for {wanted} (serial {}); re-issue with `fedca issue` instead of replacing files by hand",
                    record.serial
                ),
            ));
        }
        let key = server_dir.join(files::KEY);
        std::fs::metadata(&key).map_err(|e| Error::io(&key, e))?;
        Ok(ServerInfo {
            name: name.clone(),
            delegate: record.delegate.clone(),
            dir: server_dir,
            names: record.names.clone(),
            serial: record.serial.clone(),
            not_after: record.not_after,
        })
    }

    /// The certificate chain the server must serve.
    pub fn fullchain_path(&self) -> PathBuf {
        self.dir.join(files::FULLCHAIN)
    }

    /// The server's private key.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join(files::KEY)
    }

    /// Where other servers connect for federation: the delegated server when there is
    /// one, otherwise the server name itself.
    pub fn federation_endpoint(&self) -> &ServerName {
        self.delegate.as_ref().unwrap_or(&self.name)
    }

    /// The federation port: the endpoint's explicit port or 8448.
    pub fn federation_port(&self) -> u16 {
        self.federation_endpoint()
            .port()
            .unwrap_or(DEFAULT_FEDERATION_PORT)
    }

    /// The addresses the federation listener binds by default: the endpoint's IP
    /// literal; loopback (127.0.0.1) for a `.onion` endpoint, which Tor reaches through
    /// the onion service's `HiddenServicePort` on this host and nothing else should;
    /// or `None` for a DNS endpoint (the emitter picks "all interfaces").
    pub fn literal_bind(&self) -> Option<IpAddr> {
        match self.federation_endpoint().host() {
            Host::Dns(d) if d.is_onion() => Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
            h => h.ip(),
        }
    }

    /// The body of `.well-known/matrix/server` for a delegated server.
    pub fn well_known_body(&self) -> Option<String> {
        self.delegate.as_ref().map(|d| {
            let mut body = serde_json::json!({ "m.server": d.to_string() }).to_string();
            body.push('\n');
            body
        })
    }
}
