/* auth — who may claim what: tokens, JWTs, reservations and per-token caps.
 *
 * Credentials (the token field of a client's HELLO, passed on in REGISTER):
 *   wrn_<43 base64url chars>  a warren token: 32 random bytes. routing.db
 *                             keeps only its SHA-256 (tokens.hash); the row
 *                             says which host patterns and ports it may
 *                             claim, and whether it was revoked.
 *   eyJ...                    a JWT (router/jwt.h) signed by a configured
 *                             key; its identity is "jwt:<iss>#<sub>".
 *   ""                        anonymous: refused unless --allow-anonymous.
 *
 * Host patterns (comma-separated in the tokens row, one per --allow):
 *   "alice", "alice-*", "*"   the subdomain label under the node's domain
 *                             (glob: '*' matches any characters)
 *   "alice.*"                 the same as "alice": that subdomain under
 *                             whatever base domain the node serves
 *   "app.example.com",        a full hostname (custom domains, or a
 *   "*.example.com"           subdomain written out in full)
 * Port ranges: "20000-20010,20020". An empty list allows nothing.
 *
 * Reservations: a name claimed under a token (or JWT identity) stays with
 * it while its client is online and for --reservation-grace after it was
 * last online; another identity gets TAKEN naming the name and the time the
 * reservation ends. The same identity may reclaim at any time, from any
 * client id, as long as the name is not online under another client id
 * (then it is TAKEN: two clients with one token do not steal a name from
 * each other). A reservation of a revoked token is void. Anonymous claims
 * (no token) keep the client-id rule of registry.h.
 *
 * Caps (this node): --max-sessions-per-token live sessions per token,
 * --max-registrations-per-minute REGISTERs per token (or per client id when
 * anonymous) in a fixed one-minute window.
 *
 * The module reads routing.db (read-only); gossip writes it. */
#ifndef WARREN_AUTH_H
#define WARREN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_TOKEN_PREFIX       "wrn_"
#define AUTH_TOKEN_LEN          47      /* "wrn_" + 43 */
#define AUTH_TOKEN_ID_LEN       16      /* "tok_" + 12 hex */
#define AUTH_HASH_LEN           64      /* hex SHA-256 */
#define AUTH_PATTERNS_MAX       64
#define AUTH_PATTERN_MAX        253     /* bytes of one host pattern */
#define AUTH_LIST_MAX           1024    /* bytes of a joined allow/ports list */
#define AUTH_RATE_KEYS          1024    /* rate-limit windows kept */

struct jwt_keys;

struct auth_conf {
	bool allow_anonymous;
	int64_t grace_s;                /* reservation grace, seconds */
	int max_sessions;               /* per token; <= 0: unlimited */
	int max_per_minute;             /* registrations; <= 0: unlimited */
	const char *jwt_audience, *jwt_issuer, *jwt_claim;      /* borrowed */
};

/* Counters for /metrics. */
struct auth_stats {
	unsigned long long no_token, bad_token, revoked, jwt_refused;
	unsigned long long not_allowed, reserved, rate_limited, session_cap;
	unsigned long long kicks;
};

/* Who is registering. */
struct auth_id {
	char token_id[256 + 16];        /* "tok_..." or "jwt:iss#sub"; "" anonymous */
	char allow[AUTH_LIST_MAX + 1];  /* comma-separated patterns */
	char ports[AUTH_LIST_MAX + 1];  /* comma-separated ranges */
	bool anonymous;
};

struct auth;

/* Opens the module on routing.db at db_path (it must exist). keys (NULL for
 * none) is consumed on success. Returns 0 and sets *out, or -errno. */
int auth_new(struct auth **out, const struct auth_conf *c, const char *db_path,
    struct jwt_keys *keys);
/* Frees the module; NULL is a no-op. */
void auth_free(struct auth *a);
/* The counters. */
const struct auth_stats *auth_stats(const struct auth *a);

