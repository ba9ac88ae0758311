/* client_toml — a small, bounded reader for the TOML that frp's client
 * configuration uses (frpc.toml): comments, `key = value` with bare, quoted
 * and dotted keys, [table] and [[array.of.tables]] headers, basic and
 * literal strings (one line), integers, floats, booleans, arrays of those
 * (over several lines too) and inline tables, which are flattened into
 * dotted keys. Multi-line strings, dates and arrays of arrays are refused
 * with the line number.
 *
 * It hands each value to a callback with its table ("" at the top, "proxies"
 * for an element of [[proxies]]), the element's index for arrays of tables
 * (-1 otherwise) and its full dotted key. Untrusted input: every length is
 * capped (CLIENT_TOML_MAX_*) and nothing recurses deeper than
 * CLIENT_TOML_MAX_DEPTH. */
#ifndef WARREN_CLIENT_TOML_H
#define WARREN_CLIENT_TOML_H

#include <stddef.h>

#define CLIENT_TOML_MAX_KEY     256     /* a dotted key, bytes */
#define CLIENT_TOML_MAX_VALUE   4096    /* a value's text (an array: joined) */
#define CLIENT_TOML_MAX_ITEMS   256     /* items in one array */
#define CLIENT_TOML_MAX_DEPTH   4       /* inline tables within each other */

enum client_toml_type {
	CLIENT_TOML_STRING = 1,
	CLIENT_TOML_INTEGER,
	CLIENT_TOML_FLOAT,
	CLIENT_TOML_BOOL,
	CLIENT_TOML_ARRAY,              /* text: the items joined with ',' */
};

struct client_toml_value {
	enum client_toml_type type;
	const char *text;               /* NUL-terminated; strings unescaped */
	size_t len;
	size_t items;                   /* CLIENT_TOML_ARRAY */
};

/* Return 0 to go on, nonzero to stop (client_toml_parse then returns -1
 * without touching err). */
typedef int client_toml_cb(void *arg, const char *table, int index,
    const char *key, const struct client_toml_value *v);

/* Parses text[0..len). Returns 0, or -1: a syntax error (a sentence with
 * the line number in err) or the callback stopped. */
int client_toml_parse(const char *text, size_t len, client_toml_cb *cb,
    void *arg, char *err, size_t errlen);

#endif
