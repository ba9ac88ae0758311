"""Error answers of the public HTTP listener: 404, 502, 431, 408, 400."""
import socket
import time

import harness
from harness import check, free_port, raw_exchange, request, status_of

TIMEOUT = 45


def test_404_unknown_host(env):
    node = env.node()
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    for host in ("nobody.localhost", "alice.example.org", "localhost", "x.alice.localhost"):
        st, _, body = request(node.http_port, host, path="/whoami")
        check(st == 404, "Host %s: want 404, got %d %r" % (host, st, body[:200]))
    # no Host at all: HTTP/1.0 allows that, but the edge routes by Host
    # alone, so it is a bad request there as in HTTP/1.1 (README's table)
    for req in (b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n",
                b"GET / HTTP/1.0\r\nHost: \r\n\r\n"):
        raw = raw_exchange(node.http_port, req)
        check(status_of(raw) == 400 and b"Host header" in raw,
              "%r: want 400 naming the Host header, got %r" % (req, raw[:200]))
    # the registered one still works
    st, _, body = request(node.http_port, "alice.localhost", path="/whoami")
    check(st == 200 and body == b"alice %d" % port, "alice after 404s: %d %r" % (st, body[:100]))


def test_502_local_down(env):
    node = env.node()
    dead = free_port()  # nothing listens there
    client, url = env.http_tunnel(node, dead, "down")
    t0 = time.monotonic()
    st, _, body = request(node.http_port, url["host"], path="/", timeout=15)
    dt = time.monotonic() - t0
    check(st == 502, "local service refused: want 502, got %d %r" % (st, body[:200]))
    check(dt < 5, "502 took %.1fs" % dt)
    # the tunnel stays usable: start a service and point a new tunnel at it
    port = env.http_service("up")
    _, url2 = env.http_tunnel(node, port, "up")
    st, _, body = request(node.http_port, url2["host"], path="/whoami")
    check(st == 200, "other tunnel after a 502: %d" % st)


def test_431_head_too_large(env):
    node = env.node()
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    big = b"x" * (20 * 1024)
    raw = raw_exchange(node.http_port, b"GET /whoami HTTP/1.1\r\nHost: alice.localhost\r\n"
                       b"X-Big: " + big + b"\r\n\r\n")
    check(status_of(raw) == 431, "20 KiB head: want 431, got %r" % raw[:200])
    # many small headers over the limit too
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"y" * 100) for i in range(200))
    raw = raw_exchange(node.http_port, b"GET /whoami HTTP/1.1\r\nHost: alice.localhost\r\n" + many + b"\r\n")
    env.expect(status_of(raw) == 431, "200 headers of 100 B (a %d-byte head, over the 16 KiB "
          "--head-max): want 431, got %r" % (len(many), raw[:200]))
    # just under the default 16 KiB passes
    ok = b"z" * (12 * 1024)
    raw = raw_exchange(node.http_port, b"GET /whoami HTTP/1.1\r\nHost: alice.localhost\r\n"
                       b"Connection: close\r\nX-Ok: " + ok + b"\r\n\r\n")
    check(status_of(raw) == 200, "12 KiB head: want 200, got %r" % raw[:200])


def test_431_head_max_option(env):
    node = env.node(["--head-max", "4KiB"])
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    raw = raw_exchange(node.http_port, b"GET /whoami HTTP/1.1\r\nHost: alice.localhost\r\n"
                       b"X-Big: " + b"x" * 6000 + b"\r\n\r\n")
    check(status_of(raw) == 431, "6000 B head with --head-max 4KiB: got %r" % raw[:200])


def test_408_head_timeout(env):
    node = env.node(["--head-timeout", "1s"])
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    for partial in (b"", b"GET /whoami HTTP/1.1\r\nHost: al"):
        s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
        try:
            t0 = time.monotonic()
            if partial:
                s.sendall(partial)
            buf = b""
            while time.monotonic() - t0 < 8:
                try:
                    b = s.recv(4096)
                except (socket.timeout, ConnectionResetError):
                    break
                if not b:
                    break
                buf += b
            dt = time.monotonic() - t0
        finally:
            s.close()
        what = "partial head %r" % partial if partial else "no bytes"
        if partial:
            check(status_of(buf) == 408, "%s, --head-timeout 1s: want 408, got %r after %.1fs"
                  % (what, buf[:200], dt))
        else:
            # an idle connection may get a 408 or just be closed, but not be kept
            check(buf == b"" or status_of(buf) == 408, "%s: got %r" % (what, buf[:200]))
        check(0.8 <= dt <= 4, "%s: answered/closed after %.2fs, want about 1 s" % (what, dt))


