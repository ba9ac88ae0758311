/* Fuzz target for proxyproto_decode(): the input is what a load balancer
 * sent first on a connection.
 *
 * Checks beyond the sanitizers: the result stays within the input; "need
 * more" asks for more than there is and no more than the cap; a complete
 * header decodes the same from exactly its own bytes and every shorter prefix
 * needs more; addresses re-encode (same version) and decode back equal; every
 * TLV proxyproto_tlv() finds lies inside the header.
 *
 * Seeds in tests/fuzz/corpus/fuzz_proxyproto/ are written by this file built
 * with -DFUZZ_PROXYPROTO_SEEDS (a main() that takes the output dir):
 *   cc -std=c11 -D_GNU_SOURCE -DFUZZ_PROXYPROTO_SEEDS -Iproto \
 *       tests/fuzz/fuzz_proxyproto.c proto/proxyproto.c -o /tmp/seeds
 *   /tmp/seeds tests/fuzz/corpus/fuzz_proxyproto
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		abort();
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		if (x->sin_port != y->sin_port ||
		    memcmp(&x->sin_addr, &y->sin_addr, 4) != 0)
			abort();
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		if (x->sin6_port != y->sin6_port ||
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) != 0)
			abort();
	} else if (a->ss_family != AF_UNSPEC) {
		abort();
	}
}

static void
fz_same(const struct proxyproto *a, const struct proxyproto *b)
{
	if (a->version != b->version || a->local != b->local ||
	    a->tlv_len != b->tlv_len)
		abort();
	fz_same_addr(&a->src, &b->src);
	fz_same_addr(&a->dst, &b->dst);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t enc[PROXYPROTO_ENCODE_MAX];
	struct proxyproto pp, pp2;
	const uint8_t *v;
	size_t vlen;
	int rc, n, t;

	rc = proxyproto_decode(data, size, &pp);
	if (rc < 0) {
		if (rc != -EINVAL || pp.reason == NULL)
			abort();
		return 0;
	}
	if (rc == 0) {
		if (pp.need <= size || pp.need > PROXYPROTO_MAX_LEN)
			abort();
		return 0;
	}
	if ((size_t)rc > size || rc > PROXYPROTO_MAX_LEN ||
	    (pp.version != 1 && pp.version != 2))
		abort();
	if (pp.version == 1 && rc > PROXYPROTO_V1_MAX)
		abort();
	if (proxyproto_decode(data, (size_t)rc, &pp2) != rc)
		abort();
	fz_same(&pp, &pp2);
	if (proxyproto_decode(data, (size_t)rc - 1, &pp2) != 0)
		abort();
	if (pp.tlv != NULL && (pp.tlv < data ||
	    pp.tlv + pp.tlv_len != data + rc))
		abort();
	for (t = 0; t < 256; t++) {
		if ((v = proxyproto_tlv(&pp, (uint8_t)t, &vlen)) == NULL)
			continue;
		if (v < pp.tlv + 3 || v + vlen > pp.tlv + pp.tlv_len ||
		    v[-3] != t)
			abort();
	}
	/* the addresses survive a re-encode in the same version */
	if (pp.local) {
		if (pp.src.ss_family != AF_UNSPEC ||
		    pp.dst.ss_family != AF_UNSPEC)
			abort();
		return 0;
	}
	if (pp.version == 1)
		n = proxyproto_encode_v1(enc, sizeof(enc),
		    (struct sockaddr *)&pp.src, (struct sockaddr *)&pp.dst);
	else
		n = proxyproto_encode_v2(enc, sizeof(enc),
		    (struct sockaddr *)&pp.src, (struct sockaddr *)&pp.dst);
	if (n <= 0 || proxyproto_decode(enc, (size_t)n, &pp2) != n)
		abort();
	pp2.tlv_len = pp.tlv_len;
	fz_same(&pp, &pp2);
	return 0;
}

#ifdef FUZZ_PROXYPROTO_SEEDS
int main(int argc, char **argv);

static void
seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(p, 1, n, f);
	fclose(f);
}

static uint32_t
seed_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

