"""1 GiB each way through an HTTP tunnel, byte-exact, with bounded memory.

Bounds (RSS, sampled every 100 ms during the transfer, and VmHWM at the end):
  node (warren-node + acceptor + router + gossip, summed)  <= 64 MiB
  client (warren)                                          <= 48 MiB
sha256 is computed on the fly on both sides; nothing holds the body.
"""
import hashlib
import json
import subprocess
import threading
import time

import harness
from harness import GiB, MiB, Sampler, check, gen_sha256

TIMEOUT = 200
NODE_MAX_KIB = 64 * 1024 * harness.MEM_SCALE
CLIENT_MAX_KIB = 48 * 1024 * harness.MEM_SCALE
SIZE = GiB
TRANSFER_LIMIT = 150  # seconds for one transfer


def setup(env, plain=False):
    # plain: the tunnel link without TLS, where payloads move by splice(2)
    node = env.node(["--tunnel-tls=false"] if plain else [])
    port = env.http_service("bulk")
    client, url = env.http_tunnel(node, port, "bulk", extra=["--tls=false"] if plain else [])
    return node, client, url


def check_memory(env, node, client, ns, cs, what):
    node_peak, client_peak = ns.stop(), cs.stop()
    node_hwm, client_hwm = node.hwm_kib(), client.hwm_kib()
    env.note("%s: node RSS peak %d KiB (sum of VmHWM %d KiB), client RSS peak %d KiB "
             "(VmHWM %d KiB), %d samples" % (what, node_peak, node_hwm, client_peak,
                                             client_hwm, ns.samples))
    check(node_peak <= NODE_MAX_KIB and node_hwm <= NODE_MAX_KIB,
          "%s: node RSS peak %d KiB / VmHWM sum %d KiB, bound %d KiB"
          % (what, node_peak, node_hwm, NODE_MAX_KIB))
    check(client_peak <= CLIENT_MAX_KIB and client_hwm <= CLIENT_MAX_KIB,
          "%s: client RSS peak %d KiB / VmHWM %d KiB, bound %d KiB"
          % (what, client_peak, client_hwm, CLIENT_MAX_KIB))


def test_download_1gib(env, plain=False):
    node, client, url = setup(env, plain)
    seed = 11
    expect = {}
    t = threading.Thread(target=lambda: expect.setdefault("sha", gen_sha256(SIZE, seed)),
                         daemon=True)
    t.start()
    ns, cs = Sampler(node.rss_kib), Sampler(client.rss_kib)
    t0 = time.monotonic()
    curl = subprocess.Popen(
        ["curl", "-sS", "--max-time", str(TRANSFER_LIMIT), "-H", "Host: " + url["host"],
         "-w", "%{stderr}code=%{http_code} size=%{size_download}\n",
         "http://127.0.0.1:%d/bytes?n=%d&seed=%d" % (node.http_port, SIZE, seed)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    h = hashlib.sha256()  # OpenSSL's, about 1 GB/s here (coreutils sha256sum is ~10x slower)
    try:
        while True:
            b = curl.stdout.read(1 << 20)
            if not b:
                break
            h.update(b)
        cerr = curl.communicate(timeout=10)[1].decode(errors="replace")
    finally:
        if curl.poll() is None:
            curl.kill()
            curl.wait(5)
    dt = time.monotonic() - t0
    t.join(60)
    check_memory(env, node, client, ns, cs, "download")
    check(curl.returncode == 0 and "code=200 size=%d" % SIZE in cerr,
          "curl download: rc=%s %s" % (curl.returncode, cerr.strip()))
    got = h.hexdigest()
    check(got == expect.get("sha"), "1 GiB download: sha256 %s, want %s" % (got, expect.get("sha")))
    env.note("download 1 GiB in %.1fs (%.0f MiB/s)" % (dt, SIZE / MiB / dt))


def test_download_1gib_plain_link(env):
    test_download_1gib(env, plain=True)


def test_upload_1gib(env):
    node, client, url = setup(env)
    seed = 12
    ns, cs = Sampler(node.rss_kib), Sampler(client.rss_kib)
    t0 = time.monotonic()
    gen = subprocess.Popen([harness.PYTHON, harness.SERVICES, "gen", str(SIZE), str(seed)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    curl = subprocess.Popen(
        ["curl", "-sS", "--max-time", str(TRANSFER_LIMIT), "-H", "Host: " + url["host"],
         "-H", "Expect:", "-X", "POST", "-T", "-",
         "http://127.0.0.1:%d/upload" % node.http_port],
        stdin=gen.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gen.stdout.close()
    try:
        out, cerr = curl.communicate(timeout=TRANSFER_LIMIT + 10)
        gerr = gen.communicate(timeout=10)[1].decode().strip()
    finally:
        for p in (curl, gen):
            if p.poll() is None:
                p.kill()
                p.wait(5)
    dt = time.monotonic() - t0
    check_memory(env, node, client, ns, cs, "upload")
    check(curl.returncode == 0, "curl upload: rc=%s %s" % (curl.returncode, cerr.decode(errors="replace")))
    try:
        got = json.loads(out)
    except ValueError:
        got = out[:300]
    check(got == {"n": SIZE, "sha256": gerr}, "1 GiB upload: service saw %r, sent sha256 %s"
          % (got, gerr))
    env.note("upload 1 GiB in %.1fs (%.0f MiB/s)" % (dt, SIZE / MiB / dt))
