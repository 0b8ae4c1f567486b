#!/usr/bin/env python3
"""Drive real Synapse homeservers on loopback and check that they federate over TLS.

Usage:  target/venv/bin/python tests/synapse/harness.py SCENARIO.json

The scenario (written by a Rust test, or by tests/synapse/selftest.sh) names two or more
homeservers, each with a homeserver.yaml fragment as emitted by `fedca trust --for synapse`.
The harness generates a config per server, deep-merges the fragment into it, starts every
server, registers one user per server with the shared-secret admin API, and then:

  expect = "federate":      servers[0] creates a public room and sends a message; every
                            other server joins over federation, reads that message, and
                            sends a reply that servers[0] reads.
  expect = "cert_failure":  every joiner's join must fail, and the join response or a
                            Synapse log must show that it failed on TLS certificate
                            verification (the evidence is printed).

Exit status: 0 when the expectation held, 1 when it did not, 2 for a bad scenario.
Every process the harness starts is stopped before it exits (also on Ctrl-C, SIGTERM and
the scenario's timeout); logs stay in log_dir. See tests/synapse/README.md for the JSON.

When `hosts` is non-empty the harness re-executes itself under `unshare -m` and bind-mounts a
private hosts file over /etc/hosts, and a private resolv.conf naming a stub DNS server the
harness runs on a random 127.x.y.z:53 (A records for `hosts`, NXDOMAIN for everything else,
so SRV lookups fail at once and no DNS query leaves the machine); the machine itself is not
changed. This needs root (CAP_SYS_ADMIN), as does serving .well-known on port 443.
"""

import copy
import ctypes
import hashlib
import hmac
import http.server
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    import yaml
except ImportError:  # pragma: no cover - reported to the user
    sys.stderr.write("harness: PyYAML is missing; run scripts/install-test-deps and use "
                     "target/venv/bin/python\n")
    sys.exit(2)

NS_ENV = "FEDCA_HARNESS_IN_NAMESPACE"
DEFAULT_TIMEOUT = 300          # whole scenario, seconds
STARTUP_TIMEOUT = 120          # one homeserver, seconds
READ_TIMEOUT = 60              # waiting for a federated message, seconds

# Log lines that show a failure on TLS certificate verification (outbound side: the
# verifier; inbound side: the alert the verifier sent back).
TLS_EVIDENCE = re.compile(
    r"certificate verify failed|CERTIFICATE_VERIFY_FAILED|alert unknown ca|"
    r"alert bad certificate|alert certificate unknown|"
    r"unable to get local issuer certificate|self[- ]signed certificate|"
    r"certificate (?:has expired|is not yet valid)|"
    r"VerificationError|CertificateError|DNSMismatch|IPAddressMismatch|"
    r"CertificateVerifyFailed|hostname mismatch",
    re.IGNORECASE,
)
# Log lines that show the join failed for a reason that is not certificate verification.
OTHER_CAUSES = re.compile(
    r"IP address blocked|Not retrying server|DNS lookup failed|No address found|"
    r"Connection was refused|ConnectionRefusedError|Connection refused|"
    r"not in federation_domain_whitelist|federation_domain_whitelist|"
    r"Failed to fetch well-known|Error fetching https?://[^ ]*/\.well-known",
    re.IGNORECASE,
)


class ScenarioError(Exception):
    """The scenario file is unusable (exit 2)."""


class HarnessFailure(Exception):
    """The expectation did not hold or something broke (exit 1)."""


class Interrupted(BaseException):
    """A signal or the scenario timeout stopped the run (exit 1)."""


T0 = time.monotonic()
_LOG_FILE = None


def log(msg):
    line = "[harness %6.1fs] %s" % (time.monotonic() - T0, msg)
    print(line, flush=True)
    if _LOG_FILE is not None:
        _LOG_FILE.write(line + "\n")
        _LOG_FILE.flush()


# --------------------------------------------------------------------------------------
# Scenario
# --------------------------------------------------------------------------------------

def _req(d, key, typ, where):
    if key not in d:
        raise ScenarioError("%s: missing key %r" % (where, key))
    v = d[key]
    if typ is int:
        ok = isinstance(v, int) and not isinstance(v, bool)
    else:
        ok = isinstance(v, typ)
    if not ok:
        raise ScenarioError("%s: %r must be %s, got %r" % (where, key, typ.__name__, v))
    return v


def split_server_name(name):
    """Return (host, port or None) of a Matrix server name."""
    if name.startswith("["):
        end = name.find("]")
        if end < 0:
            raise ScenarioError("server_name %r: unclosed IPv6 literal" % name)
        host, rest = name[1:end], name[end + 1:]
        if rest and not rest.startswith(":"):
            raise ScenarioError("server_name %r: junk after IPv6 literal" % name)
        return host, (int(rest[1:]) if rest else None)
    if ":" in name:
        host, port = name.rsplit(":", 1)
        if not port.isdigit():
            raise ScenarioError("server_name %r: bad port" % name)
        return host, int(port)
    return name, None


def slug(name):
    return re.sub(r"[^A-Za-z0-9.-]", "_", name)


