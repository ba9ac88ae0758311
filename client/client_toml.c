#include "client_toml.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct client_toml {
	const char *p, *end;
	int line;
	char table[CLIENT_TOML_MAX_KEY];
	int index;                      /* of the [[table]] element, or -1 */
	struct {                        /* [[name]] seen so far, and counts */
		char name[CLIENT_TOML_MAX_KEY];
		int n;
	} arrays[16];
	int narrays;
	client_toml_cb *cb;
	void *arg;
	char *err;
	size_t errlen;
	bool stopped;
	char val[CLIENT_TOML_MAX_VALUE + 1];
	size_t vlen;
};

static int
client_toml_fail(struct client_toml *t, const char *what)
{
	if (!t->stopped)
		snprintf(t->err, t->errlen, "line %d: %s", t->line, what);
	return -1;
}

/* Skips blanks; with nl also newlines and comments. */
static void
client_toml_ws(struct client_toml *t, bool nl)
{
	while (t->p < t->end) {
		char c = *t->p;

		if (c == ' ' || c == '\t') {
			t->p++;
		} else if (c == '#') {
			while (t->p < t->end && *t->p != '\n')
				t->p++;
		} else if (nl && (c == '\n' || c == '\r')) {
			if (c == '\n')
				t->line++;
			t->p++;
		} else {
			break;
		}
	}
}

/* The rest of the line must be blank or a comment. */
static int
client_toml_eol(struct client_toml *t)
{
	client_toml_ws(t, false);
	if (t->p < t->end && *t->p == '\r')
		t->p++;
	if (t->p < t->end && *t->p != '\n')
		return client_toml_fail(t, "unexpected text after the value");
	return 0;
}

