#include "client_httplog.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http1.h"
#include "inspect_ws.h"

#define CLIENT_HTTPLOG_QUEUE 16         /* pipelined requests tracked */

struct client_httplog_req {
	const char *method;             /* static text from http1 */
	char *path;
	uint64_t start_us;
	uint64_t id;                    /* the tap's, 0 if none */
};

struct client_httplog {
	struct http1_obs *req, *resp;   /* the two directions */
	client_httplog_cb *cb;
	void *arg;
	struct client_httplog_req q[CLIENT_HTTPLOG_QUEUE];
	unsigned qhead, qlen;           /* requests awaiting a response */
	bool req_off, resp_off;         /* observation ended that way */
	uint64_t last_us;

	/* capture (tap != NULL) */
	const struct client_httplog_tap *tap;
	void *tap_arg;
	const char *tunnel, *local, *peer;
	struct buf head;                /* request head arriving in pieces */
	bool head_trunc;
	bool req_in_head, resp_in_head; /* bytes now fed belong to a head */
	bool req_upgrade;               /* the last request asked to upgrade */
	uint64_t req_id;                /* exchange of the request body */
	uint64_t resp_id;               /* exchange of the response bytes */
	uint64_t ws_id;                 /* upgraded exchange, open till close */
	uint64_t ws_start_us;
	int ws_status;
	bool ws;                        /* counting frames both ways */
	struct inspect_ws ws_in, ws_out;/* to / from the local service */
};

static void
client_httplog_pop(struct client_httplog *h)
{
	struct client_httplog_req *r = &h->q[h->qhead];

	free(r->path);
	memset(r, 0, sizeof(*r));
	h->qhead = (h->qhead + 1) % CLIENT_HTTPLOG_QUEUE;
	h->qlen--;
}

static void
client_httplog_fill(struct client_httplog_entry *e,
    const struct client_httplog_req *r, int status, uint64_t bytes,
    uint64_t now_us)
{
	e->method = r && r->method ? r->method : "-";
	e->path = r && r->path ? r->path : "-";
	e->status = status;
	e->start_us = r ? r->start_us : now_us;
	e->end_us = now_us;
	e->bytes = bytes;
}

static void
client_httplog_report(struct client_httplog *h, const struct http1_ev *ev,
    uint64_t now_us, bool upgraded)
{
	struct client_httplog_req *r = h->qlen ? &h->q[h->qhead] : NULL;
	struct client_httplog_entry e;

	client_httplog_fill(&e, r, ev->status, ev->body_bytes, now_us);
	h->cb(h->arg, &e);
	if (r != NULL && r->id != 0 && h->tap != NULL) {
		if (upgraded) {
			/* stays open: frames are counted until the close */
			h->tap->status(h->tap_arg, r->id, ev->status);
			h->ws_id = r->id;
			h->ws_start_us = r->start_us;
			h->ws_status = ev->status;
			h->ws = ev->status == 101;
		} else {
			h->tap->end(h->tap_arg, r->id, CLIENT_HTTPLOG_DONE, &e);
		}
	}
	if (r != NULL)
		client_httplog_pop(h);
}

static void
client_httplog_req_body(void *arg, const uint8_t *p, size_t len)
{
	struct client_httplog *h = arg;

	if (h->req_id != 0)
		h->tap->bytes(h->tap_arg, h->req_id, CLIENT_HTTPLOG_REQ_BODY, p,
		    len);
}

static void
client_httplog_resp_body(void *arg, const uint8_t *p, size_t len)
{
	struct client_httplog *h = arg;

	if (h->resp_id != 0)
		h->tap->bytes(h->tap_arg, h->resp_id, CLIENT_HTTPLOG_RESP_BODY, p,
		    len);
}

struct client_httplog *
client_httplog_new(client_httplog_cb *cb, void *arg)
{
	struct client_httplog *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if (http1_obs_new(&h->req, HTTP1_OBS_REQUESTS) != 0 ||
	    http1_obs_new(&h->resp, HTTP1_OBS_RESPONSES) != 0) {
		http1_obs_free(h->req);
		free(h);
		return NULL;
	}
	h->cb = cb;
	h->arg = arg;
	h->req_in_head = h->resp_in_head = true;
	return h;
}

