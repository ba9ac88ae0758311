#include "router/tokenapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ipcmsg.h"
#include "log.h"
#include "router/auth.h"

#define TOKENAPI_NOTE_MAX       256

static void
tokenapi_json(struct admin_resp *resp, int status, json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n;

	json_decref(j);
	resp->content_type = "application/json";
	if (s == NULL || (resp->body = malloc((n = strlen(s)) + 1)) == NULL) {
		free(s);
		resp->status = 500;
		resp->content_type = "text/plain; charset=utf-8";
		return;
	}
	memcpy(resp->body, s, n);
	resp->body[n] = '\n';
	resp->len = n + 1;
	resp->status = status;
	free(s);
}

static void
tokenapi_error(struct admin_resp *resp, int status, const char *msg)
{
	tokenapi_json(resp, status, json_pack("{s:s}", "error", msg));
}

/* The strings of array member `name` of o (absent: none). Returns the count
 * (<= AUTH_PATTERNS_MAX), or -1 when it is not an array of strings. */
static int
tokenapi_strings(json_t *o, const char *name, const char **v)
{
	json_t *arr = json_object_get(o, name), *x;
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > AUTH_PATTERNS_MAX)
		return -1;
	json_array_foreach(arr, i, x) {
		if (!json_is_string(x))
			return -1;
		v[i] = json_string_value(x);
	}
	return (int)json_array_size(arr);
}

static void
tokenapi_create(const struct tokenapi *t, const char *body, size_t len,
    struct admin_resp *resp)
{
	const char *allow[AUTH_PATTERNS_MAX], *ports[AUTH_PATTERNS_MAX], *note;
	char hosts[AUTH_LIST_MAX + 1], pr[AUTH_LIST_MAX + 1], err[512], msg[600];
	char token[AUTH_TOKEN_LEN + 1], id[AUTH_TOKEN_ID_LEN + 1];
	char hash[AUTH_HASH_LEN + 1];
	struct ipcmsg_write w;
	json_error_t jerr;
	json_t *o;
	int na, np, st;

	if ((o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(o)) {
		json_decref(o);
		tokenapi_error(resp, 400, "the body must be a JSON object: "
		    "{\"allow\": [...], \"allow_ports\": [...], \"note\": \"...\"}");
		return;
	}
	na = tokenapi_strings(o, "allow", allow);
	np = tokenapi_strings(o, "allow_ports", ports);
	note = json_string_value(json_object_get(o, "note"));
	if (na < 0 || np < 0 || (json_object_get(o, "note") != NULL &&
	    note == NULL)) {
		json_decref(o);
		tokenapi_error(resp, 400, "allow and allow_ports must be arrays of "
		    "at most 64 strings, and note a string");
		return;
	}
	if (note != NULL && strlen(note) > TOKENAPI_NOTE_MAX) {
		json_decref(o);
		tokenapi_error(resp, 400, "the note is longer than 256 bytes");
		return;
	}
	if (na == 0 && np == 0) {
		json_decref(o);
		tokenapi_error(resp, 400, "a token needs at least one allowed name "
		    "or port range: --allow 'alice.*' (or '*' for any subdomain), "
		    "--allow-port 20000-20010");
		return;
	}
	if (auth_patterns_join(allow, (size_t)na, hosts, sizeof(hosts), err,
	    sizeof(err)) != 0 || auth_ports_join(ports, (size_t)np, pr,
	    sizeof(pr), err, sizeof(err)) != 0) {
		json_decref(o);
		tokenapi_error(resp, 400, err);
		return;
	}
	if (auth_token_make(token, id, hash) != 0) {
		json_decref(o);
		tokenapi_error(resp, 500, "the router could not get random bytes");
		return;
	}
	memset(&w, 0, sizeof(w));
	w.op = WRITE_TOKEN_CREATE;
	w.route.node = (char *)t->node;
	w.route.host = "";
	w.client_id = "";
	w.token_id = "";
	w.tok.id = id;
	w.tok.hash = hash;
	w.tok.allow = hosts;
	w.tok.ports = pr;
	w.tok.note = (char *)(note != NULL ? note : "");
	err[0] = '\0';
	if ((st = t->write(t->write_arg, &w, err, sizeof(err))) != IPCMSG_S_OK) {
		json_decref(o);
		snprintf(msg, sizeof(msg), "the token could not be stored: %s", err);
		tokenapi_error(resp, 503, msg);
		return;
	}
	log_info("token.created", "id=%s allow=\"%s\" ports=\"%s\"", id, hosts, pr);
	if (json_object_get(o, "allow") == NULL)
		json_object_set_new(o, "allow", json_array());
	if (json_object_get(o, "allow_ports") == NULL)
		json_object_set_new(o, "allow_ports", json_array());
	tokenapi_json(resp, 200, json_pack("{s:s, s:s, s:O, s:O, s:s}",
	    "id", id, "token", token, "allow", json_object_get(o, "allow"),
	    "allow_ports", json_object_get(o, "allow_ports"),
	    "note", note != NULL ? note : ""));
	json_decref(o);
	explicit_bzero(token, sizeof(token));
}

static bool
tokenapi_id_ok(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > AUTH_TOKEN_ID_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' &&
		    id[i] <= '9') || id[i] == '_'))
			return false;
	return true;
}

