/* lbset and lbmsg: the acceptor's candidate sets, from an encoded LB
 * message: per-app and all-apps arrays, counts from pick to release,
 * state kept across a new set, back-off after a failed dial, affinity. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ev.h>
#include <nng/nng.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbmsg.h"
#include "node/lbset.h"

static struct lbmsg_cand
cand(const char *app, const char *id, const char *region, uint16_t port,
    uint32_t w, uint32_t hard)
{
	struct lbmsg_cand c = { LBMSG_BACKEND, 0, (char *)app, (char *)id,
	    (char *)region, "", "127.0.0.1", "", port, w, 10, hard, 0, 0 };
	return c;
}

/* Encodes and decodes m (the way it travels), then applies it. */
static void
apply(struct lbset *s, const struct lbmsg *m)
{
	nng_msg *msg = lbmsg_encode(m);
	struct lbmsg d;

	assert_non_null(msg);
	assert_int_equal(lbmsg_decode(&d, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_int_equal(d.n, m->n);
	assert_int_equal(d.version, m->version);
	nng_msg_free(msg);
	assert_int_equal(lbset_apply(s, &d), 0);
	lbmsg_fini(&d);
}

static void
addr_of(uint8_t a[16], uint8_t n)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = 10;
	a[15] = n;
}

static void
test_msg_bad(void **state)
{
	struct lbmsg_cand c[1] = { cand("a", "x", "eu", 80, 1, 0) };
	struct lbmsg m = { 1, 2, 0, 1, c }, d;
	nng_msg *msg = lbmsg_encode(&m);
	uint8_t *b;
	size_t len = nng_msg_len(msg), i;

	b = malloc(len + 1);
	memcpy(b, nng_msg_body(msg), len);
	/* every truncation is malformed, never a crash */
	for (i = 0; i < len; i++)
		assert_int_not_equal(lbmsg_decode(&d, b, i), 0);
	b[len] = 0;
	assert_int_equal(lbmsg_decode(&d, b, len + 1), -EINVAL);
	b[1] = 11;              /* another type */
	assert_int_equal(lbmsg_decode(&d, b, len), -EPROTO);
	b[1] = 10;
	b[2 + 8 + 8 + 1] = 0xff;        /* a count past the bytes */
	assert_int_equal(lbmsg_decode(&d, b, len), -EINVAL);
	free(b);
	nng_msg_free(msg);
}

static void
test_pick_counts_and_apps(void **state)
{
	struct lbmsg_cand c[3] = { cand("web", "w1", "eu", 81, 1, 0),
	    cand("web", "w2", "eu", 82, 2, 0), cand("db", "d1", "eu", 83, 1, 1) };
	struct lbmsg m = { 1, 1, 0, 3, c };
	struct lbpick_where here = { 0, { { 0, 0 } } };
	struct lbset_backend *b[8];
	struct lbset *s;
	uint8_t a[16];
	int i;

	lbpick_region(&here.region, "eu", 2);
	assert_int_equal(lbset_new(&s, EV_DEFAULT, 64, 60000, 1000), 0);
	apply(s, &m);
	/* weights 1:2 over 6 clients: 2 and 4 */
	for (i = 0; i < 6; i++) {
		addr_of(a, (uint8_t)i);
		b[i] = lbset_pick(s, lbset_app_key("web"), a, &here, &here, 1000);
		assert_non_null(b[i]);
	}
	{
		int n1 = 0, n2 = 0;

		for (i = 0; i < 6; i++) {
			n1 += strcmp(b[i]->name, "w1") == 0;
			n2 += strcmp(b[i]->name, "w2") == 0;
			assert_int_equal(b[i]->conns, strcmp(b[i]->name, "w1") == 0 ? 2 : 4);
		}
		assert_int_equal(n1, 2);
		assert_int_equal(n2, 4);
	}
	/* db: hard limit 1 */
	addr_of(a, 100);
	b[6] = lbset_pick(s, lbset_app_key("db"), a, &here, &here, 1000);
	assert_non_null(b[6]);
	addr_of(a, 101);
	assert_null(lbset_pick(s, lbset_app_key("db"), a, &here, &here, 1000));
	assert_int_equal(lbset_stats(s)->no_candidate, 1);
	/* every backend: the all-apps key sees all three */
	addr_of(a, 102);
	b[7] = lbset_pick(s, lbset_app_key(LBSET_ALL), a, &here, &here, 1000);
	assert_non_null(b[7]);
	assert_string_equal(b[7]->name, "w1");  /* 2/10/1 = 0.2 ties 4/10/2, first */
	/* a new set keeps counts by id; d1 leaves but its connection holds it */
	m.version = 2;
	m.n = 2;
	apply(s, &m);
	for (i = 0; i < 8; i++)
		lbset_release(b[i]);
	assert_int_equal(lbset_stats(s)->applied, 2);
	lbset_free(s);
}

static void
test_backoff_and_affinity(void **state)
{
	struct lbmsg_cand c[2] = { cand("x", "a", "eu", 81, 1, 0),
	    cand("x", "b", "eu", 82, 1, 0) };
	struct lbmsg m = { 1, 1, 0, 2, c };
	struct lbpick_where here = { 0, { { 0, 0 } } };
	struct lbset_backend *p, *q;
	struct lbset *s;
	uint8_t a[16], z[16];
	uint64_t key = lbset_app_key("x");

	assert_int_equal(lbset_new(&s, EV_DEFAULT, 64, 5000, 1000), 0);
	apply(s, &m);
	addr_of(a, 1);
	addr_of(z, 2);
	p = lbset_pick(s, key, a, &here, &here, 0);
	assert_string_equal(p->name, "a");
	lbset_release(p);
	/* hold one on a: a fresh client goes to b, the bound one stays */
	p = lbset_pick(s, key, z, &here, &here, 10);
	assert_string_equal(p->name, "a");
	q = lbset_pick(s, key, a, &here, &here, 20);
	assert_string_equal(q->name, "a");
	assert_int_equal(lbset_stats(s)->bound_hits, 1);
	lbset_release(q);
	/* a failed dial: unbound, a skipped until its back-off ends */
	q = lbset_pick(s, key, a, &here, &here, 30);
	lbset_dial_failed(s, key, a, q);
	lbset_release(q);
	lbset_release(p);
	q = lbset_pick(s, key, a, &here, &here, 40);
	assert_string_equal(q->name, "b");
	lbset_release(q);
	/* past the TTL (5 s) both bindings (a -> b, z -> a) are gone */
	assert_int_equal(lbset_gc(s, 100000), 2);
	assert_int_equal(lbset_bindings(s), 0);
	lbset_free(s);
}

/* Replicas (applied directly: they never travel) join their app's set,
 * never the all-apps one; one that refuses raw bytes is out of raw picks
 * only. */
static void
test_replicas_join_the_app(void **state)
{
	struct lbmsg_cand c[3] = { cand("web", "static-1", "eu", 81, 1, 0),
	    cand("web", "n2/0000000000000007/1", "eu", 0, 4, 0),
	    cand("other", "o1", "eu", 83, 1, 0) };
	struct lbmsg m = { 1, 1, 0, 3, c };
	struct lbpick_where here = { 0, { { 0, 0 } } };
	struct lbset_backend *p, *q;
	struct lbset *s;
	uint8_t a[16], z[16];
	uint64_t key = lbset_app_key("web");

	c[1].kind = LBMSG_REPLICA;
	c[1].addr = "";
	c[1].node = "n2";
	c[1].session = 7;
	c[1].tunnel_id = 1;
	lbpick_region(&here.region, "eu", 2);
	assert_int_equal(lbset_new(&s, EV_DEFAULT, 64, 60000, 1000), 0);
	assert_int_equal(lbset_apply(s, &m), 0);
	addr_of(a, 1);
	addr_of(z, 2);
	/* weight 4 against 1, no load: the replica, with where it is */
	p = lbset_pick(s, key, a, &here, &here, 0);
	assert_int_equal(p->kind, LBMSG_REPLICA);
	assert_string_equal(p->node, "n2");
	assert_true(p->session == 7 && p->tunnel_id == 1);
	/* the all-apps set has the two static backends only */
	q = lbset_pick(s, lbset_app_key(LBSET_ALL), z, &here, &here, 0);
	assert_int_equal(q->kind, LBMSG_BACKEND);
	lbset_release(q);
	/* it wants credentials: raw picks skip it, picks by name do not */
	lbset_refuse_raw(s, key, a, p);
	lbset_release(p);
	q = lbset_pick_raw(s, key, a, &here, &here, 10);
	assert_string_equal(q->name, "static-1");
	lbset_release(q);
	q = lbset_pick(s, key, z, &here, &here, 10);
	assert_int_equal(q->kind, LBMSG_REPLICA);
	lbset_release(q);
	/* gone from the set (its session ended): forgotten */
	m.n = 1;
	m.version = 2;
	assert_int_equal(lbset_apply(s, &m), 0);
	q = lbset_pick_raw(s, key, a, &here, &here, 20);
	assert_string_equal(q->name, "static-1");
	lbset_release(q);
	lbset_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_bad),
		cmocka_unit_test(test_pick_counts_and_apps),
		cmocka_unit_test(test_backoff_and_affinity),
		cmocka_unit_test(test_replicas_join_the_app),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
