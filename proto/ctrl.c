#include "ctrl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct ctrl_w {
	uint8_t *p;
	size_t cap, n;
	bool err;
};

struct ctrl_r {
	const uint8_t *p;
	size_t len, n;
	bool err;
};

static void
w_bytes(struct ctrl_w *w, const void *p, size_t len)
{
	if (w->err || w->cap - w->n < len) {
		w->err = true;
		return;
	}
	if (len == 0)
		return;         /* p is NULL for a NULL string: memcpy forbids it */
	memcpy(w->p + w->n, p, len);
	w->n += len;
}

static void
w_u8(struct ctrl_w *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void
w_u16(struct ctrl_w *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	w_bytes(w, b, 2);
}

static void
w_u32(struct ctrl_w *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };
	w_bytes(w, b, 4);
}

static void
w_str(struct ctrl_w *w, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len > CTRL_STR_MAX) {
		w->err = true;
		return;
	}
	w_u16(w, (uint16_t)len);
	w_bytes(w, s, len);
}

static const uint8_t *
r_bytes(struct ctrl_r *r, size_t len)
{
	const uint8_t *p;

	if (r->err || r->len - r->n < len) {
		r->err = true;
		return NULL;
	}
	p = r->p + r->n;
	r->n += len;
	return p;
}

static uint8_t
r_u8(struct ctrl_r *r)
{
	const uint8_t *p = r_bytes(r, 1);
	return p ? p[0] : 0;
}

static uint16_t
r_u16(struct ctrl_r *r)
{
	const uint8_t *p = r_bytes(r, 2);
	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

static uint32_t
r_u32(struct ctrl_r *r)
{
	const uint8_t *p = r_bytes(r, 4);
	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3] : 0;
}

/* Strings must be valid text: no NUL or control bytes (they end up in
 * logs, URLs and HTTP headers). */
