/* epenv: edgeProxy's environment variables become the WARREN_* names of
 * the options that do the same; the warren names win; the *_ENABLED gates
 * and edgeProxy's defaults; seconds; an option the program lacks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epenv.h"
#include "nodeconf.h"

#define ENV_MAX 64

struct env {
	const char *name[ENV_MAX];
	char *value[ENV_MAX];
	int n;
};

static const char *
env_get(void *arg, const char *name)
{
	struct env *e = arg;
	int i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->name[i], name) == 0)
			return e->value[i];
	return NULL;
}

static int
env_set(void *arg, const char *name, const char *value)
{
	struct env *e = arg;

	assert_true(e->n < ENV_MAX);
	assert_null(env_get(e, name));  /* never overwrites */
	e->name[e->n] = strdup(name);
	e->value[e->n++] = strdup(value);
	return 0;
}

static void
env_put(struct env *e, const char *name, const char *value)
{
	e->name[e->n] = strdup(name);
	e->value[e->n++] = strdup(value);
}

static void
env_free(struct env *e)
{
	int i;

	for (i = 0; i < e->n; i++) {
		free((char *)e->name[i]);
		free(e->value[i]);
	}
	e->n = 0;
}

static void
test_mapping(void **state)
{
	struct env e = { .n = 0 };

	env_put(&e, "EDGEPROXY_REGION", "us");
	env_put(&e, "EDGEPROXY_DB_PATH", "/srv/routing.db");
	env_put(&e, "EDGEPROXY_GEOIP_PATH", "/srv/GeoLite2-Country.mmdb");
	env_put(&e, "EDGEPROXY_BINDING_TTL_SECS", "30");
	env_put(&e, "EDGEPROXY_HEARTBEAT_TTL_SECS", "15");
	env_put(&e, "EDGEPROXY_DB_RELOAD_SECS", "5");
	env_put(&e, "EDGEPROXY_BINDING_GC_INTERVAL_SECS", "60");
	env_put(&e, "EDGEPROXY_REPLICATION_NODE_ID", "pop-gru");
	env_put(&e, "EDGEPROXY_REPLICATION_GOSSIP_ADDR", "10.50.0.1:4001");
	env_put(&e, "EDGEPROXY_REPLICATION_BOOTSTRAP_PEERS", "10.50.0.2:4001,10.50.0.3:4001");
	env_put(&e, "EDGEPROXY_DNS_DOMAIN", "edge");
	env_put(&e, "DEBUG", "");
	assert_int_equal(epenv_apply(nodeconf_opts, env_get, env_set, &e, false), 11);
	assert_string_equal(env_get(&e, "WARREN_REGION"), "us");
	assert_string_equal(env_get(&e, "WARREN_BINDING_GC_INTERVAL"), "60s");
	assert_string_equal(env_get(&e, "WARREN_DB_PATH"), "/srv/routing.db");
	assert_string_equal(env_get(&e, "WARREN_GEOIP_DB"), "/srv/GeoLite2-Country.mmdb");
	assert_string_equal(env_get(&e, "WARREN_BINDING_TTL"), "30s");
	assert_string_equal(env_get(&e, "WARREN_HEARTBEAT_TTL"), "15s");
	assert_string_equal(env_get(&e, "WARREN_NAME"), "pop-gru");
	assert_string_equal(env_get(&e, "WARREN_GOSSIP_LISTEN"), "10.50.0.1:4001");
	assert_string_equal(env_get(&e, "WARREN_JOIN"), "10.50.0.2:4001,10.50.0.3:4001");
	assert_string_equal(env_get(&e, "WARREN_DNS_DOMAIN"), "edge");
	assert_string_equal(env_get(&e, "WARREN_LOG_LEVEL"), "debug");
	env_free(&e);
}

static void
test_warren_wins(void **state)
{
	struct env e = { .n = 0 };

	env_put(&e, "EDGEPROXY_REGION", "us");
	env_put(&e, "WARREN_REGION", "eu");
	env_put(&e, "EDGEPROXY_BINDING_TTL_SECS", "30");
	assert_int_equal(epenv_apply(nodeconf_opts, env_get, env_set, &e, false), 1);
	assert_string_equal(env_get(&e, "WARREN_REGION"), "eu");
	env_free(&e);
}

static void
test_gates(void **state)
{
	struct env e = { .n = 0 };

	/* an address without its *_ENABLED is not used, as in edgeProxy */
	env_put(&e, "EDGEPROXY_API_LISTEN_ADDR", "127.0.0.1:9081");
	env_put(&e, "EDGEPROXY_DNS_LISTEN_ADDR", "127.0.0.1:9053");
	env_put(&e, "EDGEPROXY_DNS_ENABLED", "false");
	assert_int_equal(epenv_apply(nodeconf_opts, env_get, env_set, &e, false), 0);
	env_free(&e);
	/* enabled: the address, or the default (the API's on loopback) */
	env_put(&e, "EDGEPROXY_API_ENABLED", "TRUE");
	env_put(&e, "EDGEPROXY_DNS_ENABLED", "1");
	env_put(&e, "EDGEPROXY_DNS_LISTEN_ADDR", "127.0.0.1:9053");
	assert_int_equal(epenv_apply(nodeconf_opts, env_get, env_set, &e, false), 2);
	assert_string_equal(env_get(&e, "WARREN_API_LISTEN"), "127.0.0.1:8081");
	assert_string_equal(env_get(&e, "WARREN_DNS_LISTEN"), "127.0.0.1:9053");
	env_free(&e);
	env_put(&e, "EDGEPROXY_DNS_ENABLED", "yes");    /* edgeProxy: not true */
	assert_int_equal(epenv_apply(nodeconf_opts, env_get, env_set, &e, false), 0);
	env_free(&e);
}

static void
test_bad_and_missing(void **state)
{
	static const struct conf_opt few[] = {
		{ "region", CONF_STR, 0, "", "" },
		CONF_END
	};
	struct env e = { .n = 0 };

	env_put(&e, "EDGEPROXY_BINDING_TTL_SECS", "ten");
	assert_int_equal(epenv_apply(nodeconf_opts, env_get, env_set, &e, false), -1);
	env_free(&e);
	env_put(&e, "EDGEPROXY_BINDING_TTL_SECS", "-5");
	assert_int_equal(epenv_apply(nodeconf_opts, env_get, env_set, &e, false), -1);
	env_free(&e);
	/* a program without the option: reported (not here: warn off), not set */
	env_put(&e, "EDGEPROXY_LISTEN_ADDR", "0.0.0.0:8080");
	env_put(&e, "EDGEPROXY_REGION", "sa");
	assert_int_equal(epenv_apply(few, env_get, env_set, &e, false), 1);
	assert_null(env_get(&e, "WARREN_LB_LISTEN"));
	assert_string_equal(env_get(&e, "WARREN_REGION"), "sa");
	env_free(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_warren_wins),
		cmocka_unit_test(test_gates),
		cmocka_unit_test(test_bad_and_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
