#include "gossip/nodemeta.h"

#include <errno.h>
#include <string.h>

#define NODEMETA_FIELDS         5

int
nodemeta_encode(const struct nodemeta *m, uint8_t *buf, size_t cap)
{
	const char *f[NODEMETA_FIELDS] = { m->http, m->tunnel, m->version,
	    m->mesh, m->repl };
	size_t off = 1, n;
	int i;

	if (cap < 1)
		return -ENOSPC;
	buf[0] = NODEMETA_VERSION;
	for (i = 0; i < NODEMETA_FIELDS; i++) {
		n = strlen(f[i]);
		if (n > NODEMETA_STR_MAX)
			return -EINVAL;
		if (cap - off < 1 + n)
			return -ENOSPC;
		buf[off++] = (uint8_t)n;
		memcpy(buf + off, f[i], n);
		off += n;
	}
	return (int)off;
}

int
nodemeta_decode(struct nodemeta *m, const void *buf, size_t len)
{
	char *f[NODEMETA_FIELDS] = { m->http, m->tunnel, m->version, m->mesh,
	    m->repl };
	const uint8_t *p = buf;
	size_t off = 1, n;
	int i;

	memset(m, 0, sizeof(*m));
	if (len == 0)
		return 0;
	if (p[0] != NODEMETA_VERSION)
		return -EINVAL;
	for (i = 0; i < NODEMETA_FIELDS && off < len; i++) {
		n = p[off++];
		if (n > NODEMETA_STR_MAX || n > len - off ||
		    memchr(p + off, '\0', n) != NULL) {
			memset(m, 0, sizeof(*m));
			return -EINVAL;
		}
		memcpy(f[i], p + off, n);
		f[i][n] = '\0';
		off += n;
	}
	return 0;
}
