#include "router/dnsmsg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldns/ldns.h>

#define DNSMSG_NAME_MAX         256     /* a presentation name, bytes */
#define DNSMSG_EDNS_SIZE        1232

/* FORMERR with only the header: the query's id and opcode, nothing else. */
static enum dnsmsg_result
dnsmsg_formerr(const uint8_t *q, uint8_t **out, size_t *outlen)
{
	uint8_t *r;

	if ((r = calloc(1, DNSMSG_HEADER)) == NULL)
		return DNSMSG_NONE;
	r[0] = q[0];
	r[1] = q[1];
	r[2] = (uint8_t)(0x80 | (q[2] & 0x79));  /* QR, opcode, RD */
	r[3] = LDNS_RCODE_FORMERR;
	*out = r;
	*outlen = DNSMSG_HEADER;
	return DNSMSG_FORMERR;
}

/* APP when name ("app.internal.", lower case) is under ".domain.": a
 * pointer into name, NUL-terminated in place; "" for the domain itself;
 * NULL outside it. */
static char *
dnsmsg_app(char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (n > 0 && name[n - 1] == '.')
		name[--n] = '\0';
	if (n == d && strcasecmp(name, domain) == 0)
		return name + n;
	if (n < d + 2 || name[n - d - 1] != '.' ||
	    strcasecmp(name + n - d, domain) != 0)
		return NULL;
	name[n - d - 1] = '\0';
	return name;
}

static ldns_rr *
dnsmsg_record(const ldns_rdf *owner, ldns_rr_type type, const char *ip)
{
	unsigned char a[sizeof(struct in6_addr)];
	ldns_rdf *rd;
	ldns_rr *rr;
	int fam = type == LDNS_RR_TYPE_A ? AF_INET : AF_INET6;

	if (inet_pton(fam, ip, a) != 1)
		return NULL;            /* the backend is of the other family */
	rd = ldns_rdf_new_frm_data(fam == AF_INET ? LDNS_RDF_TYPE_A :
	    LDNS_RDF_TYPE_AAAA, fam == AF_INET ? 4 : 16, a);
	if (rd == NULL || (rr = ldns_rr_new()) == NULL) {
		ldns_rdf_deep_free(rd);
		return NULL;
	}
	ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, DNSMSG_TTL);
	ldns_rr_push_rdf(rr, rd);
	return rr;
}

enum dnsmsg_result
dnsmsg_answer(const uint8_t *q, size_t qlen, const char *domain,
    dnsmsg_lookup_fn *lookup, void *arg, uint8_t **out, size_t *outlen)
{
	enum dnsmsg_result res;
	ldns_pkt *pq = NULL, *pr = NULL;
	ldns_rr *qrr, *ans;
	ldns_rr_type type;
	char *name = NULL, *app, *p, ip[64];
	int rc;

	*out = NULL;
	*outlen = 0;
	if (qlen < DNSMSG_HEADER || (q[2] & 0x80) != 0)
		return DNSMSG_NONE;     /* no header, or a response: never answer */
	if (ldns_wire2pkt(&pq, q, qlen) != LDNS_STATUS_OK)
		return dnsmsg_formerr(q, out, outlen);
	if ((pr = ldns_pkt_new()) == NULL) {
		ldns_pkt_free(pq);
		return DNSMSG_NONE;
	}
	ldns_pkt_set_id(pr, ldns_pkt_id(pq));
	ldns_pkt_set_qr(pr, true);
	ldns_pkt_set_opcode(pr, ldns_pkt_get_opcode(pq));
	ldns_pkt_set_rd(pr, ldns_pkt_rd(pq));
	if (ldns_pkt_edns(pq))
		ldns_pkt_set_edns_udp_size(pr, DNSMSG_EDNS_SIZE);
	if (ldns_pkt_get_opcode(pq) != LDNS_PACKET_QUERY) {
		res = DNSMSG_NOTIMP;
		goto done;
	}
	if (ldns_pkt_qdcount(pq) != 1 ||
	    (qrr = ldns_rr_list_rr(ldns_pkt_question(pq), 0)) == NULL) {
		res = DNSMSG_FORMERR;
		goto done;
	}
	ldns_pkt_push_rr(pr, LDNS_SECTION_QUESTION, ldns_rr_clone(qrr));
	type = ldns_rr_get_type(qrr);
	if (ldns_rr_owner(qrr) == NULL ||
	    (name = ldns_rdf2str(ldns_rr_owner(qrr))) == NULL ||
	    strlen(name) >= DNSMSG_NAME_MAX) {
		res = DNSMSG_FORMERR;
		goto done;
	}
	if (ldns_rr_get_class(qrr) != LDNS_RR_CLASS_IN ||
	    (app = dnsmsg_app(name, domain)) == NULL) {
		res = DNSMSG_REFUSED;
		goto done;
	}
	ldns_pkt_set_aa(pr, true);
	if (app[0] == '\0') {
		res = DNSMSG_NODATA;
		goto done;
	}
	if (type != LDNS_RR_TYPE_A && type != LDNS_RR_TYPE_AAAA) {
		res = DNSMSG_NOTIMP;
		goto done;
	}
	for (p = app; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	ip[0] = '\0';
	rc = lookup(arg, app, ip, sizeof(ip));
	if (rc == -ENOENT) {
		res = DNSMSG_NXDOMAIN;
	} else if (rc < 0) {
		res = DNSMSG_SERVFAIL;
	} else if (rc == 0 ||
	    (ans = dnsmsg_record(ldns_rr_owner(qrr), type, ip)) == NULL) {
		res = DNSMSG_NODATA;
	} else {
		ldns_pkt_push_rr(pr, LDNS_SECTION_ANSWER, ans);
		res = DNSMSG_ANSWER;
	}
done:
	ldns_pkt_set_rcode(pr, res == DNSMSG_NXDOMAIN ? LDNS_RCODE_NXDOMAIN :
	    res == DNSMSG_REFUSED ? LDNS_RCODE_REFUSED :
	    res == DNSMSG_NOTIMP ? LDNS_RCODE_NOTIMPL :
	    res == DNSMSG_FORMERR ? LDNS_RCODE_FORMERR :
	    res == DNSMSG_SERVFAIL ? LDNS_RCODE_SERVFAIL : LDNS_RCODE_NOERROR);
	if (ldns_pkt2wire(out, pr, outlen) != LDNS_STATUS_OK) {
		free(*out);
		*out = NULL;
		*outlen = 0;
		res = DNSMSG_NONE;
	}
	free(name);
	ldns_pkt_free(pq);
	ldns_pkt_free(pr);
	return res;
}
