#include "client_conf.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	size_t n = strlen(cc->ignored);

	if (n + strlen(section) + strlen(name) + 3 >= sizeof(cc->ignored))
		return;
	snprintf(cc->ignored + n, sizeof(cc->ignored) - n, "%s%s.%s",
	    n ? " " : "", section, name);
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

int
client_conf_load(struct client_conf *cc, const char *path)
{
	struct client_conf_ctx x = { cc, 0, NULL };
	int rc;

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
	}
	free(cc->tunnels);
	free(cc->server_addr);
	free(cc->token);
	cc->tunnels = NULL;
	cc->ntunnels = 0;
	cc->server_addr = cc->token = NULL;
}
