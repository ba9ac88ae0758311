"""Three nodes over a real WireGuard mesh in network namespaces
(tests/cluster/wgmesh.py): partition by link down, heal by link up; an HTTP
and a TCP tunnel held by one node answer byte-exact through the others
(mesh links on the WireGuard addresses, public listeners on the veth ones),
and after kill -9 of the holder through the survivors.

Runs as root with ip, wireguard-go and wg installed; otherwise the runner
reports it as skipped, with the reason (and CI, which sets WARREN_NO_SKIP=1,
fails)."""
import os
import sys

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
import wgmesh  # noqa: E402

TIMEOUT = 90


def test_wireguard_partition_heal(env):
    why = wgmesh.missing_reason()
    if why:
        harness.skip(why)
    wgmesh.run(env)


@harness.timeout(150)
def test_wireguard_forwarding_and_failover(env):
    why = wgmesh.missing_reason()
    if why:
        harness.skip(why)
    wgmesh.run_forward(env)
