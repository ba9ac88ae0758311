"""The request inspector of `warren http`: capture (chunked bodies, bodies
over the limit, keep-alive, pipelining, WebSocket, SSE), the JSON API with
replay and edit-and-replay, the live event stream, and its access rules."""
import asyncio
import base64
import http.client
import json
import re
import socket
import time

import harness
from harness import MiB, check, gen_bytes, request

TIMEOUT = 60


def api(base, method, path, body=None, headers=None, timeout=10):
    """One request to the inspector -> (status, parsed JSON or bytes)."""
    host, port = base.split("://", 1)[1].rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        h = dict(headers or {})
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        if r.getheader("Content-Type", "").startswith("application/json"):
            return r.status, json.loads(data)
        return r.status, data
    finally:
        c.close()


def setup(env, extra=(), kind="http", sub="insp"):
    node = env.node()
    if kind == "http":
        port = env.http_service(sub)
    else:
        port, _ = env.service(kind)
    client, url = env.http_tunnel(node, port, sub,
                                  extra=["--inspect-listen", "127.0.0.1:0"] + list(extra))
    _, m = client.wait_line(r"^inspect (http://127\.0\.0\.1:\d+)$", timeout=5)
    return node, port, client, url, m.group(1)


def wait_rec(base, pred, what, timeout=10):
    """Polls GET /api/requests until pred(list) holds; returns the list."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        st, last = api(base, "GET", "/api/requests")
        check(st == 200, "GET /api/requests: %s %r" % (st, last))
        if pred(last):
            return last
        time.sleep(0.05)
    raise harness.TestFailure("inspector: %s within %ss; list: %r" % (what, timeout, last))


def header(side, name):
    return [v for n, v in side["headers"] if n.lower() == name.lower()]


def test_inspect_capture_and_api(env):
    node, port, client, url, base = setup(env)
    host = url["host"]
    # the page and its files come from the binary
    st, page = api(base, "GET", "/")
    check(st == 200 and b"warren inspector" in page and b"/app.js" in page,
          "GET /: %s %r" % (st, page[:200]))
    for f in ("/app.js", "/app.css"):
        st, data = api(base, "GET", f)
        check(st == 200 and len(data) > 1000, "GET %s: %s, %d bytes" % (f, st, len(data)))
    check(b"http://" not in page and b"https://" not in page, "the page refers to another site")

    st, _, body = request(node.http_port, host, path="/headers?q=1",
                          headers={"X-Probe": "one"})
    check(st == 200, "GET /headers: %d" % st)
    payload = json.dumps({"a": [1, 2, 3], "b": "text"}).encode()
    st, _, echoed = request(node.http_port, host, method="POST", path="/echo", body=payload,
                            headers={"Content-Type": "application/json"})
    check(st == 200 and echoed == payload, "POST /echo: %d %r" % (st, echoed[:100]))

    recs = wait_rec(base, lambda l: len(l) >= 2 and all(r["state"] == "done" for r in l),
                    "two finished records")
    check([r["path"] for r in recs[:2]] == ["/echo", "/headers?q=1"],
          "newest first: %r" % [r["path"] for r in recs])
    post = recs[0]
    check(post["method"] == "POST" and post["status"] == 200 and post["tunnel"] == "http"
          and post["req_bytes"] == len(payload) and post["resp_bytes"] == len(payload)
          and post["peer"].startswith("127.0.0.1:") and post["duration_ms"] >= 0,
          "summary of POST /echo: %r" % post)

    st, d = api(base, "GET", "/api/requests/%d" % post["id"])
    check(st == 200, "GET one: %s %r" % (st, d))
    check(d["request"]["line"] == "POST /echo HTTP/1.1", "request line %r" % d["request"]["line"])
    check(header(d["request"], "Content-Type") == ["application/json"]
          and header(d["request"], "Host") == [host]
          and header(d["request"], "X-Forwarded-For") != [],
          "request headers: %r" % d["request"]["headers"])
    check(d["request"]["body"] == {"size": len(payload), "kept": len(payload), "truncated": False,
                                   "encoding": "text", "data": payload.decode()},
          "request body: %r" % d["request"]["body"])
    check(d["response"]["line"].startswith("HTTP/1.") and " 200 " in d["response"]["line"],
          "response line %r" % d["response"]["line"])
    check(d["response"]["body"]["data"] == payload.decode(), "response body %r" % d["response"]["body"])

    st, d = api(base, "GET", "/api/requests/%d" % recs[1]["id"])
    check(header(d["request"], "X-Probe") == ["one"], "GET headers: %r" % d["request"]["headers"])

    # binary bodies come as base64; chunked ones decoded
    raw = gen_bytes(50000, 3)
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
    try:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
                  % host.encode())
        for i in range(0, len(raw), 7000):
            part = raw[i:i + 7000]
            s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        s.sendall(b"0\r\n\r\n")
        out = harness.recv_all(s)
    finally:
        s.close()
    check(out.endswith(raw), "chunked echo came back whole (%d bytes)" % len(out))
    recs = wait_rec(base, lambda l: len(l) >= 3 and l[0]["state"] != "open", "chunked record")
    st, d = api(base, "GET", "/api/requests/%d" % recs[0]["id"])
    b = d["request"]["body"]
    check(b["encoding"] == "base64" and base64.b64decode(b["data"]) == raw and b["size"] == len(raw),
          "chunked binary request body: size %s kept %s enc %s" % (b["size"], b["kept"], b["encoding"]))
    check(base64.b64decode(d["response"]["body"]["data"]) == raw, "binary response body")

    # errors: unknown id, bad method
    st, e = api(base, "GET", "/api/requests/999999")
    check(st == 404 and "error" in e, "unknown id: %s %r" % (st, e))
    st, e = api(base, "PUT", "/api/requests")
    check(st == 405, "PUT /api/requests: %s" % st)
    # DELETE forgets everything
    st, _ = api(base, "DELETE", "/api/requests")
    check(st == 204, "DELETE: %s" % st)
    st, l = api(base, "GET", "/api/requests")
    check(l == [], "after DELETE: %r" % l)
    # the one-line log goes on beside it
    client.wait_line(r"^POST /echo 200 \d+ms \d+B$", timeout=5)


def test_inspect_body_limit_stream_untouched(env):
    node, port, client, url, base = setup(env, extra=["--inspect-body-max", "64KiB"])
    data = gen_bytes(3 * MiB, 5)
    st, _, body = request(node.http_port, url["host"], method="POST", path="/upload", body=data,
                          timeout=30)
    check(st == 200 and json.loads(body)["n"] == len(data), "upload through the tunnel: %d %r"
          % (st, body[:200]))
    st, _, body = request(node.http_port, url["host"], path="/bytes?n=%d&seed=2" % (2 * MiB),
                          timeout=30)
    check(st == 200 and body == gen_bytes(2 * MiB, 2), "download of 2 MiB intact (%d bytes)" % len(body))
    recs = wait_rec(base, lambda l: len(l) >= 2 and all(r["state"] == "done" for r in l), "records")
    st, up = api(base, "GET", "/api/requests/%d" % recs[1]["id"])
    b = up["request"]["body"]
    check(b["size"] == 3 * MiB and b["kept"] == 64 * 1024 and b["truncated"],
          "upload body: size %s kept %s truncated %s" % (b["size"], b["kept"], b["truncated"]))
    check(base64.b64decode(b["data"]) == data[:65536], "kept prefix of the upload is exact")
    st, down = api(base, "GET", "/api/requests/%d" % recs[0]["id"])
    b = down["response"]["body"]
    check(b["size"] == 2 * MiB and b["kept"] == 64 * 1024 and b["truncated"] and recs[0]["truncated"],
          "download body: %r" % {k: b[k] for k in ("size", "kept", "truncated")})
    # a replay would send less than the original: refused with the reason
    st, e = api(base, "POST", "/api/requests/%d/replay" % recs[1]["id"])
    check(st == 409 and "inspect-body-max" in e["error"], "replay of a cut body: %s %r" % (st, e))


def test_inspect_keepalive_and_pipelining(env):
    node, port, client, url, base = setup(env)
    h = url["host"].encode()
    reqs = (b"GET /whoami HTTP/1.1\r\nHost: %s\r\n\r\n" % h
            + b"POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\n\r\nhello" % h
            + b"GET /status?code=404 HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % h)
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
    try:
        s.sendall(reqs)   # all three at once: pipelined on one connection
        out = harness.recv_all(s)
    finally:
        s.close()
    check(out.count(b"HTTP/1.1 ") == 3, "three answers: %r" % out[:300])
    recs = wait_rec(base, lambda l: len(l) >= 3 and all(r["state"] == "done" for r in l),
                    "three pipelined records")
    got = [(r["method"], r["path"], r["status"]) for r in reversed(recs)]
    check(got == [("GET", "/whoami", 200), ("POST", "/echo", 200), ("GET", "/status?code=404", 404)],
          "pipelined records in order: %r" % got)
    peers = {r["peer"] for r in recs}
    check(len(peers) == 1, "one connection, one peer: %r" % peers)
    st, d = api(base, "GET", "/api/requests/%d" % recs[1]["id"])
    check(d["request"]["body"]["data"] == "hello" and d["response"]["body"]["data"] == "hello",
          "the middle exchange's bodies: %r / %r" % (d["request"]["body"], d["response"]["body"]))
    # status filter data: the 404 is there with its answer
    st, d = api(base, "GET", "/api/requests/%d" % recs[0]["id"])
    check(" 404 " in d["response"]["line"], "404 line %r" % d["response"]["line"])


def test_inspect_replay_and_edit(env):
    node, port, client, url, base = setup(env)
    st, _, body = request(node.http_port, url["host"], method="POST", path="/record/first",
                          body=b"original body", headers={"X-Token": "abc",
                                                          "Content-Type": "text/plain"})
    check(st == 200, "POST /record/first: %d" % st)
    recs = wait_rec(base, lambda l: len(l) == 1 and l[0]["state"] == "done", "the original")
    orig = recs[0]["id"]

    st, r = api(base, "POST", "/api/requests/%d/replay" % orig)
    check(st == 200 and r["replay_of"] == orig and r["id"] > orig, "replay: %s %r" % (st, r))
    rid = r["id"]
    recs = wait_rec(base, lambda l: any(x["id"] == rid and x["state"] != "open" for x in l),
                    "the replay's record")
    rep = [x for x in recs if x["id"] == rid][0]
    check(rep["replay_of"] == orig and rep["status"] == 200 and rep["peer"] == "replay",
          "replay record: %r" % rep)

    edit = {"method": "PUT", "path": "/record/edited?x=1",
            "headers": [["Host", url["host"]], ["X-Token", "changed"], ["X-New", "yes"]],
            "body": "edited body"}
    st, r = api(base, "POST", "/api/requests/%d/replay" % orig, body=edit)
    check(st == 200 and r["replay_of"] == orig, "edit and replay: %s %r" % (st, r))
    eid = r["id"]
    wait_rec(base, lambda l: any(x["id"] == eid and x["state"] != "open" for x in l), "edited replay")
    st, d = api(base, "GET", "/api/requests/%d" % eid)
    check(d["method"] == "PUT" and d["request"]["line"] == "PUT /record/edited?x=1 HTTP/1.1"
          and d["response"]["body"]["data"] == "recorded\n",
          "edited replay record: %r / %r" % (d["request"]["line"], d["response"]["body"]))

    # what the local service saw: the original, the replay, the edited one
    st, _, seen = request(port, "127.0.0.1", path="/recorded")
    seen = json.loads(seen)
    check([(s["method"], s["path"], s["body"]) for s in seen] ==
          [("POST", "/record/first", "original body"), ("POST", "/record/first", "original body"),
           ("PUT", "/record/edited?x=1", "edited body")],
          "local service saw: %r" % [(s["method"], s["path"], s["body"]) for s in seen])
    hdr = [dict((k.lower(), v) for k, v in s["headers"]) for s in seen]
    check(hdr[1].get("x-token") == "abc" and hdr[2].get("x-token") == "changed"
          and hdr[2].get("x-new") == "yes" and hdr[2].get("content-length") == "11",
          "replayed headers: %r / %r" % (hdr[1], hdr[2]))

    # bad edits get a reason, and nothing is sent
    for bad, why in (({"method": "GE T"}, "method"), ({"path": "/a b"}, "path"),
                     ({"headers": [["X-A", "v\r\nX-B: injected"]]}, "header")):
        st, e = api(base, "POST", "/api/requests/%d/replay" % orig, body=bad)
        check(st == 400 and why in e["error"], "bad edit %r: %s %r" % (bad, st, e))
    st, e = api(base, "POST", "/api/requests/%d/replay" % orig, body=b"{not json")
    check(st == 400, "bad JSON: %s %r" % (st, e))
    st, _, seen = request(port, "127.0.0.1", path="/recorded")
    check(len(json.loads(seen)) == 3, "refused edits reached the service: %r" % seen[:300])


def test_inspect_events_live(env):
    node, port, client, url, base = setup(env)
    host, p = base.split("://")[1].rsplit(":", 1)
    s = socket.create_connection((host, int(p)), timeout=10)
    try:
        s.sendall(b"GET /api/events HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n"
                  % base.split("://")[1].encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        check(b"text/event-stream" in buf.split(b"\r\n\r\n")[0], "event stream head %r" % buf[:200])
        request(node.http_port, url["host"], path="/whoami?live=1")
        deadline = time.monotonic() + 10
        events = []
        while time.monotonic() < deadline:
            buf += s.recv(4096)
            events = [json.loads(m) for m in re.findall(rb"event: request\ndata: (.*)\n\n", buf)]
            if any(e["path"] == "/whoami?live=1" and e["state"] == "done" for e in events):
                break
        states = [e["state"] for e in events if e["path"] == "/whoami?live=1"]
        check(states and states[0] == "open" and states[-1] == "done",
              "events for the request: %r" % states)
        api(base, "DELETE", "/api/requests")
        while b"event: clear" not in buf and time.monotonic() < deadline:
            buf += s.recv(4096)
        check(b"event: clear" in buf, "clear event")
    finally:
        s.close()


def test_inspect_sse_and_websocket(env):
    node, port, client, url, base = setup(env)
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
    try:
        s.sendall(b"GET /sse?count=4&ms=500 HTTP/1.1\r\nHost: %s\r\n\r\n" % url["host"].encode())
        buf = b""
        while b"event 0" not in buf:
            buf += s.recv(4096)
        # while it streams: one entry, open, with its status
        recs = wait_rec(base, lambda l: len(l) == 1 and l[0]["status"] == 200, "open SSE entry", 5)
        check(recs[0]["state"] == "open" and recs[0]["duration_ms"] < 0, "SSE while open: %r" % recs[0])
        while b"0\r\n\r\n" not in buf:
            b = s.recv(4096)
            if not b:
                break
            buf += b
    finally:
        s.close()
    recs = wait_rec(base, lambda l: len(l) == 1 and l[0]["state"] == "done", "SSE done")
    st, d = api(base, "GET", "/api/requests/%d" % recs[0]["id"])
    check(d["response"]["body"]["data"].count("data: event") == 4, "SSE body %r" % d["response"]["body"])


def test_inspect_websocket(env):
    import websockets

    node, port, client, url, base = setup(env, kind="ws", sub="wsi")

    async def run():
        uri = "ws://%s:%d/echo" % (url["host"], node.http_port)
        async with websockets.connect(uri, host="127.0.0.1", port=node.http_port,
                                      open_timeout=10, close_timeout=5) as ws:
            for i in range(5):
                await ws.send("hello %d" % i)
                await asyncio.wait_for(ws.recv(), 10)
            # open meanwhile: one entry, 101, frames counted
            recs = await asyncio.get_running_loop().run_in_executor(
                None, lambda: wait_rec(base, lambda l: len(l) == 1 and l[0]["frames_out"] >= 5,
                                       "frames counted while open", 5))
            check(recs[0]["status"] == 101 and recs[0]["upgraded"] and recs[0]["state"] == "open",
                  "WebSocket entry while open: %r" % recs[0])

    asyncio.run(asyncio.wait_for(run(), 30))
    recs = wait_rec(base, lambda l: len(l) == 1 and l[0]["state"] == "closed", "closed WS entry")
    r = recs[0]
    check(r["frames_in"] >= 6 and r["frames_out"] >= 5 and r["status"] == 101,
          "WebSocket frames: in %d out %d (5 messages each way, plus close)"
          % (r["frames_in"], r["frames_out"]))


def test_inspect_access_rules(env):
    node = env.node()
    port = env.http_service("acc")
    # off loopback it needs credentials, and says so
    c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--inspect-listen", "0.0.0.0:0"], name="noauth")
    rc = c.proc.wait(10)
    check(rc == 1, "non-loopback inspector without --inspect-auth: exit %s" % rc)
    err = open(c.log).read()
    check("--inspect-auth" in err, "the refusal names --inspect-auth: %r" % err[-300:])

    c, url = env.http_tunnel(node, port, "acc", name="auth",
                             extra=["--inspect-listen", "127.0.0.1:0", "--inspect-auth", "ann:s3cret"])
    _, m = c.wait_line(r"^inspect (http://127\.0\.0\.1:\d+)$", timeout=5)
    base = m.group(1)
    st, _ = api(base, "GET", "/api/requests")
    check(st == 401, "no credentials: %s" % st)
    bad = {"Authorization": "Basic " + base64.b64encode(b"ann:wrong").decode()}
    good = {"Authorization": "Basic " + base64.b64encode(b"ann:s3cret").decode()}
    st, _ = api(base, "GET", "/api/requests", headers=bad)
    check(st == 401, "wrong credentials: %s" % st)
    st, l = api(base, "GET", "/api/requests", headers=good)
    check(st == 200 and l == [], "right credentials: %s %r" % (st, l))
    # DNS rebinding: a Host that is a name other than localhost
    st, _ = api(base, "GET", "/api/requests", headers=dict(good, Host="evil.example"))
    check(st == 403, "foreign Host: %s" % st)
    # another origin may not replay or clear
    st, _ = api(base, "DELETE", "/api/requests", headers=dict(good, Origin="http://evil.example"))
    check(st == 403, "cross-origin DELETE: %s" % st)


def test_inspect_next_free_port_and_off(env):
    node = env.node()
    port = env.http_service("np")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    p = busy.getsockname()[1]
    try:
        c, url = env.http_tunnel(node, port, "np", name="np",
                                 extra=["--inspect-listen", "127.0.0.1:%d" % p])
        _, m = c.wait_line(r"^inspect http://127\.0\.0\.1:(\d+)$", timeout=5)
        got = int(m.group(1))
        check(got != p and (p < got <= p + 20 or got > 0), "busy %d: inspector on %d" % (p, got))
        st, _ = api("http://127.0.0.1:%d" % got, "GET", "/api/requests")
        check(st == 200, "inspector on the next port answers: %s" % st)
    finally:
        busy.close()
    # --inspect=false: no inspector line, the log line still comes
    c, url = env.http_tunnel(node, port, "off", name="off", extra=["--inspect=false"])
    request(node.http_port, url["host"], path="/whoami")
    c.wait_line(r"^GET /whoami 200 ", timeout=5)
    check(not any(l.startswith("inspect ") for l in c.lines), "inspector line with --inspect=false: %r"
          % c.lines)
