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
#[doc(hidden)]
pub mod cli;
pub mod error;
pub mod handshake;
pub mod inspect;
pub mod issue;
pub mod lint;
pub mod name;
pub mod network;
pub mod store;
pub mod trust;
pub mod validity;
pub mod verify;

pub use ca::{list, Ca, CertStatus, Issued, ListEntry};
pub use error::{Error, Result};
