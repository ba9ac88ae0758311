#include "inspect_ws.h"

#include <string.h>

void
inspect_ws_init(struct inspect_ws *w)
{
	memset(w, 0, sizeof(*w));
}

/* Header length once its first two bytes are known. */
static size_t
inspect_ws_hdr_len(const uint8_t *h)
{
	size_t n = 2, l7 = h[1] & 0x7f;

	if (l7 == 126)
		n += 2;
	else if (l7 == 127)
		n += 8;
	if (h[1] & 0x80)
		n += 4;         /* masking key */
	return n;
}

void
inspect_ws_feed(struct inspect_ws *w, const uint8_t *p, size_t len)
{
	while (len > 0 && !w->bad) {
		size_t need, n;
		uint64_t plen;

		if (w->skip > 0) {
			n = w->skip < len ? (size_t)w->skip : len;
			w->skip -= n;
			w->bytes += n;
			p += n;
			len -= n;
			continue;
		}
		need = w->have < 2 ? 2 : inspect_ws_hdr_len(w->hdr);
		n = need - w->have;
		if (n > len)
			n = len;
		memcpy(w->hdr + w->have, p, n);
		w->have += (uint8_t)n;
		p += n;
		len -= n;
		if (w->have < 2 || w->have < inspect_ws_hdr_len(w->hdr))
			continue;
		plen = w->hdr[1] & 0x7f;
		if (plen == 126) {
			plen = (uint64_t)w->hdr[2] << 8 | w->hdr[3];
		} else if (plen == 127) {
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = plen << 8 | w->hdr[2 + i];
			if (plen >> 63) {
				w->bad = true;
				return;
			}
		}
		w->frames++;
		w->skip = plen;
		w->have = 0;
	}
}
