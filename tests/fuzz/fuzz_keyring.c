/* Fuzz target for the cluster keyring: keyring_parse on the input as key
 * file text (a key file that parses seals and opens its own packets), and
 * keyring_open on the input as a datagram from the network, under a fixed
 * key (an input that opens is exactly KEYRING_OVERHEAD longer than what
 * came out).
 *
 * The seed corpus in tests/fuzz/corpus/fuzz_keyring/ is written by this
 * file built with -DFUZZ_KEYRING_SEEDS (a main() that takes the output dir):
 *   cc -std=c11 -D_GNU_SOURCE -DFUZZ_KEYRING_SEEDS -Iproto -I. \
 *       tests/fuzz/fuzz_keyring.c proto/keyring.c -lcrypto -o /tmp/seeds
 *   /tmp/seeds tests/fuzz/corpus/fuzz_keyring
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "QkJC...": base64 of 32 bytes of 'B' */
static const uint8_t fuzz_key[KEYRING_KEY_LEN] = {
	'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B',
	'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B', 'B',
	'B', 'B', 'B', 'B',
};

static void
fuzz_parse(const uint8_t *data, size_t size)
{
	static const char msg[] = "ping";
	struct keyring *kr = NULL;
	uint8_t sealed[64], back[64];
	unsigned bad = 0;
	int n;

	if (keyring_parse(&kr, (const char *)data, size, &bad) != 0) {
		if (kr != NULL)
			abort();
		return;
	}
	if (keyring_count(kr) < 1 || keyring_count(kr) > KEYRING_MAX_KEYS)
		abort();
	n = keyring_seal(kr, msg, sizeof(msg), sealed, sizeof(sealed));
	if (n != (int)(sizeof(msg) + KEYRING_OVERHEAD))
		abort();
	if (keyring_open(kr, sealed, (size_t)n, back, sizeof(back)) !=
	    (int)sizeof(msg) || memcmp(back, msg, sizeof(msg)) != 0)
		abort();
	keyring_free(kr);
}

static void
fuzz_open(const uint8_t *data, size_t size)
{
	static uint8_t out[65536];
	struct keyring *kr;
	int n;

	if (keyring_new(&kr) != 0 || keyring_add(kr, fuzz_key) != 0)
		abort();
	n = keyring_open(kr, data, size, out, sizeof(out));
	if (n >= 0 && (size_t)n + KEYRING_OVERHEAD != size)
		abort();
	keyring_free(kr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	fuzz_parse(data, size);
	fuzz_open(data, size);
	return 0;
}

#ifdef FUZZ_KEYRING_SEEDS
int main(int argc, char **argv);

static void
seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(p, 1, n, f);
	fclose(f);
}

int
main(int argc, char **argv)
{
	static const char one[] =
	    "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n";
	static const char two[] =
	    "# rotation: the new key second, then first\n"
	    "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n"
	    "\n"
	    "  Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M=  \r\n";
	static const char payload[] = "\x01\x02gossip packet";
	struct keyring *kr;
	uint8_t sealed[128];
	int n;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	seed(argv[1], "one_key", one, sizeof(one) - 1);
	seed(argv[1], "two_keys", two, sizeof(two) - 1);
	if (keyring_new(&kr) != 0 || keyring_add(kr, fuzz_key) != 0)
		return 1;
	n = keyring_seal(kr, payload, sizeof(payload) - 1, sealed, sizeof(sealed));
	if (n < 0)
		return 1;
	seed(argv[1], "sealed_packet", sealed, (size_t)n);
	keyring_free(kr);
	return 0;
}
#endif
