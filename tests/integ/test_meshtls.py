"""Mesh links over TLS (--mesh-tls), for networks without WireGuard: three
nodes on 127.0.0.1-3 forward an HTTP tunnel and a TCP tunnel byte-exact;
a packet capture of the holder's mesh port (AF_PACKET on lo, as root)
holds TLS records and none of the bytes that crossed it; a node without
--mesh-tls cannot link to one with it, either way round: a clear log line
and a counter on both ends."""
import hashlib
import json
import os
import socket
import struct
import subprocess
import threading
import time

import harness
from harness import check, tail
from test_forward import SLOW, cluster, get, held_everywhere, logged, members, metric, \
    metric_reaches, tcp_roundtrip, tunnel, wait_get, wait_until, write_keys, FAST, KEY

TIMEOUT = 120
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class Capture:
    """Payload of every TCP segment to or from one port on lo, both
    directions, as the kernel passes it (each loopback packet is seen once:
    the outgoing copy is skipped)."""

    def __init__(self, port):
        self.port = port
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            self.s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)   # SO_RCVBUFFORCE
        except OSError:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        self.s.bind(("lo", 0))
        self.s.settimeout(0.2)
        self.data = bytearray()
        self.segments = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                pkt, addr = self.s.recvfrom(1 << 17)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING or len(pkt) < 14 + 20:
                continue
            ip = pkt[14:]
            if ip[0] >> 4 != 4 or ip[9] != 6:
                continue
            ihl = (ip[0] & 15) * 4
            total = struct.unpack(">H", ip[2:4])[0]
            tcp = ip[ihl:total]
            if len(tcp) < 20:
                continue
            sport, dport = struct.unpack(">HH", tcp[:4])
            if self.port not in (sport, dport):
                continue
            payload = tcp[(tcp[12] >> 4) * 4:]
            if payload:
                self.data += payload
                self.segments += 1

    def close(self):
        self.stop.set()
        self.t.join(5)
        self.s.close()
        return bytes(self.data)


def _ini(env, name, text):
    path = env.path(name)
    with open(path, "w") as f:
        f.write(text)
    return path


