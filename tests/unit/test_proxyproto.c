/* proxyproto: round trips of both versions over IPv4, IPv6 and mixed
 * families, exact v2 layout, the spec's example lines, every split and
 * truncation, TLVs (found, overrunning, CRC32C) and malformed headers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "proxyproto.h"

static struct sockaddr_in
v4(const char *a, uint16_t port)
{
	struct sockaddr_in s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	s.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
	return s;
}

static struct sockaddr_in6
v6(const char *a, uint16_t port)
{
	struct sockaddr_in6 s;

	memset(&s, 0, sizeof(s));
	s.sin6_family = AF_INET6;
	s.sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
	return s;
}

/* The decoded address as "addr port" for comparisons. */
static const char *
fmt(const struct sockaddr_storage *ss, char *buf)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		sprintf(buf, "%s %u", a, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		sprintf(buf, "[%s] %u", a, ntohs(s->sin6_port));
	} else {
		sprintf(buf, "unspec %d", ss->ss_family);
	}
	return buf;
}

/* Every proper prefix needs more (and no more than there can be); the whole
 * decodes to `total`, also with the client's bytes after it. */
static void
check_splits(const uint8_t *p, size_t total, struct proxyproto *pp)
{
	uint8_t more[PROXYPROTO_MAX_LEN + 16];
	size_t i;

	for (i = 0; i < total; i++) {
		assert_int_equal(proxyproto_decode(p, i, pp), 0);
		assert_true(pp->need > i && pp->need <= PROXYPROTO_MAX_LEN);
		if (p[0] == '\r')
			assert_true(pp->need <= total);
		else
			assert_true(pp->need <= PROXYPROTO_V1_MAX);
	}
	memcpy(more, p, total);
	memcpy(more + total, "GET / HTTP/1.1\r\n", 16);
	assert_int_equal(proxyproto_decode(more, total + 16, pp), (int)total);
	assert_int_equal(proxyproto_decode(p, total, pp), (int)total);
	assert_int_equal(pp->need, 0);
}

static int
dec_str(const char *s, struct proxyproto *pp)
{
	return proxyproto_decode((const uint8_t *)s, strlen(s), pp);
}

static void
test_v1_round_trip(void **state)
{
	struct sockaddr_in s4 = v4("203.0.113.7", 51234), d4 = v4("10.0.0.1", 443);
	struct sockaddr_in6 s6 = v6("2001:db8::7", 1), d6 = v6("fe80::1:2", 65535);
	uint8_t out[PROXYPROTO_ENCODE_MAX];
	struct proxyproto pp;
	char buf[80];
	int n;

	n = proxyproto_encode_v1(out, sizeof(out), (struct sockaddr *)&s4,
	    (struct sockaddr *)&d4);
	assert_int_equal(n, 43);
	assert_memory_equal(out,
	    "PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n", 43);
	check_splits(out, (size_t)n, &pp);
	assert_int_equal(pp.version, 1);
	assert_false(pp.local);
	assert_string_equal(fmt(&pp.src, buf), "203.0.113.7 51234");
	assert_string_equal(fmt(&pp.dst, buf), "10.0.0.1 443");
	assert_null(pp.tlv);

	n = proxyproto_encode_v1(out, sizeof(out), (struct sockaddr *)&s6,
	    (struct sockaddr *)&d6);
	assert_true(n > 0);
	assert_memory_equal(out,
	    "PROXY TCP6 2001:db8::7 fe80::1:2 1 65535\r\n", (size_t)n);
	check_splits(out, (size_t)n, &pp);
	assert_string_equal(fmt(&pp.src, buf), "[2001:db8::7] 1");
	assert_string_equal(fmt(&pp.dst, buf), "[fe80::1:2] 65535");

	/* mixed families: both as IPv6, the IPv4 one mapped */
	n = proxyproto_encode_v1(out, sizeof(out), (struct sockaddr *)&s4,
	    (struct sockaddr *)&d6);
	assert_true(n > 0);
	check_splits(out, (size_t)n, &pp);
	assert_string_equal(fmt(&pp.src, buf), "[::ffff:203.0.113.7] 51234");
	assert_string_equal(fmt(&pp.dst, buf), "[fe80::1:2] 65535");

	/* UNKNOWN */
	n = proxyproto_encode_v1(out, sizeof(out), NULL, NULL);
	assert_int_equal(n, 15);
	assert_memory_equal(out, "PROXY UNKNOWN\r\n", 15);
	check_splits(out, (size_t)n, &pp);
	assert_true(pp.local);
	assert_int_equal(pp.src.ss_family, AF_UNSPEC);
}

