/* Fuzzes the gossip packet decoder, its round trip through the encoder, and
 * a swim core fed the input as a datagram and as a push-pull state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/swim.h"
#include "gossip/swimmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_send(void *arg, const struct swimmsg_addr *to, const uint8_t *pkt,
    size_t len)
{
	size_t count;

	/* everything the core sends must decode */
	if (swimmsg_validate(pkt, len, &count) != SWIMMSG_OK)
		abort();
}

static void
fuzz_roundtrip(const struct swimmsg *m)
{
	uint8_t buf[2048];
	struct swimmsg_reader r;
	struct swimmsg back;
	int n = swimmsg_encode(buf + 1, sizeof(buf) - 1, m);

	if (n < 0)
		abort();                /* a decoded message always encodes */
	buf[0] = SWIMMSG_VERSION;
	if (swimmsg_reader_init(&r, buf, (size_t)n + 1) != SWIMMSG_OK ||
	    swimmsg_next(&r, &back) != SWIMMSG_OK || back.type != m->type ||
	    back.seq != m->seq || back.incarnation != m->incarnation ||
	    strcmp(back.name, m->name) != 0 || strcmp(back.from, m->from) != 0 ||
	    back.meta_len != m->meta_len ||
	    swimmsg_next(&r, &back) != SWIMMSG_END)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct swimmsg_reader r;
	struct swimmsg m;
	struct swim_config cfg;
	struct swim_io io = { NULL, fuzz_send, NULL, NULL };
	struct swim *s;
	size_t count;
	int rc;

	if (swimmsg_reader_init(&r, data, size) == SWIMMSG_OK)
		while ((rc = swimmsg_next(&r, &m)) == SWIMMSG_OK)
			fuzz_roundtrip(&m);
	(void)swimmsg_validate(data, size, &count);

	swim_config_lan(&cfg);
	cfg.name = "fuzz";
	cfg.addr.family = 4;
	cfg.addr.ip[0] = 127;
	cfg.addr.ip[3] = 1;
	cfg.addr.port = 7946;
	if (swim_new(&s, &cfg, &io, 1000000) != 0)
		return 0;
	(void)swim_recv(s, 1000000, &cfg.addr, data, size);
	(void)swim_state_merge(s, 2000000, data, size);
	swim_tick(s, 3000000);
	swim_tick(s, 60000000);
	swim_free(s);
	return 0;
}
