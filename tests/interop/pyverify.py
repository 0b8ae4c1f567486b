#!/usr/bin/env python3
"""pyverify — verify a TLS server certificate chain the way Synapse does.

Synapse's federation client (synapse/crypto/context_factory.py) builds a pyOpenSSL context
with Twisted's CertificateOptions(trustRoot=<federation_custom_ca_list>): OpenSSL verifies
the chain with VERIFY_PEER against that CA list only; when the handshake is done, its
ConnectionVerifier calls service_identity.pyopenssl.verify_hostname (DNS names) or
verify_ip_address (IP literals) on the connection. SNI is sent for DNS names only, never
for IP literals.

Live:
    pyverify.py --connect HOST:PORT --trust roots.pem --name NAME [--at RFC3339]
does exactly that over a real TCP connection (pyOpenSSL Connection, VERIFY_PEER, depth 9,
the --trust certificates as the only CAs). --at sets the verification time of the
context's store.

Offline:
    pyverify.py --chain fullchain.pem --trust roots.pem --name NAME [--at RFC3339]
verifies the chain with pyOpenSSL's X509Store/X509StoreContext (roots = --trust,
untrusted chain = the rest of --chain, time = --at, purpose = sslserver as libssl sets for
a client) and then the leaf's identity with
service_identity.cryptography.verify_certificate_hostname / verify_certificate_ip_address.
Known gap against the live path: a TLS connection also applies the SSL context's security
level to the peer chain (e.g. SHA-1 signatures fail at level >= 1); X509StoreContext has no
security level, so the offline mode accepts what only that check would refuse.

NAME is a Matrix hostname with the port dropped: a DNS name, an IPv4 literal or an IPv6
literal without brackets. Output is one JSON line
    {"verifier": "pyopenssl-x509" | "pyopenssl-tls", "valid": bool, "error": "..."}
and the exit status is 0 if valid, 1 if invalid, 2 on a usage or I/O error.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import re
import socket
import sys

VERIFIER = "pyopenssl-x509"


def emit(valid: bool, error: str, code: int) -> None:
    print(json.dumps({"verifier": VERIFIER, "valid": valid, "error": error}))
    sys.stdout.flush()
    sys.exit(code)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # never print argparse's usage to stderr and exit 2 by itself
        raise UsageError(message)


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def parse_time(text: str) -> datetime.datetime:
    # RFC 3339: accept a trailing Z (fromisoformat accepts it only from Python 3.11)
    t = datetime.datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", text))
    if t.tzinfo is None:
        raise ValueError("RFC 3339 time needs a zone (Z or +hh:mm)")
    # pyOpenSSL's X509Store.set_time takes a naive or aware datetime; give it UTC
    return t.astimezone(datetime.timezone.utc)


PEM_RE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL
)


def load_pem_certs(data: bytes, what: str):
    """Every certificate of a PEM file, as pyOpenSSL X509 objects. Garbage or truncation
    anywhere is an error (OpenSSL's PEM reader would skip it silently)."""
    from OpenSSL import crypto

    blocks = PEM_RE.findall(data)
    leftover = PEM_RE.sub(b"", data).strip()
    if not blocks:
        raise ValueError(f"{what}: no PEM certificate found (malformed or truncated PEM)")
    if leftover:
        raise ValueError(f"{what}: malformed or truncated PEM outside the certificate blocks")
    certs = []
    for i, block in enumerate(blocks, 1):
        try:
            certs.append(crypto.load_certificate(crypto.FILETYPE_PEM, block))
        except crypto.Error as e:
            raise ValueError(f"{what}: certificate {i} cannot be parsed: {openssl_error_text(e)}")
    return certs


def openssl_error_text(e) -> str:
    try:
        parts = []
        for item in e.args[0]:
            if isinstance(item, tuple):
                parts.append(":".join(str(x) for x in item if x))
            else:
                parts.append(str(item))
        return "; ".join(parts) or str(e)
    except Exception:
        return str(e)


def store_error_text(e) -> str:
    # X509StoreContextError: errors = [code, depth, message]
    try:
        code, depth, msg = e.errors
        return f"{msg} (X509_V_ERR {code} at depth {depth})"
    except Exception:
        return str(e)


def verify_identity_of_cert(cert, name: str) -> None:
    """service_identity on a cryptography certificate; raises on mismatch."""
    from service_identity.cryptography import (
        verify_certificate_hostname,
        verify_certificate_ip_address,
    )

    if is_ip_literal(name):
        verify_certificate_ip_address(cert, name)
    else:
        verify_certificate_hostname(cert, name)


def offline(args) -> None:
    from OpenSSL import crypto
    from service_identity import VerificationError, CertificateError

    try:
        with open(args.trust, "rb") as f:
            trust_data = f.read()
    except OSError as e:
        emit(False, f"--trust: {e}", 2)
    try:
        with open(args.chain, "rb") as f:
            chain_data = f.read()
    except OSError as e:
        emit(False, f"--chain: {e}", 2)
    try:
        roots = load_pem_certs(trust_data, f"--trust {args.trust}")
    except ValueError as e:
        emit(False, str(e), 2)
    try:
        chain = load_pem_certs(chain_data, "--chain")
    except ValueError as e:
        emit(False, str(e), 1)

    store = crypto.X509Store()
    for c in roots:
        store.add_cert(c)
    # libssl verifies a server's chain with the "ssl_server" purpose (EKU serverAuth and
    # the matching key usage / CA checks). pyOpenSSL has no public setter for it.
    try:
        from OpenSSL._util import lib as _lib

        if _lib.X509_STORE_set_purpose(store._store, _lib.X509_PURPOSE_SSL_SERVER) != 1:
            emit(False, "X509_STORE_set_purpose(SSL_SERVER) failed", 2)
    except (ImportError, AttributeError) as e:
        emit(False, f"cannot set the sslserver purpose with this pyOpenSSL: {e}", 2)
    if args.at is not None:
        store.set_time(args.at)

    leaf, rest = chain[0], chain[1:]
    try:
        crypto.X509StoreContext(store, leaf, chain=rest).verify_certificate()
    except crypto.X509StoreContextError as e:
        emit(False, store_error_text(e), 1)

    try:
        verify_identity_of_cert(leaf.to_cryptography(), args.name)
    except (VerificationError, CertificateError) as e:
        emit(False, f"service_identity: {type(e).__name__}: {e}", 1)
    emit(True, "", 0)


def connect(args) -> None:
    from OpenSSL import SSL, crypto
    from service_identity import VerificationError, CertificateError
    from service_identity.pyopenssl import verify_hostname, verify_ip_address

    try:
        with open(args.trust, "rb") as f:
            roots = load_pem_certs(f.read(), f"--trust {args.trust}")
    except OSError as e:
        emit(False, f"--trust: {e}", 2)
    except ValueError as e:
        emit(False, str(e), 2)

    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", args.connect)
    if not m:
        emit(False, f"--connect '{args.connect}': want HOST:PORT or [IPV6]:PORT", 2)
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))

    # As Twisted's CertificateOptions(trustRoot=OpenSSLCertificateAuthorities(...)) builds it
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_options(SSL.OP_NO_SSLv2 | SSL.OP_NO_SSLv3 | SSL.OP_NO_COMPRESSION)
    store = ctx.get_cert_store()
    for c in roots:
        store.add_cert(c)
    if args.at is not None:
        store.set_time(args.at)
    ctx.set_verify(
        SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
        lambda conn, cert, errno, depth, ok: bool(ok),
    )
    ctx.set_verify_depth(9)

    try:
        sock = socket.create_connection((host, port), timeout=10)
    except OSError as e:
        emit(False, f"connect {args.connect}: {e}", 2)
    conn = SSL.Connection(ctx, sock)
    is_ip = is_ip_literal(args.name)
    if not is_ip:
        # Synapse's ConnectionVerifier: SNI only for DNS names
        conn.set_tlsext_host_name(args.name.encode("ascii"))
    conn.set_connect_state()
    sock.setblocking(True)
    # blocking I/O for pyOpenSSL, but never hang: 10 s per read/write
    tv = (10).to_bytes(8, sys.byteorder) + (0).to_bytes(8, sys.byteorder)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    try:
        conn.do_handshake()
    except SSL.Error as e:
        # the chain failed OpenSSL's verification (or the handshake failed otherwise)
        detail = openssl_error_text(e)
        verr = ssl_verify_result(conn)
        if verr:
            detail += f" (X509_V_ERR {verr}: {x509_verify_error_string(verr)})"
        emit(False, detail, 1)
    except OSError as e:
        emit(False, f"handshake: {e}", 1)

    try:
        if is_ip:
            verify_ip_address(conn, args.name)
        else:
            verify_hostname(conn, args.name)
    except (VerificationError, CertificateError) as e:
        emit(False, f"service_identity: {type(e).__name__}: {e}", 1)
    finally:
        try:
            conn.shutdown()
        except Exception:
            pass
        sock.close()
    emit(True, "", 0)


