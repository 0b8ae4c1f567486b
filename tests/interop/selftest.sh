#!/usr/bin/env bash
# selftest.sh — prove that every interop verifier works, against a small CA made here with
# openssl (not fedca): valid DNS / IPv4 / IPv6 leaves, a leaf via an intermediate, P-256,
# P-384 and Ed25519 keys, a wrong name and an expired leaf; offline and (Go, Python) over
# real TLS handshakes with `openssl s_server` on loopback, including whether SNI is sent.
#
# Usage: tests/interop/selftest.sh             (from anywhere)
#   PYTHON=/path/to/python  a Python with pyOpenSSL + service_identity
#                           (default: target/venv/bin/python, else python3)
#   KEEP=1                  keep the work directory and print its path
# Needs: openssl, certtool (gnutls-bin), go. Prints one line per check and ends with
# "N passed, N failed"; exits 1 if any check failed, 2 if a tool is missing.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/interop/pki.sh
. "$HERE/pki.sh"

for tool in openssl certtool go; do
  command -v "$tool" >/dev/null 2>&1 || { echo "selftest: $tool is missing (scripts/install-test-deps)" >&2; exit 2; }
done
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/target/venv/bin/python" ]; then PYTHON="$ROOT/target/venv/bin/python"; else PYTHON=python3; fi
fi
"$PYTHON" -c 'import OpenSSL, service_identity' 2>/dev/null \
  || { echo "selftest: $PYTHON lacks pyOpenSSL/service_identity (set PYTHON=...)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fedca-interop-selftest.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "selftest: work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "selftest: building goverify"
(cd "$HERE/goverify" && GOPROXY=off GOTOOLCHAIN=local go build -o "$WORK/goverify" .) \
  || { echo "selftest: go build failed" >&2; exit 1; }

GO="$WORK/goverify"
PY=("$PYTHON" "$HERE/pyverify.py")
OSSL="$HERE/openssl-verify.sh"
GNUTLS="$HERE/gnutls-verify.sh"

# ------------------------------------------------------------------ the test CA
echo "selftest: making the test PKI with openssl ca"
P=$WORK/pki
pki_init "$P"
V0=20250101000000Z V1=20450101000000Z     # valid window (fixed dates, as in the corpus)
pki_cert root self root "selftest Root P-256" $V0 $V1
pki_key root384 p384;  pki_cert root384 self root "selftest Root P-384" $V0 $V1
pki_key rooted ed25519; pki_cert rooted self root "selftest Root Ed25519" $V0 $V1
pki_cert inter root inter "selftest Intermediate" $V0 $V1
pki_cert dns root leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
pki_cert v4 root leaf 10.0.0.7 $V0 $V1 "IP:10.0.0.7"
pki_cert v6 root leaf fd00::7 $V0 $V1 "IP:fd00::7"
pki_cert loop root leaf localhost $V0 $V1 "DNS:localhost,IP:127.0.0.1,IP:::1"
pki_cert viainter inter leaf hs2.corp.test $V0 $V1 "DNS:hs2.corp.test"
pki_key p384 p384;     pki_cert p384 root leaf hs3.corp.test $V0 $V1 "DNS:hs3.corp.test"
pki_key p384all p384;  pki_cert p384all root384 leaf hs3.corp.test $V0 $V1 "DNS:hs3.corp.test"
pki_key ed ed25519;    pki_cert ed root leaf hs4.corp.test $V0 $V1 "DNS:hs4.corp.test"
pki_key edall ed25519; pki_cert edall rooted leaf hs4.corp.test $V0 $V1 "DNS:hs4.corp.test"
pki_cert expired root leaf hs5.corp.test 20200101000000Z 20220101000000Z "DNS:hs5.corp.test"
pki_cert wrongca_root self root "selftest Other Root" $V0 $V1
pki_cert wrongca wrongca_root leaf hs1.corp.test $V0 $V1 "DNS:hs1.corp.test"
pki_key rsaroot rsa2048; pki_cert rsaroot self root "selftest RSA Root" $V0 $V1
pki_key sha1 rsa2048;    pki_cert sha1 rsaroot leaf_rsa hs6.corp.test $V0 $V1 "DNS:hs6.corp.test" sha1

C=$WORK/c
mkdir -p "$C"
cp "$P/root.pem" "$C/roots.pem"
cat "$P/root.pem" "$P/root384.pem" "$P/rooted.pem" > "$C/allroots.pem"
for n in dns v4 v6 loop p384 ed expired wrongca; do cp "$P/$n.pem" "$C/$n.pem"; done
cat "$P/viainter.pem" "$P/inter.pem" > "$C/viainter.pem"
cp "$P/viainter.pem" "$C/viainter-nointer.pem"
cp "$P/p384all.pem" "$C/p384all.pem"
cp "$P/edall.pem" "$C/edall.pem"
cp "$P/root384.pem" "$C/root384.pem"
cp "$P/rooted.pem" "$C/rooted.pem"
cp "$P/rsaroot.pem" "$C/rsaroot.pem"
cp "$P/sha1.pem" "$C/sha1.pem"

# ------------------------------------------------------------------ checking helpers
PASS=0 FAIL=0
AT=2030-01-01T00:00:00Z

# check LABEL WANT CMD...   WANT: valid | invalid | usage
# Runs CMD, requires one JSON line whose "valid" agrees with the exit code, and the outcome WANT.
check() {
  local label=$1 want=$2; shift 2
  local out rc
  out=$("$@" 2>"$WORK/stderr"); rc=$?
  local verdict
  verdict=$(python3 - "$rc" "$out" <<'EOF'
import json, sys
rc = int(sys.argv[1]); out = sys.argv[2]
lines = out.splitlines()
if len(lines) != 1:
    print(f"bad: {len(lines)} output lines"); sys.exit()
try:
    j = json.loads(lines[0])
except ValueError as e:
    print(f"bad: not JSON ({e})"); sys.exit()
if set(j) != {"verifier", "valid", "error"} or not isinstance(j["valid"], bool):
    print("bad: wrong fields"); sys.exit()
if j["valid"] != (rc == 0) or rc not in (0, 1, 2):
    print(f"bad: exit {rc} vs valid={j['valid']}"); sys.exit()
if rc == 0 and j["error"]:
    print("bad: valid but error set"); sys.exit()
if rc != 0 and not j["error"]:
    print("bad: invalid but no error"); sys.exit()
print({0: "valid", 1: "invalid", 2: "usage"}[rc])
EOF
)
  if [ "$verdict" = "$want" ]; then
    PASS=$((PASS + 1))
    printf 'ok    %-58s %s\n' "$label" "$(printf '%s' "$out" | cut -c1-150)"
  else
    FAIL=$((FAIL + 1))
    printf 'FAIL  %-58s want %s, got %s: %s\n' "$label" "$want" "$verdict" "$out"
    [ -s "$WORK/stderr" ] && sed 's/^/      stderr: /' "$WORK/stderr" | head -n 5
  fi
}

# offline LABEL WANT CHAIN TRUST NAME : every offline verifier, at now and (except GnuTLS) at $AT
offline() {
  local label=$1 want=$2 chain=$C/$3 trust=$C/$4 name=$5
  check "go-x509         $label" "$want" "$GO" --chain "$chain" --trust "$trust" --name "$name"
  check "go-x509 @2030   $label" "$want" "$GO" --chain "$chain" --trust "$trust" --name "$name" --at $AT
  check "pyopenssl-x509  $label" "$want" "${PY[@]}" --chain "$chain" --trust "$trust" --name "$name"
  check "pyopenssl @2030 $label" "$want" "${PY[@]}" --chain "$chain" --trust "$trust" --name "$name" --at $AT
  check "openssl         $label" "$want" "$OSSL" --chain "$chain" --trust "$trust" --name "$name"
  check "openssl @2030   $label" "$want" "$OSSL" --chain "$chain" --trust "$trust" --name "$name" --at $AT
  check "gnutls          $label" "$want" "$GNUTLS" --chain "$chain" --trust "$trust" --name "$name"
}

echo "selftest: offline verification"
offline "valid DNS leaf"                 valid   dns.pem      roots.pem    hs1.corp.test
offline "valid IPv4 leaf"                valid   v4.pem       roots.pem    10.0.0.7
offline "valid IPv6 leaf"                valid   v6.pem       roots.pem    fd00::7
offline "IPv6 leaf, non-canonical name"  valid   v6.pem       roots.pem    fd00:0:0::0007
offline "leaf via intermediate"          valid   viainter.pem roots.pem    hs2.corp.test
offline "P-384 leaf under P-256 root"    valid   p384.pem     roots.pem    hs3.corp.test
offline "P-384 leaf under P-384 root"    valid   p384all.pem  root384.pem  hs3.corp.test
offline "Ed25519 leaf under P-256 root"  valid   ed.pem       roots.pem    hs4.corp.test
offline "Ed25519 leaf under Ed25519 root" valid  edall.pem    rooted.pem   hs4.corp.test
offline "several roots in --trust"       valid   edall.pem    allroots.pem hs4.corp.test
offline "wrong DNS name"                 invalid dns.pem      roots.pem    hs9.corp.test
offline "wrong IPv4"                     invalid v4.pem       roots.pem    10.0.0.8
offline "IP name vs DNS-only leaf"       invalid dns.pem      roots.pem    10.0.0.7
offline "DNS name vs IP-only leaf"       invalid v4.pem       roots.pem    hs1.corp.test
offline "expired leaf (2020-2022)"       invalid expired.pem  roots.pem    hs5.corp.test
offline "missing intermediate"           invalid viainter-nointer.pem roots.pem hs2.corp.test
offline "leaf from another root"         invalid wrongca.pem  roots.pem    hs1.corp.test
# SHA-1 signatures fail at OpenSSL's security level >= 1, which a TLS connection applies but a
# bare X509StoreContext does not: the offline pyOpenSSL mode accepts what Synapse refuses live.
check "go-x509         SHA-1 signed leaf" invalid "$GO" --chain "$C/sha1.pem" --trust "$C/rsaroot.pem" --name hs6.corp.test
check "openssl         SHA-1 signed leaf" invalid "$OSSL" --chain "$C/sha1.pem" --trust "$C/rsaroot.pem" --name hs6.corp.test
check "gnutls          SHA-1 signed leaf" invalid "$GNUTLS" --chain "$C/sha1.pem" --trust "$C/rsaroot.pem" --name hs6.corp.test
check "pyopenssl-x509  SHA-1 signed leaf (known gap: no security level)" valid \
  "${PY[@]}" --chain "$C/sha1.pem" --trust "$C/rsaroot.pem" --name hs6.corp.test

echo "selftest: usage errors"
for v in go py ossl gnutls; do
  case $v in go) cmd=("$GO") ;; py) cmd=("${PY[@]}") ;; ossl) cmd=("$OSSL") ;; gnutls) cmd=("$GNUTLS") ;; esac
  check "$v: no --name"              usage "${cmd[@]}" --chain "$C/dns.pem" --trust "$C/roots.pem"
  check "$v: unreadable --chain"     usage "${cmd[@]}" --chain "$C/nonexistent.pem" --trust "$C/roots.pem" --name hs1.corp.test
  check "$v: --trust without certs"  usage "${cmd[@]}" --chain "$C/dns.pem" --trust /dev/null --name hs1.corp.test
  check "$v: bracketed IPv6 name"    usage "${cmd[@]}" --chain "$C/v6.pem" --trust "$C/roots.pem" --name "[fd00::7]"
