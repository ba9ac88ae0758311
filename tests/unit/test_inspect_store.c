/* inspect_store (with client_httplog's tap) and inspect_ws: what the request
 * inspector keeps of each exchange, within its limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_httplog.h"
#include "client/inspect_json.h"
#include "client/inspect_store.h"
#include "client/inspect_ws.h"

struct changes {
	int news, updates, clears;
};

static void
changed(void *arg, const struct inspect_rec *r, enum inspect_change what)
{
	struct changes *c = arg;

	if (what == INSPECT_NEW)
		c->news++;
	else if (what == INSPECT_UPDATE)
		c->updates++;
	else
		c->clears++;
}

static void
nolog(void *arg, const struct client_httplog_entry *e)
{
	(void)arg;
	(void)e;
}

static struct client_httplog *
observer(struct inspect_store *st)
{
	struct client_httplog *h = client_httplog_new(nolog, NULL);

	assert_non_null(h);
	client_httplog_set_tap(h, &inspect_store_tap, st, "web",
	    "127.0.0.1:8000", "203.0.113.9:4000");
	return h;
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
test_capture_any_split(void **state)
{
	static const char req[] = "POST /api?x=1 HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	static const char resp[] = "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok";

	for (size_t step = 1; step <= sizeof(resp); step++) {
		struct changes ch = { 0 };
		struct inspect_store *st = inspect_store_new(10, 0, 0, changed, &ch);
		struct client_httplog *h = observer(st);
		const struct inspect_rec *r;

		feed(h, 0, req, step, 1000000);
		feed(h, 1, resp, step, 1005000);
		assert_non_null(r = inspect_store_get(st, 1));
		assert_string_equal(r->method, "POST");
		assert_string_equal(r->path, "/api?x=1");
		assert_string_equal(r->tunnel, "web");
		assert_string_equal(r->peer, "203.0.113.9:4000");
		assert_int_equal(r->req_head.len, strstr(req, "\r\n\r\n") + 4 - req);
		assert_memory_equal(r->req_head.p, req, r->req_head.len);
		/* chunk framing is gone from the kept body */
		assert_int_equal(r->req_body.len, 11);
		assert_memory_equal(r->req_body.p, "hello world", 11);
		assert_int_equal(r->status, 201);
		assert_int_equal(r->state, INSPECT_DONE);
		assert_int_equal(r->resp_body.len, 2);
		assert_memory_equal(r->resp_body.p, "ok", 2);
		assert_int_equal(r->resp_head.len, strlen(resp) - 2);
		assert_memory_equal(r->resp_head.p, resp, r->resp_head.len);
		assert_int_equal(r->end_us - r->start_us, 5000);
		assert_int_equal(ch.news, 1);
		assert_true(ch.updates >= 2);   /* status, end */
		client_httplog_free(h);
		/* the observer's end does not touch a finished record */
		assert_int_equal(inspect_store_get(st, 1)->state, INSPECT_DONE);
		inspect_store_free(st);
	}
}

