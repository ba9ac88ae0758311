#include "router/registry.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "router/auth.h"
#include "router/table.h"

#define REGISTRY_PICK_TRIES     32

static const char registry_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

bool
registry_label_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > REGISTRY_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-'))
			return false;
	return true;
}

int
registry_host_normalize(char *out, size_t len, const char *in)
{
	char *label, *save;
	size_t n = strlen(in), i;

	if (n == 0 || n > REGISTRY_HOST_MAX || n + 1 > len)
		return -EINVAL;
	for (i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	if (out[0] == '.' || out[n - 1] == '.' || strstr(out, "..") != NULL)
		return -EINVAL;
	/* check each label on a scratch copy; out keeps the dots */
	{
		char tmp[REGISTRY_HOST_MAX + 1];

		memcpy(tmp, out, n + 1);
		for (label = strtok_r(tmp, ".", &save); label != NULL;
		    label = strtok_r(NULL, ".", &save))
			if (!registry_label_ok(label))
				return -EINVAL;
	}
	return 0;
}

static int
registry_fail(struct ipcmsg_registered *reply, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
registry_fail(struct ipcmsg_registered *reply, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(reply->error);
	reply->error = strdup(msg);
	reply->status = (uint8_t)(reply->error != NULL ? status : IPCMSG_S_INTERNAL);
	return reply->status;
}

/* Fills out with a random label that no entry of the table uses (in any
 * state: an offline name may be someone's to reclaim). Returns 0 or -EAGAIN. */
static int
registry_pick_label(const struct registry *r, char *out, size_t len)
{
	char host[REGISTRY_HOST_MAX + 1];
	unsigned char rnd[32];
	size_t i, k;
	int tries;

	if (len < REGISTRY_RANDOM_LEN + 1)
		return -EINVAL;
	for (tries = 0; tries < REGISTRY_PICK_TRIES; tries++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -EAGAIN;
		/* rejection sampling: 252 = 7 * 36 keeps the letters uniform */
		for (i = 0, k = 0; i < sizeof(rnd) && k < REGISTRY_RANDOM_LEN; i++)
			if (rnd[i] < 252)
				out[k++] = registry_alphabet[rnd[i] % 36];
		if (k < REGISTRY_RANDOM_LEN)
			continue;
		out[k] = '\0';
		if (snprintf(host, sizeof(host), "%s.%s", out, r->domain) >=
		    (int)sizeof(host))
			return -EINVAL;
		if (table_find(r->table, TUNNEL_HTTP, host, 0, NULL) == NULL)
			return 0;
	}
	return -EAGAIN;
}

/* True when the name is held ONLINE by someone who is not this claimant,
 * nor a group it joins (same group name and token: a replica). */
static bool
registry_taken(const struct registry *r, const struct ipcmsg_register *req,
    const char *token_id, const char *host, uint16_t port)
{
	const struct ipcmsg_route *cur;
	const char *holder = "";

	cur = table_find(r->table, req->kind, host, port, &holder);
	if (cur == NULL || cur->state != ROUTE_ONLINE)
		return false;
	if (req->grp.name != NULL && req->grp.name[0] != '\0' &&
	    cur->grp.name != NULL && strcmp(cur->grp.name, req->grp.name) == 0 &&
	    strcmp(cur->grp.token_id != NULL ? cur->grp.token_id : "",
	    token_id) == 0)
		return false;
	if (req->client_id != NULL && req->client_id[0] != '\0' &&
	    strcmp(holder, req->client_id) == 0)
		return false;
	if (strcmp(cur->node, r->node) == 0 && cur->session == req->session)
		return false;
	return true;
}

/* Builds the host list of an http claim; returns the count or a status < 0
 * (negated) after filling reply. */
static int
registry_http_hosts(const struct registry *r, const struct ipcmsg_register *req,
    char hosts[][REGISTRY_HOST_MAX + 1], struct ipcmsg_registered *reply)
{
	char label[REGISTRY_LABEL_MAX + 1], list[IPCMSG_STR_MAX + 1];
	char *tok, *save, *end;
	const char *sub = req->subdomain != NULL ? req->subdomain : "";
	size_t n, i, suffix = strlen(r->domain);
	int nh = 0, k;

	n = strlen(sub);
	if (n == 0) {
		if (registry_pick_label(r, label, sizeof(label)) != 0)
			return -registry_fail(reply, IPCMSG_S_UNAVAILABLE,
			    "could not pick a free subdomain; try again or ask "
			    "for one by name");
	} else {
		for (i = 0; i <= n && i < sizeof(label); i++)
			label[i] = (char)tolower((unsigned char)sub[i]);
		if (n > REGISTRY_LABEL_MAX || !registry_label_ok(label))
			return -registry_fail(reply, IPCMSG_S_INVALID,
			    "subdomain '%.63s' is not valid: use 1 to 63 letters, "
			    "digits or '-', not starting or ending with '-'", sub);
	}
	if (snprintf(hosts[nh], REGISTRY_HOST_MAX + 1, "%s.%s", label,
	    r->domain) > REGISTRY_HOST_MAX)
		return -registry_fail(reply, IPCMSG_S_INVALID,
		    "hostname %s.%s is longer than 253 characters", label, r->domain);
	nh++;

	snprintf(list, sizeof(list), "%s", req->domains != NULL ? req->domains : "");
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok == '\0')
			continue;
		if (nh > REGISTRY_DOMAINS_MAX)
			return -registry_fail(reply, IPCMSG_S_INVALID,
			    "too many custom domains: at most %d per tunnel",
			    REGISTRY_DOMAINS_MAX);
		if (registry_host_normalize(hosts[nh], REGISTRY_HOST_MAX + 1, tok) != 0 ||
		    strchr(hosts[nh], '.') == NULL)
			return -registry_fail(reply, IPCMSG_S_INVALID,
			    "custom domain '%.253s' is not a valid hostname", tok);
		n = strlen(hosts[nh]);
		if (strcmp(hosts[nh], r->domain) == 0 || (n > suffix + 1 &&
		    hosts[nh][n - suffix - 1] == '.' &&
		    strcmp(hosts[nh] + n - suffix, r->domain) == 0))
			return -registry_fail(reply, IPCMSG_S_INVALID,
			    "custom domain %s is under %s: ask for a subdomain "
			    "instead", hosts[nh], r->domain);
		for (k = 0; k < nh; k++)
			if (strcmp(hosts[k], hosts[nh]) == 0)
				break;
		if (k == nh)
			nh++;
	}
	return nh;
}

