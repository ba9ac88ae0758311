#include "http1.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <http_parser.h>

#define HTTP1_MAX_DROP  16      /* X-Forwarded-* lines replaced per head */
#define HTTP1_OBS_QUEUE 64      /* requests a response observer remembers */

enum req_state {
	RQ_HEAD = 0,            /* reading a head */
	RQ_BODY,                /* passing a body through */
	RQ_END,                 /* message complete, not yet reported */
	RQ_UPGRADE_WAIT,        /* upgrade request done, answer unknown */
	RQ_RAW,                 /* switched protocols: all bytes raw */
	RQ_CLOSED,              /* last request said Connection: close */
	RQ_ERROR,
};

enum hdr_cb { HC_NONE = 0, HC_FIELD, HC_VALUE };

enum hdr_id { H_OTHER = 0, H_HOST, H_CL, H_TE, H_XFF, H_XFP, H_XFH, H_AUTH };

/* Chunked framing, checked byte by byte between the data spans that
 * http_parser reports: the Debian build is not strict about delimiters. */
enum ck_state {
	CK_SIZE0 = 0,           /* first hex digit of a size */
	CK_SIZE,                /* more digits, ';', BWS or CR */
	CK_BWS,                 /* whitespace after the size: ';' must follow */
	CK_EXT,                 /* chunk extension up to CR */
	CK_SIZE_LF,
	CK_DATA,                /* data (skipped), then CR */
	CK_DATA_LF,
	CK_TR_START,            /* start of a trailer line or the final CRLF */
	CK_TR_LINE,
	CK_TR_LF,
	CK_END_LF,
	CK_DONE,
};

/* A client header line the rewrite replaces. Offsets are into the head. */
struct http1_drop {
	uint32_t line, end;     /* line bytes [line, end), CRLF included */
	uint32_t val, vlen;     /* trimmed value */
	bool xff;
};

struct http1_req {
	http_parser hp;
	struct http1_conf conf;
	enum req_state state;
	char peer[HTTP1_MAX_PEER + 1];
	size_t peer_len;
	bool tls;

	uint8_t *hb;            /* held partial head, then the rewritten head */
	size_t hb_cap;
	size_t hlen;            /* bytes of the current head used so far */
	const uint8_t *base;    /* callback pointers are relative to this */

	/* the current message */
	bool head_done, msg_done, keep_alive, upgrade;
	int err_status;
	const char *err_reason;
	bool url_seen;
	uint32_t url_off, url_len;
	enum hdr_cb hcb;
	uint32_t f_off, f_len, v_off, v_len;
	unsigned nhdr, nhost, ncl, nte;
	uint32_t host_off, host_len;
	unsigned nauth;
	uint32_t auth_off, auth_len;
	struct http1_drop drop[HTTP1_MAX_DROP];
	unsigned ndrop;
	char xff_last[HTTP1_XFF_LAST_MAX + 1];  /* see http1_ev.xff */
	char host[HTTP1_MAX_HOST + 1];
	uint64_t bytes, body_bytes;

	/* chunked body */
	bool chunked;
	enum ck_state ck;
	bool ck_nonzero;
	size_t ck_pos;          /* input offset checked so far */
};

struct http1_obs {
	http_parser hp;
	enum http1_obs_dir dir;
	bool stopped, head_done, msg_done, raw_after;
	uint8_t queue[HTTP1_OBS_QUEUE];
	unsigned qhead, qlen;
	uint64_t bytes, body_bytes;
	char path[HTTP1_OBS_PATH];
	size_t path_len;
	http1_obs_body_cb *body_cb;     /* capture of decoded bodies */
	void *body_arg;
};

enum obs_method { OM_OTHER = 0, OM_HEAD, OM_CONNECT };

void
http1_conf_default(struct http1_conf *c)
{
	c->max_head = HTTP1_DEFAULT_MAX_HEAD;
	c->max_headers = HTTP1_DEFAULT_MAX_HEADERS;
}

/* --- small byte helpers --- */

/* RFC 9110 tchar: ALPHA DIGIT and "!#$%&'*+-.^_`|~", as a bitmap. */
static bool
is_tchar(uint8_t c)
{
	static const uint64_t map[2] = {
		0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull,
	};

	return c < 128 && (map[c >> 6] >> (c & 63) & 1) != 0;
}

static bool
is_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* Visible text, SP, HT or obs-text: what a field value or an extension may
 * hold. */
