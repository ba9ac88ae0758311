"""`clusterctl lb health`: every node's health-check results, with a real
three-node cluster gossiping on 127.0.0.1-127.0.0.3.

Each node's router checks the backends from where it stands and writes its
own results into routing.db (table lb_health) on a transition only; any
node then shows every live node's view. On loopback every node reaches the
same addresses, so to make the nodes honestly disagree a backend refuses
one node's checks the way a firewall rule would: it looks up which process
holds the connecting socket (/proc/net/tcp, /proc/PID/fd) and answers 503
when it is that node's router."""
import json
import os
import selectors
import socket
import struct
import threading
import time

import harness
from harness import check
from test_lb_listen import metrics
from test_replication import cluster, clusterctl, digests_equal, wait_until

TIMEOUT = 150
SLOW = 3 if os.environ.get("WARREN_SANITIZE") else 1


def hexaddr(host, port):
    return "%08X:%04X" % (struct.unpack("<I", socket.inet_aton(host))[0], port)


def socket_owner_is(pid, local, remote):
    """True when the TCP socket local -> remote (the peer's view) is one of
    pid's file descriptors."""
    want_l, want_r = hexaddr(*local), hexaddr(*remote)
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if p[1] == want_l and p[2] == want_r:
                inode = p[9]
                break
    if inode is None:
        return False
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "socket:[%s]" % inode:
                return True
        except OSError:
            pass
    return False


class HealthBackend:
    """Answers `GET /health` with 200, or 503 to connections of the
    processes in .deny; .stop() closes the listener (connections refused),
    .start() listens again on the same address."""

    def __init__(self, host):
        self.host, self.port = host, 0
        self.deny = set()
        self.answered = {"ok": 0, "denied": 0}
        self.ls = None
        self.start()

    def start(self):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((self.host, self.port))
        self.port = self.ls.getsockname()[1]
        self.ls.listen(64)
        self.stopping = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _answer(self, c, peer):
        c.settimeout(2)
        buf = b""
        try:
            while b"\r\n\r\n" not in buf and len(buf) < 4096:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
            denied = any(socket_owner_is(pid, peer, (self.host, self.port))
                         for pid in list(self.deny))
            self.answered["denied" if denied else "ok"] += 1
            status = b"503 Unavailable" if denied else b"200 OK"
            c.sendall(b"HTTP/1.0 " + status + b"\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        finally:
            c.close()

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.ls, selectors.EVENT_READ)
        while not self.stopping:
            if not sel.select(0.1):
                continue
            try:
                c, peer = self.ls.accept()
            except OSError:
                continue
            self._answer(c, peer)
        sel.close()

    def stop(self):
        self.stopping = True
        self.t.join(2)
        self.ls.close()


def view(node, *args):
    """node's `clusterctl lb health --json`: {(node, backend): row}."""
    rows = json.loads(clusterctl(node, "lb", "health", "--json", *args)[1])
    return {(r["node"], r["id"]): r for r in rows}


def states(node, *args):
    return {k: r["state"] for k, r in view(node, *args).items()}


def puts(node):
    return metrics(node).get('warren_router_lb_health_rows_total{op="put"}', 0)


def db_rows(node):
    import sqlite3
    db = sqlite3.connect(os.path.join(node.data_dir, "routing.db"), timeout=5)
    try:
        return {(r[0], r[1]): r[2] for r in db.execute(
            "SELECT node, backend, state FROM lb_health WHERE app = 'hc'")}
    finally:
        db.close()


