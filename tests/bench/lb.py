#!/usr/bin/python3
"""`--lb-listen` against haproxy doing the same L4 job, in the same run.

    WARREN_BIN=build /usr/bin/python3 tests/bench/lb.py [--quick]

One backend per job on loopback: an iperf3 server and nginx (1 KiB file).
warren-node proxies to them from two --lb-listen ports (the backends rows
written with sqlite3); haproxy (mode tcp, one thread, as the acceptor has
one) from two frontends. Each row measures both through the same backend,
one after the other: iperf3 single stream, wrk 1 KiB requests/s (-c50 -t2),
and the RSS added by 1,000 idle connections held through each (warren: the
acceptor; haproxy: its process). Throughput rows are the medians of three
interleaved rounds (one with --quick). Ratios are warren / haproxy.
Targets (issue 10): single stream >= 1.0x, 1 KiB req/s >= 1.0x, <= 4 KiB
per idle connection.
"""
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import bench  # noqa: E402

ROUNDS = 1 if bench.QUICK else 3        # medians of interleaved rounds


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %d" % port)


def start_haproxy(env, iperf_port, web_port):
    fe_iperf, fe_web = harness.free_port(), harness.free_port()
    conf = env.path("haproxy.cfg")
    with open(conf, "w") as f:
        f.write("""global
    maxconn 4096
    nbthread 1
defaults
    mode tcp
    timeout connect 3s
    timeout client 300s
    timeout server 300s
frontend iperf
    bind 127.0.0.1:%d
    default_backend iperf
backend iperf
    server s1 127.0.0.1:%d
frontend web
    bind 127.0.0.1:%d
    default_backend web
backend web
    server s1 127.0.0.1:%d
""" % (fe_iperf, iperf_port, fe_web, web_port))
    p = env.spawn(["haproxy", "-db", "-f", conf], "haproxy")
    wait_port(fe_iperf)
    wait_port(fe_web)
    return p, fe_iperf, fe_web


def lb_ports(node, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ports = {e.get("app"): int(e["addr"].rsplit(":", 1)[1]) for e in node.events()
                 if e.get("ev") == "lb.listen"}
        if len(ports) == 2:
            return ports
        time.sleep(0.05)
    raise RuntimeError("no lb.listen lines")


def main():
    bench.raise_nofile()
    if not bench.have_tools("iperf3", "wrk", "nginx", "haproxy"):
        return 1
    workdir = tempfile.mkdtemp(prefix="warren-bench-lb-")
    env = harness.Env("bench-lb", workdir)
    table = bench.Table("haproxy", "warren")
    t0 = time.monotonic()
    ok = False
    try:
        iperf_port = harness.free_port()
        env.spawn(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(iperf_port)], "iperf3")
        web_port = bench.start_nginx(env)
        wait_port(iperf_port)
        hp, h_iperf, h_web = start_haproxy(env, iperf_port, web_port)
        node = env.node(["--max-conns-per-ip", "0", "--region", "eu",
                         "--lb-listen", "127.0.0.1:0=iperf", "--lb-listen", "127.0.0.1:0=web"])
        ports = lb_ports(node)
        db = sqlite3.connect(os.path.join(node.data_dir, "routing.db"), timeout=5)
        db.executemany("INSERT INTO backends VALUES (?,?,?,?,?,1,1,100000,0,0)",
                       [("iperf-1", "iperf", "eu", "127.0.0.1", iperf_port),
                        ("web-1", "web", "eu", "127.0.0.1", web_port)])
        db.commit()
        db.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", ports["web"]), timeout=2)
                s.sendall(b"GET /1k.bin HTTP/1.0\r\n\r\n")
                if s.recv(12).startswith(b"HTTP/1.1 200"):
                    s.close()
                    break
                s.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the lb listener never reached nginx")
            time.sleep(0.1)
        print("bench: warren lb on :%d (iperf) :%d (web), haproxy on :%d :%d"
              % (ports["iperf"], ports["web"], h_iperf, h_web), flush=True)

        def row(name, h, w, fmt, target, good):
            table.add(name, h, w, lambda v: fmt % v, target,
                      None if good is None else good(w / h if h else float("nan"), w))

        def median(v):
            v = sorted(v)
            return v[len(v) // 2]

        try:
            hs, ws = [], []
            for _ in range(ROUNDS):     # interleaved: the load moves under both
                hs.append(bench.iperf(h_iperf, 1))
                ws.append(bench.iperf(ports["iperf"], 1))
                print("bench: iperf3 1 stream: haproxy %.2f Gbit/s, warren %.2f"
                      % (hs[-1], ws[-1]), flush=True)
            h, w = median(hs), median(ws)
            row("iperf3 1 stream (Gbit/s)", h, w, "%.2f", ">= 1.00x", lambda r, v: r >= 1.0)
        except Exception as e:
            table.error("iperf3", str(e))
        try:
            hs, ws = [], []
            for _ in range(ROUNDS):
                hs.append(bench.wrk("http://127.0.0.1:%d/1k.bin" % h_web, "bench"))
                ws.append(bench.wrk("http://127.0.0.1:%d/1k.bin" % ports["web"], "bench"))
                print("bench: wrk 1 KiB: haproxy %.0f req/s p99 %.2f ms, warren %.0f req/s "
                      "p99 %.2f ms" % (hs[-1]["rps"], hs[-1]["p99"], ws[-1]["rps"],
                                       ws[-1]["p99"]), flush=True)
            h = {"rps": median([x["rps"] for x in hs]), "p99": median([x["p99"] for x in hs])}
            w = {"rps": median([x["rps"] for x in ws]), "p99": median([x["p99"] for x in ws]),
                 "errors": "; ".join(x["errors"] for x in ws if x["errors"])}
            row("wrk 1 KiB req/s", h["rps"], w["rps"], "%.0f", ">= 1.00x",
                lambda r, v: r >= 1.0 and not w["errors"])
            row("wrk 1 KiB p99 (ms)", h["p99"], w["p99"], "%.2f", "", None)
        except Exception as e:
            table.error("wrk", str(e))
        try:
            acc = node.child_pid("acceptor")
            h = bench.idle_kib(lambda: harness.proc_status(hp.p.pid, "VmRSS"), h_web,
                               bench.IDLE_CONNS)
            w = bench.idle_kib(lambda: harness.proc_status(acc, "VmRSS"), ports["web"],
                               bench.IDLE_CONNS)
            print("bench: idle: haproxy %.2f KiB/conn, warren %.2f KiB/conn" % (h, w), flush=True)
            row("KiB of RSS per idle connection", h, w, "%.2f", "<= 4 KiB",
                lambda r, v: v <= 4.0)
        except Exception as e:
            table.error("idle", str(e))
        ok = True
    except Exception as e:
        table.error("setup", str(e))
        print(env.diagnostics(), file=sys.stderr)
    finally:
        env.close()
    rc = table.finish("warren bench: --lb-listen against haproxy (mode tcp)", "loopback",
                      time.monotonic() - t0, ok)
    if table.broken or not ok:
        print("bench: logs kept in %s" % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return rc

if __name__ == "__main__":
    sys.exit(main())
