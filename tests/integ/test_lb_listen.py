"""`--lb-listen`: the L4 load balancer in the acceptor, with real processes.

Backends are small servers on 127.0.0.x that say who they are (a line with
their name when the client sends a line) and count the connections they hold;
the same servers answer `GET /health` with 200 or 503 for the health checks.
Client addresses come in PROXY headers from the test, which the node trusts as
a load balancer (--proxy-protocol-from 127.0.0.1/32), so a Brazilian, a US
and a German client can all connect from loopback. The country database is
the one `make deps` fetches (tests/data/, see test_lb.py)."""
import json
import os
import selectors
import socket
import subprocess
import threading
import time

import harness
from harness import TestFailure, check
from test_lb import clusterctl, geoip_db, open_db

TIMEOUT = 90


class Backend:
    """A TCP server on (host, port 0) in its own thread: to a line it
    answers its name and keeps the connection until the client closes; to
    `GET /health` it answers 200 (or 503 when .healthy is False) and closes.
    .current and .peak count the named connections held."""

    def __init__(self, name, host="127.0.0.1"):
        self.name = name
        self.healthy = True
        self.current = self.peak = self.total = 0
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, 0))
        self.ls.listen(1024)
        self.ls.setblocking(False)
        self.host, self.port = self.ls.getsockname()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.ls, selectors.EVENT_READ, None)
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _drop(self, c, st):
        self.sel.unregister(c)
        c.close()
        if st["named"]:
            with self.lock:
                self.current -= 1

    def _run(self):
        while not self.stop:
            for key, _ in self.sel.select(0.2):
                if key.data is None:
                    try:
                        c, _ = self.ls.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    self.sel.register(c, selectors.EVENT_READ, {"buf": b"", "named": False})
                    continue
                c, st = key.fileobj, key.data
                try:
                    d = c.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    self._drop(c, st)
                    continue
                st["buf"] += d
                if st["buf"].startswith(b"GET "):
                    if b"\r\n\r\n" in st["buf"]:
                        status = b"200 OK" if self.healthy else b"503 Unavailable"
                        try:
                            c.sendall(b"HTTP/1.0 " + status + b"\r\nContent-Length: 0\r\n\r\n")
                        except OSError:
                            pass
                        self._drop(c, st)
                    continue
                if b"\n" in st["buf"] and not st["named"]:
                    st["named"] = True
                    with self.lock:
                        self.current += 1
                        self.total += 1
                        self.peak = max(self.peak, self.current)
                    try:
                        c.sendall(self.name.encode() + b"\n")
                    except OSError:
                        pass

    def close(self):
        self.stop = True
        self.t.join(2)
        self.ls.close()


def lb_node(env, apps, args=()):
    """A node with one --lb-listen per app (None: without =APP); returns
    (node, {app: port})."""
    lbs = []
    for app in apps:
        lbs += ["--lb-listen", "127.0.0.1:0" + ("=" + app if app else "")]
    node = env.node(args=["--proxy-protocol-from", "127.0.0.1/32"] + lbs + list(args))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ports = {}
        for ev in node.events():
            if ev.get("ev") == "lb.listen":
                ports[ev.get("app")] = int(ev["addr"].rsplit(":", 1)[1])
        if len(ports) == len(apps):
            return node, {(a if a else "*"): ports[a if a else "*"] for a in apps}
        time.sleep(0.05)
    raise TestFailure("the acceptor did not log its lb listeners\n" + harness.tail(node.log))


def add_backends(node, rows):
    """rows: (id, app, region, Backend or (host, port), weight, soft, hard)."""
    db = open_db(node)
    for bid, app, region, be, w, soft, hard in rows:
        host, port = (be.host, be.port) if isinstance(be, Backend) else be
        db.execute("INSERT INTO backends VALUES (?,?,?,?,?,1,?,?,?,0)",
                   (bid, app, region, host, port, w, soft, hard))
    db.commit()
    return db


