#!/usr/bin/python3
"""The request inspector's costs, in the same run, against a direct connection.

    WARREN_BIN=build /usr/bin/python3 tests/bench/inspect.py [--quick]

Memory: the client's RSS after N requests with 1 MiB response bodies
(10,000; 2,000 with --quick), sent with curl keep-alive through an HTTP
tunnel, with the inspector at its defaults (--inspect-keep 500,
--inspect-body-max 1MiB, --inspect-mem-max 256MiB), with --inspect-keep 50,
and with --inspect=false. Throughput: wrk 1 KiB and 1 MiB req/s over the
plain tunnel link (where the client may splice) with the inspector on, with
--inspect=false (the request log still parses the bytes), and with
--inspect=false --log-requests=false (nothing watches: splice), each as a
ratio of the direct figure.
"""
import os
import shutil
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

QUICK = "--quick" in sys.argv
N = 2000 if QUICK else 10000


def many(port, host, n):
    """n GETs of /1m.bin on keep-alive connections (curl, 100 URLs a run)."""
    url = "http://127.0.0.1:%d/1m.bin" % port
    left = n
    while left > 0:
        k = min(100, left)
        r = subprocess.run(["curl", "-sS", "-H", "Host: " + host, "-w", "%{http_code}\\n"]
                           + ["-o", "/dev/null", url] * k,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        codes = r.stdout.decode().split()
        if r.returncode != 0 or codes != ["200"] * k:
            raise RuntimeError("curl: rc %d, codes %s %s" % (r.returncode, codes[:5],
                                                             r.stderr.decode()[-200:]))
        left -= k


def main():
    bench.raise_nofile()
    workdir = tempfile.mkdtemp(prefix="warren-bench-inspect-")
    env = harness.Env("bench-inspect", workdir)
    rows = []
    try:
        nginx = bench.start_nginx(env)
        node = env.node(["--tunnel-tls=false", "--max-conns-per-ip", "0"])
        for name, extra in (("inspector on (defaults)", []),
                            ("inspector on, --inspect-keep 50", ["--inspect-keep", "50"]),
                            ("--inspect=false", ["--inspect=false"])):
            sub = "m%d" % len(rows)
            c, url = env.http_tunnel(node, nginx, sub, name="client-" + sub,
                                     extra=["--tls=false", "--inspect-listen", "127.0.0.1:0",
                                            "--log-requests=false"] + extra)
            before = c.rss_kib()
            t0 = time.monotonic()
            many(node.http_port, url["host"], N)
            dt = time.monotonic() - t0
            after, hwm = c.rss_kib(), c.hwm_kib()
            rows.append((name, before, after, hwm, dt))
            print("inspect-bench: %s: %d x 1 MiB in %.1fs, client RSS %d -> %d KiB (peak %d KiB)"
                  % (name, N, dt, before, after, hwm), flush=True)
            c.proc.stop()
        print()
        for size, path in (("1 KiB", "/1k.bin"), ("1 MiB", "/1m.bin")):
            d = bench.wrk("http://127.0.0.1:%d%s" % (nginx, path), "x")
            print("inspect-bench: wrk %s direct: %.0f req/s" % (size, d["rps"]), flush=True)
            for name, extra in (("inspector on", []),
                                ("--inspect=false", ["--inspect=false"]),
                                ("--inspect=false --log-requests=false",
                                 ["--inspect=false", "--log-requests=false"])):
                sub = "w%d" % len(rows)
                c, url = env.http_tunnel(node, nginx, sub, name="client-" + sub,
                                         extra=["--tls=false", "--inspect-listen",
                                                "127.0.0.1:0"] + extra)
                t = bench.wrk("http://127.0.0.1:%d%s" % (node.http_port, path), url["host"])
                rows.append((name, size, t["rps"], d["rps"]))
                print("inspect-bench: wrk %s %s: %.0f req/s (%.2fx direct) p99 %.2f ms %s"
                      % (size, name, t["rps"], t["rps"] / d["rps"], t["p99"], t["errors"]),
                      flush=True)
                c.proc.stop()
    finally:
        env.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
