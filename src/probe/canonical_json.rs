//! Matrix canonical JSON (server-server spec, appendix "Canonical JSON") and the
//! signed-JSON check of `/_matrix/key/v2/server`.
//!
//! Canonical JSON is JSON with object keys sorted by Unicode code point, no
//! insignificant whitespace, UTF-8 text with only the required escapes (`\"`, `\\`,
//! control characters), and integers only, in the range [-(2^53)+1, 2^53-1].
//! The keys are sorted here explicitly, so the result does not depend on whether any
//! crate in the build turns on serde_json's `preserve_order`.

use std::fmt::Write as _;

use serde_json::Value;

/// The largest magnitude canonical JSON allows for an integer: 2^53 - 1.
const MAX_SAFE: i64 = (1 << 53) - 1;

/// Encodes a JSON value as canonical JSON. Fails on a number that is not an integer in
/// [-(2^53)+1, 2^53-1], which the specification does not allow.
pub fn encode(value: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, value)?;
    Ok(out)
}

/// The bytes a Matrix signature covers: the object without its `signatures` and
/// `unsigned` members, as canonical JSON.
pub fn signed_bytes(object: &serde_json::Map<String, Value>) -> Result<String, String> {
    let mut copy = object.clone();
    copy.remove("signatures");
    copy.remove("unsigned");
    encode(&Value::Object(copy))
}

fn write_value(out: &mut String, v: &Value) -> Result<(), String> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let i = n
                .as_i64()
                .filter(|i| (-MAX_SAFE..=MAX_SAFE).contains(i))
                .ok_or_else(|| {
                    format!("{n} is not an integer in [-(2^53)+1, 2^53-1], which canonical JSON requires")
                })?;
            let _ = write!(out, "{i}");
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Byte order of UTF-8 is code point order.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                if let Some(item) = map.get(k) {
                    write_value(out, item)?;
                }
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        encode(&serde_json::from_str(text).unwrap()).unwrap()
    }

    // The examples of the specification's appendix "Canonical JSON".
    #[test]
    fn spec_examples() {
        assert_eq!(canon("{}"), "{}");
        assert_eq!(
            canon(r#"{"one": 1, "two": "Two"}"#),
            r#"{"one":1,"two":"Two"}"#
        );
        assert_eq!(canon(r#"{"b": "2", "a": "1"}"#), r#"{"a":"1","b":"2"}"#);
        assert_eq!(
            canon(
                r#"{"auth":{"success":true,"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"medium":"email","address":"john.doe@example.org"},{"medium":"msisdn","address":"123456789"}]}}}"#
            ),
            r#"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"#
        );
        assert_eq!(canon(r#"{"a": "日本語"}"#), r#"{"a":"日本語"}"#);
        assert_eq!(canon(r#"{"本": 2, "日": 1}"#), r#"{"日":1,"本":2}"#);
        assert_eq!(canon(r#"{"a": "\u65E5"}"#), r#"{"a":"日"}"#);
        assert_eq!(canon(r#"{"a": null}"#), r#"{"a":null}"#);
        assert_eq!(
            canon(r#"{"b": 10000000000, "a": -5}"#),
            r#"{"a":-5,"b":10000000000}"#
        );
        assert_eq!(
            canon("{\"a\": \"\\u0000\\u001f\\b\\t\\\"\\\\/\"}"),
            "{\"a\":\"\\u0000\\u001f\\b\\t\\\"\\\\/\"}"
        );
    }

    #[test]
    fn refuses_floats_and_big_integers() {
        for bad in [
            r#"{"a": 1.5}"#,
            r#"{"a": 9007199254740992}"#,
            r#"{"a": -9007199254740992}"#,
            r#"{"a": 1.0}"#,
        ] {
            let v: Value = serde_json::from_str(bad).unwrap();
            assert!(encode(&v).is_err(), "{bad} accepted");
        }
        assert_eq!(
            canon(r#"{"a": 9007199254740991}"#),
            r#"{"a":9007199254740991}"#
        );
    }

    #[test]
    fn signatures_and_unsigned_are_not_signed() {
        let v: Value = serde_json::from_str(
            r#"{"unsigned": {"x": 1}, "signatures": {"d": {}}, "old_verify_keys": {}, "a": 1}"#,
        )
        .unwrap();
        assert_eq!(
            signed_bytes(v.as_object().unwrap()).unwrap(),
            r#"{"a":1,"old_verify_keys":{}}"#
        );
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-MAX_SAFE..=MAX_SAFE).prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        // Fuzzing the encoder: its output is JSON that reads back to the same value, has
        // no whitespace outside strings, is a fixed point, and matches serde_json's
        // compact form (serde_json's default map is sorted; a different encoder).
        #[test]
        fn round_trips_and_matches_serde_json(v in json_value()) {
            let text = encode(&v).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(&back, &v);
            proptest::prop_assert_eq!(encode(&back).unwrap(), text.clone());
            proptest::prop_assert_eq!(serde_json::to_string(&v).unwrap(), text);
        }
    }
}
