#!/bin/sh
# A warren edge in three Google Cloud regions, joined by a WireGuard mesh.
#
#   docker/gcp/deploy.sh --project ID --package-url URL [options]   create
#   docker/gcp/deploy.sh --project ID --destroy [options]           remove it all
#   ... --dry-run        print every command and file instead (no gcloud call)
#
# Per region (default us-central1, europe-west1, southamerica-east1; the
# default network): a static external address (the node's WireGuard
# endpoint and public address) and a Debian 12 instance tagged NAME-edge
# whose startup script installs the package from URL (make deb) and the
# files that clusterctl mesh writes for it, then starts wg-quick@warren0 and
# warren-node. Two firewall rules for the tag: TCP 80, 443, 7000 and the
# TCP tunnel ports from anywhere, UDP 51820 from the nodes' addresses only
# (gossip runs inside WireGuard; nothing else is open). The mesh (keys) is
# kept in --mesh-dir.
#
# options:
#   --regions "R1 R2 R3"     regions (node names are the regions)
#   --zones "Z1 Z2 Z3"       one zone per region (default: REGION-b, or the
#                            known good one for the default regions)
#   --name NAME              resource name prefix (default warren)
#   --machine-type TYPE      default e2-small
#   --domain NAME            the nodes' tunnel domain (default tunnels.example.com)
#   --tcp-ports LO-HI        public TCP tunnel ports (default 20000-20099)
#   --mesh-dir DIR           mesh directory (default ./warren-mesh-gcp); an
#                            existing one is used as it is
#   --show-keys              print keys in the dry-run output
set -eu
DEPLOY_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=docker/deploy-lib.sh
. "$DEPLOY_ROOT/docker/deploy-lib.sh"

REGIONS="us-central1 europe-west1 southamerica-east1"
ZONES=""
NAME=warren
TYPE=e2-small
DOMAIN=tunnels.example.com
TCP_PORTS=20000-20099
MESH_DIR=./warren-mesh-gcp
PACKAGE_URL=""
PROJECT=""
DESTROY=0
WG_PORT=51820

while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) DRY_RUN=1 ;;
	--show-keys) SHOW_KEYS=1 ;;
	--destroy) DESTROY=1 ;;
	--project) PROJECT=$2; shift ;;
	--regions) REGIONS=$2; shift ;;
	--zones) ZONES=$2; shift ;;
	--name) NAME=$2; shift ;;
	--machine-type) TYPE=$2; shift ;;
	--domain) DOMAIN=$2; shift ;;
	--tcp-ports) TCP_PORTS=$2; shift ;;
	--mesh-dir) MESH_DIR=$2; shift ;;
	--package-url) PACKAGE_URL=$2; shift ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (try --help)" ;;
	esac
	shift
done
case $TCP_PORTS in
*[!0-9-]* | -* | *-) die "--tcp-ports wants LO-HI" ;;
esac
if [ -z "$PROJECT" ] && [ "$DRY_RUN" = 1 ]; then
	PROJECT=my-project
fi
[ -n "$PROJECT" ] || die "--project ID is required"
[ "$DRY_RUN" = 1 ] || command -v gcloud > /dev/null || die "gcloud is not installed"

# zone of the Nth region
zone_of() {
	z=$(nth "$1" "$ZONES")
	[ -n "$z" ] && { echo "$z"; return; }
	case $2 in
	us-central1 | southamerica-east1) echo "$2-a" ;;
	*) echo "$2-b" ;;
	esac
}

if [ "$DESTROY" = 1 ]; then
	n=0
	for r in $REGIONS; do
		n=$((n + 1))
		run gcloud compute instances delete "$NAME-$r" --project "$PROJECT" \
			--zone "$(zone_of $n "$r")" --quiet || true
		run gcloud compute addresses delete "$NAME-$r" --project "$PROJECT" \
			--region "$r" --quiet || true
	done
	run gcloud compute firewall-rules delete "$NAME-public" "$NAME-wireguard" \
		--project "$PROJECT" --quiet || true
	exit 0
fi

[ -n "$PACKAGE_URL" ] || {
	[ "$DRY_RUN" = 1 ] && PACKAGE_URL=https://example.com/warren_0.1.0_amd64.deb
}
[ -n "$PACKAGE_URL" ] || die "--package-url URL of the .deb (make deb) is required"
CTL=$(find_clusterctl)

# 1. a static address per region: the WireGuard endpoints come first
# (a dry run uses 192.0.2.N, TEST-NET-1, in their place)
n=0
specs=""
ips=""
for r in $REGIONS; do
	n=$((n + 1))
	run gcloud compute addresses create "$NAME-$r" --project "$PROJECT" --region "$r"
	ip=$(query "192.0.2.$n" gcloud compute addresses describe "$NAME-$r" \
		--project "$PROJECT" --region "$r" --format 'value(address)')
	ips="$ips $ip"
	specs="$specs $r,$r,$ip"
done

# 2. the mesh: keys, addresses, every node's files
make_mesh "$MESH_DIR" "$specs" --domain "$DOMAIN" --gossip-profile wan

# 3. firewall: public ports from anywhere, WireGuard from the nodes only
sources=""
for ip in $ips; do
	sources="$sources${sources:+,}$ip/32"
done
run gcloud compute firewall-rules create "$NAME-public" --project "$PROJECT" \
	--network default --direction INGRESS --target-tags "$NAME-edge" \
	--source-ranges 0.0.0.0/0 --allow "tcp:80,tcp:443,tcp:7000,tcp:$TCP_PORTS"
run gcloud compute firewall-rules create "$NAME-wireguard" --project "$PROJECT" \
	--network default --direction INGRESS --target-tags "$NAME-edge" \
	--source-ranges "$sources" --allow "udp:$WG_PORT"

# 4. per region: the instance and its startup script
n=0
for r in $REGIONS; do
	n=$((n + 1))
	script="$MESH_DIR/startup-$r.sh"
	node_setup "$MESH_SRC" "$r" "$PACKAGE_URL" | put "$script" 0600
	run gcloud compute instances create "$NAME-$r" --project "$PROJECT" \
		--zone "$(zone_of $n "$r")" --machine-type "$TYPE" \
		--image-family debian-12 --image-project debian-cloud \
		--address "$(nth $n "$ips")" --tags "$NAME-edge" \
		--metadata-from-file "startup-script=$script"
done
[ "$DRY_RUN" = 1 ] || "$CTL" mesh show "$MESH_DIR"
