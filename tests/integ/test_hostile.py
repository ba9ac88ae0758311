"""Hostile input: every row of the README's table. Each bad input gets the
answer the table names, the counter it names rises on /metrics, and the node
goes on serving (nothing crashed: the runner also fails a test whose logs
show a crash or a sanitizer report)."""
import socket
import ssl
import struct
import time
import urllib.request

import harness
from harness import check, raw_exchange, status_of

TIMEOUT = 90

H = b"Host: alice.localhost\r\n"

# (name, bytes, status, counter)
HTTP_ROWS = [
    ("head over --head-max", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n",
     431, 'http_errors_total{status="431"}'),
    ("too many header fields", b"GET / HTTP/1.1\r\n" + H +
     b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n",
     431, 'http_errors_total{status="431"}'),
    ("Content-Length with Transfer-Encoding", b"POST / HTTP/1.1\r\n" + H +
     b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400, 'http_errors_total{status="400"}'),
    ("duplicate Content-Length", b"POST / HTTP/1.1\r\n" + H +
     b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nAB", 400, 'http_errors_total{status="400"}'),
    ("invalid Content-Length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1x\r\n\r\nA",
     400, 'http_errors_total{status="400"}'),
    ("invalid chunk size", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nAB\r\n0\r\n\r\n", 400, 'http_errors_total{status="400"}'),
    ("obsolete line folding", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\r\n  folded\r\n\r\n",
     400, 'http_errors_total{status="400"}'),
    ("bare LF in a header", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\nX-B: 2\r\n\r\n",
     400, 'http_errors_total{status="400"}'),
    ("bare CR in a header", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\rX-B: 2\r\n\r\n",
     400, 'http_errors_total{status="400"}'),
    ("missing Host", b"GET / HTTP/1.1\r\n\r\n", 400, 'http_errors_total{status="400"}'),
    ("unknown host", b"GET / HTTP/1.1\r\nHost: nobody.localhost\r\n\r\n",
     404, 'http_errors_total{status="404"}'),
]


def metrics(node):
    url = "http://127.0.0.1:%d/metrics" % node.admin_port
    out = {}
    for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = int(float(value))
    return out


def counter(node, name):
    return metrics(node).get("warren_acceptor_" + name, 0)


def wait_rise(node, name, before, timeout=4.0):
    """The acceptor publishes its counters every second."""
    deadline = time.monotonic() + timeout
    now = before
    while time.monotonic() < deadline:
        now = counter(node, name)
        if now > before:
            return now
        time.sleep(0.2)
    return now


def healthy(node):
    st, _, body = harness.request(node.http_port, "alice.localhost", path="/whoami")
    return st == 200


def test_http_rows(env):
    node = env.node(["--head-timeout", "1s"])
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    time.sleep(1.2)
    for name, data, want, ctr in HTTP_ROWS:
        before = counter(node, ctr)
        raw = raw_exchange(node.http_port, data)
        check(status_of(raw) == want, "%s: want %d, got %r" % (name, want, raw[:200]))
        check(wait_rise(node, ctr, before) > before, "%s: %s did not rise" % (name, ctr))
        check(healthy(node), "%s: the node stopped serving" % name)
    # slowloris: a head that never completes gets 408 after --head-timeout
    before = counter(node, 'http_errors_total{status="408"}')
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: alice.localhost\r\nX-Slow: ")
    t0 = time.monotonic()
    for _ in range(30):
        try:
            s.sendall(b"a")
        except OSError:
            break
        time.sleep(0.1)
        if time.monotonic() - t0 > 2.5:
            break
    raw = b""
    try:
        raw = s.recv(4096)
    except OSError:
        pass
    s.close()
    check(status_of(raw) == 408, "slowloris: want 408, got %r" % raw[:200])
    check(wait_rise(node, 'http_errors_total{status="408"}', before) > before,
          "408 counter did not rise")


def test_idle_timeout(env):
    node = env.node(["--idle-timeout", "500ms"])
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    before = counter(node, "conns_idle_closed_total")
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
    s.sendall(b"GET /whoami HTTP/1.1\r\nHost: alice.localhost\r\n\r\n")
    first = b""
    while b"alice " not in first:        # the whole answer: head and body
        b = s.recv(4096)
        if not b:
            break
        first += b
    check(status_of(first) == 200, "first request: %r" % first[:100])
    t0 = time.monotonic()
    try:
        rest = s.recv(4096)
    except OSError:
        rest = b""
    dt = time.monotonic() - t0
    s.close()
    check(rest == b"" and dt < 5, "idle keep-alive connection not closed (%.1fs, %r)" % (dt, rest))
    check(wait_rise(node, "conns_idle_closed_total", before) > before,
          "conns_idle_closed_total did not rise")


def test_not_tls_on_https(env):
    node = env.node()
    before = counter(node, "tls_bad_hello_total")
    raw = raw_exchange(node.https_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    check(raw == b"", "plain HTTP on the HTTPS port got %r" % raw[:100])
    check(wait_rise(node, "tls_bad_hello_total", before) > before,
          "tls_bad_hello_total did not rise")


def tunnel_link(node):
    """A TLS connection to the tunnel listener, verified with the node's CA."""
    ctx = ssl.create_default_context(cafile=node.data_dir + "/tls/ca.pem")
    s = socket.create_connection(("127.0.0.1", node.tunnel_port), timeout=10)
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


def frame(ftype, stream, payload):
    return struct.pack("!IBBHI", len(payload), ftype, 0, 0, stream) + payload


SETTINGS = frame(9, 0, struct.pack("!III", 1, 1 << 20, 256 << 10))


def closed_by_node(s, timeout=5):
    s.settimeout(timeout)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True
    except (ConnectionResetError, ssl.SSLError, OSError):
        return True
    except socket.timeout:
        return False


def frames_until_close(s, timeout=5):
    """Reads the node's frames until it closes -> (list of (type, stream,
    payload), closed)."""
    s.settimeout(timeout)
    data = b""
    closed = False
    try:
        while len(data) < (1 << 20):
            b = s.recv(65536)
            if not b:
                closed = True
                break
            data += b
    except (ConnectionResetError, ssl.SSLError, OSError):
        closed = True
    except socket.timeout:
        pass
    frames = []
    while len(data) >= 12:
        n, ftype, _, _, stream = struct.unpack("!IBBHI", data[:12])
        if len(data) < 12 + n:
            break
        frames.append((ftype, stream, data[12:12 + n]))
        data = data[12 + n:]
    return frames, closed


def ctrl_error(payload):
    """(status, sentence) of a control ERROR message, else None."""
    if len(payload) < 4 or payload[0] != 6:
        return None
    n = struct.unpack("!H", payload[2:4])[0]
    return payload[1], payload[4:4 + n].decode("utf-8", "replace")


def test_tunnel_link_rows(env):
    node = env.node(["--ping-interval", "1s"])
    # a frame of an unknown type
    before = counter(node, "session_protocol_errors_total")
    s = tunnel_link(node)
    s.sendall(SETTINGS + frame(42, 0, b""))
    check(closed_by_node(s), "unknown frame type: session not closed")
    check(wait_rise(node, "session_protocol_errors_total", before) > before,
          "session_protocol_errors_total did not rise (frame type)")
    # a frame longer than the node takes
    before = counter(node, "session_protocol_errors_total")
    s = tunnel_link(node)
    s.sendall(SETTINGS + struct.pack("!IBBHI", 300 << 10, 8, 0, 0, 0))
    check(closed_by_node(s), "oversized frame: session not closed")
    check(wait_rise(node, "session_protocol_errors_total", before) > before,
          "session_protocol_errors_total did not rise (size)")
    # a malformed control message: ERROR, then closed
    before = counter(node, "session_protocol_errors_total")
    s = tunnel_link(node)
    s.sendall(SETTINGS + frame(8, 0, b"\x01\xff"))
    frames, closed = frames_until_close(s)
    check(closed, "malformed HELLO: session not closed")
    check(frames and frames[0][0] == 9, "malformed HELLO: the node's first frame is not "
          "SETTINGS: %r" % frames[:2])
    errs = [ctrl_error(p) for t, sid, p in frames if t == 8 and sid == 0]
    check(errs and errs[-1] is not None and errs[-1][1],
          "malformed HELLO: no ERROR message before the close (frames: %r)"
          % [(t, sid, p[:40]) for t, sid, p in frames])
    check(frames[-1][0] == 8 and ctrl_error(frames[-1][2]) is not None,
          "malformed HELLO: the ERROR is not the last frame before the close: %r"
          % [(t, sid, p[:40]) for t, sid, p in frames])
    env.note("ERROR before the close: status %d %r" % errs[-1])
    check(wait_rise(node, "session_protocol_errors_total", before) > before,
          "session_protocol_errors_total did not rise (control)")
    # silence after the handshake: closed at the first keepalive check
    s = tunnel_link(node)
    t0 = time.monotonic()
    check(closed_by_node(s, 6), "a session that never said HELLO was kept")
    check(time.monotonic() - t0 < 5, "no-HELLO session kept %.1fs" % (time.monotonic() - t0))
    # not TLS at all on the tunnel port
    raw = raw_exchange(node.tunnel_port, b"\x16\x03\x01\x00\x05hello" + b"x" * 100)
    check(raw == b"" or raw[:1] == b"\x15", "garbage on the tunnel port got %r" % raw[:50])
    # the node still serves
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    check(healthy(node), "the node stopped serving after the bad sessions")


def test_streams_per_session(env):
    node = env.node(["--max-streams", "2"])
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    # two slow requests hold the two streams; the third is refused with 503
    held = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
        s.sendall(b"GET /slow?ms=3000 HTTP/1.1\r\nHost: alice.localhost\r\n\r\n")
        held.append(s)
    time.sleep(0.3)
    before = counter(node, 'http_errors_total{status="503"}')
    raw = raw_exchange(node.http_port, b"GET /whoami HTTP/1.1\r\nHost: alice.localhost\r\n\r\n")
    check(status_of(raw) == 503 and b"busy" in raw, "third stream: want 503 busy, got %r" % raw[:200])
    check(wait_rise(node, 'http_errors_total{status="503"}', before) > before,
          "503 counter did not rise")
    for s in held:
        s.close()
