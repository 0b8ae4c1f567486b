#!/usr/bin/env bash
# gnutls-verify.sh — verify a server certificate chain with GnuTLS (`certtool --verify`),
# i.e. gnutls_x509_trust_list_verify_crt2 as a GnuTLS TLS client (gnutls-cli, curl-gnutls,
# glib-networking) runs it.
#
# Usage: gnutls-verify.sh --chain fullchain.pem --trust roots.pem --name NAME
#   NAME is the Matrix hostname without port: a DNS name, an IPv4 literal or an IPv6 literal
#   without brackets (GnuTLS matches IP literals against iPAddress SANs by itself).
#
# --at is NOT supported: certtool (GnuTLS 3.7) has no option to verify at another time, so
# this script refuses --at with exit 2 (usage error) rather than silently verifying at "now".
#
# Prints one JSON line {"verifier": "gnutls-certtool", "valid": bool, "error": "..."};
# exits 0 if valid, 1 if invalid, 2 on a usage or I/O error.
#
# What it runs:
#   certtool --verify --load-ca-certificate roots.pem --infile fullchain.pem \
#     --verify-hostname NAME --verify-purpose 1.3.6.1.5.5.7.3.1 --verify-profile low
# - Only --trust is trusted (with --load-ca-certificate certtool does not use the system store).
# - --verify-purpose serverAuth: the EKU a TLS client requires of a server.
# - --verify-profile low: the profile the NORMAL priority string (GnuTLS's TLS default) applies.
set -u

VERIFIER=gnutls-certtool

json_escape() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '%s' "$s"
}

emit() { # emit VALID ERROR EXIT
  printf '{"verifier": "%s", "valid": %s, "error": "%s"}\n' "$VERIFIER" "$1" "$(json_escape "$2")"
  exit "$3"
}

usage() { emit false "usage: $0 --chain FILE --trust FILE --name NAME: $1" 2; }

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
[ -z "$at" ] || emit false "--at is unsupported: GnuTLS certtool cannot verify at a time other than now" 2
[ -n "$chain" ] || usage "--chain is required"
[ -n "$trust" ] || usage "--trust is required"
[ -n "$name" ] || usage "--name is required"
case $name in
  \[*) usage "--name '$name': give IPv6 literals without brackets" ;;
esac
[ -r "$chain" ] || emit false "cannot read --chain file '$chain'" 2
[ -r "$trust" ] || emit false "cannot read --trust file '$trust'" 2
command -v certtool >/dev/null 2>&1 || emit false "certtool not found in PATH (apt-get install gnutls-bin)" 2

# The trust file must hold at least one loadable certificate; otherwise it is a usage error.
if ! certtool --certificate-info --infile "$trust" >/dev/null 2>&1; then
  emit false "--trust '$trust' holds no readable PEM certificate" 2
fi

out=$(certtool --verify --load-ca-certificate "$trust" --infile "$chain" \
        --verify-hostname "$name" --verify-purpose 1.3.6.1.5.5.7.3.1 \
        --verify-profile low 2>&1)
rc=$?

result=$(printf '%s\n' "$out" | sed -n 's/^Chain verification output: //p' | tail -n 1 | sed 's/[[:space:]]*$//')
if [ $rc -eq 0 ] && [[ $result == Verified.* ]]; then
  emit true "" 0
fi
if [ -z "$result" ]; then
  # certtool could not even load the chain: keep its own words (drop its profile notice)
  result=$(printf '%s\n' "$out" | grep -v -e '^[[:space:]]*$' -e 'verification profile' -e 'verify-profile' \
           -e '^Loaded CAs' | head -n 3 | paste -sd ';' - | sed 's/;/; /g')
fi
emit false "${result:-certtool --verify failed (exit $rc)}" 1