static void
test_v2_round_trip(void **state)
{
	static const uint8_t want4[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c,
		203, 0, 113, 7, 10, 0, 0, 1, 0xc8, 0x22, 0x01, 0xbb,
	};
	static const uint8_t local[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a, 0x20, 0x00, 0x00, 0x00,
	};
	struct sockaddr_in s4 = v4("203.0.113.7", 51234), d4 = v4("10.0.0.1", 443);
	struct sockaddr_in6 s6 = v6("2001:db8::7", 0), d6 = v6("::1", 8080);
	uint8_t out[PROXYPROTO_ENCODE_MAX];
	struct proxyproto pp;
	char buf[80];
	int n;

	n = proxyproto_encode_v2(out, sizeof(out), (struct sockaddr *)&s4,
	    (struct sockaddr *)&d4);
	assert_int_equal(n, sizeof(want4));
	assert_memory_equal(out, want4, sizeof(want4));
	check_splits(out, (size_t)n, &pp);
	assert_int_equal(pp.version, 2);
	assert_false(pp.local);
	assert_string_equal(fmt(&pp.src, buf), "203.0.113.7 51234");
	assert_string_equal(fmt(&pp.dst, buf), "10.0.0.1 443");
	assert_int_equal(pp.tlv_len, 0);

	n = proxyproto_encode_v2(out, sizeof(out), (struct sockaddr *)&s6,
	    (struct sockaddr *)&d6);
	assert_int_equal(n, 16 + 36);
	assert_int_equal(out[13], 0x21);
	check_splits(out, (size_t)n, &pp);
	assert_string_equal(fmt(&pp.src, buf), "[2001:db8::7] 0");
	assert_string_equal(fmt(&pp.dst, buf), "[::1] 8080");

	n = proxyproto_encode_v2(out, sizeof(out), (struct sockaddr *)&d6,
	    (struct sockaddr *)&s4);
	assert_int_equal(n, 16 + 36);
	check_splits(out, (size_t)n, &pp);
	assert_string_equal(fmt(&pp.src, buf), "[::1] 8080");
	assert_string_equal(fmt(&pp.dst, buf), "[::ffff:203.0.113.7] 51234");

	n = proxyproto_encode_v2(out, sizeof(out), NULL, NULL);
	assert_int_equal(n, sizeof(local));
	assert_memory_equal(out, local, sizeof(local));
	check_splits(out, (size_t)n, &pp);
	assert_true(pp.local);
	assert_int_equal(pp.version, 2);
}

static void
test_encode_errors(void **state)
{
	struct sockaddr_in s4 = v4("1.2.3.4", 1);
	struct sockaddr_in6 s6 = v6("::1", 1);
	struct sockaddr_un su;
	uint8_t out[PROXYPROTO_ENCODE_MAX];

	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	assert_int_equal(proxyproto_encode_v1(out, sizeof(out),
	    (struct sockaddr *)&s4, NULL), -EINVAL);
	assert_int_equal(proxyproto_encode_v2(out, sizeof(out), NULL,
	    (struct sockaddr *)&s4), -EINVAL);
	assert_int_equal(proxyproto_encode_v1(out, sizeof(out),
	    (struct sockaddr *)&su, (struct sockaddr *)&s4), -EINVAL);
	assert_int_equal(proxyproto_encode_v2(out, sizeof(out),
	    (struct sockaddr *)&s4, (struct sockaddr *)&su), -EINVAL);
	memset(out, 0xee, sizeof(out));
	assert_int_equal(proxyproto_encode_v1(out, 20,
	    (struct sockaddr *)&s4, (struct sockaddr *)&s4), -ENOSPC);
	assert_int_equal(proxyproto_encode_v2(out, 51,
	    (struct sockaddr *)&s6, (struct sockaddr *)&s6), -ENOSPC);
	assert_int_equal(proxyproto_encode_v2(out, 15, NULL, NULL), -ENOSPC);
	assert_int_equal(out[0], 0xee);
	assert_int_equal(proxyproto_encode_v2(out, 52,
	    (struct sockaddr *)&s6, (struct sockaddr *)&s6), 52);
	assert_int_equal(proxyproto_encode_v1(out, 15, NULL, NULL), 15);
}

