/* fuzz_http1: the request filter driven like the acceptor drives it, with
 * input arriving in fuzz-chosen chunk sizes; what it forwards is parsed again
 * by a second filter, which must see the same requests (host, method, body
 * length, end) — a rewrite or framing slip shows up as a disagreement. The
 * same bytes also go through both observers.
 *
 * Input: byte 0 = flags (tls, decline upgrades, small limits, HEAD queue),
 * byte 1 = chunk-size seed, the rest = the client's bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS        256

struct seen {
	char host[HTTP1_MAX_HOST + 1];
	const char *method;
	uint64_t body;
	bool ended;
};

struct run {
	struct seen msg[MAX_MSGS];
	size_t nmsg;
	bool upgraded, failed;
	uint8_t *out;           /* forwarded bytes */
	size_t out_len, out_cap;
};

static void
check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void
emit(struct run *rn, const void *p, size_t n)
{
	if (rn->out_len + n > rn->out_cap) {
		size_t cap = rn->out_cap ? rn->out_cap : 4096;
		uint8_t *q;

		while (cap < rn->out_len + n)
			cap *= 2;
		q = realloc(rn->out, cap);
		check(q != NULL);
		rn->out = q;
		rn->out_cap = cap;
	}
	memcpy(rn->out + rn->out_len, p, n);
	rn->out_len += n;
}

static uint32_t
next_step(uint32_t *s, size_t max)
{
	*s = *s * 1103515245u + 12345u;
	return 1 + (*s >> 16) % (uint32_t)max;
}

/* Drives r over in[0..len) in chunks (step 0: all at once). */
static void
drive(struct http1_req *r, const uint8_t *in, size_t len, uint32_t seed,
    size_t maxstep, bool decline, struct run *rn)
{
	struct buf b = { 0 };
	struct http1_ev ev;
	enum http1_kind k;
	size_t off = 0, n, spins;
	struct seen *m;

	for (;;) {
		if (off < len) {
			n = maxstep ? next_step(&seed, maxstep) : len;
			if (n > len - off)
				n = len - off;
			check(buf_append(&b, in + off, n, SIZE_MAX) == 0);
			off += n;
		}
		for (spins = 0;; spins++) {
			check(spins < 1000000);
			k = http1_req_feed(r, buf_len(&b) ? buf_data(&b) : NULL,
			    buf_len(&b), &ev);
			check(ev.used <= buf_len(&b));
			switch (k) {
			case HTTP1_HEAD:
				check(ev.used > 0);
				check(ev.head_len >= 4 && memcmp(ev.head +
				    ev.head_len - 4, "\r\n\r\n", 4) == 0);
				check(ev.host != NULL && ev.host[0] != '\0');
				check(ev.path_len > 0 && ev.path != NULL);
				check(ev.path >= (const char *)ev.head &&
				    ev.path + ev.path_len <=
				    (const char *)ev.head + ev.head_len);
				emit(rn, ev.head, ev.head_len);
				if (rn->upgraded)
					break;
				check(rn->nmsg < MAX_MSGS);
				m = &rn->msg[rn->nmsg++];
				snprintf(m->host, sizeof(m->host), "%s",
				    ev.host);
				m->method = ev.method;
				break;
			case HTTP1_BODY:
				check(ev.used > 0);
				emit(rn, buf_data(&b), ev.used);
				break;
			case HTTP1_END:
			case HTTP1_UPGRADE:
				check(ev.used == 0);
				check(rn->nmsg > 0);
				m = &rn->msg[rn->nmsg - 1];
				if (k == HTTP1_UPGRADE && !m->ended) {
					m->ended = true;
					m->body = ev.body_bytes;
				} else if (k == HTTP1_END) {
					check(!m->ended);
					m->ended = true;
					m->body = ev.body_bytes;
				}
				if (k == HTTP1_UPGRADE) {
					http1_req_upgrade(r, !decline);
					if (!decline)
						rn->upgraded = true;
				}
				break;
			case HTTP1_ERROR:
				check(ev.used == 0);
				check(ev.status >= 400 && ev.status <= 599);
				check(ev.reason != NULL);
				rn->failed = true;
				buf_fini(&b);
				return;
			case HTTP1_AGAIN:
				check(ev.used == buf_len(&b));
				break;
			}
			buf_consume(&b, ev.used);
			if (k == HTTP1_AGAIN)
				break;
		}
		if (off >= len)
			break;
	}
	buf_fini(&b);
}