def wait_candidates(node, n, timeout=10):
    """Until the acceptor holds a candidate set of n."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        evs = [e for e in node.events() if e.get("ev") == "lb.candidates"]
        if evs and int(evs[-1]["candidates"]) == n:
            return
        time.sleep(0.05)
    raise TestFailure("the acceptor never held %d candidates\n%s" % (n, harness.tail(node.log)))


def proxy_v1(ip, port=40000):
    fam = "TCP6" if ":" in ip else "TCP4"
    dst = "::1" if ":" in ip else "127.0.0.1"
    return ("PROXY %s %s %s %d 9000\r\n" % (fam, ip, dst, port)).encode()


def lb_connect(port, client_ip=None, timeout=5):
    """Connects (with a PROXY header for client_ip), says a line, returns
    (socket, backend name or None when the node closed it)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall((proxy_v1(client_ip) if client_ip else b"") + b"who\n")
    buf = b""
    try:
        while b"\n" not in buf:
            d = s.recv(256)
            if not d:
                break
            buf += d
    except OSError:
        pass
    name = buf.split(b"\n")[0].decode() if b"\n" in buf else None
    return s, name


def who(port, client_ip=None):
    s, name = lb_connect(port, client_ip)
    s.close()
    return name


def wait_idle(*bes, timeout=5):
    """Until the node has closed its side of every connection to bes (a
    client's close reaches the backend through the node)."""
    deadline = time.monotonic() + timeout
    while any(b.current for b in bes):
        check(time.monotonic() < deadline, "connections still open: %r"
              % {b.name: b.current for b in bes})
        time.sleep(0.02)


def metrics(node):
    r = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % node.admin_port],
                       stdout=subprocess.PIPE, timeout=10)
    out = {}
    for line in r.stdout.decode().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def wait_metric(node, name, pred, timeout=5):
    deadline = time.monotonic() + timeout
    v = None
    while time.monotonic() < deadline:
        v = metrics(node).get(name)
        if v is not None and pred(v):
            return v
        time.sleep(0.2)
    raise TestFailure("metric %s: %r after %ss" % (name, v, timeout))


@harness.timeout(TIMEOUT)
def test_geo_clients_land_in_their_region(env):
    bes = {r: Backend(r + "-1", host) for r, host in
           (("sa", "127.0.0.2"), ("us", "127.0.0.3"), ("eu", "127.0.0.4"))}
    node, ports = lb_node(env, ["myapp", None], args=["--region", "us",
                                                      "--geoip-db", geoip_db()])
    add_backends(node, [(b.name, "myapp", r, b, 2, 50, 100) for r, b in bes.items()])
    wait_candidates(node, 3)
    for ip, want in (("200.160.2.3", "sa-1"), ("8.8.8.8", "us-1"),
                     ("85.214.132.117", "eu-1"),
                     ("133.242.0.1", "us-1"),       # JP: no ap backend, this node's
                     ("10.1.2.3", "us-1")):          # no location: this node's
        for port in ports.values():                  # =myapp, and every backend
            got = who(port, ip)
            check(got == want, "client %s on port %d: landed on %r, want %s"
                  % (ip, port, got, want))
    # the trusted balancer must send its header: without one, closed
    check(who(ports["myapp"]) is None, "no PROXY header from a trusted peer")
    wait_metric(node, "warren_acceptor_lb_proxy_protocol_errors_total", lambda v: v == 1)
    text = clusterctl(node, "lb", "explain", "--app", "myapp", "--client-ip",
                      "85.214.132.117")[1]
    check("winner: eu-1" in text, "lb explain agrees:\n" + text)
    for b in bes.values():
        b.close()