static void
test_v1_spec_examples(void **state)
{
	static const char *const ok[] = {
		"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
		"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
		("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
		"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n",
		"PROXY TCP6 ::1 ::ffff:10.0.0.1 1 2\r\n",
		"PROXY TCP6 FE80::A ::1 1 2\r\n",
	};
	static const char *const unknown[] = {
		"PROXY UNKNOWN\r\n",
		("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
		"PROXY UNKNOWN whatever the sender had to say\r\n",
	};
	struct proxyproto pp;
	char buf[80];
	size_t i;

	assert_int_equal(strlen(ok[1]), 56);
	assert_int_equal(strlen(ok[2]), 104);
	assert_int_equal(strlen(unknown[1]), PROXYPROTO_V1_MAX);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		check_splits((const uint8_t *)ok[i], strlen(ok[i]), &pp);
		assert_false(pp.local);
	}
	assert_int_equal(dec_str(ok[0], &pp), 47);
	assert_string_equal(fmt(&pp.src, buf), "192.168.0.1 56324");
	assert_string_equal(fmt(&pp.dst, buf), "192.168.0.11 443");
	assert_int_equal(dec_str(ok[4], &pp), (int)strlen(ok[4]));
	assert_string_equal(fmt(&pp.dst, buf), "[::ffff:10.0.0.1] 2");
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		check_splits((const uint8_t *)unknown[i], strlen(unknown[i]),
		    &pp);
		assert_true(pp.local);
		assert_int_equal(pp.version, 1);
		assert_int_equal(pp.src.ss_family, AF_UNSPEC);
	}
}

static void
test_v1_malformed(void **state)
{
	static const char *const bad[] = {
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",            /* bare LF */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",           /* CR, no LF */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",         /* two spaces */
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",         /* trailing */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",        /* extra field */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",            /* missing */
		"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
		"PROXY TCP4\r\n",
		"PROXY TCP4 \r\n",
		"PROXY \r\n",
		"PROXY\r\n",
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",         /* octal-looking */
		"PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
		"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",              /* wrong family */
		"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP6 ::1 ::1::1 1 2\r\n",
		"PROXY TCP6 ::1 12345::1 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",        /* leading zero */
		"PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 999999\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY UNKNOWN\tx\r\n",                         /* control char */
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"GET / HTTP/1.1\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n",
		"\x16\x03\x01\x02\x00",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\xff\r\n",
	};
	struct proxyproto pp;
	char line[200];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dec_str(bad[i], &pp), -EINVAL);
		assert_non_null(pp.reason);
		assert_int_equal(pp.version, 0);
	}
	/* no CRLF within 107 bytes */
	memset(line, 0, sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memset(line + 14, 'x', 92);                     /* 106 bytes */
	assert_int_equal(dec_str(line, &pp), 0);
	line[106] = '\r';                               /* CR at 107th */
	assert_int_equal(dec_str(line, &pp), -EINVAL);
	line[106] = 'x';
	assert_int_equal(dec_str(line, &pp), -EINVAL);
	line[105] = '\r';
	line[106] = '\n';                               /* 107: fine */
	line[107] = '\0';
	assert_int_equal(dec_str(line, &pp), 107);
	/* early rejection: a wrong first byte needs nothing more */
	assert_int_equal(proxyproto_decode((const uint8_t *)"G", 1, &pp),
	    -EINVAL);
	assert_int_equal(proxyproto_decode((const uint8_t *)"PROX!", 5, &pp),
	    -EINVAL);
	assert_int_equal(proxyproto_decode((const uint8_t *)"", 0, &pp), 0);
	assert_int_equal(pp.need, 1);
}

