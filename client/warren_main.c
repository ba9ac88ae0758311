/* warren — the tunnel client command.
 *
 *   warren http 8000 [--subdomain alice] [--domains a.test,b.test]
 *   warren tcp 5432 [--remote-port 20001]
 *   warren start --config frpc.ini
 *
 * stdout carries what a person or a script wants: "inspect URL" (the
 * request inspector, for HTTP tunnels), one "URL -> local" line per tunnel
 * once registered, then one line per HTTP request. Logs go to
 * stderr in logfmt. Exit status: 0 on SIGINT/SIGTERM, 1 on bad usage or a
 * fatal registration error. */
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_conf.h"
#include "client_proxy.h"
#include "conf.h"
#include "inspect_http.h"
#include "inspect_store.h"
#include "log.h"
#include "warren.h"

struct warren_cli_conf {
	char *server;
	char *token;
	char *subdomain;
	char *domains;
	long long remote_port;
	char *local_host;
	char *client_id;
	char *log_level;
	long long ping_interval;
	long long dead_timeout;
	long long welcome_timeout;
	long long local_timeout;
	long long backoff_max;
	bool tls;
	char *ca;
	bool insecure;
	char *basic_auth;
	char *allow_ip;
	char *deny_ip;
	char *proxy_protocol;
	bool inspect;
	char *inspect_listen;
	char *inspect_auth;
	long long inspect_keep;
	size_t inspect_body_max;
	size_t inspect_mem_max;
	bool log_requests;
	char *proxy;
	bool ha;
	char *group;
	char *region;
	long long weight, soft_limit, hard_limit;
};