def ssl_verify_result(conn) -> int:
    try:
        from OpenSSL._util import lib

        return int(lib.SSL_get_verify_result(conn._ssl))
    except Exception:
        return 0


def x509_verify_error_string(code: int) -> str:
    try:
        from OpenSSL._util import ffi, lib

        return ffi.string(lib.X509_verify_cert_error_string(code)).decode()
    except Exception:
        return "see X509_verify_cert_error_string"


def main() -> None:
    global VERIFIER
    if any(a == "--connect" or a.startswith("--connect=") for a in sys.argv[1:]):
        VERIFIER = "pyopenssl-tls"
    p = _Parser(add_help=False)
    p.add_argument("--chain")
    p.add_argument("--trust")
    p.add_argument("--name")
    p.add_argument("--at")
    p.add_argument("--connect")
    usage = "usage: pyverify.py (--chain FILE | --connect HOST:PORT) --trust FILE --name NAME [--at RFC3339]"
    try:
        args = p.parse_args()
    except UsageError as e:
        emit(False, f"{usage}: {e}", 2)
    if not args.trust or not args.name or bool(args.chain) == bool(args.connect):
        emit(False, usage, 2)
    if args.name.startswith("["):
        emit(False, f"--name {args.name}: give IPv6 literals without brackets", 2)
    if args.at is not None:
        try:
            args.at = parse_time(args.at)
        except ValueError as e:
            emit(False, f"--at {args.at}: {e}", 2)
    try:
        import OpenSSL  # noqa: F401
        import service_identity  # noqa: F401
    except ImportError as e:
        emit(False, f"{e} (run with a Python that has pyOpenSSL and service_identity)", 2)
    if args.connect:
        connect(args)
    else:
        offline(args)


if __name__ == "__main__":
    main()
