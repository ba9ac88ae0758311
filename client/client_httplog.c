#include "client_httplog.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

#define CLIENT_HTTPLOG_QUEUE 16         /* pipelined requests tracked */

struct client_httplog_req {
	const char *method;             /* static text from http1 */
	char *path;
	uint64_t start_us;
};

struct client_httplog {
	struct http1_obs *req, *resp;   /* the two directions */
	client_httplog_cb *cb;
	void *arg;
	struct client_httplog_req q[CLIENT_HTTPLOG_QUEUE];
	unsigned qhead, qlen;           /* requests awaiting a response */
	bool req_off, resp_off;         /* observation ended that way */
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
client_httplog_report(struct client_httplog *h, const struct http1_ev *ev,
    uint64_t now_us)
{
	struct client_httplog_req *r = h->qlen ? &h->q[h->qhead] : NULL;
	struct client_httplog_entry e;

	e.method = r && r->method ? r->method : "-";
	e.path = r && r->path ? r->path : "-";
	e.status = ev->status;
	e.start_us = r ? r->start_us : now_us;
	e.end_us = now_us;
	e.bytes = ev->body_bytes;
	h->cb(h->arg, &e);
	if (r != NULL)
		client_httplog_pop(h);
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
	return h;
}

void
client_httplog_request(struct client_httplog *h, const uint8_t *p, size_t len,
    uint64_t now_us)
{
	struct client_httplog_req *r;
	struct http1_ev ev;
	enum http1_kind k;

	while (len > 0 && !h->req_off) {
		k = http1_obs_feed(h->req, p, len, &ev);
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
			h->qlen++;
			http1_obs_request(h->resp, ev.method);
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

	while (len > 0 && !h->resp_off) {
		k = http1_obs_feed(h->resp, p, len, &ev);
		p += ev.used;
		len -= ev.used;
		if (k == HTTP1_END) {
			client_httplog_report(h, &ev, now_us);
		} else if (k == HTTP1_UPGRADE) {
			/* 101 or CONNECT: the rest is another protocol */
			client_httplog_report(h, &ev, now_us);
			h->req_off = h->resp_off = true;
		} else if (k == HTTP1_ERROR) {
			h->req_off = h->resp_off = true;
		} else if (k == HTTP1_AGAIN && ev.used == 0) {
			break;
		}
	}
}

void
client_httplog_response_eof(struct client_httplog *h, uint64_t now_us)
{
	struct http1_ev ev;

	if (h->resp_off)
		return;
	if (http1_obs_eof(h->resp, &ev) == HTTP1_END)
		client_httplog_report(h, &ev, now_us);
	h->req_off = h->resp_off = true;
}

void
client_httplog_free(struct client_httplog *h)
{
	if (h == NULL)
		return;
	while (h->qlen > 0)
		client_httplog_pop(h);
	http1_obs_free(h->req);
	http1_obs_free(h->resp);
	free(h);
}
