/* tlshello: real ClientHellos from OpenSSL (TLS 1.2 and 1.3, with and
 * without SNI, with ALPN), fed at every split, re-framed over two and over
 * many records, plus crafted hellos for the edges: names, ALPN lists,
 * versions, repeated extensions, lengths that lie, garbage, SSLv2, caps. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "tlshello.h"

#define HELLO_CAP       4096

/* What OpenSSL's client writes first, as a TLS client with these settings. */
static size_t
gen_hello(uint8_t *out, int max_version, const char *sni, bool alpn)
{
	static const uint8_t protos[] = "\x02h2\x08http/1.1";
	SSL_CTX *ctx;
	SSL *s;
	BIO *rb, *wb;
	int n;

	ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
	s = SSL_new(ctx);
	assert_non_null(s);
	rb = BIO_new(BIO_s_mem());
	wb = BIO_new(BIO_s_mem());
	assert_true(rb != NULL && wb != NULL);
	SSL_set_bio(s, rb, wb);
	if (sni != NULL)
		assert_int_equal(SSL_set_tlsext_host_name(s, sni), 1);
	if (alpn)
		assert_int_equal(SSL_set_alpn_protos(s, protos,
		    sizeof(protos) - 1), 0);
	assert_int_equal(SSL_connect(s), -1);  /* waits for the server */
	n = BIO_read(wb, out, HELLO_CAP);
	assert_true(n > 0 && n < HELLO_CAP);
	assert_int_equal(BIO_pending(wb), 0);
	SSL_free(s);
	SSL_CTX_free(ctx);
	return (size_t)n;
}

/* Every proper prefix needs more (and says how much, sensibly); the whole
 * input is a hello of `total` bytes with the same fields as *want. */
static void
check_prefixes(const uint8_t *p, size_t total, const struct tlshello *want)
{
	struct tlshello h;
	size_t i;

	for (i = 0; i < total; i++) {
		assert_int_equal(tlshello_parse(p, i, &h), 0);
		assert_true(h.need > i && h.need <= total);
		assert_true(h.need <= TLSHELLO_MAX_LEN);
	}
	assert_int_equal(tlshello_parse(p, total, &h), (int)total);
	assert_int_equal(h.need, 0);
	assert_string_equal(h.server_name, want->server_name);
	assert_int_equal(h.nalpn, want->nalpn);
	for (i = 0; i < h.nalpn; i++)
		assert_string_equal(h.alpn[i].name, want->alpn[i].name);
	assert_int_equal(h.tls13, want->tls13);
	assert_int_equal(h.max_version, want->max_version);
	assert_int_equal(h.legacy_version, want->legacy_version);
}

/* Re-frames the handshake bytes of a one-record hello into records of the
 * given sizes (the last takes the rest). Returns the new length. */
static size_t
reframe(uint8_t *out, const uint8_t *rec, size_t len, const size_t *sizes,
    size_t nsizes)
{
	const uint8_t *hs = rec + 5;
	size_t left = len - 5, o = 0, i, n;

	for (i = 0; left > 0; i++) {
		n = i < nsizes && sizes[i] < left ? sizes[i] : left;
		out[o++] = 22;
		out[o++] = 3;
		out[o++] = 1;
		out[o++] = (uint8_t)(n >> 8);
		out[o++] = (uint8_t)n;
		memcpy(out + o, hs, n);
		o += n;
		hs += n;
		left -= n;
	}
	return o;
}

static void
test_openssl_tls13_sni_alpn(void **state)
{
	uint8_t p[HELLO_CAP + 64];
	struct tlshello h;
	size_t n = gen_hello(p, TLS1_3_VERSION, "Tunnel-1.Example.COM", true);

	memset(p + n, 0x17, 64);        /* whatever follows is not ours */
	assert_int_equal(tlshello_parse(p, n, &h), (int)n);
	assert_string_equal(h.server_name, "tunnel-1.example.com");
	assert_true(h.has_alpn);
	assert_int_equal(h.nalpn, 2);
	assert_string_equal(h.alpn[0].name, "h2");
	assert_int_equal(h.alpn[0].len, 2);
	assert_string_equal(h.alpn[1].name, "http/1.1");
	assert_true(h.tls13);
	assert_false(h.sslv2);
	assert_int_equal(h.legacy_version, 0x0303);
	assert_int_equal(h.max_version, 0x0304);
	assert_int_equal(tlshello_parse(p, n + 64, &h), (int)n);
	check_prefixes(p, n, &h);
}

