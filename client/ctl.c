#include "client/ctl.h"

#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sock.h"

struct ctl_parse {
	struct ctl_resp *r;
	size_t cap;
	bool complete, too_big;
};

static int
ctl_on_body(http_parser *p, const char *at, size_t len)
{
	struct ctl_parse *cp = p->data;
	struct ctl_resp *r = cp->r;
	char *nb;

	if (r->len + len > CTL_BODY_MAX) {
		cp->too_big = true;
		return 1;
	}
	if (r->len + len + 1 > cp->cap) {
		size_t cap = cp->cap ? cp->cap : 4096;

		while (cap < r->len + len + 1)
			cap *= 2;
		if ((nb = realloc(r->body, cap)) == NULL)
			return 1;
		r->body = nb;
		cp->cap = cap;
	}
	memcpy(r->body + r->len, at, len);
	r->len += len;
	r->body[r->len] = '\0';
	return 0;
}

static int
ctl_on_complete(http_parser *p)
{
	((struct ctl_parse *)p->data)->complete = true;
	return 0;
}

static int
ctl_send_all(int fd, const char *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = send(fd, p, n, MSG_NOSIGNAL);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			return k == 0 ? -EIO : -errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int
ctl_http(const struct ctl *c, const char *method, const char *path,
    const char *body, size_t blen, struct ctl_resp *r, char *err, size_t errlen)
{
	struct timeval tv = { CTL_TIMEOUT_MS / 1000, 0 };
	http_parser_settings settings;
	http_parser parser;
	struct ctl_parse cp;
	struct sock_addr sa;
	char head[1024], buf[16384];
	ssize_t n;
	size_t parsed;
	int fd, hn, rc;

	memset(r, 0, sizeof(*r));
	if (sock_addr_parse(&sa, c->admin, "127.0.0.1") != 0) {
		snprintf(err, errlen, "--admin '%s' is not IP:PORT", c->admin);
		return -EINVAL;
	}
	if ((fd = socket(sa.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa.ss, sa.len) == -1) {
		rc = -errno;
		snprintf(err, errlen, "cannot reach the node's admin API at %s: %s "
		    "(is warren-node running? set --admin or WARREN_ADMIN)",
		    c->admin, strerror(errno));
		close(fd);
		return rc;
	}
	hn = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: clusterctl\r\nAccept: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", method, path,
	    c->admin, body != NULL ? blen : 0,
	    body != NULL ? "Content-Type: application/json\r\n" : "");
	if (hn < 0 || (size_t)hn >= sizeof(head)) {
		close(fd);
		snprintf(err, errlen, "request path too long");
		return -EINVAL;
	}
	if ((rc = ctl_send_all(fd, head, (size_t)hn)) != 0 ||
	    (body != NULL && (rc = ctl_send_all(fd, body, blen)) != 0)) {
		snprintf(err, errlen, "cannot send to %s: %s", c->admin,
		    strerror(-rc));
		close(fd);
		return rc;
	}
	memset(&cp, 0, sizeof(cp));
	cp.r = r;
	http_parser_settings_init(&settings);
	settings.on_body = ctl_on_body;
	settings.on_message_complete = ctl_on_complete;
	http_parser_init(&parser, HTTP_RESPONSE);
	parser.data = &cp;
	rc = 0;
	while (!cp.complete) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = -errno;
			snprintf(err, errlen, "no answer from %s: %s", c->admin,
			    errno == EAGAIN ? "timed out" : strerror(errno));
			break;
		}
		/* n == 0 tells the parser about EOF (a body up to close) */
		parsed = http_parser_execute(&parser, &settings, buf, (size_t)n);
		if (cp.too_big) {
			rc = -EMSGSIZE;
			snprintf(err, errlen, "the answer from %s is over %u bytes",
			    c->admin, CTL_BODY_MAX);
			break;
		}
		if (HTTP_PARSER_ERRNO(&parser) != HPE_OK || parsed != (size_t)n) {
			rc = -EPROTO;
			snprintf(err, errlen, "malformed HTTP answer from %s: %s",
			    c->admin, http_errno_description(HTTP_PARSER_ERRNO(&parser)));
			break;
		}
		if (n == 0) {
			if (!cp.complete) {
				rc = -ECONNRESET;
				snprintf(err, errlen, "%s closed the connection before "
				    "a whole answer", c->admin);
			}
			break;
		}
	}
	close(fd);
	if (rc != 0) {
		ctl_resp_fini(r);
		return rc;
	}
	r->status = (int)parser.status_code;
	if (r->body == NULL && (r->body = calloc(1, 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void
ctl_resp_fini(struct ctl_resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

bool
ctl_flag(int argc, char **argv, const char *flag)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return true;
	return false;
}

void
ctl_print_error(const struct ctl *c, const char *what, const struct ctl_resp *r)
{
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	const char *e = j != NULL ? json_string_value(json_object_get(j, "error")) :
	    NULL;
	size_t n = r->len;

	while (n > 0 && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r'))
		n--;
	if (e != NULL)
		fprintf(stderr, "%s: %s failed: %s\n", c->prog, what, e);
	else
		fprintf(stderr, "%s: %s failed: HTTP %d %.*s\n", c->prog, what,
		    r->status, (int)(n > 300 ? 300 : n), r->body);
	json_decref(j);
}

int
ctl_get_json(const struct ctl *c, const char *path, const char *what,
    int argc, char **argv, bool array, json_t **out)
{
	struct ctl_resp r;
	json_error_t je;
	char err[512];

	*out = NULL;
	if (ctl_http(c, "GET", path, NULL, 0, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", c->prog, err);
		return -1;
	}
	if (r.status != 200) {
		ctl_print_error(c, what, &r);
		ctl_resp_fini(&r);
		return -1;
	}
	if (ctl_flag(argc, argv, "--json")) {
		fwrite(r.body, 1, r.len, stdout);
		ctl_resp_fini(&r);
		return 1;
	}
	if ((*out = json_loadb(r.body, r.len, 0, &je)) == NULL ||
	    (array ? !json_is_array(*out) : !json_is_object(*out))) {
		fprintf(stderr, "%s: %s: the node answered %s with something that "
		    "is not a JSON %s (%s)\n", c->prog, what, path,
		    array ? "array" : "object", je.text);
		json_decref(*out);
		*out = NULL;
		ctl_resp_fini(&r);
		return -1;
	}
	ctl_resp_fini(&r);
	return 0;
}

int
ctl_get_array(const struct ctl *c, const char *path, const char *what,
    int argc, char **argv, json_t **arr)
{
	return ctl_get_json(c, path, what, argc, argv, true, arr);
}

void
ctl_ago(char *out, size_t len, long long s)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, len, "%llds", s);
	else if (s < 7200)
		snprintf(out, len, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(out, len, "%lldh", s / 3600);
	else
		snprintf(out, len, "%lldd", s / 86400);
}

int
ctl_write(struct ctl *c, const char *what, const char *method,
    const char *path, const char *body)
{
	struct ctl_resp r;
	char err[512];

	if (ctl_http(c, method, path, body, body != NULL ? strlen(body) : 0, &r,
	    err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", c->prog, err);
		return 1;
	}
	if (r.status != 200) {
		ctl_print_error(c, what, &r);
		ctl_resp_fini(&r);
		return 1;
	}
	ctl_resp_fini(&r);
	printf("%s: done (replicated to every node)\n", what);
	return 0;
}
