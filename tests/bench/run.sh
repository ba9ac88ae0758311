#!/bin/sh
# make bench: warren tunnels against direct connections, in the same run.
# Needs iperf3, wrk, nginx-light, haproxy and curl (make deps). Takes about 4 minutes;
# BENCH_QUICK=1 runs shorter measurements. Not part of make test.
set -e
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
export WARREN_BIN="${WARREN_BIN:-build}"
Q=""
[ "${BENCH_QUICK:-0}" = 1 ] && Q=--quick
rc=0
# the load-balancing decision over 1,000 candidates (a few seconds)
DB=tests/data/geo-country.mmdb
"$WARREN_BIN/tools/lbbench" $( [ -f "$DB" ] && echo --geoip-db "$DB" ) || rc=$?
timeout -k 10 290 "$PY" tests/bench/bench.py $Q || rc=$?
# the request inspector: client memory after 10,000 x 1 MiB, req/s on and off
timeout -k 10 400 "$PY" tests/bench/inspect.py $Q || rc=$?
# membership bytes/s per node, simulation and real processes (about 2 min)
timeout -k 10 170 "$PY" tests/bench/members.py $Q || rc=$?
# routing.db replication: propagation, bulk catch-up, partition (about 4 min)
timeout -k 10 400 "$PY" tests/bench/repl.py $Q || rc=$?
# forwarding over the mesh: via a node that does not hold the tunnel vs at
# its owner (about 1 min)
timeout -k 10 240 "$PY" tests/bench/forward.py $Q || rc=$?
# over a WireGuard mesh in network namespaces (root): forwarding against
# iperf3 across the same namespaces, failover after kill -9 (about 1 min)
timeout -k 10 300 "$PY" tests/bench/wgforward.py $Q || rc=$?
# --lb-listen against haproxy doing the same L4 job (about 2 min)
timeout -k 10 240 "$PY" tests/bench/lb.py $Q || rc=$?
# --lb-tls-listen against haproxy ending TLS for the same job (about 2 min)
timeout -k 10 240 "$PY" tests/bench/lbtls.py $Q || rc=$?
exit $rc
