/* nodemeta: round trip, older and newer layouts, hostile lengths. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gossip/nodemeta.h"

static void
test_round_trip(void **state)
{
	struct nodemeta in, out;
	uint8_t buf[512];
	int n, i;

	memset(&in, 0, sizeof(in));
	strcpy(in.http, "10.0.0.1:8080");
	strcpy(in.tunnel, "[fd00::1]:7000");
	strcpy(in.version, "0.1.0");
	n = nodemeta_encode(&in, buf, sizeof(buf));
	assert_int_equal(n, 1 + 1 + 13 + 1 + 14 + 1 + 5 + 1 + 1);
	assert_int_equal(nodemeta_decode(&out, buf, (size_t)n), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	strcpy(in.mesh, "10.0.0.1:7001");
	strcpy(in.repl, "00aa11bb22cc33dd:7:0123456789abcdef:42");
	n = nodemeta_encode(&in, buf, sizeof(buf));
	assert_int_equal(nodemeta_decode(&out, buf, (size_t)n), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	/* a newer writer appends fields: ignored */
	buf[n] = 3;
	memcpy(buf + n + 1, "new", 3);
	assert_int_equal(nodemeta_decode(&out, buf, (size_t)n + 4), 0);
	assert_string_equal(out.version, "0.1.0");
	/* an older one wrote fewer: the rest is "" */
	assert_int_equal(nodemeta_decode(&out, buf, 1 + 1 + 13), 0);
	assert_string_equal(out.http, "10.0.0.1:8080");
	assert_string_equal(out.tunnel, "");
	/* cut inside a field */
	for (i = 2; i < 15; i++)
		assert_int_equal(nodemeta_decode(&out, buf, (size_t)i), -EINVAL);
	assert_int_equal(nodemeta_encode(&in, buf, 10), -ENOSPC);
	assert_int_equal(nodemeta_decode(&out, "", 0), 0);
	assert_string_equal(out.http, "");
}

static void
test_hostile(void **state)
{
	struct nodemeta m;
	const uint8_t bad_version[] = { 2, 0 };
	const uint8_t nul[] = { 1, 3, 'a', 0, 'b' };
	const uint8_t too_long[] = { 1, 200 };
	char big[NODEMETA_STR_MAX + 2];
	uint8_t buf[1024];

	assert_int_equal(nodemeta_decode(&m, bad_version, 2), -EINVAL);
	assert_int_equal(nodemeta_decode(&m, nul, sizeof(nul)), -EINVAL);
	assert_string_equal(m.http, "");
	assert_int_equal(nodemeta_decode(&m, too_long, sizeof(too_long)), -EINVAL);
	memset(&m, 0, sizeof(m));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(m.http, big, NODEMETA_STR_MAX);
	assert_true(nodemeta_encode(&m, buf, sizeof(buf)) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
