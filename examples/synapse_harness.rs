//! A test harness's first step: write a federation to a directory and the Synapse
//! configuration of each homeserver, then print the configurations.
//!
//! ```text
//! cargo run --example synapse_harness -- /tmp/fed
//! ```
//!
//! Without an argument it writes to a new temporary directory and says where. The
//! layout:
//!
//! ```text
//! DIR/root.pem                          the federation's root
//! DIR/servers/DIR-NAME/                 cert.pem fullchain.pem key.pem (0600) ca.pem
//! DIR/synapse/DIR-NAME/                 the server's bundle: homeserver-fedca.yaml, the
//!                                       root file, fullchain.pem, key.pem (0600), install.sh
//! ```
//!
//! Merge each `homeserver-fedca.yaml` into that server's `homeserver.yaml`; the
//! fragment points at the certificate, key and root in its bundle under DIR.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fedca::trust::templates::Templates;
use fedca::trust::{self, EmitContext, Federation, ServerInfo, Target};
use fedca::TestFederation;

type BoxResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

fn main() -> ExitCode {
    let dir = match std::env::args_os().nth(1) {
        Some(d) => Ok(PathBuf::from(d)),
        None => tempfile::Builder::new()
            .prefix("fedca-harness-")
            .tempdir()
            .map(tempfile::TempDir::keep),
    };
    let result = dir
        .map_err(|e| -> Box<dyn Error + Send + Sync> { e.into() })
        .and_then(|d| run(&d));
    match result {
        Ok(configs) => {
            for c in configs {
                println!("# {} ({})", c.server, c.fragment.display());
                println!("{}", c.yaml);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("synapse_harness: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One homeserver's Synapse configuration, as written.
pub struct SynapseConfig {
    /// The server name.
    pub server: String,
    /// Where its `homeserver.yaml` fragment is.
    pub fragment: PathBuf,
    /// The fragment's text.
    pub yaml: String,
}

/// Writes a three-server federation and its Synapse configurations under `dir`.
pub fn run(dir: &Path) -> BoxResult<Vec<SynapseConfig>> {
    let fed = TestFederation::new(["hs1.fed.test", "127.0.0.1:8448", "127.0.0.2:8448"])?;
    fed.write_to(dir)?;
    let dir = std::path::absolute(dir)?;

    // What the trust emitters take: the roots, the federation, one server at a time.
    let bundle = trust::TrustBundle::anchors_from_pem(fed.root_pem(), "the test federation")?;
    let federation = Federation {
        servers: fed.servers().iter().map(|s| s.name().clone()).collect(),
        ..Federation::default()
    };
    let templates = Templates::embedded();
    let mut configs = Vec::new();
    for s in fed.servers() {
        let info = ServerInfo {
            name: s.name().clone(),
            delegate: None,
            dir: dir.join("servers").join(s.dir_name()),
            names: s.names().to_vec(),
            serial: s.serial().to_string(),
            not_after: s.not_after(),
        };
        let out = trust::check_out_dir(&dir.join("synapse").join(s.dir_name()))?;
        // The output is a bundle for the homeserver (chain, key, roots, fragment,
        // install.sh); the fragment names the files in it.
        let cx = EmitContext {
            server: Some(&info),
            ..EmitContext::new(Target::Synapse, &bundle, &federation, &templates, &out)
        };
        let emission = trust::emit(Target::Synapse, &cx)?;
        trust::write_emission(&out, &emission)?;
        let fragment = out.join(trust::synapse::FRAGMENT);
        configs.push(SynapseConfig {
            server: s.name().to_string(),
            yaml: std::fs::read_to_string(&fragment)?,
            fragment,
        });
    }
    Ok(configs)
}
