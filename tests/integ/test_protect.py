"""Per-tunnel protections set by the client (basic auth, allowed and denied
addresses, PROXY protocol towards the local service) and the node's own
(PROXY protocol from a trusted load balancer, connections per address)."""
import base64
import socket
import threading
import time
import urllib.request

import harness
from harness import check, raw_exchange, recv_all, status_of

TIMEOUT = 60


def metric(node, name, timeout=3.0):
    """Value of a /metrics line starting with name (the acceptor publishes
    its counters every second), or None."""
    url = "http://127.0.0.1:%d/metrics" % node.admin_port
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[-1]))
    return None


def wait_metric(node, name, at_least, timeout=4.0):
    deadline = time.monotonic() + timeout
    v = None
    while time.monotonic() < deadline:
        v = metric(node, name)
        if v is not None and v >= at_least:
            return v
        time.sleep(0.2)
    return v


def get(port, host, path="/whoami", headers=(), source="127.0.0.1"):
    req = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (path, host)
    for h in headers:
        req += h + "\r\n"
    s = socket.create_connection(("127.0.0.1", port), timeout=10,
                                 source_address=(source, 0))
    try:
        s.sendall((req + "\r\n").encode())
    except ConnectionResetError:
        pass
    out = recv_all(s)
    s.close()
    return out


