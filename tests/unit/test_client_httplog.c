/* client_httplog: one log entry per request/response exchange, whatever
 * the byte boundaries; pipelining, HEAD, 1xx, chunked, close-delimited
 * bodies, upgrades and garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_httplog.h"

struct seen {
	int n;
	char method[16][16];
	char path[16][300];
	int status[16];
	uint64_t bytes[16];
	uint64_t dur[16];
};

static void
record(void *arg, const struct client_httplog_entry *e)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	snprintf(s->method[s->n], sizeof(s->method[0]), "%s", e->method);
	snprintf(s->path[s->n], sizeof(s->path[0]), "%s", e->path);
	s->status[s->n] = e->status;
	s->bytes[s->n] = e->bytes;
	s->dur[s->n] = e->end_us - e->start_us;
	s->n++;
}

static void
feed(struct client_httplog *h, int resp, const char *text, size_t step,
    uint64_t now)
{
	size_t len = strlen(text);

	for (size_t i = 0; i < len; i += step) {
		size_t n = len - i < step ? len - i : step;

		if (resp)
			client_httplog_response(h, (const uint8_t *)text + i, n, now);
		else
			client_httplog_request(h, (const uint8_t *)text + i, n, now);
	}
}

static void
test_simple_any_split(void **state)
{
	static const char req[] = "GET /path?q=1 HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

	for (size_t step = 1; step <= sizeof(resp); step++) {
		struct seen s = { 0 };
		struct client_httplog *h = client_httplog_new(record, &s);

		assert_non_null(h);
		feed(h, 0, req, step, 1000);
		assert_int_equal(s.n, 0);
		feed(h, 1, resp, step, 13000);
		assert_int_equal(s.n, 1);
		assert_string_equal(s.method[0], "GET");
		assert_string_equal(s.path[0], "/path?q=1");
		assert_int_equal(s.status[0], 200);
		assert_int_equal(s.bytes[0], 5);
		assert_int_equal(s.dur[0], 12000);
		client_httplog_free(h);
	}
}

static void
test_pipelined_head_and_interim(void **state)
{
	struct seen s = { 0 };
	struct client_httplog *h = client_httplog_new(record, &s);

	feed(h, 0, "HEAD /a HTTP/1.1\r\nHost: a\r\n\r\n"
	    "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
	    "Expect: 100-continue\r\n\r\nabc"
	    "GET /c HTTP/1.1\r\nHost: a\r\n\r\n", 7, 0);
	/* HEAD: Content-Length announces a body that never comes */
	feed(h, 1, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
	    "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
	    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 5, 10);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.method[0], "HEAD");
	assert_int_equal(s.status[0], 200);
	assert_int_equal(s.bytes[0], 0);
	assert_string_equal(s.method[1], "POST");
	assert_string_equal(s.path[1], "/b");
	assert_int_equal(s.status[1], 201);
	assert_int_equal(s.bytes[1], 5);
	assert_string_equal(s.path[2], "/c");
	assert_int_equal(s.status[2], 304);
	client_httplog_free(h);
}

static void
test_close_delimited(void **state)
{
	struct seen s = { 0 };
	struct client_httplog *h = client_httplog_new(record, &s);

	feed(h, 0, "GET /old HTTP/1.0\r\n\r\n", 100, 0);
	feed(h, 1, "HTTP/1.0 200 OK\r\n\r\nuntil close", 4, 0);
	assert_int_equal(s.n, 0);
	client_httplog_response_eof(h, 5);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.bytes[0], 11);
	client_httplog_response_eof(h, 6);      /* once only */
	assert_int_equal(s.n, 1);
	client_httplog_free(h);
}

static void
test_upgrade_then_raw(void **state)
{
	struct seen s = { 0 };
	struct client_httplog *h = client_httplog_new(record, &s);

	feed(h, 0, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n\x81\x05hello", 9, 0);
	feed(h, 1, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n\x81\x05hello\x81\x05HTTP/", 9, 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.status[0], 101);
	assert_string_equal(s.path[0], "/ws");
	/* raw frames afterwards are never taken for HTTP */
	feed(h, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3, 0);
	assert_int_equal(s.n, 1);
	client_httplog_free(h);
}

static void
test_garbage_stops_quietly(void **state)
{
	struct seen s = { 0 };
	struct client_httplog *h = client_httplog_new(record, &s);

	feed(h, 0, "\x16\x03\x01\x02\x00 not http at all\r\n\r\n", 3, 0);
	feed(h, 1, "\x16\x03\x03 neither\r\n\r\n", 3, 0);
	client_httplog_response_eof(h, 0);
	assert_int_equal(s.n, 0);
	client_httplog_free(h);
	client_httplog_free(NULL);
}

static void
test_response_without_request(void **state)
{
	struct seen s = { 0 };
	struct client_httplog *h = client_httplog_new(record, &s);

	feed(h, 1, "HTTP/1.1 204 No Content\r\n\r\n", 50, 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.method[0], "-");
	assert_string_equal(s.path[0], "-");
	assert_int_equal(s.status[0], 204);
	client_httplog_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_any_split),
		cmocka_unit_test(test_pipelined_head_and_interim),
		cmocka_unit_test(test_close_delimited),
		cmocka_unit_test(test_upgrade_then_raw),
		cmocka_unit_test(test_garbage_stops_quietly),
		cmocka_unit_test(test_response_without_request),
	};

	return cmocka_run_group_tests_name("client_httplog", tests, NULL, NULL);
}