done
for v in go py ossl; do
  case $v in go) cmd=("$GO") ;; py) cmd=("${PY[@]}") ;; ossl) cmd=("$OSSL") ;; esac
  check "$v: bad --at"                usage "${cmd[@]}" --chain "$C/dns.pem" --trust "$C/roots.pem" --name hs1.corp.test --at yesterday
done
check "gnutls: --at is refused"      usage "$GNUTLS" --chain "$C/dns.pem" --trust "$C/roots.pem" --name hs1.corp.test --at $AT

# ------------------------------------------------------------------ live handshakes
# serve CERTNAME [CHAINNAME] : openssl s_server on a free loopback port for one connection
# (-tlsextdebug logs the ClientHello extensions, so we can see whether SNI was sent).
serve() {
  local cert=$1 chainfile=${2:-} host=${3:-127.0.0.1} port extra=()
  [ -n "$chainfile" ] && extra=(-cert_chain "$P/$chainfile.pem")
  extra+=("${SERVER_EXTRA[@]}")
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    : > "$WORK/server.log"
    local accept="$host:$port"
    [[ $host == *:* ]] && accept="[$host]:$port"
    openssl s_server -accept "$accept" -cert "$P/$cert.pem" -key "$P/$cert.key" "${extra[@]}" \
      -naccept 1 -www -tlsextdebug > "$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 50); do
      grep -q '^ACCEPT' "$WORK/server.log" && { SERVER_ADDR="$host:$port"; return 0; }
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
  done
  echo "selftest: could not start openssl s_server" >&2
  return 1
}
unserve() {
  if [ -n "$SERVER_PID" ]; then
    for _ in $(seq 20); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
  fi
}
sni_sent() { grep -q 'TLS client extension "server name"' "$WORK/server.log"; }

