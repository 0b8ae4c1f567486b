//! The Matrix checks of one address: `/_matrix/federation/v1/version` and
//! `/_matrix/key/v2/server` (server name, validity, ed25519 keys, signatures).

use data_encoding::BASE64_NOPAD;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde_json::Value;

use super::canonical_json;
use super::Check;

/// Decodes Matrix "unpadded base64" leniently, as Synapse (Python's base64) does:
/// padding tolerated, non-zero trailing bits accepted (the specification's own test
/// seed has them).
pub fn unpadded_base64(text: &str) -> Option<Vec<u8>> {
    let mut spec = BASE64_NOPAD.specification();
    spec.check_trailing_bits = false;
    let lenient = spec.encoding().ok()?;
    lenient.decode(text.trim_end_matches('=').as_bytes()).ok()
}

/// Encodes bytes as Matrix unpadded base64.
pub fn to_unpadded_base64(bytes: &[u8]) -> String {
    BASE64_NOPAD.encode(bytes)
}

/// Checks the body of `GET /_matrix/federation/v1/version`; returns the check and the
/// server's software (`Synapse 1.2.3`) when it says.
pub fn check_version(status: u16, body: &[u8]) -> (Check, Option<String>) {
    if status != 200 {
        return (
            Check::fail(
                "federation_version",
                "http_status",
                format!("GET /_matrix/federation/v1/version answered HTTP {status}, not 200"),
                "route /_matrix/federation/ of this address to the homeserver's federation listener (a reverse proxy must pass it through)",
            ),
            None,
        );
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (
            Check::fail(
                "federation_version",
                "invalid_json",
                "GET /_matrix/federation/v1/version did not answer JSON",
                "route /_matrix/federation/ of this address to the homeserver, not to a web page",
            ),
            None,
        );
    };
    let server = v.get("server");
    let name = server.and_then(|s| s.get("name")).and_then(Value::as_str);
    let version = server
        .and_then(|s| s.get("version"))
        .and_then(Value::as_str);
    let software = match (name, version) {
        (Some(n), Some(ver)) => Some(format!("{n} {ver}")),
        (Some(n), None) => Some(n.to_string()),
        _ => None,
    };
    (
        Check::pass(
            "federation_version",
            format!(
                "the federation API answers ({})",
                software.as_deref().unwrap_or("software not named")
            ),
        ),
        software,
    )
}

/// Checks the body of `GET /_matrix/key/v2/server` for `server_name` at `now_ms`
/// (milliseconds since the epoch): the four checks `key_server_name`,
/// `key_valid_until`, `key_ed25519` and `key_signatures`, or one failed `key_fetch`
/// when the answer is not a JSON object.
pub fn check_keys(status: u16, body: &[u8], server_name: &str, now_ms: i64) -> Vec<Check> {
    if status != 200 {
        return vec![Check::fail(
            "key_fetch",
            "http_status",
            format!("GET /_matrix/key/v2/server answered HTTP {status}, not 200"),
            "route /_matrix/key/ of this address to the homeserver (a reverse proxy must pass it through)",
        )];
    }
    let obj = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o,
        _ => {
            return vec![Check::fail(
                "key_fetch",
                "invalid_json",
                "GET /_matrix/key/v2/server did not answer a JSON object",
                "route /_matrix/key/ of this address to the homeserver, not to a web page",
            )]
        }
    };
    let mut checks = Vec::new();
    let answered = obj.get("server_name").and_then(Value::as_str);
    checks.push(match answered {
        Some(n) if n == server_name => Check::pass("key_server_name", format!("server_name is {n}")),
        Some(n) => Check::fail(
            "key_server_name",
            "server_name_mismatch",
            format!("the keys are for server_name {n:?}, not {server_name:?}"),
            format!("this address serves another homeserver: point {server_name}'s resolution (.well-known, SRV, DNS) at the homeserver whose server_name is {server_name}"),
        ),
        None => Check::fail(
            "key_server_name",
            "server_name_mismatch",
            "the answer has no server_name",
            "serve the homeserver's own /_matrix/key/v2/server",
        ),
    });
    let valid_until = obj.get("valid_until_ts").and_then(Value::as_i64);
    checks.push(match valid_until {
        Some(t) if t > now_ms => Check::pass(
            "key_valid_until",
            format!("valid_until_ts {} is {} s ahead", t, (t - now_ms) / 1000),
        ),
        Some(t) => Check::fail(
            "key_valid_until",
            "keys_expired",
            format!("valid_until_ts {t} is {} s in the past", (now_ms - t) / 1000),
            "the homeserver serves expired keys: check its clock and restart it so it re-signs its key response",
        ),
        None => Check::fail(
            "key_valid_until",
            "keys_expired",
            "the answer has no integer valid_until_ts",
            "serve the homeserver's own /_matrix/key/v2/server",
        ),
    });
    let mut keys: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    if let Some(Value::Object(vk)) = obj.get("verify_keys") {
        for (id, k) in vk {
            if id.starts_with("ed25519:") {
                let raw = k
                    .get("key")
                    .and_then(Value::as_str)
                    .and_then(unpadded_base64)
                    .filter(|b| b.len() == 32);
                keys.push((id.clone(), raw));
            }
        }
    }
    let usable: Vec<&(String, Option<Vec<u8>>)> = keys.iter().filter(|k| k.1.is_some()).collect();
    checks.push(if usable.is_empty() {
        Check::fail(
            "key_ed25519",
            "no_ed25519_key",
            if keys.is_empty() {
                "verify_keys holds no ed25519 key".to_string()
            } else {
                "no ed25519 key of verify_keys is 32 bytes of unpadded base64".to_string()
            },
            "the homeserver must publish its ed25519 signing key: check its signing key file",
        )
    } else {
        let ids: Vec<&str> = usable.iter().map(|k| k.0.as_str()).collect();
        Check::pass("key_ed25519", format!("ed25519 keys: {}", ids.join(", ")))
    });
    checks.push(check_signatures(&obj, server_name, &usable));
    checks
}

