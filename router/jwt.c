#include "router/jwt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#define JWT_KID_MAX     128
#define JWT_ID_PART_MAX 255             /* iss and sub in an identity */
#define JWT_RSA_MIN     2048
#define JWT_RSA_MAX     8192

enum jwt_kty { JWT_KTY_RSA = 1, JWT_KTY_EC = 2 };

struct jwt_key {
	EVP_PKEY *pkey;
	int kty;
	char kid[JWT_KID_MAX + 1];      /* "" when none */
};

struct jwt_keys {
	struct jwt_key v[JWT_KEYS_MAX];
	size_t n;
};

static void jwt_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
jwt_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- base64url ---- */

static int
jwt_b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long
jwt_b64url_decode(unsigned char *out, const char *in, size_t len)
{
	uint32_t acc = 0;
	size_t i, n = 0;
	int bits = 0, v;

	while (len > 0 && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if ((v = jwt_b64_val((unsigned char)in[i])) < 0)
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* leftover bits must be zero (canonical encoding) */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -EINVAL;
	return (long)n;
}

/* A new buffer with the decoded bytes (+ a NUL), or NULL. */
static unsigned char *
jwt_b64_dup(const char *in, size_t len, size_t *outlen)
{
	unsigned char *out = malloc(len * 3 / 4 + 4);
	long n;

	if (out == NULL)
		return NULL;
	if ((n = jwt_b64url_decode(out, in, len)) < 0) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*outlen = (size_t)n;
	return out;
}

/* ---- keys ---- */

int
jwt_keys_new(struct jwt_keys **out)
{
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return -ENOMEM;
	return 0;
}

void
jwt_keys_free(struct jwt_keys *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < k->n; i++)
		EVP_PKEY_free(k->v[i].pkey);
	free(k);
}

size_t
jwt_keys_count(const struct jwt_keys *k)
{
	return k != NULL ? k->n : 0;
}

/* Checks the key is one we verify with; takes pkey on success. */
static int
jwt_keys_take(struct jwt_keys *k, EVP_PKEY *pkey, const char *kid, char *err,
    size_t errlen)
{
	char group[64];
	int kty, bits;

	if (k->n >= JWT_KEYS_MAX) {
		jwt_err(err, errlen, "more than %d JWT keys", JWT_KEYS_MAX);
		return -EINVAL;
	}
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		bits = EVP_PKEY_get_bits(pkey);
		if (bits < JWT_RSA_MIN || bits > JWT_RSA_MAX) {
			jwt_err(err, errlen, "RSA key of %d bits: want %d to %d",
			    bits, JWT_RSA_MIN, JWT_RSA_MAX);
			return -EINVAL;
		}
		kty = JWT_KTY_RSA;
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
		    group, sizeof(group), NULL) != 1 ||
		    strcmp(group, "prime256v1") != 0) {
			jwt_err(err, errlen, "EC key not on P-256 (ES256 needs P-256)");
			return -EINVAL;
		}
		kty = JWT_KTY_EC;
	} else {
		jwt_err(err, errlen, "key type is neither RSA nor EC");
		return -EINVAL;
	}
	k->v[k->n].pkey = pkey;
	k->v[k->n].kty = kty;
	snprintf(k->v[k->n].kid, sizeof(k->v[k->n].kid), "%s", kid);
	k->n++;
	return 0;
}

int
jwt_keys_add_pem(struct jwt_keys *k, const char *pem, size_t len, char *err,
    size_t errlen)
{
	EVP_PKEY *pkey;
	BIO *bio;
	int n = 0, rc;

	if (len > JWT_JWKS_MAX || len > INT32_MAX) {
		jwt_err(err, errlen, "PEM key file larger than %d bytes", JWT_JWKS_MAX);
		return -EINVAL;
	}
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		jwt_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	while ((pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) != NULL) {
		if ((rc = jwt_keys_take(k, pkey, "", err, errlen)) != 0) {
			EVP_PKEY_free(pkey);
			BIO_free(bio);
			ERR_clear_error();
			return rc;
		}
		n++;
	}
	BIO_free(bio);
	ERR_clear_error();
	if (n == 0) {
		jwt_err(err, errlen, "no public key found (want PEM blocks "
		    "\"BEGIN PUBLIC KEY\")");
		return -EINVAL;
	}
	return n;
}

