/* keyring: key file parsing, seal/open, rotation, drops counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyring.h"

/* base64 of 32 bytes 0x00..0x1f, of 32 x 0x41 ('A'), of 32 x 0xff */
#define K0 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K1 "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
#define K2 "//////////////////////////////////////////8="

static struct keyring *
ring(const char *text)
{
	struct keyring *kr = NULL;
	unsigned line = 0;

	assert_int_equal(keyring_parse(&kr, text, strlen(text), &line), 0);
	return kr;
}

static void
test_parse(void **state)
{
	struct keyring *kr;
	unsigned line = 0;
	const char *bad;

	kr = ring("# cluster keys\n\n  " K0 "  \r\n" K1 "\n" K0 "\n");
	assert_int_equal(keyring_count(kr), 2);     /* duplicate skipped */
	keyring_free(kr);
	bad = K0 "\nnot base64 at all\n";
	assert_int_equal(keyring_parse(&kr, bad, strlen(bad), &line), -EINVAL);
	assert_int_equal(line, 2);
	/* 24 bytes, valid base64 but the wrong size */
	bad = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX\n";
	assert_int_equal(keyring_parse(&kr, bad, strlen(bad), &line), -EINVAL);
	assert_int_equal(line, 1);
	/* 44 characters with a bad character */
	bad = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=";
	assert_int_equal(keyring_parse(&kr, bad, strlen(bad), &line), -EINVAL);
	bad = "# nothing\n\n";
	assert_int_equal(keyring_parse(&kr, bad, strlen(bad), &line), -EINVAL);
	keyring_free(NULL);
}

static void
test_load_file(void **state)
{
	char path[] = "/tmp/keyring-test-XXXXXX";
	struct keyring *kr = NULL;
	const char *text = K2 "\n" K1 "\n";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	assert_int_equal(keyring_load(&kr, path, NULL), 0);
	assert_int_equal(keyring_count(kr), 2);
	keyring_free(kr);
	unlink(path);
	assert_int_equal(keyring_load(&kr, path, NULL), -ENOENT);
}

static void
test_seal_open(void **state)
{
	struct keyring *kr = ring(K0 "\n");
	uint8_t pt[600], ct[700], out[700];
	int n, m;

	memset(pt, 0x5a, sizeof(pt));
	n = keyring_seal(kr, pt, sizeof(pt), ct, sizeof(ct));
	assert_int_equal(n, (int)sizeof(pt) + KEYRING_OVERHEAD);
	m = keyring_open(kr, ct, (size_t)n, out, sizeof(out));
	assert_int_equal(m, (int)sizeof(pt));
	assert_memory_equal(pt, out, sizeof(pt));
	/* any flipped bit fails authentication, header included */
	ct[n - 1] ^= 1;
	assert_int_equal(keyring_open(kr, ct, (size_t)n, out, sizeof(out)),
	    -EBADMSG);
	ct[n - 1] ^= 1;
	ct[20] ^= 0x80;
	assert_int_equal(keyring_open(kr, ct, (size_t)n, out, sizeof(out)),
	    -EBADMSG);
	ct[20] ^= 0x80;
	assert_int_equal(keyring_open(kr, ct, 10, out, sizeof(out)), -EINVAL);
	assert_int_equal(keyring_seal(kr, pt, sizeof(pt), ct, 100), -ENOSPC);
	assert_int_equal(keyring_stats(kr)->auth_failed, 2);
	assert_int_equal(keyring_stats(kr)->malformed, 1);
	/* empty plaintext works too */
	n = keyring_seal(kr, pt, 0, ct, sizeof(ct));
	assert_int_equal(n, KEYRING_OVERHEAD);
	assert_int_equal(keyring_open(kr, ct, (size_t)n, out, sizeof(out)), 0);
	keyring_free(kr);
}

/* Rotation: old ring {K0}, new ring {K1, K0}: both read each other while
 * the new one sends under K1; a ring without the key drops and counts. */
static void
test_rotation_and_unknown(void **state)
{
	struct keyring *old = ring(K0 "\n");
	struct keyring *mid = ring(K0 "\n" K1 "\n");
	struct keyring *new = ring(K1 "\n" K0 "\n");
	struct keyring *other = ring(K2 "\n");
	uint8_t ct[128], out[128];
	int n;

	n = keyring_seal(old, "hello", 5, ct, sizeof(ct));
	assert_int_equal(keyring_open(new, ct, (size_t)n, out, sizeof(out)), 5);
	assert_int_equal(keyring_open(mid, ct, (size_t)n, out, sizeof(out)), 5);
	n = keyring_seal(new, "world", 5, ct, sizeof(ct));
	assert_int_equal(keyring_open(mid, ct, (size_t)n, out, sizeof(out)), 5);
	assert_memory_equal(out, "world", 5);
	assert_int_equal(keyring_open(old, ct, (size_t)n, out, sizeof(out)),
	    -ENOKEY);
	assert_int_equal(keyring_open(other, ct, (size_t)n, out, sizeof(out)),
	    -ENOKEY);
	assert_int_equal(keyring_stats(old)->unknown_key, 1);
	assert_int_equal(keyring_stats(other)->unknown_key, 1);
	assert_int_equal(keyring_stats(new)->sealed, 1);
	keyring_free(old);
	keyring_free(mid);
	keyring_free(new);
	keyring_free(other);
}

static void
test_add_limits(void **state)
{
	struct keyring *kr;
	uint8_t key[KEYRING_KEY_LEN] = { 0 };
	uint8_t ct[64];
	int i;

	assert_int_equal(keyring_new(&kr), 0);
	assert_int_equal(keyring_seal(kr, "x", 1, ct, sizeof(ct)), -ENOKEY);
	for (i = 0; i < KEYRING_MAX_KEYS; i++) {
		key[0] = (uint8_t)i;
		assert_int_equal(keyring_add(kr, key), 0);
	}
	key[0] = 0;
	assert_int_equal(keyring_add(kr, key), -EEXIST);
	key[0] = 0xee;
	assert_int_equal(keyring_add(kr, key), -ENOSPC);
	keyring_free(kr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_rotation_and_unknown),
		cmocka_unit_test(test_add_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
