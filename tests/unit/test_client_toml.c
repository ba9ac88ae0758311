/* client_toml and client_conf's TOML: frp's frpc.toml shape read into the
 * same tunnels as the legacy INI, unsupported parts named; syntax errors
 * with a line number; every bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_conf.h"
#include "client/client_toml.h"
#include "client/warren.h"

struct seen {
	int n;
	char line[32][600];
};

static int
collect(void *arg, const char *table, int index, const char *key,
    const struct client_toml_value *v)
{
	struct seen *s = arg;

	if (s->n < 32)
		snprintf(s->line[s->n++], sizeof(s->line[0]), "%s[%d] %s=%d:%s",
		    table, index, key, (int)v->type, v->text);
	return 0;
}

static int
parse(const char *text, struct seen *s, char *err)
{
	memset(s, 0, sizeof(*s));
	return client_toml_parse(text, strlen(text), collect, s, err, 200);
}

static void
test_values(void **state)
{
	struct seen s;
	char err[200];

	assert_int_equal(parse("a = \"x\\ty\\u00e9\" # c\nb.c = 'lit\\n'\n"
	    "\"q k\" = -1_000\nd = [1, 2,\n 3]\ne = { f = true, g.h = 1.5 }\n"
	    "[t.u]\nv = false\n[[arr]]\nw = 1\n[[arr]]\nw = 2\n", &s, err), 0);
	assert_int_equal(s.n, 9);
	assert_string_equal(s.line[0], "[-1] a=1:x\ty\xc3\xa9");
	assert_string_equal(s.line[1], "[-1] b.c=1:lit\\n");
	assert_string_equal(s.line[2], "[-1] q k=2:-1000");
	assert_string_equal(s.line[3], "[-1] d=5:1,2,3");
	assert_string_equal(s.line[4], "[-1] e.f=4:true");
	assert_string_equal(s.line[5], "[-1] e.g.h=3:1.5");
	assert_string_equal(s.line[6], "t.u[-1] v=4:false");
	assert_string_equal(s.line[7], "arr[0] w=2:1");
	assert_string_equal(s.line[8], "arr[1] w=2:2");
	/* arrays of tables or arrays inside an array are skipped, counted */
	assert_int_equal(parse("h = [ { n = \"a]\", v = [1, {x = 2}] }, [3] ]\n",
	    &s, err), 0);
	assert_string_equal(s.line[0], "[-1] h=5:{},{}");
}

static void
test_errors(void **state)
{
	static const char *bad[] = {
		"a = \"open\n", "a = \"\"\"multi\"\"\"\n", "a = 1979-05-27T07:32:00Z\n",
		"a = [[1, {b = [}]]\n", "a = bare\n", "= 1\n", "a 1\n", "[t\n", "[[t]\n",
		"a = 1 b = 2\n", "a = {b = {c = {d = {e = {f = 1}}}}}\n",
		"a = \"\\x\"\n", "a = \"\\ud800\"\n", "a = [1 2]\n", "a = [1,\n",
	};
	struct seen s;
	char err[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &s, err), -1);
		assert_non_null(strstr(err, "line "));
	}
	assert_int_equal(parse("\n\n# x\nok = 1\nbad = ?\n", &s, err), -1);
	assert_non_null(strstr(err, "line 5"));
}

static void
test_bounds(void **state)
{
	char *big = malloc(CLIENT_TOML_MAX_VALUE + 100);
	struct seen s;
	char err[200];
	size_t n;

	n = (size_t)sprintf(big, "a = \"");
	memset(big + n, 'x', CLIENT_TOML_MAX_VALUE + 10);
	strcpy(big + n + CLIENT_TOML_MAX_VALUE + 10, "\"\n");
	assert_int_equal(parse(big, &s, err), -1);
	assert_non_null(strstr(err, "too long"));
	free(big);
}