static bool
is_text(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool
lws(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static bool
eq_nocase(const uint8_t *p, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp((const char *)p, lit, n) == 0;
}

/* --- request filter: callbacks --- */

static int
req_fail(struct http1_req *r, int status, const char *reason)
{
	if (r->err_status == 0) {
		r->err_status = status;
		r->err_reason = reason;
	}
	return -1;
}

static enum hdr_id
req_hdr_id(const uint8_t *name, size_t n)
{
	switch (n) {
	case 4:
		return eq_nocase(name, n, "host") ? H_HOST : H_OTHER;
	case 13:
		return eq_nocase(name, n, "authorization") ? H_AUTH : H_OTHER;
	case 14:
		return eq_nocase(name, n, "content-length") ? H_CL : H_OTHER;
	case 15:
		return eq_nocase(name, n, "x-forwarded-for") ? H_XFF : H_OTHER;
	case 16:
		return eq_nocase(name, n, "x-forwarded-host") ? H_XFH : H_OTHER;
	case 17:
		if (eq_nocase(name, n, "transfer-encoding"))
			return H_TE;
		return eq_nocase(name, n, "x-forwarded-proto") ? H_XFP : H_OTHER;
	}
	return H_OTHER;
}

/* Checks a Transfer-Encoding value: 0 for exactly "chunked", else an error
 * status (501 when chunked is last after other codings). */
static int
req_te_check(const uint8_t *v, size_t n)
{
	size_t i;

	if (eq_nocase(v, n, "chunked"))
		return 0;
	/* last comma-separated coding */
	for (i = n; i > 0 && v[i - 1] != ','; i--)
		;
	while (i < n && lws(v[i]))
		i++;
	if (eq_nocase(v + i, n - i, "chunked"))
		return 501;
	return 400;
}

/* A header's line [f_off, line_end) is complete. Only during a head. */
static int
req_hdr_done(struct http1_req *r, uint32_t line_end)
{
	const uint8_t *name = r->base + r->f_off, *v;
	uint32_t voff = r->v_off, vlen = r->v_len;
	enum hdr_id id;
	size_t i;
	int st;

	r->hcb = HC_NONE;
	if (vlen == 0)
		voff = line_end;
	v = r->base + voff;
	while (vlen > 0 && lws(v[0])) {
		v++;
		voff++;
		vlen--;
	}
	while (vlen > 0 && lws(v[vlen - 1]))
		vlen--;
	id = req_hdr_id(name, r->f_len);
	switch (id) {
	case H_OTHER:
		return 0;
	case H_AUTH:
		if (++r->nauth > 1)
			return req_fail(r, 400, "duplicate Authorization header");
		r->auth_off = voff;
		r->auth_len = vlen;
		return 0;
	case H_HOST:
		if (++r->nhost > 1)
			return req_fail(r, 400, "duplicate Host header");
		r->host_off = voff;
		r->host_len = vlen;
		return 0;
	case H_CL:
		if (++r->ncl > 1)
			return req_fail(r, 400, "duplicate Content-Length");
		if (r->nte)
			return req_fail(r, 400,
			    "Content-Length with Transfer-Encoding");
		if (vlen == 0 || vlen > 18)
			return req_fail(r, 400, "invalid Content-Length");
		for (i = 0; i < vlen; i++)
			if (v[i] < '0' || v[i] > '9')
				return req_fail(r, 400,
				    "invalid Content-Length");
		return 0;
	case H_TE:
		if (++r->nte > 1)
			return req_fail(r, 400,
			    "more than one Transfer-Encoding");
		if (r->ncl)
			return req_fail(r, 400,
			    "Content-Length with Transfer-Encoding");
		if ((st = req_te_check(v, vlen)) == 501)
			return req_fail(r, 501, "unsupported transfer coding");
		if (st != 0)
			return req_fail(r, 400,
			    "Transfer-Encoding other than chunked");
		return 0;
	case H_XFF:
	case H_XFP:
	case H_XFH:
		if (r->ndrop == HTTP1_MAX_DROP)
			return req_fail(r, 400, "too many X-Forwarded headers");
		r->drop[r->ndrop].line = r->f_off;
		r->drop[r->ndrop].end = line_end;
		r->drop[r->ndrop].val = voff;
		r->drop[r->ndrop].vlen = vlen;
		r->drop[r->ndrop].xff = id == H_XFF;
		r->ndrop++;
		return 0;
	}
	return 0;
}

static int
req_on_url(http_parser *hp, const char *at, size_t len)
{
	struct http1_req *r = hp->data;

	if (r->state != RQ_HEAD)
		return 0;
	if (!r->url_seen) {
		r->url_seen = true;
		r->url_off = (uint32_t)((const uint8_t *)at - r->base);
		r->url_len = 0;
	}
	r->url_len += (uint32_t)len;
	return 0;
}

static int
req_on_field(http_parser *hp, const char *at, size_t len)
{
	struct http1_req *r = hp->data;
	const uint8_t *p = (const uint8_t *)at;
	uint32_t off;
	size_t i;

	for (i = 0; i < len; i++)
		if (!is_tchar(p[i]))
			return req_fail(r, 400, "invalid header name");
	if (r->state != RQ_HEAD) {
		/* trailer: names checked and fields counted */
		if (r->hcb != HC_FIELD && ++r->nhdr > r->conf.max_headers)
			return req_fail(r, 400, "too many trailer fields");
		r->hcb = HC_FIELD;
		return 0;
	}
	off = (uint32_t)(p - r->base);
	if (r->hcb == HC_FIELD && off != r->f_off + r->f_len) {
		/* a field with no value callback before this one */
		r->v_len = 0;
		r->hcb = HC_VALUE;
	}
	if (r->hcb == HC_VALUE && req_hdr_done(r, off) != 0)
		return -1;
	if (r->hcb == HC_FIELD) {
		r->f_len += (uint32_t)len;
		return 0;
	}
	if (++r->nhdr > r->conf.max_headers)
		return req_fail(r, 431, "too many header fields");
	r->hcb = HC_FIELD;
	r->f_off = off;
	r->f_len = (uint32_t)len;
	r->v_off = r->v_len = 0;
	return 0;
}

static int
req_on_value(http_parser *hp, const char *at, size_t len)
{
	struct http1_req *r = hp->data;

	if (r->state != RQ_HEAD) {
		r->hcb = HC_VALUE;
		return 0;
	}
	if (r->hcb != HC_VALUE) {
		r->hcb = HC_VALUE;
		r->v_off = (uint32_t)((const uint8_t *)at - r->base);
		r->v_len = 0;
	}
	r->v_len += (uint32_t)len;
	return 0;
}

static int
req_on_headers_complete(http_parser *hp)
{
	struct http1_req *r = hp->data;

	r->head_done = true;
	http_parser_pause(hp, 1);
	return 0;
}

/* Checks framing bytes p[0..n) of a chunked body. */
static int
req_ck_bytes(struct http1_req *r, const uint8_t *p, size_t n)
{
	size_t i;
	uint8_t c;

	for (i = 0; i < n; i++) {
		c = p[i];
		switch (r->ck) {
		case CK_SIZE0:
			if (!is_hex(c))
				return -1;
			r->ck_nonzero = c != '0';
			r->ck = CK_SIZE;
			break;
		case CK_SIZE:
			if (is_hex(c))
				r->ck_nonzero |= c != '0';
			else if (c == ';')
				r->ck = CK_EXT;
			else if (lws(c))
				r->ck = CK_BWS;
			else if (c == '\r')
				r->ck = CK_SIZE_LF;
			else
				return -1;
			break;
		case CK_BWS:
			if (c == ';')
				r->ck = CK_EXT;
			else if (!lws(c))
				return -1;
			break;
		case CK_EXT:
			if (c == '\r')
				r->ck = CK_SIZE_LF;
			else if (!is_text(c))
				return -1;
			break;
		case CK_SIZE_LF:
			if (c != '\n')
				return -1;
			r->ck = r->ck_nonzero ? CK_DATA : CK_TR_START;
			break;
		case CK_DATA:
			if (c != '\r')
				return -1;
			r->ck = CK_DATA_LF;
			break;
		case CK_DATA_LF:
			if (c != '\n')
				return -1;
			r->ck = CK_SIZE0;
			break;
		case CK_TR_START:
			if (c == '\r')
				r->ck = CK_END_LF;
			else if (is_tchar(c))
				r->ck = CK_TR_LINE;
			else
				return -1;
			break;
		case CK_TR_LINE:
			if (c == '\r')
				r->ck = CK_TR_LF;
			else if (!is_text(c))
				return -1;
			break;
		case CK_TR_LF:
			if (c != '\n')
				return -1;
			r->ck = CK_TR_START;
			break;
		case CK_END_LF:
			if (c != '\n')
				return -1;
			r->ck = CK_DONE;
			break;
		case CK_DONE:
			return -1;
		}
	}
	return 0;
}

static int
req_on_body(http_parser *hp, const char *at, size_t len)
{
	struct http1_req *r = hp->data;
	size_t off = (size_t)((const uint8_t *)at - r->base);

	if (r->state != RQ_BODY)
		return req_fail(r, 400, "unexpected body");
	r->body_bytes += len;
	if (!r->chunked)
		return 0;
	if (req_ck_bytes(r, r->base + r->ck_pos, off - r->ck_pos) != 0 ||
	    r->ck != CK_DATA)
		return req_fail(r, 400, "invalid chunked framing");
	r->ck_pos = off + len;
	return 0;
}

static int
req_on_message_complete(http_parser *hp)
{
	struct http1_req *r = hp->data;

	r->msg_done = true;
	r->keep_alive = http_should_keep_alive(hp) != 0;
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings req_settings = {
	.on_url = req_on_url,
	.on_header_field = req_on_field,
	.on_header_value = req_on_value,
	.on_headers_complete = req_on_headers_complete,
	.on_body = req_on_body,
	.on_message_complete = req_on_message_complete,
};

/* --- request filter --- */

static void
req_reset_msg(struct http1_req *r)
{
	http_parser_init(&r->hp, HTTP_REQUEST);
	r->hp.data = r;
	r->state = RQ_HEAD;
	r->hlen = 0;
	r->base = NULL;
	r->head_done = r->msg_done = r->keep_alive = r->upgrade = false;
	r->url_seen = false;
	r->url_off = r->url_len = 0;
	r->hcb = HC_NONE;
	r->f_off = r->f_len = r->v_off = r->v_len = 0;
	r->nhdr = r->nhost = r->ncl = r->nte = 0;
	r->host_off = r->host_len = 0;
	r->nauth = 0;
	r->auth_off = r->auth_len = 0;
	r->ndrop = 0;
	r->host[0] = '\0';
	r->bytes = r->body_bytes = 0;
	r->chunked = false;
	r->ck = CK_SIZE0;
	r->ck_nonzero = false;
	r->ck_pos = 0;
}

int
http1_req_new(struct http1_req **out, const struct http1_conf *c,
    const char *peer, bool tls)
{
	struct http1_req *r;
	size_t i, n;

	n = peer ? strlen(peer) : 0;
	if (n == 0 || n > HTTP1_MAX_PEER)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!is_hex((uint8_t)peer[i]) && peer[i] != '.' &&
		    peer[i] != ':')
			return -EINVAL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	if (c != NULL)
		r->conf = *c;
	else
		http1_conf_default(&r->conf);
	if (r->conf.max_head == 0)
		r->conf.max_head = HTTP1_DEFAULT_MAX_HEAD;
	if (r->conf.max_head > UINT32_MAX / 4)
		r->conf.max_head = UINT32_MAX / 4;
	if (r->conf.max_headers == 0)
		r->conf.max_headers = HTTP1_DEFAULT_MAX_HEADERS;
	memcpy(r->peer, peer, n + 1);
	r->peer_len = n;
	r->tls = tls;
	req_reset_msg(r);
	*out = r;
	return 0;
}

void
http1_req_free(struct http1_req *r)
{
	if (r == NULL)
		return;
	free(r->hb);
	free(r);
}

bool
http1_req_in_head(const struct http1_req *r)
{
	return r->state == RQ_HEAD && r->hlen > 0;
}

void
http1_req_release(struct http1_req *r)
{
	if (http1_req_in_head(r))
		return;
	free(r->hb);
	r->hb = NULL;
	r->hb_cap = 0;
}

/* Makes room for n bytes in the head buffer, keeping the first `keep`. */
static int
req_hb_reserve(struct http1_req *r, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (n <= r->hb_cap)
		return 0;
	cap = r->hb_cap ? r->hb_cap : 2048;
	while (cap < n)
		cap *= 2;
	if ((p = realloc(r->hb, cap)) == NULL)
		return -ENOMEM;
	r->hb = p;
	r->hb_cap = cap;
	return 0;
}

static enum http1_kind
req_error(struct http1_req *r, struct http1_ev *ev, int status,
    const char *reason)
{
	if (r->state != RQ_ERROR) {
		r->state = RQ_ERROR;
		r->err_status = status;
		r->err_reason = reason;
	}
	ev->used = 0;
	ev->status = r->err_status;
	ev->reason = r->err_reason;
	return HTTP1_ERROR;
}

/* Error from http_parser (or from our callbacks, which take precedence). */
static enum http1_kind
req_parse_error(struct http1_req *r, struct http1_ev *ev)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&r->hp);
	const char *why;
	int status = 400;

	if (r->err_status)
		return req_error(r, ev, r->err_status, r->err_reason);
	switch (e) {
	case HPE_HEADER_OVERFLOW:
		status = 431;
		why = "request head too large";
		break;
	case HPE_INVALID_CONTENT_LENGTH:
		why = "invalid Content-Length";
		break;
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		why = "conflicting Content-Length";
		break;
	case HPE_INVALID_TRANSFER_ENCODING:
		why = "Transfer-Encoding other than chunked";
		break;
	case HPE_INVALID_CHUNK_SIZE:
		why = "invalid chunk size";
		break;
	case HPE_INVALID_METHOD:
		why = "invalid method";
		break;
	case HPE_INVALID_VERSION:
		why = "invalid HTTP version";
		break;
	case HPE_INVALID_URL:
		why = "invalid request target";
		break;
	case HPE_INVALID_HEADER_TOKEN:
		why = "invalid character in header";
		break;
	case HPE_LF_EXPECTED:
	case HPE_STRICT:
		why = "bare CR or LF";
		break;
	default:
		why = http_errno_description(e);
		break;
	}
	return req_error(r, ev, status, why);
}

