/* meshmsg: handshake HELLO and forwarding header round trips, partial and
 * hostile input; the PROOF input binds roles, nonces and names; keyring
 * MACs differ per key and purpose. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keyring.h"
#include "meshmsg.h"

static void
test_hello(void **state)
{
	struct meshmsg_hello in, out;
	uint8_t buf[MESHMSG_HELLO_MAX];
	int n, i;

	memset(&in, 0, sizeof(in));
	strcpy(in.name, "node-1");
	for (i = 0; i < MESHMSG_NONCE_LEN; i++)
		in.nonce[i] = (uint8_t)i;
	n = meshmsg_hello_encode(&in, buf, sizeof(buf));
	assert_int_equal(n, 9 + 6 + 32);
	/* every prefix asks for more, the whole decodes */
	for (i = 0; i < n; i++)
		assert_int_equal(meshmsg_hello_decode(&out, buf, (size_t)i), 0);
	assert_int_equal(meshmsg_hello_decode(&out, buf, (size_t)n), n);
	assert_string_equal(out.name, "node-1");
	assert_memory_equal(out.nonce, in.nonce, MESHMSG_NONCE_LEN);
	/* not a mesh peer: refused at the first wrong byte */
	assert_int_equal(meshmsg_hello_decode(&out, (const uint8_t *)"G", 1), -EINVAL);
	buf[7] = 2;     /* another version */
	assert_int_equal(meshmsg_hello_decode(&out, buf, (size_t)n), -EINVAL);
	buf[7] = 1;
	buf[9] = ' ';   /* a name with a space */
	assert_int_equal(meshmsg_hello_decode(&out, buf, (size_t)n), -EINVAL);
	buf[8] = 0;     /* an empty name */
	assert_int_equal(meshmsg_hello_decode(&out, buf, (size_t)n), -EINVAL);
	in.name[0] = '\0';
	assert_int_equal(meshmsg_hello_encode(&in, buf, sizeof(buf)), -EINVAL);
}

static void
test_fwd(void **state)
{
	static struct meshmsg_fwd in, out;
	static uint8_t buf[MESHMSG_FWD_MAX];
	int n, i;

	memset(&in, 0, sizeof(in));
	in.listener = MESHMSG_HTTPS;
	in.hops = 1;
	in.session = 0x8877665544332211ULL;
	in.tunnel_id = 7;
	in.port = 443;
	strcpy(in.client, "[2001:db8::1]:50000");
	strcpy(in.host, "alice.example.com");
	strcpy(in.from, "n2");
	strcpy(in.authz, "Basic Ym9iOnMzY3JldA==");
	n = meshmsg_fwd_encode(&in, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(meshmsg_fwd_decode(&out, buf, (size_t)n), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	/* every cut is malformed, and so are trailing bytes */
	for (i = 0; i < n; i++)
		assert_int_equal(meshmsg_fwd_decode(&out, buf, (size_t)i), -EINVAL);
	assert_int_equal(meshmsg_fwd_decode(&out, buf, (size_t)n + 1), -EINVAL);
	/* an unknown listener kind */
	buf[1] = 9;
	assert_int_equal(meshmsg_fwd_decode(&out, buf, (size_t)n), -EINVAL);
	buf[1] = MESHMSG_HTTPS;
	/* a string length past the end */
	buf[17] = 0xff;
	assert_int_equal(meshmsg_fwd_decode(&out, buf, (size_t)n), -EINVAL);
	assert_int_equal(meshmsg_fwd_encode(&in, buf, 20), -ENOSPC);
}

static void
test_proof(void **state)
{
	uint8_t na[32], nb[32], a[256], b[256], mac1[32], mac2[32];
	struct keyring *kr;
	uint8_t k1[32], k2[32];
	int la, lb;

	memset(na, 1, sizeof(na));
	memset(nb, 2, sizeof(nb));
	la = meshmsg_proof_input(MESHMSG_DIALER, na, nb, "n1", "n2", a, sizeof(a));
	lb = meshmsg_proof_input(MESHMSG_LISTENER, na, nb, "n1", "n2", b, sizeof(b));
	assert_int_equal(la, lb);
	assert_memory_not_equal(a, b, (size_t)la);      /* the role counts */
	lb = meshmsg_proof_input(MESHMSG_DIALER, nb, na, "n1", "n2", b, sizeof(b));
	assert_memory_not_equal(a, b, (size_t)la);      /* so do the nonces */
	lb = meshmsg_proof_input(MESHMSG_DIALER, na, nb, "n1n", "2", b, sizeof(b));
	assert_memory_not_equal(a, b, (size_t)la);      /* names are delimited */
	assert_int_equal(meshmsg_proof_input(MESHMSG_DIALER, na, nb, "n1", "n2", b, 10),
	    -ENOSPC);

	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x22, sizeof(k2));
	assert_int_equal(keyring_new(&kr), 0);
	assert_int_equal(keyring_mac(kr, 0, "p", a, (size_t)la, mac1), -ENOKEY);
	assert_int_equal(keyring_add(kr, k1), 0);
	assert_int_equal(keyring_add(kr, k2), 0);
	assert_int_equal(keyring_mac(kr, 0, "p", a, (size_t)la, mac1), 0);
	assert_int_equal(keyring_mac(kr, 1, "p", a, (size_t)la, mac2), 0);
	assert_memory_not_equal(mac1, mac2, 32);
	assert_int_equal(keyring_mac(kr, 0, "q", a, (size_t)la, mac2), 0);
	assert_memory_not_equal(mac1, mac2, 32);
	assert_int_equal(keyring_mac(kr, 0, "p", a, (size_t)la, mac2), 0);
	assert_memory_equal(mac1, mac2, 32);
	assert_int_equal(keyring_mac(kr, 2, "p", a, (size_t)la, mac2), -ENOKEY);
	keyring_free(kr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_fwd),
		cmocka_unit_test(test_proof),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
