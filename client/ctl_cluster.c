/* ctl_cluster — clusterctl members, leave, keys. */
#include "client/ctl.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *
ctl_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && s[0] != '\0' ? s : "-";
}

int
ctl_members_main(struct ctl *c, int argc, char **argv)
{
	json_t *arr, *o;
	char rtt[32], ago[32], name[80];
	size_t i;
	int rc;

	if ((rc = ctl_get_array(c, "/v1/members", "members", argc, argv, &arr)) != 0)
		return rc < 0 ? 1 : 0;
	printf("%-20s %-22s %-10s %-8s %-14s %-9s %s\n", "NAME", "ADDRESS",
	    "REGION", "STATE", "INCARNATION", "RTT", "CHANGED");
	json_array_foreach(arr, i, o) {
		json_t *rj = json_object_get(o, "rtt_ms");

		if (json_is_number(rj))
			snprintf(rtt, sizeof(rtt), "%.2fms", json_number_value(rj));
		else
			snprintf(rtt, sizeof(rtt), "-");
		{
			long long ms = json_integer_value(json_object_get(o,
			    "changed_ms"));

			if (ms <= 0)
				snprintf(ago, sizeof(ago), "-");
			else {
				ctl_ago(ago, sizeof(ago), (long long)time(NULL) -
				    ms / 1000);
				strncat(ago, " ago", sizeof(ago) - strlen(ago) - 1);
			}
		}
		snprintf(name, sizeof(name), "%s%s", ctl_str(o, "name"),
		    json_is_true(json_object_get(o, "self")) ? " *" : "");
		printf("%-20s %-22s %-10s %-8s %-14lld %-9s %s\n", name,
		    ctl_str(o, "addr"), ctl_str(o, "region"), ctl_str(o, "state"),
		    (long long)json_integer_value(json_object_get(o, "incarnation")),
		    rtt, ago);
	}
	json_decref(arr);
	return 0;
}

/* POST to path; prints the server's message. */
static int
ctl_post(struct ctl *c, const char *what, const char *path, const char *done)
{
	struct ctl_resp r;
	json_t *j;
	const char *m;
	char err[512];

	if (ctl_http(c, "POST", path, NULL, 0, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", c->prog, err);
		return 1;
	}
	if (r.status != 200) {
		ctl_print_error(c, what, &r);
		ctl_resp_fini(&r);
		return 1;
	}
	j = json_loadb(r.body, r.len, 0, NULL);
	m = j != NULL ? json_string_value(json_object_get(j, "message")) : NULL;
	printf("%s%s%s\n", done, m != NULL && m[0] != '\0' ? ": " : "",
	    m != NULL ? m : "");
	json_decref(j);
	ctl_resp_fini(&r);
	return 0;
}

int
ctl_leave_main(struct ctl *c, int argc, char **argv)
{
	return ctl_post(c, "leave", "/v1/leave", "leaving the cluster (the "
	    "others will see this node as left; restart it to join again)");
}

/* The state of member `name` in /v1/members ("" if it is not listed), or
 * NULL when the node cannot be asked. */
static const char *
ctl_member_state(struct ctl *c, const char *name, char *out, size_t len)
{
	struct ctl_resp r;
	json_t *j, *o;
	char err[512];
	size_t i;

	if (ctl_http(c, "GET", "/v1/members", NULL, 0, &r, err, sizeof(err)) != 0)
		return NULL;
	j = r.status == 200 ? json_loadb(r.body, r.len, 0, NULL) : NULL;
	ctl_resp_fini(&r);
	if (j == NULL)
		return NULL;
	out[0] = '\0';
	json_array_foreach(j, i, o) {
		const char *n = json_string_value(json_object_get(o, "name"));
		const char *s = json_string_value(json_object_get(o, "state"));

		if (n != NULL && s != NULL && strcmp(n, name) == 0)
			snprintf(out, len, "%s", s);
	}
	json_decref(j);
	return out;
}

int
ctl_drain_main(struct ctl *c, int argc, char **argv)
{
	struct timespec tick = { 0, 200 * 1000 * 1000 };
	char path[300], state[32];
	const char *node = NULL;
	bool wait = false;
	int i, rc, left;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--wait") == 0)
			wait = true;
		else if (node == NULL && argv[i][0] != '-')
			node = argv[i];
		else {
			node = NULL;    /* a second name, or an unknown flag */
			break;
		}
	}
	if (node == NULL || strlen(node) > 200) {
		fprintf(stderr, "%s: usage: %s drain NODE [--wait]\n", c->prog,
		    c->prog);
		return 2;
	}
	snprintf(path, sizeof(path), "/v1/drain/%s", node);
	if ((rc = ctl_post(c, "drain", path, node)) != 0 || !wait)
		return rc;
	/* --wait: until the others see it leave (bounded: 10 minutes) */
	for (left = 3000; left > 0; left--) {
		if (ctl_member_state(c, node, state, sizeof(state)) != NULL &&
		    (state[0] == '\0' || strcmp(state, "left") == 0 ||
		    strcmp(state, "dead") == 0)) {
			printf("%s: %s\n", node, state[0] ? state : "gone");
			return 0;
		}
		nanosleep(&tick, NULL);
	}
	fprintf(stderr, "%s: %s is still a member after 10 minutes\n", c->prog,
	    node);
	return 1;
}

int
ctl_keys_main(struct ctl *c, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "reload") != 0) {
		fprintf(stderr, "%s: usage: %s keys reload\n", c->prog, c->prog);
		return 2;
	}
	return ctl_post(c, "keys reload", "/v1/keys/reload",
	    "cluster key file reloaded");
}
