/* Fuzz target for cidr_parse: the allow/deny lists a tunnel client sends in
 * REGISTER and the node's --proxy-protocol-from. Whatever parses has at most
 * CIDR_MAX entries with prefixes of at most 128 bits, and every entry
 * matches its own address. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cidr_list l;
	struct sockaddr_in6 sa;
	char bad[96];
	char *text;
	size_t i;

	if (size > 64 * 1024)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	bad[0] = '\0';
	if (cidr_parse(&l, text, bad, sizeof(bad)) == 0) {
		if (l.n > CIDR_MAX)
			abort();
		for (i = 0; i < l.n; i++) {
			if (l.v[i].bits > 128)
				abort();
			memset(&sa, 0, sizeof(sa));
			sa.sin6_family = AF_INET6;
			memcpy(&sa.sin6_addr, l.v[i].addr, 16);
			if (!cidr_match(&l, (struct sockaddr *)&sa))
				abort();
		}
		cidr_fini(&l);
	} else if (memchr(bad, '\0', sizeof(bad)) == NULL) {
		abort();
	}
	free(text);
	return 0;
}
