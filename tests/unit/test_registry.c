/* registry + table: registration rules against an in-memory table, with a
 * fake writer standing in for gossip. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipcmsg.h"
#include "router/registry.h"
#include "router/table.h"

struct fake {
	int writes;
	int fail_at;            /* write number that fails, 0 = never */
	uint8_t last_op;
};

static int
fake_write(void *arg, const struct ipcmsg_write *w, char *err, size_t errlen)
{
	struct fake *f = arg;

	f->writes++;
	f->last_op = w->op;
	if (f->fail_at != 0 && f->writes == f->fail_at) {
		snprintf(err, errlen, "gossip is down");
		return IPCMSG_S_UNAVAILABLE;
	}
	return IPCMSG_S_OK;
}

struct ctx {
	struct table *t;
	struct fake fake;
	struct registry reg;
};

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (c == NULL || table_new(&c->t) != 0)
		return -1;
	c->reg.table = c->t;
	c->reg.node = "n1";
	c->reg.domain = "example.com";
	c->reg.tcp_lo = 20000;
	c->reg.tcp_hi = 20009;
	c->reg.write = fake_write;
	c->reg.write_arg = &c->fake;
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	table_free(c->t);
	free(c);
	return 0;
}

static int
reg(struct ctx *c, uint8_t kind, uint64_t session, const char *client,
    const char *sub, const char *domains, uint16_t port, char **hosts,
    struct ipcmsg_table *delta)
{
	struct ipcmsg_register req = { .session = session, .tunnel_id = 1,
	    .kind = kind, .client_id = (char *)client, .token = "",
	    .subdomain = (char *)sub, .domains = (char *)domains, .port = port };
	struct ipcmsg_registered r;
	struct ipcmsg_table d = { 0 };
	int st = registry_register(&c->reg, &req, &r, delta != NULL ? delta : &d);

	if (hosts != NULL)
		*hosts = strdup(r.hosts != NULL ? r.hosts : r.error);
	if (st != IPCMSG_S_OK)
		assert_true(r.error != NULL && r.error[0] != '\0');
	ipcmsg_registered_fini(&r);
	ipcmsg_table_fini(&d);
	return st;
}

static void
test_label(void **state)
{
	char out[256];

	assert_true(registry_label_ok("a"));
	assert_true(registry_label_ok("a-b-0"));
	assert_false(registry_label_ok(""));
	assert_false(registry_label_ok("-a"));
	assert_false(registry_label_ok("a-"));
	assert_false(registry_label_ok("A"));
	assert_false(registry_label_ok("a_b"));
	assert_false(registry_label_ok("a.b"));
	memset(out, 'a', 64);
	out[64] = '\0';
	assert_false(registry_label_ok(out));
	out[63] = '\0';
	assert_true(registry_label_ok(out));

	assert_int_equal(registry_host_normalize(out, sizeof(out), "WWW.Example.ORG"), 0);
	assert_string_equal(out, "www.example.org");
	assert_int_equal(registry_host_normalize(out, sizeof(out), "a..b"), -EINVAL);
	assert_int_equal(registry_host_normalize(out, sizeof(out), ".a"), -EINVAL);
	assert_int_equal(registry_host_normalize(out, sizeof(out), "a."), -EINVAL);
	assert_int_equal(registry_host_normalize(out, sizeof(out), "a b.c"), -EINVAL);
	assert_int_equal(registry_host_normalize(out, sizeof(out), ""), -EINVAL);
}

