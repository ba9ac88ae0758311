"""Any node serves any tunnel: three nodes on 127.0.0.1-3, each with its own
public listeners, joined by authenticated mesh links. A tunnel held by
node 1 answers through nodes 2 and 3 exactly as at node 1."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time

import harness
from harness import TestFailure, check, tail

TIMEOUT = 90
SLOW = 3 if os.environ.get("WARREN_SANITIZE") else 1
FAST = ["--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms",
        "--gossip-interval", "100ms", "--gossip-suspicion-mult", "3"]
KEY = bytes(range(32))


def write_keys(env, name, *keys):
    path = env.path(name)
    with open(path, "w") as f:
        for k in keys:
            f.write(base64.b64encode(k).decode() + "\n")
    return path


def logged(who, ev, timeout=10, **attrs):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in who.events():
            if e.get("ev") == ev and all(e.get(k) == v for k, v in attrs.items()):
                return e
        time.sleep(0.05)
    raise TestFailure("%s logged no %s %r\n%s" % (who.name, ev, attrs, tail(who.log)))


def members(node):
    st, _, body = harness.request(node.admin_port, "127.0.0.1", path="/v1/members")
    check(st == 200, "/v1/members: %d" % st)
    return {m["name"]: m for m in json.loads(body)}


def metrics(node):
    st, _, body = harness.request(node.admin_port, "127.0.0.1", path="/metrics")
    check(st == 200, "/metrics: %d" % st)
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def metric(node, name):
    """Sum of every series whose name (labels included) contains `name`."""
    return sum(v for k, v in metrics(node).items() if name in k)


def metric_reaches(node, name, want, timeout=5):
    """Waits for the counters (published every second) to reach want."""
    return wait_until("%s %s >= %s" % (node.name, name, want),
                      lambda: metric(node, name) >= want, timeout * SLOW)


def wait_until(what, fn, timeout):
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise TestFailure("%s: not within %.1fs (last: %r)" % (what, timeout, last))


def cluster(env, n=3, key=KEY, extra=(), own=None):
    """n nodes: node i gossips, takes mesh links and serves public HTTP and
    TCP tunnels on 127.0.0.i; all share the cluster key. own(ip): more
    arguments of the node on that address. Waits until every node sees
    every other alive with its mesh address."""
    keys = write_keys(env, "cluster.keys", key)
    nodes = []
    for i in range(1, n + 1):
        args = ["--gossip-listen", "127.0.0.%d:0" % i, "--mesh-listen", "127.0.0.%d:0" % i,
                "--cluster-key-file", keys] + FAST + list(extra)
        if own is not None:
            args += own("127.0.0.%d" % i)
        if nodes:
            args += ["--join", nodes[0].gossip]
        node = env.node(args=args, http="127.0.0.%d:0" % i)
        node.ip = "127.0.0.%d" % i
        node.gossip = logged(node, "gossip.listen")["addr"]
        node.mesh = logged(node, "listen", what="mesh")["addr"]
        check(node.mesh.startswith(node.ip + ":"), "mesh address %s" % node.mesh)
        nodes.append(node)
    want = {x.name: x.mesh for x in nodes}
    wait_until("membership with mesh addresses", lambda: all(
        {k: (m["state"], m["mesh"]) for k, m in members(x).items()} ==
        {k: ("alive", v) for k, v in want.items()} for x in nodes), 15 * SLOW)
    return nodes


def tunnel(env, node, kind, port, extra=()):
    c = env.client([kind, str(port), "--server", "127.0.0.1:%d" % node.tunnel_port]
                   + list(extra), name="client-%s-%d" % (kind, port),
                   extra_env={"WARREN_CA": os.path.join(node.data_dir, "tls", "ca.pem")})
    return c, c.wait_urls(1, 15 * SLOW)[0]


def held_everywhere(nodes, key, holder):
    def ok():
        for n in nodes:
            st, _, body = harness.request(n.admin_port, "127.0.0.1", path="/v1/tunnels")
            t = {(x["host"] or ":%d" % x["port"]): (x["node"], x["state"])
                 for x in json.loads(body)}
            if t.get(key) != (holder, "online"):
                return None
        return True
    wait_until("%s held by %s in every table" % (key, holder), ok, 10 * SLOW)


def wait_get(node, host, path="/whoami", timeout=5, ok=(200,)):
    """GET until 200: the acceptor's table follows the router's by a delta."""
    last = []

    def once():
        st, hd, body = get(node, host, path)
        last[:] = [st, body[:200]]
        return (st, hd, body) if st in ok else None
    try:
        return wait_until("GET %s via %s" % (host, node.name), once, timeout * SLOW)
    except TestFailure:
        raise TestFailure("GET http://%s%s via %s: last %r" % (host, path, node.name, last))


def conn(node, timeout=20):
    return http.client.HTTPConnection(node.ip, node.http_port, timeout=timeout)


def get(node, host, path="/whoami", headers=None):
    c = conn(node)
    try:
        h = {"Host": host}
        h.update(headers or {})
        c.request("GET", path, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def ws_echo(node, host, messages):
    """WebSocket echo through node's public HTTP (python3-websockets)."""
    import asyncio
    import websockets

    async def run():
        out = []
        uri = "ws://%s:%d/echo" % (host, node.http_port)
        async with websockets.connect(uri, host=node.ip, port=node.http_port,
                                      max_size=8 << 20, open_timeout=10,
                                      close_timeout=5) as ws:
            for m in messages:
                await ws.send(m)
                out.append(await asyncio.wait_for(ws.recv(), 10))
        return out
    return asyncio.run(asyncio.wait_for(run(), 30))


