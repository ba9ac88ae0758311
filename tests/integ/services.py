#!/usr/bin/python3
"""Local services the integration tests put behind tunnels (stdlib + websockets).

Run as a program, one service per process, so a test can kill it:

    services.py http [--name NAME]    HTTP/1.1 server (endpoints below)
    services.py ws                    WebSocket echo (python3-websockets)
    services.py tcp-echo              echoes bytes as they arrive; half-close kept
    services.py tcp-collect           reads until EOF, then sends it all back
    services.py gen N SEED            writes the test stream to stdout, its sha256
                                      (hex) to stderr

Each server binds 127.0.0.1:0 and prints `ready port=PORT` on stdout.

HTTP endpoints:
    /whoami            "NAME PORT"
    /headers           JSON: method, path, headers (list of pairs)
    /echo              the request body back (Content-Length or chunked in)
    /bytes?n=N&seed=S  N bytes of the test stream, made on the fly
                       (&chunked=1: chunked encoding; &rate=BPS: paced)
    /upload            consumes the body as it arrives; JSON {n, sha256}
    /chunked?n=N&seed=S  chunked response, chunks of varying size
    /sse?count=C&ms=T  C server-sent events, one every T ms
    /slow?ms=T         answers after T ms
    /status?code=N     answers with status N
    /record/...        keeps method, path, headers and body (the last 100);
                       answers "recorded"
    /recorded          JSON list of what /record/... kept
"""
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024
POOL = 1 << 20
_pools = {}
_pools_lock = threading.Lock()


def _pool(seed):
    with _pools_lock:
        p = _pools.get(seed)
        if p is None:
            if len(_pools) > 64:
                _pools.clear()
            p = random.Random(seed).randbytes(POOL + CHUNK)
            _pools[seed] = p
        return p


def gen_chunks(n, seed=1):
    """Yields the n-byte test stream for seed in chunks of at most 64 KiB.

    Chunk k is a window of a 1 MiB seeded pool at offset k*12345 mod 1 MiB,
    so every chunk of a 1 GiB stream differs and nothing is stored."""
    pool = _pool(seed)
    k = 0
    left = n
    while left > 0:
        off = (k * 12345) % POOL
        m = min(CHUNK, left)
        yield pool[off:off + m]
        left -= m
        k += 1


def gen_bytes(n, seed=1):
    return b"".join(gen_chunks(n, seed))


