/* tunstats: per-tunnel counters published as the busiest TUNSTATS_TOP by
 * name plus "other", with a bounded number of names tracked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "node/tunstats.h"

struct out {
	int n;
	char name[TUNSTATS_TOP + 2][TUNSTATS_NAME_MAX];
	uint64_t bytes[TUNSTATS_TOP + 2], requests[TUNSTATS_TOP + 2];
};

static void
emit(void *arg, const struct tunstats_entry *e)
{
	struct out *o = arg;

	assert_true(o->n < TUNSTATS_TOP + 2);
	snprintf(o->name[o->n], TUNSTATS_NAME_MAX, "%s", e->name);
	o->bytes[o->n] = e->bytes_in + e->bytes_out;
	o->requests[o->n++] = e->requests;
}

static void
test_top_and_other(void **state)
{
	struct tunstats *t = tunstats_new(100);
	struct out o = { 0 };
	uint64_t total = 0, named = 0;
	char name[32];

	for (int i = 0; i < 30; i++) {
		struct tunstats_entry *e;

		snprintf(name, sizeof(name), "http:t%d.example", i);
		e = tunstats_get(t, name);
		assert_ptr_equal(e, tunstats_get(t, name));
		e->requests += 1;
		e->bytes_in += (uint64_t)i * 100;
		e->bytes_out += (uint64_t)i;
		total += (uint64_t)i * 101;
	}
	tunstats_top(t, TUNSTATS_TOP, emit, &o);
	assert_int_equal(o.n, TUNSTATS_TOP + 1);
	for (int i = 0; i < TUNSTATS_TOP; i++) {
		snprintf(name, sizeof(name), "http:t%d.example", 29 - i);
		assert_string_equal(o.name[i], name);
		named += o.bytes[i];
	}
	assert_string_equal(o.name[TUNSTATS_TOP], "other");
	assert_int_equal(o.bytes[TUNSTATS_TOP], total - named);
	assert_int_equal(o.requests[TUNSTATS_TOP], 20);
	tunstats_free(t);
}

static void
test_bounded(void **state)
{
	struct tunstats *t = tunstats_new(4);
	struct tunstats_entry *other;
	struct out o = { 0 };
	char name[32];

	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "tcp:%d", 20000 + i);
		assert_string_equal(tunstats_get(t, name)->name, name);
	}
	other = tunstats_get(t, "tcp:30000");           /* full */
	assert_string_equal(other->name, "other");
	other->requests = 7;
	assert_ptr_equal(tunstats_get(t, "other"), other);
	tunstats_top(t, TUNSTATS_TOP, emit, &o);
	assert_int_equal(o.n, 5);
	assert_string_equal(o.name[4], "other");
	assert_int_equal(o.requests[4], 7);
	/* no names at all: "other" still comes */
	tunstats_free(t);
	t = tunstats_new(0);
	memset(&o, 0, sizeof(o));
	tunstats_top(t, TUNSTATS_TOP, emit, &o);
	assert_int_equal(o.n, 1);
	tunstats_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top_and_other),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
