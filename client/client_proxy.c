#include "client_proxy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

enum {
	CP_HTTP_HEAD = 1,       /* CONNECT sent, reading the answer's head */
	CP_S5_METHOD,           /* greeting sent: [5, method] */
	CP_S5_AUTH,             /* credentials sent: [1, status] */
	CP_S5_REPLY,            /* CONNECT sent: [5, rep, 0, atyp, addr, port] */
	CP_DONE,
};

/* Decodes %XX in place (credentials in a URL); returns -1 on a bad escape. */
static int
client_proxy_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '%') {
			if (!isxdigit((unsigned char)s[1]) ||
			    !isxdigit((unsigned char)s[2]))
				return -1;
			char hex[3] = { s[1], s[2], 0 };
			*w++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return 0;
}

int
client_proxy_parse(struct client_proxy_conf *c, const char *url, char *err,
    size_t errlen)
{
	const char *rest, *at, *slash, *colon, *hend;
	char hostport[300];
	size_t n;
	long port;
	char *end;

	memset(c, 0, sizeof(*c));
	if (strncasecmp(url, "http://", 7) == 0) {
		c->kind = CLIENT_PROXY_HTTP;
		c->port = 8080;
		rest = url + 7;
	} else if (strncasecmp(url, "socks5://", 9) == 0) {
		c->kind = CLIENT_PROXY_SOCKS5;
		c->port = 1080;
		rest = url + 9;
	} else if (strncasecmp(url, "socks5h://", 10) == 0) {
		c->kind = CLIENT_PROXY_SOCKS5;
		c->port = 1080;
		rest = url + 10;
	} else {
		snprintf(err, errlen, "proxy '%s': want http://[user:pass@]host:port "
		    "or socks5://[user:pass@]host:port", url);
		return -1;
	}
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	at = memrchr(rest, '@', n);
	if (at != NULL) {
		const char *cred = rest, *sep = memchr(cred, ':', (size_t)(at - cred));
		size_t ul = sep ? (size_t)(sep - cred) : (size_t)(at - cred);
		size_t pl = sep ? (size_t)(at - sep - 1) : 0;

		if (ul >= sizeof(c->user) || pl >= sizeof(c->pass)) {
			snprintf(err, errlen, "proxy credentials are too long");
			return -1;
		}
		memcpy(c->user, cred, ul);
		if (sep != NULL)
			memcpy(c->pass, sep + 1, pl);
		if (client_proxy_unescape(c->user) != 0 ||
		    client_proxy_unescape(c->pass) != 0) {
			snprintf(err, errlen, "proxy credentials: bad %%-escape");
			return -1;
		}
		n -= (size_t)(at + 1 - rest);
		rest = at + 1;
	}
	if (n == 0 || n >= sizeof(hostport)) {
		snprintf(err, errlen, "proxy '%s' has no host", url);
		return -1;
	}
	memcpy(hostport, rest, n);
	hostport[n] = '\0';
	if (hostport[0] == '[') {
		hend = strchr(hostport, ']');
		if (hend == NULL) {
			snprintf(err, errlen, "proxy '%s': unclosed [", url);
			return -1;
		}
		colon = hend[1] == ':' ? hend + 1 : NULL;
		snprintf(c->host, sizeof(c->host), "%.*s",
		    (int)(hend - hostport - 1), hostport + 1);
	} else {
		colon = strrchr(hostport, ':');
		snprintf(c->host, sizeof(c->host), "%.*s",
		    (int)(colon ? colon - hostport : (long)n), hostport);
	}
	if (colon != NULL) {
		port = strtol(colon + 1, &end, 10);
		if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535) {
			snprintf(err, errlen, "proxy '%s': bad port", url);
			return -1;
		}
		c->port = (int)port;
	}
	if (c->host[0] == '\0') {
		snprintf(err, errlen, "proxy '%s' has no host", url);
		return -1;
	}
	return 0;
}

bool
client_proxy_bypass(const char *no_proxy, const char *host)
{
	size_t hl = strlen(host);
	const char *s = no_proxy;

	if (s == NULL)
		return false;
	while (*s) {
		size_t n;
		const char *e;

		s += strspn(s, ", \t");
		n = strcspn(s, ", \t");
		if (n == 0)
			break;
		e = memchr(s, ':', n);
		if (e != NULL && memchr(s, ']', n) == NULL &&
		    memchr(e + 1, ':', (size_t)(s + n - e - 1)) == NULL)
			n = (size_t)(e - s);            /* "host:port" */
		if (n == 1 && s[0] == '*')
			return true;
		if (n > 0 && s[0] == '.') {
			s++;
			n--;
		}
		if (n > 0 && hl >= n && strncasecmp(host + hl - n, s, n) == 0 &&
		    (hl == n || host[hl - n - 1] == '.'))
			return true;
		s += n;
		s += strcspn(s, ", \t");
	}
	return false;
}

