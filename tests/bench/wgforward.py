#!/usr/bin/python3
"""Forwarding over the WireGuard mesh, and failover, on the namespaces of
tests/cluster/wgmesh.py (root only).

    WARREN_BIN=build /usr/bin/python3 tests/bench/wgforward.py [--quick]

- Throughput: iperf3 single stream from namespace B to namespace A over
  the WireGuard addresses (what the WireGuard path alone carries), against
  iperf3 from B through node B's public port of a TCP tunnel held by node A
  (its client and the iperf3 server in A): the bytes cross the same
  WireGuard link once, on a mesh link. Target >= 0.9x.
- Failover: an HTTP tunnel's client (one session, --server X,Y,Z) on the
  public side, holding its name on X; kill -9 of X, time until the URL
  answers 200 through both surviving nodes; X is started again, and the
  next trial kills the next node. Median and max over 10 trials.
- A machine gone without a word (the holder's veth down): when gossip
  marks it dead, and when the URL answers through the others again.
- With --ha (sessions to two nodes): a request loop through the two nodes
  that stay, across kill -9 of the holder, counts failed requests over the
  trials; and the URL's recovery when the holder's link goes down.
"""
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import bench  # noqa: E402
import wgmesh  # noqa: E402

TRIALS = 3 if bench.QUICK else 10


