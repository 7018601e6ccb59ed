#ifndef YOUJU_IMAP_COMPRESS_H
#define YOUJU_IMAP_COMPRESS_H
/*
 * COMPRESS=DEFLATE (RFC 4978): raw deflate (RFC 1951) both ways on an
 * IMAP connection, as a libevent filter over the socket's bufferevent.
 */
#include <event2/bufferevent.h>

/* Wraps bev (whose callbacks and watermarks move to the returned filter;
 * output already queued on bev goes out uncompressed first, as the tagged
 * OK must). Input already buffered on bev is compressed data and is read
 * through the filter. Freeing the filter frees bev. */
struct bufferevent *imap_compress_start(struct bufferevent *bev);

#endif