int
client_proxy_start(struct client_proxy *p, const struct client_proxy_conf *c,
    const char *host, int port, uint8_t *out, char *err, size_t errlen)
{
	size_t hl = strlen(host);
	int n;

	memset(p, 0, sizeof(*p));
	p->conf = *c;
	if (hl == 0 || hl > 255 || port < 1 || port > 65535) {
		snprintf(err, errlen, "node address '%s' cannot go through a proxy",
		    host);
		return -1;
	}
	memcpy(p->thost, host, hl + 1);
	p->tport = port;
	if (strchr(host, ':') != NULL)
		snprintf(p->target, sizeof(p->target), "[%s]:%d", host, port);
	else
		snprintf(p->target, sizeof(p->target), "%s:%d", host, port);
	if (c->kind == CLIENT_PROXY_HTTP) {
		char cred[520], b64[700], auth[760] = "";

		if (c->user[0] != '\0') {
			n = snprintf(cred, sizeof(cred), "%s:%s", c->user, c->pass);
			EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)cred, n);
			snprintf(auth, sizeof(auth), "Proxy-Authorization: Basic %s\r\n",
			    b64);
		}
		n = snprintf((char *)out, CLIENT_PROXY_OUT_MAX,
		    "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", p->target,
		    p->target, auth);
		if (n < 0 || n >= CLIENT_PROXY_OUT_MAX) {
			snprintf(err, errlen, "proxy credentials are too long");
			return -1;
		}
		p->state = CP_HTTP_HEAD;
		return n;
	}
	/* SOCKS5 greeting: no auth, and user/password if we have them */
	out[0] = 5;
	if (c->user[0] != '\0') {
		out[1] = 2;
		out[2] = 0;
		out[3] = 2;
		n = 4;
	} else {
		out[1] = 1;
		out[2] = 0;
		n = 3;
	}
	p->state = CP_S5_METHOD;
	return n;
}

/* SOCKS5 CONNECT to the node by name (the proxy resolves it). */
static size_t
client_proxy_s5_connect(struct client_proxy *p, uint8_t *out)
{
	size_t hl = strlen(p->thost);

	out[0] = 5;
	out[1] = 1;
	out[2] = 0;
	out[3] = 3;
	out[4] = (uint8_t)hl;
	memcpy(out + 5, p->thost, hl);
	out[5 + hl] = (uint8_t)(p->tport >> 8);
	out[6 + hl] = (uint8_t)(p->tport & 0xff);
	p->state = CP_S5_REPLY;
	return 7 + hl;
}

static const char *
client_proxy_s5_reason(int rep)
{
	static const char *const r[] = { "succeeded", "general failure",
	    "connection not allowed by ruleset", "network unreachable",
	    "host unreachable", "connection refused", "TTL expired",
	    "command not supported", "address type not supported" };

	return rep >= 0 && rep < 9 ? r[rep] : "unknown reply";
}