static void
test_pipelined_and_closed(void **state)
{
	struct inspect_store *st = inspect_store_new(10, 0, 0, NULL, NULL);
	struct client_httplog *h = observer(st);
	const struct inspect_rec *r;

	feed(h, 0, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n",
	    7, 10);
	feed(h, 1, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
	    "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nB"
	    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5\r\nev 1\n\r\n", 5, 20);
	assert_int_equal(inspect_store_get(st, 1)->status, 200);
	assert_memory_equal(inspect_store_get(st, 1)->resp_body.p, "A", 1);
	assert_int_equal(inspect_store_get(st, 2)->status, 404);
	assert_memory_equal(inspect_store_get(st, 2)->resp_body.p, "B", 1);
	assert_string_equal(inspect_store_get(st, 2)->path, "/b");
	/* the stream: open, status known, body so far */
	r = inspect_store_get(st, 3);
	assert_int_equal(r->state, INSPECT_OPEN);
	assert_int_equal(r->status, 200);
	assert_int_equal(r->end_us, 0);
	assert_memory_equal(r->resp_body.p, "ev 1\n", 5);
	client_httplog_close(h, 90);
	r = inspect_store_get(st, 3);
	assert_int_equal(r->state, INSPECT_CLOSED);
	assert_int_equal(r->status, 200);
	assert_int_equal(r->end_us, 90);
	inspect_store_free(st);
}

static void
test_body_limit_and_ring(void **state)
{
	struct inspect_store *st = inspect_store_new(3, 100, 0, NULL, NULL);
	const struct inspect_rec *list[8];
	char body[1000];

	memset(body, 'x', sizeof(body));
	for (int i = 0; i < 5; i++) {
		struct client_httplog *h = observer(st);
		char head[100];

		snprintf(head, sizeof(head), "POST /%d HTTP/1.1\r\nHost: x\r\n"
		    "Content-Length: 1000\r\n\r\n", i);
		feed(h, 0, head, 1000, 1);
		for (int k = 0; k < 10; k++)
			client_httplog_request(h, (const uint8_t *)body, 100, 1);
		client_httplog_free(h);
	}
	/* the last three are kept, newest first */
	assert_int_equal(inspect_store_list(st, list, 8), 3);
	assert_int_equal(list[0]->id, 5);
	assert_int_equal(list[2]->id, 3);
	assert_null(inspect_store_get(st, 2));
	assert_int_equal(list[0]->req_body.total, 1000);
	assert_int_equal(list[0]->req_body.len, 100);
	assert_true(list[0]->req_body.truncated);
	assert_true(list[0]->req_body.cap <= 100);
	assert_true(inspect_store_mem(st) < 3 * (sizeof(struct inspect_rec) +
	    100 + 200));
	assert_int_equal(list[0]->state, INSPECT_CLOSED);      /* no answer */
	inspect_store_clear(st);
	assert_int_equal(inspect_store_list(st, list, 8), 0);
	assert_int_equal(inspect_store_mem(st), 0);
	inspect_store_free(st);
}

static void
test_mem_cap_drops_oldest(void **state)
{
	/* 64 KiB bodies, 200 KiB in all: about three records fit */
	struct inspect_store *st = inspect_store_new(100, 65536, 200 << 10,
	    NULL, NULL);
	const struct inspect_rec *list[100];
	static uint8_t body[65536];
	size_t n;

	for (int i = 0; i < 20; i++) {
		struct client_httplog *h = observer(st);

		feed(h, 0, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n",
		    1000, 1);
		client_httplog_request(h, body, sizeof(body), 1);
		client_httplog_free(h);
		assert_true(inspect_store_mem(st) <= (200u << 10) + 65536 + 4096);
	}
	n = inspect_store_list(st, list, 100);
	assert_true(n >= 2 && n <= 4);
	assert_int_equal(list[0]->id, 20);
	assert_int_equal(list[0]->req_body.len, 65536);
	inspect_store_free(st);
}

static void
test_replay_mark(void **state)
{
	struct changes ch = { 0 };
	struct inspect_store *st = inspect_store_new(5, 0, 0, changed, &ch);
	struct client_httplog *h = observer(st);

	inspect_store_mark_next(st, 7);
	feed(h, 0, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
	    1000, 1);
	assert_int_equal(inspect_store_get(st, 1)->replay_of, 7);
	assert_int_equal(inspect_store_get(st, 2)->replay_of, 0);
	client_httplog_free(h);
	inspect_store_free(st);
}

static void
test_websocket_frames(void **state)
{
	struct inspect_store *st = inspect_store_new(5, 0, 0, NULL, NULL);
	struct client_httplog *h = observer(st);
	/* masked "hi" from the client, twice; unmasked 300-byte frame back */
	static const uint8_t in[] = { 0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2,
	    0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2 };
	uint8_t out[4 + 300];
	const struct inspect_rec *r;

	out[0] = 0x82;
	out[1] = 126;
	out[2] = 300 >> 8;
	out[3] = 300 & 0xff;
	memset(out + 4, 'z', 300);
	feed(h, 0, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n", 9, 1);
	feed(h, 1, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n", 9, 2);
	for (size_t i = 0; i < sizeof(in); i++)
		client_httplog_request(h, in + i, 1, 3);
	client_httplog_response(h, out, 100, 4);
	client_httplog_response(h, out + 100, sizeof(out) - 100, 4);
	r = inspect_store_get(st, 1);
	assert_int_equal(r->status, 101);
	assert_true(r->upgraded);
	assert_int_equal(r->state, INSPECT_OPEN);
	assert_int_equal(r->frames_in, 2);
	assert_int_equal(r->frames_out, 1);
	client_httplog_close(h, 50);
	assert_int_equal(inspect_store_get(st, 1)->state, INSPECT_CLOSED);
	inspect_store_free(st);
}

static void
test_ws_counter(void **state)
{
	struct inspect_ws w;
	uint8_t f[10 + 70000];

	inspect_ws_init(&w);
	f[0] = 0x82;
	f[1] = 127;
	memset(f + 2, 0, 8);
	f[7] = 0;
	f[8] = 70000 >> 8 & 0xff;
	f[9] = 70000 & 0xff;
	f[7] = 70000 >> 16;
	memset(f + 10, 0, 70000);
	inspect_ws_feed(&w, f, 5);
	assert_int_equal(w.frames, 0);
	inspect_ws_feed(&w, f + 5, sizeof(f) - 5);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.bytes, 70000);
	/* a length with the top bit set stops the count */
	f[2] = 0x80;
	inspect_ws_feed(&w, f, 10);
	assert_true(w.bad);
	inspect_ws_feed(&w, f, 10);
	assert_int_equal(w.frames, 1);
}

static void
test_json_head_split(void **state)
{
	static const char h1[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\n"
	    "A:  1 \r\nbad line\r\nB:\r\n\r\n";
	struct inspect_json_field f[4];
	const char *line;
	size_t ll, n;

	n = inspect_json_head((const uint8_t *)h1, strlen(h1), 1, &line, &ll, f, 4);
	assert_int_equal(n, 2);
	assert_int_equal(ll, 15);
	assert_memory_equal(line, "HTTP/1.1 200 OK", 15);
	assert_int_equal(f[0].name_len, 1);
	assert_memory_equal(f[0].value, "1", 1);
	assert_int_equal(f[0].value_len, 1);
	assert_int_equal(f[1].value_len, 0);
	/* not `last`: the first head */
	n = inspect_json_head((const uint8_t *)h1, strlen(h1), 0, &line, &ll, f, 4);
	assert_int_equal(n, 0);
	assert_memory_equal(line, "HTTP/1.1 100 Continue", ll);
	/* the cap on fields holds */
	{
		static const char h2[] = "GET / HTTP/1.1\r\na:1\r\nb:2\r\nc:3\r\n";

		n = inspect_json_head((const uint8_t *)h2, sizeof(h2) - 1, 0,
		    &line, &ll, f, 2);
	}
	assert_int_equal(n, 2);
	n = inspect_json_head((const uint8_t *)"", 0, 1, &line, &ll, f, 2);
	assert_int_equal(n + ll, 0);
}

static void
test_json_bodies(void **state)
{
	struct inspect_store *st = inspect_store_new(5, 0, 0, NULL, NULL);
	struct client_httplog *h = observer(st);
	json_t *j, *b;

	feed(h, 0, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n\xff\x00" "ab",
	    1000, 1);
	/* strlen stops at the NUL: give the rest by hand */
	client_httplog_request(h, (const uint8_t *)"\x00" "ab", 3, 1);
	feed(h, 1, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n\xc3\xa9t\xc3\xa9!", 1000, 2);
	j = inspect_json_detail(inspect_store_get(st, 1));
	assert_non_null(j);
	b = json_object_get(json_object_get(j, "request"), "body");
	assert_string_equal(json_string_value(json_object_get(b, "encoding")), "base64");
	assert_string_equal(json_string_value(json_object_get(b, "data")), "/wBhYg==");
	b = json_object_get(json_object_get(j, "response"), "body");
	assert_string_equal(json_string_value(json_object_get(b, "encoding")), "text");
	assert_string_equal(json_string_value(json_object_get(b, "data")), "\xc3\xa9t\xc3\xa9!");
	json_decref(j);
	client_httplog_free(h);
	inspect_store_free(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture_any_split),
		cmocka_unit_test(test_pipelined_and_closed),
		cmocka_unit_test(test_body_limit_and_ring),
		cmocka_unit_test(test_mem_cap_drops_oldest),
		cmocka_unit_test(test_replay_mark),
		cmocka_unit_test(test_websocket_frames),
		cmocka_unit_test(test_ws_counter),
		cmocka_unit_test(test_json_head_split),
		cmocka_unit_test(test_json_bodies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
