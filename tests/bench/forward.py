#!/usr/bin/python3
"""Forwarding over the mesh: a tunnel reached through a node that does not
hold it, against the same tunnel reached at its owner, in the same run.

    WARREN_BIN=build /usr/bin/python3 tests/bench/forward.py [--quick]

Two nodes on 127.0.0.1 and 127.0.0.2 joined by an authenticated mesh link,
the client's tunnel on node 1 (plain tunnel link, as the loopback rows of
bench.py). iperf3 single stream through the TCP tunnel's port on each node,
and the same on a second pair (127.0.0.3-4) whose mesh link has --mesh-tls;
wrk 1 KiB through the HTTP tunnel on each node; node 2's RSS with 1,000 idle
keep-alive connections forwarded to node 1.
Targets: single stream >= 0.8x the owner, 1 KiB req/s >= 0.8x, p99 added
<= 1 ms, idle cost on the forwarding node <= 4 KiB per connection.
"""
import base64
import json
import os
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import bench  # noqa: E402

FAST = ["--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms",
        "--gossip-interval", "100ms"]


def iperf_at(ip, port):
    rc, out, err = bench.run(["iperf3", "-c", ip, "-p", str(port), "-t",
                              str(bench.IPERF_SECONDS), "-P", "1", "-J"],
                             bench.IPERF_SECONDS + 30)
    j = json.loads(out)
    if "error" in j:
        raise RuntimeError("iperf3: %s" % j["error"])
    return j["end"]["sum_received"]["bits_per_second"] / 1e9


def wait_ok(fn, what, timeout=15):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if fn():
                return
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.1)
    raise RuntimeError("%s: not within %ds (%r)" % (what, timeout, last))


def start_pair(env, keys, ids, extra=()):
    """Nodes on 127.0.0.<id>, the first the seed of the others: a cluster
    of their own, joined by mesh links. Returns them."""
    nodes = []
    for i in ids:
        args = ["--tunnel-tls=false", "--max-conns-per-ip", "0", "--gossip-listen",
                "127.0.0.%d:0" % i, "--mesh-listen", "127.0.0.%d:0" % i,
                "--cluster-key-file", keys] + FAST + list(extra)
        if nodes:
            args += ["--join", nodes[0].gossip]
        n = env.node(args=args, http="127.0.0.%d:0" % i)
        n.ip = "127.0.0.%d" % i
        for _ in range(200):
            g = [e for e in n.events() if e.get("ev") == "gossip.listen"]
            if g:
                n.gossip = g[0]["addr"]
                break
            time.sleep(0.05)
        nodes.append(n)
    return nodes


def cpu_per_gib(pids_fn, fn):
    """fn() -> Gbit/s; also the CPU seconds warren's processes (pids_fn())
    spent per GiB moved."""
    hz = os.sysconf("SC_CLK_TCK")
    pids = pids_fn()
    before = sum(harness.proc_cpu_ticks(p) for p in pids) / hz
    t0 = time.monotonic()
    gbit = fn()
    gib = gbit * (time.monotonic() - t0) / 8 * 1e9 / (1 << 30)
    after = sum(harness.proc_cpu_ticks(p) for p in pids) / hz
    return gbit, (after - before) / max(gib, 1e-9)