static uint8_t *
v2_hdr(uint8_t *h, uint8_t vc, uint8_t fam, uint16_t len)
{
	static const uint8_t sig[12] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a,
	};

	memcpy(h, sig, 12);
	h[12] = vc;
	h[13] = fam;
	h[14] = (uint8_t)(len >> 8);
	h[15] = (uint8_t)len;
	return h + 16;
}

static void
test_v2_malformed(void **state)
{
	uint8_t h[PROXYPROTO_MAX_LEN + 64], good[28];
	struct sockaddr_in s4 = v4("1.2.3.4", 1);
	struct proxyproto pp;
	size_t i;

	assert_int_equal(proxyproto_encode_v2(good, sizeof(good),
	    (struct sockaddr *)&s4, (struct sockaddr *)&s4), 28);
	/* each signature byte, at the moment it arrives */
	for (i = 0; i < 12; i++) {
		memcpy(h, good, 28);
		h[i] ^= 0x40;
		assert_int_equal(proxyproto_decode(h, i + 1, &pp), -EINVAL);
		assert_int_equal(proxyproto_decode(h, 28, &pp), -EINVAL);
	}
	/* version 1 and 3, commands 2 and 15 */
	memcpy(h, good, 28);
	h[12] = 0x11;
	assert_int_equal(proxyproto_decode(h, 13, &pp), -EINVAL);
	h[12] = 0x31;
	assert_int_equal(proxyproto_decode(h, 13, &pp), -EINVAL);
	h[12] = 0x22;
	assert_int_equal(proxyproto_decode(h, 13, &pp), -EINVAL);
	h[12] = 0x2f;
	assert_int_equal(proxyproto_decode(h, 28, &pp), -EINVAL);
	/* families and transports outside the spec */
	memcpy(h, good, 28);
	h[13] = 0x41;
	assert_int_equal(proxyproto_decode(h, 28, &pp), -EINVAL);
	h[13] = 0x13;
	assert_int_equal(proxyproto_decode(h, 28, &pp), -EINVAL);
	h[13] = 0x10;
	assert_int_equal(proxyproto_decode(h, 28, &pp), -EINVAL);
	h[13] = 0x01;
	assert_int_equal(proxyproto_decode(h, 28, &pp), -EINVAL);
	/* an address block longer than the header: known at 16 bytes */
	v2_hdr(h, 0x21, 0x11, 11);
	assert_int_equal(proxyproto_decode(h, 16, &pp), -EINVAL);
	v2_hdr(h, 0x21, 0x21, 35);
	assert_int_equal(proxyproto_decode(h, 16, &pp), -EINVAL);
	v2_hdr(h, 0x21, 0x31, 215);
	assert_int_equal(proxyproto_decode(h, 16, &pp), -EINVAL);
	/* over the cap: known at 16 bytes too */
	v2_hdr(h, 0x21, 0x11, PROXYPROTO_MAX_LEN - 16 + 1);
	assert_int_equal(proxyproto_decode(h, 16, &pp), -EINVAL);
	v2_hdr(h, 0x20, 0x00, 0xffff);
	assert_int_equal(proxyproto_decode(h, 16, &pp), -EINVAL);
	/* the cap itself is waited for */
	v2_hdr(h, 0x21, 0x11, PROXYPROTO_MAX_LEN - 16);
	assert_int_equal(proxyproto_decode(h, 16, &pp), 0);
	assert_int_equal(pp.need, PROXYPROTO_MAX_LEN);
}

