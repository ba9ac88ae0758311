/* ctl — what clusterctl's subcommands share: a tiny blocking HTTP/1.1
 * client for the node's admin API and the subcommand table's types.
 *
 * A subcommand is one entry in the table of client/clusterctl_main.c:
 *
 *     { "members", ctl_members_main, "members [--json]", "list ..." },
 *
 * its function gets the context and the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit status. One
 * subcommand (or family, like "tokens") per file is the rule: declare its
 * function below. */
#ifndef WARREN_CTL_H
#define WARREN_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CTL_DEFAULT_ADMIN       "127.0.0.1:7070"
#define CTL_BODY_MAX            (16u << 20)     /* largest response body */
#define CTL_TIMEOUT_MS          10000           /* connect, send, receive */

struct ctl {
	const char *admin;              /* "127.0.0.1:7070" (--admin, WARREN_ADMIN) */
	const char *prog;               /* "clusterctl", for messages */
};

struct ctl_resp {
	int status;                     /* HTTP status */
	char *body;                     /* NUL-terminated, malloc'ed */
	size_t len;
};

/* Sends one request to the admin API and reads the whole answer into *r
 * (ctl_resp_fini frees it). body may be NULL. Returns 0, or -errno with a
 * sentence in err (cannot connect, timeout, malformed or oversized answer). */
int ctl_http(const struct ctl *c, const char *method, const char *path,
    const char *body, size_t blen, struct ctl_resp *r, char *err, size_t errlen);
void ctl_resp_fini(struct ctl_resp *r);
/* True when flag ("--json") is among argv[1..argc); removes nothing. */
bool ctl_flag(int argc, char **argv, const char *flag);
/* Prints "prog: <what> failed: <the server's error or status>" for a
 * non-2xx answer (the JSON "error" field when there is one). */
void ctl_print_error(const struct ctl *c, const char *what,
    const struct ctl_resp *r);

/* GETs path, which answers a JSON array. With --json in argv prints the
 * answer as it is and returns 1 with *arr NULL; else returns 0 with *arr
 * (json_decref it), or -1 after printing why (`what` names the command). */
int ctl_get_array(const struct ctl *c, const char *path, const char *what,
    int argc, char **argv, json_t **arr);
/* The same for an answer that is a JSON object (array false) or array. */
/* POST a JSON body or DELETE a path of a replicated table; prints what
 * happened ("WHAT: done ..."). Returns the exit code. */
int ctl_write(struct ctl *c, const char *what, const char *method,
    const char *path, const char *body);
int ctl_get_json(const struct ctl *c, const char *path, const char *what,
    int argc, char **argv, bool array, json_t **out);
/* A duration of s seconds, short: "42s", "7m", "3h", "2d". */
void ctl_ago(char *out, size_t len, long long s);

typedef int ctl_cmd_fn(struct ctl *c, int argc, char **argv);

struct ctl_cmd {
	const char *name;
	ctl_cmd_fn *fn;
	const char *usage;              /* "members [--json]" */
	const char *help;               /* one line */
};

/* subcommands, one family per file */
int ctl_members_main(struct ctl *c, int argc, char **argv);
int ctl_leave_main(struct ctl *c, int argc, char **argv);
int ctl_drain_main(struct ctl *c, int argc, char **argv);
int ctl_keys_main(struct ctl *c, int argc, char **argv);
int ctl_routes_main(struct ctl *c, int argc, char **argv);
int ctl_sync_main(struct ctl *c, int argc, char **argv);
int ctl_backends_main(struct ctl *c, int argc, char **argv);
int ctl_domains_main(struct ctl *c, int argc, char **argv);
int ctl_lb_main(struct ctl *c, int argc, char **argv);
int ctl_apps_main(struct ctl *c, int argc, char **argv);

#endif
