"""A group is an app: the tunnel replicas of `warren http --group web` and
the static backends of app `web` in routing.db are the candidates of one
decision, whichever way a client comes: by the group's name (Host), by a
`domains` name of the app, or on an `--lb-listen ...=web` listener. Replicas
on other nodes are reached over the mesh. Client locations are data: PROXY
headers from a trusted balancer carry a German, a US and a Brazilian
address."""
import json
import socket
import time

import harness
from harness import check
from test_forward import cluster
from test_lb import clusterctl, explain, geoip_db, open_db
from test_lb_listen import metrics, wait_metric
from test_replicas import BR, DE, LB, US, replica, via_lb, wait_replicas
from test_replication import SLOW, digests_equal, wait_until

TIMEOUT = 120
JP, JP2 = "133.242.0.3", "133.242.0.4"


def lb_port(node):
    for ev in node.events():
        if ev.get("ev") == "lb.listen" and ev.get("app") == "web":
            return int(ev["addr"].rsplit(":", 1)[1])
    raise harness.TestFailure("%s logged no lb listener\n%s" % (node.name, harness.tail(node.log)))


def ask(node, port, client_ip, host="web.localhost", auth=None):
    """GET /whoami on node's port from the trusted balancer, for client_ip
    (PROXY header). Returns the first word of the body (the service's
    name), the status line when not 200, or "closed"."""
    s = socket.create_connection((node.ip, port), timeout=10, source_address=(LB, 0))
    req = "GET /whoami HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % host
    if auth:
        req += "Authorization: Basic %s\r\n" % auth
    s.sendall(("PROXY TCP4 %s %s 40000 80\r\n%s\r\n" % (client_ip, node.ip, req)).encode())
    out = harness.recv_all(s)
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    if not head:
        return "closed"
    if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
        return head.split(b"\r\n")[0].decode(errors="replace")
    return body.decode(errors="replace").split()[0] if body.strip() else "empty"


def via_listener(node, client_ip):
    """ask() on node's --lb-listen for app web."""
    return ask(node, lb_port(node), client_ip)


