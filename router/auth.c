#include "router/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "ipcmsg.h"
#include "log.h"
#include "router/jwt.h"

static const char auth_sql_by_hash[] =
    "SELECT id, hosts, ports, revoked FROM tokens WHERE hash = ?1 AND deleted = 0";
static const char auth_sql_resv[] =
    "SELECT r.token_id, r.updated_at, COALESCE(t.revoked, 0) FROM reservations r"
    " LEFT JOIN tokens t ON t.id = r.token_id WHERE r.id = ?1 AND r.deleted = 0";
static const char auth_sql_list[] =
    "SELECT id, hosts, ports, note, created_at, revoked FROM tokens"
    " WHERE deleted = 0 ORDER BY created_at, id";
static const char auth_sql_state[] =
    "SELECT revoked FROM tokens WHERE id = ?1 AND deleted = 0";

enum { AQ_BY_HASH, AQ_RESV, AQ_LIST, AQ_STATE, AQ_COUNT };

struct auth_session {
	uint64_t session;
	char *token_id;
};

struct auth_rate {
	char key[288];
	int64_t start;                  /* window start, unix seconds */
	int count;
};

struct auth {
	struct auth_conf conf;
	sqlite3 *db;
	sqlite3_stmt *q[AQ_COUNT];
	struct jwt_keys *keys;
	struct auth_session *sess;
	size_t nsess, capsess;
	struct auth_rate *rate;
	size_t nrate;
	struct auth_stats stats;
};

