#include "client_conf.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_toml.h"
#include "log.h"
#include "warren.h"

/* Parse state; unknown frp keys are accepted and listed in cc->ignored. */
struct client_conf_ctx {
	struct client_conf *cc;
	int failed;
	/* per tunnel: was type / local_port given */
	unsigned char *have_type;
};

static void
client_conf_fail(struct client_conf *cc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
client_conf_fail(struct client_conf *cc, const char *fmt, ...)
{
	va_list ap;

	if (cc->error[0] != '\0')
		return;         /* keep the first */
	va_start(ap, fmt);
	vsnprintf(cc->error, sizeof(cc->error), fmt, ap);
	va_end(ap);
}

static int
client_conf_port(const char *v, int lo, int *out)
{
	char *end;
	long p;

	errno = 0;
	p = strtol(v, &end, 10);
	if (errno || end == v || *end != '\0' || p < lo || p > 65535)
		return -1;
	*out = (int)p;
	return 0;
}

#define CLIENT_CONF_COUNT_MAX   (1 << 24)

static int
client_conf_count(const char *v, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end != '\0' || n < 0 || n > CLIENT_CONF_COUNT_MAX)
		return -1;
	*out = (int)n;
	return 0;
}

static int
client_conf_str(char **dst, const char *v)
{
	char *d = strdup(v);

	if (d == NULL)
		return -1;
	free(*dst);
	*dst = d;
	return 0;
}

/* "a.test, b.test" -> "a.test,b.test" (empty items dropped). */
static char *
client_conf_domains(const char *v)
{
	char *out, *o;

	if ((out = malloc(strlen(v) + 1)) == NULL)
		return NULL;
	o = out;
	for (; *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t')
			continue;
		if (*v == ',' && (o == out || o[-1] == ','))
			continue;
		*o++ = *v;
	}
	if (o > out && o[-1] == ',')
		o--;
	*o = '\0';
	return out;
}

static void
client_conf_ignore(struct client_conf *cc, const char *section,
    const char *name)
{
	size_t n = strlen(cc->ignored), wl;
	char word[300];
	const char *p;

	/* each key once: "section.name", or "name" outside any section */
	snprintf(word, sizeof(word), "%s%s%s", section, section[0] ? "." : "",
	    name);
	wl = strlen(word);
	for (p = cc->ignored; (p = strstr(p, word)) != NULL; p += wl)
		if ((p == cc->ignored || p[-1] == ' ') && (p[wl] == ' ' ||
		    p[wl] == '\0'))
			return;
	if (n + wl + 6 >= sizeof(cc->ignored)) {
		if (n + 4 < sizeof(cc->ignored) && (n < 4 ||
		    strcmp(cc->ignored + n - 4, " ...") != 0))
			snprintf(cc->ignored + n, sizeof(cc->ignored) - n, " ...");
		return;
	}
	snprintf(cc->ignored + n, sizeof(cc->ignored) - n, "%s%s",
	    n ? " " : "", word);
}

static struct client_conf_tunnel *
client_conf_tunnel(struct client_conf_ctx *x, const char *section)
{
	struct client_conf *cc = x->cc;
	struct client_conf_tunnel *t;
	unsigned char *h;

	if (cc->ntunnels > 0 &&
	    strcmp(cc->tunnels[cc->ntunnels - 1].name, section) == 0)
		return &cc->tunnels[cc->ntunnels - 1];
	for (size_t i = 0; i + 1 < cc->ntunnels; i++) {
		if (strcmp(cc->tunnels[i].name, section) == 0) {
			client_conf_fail(cc, "tunnel [%s] appears twice in the "
			    "config file; give each section its own name", section);
			return NULL;
		}
	}
	if (cc->ntunnels >= CLIENT_CONF_MAX_TUNNELS) {
		client_conf_fail(cc, "too many tunnels in the config file (at most %d)",
		    CLIENT_CONF_MAX_TUNNELS);
		return NULL;
	}
	t = realloc(cc->tunnels, (cc->ntunnels + 1) * sizeof(*t));
	if (t == NULL)
		goto nomem;
	cc->tunnels = t;
	h = realloc(x->have_type, cc->ntunnels + 1);
	if (h == NULL)
		goto nomem;
	x->have_type = h;
	h[cc->ntunnels] = 0;
	t = &cc->tunnels[cc->ntunnels];
	memset(t, 0, sizeof(*t));
	if ((t->name = strdup(section)) == NULL)
		goto nomem;
	cc->ntunnels++;
	return t;
nomem:
	client_conf_fail(cc, "out of memory reading the config file");
	return NULL;
}

