/* regionmap: edgeProxy's default table, the file form, its errors, and a
 * format/parse round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "regionmap.h"

static const char *
region_of(const struct regionmap *m, const char *country)
{
	static char buf[LBPICK_REGION_MAX + 1];
	const struct lbpick_region *r = regionmap_region(m, lbpick_country(country));

	return r != NULL ? lbpick_region_name(r, buf) : "-";
}

static void
test_default(void **state)
{
	static const char *const table[][2] = {
		{ "BR", "sa" }, { "AR", "sa" }, { "CL", "sa" }, { "PE", "sa" },
		{ "CO", "sa" }, { "UY", "sa" }, { "PY", "sa" }, { "BO", "sa" },
		{ "EC", "sa" }, { "VE", "sa" },
		{ "US", "us" }, { "CA", "us" }, { "MX", "us" },
		{ "PT", "eu" }, { "ES", "eu" }, { "FR", "eu" }, { "DE", "eu" },
		{ "NL", "eu" }, { "IT", "eu" }, { "GB", "eu" }, { "IE", "eu" },
		{ "BE", "eu" }, { "CH", "eu" }, { "AT", "eu" }, { "PL", "eu" },
		{ "CZ", "eu" }, { "SE", "eu" }, { "NO", "eu" }, { "DK", "eu" },
		{ "FI", "eu" }, { "RU", "eu" }, { "UA", "eu" },
		{ "JP", "ap" }, { "KR", "ap" }, { "TW", "ap" }, { "HK", "ap" },
		{ "SG", "ap" }, { "MY", "ap" }, { "TH", "ap" }, { "VN", "ap" },
		{ "ID", "ap" }, { "PH", "ap" }, { "AU", "ap" }, { "NZ", "ap" },
		{ "CN", "ap" }, { "IN", "ap" },
	};
	struct regionmap m;
	size_t i, mapped = 0;

	regionmap_default(&m);
	assert_int_equal(m.n, 4);
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		assert_string_equal(region_of(&m, table[i][0]), table[i][1]);
	for (i = 0; i < 26 * 26; i++)
		mapped += m.of[i] != 0;
	assert_int_equal(mapped, sizeof(table) / sizeof(table[0]));
	assert_string_equal(region_of(&m, "ZA"), "-");
	assert_string_equal(region_of(&m, "de"), "eu");
	assert_null(regionmap_region(&m, 0));
	assert_null(regionmap_region(&m, 0xffff));
}

static void
test_file_form(void **state)
{
	static const char text[] =
	    "# regions of a three-POP deployment\n"
	    "\n"
	    "sa-east = BR, AR,CL  # South America\n"
	    "us-east.1 =\tus ca\r\n"
	    "eu_central = DE FR\n"
	    "sa-east = uy\n"
	    "   \n"
	    "ap=JP";
	struct regionmap m;
	char err[200], out[4096];
	size_t n;

	assert_int_equal(regionmap_parse(&m, text, sizeof(text) - 1, err,
	    sizeof(err)), 0);
	assert_int_equal(m.n, 4);
	assert_string_equal(region_of(&m, "BR"), "sa-east");
	assert_string_equal(region_of(&m, "UY"), "sa-east");
	assert_string_equal(region_of(&m, "CA"), "us-east.1");
	assert_string_equal(region_of(&m, "FR"), "eu_central");
	assert_string_equal(region_of(&m, "JP"), "ap");
	assert_string_equal(region_of(&m, "GB"), "-");
	n = regionmap_format(&m, out, sizeof(out));
	assert_int_equal(n, strlen(out));
	assert_string_equal(out, "sa-east = AR BR CL UY\nus-east.1 = CA US\n"
	    "eu_central = DE FR\nap = JP\n");
	/* cut short: says how much it needs */
	assert_int_equal(regionmap_format(&m, out, 10), n);
	assert_int_equal(strlen(out), 9);
	/* an empty file is an empty map */
	assert_int_equal(regionmap_parse(&m, "", 0, err, sizeof(err)), 0);
	assert_int_equal(m.n, 0);
	assert_string_equal(region_of(&m, "BR"), "-");
}

static void
bad(const char *text, const char *want)
{
	struct regionmap m;
	char err[200];

	assert_int_equal(regionmap_parse(&m, text, strlen(text), err,
	    sizeof(err)), -EINVAL);
	if (strstr(err, want) == NULL)
		fail_msg("'%s': error '%s' lacks '%s'", text, err, want);
}

static void
test_errors(void **state)
{
	char big[REGIONMAP_LINE_MAX + 40], *many;
	size_t i, off = 0;

	bad("sa BR", "line 1: expected '='");
	bad("\n= BR", "line 2: expected a region name");
	bad("sa = BRA", "line 1: expected a two-letter country code at column 6");
	bad("sa = B", "column 6");
	bad("sa = B1", "column 6");
	bad("sa = BR\nus = US BR", "line 2: BR is already in region sa");
	bad("a-region-name-of-17 = BR", "longer than 16");
	bad("sa/x = BR", "expected '='");
	memset(big, ' ', sizeof(big));
	memcpy(big, "sa = BR", 7);
	big[sizeof(big) - 1] = '\0';
	bad(big, "line 1: longer than");
	many = malloc(REGIONMAP_MAX_REGIONS * 16 + 64);
	assert_non_null(many);
	for (i = 0; i <= REGIONMAP_MAX_REGIONS; i++)
		off += (size_t)sprintf(many + off, "r%zu =\n", i);
	bad(many, "line 65: more than 64 regions");
	free(many);
	{
		struct regionmap m;
		char err[200];

		assert_int_equal(regionmap_parse(&m, "sa = BR\0 US", 11, err,
		    sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "NUL"));
	}
}

static void
test_load(void **state)
{
	char path[] = "/tmp/warren-regionmap.XXXXXX", err[300];
	struct regionmap m;
	FILE *f;
	int fd, i;

	assert_int_equal(regionmap_load(&m, "/nonexistent/map", err, sizeof(err)),
	    -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/map"));
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(f = fdopen(fd, "w"));
	fputs("us = US\neu = DE\nsa = BR BR XX1\n", f);
	fclose(f);
	assert_int_equal(regionmap_load(&m, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "line 3"));
	assert_non_null(f = fopen(path, "w"));
	fputs("us = US\neu = DE\n", f);
	fclose(f);
	assert_int_equal(regionmap_load(&m, path, err, sizeof(err)), 0);
	assert_string_equal(region_of(&m, "DE"), "eu");
	/* over the size cap */
	assert_non_null(f = fopen(path, "w"));
	for (i = 0; i < REGIONMAP_FILE_MAX / 8 + 1; i++)
		fputs("# ......\n", f);
	fclose(f);
	assert_int_equal(regionmap_load(&m, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "over 65536 bytes"));
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_file_form),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