/* Base64url member `name` of o decoded into a new BIGNUM, or NULL. */
static BIGNUM *
jwt_jwk_bn(json_t *o, const char *name, size_t maxlen, size_t *blen)
{
	const char *s = json_string_value(json_object_get(o, name));
	unsigned char *b;
	BIGNUM *bn;
	size_t n;

	if (s == NULL || strlen(s) > maxlen * 4 / 3 + 4)
		return NULL;
	if ((b = jwt_b64_dup(s, strlen(s), &n)) == NULL)
		return NULL;
	if (n == 0 || n > maxlen) {
		free(b);
		return NULL;
	}
	bn = BN_bin2bn(b, (int)n, NULL);
	free(b);
	if (blen != NULL)
		*blen = n;
	return bn;
}

/* EVP_PKEY_fromdata for "RSA" or "EC" with the built params. */
static EVP_PKEY *
jwt_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (params == NULL)
		return NULL;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *
jwt_jwk_rsa(json_t *o)
{
	OSSL_PARAM_BLD *bld;
	BIGNUM *n, *e;
	EVP_PKEY *pkey = NULL;

	n = jwt_jwk_bn(o, "n", JWT_RSA_MAX / 8, NULL);
	e = jwt_jwk_bn(o, "e", 8, NULL);
	if (n != NULL && e != NULL && !BN_is_zero(e) &&
	    (bld = OSSL_PARAM_BLD_new()) != NULL) {
		if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1)
			pkey = jwt_fromdata("RSA", bld);
		OSSL_PARAM_BLD_free(bld);
	}
	BN_free(n);
	BN_free(e);
	return pkey;
}

static EVP_PKEY *
jwt_jwk_ec(json_t *o)
{
	const char *crv = json_string_value(json_object_get(o, "crv"));
	const char *xs = json_string_value(json_object_get(o, "x"));
	const char *ys = json_string_value(json_object_get(o, "y"));
	unsigned char pub[65], *x = NULL, *y = NULL;
	OSSL_PARAM_BLD *bld;
	EVP_PKEY *pkey = NULL;
	size_t xn = 0, yn = 0;

	if (crv == NULL || strcmp(crv, "P-256") != 0 || xs == NULL || ys == NULL ||
	    strlen(xs) > 64 || strlen(ys) > 64)
		return NULL;
	x = jwt_b64_dup(xs, strlen(xs), &xn);
	y = jwt_b64_dup(ys, strlen(ys), &yn);
	if (x != NULL && y != NULL && xn == 32 && yn == 32 &&
	    (bld = OSSL_PARAM_BLD_new()) != NULL) {
		pub[0] = 0x04;
		memcpy(pub + 1, x, 32);
		memcpy(pub + 33, y, 32);
		if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
		    "prime256v1", 0) == 1 &&
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
		    pub, sizeof(pub)) == 1)
			pkey = jwt_fromdata("EC", bld);
		OSSL_PARAM_BLD_free(bld);
	}
	free(x);
	free(y);
	return pkey;
}

int
jwt_keys_add_jwks(struct jwt_keys *k, const char *json, size_t len, char *err,
    size_t errlen)
{
	json_error_t jerr;
	json_t *doc, *keys, *o;
	const char *kty, *use, *kid;
	EVP_PKEY *pkey;
	size_t i;
	int n = 0, rc;

	if (len > JWT_JWKS_MAX) {
		jwt_err(err, errlen, "JWKS larger than %d bytes", JWT_JWKS_MAX);
		return -EINVAL;
	}
	doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		jwt_err(err, errlen, "JWKS is not valid JSON: %s (line %d)",
		    jerr.text, jerr.line);
		return -EINVAL;
	}
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys)) {
		json_decref(doc);
		jwt_err(err, errlen, "JWKS has no \"keys\" array");
		return -EINVAL;
	}
	json_array_foreach(keys, i, o) {
		if (!json_is_object(o))
			continue;
		kty = json_string_value(json_object_get(o, "kty"));
		use = json_string_value(json_object_get(o, "use"));
		kid = json_string_value(json_object_get(o, "kid"));
		if (kty == NULL || (use != NULL && strcmp(use, "sig") != 0))
			continue;
		if (kid != NULL && strlen(kid) > JWT_KID_MAX)
			continue;
		if (strcmp(kty, "RSA") == 0)
			pkey = jwt_jwk_rsa(o);
		else if (strcmp(kty, "EC") == 0)
			pkey = jwt_jwk_ec(o);
		else
			continue;
		ERR_clear_error();
		if (pkey == NULL) {
			/* kid points into doc: the sentence first */
			jwt_err(err, errlen, "JWKS key %zu (kid %.64s) is malformed",
			    i, kid != NULL ? kid : "none");
			json_decref(doc);
			return -EINVAL;
		}
		if ((rc = jwt_keys_take(k, pkey, kid != NULL ? kid : "", err,
		    errlen)) != 0) {
			EVP_PKEY_free(pkey);
			json_decref(doc);
			return rc;
		}
		n++;
	}
	json_decref(doc);
	return n;
}

