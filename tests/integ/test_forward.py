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


def logged(node, ev, timeout=10, **attrs):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in node.events():
            if e.get("ev") == ev and all(e.get(k) == v for k, v in attrs.items()):
                return e
        time.sleep(0.05)
    raise TestFailure("%s logged no %s %r\n%s" % (node.name, ev, attrs, tail(node.log)))


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


def cluster(env, n=3, key=KEY, extra=()):
    """n nodes: node i gossips, takes mesh links and serves public HTTP and
    TCP tunnels on 127.0.0.i; all share the cluster key. Waits until every
    node sees every other alive with its mesh address."""
    keys = write_keys(env, "cluster.keys", key)
    nodes = []
    for i in range(1, n + 1):
        args = ["--gossip-listen", "127.0.0.%d:0" % i, "--mesh-listen", "127.0.0.%d:0" % i,
                "--cluster-key-file", keys] + FAST + list(extra)
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
        check(grew < 48 * 1024, "%s RSS grew %d KiB" % (x.name, grew))

    # WebSocket upgrade through every node
    ws = env.service("ws")[0]
    cw, _ = tunnel(env, n1, "http", ws, ["--subdomain", "echo"])
    held_everywhere(nodes, "echo.localhost", "n1")
    for node in nodes:
        wait_get(node, "echo.localhost", "/", ok=range(200, 500))
    msgs = ["hello", "x" * 100000, "bye"]
    for node in nodes:
        check(ws_echo(node, "echo.localhost", msgs) == msgs, "ws echo via %s" % node.name)
