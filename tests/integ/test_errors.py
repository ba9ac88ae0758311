"""Error answers of the public HTTP listener: 404, 502, 431, 408, 400."""
import socket
import time

from harness import check, free_port, raw_exchange, request, status_of

TIMEOUT = 45


def test_404_unknown_host(env):
    node = env.node()
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    for host in ("nobody.localhost", "alice.example.org", "localhost", "x.alice.localhost"):
        st, _, body = request(node.http_port, host, path="/whoami")
        check(st == 404, "Host %s: want 404, got %d %r" % (host, st, body[:200]))
    # no Host at all (HTTP/1.0): not routable
    raw = raw_exchange(node.http_port, b"GET / HTTP/1.0\r\n\r\n")
    check(status_of(raw) in (400, 404), "request without Host: %r" % raw[:200])
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