@harness.timeout(TIMEOUT)
def test_lb_health_every_nodes_view(env):
    nodes = cluster(env, 3)
    n1, n2, n3 = nodes
    names = [n.name for n in nodes]
    b1, b2 = HealthBackend("127.0.0.71"), HealthBackend("127.0.0.72")
    clusterctl(n1, "backends", "add", "b1", "hc", "eu", b1.host, str(b1.port))
    clusterctl(n1, "backends", "add", "b2", "hc", "eu", b2.host, str(b2.port))
    clusterctl(n2, "apps", "set", "hc", "--check", "http:/health", "--interval",
               "300ms", "--timeout", "250ms", "--fall", "2", "--rise", "2")

    every = {(n, b) for n in names for b in ("b1", "b2")}

    def all_are(node, want):
        s = states(node)
        return s if set(s) == every and set(s.values()) == {want} else None

    # every node's results, seen from n1: its own live, the others replicated
    s, t = wait_until("n1 sees b1 and b2 up on every node",
                      lambda: all_are(n1, "up"), 10 * SLOW)
    env.note("all 6 results up in n1's view after %.2fs" % t)
    v = view(n1)
    check(v[("n1", "b1")]["source"] == "local" and
          v[("n2", "b1")]["source"] == "replicated" and
          v[("n3", "b2")]["source"] == "replicated", "sources: %r" % v)
    check(v[("n3", "b1")]["addr"] == "%s:%d" % (b1.host, b1.port) and
          v[("n3", "b1")]["check"] == "http:/health", "n3's row: %r" % v[("n3", "b1")])
    wait_until("n3 sees the same", lambda: all_are(n3, "up"), 5 * SLOW)

    # checks that change nothing write nothing: a few intervals with every
    # node checking, and not one row written
    before = {n.name: (puts(n), metrics(n).get(
        'warren_router_lb_health_checks_total{result="ok"}', 0)) for n in nodes}
    time.sleep(2)
    after = {n.name: (puts(n), metrics(n).get(
        'warren_router_lb_health_checks_total{result="ok"}', 0)) for n in nodes}
    for name in names:
        check(after[name][1] >= before[name][1] + 8,
              "%s checked too little: %r -> %r" % (name, before[name], after[name]))
        check(after[name][0] == before[name][0],
              "%s wrote rows while nothing changed: %r -> %r"
              % (name, before[name], after[name]))
    check(before["n1"][0] == 2, "n1 wrote %r rows for 2 first results" % before["n1"][0])

    # b1 stops: down on every node, each node writing one row for it
    b1.stop()
    t0 = time.monotonic()
    wait_until("b1 down on every node in n2's view", lambda: all(
        states(n2).get((n, "b1")) == "down" for n in names), 10 * SLOW)
    env.note("b1 down on all 3 nodes in n2's view after %.2fs" % (time.monotonic() - t0))
    v = view(n2)
    for name in names:
        check("connect" in v[(name, "b1")]["last_error"] and
              v[(name, "b2")]["state"] == "up", "%s's view: %r" % (name, v))
    time.sleep(1)       # any extra writes would show now
    for n in nodes:
        check(puts(n) == before[n.name][0] + 1,
              "%s wrote %r rows for one transition" % (n.name, puts(n) - before[n.name][0]))
    rc, text, err = clusterctl(n1, "lb", "health")
    lines = text.splitlines()
    for name in ("n2", "n3"):
        check(any(ln.lstrip("! ").split()[:3] == [name, "hc", "b1"] and " down " in ln and "connect" in ln
                  for ln in lines), "no down row of %s for b1 in:\n%s" % (name, text))
    check("hc/b1: down on every node that checked it (n1, n2, n3)" in text and
          "hc/b2" not in text, "summary:\n" + text)

    # b1 back: up everywhere
    b1.start()
    wait_until("b1 back up on every node", lambda: all_are(n3, "up"), 10 * SLOW)

    # the nodes disagree: b2 refuses n2's checks (as a firewall rule would)
    rpid = n2.child_pid("router")
    check(rpid is not None, "n2 has no router")
    b2.deny.add(rpid)
    wait_until("b2 down on n2 only, in n1's view", lambda: (lambda s: s.get(("n2", "b2")) == "down"
               and s.get(("n1", "b2")) == "up" and s.get(("n3", "b2")) == "up")(states(n1)),
               10 * SLOW)
    check(b2.answered["denied"] >= 2 and b2.answered["ok"] > 0, "b2: %r" % b2.answered)
    v = view(n3)
    check(v[("n2", "b2")]["state"] == "down" and
          v[("n2", "b2")]["last_error"] == "status 503, want 200" and
          v[("n3", "b2")]["state"] == "up" and v[("n1", "b2")]["state"] == "up",
          "n3's view of b2: %r" % {k: r for k, r in v.items() if k[1] == "b2"})
    rc, text, err = clusterctl(n1, "lb", "health")
    check("hc/b2: NODES DISAGREE: down on n2; up on n1, n3" in text,
          "disagreement not shown:\n" + text)
    marked = [ln for ln in text.splitlines() if ln.startswith("!")]
    check(len(marked) == 3 and all(" b2 " in ln for ln in marked),
          "rows marked !:\n" + text)
    only = view(n1, "--node", "n2")
    check(set(only) == {("n2", "b1"), ("n2", "b2")} and only[("n2", "b2")]["state"] == "down",
          "--node n2: %r" % only)
    rc, text, err = clusterctl(n3, "lb", "health", "--node", "n2")
    check(all(ln.lstrip("! ").split()[0] == "n2" for ln in text.splitlines()[1:3]) and
          "NODE" in text.splitlines()[0] and len([ln for ln in text.splitlines()
                                                 if " hc " in ln]) == 2,
          "--node n2 text:\n" + text)
    # the operator's switch is untouched by any node's checks
    import sqlite3
    db = sqlite3.connect(os.path.join(n2.data_dir, "routing.db"), timeout=5)
    check(db.execute("SELECT healthy FROM backends WHERE id = 'b2'").fetchone()[0] == 1,
          "the replicated healthy column changed")
    db.close()
    b2.deny.clear()
    wait_until("b2 back up on n2", lambda: all_are(n1, "up"), 10 * SLOW)

    # a backend removed: every node deletes its own row for it
    clusterctl(n1, "backends", "rm", "b1")
    wait_until("no b1 row left in n3's routing.db", lambda: not any(
        b == "b1" for (_, b) in db_rows(n3)), 10 * SLOW)
    check(not any(b == "b1" for (_, b) in view(n1)), "b1 still shown")
    # every node's rows, and the rest of routing.db, the same everywhere
    digests_equal(env, nodes)

    # a node that dies: its rows stay in routing.db (nobody writes for it)
    # but stop counting
    n3.stop()
    wait_until("n3 dead in n1's members", lambda: any(
        m["name"] == "n3" and m["state"] in ("dead", "left")
        for m in json.loads(clusterctl(n1, "members", "--json")[1])), 15 * SLOW)
    s = states(n1)
    check(s == {("n1", "b2"): "up", ("n2", "b2"): "up"}, "n1's view without n3: %r" % s)
    check(db_rows(n1).get(("n3", "b2")) == "up", "n3's row: %r" % db_rows(n1))
    b1.stop()
    b2.stop()
