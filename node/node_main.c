/* warren-node — the one command an operator runs: binds the public and
 * tunnel listeners, starts warren-gossip, warren-router and warren-acceptor
 * with the same options, restarts any that dies, and drains on SIGTERM.
 *
 * The supervisor owns the listening sockets and hands them to each acceptor
 * it starts, so a restarted acceptor keeps the same ports (even ones the
 * kernel picked) and connections queue in the backlog meanwhile. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "nodeconf.h"
#include "lblisten.h"
#include "sock.h"
#include "tls.h"

enum child_role { CHILD_GOSSIP, CHILD_ROUTER, CHILD_ACCEPTOR, CHILD_N };

static const char *const child_names[CHILD_N] = { "gossip", "router", "acceptor" };

struct child {
	struct node *n;
	enum child_role role;
	pid_t pid;
	ev_child watcher;
	ev_timer restart;
	ev_tstamp started;
	double backoff;
};

struct node {
	struct ev_loop *loop;
	struct node_conf conf;
	char **argv;
	char bindir[PATH_MAX];
	int http_fd, tunnel_fd, https_fd, mesh_fd;
	int lb_fd[LBLISTEN_MAX];         /* --lb-listen, in the order given */
	size_t nlb;
	int lbtls_fd[LBLISTEN_MAX];      /* --lb-tls-listen, in the order given */
	size_t nlbtls;
	struct child kids[CHILD_N];
	ev_signal sigterm, sigint;
	ev_timer stop_timer;
	int stopping;           /* 0, 1 = acceptor draining, 2 = stopping the rest */
};

static void child_start(struct child *c);

static void
child_on_restart(struct ev_loop *loop, ev_timer *w, int revents)
{
	child_start(w->data);
}

static void
node_stop_rest(struct node *n)
{
	int i;

	n->stopping = 2;
	for (i = 0; i < CHILD_N; i++)
		if (n->kids[i].pid > 0)
			kill(n->kids[i].pid, SIGTERM);
}

static bool
node_all_exited(struct node *n)
{
	int i;

	for (i = 0; i < CHILD_N; i++)
		if (n->kids[i].pid > 0)
			return false;
	return true;
}

static void
child_on_exit(struct ev_loop *loop, ev_child *w, int revents)
{
	struct child *c = w->data;
	struct node *n = c->n;
	int st = w->rstatus;
	double ran = ev_now(loop) - c->started;

	ev_child_stop(loop, w);
	c->pid = 0;
	if (WIFSIGNALED(st))
		log_warn("child.exit", "child=%s signal=%d", child_names[c->role],
		    WTERMSIG(st));
	else
		log_info("child.exit", "child=%s status=%d", child_names[c->role],
		    WEXITSTATUS(st));
	if (n->stopping) {
		if (c->role == CHILD_ACCEPTOR && n->stopping == 1)
			node_stop_rest(n);
		if (node_all_exited(n))
			ev_break(loop, EVBREAK_ALL);
		return;
	}
	/* crashed: restart, backing off if it keeps dying young */
	c->backoff = ran > 10.0 ? 0.1 : (c->backoff < 0.1 ? 0.1 : c->backoff * 2);
	if (c->backoff > 5.0)
		c->backoff = 5.0;
	ev_timer_set(&c->restart, c->backoff, 0.);
	ev_timer_start(loop, &c->restart);
}

/* In the acceptor's child: the --lb-listen (--lb-tls-listen) sockets
 * survive exec, their numbers in WARREN_FD_LB (WARREN_FD_LBTLS) as
 * "fd,fd,...", in the order of the list. */
static void
node_lb_env(const char *var, const int *fds, size_t nfd)
{
	char buf[LBLISTEN_MAX * 12] = "";
	size_t i, len = 0;

	for (i = 0; i < nfd; i++) {
		fcntl(fds[i], F_SETFD, 0);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%d",
		    i ? "," : "", fds[i]);
	}
	setenv(var, buf, 1);
}

