#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <ev.h>

/* True if name is a numeric IPv4 or IPv6 address. */
static bool
inet_pton_any(const char *name, unsigned char *buf)
{
	return inet_pton(AF_INET, name, buf) == 1 ||
	    inet_pton(AF_INET6, name, buf) == 1;
}

const char *
tls_io_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "connection closed during TLS");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const unsigned char *ours = arg;        /* wire format, one protocol */

	if (SSL_select_next_proto((unsigned char **)out, outlen, ours,
	    (unsigned int)ours[0] + 1, in, inlen) == OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_NOACK;
}

/* Throughput: OpenSSL reads ahead (several records per read(2) instead of
 * two reads a record), and AES-128-GCM comes first (as strong as needed,
 * a third cheaper than AES-256 per byte). A server follows its own order,
 * except that a client which puts ChaCha20 first (no AES instructions)
 * gets ChaCha20. */
static void
tls_ctx_tune(SSL_CTX *ctx)
{
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, 64u * 1024);
	SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:"
	    "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384");
	SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL");
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_PRIORITIZE_CHACHA);
}

/* True if this kernel offers TLS offload ("tls" among the TCP ULPs). */
static bool
tls_kernel_offers_ktls(void)
{
	char line[256];
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "re");
	bool yes = false;

	if (f == NULL)
		return false;
	if (fgets(line, sizeof(line), f) != NULL)
		for (char *sp, *t = strtok_r(line, " \n", &sp); t;
		    t = strtok_r(NULL, " \n", &sp))
			yes = yes || strcmp(t, "tls") == 0;
	fclose(f);
	return yes;
}

/* The tunnel link is one busy connection: keep OpenSSL's buffers instead
 * of freeing them after every record (public connections, many and mostly
 * idle, keep releasing theirs; a quiet link gives them back through
 * tls_io_trim). The link never resumes a session: no tickets. */
void
tls_ctx_link(SSL_CTX *ctx)
{
	SSL_CTX_clear_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
#ifdef SSL_OP_ENABLE_KTLS
	if (tls_kernel_offers_ktls())
		SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
#endif
}

