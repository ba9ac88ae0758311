#include "inspect_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <http_parser.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "buf.h"
#include "inspect_json.h"
#include "inspect_page.h"
#include "inspect_replay.h"
#include "log.h"
#include "sock.h"

#define INSPECT_HTTP_READ       (16u << 10)
#define INSPECT_HTTP_URL_MAX    2048
#define INSPECT_HTTP_VAL_MAX    512
#define INSPECT_HTTP_LIST_MAX   1000000

struct inspect_conn {
	struct inspect_http *h;
	struct inspect_conn *next, **prev;
	ev_io io;
	int events;
	http_parser hp;
	struct buf in, out;
	size_t head_bytes;              /* of the head being parsed */
	bool in_head;
	/* the request being read */
	char url[INSPECT_HTTP_URL_MAX];
	size_t url_len;
	bool too_long;
	enum { HF_NONE, HF_AUTH, HF_HOST, HF_ORIGIN } field;
	char auth[INSPECT_HTTP_VAL_MAX], host[256], origin[256];
	size_t auth_len, host_len, origin_len;
	bool field_value;               /* last callback was a value */
	struct buf body;
	bool body_too_big;
	bool complete;
	bool sse;                       /* an event stream: no more requests */
	bool closing;                   /* close once out is written */
};

struct inspect_http {
	struct ev_loop *loop;
	struct inspect_store *st;
	ev_io lio;
	char url[96];
	char *auth_b64;                 /* expected Basic credentials */
	struct inspect_conn *conns;
	struct inspect_replay *replays;
	size_t body_cap;                /* largest request body taken */
};

static void inspect_conn_io(struct ev_loop *loop, ev_io *w, int revents);

static void
inspect_conn_want(struct inspect_conn *c, int events)
{
	if (events == c->events)
		return;
	ev_io_stop(c->h->loop, &c->io);
	c->events = events;
	if (events) {
		ev_io_set(&c->io, c->io.fd, events);
		ev_io_start(c->h->loop, &c->io);
	}
}

static void
inspect_conn_free(struct inspect_conn *c)
{
	if (c->next != NULL)
		c->next->prev = c->prev;
	*c->prev = c->next;
	ev_io_stop(c->h->loop, &c->io);
	close(c->io.fd);
	buf_fini(&c->in);
	buf_fini(&c->out);
	buf_fini(&c->body);
	free(c);
}

/* --- responses --- */

static int
inspect_conn_write(struct inspect_conn *c, const void *p, size_t len)
{
	return buf_append(&c->out, p, len, SIZE_MAX);
}

static void
inspect_conn_reply(struct inspect_conn *c, int status, const char *type,
    const void *body, size_t len, const char *extra)
{
	char head[512];
	int n;

	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	    "%s%s\r\n", status, status == 200 ? "OK" : status == 204 ?
	    "No Content" : status == 400 ? "Bad Request" : status == 401 ?
	    "Unauthorized" : status == 403 ? "Forbidden" : status == 404 ?
	    "Not Found" : status == 405 ? "Method Not Allowed" :
	    status == 409 ? "Conflict" : status == 413 ? "Payload Too Large" :
	    status == 431 ? "Request Header Fields Too Large" : status == 502 ?
	    "Bad Gateway" : "Error", type, len, extra ? extra : "",
	    c->closing ? "Connection: close\r\n" : "");
	if (c->hp.method == HTTP_HEAD)
		len = 0;        /* the length said, no body */
	if (inspect_conn_write(c, head, (size_t)n) != 0 ||
	    (len > 0 && inspect_conn_write(c, body, len) != 0))
		c->closing = true;
}

static void
inspect_conn_json(struct inspect_conn *c, int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (s == NULL) {
		inspect_conn_reply(c, 500, "text/plain", "out of memory\n", 14,
		    NULL);
		return;
	}
	inspect_conn_reply(c, status, "application/json", s, strlen(s), NULL);
	free(s);
}

static void
inspect_conn_error(struct inspect_conn *c, int status, const char *msg)
{
	inspect_conn_json(c, status, json_pack("{s:s}", "error", msg));
}

/* --- event streams --- */

