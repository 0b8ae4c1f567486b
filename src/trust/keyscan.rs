//! Finding private-key material in rendered output, without knowing the key.
//!
//! `fedca trust` renders user-supplied templates. Whatever a template does — a link to
//! a key file, a key pasted in as a literal, `{{ key_pem }}` in a public file — no
//! output may carry a private key, except the one file meant to (the Kubernetes Secret,
//! 0600, with the server's own key). The check looks at the rendered bytes for the
//! *structure* of a key, so it needs no key to compare with and never reads the CA's:
//!
//! * a PEM block whose label ends in `PRIVATE KEY` (PKCS#8, `EC`, `RSA`, `ENCRYPTED`,
//!   `OPENSSH`);
//! * the DER of a PKCS#8 key (`30 len 02 01 00|01 30 len 06 <algorithm OID>`), a SEC1
//!   EC key (`30 len 02 01 01 04 len`), a PKCS#1 RSA key (`30 len 02 01 00 02`), an
//!   encrypted PKCS#8 key (`30 len 30 len 06 <PBES OID>`), an OpenSSH key — raw, or
//!   as base64 (standard or URL-safe, wrapped or not, at any alignment) or hex
//!   (plain or with `:`/space separators), nested up to two encodings deep (base64 of
//!   a PEM, hex of base64 ...).

/// How many encodings deep the scan decodes (base64 of PEM is two levels).
const MAX_DEPTH: usize = 2;
/// Shorter runs cannot hold a key's prefix.
const MIN_BASE64_RUN: usize = 16;
const MIN_HEX_RUN: usize = 24;

/// Algorithm OIDs (content bytes) of the keys a PKCS#8 document may hold.
const KEY_ALGORITHMS: &[&[u8]] = &[
    &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01], // id-ecPublicKey
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01], // rsaEncryption
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a], // RSASSA-PSS
    &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01], // id-dsa
    &[0x2b, 0x65, 0x6e],                         // X25519
    &[0x2b, 0x65, 0x6f],                         // X448
    &[0x2b, 0x65, 0x70],                         // Ed25519
    &[0x2b, 0x65, 0x71],                         // Ed448
];

/// Prefixes (content bytes) of the password-based encryption OIDs of an encrypted
/// PKCS#8 key: PKCS#5 (PBES1, PBES2) and PKCS#12 PBE.
const PBE_PREFIXES: &[&[u8]] = &[
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05],
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01],
];

/// What kind of private-key material `bytes` holds, if any.
pub fn find_private_key(bytes: &[u8]) -> Option<&'static str> {
    // `apply` writes the same roots file into every server's bundle: a text found clean
    // is remembered (whole, compared byte for byte), so it is scanned once, not once
    // per server.
    let mut clean = CLEAN.lock().unwrap_or_else(|e| e.into_inner());
    if clean.iter().any(|c| c.as_slice() == bytes) {
        return None;
    }
    drop(clean);
    let found = scan(bytes, 0);
    if found.is_none() && bytes.len() <= CLEAN_MAX_LEN {
        clean = CLEAN.lock().unwrap_or_else(|e| e.into_inner());
        if clean.len() >= CLEAN_MAX {
            clean.remove(0);
        }
        clean.push(bytes.to_vec());
    }
    found
}

/// Texts [`find_private_key`] found clean: the last few, of a few KiB each at most.
static CLEAN: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
const CLEAN_MAX: usize = 8;
const CLEAN_MAX_LEN: usize = 64 * 1024;