SERVER_EXTRA=()

# live LABEL WANT SNI CERT CHAIN HOST TRUST NAME [AT]   SNI: yes | no | any
live() {
  local label=$1 want=$2 sni=$3 cert=$4 chainfile=$5 host=$6 trust=$C/$7 name=$8 at=${9:-}
  local atargs=()
  [ -n "$at" ] && atargs=(--at "$at")
  local v
  for v in go py; do
    serve "$cert" "$chainfile" "$host" || { FAIL=$((FAIL + 1)); continue; }
    local addr=$SERVER_ADDR
    [[ $host == *:* ]] && addr="[$host]:${SERVER_ADDR##*:}"
    if [ $v = go ]; then
      check "go-tls          $label" "$want" "$GO" --connect "$addr" --trust "$trust" --name "$name" "${atargs[@]}"
    else
      check "pyopenssl-tls   $label" "$want" "${PY[@]}" --connect "$addr" --trust "$trust" --name "$name" "${atargs[@]}"
    fi
    unserve
    if [ "$sni" != any ]; then
      local got=no
      sni_sent && got=yes
      if [ "$got" = "$sni" ]; then
        PASS=$((PASS + 1)); printf 'ok    %-58s SNI sent: %s\n' "$v SNI    $label" "$got"
      else
        FAIL=$((FAIL + 1)); printf 'FAIL  %-58s SNI sent: %s, want %s\n' "$v SNI    $label" "$got" "$sni"
      fi
    fi
  done
}

