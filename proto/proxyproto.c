#include "proxyproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define V1_PREFIX       "PROXY "
#define V1_PREFIX_LEN   6
#define V1_FIELD_MAX    45              /* ffff:...:255.255.255.255 */

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

static int
pp_fail(struct proxyproto *out, const char *reason)
{
	out->reason = reason;
	return -EINVAL;
}

/* CRC32C (Castagnoli, reflected), as RFC 4960 appendix B; the 4 bytes at
 * skip are taken as zeros. */
static uint32_t
pp_crc32c(const uint8_t *p, size_t len, size_t skip)
{
	uint32_t crc = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < len; i++) {
		crc ^= (i >= skip && i < skip + 4) ? 0 : p[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* A port: 1..5 digits, no leading zero, <= 65535. */
static bool
v1_port(const char *s, size_t n, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* An address of family af into ss (port left 0). */
static bool
v1_addr(const char *s, size_t n, int af, struct sockaddr_storage *ss)
{
	char buf[V1_FIELD_MAX + 1];
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	if (n == 0 || n > V1_FIELD_MAX)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)af;
	/* glibc's inet_pton takes no leading zeros in IPv4 parts */
	if (af == AF_INET)
		return inet_pton(AF_INET, buf, &sin->sin_addr) == 1;
	return inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1;
}

static void
pp_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* Parses a whole v1 line l[n] (CRLF excluded, all printable). */
static int
v1_line(const char *l, size_t n, struct proxyproto *out)
{
	const char *f[4];
	size_t fl[4], i, k;
	uint16_t sport, dport;
	int af;

	l += V1_PREFIX_LEN;
	n -= V1_PREFIX_LEN;
	if (n >= 7 && memcmp(l, "UNKNOWN", 7) == 0 && (n == 7 || l[7] == ' ')) {
		out->local = true;      /* the rest is ignored, per the spec */
		return 0;
	}
	if (n < 5 || (memcmp(l, "TCP4 ", 5) != 0 && memcmp(l, "TCP6 ", 5) != 0))
		return pp_fail(out, "v1: unknown protocol");
	af = l[3] == '4' ? AF_INET : AF_INET6;
	l += 5;
	n -= 5;
	/* exactly four fields separated by single spaces */
	for (k = 0, i = 0; k < 4; k++) {
		f[k] = l + i;
		while (i < n && l[i] != ' ')
			i++;
		fl[k] = (size_t)(l + i - f[k]);
		if (fl[k] == 0)
			return pp_fail(out, "v1: bad field separators");
		if (k < 3) {
			if (i == n)
				return pp_fail(out, "v1: missing field");
			i++;
		}
	}
	if (i != n)
		return pp_fail(out, "v1: trailing bytes");
	if (!v1_addr(f[0], fl[0], af, &out->src) ||
	    !v1_addr(f[1], fl[1], af, &out->dst))
		return pp_fail(out, "v1: bad address");
	if (!v1_port(f[2], fl[2], &sport) || !v1_port(f[3], fl[3], &dport))
		return pp_fail(out, "v1: bad port");
	pp_set_port(&out->src, sport);
	pp_set_port(&out->dst, dport);
	return 0;
}

static int
v1_decode(const uint8_t *p, size_t len, struct proxyproto *out)
{
	size_t i, end = len < PROXYPROTO_V1_MAX ? len : PROXYPROTO_V1_MAX;
	int rc;

	out->version = 1;
	for (i = 0; i < end; i++) {
		if (i < V1_PREFIX_LEN && p[i] != (uint8_t)V1_PREFIX[i])
			return pp_fail(out, "not a PROXY protocol header");
		if (p[i] == '\r')
			break;
		if (p[i] < 0x20 || p[i] > 0x7e)
			return pp_fail(out, "v1: not printable ASCII");
	}
	if (i == end) {
		if (len >= PROXYPROTO_V1_MAX)
			return pp_fail(out, "v1: no CRLF in 107 bytes");
		out->need = len + 1;
		return 0;
	}
	if (i + 1 == PROXYPROTO_V1_MAX)
		return pp_fail(out, "v1: no CRLF in 107 bytes");
	if (i + 1 == len) {
		out->need = len + 1;
		return 0;
	}
	if (p[i + 1] != '\n')
		return pp_fail(out, "v1: CR without LF");
	if (i < V1_PREFIX_LEN)
		return pp_fail(out, "not a PROXY protocol header");
	if ((rc = v1_line((const char *)p, i, out)) != 0)
		return rc;
	return (int)(i + 2);
}

/* Checks the TLVs t[n]: they must tile it exactly; a CRC32C one must match
 * the header h[hlen] it sits in. */
static int
v2_tlvs(const uint8_t *h, size_t hlen, const uint8_t *t, size_t n,
    struct proxyproto *out)
{
	size_t off = 0, vlen;
	bool crc = false;

	while (off < n) {
		if (n - off < 3)
			return pp_fail(out, "v2: truncated TLV");
		vlen = (size_t)t[off + 1] << 8 | t[off + 2];
		if (vlen > n - off - 3)
			return pp_fail(out, "v2: TLV overruns the header");
		if (t[off] == PROXYPROTO_TLV_CRC32C) {
			const uint8_t *v = t + off + 3;
			uint32_t want;

			if (vlen != 4 || crc)
				return pp_fail(out, "v2: bad CRC32C TLV");
			crc = true;
			want = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
			    (uint32_t)v[2] << 8 | v[3];
			if (pp_crc32c(h, hlen, (size_t)(v - h)) != want)
				return pp_fail(out, "v2: CRC32C mismatch");
		}
		off += 3 + vlen;
	}
	return 0;
}

static int
v2_decode(const uint8_t *p, size_t len, struct proxyproto *out)
{
	struct sockaddr_in *s4, *d4;
	struct sockaddr_in6 *s6, *d6;
	size_t i, total, alen;
	const uint8_t *a;
	int rc;

	out->version = 2;
	for (i = 0; i < len && i < sizeof(v2_sig); i++)
		if (p[i] != v2_sig[i])
			return pp_fail(out, "not a PROXY protocol header");
	if (len > 12 && (p[12] >> 4) != 2)
		return pp_fail(out, "v2: bad version");
	if (len > 12 && (p[12] & 0x0f) > 1)
		return pp_fail(out, "v2: bad command");
	if (len < PROXYPROTO_V2_HDR) {
		out->need = PROXYPROTO_V2_HDR;
		return 0;
	}
	total = PROXYPROTO_V2_HDR + ((size_t)p[14] << 8 | p[15]);
	if (total > PROXYPROTO_MAX_LEN)
		return pp_fail(out, "v2: header too long");
	if ((p[12] & 0x0f) == 0) {
		/* LOCAL: the block, family included, is ignored */
		if (len < total) {
			out->need = total;
			return 0;
		}
		out->local = true;
		return (int)total;
	}
	switch (p[13]) {
	case 0x00:
		alen = 0;
		break;
	case 0x11:
	case 0x12:
		alen = 12;
		break;
	case 0x21:
	case 0x22:
		alen = 36;
		break;
	case 0x31:
	case 0x32:
		alen = 216;
		break;
	default:
		return pp_fail(out, "v2: bad family or transport");
	}
	if (total - PROXYPROTO_V2_HDR < alen)
		return pp_fail(out, "v2: address block longer than the header");
	if (len < total) {
		out->need = total;
		return 0;
	}
	out->tlv = p + PROXYPROTO_V2_HDR + alen;
	out->tlv_len = total - PROXYPROTO_V2_HDR - alen;
	if ((rc = v2_tlvs(p, total, out->tlv, out->tlv_len, out)) != 0)
		return rc;
	a = p + PROXYPROTO_V2_HDR;
	switch (p[13]) {
	case 0x11:
		s4 = (struct sockaddr_in *)&out->src;
		d4 = (struct sockaddr_in *)&out->dst;
		s4->sin_family = d4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		memcpy(&d4->sin_addr, a + 4, 4);
		memcpy(&s4->sin_port, a + 8, 2);
		memcpy(&d4->sin_port, a + 10, 2);
		break;
	case 0x21:
		s6 = (struct sockaddr_in6 *)&out->src;
		d6 = (struct sockaddr_in6 *)&out->dst;
		s6->sin6_family = d6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		memcpy(&d6->sin6_addr, a + 16, 16);
		memcpy(&s6->sin6_port, a + 32, 2);
		memcpy(&d6->sin6_port, a + 34, 2);
		break;
	default:
		out->local = true;      /* a valid block we do not use */
		break;
	}
	return (int)total;
}

int
proxyproto_decode(const uint8_t *p, size_t len, struct proxyproto *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (len == 0) {
		out->need = 1;
		return 0;
	}
	if (p[0] == v2_sig[0])
		rc = v2_decode(p, len, out);
	else
		rc = v1_decode(p, len, out);
	if (rc < 0) {
		const char *reason = out->reason;

		memset(out, 0, sizeof(*out));
		out->reason = reason;
	}
	return rc;
}

const uint8_t *
proxyproto_tlv(const struct proxyproto *pp, uint8_t type, size_t *len)
{
	size_t off = 0, vlen;

	while (pp->tlv != NULL && pp->tlv_len - off >= 3) {
		vlen = (size_t)pp->tlv[off + 1] << 8 | pp->tlv[off + 2];
		if (vlen > pp->tlv_len - off - 3)
			return NULL;
		if (pp->tlv[off] == type) {
			*len = vlen;
			return pp->tlv + off + 3;
		}
		off += 3 + vlen;
	}
	return NULL;
}

/* The pair as two sockaddr_in or two sockaddr_in6 (IPv4 mapped when they
 * differ). Returns AF_INET, AF_INET6, 0 for none, or -EINVAL. */
static int
pp_pair(const struct sockaddr *src, const struct sockaddr *dst,
    struct sockaddr_storage *s, struct sockaddr_storage *d)
{
	const struct sockaddr *in[2] = { src, dst };
	struct sockaddr_storage *o[2] = { s, d };
	int i;

	if (src == NULL && dst == NULL)
		return 0;
	if (src == NULL || dst == NULL)
		return -EINVAL;
	for (i = 0; i < 2; i++) {
		if (in[i]->sa_family != AF_INET && in[i]->sa_family != AF_INET6)
			return -EINVAL;
		memset(o[i], 0, sizeof(*o[i]));
		memcpy(o[i], in[i], in[i]->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	}
	if (src->sa_family == dst->sa_family)
		return src->sa_family;
	for (i = 0; i < 2; i++) {
		struct sockaddr_in v4;
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)o[i];

		if (o[i]->ss_family != AF_INET)
			continue;
		memcpy(&v4, o[i], sizeof(v4));
		memset(o[i], 0, sizeof(*o[i]));
		v6->sin6_family = AF_INET6;
		v6->sin6_port = v4.sin_port;
		v6->sin6_addr.s6_addr[10] = 0xff;
		v6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&v6->sin6_addr.s6_addr[12], &v4.sin_addr, 4);
	}
	return AF_INET6;
}

int
proxyproto_encode_v1(uint8_t *out, size_t cap, const struct sockaddr *src,
    const struct sockaddr *dst)
{
	struct sockaddr_storage s, d;
	char line[PROXYPROTO_ENCODE_MAX + 1], sa[INET6_ADDRSTRLEN],
	    da[INET6_ADDRSTRLEN];
	unsigned sp, dp;
	int af, n;

	if ((af = pp_pair(src, dst, &s, &d)) < 0)
		return af;
	if (af == 0) {
		n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
	} else if (af == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&s)->sin_addr, sa,
		    sizeof(sa));
		inet_ntop(AF_INET, &((struct sockaddr_in *)&d)->sin_addr, da,
		    sizeof(da));
		sp = ntohs(((struct sockaddr_in *)&s)->sin_port);
		dp = ntohs(((struct sockaddr_in *)&d)->sin_port);
		n = snprintf(line, sizeof(line), "PROXY TCP4 %s %s %u %u\r\n",
		    sa, da, sp, dp);
	} else {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&s)->sin6_addr, sa,
		    sizeof(sa));
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&d)->sin6_addr, da,
		    sizeof(da));
		sp = ntohs(((struct sockaddr_in6 *)&s)->sin6_port);
		dp = ntohs(((struct sockaddr_in6 *)&d)->sin6_port);
		n = snprintf(line, sizeof(line), "PROXY TCP6 %s %s %u %u\r\n",
		    sa, da, sp, dp);
	}
	if (n < 0 || n > PROXYPROTO_V1_MAX)
		return -EINVAL;         /* cannot happen: 104 at most */
	if ((size_t)n > cap)
		return -ENOSPC;
	memcpy(out, line, (size_t)n);
	return n;
}

