#!/bin/sh
# make docker-up | docker-test | docker-down: the three-region cluster of
# docker/compose.yml.
#
#   up     start dockerd if it is not running, build the images (the base
#          from Debian's packages with debootstrap when no registry gives
#          debian:12-slim), start the cluster
#   test   a fresh cluster, then: every node sees three members alive over
#          the mesh, nodes are healthy and run warren-node as warren, the
#          tunnel is registered, and the checker asks every region for it;
#          then the cluster is removed (KEEP=1 keeps it). Last, the
#          package's systemd units run under systemd in a container
#          (docker/systemd-check.sh).
#   down   stop the cluster and remove its volumes (the mesh keys too)
#
# Environment: WARREN_BASE (default debian:12-slim), DEBIAN_MIRROR (for
# debootstrap), WARREN_COMPOSE_PROJECT (default warren).
set -eu
cmd=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
project=${WARREN_COMPOSE_PROJECT:-warren}
state=${TMPDIR:-/tmp}/warren-docker
started_dockerd=""
t0=$(date +%s)

say() { echo "docker: $* ($(($(date +%s) - t0))s)"; }
die() { echo "docker: $*" >&2; exit 1; }

compose() {
	if docker compose version > /dev/null 2>&1; then
		docker compose -p "$project" -f "$here/compose.yml" "$@"
	else
		docker-compose -p "$project" -f "$here/compose.yml" "$@"
	fi
}

need_tools() {
	sh "$root/tests/deps.sh"
	command -v dockerd > /dev/null || die "dockerd is missing (make deps installs docker.io)"
}

# dockerd, started here when none answers; its bridge and default pools in
# 198.18.0.0/15 too, so nothing here uses another range
ensure_dockerd() {
	docker info > /dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || die "dockerd is not running and only root can start it"
	mkdir -p "$state"
	say "starting dockerd (log: $state/dockerd.log)"
	dockerd --bip 198.19.255.1/24 \
		--default-address-pool base=198.19.128.0/18,size=24 \
		--pidfile "$state/dockerd.pid" > "$state/dockerd.log" 2>&1 &
	started_dockerd=$!
	i=0
	until docker info > /dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 60 ] || ! kill -0 "$started_dockerd" 2> /dev/null; then
			tail -n 20 "$state/dockerd.log" >&2
			die "dockerd did not start"
		fi
		sleep 0.5
	done
}

stop_dockerd() {
	[ -n "$started_dockerd" ] || return 0
	compose --profile check down -v --remove-orphans > /dev/null 2>&1 || true
	say "stopping the dockerd started here"
	kill "$started_dockerd" 2> /dev/null || true
	wait "$started_dockerd" 2> /dev/null || true
}

# BASE for the Dockerfile: debian:12-slim if present or pullable, else an
# image made from Debian's packages
ensure_base() {
	base=${WARREN_BASE:-debian:12-slim}
	if docker image inspect "$base" > /dev/null 2>&1; then
		return 0
	fi
	if docker pull -q "$base" > /dev/null 2>&1; then
		return 0
	fi
	say "cannot pull $base: using a Debian 12 base made with debootstrap"
	base=warren-base:bookworm
	docker image inspect "$base" > /dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || die "debootstrap needs root"
	dir=$(mktemp -d "${TMPDIR:-/tmp}/warren-base.XXXXXX")
	if ! debootstrap --variant=minbase bookworm "$dir" \
		"${DEBIAN_MIRROR:-http://deb.debian.org/debian}" > "$dir.log" 2>&1; then
		tail -n 20 "$dir.log" >&2
		rm -rf "$dir"
		die "debootstrap failed (log above)"
	fi
	rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
		"$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/locale/*
	tar -C "$dir" -c . | docker import -c 'CMD ["/bin/bash"]' - "$base" > /dev/null
	rm -rf "$dir" "$dir.log"
	say "made $base"
}

# build [systemd]: the images (with systemd: also warren-systemd:local)
build() {
	ensure_base
	say "building warren:local and warren-demo:local on $base"
	docker build -q -f "$here/Dockerfile" --build-arg "BASE=$base" -t warren:local \
		"$root" > /dev/null
	docker build -q -f "$here/Dockerfile" --build-arg "BASE=$base" --target demo \
		-t warren-demo:local "$root" > /dev/null
	if [ "${1:-}" = systemd ]; then
		docker build -q -f "$here/Dockerfile" --build-arg "BASE=$base" --target systemd \
			-t warren-systemd:local "$root" > /dev/null
	fi
	# layers of earlier builds that no tag holds any more
	docker image prune -f --filter label=org.warren.image > /dev/null
	say "built"
}

