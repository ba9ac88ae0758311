"""TLS ended at the node in front of the load balancer: `--lb-tls-listen`
(edgeProxy's TLS listener, also from its EDGEPROXY_TLS_* variables) and
HTTPS for a `domains` name, with real TLS clients (curl, Python's ssl).

Clients that must count as different addresses connect from different
127.0.x.y source addresses, so no PROXY header is needed except where the
header itself is tested (from 127.0.0.2, the only trusted balancer here)."""
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import time

import harness
from harness import TestFailure, check, curl
from test_lb import geoip_db
from test_lb_listen import (Backend, add_backends, metrics, proxy_v1,
                            wait_candidates, wait_metric)

TIMEOUT = 120


def make_cert(env, name="lb.test"):
    """A self-signed EC certificate for DNS name and 127.0.0.1: (cert, key)."""
    key, pem = env.path(name + ".key"), env.path(name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", pem,
                    "-subj", "/CN=%s" % name, "-addext",
                    "subjectAltName=DNS:%s,IP:127.0.0.1" % name, "-days", "2"],
                   check=True, capture_output=True, timeout=30)
    return pem, key


def tls_listeners(node, n, timeout=10):
    """{app: port} of the node's n --lb-tls-listen listeners."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ports = {ev["app"]: int(ev["addr"].rsplit(":", 1)[1]) for ev in node.events()
                 if ev.get("ev") == "lb.tls.listen"}
        if len(ports) == n:
            return ports
        time.sleep(0.05)
    raise TestFailure("the acceptor did not log %d TLS listeners\n%s"
                      % (n, harness.tail(node.log)))


def tls_connect(port, ca, source=None, header=b"", timeout=10):
    """A verified TLS connection to 127.0.0.1:port (from source, after a
    PROXY header when given)."""
    ctx = ssl.create_default_context(cafile=ca)
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    if header:
        s.sendall(header)
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


def tls_who(port, ca, source=None, header=b""):
    """(socket, backend name) after a line said over TLS; name None when the
    node closed the connection."""
    try:
        s = tls_connect(port, ca, source, header)
    except (OSError, ssl.SSLError):
        return None, None
    buf = b""
    try:
        s.sendall(b"who\n")
        while b"\n" not in buf:
            d = s.recv(256)
            if not d:
                break
            buf += d
    except (OSError, ssl.SSLError):
        pass
    return s, (buf.split(b"\n")[0].decode() if b"\n" in buf else None)


def read_http(f):
    """(status, body) of one response with Content-Length from a file."""
    r = harness.read_response(f)
    check(r is not None, "no response")
    return r[0], r[2]


@harness.timeout(TIMEOUT)
def test_tls_listener_split_curl_proxy_and_bad_clients(env):
    cert, key = make_cert(env)
    t1, t3 = Backend("t1", "127.0.0.91"), Backend("t3", "127.0.0.92")
    gsa, geu = Backend("g-sa", "127.0.0.93"), Backend("g-eu", "127.0.0.94")
    web = env.http_service("tls-web")
    node = env.node(args=["--region", "eu", "--proxy-protocol-from", "127.0.0.2/32",
                          "--geoip-db", geoip_db(), "--head-timeout", "1500ms",
                          "--lb-tls-listen", "127.0.0.1:0=who",
                          "--lb-tls-listen", "127.0.0.1:0=web",
                          "--lb-tls-listen", "127.0.0.1:0=geo",
                          "--lb-tls-cert", cert, "--lb-tls-key", key])
    ports = tls_listeners(node, 3)
    add_backends(node, [("t1", "who", "eu", t1, 1, 100, 0), ("t3", "who", "eu", t3, 3, 100, 0),
                        ("web-1", "web", "eu", ("127.0.0.1", web), 1, 100, 0),
                        ("g-sa", "geo", "sa", gsa, 1, 100, 0),
                        ("g-eu", "geo", "eu", geu, 1, 100, 0)])
    wait_candidates(node, 5)
    # 40 clients held open, each from its own address: weights 1:3 split them
    # 10:30 (the decision equalises load per weight), as on --lb-listen
    held = []
    for i in range(40):
        s, name = tls_who(ports["who"], cert, source="127.0.1.%d" % (i + 1))
        check(name is not None, "TLS client %d got no backend\n%s"
              % (i, harness.tail(node.log)))
        held.append(s)
    got = {b.name: b.current for b in (t1, t3)}
    env.note("40 TLS clients held, weights 1:3 -> %r" % got)
    check(abs(t1.current - 10) <= 1 and abs(t3.current - 30) <= 1, "split %r" % got)
    # curl, verifying the certificate given by --lb-tls-cert
    r = curl(["--cacert", cert, "https://127.0.0.1:%d/whoami" % ports["web"]], timeout=20)
    check(r.returncode == 0 and r.stdout.startswith(b"tls-web"),
          "curl over the TLS listener: %r %r" % (r.stdout, r.stderr))
    # a trusted balancer's PROXY header comes before the handshake, and
    # its address decides: a Brazilian client lands in sa, a client
    # without a location in this node's region
    s, name = tls_who(ports["geo"], cert, source="127.0.0.2", header=proxy_v1("200.160.2.3"))
    check(name == "g-sa", "a Brazilian client after a PROXY header: %r" % name)
    held.append(s)
    s, name = tls_who(ports["geo"], cert, source="127.0.0.2", header=proxy_v1("10.9.9.9"))
    check(name == "g-eu", "a client without a location after a PROXY header: %r" % name)
    held.append(s)
    s, name = tls_who(ports["who"], cert, source="127.0.0.2")
    check(name is None, "a trusted balancer without a PROXY header was served")
    wait_metric(node, "warren_acceptor_lb_tls_proxy_protocol_errors_total", lambda v: v == 1)
    # plain bytes to the TLS port: closed, counted, logged, nothing else
    acc = node.child_pid("acceptor")
    out = harness.raw_exchange(ports["web"], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                               timeout=5)
    check(b"HTTP/" not in out, "plain HTTP got an answer: %r" % out[:200])
    wait_metric(node, 'warren_acceptor_lb_tls_handshakes_total{result="failed"}',
                lambda v: v >= 1)
    check(any(ev.get("ev") == "lb.tls.handshake.failed" and ev.get("reason")
              for ev in node.events()), "no lb.tls.handshake.failed line with a reason")
    # silence: closed after --head-timeout
    s = socket.create_connection(("127.0.0.1", ports["who"]), timeout=10)
    t0 = time.monotonic()
    check(s.recv(100) == b"", "a silent client got bytes")
    waited = time.monotonic() - t0
    s.close()
    check(1.2 < waited < 6, "a silent client was closed after %.1f s "
          "(--head-timeout 1.5 s)" % waited)
    wait_metric(node, 'warren_acceptor_lb_tls_handshakes_total{result="timeout"}',
                lambda v: v == 1)
    check(node.child_pid("acceptor") == acc, "the acceptor restarted")
    m = metrics(node)
    check(m.get('warren_acceptor_lb_tls_handshakes_total{result="ok"}', 0) >= 43,
          "handshakes ok: %r" % m.get('warren_acceptor_lb_tls_handshakes_total{result="ok"}'))
    check(m.get("warren_acceptor_lb_tls_connections", 0) >= 42, "connections gauge")
    # the backends see the clients go
    for s in held:
        s.close()
    deadline = time.monotonic() + 10
    while t1.current or t3.current:
        check(time.monotonic() < deadline, "backend connections still open: %d %d"
              % (t1.current, t3.current))
        time.sleep(0.05)
    wait_metric(node, "warren_acceptor_lb_tls_connections", lambda v: v == 0)
    for b in (t1, t3, gsa, geu):
        b.close()


@harness.timeout(TIMEOUT)
def test_tls_listener_bulk_with_bounded_memory(env):
    """50 MiB up with curl (SHA-256 checked by the backend), then 50 MiB
    down to a client that does not read for a while: the acceptor's memory
    stays bounded, and the bytes arrive whole."""
    N = 50 << 20
    cert, key = make_cert(env)
    web = env.http_service("bulk-web")
    node = env.node(args=["--region", "eu", "--lb-tls-listen", "127.0.0.1:0=bulk",
                          "--lb-tls-cert", cert, "--lb-tls-key", key])
    port = tls_listeners(node, 1)["bulk"]
    add_backends(node, [("bulk-1", "bulk", "eu", ("127.0.0.1", web), 1, 100, 0)])
    wait_candidates(node, 1)
    src = env.path("up.bin")
    with open(src, "wb") as f:
        for c in harness.gen_chunks(N, 7):
            f.write(c)
    t0 = time.monotonic()
    r = curl(["--max-time", "90", "--cacert", cert, "--data-binary", "@" + src, "-H",
              "Content-Type: application/octet-stream",
              "https://127.0.0.1:%d/upload" % port], timeout=120)
    up_s = time.monotonic() - t0
    check(r.returncode == 0, "curl upload: %r" % r.stderr)
    j = harness.jloads(r.stdout)
    check(j["n"] == N and j["sha256"] == harness.gen_sha256(N, 7), "upload: %r" % j)
    os.unlink(src)
    acc = node.child_pid("acceptor")
    s = tls_connect(port, cert, timeout=60)
    s.sendall(b"GET /bytes?n=%d&seed=9 HTTP/1.1\r\nHost: bulk\r\nConnection: close\r\n\r\n"
              % N)
    rss0 = harness.proc_status(acc, "VmRSS")
    time.sleep(2)           # the backend writes; nobody reads
    rss1 = harness.proc_status(acc, "VmRSS")
    t0 = time.monotonic()
    f = s.makefile("rb")
    r = harness.read_response(f, max_body=N + 1)
    down_s = time.monotonic() - t0
    check(r is not None and r[0] == 200, "download status")
    check(len(r[2]) == N and hashlib.sha256(r[2]).hexdigest() == harness.gen_sha256(N, 9),
          "download: %d bytes" % len(r[2]))
    f.close()
    s.close()
    env.note("50 MiB through the TLS listener: up %.2f s (curl), down %.2f s (Python ssl); "
             "acceptor RSS %d -> %d KiB while the client did not read"
             % (up_s, down_s, rss0, rss1))
    check(rss1 - rss0 < 16 * 1024 * harness.MEM_SCALE,
          "the acceptor grew %d KiB for a slow TLS reader" % (rss1 - rss0))


@harness.timeout(TIMEOUT)
def test_edgeproxy_tls_variables(env):
    """EDGEPROXY_TLS_ENABLED / _TLS_LISTEN_ADDR / _TLS_CERT / _TLS_KEY open
    the TLS listener for every backend, with that certificate."""
    cert, key = make_cert(env, "pop.test")
    be = Backend("ep-1", "127.0.0.95")
    node = env.node(extra_env={"EDGEPROXY_TLS_ENABLED": "true",
                               "EDGEPROXY_TLS_LISTEN_ADDR": "127.0.0.1:0",
                               "EDGEPROXY_TLS_CERT": cert, "EDGEPROXY_TLS_KEY": key})
    port = tls_listeners(node, 1)["*"]
    add_backends(node, [("ep-1", "anyapp", "local", be, 1, 10, 0)])
    wait_candidates(node, 1)
    s, name = tls_who(port, cert)
    check(name == "ep-1", "over EDGEPROXY_TLS_LISTEN_ADDR: %r" % name)
    s.close()
    check(not any("EDGEPROXY_TLS" in line for line in open(node.log)),
          "warren-node still says an EDGEPROXY_TLS variable is ignored")
    be.close()


@harness.timeout(TIMEOUT)
def test_https_for_a_domains_name_reaches_its_backend(env):
    """HTTPS ended by the node (its certificate, no SNI) for a Host of the
    `domains` table: the decrypted connection goes to the app's backend,
    pipelined requests and a body included."""
    node = env.node()
    svc = env.http_service("shop-backend")
    db = add_backends(node, [("shop-1", "shop", "local", ("127.0.0.1", svc), 1, 0, 0)])
    db.execute("INSERT INTO domains (domain, app) VALUES ('shop.example', 'shop')")
    db.commit()
    db.close()
    wait_candidates(node, 1)
    ca = os.path.join(node.data_dir, "tls", "ca.pem")
    url = "https://127.0.0.1:%d/whoami" % node.https_port
    deadline = time.monotonic() + 10
    while True:
        r = curl(["--cacert", ca, "-H", "Host: shop.example", "-w", " %{http_code}", url],
                 timeout=20)
        if r.stdout.endswith(b" 200"):
            break
        check(time.monotonic() < deadline, "HTTPS for shop.example: %r %r"
              % (r.stdout[-300:], r.stderr))
        time.sleep(0.2)
    check(r.stdout.startswith(b"shop-backend"), "answered by %r" % r.stdout)
    # two requests in one write, the second with a body: both reach the
    # backend through the bridge (the second was already read and
    # decrypted by the node when the first was routed)
    body = harness.gen_bytes(300000, 5)
    s = tls_connect(node.https_port, ca)
    s.sendall(b"GET /whoami HTTP/1.1\r\nHost: shop.example\r\n\r\n"
              b"POST /upload HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    f = s.makefile("rb")
    st1, b1 = read_http(f)
    st2, b2 = read_http(f)
    f.close()
    s.close()
    check(st1 == 200 and b1.startswith(b"shop-backend"), "first: %d %r" % (st1, b1))
    j = harness.jloads(b2)
    check(st2 == 200 and j["n"] == len(body) and j["sha256"] == harness.sha256_hex(body),
          "second: %d %r" % (st2, b2))
    wait_metric(node, "warren_acceptor_lb_tls_https_handoffs_total", lambda v: v >= 2)
    wait_metric(node, "warren_acceptor_lb_tls_connections", lambda v: v == 0)


@harness.timeout(TIMEOUT)
def test_drain_lets_a_tls_connection_finish(env):
    """SIGTERM: a keep-alive connection through the TLS listener goes on
    serving during the drain, and the node exits once it closes, well
    before --drain-timeout."""
    cert, key = make_cert(env)
    web = env.http_service("drain-web")
    node = env.node(args=["--drain-timeout", "20s", "--lb-tls-listen", "127.0.0.1:0=d",
                          "--lb-tls-cert", cert, "--lb-tls-key", key])
    port = tls_listeners(node, 1)["d"]
    add_backends(node, [("d-1", "d", "local", ("127.0.0.1", web), 1, 10, 0)])
    wait_candidates(node, 1)
    s = tls_connect(port, cert)
    f = s.makefile("rb")
    req = b"GET /whoami HTTP/1.1\r\nHost: d\r\n\r\n"
    s.sendall(req)
    check(read_http(f)[1].startswith(b"drain-web"), "before the drain")
    node.proc.signal(signal.SIGTERM)
    time.sleep(1)
    check(node.proc.alive(), "the node did not wait for the TLS connection")
    s.sendall(req)
    check(read_http(f)[1].startswith(b"drain-web"), "during the drain")
    f.close()
    s.close()
    t0 = time.monotonic()
    rc = node.proc.wait(15)
    check(rc == 0, "exit %r after the connection closed\n%s" % (rc, harness.tail(node.log)))
    env.note("node exited %.2f s after the last TLS connection closed (drain timeout 20 s)"
             % (time.monotonic() - t0))


def test_bad_tls_options_stop_the_node_with_the_reason(env):
    """A certificate that does not load, or a key without a certificate,
    stops warren-node at once with a sentence (not an acceptor that keeps
    failing)."""
    bad = env.path("bad.pem")
    with open(bad, "w") as f:
        f.write("not a certificate\n")
    node = os.path.join(harness.bin_dir(), "warren-node")
    for args, want in ((["--lb-tls-listen", "127.0.0.1:0", "--lb-tls-cert", bad],
                        "--lb-tls-cert"),
                       (["--lb-tls-key", bad], "--lb-tls-key needs --lb-tls-cert")):
        p = subprocess.Popen([node, "--data-dir", env.path("bad-data")] + args,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)    # it started: its children too
            p.communicate()
            raise TestFailure("warren-node started with %r" % args)
        err = err.decode(errors="replace")
        check(p.returncode != 0 and want in err, "%r: rc %d, %r" % (args, p.returncode, err))


@harness.timeout(TIMEOUT)
def test_per_address_cap_counts_handshakes(env):
    """--max-conns-per-ip counts a TLS client from its first byte, not only
    once its handshake is done: silent connections from one address beyond
    the cap are closed at once and counted, while another address is
    served, and a handshake that ends gives its slot to the balancer's
    count of the connection."""
    cert, key = make_cert(env)
    be = Backend("capped", "127.0.0.95")
    node = env.node(args=["--max-conns-per-ip", "2", "--head-timeout", "10s",
                          "--lb-tls-listen", "127.0.0.1:0=cap",
                          "--lb-tls-cert", cert, "--lb-tls-key", key])
    port = tls_listeners(node, 1)["cap"]
    add_backends(node, [("c1", "cap", "eu", be, 1, 100, 0)])
    wait_candidates(node, 1)
    silent = [socket.create_connection(("127.0.0.1", port), timeout=5,
                                       source_address=("127.0.3.1", 0)) for _ in range(2)]
    third = socket.create_connection(("127.0.0.1", port), timeout=5,
                                     source_address=("127.0.3.1", 0))
    try:
        third.settimeout(3)
        got = third.recv(16)            # b"": closed by the node
    except socket.timeout:
        got = None                      # still open
    except OSError:
        got = b""                       # reset by the node
    check(got == b"", "a third silent connection from one address was kept: %r" % got)
    wait_metric(node, 'warren_acceptor_lb_tls_refused_total{reason="per_ip"}',
                lambda v: v >= 1)
    s, name = tls_who(port, cert, source="127.0.3.2")
    check(name == "capped", "another address was not served: %r" % name)
    s.close()
    for x in silent:
        x.close()
    third.close()
    # slots given back: one client holds two bridged connections, a third
    # is refused
    time.sleep(0.3)
    a, na = tls_who(port, cert, source="127.0.3.1")
    b, nb = tls_who(port, cert, source="127.0.3.1")
    check(na == "capped" and nb == "capped", "two TLS connections from one address: %r %r"
          % (na, nb))
    c, nc = tls_who(port, cert, source="127.0.3.1")
    check(nc is None, "a third bridged connection from one address was served")
    for x in (a, b, c):
        if x is not None:
            x.close()