def test_group_and_backends_are_one_app(env):
    nodes = cluster(env, extra=["--geoip-db", geoip_db(), "--proxy-protocol-from", LB],
                    own=lambda ip: ["--lb-listen", ip + ":0=web"])
    n1, n2, n3 = nodes
    # replicas: eu on n1, us on n2; a static backend of app web in sa
    eu = replica(env, n1, env.http_service("eu-replica"), "eu")
    replica(env, n2, env.http_service("us-replica"), "us")
    sa_port = env.http_service("sa-backend")
    db = open_db(n3)
    db.execute("INSERT INTO backends VALUES ('web-sa-1','web','sa','127.0.0.1',?,1,1,0,0,0)",
               (sa_port,))
    db.execute("INSERT INTO domains (domain, app) VALUES ('shop.example', 'web')")
    db.commit()
    db.close()
    # every acceptor holds the three candidates before any client asks (an
    # answer before would bind that client to whatever was there)
    for n in nodes:
        wait_replicas(n, 2)
        wait_until("%s's acceptor holds the backend" % n.name, lambda: [
            e for e in n.events() if e.get("ev") == "lb.candidates"][-1]
            .get("candidates") == "1", 10 * SLOW)
    where = {DE: "eu-replica", US: "us-replica", BR: "sa-backend"}
    for n in nodes:
        # by the group's name: a Brazilian client reaches the static backend
        wait_until("web by Host through %s: each client in its region" % n.name,
                   lambda: all(via_lb(n, ip) == want for ip, want in where.items()),
                   15 * SLOW)
        # on the app's L4 listener: the replicas too, raw, over the mesh
        for ip, want in where.items():
            got = via_listener(n, ip)
            check(got == want, "lb-listen on %s for %s: %r, want %r" % (n.name, ip, got, want))
    wait_metric(n3, "warren_acceptor_lb_to_replica_total", lambda v: v >= 2)
    # a new Brazilian client by name: one decision, made where the name is
    # looked up, and the load balancer dials its pick (it does not decide
    # again, which would count as an affinity hit)
    hits = "warren_acceptor_lb_affinity_hits_total"
    time.sleep(1.2)         # the acceptor publishes its counters each second
    before = metrics(n3)[hits]
    check(via_lb(n3, "200.160.2.77") == "sa-backend", "a new Brazilian client")
    time.sleep(1.2)
    check(metrics(n3)[hits] == before, "the Host path decided twice: affinity hits "
          "%r -> %r" % (before, metrics(n3)[hits]))
    # explain, on any node, weighs the replicas and the backend together
    for ip, node_of in ((DE, "n1"), (US, "n2"), (BR, None)):
        j = explain(n3, ip, app="web")
        kinds = sorted(c.get("kind", "backend") for c in j["candidates"])
        check(kinds == ["backend", "replica", "replica"], "explain web: %r" % j["candidates"])
        win = [c for c in j["candidates"] if c["winner"]]
        check(len(win) == 1 and (win[0].get("node") == node_of if node_of else
                                 win[0]["id"] == "web-sa-1"),
              "explain web for %s: winner %r" % (ip, win))
    rc, out, _ = clusterctl(n3, "lb", "explain", "--app", "web", "--client-ip", DE)
    check(rc == 0 and "tunnel@n1" in out and "tunnel@n2" in out and "web-sa-1" in out,
          "clusterctl lb explain lists the replicas by node:\n" + out)
    env.note("Host web.localhost and --lb-listen =web on every node: DE -> eu replica "
             "(n1), US -> us replica (n2), BR -> static backend web-sa-1")
    # a `domains` name of the app reaches its replicas too
    wait_until("shop.example (domains -> web) to the eu replica for DE",
               lambda: ask(n2, n2.http_port, DE, host="shop.example") == "eu-replica", 10 * SLOW)
    # the eu replica's client dies: German clients go elsewhere, on the
    # listener as by Host
    eu.proc.kill_tree()
    wait_until("German clients on the listener served without the eu replica",
               lambda: via_listener(n3, "85.214.132.200") in ("us-replica", "sa-backend"),
               15 * SLOW)
    check(via_lb(n3, "85.214.132.201") in ("us-replica", "sa-backend"),
          "a German client by Host after the eu replica died")
    digests_equal(env, nodes)


def test_listener_never_skips_a_replicas_credentials(env):
    """A replica that wants a user name and password (--basic-auth) is not
    reached by raw bytes on an L4 listener, here or over the mesh: the
    listener's client goes to another candidate; by Host, with the
    credentials, the replica answers."""
    nodes = cluster(env, n=2, extra=["--geoip-db", geoip_db(), "--proxy-protocol-from", LB],
                    own=lambda ip: ["--lb-listen", ip + ":0=web"])
    n1, n2 = nodes
    replica(env, n1, env.http_service("ap-locked"), "ap", ["--basic-auth", "bob:s3cret"],
            name="replica-ap")
    replica(env, n2, env.http_service("us-open"), "us", name="replica-us")
    wait_replicas(n2, 2)
    wait_replicas(n1, 2)
    import base64
    cred = base64.b64encode(b"bob:s3cret").decode()
    for n in nodes:
        got = via_listener(n, JP)
        check(got == "us-open", "a Japanese client on %s's listener: %r (the ap replica "
              "wants credentials; raw bytes must not reach it)" % (n.name, got))
    # by name, a Japanese client not bound yet gets the ap replica
    got = ask(n2, n2.http_port, JP2, auth=cred)
    check(got == "ap-locked", "by Host with credentials, a Japanese client: %r" % got)
    env.note("the ap replica (--basic-auth) is skipped by the L4 listener on both nodes; "
             "by Host with its credentials it answers")


class Service:
    """A local HTTP service for a replica: GET /health answers 200, or 503
    while .healthy is False; any other path answers its name."""

    def __init__(self, name):
        import http.server
        import threading
        svc = self
        self.name, self.healthy, self.checks = name, True, 0

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path == "/health":
                    svc.checks += 1
                    code, body = (200 if svc.healthy else 503), b"ok\n"
                else:
                    code, body = 200, (svc.name + "\n").encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()