int
auth_new(struct auth **out, const struct auth_conf *c, const char *db_path,
    struct jwt_keys *keys)
{
	static const char *const sql[AQ_COUNT] = {
		[AQ_BY_HASH] = auth_sql_by_hash,
		[AQ_RESV] = auth_sql_resv,
		[AQ_LIST] = auth_sql_list,
		[AQ_STATE] = auth_sql_state,
	};
	struct auth *a;
	int i;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	a->conf = *c;
	if ((a->rate = calloc(AUTH_RATE_KEYS, sizeof(*a->rate))) == NULL)
		goto fail;
	if (sqlite3_open_v2(db_path, &a->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail_db;
	sqlite3_busy_timeout(a->db, 1000);
	sqlite3_exec(a->db, "PRAGMA query_only=1", NULL, NULL, NULL);
	for (i = 0; i < AQ_COUNT; i++)
		if (sqlite3_prepare_v3(a->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &a->q[i], NULL) != SQLITE_OK)
			goto fail_db;
	a->keys = keys;
	*out = a;
	return 0;
fail_db:
	log_error("auth.open", "db=%s err=\"%s\"", db_path,
	    a->db != NULL ? sqlite3_errmsg(a->db) : "out of memory");
	a->keys = NULL;
	auth_free(a);
	return -EIO;
fail:
	auth_free(a);
	return -ENOMEM;
}

void
auth_free(struct auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < AQ_COUNT; i++)
		sqlite3_finalize(a->q[i]);
	sqlite3_close(a->db);
	jwt_keys_free(a->keys);
	for (i = 0; i < a->nsess; i++)
		free(a->sess[i].token_id);
	free(a->sess);
	free(a->rate);
	free(a);
}

const struct auth_stats *
auth_stats(const struct auth *a)
{
	return &a->stats;
}

static const char *
auth_col(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t != NULL ? (const char *)t : "";
}

static void
auth_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* ---- tokens ---- */

void
auth_token_hash(const char *token, char *hash)
{
	unsigned char md[32];
	unsigned int n = 0, i;

	EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		sprintf(hash + 2 * i, "%02x", md[i]);
	hash[AUTH_HASH_LEN] = '\0';
}

int
auth_token_make(char *token, char *id, char *hash)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char rnd[32], rid[6];
	size_t i, bits = 0, n = 0;
	uint32_t acc = 0;
	char *p;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd) ||
	    getrandom(rid, sizeof(rid), 0) != (ssize_t)sizeof(rid))
		return -EIO;
	p = token + strlen(AUTH_TOKEN_PREFIX);
	memcpy(token, AUTH_TOKEN_PREFIX, strlen(AUTH_TOKEN_PREFIX));
	for (i = 0; i < sizeof(rnd); i++) {
		acc = (acc << 8) | rnd[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			p[n++] = b64[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		p[n++] = b64[(acc << (6 - bits)) & 63];
	p[n] = '\0';
	memcpy(id, "tok_", 4);
	for (i = 0; i < sizeof(rid); i++)
		sprintf(id + 4 + 2 * i, "%02x", rid[i]);
	auth_token_hash(token, hash);
	return 0;
}

static bool
auth_token_shape(const char *t)
{
	size_t i, n = strlen(t), pl = strlen(AUTH_TOKEN_PREFIX);

	if (n != AUTH_TOKEN_LEN || strncmp(t, AUTH_TOKEN_PREFIX, pl) != 0)
		return false;
	for (i = pl; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '-' && t[i] != '_')
			return false;
	return true;
}

int
auth_identify(struct auth *a, const char *token, int64_t now,
    struct auth_id *id, char *err, size_t errlen)
{
	struct jwt_opts jo;
	struct jwt_result jr;
	char hash[AUTH_HASH_LEN + 1], jerr[256];
	sqlite3_stmt *s;
	int64_t revoked;
	int rc;

	memset(id, 0, sizeof(*id));
	if (token == NULL || token[0] == '\0') {
		if (a->conf.allow_anonymous) {
			id->anonymous = true;
			return IPCMSG_S_OK;
		}
		a->stats.no_token++;
		snprintf(err, errlen, "a token is required: create one with "
		    "clusterctl tokens create and pass it with --token");
		return IPCMSG_S_DENIED;
	}
	if (jwt_looks_like(token)) {
		if (jwt_keys_count(a->keys) == 0) {
			a->stats.jwt_refused++;
			snprintf(err, errlen, "this node does not accept JWTs (it has "
			    "no --jwt-keys or --jwks): use a warren token");
			return IPCMSG_S_DENIED;
		}
		memset(&jo, 0, sizeof(jo));
		jo.audience = a->conf.jwt_audience;
		jo.issuer = a->conf.jwt_issuer;
		jo.claim = a->conf.jwt_claim;
		jo.now = now;
		jo.leeway = JWT_LEEWAY_S;
		if (jwt_verify(a->keys, token, &jo, &jr, jerr, sizeof(jerr)) != 0) {
			a->stats.jwt_refused++;
			snprintf(err, errlen, "the JWT was refused: %s", jerr);
			return IPCMSG_S_DENIED;
		}
		snprintf(id->token_id, sizeof(id->token_id), "%s", jr.identity);
		snprintf(id->allow, sizeof(id->allow), "%s", jr.allow);
		snprintf(id->ports, sizeof(id->ports), "%s", jr.ports);
		jwt_result_fini(&jr);
		return IPCMSG_S_OK;
	}
	if (!auth_token_shape(token)) {
		a->stats.bad_token++;
		snprintf(err, errlen, "the token is not valid: warren tokens look "
		    "like wrn_ followed by 43 characters (create one with "
		    "clusterctl tokens create)");
		return IPCMSG_S_DENIED;
	}
	auth_token_hash(token, hash);
	s = a->q[AQ_BY_HASH];
	sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		snprintf(id->token_id, sizeof(id->token_id), "%s", auth_col(s, 0));
		snprintf(id->allow, sizeof(id->allow), "%s", auth_col(s, 1));
		snprintf(id->ports, sizeof(id->ports), "%s", auth_col(s, 2));
		revoked = sqlite3_column_int64(s, 3);
	}
	auth_done(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_warn("auth.read", "err=\"%s\"", sqlite3_errmsg(a->db));
		snprintf(err, errlen, "the node could not read its token table; "
		    "try again shortly");
		return IPCMSG_S_UNAVAILABLE;
	}
	if (rc == SQLITE_DONE) {
		a->stats.bad_token++;
		memset(id, 0, sizeof(*id));
		snprintf(err, errlen, "the token is not known to this node: check "
		    "it, or create one with clusterctl tokens create");
		return IPCMSG_S_DENIED;
	}
	if (revoked != 0) {
		a->stats.revoked++;
		snprintf(err, errlen, "the token %s was revoked: ask for a new one",
		    id->token_id);
		memset(id, 0, sizeof(*id));
		return IPCMSG_S_DENIED;
	}
	return IPCMSG_S_OK;
}

/* ---- patterns ---- */

bool
auth_host_allowed(const struct auth_id *id, const char *host, const char *label)
{
	char list[AUTH_LIST_MAX + 1], *p, *save;
	size_t n;

	if (id->anonymous)
		return true;
	snprintf(list, sizeof(list), "%s", id->allow);
	for (p = strtok_r(list, ",", &save); p != NULL;
	    p = strtok_r(NULL, ",", &save)) {
		n = strlen(p);
		if (n > 2 && strcmp(p + n - 2, ".*") == 0) {
			p[n - 2] = '\0';
			if (label != NULL && strchr(p, '.') == NULL &&
			    fnmatch(p, label, 0) == 0)
				return true;
		} else if (strchr(p, '.') == NULL) {
			if (label != NULL && fnmatch(p, label, 0) == 0)
				return true;
		} else if (fnmatch(p, host, 0) == 0) {
			return true;
		}
	}
	return false;
}

void
auth_count_not_allowed(struct auth *a)
{
	a->stats.not_allowed++;
}

bool
auth_port_allowed(const struct auth_id *id, unsigned port)
{
	char list[AUTH_LIST_MAX + 1], *p, *save;
	unsigned lo, hi;

	if (id->anonymous)
		return true;
	snprintf(list, sizeof(list), "%s", id->ports);
	for (p = strtok_r(list, ",", &save); p != NULL;
	    p = strtok_r(NULL, ",", &save)) {
		if (sscanf(p, "%u-%u", &lo, &hi) == 2) {
			if (port >= lo && port <= hi)
				return true;
		} else if (sscanf(p, "%u", &lo) == 1 && port == lo) {
			return true;
		}
	}
	return false;
}

static int
auth_join(char *out, size_t len, size_t *used, const char *item, char *err,
    size_t errlen)
{
	size_t n = strlen(item);

	if (*used + n + 2 > len) {
		snprintf(err, errlen, "the list is longer than %zu bytes", len - 1);
		return -EINVAL;
	}
	if (*used > 0)
		out[(*used)++] = ',';
	memcpy(out + *used, item, n + 1);
	*used += n;
	return 0;
}

int
auth_patterns_join(const char *const *v, size_t n, char *out, size_t len,
    char *err, size_t errlen)
{
	char p[AUTH_PATTERN_MAX + 1];
	size_t i, k, m, used = 0;

	out[0] = '\0';
	if (n > AUTH_PATTERNS_MAX) {
		snprintf(err, errlen, "at most %d host patterns", AUTH_PATTERNS_MAX);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		m = strlen(v[i]);
		if (m == 0 || m > AUTH_PATTERN_MAX) {
			snprintf(err, errlen, "host pattern '%.64s' is empty or too "
			    "long", v[i]);
			return -EINVAL;
		}
		for (k = 0; k <= m; k++) {
			p[k] = (char)tolower((unsigned char)v[i][k]);
			if (k < m && !(isalnum((unsigned char)p[k]) || p[k] == '-' ||
			    p[k] == '.' || p[k] == '*')) {
				snprintf(err, errlen, "host pattern '%.64s' may hold "
				    "only letters, digits, '-', '.' and '*' (e.g. "
				    "'alice.*', 'app-*', '*.example.com')", v[i]);
				return -EINVAL;
			}
		}
		if (p[0] == '.' || p[m - 1] == '.' || strstr(p, "..") != NULL) {
			snprintf(err, errlen, "host pattern '%.64s' has an empty label",
			    v[i]);
			return -EINVAL;
		}
		if (auth_join(out, len, &used, p, err, errlen) != 0)
			return -EINVAL;
	}
	return 0;
}

int
auth_ports_join(const char *const *v, size_t n, char *out, size_t len,
    char *err, size_t errlen)
{
	char item[32], *end;
	unsigned long lo, hi;
	size_t i, used = 0;

	out[0] = '\0';
	if (n > AUTH_PATTERNS_MAX) {
		snprintf(err, errlen, "at most %d port ranges", AUTH_PATTERNS_MAX);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		errno = 0;
		lo = strtoul(v[i], &end, 10);
		hi = lo;
		if (end != v[i] && *end == '-')
			hi = strtoul(end + 1, &end, 10);
		if (!isdigit((unsigned char)v[i][0]) || *end != '\0' || errno != 0 ||
		    lo < 1 || hi > 65535 || lo > hi) {
			snprintf(err, errlen, "port range '%.32s' is not valid: use "
			    "PORT or LO-HI between 1 and 65535", v[i]);
			return -EINVAL;
		}
		snprintf(item, sizeof(item), "%lu-%lu", lo, hi);
		if (auth_join(out, len, &used, item, err, errlen) != 0)
			return -EINVAL;
	}
	return 0;
}

/* ---- reservations ---- */

int
auth_reserved(struct auth *a, const struct auth_id *id, const char *row_id,
    bool holder_online, int64_t now, int64_t *until)
{
	sqlite3_stmt *s = a->q[AQ_RESV];
	char holder[sizeof(id->token_id)] = "";
	int64_t last = 0, revoked = 0;
	int rc;

	sqlite3_bind_text(s, 1, row_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		snprintf(holder, sizeof(holder), "%s", auth_col(s, 0));
		last = sqlite3_column_int64(s, 1);
		revoked = sqlite3_column_int64(s, 2);
	}
	auth_done(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_warn("auth.read", "err=\"%s\"", sqlite3_errmsg(a->db));
		return -EIO;
	}
	/* no reservation, an anonymous one (client-id rule), ours, or void */
	if (holder[0] == '\0' || strcmp(holder, id->token_id) == 0 || revoked != 0)
		return 0;
	if (holder_online) {
		*until = 0;
		a->stats.reserved++;
		return 1;
	}
	if (now >= last + a->conf.grace_s)
		return 0;
	*until = last + a->conf.grace_s;
	a->stats.reserved++;
	return 1;
}

/* ---- caps ---- */

size_t
auth_session_tokens(const struct auth *a, const char **out, size_t max)
{
	size_t i, k, n = 0;

	for (i = 0; i < a->nsess && n < max; i++) {
		if (a->sess[i].token_id[0] == '\0' ||
		    strncmp(a->sess[i].token_id, "tok_", 4) != 0)
			continue;
		for (k = 0; k < n; k++)
			if (strcmp(out[k], a->sess[i].token_id) == 0)
				break;
		if (k == n)
			out[n++] = a->sess[i].token_id;
	}
	return n;
}

size_t
auth_sessions_of(const struct auth *a, const char *token_id)
{
	size_t i, n = 0;

	for (i = 0; i < a->nsess; i++)
		if (strcmp(a->sess[i].token_id, token_id) == 0)
			n++;
	return n;
}

static bool
auth_session_known(const struct auth *a, uint64_t session)
{
	size_t i;

	for (i = 0; i < a->nsess; i++)
		if (a->sess[i].session == session)
			return true;
	return false;
}

int
auth_session_add(struct auth *a, uint64_t session, const char *token_id)
{
	struct auth_session *v;
	size_t cap;

	if (token_id == NULL || token_id[0] == '\0' ||
	    auth_session_known(a, session))
		return 0;
	if (a->nsess == a->capsess) {
		cap = a->capsess ? a->capsess * 2 : 16;
		if ((v = realloc(a->sess, cap * sizeof(*v))) == NULL)
			return -ENOMEM;
		a->sess = v;
		a->capsess = cap;
	}
	if ((a->sess[a->nsess].token_id = strdup(token_id)) == NULL)
		return -ENOMEM;
	a->sess[a->nsess].session = session;
	a->nsess++;
	return 0;
}

void
auth_session_remove(struct auth *a, uint64_t session)
{
	size_t i;

	for (i = 0; i < a->nsess; i++) {
		if (a->sess[i].session != session)
			continue;
		free(a->sess[i].token_id);
		a->sess[i] = a->sess[--a->nsess];
		return;
	}
}

void
auth_sessions_clear(struct auth *a)
{
	size_t i;

	for (i = 0; i < a->nsess; i++)
		free(a->sess[i].token_id);
	a->nsess = 0;
}

/* The rate window of key, making one (reusing the stalest) when new. */
static struct auth_rate *
auth_rate_slot(struct auth *a, const char *key, int64_t now)
{
	struct auth_rate *r, *old = NULL;
	size_t i;

	for (i = 0; i < a->nrate; i++) {
		r = &a->rate[i];
		if (strcmp(r->key, key) == 0)
			return r;
		if (old == NULL || r->start < old->start)
			old = r;
	}
	if (a->nrate < AUTH_RATE_KEYS)
		r = &a->rate[a->nrate++];
	else
		r = old;
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->start = now;
	r->count = 0;
	return r;
}

int
auth_admit(struct auth *a, const struct auth_id *id, const char *client_id,
    uint64_t session, int64_t now, char *err, size_t errlen)
{
	struct auth_rate *r;
	char key[288];

	if (id->anonymous)
		snprintf(key, sizeof(key), "client:%s", client_id != NULL &&
		    client_id[0] != '\0' ? client_id : "-");
	else
		snprintf(key, sizeof(key), "token:%s", id->token_id);
	if (a->conf.max_per_minute > 0) {
		r = auth_rate_slot(a, key, now);
		if (now - r->start >= 60) {
			r->start = now;
			r->count = 0;
		}
		if (++r->count > a->conf.max_per_minute) {
			a->stats.rate_limited++;
			snprintf(err, errlen, "too many registrations: %s made more "
			    "than %d in the last minute (--max-registrations-per-"
			    "minute); try again in %lld s", id->anonymous ?
			    "this client" : id->token_id, a->conf.max_per_minute,
			    (long long)(r->start + 60 - now));
			return IPCMSG_S_UNAVAILABLE;
		}
	}
	if (!id->anonymous && a->conf.max_sessions > 0 &&
	    !auth_session_known(a, session) &&
	    auth_sessions_of(a, id->token_id) >= (size_t)a->conf.max_sessions) {
		a->stats.session_cap++;
		snprintf(err, errlen, "token %s already has %d live sessions on "
		    "this node (--max-sessions-per-token): stop one of its clients "
		    "first", id->token_id, a->conf.max_sessions);
		return IPCMSG_S_DENIED;
	}
	return IPCMSG_S_OK;
}

/* ---- admin ---- */

static json_t *
auth_list_json(const char *s)
{
	char list[AUTH_LIST_MAX + 1], *p, *save;
	json_t *arr = json_array();

	if (arr == NULL)
		return NULL;
	snprintf(list, sizeof(list), "%s", s);
	for (p = strtok_r(list, ",", &save); p != NULL;
	    p = strtok_r(NULL, ",", &save))
		json_array_append_new(arr, json_string(p));
	return arr;
}

void *
auth_tokens_json(struct auth *a)
{
	sqlite3_stmt *s = a->q[AQ_LIST];
	json_t *arr = json_array(), *o;
	const char *id;
	int rc;

	if (arr == NULL)
		return NULL;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		id = auth_col(s, 0);
		o = json_pack("{s:s, s:o, s:o, s:s, s:I, s:I, s:I}",
		    "id", id, "allow", auth_list_json(auth_col(s, 1)),
		    "allow_ports", auth_list_json(auth_col(s, 2)),
		    "note", auth_col(s, 3),
		    "created", (json_int_t)sqlite3_column_int64(s, 4),
		    "revoked", (json_int_t)sqlite3_column_int64(s, 5),
		    "sessions", (json_int_t)auth_sessions_of(a, id));
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	auth_done(s);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

int
auth_token_state(struct auth *a, const char *id)
{
	sqlite3_stmt *s = a->q[AQ_STATE];
	int rc, st = 0;

	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		st = sqlite3_column_int64(s, 0) != 0 ? 2 : 1;
	auth_done(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -EIO;
	return st;
}