#define O(f) offsetof(struct warren_cli_conf, f)
static const struct conf_opt warren_cli_opts[] = {
	{ "server", CONF_STR, O(server), NULL,
	    "node's tunnel listener HOST:PORT, or several separated by ',' "
	    "(a name with several addresses counts as several): on losing its "
	    "node the client moves to the next [default: 127.0.0.1:7000; "
	    "start: the file's server_addr:server_port]" },
	{ "token", CONF_STR, O(token), NULL,
	    "credential sent to the node (empty = anonymous)" },
	{ "subdomain", CONF_STR, O(subdomain), NULL,
	    "http: the subdomain to ask for (empty = the node picks one)" },
	{ "domains", CONF_STR, O(domains), NULL,
	    "http: comma-separated custom domains routed to this tunnel" },
	{ "remote-port", CONF_INT, O(remote_port), "0",
	    "tcp: the public port to ask for (0 = the node picks one)" },
	{ "local-host", CONF_STR, O(local_host), "127.0.0.1",
	    "host of the local service when only a port is given" },
	{ "client-id", CONF_STR, O(client_id), NULL,
	    "stable client id that reclaims names after a restart (empty = "
	    "random per run)" },
	{ "log-level", CONF_STR, O(log_level), "info",
	    "debug, info, warn or error" },
	{ "ping-interval", CONF_MS, O(ping_interval), "10s",
	    "keepalive PING period" },
	{ "dead-timeout", CONF_MS, O(dead_timeout), "30s",
	    "silence from the node after which the session is dropped" },
	{ "welcome-timeout", CONF_MS, O(welcome_timeout), "10s",
	    "time from connecting to the node's WELCOME before trying again" },
	{ "local-timeout", CONF_MS, O(local_timeout), "10s",
	    "time to connect to the local service (then the public client gets 502)" },
	{ "backoff-max", CONF_MS, O(backoff_max), "30s",
	    "longest wait between reconnect attempts" },
	{ "basic-auth", CONF_STR, O(basic_auth), NULL,
	    "http: the node asks public clients for USER:PASSWORD (HTTP basic auth)" },
	{ "allow-ip", CONF_STR, O(allow_ip), NULL,
	    "only these public addresses may use the tunnel (CIDR list)" },
	{ "deny-ip", CONF_STR, O(deny_ip), NULL,
	    "these public addresses may not use the tunnel (CIDR list)" },
	{ "proxy-protocol", CONF_STR, O(proxy_protocol), NULL,
	    "v1 or v2: send the local service a PROXY header with the public client's address" },
	{ "inspect", CONF_BOOL, O(inspect), "true",
	    "http: serve the request inspector (a live page and JSON API of the "
	    "requests, with replay); false: nothing but the log line watches them" },
	{ "inspect-listen", CONF_STR, O(inspect_listen), "127.0.0.1:4040",
	    "address of the inspector (the next free port if taken)" },
	{ "inspect-auth", CONF_STR, O(inspect_auth), NULL,
	    "USER:PASS the inspector asks for (required off loopback)" },
	{ "inspect-keep", CONF_INT, O(inspect_keep), "500",
	    "requests the inspector keeps (the oldest go first)" },
	{ "inspect-body-max", CONF_SIZE, O(inspect_body_max), "1MiB",
	    "bytes of each body the inspector keeps (the stream itself is untouched)" },
	{ "inspect-mem-max", CONF_SIZE, O(inspect_mem_max), "256MiB",
	    "memory the inspector may hold in all; the oldest requests go first" },
	{ "log-requests", CONF_BOOL, O(log_requests), "true",
	    "print one line per HTTP request (false with --inspect=false: the "
	    "bytes are not parsed at all)" },
	{ "group", CONF_STR, O(group), NULL,
	    "http/tls: serve the name together with the other clients of this "
	    "group that use the same token (replicas, balanced by region, "
	    "weight and limits)" },
	{ "region", CONF_STR, O(region), NULL,
	    "--group: the region this replica serves from (default: its node's)" },
	{ "weight", CONF_INT, O(weight), "1",
	    "--group: this replica's share at equal load (higher takes more)" },
	{ "soft-limit", CONF_INT, O(soft_limit), "0",
	    "--group: connections per node at which this replica counts as "
	    "fully loaded (0 = 1)" },
	{ "hard-limit", CONF_INT, O(hard_limit), "0",
	    "--group: connections per node this replica never exceeds (0 = no "
	    "limit)" },
	{ "ha", CONF_BOOL, O(ha), "false",
	    "hold sessions to two different nodes of --server at once and "
	    "register every tunnel on both: losing one node loses no new "
	    "request" },
	{ "proxy", CONF_STR, O(proxy), NULL,
	    "reach the node through http://[USER:PASS@]HOST:PORT (HTTP CONNECT) "
	    "or socks5://...; default: $HTTPS_PROXY or $ALL_PROXY (either case), "
	    "unless $NO_PROXY names the node; --proxy= (empty) for none" },
	{ "tls", CONF_BOOL, O(tls), "true",
	    "TLS to the node (--tls=false only for a node run with --tunnel-tls=false)" },
	{ "ca", CONF_STR, O(ca), NULL,
	    "CA certificate(s) that sign the node's certificate (default: the system's)" },
	{ "insecure", CONF_BOOL, O(insecure), "false",
	    "do not verify the node's certificate (development only: anyone on the path can read and change the tunnel)" },
	CONF_END
};
#undef O

static const char warren_cli_usage[] =
    "usage: warren http PORT|HOST:PORT [--subdomain NAME] [--domains LIST] [options]\n"
    "       warren tcp PORT|HOST:PORT [--remote-port N] [options]\n"
    "       warren tls PORT|HOST:PORT [--subdomain NAME] [options]   (TLS passthrough)\n"
    "       warren start --config FILE [options]\n"
    "\n"
    "Exposes a local service through a warren node. Prints the public URL,\n"
    "then one line per HTTP request, on stdout; logs go to stderr. HTTP\n"
    "tunnels also get the request inspector, a live page with replay (its\n"
    "URL is the \"inspect\" line; --inspect=false turns it off).\n"
    "start runs the tunnels of an frp client config: frpc.toml (serverAddr,\n"
    "serverPort, auth.token, transport.proxyURL, [[proxies]] with name, type,\n"
    "localIP, localPort, subdomain, customDomains, remotePort, ...) or the\n"
    "legacy INI ([common] server_addr, server_port, token; one [name] section\n"
    "per tunnel with type = http|tcp, local_ip, local_port, subdomain,\n"
    "custom_domains, remote_port).";

