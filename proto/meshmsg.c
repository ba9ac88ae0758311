#include "meshmsg.h"

#include <errno.h>
#include <string.h>

static const char meshmsg_magic[7] = { 'W', 'R', 'N', 'M', 'E', 'S', 'H' };

int
meshmsg_hello_encode(const struct meshmsg_hello *h, uint8_t *out, size_t cap)
{
	size_t nl = strlen(h->name), n = sizeof(meshmsg_magic) + 2 + nl +
	    MESHMSG_NONCE_LEN;

	if (nl == 0 || nl > MESHMSG_NAME_MAX)
		return -EINVAL;
	if (n > cap)
		return -ENOSPC;
	memcpy(out, meshmsg_magic, sizeof(meshmsg_magic));
	out[7] = MESHMSG_VERSION;
	out[8] = (uint8_t)nl;
	memcpy(out + 9, h->name, nl);
	memcpy(out + 9 + nl, h->nonce, MESHMSG_NONCE_LEN);
	return (int)n;
}

int
meshmsg_hello_decode(struct meshmsg_hello *h, const uint8_t *buf, size_t len)
{
	size_t nl, i;

	/* a wrong first byte is wrong at once, not after 9 bytes */
	for (i = 0; i < len && i < sizeof(meshmsg_magic); i++)
		if (buf[i] != (uint8_t)meshmsg_magic[i])
			return -EINVAL;
	if (len >= 8 && buf[7] != MESHMSG_VERSION)
		return -EINVAL;
	if (len < 9)
		return 0;
	nl = buf[8];
	if (nl == 0 || nl > MESHMSG_NAME_MAX)
		return -EINVAL;
	if (len < 9 + nl + MESHMSG_NONCE_LEN)
		return 0;
	for (i = 0; i < nl; i++)
		if (buf[9 + i] <= ' ' || buf[9 + i] >= 0x7f)
			return -EINVAL;
	memcpy(h->name, buf + 9, nl);
	h->name[nl] = '\0';
	memcpy(h->nonce, buf + 9 + nl, MESHMSG_NONCE_LEN);
	return (int)(9 + nl + MESHMSG_NONCE_LEN);
}

int
meshmsg_proof_input(enum meshmsg_role role, const uint8_t *prover_nonce,
    const uint8_t *verifier_nonce, const char *prover, const char *verifier,
    uint8_t *out, size_t cap)
{
	size_t pl = strlen(prover), vl = strlen(verifier), n;

	if (pl > MESHMSG_NAME_MAX || vl > MESHMSG_NAME_MAX)
		return -EINVAL;
	n = 5 + 1 + 2 * MESHMSG_NONCE_LEN + 2 + pl + vl;
	if (n > cap)
		return -ENOSPC;
	memcpy(out, "proof", 5);
	out[5] = (uint8_t)role;
	memcpy(out + 6, prover_nonce, MESHMSG_NONCE_LEN);
	memcpy(out + 6 + MESHMSG_NONCE_LEN, verifier_nonce, MESHMSG_NONCE_LEN);
	out += 6 + 2 * MESHMSG_NONCE_LEN;
	*out++ = (uint8_t)pl;
	memcpy(out, prover, pl);
	out += pl;
	*out++ = (uint8_t)vl;
	memcpy(out, verifier, vl);
	return (int)n;
}

struct meshmsg_w {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void
meshmsg_put(struct meshmsg_w *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (w->cap - w->len < n) {
		w->err = -ENOSPC;
		return;
	}
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

static void
meshmsg_put_uint(struct meshmsg_w *w, uint64_t v, size_t n)
{
	uint8_t b[8];
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));       /* big-endian */
	meshmsg_put(w, b, n);
}

static void
meshmsg_put_str(struct meshmsg_w *w, const char *s)
{
	size_t n = strlen(s);

	if (n > MESHMSG_STR_MAX) {
		w->err = -EINVAL;
		return;
	}
	meshmsg_put_uint(w, n, 2);
	meshmsg_put(w, s, n);
}

int
meshmsg_fwd_encode(const struct meshmsg_fwd *f, uint8_t *out, size_t cap)
{
	struct meshmsg_w w = { out, 0, cap, 0 };

	meshmsg_put_uint(&w, MESHMSG_VERSION, 1);
	meshmsg_put_uint(&w, f->listener, 1);
	meshmsg_put_uint(&w, f->hops, 1);
	meshmsg_put_uint(&w, f->session, 8);
	meshmsg_put_uint(&w, f->tunnel_id, 4);
	meshmsg_put_uint(&w, f->port, 2);
	meshmsg_put_str(&w, f->client);
	meshmsg_put_str(&w, f->host);
	meshmsg_put_str(&w, f->from);
	meshmsg_put_str(&w, f->authz);
	return w.err ? w.err : (int)w.len;
}

struct meshmsg_r {
	const uint8_t *p;
	size_t len, off;
	int err;
};

static uint64_t
meshmsg_get_uint(struct meshmsg_r *r, size_t n)
{
	uint64_t v = 0;
	size_t i;

	if (r->err || r->len - r->off < n) {
		r->err = -EINVAL;
		return 0;
	}
	for (i = 0; i < n; i++)
		v = (v << 8) | r->p[r->off + i];
	r->off += n;
	return v;
}

static void
meshmsg_get_str(struct meshmsg_r *r, char *out)
{
	size_t n = (size_t)meshmsg_get_uint(r, 2);

	out[0] = '\0';
	if (r->err)
		return;
	if (n > MESHMSG_STR_MAX || r->len - r->off < n ||
	    memchr(r->p + r->off, '\0', n) != NULL) {
		r->err = -EINVAL;
		return;
	}
	memcpy(out, r->p + r->off, n);
	out[n] = '\0';
	r->off += n;
}

int
meshmsg_fwd_decode(struct meshmsg_fwd *f, const uint8_t *buf, size_t len)
{
	struct meshmsg_r r = { buf, len, 0, 0 };

	memset(f, 0, sizeof(*f));
	if (meshmsg_get_uint(&r, 1) != MESHMSG_VERSION)
		return -EINVAL;
	f->listener = (uint8_t)meshmsg_get_uint(&r, 1);
	f->hops = (uint8_t)meshmsg_get_uint(&r, 1);
	f->session = meshmsg_get_uint(&r, 8);
	f->tunnel_id = (uint32_t)meshmsg_get_uint(&r, 4);
	f->port = (uint16_t)meshmsg_get_uint(&r, 2);
	meshmsg_get_str(&r, f->client);
	meshmsg_get_str(&r, f->host);
	meshmsg_get_str(&r, f->from);
	meshmsg_get_str(&r, f->authz);
	if (r.err || r.off != len || f->listener < MESHMSG_HTTP ||
	    f->listener > MESHMSG_PROBE) {
		memset(f, 0, sizeof(*f));
		return -EINVAL;
	}
	return 0;
}