static int
client_conf_common(struct client_conf *cc, const char *name, const char *value)
{
	if (strcmp(name, "server_addr") == 0)
		return client_conf_str(&cc->server_addr, value);
	if (strcmp(name, "server_port") == 0) {
		if (client_conf_port(value, 1, &cc->server_port) != 0) {
			client_conf_fail(cc, "[common] server_port '%s' is not a "
			    "port number (1-65535)", value);
			return -1;
		}
		return 0;
	}
	if (strcmp(name, "token") == 0)
		return client_conf_str(&cc->token, value);
	if (strcmp(name, "http_proxy") == 0)
		return client_conf_str(&cc->proxy, value);
	if (strcmp(name, "ha") == 0) {
		if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
			cc->ha = true;
		else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
			cc->ha = false;
		else {
			client_conf_fail(cc, "[common] ha '%s' is not true or "
			    "false", value);
			return -1;
		}
		return 0;
	}
	client_conf_ignore(cc, "common", name);
	return 0;
}

static int
client_conf_line(void *user, const char *section, const char *name,
    const char *value)
{
	struct client_conf_ctx *x = user;
	struct client_conf *cc = x->cc;
	struct client_conf_tunnel *t;
	size_t idx;
	int rc = 0;

	if (section[0] == '\0') {
		client_conf_fail(cc, "'%s' is outside any section; put it under "
		    "[common] or a tunnel's [name]", name);
		goto fail;
	}
	if (strcmp(section, "common") == 0) {
		if (client_conf_common(cc, name, value) != 0)
			goto fail;
		return 1;
	}
	if ((t = client_conf_tunnel(x, section)) == NULL)
		goto fail;
	idx = (size_t)(t - cc->tunnels);
	if (strcmp(name, "type") == 0) {
		if (strcmp(value, "http") == 0)
			t->kind = WARREN_HTTP;
		else if (strcmp(value, "tcp") == 0)
			t->kind = WARREN_TCP;
		else if (strcmp(value, "tls") == 0 || strcmp(value, "https") == 0)
			t->kind = WARREN_TLS;
		else {
			client_conf_fail(cc, "tunnel [%s]: type '%s' is not "
			    "supported; use http, tcp or tls (https)", section, value);
			goto fail;
		}
		x->have_type[idx] = 1;
	} else if (strcmp(name, "local_ip") == 0) {
		rc = client_conf_str(&t->local_ip, value);
	} else if (strcmp(name, "local_port") == 0) {
		if (client_conf_port(value, 1, &t->local_port) != 0) {
			client_conf_fail(cc, "tunnel [%s]: local_port '%s' is not "
			    "a port number (1-65535)", section, value);
			goto fail;
		}
	} else if (strcmp(name, "remote_port") == 0) {
		if (client_conf_port(value, 0, &t->remote_port) != 0) {
			client_conf_fail(cc, "tunnel [%s]: remote_port '%s' is not "
			    "a port number (0-65535)", section, value);
			goto fail;
		}
	} else if (strcmp(name, "subdomain") == 0) {
		rc = client_conf_str(&t->subdomain, value);
	} else if (strcmp(name, "http_user") == 0) {
		rc = client_conf_str(&t->http_user, value);
	} else if (strcmp(name, "http_pwd") == 0 ||
	    strcmp(name, "http_password") == 0) {
		rc = client_conf_str(&t->http_pwd, value);
	} else if (strcmp(name, "group") == 0) {
		rc = client_conf_str(&t->group, value);
	} else if (strcmp(name, "region") == 0) {
		rc = client_conf_str(&t->region, value);
	} else if (strcmp(name, "weight") == 0 || strcmp(name, "soft_limit") == 0 ||
	    strcmp(name, "hard_limit") == 0) {
		int *v = name[0] == 'w' ? &t->weight : name[0] == 's' ?
		    &t->soft_limit : &t->hard_limit;

		if (client_conf_count(value, v) != 0) {
			client_conf_fail(cc, "tunnel [%s]: %s '%s' is not a whole "
			    "number (0-%d)", section, name, value, CLIENT_CONF_COUNT_MAX);
			goto fail;
		}
	} else if (strcmp(name, "allow_ips") == 0) {
		rc = client_conf_str(&t->allow_ips, value);
	} else if (strcmp(name, "deny_ips") == 0) {
		rc = client_conf_str(&t->deny_ips, value);
	} else if (strcmp(name, "proxy_protocol_version") == 0) {
		if (strcmp(value, "v1") == 0)
			t->proxy_protocol = 1;
		else if (strcmp(value, "v2") == 0)
			t->proxy_protocol = 2;
		else if (value[0] != '\0') {
			client_conf_fail(cc, "tunnel [%s]: proxy_protocol_version "
			    "'%s' is not v1 or v2", section, value);
			goto fail;
		}
	} else if (strcmp(name, "custom_domains") == 0) {
		char *d = client_conf_domains(value);

		if (d == NULL)
			rc = -1;
		free(t->domains);
		t->domains = d;
	} else {
		client_conf_ignore(cc, section, name);
	}
	if (rc != 0) {
		client_conf_fail(cc, "out of memory reading the config file");
		goto fail;
	}
	return 1;
fail:
	x->failed = 1;
	return 0;
}

