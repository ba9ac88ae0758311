#include "router/lbhealth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "probemsg.h"
#include "sock.h"

#define LBHEALTH_READ_MAX       512     /* bytes of an answer looked at */

struct lbtarget {
	struct lbtarget *next;
	struct lbtarget *hnext;         /* in its index bucket */
	uint64_t hkey;                  /* lbtarget_key(app, id) */
	struct lbhealth *h;
	char *app, *id;
	char addr_text[80];
	struct sock_addr addr;
	struct lbhealth_check c;
	bool seen;                      /* during a sync */
	bool down, checked;
	uint32_t ok_run, fail_run;      /* consecutive results */
	uint64_t checks, fails;
	double changed;                 /* ev_now of the last transition */
	char last_error[96];
	int fd;                         /* -1 unless a check is in flight */
	ev_io io;
	ev_timer every, deadline;
	char buf[LBHEALTH_READ_MAX];
	size_t blen;
	bool sent;
	char *preamble;                 /* a replica: the line naming it to the
	                                 * acceptor's probe socket, or NULL */
};

/* A tcp check of a replica passes when its service does not refuse the
 * stream within this long (or the check's timeout, if shorter). */
#define LBHEALTH_PROBE_TCP_WAIT 1.0

struct lbhealth {
	struct ev_loop *loop;
	lbhealth_change_cb *cb;
	void *arg;
	struct lbtarget *targets;
	struct lbtarget **idx;          /* by (app, id): a sync and the
	                                 * publisher look targets up by name */
	size_t idx_size, ntargets;
	struct lbhealth_stats stats;
	lbhealth_report_cb *report;
	void *report_arg;
};

static void
lbtarget_check_text(const struct lbtarget *t, char *out, size_t len)
{
	if (t->c.kind == LBHEALTH_TCP)
		snprintf(out, len, "tcp");
	else
		snprintf(out, len, "http:%s", t->c.path);
}

static void
lbtarget_view(const struct lbtarget *t, struct lbhealth_result *r, char *check,
    size_t clen)
{
	lbtarget_check_text(t, check, clen);
	memset(r, 0, sizeof(*r));
	r->app = t->app;
	r->id = t->id;
	r->addr = t->addr_text;
	r->check = check;
	r->checked = t->checked;
	r->down = t->down;
	r->since = t->changed;
	r->last_error = t->last_error;
	r->ok_run = t->ok_run;
	r->fail_run = t->fail_run;
	r->checks = t->checks;
	r->fails = t->fails;
}

/* Tells the report hook about t (gone: t is about to be dropped). */
static void
lbtarget_report(struct lbtarget *t, bool gone)
{
	struct lbhealth_result r;
	char check[LBHEALTH_PATH_MAX + 8];

	if (t->h->report == NULL)
		return;
	lbtarget_view(t, &r, check, sizeof(check));
	t->h->report(t->h->report_arg, &r, gone);
}

int
lbhealth_parse(struct lbhealth_check *c, const char *text)
{
	if (text == NULL || text[0] == '\0' || strcmp(text, "none") == 0) {
		c->kind = LBHEALTH_NONE;
		c->path[0] = '\0';
		return 0;
	}
	if (strcmp(text, "tcp") == 0) {
		c->kind = LBHEALTH_TCP;
		c->path[0] = '\0';
		return 0;
	}
	if (strncmp(text, "http:", 5) == 0 && text[5] == '/' &&
	    strlen(text + 5) <= LBHEALTH_PATH_MAX &&
	    strcspn(text + 5, " \t\r\n") == strlen(text + 5)) {
		c->kind = LBHEALTH_HTTP;
		snprintf(c->path, sizeof(c->path), "%s", text + 5);
		return 0;
	}
	return -EINVAL;
}

int
lbhealth_new(struct lbhealth **out, struct ev_loop *loop,
    lbhealth_change_cb *cb, void *arg)
{
	struct lbhealth *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	h->loop = loop;
	h->cb = cb;
	h->arg = arg;
	*out = h;
	return 0;
}

