/* ipcmsg: round trips, exact layout, truncation at every length, bad
 * versions and types, hostile lengths and counts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>

#include "ipcmsg.h"

typedef int decode_fn(const void *buf, size_t len);

static int
dec_ok(const void *buf, size_t len)
{
	struct ipcmsg_ok m;
	int rc = ipcmsg_ok_decode(&m, buf, len);

	ipcmsg_ok_fini(&m);
	return rc;
}

static int
dec_hello(const void *buf, size_t len)
{
	uint64_t v;

	return ipcmsg_hello_decode(&v, buf, len);
}

static int
dec_register(const void *buf, size_t len)
{
	struct ipcmsg_register m;
	int rc = ipcmsg_register_decode(&m, buf, len);

	ipcmsg_register_fini(&m);
	return rc;
}

static int
dec_registered(const void *buf, size_t len)
{
	struct ipcmsg_registered m;
	int rc = ipcmsg_registered_decode(&m, buf, len);

	ipcmsg_registered_fini(&m);
	return rc;
}

static int
dec_unregister(const void *buf, size_t len)
{
	uint64_t v;

	return ipcmsg_unregister_decode(&v, buf, len);
}

static int
dec_table(const void *buf, size_t len)
{
	struct ipcmsg_table m;
	int rc = ipcmsg_table_decode(&m, buf, len);

	ipcmsg_table_fini(&m);
	return rc;
}

static int
dec_write(const void *buf, size_t len)
{
	struct ipcmsg_write m;
	int rc = ipcmsg_write_decode(&m, buf, len);

	ipcmsg_write_fini(&m);
	return rc;
}

/* Every proper prefix fails, one extra byte fails, the whole decodes. */
static void
check_bounds(nng_msg *msg, decode_fn *dec)
{
	size_t len = nng_msg_len(msg), i;
	uint8_t *copy;

	assert_non_null(msg);
	assert_int_equal(dec(nng_msg_body(msg), len), 0);
	for (i = 0; i < len; i++) {
		/* a fresh heap copy of exactly i bytes, so ASan sees overreads */
		copy = malloc(i ? i : 1);
		assert_non_null(copy);
		memcpy(copy, nng_msg_body(msg), i);
		assert_int_equal(dec(copy, i), -EINVAL);
		free(copy);
	}
	copy = malloc(len + 1);
	assert_non_null(copy);
	memcpy(copy, nng_msg_body(msg), len);
	copy[len] = 0;
	assert_int_equal(dec(copy, len + 1), -EINVAL);
	/* bad version */
	copy[0] = IPCMSG_VERSION + 1;
	assert_int_equal(dec(copy, len), -EPROTO);
	copy[0] = 0;
	assert_int_equal(dec(copy, len), -EPROTO);
	/* another type */
	copy[0] = IPCMSG_VERSION;
	copy[1] = copy[1] == IPCMSG_OK ? IPCMSG_WRITE : IPCMSG_OK;
	assert_int_equal(dec(copy, len), -EPROTO);
	copy[1] = 0;
	assert_int_equal(dec(copy, len), -EPROTO);
	copy[1] = 200;
	assert_int_equal(dec(copy, len), -EPROTO);
	free(copy);
}

static void
test_type(void **state)
{
	uint8_t b[2] = { IPCMSG_VERSION, IPCMSG_TABLE };

	assert_int_equal(ipcmsg_type(b, 2), IPCMSG_TABLE);
	assert_int_equal(ipcmsg_type(b, 1), -EINVAL);
	assert_int_equal(ipcmsg_type(b, 0), -EINVAL);
	b[0] = 9;
	assert_int_equal(ipcmsg_type(b, 2), -EPROTO);
	b[0] = IPCMSG_VERSION;
	b[1] = 99;
	assert_int_equal(ipcmsg_type(b, 2), -EPROTO);
}