SSL_CTX *
tls_server_ctx(const char *cert, const char *key, const unsigned char *alpn,
    size_t alpn_len, char *err, size_t errlen)
{
	char why[256];
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "cannot create a TLS context: %s",
		    tls_io_error(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	tls_ctx_tune(ctx);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "cannot load the certificate %s: %s", cert,
		    tls_io_error(why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "cannot load the key %s (or it does not match %s): %s",
		    key, cert, tls_io_error(why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (alpn != NULL && alpn_len > 0)
		SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, (void *)alpn);
	return ctx;
}

SSL_CTX *
tls_client_ctx(const char *ca_file, bool insecure, char *err, size_t errlen)
{
	char why[256];
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "cannot create a TLS context: %s",
		    tls_io_error(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	tls_ctx_tune(ctx);
	if (insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file != NULL && ca_file[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			snprintf(err, errlen, "cannot load the CA file %s: %s",
			    ca_file, tls_io_error(why, sizeof(why)));
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "cannot load the system CA certificates: %s",
		    tls_io_error(why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* --- batched reads and writes ---------------------------------------------- */

/* Writes staged ciphertext with one write(2). Returns 0 when all left,
 * -EAGAIN when some is still staged, or -errno. */
static int
tls_io_out(struct tls_io *io)
{
	ssize_t n;

	while (buf_len(&io->out) > 0) {
		n = write(io->fd, buf_data(&io->out), buf_len(&io->out));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -EAGAIN : -errno;
		}
		buf_consume(&io->out, (size_t)n);
		if (buf_len(&io->out) > 0)
			return -EAGAIN;
	}
	/* the storage stays: a busy link would give it back and take it again
	 * at every flush; tls_io_fini frees it */
	return 0;
}

/* The BIO OpenSSL writes records into: it stages them in io->out. The cap
 * bounds the buffer (tls_io_write stops encrypting well before it); past
 * it OpenSSL is told to retry, as a full socket would tell it. */
static int
tls_bio_write(BIO *b, const char *p, int len)
{
	struct tls_io *io = BIO_get_data(b);
	const size_t cap = 2 * TLS_IO_BATCH;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (buf_len(&io->out) + (size_t)len > cap &&
	    (tls_io_out(io) == -EAGAIN || buf_len(&io->out) + (size_t)len > cap)) {
		BIO_set_retry_write(b);
		return -1;
	}
	if (buf_append(&io->out, p, (size_t)len, cap) != 0) {
		errno = ENOMEM;
		return -1;
	}
	return len;
}

/* A full record with its header and tag */
#define TLS_IO_READ_MIN (16u * 1024 + 256 + 5)

/* The BIO OpenSSL reads records from: one read(2) of up to TLS_IO_BATCH
 * into io->in, then the bytes OpenSSL asks for (with read-ahead off: a
 * header, then the rest of the record). OpenSSL's own read-ahead would
 * read into its buffer directly, but moves what is left in it to the front
 * before every record, and reads at most that buffer. */
static int
tls_bio_read(BIO *b, char *p, int len)
{
	struct tls_io *io = BIO_get_data(b);
	struct iovec room;
	size_t k;
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (buf_len(&io->in) == 0) {
		/* one record's room to begin with (handshakes, pings: many
		 * links are quiet), doubled after each read that filled it */
		size_t want = io->in.cap ? io->in.cap : TLS_IO_READ_MIN;

		if (io->in_full && want < TLS_IO_BATCH)
			want *= 2;
		room = buf_reserve(&io->in, want, TLS_IO_BATCH);
		if (room.iov_base == NULL) {
			errno = ENOMEM;
			return -1;
		}
		do
			n = read(io->fd, room.iov_base, room.iov_len);
		while (n == -1 && errno == EINTR);
		if (n == -1) {
			if (errno == EAGAIN)
				BIO_set_retry_read(b);
			return -1;
		}
		if (n == 0) {
			io->in_eof = true;      /* BIO_eof(): OpenSSL tells a
						 * truncation from close_notify */
			return 0;
		}
		io->in_full = (size_t)n == room.iov_len;
		buf_commit(&io->in, (size_t)n);
	}
	k = buf_len(&io->in) < (size_t)len ? buf_len(&io->in) : (size_t)len;
	memcpy(p, buf_data(&io->in), k);
	buf_consume(&io->in, k);
	return (int)k;
}

static long
tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_io *io = BIO_get_data(b);

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		/* OpenSSL flushes after handshake messages: they go at once,
		 * and what the socket does not take goes with the next flush */
		(void)tls_io_out(io);
		return 1;
	case BIO_CTRL_WPENDING:
		return (long)buf_len(&io->out);
	case BIO_CTRL_PENDING:
		return (long)buf_len(&io->in);
	case BIO_CTRL_EOF:
		return io->in_eof && buf_len(&io->in) == 0;
	case BIO_C_GET_FD:
		if (ptr != NULL)
			*(int *)ptr = io->fd;
		return io->fd;
	default:
		return 0;
	}
}

static int
tls_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

struct tls_bio_once {
	pthread_once_t once;
	BIO_METHOD *meth;
};

/* The method table is made once per process: OpenSSL wants a pointer that
 * outlives every BIO made from it (the one process-wide object here). */
static struct tls_bio_once tls_bio = { PTHREAD_ONCE_INIT, NULL };

static void
tls_bio_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "warren batched records");

	if (m == NULL)
		return;
	if (!BIO_meth_set_write(m, tls_bio_write) ||
	    !BIO_meth_set_read(m, tls_bio_read) ||
	    !BIO_meth_set_ctrl(m, tls_bio_ctrl) ||
	    !BIO_meth_set_create(m, tls_bio_create)) {
		BIO_meth_free(m);
		return;
	}
	tls_bio.meth = m;
}

int
tls_io_batch(struct tls_io *io)
{
	BIO *b;

	if (io->ssl == NULL || io->batch)
		return 0;
#ifdef SSL_OP_ENABLE_KTLS
	if (SSL_get_options(io->ssl) & SSL_OP_ENABLE_KTLS)
		return 0;       /* OpenSSL needs the socket BIO to hand keys over */
#endif
	pthread_once(&tls_bio.once, tls_bio_init);
	if (tls_bio.meth == NULL || (b = BIO_new(tls_bio.meth)) == NULL)
		return -ENOMEM;
	BIO_set_data(b, io);
	SSL_set_bio(io->ssl, b, b);     /* one reference for both */
	/* records come whole from io->in: OpenSSL needs room for one */
	SSL_set_read_ahead(io->ssl, 0);
	SSL_set_default_read_buffer_len(io->ssl, 0);
	io->batch = true;
	return 0;
}

int
tls_io_flush(struct tls_io *io)
{
	return io->batch ? tls_io_out(io) : 0;
}

size_t
tls_io_staged(const struct tls_io *io)
{
	return buf_len(&io->out);
}

void
tls_io_trim(struct tls_io *io)
{
	if (buf_len(&io->in) == 0)
		io->in_full = false;
	buf_release(&io->in);
	buf_release(&io->out);
	if (io->batch && SSL_is_init_finished(io->ssl))
		SSL_free_buffers(io->ssl);      /* refuses while it holds bytes */
}

void
tls_io_plain(struct tls_io *io, int fd)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
}

int
tls_io_server(struct tls_io *io, int fd, SSL_CTX *ctx)
{
	tls_io_plain(io, fd);
	if ((io->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(io->ssl, fd) != 1) {
		SSL_free(io->ssl);
		io->ssl = NULL;
		return -ENOMEM;
	}
	SSL_set_accept_state(io->ssl);
	return 0;
}

int
tls_io_client(struct tls_io *io, int fd, SSL_CTX *ctx, const char *name,
    bool verify)
{
	unsigned char ip[16];
	bool is_ip = inet_pton_any(name, ip);

	tls_io_plain(io, fd);
	if ((io->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(io->ssl, fd) != 1)
		goto fail;
	if (!is_ip && SSL_set_tlsext_host_name(io->ssl, name) != 1)
		goto fail;
	if (verify) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(io->ssl);

		if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1 :
		    X509_VERIFY_PARAM_set1_host(vp, name, 0) != 1)
			goto fail;
	}
	SSL_set_connect_state(io->ssl);
	return 0;
fail:
	SSL_free(io->ssl);
	io->ssl = NULL;
	return -ENOMEM;
}

/* Maps an SSL_* result; returns the value tls_io_read/write return. */
static ssize_t
tls_io_result(struct tls_io *io, int rc, bool reading)
{
	int e = SSL_get_error(io->ssl, rc);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (!reading)
			io->write_wants_read = true;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		if (reading)
			io->read_wants_write = true;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		io->shut = true;
		return reading ? 0 : -EPIPE;
	case SSL_ERROR_SYSCALL:
		if (errno == EAGAIN || errno == EINTR)
			return -EAGAIN;
		return errno ? -errno : (reading ? 0 : -EPIPE);
	default:
		return -EPROTO;
	}
}

