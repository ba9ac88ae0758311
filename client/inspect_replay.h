/* inspect_replay — sends a captured request again to the tunnel's local
 * service, as it was or edited, and captures the exchange as a new record
 * marked as a replay.
 *
 * The request is rebuilt from the record: its request line and header
 * fields (or the edited ones), with Content-Length set to the body sent and
 * Connection: close, so the response ends with the connection. A replay
 * that has not finished after INSPECT_REPLAY_TIMEOUT_S is closed. All
 * replays in flight hang off one list the owner frees. */
#ifndef WARREN_INSPECT_REPLAY_H
#define WARREN_INSPECT_REPLAY_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct inspect_rec;
struct inspect_store;
struct inspect_replay;

#define INSPECT_REPLAY_TIMEOUT_S 60
#define INSPECT_REPLAY_HEADERS   128

/* What to change; NULL or 0 fields keep the record's. */
struct inspect_replay_edit {
	const char *method;
	const char *path;
	size_t nheaders;                /* > 0: these replace the record's */
	const char *names[INSPECT_REPLAY_HEADERS];
	const char *values[INSPECT_REPLAY_HEADERS];
	int replace_headers;            /* use names/values even if empty */
	const uint8_t *body;            /* with has_body: replaces the body */
	size_t body_len;
	int has_body;
};

/* Starts a replay of record r (edited by `ed`, may be NULL) on `loop`,
 * linked into *list. Returns 0 and the new record's id in *id, or -errno
 * with a sentence in err: -EINVAL (a bad method, path or header, or a
 * local address that cannot be dialled), -E2BIG (the captured body was cut
 * at the capture limit and no body was given), -ENOMEM. */
int inspect_replay_start(struct inspect_replay **list, struct ev_loop *loop,
    struct inspect_store *st, const struct inspect_rec *r,
    const struct inspect_replay_edit *ed, uint64_t *id, char *err,
    size_t errlen);

/* Stops and frees every replay on the list. */
void inspect_replay_free_all(struct inspect_replay **list);

#endif