static char *
r_str(struct ctrl_r *r)
{
	uint16_t len = r_u16(r);
	const uint8_t *p;
	char *s;
	size_t i;

	if (r->err)
		return NULL;
	if (len > CTRL_STR_MAX) {
		r->err = true;
		return NULL;
	}
	if ((p = r_bytes(r, len)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			r->err = true;
			return NULL;
		}
	}
	if ((s = malloc((size_t)len + 1)) == NULL) {
		r->err = true;
		return NULL;
	}
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

int
ctrl_msg_encode(const struct ctrl_msg *m, uint8_t *out, size_t cap)
{
	struct ctrl_w w = { out, cap, 0, false };

	w_u8(&w, m->type);
	switch (m->type) {
	case CTRL_HELLO:
		w_u16(&w, m->version);
		w_str(&w, m->client_id);
		w_str(&w, m->token);
		w_str(&w, m->agent);
		break;
	case CTRL_WELCOME:
		w_u16(&w, m->version);
		w_str(&w, m->agent);
		break;
	case CTRL_REGISTER:
		w_u32(&w, m->tunnel_id);
		w_u8(&w, m->kind);
		w_u16(&w, m->port);
		w_str(&w, m->subdomain);
		w_str(&w, m->domains);
		w_str(&w, m->basic_auth);
		w_str(&w, m->allow_ips);
		w_str(&w, m->deny_ips);
		if (m->group != NULL && m->group[0] != '\0') {
			w_str(&w, m->group);
			w_str(&w, m->region);
			w_u32(&w, m->weight);
			w_u32(&w, m->soft_limit);
			w_u32(&w, m->hard_limit);
		}
		break;
	case CTRL_REGISTERED:
		w_u32(&w, m->tunnel_id);
		w_u8(&w, m->status);
		w_u16(&w, m->port);
		w_str(&w, m->url);
		w_str(&w, m->error);
		break;
	case CTRL_UNREGISTER:
		w_u32(&w, m->tunnel_id);
		break;
	case CTRL_ERROR:
		w_u8(&w, m->status);
		w_str(&w, m->error);
		break;
	default:
		return -EINVAL;
	}
	return w.err ? -ENOSPC : (int)w.n;
}

int
ctrl_msg_decode(struct ctrl_msg *m, const uint8_t *p, size_t len)
{
	struct ctrl_r r = { p, len, 0, false };

	memset(m, 0, sizeof(*m));
	if (len > CTRL_MSG_MAX)
		return -EINVAL;
	m->type = r_u8(&r);
	switch (m->type) {
	case CTRL_HELLO:
		m->version = r_u16(&r);
		m->client_id = r_str(&r);
		m->token = r_str(&r);
		m->agent = r_str(&r);
		break;
	case CTRL_WELCOME:
		m->version = r_u16(&r);
		m->agent = r_str(&r);
		break;
	case CTRL_REGISTER:
		m->tunnel_id = r_u32(&r);
		m->kind = r_u8(&r);
		m->port = r_u16(&r);
		m->subdomain = r_str(&r);
		m->domains = r_str(&r);
		if (!r.err && r.n < r.len) {
			m->basic_auth = r_str(&r);
			m->allow_ips = r_str(&r);
			m->deny_ips = r_str(&r);
		}
		if (!r.err && r.n < r.len) {
			/* read only when whole: what follows may be a later
			 * version's fields */
			size_t at = r.n;

			m->group = r_str(&r);
			m->region = r_str(&r);
			m->weight = r_u32(&r);
			m->soft_limit = r_u32(&r);
			m->hard_limit = r_u32(&r);
			if (r.err) {
				free(m->group);
				free(m->region);
				m->group = m->region = NULL;
				m->weight = m->soft_limit = m->hard_limit = 0;
				r.err = false;
				r.n = at;
			}
		}
		break;
	case CTRL_REGISTERED:
		m->tunnel_id = r_u32(&r);
		m->status = r_u8(&r);
		m->port = r_u16(&r);
		m->url = r_str(&r);
		m->error = r_str(&r);
		break;
	case CTRL_UNREGISTER:
		m->tunnel_id = r_u32(&r);
		break;
	case CTRL_ERROR:
		m->status = r_u8(&r);
		m->error = r_str(&r);
		break;
	default:
		r.err = true;
	}
	/* trailing bytes are allowed: later versions append fields */
	if (r.err) {
		ctrl_msg_fini(m);
		return -EINVAL;
	}
	return 0;
}

void
ctrl_msg_fini(struct ctrl_msg *m)
{
	free(m->client_id);
	free(m->token);
	free(m->agent);
	free(m->subdomain);
	free(m->domains);
	free(m->url);
	free(m->error);
	free(m->basic_auth);
	free(m->allow_ips);
	free(m->deny_ips);
	free(m->group);
	free(m->region);
	m->basic_auth = m->allow_ips = m->deny_ips = m->group = m->region = NULL;
	m->client_id = m->token = m->agent = m->subdomain = m->domains =
	    m->url = m->error = NULL;
}

int
ctrl_open_encode(const struct ctrl_open *o, uint8_t *out, size_t cap)
{
	struct ctrl_w w = { out, cap, 0, false };

	w_u32(&w, o->tunnel_id);
	w_str(&w, o->peer);
	w_str(&w, o->host);
	return w.err ? -ENOSPC : (int)w.n;
}

int
ctrl_open_decode(struct ctrl_open *o, const uint8_t *p, size_t len)
{
	struct ctrl_r r = { p, len, 0, false };

	memset(o, 0, sizeof(*o));
	o->tunnel_id = r_u32(&r);
	o->peer = r_str(&r);
	o->host = r_str(&r);
	if (r.err) {
		ctrl_open_fini(o);
		return -EINVAL;
	}
	return 0;
}

void
ctrl_open_fini(struct ctrl_open *o)
{
	free(o->peer);
	free(o->host);
	o->peer = o->host = NULL;
}
