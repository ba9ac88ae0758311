/* client_conf and client_backoff: frp-style INI parsing (sections, defaults,
 * custom_domains, errors with sentences) and reconnect delays (growth, cap,
 * jitter bounds, reset after a good session). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/client_backoff.h"
#include "client/client_conf.h"
#include "client/warren.h"

static const char frp_example[] =
    "# frp-style client configuration\n"
    "[common]\n"
    "server_addr = 10.0.0.7\n"
    "server_port = 7443\n"
    "token =\n"
    "log_level = info\n"
    "\n"
    "[web]\n"
    "type = http\n"
    "local_port = 8000\n"
    "local_ip = 127.0.0.1\n"
    "subdomain = alice\n"
    "custom_domains = app.example.test, www.example.test\n"
    "use_compression = true\n"
    "\n"
    "[db]\n"
    "type = tcp\n"
    "local_port = 5432\n"
    "remote_port = 20010\n";

static void
test_frp_example(void **state)
{
	struct client_conf cc;
	char server[300];

	memset(&cc, 0, sizeof(cc));
	assert_int_equal(client_conf_parse(&cc, frp_example), 0);
	assert_string_equal(cc.server_addr, "10.0.0.7");
	assert_int_equal(cc.server_port, 7443);
	assert_non_null(cc.token);
	assert_string_equal(cc.token, "");
	assert_string_equal(client_conf_server(&cc, server, sizeof(server)),
	    "10.0.0.7:7443");
	assert_int_equal(cc.ntunnels, 2);

	assert_string_equal(cc.tunnels[0].name, "web");
	assert_int_equal(cc.tunnels[0].kind, WARREN_HTTP);
	assert_int_equal(cc.tunnels[0].local_port, 8000);
	assert_string_equal(cc.tunnels[0].local_ip, "127.0.0.1");
	assert_string_equal(cc.tunnels[0].subdomain, "alice");
	assert_string_equal(cc.tunnels[0].domains,
	    "app.example.test,www.example.test");
	assert_int_equal(cc.tunnels[0].remote_port, 0);

	assert_string_equal(cc.tunnels[1].name, "db");
	assert_int_equal(cc.tunnels[1].kind, WARREN_TCP);
	assert_int_equal(cc.tunnels[1].local_port, 5432);
	assert_string_equal(cc.tunnels[1].local_ip, "127.0.0.1");  /* default */
	assert_null(cc.tunnels[1].subdomain);
	assert_null(cc.tunnels[1].domains);
	assert_int_equal(cc.tunnels[1].remote_port, 20010);

	/* unknown frp keys are skipped and listed, not fatal */
	assert_non_null(strstr(cc.ignored, "common.log_level"));
	assert_non_null(strstr(cc.ignored, "web.use_compression"));
	client_conf_fini(&cc);
	client_conf_fini(&cc);  /* idempotent */
}

static void
test_defaults(void **state)
{
	struct client_conf cc;
	char server[300];

	memset(&cc, 0, sizeof(cc));
	assert_int_equal(client_conf_parse(&cc,
	    "[a]\ntype=tcp\nlocal_port=22\n"), 0);
	assert_null(cc.server_addr);
	assert_null(cc.token);
	assert_string_equal(client_conf_server(&cc, server, sizeof(server)),
	    "127.0.0.1:7000");
	client_conf_fini(&cc);

	memset(&cc, 0, sizeof(cc));
	assert_int_equal(client_conf_parse(&cc,
	    "[common]\nserver_addr = ::1\n[a]\ntype=http\nlocal_port=80\n"
	    "custom_domains = , x.test ,,y.test,\n"), 0);
	assert_string_equal(client_conf_server(&cc, server, sizeof(server)),
	    "[::1]:7000");
	assert_string_equal(cc.tunnels[0].domains, "x.test,y.test");
	client_conf_fini(&cc);
}

static void
test_order_and_split_sections(void **state)
{
	struct client_conf cc;

	memset(&cc, 0, sizeof(cc));
	assert_int_equal(client_conf_parse(&cc,
	    "[z]\ntype=http\nlocal_port=1\n[a]\ntype=tcp\nlocal_port=2\n"
	    "[m]\nlocal_port=3\ntype=http\n"), 0);
	assert_int_equal(cc.ntunnels, 3);
	assert_string_equal(cc.tunnels[0].name, "z");
	assert_string_equal(cc.tunnels[1].name, "a");
	assert_string_equal(cc.tunnels[2].name, "m");
	client_conf_fini(&cc);

	/* a section that comes back later is a mistake, not a merge */
	memset(&cc, 0, sizeof(cc));
	assert_int_equal(client_conf_parse(&cc,
	    "[a]\ntype=tcp\n[b]\ntype=tcp\nlocal_port=2\n[a]\nlocal_port=1\n"), -1);
	assert_non_null(strstr(cc.error, "[a] appears twice"));
	client_conf_fini(&cc);
}

struct bad_case {
	const char *text;
	const char *want;       /* substring of the error sentence */
};

