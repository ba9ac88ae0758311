#include "keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define KEYRING_FILE_MAX        (64 * 1024)
#define KEYRING_LINE_MAX        256

struct keyring_key {
	uint8_t key[KEYRING_KEY_LEN];
	uint8_t id[KEYRING_ID_LEN];
};

struct keyring {
	struct keyring_key keys[KEYRING_MAX_KEYS];
	size_t n;
	EVP_CIPHER_CTX *ctx;
	struct keyring_stats stats;
};

int
keyring_new(struct keyring **out)
{
	struct keyring *kr;

	if ((kr = calloc(1, sizeof(*kr))) == NULL)
		return -ENOMEM;
	if ((kr->ctx = EVP_CIPHER_CTX_new()) == NULL) {
		free(kr);
		return -ENOMEM;
	}
	*out = kr;
	return 0;
}

void
keyring_free(struct keyring *kr)
{
	if (kr == NULL)
		return;
	EVP_CIPHER_CTX_free(kr->ctx);
	OPENSSL_cleanse(kr, sizeof(*kr));
	free(kr);
}

size_t
keyring_count(const struct keyring *kr)
{
	return kr->n;
}

const struct keyring_stats *
keyring_stats(const struct keyring *kr)
{
	return &kr->stats;
}

int
keyring_add(struct keyring *kr, const uint8_t key[KEYRING_KEY_LEN])
{
	struct keyring_key *k;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t i;

	for (i = 0; i < kr->n; i++)
		if (CRYPTO_memcmp(kr->keys[i].key, key, KEYRING_KEY_LEN) == 0)
			return -EEXIST;
	if (kr->n == KEYRING_MAX_KEYS)
		return -ENOSPC;
	if (EVP_Digest(key, KEYRING_KEY_LEN, md, &mdlen, EVP_sha256(),
	    NULL) != 1 || mdlen < KEYRING_ID_LEN)
		return -EIO;
	k = &kr->keys[kr->n++];
	memcpy(k->key, key, KEYRING_KEY_LEN);
	memcpy(k->id, md, KEYRING_ID_LEN);
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

/* Decodes one trimmed base64 line of exactly one key. */
static bool
keyring_decode_line(const char *p, size_t n, uint8_t key[KEYRING_KEY_LEN])
{
	unsigned char tmp[KEYRING_LINE_MAX];
	size_t pad = 0;
	int got;

	/* 32 bytes are 44 base64 characters, the last one '=' */
	if (n != 44)
		return false;
	while (pad < 2 && p[n - 1 - pad] == '=')
		pad++;
	got = EVP_DecodeBlock(tmp, (const unsigned char *)p, (int)n);
	if (got < 0 || (size_t)got - pad != KEYRING_KEY_LEN) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		return false;
	}
	memcpy(key, tmp, KEYRING_KEY_LEN);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return true;
}

int
keyring_parse(struct keyring **out, const char *text, size_t len,
    unsigned *bad_line)
{
	struct keyring *kr;
	uint8_t key[KEYRING_KEY_LEN];
	unsigned line = 0;
	size_t off = 0;
	int rc;

	if ((rc = keyring_new(&kr)) != 0)
		return rc;
	while (off < len) {
		const char *p = text + off, *nl = memchr(p, '\n', len - off);
		size_t n = nl ? (size_t)(nl - p) : len - off;

		off += n + (nl ? 1 : 0);
		line++;
		while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' ||
		    p[n - 1] == '\t'))
			n--;
		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		if (n == 0 || *p == '#')
			continue;
		if (!keyring_decode_line(p, n, key)) {
			rc = -EINVAL;
			goto fail;
		}
		rc = keyring_add(kr, key);
		OPENSSL_cleanse(key, sizeof(key));
		if (rc == -EEXIST)
			continue;
		if (rc != 0)
			goto fail;
	}
	if (kr->n == 0) {
		line = 0;
		rc = -EINVAL;
		goto fail;
	}
	*out = kr;
	return 0;
fail:
	if (bad_line != NULL)
		*bad_line = line;
	keyring_free(kr);
	return rc;
}