struct warren_cli {
	struct ev_loop *loop;
	struct warren_client *client;
	struct warren_client *twin;     /* --ha: the session to a second node */
	struct inspect_store *store;    /* NULL with --inspect=false */
	struct inspect_http *inspector;
	bool multi;                     /* prefix lines with [name] */
	int exit_code;
};

static void
warren_cli_ready(struct warren_client *c, const struct warren_ready *r,
    void *data)
{
	struct warren_cli *cli = data;

	if (!r->first && !r->changed)
		return;
	if (c == cli->twin)
		return;         /* the same URL, logged as tunnel.ready */
	if (cli->multi)
		printf("[%s] ", r->name);
	if (r->kind == WARREN_HTTP)
		printf("%s -> http://%s\n", r->url, r->local);
	else
		printf("%s -> %s\n", r->url, r->local);
	fflush(stdout);
}

static void
warren_cli_request(struct warren_client *c, const struct warren_request *r,
    void *data)
{
	struct warren_cli *cli = data;

	if (cli->multi)
		printf("[%s] ", r->name);
	printf("%s %s %d %llums %lluB\n", r->method, r->path, r->status,
	    (unsigned long long)((r->duration_us + 500) / 1000),
	    (unsigned long long)r->bytes);
	fflush(stdout);
}

static void
warren_cli_error(struct warren_client *c, const struct warren_error *e,
    void *data)
{
	struct warren_cli *cli = data;

	if (!e->fatal)
		return;         /* logged by the library; it retries */
	if (e->name != NULL)
		fprintf(stderr, "warren: tunnel %s: %s\n", e->name, e->message);
	else
		fprintf(stderr, "warren: %s\n", e->message);
	cli->exit_code = 1;
	ev_break(cli->loop, EVBREAK_ALL);
}

static void
warren_cli_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct warren_cli *cli = w->data;

	log_info("client.stop", "signal=%d", w->signum);
	cli->exit_code = 0;
	ev_break(loop, EVBREAK_ALL);
}

static const struct conf_opt *
warren_cli_opt(const char *arg)
{
	size_t n = strcspn(arg, "=");

	for (const struct conf_opt *o = warren_cli_opts; o->name != NULL; o++)
		if (strlen(o->name) == n && strncmp(o->name, arg, n) == 0)
			return o;
	return NULL;
}

/* Index of the subcommand in argv (the first positional), or 0. */
static int
warren_cli_command(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct conf_opt *o;

		if (strcmp(a, "--") == 0)
			return i + 1 < argc ? i + 1 : 0;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (a[1] != '-' || strchr(a, '=') != NULL)
			continue;
		if (strcmp(a + 2, "config") == 0) {
			i++;
			continue;
		}
		if ((o = warren_cli_opt(a + 2)) != NULL && (o->type != CONF_BOOL ||
		    (i + 1 < argc && conf_bool_word(argv[i + 1]))))
			i++;
	}
	return 0;
}

/* Takes "--config FILE" / "--config=FILE" out of argv (conf.h would read
 * the file as its own format); returns the file or NULL. */
static const char *
warren_cli_take_config(int *argc, char **argv)
{
	const char *file = NULL;
	int i, j;

	for (i = 1, j = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[j++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--config") == 0 && i + 1 < *argc) {
			file = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--config=", 9) == 0) {
			file = argv[i] + 9;
			continue;
		}
		argv[j++] = argv[i];
	}
	*argc = j;
	argv[j] = NULL;
	return file;
}