static void
test_v2_fallbacks(void **state)
{
	uint8_t h[512];
	struct proxyproto pp;
	uint8_t *a;
	static const uint8_t fams[] = { 0x00, 0x12, 0x22, 0x31, 0x32 };
	static const uint16_t lens[] = { 0, 12, 36, 216, 216 };
	size_t i;

	/* LOCAL ignores the block, family included */
	a = v2_hdr(h, 0x20, 0xff, 5);
	memcpy(a, "junk!", 5);
	check_splits(h, 21, &pp);
	assert_true(pp.local);
	assert_null(pp.tlv);
	a = v2_hdr(h, 0x20, 0x11, 12);
	memset(a, 7, 12);
	check_splits(h, 28, &pp);
	assert_true(pp.local);
	assert_int_equal(pp.src.ss_family, AF_UNSPEC);
	/* PROXY over what we do not use: accepted, addresses not used */
	for (i = 0; i < sizeof(fams); i++) {
		a = v2_hdr(h, 0x21, fams[i], lens[i]);
		memset(a, 0x5a, lens[i]);
		check_splits(h, 16u + lens[i], &pp);
		assert_true(pp.local);
		assert_int_equal(pp.src.ss_family, AF_UNSPEC);
	}
	/* UNSPEC with TLVs after no address */
	a = v2_hdr(h, 0x21, 0x00, 4);
	memcpy(a, "\x04\x00\x01z", 4);
	check_splits(h, 20, &pp);
	assert_true(pp.local);
	assert_int_equal(pp.tlv_len, 4);
}

/* An independent, table-driven CRC32C for building test headers. */
static uint32_t
crc32c_ref(const uint8_t *p, size_t n)
{
	uint32_t t[256], c;
	size_t i;
	int k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		t[i] = c;
	}
	c = 0xffffffffu;
	for (i = 0; i < n; i++)
		c = t[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return ~c;
}

static void
test_v2_tlvs(void **state)
{
	uint8_t h[600];
	struct proxyproto pp;
	const uint8_t *v;
	uint8_t *a;
	size_t vlen, n;
	uint32_t crc;

	assert_int_equal(crc32c_ref((const uint8_t *)"123456789", 9),
	    0xe3069283u);
	/* IPv4 + AUTHORITY + NOOP + custom */
	a = v2_hdr(h, 0x21, 0x11, 12 + 3 + 11 + 3 + 0 + 3 + 2);
	memcpy(a, "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x50\x01\xbb", 12);
	memcpy(a + 12, "\x02\x00\x0b" "example.com", 14);
	memcpy(a + 26, "\x04\x00\x00", 3);
	memcpy(a + 29, "\xe0\x00\x02zz", 5);
	n = 16 + 12 + 14 + 3 + 5;
	check_splits(h, n, &pp);
	assert_false(pp.local);
	assert_int_equal(pp.tlv_len, 22);
	assert_ptr_equal(pp.tlv, h + 28);
	v = proxyproto_tlv(&pp, PROXYPROTO_TLV_AUTHORITY, &vlen);
	assert_non_null(v);
	assert_int_equal(vlen, 11);
	assert_memory_equal(v, "example.com", 11);
	v = proxyproto_tlv(&pp, PROXYPROTO_TLV_NOOP, &vlen);
	assert_non_null(v);
	assert_int_equal(vlen, 0);
	v = proxyproto_tlv(&pp, 0xe0, &vlen);
	assert_int_equal(vlen, 2);
	assert_null(proxyproto_tlv(&pp, PROXYPROTO_TLV_SSL, &vlen));

	/* a TLV running past the header, or cut inside its own header */
	h[28 + 2] = 12;
	assert_int_equal(proxyproto_decode(h, n, &pp), -EINVAL);
	h[28 + 2] = 11;
	h[15] -= 1;                     /* last TLV one byte short */
	assert_int_equal(proxyproto_decode(h, n - 1, &pp), -EINVAL);
	a = v2_hdr(h, 0x21, 0x11, 12 + 2);
	memset(a, 0, 14);
	assert_int_equal(proxyproto_decode(h, 30, &pp), -EINVAL);
	a = v2_hdr(h, 0x21, 0x11, 12 + 3 + 0xffff - 0xff00);
	memset(a, 0, 12);
	memcpy(a + 12, "\x05\xff\xff", 3);
	assert_int_equal(proxyproto_decode(h, 16 + 12 + 3 + 255, &pp),
	    -EINVAL);

	/* CRC32C: right, wrong, wrong size, twice */
	a = v2_hdr(h, 0x21, 0x11, 12 + 7);
	memcpy(a, "\x0a\x00\x00\x01\x0a\x00\x00\x02\x30\x39\x00\x50", 12);
	memcpy(a + 12, "\x03\x00\x04\x00\x00\x00\x00", 7);
	n = 16 + 19;
	crc = crc32c_ref(h, n);
	a[15] = (uint8_t)(crc >> 24);
	a[16] = (uint8_t)(crc >> 16);
	a[17] = (uint8_t)(crc >> 8);
	a[18] = (uint8_t)crc;
	check_splits(h, n, &pp);
	assert_false(pp.local);
	a[18] ^= 1;
	assert_int_equal(proxyproto_decode(h, n, &pp), -EINVAL);
	assert_non_null(pp.reason);
	a[18] ^= 1;
	h[8 + 16] ^= 1;                 /* the port, not the checksum */
	assert_int_equal(proxyproto_decode(h, n, &pp), -EINVAL);
	a = v2_hdr(h, 0x21, 0x11, 12 + 6);
	memcpy(a + 12, "\x03\x00\x03\x00\x00\x00", 6);
	assert_int_equal(proxyproto_decode(h, 16 + 18, &pp), -EINVAL);
	a = v2_hdr(h, 0x21, 0x11, 12 + 14);
	memset(a, 0, 12);
	memcpy(a + 12, "\x03\x00\x04\x00\x00\x00\x00\x03\x00\x04\x00\x00\x00\x00",
	    14);
	assert_int_equal(proxyproto_decode(h, 16 + 26, &pp), -EINVAL);
}

