/* Fuzz target for dnsmsg_answer(): the input is a DNS query as it arrives
 * in a UDP datagram (or a TCP message) at the internal DNS.
 *
 * Checks beyond the sanitizers: a response (QR set) or a datagram shorter
 * than a header gets no answer; anything else gets one that ldns decodes
 * again, with the query's id and QR set; an answer with a record is for a
 * name the lookup was asked about. The lookup stands in for the load
 * balancer: "a" has an IPv4 backend, "b" an IPv6 one, "c" none eligible,
 * "d" fails, everything else is unknown. The seeds in
 * tests/fuzz/corpus/fuzz_dnsmsg/ are queries made with dig's wire format:
 * A, AAAA, MX and ANY for app names, a name outside the domain, class CH,
 * an opcode other than QUERY, two questions, EDNS, a compression loop. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "router/dnsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fuzz_lookup(void *arg, const char *app, char *ip, size_t iplen)
{
	int *asked = arg;

	*asked = 1;
	if (strcmp(app, "a") == 0) {
		snprintf(ip, iplen, "10.50.1.1");
		return 1;
	}
	if (strcmp(app, "b") == 0) {
		snprintf(ip, iplen, "fd00::1");
		return 1;
	}
	if (strcmp(app, "c") == 0)
		return 0;
	if (strcmp(app, "d") == 0)
		return -EIO;
	return -ENOENT;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum dnsmsg_result r;
	ldns_pkt *p = NULL;
	uint8_t *out;
	size_t outlen;
	int asked = 0;

	r = dnsmsg_answer(data, size, "internal", fuzz_lookup, &asked, &out,
	    &outlen);
	if (size < 12 || (data[2] & 0x80) != 0) {
		if (r != DNSMSG_NONE || out != NULL)
			abort();
		return 0;
	}
	if (r == DNSMSG_NONE) {         /* only when out of memory */
		if (out != NULL)
			abort();
		return 0;
	}
	if (out == NULL || outlen < 12 || out[0] != data[0] || out[1] != data[1] ||
	    (out[2] & 0x80) == 0)
		abort();
	if (r == DNSMSG_FORMERR && outlen == 12) {
		free(out);
		return 0;
	}
	if (ldns_wire2pkt(&p, out, outlen) != LDNS_STATUS_OK)
		abort();
	if (r == DNSMSG_ANSWER && (!asked || ldns_pkt_ancount(p) != 1))
		abort();
	if (r != DNSMSG_ANSWER && ldns_pkt_ancount(p) != 0)
		abort();
	ldns_pkt_free(p);
	free(out);
	return 0;
}
