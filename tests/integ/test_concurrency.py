"""Many streams in one tunnel session; a reader that stops reading stalls only
its own stream (per-stream flow control) and memory stays bounded.

Bounds: node (all processes) RSS <= 64 MiB, client <= 48 MiB while a 200 MB
response sits unread; the other downloads finish within 30 s."""
import hashlib
import http.client
import socket
import threading
import time

import harness

from harness import MiB, Sampler, check, gen_bytes, gen_chunks

TIMEOUT = 120
NODE_MAX_KIB = 64 * 1024 * harness.MEM_SCALE
CLIENT_MAX_KIB = 48 * 1024 * harness.MEM_SCALE


def expected_sha(n, seed):
    h = hashlib.sha256()
    for c in gen_chunks(n, seed):
        h.update(c)
    return h.hexdigest()


def fetch_many(port, host, count, size_of, deadline_s, barrier=True):
    """count parallel connections, each GET /bytes (its own seed) -> list of
    errors (empty when all are byte-exact) and the slowest time."""
    errors = []
    times = []
    lock = threading.Lock()
    bar = threading.Barrier(count, timeout=30) if barrier else None
    want = {i: expected_sha(size_of(i), 1000 + i) for i in range(count)}

    def one(i):
        n = size_of(i)
        c = None
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=deadline_s)
            c.connect()
            if bar:
                bar.wait()
            t0 = time.monotonic()
            c.request("GET", "/bytes?n=%d&seed=%d" % (n, 1000 + i), headers={"Host": host})
            r = c.getresponse()
            h = hashlib.sha256()
            got = 0
            while True:
                b = r.read(65536)
                if not b:
                    break
                h.update(b)
                got += len(b)
            dt = time.monotonic() - t0
            err = None
            if r.status != 200:
                err = "conn %d: status %d" % (i, r.status)
            elif got != n or h.hexdigest() != want[i]:
                err = "conn %d: %d bytes (want %d), sha256 match=%s" % (i, got, n, h.hexdigest() == want[i])
            with lock:
                times.append(dt)
                if err:
                    errors.append(err)
        except Exception as e:
            with lock:
                errors.append("conn %d: %r" % (i, e))
        finally:
            if c:
                c.close()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    end = time.monotonic() + deadline_s + 35
    for t in threads:
        t.join(max(0.1, end - time.monotonic()))
    stuck = sum(1 for t in threads if t.is_alive())
    if stuck:
        errors.append("%d of %d connections still running after %ds" % (stuck, count, deadline_s))
    return errors, (max(times) if times else None)


def setup(env):
    node = env.node()
    port = env.http_service("many")
    # the request inspector stays on, its copy of each body kept small: the
    # bounds here are on streaming (test_inspect bounds the inspector)
    client, url = env.http_tunnel(node, port, "many", extra=["--inspect-body-max", "16KiB"])
    return node, client, url


def test_200_concurrent(env):
    node, client, url = setup(env)
    ns = Sampler(node.rss_kib)
    errors, slowest = fetch_many(node.http_port, url["host"], 200,
                                 lambda i: 256 * 1024 + i * 97, 60)
    peak = ns.stop()
    env.note("200 connections: slowest %.2fs, node RSS peak %d KiB" % (slowest or -1, peak))
    check(not errors, "%d of 200 connections failed: %s" % (len(errors), "; ".join(errors[:5])))
    check(peak <= NODE_MAX_KIB, "node RSS peak %d KiB with 200 connections (bound %d)"
          % (peak, NODE_MAX_KIB))


def test_slow_reader_does_not_stall_others(env):
    node, client, url = setup(env)
    total = 200 * 1000 * 1000
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", node.http_port))
    try:
        s.sendall(b"GET /bytes?n=%d&seed=77 HTTP/1.1\r\nHost: %s\r\n\r\n" % (total, url["host"].encode()))
        time.sleep(1.5)  # let the stalled stream fill every buffer on its way
        ns, cs = Sampler(node.rss_kib), Sampler(client.rss_kib)
        t0 = time.monotonic()
        errors, slowest = fetch_many(node.http_port, url["host"], 200, lambda i: 512 * 1024 + i, 30)
        dt = time.monotonic() - t0
        # the tunnel keeps working for small requests too
        c = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=10)
        c.request("GET", "/whoami", headers={"Host": url["host"]})
        r = c.getresponse()
        who = (r.status, r.read())
        c.close()
        time.sleep(1.0)
        node_peak, client_peak = ns.stop(), cs.stop()
        env.note("200 x 512 KiB beside a stalled 200 MB reader: %.2fs (slowest %.2fs); node RSS peak "
                 "%d KiB, client %d KiB" % (dt, slowest or -1, node_peak, client_peak))
        check(not errors, "downloads beside a stalled reader: %s" % "; ".join(errors[:5]))
        check(who[0] == 200, "GET /whoami beside a stalled reader: %r" % (who,))
        check(node_peak <= NODE_MAX_KIB, "node RSS peak %d KiB with a stalled reader (bound %d)"
              % (node_peak, NODE_MAX_KIB))
        check(client_peak <= CLIENT_MAX_KIB, "client RSS peak %d KiB with a stalled reader "
              "(bound %d)" % (client_peak, CLIENT_MAX_KIB))
        # the stalled stream lost nothing: its first 8 MiB are exact
        s.settimeout(10)
        f = s.makefile("rb")
        line = f.readline(1024)
        check(line.startswith(b"HTTP/1.1 200"), "stalled reader's status: %r" % line)
        for _ in range(100):
            if f.readline(65536) in (b"\r\n", b""):
                break
        want = gen_bytes(8 * MiB, 77)
        got = f.read(8 * MiB)
        check(got == want, "stalled reader's first 8 MiB differ (%d bytes read)" % len(got))
        f.close()
    finally:
        s.close()