int
tls_io_handshake(struct tls_io *io)
{
	ssize_t rc = 0;
	int r, out;

	if (io->ssl == NULL || SSL_is_init_finished(io->ssl))
		return 0;
	io->read_wants_write = io->write_wants_read = false;
	ERR_clear_error();
	errno = 0;
	if ((r = SSL_do_handshake(io->ssl)) != 1) {
		rc = tls_io_result(io, r, true);
		if (rc == 0)
			rc = -EPIPE;    /* closed during the handshake */
	}
	/* what the handshake staged (batch mode) goes now */
	if (io->batch && buf_len(&io->out) > 0) {
		out = tls_io_out(io);
		if (out != 0 && out != -EAGAIN && (rc == 0 || rc == -EAGAIN))
			rc = out;
	}
	if (rc == 0 && !SSL_is_init_finished(io->ssl))
		rc = -EAGAIN;
	return (int)rc;
}

/* io->rerr for an EOF that came after some bytes */
#define TLS_IO_EOF      1

/* Plain TCP: one read(2) or write(2). */
static ssize_t
tls_io_raw(struct tls_io *io, void *buf, size_t len, bool reading)
{
	ssize_t n = reading ? read(io->fd, buf, len) : write(io->fd, buf, len);

	if (n == -1)
		return errno == EINTR ? -EAGAIN : -errno;
	return n;
}

/* SSL_read or SSL_write once, with what OpenSSL waits for remembered for
 * tls_io_events(). Returns bytes (> 0) or what tls_io_result() says. The
 * caller clears the error queue once before a run of calls: a call that
 * succeeds leaves nothing in it, and the first that fails ends the run. */
static ssize_t
tls_io_ssl(struct tls_io *io, void *buf, size_t len, bool reading)
{
	int rc;

	if (len > INT32_MAX)
		len = INT32_MAX;
	if (reading)
		io->read_wants_write = false;
	else
		io->write_wants_read = false;
	errno = 0;
	rc = reading ? SSL_read(io->ssl, buf, (int)len) :
	    SSL_write(io->ssl, buf, (int)len);
	if (rc > 0)
		return rc;
	return tls_io_result(io, rc, reading);
}

