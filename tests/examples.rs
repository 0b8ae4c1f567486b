//! The programs in examples/ run, and do what they say. Each example's `run` is
//! compiled into this test from the example's own source, so the test exercises
//! exactly the code `cargo run --example NAME` runs (`main` only prints).

#[allow(dead_code)]
#[path = "../examples/federation_handshake.rs"]
mod federation_handshake;

#[allow(dead_code)]
#[path = "../examples/synapse_harness.rs"]
mod synapse_harness;

#[test]
fn federation_handshake_example_connects_both_ways_and_refuses_a_stranger() {
    let lines = federation_handshake::run().expect("the example succeeds");
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[1].starts_with("hs1.fed.test -> 127.0.0.1:8448: TLSv1_3, SNI (none: IP literal)"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with("reply \"hello from 127.0.0.1:8448\""),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("127.0.0.1:8448 -> hs1.fed.test: TLSv1_3, SNI hs1.fed.test,"),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].ends_with("reply \"hello from hs1.fed.test\""),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains("refused") && lines[3].contains("invalid peer certificate"),
        "{}",
        lines[3]
    );
}

#[test]
fn synapse_harness_example_writes_servers_and_configs_that_name_them() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fed");
    let configs = synapse_harness::run(&dir).expect("the example succeeds");
    let servers: Vec<&str> = configs.iter().map(|c| c.server.as_str()).collect();
    assert_eq!(
        servers,
        ["hs1.fed.test", "127.0.0.1:8448", "127.0.0.2:8448"]
    );
    let root = std::fs::read_to_string(dir.join("root.pem")).unwrap();
    for (c, dir_name) in configs
        .iter()
        .zip(["hs1.fed.test", "127.0.0.1_8448", "127.0.0.2_8448"])
    {
        let server_dir = dir.join("servers").join(dir_name);
        // The fragment names the chain and key of the server's bundle, copies of the
        // files the federation wrote.
        let bundle = dir.join("synapse").join(dir_name);
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&c.yaml).unwrap();
        assert_eq!(
            yaml["tls_certificate_path"].as_str().unwrap(),
            bundle.join("fullchain.pem").to_str().unwrap()
        );
        assert_eq!(
            yaml["tls_private_key_path"].as_str().unwrap(),
            bundle.join("key.pem").to_str().unwrap()
        );
        for f in ["fullchain.pem", "key.pem"] {
            assert_eq!(
                std::fs::read(bundle.join(f)).unwrap(),
                std::fs::read(server_dir.join(f)).unwrap()
            );
        }
        let key_mode = std::fs::metadata(bundle.join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        // The one trusted root is the federation's.
        let cas = yaml["federation_custom_ca_list"].as_sequence().unwrap();
        assert_eq!(cas.len(), 1);
        assert_eq!(
            std::fs::read_to_string(cas[0].as_str().unwrap()).unwrap(),
            root
        );
        // Both IP-literal servers are reachable: the blocklist no longer holds them.
        let blocked: Vec<&str> = yaml["ip_range_blacklist"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(blocked.contains(&"127.0.0.3/32"), "{blocked:?}");
        assert!(!blocked.contains(&"127.0.0.0/8"), "{blocked:?}");
    }
}