def gen_sha256(n, seed=1):
    h = hashlib.sha256()
    for c in gen_chunks(n, seed):
        h.update(c)
    return h.hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "warren-test"

    def log_message(self, fmt, *args):
        pass

    # -- request body -------------------------------------------------
    def body_chunks(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("eof in chunk size")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(8192)
                        if t in (b"\r\n", b"\n", b""):
                            return
                left = size
                while left > 0:
                    b = self.rfile.read(min(left, 256 * 1024))
                    if not b:
                        raise ConnectionError("eof in chunk")
                    left -= len(b)
                    yield b
                self.rfile.readline(16)
        else:
            left = int(self.headers.get("Content-Length", "0") or 0)
            while left > 0:
                b = self.rfile.read(min(left, 256 * 1024))
                if not b:
                    raise ConnectionError("eof in body")
                left -= len(b)
                yield b

    # -- responses ----------------------------------------------------
    def send_body(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def handle_any(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        path = u.path
        if path == "/whoami":
            self.drain_body()
            name = self.server.name
            self.send_body(200, ("%s %d" % (name, self.server.server_port)).encode())
        elif path == "/headers":
            self.drain_body()
            body = json.dumps({"method": self.command, "path": self.path,
                               "headers": list(self.headers.items())}).encode()
            self.send_body(200, body, "application/json")
        elif path == "/echo":
            data = b"".join(self.body_chunks())
            self.send_body(200, data, self.headers.get("Content-Type", "application/octet-stream"))
        elif path == "/upload":
            h = hashlib.sha256()
            n = 0
            for b in self.body_chunks():
                h.update(b)
                n += len(b)
            self.send_body(200, json.dumps({"n": n, "sha256": h.hexdigest()}).encode(),
                           "application/json")
        elif path == "/bytes":
            self.drain_body()
            n = int(q.get("n", "0"))
            seed = int(q.get("seed", "1"))
            rate = float(q.get("rate", "0"))
            chunked = q.get("chunked") == "1"
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(n))
            self.end_headers()
            t0 = time.monotonic()
            sent = 0
            for c in gen_chunks(n, seed):
                if chunked:
                    self.write_chunk(c)
                else:
                    self.wfile.write(c)
                sent += len(c)
                if rate > 0:
                    ahead = sent / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        elif path == "/chunked":
            self.drain_body()
            n = int(q.get("n", "100000"))
            seed = int(q.get("seed", "1"))
            data = gen_bytes(n, seed)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            r = random.Random(seed)
            i = 0
            while i < n:
                m = min(n - i, r.randint(1, 20000))
                self.write_chunk(data[i:i + m])
                i += m
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/sse":
            self.drain_body()
            count = int(q.get("count", "5"))
            ms = int(q.get("ms", "300"))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            for i in range(count):
                self.write_chunk(b"id: %d\ndata: event %d t=%.3f\n\n" % (i, i, time.time()))
                if i + 1 < count:
                    time.sleep(ms / 1000.0)
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/slow":
            self.drain_body()
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
            self.send_body(200, b"slow\n")
        elif path == "/status":
            self.drain_body()
            self.send_body(int(q.get("code", "200")), b"status\n")
        elif path.startswith("/record/"):
            data = b"".join(self.body_chunks())
            with self.server.lock:
                self.server.recorded.append({
                    "method": self.command, "path": self.path,
                    "headers": list(self.headers.items()),
                    "body": data.decode("utf-8", "replace")})
                del self.server.recorded[:-100]
            self.send_body(200, b"recorded\n")
        elif path == "/recorded":
            self.drain_body()
            with self.server.lock:
                body = json.dumps(self.server.recorded).encode()
            self.send_body(200, body, "application/json")
        else:
            self.drain_body()
            self.send_body(200, b"<html><body>warren test service %s</body></html>\n"
                           % self.server.name.encode(), "text/html")

    def drain_body(self):
        for _ in self.body_chunks():
            pass

    def _run(self):
        try:
            self.handle_any()
        except (ConnectionError, BrokenPipeError, socket.timeout, ValueError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _run


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    recorded = []
    lock = threading.Lock()


def serve_http(name):
    srv = Server(("127.0.0.1", 0), Handler)
    srv.name = name
    print("ready port=%d" % srv.server_port, flush=True)
    srv.serve_forever()


def serve_ws():
    import asyncio
    import websockets

    async def echo(ws, path=None):
        try:
            async for msg in ws:
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass

    async def main():
        async with websockets.serve(echo, "127.0.0.1", 0, max_size=16 << 20) as srv:
            port = srv.sockets[0].getsockname()[1]
            print("ready port=%d" % port, flush=True)
            await asyncio.Future()

    asyncio.run(main())


def serve_tcp(collect):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(256)
    print("ready port=%d" % ls.getsockname()[1], flush=True)

    def conn(s):
        try:
            if collect:
                parts = []
                total = 0
                while total < (64 << 20):
                    b = s.recv(256 * 1024)
                    if not b:
                        break
                    parts.append(b)
                    total += len(b)
                s.sendall(b"".join(parts))
            else:
                while True:
                    b = s.recv(256 * 1024)
                    if not b:
                        break
                    s.sendall(b)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            while s.recv(65536):
                pass
        except OSError:
            pass
        finally:
            s.close()

    while True:
        s, _ = ls.accept()
        threading.Thread(target=conn, args=(s,), daemon=True).start()


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    what = argv[1]
    if what == "http":
        name = argv[3] if len(argv) > 3 and argv[2] == "--name" else "svc"
        serve_http(name)
    elif what == "ws":
        serve_ws()
    elif what in ("tcp-echo", "tcp-collect"):
        serve_tcp(what == "tcp-collect")
    elif what == "gen":
        n, seed = int(argv[2]), int(argv[3])
        h = hashlib.sha256()
        out = sys.stdout.buffer
        for c in gen_chunks(n, seed):
            h.update(c)
            out.write(c)
        out.flush()
        print(h.hexdigest(), file=sys.stderr)
    else:
        print("unknown service %r" % what, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(1)
