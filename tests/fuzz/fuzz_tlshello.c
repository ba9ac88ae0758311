/* Fuzz target for tlshello_parse(): the input is what a client sent first.
 *
 * Checks beyond the sanitizers: the result stays within the input; "need
 * more" asks for more than there is and no more than the cap; a complete
 * hello parses the same from exactly its own bytes, every shorter prefix
 * needs more, and one record re-framed as two gives the same hello; names
 * and ALPN ids are within their bounds and characters.
 *
 * Seeds in tests/fuzz/corpus/fuzz_tlshello/ are ClientHellos written by
 * OpenSSL, from this file built with -DFUZZ_TLSHELLO_SEEDS (a main() that
 * takes the output dir):
 *   cc -std=c11 -D_GNU_SOURCE -DFUZZ_TLSHELLO_SEEDS -Iproto \
 *       tests/fuzz/fuzz_tlshello.c proto/tlshello.c -lssl -lcrypto -o /tmp/seeds
 *   /tmp/seeds tests/fuzz/corpus/fuzz_tlshello
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlshello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_check_fields(const struct tlshello *h)
{
	size_t i, n = strnlen(h->server_name, sizeof(h->server_name));

	if (n > TLSHELLO_MAX_NAME || h->nalpn > TLSHELLO_MAX_ALPN)
		abort();
	for (i = 0; i < n; i++) {
		char c = h->server_name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.'))
			abort();
	}
	for (i = 0; i < h->nalpn; i++)
		if (h->alpn[i].len == 0 || h->alpn[i].len > TLSHELLO_ALPN_LEN ||
		    strlen(h->alpn[i].name) != h->alpn[i].len)
			abort();
	if (h->tls13 && h->max_version < 0x0304)
		abort();
}

static void
fz_same(const struct tlshello *a, const struct tlshello *b)
{
	size_t i;

	if (strcmp(a->server_name, b->server_name) != 0 ||
	    a->nalpn != b->nalpn || a->tls13 != b->tls13 ||
	    a->max_version != b->max_version ||
	    a->legacy_version != b->legacy_version)
		abort();
	for (i = 0; i < a->nalpn; i++)
		if (strcmp(a->alpn[i].name, b->alpn[i].name) != 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t two[TLSHELLO_MAX_LEN + 5];
	struct tlshello h, h2;
	size_t rlen, k;
	int rc;

	rc = tlshello_parse(data, size, &h);
	if (rc < 0) {
		if (rc != -EINVAL || h.reason == NULL)
			abort();
		return 0;
	}
	if (rc == 0) {
		if (h.need <= size || h.need > TLSHELLO_MAX_LEN)
			abort();
		return 0;
	}
	if ((size_t)rc > size || (size_t)rc > TLSHELLO_MAX_LEN)
		abort();
	fz_check_fields(&h);
	if (tlshello_parse(data, (size_t)rc, &h2) != rc)
		abort();
	fz_same(&h, &h2);
	if (tlshello_parse(data, (size_t)rc - 1, &h2) != 0)
		abort();
	/* one record: split its handshake bytes into two records */
	rlen = (size_t)data[3] << 8 | data[4];
	if (5 + rlen != (size_t)rc || rlen < 2 || (size_t)rc + 5 > sizeof(two))
		return 0;
	k = 1 + (data[size - 1] + (size_t)data[size / 2] * 256) % (rlen - 1);
	memcpy(two, data, 3);
	two[3] = (uint8_t)(k >> 8);
	two[4] = (uint8_t)k;
	memcpy(two + 5, data + 5, k);
	memcpy(two + 5 + k, data, 3);
	two[5 + k + 3] = (uint8_t)((rlen - k) >> 8);
	two[5 + k + 4] = (uint8_t)(rlen - k);
	memcpy(two + 10 + k, data + 5 + k, rlen - k);
	rc = tlshello_parse(two, rlen + 10, &h2);
	if (rlen + 10 > TLSHELLO_MAX_LEN) {
		if (rc != -EINVAL)
			abort();
		return 0;
	}
	if (rc != (int)(rlen + 10))
		abort();
	fz_same(&h, &h2);
	return 0;
}

#ifdef FUZZ_TLSHELLO_SEEDS
#include <openssl/bio.h>
#include <openssl/ssl.h>

int main(int argc, char **argv);

static void
seed(const char *dir, const char *name, int maxv, const char *sni,
    const char *alpn, size_t alpn_len, size_t split)
{
	uint8_t buf[8192], out[8192 + 5];
	char path[4096];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *s;
	BIO *rb, *wb;
	FILE *f;
	int n;

	SSL_CTX_set_max_proto_version(ctx, maxv);
	s = SSL_new(ctx);
	rb = BIO_new(BIO_s_mem());
	wb = BIO_new(BIO_s_mem());
	SSL_set_bio(s, rb, wb);
	if (sni != NULL)
		SSL_set_tlsext_host_name(s, sni);
	if (alpn != NULL)
		SSL_set_alpn_protos(s, (const uint8_t *)alpn, (unsigned)alpn_len);
	SSL_connect(s);
	n = BIO_read(wb, buf, sizeof(buf));
	SSL_free(s);
	SSL_CTX_free(ctx);
	if (n <= 0) {
		fprintf(stderr, "no ClientHello from OpenSSL\n");
		exit(1);
	}
	if (split > 0 && split < (size_t)n - 5) {
		/* the same handshake bytes in two records */
		memcpy(out, buf, 3);
		out[3] = (uint8_t)(split >> 8);
		out[4] = (uint8_t)split;
		memcpy(out + 5, buf + 5, split);
		memcpy(out + 5 + split, buf, 3);
		out[8 + split] = (uint8_t)((n - 5 - split) >> 8);
		out[9 + split] = (uint8_t)(n - 5 - split);
		memcpy(out + 10 + split, buf + 5 + split, (size_t)n - 5 - split);
		n += 5;
	} else {
		memcpy(out, buf, (size_t)n);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(out, 1, (size_t)n, f);
	fclose(f);
}

int
main(int argc, char **argv)
{
	static const char alpn[] = "\x02h2\x08http/1.1";

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	seed(argv[1], "tls13_sni_alpn", TLS1_3_VERSION, "app.example.com",
	    alpn, sizeof(alpn) - 1, 0);
	seed(argv[1], "tls13_no_sni", TLS1_3_VERSION, NULL, NULL, 0, 0);
	seed(argv[1], "tls12_sni", TLS1_2_VERSION, "Mixed.Case.Example", NULL,
	    0, 0);
	seed(argv[1], "tls12_alpn_no_sni", TLS1_2_VERSION, NULL, alpn,
	    sizeof(alpn) - 1, 0);
	seed(argv[1], "tls13_two_records", TLS1_3_VERSION, "split.example",
	    alpn, sizeof(alpn) - 1, 100);
	seed(argv[1], "tls13_split_hs_header", TLS1_3_VERSION, "x.example",
	    NULL, 0, 2);
	return 0;
}
#endif
