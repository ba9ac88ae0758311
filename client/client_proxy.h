/* client_proxy — reaching the node through a proxy: HTTP CONNECT or SOCKS5
 * (RFC 1928, with RFC 1929 username/password), as a sans-IO handshake.
 *
 * The caller connects to the proxy, sends what client_proxy_start() wrote,
 * and feeds the proxy's answers to client_proxy_feed() until it says done;
 * from then on the connection is a byte pipe to the node (TLS starts inside
 * it as on a direct connection). The proxy's answers are untrusted: each is
 * bounded (an HTTP head of at most CLIENT_PROXY_HEAD_MAX bytes) and every
 * refusal comes back as a sentence. */
#ifndef WARREN_CLIENT_PROXY_H
#define WARREN_CLIENT_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_PROXY_HEAD_MAX   8192
#define CLIENT_PROXY_OUT_MAX    1024    /* largest message we send */

enum client_proxy_kind {
	CLIENT_PROXY_HTTP = 1,
	CLIENT_PROXY_SOCKS5,
};

struct client_proxy_conf {
	enum client_proxy_kind kind;
	char host[256];                 /* the proxy */
	int port;
	char user[256], pass[256];      /* empty: no credentials */
};

enum client_proxy_result {
	CLIENT_PROXY_AGAIN = 0,         /* feed more (send `out` first) */
	CLIENT_PROXY_DONE,              /* the tunnel to the node is open */
	CLIENT_PROXY_ERROR,             /* refused: err says why */
};

struct client_proxy {
	struct client_proxy_conf conf;
	char target[300];               /* "host:port" of the node */
	char thost[256];
	int tport;
	int state;
	uint8_t head[CLIENT_PROXY_HEAD_MAX];
	size_t hlen;
};

/* Parses "http://[user:pass@]host:port" or "socks5://..." ("socks5h" is
 * the same: the proxy resolves the node's name). Port defaults: 8080 for
 * http, 1080 for socks5. Returns 0, or -1 with a sentence in err. */
int client_proxy_parse(struct client_proxy_conf *c, const char *url, char *err,
    size_t errlen);

/* True if `host` matches the NO_PROXY list `no_proxy` (comma or space
 * separated: "*", exact names, ".example.com" or "example.com" for the
 * domain and its subdomains, addresses; ports are ignored). */
bool client_proxy_bypass(const char *no_proxy, const char *host);

/* Starts a handshake to `host`:`port` through the proxy in `c`. Writes the
 * first message into out (>= CLIENT_PROXY_OUT_MAX bytes) and returns its
 * length, or -1 with err set (a name or credentials too long). */
int client_proxy_start(struct client_proxy *p, const struct client_proxy_conf *c,
    const char *host, int port, uint8_t *out, char *err, size_t errlen);

/* Feeds in[0..len) from the proxy. Sets *used (bytes taken: the rest
 * belongs to the node and must be kept) and *outlen (bytes written into out,
 * >= CLIENT_PROXY_OUT_MAX, to send now). */
enum client_proxy_result client_proxy_feed(struct client_proxy *p,
    const uint8_t *in, size_t len, size_t *used, uint8_t *out, size_t *outlen,
    char *err, size_t errlen);

#endif
