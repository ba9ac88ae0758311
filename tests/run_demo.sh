#!/bin/sh
# make run: a local edge node, a demo web service and a tunnel to it.
#
#   sh tests/run_demo.sh [BUILD_DIR]
#
# Uses ./demo-data (or $WARREN_DEMO_DATA) for the node's data dir, the demo
# page and the logs. Listens on 127.0.0.1:8080 (public HTTP) and
# 127.0.0.1:7000 (tunnels) when those are free, else on ports the kernel
# picks. Prints the public URL and curl commands (plain and HTTPS) that go
# through the tunnel, each of which works as printed from this directory
# (tests/integ/test_demo.py runs them), then runs until Ctrl-C and stops
# everything.
set -u
B=${1:-build}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
sh "$(dirname "$0")/deps.sh" || exit 1
for p in warren-node warren; do
	if [ ! -x "$B/$p" ]; then
		echo "run_demo: $B/$p is missing (run make first)" >&2
		exit 1
	fi
done

DATA=${WARREN_DEMO_DATA:-./demo-data}
mkdir -p "$DATA/www" || exit 1
NODE_PID= SVC_PID= CLIENT_PID=

stop() {
	trap - INT TERM EXIT
	for pid in $CLIENT_PID $SVC_PID $NODE_PID; do
		kill -TERM "$pid" 2>/dev/null
	done
	# the node drains; give everything up to 12 s, then kill what is left
	i=0
	while [ $i -lt 120 ]; do
		alive=0
		for pid in $CLIENT_PID $SVC_PID $NODE_PID; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
		i=$((i + 1))
	done
	for pid in $CLIENT_PID $SVC_PID $NODE_PID; do
		kill -KILL "$pid" 2>/dev/null
	done
	echo "run_demo: stopped (logs in $DATA/)"
}
trap stop EXIT
trap 'exit 130' INT TERM

