#include "tunstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tunstats {
	struct tunstats_entry **slot;   /* open addressing, 2 * max */
	size_t nslot, n, max;
	struct tunstats_entry other;
};

struct tunstats *
tunstats_new(size_t max)
{
	struct tunstats *t;

	if (max == 0)
		max = TUNSTATS_DEFAULT_MAX;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->max = max;
	t->nslot = 2 * max;
	if ((t->slot = calloc(t->nslot, sizeof(*t->slot))) == NULL) {
		free(t);
		return NULL;
	}
	snprintf(t->other.name, sizeof(t->other.name), "other");
	return t;
}

void
tunstats_free(struct tunstats *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nslot; i++)
		free(t->slot[i]);
	free(t->slot);
	free(t);
}

static uint64_t
tunstats_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;    /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

struct tunstats_entry *
tunstats_get(struct tunstats *t, const char *name)
{
	size_t i = (size_t)(tunstats_hash(name) % t->nslot);
	struct tunstats_entry *e;

	if (strlen(name) >= TUNSTATS_NAME_MAX || strcmp(name, "other") == 0)
		return &t->other;
	for (; t->slot[i] != NULL; i = (i + 1) % t->nslot)
		if (strcmp(t->slot[i]->name, name) == 0)
			return t->slot[i];
	if (t->n >= t->max || (e = calloc(1, sizeof(*e))) == NULL)
		return &t->other;
	snprintf(e->name, sizeof(e->name), "%s", name);
	t->slot[i] = e;
	t->n++;
	return e;
}

static int
tunstats_cmp(const struct tunstats_entry *a, const struct tunstats_entry *b)
{
	uint64_t x = a->bytes_in + a->bytes_out, y = b->bytes_in + b->bytes_out;

	if (x != y)
		return x > y ? -1 : 1;
	if (a->requests != b->requests)
		return a->requests > b->requests ? -1 : 1;
	return strcmp(a->name, b->name);
}

void
tunstats_top(const struct tunstats *t, size_t top, tunstats_emit_cb *emit,
    void *arg)
{
	const struct tunstats_entry *best[TUNSTATS_TOP];
	struct tunstats_entry other = t->other;
	size_t nbest = 0;

	if (top > TUNSTATS_TOP)
		top = TUNSTATS_TOP;
	/* insertion into a small sorted array: one pass, no allocation */
	for (size_t i = 0; i < t->nslot; i++) {
		const struct tunstats_entry *e = t->slot[i], *out = NULL;
		size_t k;

		if (e == NULL)
			continue;
		if (nbest < top) {
			k = nbest++;
		} else if (top > 0 && tunstats_cmp(e, best[top - 1]) < 0) {
			out = best[top - 1];
			k = top - 1;
		} else {
			out = e;
			k = top;
		}
		if (out != NULL) {
			other.requests += out->requests;
			other.bytes_in += out->bytes_in;
			other.bytes_out += out->bytes_out;
		}
		if (k == top)
			continue;
		while (k > 0 && tunstats_cmp(e, best[k - 1]) < 0) {
			best[k] = best[k - 1];
			k--;
		}
		best[k] = e;
	}
	for (size_t i = 0; i < nbest; i++)
		emit(arg, best[i]);
	emit(arg, &other);
}
