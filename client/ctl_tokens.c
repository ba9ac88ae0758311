/* ctl_tokens — clusterctl tokens create|list|revoke. */
#include "client/ctl_tokens.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/ctl.h"

static const char ctl_tokens_usage[] =
    "usage: clusterctl tokens create --allow PATTERN [--allow PATTERN...]\n"
    "                                [--allow-port LO-HI...] [--note TEXT]\n"
    "       clusterctl tokens list [--json]\n"
    "       clusterctl tokens revoke ID\n"
    "\n"
    "PATTERN: 'alice.*' or 'alice' (subdomain alice), 'app-*', '*' (any\n"
    "subdomain), 'app.example.com' or '*.example.com' (custom domains).\n"
    "The token is printed once, alone on the last line; the node keeps only\n"
    "its hash.\n";

/* Joins the strings of a JSON array with ", " into out ("-" when empty). */
static void
ctl_tokens_join(char *out, size_t len, json_t *arr)
{
	json_t *v;
	size_t i, used = 0;
	int n;

	out[0] = '\0';
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			continue;
		n = snprintf(out + used, len - used, "%s%s", used ? "," : "",
		    json_string_value(v));
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	if (out[0] == '\0')
		snprintf(out, len, "-");
}

static int
ctl_tokens_create(struct ctl *c, int argc, char **argv)
{
	json_t *req, *allow, *ports, *resp;
	struct ctl_resp r;
	char err[512], a[1024], p[1024], *body;
	const char *note = NULL;
	int i, rc = 1;

	req = json_object();
	allow = json_array();
	ports = json_array();
	for (i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = NULL;
		size_t n;

		if ((strcmp(opt, "--allow") == 0 || strcmp(opt, "--allow-port") == 0 ||
		    strcmp(opt, "--note") == 0) && i + 1 < argc)
			val = argv[++i];
		else if (strncmp(opt, "--allow=", 8) == 0 ||
		    strncmp(opt, "--allow-port=", 13) == 0 ||
		    strncmp(opt, "--note=", 7) == 0)
			val = strchr(opt, '=') + 1;
		if (val == NULL) {
			fprintf(stderr, "%s: tokens create: unexpected argument "
			    "'%s'\n%s", c->prog, opt, ctl_tokens_usage);
			json_decref(req);
			json_decref(allow);
			json_decref(ports);
			return 2;
		}
		n = strcspn(opt + 2, "=");
		if (n == 5 && strncmp(opt + 2, "allow", 5) == 0)
			json_array_append_new(allow, json_string(val));
		else if (n == 10 && strncmp(opt + 2, "allow-port", 10) == 0)
			json_array_append_new(ports, json_string(val));
		else
			note = val;
	}
	if (json_array_size(allow) == 0 && json_array_size(ports) == 0) {
		fprintf(stderr, "%s: tokens create needs --allow PATTERN or "
		    "--allow-port LO-HI (use --allow '*' for any subdomain)\n",
		    c->prog);
		json_decref(req);
		json_decref(allow);
		json_decref(ports);
		return 2;
	}
	json_object_set_new(req, "allow", allow);
	json_object_set_new(req, "allow_ports", ports);
	json_object_set_new(req, "note", json_string(note != NULL ? note : ""));
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (body == NULL) {
		fprintf(stderr, "%s: out of memory\n", c->prog);
		return 1;
	}
	if (ctl_http(c, "POST", "/v1/tokens", body, strlen(body), &r, err,
	    sizeof(err)) != 0) {
		free(body);
		fprintf(stderr, "%s: %s\n", c->prog, err);
		return 1;
	}
	free(body);
	if (r.status != 200) {
		ctl_print_error(c, "tokens create", &r);
		ctl_resp_fini(&r);
		return 1;
	}
	resp = json_loadb(r.body, r.len, 0, NULL);
	if (json_string_value(json_object_get(resp, "token")) == NULL) {
		fprintf(stderr, "%s: tokens create: the node's answer has no "
		    "token\n", c->prog);
	} else {
		ctl_tokens_join(a, sizeof(a), json_object_get(resp, "allow"));
		ctl_tokens_join(p, sizeof(p), json_object_get(resp, "allow_ports"));
		printf("created token %s (names: %s; ports: %s)\n",
		    json_string_value(json_object_get(resp, "id")), a, p);
		printf("it is shown only now: pass it to clients with --token or "
		    "WARREN_TOKEN\n");
		printf("%s\n", json_string_value(json_object_get(resp, "token")));
		rc = 0;
	}
	json_decref(resp);
	ctl_resp_fini(&r);
	return rc;
}

static int
ctl_tokens_list(struct ctl *c, int argc, char **argv)
{
	json_t *arr, *o;
	char a[1024], p[1024], created[32];
	struct tm tm;
	time_t t;
	size_t i;
	int rc;

	if ((rc = ctl_get_array(c, "/v1/tokens", "tokens list", argc, argv,
	    &arr)) != 0)
		return rc < 0 ? 1 : 0;
	printf("%-17s %-8s %-8s %-20s %-24s %-14s %s\n", "ID", "STATE",
	    "SESSIONS", "CREATED", "NAMES", "PORTS", "NOTE");
	json_array_foreach(arr, i, o) {
		t = (time_t)json_integer_value(json_object_get(o, "created"));
		created[0] = '\0';
		if (gmtime_r(&t, &tm) != NULL)
			strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
		ctl_tokens_join(a, sizeof(a), json_object_get(o, "allow"));
		ctl_tokens_join(p, sizeof(p), json_object_get(o, "allow_ports"));
		printf("%-17s %-8s %-8lld %-20s %-24s %-14s %s\n",
		    json_string_value(json_object_get(o, "id")) ?: "-",
		    json_integer_value(json_object_get(o, "revoked")) ? "revoked" :
		    "valid",
		    (long long)json_integer_value(json_object_get(o, "sessions")),
		    created, a, p,
		    json_string_value(json_object_get(o, "note")) ?: "");
	}
	json_decref(arr);
	return 0;
}

static int
ctl_tokens_revoke(struct ctl *c, int argc, char **argv)
{
	struct ctl_resp r;
	char err[512], path[128];
	json_t *o;

	if (argc != 2 || strlen(argv[1]) > 64) {
		fprintf(stderr, "%s", ctl_tokens_usage);
		return 2;
	}
	snprintf(path, sizeof(path), "/v1/tokens/%s", argv[1]);
	if (ctl_http(c, "DELETE", path, NULL, 0, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", c->prog, err);
		return 1;
	}
	if (r.status != 200) {
		ctl_print_error(c, "tokens revoke", &r);
		ctl_resp_fini(&r);
		return 1;
	}
	o = json_loadb(r.body, r.len, 0, NULL);
	printf("revoked %s; its %lld live session(s) on this node are being "
	    "closed\n", argv[1],
	    (long long)json_integer_value(json_object_get(o, "sessions")));
	json_decref(o);
	ctl_resp_fini(&r);
	return 0;
}

int
ctl_tokens_main(struct ctl *c, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return ctl_tokens_create(c, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return ctl_tokens_list(c, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "revoke") == 0)
		return ctl_tokens_revoke(c, argc - 1, argv + 1);
	fprintf(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
	    "%s", ctl_tokens_usage);
	return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
