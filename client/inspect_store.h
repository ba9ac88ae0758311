/* inspect_store — the request inspector's bounded memory of HTTP exchanges.
 *
 * Records are numbered 1, 2, ... and kept in a ring of `keep` slots: a new
 * record takes the slot of the one `keep` numbers older. Each record holds
 * the request and response heads (at most CLIENT_HTTPLOG_HEAD_MAX each) and
 * the first `body_max` bytes of each body (decoded); the rest is counted
 * and marked truncated. Body storage grows as bytes arrive, so a small
 * exchange costs little. Beyond `mem_max` bytes held in all, the oldest
 * records are dropped whole. The capture path is inspect_store_tap: the
 * tunnel's bytes are only copied, never held back.
 *
 * Every change that a viewer should see (a new record, a status, the end,
 * a clear) is reported through the `changed` callback. */
#ifndef WARREN_INSPECT_STORE_H
#define WARREN_INSPECT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client_httplog_tap;
struct inspect_store;

#define INSPECT_STORE_DEFAULT_KEEP      500
#define INSPECT_STORE_DEFAULT_BODY      (1u << 20)
#define INSPECT_STORE_DEFAULT_MEM       (256u << 20)

enum inspect_state {
	INSPECT_OPEN = 0,       /* no complete response yet (or streaming) */
	INSPECT_DONE,           /* response complete */
	INSPECT_CLOSED,         /* the connection ended before a complete
	                           response, or an upgraded one closed */
};

struct inspect_part {
	uint8_t *p;
	size_t len, cap;        /* p[0..len) kept */
	uint64_t total;         /* bytes seen */
	bool truncated;         /* total > len */
};

/* A record; read-only for callers, valid until the store changes. */
struct inspect_rec {
	uint64_t id;
	uint64_t replay_of;     /* id replayed to make this one, 0 */
	char tunnel[64], local[64], peer[64], method[24];
	char *path;
	uint64_t start_us, end_us;      /* unix microseconds; end 0 while open */
	int status;             /* 0 until the response head */
	enum inspect_state state;
	bool upgraded;          /* 101: frames counted until close */
	uint64_t frames_in, frames_out; /* to / from the local service */
	struct inspect_part req_head, req_body, resp_head, resp_body;
};

enum inspect_change {
	INSPECT_NEW = 1,
	INSPECT_UPDATE,
	INSPECT_CLEAR,          /* rec is NULL */
};

typedef void inspect_store_cb(void *arg, const struct inspect_rec *rec,
    enum inspect_change what);

/* Limits: keep >= 1 records, body_max bytes per body, mem_max in all
 * (0: the defaults above). Returns NULL on ENOMEM or keep > 1000000. */
struct inspect_store *inspect_store_new(size_t keep, size_t body_max,
    size_t mem_max, inspect_store_cb *changed, void *arg);
/* Replaces the change callback (NULL: none). */
void inspect_store_set_changed(struct inspect_store *st,
    inspect_store_cb *changed, void *arg);
/* NULL is a no-op. */
void inspect_store_free(struct inspect_store *st);

/* The capture callbacks (client_httplog.h); their arg is the store. */
extern const struct client_httplog_tap inspect_store_tap;

/* The next record begun is a replay of record `of` (before its NEW). */
void inspect_store_mark_next(struct inspect_store *st, uint64_t of);
/* The record with this id, or NULL (never seen, dropped or cleared). */
const struct inspect_rec *inspect_store_get(const struct inspect_store *st,
    uint64_t id);
/* Up to max records, newest first, into out; returns how many. */
size_t inspect_store_list(const struct inspect_store *st,
    const struct inspect_rec **out, size_t max);
/* Drops every record (ids keep counting). */
void inspect_store_clear(struct inspect_store *st);
/* Bytes held by records (heads, bodies, paths, the records themselves). */
size_t inspect_store_mem(const struct inspect_store *st);
/* The limits in force. */
size_t inspect_store_keep(const struct inspect_store *st);
size_t inspect_store_body_max(const struct inspect_store *st);

#endif
