#include "nodeconf.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "epenv.h"
#include "geoip.h"
#include "log.h"
#include "regionmap.h"
#include "sock.h"
#include "tls.h"

#define O(f) offsetof(struct node_conf, f)

const struct conf_opt nodeconf_opts[] = {
	{ "data-dir", CONF_STR, O(data_dir), "./warren-data", "directory for routing.db and IPC sockets" },
	{ "name", CONF_STR, O(name), "", "node name (default: the hostname)" },
	{ "region", CONF_STR, O(region), "local", "region this node serves" },
	{ "domain", CONF_STR, O(domain), "localhost", "base domain: tunnels get <subdomain>.<domain>" },
	{ "http-listen", CONF_STR, O(http_listen), "0.0.0.0:8080", "public HTTP listener (port 0: the kernel picks)" },
	{ "tunnel-listen", CONF_STR, O(tunnel_listen), "0.0.0.0:7000", "listener for tunnel clients" },
	{ "tcp-port-range", CONF_STR, O(tcp_port_range), "20000-29999", "public ports for TCP tunnels, LO-HI" },
	{ "admin-listen", CONF_STR, O(admin_listen), "127.0.0.1:7070", "admin API (loopback only)" },
	{ "public-host", CONF_STR, O(public_url_host), "", "host name shown for TCP tunnels (default: the domain)" },
	{ "log-level", CONF_STR, O(log_level), "info", "debug, info, warn or error" },
	{ "window", CONF_SIZE, O(window), "1MiB", "flow-control window per tunnelled stream" },
	{ "head-max", CONF_SIZE, O(head_max), "16KiB", "largest HTTP request head accepted (431 above)" },
	{ "head-timeout", CONF_MS, O(head_timeout), "10s", "time allowed for an HTTP request head (408 after)" },
	{ "idle-timeout", CONF_MS, O(idle_timeout), "300s", "idle public connections are closed after this" },
	{ "drain-timeout", CONF_MS, O(drain_timeout), "10s", "on SIGTERM, in-flight streams get this long to finish" },
	{ "ping-interval", CONF_MS, O(ping_interval), "10s", "keepalive ping interval on client sessions" },
	{ "max-streams", CONF_INT, O(max_streams), "4096", "open streams per client session" },
	{ "max-conns-per-ip", CONF_INT, O(max_conns_per_ip), "512", "open public connections per client address (0: no cap)" },
	{ "proxy-protocol-from", CONF_STR, O(proxy_protocol_from), "", "load balancers (CIDR list) whose connections start with a PROXY v1/v2 header giving the client's address" },
	{ "xff-from", CONF_STR, O(xff_from), "", "HTTP load balancers (CIDR list) whose X-Forwarded-For (its last address) names the client, for the load balancing decision" },
	{ "https-listen", CONF_STR, O(https_listen), "0.0.0.0:8443", "public HTTPS (TLS terminated here, or passed through by SNI)" },
	{ "tls-cert-dir", CONF_STR, O(tls_cert_dir), "", "certificates for public HTTPS, chosen by SNI: NAME.pem (chain + key) or NAME.crt + NAME.key; SIGHUP reloads" },
	{ "tunnel-tls", CONF_BOOL, O(tunnel_tls), "true", "TLS on the tunnel listener (false: plain TCP, for development)" },
	{ "tls-cert", CONF_STR, O(tls_cert), "", "certificate chain (PEM) of the tunnel listener (default: a development CA's, made under DATA/tls)" },
	{ "tls-key", CONF_STR, O(tls_key), "", "private key (PEM) for --tls-cert" },
	{ "gossip-listen", CONF_STR, O(gossip_listen), "127.0.0.1:7946", "gossip UDP+TCP address; it is the node's mesh address (port 0: the kernel picks)" },
	{ "mesh-listen", CONF_STR, O(mesh_listen), "", "address other nodes forward public connections to (in production a WireGuard address; default: the gossip address's host, port 7001, or a port the kernel picks if that one is busy)" },
	{ "mesh-tls", CONF_BOOL, O(mesh_tls), "false", "TLS on mesh links, for networks without WireGuard (every node needs it; the cluster key still authenticates each link, bound to its TLS session)" },
	{ "join", CONF_STR, O(join), "", "cluster members to join: ADDR[,ADDR...] (host names may resolve to several)" },
	{ "cluster-key-file", CONF_STR, O(cluster_key_file), "", "file of base64 32-byte keys, one per line: the first seals, all open (required unless gossip is on loopback)" },
	{ "gossip-profile", CONF_STR, O(gossip_profile), "lan", "gossip timing: lan or wan" },
	{ "gossip-probe-interval", CONF_MS, O(gossip_probe_interval), "0", "override: failure-detector probe interval (0: the profile's)" },
	{ "gossip-probe-timeout", CONF_MS, O(gossip_probe_timeout), "0", "override: probe ack timeout (0: the profile's)" },
	{ "gossip-interval", CONF_MS, O(gossip_interval), "0", "override: gossip round interval (0: the profile's)" },
	{ "gossip-suspicion-mult", CONF_INT, O(gossip_suspicion_mult), "0", "override: suspicion timeout multiplier (0: the profile's)" },
	{ "allow-anonymous", CONF_BOOL, O(allow_anonymous), "false", "development only: accept tunnel clients without a token" },
	{ "jwt-keys", CONF_STR, O(jwt_keys), "", "PEM file of public keys (RSA, EC P-256) that sign client JWTs" },
	{ "jwks", CONF_STR, O(jwks), "", "JWKS file of public keys that sign client JWTs" },
	{ "jwt-audience", CONF_STR, O(jwt_audience), "", "a client JWT's aud must include this (\"\": not checked)" },
	{ "jwt-issuer", CONF_STR, O(jwt_issuer), "", "a client JWT's iss must be this (\"\": not checked)" },
	{ "jwt-claim", CONF_STR, O(jwt_claim), "warren_allow", "JWT claim with the host patterns a client may claim" },
	{ "reservation-grace", CONF_MS, O(reservation_grace), "24h", "a name or port stays reserved to its token this long after its client went offline" },
	{ "max-sessions-per-token", CONF_INT, O(max_sessions_per_token), "10", "live client sessions per token on this node" },
	{ "max-registrations-per-minute", CONF_INT, O(max_registrations_per_minute), "60", "tunnel registrations per token (or anonymous client) per minute" },
	{ "geoip-db", CONF_STR, O(geoip_db), "", "MaxMind DB file (GeoLite2/GeoIP2 country.iso_code or flat country_code layout) giving each client's country for load balancing" },
	{ "region-map", CONF_STR, O(region_map), "", "file mapping countries to regions, lines 'REGION = CC CC ...' (default: edgeProxy's sa, us, eu, ap)" },
	{ "binding-ttl", CONF_MS, O(binding_ttl), "600s", "a client stays bound to the backend it was given this long after its last connection" },
	{ "db-path", CONF_STR, O(db_path), "", "routing.db (default: DATA-DIR/routing.db)" },
	{ "api-listen", CONF_STR, O(api_listen), "", "edgeProxy's backend API (/api/v1/register, heartbeat, backends; /health); loopback unless --api-token is given (\"\": off)" },
	{ "api-token", CONF_STR, O(api_token), "", "bearer token the backend API asks for; required to listen off loopback" },
	{ "heartbeat-ttl", CONF_MS, O(heartbeat_ttl), "60s", "a backend registered through the API is out this long after its last heartbeat" },
	{ "dns-listen", CONF_STR, O(dns_listen), "", "internal DNS (UDP and TCP): APP.<dns-domain> answered with the backend the load balancer picks for the asker (\"\": off)" },
	{ "dns-domain", CONF_STR, O(dns_domain), "internal", "domain of the internal DNS" },
	{ "lb-listen", CONF_LIST, O(lb_listen), "", "L4 load balancer: ADDR[=APP] proxies raw TCP to APP's backends (without =APP: every backend, as edgeProxy's listener); repeatable" },
	{ "binding-gc-interval", CONF_MS, O(binding_gc_interval), "60s", "how often expired affinity bindings are swept" },
	{ "lb-connect-timeout", CONF_MS, O(lb_connect_timeout), "3s", "a dial to a backend that takes longer fails over to the next candidate" },
	{ "lb-backoff", CONF_MS, O(lb_backoff), "10s", "a backend whose dial failed is skipped by this node this long (passive health)" },
	{ "lb-tls-listen", CONF_LIST, O(lb_tls_listen), "", "L4 load balancer behind TLS ended here: ADDR[=APP] takes TLS, and the plaintext goes to APP's backends as with --lb-listen; repeatable" },
	{ "lb-tls-cert", CONF_STR, O(lb_tls_cert), "", "certificate chain (PEM) of the --lb-tls-listen listeners (default: the development CA's)" },
	{ "lb-tls-key", CONF_STR, O(lb_tls_key), "", "private key (PEM) for --lb-tls-cert (default: in the --lb-tls-cert file)" },
	CONF_END
};