int
main(int argc, char **argv)
{
	static const char v1_4[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
	static const char v1_6[] = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	static const char v1_unk[] = "PROXY UNKNOWN\r\n";
	static const char v1_unk_long[] = "PROXY UNKNOWN ::1 ::2 1 2\r\n";
	struct sockaddr_in s4, d4;
	struct sockaddr_in6 s6, d6;
	uint8_t b[512];
	uint32_t crc;
	int n;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	seed(argv[1], "v1_tcp4", v1_4, sizeof(v1_4) - 1);
	seed(argv[1], "v1_tcp6_max", v1_6, sizeof(v1_6) - 1);
	seed(argv[1], "v1_unknown", v1_unk, sizeof(v1_unk) - 1);
	seed(argv[1], "v1_unknown_addrs", v1_unk_long, sizeof(v1_unk_long) - 1);
	memset(&s4, 0, sizeof(s4));
	memset(&d4, 0, sizeof(d4));
	memset(&s6, 0, sizeof(s6));
	memset(&d6, 0, sizeof(d6));
	s4.sin_family = d4.sin_family = AF_INET;
	s6.sin6_family = d6.sin6_family = AF_INET6;
	inet_pton(AF_INET, "203.0.113.7", &s4.sin_addr);
	inet_pton(AF_INET, "10.1.2.3", &d4.sin_addr);
	inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
	inet_pton(AF_INET6, "fd00::443", &d6.sin6_addr);
	s4.sin_port = htons(40000);
	d4.sin_port = htons(443);
	s6.sin6_port = htons(1);
	d6.sin6_port = htons(8443);
	n = proxyproto_encode_v1(b, sizeof(b), (struct sockaddr *)&s6,
	    (struct sockaddr *)&d6);
	seed(argv[1], "v1_tcp6", b, (size_t)n);
	n = proxyproto_encode_v1(b, sizeof(b), (struct sockaddr *)&s4,
	    (struct sockaddr *)&d6);
	seed(argv[1], "v1_mixed", b, (size_t)n);
	n = proxyproto_encode_v2(b, sizeof(b), (struct sockaddr *)&s4,
	    (struct sockaddr *)&d4);
	seed(argv[1], "v2_tcp4", b, (size_t)n);
	memcpy(b + n, "GET / HTTP/1.1\r\n\r\n", 18);
	seed(argv[1], "v2_tcp4_then_data", b, (size_t)n + 18);
	n = proxyproto_encode_v2(b, sizeof(b), (struct sockaddr *)&s6,
	    (struct sockaddr *)&d6);
	seed(argv[1], "v2_tcp6", b, (size_t)n);
	n = proxyproto_encode_v2(b, sizeof(b), NULL, NULL);
	seed(argv[1], "v2_local", b, (size_t)n);
	/* IPv4 with TLVs: AUTHORITY, NOOP, SSL with a sub-TLV, CRC32C last */
	n = proxyproto_encode_v2(b, sizeof(b), (struct sockaddr *)&s4,
	    (struct sockaddr *)&d4);
	memcpy(b + n, "\x02\x00\x0b" "example.com" "\x04\x00\x02\x00\x00"
	    "\x20\x00\x0b\x01\x00\x00\x00\x00\x21\x00\x03" "1.3"
	    "\x03\x00\x04\x00\x00\x00\x00", 14 + 5 + 14 + 7);
	n += 14 + 5 + 14 + 7;
	b[14] = 0;
	b[15] = (uint8_t)(n - 16);
	crc = seed_crc32c(b, (size_t)n);
	b[n - 4] = (uint8_t)(crc >> 24);
	b[n - 3] = (uint8_t)(crc >> 16);
	b[n - 2] = (uint8_t)(crc >> 8);
	b[n - 1] = (uint8_t)crc;
	seed(argv[1], "v2_tcp4_tlvs_crc", b, (size_t)n);
	/* UNIX stream: a valid block we fall back on */
	n = proxyproto_encode_v2(b, sizeof(b), NULL, NULL);
	b[12] = 0x21;
	b[13] = 0x31;
	b[14] = 0;
	b[15] = 216;
	memset(b + 16, 'u', 216);
	seed(argv[1], "v2_unix", b, 16 + 216);
	return 0;
}
#endif
