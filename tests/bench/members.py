#!/usr/bin/python3
"""Membership bandwidth: bytes per second per node, idle and under churn.

    WARREN_BIN=build /usr/bin/python3 tests/bench/members.py [--quick]

1. Simulation: the swim core's own counters (build/tests/test_swim prints
   sealed UDP + TCP push-pull bytes per node for n = 10 and 50, idle and
   with a metadata change every second and a leave + rejoin every 10 s).
2. Real processes: N warren-gossip processes on 127.0.0.1 (LAN profile,
   sealed with a cluster key), counters read with SIGUSR1 (ev=gossip.stats)
   before and after each window. Idle: nothing happens. Churn: one node
   leaves (SIGTERM) and comes back on the same address every 3 s; the
   figure is the mean over the nodes that stayed up.

Prints one table; exit 1 if a measurement could not be made.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
import harness  # noqa: E402

QUICK = "--quick" in sys.argv
WINDOW_S = 8 if QUICK else 20
SIZES = (10, 50)


def sim_figures():
    exe = os.path.join(harness.bin_dir(), "tests", "test_swim")
    if not os.access(exe, os.X_OK):
        raise RuntimeError("%s is missing (make build/tests/test_swim)" % exe)
    out = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=120).stdout.decode(errors="replace")
    res = {}
    for m in re.finditer(r"n=(\d+) membership bytes/s per node.*?idle=(\d+) churn=(\d+)", out):
        res[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    if not res:
        raise RuntimeError("test_swim printed no bandwidth lines:\n" + out[-2000:])
    return res


class Gossip:
    def __init__(self, root, i, key, join, listen="127.0.0.1:0"):
        self.root, self.i, self.key, self.join = root, i, key, join
        self.name = "g%02d" % i
        self.data = os.path.join(root, self.name)
        self.log = os.path.join(root, self.name + ".log")
        self.listen = listen
        self.addr = None
        self.start()

    def start(self):
        argv = [os.path.join(harness.bin_dir(), "warren-gossip"), "--data-dir", self.data,
                "--name", self.name, "--gossip-listen", self.listen,
                "--cluster-key-file", self.key, "--log-level", "info"]
        if self.join:
            argv += ["--join", self.join]
        self.logf = open(self.log, "ab")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                  stderr=self.logf, start_new_session=True)

    def lines(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()

    def wait_addr(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for l in self.lines():
                if "ev=gossip.listen" in l:
                    self.addr = harness.logfmt(l)["addr"]
                    self.listen = self.addr
                    return self.addr
            time.sleep(0.05)
        raise RuntimeError("%s did not listen:\n%s" % (self.name, "\n".join(self.lines()[-10:])))

    def alive_members(self):
        """Members currently up as this node's log tells (joins minus downs)."""
        state = {}
        for l in self.lines():
            if "ev=member." in l:
                ev = harness.logfmt(l)
                state[ev.get("name")] = ev.get("state")
        return sum(1 for s in state.values() if s == "alive")

    def stats_line(self):
        """Sends SIGUSR1 and returns the gossip.stats line it printed, as a
        dict."""
        seen = sum(1 for l in self.lines() if "ev=gossip.stats" in l)
        os.kill(self.p.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            st = [l for l in self.lines() if "ev=gossip.stats" in l]
            if len(st) > seen:
                return harness.logfmt(st[seen])
            time.sleep(0.02)
        raise RuntimeError("%s printed no stats" % self.name)

    def stats(self):
        """tx bytes (sealed UDP + TCP) of a fresh gossip.stats line."""
        ev = self.stats_line()
        return int(ev["udp_tx_bytes"]) + int(ev["tcp_tx_bytes"])

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        self.logf.close()


def measure(nodes, seconds, during=None):
    """Mean tx bytes/s per node over `seconds` among nodes[1:] (node 0 may
    be restarted by `during`)."""
    steady = nodes[1:-1]
    before = {}
    for g in steady:
        before[g.name] = g.stats()
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if during:
            during()
        else:
            time.sleep(0.2)
    dt = time.monotonic() - t0
    total = 0
    for g in steady:
        total += g.stats() - before[g.name]
    return total / len(steady) / dt


def real_figures(n):
    root = tempfile.mkdtemp(prefix="warren-bench-members-")
    key = os.path.join(root, "cluster.keys")
    with open(key, "w") as f:
        import base64
        f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    nodes = []
    try:
        first = Gossip(root, 0, key, "")
        nodes.append(first)
        seed = first.wait_addr()
        for i in range(1, n):
            nodes.append(Gossip(root, i, key, seed))
        for g in nodes:
            g.wait_addr()
        deadline = time.monotonic() + 30
        while min(g.alive_members() for g in nodes) < n - 1:
            if time.monotonic() > deadline:
                raise RuntimeError("n=%d did not converge in 30 s" % n)
            time.sleep(0.3)
        time.sleep(3)       # let the join broadcasts die down
        idle = measure(nodes, WINDOW_S)
        churner = nodes[-1]
        last = [time.monotonic()]

        def churn():
            if time.monotonic() - last[0] >= 3:
                last[0] = time.monotonic()
                churner.stop()
                churner.start()
            time.sleep(0.1)
        busy = measure(nodes, WINDOW_S, churn)
        return idle, busy
    finally:
        for g in nodes:
            try:
                g.stop()
            except Exception:
                pass
        shutil.rmtree(root, ignore_errors=True)


def main():
    failed = False
    rows = []
    try:
        sim = sim_figures()
        for n in SIZES:
            if n in sim:
                rows.append(("simulation", n, sim[n][0], sim[n][1]))
    except Exception as e:
        print("members: simulation failed: %s" % e)
        failed = True
    for n in SIZES:
        try:
            idle, busy = real_figures(n)
            rows.append(("real processes", n, idle, busy))
        except Exception as e:
            print("members: n=%d real processes failed: %s" % (n, e))
            failed = True
    print()
    print("membership bandwidth, bytes/s sent per node (sealed UDP + TCP push-pull), "
          "LAN profile, %ds windows" % WINDOW_S)
    print("%-16s %4s %10s %10s" % ("source", "N", "idle", "churn"))
    for src, n, idle, busy in rows:
        print("%-16s %4d %10.0f %10.0f" % (src, n, idle, busy))
    print("  churn: simulation = a metadata change every second and a leave + rejoin "
          "every 10 s;\n         real = one node leaving and rejoining every 3 s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