static const char nodeconf_usage[] =
    "usage: warren-node [options]\n"
    "\n"
    "Runs a warren edge node: the acceptor (public and tunnel listeners), the\n"
    "router (route table, registration, admin API) and gossip (routing.db).";

/* The load-balancing options, checked here so that a bad file stops the
 * node at once with the reason rather than a process that keeps failing. */
static int
nodeconf_lb(const struct node_conf *c)
{
	struct regionmap *m;
	struct geoip *g;
	char err[512];

	if (c->binding_ttl <= 0) {
		fprintf(stderr, "warren-node: --binding-ttl must be positive\n");
		return -1;
	}
	if (c->binding_gc_interval <= 0 || c->lb_connect_timeout <= 0) {
		fprintf(stderr, "warren-node: --binding-gc-interval and "
		    "--lb-connect-timeout must be positive\n");
		return -1;
	}
	if (c->geoip_db[0] != '\0') {
		if (geoip_open(&g, c->geoip_db, err, sizeof(err)) != 0) {
			fprintf(stderr, "warren-node: --geoip-db: %s\n", err);
			return -1;
		}
		geoip_free(g);
	}
	if (c->lb_tls_key[0] != '\0' && c->lb_tls_cert[0] == '\0') {
		fprintf(stderr, "warren-node: --lb-tls-key needs --lb-tls-cert\n");
		return -1;
	}
	if (c->lb_tls_listen[0] != '\0' && c->lb_tls_cert[0] != '\0') {
		SSL_CTX *ctx = tls_server_ctx(c->lb_tls_cert, c->lb_tls_key[0] != '\0' ?
		    c->lb_tls_key : c->lb_tls_cert, NULL, 0, err, sizeof(err));

		if (ctx == NULL) {
			fprintf(stderr, "warren-node: --lb-tls-cert: %s\n", err);
			return -1;
		}
		SSL_CTX_free(ctx);
	}
	if (c->region_map[0] != '\0') {
		if ((m = malloc(sizeof(*m))) == NULL)
			return -1;
		if (regionmap_load(m, c->region_map, err, sizeof(err)) != 0) {
			fprintf(stderr, "warren-node: --region-map: %s\n", err);
			free(m);
			return -1;
		}
		free(m);
	}
	return 0;
}

