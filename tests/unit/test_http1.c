/* http1: the request filter driven like the acceptor drives it (a struct buf
 * of client input, bytes arriving in chunks down to one byte, each event's
 * `used` consumed), checked byte for byte on what goes into the tunnel;
 * every smuggling defence; limits; and the observer on both directions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "http1.h"

#define S(lit)  (lit), (sizeof(lit) - 1)

/* What a proxy would have sent into the tunnel, and a trace of events. */
struct drive {
	char out[128 << 10];
	size_t out_len;
	char trace[4096];
	size_t trace_len;
	int status;             /* HTTP1_ERROR status, 0 if none */
	const char *reason;
	unsigned heads, ends;
	uint64_t body_bytes;    /* of the last END */
	bool keep_alive;        /* of the last END */
	bool decline;           /* answer upgrades with "not switched" */
	char auth[128];         /* Authorization of the last head, "-" if none */
	char xff[80];           /* its X-Forwarded-For's last address, "-" */
};

static void
trace(struct drive *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	d->trace_len += (size_t)vsnprintf(d->trace + d->trace_len,
	    sizeof(d->trace) - d->trace_len, fmt, ap);
	va_end(ap);
	assert_true(d->trace_len < sizeof(d->trace));
}

static void
out(struct drive *d, const void *p, size_t n)
{
	assert_true(d->out_len + n <= sizeof(d->out));
	memcpy(d->out + d->out_len, p, n);
	d->out_len += n;
}

/* Feeds in[0..len) `step` bytes at a time (0: all at once) through a buf,
 * handling every event. Stops at the first error. */
static void
drive(struct http1_req *r, const char *in, size_t len, size_t step,
    struct drive *d)
{
	struct buf b = { 0 };
	struct http1_ev ev;
	enum http1_kind k;
	size_t off = 0, n, spins;

	if (step == 0)
		step = len ? len : 1;
	for (;;) {
		if (off < len) {
			n = len - off < step ? len - off : step;
			assert_int_equal(buf_append(&b, in + off, n, SIZE_MAX),
			    0);
			off += n;
		}
		for (spins = 0;; spins++) {
			assert_true(spins < 100000);
			k = http1_req_feed(r, buf_len(&b) ? buf_data(&b) : NULL,
			    buf_len(&b), &ev);
			assert_true(ev.used <= buf_len(&b));
			switch (k) {
			case HTTP1_HEAD:
				d->heads++;
				trace(d, "H(%s %s %.*s%s) ", ev.host, ev.method,
				    (int)ev.path_len, ev.path,
				    ev.upgrade ? " up" : "");
				out(d, ev.head, ev.head_len);
				if (ev.authorization != NULL)
					snprintf(d->auth, sizeof(d->auth), "%.*s",
					    (int)ev.authorization_len, ev.authorization);
				else
					snprintf(d->auth, sizeof(d->auth), "-");
				snprintf(d->xff, sizeof(d->xff), "%s",
				    ev.xff != NULL ? ev.xff : "-");
				break;
			case HTTP1_BODY:
				assert_true(ev.used > 0);
				out(d, buf_data(&b), ev.used);
				break;
			case HTTP1_END:
				assert_int_equal(ev.used, 0);
				d->ends++;
				d->body_bytes = ev.body_bytes;
				d->keep_alive = ev.keep_alive;
				trace(d, "E ");
				break;
			case HTTP1_UPGRADE:
				assert_int_equal(ev.used, 0);
				trace(d, "U ");
				http1_req_upgrade(r, !d->decline);
				break;
			case HTTP1_ERROR:
				assert_int_equal(ev.used, 0);
				d->status = ev.status;
				d->reason = ev.reason;
				assert_non_null(ev.reason);
				trace(d, "X%d", ev.status);
				buf_fini(&b);
				return;
			case HTTP1_AGAIN:
				assert_int_equal(ev.used, buf_len(&b));
				break;
			}
			buf_consume(&b, ev.used);
			if (k == HTTP1_AGAIN)
				break;
		}
		if (off >= len)
			break;
	}
	buf_fini(&b);
}

static struct http1_req *
new_req(const struct http1_conf *c, bool tls)
{
	struct http1_req *r = NULL;

	assert_int_equal(http1_req_new(&r, c, "203.0.113.7", tls), 0);
	assert_non_null(r);
	return r;
}

/* One fresh filter over the whole input at one step size. */
static void
run(const char *in, size_t len, size_t step, struct drive *d)
{
	struct http1_req *r = new_req(NULL, false);

	memset(d, 0, sizeof(*d));
	drive(r, in, len, step, d);
	http1_req_free(r);
}

