"""HTTP through a tunnel: methods, keep-alive, chunked both ways, WebSocket,
SSE streaming, X-Forwarded-* headers."""
import asyncio
import http.client
import json
import socket
import time

import harness
from harness import MiB, check, gen_bytes, gen_sha256, jloads, request

TIMEOUT = 60


def setup(env, sub="alice", node_args=()):
    node = env.node(node_args)
    port = env.http_service(sub)
    client, url = env.http_tunnel(node, port, sub)
    return node, port, client, url


def test_get(env):
    node, port, client, url = setup(env)
    host = url["host"]
    st, h, body = request(node.http_port, host, path="/whoami")
    check(st == 200, "GET /whoami: status %d body %r" % (st, body[:200]))
    check(body == b"alice %d" % port, "GET /whoami reached %r, want 'alice %d'" % (body, port))
    st, h, body = request(node.http_port, host, path="/")
    check(st == 200 and b"warren test service" in body, "GET /: %d %r" % (st, body[:200]))
    # HEAD has no body but the length header survives
    st, h, body = request(node.http_port, host, method="HEAD", path="/")
    check(st == 200 and body == b"", "HEAD /: %d %r" % (st, body[:100]))
    # the client logs one line per request: "GET /whoami 200 12ms 1234B"
    client.wait_line(r"^GET /whoami 200 \d+(\.\d+)?ms \d+B$", timeout=5)


def test_post(env):
    node, port, client, url = setup(env)
    host = url["host"]
    data = gen_bytes(200 * 1024, 7)
    st, _, body = request(node.http_port, host, "POST", "/echo", body=data,
                          headers={"Content-Type": "application/octet-stream"})
    check(st == 200 and body == data, "POST /echo 200 KiB: status %d, %d bytes back, equal=%s"
          % (st, len(body), body == data))
    data = gen_bytes(3 * MiB, 8)
    st, _, body = request(node.http_port, host, "POST", "/upload", body=data)
    check(st == 200, "POST /upload 3 MiB: status %d %r" % (st, body[:200]))
    got = jloads(body)
    check(got == {"n": len(data), "sha256": harness.sha256_hex(data)},
          "POST /upload 3 MiB: service saw %r" % got)
    st, _, body = request(node.http_port, host, "PUT", "/echo", body=b"")
    check(st == 200 and body == b"", "PUT /echo empty body: %d %r" % (st, body[:100]))


def test_keepalive(env):
    node, port, client, url = setup(env)
    c = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=10)
    try:
        first = None
        for i in range(10):
            if i % 3 == 2:
                payload = gen_bytes(10000 + i, i)
                c.request("POST", "/echo", body=payload, headers={"Host": url["host"]})
                r = c.getresponse()
                body = r.read()
                check(r.status == 200 and body == payload,
                      "keep-alive request %d (POST /echo): %d, equal=%s" % (i, r.status, body == payload))
            else:
                c.request("GET", "/whoami?i=%d" % i, headers={"Host": url["host"]})
                r = c.getresponse()
                body = r.read()
                check(r.status == 200 and body == b"alice %d" % port,
                      "keep-alive request %d: %d %r" % (i, r.status, body[:100]))
            check(not r.will_close, "request %d: node closes the keep-alive connection "
                  "(Connection: %s)" % (i, r.getheader("Connection")))
            name = c.sock.getsockname()
            if first is None:
                first = name
            check(name == first, "request %d went on a new connection (%s, first %s): "
                  "keep-alive not kept" % (i, name, first))
    finally:
        c.close()


def test_chunked_upload(env):
    node, port, client, url = setup(env)
    n = 5 * MiB + 123
    data = gen_bytes(n, 3)

    def pieces():
        i = 0
        step = 1
        while i < n:
            yield data[i:i + step]
            i += step
            step = min(step * 3 + 7, 300000)

    c = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=20)
    try:
        c.request("POST", "/upload", body=pieces(), encode_chunked=True,
                  headers={"Host": url["host"], "Transfer-Encoding": "chunked"})
        r = c.getresponse()
        body = r.read()
    finally:
        c.close()
    check(r.status == 200, "chunked POST /upload: status %d %r" % (r.status, body[:200]))
    got = jloads(body)
    check(got == {"n": n, "sha256": gen_sha256(n, 3)},
          "chunked upload of %d bytes: service saw %r" % (n, got))
    # a chunked echo comes back whole too
    st, _, body = request(node.http_port, url["host"], "POST", "/echo",
                          body=iter([b"hello ", b"chunked ", b"world"]))
    check(st == 200 and body == b"hello chunked world", "chunked POST /echo: %d %r" % (st, body))