/* The backend API and the DNS: addresses that parse, and an API off
 * loopback only with a token (it writes routing.db for the cluster). */
static int
nodeconf_edge(const struct node_conf *c)
{
	struct sock_addr sa;
	bool loop;

	if (c->api_listen[0] != '\0') {
		if (sock_addr_parse(&sa, c->api_listen, "127.0.0.1") != 0) {
			fprintf(stderr, "warren-node: --api-listen '%s' is not an "
			    "address:port\n", c->api_listen);
			return -1;
		}
		loop = sa.ss.ss_family == AF_INET ?
		    (ntohl(((struct sockaddr_in *)&sa.ss)->sin_addr.s_addr) >> 24) == 127 :
		    IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&sa.ss)->sin6_addr);
		if (!loop && c->api_token[0] == '\0') {
			fprintf(stderr, "warren-node: --api-listen %s is not a "
			    "loopback address and the backend API writes routing.db "
			    "for the whole cluster: give it --api-token TOKEN "
			    "(clients send 'Authorization: Bearer TOKEN') or listen on "
			    "127.0.0.1\n", c->api_listen);
			return -1;
		}
	}
	if (c->heartbeat_ttl < 1000) {
		fprintf(stderr, "warren-node: --heartbeat-ttl must be at least 1s\n");
		return -1;
	}
	if (c->dns_listen[0] != '\0' &&
	    sock_addr_parse(&sa, c->dns_listen, "127.0.0.1") != 0) {
		fprintf(stderr, "warren-node: --dns-listen '%s' is not an "
		    "address:port\n", c->dns_listen);
		return -1;
	}
	if (c->dns_domain[0] == '\0' || strlen(c->dns_domain) > 200) {
		fprintf(stderr, "warren-node: --dns-domain must be a domain name\n");
		return -1;
	}
	return 0;
}

