/* conf: option values (sizes, durations, booleans) and the command line
 * forms every option takes: "--opt VALUE", "--opt=VALUE", a bare boolean
 * flag, "--flag WORD" and "--flag=VALUE" for booleans. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"

struct cfg {
	char *name;
	long long n;
	bool tls, quiet;
	size_t window;
	long long timeout;
	char *listen;
};

#define O(f) offsetof(struct cfg, f)
static const struct conf_opt opts[] = {
	{ "name", CONF_STR, O(name), "x", "name" },
	{ "n", CONF_INT, O(n), "1", "a number" },
	{ "tls", CONF_BOOL, O(tls), "true", "tls" },
	{ "quiet", CONF_BOOL, O(quiet), "false", "quiet" },
	{ "window", CONF_SIZE, O(window), "1MiB", "window" },
	{ "timeout", CONF_MS, O(timeout), "10s", "timeout" },
	{ "listen", CONF_LIST, O(listen), "", "repeatable" },
	CONF_END
};

static void
test_size(void **state)
{
	size_t v = 7;

	(void)state;
	assert_int_equal(conf_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(conf_parse_size("64KiB", &v), 0);
	assert_int_equal(v, 64 << 10);
	assert_int_equal(conf_parse_size("1 MiB", &v), 0);
	assert_int_equal(v, 1 << 20);
	v = 7;
	/* a sign or a blank first is refused, never wrapped to SIZE_MAX */
	assert_int_equal(conf_parse_size("-1", &v), -1);
	assert_int_equal(conf_parse_size(" -1", &v), -1);
	assert_int_equal(conf_parse_size("\t-1", &v), -1);
	assert_int_equal(conf_parse_size("+1", &v), -1);
	assert_int_equal(conf_parse_size(" 1", &v), -1);
	assert_int_equal(conf_parse_size("", &v), -1);
	assert_int_equal(conf_parse_size("1x", &v), -1);
	assert_int_equal(conf_parse_size("18446744073709551615GiB", &v), -1);
	assert_int_equal(conf_parse_size("99999999999999999999999", &v), -1);
	assert_int_equal(v, 7);
}

static void
test_ms_and_bool(void **state)
{
	long long ms = 0;
	bool b = false;

	(void)state;
	assert_int_equal(conf_parse_ms("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(conf_parse_ms("24h", &ms), 0);
	assert_int_equal(ms, 24LL * 3600 * 1000);
	assert_int_equal(conf_parse_ms(" -1", &ms), -1);
	assert_int_equal(conf_parse_bool("off", &b), 0);
	assert_false(b);
	assert_int_equal(conf_parse_bool("YES", &b), 0);
	assert_true(b);
	assert_int_equal(conf_parse_bool("maybe", &b), -1);
	assert_true(conf_bool_word("False"));
	assert_false(conf_bool_word("0"));
	assert_false(conf_bool_word("8000"));
}

static int
load(struct cfg *c, int argc, char **argv, int *argind)
{
	memset(c, 0, sizeof(*c));
	return conf_load(opts, c, argc, argv, "usage: t", argind);
}

static void
test_command_line(void **state)
{
	struct cfg c;
	int argind;

	(void)state;
	{
		/* "--opt VALUE" for booleans too, as for every other option */
		char *argv[] = { "t", "--tls", "false", "--quiet", "yes", "--window",
		    "64KiB", "--name", "alice", NULL };
		assert_int_equal(load(&c, 9, argv, &argind), 0);
		assert_false(c.tls);
		assert_true(c.quiet);
		assert_int_equal(c.window, 64 << 10);
		assert_string_equal(c.name, "alice");
		assert_int_equal(argind, 9);
		conf_fini(opts, &c);
	}
	{
		/* "--opt=VALUE" for every kind */
		char *argv[] = { "t", "--tls=off", "--quiet=1", "--window=4KiB",
		    "--name=bob", "--n=-3", "--timeout=2s", NULL };
		assert_int_equal(load(&c, 7, argv, &argind), 0);
		assert_false(c.tls);
		assert_true(c.quiet);
		assert_int_equal(c.window, 4096);
		assert_string_equal(c.name, "bob");
		assert_int_equal(c.n, -3);
		assert_int_equal(c.timeout, 2000);
		conf_fini(opts, &c);
	}
	{
		/* a bare flag sets true; a number after it stays positional */
		char *argv[] = { "t", "--quiet", "8000", "--tls", NULL };
		assert_int_equal(load(&c, 4, argv, &argind), 0);
		assert_true(c.quiet);
		assert_true(c.tls);
		assert_int_equal(argind, 3);
		assert_string_equal(argv[argind], "8000");
		conf_fini(opts, &c);
	}
	{
		char *argv[] = { "t", "--window", " -1", NULL };
		assert_int_equal(load(&c, 3, argv, &argind), -1);
		conf_fini(opts, &c);
	}
	{
		char *argv[] = { "t", "--tls=maybe", NULL };
		assert_int_equal(load(&c, 2, argv, &argind), -1);
		conf_fini(opts, &c);
	}
}

/* A list option: repeated in the file or on the command line, the values
 * add up; a later source replaces the earlier one's whole list. */
static void
test_list(void **state)
{
	char path[] = "/tmp/warren-test-conf-XXXXXX";
	struct cfg c;
	int argind, fd;
	FILE *f;

	(void)state;
	{
		char *argv[] = { "t", "--listen", "a:1=x", "--listen=b:2", NULL };
		assert_int_equal(load(&c, 4, argv, &argind), 0);
		assert_string_equal(c.listen, "a:1=x,b:2");
		conf_fini(opts, &c);
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "listen = f:1=app\nlisten = f:2\n");
	fclose(f);
	{
		char *argv[] = { "t", "--config", path, NULL };
		assert_int_equal(load(&c, 3, argv, &argind), 0);
		assert_string_equal(c.listen, "f:1=app,f:2");
		conf_fini(opts, &c);
	}
	{
		char *argv[] = { "t", "--config", path, "--listen", "c:3", NULL };
		assert_int_equal(load(&c, 5, argv, &argind), 0);
		assert_string_equal(c.listen, "c:3");
		conf_fini(opts, &c);
	}
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_ms_and_bool),
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_list),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
