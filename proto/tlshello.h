/* tlshello — a bounded reader of the TLS ClientHello that opens a public
 * TLS connection, for routing by SNI without terminating TLS (passthrough).
 *
 * It reads what the client sent first: TLS records of type handshake(22)
 * carrying one ClientHello(1), possibly fragmented over several records
 * (RFC 8446 5.1 allows any split). The caller does not consume the bytes:
 * it routes on the result and forwards them unchanged.
 *
 *   record   u8 type = 22, u16 version = 0x03xx, u16 length (1..16384)
 *   handshake  u8 type = 1, u24 length, then the ClientHello body:
 *            u16 legacy_version, 32 random, <0..32> session_id,
 *            <2..2^16-2> cipher_suites, <1..2^8-1> compression_methods,
 *            [<0..2^16-1> extensions]
 *
 * Extensions read: server_name (0, RFC 6066: one host_name), ALPN (16, RFC
 * 7301) and supported_versions (43, RFC 8446). Each may appear once; every
 * other extension is skipped by its length. The hello must end where its
 * last record ends, and all of it (record headers included) must fit in
 * TLSHELLO_MAX_LEN bytes: a peek buffer of that size is always enough.
 *
 * With Encrypted Client Hello the name read is the outer, public one. */
#ifndef WARREN_TLSHELLO_H
#define WARREN_TLSHELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLSHELLO_MAX_LEN        (16u << 10)     /* records spanned, bytes */
#define TLSHELLO_MAX_NAME       255             /* longest server_name */
#define TLSHELLO_MAX_ALPN       8               /* ALPN ids kept */
#define TLSHELLO_ALPN_LEN       32              /* longest ALPN id kept */

struct tlshello_alpn {
	uint8_t len;
	char name[TLSHELLO_ALPN_LEN + 1];       /* NUL-terminated */
};

struct tlshello {
	/* > 0: the server_name, lowercased, checked as a DNS name (labels of
	 * 1..63 letters, digits, '-' or '_'; one trailing dot dropped);
	 * "" when the client sent none. */
	char server_name[TLSHELLO_MAX_NAME + 1];
	/* the client's ALPN ids in its order: the first TLSHELLO_MAX_ALPN of
	 * printable ASCII up to TLSHELLO_ALPN_LEN bytes; others are skipped */
	struct tlshello_alpn alpn[TLSHELLO_MAX_ALPN];
	unsigned nalpn;
	bool has_alpn;                  /* the extension was there */
	uint16_t legacy_version;        /* ClientHello.legacy_version, 0x0303 */
	uint16_t max_version;           /* highest offered: supported_versions
	                                 * (GREASE ignored) or legacy_version */
	bool tls13;                     /* supported_versions offers 0x0304 */
	bool sslv2;                     /* -EINVAL: an SSLv2-style hello */
	/* 0: the input must grow to at least this many bytes before another
	 * call can get further (never over TLSHELLO_MAX_LEN) */
	size_t need;
	/* -EINVAL: a short static text for logs */
	const char *reason;
};

/* Reads the ClientHello at the start of p[len] (what arrived so far) into
 * *out, which is reset on every call. Returns the number of bytes the hello
 * spans (> 0; the caller forwards them, they stay in its buffer), 0 when p is
 * a valid beginning of a hello and more bytes are needed (out->need says how
 * many in total), or -EINVAL for anything else: not a TLS handshake record,
 * SSLv2 (out->sslv2), a message other than ClientHello, a hello over
 * TLSHELLO_MAX_LEN, a length that does not fit its container, a bad
 * server_name, ALPN or supported_versions, or a repeated one of those.
 * out->reason says which. Uses up to TLSHELLO_MAX_LEN bytes of stack when the
 * hello spans more than one record. */
int tlshello_parse(const uint8_t *p, size_t len, struct tlshello *out);

#endif