/* Raw checks over a complete head p[0..n): control characters (NUL
 * included), bare CR, bare LF, obs-fold. One pass; the rare bytes branch. */
static const char *
req_check_raw(const uint8_t *p, size_t n)
{
	size_t i;
	uint8_t c;

	for (i = 0; i < n; i++) {
		c = p[i];
		if (c >= 0x20 && c != 0x7f)
			continue;
		switch (c) {
		case '\t':
			break;
		case '\r':
			if (i + 1 >= n || p[i + 1] != '\n')
				return "bare CR in request head";
			break;
		case '\n':
			if (i == 0 || p[i - 1] != '\r')
				return "bare LF in request head";
			if (i + 1 < n && lws(p[i + 1]))
				return "obsolete line folding";
			break;
		case '\0':
			return "NUL in request head";
		default:
			return "control character in request head";
		}
	}
	return NULL;
}

/* Validates the Host value and stores it lowercased, without port. */
static const char *
req_host(struct http1_req *r, const uint8_t *v, size_t n)
{
	size_t i = 0, hl, j;

	if (n == 0)
		return "empty Host header";
	if (v[0] == '[') {
		for (i = 1; i < n && v[i] != ']'; i++)
			if (!is_hex(v[i]) && v[i] != ':' && v[i] != '.')
				return "invalid Host header";
		if (i >= n || i < 3)
			return "invalid Host header";
		i++;
	} else {
		for (; i < n && v[i] != ':'; i++)
			if (!((v[i] >= 'a' && v[i] <= 'z') ||
			    (v[i] >= 'A' && v[i] <= 'Z') ||
			    (v[i] >= '0' && v[i] <= '9') || v[i] == '-' ||
			    v[i] == '.' || v[i] == '_'))
				return "invalid Host header";
		if (i == 0)
			return "invalid Host header";
	}
	hl = i;
	if (i < n) {
		if (v[i] != ':' || n - i - 1 > 5)
			return "invalid Host header";
		for (j = i + 1; j < n; j++)
			if (v[j] < '0' || v[j] > '9')
				return "invalid Host header";
	}
	if (hl > 1 && v[hl - 1] == '.')
		hl--;
	if (hl > HTTP1_MAX_HOST)
		return "invalid Host header";
	for (i = 0; i < hl; i++)
		r->host[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ?
		    v[i] + ('a' - 'A') : v[i]);
	r->host[hl] = '\0';
	return NULL;
}