static int64_t
registry_now(const struct registry *r)
{
	return r->now != 0 ? r->now : (int64_t)time(NULL);
}

/* What a name is called in sentences: "subdomain alice", "domain a.b",
 * "port 20001". */
static void
registry_what(char *out, size_t len, const struct registry *r, uint8_t kind,
    const char *host, uint16_t port, bool first)
{
	if (kind == TUNNEL_TCP)
		snprintf(out, len, "port %u", (unsigned)port);
	else if (first)
		snprintf(out, len, "subdomain %.*s", (int)(strlen(host) -
		    strlen(r->domain) - 1), host);
	else
		snprintf(out, len, "domain %s", host);
}

/* Token checks of one name: allowed by the claimant's token, and not
 * reserved to another. Returns IPCMSG_S_OK or a failure (reply filled). */
static int
registry_auth_name(const struct registry *r, const struct ipcmsg_register *req,
    const struct auth_id *id, const char *host, uint16_t port, bool first,
    struct ipcmsg_registered *reply)
{
	const struct ipcmsg_route *cur;
	char what[REGISTRY_HOST_MAX + 32], label[REGISTRY_LABEL_MAX + 1];
	char row[REGISTRY_HOST_MAX + 16], when[64];
	bool allowed, online;
	int64_t until = 0;
	struct tm tm;
	time_t t;
	int rc;