static void
observe(enum http1_obs_dir dir, const uint8_t *in, size_t len, uint32_t seed,
    uint8_t heads)
{
	struct http1_obs *o;
	struct http1_ev ev;
	enum http1_kind k;
	size_t off = 0, n, spins;
	int i;

	check(http1_obs_new(&o, dir) == 0);
	for (i = 0; i < 8; i++)
		http1_obs_request(o, (heads >> i) & 1 ? "HEAD" : "GET");
	while (off < len) {
		n = next_step(&seed, 64);
		if (n > len - off)
			n = len - off;
		for (spins = 0; n > 0; spins++) {
			check(spins < 100000);
			k = http1_obs_feed(o, in + off, n, &ev);
			check(ev.used <= n);
			off += ev.used;
			n -= ev.used;
			if (k == HTTP1_HEAD && dir == HTTP1_OBS_RESPONSES)
				http1_obs_request(o, "GET");
			if (k == HTTP1_AGAIN)
				check(n == 0);
			if (k == HTTP1_HEAD && dir == HTTP1_OBS_REQUESTS)
				check(ev.method != NULL && ev.path_len <
				    HTTP1_OBS_PATH && strlen(ev.path) ==
				    ev.path_len);
		}
	}
	http1_obs_eof(o, &ev);
	http1_obs_free(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http1_conf c, c2;
	struct http1_req *r, *r2;
	struct run a, b;
	uint8_t flags, seed;
	size_t i;
	char resp[512];

	if (size < 2)
		return 0;
	flags = data[0];
	seed = data[1];
	data += 2;
	size -= 2;

	http1_conf_default(&c);
	if (flags & 4) {
		c.max_head = 64 + seed;
		c.max_headers = 1 + (seed & 7);
	}
	memset(&a, 0, sizeof(a));
	check(http1_req_new(&r, &c, (flags & 1) ? "2001:db8::7" : "192.0.2.1",
	    flags & 1) == 0);
	drive(r, data, size, seed, (flags & 8) ? 0 : 1 + (flags >> 4) * 17,
	    flags & 2, &a);
	if (flags & 16)
		http1_req_release(r);
	http1_req_free(r);

	/* what went into the tunnel parses as the same requests */
	c2.max_head = 3 * c.max_head + 1024;
	c2.max_headers = c.max_headers + 3;
	memset(&b, 0, sizeof(b));
	check(http1_req_new(&r2, &c2, "198.51.100.1", false) == 0);
	drive(r2, a.out, a.out_len, 0, 0, flags & 2, &b);
	check(!b.failed || a.upgraded);
	if (!a.upgraded && !b.upgraded) {
		check(a.nmsg == b.nmsg);
		for (i = 0; i < a.nmsg; i++) {
			check(strcmp(a.msg[i].host, b.msg[i].host) == 0);
			check(a.msg[i].method == b.msg[i].method);
			check(a.msg[i].ended == b.msg[i].ended);
			check(!a.msg[i].ended || a.msg[i].body ==
			    b.msg[i].body);
		}
	}
	http1_req_free(r2);
	free(a.out);
	free(b.out);

	observe(HTTP1_OBS_RESPONSES, data, size, seed, flags);
	observe(HTTP1_OBS_REQUESTS, data, size, seed, flags);

	i = size < 40 ? size : 40;
	memcpy(resp, data, i);
	resp[i] = '\0';
	http1_error_response(400 + seed % 200, resp, resp + 64,
	    sizeof(resp) - 64);
	return 0;
}