/* Request line: exactly METHOD SP target SP HTTP/1.x CRLF after optional
 * empty lines. Returns NULL or a reason; *status set for a version error. */
static const char *
req_check_line(struct http1_req *r, const uint8_t *p, size_t n, int *status)
{
	const char *m = http_method_str((enum http_method)r->hp.method);
	size_t ml = strlen(m), ls, e, i;

	*status = 400;
	if (r->hp.http_major != 1 || r->hp.http_minor > 1) {
		*status = 505;
		return "HTTP version not supported";
	}
	if (!r->url_seen || r->url_len == 0 || r->url_off < ml + 1)
		return "malformed request line";
	ls = r->url_off - ml - 1;
	for (i = 0; i < ls; i++)
		if (p[i] != '\r' && p[i] != '\n')
			return "malformed request line";
	if (memcmp(p + ls, m, ml) != 0 || p[ls + ml] != ' ')
		return "malformed request line";
	e = (size_t)r->url_off + r->url_len;
	if (e + 10 > n || p[e] != ' ' || memcmp(p + e + 1, "HTTP/", 5) != 0 ||
	    p[e + 6] != '0' + r->hp.http_major || p[e + 7] != '.' ||
	    p[e + 8] != '0' + r->hp.http_minor || p[e + 9] != '\r')
		return "malformed request line";
	return NULL;
}

