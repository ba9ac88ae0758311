#include "ipcount.h"

#include <stdlib.h>
#include <string.h>

#include "cidr.h"

struct ipentry {
	struct ipentry *next;
	uint8_t key[16];
	unsigned n;
};

struct ipcount {
	struct ipentry **tab;
	size_t size, n;
};

static size_t
ipcount_hash(const uint8_t key[16], size_t size)
{
	uint64_t h = 1469598103934665603ULL;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)h & (size - 1);
}

struct ipcount *
ipcount_new(void)
{
	struct ipcount *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->size = 256;
	if ((c->tab = calloc(c->size, sizeof(*c->tab))) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
ipcount_free(struct ipcount *c)
{
	struct ipentry *e, *n;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->size; i++)
		for (e = c->tab[i]; e != NULL; e = n) {
			n = e->next;
			free(e);
		}
	free(c->tab);
	free(c);
}

static void
ipcount_grow(struct ipcount *c)
{
	size_t nsize = c->size * 2, i;
	struct ipentry **nt, *e, *n;

	if ((nt = calloc(nsize, sizeof(*nt))) == NULL)
		return;
	for (i = 0; i < c->size; i++)
		for (e = c->tab[i]; e != NULL; e = n) {
			n = e->next;
			e->next = nt[ipcount_hash(e->key, nsize)];
			nt[ipcount_hash(e->key, nsize)] = e;
		}
	free(c->tab);
	c->tab = nt;
	c->size = nsize;
}

bool
ipcount_take(struct ipcount *c, const struct sockaddr *sa, unsigned max)
{
	struct ipentry *e;
	uint8_t key[16];
	size_t h;

	if (!cidr_key(sa, key))
		return false;
	h = ipcount_hash(key, c->size);
	for (e = c->tab[h]; e != NULL; e = e->next)
		if (memcmp(e->key, key, 16) == 0)
			break;
	if (e != NULL) {
		if (max != 0 && e->n >= max)
			return false;
		e->n++;
		return true;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return false;
	memcpy(e->key, key, 16);
	e->n = 1;
	e->next = c->tab[h];
	c->tab[h] = e;
	if (++c->n > c->size)
		ipcount_grow(c);
	return true;
}

void
ipcount_release(struct ipcount *c, const struct sockaddr *sa)
{
	struct ipentry **pp, *e;
	uint8_t key[16];

	if (!cidr_key(sa, key))
		return;
	for (pp = &c->tab[ipcount_hash(key, c->size)]; (e = *pp) != NULL;
	    pp = &e->next) {
		if (memcmp(e->key, key, 16) != 0)
			continue;
		if (--e->n == 0) {
			*pp = e->next;
			free(e);
			c->n--;
		}
		return;
	}
}
