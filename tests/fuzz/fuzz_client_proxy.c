/* Fuzz target for client_proxy_feed(): the input is what a proxy answers
 * to the client's handshake (HTTP CONNECT or SOCKS5). Byte 0 picks the
 * proxy kind, whether credentials are set, and the chunk size.
 *
 * Checks beyond the sanitizers: a feed never takes more than it was given,
 * never writes more than CLIENT_PROXY_OUT_MAX, and once done or refused it
 * stays so; an error always has a sentence. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client_proxy_conf c;
	struct client_proxy *p;
	uint8_t out[CLIENT_PROXY_OUT_MAX];
	char err[400];
	size_t step, i, used, outlen;
	enum client_proxy_result r = CLIENT_PROXY_AGAIN;

	if (size < 1)
		return 0;
	memset(&c, 0, sizeof(c));
	c.kind = data[0] & 1 ? CLIENT_PROXY_SOCKS5 : CLIENT_PROXY_HTTP;
	strcpy(c.host, "127.0.0.1");
	c.port = 3128;
	if (data[0] & 2) {
		strcpy(c.user, "user");
		strcpy(c.pass, "pass");
	}
	step = (size_t)(data[0] >> 2) + 1;
	if ((p = malloc(sizeof(*p))) == NULL)
		return 0;
	if (client_proxy_start(p, &c, "node.example.com", 7000, out, err,
	    sizeof(err)) <= 0)
		abort();
	for (i = 1; i < size && r == CLIENT_PROXY_AGAIN;) {
		size_t n = size - i < step ? size - i : step;

		err[0] = '\0';
		r = client_proxy_feed(p, data + i, n, &used, out, &outlen, err,
		    sizeof(err));
		if (used > n || outlen > CLIENT_PROXY_OUT_MAX)
			abort();
		if (r == CLIENT_PROXY_ERROR && err[0] == '\0')
			abort();
		if (r == CLIENT_PROXY_AGAIN && used == 0 && outlen == 0)
			abort();        /* no progress on given bytes */
		i += used;
	}
	if (r == CLIENT_PROXY_DONE &&
	    client_proxy_feed(p, data, size, &used, out, &outlen, err,
	    sizeof(err)) != CLIENT_PROXY_DONE)
		abort();
	free(p);
	return 0;
}
