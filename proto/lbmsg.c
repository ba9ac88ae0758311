#include "lbmsg.h"

#include <errno.h>
#include <nng/nng.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ipcmsg.h"

/* smallest encoded candidate: kind, flags, six empty strings, port,
 * weight, soft, hard */
#define LBMSG_CAND_MIN          (1 + 1 + 6 * 2 + 2 + 3 * 4)

struct lbmsg_rd {
	const uint8_t *p;
	size_t len, off;
	int err;
};

static uint64_t
lbmsg_get(struct lbmsg_rd *r, size_t n)
{
	uint64_t v = 0;
	size_t i;

	if (r->err != 0)
		return 0;
	if (r->len - r->off < n) {
		r->err = -EINVAL;
		return 0;
	}
	for (i = 0; i < n; i++)
		v |= (uint64_t)r->p[r->off + i] << (8 * i);
	r->off += n;
	return v;
}

static char *
lbmsg_get_str(struct lbmsg_rd *r)
{
	size_t n = (size_t)lbmsg_get(r, 2);
	char *s;

	if (r->err != 0)
		return NULL;
	if (n > IPCMSG_STR_MAX || r->len - r->off < n ||
	    memchr(r->p + r->off, '\0', n) != NULL) {
		r->err = -EINVAL;
		return NULL;
	}
	if ((s = malloc(n + 1)) == NULL) {
		r->err = -ENOMEM;
		return NULL;
	}
	memcpy(s, r->p + r->off, n);
	s[n] = '\0';
	r->off += n;
	return s;
}

static void
lbmsg_put(nng_msg *m, int *err, uint64_t v, size_t n)
{
	uint8_t b[8];
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	if (*err == 0 && nng_msg_append(m, b, n) != 0)
		*err = -ENOMEM;
}

static void
lbmsg_put_str(nng_msg *m, int *err, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n > IPCMSG_STR_MAX) {
		*err = -EINVAL;
		return;
	}
	lbmsg_put(m, err, n, 2);
	if (n > 0 && *err == 0 && nng_msg_append(m, s, n) != 0)
		*err = -ENOMEM;
}

static nng_msg *
lbmsg_header(uint8_t type, size_t hint)
{
	nng_msg *m;
	uint8_t h[2] = { IPCMSG_VERSION, type };

	if (nng_msg_alloc(&m, 0) != 0)
		return NULL;
	if ((hint > 0 && nng_msg_reserve(m, hint) != 0) ||
	    nng_msg_append(m, h, 2) != 0) {
		nng_msg_free(m);
		return NULL;
	}
	return m;
}

nng_msg *
lbmsg_encode(const struct lbmsg *lm)
{
	nng_msg *m;
	uint32_t i;
	int err = 0;

	if (lm->n > LBMSG_MAX || (lm->n > 0 && lm->c == NULL))
		return NULL;
	if ((m = lbmsg_header(IPCMSG_LB, 32 + (size_t)lm->n * 64)) == NULL)
		return NULL;
	lbmsg_put(m, &err, lm->epoch, 8);
	lbmsg_put(m, &err, lm->version, 8);
	lbmsg_put(m, &err, lm->beacon, 1);
	lbmsg_put(m, &err, lm->n, 4);
	for (i = 0; i < lm->n && err == 0; i++) {
		const struct lbmsg_cand *c = &lm->c[i];

		lbmsg_put(m, &err, c->kind, 1);
		lbmsg_put(m, &err, c->flags, 1);
		lbmsg_put_str(m, &err, c->app);
		lbmsg_put_str(m, &err, c->id);
		lbmsg_put_str(m, &err, c->region);
		lbmsg_put_str(m, &err, c->country);
		lbmsg_put_str(m, &err, c->addr);
		lbmsg_put_str(m, &err, c->node);
		lbmsg_put(m, &err, c->port, 2);
		lbmsg_put(m, &err, c->weight, 4);
		lbmsg_put(m, &err, c->soft_limit, 4);
		lbmsg_put(m, &err, c->hard_limit, 4);
	}
	if (err != 0) {
		nng_msg_free(m);
		return NULL;
	}
	return m;
}

int
lbmsg_decode(struct lbmsg *m, const void *buf, size_t len)
{
	struct lbmsg_rd r = { buf, len, 0, 0 };
	uint32_t i, n;
	int t;

	memset(m, 0, sizeof(*m));
	if ((t = ipcmsg_type(buf, len)) < 0)
		return t;
	if (t != IPCMSG_LB)
		return -EPROTO;
	r.off = 2;
	m->epoch = lbmsg_get(&r, 8);
	m->version = lbmsg_get(&r, 8);
	m->beacon = (uint8_t)lbmsg_get(&r, 1);
	n = (uint32_t)lbmsg_get(&r, 4);
	if (r.err == 0 && (n > LBMSG_MAX || m->beacon > 1 ||
	    (m->beacon && n != 0) || (size_t)n * LBMSG_CAND_MIN > len - r.off))
		r.err = -EINVAL;
	if (r.err == 0 && n > 0 && (m->c = calloc(n, sizeof(*m->c))) == NULL)
		r.err = -ENOMEM;
	for (i = 0; r.err == 0 && i < n; i++) {
		struct lbmsg_cand *c = &m->c[i];

		m->n = i + 1;
		c->kind = (uint8_t)lbmsg_get(&r, 1);
		c->flags = (uint8_t)lbmsg_get(&r, 1);
		c->app = lbmsg_get_str(&r);
		c->id = lbmsg_get_str(&r);
		c->region = lbmsg_get_str(&r);
		c->country = lbmsg_get_str(&r);
		c->addr = lbmsg_get_str(&r);
		c->node = lbmsg_get_str(&r);
		c->port = (uint16_t)lbmsg_get(&r, 2);
		c->weight = (uint32_t)lbmsg_get(&r, 4);
		c->soft_limit = (uint32_t)lbmsg_get(&r, 4);
		c->hard_limit = (uint32_t)lbmsg_get(&r, 4);
		if (r.err == 0 && c->kind != LBMSG_BACKEND)
			r.err = -EINVAL;
	}
	if (r.err == 0 && r.off != r.len)
		r.err = -EINVAL;
	if (r.err != 0) {
		lbmsg_fini(m);
		memset(m, 0, sizeof(*m));
	}
	return r.err;
}

void
lbmsg_fini(struct lbmsg *m)
{
	uint32_t i;

	for (i = 0; i < m->n; i++) {
		free(m->c[i].app);
		free(m->c[i].id);
		free(m->c[i].region);
		free(m->c[i].country);
		free(m->c[i].addr);
		free(m->c[i].node);
	}
	free(m->c);
	m->c = NULL;
	m->n = 0;
}

nng_msg *
lbmsg_req_encode(void)
{
	return lbmsg_header(IPCMSG_LB_REQ, 0);
}