/* The proxy to reach `server` through: --proxy (WARREN_PROXY) if given,
 * even empty; else the environment frp, ngrok and curl read: HTTPS_PROXY,
 * https_proxy, ALL_PROXY, all_proxy, unless NO_PROXY / no_proxy names the
 * node's host. NULL: none. */
static const char *
warren_cli_proxy(const struct warren_cli_conf *cfg, const char *server)
{
	static const char *const vars[] = { "HTTPS_PROXY", "https_proxy",
	    "ALL_PROXY", "all_proxy", NULL };
	const char *p = NULL, *np, *colon;
	char host[300];

	if (cfg->proxy != NULL)
		return cfg->proxy[0] != '\0' ? cfg->proxy : NULL;
	for (int i = 0; vars[i] != NULL && p == NULL; i++)
		if ((p = getenv(vars[i])) != NULL && p[0] == '\0')
			p = NULL;
	if (p == NULL)
		return NULL;
	colon = strrchr(server, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon ? colon - server :
	    (long)strlen(server)), server);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	if ((np = getenv("NO_PROXY")) == NULL)
		np = getenv("no_proxy");
	if (client_proxy_bypass(np, host)) {
		log_info("proxy.bypass", "server=%s no_proxy=\"%s\"", server, np);
		return NULL;
	}
	return p;
}

/* Starts the request inspector; prints its URL. Returns 0 or -1 (said). */
static int
warren_cli_inspector(struct warren_cli *cli, const struct warren_cli_conf *cfg)
{
	struct inspect_http_conf ic = { cfg->inspect_listen, cfg->inspect_auth,
	    NULL };
	char err[300];
	int rc;

	if (cfg->inspect_keep < 1 || cfg->inspect_keep > 100000) {
		fprintf(stderr, "warren: --inspect-keep takes 1 to 100000 "
		    "requests\n");
		return -1;
	}
	if (cfg->inspect_body_max < 1 || cfg->inspect_body_max > (1u << 30)) {
		fprintf(stderr, "warren: --inspect-body-max takes 1 byte to "
		    "1GiB\n");
		return -1;
	}
	cli->store = inspect_store_new((size_t)cfg->inspect_keep,
	    cfg->inspect_body_max, cfg->inspect_mem_max, NULL, NULL);
	if (cli->store == NULL) {
		fprintf(stderr, "warren: inspector: %s\n", strerror(ENOMEM));
		return -1;
	}
	ic.store = cli->store;
	rc = inspect_http_new(&cli->inspector, cli->loop, &ic, err, sizeof(err));
	if (rc == -EADDRINUSE) {
		/* every port near the one asked for is taken: any port will do */
		char any[300];
		const char *colon = strrchr(ic.listen, ':');

		snprintf(any, sizeof(any), "%.*s:0",
		    (int)(colon ? colon - ic.listen : 0), ic.listen);
		log_warn("inspect.port_busy", "listen=%s msg=\"%s\"", ic.listen,
		    err);
		ic.listen = any;
		rc = inspect_http_new(&cli->inspector, cli->loop, &ic, err,
		    sizeof(err));
	}
	if (rc != 0) {
		fprintf(stderr, "warren: inspector: %s\n", err);
		return -1;
	}
	inspect_store_set_changed(cli->store, inspect_http_notify,
	    cli->inspector);
	printf("inspect %s\n", inspect_http_url(cli->inspector));
	fflush(stdout);
	log_info("inspect.listen", "url=%s keep=%lld body_max=%zu",
	    inspect_http_url(cli->inspector), cfg->inspect_keep,
	    cfg->inspect_body_max);
	return 0;
}

static int
warren_cli_port_arg(const char *arg, const char *host, char *out, size_t len)
{
	char *end;
	long p;

	if (strchr(arg, ':') != NULL) {
		snprintf(out, len, "%s", arg);
		return 0;
	}
	p = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || p < 1 || p > 65535)
		return -1;
	if (strchr(host, ':') != NULL && host[0] != '[')
		snprintf(out, len, "[%s]:%ld", host, p);
	else
		snprintf(out, len, "%s:%ld", host, p);
	return 0;
}

