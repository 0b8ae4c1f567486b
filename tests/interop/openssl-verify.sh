#!/usr/bin/env bash
# openssl-verify.sh — verify a server certificate chain with OpenSSL's `openssl verify`,
# the way an OpenSSL-based TLS client (Synapse via pyOpenSSL, curl-openssl, nginx) verifies
# a federation peer.
#
# Usage: openssl-verify.sh --chain fullchain.pem --trust roots.pem --name NAME [--at RFC3339]
#   NAME is the Matrix hostname without port: a DNS name, an IPv4 literal or an IPv6 literal
#   without brackets (IP literals are matched against iPAddress SANs with -verify_ip).
#
# Prints one JSON line {"verifier": "openssl-verify", "valid": bool, "error": "..."};
# exits 0 if valid, 1 if invalid, 2 on a usage or I/O error.
#
# What it runs:
#   openssl verify -no-CApath -no-CAstore -CAfile roots.pem -untrusted rest-of-chain.pem \
#     -purpose sslserver -auth_level 1 (-verify_hostname NAME | -verify_ip NAME) \
#     [-attime EPOCH] leaf.pem
# - The first certificate of --chain is the leaf; all the others go to -untrusted, so they can
#   serve only as intermediates, never as trust anchors.
# - -no-CApath/-no-CAstore: only --trust is trusted (the system store is not consulted), as
#   with Synapse's federation_custom_ca_list.
# - -auth_level 1: the security level a TLS connection applies to the peer's chain at
#   OpenSSL's default security level; without it `openssl verify` accepts SHA-1 and MD5
#   signatures that no OpenSSL-based TLS client would.
set -u

VERIFIER=openssl-verify

json_escape() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  # drop any other control characters
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '%s' "$s"
}

emit() { # emit VALID ERROR EXIT
  printf '{"verifier": "%s", "valid": %s, "error": "%s"}\n' "$VERIFIER" "$1" "$(json_escape "$2")"
  exit "$3"
}

usage() { emit false "usage: $0 --chain FILE --trust FILE --name NAME [--at RFC3339]: $1" 2; }

chain="" trust="" name="" at=""
while [ $# -gt 0 ]; do
  case $1 in
    --chain|--trust|--name|--at)
      [ $# -ge 2 ] || usage "$1 needs a value"
      case $1 in
        --chain) chain=$2 ;; --trust) trust=$2 ;; --name) name=$2 ;; --at) at=$2 ;;
      esac
      shift 2 ;;
    --chain=*) chain=${1#*=}; shift ;;
    --trust=*) trust=${1#*=}; shift ;;
    --name=*) name=${1#*=}; shift ;;
    --at=*) at=${1#*=}; shift ;;
    -h|--help) usage "help requested" ;;
    *) usage "unknown argument '$1'" ;;
  esac
done
[ -n "$chain" ] || usage "--chain is required"
[ -n "$trust" ] || usage "--trust is required"
[ -n "$name" ] || usage "--name is required"
[ -r "$chain" ] || emit false "cannot read --chain file '$chain'" 2
[ -r "$trust" ] || emit false "cannot read --trust file '$trust'" 2
command -v openssl >/dev/null 2>&1 || emit false "openssl not found in PATH" 2

attime=()
if [ -n "$at" ]; then
  [[ $at =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$ ]] \
    || emit false "--at '$at' is not an RFC 3339 time (e.g. 2030-01-01T00:00:00Z)" 2
  epoch=$(date -u -d "$at" +%s 2>/dev/null) || emit false "--at '$at' is not an RFC 3339 time" 2
  attime=(-attime "$epoch")
fi

case $name in
  \[*) usage "--name '$name': give IPv6 literals without brackets" ;;
esac
if [[ $name =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || [[ $name == *:* ]]; then
  namecheck=(-verify_ip "$name")
else
  namecheck=(-verify_hostname "$name")
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/openssl-verify.XXXXXX") || emit false "mktemp failed" 2
trap 'rm -rf "$tmp"' EXIT

# The trust file must hold at least one loadable certificate; otherwise it is a usage error.
if ! openssl crl2pkcs7 -nocrl -certfile "$trust" -out /dev/null 2>/dev/null \
   || ! grep -q -- '-----BEGIN CERTIFICATE-----' "$trust"; then
  emit false "--trust '$trust' holds no readable PEM certificate" 2
fi

# Split the chain: block 1 -> leaf.pem, the rest -> untrusted.pem. A block that is never
# closed (truncated file) is still written out, so openssl reports it as unreadable.
awk -v dir="$tmp" '
  /-----BEGIN CERTIFICATE-----/ { n++; inblock = 1 }
  inblock { f = (n == 1) ? dir "/leaf.pem" : dir "/untrusted.pem"; print > f }
  /-----END CERTIFICATE-----/ { inblock = 0 }
' "$chain"
[ -s "$tmp/leaf.pem" ] || emit false "no PEM certificate in --chain '$chain'" 1

untrusted=()
[ -s "$tmp/untrusted.pem" ] && untrusted=(-untrusted "$tmp/untrusted.pem")

out=$(openssl verify -no-CApath -no-CAstore -CAfile "$trust" "${untrusted[@]}" \
        -purpose sslserver -auth_level 1 "${namecheck[@]}" "${attime[@]}" \
        "$tmp/leaf.pem" 2>&1)
rc=$?

if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q ': OK$'; then
  emit true "" 0
fi

# "error 10 at 0 depth lookup: certificate has expired" -> collect these lines
errs=$(printf '%s\n' "$out" | sed -n 's/^error \([0-9]*\) at \([0-9]*\) depth lookup: \(.*\)$/\3 (X509_V_ERR \1 at depth \2)/p' \
       | awk '!seen[$0]++' | paste -sd ';' - | sed 's/;/; /g')
if [ -z "$errs" ]; then
  # load failures and the like: keep openssl's own words, minus our temp paths
  # (drop the temp directory and the per-process "40B7...:error:CODE:" / ":file.c:NN:" noise)
  errs=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | sed -e "s#$tmp/##g" \
           -e 's/^[0-9A-F]*:error:[0-9A-F]*:\(.*\):[^:]*\.c:[0-9]*:\(.*\)$/\1: \2/' -e 's/: $//' \
           -e 's#^\(.*\) leaf\.pem$#\1 the leaf (first block of --chain)#' \
           -e 's#^\(.*\) untrusted\.pem$#\1 the intermediates (other blocks of --chain)#' \
         | awk '!seen[$0]++' | head -n 3 | paste -sd ';' - | sed 's/;/; /g')
fi
emit false "${errs:-openssl verify failed (exit $rc)}" 1