static void
lbtarget_stop_check(struct lbtarget *t)
{
	ev_io_stop(t->h->loop, &t->io);
	ev_timer_stop(t->h->loop, &t->deadline);
	if (t->fd != -1)
		close(t->fd);
	t->fd = -1;
	t->blen = 0;
	t->sent = false;
}

static void
lbtarget_free(struct lbtarget *t)
{
	lbtarget_stop_check(t);
	ev_timer_stop(t->h->loop, &t->every);
	free(t->app);
	free(t->id);
	free(t->preamble);
	free(t);
}

void
lbhealth_free(struct lbhealth *h)
{
	struct lbtarget *t;

	if (h == NULL)
		return;
	while ((t = h->targets) != NULL) {
		h->targets = t->next;
		lbtarget_free(t);
	}
	free(h->idx);
	free(h);
}

static uint64_t
lbtarget_key(const char *app, const char *id)
{
	uint64_t k = 1469598103934665603ULL;     /* FNV-1a of app, NUL, id */

	for (; *app != '\0'; app++)
		k = (k ^ (uint8_t)*app) * 1099511628211ULL;
	k *= 1099511628211ULL;
	for (; *id != '\0'; id++)
		k = (k ^ (uint8_t)*id) * 1099511628211ULL;
	return k;
}

/* The newest target of (app, id), or NULL. */
static struct lbtarget *
lbhealth_find(const struct lbhealth *h, const char *app, const char *id)
{
	uint64_t k = lbtarget_key(app, id);
	struct lbtarget *t;

	if (h->idx_size == 0)
		return NULL;
	for (t = h->idx[k & (h->idx_size - 1)]; t != NULL; t = t->hnext)
		if (t->hkey == k && strcmp(t->app, app) == 0 &&
		    strcmp(t->id, id) == 0)
			return t;
	return NULL;
}

/* Indexes t (newest first in its bucket); grows the index to keep
 * buckets short. Returns 0 or -ENOMEM. */
static int
lbhealth_index(struct lbhealth *h, struct lbtarget *t)
{
	struct lbtarget **idx, **pp, *x;
	size_t size, i;

	t->hkey = lbtarget_key(t->app, t->id);
	if (h->ntargets + 1 > h->idx_size) {
		size = h->idx_size > 0 ? 2 * h->idx_size : 64;
		if ((idx = calloc(size, sizeof(*idx))) == NULL)
			return -ENOMEM;
		/* appended in bucket order: each bucket stays newest first */
		for (i = 0; i < h->idx_size; i++) {
			while ((x = h->idx[i]) != NULL) {
				h->idx[i] = x->hnext;
				x->hnext = NULL;
				pp = &idx[x->hkey & (size - 1)];
				while (*pp != NULL)
					pp = &(*pp)->hnext;
				*pp = x;
			}
		}
		free(h->idx);
		h->idx = idx;
		h->idx_size = size;
	}
	i = t->hkey & (h->idx_size - 1);
	t->hnext = h->idx[i];
	h->idx[i] = t;
	h->ntargets++;
	return 0;
}

static void
lbhealth_unindex(struct lbhealth *h, struct lbtarget *t)
{
	struct lbtarget **pp = &h->idx[t->hkey & (h->idx_size - 1)];

	while (*pp != t)
		pp = &(*pp)->hnext;
	*pp = t->hnext;
	h->ntargets--;
}

