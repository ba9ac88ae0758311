#include "lbmsg.h"

#include <errno.h>
#include <nng/nng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcmsg.h"

/* smallest encoded candidate: kind, flags, six empty strings, port,
 * weight, soft, hard */
#define LBMSG_CAND_MIN          (1 + 1 + 6 * 2 + 2 + 3 * 4)

nng_msg *
lbmsg_encode(const struct lbmsg *lm)
{
	struct ipcmsg_wr w;
	uint32_t i;

	if (lm->n > LBMSG_MAX || (lm->n > 0 && lm->c == NULL))
		return NULL;
	ipcmsg_wr_init(&w, IPCMSG_LB, 32 + (size_t)lm->n * 64);
	ipcmsg_put_u64(&w, lm->epoch);
	ipcmsg_put_u64(&w, lm->version);
	ipcmsg_put_u8(&w, lm->beacon);
	ipcmsg_put_u32(&w, lm->n);
	for (i = 0; i < lm->n && w.err == 0; i++) {
		const struct lbmsg_cand *c = &lm->c[i];

		ipcmsg_put_u8(&w, c->kind);
		ipcmsg_put_u8(&w, c->flags);
		ipcmsg_put_str(&w, c->app);
		ipcmsg_put_str(&w, c->id);
		ipcmsg_put_str(&w, c->region);
		ipcmsg_put_str(&w, c->country);
		ipcmsg_put_str(&w, c->addr);
		ipcmsg_put_str(&w, c->node);
		ipcmsg_put_u16(&w, c->port);
		ipcmsg_put_u32(&w, c->weight);
		ipcmsg_put_u32(&w, c->soft_limit);
		ipcmsg_put_u32(&w, c->hard_limit);
	}
	return ipcmsg_wr_end(&w);
}

int
lbmsg_decode(struct lbmsg *m, const void *buf, size_t len)
{
	struct ipcmsg_rd r;
	uint32_t i, n;

	memset(m, 0, sizeof(*m));
	ipcmsg_rd_init(&r, buf, len, IPCMSG_LB);
	m->epoch = ipcmsg_get_u64(&r);
	m->version = ipcmsg_get_u64(&r);
	m->beacon = ipcmsg_get_u8(&r);
	n = ipcmsg_get_u32(&r);
	if (r.err == 0 && (n > LBMSG_MAX || m->beacon > 1 ||
	    (m->beacon && n != 0) || (size_t)n * LBMSG_CAND_MIN > len - r.off))
		r.err = -EINVAL;
	if (r.err == 0 && n > 0 && (m->c = calloc(n, sizeof(*m->c))) == NULL)
		r.err = -ENOMEM;
	for (i = 0; r.err == 0 && i < n; i++) {
		struct lbmsg_cand *c = &m->c[i];

		m->n = i + 1;
		c->kind = ipcmsg_get_u8(&r);
		c->flags = ipcmsg_get_u8(&r);
		c->app = ipcmsg_get_str(&r);
		c->id = ipcmsg_get_str(&r);
		c->region = ipcmsg_get_str(&r);
		c->country = ipcmsg_get_str(&r);
		c->addr = ipcmsg_get_str(&r);
		c->node = ipcmsg_get_str(&r);
		c->port = ipcmsg_get_u16(&r);
		c->weight = ipcmsg_get_u32(&r);
		c->soft_limit = ipcmsg_get_u32(&r);
		c->hard_limit = ipcmsg_get_u32(&r);
		if (r.err == 0 && c->kind != LBMSG_BACKEND &&
		    c->kind != LBMSG_REPLICA)
			r.err = -EINVAL;
	}
	if (ipcmsg_rd_end(&r) != 0) {
		lbmsg_fini(m);
		memset(m, 0, sizeof(*m));
	}
	return r.err;
}

char *
lbmsg_replica_id(char *out, size_t len, const char *node, uint64_t session,
    uint32_t tunnel_id)
{
	snprintf(out, len, "%s/%016llx/%u", node, (unsigned long long)session,
	    tunnel_id);
	return out;
}

void
lbmsg_cand_fini(struct lbmsg_cand *c)
{
	free(c->app);
	free(c->id);
	free(c->region);
	free(c->country);
	free(c->addr);
	free(c->node);
	memset(c, 0, sizeof(*c));
}

void
lbmsg_fini(struct lbmsg *m)
{
	uint32_t i;

	for (i = 0; i < m->n; i++)
		lbmsg_cand_fini(&m->c[i]);
	free(m->c);
	m->c = NULL;
	m->n = 0;
}

nng_msg *
lbmsg_req_encode(void)
{
	struct ipcmsg_wr w;

	ipcmsg_wr_init(&w, IPCMSG_LB_REQ, 0);
	return ipcmsg_wr_end(&w);
}
