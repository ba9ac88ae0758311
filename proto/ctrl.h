/* ctrl — control messages on mux stream 0, and the stream-open header.
 *
 * Encoding: u8 type, then fields; integers big-endian; strings u16 length +
 * bytes (at most CTRL_STR_MAX). Decoders take untrusted bytes: bounded, and
 * return 0, or -EINVAL when malformed. Decoded strings are NUL-terminated
 * copies owned by the struct (ctrl_msg_fini frees them).
 *
 *   client -> node: HELLO, then REGISTER per tunnel (any time after WELCOME),
 *                   UNREGISTER
 *   node -> client: WELCOME, REGISTERED (one per REGISTER), ERROR
 *   OPEN payload (node -> client, per public connection): struct ctrl_open
 */
#ifndef WARREN_CTRL_H
#define WARREN_CTRL_H

#include <stddef.h>
#include <stdint.h>

#define CTRL_PROTO_VERSION      1
#define CTRL_STR_MAX            4096
#define CTRL_MSG_MAX            (64 * 1024)

enum ctrl_type {
	CTRL_HELLO = 1,
	CTRL_WELCOME = 2,
	CTRL_REGISTER = 3,
	CTRL_REGISTERED = 4,
	CTRL_UNREGISTER = 5,
	CTRL_ERROR = 6,
};

struct ctrl_msg {
	uint8_t type;                   /* enum ctrl_type */
	uint16_t version;               /* HELLO, WELCOME: CTRL_PROTO_VERSION */
	uint32_t tunnel_id;             /* REGISTER, REGISTERED, UNREGISTER */
	uint8_t kind;                   /* REGISTER: enum tunnel_kind (ipcmsg.h) */
	uint8_t status;                 /* REGISTERED, ERROR: enum ipcmsg_status */
	uint16_t port;                  /* REGISTER: wanted remote port (0 = any);
	                                   REGISTERED: public tcp port, or the http port */
	char *client_id;                /* HELLO: stable per client, reclaims names */
	char *token;                    /* HELLO: credential ("" = anonymous) */
	char *agent;                    /* HELLO: "warren/0.1"; WELCOME: node name */
	char *subdomain;                /* REGISTER */
	char *domains;                  /* REGISTER: comma-separated custom domains */
	char *url;                      /* REGISTERED: public URL or host:port */
	char *error;                    /* REGISTERED (status != 0), ERROR */
	/* REGISTER, optional (appended; absent from older clients): public
	 * URL protections the node enforces for this tunnel */
	char *basic_auth;               /* "user:password", "" = none */
	char *allow_ips;                /* CIDR list; "" = everyone */
	char *deny_ips;                 /* CIDR list */
	/* REGISTER, optional (appended after the above): a replica of a
	 * group (--group): clients with the same group and token serve one
	 * name together, load-balanced by region, weight and limits */
	char *group;                    /* "" = the name is exclusive */
	char *region;                   /* "" = the node's region */
	uint32_t weight, soft_limit, hard_limit;
};

/* Stream-open header, the payload of a mux OPEN frame. */
struct ctrl_open {
	uint32_t tunnel_id;             /* which tunnel of the session */
	char *peer;                     /* public client address "ip:port" */
	char *host;                     /* http: Host the request named; tcp: "" */
};

/* Encodes m into out[cap]; returns the length or -ENOSPC. */
int ctrl_msg_encode(const struct ctrl_msg *m, uint8_t *out, size_t cap);
/* Decodes one message; returns 0 or -EINVAL. Zeroes *m first. */
int ctrl_msg_decode(struct ctrl_msg *m, const uint8_t *p, size_t len);
void ctrl_msg_fini(struct ctrl_msg *m);

int ctrl_open_encode(const struct ctrl_open *o, uint8_t *out, size_t cap);
int ctrl_open_decode(struct ctrl_open *o, const uint8_t *p, size_t len);
void ctrl_open_fini(struct ctrl_open *o);

#endif
