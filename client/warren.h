/* warren — the tunnel client as a library.
 *
 * A program embeds tunnels by creating a client on its libev loop, adding
 * tunnels and starting it:
 *
 *   struct warren_options o;
 *   warren_options_default(&o);
 *   o.server = "edge.example.com:7000";
 *   o.on_ready = my_ready;                 (prints the public URL)
 *   c = warren_client_new(loop, &o);
 *   warren_client_add_http(c, "127.0.0.1:8000", "alice", NULL);
 *   warren_client_start(c);
 *   ev_run(loop, 0);
 *
 * The client dials out to one node, multiplexes every tunnel over that one
 * session, connects to the local service for each public connection and
 * moves bytes both ways with per-stream flow control. When the session
 * breaks or the node says GOAWAY it reconnects with exponential backoff and
 * re-registers every tunnel under the same client id, asking for the names
 * and ports it got the first time. Streams of a session that said GOAWAY
 * finish on it while the new session takes new ones.
 *
 * Everything runs on the caller's loop; no threads, no signal handlers. The
 * library logs through log.h (logfmt on stderr).
 *
 * Callbacks run inside the client's I/O handling: they must not free the
 * client (break the loop and free it afterwards). on_ready and on_error may
 * add tunnels; on_request runs while response bytes are being parsed and
 * must not call into the client at all. */
#ifndef WARREN_WARREN_H
#define WARREN_WARREN_H

#include <stdbool.h>
#include <stdint.h>

struct ev_loop;
struct warren_client;
struct client_httplog_tap;

enum warren_kind {
	WARREN_HTTP = 1,
	WARREN_TCP = 2,
	WARREN_TLS = 3,         /* TLS passthrough: the local service holds the keys */
};

/* A tunnel became ready (first registration, or again after a reconnect). */
struct warren_ready {
	int tunnel;                     /* id returned by warren_client_add() */
	const char *name;               /* the tunnel's name */
	enum warren_kind kind;
	const char *url;                /* public URL, "http://a.example.com" or
	                                   "tcp://example.com:20001" */
	const char *local;              /* local target, "127.0.0.1:8000" */
	int remote_port;                /* public port (tcp; http: the node's port) */
	bool first;                     /* first success of this tunnel */
	bool changed;                   /* url differs from the previous success */
};

/* One HTTP request/response exchange that went through an http tunnel. */
struct warren_request {
	int tunnel;
	const char *name;               /* the tunnel's name */
	const char *method;             /* "GET" */
	const char *path;               /* request target, possibly truncated */
	const char *peer;               /* public client "ip:port" */
	int status;                     /* response status; 0 if none came */
	uint64_t duration_us;           /* request start to response end */
	uint64_t bytes;                 /* response body bytes */
};

enum warren_error_kind {
	WARREN_E_SESSION = 1,           /* connect failed / session lost */
	WARREN_E_REGISTER,              /* the node refused a tunnel */
	WARREN_E_SERVER,                /* the node sent an ERROR message */
};

struct warren_error {
	enum warren_error_kind kind;
	int tunnel;                     /* WARREN_E_REGISTER: the tunnel, else 0 */
	const char *name;               /* the tunnel's name, or NULL */
	int status;                     /* node status (WARREN_S_*) or -errno */
	bool fatal;                     /* the client gave the tunnel up */
	const char *message;            /* sentence for a person */
};

/* Node status codes carried by WARREN_E_REGISTER and WARREN_E_SERVER. */
enum warren_status {
	WARREN_S_OK = 0,
	WARREN_S_TAKEN = 1,             /* name or port held by another client */
	WARREN_S_INVALID = 2,           /* bad name, port out of range */
	WARREN_S_UNAVAILABLE = 3,       /* node's control plane unreachable */
	WARREN_S_DENIED = 4,            /* token refused */
	WARREN_S_INTERNAL = 5,
};

typedef void warren_ready_cb(struct warren_client *c,
    const struct warren_ready *r, void *data);
typedef void warren_request_cb(struct warren_client *c,
    const struct warren_request *r, void *data);
typedef void warren_error_cb(struct warren_client *c,
    const struct warren_error *e, void *data);

#define WARREN_SERVERS_MAX      16      /* entries of options.server */

