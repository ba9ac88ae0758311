/* Fuzz target for routing.db replication messages (gossip/replmsg.h):
 * broadcasts and heads arrive by UDP, sync requests and answers by TCP,
 * all from the network. Whatever decodes must re-encode to the same bytes
 * (the format has one encoding per message). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/replmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct replmsg m;
	uint8_t *buf;
	size_t n;
	int k;

	if (replmsg_decode(&m, data, size) != 0)
		return 0;
	n = replmsg_size(&m);
	if (n != size || (buf = malloc(n)) == NULL)
		abort();
	k = replmsg_encode(&m, buf, n);
	if (k != (int)n || memcmp(buf, data, n) != 0)
		abort();
	free(buf);
	replmsg_fini(&m);
	return 0;
}
