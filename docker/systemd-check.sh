#!/bin/sh
# Run inside the image's "systemd" stage (systemd as PID 1) by docker-test:
# the package's units as an operator uses them. warren-node.service binds
# port 80 as the user warren under its sandbox, warren@demo.service keeps a
# tunnel to the demo page up, a killed node is restarted, and stopping it
# drains and exits cleanly. Prints what it checks; exits 1 on the first
# failure.
set -u
fail() {
	echo "systemd-check: FAIL: $*" >&2
	journalctl -u warren-node -u warren@demo --no-pager | tail -n 30 >&2
	exit 1
}
ok() { echo "systemd-check: $*"; }
# wait SECONDS CMD...: until CMD succeeds
wait_for() {
	n=$(($1 * 5))
	shift
	while ! "$@" > /dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.2
	done
}
page() { curl -s -m 3 -H 'Host: demo.localhost' http://127.0.0.1:80/; }
page_ok() { [ "$(page)" = "hello from the warren demo service" ]; }
restarted() {
	[ "$(systemctl show -p NRestarts --value warren-node)" = 1 ] &&
		systemctl -q is-active warren-node
}

getent passwd warren > /dev/null || fail "the package did not create the user warren"
printf 'http-listen = 0.0.0.0:80\nallow-anonymous = true\n' >> /etc/warren/node.conf
systemctl start warren-node || fail "systemctl start warren-node"
wait_for 15 curl -fs http://127.0.0.1:7070/v1/status || fail "the admin API does not answer"
pid=$(systemctl show -p MainPID --value warren-node)
users=$(for p in $pid $(cat /proc/"$pid"/task/*/children); do stat -c %U /proc/"$p"; done | sort -u)
[ "$users" = warren ] || fail "node processes run as: $users"
caps=$(awk '/^CapEff/ { print $2 }' /proc/"$pid"/status)
[ "$caps" = 0000000000000400 ] || fail "effective capabilities $caps, want CAP_NET_BIND_SERVICE only"
ok "warren-node.service runs as warren with CAP_NET_BIND_SERVICE only, sandboxed"

busybox httpd -p 127.0.0.1:8000 -h /srv/demo || fail "demo httpd"
printf '[common]\nserver_addr = 127.0.0.1\nserver_port = 7000\n\n[web]\ntype = http\nlocal_port = 8000\nsubdomain = demo\n' \
	> /etc/warren/demo.ini
chgrp warren /etc/warren/demo.ini
chmod 0640 /etc/warren/demo.ini
mkdir -p /etc/systemd/system/warren@demo.service.d
printf '[Service]\nEnvironment=WARREN_CA=/var/lib/warren/tls/ca.pem\n' \
	> /etc/systemd/system/warren@demo.service.d/ca.conf
systemctl daemon-reload
systemctl start warren@demo || fail "systemctl start warren@demo"
wait_for 15 page_ok || fail "the tunnel through port 80 answers '$(page)'"
ok "warren@demo.service holds a tunnel: port 80 answers through it"

kill -9 "$pid"
wait_for 20 restarted || fail "not restarted after kill -9"
wait_for 20 page_ok || fail "after the restart the tunnel answers '$(page)'"
ok "kill -9: restarted, the client came back"

systemctl stop warren-node
if [ "$(systemctl show -p Result --value warren-node)" != success ] ||
	[ "$(systemctl show -p ExecMainStatus --value warren-node)" != 0 ]; then
	fail "stop: $(systemctl show -p Result -p ExecMainStatus warren-node | tr '\n' ' ')"
fi
journalctl -u warren-node --no-pager | grep -q 'ev=drain.done' || fail "stop did not drain"
ok "systemctl stop: drained, exit 0"