# port_free PORT: 0 when 127.0.0.1:PORT can be bound now
port_free() {
	"$PY" -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

pick() { # pick PORT -> PORT if free, else 0 (the kernel picks)
	if port_free "$1"; then echo "$1"; else echo 0; fi
}

# wait_log FILE REGEX PID: prints the first match's addr=HOST:PORT port, waits <= 15 s
wait_addr() {
	i=0
	while [ $i -lt 150 ]; do
		line=$(grep -E "$2" "$1" 2>/dev/null | tail -n 1)
		if [ -n "$line" ]; then
			echo "$line" | sed -n 's/.*addr=[^ ]*:\([0-9][0-9]*\).*/\1/p'
			return 0
		fi
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

HTTP_PORT=$(pick 8080)
TUNNEL_PORT=$(pick 7000)
ADMIN_PORT=$(pick 7070)
HTTPS_PORT=$(pick 8443)
NODE_LOG=$DATA/node.log
: >"$NODE_LOG"
"$B/warren-node" --data-dir "$DATA/node" --name demo --region local --domain localhost \
	--http-listen "127.0.0.1:$HTTP_PORT" --https-listen "127.0.0.1:$HTTPS_PORT" \
	--tunnel-listen "127.0.0.1:$TUNNEL_PORT" \
	--admin-listen "127.0.0.1:$ADMIN_PORT" --tcp-port-range 20000-29999 \
	2>>"$NODE_LOG" &
NODE_PID=$!
HTTP_PORT=$(wait_addr "$NODE_LOG" 'ev=listen .*what=http addr' $NODE_PID) &&
HTTPS_PORT=$(wait_addr "$NODE_LOG" 'ev=listen .*what=https addr' $NODE_PID) &&
TUNNEL_PORT=$(wait_addr "$NODE_LOG" 'ev=listen .*what=tunnel' $NODE_PID) &&
ADMIN_PORT=$(wait_addr "$NODE_LOG" 'ev=admin.listen' $NODE_PID) || {
	echo "run_demo: warren-node did not start; its log:" >&2
	tail -n 20 "$NODE_LOG" >&2
	exit 1
}

# the node requires a token: make one that may claim demo.* (printed once,
# alone on the last line) and keep it, since the name stays reserved to it
TOKEN=
TOKEN_FILE=$DATA/node/demo.token
[ -s "$TOKEN_FILE" ] && TOKEN=$(cat "$TOKEN_FILE")
i=0
while [ $i -lt 50 ] && [ -z "$TOKEN" ]; do
	TOKEN=$("$B/clusterctl" --admin "127.0.0.1:$ADMIN_PORT" tokens create \
		--allow 'demo.*' --note "make run" 2>/dev/null | tail -n 1)
	[ -n "$TOKEN" ] && break
	sleep 0.2
	i=$((i + 1))
done
[ -n "$TOKEN" ] && [ ! -s "$TOKEN_FILE" ] && (umask 077; echo "$TOKEN" >"$TOKEN_FILE")
if [ -z "$TOKEN" ]; then
	echo "run_demo: could not create a token through the admin API; the node's log:" >&2
	tail -n 20 "$NODE_LOG" >&2
	exit 1
fi

# the demo service: a static page from python's http.server
cat >"$DATA/www/index.html" <<'EOF'
<!doctype html>
<html><head><title>warren demo</title></head>
<body><h1>Hello through warren</h1>
<p>This page is served by a local python http.server and reached through a warren tunnel.</p>
</body></html>
EOF
SVC_PORT=$(pick 8000)
[ "$SVC_PORT" = 0 ] && SVC_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PY" -m http.server "$SVC_PORT" --bind 127.0.0.1 --directory "$DATA/www" \
	>"$DATA/service.log" 2>&1 &
SVC_PID=$!
# the page must be served before the tunnel leads there (else the first
# requests get 502)
i=0
until "$PY" -c 'import socket,sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' "$SVC_PORT" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -ge 100 ] || ! kill -0 $SVC_PID 2>/dev/null; then
		echo "run_demo: the demo service did not start; its log:" >&2
		tail -n 20 "$DATA/service.log" >&2
		exit 1
	fi
	sleep 0.1
done

CLIENT_OUT=$DATA/client.out
: >"$CLIENT_OUT"
"$B/warren" http "$SVC_PORT" --server "127.0.0.1:$TUNNEL_PORT" --subdomain demo \
	--ca "$DATA/node/tls/ca.pem" --token "$TOKEN" \
	>"$CLIENT_OUT" 2>"$DATA/client.log" &
CLIENT_PID=$!
URL=
i=0
while [ $i -lt 150 ] && [ -z "$URL" ]; do
	URL=$(sed -n 's/^\(http:\/\/[^ ]*\) -> .*/\1/p' "$CLIENT_OUT" | head -n 1)
	[ -n "$URL" ] && break
	kill -0 $CLIENT_PID 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
if [ -z "$URL" ]; then
	echo "run_demo: the tunnel client did not register; its log:" >&2
	tail -n 20 "$DATA/client.log" >&2
	exit 1
fi
HOSTNAME_=$(echo "$URL" | sed 's|^http://||; s|:.*||')

CURL="curl -H 'Host: $HOSTNAME_' http://127.0.0.1:$HTTP_PORT/"
CURL2="curl --resolve $HOSTNAME_:$HTTP_PORT:127.0.0.1 $URL/"
# the node issues demo.localhost its own certificate from the development
# CA on the first handshake (a wildcard over the one label "localhost" is
# refused by curl)
CURL3="curl --cacert $DATA/node/tls/ca.pem --resolve $HOSTNAME_:$HTTPS_PORT:127.0.0.1 https://$HOSTNAME_:$HTTPS_PORT/"
echo
echo "  warren demo"
echo "  public URL : $URL  ->  http://127.0.0.1:$SVC_PORT (demo page)"
echo "  try        : $CURL"
echo "        https: $CURL3"
echo "           or: $CURL2"
echo "  tunnels    : 127.0.0.1:$TUNNEL_PORT (TLS, development CA $DATA/node/tls/ca.pem)"
echo "               warren http PORT --server 127.0.0.1:$TUNNEL_PORT --ca $DATA/node/tls/ca.pem --token \$TOKEN"
echo "  token      : made with: clusterctl --admin 127.0.0.1:$ADMIN_PORT tokens create --allow 'demo.*'"
echo "  logs       : $DATA/node.log, $DATA/client.log"
echo
if command -v curl >/dev/null 2>&1; then
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: $HOSTNAME_" "http://127.0.0.1:$HTTP_PORT/")
	scode=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$DATA/node/tls/ca.pem" \
		--resolve "$HOSTNAME_:$HTTPS_PORT:127.0.0.1" "https://$HOSTNAME_:$HTTPS_PORT/")
	echo "  self-check : GET $URL/ -> $code, over HTTPS -> $scode"
fi
echo "  Ctrl-C stops the node, the service and the client."
echo

# run until Ctrl-C or until one of them exits
while kill -0 $NODE_PID 2>/dev/null && kill -0 $CLIENT_PID 2>/dev/null &&
	kill -0 $SVC_PID 2>/dev/null; do
	sleep 1
done
echo "run_demo: a process exited; stopping" >&2
exit 1
