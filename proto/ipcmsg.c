#include "ipcmsg.h"

#include <errno.h>
#include <nng/nng.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Smallest encoded route: kind, state, two empty strings, port, session,
 * tunnel_id. Bounds the entry count of a TABLE against its length before
 * anything is allocated for it. */
#define IPCMSG_ROUTE_MIN        (1 + 1 + 2 + 2 + 2 + 8 + 4 + 2 + 8 + 4 + \
                                 IPCMSG_GROUP_MIN + 4)
#define IPCMSG_GROUP_MIN        (2 + 2 + 2 + 4 + 4 + 4)


static bool
ipcmsg_rd_need(struct ipcmsg_rd *r, size_t n)
{
	if (r->err != 0)
		return false;
	if (r->len - r->off < n) {
		r->err = -EINVAL;
		return false;
	}
	return true;
}

uint8_t
ipcmsg_get_u8(struct ipcmsg_rd *r)
{
	if (!ipcmsg_rd_need(r, 1))
		return 0;
	return r->p[r->off++];
}

uint64_t
ipcmsg_get_le(struct ipcmsg_rd *r, size_t n)
{
	uint64_t v = 0;
	size_t i;

	if (!ipcmsg_rd_need(r, n))
		return 0;
	for (i = 0; i < n; i++)
		v |= (uint64_t)r->p[r->off + i] << (8 * i);
	r->off += n;
	return v;
}

uint16_t ipcmsg_get_u16(struct ipcmsg_rd *r) { return (uint16_t)ipcmsg_get_le(r, 2); }
uint32_t ipcmsg_get_u32(struct ipcmsg_rd *r) { return (uint32_t)ipcmsg_get_le(r, 4); }
uint64_t ipcmsg_get_u64(struct ipcmsg_rd *r) { return ipcmsg_get_le(r, 8); }

/* A u16-length string: at most IPCMSG_STR_MAX bytes, no NUL inside. Returns
 * a NUL-terminated copy, or NULL with r->err set. */