/* Host of an absolute-form target must be the Host header's; sets the
 * path reported for logs. */
static const char *
req_check_target(struct http1_req *r, const uint8_t *p, size_t *path_off)
{
	const char *u = (const char *)p + r->url_off;
	struct http_parser_url pu;
	size_t hl, rl;
	const char *h;

	*path_off = r->url_off;
	if (u[0] == '/' || (r->url_len == 1 && u[0] == '*'))
		return NULL;
	http_parser_url_init(&pu);
	if (http_parser_parse_url(u, r->url_len, 0, &pu) != 0 ||
	    !(pu.field_set & (1 << UF_HOST)) ||
	    !(pu.field_set & (1 << UF_SCHEMA)))
		return "invalid request target";
	h = u + pu.field_data[UF_HOST].off;
	hl = pu.field_data[UF_HOST].len;
	if (hl > 1 && h[hl - 1] == '.')
		hl--;
	rl = strlen(r->host);
	if (r->host[0] == '[') {
		if (rl < 2 || hl != rl - 2 ||
		    strncasecmp(h, r->host + 1, hl) != 0)
			return "Host header does not match request target";
	} else if (hl != rl || strncasecmp(h, r->host, hl) != 0) {
		return "Host header does not match request target";
	}
	if (pu.field_set & (1 << UF_PATH))
		*path_off = r->url_off + pu.field_data[UF_PATH].off;
	return NULL;
}

static uint8_t *
put(uint8_t *o, const void *p, size_t n)
{
	memcpy(o, p, n);
	return o + n;
}

#define PUTS(o, lit)    put((o), (lit), sizeof(lit) - 1)

/* Writes the rewritten head of src[0..n) (request line at ls) to hb after
 * `at`. Returns its length or -ENOMEM. */
static ssize_t
req_rewrite(struct http1_req *r, size_t at, size_t ls, size_t n)
{
	const uint8_t *src;
	size_t need, xff = 0, pos, last_end = n - 2;
	uint8_t *o, *o0;
	unsigned i;

	for (i = 0; i < r->ndrop; i++)
		if (r->drop[i].xff)
			xff += r->drop[i].vlen + 2;
	need = (n - ls) + xff + r->peer_len + r->host_len + 96;
	if (req_hb_reserve(r, at + need) != 0)
		return -ENOMEM;
	/* src may be the held head in hb: take it after the realloc */
	src = at ? r->hb : r->base;
	o = o0 = r->hb + at;
	pos = ls;
	for (i = 0; i < r->ndrop; i++) {
		o = put(o, src + pos, r->drop[i].line - pos);
		pos = r->drop[i].end;
	}
	o = put(o, src + pos, last_end - pos);
	o = PUTS(o, "X-Forwarded-For: ");
	for (i = 0; i < r->ndrop; i++) {
		if (!r->drop[i].xff || r->drop[i].vlen == 0)
			continue;
		o = put(o, src + r->drop[i].val, r->drop[i].vlen);
		o = PUTS(o, ", ");
	}
	o = put(o, r->peer, r->peer_len);
	if (r->tls)
		o = PUTS(o, "\r\nX-Forwarded-Proto: https\r\n");
	else
		o = PUTS(o, "\r\nX-Forwarded-Proto: http\r\n");
	o = PUTS(o, "X-Forwarded-Host: ");
	o = put(o, src + r->host_off, r->host_len);
	o = PUTS(o, "\r\n\r\n");
	return o - o0;
}

/* The last address of the request's own X-Forwarded-For (what the proxy
 * nearest to us recorded), copied; NULL when there is none or it is too
 * long to be an address. base: where the original head is. */
