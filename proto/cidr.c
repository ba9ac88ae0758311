#include "cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t cidr_v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool
cidr_key(const struct sockaddr *sa, uint8_t out[16])
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, cidr_v4mapped, 12);
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static int
cidr_one(struct cidr *c, const char *text)
{
	char host[64], *slash, *end;
	struct in_addr a4;
	long bits;
	bool v4;

	if (strlen(text) >= sizeof(host))
		return -EINVAL;
	strcpy(host, text);
	if ((slash = strchr(host, '/')) != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, host, &a4) == 1) {
		memcpy(c->addr, cidr_v4mapped, 12);
		memcpy(c->addr + 12, &a4, 4);
		v4 = true;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		v4 = false;
	} else {
		return -EINVAL;
	}
	bits = v4 ? 32 : 128;
	if (slash != NULL) {
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end != '\0' || bits < 0 ||
		    bits > (v4 ? 32 : 128))
			return -EINVAL;
	}
	c->bits = (uint8_t)(v4 ? bits + 96 : bits);
	return 0;
}

int
cidr_parse(struct cidr_list *out, const char *text, char *bad, size_t badlen)
{
	char item[128];
	const char *p = text ? text : "";
	struct cidr *v;
	size_t len;

	memset(out, 0, sizeof(*out));
	while (*p != '\0') {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, ", \t");
		if (len >= sizeof(item) || out->n >= CIDR_MAX) {
			snprintf(bad, badlen, "%.*s", (int)(len < 64 ? len : 64), p);
			cidr_fini(out);
			return -EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if ((v = realloc(out->v, (out->n + 1) * sizeof(*v))) == NULL) {
			cidr_fini(out);
			return -ENOMEM;
		}
		out->v = v;
		if (cidr_one(&out->v[out->n], item) != 0) {
			snprintf(bad, badlen, "%s", item);
			cidr_fini(out);
			return -EINVAL;
		}
		out->n++;
		p += len;
	}
	return 0;
}

void
cidr_fini(struct cidr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool
cidr_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	uint8_t a[16];
	size_t i;

	if (l->n == 0 || !cidr_key(sa, a))
		return false;
	for (i = 0; i < l->n; i++) {
		const struct cidr *c = &l->v[i];
		unsigned full = c->bits / 8, rest = c->bits % 8;

		if (memcmp(a, c->addr, full) != 0)
			continue;
		if (rest != 0) {
			uint8_t mask = (uint8_t)(0xff << (8 - rest));

			if ((a[full] & mask) != (c->addr[full] & mask))
				continue;
		}
		return true;
	}
	return false;
}