/* One check's result: counts, and a transition after rise/fall in a row. */
static void
lbtarget_result(struct lbtarget *t, bool ok, const char *why)
{
	struct lbhealth *h = t->h;
	bool was = t->down, first = !t->checked;

	lbtarget_stop_check(t);
	t->checks++;
	h->stats.checks++;
	t->checked = true;
	if (ok) {
		t->ok_run++;
		t->fail_run = 0;
		t->last_error[0] = '\0';
		if (t->down && t->ok_run >= t->c.rise)
			t->down = false;
	} else {
		t->fails++;
		h->stats.failed++;
		t->fail_run++;
		t->ok_run = 0;
		snprintf(t->last_error, sizeof(t->last_error), "%s", why);
		if (!t->down && t->fail_run >= t->c.fall)
			t->down = true;
	}
	if (was == t->down) {
		if (first)
			lbtarget_report(t, false);
		return;
	}
	t->changed = ev_now(h->loop);
	if (t->down)
		h->stats.went_down++;
	else
		h->stats.went_up++;
	log_info("lb.health", "app=%s backend=%s addr=%s state=%s reason=\"%s\"",
	    t->app, t->id, t->addr_text, t->down ? "down" : "up",
	    t->down ? t->last_error : "checks pass");
	lbtarget_report(t, false);
	h->cb(h->arg);
}

/* "HTTP/1.x NNN" at the start of the answer: NNN, or -1. */
static int
lbtarget_status(const char *p, size_t n)
{
	if (n < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' ||
	    p[11] < '0' || p[11] > '9')
		return -1;
	return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

static void
lbtarget_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lbtarget *t = w->data;
	char req[LBHEALTH_PATH_MAX + 200], why[64];
	ssize_t n;
	int rc, st;

	if (!t->sent) {
		if ((rc = sock_connect_result(t->fd)) != 0) {
			snprintf(why, sizeof(why), "connect: %s", strerror(-rc));
			lbtarget_result(t, false, why);
			return;
		}
		if (t->c.kind == LBHEALTH_TCP && t->preamble == NULL) {
			lbtarget_result(t, true, "");
			return;
		}
		n = snprintf(req, sizeof(req), "%s", t->preamble != NULL ?
		    t->preamble : "");
		if (t->c.kind == LBHEALTH_HTTP)
			n += snprintf(req + n, sizeof(req) - (size_t)n,
			    "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: "
			    "warren-health-check\r\nConnection: close\r\n\r\n",
			    t->c.path, t->preamble != NULL ? t->app : t->addr_text);
		if (n >= (int)sizeof(req) || write(t->fd, req, (size_t)n) != n) {
			lbtarget_result(t, false, "cannot send the request");
			return;
		}
		t->sent = true;
		ev_io_stop(loop, w);
		ev_io_set(w, t->fd, EV_READ);
		ev_io_start(loop, w);
		if (t->c.kind == LBHEALTH_TCP &&
		    (double)t->c.timeout_ms / 1000.0 > LBHEALTH_PROBE_TCP_WAIT) {
			ev_timer_stop(loop, &t->deadline);
			ev_timer_set(&t->deadline, LBHEALTH_PROBE_TCP_WAIT, 0.);
			ev_timer_start(loop, &t->deadline);
		}
		return;
	}
	n = read(t->fd, t->buf + t->blen, sizeof(t->buf) - t->blen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (t->c.kind == LBHEALTH_TCP) {
		/* a replica: its service spoke first (up) or the stream ended
		 * (refused, or no such session) */
		lbtarget_result(t, n > 0, n > 0 ? "" : "the replica's service "
		    "refused the connection, or its session is gone");
		return;
	}
	if (n > 0)
		t->blen += (size_t)n;
	if (n > 0 && t->blen < 12 && t->blen < sizeof(t->buf))
		return;
	st = lbtarget_status(t->buf, t->blen);
	if (st < 0) {
		lbtarget_result(t, false, n == -1 ? "read error" :
		    "not an HTTP answer");
	} else if ((uint32_t)st != t->c.expect) {
		snprintf(why, sizeof(why), "status %d, want %u", st, t->c.expect);
		lbtarget_result(t, false, why);
	} else {
		lbtarget_result(t, true, "");
	}
}

static void
lbtarget_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lbtarget *t = w->data;

	if (t->sent && t->c.kind == LBHEALTH_TCP) {
		lbtarget_result(t, true, "");   /* a replica: not refused */
		return;
	}
	lbtarget_result(t, false, t->sent ? "timeout waiting for the answer" :
	    "connect timeout");
}