def test_400_smuggling(env):
    node = env.node()
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    cases = {
        "CL+TE": b"POST /echo HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: 4\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "two CL": b"POST /echo HTTP/1.1\r\nHost: alice.localhost\r\nContent-Length: 4\r\n"
                  b"Content-Length: 5\r\n\r\nabcde",
        "TE not chunked-last": b"POST /echo HTTP/1.1\r\nHost: alice.localhost\r\n"
                               b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        "two Host": b"GET / HTTP/1.1\r\nHost: alice.localhost\r\nHost: bob.localhost\r\n\r\n",
        "space before colon": b"GET / HTTP/1.1\r\nHost: alice.localhost\r\n"
                              b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    }
    for name, data in cases.items():
        raw = raw_exchange(node.http_port, data)
        env.expect(status_of(raw) == 400, "%s: want 400, got %r" % (name, raw[:200]))


def test_504_local_connect_timeout(env):
    """A local service that neither accepts nor refuses (its backlog is full,
    SYNs are dropped): the client gives up after --local-timeout and the
    public client gets 504 with the client's reason."""
    node = env.node()
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    held = []
    for _ in range(2):       # fill the accept queue; later SYNs are dropped
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            pass
        held.append(s)
    client, url = env.http_tunnel(node, port, "stuck", extra=["--local-timeout", "1s"])
    t0 = time.monotonic()
    st, _, body = request(node.http_port, url["host"], path="/", timeout=15)
    dt = time.monotonic() - t0
    env.note("504 after %.2fs" % dt)
    check(st == 504 and b"timed out after 1.0s" in body and (b"127.0.0.1:%d" % port) in body,
          "local connect timeout: want 504 naming the service, got %d %r" % (st, body[:300]))
    check(dt < 5, "504 took %.1fs with --local-timeout 1s" % dt)
    for s in held:
        s.close()
    lst.close()


def test_client_welcome_timeout(env):
    """A server that speaks the frame layer (SETTINGS, then PINGs that keep
    the link alive) but never says WELCOME: the client gives up after
    --welcome-timeout with a sentence and connects again."""
    import struct
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(20)
    accepted = []
    stop = threading.Event()

    def frame(ftype, payload):
        return struct.pack("!IBBHI", len(payload), ftype, 0, 0, 0) + payload

    def serve(c):
        try:
            c.sendall(frame(9, struct.pack("!III", 1, 1 << 20, 256 << 10)))
            while not stop.is_set():
                c.sendall(frame(5, b"\0" * 8))
                stop.wait(0.2)
        except OSError:
            pass
        finally:
            c.close()

    def run():
        try:
            while not stop.is_set():
                c, _ = srv.accept()
                accepted.append(time.monotonic())
                threading.Thread(target=serve, args=(c,), daemon=True).start()
        except OSError:
            pass
    threading.Thread(target=run, daemon=True).start()
    t0 = time.monotonic()
    c = env.client(["http", "9", "--tls", "false", "--server",
                    "127.0.0.1:%d" % srv.getsockname()[1], "--welcome-timeout", "1s",
                    "--subdomain", "never"], name="client-nowelcome")
    want = "no WELCOME from the node within 1.0s of connecting"
    deadline = time.monotonic() + 10
    log = ""
    while time.monotonic() < deadline:
        log = harness.tail(c.log, 50)
        if want in log and len(accepted) >= 2:
            break
        time.sleep(0.1)
    stop.set()
    srv.close()
    check(want in log, "client log lacks %r:\n%s" % (want, log))
    check(len(accepted) >= 2, "the client did not connect again (%d connections)" % len(accepted))
    env.note("gave up on the first session after %.2fs" % (accepted[1] - t0))
