#!/usr/bin/env bash
# make.sh — regenerate the corpus of BROKEN certificate chains in this directory.
#
# Everything is made with openssl (`openssl ca`, never fedca), with FIXED validity dates so
# the corpus never expires by itself: certificates are valid 2025-01-01 to 2045-01-01 unless
# the case is about time, and every case is meant to be checked at 2030-01-01T00:00:00Z.
# What it builds (cases, names, dates, extensions, serials) is the same on every run; keys
# and signatures are fresh, so the PEM bytes change.
#
# Outputs, all committed:
#   *.pem           one chain per case (leaf first) and the trust files (*-root.pem, roots.pem)
#   manifest.json   [{case, chain, trust, name, at, kind, detail_contains, why, openssl,
#                     verifiers}] — see tests/interop/README.md
# `openssl` is what tests/interop/openssl-verify.sh says about the case (at "at");
# `verifiers` records every interop verifier's verdict when the corpus was made (GnuTLS
# verifies at the time of generation: it cannot verify at another time). A case that no
# verifier rejects makes this script fail, except ca_as_leaf, which only webpki rejects.
#
# Usage: tests/data/broken/make.sh
#   PYTHON=/path/to/python   a Python with pyOpenSSL + service_identity
#                            (default: target/venv/bin/python, else python3)
# Needs openssl, certtool, go, python3.
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$OUT/../../.." && pwd)
INTEROP=$ROOT/tests/interop
# shellcheck source=tests/interop/pki.sh
. "$INTEROP/pki.sh"

