#include "sock.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
sock_addr_parse(struct sock_addr *out, const char *text, const char *defhost)
{
	char host[256];
	const char *colon, *h;
	char *end;
	long port;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *rb = strchr(text, ']');
		if (rb == NULL || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - text - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, text + 1, hl);
		host[hl] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			/* bare port */
			colon = text - 1;
			hl = 0;
		} else {
			hl = (size_t)(colon - text);
		}
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, text, hl);
		host[hl] = '\0';
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
		return -EINVAL;
	h = host[0] ? host : (defhost ? defhost : "0.0.0.0");
	if (strcmp(h, "localhost") == 0)
		h = "127.0.0.1";
	if (strcmp(h, "*") == 0)
		h = "0.0.0.0";
	{
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

		if (inet_pton(AF_INET, h, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port);
			out->len = sizeof(*sin);
		} else if (inet_pton(AF_INET6, h, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			out->len = sizeof(*sin6);
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

char *
sock_addr_format(const struct sock_addr *a, char *out, size_t len)
{
	return sock_ss_format(&a->ss, out, len);
}

char *
sock_ss_format(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(out, len, "%s:%d", ip, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%d", ip, ntohs(sin6->sin6_port));
	} else {
		snprintf(out, len, "unknown");
	}
	return out;
}

int
sock_addr_port(const struct sock_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

void
sock_addr_set_port(struct sock_addr *a, int port)
{
	if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
}

int
sock_listen(struct sock_addr *a, int backlog)
{
	int fd, one = 1, rc;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a->ss, a->len) == -1 ||
	    listen(fd, backlog) == -1) {
		rc = -errno;
		close(fd);
		return rc;
	}
	a->len = sizeof(a->ss);
	getsockname(fd, (struct sockaddr *)&a->ss, &a->len);
	return fd;
}

int
sock_connect(const struct sock_addr *a)
{
	int fd, rc;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1 &&
	    errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int
sock_connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -errno;
	return -err;
}

void
sock_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

char *
sock_peer_format(int fd, char *out, size_t len)
{
	struct sock_addr a;

	a.len = sizeof(a.ss);
	if (getpeername(fd, (struct sockaddr *)&a.ss, &a.len) == -1) {
		snprintf(out, len, "unknown");
		return out;
	}
	return sock_addr_format(&a, out, len);
}

int
sock_addr_resolve(struct sock_addr *out, const char *text, char *host,
    size_t hostlen)
{
	return sock_addr_resolve_nth(out, text, host, hostlen, 0, NULL);
}

int
sock_addr_resolve_nth(struct sock_addr *out, const char *text, char *host,
    size_t hostlen, unsigned nth, unsigned *count)
{
	struct addrinfo hints, *res = NULL, *ai;
	unsigned n = 0;
	const char *colon;
	size_t hl;

	if (text[0] == '[') {
		const char *rb = strchr(text, ']');
		if (rb == NULL || (hl = (size_t)(rb - text - 1)) >= hostlen)
			return -EINVAL;
		memcpy(host, text + 1, hl);
		host[hl] = '\0';
	} else if ((colon = strrchr(text, ':')) != NULL) {
		if ((hl = (size_t)(colon - text)) >= hostlen)
			return -EINVAL;
		memcpy(host, text, hl);
		host[hl] = '\0';
	} else {
		snprintf(host, hostlen, "127.0.0.1");
	}
	if (host[0] == '\0')
		snprintf(host, hostlen, "127.0.0.1");
	if (count != NULL)
		*count = 1;
	if (sock_addr_parse(out, text, "127.0.0.1") == 0)
		return 0;
	colon = strrchr(text, ':');
	if (colon == NULL || text[0] == '[')
		return -EINVAL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL)
		return -ENOENT;
	for (ai = res; ai != NULL; ai = ai->ai_next)
		n++;
	/* the nth address, round and round */
	for (ai = res, nth %= n; nth > 0; nth--)
		ai = ai->ai_next;
	memset(out, 0, sizeof(*out));
	memcpy(&out->ss, ai->ai_addr, ai->ai_addrlen);
	out->len = ai->ai_addrlen;
	freeaddrinfo(res);
	if (count != NULL)
		*count = n;
	return 0;
}
