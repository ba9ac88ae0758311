#!/bin/sh
# warren on fly.io: one app with a machine in each of three regions.
#
#   docker/fly/launch.sh [options]            create the app and deploy
#   docker/fly/launch.sh --destroy [options]  remove the app
#   ... --dry-run    print every command and file instead (no flyctl call)
#
# Steps: create the app, set the secret WARREN_CLUSTER_KEY (32 random bytes,
# base64: the gossip key), allocate a dedicated IPv4 (raw TCP services need
# one) and an IPv6, deploy docker/Dockerfile with docker/fly/fly.toml (the
# app name, domain and first region put in), and scale to one machine per
# region. Public ports: 80 (HTTP), 443 (HTTPS), 7000 (tunnels); gossip stays
# on the 6PN private network.
#
# options:
#   --app NAME           default warren-edge
#   --org ORG            default personal
#   --regions "R1 R2 R3" Fly regions (default: gru iad cdg)
#   --domain NAME        the nodes' tunnel domain (default tunnels.example.com)
#   --show-keys          print the cluster key in the dry-run output
set -eu
DEPLOY_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=docker/deploy-lib.sh
. "$DEPLOY_ROOT/docker/deploy-lib.sh"

APP=warren-edge
ORG=personal
REGIONS="gru iad cdg"
DOMAIN=tunnels.example.com
DESTROY=0

while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) DRY_RUN=1 ;;
	--show-keys) SHOW_KEYS=1 ;;
	--destroy) DESTROY=1 ;;
	--app) APP=$2; shift ;;
	--org) ORG=$2; shift ;;
	--regions) REGIONS=$2; shift ;;
	--domain) DOMAIN=$2; shift ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (try --help)" ;;
	esac
	shift
done
FLY=fly
if [ "$DRY_RUN" = 0 ]; then
	command -v fly > /dev/null || FLY=flyctl
	command -v "$FLY" > /dev/null || die "flyctl is not installed"
fi

if [ "$DESTROY" = 1 ]; then
	run "$FLY" apps destroy "$APP" --yes
	exit 0
fi

primary=$(nth 1 "$REGIONS")
work=$(mktemp -d "${TMPDIR:-/tmp}/warren-fly.XXXXXX")
trap 'rm -rf "$work"' EXIT
config=$work/fly.toml
sed -e "s/^app = .*/app = \"$APP\"/" \
	-e "s/^primary_region = .*/primary_region = \"$primary\"/" \
	-e "s/^\\(  WARREN_DOMAIN = \\).*/\\1\"$DOMAIN\"/" \
	"$DEPLOY_ROOT/docker/fly/fly.toml" | put "$config" 0644

run "$FLY" apps create "$APP" --org "$ORG"
key=$(head -c 32 /dev/urandom | base64)
shown=$key
[ "$SHOW_KEYS" = 1 ] || shown="<redacted cluster key>"
# the key goes to flyctl on stdin, never on a command line
if [ "$DRY_RUN" = 1 ]; then
	deploy_show "$FLY" secrets import --app "$APP" --stage
	printf -- '--- stdin\nWARREN_CLUSTER_KEY=%s\n--- end\n' "$shown"
else
	deploy_show "$FLY" secrets import --app "$APP" --stage
	printf 'WARREN_CLUSTER_KEY=%s\n' "$key" | "$FLY" secrets import --app "$APP" --stage
fi
run "$FLY" ips allocate-v4 --app "$APP" --yes
run "$FLY" ips allocate-v6 --app "$APP"
# build context: the sources at the top of the tree (.dockerignore)
run "$FLY" deploy "$DEPLOY_ROOT" --app "$APP" --config "$config" \
	--dockerfile "$DEPLOY_ROOT/docker/Dockerfile" --primary-region "$primary" --ha=false
for r in $REGIONS; do
	run "$FLY" scale count 1 --app "$APP" --region "$r" --yes
done
[ "$DRY_RUN" = 1 ] || run "$FLY" status --app "$APP"
