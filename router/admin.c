#include "router/admin.h"

#include <errno.h>
#include <limits.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"

struct admin_conn {
	struct admin_conn *prev, *next;
	struct admin *admin;
	int fd;
	ev_io rio, wio;
	ev_timer timer;
	http_parser parser;
	size_t head;                    /* bytes received */
	char url[ADMIN_URL_MAX + 1];
	size_t url_len;
	bool url_too_long, complete, headers_done, body_too_big;
	char auth[ADMIN_AUTH_MAX + 1];  /* Authorization header, "" if none */
	size_t auth_len;
	char field[16];                 /* the header name, while it arrives */
	size_t field_len;               /* > sizeof(field): a longer name */
	bool in_value, auth_too_long;
	char *body;                     /* request body, NUL-terminated */
	size_t body_len;
	char *out;                      /* response, being written */
	size_t out_len, out_off;
};

struct admin {
	struct ev_loop *loop;
	int fd;
	ev_io lio;
	ev_timer retry;                 /* accept paused after EMFILE */
	admin_handler *handler;
	void *arg;
	http_parser_settings settings;
	struct admin_conn *conns;
	const struct admin_conn *cur;   /* in the handler */
	int nconns;
	unsigned long long requests, rejects;
};

static const char *
admin_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 401: return "Unauthorized";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

static void
admin_conn_close(struct admin_conn *c)
{
	struct admin *a = c->admin;

	ev_io_stop(a->loop, &c->rio);
	ev_io_stop(a->loop, &c->wio);
	ev_timer_stop(a->loop, &c->timer);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	a->nconns--;
	free(c->out);
	free(c->body);
	free(c);
}

/* Writes what it can; closes the connection when done or on error. Returns
 * false when the connection is gone. */
static bool
admin_conn_flush(struct admin_conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(c->admin->loop, &c->wio);
			return true;
		}
		if (n <= 0)
			break;
		c->out_off += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	admin_conn_close(c);
	return false;
}

/* Queues the response and starts writing; consumes body. */
static void
admin_conn_respond(struct admin_conn *c, int status, const char *ctype,
    char *body, size_t len)
{
	char head[256];
	int hn;

	ev_io_stop(c->admin->loop, &c->rio);
	hn = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	    status, admin_reason(status), ctype, len);
	if ((c->out = malloc((size_t)hn + len)) == NULL) {
		free(body);
		admin_conn_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)hn);
	if (len > 0)
		memcpy(c->out + hn, body, len);
	free(body);
	c->out_len = (size_t)hn + len;
	c->out_off = 0;
	admin_conn_flush(c);
}

static void
admin_conn_error(struct admin_conn *c, int status, const char *msg)
{
	char *body;
	size_t len = strlen(msg);

	c->admin->rejects++;
	if ((body = malloc(len + 1)) == NULL) {
		admin_conn_close(c);
		return;
	}
	memcpy(body, msg, len);
	body[len] = '\n';
	admin_conn_respond(c, status, "text/plain; charset=utf-8", body, len + 1);
}

static int
admin_on_url(http_parser *p, const char *at, size_t len)
{
	struct admin_conn *c = p->data;

	if (c->url_len + len > ADMIN_URL_MAX) {
		c->url_too_long = true;
		return 1;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	c->url[c->url_len] = '\0';
	return 0;
}

static int
admin_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct admin_conn *c = p->data;

	/* a name may arrive in pieces; a new one starts after a value */
	if (c->in_value) {
		c->in_value = false;
		c->field_len = 0;
	}
	if (c->field_len + len <= sizeof(c->field))
		memcpy(c->field + c->field_len, at, len);
	c->field_len += len;
	return 0;
}

static int
admin_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct admin_conn *c = p->data;

	c->in_value = true;
	if (c->field_len != 13 || strncasecmp(c->field, "authorization", 13) != 0)
		return 0;
	if (c->auth_len + len > ADMIN_AUTH_MAX) {
		c->auth_too_long = true;
		return 0;
	}
	memcpy(c->auth + c->auth_len, at, len);
	c->auth_len += len;
	c->auth[c->auth_len] = '\0';
	return 0;
}

