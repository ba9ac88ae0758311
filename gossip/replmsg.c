#include "gossip/replmsg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- decoding ----------------------------------------------------------- */

struct replmsg_cur {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const uint8_t *
replmsg_take(struct replmsg_cur *c, size_t n)
{
	const uint8_t *q;

	if (c->bad || n > c->len - c->off) {
		c->bad = true;
		return NULL;
	}
	q = c->p + c->off;
	c->off += n;
	return q;
}

static uint8_t
replmsg_u8(struct replmsg_cur *c)
{
	const uint8_t *q = replmsg_take(c, 1);

	return q != NULL ? q[0] : 0;
}

static uint16_t
replmsg_u16(struct replmsg_cur *c)
{
	const uint8_t *q = replmsg_take(c, 2);

	return q != NULL ? (uint16_t)(q[0] | q[1] << 8) : 0;
}

static uint32_t
replmsg_u32(struct replmsg_cur *c)
{
	const uint8_t *q = replmsg_take(c, 4);

	return q != NULL ? (uint32_t)q[0] | (uint32_t)q[1] << 8 |
	    (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24 : 0;
}

static uint64_t
replmsg_u64(struct replmsg_cur *c)
{
	uint64_t lo = replmsg_u32(c);

	return lo | (uint64_t)replmsg_u32(c) << 32;
}

static void
replmsg_str(struct replmsg_cur *c, char *out)
{
	uint8_t n = replmsg_u8(c);
	const uint8_t *q;

	out[0] = '\0';
	if (n > REPLMSG_NAME_MAX) {
		c->bad = true;
		return;
	}
	if ((q = replmsg_take(c, n)) == NULL)
		return;
	memcpy(out, q, n);
	out[n] = '\0';
	/* a NUL inside would make two names compare equal */
	if (memchr(out, '\0', n) != NULL)
		c->bad = true;
}

static void
replmsg_value(struct replmsg_cur *c, struct replmsg_value *v)
{
	uint64_t u;

	memset(v, 0, sizeof(*v));
	v->type = replmsg_u8(c);
	switch (v->type) {
	case REPLMSG_V_NULL:
		break;
	case REPLMSG_V_INT:
		v->i = (int64_t)replmsg_u64(c);
		break;
	case REPLMSG_V_REAL:
		u = replmsg_u64(c);
		memcpy(&v->r, &u, sizeof(u));
		break;
	case REPLMSG_V_TEXT:
	case REPLMSG_V_BLOB:
		v->len = replmsg_u32(c);
		if (v->len > REPLMSG_VALUE_MAX) {
			c->bad = true;
			return;
		}
		v->p = replmsg_take(c, v->len);
		break;
	default:
		c->bad = true;
	}
}

bool
replmsg_is(const void *buf, size_t len)
{
	return len >= 1 && ((const uint8_t *)buf)[0] == REPLMSG_MAGIC;
}

void
replmsg_fini(struct replmsg *m)
{
	free(m->actors);
	free(m->heads);
	free(m->changes);
	memset(m, 0, sizeof(*m));
}

/* The smallest encodings, to bound counts by the bytes left. */
#define REPLMSG_MIN_ACTOR       1
#define REPLMSG_MIN_HEAD        10
#define REPLMSG_MIN_CHANGE      (1 + 1 + 1 + 1 + 8 + 2 + 8)

int
replmsg_decode(struct replmsg *m, const void *buf, size_t len)
{
	struct replmsg_cur c = { buf, len, 0, false };
	struct replmsg_change *ch;
	uint32_t i;

	memset(m, 0, sizeof(*m));
	if (replmsg_u8(&c) != REPLMSG_MAGIC)
		return -EINVAL;
	m->type = replmsg_u8(&c);
	m->flags = replmsg_u8(&c);
	m->ttl = replmsg_u8(&c);
	if (c.bad || m->type < REPLMSG_CHANGES || m->type > REPLMSG_HEADS)
		return -EINVAL;
	m->nactors = replmsg_u16(&c);
	if (c.bad || m->nactors > REPLMSG_ACTORS_MAX ||
	    m->nactors > (len - c.off) / REPLMSG_MIN_ACTOR)
		return -EINVAL;
	if (m->nactors > 0 && (m->actors = calloc(m->nactors,
	    sizeof(*m->actors))) == NULL)
		return -ENOMEM;
	for (i = 0; i < m->nactors && !c.bad; i++) {
		replmsg_str(&c, m->actors[i]);
		if (m->actors[i][0] == '\0')
			c.bad = true;
	}
	m->nheads = replmsg_u32(&c);
	if (c.bad || m->nheads > (len - c.off) / REPLMSG_MIN_HEAD)
		goto bad;
	if (m->nheads > 0 && (m->heads = calloc(m->nheads,
	    sizeof(*m->heads))) == NULL)
		goto nomem;
	for (i = 0; i < m->nheads && !c.bad; i++) {
		m->heads[i].actor = replmsg_u16(&c);
		m->heads[i].version = replmsg_u64(&c);
		if (m->heads[i].actor >= m->nactors)
			c.bad = true;
	}
	m->nchanges = replmsg_u32(&c);
	if (c.bad || m->nchanges > (len - c.off) / REPLMSG_MIN_CHANGE)
		goto bad;
	if (m->nchanges > 0 && (m->changes = calloc(m->nchanges,
	    sizeof(*m->changes))) == NULL)
		goto nomem;
	for (i = 0; i < m->nchanges && !c.bad; i++) {
		ch = &m->changes[i];
		replmsg_str(&c, ch->tbl);
		replmsg_value(&c, &ch->pk);
		replmsg_str(&c, ch->col);
		replmsg_value(&c, &ch->val);
		ch->hlc = replmsg_u64(&c);
		ch->actor = replmsg_u16(&c);
		ch->version = replmsg_u64(&c);
		if (ch->tbl[0] == '\0' || ch->actor >= m->nactors ||
		    ch->pk.type == REPLMSG_V_NULL)
			c.bad = true;
	}
	if (c.bad || c.off != len)
		goto bad;
	return 0;
bad:
	replmsg_fini(m);
	return -EINVAL;
nomem:
	replmsg_fini(m);
	return -ENOMEM;
}

/* --- encoding ----------------------------------------------------------- */

struct replmsg_out {
	uint8_t *p;
	size_t cap, len;
	bool over;
};

static void
replmsg_put(struct replmsg_out *o, const void *src, size_t n)
{
	if (o->over || n > o->cap - o->len) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->len, src, n);
	o->len += n;
}

static void
replmsg_put_uint(struct replmsg_out *o, uint64_t v, size_t bytes)
{
	uint8_t b[8];
	size_t i;

	for (i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	replmsg_put(o, b, bytes);
}

static void
replmsg_put_str(struct replmsg_out *o, const char *s)
{
	size_t n = strlen(s);

	replmsg_put_uint(o, n, 1);
	replmsg_put(o, s, n);
}

static void
replmsg_put_value(struct replmsg_out *o, const struct replmsg_value *v)
{
	uint64_t u;

	replmsg_put_uint(o, v->type, 1);
	switch (v->type) {
	case REPLMSG_V_INT:
		replmsg_put_uint(o, (uint64_t)v->i, 8);
		break;
	case REPLMSG_V_REAL:
		memcpy(&u, &v->r, sizeof(u));
		replmsg_put_uint(o, u, 8);
		break;
	case REPLMSG_V_TEXT:
	case REPLMSG_V_BLOB:
		replmsg_put_uint(o, v->len, 4);
		replmsg_put(o, v->p, v->len);
		break;
	default:
		break;
	}
}

static size_t
replmsg_value_size(const struct replmsg_value *v)
{
	switch (v->type) {
	case REPLMSG_V_NULL:
		return 1;
	case REPLMSG_V_INT:
	case REPLMSG_V_REAL:
		return 9;
	case REPLMSG_V_TEXT:
	case REPLMSG_V_BLOB:
		return v->len <= REPLMSG_VALUE_MAX ? 5 + (size_t)v->len : 0;
	default:
		return 0;
	}
}

size_t
replmsg_change_size(const struct replmsg_change *c)
{
	size_t pk = replmsg_value_size(&c->pk), val = replmsg_value_size(&c->val);

	if (pk == 0 || val == 0 || strlen(c->tbl) > REPLMSG_NAME_MAX ||
	    strlen(c->col) > REPLMSG_NAME_MAX)
		return 0;
	return 1 + strlen(c->tbl) + pk + 1 + strlen(c->col) + val + 8 + 2 + 8;
}

size_t
replmsg_size(const struct replmsg *m)
{
	size_t n = 4 + 2 + 4 + 4, k;
	uint32_t i;

	if (m->nactors > REPLMSG_ACTORS_MAX)
		return 0;
	for (i = 0; i < m->nactors; i++) {
		if (strlen(m->actors[i]) > REPLMSG_NAME_MAX)
			return 0;
		n += 1 + strlen(m->actors[i]);
	}
	n += (size_t)m->nheads * 10;
	for (i = 0; i < m->nchanges; i++) {
		if ((k = replmsg_change_size(&m->changes[i])) == 0)
			return 0;
		n += k;
	}
	return n;
}

int
replmsg_encode(const struct replmsg *m, void *buf, size_t cap)
{
	struct replmsg_out o = { buf, cap, 0, false };
	const struct replmsg_change *c;
	uint32_t i;

	if (replmsg_size(m) == 0)
		return -EINVAL;
	replmsg_put_uint(&o, REPLMSG_MAGIC, 1);
	replmsg_put_uint(&o, m->type, 1);
	replmsg_put_uint(&o, m->flags, 1);
	replmsg_put_uint(&o, m->ttl, 1);
	replmsg_put_uint(&o, m->nactors, 2);
	for (i = 0; i < m->nactors; i++)
		replmsg_put_str(&o, m->actors[i]);
	replmsg_put_uint(&o, m->nheads, 4);
	for (i = 0; i < m->nheads; i++) {
		if (m->heads[i].actor >= m->nactors)
			return -EINVAL;
		replmsg_put_uint(&o, m->heads[i].actor, 2);
		replmsg_put_uint(&o, m->heads[i].version, 8);
	}
	replmsg_put_uint(&o, m->nchanges, 4);
	for (i = 0; i < m->nchanges; i++) {
		c = &m->changes[i];
		if (c->actor >= m->nactors)
			return -EINVAL;
		replmsg_put_str(&o, c->tbl);
		replmsg_put_value(&o, &c->pk);
		replmsg_put_str(&o, c->col);
		replmsg_put_value(&o, &c->val);
		replmsg_put_uint(&o, c->hlc, 8);
		replmsg_put_uint(&o, c->actor, 2);
		replmsg_put_uint(&o, c->version, 8);
	}
	return o.over ? -ENOSPC : (int)o.len;
}

int
replmsg_actor_index(struct replmsg *m, const char *actor)
{
	void *p;
	uint16_t i;

	for (i = 0; i < m->nactors; i++)
		if (strcmp(m->actors[i], actor) == 0)
			return i;
	if (m->nactors >= REPLMSG_ACTORS_MAX || strlen(actor) > REPLMSG_NAME_MAX ||
	    actor[0] == '\0')
		return -E2BIG;
	if ((p = realloc(m->actors, (m->nactors + 1u) * sizeof(*m->actors))) == NULL)
		return -ENOMEM;
	m->actors = p;
	snprintf(m->actors[m->nactors], sizeof(m->actors[0]), "%s", actor);
	return m->nactors++;
}
