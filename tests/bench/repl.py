#!/usr/bin/python3
"""Replication of routing.db with real processes: how fast a change reaches
every node, how much it costs on the wire, and how a node catches up.

    WARREN_BIN=build /usr/bin/python3 tests/bench/repl.py [--quick]

warren-gossip processes on 127.0.0.1 (LAN profile, sealed with a cluster
key); writes are made the way an operator's sqlite3 shell makes them, on
one node's routing.db (gossip notices them within its 100 ms poll, which
the figures include); visibility is read from every node's routing.db.

1. propagation, N = 10: a row written on a random node, time until every
   node holds it (p50, p99, max over the writes); bytes sent per change
   (replication datagrams and pulls, plaintext) and idle replication
   traffic per node.
2. 10,000 tunnel claims spread over 5 nodes: time until every node holds
   all of them.
3. a node with an empty routing.db joining 4 nodes that hold 100,000 rows:
   time to a full copy, and how many members anyone suspected meanwhile.
4. a partition (the two halves sealed under different keys) with writes on
   both sides, then healed (every node holds both keys): time until every
   node holds the same rows.

Prints one table; exit 1 if a measurement could not be made.
"""
import base64
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
import harness  # noqa: E402
import members  # noqa: E402

QUICK = "--quick" in sys.argv
WRITES = 20 if QUICK else 50
CLAIMS = 2000 if QUICK else 10000
BULK = 20000 if QUICK else 100000
PARTITION_S = 10 if QUICK else 60
IDLE_S = 5 if QUICK else 15


class Gossip(members.Gossip):
    """members.py's warren-gossip process, with its routing.db at hand and
    the replication counters of its stats line."""

    def __init__(self, root, i, keyfile, join):
        self.keyfile = keyfile
        self.db = None
        super().__init__(root, i, keyfile, join)

    def conn(self):
        if self.db is None:
            deadline = time.monotonic() + 10
            path = os.path.join(self.data, "routing.db")
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.db = sqlite3.connect(path, timeout=10, isolation_level=None)
            # as gossip's own connection: WAL commits without an fsync each
            self.db.execute("PRAGMA synchronous=NORMAL")
        return self.db

    def count(self, sql, *args):
        return self.conn().execute(sql, args).fetchone()[0]

    def alive(self):
        return self.alive_members()

    def downs(self):
        return sum(1 for l in self.lines() if "ev=member.down" in l)

    def stats(self):
        """Replication bytes sent (datagrams and pulls) from the stats
        line SIGUSR1 prints."""
        ev = self.stats_line()
        return int(ev["repl_tx_bytes"]) + int(ev["repl_sync_tx_bytes"])

    def stop(self):
        if self.db is not None:
            self.db.close()
            self.db = None
        super().stop()


def keyfile(root, name, *keys):
    path = os.path.join(root, name)
    with open(path, "w") as f:
        for k in keys:
            f.write(base64.b64encode(k).decode() + "\n")
    return path


def cluster(root, n, keys=None):
    key = os.urandom(32)
    nodes = []
    for i in range(n):
        kf = keyfile(root, "keys-%d" % i, key) if keys is None else keys(i)
        g = Gossip(root, i, kf, nodes[0].addr if nodes else "")
        g.wait_addr()
        nodes.append(g)
    deadline = time.monotonic() + 30
    while min(g.alive() for g in nodes) < n - 1:
        if time.monotonic() > deadline:
            raise RuntimeError("n=%d did not converge in 30 s" % n)
        time.sleep(0.2)
    return nodes


def wait_all(nodes, pred, timeout):
    t0 = time.monotonic()
    while True:
        if all(pred(g) for g in nodes):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.002 if timeout < 5 else 0.05)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))]


BACKEND = ("INSERT INTO backends (id, app, region, wg_ip, port, healthy, weight,"
           " soft_limit, hard_limit, deleted) VALUES (?, 'app', 'eu', '10.1.0.1',"
           " 8080, 1, 1, 100, 200, 0)")


def propagation(root):
    nodes = cluster(root, 10)
    time.sleep(2)
    before = sum(g.stats() for g in nodes)
    lat = []
    for w in range(WRITES):
        g = random.choice(nodes)
        key = "p%d" % w
        t0 = time.monotonic()
        g.conn().execute(BACKEND, (key,))
        t = wait_all(nodes, lambda x: x.count("SELECT count(*) FROM backends WHERE id = ?",
                                              key) == 1, 30)
        if t is None:
            raise RuntimeError("write %s not everywhere in 30 s" % key)
        lat.append(time.monotonic() - t0)
        time.sleep(0.05)
    sent = sum(g.stats() for g in nodes) - before
    time.sleep(2)
    i0 = sum(g.stats() for g in nodes)
    time.sleep(IDLE_S)
    idle = (sum(g.stats() for g in nodes) - i0) / len(nodes) / IDLE_S
    for g in nodes:
        g.stop()
    return lat, sent / WRITES, idle


