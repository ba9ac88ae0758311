"""Who may claim what: tokens (clusterctl tokens), allow lists, reservations,
JWTs, revocation. Nodes here run with auth (no --allow-anonymous)."""
import base64
import json
import os
import subprocess
import time

import harness
from harness import check, request, tail

TIMEOUT = 60
REQUIRED = ("a token is required: create one with clusterctl tokens create "
            "and pass it with --token")


def clusterctl(node, *args):
    p = subprocess.run([os.path.join(harness.bin_dir(), "clusterctl"), "--admin",
                        "127.0.0.1:%d" % node.admin_port] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def make_token(node, *allow):
    args = ["tokens", "create"]
    for a in allow:
        args += ["--allow-port", a[5:]] if a.startswith("port:") else ["--allow", a]
    rc, out, err = clusterctl(node, *args)
    check(rc == 0, "clusterctl tokens create: rc=%d\n%s%s" % (rc, out, err))
    token = out.strip().splitlines()[-1]
    check(token.startswith("wrn_") and len(token) == 47, "token line %r" % token)
    return token


REASONS = ("no_token", "bad_token", "revoked", "jwt", "not_allowed", "reserved",
           "rate_limited", "session_cap")


def refusals(node):
    """warren_router_auth_refused_total by reason, from /metrics."""
    st, _, body = request(node.admin_port, "127.0.0.1", path="/metrics")
    check(st == 200, "/metrics: %d" % st)
    out = {}
    for line in body.decode().splitlines():
        for r in REASONS:
            if line.startswith('warren_router_auth_refused_total{reason="%s"} ' % r):
                out[r] = int(line.split()[-1])
    check(set(out) == set(REASONS), "/metrics lacks auth reasons: has %r" % sorted(out))
    return out


class Refusals:
    """Counts the refusals a test causes, by reason, and checks that
    /metrics rose by exactly those (and nothing else)."""

    def __init__(self, node):
        self.node = node
        self.before = refusals(node)
        self.caused = dict.fromkeys(REASONS, 0)

    def add(self, reason, n=1):
        self.caused[reason] += n

    def check(self):
        now = refusals(self.node)
        rose = {r: now[r] - self.before[r] for r in REASONS}
        check(rose == self.caused, "auth_refused_total rose by %r; the test caused %r"
              % ({k: v for k, v in rose.items() if v}, {k: v for k, v in self.caused.items() if v}))


def refused(env, node, port, args, want, name, timeout=15, counts=None, reason=None):
    """Starts a client that must be refused with `want` in its log; returns
    how many times it was (a client retries some refusals), and adds that
    to counts[reason]."""
    c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port]
                   + list(args), name=name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if want in tail(c.log, 50):
            c.kill()
            with open(c.log, errors="replace") as f:
                n = sum(1 for line in f if want in line and
                        ("ev=tunnel.refused " in line or "ev=session.error " in line))
            if counts is not None:
                counts.add(reason, n)
            return n
        if c.proc.p.poll() is not None:
            break
        time.sleep(0.1)
    raise harness.TestFailure("client %s: want refusal %r; log:\n%s" % (name, want, tail(c.log)))


def test_token_required(env):
    node = env.node(auth=True)
    port = env.http_service("alice")
    counts = Refusals(node)
    refused(env, node, port, ["--subdomain", "alice"], REQUIRED, "anon",
            counts=counts, reason="no_token")
    refused(env, node, port, ["--subdomain", "alice", "--token", "nope"],
            "the token is not valid", "garbage", counts=counts, reason="bad_token")
    refused(env, node, port, ["--subdomain", "alice", "--token", "wrn_" + "A" * 43],
            "the token is not known to this node", "unknown", counts=counts,
            reason="bad_token")
    counts.check()


def test_tokens_admin(env):
    node = env.node(auth=True)
    tok = make_token(node, "alice.*", "port:20000-20010")
    rc, out, err = clusterctl(node, "tokens", "list")
    check(rc == 0 and "alice.*" in out and "20000-20010" in out, "list:\n%s%s" % (out, err))
    check(tok not in out, "tokens list shows the token")
    st, _, body = request(node.admin_port, "127.0.0.1", path="/v1/tokens")
    toks = json.loads(body)
    check(st == 200 and len(toks) == 1 and "hash" not in toks[0] and tok.encode() not in body,
          "GET /v1/tokens: %d %r" % (st, body[:300]))
    rc, out, err = clusterctl(node, "tokens", "revoke", "tok_000000000000")
    check(rc != 0 and "no such token" in err, "revoke unknown: rc=%d %s%s" % (rc, out, err))
    rc, out, err = clusterctl(node, "tokens", "create")
    check(rc == 2, "create without --allow: rc=%d" % rc)
    rc, out, err = clusterctl(node, "tokens", "revoke", toks[0]["id"])
    check(rc == 0, "revoke: %s%s" % (out, err))
    st, _, body = request(node.admin_port, "127.0.0.1", path="/v1/tokens")
    check(json.loads(body)[0]["revoked"] > 0, "not revoked: %r" % body)
    port = env.http_service("alice")
    counts = Refusals(node)
    refused(env, node, port, ["--subdomain", "alice", "--token", tok],
            "was revoked", "revoked", counts=counts, reason="revoked")
    counts.check()


