#!/usr/bin/env bash
# Smoke test of tests/synapse/harness.py itself, with no fedca involved: a CA made by hand
# with openssl, homeserver.yaml fragments written by hand in the shape `fedca trust --for
# synapse` emits, and three scenarios run against real Synapse:
#
#   ip        two servers named by IP literals, 127.0.0.1:P1 and 127.0.0.2:P2      -> federate
#   dns       hs1.fed.test:P1, and hs2.fed.test delegated by .well-known (served on
#             hs2.fed.test:443 = 127.0.0.3) to matrix.hs2.fed.test:P2 (127.0.0.2)  -> federate
#   negative  as "ip", but 127.0.0.1's certificate comes from a root nobody trusts
#                                                                               -> cert_failure
#
# Usage: tests/synapse/selftest.sh [ip] [dns] [negative]     (default: all three)
# Needs: scripts/install-test-deps done; root for the dns scenario (mount namespace, port 443).
# Leaves certs, scenarios and logs under target/synapse-selftest/<timestamp>/ (and a failing
# scenario's Synapse data directories). About 20 s for all three on an idle 2-core machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="$ROOT/target/venv/bin/python"
HARNESS="$ROOT/tests/synapse/harness.py"
[ -x "$PY" ] || { echo "selftest: $PY missing; run scripts/install-test-deps" >&2; exit 2; }

SCENARIOS=("$@")
[ "${#SCENARIOS[@]}" -gt 0 ] || SCENARIOS=(ip dns negative)

BASE="$ROOT/target/synapse-selftest/$(date +%Y%m%d-%H%M%S)-$$"
CA="$BASE/ca"
mkdir -p "$CA"
echo "selftest: working in $BASE"

# --- a hand-made CA -----------------------------------------------------------------------
make_root() { # name
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$CA/$1.key" -out "$CA/$1.pem" -days 2 -subj "/CN=$1 selftest root" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
}
make_leaf() { # root name SAN
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$CA/$2.key" -out "$CA/$2.csr" -subj "/CN=$2" 2>/dev/null
  cat > "$CA/$2.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$3
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
  openssl x509 -req -in "$CA/$2.csr" -CA "$CA/$1.pem" -CAkey "$CA/$1.key" \
    -set_serial "0x$(openssl rand -hex 16 | sed 's/^[89a-f]/7/')" -days 1 \
    -extfile "$CA/$2.ext" -out "$CA/$2.crt" 2>/dev/null
  # tls_certificate_path is read as a full chain: leaf first (no intermediates here).
  cp "$CA/$2.crt" "$CA/$2.fullchain.pem"
  chmod 600 "$CA/$2.key"
}
make_root root1
make_root root2
make_leaf root1 ip1 "IP:127.0.0.1"
make_leaf root1 ip2 "IP:127.0.0.2"
make_leaf root2 ip1-rogue "IP:127.0.0.1"
make_leaf root1 hs1 "DNS:hs1.fed.test"
make_leaf root1 hs2-matrix "DNS:matrix.hs2.fed.test"
make_leaf root1 hs2-wellknown "DNS:hs2.fed.test"
echo "selftest: CA made (root1, root2; leaves for 127.0.0.1, 127.0.0.2, hs1.fed.test, matrix.hs2.fed.test, hs2.fed.test)"

# --- ip_range_blacklist: Synapse's defaults minus exactly the federation's addresses -----
blacklist() { # addresses...
  "$PY" - "$@" <<'EOF'
import ipaddress, sys
from synapse.config.server import DEFAULT_IP_RANGE_BLOCKLIST
nets = [ipaddress.ip_network(n) for n in DEFAULT_IP_RANGE_BLOCKLIST]
for a in sys.argv[1:]:
    hole = ipaddress.ip_network(a)
    out = []
    for n in nets:
        if n.version == hole.version and hole.subnet_of(n):
            out.extend(sorted(n.address_exclude(hole)))
        else:
            out.append(n)
    nets = out
# Synapse's order, each split range replaced in place by its pieces in address order
for n in nets:
    print("  - '%s'" % n)
EOF
}

free_port() { # bind address
  "$PY" -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}

fragment() { # out cert key listen_port bind root... ; blacklist from $BL
  local out=$1 cert=$2 key=$3 port=$4 bind=$5; shift 5
  {
    echo "# homeserver.yaml fragment, hand-written in the shape fedca trust --for synapse emits"
    echo "tls_certificate_path: \"$cert\""
    echo "tls_private_key_path: \"$key\""
    echo "federation_verify_certificates: true"
    echo "federation_client_minimum_tls_version: \"1.2\""
    echo "federation_custom_ca_list:"
    for r in "$@"; do echo "  - \"$r\""; done
    echo "ip_range_blacklist:"
    echo "$BL"
    echo "listeners:"
    echo "  - port: $port"
    echo "    bind_addresses: ['$bind']"
    echo "    type: http"
    echo "    tls: true"
    echo "    x_forwarded: false"
    echo "    resources:"
    echo "      - names: [federation]"
    echo "        compress: false"
  } > "$out"
}

