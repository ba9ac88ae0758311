"""TLS: the verified client link, public HTTPS with SNI certificates and
SIGHUP reload, and TLS passthrough tunnels routed by SNI."""
import json
import os
import signal
import socket
import ssl
import subprocess
import time

import harness
from harness import check, curl

TIMEOUT = 60


def node_ca(node):
    return os.path.join(node.data_dir, "tls", "ca.pem")


def make_cert(env, name, dirpath, ca=None):
    """A self-signed (or CA-signed) EC certificate for DNS name `name`, as
    dirpath/<name>.pem holding the chain and the key."""
    os.makedirs(dirpath, exist_ok=True)
    key = env.path("%s.key" % name)
    pem = env.path("%s.crt" % name)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", pem,
                    "-subj", "/CN=%s" % name, "-addext", "subjectAltName=DNS:%s" % name,
                    "-days", "2"], check=True, capture_output=True, timeout=30)
    with open(os.path.join(dirpath, name + ".pem"), "w") as out:
        out.write(open(pem).read())
        out.write(open(key).read())
    return pem


def peer_cert_subject(port, sni):
    """Subject CN of the certificate served on 127.0.0.1:port for sni."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            der = t.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"],
                         input=der, capture_output=True, timeout=10)
    return out.stdout.decode().strip()


def test_client_verifies_node(env):
    node = env.node()
    port = env.http_service("alice")
    # the development CA (the harness passes it as WARREN_CA): works
    env.http_tunnel(node, port, "alice")
    # another CA: refused, with a sentence that says what to do
    other = env.path("other-ca.pem")
    make_cert(env, "other.test", env.path("other"))
    os.rename(env.path("other.test.crt"), other)
    c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--subdomain", "bob"], name="client-wrong-ca",
                   extra_env={"WARREN_CA": other})
    deadline = time.monotonic() + 10
    said = False
    while time.monotonic() < deadline and not said:
        said = "certificate was not accepted" in harness.tail(c.log, 50)
        time.sleep(0.1)
    check(said, "client with the wrong CA: no clear certificate error\n%s"
          % harness.tail(c.log))
    check(not any(harness.URL_RE.search(l) for l in c.lines),
          "client with the wrong CA got a URL: %r"
          % c.lines)
    # --insecure connects, and says loudly that it is insecure
    c2 = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                     "--subdomain", "carol", "--insecure"], name="client-insecure",
                    extra_env={"WARREN_CA": other})
    c2.wait_urls(1, 15)
    check("WARNING" in harness.tail(c2.log, 50) and "--insecure" in harness.tail(c2.log, 50),
          "--insecure did not warn:\n%s" % harness.tail(c2.log))


def test_https_terminated(env):
    node = env.node(["--domain", "example.test"])
    port = env.http_service("alice")
    c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--subdomain", "alice"], name="client-alice")
    c.wait_urls(1, 15)
    host = "alice.example.test"
    url = "https://%s:%d/headers" % (host, node.https_port)
    r = curl(["-v", "--cacert", node_ca(node), "--resolve",
              "%s:%d:127.0.0.1" % (host, node.https_port), url], timeout=20)
    err = r.stderr.decode("utf-8", "replace")
    check(r.returncode == 0, "curl https: rc=%d\n%s" % (r.returncode, err[-1500:]))
    check("ALPN: server accepted http/1.1" in err, "ALPN http/1.1 not agreed:\n%s" % err[-1500:])
    seen = {k.lower(): v for k, v in json.loads(r.stdout)["headers"]}
    check(seen.get("x-forwarded-proto") == "https",
          "X-Forwarded-Proto over HTTPS: %r" % seen.get("x-forwarded-proto"))
    check(seen.get("x-forwarded-host", "").startswith(host),
          "X-Forwarded-Host: %r" % seen.get("x-forwarded-host"))
    # no tunnel for the name: 404 inside TLS
    r = curl(["-o", "/dev/null", "-w", "%{http_code}", "--cacert", node_ca(node),
              "--resolve", "nobody.example.test:%d:127.0.0.1" % node.https_port,
              "https://nobody.example.test:%d/" % node.https_port], timeout=20)
    check(r.stdout == b"404", "unknown host over HTTPS: %r" % r.stdout)
    # not TLS at all on the HTTPS port: closed, no crash
    raw = harness.raw_exchange(node.https_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    check(raw == b"", "plain HTTP on the HTTPS port got %r" % raw[:100])


def test_https_issued_for_served_names(env):
    """Under a one-label domain (localhost) the wildcard of the node's own
    certificate does not satisfy clients: with the development CA the node
    issues each served name its own certificate; names it does not serve
    get none (the default answers)."""
    node = env.node()
    port = env.http_service("alice")
    env.http_tunnel(node, port, "alice")
    host = "alice.localhost"
    r = curl(["--cacert", node_ca(node), "--resolve", "%s:%d:127.0.0.1" % (host, node.https_port),
              "https://%s:%d/whoami" % (host, node.https_port)], timeout=20)
    check(r.returncode == 0 and r.stdout == b"alice %d" % port,
          "curl https://%s: rc=%d %r %s" % (host, r.returncode, r.stdout[:100], r.stderr[-500:]))
    check(peer_cert_subject(node.https_port, host).endswith("CN = %s" % host),
          "certificate for %s: %s" % (host, peer_cert_subject(node.https_port, host)))
    issued = os.path.join(node.data_dir, "tls", "issued")
    check(os.listdir(issued) == [host + ".pem"], "issued: %r" % os.listdir(issued))
    # a name nobody serves: the node's own certificate, nothing issued
    subj = peer_cert_subject(node.https_port, "nobody.localhost")
    check(subj.endswith("CN = localhost"), "nobody.localhost got %s" % subj)
    check(os.listdir(issued) == [host + ".pem"], "issued: %r" % os.listdir(issued))


def test_https_sni_cert_dir_and_reload(env):
    certs = env.path("certs")
    make_cert(env, "shop.test", certs)
    node = env.node(["--tls-cert-dir", certs])
    check("CN = shop.test" in peer_cert_subject(node.https_port, "shop.test"),
          "shop.test served %r" % peer_cert_subject(node.https_port, "shop.test"))
    # a name without its own certificate gets the node's
    check("shop.test" not in peer_cert_subject(node.https_port, "other.test"),
          "other.test got the shop.test certificate")
    # a connection open across the reload keeps working
    port = env.http_service("shop")
    c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--domains", "shop.test"], name="client-shop")
    c.wait_urls(1, 15)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", node.https_port), timeout=10),
                        server_hostname="shop.test")
    s.sendall(b"GET /whoami HTTP/1.1\r\nHost: shop.test\r\n\r\n")
    first = s.recv(4096)
    check(b" 200 " in first.split(b"\r\n")[0], "before reload: %r" % first[:200])
    make_cert(env, "blog.test", certs)
    os.kill(node.child_pid("acceptor"), signal.SIGHUP)
    deadline = time.monotonic() + 10
    subj = ""
    while time.monotonic() < deadline:
        subj = peer_cert_subject(node.https_port, "blog.test")
        if "blog.test" in subj:
            break
        time.sleep(0.2)
    check("CN = blog.test" in subj, "after SIGHUP blog.test served %r" % subj)
    s.sendall(b"GET /whoami HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n")
    second = harness.recv_all(s)
    s.close()
    check(b" 200 " in second.split(b"\r\n")[0], "connection across the reload: %r"
          % second[:200])


def test_tls_passthrough(env):
    node = env.node()
    # the local service holds its own key; the node never sees inside
    work = env.path("svc")
    pem = make_cert(env, "secret.localhost", work)
    port = harness.free_port()
    env.spawn(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
               "-cert", os.path.join(work, "secret.localhost.pem"), "-www", "-quiet"],
              name="s_server")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    c = env.client(["tls", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--subdomain", "secret"], name="client-tls")
    u = c.wait_urls(1, 15)[0]
    check(u["url"].startswith("https://secret.localhost:%d" % node.https_port),
          "tls tunnel URL %r" % u["url"])
    subj = peer_cert_subject(node.https_port, "secret.localhost")
    check("CN = secret.localhost" in subj, "passthrough served %r, want the service's own" % subj)
    r = curl(["--cacert", pem, "--resolve", "secret.localhost:%d:127.0.0.1" % node.https_port,
              "https://secret.localhost:%d/" % node.https_port], timeout=20)
    check(r.returncode == 0 and b"s_server" in r.stdout,
          "through the passthrough tunnel: rc=%d %r %s" % (r.returncode, r.stdout[:200],
                                                          r.stderr[-500:]))
    # the client gone: the name is offline, the connection is closed
    c.kill()
    time.sleep(0.5)
    r = curl(["-k", "--resolve", "secret.localhost:%d:127.0.0.1" % node.https_port,
              "https://secret.localhost:%d/" % node.https_port], timeout=20)
    check(r.returncode != 0, "offline passthrough tunnel still answered: %r" % r.stdout[:200])