static void
inspect_conn_event(struct inspect_conn *c, const char *event, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (buf_len(&c->out) > INSPECT_HTTP_SSE_MAX) {
		/* the reader fell behind: it reconnects and reloads */
		c->closing = true;
	} else if (s != NULL) {
		inspect_conn_write(c, "event: ", 7);
		inspect_conn_write(c, event, strlen(event));
		inspect_conn_write(c, "\ndata: ", 7);
		inspect_conn_write(c, s, strlen(s));
		inspect_conn_write(c, "\n\n", 2);
	}
	free(s);
	inspect_conn_want(c, EV_READ | EV_WRITE);
}

void
inspect_http_notify(void *arg, const struct inspect_rec *r,
    enum inspect_change what)
{
	struct inspect_http *h = arg;

	for (struct inspect_conn *c = h->conns; c != NULL; c = c->next) {
		if (!c->sse || c->closing)
			continue;
		if (what == INSPECT_CLEAR)
			inspect_conn_event(c, "clear", json_object());
		else
			inspect_conn_event(c, "request", inspect_json_summary(r));
	}
}

/* --- the API --- */

static bool
inspect_http_id(const char *s, uint64_t *id, const char **rest)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || v == 0)
		return false;
	*id = v;
	*rest = end;
	return true;
}

static void
inspect_http_list(struct inspect_conn *c, const char *query)
{
	size_t keep = inspect_store_keep(c->h->st), limit = keep, n;
	const struct inspect_rec **rs;
	const char *q;
	json_t *a;

	if (query != NULL && (q = strstr(query, "limit=")) != NULL) {
		long v = strtol(q + 6, NULL, 10);

		if (v > 0 && (size_t)v < limit)
			limit = (size_t)v;
	}
	if ((rs = calloc(limit, sizeof(*rs))) == NULL) {
		inspect_conn_error(c, 500, "out of memory");
		return;
	}
	n = inspect_store_list(c->h->st, rs, limit);
	a = json_array();
	for (size_t i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, inspect_json_summary(rs[i]));
	free(rs);
	inspect_conn_json(c, 200, a);
}