def load_scenario(path):
    try:
        with open(path) as f:
            sc = json.load(f)
    except (OSError, ValueError) as e:
        raise ScenarioError("cannot read scenario %s: %s" % (path, e))
    if not isinstance(sc, dict):
        raise ScenarioError("scenario must be a JSON object")
    servers = _req(sc, "servers", list, "scenario")
    if len(servers) < 2:
        raise ScenarioError("scenario: 'servers' needs at least two entries")
    expect = _req(sc, "expect", str, "scenario")
    if expect not in ("federate", "cert_failure"):
        raise ScenarioError("scenario: 'expect' must be 'federate' or 'cert_failure'")
    _req(sc, "workdir", str, "scenario")
    _req(sc, "log_dir", str, "scenario")
    hosts = sc.get("hosts") or {}
    if not isinstance(hosts, dict):
        raise ScenarioError("scenario: 'hosts' must be an object of name -> address")
    for name, addr in hosts.items():
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            raise ScenarioError("hosts: %r -> %r is not an IP address" % (name, addr))
        if not ip.is_loopback:
            raise ScenarioError("hosts: %r -> %s is not a loopback address" % (name, addr))
    sc["hosts"] = hosts
    timeout = sc.get("timeout", DEFAULT_TIMEOUT)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise ScenarioError("scenario: 'timeout' must be a positive integer (seconds)")
    sc["timeout"] = timeout
    procs = sc.setdefault("processes", [])
    if not isinstance(procs, list):
        raise ScenarioError("scenario: 'processes' must be a list")
    for i, p in enumerate(procs):
        where = "processes[%d]" % i
        if not isinstance(p, dict):
            raise ScenarioError("%s must be an object" % where)
        _req(p, "name", str, where)
        argv = _req(p, "argv", list, where)
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ScenarioError("%s: argv must be a non-empty list of strings" % where)
        ready = _req(p, "ready_tcp", list, where)
        if len(ready) != 2 or not isinstance(ready[0], str) or not isinstance(ready[1], int):
            raise ScenarioError("%s: ready_tcp must be [address, port]" % where)
    after = sc.get("after") or []
    if not (isinstance(after, list) and all(
            isinstance(c, list) and c and all(isinstance(a, str) for a in c) for c in after)):
        raise ScenarioError("scenario: 'after' must be a list of commands (lists of strings)")
    sc["after"] = after
    # Optional second act (issue 10, renewal): servers whose restart an `after` command
    # requested are restarted, then a second message round, then `after_exchange`.
    if not isinstance(sc.get("exchange_after", False), bool):
        raise ScenarioError("scenario: 'exchange_after' must be true or false")
    sc["exchange_after"] = sc.get("exchange_after", False)
    after_exchange = sc.get("after_exchange") or []
    if not (isinstance(after_exchange, list) and all(
            isinstance(c, list) and c and all(isinstance(a, str) for a in c)
            for c in after_exchange)):
        raise ScenarioError("scenario: 'after_exchange' must be a list of commands")
    sc["after_exchange"] = after_exchange
    seen = set()
    for i, s in enumerate(servers):
        where = "servers[%d]" % i
        if not isinstance(s, dict):
            raise ScenarioError("%s must be an object" % where)
        name = _req(s, "server_name", str, where)
        if name in seen:
            raise ScenarioError("%s: duplicate server_name %r" % (where, name))
        seen.add(name)
        split_server_name(name)
        bind = _req(s, "bind_address", str, where)
        try:
            if not ipaddress.ip_address(bind).is_loopback:
                raise ScenarioError("%s: bind_address %s is not loopback" % (where, bind))
        except ValueError:
            raise ScenarioError("%s: bind_address %r is not an IP address" % (where, bind))
        for k in ("federation_port", "client_port"):
            p = _req(s, k, int, where)
            if not 0 < p < 65536:
                raise ScenarioError("%s: %s %d out of range" % (where, k, p))
        frag = _req(s, "fragment", str, where)
        if not os.path.isfile(frag):
            raise ScenarioError("%s: fragment %s does not exist" % (where, frag))
        lmode = s.setdefault("listeners", "harness")
        if lmode not in ("harness", "fragment"):
            raise ScenarioError("%s: listeners must be 'harness' or 'fragment'" % where)
        wk = s.get("well_known")
        if wk is not None:
            if not isinstance(wk, dict):
                raise ScenarioError("%s: well_known must be an object" % where)
            for k in ("cert", "key", "body_file"):
                f = _req(wk, k, str, where + ".well_known")
                if not os.path.isfile(f):
                    raise ScenarioError("%s.well_known: %s %s does not exist" % (where, k, f))
            wk.setdefault("port", 443)
            host, _ = split_server_name(name)
            if "bind_address" not in wk:
                if host not in hosts:
                    raise ScenarioError(
                        "%s.well_known: %r is not in 'hosts' and no bind_address is given"
                        % (where, host))
                wk["bind_address"] = hosts[host]
    return sc


# --------------------------------------------------------------------------------------
# Mount namespace with private /etc/hosts
# --------------------------------------------------------------------------------------