#define XF      "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: http\r\n"

/* --- request filter ----------------------------------------------------- */

static void
test_get(void **state)
{
	static const char in[] =
	    "GET /a?b=1 HTTP/1.1\r\nHost: Example.COM:8080\r\n"
	    "User-Agent: t\r\n\r\n";
	static const char want[] =
	    "GET /a?b=1 HTTP/1.1\r\nHost: Example.COM:8080\r\n"
	    "User-Agent: t\r\n" XF "X-Forwarded-Host: Example.COM:8080\r\n\r\n";
	struct drive d;

	(void)state;
	run(S(in), 0, &d);
	assert_string_equal(d.trace, "H(example.com GET /a?b=1) E ");
	assert_int_equal(d.out_len, sizeof(want) - 1);
	assert_memory_equal(d.out, want, sizeof(want) - 1);
	assert_true(d.keep_alive);
}

static void
test_post_every_split(void **state)
{
	static const char in[] =
	    "POST /submit HTTP/1.1\r\nHost: a.test\r\nContent-Length: 11\r\n"
	    "\r\nhello world";
	static const char want[] =
	    "POST /submit HTTP/1.1\r\nHost: a.test\r\nContent-Length: 11\r\n"
	    XF "X-Forwarded-Host: a.test\r\n\r\nhello world";
	size_t len = sizeof(in) - 1, i;
	struct http1_req *r;
	struct drive d;

	(void)state;
	/* every step size */
	for (i = 1; i <= len; i++) {
		run(in, len, i, &d);
		assert_string_equal(d.trace, "H(a.test POST /submit) E ");
		assert_int_equal(d.out_len, sizeof(want) - 1);
		assert_memory_equal(d.out, want, sizeof(want) - 1);
		assert_int_equal(d.body_bytes, 11);
	}
	/* every split point: two feeds */
	for (i = 0; i <= len; i++) {
		memset(&d, 0, sizeof(d));
		r = new_req(NULL, false);
		drive(r, in, i, 0, &d);
		drive(r, in + i, len - i, 0, &d);
		assert_string_equal(d.trace, "H(a.test POST /submit) E ");
		assert_int_equal(d.out_len, sizeof(want) - 1);
		assert_memory_equal(d.out, want, sizeof(want) - 1);
		http1_req_free(r);
	}
}

/* Body spans point into the caller's input: no copy of the body. */
static void
test_body_zero_copy(void **state)
{
	static const char in[] =
	    "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcde";
	struct http1_req *r = new_req(NULL, false);
	struct http1_ev ev;
	const uint8_t *p = (const uint8_t *)in;
	size_t len = sizeof(in) - 1;

	(void)state;
	assert_int_equal(http1_req_feed(r, p, len, &ev), HTTP1_HEAD);
	p += ev.used;
	len -= ev.used;
	/* credit for only 2 bytes: the span is capped */
	assert_int_equal(http1_req_feed(r, p, 2, &ev), HTTP1_BODY);
	assert_int_equal(ev.used, 2);
	p += 2;
	len -= 2;
	assert_int_equal(http1_req_feed(r, p, len, &ev), HTTP1_BODY);
	assert_int_equal(ev.used, 3);
	assert_int_equal(http1_req_feed(r, p + 3, 0, &ev), HTTP1_END);
	assert_false(http1_req_in_head(r));
	http1_req_release(r);
	http1_req_free(r);
}

static void
test_chunked(void **state)
{
	static const char body[] =
	    "5;name=val\r\nhello\r\n6\r\n world\r\n"
	    "0\r\nChecksum: abc\r\n\r\n";
	static const char in[] =
	    "POST /up HTTP/1.1\r\nHost: a.test\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	static const char want[] =
	    "POST /up HTTP/1.1\r\nHost: a.test\r\n"
	    "Transfer-Encoding: chunked\r\n" XF
	    "X-Forwarded-Host: a.test\r\n\r\n";
	char all[512], exp[512];
	size_t len, elen, i;
	struct drive d;

	(void)state;
	len = (size_t)snprintf(all, sizeof(all), "%s%sGET / HTTP/1.1\r\n"
	    "Host: b.test\r\n\r\n", in, body);
	elen = (size_t)snprintf(exp, sizeof(exp), "%s%s", want, body);
	for (i = 1; i <= len; i++) {
		run(all, len, i, &d);
		assert_string_equal(d.trace,
		    "H(a.test POST /up) E H(b.test GET /) E ");
		/* the raw chunked encoding went through unchanged */
		assert_true(d.out_len > elen);
		assert_memory_equal(d.out, exp, elen);
		assert_int_equal(d.body_bytes, 0);
	}
	run(in, sizeof(in) - 1, 0, &d);
	assert_int_equal(d.ends, 0);
	len = (size_t)snprintf(all, sizeof(all), "%s%s", in, body);
	run(all, len, 0, &d);
	assert_int_equal(d.body_bytes, 11);
}

