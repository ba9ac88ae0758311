/* repldb — routing.db as a replicated database: change capture, stamps,
 * last-writer-wins merge and the per-actor change log (Corrosion's model on
 * plain SQLite, with cr-sqlite's per-column clocks).
 *
 * Replicated tables: tokens, reservations, domains, backends, tunnels (their
 * columns are read from the schema, so an edgeProxy backends table is
 * replicated as it is). Every write to them, from gossip or from anything
 * else (the sqlite3 shell), fires a trigger that notes the row's primary key
 * in __warren_pending. repldb_capture() turns those notes into stamped
 * changes: for each column whose value differs from the last stamped one,
 * a (value, HLC, actor, version) in __warren_clock, and the row's liveness
 * as column "" (1 alive, 0 deleted: a tombstone). One capture is one
 * version of this node's actor.
 *
 * A peer's change wins when its (HLC, actor) is larger than the stamp held
 * for that column; the row is then rewritten from its clock (deleted when
 * its liveness is 0). While applying, __warren_ctl.applying is 1 in the
 * open transaction, so the triggers stay silent: nothing applied from a
 * peer is captured again. tokens.revoked only ever goes from 0 to a time:
 * a revoked token stays revoked whatever order changes arrive in.
 *
 * Per actor, `contig` is the version up to which every change has been
 * seen (or superseded); versions seen above it are kept in memory until the
 * gap closes. Sync sends a peer what lies between its contig and ours.
 *
 * Bookkeeping tables (never replicated): __warren_site (our actor id, last
 * version and HLC), __warren_heads (contig per actor), __warren_clock,
 * __warren_pending, __warren_ctl. */
#ifndef WARREN_REPLDB_H
#define WARREN_REPLDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/hlc.h"
#include "gossip/replmsg.h"

#define REPLDB_CAPTURE_ROWS     512     /* pending rows stamped per version */
#define REPLDB_ACTOR_LEN        16      /* hex characters of an actor id */
#define REPLDB_DIGEST_LEN       64      /* hex SHA-256 */

struct sqlite3;
struct repldb;

struct repldb_stats {
	uint64_t captured;              /* column changes stamped here */
	uint64_t versions;              /* local versions made */
	uint64_t received;              /* column changes from peers */
	uint64_t applied;               /* ... that won and were written */
	uint64_t stale;                 /* ... that lost to a newer stamp */
	uint64_t rows_failed;           /* rows a constraint kept out */
	uint64_t unknown_table;         /* changes for a table we lack */
	uint64_t revoke_kept;           /* attempts to unrevoke a token */
};

/* A set of changes built here (capture, sync answers): a message whose
 * values it owns. */
struct repldb_set {
	struct replmsg msg;
	void **owned;
	size_t nowned, cap_owned, cap_changes;
};

/* Sets up replication on an open routing.db (schema already created):
 * bookkeeping tables, triggers, our actor id (made on first open), and a
 * note of every existing row that has never been stamped (a database from
 * before replication, or an edgeProxy one). Returns 0 and sets *out, or
 * -errno with a sentence in err. db stays the caller's. */
int repldb_open(struct repldb **out, struct sqlite3 *db, char *err,
    size_t errlen);
void repldb_free(struct repldb *r);

const char *repldb_actor(const struct repldb *r);
const struct repldb_stats *repldb_stats(const struct repldb *r);
struct hlc *repldb_hlc(struct repldb *r);

/* Stamps up to REPLDB_CAPTURE_ROWS pending rows as one new version and
 * puts the changes into *out (a CHANGES message: heads[0] = our actor and
 * the version, F_COMPLETE). Returns the number of rows still pending (call
 * again when > 0), or -EIO. out->msg.nchanges is 0 when nothing changed. */
int repldb_capture(struct repldb *r, uint64_t wall_ms, struct repldb_set *out);
/* True when notes are waiting (a cheap check for the poller). */
bool repldb_pending(struct repldb *r);

/* Applies changes [from, from + n) of a peer's message in one transaction.
 * Returns the number that won, -EAGAIN when local writes wait to be
 * captured (capture them, then call again: rows are rebuilt from their
 * stamps, which would undo an uncaptured write), or -EIO (nothing
 * applied). */
int repldb_apply(struct repldb *r, const struct replmsg *m, uint32_t from,
    uint32_t n, uint64_t wall_ms);

/* True when version `v` of actor has been seen (applied or superseded). */
bool repldb_seen(const struct repldb *r, const char *actor, uint64_t v);
/* Records that every change of version v of actor was applied; advances
 * contig over closed gaps. Returns 0 or -errno. */
int repldb_mark(struct repldb *r, const char *actor, uint64_t v);
/* A peer's sync answer was applied: everything of actor up to v is seen. */
int repldb_adopt(struct repldb *r, const char *actor, uint64_t v);
/* contig of an actor (0 when unknown). */
uint64_t repldb_contig(const struct repldb *r, const char *actor);
/* Actors known, and actor i's id and contig (i < count). */
size_t repldb_actor_count(const struct repldb *r);
const char *repldb_actor_at(const struct repldb *r, size_t i, uint64_t *contig);

/* A SYNC_REQ with our heads into *out (replmsg_fini it). Returns 0 or
 * -ENOMEM. */
int repldb_sync_request(struct repldb *r, struct replmsg *out);
/* The SYNC_RESP for a peer's request: what it lacks, at most about
 * `budget` changes (always whole versions, at least one). Returns 0 or
 * -EIO / -ENOMEM. */
int repldb_sync_answer(struct repldb *r, const struct replmsg *req,
    size_t budget, struct repldb_set *out);

/* SHA-256 over the replicated tables' rows in key order, as hex, and the
 * row count. Equal digests on two nodes: identical replicated content.
 * Returns 0 or -EIO. */
int repldb_digest(struct repldb *r, char hex[REPLDB_DIGEST_LEN + 1],
    uint64_t *rows);

/* Forgets tombstones older than before_ms (whole rows: every column stamp
 * of a row whose liveness is 0). Returns rows forgotten or -EIO. */
int repldb_gc(struct repldb *r, uint64_t before_ms);

void repldb_set_init(struct repldb_set *s);
void repldb_set_fini(struct repldb_set *s);

#endif
