#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "imap-compress.h"
#include "log.h"
#include "xalloc.h"

/* A small deflate window and memory level keep an idle compressed
 * connection in tens of kilobytes (zlib: 2^(wbits+2) + 2^(mem+9)); the
 * inflater must accept the client's full 32 KiB window (RFC 4978 4). */
#define DEFLATE_WBITS 12
#define DEFLATE_MEMLEVEL 6

struct zctx {
	z_stream in, out;
};

static void zctx_free(void *arg)
{
	struct zctx *z = arg;
	inflateEnd(&z->in);
	deflateEnd(&z->out);
	free(z);
}

/* Run the stream over src into dst, chunk by chunk. */
static enum bufferevent_filter_result pump(z_stream *zs, bool deflating, struct evbuffer *src,
					   struct evbuffer *dst, ev_ssize_t limit,
					   enum bufferevent_flush_mode mode)
{
	unsigned char outbuf[16384];
	int flush = deflating ? (mode == BEV_NORMAL ? Z_SYNC_FLUSH : Z_FINISH) : Z_NO_FLUSH;
	size_t produced = 0;
	for (;;) {
		struct evbuffer_iovec v;
		int n = evbuffer_peek(src, -1, NULL, &v, 1);
		zs->next_in = n > 0 ? v.iov_base : NULL;
		zs->avail_in = n > 0 ? (uInt)v.iov_len : 0;
		if (zs->avail_in == 0 && !deflating)
			break;
		zs->next_out = outbuf;
		zs->avail_out = sizeof(outbuf);
		int r = deflating ? deflate(zs, flush) : inflate(zs, Z_SYNC_FLUSH);
		size_t used = n > 0 ? v.iov_len - zs->avail_in : 0;
		size_t made = sizeof(outbuf) - zs->avail_out;
		if (used)
			evbuffer_drain(src, used);
		if (made)
			evbuffer_add(dst, outbuf, made);
		produced += made;
		if (r == Z_STREAM_ERROR || r == Z_DATA_ERROR || r == Z_MEM_ERROR || r == Z_NEED_DICT)
			return BEV_ERROR;
		if (r == Z_STREAM_END && !deflating)
			return BEV_ERROR;	/* the client ended the stream: nothing may follow */
		/* done when all input is used and zlib had room to spare */
		if (evbuffer_get_length(src) == 0 && zs->avail_out != 0)
			break;
		if (!deflating && limit > 0 && produced >= (size_t)limit)
			break;
		if (used == 0 && made == 0)
			break;
	}
	return BEV_OK;
}

static enum bufferevent_filter_result filter_in(struct evbuffer *src, struct evbuffer *dst,
						ev_ssize_t limit, enum bufferevent_flush_mode mode,
						void *arg)
{
	struct zctx *z = arg;
	return pump(&z->in, false, src, dst, limit, mode);
}

static enum bufferevent_filter_result filter_out(struct evbuffer *src, struct evbuffer *dst,
						 ev_ssize_t limit, enum bufferevent_flush_mode mode,
						 void *arg)
{
	struct zctx *z = arg;
	if (evbuffer_get_length(src) == 0 && mode == BEV_NORMAL)
		return BEV_OK;
	return pump(&z->out, true, src, dst, limit, mode);
}

struct bufferevent *imap_compress_start(struct bufferevent *bev)
{
	struct zctx *z = xcalloc(1, sizeof(*z));
	if (inflateInit2(&z->in, -15) != Z_OK ||
	    deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -DEFLATE_WBITS, DEFLATE_MEMLEVEL,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		fatal("zlib initialisation failed");
	bufferevent_data_cb rd, wr;
	bufferevent_event_cb ev;
	void *arg;
	bufferevent_getcb(bev, &rd, &wr, &ev, &arg);
	struct bufferevent *f = bufferevent_filter_new(bev, filter_in, filter_out, BEV_OPT_CLOSE_ON_FREE,
						       zctx_free, z);
	bufferevent_setcb(f, rd, wr, ev, arg);
	size_t low, high;
	if (bufferevent_getwatermark(bev, EV_WRITE, &low, &high) == 0)
		bufferevent_setwatermark(f, EV_WRITE, low, high);
	bufferevent_enable(f, EV_READ | EV_WRITE);
	/* compressed bytes the client pipelined behind COMPRESS */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	return f;
}