echo "selftest: live TLS handshakes (openssl s_server on loopback)"
live "DNS name"                      valid   yes loop     ""    127.0.0.1 roots.pem localhost
live "IPv4 literal (no SNI)"         valid   no  loop     ""    127.0.0.1 roots.pem 127.0.0.1
if ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
  live "IPv6 literal (no SNI)"       valid   no  loop     ""    ::1       roots.pem ::1
else
  echo "skip  IPv6 live checks: no ::1 on lo"
fi
live "leaf via intermediate"         valid   yes viainter inter 127.0.0.1 roots.pem hs2.corp.test
live "P-384 leaf"                    valid   yes p384all  ""    127.0.0.1 root384.pem hs3.corp.test
live "Ed25519 leaf, P-256 root"      valid   yes ed       ""    127.0.0.1 roots.pem hs4.corp.test
live "Ed25519 leaf, Ed25519 root"    valid   yes edall    ""    127.0.0.1 rooted.pem hs4.corp.test
live "valid at --at 2030"            valid   any loop     ""    127.0.0.1 roots.pem localhost $AT
live "expired at --at 2050"          invalid any loop     ""    127.0.0.1 roots.pem localhost 2050-01-01T00:00:00Z
live "wrong DNS name"                invalid any loop     ""    127.0.0.1 roots.pem hs9.corp.test
live "wrong IP"                      invalid no  loop     ""    127.0.0.1 roots.pem 127.0.0.2
live "expired leaf"                  invalid any expired  ""    127.0.0.1 roots.pem hs5.corp.test
live "untrusted root"                invalid any wrongca  ""    127.0.0.1 roots.pem hs1.corp.test
live "missing intermediate"          invalid any viainter ""    127.0.0.1 roots.pem hs2.corp.test
# the server must drop to security level 0 even to load a SHA-1 certificate
SERVER_EXTRA=(-cipher 'DEFAULT:@SECLEVEL=0')
live "SHA-1 signed leaf"             invalid any sha1     ""    127.0.0.1 rsaroot.pem hs6.corp.test
SERVER_EXTRA=()

# ------------------------------------------------------------------ the broken-chain corpus
# Every verifier must still give the verdict recorded in tests/data/broken/manifest.json
# (GnuTLS verifies at "now": the corpus's fixed dates keep its verdicts stable until 2045).
echo "selftest: tests/data/broken corpus against the recorded verdicts"
CORPUS=$ROOT/tests/data/broken
if [ -f "$CORPUS/manifest.json" ]; then
  while IFS='|' read -r case chain trust name at v_ossl v_go v_py v_gnutls; do
    for v in ossl go py gnutls; do
      case $v in
        ossl)   cmd=("$OSSL" --at "$at");    want=$v_ossl ;;
        go)     cmd=("$GO" --at "$at");      want=$v_go ;;
        py)     cmd=("${PY[@]}" --at "$at"); want=$v_py ;;
        gnutls) cmd=("$GNUTLS");             want=$v_gnutls ;;
      esac
      check "$(printf '%-6s corpus %s' "$v" "$case")" "$want" \
        "${cmd[@]}" --chain "$CORPUS/$chain" --trust "$CORPUS/$trust" --name "$name"
    done
  done < <(python3 - "$CORPUS/manifest.json" <<'EOF'
import json, sys
for c in json.load(open(sys.argv[1])):
    v = c["verifiers"]
    w = lambda k: "valid" if v[k]["valid"] else "invalid"
    print("|".join([c["case"], c["chain"], c["trust"], c["name"], c["at"],
                    w("openssl-verify"), w("go-x509"), w("pyopenssl-x509"), w("gnutls-certtool")]))
EOF
)
else
  FAIL=$((FAIL + 1)); echo "FAIL  $CORPUS/manifest.json is missing (run tests/data/broken/make.sh)"
fi

echo
echo "interop-selftest: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