static int
client_conf_check(struct client_conf_ctx *x)
{
	struct client_conf *cc = x->cc;

	if (cc->ntunnels == 0) {
		client_conf_fail(cc, "the config file defines no tunnel; add a "
		    "section like [web] with type = http and local_port = 8000");
		return -1;
	}
	for (size_t i = 0; i < cc->ntunnels; i++) {
		struct client_conf_tunnel *t = &cc->tunnels[i];

		if (!x->have_type[i]) {
			client_conf_fail(cc, "tunnel [%s] has no type; add "
			    "type = http or type = tcp", t->name);
			return -1;
		}
		if (t->local_port == 0) {
			client_conf_fail(cc, "tunnel [%s] has no local_port; add "
			    "the port of the local service", t->name);
			return -1;
		}
		if (t->local_ip == NULL &&
		    (t->local_ip = strdup("127.0.0.1")) == NULL) {
			client_conf_fail(cc, "out of memory reading the config file");
			return -1;
		}
		if (t->kind == WARREN_TCP && (t->subdomain || t->domains)) {
			client_conf_fail(cc, "tunnel [%s]: subdomain and "
			    "custom_domains are for http tunnels; a tcp tunnel "
			    "takes remote_port", t->name);
			return -1;
		}
		if (t->kind == WARREN_HTTP && t->remote_port != 0) {
			client_conf_fail(cc, "tunnel [%s]: remote_port is for tcp "
			    "tunnels; an http tunnel takes subdomain or "
			    "custom_domains", t->name);
			return -1;
		}
	}
	return 0;
}

static int
client_conf_finish(struct client_conf_ctx *x, int rc, const char *what)
{
	struct client_conf *cc = x->cc;

	if (rc == 0 && !x->failed)
		rc = client_conf_check(x);
	else if (x->failed)
		rc = -1;
	else if (rc < 0) {
		client_conf_fail(cc, "cannot read config file %s", what);
		rc = -1;
	} else {
		client_conf_fail(cc, "config file %s: syntax error on line %d",
		    what, rc);
		rc = -1;
	}
	free(x->have_type);
	x->have_type = NULL;
	return rc;
}

/* --- TOML (frpc.toml) --------------------------------------------------- */

#define CLIENT_CONF_TOML_KEYS 64        /* keys kept per [[proxies]] element */

/* One [[proxies]] element, held until it ends: its name may come last. */
struct client_conf_toml {
	struct client_conf_ctx *x;
	int index;                      /* element held, -1 if none */
	char *name;
	size_t n;
	char *keys[CLIENT_CONF_TOML_KEYS], *vals[CLIENT_CONF_TOML_KEYS];
	bool overflow;
};

/* frpc.toml key -> the legacy INI key client_conf_line knows. */
static const char *
client_conf_toml_key(const char *k)
{
	static const char *const map[][2] = {
		{ "localIP", "local_ip" }, { "localPort", "local_port" },
		{ "remotePort", "remote_port" }, { "customDomains", "custom_domains" },
		{ "httpUser", "http_user" }, { "httpPassword", "http_pwd" },
		{ "transport.proxyProtocolVersion", "proxy_protocol_version" },
		{ "type", "type" }, { "subdomain", "subdomain" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i][0], k) == 0)
			return map[i][1];
	return NULL;
}

static void
client_conf_toml_clear(struct client_conf_toml *tc)
{
	for (size_t i = 0; i < tc->n; i++) {
		free(tc->keys[i]);
		free(tc->vals[i]);
	}
	free(tc->name);
	tc->name = NULL;
	tc->n = 0;
	tc->index = -1;
	tc->overflow = false;
}

