"""Three nodes over a real WireGuard mesh in network namespaces
(tests/cluster/wgmesh.py): partition by link down, heal by link up.

Runs as root with ip, wireguard-go and wg installed; otherwise it prints
why it is skipped and passes."""
import os
import sys

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
import wgmesh  # noqa: E402

TIMEOUT = 90


def test_wireguard_partition_heal(env):
    why = wgmesh.missing_reason()
    if why:
        print("SKIP test_wireguard::test_wireguard_partition_heal: " + why, flush=True)
        env.note("skipped: " + why)
        return
    wgmesh.run(env)