static void
test_http_rules(void **state)
{
	struct ctx *c = *state;
	struct ipcmsg_table d = { 0 };
	char *hosts;

	assert_int_equal(reg(c, TUNNEL_HTTP, 1, "a", "Alice", "x.org,X.org, y.net ",
	    0, &hosts, &d), IPCMSG_S_OK);
	assert_string_equal(hosts, "alice.example.com,x.org,y.net");
	free(hosts);
	assert_int_equal(d.n, 3);
	assert_int_equal(c->fake.writes, 3);
	assert_int_equal(c->fake.last_op, WRITE_TUNNEL_UPSERT);
	ipcmsg_table_fini(&d);
	assert_int_equal(table_count(c->t), 3);

	/* another client */
	assert_int_equal(reg(c, TUNNEL_HTTP, 2, "b", "alice", "", 0, &hosts, NULL),
	    IPCMSG_S_TAKEN);
	assert_string_equal(hosts, "subdomain alice is in use by another client");
	free(hosts);
	assert_int_equal(reg(c, TUNNEL_HTTP, 2, "b", "bob", "y.net", 0, &hosts,
	    NULL), IPCMSG_S_TAKEN);
	assert_string_equal(hosts, "domain y.net is in use by another client");
	free(hosts);
	/* nothing was written for the refused claims */
	assert_int_equal(c->fake.writes, 3);
	/* empty client ids never match each other */
	assert_int_equal(reg(c, TUNNEL_HTTP, 3, "", "anon", "", 0, NULL, NULL),
	    IPCMSG_S_OK);
	assert_int_equal(reg(c, TUNNEL_HTTP, 4, "", "anon", "", 0, NULL, NULL),
	    IPCMSG_S_TAKEN);
	/* but the same session may register again */
	assert_int_equal(reg(c, TUNNEL_HTTP, 3, "", "anon", "", 0, NULL, NULL),
	    IPCMSG_S_OK);
	/* custom domain under the base domain, bad names */
	assert_int_equal(reg(c, TUNNEL_HTTP, 5, "e", "e", "z.example.com", 0,
	    NULL, NULL), IPCMSG_S_INVALID);
	assert_int_equal(reg(c, TUNNEL_HTTP, 5, "e", "e", "example.com", 0,
	    NULL, NULL), IPCMSG_S_INVALID);
	assert_int_equal(reg(c, TUNNEL_HTTP, 5, "e", "e", "nodot", 0, NULL, NULL),
	    IPCMSG_S_INVALID);
	assert_int_equal(reg(c, TUNNEL_HTTP, 5, "e", "e", "a_b.org", 0, NULL, NULL),
	    IPCMSG_S_INVALID);
	assert_int_equal(reg(c, TUNNEL_HTTP, 5, "e", "e.f", "", 0, NULL, NULL),
	    IPCMSG_S_INVALID);
	assert_int_equal(reg(c, TUNNEL_HTTP, 5, "e",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "",
	    0, NULL, NULL), IPCMSG_S_INVALID);
	assert_int_equal(reg(c, TUNNEL_HTTP, 5, "e", "e",
	    "a1.org,a2.org,a3.org,a4.org,a5.org,a6.org,a7.org,a8.org,a9.org,"
	    "b1.org,b2.org,b3.org,b4.org,b5.org,b6.org,b7.org,b8.org", 0, NULL,
	    NULL), IPCMSG_S_INVALID);
}

static void
test_offline_and_reclaim(void **state)
{
	struct ctx *c = *state;
	struct ipcmsg_table d = { 0 };
	const struct ipcmsg_route *r;
	const char *holder;
	char err[256];

	assert_int_equal(reg(c, TUNNEL_HTTP, 1, "a", "alice", "", 0, NULL, NULL),
	    IPCMSG_S_OK);
	assert_int_equal(reg(c, TUNNEL_TCP, 1, "a", "", "", 20003, NULL, NULL),
	    IPCMSG_S_OK);
	assert_int_equal(reg(c, TUNNEL_HTTP, 2, "b", "bob", "", 0, NULL, NULL),
	    IPCMSG_S_OK);
	assert_int_equal(registry_unregister(&c->reg, 1, &d, err, sizeof(err)),
	    IPCMSG_S_OK);
	assert_int_equal(c->fake.last_op, WRITE_SESSION_OFFLINE);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.routes[0].state, ROUTE_OFFLINE);
	ipcmsg_table_fini(&d);
	r = table_find(c->t, TUNNEL_HTTP, "alice.example.com", 0, &holder);
	assert_non_null(r);
	assert_int_equal(r->state, ROUTE_OFFLINE);
	assert_string_equal(holder, "a");
	r = table_find(c->t, TUNNEL_TCP, NULL, 20003, NULL);
	assert_int_equal(r->state, ROUTE_OFFLINE);
	r = table_find(c->t, TUNNEL_HTTP, "bob.example.com", 0, NULL);
	assert_int_equal(r->state, ROUTE_ONLINE);
	/* offline: anyone may take it now */
	assert_int_equal(reg(c, TUNNEL_HTTP, 3, "b", "alice", "", 0, NULL, NULL),
	    IPCMSG_S_OK);
	r = table_find(c->t, TUNNEL_HTTP, "alice.example.com", 0, &holder);
	assert_int_equal(r->state, ROUTE_ONLINE);
	assert_true(r->session == 3);
	assert_string_equal(holder, "b");
	/* a write failure is reported, and the table stays consistent with
	 * the writes that happened */
	c->fake.fail_at = c->fake.writes + 1;
	assert_int_equal(reg(c, TUNNEL_HTTP, 4, "c", "carol", "", 0, NULL, NULL),
	    IPCMSG_S_UNAVAILABLE);
	assert_null(table_find(c->t, TUNNEL_HTTP, "carol.example.com", 0, NULL));
	c->fake.fail_at = 0;
	/* node offline: everything of n1 */
	assert_int_equal(registry_node_offline(&c->reg, &d, err, sizeof(err)),
	    IPCMSG_S_OK);
	assert_int_equal(c->fake.last_op, WRITE_NODE_OFFLINE);
	assert_int_equal(d.n, 2);       /* bob and alice were online */
	ipcmsg_table_fini(&d);
	assert_int_equal(table_count_state(c->t, ROUTE_ONLINE), 0);
	assert_int_equal(table_count(c->t), 3);
}

