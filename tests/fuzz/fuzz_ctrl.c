/* Fuzz target for ctrl_msg_decode and ctrl_open_decode: every input goes to
 * both. Whatever decodes must re-encode to a prefix of the input (trailing
 * bytes are allowed, the rest is canonical), hold only printable strings,
 * and decode again to the same bytes.
 *
 * Seeds in tests/fuzz/corpus/fuzz_ctrl/ are written by this file built with
 * -DFUZZ_CTRL_SEEDS (a main() that takes the output dir):
 *   cc -std=c11 -D_GNU_SOURCE -DFUZZ_CTRL_SEEDS -Iproto tests/fuzz/fuzz_ctrl.c \
 *       proto/ctrl.c -o /tmp/seeds
 *   /tmp/seeds tests/fuzz/corpus/fuzz_ctrl
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_check_str(const char *s)
{
	if (s == NULL)
		return;
	if (strlen(s) > CTRL_STR_MAX)
		abort();
	for (; *s; s++)
		if ((uint8_t)*s < 0x20 || *s == 0x7f)
			abort();
}

static void
fz_msg(const uint8_t *data, size_t size)
{
	static uint8_t out[CTRL_MSG_MAX];
	struct ctrl_msg m, m2;
	int n;

	if (ctrl_msg_decode(&m, data, size) != 0) {
		if (m.client_id || m.token || m.agent || m.subdomain || m.domains ||
		    m.url || m.error)
			abort();
		return;
	}
	fz_check_str(m.client_id);
	fz_check_str(m.token);
	fz_check_str(m.agent);
	fz_check_str(m.subdomain);
	fz_check_str(m.domains);
	fz_check_str(m.url);
	fz_check_str(m.error);
	fz_check_str(m.basic_auth);
	fz_check_str(m.allow_ips);
	fz_check_str(m.deny_ips);
	n = ctrl_msg_encode(&m, out, sizeof(out));
	/* a REGISTER without the optional protections (an older client's)
	 * re-encodes with them, empty: 6 bytes longer */
	if (n > 0 && m.type == CTRL_REGISTER && m.basic_auth == NULL &&
	    (size_t)n == size + 6) {
		if (memcmp(out, data, size) != 0)
			abort();
	} else if (n <= 0 || (size_t)n > size || memcmp(out, data, (size_t)n) != 0) {
		abort();
	}
	/* one byte short: no room */
	if (ctrl_msg_encode(&m, out, (size_t)n - 1) != -ENOSPC)
		abort();
	if (ctrl_msg_decode(&m2, out, (size_t)n) != 0 || m2.type != m.type)
		abort();
	ctrl_msg_fini(&m2);
	ctrl_msg_fini(&m);
}

static void
fz_open(const uint8_t *data, size_t size)
{
	static uint8_t out[CTRL_MSG_MAX];
	struct ctrl_open o, o2;
	int n;

	if (ctrl_open_decode(&o, data, size) != 0) {
		if (o.peer || o.host)
			abort();
		return;
	}
	fz_check_str(o.peer);
	fz_check_str(o.host);
	n = ctrl_open_encode(&o, out, sizeof(out));
	if (n <= 0 || (size_t)n > size || memcmp(out, data, (size_t)n) != 0)
		abort();
	if (ctrl_open_encode(&o, out, (size_t)n - 1) != -ENOSPC)
		abort();
	if (ctrl_open_decode(&o2, out, (size_t)n) != 0 || o2.tunnel_id != o.tunnel_id ||
	    strcmp(o2.peer, o.peer) != 0 || strcmp(o2.host, o.host) != 0)
		abort();
	ctrl_open_fini(&o2);
	ctrl_open_fini(&o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_msg(data, size);
	fz_open(data, size);
	return 0;
}

#ifdef FUZZ_CTRL_SEEDS
int main(int argc, char **argv);

static void
seed(const char *dir, const char *name, const uint8_t *p, int n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (f = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(p, 1, (size_t)n, f);
	fclose(f);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		struct ctrl_msg m;
	} msgs[] = {
		{ "hello", { .type = CTRL_HELLO, .version = CTRL_PROTO_VERSION,
		    .client_id = "c-0123", .token = "secret", .agent = "warren/0.1" } },
		{ "welcome", { .type = CTRL_WELCOME, .version = CTRL_PROTO_VERSION,
		    .agent = "node-a" } },
		{ "register_http", { .type = CTRL_REGISTER, .tunnel_id = 1, .kind = 1,
		    .subdomain = "alice", .domains = "www.example.org,example.net" } },
		{ "register_tcp", { .type = CTRL_REGISTER, .tunnel_id = 2, .kind = 2,
		    .port = 20001 } },
		{ "registered", { .type = CTRL_REGISTERED, .tunnel_id = 1,
		    .url = "https://alice.example.com" } },
		{ "registered_err", { .type = CTRL_REGISTERED, .tunnel_id = 3,
		    .status = 2, .error = "subdomain alice is taken" } },
		{ "unregister", { .type = CTRL_UNREGISTER, .tunnel_id = 1 } },
		{ "error", { .type = CTRL_ERROR, .status = 4, .error = "bad token" } },
	};
	struct ctrl_open o = { 7, "203.0.113.7:51234", "alice.example.com" };
	uint8_t buf[1024];
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		seed(argv[1], msgs[i].name, buf,
		    ctrl_msg_encode(&msgs[i].m, buf, sizeof(buf)));
	seed(argv[1], "open_http", buf, ctrl_open_encode(&o, buf, sizeof(buf)));
	o.host = "";
	seed(argv[1], "open_tcp", buf, ctrl_open_encode(&o, buf, sizeof(buf)));
	return 0;
}
#endif
