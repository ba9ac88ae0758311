/* ctrl: round trips of every control message and the stream-open header,
 * exact layout, truncation at every length, control bytes in strings,
 * hostile lengths, encoding into buffers too small by one. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctrl.h"

static const char *
nz(const char *s)
{
	return s ? s : "";
}

static void
assert_msg_equal(const struct ctrl_msg *a, const struct ctrl_msg *b)
{
	assert_int_equal(a->type, b->type);
	switch (a->type) {
	case CTRL_HELLO:
		assert_int_equal(a->version, b->version);
		assert_string_equal(nz(a->client_id), b->client_id);
		assert_string_equal(nz(a->token), b->token);
		assert_string_equal(nz(a->agent), b->agent);
		break;
	case CTRL_WELCOME:
		assert_int_equal(a->version, b->version);
		assert_string_equal(nz(a->agent), b->agent);
		break;
	case CTRL_REGISTER:
		assert_int_equal(a->tunnel_id, b->tunnel_id);
		assert_int_equal(a->kind, b->kind);
		assert_int_equal(a->port, b->port);
		assert_string_equal(nz(a->subdomain), b->subdomain);
		assert_string_equal(nz(a->domains), b->domains);
		if (a->group != NULL && a->group[0] != '\0') {
			assert_string_equal(a->group, b->group);
			assert_string_equal(nz(a->region), b->region);
			assert_int_equal(a->weight, b->weight);
			assert_int_equal(a->soft_limit, b->soft_limit);
			assert_int_equal(a->hard_limit, b->hard_limit);
		} else {
			assert_null(b->group);  /* no group block on the wire */
		}
		break;
	case CTRL_REGISTERED:
		assert_int_equal(a->tunnel_id, b->tunnel_id);
		assert_int_equal(a->status, b->status);
		assert_int_equal(a->port, b->port);
		assert_string_equal(nz(a->url), b->url);
		assert_string_equal(nz(a->error), b->error);
		break;
	case CTRL_UNREGISTER:
		assert_int_equal(a->tunnel_id, b->tunnel_id);
		break;
	case CTRL_ERROR:
		assert_int_equal(a->status, b->status);
		assert_string_equal(nz(a->error), b->error);
		break;
	default:
		fail();
	}
}

static struct ctrl_msg samples[] = {
	{ .type = CTRL_HELLO, .version = CTRL_PROTO_VERSION,
	  .client_id = "c-0123456789", .token = "tok3n", .agent = "warren/0.1" },
	{ .type = CTRL_HELLO, .version = 0xffff },      /* NULL strings: "" */
	{ .type = CTRL_WELCOME, .version = CTRL_PROTO_VERSION, .agent = "node-a" },
	{ .type = CTRL_REGISTER, .tunnel_id = 0xdeadbeef, .kind = 2, .port = 20001,
	  .subdomain = "alice", .domains = "www.example.org,example.net" },
	{ .type = CTRL_REGISTER, .tunnel_id = 1, .kind = 1, .subdomain = "" },
	/* a replica: the group block after the protections */
	{ .type = CTRL_REGISTER, .tunnel_id = 2, .kind = 1, .subdomain = "web",
	  .basic_auth = "", .allow_ips = "", .deny_ips = "", .group = "web",
	  .region = "eu", .weight = 3, .soft_limit = 50, .hard_limit = 100 },
	{ .type = CTRL_REGISTERED, .tunnel_id = 7, .status = 0, .port = 443,
	  .url = "https://alice.example.com", .error = "" },
	{ .type = CTRL_REGISTERED, .tunnel_id = 8, .status = 3,
	  .url = "", .error = "subdomain alice is taken" },
	{ .type = CTRL_UNREGISTER, .tunnel_id = 0x01020304 },
	{ .type = CTRL_ERROR, .status = 9, .error = "bad token: ask the node operator" },
	{ .type = CTRL_ERROR, .status = 1, .error = "\xc3\xa9t\xc3\xa9" }, /* UTF-8 ok */
};
#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

