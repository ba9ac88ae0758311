#include "frame.h"

#include <errno.h>
#include <string.h>

int
frame_peek(struct frame *f, const uint8_t *p, size_t len,
    uint32_t max_payload)
{
	uint32_t plen;

	if (len < FRAME_HDR_LEN)
		return 0;
	plen = frame_get32(p);
	if (p[4] > FRAME_TYPE_MAX || p[5] != 0 || p[6] != 0 || p[7] != 0)
		return -EPROTO;
	if (plen > max_payload || plen > FRAME_MAX_PAYLOAD)
		return -EPROTO;
	f->type = p[4];
	f->stream = frame_get32(p + 8);
	f->len = plen;
	f->payload = NULL;
	return FRAME_HDR_LEN;
}

void
frame_header(uint8_t *out, enum frame_type type, uint32_t stream, uint32_t len)
{
	frame_put32(out, len);
	out[4] = (uint8_t)type;
	out[5] = out[6] = out[7] = 0;
	frame_put32(out + 8, stream);
}

int
frame_u32_decode(const struct frame *f, uint32_t *v)
{
	if (f->len != 4)
		return -EPROTO;
	*v = frame_get32(f->payload);
	return 0;
}

int
frame_u64_decode(const struct frame *f, uint64_t *v)
{
	if (f->len != 8)
		return -EPROTO;
	*v = (uint64_t)frame_get32(f->payload) << 32 | frame_get32(f->payload + 4);
	return 0;
}

size_t
frame_reason_encode(uint8_t *out, uint16_t code, const char *reason)
{
	size_t n = reason ? strnlen(reason, FRAME_REASON_MAX) : 0;

	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	if (n)
		memcpy(out + 2, reason, n);
	return 2 + n;
}

int
frame_reason_decode(const struct frame *f, uint16_t *code, char *reason,
    size_t cap)
{
	size_t n, i;

	if (f->len < 2 || f->len > 2 + FRAME_REASON_MAX || cap == 0)
		return -EPROTO;
	*code = (uint16_t)(f->payload[0] << 8 | f->payload[1]);
	n = f->len - 2;
	if (n > cap - 1)
		n = cap - 1;
	for (i = 0; i < n; i++) {
		uint8_t c = f->payload[2 + i];
		/* keep it printable: the reason ends up in logs and responses */
		reason[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	reason[n] = '\0';
	return 0;
}

size_t
frame_settings_encode(uint8_t *out, const struct frame_settings *s)
{
	frame_put32(out, s->version);
	frame_put32(out + 4, s->window);
	frame_put32(out + 8, s->max_payload);
	return 12;
}

int
frame_settings_decode(const struct frame *f, struct frame_settings *s)
{
	if (f->len < 12)
		return -EPROTO;
	s->version = frame_get32(f->payload);
	s->window = frame_get32(f->payload + 4);
	s->max_payload = frame_get32(f->payload + 8);
	return 0;
}
