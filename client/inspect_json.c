#include "inspect_json.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "inspect_store.h"

static bool
inspect_json_sp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* [p, p+len) without leading and trailing blanks. */
static void
inspect_json_trim(const char **p, size_t *len)
{
	while (*len > 0 && inspect_json_sp((uint8_t)(*p)[0])) {
		(*p)++;
		(*len)--;
	}
	while (*len > 0 && (inspect_json_sp((uint8_t)(*p)[*len - 1]) ||
	    (*p)[*len - 1] == '\r'))
		(*len)--;
}

size_t
inspect_json_head(const uint8_t *head, size_t len, int last,
    const char **line, size_t *line_len, struct inspect_json_field *f,
    size_t max)
{
	const char *s = (const char *)head, *end = s + len, *nl;
	size_t n = 0;
	bool first = true;

	*line = s;
	*line_len = 0;
	while (s < end) {
		const char *e, *colon;
		size_t l;

		nl = memchr(s, '\n', (size_t)(end - s));
		e = nl ? nl : end;
		l = (size_t)(e - s);
		if (l > 0 && s[l - 1] == '\r')
			l--;
		if (l == 0) {
			/* end of a head: another may follow (1xx first) */
			if (!last || nl == NULL || nl + 1 >= end)
				break;
			first = true;
			n = 0;
			s = nl + 1;
			continue;
		}
		if (first) {
			*line = s;
			*line_len = l;
			first = false;
		} else if (n < max && (colon = memchr(s, ':', l)) != NULL) {
			f[n].name = s;
			f[n].name_len = (size_t)(colon - s);
			f[n].value = colon + 1;
			f[n].value_len = l - f[n].name_len - 1;
			inspect_json_trim(&f[n].name, &f[n].name_len);
			inspect_json_trim(&f[n].value, &f[n].value_len);
			n++;
		}
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	return n;
}

static bool inspect_json_is_text(const uint8_t *p, size_t len);

/* A JSON string of p[0..len): bytes that are not UTF-8 (or NUL) become '?',
 * since JSON strings carry only text. */
static json_t *
inspect_json_str(const char *p, size_t len)
{
	json_t *j;
	char *c;
	size_t i = 0;

	if (inspect_json_is_text((const uint8_t *)p, len))
		return json_stringn(len ? p : "", len);
	if ((c = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(c, p, len);
	while (i < len) {
		size_t k;

		/* the longest valid prefix from i, byte by byte */
		for (k = 4; k > 0; k--)
			if (i + k <= len &&
			    inspect_json_is_text((const uint8_t *)c + i, k))
				break;
		if (k == 0) {
			c[i++] = '?';
			continue;
		}
		i += k;
	}
	j = json_stringn(c, len);
	free(c);
	return j;
}

static json_t *
inspect_json_cstr(const char *s)
{
	return inspect_json_str(s ? s : "", s ? strlen(s) : 0);
}

static const char *
inspect_json_state(const struct inspect_rec *r)
{
	switch (r->state) {
	case INSPECT_DONE:
		return "done";
	case INSPECT_CLOSED:
		return "closed";
	default:
		return "open";
	}
}

json_t *
inspect_json_summary(const struct inspect_rec *r)
{
	double dur = r->end_us ? (double)(r->end_us - r->start_us) / 1e3 : -1;

	return json_pack("{s:I, s:I, s:o, s:o, s:o, s:i, s:s, s:f, s:f, s:o,"
	    " s:I, s:I, s:b, s:I, s:I, s:b}",
	    "id", (json_int_t)r->id,
	    "replay_of", (json_int_t)r->replay_of,
	    "tunnel", inspect_json_cstr(r->tunnel),
	    "method", inspect_json_cstr(r->method),
	    "path", inspect_json_cstr(r->path),
	    "status", r->status,
	    "state", inspect_json_state(r),
	    "start", (double)r->start_us / 1e3,
	    "duration_ms", dur,
	    "peer", inspect_json_cstr(r->peer),
	    "req_bytes", (json_int_t)r->req_body.total,
	    "resp_bytes", (json_int_t)r->resp_body.total,
	    "upgraded", r->upgraded,
	    "frames_in", (json_int_t)r->frames_in,
	    "frames_out", (json_int_t)r->frames_out,
	    "truncated", r->req_body.truncated || r->resp_body.truncated);
}

/* Valid UTF-8 without NUL (text that JSON can carry as a string): no
 * overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static bool
inspect_json_is_text(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = p[i], lo = 0x80, hi = 0xbf;
		size_t n;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3;
		else
			return false;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (i + n >= len)
			return false;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += n + 1;
	}
	return true;
}

static json_t *
inspect_json_body(const struct inspect_part *pt)
{
	json_t *o, *data;
	char *b64;
	size_t cap;

	if (inspect_json_is_text(pt->p, pt->len)) {
		data = json_stringn(pt->len ? (const char *)pt->p : "", pt->len);
		o = json_pack("{s:I, s:I, s:b, s:s, s:o}", "size",
		    (json_int_t)pt->total, "kept", (json_int_t)pt->len,
		    "truncated", pt->truncated, "encoding", "text", "data", data);
		return o;
	}
	cap = 4 * ((pt->len + 2) / 3) + 1;
	if ((b64 = malloc(cap)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)b64, pt->p, (int)pt->len);
	o = json_pack("{s:I, s:I, s:b, s:s, s:s}", "size", (json_int_t)pt->total,
	    "kept", (json_int_t)pt->len, "truncated", pt->truncated,
	    "encoding", "base64", "data", b64);
	free(b64);
	return o;
}

static json_t *
inspect_json_side(const struct inspect_part *head, const struct inspect_part *body,
    int last)
{
	struct inspect_json_field *f;
	const char *line;
	size_t line_len, n;
	json_t *o, *hdrs;

	if ((f = calloc(INSPECT_JSON_FIELDS, sizeof(*f))) == NULL)
		return NULL;
	n = inspect_json_head(head->p ? head->p : (const uint8_t *)"", head->len,
	    last, &line, &line_len, f, INSPECT_JSON_FIELDS);
	hdrs = json_array();
	for (size_t i = 0; hdrs != NULL && i < n; i++)
		json_array_append_new(hdrs, json_pack("[o, o]",
		    inspect_json_str(f[i].name, f[i].name_len),
		    inspect_json_str(f[i].value, f[i].value_len)));
	free(f);
	o = json_pack("{s:o, s:o, s:o, s:b}", "line",
	    inspect_json_str(line, line_len),
	    "headers", hdrs ? hdrs : json_array(), "body", inspect_json_body(body),
	    "head_truncated", head->truncated);
	return o;
}

json_t *
inspect_json_detail(const struct inspect_rec *r)
{
	json_t *o = inspect_json_summary(r);

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "request", inspect_json_side(&r->req_head,
	    &r->req_body, 0));
	json_object_set_new(o, "response", inspect_json_side(&r->resp_head,
	    &r->resp_body, 1));
	json_object_set_new(o, "local", inspect_json_cstr(r->local));
	return o;
}