/* Decrypts records into buf until it is full or the socket has no more:
 * one record per call would hand the plaintext on 16 KiB at a time. So a
 * short count means the socket is drained (or an error or EOF came after
 * some bytes: kept for the next call, and tls_io_pending says so). */
ssize_t
tls_io_read(struct tls_io *io, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	if (io->ssl == NULL)
		return tls_io_raw(io, buf, len, true);
	if (io->rerr != 0) {
		n = io->rerr == TLS_IO_EOF ? 0 : io->rerr;
		io->rerr = 0;
		return n;
	}
	ERR_clear_error();
	do {
		n = tls_io_ssl(io, (char *)buf + got, len - got, true);
		if (n <= 0)
			break;
		got += (size_t)n;
	} while (got < len);
	/* handshake messages, key updates or alerts written while reading */
	if (io->batch && buf_len(&io->out) > 0) {
		int rc = tls_io_out(io);

		if (rc != 0 && rc != -EAGAIN)
			n = rc;
	}
	if (got == 0)
		return n;
	if (n <= 0 && n != -EAGAIN)
		io->rerr = n == 0 ? TLS_IO_EOF : (int)n;
	return (ssize_t)got;
}

/* Batch mode: encrypts up to TLS_IO_BATCH bytes of records into io->out,
 * behind what is still staged, and writes them with one write(2). */
static ssize_t
tls_io_write_batch(struct tls_io *io, const char *p, size_t len)
{
	size_t done = 0;
	ssize_t n = -EAGAIN;
	int rc;

	/* what the socket did not take last time goes first */
	if ((rc = tls_io_out(io)) != 0 && rc != -EAGAIN)
		return rc;
	ERR_clear_error();
	while (done < len && buf_len(&io->out) < TLS_IO_BATCH) {
		n = tls_io_ssl(io, (void *)(p + done), len - done, false);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if ((rc = tls_io_out(io)) != 0 && rc != -EAGAIN)
		return rc;
	return done > 0 ? (ssize_t)done : n;
}

ssize_t
tls_io_write(struct tls_io *io, const void *buf, size_t len)
{
	if (io->ssl == NULL)
		return tls_io_raw(io, (void *)buf, len, false);
	if (io->batch)
		return tls_io_write_batch(io, buf, len);
	ERR_clear_error();
	return tls_io_ssl(io, (void *)buf, len, false);
}

size_t
tls_io_pending(const struct tls_io *io)
{
	/* SSL_has_pending: also whole records read ahead but not yet decrypted,
	 * which SSL_pending does not count and libev will not signal */
	if (io->ssl == NULL)
		return 0;
	return io->rerr != 0 || buf_len(&io->in) > 0 ||
	    SSL_pending(io->ssl) > 0 || SSL_has_pending(io->ssl) ? 1 : 0;
}

int
tls_io_events(const struct tls_io *io, bool want_read, bool want_write)
{
	int ev = 0;

	if (want_read || io->write_wants_read)
		ev |= EV_READ;
	/* a write that waits for the peer's bytes (handshake) must not spin on
	 * a writable socket: it is retried when the socket turns readable */
	if ((want_write && !io->write_wants_read) || io->read_wants_write ||
	    buf_len(&io->out) > 0)
		ev |= EV_WRITE;
	/* a TLS handshake in progress moves both ways */
	if (io->ssl != NULL && !SSL_is_init_finished(io->ssl))
		ev |= EV_READ;
	return ev;
}

void
tls_io_shutdown_write(struct tls_io *io)
{
	if (io->ssl != NULL) {
		ERR_clear_error();
		if (!io->shut)
			SSL_shutdown(io->ssl);
		ERR_clear_error();
		(void)tls_io_flush(io);
		return;
	}
	shutdown(io->fd, SHUT_WR);
}

void
tls_io_fini(struct tls_io *io)
{
	if (io->ssl != NULL) {
		ERR_clear_error();
		if (SSL_is_init_finished(io->ssl) && !io->shut)
			SSL_shutdown(io->ssl);
		(void)tls_io_flush(io);         /* best effort, once */
		SSL_free(io->ssl);
		ERR_clear_error();
		io->ssl = NULL;
	}
	buf_fini(&io->in);
	buf_fini(&io->out);
	io->batch = false;
}

/* --- development CA ---------------------------------------------------- */

static EVP_PKEY *
tls_dev_key(void)
{
	return EVP_EC_gen("P-256");
}

static int
tls_dev_ext(X509 *issuer, X509 *cert, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static X509 *
tls_dev_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
    bool ca, const char *san)
{
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	X509 *x;

	if ((x = X509_new()) == NULL)
		return NULL;
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), (long)(ca ? 3650 : 825) * 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC,
	    (const unsigned char *)"warren development", -1, -1, 0);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	if (tls_dev_ext(issuer ? issuer : x, x, NID_basic_constraints,
	    ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE") != 0 ||
	    tls_dev_ext(issuer ? issuer : x, x, NID_key_usage,
	    ca ? "critical,keyCertSign,cRLSign" :
	    "critical,digitalSignature,keyEncipherment") != 0 ||
	    tls_dev_ext(issuer ? issuer : x, x, NID_subject_key_identifier,
	    "hash") != 0)
		goto fail;
	if (!ca && (tls_dev_ext(issuer, x, NID_ext_key_usage, "serverAuth") != 0 ||
	    tls_dev_ext(issuer, x, NID_subject_alt_name, san) != 0))
		goto fail;
	if (X509_sign(x, ikey ? ikey : key, EVP_sha256()) == 0)
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

static int
tls_dev_write(const char *dir, const char *name, X509 *x, EVP_PKEY *k)
{
	char path[4200];
	FILE *f;
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, k ? 0600 : 0644);
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, k, NULL, NULL, 0,
	    NULL, NULL);
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