/* Requests for different hosts on one connection each get their own head
 * event, and no byte of a later request is part of an earlier one. */
static void
test_pipelined_hosts(void **state)
{
	static const char in[] =
	    "GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n"
	    "POST /2 HTTP/1.1\r\nHost: b.test\r\nContent-Length: 3\r\n\r\nxyz"
	    "GET /3 HTTP/1.1\r\nHost: A.TEST\r\n\r\n"
	    "\r\nGET /4 HTTP/1.1\r\nHost: c.test\r\n\r\n";
	struct http1_req *r = new_req(NULL, false);
	const uint8_t *p = (const uint8_t *)in;
	size_t len = sizeof(in) - 1, i;
	struct http1_ev ev;
	struct drive d;

	(void)state;
	for (i = 1; i <= len; i++) {
		run(in, len, i, &d);
		assert_string_equal(d.trace, "H(a.test GET /1) E "
		    "H(b.test POST /2) E H(a.test GET /3) E "
		    "H(c.test GET /4) E ");
	}
	/* the caller stops after an end and resumes later */
	assert_int_equal(http1_req_feed(r, p, len, &ev), HTTP1_HEAD);
	assert_string_equal(ev.host, "a.test");
	p += ev.used;
	len -= ev.used;
	assert_int_equal(http1_req_feed(r, p, len, &ev), HTTP1_END);
	assert_int_equal(http1_req_feed(r, p, len, &ev), HTTP1_HEAD);
	assert_string_equal(ev.host, "b.test");
	p += ev.used;
	len -= ev.used;
	assert_int_equal(http1_req_feed(r, p, len, &ev), HTTP1_BODY);
	assert_int_equal(ev.used, 3);
	assert_memory_equal(p, "xyz", 3);
	http1_req_free(r);
}

static void
test_upgrade(void **state)
{
	static const char in[] =
	    "GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
	    "\x81\x85raw\r\nGET / HTTP/1.1\r\n";
	static const char next[] =
	    "GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\nGET /b HTTP/1.1\r\nHost: b.test\r\n\r\n";
	struct http1_req *r;
	struct drive d;
	size_t i, hl;

	(void)state;
	for (i = 1; i <= sizeof(in) - 1; i++) {
		run(in, sizeof(in) - 1, i, &d);
		assert_string_equal(d.trace, "H(a.test GET /ws up) U ");
		hl = d.out_len - 23;
		assert_memory_equal(d.out + hl, "\x81\x85raw\r\nGET / HTTP/1.1\r\n",
		    23);
	}
	/* the service said no: parsing resumes with the next head */
	memset(&d, 0, sizeof(d));
	d.decline = true;
	r = new_req(NULL, false);
	drive(r, S(next), 0, &d);
	assert_string_equal(d.trace, "H(a.test GET /ws up) U H(b.test GET /b) E ");
	http1_req_free(r);
}

struct bad {
	const char *name;
	const char *in;
	size_t len;
	int status;
};

#define BAD(n, s, st)   { n, s, sizeof(s) - 1, st }
#define H11             "POST / HTTP/1.1\r\nHost: a\r\n"
#define CH              "Transfer-Encoding: chunked\r\n\r\n"

