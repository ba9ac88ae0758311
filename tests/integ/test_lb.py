"""`clusterctl lb explain`: which backend a client gets and why, from a real
node with the country database `make deps` fetched (tests/data/) and
edgeProxy's example backends, written with the sqlite3 shell as an edgeProxy
operator would. Client addresses are only looked up, never contacted."""
import json
import os
import sqlite3
import subprocess
import time

import harness
from harness import TestFailure, check

TIMEOUT = 60
DB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                  "geo-country.mmdb")
EDGEPROXY_ROWS = [
    ("sa-node-1", "myapp", "sa", "10.50.1.1", 8080, 1, 2, 50, 100, 0),
    ("us-node-1", "myapp", "us", "10.50.2.1", 8080, 1, 2, 50, 100, 0),
    ("eu-node-1", "myapp", "eu", "10.50.3.1", 8080, 1, 2, 50, 100, 0),
]


def geoip_db():
    if not os.path.exists(DB):
        raise TestFailure("%s is missing: run 'make deps' (tests/geoip_fetch.sh)" % DB)
    return os.path.abspath(DB)


def clusterctl(node, *args):
    r = subprocess.run([os.path.join(harness.bin_dir(), "clusterctl"), "--admin",
                        "127.0.0.1:%d" % node.admin_port] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def explain(node, ip, app="myapp"):
    rc, out, err = clusterctl(node, "lb", "explain", "--app", app, "--client-ip", ip,
                              "--json")
    check(rc == 0, "lb explain %s: exit %d\n%s%s" % (ip, rc, out, err))
    return json.loads(out)


def open_db(node, timeout=15):
    """The node's routing.db once gossip has made its tables."""
    deadline = time.monotonic() + timeout
    while True:
        db = sqlite3.connect(os.path.join(node.data_dir, "routing.db"), timeout=5)
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'backends'").fetchone():
            return db
        db.close()
        if time.monotonic() > deadline:
            raise TestFailure("%s: routing.db has no backends table after %ds"
                              % (node.name, timeout))
        time.sleep(0.1)


def backends(node, rows):
    db = open_db(node)
    db.executemany("INSERT INTO backends VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    return db


@harness.timeout(TIMEOUT)
def test_explain_by_client_region(env):
    node = env.node(args=["--region", "sa", "--geoip-db", geoip_db()])
    db = backends(node, EDGEPROXY_ROWS)
    want = [("200.160.2.3", "BR", "sa", "sa-node-1", 1),
            ("8.8.8.8", "US", "us", "us-node-1", 1),
            ("85.214.132.117", "DE", "eu", "eu-node-1", 1),
            ("133.242.0.1", "JP", "ap", "sa-node-1", 2),     # no ap backend: this node's
            ("127.0.0.1", None, None, "sa-node-1", 2)]       # no location: this node's
    for ip, country, region, winner, tier in want:
        j = explain(node, ip)
        check(j["client_country"] == country and j["client_region"] == region,
              "%s: country %r region %r, want %r %r" % (ip, j["client_country"],
                                                         j["client_region"], country, region))
        check(j["winner"] == winner, "%s: winner %r, want %s\n%r" % (ip, j["winner"], winner, j))
        won = [c for c in j["candidates"] if c["winner"]]
        check(len(won) == 1 and won[0]["id"] == winner and won[0]["geo"] == tier,
              "%s: the winner's row %r, want tier %d" % (ip, won, tier))
        check(len(j["candidates"]) == 3 and j["node_region"] == "sa",
              "%s: %r" % (ip, j))
    # the operator's switch: sa-node-1 out; a Brazilian client then goes to
    # the first of the equal others (by region, then id)
    db.execute("UPDATE backends SET healthy = 0 WHERE id = 'sa-node-1'")
    db.commit()
    j = explain(node, "200.160.2.3")
    check(j["winner"] == "eu-node-1", "with sa-node-1 unhealthy: winner %r" % j["winner"])
    out = [c for c in j["candidates"] if c["id"] == "sa-node-1"][0]
    check(not out["eligible"] and out["why"] == "unhealthy", "sa-node-1: %r" % out)
    db.execute("UPDATE backends SET healthy = 1, hard_limit = 0, weight = 0,"
               " soft_limit = 0 WHERE id = 'sa-node-1'")
    db.commit()
    check(explain(node, "200.160.2.3")["winner"] == "sa-node-1", "sa-node-1 back")
    # the text form an operator reads
    rc, text, err = clusterctl(node, "lb", "explain", "--app", "myapp",
                               "--client-ip", "85.214.132.117")
    check(rc == 0 and "winner: eu-node-1" in text and "country DE, region eu" in text
          and "10.50.3.1:8080" in text, "lb explain text:\n%s%s" % (text, err))
    # an app without backends, a bad address
    j = explain(node, "8.8.8.8", app="nothing")
    check(j["winner"] is None and j["candidates"] == [], "app without backends: %r" % j)
    rc, text, err = clusterctl(node, "lb", "explain", "--app", "myapp",
                               "--client-ip", "not-an-ip")
    check(rc == 1 and "not an IPv4 or IPv6 address" in err, "bad ip: %d %s%s" % (rc, text, err))
    db.close()


@harness.timeout(TIMEOUT)
def test_explain_region_map_and_country_column(env):
    rmap = env.path("regions.map")
    with open(rmap, "w") as f:
        f.write("# Brazil is served from Europe here\neu-west = BR DE\nus-east = US\n")
    node = env.node(args=["--region", "us-east", "--geoip-db", geoip_db(),
                          "--region-map", rmap])
    # edgeProxy's code reads a country column its README's schema lacks
    db = open_db(node)
    db.execute("ALTER TABLE backends ADD COLUMN country TEXT")
    db.executemany("INSERT INTO backends (id, app, region, wg_ip, port, healthy, weight,"
                   " soft_limit, hard_limit, deleted, country) VALUES"
                   " (?,?,?,?,?,?,?,?,?,?,?)", [
                       ("de-1", "shop", "eu-west", "10.0.0.1", 80, 1, 1, 10, 0, 0, "DE"),
                       ("br-1", "shop", "eu-west", "10.0.0.2", 80, 1, 1, 10, 0, 0, "BR"),
                       ("us-1", "shop", "us-east", "10.0.0.3", 80, 1, 1, 10, 0, 0, "US")])
    db.commit()
    j = explain(node, "200.160.2.3", app="shop")
    check(j["client_region"] == "eu-west" and j["winner"] == "br-1",
          "BR client with the map: %r" % j)
    geo = {c["id"]: c["geo"] for c in j["candidates"]}
    check(geo == {"br-1": 0, "de-1": 1, "us-1": 2}, "tiers: %r" % geo)
    j = explain(node, "1.1.1.1", app="shop")          # AU: not in this map
    check(j["client_country"] == "AU" and j["client_region"] is None and
          j["winner"] == "us-1", "AU client: %r" % j)
    db.close()


@harness.timeout(TIMEOUT)
def test_bad_lb_options_stop_the_node(env):
    bad_map = env.path("bad.map")
    with open(bad_map, "w") as f:
        f.write("sa = BR\nus = US BR\n")
    garbage = env.path("garbage.mmdb")
    with open(garbage, "wb") as f:
        f.write(b"not a MaxMind database\n" * 10)
    for args, want in [
            (["--region-map", bad_map], "line 2: BR is already in region sa"),
            (["--geoip-db", garbage], "cannot open GeoIP database"),
            (["--geoip-db", env.path("missing.mmdb")], "No such file"),
            (["--binding-ttl", "0"], "--binding-ttl must be positive")]:
        r = subprocess.run([os.path.join(harness.bin_dir(), "warren-node"),
                            "--data-dir", env.path("data-bad")] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        err = r.stderr.decode(errors="replace")
        check(r.returncode != 0 and want in err,
              "warren-node %s: exit %d, stderr %r (want %r)" % (" ".join(args),
                                                              r.returncode, err, want))
