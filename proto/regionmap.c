/* regionmap — country -> region (see regionmap.h). */
#include "regionmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char regionmap_edgeproxy[] =
    "sa = BR AR CL PE CO UY PY BO EC VE\n"
    "us = US CA MX\n"
    "eu = PT ES FR DE NL IT GB IE BE CH AT PL CZ SE NO DK FI RU UA\n"
    "ap = JP KR TW HK SG MY TH VN ID PH AU NZ CN IN\n";

void
regionmap_default(struct regionmap *m)
{
	char err[8];

	if (regionmap_parse(m, regionmap_edgeproxy, sizeof(regionmap_edgeproxy) - 1,
	    err, sizeof(err)) != 0)
		abort();        /* the built-in table is well formed */
}

static int
regionmap_err(char *err, size_t errlen, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
regionmap_err(char *err, size_t errlen, size_t line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (errlen == 0)
		return -EINVAL;
	n = snprintf(err, errlen, "line %zu: ", line);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool
regionmap_namechar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

static bool
regionmap_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One line without its newline and comment. */
static int
regionmap_line(struct regionmap *m, const char *p, size_t len, size_t line,
    char *err, size_t errlen)
{
	struct lbpick_region r;
	const char *e = p + len, *name;
	size_t nlen, i;
	int idx = -1;

	while (p < e && regionmap_space(*p))
		p++;
	if (p == e)
		return 0;
	for (name = p; p < e && regionmap_namechar(*p); p++)
		;
	nlen = (size_t)(p - name);
	if (nlen == 0)
		return regionmap_err(err, errlen, line,
		    "expected a region name (letters, digits, '-', '_', '.')");
	if (lbpick_region(&r, name, nlen) != 0)
		return regionmap_err(err, errlen, line,
		    "region name longer than %d bytes", LBPICK_REGION_MAX);
	while (p < e && regionmap_space(*p))
		p++;
	if (p == e || *p != '=')
		return regionmap_err(err, errlen, line,
		    "expected '=' after the region name, as in 'eu = DE FR'");
	p++;
	for (i = 0; i < m->n; i++)
		if (memcmp(&m->region[i], &r, sizeof(r)) == 0)
			idx = (int)i;
	if (idx < 0) {
		if (m->n == REGIONMAP_MAX_REGIONS)
			return regionmap_err(err, errlen, line,
			    "more than %d regions", REGIONMAP_MAX_REGIONS);
		idx = (int)m->n;
		m->region[m->n++] = r;
	}
	for (;;) {
		unsigned a, b, k;

		while (p < e && (regionmap_space(*p) || *p == ','))
			p++;
		if (p == e)
			return 0;
		a = (unsigned char)p[0] & ~0x20u;
		b = e - p >= 2 ? (unsigned char)p[1] & ~0x20u : 0;
		if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z' ||
		    (e - p > 2 && !regionmap_space(p[2]) && p[2] != ','))
			return regionmap_err(err, errlen, line,
			    "expected a two-letter country code at column %zu",
			    (size_t)(p - (e - len)) + 1);
		k = (a - 'A') * 26 + (b - 'A');
		if (m->of[k] != 0 && m->of[k] != idx + 1) {
			char rn[LBPICK_REGION_MAX + 1];

			return regionmap_err(err, errlen, line,
			    "%c%c is already in region %s", a, b,
			    lbpick_region_name(&m->region[m->of[k] - 1], rn));
		}
		m->of[k] = (uint8_t)(idx + 1);
		p += 2;
	}
}

int
regionmap_parse(struct regionmap *m, const char *text, size_t len,
    char *err, size_t errlen)
{
	const char *p = text, *e = text + len;
	size_t line = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	if (errlen > 0)
		err[0] = '\0';
	if (len > REGIONMAP_FILE_MAX)
		return regionmap_err(err, errlen, 0, "the map is over %d bytes",
		    REGIONMAP_FILE_MAX);
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const char *end = nl != NULL ? nl : e, *hash;
		size_t n = (size_t)(end - p);

		line++;
		if (n > REGIONMAP_LINE_MAX)
			return regionmap_err(err, errlen, line,
			    "longer than %d bytes", REGIONMAP_LINE_MAX);
		if (memchr(p, '\0', n) != NULL)
			return regionmap_err(err, errlen, line, "a NUL byte");
		if ((hash = memchr(p, '#', n)) != NULL)
			n = (size_t)(hash - p);
		if ((rc = regionmap_line(m, p, n, line, err, errlen)) != 0)
			return rc;
		p = nl != NULL ? nl + 1 : e;
	}
	return 0;
}

int
regionmap_load(struct regionmap *m, const char *path, char *err, size_t errlen)
{
	char *buf, sub[200];
	ssize_t r;
	size_t len = 0;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		rc = -errno;
		snprintf(err, errlen, "cannot open region map %s: %s", path,
		    strerror(-rc));
		return rc;
	}
	if ((buf = malloc(REGIONMAP_FILE_MAX + 1)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory reading %s", path);
		return -ENOMEM;
	}
	while (len <= REGIONMAP_FILE_MAX &&
	    (r = read(fd, buf + len, REGIONMAP_FILE_MAX + 1 - len)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			snprintf(err, errlen, "cannot read region map %s: %s",
			    path, strerror(-rc));
			goto out;
		}
		len += (size_t)r;
	}
	rc = regionmap_parse(m, buf, len, sub, sizeof(sub));
	if (rc != 0)
		snprintf(err, errlen, "region map %s: %s", path, sub);
out:
	free(buf);
	close(fd);
	return rc;
}

const struct lbpick_region *
regionmap_region(const struct regionmap *m, uint16_t country)
{
	unsigned a = country >> 8, b = country & 0xff, i;

	if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z')
		return NULL;
	i = m->of[(a - 'A') * 26 + (b - 'A')];
	return i != 0 ? &m->region[i - 1] : NULL;
}

size_t
regionmap_format(const struct regionmap *m, char *buf, size_t cap)
{
	char rn[LBPICK_REGION_MAX + 1];
	size_t need = 0, r, k;
	int n;

	if (cap > 0)
		buf[0] = '\0';
	for (r = 0; r < m->n; r++) {
		n = snprintf(need < cap ? buf + need : NULL,
		    need < cap ? cap - need : 0, "%s =",
		    lbpick_region_name(&m->region[r], rn));
		need += (size_t)n;
		for (k = 0; k < 26 * 26; k++) {
			if (m->of[k] != r + 1)
				continue;
			n = snprintf(need < cap ? buf + need : NULL,
			    need < cap ? cap - need : 0, " %c%c",
			    (char)('A' + k / 26), (char)('A' + k % 26));
			need += (size_t)n;
		}
		n = snprintf(need < cap ? buf + need : NULL,
		    need < cap ? cap - need : 0, "\n");
		need += (size_t)n;
	}
	return need;
}