static const struct bad bad[] = {
	BAD("CL then TE", H11 "Content-Length: 4\r\n" CH "0\r\n\r\n", 400),
	BAD("TE then CL", H11 "Transfer-Encoding: chunked\r\n"
	    "Content-Length: 4\r\n\r\n0\r\n\r\n", 400),
	BAD("duplicate CL", H11 "Content-Length: 1\r\nContent-Length: 1\r\n"
	    "\r\nA", 400),
	BAD("CL list", H11 "Content-Length: 1, 1\r\n\r\nA", 400),
	BAD("CL letters", H11 "Content-Length: 1a\r\n\r\nA", 400),
	BAD("CL negative", H11 "Content-Length: -1\r\n\r\nA", 400),
	BAD("CL empty", H11 "Content-Length:\r\n\r\nA", 400),
	BAD("CL plus", H11 "Content-Length: +1\r\n\r\nA", 400),
	BAD("CL huge", H11 "Content-Length: 99999999999999999999999\r\n\r\n",
	    400),
	BAD("TE gzip", H11 "Transfer-Encoding: gzip\r\n\r\n", 400),
	BAD("TE chunked, gzip", H11 "Transfer-Encoding: chunked, gzip\r\n\r\n",
	    400),
	BAD("TE gzip, chunked", H11 "Transfer-Encoding: gzip, chunked\r\n\r\n",
	    501),
	BAD("TE twice", H11 "Transfer-Encoding: chunked\r\n" CH "0\r\n\r\n",
	    400),
	BAD("TE xchunked", H11 "Transfer-Encoding: xchunked\r\n\r\n", 400),
	BAD("TE space name", H11 "Transfer-Encoding : chunked\r\n\r\n", 400),
	BAD("TE in 1.0", "POST / HTTP/1.0\r\nHost: a\r\n" CH "0\r\n\r\n", 400),
	BAD("chunk size junk", H11 CH "zz\r\n", 400),
	BAD("chunk size overflow", H11 CH "fffffffffffffffffff\r\n", 400),
	BAD("chunk size bare LF", H11 CH "1\nA\r\n0\r\n\r\n", 400),
	BAD("chunk size CR junk", H11 CH "1\rXA\r\n0\r\n\r\n", 400),
	BAD("chunk size space", H11 CH "1 x\r\nA\r\n0\r\n\r\n", 400),
	BAD("chunk size leading space", H11 CH " 1\r\nA\r\n0\r\n\r\n", 400),
	BAD("chunk data no CRLF", H11 CH "1\r\nAXX0\r\n\r\n", 400),
	BAD("chunk data bare LF", H11 CH "1\r\nA\n0\r\n\r\n", 400),
	BAD("chunk ext ctl", H11 CH "1;a\001\r\nA\r\n0\r\n\r\n", 400),
	BAD("trailer bare LF", H11 CH "0\r\nX: y\n\r\n", 400),
	BAD("trailer fold", H11 CH "0\r\nX: y\r\n z\r\n\r\n", 400),
	BAD("end bare LF", H11 CH "0\r\n\n", 400),
	BAD("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400),
	BAD("obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n",
	    400),
	BAD("bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400),
	BAD("bare LF one line", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400),
	BAD("bare CR", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),
	BAD("leading bare LF", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),
	BAD("NUL in name", "GET / HTTP/1.1\r\nHost: a\r\nX\0: ab\r\n\r\n", 400),
	BAD("NUL in target", "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("CTL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \001\r\n\r\n", 400),
	BAD("missing Host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400),
	BAD("missing Host 1.0", "GET / HTTP/1.0\r\n\r\n", 400),
	BAD("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
	BAD("empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400),
	BAD("Host space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
	BAD("Host userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
	BAD("Host bad port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400),
	BAD("Host slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
	BAD("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
	BAD("double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("space before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
	BAD("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
	BAD("lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
	BAD("absolute-form other host",
	    "GET http://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", 400),
	BAD("no scheme target", "GET a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
	    400),
	BAD("CONNECT", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test\r\n\r\n",
	    405),
};

static void
test_smuggling(void **state)
{
	struct drive d;
	size_t i, step;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (step = 1; step <= bad[i].len; step++) {
			run(bad[i].in, bad[i].len, step, &d);
			if (d.status != bad[i].status) {
				print_error("%s (step %zu): status %d (%s), "
				    "trace %s\n", bad[i].name, step, d.status,
				    d.reason ? d.reason : "-", d.trace);
				fail();
			}
			/* nothing of a refused head went anywhere */
			if (strncmp(bad[i].name, "chunk", 5) != 0 &&
			    strncmp(bad[i].name, "trailer", 7) != 0 &&
			    strncmp(bad[i].name, "end", 3) != 0)
				assert_int_equal(d.out_len, 0);
		}
	}
}

/* The same inputs with proper framing pass. */
static void
test_accepted(void **state)
{
	static const struct bad good[] = {
		BAD("chunk ext BWS", H11 CH "1 ;a=b\r\nA\r\n0\r\n\r\n", 0),
		BAD("chunk leading zeros", H11 CH "001\r\nA\r\n000\r\n\r\n", 0),
		BAD("upper-case chunk", H11 CH "A\r\n0123456789\r\n0\r\n\r\n", 0),
		BAD("CL 0", H11 "Content-Length: 0\r\n\r\n", 0),
		BAD("CL trailing space", H11 "Content-Length: 1 \r\n\r\nA", 0),
		BAD("te case", H11 "transfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n",
		    0),
		BAD("HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", 0),
		BAD("v6 host", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 0),
		BAD("options *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0),
		BAD("absolute-form", "GET http://A.test:80/p?q HTTP/1.1\r\n"
		    "Host: a.test\r\n\r\n", 0),
		BAD("empty value", "GET / HTTP/1.1\r\nX:\r\nHost: a\r\nY:\r\n\r\n",
		    0),
		BAD("leading CRLF", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
	};
	struct drive d;
	size_t i, step;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		for (step = 1; step <= good[i].len; step++) {
			run(good[i].in, good[i].len, step, &d);
			if (d.status != 0 || d.ends != 1) {
				print_error("%s (step %zu): status %d (%s), "
				    "trace %s\n", good[i].name, step, d.status,
				    d.reason ? d.reason : "-", d.trace);
				fail();
			}
		}
	}
	run(S("GET http://A.test:80/p?q HTTP/1.1\r\nHost: a.test\r\n\r\n"), 0,
	    &d);
	assert_string_equal(d.trace, "H(a.test GET /p?q) E ");
	run(S("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 0, &d);
	assert_string_equal(d.trace, "H([::1] GET /) E ");
	run(S("GET / HTTP/1.1\r\nHost: a.test.\r\n\r\n"), 0, &d);
	assert_string_equal(d.trace, "H(a.test GET /) E ");
}

static void
test_head_too_large(void **state)
{
	struct http1_conf c;
	struct http1_req *r;
	struct drive d;
	char *in;
	size_t len, pad, step;
	static const size_t steps[] = { 1, 7, 1000, 4096, 0 };

	(void)state;
	in = malloc(64 << 10);
	assert_non_null(in);
	/* exactly 16 KiB: accepted; one more byte: 431 */
	for (pad = 0; pad < 2; pad++) {
		len = (size_t)sprintf(in, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
		memset(in + len, 'x', (16 << 10) - len - 4 + pad);
		len = (16 << 10) + pad - 4;
		memcpy(in + len, "\r\n\r\n", 4);
		len += 4;
		for (step = 0; step < sizeof(steps) / sizeof(steps[0]);
		    step++) {
			run(in, len, steps[step], &d);
			assert_int_equal(d.status, pad ? 431 : 0);
			assert_int_equal(d.heads, pad ? 0 : 1);
		}
	}
	/* no end of head in sight */
	memset(in, 'A', 64 << 10);
	memcpy(in, "GET /", 5);
	run(in, 64 << 10, 0, &d);
	assert_int_equal(d.status, 431);
	run(in, 64 << 10, 1000, &d);
	assert_int_equal(d.status, 431);
	/* a smaller configured limit */
	http1_conf_default(&c);
	c.max_head = 64;
	r = new_req(&c, false);
	memset(&d, 0, sizeof(d));
	drive(r, S("GET / HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789012345678"
	    "90123456789\r\n\r\n"), 3, &d);
	assert_int_equal(d.status, 431);
	assert_int_equal(d.out_len, 0);
	http1_req_free(r);
	free(in);
}

static void
test_header_count(void **state)
{
	struct http1_conf c;
	struct http1_req *r;
	struct drive d;
	char in[8192];
	size_t len;
	int i, n;

	(void)state;
	for (n = 99; n <= 100; n++) {
		len = (size_t)sprintf(in, "GET / HTTP/1.1\r\nHost: a\r\n");
		for (i = 0; i < n; i++)
			len += (size_t)sprintf(in + len, "X-%d: v\r\n", i);
		len += (size_t)sprintf(in + len, "\r\n");
		run(in, len, 0, &d);
		/* Host + n fields */
		assert_int_equal(d.status, n == 99 ? 0 : 431);
		run(in, len, 5, &d);
		assert_int_equal(d.status, n == 99 ? 0 : 431);
	}
	http1_conf_default(&c);
	c.max_headers = 3;
	r = new_req(&c, false);
	memset(&d, 0, sizeof(d));
	drive(r, S("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
	    0, &d);
	assert_int_equal(d.status, 431);
	http1_req_free(r);
	/* trailers count too */
	c.max_headers = 3;
	r = new_req(&c, false);
	memset(&d, 0, sizeof(d));
	drive(r, S(H11 CH "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"), 0, &d);
	assert_int_equal(d.status, 400);
	http1_req_free(r);
}

/* The Authorization value reaches the caller (for basic auth at the edge)
 * however the head arrives; a second one is refused. */
static void
test_authorization(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Authorization:  Basic YWxpY2U6czNjcmV0 \r\nX-A: 1\r\n\r\n"
	    "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http1_req *r;
	struct drive d;
	size_t step;

	for (step = 0; step <= sizeof(in); step++) {
		memset(&d, 0, sizeof(d));
		r = new_req(NULL, false);
		drive(r, in, sizeof(in) - 1, step, &d);
		assert_int_equal(d.status, 0);
		assert_int_equal(d.heads, 2);
		/* the last head had none */
		assert_string_equal(d.auth, "-");
		http1_req_free(r);
		memset(&d, 0, sizeof(d));
		r = new_req(NULL, false);
		drive(r, in, sizeof(in) - 1 - strlen("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
		    step, &d);
		assert_int_equal(d.heads, 1);
		assert_string_equal(d.auth, "Basic YWxpY2U6czNjcmV0");
		http1_req_free(r);
	}
	memset(&d, 0, sizeof(d));
	r = new_req(NULL, false);
	drive(r, S("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: a\r\n"
	    "Authorization: b\r\n\r\n"), 0, &d);
	assert_int_equal(d.status, 400);
	http1_req_free(r);
}

static void
test_forwarded_headers(void **state)
{
	static const char in[] =
	    "GET / HTTP/1.1\r\nx-forwarded-for: 10.0.0.1, 10.0.0.2 \r\n"
	    "Host: a.test\r\nX-Forwarded-Proto: https\r\n"
	    "X-Forwarded-Host: evil.test\r\nX-Forwarded-For: 10.0.0.3\r\n"
	    "X-Forwarded-For:\r\nAccept: */*\r\n\r\n";
	static const char want[] =
	    "GET / HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n"
	    "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 203.0.113.7\r\n"
	    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: a.test\r\n\r\n";
	char many[4096];
	struct http1_req *r;
	struct drive d;
	size_t i, len;

	(void)state;
	for (i = 1; i <= sizeof(in) - 1; i++) {
		memset(&d, 0, sizeof(d));
		r = new_req(NULL, true);
		drive(r, S(in), i, &d);
		assert_int_equal(d.out_len, sizeof(want) - 1);
		assert_memory_equal(d.out, want, sizeof(want) - 1);
		/* the last address the client's own header carried (the
		 * empty last line adds none) */
		assert_string_equal(d.xff, "10.0.0.3");
		http1_req_free(r);
	}
	run(S("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1,  2001:db8::7 \r\n"
	    "\r\n"), 0, &d);
	assert_string_equal(d.xff, "2001:db8::7");
	run(S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0, &d);
	assert_string_equal(d.xff, "-");
	/* the X-Forwarded line is last, after an existing one as the last
	 * header */
	run(S("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n"),
	    0, &d);
	assert_int_equal(d.out_len, sizeof("GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-Forwarded-For: 1.2.3.4, 203.0.113.7\r\nX-Forwarded-Proto: http\r\n"
	    "X-Forwarded-Host: a\r\n\r\n") - 1);
	assert_memory_equal(d.out, "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-Forwarded-For: 1.2.3.4, 203.0.113.7\r\n", 64);
	/* too many to merge */
	len = (size_t)sprintf(many, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < 17; i++)
		len += (size_t)sprintf(many + len, "X-Forwarded-For: 1\r\n");
	len += (size_t)sprintf(many + len, "\r\n");
	run(many, len, 0, &d);
	assert_int_equal(d.status, 400);
	/* bad peers */
	assert_int_equal(http1_req_new(&r, NULL, "", false), -EINVAL);
	assert_int_equal(http1_req_new(&r, NULL, "1.2.3.4\r\nX: y", false),
	    -EINVAL);
	assert_int_equal(http1_req_new(&r, NULL, "2001:db8::1", false), 0);
	http1_req_free(r);
	http1_req_free(NULL);
}

static void
test_keep_alive(void **state)
{
	struct drive d;

	(void)state;
	run(S("GET / HTTP/1.0\r\nHost: a\r\n\r\n"), 0, &d);
	assert_false(d.keep_alive);
	run(S("GET / HTTP/1.0\r\nHost: a\r\n\r\nGET / HTTP/1.0\r\nHost: a\r\n"
	    "\r\n"), 0, &d);
	assert_string_equal(d.trace, "H(a GET /) E X400");
	run(S("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 0, &d);
	assert_false(d.keep_alive);
	assert_int_equal(d.status, 0);
	run(S("GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"
	    "GET /2 HTTP/1.1\r\nHost: b\r\n\r\n"), 0, &d);
	assert_string_equal(d.trace, "H(a GET /) E H(b GET /2) E ");
}

/* Release between requests frees the buffer; a partial head keeps it. */
static void
test_release(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http1_req *r = new_req(NULL, false);
	struct http1_ev ev;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(http1_req_feed(r, (const uint8_t *)in, 10, &ev),
		    HTTP1_AGAIN);
		assert_int_equal(ev.used, 10);
		assert_true(http1_req_in_head(r));
		http1_req_release(r);   /* keeps the partial head */
		assert_int_equal(http1_req_feed(r, (const uint8_t *)in + 10,
		    sizeof(in) - 11, &ev), HTTP1_HEAD);
		assert_string_equal(ev.host, "a");
		assert_int_equal(http1_req_feed(r, NULL, 0, &ev), HTTP1_END);
		assert_false(http1_req_in_head(r));
		http1_req_release(r);
	}
	http1_req_free(r);
}

static void
test_error_response(void **state)
{
	static const char want[] = "HTTP/1.1 431 Request Header Fields Too Large"
	    "\r\nContent-Type: text/plain\r\nContent-Length: 31\r\n"
	    "Connection: close\r\n\r\nwarren: request head too large\n";
	char buf[512];
	int n;

	(void)state;
	n = http1_error_response(431, "request head too large", buf,
	    sizeof(buf));
	assert_int_equal(n, sizeof(want) - 1);
	assert_string_equal(buf, want);
	n = http1_error_response(400, "a\r\nb", buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "warren: a??b\n"));
	assert_int_equal(http1_error_response(400, "x", buf, 20), -ENOSPC);
	assert_int_equal(http1_error_response(400, "x", buf,
	    (size_t)http1_error_response(400, "x", buf, sizeof(buf))), -ENOSPC);
	assert_int_equal(http1_error_response(99, "x", buf, sizeof(buf)),
	    -EINVAL);
	/* a 401 carries its challenge; no other answer does */
	n = http1_error_response(401, "who?", buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "\r\nWWW-Authenticate: Basic realm=\"warren\""));
	assert_non_null(strstr(buf, "\r\n\r\nwarren: who?\n"));
	n = http1_error_response(403, "no", buf, sizeof(buf));
	assert_true(n > 0);
	assert_null(strstr(buf, "WWW-Authenticate"));
	assert_string_equal(http1_status_text(404), "Not Found");
}

/* --- observer ----------------------------------------------------------- */

struct obs_run {
	char trace[1024];
	size_t len;
};

static void
obs_drive(struct http1_obs *o, const char *in, size_t len, size_t step,
    bool eof, struct obs_run *t)
{
	struct http1_ev ev;
	enum http1_kind k;
	size_t off = 0, n, spins;

	if (step == 0)
		step = len ? len : 1;
	while (off < len) {
		n = len - off < step ? len - off : step;
		for (spins = 0; n > 0 || spins == 0; spins++) {
			assert_true(spins < 10000);
			k = http1_obs_feed(o, (const uint8_t *)in + off, n, &ev);
			assert_true(ev.used <= n);
			off += ev.used;
			n -= ev.used;
			switch (k) {
			case HTTP1_HEAD:
				if (ev.method != NULL)
					t->len += (size_t)sprintf(t->trace +
					    t->len, "H(%s %s) ", ev.method,
					    ev.path);
				else
					t->len += (size_t)sprintf(t->trace +
					    t->len, "H(%d) ", ev.status);
				break;
			case HTTP1_END:
				t->len += (size_t)sprintf(t->trace + t->len,
				    "E(%d %llu) ", ev.status,
				    (unsigned long long)ev.body_bytes);
				break;
			case HTTP1_UPGRADE:
				t->len += (size_t)sprintf(t->trace + t->len,
				    "U(%d) ", ev.status);
				break;
			case HTTP1_ERROR:
				t->len += (size_t)sprintf(t->trace + t->len,
				    "X ");
				break;
			default:
				break;
			}
			if (k == HTTP1_AGAIN)
				break;
		}
	}
	if (eof) {
		k = http1_obs_eof(o, &ev);
		if (k == HTTP1_END)
			t->len += (size_t)sprintf(t->trace + t->len,
			    "E(%d %llu) ", ev.status,
			    (unsigned long long)ev.body_bytes);
		else if (k == HTTP1_ERROR)
			t->len += (size_t)sprintf(t->trace + t->len, "X ");
	}
}

static void
resp_check(const char *const *methods, const char *in, size_t len, bool eof,
    const char *want)
{
	struct http1_obs *o;
	struct obs_run t;
	size_t step, i;

	for (step = 1; step <= len; step++) {
		memset(&t, 0, sizeof(t));
		assert_int_equal(http1_obs_new(&o, HTTP1_OBS_RESPONSES), 0);
		for (i = 0; methods[i] != NULL; i++)
			http1_obs_request(o, methods[i]);
		obs_drive(o, in, len, step, eof, &t);
		if (strcmp(t.trace, want) != 0) {
			print_error("step %zu: got '%s' want '%s'\n", step,
			    t.trace, want);
			fail();
		}
		http1_obs_free(o);
	}
}

static void
test_obs_responses(void **state)
{
	static const char *const get2[] = { "GET", "GET", NULL };
	static const char *const head[] = { "HEAD", "GET", NULL };
	static const char *const get[] = { "GET", NULL };
	static const char *const none[] = { NULL };

	(void)state;
	resp_check(head, S("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), false,
	    "H(200) E(200 0) H(200) E(200 3) ");
	resp_check(get2, S("HTTP/1.1 204 No Content\r\n\r\n"
	    "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"), false,
	    "H(204) E(204 0) H(304) E(304 0) ");
	resp_check(get2, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n4\r\nabcd\r\n3;x\r\nefg\r\n0\r\n\r\n"
	    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), false,
	    "H(200) E(200 7) H(404) E(404 0) ");
	resp_check(get, S("HTTP/1.1 200 OK\r\n\r\nuntil close"), true,
	    "H(200) E(200 11) ");
	resp_check(get, S("HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nshort"),
	    true, "H(200) X ");
	resp_check(get, S("HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"), true,
	    "H(201) E(201 2) ");
	resp_check(get, S("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00garbage"),
	    true, "U(101) ");
	resp_check(none, S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
	    "garbage\r\n\r\n"), false, "H(200) E(200 1) X ");
	resp_check(none, S(""), true, "");
}

static void
test_obs_requests(void **state)
{
	static const char in[] =
	    "GET /a?b HTTP/1.1\r\nHost: a\r\n\r\n"
	    "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nabc\r\n0\r\n\r\n"
	    "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http1_obs *o;
	struct obs_run t;
	size_t step;
	char longp[1024];

	(void)state;
	for (step = 1; step <= sizeof(in) - 1; step++) {
		memset(&t, 0, sizeof(t));
		assert_int_equal(http1_obs_new(&o, HTTP1_OBS_REQUESTS), 0);
		obs_drive(o, S(in), step, true, &t);
		assert_string_equal(t.trace, "H(GET /a?b) E(0 0) H(POST /p) "
		    "E(0 3) H(HEAD /h) E(0 0) ");
		http1_obs_free(o);
	}
	/* a long path is cut, not an error */
	memset(&t, 0, sizeof(t));
	memset(longp, 'p', sizeof(longp));
	memcpy(longp, "GET /", 5);
	memcpy(longp + 900, " HTTP/1.1\r\nHost: a\r\n\r\n", 22);
	assert_int_equal(http1_obs_new(&o, HTTP1_OBS_REQUESTS), 0);
	obs_drive(o, longp, 922, 0, false, &t);
	assert_int_equal(strlen(t.trace), strlen("H(GET ) E(0 0) ") +
	    HTTP1_OBS_PATH - 1);
	assert_memory_equal(t.trace, "H(GET /pp", 9);
	http1_obs_free(o);
	assert_int_equal(http1_obs_new(&o, 0), -EINVAL);
	http1_obs_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_post_every_split),
		cmocka_unit_test(test_body_zero_copy),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_pipelined_hosts),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_head_too_large),
		cmocka_unit_test(test_header_count),
		cmocka_unit_test(test_forwarded_headers),
		cmocka_unit_test(test_authorization),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_error_response),
		cmocka_unit_test(test_obs_responses),
		cmocka_unit_test(test_obs_requests),
	};
	int n = (int)(sizeof(tests) / sizeof(tests[0]));
	int failed = cmocka_run_group_tests_name("http1", tests, NULL, NULL);

	printf("%d passed, %d failed\n", n - failed, failed);
	return failed != 0;
}
