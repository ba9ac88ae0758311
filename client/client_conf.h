/* client_conf — the `warren start` config file: frp's client formats,
 * the current TOML (frpc.toml, read when the name ends in .toml; see
 * client_toml.h) and the legacy INI below. In TOML the same settings are
 * serverAddr, serverPort, auth.token, transport.proxyURL and one
 * [[proxies]] table per tunnel with name, type, localIP, localPort,
 * subdomain, customDomains (an array), remotePort, httpUser, httpPassword
 * and transport.proxyProtocolVersion; every other key is named in
 * `ignored`, once.
 *
 * The INI form:
 *
 *   [common]
 *   server_addr = 127.0.0.1
 *   server_port = 7000
 *   token =
 *   [web]
 *   type = http
 *   local_ip = 127.0.0.1
 *   local_port = 8000
 *   subdomain = alice
 *   custom_domains = app.example.test, www.example.test
 *   [db]
 *   type = tcp
 *   local_port = 5432
 *   remote_port = 20010
 *
 * Every other section is a tunnel named after it, in file order. Keys frp
 * knows that warren does not use are ignored (and listed in `ignored`); an
 * unknown type, a missing or bad port, or a duplicate name is an error. */
#ifndef WARREN_CLIENT_CONF_H
#define WARREN_CLIENT_CONF_H

#include <stdbool.h>
#include <stddef.h>

#define CLIENT_CONF_MAX_TUNNELS 256
#define CLIENT_CONF_MAX_FILE    (1u << 20)     /* a TOML file read whole */

struct client_conf_tunnel {
	char *name;             /* section name */
	int kind;               /* enum warren_kind */
	char *local_ip;         /* default "127.0.0.1" */
	int local_port;         /* 1..65535 */
	char *subdomain;        /* http; NULL if unset */
	char *domains;          /* http: custom_domains without spaces; NULL */
	int remote_port;        /* tcp: 0..65535, 0 = any */
	char *http_user;        /* http: basic auth (frp's http_user/http_pwd) */
	char *http_pwd;
	char *allow_ips;        /* CIDR lists; NULL if unset */
	char *deny_ips;
	int proxy_protocol;     /* proxy_protocol_version = v1|v2: 1, 2; 0 */
	char *group;            /* replicas (frp's group); NULL if unset */
	char *region;           /* the replica's region; NULL if unset */
	int weight, soft_limit, hard_limit;     /* 0 if unset */
};

struct client_conf {
	char *server_addr;      /* [common]; NULL if unset */
	int server_port;        /* [common]; 0 if unset */
	char *token;            /* [common]; NULL if unset */
	char *proxy;            /* [common] http_proxy (TOML: transport.proxyURL) */
	bool ha;                /* [common] ha: sessions to two nodes (--ha) */
	struct client_conf_tunnel *tunnels;
	size_t ntunnels;
	char ignored[2048];     /* "section.key ..." the client skipped;
	                           "..." at the end if more */
	char error[256];        /* sentence when a load fails */
};

/* Parses the file at `path` (client_conf_parse for text). Returns 0, or -1
 * with cc->error set; cc must be zeroed first and is freed with
 * client_conf_fini either way. */
int client_conf_load(struct client_conf *cc, const char *path);
int client_conf_parse(struct client_conf *cc, const char *text);
/* Same for TOML text (client_conf_load picks it for a name in .toml). */
int client_conf_parse_toml(struct client_conf *cc, const char *text, size_t len);
/* "host:port" of [common] into out (>= 300 bytes), defaults 127.0.0.1 and
 * 7000 for the parts not set; returns out. */
char *client_conf_server(const struct client_conf *cc, char *out, size_t len);
void client_conf_fini(struct client_conf *cc);

#endif
