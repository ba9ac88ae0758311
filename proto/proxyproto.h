/* proxyproto — the PROXY protocol, versions 1 and 2 (haproxy's
 * doc/proxy-protocol.txt), TCP over IPv4 and IPv6.
 *
 * A load balancer in front of a node opens each connection with one header
 * that carries the client's address:
 *
 *   v1  "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"  (at most 107
 *       bytes; "PROXY UNKNOWN ...\r\n" when it cannot tell)
 *   v2  12-byte signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A,
 *       u8 version 2 << 4 | command (0 LOCAL, 1 PROXY),
 *       u8 family << 4 | transport (0x11 TCP/IPv4, 0x21 TCP/IPv6, ...),
 *       u16 length of what follows: source and destination addresses,
 *       source and destination ports, then TLVs (u8 type, u16 length, value)
 *
 * The decoder takes both versions (the signatures differ from the first
 * byte). Only put it on listeners whose every peer is a trusted proxy: the
 * header is believed as sent. */
#ifndef WARREN_PROXYPROTO_H
#define WARREN_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXYPROTO_V1_MAX       107     /* longest v1 line, CRLF included */
#define PROXYPROTO_V2_HDR       16      /* v2 fixed part */
#define PROXYPROTO_MAX_LEN      4096    /* longest header the decoder takes
                                         * (v2: 16 + addresses + TLVs) */
#define PROXYPROTO_ENCODE_MAX   108     /* room any encoder output fits in */

/* v2 TLV types (section 2.2 of the spec) */
#define PROXYPROTO_TLV_ALPN             0x01
#define PROXYPROTO_TLV_AUTHORITY        0x02    /* the client's SNI */
#define PROXYPROTO_TLV_CRC32C           0x03
#define PROXYPROTO_TLV_NOOP             0x04
#define PROXYPROTO_TLV_UNIQUE_ID        0x05
#define PROXYPROTO_TLV_SSL              0x20

struct proxyproto {
	int version;                    /* 1 or 2 */
	/* true: the header carries no usable address (v1 UNKNOWN, v2 LOCAL,
	 * v2 PROXY over UDP, UNIX or AF_UNSPEC): use the connection's own,
	 * src and dst are AF_UNSPEC */
	bool local;
	/* !local: AF_INET or AF_INET6 (struct sockaddr_in / sockaddr_in6),
	 * port included */
	struct sockaddr_storage src, dst;
	/* v2 PROXY: the TLVs after the addresses, pointing into the decoded
	 * input, checked to tile exactly; NULL and 0 otherwise */
	const uint8_t *tlv;
	size_t tlv_len;
	/* 0: the input must grow to at least this many bytes before another
	 * call can get further (never over PROXYPROTO_MAX_LEN) */
	size_t need;
	/* -EINVAL: a short static text for logs */
	const char *reason;
};

/* Decodes the header at the start of p[len] into *out, which is reset on
 * every call. Returns the header's length (> 0: consume it, the client's
 * bytes follow), 0 when p is a valid beginning of a header and more bytes are
 * needed (out->need), or -EINVAL: neither signature, a v1 line without CRLF
 * in 107 bytes or not exactly as the spec writes it (single spaces, canonical
 * addresses of the announced family, ports 0..65535 without leading zeros), a
 * v2 version other than 2, a command other than LOCAL or PROXY, an unknown
 * family or transport, an address block longer than the length, TLVs that
 * overrun it, a CRC32C TLV that does not match, or a header over
 * PROXYPROTO_MAX_LEN. out->reason says which. */
int proxyproto_decode(const uint8_t *p, size_t len, struct proxyproto *out);

/* Finds the first v2 TLV of `type` in a decoded header. Returns its value
 * (pointing into the decoded input) and sets *len, or NULL. */
const uint8_t *proxyproto_tlv(const struct proxyproto *pp, uint8_t type,
    size_t *len);

/* Encoders: src and dst are struct sockaddr_in or sockaddr_in6 (mixed
 * families are both sent as IPv6, IPv4-mapped). Both NULL: v1 writes
 * "PROXY UNKNOWN\r\n", v2 a LOCAL header (health checks). They write into
 * out[cap] and return the length (<= PROXYPROTO_ENCODE_MAX), -ENOSPC when cap
 * is too small (nothing written), or -EINVAL for another family or only one
 * address. */
int proxyproto_encode_v1(uint8_t *out, size_t cap, const struct sockaddr *src,
    const struct sockaddr *dst);
int proxyproto_encode_v2(uint8_t *out, size_t cap, const struct sockaddr *src,
    const struct sockaddr *dst);

#endif