fn check_signatures(
    obj: &serde_json::Map<String, Value>,
    server_name: &str,
    keys: &[&(String, Option<Vec<u8>>)],
) -> Check {
    let fix = "the key response's signatures do not verify: something between the homeserver and the network rewrites the JSON, or the homeserver's signing key changed; serve the homeserver's answer unmodified";
    if keys.is_empty() {
        return Check::fail(
            "key_signatures",
            "bad_signature",
            "no ed25519 key to check signatures with",
            fix,
        );
    }
    let signed = match canonical_json::signed_bytes(obj) {
        Ok(s) => s,
        Err(e) => {
            return Check::fail(
                "key_signatures",
                "not_canonical",
                format!("the answer cannot be canonical JSON: {e}"),
                "the key response must contain integers only (no floats)",
            )
        }
    };
    let sigs = obj
        .get("signatures")
        .and_then(|s| s.get(server_name))
        .and_then(Value::as_object);
    let mut good = Vec::new();
    for (id, key) in keys {
        let Some(key) = key else { continue };
        let Some(sig) = sigs
            .and_then(|s| s.get(id.as_str()))
            .and_then(Value::as_str)
        else {
            return Check::fail(
                "key_signatures",
                "missing_signature",
                format!("no signature by {server_name} with {id}"),
                "every key of verify_keys must sign the key response (Synapse refuses it otherwise); serve the homeserver's answer unmodified",
            );
        };
        let ok = unpadded_base64(sig).is_some_and(|s| {
            UnparsedPublicKey::new(&ED25519, key)
                .verify(signed.as_bytes(), &s)
                .is_ok()
        });
        if !ok {
            return Check::fail(
                "key_signatures",
                "bad_signature",
                format!("the signature by {server_name} with {id} does not verify over the canonical JSON"),
                fix,
            );
        }
        good.push(id.as_str());
    }
    Check::pass(
        "key_signatures",
        format!("signatures by {} verify ({})", server_name, good.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    const SEED: &str = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";

    fn sign(obj: &serde_json::Map<String, Value>) -> String {
        let seed = unpadded_base64(SEED).unwrap();
        let kp = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let text = canonical_json::signed_bytes(obj).unwrap();
        to_unpadded_base64(kp.sign(text.as_bytes()).as_ref())
    }

    // The specification's appendix "Signing JSON" test vectors (key ed25519:1 of
    // "domain", seed YJDBA9...).
    #[test]
    fn spec_signing_vectors() {
        let empty = serde_json::Map::new();
        assert_eq!(
            sign(&empty),
            "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
        );
        let v: Value = serde_json::from_str(r#"{"two": "Two", "one": 1}"#).unwrap();
        assert_eq!(
            sign(v.as_object().unwrap()),
            "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
        );
    }

    fn key_response(valid_until: i64) -> Value {
        let seed = unpadded_base64(SEED).unwrap();
        let kp = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let mut v = serde_json::json!({
            "server_name": "domain",
            "valid_until_ts": valid_until,
            "verify_keys": {"ed25519:1": {"key": to_unpadded_base64(kp.public_key().as_ref())}},
            "old_verify_keys": {},
        });
        let sig = sign(v.as_object().unwrap());
        v["signatures"] = serde_json::json!({"domain": {"ed25519:1": sig}});
        v
    }

    #[test]
    fn key_response_checks() {
        let now = 1_700_000_000_000;
        let good = serde_json::to_vec(&key_response(now + 3_600_000)).unwrap();
        let checks = check_keys(200, &good, "domain", now);
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        assert_eq!(checks.len(), 4);

        let expired = serde_json::to_vec(&key_response(now - 1)).unwrap();
        let c = check_keys(200, &expired, "domain", now);
        assert_eq!(c[1].kind.as_deref(), Some("keys_expired"));
        assert!(c[3].ok, "the signature itself is fine");

        let mut tampered = key_response(now + 1000);
        tampered["valid_until_ts"] = Value::from(now + 2000);
        let c = check_keys(200, &serde_json::to_vec(&tampered).unwrap(), "domain", now);
        assert_eq!(c[3].kind.as_deref(), Some("bad_signature"));

        let c = check_keys(200, &good, "other", now);
        assert_eq!(c[0].kind.as_deref(), Some("server_name_mismatch"));
        assert_eq!(c[3].kind.as_deref(), Some("missing_signature"));

        let c = check_keys(200, b"<html></html>", "domain", now);
        assert_eq!(c[0].kind.as_deref(), Some("invalid_json"));
    }
}
