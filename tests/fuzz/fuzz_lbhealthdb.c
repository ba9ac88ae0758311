/* Fuzz target for lbhealthdb_merge(): the rows other nodes wrote into the
 * replicated lb_health table, as the view reads them, beside this node's
 * own results. The input is one JSON object {"local": [...], "remote":
 * [...], "nodes": ["n1", ...]}; anything else is ignored.
 *
 * Checks beyond the sanitizers: the merge never fails on odd values (wrong
 * types, missing columns, duplicates), its output is ordered by app,
 * backend and node, and every live node has an entry for every backend
 * shown. The seeds in tests/fuzz/corpus/fuzz_lbhealthdb/ are a three-node
 * view with a disagreement, rows with wrong types, and duplicate names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "router/lbhealthdb.h"

#define FUZZ_NODES_MAX  64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
fuzz_str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	if (s == NULL)
		abort();        /* every entry has its strings */
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nodes[FUZZ_NODES_MAX];
	json_t *in, *local, *remote, *out, *o, *prev = NULL, *n;
	size_t i, j, k, nn = 0;
	int c;

	if ((in = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return 0;
	if (!json_is_object(in)) {
		json_decref(in);
		return 0;
	}
	local = json_incref(json_object_get(in, "local"));
	remote = json_incref(json_object_get(in, "remote"));
	json_array_foreach(json_object_get(in, "nodes"), i, n)
		if (json_is_string(n) && nn < FUZZ_NODES_MAX)
			nodes[nn++] = json_string_value(n);
	out = lbhealthdb_merge("self", local != NULL ? local : json_array(),
	    remote != NULL ? remote : json_array(), nn > 0 ? nodes : NULL, nn,
	    1700000000000LL);
	if (out == NULL || !json_is_array(out))
		abort();
	json_array_foreach(out, i, o) {
		if (prev != NULL) {
			c = strcmp(fuzz_str(prev, "app"), fuzz_str(o, "app"));
			if (c == 0)
				c = strcmp(fuzz_str(prev, "id"), fuzz_str(o, "id"));
			if (c == 0)
				c = strcmp(fuzz_str(prev, "node"), fuzz_str(o, "node"));
			if (c > 0)
				abort();
		}
		fuzz_str(o, "state");
		prev = o;
		/* every live node has an entry for this backend */
		for (k = 0; k < nn; k++) {
			json_t *e;
			bool found = false;

			json_array_foreach(out, j, e)
				if (strcmp(fuzz_str(e, "app"), fuzz_str(o, "app")) == 0 &&
				    strcmp(fuzz_str(e, "id"), fuzz_str(o, "id")) == 0 &&
				    strcmp(fuzz_str(e, "node"), nodes[k]) == 0)
					found = true;
			if (!found)
				abort();
		}
	}
	json_decref(out);
	json_decref(in);
	return 0;
}