static void
lbtarget_on_every(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lbtarget *t = w->data;
	char why[64];
	int fd;

	if (t->fd != -1)
		return;         /* still in flight: its deadline ends it */
	if ((fd = sock_connect(&t->addr)) < 0) {
		snprintf(why, sizeof(why), "connect: %s", strerror(-fd));
		lbtarget_result(t, false, why);
		return;
	}
	t->fd = fd;
	t->sent = false;
	t->blen = 0;
	ev_io_init(&t->io, lbtarget_on_io, fd, EV_WRITE);
	t->io.data = t;
	ev_io_start(loop, &t->io);
	ev_timer_init(&t->deadline, lbtarget_on_deadline,
	    (double)t->c.timeout_ms / 1000.0, 0.);
	t->deadline.data = t;
	ev_timer_start(loop, &t->deadline);
}

void
lbhealth_begin(struct lbhealth *h)
{
	struct lbtarget *t;

	for (t = h->targets; t != NULL; t = t->next)
		t->seen = false;
}

static bool
lbhealth_same(const struct lbhealth_check *a, const struct lbhealth_check *b)
{
	return a->kind == b->kind && strcmp(a->path, b->path) == 0 &&
	    a->interval_ms == b->interval_ms && a->timeout_ms == b->timeout_ms &&
	    a->rise == b->rise && a->fall == b->fall && a->expect == b->expect;
}

static int lbhealth_add(struct lbhealth *h, const char *app, const char *id,
    const struct sock_addr *sa, const char *text, const char *preamble,
    const struct lbhealth_check *c);

int
lbhealth_set(struct lbhealth *h, const char *app, const char *id,
    const char *addr, unsigned port, const struct lbhealth_check *c)
{
	struct sock_addr sa;
	char text[80];

	if (c->kind == LBHEALTH_NONE || port == 0 || port > 65535)
		return 0;
	if (strchr(addr, ':') != NULL)
		snprintf(text, sizeof(text), "[%s]:%u", addr, port);
	else
		snprintf(text, sizeof(text), "%s:%u", addr, port);
	if (sock_addr_parse(&sa, text, NULL) != 0)
		return -EINVAL;
	return lbhealth_add(h, app, id, &sa, text, NULL, c);
}

int
lbhealth_set_probe(struct lbhealth *h, const char *app, const char *id,
    const char *sock_path, const char *node, uint64_t session,
    uint32_t tunnel_id, const struct lbhealth_check *c)
{
	struct sockaddr_un *sun;
	struct sock_addr sa;
	char text[80], line[300];

	if (c->kind == LBHEALTH_NONE)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sun = (struct sockaddr_un *)&sa.ss;
	sun->sun_family = AF_UNIX;
	if (strlen(sock_path) >= sizeof(sun->sun_path))
		return -EINVAL;
	memcpy(sun->sun_path, sock_path, strlen(sock_path) + 1);
	sa.len = sizeof(*sun);
	snprintf(text, sizeof(text), "tunnel@%s", node);
	if (probemsg_format(line, sizeof(line), node, session, tunnel_id) < 0)
		return -EINVAL;
	return lbhealth_add(h, app, id, &sa, text, line, c);
}