static int
nodeconf_mkdir(const char *dir)
{
	char tmp[4096];
	size_t i, len = strlen(dir);

	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];
			tmp[i] = '\0';
			if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
				return -errno;
			tmp[i] = c;
		}
	}
	return 0;
}

int
nodeconf_load(struct node_conf *c, int argc, char **argv, const char *proc)
{
	char host[256], *abs;
	int argind, rc;

	memset(c, 0, sizeof(*c));
	/* edgeProxy's environment, as the WARREN_* names of the same options */
	if (epenv_apply_environ(nodeconf_opts, strcmp(proc, "node") == 0) < 0)
		return -1;
	if (conf_load(nodeconf_opts, c, argc, argv, nodeconf_usage, &argind) != 0)
		return -1;
	if (argind < argc) {
		fprintf(stderr, "warren-node: unexpected argument '%s' (try --help)\n",
		    argv[argind]);
		return -1;
	}
	if (log_setup(proc, c->log_level) != 0) {
		fprintf(stderr, "warren-node: unknown log level '%s'\n", c->log_level);
		return -1;
	}
	if (c->name[0] == '\0') {
		if (gethostname(host, sizeof(host)) == -1)
			snprintf(host, sizeof(host), "node");
		host[sizeof(host) - 1] = '\0';
		free(c->name);
		c->name = strdup(host);
	}
	if (sscanf(c->tcp_port_range, "%d-%d", &c->tcp_lo, &c->tcp_hi) != 2 ||
	    c->tcp_lo < 1 || c->tcp_hi > 65535 || c->tcp_lo > c->tcp_hi) {
		fprintf(stderr, "warren-node: bad --tcp-port-range '%s' (want LO-HI, e.g. 20000-29999)\n",
		    c->tcp_port_range);
		return -1;
	}
	if (c->window < 16384 || c->window > (64u << 20)) {
		fprintf(stderr, "warren-node: --window must be between 16KiB and 64MiB\n");
		return -1;
	}
	if ((rc = nodeconf_lb(c)) != 0 || nodeconf_edge(c) != 0)
		return -1;
	if (c->mesh_listen[0] == '\0') {
		/* the gossip host, port 7001 (port 0 when gossip's is 0) */
		const char *colon = strrchr(c->gossip_listen, ':');
		size_t hl = colon ? (size_t)(colon - c->gossip_listen) : 0;
		char mesh[300];

		snprintf(mesh, sizeof(mesh), "%.*s:%s", (int)(hl < 256 ? hl : 0),
		    c->gossip_listen, colon && strcmp(colon + 1, "0") == 0 ? "0" : "7001");
		free(c->mesh_listen);
		c->mesh_listen = strdup(mesh);
		c->mesh_default = true;
	}
	if ((rc = nodeconf_mkdir(c->data_dir)) != 0) {
		fprintf(stderr, "warren-node: cannot create data dir %s: %s\n",
		    c->data_dir, strerror(-rc));
		return -1;
	}
	if ((abs = realpath(c->data_dir, NULL)) != NULL) {
		free(c->data_dir);
		c->data_dir = abs;
	}
	if (c->db_path[0] == '\0') {
		free(c->db_path);
		if (asprintf(&c->db_path, "%s/routing.db", c->data_dir) == -1) {
			c->db_path = NULL;
			return -1;
		}
	}
	return 0;
}

void
nodeconf_fini(struct node_conf *c)
{
	conf_fini(nodeconf_opts, c);
}