char *
ipcmsg_get_str(struct ipcmsg_rd *r)
{
	size_t n = ipcmsg_get_u16(r);
	char *s;

	if (r->err != 0)
		return NULL;
	if (n > IPCMSG_STR_MAX || !ipcmsg_rd_need(r, n) ||
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

/* Checks version and type; leaves the reader after the header. */
void
ipcmsg_rd_init(struct ipcmsg_rd *r, const void *buf, size_t len, uint8_t type)
{
	int t;

	r->p = buf;
	r->len = len;
	r->off = 0;
	r->err = 0;
	if ((t = ipcmsg_type(buf, len)) < 0)
		r->err = t;
	else if (t != type)
		r->err = -EPROTO;
	else
		r->off = 2;
}

/* Trailing bytes are malformed: a newer layout must bump the version. */
int
ipcmsg_rd_end(struct ipcmsg_rd *r)
{
	if (r->err == 0 && r->off != r->len)
		r->err = -EINVAL;
	return r->err;
}

void
ipcmsg_put(struct ipcmsg_wr *w, const void *p, size_t n)
{
	if (w->err == 0 && nng_msg_append(w->msg, p, n) != 0)
		w->err = -ENOMEM;
}

void
ipcmsg_put_le(struct ipcmsg_wr *w, uint64_t v, size_t n)
{
	uint8_t b[8];
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	ipcmsg_put(w, b, n);
}

void ipcmsg_put_u8(struct ipcmsg_wr *w, uint8_t v) { ipcmsg_put(w, &v, 1); }
void ipcmsg_put_u16(struct ipcmsg_wr *w, uint16_t v) { ipcmsg_put_le(w, v, 2); }
void ipcmsg_put_u32(struct ipcmsg_wr *w, uint32_t v) { ipcmsg_put_le(w, v, 4); }
void ipcmsg_put_u64(struct ipcmsg_wr *w, uint64_t v) { ipcmsg_put_le(w, v, 8); }

/* NULL encodes as "". A string longer than IPCMSG_STR_MAX fails the message:
 * silently cutting a hostname would route to the wrong place. */
void
ipcmsg_put_str(struct ipcmsg_wr *w, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n > IPCMSG_STR_MAX) {
		w->err = -EINVAL;
		return;
	}
	ipcmsg_put_u16(w, (uint16_t)n);
	if (n > 0)
		ipcmsg_put(w, s, n);
}

void
ipcmsg_wr_init(struct ipcmsg_wr *w, uint8_t type, size_t hint)
{
	w->err = 0;
	if (nng_msg_alloc(&w->msg, 0) != 0) {
		w->msg = NULL;
		w->err = -ENOMEM;
		return;
	}
	if (hint > 0 && nng_msg_reserve(w->msg, hint) != 0)
		w->err = -ENOMEM;
	ipcmsg_put_u8(w, IPCMSG_VERSION);
	ipcmsg_put_u8(w, type);
}

nng_msg *
ipcmsg_wr_end(struct ipcmsg_wr *w)
{
	if (w->err != 0) {
		if (w->msg != NULL)
			nng_msg_free(w->msg);
		return NULL;
	}
	return w->msg;
}

int
ipcmsg_type(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (len < 2)
		return -EINVAL;
	if (p[0] != IPCMSG_VERSION)
		return -EPROTO;
	if (p[1] >= IPCMSG_MEMBERS && p[1] <= IPCMSG_REPL_INFO)
		return p[1];
	if (p[1] == IPCMSG_STATS)
		return p[1];
	if (p[1] < IPCMSG_OK || p[1] > IPCMSG_LB_REQ)
		return -EPROTO;
	return p[1];
}

/* ---- STATS ---- */

nng_msg *
ipcmsg_stats_encode(const struct ipcmsg_stats *m)
{
	struct ipcmsg_wr w;
	uint32_t i;

	ipcmsg_wr_init(&w, IPCMSG_STATS, 4 + (size_t)m->n * 48);
	ipcmsg_put_u32(&w, m->n);
	for (i = 0; i < m->n; i++) {
		ipcmsg_put_str(&w, m->items[i].name);
		ipcmsg_put_u64(&w, m->items[i].value);
	}
	return ipcmsg_wr_end(&w);
}

int
ipcmsg_stats_decode(struct ipcmsg_stats *m, const void *buf, size_t len)
{
	struct ipcmsg_rd r;
	uint32_t i, n;

	memset(m, 0, sizeof(*m));
	ipcmsg_rd_init(&r, buf, len, IPCMSG_STATS);
	n = ipcmsg_get_u32(&r);
	/* each item takes at least 2 + 8 bytes: never trust n */
	if (r.err == 0 && (n > IPCMSG_STATS_MAX || (size_t)n * 10 > len))
		r.err = -EINVAL;
	if (r.err == 0 && n > 0 &&
	    (m->items = calloc(n, sizeof(*m->items))) == NULL)
		r.err = -ENOMEM;
	for (i = 0; r.err == 0 && i < n; i++) {
		m->items[i].name = ipcmsg_get_str(&r);
		m->items[i].value = ipcmsg_get_u64(&r);
		m->n = i + 1;
	}
	if (ipcmsg_rd_end(&r) != 0)
		ipcmsg_stats_fini(m);
	return r.err;
}

void
ipcmsg_stats_fini(struct ipcmsg_stats *m)
{
	uint32_t i;

	for (i = 0; i < m->n; i++)
		free(m->items[i].name);
	free(m->items);
	m->items = NULL;
	m->n = 0;
}

/* ---- OK ---- */

nng_msg *
ipcmsg_ok_encode(const struct ipcmsg_ok *m)
{
	struct ipcmsg_wr w;

	ipcmsg_wr_init(&w, IPCMSG_OK, 0);
	ipcmsg_put_u8(&w, m->status);
	ipcmsg_put_str(&w, m->error);
	return ipcmsg_wr_end(&w);
}

int
ipcmsg_ok_decode(struct ipcmsg_ok *m, const void *buf, size_t len)
{
	struct ipcmsg_rd r;

	memset(m, 0, sizeof(*m));
	ipcmsg_rd_init(&r, buf, len, IPCMSG_OK);
	m->status = ipcmsg_get_u8(&r);
	m->error = ipcmsg_get_str(&r);
	if (ipcmsg_rd_end(&r) != 0)
		ipcmsg_ok_fini(m);
	return r.err;
}

void
ipcmsg_ok_fini(struct ipcmsg_ok *m)
{
	free(m->error);
	memset(m, 0, sizeof(*m));
}

/* ---- ACCEPTOR_HELLO, UNREGISTER, SNAPSHOT_REQ ---- */

static nng_msg *
ipcmsg_u64_encode(uint8_t type, uint64_t v)
{
	struct ipcmsg_wr w;

	ipcmsg_wr_init(&w, type, 10);
	ipcmsg_put_u64(&w, v);
	return ipcmsg_wr_end(&w);
}

static int
ipcmsg_u64_decode(uint8_t type, uint64_t *v, const void *buf, size_t len)
{
	struct ipcmsg_rd r;
	uint64_t x;

	ipcmsg_rd_init(&r, buf, len, type);
	x = ipcmsg_get_u64(&r);
	if (ipcmsg_rd_end(&r) == 0)
		*v = x;
	return r.err;
}

nng_msg *
ipcmsg_hello_encode(uint64_t epoch)
{
	return ipcmsg_u64_encode(IPCMSG_ACCEPTOR_HELLO, epoch);
}

int
ipcmsg_hello_decode(uint64_t *epoch, const void *buf, size_t len)
{
	return ipcmsg_u64_decode(IPCMSG_ACCEPTOR_HELLO, epoch, buf, len);
}

nng_msg *
ipcmsg_unregister_encode(uint64_t session)
{
	return ipcmsg_u64_encode(IPCMSG_UNREGISTER, session);
}

int
ipcmsg_unregister_decode(uint64_t *session, const void *buf, size_t len)
{
	return ipcmsg_u64_decode(IPCMSG_UNREGISTER, session, buf, len);
}

nng_msg *
ipcmsg_snapshot_req_encode(void)
{
	struct ipcmsg_wr w;

	ipcmsg_wr_init(&w, IPCMSG_SNAPSHOT_REQ, 0);
	return ipcmsg_wr_end(&w);
}

int
ipcmsg_snapshot_req_decode(const void *buf, size_t len)
{
	struct ipcmsg_rd r;

	ipcmsg_rd_init(&r, buf, len, IPCMSG_SNAPSHOT_REQ);
	return ipcmsg_rd_end(&r);
}

/* ---- groups ---- */

static void
ipcmsg_put_group(struct ipcmsg_wr *w, const struct ipcmsg_group *g)
{
	ipcmsg_put_str(w, g->name);
	ipcmsg_put_str(w, g->token_id);
	ipcmsg_put_str(w, g->region);
	ipcmsg_put_u32(w, g->weight);
	ipcmsg_put_u32(w, g->soft_limit);
	ipcmsg_put_u32(w, g->hard_limit);
}

static void
ipcmsg_get_group(struct ipcmsg_rd *r, struct ipcmsg_group *g)
{
	g->name = ipcmsg_get_str(r);
	g->token_id = ipcmsg_get_str(r);
	g->region = ipcmsg_get_str(r);
	g->weight = ipcmsg_get_u32(r);
	g->soft_limit = ipcmsg_get_u32(r);
	g->hard_limit = ipcmsg_get_u32(r);
}

void
ipcmsg_group_fini(struct ipcmsg_group *g)
{
	free(g->name);
	free(g->token_id);
	free(g->region);
	memset(g, 0, sizeof(*g));
}

static char *ipcmsg_strdup(const char *s);

int
ipcmsg_group_copy(struct ipcmsg_group *dst, const struct ipcmsg_group *src)
{
	*dst = *src;
	dst->name = ipcmsg_strdup(src->name);
	dst->token_id = ipcmsg_strdup(src->token_id);
	dst->region = ipcmsg_strdup(src->region);
	if (dst->name == NULL || dst->token_id == NULL || dst->region == NULL) {
		ipcmsg_group_fini(dst);
		return -ENOMEM;
	}
	return 0;
}

/* ---- REGISTER ---- */

nng_msg *
ipcmsg_register_encode(const struct ipcmsg_register *m)
{
	struct ipcmsg_wr w;

	ipcmsg_wr_init(&w, IPCMSG_REGISTER, 64);
	ipcmsg_put_u64(&w, m->session);
	ipcmsg_put_u32(&w, m->tunnel_id);
	ipcmsg_put_u8(&w, m->kind);
	ipcmsg_put_str(&w, m->client_id);
	ipcmsg_put_str(&w, m->token);
	ipcmsg_put_str(&w, m->subdomain);
	ipcmsg_put_str(&w, m->domains);
	ipcmsg_put_u16(&w, m->port);
	ipcmsg_put_group(&w, &m->grp);
	return ipcmsg_wr_end(&w);
}

int
ipcmsg_register_decode(struct ipcmsg_register *m, const void *buf, size_t len)
{
	struct ipcmsg_rd r;

	memset(m, 0, sizeof(*m));
	ipcmsg_rd_init(&r, buf, len, IPCMSG_REGISTER);
	m->session = ipcmsg_get_u64(&r);
	m->tunnel_id = ipcmsg_get_u32(&r);
	m->kind = ipcmsg_get_u8(&r);
	m->client_id = ipcmsg_get_str(&r);
	m->token = ipcmsg_get_str(&r);
	m->subdomain = ipcmsg_get_str(&r);
	m->domains = ipcmsg_get_str(&r);
	m->port = ipcmsg_get_u16(&r);
	ipcmsg_get_group(&r, &m->grp);
	if (ipcmsg_rd_end(&r) != 0)
		ipcmsg_register_fini(m);
	return r.err;
}

void
ipcmsg_register_fini(struct ipcmsg_register *m)
{
	free(m->client_id);
	free(m->token);
	free(m->subdomain);
	free(m->domains);
	ipcmsg_group_fini(&m->grp);
	memset(m, 0, sizeof(*m));
}

/* ---- REGISTERED ---- */

nng_msg *
ipcmsg_registered_encode(const struct ipcmsg_registered *m)
{
	struct ipcmsg_wr w;

	ipcmsg_wr_init(&w, IPCMSG_REGISTERED, 64);
	ipcmsg_put_u8(&w, m->status);
	ipcmsg_put_str(&w, m->error);
	ipcmsg_put_str(&w, m->hosts);
	ipcmsg_put_u16(&w, m->port);
	ipcmsg_put_str(&w, m->token_id);
	return ipcmsg_wr_end(&w);
}

int
ipcmsg_registered_decode(struct ipcmsg_registered *m, const void *buf, size_t len)
{
	struct ipcmsg_rd r;

	memset(m, 0, sizeof(*m));
	ipcmsg_rd_init(&r, buf, len, IPCMSG_REGISTERED);
	m->status = ipcmsg_get_u8(&r);
	m->error = ipcmsg_get_str(&r);
	m->hosts = ipcmsg_get_str(&r);
	m->port = ipcmsg_get_u16(&r);
	m->token_id = ipcmsg_get_str(&r);
	if (ipcmsg_rd_end(&r) != 0)
		ipcmsg_registered_fini(m);
	return r.err;
}

void
ipcmsg_registered_fini(struct ipcmsg_registered *m)
{
	free(m->error);
	free(m->hosts);
	free(m->token_id);
	memset(m, 0, sizeof(*m));
}

/* ---- routes, TABLE ---- */

static void
ipcmsg_put_route(struct ipcmsg_wr *w, const struct ipcmsg_route *r)
{
	ipcmsg_put_u8(w, r->kind);
	ipcmsg_put_u8(w, r->state);
	ipcmsg_put_str(w, r->host);
	ipcmsg_put_u16(w, r->port);
	ipcmsg_put_str(w, r->node);
	ipcmsg_put_u64(w, r->session);
	ipcmsg_put_u32(w, r->tunnel_id);
	ipcmsg_put_str(w, r->alt_node);
	ipcmsg_put_u64(w, r->alt_session);
	ipcmsg_put_u32(w, r->alt_tunnel_id);
	ipcmsg_put_group(w, &r->grp);
	if (r->nreplicas > IPCMSG_REPLICAS_MAX ||
	    (r->nreplicas > 0 && r->replicas == NULL)) {
		w->err = -EINVAL;
		return;
	}
	ipcmsg_put_u32(w, r->nreplicas);
	for (uint32_t i = 0; i < r->nreplicas; i++) {
		const struct ipcmsg_route *p = &r->replicas[i];

		/* a replica: where it is and its group fields */
		ipcmsg_put_str(w, p->node);
		ipcmsg_put_u64(w, p->session);
		ipcmsg_put_u32(w, p->tunnel_id);
		ipcmsg_put_group(w, &p->grp);
	}
}

static void
ipcmsg_get_route(struct ipcmsg_rd *r, struct ipcmsg_route *rt)
{
	uint32_t i, n;

	rt->kind = ipcmsg_get_u8(r);
	rt->state = ipcmsg_get_u8(r);
	rt->host = ipcmsg_get_str(r);
	rt->port = ipcmsg_get_u16(r);
	rt->node = ipcmsg_get_str(r);
	rt->session = ipcmsg_get_u64(r);
	rt->tunnel_id = ipcmsg_get_u32(r);
	rt->alt_node = ipcmsg_get_str(r);
	rt->alt_session = ipcmsg_get_u64(r);
	rt->alt_tunnel_id = ipcmsg_get_u32(r);
	ipcmsg_get_group(r, &rt->grp);
	n = ipcmsg_get_u32(r);
	if (r->err == 0 && (n > IPCMSG_REPLICAS_MAX ||
	    (size_t)n > (r->len - r->off) / (2 + 8 + 4 + IPCMSG_GROUP_MIN)))
		r->err = -EINVAL;
	if (r->err == 0 && n > 0 &&
	    (rt->replicas = calloc(n, sizeof(*rt->replicas))) == NULL)
		r->err = -ENOMEM;
	for (i = 0; i < n && r->err == 0; i++) {
		struct ipcmsg_route *p = &rt->replicas[i];

		rt->nreplicas = i + 1;          /* to free if a later one fails */
		p->node = ipcmsg_get_str(r);
		p->session = ipcmsg_get_u64(r);
		p->tunnel_id = ipcmsg_get_u32(r);
		ipcmsg_get_group(r, &p->grp);
	}
}

void
ipcmsg_route_fini(struct ipcmsg_route *r)
{
	if (r == NULL)
		return;
	free(r->host);
	free(r->node);
	free(r->alt_node);
	ipcmsg_group_fini(&r->grp);
	if (r->replicas != NULL)
		for (uint32_t i = 0; i < r->nreplicas; i++)
			ipcmsg_route_fini(&r->replicas[i]);
	free(r->replicas);
	memset(r, 0, sizeof(*r));
}

nng_msg *
ipcmsg_table_encode(const struct ipcmsg_table *m)
{
	struct ipcmsg_wr w;
	uint32_t i;

	if (m->n > IPCMSG_TABLE_MAX || (m->n > 0 && m->routes == NULL))
		return NULL;
	ipcmsg_wr_init(&w, IPCMSG_TABLE, 23 + (size_t)m->n * 48);
	ipcmsg_put_u64(&w, m->epoch);
	ipcmsg_put_u64(&w, m->version);
	ipcmsg_put_u8(&w, m->delta);
	ipcmsg_put_u32(&w, m->n);
	for (i = 0; i < m->n && w.err == 0; i++)
		ipcmsg_put_route(&w, &m->routes[i]);
	return ipcmsg_wr_end(&w);
}

int
ipcmsg_table_decode(struct ipcmsg_table *m, const void *buf, size_t len)
{
	struct ipcmsg_rd r;
	uint32_t i, n;

	memset(m, 0, sizeof(*m));
	ipcmsg_rd_init(&r, buf, len, IPCMSG_TABLE);
	m->epoch = ipcmsg_get_u64(&r);
	m->version = ipcmsg_get_u64(&r);
	m->delta = ipcmsg_get_u8(&r);
	n = ipcmsg_get_u32(&r);
	if (r.err == 0 && (m->delta > 1 || n > IPCMSG_TABLE_MAX ||
	    (size_t)n > (r.len - r.off) / IPCMSG_ROUTE_MIN))
		r.err = -EINVAL;
	if (r.err == 0 && n > 0 &&
	    (m->routes = calloc(n, sizeof(*m->routes))) == NULL)
		r.err = -ENOMEM;
	/* m->n counts the entries to free if a later one fails */
	for (i = 0; i < n && r.err == 0; i++) {
		ipcmsg_get_route(&r, &m->routes[i]);
		m->n = i + 1;
	}
	if (ipcmsg_rd_end(&r) != 0)
		ipcmsg_table_fini(m);
	return r.err;
}

void
ipcmsg_table_fini(struct ipcmsg_table *m)
{
	uint32_t i;

	if (m->routes != NULL)
		for (i = 0; i < m->n; i++)
			ipcmsg_route_fini(&m->routes[i]);
	free(m->routes);
	memset(m, 0, sizeof(*m));
}

/* ---- WRITE ---- */

nng_msg *
ipcmsg_write_encode(const struct ipcmsg_write *m)
{
	struct ipcmsg_wr w;

	ipcmsg_wr_init(&w, IPCMSG_WRITE, 64);
	ipcmsg_put_u8(&w, m->op);
	ipcmsg_put_route(&w, &m->route);
	ipcmsg_put_str(&w, m->client_id);
	ipcmsg_put_str(&w, m->token_id);
	ipcmsg_put_str(&w, m->tok.id);
	ipcmsg_put_str(&w, m->tok.hash);
	ipcmsg_put_str(&w, m->tok.allow);
	ipcmsg_put_str(&w, m->tok.ports);
	ipcmsg_put_str(&w, m->tok.note);
	ipcmsg_put_str(&w, m->table);
	ipcmsg_put_str(&w, m->row);
	return ipcmsg_wr_end(&w);
}

int
ipcmsg_write_decode(struct ipcmsg_write *m, const void *buf, size_t len)
{
	struct ipcmsg_rd r;

	memset(m, 0, sizeof(*m));
	ipcmsg_rd_init(&r, buf, len, IPCMSG_WRITE);
	m->op = ipcmsg_get_u8(&r);
	ipcmsg_get_route(&r, &m->route);
	m->client_id = ipcmsg_get_str(&r);
	m->token_id = ipcmsg_get_str(&r);
	m->tok.id = ipcmsg_get_str(&r);
	m->tok.hash = ipcmsg_get_str(&r);
	m->tok.allow = ipcmsg_get_str(&r);
	m->tok.ports = ipcmsg_get_str(&r);
	m->tok.note = ipcmsg_get_str(&r);
	m->table = ipcmsg_get_str(&r);
	m->row = ipcmsg_get_str(&r);
	if (ipcmsg_rd_end(&r) != 0)
		ipcmsg_write_fini(m);
	return r.err;
}

void
ipcmsg_write_fini(struct ipcmsg_write *m)
{
	ipcmsg_route_fini(&m->route);
	free(m->client_id);
	free(m->token_id);
	free(m->tok.id);
	free(m->tok.hash);
	free(m->tok.allow);
	free(m->tok.ports);
	free(m->tok.note);
	free(m->table);
	free(m->row);
	memset(m, 0, sizeof(*m));
}

/* ---- KICK ---- */

nng_msg *
ipcmsg_kick_encode(const struct ipcmsg_kick *m)
{
	struct ipcmsg_wr w;

	ipcmsg_wr_init(&w, IPCMSG_KICK, 64);
	ipcmsg_put_str(&w, m->token_id);
	ipcmsg_put_str(&w, m->reason);
	ipcmsg_put_u64(&w, m->session);
	return ipcmsg_wr_end(&w);
}

int
ipcmsg_kick_decode(struct ipcmsg_kick *m, const void *buf, size_t len)
{
	struct ipcmsg_rd r;

	memset(m, 0, sizeof(*m));
	ipcmsg_rd_init(&r, buf, len, IPCMSG_KICK);
	m->token_id = ipcmsg_get_str(&r);
	m->reason = ipcmsg_get_str(&r);
	m->session = ipcmsg_get_u64(&r);
	if (ipcmsg_rd_end(&r) != 0)
		ipcmsg_kick_fini(m);
	return r.err;
}

void
ipcmsg_kick_fini(struct ipcmsg_kick *m)
{
	free(m->token_id);
	free(m->reason);
	memset(m, 0, sizeof(*m));
}

static char *
ipcmsg_strdup(const char *s)
{
	return strdup(s != NULL ? s : "");
}

int
ipcmsg_route_copy(struct ipcmsg_route *dst, const struct ipcmsg_route *src)
{
	*dst = *src;
	dst->host = ipcmsg_strdup(src->host);
	dst->node = ipcmsg_strdup(src->node);
	dst->alt_node = ipcmsg_strdup(src->alt_node);
	dst->nreplicas = 0;
	dst->replicas = NULL;
	memset(&dst->grp, 0, sizeof(dst->grp));
	if (dst->host == NULL || dst->node == NULL || dst->alt_node == NULL ||
	    ipcmsg_group_copy(&dst->grp, &src->grp) != 0)
		goto fail;
	if (src->nreplicas > 0) {
		if ((dst->replicas = calloc(src->nreplicas,
		    sizeof(*dst->replicas))) == NULL)
			goto fail;
		for (uint32_t i = 0; i < src->nreplicas; i++) {
			dst->nreplicas = i + 1;
			if (ipcmsg_route_copy(&dst->replicas[i],
			    &src->replicas[i]) != 0)
				goto fail;
		}
	}
	return 0;
fail:
	ipcmsg_route_fini(dst);
	return -ENOMEM;
}

/* ---- MEMBERS, MEMBERS_REQ, LEAVE, KEYS_RELOAD ---- */

/* Smallest encoded member: state, self, eight empty strings, incarnation,
 * changed_ms, rtt_us. */
#define IPCMSG_MEMBER_MIN       (1 + 1 + 8 * 2 + 8 + 8 + 4)
#define IPCMSG_STATS_N          9

static void
ipcmsg_put_member(struct ipcmsg_wr *w, const struct ipcmsg_member *m)
{
	ipcmsg_put_u8(w, m->state);
	ipcmsg_put_u8(w, m->self);
	ipcmsg_put_str(w, m->name);
	ipcmsg_put_str(w, m->region);
	ipcmsg_put_str(w, m->addr);
	ipcmsg_put_str(w, m->http);
	ipcmsg_put_str(w, m->tunnel);
	ipcmsg_put_str(w, m->version);
	ipcmsg_put_u64(w, m->incarnation);
	ipcmsg_put_u64(w, m->changed_ms);
	ipcmsg_put_u32(w, m->rtt_us);
	ipcmsg_put_str(w, m->mesh);
	ipcmsg_put_str(w, m->repl);
}

static void
ipcmsg_get_member(struct ipcmsg_rd *r, struct ipcmsg_member *m)
{
	m->state = ipcmsg_get_u8(r);
	m->self = ipcmsg_get_u8(r);
	m->name = ipcmsg_get_str(r);
	m->region = ipcmsg_get_str(r);
	m->addr = ipcmsg_get_str(r);
	m->http = ipcmsg_get_str(r);
	m->tunnel = ipcmsg_get_str(r);
	m->version = ipcmsg_get_str(r);
	m->incarnation = ipcmsg_get_u64(r);
	m->changed_ms = ipcmsg_get_u64(r);
	m->rtt_us = ipcmsg_get_u32(r);
	m->mesh = ipcmsg_get_str(r);
	m->repl = ipcmsg_get_str(r);
	if (r->err == 0 && (m->state > MEMBER_LEFT || m->self > 1))
		r->err = -EINVAL;
}

static uint64_t *
ipcmsg_stats_field(struct ipcmsg_gossip_stats *s, int i)
{
	uint64_t *f[IPCMSG_STATS_N] = { &s->udp_tx_bytes, &s->udp_rx_bytes,
	    &s->tcp_tx_bytes, &s->tcp_rx_bytes, &s->udp_tx_packets,
	    &s->udp_rx_packets, &s->drop_unknown_key, &s->drop_auth,
	    &s->drop_malformed };

	return f[i];
}

nng_msg *
ipcmsg_members_encode(const struct ipcmsg_members *m)
{
	struct ipcmsg_gossip_stats st = m->stats;
	struct ipcmsg_wr w;
	uint32_t i;
	int k;

	if (m->n > IPCMSG_MEMBERS_MAX || (m->n > 0 && m->members == NULL))
		return NULL;
	ipcmsg_wr_init(&w, IPCMSG_MEMBERS, 96 + (size_t)m->n * 96);
	ipcmsg_put_u8(&w, m->kind);
	ipcmsg_put_u8(&w, m->event);
	ipcmsg_put_u64(&w, m->epoch);
	ipcmsg_put_u64(&w, m->seq);
	for (k = 0; k < IPCMSG_STATS_N; k++)
		ipcmsg_put_u64(&w, *ipcmsg_stats_field(&st, k));
	ipcmsg_put_u32(&w, m->n);
	for (i = 0; i < m->n && w.err == 0; i++)
		ipcmsg_put_member(&w, &m->members[i]);
	return ipcmsg_wr_end(&w);
}

int
ipcmsg_members_decode(struct ipcmsg_members *m, const void *buf, size_t len)
{
	struct ipcmsg_rd r;
	uint32_t i, n;
	int k;

	memset(m, 0, sizeof(*m));
	ipcmsg_rd_init(&r, buf, len, IPCMSG_MEMBERS);
	m->kind = ipcmsg_get_u8(&r);
	m->event = ipcmsg_get_u8(&r);
	m->epoch = ipcmsg_get_u64(&r);
	m->seq = ipcmsg_get_u64(&r);
	for (k = 0; k < IPCMSG_STATS_N; k++)
		*ipcmsg_stats_field(&m->stats, k) = ipcmsg_get_u64(&r);
	n = ipcmsg_get_u32(&r);
	if (r.err == 0 && (m->kind > MEMBERS_BEACON || m->event > MEMBER_EV_META ||
	    n > IPCMSG_MEMBERS_MAX ||
	    (size_t)n > (r.len - r.off) / IPCMSG_MEMBER_MIN))
		r.err = -EINVAL;
	if (r.err == 0 && n > 0 &&
	    (m->members = calloc(n, sizeof(*m->members))) == NULL)
		r.err = -ENOMEM;
	for (i = 0; i < n && r.err == 0; i++) {
		ipcmsg_get_member(&r, &m->members[i]);
		m->n = i + 1;
	}
	if (ipcmsg_rd_end(&r) != 0)
		ipcmsg_members_fini(m);
	return r.err;
}

void
ipcmsg_member_fini(struct ipcmsg_member *m)
{
	if (m == NULL)
		return;
	free(m->name);
	free(m->region);
	free(m->addr);
	free(m->http);
	free(m->tunnel);
	free(m->version);
	free(m->mesh);
	free(m->repl);
	memset(m, 0, sizeof(*m));
}

void
ipcmsg_members_fini(struct ipcmsg_members *m)
{
	uint32_t i;

	if (m->members != NULL)
		for (i = 0; i < m->n; i++)
			ipcmsg_member_fini(&m->members[i]);
	free(m->members);
	memset(m, 0, sizeof(*m));
}

int
ipcmsg_member_copy(struct ipcmsg_member *dst, const struct ipcmsg_member *src)
{
	*dst = *src;
	dst->name = strdup(src->name != NULL ? src->name : "");
	dst->region = strdup(src->region != NULL ? src->region : "");
	dst->addr = strdup(src->addr != NULL ? src->addr : "");
	dst->http = strdup(src->http != NULL ? src->http : "");
	dst->tunnel = strdup(src->tunnel != NULL ? src->tunnel : "");
	dst->version = strdup(src->version != NULL ? src->version : "");
	dst->mesh = strdup(src->mesh != NULL ? src->mesh : "");
	dst->repl = strdup(src->repl != NULL ? src->repl : "");
	if (dst->name == NULL || dst->region == NULL || dst->addr == NULL ||
	    dst->http == NULL || dst->tunnel == NULL || dst->version == NULL ||
	    dst->mesh == NULL || dst->repl == NULL) {
		ipcmsg_member_fini(dst);
		return -ENOMEM;
	}
	return 0;
}

nng_msg *
ipcmsg_empty_encode(uint8_t type)
{
	struct ipcmsg_wr w;

	ipcmsg_wr_init(&w, type, 0);
	return ipcmsg_wr_end(&w);
}

int
ipcmsg_empty_decode(uint8_t type, const void *buf, size_t len)
{
	struct ipcmsg_rd r;

	ipcmsg_rd_init(&r, buf, len, type);
	return ipcmsg_rd_end(&r);
}

/* ---- REPL_INFO and other long texts ---- */

nng_msg *
ipcmsg_text_encode(uint8_t type, const char *text)
{
	struct ipcmsg_wr w;
	size_t n = text != NULL ? strlen(text) : 0;

	if (n > IPCMSG_TEXT_MAX)
		return NULL;
	ipcmsg_wr_init(&w, type, 8 + n);
	ipcmsg_put_u32(&w, (uint32_t)n);
	if (n > 0)
		ipcmsg_put(&w, text, n);
	return ipcmsg_wr_end(&w);
}

int
ipcmsg_text_decode(uint8_t type, char **out, const void *buf, size_t len)
{
	struct ipcmsg_rd r;
	size_t n;
	char *s = NULL;

	ipcmsg_rd_init(&r, buf, len, type);
	n = ipcmsg_get_u32(&r);
	if (r.err == 0 && (n > IPCMSG_TEXT_MAX || !ipcmsg_rd_need(&r, n) ||
	    memchr(r.p + r.off, '\0', n) != NULL))
		r.err = -EINVAL;
	if (r.err == 0 && (s = malloc(n + 1)) == NULL)
		r.err = -ENOMEM;
	if (r.err == 0) {
		memcpy(s, r.p + r.off, n);
		s[n] = '\0';
		r.off += n;
	}
	if (ipcmsg_rd_end(&r) != 0) {
		free(s);
		return r.err;
	}
	*out = s;
	return 0;
}