struct warren_options {
	const char *server;             /* node "host:port" (a name is resolved
	                                   at each connect); default 127.0.0.1:7000.
	                                   "a:7000,b:7000" lists several: on
	                                   losing its node (or a GOAWAY) the
	                                   client moves to the next address of
	                                   the name, then to the next entry */
	bool tls;                       /* TLS to the node (default true) */
	const char *ca_file;            /* CA bundle to verify the node (NULL:
	                                   the system's) */
	bool insecure;                  /* skip verifying the node: development */
	const char *proxy;              /* reach the node through this proxy:
	                                   "http://[user:pass@]host:port" (HTTP
	                                   CONNECT) or "socks5://..."; NULL:
	                                   directly (no environment is read) */
	const char *token;              /* credential; "" or NULL = anonymous */
	const char *client_id;          /* NULL or "" = random for this client */
	const char *agent;              /* default "warren/0.1" */
	uint32_t ping_interval_ms;      /* PING period, default 10000 */
	uint32_t dead_timeout_ms;       /* silence that kills a session, 30000 */
	uint32_t welcome_timeout_ms;    /* connect to WELCOME, 10000 */
	uint32_t local_connect_timeout_ms; /* connect to the local service,
	                                   10000 (then the public client gets
	                                   502 with the reason) */
	uint32_t backoff_min_ms;        /* first reconnect delay, 200 */
	uint32_t backoff_max_ms;        /* reconnect delay cap, 30000 */
	uint32_t backoff_reset_ms;      /* uptime that resets backoff, 10000 */
	uint32_t window;                /* receive window per stream, 0 = mux
	                                   default (1 MiB) */
	/* A fatal registration error is one on a tunnel's first try whose status
	 * is TAKEN, INVALID or DENIED: the tunnel is given up. Set this to keep
	 * retrying such tunnels instead (they are always retried after the first
	 * success). */
	bool retry_first_failure;
	warren_ready_cb *on_ready;      /* may be NULL */
	warren_request_cb *on_request;  /* NULL: HTTP is not parsed at all */
	warren_error_cb *on_error;      /* may be NULL */
	/* Capture of every HTTP exchange's heads and bodies (the request
	 * inspector: inspect_store_tap), called like on_request; NULL: none. */
	const struct client_httplog_tap *tap;
	void *tap_data;
	void *data;                     /* passed to the callbacks */
};

/* A tunnel to add. Strings are copied. */
struct warren_tunnel_conf {
	const char *name;               /* label; NULL = "http" / "tcp" */
	enum warren_kind kind;
	const char *local;              /* "host:port", "[v6]:port" or "port"
	                                   (host 127.0.0.1) */
	const char *subdomain;          /* http: wanted label; NULL/"" = any */
	const char *domains;            /* http: comma-separated custom domains */
	int remote_port;                /* tcp: wanted public port, 0 = any */
	/* public protections the node enforces (NULL/"" = none) */
	const char *basic_auth;         /* http: "user:password" */
	const char *allow_ips;          /* CIDR list: only these addresses */
	const char *deny_ips;           /* CIDR list: never these */
	int proxy_protocol;             /* 1 or 2: the local service gets a PROXY
	                                   header with the public client's address */
	/* http/tls: a replica of a group (NULL/"" = the name is this client's
	 * alone): clients with the same group and token serve one name
	 * together, and the edge balances them by region, weight and limits */
	const char *group;
	const char *region;             /* NULL/"" = the region of the node */
	unsigned weight;                /* 0 counts as 1 */
	unsigned soft_limit;            /* 0 counts as 1 */
	unsigned hard_limit;            /* connections per node; 0 = none */
};

/* Fills the defaults above, with no callbacks. */
void warren_options_default(struct warren_options *o);

/* Creates a client on `loop` (which must outlive it). Strings in `opt` are
 * copied. Returns NULL with errno set: EINVAL for a bad server address,
 * ENOMEM. Nothing happens on the network until warren_client_start(). */
struct warren_client *warren_client_new(struct ev_loop *loop,
    const struct warren_options *opt);

/* Adds a tunnel; may be called before or after start (it registers at once
 * on a live session). Returns the tunnel id (1, 2, ...) or -EINVAL for a bad
 * local address, kind or port, -ENOMEM. */
int warren_client_add(struct warren_client *c,
    const struct warren_tunnel_conf *t);
/* Shorthands for warren_client_add(). */
int warren_client_add_http(struct warren_client *c, const char *local,
    const char *subdomain, const char *domains);
int warren_client_add_tcp(struct warren_client *c, const char *local,
    int remote_port);

/* Starts connecting (and reconnecting, until free). Returns 0 or -EALREADY. */
int warren_client_start(struct warren_client *c);

/* High availability: two clients with the same client id, token and
 * tunnels each hold a session to a different node (each avoids the node
 * the other is on while another address is there to try), so the cluster
 * has two routes to every tunnel. b registers each tunnel once a has, asking
 * for the name and port a got. Add the same tunnels to both in the same
 * order; pair before starting them; free both. */
void warren_client_pair(struct warren_client *a, struct warren_client *b);

/* The client id sent in HELLO (generated if none was given). */
const char *warren_client_id(const struct warren_client *c);
/* Tunnels registered on the live session right now. */
int warren_client_nready(const struct warren_client *c);
/* Public URL of a tunnel once registered, else NULL. */
const char *warren_client_url(const struct warren_client *c, int tunnel);

/* Closes every session and local connection and frees the client. Must not
 * be called from inside one of its callbacks. NULL is a no-op. */
void warren_client_free(struct warren_client *c);

#endif