static void
test_msg_round_trip(void **state)
{
	uint8_t buf[1024], buf2[1024];
	struct ctrl_msg out;
	size_t i;

	(void)state;
	for (i = 0; i < NSAMPLES; i++) {
		int n = ctrl_msg_encode(&samples[i], buf, sizeof(buf)), n2;

		assert_true(n > 0);
		assert_int_equal(ctrl_msg_decode(&out, buf, (size_t)n), 0);
		assert_msg_equal(&samples[i], &out);
		/* canonical: re-encodes to the same bytes */
		n2 = ctrl_msg_encode(&out, buf2, sizeof(buf2));
		assert_int_equal(n2, n);
		assert_memory_equal(buf, buf2, (size_t)n);
		ctrl_msg_fini(&out);
		ctrl_msg_fini(&out);            /* idempotent */
		assert_null(out.error);
		/* trailing bytes are allowed (later versions append fields) */
		buf[n] = 0x55;
		assert_int_equal(ctrl_msg_decode(&out, buf, (size_t)n + 1), 0);
		assert_msg_equal(&samples[i], &out);
		ctrl_msg_fini(&out);
	}
}

static void
test_msg_layout(void **state)
{
	static const uint8_t hello[] = {
		1, 0, 1,
		0, 2, 'c', '1',
		0, 0,
		0, 3, 'a', '/', '1',
	};
	static const uint8_t reg[] = {
		3, 0xde, 0xad, 0xbe, 0xef, 2, 0x4e, 0x21,
		0, 1, 'a', 0, 0,
		0, 0, 0, 0, 0, 0,       /* basic_auth, allow_ips, deny_ips */
	};
	struct ctrl_msg m = { .type = CTRL_HELLO, .version = 1, .client_id = "c1",
	    .token = "", .agent = "a/1" };
	struct ctrl_msg r = { .type = CTRL_REGISTER, .tunnel_id = 0xdeadbeef,
	    .kind = 2, .port = 20001, .subdomain = "a" };
	uint8_t buf[64];

	(void)state;
	assert_int_equal(ctrl_msg_encode(&m, buf, sizeof(buf)), sizeof(hello));
	assert_memory_equal(buf, hello, sizeof(hello));
	assert_int_equal(ctrl_msg_encode(&r, buf, sizeof(buf)), sizeof(reg));
	assert_memory_equal(buf, reg, sizeof(reg));
}

/* Every strict prefix of a valid message fails, without leaks (run under
 * ASan or valgrind), and leaves no dangling pointers behind. */
static void
test_msg_truncated(void **state)
{
	uint8_t buf[1024];
	struct ctrl_msg out;
	size_t i, len;

	(void)state;
	for (i = 0; i < NSAMPLES; i++) {
		int n = ctrl_msg_encode(&samples[i], buf, sizeof(buf));

		size_t opt = 0, gopt = 0;

		assert_true(n > 0);
		/* REGISTER's protections are optional: a message that ends
		 * before them (an older client's) decodes */
		if (samples[i].type == CTRL_REGISTER)
			opt = 6 + (samples[i].basic_auth ? strlen(samples[i].basic_auth) : 0) +
			    (samples[i].allow_ips ? strlen(samples[i].allow_ips) : 0) +
			    (samples[i].deny_ips ? strlen(samples[i].deny_ips) : 0);
		/* ... and so is the group block after them, read only when
		 * whole (what follows may be a later version's) */
		if (samples[i].group != NULL)
			gopt = 4 + 12 + strlen(samples[i].group) +
			    strlen(samples[i].region ? samples[i].region : "");
		for (len = 0; len < (size_t)n; len++) {
			if (opt && len == (size_t)n - gopt - opt) {
				assert_int_equal(ctrl_msg_decode(&out, buf, len), 0);
				assert_null(out.basic_auth);
				ctrl_msg_fini(&out);
				continue;
			}
			if (gopt && len >= (size_t)n - gopt) {
				assert_int_equal(ctrl_msg_decode(&out, buf, len), 0);
				assert_non_null(out.basic_auth);
				assert_null(out.group);
				ctrl_msg_fini(&out);
				continue;
			}
			assert_int_equal(ctrl_msg_decode(&out, buf, len), -EINVAL);
			assert_null(out.client_id);
			assert_null(out.token);
			assert_null(out.agent);
			assert_null(out.subdomain);
			assert_null(out.domains);
			assert_null(out.url);
			assert_null(out.error);
			ctrl_msg_fini(&out);    /* safe after a failed decode */
		}
	}
	assert_int_equal(ctrl_msg_decode(&out, NULL, 0), -EINVAL);
}

