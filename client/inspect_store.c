#include "inspect_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_httplog.h"

struct inspect_store {
	struct inspect_rec **slot;      /* id % keep */
	size_t keep, body_max, mem_max;
	size_t mem;
	uint64_t next;                  /* id of the next record */
	uint64_t oldest;                /* no live record below this id */
	uint64_t next_replay_of;        /* for the next record begun */
	inspect_store_cb *changed;
	void *arg;
};

static size_t
inspect_rec_mem(const struct inspect_rec *r)
{
	return sizeof(*r) + (r->path ? strlen(r->path) + 1 : 0) +
	    r->req_head.cap + r->req_body.cap + r->resp_head.cap +
	    r->resp_body.cap;
}

static void
inspect_rec_free(struct inspect_rec *r)
{
	if (r == NULL)
		return;
	free(r->path);
	free(r->req_head.p);
	free(r->req_body.p);
	free(r->resp_head.p);
	free(r->resp_body.p);
	free(r);
}

struct inspect_store *
inspect_store_new(size_t keep, size_t body_max, size_t mem_max,
    inspect_store_cb *changed, void *arg)
{
	struct inspect_store *st;

	if (keep == 0)
		keep = INSPECT_STORE_DEFAULT_KEEP;
	if (keep > 1000000)
		return NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	if ((st->slot = calloc(keep, sizeof(*st->slot))) == NULL) {
		free(st);
		return NULL;
	}
	st->keep = keep;
	st->body_max = body_max ? body_max : INSPECT_STORE_DEFAULT_BODY;
	st->mem_max = mem_max ? mem_max : INSPECT_STORE_DEFAULT_MEM;
	st->next = st->oldest = 1;
	st->changed = changed;
	st->arg = arg;
	return st;
}

void
inspect_store_set_changed(struct inspect_store *st, inspect_store_cb *changed,
    void *arg)
{
	st->changed = changed;
	st->arg = arg;
}

static void
inspect_store_drop(struct inspect_store *st, size_t i)
{
	if (st->slot[i] == NULL)
		return;
	st->mem -= inspect_rec_mem(st->slot[i]);
	inspect_rec_free(st->slot[i]);
	st->slot[i] = NULL;
}

void
inspect_store_free(struct inspect_store *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->keep; i++)
		inspect_store_drop(st, i);
	free(st->slot);
	free(st);
}

static struct inspect_rec *
inspect_store_find(const struct inspect_store *st, uint64_t id)
{
	struct inspect_rec *r;

	if (id == 0 || id >= st->next)
		return NULL;
	r = st->slot[id % st->keep];
	return r != NULL && r->id == id ? r : NULL;
}

const struct inspect_rec *
inspect_store_get(const struct inspect_store *st, uint64_t id)
{
	return inspect_store_find(st, id);
}

/* Drops the oldest records until the total is under mem_max, never `keep_id`. */
static void
inspect_store_trim(struct inspect_store *st, uint64_t keep_id)
{
	while (st->mem > st->mem_max && st->oldest < keep_id) {
		inspect_store_drop(st, st->oldest % st->keep);
		st->oldest++;
	}
}

static void
inspect_copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "-");
}

static uint64_t
inspect_store_begin(void *arg, const struct client_httplog_begin *b)
{
	struct inspect_store *st = arg;
	struct inspect_rec *r;
	size_t i;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return 0;       /* capture is best effort: the stream goes on */
	if ((r->path = strdup(b->path ? b->path : "")) == NULL) {
		free(r);
		return 0;
	}
	if (b->head_len > 0) {
		if ((r->req_head.p = malloc(b->head_len)) == NULL) {
			inspect_rec_free(r);
			return 0;
		}
		memcpy(r->req_head.p, b->head, b->head_len);
		r->req_head.len = r->req_head.cap = b->head_len;
	}
	r->req_head.total = b->head_len;
	r->req_head.truncated = b->head_truncated;
	inspect_copy(r->tunnel, sizeof(r->tunnel), b->tunnel);
	inspect_copy(r->local, sizeof(r->local), b->local);
	inspect_copy(r->peer, sizeof(r->peer), b->peer);
	inspect_copy(r->method, sizeof(r->method), b->method);
	r->start_us = b->start_us;
	r->replay_of = st->next_replay_of;
	st->next_replay_of = 0;
	r->id = st->next++;
	i = r->id % st->keep;
	inspect_store_drop(st, i);
	if (st->oldest + st->keep <= r->id)
		st->oldest = r->id - st->keep + 1;
	st->slot[i] = r;
	st->mem += inspect_rec_mem(r);
	inspect_store_trim(st, r->id);
	if (st->changed != NULL)
		st->changed(st->arg, r, INSPECT_NEW);
	return r->id;
}

