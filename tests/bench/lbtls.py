#!/usr/bin/python3
"""`--lb-tls-listen` against haproxy ending TLS for the same L4 job, in the
same run.

    WARREN_BIN=build /usr/bin/python3 tests/bench/lbtls.py [--quick]

One nginx on loopback serves a 1 KiB file and a 1 GiB one (sparse, sent
with sendfile). warren-node ends TLS on an --lb-tls-listen port and
proxies the plaintext to nginx; haproxy (mode tcp, `bind ... ssl`, one
thread, as the acceptor has one) does the same, with the same certificate
(EC P-256) and OpenSSL. Rows: curl downloading 1 GiB (one stream), wrk
1 KiB requests/s over keep-alive TLS (-c50 -t2), and the RSS added by
1,000 idle TLS connections. Throughput rows are the medians of three
interleaved rounds (one with --quick). Ratios are warren / haproxy. The
issue sets no target for TLS: the rows are reported.
"""
import os
import shutil
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import bench  # noqa: E402
from lb import wait_port  # noqa: E402

ROUNDS = 1 if bench.QUICK else 3
BIG = 1 << 30


def make_cert(env):
    key, pem = env.path("lb.key"), env.path("lb.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", pem,
                    "-subj", "/CN=bench", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-days", "2"], check=True, capture_output=True, timeout=30)
    both = env.path("lb-both.pem")
    with open(both, "w") as f:
        f.write(open(pem).read() + open(key).read())
    return pem, key, both


def start_haproxy(env, both, web_port):
    port = harness.free_port()
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
frontend web
    bind 127.0.0.1:%d ssl crt %s
    default_backend web
backend web
    server s1 127.0.0.1:%d
""" % (port, both, web_port))
    p = env.spawn(["haproxy", "-db", "-f", conf], "haproxy")
    wait_port(port)
    return p, port


def curl_gbit(port, ca):
    rc, out, err = bench.run(["curl", "-sS", "--cacert", ca, "-o", "/dev/null", "-w",
                              "%{speed_download}", "https://127.0.0.1:%d/big.bin" % port], 120)
    if rc != 0:
        raise RuntimeError("curl rc=%d: %s" % (rc, err[-300:]))
    return float(out) * 8 / 1e9


def main():
    bench.raise_nofile()
    if not bench.have_tools("wrk", "nginx", "haproxy", "curl"):
        return 1
    workdir = tempfile.mkdtemp(prefix="warren-bench-lbtls-")
    env = harness.Env("bench-lbtls", workdir)
    table = bench.Table("haproxy", "warren")
    t0 = time.monotonic()
    ok = False
    try:
        web_port = bench.start_nginx(env)
        with open(os.path.join(env.path("nginx"), "www", "big.bin"), "wb") as f:
            f.truncate(BIG)
        pem, key, both = make_cert(env)
        hp, h_port = start_haproxy(env, both, web_port)
        node = env.node(["--max-conns-per-ip", "0", "--region", "eu",
                         "--lb-tls-listen", "127.0.0.1:0=web",
                         "--lb-tls-cert", pem, "--lb-tls-key", key])
        deadline = time.monotonic() + 10
        w_port = None
        while w_port is None and time.monotonic() < deadline:
            w_port = next((int(e["addr"].rsplit(":", 1)[1]) for e in node.events()
                           if e.get("ev") == "lb.tls.listen"), None)
            time.sleep(0.05)
        if w_port is None:
            raise RuntimeError("no lb.tls.listen line")
        db = sqlite3.connect(os.path.join(node.data_dir, "routing.db"), timeout=5)
        db.execute("INSERT INTO backends VALUES ('web-1','web','eu','127.0.0.1',?,1,1,100000,0,0)",
                   (web_port,))
        db.commit()
        db.close()
        deadline = time.monotonic() + 10
        while True:
            rc, out, _ = bench.run(["curl", "-sS", "--cacert", pem, "-o", "/dev/null", "-w",
                                    "%{http_code}", "https://127.0.0.1:%d/1k.bin" % w_port], 10)
            if out == "200":
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the TLS listener never reached nginx")
            time.sleep(0.1)
        print("bench: warren --lb-tls-listen on :%d, haproxy ssl on :%d" % (w_port, h_port),
              flush=True)

        def median(v):
            v = sorted(v)
            return v[len(v) // 2]

        def row(name, h, w, fmt):
            table.add(name, h, w, lambda v: fmt % v, "report", None)

        try:
            hs, ws = [], []
            for _ in range(ROUNDS):
                hs.append(curl_gbit(h_port, pem))
                ws.append(curl_gbit(w_port, pem))
                print("bench: curl 1 GiB over TLS: haproxy %.2f Gbit/s, warren %.2f"
                      % (hs[-1], ws[-1]), flush=True)
            row("curl 1 GiB over TLS (Gbit/s)", median(hs), median(ws), "%.2f")
        except Exception as e:
            table.error("curl", str(e))
        try:
            hs, ws = [], []
            for _ in range(ROUNDS):
                hs.append(bench.wrk("https://127.0.0.1:%d/1k.bin" % h_port, "bench"))
                ws.append(bench.wrk("https://127.0.0.1:%d/1k.bin" % w_port, "bench"))
                print("bench: wrk 1 KiB over TLS: haproxy %.0f req/s, warren %.0f req/s"
                      % (hs[-1]["rps"], ws[-1]["rps"]), flush=True)
            row("wrk 1 KiB over TLS req/s", median([x["rps"] for x in hs]),
                median([x["rps"] for x in ws]), "%.0f")
            row("wrk 1 KiB over TLS p99 (ms)", median([x["p99"] for x in hs]),
                median([x["p99"] for x in ws]), "%.2f")
        except Exception as e:
            table.error("wrk", str(e))
        try:
            acc = node.child_pid("acceptor")
            ctx = ssl.create_default_context(cafile=pem)

            def tls(sock):
                return ctx.wrap_socket(sock, server_hostname="127.0.0.1")
            h = bench.idle_kib(lambda: harness.proc_status(hp.p.pid, "VmRSS"), h_port,
                               bench.IDLE_CONNS, wrap=tls)
            w = bench.idle_kib(lambda: harness.proc_status(acc, "VmRSS"), w_port,
                               bench.IDLE_CONNS, wrap=tls)
            print("bench: idle TLS: haproxy %.2f KiB/conn, warren %.2f KiB/conn" % (h, w),
                  flush=True)
            row("KiB of RSS per idle TLS connection", h, w, "%.2f")
        except Exception as e:
            table.error("idle", str(e))
        ok = True
    except Exception as e:
        table.error("setup", str(e))
        print(env.diagnostics(), file=sys.stderr)
    finally:
        env.close()
    rc = table.finish("warren bench: --lb-tls-listen against haproxy (mode tcp, ssl)",
                      "loopback", time.monotonic() - t0, ok)
    if table.broken or not ok:
        print("bench: logs kept in %s" % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
