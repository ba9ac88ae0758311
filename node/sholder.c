#include "sholder.h"

void
sholder_on_data(struct mux_stream *st, const uint8_t *p, size_t len)
{
	struct sholder *h = mux_stream_data(st);

	h->ops->on_data(st, p, len);
}

void
sholder_on_fin(struct mux_stream *st)
{
	struct sholder *h = mux_stream_data(st);

	h->ops->on_fin(st);
}

void
sholder_on_reset(struct mux_stream *st, int code, const char *reason)
{
	struct sholder *h = mux_stream_data(st);

	h->ops->on_reset(st, code, reason);
}

void
sholder_on_writable(struct mux_stream *st)
{
	struct sholder *h = mux_stream_data(st);

	h->ops->on_writable(st);
}

const struct mux_callbacks sholder_mux_cb = {
	.on_data = sholder_on_data,
	.on_fin = sholder_on_fin,
	.on_reset = sholder_on_reset,
	.on_writable = sholder_on_writable,
};

ssize_t
sholder_splice_in(struct mux_stream *st, int from, size_t left)
{
	struct sholder *h = mux_stream_data(st);

	if (h == NULL || h->ops->splice_in == NULL)
		return 0;
	return h->ops->splice_in(st, from, left);
}
