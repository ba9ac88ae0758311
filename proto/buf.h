/* buf — a contiguous byte buffer with read and write offsets.
 *
 * Data is base[rd..wr). Storage is allocated lazily on the first reserve and
 * given back by buf_release(), so an idle connection costs sizeof(struct buf).
 * Callers embed the struct. */
#ifndef WARREN_BUF_H
#define WARREN_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct buf {
	uint8_t *base;
	size_t cap, rd, wr;
};

/* Bytes readable. */
static inline size_t buf_len(const struct buf *b) { return b->wr - b->rd; }
/* Pointer to the first readable byte (valid while buf_len() > 0; NULL for
 * a buffer never filled). */
static inline uint8_t *buf_data(const struct buf *b)
{
	return b->base != NULL ? b->base + b->rd : NULL;
}

/* Returns at least `min` bytes of tail room (compacting or growing to fit,
 * never past `max` total capacity), or {NULL, 0} if that would exceed `max`
 * or allocation fails. The room may be larger than `min`. */
struct iovec buf_reserve(struct buf *b, size_t min, size_t max);
/* Marks n bytes of the reserved room as written. */
void buf_commit(struct buf *b, size_t n);
/* Drops n readable bytes from the front; an emptied buffer rewinds. */
void buf_consume(struct buf *b, size_t n);
/* Copies len bytes in; returns 0 or -ENOMEM (nothing copied) if it would
 * exceed `max`. */
int buf_append(struct buf *b, const void *p, size_t len, size_t max);
/* Frees the storage if the buffer is empty (lazy allocation's other half). */
void buf_release(struct buf *b);
/* Frees the storage unconditionally. */
void buf_fini(struct buf *b);

#endif