static enum client_proxy_result
client_proxy_http(struct client_proxy *p, const uint8_t *in, size_t len,
    size_t *used, char *err, size_t errlen)
{
	size_t take = len;
	uint8_t *end;
	int status = 0;

	/* copy up to the end of the head, never past it */
	for (size_t i = 0; i < len; i++) {
		if (p->hlen + i + 1 > sizeof(p->head)) {
			snprintf(err, errlen, "proxy %s:%d: answer to CONNECT "
			    "has a head over %d bytes", p->conf.host,
			    p->conf.port, CLIENT_PROXY_HEAD_MAX);
			return CLIENT_PROXY_ERROR;
		}
		p->head[p->hlen + i] = in[i];
		if (in[i] == '\n' && p->hlen + i >= 3 &&
		    memcmp(p->head + p->hlen + i - 3, "\r\n\r\n", 4) == 0) {
			take = i + 1;
			break;
		}
	}
	p->hlen += take;
	*used = take;
	if (p->hlen < 4 || memcmp(p->head + p->hlen - 4, "\r\n\r\n", 4) != 0)
		return CLIENT_PROXY_AGAIN;
	if (p->hlen < 12 || memcmp(p->head, "HTTP/1.", 7) != 0 ||
	    sscanf((const char *)p->head + 9, "%3d", &status) != 1) {
		snprintf(err, errlen, "proxy %s:%d did not answer CONNECT in HTTP",
		    p->conf.host, p->conf.port);
		return CLIENT_PROXY_ERROR;
	}
	if (status / 100 == 2) {
		p->state = CP_DONE;
		return CLIENT_PROXY_DONE;
	}
	end = memchr(p->head, '\r', p->hlen);
	if (status == 407)
		snprintf(err, errlen, "proxy %s:%d asks for credentials (407): "
		    "give them as %s", p->conf.host, p->conf.port,
		    p->conf.user[0] ? "others in --proxy, these were refused" :
		    "--proxy http://USER:PASS@host:port");
	else
		snprintf(err, errlen, "proxy %s:%d refused CONNECT %s: %.*s",
		    p->conf.host, p->conf.port, p->target,
		    (int)((end ? end - p->head : 60) > 120 ? 120 :
		    (end ? end - p->head : 60)), (const char *)p->head);
	for (char *c = err; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
			*c = '?';
	return CLIENT_PROXY_ERROR;
}

enum client_proxy_result
client_proxy_feed(struct client_proxy *p, const uint8_t *in, size_t len,
    size_t *used, uint8_t *out, size_t *outlen, char *err, size_t errlen)
{
	size_t need, ul, pl;

	*used = 0;
	*outlen = 0;
	if (p->state == CP_HTTP_HEAD)
		return client_proxy_http(p, in, len, used, err, errlen);
	if (p->state == CP_DONE)
		return CLIENT_PROXY_DONE;
	/* SOCKS5: messages collect in head until complete */
	switch (p->state) {
	case CP_S5_METHOD:
	case CP_S5_AUTH:
		need = 2;
		break;
	case CP_S5_REPLY:
		need = 5;       /* up to the address length */
		if (p->hlen >= 4) {
			if (p->head[3] == 1)
				need = 10;
			else if (p->head[3] == 4)
				need = 22;
			else if (p->head[3] == 3 && p->hlen >= 5)
				need = 7 + (size_t)p->head[4];
		}
		break;
	default:
		snprintf(err, errlen, "proxy handshake not started");
		return CLIENT_PROXY_ERROR;
	}
	while (p->hlen < need && *used < len) {
		p->head[p->hlen++] = in[(*used)++];
		if (p->state == CP_S5_REPLY && p->hlen >= 4) {
			if (p->head[3] == 1)
				need = 10;
			else if (p->head[3] == 4)
				need = 22;
			else if (p->head[3] == 3)
				need = p->hlen >= 5 ? 7 + (size_t)p->head[4] : 5;
			else
				break;
		}
	}
	if (p->state == CP_S5_REPLY && p->hlen >= 4 && p->head[3] != 1 &&
	    p->head[3] != 3 && p->head[3] != 4) {
		snprintf(err, errlen, "proxy %s:%d: malformed SOCKS5 reply",
		    p->conf.host, p->conf.port);
		return CLIENT_PROXY_ERROR;
	}
	if (p->hlen < need)
		return CLIENT_PROXY_AGAIN;
	p->hlen = 0;
	switch (p->state) {
	case CP_S5_METHOD:
		if (p->head[0] != 5) {
			snprintf(err, errlen, "proxy %s:%d is not a SOCKS5 server",
			    p->conf.host, p->conf.port);
			return CLIENT_PROXY_ERROR;
		}
		if (p->head[1] == 0) {
			*outlen = client_proxy_s5_connect(p, out);
			return CLIENT_PROXY_AGAIN;
		}
		if (p->head[1] == 2 && p->conf.user[0] != '\0') {
			ul = strlen(p->conf.user);
			pl = strlen(p->conf.pass);
			out[0] = 1;
			out[1] = (uint8_t)ul;
			memcpy(out + 2, p->conf.user, ul);
			out[2 + ul] = (uint8_t)pl;
			memcpy(out + 3 + ul, p->conf.pass, pl);
			*outlen = 3 + ul + pl;
			p->state = CP_S5_AUTH;
			return CLIENT_PROXY_AGAIN;
		}
		snprintf(err, errlen, "SOCKS5 proxy %s:%d asks for credentials: "
		    "give them as --proxy socks5://USER:PASS@host:port",
		    p->conf.host, p->conf.port);
		return CLIENT_PROXY_ERROR;
	case CP_S5_AUTH:
		if (p->head[1] != 0) {
			snprintf(err, errlen, "SOCKS5 proxy %s:%d refused the "
			    "credentials", p->conf.host, p->conf.port);
			return CLIENT_PROXY_ERROR;
		}
		*outlen = client_proxy_s5_connect(p, out);
		return CLIENT_PROXY_AGAIN;
	default:
		if (p->head[0] != 5 || p->head[1] != 0) {
			snprintf(err, errlen, "SOCKS5 proxy %s:%d refused CONNECT "
			    "%s: %s", p->conf.host, p->conf.port, p->target,
			    client_proxy_s5_reason(p->head[1]));
			return CLIENT_PROXY_ERROR;
		}
		p->state = CP_DONE;
		return CLIENT_PROXY_DONE;
	}
}