static int
lbhealth_add(struct lbhealth *h, const char *app, const char *id,
    const struct sock_addr *sa, const char *text, const char *preamble,
    const struct lbhealth_check *c)
{
	struct lbhealth_check cc = *c;
	struct lbtarget *t;
	double first;

	if (cc.interval_ms < 100)
		cc.interval_ms = 100;
	if (cc.timeout_ms == 0 || cc.timeout_ms > cc.interval_ms)
		cc.timeout_ms = cc.interval_ms;
	if (cc.rise == 0)
		cc.rise = 1;
	if (cc.fall == 0)
		cc.fall = 1;
	if ((t = lbhealth_find(h, app, id)) != NULL) {
		if (strcmp(t->addr_text, text) == 0 && lbhealth_same(&t->c, &cc)) {
			t->seen = true;
			return 0;
		}
		/* moved or checked differently: start over */
		t->seen = false;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	if ((t->app = strdup(app)) == NULL || (t->id = strdup(id)) == NULL ||
	    (preamble != NULL && (t->preamble = strdup(preamble)) == NULL) ||
	    lbhealth_index(h, t) != 0) {
		free(t->app);
		free(t->id);
		free(t->preamble);
		free(t);
		return -ENOMEM;
	}
	t->h = h;
	t->fd = -1;
	t->seen = true;
	t->addr = *sa;
	t->c = cc;
	t->changed = ev_now(h->loop);
	snprintf(t->addr_text, sizeof(t->addr_text), "%s", text);
	/* spread the first checks over the first interval (at most 1 s) */
	first = (double)(random() % 1000) / 1000.0 *
	    (cc.interval_ms < 1000 ? (double)cc.interval_ms / 1000.0 : 1.0);
	ev_timer_init(&t->every, lbtarget_on_every, first,
	    (double)cc.interval_ms / 1000.0);
	t->every.data = t;
	ev_timer_start(h->loop, &t->every);
	ev_init(&t->deadline, lbtarget_on_deadline);
	ev_io_init(&t->io, lbtarget_on_io, 0, EV_WRITE);
	t->next = h->targets;
	h->targets = t;
	return 0;
}

void
lbhealth_end(struct lbhealth *h)
{
	struct lbtarget **pp, *t;

	for (pp = &h->targets; (t = *pp) != NULL;) {
		if (!t->seen) {
			*pp = t->next;
			lbhealth_unindex(h, t);
			lbtarget_report(t, true);
			lbtarget_free(t);
		} else {
			pp = &t->next;
		}
	}
}

bool
lbhealth_down(const struct lbhealth *h, const char *app, const char *id)
{
	const struct lbtarget *t = lbhealth_find(h, app, id);

	return t != NULL && t->down;
}

json_t *
lbhealth_json(const struct lbhealth *h)
{
	const struct lbtarget *t;
	json_t *arr = json_array(), *o;
	double now = ev_now(h->loop);
	char check[LBHEALTH_PATH_MAX + 8];

	for (t = h->targets; t != NULL; t = t->next) {
		lbtarget_check_text(t, check, sizeof(check));
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I,"
		    " s:I, s:I, s:I, s:f, s:s}",
		    "app", t->app, "id", t->id, "addr", t->addr_text, "check", check,
		    "state", !t->checked ? "unchecked" : t->down ? "down" : "up",
		    "interval_ms", (json_int_t)t->c.interval_ms,
		    "timeout_ms", (json_int_t)t->c.timeout_ms,
		    "rise", (json_int_t)t->c.rise, "fall", (json_int_t)t->c.fall,
		    "checks", (json_int_t)t->checks, "failed", (json_int_t)t->fails,
		    "ok_run", (json_int_t)t->ok_run, "fail_run", (json_int_t)t->fail_run,
		    "since_s", now - t->changed, "last_error", t->last_error);
		if (o != NULL)
			json_array_append_new(arr, o);
	}
	return arr;
}

void
lbhealth_on_report(struct lbhealth *h, lbhealth_report_cb *cb, void *arg)
{
	h->report = cb;
	h->report_arg = arg;
}

void
lbhealth_each(const struct lbhealth *h,
    void (*fn)(void *arg, const struct lbhealth_result *r), void *arg)
{
	const struct lbtarget *t;
	struct lbhealth_result r;
	char check[LBHEALTH_PATH_MAX + 8];

	for (t = h->targets; t != NULL; t = t->next) {
		lbtarget_view(t, &r, check, sizeof(check));
		fn(arg, &r);
	}
}

const struct lbhealth_stats *
lbhealth_stats(const struct lbhealth *h)
{
	return &h->stats;
}

void
lbhealth_count(const struct lbhealth *h, size_t *targets, size_t *down)
{
	const struct lbtarget *t;

	*targets = *down = 0;
	for (t = h->targets; t != NULL; t = t->next) {
		(*targets)++;
		if (t->down)
			(*down)++;
	}
}