def test_chunked_download(env):
    node, port, client, url = setup(env)
    n = 3 * MiB + 17
    c = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=20)
    try:
        for path, seed in (("/chunked?n=%d&seed=5" % n, 5), ("/bytes?chunked=1&n=%d&seed=6" % n, 6)):
            c.request("GET", path, headers={"Host": url["host"]})
            r = c.getresponse()
            body = r.read()
            check(r.status == 200, "GET %s: status %d" % (path, r.status))
            check(r.chunked, "GET %s: response lost its chunked encoding (headers %s)"
                  % (path, r.getheaders()))
            check(len(body) == n and body == gen_bytes(n, seed),
                  "GET %s: %d bytes, want %d, equal=%s" % (path, len(body), n, body == gen_bytes(n, seed)))
    finally:
        c.close()


def test_websocket(env):
    import websockets

    node = env.node()
    ws_port, _ = env.service("ws")
    client, url = env.http_tunnel(node, ws_port, "ws")

    async def run():
        uri = "ws://%s:%d/echo" % (url["host"], node.http_port)
        async with websockets.connect(uri, host="127.0.0.1", port=node.http_port,
                                      max_size=8 << 20, open_timeout=10,
                                      close_timeout=5) as ws:
            for i in range(20):
                msg = "hello %d" % i
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 10)
                check(got == msg, "text echo %d: %r" % (i, got))
            big = gen_bytes(2 * MiB, 9)
            await ws.send(big)
            got = await asyncio.wait_for(ws.recv(), 20)
            check(got == big, "2 MiB binary echo: %d bytes back, equal=%s" % (len(got), got == big))
            pong = await ws.ping()
            await asyncio.wait_for(pong, 10)

    asyncio.run(asyncio.wait_for(run(), 45))


def test_sse_streams(env):
    node, port, client, url = setup(env)
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
    try:
        t0 = time.monotonic()
        s.sendall(b"GET /sse?count=5&ms=400 HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n"
                  % url["host"].encode())
        buf = b""
        t_first = None
        while time.monotonic() - t0 < 15:
            b = s.recv(65536)
            if not b:
                break
            buf += b
            if t_first is None and b"data: event 0" in buf:
                t_first = time.monotonic() - t0
            if b"\r\n0\r\n\r\n" in buf or buf.endswith(b"0\r\n\r\n") and b"event 4" in buf:
                break
        t_end = time.monotonic() - t0
    finally:
        s.close()
    check(harness.status_of(buf) == 200, "GET /sse: %r" % buf[:200])
    check(b"text/event-stream" in buf.split(b"\r\n\r\n")[0], "GET /sse lost its content type")
    check(t_first is not None, "no SSE event arrived: %r" % buf[:300])
    check(b"event 4" in buf, "not all SSE events arrived within 15 s: %r" % buf[-300:])
    env.note("first event after %.3fs, stream end after %.3fs" % (t_first, t_end))
    check(t_first < 1.0 and t_end - t_first > 1.2,
          "first SSE event after %.2fs, end after %.2fs: events are buffered, not streamed"
          % (t_first, t_end))


def test_forwarded_headers(env):
    node, port, client, url = setup(env)
    st, _, body = request(node.http_port, url["host"], path="/headers",
                          headers={"User-Agent": "integ"})
    check(st == 200, "GET /headers: %d" % st)
    got = jloads(body)
    h = {k.lower(): v for k, v in got["headers"]}
    check(h.get("user-agent") == "integ", "User-Agent lost: %r" % h)
    check(h.get("host", "").split(":")[0] == url["host"], "Host not kept: %r" % h.get("host"))
    xff = h.get("x-forwarded-for", "")
    check(xff.split(",")[-1].strip() == "127.0.0.1", "X-Forwarded-For: %r (headers %r)" % (xff, h))
    check(h.get("x-forwarded-proto") == "http", "X-Forwarded-Proto: %r" % h.get("x-forwarded-proto"))
    check(h.get("x-forwarded-host", "").split(":")[0] == url["host"],
          "X-Forwarded-Host: %r" % h.get("x-forwarded-host"))
    # a second request on the same connection gets them too
    c = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=10)
    try:
        for i in range(2):
            c.request("GET", "/headers", headers={"Host": url["host"]})
            r = c.getresponse()
            h = {k.lower(): v for k, v in json.loads(r.read())["headers"]}
            check("x-forwarded-for" in h, "request %d on a kept-alive connection lacks "
                  "X-Forwarded-For: %r" % (i, h))
    finally:
        c.close()
