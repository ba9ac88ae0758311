#include "inspect_replay.h"

#include <errno.h>
#include <ev.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "client_httplog.h"
#include "inspect_json.h"
#include "inspect_store.h"
#include "log.h"
#include "sock.h"

struct inspect_replay {
	struct inspect_replay *next, **prev;
	struct ev_loop *loop;
	struct inspect_store *st;
	ev_io io;
	ev_timer timer;
	int events;
	bool connecting;
	struct buf out;                 /* the request, written as it goes */
	struct client_httplog *hl;
	uint64_t of;                    /* record replayed */
	uint64_t id;                    /* the replay's record */
	char local[64], tunnel[64];
};

#define INSPECT_REPLAY_READ     (64u << 10)

static uint64_t
inspect_replay_now(struct inspect_replay *rp)
{
	return (uint64_t)(ev_now(rp->loop) * 1e6);
}

static void
inspect_replay_free(struct inspect_replay *rp)
{
	if (rp->next != NULL)
		rp->next->prev = rp->prev;
	*rp->prev = rp->next;
	ev_io_stop(rp->loop, &rp->io);
	ev_timer_stop(rp->loop, &rp->timer);
	if (rp->io.fd >= 0)
		close(rp->io.fd);
	client_httplog_close(rp->hl, inspect_replay_now(rp));
	buf_fini(&rp->out);
	free(rp);
}

void
inspect_replay_free_all(struct inspect_replay **list)
{
	while (*list != NULL)
		inspect_replay_free(*list);
}

static void
inspect_replay_want(struct inspect_replay *rp, int events)
{
	if (events == rp->events)
		return;
	ev_io_stop(rp->loop, &rp->io);
	rp->events = events;
	if (events) {
		ev_io_set(&rp->io, rp->io.fd, events);
		ev_io_start(rp->loop, &rp->io);
	}
}

static void
inspect_replay_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct inspect_replay *rp = w->data;
	uint8_t b[INSPECT_REPLAY_READ];
	ssize_t n;
	int rc;

	if (rp->connecting) {
		if ((rc = sock_connect_result(rp->io.fd)) != 0) {
			log_warn("inspect.replay_failed", "id=%llu local=%s "
			    "error=\"%s\"", (unsigned long long)rp->of, rp->local,
			    strerror(-rc));
			inspect_replay_free(rp);
			return;
		}
		rp->connecting = false;
	}
	if (buf_len(&rp->out) > 0) {
		n = send(rp->io.fd, buf_data(&rp->out), buf_len(&rp->out),
		    MSG_NOSIGNAL);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			inspect_replay_free(rp);
			return;
		}
		if (n > 0)
			buf_consume(&rp->out, (size_t)n);
		if (buf_len(&rp->out) == 0)
			buf_release(&rp->out);
	}
	if (revents & EV_READ) {
		n = read(rp->io.fd, b, sizeof(b));
		if (n > 0) {
			client_httplog_response(rp->hl, b, (size_t)n,
			    inspect_replay_now(rp));
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			client_httplog_response_eof(rp->hl, inspect_replay_now(rp));
			inspect_replay_free(rp);
			return;
		}
	}
	inspect_replay_want(rp, EV_READ | (buf_len(&rp->out) ? EV_WRITE : 0));
}

static void
inspect_replay_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	inspect_replay_free(w->data);
}

/* Tokens (RFC 9110): what a method or a field name may hold. */
static bool
inspect_replay_token(const char *s, size_t len)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c != 0 && strchr(extra, c))))
			return false;
	}
	return true;
}

/* A field value or a target: no control characters (tab allowed in
 * values), no spaces in a target. */
static bool
inspect_replay_text(const char *s, size_t len, bool target)
{
	if (target && len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0x7f || (c < 0x20 && (target || c != '\t')) ||
		    (target && c == ' '))
			return false;
	}
	return true;
}

/* Fields the replay sets itself. */
static bool
inspect_replay_skip(const char *name, size_t len)
{
	static const char *const own[] = { "content-length",
	    "transfer-encoding", "connection", "keep-alive", "upgrade",
	    "expect", NULL };

	for (int i = 0; own[i] != NULL; i++)
		if (strlen(own[i]) == len && strncasecmp(own[i], name, len) == 0)
			return true;
	return false;
}