static void
test_frpc_toml(void **state)
{
	struct client_conf cc;
	FILE *f;
	char *text;
	size_t n;

	f = fopen("tests/unit/data/frpc.toml", "rb");
	assert_non_null(f);
	text = calloc(1, 1 << 16);
	n = fread(text, 1, (1 << 16) - 1, f);
	fclose(f);
	memset(&cc, 0, sizeof(cc));
	assert_int_equal(client_conf_parse_toml(&cc, text, n), 0);
	assert_string_equal(cc.server_addr, "edge.example.com");
	assert_int_equal(cc.server_port, 7000);
	assert_string_equal(cc.token, "s3cr\xc3\xa9t");
	assert_string_equal(cc.proxy, "http://user:pwd@192.168.1.128:8080");
	assert_int_equal(cc.ntunnels, 3);       /* udp and the plugin left out */
	assert_string_equal(cc.tunnels[0].name, "ssh");
	assert_int_equal(cc.tunnels[0].kind, WARREN_TCP);
	assert_int_equal(cc.tunnels[0].local_port, 22);
	assert_int_equal(cc.tunnels[0].remote_port, 6000);
	assert_string_equal(cc.tunnels[1].name, "web");
	assert_int_equal(cc.tunnels[1].kind, WARREN_HTTP);
	assert_int_equal(cc.tunnels[1].local_port, 8080);
	assert_string_equal(cc.tunnels[1].local_ip, "127.0.0.1");
	assert_string_equal(cc.tunnels[1].domains, "web.example.com,www.example.com");
	assert_string_equal(cc.tunnels[1].subdomain, "web");
	assert_string_equal(cc.tunnels[1].http_user, "admin");
	assert_string_equal(cc.tunnels[1].http_pwd, "p@ss");
	assert_int_equal(cc.tunnels[1].proxy_protocol, 2);
	assert_string_equal(cc.tunnels[2].name, "secure");  /* name after type */
	assert_int_equal(cc.tunnels[2].kind, WARREN_TLS);
	/* each ignored key named once */
	assert_non_null(strstr(cc.ignored, "ssh.loadBalancer.group"));
	assert_non_null(strstr(cc.ignored, "transport.tls.enable"));
	assert_non_null(strstr(cc.ignored, "web.healthCheck.type"));
	assert_non_null(strstr(cc.ignored, "web.healthCheck.httpHeaders"));
	assert_non_null(strstr(cc.ignored, "dns.type=udp"));
	assert_non_null(strstr(cc.ignored, "unix_sock.plugin"));
	assert_non_null(strstr(cc.ignored, "visitors"));
	assert_null(strstr(strstr(cc.ignored, "visitors") + 1, "visitors"));
	client_conf_fini(&cc);
	free(text);
}

static void
test_frpc_toml_errors(void **state)
{
	static const struct { const char *text, *want; } bad[] = {
		{ "[[proxies]]\ntype = \"tcp\"\nlocalPort = 1\n", "no name" },
		{ "[[proxies]]\nname = \"a\"\ntype = \"tcp\"\n", "local_port" },
		{ "[[proxies]]\nname = \"a\"\ntype = \"tcp\"\nlocalPort = 70000\n",
		    "local_port" },
		{ "[[proxies]]\nname = \"a\"\ntype = \"http\"\nlocalPort = 1\n"
		    "[[proxies]]\nname = \"a\"\ntype = \"http\"\nlocalPort = 2\n", "twice" },
		{ "serverPort = \"x\"\n", "server_port" },
		{ "serverAddr = \n", "line 1" },
		{ "", "no tunnel" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct client_conf cc;

		memset(&cc, 0, sizeof(cc));
		assert_int_equal(client_conf_parse_toml(&cc, bad[i].text,
		    strlen(bad[i].text)), -1);
		if (strstr(cc.error, bad[i].want) == NULL)
			fail_msg("%s: error %s", bad[i].text, cc.error);
		client_conf_fini(&cc);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_frpc_toml),
		cmocka_unit_test(test_frpc_toml_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