@harness.timeout(120)
def test_http_tunnel_answers_through_every_node(env):
    nodes = cluster(env)
    n1, n2, n3 = nodes
    svc = env.http_service("alice")
    c, u = tunnel(env, n1, "http", svc, ["--subdomain", "alice"])
    host = "alice.localhost"
    held_everywhere(nodes, host, "n1")
    body = None
    for n in nodes:
        st, hd, body = wait_get(n, host)
        check(body.startswith(b"alice "), "body via %s: %r" % (n.name, body))
    # the holder saw forwarded streams, the others forwarded them
    metric_reaches(n1, 'role="holder",result="served"', 2)
    for n in (n2, n3):
        metric_reaches(n, 'role="entry",result="forwarded"', 1)
        metric_reaches(n, "mesh_links_up_total", 1)
    # the client address reaches the service as at the holder
    st, _, body = get(n3, host, path="/headers")
    hdrs = {k.lower(): v for k, v in json.loads(body)["headers"]}
    check(hdrs.get("x-forwarded-for") == "127.0.0.1",
          "X-Forwarded-For via n3: %r" % hdrs.get("x-forwarded-for"))

    # HTTPS terminated on the node the user reached, forwarded inside
    r = harness.curl(["-k", "--resolve", "%s:%d:127.0.0.1" % (host, n3.https_port),
                      "https://%s:%d/headers" % (host, n3.https_port)], timeout=20)
    check(r.returncode == 0, "HTTPS via n3: %r" % r.stderr[-300:])
    hdrs = {k.lower(): v for k, v in json.loads(r.stdout)["headers"]}
    check(hdrs.get("x-forwarded-proto") == "https", "HTTPS via n3: X-Forwarded-Proto %r"
          % hdrs.get("x-forwarded-proto"))

    # server-sent events stream through n2 as they are written
    s = socket.create_connection((n2.ip, n2.http_port), timeout=10)
    t0 = time.monotonic()
    s.sendall(b"GET /sse?count=4&ms=400 HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode())
    buf, t_first = b"", None
    while time.monotonic() - t0 < 15 and b"event 3" not in buf:
        b = s.recv(65536)
        if not b:
            break
        buf += b
        if t_first is None and b"data: event 0" in buf:
            t_first = time.monotonic() - t0
    t_end = time.monotonic() - t0
    s.close()
    check(t_first is not None and b"event 3" in buf, "SSE via n2: %r" % buf[-200:])
    check(t_first < 1.0 and t_end - t_first > 0.8,
          "SSE via n2: first event after %.2fs, last after %.2fs (buffered?)" % (t_first, t_end))

    # keep-alive: several requests on one connection through n2, and a
    # request for an unknown host on it after them
    k = conn(n2)
    for i in range(5):
        k.request("GET", "/whoami?i=%d" % i, headers={"Host": host})
        r = k.getresponse()
        check(r.status == 200 and r.read().startswith(b"alice "), "keep-alive #%d" % i)
    k.request("GET", "/", headers={"Host": "nobody.localhost"})
    r = k.getresponse()
    check(r.status == 404, "unknown host after forwarded requests: %d" % r.status)
    k.close()

    # one keep-alive connection to n2, its requests for tunnels held by n1,
    # n3 and n2 itself in turn: each goes where its host lives
    sb = env.http_service("bob")
    sc = env.http_service("carol")
    tunnel(env, n3, "http", sb, ["--subdomain", "bob"])
    tunnel(env, n2, "http", sc, ["--subdomain", "carol"])
    held_everywhere(nodes, "bob.localhost", "n3")
    held_everywhere(nodes, "carol.localhost", "n2")
    wait_get(n2, "bob.localhost")
    k = conn(n2)
    for h, want in (("alice", b"alice "), ("bob", b"bob "), ("carol", b"carol "),
                    ("alice", b"alice "), ("alice", b"alice "), ("bob", b"bob ")):
        k.request("GET", "/whoami", headers={"Host": h + ".localhost"})
        r = k.getresponse()
        body = r.read()
        check(r.status == 200 and body.startswith(want),
              "keep-alive request for %s via n2: %d %r" % (h, r.status, body[:80]))
    k.close()

    # a large body both ways, byte-exact, streamed (the nodes' memory stays
    # bounded while it passes)
    n = 64 << 20 if not os.environ.get("WARREN_SANITIZE") else 16 << 20
    rss0 = {x.name: x.rss_kib() for x in nodes}
    r = harness.curl(["-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                      "-H", "Host: " + host,
                      "http://%s:%d/bytes?n=%d&seed=7" % (n2.ip, n2.http_port, n)])
    check(r.stdout.decode().split() == ["200", str(n)], "download via n2: %r %r"
          % (r.stdout, r.stderr[-300:]))
    gen = subprocess.run(["/usr/bin/python3", harness.SERVICES, "gen", str(n), "9"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    want_sha = gen.stderr.decode().strip()
    up = subprocess.run(["curl", "-sS", "--data-binary", "@-", "-H", "Host: " + host,
                         "-H", "Content-Type: application/octet-stream",
                         "http://%s:%d/upload" % (n3.ip, n3.http_port)],
                        input=gen.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        timeout=120)
    res = json.loads(up.stdout)
    check(res["n"] == n and res["sha256"] == want_sha,
          "upload via n3: %r (want %d bytes, %s)" % (res, n, want_sha[:12]))
    # download checked byte for byte too
    r = subprocess.run(["curl", "-sS", "-H", "Host: " + host,
                        "http://%s:%d/bytes?n=%d&seed=9" % (n3.ip, n3.http_port, n)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    check(hashlib.sha256(r.stdout).hexdigest() == want_sha,
          "download via n3 differs (%d bytes)" % len(r.stdout))
    for x in nodes:
        grew = x.rss_kib() - rss0[x.name]
        env.note("%s RSS grew %d KiB over %d MiB each way" % (x.name, grew, n >> 20))
        # a window or two per stream, not the body
        check(grew < 16 * 1024 * harness.MEM_SCALE, "%s RSS grew %d KiB" % (x.name, grew))

    # WebSocket upgrade through every node
    ws = env.service("ws")[0]
    cw, _ = tunnel(env, n1, "http", ws, ["--subdomain", "echo"])
    held_everywhere(nodes, "echo.localhost", "n1")
    for node in nodes:
        wait_get(node, "echo.localhost", "/", ok=range(200, 500))
    msgs = ["hello", "x" * 100000, "bye"]
    for node in nodes:
        check(ws_echo(node, "echo.localhost", msgs) == msgs, "ws echo via %s" % node.name)


def tcp_roundtrip(ip, port, data, timeout=60):
    """Writes data then half-closes, reading until EOF -> (bytes, eof)."""
    s = socket.create_connection((ip, port), timeout=timeout)
    err = []

    def writer():
        try:
            for i in range(0, len(data), 1 << 16):
                s.sendall(data[i:i + (1 << 16)])
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    got = bytearray()
    eof = False
    try:
        while len(got) <= len(data):
            b = s.recv(1 << 18)
            if not b:
                eof = True
                break
            got += b
    except OSError as e:
        err.append(e)
    finally:
        t.join(10)
        s.close()
    check(not err, "tcp %s:%d: %r" % (ip, port, err))
    return bytes(got), eof


@harness.timeout(120)
def test_tcp_tunnel_and_tls_passthrough_through_every_node(env):
    nodes = cluster(env)
    n1, n2, n3 = nodes
    echo = env.service("tcp-echo")[0]
    c, u = tunnel(env, n1, "tcp", echo)
    port = u["port"]
    held_everywhere(nodes, ":%d" % port, "n1")
    # every node listens on the port and forwards to n1
    for n in (n2, n3):
        logged(n, "fwdport.open", port=str(port), node="n1")
    size = (32 << 20) if not os.environ.get("WARREN_SANITIZE") else (8 << 20)
    data = random_bytes(size, 5)
    for n in nodes:
        got, eof = tcp_roundtrip(n.ip, port, data)
        check(eof, "no EOF after the half-close via %s" % n.name)
        check(len(got) == len(data) and got == data,
              "echo via %s: %d of %d bytes, equal=%s" % (n.name, len(got), len(data), got == data))
    metric_reaches(n1, 'role="holder",result="served"', 2)
    # a restarted acceptor listens on the port again (from the table)
    old = n2.child_pid("acceptor")
    os.kill(old, 9)
    n2.wait_child("acceptor", not_pid=old)
    wait_until("n2 forwarding port %d after an acceptor restart" % port, lambda:
               _echo_ok(n2.ip, port), 10 * SLOW)
    # the client gone: the other nodes stop listening on its port
    c.kill()
    for n in (n2, n3):
        logged(n, "fwdport.close", timeout=10 * SLOW, port=str(port))

    # TLS passthrough by SNI through n3, never terminated on the way
    import test_tls
    work = env.path("svc")
    pem = test_tls.make_cert(env, "secret.localhost", work)
    sport = harness.free_port()
    env.spawn(["openssl", "s_server", "-accept", "127.0.0.1:%d" % sport,
               "-cert", os.path.join(work, "secret.localhost.pem"), "-www", "-quiet"],
              name="s_server")
    wait_until("s_server up", lambda: _connects("127.0.0.1", sport), 10)
    ct, ut = tunnel(env, n1, "tls", sport, ["--subdomain", "secret"])
    held_everywhere(nodes, "secret.localhost", "n1")

    def through_n3():
        r = harness.curl(["--cacert", pem, "--resolve", "secret.localhost:%d:%s"
                          % (n3.https_port, "127.0.0.1"),
                          "https://secret.localhost:%d/" % n3.https_port], timeout=20)
        return r if r.returncode == 0 and b"s_server" in r.stdout else None
    wait_until("TLS passthrough via n3 (the service's own certificate verifies)",
               through_n3, 10 * SLOW)


def _echo_ok(ip, port):
    try:
        got, eof = tcp_roundtrip(ip, port, b"ping after restart", timeout=5)
        return got == b"ping after restart" and eof
    except (OSError, TestFailure):
        return False


def _connects(ip, port):
    try:
        socket.create_connection((ip, port), timeout=1).close()
        return True
    except OSError:
        return False


def random_bytes(n, seed):
    import random
    return random.Random(seed).randbytes(n)


@harness.timeout(90)
def test_protections_hold_on_every_node(env):
    nodes = cluster(env)
    n1, n2, n3 = nodes
    svc = env.http_service("priv")
    c, u = tunnel(env, n1, "http", svc, ["--subdomain", "priv", "--basic-auth", "bob:s3cret",
                                         "--deny-ip", "127.0.0.0/8"])
    c2, _ = tunnel(env, n1, "http", svc, ["--subdomain", "auth", "--basic-auth", "bob:s3cret"])
    held_everywhere(nodes, "priv.localhost", "n1")
    held_everywhere(nodes, "auth.localhost", "n1")
    good = {"Authorization": "Basic " + base64.b64encode(b"bob:s3cret").decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"bob:wrong").decode()}
    for n in nodes:
        wait_get(n, "priv.localhost", ok=(403,))
        st, hd, _ = get(n, "auth.localhost")
        check(st == 401 and "basic" in hd.get("www-authenticate", "").lower(),
              "no credentials via %s: %d %r" % (n.name, st, hd))
        check(get(n, "auth.localhost", headers=bad)[0] == 401, "wrong password via %s" % n.name)
        check(get(n, "auth.localhost", headers=good)[0] == 200, "right password via %s" % n.name)
    # keep-alive through n2: a request without credentials after one with
    # them is still refused (the holder checks each)
    k = conn(n2)
    k.request("GET", "/whoami", headers=dict(good, Host="auth.localhost"))
    r = k.getresponse()
    check(r.status == 200, "first request: %d" % r.status)
    r.read()
    k.request("GET", "/whoami", headers={"Host": "auth.localhost"})
    r = k.getresponse()
    check(r.status == 401, "second request without credentials on a kept-alive "
          "forwarded connection: %d" % r.status)
    k.close()


def test_proxy_headers_hold_through_forwarding(env):
    """The client address survives the hop: a TCP tunnel on n1 with
    --proxy-protocol v1 gets the public client's address and port in its
    PROXY line when the connection landed on n2; an HTTP request that came
    to n3 from a trusted load balancer with a PROXY header shows the address
    the header named in X-Forwarded-For at n1's client."""
    from test_protect import line_server
    nodes = cluster(env, extra=["--proxy-protocol-from", "127.0.0.7"])
    n1, n2, n3 = nodes
    srv = line_server(env)
    c, u = tunnel(env, n1, "tcp", srv.getsockname()[1], ["--proxy-protocol", "v1"])
    port = u["port"]
    held_everywhere(nodes, ":%d" % port, "n1")
    logged(n2, "fwdport.open", port=str(port), node="n1")
    s = socket.create_connection((n2.ip, port), timeout=10, source_address=("127.0.0.4", 0))
    src = s.getsockname()[1]
    line = s.recv(300)
    s.close()
    check(line.startswith(b"PROXY TCP4 127.0.0.4 ") and b" %d " % src in line,
          "the local service behind n1 got %r for a connection from 127.0.0.4:%d via n2"
          % (line, src))

    svc = env.http_service("lbfwd")
    tunnel(env, n1, "http", svc, ["--subdomain", "lbfwd"])
    held_everywhere(nodes, "lbfwd.localhost", "n1")
    s = socket.create_connection((n3.ip, n3.http_port), timeout=10,
                                 source_address=("127.0.0.7", 0))
    s.sendall(b"PROXY TCP4 203.0.113.9 127.0.0.3 5555 80\r\n"
              b"GET /headers HTTP/1.1\r\nHost: lbfwd.localhost\r\nConnection: close\r\n\r\n")
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    check(out.startswith(b"HTTP/1.1 200") and b"203.0.113.9" in out,
          "X-Forwarded-For through n3 to n1: %r" % out[-400:])


# --- a peer speaking the mesh protocol by hand ---------------------------

def _mac(key, msg):
    sub = hmac.new(key, b"warren mesh link v1", hashlib.sha256).digest()
    return hmac.new(sub, msg, hashlib.sha256).digest()


def _recv_exact(s, n):
    out = b""
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            raise EOFError("closed after %d of %d bytes" % (len(out), n))
        out += b
    return out


def mesh_dial(node, key, name=b"forger"):
    """Connects to node's mesh port and runs the handshake with key.
    Returns the socket after our PROOF went out (the node answers with its
    PROOF whatever ours is worth), and the node's name."""
    ip, port = node.mesh.rsplit(":", 1)
    s = socket.create_connection((ip, int(port)), timeout=10)
    nonce = os.urandom(32)
    s.sendall(b"WRNMESH" + bytes([1, len(name)]) + name + nonce)
    head = _recv_exact(s, 9)
    check(head[:8] == b"WRNMESH\x01", "mesh HELLO from %s: %r" % (node.name, head))
    peer = _recv_exact(s, head[8])
    peer_nonce = _recv_exact(s, 32)
    msg = (b"proof" + bytes([1]) + nonce + peer_nonce + bytes([len(name)]) + name
           + bytes([len(peer)]) + peer)
    s.sendall(_mac(key, msg))
    _recv_exact(s, 32)          # the node's PROOF (not checked here)
    return s, peer, nonce, peer_nonce


def frame(ftype, stream, payload=b""):
    return struct.pack(">IBBHI", len(payload), ftype, 0, 0, stream) + payload


def read_frames(s, timeout=5):
    """Frames until the link closes or goes quiet -> [(type, stream, payload)]."""
    s.settimeout(timeout)
    buf = b""
    out = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
            while len(buf) >= 12:
                ln, ft, _, _, st = struct.unpack(">IBBHI", buf[:12])
                if len(buf) < 12 + ln:
                    break
                out.append((ft, st, buf[12:12 + ln]))
                buf = buf[12 + ln:]
            if any(f[0] == 4 for f in out):
                break
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def fwd_header(session_hex, tunnel_id, host, client="203.0.113.9:4000", hops=1):
    def s16(b):
        return struct.pack(">H", len(b)) + b
    return (struct.pack(">BBBQIH", 1, 1, hops, int(session_hex, 16), tunnel_id, 0)
            + s16(client.encode()) + s16(host.encode()) + s16(b"forger") + s16(b""))


@harness.timeout(90)
def test_mesh_refuses_strangers_and_never_forwards_twice(env):
    nodes = cluster(env)
    n1, n2, n3 = nodes
    svc = env.http_service("alice")
    c, u = tunnel(env, n1, "http", svc, ["--subdomain", "alice"])
    held_everywhere(nodes, "alice.localhost", "n1")
    wait_get(n2, "alice.localhost")
    st, _, body = harness.request(n2.admin_port, "127.0.0.1", path="/v1/tunnels")
    sess = [t["session"] for t in json.loads(body) if t["host"] == "alice.localhost"][0]
    time.sleep(1.2)             # counters are published every second
    served0 = metric(n1, 'role="holder",result="served"')
    accepted0 = metric(n1, "mesh_streams_accepted_total")

    # without the cluster key: refused and counted, and the OPEN that
    # followed the bad proof never reached a tunnel
    s, peer, _, _ = mesh_dial(n1, bytes(32 * [7]))
    check(peer == b"n1", "mesh peer name %r" % peer)
    settings = frame(9, 0, struct.pack(">III", 1, 1 << 20, 1 << 16))
    s.sendall(settings + frame(1, 1, fwd_header(sess, 1, "alice.localhost")))
    frames = read_frames(s)
    s.close()
    check(not any(f[0] == 4 for f in frames[1:]) and len(frames) == 0,
          "a peer without the key got mux frames: %r" % frames[:3])
    metric_reaches(n1, "mesh_auth_failures_total", 1)
    logged(n1, "mesh.auth.failed", peer="forger")
    # a wrong HELLO is dropped and counted too
    ip, port = n1.mesh.rsplit(":", 1)
    junk = socket.create_connection((ip, int(port)), timeout=5)
    junk.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    out = harness.recv_all(junk)
    check(len(out) <= 9 + 2 + 32 and (not out or out.startswith(b"WRNMESH")),
          "junk peer: expected at most the node's HELLO, got %r" % out[:80])
    junk.close()
    metric_reaches(n1, "mesh_handshake_errors_total", 1)

    # with the key, a stream "forwarded" to n2 for n1's session: n2 does not
    # hold it and refuses with a reason; it never goes on to n1
    s, peer, _, _ = mesh_dial(n2, KEY)
    s.sendall(settings + frame(1, 1, fwd_header(sess, 1, "alice.localhost")))
    frames = read_frames(s)
    rst = [f for f in frames if f[0] == 4 and f[1] == 1]
    check(rst, "no RST for the forged stream: %r" % frames[:4])
    code = struct.unpack(">H", rst[0][2][:2])[0]
    reason = rst[0][2][2:].decode()
    check(code == 5 and "n2 does not hold" in reason, "RST %d %r" % (code, reason))
    # a hop count other than 1 is refused too
    s.sendall(frame(1, 3, fwd_header(sess, 1, "alice.localhost", hops=2)))
    frames = read_frames(s)
    check([f for f in frames if f[0] == 4 and f[1] == 3], "hops=2 not refused: %r" % frames[:4])
    s.close()
    metric_reaches(n2, 'role="holder",result="not_here"', 1)
    metric_reaches(n2, 'role="holder",result="malformed"', 1)
    time.sleep(1.2)
    check(metric(n1, "mesh_streams_accepted_total") == accepted0 and
          metric(n1, 'role="holder",result="served"') == served0,
          "the forged stream reached n1")
    # and the real path still works
    wait_get(n3, "alice.localhost")


@harness.timeout(40)
def test_mesh_address_defaults_to_the_gossip_host(env):
    # no --mesh-listen: the gossip host, port 7001 (any port there if 7001
    # is taken), advertised in the membership
    gport = harness.free_port()
    n = env.node(args=["--gossip-listen", "127.0.0.4:%d" % gport], http="127.0.0.4:0")
    mesh = logged(n, "listen", what="mesh")["addr"]
    host, port = mesh.rsplit(":", 1)
    check(host == "127.0.0.4", "default mesh address %s" % mesh)
    if port != "7001":
        check(_connects("127.0.0.4", 7001), "mesh on %s though 127.0.0.4:7001 is free" % mesh)
    wait_until("own mesh address in /v1/members", lambda: members(n).get("n1", {}).get("mesh")
               == mesh, 10 * SLOW)
    # an explicit address that cannot be bound stops the node with a reason
    bad = env.node(args=["--gossip-listen", "127.0.0.4:0", "--mesh-listen", mesh], start=False,
                   http="127.0.0.4:0")
    p = subprocess.run(bad.argv(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    check(p.returncode != 0 and b"cannot listen on %s for mesh" % mesh.encode() in p.stderr,
          "second node on the same --mesh-listen: rc=%d %r" % (p.returncode, p.stderr[-300:]))


@harness.timeout(60)
def test_holder_without_the_session_answers_502_with_a_reason(env):
    nodes = cluster(env)
    n1, n2, n3 = nodes
    svc = env.http_service("alice")
    c, u = tunnel(env, n1, "http", svc, ["--subdomain", "alice"])
    held_everywhere(nodes, "alice.localhost", "n1")
    wait_get(n2, "alice.localhost")
    # n1's router paused: the session's end cannot reach the cluster's
    # table, so n2 still forwards to n1, which no longer holds it
    router = n1.child_pid("router")
    os.kill(router, 19)     # SIGSTOP
    try:
        c.kill()
        wait_until("n1 closed the session", lambda: any(
            e.get("ev") == "session.close" for e in n1.events()), 10 * SLOW)
        st, _, body = get(n2, "alice.localhost")
        check(st == 502 and b"n1 does not hold the tunnel's session" in body,
              "via n2 after the session left n1: %d %r" % (st, body[:200]))
        metric_reaches(n2, 'role="entry",result="session_gone"', 1)
        logged(n1, "fwd.refused", **{"from": "n2", "code": "5"})   # its /metrics is paused
    finally:
        os.kill(router, 18)     # SIGCONT
    metric_reaches(n1, 'role="holder",result="not_here"', 1)
    # once the table catches up, the name is simply offline everywhere
    wait_get(n3, "alice.localhost", ok=(503,), timeout=10)