static void
test_tcp_rules(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(reg(c, TUNNEL_TCP, 1, "a", "", "", 19999, NULL, NULL),
	    IPCMSG_S_INVALID);
	assert_int_equal(reg(c, TUNNEL_TCP, 1, "a", "", "", 20010, NULL, NULL),
	    IPCMSG_S_INVALID);
	assert_int_equal(reg(c, TUNNEL_TCP, 1, "a", "", "", 20009, NULL, NULL),
	    IPCMSG_S_OK);
	assert_int_equal(reg(c, TUNNEL_TCP, 2, "b", "", "", 20009, NULL, NULL),
	    IPCMSG_S_TAKEN);
	assert_int_equal(reg(c, TUNNEL_TCP, 2, "a", "", "", 20009, NULL, NULL),
	    IPCMSG_S_OK);
	assert_int_equal(reg(c, 0, 2, "a", "", "", 20009, NULL, NULL),
	    IPCMSG_S_INVALID);
}

static void
test_random_labels(void **state)
{
	struct ctx *c = *state;
	char *hosts;
	int i;

	for (i = 0; i < 200; i++) {
		assert_int_equal(reg(c, TUNNEL_HTTP, (uint64_t)i, "r", "", "", 0,
		    &hosts, NULL), IPCMSG_S_OK);
		assert_int_equal(strlen(hosts), 8 + strlen(".example.com"));
		free(hosts);
	}
	assert_int_equal(table_count(c->t), 200);
}

static void
test_table_put_list(void **state)
{
	struct ctx *c = *state;
	struct ipcmsg_route r = { .kind = TUNNEL_HTTP, .state = ROUTE_ONLINE,
	    .host = "b.x", .node = "n1", .session = 1, .tunnel_id = 1 };
	struct ipcmsg_table d = { 0 };
	struct ipcmsg_route *v;
	uint32_t n, i;
	char host[32];

	assert_int_equal(table_put(c->t, &r, "c", &d), 0);
	assert_int_equal(d.n, 1);
	/* no change, no delta */
	assert_int_equal(table_put(c->t, &r, "c", &d), 0);
	assert_int_equal(d.n, 1);
	r.host = "a.x";
	assert_int_equal(table_put(c->t, &r, "c", &d), 0);
	r.kind = TUNNEL_TCP;
	r.port = 7;
	r.host = "ignored";
	assert_int_equal(table_put(c->t, &r, "c", &d), 0);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.routes[2].host, "");
	ipcmsg_table_fini(&d);
	v = table_list(c->t, &n);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].host, "a.x");
	assert_string_equal(v[1].host, "b.x");
	assert_int_equal(v[2].port, 7);
	free(v);
	/* growth keeps every entry findable */
	r.kind = TUNNEL_HTTP;
	r.port = 0;
	for (i = 0; i < 5000; i++) {
		snprintf(host, sizeof(host), "h%u.x", i);
		r.host = host;
		assert_int_equal(table_put(c->t, &r, "c", NULL), 0);
	}
	for (i = 0; i < 5000; i++) {
		snprintf(host, sizeof(host), "h%u.x", i);
		assert_non_null(table_find(c->t, TUNNEL_HTTP, host, 0, NULL));
	}
	assert_int_equal(table_count(c->t), 5003);
	assert_int_equal(table_set_offline(c->t, "n1", false, 0, NULL), 5003);
	assert_int_equal(table_set_offline(c->t, "n1", false, 0, NULL), 0);
	table_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label),
		cmocka_unit_test_setup_teardown(test_http_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offline_and_reclaim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_put_list, setup, teardown),
	};

	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
