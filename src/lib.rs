//! fedca: a private certificate authority for closed Matrix federations.
//!
//! MSC1711 made every Matrix homeserver present a CA-signed certificate on its
//! federation port. Closed federations — an enterprise's homeservers, a lab, a CI
//! harness — use names no public CA will sign (`hs1.corp.test`, `10.0.0.7:8448`,
//! `[fd00::7]`, v3 `.onion` names). fedca gives them a root of their own and issues
//! each homeserver a certificate every real verifier accepts.
//!
//! ```no_run
//! use fedca::{Ca, authority::InitOptions, issue::LeafRequest, name::ServerName};
//!
//! # fn main() -> fedca::Result<()> {
//! let (ca, _) = Ca::init("./fedca-ca", &InitOptions::default())?;
//! let issued = ca.issue(&[LeafRequest::new(ServerName::parse("hs1.fed.test")?)], None)?;
//! println!("{} -> {}", issued[0].record.serial, issued[0].dir.display());
//! # Ok(()) }
//! ```
//!
//! In tests, [`TestFederation`] (module [`testing`], feature `testing`, on by default)
//! gives a whole federation in memory — a root, a certificate per server, rustls
//! configurations that trust only that root:
//!
//! ```
//! let fed = fedca::TestFederation::new(["hs1.fed.test", "127.0.0.1:8448", "[::1]:8448"])?;
//! let server_config = fed.server("hs1.fed.test").expect("issued").server_config()?;
//! let client_config = fed.client_config()?;
//! # let _ = (server_config, client_config);
//! # Ok::<(), fedca::Error>(())
//! ```
//!
//! Features: `cli` (the `fedca` command and clap) and `testing`, both on by default;
//! a library dependency with `default-features = false` compiles neither.
//!
//! The flow: text enters through [`name::ServerName::parse`]; [`issue::LeafProfile`]
//! decides a certificate's contents; [`authority::Authority`] signs; [`lint`] checks
//! the result before [`store`] writes it atomically under a lock; [`trust`] writes
//! the configuration that makes each homeserver trust the federation's roots.
//! [`verify`] checks a chain exactly as a rustls federation client does and explains
//! a refusal; [`inspect`] reads certificates, keys, CSRs and CRLs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod authority;
mod ca;
pub mod cidr;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
pub mod crl;
pub mod csr;
pub mod error;
pub mod handshake;
pub mod inspect;
pub mod issue;
pub mod lint;
pub mod name;
pub mod network;
pub mod probe;
mod punycode;
pub mod revocation;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trust;
pub mod trust_bundle;
pub mod validity;
pub mod verify;
pub mod x509;

pub use authority::{Authority, InitOptions, KeyType};
pub use ca::{
    current_records, describe_changes, list, stored_request, Ca, CertStatus, Issued, ListEntry,
};
pub use error::{Error, Result};
pub use issue::LeafRequest;
pub use name::ServerName;
/// The rustls fedca builds on, for naming the configurations it returns.
pub use rustls;
#[cfg(feature = "testing")]
pub use testing::{TestFederation, TestServer};
