/* client_proxy: proxy URLs, NO_PROXY matching, and both handshakes byte by
 * byte (HTTP CONNECT with basic auth; SOCKS5 with username/password). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_proxy.h"

static void
test_parse(void **state)
{
	struct client_proxy_conf c;
	char err[300];

	assert_int_equal(client_proxy_parse(&c, "http://proxy.corp:3128", err,
	    sizeof(err)), 0);
	assert_int_equal(c.kind, CLIENT_PROXY_HTTP);
	assert_string_equal(c.host, "proxy.corp");
	assert_int_equal(c.port, 3128);
	assert_string_equal(c.user, "");
	assert_int_equal(client_proxy_parse(&c, "socks5://a%40b:p%3Ass@[::1]:1081/",
	    err, sizeof(err)), 0);
	assert_int_equal(c.kind, CLIENT_PROXY_SOCKS5);
	assert_string_equal(c.host, "::1");
	assert_int_equal(c.port, 1081);
	assert_string_equal(c.user, "a@b");
	assert_string_equal(c.pass, "p:ss");
	assert_int_equal(client_proxy_parse(&c, "HTTP://h", err, sizeof(err)), 0);
	assert_int_equal(c.port, 8080);
	assert_int_equal(client_proxy_parse(&c, "socks5h://h", err, sizeof(err)), 0);
	assert_int_equal(c.port, 1080);
	assert_int_equal(client_proxy_parse(&c, "ftp://h:1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "socks5://"));
	assert_int_equal(client_proxy_parse(&c, "http://h:0", err, sizeof(err)), -1);
	assert_int_equal(client_proxy_parse(&c, "http://u:p@", err, sizeof(err)), -1);
	assert_int_equal(client_proxy_parse(&c, "http://%zz@h", err, sizeof(err)), -1);
}

static void
test_bypass(void **state)
{
	assert_true(client_proxy_bypass("*", "edge.example.com"));
	assert_true(client_proxy_bypass("localhost, .example.com", "edge.example.com"));
	assert_true(client_proxy_bypass("example.com", "example.com"));
	assert_true(client_proxy_bypass("example.com", "a.b.example.com"));
	assert_false(client_proxy_bypass("example.com", "badexample.com"));
	assert_true(client_proxy_bypass("10.0.0.1,127.0.0.1:7000", "127.0.0.1"));
	assert_true(client_proxy_bypass("::1", "::1"));
	assert_false(client_proxy_bypass("", "edge"));
	assert_false(client_proxy_bypass(NULL, "edge"));
	assert_false(client_proxy_bypass(" , ", "edge"));
}

static enum client_proxy_result
feed_bytes(struct client_proxy *p, const uint8_t *in, size_t len, uint8_t *out,
    size_t *outlen, size_t *taken)
{
	enum client_proxy_result r = CLIENT_PROXY_AGAIN;
	char err[300];
	size_t used, ol;

	*outlen = 0;
	*taken = 0;
	/* one byte at a time: every boundary */
	for (size_t i = 0; i < len && r == CLIENT_PROXY_AGAIN; i++) {
		r = client_proxy_feed(p, in + i, 1, &used, out, &ol, err, sizeof(err));
		*taken += used;
		if (ol > 0)
			*outlen = ol;
	}
	return r;
}

static void
test_http_handshake(void **state)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\nNODE";
	struct client_proxy_conf c;
	struct client_proxy p;
	uint8_t out[CLIENT_PROXY_OUT_MAX];
	char err[300];
	size_t ol, taken, used;
	int n;

	client_proxy_parse(&c, "http://ann:pw@127.0.0.1:3128", err, sizeof(err));
	n = client_proxy_start(&p, &c, "edge.example.com", 7000, out, err,
	    sizeof(err));
	assert_true(n > 0);
	out[n] = 0;
	assert_string_equal((char *)out, "CONNECT edge.example.com:7000 HTTP/1.1\r\n"
	    "Host: edge.example.com:7000\r\nProxy-Authorization: Basic YW5uOnB3\r\n\r\n");
	assert_int_equal(feed_bytes(&p, (const uint8_t *)ok, sizeof(ok) - 1, out,
	    &ol, &taken), CLIENT_PROXY_DONE);
	assert_int_equal(taken, sizeof(ok) - 1 - 4);    /* "NODE" is the node's */
	/* 407, in one go */
	client_proxy_start(&p, &c, "h", 1, out, err, sizeof(err));
	assert_int_equal(client_proxy_feed(&p, (const uint8_t *)"HTTP/1.0 407 Auth\r\n\r\n",
	    21, &used, out, &ol, err, sizeof(err)), CLIENT_PROXY_ERROR);
	assert_non_null(strstr(err, "407"));
	/* a head that never ends is cut at the bound */
	client_proxy_start(&p, &c, "h", 1, out, err, sizeof(err));
	{
		static uint8_t junk[CLIENT_PROXY_HEAD_MAX + 10];
		enum client_proxy_result r;

		memset(junk, 'a', sizeof(junk));
		r = client_proxy_feed(&p, junk, sizeof(junk), &used, out, &ol, err,
		    sizeof(err));
		assert_int_equal(r, CLIENT_PROXY_ERROR);
	}
}

static void
test_socks5_handshake(void **state)
{
	static const uint8_t method[] = { 5, 2 }, auth[] = { 1, 0 },
	    reply[] = { 5, 0, 0, 3, 4, 'n', 'o', 'd', 'e', 0x1b, 0x58, 'X' };
	struct client_proxy_conf c;
	struct client_proxy p;
	uint8_t out[CLIENT_PROXY_OUT_MAX];
	char err[300];
	size_t ol, taken;
	int n;

	client_proxy_parse(&c, "socks5://bob:pw1@127.0.0.1", err, sizeof(err));
	n = client_proxy_start(&p, &c, "edge", 7000, out, err, sizeof(err));
	assert_int_equal(n, 4);
	assert_memory_equal(out, "\x05\x02\x00\x02", 4);
	assert_int_equal(feed_bytes(&p, method, 2, out, &ol, &taken),
	    CLIENT_PROXY_AGAIN);
	assert_int_equal(ol, 3 + 3 + 3);
	assert_memory_equal(out, "\x01\x03" "bob" "\x03" "pw1", 9);
	assert_int_equal(feed_bytes(&p, auth, 2, out, &ol, &taken),
	    CLIENT_PROXY_AGAIN);
	assert_int_equal(ol, 7 + 4);
	assert_memory_equal(out, "\x05\x01\x00\x03\x04" "edge" "\x1b\x58", 11);
	assert_int_equal(feed_bytes(&p, reply, sizeof(reply), out, &ol, &taken),
	    CLIENT_PROXY_DONE);
	assert_int_equal(taken, sizeof(reply) - 1);
	/* refused CONNECT: the reason in words */
	client_proxy_parse(&c, "socks5://127.0.0.1", err, sizeof(err));
	client_proxy_start(&p, &c, "edge", 7000, out, err, sizeof(err));
	feed_bytes(&p, (const uint8_t *)"\x05\x00", 2, out, &ol, &taken);
	{
		size_t used;

		assert_int_equal(client_proxy_feed(&p, (const uint8_t *)
		    "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 10, &used, out, &ol,
		    err, sizeof(err)), CLIENT_PROXY_ERROR);
		assert_non_null(strstr(err, "connection refused"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_bypass),
		cmocka_unit_test(test_http_handshake),
		cmocka_unit_test(test_socks5_handshake),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