static void
test_openssl_tls12_no_sni(void **state)
{
	uint8_t p[HELLO_CAP];
	struct tlshello h;
	size_t n = gen_hello(p, TLS1_2_VERSION, NULL, false);

	assert_int_equal(tlshello_parse(p, n, &h), (int)n);
	assert_string_equal(h.server_name, "");
	assert_false(h.has_alpn);
	assert_int_equal(h.nalpn, 0);
	assert_false(h.tls13);
	assert_int_equal(h.legacy_version, 0x0303);
	assert_int_equal(h.max_version, 0x0303);
	check_prefixes(p, n, &h);
}

static void
test_openssl_tls12_sni(void **state)
{
	uint8_t p[HELLO_CAP];
	struct tlshello h;
	size_t n = gen_hello(p, TLS1_2_VERSION, "a.example", true);

	assert_int_equal(tlshello_parse(p, n, &h), (int)n);
	assert_string_equal(h.server_name, "a.example");
	assert_int_equal(h.nalpn, 2);
	assert_false(h.tls13);
	check_prefixes(p, n, &h);
}

static void
test_openssl_tls13_no_sni(void **state)
{
	uint8_t p[HELLO_CAP];
	struct tlshello h;
	size_t n = gen_hello(p, TLS1_3_VERSION, NULL, false);

	assert_int_equal(tlshello_parse(p, n, &h), (int)n);
	assert_string_equal(h.server_name, "");
	assert_true(h.tls13);
	check_prefixes(p, n, &h);
}

/* Two records, split at every point of the handshake message. */
static void
test_two_records(void **state)
{
	uint8_t p[HELLO_CAP], q[HELLO_CAP + 16];
	struct tlshello want, h;
	size_t n = gen_hello(p, TLS1_3_VERSION, "split.example", true), k, m;

	assert_int_equal(tlshello_parse(p, n, &want), (int)n);
	for (k = 1; k < n - 5; k++) {
		m = reframe(q, p, n, &k, 1);
		assert_int_equal(m, n + 5);
		assert_int_equal(tlshello_parse(q, m, &h), (int)m);
		assert_string_equal(h.server_name, "split.example");
		assert_int_equal(h.nalpn, 2);
		assert_true(h.tls13);
	}
	/* and every prefix of one of them */
	k = 3;                          /* inside the handshake header */
	m = reframe(q, p, n, &k, 1);
	check_prefixes(q, m, &want);
	k = (n - 5) / 2;
	m = reframe(q, p, n, &k, 1);
	check_prefixes(q, m, &want);
}

/* One byte per record: the most fragmented hello there is. */
static void
test_many_records(void **state)
{
	static uint8_t q[6 * HELLO_CAP];
	uint8_t p[HELLO_CAP];
	size_t sizes[HELLO_CAP], n, m, i;
	struct tlshello want;

	n = gen_hello(p, TLS1_3_VERSION, "frag.example", true);
	assert_int_equal(tlshello_parse(p, n, &want), (int)n);
	for (i = 0; i < HELLO_CAP; i++)
		sizes[i] = 1;
	m = reframe(q, p, n, sizes, HELLO_CAP);
	assert_int_equal(m, 6 * (n - 5));
	assert_true(m < TLSHELLO_MAX_LEN);
	check_prefixes(q, m, &want);
}

/* Every one-bit corruption of a real hello: no crash, no overread, and a
 * result within the input. */