results=()
failed=0
run_scenario() { # name json
  local name=$1 json=$2 t0 t1 rc secs
  echo "selftest: === $name ==="
  t0=$(date +%s%N)
  set +e
  "$PY" "$HARNESS" "$json"
  rc=$?
  set -e
  t1=$(date +%s%N)
  secs=$(( (t1 - t0) / 1000000000 )).$(( (t1 - t0) / 100000000 % 10 ))
  # A passing scenario's run directory (sqlite, media, keys) goes; its logs stay.
  if [ $rc -eq 0 ]; then rm -rf "$(dirname "$json")/work"; results+=("PASS $name (${secs}s)"); else results+=("FAIL $name (exit $rc, ${secs}s)"); failed=$((failed+1)); fi
}

for sc in "${SCENARIOS[@]}"; do
  d="$BASE/$sc"; mkdir -p "$d"
  case "$sc" in
  ip|negative)
    BL="$(blacklist 127.0.0.1/32 127.0.0.2/32)"
    echo "$BL" > "$d/ip_range_blacklist.txt"
    p1=$(free_port 127.0.0.1); c1=$(free_port 127.0.0.1)
    p2=$(free_port 127.0.0.2); c2=$(free_port 127.0.0.2)
    leaf1=ip1; [ "$sc" = negative ] && leaf1=ip1-rogue
    fragment "$d/hs1.yaml" "$CA/$leaf1.fullchain.pem" "$CA/$leaf1.key" "$p1" 127.0.0.1 "$CA/root1.pem"
    fragment "$d/hs2.yaml" "$CA/ip2.fullchain.pem" "$CA/ip2.key" "$p2" 127.0.0.2 "$CA/root1.pem"
    expect=federate; [ "$sc" = negative ] && expect=cert_failure
    cat > "$d/scenario.json" <<EOF
{
  "expect": "$expect",
  "workdir": "$d/work",
  "log_dir": "$d/logs",
  "hosts": {},
  "servers": [
    {"server_name": "127.0.0.1:$p1", "bind_address": "127.0.0.1",
     "federation_port": $p1, "client_port": $c1, "fragment": "$d/hs1.yaml"},
    {"server_name": "127.0.0.2:$p2", "bind_address": "127.0.0.2",
     "federation_port": $p2, "client_port": $c2, "fragment": "$d/hs2.yaml"}
  ]
}
EOF
    ;;
  dns)
    BL="$(blacklist 127.0.0.1/32 127.0.0.2/32 127.0.0.3/32)"
    echo "$BL" > "$d/ip_range_blacklist.txt"
    p1=$(free_port 127.0.0.1); c1=$(free_port 127.0.0.1)
    p2=$(free_port 127.0.0.2); c2=$(free_port 127.0.0.2)
    fragment "$d/hs1.yaml" "$CA/hs1.fullchain.pem" "$CA/hs1.key" "$p1" 127.0.0.1 "$CA/root1.pem"
    fragment "$d/hs2.yaml" "$CA/hs2-matrix.fullchain.pem" "$CA/hs2-matrix.key" "$p2" 127.0.0.2 "$CA/root1.pem"
    echo "{\"m.server\": \"matrix.hs2.fed.test:$p2\"}" > "$d/hs2-well-known.json"
    cat > "$d/scenario.json" <<EOF
{
  "expect": "federate",
  "workdir": "$d/work",
  "log_dir": "$d/logs",
  "hosts": {"hs1.fed.test": "127.0.0.1", "matrix.hs2.fed.test": "127.0.0.2",
            "hs2.fed.test": "127.0.0.3"},
  "servers": [
    {"server_name": "hs1.fed.test:$p1", "bind_address": "127.0.0.1",
     "federation_port": $p1, "client_port": $c1, "fragment": "$d/hs1.yaml"},
    {"server_name": "hs2.fed.test", "bind_address": "127.0.0.2",
     "federation_port": $p2, "client_port": $c2, "fragment": "$d/hs2.yaml",
     "well_known": {"port": 443, "cert": "$CA/hs2-wellknown.fullchain.pem",
                    "key": "$CA/hs2-wellknown.key", "body_file": "$d/hs2-well-known.json"}}
  ]
}
EOF
    ;;
  *) echo "selftest: unknown scenario $sc (ip, dns, negative)" >&2; exit 2 ;;
  esac
  run_scenario "$sc" "$d/scenario.json"
done

echo "selftest: results"
for r in "${results[@]}"; do echo "  $r"; done
echo "selftest: $(( ${#results[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
