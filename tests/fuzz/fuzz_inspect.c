/* Fuzz target for the request inspector's capture of untrusted traffic:
 * client_httplog with inspect_store's tap (request and response bytes as a
 * tunnel passes them, WebSocket frame counting after a 101), then the JSON
 * of every record (inspect_json: head splitting, text/base64 bodies).
 *
 * Input: byte 0 picks the chunk size, byte 1 the split between the request
 * bytes and the response bytes that follow; the two streams are fed in
 * alternating chunks, as a tunnel interleaves them.
 *
 * Checks beyond the sanitizers: the store stays within its limits (records,
 * bytes per body, memory), kept bytes never exceed the totals seen, and
 * every record renders. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_httplog.h"
#include "client/inspect_json.h"
#include "client/inspect_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_KEEP 4
#define FZ_BODY 256

static void
fz_log(void *arg, const struct client_httplog_entry *e)
{
	(void)arg;
	if (e->method == NULL || e->path == NULL)
		abort();
}

static void
fz_check_part(const struct inspect_part *p, size_t max)
{
	if (p->len > p->cap || p->len > max || p->len > p->total)
		abort();
	if (p->total > p->len && !p->truncated && max != CLIENT_HTTPLOG_HEAD_MAX)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inspect_store *st;
	struct client_httplog *h;
	const struct inspect_rec *list[FZ_KEEP + 1];
	const uint8_t *req, *resp;
	size_t step, nreq, nresp, i = 0, j = 0, n;

	if (size < 2)
		return 0;
	step = (size_t)data[0] % 64 + 1;
	nreq = (size - 2) * data[1] / 255;
	req = data + 2;
	resp = req + nreq;
	nresp = size - 2 - nreq;
	if ((st = inspect_store_new(FZ_KEEP, FZ_BODY, 64 << 10, NULL, NULL)) == NULL)
		return 0;
	if ((h = client_httplog_new(fz_log, NULL)) == NULL) {
		inspect_store_free(st);
		return 0;
	}
	client_httplog_set_tap(h, &inspect_store_tap, st, "t", "127.0.0.1:1",
	    "127.0.0.1:2");
	while (i < nreq || j < nresp) {
		if (i < nreq) {
			n = nreq - i < step ? nreq - i : step;
			client_httplog_request(h, req + i, n, i);
			i += n;
		}
		if (j < nresp) {
			n = nresp - j < step ? nresp - j : step;
			client_httplog_response(h, resp + j, n, j);
			j += n;
		}
	}
	if (data[0] & 0x80)
		client_httplog_response_eof(h, size);
	client_httplog_free(h);
	n = inspect_store_list(st, list, FZ_KEEP + 1);
	if (n > FZ_KEEP)
		abort();
	for (size_t k = 0; k < n; k++) {
		json_t *jd;

		fz_check_part(&list[k]->req_head, CLIENT_HTTPLOG_HEAD_MAX);
		fz_check_part(&list[k]->resp_head, CLIENT_HTTPLOG_HEAD_MAX);
		fz_check_part(&list[k]->req_body, FZ_BODY);
		fz_check_part(&list[k]->resp_body, FZ_BODY);
		if ((jd = inspect_json_detail(list[k])) == NULL)
			abort();
		free(json_dumps(jd, 0));
		json_decref(jd);
	}
	inspect_store_free(st);
	return 0;
}