static int
warren_cli_add_file(struct warren_client *c, const struct client_conf *cc)
{
	char local[300];
	int rc;

	for (size_t i = 0; i < cc->ntunnels; i++) {
		const struct client_conf_tunnel *ct = &cc->tunnels[i];
		struct warren_tunnel_conf tc = { ct->name, ct->kind, local,
		    ct->subdomain, ct->domains, ct->remote_port, NULL,
		    ct->allow_ips, ct->deny_ips, ct->proxy_protocol, ct->group,
		    ct->region, (unsigned)ct->weight, (unsigned)ct->soft_limit,
		    (unsigned)ct->hard_limit };
		char basic[600];

		if (ct->http_user != NULL || ct->http_pwd != NULL) {
			snprintf(basic, sizeof(basic), "%s:%s",
			    ct->http_user ? ct->http_user : "",
			    ct->http_pwd ? ct->http_pwd : "");
			tc.basic_auth = basic;
		}

		if (strchr(ct->local_ip, ':') != NULL && ct->local_ip[0] != '[')
			snprintf(local, sizeof(local), "[%s]:%d", ct->local_ip,
			    ct->local_port);
		else
			snprintf(local, sizeof(local), "%s:%d", ct->local_ip,
			    ct->local_port);
		if ((rc = warren_client_add(c, &tc)) < 0) {
			fprintf(stderr, "warren: tunnel [%s]: %s\n", ct->name,
			    rc == -EINVAL ? "bad local_ip or port (local_ip "
			    "must be a numeric address or localhost)" :
			    strerror(-rc));
			return -1;
		}
	}
	return 0;
}

