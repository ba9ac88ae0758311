/* Fuzz target for the gossiped node metadata blob (gossip/nodemeta.h).
 * Whatever decodes must re-encode, and the re-encoding must decode to the
 * same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/nodemeta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nodemeta m, again;
	uint8_t buf[8 * (NODEMETA_STR_MAX + 1) + 1];
	int n;

	if (nodemeta_decode(&m, data, size) != 0)
		return 0;
	n = nodemeta_encode(&m, buf, sizeof(buf));
	if (n < 0 || nodemeta_decode(&again, buf, (size_t)n) != 0 ||
	    memcmp(&m, &again, sizeof(m)) != 0)
		abort();
	return 0;
}
