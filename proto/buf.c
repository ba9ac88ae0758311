#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct iovec
buf_reserve(struct buf *b, size_t min, size_t max)
{
	struct iovec none = { NULL, 0 };
	size_t len = buf_len(b), need, ncap;
	uint8_t *nb;

	if (b->cap - b->wr >= min && b->base != NULL)
		return (struct iovec){ b->base + b->wr, b->cap - b->wr };
	need = len + min;
	if (need > max)
		return none;
	if (b->base != NULL && b->cap >= need) {
		memmove(b->base, b->base + b->rd, len);
		b->rd = 0;
		b->wr = len;
		return (struct iovec){ b->base + b->wr, b->cap - b->wr };
	}
	ncap = b->cap ? b->cap : 4096;
	while (ncap < need)
		ncap *= 2;
	if (ncap > max)
		ncap = max;
	if ((nb = malloc(ncap)) == NULL)
		return none;
	if (len)
		memcpy(nb, b->base + b->rd, len);
	free(b->base);
	b->base = nb;
	b->cap = ncap;
	b->rd = 0;
	b->wr = len;
	return (struct iovec){ b->base + b->wr, b->cap - b->wr };
}

void
buf_commit(struct buf *b, size_t n)
{
	b->wr += n;
}

void
buf_consume(struct buf *b, size_t n)
{
	b->rd += n;
	if (b->rd >= b->wr)
		b->rd = b->wr = 0;
}

int
buf_append(struct buf *b, const void *p, size_t len, size_t max)
{
	struct iovec io;

	if (len == 0)
		return 0;
	io = buf_reserve(b, len, max);
	if (io.iov_base == NULL)
		return -ENOMEM;
	memcpy(io.iov_base, p, len);
	buf_commit(b, len);
	return 0;
}

void
buf_release(struct buf *b)
{
	if (buf_len(b) == 0)
		buf_fini(b);
}

void
buf_fini(struct buf *b)
{
	free(b->base);
	b->base = NULL;
	b->cap = b->rd = b->wr = 0;
}
