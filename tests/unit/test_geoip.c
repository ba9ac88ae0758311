/* geoip: a GeoLite2-layout database this test writes itself, the real
 * flat-layout country database that `make deps` fetches
 * (tests/data/geo-country.mmdb, see tests/data/README.md), and the whole
 * path from a client address to a backend with the default region map.
 * The addresses are only looked up as data. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "geoip.h"
#include "lbpick.h"
#include "regionmap.h"
#include "mmdbw.inc"

#define REAL_DB_DEFAULT "tests/data/geo-country.mmdb"

static char tmpdir[64];

static int
setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/warren-geoip.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

static const char *
cc(uint16_t c)
{
	static char buf[4][3];
	static int i;

	i = (i + 1) % 4;
	return lbpick_country_name(c, buf[i]);
}

/* {"country": {"iso_code": code, "names": {"en": name}}} */
static size_t
rec_geolite(struct mmdbw *w, const char *key, const char *code)
{
	size_t off = w->dlen;

	mmdbw_map(w->data, &w->dlen, MMDBW_DATA, 2);
	mmdbw_str(w->data, &w->dlen, MMDBW_DATA, key);
	mmdbw_map(w->data, &w->dlen, MMDBW_DATA, 2);
	mmdbw_str(w->data, &w->dlen, MMDBW_DATA, "geoname_id");
	mmdbw_uint(w->data, &w->dlen, MMDBW_DATA, 6, 3469034);
	mmdbw_str(w->data, &w->dlen, MMDBW_DATA, "iso_code");
	mmdbw_str(w->data, &w->dlen, MMDBW_DATA, code);
	mmdbw_str(w->data, &w->dlen, MMDBW_DATA, "continent");
	mmdbw_map(w->data, &w->dlen, MMDBW_DATA, 1);
	mmdbw_str(w->data, &w->dlen, MMDBW_DATA, "code");
	mmdbw_str(w->data, &w->dlen, MMDBW_DATA, "SA");
	return off;
}

static void
test_geolite2_layout(void **state)
{
	struct mmdbw *w = malloc(sizeof(*w));
	struct geoip *g = NULL;
	char path[128], err[256];
	size_t br, de, jp, au, none, bad;

	assert_non_null(w);
	mmdbw_init(w);
	br = rec_geolite(w, "country", "BR");
	de = rec_geolite(w, "country", "DE");
	jp = rec_geolite(w, "country", "JP");
	au = rec_geolite(w, "registered_country", "AU");   /* no country */
	/* a country without an iso_code */
	none = w->dlen;
	mmdbw_map(w->data, &w->dlen, MMDBW_DATA, 1);
	mmdbw_str(w->data, &w->dlen, MMDBW_DATA, "country");
	mmdbw_map(w->data, &w->dlen, MMDBW_DATA, 1);
	mmdbw_str(w->data, &w->dlen, MMDBW_DATA, "geoname_id");
	mmdbw_uint(w->data, &w->dlen, MMDBW_DATA, 6, 1);
	/* a flat code that is not two letters */
	bad = w->dlen;
	mmdbw_map(w->data, &w->dlen, MMDBW_DATA, 1);
	mmdbw_str(w->data, &w->dlen, MMDBW_DATA, "country_code");
	mmdbw_str(w->data, &w->dlen, MMDBW_DATA, "USA");
	mmdbw_insert(w, "200.160.0.0", 16, br);
	mmdbw_insert(w, "85.214.128.0", 17, de);
	mmdbw_insert(w, "2001:db8::", 32, jp);
	mmdbw_insert(w, "198.51.100.0", 24, au);
	mmdbw_insert(w, "192.0.2.0", 24, none);
	mmdbw_insert(w, "192.168.0.0", 16, br);
	mmdbw_insert(w, "fd00::", 8, jp);
	mmdbw_insert(w, "203.0.113.0", 24, bad);
	snprintf(path, sizeof(path), "%s/GeoLite2-Country.mmdb", tmpdir);
	assert_int_equal(mmdbw_write(w, path, "GeoLite2-Country"), 0);
	free(w);

	assert_int_equal(geoip_open(&g, path, err, sizeof(err)), 0);
	assert_string_equal(geoip_type(g), "GeoLite2-Country");
	assert_string_equal(cc(geoip_country_text(g, "200.160.2.3")), "BR");
	assert_string_equal(cc(geoip_country_text(g, "200.160.255.255")), "BR");
	assert_string_equal(cc(geoip_country_text(g, "200.161.0.1")), "");
	assert_string_equal(cc(geoip_country_text(g, "85.214.132.117")), "DE");
	assert_string_equal(cc(geoip_country_text(g, "85.214.127.1")), "");
	assert_string_equal(cc(geoip_country_text(g, "2001:db8:1::7")), "JP");
	assert_string_equal(cc(geoip_country_text(g, "2001:db9::7")), "");
	/* IPv4-mapped IPv6 is looked up as IPv4 */
	assert_string_equal(cc(geoip_country_text(g, "::ffff:200.160.2.3")), "BR");
	/* registered_country when there is no country */
	assert_string_equal(cc(geoip_country_text(g, "198.51.100.9")), "AU");
	assert_string_equal(cc(geoip_country_text(g, "192.0.2.1")), "");
	assert_string_equal(cc(geoip_country_text(g, "203.0.113.1")), "");
	assert_string_equal(cc(geoip_country_text(g, "127.0.0.1")), "");
	assert_string_equal(cc(geoip_country_text(g, "not an address")), "");
	/* a private range the database places is still not placed */
	assert_string_equal(cc(geoip_country_text(g, "192.168.7.7")), "");
	assert_string_equal(cc(geoip_country_text(g, "fd00::1")), "");
	geoip_free(g);
	geoip_free(NULL);
}

