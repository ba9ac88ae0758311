"""Three nodes over a real WireGuard mesh in network namespaces
(tests/cluster/wgmesh.py): partition by link down, heal by link up.

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
