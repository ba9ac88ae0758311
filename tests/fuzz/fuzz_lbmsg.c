/* Fuzz target for the load balancer's candidate message (proto/lbmsg.h):
 * whatever decodes must re-encode to the same bytes (the encoding is
 * canonical: fixed-width integers, exact string lengths, no trailing
 * bytes). Seeds in tests/fuzz/corpus/fuzz_lbmsg/: a snapshot of three
 * candidates, a beacon, an empty set. */
#include <nng/nng.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lbmsg m;
	nng_msg *msg;

	if (lbmsg_decode(&m, data, size) != 0)
		return 0;
	if ((msg = lbmsg_encode(&m)) != NULL) {
		if (nng_msg_len(msg) != size ||
		    memcmp(nng_msg_body(msg), data, size) != 0)
			abort();
		nng_msg_free(msg);
	}
	lbmsg_fini(&m);
	return 0;
}