static const char *
req_xff_last(struct http1_req *r, const char *base)
{
	const char *v = NULL, *p;
	size_t n = 0, i;

	for (i = 0; i < r->ndrop; i++) {
		if (r->drop[i].xff && r->drop[i].vlen > 0) {
			v = base + r->drop[i].val;
			n = r->drop[i].vlen;
		}
	}
	if (v == NULL)
		return NULL;
	for (p = v + n; p > v && p[-1] != ','; p--)
		;
	n -= (size_t)(p - v);
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0 || n > HTTP1_XFF_LAST_MAX)
		return NULL;
	memcpy(r->xff_last, p, n);
	r->xff_last[n] = '\0';
	return r->xff_last;
}

/* The head ends at src[n - 1] (its final LF): check it, rewrite it, and
 * step http_parser past that LF. */
static enum http1_kind
req_head_done(struct http1_req *r, size_t n, size_t used, struct http1_ev *ev)
{
	const uint8_t *src = r->base;
	const char *why;
	size_t ls, at, path_off;
	ssize_t olen;
	int status;
	enum http_errno e;

	if (r->hcb == HC_FIELD) {
		r->v_len = 0;
		r->hcb = HC_VALUE;
	}
	if (r->hcb == HC_VALUE && req_hdr_done(r, (uint32_t)(n - 2)) != 0)
		return req_error(r, ev, r->err_status, r->err_reason);
	if ((why = req_check_raw(src, n)) != NULL)
		return req_error(r, ev, 400, why);
	if ((why = req_check_line(r, src, n, &status)) != NULL)
		return req_error(r, ev, status, why);
	if (r->hp.method == HTTP_CONNECT)
		return req_error(r, ev, 405, "CONNECT is not supported");
	if (r->nhost == 0)
		return req_error(r, ev, 400, "missing Host header");
	if ((why = req_host(r, src + r->host_off, r->host_len)) != NULL)
		return req_error(r, ev, 400, why);
	if (r->nte && r->hp.http_minor == 0)
		return req_error(r, ev, 400, "Transfer-Encoding in HTTP/1.0");
	if ((why = req_check_target(r, src, &path_off)) != NULL)
		return req_error(r, ev, 400, why);

	ls = r->url_off - strlen(http_method_str(
	    (enum http_method)r->hp.method)) - 1;
	at = src == r->hb ? n : 0;
	if ((olen = req_rewrite(r, at, ls, n)) < 0)
		return req_error(r, ev, 503, "out of memory");

	/* http_parser stopped on the head's last LF: give it that LF */
	r->head_done = false;
	r->state = RQ_BODY;
	r->hcb = HC_NONE;
	r->nhdr = 0;
	r->base = NULL;
	r->upgrade = r->hp.upgrade != 0;
	r->chunked = (r->hp.flags & F_CHUNKED) != 0;
	http_parser_execute(&r->hp, &req_settings, "\n", 1);
	e = HTTP_PARSER_ERRNO(&r->hp);
	if (e == HPE_PAUSED)
		http_parser_pause(&r->hp, 0);
	else if (e != HPE_OK)
		return req_parse_error(r, ev);
	r->upgrade = r->hp.upgrade != 0;
	if (r->msg_done)
		r->state = RQ_END;
	r->bytes = n;
	r->hlen = 0;

	ev->used = used;
	ev->method = http_method_str((enum http_method)r->hp.method);
	ev->host = r->host;
	ev->head = r->hb + at;
	ev->head_len = (size_t)olen;
	ev->path = (const char *)ev->head + (path_off - ls);
	ev->path_len = r->url_len - (path_off - r->url_off);
	ev->upgrade = r->upgrade;
	/* the original head is still there: in hb before the rewrite, or in
	 * the caller's input */
	ev->authorization = r->nauth ?
	    (const char *)(at ? r->hb : src) + r->auth_off : NULL;
	ev->authorization_len = r->nauth ? r->auth_len : 0;
	ev->xff = req_xff_last(r, (const char *)(at ? r->hb : src));
	return HTTP1_HEAD;
}

static enum http1_kind
req_feed_head(struct http1_req *r, const uint8_t *in, size_t len,
    struct http1_ev *ev)
{
	size_t room = r->conf.max_head - r->hlen, k, n;
	const uint8_t *p;
	enum http_errno e;
	bool held = r->hlen > 0;

	k = len < room ? len : room;
	if (held) {
		if (req_hb_reserve(r, r->hlen + k) != 0)
			return req_error(r, ev, 503, "out of memory");
		memcpy(r->hb + r->hlen, in, k);
		r->base = r->hb;
		p = r->hb + r->hlen;
	} else {
		r->base = in;
		p = in;
	}
	n = http_parser_execute(&r->hp, &req_settings, (const char *)p, k);
	e = HTTP_PARSER_ERRNO(&r->hp);
	if (e == HPE_PAUSED && r->head_done && r->err_status == 0) {
		http_parser_pause(&r->hp, 0);
		return req_head_done(r, r->hlen + n + 1, n + 1, ev);
	}
	if (e != HPE_OK)
		return req_parse_error(r, ev);
	if (r->hlen + n >= r->conf.max_head)
		return req_error(r, ev, 431, "request head too large");
	if (!held && n > 0) {
		if (req_hb_reserve(r, n) != 0)
			return req_error(r, ev, 503, "out of memory");
		memcpy(r->hb, in, n);
	}
	r->hlen += n;
	ev->used = n;
	return HTTP1_AGAIN;
}

static enum http1_kind
req_feed_body(struct http1_req *r, const uint8_t *in, size_t len,
    struct http1_ev *ev)
{
	enum http_errno e;
	size_t n;

