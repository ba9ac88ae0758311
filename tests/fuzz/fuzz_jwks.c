/* Fuzz target for the JWT key parsers (router/jwt.h): the input as a JWKS
 * document and as PEM text. */
#include <stdint.h>
#include <stdlib.h>

#include "router/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_keys *k;
	char err[256];

	if (jwt_keys_new(&k) != 0)
		return 0;
	(void)jwt_keys_add_jwks(k, (const char *)data, size, err, sizeof(err));
	(void)jwt_keys_add_pem(k, (const char *)data, size, err, sizeof(err));
	if (jwt_keys_count(k) > JWT_KEYS_MAX)
		abort();
	jwt_keys_free(k);
	return 0;
}