def claims(root):
    nodes = cluster(root, 5)
    t0 = time.monotonic()
    per = CLAIMS // len(nodes)
    for g in nodes:
        c = g.conn()
        for k in range(per):
            c.execute("INSERT INTO tunnels (id, name, kind, host, node, session, client_id,"
                      " state, claimed) VALUES (?, ?, 'http', ?, ?, 1, 'c', 'online', 1)",
                      ("http:%s-%d.x@%s/1" % (g.name, k, g.name), "http:%s-%d.x" % (g.name, k),
                       "%s-%d.x" % (g.name, k), g.name))
    wrote = time.monotonic() - t0
    t = wait_all(nodes, lambda x: x.count("SELECT count(*) FROM tunnels") == CLAIMS, 120)
    for g in nodes:
        g.stop()
    if t is None:
        raise RuntimeError("%d claims not everywhere in 120 s" % CLAIMS)
    return wrote + t, wrote


def bulk_join(root):
    nodes = cluster(root, 4)
    c = nodes[0].conn()
    c.execute("BEGIN")
    c.executemany(BACKEND, (("bulk%d" % i,) for i in range(BULK)))
    c.execute("COMMIT")
    t_spread = wait_all(nodes, lambda x: x.count("SELECT count(*) FROM backends") == BULK, 300)
    if t_spread is None:
        raise RuntimeError("%d rows not on the 4 nodes in 300 s" % BULK)
    downs = sum(g.downs() for g in nodes)
    fresh = Gossip(root, 9, nodes[0].keyfile, nodes[0].addr)
    fresh.wait_addr()
    t0 = time.monotonic()
    t = wait_all([fresh], lambda x: os.path.exists(os.path.join(x.data, "routing.db")) and
                 x.count("SELECT count(*) FROM backends") == BULK, 300)
    time.sleep(1)
    suspected = sum(g.downs() for g in nodes + [fresh]) - downs
    for g in nodes + [fresh]:
        g.stop()
    if t is None:
        raise RuntimeError("the fresh node did not get %d rows in 300 s" % BULK)
    return t_spread, time.monotonic() - t0 - 1, suspected


def partition(root):
    ka, kb = os.urandom(32), os.urandom(32)
    nodes = cluster(root, 6, keys=lambda i: keyfile(root, "pk-%d" % i, ka))
    side = {g.name: (i % 2) for i, g in enumerate(nodes)}
    for g in nodes:
        keyfile(root, os.path.basename(g.keyfile), ka if side[g.name] == 0 else kb)
        os.kill(g.p.pid, signal.SIGHUP)
    t0 = time.monotonic()
    k = 0
    while time.monotonic() - t0 < PARTITION_S:
        g = random.choice(nodes)
        g.conn().execute(BACKEND, ("s%d-%s" % (k, g.name),))
        k += 1
        time.sleep(0.05)
    for g in nodes:
        keyfile(root, os.path.basename(g.keyfile), *((ka, kb) if side[g.name] == 0 else (kb, ka)))
        os.kill(g.p.pid, signal.SIGHUP)
    want = k

    def same(x):
        return x.count("SELECT count(*) FROM backends") == want
    t = wait_all(nodes, same, 60)
    ids = {g.name: [r[0] for r in g.conn().execute("SELECT id FROM backends ORDER BY id")]
           for g in nodes}
    for g in nodes:
        g.stop()
    if t is None or len({tuple(v) for v in ids.values()}) != 1:
        raise RuntimeError("the halves did not merge within 60 s of healing")
    return t, k


def main():
    random.seed(1)
    root = tempfile.mkdtemp(prefix="warren-bench-repl-")
    rows = []
    failed = False
    try:
        for name, fn in (("propagation", propagation), ("claims", claims),
                         ("bulk", bulk_join), ("partition", partition)):
            sub = os.path.join(root, name)
            os.makedirs(sub)
            try:
                rows.append((name, fn(sub)))
            except Exception as e:
                print("repl: %s failed: %s" % (name, e))
                failed = True
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print("replication of routing.db, real warren-gossip processes on loopback, writes "
          "by sqlite3 (gossip's 100 ms poll included)")
    for name, r in rows:
        if name == "propagation":
            lat, per_change, idle = r
            print("  a write on every node, N=10, %d writes: p50 %.0f ms, p99 %.0f ms, "
                  "max %.0f ms (target p99 <= 1 s)" % (len(lat), pct(lat, 50) * 1e3,
                                                       pct(lat, 99) * 1e3, max(lat) * 1e3))
            print("  bytes sent per change, whole cluster: %.0f; idle replication traffic "
                  "per node: %.0f B/s" % (per_change, idle))
        elif name == "claims":
            print("  %d tunnel claims over 5 nodes: every node complete after %.1f s "
                  "(writing them took %.1f s; target 10 s)" % (CLAIMS, r[0], r[1]))
        elif name == "bulk":
            print("  %d rows: on 4 nodes after %.1f s; an empty node joining holds them "
                  "all after %.1f s (target 10 s); members suspected meanwhile: %d"
                  % (BULK, r[0], r[1], r[2]))
        elif name == "partition":
            print("  a %d s partition with %d writes on both sides: every node holds the "
                  "same rows %.1f s after healing (target 5 s)" % (PARTITION_S, r[1], r[0]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