static int
admin_on_headers_complete(http_parser *p)
{
	struct admin_conn *c = p->data;

	c->headers_done = true;
	if (p->content_length != ULLONG_MAX && p->content_length > ADMIN_BODY_MAX) {
		c->body_too_big = true;
		return 1;
	}
	return 0;
}

static int
admin_on_body(http_parser *p, const char *at, size_t len)
{
	struct admin_conn *c = p->data;
	char *b;

	if (c->body_len + len > ADMIN_BODY_MAX) {
		c->body_too_big = true;
		return 1;
	}
	if ((b = realloc(c->body, c->body_len + len + 1)) == NULL) {
		c->body_too_big = true;
		return 1;
	}
	c->body = b;
	memcpy(c->body + c->body_len, at, len);
	c->body_len += len;
	c->body[c->body_len] = '\0';
	return 0;
}

static int
admin_on_message_complete(http_parser *p)
{
	struct admin_conn *c = p->data;

	c->complete = true;
	http_parser_pause(p, 1);
	return 0;
}

static void
admin_conn_dispatch(struct admin_conn *c)
{
	struct admin *a = c->admin;
	struct http_parser_url u;
	struct admin_resp resp = { 404, "text/plain; charset=utf-8", NULL, 0 };
	char path[ADMIN_URL_MAX + 1];
	size_t plen;

	http_parser_url_init(&u);
	if (http_parser_parse_url(c->url, c->url_len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH))) {
		admin_conn_error(c, 400, "malformed request target");
		return;
	}
	plen = u.field_data[UF_PATH].len;
	memcpy(path, c->url + u.field_data[UF_PATH].off, plen);
	path[plen] = '\0';
	a->requests++;
	a->cur = c;
	a->handler(a->arg, http_method_str((enum http_method)c->parser.method),
	    path, &resp);
	a->cur = NULL;
	log_debug("admin.request", "method=%s path=%s status=%d",
	    http_method_str((enum http_method)c->parser.method), path, resp.status);
	admin_conn_respond(c, resp.status, resp.content_type, resp.body, resp.len);
}

static void
admin_conn_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct admin_conn *c = w->data;
	struct admin *a = c->admin;
	char buf[4096];
	size_t room, parsed;
	ssize_t n;

	room = ADMIN_HEAD_MAX + ADMIN_BODY_MAX + 1 - c->head;
	if (room > sizeof(buf))
		room = sizeof(buf);
	n = read(c->fd, buf, room);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		admin_conn_close(c);
		return;
	}
	c->head += (size_t)n;
	parsed = http_parser_execute(&c->parser, &a->settings, buf, (size_t)n);
	if (c->complete) {
		admin_conn_dispatch(c);
		return;
	}
	if (c->url_too_long) {
		admin_conn_error(c, 414, "request target too long");
		return;
	}
	if (c->body_too_big) {
		admin_conn_error(c, 413, "request body too large");
		return;
	}
	if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || parsed != (size_t)n) {
		admin_conn_error(c, 400, "malformed HTTP request");
		return;
	}
	if ((!c->headers_done && c->head > ADMIN_HEAD_MAX) ||
	    c->head > ADMIN_HEAD_MAX + ADMIN_BODY_MAX) {
		admin_conn_error(c, 431, "request head too large");
		return;
	}
}

static void
admin_conn_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct admin_conn *c = w->data;

	ev_io_stop(loop, &c->wio);
	admin_conn_flush(c);
}

static void
admin_conn_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct admin_conn *c = w->data;

	c->admin->rejects++;
	log_debug("admin.timeout", "head=%zu", c->head);
	admin_conn_close(c);
}

static void
admin_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct admin *a = w->data;

	ev_io_start(loop, &a->lio);
}