static void
test_msg_bad(void **state)
{
	uint8_t buf[CTRL_MSG_MAX + 16];
	struct ctrl_msg out, m;
	char *s;
	int n;
	unsigned c;

	(void)state;
	/* unknown types */
	buf[0] = 0;
	assert_int_equal(ctrl_msg_decode(&out, buf, 1), -EINVAL);
	buf[0] = 7;
	assert_int_equal(ctrl_msg_decode(&out, buf, 1), -EINVAL);
	buf[0] = 0xff;
	assert_int_equal(ctrl_msg_decode(&out, buf, 64), -EINVAL);
	/* every control byte, and DEL, refused in any string position */
	for (c = 0; c < 0x80; c++) {
		char str[4] = { 'a', (char)c, 'b', 0 };

		if (c >= 0x20 && c != 0x7f)
			continue;
		memset(&m, 0, sizeof(m));
		m.type = CTRL_HELLO;
		m.client_id = "id";
		m.token = "t";
		m.agent = "ag";
		n = ctrl_msg_encode(&m, buf, sizeof(buf));
		assert_true(n > 0);
		/* patch the token's middle byte ("t" -> one byte) */
		buf[3 + 2 + 2 + 2] = (uint8_t)c;
		assert_int_equal(ctrl_msg_decode(&out, buf, (size_t)n), -EINVAL);
		if (c == 0)
			continue;               /* strlen stops at NUL on encode */
		m.type = CTRL_ERROR;
		m.error = str;
		n = ctrl_msg_encode(&m, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(ctrl_msg_decode(&out, buf, (size_t)n), -EINVAL);
		assert_null(out.error);
	}
	/* a string over CTRL_STR_MAX: refused on both sides */
	s = malloc(CTRL_STR_MAX + 2);
	assert_non_null(s);
	memset(s, 'x', CTRL_STR_MAX + 1);
	s[CTRL_STR_MAX + 1] = '\0';
	memset(&m, 0, sizeof(m));
	m.type = CTRL_ERROR;
	m.error = s;
	assert_true(ctrl_msg_encode(&m, buf, sizeof(buf)) < 0);
	s[CTRL_STR_MAX] = '\0';
	n = ctrl_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, 1 + 1 + 2 + CTRL_STR_MAX);
	assert_int_equal(ctrl_msg_decode(&out, buf, (size_t)n), 0);
	assert_int_equal(strlen(out.error), CTRL_STR_MAX);
	ctrl_msg_fini(&out);
	buf[2] = (uint8_t)((CTRL_STR_MAX + 1) >> 8);
	buf[3] = (uint8_t)(CTRL_STR_MAX + 1);
	buf[4 + CTRL_STR_MAX] = 'x';
	assert_int_equal(ctrl_msg_decode(&out, buf, (size_t)n + 1), -EINVAL);
	/* length 0xffff with too few bytes */
	buf[2] = buf[3] = 0xff;
	assert_int_equal(ctrl_msg_decode(&out, buf, (size_t)n + 1), -EINVAL);
	free(s);
	/* a message over CTRL_MSG_MAX, even valid with trailing bytes */
	memset(buf, 0, sizeof(buf));
	buf[0] = CTRL_UNREGISTER;
	assert_int_equal(ctrl_msg_decode(&out, buf, CTRL_MSG_MAX), 0);
	assert_int_equal(ctrl_msg_decode(&out, buf, CTRL_MSG_MAX + 1), -EINVAL);
	/* a later string failing frees the earlier ones (ASan checks) */
	memset(&m, 0, sizeof(m));
	m.type = CTRL_REGISTERED;
	m.url = "https://x";
	m.error = "e\x01";
	n = ctrl_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(ctrl_msg_decode(&out, buf, (size_t)n), -EINVAL);
	assert_null(out.url);
	/* an unknown type does not encode */
	m.type = 42;
	assert_int_equal(ctrl_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void
test_msg_nospace(void **state)
{
	uint8_t buf[1024];
	size_t i, cap;

	(void)state;
	for (i = 0; i < NSAMPLES; i++) {
		int n = ctrl_msg_encode(&samples[i], buf, sizeof(buf));

		assert_true(n > 0);
		for (cap = 0; cap < (size_t)n; cap++) {
			uint8_t *small = malloc(cap ? cap : 1);

			assert_non_null(small);
			assert_int_equal(ctrl_msg_encode(&samples[i], small, cap), -ENOSPC);
			free(small);
		}
		assert_int_equal(ctrl_msg_encode(&samples[i], buf, (size_t)n), n);
	}
}

static const struct ctrl_open opens[] = {
	{ 0x11223344, "203.0.113.7:51234", "alice.example.com" },
	{ 1, "[2001:db8::1]:443", "" },
	{ 0, NULL, NULL },
};
#define NOPENS (sizeof(opens) / sizeof(opens[0]))

static void
test_open(void **state)
{
	static const uint8_t want[] = { 0, 0, 0, 5, 0, 3, '1', ':', '2', 0, 1, 'h' };
	struct ctrl_open o = { 5, "1:2", "h" }, out;
	uint8_t buf[256];
	size_t i, len;
	int n;

	(void)state;
	assert_int_equal(ctrl_open_encode(&o, buf, sizeof(buf)), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	for (i = 0; i < NOPENS; i++) {
		n = ctrl_open_encode(&opens[i], buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(ctrl_open_decode(&out, buf, (size_t)n), 0);
		assert_int_equal(out.tunnel_id, opens[i].tunnel_id);
		assert_string_equal(out.peer, nz(opens[i].peer));
		assert_string_equal(out.host, nz(opens[i].host));
		ctrl_open_fini(&out);
		ctrl_open_fini(&out);
		/* every prefix fails, no leaks */
		for (len = 0; len < (size_t)n; len++) {
			assert_int_equal(ctrl_open_decode(&out, buf, len), -EINVAL);
			assert_null(out.peer);
			assert_null(out.host);
		}
		/* every too-small buffer */
		for (len = 0; len < (size_t)n; len++)
			assert_int_equal(ctrl_open_encode(&opens[i], buf, len), -ENOSPC);
	}
	/* control bytes in host */
	o.host = "evil\r\nX-Injected: 1";
	n = ctrl_open_encode(&o, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(ctrl_open_decode(&out, buf, (size_t)n), -EINVAL);
	assert_null(out.peer);
	/* NUL inside peer */
	o.host = "h";
	n = ctrl_open_encode(&o, buf, sizeof(buf));
	buf[7] = 0;
	assert_int_equal(ctrl_open_decode(&out, buf, (size_t)n), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_round_trip),
		cmocka_unit_test(test_msg_layout),
		cmocka_unit_test(test_msg_truncated),
		cmocka_unit_test(test_msg_bad),
		cmocka_unit_test(test_msg_nospace),
		cmocka_unit_test(test_open),
	};

	return cmocka_run_group_tests_name("ctrl", tests, NULL, NULL);
}
