/* Fuzz target for the probe socket's line (proto/probemsg.h): whatever
 * parses formats back to exactly the same bytes (the line is canonical).
 * Seeds in tests/fuzz/corpus/fuzz_probe/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probemsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char node[PROBEMSG_NODE_MAX + 1], line[PROBEMSG_LINE_MAX + 1];
	uint64_t sid;
	uint32_t tid;
	int n;

	if (probemsg_parse((const char *)data, size, node, &sid, &tid) != 0)
		return 0;
	n = probemsg_format(line, sizeof(line), node, sid, tid);
	/* the parsed line plus its newline */
	if (n < 0 || (size_t)n != size + 1 || memcmp(line, data, size) != 0)
		abort();
	return 0;
}
