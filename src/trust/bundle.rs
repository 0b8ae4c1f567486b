//! The roots a federation trusts: the one [`TrustBundle`] of [`crate::trust_bundle`],
//! which `verify` and `probe` use too.

pub use crate::trust_bundle::{TrustBundle, TrustedRoot};
