/* tokenapi — the admin API's token resources (clusterctl tokens).
 *
 *   POST   /v1/tokens      {"allow": [PATTERN...], "allow_ports": [RANGE...],
 *                          "note": TEXT} -> {"id", "token", "allow",
 *                          "allow_ports", "note"}: the only time the token is
 *                          shown; routing.db keeps its SHA-256
 *   GET    /v1/tokens      [{"id", "allow", "allow_ports", "note", "created",
 *                          "revoked", "sessions"}]: never a token or a hash
 *   DELETE /v1/tokens/ID   revokes: new registrations are refused and the
 *                          token's live sessions are closed (KICK)
 *
 * Errors answer {"error": SENTENCE} with 400, 404, 405, 413 or 503. Writes go
 * through the router's gossip writer. */
#ifndef WARREN_TOKENAPI_H
#define WARREN_TOKENAPI_H

#include <stdbool.h>
#include <stddef.h>

#include "router/admin.h"
#include "router/registry.h"

struct auth;

/* Asks the acceptor to close every session of token_id. */
typedef void tokenapi_kick_fn(void *arg, const char *token_id);

/* Borrowed pointers, set up by the router. */
struct tokenapi {
	struct auth *auth;
	const char *node;
	registry_write_fn *write;
	void *write_arg;
	tokenapi_kick_fn *kick;
	void *kick_arg;
};

/* True for /v1/tokens and /v1/tokens/... */
bool tokenapi_match(const char *path);

/* Handles one request (body as received, "" when none); fills *resp. */
void tokenapi_handle(const struct tokenapi *t, const char *method,
    const char *path, const char *body, size_t len, struct admin_resp *resp);

#endif