static void
test_open_errors(void **state)
{
	struct geoip *g = NULL;
	char path[128], err[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/missing.mmdb", tmpdir);
	assert_int_equal(geoip_open(&g, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	snprintf(path, sizeof(path), "%s/garbage.mmdb", tmpdir);
	assert_non_null(f = fopen(path, "wb"));
	fputs("this is not a MaxMind database\n", f);
	fclose(f);
	assert_int_equal(geoip_open(&g, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cannot open GeoIP database"));
	assert_null(g);
}

static const char *
real_db(void)
{
	const char *p = getenv("WARREN_GEOIP_TEST_DB");

	p = p != NULL ? p : REAL_DB_DEFAULT;
	if (access(p, R_OK) != 0)
		fail_msg("%s is missing: run 'make deps' (tests/geoip_fetch.sh)", p);
	return p;
}

static void
test_real_flat_layout(void **state)
{
	struct geoip *g = NULL;
	char err[256];

	assert_int_equal(geoip_open(&g, real_db(), err, sizeof(err)), 0);
	assert_string_equal(cc(geoip_country_text(g, "200.160.2.3")), "BR");
	assert_string_equal(cc(geoip_country_text(g, "8.8.8.8")), "US");
	assert_string_equal(cc(geoip_country_text(g, "45.33.32.156")), "US");
	assert_string_equal(cc(geoip_country_text(g, "85.214.132.117")), "DE");
	assert_string_equal(cc(geoip_country_text(g, "133.242.0.1")), "JP");
	assert_string_equal(cc(geoip_country_text(g, "1.1.1.1")), "AU");
	assert_string_equal(cc(geoip_country_text(g, "::ffff:85.214.132.117")), "DE");
	/* private and loopback: nothing (this file maps 172.16/12 and
	 * 192.168/16 to AU; geoip never places a private address) */
	assert_string_equal(cc(geoip_country_text(g, "127.0.0.1")), "");
	assert_string_equal(cc(geoip_country_text(g, "10.1.2.3")), "");
	assert_string_equal(cc(geoip_country_text(g, "192.168.1.1")), "");
	assert_string_equal(cc(geoip_country_text(g, "172.16.0.1")), "");
	assert_string_equal(cc(geoip_country_text(g, "100.64.0.1")), "");
	assert_string_equal(cc(geoip_country_text(g, "::ffff:192.168.1.1")), "");
	assert_string_equal(cc(geoip_country_text(g, "::1")), "");
	assert_string_equal(cc(geoip_country_text(g, "fd00::1")), "");
	assert_string_equal(cc(geoip_country_text(g, "fe80::1")), "");
	geoip_free(g);
}

/* client address -> country -> region -> backend, over edgeProxy's example
 * table (one backend per region) on a node in "sa" */
static void
test_real_address_to_backend(void **state)
{
	static const struct {
		const char *ip, *backend;
	} cases[] = {
		{ "200.160.2.3", "sa" },        /* BR: same region */
		{ "8.8.8.8", "us" },
		{ "85.214.132.117", "eu" },
		{ "133.242.0.1", "sa" },        /* JP: ap has no backend, local POP */
		{ "127.0.0.1", "sa" },          /* no location: local POP */
	};
	struct lbpick_cand v[3];
	const char *names[3] = { "eu", "sa", "us" };
	struct lbpick_where local, client;
	struct regionmap m;
	struct geoip *g = NULL;
	const struct lbpick_region *r;
	char err[256];
	size_t i;
	long k;

	regionmap_default(&m);
	memset(v, 0, sizeof(v));
	for (i = 0; i < 3; i++) {
		lbpick_region(&v[i].region, names[i], 2);
		v[i].weight = 2;
		v[i].soft_limit = 50;
		v[i].hard_limit = 100;
	}
	memset(&local, 0, sizeof(local));
	lbpick_region(&local.region, "sa", 2);
	assert_int_equal(geoip_open(&g, real_db(), err, sizeof(err)), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&client, 0, sizeof(client));
		client.country = geoip_country_text(g, cases[i].ip);
		if ((r = regionmap_region(&m, client.country)) != NULL)
			client.region = *r;
		k = lbpick_pick(v, 3, &client, &local, -1);
		assert_true(k >= 0);
		if (strcmp(names[k], cases[i].backend) != 0)
			fail_msg("%s (%s) went to %s, not %s", cases[i].ip,
			    cc(client.country), names[k], cases[i].backend);
	}
	geoip_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geolite2_layout),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_real_flat_layout),
		cmocka_unit_test(test_real_address_to_backend),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
