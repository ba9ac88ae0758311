/* Fuzz target for regionmap_parse(): the input is a --region-map file.
 *
 * Checks beyond the sanitizers: an error comes with a "line N:" sentence; a
 * parsed map is consistent (every country points at a region in use, names
 * are valid keys), and formatting it then parsing the text gives the same
 * map back. The seeds in tests/fuzz/corpus/fuzz_regionmap/ are plain text
 * files: the default table, a map in every allowed spelling, and broken
 * lines of each kind. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regionmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct regionmap m, m2;
	static char text[16384];
	char err[256];
	size_t i, n;

	if (regionmap_parse(&m, (const char *)data, size, err, sizeof(err)) != 0) {
		if (strncmp(err, "line ", 5) != 0)
			abort();
		return 0;
	}
	if (m.n > REGIONMAP_MAX_REGIONS)
		abort();
	for (i = 0; i < 26 * 26; i++)
		if (m.of[i] > m.n)
			abort();
	for (i = 0; i < m.n; i++)
		if (m.region[i].w[0] == 0)
			abort();
	n = regionmap_format(&m, text, sizeof(text));
	if (n >= sizeof(text) || strlen(text) != n)
		abort();
	if (regionmap_parse(&m2, text, n, err, sizeof(err)) != 0)
		abort();
	if (memcmp(&m, &m2, sizeof(m)) != 0)
		abort();
	return 0;
}
