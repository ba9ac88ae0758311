/* tls: a real handshake between tls_io_server and tls_io_client over a
 * socketpair, with the tunnel link's settings (tls_ctx_link, tls_io_batch).
 * Bulk data arrives intact and in order; records leave in batches (several
 * per write(2), counted by wrapping write) and arrive in batches (several
 * per tls_io_read); a full socket keeps the staged ciphertext bounded, asks
 * for EV_WRITE and lets tls_io_flush finish the job; tls_io_trim gives the
 * buffers of a quiet link back; close_notify is a clean EOF and a bare FIN
 * a truncation error, each after every byte sent before it; a connection
 * without batch mode still writes a record a call. */
#include <errno.h>
#include <ev.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls.h"

#define RECORD          (16u * 1024)

/* write(2) calls and bytes per fd, for the fd under test only: this
 * definition takes the place of libc's for the whole test binary,
 * OpenSSL's socket BIO included. */
static struct {
	int fd;
	size_t calls, bytes;
} wcount = { -1, 0, 0 };

ssize_t write(int fd, const void *p, size_t n);
ssize_t
write(int fd, const void *p, size_t n)
{
	long rc = syscall(SYS_write, fd, p, n);

	if (fd == wcount.fd && rc > 0) {
		wcount.calls++;
		wcount.bytes += (size_t)rc;
	}
	return (ssize_t)rc;
}

struct pair {
	char dir[64];
	SSL_CTX *sctx, *cctx;
	struct tls_io srv, cli;
	int fds[2];
};

static void
pattern(uint8_t *p, size_t len, size_t off)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((off + i) * 131u + ((off + i) >> 12));
}

static void
drive_handshake(struct pair *pp)
{
	uint8_t junk[64];
	int i;

	for (i = 0; i < 200; i++) {
		if (SSL_is_init_finished(pp->srv.ssl) &&
		    SSL_is_init_finished(pp->cli.ssl))
			break;
		assert_int_equal(tls_io_read(&pp->cli, junk, sizeof(junk)), -EAGAIN);
		assert_int_equal(tls_io_read(&pp->srv, junk, sizeof(junk)), -EAGAIN);
	}
	assert_true(SSL_is_init_finished(pp->srv.ssl));
	assert_true(SSL_is_init_finished(pp->cli.ssl));
	assert_string_equal(SSL_get_version(pp->cli.ssl), "TLSv1.3");
	assert_string_equal(SSL_CIPHER_get_name(SSL_get_current_cipher(pp->cli.ssl)),
	    "TLS_AES_128_GCM_SHA256");
}

/* Link settings on both ends; batch mode unless told otherwise; sndbuf > 0
 * shrinks both socket buffers. */
static void
pair_open(struct pair *pp, bool batch, int sndbuf)
{
	char err[512], cert[128], key[128], ca[128];

	memset(pp, 0, sizeof(*pp));
	snprintf(pp->dir, sizeof(pp->dir), "/tmp/warren-test-tls-XXXXXX");
	assert_non_null(mkdtemp(pp->dir));
	assert_int_equal(tls_dev_ca(pp->dir, "example.test", err, sizeof(err)), 0);
	snprintf(cert, sizeof(cert), "%s/node.pem", pp->dir);
	snprintf(key, sizeof(key), "%s/node.key", pp->dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", pp->dir);
	pp->sctx = tls_server_ctx(cert, key, NULL, 0, err, sizeof(err));
	assert_non_null(pp->sctx);
	pp->cctx = tls_client_ctx(ca, false, err, sizeof(err));
	assert_non_null(pp->cctx);
	tls_ctx_link(pp->sctx);
	tls_ctx_link(pp->cctx);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    pp->fds), 0);
	if (sndbuf > 0) {
		for (int i = 0; i < 2; i++) {
			setsockopt(pp->fds[i], SOL_SOCKET, SO_SNDBUF, &sndbuf,
			    sizeof(sndbuf));
			setsockopt(pp->fds[i], SOL_SOCKET, SO_RCVBUF, &sndbuf,
			    sizeof(sndbuf));
		}
	}
	assert_int_equal(tls_io_server(&pp->srv, pp->fds[0], pp->sctx), 0);
	assert_int_equal(tls_io_client(&pp->cli, pp->fds[1], pp->cctx,
	    "localhost", true), 0);
	if (batch) {
		assert_int_equal(tls_io_batch(&pp->srv), 0);
		assert_int_equal(tls_io_batch(&pp->cli), 0);
		assert_true(pp->cli.batch && pp->srv.batch);
	}
	drive_handshake(pp);
}