	registry_what(what, sizeof(what), r, req->kind, host, port, first);
	if (req->kind == TUNNEL_TCP) {
		allowed = auth_port_allowed(id, port);
	} else {
		label[0] = '\0';
		if (first)
			snprintf(label, sizeof(label), "%.*s", (int)(strlen(host) -
			    strlen(r->domain) - 1), host);
		allowed = auth_host_allowed(id, host, first ? label : NULL);
	}
	if (!allowed)
		auth_count_not_allowed(r->auth);
	if (!allowed)
		return registry_fail(reply, IPCMSG_S_DENIED, "%s is not allowed "
		    "by token %s (it may claim %s: %s)%s", what, id->token_id,
		    req->kind == TUNNEL_TCP ? "ports" : "names",
		    (req->kind == TUNNEL_TCP ? id->ports : id->allow)[0] != '\0' ?
		    (req->kind == TUNNEL_TCP ? id->ports : id->allow) : "none",
		    req->kind == TUNNEL_TCP ? "; ask for an allowed one with "
		    "--remote-port" : first && (req->subdomain == NULL ||
		    req->subdomain[0] == '\0') ? "; ask for an allowed one with "
		    "--subdomain" : "");
	cur = table_find(r->table, req->kind, host, port, NULL);
	online = cur != NULL && cur->state == ROUTE_ONLINE &&
	    !(strcmp(cur->node, r->node) == 0 && cur->session == req->session);
	/* the reservation's id is the name as gossip/store.c writes it */
	if (req->kind == TUNNEL_TCP)
		snprintf(row, sizeof(row), "tcp:%u", (unsigned)port);
	else
		snprintf(row, sizeof(row), "%s:%s", req->kind == TUNNEL_TLS ?
		    "tls" : "http", host);
	rc = auth_reserved(r->auth, id, row, online, registry_now(r), &until);
	if (rc < 0)
		return registry_fail(reply, IPCMSG_S_UNAVAILABLE, "the node could "
		    "not read its reservations; try again shortly");
	if (rc == 0)
		return IPCMSG_S_OK;
	if (until == 0)
		return registry_fail(reply, IPCMSG_S_TAKEN, "%s is reserved by "
		    "another token, and its client is online", what);
	t = (time_t)until;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	return registry_fail(reply, IPCMSG_S_TAKEN, "%s is reserved by another "
	    "token until %s (--reservation-grace after its client was last "
	    "online)", what, when);
}

int
registry_register(const struct registry *r, const struct ipcmsg_register *req,
    struct ipcmsg_registered *reply, struct ipcmsg_table *delta)
{
	char hosts[1 + REGISTRY_DOMAINS_MAX][REGISTRY_HOST_MAX + 1];
	char err[512], *joined;
	struct ipcmsg_write w;
	struct auth_id id;
	size_t total = 1;
	int nh, i, st;

	memset(reply, 0, sizeof(*reply));
	memset(&id, 0, sizeof(id));
	id.anonymous = true;
	if (r->auth != NULL) {
		err[0] = '\0';
		st = auth_identify(r->auth, req->token, registry_now(r), &id, err,
		    sizeof(err));
		if (st == IPCMSG_S_OK)
			st = auth_admit(r->auth, &id, req->client_id, req->session,
			    registry_now(r), err, sizeof(err));
		if (st != IPCMSG_S_OK)
			return registry_fail(reply, st, "%s", err);
	}
	if (req->kind == TUNNEL_HTTP || req->kind == TUNNEL_TLS) {
		if ((nh = registry_http_hosts(r, req, hosts, reply)) < 0)
			return reply->status;
		for (i = 0; r->auth != NULL && i < nh; i++)
			if (registry_auth_name(r, req, &id, hosts[i], 0, i == 0,
			    reply) != IPCMSG_S_OK)
				return reply->status;
		for (i = 0; i < nh; i++) {
			if (!registry_taken(r, req, id.token_id, hosts[i], 0))
				continue;
			if (i == 0)
				return registry_fail(reply, IPCMSG_S_TAKEN,
				    "subdomain %.*s is in use by another client",
				    (int)(strlen(hosts[0]) - strlen(r->domain) - 1),
				    hosts[0]);
			return registry_fail(reply, IPCMSG_S_TAKEN,
			    "domain %s is in use by another client", hosts[i]);
		}
	} else if (req->kind == TUNNEL_TCP) {
		if (req->port < r->tcp_lo || req->port > r->tcp_hi)
			return registry_fail(reply, IPCMSG_S_INVALID,
			    "port %u is outside this node's TCP range %d-%d",
			    (unsigned)req->port, r->tcp_lo, r->tcp_hi);
		if (r->auth != NULL && registry_auth_name(r, req, &id, "",
		    req->port, true, reply) != IPCMSG_S_OK)
			return reply->status;
		if (registry_taken(r, req, id.token_id, "", req->port))
			return registry_fail(reply, IPCMSG_S_TAKEN,
			    "port %u is in use by another client",
			    (unsigned)req->port);
		nh = 1;
		hosts[0][0] = '\0';
	} else {
		return registry_fail(reply, IPCMSG_S_INVALID,
		    "unknown tunnel kind %u (want http, tcp or tls)", (unsigned)req->kind);
	}