fn scan(bytes: &[u8], depth: usize) -> Option<&'static str> {
    if contains_ignore_case(bytes, b"PRIVATE KEY-----") {
        return Some("a PEM private-key block");
    }
    if let Some(k) = der_key(bytes) {
        return Some(k);
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    for run in hex_runs(bytes) {
        for skip in 0..2 {
            let digits = &run[skip.min(run.len())..];
            let decoded: Vec<u8> = digits
                .chunks_exact(2)
                .map(|p| (nibble(p[0]) << 4) | nibble(p[1]))
                .collect();
            if let Some(k) = scan(&decoded, depth + 1) {
                return Some(k);
            }
        }
    }
    for run in base64_runs(bytes) {
        for skip in 0..4 {
            let chars = &run[skip.min(run.len())..];
            let chars = &chars[..chars.len() - chars.len() % 4];
            if let Ok(decoded) = data_encoding::BASE64_NOPAD.decode(chars) {
                if let Some(k) = scan(&decoded, depth + 1) {
                    return Some(k);
                }
            }
        }
    }
    None
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Runs of hex digits, separators (`:`, whitespace, `,`) dropped.
fn hex_runs(bytes: &[u8]) -> Vec<Vec<u8>> {
    runs(
        bytes,
        |c| c.is_ascii_hexdigit(),
        |c| c,
        b":, \t\r\n",
        MIN_HEX_RUN,
    )
}

/// Runs of base64 characters (URL-safe mapped to standard), whitespace dropped, `=`
/// ending a run.
fn base64_runs(bytes: &[u8]) -> Vec<Vec<u8>> {
    runs(
        bytes,
        |c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_'),
        |c| match c {
            b'-' => b'+',
            b'_' => b'/',
            c => c,
        },
        b" \t\r\n",
        MIN_BASE64_RUN,
    )
}

fn runs(
    bytes: &[u8],
    member: impl Fn(u8) -> bool,
    map: impl Fn(u8) -> u8,
    skipped: &[u8],
    min: usize,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for &c in bytes {
        if member(c) {
            cur.push(map(c));
        } else if !skipped.contains(&c) {
            if cur.len() >= min {
                out.push(std::mem::take(&mut cur));
            } else {
                cur.clear();
            }
        }
    }
    if cur.len() >= min {
        out.push(cur);
    }
    out
}

/// The length of a DER header's length field at `b` (short form, or one or two
/// length bytes), if it is one.
fn len_field(b: &[u8]) -> Option<usize> {
    match b.first()? {
        l if *l < 0x80 => Some(1),
        0x81 => Some(2),
        0x82 => Some(3),
        _ => None,
    }
}

/// The DER structure of a private key anywhere in `bytes`.
fn der_key(bytes: &[u8]) -> Option<&'static str> {
    if bytes.windows(15).any(|w| w == b"openssh-key-v1\0") {
        return Some("an OpenSSH private key");
    }
    for i in 0..bytes.len() {
        if bytes[i] != 0x30 {
            continue;
        }
        let Some(l) = len_field(&bytes[i + 1..]) else {
            continue;
        };
        // A length field running past the end (a 0x30 0x82 in the last bytes of a
        // text) is no structure.
        let Some(body) = bytes.get(i + 1 + l..) else {
            continue;
        };
        // PKCS#8 v1/v2: version 0|1, then AlgorithmIdentifier { OID, ... }.
        if (body.starts_with(&[0x02, 0x01, 0x00, 0x30])
            || body.starts_with(&[0x02, 0x01, 0x01, 0x30]))
            && body.len() > 6
            && body[5] == 0x06
        {
            let oid_len = body[6] as usize;
            if let Some(oid) = body.get(7..7 + oid_len) {
                if KEY_ALGORITHMS.contains(&oid) {
                    return Some("a PKCS#8 private key");
                }
            }
        }
        // SEC1 ECPrivateKey: version 1, then the private key OCTET STRING.
        if body.starts_with(&[0x02, 0x01, 0x01, 0x04])
            && body.get(4).is_some_and(|n| (0x18..=0x42).contains(n))
        {
            return Some("a SEC1 EC private key");
        }
        // PKCS#1 RSAPrivateKey: version 0, then the modulus INTEGER.
        if body.starts_with(&[0x02, 0x01, 0x00, 0x02]) && body.get(4).is_some_and(|n| *n >= 0x81) {
            return Some("a PKCS#1 RSA private key");
        }
        // EncryptedPrivateKeyInfo: AlgorithmIdentifier { PBE OID, ... }, OCTET STRING.
        if body.first() == Some(&0x30) {
            if let Some(l2) = len_field(&body[1..]) {
                let alg = &body[1 + l2..];
                if alg.first() == Some(&0x06) {
                    let oid = &alg[2.min(alg.len())..];
                    if PBE_PREFIXES.iter().any(|p| oid.starts_with(p)) {
                        return Some("an encrypted PKCS#8 private key");
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `fedca apply` panicked ("range start index 17 out of range for slice of length
    /// 16") when a base64 or hex run in a rendered file decoded to bytes ending in a
    /// SEQUENCE tag with a long-form length.
    #[test]
    fn a_length_field_running_past_the_end_is_no_key_and_no_panic() {
        for tail in [
            &[0x30, 0x81][..],
            &[0x30, 0x82],
            &[0x30, 0x82, 0x01],
            &[0x30],
        ] {
            let mut bytes = vec![0u8; 14];
            bytes.extend_from_slice(tail);
            assert_eq!(der_key(&bytes), None, "{bytes:?}");
            assert_eq!(find_private_key(&bytes), None, "{bytes:?}");
        }
        // The same bytes as a base64 and a hex run inside a text.
        let b64 =
            data_encoding::BASE64.encode(&[0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x30, 0x82]);
        assert_eq!(find_private_key(format!("x: {b64}\n").as_bytes()), None);
    }

    proptest! {
        /// The scan never panics, whatever the bytes (it runs on every file a trust
        /// output or an apply bundle writes).
        #[test]
        fn the_scan_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = find_private_key(&bytes);
            let _ = der_key(&bytes);
        }

        /// Nor on text made of base64 and hex runs, which the scan decodes.
        #[test]
        fn the_scan_never_panics_on_encoded_runs(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let text = format!(
                "a: {}\nb: {}\n",
                data_encoding::BASE64.encode(&bytes),
                data_encoding::HEXLOWER.encode(&bytes)
            );
            let _ = find_private_key(text.as_bytes());
        }
    }

    fn pkcs8() -> Vec<u8> {
        let rng = ring::rand::SystemRandom::new();
        ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &rng,
        )
        .unwrap()
        .as_ref()
        .to_vec()
    }

    #[test]
    fn finds_keys_in_every_encoding() {
        let der = pkcs8();
        let b64 = data_encoding::BASE64.encode(&der);
        let hex = data_encoding::HEXUPPER.encode(&der);
        let pem = format!("-----BEGIN EC PRIVATE KEY-----\n{b64}\n-----END EC PRIVATE KEY-----\n");
        let cases: Vec<Vec<u8>> = vec![
            der.clone(),
            format!("key: {b64}\n").into_bytes(),
            format!("key: x{}\n", data_encoding::BASE64URL_NOPAD.encode(&der)).into_bytes(),
            format!("k = \"{hex}\"").into_bytes(),
            pem.clone().into_bytes(),
            pem.to_lowercase().into_bytes(),
            data_encoding::BASE64.encode(pem.as_bytes()).into_bytes(),
            data_encoding::HEXLOWER.encode(b64.as_bytes()).into_bytes(),
            // SEC1 (P-256) and encrypted PKCS#8 (PBES2) headers.
            [&[0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20][..], &[7; 32]].concat(),
            data_encoding::BASE64
                .encode(
                    &[
                        &[0x30, 0x81, 0x87, 0x30, 0x4b, 0x06, 0x09][..],
                        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d],
                        &[1; 20],
                    ]
                    .concat(),
                )
                .into_bytes(),
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(find_private_key(c).is_some(), "case {i} not found");
        }
    }

    #[test]
    fn remembered_clean_texts_never_hide_a_key() {
        let clean = b"roots:\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let b64 = data_encoding::BASE64.encode(&pkcs8());
        let with_key = [&clean[..], format!("key: {b64}\n").as_bytes()].concat();
        for _ in 0..3 {
            assert_eq!(find_private_key(clean), None);
            assert!(find_private_key(&with_key).is_some());
        }
        // More distinct clean texts than are remembered: still right.
        for i in 0..(2 * CLEAN_MAX) {
            assert_eq!(find_private_key(format!("text {i}").as_bytes()), None);
        }
        assert!(find_private_key(&with_key).is_some());
    }

    #[test]
    fn certificates_and_text_are_not_keys() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["hs1.fed.test".into()]).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        let cert = p.self_signed(&key).unwrap();
        let text = format!(
            "tls_certificate_path: \"/srv/hs1/fullchain.pem\"\n{}\nca: {}\n{}\n",
            cert.pem(),
            data_encoding::BASE64.encode(cert.pem().as_bytes()),
            data_encoding::HEXLOWER.encode(cert.der()),
        );
        assert_eq!(find_private_key(text.as_bytes()), None);
        assert_eq!(find_private_key(cert.der()), None);
    }
}
