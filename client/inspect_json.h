/* inspect_json — the request inspector's JSON: records as the API serves
 * them, and the split of a captured head into its start line and header
 * fields.
 *
 * Heads come from the tunnel (untrusted): the splitter is bounded by the
 * bytes given, accepts CRLF or bare LF line ends, skips lines without a
 * colon, and for a response keeps only the last head (interim 1xx heads
 * come first). Bodies are given as text when they are UTF-8 without NUL,
 * else in base64. */
#ifndef WARREN_INSPECT_JSON_H
#define WARREN_INSPECT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct inspect_rec;

/* One header field: pointers into the head given to inspect_json_head. */
struct inspect_json_field {
	const char *name, *value;
	size_t name_len, value_len;
};

#define INSPECT_JSON_FIELDS 128         /* fields kept per head */

/* Splits head[0..len) into its start line (*line, *line_len) and up to
 * max fields (names and values trimmed). Returns the fields found (at most
 * max). `last` keeps only the head after the last empty line that is not
 * at the end (responses). */
size_t inspect_json_head(const uint8_t *head, size_t len, int last,
    const char **line, size_t *line_len, struct inspect_json_field *f,
    size_t max);

/* {id, replay_of, tunnel, method, path, status, state, start, duration_ms,
 * peer, req_bytes, resp_bytes, upgraded, frames_in, frames_out}; NULL on
 * ENOMEM. */
json_t *inspect_json_summary(const struct inspect_rec *r);
/* The summary plus request and response: {line, headers [[name, value]],
 * body {size, kept, truncated, encoding "text"|"base64", data}}. */
json_t *inspect_json_detail(const struct inspect_rec *r);

#endif
