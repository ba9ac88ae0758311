/* Fuzz target for sock_addr_parse: addresses from options and the public
 * client's "ip:port" that the node sends in each stream-open header (the
 * client parses it for the PROXY header). Whatever parses formats back to
 * text that parses to the same address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sock_addr a, b;
	char text[300], out[128];

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (sock_addr_parse(&a, text, size > 0 && data[0] == 'd' ? "::1" : NULL)
	    != 0)
		return 0;
	if (a.ss.ss_family != AF_INET && a.ss.ss_family != AF_INET6)
		abort();
	sock_addr_format(&a, out, sizeof(out));
	if (sock_addr_parse(&b, out, NULL) != 0 || b.len != a.len ||
	    sock_addr_port(&a) != sock_addr_port(&b))
		abort();
	return 0;
}