	r->base = in;
	r->ck_pos = 0;
	n = http_parser_execute(&r->hp, &req_settings, (const char *)in, len);
	e = HTTP_PARSER_ERRNO(&r->hp);
	if (e == HPE_PAUSED)
		http_parser_pause(&r->hp, 0);
	else if (e != HPE_OK)
		return req_parse_error(r, ev);
	if (r->chunked) {
		if (req_ck_bytes(r, in + r->ck_pos, n - r->ck_pos) != 0 ||
		    (r->msg_done && r->ck != CK_DONE))
			return req_error(r, ev, 400, "invalid chunked framing");
	}
	r->base = NULL;
	r->bytes += n;
	if (r->msg_done)
		r->state = RQ_END;
	ev->used = n;
	return n > 0 ? HTTP1_BODY : HTTP1_AGAIN;
}

enum http1_kind
http1_req_feed(struct http1_req *r, const uint8_t *in, size_t len,
    struct http1_ev *ev)
{
	memset(ev, 0, sizeof(*ev));
	switch (r->state) {
	case RQ_HEAD:
		if (len == 0)
			return HTTP1_AGAIN;
		return req_feed_head(r, in, len, ev);
	case RQ_BODY:
		if (len == 0)
			return HTTP1_AGAIN;
		return req_feed_body(r, in, len, ev);
	case RQ_END:
		ev->keep_alive = r->keep_alive;
		ev->upgrade = r->upgrade;
		ev->bytes = r->bytes;
		ev->body_bytes = r->body_bytes;
		ev->method = http_method_str((enum http_method)r->hp.method);
		if (r->upgrade) {
			r->state = RQ_UPGRADE_WAIT;
			return HTTP1_UPGRADE;
		}
		if (!r->keep_alive) {
			r->state = RQ_CLOSED;
			return HTTP1_END;
		}
		req_reset_msg(r);
		return HTTP1_END;
	case RQ_UPGRADE_WAIT:
		ev->upgrade = true;
		return HTTP1_UPGRADE;
	case RQ_CLOSED:
		if (len == 0)
			return HTTP1_AGAIN;
		return req_error(r, ev, 400, "request after Connection: close");
	case RQ_RAW:
		ev->used = len;
		return len ? HTTP1_BODY : HTTP1_AGAIN;
	case RQ_ERROR:
		return req_error(r, ev, r->err_status, r->err_reason);
	}
	return req_error(r, ev, 500, "internal error");
}

void
http1_req_upgrade(struct http1_req *r, bool switched)
{
	if (r->state != RQ_UPGRADE_WAIT)
		return;
	if (switched)
		r->state = RQ_RAW;
	else
		req_reset_msg(r);
}

/* --- error responses --- */

const char *
http1_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 421: return "Misdirected Request";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

int
http1_error_response(int status, const char *reason, char *out, size_t cap)
{
	size_t rl, blen, i;
	int hl;

	if (status < 100 || status > 599)
		return -EINVAL;
	if (reason == NULL)
		reason = http1_status_text(status);
	rl = strlen(reason);
	blen = sizeof("warren: ") - 1 + rl + 1;
	/* a 401 must say how to authenticate (RFC 9110 15.5.2): basic auth,
	 * the only kind the edge asks for */
	hl = snprintf(out, cap, "HTTP/1.1 %d %s\r\n"
	    "%s"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n\r\n"
	    "warren: ", status, http1_status_text(status), status == 401 ?
	    "WWW-Authenticate: Basic realm=\"warren\", charset=\"UTF-8\"\r\n" : "",
	    blen);
	if (hl < 0 || (size_t)hl + rl + 2 > cap)
		return -ENOSPC;
	for (i = 0; i < rl; i++) {
		uint8_t c = (uint8_t)reason[i];

		out[hl + i] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
	}
	out[hl + rl] = '\n';
	out[hl + rl + 1] = '\0';
	return hl + (int)rl + 1;
}

/* --- observer --- */

static int
obs_on_message_begin(http_parser *hp)
{
	struct http1_obs *o = hp->data;

	o->body_bytes = 0;
	o->path_len = 0;
	return 0;
}

static int
obs_on_url(http_parser *hp, const char *at, size_t len)
{
	struct http1_obs *o = hp->data;
	size_t n = sizeof(o->path) - 1 - o->path_len;

	if (len < n)
		n = len;
	memcpy(o->path + o->path_len, at, n);
	o->path_len += n;
	o->path[o->path_len] = '\0';
	return 0;
}

static int
obs_on_body(http_parser *hp, const char *at, size_t len)
{
	struct http1_obs *o = hp->data;

	o->body_bytes += len;
	if (o->body_cb != NULL)
		o->body_cb(o->body_arg, (const uint8_t *)at, len);
	return 0;
}

static enum obs_method
obs_front(const struct http1_obs *o)
{
	return o->qlen ? (enum obs_method)o->queue[o->qhead] : OM_OTHER;
}

static int
obs_on_headers_complete(http_parser *hp)
{
	struct http1_obs *o = hp->data;
	enum obs_method m;
	int st;

	if (o->dir == HTTP1_OBS_REQUESTS) {
		o->head_done = true;
		http_parser_pause(hp, 1);
		return 0;
	}
	st = hp->status_code;
	m = obs_front(o);
	if (st == 101 || (m == OM_CONNECT && st / 100 == 2)) {
		o->raw_after = true;
		return 2;
	}
	if (st / 100 == 1)
		return 1;       /* interim: not reported, no body */
	o->head_done = true;
	http_parser_pause(hp, 1);
	return m == OM_HEAD || st == 204 || st == 304 ? 1 : 0;
}

