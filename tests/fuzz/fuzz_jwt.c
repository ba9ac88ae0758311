/* Fuzz target for the JWT decoder and claim checks (router/jwt.h): the
 * input is a compact JWS; whatever decodes has its claims checked, and the
 * full verification runs against an empty key set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_opts o = { "warren", "https://idp.test", NULL, 1700000000, 60 };
	struct jwt_parsed p;
	struct jwt_result r;
	char err[256], *s;

	if (jwt_decode(&p, (const char *)data, size, err, sizeof(err)) == 0) {
		if (jwt_claims(&p, &o, &r, err, sizeof(err)) == 0)
			jwt_result_fini(&r);
		jwt_parsed_fini(&p);
	}
	if (size <= JWT_MAX_LEN && (s = malloc(size + 1)) != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		(void)jwt_looks_like(s);
		if (jwt_verify(NULL, s, &o, &r, err, sizeof(err)) == 0)
			abort();        /* no keys: nothing may verify */
		free(s);
	}
	return 0;
}
