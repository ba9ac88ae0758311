/* nodeconf — the options of warren-node, shared by its three processes.
 *
 * warren-node parses them (defaults < --config file < WARREN_* env < flags)
 * and starts warren-acceptor, warren-router and warren-gossip with the same
 * command line, so every process sees the same configuration. */
#ifndef WARREN_NODECONF_H
#define WARREN_NODECONF_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

struct node_conf {
	char *data_dir;         /* routing.db, *.ipc, logs; created if missing */
	char *name;             /* node name (default: hostname) */
	char *region;
	char *domain;           /* base domain: <sub>.<domain> */
	char *http_listen;      /* public HTTP */
	char *tunnel_listen;    /* tunnel clients */
	char *tcp_port_range;   /* "LO-HI" */
	char *admin_listen;     /* admin API, loopback */
	char *public_url_host;  /* host shown in URLs for TCP tunnels ("" = domain) */
	char *log_level;
	size_t window;          /* mux receive window per stream */
	size_t head_max;        /* largest HTTP request head */
	long long head_timeout; /* ms to receive a request head */
	long long idle_timeout; /* ms an idle public connection is kept */
	long long drain_timeout;/* ms in-flight streams get on SIGTERM */
	long long ping_interval;/* ms between keepalive pings to clients */
	long long max_streams;  /* streams per client session */
	char *https_listen;     /* public HTTPS */
	long long max_conns_per_ip;     /* 0: no cap */
	char *proxy_protocol_from;      /* trusted load balancers, CIDR list */
	char *xff_from;                 /* L7 balancers whose X-Forwarded-For names
	                                 * the client, CIDR list */
	char *tls_cert_dir;     /* SNI certificates for public HTTPS */
	bool tunnel_tls;        /* TLS on the tunnel listener */
	char *tls_cert, *tls_key;       /* "" = the development CA's */
	char *gossip_listen;    /* UDP+TCP gossip address = the mesh address */
	char *mesh_listen;      /* forwarding links from other nodes */
	bool mesh_tls;          /* TLS on mesh links */
	char *join;             /* seeds: ADDR[,ADDR...], names allowed */
	char *cluster_key_file; /* keyring: base64 keys, one per line */
	char *gossip_profile;   /* "lan" or "wan" */
	long long gossip_probe_interval;  /* ms, 0 = the profile's */
	long long gossip_probe_timeout;   /* ms, 0 = the profile's */
	long long gossip_interval;        /* ms, 0 = the profile's */
	long long gossip_suspicion_mult;  /* 0 = the profile's */
	bool allow_anonymous;   /* development: REGISTER without a token */
	char *jwt_keys;         /* PEM public keys for JWTs, "" = none */
	char *jwks;             /* JWKS file for JWTs, "" = none */
	char *jwt_audience, *jwt_issuer;  /* "" = not checked */
	char *jwt_claim;        /* claim with the allowed host patterns */
	long long reservation_grace;      /* ms a name stays reserved offline */
	long long max_sessions_per_token; /* live sessions per token, this node */
	long long max_registrations_per_minute; /* per token (or client id) */
	char *geoip_db;         /* MaxMind DB of client countries, "" = none */
	char *region_map;       /* country -> region file, "" = edgeProxy's */
	long long binding_ttl;  /* ms a client stays bound to its backend */
	char *db_path;          /* routing.db ("" = DATA/routing.db; filled) */
	char *api_listen;       /* edgeProxy's backend API, "" = off */
	char *api_token;        /* bearer token it asks for, "" = loopback only */
	long long heartbeat_ttl;/* ms a registered backend lives unheartbeaten */
	char *dns_listen;       /* internal DNS (UDP), "" = off */
	char *dns_domain;       /* APP.<dns_domain> */
	char *lb_listen;        /* L4 load-balancing listeners, "ADDR[=APP],..." */
	long long binding_gc_interval;  /* ms between sweeps of expired bindings */
	long long lb_connect_timeout;   /* ms a dial to a backend may take */
	long long lb_backoff;   /* ms a backend whose dial failed is skipped */
	char *lb_tls_listen;    /* TLS-terminating L4 listeners, "ADDR[=APP],..." */
	char *lb_tls_cert, *lb_tls_key; /* their certificate ("" = the development
	                                 * CA's) and key ("" = in the cert file) */
	/* derived by nodeconf_load: */
	int tcp_lo, tcp_hi;
	bool mesh_default;      /* mesh_listen derived from gossip_listen */
};

extern const struct conf_opt nodeconf_opts[];

/* Loads the configuration for process `proc` ("node", "acceptor", ...);
 * creates the data dir, fills the derived fields. Returns 0 or -1 after
 * printing why. */
int nodeconf_load(struct node_conf *c, int argc, char **argv, const char *proc);
void nodeconf_fini(struct node_conf *c);

#endif
