/* tls — OpenSSL on non-blocking sockets driven by libev, and the node's
 * development certificate authority.
 *
 * struct tls_io carries one connection's fd and, when TLS is on, its SSL.
 * tls_io_read/tls_io_write behave like read/write on a non-blocking socket
 * (-EAGAIN when they would block) and remember what OpenSSL waits for, so
 * tls_io_events() tells which libev events the connection needs: a read can
 * need the socket writable (renegotiation, handshake), a write readable.
 *
 * Batched writes (tls_io_batch, for the tunnel link): SSL_write hands each
 * 16 KiB record to the socket on its own, one write(2) and one wakeup of the
 * peer per record. In batch mode the records are staged in one buffer and
 * leave with one write(2) per tls_io_write call (up to TLS_IO_BATCH bytes);
 * what the socket did not take stays staged, tls_io_events() asks for
 * EV_WRITE until it is gone, and the owner calls tls_io_flush() when it has
 * nothing more to write. Reads take up to TLS_IO_BATCH bytes of records
 * per read(2) and decrypt as many as fit the caller's buffer, so the
 * plaintext moves on in one piece. */
#ifndef WARREN_TLS_H
#define WARREN_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

/* Batch mode: ciphertext staged for one write(2) (a little more: the
 * record that crosses it), and read with one read(2). */
#define TLS_IO_BATCH    (256u * 1024)

struct tls_io {
	int fd;
	SSL *ssl;               /* NULL: plain TCP */
	bool read_wants_write, write_wants_read;
	bool shut;              /* close_notify sent or received */
	int rerr;               /* EOF or -errno that came after bytes: next read */
	bool batch;             /* records staged in out, written together */
	bool in_eof;            /* batch mode: read(2) saw the peer's FIN */
	bool in_full;           /* batch mode: the last read(2) filled in */
	struct buf in;          /* batch mode: ciphertext read, not yet decrypted */
	struct buf out;         /* batch mode: ciphertext not yet written */
};

/* Server context from a PEM chain and key; ALPN offers alpn (NULL: none),
 * e.g. "\x08http/1.1". Returns NULL after writing a sentence into err. */
SSL_CTX *tls_server_ctx(const char *cert, const char *key,
    const unsigned char *alpn, size_t alpn_len, char *err, size_t errlen);
/* For a context of few, busy connections (the tunnel link): OpenSSL keeps
 * its record buffers between reads and reads ahead in larger blocks; a
 * server sends no TLS 1.3 session tickets (the link never resumes); kernel
 * TLS is asked for where the kernel offers it (see tls_io_batch). */
void tls_ctx_link(SSL_CTX *ctx);
/* Client context verifying the server against ca_file (NULL: the system's
 * CAs); insecure skips verification. Returns NULL with a sentence in err. */
SSL_CTX *tls_client_ctx(const char *ca_file, bool insecure, char *err,
    size_t errlen);

/* Wraps fd: server side (accept) or client side (connect, verifying name,
 * which may be an IP address). Returns 0 or -ENOMEM. */
int tls_io_server(struct tls_io *io, int fd, SSL_CTX *ctx);
int tls_io_client(struct tls_io *io, int fd, SSL_CTX *ctx, const char *name,
    bool verify);
void tls_io_plain(struct tls_io *io, int fd);
/* Batch mode for a connection just wrapped by tls_io_server/client (see
 * above; io must not move afterwards, OpenSSL keeps its address); a no-op on plain TCP and where kernel TLS was asked for (the
 * kernel then frames the records). Returns 0 or -ENOMEM. */
int tls_io_batch(struct tls_io *io);

/* Runs the TLS handshake on its own (when the owner needs it done before
 * the first byte, e.g. to read the exporter). Returns 0 once it is done,
 * -EAGAIN (tls_io_events() says what to wait for), or -EPROTO/-errno;
 * 0 at once on plain TCP. */
int tls_io_handshake(struct tls_io *io);

/* Return bytes moved (> 0), 0 on EOF (read), -EAGAIN, or -EPROTO/-errno on
 * a broken connection (tls_io_error() says why). A TLS read fills buf with
 * as many records as it can: fewer bytes than asked mean the socket had no
 * more, unless tls_io_pending() says otherwise. */
ssize_t tls_io_read(struct tls_io *io, void *buf, size_t len);
ssize_t tls_io_write(struct tls_io *io, const void *buf, size_t len);
/* Batch mode: writes what is staged. Returns 0 when nothing is left,
 * -EAGAIN when some is, or -errno. Always 0 outside batch mode. */
int tls_io_flush(struct tls_io *io);
/* Staged ciphertext bytes (0 outside batch mode). */
size_t tls_io_staged(const struct tls_io *io);
/* Gives back the batch buffers, and OpenSSL's, if they hold nothing: for a
 * periodic timer, so a link that went quiet costs little again. */
void tls_io_trim(struct tls_io *io);
/* Non-zero while OpenSSL holds bytes (decrypted, or records read ahead)
 * that libev will not signal: read again without waiting for the socket. */
size_t tls_io_pending(const struct tls_io *io);
/* EV_READ/EV_WRITE the connection needs, given what the owner wants. */
int tls_io_events(const struct tls_io *io, bool want_read, bool want_write);
/* Sends close_notify (best effort), frees the SSL and anything staged;
 * does not close fd. */
void tls_io_fini(struct tls_io *io);
/* Last OpenSSL error of this thread as a sentence (for logs). */
const char *tls_io_error(char *buf, size_t len);
/* Half-close the write side: close_notify on TLS, shutdown(SHUT_WR) on TCP. */
void tls_io_shutdown_write(struct tls_io *io);

/* Creates, if missing, a development CA and a certificate for this node
 * under dir (ca.pem, ca.key, node.pem, node.key), valid for localhost,
 * 127.0.0.1, ::1, domain and *.domain. Returns 0 or -1 with err set. */
int tls_dev_ca(const char *dir, const char *domain, char *err, size_t errlen);
/* Issues a certificate for exactly one DNS name (letters, digits, '-' and
 * '.'), signed by the development CA under dir, for the key dir/node.key,
 * and writes it to dir/issued/NAME.pem (once: an existing file is kept).
 * So a name under a one-label domain ("demo.localhost") gets a certificate
 * that clients accept, which a wildcard over one label is not. Returns 0
 * with the file's path in path[len], or -1 with err set. */
int tls_dev_issue(const char *dir, const char *name, char *path, size_t len,
    char *err, size_t errlen);

#endif