int
keyring_load(struct keyring **out, const char *path, unsigned *bad_line)
{
	char *buf;
	size_t len = 0;
	ssize_t n;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -errno;
	if ((buf = malloc(KEYRING_FILE_MAX + 1)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while ((n = read(fd, buf + len, KEYRING_FILE_MAX + 1 - len)) > 0) {
		len += (size_t)n;
		if (len > KEYRING_FILE_MAX)
			break;
	}
	rc = n == -1 ? -errno : 0;
	close(fd);
	if (rc == 0 && len > KEYRING_FILE_MAX)
		rc = -EFBIG;
	if (rc == 0)
		rc = keyring_parse(out, buf, len, bad_line);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

int
keyring_seal(struct keyring *kr, const void *in, size_t len, uint8_t *out,
    size_t cap)
{
	const struct keyring_key *k = &kr->keys[0];
	uint8_t *nonce = out + 1 + KEYRING_ID_LEN;
	uint8_t *ct = nonce + KEYRING_NONCE_LEN;
	int n1 = 0, n2 = 0;

	if (kr->n == 0)
		return -ENOKEY;
	if (len > INT32_MAX || cap < len + KEYRING_OVERHEAD)
		return -ENOSPC;
	out[0] = KEYRING_VERSION;
	memcpy(out + 1, k->id, KEYRING_ID_LEN);
	if (RAND_bytes(nonce, KEYRING_NONCE_LEN) != 1)
		return -EIO;
	if (EVP_EncryptInit_ex(kr->ctx, EVP_aes_256_gcm(), NULL, NULL,
	    NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(kr->ctx, EVP_CTRL_GCM_SET_IVLEN,
	    KEYRING_NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(kr->ctx, NULL, NULL, k->key, nonce) != 1 ||
	    EVP_EncryptUpdate(kr->ctx, NULL, &n1, out,
	    1 + KEYRING_ID_LEN) != 1 ||
	    EVP_EncryptUpdate(kr->ctx, ct, &n1, in, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(kr->ctx, ct + n1, &n2) != 1 ||
	    EVP_CIPHER_CTX_ctrl(kr->ctx, EVP_CTRL_GCM_GET_TAG, KEYRING_TAG_LEN,
	    ct + len) != 1)
		return -EIO;
	kr->stats.sealed++;
	return (int)(len + KEYRING_OVERHEAD);
}

/* Tries one key; returns the plaintext length or -EBADMSG. */
static int
keyring_try(struct keyring *kr, const struct keyring_key *k,
    const uint8_t *in, size_t len, uint8_t *out)
{
	const uint8_t *nonce = in + 1 + KEYRING_ID_LEN;
	const uint8_t *ct = nonce + KEYRING_NONCE_LEN;
	size_t clen = len - KEYRING_OVERHEAD;
	int n1 = 0, n2 = 0;

	if (EVP_DecryptInit_ex(kr->ctx, EVP_aes_256_gcm(), NULL, NULL,
	    NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(kr->ctx, EVP_CTRL_GCM_SET_IVLEN,
	    KEYRING_NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(kr->ctx, NULL, NULL, k->key, nonce) != 1 ||
	    EVP_DecryptUpdate(kr->ctx, NULL, &n1, in, 1 + KEYRING_ID_LEN) != 1 ||
	    EVP_DecryptUpdate(kr->ctx, out, &n1, ct, (int)clen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(kr->ctx, EVP_CTRL_GCM_SET_TAG, KEYRING_TAG_LEN,
	    (void *)(ct + clen)) != 1 ||
	    EVP_DecryptFinal_ex(kr->ctx, out + n1, &n2) != 1) {
		OPENSSL_cleanse(out, clen);
		return -EBADMSG;
	}
	return (int)clen;
}

int
keyring_open(struct keyring *kr, const void *in, size_t len, uint8_t *out,
    size_t cap)
{
	const uint8_t *p = in;
	bool known = false;
	size_t i;
	int rc;

	if (len < KEYRING_OVERHEAD || len > INT32_MAX ||
	    p[0] != KEYRING_VERSION) {
		kr->stats.malformed++;
		return -EINVAL;
	}
	if (cap < len - KEYRING_OVERHEAD)
		return -ENOSPC;
	/* ids can collide (2^-32): try every key that carries this one */
	for (i = 0; i < kr->n; i++) {
		if (memcmp(kr->keys[i].id, p + 1, KEYRING_ID_LEN) != 0)
			continue;
		known = true;
		if ((rc = keyring_try(kr, &kr->keys[i], p, len, out)) >= 0) {
			kr->stats.opened++;
			return rc;
		}
	}
	if (!known) {
		kr->stats.unknown_key++;
		return -ENOKEY;
	}
	kr->stats.auth_failed++;
	return -EBADMSG;
}

int
keyring_mac(const struct keyring *kr, size_t i, const char *purpose,
    const void *msg, size_t len, uint8_t out[KEYRING_MAC_LEN])
{
	uint8_t sub[EVP_MAX_MD_SIZE];
	unsigned sublen = 0, outlen = 0;

	if (kr == NULL || i >= kr->n)
		return -ENOKEY;
	/* a subkey per purpose: the sealing key itself never keys a MAC */
	if (HMAC(EVP_sha256(), kr->keys[i].key, KEYRING_KEY_LEN,
	    (const unsigned char *)purpose, strlen(purpose), sub, &sublen) == NULL ||
	    HMAC(EVP_sha256(), sub, (int)sublen, msg, len, out, &outlen) == NULL) {
		OPENSSL_cleanse(sub, sizeof(sub));
		return -EIO;
	}
	OPENSSL_cleanse(sub, sizeof(sub));
	return 0;
}