def test_basic_auth(env):
    node = env.node()
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice", extra=["--basic-auth", "alice:s3cret"])
    raw = get(node.http_port, "alice.localhost")
    check(status_of(raw) == 401 and b"WWW-Authenticate: Basic" in raw,
          "no credentials: want 401 with WWW-Authenticate, got %r" % raw[:300])
    bad = base64.b64encode(b"alice:wrong").decode()
    raw = get(node.http_port, "alice.localhost", headers=["Authorization: Basic " + bad])
    check(status_of(raw) == 401, "wrong password: want 401, got %r" % raw[:200])
    good = base64.b64encode(b"alice:s3cret").decode()
    raw = get(node.http_port, "alice.localhost", headers=["Authorization: Basic " + good])
    check(status_of(raw) == 200 and raw.endswith(b"alice %d" % port),
          "right password: want 200, got %r" % raw[:300])
    # keep-alive: the second request has no credentials
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
    s.sendall(("GET /whoami HTTP/1.1\r\nHost: alice.localhost\r\nAuthorization: Basic %s\r\n\r\n"
               "GET /whoami HTTP/1.1\r\nHost: alice.localhost\r\n\r\n" % good).encode())
    out = recv_all(s)
    s.close()
    check(out.count(b"HTTP/1.") == 2 and b" 200 " in out.split(b"\r\n")[0] and
          b"401 Unauthorized" in out, "keep-alive without credentials: %r" % out[:600])
    check(wait_metric(node, 'warren_acceptor_http_errors_total{status="401"}', 3) >= 3,
          "401 counter did not rise")
    # basic auth is for http tunnels only: a tcp tunnel asking for it is refused
    c = env.client(["tcp", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--basic-auth", "a:b"], name="client-tcp-basic")
    c.proc.wait(10)
    check(c.proc.p.returncode == 1 and "basic auth needs an http tunnel" in harness.tail(c.log),
          "tcp tunnel with basic auth: rc=%s\n%s" % (c.proc.p.returncode, harness.tail(c.log)))


POLICY = 'warren_acceptor_conns_refused_total{reason="policy"}'


def test_allow_deny(env):
    node = env.node()
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice", extra=["--allow-ip", "127.0.0.2/32,127.0.0.3"])
    time.sleep(1.2)             # the acceptor's first counters are published
    policy0 = metric(node, POLICY)
    check(policy0 is not None, "/metrics lacks %s" % POLICY)
    raw = get(node.http_port, "alice.localhost", source="127.0.0.1")
    check(status_of(raw) == 403, "not on the allow list: want 403, got %r" % raw[:200])
    raw = get(node.http_port, "alice.localhost", source="127.0.0.2")
    check(status_of(raw) == 200, "on the allow list: want 200, got %r" % raw[:200])
    port2 = env.http_service("bob")
    env.http_tunnel(node, port2, "bob", extra=["--deny-ip", "127.0.0.5"])
    check(status_of(get(node.http_port, "bob.localhost", source="127.0.0.5")) == 403,
          "denied address was let in")
    check(status_of(get(node.http_port, "bob.localhost", source="127.0.0.6")) == 200,
          "other address was refused")
    # tcp tunnels: a refused address is closed at once
    echo = env.service("tcp-echo")[0]
    c = env.client(["tcp", str(echo), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--allow-ip", "127.0.0.9"], name="client-tcp")
    pub = c.wait_urls(1, 15)[0]["port"]
    s = socket.create_connection(("127.0.0.1", pub), timeout=5, source_address=("127.0.0.1", 0))
    try:
        s.sendall(b"hello")
    except ConnectionResetError:
        pass
    got = recv_all(s)
    s.close()
    check(got == b"", "tcp from a refused address got %r" % got)
    s = socket.create_connection(("127.0.0.1", pub), timeout=5, source_address=("127.0.0.9", 0))
    s.sendall(b"hello")
    got = s.recv(100)
    s.close()
    check(got == b"hello", "tcp from an allowed address got %r" % got)
    # three refusals so far: 403 for alice, 403 for bob, the closed tcp one
    got = wait_metric(node, POLICY, policy0 + 3)
    time.sleep(1.2)
    check(got == policy0 + 3 and metric(node, POLICY) == policy0 + 3,
          "%s went from %s to %s; the test made 3 refusals" % (POLICY, policy0, metric(node, POLICY)))
    # a bad list is refused at registration with the entry named
    c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--subdomain", "carol", "--allow-ip", "10.0.0.0/99"], name="client-bad")
    c.proc.wait(10)
    check("10.0.0.0/99" in harness.tail(c.log), "bad CIDR not named:\n%s" % harness.tail(c.log))


def line_server(env):
    """A TCP server that answers each connection with its first line."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(20)

    def run():
        try:
            while True:
                c, _ = srv.accept()
                data = b""
                while b"\r\n" not in data and len(data) < 300:
                    b = c.recv(300)
                    if not b:
                        break
                    data += b
                c.sendall(data.split(b"\r\n")[0] + b"\n")
                c.close()
        except OSError:
            pass
    threading.Thread(target=run, daemon=True).start()
    return srv


def test_proxy_protocol_to_local(env):
    node = env.node()
    srv = line_server(env)
    port = srv.getsockname()[1]
    c = env.client(["tcp", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--proxy-protocol", "v1"], name="client-pp")
    pub = c.wait_urls(1, 15)[0]["port"]
    s = socket.create_connection(("127.0.0.1", pub), timeout=10, source_address=("127.0.0.4", 0))
    src_port = s.getsockname()[1]
    line = s.recv(300)
    s.close()
    srv.close()
    check(line.startswith(b"PROXY TCP4 127.0.0.4 127.0.0.1 %d %d" % (src_port, port)),
          "local service got %r" % line)


def test_proxy_protocol_from_load_balancer(env):
    node = env.node(["--proxy-protocol-from", "127.0.0.7"])
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    # from the trusted balancer: its header names the client (data only)
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10,
                                 source_address=("127.0.0.7", 0))
    s.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"
              b"GET /headers HTTP/1.1\r\nHost: alice.localhost\r\nConnection: close\r\n\r\n")
    out = recv_all(s)
    s.close()
    check(status_of(out) == 200 and b"203.0.113.7" in out,
          "X-Forwarded-For from the PROXY header: %r" % out[-400:])
    # v2 as well
    import struct
    v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", 12) +
          socket.inet_aton("198.51.100.9") + socket.inet_aton("127.0.0.1") +
          struct.pack("!HH", 4444, 80))
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10,
                                 source_address=("127.0.0.7", 0))
    s.sendall(v2 + b"GET /headers HTTP/1.1\r\nHost: alice.localhost\r\nConnection: close\r\n\r\n")
    out = recv_all(s)
    s.close()
    check(b"198.51.100.9" in out, "PROXY v2 address not used: %r" % out[-400:])
    # the balancer without a header: closed, counted
    raw = get(node.http_port, "alice.localhost", source="127.0.0.7")
    check(raw == b"", "no PROXY header from the balancer: got %r" % raw[:200])
    check(wait_metric(node, "warren_acceptor_proxy_protocol_errors_total", 1) >= 1,
          "proxy_protocol_errors counter did not rise")
    # everyone else is not trusted: a PROXY line is just a bad request
    raw = raw_exchange(node.http_port, b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"
                       b"GET / HTTP/1.1\r\nHost: alice.localhost\r\n\r\n")
    check(status_of(raw) == 400, "untrusted PROXY line: want 400, got %r" % raw[:200])


def test_conns_per_ip(env):
    node = env.node(["--max-conns-per-ip", "3"])
    held = [socket.create_connection(("127.0.0.1", node.http_port), timeout=5,
                                     source_address=("127.0.0.8", 0)) for _ in range(3)]
    time.sleep(0.3)
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=5,
                                 source_address=("127.0.0.8", 0))
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x.localhost\r\n\r\n")
    except ConnectionResetError:
        pass
    got = recv_all(s)
    check(got == b"", "4th connection from one address was served: %r" % got)
    s.close()
    # another address is not affected
    raw = get(node.http_port, "nobody.localhost", source="127.0.0.9")
    check(status_of(raw) == 404, "other address: want 404, got %r" % raw[:100])
    for h in held:
        h.close()
    time.sleep(0.3)
    raw = get(node.http_port, "nobody.localhost", source="127.0.0.8")
    check(status_of(raw) == 404, "after closing: want 404, got %r" % raw[:100])
    check(wait_metric(node, 'warren_acceptor_conns_refused_total{reason="per_ip"}', 1) >= 1,
          "per-ip refusal counter did not rise")