static void
pair_close(struct pair *pp)
{
	char path[128];

	tls_io_fini(&pp->srv);
	tls_io_fini(&pp->cli);
	close(pp->fds[0]);
	close(pp->fds[1]);
	SSL_CTX_free(pp->sctx);
	SSL_CTX_free(pp->cctx);
	for (const char **f = (const char *[]){ "ca.pem", "ca.key", "node.pem",
	    "node.key", NULL }; *f; f++) {
		snprintf(path, sizeof(path), "%s/%s", pp->dir, *f);
		unlink(path);
	}
	rmdir(pp->dir);
}

/* Sends total bytes client -> server, the server reading whenever the
 * client's socket is full; checks every byte. Returns the largest single
 * tls_io_read result. */
static size_t
transfer(struct pair *pp, size_t total, size_t chunk)
{
	uint8_t *src = malloc(total), *dst = malloc(total);
	size_t sent = 0, got = 0, biggest = 0;
	ssize_t n;
	int spins = 0;

	assert_true(src != NULL && dst != NULL);
	pattern(src, total, 0);
	while (got < total) {
		assert_true(++spins < 100000);
		if (sent < total) {
			size_t len = total - sent < chunk ? total - sent : chunk;

			n = tls_io_write(&pp->cli, src + sent, len);
			assert_true(n > 0 || n == -EAGAIN);
			if (n > 0)
				sent += (size_t)n;
		} else {
			n = tls_io_flush(&pp->cli);
			assert_true(n == 0 || n == -EAGAIN);
		}
		if (tls_io_staged(&pp->cli) > 0)
			assert_true(tls_io_events(&pp->cli, true, false) & EV_WRITE);
		assert_true(tls_io_staged(&pp->cli) <= 2 * TLS_IO_BATCH);
		while ((n = tls_io_read(&pp->srv, dst + got, total - got)) > 0) {
			got += (size_t)n;
			if ((size_t)n > biggest)
				biggest = (size_t)n;
		}
		assert_int_equal(n, -EAGAIN);
	}
	assert_int_equal(sent, total);
	assert_int_equal(tls_io_staged(&pp->cli), 0);
	assert_memory_equal(src, dst, total);
	free(src);
	free(dst);
	return biggest;
}

static void
test_batched_bulk(void **state)
{
	struct pair pp;
	size_t total = 8u << 20, biggest;

	pair_open(&pp, true, 0);
	/* a handshake needs no more than a record's room */
	assert_true(pp.srv.in.cap <= 32u * 1024 && pp.cli.in.cap <= 32u * 1024);
	wcount.fd = pp.fds[1];
	wcount.calls = wcount.bytes = 0;
	biggest = transfer(&pp, total, 512u * 1024);
	/* bulk grew the read buffer to its bound */
	assert_int_equal(pp.srv.in.cap, TLS_IO_BATCH);
	wcount.fd = -1;
	assert_true(wcount.bytes > total);
	/* one record per write(2) would be about 16 KiB a call */
	assert_true(wcount.bytes / wcount.calls >= 4 * RECORD);
	/* several records decrypted per read */
	assert_true(biggest > 2 * RECORD);
	/* a quiet link gives its buffers back, and works on */
	assert_non_null(pp.srv.in.base);
	tls_io_trim(&pp.cli);
	tls_io_trim(&pp.srv);
	assert_null(pp.cli.out.base);
	assert_null(pp.srv.in.base);
	(void)transfer(&pp, 1u << 20, 300000);
	pair_close(&pp);
}

/* Without batch mode (public connections) OpenSSL writes each record on
 * its own: what the batched test would catch if batching broke. */
