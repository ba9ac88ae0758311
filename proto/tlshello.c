#include "tlshello.h"

#include <errno.h>
#include <string.h>

#define TLS_REC_HDR             5
#define TLS_REC_MAX             16384u  /* plaintext record, RFC 8446 5.1 */
#define TLS_CT_HANDSHAKE        22
#define TLS_HS_CLIENT_HELLO     1
#define TLS_HELLO_MIN           41      /* body with one suite, one method */

#define EXT_SERVER_NAME         0
#define EXT_ALPN                16
#define EXT_SUPPORTED_VERSIONS  43

/* A bounded cursor: what is left of a vector. */
struct rd {
	const uint8_t *p;
	size_t n;
};

static bool
rd_skip(struct rd *r, size_t n)
{
	if (r->n < n)
		return false;
	r->p += n;
	r->n -= n;
	return true;
}

static bool
rd_u8(struct rd *r, unsigned *v)
{
	if (r->n < 1)
		return false;
	*v = r->p[0];
	return rd_skip(r, 1);
}

static bool
rd_u16(struct rd *r, unsigned *v)
{
	if (r->n < 2)
		return false;
	*v = (unsigned)r->p[0] << 8 | r->p[1];
	return rd_skip(r, 2);
}

/* A vector with a `width`-byte length prefix: *sub gets its contents. */
static bool
rd_vec(struct rd *r, int width, struct rd *sub)
{
	unsigned n;

	if (!(width == 1 ? rd_u8(r, &n) : rd_u16(r, &n)) || r->n < n)
		return false;
	sub->p = r->p;
	sub->n = n;
	return rd_skip(r, n);
}

static int
hello_fail(struct tlshello *out, const char *reason)
{
	out->reason = reason;
	return -EINVAL;
}

/* Checks the n (< or >= 5) bytes of a record header that are there.
 * Returns 1 for a whole valid header, 0 for a valid prefix, -EINVAL. */
static int
hello_rec_hdr(const uint8_t *r, size_t n, bool first, struct tlshello *out)
{
	if (n >= 1 && r[0] != TLS_CT_HANDSHAKE) {
		if (first && (r[0] & 0x80) && (n < 3 || r[2] == 1)) {
			out->sslv2 = true;
			return hello_fail(out, "SSLv2 ClientHello");
		}
		return hello_fail(out, first ? "not a TLS handshake" :
		    "ClientHello interrupted by another record type");
	}
	if (n >= 2 && r[1] != 3)
		return hello_fail(out, "bad record version");
	if (n >= 3 && r[2] > 3)
		return hello_fail(out, "bad record version");
	if (n >= 4 && r[3] > (TLS_REC_MAX >> 8))
		return hello_fail(out, "record too long");
	if (n < TLS_REC_HDR)
		return 0;
	if (((size_t)r[3] << 8 | r[4]) > TLS_REC_MAX)
		return hello_fail(out, "record too long");
	if (r[3] == 0 && r[4] == 0)
		return hello_fail(out, "empty handshake record");
	return 1;
}

