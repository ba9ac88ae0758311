/* regionmap — which region a client's country belongs to.
 *
 * The default is edgeProxy's table:
 *   sa = BR AR CL PE CO UY PY BO EC VE
 *   us = US CA MX
 *   eu = PT ES FR DE NL IT GB IE BE CH AT PL CZ SE NO DK FI RU UA
 *   ap = JP KR TW HK SG MY TH VN ID PH AU NZ CN IN
 *
 * An operator replaces it whole with a file (`--region-map FILE`) in the
 * same form: one region per line, `REGION = CC CC ...`; countries are ISO
 * 3166-1 alpha-2 codes (either case) separated by spaces, tabs or commas; a
 * region may have several lines; `#` starts a comment; blank lines are
 * ignored. Region names are 1..16 bytes of letters, digits, '-', '_' and
 * '.'. A country under two regions, more than REGIONMAP_MAX_REGIONS
 * regions, a line over REGIONMAP_LINE_MAX bytes or a file over
 * REGIONMAP_FILE_MAX bytes is an error naming the line. */
#ifndef WARREN_REGIONMAP_H
#define WARREN_REGIONMAP_H

#include <stddef.h>
#include <stdint.h>

#include "lbpick.h"

#define REGIONMAP_MAX_REGIONS   64
#define REGIONMAP_LINE_MAX      4096
#define REGIONMAP_FILE_MAX      65536

struct regionmap {
	uint8_t of[26 * 26];            /* country -> region index + 1; 0 none */
	size_t n;                       /* regions in use */
	struct lbpick_region region[REGIONMAP_MAX_REGIONS];
};

/* Fills m with edgeProxy's table. */
void regionmap_default(struct regionmap *m);
/* Parses text[len] (the file's form above) into *m. Returns 0, or -EINVAL
 * with a sentence ("line 3: ...") in err[errlen]; *m is then undefined. */
int regionmap_parse(struct regionmap *m, const char *text, size_t len,
    char *err, size_t errlen);
/* Reads and parses a file. Returns 0, or -errno / -EINVAL with err set. */
int regionmap_load(struct regionmap *m, const char *path, char *err,
    size_t errlen);
/* The region of a country (lbpick_country()), or NULL when it has none. */
const struct lbpick_region *regionmap_region(const struct regionmap *m,
    uint16_t country);
/* Writes m in the file's form (regions in index order, countries A..Z) into
 * buf[cap], NUL-terminated. Returns the length it needs (not counting the
 * NUL); larger than cap - 1 means it was cut. */
size_t regionmap_format(const struct regionmap *m, char *buf, size_t cap);

#endif