void
client_httplog_set_tap(struct client_httplog *h,
    const struct client_httplog_tap *tap, void *arg, const char *tunnel,
    const char *local, const char *peer)
{
	h->tap = tap;
	h->tap_arg = arg;
	h->tunnel = tunnel;
	h->local = local;
	h->peer = peer;
	http1_obs_set_body(h->req, tap ? client_httplog_req_body : NULL, h);
	http1_obs_set_body(h->resp, tap ? client_httplog_resp_body : NULL, h);
}

/* Copies request head bytes while the head is incomplete (bounded). */
static void
client_httplog_head_bytes(struct client_httplog *h, const uint8_t *p,
    size_t len)
{
	size_t room = CLIENT_HTTPLOG_HEAD_MAX - buf_len(&h->head);

	if (h->tap == NULL || len == 0)
		return;
	if (len > room) {
		len = room;
		h->head_trunc = true;
	}
	if (len > 0 && buf_append(&h->head, p, len, CLIENT_HTTPLOG_HEAD_MAX) != 0)
		h->head_trunc = true;
}

/* The head copy ends with its empty line. */
static bool
client_httplog_head_ended(const struct buf *b)
{
	size_t n = buf_len(b);
	const uint8_t *p = buf_data(b);

	return (n >= 2 && p[n - 1] == '\n' && p[n - 2] == '\n') ||
	    (n >= 3 && p[n - 1] == '\n' && p[n - 2] == '\r' && p[n - 3] == '\n');
}

static void
client_httplog_frames(struct client_httplog *h)
{
	if (h->tap != NULL && h->ws_id != 0)
		h->tap->frames(h->tap_arg, h->ws_id, h->ws_in.frames,
		    h->ws_out.frames);
}

void
client_httplog_request(struct client_httplog *h, const uint8_t *p, size_t len,
    uint64_t now_us)
{
	struct client_httplog_req *r;
	struct http1_ev ev;
	enum http1_kind k;

	h->last_us = now_us;
	if (h->ws) {
		inspect_ws_feed(&h->ws_in, p, len);
		client_httplog_frames(h);
		return;
	}
	while (len > 0 && !h->req_off) {
		k = http1_obs_feed(h->req, p, len, &ev);
		if (h->req_in_head)
			client_httplog_head_bytes(h, p, ev.used);
		p += ev.used;
		len -= ev.used;
		if (k == HTTP1_ERROR) {
			/* or an upgrade's raw bytes: answers already asked for
			 * are still logged */
			h->req_off = true;
		} else if (k == HTTP1_HEAD) {
			if (h->qlen == CLIENT_HTTPLOG_QUEUE) {
				/* too deep a pipeline to follow */
				h->req_off = h->resp_off = true;
				break;
			}
			r = &h->q[(h->qhead + h->qlen) % CLIENT_HTTPLOG_QUEUE];
			r->method = ev.method;
			r->path = strndup(ev.path ? ev.path : "", ev.path_len);
			r->start_us = now_us;
			r->id = 0;
			h->req_in_head = false;
			h->req_upgrade = ev.upgrade;
			if (h->tap != NULL) {
				/* the parser stops before the head's last LF */
				if (!client_httplog_head_ended(&h->head))
					client_httplog_head_bytes(h,
					    (const uint8_t *)"\n", 1);
				struct client_httplog_begin b = {
					.tunnel = h->tunnel,
					.local = h->local,
					.peer = h->peer,
					.method = ev.method,
					.path = r->path ? r->path : "",
					.head = buf_len(&h->head) ?
					    buf_data(&h->head) : NULL,
					.head_len = buf_len(&h->head),
					.head_truncated = h->head_trunc,
					.start_us = now_us,
				};
				r->id = h->tap->begin(h->tap_arg, &b);
				buf_consume(&h->head, buf_len(&h->head));
				buf_release(&h->head);
				h->head_trunc = false;
			}
			h->req_id = r->id;
			h->qlen++;
			http1_obs_request(h->resp, ev.method);
		} else if (k == HTTP1_END) {
			h->req_in_head = true;
			h->req_id = 0;
			if (h->req_upgrade)
				h->req_off = true;      /* the rest is raw */
		} else if (k == HTTP1_AGAIN && ev.used == 0) {
			break;
		}
	}
}