def main():
    bench.raise_nofile()
    if not bench.have_tools("iperf3", "wrk", "nginx"):
        return 1
    workdir = tempfile.mkdtemp(prefix="warren-bench-fwd-")
    env = harness.Env("bench-forward", workdir)
    table = bench.Table()
    t0 = time.monotonic()
    ok = False
    try:
        keys = env.path("cluster.keys")
        with open(keys, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        n1, n2 = start_pair(env, keys, (1, 2))

        # iperf3 through the TCP tunnel: at its owner, and through node 2
        ip_port = harness.free_port()
        env.spawn(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(ip_port)], "iperf3")
        c = env.client(["tcp", str(ip_port), "--server", "127.0.0.1:%d" % n1.tunnel_port,
                        "--tls=false"], name="client-tcp")
        tport = c.wait_urls(1, 15)[0]["port"]
        wait_ok(lambda: harness.socket.create_connection((n2.ip, tport), 1).close() or True,
                "node 2 listening on port %d" % tport)
        try:
            warren = lambda: (harness.proc_tree(n1.pid) + harness.proc_tree(n2.pid) +
                              [c.proc.pid])
            d, dcpu = cpu_per_gib(warren, lambda: iperf_at("127.0.0.1", tport))
            t, tcpu = cpu_per_gib(warren, lambda: iperf_at(n2.ip, tport))
            print("bench: forward iperf3 -P 1: owner %.2f Gbit/s, via node 2 %.2f Gbit/s"
                  % (d, t), flush=True)
            # what bounds it on a small machine: the CPU each byte costs in
            # warren's processes (the forwarding node is one more hop)
            print("bench: forward CPU s per GiB in warren (nodes 1, 2, client): owner "
                  "%.2f, via node 2 %.2f (%d cores)" % (dcpu, tcpu, os.cpu_count()),
                  flush=True)
            table.add("fwd: warren CPU s per GiB, 1 stream (owner / via node 2)", dcpu,
                      tcpu, lambda v: "%.2f" % v, "printed", None)
            table.add("fwd: iperf3 1 stream (Gbit/s, owner / via node 2)", d, t,
                      lambda v: "%.2f" % v, ">= 0.80x", t >= 0.8 * d)
        except Exception as e:
            table.error("fwd iperf3", str(e))
            t = None

        # the same through a mesh link with --mesh-tls: a second pair of
        # nodes (127.0.0.3 holds, 127.0.0.4 forwards), the same service
        try:
            n3, n4 = start_pair(env, keys, (3, 4), ["--mesh-tls"])
            c3 = env.client(["tcp", str(ip_port), "--server", "127.0.0.1:%d" % n3.tunnel_port,
                             "--tls=false"], name="client-tcp-meshtls")
            tport3 = c3.wait_urls(1, 15)[0]["port"]
            wait_ok(lambda: harness.socket.create_connection((n4.ip, tport3), 1).close()
                    or True, "node 4 listening on port %d" % tport3)
            d3 = iperf_at(n3.ip, tport3)
            t3 = iperf_at(n4.ip, tport3)
            print("bench: forward --mesh-tls iperf3 -P 1: owner %.2f Gbit/s, via node 4 "
                  "%.2f Gbit/s" % (d3, t3), flush=True)
            table.add("fwd --mesh-tls: iperf3 1 stream (Gbit/s, owner / via node 4)", d3, t3,
                      lambda v: "%.2f" % v, "printed", None)
            if t is not None:
                table.add("fwd: iperf3 via the forwarding node (Gbit/s, plain mesh / "
                          "--mesh-tls)", t, t3, lambda v: "%.2f" % v, "printed", None)
            c3.kill()
            for n in (n4, n3):
                n.stop()
        except Exception as e:
            table.error("fwd --mesh-tls iperf3", str(e))

        # wrk 1 KiB through the HTTP tunnel
        nginx_port = bench.start_nginx(env)
        client, url = env.http_tunnel(n1, nginx_port, "fwd", extra=["--tls=false"],
                                      name="client-http")
        host = url["host"]
        wait_ok(lambda: harness.curl(["-o", "/dev/null", "-w", "%{http_code}", "-H",
                                      "Host: " + host, "http://%s:%d/1k.bin"
                                      % (n2.ip, n2.http_port)]).stdout == b"200",
                "node 2 forwarding %s" % host)
        try:
            d = bench.wrk("http://127.0.0.1:%d/1k.bin" % n1.http_port, host)
            t = bench.wrk("http://%s:%d/1k.bin" % (n2.ip, n2.http_port), host)
            print("bench: forward wrk 1 KiB: owner %.0f req/s p99 %.2f ms, via node 2 %.0f "
                  "req/s p99 %.2f ms %s" % (d["rps"], d["p99"], t["rps"], t["p99"],
                                            t["errors"]), flush=True)
            table.add("fwd: wrk 1 KiB req/s (owner / via node 2)", d["rps"], t["rps"],
                      lambda v: "%.0f" % v, ">= 0.80x",
                      t["rps"] >= 0.8 * d["rps"] and not t["errors"])
            table.add("fwd: wrk 1 KiB p99 ms (owner / via node 2)", d["p99"], t["p99"],
                      lambda v: "%.2f" % v, "+<= 1 ms", t["p99"] - d["p99"] <= 1.0)
        except Exception as e:
            table.error("fwd wrk", str(e))

        # idle keep-alive connections held through node 2
        try:
            time.sleep(2)
            before = n2.rss_kib()
            socks = []
            import socket as so
            req = b"GET /1k.bin HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode()
            for _ in range(bench.IDLE_CONNS):
                s = so.create_connection((n2.ip, n2.http_port), timeout=10)
                s.sendall(req)
                socks.append(s)
            for s in socks:
                got = b""
                while b"\r\n\r\n" not in got or len(got) < 1024:
                    b = s.recv(65536)
                    if not b:
                        break
                    got += b
            time.sleep(2)
            after = n2.rss_kib()
            per = (after - before) / bench.IDLE_CONNS
            print("bench: forward idle: node 2 RSS %d -> %d KiB" % (before, after), flush=True)
            table.add("fwd: KiB per idle conn on the forwarding node", None, per,
                      lambda v: "%.2f" % v, "<= 4 KiB", per <= 4)
            for s in socks:
                s.close()
        except Exception as e:
            table.error("fwd idle", str(e))
        ok = True
    except Exception as e:
        table.error("setup", str(e))
        print(env.diagnostics(), file=sys.stderr)
    finally:
        env.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return table.finish("warren bench: forwarding over the mesh", "loopback",
                        time.monotonic() - t0, ok)


if __name__ == "__main__":
    sys.exit(main())
