/* lbbind: affinity bindings on a fake clock: sliding TTL, drop on dial
 * failure, bounded memory with eviction, gc sweeps, and a random run
 * against a plain reference. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbbind.h"

static const uint8_t seed[16] = "0123456789abcdef";

static void
addr_of(uint8_t a[16], uint32_t n)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = 203;
	a[13] = (uint8_t)(n >> 16);
	a[14] = (uint8_t)(n >> 8);
	a[15] = (uint8_t)n;
}

static bool
get(struct lbbind *b, uint64_t app, uint32_t n, uint64_t now, uint64_t *cand)
{
	uint8_t a[16];
	uint32_t hint;

	addr_of(a, n);
	return lbbind_get(b, app, a, now, cand, &hint);
}

static void
put(struct lbbind *b, uint64_t app, uint32_t n, uint64_t cand, uint64_t now)
{
	uint8_t a[16];

	addr_of(a, n);
	lbbind_put(b, app, a, cand, (uint32_t)cand, now);
}

static void
test_new_args(void **state)
{
	struct lbbind *b = NULL;

	assert_int_equal(lbbind_new(&b, 0, 1000, seed), -EINVAL);
	assert_int_equal(lbbind_new(&b, 10, 0, seed), -EINVAL);
	assert_int_equal(lbbind_new(&b, SIZE_MAX, 1000, seed), -EINVAL);
	assert_null(b);
	lbbind_free(NULL);
}

static void
test_sliding_ttl(void **state)
{
	struct lbbind *b;
	uint64_t cand = 0;
	uint8_t a[16];
	uint32_t hint = 0;

	assert_int_equal(lbbind_new(&b, 100, 1000, seed), 0);
	assert_false(get(b, 1, 7, 0, &cand));
	put(b, 1, 7, 42, 0);
	addr_of(a, 7);
	assert_true(lbbind_get(b, 1, a, 999, &cand, &hint));
	assert_int_equal(cand, 42);
	assert_int_equal(hint, 42);
	/* each use slides the end: 999 + 1000 */
	assert_true(get(b, 1, 7, 1998, &cand));
	assert_true(get(b, 1, 7, 2997, &cand));
	/* unused for a whole TTL: gone */
	assert_false(get(b, 1, 7, 3997, &cand));
	assert_int_equal(lbbind_count(b), 0);
	assert_int_equal(lbbind_stats(b)->expired, 1);
	assert_int_equal(lbbind_stats(b)->hits, 3);
	/* a rebind replaces the candidate and restarts the TTL */
	put(b, 1, 7, 42, 5000);
	put(b, 1, 7, 43, 5500);
	assert_int_equal(lbbind_count(b), 1);
	assert_true(get(b, 1, 7, 6400, &cand));
	assert_int_equal(cand, 43);
	/* a shorter TTL applies from the next use */
	lbbind_set_ttl(b, 10);
	assert_true(get(b, 1, 7, 6401, &cand));
	assert_false(get(b, 1, 7, 6411, &cand));
	lbbind_free(b);
}

static void
test_apps_and_drop(void **state)
{
	struct lbbind *b;
	uint64_t cand = 0;
	uint8_t a[16];

	assert_int_equal(lbbind_new(&b, 100, 1000, seed), 0);
	put(b, 1, 7, 10, 0);
	put(b, 2, 7, 20, 0);
	put(b, 1, 8, 30, 0);
	assert_true(get(b, 1, 7, 1, &cand));
	assert_int_equal(cand, 10);
	assert_true(get(b, 2, 7, 1, &cand));
	assert_int_equal(cand, 20);
	/* a dial to app 1's candidate failed: that binding only */
	addr_of(a, 7);
	assert_true(lbbind_drop(b, 1, a));
	assert_false(lbbind_drop(b, 1, a));
	assert_false(get(b, 1, 7, 2, &cand));
	assert_true(get(b, 2, 7, 2, &cand));
	assert_true(get(b, 1, 8, 2, &cand));
	assert_int_equal(cand, 30);
	assert_int_equal(lbbind_count(b), 2);
	assert_int_equal(lbbind_stats(b)->dropped, 1);
	lbbind_free(b);
}