if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/target/venv/bin/python" ]; then PYTHON="$ROOT/target/venv/bin/python"; else PYTHON=python3; fi
fi
for tool in openssl certtool go python3; do
  command -v "$tool" >/dev/null || { echo "make.sh: $tool is missing" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fedca-broken.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
(cd "$INTEROP/goverify" && GOPROXY=off GOTOOLCHAIN=local go build -o "$WORK/goverify" .)

P=$WORK/pki
pki_init "$P"
V0=20250101000000Z   # the corpus's normal validity window
V1=20450101000000Z
AT=2030-01-01T00:00:00Z

# ------------------------------------------------------------------ CAs
pki_cert root self root "fedca-broken Root" $V0 $V1
pki_cert other_root self root "fedca-broken Other Root" $V0 $V1
pki_cert inter root inter "fedca-broken Intermediate" $V0 $V1
pki_cert inter_expired root inter "fedca-broken Expired Intermediate" 20200101000000Z 20220101000000Z
pki_cert notca root inter_not_ca "fedca-broken Not-A-CA" $V0 $V1 "DNS:notca.corp.test"
pki_cert pl0_root self root_pathlen0 "fedca-broken Pathlen0 Root" $V0 $V1
pki_cert pl0_inter pl0_root inter "fedca-broken Pathlen0 Intermediate" $V0 $V1
pki_nc "permitted;DNS:corp.test,permitted;IP:10.0.0.0/255.0.0.0,permitted;IP:fd00::/ffff:ff00::"
pki_cert nc_root self root_nc "fedca-broken Constrained Root" $V0 $V1
pki_nc "permitted;DNS:corp.test,permitted;IP:10.0.0.0/255.0.0.0"
pki_cert nc4_root self root_nc "fedca-broken IPv4-only Constrained Root" $V0 $V1
pki_key rsa_root rsa2048
pki_cert rsa_root self root "fedca-broken RSA Root" $V0 $V1

# ------------------------------------------------------------------ leaves
L() { pki_cert "$@"; }   # L NAME ISSUER EXT CN START END SAN [MD]
L unknown_issuer other_root leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
L self_signed self leaf_selfsigned hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
L via_inter inter leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
L expired root leaf hs1.corp.test 20200101000000Z 20220101000000Z "DNS:hs1.corp.test"
L not_yet_valid root leaf hs1.corp.test 20400101000000Z $V1 "DNS:hs1.corp.test"
L mismatch_dns root leaf hs2.corp.test $V0 $V1 "DNS:hs2.corp.test"
L mismatch_wild root leaf "*.corp.test" $V0 $V1 "DNS:*.corp.test"
L mismatch_ip root leaf 10.0.0.8 $V0 $V1 "IP:10.0.0.8"
L mismatch_ip_as_dns root leaf 10.0.0.7 $V0 $V1 "DNS:10.0.0.7"
L mismatch_ipv6 root leaf fd00::8 $V0 $V1 "IP:fd00::8"
L no_san root leaf_nosan hs1.corp.test $V0 $V1
L nc_dns nc_root leaf hs1.other.test $V0 $V1 "DNS:hs1.other.test"
L nc_second_san nc_root leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test,DNS:hs1.other.test"
L nc_ipv4 nc_root leaf 192.168.1.7 $V0 $V1 "IP:192.168.1.7"
L nc_ipv6 nc_root leaf fc00::7 $V0 $V1 "IP:fc00::7"
L nc_ipv6_v4only nc4_root leaf fd00::7 $V0 $V1 "IP:fd00::7"
L eku_client root leaf_eku_client hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
L eku_codesign root leaf_eku_codesign hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
L ku_certsign root leaf_ku_certsign hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
L ca_leaf root leaf_ca hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
L under_notca notca leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
L under_pl0 pl0_inter leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
L bad_sig root leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
L bad_tbs root leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
pki_key rsa_sha1 rsa2048
L rsa_sha1 rsa_root leaf_rsa hs1.corp.test $V0 $V1 "DNS:hs1.corp.test" sha1
pki_key rsa_md5 rsa2048
L rsa_md5 rsa_root leaf_rsa hs1.corp.test $V0 $V1 "DNS:hs1.corp.test" md5
L ecdsa_sha1 root leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test" sha1
L under_inter_expired inter_expired leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
L plain root leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"

# ------------------------------------------------------------------ tampering helpers
# der_edit IN OUT MODE : MODE=sig flips the last byte of the signature (the DER stays
# well-formed); MODE=tbs renames hs1.corp.test to hs7.corp.test inside the signed part.
der_edit() {
  openssl x509 -in "$1" -outform DER -out "$WORK/edit.der"
  python3 - "$WORK/edit.der" "$2" "$3" <<'EOF'
import base64, sys
der = bytearray(open(sys.argv[1], "rb").read())
mode = sys.argv[3]
if mode == "sig":
    der[-1] ^= 0x01
elif mode == "tbs":
    old, new = b"hs1.corp.test", b"hs7.corp.test"
    assert der.count(old) == 2, "expected the name in CN and SAN"
    der = bytearray(bytes(der).replace(old, new))
else:
    raise SystemExit("bad mode")
b64 = base64.b64encode(bytes(der)).decode()
with open(sys.argv[2], "w") as f:
    f.write("-----BEGIN CERTIFICATE-----\n")
    for i in range(0, len(b64), 64):
        f.write(b64[i:i + 64] + "\n")
    f.write("-----END CERTIFICATE-----\n")
EOF
}

# ------------------------------------------------------------------ chain files
C=$WORK/out
mkdir -p "$C"
pem() { cat "$(pki_pem "$1")"; }
chain() { local out=$C/$1; shift; : > "$out"; for n in "$@"; do pem "$n" >> "$out"; done; }

# trust files
chain roots.pem root
chain constrained-root.pem nc_root
chain ipv4-only-constrained-root.pem nc4_root
chain pathlen0-root.pem pl0_root
chain rsa-root.pem rsa_root

chain unknown-issuer.pem unknown_issuer
chain unknown-issuer-root-in-chain.pem unknown_issuer other_root
chain self-signed-leaf.pem self_signed
chain missing-intermediate.pem via_inter root
chain expired.pem expired
chain not-yet-valid.pem not_yet_valid
chain name-mismatch-dns.pem mismatch_dns
chain name-mismatch-wildcard-depth.pem mismatch_wild
chain name-mismatch-ipv4.pem mismatch_ip
chain name-mismatch-ip-in-dns-san.pem mismatch_ip_as_dns
chain name-mismatch-ipv6.pem mismatch_ipv6
chain no-san.pem no_san
chain nc-dns-outside.pem nc_dns
chain nc-second-san-outside.pem nc_second_san
chain nc-ipv4-outside.pem nc_ipv4
chain nc-ipv6-outside.pem nc_ipv6
chain nc-ipv6-under-ipv4-only.pem nc_ipv6_v4only
chain wrong-eku-client-auth.pem eku_client
chain wrong-eku-code-signing.pem eku_codesign
chain wrong-key-usage-certsign-only.pem ku_certsign
chain ca-as-leaf.pem ca_leaf
chain intermediate-not-ca.pem under_notca notca
chain path-length-exceeded.pem under_pl0 pl0_inter
der_edit "$(pki_pem bad_sig)" "$C/bad-signature.pem" sig
der_edit "$(pki_pem bad_tbs)" "$C/bad-signature-tampered-san.pem" tbs
chain unsupported-sig-rsa-sha1.pem rsa_sha1
chain unsupported-sig-rsa-md5.pem rsa_md5
chain unsupported-sig-ecdsa-sha1.pem ecdsa_sha1
chain expired-intermediate.pem under_inter_expired inter_expired

# malformed inputs (the same bytes on every run, except the truncated real certificates)
{
  echo "-----BEGIN CERTIFICATE-----"
  echo "VGhpcyBpcyBub3QgYSBjZXJ0aWZpY2F0ZS4gSXQgaXMgYmFzZTY0IG9mIHBsYWluIEVu"
  echo "Z2xpc2ggdGV4dCwgd3JhcHBlZCBpbiBQRU0gYXJtb3VyLCBtYWRlIGJ5IGZlZGNhJ3Mg"
  echo "YnJva2VuLWNoYWluIGNvcnB1cyBnZW5lcmF0b3Iu"
  echo "-----END CERTIFICATE-----"
} > "$C/malformed-garbage-der.pem"
printf 'hello, this is not PEM at all\n' > "$C/malformed-not-pem.pem"
: > "$C/malformed-empty.pem"
# a real certificate cut after half its base64 lines: no END line
plain=$(pki_pem plain)
n=$(wc -l < "$plain")
head -n $((n / 2)) "$plain" > "$C/malformed-truncated-pem.pem"
# a complete PEM armour around DER cut short by 16 bytes
openssl x509 -in "$plain" -outform DER | head -c -16 | base64 -w 64 \
  | { echo "-----BEGIN CERTIFICATE-----"; cat; echo "-----END CERTIFICATE-----"; } > "$C/malformed-truncated-der.pem"
# a good leaf followed by a broken second block (the intermediate slot)
{ pem via_inter; echo "-----BEGIN CERTIFICATE-----"; echo "AAAA"; echo "-----END CERTIFICATE-----"; } \
  > "$C/malformed-second-block.pem"

# ------------------------------------------------------------------ the manifest
# case | chain | trust | name | kind | detail_contains (;-separated) | why
cat > "$WORK/cases.txt" <<'EOF'
unknown_issuer|unknown-issuer.pem|roots.pem|hs1.corp.test|unknown_issuer|fedca-broken Other Root|The leaf is issued by "fedca-broken Other Root", which is not in the trust file.
unknown_issuer_root_in_chain|unknown-issuer-root-in-chain.pem|roots.pem|hs1.corp.test|unknown_issuer|fedca-broken Other Root|The chain carries its own root "fedca-broken Other Root"; a root sent by the server is not a trust anchor.
self_signed_leaf|self-signed-leaf.pem|roots.pem|hs1.corp.test|unknown_issuer|hs1.corp.test|A self-signed server certificate (CA:FALSE, issuer = subject hs1.corp.test), as `openssl req -x509` makes.
missing_intermediate|missing-intermediate.pem|roots.pem|hs1.corp.test|missing_intermediate|fedca-broken Intermediate|The leaf is issued by "fedca-broken Intermediate" (itself issued by the trusted root), but the server sends the leaf and the root with the intermediate between them left out.
expired|expired.pem|roots.pem|hs1.corp.test|expired|2022-01-01|The leaf was valid 2020-01-01 to 2022-01-01.
not_yet_valid|not-yet-valid.pem|roots.pem|hs1.corp.test|not_yet_valid|2040-01-01|The leaf is valid from 2040-01-01 only.
name_mismatch_dns|name-mismatch-dns.pem|roots.pem|hs1.corp.test|name_mismatch|hs1.corp.test;hs2.corp.test|The leaf names hs2.corp.test; hs1.corp.test was asked for.
name_mismatch_wildcard_depth|name-mismatch-wildcard-depth.pem|roots.pem|a.hs1.corp.test|name_mismatch|a.hs1.corp.test;*.corp.test|A wildcard covers exactly one label: *.corp.test does not match a.hs1.corp.test.
name_mismatch_ipv4|name-mismatch-ipv4.pem|roots.pem|10.0.0.7|name_mismatch|10.0.0.7;10.0.0.8|The leaf's iPAddress SAN is 10.0.0.8; 10.0.0.7 was asked for.
name_mismatch_ip_in_dns_san|name-mismatch-ip-in-dns-san.pem|roots.pem|10.0.0.7|name_mismatch|10.0.0.7|The IP literal is written as a dNSName SAN ("DNS:10.0.0.7"); an IP server name must be an iPAddress SAN.
name_mismatch_ipv6|name-mismatch-ipv6.pem|roots.pem|fd00::7|name_mismatch|fd00::7;fd00::8|The leaf's iPAddress SAN is fd00::8; fd00::7 was asked for.
no_san|no-san.pem|roots.pem|hs1.corp.test|no_san|hs1.corp.test|The leaf has no subjectAltName, only CN=hs1.corp.test. webpki, Go and service_identity (Synapse) ignore the CN and refuse it; OpenSSL's X509_check_host and GnuTLS fall back to the CN when there is no DNS SAN and accept it.
name_constraint_dns|nc-dns-outside.pem|constrained-root.pem|hs1.other.test|name_constraint_violation|hs1.other.test;corp.test|The root permits DNS corp.test (and 10.0.0.0/8, fd00::/24); the leaf's SAN hs1.other.test is outside.
name_constraint_second_san|nc-second-san-outside.pem|constrained-root.pem|hs1.corp.test|name_constraint_violation|hs1.other.test|The asked-for name hs1.corp.test is permitted, but the leaf's second SAN hs1.other.test is not: every SAN must satisfy the constraints.
name_constraint_ipv4|nc-ipv4-outside.pem|constrained-root.pem|192.168.1.7|name_constraint_violation|192.168.1.7|The root permits IP 10.0.0.0/8 and fd00::/24; the leaf's iPAddress SAN 192.168.1.7 is outside.
name_constraint_ipv6|nc-ipv6-outside.pem|constrained-root.pem|fc00::7|name_constraint_violation|fc00::7|The root permits IP 10.0.0.0/8 and fd00::/24; the leaf's iPAddress SAN fc00::7 is outside.
name_constraint_ipv6_under_ipv4_only|nc-ipv6-under-ipv4-only.pem|ipv4-only-constrained-root.pem|fd00::7|name_constraint_violation|fd00::7|The root permits only IPv4 10.0.0.0/8 (and DNS corp.test); once an iPAddress subtree is present, an IPv6 SAN with no IPv6 subtree is outside.
wrong_eku_client_auth|wrong-eku-client-auth.pem|roots.pem|hs1.corp.test|wrong_eku|serverAuth;clientAuth|The leaf's extendedKeyUsage is clientAuth only; a server certificate needs serverAuth.
wrong_eku_code_signing|wrong-eku-code-signing.pem|roots.pem|hs1.corp.test|wrong_eku|serverAuth;codeSigning|The leaf's extendedKeyUsage is codeSigning only; a server certificate needs serverAuth.
wrong_key_usage_certsign_only|wrong-key-usage-certsign-only.pem|roots.pem|hs1.corp.test|wrong_key_usage|digitalSignature;keyCertSign|The ECDSA leaf's keyUsage is keyCertSign only (critical); a TLS server key needs digitalSignature. OpenSSL (sslserver purpose) refuses it; Go's x509 and GnuTLS do not check the leaf's keyUsage, nor does rustls-webpki 0.103 (its check landed upstream in 2026).
ca_as_leaf|ca-as-leaf.pem|roots.pem|hs1.corp.test|ca_as_leaf|hs1.corp.test|The presented leaf is a CA certificate (basicConstraints CA:TRUE) although it has the right SAN, EKU and digitalSignature. Only webpki refuses it (CaUsedAsEndEntity); OpenSSL, Go, pyOpenSSL and GnuTLS all accept it.
intermediate_not_ca|intermediate-not-ca.pem|roots.pem|hs1.corp.test|intermediate_not_ca|fedca-broken Not-A-CA|The leaf is issued by "fedca-broken Not-A-CA", an ordinary server certificate (CA:FALSE, no keyCertSign), sent as the intermediate.
path_length_exceeded|path-length-exceeded.pem|pathlen0-root.pem|hs1.corp.test|path_length_exceeded|fedca-broken Pathlen0 Root;fedca-broken Pathlen0 Intermediate|The root "fedca-broken Pathlen0 Root" has pathlen:0, yet an intermediate "fedca-broken Pathlen0 Intermediate" sits between it and the leaf.
bad_signature|bad-signature.pem|roots.pem|hs1.corp.test|bad_signature|fedca-broken Root|The last byte of the leaf's ECDSA signature is flipped; the DER is still well-formed.
bad_signature_tampered_san|bad-signature-tampered-san.pem|roots.pem|hs7.corp.test|bad_signature|fedca-broken Root|hs1.corp.test was rewritten to hs7.corp.test inside the signed part (CN and SAN) after signing.
unsupported_signature_rsa_sha1|unsupported-sig-rsa-sha1.pem|rsa-root.pem|hs1.corp.test|unsupported_signature_algorithm|SHA-1|The leaf is signed sha1WithRSAEncryption by an RSA-2048 root. webpki, Go, GnuTLS and OpenSSL at security level >= 1 (every TLS connection, so Synapse live) refuse it; a bare X509StoreContext (pyverify offline) has no security level and accepts it.
unsupported_signature_rsa_md5|unsupported-sig-rsa-md5.pem|rsa-root.pem|hs1.corp.test|unsupported_signature_algorithm|MD5|The leaf is signed md5WithRSAEncryption by an RSA-2048 root.
unsupported_signature_ecdsa_sha1|unsupported-sig-ecdsa-sha1.pem|roots.pem|hs1.corp.test|unsupported_signature_algorithm|SHA-1|The leaf is signed ecdsa-with-SHA1 by the P-256 root.
expired_intermediate|expired-intermediate.pem|roots.pem|hs1.corp.test|expired_intermediate|fedca-broken Expired Intermediate;2022-01-01|The intermediate "fedca-broken Expired Intermediate" was valid 2020-01-01 to 2022-01-01; the leaf itself is valid 2025-2045.
malformed_garbage_der|malformed-garbage-der.pem|roots.pem|hs1.corp.test|malformed||Well-formed PEM armour around base64 of English text, not DER.
malformed_not_pem|malformed-not-pem.pem|roots.pem|hs1.corp.test|malformed||A line of text, no PEM block at all.
malformed_empty|malformed-empty.pem|roots.pem|hs1.corp.test|malformed||An empty file.
malformed_truncated_pem|malformed-truncated-pem.pem|roots.pem|hs1.corp.test|malformed||A real certificate's PEM cut after half its lines: no END line.
malformed_truncated_der|malformed-truncated-der.pem|roots.pem|hs1.corp.test|malformed||Complete PEM armour around a certificate's DER missing its last 16 bytes.
malformed_second_block|malformed-second-block.pem|roots.pem|hs1.corp.test|malformed||A good leaf followed by a second PEM block holding 3 bytes of garbage where the intermediate should be.
EOF

# every chain file made must be in the manifest, and the other way round
python3 - "$WORK/cases.txt" "$C" <<'EOF'
import os, sys
listed = {l.split("|")[1] for l in open(sys.argv[1]) if l.strip()} | {l.split("|")[2] for l in open(sys.argv[1]) if l.strip()}
made = set(os.listdir(sys.argv[2]))
if listed != made:
    sys.exit(f"make.sh: manifest and files differ: only listed {sorted(listed - made)}, only made {sorted(made - listed)}")
EOF

# install: replace this directory's PEM files
find "$OUT" -maxdepth 1 -name '*.pem' -delete
cp "$C"/*.pem "$OUT"/

"$PYTHON" - "$WORK/cases.txt" "$OUT" "$AT" "$WORK/goverify" "$INTEROP" <<'EOF'
import json, os, subprocess, sys

cases_file, out, at, goverify, interop = sys.argv[1:6]
py = sys.executable
verifiers = {
    "openssl-verify": ([os.path.join(interop, "openssl-verify.sh")], True),
    "go-x509": ([goverify], True),
    "pyopenssl-x509": ([py, os.path.join(interop, "pyverify.py")], True),
    "gnutls-certtool": ([os.path.join(interop, "gnutls-verify.sh")], False),  # no --at
}

def run(cmd, case, with_at):
    # relative paths, run in the corpus directory: no machine-specific path lands in the manifest
    args = cmd + ["--chain", case["chain"], "--trust", case["trust"], "--name", case["name"]]
    if with_at:
        args += ["--at", at]
    p = subprocess.run(args, capture_output=True, text=True, cwd=out)
    line = p.stdout.strip().splitlines()
    try:
        j = json.loads(line[-1])
    except (IndexError, ValueError):
        sys.exit(f"make.sh: {cmd} gave no JSON for {case['case']}: {p.stdout!r} {p.stderr!r}")
    if p.returncode not in (0, 1):
        sys.exit(f"make.sh: {cmd} exit {p.returncode} for {case['case']}: {j}")
    r = {"valid": j["valid"], "error": j["error"]}
    if not with_at:
        r["at"] = "generation time (GnuTLS cannot verify at another time)"
    return r

# Cases that OpenSSL, Go, pyOpenSSL and GnuTLS all accept and only webpki (rustls, the
# verifier fedca emulates) refuses: a CA:TRUE certificate as the end entity is fine for
# all four (none of them checks basicConstraints on the leaf), webpki says CaUsedAsEndEntity.
ACCEPTED_BY_ALL_BUT_WEBPKI = {"ca_as_leaf"}

manifest, rows = [], []
for line in open(cases_file):
    if not line.strip():
        continue
    name, chain, trust, host, kind, details, why = line.rstrip("\n").split("|")
    case = {"case": name, "chain": chain, "trust": trust, "name": host, "at": at, "kind": kind,
            "detail_contains": [d for d in details.split(";") if d], "why": why}
    results = {v: run(cmd, case, with_at) for v, (cmd, with_at) in verifiers.items()}
    o = results["openssl-verify"]
    case["openssl"] = o["error"] if not o["valid"] else "OK (openssl verify accepts this chain)"
    case["verifiers"] = results
    if all(r["valid"] for r in results.values()) and name not in ACCEPTED_BY_ALL_BUT_WEBPKI:
        sys.exit(f"make.sh: no verifier rejects {name}: the case is not broken")
    if name in ACCEPTED_BY_ALL_BUT_WEBPKI and not all(r["valid"] for r in results.values()):
        print(f"make.sh: note: {name} is now rejected by some verifier; update ACCEPTED_BY_ALL_BUT_WEBPKI")
    manifest.append(case)
    rows.append((name, kind, ["ok" if results[v]["valid"] else "REJ" for v in verifiers]))

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")

print(f"{'case':40} {'kind':32} " + " ".join(f"{v:>16}" for v in verifiers))
for name, kind, marks in rows:
    print(f"{name:40} {kind:32} " + " ".join(f"{m:>16}" for m in marks))
print(f"make.sh: {len(manifest)} broken cases written to {out}/manifest.json")
EOF