static bool
name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Checks a host_name and stores it lowercased without a trailing dot. */
static bool
hello_name(const uint8_t *v, size_t n, struct tlshello *out)
{
	size_t i, label = 0;

	if (n > 1 && v[n - 1] == '.')
		n--;
	if (n == 0 || n > TLSHELLO_MAX_NAME)
		return false;
	for (i = 0; i < n; i++) {
		if (v[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!name_char(v[i]) || ++label > 63) {
			return false;
		}
	}
	if (label == 0)
		return false;
	for (i = 0; i < n; i++)
		out->server_name[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ?
		    v[i] + ('a' - 'A') : v[i]);
	out->server_name[n] = '\0';
	return true;
}

/* server_name: ServerNameList<1..2^16-1> of { u8 type, opaque<1..2^16-1> };
 * at most one host_name (type 0), other types skipped. */
static int
hello_sni(struct rd d, struct tlshello *out)
{
	struct rd list, name;
	unsigned type;
	bool have = false;

	if (!rd_vec(&d, 2, &list) || d.n != 0 || list.n == 0)
		return hello_fail(out, "bad server_name extension");
	while (list.n > 0) {
		if (!rd_u8(&list, &type) || !rd_vec(&list, 2, &name) ||
		    name.n == 0)
			return hello_fail(out, "bad server_name extension");
		if (type != 0)
			continue;
		if (have)
			return hello_fail(out, "two host names in server_name");
		if (!hello_name(name.p, name.n, out))
			return hello_fail(out, "server_name is not a DNS name");
		have = true;
	}
	return 0;
}

/* ALPN: ProtocolNameList<2..2^16-1> of ProtocolName<1..2^8-1>. */
static int
hello_alpn(struct rd d, struct tlshello *out)
{
	struct rd list, id;
	size_t i;

	if (!rd_vec(&d, 2, &list) || d.n != 0 || list.n < 2)
		return hello_fail(out, "bad ALPN extension");
	out->has_alpn = true;
	while (list.n > 0) {
		if (!rd_vec(&list, 1, &id) || id.n == 0)
			return hello_fail(out, "bad ALPN extension");
		if (out->nalpn == TLSHELLO_MAX_ALPN || id.n > TLSHELLO_ALPN_LEN)
			continue;
		for (i = 0; i < id.n; i++)
			if (id.p[i] <= 0x20 || id.p[i] >= 0x7f)
				break;
		if (i < id.n)
			continue;       /* GREASE or binary: not for logs */
		memcpy(out->alpn[out->nalpn].name, id.p, id.n);
		out->alpn[out->nalpn].name[id.n] = '\0';
		out->alpn[out->nalpn].len = (uint8_t)id.n;
		out->nalpn++;
	}
	return 0;
}

/* supported_versions (ClientHello): ProtocolVersion versions<2..254>. */
static int
hello_versions(struct rd d, struct tlshello *out)
{
	struct rd list;
	unsigned v, max = 0;

	if (!rd_vec(&d, 1, &list) || d.n != 0 || list.n < 2 || list.n % 2)
		return hello_fail(out, "bad supported_versions extension");
	while (rd_u16(&list, &v)) {
		if ((v >> 8) != 3)
			continue;       /* GREASE (0x?a?a), drafts */
		if (v == 0x0304)
			out->tls13 = true;
		if (v > max)
			max = v;
	}
	if (max != 0)
		out->max_version = (uint16_t)max;
	return 0;
}

/* Parses a whole ClientHello body. */
static int
hello_body(struct rd b, struct tlshello *out)
{
	struct rd v, exts, data;
	unsigned type, seen = 0;
	int rc;

	if (!rd_u16(&b, &type) || (type >> 8) != 3)
		return hello_fail(out, "bad ClientHello version");
	out->legacy_version = out->max_version = (uint16_t)type;
	if (!rd_skip(&b, 32))
		return hello_fail(out, "ClientHello too short");
	if (!rd_vec(&b, 1, &v) || v.n > 32)
		return hello_fail(out, "bad session id");
	if (!rd_vec(&b, 2, &v) || v.n < 2 || v.n % 2)
		return hello_fail(out, "bad cipher suites");
	if (!rd_vec(&b, 1, &v) || v.n < 1)
		return hello_fail(out, "bad compression methods");
	if (b.n == 0)
		return 0;               /* no extensions */
	if (!rd_vec(&b, 2, &exts) || b.n != 0)
		return hello_fail(out, "bad extensions length");
	while (exts.n > 0) {
		unsigned bit;

		if (!rd_u16(&exts, &type) || !rd_vec(&exts, 2, &data))
			return hello_fail(out, "bad extension length");
		switch (type) {
		case EXT_SERVER_NAME:
			bit = 1;
			break;
		case EXT_ALPN:
			bit = 2;
			break;
		case EXT_SUPPORTED_VERSIONS:
			bit = 4;
			break;
		default:
			continue;
		}
		if (seen & bit)
			return hello_fail(out, "repeated extension");
		seen |= bit;
		if (bit == 1)
			rc = hello_sni(data, out);
		else if (bit == 2)
			rc = hello_alpn(data, out);
		else
			rc = hello_versions(data, out);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
tlshello_parse(const uint8_t *p, size_t len, struct tlshello *out)
{
	uint8_t hs[TLSHELLO_MAX_LEN];   /* the handshake message, reassembled */
	size_t off = 0, hl = 0, want = 0, rlen, take, start;
	struct rd body;
	int rc;

	memset(out, 0, sizeof(*out));
	for (;;) {
		rc = hello_rec_hdr(p + off, len - off, off == 0, out);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			out->need = off + TLS_REC_HDR;
			if (out->need > TLSHELLO_MAX_LEN)
				return hello_fail(out, "ClientHello too long");
			return 0;
		}
		rlen = (size_t)p[off + 3] << 8 | p[off + 4];
		if (off + TLS_REC_HDR + rlen > TLSHELLO_MAX_LEN)
			return hello_fail(out, "ClientHello too long");
		take = len - off - TLS_REC_HDR;
		if (take > rlen)
			take = rlen;
		start = hl;
		/* hl <= off: it all came from records before this one */
		memcpy(hs + hl, p + off + TLS_REC_HDR, take);
		hl += take;
		if (hl >= 1 && hs[0] != TLS_HS_CLIENT_HELLO)
			return hello_fail(out, "not a ClientHello");
		if (want == 0 && hl >= 4) {
			want = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
			if (want < 4 + TLS_HELLO_MIN)
				return hello_fail(out, "ClientHello too short");
			if (off + TLS_REC_HDR + (want - start) > TLSHELLO_MAX_LEN)
				return hello_fail(out, "ClientHello too long");
		}
		if (want != 0 && start + rlen > want)
			return hello_fail(out,
			    "ClientHello does not end with its record");
		if (take < rlen) {
			out->need = off + TLS_REC_HDR + rlen;
			return 0;
		}
		off += TLS_REC_HDR + rlen;
		if (want != 0 && hl == want)
			break;
		if (want != 0 && off + TLS_REC_HDR + (want - hl) >
		    TLSHELLO_MAX_LEN)
			return hello_fail(out, "ClientHello too long");
	}
	body.p = hs + 4;
	body.n = want - 4;
	if ((rc = hello_body(body, out)) != 0) {
		const char *reason = out->reason;

		memset(out, 0, sizeof(*out));   /* no half-read name */
		return hello_fail(out, reason);
	}
	out->need = 0;
	return (int)off;
}
