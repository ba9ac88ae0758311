#!/usr/bin/python3
"""warren benchmarks: a tunnel against a direct connection, in the same run.

    WARREN_BIN=build /usr/bin/python3 tests/bench/bench.py [--quick]

  iperf3, 1 and 4 streams: through a TCP tunnel vs directly to iperf3 -s
  wrk -c50 -t2 -d10s --latency, 1 KiB and 1 MiB bodies: through an HTTP tunnel
      vs directly to the same nginx
  RSS of the node (all its processes) and the client while 1,000 idle
      keep-alive connections are held through the HTTP tunnel

Prints a table (direct, tunnel, ratio, target; for the RSS rows the two
columns are before and with the idle connections). Exit 1 if a measurement could
not be made; with BENCH_STRICT=1 also if a target is missed.
Targets: single-stream >= 0.5x direct (TLS link: 0.35x), 1 KiB req/s >= 0.5x
(TLS link: 0.45x), TLS link 1 MiB req/s >= 0.35x, p99 <= 2x direct,
<= 8 KiB RSS per idle tunnelled connection (node + client).
"""
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
import harness  # noqa: E402

QUICK = "--quick" in sys.argv
IPERF_SECONDS = 2 if QUICK else 5
WRK_SECONDS = 3 if QUICK else 10
IDLE_CONNS = 1000


def have_tools(*tools):
    """True when every tool is on PATH; else says which is missing."""
    for tool in tools:
        if not shutil.which(tool):
            print("bench: %s is missing (make deps)" % tool, file=sys.stderr)
            return False
    return True


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def run(argv, timeout):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


# -- iperf3 -------------------------------------------------------------------

def iperf(port, streams):
    """Gbit/s received, or raises."""
    rc, out, err = run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(IPERF_SECONDS),
                        "-P", str(streams), "-J"], IPERF_SECONDS + 30)
    try:
        j = json.loads(out)
    except ValueError:
        raise RuntimeError("iperf3 rc=%d: %s %s" % (rc, out[-300:], err[-300:]))
    if "error" in j:
        raise RuntimeError("iperf3: %s" % j["error"])
    return j["end"]["sum_received"]["bits_per_second"] / 1e9


# -- nginx ----------------------------------------------------------------------