int
jwt_keys_load(struct jwt_keys *k, const char *path, bool jwks, char *err,
    size_t errlen)
{
	char *buf;
	size_t n;
	FILE *f;
	int rc;

	if ((f = fopen(path, "rb")) == NULL) {
		rc = -errno;
		jwt_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return rc;
	}
	if ((buf = malloc(JWT_JWKS_MAX + 1)) == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, JWT_JWKS_MAX + 1, f);
	fclose(f);
	if (n > JWT_JWKS_MAX) {
		free(buf);
		jwt_err(err, errlen, "%s is larger than %d bytes", path, JWT_JWKS_MAX);
		return -EINVAL;
	}
	rc = jwks ? jwt_keys_add_jwks(k, buf, n, err, errlen) :
	    jwt_keys_add_pem(k, buf, n, err, errlen);
	free(buf);
	return rc;
}

/* ---- tokens ---- */

bool
jwt_looks_like(const char *s)
{
	const char *d1, *d2;

	if (s == NULL || strncmp(s, "eyJ", 3) != 0)
		return false;
	if ((d1 = strchr(s, '.')) == NULL || (d2 = strchr(d1 + 1, '.')) == NULL)
		return false;
	return strchr(d2 + 1, '.') == NULL;
}

void
jwt_parsed_fini(struct jwt_parsed *p)
{
	free(p->kid);
	json_decref(p->payload);
	free(p->sig);
	memset(p, 0, sizeof(*p));
}