/* Every truncation of every kind of header: only "need more", never a
 * result past the input, and the first rejected byte stays rejected. */
static void
test_truncations_and_noise(void **state)
{
	struct sockaddr_in s4 = v4("198.51.100.20", 7);
	struct sockaddr_in6 s6 = v6("2001:db8:1::ff", 65000);
	uint8_t h[PROXYPROTO_ENCODE_MAX], q[PROXYPROTO_ENCODE_MAX];
	struct proxyproto pp;
	uint32_t x = 99;
	int n, rc, kind;
	size_t i, k;

	for (kind = 0; kind < 4; kind++) {
		if (kind == 0)
			n = proxyproto_encode_v1(h, sizeof(h),
			    (struct sockaddr *)&s4, (struct sockaddr *)&s6);
		else if (kind == 1)
			n = proxyproto_encode_v1(h, sizeof(h),
			    (struct sockaddr *)&s6, (struct sockaddr *)&s6);
		else if (kind == 2)
			n = proxyproto_encode_v2(h, sizeof(h),
			    (struct sockaddr *)&s4, (struct sockaddr *)&s4);
		else
			n = proxyproto_encode_v2(h, sizeof(h),
			    (struct sockaddr *)&s6, (struct sockaddr *)&s4);
		assert_true(n > 0);
		check_splits(h, (size_t)n, &pp);
		/* random corruption of one byte */
		for (i = 0; i < 400; i++) {
			x = x * 1103515245u + 12345u;
			memcpy(q, h, (size_t)n);
			k = (x >> 8) % (size_t)n;
			q[k] = (uint8_t)(x >> 20);
			rc = proxyproto_decode(q, (size_t)n, &pp);
			assert_true(rc == -EINVAL || rc == 0 || rc == n);
			if (rc == 0)
				assert_true(pp.need > (size_t)n);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_round_trip),
		cmocka_unit_test(test_v2_round_trip),
		cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_v1_spec_examples),
		cmocka_unit_test(test_v1_malformed),
		cmocka_unit_test(test_v2_malformed),
		cmocka_unit_test(test_v2_fallbacks),
		cmocka_unit_test(test_v2_tlvs),
		cmocka_unit_test(test_truncations_and_noise),
	};

	return cmocka_run_group_tests_name("proxyproto", tests, NULL, NULL);
}