def start_nginx(env):
    root = env.path("nginx")
    www = os.path.join(root, "www")
    os.makedirs(os.path.join(root, "logs"), exist_ok=True)
    os.makedirs(www, exist_ok=True)
    os.chmod(env.dir, 0o755)
    for d in (root, www):
        os.chmod(d, 0o755)
    with open(os.path.join(www, "1k.bin"), "wb") as f:
        f.write(harness.gen_bytes(1024, 1))
    with open(os.path.join(www, "1m.bin"), "wb") as f:
        f.write(harness.gen_bytes(1 << 20, 2))
    port = harness.free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = os.path.join(root, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""%sworker_processes 1;
worker_rlimit_nofile 8192;
daemon off;
master_process on;
pid %s/nginx.pid;
error_log %s/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    client_body_temp_path %s/body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
    server {
        listen 127.0.0.1:%d;
        server_name _;
        root %s;
    }
}
""" % (user, root, root, root, root, root, root, root, port, www))
    p = env.spawn(["nginx", "-p", root, "-c", conf], "nginx")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return port
        except OSError:
            if not p.alive():
                break
            time.sleep(0.05)
    raise RuntimeError("nginx did not start: %s" % harness.tail(p.log))


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    return float(m.group(1)) * _UNIT[m.group(2)] if m else float("nan")


def wrk(url, host):
    """-> dict rps, p50, p99 (ms), errors (text or '')"""
    rc, out, err = run(["wrk", "-c50", "-t2", "-d%ds" % WRK_SECONDS, "--latency", "-H",
                        "Host: " + host, url], WRK_SECONDS + 60)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rc != 0 or not m:
        raise RuntimeError("wrk rc=%d: %s %s" % (rc, out[-400:], err[-300:]))
    res = {"rps": float(m.group(1))}
    for pct in ("50", "99"):
        mm = re.search(r"^\s+%s(?:\.0+)?%%\s+(\S+)" % pct, out, re.M)
        res["p" + pct] = _ms(mm.group(1)) if mm else float("nan")
    errs = []
    for pat in (r"Non-2xx or 3xx responses: \d+", r"Socket errors: [^\n]+"):
        mm = re.search(pat, out)
        if mm:
            errs.append(mm.group(0))
    res["errors"] = "; ".join(errs)
    return res


# -- idle connections -----------------------------------------------------------

def hold_idle(port, host, count, path="/1k.bin", wrap=None):
    """Opens `count` keep-alive connections, one request each, and returns the
    sockets (held open, idle). wrap(sock) -> sock: e.g. a TLS client."""
    socks = []
    req = b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), host.encode())
    batch = 50
    try:
        for start in range(0, count, batch):
            group = []
            for i in range(start, min(count, start + batch)):
                s = socket.create_connection(("127.0.0.1", port), timeout=20)
                if wrap is not None:
                    s = wrap(s)
                socks.append(s)
                group.append(s)
                s.sendall(req)
            # read every response fully (1 KiB body + head)
            for s in group:
                f = s.makefile("rb")
                r = harness.read_response(f)
                f.close()
                if r is None or r[0] != 200:
                    raise RuntimeError("idle connection %d: %r" % (len(socks), r[:2] if r else r))
    except Exception:
        for s in socks:
            s.close()
        raise
    return socks


def idle_kib(rss_fn, port, count, wrap=None):
    """KiB of RSS (rss_fn() in KiB) added per idle connection held through
    port, one request each (see hold_idle)."""
    time.sleep(1)
    before = rss_fn()
    socks = hold_idle(port, "bench", count, wrap=wrap)
    try:
        time.sleep(1)
        return (rss_fn() - before) / count
    finally:
        for s in socks:
            s.close()


# -- report -----------------------------------------------------------------------

class Table:
    def __init__(self, a="direct", b="tunnel"):
        self.cols = (a, b)      # what the two measured columns are
        self.rows = []
        self.missed = 0
        self.broken = 0

    def add(self, name, direct, tunnel, fmt, target_desc, ok):
        if direct is None or tunnel is None:
            ratio = "-"
        else:
            ratio = "%.2fx" % (tunnel / direct) if direct else "-"
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        if ok is False:
            self.missed += 1
        self.rows.append((name, fmt(direct) if direct is not None else "-",
                          fmt(tunnel) if tunnel is not None else "-", ratio, target_desc, verdict))

    def error(self, name, msg):
        self.broken += 1
        self.rows.append((name, "ERROR", "", "", "", msg[:120]))

    def finish(self, title, where, seconds, ok):
        """Prints the title line, the table and the tally; returns the exit
        status: 1 when a measurement failed (or not ok), or a target was
        missed under BENCH_STRICT=1."""
        print()
        print("%s (%s, %d s%s)" % (title, where, seconds, ", --quick" if QUICK else ""))
        self.print()
        print()
        print("bench: %d targets missed, %d measurements failed" % (self.missed, self.broken))
        if self.broken or not ok:
            return 1
        if self.missed and os.environ.get("BENCH_STRICT") == "1":
            return 1
        return 0

    def print(self):
        head = ("benchmark",) + self.cols + ("ratio", "target", "")
        widths = [max(len(str(r[i])) for r in self.rows + [head]) for i in range(6)]
        line = "  ".join("%-*s" % (widths[i], head[i]) for i in range(6))
        print(line.rstrip())
        print("-" * sum(widths[:5], 10))
        for r in self.rows:
            print("  ".join("%-*s" % (widths[i], r[i]) for i in range(6)).rstrip())


def main():
    raise_nofile()
    if not have_tools("iperf3", "wrk", "nginx", "curl"):
        return 1
    workdir = tempfile.mkdtemp(prefix="warren-bench-")
    env = harness.Env("bench", workdir)
    table = Table()
    t_start = time.monotonic()
    ok = False
    nginx_port = None
    client = None
    try:
        # The tunnel link as deployed (TLS) and plain TCP (--tunnel-tls=false):
        # targets from tunnels measured the same way on this machine.
        for mode, node_args, client_args, t_one, t_1k, t_1m in (
                ("plain", ["--tunnel-tls=false"], ["--tls=false"], 0.50, 0.50, None),
                ("tls", [], [], 0.35, 0.45, 0.35)):
            node = env.node(node_args + ["--max-conns-per-ip", "0"])
            print("bench: %s node up, http :%d, tunnel :%d" % (mode, node.http_port,
                                                              node.tunnel_port), flush=True)
            # iperf3 through a TCP tunnel
            try:
                ip_port = harness.free_port()
                ip = env.spawn(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(ip_port)],
                               "iperf3-" + mode)
                time.sleep(0.3)
                c = env.client(["tcp", str(ip_port), "--server",
                                "127.0.0.1:%d" % node.tunnel_port] + client_args,
                               name="client-tcp-" + mode)
                tport = c.wait_urls(1, 15)[0]["port"]
                for streams in (1, 4):
                    d = iperf(ip_port, streams)
                    t = iperf(tport, streams)
                    desc = ">= %.2fx" % t_one if streams == 1 else ""
                    table.add("%s: iperf3 %d stream%s (Gbit/s)" % (mode, streams,
                              "s" if streams > 1 else ""), d, t, lambda v: "%.2f" % v, desc,
                              (t >= t_one * d) if streams == 1 else None)
                    print("bench: %s iperf3 -P %d: direct %.2f Gbit/s, tunnel %.2f Gbit/s"
                          % (mode, streams, d, t), flush=True)
                ip.stop()
                c.proc.stop()
            except Exception as e:
                table.error("%s iperf3" % mode, str(e))

            # wrk through an HTTP tunnel
            try:
                if nginx_port is None:
                    nginx_port = start_nginx(env)
                client, url = env.http_tunnel(node, nginx_port, "bench-" + mode,
                                              extra=client_args, name="client-http-" + mode)
                host = url["host"]
                for name, path in (("1 KiB", "/1k.bin"), ("1 MiB", "/1m.bin")):
                    d = wrk("http://127.0.0.1:%d%s" % (nginx_port, path), host)
                    t = wrk("http://127.0.0.1:%d%s" % (node.http_port, path), host)
                    print("bench: %s wrk %s: direct %.0f req/s p99 %.2f ms, tunnel %.0f req/s "
                          "p99 %.2f ms %s" % (mode, name, d["rps"], d["p99"], t["rps"], t["p99"],
                                              t["errors"]), flush=True)
                    if name == "1 KiB":
                        table.add("%s: wrk %s req/s" % (mode, name), d["rps"], t["rps"],
                                  lambda v: "%.0f" % v, ">= %.2fx" % t_1k,
                                  t["rps"] >= t_1k * d["rps"] and not t["errors"])
                    else:
                        table.add("%s: wrk %s req/s" % (mode, name), d["rps"], t["rps"],
                                  lambda v: "%.0f" % v, ">= %.2fx" % t_1m if t_1m else "",
                                  t["rps"] >= t_1m * d["rps"] and not t["errors"]
                                  if t_1m else None)
                    table.add("%s: wrk %s p50 latency (ms)" % (mode, name), d["p50"], t["p50"],
                              lambda v: "%.2f" % v, "", None)
                    table.add("%s: wrk %s p99 latency (ms)" % (mode, name), d["p99"], t["p99"],
                              lambda v: "%.2f" % v, "<= 2.00x", t["p99"] <= 2 * d["p99"])
                    if t["errors"]:
                        table.error("%s wrk %s tunnel errors" % (mode, name), t["errors"])
            except Exception as e:
                client = None
                table.error("%s wrk" % mode, str(e))
            if mode == "plain":
                if client is not None:
                    client.proc.stop()
                node.stop()

        # RSS with 1,000 idle tunnelled connections
        if client is not None:
            try:
                time.sleep(2)  # let the wrk connections close and settle
                before_node, before_client = node.rss_kib(), client.rss_kib()
                socks = hold_idle(node.http_port, url["host"], IDLE_CONNS)
                time.sleep(2)
                after_node, after_client = node.rss_kib(), client.rss_kib()
                per = ((after_node - before_node) + (after_client - before_client)) / IDLE_CONNS
                print("bench: idle: node RSS %d -> %d KiB, client %d -> %d KiB"
                      % (before_node, after_node, before_client, after_client), flush=True)
                table.add("node RSS KiB (before / with %d idle)" % IDLE_CONNS, before_node, after_node,
                          lambda v: "%d" % v, "", None)
                table.add("client RSS KiB (before / with %d idle)" % IDLE_CONNS, before_client, after_client,
                          lambda v: "%d" % v, "", None)
                table.add("KiB per idle conn (node+client)", None, per, lambda v: "%.2f" % v,
                          "<= 8 KiB", per <= 8)
                for s in socks:
                    s.close()
            except Exception as e:
                table.error("idle connections", str(e))
        ok = True
    except Exception as e:
        table.error("setup", str(e))
        print(env.diagnostics(), file=sys.stderr)
    finally:
        env.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return table.finish("warren bench", "loopback", time.monotonic() - t_start, ok)


if __name__ == "__main__":
    sys.exit(main())