int
jwt_decode(struct jwt_parsed *p, const char *token, size_t len, char *err,
    size_t errlen)
{
	const char *d1, *d2, *end = token + len, *alg, *kid;
	unsigned char *hb = NULL, *pb = NULL;
	json_t *hdr = NULL, *payload = NULL;
	size_t hn, pn;

	memset(p, 0, sizeof(*p));
	if (len == 0 || len > JWT_MAX_LEN || memchr(token, '\0', len) != NULL) {
		jwt_err(err, errlen, "the JWT is empty or longer than %d bytes",
		    JWT_MAX_LEN);
		return -EINVAL;
	}
	if ((d1 = memchr(token, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', (size_t)(end - d1 - 1))) == NULL ||
	    memchr(d2 + 1, '.', (size_t)(end - d2 - 1)) != NULL) {
		jwt_err(err, errlen, "the JWT does not have three parts");
		return -EINVAL;
	}
	if ((hb = jwt_b64_dup(token, (size_t)(d1 - token), &hn)) == NULL ||
	    (pb = jwt_b64_dup(d1 + 1, (size_t)(d2 - d1 - 1), &pn)) == NULL ||
	    (p->sig = jwt_b64_dup(d2 + 1, (size_t)(end - d2 - 1), &p->sig_len)) == NULL) {
		jwt_err(err, errlen, "the JWT is not base64url");
		goto fail;
	}
	hdr = json_loadb((const char *)hb, hn, JSON_REJECT_DUPLICATES, NULL);
	payload = json_loadb((const char *)pb, pn, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(hdr) || !json_is_object(payload)) {
		jwt_err(err, errlen, "the JWT header or payload is not a JSON object");
		goto fail;
	}
	alg = json_string_value(json_object_get(hdr, "alg"));
	if (alg == NULL || (strcmp(alg, "RS256") != 0 && strcmp(alg, "ES256") != 0)) {
		jwt_err(err, errlen, "JWT algorithm %.16s is not accepted (want "
		    "RS256 or ES256)", alg != NULL ? alg : "(none)");
		goto fail;
	}
	if (json_object_get(hdr, "crit") != NULL) {
		jwt_err(err, errlen, "the JWT has critical header extensions");
		goto fail;
	}
	kid = json_string_value(json_object_get(hdr, "kid"));
	if (json_object_get(hdr, "kid") != NULL &&
	    (kid == NULL || strlen(kid) > JWT_KID_MAX)) {
		jwt_err(err, errlen, "the JWT kid is not a short string");
		goto fail;
	}
	if ((p->kid = strdup(kid != NULL ? kid : "")) == NULL) {
		jwt_err(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(p->alg, sizeof(p->alg), "%s", alg);
	p->payload = payload;
	p->signed_len = (size_t)(d2 - token);
	json_decref(hdr);
	free(hb);
	free(pb);
	return 0;
fail:
	json_decref(hdr);
	json_decref(payload);
	free(hb);
	free(pb);
	free(p->kid);
	free(p->sig);
	memset(p, 0, sizeof(*p));
	return -EINVAL;
}

/* Numeric date claim: 0 when present and a number (sets *v), 1 when absent,
 * -1 when malformed. */
static int
jwt_num(json_t *o, const char *name, int64_t *v)
{
	json_t *j = json_object_get(o, name);
	double d;

	if (j == NULL)
		return 1;
	if (json_is_integer(j)) {
		*v = (int64_t)json_integer_value(j);
		return 0;
	}
	if (json_is_real(j)) {
		d = json_real_value(j);
		if (d != d || d > 9e15 || d < -9e15)
			return -1;
		*v = (int64_t)d;
		return 0;
	}
	return -1;
}

/* A pattern or port range from a claim: printable, no ',' or space. */
static bool
jwt_item_ok(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f ||
		    s[i] == ',')
			return false;
	return true;
}

/* Joins an array of strings (or, when numbers_ok, integers) with ','.
 * Returns a new string or NULL with err set. */
static char *
jwt_join_array(json_t *c, const char *name, bool numbers_ok, char *err,
    size_t errlen)
{
	json_t *v;
	char item[300], *out;
	size_t i, cap, len = 0, n;

	if (!json_is_array(c) || json_array_size(c) > JWT_PATTERNS_MAX) {
		jwt_err(err, errlen, "the JWT claim %.64s is not an array of at "
		    "most %d strings", name, JWT_PATTERNS_MAX);
		return NULL;
	}
	cap = json_array_size(c) * 256 + 1;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	out[0] = '\0';
	json_array_foreach(c, i, v) {
		if (json_is_string(v) && json_string_length(v) < sizeof(item))
			snprintf(item, sizeof(item), "%s", json_string_value(v));
		else if (numbers_ok && json_is_integer(v) &&
		    json_integer_value(v) > 0 && json_integer_value(v) < 65536)
			snprintf(item, sizeof(item), "%d", (int)json_integer_value(v));
		else
			item[0] = '\0';
		if (!jwt_item_ok(item, 253)) {
			free(out);
			jwt_err(err, errlen, "the JWT claim %.64s has an entry that "
			    "is not a short string without spaces or commas", name);
			return NULL;
		}
		n = strlen(item);
		if (len + n + 2 > cap) {
			free(out);
			return NULL;
		}
		if (len > 0)
			out[len++] = ',';
		memcpy(out + len, item, n + 1);
		len += n;
	}
	return out;
}

/* Claim `name` (absent: "", one string or number, or an array) joined with
 * ','. Returns a new string or NULL with err set. */
static char *
jwt_join(json_t *payload, const char *name, bool numbers_ok, char *err,
    size_t errlen)
{
	json_t *c = json_object_get(payload, name), *one;
	char *out;

	if (c == NULL)
		return strdup("");
	if (!json_is_string(c) && !(numbers_ok && json_is_integer(c)))
		return jwt_join_array(c, name, numbers_ok, err, errlen);
	if ((one = json_array()) == NULL || json_array_append(one, c) != 0) {
		json_decref(one);
		return NULL;
	}
	out = jwt_join_array(one, name, numbers_ok, err, errlen);
	json_decref(one);
	return out;
}

static bool
jwt_aud_has(json_t *aud, const char *want)
{
	json_t *v;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	if (json_is_array(aud))
		json_array_foreach(aud, i, v)
			if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
				return true;
	return false;
}

void
jwt_result_fini(struct jwt_result *r)
{
	free(r->identity);
	free(r->allow);
	free(r->ports);
	memset(r, 0, sizeof(*r));
}

int
jwt_claims(const struct jwt_parsed *p, const struct jwt_opts *o,
    struct jwt_result *out, char *err, size_t errlen)
{
	json_t *pl = p->payload;
	const char *iss, *sub, *claim = o->claim != NULL && o->claim[0] != '\0' ?
	    o->claim : JWT_DEFAULT_CLAIM;
	int64_t exp = 0, nbf = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(pl)) {
		jwt_err(err, errlen, "the JWT payload is not a JSON object");
		return -EACCES;
	}
	if ((rc = jwt_num(pl, "exp", &exp)) != 0) {
		jwt_err(err, errlen, rc > 0 ? "the JWT has no exp (expiry) claim" :
		    "the JWT exp claim is not a number");
		return -EACCES;
	}
	if (exp + o->leeway < o->now) {
		jwt_err(err, errlen, "the JWT expired %lld s ago: get a new one",
		    (long long)(o->now - exp));
		return -EACCES;
	}
	if ((rc = jwt_num(pl, "nbf", &nbf)) < 0) {
		jwt_err(err, errlen, "the JWT nbf claim is not a number");
		return -EACCES;
	}
	if (rc == 0 && nbf - o->leeway > o->now) {
		jwt_err(err, errlen, "the JWT is not valid before %lld (%lld s from "
		    "now)", (long long)nbf, (long long)(nbf - o->now));
		return -EACCES;
	}
	iss = json_string_value(json_object_get(pl, "iss"));
	if (o->issuer != NULL && o->issuer[0] != '\0' &&
	    (iss == NULL || strcmp(iss, o->issuer) != 0)) {
		jwt_err(err, errlen, "the JWT issuer %.128s is not the configured "
		    "issuer %.128s", iss != NULL ? iss : "(none)", o->issuer);
		return -EACCES;
	}
	if (o->audience != NULL && o->audience[0] != '\0' &&
	    !jwt_aud_has(json_object_get(pl, "aud"), o->audience)) {
		jwt_err(err, errlen, "the JWT audience does not include %.128s",
		    o->audience);
		return -EACCES;
	}
	sub = json_string_value(json_object_get(pl, "sub"));
	if (sub == NULL || sub[0] == '\0' || strlen(sub) > JWT_ID_PART_MAX ||
	    (iss != NULL && strlen(iss) > JWT_ID_PART_MAX)) {
		jwt_err(err, errlen, "the JWT needs a sub (subject) claim of at "
		    "most %d characters", JWT_ID_PART_MAX);
		return -EACCES;
	}
	if (asprintf(&out->identity, "jwt:%s#%s", iss != NULL ? iss : "", sub) < 0) {
		out->identity = NULL;
		jwt_err(err, errlen, "out of memory");
		return -EACCES;
	}
	out->allow = jwt_join(pl, claim, false, err, errlen);
	out->ports = out->allow != NULL ?
	    jwt_join(pl, JWT_PORTS_CLAIM, true, err, errlen) : NULL;
	if (out->allow == NULL || out->ports == NULL) {
		jwt_result_fini(out);
		return -EACCES;
	}
	out->exp = exp;
	return 0;
}

/* ES256 signatures are r || s (32 bytes each); OpenSSL wants DER. */
static unsigned char *
jwt_es256_der(const unsigned char *sig, size_t len, size_t *derlen)
{
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	unsigned char *der = NULL;
	int n;

	if (len != 64 || (es = ECDSA_SIG_new()) == NULL)
		return NULL;
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return NULL;
	}
	n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return NULL;
	*derlen = (size_t)n;
	return der;
}

static bool
jwt_sig_ok(EVP_PKEY *pkey, const unsigned char *sig, size_t siglen,
    const char *data, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = false;

	if (ctx == NULL)
		return false;
	if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)data,
	    len) == 1)
		ok = true;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

