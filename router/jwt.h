/* jwt — JSON Web Tokens as tunnel credentials (RFC 7519, RS256 and ES256).
 *
 * A client may present a JWT instead of a warren token, so an OIDC provider
 * can issue tunnel credentials. The node is given public keys (PEM files
 * and/or a JWKS document); a token is accepted when its signature verifies
 * with one of them (the header's kid picks the key when both have one), it
 * has not expired (exp is required; nbf is honoured; both with a small
 * leeway), its aud contains the configured audience and its iss equals the
 * configured issuer (each checked when configured), and it has a sub. The
 * names it may claim come from a configured claim (default "warren_allow":
 * an array of host patterns, or one string) and its ports from
 * "warren_ports" (an array of "LO-HI" or "PORT" strings or numbers).
 *
 * Decoding is pure (bytes in, structs out) and bounded: a token is at most
 * JWT_MAX_LEN bytes, a JWKS at most JWT_JWKS_MAX bytes and JWT_KEYS_MAX
 * keys. Fuzz targets: tests/fuzz/fuzz_jwt.c, tests/fuzz/fuzz_jwks.c. */
#ifndef WARREN_JWT_H
#define WARREN_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_LEN             8192
#define JWT_JWKS_MAX            (256 * 1024)
#define JWT_KEYS_MAX            64
#define JWT_PATTERNS_MAX        64      /* entries of the allow claim */
#define JWT_LEEWAY_S            60
#define JWT_DEFAULT_CLAIM       "warren_allow"
#define JWT_PORTS_CLAIM         "warren_ports"

struct jwt_keys;

/* Returns 0 and sets *out to an empty key set, or -ENOMEM. */
int jwt_keys_new(struct jwt_keys **out);
/* Frees the set and its keys; NULL is a no-op. */
void jwt_keys_free(struct jwt_keys *k);
/* Keys in the set. */
size_t jwt_keys_count(const struct jwt_keys *k);

/* Adds every public key ("BEGIN PUBLIC KEY": RSA of 2048 bits or more, or
 * EC P-256) in the PEM text. Returns the number added (> 0), or -EINVAL
 * with a sentence in err when the text holds none or an unusable one. */
int jwt_keys_add_pem(struct jwt_keys *k, const char *pem, size_t len,
    char *err, size_t errlen);
/* Adds the keys of a JWKS document ({"keys": [...]}: kty RSA with n, e, or
 * kty EC with crv P-256, x, y; keys with "use" other than "sig" or other
 * kinds are skipped). Returns the number added (>= 0) or -EINVAL with a
 * sentence in err for a malformed document. */
int jwt_keys_add_jwks(struct jwt_keys *k, const char *json, size_t len,
    char *err, size_t errlen);
/* Reads a PEM file (jwks false) or a JWKS file (jwks true) and adds its
 * keys. Returns as the functions above, or -errno when it cannot be read. */
int jwt_keys_load(struct jwt_keys *k, const char *path, bool jwks, char *err,
    size_t errlen);

/* What a caller checks a token against. */
struct jwt_opts {
	const char *audience;           /* NULL or "": not checked */
	const char *issuer;             /* NULL or "": not checked */
	const char *claim;              /* allow patterns; NULL: JWT_DEFAULT_CLAIM */
	int64_t now;                    /* unix seconds */
	int leeway;                     /* seconds for exp/nbf */
};

/* An accepted token, every string owned (jwt_result_fini). */
struct jwt_result {
	char *identity;                 /* "jwt:<iss>#<sub>": reservations key */
	char *allow;                    /* comma-separated host patterns */
	char *ports;                    /* comma-separated LO-HI ranges */
	int64_t exp;
};

/* True when s has the shape of a JWS compact token (three base64url parts
 * separated by dots, the first starting with "eyJ"): warren tokens never do. */
bool jwt_looks_like(const char *s);

/* A decoded but unverified token. */
struct jwt_parsed {
	char alg[8];                    /* "RS256" or "ES256" */
	char *kid;                      /* "" when absent */
	void *payload;                  /* json_t * object */
	unsigned char *sig;
	size_t sig_len;
	size_t signed_len;              /* bytes of the token that are signed */
};

/* Decodes the compact serialization (pure, bounded). Returns 0 (fini
 * needed) or -EINVAL with a sentence in err (nothing to fini). */
int jwt_decode(struct jwt_parsed *p, const char *token, size_t len, char *err,
    size_t errlen);
void jwt_parsed_fini(struct jwt_parsed *p);

/* Checks the claims of a decoded token (not its signature) and fills *out.
 * Returns 0 or -EACCES with a sentence in err. */
int jwt_claims(const struct jwt_parsed *p, const struct jwt_opts *o,
    struct jwt_result *out, char *err, size_t errlen);

/* decode + signature with one of the keys + claims. Returns 0 and fills
 * *out, or -EINVAL (malformed) / -EACCES (signature or claims) with a
 * sentence in err. */
int jwt_verify(const struct jwt_keys *k, const char *token,
    const struct jwt_opts *o, struct jwt_result *out, char *err, size_t errlen);
void jwt_result_fini(struct jwt_result *r);

/* base64url without padding (padding tolerated) into out (at least
 * len * 3 / 4 + 3 bytes). Returns the decoded length or -EINVAL. */
long jwt_b64url_decode(unsigned char *out, const char *in, size_t len);

#endif
