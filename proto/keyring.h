/* keyring — the cluster keys that seal gossip packets (AES-256-GCM).
 *
 * A key file holds one or more base64-encoded 32-byte keys, one per line
 * (blank lines and lines starting with '#' are skipped). The first key seals
 * what we send; every key opens what we receive, so keys rotate without
 * downtime: add the new key second everywhere, then move it first, then
 * drop the old one.
 *
 * A sealed packet is
 *
 *     u8 version (KEYRING_VERSION), u8[4] key id, u8[12] nonce,
 *     ciphertext, u8[16] GCM tag
 *
 * The key id is the first 4 bytes of SHA-256(key); the version byte and key
 * id are authenticated as associated data. Nonces are random (RAND_bytes).
 * A packet under a key we do not hold, or that fails authentication, is
 * dropped and counted. Not thread-safe: one keyring per thread. */
#ifndef WARREN_KEYRING_H
#define WARREN_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#define KEYRING_VERSION         1
#define KEYRING_KEY_LEN         32
#define KEYRING_MAX_KEYS        16
#define KEYRING_ID_LEN          4
#define KEYRING_NONCE_LEN       12
#define KEYRING_TAG_LEN         16
#define KEYRING_OVERHEAD        (1 + KEYRING_ID_LEN + KEYRING_NONCE_LEN + \
                                 KEYRING_TAG_LEN)

struct keyring;

struct keyring_stats {
	uint64_t sealed, opened;
	uint64_t unknown_key;           /* dropped: key id not in the ring */
	uint64_t auth_failed;           /* dropped: tag did not verify */
	uint64_t malformed;             /* dropped: too short or bad version */
};

/* An empty keyring. Returns 0 and sets *out, or -ENOMEM. */
int keyring_new(struct keyring **out);
/* Appends a key (copied); the first key added is the one that seals.
 * Returns 0, -EEXIST (already there) or -ENOSPC (KEYRING_MAX_KEYS). */
int keyring_add(struct keyring *kr, const uint8_t key[KEYRING_KEY_LEN]);
/* Builds a keyring from key file text. Returns 0 and sets *out; -EINVAL
 * when a line is not base64 of exactly 32 bytes (*bad_line, if not NULL,
 * gets its 1-based number) or there is no key; -ENOSPC; -ENOMEM. */
int keyring_parse(struct keyring **out, const char *text, size_t len,
    unsigned *bad_line);
/* keyring_parse() on the file at path (at most 64 KiB); -errno on I/O. */
int keyring_load(struct keyring **out, const char *path, unsigned *bad_line);
/* Wipes the keys and frees; NULL is a no-op. */
void keyring_free(struct keyring *kr);
size_t keyring_count(const struct keyring *kr);

/* Seals in[0..len) into out[0..cap) under the first key. Returns the sealed
 * length (len + KEYRING_OVERHEAD), -ENOSPC, -ENOKEY (empty ring) or -EIO. */
int keyring_seal(struct keyring *kr, const void *in, size_t len,
    uint8_t *out, size_t cap);
/* Opens a sealed packet into out[0..cap). Returns the plaintext length, or
 * -EINVAL (malformed), -ENOKEY (unknown key id), -EBADMSG (authentication
 * failed) or -ENOSPC; each drop is counted. */
int keyring_open(struct keyring *kr, const void *in, size_t len,
    uint8_t *out, size_t cap);
const struct keyring_stats *keyring_stats(const struct keyring *kr);

#define KEYRING_MAC_LEN         32
/* HMAC-SHA256 of msg[0..len) under a key derived from key i (0 = the one
 * that seals) for `purpose` (a label that keeps MACs for one use from
 * serving another). Returns 0, or -ENOKEY when there is no key i. */
int keyring_mac(const struct keyring *kr, size_t i, const char *purpose,
    const void *msg, size_t len, uint8_t out[KEYRING_MAC_LEN]);

#endif
