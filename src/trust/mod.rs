//! Trust configuration: telling each homeserver to trust the federation's roots.
//!
//! A certificate is half the job. Every homeserver must also be told which roots to
//! trust for outbound federation, which certificate to serve, and — when the
//! federation lives on private or loopback addresses — that it may connect there at
//! all. Each implementation has its own rules (see `docs/homeservers/`); one emitter
//! per [`Target`] knows them:
//!
//! | target | module | writes |
//! |---|---|---|
//! | `synapse` | [`synapse`] | a `homeserver.yaml` fragment, one file per trusted root |
//! | `dendrite` | [`dendrite`] | a `dendrite.yaml` fragment, the TLS flags, `SSL_CERT_FILE` |
//! | `conduit`, `conduwuit`, `continuwuity`, `tuwunel` | [`conduit`] | a TOML fragment |
//! | `pem` | [`pem`] | the bundle of trusted roots |
//! | `system` | [`system`] | trust-store anchors and the commands that install them |
//! | `kubernetes` | [`kubernetes`] | a `kubernetes.io/tls` Secret and a CA ConfigMap |
//!
//! Every homeserver target's output is a self-contained bundle ([`deploy`]): the
//! server's chain and key, the roots, the fragment, `install.sh` for `--install-dir`,
//! and with `--tls-at proxy` nginx, Caddy and haproxy snippets.
//!
//! The library entry point is [`plan()`]: it reads the CA once (roots and index) and
//! renders everything in memory; [`TrustPlan::write`] writes it. The concerns, one
//! module each: [`target`] (what can be configured), [`bundle`] (the trusted roots),
//! [`server`] (the configured server, found in the index, its files checked),
//! [`federation`] and [`blocklist`] (who must be reachable, and the blocklist opened for
//! them), [`emit`](mod@emit) (template contexts and rendering), [`write`](mod@write) (writing, no link
//! followed) and [`deploy`] (the bundle around a homeserver's configuration).
//! [`emit()`] renders everything in memory from the [`templates`];
//! [`write_emission`] writes it only after every file has rendered and the output
//! directory has been checked, so bad input writes nothing.
//!
//! The CA's private key is never read here: a [`TrustBundle`] holds certificates only.

pub use crate::cidr;
pub mod blocklist;
pub mod bundle;
pub mod conduit;
pub mod dendrite;
pub mod deploy;
pub mod emit;
pub mod federation;
pub mod keyscan;
pub mod kubernetes;
pub mod pem;
pub mod plan;
pub mod server;
pub mod synapse;
pub mod system;
pub mod target;
pub mod templates;
pub mod write;

pub(crate) use blocklist::nets;
pub use blocklist::{BlockEntry, OpenedBlocklist};
pub use bundle::{TrustBundle, TrustedRoot};
pub use emit::{emit, Emission, EmitContext, EmittedFile, BUNDLE, ENV_FILE, WELL_KNOWN_PATH};
pub(crate) use emit::{push_ssl_cert_file, well_known_file};
pub use federation::Federation;
pub use plan::{plan, TrustPlan, TrustRequest};
pub use server::ServerInfo;
pub use target::Target;
pub use write::{check_out_dir, write_emission, write_emission_unsynced, OUT_DIR_MODE, TMP_PREFIX};

/// The port Matrix federation uses when a server name (or delegated name) has none.
pub const DEFAULT_FEDERATION_PORT: u16 = 8448;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip() {
        for t in Target::ALL {
            assert_eq!(t.as_str().parse::<Target>().unwrap(), t);
        }
        let e = "matrix".parse::<Target>().unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("\"matrix\""), "{e}");
        assert!(e.to_string().contains("synapse"), "{e}");
    }

    #[test]
    fn opened_blocklist_refuses_emptying() {
        let defaults = nets(&["127.0.0.0/8", "10.0.0.0/8"]);
        let all = nets(&["0.0.0.0/0"]);
        assert!(OpenedBlocklist::compute(&defaults, &all).is_err());
        let none = OpenedBlocklist::compute(&defaults, &nets(&["8.8.8.8"])).unwrap();
        assert!(!none.changed);
        assert_eq!(none.blocks(), defaults);
        let some =
            OpenedBlocklist::compute(&defaults, &nets(&["10.0.0.0/8", "127.0.0.1"])).unwrap();
        assert!(some.changed);
        assert!(some.entries[1].kept.is_empty());
        assert_eq!(some.blocks().len(), 24);
    }
}