static void
test_ok(void **state)
{
	struct ipcmsg_ok in = { IPCMSG_S_UNAVAILABLE, "gossip is not answering" }, out;
	nng_msg *msg = ipcmsg_ok_encode(&in);

	assert_non_null(msg);
	assert_int_equal(ipcmsg_type(nng_msg_body(msg), nng_msg_len(msg)), IPCMSG_OK);
	assert_int_equal(ipcmsg_ok_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_int_equal(out.status, IPCMSG_S_UNAVAILABLE);
	assert_string_equal(out.error, in.error);
	ipcmsg_ok_fini(&out);
	ipcmsg_ok_fini(&out);   /* fini twice is harmless */
	check_bounds(msg, dec_ok);
	nng_msg_free(msg);

	/* NULL string encodes as "" */
	in.error = NULL;
	msg = ipcmsg_ok_encode(&in);
	assert_int_equal(ipcmsg_ok_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_string_equal(out.error, "");
	ipcmsg_ok_fini(&out);
	nng_msg_free(msg);
}

static void
test_hello_layout(void **state)
{
	static const uint8_t want[] = { IPCMSG_VERSION, IPCMSG_ACCEPTOR_HELLO,
	    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01 };
	nng_msg *msg = ipcmsg_hello_encode(0x0102030405060708ull);
	uint64_t v = 0;

	assert_non_null(msg);
	assert_int_equal(nng_msg_len(msg), sizeof(want));
	assert_memory_equal(nng_msg_body(msg), want, sizeof(want));
	assert_int_equal(ipcmsg_hello_decode(&v, want, sizeof(want)), 0);
	assert_true(v == 0x0102030405060708ull);
	/* a failed decode leaves the output untouched */
	v = 42;
	assert_int_equal(ipcmsg_hello_decode(&v, want, 5), -EINVAL);
	assert_true(v == 42);
	check_bounds(msg, dec_hello);
	nng_msg_free(msg);
}

static void
test_unregister_snapshot(void **state)
{
	nng_msg *msg = ipcmsg_unregister_encode(UINT64_MAX);
	uint64_t v = 0;

	assert_int_equal(ipcmsg_unregister_decode(&v, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_true(v == UINT64_MAX);
	/* hello bytes are not an unregister */
	check_bounds(msg, dec_unregister);
	nng_msg_free(msg);

	msg = ipcmsg_snapshot_req_encode();
	assert_non_null(msg);
	assert_int_equal(nng_msg_len(msg), 2);
	assert_int_equal(ipcmsg_type(nng_msg_body(msg), 2), IPCMSG_SNAPSHOT_REQ);
	assert_int_equal(ipcmsg_snapshot_req_decode(nng_msg_body(msg), 2), 0);
	assert_int_equal(ipcmsg_snapshot_req_decode(nng_msg_body(msg), 1), -EINVAL);
	nng_msg_free(msg);
}

static void
test_register(void **state)
{
	struct ipcmsg_register in = {
		.session = 0x1122334455667788ull, .tunnel_id = 7, .kind = TUNNEL_HTTP,
		.client_id = "c-123", .token = "", .subdomain = "alice",
		.domains = "www.example.org,example.net", .port = 0,
	}, out;
	nng_msg *msg = ipcmsg_register_encode(&in);

	assert_non_null(msg);
	assert_int_equal(ipcmsg_register_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_true(out.session == in.session);
	assert_int_equal(out.tunnel_id, 7);
	assert_int_equal(out.kind, TUNNEL_HTTP);
	assert_string_equal(out.client_id, "c-123");
	assert_string_equal(out.token, "");
	assert_string_equal(out.subdomain, "alice");
	assert_string_equal(out.domains, in.domains);
	assert_int_equal(out.port, 0);
	ipcmsg_register_fini(&out);
	check_bounds(msg, dec_register);
	nng_msg_free(msg);

	in.kind = TUNNEL_TCP;
	in.port = 65535;
	in.subdomain = NULL;
	msg = ipcmsg_register_encode(&in);
	assert_int_equal(ipcmsg_register_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_int_equal(out.port, 65535);
	assert_string_equal(out.subdomain, "");
	ipcmsg_register_fini(&out);
	nng_msg_free(msg);
}

static void
test_registered(void **state)
{
	struct ipcmsg_registered in = { IPCMSG_S_OK, "", "alice.example.com,www.example.org", 0,
	    "tok_1" }, out;
	nng_msg *msg = ipcmsg_registered_encode(&in);

	assert_int_equal(ipcmsg_registered_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_int_equal(out.status, 0);
	assert_string_equal(out.hosts, in.hosts);
	assert_string_equal(out.token_id, "tok_1");
	ipcmsg_registered_fini(&out);
	check_bounds(msg, dec_registered);
	nng_msg_free(msg);
}

static void
test_table(void **state)
{
	struct ipcmsg_route routes[3] = {
		{ .kind = TUNNEL_HTTP, .state = ROUTE_ONLINE,
		  .host = "alice.example.com", .node = "n1", .session = 1,
		  .tunnel_id = 2 },
		{ .kind = TUNNEL_TCP, .state = ROUTE_OFFLINE, .host = "",
		  .port = 20001, .node = "n2", .session = UINT64_MAX,
		  .tunnel_id = UINT32_MAX },
		{ .kind = TUNNEL_HTTP, .state = ROUTE_DELETED,
		  .host = "b.example.com", .node = "n1", .session = 3 },
	};
	struct ipcmsg_table in = { 0xdeadbeefcafef00dull, 42, 1, 3, routes }, out;
	nng_msg *msg = ipcmsg_table_encode(&in);
	uint32_t i;

	assert_non_null(msg);
	assert_int_equal(ipcmsg_table_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_true(out.epoch == in.epoch);
	assert_true(out.version == 42);
	assert_int_equal(out.delta, 1);
	assert_int_equal(out.n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(out.routes[i].kind, routes[i].kind);
		assert_int_equal(out.routes[i].state, routes[i].state);
		assert_string_equal(out.routes[i].host, routes[i].host);
		assert_int_equal(out.routes[i].port, routes[i].port);
		assert_string_equal(out.routes[i].node, routes[i].node);
		assert_true(out.routes[i].session == routes[i].session);
		assert_int_equal(out.routes[i].tunnel_id, routes[i].tunnel_id);
	}
	ipcmsg_table_fini(&out);
	check_bounds(msg, dec_table);
	nng_msg_free(msg);

	/* a grouped name: its replicas (node, session, tunnel, group fields)
	 * and a --ha alternate round-trip */
	{
		struct ipcmsg_route reps[2] = {
			{ .node = "n1", .session = 5, .tunnel_id = 1,
			  .grp = { "web", "tok_a", "eu", 1, 10, 0 } },
			{ .node = "n2", .session = 6, .tunnel_id = 2,
			  .grp = { "web", "tok_a", "us", 3, 10, 5 } },
		};
		struct ipcmsg_route g = { TUNNEL_HTTP, ROUTE_ONLINE, "web.x", 0, "n1",
		    5, 1, "n9", 77, 8, { "web", "tok_a", NULL, 0, 0, 0 }, 2, reps };
		struct ipcmsg_table t1 = { 1, 2, 1, 1, &g }, o1;

		msg = ipcmsg_table_encode(&t1);
		assert_non_null(msg);
		assert_int_equal(ipcmsg_table_decode(&o1, nng_msg_body(msg),
		    nng_msg_len(msg)), 0);
		assert_string_equal(o1.routes[0].alt_node, "n9");
		assert_true(o1.routes[0].alt_session == 77);
		assert_int_equal(o1.routes[0].alt_tunnel_id, 8);
		assert_string_equal(o1.routes[0].grp.name, "web");
		assert_int_equal(o1.routes[0].nreplicas, 2);
		for (i = 0; i < 2; i++) {
			const struct ipcmsg_route *p = &o1.routes[0].replicas[i];

			assert_string_equal(p->node, reps[i].node);
			assert_true(p->session == reps[i].session);
			assert_int_equal(p->tunnel_id, reps[i].tunnel_id);
			assert_string_equal(p->grp.token_id, "tok_a");
			assert_string_equal(p->grp.region, reps[i].grp.region);
			assert_int_equal(p->grp.weight, reps[i].grp.weight);
			assert_int_equal(p->grp.soft_limit, reps[i].grp.soft_limit);
			assert_int_equal(p->grp.hard_limit, reps[i].grp.hard_limit);
		}
		ipcmsg_table_fini(&o1);
		check_bounds(msg, dec_table);
		nng_msg_free(msg);
		/* more replicas than a route may list: the encoder refuses */
		g.nreplicas = IPCMSG_REPLICAS_MAX + 1;
		assert_null(ipcmsg_table_encode(&t1));
	}

	/* empty snapshot */
	in.n = 0;
	in.routes = NULL;
	in.delta = 0;
	msg = ipcmsg_table_encode(&in);
	assert_int_equal(ipcmsg_table_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_int_equal(out.n, 0);
	assert_null(out.routes);
	ipcmsg_table_fini(&out);
	nng_msg_free(msg);

	/* too many entries: the encoder refuses */
	in.n = IPCMSG_TABLE_MAX + 1;
	in.routes = routes;
	assert_null(ipcmsg_table_encode(&in));
}

static void
test_table_huge_counts(void **state)
{
	uint8_t b[2 + 8 + 8 + 1 + 4 + 64];
	uint32_t counts[] = { UINT32_MAX, IPCMSG_TABLE_MAX + 1, IPCMSG_TABLE_MAX, 5, 1 };
	struct ipcmsg_table out;
	size_t i;

	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		memset(b, 0, sizeof(b));
		b[0] = IPCMSG_VERSION;
		b[1] = IPCMSG_TABLE;
		b[18] = 1;
		b[19] = (uint8_t)counts[i];
		b[20] = (uint8_t)(counts[i] >> 8);
		b[21] = (uint8_t)(counts[i] >> 16);
		b[22] = (uint8_t)(counts[i] >> 24);
		/* 64 zero bytes: at most 3 minimal routes fit, never 5 */
		assert_int_equal(ipcmsg_table_decode(&out, b, sizeof(b)), -EINVAL);
		assert_null(out.routes);
		assert_int_equal(out.n, 0);
	}
	/* delta must be 0 or 1 */
	memset(b, 0, sizeof(b));
	b[0] = IPCMSG_VERSION;
	b[1] = IPCMSG_TABLE;
	b[18] = 2;
	assert_int_equal(ipcmsg_table_decode(&out, b, 23), -EINVAL);
	b[18] = 0;
	assert_int_equal(ipcmsg_table_decode(&out, b, 23), 0);
	ipcmsg_table_fini(&out);
}

static void
test_strings(void **state)
{
	char *big = malloc(IPCMSG_STR_MAX + 2);
	struct ipcmsg_ok in = { 0, NULL }, out;
	uint8_t b[2 + 1 + 2 + 4];
	nng_msg *msg;

	assert_non_null(big);
	memset(big, 'a', IPCMSG_STR_MAX + 1);
	big[IPCMSG_STR_MAX + 1] = '\0';
	in.error = big;
	assert_null(ipcmsg_ok_encode(&in));      /* one byte too long */
	big[IPCMSG_STR_MAX] = '\0';
	msg = ipcmsg_ok_encode(&in);            /* exactly the maximum */
	assert_non_null(msg);
	assert_int_equal(ipcmsg_ok_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_int_equal(strlen(out.error), IPCMSG_STR_MAX);
	ipcmsg_ok_fini(&out);
	nng_msg_free(msg);
	free(big);

	/* a length over the maximum is malformed even when the bytes are there */
	b[0] = IPCMSG_VERSION;
	b[1] = IPCMSG_OK;
	b[2] = 0;
	b[3] = 0xff;
	b[4] = 0xff;
	assert_int_equal(ipcmsg_ok_decode(&out, b, sizeof(b)), -EINVAL);
	/* an embedded NUL is malformed */
	b[3] = 4;
	b[4] = 0;
	memcpy(b + 5, "ab\0c", 4);
	assert_int_equal(ipcmsg_ok_decode(&out, b, sizeof(b)), -EINVAL);
	memcpy(b + 5, "abcd", 4);
	assert_int_equal(ipcmsg_ok_decode(&out, b, sizeof(b)), 0);
	assert_string_equal(out.error, "abcd");
	ipcmsg_ok_fini(&out);
}

static void
test_write(void **state)
{
	struct ipcmsg_write in = {
		.op = WRITE_TUNNEL_UPSERT,
		.route = { TUNNEL_HTTP, ROUTE_ONLINE, "alice.example.com", 0, "n1", 9, 1 },
		.client_id = "c-1",
	}, out;
	nng_msg *msg = ipcmsg_write_encode(&in);

	assert_int_equal(ipcmsg_write_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_int_equal(out.op, WRITE_TUNNEL_UPSERT);
	assert_string_equal(out.route.host, "alice.example.com");
	assert_string_equal(out.route.node, "n1");
	assert_true(out.route.session == 9);
	assert_string_equal(out.client_id, "c-1");
	assert_string_equal(out.token_id, "");
	assert_string_equal(out.tok.hash, "");
	ipcmsg_write_fini(&out);
	check_bounds(msg, dec_write);
	nng_msg_free(msg);
}

static void
test_write_token(void **state)
{
	struct ipcmsg_write in = {
		.op = WRITE_TOKEN_CREATE,
		.route = { 0, 0, NULL, 0, "n1", 0, 0 },
		.token_id = "tok_1",
		.tok = { "tok_1", "abcd", "alice.*", "20000-20010", "a note" },
	}, out;
	nng_msg *msg = ipcmsg_write_encode(&in);

	assert_int_equal(ipcmsg_write_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_int_equal(out.op, WRITE_TOKEN_CREATE);
	assert_string_equal(out.token_id, "tok_1");
	assert_string_equal(out.tok.id, "tok_1");
	assert_string_equal(out.tok.hash, "abcd");
	assert_string_equal(out.tok.allow, "alice.*");
	assert_string_equal(out.tok.ports, "20000-20010");
	assert_string_equal(out.tok.note, "a note");
	ipcmsg_write_fini(&out);
	check_bounds(msg, dec_write);
	nng_msg_free(msg);
}

static int
dec_kick(const void *buf, size_t len)
{
	struct ipcmsg_kick m;
	int rc = ipcmsg_kick_decode(&m, buf, len);

	ipcmsg_kick_fini(&m);
	return rc;
}

static void
test_kick(void **state)
{
	struct ipcmsg_kick in = { "tok_1", "revoked", 0 }, out;
	struct ipcmsg_kick one = { "", "name taken by another client",
	    0xfedcba9876543210ull };
	nng_msg *msg = ipcmsg_kick_encode(&in);

	assert_non_null(msg);
	assert_int_equal(ipcmsg_type(nng_msg_body(msg), nng_msg_len(msg)), IPCMSG_KICK);
	assert_int_equal(ipcmsg_kick_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_string_equal(out.token_id, "tok_1");
	assert_string_equal(out.reason, "revoked");
	ipcmsg_kick_fini(&out);
	check_bounds(msg, dec_kick);
	nng_msg_free(msg);
	/* one session, by id */
	assert_non_null(msg = ipcmsg_kick_encode(&one));
	assert_int_equal(ipcmsg_kick_decode(&out, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_string_equal(out.token_id, "");
	assert_true(out.session == 0xfedcba9876543210ull);
	ipcmsg_kick_fini(&out);
	nng_msg_free(msg);
}

static int
dec_text(const void *buf, size_t len)
{
	char *t = NULL;
	int rc = ipcmsg_text_decode(IPCMSG_REPL_INFO, &t, buf, len);

	free(t);
	return rc;
}

static void
test_text(void **state)
{
	const char *json = "{\"node\":\"n1\",\"rows\":3}";
	nng_msg *msg = ipcmsg_text_encode(IPCMSG_REPL_INFO, json);
	char *out = NULL;

	assert_non_null(msg);
	assert_int_equal(ipcmsg_type(nng_msg_body(msg), nng_msg_len(msg)),
	    IPCMSG_REPL_INFO);
	assert_int_equal(ipcmsg_text_decode(IPCMSG_REPL_INFO, &out,
	    nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_string_equal(out, json);
	free(out);
	/* another type is refused */
	assert_int_equal(ipcmsg_text_decode(IPCMSG_MEMBERS, &out,
	    nng_msg_body(msg), nng_msg_len(msg)), -EPROTO);
	check_bounds(msg, dec_text);
	nng_msg_free(msg);
}

static int
dec_members(const void *buf, size_t len)
{
	struct ipcmsg_members m;
	int rc = ipcmsg_members_decode(&m, buf, len);

	ipcmsg_members_fini(&m);
	return rc;
}

static int
dec_leave(const void *buf, size_t len)
{
	return ipcmsg_empty_decode(IPCMSG_LEAVE, buf, len);
}

static void
test_members(void **state)
{
	struct ipcmsg_member v[2] = {
		{ MEMBER_ALIVE, 1, "node-a", "eu", "10.0.0.1:7946", "10.0.0.1:8080",
		    "10.0.0.1:7000", "0.1.0", 1700000000123ull, 1700000000000ull, 250,
		    "10.0.0.1:7001", "00aa11bb22cc33dd:3:0123456789abcdef:10" },
		{ MEMBER_DEAD, 0, "node-b", "", "[fd00::2]:7946", NULL, "", "",
		    UINT64_MAX, 0, 0, NULL, NULL },
	};
	struct ipcmsg_members in = { MEMBERS_SNAPSHOT, 0, 0x1122334455667788ull,
	    42, { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, 2, v }, out;
	struct ipcmsg_member copy;
	nng_msg *msg = ipcmsg_members_encode(&in);
	uint8_t *p;

	assert_non_null(msg);
	assert_int_equal(ipcmsg_type(nng_msg_body(msg), nng_msg_len(msg)),
	    IPCMSG_MEMBERS);
	assert_int_equal(ipcmsg_members_decode(&out, nng_msg_body(msg),
	    nng_msg_len(msg)), 0);
	assert_int_equal(out.kind, MEMBERS_SNAPSHOT);
	assert_true(out.epoch == 0x1122334455667788ull && out.seq == 42);
	assert_true(out.stats.udp_tx_bytes == 1 && out.stats.drop_malformed == 9);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.members[0].name, "node-a");
	assert_string_equal(out.members[0].http, "10.0.0.1:8080");
	assert_int_equal(out.members[0].self, 1);
	assert_int_equal(out.members[0].rtt_us, 250);
	assert_string_equal(out.members[0].mesh, "10.0.0.1:7001");
	assert_string_equal(out.members[0].repl,
	    "00aa11bb22cc33dd:3:0123456789abcdef:10");
	assert_string_equal(out.members[1].mesh, "");
	assert_true(out.members[1].incarnation == UINT64_MAX);
	assert_int_equal(out.members[1].state, MEMBER_DEAD);
	assert_string_equal(out.members[1].http, "");
	assert_int_equal(ipcmsg_member_copy(&copy, &out.members[1]), 0);
	assert_string_equal(copy.addr, "[fd00::2]:7946");
	ipcmsg_member_fini(&copy);
	ipcmsg_members_fini(&out);
	check_bounds(msg, dec_members);

	/* a state out of range, and a count the bytes cannot hold */
	p = nng_msg_body(msg);
	p[2 + 2 + 8 + 8 + 9 * 8 + 4] = 7;
	assert_int_equal(dec_members(p, nng_msg_len(msg)), -EINVAL);
	p[2 + 2 + 8 + 8 + 9 * 8 + 4] = MEMBER_ALIVE;
	p[2 + 2 + 8 + 8 + 9 * 8 + 3] = 0x7f;
	assert_int_equal(dec_members(p, nng_msg_len(msg)), -EINVAL);
	nng_msg_free(msg);

	/* an event with one member, a beacon with none */
	in.kind = MEMBERS_EVENT;
	in.event = MEMBER_EV_DEAD;
	in.n = 1;
	msg = ipcmsg_members_encode(&in);
	check_bounds(msg, dec_members);
	nng_msg_free(msg);
	in.kind = MEMBERS_BEACON;
	in.n = 0;
	msg = ipcmsg_members_encode(&in);
	check_bounds(msg, dec_members);
	nng_msg_free(msg);
}

static void
test_empty_messages(void **state)
{
	nng_msg *msg = ipcmsg_empty_encode(IPCMSG_LEAVE);

	assert_non_null(msg);
	assert_int_equal(nng_msg_len(msg), 2);
	assert_int_equal(ipcmsg_type(nng_msg_body(msg), 2), IPCMSG_LEAVE);
	assert_int_equal(ipcmsg_empty_decode(IPCMSG_KEYS_RELOAD,
	    nng_msg_body(msg), 2), -EPROTO);
	check_bounds(msg, dec_leave);
	nng_msg_free(msg);
	msg = ipcmsg_empty_encode(IPCMSG_MEMBERS_REQ);
	assert_int_equal(ipcmsg_empty_decode(IPCMSG_MEMBERS_REQ,
	    nng_msg_body(msg), nng_msg_len(msg)), 0);
	nng_msg_free(msg);
}

static void
test_route_copy(void **state)
{
	struct ipcmsg_route a = { .kind = TUNNEL_TCP, .state = ROUTE_ONLINE,
	    .port = 20000, .node = "n", .session = 1, .tunnel_id = 2 }, b;

	assert_int_equal(ipcmsg_route_copy(&b, &a), 0);
	assert_string_equal(b.host, "");
	assert_string_equal(b.node, "n");
	assert_ptr_not_equal(b.node, a.node);
	assert_int_equal(b.port, 20000);
	ipcmsg_route_fini(&b);
	ipcmsg_route_fini(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type),
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_hello_layout),
		cmocka_unit_test(test_unregister_snapshot),
		cmocka_unit_test(test_register),
		cmocka_unit_test(test_registered),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_huge_counts),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_write_token),
		cmocka_unit_test(test_kick),
		cmocka_unit_test(test_route_copy),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_empty_messages),
	};

	return cmocka_run_group_tests_name("ipcmsg", tests, NULL, NULL);
}