static void
test_bounded(void **state)
{
	struct lbbind *b;
	uint64_t cand = 0;
	size_t mem, kept = 0;
	uint32_t i;

	assert_int_equal(lbbind_new(&b, 1000, 600000, seed), 0);
	for (i = 0; i < 1000; i++)
		put(b, 1, i, i, i);
	mem = lbbind_mem(b);
	assert_int_equal(lbbind_count(b), 1000);
	assert_int_equal(lbbind_stats(b)->evicted, 0);
	/* 100,000 more clients: the table neither grows nor loses the newest */
	for (i = 1000; i < 101000; i++) {
		put(b, 1, i, i, i);
		assert_true(lbbind_count(b) <= 1000);
		if (i % 1000 == 0) {
			assert_true(get(b, 1, i, i, &cand));
			assert_int_equal(cand, i);
		}
	}
	assert_int_equal(lbbind_count(b), 1000);
	assert_int_equal(lbbind_mem(b), mem);
	assert_true(mem < 1000 * 2 * 56 + 256);
	assert_int_equal(lbbind_stats(b)->evicted, 100000);
	/* eviction takes the bindings nearest their end: the survivors are
	 * mostly recent ones */
	for (i = 0; i < 101000; i++)
		if (get(b, 1, i, 101000, &cand)) {
			assert_int_equal(cand, i);
			kept += i >= 100000;
		}
	assert_true(kept > 800);
	lbbind_free(b);
}

static void
test_gc(void **state)
{
	struct lbbind *b;
	uint64_t cand = 0;
	size_t removed = 0, rounds = 0;
	uint32_t i;

	assert_int_equal(lbbind_new(&b, 10000, 1000, seed), 0);
	for (i = 0; i < 3000; i++)
		put(b, 1, i, i, i < 1500 ? 0 : 500);
	assert_int_equal(lbbind_count(b), 3000);
	/* at 1200 the first half is expired; a sweep a slice at a time */
	while (removed < 1500 && rounds++ < 1000)
		removed += lbbind_gc(b, 1200, 64);
	assert_int_equal(removed, 1500);
	assert_int_equal(lbbind_count(b), 1500);
	assert_int_equal(lbbind_gc(b, 1200, SIZE_MAX), 0);
	for (i = 0; i < 3000; i++)
		assert_int_equal(get(b, 1, i, 1200, &cand), i >= 1500);
	/* a whole pass after the rest ended leaves nothing */
	assert_int_equal(lbbind_gc(b, 5000, SIZE_MAX), 1500);
	assert_int_equal(lbbind_count(b), 0);
	lbbind_free(b);
}

/* random puts, gets, drops and gc slices on a small table (long runs of
 * slots, many backward shifts) against a plain array */
struct ref {
	uint64_t cand, expires;
};

static void
test_random_against_reference(void **state)
{
	enum { KEYS = 300, APPS = 2 };
	static struct ref ref[APPS][KEYS];
	struct lbbind *b;
	unsigned rs = 99;
	uint64_t now = 1, cand;
	uint8_t a[16];
	int step;

	memset(ref, 0, sizeof(ref));
	assert_int_equal(lbbind_new(&b, KEYS * APPS, 500, seed), 0);
	for (step = 0; step < 200000; step++) {
		uint32_t k = (uint32_t)(rand_r(&rs) % KEYS);
		uint64_t app = (uint64_t)(rand_r(&rs) % APPS);
		struct ref *r = &ref[app][k];
		bool live = r->expires > now;
		uint32_t hint;

		now += (uint64_t)(rand_r(&rs) % 3);
		live = r->expires > now;
		addr_of(a, k);
		switch (rand_r(&rs) % 8) {
		case 0: case 1: case 2:
			r->cand = (uint64_t)rand_r(&rs);
			r->expires = now + 500;
			lbbind_put(b, app, a, r->cand, 0, now);
			break;
		case 3:
			assert_int_equal(lbbind_drop(b, app, a) && live, live);
			r->expires = 0;
			break;
		case 4:
			lbbind_gc(b, now, (size_t)(rand_r(&rs) % 50));
			break;
		default:
			assert_int_equal(lbbind_get(b, app, a, now, &cand, &hint), live);
			if (live) {
				assert_int_equal(cand, r->cand);
				r->expires = now + 500;
			}
		}
	}
	assert_true(lbbind_count(b) <= KEYS * APPS);
	assert_int_equal(lbbind_stats(b)->evicted, 0);
	lbbind_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_args),
		cmocka_unit_test(test_sliding_ttl),
		cmocka_unit_test(test_apps_and_drop),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_gc),
		cmocka_unit_test(test_random_against_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