def reexec_in_namespace(argv):
    if os.geteuid() != 0:
        raise HarnessFailure("a scenario with 'hosts' needs root (unshare -m, bind mounts)")
    unshare = shutil.which("unshare")
    if unshare is None:
        raise HarnessFailure("unshare (util-linux) not found; run scripts/install-test-deps")
    env = dict(os.environ)
    env[NS_ENV] = "1"
    cmd = [unshare, "--mount", "--propagation", "private",
           sys.executable, os.path.abspath(__file__)] + argv
    sys.stdout.flush()
    os.execve(unshare, cmd, env)


class StubDNS:
    """A tiny UDP DNS server for the private resolv.conf: A records for the scenario's
    `hosts`, an empty answer for their other record types, NXDOMAIN for every other name
    (so SRV lookups such as _matrix-fed._tcp.NAME fail at once, and nothing leaves the
    machine). It listens on port 53 of a random 127.x.y.z address."""

    def __init__(self, hosts, log_dir):
        self.hosts = {k.lower().rstrip("."): v for k, v in hosts.items()}
        self.logf = open(os.path.join(log_dir, "dns.log"), "a")
        self.sock = None
        for _ in range(20):
            addr = "127.%d.%d.%d" % (secrets.randbelow(254) + 1, secrets.randbelow(256),
                                     secrets.randbelow(254) + 1)
            if addr in hosts.values():
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((addr, 53))
            except OSError:
                s.close()
                continue
            self.sock, self.addr = s, addr
            break
        if self.sock is None:
            raise HarnessFailure("could not bind a stub DNS server on any 127.x.y.z:53")
        self.sock.settimeout(0.5)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=2)
        self.sock.close()
        self.logf.close()

    def _serve(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self._answer(data)
            except Exception as e:  # malformed query: ignore it
                self.logf.write("bad query from %s: %r\n" % (peer, e))
                continue
            if reply:
                self.sock.sendto(reply, peer)

    def _answer(self, q):
        if len(q) < 12:
            return None
        qid, flags, qdcount = q[0:2], int.from_bytes(q[2:4], "big"), int.from_bytes(q[4:6], "big")
        if qdcount != 1 or flags & 0x8000:
            return None
        i, labels = 12, []
        while q[i]:
            n = q[i]
            labels.append(q[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        i += 1
        qtype = int.from_bytes(q[i:i + 2], "big")
        question = q[12:i + 4]
        name = ".".join(labels).lower()
        rd = flags & 0x0100
        answers = b""
        if name in self.hosts:
            rcode, ancount = 0, 0
            ip = ipaddress.ip_address(self.hosts[name])
            if qtype == 1 and ip.version == 4 or qtype == 28 and ip.version == 6:
                ancount = 1
                answers = (b"\xc0\x0c" + qtype.to_bytes(2, "big") + b"\x00\x01" +
                           (60).to_bytes(4, "big") + len(ip.packed).to_bytes(2, "big") +
                           ip.packed)
        else:
            rcode, ancount = 3, 0
        self.logf.write("%s %s type %d -> rcode %d, %d answers\n"
                        % (time.strftime("%H:%M:%S"), name, qtype, rcode, ancount))
        self.logf.flush()
        hflags = 0x8000 | 0x0400 | rd | 0x0080 | rcode   # QR, AA, RD copied, RA
        header = (qid + hflags.to_bytes(2, "big") + (1).to_bytes(2, "big") +
                  ancount.to_bytes(2, "big") + b"\x00\x00\x00\x00")
        return header + question + answers


def setup_private_hosts(sc, rundir, dns):
    hosts_path = os.path.join(rundir, "hosts")
    with open(hosts_path, "w") as f:
        f.write("# private hosts file written by tests/synapse/harness.py\n")
        for name, addr in sorted(sc["hosts"].items()):
            f.write("%s\t%s\n" % (addr, name))
        # Then the machine's own entries (localhost, its hostname), which ours override.
        try:
            with open("/etc/hosts") as orig:
                f.write("# --- the machine's /etc/hosts ---\n" + orig.read())
        except OSError:
            f.write("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
    resolv_path = os.path.join(rundir, "resolv.conf")
    with open(resolv_path, "w") as f:
        # The harness's stub DNS server: SRV and other lookups get NXDOMAIN at once
        # instead of leaving the machine or timing out.
        f.write("# private resolv.conf written by tests/synapse/harness.py\n")
        f.write("nameserver %s\noptions timeout:1 attempts:1\n" % dns.addr)
    for src, dst in ((hosts_path, "/etc/hosts"), (resolv_path, "/etc/resolv.conf")):
        r = subprocess.run(["mount", "--bind", src, dst], capture_output=True, text=True)
        if r.returncode != 0:
            raise HarnessFailure("mount --bind %s %s failed: %s" % (src, dst, r.stderr.strip()))
    for name, addr in sc["hosts"].items():
        got = socket.getaddrinfo(name, None, socket.AF_INET)[0][4][0]
        if got != addr:
            raise HarnessFailure("private hosts file not in effect: %s -> %s, want %s"
                                 % (name, got, addr))
    log("private /etc/hosts and /etc/resolv.conf (stub DNS on %s:53) bind-mounted in a "
        "mount namespace: %s" % (dns.addr, ", ".join("%s=%s" % kv
                                                      for kv in sorted(sc["hosts"].items()))))


# --------------------------------------------------------------------------------------
# .well-known server
# --------------------------------------------------------------------------------------

class WellKnownServer:
    def __init__(self, host, wk, log_dir):
        self.host = host
        self.addr = (wk["bind_address"], int(wk["port"]))
        with open(wk["body_file"], "rb") as f:
            body = f.read()
        json.loads(body)  # must be JSON
        logf = open(os.path.join(log_dir, "wellknown-%s.log" % slug(host)), "a")
        self.logf = logf

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path.split("?")[0] == "/.well-known/matrix/server":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, fmt, *args):
                logf.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))
                logf.flush()

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                logf.write("error from %s: %s\n" % (client_address, sys.exc_info()[1]))
                logf.flush()

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(wk["cert"], wk["key"])
        family = socket.AF_INET6 if ":" in self.addr[0] else socket.AF_INET
        Server.address_family = family
        self.httpd = Server(self.addr, Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True,
                                            do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        log("serving https://%s:%d/.well-known/matrix/server on %s:%d"
            % (self.host, self.addr[1], self.addr[0], self.addr[1]))

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.logf.close()


# --------------------------------------------------------------------------------------
# Homeserver config and processes
# --------------------------------------------------------------------------------------

def deep_merge(base, over):
    """Merge mapping `over` into `base`: mappings recursively, everything else replaced."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _abs_from(path, base):
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


class Homeserver:
    def __init__(self, spec, sc, rundir):
        self.spec = spec
        self.name = spec["server_name"]
        self.slug = slug(self.name)
        self.bind = spec["bind_address"]
        self.fed_port = spec["federation_port"]
        self.client_port = spec["client_port"]
        self.dir = os.path.join(rundir, self.slug)
        self.config_path = os.path.join(self.dir, "homeserver.yaml")
        self.data_dir = os.path.join(self.dir, "data")
        self.log_dir = sc["log_dir"]
        self.log_path = os.path.join(self.log_dir, "%s.log" % self.slug)
        self.stdout_path = os.path.join(self.log_dir, "%s.stdout.log" % self.slug)
        self.shared_secret = secrets.token_hex(24)
        self.proc = None
        self.token = None
        self.user_id = None
        host = self.bind if ":" not in self.bind else "[%s]" % self.bind
        self.client_base = "http://%s:%d" % (host, self.client_port)

    # -- config --------------------------------------------------------------------------
    def write_config(self, sc):
        os.makedirs(self.dir)
        cmd = [sys.executable, "-m", "synapse.app.homeserver", "--generate-config",
               "--server-name", self.name, "--config-path", self.config_path,
               "--data-directory", self.data_dir, "--report-stats=no"]
        r = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True,
                           env=synapse_env())
        if r.returncode != 0:
            raise HarnessFailure("%s: --generate-config failed:\n%s%s"
                                 % (self.name, r.stdout, r.stderr))
        with open(self.config_path) as f:
            cfg = yaml.safe_load(f)
        with open(self.spec["fragment"]) as f:
            frag = yaml.safe_load(f)
        if frag is None:
            frag = {}
        if not isinstance(frag, dict):
            raise HarnessFailure("%s: fragment %s is not a YAML mapping"
                                 % (self.name, self.spec["fragment"]))
        frag_dir = os.path.dirname(os.path.abspath(self.spec["fragment"]))
        if "server_name" in frag and frag["server_name"] != self.name:
            raise HarnessFailure("%s: fragment sets server_name %r"
                                 % (self.name, frag["server_name"]))

        cfg = deep_merge(cfg, frag)
        verbatim = self.spec["listeners"] == "fragment"
        frag_tls = any(isinstance(l, dict) and l.get("tls")
                       for l in (frag.get("listeners") or []))

        # Paths in the fragment are taken relative to the fragment's directory.
        for k in ("tls_certificate_path", "tls_private_key_path"):
            if verbatim and not frag_tls and k not in frag:
                # TLS ends at a proxy: the fragment sets no certificate, and the
                # generated config must not bring one in either.
                cfg.pop(k, None)
                continue
            if k not in cfg:
                raise HarnessFailure("%s: fragment %s does not set %s"
                                     % (self.name, self.spec["fragment"], k))
            cfg[k] = _abs_from(cfg[k], frag_dir)
        if isinstance(cfg.get("federation_custom_ca_list"), list):
            cfg["federation_custom_ca_list"] = [
                _abs_from(p, frag_dir) for p in cfg["federation_custom_ca_list"]]

        # Listeners, "fragment" mode: the fragment's listeners exactly as written; the
        # harness calls the client API on the fragment's plain listener on client_port.
        # "harness" mode: the fragment's TLS listeners replace the generated ones, moved
        # to this server's federation port and bind address; the harness adds a
        # plain-HTTP client listener for its own client-API calls.
        listeners = []
        frag_listeners = frag.get("listeners")
        if verbatim:
            if not any(isinstance(l, dict) and not l.get("tls")
                       and l.get("port") == self.client_port
                       and any("client" in (r.get("names") or [])
                               for r in (l.get("resources") or []))
                       for l in (frag_listeners or [])):
                raise HarnessFailure("%s: fragment %s has no plain client listener on "
                                     "client_port %d" % (self.name, self.spec["fragment"],
                                                         self.client_port))
            log("%s: using the fragment's listeners as written: %s"
                % (self.name, [(l.get("port"), l.get("bind_addresses"), bool(l.get("tls")))
                               for l in frag_listeners]))
            frag_listeners = None
            listeners = list(frag.get("listeners"))
        if isinstance(frag_listeners, list):
            for l in frag_listeners:
                if not isinstance(l, dict):
                    raise HarnessFailure("%s: fragment listener %r is not a mapping"
                                         % (self.name, l))
                if not l.get("tls"):
                    log("%s: dropping the fragment's non-TLS listener on port %s "
                        "(the harness adds its own client listener)" % (self.name, l.get("port")))
                    continue
                l = dict(l)
                if l.get("port") != self.fed_port or l.get("bind_addresses") != [self.bind]:
                    log("%s: fragment's TLS listener port=%s bind_addresses=%s -> port=%d "
                        "bind_addresses=[%s]" % (self.name, l.get("port"),
                                                 l.get("bind_addresses"), self.fed_port,
                                                 self.bind))
                l["port"] = self.fed_port
                l["bind_addresses"] = [self.bind]
                listeners.append(l)
        if not listeners:
            log("%s: the fragment has no TLS listener; adding a federation listener on %s:%d"
                % (self.name, self.bind, self.fed_port))
            listeners.append({
                "port": self.fed_port, "bind_addresses": [self.bind], "type": "http",
                "tls": True, "x_forwarded": False,
                "resources": [{"names": ["federation"], "compress": False}],
            })
        if not verbatim:
            listeners.append({
                "port": self.client_port, "bind_addresses": [self.bind], "type": "http",
                "tls": False, "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            })
        cfg["listeners"] = listeners

        # Test plumbing the harness owns.
        names = [s["server_name"] for s in sc["servers"]]
        cfg["server_name"] = self.name
        cfg["pid_file"] = os.path.join(self.dir, "homeserver.pid")
        cfg["database"] = {"name": "sqlite3",
                           "args": {"database": os.path.join(self.data_dir, "homeserver.db")}}
        cfg["media_store_path"] = os.path.join(self.data_dir, "media_store")
        cfg["registration_shared_secret"] = self.shared_secret
        cfg["report_stats"] = False
        cfg["enable_metrics"] = False
        cfg["presence"] = {"enabled": False}
        # Never ask matrix.org (or any server outside the scenario) for keys.
        tks = [t for t in (frag.get("trusted_key_servers") or [])
               if isinstance(t, dict) and t.get("server_name") in names]
        cfg["trusted_key_servers"] = tks
        cfg["suppress_key_server_warning"] = True
        # Federate only inside the scenario.
        cfg.setdefault("federation_domain_whitelist", names)
        cfg["log_config"] = self._write_log_config()
        with open(self.config_path, "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
        shutil.copyfile(self.config_path,
                        os.path.join(self.log_dir, "%s.homeserver.yaml" % self.slug))

    def _write_log_config(self):
        path = os.path.join(self.dir, "log.config")
        conf = {
            "version": 1,
            "formatters": {"precise": {"format": "%(asctime)s - %(name)s - %(lineno)d - "
                                                 "%(levelname)s - %(request)s - %(message)s"}},
            "handlers": {"file": {"class": "logging.FileHandler", "formatter": "precise",
                                  "filename": self.log_path, "encoding": "utf8"}},
            "loggers": {"synapse.storage.SQL": {"level": "INFO"},
                        "synapse.http.matrixfederationclient": {"level": "DEBUG"},
                        "synapse.http.federation": {"level": "DEBUG"},
                        "synapse.crypto": {"level": "DEBUG"}},
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        with open(path, "w") as f:
            yaml.safe_dump(conf, f)
        return path

    # -- process -------------------------------------------------------------------------
    def start(self):
        out = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", self.config_path],
            cwd=self.dir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=synapse_env(), preexec_fn=_child_setup)
        out.close()
        log("%s: started synapse pid %d (federation https://%s:%d, client %s)"
            % (self.name, self.proc.pid, self.bind, self.fed_port, self.client_base))

    def wait_ready(self, deadline):
        while True:
            if self.proc.poll() is not None:
                raise HarnessFailure("%s: synapse exited with status %s during startup\n%s"
                                     % (self.name, self.proc.returncode, self.tail()))
            try:
                st, _ = self.api("GET", "/_matrix/client/versions", timeout=2)
                if st == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise HarnessFailure("%s: not ready after %ds\n%s"
                                     % (self.name, STARTUP_TIMEOUT, self.tail()))
            time.sleep(0.25)
        # Federation listener accepts TCP?
        with socket.create_connection((self.bind, self.fed_port), timeout=5):
            pass
        log("%s: ready" % self.name)

    def stop(self):
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log("%s: did not stop on SIGTERM; killing" % self.name)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)
        log("%s: stopped (status %s)" % (self.name, p.returncode))

    def tail(self, n=40):
        chunks = []
        for path in (self.stdout_path, self.log_path):
            try:
                with open(path, errors="replace") as f:
                    lines = f.readlines()[-n:]
                chunks.append("--- last lines of %s ---\n%s" % (path, "".join(lines)))
            except OSError:
                pass
        return "\n".join(chunks)

    def log_lines(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []

    # -- client API ----------------------------------------------------------------------
    def api(self, method, path, body=None, token=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.client_base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with _OPENER.open(req, timeout=timeout) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            status = e.code
        try:
            return status, json.loads(raw) if raw else {}
        except ValueError:
            return status, {"raw": raw.decode(errors="replace")}

    def call(self, method, path, body=None, timeout=30, ok=(200,)):
        st, js = self.api(method, path, body, self.token, timeout)
        if st not in ok:
            raise HarnessFailure("%s: %s %s -> %d %s" % (self.name, method, path, st, js))
        return js

    def register(self, username):
        st, js = self.api("GET", "/_synapse/admin/v1/register")
        if st != 200:
            raise HarnessFailure("%s: GET register nonce -> %d %s" % (self.name, st, js))
        nonce = js["nonce"]
        password = secrets.token_hex(16)
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), username.encode(), password.encode(),
                                 b"notadmin"]))
        st, js = self.api("POST", "/_synapse/admin/v1/register", {
            "nonce": nonce, "username": username, "password": password,
            "admin": False, "mac": mac.hexdigest()})
        if st != 200:
            raise HarnessFailure("%s: shared-secret registration -> %d %s" % (self.name, st, js))
        self.token = js["access_token"]
        self.user_id = js["user_id"]
        log("%s: registered %s" % (self.name, self.user_id))

    def send_text(self, room_id, text):
        txn = secrets.token_hex(8)
        js = self.call("PUT", "/_matrix/client/v3/rooms/%s/send/m.room.message/%s"
                       % (q(room_id), txn), {"msgtype": "m.text", "body": text})
        return js["event_id"]

    def find_text(self, room_id, text):
        js = self.call("GET", "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=100"
                       % q(room_id), timeout=60)
        for ev in js.get("chunk", []):
            if ev.get("type") == "m.room.message" and ev.get("content", {}).get("body") == text:
                return ev
        return None

    def wait_for_text(self, room_id, text, servers, timeout=READ_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            ev = self.find_text(room_id, text)
            if ev is not None:
                return ev
            if time.monotonic() > deadline:
                evidence, other = scan_logs(servers)
                print_lines("TLS certificate verification failures", evidence)
                print_lines("other federation failures", other)
                raise HarnessFailure("%s: message %r not seen in %s within %ds"
                                     % (self.name, text, room_id, timeout))
            time.sleep(0.5)


def q(s):
    return urllib.parse.quote(s, safe="")


class Helper:
    """A process the scenario needs besides the homeservers (e.g. nginx in front of one):
    started before them with its argv as given, ready when its TCP port accepts, stopped
    (its whole process group) at the end. Output goes to log_dir/<name>.log."""

    def __init__(self, spec, log_dir):
        self.spec = spec
        self.name = spec["name"]
        self.log_path = os.path.join(log_dir, "%s.log" % slug(self.name))
        self.proc = None

    def start(self):
        out = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.spec["argv"], stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=_child_setup)
        except OSError as e:
            raise HarnessFailure("%s: cannot start %s: %s" % (self.name, self.spec["argv"], e))
        finally:
            out.close()
        log("%s: started pid %d: %s" % (self.name, self.proc.pid, " ".join(self.spec["argv"])))

    def wait_ready(self, deadline):
        host, port = self.spec["ready_tcp"]
        while True:
            if self.proc.poll() is not None:
                with open(self.log_path, errors="replace") as f:
                    tail = f.read()[-2000:]
                raise HarnessFailure("%s exited with status %s during startup\n%s"
                                     % (self.name, self.proc.returncode, tail))
            try:
                with socket.create_connection((host, port), timeout=2):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise HarnessFailure("%s: %s:%d not accepting after startup timeout"
                                     % (self.name, host, port))
            time.sleep(0.1)
        log("%s: ready on %s:%d" % (self.name, host, port))

    def stop(self):
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=15)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def synapse_env():
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "no_proxy", "all_proxy")}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop(NS_ENV, None)
    return env


try:
    _LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork
except OSError:
    _LIBC = None


def _child_setup():
    # Runs in the child between fork and exec: own process group (so the whole group can
    # be signalled), and SIGKILL when the harness dies (PR_SET_PDEATHSIG), even by SIGKILL.
    os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)


# --------------------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------------------

def run(sc, timings):
    os.makedirs(sc["workdir"], exist_ok=True)
    rundir = tempfile.mkdtemp(prefix="run-", dir=sc["workdir"])
    log("run directory %s, logs in %s" % (rundir, sc["log_dir"]))
    servers = [Homeserver(s, sc, rundir) for s in sc["servers"]]
    helpers = [Helper(p, sc["log_dir"]) for p in sc["processes"]]
    wellknowns = []
    dns = None
    try:
        if sc["hosts"]:
            dns = StubDNS(sc["hosts"], sc["log_dir"])
            dns.start()
            setup_private_hosts(sc, rundir, dns)
        t = time.monotonic()
        for hs in servers:
            hs.write_config(sc)
        timings["config"] = time.monotonic() - t

        t = time.monotonic()
        for h in helpers:
            h.start()
        for hs in servers:
            hs.start()
        for s, hs in zip(sc["servers"], servers):
            if s.get("well_known"):
                host, _ = split_server_name(s["server_name"])
                try:
                    wk = WellKnownServer(host, s["well_known"], sc["log_dir"])
                except (OSError, ValueError, ssl.SSLError) as e:
                    raise HarnessFailure("cannot serve .well-known for %s on %s:%s: %s"
                                         % (host, s["well_known"]["bind_address"],
                                            s["well_known"]["port"], e))
                wellknowns.append(wk)
                wk.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for h in helpers:
            h.wait_ready(deadline)
        for hs in servers:
            hs.wait_ready(deadline)
        timings["startup"] = time.monotonic() - t

        t = time.monotonic()
        for i, hs in enumerate(servers):
            hs.register("user%d" % (i + 1))
        a, joiners = servers[0], servers[1:]
        room = a.call("POST", "/_matrix/client/v3/createRoom",
                      {"preset": "public_chat", "name": "fedca harness"})
        room_id = room["room_id"]
        hello = "hello from %s (%s)" % (a.name, secrets.token_hex(4))
        a.send_text(room_id, hello)
        log("%s: created %s and sent %r" % (a.name, room_id, hello))
        timings["register+room"] = time.monotonic() - t

        path = "/_matrix/client/v3/join/%s?server_name=%s" % (q(room_id), q(a.name))
        if sc["expect"] == "federate":
            for b in joiners:
                t = time.monotonic()
                st, js = b.api("POST", path, {}, b.token, timeout=120)
                timings["join %s" % b.name] = time.monotonic() - t
                if st != 200:
                    evidence, other = scan_logs(servers)
                    print_lines("TLS certificate verification failures", evidence)
                    print_lines("other federation failures", other)
                    raise HarnessFailure("%s: join %s via %s failed: %d %s"
                                         % (b.name, room_id, a.name, st, json.dumps(js)))
                log("%s: joined %s over federation (%.1fs)"
                    % (b.name, room_id, timings["join %s" % b.name]))
                t = time.monotonic()
                b.wait_for_text(room_id, hello, servers)
                timings["read %s" % b.name] = time.monotonic() - t
                log("%s: read %r" % (b.name, hello))
                reply = "reply from %s (%s)" % (b.name, secrets.token_hex(4))
                b.send_text(room_id, reply)
                t = time.monotonic()
                a.wait_for_text(room_id, reply, servers)
                timings["reply %s" % b.name] = time.monotonic() - t
                log("%s: read %r" % (a.name, reply))
            log("PASS: %s federated with %s over TLS"
                % (a.name, ", ".join(b.name for b in joiners)))
            restart_dir = os.path.join(rundir, "restart-requests")
            os.makedirs(restart_dir)
            os.environ["HARNESS_RESTART_DIR"] = restart_dir
            run_after(sc)
            if sc["exchange_after"]:
                restart_requested(servers, restart_dir)
                exchange(a, joiners, room_id, servers, "after")
                log("PASS: %s still federated with %s after the restarts"
                    % (a.name, ", ".join(b.name for b in joiners)))
                run_after(sc, "after_exchange")
            return True

        # expect == "cert_failure"
        for b in joiners:
            t = time.monotonic()
            st, js = b.api("POST", path, {}, b.token, timeout=120)
            timings["join %s" % b.name] = time.monotonic() - t
            if st == 200:
                raise HarnessFailure("%s: join %s via %s SUCCEEDED, expected a certificate "
                                     "verification failure" % (b.name, room_id, a.name))
            log("%s: join failed as expected: %d %s" % (b.name, st, json.dumps(js)))
        time.sleep(0.5)  # let the log handlers write the last lines
        return check_cert_failure(servers)
    finally:
        # Cleanup must not be cut short by a second Ctrl-C or the alarm.
        signal.alarm(0)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda n, _f: log("signal %d ignored while stopping" % n))
        for wk in wellknowns:
            try:
                wk.stop()
            except Exception as e:  # keep stopping the rest
                log("stopping .well-known server: %s" % e)
        for hs in servers:
            try:
                hs.stop()
            except BaseException as e:
                log("%s: error while stopping: %r" % (hs.name, e))
        for h in helpers:
            try:
                h.stop()
            except BaseException as e:
                log("%s: error while stopping: %r" % (h.name, e))
        if dns is not None:
            dns.stop()


def restart_requested(servers, restart_dir):
    """Restarts (SIGTERM, then start again on the same config and database) each server
    whose name an `after` command wrote as a file into HARNESS_RESTART_DIR: the harness
    stands in for the service manager a deploy hook would ask (`systemctl restart`)."""
    names = sorted(os.listdir(restart_dir))
    known = {hs.name: hs for hs in servers}
    for n in names:
        if n not in known:
            raise HarnessFailure("restart requested for %r, which is not in the scenario" % n)
    for n in names:
        hs = known[n]
        hs.stop()
        hs.start()
        hs.wait_ready(time.monotonic() + STARTUP_TIMEOUT)
        log("%s: restarted on request" % n)


def exchange(a, joiners, room_id, servers, label):
    """servers[0] sends a message, each joiner reads it and replies, servers[0] reads
    each reply."""
    text = "%s: message from %s (%s)" % (label, a.name, secrets.token_hex(4))
    a.send_text(room_id, text)
    for b in joiners:
        b.wait_for_text(room_id, text, servers)
        log("%s: read %r" % (b.name, text))
        reply = "%s: reply from %s (%s)" % (label, b.name, secrets.token_hex(4))
        b.send_text(room_id, reply)
        a.wait_for_text(room_id, reply, servers)
        log("%s: read %r" % (a.name, reply))


def run_after(sc, key="after"):
    """Runs the scenario's `after` (or `after_exchange`) commands while every server is
    still up (inside the private mount namespace, when there is one); each must exit 0.
    They see HARNESS_RESTART_DIR: a file named after a server there asks the harness to
    restart that server before `exchange_after`'s second round."""
    for argv in sc[key]:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        log("after: %s -> exit %d\n%s%s" % (" ".join(argv), r.returncode, r.stdout, r.stderr))
        if r.returncode != 0:
            raise HarnessFailure("after-command failed (exit %d): %s"
                                 % (r.returncode, " ".join(argv)))


def scan_logs(servers):
    """(evidence, other): log lines showing certificate-verification failures, and log
    lines showing federation failures for other reasons, as (server name, line)."""
    evidence, other = [], []
    for hs in servers:
        for line in hs.log_lines():
            if TLS_EVIDENCE.search(line):
                evidence.append((hs.name, line))
            elif OTHER_CAUSES.search(line):
                other.append((hs.name, line))
    return evidence, other


def print_lines(title, lines, limit=8):
    if lines:
        log("%s (%d log lines; first %d):" % (title, len(lines), min(limit, len(lines))))
        for name, line in lines[:limit]:
            log("  [%s] %s" % (name, line[:400]))


def check_cert_failure(servers):
    evidence, other = scan_logs(servers)
    print_lines("evidence of TLS certificate verification failure", evidence)
    print_lines("log lines pointing at other causes", other)
    if not evidence:
        why = ("; first other cause: " + other[0][1][:300]) if other else ""
        raise HarnessFailure("the join failed, but not on TLS certificate verification "
                             "(no log line shows it)%s" % why)
    blocked = [l for _, l in other if re.search(r"IP address blocked|domain_whitelist", l)]
    if blocked:
        raise HarnessFailure("the join failed on certificate verification, but the IP "
                             "blacklist or domain whitelist also blocked a request: "
                             + blocked[0][:300])
    log("PASS: the join failed on TLS certificate verification, as expected")
    return True


def main(argv):
    global _LOG_FILE
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    try:
        sc = load_scenario(argv[0])
    except ScenarioError as e:
        sys.stderr.write("harness: bad scenario: %s\n" % e)
        return 2

    if sc["hosts"] and os.environ.get(NS_ENV) != "1":
        try:
            reexec_in_namespace(argv)  # does not return
        except HarnessFailure as e:
            sys.stderr.write("harness: FAIL: %s\n" % e)
            return 1

    os.makedirs(sc["log_dir"], exist_ok=True)
    _LOG_FILE = open(os.path.join(sc["log_dir"], "harness.log"), "a")
    log("scenario %s: expect=%s servers=%s" % (argv[0], sc["expect"],
                                               [s["server_name"] for s in sc["servers"]]))

    def on_signal(signum, _frame):
        raise Interrupted("signal %d" % signum)

    def on_alarm(_signum, _frame):
        raise Interrupted("scenario timeout of %ds" % sc["timeout"])

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(sc["timeout"])

    timings = {}
    status = 1
    try:
        run(sc, timings)
        status = 0
    except HarnessFailure as e:
        log("FAIL: %s" % e)
    except Interrupted as e:
        log("FAIL: interrupted: %s" % e)
    except Exception as e:  # an unexpected error is a failed run, with its traceback
        import traceback
        log("FAIL: unexpected error: %r\n%s" % (e, traceback.format_exc()))
    finally:
        signal.alarm(0)
    log("timings: " + ", ".join("%s %.1fs" % kv for kv in timings.items()))
    log("total %.1fs; exit %d; logs in %s" % (time.monotonic() - T0, status, sc["log_dir"]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