/* Identifies the holder of `token` at time now (unix seconds). Returns
 * IPCMSG_S_OK and fills *id, or IPCMSG_S_DENIED / IPCMSG_S_UNAVAILABLE with a
 * sentence for the user in err. */
int auth_identify(struct auth *a, const char *token, int64_t now,
    struct auth_id *id, char *err, size_t errlen);

/* True when id may claim `host`; label is the subdomain label when host is
 * <label>.<node domain>, NULL for a custom domain. Anonymous ids may claim
 * anything. */
bool auth_host_allowed(const struct auth_id *id, const char *host,
    const char *label);
/* True when id may claim tcp port `port`. */
bool auth_port_allowed(const struct auth_id *id, unsigned port);
/* Counts a registration refused because its name or port is outside the
 * token (auth_refused_total{reason="not_allowed"}). */
void auth_count_not_allowed(struct auth *a);

/* Reservation check for a name (the tunnels/reservations row id, e.g.
 * "http:alice.example.com" or "tcp:20001") that the caller found held
 * online (holder_online) or not. Returns 0 when id may take it, 1 when it is
 * reserved to another identity (*until = end of the grace period, or 0 while
 * its holder is online), or -EIO when routing.db could not be read. */
int auth_reserved(struct auth *a, const struct auth_id *id, const char *row_id,
    bool holder_online, int64_t now, int64_t *until);

/* Counts one registration of id (client_id when anonymous) and checks the
 * caps for `session`. Returns IPCMSG_S_OK, or IPCMSG_S_DENIED (session cap)
 * / IPCMSG_S_UNAVAILABLE (rate: retry later) with a sentence in err. */
int auth_admit(struct auth *a, const struct auth_id *id, const char *client_id,
    uint64_t session, int64_t now, char *err, size_t errlen);
/* Records that `session` registered under token_id (a no-op for ""), so
 * sessions are counted and a revocation can name them. Returns 0 or -ENOMEM. */
int auth_session_add(struct auth *a, uint64_t session, const char *token_id);
/* A session ended; every session of this node ended (acceptor restart). */
void auth_session_remove(struct auth *a, uint64_t session);
void auth_sessions_clear(struct auth *a);
/* The distinct warren token ids (not JWT identities) that have live
 * sessions on this node, into out[0..max) (borrowed until the next session
 * change). Returns how many. */
size_t auth_session_tokens(const struct auth *a, const char **out, size_t max);
/* Live sessions of token_id on this node. */
size_t auth_sessions_of(const struct auth *a, const char *token_id);

/* ---- tokens (for the admin API) ---- */

/* Makes a new token: writes "wrn_..." into token (>= AUTH_TOKEN_LEN + 1),
 * its id into id (>= AUTH_TOKEN_ID_LEN + 1) and its hash into hash
 * (>= AUTH_HASH_LEN + 1). Returns 0 or -EIO (no randomness). */
int auth_token_make(char *token, char *id, char *hash);
/* Hex SHA-256 of a token into hash (>= AUTH_HASH_LEN + 1). */
void auth_token_hash(const char *token, char *hash);

/* Validates host patterns (each lowercased; letters, digits, '-', '.', '*')
 * and joins them with ',' into out. Returns 0 or -EINVAL with a sentence. */
int auth_patterns_join(const char *const *v, size_t n, char *out, size_t len,
    char *err, size_t errlen);
/* Validates port ranges ("PORT" or "LO-HI", 1..65535) and joins them in
 * "LO-HI" form. Returns 0 or -EINVAL with a sentence. */
int auth_ports_join(const char *const *v, size_t n, char *out, size_t len,
    char *err, size_t errlen);

/* The tokens table as a new JSON array (json_t *) of {id, allow, ports,
 * note, created, revoked, sessions}: never the hash. NULL on failure. */
void *auth_tokens_json(struct auth *a);
/* 1 when token `id` exists and is live, 2 when it is revoked, 0 when
 * unknown, -EIO on a read failure. */
int auth_token_state(struct auth *a, const char *id);

#endif
