"""Cluster membership with real processes on 127.0.0.1-127.0.0.5.

Each node gossips on its own loopback address (port picked by the kernel,
read back from `ev=gossip.listen`), with short probe settings so failures
are detected in seconds; the profile stays LAN. Member lists are read with
`clusterctl members --json`, as an operator would.
"""
import base64
import json
import os
import signal
import subprocess
import time
import urllib.request

import harness
from harness import TestFailure, check

TIMEOUT = 60

PROBE_S = 0.2
SUSPICION_MULT = 3
FAST = ["--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms",
        "--gossip-interval", "100ms", "--gossip-suspicion-mult", str(SUSPICION_MULT)]
# Lifeguard: a suspicion times out after at most suspicion_max_mult (6) x
# the minimum, min = mult * max(1, log10(n)) * probe interval (n <= 10
# here); a probe round and dissemination come on top.
DEAD_BOUND_S = PROBE_S * 3 + 6 * SUSPICION_MULT * PROBE_S + 1.0
SLOW = 3 if os.environ.get("WARREN_SANITIZE") else 1


def _node_has_option(opt):
    r = subprocess.run([os.path.join(harness.bin_dir(), "warren-node"), "--help"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    return opt in r.stdout.decode(errors="replace")


def clusterctl(node, *args, check_rc=True):
    argv = [os.path.join(harness.bin_dir(), "clusterctl"),
            "--admin", "127.0.0.1:%d" % node.admin_port] + list(args)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    if check_rc and r.returncode != 0:
        raise TestFailure("%s: exit %d\n%s" % (" ".join(args), r.returncode,
                                               r.stderr.decode(errors="replace")))
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def members(node):
    """{name: member} from `clusterctl members --json` at node."""
    _, out, _ = clusterctl(node, "members", "--json")
    return {m["name"]: m for m in json.loads(out)}


def gossip_addr(node, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        addr = None
        for ev in node.events():
            if ev.get("ev") == "gossip.listen":
                addr = ev.get("addr")
        if addr:
            return addr
        time.sleep(0.05)
    raise TestFailure("%s logged no gossip.listen\n%s" % (node.name, harness.tail(node.log)))


def write_keys(env, name, *keys):
    path = env.path(name)
    with open(path, "w") as f:
        f.write("# cluster keys: the first seals\n")
        for k in keys:
            f.write(base64.b64encode(k).decode() + "\n")
    return path


def start(env, i, key_file, join="", listen=None, extra=()):
    args = ["--gossip-listen", listen or "127.0.0.%d:0" % i,
            "--cluster-key-file", key_file] + FAST + list(extra)
    if _node_has_option("--https-listen"):
        args += ["--https-listen", "127.0.0.1:0"]
    if join:
        args += ["--join", join]
    n = env.node(args=args)
    n.gossip = gossip_addr(n)
    return n


def wait_view(observers, name, pred, what, timeout):
    """Waits until pred(member or None) holds at every observer; returns
    (seconds waited, {observer name: member})."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    last = {}
    while True:
        ok = True
        for o in observers:
            m = members(o).get(name)
            last[o.name] = m
            if not pred(m):
                ok = False
                break
        if ok:
            return time.monotonic() - t0, last
        if time.monotonic() > deadline:
            raise TestFailure("%s: not %s at every observer within %.1fs; last views: %s"
                              % (name, what, timeout, json.dumps(last, indent=None)[:1500]))
        time.sleep(0.1)


def state_is(state):
    return lambda m: m is not None and m["state"] == state


@harness.timeout(80)
def test_failures_refutation_leave(env):
    key = write_keys(env, "cluster.keys", os.urandom(32))
    n1 = start(env, 1, key)
    nodes = [n1] + [start(env, i, key, join=n1.gossip) for i in range(2, 6)]
    names = [n.name for n in nodes]

    # everyone sees everyone alive, with the metadata each node gossips
    wait_view(nodes, names[-1], state_is("alive"), "alive", 10)
    for n in nodes:
        v = members(n)
        check(sorted(v) == sorted(names), "%s sees %s, want %s" % (n.name, sorted(v), names))
        for o in nodes:
            m = v[o.name]
            check(m["state"] == "alive", "%s sees %s %s" % (n.name, o.name, m["state"]))
            check(m["addr"] == o.gossip, "%s: addr %s, want %s" % (o.name, m["addr"], o.gossip))
            check(m["region"] == "local" and isinstance(m["incarnation"], int)
                  and m["incarnation"] > 0, "member fields: %r" % m)
            check(m["http"] == "127.0.0.1:%d" % o.http_port and
                  m["tunnel"] == "127.0.0.1:%d" % o.tunnel_port and m["version"],
                  "metadata of %s at %s: %r" % (o.name, n.name, m))
            check(m["self"] == (o is n), "self flag: %r" % m)
    _, out, _ = clusterctl(n1, "members")
    lines = out.splitlines()
    check(lines[0].split()[:5] == ["NAME", "ADDRESS", "REGION", "STATE", "INCARNATION"],
          "members header: %r" % lines[0])
    check(len(lines) == 6 and all(n in out for n in names), "members table:\n" + out)

    # kill -9: dead at the others within the bound
    n5 = nodes[4]
    inc5 = members(n1)["n5"]["incarnation"]
    n5.proc.kill_tree()
    t, _ = wait_view(nodes[:4], "n5", state_is("dead"), "dead", DEAD_BOUND_S * SLOW + 5)
    env.note("kill -9 -> dead at all 4 others after %.1fs (bound %.1fs)" % (t, DEAD_BOUND_S))
    env.expect(t <= DEAD_BOUND_S * SLOW, "dead after %.1fs, bound %.1fs" % (t, DEAD_BOUND_S))

    # restarted on the same address: back under a new incarnation
    n5.args[n5.args.index("--gossip-listen") + 1] = n5.gossip
    n5.start()
    t, v = wait_view(nodes[:4], "n5", lambda m: m is not None and m["state"] == "alive"
                     and m["incarnation"] > inc5, "alive with a new incarnation", 10 * SLOW)
    env.note("restart on the same address -> alive after %.1fs, incarnation %d -> %d"
             % (t, inc5, v["n1"]["incarnation"]))

    # SIGSTOP past the suspicion timeout, then SIGCONT: refutes, alive again
    n4 = nodes[3]
    gpid = n4.child_pid("gossip")
    inc4 = members(n1)["n4"]["incarnation"]
    os.kill(gpid, signal.SIGSTOP)
    try:
        t, _ = wait_view([n1, n2(nodes), nodes[4]], "n4", state_is("dead"), "dead",
                         DEAD_BOUND_S * SLOW + 5)
        env.note("SIGSTOP -> dead after %.1fs" % t)
    finally:
        os.kill(gpid, signal.SIGCONT)
    t, v = wait_view([n1, n2(nodes), nodes[4]], "n4",
                     lambda m: m is not None and m["state"] == "alive" and m["incarnation"] > inc4,
                     "alive with a higher incarnation", 10 * SLOW)
    env.note("SIGCONT -> alive after %.1fs, incarnation %d -> %d"
             % (t, inc4, v["n1"]["incarnation"]))

    # graceful leave: left, not dead
    rc, out, _ = clusterctl(nodes[2], "leave")
    check("leaving" in out, "clusterctl leave said %r" % out)
    t, _ = wait_view([n1, n2(nodes), nodes[3], nodes[4]], "n3", state_is("left"), "left",
                     5 * SLOW)
    env.note("leave -> left at the others after %.1fs" % t)
    check(members(nodes[2])["n3"]["state"] == "left", "n3 should see itself left")


def n2(nodes):
    return nodes[1]


@harness.timeout(45)
def test_wrong_key_never_joins_then_rotates_in(env):
    ka, kb = os.urandom(32), os.urandom(32)
    key_a = write_keys(env, "a.keys", ka)
    key_b = write_keys(env, "b.keys", kb)
    n1 = start(env, 1, key_a)
    n2 = start(env, 2, key_a, join=n1.gossip)
    n3 = start(env, 3, key_b, join=n1.gossip)
    wait_view([n1, n2], "n2", state_is("alive"), "alive", 10)
    time.sleep(3)
    for n in (n1, n2):
        check("n3" not in members(n), "%s lists n3, which has the wrong key: %r"
              % (n.name, members(n)))
    check(sorted(members(n3)) == ["n3"], "n3 sees %r" % sorted(members(n3)))
    metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % n1.admin_port,
                                     timeout=5).read().decode()
    dropped = 0
    for line in metrics.splitlines():
        if line.startswith('warren_gossip_dropped_total{reason="unknown_key"}'):
            dropped = int(line.split()[-1])
    check(dropped > 0, "n1 counted no packets under an unknown key:\n%s" % metrics[-800:])
    env.note("n1 dropped %d packets/states under an unknown key" % dropped)

    # a bad key file is refused whole, the old keys stay
    with open(key_b, "w") as f:
        f.write("not-a-key\n")
    rc, _, err = clusterctl(n3, "keys", "reload", check_rc=False)
    check(rc != 0 and "line 1" in err, "bad key file reload: rc=%d %r" % (rc, err))

    # rotation: n3 gets A first (seals with it) and keeps B: it joins
    write_keys(env, "b.keys", ka, kb)
    _, out, _ = clusterctl(n3, "keys", "reload")
    check("2 keys" in out, "keys reload said %r" % out)
    t, _ = wait_view([n1, n2, n3], "n3", state_is("alive"), "alive", 10 * SLOW)
    wait_view([n3], "n1", state_is("alive"), "alive", 5 * SLOW)
    env.note("after keys reload n3 joined in %.1fs" % t)