int
tls_dev_ca(const char *dir, const char *domain, char *err, size_t errlen)
{
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	char path[4200], san[1024];
	int rc = -1;

	snprintf(path, sizeof(path), "%s/node.pem", dir);
	if (access(path, R_OK) == 0)
		return 0;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(san, sizeof(san),
	    "DNS:localhost,DNS:%s,DNS:*.%s,IP:127.0.0.1,IP:::1", domain, domain);
	if ((cakey = tls_dev_key()) == NULL || (key = tls_dev_key()) == NULL ||
	    (ca = tls_dev_cert(cakey, "warren development CA", NULL, NULL, true,
	    NULL)) == NULL ||
	    (cert = tls_dev_cert(key, domain, ca, cakey, false, san)) == NULL) {
		snprintf(err, errlen, "cannot make a development certificate");
		goto out;
	}
	if (tls_dev_write(dir, "ca.pem", ca, NULL) != 0 ||
	    tls_dev_write(dir, "ca.key", NULL, cakey) != 0 ||
	    tls_dev_write(dir, "node.key", NULL, key) != 0 ||
	    tls_dev_write(dir, "node.pem", cert, NULL) != 0) {
		snprintf(err, errlen, "cannot write the development certificate under %s: %s",
		    dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}

static void *
tls_dev_read(const char *dir, const char *name, bool key)
{
	char path[4200];
	void *v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	v = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL) :
	    (void *)PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return v;
}

int
tls_dev_issue(const char *dir, const char *name, char *path, size_t len,
    char *err, size_t errlen)
{
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	char sub[4200], san[300];
	size_t i, n = strlen(name);
	int rc = -1;

	if (n == 0 || n > 253 || name[0] == '.' || name[0] == '-' ||
	    strstr(name, "..") != NULL) {
		snprintf(err, errlen, "not a DNS name");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-' ||
		    name[i] == '.')) {
			snprintf(err, errlen, "not a DNS name");
			return -1;
		}
	snprintf(sub, sizeof(sub), "%s/issued", dir);
	snprintf(path, len, "%s/%s.pem", sub, name);
	if (access(path, R_OK) == 0)
		return 0;
	if (mkdir(sub, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", sub, strerror(errno));
		return -1;
	}
	snprintf(san, sizeof(san), "DNS:%s", name);
	if ((ca = tls_dev_read(dir, "ca.pem", false)) == NULL ||
	    (cakey = tls_dev_read(dir, "ca.key", true)) == NULL ||
	    (key = tls_dev_read(dir, "node.key", true)) == NULL) {
		snprintf(err, errlen, "cannot read the development CA under %s",
		    dir);
		goto out;
	}
	if ((cert = tls_dev_cert(key, name, ca, cakey, false, san)) == NULL) {
		snprintf(err, errlen, "cannot make a certificate for %s", name);
		goto out;
	}
	snprintf(san, sizeof(san), "%s.pem", name);
	if (tls_dev_write(sub, san, cert, NULL) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}