static void
tokenapi_revoke(const struct tokenapi *t, const char *id,
    struct admin_resp *resp)
{
	struct ipcmsg_write w;
	char err[512], msg[600];
	size_t live;
	int st;

	if (!tokenapi_id_ok(id)) {
		tokenapi_error(resp, 404, "no such token: ids look like tok_ and "
		    "12 hex digits (see clusterctl tokens list)");
		return;
	}
	st = auth_token_state(t->auth, id);
	if (st < 0) {
		tokenapi_error(resp, 503, "the router could not read routing.db");
		return;
	}
	if (st == 0) {
		snprintf(msg, sizeof(msg), "no such token %s (see clusterctl "
		    "tokens list)", id);
		tokenapi_error(resp, 404, msg);
		return;
	}
	if (st == 1) {
		memset(&w, 0, sizeof(w));
		w.op = WRITE_TOKEN_REVOKE;
		w.route.node = (char *)t->node;
		w.route.host = "";
		w.client_id = "";
		w.token_id = "";
		w.tok.id = (char *)id;
		err[0] = '\0';
		if (t->write(t->write_arg, &w, err, sizeof(err)) != IPCMSG_S_OK) {
			snprintf(msg, sizeof(msg), "the token could not be revoked: %s",
			    err);
			tokenapi_error(resp, 503, msg);
			return;
		}
	}
	live = auth_sessions_of(t->auth, id);
	if (t->kick != NULL)
		t->kick(t->kick_arg, id);
	log_info("token.revoked", "id=%s sessions=%zu again=%d", id, live, st == 2);
	tokenapi_json(resp, 200, json_pack("{s:s, s:b, s:I}", "id", id,
	    "revoked", 1, "sessions", (json_int_t)live));
}

bool
tokenapi_match(const char *path)
{
	return strcmp(path, "/v1/tokens") == 0 ||
	    strncmp(path, "/v1/tokens/", 11) == 0;
}

void
tokenapi_handle(const struct tokenapi *t, const char *method,
    const char *path, const char *body, size_t len, struct admin_resp *resp)
{
	if (t->auth == NULL) {
		tokenapi_error(resp, 503, "tokens are not available: the router "
		    "has no access to routing.db");
		return;
	}
	if (strcmp(path, "/v1/tokens") == 0 || strcmp(path, "/v1/tokens/") == 0) {
		if (strcmp(method, "GET") == 0) {
			json_t *arr = auth_tokens_json(t->auth);

			if (arr == NULL)
				tokenapi_error(resp, 503, "the router could not read "
				    "the tokens from routing.db");
			else
				tokenapi_json(resp, 200, arr);
		} else if (strcmp(method, "POST") == 0) {
			tokenapi_create(t, body, len, resp);
		} else {
			tokenapi_error(resp, 405, "use GET or POST on /v1/tokens");
		}
		return;
	}
	if (strcmp(method, "DELETE") != 0) {
		tokenapi_error(resp, 405, "use DELETE on /v1/tokens/ID");
		return;
	}
	tokenapi_revoke(t, path + 11, resp);
}
