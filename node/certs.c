#include "certs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tls.h"

#define CERTS_MAX       4096            /* names indexed */
#define CERTS_ISSUED_MAX 1024           /* names issued by the development CA */

static const unsigned char certs_alpn[] = "\x08http/1.1";

struct certs_name {
	char *name;                     /* lowercase; "*.example.com" */
	SSL_CTX *ctx;                   /* one reference per name */
};

struct certs {
	SSL_CTX *def;
	struct certs_name *names;
	size_t n, cap, nctx;
	char *issuer_dir;               /* development CA, or NULL */
	size_t nissued;
};

static int
certs_add_name(struct certs *c, const char *name, SSL_CTX *ctx)
{
	struct certs_name *nn;
	char *low;
	size_t i;

	if (c->n >= CERTS_MAX)
		return -ENOSPC;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;

		if ((nn = realloc(c->names, ncap * sizeof(*nn))) == NULL)
			return -ENOMEM;
		c->names = nn;
		c->cap = ncap;
	}
	if ((low = strdup(name)) == NULL)
		return -ENOMEM;
	for (i = 0; low[i]; i++)
		low[i] = (char)tolower((unsigned char)low[i]);
	SSL_CTX_up_ref(ctx);
	c->names[c->n].name = low;
	c->names[c->n].ctx = ctx;
	c->n++;
	return 0;
}

/* Indexes ctx under every DNS name of its certificate. */
static int
certs_index(struct certs *c, SSL_CTX *ctx)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	GENERAL_NAMES *sans;
	int i, rc = 0;

	if (x == NULL)
		return -EINVAL;
	sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans) && rc == 0; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		const unsigned char *d;
		char name[256];
		int len;

		if (g->type != GEN_DNS)
			continue;
		d = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || len >= (int)sizeof(name) || memchr(d, 0, (size_t)len))
			continue;
		memcpy(name, d, (size_t)len);
		name[len] = '\0';
		rc = certs_add_name(c, name, ctx);
	}
	GENERAL_NAMES_free(sans);
	return rc;
}

static int
certs_load_file(struct certs *c, const char *cert, const char *key,
    char *err, size_t errlen)
{
	SSL_CTX *ctx = tls_server_ctx(cert, key, certs_alpn,
	    sizeof(certs_alpn) - 1, err, errlen);
	int rc;

	if (ctx == NULL)
		return -1;
	rc = certs_index(c, ctx);
	SSL_CTX_free(ctx);      /* the names hold their references */
	c->nctx++;
	if (rc != 0) {
		snprintf(err, errlen, "cannot index the names of %s", cert);
		return -1;
	}
	return 0;
}

int
certs_load(struct certs **out, const char *dir, const char *def_cert,
    const char *def_key, char *err, size_t errlen)
{
	struct certs *c;
	struct dirent *e;
	DIR *d = NULL;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->def = tls_server_ctx(def_cert, def_key, certs_alpn,
	    sizeof(certs_alpn) - 1, err, errlen);
	if (c->def == NULL)
		goto fail;
	c->nctx = 1;
	if (dir == NULL || dir[0] == '\0') {
		*out = c;
		return 0;
	}
	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "cannot read the certificate directory %s: %s",
		    dir, strerror(errno));
		goto fail;
	}
	while ((e = readdir(d)) != NULL) {
		char cert[4200], key[4200];
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		if (len > 4 && strcmp(e->d_name + len - 4, ".pem") == 0) {
			snprintf(cert, sizeof(cert), "%s/%s", dir, e->d_name);
			snprintf(key, sizeof(key), "%s", cert);
		} else if (len > 4 && strcmp(e->d_name + len - 4, ".crt") == 0) {
			snprintf(cert, sizeof(cert), "%s/%s", dir, e->d_name);
			snprintf(key, sizeof(key), "%s/%.*s.key", dir, (int)(len - 4),
			    e->d_name);
		} else {
			continue;
		}
		if (certs_load_file(c, cert, key, err, errlen) != 0)
			goto fail;
	}
	closedir(d);
	*out = c;
	return 0;
fail:
	if (d != NULL)
		closedir(d);
	certs_free(c);
	return -1;
}

void
certs_free(struct certs *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		free(c->names[i].name);
		SSL_CTX_free(c->names[i].ctx);
	}
	free(c->names);
	SSL_CTX_free(c->def);
	free(c->issuer_dir);
	free(c);
}

SSL_CTX *
certs_find(const struct certs *c, const char *name)
{
	const char *dot = strchr(name, '.');
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->names[i].name, name) == 0)
			return c->names[i].ctx;
	/* a wildcard covers exactly one label */
	if (dot != NULL && dot != name) {
		for (i = 0; i < c->n; i++) {
			const char *w = c->names[i].name;

			if (w[0] == '*' && w[1] == '.' && strcmp(w + 1, dot) == 0)
				return c->names[i].ctx;
		}
	}
	return c->def;
}

int
certs_issuer(struct certs *c, const char *ca_dir)
{
	char *d = strdup(ca_dir);

	if (d == NULL)
		return -ENOMEM;
	free(c->issuer_dir);
	c->issuer_dir = d;
	return 0;
}

SSL_CTX *
certs_for(struct certs *c, const char *name, bool served)
{
	SSL_CTX *ctx = certs_find(c, name);
	char cert[4300], key[4300], err[600];

	if (ctx != c->def || !served || c->issuer_dir == NULL ||
	    c->nissued >= CERTS_ISSUED_MAX)
		return ctx;
	if (tls_dev_issue(c->issuer_dir, name, cert, sizeof(cert), err,
	    sizeof(err)) != 0) {
		log_warn("tls.issue", "name=%s error=\"%s\"", name, err);
		return ctx;
	}
	snprintf(key, sizeof(key), "%s/node.key", c->issuer_dir);
	if (certs_load_file(c, cert, key, err, sizeof(err)) != 0) {
		log_warn("tls.issue", "name=%s error=\"%s\"", name, err);
		return ctx;
	}
	c->nissued++;
	log_info("tls.issue", "name=%s cert=%s", name, cert);
	return certs_find(c, name);
}

SSL_CTX *
certs_default(const struct certs *c)
{
	return c->def;
}

size_t
certs_count(const struct certs *c)
{
	return c->nctx;
}
