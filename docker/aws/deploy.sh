#!/bin/sh
# A warren edge in three AWS regions, joined by a WireGuard mesh.
#
#   docker/aws/deploy.sh --package-url URL [options]     create
#   docker/aws/deploy.sh --destroy [options]             remove it all
#   ... --dry-run        print every command and file instead (no AWS call)
#
# Per region (default sa-east-1, us-east-1, eu-west-1; the default VPC):
# an Elastic IP (the node's WireGuard endpoint and public address), a
# security group that opens TCP 80, 443, 7000 and the TCP tunnel ports to
# all and UDP 51820 to the other nodes' addresses only (gossip runs inside
# WireGuard; nothing else is open), and a Debian 12 instance whose user
# data installs the package from URL (make deb) and the files that
# clusterctl mesh writes for it, then starts wg-quick@warren0 and
# warren-node. The mesh (keys) is kept in --mesh-dir.
#
# options:
#   --regions "R1 R2 R3"     AWS regions (node names are the regions)
#   --name NAME              resource name prefix (default warren)
#   --instance-type TYPE     default t3.small
#   --domain NAME            the nodes' tunnel domain (default tunnels.example.com)
#   --tcp-ports LO-HI        public TCP tunnel ports (default 20000-20099)
#   --mesh-dir DIR           mesh directory (default ./warren-mesh-aws); an
#                            existing one is used as it is
#   --show-keys              print keys in the dry-run output
set -eu
DEPLOY_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=docker/deploy-lib.sh
. "$DEPLOY_ROOT/docker/deploy-lib.sh"

REGIONS="sa-east-1 us-east-1 eu-west-1"
NAME=warren
TYPE=t3.small
DOMAIN=tunnels.example.com
TCP_PORTS=20000-20099
MESH_DIR=./warren-mesh-aws
PACKAGE_URL=""
DESTROY=0
WG_PORT=51820

