#include "probemsg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int
probemsg_node_ok(const char *node, size_t n)
{
	size_t i;

	if (n == 0 || n > PROBEMSG_NODE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (node[i] <= ' ' || node[i] > '~')
			return 0;
	return 1;
}

int
probemsg_format(char *out, size_t len, const char *node, uint64_t session,
    uint32_t tunnel_id)
{
	int n;

	if (!probemsg_node_ok(node, strlen(node)))
		return -1;
	n = snprintf(out, len, "REPLICA %s %016llx %u\n", node,
	    (unsigned long long)session, tunnel_id);
	return n < 0 || (size_t)n >= len || (size_t)n > PROBEMSG_LINE_MAX ? -1 : n;
}

/* digits of base (10 or 16) in p[n] into *v; 0, or -EINVAL on anything else
 * or an overflow past max */
static int
probemsg_num(const char *p, size_t n, int base, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;
	int d;

	if (n == 0 || n > 20 || (base == 10 && n > 1 && p[0] == '0'))
		return -EINVAL;         /* canonical: no leading zeros */
	for (i = 0; i < n; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (base == 16 && p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else
			return -EINVAL;
		if (x > (max - (uint64_t)d) / (uint64_t)base)
			return -EINVAL;
		x = x * (uint64_t)base + (uint64_t)d;
	}
	*v = x;
	return 0;
}

int
probemsg_parse(const char *line, size_t len, char *node, uint64_t *session,
    uint32_t *tunnel_id)
{
	const char *f[3], *end = line + len, *p;
	size_t fl[3];
	uint64_t sid, tid;
	int k;

	if (len > PROBEMSG_LINE_MAX || len < 8 || memcmp(line, "REPLICA ", 8) != 0)
		return -EINVAL;
	p = line + 8;
	for (k = 0; k < 3; k++) {
		f[k] = p;
		while (p < end && *p != ' ')
			p++;
		fl[k] = (size_t)(p - f[k]);
		if (k < 2) {
			if (p == end)
				return -EINVAL;
			p++;            /* exactly one space */
		}
	}
	if (p != end || !probemsg_node_ok(f[0], fl[0]) || fl[1] != 16 ||
	    probemsg_num(f[1], fl[1], 16, UINT64_MAX, &sid) != 0 || sid == 0 ||
	    probemsg_num(f[2], fl[2], 10, UINT32_MAX, &tid) != 0)
		return -EINVAL;
	memcpy(node, f[0], fl[0]);
	node[fl[0]] = '\0';
	*session = sid;
	*tunnel_id = (uint32_t)tid;
	return 0;
}
