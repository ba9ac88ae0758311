/* certs — the public HTTPS listener's certificates, chosen by SNI.
 *
 * A directory holds one PEM file per certificate: NAME.pem with the chain
 * and the key, or NAME.crt with NAME.key beside it. Each certificate serves
 * the DNS names in its subjectAltName (a wildcard *.example.com serves one
 * label under example.com). A name no certificate covers gets the default
 * one (the node's own). SIGHUP loads the directory again into a new store;
 * connections keep the context they started with. */
#ifndef WARREN_CERTS_H
#define WARREN_CERTS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

struct certs;

/* Loads dir (may be NULL or "": only the default) plus the default
 * certificate. Returns 0 and sets *out, or -1 with a sentence in err. */
int certs_load(struct certs **out, const char *dir, const char *def_cert,
    const char *def_key, char *err, size_t errlen);
void certs_free(struct certs *c);

/* The context for a name (lowercase), or the default one. */
SSL_CTX *certs_find(const struct certs *c, const char *name);
/* Lets the store issue certificates from the development CA under ca_dir
 * (tls_dev_issue) for names no loaded certificate covers. Returns 0 or
 * -ENOMEM. */
int certs_issuer(struct certs *c, const char *ca_dir);
/* certs_find(), but when only the default would answer, the name is one
 * the node serves (`served`, from the route table) and an issuer is set,
 * a certificate for exactly that name is issued (or loaded from an earlier
 * run) and kept, up to CERTS_ISSUED_MAX names. */
SSL_CTX *certs_for(struct certs *c, const char *name, bool served);
SSL_CTX *certs_default(const struct certs *c);
/* Number of certificates loaded (default included). */
size_t certs_count(const struct certs *c);

#endif