static void
admin_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct admin *a = w->data;
	struct admin_conn *c;
	int fd, budget = 16;

	while (budget-- > 0) {
		fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("admin.accept", "err=\"%s\" pause=1s",
				    strerror(errno));
				ev_io_stop(loop, &a->lio);
				ev_timer_set(&a->retry, 1.0, 0.);
				ev_timer_start(loop, &a->retry);
			}
			return;
		}
		if (a->nconns >= ADMIN_CONN_MAX ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			a->rejects++;
			close(fd);
			continue;
		}
		c->admin = a;
		c->fd = fd;
		http_parser_init(&c->parser, HTTP_REQUEST);
		c->parser.data = c;
		ev_io_init(&c->rio, admin_conn_on_read, fd, EV_READ);
		ev_io_init(&c->wio, admin_conn_on_write, fd, EV_WRITE);
		ev_timer_init(&c->timer, admin_conn_on_timeout, ADMIN_TIMEOUT, 0.);
		c->rio.data = c->wio.data = c->timer.data = c;
		c->next = a->conns;
		if (a->conns != NULL)
			a->conns->prev = c;
		a->conns = c;
		a->nconns++;
		ev_io_start(loop, &c->rio);
		ev_timer_start(loop, &c->timer);
	}
}

static bool
admin_is_loopback(const struct sock_addr *sa)
{
	if (sa->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&sa->ss;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&sa->ss;

		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	}
	return false;
}

static int
admin_open_on(struct admin **out, struct ev_loop *loop, const char *listen,
    bool any, admin_handler *handler, void *arg, char *bound, size_t boundlen)
{
	struct sock_addr sa;
	struct admin *a;
	int fd;

	if (sock_addr_parse(&sa, listen, "127.0.0.1") != 0)
		return -EINVAL;
	if (!any && !admin_is_loopback(&sa))
		return -EADDRNOTAVAIL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	if ((fd = sock_listen(&sa, 64)) < 0) {
		free(a);
		return fd;
	}
	a->loop = loop;
	a->fd = fd;
	a->handler = handler;
	a->arg = arg;
	http_parser_settings_init(&a->settings);
	a->settings.on_url = admin_on_url;
	a->settings.on_header_field = admin_on_header_field;
	a->settings.on_header_value = admin_on_header_value;
	a->settings.on_headers_complete = admin_on_headers_complete;
	a->settings.on_body = admin_on_body;
	a->settings.on_message_complete = admin_on_message_complete;
	ev_io_init(&a->lio, admin_on_accept, fd, EV_READ);
	a->lio.data = a;
	ev_timer_init(&a->retry, admin_on_retry, 1.0, 0.);
	a->retry.data = a;
	ev_io_start(loop, &a->lio);
	if (bound != NULL)
		sock_addr_format(&sa, bound, boundlen);
	*out = a;
	return 0;
}

int
admin_open(struct admin **out, struct ev_loop *loop, const char *listen,
    admin_handler *handler, void *arg, char *bound, size_t boundlen)
{
	return admin_open_on(out, loop, listen, false, handler, arg, bound,
	    boundlen);
}

int
admin_open_any(struct admin **out, struct ev_loop *loop, const char *listen,
    admin_handler *handler, void *arg, char *bound, size_t boundlen)
{
	return admin_open_on(out, loop, listen, true, handler, arg, bound,
	    boundlen);
}

bool
admin_loopback(const char *listen)
{
	struct sock_addr sa;

	return sock_addr_parse(&sa, listen, "127.0.0.1") == 0 &&
	    admin_is_loopback(&sa);
}

const char *
admin_authorization(const struct admin *a)
{
	const struct admin_conn *c = a != NULL ? a->cur : NULL;

	/* a value cut short is no credential */
	return c != NULL && !c->auth_too_long ? c->auth : "";
}

void
admin_close(struct admin *a)
{
	if (a == NULL)
		return;
	while (a->conns != NULL)
		admin_conn_close(a->conns);
	ev_io_stop(a->loop, &a->lio);
	ev_timer_stop(a->loop, &a->retry);
	close(a->fd);
	free(a);
}

const char *
admin_body(const struct admin *a, size_t *len)
{
	const struct admin_conn *c = a != NULL ? a->cur : NULL;

	if (len != NULL)
		*len = c != NULL && c->body != NULL ? c->body_len : 0;
	return c != NULL && c->body != NULL ? c->body : "";
}

unsigned long long
admin_requests(const struct admin *a)
{
	return a != NULL ? a->requests : 0;
}

unsigned long long
admin_rejects(const struct admin *a)
{
	return a != NULL ? a->rejects : 0;
}