static void
test_unbatched_writes_per_record(void **state)
{
	struct pair pp;
	size_t total = 2u << 20;

	pair_open(&pp, false, 0);
	wcount.fd = pp.fds[1];
	wcount.calls = wcount.bytes = 0;
	(void)transfer(&pp, total, 512u * 1024);
	wcount.fd = -1;
	assert_true(wcount.bytes / wcount.calls <= RECORD + 64);
	pair_close(&pp);
}

/* A socket that takes little at a time: the staged ciphertext stays
 * bounded, writes report -EAGAIN once it is full, and the data arrives. */
static void
test_full_socket(void **state)
{
	struct pair pp;
	size_t total = 4u << 20, chunk = 1u << 20;
	uint8_t *src = malloc(chunk);
	ssize_t n;
	int i;

	assert_non_null(src);
	pattern(src, chunk, 0);
	pair_open(&pp, true, 4096);
	/* nobody reads: the client stages up to its bound, then waits */
	for (i = 0; i < 64; i++) {
		n = tls_io_write(&pp.cli, src, chunk);
		if (n == -EAGAIN)
			break;
		assert_true(n > 0);
	}
	assert_int_equal(n, -EAGAIN);
	assert_true(tls_io_staged(&pp.cli) >= TLS_IO_BATCH);
	assert_true(tls_io_staged(&pp.cli) <= 2 * TLS_IO_BATCH);
	assert_int_equal(tls_io_flush(&pp.cli), -EAGAIN);
	assert_true(tls_io_events(&pp.cli, false, false) & EV_WRITE);
	pair_close(&pp);
	free(src);

	/* and with a reader, everything arrives through the small buffers */
	pair_open(&pp, true, 4096);
	(void)transfer(&pp, total, chunk);
	assert_false(tls_io_events(&pp.cli, false, false) & EV_WRITE);
	pair_close(&pp);
}

/* close_notify after staged data: the reader gets every byte, then EOF. */
static void
test_shutdown_after_data(void **state)
{
	struct pair pp;
	uint8_t src[100000], dst[sizeof(src) + 1];
	size_t got = 0;
	ssize_t n;
	int i;

	pattern(src, sizeof(src), 7);
	pair_open(&pp, true, 0);
	assert_int_equal(tls_io_write(&pp.cli, src, sizeof(src)), sizeof(src));
	tls_io_shutdown_write(&pp.cli);
	assert_int_equal(tls_io_staged(&pp.cli), 0);
	for (i = 0; i < 100; i++) {
		n = tls_io_read(&pp.srv, dst + got, sizeof(dst) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	assert_int_equal(got, sizeof(src));
	assert_memory_equal(src, dst, sizeof(src));
	assert_int_equal(n, 0);
	assert_true(pp.srv.shut);
	pair_close(&pp);
}

/* The peer's socket closes without close_notify: the bytes before it
 * arrive, then OpenSSL's truncation error, not a clean EOF. */
static void
test_abrupt_close(void **state)
{
	struct pair pp;
	uint8_t src[50000], dst[sizeof(src) + 1];
	char why[256];
	size_t got = 0;
	ssize_t n;
	int i;

	pattern(src, sizeof(src), 3);
	pair_open(&pp, true, 0);
	assert_int_equal(tls_io_write(&pp.cli, src, sizeof(src)), sizeof(src));
	assert_int_equal(tls_io_staged(&pp.cli), 0);
	shutdown(pp.fds[1], SHUT_WR);
	for (i = 0; i < 100; i++) {
		n = tls_io_read(&pp.srv, dst + got, sizeof(dst) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	assert_int_equal(got, sizeof(src));
	assert_memory_equal(src, dst, sizeof(src));
	assert_int_equal(n, -EPROTO);
	assert_non_null(strstr(tls_io_error(why, sizeof(why)), "unexpected eof"));
	assert_false(pp.srv.shut);
	pair_close(&pp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batched_bulk),
		cmocka_unit_test(test_unbatched_writes_per_record),
		cmocka_unit_test(test_full_socket),
		cmocka_unit_test(test_shutdown_after_data),
		cmocka_unit_test(test_abrupt_close),
	};

	signal(SIGPIPE, SIG_IGN);       /* as in the daemons */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
