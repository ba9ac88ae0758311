/* meshmsg — what two nodes say on a mesh link before and inside its mux.
 *
 * A link starts with a handshake, both ways at once, before any mux byte:
 *
 *     HELLO  "WRNMESH" u8 version (MESHMSG_VERSION) u8 name length, name,
 *            u8[32] nonce (fresh random per link)
 *     PROOF  u8[32] HMAC-SHA256, under the cluster keyring, of
 *            "proof" u8 role (1: the dialer proves, 2: the listener),
 *            the prover's nonce, the verifier's nonce, the prover's name,
 *            the verifier's name (each name u8 length + bytes)
 *
 * Each side sends its HELLO at once and its PROOF once it has the peer's
 * HELLO; it reads the peer's PROOF, checks it with every key of its ring,
 * and only then takes mux frames. The verifier's fresh nonce makes a PROOF
 * good for one link only; the role byte keeps a proof from being reflected.
 *
 * Inside the mux, a forwarded public connection is a stream whose OPEN
 * carries a FWD header:
 *
 *     u8 version, u8 listener (enum meshmsg_listener), u8 hops,
 *     u64 target session, u32 tunnel id, u16 public port,
 *     str client address ("ip:port"), str host (http, https: the Host; tls:
 *     the SNI; tcp: ""), str the forwarding node's name, str authorization
 *     (the Authorization value of the request that opened the stream, "")
 *     — strings are u16 length + bytes, each at most MESHMSG_STR_MAX.
 *
 * Decoders take untrusted bytes: bounded, lengths checked, strings copied
 * NUL-terminated into the caller's struct. */
#ifndef WARREN_MESHMSG_H
#define WARREN_MESHMSG_H

#include <stddef.h>
#include <stdint.h>

#define MESHMSG_VERSION         1
#define MESHMSG_NONCE_LEN       32
#define MESHMSG_MAC_LEN         32
#define MESHMSG_NAME_MAX        128
#define MESHMSG_HELLO_MAX       (7 + 1 + 1 + MESHMSG_NAME_MAX + MESHMSG_NONCE_LEN)
#define MESHMSG_STR_MAX         4096
#define MESHMSG_FWD_MAX         (17 + 4 * (2 + MESHMSG_STR_MAX))
#define MESHMSG_HOPS_MAX        1       /* a forwarded stream is not forwarded */

enum meshmsg_role { MESHMSG_DIALER = 1, MESHMSG_LISTENER = 2 };

enum meshmsg_listener {
	MESHMSG_HTTP = 1,               /* public HTTP, by Host */
	MESHMSG_HTTPS = 2,              /* public HTTPS, terminated by the forwarder */
	MESHMSG_TLS = 3,                /* TLS passthrough, by SNI, not terminated */
	MESHMSG_TCP = 4,                /* a TCP tunnel's public port */
	MESHMSG_PROBE = 5,              /* a health check of a replica, from the
	                                 * forwarding node's router (raw) */
};

struct meshmsg_hello {
	char name[MESHMSG_NAME_MAX + 1];
	uint8_t nonce[MESHMSG_NONCE_LEN];
};

struct meshmsg_fwd {
	uint8_t listener;               /* enum meshmsg_listener */
	uint8_t hops;                   /* 1 on a stream a node forwarded */
	uint64_t session;
	uint32_t tunnel_id;
	uint16_t port;
	char client[MESHMSG_STR_MAX + 1];
	char host[MESHMSG_STR_MAX + 1];
	char from[MESHMSG_STR_MAX + 1];
	char authz[MESHMSG_STR_MAX + 1];
};

/* Encodes a HELLO into out[0..cap); returns its length or -EINVAL (name
 * empty or too long) / -ENOSPC. */
int meshmsg_hello_encode(const struct meshmsg_hello *h, uint8_t *out, size_t cap);
/* Decodes a HELLO at the start of buf[0..len). Returns the bytes it took
 * (> 0), 0 when more bytes are needed, or -EINVAL (not a mesh HELLO, other
 * version, bad name). */
int meshmsg_hello_decode(struct meshmsg_hello *h, const uint8_t *buf, size_t len);

/* The bytes a PROOF authenticates, into out[0..cap); returns the length or
 * -ENOSPC. */
int meshmsg_proof_input(enum meshmsg_role role, const uint8_t *prover_nonce,
    const uint8_t *verifier_nonce, const char *prover, const char *verifier,
    uint8_t *out, size_t cap);

/* FWD header: encode returns the length or -EINVAL / -ENOSPC; decode
 * returns 0 or -EINVAL (malformed, trailing bytes, unknown version or
 * listener). */
int meshmsg_fwd_encode(const struct meshmsg_fwd *f, uint8_t *out, size_t cap);
int meshmsg_fwd_decode(struct meshmsg_fwd *f, const uint8_t *buf, size_t len);

#endif