static void
child_start(struct child *c)
{
	struct node *n = c->n;
	char path[PATH_MAX + 32], fdbuf[16];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/warren-%s", n->bindir, child_names[c->role]);
	pid = fork();
	if (pid == -1) {
		log_error("child.fork", "child=%s error=\"%s\"", child_names[c->role],
		    strerror(errno));
		ev_timer_set(&c->restart, 1.0, 0.);
		ev_timer_start(n->loop, &c->restart);
		return;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (c->role == CHILD_ACCEPTOR) {
			/* the listeners survive exec in the acceptor only */
			fcntl(n->http_fd, F_SETFD, 0);
			fcntl(n->tunnel_fd, F_SETFD, 0);
			fcntl(n->https_fd, F_SETFD, 0);
			snprintf(fdbuf, sizeof(fdbuf), "%d", n->https_fd);
			setenv("WARREN_FD_HTTPS", fdbuf, 1);
			snprintf(fdbuf, sizeof(fdbuf), "%d", n->http_fd);
			setenv("WARREN_FD_HTTP", fdbuf, 1);
			snprintf(fdbuf, sizeof(fdbuf), "%d", n->tunnel_fd);
			setenv("WARREN_FD_TUNNEL", fdbuf, 1);
			fcntl(n->mesh_fd, F_SETFD, 0);
			snprintf(fdbuf, sizeof(fdbuf), "%d", n->mesh_fd);
			setenv("WARREN_FD_MESH", fdbuf, 1);
			node_lb_env("WARREN_FD_LB", n->lb_fd, n->nlb);
			node_lb_env("WARREN_FD_LBTLS", n->lbtls_fd, n->nlbtls);
		}
		n->argv[0] = path;
		execv(path, n->argv);
		fprintf(stderr, "warren-node: cannot run %s: %s\n", path,
		    strerror(errno));
		_exit(127);
	}
	c->pid = pid;
	c->started = ev_now(n->loop);
	ev_child_set(&c->watcher, pid, 0);
	ev_child_start(n->loop, &c->watcher);
	log_info("child.start", "child=%s pid=%d", child_names[c->role], (int)pid);
}

static void
node_on_stop_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct node *n = w->data;
	int i;

	if (n->stopping == 1) {
		/* the acceptor overran its drain: move on */
		if (n->kids[CHILD_ACCEPTOR].pid > 0)
			kill(n->kids[CHILD_ACCEPTOR].pid, SIGKILL);
		node_stop_rest(n);
		ev_timer_set(w, 5.0, 0.);
		ev_timer_start(loop, w);
		return;
	}
	for (i = 0; i < CHILD_N; i++)
		if (n->kids[i].pid > 0)
			kill(n->kids[i].pid, SIGKILL);
	ev_break(loop, EVBREAK_ALL);
}

static void
node_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct node *n = w->data;
	int i;

	if (n->stopping) {
		/* second signal: stop now */
		for (i = 0; i < CHILD_N; i++)
			if (n->kids[i].pid > 0)
				kill(n->kids[i].pid, SIGKILL);
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	log_info("node.stop", "signal=%d drain_timeout_ms=%lld", w->signum,
	    n->conf.drain_timeout);
	n->stopping = 1;
	for (i = 0; i < CHILD_N; i++)
		ev_timer_stop(loop, &n->kids[i].restart);
	close(n->http_fd);
	close(n->tunnel_fd);
	close(n->https_fd);
	close(n->mesh_fd);
	for (i = 0; i < (int)n->nlb; i++)
		close(n->lb_fd[i]);
	for (i = 0; i < (int)n->nlbtls; i++)
		close(n->lbtls_fd[i]);
	if (n->kids[CHILD_ACCEPTOR].pid > 0)
		kill(n->kids[CHILD_ACCEPTOR].pid, SIGTERM);
	else
		node_stop_rest(n);
	ev_timer_init(&n->stop_timer, node_on_stop_timer,
	    (double)n->conf.drain_timeout / 1000.0 + 2.0, 0.);
	n->stop_timer.data = n;
	ev_timer_start(loop, &n->stop_timer);
	if (node_all_exited(n))
		ev_break(loop, EVBREAK_ALL);
}

static int
node_listen(const char *what, const char *text, char *shown, size_t len)
{
	struct sock_addr addr;
	int fd;

	if (sock_addr_parse(&addr, text, NULL) != 0) {
		fprintf(stderr, "warren-node: --%s-listen '%s' is not HOST:PORT\n",
		    what, text);
		return -1;
	}
	if ((fd = sock_listen(&addr, 1024)) < 0) {
		fprintf(stderr, "warren-node: cannot listen on %s for %s: %s\n",
		    text, what, strerror(-fd));
		return -1;
	}
	sock_addr_format(&addr, shown, len);
	log_info("listen", "what=%s addr=%s", what, shown);
	return fd;
}

/* The --lb-listen (what "lb") or --lb-tls-listen ("lb-tls") listeners:
 * each ADDR[=APP] of the list into fds. Returns 0 or -1 after saying which
 * is wrong. */