/* Keeps what fits of p[0..len) under `max`; grows the storage by doubling. */
static void
inspect_part_add(struct inspect_store *st, struct inspect_part *pt,
    const uint8_t *p, size_t len, size_t max)
{
	size_t take, cap;
	uint8_t *np;

	pt->total += len;
	take = pt->len < max ? max - pt->len : 0;
	if (take > len)
		take = len;
	if (take < len)
		pt->truncated = true;
	if (take == 0)
		return;
	if (pt->len + take > pt->cap) {
		cap = pt->cap ? pt->cap : 1024;
		while (cap < pt->len + take)
			cap *= 2;
		if (cap > max)
			cap = max;
		if ((np = realloc(pt->p, cap)) == NULL) {
			pt->truncated = true;
			return;
		}
		st->mem += cap - pt->cap;
		pt->p = np;
		pt->cap = cap;
	}
	memcpy(pt->p + pt->len, p, take);
	pt->len += take;
}

static void
inspect_store_bytes(void *arg, uint64_t id, enum client_httplog_part part,
    const uint8_t *p, size_t len)
{
	struct inspect_store *st = arg;
	struct inspect_rec *r = inspect_store_find(st, id);

	if (r == NULL)
		return;
	switch (part) {
	case CLIENT_HTTPLOG_REQ_BODY:
		inspect_part_add(st, &r->req_body, p, len, st->body_max);
		break;
	case CLIENT_HTTPLOG_RESP_HEAD:
		inspect_part_add(st, &r->resp_head, p, len,
		    CLIENT_HTTPLOG_HEAD_MAX);
		break;
	case CLIENT_HTTPLOG_RESP_BODY:
		inspect_part_add(st, &r->resp_body, p, len, st->body_max);
		break;
	}
	inspect_store_trim(st, id);
}

static void
inspect_store_status(void *arg, uint64_t id, int status)
{
	struct inspect_store *st = arg;
	struct inspect_rec *r = inspect_store_find(st, id);

	if (r == NULL)
		return;
	r->status = status;
	r->upgraded = status == 101;
	if (st->changed != NULL)
		st->changed(st->arg, r, INSPECT_UPDATE);
}

static void
inspect_store_frames(void *arg, uint64_t id, uint64_t to_local,
    uint64_t from_local)
{
	struct inspect_rec *r = inspect_store_find(arg, id);

	if (r == NULL)
		return;
	r->frames_in = to_local;
	r->frames_out = from_local;
}

static void
inspect_store_end(void *arg, uint64_t id, enum client_httplog_end how,
    const struct client_httplog_entry *e)
{
	struct inspect_store *st = arg;
	struct inspect_rec *r = inspect_store_find(st, id);

	if (r == NULL)
		return;
	r->state = how == CLIENT_HTTPLOG_DONE ? INSPECT_DONE : INSPECT_CLOSED;
	if (e->status != 0)
		r->status = e->status;
	r->end_us = e->end_us > r->start_us ? e->end_us : r->start_us;
	if (st->changed != NULL)
		st->changed(st->arg, r, INSPECT_UPDATE);
}

const struct client_httplog_tap inspect_store_tap = {
	.begin = inspect_store_begin,
	.bytes = inspect_store_bytes,
	.status = inspect_store_status,
	.frames = inspect_store_frames,
	.end = inspect_store_end,
};

void
inspect_store_mark_next(struct inspect_store *st, uint64_t of)
{
	st->next_replay_of = of;
}

size_t
inspect_store_list(const struct inspect_store *st,
    const struct inspect_rec **out, size_t max)
{
	size_t n = 0;

	for (uint64_t id = st->next - 1; id >= st->oldest && id > 0 && n < max;
	    id--) {
		const struct inspect_rec *r = inspect_store_find(st, id);

		if (r != NULL)
			out[n++] = r;
	}
	return n;
}

void
inspect_store_clear(struct inspect_store *st)
{
	for (size_t i = 0; i < st->keep; i++)
		inspect_store_drop(st, i);
	st->oldest = st->next;
	if (st->changed != NULL)
		st->changed(st->arg, NULL, INSPECT_CLEAR);
}

size_t
inspect_store_mem(const struct inspect_store *st)
{
	return st->mem;
}

size_t
inspect_store_keep(const struct inspect_store *st)
{
	return st->keep;
}

size_t
inspect_store_body_max(const struct inspect_store *st)
{
	return st->body_max;
}