static int
inspect_replay_add(struct buf *b, const char *p, size_t len)
{
	return buf_append(b, p, len, SIZE_MAX);
}

static int
inspect_replay_field(struct buf *b, const char *n, size_t nl, const char *v,
    size_t vl, char *err, size_t errlen)
{
	if (!inspect_replay_token(n, nl) || !inspect_replay_text(v, vl, false)) {
		snprintf(err, errlen, "header field '%.*s' is not a valid "
		    "name: value pair", (int)(nl > 64 ? 64 : nl), n);
		return -EINVAL;
	}
	if (inspect_replay_skip(n, nl))
		return 0;
	if (inspect_replay_add(b, n, nl) || inspect_replay_add(b, ": ", 2) ||
	    inspect_replay_add(b, v, vl) || inspect_replay_add(b, "\r\n", 2))
		return -ENOMEM;
	return 0;
}

/* Writes the request into b. */
static int
inspect_replay_build(struct buf *b, const struct inspect_rec *r,
    const struct inspect_replay_edit *ed, char *err, size_t errlen)
{
	struct inspect_json_field *f;
	const char *line, *method, *target, *sp;
	size_t line_len, nf, mlen, tlen, blen;
	const uint8_t *body;
	char cl[64];
	int rc = 0;

	if ((f = calloc(INSPECT_JSON_FIELDS, sizeof(*f))) == NULL)
		return -ENOMEM;
	nf = inspect_json_head(r->req_head.p ? r->req_head.p :
	    (const uint8_t *)"", r->req_head.len, 0, &line, &line_len, f,
	    INSPECT_JSON_FIELDS);
	/* the recorded request line: METHOD SP target SP version */
	method = r->method;
	mlen = strlen(method);
	target = r->path ? r->path : "/";
	tlen = strlen(target);
	if (line_len > 0 && (sp = memchr(line, ' ', line_len)) != NULL) {
		const char *t = sp + 1, *e = memchr(t, ' ',
		    line_len - (size_t)(t - line));

		if (e != NULL) {
			target = t;
			tlen = (size_t)(e - t);
		}
	}
	if (ed != NULL && ed->method != NULL && ed->method[0] != '\0') {
		method = ed->method;
		mlen = strlen(method);
	}
	if (ed != NULL && ed->path != NULL && ed->path[0] != '\0') {
		target = ed->path;
		tlen = strlen(target);
	}
	if (!inspect_replay_token(method, mlen) || mlen > 20) {
		snprintf(err, errlen, "method '%.*s' is not a valid HTTP method",
		    (int)(mlen > 32 ? 32 : mlen), method);
		rc = -EINVAL;
		goto out;
	}
	if (!inspect_replay_text(target, tlen, true) || tlen > 8192) {
		snprintf(err, errlen, "path must be a request target without "
		    "spaces or control characters (at most 8192 bytes)");
		rc = -EINVAL;
		goto out;
	}
	if (ed != NULL && ed->has_body) {
		body = ed->body;
		blen = ed->body_len;
	} else {
		if (r->req_body.truncated) {
			snprintf(err, errlen, "the captured body was cut at "
			    "--inspect-body-max (%llu of %llu bytes): edit the "
			    "body or raise the limit to replay it",
			    (unsigned long long)r->req_body.len,
			    (unsigned long long)r->req_body.total);
			rc = -E2BIG;
			goto out;
		}
		body = r->req_body.p;
		blen = r->req_body.len;
	}
	if (inspect_replay_add(b, method, mlen) || inspect_replay_add(b, " ", 1) ||
	    inspect_replay_add(b, target, tlen) ||
	    inspect_replay_add(b, " HTTP/1.1\r\n", 11)) {
		rc = -ENOMEM;
		goto out;
	}
	if (ed != NULL && (ed->nheaders > 0 || ed->replace_headers)) {
		for (size_t i = 0; i < ed->nheaders && rc == 0; i++)
			rc = inspect_replay_field(b, ed->names[i],
			    strlen(ed->names[i]), ed->values[i],
			    strlen(ed->values[i]), err, errlen);
	} else {
		for (size_t i = 0; i < nf && rc == 0; i++)
			rc = inspect_replay_field(b, f[i].name, f[i].name_len,
			    f[i].value, f[i].value_len, err, errlen);
	}
	if (rc != 0)
		goto out;
	snprintf(cl, sizeof(cl), "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	    blen);
	if (inspect_replay_add(b, cl, strlen(cl)) ||
	    (blen > 0 && inspect_replay_add(b, (const char *)body, blen)))
		rc = -ENOMEM;
out:
	free(f);
	return rc;
}

static void
inspect_replay_log(void *arg, const struct client_httplog_entry *e)
{
	(void)arg;
	(void)e;
}

/* The store's tap, remembering the new record's id. */
static uint64_t
inspect_replay_begin(void *arg, const struct client_httplog_begin *b)
{
	struct inspect_replay *rp = arg;

	inspect_store_mark_next(rp->st, rp->of);
	rp->id = inspect_store_tap.begin(rp->st, b);
	inspect_store_mark_next(rp->st, 0);
	return rp->id;
}

static void
inspect_replay_bytes(void *arg, uint64_t id, enum client_httplog_part part,
    const uint8_t *p, size_t len)
{
	struct inspect_replay *rp = arg;

	inspect_store_tap.bytes(rp->st, id, part, p, len);
}

static void
inspect_replay_status(void *arg, uint64_t id, int status)
{
	struct inspect_replay *rp = arg;

	inspect_store_tap.status(rp->st, id, status);
}

static void
inspect_replay_frames(void *arg, uint64_t id, uint64_t in, uint64_t out)
{
	struct inspect_replay *rp = arg;

	inspect_store_tap.frames(rp->st, id, in, out);
}

static void
inspect_replay_end(void *arg, uint64_t id, enum client_httplog_end how,
    const struct client_httplog_entry *e)
{
	struct inspect_replay *rp = arg;

	inspect_store_tap.end(rp->st, id, how, e);
}

static const struct client_httplog_tap inspect_replay_tap = {
	.begin = inspect_replay_begin,
	.bytes = inspect_replay_bytes,
	.status = inspect_replay_status,
	.frames = inspect_replay_frames,
	.end = inspect_replay_end,
};

int
inspect_replay_start(struct inspect_replay **list, struct ev_loop *loop,
    struct inspect_store *st, const struct inspect_rec *r,
    const struct inspect_replay_edit *ed, uint64_t *id, char *err,
    size_t errlen)
{
	struct inspect_replay *rp;
	struct sock_addr la;
	int fd, rc;

	if ((rp = calloc(1, sizeof(*rp))) == NULL)
		return -ENOMEM;
	rp->io.fd = -1;
	snprintf(rp->local, sizeof(rp->local), "%s", r->local);
	snprintf(rp->tunnel, sizeof(rp->tunnel), "%s", r->tunnel);
	rp->of = r->id;
	if ((rc = inspect_replay_build(&rp->out, r, ed, err, errlen)) != 0) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		buf_fini(&rp->out);
		free(rp);
		return rc;
	}
	if (sock_addr_parse(&la, rp->local, NULL) != 0 ||
	    (fd = sock_connect(&la)) < 0) {
		snprintf(err, errlen, "cannot connect to the local service %s",
		    rp->local);
		buf_fini(&rp->out);
		free(rp);
		return -EINVAL;
	}
	if ((rp->hl = client_httplog_new(inspect_replay_log, rp)) == NULL) {
		close(fd);
		buf_fini(&rp->out);
		free(rp);
		return -ENOMEM;
	}
	rp->loop = loop;
	rp->st = st;
	client_httplog_set_tap(rp->hl, &inspect_replay_tap, rp, rp->tunnel,
	    rp->local, "replay");
	/* the request goes through the capture as it is: the new record */
	client_httplog_request(rp->hl, buf_data(&rp->out), buf_len(&rp->out),
	    (uint64_t)(ev_now(loop) * 1e6));
	rp->next = *list;
	if (rp->next != NULL)
		rp->next->prev = &rp->next;
	rp->prev = list;
	*list = rp;
	ev_io_init(&rp->io, inspect_replay_io, fd, 0);
	rp->io.data = rp;
	rp->connecting = true;
	ev_timer_init(&rp->timer, inspect_replay_timeout,
	    INSPECT_REPLAY_TIMEOUT_S, 0);
	rp->timer.data = rp;
	ev_timer_start(loop, &rp->timer);
	inspect_replay_want(rp, EV_WRITE);
	*id = rp->id;
	return 0;
}
