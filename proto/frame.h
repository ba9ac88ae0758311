/* frame — the mux wire format.
 *
 * Every frame is a 12-byte header and a payload, integers big-endian:
 *
 *   u32 length   payload bytes (<= FRAME_MAX_PAYLOAD)
 *   u8  type     enum frame_type
 *   u8  flags    0 (reserved)
 *   u16 reserved 0
 *   u32 stream   stream id; 0 for session frames
 *
 * Payloads: DATA bytes; OPEN the stream-open header (ctrl.h); WINDOW u32
 * increment; FIN empty; RST u16 code + reason text; PING/PONG u64 opaque;
 * GOAWAY u16 code + reason; CTRL a control message (ctrl.h); SETTINGS u32
 * version, u32 window, u32 max payload accepted. */
#ifndef WARREN_FRAME_H
#define WARREN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HDR_LEN           12
#define FRAME_MAX_PAYLOAD       (256u * 1024)
#define FRAME_REASON_MAX        256

enum frame_type {
	FRAME_DATA = 0,
	FRAME_OPEN = 1,
	FRAME_WINDOW = 2,
	FRAME_FIN = 3,
	FRAME_RST = 4,
	FRAME_PING = 5,
	FRAME_PONG = 6,
	FRAME_GOAWAY = 7,
	FRAME_CTRL = 8,
	FRAME_SETTINGS = 9,
	FRAME_TYPE_MAX = 9,
};

struct frame {
	uint8_t type;
	uint32_t stream;
	uint32_t len;
	const uint8_t *payload;         /* points into the decoded input */
};

struct frame_settings {
	uint32_t version, window, max_payload;
};

/* Decodes just the header: returns FRAME_HDR_LEN with f->type, stream and
 * len set (f->payload NULL), 0 when fewer than FRAME_HDR_LEN bytes are
 * there, or -EPROTO for an unknown type, a nonzero reserved field or a
 * payload over max_payload. The payload follows in the input. */
int frame_peek(struct frame *f, const uint8_t *p, size_t len,
    uint32_t max_payload);
/* Writes a header into out[FRAME_HDR_LEN]. */
void frame_header(uint8_t *out, enum frame_type type, uint32_t stream,
    uint32_t len);

/* Payload codecs; decoders return 0 or -EPROTO. Encoders return the payload
 * length written into out (which has room for FRAME_REASON_MAX + 16). */
int frame_u32_decode(const struct frame *f, uint32_t *v);
int frame_u64_decode(const struct frame *f, uint64_t *v);
size_t frame_reason_encode(uint8_t *out, uint16_t code, const char *reason);
/* Copies the reason (NUL-terminated, truncated to cap-1) into reason. */
int frame_reason_decode(const struct frame *f, uint16_t *code, char *reason,
    size_t cap);
size_t frame_settings_encode(uint8_t *out, const struct frame_settings *s);
int frame_settings_decode(const struct frame *f, struct frame_settings *s);

static inline void
frame_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static inline uint32_t
frame_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

#endif