@harness.timeout(TIMEOUT)
def test_weights_split_held_connections(env):
    bes = [Backend("w%d" % w, "127.0.0.%d" % (10 + w)) for w in (1, 2, 4)]
    node, ports = lb_node(env, ["web"], args=["--region", "eu"])
    add_backends(node, [(b.name, "web", "eu", b, w, 100, 0)
                        for b, w in zip(bes, (1, 2, 4))])
    wait_candidates(node, 3)
    held = []
    for i in range(210):
        s, name = lb_connect(ports["web"], "10.7.%d.%d" % (i // 200, i % 200 + 1))
        check(name is not None, "connection %d got no backend" % i)
        held.append(s)
    got = {b.name: b.current for b in bes}
    env.note("210 held connections, weights 1:2:4 -> %r" % got)
    for b, want in zip(bes, (30, 60, 120)):
        check(abs(b.current - want) <= want * 0.05,
              "%s holds %d, want %d +-5%%: %r" % (b.name, b.current, want, got))
    m = wait_metric(node, 'warren_acceptor_lb_backend_connections{app="web",backend="w4"}',
                    lambda v: v == 120)
    check(m == 120, "the w4 gauge")
    for s in held:
        s.close()
    for b in bes:
        b.close()


@harness.timeout(TIMEOUT)
def test_hard_limit_never_exceeded(env):
    bes = [Backend("h%d" % i, "127.0.0.%d" % (20 + i)) for i in range(3)]
    node, ports = lb_node(env, ["lim"], args=["--region", "eu"])
    add_backends(node, [(b.name, "lim", "eu", b, 1, 10, 50) for b in bes])
    wait_candidates(node, 3)
    held, served, refused = [], 0, 0
    lock = threading.Lock()

    def one(i):
        nonlocal served, refused
        s, name = lb_connect(ports["lim"], "10.8.%d.%d" % (i // 200, i % 200 + 1))
        with lock:
            held.append(s)
            if name is None:
                refused += 1
            else:
                served += 1

    # 200 at once, from 8 threads
    threads = [threading.Thread(target=lambda k=k: [one(i) for i in range(k, 200, 8)])
               for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    peaks = {b.name: b.peak for b in bes}
    env.note("200 concurrent, hard limit 50 x 3: served %d, refused %d, peaks %r"
             % (served, refused, peaks))
    check(all(p <= 50 for p in peaks.values()), "a hard limit was exceeded: %r" % peaks)
    check(served == 150 and refused == 50, "served %d refused %d" % (served, refused))
    wait_metric(node, 'warren_acceptor_lb_refused_total{reason="no_candidate"}',
                lambda v: v >= 50)
    for s in held:
        s.close()
    # the counts come back down: a new client is served again
    deadline = time.monotonic() + 5
    while who(ports["lim"], "10.9.9.9") is None:
        check(time.monotonic() < deadline, "no backend after the connections closed")
        time.sleep(0.1)
    for b in bes:
        b.close()


@harness.timeout(TIMEOUT)
def test_affinity_holds_within_ttl_and_ends(env):
    a, b = Backend("a", "127.0.0.31"), Backend("b", "127.0.0.32")
    node, ports = lb_node(env, ["aff"], args=["--region", "eu", "--binding-ttl", "2s",
                                              "--binding-gc-interval", "500ms"])
    add_backends(node, [("a", "aff", "eu", a, 1, 10, 0), ("b", "aff", "eu", b, 1, 10, 0)])
    wait_candidates(node, 2)
    x = "10.20.0.1"
    check(who(ports["aff"], x) == "a", "x's first connection: a (the tie goes to a)")
    wait_idle(a)
    # y holds a connection to a: a fresh client now scores b better
    ys, yname = lb_connect(ports["aff"], "10.20.0.2")
    check(yname == "a", "y: %r" % yname)
    check(who(ports["aff"], "10.20.0.3") == "b", "a fresh client goes to b")
    t0 = time.monotonic()
    for _ in range(3):      # each use slides the TTL
        check(who(ports["aff"], x) == "a", "x within its TTL stays on a")
        time.sleep(0.5)
    check(time.monotonic() - t0 > 1.4, "slid past the first TTL")
    time.sleep(2.6)         # past the TTL since the last use
    check(who(ports["aff"], x) == "b", "x after its TTL: scored again, b")
    wait_metric(node, "warren_acceptor_lb_affinity_hits_total", lambda v: v >= 3)
    ys.close()
    a.close()
    b.close()


@harness.timeout(TIMEOUT)
def test_health_check_out_and_back(env):
    h1, h2 = Backend("h1", "127.0.0.41"), Backend("h2", "127.0.0.42")
    node, ports = lb_node(env, ["hc"], args=["--region", "eu"])
    add_backends(node, [("h1", "hc", "eu", h1, 1, 10, 0), ("h2", "hc", "eu", h2, 1, 10, 0)])
    rc, out, err = clusterctl(node, "apps", "set", "hc", "--check", "http:/health",
                              "--interval", "300ms", "--timeout", "200ms",
                              "--fall", "2", "--rise", "3")
    check(rc == 0, "apps set: %s%s" % (out, err))
    wait_candidates(node, 2)

    def state(bid):
        rc, out, err = clusterctl(node, "lb", "health", "--json")
        check(rc == 0, "lb health: %s" % err)
        rows = [r for r in json.loads(out) if r["id"] == bid]
        return rows[0]["state"] if rows else None

    deadline = time.monotonic() + 5
    while state("h1") != "up":
        check(time.monotonic() < deadline, "h1 never checked up")
        time.sleep(0.1)
    check(who(ports["hc"], "10.30.0.1") == "h1", "healthy h1 first")
    h1.healthy = False
    t0 = time.monotonic()
    while state("h1") != "down":
        check(time.monotonic() - t0 < 5, "h1 never went down")
        time.sleep(0.05)
    out_s = time.monotonic() - t0
    # the router's view first, then its acceptor's (a publish later)
    deadline = time.monotonic() + 2
    while who(ports["hc"], "10.30.0.2") != "h2":
        check(time.monotonic() < deadline, "with h1 down, h2")
        time.sleep(0.05)
    h1.healthy = True
    t0 = time.monotonic()
    while state("h1") != "up":
        check(time.monotonic() - t0 < 5, "h1 never came back")
        time.sleep(0.05)
    back_s = time.monotonic() - t0
    env.note("interval 0.3 s: out after %.2f s (fall 2), back after %.2f s (rise 3)"
             % (out_s, back_s))
    # interval x count, plus one interval for where in the cycle it changed,
    # plus slack for a loaded machine
    check(out_s <= 0.3 * 2 + 0.3 + 0.5, "out after %.2f s" % out_s)
    check(back_s <= 0.3 * 3 + 0.3 + 0.5, "back after %.2f s" % back_s)
    deadline = time.monotonic() + 2
    while who(ports["hc"], "10.30.0.3") != "h1":
        check(time.monotonic() < deadline, "traffic never went back to h1")
        time.sleep(0.05)
    text = clusterctl(node, "lb", "health")[1]
    check("h1" in text and "http:/health" in text and "up" in text, "lb health text:\n" + text)
    m = metrics(node)
    check(m.get('warren_router_lb_health_transitions_total{to="down"}', 0) >= 1 and
          m.get('warren_router_lb_health_transitions_total{to="up"}', 0) >= 1,
          "transitions in /metrics")
    # the operator's column is untouched: health is this node's own view
    db = open_db(node)
    check(db.execute("SELECT healthy FROM backends WHERE id = 'h1'").fetchone()[0] == 1,
          "the replicated healthy column changed")
    h1.close()
    h2.close()


@harness.timeout(TIMEOUT)
def test_sqlite_edit_takes_effect_without_restart(env):
    a, b = Backend("a", "127.0.0.51"), Backend("b", "127.0.0.52")
    node, ports = lb_node(env, [None], args=["--region", "eu"])
    db = add_backends(node, [("a", "app", "eu", a, 1, 10, 0)])
    wait_candidates(node, 1)
    check(who(ports["*"], "10.40.0.1") == "a", "only a")
    pid = node.child_pid("acceptor")
    # an operator's edits with the sqlite3 shell, as edgeProxy's README shows
    # (.timeout: gossip may hold the write lock at that moment)
    r = subprocess.run(["sqlite3", "-cmd", ".timeout 5000",
                        os.path.join(node.data_dir, "routing.db"),
                        "INSERT INTO backends VALUES ('b','other','eu','%s',%d,1,1,10,0,0);"
                        " UPDATE backends SET healthy = 0 WHERE id = 'a';" % (b.host, b.port)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    check(r.returncode == 0, "sqlite3: %s" % r.stderr)
    t0 = time.monotonic()
    while who(ports["*"], "10.40.0.2") != "b":
        check(time.monotonic() - t0 < 5, "the edit never took effect")
        time.sleep(0.05)
    env.note("sqlite3 edit in effect after %.2f s" % (time.monotonic() - t0))
    check(node.child_pid("acceptor") == pid, "the acceptor restarted")
    db.close()
    a.close()
    b.close()


@harness.timeout(TIMEOUT)
def test_dead_backend_fails_over(env):
    ok = Backend("ok", "127.0.0.62")
    dead = socket.socket()
    dead.bind(("127.0.0.61", 0))
    dead_port = dead.getsockname()[1]
    dead.close()                # nothing listens there: refused
    node, ports = lb_node(env, ["fo"], args=["--region", "eu", "--lb-backoff", "30s"])
    add_backends(node, [("a-dead", "fo", "eu", ("127.0.0.61", dead_port), 1, 10, 0),
                        ("b-ok", "fo", "eu", ok, 1, 10, 0)])
    wait_candidates(node, 2)
    names = [who(ports["fo"], "10.50.0.%d" % (i + 1)) for i in range(20)]
    check(names == ["ok"] * 20, "every connection served by ok: %r" % names)
    m = metrics(node)
    m = {k: v for k, v in m.items() if "lb_" in k}
    wait_metric(node, 'warren_acceptor_lb_backend_dial_failures_total{app="fo",backend="a-dead"}',
                lambda v: v == 1)
    wait_metric(node, "warren_acceptor_lb_failovers_total", lambda v: v == 1)
    ok.close()


@harness.timeout(TIMEOUT)
def test_bulk_both_ways_half_close_and_slow_reader(env):
    """32 MiB up, then the client half-closes; the backend answers with the
    SHA-256 of what it got and 64 MiB down, which the client reads only
    after a pause: the bytes arrive whole and the acceptor's memory stays
    bounded while the client does not read."""
    import hashlib
    UP, DOWN = 32 << 20, 64 << 20
    ls = socket.socket()
    ls.bind(("127.0.0.71", 0))
    ls.listen(4)
    result = {}

    def serve():
        c, _ = ls.accept()
        h = hashlib.sha256()
        n = 0
        while True:
            d = c.recv(1 << 16)
            if not d:
                break
            h.update(d)
            n += len(d)
        result["up"] = n
        c.sendall(("%d %s\n" % (n, h.hexdigest())).encode())
        for chunk in harness.gen_chunks(DOWN, 3):
            c.sendall(chunk)
        c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    node, ports = lb_node(env, ["bulk"], args=["--region", "eu"])
    add_backends(node, [("bulk-1", "bulk", "eu", ls.getsockname(), 1, 10, 0)])
    wait_candidates(node, 1)
    s = socket.create_connection(("127.0.0.1", ports["bulk"]), timeout=30)
    s.sendall(proxy_v1("10.60.0.1"))
    for chunk in harness.gen_chunks(UP, 2):
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
    acc = node.child_pid("acceptor")
    rss0 = harness.proc_status(acc, "VmRSS")
    time.sleep(2)           # the backend writes; nobody reads
    rss1 = harness.proc_status(acc, "VmRSS")
    f = s.makefile("rb")
    line = f.readline().decode().split()
    check(line == [str(UP), harness.gen_sha256(UP, 2)], "upstream bytes: %r" % line)
    h = hashlib.sha256()
    n = 0
    while True:
        d = f.read(1 << 16)
        if not d:
            break
        h.update(d)
        n += len(d)
    check(n == DOWN and h.hexdigest() == harness.gen_sha256(DOWN, 3),
          "downstream: %d bytes" % n)
    env.note("acceptor RSS %d -> %d KiB while the client did not read" % (rss0, rss1))
    check(rss1 - rss0 < 16 * 1024 * harness.MEM_SCALE,
          "the acceptor grew %d KiB for a slow reader" % (rss1 - rss0))
    s.close()
    t.join(10)
    ls.close()


@harness.timeout(TIMEOUT)
def test_api_backend_out_when_heartbeats_stop(env):
    """A backend registered through edgeProxy's API takes --lb-listen
    connections, and leaves them when its heartbeats stop for the TTL,
    though nothing is written then (the router looks again when the lease
    runs out)."""
    import urllib.request
    a, b = Backend("a", "127.0.0.81"), Backend("reg", "127.0.0.82")
    node, ports = lb_node(env, ["api"], args=["--region", "eu", "--api-listen",
                                              "127.0.0.1:0", "--heartbeat-ttl", "3s"])
    add_backends(node, [("a", "api", "eu", a, 1, 10, 0)])
    wait_candidates(node, 1)
    addr = None
    deadline = time.monotonic() + 10
    while addr is None and time.monotonic() < deadline:
        addr = next((e["addr"] for e in node.events() if e.get("ev") == "backendapi.listen"),
                    None)
        time.sleep(0.05)
    check(addr is not None, "no backend API listener")
    body = json.dumps({"id": "reg", "app": "api", "region": "eu", "ip": b.host,
                       "port": b.port, "weight": 10, "soft_limit": 10}).encode()
    req = urllib.request.Request("http://%s/api/v1/register" % addr, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        check(r.status == 201, "register: %d" % r.status)
    t_reg = time.monotonic()
    wait_candidates(node, 2)
    s, name = lb_connect(ports["api"], "10.70.0.1")   # held: a has one now
    check(name == "a", "the first client: a (tie, a first by id): %r" % name)
    check(who(ports["api"], "10.70.0.2") == "reg", "the registered backend serves")
    # the lease's expiry is in whole seconds (up to 1 s early); the API's
    # own clean-up writes only at twice the TTL, which this must not wait for
    while who(ports["api"], "10.70.0.3") == "reg":
        check(time.monotonic() - t_reg < 3 + 2, "the registered backend still "
              "served %.1f s after its only heartbeat (TTL 3 s)" % (time.monotonic() - t_reg))
        time.sleep(0.1)
    env.note("registered backend out %.1f s after its only heartbeat (TTL 3 s)"
             % (time.monotonic() - t_reg))
    s.close()
    a.close()
    b.close()


def tls_client_hello(sni):
    """The first flight of a TLS client for sni, as bytes (never completed)."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def test_domains_reach_app_backends_by_host_and_sni(env):
    """edgeProxy's `domains` table: a name there (no tunnel holds it) is
    served by its app's backends: plain HTTP by Host (the connection is
    handed to the load balancer with its head, keep-alive requests follow
    it), TLS passthrough by SNI (the ClientHello reaches the backend
    untouched). Edited with sqlite3, in effect without a restart."""
    node = env.node()
    svc = env.http_service("shop-backend")
    got = []

    def tls_backend(ls):
        c, _ = ls.accept()
        c.settimeout(5)
        first = c.recv(5)
        got.append(first)
        c.sendall(b"tls-backend saw " + first[:1].hex().encode() + b"\n")
        c.close()
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    th = threading.Thread(target=tls_backend, args=(ls,), daemon=True)
    th.start()
    db = add_backends(node, [("shop-1", "shop", "eu", ("127.0.0.1", svc), 1, 0, 0),
                             ("vault-1", "vault", "eu", ls.getsockname(), 1, 0, 0)])
    db.execute("INSERT INTO domains (domain, app) VALUES ('shop.example', 'shop'),"
               " ('Vault.Example', 'vault')")
    db.commit()
    wait_candidates(node, 2)

    def get(host, path="/whoami"):
        return harness.request(node.http_port, host, path=path, timeout=5)
    deadline = time.monotonic() + 10
    while get("shop.example")[0] != 200:
        check(time.monotonic() < deadline, "shop.example never answered: %r"
              % (get("shop.example"),))
        time.sleep(0.1)
    st, _, body = get("shop.example")
    check(st == 200 and body.startswith(b"shop-backend"), "by Host: %d %r" % (st, body))
    # keep-alive: the second request rides the same backend connection
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=5)
    for _ in range(2):
        c.request("GET", "/whoami", headers={"Host": "shop.example"})
        r = c.getresponse()
        check(r.status == 200 and r.read().startswith(b"shop-backend"), "keep-alive")
    c.close()
    # pipelined: what followed the first head in the node's input reaches
    # the backend too, after it
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=5)
    s.sendall(b"GET /whoami HTTP/1.1\r\nHost: shop.example\r\n\r\n"
              b"GET /whoami HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n")
    out = harness.recv_all(s)
    s.close()
    check(out.count(b"HTTP/1.1 200") == 2 and out.count(b"shop-backend") == 2,
          "two pipelined requests by Host: %r" % out[-300:])
    # by SNI, passthrough: the backend gets the ClientHello as it was sent
    s = socket.create_connection(("127.0.0.1", node.https_port), timeout=5)
    s.sendall(tls_client_hello("vault.example"))
    reply = s.recv(200)
    s.close()
    th.join(5)
    check(reply == b"tls-backend saw 16\n" and got and got[0][:1] == b"\x16",
          "by SNI: %r (backend got %r)" % (reply, got))
    # a name that is neither a tunnel nor a domain: 404 as before
    check(get("nothing.example")[0] == 404, "unknown names stay 404")
    # removed with sqlite3: no longer served
    db.execute("UPDATE domains SET deleted = 1 WHERE domain = 'shop.example'")
    db.commit()
    deadline = time.monotonic() + 10
    while get("shop.example")[0] != 404:
        check(time.monotonic() < deadline, "shop.example still served after its removal")
        time.sleep(0.1)
    check(wait_metric(node, "warren_acceptor_lb_by_name_total", lambda v: v >= 3),
          "lb_by_name_total did not count the handed-over connections")
    db.close()
    ls.close()