static void
test_bit_flips(void **state)
{
	uint8_t p[HELLO_CAP], q[HELLO_CAP];
	struct tlshello h;
	size_t n = gen_hello(p, TLS1_3_VERSION, "flip.example", true), i;
	int b, rc;

	for (i = 0; i < n; i++) {
		for (b = 0; b < 8; b++) {
			memcpy(q, p, n);
			q[i] ^= (uint8_t)(1 << b);
			rc = tlshello_parse(q, n, &h);
			assert_true(rc == -EINVAL || rc == 0 || rc == (int)n);
			if (rc == 0)
				assert_true(h.need > n);
			if (rc == (int)n)
				assert_true(strlen(h.server_name) <=
				    TLSHELLO_MAX_NAME);
		}
	}
}

/* Crafting: a byte builder. */
struct bb {
	uint8_t b[TLSHELLO_MAX_LEN + 1024];
	size_t n;
};

static void
put8(struct bb *b, unsigned v)
{
	b->b[b->n++] = (uint8_t)v;
}

static void
put16(struct bb *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void
putb(struct bb *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void
ext_sni(struct bb *e, const char *name)
{
	size_t n = strlen(name);

	put16(e, 0);
	put16(e, (unsigned)n + 5);
	put16(e, (unsigned)n + 3);
	put8(e, 0);
	put16(e, (unsigned)n);
	putb(e, name, n);
}

/* A one-record hello around these extension bytes (NULL: none at all). */
static size_t
craft(uint8_t *out, const struct bb *ext)
{
	struct bb body = { .n = 0 };
	size_t o = 0;
	int i;

	put16(&body, 0x0303);
	for (i = 0; i < 32; i++)
		put8(&body, (unsigned)i);
	put8(&body, 0);                 /* session id */
	put16(&body, 2);
	put16(&body, 0x1301);
	put8(&body, 1);
	put8(&body, 0);
	if (ext != NULL) {
		put16(&body, (unsigned)ext->n);
		putb(&body, ext->b, ext->n);
	}
	out[o++] = 22;
	out[o++] = 3;
	out[o++] = 1;
	out[o++] = (uint8_t)((body.n + 4) >> 8);
	out[o++] = (uint8_t)(body.n + 4);
	out[o++] = 1;
	out[o++] = 0;
	out[o++] = (uint8_t)(body.n >> 8);
	out[o++] = (uint8_t)body.n;
	memcpy(out + o, body.b, body.n);
	return o + body.n;
}

/* Parses a crafted hello; the prefixes of a good one all need more. */
static int
parse_ext(const struct bb *ext, struct tlshello *h)
{
	static uint8_t p[sizeof(((struct bb *)0)->b) + 64];
	size_t n = craft(p, ext);
	int rc = tlshello_parse(p, n, h);

	if (rc > 0) {
		struct tlshello want = *h;

		assert_int_equal(rc, (int)n);
		check_prefixes(p, n, &want);
		*h = want;
	}
	return rc;
}

static int
parse_name(const char *name, struct tlshello *h)
{
	struct bb e = { .n = 0 };

	ext_sni(&e, name);
	return parse_ext(&e, h);
}

static void
test_names(void **state)
{
	char name[400];
	struct tlshello h;
	int i;

	assert_int_equal(parse_name("WWW.Example.org", &h) > 0, 1);
	assert_string_equal(h.server_name, "www.example.org");
	assert_true(parse_name("a", &h) > 0);
	assert_true(parse_name("_acme.x-y.example.", &h) > 0);
	assert_string_equal(h.server_name, "_acme.x-y.example");
	assert_true(parse_name("192.0.2.1", &h) > 0);   /* a name that looks
	                                                 * like a number */
	assert_int_equal(parse_name("a..b", &h), -EINVAL);
	assert_string_equal(h.server_name, "");
	assert_non_null(h.reason);
	assert_int_equal(parse_name(".a", &h), -EINVAL);
	assert_int_equal(parse_name("a.b..", &h), -EINVAL);
	assert_int_equal(parse_name(".", &h), -EINVAL);
	assert_int_equal(parse_name("a b", &h), -EINVAL);
	assert_int_equal(parse_name("a/b", &h), -EINVAL);
	assert_int_equal(parse_name("a:443", &h), -EINVAL);
	assert_int_equal(parse_name("[::1]", &h), -EINVAL);
	assert_int_equal(parse_name("caf\xc3\xa9.example", &h), -EINVAL);
	/* labels up to 63, names up to 255 */
	memset(name, 'a', 63);
	strcpy(name + 63, ".x");
	assert_true(parse_name(name, &h) > 0);
	memset(name, 'a', 64);
	strcpy(name + 64, ".x");
	assert_int_equal(parse_name(name, &h), -EINVAL);
	memset(name, 'a', 255);
	for (i = 63; i < 255; i += 64)
		name[i] = '.';
	name[255] = '\0';
	assert_true(parse_name(name, &h) > 0);
	assert_int_equal(strlen(h.server_name), 255);
	name[255] = '.';                /* 255 + a trailing dot: fine */
	name[256] = '\0';
	assert_true(parse_name(name, &h) > 0);
	name[255] = 'a';                /* 256: too long */
	assert_int_equal(parse_name(name, &h), -EINVAL);
}

static void
test_sni_structure(void **state)
{
	struct bb e;
	struct tlshello h;

	/* no extensions block at all (a TLS 1.0-style hello) */
	assert_true(parse_ext(NULL, &h) > 0);
	assert_string_equal(h.server_name, "");
	assert_int_equal(h.max_version, 0x0303);
	/* empty extensions block */
	e.n = 0;
	assert_true(parse_ext(&e, &h) > 0);
	/* two server_name extensions */
	e.n = 0;
	ext_sni(&e, "a.example");
	ext_sni(&e, "b.example");
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
	/* two host names in one list */
	e.n = 0;
	put16(&e, 0);
	put16(&e, 2 + 2 * 4);
	put16(&e, 2 * 4);
	put8(&e, 0);
	put16(&e, 1);
	put8(&e, 'a');
	put8(&e, 0);
	put16(&e, 1);
	put8(&e, 'b');
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
	/* another name type is skipped, the host name kept */
	e.n = 0;
	put16(&e, 0);
	put16(&e, 2 + 2 * 4);
	put16(&e, 2 * 4);
	put8(&e, 7);
	put16(&e, 1);
	put8(&e, 'z');
	put8(&e, 0);
	put16(&e, 1);
	put8(&e, 'b');
	assert_true(parse_ext(&e, &h) > 0);
	assert_string_equal(h.server_name, "b");
	/* empty extension, empty list, empty name */
	e.n = 0;
	put16(&e, 0);
	put16(&e, 0);
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
	e.n = 0;
	put16(&e, 0);
	put16(&e, 2);
	put16(&e, 0);
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
	e.n = 0;
	put16(&e, 0);
	put16(&e, 5);
	put16(&e, 3);
	put8(&e, 0);
	put16(&e, 0);
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
	/* list length beyond the extension; extension with bytes after the list */
	e.n = 0;
	put16(&e, 0);
	put16(&e, 6);
	put16(&e, 5);
	put8(&e, 0);
	put16(&e, 2);
	put8(&e, 'a');
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
	e.n = 0;
	put16(&e, 0);
	put16(&e, 7);
	put16(&e, 4);
	put8(&e, 0);
	put16(&e, 1);
	put8(&e, 'a');
	put8(&e, 0);
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
	/* name length beyond the list */
	e.n = 0;
	put16(&e, 0);
	put16(&e, 6);
	put16(&e, 4);
	put8(&e, 0);
	put16(&e, 0xffff);
	put8(&e, 'a');
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
}

static void
ext_alpn(struct bb *e, const char *const *ids, size_t n)
{
	size_t i, total = 0;

	for (i = 0; i < n; i++)
		total += 1 + strlen(ids[i]);
	put16(e, 16);
	put16(e, (unsigned)total + 2);
	put16(e, (unsigned)total);
	for (i = 0; i < n; i++) {
		put8(e, (unsigned)strlen(ids[i]));
		putb(e, ids[i], strlen(ids[i]));
	}
}

static void
test_alpn(void **state)
{
	static const char *const many[] = { "a1", "a2", "\x0a\x0a", "a3",
	    "a4", "0123456789012345678901234567890123456789", "a5", "a6",
	    "a7", "a8", "a9" };
	static const char *const one[] = { "acme-tls/1" };
	static const char *const empty[] = { "h2", "" };
	struct tlshello h;
	struct bb e = { .n = 0 };

	ext_alpn(&e, one, 1);
	assert_true(parse_ext(&e, &h) > 0);
	assert_true(h.has_alpn);
	assert_int_equal(h.nalpn, 1);
	assert_string_equal(h.alpn[0].name, "acme-tls/1");
	e.n = 0;
	ext_alpn(&e, many, 11);
	assert_true(parse_ext(&e, &h) > 0);
	assert_int_equal(h.nalpn, TLSHELLO_MAX_ALPN);
	assert_string_equal(h.alpn[0].name, "a1");
	assert_string_equal(h.alpn[2].name, "a3");     /* GREASE skipped */
	assert_string_equal(h.alpn[4].name, "a5");     /* too long skipped */
	assert_string_equal(h.alpn[7].name, "a8");
	e.n = 0;
	ext_alpn(&e, empty, 2);
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
	assert_int_equal(h.nalpn, 0);
	e.n = 0;
	ext_alpn(&e, one, 1);
	ext_alpn(&e, one, 1);
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
	/* id length past the list */
	e.n = 0;
	put16(&e, 16);
	put16(&e, 5);
	put16(&e, 3);
	put8(&e, 5);
	put16(&e, 0x6869);
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
	/* empty list */
	e.n = 0;
	put16(&e, 16);
	put16(&e, 2);
	put16(&e, 0);
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
}

static void
test_versions(void **state)
{
	struct tlshello h;
	struct bb e = { .n = 0 };

	put16(&e, 43);
	put16(&e, 7);
	put8(&e, 6);
	put16(&e, 0x7a7a);              /* GREASE */
	put16(&e, 0x0304);
	put16(&e, 0x0303);
	assert_true(parse_ext(&e, &h) > 0);
	assert_true(h.tls13);
	assert_int_equal(h.max_version, 0x0304);
	e.n = 0;
	put16(&e, 43);
	put16(&e, 3);
	put8(&e, 2);
	put16(&e, 0x0303);
	assert_true(parse_ext(&e, &h) > 0);
	assert_false(h.tls13);
	assert_int_equal(h.max_version, 0x0303);
	e.n = 0;                        /* odd list */
	put16(&e, 43);
	put16(&e, 4);
	put8(&e, 3);
	put16(&e, 0x0304);
	put8(&e, 3);
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
	e.n = 0;                        /* list shorter than the extension */
	put16(&e, 43);
	put16(&e, 4);
	put8(&e, 2);
	put16(&e, 0x0304);
	put8(&e, 0);
	assert_int_equal(parse_ext(&e, &h), -EINVAL);
}

static void
test_lengths(void **state)
{
	uint8_t p[512], q[512 + 16];
	struct tlshello h;
	struct bb e = { .n = 0 };
	size_t n, k;

	ext_sni(&e, "len.example");
	put16(&e, 0x1234);              /* an unknown extension, skipped */
	put16(&e, 3);
	putb(&e, "xyz", 3);
	n = craft(p, &e);
	assert_int_equal(tlshello_parse(p, n, &h), (int)n);
	assert_string_equal(h.server_name, "len.example");

	/* extensions length one too long, one too short */
	memcpy(q, p, n);
	q[9 + 2 + 32 + 1 + 4 + 2 + 1]++;
	assert_int_equal(tlshello_parse(q, n, &h), -EINVAL);
	memcpy(q, p, n);
	q[9 + 2 + 32 + 1 + 4 + 2 + 1]--;
	assert_int_equal(tlshello_parse(q, n, &h), -EINVAL);
	/* the last extension's length past the end */
	memcpy(q, p, n);
	q[n - 4]++;
	assert_int_equal(tlshello_parse(q, n, &h), -EINVAL);
	/* handshake shorter than its record: bytes after the hello */
	memcpy(q, p, n);
	q[8]--;
	assert_int_equal(tlshello_parse(q, n, &h), -EINVAL);
	/* handshake longer than the data: more records must follow, and what
	 * follows is not one */
	memcpy(q, p, n);
	q[8]++;
	assert_int_equal(tlshello_parse(q, n, &h), 0);
	assert_int_equal(h.need, n + 5);
	q[n] = 21;                      /* an alert */
	assert_int_equal(tlshello_parse(q, n + 1, &h), -EINVAL);
	q[n] = 22;
	q[n + 1] = 3;
	q[n + 2] = 1;
	q[n + 3] = 0;
	q[n + 4] = 2;                   /* a 2-byte record for 1 missing byte */
	q[n + 5] = 0;
	q[n + 6] = 0;
	assert_int_equal(tlshello_parse(q, n + 7, &h), -EINVAL);
	q[n + 4] = 1;                   /* a fine one, then trailing junk */
	assert_int_equal(tlshello_parse(q, n + 6, &h), -EINVAL); /* ext len */
	/* session id over 32, odd cipher suites, no compression method */
	memcpy(q, p, n);
	q[9 + 2 + 32] = 33;
	assert_int_equal(tlshello_parse(q, n, &h), -EINVAL);
	memcpy(q, p, n);
	q[9 + 2 + 32 + 1 + 1] = 3;
	assert_int_equal(tlshello_parse(q, n, &h), -EINVAL);
	memcpy(q, p, n);
	q[9 + 2 + 32 + 1 + 1] = 0;
	assert_int_equal(tlshello_parse(q, n, &h), -EINVAL);
	memcpy(q, p, n);
	q[9 + 2 + 32 + 1 + 4] = 0;
	assert_int_equal(tlshello_parse(q, n, &h), -EINVAL);
	/* legacy_version not 3.x */
	memcpy(q, p, n);
	q[9] = 2;
	assert_int_equal(tlshello_parse(q, n, &h), -EINVAL);
	/* every truncation of the inner lengths' container: the record and
	 * handshake lengths both shrunk by k; only cutting the whole
	 * extensions block off leaves a valid (older style) hello */
	for (k = 1; k < n - 9; k++) {
		memcpy(q, p, n);
		q[3] = (uint8_t)((n - 5 - k) >> 8);
		q[4] = (uint8_t)(n - 5 - k);
		q[7] = (uint8_t)((n - 9 - k) >> 8);
		q[8] = (uint8_t)(n - 9 - k);
		assert_int_equal(tlshello_parse(q, n - k, &h),
		    k == 2 + e.n ? (int)(n - k) : -EINVAL);
	}
}

static void
test_garbage(void **state)
{
	static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t v2[] = { 0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15 };
	static const uint8_t alert[] = { 21, 3, 1, 0, 2, 2, 40 };
	static const uint8_t server[] = { 22, 3, 3, 0, 60, 2, 0, 0, 56 };
	static const uint8_t badver[] = { 22, 2, 0, 0, 60 };
	static const uint8_t badminor[] = { 22, 3, 9, 0, 60 };
	static const uint8_t empty[] = { 22, 3, 1, 0, 0 };
	static const uint8_t big[] = { 22, 3, 1, 0x40, 0x01 };
	static const uint8_t bighi[] = { 22, 3, 1, 0x41 };
	static const uint8_t tiny[] = { 22, 3, 1, 0, 8, 1, 0, 0, 4 };
	static const uint8_t huge_hs[] = { 22, 3, 1, 0x40, 0, 1, 0x01, 0, 0 };
	static const uint8_t over[] = { 22, 3, 1, 0x40, 0, 1, 0, 0x3f, 0xfc };
	static const uint8_t fits[] = { 22, 3, 1, 0x3f, 0xfb, 1, 0, 0x3f, 0xf7 };
	uint8_t rnd[256];
	struct tlshello h;
	uint32_t x = 12345;
	size_t i;
	int rc;

	assert_int_equal(tlshello_parse(http, 1, &h), -EINVAL);
	assert_false(h.sslv2);
	assert_non_null(h.reason);
	assert_int_equal(tlshello_parse(v2, sizeof(v2), &h), -EINVAL);
	assert_true(h.sslv2);
	assert_int_equal(tlshello_parse(v2, 1, &h), -EINVAL);
	assert_true(h.sslv2);
	assert_int_equal(tlshello_parse(alert, sizeof(alert), &h), -EINVAL);
	assert_int_equal(tlshello_parse(server, sizeof(server), &h), -EINVAL);
	assert_int_equal(tlshello_parse(badver, 2, &h), -EINVAL);
	assert_int_equal(tlshello_parse(badminor, 3, &h), -EINVAL);
	assert_int_equal(tlshello_parse(empty, sizeof(empty), &h), -EINVAL);
	assert_int_equal(tlshello_parse(big, sizeof(big), &h), -EINVAL);
	assert_int_equal(tlshello_parse(bighi, sizeof(bighi), &h), -EINVAL);
	assert_int_equal(tlshello_parse(tiny, sizeof(tiny), &h), -EINVAL);
	/* a 16 KiB record can't hold a hello plus its header within the cap */
	assert_int_equal(tlshello_parse(huge_hs, sizeof(huge_hs), &h), -EINVAL);
	assert_int_equal(tlshello_parse(over, sizeof(over), &h), -EINVAL);
	/* the largest that fits is waited for */
	assert_int_equal(tlshello_parse(fits, sizeof(fits), &h), 0);
	assert_int_equal(h.need, TLSHELLO_MAX_LEN);
	/* nothing yet */
	assert_int_equal(tlshello_parse(http, 0, &h), 0);
	assert_int_equal(h.need, 5);
	for (i = 0; i < 2000; i++) {
		size_t j;

		for (j = 0; j < sizeof(rnd); j++) {
			x = x * 1103515245u + 12345u;
			rnd[j] = (uint8_t)(x >> 16);
		}
		if (i & 1) {
			memcpy(rnd, "\x16\x03\x01\x00\xf0\x01\x00\x00\xec", 9);
		}
		rc = tlshello_parse(rnd, sizeof(rnd), &h);
		assert_true(rc == -EINVAL || rc == 0 || rc == 245);
	}
}

/* A hello of 16 KiB in records: the cap is on the bytes, record headers
 * included. */
static void
test_cap(void **state)
{
	static uint8_t p[TLSHELLO_MAX_LEN + 1024], q[2 * TLSHELLO_MAX_LEN];
	static struct bb e;
	struct tlshello h;
	size_t n, m, pad, sizes[2];

	/* one padding extension making the record exactly the cap */
	e.n = 0;
	ext_sni(&e, "big.example");
	pad = TLSHELLO_MAX_LEN - (9 + 2 + 32 + 1 + 4 + 2 + 2) - e.n - 4;
	put16(&e, 21);
	put16(&e, (unsigned)pad);
	memset(e.b + e.n, 0, pad);
	e.n += pad;
	n = craft(p, &e);
	assert_int_equal(n, TLSHELLO_MAX_LEN);
	assert_int_equal(tlshello_parse(p, n, &h), (int)n);
	assert_string_equal(h.server_name, "big.example");
	assert_int_equal(tlshello_parse(p, n - 1, &h), 0);
	assert_int_equal(h.need, n);
	/* the same in two records: 5 bytes over */
	sizes[0] = 100;
	m = reframe(q, p, n, sizes, 1);
	assert_int_equal(m, n + 5);
	assert_int_equal(tlshello_parse(q, m, &h), -EINVAL);
	assert_int_equal(tlshello_parse(q, 120, &h), -EINVAL);
	/* shrink the padding by 5: now it fits */
	e.n -= pad + 4;
	put16(&e, 21);
	put16(&e, (unsigned)pad - 5);
	memset(e.b + e.n, 0, pad - 5);
	e.n += pad - 5;
	n = craft(p, &e);
	m = reframe(q, p, n, sizes, 1);
	assert_int_equal(m, TLSHELLO_MAX_LEN);
	assert_int_equal(tlshello_parse(q, m, &h), (int)m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openssl_tls13_sni_alpn),
		cmocka_unit_test(test_openssl_tls12_no_sni),
		cmocka_unit_test(test_openssl_tls12_sni),
		cmocka_unit_test(test_openssl_tls13_no_sni),
		cmocka_unit_test(test_two_records),
		cmocka_unit_test(test_many_records),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_sni_structure),
		cmocka_unit_test(test_alpn),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests_name("tlshello", tests, NULL, NULL);
}