/* Reads the optional edit of a replay from JSON; returns 0 or -1 with err. */
static int
inspect_http_edit(json_t *j, struct inspect_replay_edit *ed, uint8_t **body,
    char *err, size_t errlen)
{
	json_t *hs, *b, *b64;
	size_t i;

	ed->method = json_string_value(json_object_get(j, "method"));
	ed->path = json_string_value(json_object_get(j, "path"));
	hs = json_object_get(j, "headers");
	if (json_is_array(hs)) {
		json_t *pair;

		ed->replace_headers = 1;
		json_array_foreach(hs, i, pair) {
			const char *n = json_string_value(json_array_get(pair, 0));
			const char *v = json_string_value(json_array_get(pair, 1));

			if (n == NULL || v == NULL || json_array_size(pair) != 2 ||
			    ed->nheaders == INSPECT_REPLAY_HEADERS) {
				snprintf(err, errlen, "headers must be at most %d "
				    "[name, value] pairs of strings",
				    INSPECT_REPLAY_HEADERS);
				return -1;
			}
			ed->names[ed->nheaders] = n;
			ed->values[ed->nheaders++] = v;
		}
	} else if (json_is_object(hs)) {
		const char *k;
		json_t *v;

		ed->replace_headers = 1;
		json_object_foreach(hs, k, v) {
			if (!json_is_string(v) ||
			    ed->nheaders == INSPECT_REPLAY_HEADERS) {
				snprintf(err, errlen, "header values must be strings");
				return -1;
			}
			ed->names[ed->nheaders] = k;
			ed->values[ed->nheaders++] = json_string_value(v);
		}
	} else if (hs != NULL && !json_is_null(hs)) {
		snprintf(err, errlen, "headers must be an array of [name, value]");
		return -1;
	}
	b = json_object_get(j, "body");
	b64 = json_object_get(j, "body_base64");
	if (json_is_string(b)) {
		ed->body = (const uint8_t *)json_string_value(b);
		ed->body_len = json_string_length(b);
		ed->has_body = 1;
	} else if (json_is_string(b64)) {
		size_t len = json_string_length(b64);
		int n;

		if ((*body = malloc(len / 4 * 3 + 3)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		n = EVP_DecodeBlock(*body, (const unsigned char *)
		    json_string_value(b64), (int)len);
		if (n < 0 || len % 4 != 0) {
			snprintf(err, errlen, "body_base64 is not base64");
			return -1;
		}
		/* EVP_DecodeBlock counts the padding as bytes */
		if (len > 0 && json_string_value(b64)[len - 1] == '=')
			n--;
		if (len > 1 && json_string_value(b64)[len - 2] == '=')
			n--;
		ed->body = *body;
		ed->body_len = (size_t)n;
		ed->has_body = 1;
	}
	return 0;
}

static void
inspect_http_replay(struct inspect_conn *c, uint64_t id)
{
	struct inspect_replay_edit *ed = NULL;
	const struct inspect_rec *r;
	json_t *j = NULL;
	json_error_t je;
	uint8_t *body = NULL;
	char err[300];
	uint64_t nid;
	int rc;

	if ((r = inspect_store_get(c->h->st, id)) == NULL) {
		inspect_conn_error(c, 404, "no such request (cleared, or older "
		    "than --inspect-keep)");
		return;
	}
	if (buf_len(&c->body) > 0) {
		j = json_loadb((const char *)buf_data(&c->body), buf_len(&c->body),
		    0, &je);
		if (!json_is_object(j)) {
			json_decref(j);
			snprintf(err, sizeof(err), "the replay body must be a JSON "
			    "object {method, path, headers, body}: %s", je.text);
			inspect_conn_error(c, 400, err);
			return;
		}
		if ((ed = calloc(1, sizeof(*ed))) == NULL ||
		    inspect_http_edit(j, ed, &body, err, sizeof(err)) != 0) {
			if (ed == NULL)
				snprintf(err, sizeof(err), "out of memory");
			inspect_conn_error(c, 400, err);
			goto out;
		}
	}
	rc = inspect_replay_start(&c->h->replays, c->h->loop, c->h->st, r, ed,
	    &nid, err, sizeof(err));
	if (rc != 0)
		inspect_conn_error(c, rc == -E2BIG ? 409 : rc == -EINVAL ? 400 :
		    500, err);
	else
		inspect_conn_json(c, 200, json_pack("{s:I, s:I}", "id",
		    (json_int_t)nid, "replay_of", (json_int_t)id));
out:
	free(ed);
	free(body);
	json_decref(j);
}

static void
inspect_http_events(struct inspect_conn *c)
{
	static const char head[] = "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/event-stream\r\nCache-Control: no-store\r\n"
	    "Connection: keep-alive\r\n\r\nretry: 1000\n\n";

	c->sse = true;
	inspect_conn_write(c, head, sizeof(head) - 1);
}

static void
inspect_http_route(struct inspect_conn *c)
{
	struct inspect_http *h = c->h;
	const struct inspect_page_file *f;
	enum http_method m = (enum http_method)c->hp.method;
	char *q, *path = c->url;
	const char *rest;
	uint64_t id;

	if ((q = strchr(path, '?')) != NULL)
		*q++ = '\0';
	if (strcmp(path, "/api/requests") == 0) {
		if (m == HTTP_GET)
			inspect_http_list(c, q);
		else if (m == HTTP_DELETE) {
			inspect_store_clear(h->st);
			inspect_conn_reply(c, 204, "text/plain", NULL, 0, NULL);
		} else
			inspect_conn_error(c, 405, "use GET or DELETE");
		return;
	}
	if (strncmp(path, "/api/requests/", 14) == 0 &&
	    inspect_http_id(path + 14, &id, &rest)) {
		if (*rest == '\0' && m == HTTP_GET) {
			const struct inspect_rec *r = inspect_store_get(h->st, id);

			if (r == NULL)
				inspect_conn_error(c, 404, "no such request "
				    "(cleared, or older than --inspect-keep)");
			else
				inspect_conn_json(c, 200, inspect_json_detail(r));
			return;
		}
		if (strcmp(rest, "/replay") == 0 && m == HTTP_POST) {
			inspect_http_replay(c, id);
			return;
		}
		inspect_conn_error(c, 405, "use GET /api/requests/ID or POST "
		    "/api/requests/ID/replay");
		return;
	}
	if (strcmp(path, "/api/events") == 0 && m == HTTP_GET) {
		inspect_http_events(c);
		return;
	}
	if (strcmp(path, "/api/status") == 0 && m == HTTP_GET) {
		const struct inspect_rec *one[1];

		inspect_conn_json(c, 200, json_pack("{s:I, s:I, s:I, s:I}",
		    "keep", (json_int_t)inspect_store_keep(h->st),
		    "body_max", (json_int_t)inspect_store_body_max(h->st),
		    "mem", (json_int_t)inspect_store_mem(h->st),
		    "latest", (json_int_t)(inspect_store_list(h->st, one, 1) ?
		    one[0]->id : 0)));
		return;
	}
	if ((m == HTTP_GET || m == HTTP_HEAD) &&
	    (f = inspect_page_find(path)) != NULL) {
		inspect_conn_reply(c, 200, f->type, f->data, f->len,
		    "Content-Security-Policy: default-src 'self'; "
		    "frame-ancestors 'none'\r\n");
		return;
	}
	inspect_conn_error(c, 404, "not found");
}

/* Host must name this machine (an address or localhost): a page on some
 * other name is a DNS rebinding attempt. */
static bool
inspect_http_host_ok(const char *host, size_t len)
{
	char h[256];
	const char *colon;
	struct in6_addr a6;
	struct in_addr a4;

	if (len == 0 || len >= sizeof(h))
		return false;
	memcpy(h, host, len);
	h[len] = '\0';
	if (h[0] == '[') {
		char *e = strchr(h, ']');

		if (e == NULL)
			return false;
		*e = '\0';
		return inet_pton(AF_INET6, h + 1, &a6) == 1;
	}
	if ((colon = strchr(h, ':')) != NULL)
		h[colon - h] = '\0';
	return strcasecmp(h, "localhost") == 0 || inet_pton(AF_INET, h, &a4) == 1;
}

static void
inspect_http_handle(struct inspect_conn *c)
{
	struct inspect_http *h = c->h;
	enum http_method m = (enum http_method)c->hp.method;

	if (!http_should_keep_alive(&c->hp))
		c->closing = true;
	if (c->too_long) {
		inspect_conn_error(c, 431, "request head too large");
		c->closing = true;
		return;
	}
	if (!inspect_http_host_ok(c->host, c->host_len)) {
		inspect_conn_error(c, 403, "the inspector answers only to an "
		    "address or localhost in Host");
		return;
	}
	if (h->auth_b64 != NULL) {
		size_t el = strlen(h->auth_b64);

		if (c->auth_len != el + 6 || strncasecmp(c->auth, "Basic ", 6) ||
		    CRYPTO_memcmp(c->auth + 6, h->auth_b64, el) != 0) {
			inspect_conn_reply(c, 401, "text/plain",
			    "credentials required (--inspect-auth)\n", 38,
			    "WWW-Authenticate: Basic realm=\"warren inspector\"\r\n");
			return;
		}
	}
	if ((m == HTTP_POST || m == HTTP_DELETE) && c->origin_len > 0) {
		const char *o = memchr(c->origin, ':', c->origin_len);

		/* "http://HOST" must be this Host */
		if (o == NULL || c->origin_len - (size_t)(o - c->origin) < 3 ||
		    c->origin_len - (size_t)(o + 3 - c->origin) != c->host_len ||
		    strncasecmp(o + 3, c->host, c->host_len) != 0) {
			inspect_conn_error(c, 403, "cross-origin request refused");
			return;
		}
	}
	if (c->body_too_big) {
		inspect_conn_error(c, 413, "request body too large");
		c->closing = true;
		return;
	}
	inspect_http_route(c);
}

/* --- parsing --- */

static int
inspect_http_on_begin(http_parser *hp)
{
	struct inspect_conn *c = hp->data;

	c->url_len = c->auth_len = c->host_len = c->origin_len = 0;
	c->url[0] = '\0';
	c->too_long = c->body_too_big = c->complete = false;
	c->field = HF_NONE;
	c->field_value = false;
	buf_consume(&c->body, buf_len(&c->body));
	buf_release(&c->body);
	return 0;
}

static int
inspect_http_on_url(http_parser *hp, const char *at, size_t len)
{
	struct inspect_conn *c = hp->data;

	if (c->url_len + len >= sizeof(c->url)) {
		c->too_long = true;
		return 0;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	c->url[c->url_len] = '\0';
	return 0;
}

static int
inspect_http_on_field(http_parser *hp, const char *at, size_t len)
{
	struct inspect_conn *c = hp->data;

	if (c->field_value || c->field == HF_NONE) {
		/* a new field name starts: compare it whole when it fits */
		c->field = HF_NONE;
		c->field_value = false;
		if (len == 13 && strncasecmp(at, "authorization", 13) == 0)
			c->field = HF_AUTH;
		else if (len == 4 && strncasecmp(at, "host", 4) == 0)
			c->field = HF_HOST;
		else if (len == 6 && strncasecmp(at, "origin", 6) == 0)
			c->field = HF_ORIGIN;
	} else {
		c->field = HF_NONE;     /* a name in pieces: none of ours */
	}
	return 0;
}

static void
inspect_http_append(char *dst, size_t cap, size_t *len, const char *at,
    size_t n)
{
	if (*len + n >= cap) {
		*len = cap;     /* too long: never matches */
		return;
	}
	memcpy(dst + *len, at, n);
	*len += n;
	dst[*len] = '\0';
}

static int
inspect_http_on_value(http_parser *hp, const char *at, size_t len)
{
	struct inspect_conn *c = hp->data;

	c->field_value = true;
	switch (c->field) {
	case HF_AUTH:
		inspect_http_append(c->auth, sizeof(c->auth), &c->auth_len, at, len);
		break;
	case HF_HOST:
		inspect_http_append(c->host, sizeof(c->host), &c->host_len, at, len);
		break;
	case HF_ORIGIN:
		inspect_http_append(c->origin, sizeof(c->origin), &c->origin_len,
		    at, len);
		break;
	default:
		break;
	}
	return 0;
}

static int
inspect_http_on_headers(http_parser *hp)
{
	struct inspect_conn *c = hp->data;

	c->in_head = false;
	if (hp->content_length != ULLONG_MAX && hp->content_length > 0 &&
	    hp->content_length > c->h->body_cap)
		c->body_too_big = true;
	return 0;
}

static int
inspect_http_on_body(http_parser *hp, const char *at, size_t len)
{
	struct inspect_conn *c = hp->data;

	if (c->body_too_big)
		return 0;
	if (buf_append(&c->body, at, len, c->h->body_cap) != 0)
		c->body_too_big = true;
	return 0;
}

static int
inspect_http_on_complete(http_parser *hp)
{
	struct inspect_conn *c = hp->data;

	c->complete = true;
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings inspect_http_settings = {
	.on_message_begin = inspect_http_on_begin,
	.on_url = inspect_http_on_url,
	.on_header_field = inspect_http_on_field,
	.on_header_value = inspect_http_on_value,
	.on_headers_complete = inspect_http_on_headers,
	.on_body = inspect_http_on_body,
	.on_message_complete = inspect_http_on_complete,
};

/* Parses what has arrived and answers each complete request in turn.
 * Returns -1 if the connection must close now. */
static int
inspect_conn_parse(struct inspect_conn *c)
{
	while (buf_len(&c->in) > 0 && !c->sse && !c->closing) {
		size_t len = buf_len(&c->in), n;
		enum http_errno e;

		if (c->in_head && c->head_bytes + len > INSPECT_HTTP_HEAD_MAX)
			len = INSPECT_HTTP_HEAD_MAX - c->head_bytes + 1;
		n = http_parser_execute(&c->hp, &inspect_http_settings,
		    (const char *)buf_data(&c->in), len);
		if (c->in_head)
			c->head_bytes += n;
		buf_consume(&c->in, n);
		e = HTTP_PARSER_ERRNO(&c->hp);
		if (c->complete) {
			http_parser_pause(&c->hp, 0);
			c->complete = false;
			c->in_head = true;
			c->head_bytes = 0;
			inspect_http_handle(c);
			continue;
		}
		if (c->in_head && c->head_bytes > INSPECT_HTTP_HEAD_MAX) {
			c->closing = true;
			inspect_conn_error(c, 431, "request head too large");
			break;
		}
		if (e != HPE_OK) {
			c->closing = true;
			inspect_conn_error(c, 400, http_errno_description(e));
			break;
		}
		if (n == 0)
			break;
	}
	return 0;
}

static void
inspect_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct inspect_conn *c = w->data;
	struct iovec v;
	ssize_t n;

	if (revents & EV_READ) {
		v = buf_reserve(&c->in, INSPECT_HTTP_READ, INSPECT_HTTP_HEAD_MAX +
		    c->h->body_cap + INSPECT_HTTP_READ);
		if (v.iov_base == NULL) {
			inspect_conn_free(c);
			return;
		}
		n = read(c->io.fd, v.iov_base, v.iov_len);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
			inspect_conn_free(c);
			return;
		}
		if (n > 0) {
			buf_commit(&c->in, (size_t)n);
			if (c->sse)
				buf_consume(&c->in, buf_len(&c->in));
			inspect_conn_parse(c);
		}
	}
	while (buf_len(&c->out) > 0) {
		n = send(c->io.fd, buf_data(&c->out), buf_len(&c->out),
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			inspect_conn_free(c);
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	if (buf_len(&c->out) == 0) {
		buf_release(&c->out);
		if (buf_len(&c->in) == 0)
			buf_release(&c->in);
		if (c->closing) {
			inspect_conn_free(c);
			return;
		}
	}
	inspect_conn_want(c, (buf_len(&c->out) < INSPECT_HTTP_SSE_MAX ||
	    c->sse ? EV_READ : 0) | (buf_len(&c->out) ? EV_WRITE : 0));
}

static void
inspect_http_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct inspect_http *h = w->data;
	struct inspect_conn *c;
	int fd;

	for (int i = 0; i < 16; i++) {
		fd = accept4(h->lio.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			return;         /* EAGAIN, or EMFILE: the next wakeup */
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->h = h;
		http_parser_init(&c->hp, HTTP_REQUEST);
		c->hp.data = c;
		c->in_head = true;
		ev_io_init(&c->io, inspect_conn_io, fd, 0);
		c->io.data = c;
		c->next = h->conns;
		if (c->next != NULL)
			c->next->prev = &c->next;
		c->prev = &h->conns;
		h->conns = c;
		inspect_conn_want(c, EV_READ);
	}
}

static bool
inspect_http_loopback(const struct sock_addr *a)
{
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;

		return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->ss;

		return IN6_IS_ADDR_LOOPBACK(&s->sin6_addr);
	}
	return false;
}

int
inspect_http_new(struct inspect_http **out, struct ev_loop *loop,
    const struct inspect_http_conf *cf, char *err, size_t errlen)
{
	const char *listen_text = cf->listen && cf->listen[0] ?
	    cf->listen : INSPECT_HTTP_DEFAULT_LISTEN;
	struct inspect_http *h;
	struct sock_addr a, try;
	char text[64];
	int fd = -EADDRINUSE, port;

	if (sock_addr_parse(&a, listen_text, "127.0.0.1") != 0) {
		snprintf(err, errlen, "--inspect-listen '%s' is not an address "
		    "(want HOST:PORT, e.g. 127.0.0.1:4040)", listen_text);
		return -EINVAL;
	}
	if (!inspect_http_loopback(&a) && (cf->auth == NULL ||
	    strchr(cf->auth, ':') == NULL)) {
		snprintf(err, errlen, "--inspect-listen %s is not a loopback "
		    "address: the inspector shows every request's headers and "
		    "bodies, so it needs --inspect-auth USER:PASS there",
		    listen_text);
		return -EINVAL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	if (cf->auth != NULL && cf->auth[0] != '\0') {
		size_t l = strlen(cf->auth);

		if ((h->auth_b64 = malloc(4 * ((l + 2) / 3) + 1)) == NULL) {
			free(h);
			return -ENOMEM;
		}
		EVP_EncodeBlock((unsigned char *)h->auth_b64,
		    (const unsigned char *)cf->auth, (int)l);
	}
	port = sock_addr_port(&a);
	for (int i = 0; i < INSPECT_HTTP_PORT_TRIES; i++) {
		try = a;
		if (port != 0)
			sock_addr_set_port(&try, port + i > 65535 ? 0 : port + i);
		if ((fd = sock_listen(&try, 64)) >= 0 || fd != -EADDRINUSE ||
		    port == 0)
			break;
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s (nor the next %d "
		    "ports): %s; pick another --inspect-listen or "
		    "--inspect=false", listen_text, INSPECT_HTTP_PORT_TRIES - 1,
		    strerror(-fd));
		free(h->auth_b64);
		free(h);
		return fd;
	}
	h->loop = loop;
	h->st = cf->store;
	h->body_cap = 2 * inspect_store_body_max(cf->store) + (64u << 10);
	sock_addr_format(&try, text, sizeof(text));
	snprintf(h->url, sizeof(h->url), "http://%s", text);
	ev_io_init(&h->lio, inspect_http_accept, fd, EV_READ);
	h->lio.data = h;
	ev_io_start(loop, &h->lio);
	*out = h;
	return 0;
}

const char *
inspect_http_url(const struct inspect_http *h)
{
	return h->url;
}

void
inspect_http_free(struct inspect_http *h)
{
	if (h == NULL)
		return;
	ev_io_stop(h->loop, &h->lio);
	close(h->lio.fd);
	while (h->conns != NULL)
		inspect_conn_free(h->conns);
	inspect_replay_free_all(&h->replays);
	free(h->auth_b64);
	free(h);
}
