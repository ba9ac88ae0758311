#!/bin/sh
# The compose cluster's checker: asks every region's public HTTP port for
# the demo tunnel and prints which node served it and what it answered.
#
#   REGIONS="sa=198.18.0.11 us=198.18.0.12 eu=198.18.0.13"
#   TUNNEL_HOST=demo.demo.test  EXPECT="hello from ..."
#   HOLDER=sa         the node holding the tunnel: it must answer EXPECT
#   REQUIRE_ALL=1     every region must answer EXPECT (through the holder)
# Exits 1 when a region does not answer HTTP at all or a requirement fails.
set -u
fail=0
printf '%-8s %-14s %-6s %s\n' REGION SERVED-BY STATUS ANSWER
for r in $REGIONS; do
	name=${r%%=*}
	addr=${r#*=}
	body=$(curl -s -m 5 -H "Host: $TUNNEL_HOST" -w '\n%{http_code}' "http://$addr:8080/")
	code=$(printf '%s\n' "$body" | tail -n 1)
	text=$(printf '%s\n' "$body" | sed '$d' | head -n 1)
	printf '%-8s %-14s %-6s %s\n' "$name" "node $name" "$code" "$text"
	if [ "$code" = 000 ]; then
		echo "checker: region $name ($addr:8080) did not answer" >&2
		fail=1
	elif [ "$text" != "$EXPECT" ]; then
		if [ "${REQUIRE_ALL:-0}" = 1 ] || [ "$name" = "${HOLDER:-}" ]; then
			echo "checker: region $name answered $code '$text', want '$EXPECT'" >&2
			fail=1
		fi
	fi
done
[ -n "${HOLDER:-}" ] && echo "tunnel $TUNNEL_HOST held by node $HOLDER"
exit $fail
