#include "swimmsg.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* --- decoding ----------------------------------------------------------- */

/* A bounded cursor over one message body. Any read past the end sets bad. */
struct swimmsg_cur {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const uint8_t *
swimmsg_take(struct swimmsg_cur *c, size_t n)
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
swimmsg_u8(struct swimmsg_cur *c)
{
	const uint8_t *q = swimmsg_take(c, 1);

	return q ? q[0] : 0;
}

static uint16_t
swimmsg_u16(struct swimmsg_cur *c)
{
	const uint8_t *q = swimmsg_take(c, 2);

	return q ? (uint16_t)(q[0] | q[1] << 8) : 0;
}

static uint32_t
swimmsg_u32(struct swimmsg_cur *c)
{
	const uint8_t *q = swimmsg_take(c, 4);

	return q ? (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
	    (uint32_t)q[3] << 24 : 0;
}

static uint64_t
swimmsg_u64(struct swimmsg_cur *c)
{
	uint64_t lo = swimmsg_u32(c);

	return lo | (uint64_t)swimmsg_u32(c) << 32;
}

/* u8 length + bytes into out (max bytes + NUL); rejects NULs and empties
 * when need is set. */
static void
swimmsg_str(struct swimmsg_cur *c, char *out, size_t max, bool need)
{
	uint8_t n = swimmsg_u8(c);
	const uint8_t *q;

	out[0] = '\0';
	if (n > max || (need && n == 0)) {
		c->bad = true;
		return;
	}
	if ((q = swimmsg_take(c, n)) == NULL)
		return;
	if (memchr(q, '\0', n) != NULL) {
		c->bad = true;
		return;
	}
	memcpy(out, q, n);
	out[n] = '\0';
}

static void
swimmsg_addr_get(struct swimmsg_cur *c, struct swimmsg_addr *a)
{
	const uint8_t *q;

	memset(a, 0, sizeof(*a));
	a->family = swimmsg_u8(c);
	if (a->family == 4 || a->family == 6) {
		size_t n = a->family == 4 ? 4 : 16;

		if ((q = swimmsg_take(c, n)) != NULL)
			memcpy(a->ip, q, n);
	} else if (a->family != 0) {
		c->bad = true;
		return;
	}
	a->port = swimmsg_u16(c);
}

static void
swimmsg_meta_get(struct swimmsg_cur *c, struct swimmsg *m)
{
	uint16_t n = swimmsg_u16(c);

	if (n > SWIMMSG_META_MAX) {
		c->bad = true;
		return;
	}
	m->meta = swimmsg_take(c, n);
	m->meta_len = m->meta ? n : 0;
}

/* Decodes one body; returns true if well formed. */
static bool
swimmsg_body(struct swimmsg *m, uint8_t type, const uint8_t *p, size_t len)
{
	struct swimmsg_cur c = { p, len, 0, false };

	memset(m, 0, sizeof(*m));
	m->type = type;
	switch (type) {
	case SWIMMSG_PING:
		m->seq = swimmsg_u32(&c);
		swimmsg_str(&c, m->name, SWIMMSG_NAME_MAX, false);
		break;
	case SWIMMSG_PING_REQ:
		m->seq = swimmsg_u32(&c);
		m->flags = swimmsg_u8(&c);
		swimmsg_str(&c, m->name, SWIMMSG_NAME_MAX, true);
		swimmsg_addr_get(&c, &m->addr);
		if (m->addr.family == 0)
			c.bad = true;
		break;
	case SWIMMSG_ACK:
	case SWIMMSG_NACK:
		m->seq = swimmsg_u32(&c);
		break;
	case SWIMMSG_ALIVE:
		m->incarnation = swimmsg_u64(&c);
		swimmsg_str(&c, m->name, SWIMMSG_NAME_MAX, true);
		swimmsg_str(&c, m->region, SWIMMSG_REGION_MAX, false);
		swimmsg_addr_get(&c, &m->addr);
		swimmsg_meta_get(&c, m);
		break;
	case SWIMMSG_SUSPECT:
	case SWIMMSG_DEAD:
		m->incarnation = swimmsg_u64(&c);
		swimmsg_str(&c, m->name, SWIMMSG_NAME_MAX, true);
		swimmsg_str(&c, m->from, SWIMMSG_NAME_MAX, true);
		break;
	case SWIMMSG_LEAVE:
		m->incarnation = swimmsg_u64(&c);
		swimmsg_str(&c, m->name, SWIMMSG_NAME_MAX, true);
		break;
	case SWIMMSG_STATE_HEAD:
		m->flags = swimmsg_u8(&c);
		m->seq = swimmsg_u32(&c);
		swimmsg_str(&c, m->from, SWIMMSG_NAME_MAX, true);
		if (m->seq > SWIMMSG_STATE_MAX_COUNT)
			c.bad = true;
		break;
	case SWIMMSG_STATE:
		m->state = swimmsg_u8(&c);
		m->incarnation = swimmsg_u64(&c);
		swimmsg_str(&c, m->name, SWIMMSG_NAME_MAX, true);
		swimmsg_str(&c, m->region, SWIMMSG_REGION_MAX, false);
		swimmsg_addr_get(&c, &m->addr);
		swimmsg_meta_get(&c, m);
		if (m->state > SWIMMSG_S_LEFT)
			c.bad = true;
		break;
	default:
		c.bad = true;
		break;
	}
	return !c.bad;
}

static bool
swimmsg_known(uint8_t type)
{
	return type >= SWIMMSG_PING && type <= SWIMMSG_STATE;
}

int
swimmsg_reader_init(struct swimmsg_reader *r, const void *buf, size_t len)
{
	r->p = buf;
	r->len = len;
	r->off = 1;
	if (len == 0) {
		r->off = 0;
		return SWIMMSG_MALFORMED;
	}
	if (r->p[0] != SWIMMSG_VERSION) {
		r->off = r->len + 1;    /* poisons swimmsg_next */
		return SWIMMSG_UNSUPPORTED;
	}
	return SWIMMSG_OK;
}

int
swimmsg_next(struct swimmsg_reader *r, struct swimmsg *m)
{
	for (;;) {
		uint8_t type;
		size_t blen;

		if (r->off == r->len)
			return SWIMMSG_END;
		if (r->off == 0 || r->off > r->len ||
		    r->len - r->off < SWIMMSG_HDR_LEN) {
			r->off = r->len + 1;
			return SWIMMSG_MALFORMED;
		}
		type = r->p[r->off];
		blen = (size_t)r->p[r->off + 1] | (size_t)r->p[r->off + 2] << 8;
		if (blen > r->len - r->off - SWIMMSG_HDR_LEN) {
			r->off = r->len + 1;
			return SWIMMSG_MALFORMED;
		}
		r->off += SWIMMSG_HDR_LEN;
		if (!swimmsg_known(type)) {
			r->off += blen;
			continue;
		}
		if (!swimmsg_body(m, type, r->p + r->off, blen)) {
			r->off = r->len + 1;
			return SWIMMSG_MALFORMED;
		}
		r->off += blen;
		return SWIMMSG_OK;
	}
}

int
swimmsg_validate(const void *buf, size_t len, size_t *count)
{
	struct swimmsg_reader r;
	struct swimmsg m;
	size_t n = 0;
	int rc;

	if ((rc = swimmsg_reader_init(&r, buf, len)) != SWIMMSG_OK)
		return rc;
	while ((rc = swimmsg_next(&r, &m)) == SWIMMSG_OK)
		n++;
	if (rc != SWIMMSG_END)
		return rc;
	*count = n;
	return SWIMMSG_OK;
}

/* --- encoding ----------------------------------------------------------- */

static size_t
swimmsg_addr_size(const struct swimmsg_addr *a)
{
	return 1 + (a->family == 4 ? 4 : a->family == 6 ? 16 : 0) + 2;
}

static bool
swimmsg_str_ok(const char *s, size_t max, bool need)
{
	size_t n = strnlen(s, max + 1);

	return n <= max && (n > 0 || !need);
}

/* Body size, or 0 when a field is out of range. */
static size_t
swimmsg_body_size(const struct swimmsg *m)
{
	size_t n = strnlen(m->name, SWIMMSG_NAME_MAX + 1);
	size_t f = strnlen(m->from, SWIMMSG_NAME_MAX + 1);
	size_t rg = strnlen(m->region, SWIMMSG_REGION_MAX + 1);
	bool addr_ok = m->addr.family == 0 || m->addr.family == 4 ||
	    m->addr.family == 6;

	switch (m->type) {
	case SWIMMSG_PING:
		if (!swimmsg_str_ok(m->name, SWIMMSG_NAME_MAX, false))
			return 0;
		return 4 + 1 + n;
	case SWIMMSG_PING_REQ:
		if (!swimmsg_str_ok(m->name, SWIMMSG_NAME_MAX, true) ||
		    m->addr.family == 0 || !addr_ok)
			return 0;
		return 4 + 1 + 1 + n + swimmsg_addr_size(&m->addr);
	case SWIMMSG_ACK:
	case SWIMMSG_NACK:
		return 4;
	case SWIMMSG_ALIVE:
	case SWIMMSG_STATE:
		if (!swimmsg_str_ok(m->name, SWIMMSG_NAME_MAX, true) ||
		    !swimmsg_str_ok(m->region, SWIMMSG_REGION_MAX, false) ||
		    !addr_ok || m->meta_len > SWIMMSG_META_MAX ||
		    (m->type == SWIMMSG_STATE && m->state > SWIMMSG_S_LEFT))
			return 0;
		return (m->type == SWIMMSG_STATE ? 1 : 0) + 8 + 1 + n + 1 + rg +
		    swimmsg_addr_size(&m->addr) + 2 + m->meta_len;
	case SWIMMSG_SUSPECT:
	case SWIMMSG_DEAD:
		if (!swimmsg_str_ok(m->name, SWIMMSG_NAME_MAX, true) ||
		    !swimmsg_str_ok(m->from, SWIMMSG_NAME_MAX, true))
			return 0;
		return 8 + 1 + n + 1 + f;
	case SWIMMSG_LEAVE:
		if (!swimmsg_str_ok(m->name, SWIMMSG_NAME_MAX, true))
			return 0;
		return 8 + 1 + n;
	case SWIMMSG_STATE_HEAD:
		if (!swimmsg_str_ok(m->from, SWIMMSG_NAME_MAX, true) ||
		    m->seq > SWIMMSG_STATE_MAX_COUNT)
			return 0;
		return 1 + 4 + 1 + f;
	default:
		return 0;
	}
}

size_t
swimmsg_size(const struct swimmsg *m)
{
	size_t b = swimmsg_body_size(m);

	return b ? SWIMMSG_HDR_LEN + b : 0;
}

static uint8_t *
swimmsg_w8(uint8_t *q, uint8_t v)
{
	*q = v;
	return q + 1;
}

static uint8_t *
swimmsg_w16(uint8_t *q, uint16_t v)
{
	q[0] = (uint8_t)v;
	q[1] = (uint8_t)(v >> 8);
	return q + 2;
}

static uint8_t *
swimmsg_w32(uint8_t *q, uint32_t v)
{
	q = swimmsg_w16(q, (uint16_t)v);
	return swimmsg_w16(q, (uint16_t)(v >> 16));
}

static uint8_t *
swimmsg_w64(uint8_t *q, uint64_t v)
{
	q = swimmsg_w32(q, (uint32_t)v);
	return swimmsg_w32(q, (uint32_t)(v >> 32));
}

static uint8_t *
swimmsg_wstr(uint8_t *q, const char *s)
{
	size_t n = strlen(s);

	*q++ = (uint8_t)n;
	memcpy(q, s, n);
	return q + n;
}

static uint8_t *
swimmsg_waddr(uint8_t *q, const struct swimmsg_addr *a)
{
	size_t n = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;

	*q++ = a->family;
	memcpy(q, a->ip, n);
	return swimmsg_w16(q + n, a->port);
}

int
swimmsg_encode(void *buf, size_t cap, const struct swimmsg *m)
{
	size_t blen = swimmsg_body_size(m);
	uint8_t *q = buf;

	if (blen == 0 || blen > UINT16_MAX)
		return -EINVAL;
	if (cap < SWIMMSG_HDR_LEN + blen)
		return -ENOSPC;
	q = swimmsg_w8(q, m->type);
	q = swimmsg_w16(q, (uint16_t)blen);
	switch (m->type) {
	case SWIMMSG_PING:
		q = swimmsg_w32(q, m->seq);
		q = swimmsg_wstr(q, m->name);
		break;
	case SWIMMSG_PING_REQ:
		q = swimmsg_w32(q, m->seq);
		q = swimmsg_w8(q, m->flags);
		q = swimmsg_wstr(q, m->name);
		q = swimmsg_waddr(q, &m->addr);
		break;
	case SWIMMSG_ACK:
	case SWIMMSG_NACK:
		q = swimmsg_w32(q, m->seq);
		break;
	case SWIMMSG_ALIVE:
	case SWIMMSG_STATE:
		if (m->type == SWIMMSG_STATE)
			q = swimmsg_w8(q, m->state);
		q = swimmsg_w64(q, m->incarnation);
		q = swimmsg_wstr(q, m->name);
		q = swimmsg_wstr(q, m->region);
		q = swimmsg_waddr(q, &m->addr);
		q = swimmsg_w16(q, m->meta_len);
		if (m->meta_len)
			memcpy(q, m->meta, m->meta_len);
		q += m->meta_len;
		break;
	case SWIMMSG_SUSPECT:
	case SWIMMSG_DEAD:
		q = swimmsg_w64(q, m->incarnation);
		q = swimmsg_wstr(q, m->name);
		q = swimmsg_wstr(q, m->from);
		break;
	case SWIMMSG_LEAVE:
		q = swimmsg_w64(q, m->incarnation);
		q = swimmsg_wstr(q, m->name);
		break;
	case SWIMMSG_STATE_HEAD:
		q = swimmsg_w8(q, m->flags);
		q = swimmsg_w32(q, m->seq);
		q = swimmsg_wstr(q, m->from);
		break;
	}
	return (int)(q - (uint8_t *)buf);
}

void
swimmsg_writer_init(struct swimmsg_writer *w, void *buf, size_t cap)
{
	w->p = buf;
	w->cap = cap;
	w->len = 0;
	if (cap > 0)
		w->p[w->len++] = SWIMMSG_VERSION;
}

int
swimmsg_put(struct swimmsg_writer *w, const struct swimmsg *m)
{
	int n = swimmsg_encode(w->p + w->len, w->cap - w->len, m);

	if (n < 0)
		return n;
	w->len += (size_t)n;
	return 0;
}

int
swimmsg_put_raw(struct swimmsg_writer *w, const void *enc, size_t len)
{
	if (len > w->cap - w->len)
		return -ENOSPC;
	memcpy(w->p + w->len, enc, len);
	w->len += len;
	return 0;
}

/* --- addresses ---------------------------------------------------------- */

int
swimmsg_addr_from_sockaddr(struct swimmsg_addr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		a->family = 4;
		memcpy(a->ip, &in->sin_addr, 4);
		a->port = ntohs(in->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		a->family = 6;
		memcpy(a->ip, &in6->sin6_addr, 16);
		a->port = ntohs(in6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int
swimmsg_addr_to_sockaddr(const struct swimmsg_addr *a,
    struct sockaddr_storage *ss, unsigned *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, a->ip, 4);
		in->sin_port = htons(a->port);
		*len = sizeof(*in);
		return 0;
	}
	if (a->family == 6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, a->ip, 16);
		in6->sin6_port = htons(a->port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EAFNOSUPPORT;
}

bool
swimmsg_addr_eq(const struct swimmsg_addr *a, const struct swimmsg_addr *b)
{
	size_t n = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;

	return a->family == b->family && a->port == b->port &&
	    memcmp(a->ip, b->ip, n) == 0;
}