def test_token_claims_and_reservations(env):
    node = env.node(auth=True)
    port = env.http_service("alice")
    ta = make_token(node, "alice.*")
    tb = make_token(node, "alice.*", "bob")
    c1, u = env.http_tunnel(node, port, "alice", extra=["--token", ta], name="a1")
    st, _, body = request(node.http_port, "alice.localhost", path="/whoami")
    check(st == 200, "through the tunnel: %d %r" % (st, body[:100]))
    counts = Refusals(node)
    refused(env, node, port, ["--subdomain", "bob", "--token", ta],
            "subdomain bob is not allowed by token", "outside", counts=counts,
            reason="not_allowed")
    refused(env, node, port, ["--subdomain", "alice", "--token", tb],
            "subdomain alice is reserved by another token", "other-online",
            counts=counts, reason="reserved")
    c1.kill()
    time.sleep(1.0)
    refused(env, node, port, ["--subdomain", "alice", "--token", tb],
            "subdomain alice is reserved by another token until", "other-offline",
            counts=counts, reason="reserved")
    counts.check()
    # the holder reclaims from another client id
    env.http_tunnel(node, port, "alice", extra=["--token", ta], name="a2")
    # the other token may use its own names
    env.http_tunnel(node, port, "bob", extra=["--token", tb], name="b1")


def test_revoke_closes_sessions(env):
    node = env.node(auth=True)
    port = env.http_service("alice")
    tok = make_token(node, "alice.*")
    env.http_tunnel(node, port, "alice", extra=["--token", tok], name="victim")
    st, _, body = request(node.admin_port, "127.0.0.1", path="/v1/tokens")
    tid = json.loads(body)[0]["id"]
    t0 = time.monotonic()
    rc, out, err = clusterctl(node, "tokens", "revoke", tid)
    check(rc == 0, "revoke: %s%s" % (out, err))
    while time.monotonic() - t0 < 3:
        st, _, body = request(node.admin_port, "127.0.0.1", path="/v1/tunnels")
        if all(t["state"] != "online" for t in json.loads(body)):
            break
        time.sleep(0.05)
    took = time.monotonic() - t0
    env.note("revoked session offline after %.2fs" % took)
    check(took < 1.5, "the revoked token's session was still online after %.2fs" % took)


# ---- JWT ----------------------------------------------------------------

def _b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _der_to_raw(der):
    """ECDSA DER signature -> r || s (32 bytes each)."""
    def read_int(b, i):
        check(b[i] == 2, "DER int")
        n = b[i + 1]
        v = b[i + 2:i + 2 + n]
        return int.from_bytes(v, "big"), i + 2 + n
    i = 2 if der[1] < 0x80 else 3
    r, i = read_int(der, i)
    s, _ = read_int(der, i)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _jwt(env, key, claims):
    head = _b64(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signing = (head + "." + body).encode()
    p = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    check(p.returncode == 0, "openssl dgst: %s" % p.stderr.decode())
    return head + "." + body + "." + _b64(_der_to_raw(p.stdout))


def test_jwt(env):
    key, pub = env.path("jwt.key"), env.path("jwt.pub")
    for argv in (["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
                 ["openssl", "ec", "-in", key, "-pubout", "-out", pub]):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=20)
    node = env.node(["--jwt-keys", pub, "--jwt-audience", "warren", "--jwt-issuer",
                     "https://idp.test"], auth=True)
    port = env.http_service("carol")
    now = int(time.time())
    good = {"iss": "https://idp.test", "sub": "carol", "aud": "warren",
            "exp": now + 600, "warren_allow": ["carol.*"]}
    expired = dict(good, exp=now - 3600)
    wrong_aud = dict(good, aud="someone-else")
    counts = Refusals(node)
    refused(env, node, port, ["--subdomain", "carol", "--token", _jwt(env, key, expired)],
            "the JWT expired", "expired", counts=counts, reason="jwt")
    refused(env, node, port, ["--subdomain", "carol", "--token", _jwt(env, key, wrong_aud)],
            "the JWT audience does not include warren", "aud", counts=counts, reason="jwt")
    counts.check()
    env.http_tunnel(node, port, "carol", extra=["--token", _jwt(env, key, good)], name="jwt")
    st, _, body = request(node.http_port, "carol.localhost", path="/whoami")
    check(st == 200, "through the JWT tunnel: %d %r" % (st, body[:100]))


def test_session_cap(env):
    """--max-sessions-per-token: the session beyond N live ones of a token is
    refused with the reason, and counted."""
    node = env.node(["--max-sessions-per-token", "2"], auth=True)
    port = env.http_service("capped")
    tok = make_token(node, "*")
    counts = Refusals(node)
    env.http_tunnel(node, port, "cap1", extra=["--token", tok], name="cap1")
    env.http_tunnel(node, port, "cap2", extra=["--token", tok], name="cap2")
    refused(env, node, port, ["--subdomain", "cap3", "--token", tok],
            "already has 2 live sessions on this node", "cap3", counts=counts,
            reason="session_cap")
    counts.check()
    # another token is not affected
    other = make_token(node, "*")
    env.http_tunnel(node, port, "cap4", extra=["--token", other], name="cap4")


def test_rate_limit(env):
    """--max-registrations-per-minute: registrations beyond N a minute of a
    token are refused (the client retries later), and each is counted."""
    node = env.node(["--max-registrations-per-minute", "3"], auth=True)
    port = env.http_service("rated")
    tok = make_token(node, "*")
    counts = Refusals(node)
    for i in range(3):
        env.http_tunnel(node, port, "rate%d" % i, extra=["--token", tok], name="rate%d" % i)
    n = refused(env, node, port, ["--subdomain", "rate3", "--token", tok],
                "too many registrations", "rate3", counts=counts, reason="rate_limited")
    env.note("the fourth registration was refused %d time(s) before the test stopped it" % n)
    time.sleep(0.3)
    counts.check()
    # the limit is per token
    other = make_token(node, "*")
    env.http_tunnel(node, port, "rate4", extra=["--token", other], name="rate4")