/* The tunnels of the config file (cc), or the one of the command line. */
static int
warren_cli_add(struct warren_client *c, const struct warren_cli_conf *cfg,
    const struct client_conf *cc, const char *cmd, const char *local)
{
	struct warren_tunnel_conf tc = { NULL,
	    strcmp(cmd, "tls") == 0 ? WARREN_TLS :
	    strcmp(cmd, "http") == 0 ? WARREN_HTTP : WARREN_TCP,
	    local, cfg->subdomain, cfg->domains, (int)cfg->remote_port,
	    cfg->basic_auth, cfg->allow_ip, cfg->deny_ip, 0, cfg->group,
	    cfg->region, (unsigned)cfg->weight, (unsigned)cfg->soft_limit,
	    (unsigned)cfg->hard_limit };

	if (cc != NULL)
		return warren_cli_add_file(c, cc);
	if (cfg->proxy_protocol != NULL && cfg->proxy_protocol[0] != '\0') {
		if (strcmp(cfg->proxy_protocol, "v1") == 0)
			tc.proxy_protocol = 1;
		else if (strcmp(cfg->proxy_protocol, "v2") == 0)
			tc.proxy_protocol = 2;
		else {
			fprintf(stderr, "warren: --proxy-protocol takes v1 or v2\n");
			return -1;
		}
	}
	if (warren_client_add(c, &tc) < 0) {
		fprintf(stderr, "warren: bad local address '%s' (the host "
		    "must be numeric or localhost)\n", local);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct warren_cli_conf cfg;
	struct client_conf cc;
	struct warren_options o;
	struct warren_cli cli;
	ev_signal sigint, sigterm;
	const char *cmd, *file = NULL;
	char server[300], local[300];
	int ind = 0, ci;
	bool start;

	memset(&cfg, 0, sizeof(cfg));
	memset(&cc, 0, sizeof(cc));
	memset(&cli, 0, sizeof(cli));
	signal(SIGPIPE, SIG_IGN);

	ci = warren_cli_command(argc, argv);
	start = ci > 0 && strcmp(argv[ci], "start") == 0;
	if (start) {
		bool help = false;

		for (int i = 1; i < argc; i++)
			if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
				help = true;
		file = warren_cli_take_config(&argc, argv);
		if (file == NULL && ci + 1 < argc && argv[ci + 1][0] != '-')
			file = argv[ci + 1];
		if (file == NULL)
			file = getenv("WARREN_CONFIG");
		if (!help) {
			if (file == NULL || file[0] == '\0') {
				fprintf(stderr, "warren: start needs a config "
				    "file: warren start --config FILE\n");
				return 1;
			}
			if (client_conf_load(&cc, file) != 0) {
				fprintf(stderr, "warren: %s\n", cc.error);
				client_conf_fini(&cc);
				return 1;
			}
			/* file < env < flags: conf_load overrides these */
			client_conf_server(&cc, server, sizeof(server));
			cfg.server = strdup(server);
			if (cc.token != NULL)
				cfg.token = strdup(cc.token);
			if (cc.proxy != NULL)
				cfg.proxy = strdup(cc.proxy);
		}
		unsetenv("WARREN_CONFIG");
	}
	if (conf_load(warren_cli_opts, &cfg, argc, argv, warren_cli_usage,
	    &ind) != 0)
		goto usage_fail;
	if (log_setup("warren", cfg.log_level) != 0) {
		fprintf(stderr, "warren: bad log level '%s' (use debug, info, "
		    "warn or error)\n", cfg.log_level);
		goto usage_fail;
	}
	if (ind >= argc) {
		fprintf(stderr, "%s\n", warren_cli_usage);
		goto usage_fail;
	}
	cmd = argv[ind];
	if (start) {
		if (cc.ignored[0] != '\0')
			log_info("config.ignored", "file=%s keys=\"%s\"", file,
			    cc.ignored);
	} else if (strcmp(cmd, "http") == 0 || strcmp(cmd, "tcp") == 0 ||
	    strcmp(cmd, "tls") == 0) {
		if (ind + 1 >= argc || ind + 2 < argc) {
			fprintf(stderr, "warren: %s takes one argument, the local "
			    "port (or HOST:PORT): warren %s 8000\n", cmd, cmd);
			goto usage_fail;
		}
		if (warren_cli_port_arg(argv[ind + 1], cfg.local_host, local,
		    sizeof(local)) != 0) {
			fprintf(stderr, "warren: '%s' is not a port (1-65535) or "
			    "HOST:PORT\n", argv[ind + 1]);
			goto usage_fail;
		}
		if (strcmp(cmd, "tcp") != 0 && cfg.remote_port != 0) {
			fprintf(stderr, "warren: --remote-port is for tcp tunnels; "
			    "an %s tunnel takes --subdomain or --domains\n", cmd);
			goto usage_fail;
		}
		if (strcmp(cmd, "tcp") == 0 && ((cfg.subdomain && cfg.subdomain[0]) ||
		    (cfg.domains && cfg.domains[0]))) {
			fprintf(stderr, "warren: --subdomain and --domains are "
			    "for http tunnels; a tcp tunnel takes --remote-port\n");
			goto usage_fail;
		}
		if (cfg.remote_port < 0 || cfg.remote_port > 65535) {
			fprintf(stderr, "warren: --remote-port %lld is not a port "
			    "(0-65535)\n", cfg.remote_port);
			goto usage_fail;
		}
	} else {
		fprintf(stderr, "warren: unknown command '%s' (use http, tcp or "
		    "start; see --help)\n", cmd);
		goto usage_fail;
	}

	cli.loop = EV_DEFAULT;
	cli.multi = start;
	if (!start && strcmp(cmd, "http") != 0)
		cfg.inspect = false;    /* only HTTP is inspected */
	if (start) {
		bool http = false;

		for (size_t i = 0; i < cc.ntunnels; i++)
			http = http || cc.tunnels[i].kind == WARREN_HTTP;
		cfg.inspect = cfg.inspect && http;
	}
	warren_options_default(&o);
	o.server = cfg.server ? cfg.server : "127.0.0.1:7000";
	o.token = cfg.token;
	o.client_id = cfg.client_id;
	o.ping_interval_ms = (uint32_t)cfg.ping_interval;
	o.dead_timeout_ms = (uint32_t)cfg.dead_timeout;
	o.welcome_timeout_ms = (uint32_t)cfg.welcome_timeout;
	o.local_connect_timeout_ms = (uint32_t)cfg.local_timeout;
	o.backoff_max_ms = (uint32_t)cfg.backoff_max;
	o.tls = cfg.tls;
	o.ca_file = cfg.ca;
	o.proxy = warren_cli_proxy(&cfg, o.server);
	o.insecure = cfg.insecure;
	if (cfg.tls && cfg.insecure)
		fprintf(stderr, "warren: WARNING: --insecure: the node's certificate "
		    "is NOT verified; anyone between you and the node can read and "
		    "change this tunnel. Use --ca FILE instead.\n");
	if (!cfg.tls)
		fprintf(stderr, "warren: WARNING: --tls=false: the tunnel to the node "
		    "is plain TCP, readable by anyone on the path.\n");
	if (cfg.inspect && warren_cli_inspector(&cli, &cfg) != 0)
		goto usage_fail;
	if (cli.store != NULL) {
		o.tap = &inspect_store_tap;
		o.tap_data = cli.store;
	}
	o.on_ready = warren_cli_ready;
	o.on_request = cfg.log_requests ? warren_cli_request : NULL;
	o.on_error = warren_cli_error;
	o.data = &cli;
	if ((cli.client = warren_client_new(cli.loop, &o)) == NULL) {
		if (errno == EINVAL)
			fprintf(stderr, "warren: bad --server '%s' (want HOST:PORT), "
			    "--ca file, --proxy '%s' (want http:// or socks5://"
			    "[USER:PASS@]HOST:PORT), or --client-id (at most 128 "
			    "characters)\n", o.server, o.proxy ? o.proxy : "");
		else
			fprintf(stderr, "warren: %s\n", strerror(errno));
		goto usage_fail;
	}
	if (cfg.ha || (start && cc.ha)) {
		/* the twin is the same client (same id) on another node */
		o.client_id = warren_client_id(cli.client);
		if ((cli.twin = warren_client_new(cli.loop, &o)) == NULL) {
			fprintf(stderr, "warren: %s\n", strerror(errno));
			goto fail;
		}
		warren_client_pair(cli.client, cli.twin);
	}
	if (warren_cli_add(cli.client, &cfg, start ? &cc : NULL, cmd, local) != 0 ||
	    (cli.twin != NULL && warren_cli_add(cli.twin, &cfg, start ? &cc : NULL,
	    cmd, local) != 0))
		goto fail;

	ev_signal_init(&sigint, warren_cli_signal, SIGINT);
	ev_signal_init(&sigterm, warren_cli_signal, SIGTERM);
	sigint.data = sigterm.data = &cli;
	ev_signal_start(cli.loop, &sigint);
	ev_signal_start(cli.loop, &sigterm);
	log_info("client.start", "server=%s client_id=%s tunnels=%zu ha=%s",
	    o.server, warren_client_id(cli.client), start ? cc.ntunnels : 1,
	    cli.twin != NULL ? "true" : "false");
	warren_client_start(cli.client);
	if (cli.twin != NULL)
		warren_client_start(cli.twin);
	ev_run(cli.loop, 0);

	warren_client_free(cli.twin);
	warren_client_free(cli.client);
	inspect_http_free(cli.inspector);
	inspect_store_free(cli.store);
	client_conf_fini(&cc);
	conf_fini(warren_cli_opts, &cfg);
	return cli.exit_code;
fail:
	warren_client_free(cli.twin);
	warren_client_free(cli.client);
usage_fail:
	inspect_http_free(cli.inspector);
	inspect_store_free(cli.store);
	client_conf_fini(&cc);
	conf_fini(warren_cli_opts, &cfg);
	return 1;
}