void
client_httplog_response(struct client_httplog *h, const uint8_t *p, size_t len,
    uint64_t now_us)
{
	struct http1_ev ev;
	enum http1_kind k;

	h->last_us = now_us;
	if (h->ws) {
		inspect_ws_feed(&h->ws_out, p, len);
		client_httplog_frames(h);
		return;
	}
	while (len > 0 && !h->resp_off) {
		h->resp_id = h->qlen ? h->q[h->qhead].id : 0;
		k = http1_obs_feed(h->resp, p, len, &ev);
		if (h->resp_in_head && h->resp_id != 0 && ev.used > 0)
			h->tap->bytes(h->tap_arg, h->resp_id,
			    CLIENT_HTTPLOG_RESP_HEAD, p, ev.used);
		p += ev.used;
		len -= ev.used;
		if (k == HTTP1_HEAD) {
			h->resp_in_head = false;
			if (h->resp_id != 0) {
				/* the parser stops before the head's last LF */
				h->tap->bytes(h->tap_arg, h->resp_id,
				    CLIENT_HTTPLOG_RESP_HEAD, (const uint8_t *)"\n", 1);
				h->tap->status(h->tap_arg, h->resp_id, ev.status);
			}
		} else if (k == HTTP1_END) {
			h->resp_in_head = true;
			client_httplog_report(h, &ev, now_us, false);
		} else if (k == HTTP1_UPGRADE) {
			/* 101 or CONNECT: the rest is another protocol */
			client_httplog_report(h, &ev, now_us, true);
			h->req_off = h->resp_off = true;
			if (h->ws && len > 0) {
				inspect_ws_feed(&h->ws_out, p, len);
				client_httplog_frames(h);
			}
			break;
		} else if (k == HTTP1_ERROR) {
			h->req_off = h->resp_off = true;
		} else if (k == HTTP1_AGAIN && ev.used == 0) {
			break;
		}
	}
	h->resp_id = 0;
}

void
client_httplog_response_eof(struct client_httplog *h, uint64_t now_us)
{
	struct http1_ev ev;

	h->last_us = now_us;
	if (h->resp_off)
		return;
	h->resp_id = h->qlen ? h->q[h->qhead].id : 0;
	if (http1_obs_eof(h->resp, &ev) == HTTP1_END)
		client_httplog_report(h, &ev, now_us, false);
	h->resp_id = 0;
	h->req_off = h->resp_off = true;
}

void
client_httplog_close(struct client_httplog *h, uint64_t now_us)
{
	struct client_httplog_entry e;

	if (h == NULL)
		return;
	if (h->tap != NULL && h->ws_id != 0) {
		struct client_httplog_req r = { "GET", NULL, h->ws_start_us, 0 };

		client_httplog_fill(&e, &r, h->ws_status, h->ws_out.bytes, now_us);
		h->tap->end(h->tap_arg, h->ws_id, CLIENT_HTTPLOG_CLOSED, &e);
	}
	while (h->qlen > 0) {
		struct client_httplog_req *r = &h->q[h->qhead];

		if (h->tap != NULL && r->id != 0) {
			client_httplog_fill(&e, r, 0, 0, now_us);
			h->tap->end(h->tap_arg, r->id, CLIENT_HTTPLOG_CLOSED, &e);
		}
		client_httplog_pop(h);
	}
	buf_fini(&h->head);
	http1_obs_free(h->req);
	http1_obs_free(h->resp);
	free(h);
}

void
client_httplog_free(struct client_httplog *h)
{
	if (h != NULL)
		client_httplog_close(h, h->last_us);
}