# The package's systemd units under systemd as PID 1 (docker/systemd-check.sh)
check_systemd() {
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		cg="--cgroupns=private"          # cgroup v2: systemd gets its own tree
	else
		cg="--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw"
	fi
	cid=$(docker run -d --cap-add SYS_ADMIN --security-opt seccomp=unconfined \
		"$cg" --tmpfs /run --tmpfs /run/lock --network none warren-systemd:local)
	i=0
	until docker exec "$cid" systemctl is-system-running 2> /dev/null | grep -qE 'running|degraded'; do
		i=$((i + 1))
		if [ $i -gt 60 ]; then
			docker logs "$cid" 2>&1 | tail -n 20 >&2
			docker rm -f "$cid" > /dev/null
			echo "docker: systemd did not start in the container" >&2
			return 1
		fi
		sleep 0.5
	done
	rc=0
	docker exec -i "$cid" sh -s < "$here/systemd-check.sh" || rc=1
	docker rm -f "$cid" > /dev/null
	return $rc
}

# $1 node -> number of members it sees alive
alive_count() {
	compose exec -T "$1" clusterctl members 2> /dev/null | grep -c ' alive ' || true
}

wait_cluster() {
	i=0
	for n in sa us eu; do
		while [ "$(alive_count $n)" != 3 ]; do
			i=$((i + 1))
			if [ $i -gt 120 ]; then
				compose ps >&2
				compose logs --tail 30 >&2
				die "node $n does not see 3 members alive"
			fi
			sleep 1
		done
	done
	say "every node sees 3 members alive"
}

up() {
	need_tools
	ensure_dockerd
	build
	compose up -d
	wait_cluster
	compose exec -T sa clusterctl members
	cat << EOT
the cluster is up: http://127.0.0.1:18081/ (sa), :18082 (us), :18083 (eu)
with Host: demo.demo.test; 'make docker-test' checks it, 'make docker-down'
removes it
EOT
}

# on the way out of a test, pass or fail: the cluster, and the dockerd
# started here
test_cleanup() {
	if [ "${KEEP:-0}" != 1 ]; then
		compose --profile check down -v --remove-orphans > /dev/null 2>&1 || true
	fi
	stop_dockerd
}

test_cluster() {
	need_tools
	ensure_dockerd
	trap test_cleanup EXIT
	build systemd
	compose --profile check down -v --remove-orphans > /dev/null 2>&1 || true
	compose up -d
	fail=0
	wait_cluster
	for n in sa us eu; do
		out=$(compose exec -T "$n" clusterctl members)
		echo "$out"
		# gossip runs on the WireGuard addresses only
		for a in 198.19.0.1:7946 198.19.0.2:7946 198.19.0.3:7946; do
			echo "$out" | grep -q " $a .* alive " || {
				echo "docker: $n does not see $a alive" >&2
				fail=1
			}
		done
		h=$(docker inspect -f '{{.State.Health.Status}}' "$(compose ps -q "$n")")
		[ "$h" = healthy ] || {
			echo "docker: $n is $h, not healthy" >&2
			fail=1
		}
		# shellcheck disable=SC2016 # expanded in the container
		user=$(compose exec -T "$n" sh -c 'for p in /proc/[0-9]*; do
			[ "$(cat $p/comm 2>/dev/null)" = warren-node ] && stat -c %U $p; done' |
			sort -u | tr -d '\r')
		[ "$user" = warren ] || {
			echo "docker: warren-node runs as '$user' on $n, not warren" >&2
			fail=1
		}
		hs=$(compose exec -T -u root "$n" wg show warren0 latest-handshakes |
			awk '$2 > 0' | wc -l)
		[ "$hs" = 2 ] || {
			echo "docker: $n has $hs WireGuard peers with a handshake, want 2" >&2
			fail=1
		}
	done
	say "nodes healthy, warren-node runs as warren, WireGuard handshakes with both peers"
	holder=""
	i=0
	while [ -z "$holder" ]; do
		holder=$(compose exec -T sa curl -s http://127.0.0.1:7070/v1/tunnels |
			tr '{' '\n' | grep '"demo.demo.test"' | sed -n 's/.*"node": *"\([^"]*\)".*/\1/p' |
			head -n 1)
		i=$((i + 1))
		if [ -z "$holder" ] && [ $i -gt 60 ]; then
			compose logs --tail 30 client sa >&2
			die "the tunnel demo.demo.test was not registered"
		fi
		[ -n "$holder" ] || sleep 1
	done
	say "tunnel demo.demo.test registered, held by node $holder"
	compose --profile check run --rm -e "HOLDER=$holder" checker || fail=1
	if [ "${KEEP:-0}" != 1 ]; then
		compose --profile check down -t 2 -v --remove-orphans > /dev/null 2>&1 || true
		say "cluster removed"
	fi
	check_systemd || fail=1
	say "systemd units checked"
	[ $fail = 0 ] || die "FAIL"
	say "PASS"
}

case "$cmd" in
up) up ;;
test) test_cluster ;;
down)
	if docker info > /dev/null 2>&1; then
		compose --profile check down -v --remove-orphans
	fi
	;;
*) die "usage: compose.sh up|test|down" ;;
esac
