/* dnsmsg — the internal DNS's answer to one query, a pure function over
 * bytes (wire format by ldns; no sockets, no clock).
 *
 *   APP.<domain> A / AAAA   the address of the backend the lookup gives for
 *                           APP (NOERROR; no record when its address is of
 *                           the other family, or when none is eligible)
 *   APP unknown             NXDOMAIN
 *   <domain> itself         NOERROR, no record
 *   another type (MX, ...)  NOTIMP, as edgeProxy answers
 *   a name outside <domain>, another class   REFUSED
 *   an opcode other than QUERY               NOTIMP
 *   not exactly one question, undecodable   FORMERR (id kept when there is
 *                                           a header)
 *   a response, or fewer than 12 bytes      no answer at all
 * Answers are authoritative, with TTL DNSMSG_TTL, and carry EDNS when the
 * query did. */
#ifndef WARREN_DNSMSG_H
#define WARREN_DNSMSG_H

#include <stddef.h>
#include <stdint.h>

#define DNSMSG_TTL              5       /* seconds: the pick depends on load */
#define DNSMSG_HEADER           12

/* The backend for APP: 1 and its address as text (ip[iplen]); 0 when APP
 * has backends but none is eligible; -ENOENT when APP is unknown; another
 * negative errno when it cannot be known now (SERVFAIL). */
typedef int dnsmsg_lookup_fn(void *arg, const char *app, char *ip,
    size_t iplen);

/* What was answered, for counters. */
enum dnsmsg_result {
	DNSMSG_NONE = 0,        /* no answer sent */
	DNSMSG_ANSWER,          /* NOERROR with a record */
	DNSMSG_NODATA,          /* NOERROR without */
	DNSMSG_NXDOMAIN,
	DNSMSG_REFUSED,
	DNSMSG_NOTIMP,
	DNSMSG_FORMERR,
	DNSMSG_SERVFAIL,
};

/* Answers the query q[qlen] for names under `domain` ("internal"; any
 * case, without a trailing dot). On an answer sets *out (malloc'ed, the
 * caller frees) and *outlen. Returns the result (DNSMSG_NONE: *out NULL). */
enum dnsmsg_result dnsmsg_answer(const uint8_t *q, size_t qlen,
    const char *domain, dnsmsg_lookup_fn *lookup, void *arg, uint8_t **out,
    size_t *outlen);

#endif