def health(node, app="web"):
    """node's own view (lb health shows every node's: keep node's rows)."""
    rc, out, err = clusterctl(node, "lb", "health", "--node", node.name, "--json")
    check(rc == 0, "lb health: %s" % err)
    return {r["id"]: r for r in json.loads(out) if r["app"] == app}


def test_replica_health_checks(env):
    """`clusterctl apps set web --check http:/health` checks the group's
    replicas too, from every node (through the acceptor, over the mesh for
    a replica elsewhere): a failing one is out within interval x fall and
    back within interval x rise, by name and on the L4 listener."""
    nodes = cluster(env, n=2, extra=["--geoip-db", geoip_db(), "--proxy-protocol-from", LB],
                    own=lambda ip: ["--lb-listen", ip + ":0=web"])
    n1, n2 = nodes
    eu_svc, us_svc = Service("eu-svc"), Service("us-svc")
    replica(env, n1, eu_svc.port, "eu")
    replica(env, n2, us_svc.port, "us")
    wait_replicas(n2, 2)
    rc, out, err = clusterctl(n2, "apps", "set", "web", "--check", "http:/health",
                              "--interval", "300ms", "--timeout", "250ms",
                              "--fall", "2", "--rise", "2")
    check(rc == 0, "apps set: %s%s" % (out, err))

    def states(node):
        return {r["addr"]: r["state"] for r in health(node).values()}
    for n in nodes:
        wait_until("%s checks both replicas up" % n.name, lambda: states(n) == {
            "tunnel@n1": "up", "tunnel@n2": "up"}, 10 * SLOW)
    check(eu_svc.checks > 0 and us_svc.checks > 0, "the services saw no check")
    got = via_lb(n2, DE)
    check(got == "eu-svc", "a German client with both up: %r" % got)
    eu_svc.healthy = False
    t0 = time.monotonic()
    for n in nodes:
        wait_until("%s sees the eu replica down" % n.name,
                   lambda: states(n).get("tunnel@n1") == "down", 5 * SLOW)
    out_s = time.monotonic() - t0
    check(health(n2)[[k for k, r in health(n2).items() if r["addr"] == "tunnel@n1"][0]]
          ["last_error"].startswith("status 503"), "the reason: %r" % health(n2))
    # one `clusterctl lb health`, on either node, shows both nodes' views
    def everyone(node):
        rc, out, err = clusterctl(node, "lb", "health", "--json")
        check(rc == 0, "lb health: %s" % err)
        return {(r["node"], r["addr"]): r["state"] for r in json.loads(out)
                if r["app"] == "web"}
    wait_until("n1's lb health shows the eu replica down on n1 and n2", lambda: {
        k: v for k, v in everyone(n1).items() if k[1] == "tunnel@n1"} == {
        ("n1", "tunnel@n1"): "down", ("n2", "tunnel@n1"): "down"}, 3 * SLOW)
    wait_until("a German client by name goes to the us replica",
               lambda: via_lb(n2, "85.214.132.220") == "us-svc", 3 * SLOW)
    check(via_listener(n1, "85.214.132.221") == "us-svc",
          "a German client on n1's listener with the eu replica down")
    eu_svc.healthy = True
    t0 = time.monotonic()
    for n in nodes:
        wait_until("%s sees the eu replica up again" % n.name,
                   lambda: states(n).get("tunnel@n1") == "up", 5 * SLOW)
    back_s = time.monotonic() - t0
    wait_until("a new German client on the eu replica again",
               lambda: via_lb(n2, "85.214.132.222") == "eu-svc", 3 * SLOW)
    env.note("replica checks every 0.3 s: out after %.2f s (fall 2), back after %.2f s "
             "(rise 2), seen by both nodes" % (out_s, back_s))
    check(out_s <= 0.3 * 2 + 0.3 + 1.0 * SLOW and back_s <= 0.3 * 2 + 0.3 + 1.0 * SLOW,
          "out %.2f s, back %.2f s" % (out_s, back_s))
    # both nodes' verdicts (lb_health) and the apps table converged
    digests_equal(env, nodes)