/* Hands the held element to client_conf_line. Returns 0 or -1. */
static int
client_conf_toml_flush(struct client_conf_toml *tc)
{
	struct client_conf *cc = tc->x->cc;
	const char *ini;
	int rc = 0;

	if (tc->index < 0)
		return 0;
	if (tc->name == NULL || tc->name[0] == '\0') {
		client_conf_fail(cc, "[[proxies]] number %d has no name; add "
		    "name = \"web\"", tc->index + 1);
		rc = -1;
	} else if (tc->overflow) {
		client_conf_fail(cc, "[[proxies]] %s has more than %d keys",
		    tc->name, CLIENT_CONF_TOML_KEYS);
		rc = -1;
	} else if (tc->n == 0) {
		client_conf_fail(cc, "tunnel [%s] has no type; add type = "
		    "\"http\" or \"tcp\"", tc->name);
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < cc->ntunnels; i++) {
		if (strcmp(cc->tunnels[i].name, tc->name) == 0) {
			client_conf_fail(cc, "[[proxies]] name \"%s\" appears twice "
			    "in the config file; give each its own name", tc->name);
			rc = -1;
		}
	}
	/* a type warren has no tunnel for, or a plugin serving instead of a
	 * local service: the tunnel is left out, and named */
	for (size_t i = 0; rc == 0 && i < tc->n; i++) {
		const char *k = tc->keys[i], *v = tc->vals[i];

		if ((strcmp(k, "type") == 0 && strcmp(v, "http") != 0 &&
		    strcmp(v, "tcp") != 0 && strcmp(v, "https") != 0 &&
		    strcmp(v, "tls") != 0) || strncmp(k, "plugin.", 7) == 0) {
			char what[300];
			bool type = strcmp(k, "type") == 0;

			snprintf(what, sizeof(what), "%s%s", type ? "type=" :
			    "plugin", type ? v : "");
			client_conf_ignore(cc, tc->name, what);
			log_info("config.skipped", "tunnel=%s reason=\"%s\"",
			    tc->name, type ? "type not supported" :
			    "plugins are not supported");
			client_conf_toml_clear(tc);
			return 0;
		}
	}
	for (size_t i = 0; rc == 0 && i < tc->n; i++) {
		if ((ini = client_conf_toml_key(tc->keys[i])) == NULL) {
			/* not for warren: named, and not taken for INI keys */
			client_conf_ignore(cc, tc->name, tc->keys[i]);
			continue;
		}
		if (client_conf_line(tc->x, tc->name, ini, tc->vals[i]) == 0)
			rc = -1;
	}
	client_conf_toml_clear(tc);
	return rc;
}

/* Keeps key = value for the held element; returns 0 or -1 (ENOMEM). */
static int
client_conf_toml_hold(struct client_conf_toml *tc, const char *key,
    const char *value)
{
	if (tc->n == CLIENT_CONF_TOML_KEYS) {
		tc->overflow = true;
		return 0;
	}
	if ((tc->keys[tc->n] = strdup(key)) == NULL)
		return -1;
	if ((tc->vals[tc->n] = strdup(value)) == NULL) {
		free(tc->keys[tc->n]);
		return -1;
	}
	tc->n++;
	return 0;
}

static int
client_conf_toml_value(void *arg, const char *table, int index,
    const char *key, const struct client_toml_value *v)
{
	struct client_conf_toml *tc = arg;
	struct client_conf *cc = tc->x->cc;
	char full[2 * CLIENT_TOML_MAX_KEY + 2];

	if (index >= 0 && strcmp(table, "proxies") == 0) {
		if (index != tc->index && client_conf_toml_flush(tc) != 0)
			return -1;
		tc->index = index;
		if (strcmp(key, "name") == 0) {
			free(tc->name);
			if ((tc->name = strdup(v->text)) == NULL)
				goto nomem;
			return 0;
		}
		if (client_conf_toml_hold(tc, key, v->text) != 0)
			goto nomem;
		return 0;
	}
	if (index < 0 && tc->index >= 0 && strncmp(table, "proxies.", 8) == 0) {
		/* [proxies.plugin] and the like: part of the last element */
		snprintf(full, sizeof(full), "%s.%s", table + 8, key);
		if (client_conf_toml_hold(tc, full, v->text) != 0)
			goto nomem;
		return 0;
	}
	if (client_conf_toml_flush(tc) != 0)
		return -1;
	if (index >= 0) {
		/* [[visitors]] and the like: not for warren */
		client_conf_ignore(cc, "", table);
		return 0;
	}
	snprintf(full, sizeof(full), "%s%s%s", table, table[0] ? "." : "", key);
	if (strcmp(full, "serverAddr") == 0)
		return client_conf_common(cc, "server_addr", v->text) ? -1 : 0;
	if (strcmp(full, "serverPort") == 0)
		return client_conf_common(cc, "server_port", v->text) ? -1 : 0;
	if (strcmp(full, "auth.token") == 0)
		return client_conf_common(cc, "token", v->text) ? -1 : 0;
	if (strcmp(full, "transport.proxyURL") == 0)
		return client_conf_common(cc, "http_proxy", v->text) ? -1 : 0;
	client_conf_ignore(cc, "", full);
	return 0;
nomem:
	client_conf_fail(cc, "out of memory reading the config file");
	return -1;
}

