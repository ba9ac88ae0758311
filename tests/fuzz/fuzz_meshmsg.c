/* Fuzz target for the mesh handshake and forwarding header
 * (proto/meshmsg.h). The first byte picks the decoder; whatever decodes
 * must re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meshmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct meshmsg_fwd f;
	static uint8_t buf[MESHMSG_FWD_MAX];
	struct meshmsg_hello h;
	int n, used;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		used = meshmsg_hello_decode(&h, data + 1, size - 1);
		if (used < 0 || used == 0)
			return 0;
		if ((size_t)used > size - 1)
			abort();
		n = meshmsg_hello_encode(&h, buf, sizeof(buf));
		if (n != used || memcmp(buf, data + 1, (size_t)n) != 0)
			abort();
		return 0;
	}
	if (meshmsg_fwd_decode(&f, data + 1, size - 1) != 0)
		return 0;
	n = meshmsg_fwd_encode(&f, buf, sizeof(buf));
	if (n < 0 || (size_t)n != size - 1 || memcmp(buf, data + 1, (size_t)n) != 0)
		abort();
	return 0;
}
