/* lbhealth — active health checks of the load balancer's candidates, run
 * by this node's router from where the node stands.
 *
 * Each target (an app's backend, or a tunnel replica of the group of that
 * name, through the acceptor) is checked every interval: a TCP connect,
 * or an HTTP/1.0 GET of a path whose status must be the expected one, each
 * within a timeout. `fall` failures in a row put an up target down, `rise`
 * successes in a row bring a down one back. A target starts up (unchecked)
 * so a new backend takes traffic at once, as edgeProxy's do.
 *
 * The results are this node's own: the router marks failing candidates
 * LBPICK_DOWN in what it publishes to its acceptor and never writes them to
 * the replicated `healthy` column, which stays the operator's switch. A
 * report hook hears of each target's first result, its transitions and its
 * end, so that other nodes can be told (router/lbhealthdb.h). */
#ifndef WARREN_LBHEALTH_H
#define WARREN_LBHEALTH_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define LBHEALTH_PATH_MAX       255

enum lbhealth_kind { LBHEALTH_NONE = 0, LBHEALTH_TCP, LBHEALTH_HTTP };

struct lbhealth_check {
	enum lbhealth_kind kind;
	char path[LBHEALTH_PATH_MAX + 1];       /* HTTP: starts with '/' */
	uint32_t interval_ms, timeout_ms;       /* timeout is capped at interval */
	uint32_t rise, fall;                    /* >= 1 */
	uint32_t expect;                        /* HTTP status wanted */
};

struct lbhealth_stats {
	uint64_t checks, failed;                /* checks done, of them failed */
	uint64_t went_down, went_up;            /* transitions */
};

struct lbhealth;

/* Called after a target changed state (from the loop, never re-entered). */
typedef void lbhealth_change_cb(void *arg);

/* One target as the report hook and lbhealth_each() see it; the strings are
 * the checker's, valid during the call only. */
struct lbhealth_result {
	const char *app, *id;
	const char *addr;               /* "host:port" or "[v6]:port" checked */
	const char *check;              /* "tcp" or "http:/path" */
	bool checked;                   /* has had a result */
	bool down;
	double since;                   /* wall time (s) of the last transition,
	                                 * or of the target's start */
	const char *last_error;         /* of the last check, "" when it passed */
	uint32_t ok_run, fail_run;      /* consecutive results */
	uint64_t checks, fails;
};

/* Called after a target's first result, after each of its transitions (r
 * is the target, gone false), and when it stops being checked (gone true:
 * dropped, moved or checked differently). From the loop; the hook must not
 * call lbhealth_set/end. */
typedef void lbhealth_report_cb(void *arg, const struct lbhealth_result *r,
    bool gone);

/* Returns 0 and sets *out, or -ENOMEM. */
int lbhealth_new(struct lbhealth **out, struct ev_loop *loop,
    lbhealth_change_cb *cb, void *arg);
/* Stops every check. NULL is a no-op. */
void lbhealth_free(struct lbhealth *h);

/* Parses the text form "tcp" or "http:/path" (and "" or "none": no
 * check) into c->kind and c->path. Returns 0 or -EINVAL. */
int lbhealth_parse(struct lbhealth_check *c, const char *text);

/* Brings the targets in line with a new list: lbhealth_begin(), then
 * lbhealth_set() for each (app, id) to check at addr:port (numeric host),
 * then lbhealth_end() drops the others. A target whose address or check
 * changed starts over (up, unchecked). Returns 0 or -ENOMEM / -EINVAL. */
void lbhealth_begin(struct lbhealth *h);
int lbhealth_set(struct lbhealth *h, const char *app, const char *id,
    const char *addr, unsigned port, const struct lbhealth_check *c);
void lbhealth_end(struct lbhealth *h);
/* lbhealth_set() for a tunnel replica (app's group), which the router
 * cannot dial: the check goes through the acceptor's probe socket
 * (node/probe.h) at sock_path, naming the replica's node, session and
 * tunnel. A tcp check passes when the replica's service does not refuse
 * the stream within the timeout (at most 1 s). Returns 0, -EINVAL or
 * -ENOMEM. */
int lbhealth_set_probe(struct lbhealth *h, const char *app, const char *id,
    const char *sock_path, const char *node, uint64_t session,
    uint32_t tunnel_id, const struct lbhealth_check *c);

/* Sets (or with cb NULL clears) the report hook. */
void lbhealth_on_report(struct lbhealth *h, lbhealth_report_cb *cb, void *arg);
/* Calls fn for every target, in no particular order. */
void lbhealth_each(const struct lbhealth *h,
    void (*fn)(void *arg, const struct lbhealth_result *r), void *arg);

/* True when (app, id) is checked and down on this node. */
bool lbhealth_down(const struct lbhealth *h, const char *app, const char *id);
/* Every target: [{app, id, addr, port, check, state, ...}]. */
json_t *lbhealth_json(const struct lbhealth *h);
const struct lbhealth_stats *lbhealth_stats(const struct lbhealth *h);
/* Targets checked now, and of them down. */
void lbhealth_count(const struct lbhealth *h, size_t *targets, size_t *down);

#endif
