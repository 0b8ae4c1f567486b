#!/bin/sh
# Starts Dendrite for [fd00::7] serving federation over TLS with its fedca
# certificate. Written by fedca 0.1.0 (`fedca trust --for dendrite`).
# Adjust the binary and config paths; keep the TLS flags.
set -eu

# Outbound trust: Dendrite verifies other servers against Go's system pool.
# Either add this federation's roots to the system store (recommended; adds to it):
#     sudo fedca trust --for system --install
# or uncomment the next line. WARNING: SSL_CERT_FILE REPLACES Go's system bundle file
# (public roots from it are no longer trusted); Go still reads the certificate
# directory (/etc/ssl/certs) unless SSL_CERT_DIR is also set.
# export SSL_CERT_FILE='@OUT@/fedca-roots.pem'
# --tls-cert: the chain to serve (leaf first, then intermediates), naming
#   fd00::7.
# --tls-key: its private key (0600).
# --https-bind-address: the federation port other servers connect to, port
#   8448 of [fd00::7].
# Dendrite serves HTTPS only when both --tls-cert and --tls-key are given.
# --http-bind-address: the plain client listener, on localhost port 8008
#   (--client-port; Dendrite's default :8008 listens on every interface).
exec dendrite --config dendrite.yaml \
    --tls-cert '@OUT@/fullchain.pem' \
    --tls-key '@OUT@/key.pem' \
    --https-bind-address '[fd00::7]:8448' \
    --http-bind-address '127.0.0.1:8008' \
    "$@"