int
jwt_verify(const struct jwt_keys *k, const char *token,
    const struct jwt_opts *o, struct jwt_result *out, char *err, size_t errlen)
{
	struct jwt_parsed p;
	unsigned char *der = NULL;
	const unsigned char *sig;
	size_t i, siglen, derlen = 0;
	bool es, ok = false, tried = false;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = jwt_decode(&p, token, strlen(token), err, errlen)) != 0)
		return rc;
	es = strcmp(p.alg, "ES256") == 0;
	sig = p.sig;
	siglen = p.sig_len;
	if (es) {
		if ((der = jwt_es256_der(p.sig, p.sig_len, &derlen)) == NULL) {
			jwt_parsed_fini(&p);
			jwt_err(err, errlen, "the JWT's ES256 signature is malformed");
			return -EACCES;
		}
		sig = der;
		siglen = derlen;
	}
	for (i = 0; k != NULL && i < k->n && !ok; i++) {
		if (k->v[i].kty != (es ? JWT_KTY_EC : JWT_KTY_RSA))
			continue;
		if (p.kid[0] != '\0' && k->v[i].kid[0] != '\0' &&
		    strcmp(p.kid, k->v[i].kid) != 0)
			continue;
		tried = true;
		ok = jwt_sig_ok(k->v[i].pkey, sig, siglen, token, p.signed_len);
	}
	OPENSSL_free(der);
	if (!ok) {
		jwt_err(err, errlen, tried ? "the JWT signature does not verify "
		    "with the node's keys" : "the node has no %s key%s%.64s to verify "
		    "this JWT", es ? "ES256" : "RS256", p.kid[0] ? " with kid " : "",
		    p.kid);
		jwt_parsed_fini(&p);
		return -EACCES;
	}
	rc = jwt_claims(&p, o, out, err, errlen);
	jwt_parsed_fini(&p);
	return rc;
}