	/* keep every snapshot encodable in one TABLE message */
	if (table_count(r->table) + (size_t)nh > IPCMSG_TABLE_MAX)
		return registry_fail(reply, IPCMSG_S_UNAVAILABLE,
		    "this node's route table is full (%d names); try another node",
		    IPCMSG_TABLE_MAX);

	memset(&w, 0, sizeof(w));
	w.op = WRITE_TUNNEL_UPSERT;
	w.client_id = req->client_id != NULL ? req->client_id : "";
	w.token_id = id.token_id;
	w.route.kind = req->kind;
	w.route.state = ROUTE_ONLINE;
	w.route.port = req->kind == TUNNEL_TCP ? req->port : 0;
	w.route.node = (char *)r->node;
	w.route.session = req->session;
	w.route.tunnel_id = req->tunnel_id;
	w.route.grp = req->grp;
	w.route.grp.token_id = id.token_id;
	for (i = 0; i < nh; i++) {
		w.route.host = hosts[i];
		err[0] = '\0';
		if ((st = r->write(r->write_arg, &w, err, sizeof(err))) != IPCMSG_S_OK)
			return registry_fail(reply, st, "%s", err);
		/* a replica's route (all of its group's) comes from the next
		 * compile of routing.db; the acceptor has its local claim */
		if ((req->grp.name == NULL || req->grp.name[0] == '\0') &&
		    table_put(r->table, &w.route, w.client_id, delta) != 0)
			return registry_fail(reply, IPCMSG_S_INTERNAL,
			    "the router is out of memory; try again later");
		total += strlen(hosts[i]) + 1;
	}

	if ((joined = malloc(total)) == NULL)
		return registry_fail(reply, IPCMSG_S_INTERNAL,
		    "the router is out of memory; try again later");
	joined[0] = '\0';
	if (req->kind == TUNNEL_HTTP || req->kind == TUNNEL_TLS) {
		for (i = 0; i < nh; i++) {
			if (i > 0)
				strcat(joined, ",");
			strcat(joined, hosts[i]);
		}
	}
	if (r->auth != NULL && auth_session_add(r->auth, req->session,
	    id.token_id) != 0) {
		free(joined);
		return registry_fail(reply, IPCMSG_S_INTERNAL,
		    "the router is out of memory; try again later");
	}
	reply->hosts = joined;
	reply->token_id = strdup(id.token_id);
	reply->error = strdup("");
	reply->port = req->kind == TUNNEL_TCP ? req->port : 0;
	reply->status = IPCMSG_S_OK;
	return IPCMSG_S_OK;
}

static int
registry_offline(const struct registry *r, uint8_t op, uint64_t session,
    struct ipcmsg_table *delta, char *err, size_t errlen)
{
	struct ipcmsg_write w;
	int st, n;

	memset(&w, 0, sizeof(w));
	w.op = op;
	w.route.node = (char *)r->node;
	w.route.session = session;
	w.route.host = "";
	w.client_id = "";
	err[0] = '\0';
	st = r->write(r->write_arg, &w, err, errlen);
	n = table_set_offline(r->table, r->node, op == WRITE_SESSION_OFFLINE,
	    session, delta);
	if (n < 0 && st == IPCMSG_S_OK) {
		snprintf(err, errlen, "the router is out of memory");
		st = IPCMSG_S_INTERNAL;
	}
	return st;
}

int
registry_unregister(const struct registry *r, uint64_t session,
    struct ipcmsg_table *delta, char *err, size_t errlen)
{
	if (r->auth != NULL)
		auth_session_remove(r->auth, session);
	return registry_offline(r, WRITE_SESSION_OFFLINE, session, delta, err,
	    errlen);
}

int
registry_node_offline(const struct registry *r, struct ipcmsg_table *delta,
    char *err, size_t errlen)
{
	if (r->auth != NULL)
		auth_sessions_clear(r->auth);
	return registry_offline(r, WRITE_NODE_OFFLINE, 0, delta, err, errlen);
}
