/* cidr: parsing address lists and matching IPv4/IPv6 peers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "cidr.h"

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	return ss;
}

static bool
in(const struct cidr_list *l, const char *text)
{
	struct sockaddr_storage ss = addr(text);

	return cidr_match(l, (struct sockaddr *)&ss);
}

static void
test_match(void **state)
{
	struct cidr_list l;
	char bad[80];

	assert_int_equal(cidr_parse(&l, "10.0.0.0/8, 192.0.2.7 2001:db8::/32,"
	    "198.51.100.128/25", bad, sizeof(bad)), 0);
	assert_int_equal(l.n, 4);
	assert_true(in(&l, "10.1.2.3"));
	assert_true(in(&l, "192.0.2.7"));
	assert_false(in(&l, "192.0.2.8"));
	assert_true(in(&l, "2001:db8::1"));
	assert_false(in(&l, "2001:db9::1"));
	assert_true(in(&l, "198.51.100.200"));
	assert_false(in(&l, "198.51.100.100"));
	assert_true(in(&l, "::ffff:10.9.9.9"));         /* mapped v4 */
	assert_false(in(&l, "11.0.0.1"));
	cidr_fini(&l);
}

static void
test_edges(void **state)
{
	struct cidr_list l;
	char bad[80];

	assert_int_equal(cidr_parse(&l, "", bad, sizeof(bad)), 0);
	assert_int_equal(l.n, 0);
	assert_false(in(&l, "127.0.0.1"));
	assert_int_equal(cidr_parse(&l, "0.0.0.0/0", bad, sizeof(bad)), 0);
	assert_true(in(&l, "203.0.113.9"));
	assert_false(in(&l, "2001:db8::1"));            /* v4 /0 is v4 only */
	cidr_fini(&l);
	assert_int_equal(cidr_parse(&l, "::/0", bad, sizeof(bad)), 0);
	assert_true(in(&l, "2001:db8::1"));
	assert_true(in(&l, "127.0.0.1"));               /* as ::ffff:127.0.0.1 */
	cidr_fini(&l);
	assert_int_equal(cidr_parse(&l, "10.0.0.0/33", bad, sizeof(bad)), -EINVAL);
	assert_string_equal(bad, "10.0.0.0/33");
	assert_int_equal(cidr_parse(&l, "10.0.0.0/8,nonsense", bad, sizeof(bad)), -EINVAL);
	assert_string_equal(bad, "nonsense");
	assert_int_equal(cidr_parse(&l, "2001:db8::/129", bad, sizeof(bad)), -EINVAL);
	assert_int_equal(cidr_parse(&l, "1.2.3.4/", bad, sizeof(bad)), -EINVAL);
	assert_int_equal(cidr_parse(&l, "1.2.3.4/-1", bad, sizeof(bad)), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
