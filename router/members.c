#include "router/members.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct members {
	struct ipcmsg_member *v;        /* sorted by name */
	size_t n, cap;
	uint64_t epoch, seq;
	bool synced;
	struct ipcmsg_gossip_stats stats;
	unsigned long long events, snapshots;
};

int
members_new(struct members **out)
{
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return -ENOMEM;
	return 0;
}

static void
members_clear(struct members *ms)
{
	size_t i;

	for (i = 0; i < ms->n; i++)
		ipcmsg_member_fini(&ms->v[i]);
	ms->n = 0;
}

void
members_free(struct members *ms)
{
	if (ms == NULL)
		return;
	members_clear(ms);
	free(ms->v);
	free(ms);
}

/* Index of name, or where it would go (*found false). */
static size_t
members_find(const struct members *ms, const char *name, bool *found)
{
	size_t lo = 0, hi = ms->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(ms->v[mid].name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const struct ipcmsg_member *
members_get(const struct members *ms, const char *name)
{
	bool found;
	size_t i = members_find(ms, name, &found);

	return found ? &ms->v[i] : NULL;
}

static int
members_upsert(struct members *ms, const struct ipcmsg_member *m)
{
	struct ipcmsg_member copy, *v;
	bool found;
	size_t i;

	if (ipcmsg_member_copy(&copy, m) != 0)
		return -ENOMEM;
	i = members_find(ms, copy.name, &found);
	if (found) {
		ipcmsg_member_fini(&ms->v[i]);
		ms->v[i] = copy;
		return 0;
	}
	if (ms->n == ms->cap) {
		size_t cap = ms->cap ? ms->cap * 2 : 16;

		if ((v = realloc(ms->v, cap * sizeof(*v))) == NULL) {
			ipcmsg_member_fini(&copy);
			return -ENOMEM;
		}
		ms->v = v;
		ms->cap = cap;
	}
	memmove(&ms->v[i + 1], &ms->v[i], (ms->n - i) * sizeof(*ms->v));
	ms->v[i] = copy;
	ms->n++;
	return 0;
}

int
members_apply(struct members *ms, const struct ipcmsg_members *m)
{
	uint32_t i;

	ms->stats = m->stats;
	switch (m->kind) {
	case MEMBERS_SNAPSHOT:
		members_clear(ms);
		ms->synced = false;
		for (i = 0; i < m->n; i++)
			if (members_upsert(ms, &m->members[i]) != 0)
				return -ENOMEM;
		ms->epoch = m->epoch;
		ms->seq = m->seq;
		ms->synced = true;
		ms->snapshots++;
		return 0;
	case MEMBERS_EVENT:
		if (ms->synced && m->epoch == ms->epoch && m->seq <= ms->seq)
			return 0;       /* already in the snapshot */
		if (!ms->synced || m->epoch != ms->epoch || m->seq != ms->seq + 1)
			return 1;
		for (i = 0; i < m->n; i++)
			if (members_upsert(ms, &m->members[i]) != 0) {
				ms->synced = false;
				return -ENOMEM;
			}
		ms->seq = m->seq;
		ms->events++;
		return 0;
	default:
		return !ms->synced || m->epoch != ms->epoch || m->seq != ms->seq;
	}
}

bool
members_synced(const struct members *ms)
{
	return ms->synced;
}

size_t
members_count(const struct members *ms)
{
	return ms->n;
}

const struct ipcmsg_member *
members_at(const struct members *ms, size_t i)
{
	return i < ms->n ? &ms->v[i] : NULL;
}

size_t
members_count_state(const struct members *ms, uint8_t state)
{
	size_t i, k = 0;

	for (i = 0; i < ms->n; i++)
		k += ms->v[i].state == state;
	return k;
}

const struct ipcmsg_gossip_stats *
members_stats(const struct members *ms)
{
	return &ms->stats;
}

unsigned long long
members_events(const struct members *ms)
{
	return ms->events;
}

unsigned long long
members_snapshots(const struct members *ms)
{
	return ms->snapshots;
}
