#include "meshtls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>

#include "tls.h"

#define MESHTLS_LABEL   "EXPORTER-warren-mesh-link"

/* A self-signed certificate for key, valid a day either side of now: it is
 * never checked, it only lets the TLS handshake run. */
static X509 *
meshtls_cert(EVP_PKEY *key)
{
	unsigned char serial[16];
	BIGNUM *bn;
	X509 *x;

	if ((x = X509_new()) == NULL)
		return NULL;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL)
		goto fail;
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		BN_free(bn);
		goto fail;
	}
	BN_free(bn);
	if (X509_set_version(x, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -86400) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650) == NULL ||
	    X509_set_pubkey(x, key) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"warren mesh link", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    X509_sign(x, key, EVP_sha256()) == 0)
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

SSL_CTX *
meshtls_ctx(bool server, char *err, size_t errlen)
{
	char why[256];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method())) == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
	if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:"
	    "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384") != 1)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	tls_ctx_link(ctx);
	if (server) {
		if ((key = EVP_EC_gen("P-256")) == NULL ||
		    (cert = meshtls_cert(key)) == NULL ||
		    SSL_CTX_use_certificate(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, key) != 1)
			goto fail;
		X509_free(cert);
		EVP_PKEY_free(key);
	}
	return ctx;
fail:
	snprintf(err, errlen, "cannot set up TLS for mesh links: %s",
	    tls_io_error(why, sizeof(why)));
	X509_free(cert);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return NULL;
}

int
meshtls_binding(SSL *ssl, uint8_t out[MESHTLS_BINDING_LEN])
{
	int rc;

	if (ssl == NULL || !SSL_is_init_finished(ssl) ||
	    SSL_version(ssl) != TLS1_3_VERSION)
		return -EPROTO;
	ERR_clear_error();
	rc = SSL_export_keying_material(ssl, out, MESHTLS_BINDING_LEN,
	    MESHTLS_LABEL, sizeof(MESHTLS_LABEL) - 1, NULL, 0, 0);
	ERR_clear_error();
	return rc == 1 ? 0 : -EPROTO;
}
