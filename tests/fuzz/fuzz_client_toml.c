/* Fuzz target for client_toml_parse() through client_conf_parse_toml(): the
 * input is a `warren start --config x.toml` file (frp's frpc.toml shape).
 *
 * Checks beyond the sanitizers: a failure always has a sentence; a success
 * has at least one tunnel, each with a name, a kind and a local port; the
 * raw parser's values stay within their caps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_conf.h"
#include "client/client_toml.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fz_value(void *arg, const char *table, int index, const char *key,
    const struct client_toml_value *v)
{
	(void)arg;
	(void)index;
	if (strlen(table) >= CLIENT_TOML_MAX_KEY || strlen(key) >= CLIENT_TOML_MAX_KEY ||
	    v->len > CLIENT_TOML_MAX_VALUE || strlen(v->text) > v->len ||
	    v->items > CLIENT_TOML_MAX_ITEMS)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client_conf cc;
	char err[200];
	int rc;

	static int quiet;

	if (!quiet)
		quiet = log_setup("fuzz", "error") == 0;
	if (size > CLIENT_CONF_MAX_FILE)
		return 0;
	err[0] = '\0';
	if (client_toml_parse((const char *)data, size, fz_value, NULL, err,
	    sizeof(err)) != 0 && err[0] == '\0')
		abort();
	memset(&cc, 0, sizeof(cc));
	rc = client_conf_parse_toml(&cc, (const char *)data, size);
	if (rc != 0 && cc.error[0] == '\0')
		abort();
	if (rc == 0) {
		if (cc.ntunnels == 0)
			abort();
		for (size_t i = 0; i < cc.ntunnels; i++)
			if (cc.tunnels[i].name == NULL || cc.tunnels[i].kind == 0 ||
			    cc.tunnels[i].local_port < 1)
				abort();
	}
	client_conf_fini(&cc);
	return 0;
}