static int
obs_on_message_complete(http_parser *hp)
{
	struct http1_obs *o = hp->data;

	if (o->dir == HTTP1_OBS_RESPONSES && hp->status_code / 100 == 1 &&
	    !o->raw_after)
		return 0;
	o->msg_done = true;
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings obs_settings = {
	.on_message_begin = obs_on_message_begin,
	.on_url = obs_on_url,
	.on_body = obs_on_body,
	.on_headers_complete = obs_on_headers_complete,
	.on_message_complete = obs_on_message_complete,
};

int
http1_obs_new(struct http1_obs **out, enum http1_obs_dir dir)
{
	struct http1_obs *o;

	if (dir != HTTP1_OBS_REQUESTS && dir != HTTP1_OBS_RESPONSES)
		return -EINVAL;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return -ENOMEM;
	o->dir = dir;
	http_parser_init(&o->hp, dir == HTTP1_OBS_REQUESTS ? HTTP_REQUEST :
	    HTTP_RESPONSE);
	o->hp.data = o;
	*out = o;
	return 0;
}

void
http1_obs_free(struct http1_obs *o)
{
	free(o);
}

void
http1_obs_request(struct http1_obs *o, const char *method)
{
	enum obs_method m = OM_OTHER;

	if (o->dir != HTTP1_OBS_RESPONSES || o->stopped)
		return;
	if (o->qlen == HTTP1_OBS_QUEUE) {
		o->stopped = true;
		return;
	}
	if (strcmp(method, "HEAD") == 0)
		m = OM_HEAD;
	else if (strcmp(method, "CONNECT") == 0)
		m = OM_CONNECT;
	o->queue[(o->qhead + o->qlen) % HTTP1_OBS_QUEUE] = (uint8_t)m;
	o->qlen++;
}

void
http1_obs_set_body(struct http1_obs *o, http1_obs_body_cb *cb, void *arg)
{
	o->body_cb = cb;
	o->body_arg = arg;
}

static void
obs_fill(struct http1_obs *o, struct http1_ev *ev)
{
	ev->bytes = o->bytes;
	ev->body_bytes = o->body_bytes;
	if (o->dir == HTTP1_OBS_REQUESTS) {
		ev->method = http_method_str((enum http_method)o->hp.method);
		ev->path = o->path;
		ev->path_len = o->path_len;
		ev->upgrade = o->hp.upgrade != 0;
	} else {
		ev->status = o->hp.status_code;
	}
}

/* The message ended: report it and start counting the next one. */
static enum http1_kind
obs_end(struct http1_obs *o, struct http1_ev *ev)
{
	obs_fill(o, ev);
	ev->keep_alive = http_should_keep_alive(&o->hp) != 0;
	o->msg_done = false;
	o->bytes = 0;
	if (o->dir == HTTP1_OBS_RESPONSES && o->qlen) {
		o->qhead = (o->qhead + 1) % HTTP1_OBS_QUEUE;
		o->qlen--;
	}
	if (o->raw_after) {
		o->stopped = true;
		return HTTP1_UPGRADE;
	}
	return HTTP1_END;
}

enum http1_kind
http1_obs_feed(struct http1_obs *o, const uint8_t *in, size_t len,
    struct http1_ev *ev)
{
	enum http_errno e;
	size_t n;

	memset(ev, 0, sizeof(*ev));
	if (o->stopped || len == 0) {
		ev->used = len;
		return HTTP1_AGAIN;
	}
	n = http_parser_execute(&o->hp, &obs_settings, (const char *)in, len);
	o->bytes += n;
	e = HTTP_PARSER_ERRNO(&o->hp);
	if (e == HPE_PAUSED) {
		http_parser_pause(&o->hp, 0);
		ev->used = n;
		if (o->head_done) {
			o->head_done = false;
			obs_fill(o, ev);
			return HTTP1_HEAD;
		}
		if (o->msg_done)
			return obs_end(o, ev);
	} else if (e != HPE_OK) {
		o->stopped = true;
		ev->used = len;
		obs_fill(o, ev);
		ev->reason = http_errno_description(e);
		return HTTP1_ERROR;
	}
	ev->used = n;
	if (n == 0)     /* nothing parsed and no event: stop rather than spin */
		o->stopped = true;
	return HTTP1_AGAIN;
}

enum http1_kind
http1_obs_eof(struct http1_obs *o, struct http1_ev *ev)
{
	enum http_errno e;

	memset(ev, 0, sizeof(*ev));
	if (o->stopped)
		return HTTP1_AGAIN;
	o->stopped = true;
	http_parser_execute(&o->hp, &obs_settings, NULL, 0);
	e = HTTP_PARSER_ERRNO(&o->hp);
	if (o->msg_done) {
		obs_end(o, ev);
		ev->keep_alive = false;
		return HTTP1_END;
	}
	if (e == HPE_OK)
		return HTTP1_AGAIN;
	obs_fill(o, ev);
	ev->reason = "stream ended inside a message";
	return HTTP1_ERROR;
}