static bool
client_toml_bare(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int
client_toml_put(char *dst, size_t cap, size_t *len, char c)
{
	if (*len + 1 >= cap)
		return -1;
	dst[(*len)++] = c;
	dst[*len] = '\0';
	return 0;
}

/* Appends code point u as UTF-8. */
static int
client_toml_utf8(char *dst, size_t cap, size_t *len, unsigned long u)
{
	char b[4];
	int n;

	if (u < 0x80) {
		b[0] = (char)u;
		n = 1;
	} else if (u < 0x800) {
		b[0] = (char)(0xc0 | u >> 6);
		b[1] = (char)(0x80 | (u & 0x3f));
		n = 2;
	} else if (u < 0x10000) {
		if (u >= 0xd800 && u <= 0xdfff)
			return -1;
		b[0] = (char)(0xe0 | u >> 12);
		b[1] = (char)(0x80 | (u >> 6 & 0x3f));
		b[2] = (char)(0x80 | (u & 0x3f));
		n = 3;
	} else if (u <= 0x10ffff) {
		b[0] = (char)(0xf0 | u >> 18);
		b[1] = (char)(0x80 | (u >> 12 & 0x3f));
		b[2] = (char)(0x80 | (u >> 6 & 0x3f));
		b[3] = (char)(0x80 | (u & 0x3f));
		n = 4;
	} else {
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (client_toml_put(dst, cap, len, b[i]) != 0)
			return -1;
	return 0;
}

/* A quoted string at t->p (basic "..." or literal '...') into dst. */
static int
client_toml_string(struct client_toml *t, char *dst, size_t cap, size_t *len)
{
	char q = *t->p++;

	if (t->end - t->p >= 2 && t->p[0] == q && t->p[1] == q)
		return client_toml_fail(t, "multi-line strings are not supported");
	while (t->p < t->end && *t->p != q) {
		char c = *t->p++;

		if (c == '\n' || c == '\r')
			return client_toml_fail(t, "unterminated string");
		if ((unsigned char)c < 0x20 && c != '\t')
			return client_toml_fail(t, "control character in a string");
		if (c == '\\' && q == '"') {
			unsigned long u = 0;
			int nhex = 0;

			if (t->p >= t->end)
				break;
			c = *t->p++;
			switch (c) {
			case 'b': c = '\b'; break;
			case 't': c = '\t'; break;
			case 'n': c = '\n'; break;
			case 'f': c = '\f'; break;
			case 'r': c = '\r'; break;
			case '"': case '\\': break;
			case 'u': nhex = 4; break;
			case 'U': nhex = 8; break;
			default:
				return client_toml_fail(t, "unknown escape in a string");
			}
			if (nhex > 0) {
				for (int i = 0; i < nhex; i++) {
					char h;

					if (t->p >= t->end)
						return client_toml_fail(t,
						    "short \\u escape");
					h = *t->p++;
					u <<= 4;
					if (h >= '0' && h <= '9')
						u |= (unsigned long)(h - '0');
					else if (h >= 'a' && h <= 'f')
						u |= (unsigned long)(h - 'a' + 10);
					else if (h >= 'A' && h <= 'F')
						u |= (unsigned long)(h - 'A' + 10);
					else
						return client_toml_fail(t,
						    "bad \\u escape");
				}
				if (client_toml_utf8(dst, cap, len, u) != 0)
					return client_toml_fail(t, "bad or too long "
					    "string");
				continue;
			}
		}
		if (client_toml_put(dst, cap, len, c) != 0)
			return client_toml_fail(t, "string too long");
	}
	if (t->p >= t->end)
		return client_toml_fail(t, "unterminated string");
	t->p++;
	return 0;
}

/* A key (bare, quoted, dotted) into key[*len...], after `prefix`. */
static int
client_toml_key(struct client_toml *t, char *key, size_t *len)
{
	for (;;) {
		client_toml_ws(t, false);
		if (t->p >= t->end)
			return client_toml_fail(t, "missing key");
		if (*t->p == '"' || *t->p == '\'') {
			if (client_toml_string(t, key, CLIENT_TOML_MAX_KEY, len) != 0)
				return -1;
		} else if (client_toml_bare(*t->p)) {
			while (t->p < t->end && client_toml_bare(*t->p))
				if (client_toml_put(key, CLIENT_TOML_MAX_KEY, len,
				    *t->p++) != 0)
					return client_toml_fail(t, "key too long");
		} else {
			return client_toml_fail(t, "bad key");
		}
		client_toml_ws(t, false);
		if (t->p < t->end && *t->p == '.') {
			t->p++;
			if (client_toml_put(key, CLIENT_TOML_MAX_KEY, len, '.') != 0)
				return client_toml_fail(t, "key too long");
			continue;
		}
		return 0;
	}
}

static int client_toml_value(struct client_toml *t, const char *key,
    int depth);

static int
client_toml_emit(struct client_toml *t, const char *key,
    enum client_toml_type type, size_t items)
{
	struct client_toml_value v = { type, t->val, t->vlen, items };

	if (t->cb(t->arg, t->table, t->index, key, &v) != 0) {
		t->stopped = true;
		return -1;
	}
	return 0;
}

/* A scalar at t->p into t->val (appended); sets *type. */
static int
client_toml_scalar(struct client_toml *t, enum client_toml_type *type)
{
	const char *s = t->p;

	if (*t->p == '"' || *t->p == '\'') {
		*type = CLIENT_TOML_STRING;
		return client_toml_string(t, t->val, sizeof(t->val), &t->vlen);
	}
	while (t->p < t->end && (client_toml_bare(*t->p) || *t->p == '.' ||
	    *t->p == '+' || *t->p == ':'))
		t->p++;
	if (t->p == s)
		return client_toml_fail(t, "missing value");
	if ((size_t)(t->p - s) == 4 && memcmp(s, "true", 4) == 0)
		*type = CLIENT_TOML_BOOL;
	else if ((size_t)(t->p - s) == 5 && memcmp(s, "false", 5) == 0)
		*type = CLIENT_TOML_BOOL;
	else {
		bool digits = false, other = false, dot = false;

		for (const char *c = s; c < t->p; c++) {
			if (*c >= '0' && *c <= '9')
				digits = true;
			else if (*c == '.' || *c == 'e' || *c == 'E')
				dot = true;
			else if (*c != '_' && !((*c == '+' || *c == '-') &&
			    (c == s || c[-1] == 'e' || c[-1] == 'E')))
				other = true;
		}
		if (!digits || other)
			return client_toml_fail(t, "bad value (dates and bare "
			    "words are not supported; quote strings)");
		*type = dot ? CLIENT_TOML_FLOAT : CLIENT_TOML_INTEGER;
	}
	for (const char *c = s; c < t->p; c++)
		if (*c != '_' && client_toml_put(t->val, sizeof(t->val), &t->vlen,
		    *c) != 0)
			return client_toml_fail(t, "value too long");
	return 0;
}

/* Skips a nested array or inline table at t->p (strings and comments
 * inside understood), at most CLIENT_TOML_MAX_DEPTH deep. */
static int
client_toml_skip(struct client_toml *t, int depth)
{
	char open = *t->p, close = open == '[' ? ']' : '}';
	char scratch[CLIENT_TOML_MAX_VALUE + 1];
	size_t n;

	if (depth >= CLIENT_TOML_MAX_DEPTH)
		return client_toml_fail(t, "values nested too deep");
	t->p++;
	for (;;) {
		client_toml_ws(t, true);
		if (t->p >= t->end)
			return client_toml_fail(t, "unterminated array or table");
		if (*t->p == close) {
			t->p++;
			return 0;
		}
		if (*t->p == '[' || *t->p == '{') {
			if (client_toml_skip(t, depth + 1) != 0)
				return -1;
		} else if (*t->p == '"' || *t->p == '\'') {
			n = 0;
			if (client_toml_string(t, scratch, sizeof(scratch), &n) != 0)
				return -1;
		} else {
			t->p++;         /* keys, =, commas, bare values */
		}
	}
}

static int
client_toml_array(struct client_toml *t, const char *key)
{
	enum client_toml_type type;
	size_t items = 0;

	t->p++;
	t->vlen = 0;
	t->val[0] = '\0';
	for (;;) {
		client_toml_ws(t, true);
		if (t->p >= t->end)
			return client_toml_fail(t, "unterminated array");
		if (*t->p == ']') {
			t->p++;
			break;
		}
		if (*t->p == '[' || *t->p == '{') {
			/* an array or table inside an array (frp's
			 * healthCheck.httpHeaders): skipped, shown as "{}" */
			if (items == CLIENT_TOML_MAX_ITEMS)
				return client_toml_fail(t, "array too long");
			if ((items > 0 && client_toml_put(t->val, sizeof(t->val),
			    &t->vlen, ',') != 0) || client_toml_put(t->val,
			    sizeof(t->val), &t->vlen, '{') != 0 ||
			    client_toml_put(t->val, sizeof(t->val), &t->vlen,
			    '}') != 0)
				return client_toml_fail(t, "array too long");
			if (client_toml_skip(t, 0) != 0)
				return -1;
			items++;
			client_toml_ws(t, true);
			if (t->p < t->end && *t->p == ',')
				t->p++;
			else if (t->p < t->end && *t->p != ']')
				return client_toml_fail(t, "expected , or ] in an "
				    "array");
			continue;
		}
		if (items == CLIENT_TOML_MAX_ITEMS)
			return client_toml_fail(t, "array too long");
		if (items > 0 && client_toml_put(t->val, sizeof(t->val),
		    &t->vlen, ',') != 0)
			return client_toml_fail(t, "array too long");
		if (client_toml_scalar(t, &type) != 0)
			return -1;
		items++;
		client_toml_ws(t, true);
		if (t->p < t->end && *t->p == ',')
			t->p++;
		else if (t->p < t->end && *t->p != ']')
			return client_toml_fail(t, "expected , or ] in an array");
	}
	return client_toml_emit(t, key, CLIENT_TOML_ARRAY, items);
}

/* { a = 1, b.c = "x" }: each as key.a, key.b.c */
static int
client_toml_inline(struct client_toml *t, const char *key, int depth)
{
	char sub[CLIENT_TOML_MAX_KEY];
	size_t len;

	if (depth >= CLIENT_TOML_MAX_DEPTH)
		return client_toml_fail(t, "inline tables nested too deep");
	t->p++;
	client_toml_ws(t, false);
	if (t->p < t->end && *t->p == '}') {
		t->p++;
		return 0;
	}
	for (;;) {
		len = strlen(key);
		if (len + 2 >= sizeof(sub))
			return client_toml_fail(t, "key too long");
		memcpy(sub, key, len);
		sub[len++] = '.';
		sub[len] = '\0';
		if (client_toml_key(t, sub, &len) != 0)
			return -1;
		if (t->p >= t->end || *t->p != '=')
			return client_toml_fail(t, "expected = in an inline table");
		t->p++;
		if (client_toml_value(t, sub, depth + 1) != 0)
			return -1;
		client_toml_ws(t, false);
		if (t->p < t->end && *t->p == ',') {
			t->p++;
			continue;
		}
		if (t->p < t->end && *t->p == '}') {
			t->p++;
			return 0;
		}
		return client_toml_fail(t, "expected , or } in an inline table");
	}
}

static int
client_toml_value(struct client_toml *t, const char *key, int depth)
{
	enum client_toml_type type;

	client_toml_ws(t, false);
	if (t->p >= t->end || *t->p == '\n')
		return client_toml_fail(t, "missing value");
	if (*t->p == '[')
		return client_toml_array(t, key);
	if (*t->p == '{')
		return client_toml_inline(t, key, depth);
	t->vlen = 0;
	t->val[0] = '\0';
	if (client_toml_scalar(t, &type) != 0)
		return -1;
	return client_toml_emit(t, key, type, 0);
}

static int
client_toml_header(struct client_toml *t)
{
	bool arr = t->end - t->p >= 2 && t->p[1] == '[';
	size_t len = 0;

	t->p += arr ? 2 : 1;
	t->table[0] = '\0';
	if (client_toml_key(t, t->table, &len) != 0)
		return -1;
	if (t->end - t->p < (arr ? 2 : 1) || t->p[0] != ']' ||
	    (arr && t->p[1] != ']'))
		return client_toml_fail(t, arr ? "expected ]]" : "expected ]");
	t->p += arr ? 2 : 1;
	t->index = -1;
	if (arr) {
		int i;

		for (i = 0; i < t->narrays; i++)
			if (strcmp(t->arrays[i].name, t->table) == 0)
				break;
		if (i == t->narrays) {
			if (t->narrays == (int)(sizeof(t->arrays) /
			    sizeof(t->arrays[0])))
				return client_toml_fail(t, "too many arrays of tables");
			snprintf(t->arrays[i].name, sizeof(t->arrays[i].name),
			    "%s", t->table);
			t->arrays[i].n = 0;
			t->narrays++;
		}
		t->index = t->arrays[i].n++;
	}
	return client_toml_eol(t);
}

int
client_toml_parse(const char *text, size_t len, client_toml_cb *cb, void *arg,
    char *err, size_t errlen)
{
	struct client_toml tl, *t = &tl;        /* about 9 KiB */
	char key[CLIENT_TOML_MAX_KEY];
	size_t klen;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	t->p = text;
	t->end = text + len;
	t->line = 1;
	t->index = -1;
	t->cb = cb;
	t->arg = arg;
	t->err = err;
	t->errlen = errlen;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		t->p += 3;      /* a UTF-8 byte order mark */
	for (;;) {
		client_toml_ws(t, true);
		if (t->p >= t->end)
			break;
		if (*t->p == '[') {
			if ((rc = client_toml_header(t)) != 0)
				break;
			continue;
		}
		klen = 0;
		key[0] = '\0';
		if ((rc = client_toml_key(t, key, &klen)) != 0)
			break;
		if (t->p >= t->end || *t->p != '=') {
			rc = client_toml_fail(t, "expected = after the key");
			break;
		}
		t->p++;
		if ((rc = client_toml_value(t, key, 0)) != 0 ||
		    (rc = client_toml_eol(t)) != 0)
			break;
	}
	return rc;
}