def iperf_ns(mesh, ns, ip, port):
    import json
    import subprocess
    r = subprocess.run(["ip", "netns", "exec", mesh.nsname(ns), "iperf3", "-c", ip, "-p",
                        str(port), "-t", str(bench.IPERF_SECONDS), "-P", "1", "-J"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=bench.IPERF_SECONDS + 30)
    j = json.loads(r.stdout or b"{}")
    if "error" in j or "end" not in j:
        raise RuntimeError("iperf3 %s:%d from %s: %s" % (ip, port, ns, j.get("error", r.stderr)))
    return j["end"]["sum_received"]["bits_per_second"] / 1e9


def wait(fn, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise RuntimeError("%s: not within %ds" % (what, timeout))


def cpu_groups(mesh, client):
    """Processes whose CPU time bounds the rate -> {group: [pid, ...]}."""
    g = {"wireguard-go": [p.pid for p in mesh.wgprocs],
         "warren (nodes A, B, client)": harness.proc_tree(mesh.nodes["A"].pid) +
         harness.proc_tree(mesh.nodes["B"].pid) + [client.proc.pid]}
    return g


def cpu_s(pids):
    return sum(harness.proc_cpu_ticks(p) for p in pids) / os.sysconf("SC_CLK_TCK")


def measured(groups, fn):
    """fn() -> Gbit/s; also the CPU seconds each group spent per GiB."""
    before = {k: cpu_s(v) for k, v in groups.items()}
    t0 = time.monotonic()
    gbit = fn()
    gib = gbit * (time.monotonic() - t0) / 8 * 1e9 / (1 << 30)
    return gbit, {k: (cpu_s(v) - before[k]) / max(gib, 1e-9) for k, v in groups.items()}


def throughput(mesh, table):
    """Alternates the two paths (the machine's load moves): the best run of
    each is compared, and the CPU each path costs per GiB is printed: on a
    machine where wireguard-go takes the cores, the forwarding processes'
    share is what the forwarded path loses."""
    mesh.proc("A", "iperf3-wg", ["iperf3", "-s", "-B", "10.99.1.1", "-p", "5201"])
    mesh.proc("A", "iperf3-svc", ["iperf3", "-s", "-B", "127.0.0.1", "-p", "5202"])
    c = mesh.client("A", ["tcp", "5202", "--server", "10.99.0.1:7000", "--tls=false"],
                    name="client-iperf")
    port = c.wait_urls(1, 15)[0]["port"]
    wait(lambda: wgmesh.holder(mesh, "B", ":%d" % port) == "nodeA", "port held by A at B")
    time.sleep(1)       # B's acceptor opens the port from its table
    groups = cpu_groups(mesh, c)
    runs = {"wg": [], "fwd": []}
    for _ in range(1 if bench.QUICK else 2):
        runs["wg"].append(measured(groups, lambda: iperf_ns(mesh, "B", "10.99.1.1", 5201)))
        runs["fwd"].append(measured(groups, lambda: iperf_ns(mesh, "B", "10.99.0.2", port)))
    wg = max(runs["wg"], key=lambda r: r[0])
    fwd = max(runs["fwd"], key=lambda r: r[0])
    print("bench: wg iperf3 -P 1 B->A: WireGuard alone %s Gbit/s, through node B's mesh "
          "link %s Gbit/s (best %.2f / %.2f)"
          % (" ".join("%.2f" % r[0] for r in runs["wg"]),
             " ".join("%.2f" % r[0] for r in runs["fwd"]), wg[0], fwd[0]), flush=True)
    for name, r in (("WireGuard alone", wg), ("forwarded", fwd)):
        print("bench: wg CPU s per GiB, %s: %s (%d cores)" % (
            name, ", ".join("%s %.2f" % kv for kv in r[1].items()), os.cpu_count()),
            flush=True)
    table.add("wg: iperf3 1 stream (Gbit/s, WireGuard alone / forwarded)", wg[0], fwd[0],
              lambda v: "%.2f" % v, ">= 0.90x", fwd[0] >= 0.9 * wg[0])
    c.kill()


def failover(mesh, table, env):
    """Each trial a fresh client (its reconnect back-off at its start, as
    for a client whose session had been up a while: the back-off grows
    only over failures less than 10 s apart), holding its name on the node
    killed next (the first of its --server list)."""
    svc = mesh.service("hub", "http", "wg")
    times = []
    for trial in range(TRIALS):
        x = wgmesh.NODES[trial % 3]
        survivors = [y for y in wgmesh.NODES if y != x]
        host = "wg%d.localhost" % trial
        c = mesh.client("hub", ["http", str(svc), "--server", mesh.servers([x] + survivors),
                                "--subdomain", "wg%d" % trial, "--tls=false"],
                        name="client-wg%d" % trial)
        c.wait_urls(1, 15)
        mesh.wait_status("ABC", host, timeout=20)
        h = wgmesh.holder(mesh, survivors[0], host)
        if h != "node" + x:
            raise RuntimeError("trial %d: %s held by %r, not node%s" % (trial, host, h, x))
        t0 = time.monotonic()
        mesh.nodes[x].kill_tree()
        while not all(mesh.status(y, host, timeout=1) == 200 for y in survivors):
            if time.monotonic() - t0 > 60:
                raise RuntimeError("trial %d: %s does not answer through %s"
                                   % (trial, host, survivors))
            time.sleep(0.02)
        took = time.monotonic() - t0
        times.append(took)
        print("bench: wg failover trial %d: kill -9 of node%s -> 200 through node%s and "
              "node%s after %.3fs" % (trial + 1, x, survivors[0], survivors[1], took),
              flush=True)
        c.kill()
        # back to three nodes before the next trial
        mesh.start_node(x)
        wgmesh.alive_everywhere(mesh, wgmesh.NODES, timeout=30)
    med, mx = statistics.median(times), max(times)
    print("bench: wg failover over %d trials: median %.3fs, max %.3fs" % (len(times), med, mx),
          flush=True)
    table.add("wg: failover after kill -9, median s (%d trials)" % len(times), None, med,
              lambda v: "%.3f" % v, "printed", None)
    table.add("wg: failover after kill -9, max s (%d trials)" % len(times), None, mx,
              lambda v: "%.3f" % v, "printed", None)


def vanish(mesh, table):
    """The holder's machine gone without a word: its veth down (gossip and
    the client's session both cross it), nothing closes. The client finds
    out by its keepalive (--dead-timeout, 30 s by default); the survivors
    by gossip, after which the name has no live holder until the client
    is back."""
    svc = mesh.service("hub", "http", "wgv")
    host = "wgv.localhost"
    c = mesh.client("hub", ["http", str(svc), "--server", mesh.servers("ABC"),
                            "--subdomain", "wgv", "--tls=false"], name="client-wgv")
    c.wait_urls(1, 15)
    mesh.wait_status("ABC", host, timeout=20)
    t0 = time.monotonic()
    wgmesh.sh("ip", "-n", mesh.ns["A"], "link", "set", "vA", "down")
    try:
        dead = mesh.wait("BC", "nodeA", "dead", 30)
        while not all(mesh.status(y, host, timeout=1) == 200 for y in "BC"):
            if time.monotonic() - t0 > 90:
                raise RuntimeError("%s does not answer through B and C" % host)
            time.sleep(0.05)
        took = time.monotonic() - t0
    finally:
        wgmesh.sh("ip", "-n", mesh.ns["A"], "link", "set", "vA", "up")
    print("bench: wg holder's link down (no FIN): nodeA dead at B and C after %.2fs, %s "
          "answers through them after %.2fs (the client's --dead-timeout is 30 s)"
          % (dead, host, took), flush=True)
    table.add("wg: failover after the holder's link went down, s (gossip dead)", None, dead,
              lambda v: "%.2f" % v, "printed", None)
    table.add("wg: failover after the holder's link went down, s (URL answers)", None, took,
              lambda v: "%.2f" % v, "printed", None)
    c.kill()


def ha_failover(mesh, table):
    """--ha: the client holds sessions on two nodes. A request loop through
    the two nodes that stay, across kill -9 of the route's holder: failed
    requests counted over the trials. Then the holder's link down (no FIN):
    when the URL answers through the others."""
    import threading
    svc = mesh.service("hub", "http", "ha")
    host = "ha.localhost"
    c = mesh.client("hub", ["http", str(svc), "--server", mesh.servers("ABC"), "--ha",
                            "--subdomain", "ha", "--tls=false"], name="client-ha")
    c.wait_urls(1, 15)
    mesh.wait_status("ABC", host, timeout=20)
    failed, sent = 0, 0
    for trial in range(TRIALS):
        time.sleep(1.0)     # both sessions registered and spread
        x = wgmesh.holder(mesh, "A", host) or ""
        x = x[-1:] if x.startswith("node") else "A"
        survivors = [y for y in wgmesh.NODES if y != x]
        stop, res = threading.Event(), []

        def loop():
            i = 0
            while not stop.is_set():
                res.append(mesh.status(survivors[i % 2], host, timeout=3))
                i += 1
                time.sleep(0.005)
        th = threading.Thread(target=loop)
        th.start()
        try:
            time.sleep(0.3)
            mesh.nodes[x].kill_tree()
            time.sleep(2.0)
        finally:
            stop.set()
            th.join()
        bad = sum(1 for st in res if st != 200)
        failed += bad
        sent += len(res)
        print("bench: --ha trial %d: kill -9 of node%s, %d of %d requests through node%s "
              "and node%s failed" % (trial + 1, x, bad, len(res), survivors[0],
                                     survivors[1]), flush=True)
        mesh.start_node(x)
        wgmesh.alive_everywhere(mesh, wgmesh.NODES, timeout=30)
    print("bench: --ha failover over %d trials: %d of %d requests failed"
          % (TRIALS, failed, sent), flush=True)
    table.add("wg: --ha, requests failed across kill -9 of the holder (%d trials, %d sent)"
              % (TRIALS, sent), None, failed, lambda v: "%d" % v, "printed", None)
    time.sleep(1.0)
    x = wgmesh.holder(mesh, "A", host) or "nodeA"
    x = x[-1:]
    survivors = [y for y in wgmesh.NODES if y != x]
    t0 = time.monotonic()
    wgmesh.sh("ip", "-n", mesh.ns[x], "link", "set", "v" + x, "down")
    try:
        while not all(mesh.status(y, host, timeout=1) == 200 for y in survivors):
            if time.monotonic() - t0 > 60:
                raise RuntimeError("%s does not answer through %s" % (host, survivors))
            time.sleep(0.05)
        took = time.monotonic() - t0
    finally:
        wgmesh.sh("ip", "-n", mesh.ns[x], "link", "set", "v" + x, "up")
    print("bench: --ha, holder's link down (no FIN): %s answers through node%s and node%s "
          "after %.2fs" % (host, survivors[0], survivors[1], took), flush=True)
    table.add("wg: --ha, failover after the holder's link went down, s", None, took,
              lambda v: "%.2f" % v, "printed", None)
    c.kill()


def main():
    why = wgmesh.missing_reason()
    if why is None and not shutil.which("iperf3"):
        why = "iperf3 is missing (make deps)"
    if why:
        print("bench: wgforward skipped: %s" % why, flush=True)
        return 0
    workdir = tempfile.mkdtemp(prefix="warren-bench-wg-")
    env = harness.Env("bench-wg", workdir)
    table = bench.Table()
    t0 = time.monotonic()
    ok = False
    mesh = wgmesh.Mesh(env)
    try:
        mesh.setup()
        mesh.start_nodes()
        wgmesh.alive_everywhere(mesh, wgmesh.NODES)
        try:
            throughput(mesh, table)
        except Exception as e:
            table.error("wg iperf3", str(e))
        try:
            failover(mesh, table, env)
        except Exception as e:
            table.error("wg failover", str(e))
        try:
            vanish(mesh, table)
        except Exception as e:
            table.error("wg vanish", str(e))
        try:
            ha_failover(mesh, table)
        except Exception as e:
            table.error("wg --ha failover", str(e))
        ok = True
    except Exception as e:
        table.error("setup", str(e))
        print(env.diagnostics(), file=sys.stderr)
    finally:
        mesh.teardown()
        env.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return table.finish("warren bench: forwarding and failover over a WireGuard mesh",
                        "wireguard-go, 3 namespaces", time.monotonic() - t0, ok)


if __name__ == "__main__":
    sys.exit(main())
