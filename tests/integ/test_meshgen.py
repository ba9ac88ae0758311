"""clusterctl mesh: the files it writes, and (as root) a three-node cluster
brought up with them over WireGuard in network namespaces
(tests/cluster/meshgen.py)."""
import os
import re
import stat
import subprocess
import sys

import harness
from harness import TestFailure, check

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
import meshgen  # noqa: E402

TIMEOUT = 90


def ctl(*args):
    r = subprocess.run([os.path.join(harness.bin_dir(), "clusterctl")] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def read(path):
    with open(path) as f:
        return f.read()


def wg_sections(text):
    """[Interface] dict and a list of [Peer] dicts of a wg-quick file."""
    iface, peers, cur = {}, [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line == "[Interface]":
            cur = iface
        elif line == "[Peer]":
            cur = {}
            peers.append(cur)
        else:
            k, _, v = line.partition("=")
            check(cur is not None, "key outside a section: %r" % line)
            cur[k.strip()] = v.strip()
    return iface, peers


def conf_lines(text):
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def wg_pubkey(priv):
    r = subprocess.run(["wg", "pubkey"], input=(priv + "\n").encode(),
                       stdout=subprocess.PIPE, check=True)
    return r.stdout.decode().strip()


def check_mesh(env, d, names, endpoints):
    """Every node's files agree with each other and with mesh.ini."""
    keys = {n: read(os.path.join(d, "keys", n + ".key")).strip() for n in names}
    pubs = {n: wg_pubkey(keys[n]) for n in names}
    addrs = {}
    cluster_key = read(os.path.join(d, "keys", "cluster.keys")).strip()
    check(len(cluster_key) == 44, "cluster key %r" % cluster_key)
    for n in names:
        nd = os.path.join(d, "nodes", n)
        for f, mode in (("warren0.conf", 0o600), ("cluster.keys", 0o600),
                        ("node.conf", 0o644)):
            m = stat.S_IMODE(os.stat(os.path.join(nd, f)).st_mode)
            check(m == mode, "%s/%s mode %o, want %o" % (n, f, m, mode))
        check(stat.S_IMODE(os.stat(os.path.join(d, "keys", n + ".key")).st_mode) == 0o600,
              "keys/%s.key is not 0600" % n)
        check(read(os.path.join(nd, "cluster.keys")).strip() == cluster_key,
              "%s: cluster.keys differs from keys/cluster.keys" % n)
        iface, peers = wg_sections(read(os.path.join(nd, "warren0.conf")))
        check(iface["PrivateKey"] == keys[n], "%s: PrivateKey is not keys/%s.key" % (n, n))
        check(iface["ListenPort"] == "51820", "%s: ListenPort %r" % (n, iface.get("ListenPort")))
        m = re.fullmatch(r"(10\.77\.0\.(\d+))/24", iface["Address"])
        check(m is not None, "%s: Address %r not in 10.77.0.0/24" % (n, iface["Address"]))
        addrs[n] = m.group(1)
    check(len(set(addrs.values())) == len(names), "addresses repeat: %r" % addrs)
    for n in names:
        nd = os.path.join(d, "nodes", n)
        _, peers = wg_sections(read(os.path.join(nd, "warren0.conf")))
        got = {p["PublicKey"]: p for p in peers}
        check(set(got) == {pubs[x] for x in names if x != n},
              "%s: peers %r, want every other node's public key" % (n, sorted(got)))
        for x in names:
            if x == n:
                continue
            p = got[pubs[x]]
            check(p["AllowedIPs"] == addrs[x] + "/32" and p["Endpoint"] == endpoints[x],
                  "%s: peer %s is %r (want %s/32 at %s)" % (n, x, p, addrs[x], endpoints[x]))
        c = conf_lines(read(os.path.join(nd, "node.conf")))
        check(c["name"] == n and c["gossip-listen"] == addrs[n] + ":7946" and
              c["mesh-listen"] == addrs[n] + ":7001", "%s: node.conf %r" % (n, c))
        check(sorted(c["join"].split(",")) == sorted(a + ":7946" for a in addrs.values()),
              "%s: join %r" % (n, c["join"]))
        check(c["cluster-key-file"] == "/etc/warren/cluster.keys", "%s: %r" % (n, c))
        # warren-node takes the file as it is (the data dir on the command
        # line only keeps this test out of /var/lib)
        r = subprocess.run([os.path.join(harness.bin_dir(), "warren-node"), "--config",
                            os.path.join(nd, "node.conf"), "--data-dir",
                            env.path("pc-" + n), "--print-config"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        check(r.returncode == 0, "warren-node refuses %s/node.conf: %s" % (n, r.stderr.decode()))
        pc = conf_lines(r.stdout.decode())
        check(pc["gossip-listen"] == addrs[n] + ":7946" and
              pc["mesh-listen"] == addrs[n] + ":7001" and pc["region"] == c["region"]
              and pc["domain"] == "edge.example.com",
              "warren-node --print-config for %s: %r" % (n, pc))
    return keys, pubs, addrs


def test_meshgen_files(env):
    if subprocess.run(["sh", "-c", "command -v wg"], stdout=subprocess.DEVNULL).returncode:
        raise TestFailure("wg (wireguard-tools) is not installed: make deps")
    d = env.path("mesh")
    rc, out, err = ctl("mesh", "init", d, "sa,sa,192.0.2.1", "us,us,192.0.2.2:51999",
                       "eu,eu,[2001:db8::3]", "--domain", "edge.example.com")
    check(rc == 0, "mesh init: %d %s" % (rc, err))
    endpoints = {"sa": "192.0.2.1:51820", "us": "192.0.2.2:51999",
                 "eu": "[2001:db8::3]:51820"}
    keys, pubs, addrs = check_mesh(env, d, ["sa", "us", "eu"], endpoints)
    secret = list(keys.values()) + [read(os.path.join(d, "keys", "cluster.keys")).strip()]
    for k in secret:
        check(k not in out and k not in err, "mesh init printed a key")
        check(k not in read(os.path.join(d, "mesh.ini")), "mesh.ini holds a key")
    for n in pubs:
        check(pubs[n] in out, "init's table lacks %s's public key" % n)

    # again on the same directory: refused, nothing changed
    rc, _, err = ctl("mesh", "init", d, "x,x,192.0.2.9")
    check(rc == 2 and "mesh add" in err, "second init: %d %s" % (rc, err))

    # show: no keys unless asked
    rc, out, _ = ctl("mesh", "show", d)
    check(rc == 0 and all(k not in out for k in secret), "show printed a key")
    rc, out, _ = ctl("mesh", "show", d, "--keys")
    check(rc == 0 and all(k in out for k in secret), "show --keys lacks a key:\n" + out)

    # add a node: the others keep their keys and addresses, and gain a peer
    rc, out, err = ctl("mesh", "add", d, "ap,ap,ap.example.com")
    check(rc == 0, "mesh add: %d %s" % (rc, err))
    endpoints["ap"] = "ap.example.com:51820"
    keys2, pubs2, addrs2 = check_mesh(env, d, ["sa", "us", "eu", "ap"], endpoints)
    for n in keys:
        check(keys2[n] == keys[n] and addrs2[n] == addrs[n], "add changed node %s" % n)
    check(addrs2["ap"] == "10.77.0.4", "ap got %s, want the next free 10.77.0.4" % addrs2["ap"])
    check(all(k not in out for k in keys2.values()), "mesh add printed a key")

    # mistakes: a clear sentence and exit 2, the mesh untouched
    before = read(os.path.join(d, "mesh.ini"))
    for args, want in [
        (["add", d, "ap,ap,192.0.2.7"], "already in the mesh"),
        (["add", d, "bad name,r,192.0.2.7"], "is not NAME,REGION,ENDPOINT"),
        (["add", d, "n5,r,192.0.2.7:99999"], "is not NAME,REGION,ENDPOINT"),
        (["add", d, "n5,r"], "is not NAME,REGION,ENDPOINT"),
        (["add", d, "n5,r,host;rm"], "is not NAME,REGION,ENDPOINT"),
        (["init", env.path("m2"), "a,r,192.0.2.1", "--range", "10.0.0.0/33"], "bad option"),
        (["init", env.path("m3"), "a,r,192.0.2.1", "b,r,192.0.2.2", "c,r,192.0.2.3",
          "--range", "10.1.0.0/30"], "no free address"),
        (["show", env.path("nothing")], "cannot read"),
    ]:
        rc, _, err = ctl("mesh", *args)
        check(rc != 0 and want in err, "mesh %s: exit %d, stderr %r (want %r)"
              % (" ".join(args), rc, err, want))
    check(read(os.path.join(d, "mesh.ini")) == before, "a refused add changed mesh.ini")

    # a key file that does not match the plan is refused
    with open(os.path.join(d, "keys", "us.key"), "w") as f:
        f.write(keys["sa"] + "\n")
    rc, _, err = ctl("mesh", "show", d)
    check(rc == 1 and "does not match" in err, "mismatched key: %d %r" % (rc, err))
    env.note("init/add/show checked; peers, addresses and keys agree across 4 nodes")


def test_meshgen_wireguard_cluster(env):
    why = meshgen.missing_reason()
    if why:
        print("SKIP test_meshgen::test_meshgen_wireguard_cluster: " + why, flush=True)
        env.note("skipped: " + why)
        return
    meshgen.run(env)
