/* meshtls — TLS for mesh links, on networks without WireGuard (--mesh-tls).
 *
 * The certificates prove nothing here: each process makes a throwaway
 * self-signed one at start and the dialer does not verify it. What binds
 * a link to the cluster is the keyring: both PROOFs of the mesh handshake
 * (node/mesh.h) cover meshtls_binding(), a value exported from this TLS
 * session's keys (RFC 8446 §7.5). A man in the middle holds two TLS
 * sessions with two different exports, so a PROOF it relays from one side
 * never verifies on the other, and without a cluster key it cannot make
 * its own. TLS 1.3 only. */
#ifndef WARREN_MESHTLS_H
#define WARREN_MESHTLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MESHTLS_BINDING_LEN     32

/* A context for accepting (server) or dialling mesh links: TLS 1.3,
 * AES-128-GCM first, buffers kept between records, no tickets; a server's
 * carries a fresh P-256 key and self-signed certificate. Returns NULL after
 * writing a sentence into err. */
SSL_CTX *meshtls_ctx(bool server, char *err, size_t errlen);

/* The session's channel binding, once its handshake is done. Returns 0, or
 * -EPROTO (no TLS 1.3 session). */
int meshtls_binding(SSL *ssl, uint8_t out[MESHTLS_BINDING_LEN]);

#endif