static int
node_listen_lb(const char *what, const char *text, int *fds, size_t *nfd)
{
	char *list, *item, *save = NULL, *eq, shown[80];
	int fd;

	if ((list = strdup(text)) == NULL)
		return -1;
	for (item = strtok_r(list, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		if (*nfd == LBLISTEN_MAX) {
			fprintf(stderr, "warren-node: at most %d --%s-listen\n",
			    LBLISTEN_MAX, what);
			free(list);
			return -1;
		}
		if ((eq = strchr(item, '=')) != NULL)
			*eq = '\0';
		if ((fd = node_listen(what, item, shown, sizeof(shown))) < 0) {
			free(list);
			return -1;
		}
		fds[(*nfd)++] = fd;
	}
	free(list);
	return 0;
}

/* The mesh listener: --mesh-listen, or by default the gossip host's port
 * 7001, or any port there when 7001 is taken (several nodes on one host):
 * gossip advertises the port bound. */
static int
node_listen_mesh(struct node *n, char *shown, size_t len)
{
	struct sock_addr addr;
	int fd;

	if (sock_addr_parse(&addr, n->conf.mesh_listen, NULL) != 0) {
		fprintf(stderr, "warren-node: --mesh-listen '%s' is not HOST:PORT\n",
		    n->conf.mesh_listen);
		return -1;
	}
	fd = sock_listen(&addr, 1024);
	if (fd == -EADDRINUSE && n->conf.mesh_default) {
		sock_addr_set_port(&addr, 0);
		fd = sock_listen(&addr, 1024);
	}
	if (fd < 0) {
		fprintf(stderr, "warren-node: cannot listen on %s for mesh: %s\n",
		    n->conf.mesh_listen, strerror(-fd));
		return -1;
	}
	sock_addr_format(&addr, shown, len);
	log_info("listen", "what=mesh addr=%s", shown);
	return fd;
}

int
main(int argc, char **argv)
{
	struct node n;
	char exe[PATH_MAX], http[80], tunnel[80], https[80], mesh[80], pidbuf[24];
	ssize_t len;
	int i;

	memset(&n, 0, sizeof(n));
	if (nodeconf_load(&n.conf, argc, argv, "node") != 0)
		return 1;
	if ((len = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) == -1) {
		fprintf(stderr, "warren-node: cannot find its own binary: %s\n",
		    strerror(errno));
		return 1;
	}
	exe[len] = '\0';
	snprintf(n.bindir, sizeof(n.bindir), "%s", dirname(exe));
	n.argv = argv;
	n.loop = EV_DEFAULT;
	if ((n.http_fd = node_listen("http", n.conf.http_listen, http, sizeof(http))) < 0 ||
	    (n.tunnel_fd = node_listen("tunnel", n.conf.tunnel_listen, tunnel,
	    sizeof(tunnel))) < 0 ||
	    (n.https_fd = node_listen("https", n.conf.https_listen, https,
	    sizeof(https))) < 0 ||
	    (n.mesh_fd = node_listen_mesh(&n, mesh, sizeof(mesh))) < 0 ||
	    node_listen_lb("lb", n.conf.lb_listen, n.lb_fd, &n.nlb) != 0 ||
	    node_listen_lb("lb-tls", n.conf.lb_tls_listen, n.lbtls_fd,
	    &n.nlbtls) != 0)
		return 1;
	/* gossip tells the cluster where this node's listeners are */
	setenv("WARREN_BOUND_HTTP", http, 1);
	setenv("WARREN_BOUND_TUNNEL", tunnel, 1);
	setenv("WARREN_BOUND_MESH", mesh, 1);
	/* the router stops the node this way on `clusterctl drain` */
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
	setenv("WARREN_SUPERVISOR_PID", pidbuf, 1);
	if (n.conf.tls_cert[0] == '\0') {
		char dir[4200], err[600];

		snprintf(dir, sizeof(dir), "%s/tls", n.conf.data_dir);
		if (tls_dev_ca(dir, n.conf.domain, err, sizeof(err)) != 0) {
			fprintf(stderr, "warren-node: %s\n", err);
			return 1;
		}
		log_info("tls.devca", "ca=%s/ca.pem", dir);
		printf("warren-node: no --tls-cert given: using a development CA; "
		    "clients need --ca %s/ca.pem\n", dir);
	}
	printf("warren-node %s (region %s): public HTTP on %s, HTTPS on %s, tunnel "
	    "clients on %s%s, data in %s\n", n.conf.name, n.conf.region, http, https,
	    tunnel,
	    n.conf.tunnel_tls ? " (TLS)" : " (plain TCP: development only)",
	    n.conf.data_dir);
	fflush(stdout);
	for (i = 0; i < CHILD_N; i++) {
		struct child *c = &n.kids[i];

		c->n = &n;
		c->role = (enum child_role)i;
		ev_child_init(&c->watcher, child_on_exit, 0, 0);
		c->watcher.data = c;
		ev_timer_init(&c->restart, child_on_restart, 0., 0.);
		c->restart.data = c;
	}
	ev_signal_init(&n.sigterm, node_on_signal, SIGTERM);
	n.sigterm.data = &n;
	ev_signal_start(n.loop, &n.sigterm);
	ev_signal_init(&n.sigint, node_on_signal, SIGINT);
	n.sigint.data = &n;
	ev_signal_start(n.loop, &n.sigint);
	for (i = 0; i < CHILD_N; i++)
		child_start(&n.kids[i]);
	ev_run(n.loop, 0);
	log_info("node.exit", "name=%s", n.conf.name);
	nodeconf_fini(&n.conf);
	return 0;
}
