#include "client_httplog.h"

#include <http_parser.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_HTTPLOG_QUEUE 8          /* pipelined requests tracked */

struct client_httplog_req {
	const char *method;             /* static text from http_parser */
	char *path;
	size_t plen;
	uint64_t start_us;
	bool head;
};

struct client_httplog {
	http_parser req, resp;
	client_httplog_cb *cb;
	void *arg;
	uint64_t now_us;
	uint64_t bytes;                 /* body of the response in progress */
	struct client_httplog_req q[CLIENT_HTTPLOG_QUEUE];
	unsigned qhead, qlen;           /* queue of requests awaiting a response */
	bool req_off, resp_off;         /* observation ended in that direction */
	bool req_open;                  /* a request head is being parsed */
};

static struct client_httplog_req *
client_httplog_tail(struct client_httplog *h)
{
	if (h->qlen == 0)
		return NULL;
	return &h->q[(h->qhead + h->qlen - 1) % CLIENT_HTTPLOG_QUEUE];
}

static void
client_httplog_pop(struct client_httplog *h)
{
	struct client_httplog_req *r = &h->q[h->qhead];

	free(r->path);
	memset(r, 0, sizeof(*r));
	h->qhead = (h->qhead + 1) % CLIENT_HTTPLOG_QUEUE;
	h->qlen--;
}

/* --- request side ---------------------------------------------------- */

static int
client_httplog_req_begin(http_parser *p)
{
	struct client_httplog *h = p->data;
	struct client_httplog_req *r;

	h->req_open = false;
	if (h->qlen == CLIENT_HTTPLOG_QUEUE)
		return 0;       /* too deep a pipeline: this one goes unlogged */
	r = &h->q[(h->qhead + h->qlen) % CLIENT_HTTPLOG_QUEUE];
	memset(r, 0, sizeof(*r));
	r->start_us = h->now_us;
	h->qlen++;
	h->req_open = true;
	return 0;
}

static int
client_httplog_req_url(http_parser *p, const char *at, size_t len)
{
	struct client_httplog *h = p->data;
	struct client_httplog_req *r = client_httplog_tail(h);
	char *np;

	if (!h->req_open || r == NULL)
		return 0;
	if (len > CLIENT_HTTPLOG_PATH_MAX - r->plen)
		len = CLIENT_HTTPLOG_PATH_MAX - r->plen;
	if (len == 0)
		return 0;
	if ((np = realloc(r->path, r->plen + len + 1)) == NULL)
		return 0;
	memcpy(np + r->plen, at, len);
	r->plen += len;
	np[r->plen] = '\0';
	r->path = np;
	return 0;
}

static int
client_httplog_req_headers(http_parser *p)
{
	struct client_httplog *h = p->data;
	struct client_httplog_req *r = client_httplog_tail(h);

	if (h->req_open && r != NULL) {
		r->method = http_method_str((enum http_method)p->method);
		r->head = p->method == HTTP_HEAD;
		h->req_open = false;
	}
	return 0;
}

static const http_parser_settings client_httplog_req_settings = {
	.on_message_begin = client_httplog_req_begin,
	.on_url = client_httplog_req_url,
	.on_headers_complete = client_httplog_req_headers,
};

/* --- response side --------------------------------------------------- */

static int
client_httplog_resp_begin(http_parser *p)
{
	struct client_httplog *h = p->data;

	h->bytes = 0;
	return 0;
}

static int
client_httplog_resp_headers(http_parser *p)
{
	struct client_httplog *h = p->data;

	/* a response to HEAD has no body whatever its headers say */
	if (h->qlen > 0 && h->q[h->qhead].head)
		return 1;
	return 0;
}

static int
client_httplog_resp_body(http_parser *p, const char *at, size_t len)
{
	struct client_httplog *h = p->data;

	h->bytes += len;
	return 0;
}

static int
client_httplog_resp_done(http_parser *p)
{
	struct client_httplog *h = p->data;
	struct client_httplog_entry e;
	struct client_httplog_req *r = h->qlen ? &h->q[h->qhead] : NULL;

	if (p->status_code >= 100 && p->status_code < 200 &&
	    p->status_code != 101)
		return 0;       /* interim response: the real one follows */
	e.method = r && r->method ? r->method : "-";
	e.path = r && r->path ? r->path : "-";
	e.status = p->status_code;
	e.start_us = r ? r->start_us : h->now_us;
	e.end_us = h->now_us;
	e.bytes = h->bytes;
	h->cb(h->arg, &e);
	if (r != NULL)
		client_httplog_pop(h);
	return 0;
}

static const http_parser_settings client_httplog_resp_settings = {
	.on_message_begin = client_httplog_resp_begin,
	.on_headers_complete = client_httplog_resp_headers,
	.on_body = client_httplog_resp_body,
	.on_message_complete = client_httplog_resp_done,
};

struct client_httplog *
client_httplog_new(client_httplog_cb *cb, void *arg)
{
	struct client_httplog *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	http_parser_init(&h->req, HTTP_REQUEST);
	http_parser_init(&h->resp, HTTP_RESPONSE);
	h->req.data = h->resp.data = h;
	h->cb = cb;
	h->arg = arg;
	return h;
}

void
client_httplog_request(struct client_httplog *h, const uint8_t *p, size_t len,
    uint64_t now_us)
{
	size_t n;

	if (h->req_off || len == 0)
		return;
	h->now_us = now_us;
	n = http_parser_execute(&h->req, &client_httplog_req_settings,
	    (const char *)p, len);
	/* an upgrade or CONNECT hands the connection to another protocol */
	if (h->req.upgrade || n != len || HTTP_PARSER_ERRNO(&h->req) != HPE_OK)
		h->req_off = true;
}

void
client_httplog_response(struct client_httplog *h, const uint8_t *p, size_t len,
    uint64_t now_us)
{
	size_t n;

	if (h->resp_off || len == 0)
		return;
	h->now_us = now_us;
	n = http_parser_execute(&h->resp, &client_httplog_resp_settings,
	    (const char *)p, len);
	if (h->resp.upgrade || n != len || HTTP_PARSER_ERRNO(&h->resp) != HPE_OK) {
		h->resp_off = true;
		h->req_off = true;
	}
}

void
client_httplog_response_eof(struct client_httplog *h, uint64_t now_us)
{
	if (h->resp_off)
		return;
	h->now_us = now_us;
	http_parser_execute(&h->resp, &client_httplog_resp_settings, NULL, 0);
	h->resp_off = true;
}

void
client_httplog_free(struct client_httplog *h)
{
	if (h == NULL)
		return;
	while (h->qlen > 0)
		client_httplog_pop(h);
	free(h);
}