int
client_conf_parse_toml(struct client_conf *cc, const char *text, size_t len)
{
	struct client_conf_ctx x = { cc, 0, NULL };
	struct client_conf_toml tc;
	char err[200];
	int rc;

	memset(&tc, 0, sizeof(tc));
	tc.x = &x;
	tc.index = -1;
	rc = client_toml_parse(text, len, client_conf_toml_value, &tc, err,
	    sizeof(err));
	if (rc == 0)
		rc = client_conf_toml_flush(&tc);
	else
		client_conf_toml_clear(&tc);
	if (rc != 0) {
		if (cc->error[0] == '\0')
			client_conf_fail(cc, "TOML config: %s", err);
		x.failed = 1;
	}
	return client_conf_finish(&x, 0, "(toml)");
}

static int
client_conf_load_toml(struct client_conf *cc, const char *path)
{
	FILE *f;
	char *text;
	size_t n;
	int rc;

	if ((f = fopen(path, "rb")) == NULL) {
		client_conf_fail(cc, "cannot read config file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((text = malloc(CLIENT_CONF_MAX_FILE + 1)) == NULL) {
		fclose(f);
		client_conf_fail(cc, "out of memory reading the config file");
		return -1;
	}
	n = fread(text, 1, CLIENT_CONF_MAX_FILE + 1, f);
	fclose(f);
	if (n > CLIENT_CONF_MAX_FILE) {
		free(text);
		client_conf_fail(cc, "config file %s is over %u bytes", path,
		    CLIENT_CONF_MAX_FILE);
		return -1;
	}
	text[n] = '\0';
	rc = client_conf_parse_toml(cc, text, n);
	free(text);
	if (rc != 0 && strncmp(cc->error, "TOML config: ", 13) == 0) {
		char e[sizeof(cc->error)];

		snprintf(e, sizeof(e), "config file %s: %.200s", path,
		    cc->error + 13);
		memcpy(cc->error, e, sizeof(e));
	}
	return rc;
}

int
client_conf_load(struct client_conf *cc, const char *path)
{
	struct client_conf_ctx x = { cc, 0, NULL };
	size_t n = strlen(path);
	int rc;

	if (n > 5 && strcasecmp(path + n - 5, ".toml") == 0)
		return client_conf_load_toml(cc, path);
	rc = ini_parse(path, client_conf_line, &x);
	return client_conf_finish(&x, rc, path);
}

int
client_conf_parse(struct client_conf *cc, const char *text)
{
	struct client_conf_ctx x = { cc, 0, NULL };
	int rc;

	rc = ini_parse_string(text, client_conf_line, &x);
	return client_conf_finish(&x, rc, "(text)");
}

char *
client_conf_server(const struct client_conf *cc, char *out, size_t len)
{
	const char *h = cc->server_addr && cc->server_addr[0] ?
	    cc->server_addr : "127.0.0.1";
	int port = cc->server_port ? cc->server_port : 7000;

	if (strchr(h, ':') != NULL && h[0] != '[')
		snprintf(out, len, "[%s]:%d", h, port);
	else
		snprintf(out, len, "%s:%d", h, port);
	return out;
}

void
client_conf_fini(struct client_conf *cc)
{
	for (size_t i = 0; i < cc->ntunnels; i++) {
		free(cc->tunnels[i].name);
		free(cc->tunnels[i].local_ip);
		free(cc->tunnels[i].subdomain);
		free(cc->tunnels[i].domains);
		free(cc->tunnels[i].http_user);
		if (cc->tunnels[i].http_pwd != NULL) {
			memset(cc->tunnels[i].http_pwd, 0,
			    strlen(cc->tunnels[i].http_pwd));
			free(cc->tunnels[i].http_pwd);
		}
		free(cc->tunnels[i].allow_ips);
		free(cc->tunnels[i].deny_ips);
		free(cc->tunnels[i].group);
		free(cc->tunnels[i].region);
	}
	free(cc->tunnels);
	free(cc->server_addr);
	free(cc->token);
	free(cc->proxy);
	cc->tunnels = NULL;
	cc->ntunnels = 0;
	cc->server_addr = cc->token = cc->proxy = NULL;
}