@harness.timeout(120)
def test_mesh_tls_forwards_byte_exact_and_nothing_in_clear(env):
    if os.geteuid() != 0:
        harness.skip("needs root (an AF_PACKET capture of the mesh port)")
    nodes = cluster(env, extra=["--mesh-tls"])
    n1, n2, n3 = nodes
    check(all(logged(n, "mesh.start")["tls"] == "on" for n in nodes), "mesh.start tls=on")

    svc = env.http_service("alice")
    c, u = tunnel(env, n1, "http", svc, ["--subdomain", "alice"])
    host = "alice.localhost"
    held_everywhere(nodes, host, "n1")
    for n in (n2, n3):
        wait_get(n, host)
    port = int(n1.mesh.rsplit(":", 1)[1])
    cap = Capture(port)
    try:
        # HTTP through n2 (download) and n3 (upload), checked by sha256
        size = (8 << 20) if not os.environ.get("WARREN_SANITIZE") else (2 << 20)
        r = subprocess.run(["curl", "-sS", "-H", "Host: " + host,
                            "http://%s:%d/bytes?n=%d&seed=3" % (n2.ip, n2.http_port, size)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        down = r.stdout
        gen = subprocess.run(["/usr/bin/python3", harness.SERVICES, "gen", str(size), "3"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        want_sha = gen.stderr.decode().strip()
        check(hashlib.sha256(down).hexdigest() == want_sha,
              "download via n2: %d bytes, sha256 differs" % len(down))
        up = subprocess.run(["curl", "-sS", "--data-binary", "@-", "-H", "Host: " + host,
                             "-H", "Content-Type: application/octet-stream",
                             "http://%s:%d/upload" % (n3.ip, n3.http_port)],
                            input=gen.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=120)
        res = json.loads(up.stdout or b"{}")
        check(res.get("n") == size and res.get("sha256") == want_sha,
              "upload via n3: %r" % up.stdout[:300])
        # a known text through the TCP tunnel, echoed via n2, half-close
        echo = env.service("tcp-echo")[0]
        ct, ut = tunnel(env, n1, "tcp", echo)
        held_everywhere(nodes, ":%d" % ut["port"], "n1")
        logged(n2, "fwdport.open", port=str(ut["port"]), node="n1")
        text = b"".join(b"MESH-PLAINTEXT-MARKER %08d\n" % i for i in range(100000))
        got, eof = tcp_roundtrip(n2.ip, ut["port"], text)
        check(eof and got == text, "tcp echo via n2: %d of %d bytes, eof=%s"
              % (len(got), len(text), eof))
        time.sleep(0.3)
    finally:
        wire = cap.close()
    moved = 2 * size + 2 * len(text)
    env.note("capture of n1's mesh port: %d segments, %d KiB (%d KiB of payload moved)"
             % (cap.segments, len(wire) >> 10, moved >> 10))
    # the capture saw the traffic (most of it: AF_PACKET may drop a little)
    check(len(wire) > moved // 2, "the capture holds %d bytes, %d moved" % (len(wire), moved))
    for needle in (b"MESH-PLAINTEXT-MARKER", b"alice.localhost", b"/bytes?n=",
                   down[1000:1032], down[size // 2:size // 2 + 32], b"WRNMESH"):
        check(needle not in wire, "%r crossed the mesh in clear" % needle[:40])
    check(wire.count(b"\x17\x03\x03") > 100, "no TLS application-data records seen")

    # n4 without --mesh-tls joins (gossip works) but links to none of them
    keys = env.path("cluster.keys")
    n4 = env.node(args=["--gossip-listen", "127.0.0.4:0", "--mesh-listen", "127.0.0.4:0",
                        "--cluster-key-file", keys, "--join", n1.gossip] + FAST,
                  http="127.0.0.4:0")
    n4.ip = "127.0.0.4"
    n4.mesh = logged(n4, "listen", what="mesh")["addr"]
    wait_until("n4 alive with its mesh address at n1", lambda: members(n1).get(
        "n4", {}).get("mesh") == n4.mesh and members(n4).get("n1", {}).get("state") == "alive",
        15 * SLOW)
    # n4 -> n1: n1 sees a plain HELLO where it expects TLS
    held_everywhere([n4], host, "n1")
    st, body = _until_logged(n1, n4, host, "mesh.tls.mismatch", dir="in")
    e = logged(n4, "mesh.tls.mismatch", dir="out")
    check("--mesh-tls" in e.get("reason", ""), "n4's reason: %r" % e)
    env.note("via n4 (no --mesh-tls) to n1's tunnel: %d %r" % (st, body[:120]))
    check(st in (502, 503), "via n4 to n1's tunnel: %d" % st)
    metric_reaches(n1, "mesh_tls_mismatch_total", 1)
    # n1 -> n4: n4 sees a TLS ClientHello, n1 sees n4's plain HELLO
    s4 = env.http_service("dave")
    tunnel(env, n4, "http", s4, ["--subdomain", "dave"])
    held_everywhere([n1, n4], "dave.localhost", "n4")
    st, body = _until_logged(n1, n1, "dave.localhost", "mesh.tls.mismatch", dir="out")
    env.note("via n1 (--mesh-tls) to n4's tunnel: %d %r" % (st, body[:120]))
    check(st in (502, 503), "via n1 to n4's tunnel: %d" % st)
    logged(n4, "mesh.tls.mismatch", dir="in")
    metric_reaches(n4, "mesh_tls_mismatch_total", 1)
    check(metric(n4, "mesh_links_up_total") == 0, "n4 linked to a TLS node")

    # one byte of a plain HELLO is enough: n1 answers its refusal in clear
    # and closes at once (it neither waits for more nor spins on it)
    ip, mport = n1.mesh.rsplit(":", 1)
    raw = socket.create_connection((ip, int(mport)), timeout=5)
    t0 = time.monotonic()
    raw.sendall(b"W")
    out = harness.recv_all(raw)
    raw.close()
    check(out == b"WRNMESH\x00" and time.monotonic() - t0 < 2,
          "n1's answer to a plain peer: %r after %.2fs" % (out, time.monotonic() - t0))

    # the INI form: n5 with `mesh-tls = true` in its file links with n1
    ini = _ini(env, "n5.ini", "[common]\nmesh-tls = true\n")
    n5 = env.node(args=["--config", ini, "--gossip-listen", "127.0.0.5:0",
                        "--mesh-listen", "127.0.0.5:0", "--cluster-key-file", keys,
                        "--join", n1.gossip] + FAST, http="127.0.0.5:0")
    n5.ip = "127.0.0.5"
    check(logged(n5, "mesh.start")["tls"] == "on", "mesh-tls from the INI file")
    wait_get(n5, host, timeout=15)
    metric_reaches(n5, "mesh_links_up_total", 1)


def _until_logged(who, via, host, ev, **attrs):
    """GETs host through `via` until `who` logs ev (the entry node learns
    the holder's mesh address a moment after the route) -> (status, body)."""
    last = []

    def once():
        st, _, body = get(via, host)
        last[:] = [st, body]
        return any(e.get("ev") == ev and all(e.get(k) == v for k, v in attrs.items())
                   for e in who.events())
    wait_until("%s logs %s %r" % (who.name, ev, attrs), once, 10 * SLOW)
    return last[0], last[1]