int
proxyproto_encode_v2(uint8_t *out, size_t cap, const struct sockaddr *src,
    const struct sockaddr *dst)
{
	struct sockaddr_storage s, d;
	uint8_t h[PROXYPROTO_V2_HDR + 36];
	size_t alen;
	int af;

	if ((af = pp_pair(src, dst, &s, &d)) < 0)
		return af;
	memcpy(h, v2_sig, sizeof(v2_sig));
	if (af == 0) {
		h[12] = 0x20;           /* v2 LOCAL */
		h[13] = 0x00;
		alen = 0;
	} else if (af == AF_INET) {
		const struct sockaddr_in *s4 = (struct sockaddr_in *)&s;
		const struct sockaddr_in *d4 = (struct sockaddr_in *)&d;

		h[12] = 0x21;           /* v2 PROXY */
		h[13] = 0x11;
		alen = 12;
		memcpy(h + 16, &s4->sin_addr, 4);
		memcpy(h + 20, &d4->sin_addr, 4);
		memcpy(h + 24, &s4->sin_port, 2);
		memcpy(h + 26, &d4->sin_port, 2);
	} else {
		const struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&s;
		const struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&d;

		h[12] = 0x21;
		h[13] = 0x21;
		alen = 36;
		memcpy(h + 16, &s6->sin6_addr, 16);
		memcpy(h + 32, &d6->sin6_addr, 16);
		memcpy(h + 48, &s6->sin6_port, 2);
		memcpy(h + 50, &d6->sin6_port, 2);
	}
	h[14] = 0;
	h[15] = (uint8_t)alen;
	if (PROXYPROTO_V2_HDR + alen > cap)
		return -ENOSPC;
	memcpy(out, h, PROXYPROTO_V2_HDR + alen);
	return (int)(PROXYPROTO_V2_HDR + alen);
}
