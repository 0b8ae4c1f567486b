# shellcheck shell=bash
# A tiny openssl-only PKI for fedca's interop tests. Sourced by tests/interop/selftest.sh and
# tests/data/broken/make.sh; nothing here uses fedca.
#
# Every certificate is made by `openssl ca` with explicit -startdate/-enddate (so what it
# builds never expires by surprise) and a serial taken from a counter (so serials are the
# same on every run). Keys and signatures are fresh on every run.
#
#   pki_init DIR                 working directory (keys, CSRs, openssl ca database)
#   pki_key NAME TYPE            TYPE: p256 | p384 | ed25519 | rsa2048
#   pki_cert NAME ISSUER EXT CN START END [SAN] [MD]
#       NAME      the new certificate: $PKI_DIR/NAME.pem (key $PKI_DIR/NAME.key, made by
#                 pki_key beforehand, or a P-256 key made here)
#       ISSUER    "self" or the NAME of an earlier certificate
#       EXT       a section of the extensions file below (root, root_pathlen0, inter, leaf, ...)
#       CN        subject commonName
#       START/END YYYYMMDDHHMMSSZ
#       SAN       subjectAltName value (e.g. "DNS:hs1.corp.test,IP:10.0.0.7"), for EXT sections
#                 that use it; "" otherwise
#       MD        signing digest; default: sha256 (sha384 for a P-384 issuer, none for Ed25519)
#   pki_nc NAME VALUE            set the nameConstraints for the next root made with EXT=root_nc
#   pki_pem NAME                 path of NAME's certificate (PEM)

pki_init() {
  PKI_DIR=$1
  PKI_SERIAL=4096
  mkdir -p "$PKI_DIR/newcerts"
  : > "$PKI_DIR/index.txt"
  echo "unique_subject = no" > "$PKI_DIR/index.txt.attr"
  cat > "$PKI_DIR/ca.cnf" <<'EOF'
[ ca ]
default_ca = CA_default

[ CA_default ]
dir            = $ENV::PKI_DIR
database       = $dir/index.txt
serial         = $dir/serial
new_certs_dir  = $dir/newcerts
default_md     = sha256
policy         = policy_any
unique_subject = no
copy_extensions = none
email_in_dn    = no
name_opt       = ca_default
cert_opt       = ca_default

[ policy_any ]
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = placeholder

# ---------------------------------------------------------------- CA profiles
[ root ]
basicConstraints       = critical, CA:TRUE, pathlen:1
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ root_pathlen0 ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ root_nc ]
basicConstraints       = critical, CA:TRUE, pathlen:1
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
nameConstraints        = critical, $ENV::PKI_NC

[ inter ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# an "intermediate" that is not a CA: CA:FALSE, an ordinary leaf profile otherwise
[ inter_not_ca ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# ---------------------------------------------------------------- leaf profiles
# the profile fedca issues (DESIGN.md): SANs, serverAuth+clientAuth, digitalSignature, CA:FALSE
[ leaf ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = $ENV::PKI_SAN

[ leaf_rsa ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = $ENV::PKI_SAN

[ leaf_nosan ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ leaf_eku_client ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = $ENV::PKI_SAN

[ leaf_eku_codesign ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = codeSigning
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = $ENV::PKI_SAN

[ leaf_ku_certsign ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, keyCertSign
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = $ENV::PKI_SAN

# a CA certificate with a server's SAN, serverAuth and digitalSignature: fine except CA:TRUE
[ leaf_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, digitalSignature, keyCertSign, cRLSign
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = $ENV::PKI_SAN

# a self-signed server certificate (no CA bit), as `openssl req -x509` users often make
[ leaf_selfsigned ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
subjectAltName         = $ENV::PKI_SAN
EOF
  export PKI_DIR
  export PKI_SAN="DNS:unused.invalid"
  export PKI_NC="permitted;DNS:unused.invalid"
}

pki_key() {
  local name=$1 type=$2 key="$PKI_DIR/$1.key"
  case $type in
    p256)    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" ;;
    p384)    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$key" ;;
    ed25519) openssl genpkey -algorithm ED25519 -out "$key" ;;
    rsa2048) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key" ;;
    *) echo "pki_key: unknown key type $type" >&2; return 2 ;;
  esac 2>/dev/null
  echo "$type" > "$PKI_DIR/$name.keytype"
}

pki_nc() { export PKI_NC="$1"; }

pki_pem() { echo "$PKI_DIR/$1.pem"; }

pki_cert() {
  local name=$1 issuer=$2 ext=$3 cn=$4 start=$5 end=$6 san=${7:-} md=${8:-}
  [ -f "$PKI_DIR/$name.key" ] || pki_key "$name" p256
  if [ -z "$md" ]; then
    local ikey=$name
    [ "$issuer" = self ] || ikey=$issuer
    case $(cat "$PKI_DIR/$ikey.keytype") in
      p384) md=sha384 ;;
      ed25519) md=default ;;
      *) md=sha256 ;;
    esac
  fi
  PKI_SERIAL=$((PKI_SERIAL + 1))
  printf '%X\n' "$PKI_SERIAL" > "$PKI_DIR/serial"
  [ -n "$san" ] && export PKI_SAN="$san"
  openssl req -new -config "$PKI_DIR/ca.cnf" -key "$PKI_DIR/$name.key" -subj "/CN=$cn" \
    -out "$PKI_DIR/$name.csr" 2>/dev/null || { echo "pki_cert: req failed for $name" >&2; return 1; }
  local signer=()
  if [ "$issuer" = self ]; then
    signer=(-selfsign -keyfile "$PKI_DIR/$name.key")
  else
    signer=(-cert "$PKI_DIR/$issuer.pem" -keyfile "$PKI_DIR/$issuer.key")
  fi
  local log
  if ! log=$(openssl ca -batch -config "$PKI_DIR/ca.cnf" "${signer[@]}" -in "$PKI_DIR/$name.csr" \
      -out "$PKI_DIR/$name.full" -notext -md "$md" -extensions "$ext" \
      -startdate "$start" -enddate "$end" 2>&1); then
    echo "pki_cert: openssl ca failed for $name:" >&2
    echo "$log" >&2
    return 1
  fi
  # keep only the PEM block
  openssl x509 -in "$PKI_DIR/$name.full" -out "$PKI_DIR/$name.pem"
}