while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) DRY_RUN=1 ;;
	--show-keys) SHOW_KEYS=1 ;;
	--destroy) DESTROY=1 ;;
	--regions) REGIONS=$2; shift ;;
	--name) NAME=$2; shift ;;
	--instance-type) TYPE=$2; shift ;;
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
TCP_LO=${TCP_PORTS%-*}
TCP_HI=${TCP_PORTS#*-}
[ "$DRY_RUN" = 1 ] || command -v aws > /dev/null || die "the aws CLI is not installed"
# tags TYPE REGION: what every resource is tagged with (--destroy finds them)
tags() {
	printf 'ResourceType=%s,Tags=[{Key=Name,Value=%s-%s},{Key=warren,Value=%s}]' \
		"$1" "$NAME" "$2" "$NAME"
}

if [ "$DESTROY" = 1 ]; then
	for r in $REGIONS; do
		ids=$(query "<instances-$r>" aws ec2 describe-instances --region "$r" \
			--filters "Name=tag:warren,Values=$NAME" \
			"Name=instance-state-name,Values=pending,running,stopping,stopped" \
			--query 'Reservations[].Instances[].InstanceId' --output text)
		if [ -n "$ids" ]; then
			# shellcheck disable=SC2086 # a list of ids
			run aws ec2 terminate-instances --region "$r" --instance-ids $ids > /dev/null
			# shellcheck disable=SC2086
			run aws ec2 wait instance-terminated --region "$r" --instance-ids $ids
		fi
		for a in $(query "<eipalloc-$r>" aws ec2 describe-addresses --region "$r" \
			--filters "Name=tag:warren,Values=$NAME" \
			--query 'Addresses[].AllocationId' --output text); do
			run aws ec2 release-address --region "$r" --allocation-id "$a"
		done
		sg=$(query "<sg-$r>" aws ec2 describe-security-groups --region "$r" \
			--filters "Name=group-name,Values=$NAME-edge" \
			--query 'SecurityGroups[].GroupId' --output text)
		[ -z "$sg" ] || run aws ec2 delete-security-group --region "$r" --group-id "$sg"
	done
	exit 0
fi

[ -n "$PACKAGE_URL" ] || {
	[ "$DRY_RUN" = 1 ] && PACKAGE_URL=https://example.com/warren_0.1.0_amd64.deb
}
[ -n "$PACKAGE_URL" ] || die "--package-url URL of the .deb (make deb) is required"
CTL=$(find_clusterctl)

# 1. a public address per region: the WireGuard endpoints come first
# (a dry run uses 192.0.2.N, TEST-NET-1, in their place)
n=0
specs=""
allocs=""
ips=""
for r in $REGIONS; do
	n=$((n + 1))
	line=$(query "eipalloc-$r 192.0.2.$n" aws ec2 allocate-address --region "$r" \
		--domain vpc --tag-specifications "$(tags elastic-ip "$r")" \
		--query '[AllocationId,PublicIp]' --output text)
	allocs="$allocs $(nth 1 "$line")"
	ips="$ips $(nth 2 "$line")"
	specs="$specs $r,$r,$(nth 2 "$line")"
done

# 2. the mesh: keys, addresses, every node's files
make_mesh "$MESH_DIR" "$specs" --domain "$DOMAIN" --gossip-profile wan

# 3. per region: firewall, image, instance with its user data
n=0
for r in $REGIONS; do
	n=$((n + 1))
	sg=$(query "sg-$r" aws ec2 create-security-group --region "$r" \
		--group-name "$NAME-edge" --description "warren edge: public ports, WireGuard from peers" \
		--tag-specifications "$(tags security-group "$r")" \
		--query GroupId --output text)
	perms="[{\"IpProtocol\":\"tcp\",\"FromPort\":80,\"ToPort\":80,\"IpRanges\":[{\"CidrIp\":\"0.0.0.0/0\"}]}"
	perms="$perms,{\"IpProtocol\":\"tcp\",\"FromPort\":443,\"ToPort\":443,\"IpRanges\":[{\"CidrIp\":\"0.0.0.0/0\"}]}"
	perms="$perms,{\"IpProtocol\":\"tcp\",\"FromPort\":7000,\"ToPort\":7000,\"IpRanges\":[{\"CidrIp\":\"0.0.0.0/0\"}]}"
	perms="$perms,{\"IpProtocol\":\"tcp\",\"FromPort\":$TCP_LO,\"ToPort\":$TCP_HI,\"IpRanges\":[{\"CidrIp\":\"0.0.0.0/0\"}]}"
	peers=""
	m=0
	for peer in $ips; do
		m=$((m + 1))
		[ $m = $n ] && continue
		peers="$peers${peers:+,}{\"CidrIp\":\"$peer/32\"}"
	done
	perms="$perms,{\"IpProtocol\":\"udp\",\"FromPort\":$WG_PORT,\"ToPort\":$WG_PORT,\"IpRanges\":[$peers]}]"
	run aws ec2 authorize-security-group-ingress --region "$r" --group-id "$sg" \
		--ip-permissions "$perms" > /dev/null
	ami=$(query "ami-debian12-$r" aws ssm get-parameter --region "$r" \
		--name /aws/service/debian/release/12/latest/amd64 \
		--query Parameter.Value --output text)
	ud="$MESH_DIR/user-data-$r.sh"
	node_setup "$MESH_SRC" "$r" "$PACKAGE_URL" | put "$ud" 0600
	id=$(query "i-$r" aws ec2 run-instances --region "$r" --image-id "$ami" \
		--instance-type "$TYPE" --security-group-ids "$sg" \
		--user-data "file://$ud" \
		--tag-specifications "$(tags instance "$r")" \
		--query 'Instances[0].InstanceId' --output text)
	run aws ec2 wait instance-running --region "$r" --instance-ids "$id"
	run aws ec2 associate-address --region "$r" --instance-id "$id" \
		--allocation-id "$(nth $n "$allocs")" > /dev/null
done
[ "$DRY_RUN" = 1 ] || "$CTL" mesh show "$MESH_DIR"

