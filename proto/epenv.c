#include "epenv.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum epenv_kind {
	EPENV_STR,              /* the value as it is */
	EPENV_SECS,             /* a number of seconds -> "Ns" */
	EPENV_ADDR_IF,          /* an address, used when `gate` is true; with the
	                         * gate true and no address, `def` */
	EPENV_FLAG,             /* set at all -> `def` */
	EPENV_NONE,             /* accepted, no option needed (see epenv.h) */
};

struct epenv_map {
	const char *var;        /* EDGEPROXY_... */
	const char *opt;        /* warren-node option */
	enum epenv_kind kind;
	const char *gate;       /* EPENV_ADDR_IF: the *_ENABLED variable */
	const char *def;
};

static const struct epenv_map epenv_maps[] = {
	{ "EDGEPROXY_LISTEN_ADDR", "lb-listen", EPENV_STR, NULL, NULL },
	{ "EDGEPROXY_DB_PATH", "db-path", EPENV_STR, NULL, NULL },
	{ "EDGEPROXY_REGION", "region", EPENV_STR, NULL, NULL },
	{ "EDGEPROXY_DB_RELOAD_SECS", NULL, EPENV_NONE, NULL, NULL },
	{ "EDGEPROXY_GEOIP_PATH", "geoip-db", EPENV_STR, NULL, NULL },
	{ "EDGEPROXY_BINDING_TTL_SECS", "binding-ttl", EPENV_SECS, NULL, NULL },
	{ "EDGEPROXY_BINDING_GC_INTERVAL_SECS", "binding-gc-interval", EPENV_SECS,
	    NULL, NULL },
	/* edgeProxy's TLS listener defaults to 0.0.0.0:8443 */
	{ "EDGEPROXY_TLS_LISTEN_ADDR", "lb-tls-listen", EPENV_ADDR_IF,
	    "EDGEPROXY_TLS_ENABLED", "0.0.0.0:8443" },
	{ "EDGEPROXY_TLS_CERT", "lb-tls-cert", EPENV_STR, NULL, NULL },
	{ "EDGEPROXY_TLS_KEY", "lb-tls-key", EPENV_STR, NULL, NULL },
	/* edgeProxy's API listens on 0.0.0.0:8081; here it has no token by
	 * default, so it stays on loopback unless an address is given */
	{ "EDGEPROXY_API_LISTEN_ADDR", "api-listen", EPENV_ADDR_IF,
	    "EDGEPROXY_API_ENABLED", "127.0.0.1:8081" },
	{ "EDGEPROXY_HEARTBEAT_TTL_SECS", "heartbeat-ttl", EPENV_SECS, NULL, NULL },
	{ "EDGEPROXY_REPLICATION_NODE_ID", "name", EPENV_STR, NULL, NULL },
	{ "EDGEPROXY_REPLICATION_GOSSIP_ADDR", "gossip-listen", EPENV_STR, NULL,
	    NULL },
	{ "EDGEPROXY_REPLICATION_BOOTSTRAP_PEERS", "join", EPENV_STR, NULL, NULL },
	{ "EDGEPROXY_DNS_LISTEN_ADDR", "dns-listen", EPENV_ADDR_IF,
	    "EDGEPROXY_DNS_ENABLED", "0.0.0.0:5353" },
	{ "EDGEPROXY_DNS_DOMAIN", "dns-domain", EPENV_STR, NULL, NULL },
	{ "DEBUG", "log-level", EPENV_FLAG, NULL, "debug" },
};

/* edgeProxy's booleans: "1" or "true" (any case); anything else is false */
static bool
epenv_true(const char *v)
{
	return v != NULL && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

static bool
epenv_has_opt(const struct conf_opt *opts, const char *name)
{
	for (; opts->name != NULL; opts++)
		if (strcmp(opts->name, name) == 0)
			return true;
	return false;
}

static void
epenv_warren_name(const char *opt, char *out, size_t len)
{
	size_t i, j = (size_t)snprintf(out, len, "WARREN_");

	for (i = 0; opt[i] != '\0' && j + 1 < len; i++)
		out[j++] = opt[i] == '-' ? '_' : (char)toupper((unsigned char)opt[i]);
	out[j] = '\0';
}

int
epenv_apply(const struct conf_opt *opts, epenv_get_fn *get, epenv_set_fn *set,
    void *arg, bool warn)
{
	const struct epenv_map *m;
	char wname[96], val[64];
	const char *v, *out;
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof(epenv_maps) / sizeof(epenv_maps[0]); i++) {
		m = &epenv_maps[i];
		v = get(arg, m->var);
		out = v;
		switch (m->kind) {
		case EPENV_NONE:
			continue;
		case EPENV_ADDR_IF:
			if (!epenv_true(get(arg, m->gate)))
				continue;
			out = v != NULL && v[0] != '\0' ? v : m->def;
			break;
		case EPENV_FLAG:
			if (v == NULL)
				continue;
			out = m->def;
			break;
		case EPENV_SECS: {
			char *end;
			long long s;

			if (v == NULL)
				continue;
			errno = 0;
			s = strtoll(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || s < 0) {
				fprintf(stderr, "warren: %s='%s' is not a number of "
				    "seconds\n", m->var, v);
				return -1;
			}
			snprintf(val, sizeof(val), "%llds", s);
			out = val;
			break;
		}
		case EPENV_STR:
			if (v == NULL)
				continue;
			break;
		}
		if (!epenv_has_opt(opts, m->opt)) {
			if (warn)
				fprintf(stderr, "warren: %s is set but this build has no "
				    "--%s option to honour it; ignored\n", m->var,
				    m->opt);
			continue;
		}
		epenv_warren_name(m->opt, wname, sizeof(wname));
		if (get(arg, wname) != NULL)
			continue;       /* the warren name wins */
		if (set(arg, wname, out) != 0)
			return -1;
		n++;
	}
	return n;
}

static const char *
epenv_getenv(void *arg, const char *name)
{
	return getenv(name);
}

static int
epenv_setenv(void *arg, const char *name, const char *value)
{
	return setenv(name, value, 0) == 0 ? 0 : -1;
}

int
epenv_apply_environ(const struct conf_opt *opts, bool warn)
{
	return epenv_apply(opts, epenv_getenv, epenv_setenv, NULL, warn);
}