static void
test_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "[common]\nserver_addr=1.2.3.4\n", "defines no tunnel" },
		{ "", "defines no tunnel" },
		{ "[w]\nlocal_port=80\n", "[w] has no type" },
		{ "[w]\ntype=http\n", "[w] has no local_port" },
		{ "[w]\ntype=udp\nlocal_port=53\n", "type 'udp' is not supported" },
		{ "[w]\ntype=xtcp\nlocal_port=443\n", "use http, tcp or tls" },
		{ "[w]\ntype=http\nlocal_port=0\n", "local_port '0'" },
		{ "[w]\ntype=http\nlocal_port=70000\n", "local_port '70000'" },
		{ "[w]\ntype=http\nlocal_port=80x\n", "local_port '80x'" },
		{ "[w]\ntype=tcp\nlocal_port=80\nremote_port=-1\n", "remote_port '-1'" },
		{ "[w]\ntype=tcp\nlocal_port=80\nsubdomain=a\n", "for http tunnels" },
		{ "[w]\ntype=http\nlocal_port=80\nremote_port=9\n", "for tcp tunnels" },
		{ "[common]\nserver_port=http\n[w]\ntype=tcp\nlocal_port=1\n",
		    "server_port 'http'" },
		{ "type=http\n", "outside any section" },
		{ "[w\n", "syntax error on line 1" },
	};
	struct client_conf cc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&cc, 0, sizeof(cc));
		assert_int_equal(client_conf_parse(&cc, cases[i].text), -1);
		if (strstr(cc.error, cases[i].want) == NULL)
			fail_msg("case %zu: error '%s' lacks '%s'", i, cc.error,
			    cases[i].want);
		client_conf_fini(&cc);
	}
}

static void
test_file(void **state)
{
	char path[256];
	struct client_conf cc;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/test_client_conf_XXXXXX", P_tmpdir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fputs(frp_example, f);
	fclose(f);
	memset(&cc, 0, sizeof(cc));
	assert_int_equal(client_conf_load(&cc, path), 0);
	assert_int_equal(cc.ntunnels, 2);
	client_conf_fini(&cc);
	unlink(path);

	memset(&cc, 0, sizeof(cc));
	assert_int_equal(client_conf_load(&cc, path), -1);
	assert_non_null(strstr(cc.error, "cannot read config file"));
	client_conf_fini(&cc);
}

static void
test_backoff_growth(void **state)
{
	struct client_backoff b;
	static const uint32_t base[] = { 200, 400, 800, 1600, 3200, 6400, 12800,
	    25600, 30000, 30000, 30000 };

	client_backoff_init(&b, 200, 30000, 10000);
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
		uint32_t lo, hi;

		assert_int_equal(client_backoff_base(&b), base[i]);
		/* rnd 0 gives the low end, UINT32_MAX-ish the high end */
		lo = client_backoff_next(&b, 0, 0);
		b.attempt--;
		hi = client_backoff_next(&b, 0, base[i] - base[i] / 2);
		assert_int_equal(lo, base[i] / 2);
		assert_int_equal(hi, base[i]);
	}
	/* the attempt counter saturates instead of overflowing the shift */
	for (int i = 0; i < 1000; i++)
		assert_true(client_backoff_next(&b, 0, (uint32_t)rand()) <= 30000);
	assert_int_equal(client_backoff_base(&b), 30000);
}

static void
test_backoff_jitter_bounds(void **state)
{
	struct client_backoff b;

	srand(7);
	for (int round = 0; round < 200; round++) {
		client_backoff_init(&b, 200, 30000, 10000);
		for (int i = 0; i < 12; i++) {
			uint32_t base = client_backoff_base(&b);
			uint32_t d = client_backoff_next(&b, 0, (uint32_t)rand());

			assert_true(d >= base / 2);
			assert_true(d <= base);
			assert_true(d <= 30000);
			assert_true(d >= 100);
		}
	}
}

static void
test_backoff_reset(void **state)
{
	struct client_backoff b;

	client_backoff_init(&b, 200, 30000, 10000);
	for (int i = 0; i < 6; i++)
		client_backoff_next(&b, 0, 0);
	assert_int_equal(client_backoff_base(&b), 12800);
	/* a session that stayed up 9.9 s does not reset the sequence */
	assert_int_equal(client_backoff_next(&b, 9999, 0), 6400);
	/* one that stayed up 10 s does: the next delay is the first one */
	assert_int_equal(client_backoff_next(&b, 10000, 0), 100);
	assert_int_equal(client_backoff_base(&b), 400);
	client_backoff_reset(&b);
	assert_int_equal(client_backoff_base(&b), 200);

	/* degenerate limits stay sane */
	client_backoff_init(&b, 0, 0, 0);
	assert_int_equal(client_backoff_base(&b), 1);
	assert_true(client_backoff_next(&b, 0, 12345) <= 1);
	client_backoff_init(&b, 500, 100, 0);
	assert_int_equal(client_backoff_base(&b), 500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frp_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_order_and_split_sections),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_backoff_growth),
		cmocka_unit_test(test_backoff_jitter_bounds),
		cmocka_unit_test(test_backoff_reset),
	};

	return cmocka_run_group_tests_name("client_conf", tests, NULL, NULL);
}
