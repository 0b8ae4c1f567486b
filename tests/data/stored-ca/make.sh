#!/usr/bin/env bash
# make.sh — regenerate the stored-CA fixture: a CA directory written by an EARLIER fedca,
# and what that fedca's `list --json` and `status --json` printed for it.
#
# tests/stored_records.rs copies ca/ to a temporary directory and checks that the
# current fedca reads it, prints the same list/status, leaves index.jsonl byte for
# byte, and can still issue and renew in it. Regenerate it only with the fedca binary
# whose on-disk format the fixture is meant to pin (it was made with the build of
# commit c1e4ae2, before IndexRecord was typed):
#
#   FEDCA=/tmp/fedca-old tests/data/stored-ca/make.sh
#
# Every key in ca/ is a TEST key, committed on purpose: never trust this root.
# Needs openssl (for the RSA CSR; its key is thrown away).
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FEDCA=${FEDCA:?set FEDCA to the fedca binary that writes the fixture}
CA=$OUT/ca
rm -rf "$CA" "$OUT/expected"
mkdir -p "$OUT/expected"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

f() { "$FEDCA" --ca-dir "$CA" "$@" >/dev/null; }
ONION=2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion

f init --name "fedca stored-records fixture (TEST ONLY)"
f issue hs1.fed.test
f issue 10.0.0.7:8448
f issue '[fd00::7]'
f issue "$ONION"
f issue deleg.fed.test --delegate matrix.deleg.fed.test:8448
f issue alt.fed.test --alt '*.alt.fed.test' --alt 10.0.0.9 --alt fd00::9 --validity 30d
f issue p384.fed.test --key ecdsa-p384
f issue ed.fed.test --key ed25519
f issue renewed.fed.test
f renew renewed.fed.test --force
f issue revoked.fed.test
f revoke revoked.fed.test
openssl req -new -newkey rsa:2048 -nodes -keyout "$WORK/rsa.key" -subj /CN=rsa.fed.test \
    -addext subjectAltName=DNS:rsa.fed.test -out "$WORK/rsa.csr" 2>/dev/null
f sign-csr "$WORK/rsa.csr"

# What the fedca that wrote the CA printed for it (status exits 1 once something is due).
"$FEDCA" --ca-dir "$CA" --json list >"$OUT/expected/list.json"
"$FEDCA" --ca-dir "$CA" --json status >"$OUT/expected/status.json" || true
"$FEDCA" --ca-dir "$CA" list >"$OUT/expected/list.txt"
"$FEDCA" --ca-dir "$CA" status >"$OUT/expected/status.txt" || true

# What `trust` wrote and printed (--json) for a delegated server (synapse) and an IPv6
# literal (dendrite), the output directory's path replaced by @OUT@.
trust() {
    local target=$1 server=$2 o=$WORK/trust-$1 f
    "$FEDCA" --ca-dir "$CA" --json trust --for "$target" --server "$server" --out "$o" |
        sed "s#$o#@OUT@#g" >"$OUT/expected/trust-$target.json"
    (cd "$o" && find . -type f) | while read -r f; do
        mkdir -p "$(dirname "$OUT/expected/trust-$target/$f")"
        sed "s#$o#@OUT@#g" "$o/$f" >"$OUT/expected/trust-$target/$f"
    done
}
trust synapse deleg.fed.test
trust dendrite '[fd00::7]'
rm -f "$OUT/.ca.lock"
