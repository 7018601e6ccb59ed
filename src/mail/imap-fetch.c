/*
 * FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 3501 6.4.5 and its
 * RFC822* items; RFC 3516 BINARY; RFC 7162 MODSEQ, CHANGEDSINCE,
 * VANISHED).
 *
 * Messages are Maildir files with LF line ends; IMAP sees them in CRLF
 * form, so every size, offset and partial range here is counted in that
 * form (a bare LF becomes CRLF, as mailbox_get_vsize and mime.h count).
 *
 * What each item costs:
 *  - FLAGS, UID, MODSEQ, INTERNALDATE: the index only.
 *  - RFC822.SIZE: the index (computed once by the store).
 *  - ENVELOPE, BODY, BODYSTRUCTURE: the store's per-message cache; on a
 *    miss the header (ENVELOPE) or the whole message (BODY*) is parsed
 *    once and the text cached (IMAP_CACHE_*).
 *  - BODY[] and BODY[TEXT]: streamed from the file in chunks, converted
 *    on the way. BODY[HEADER...]: only the header is read.
 *  - part sections and BINARY: the whole message is read and its MIME
 *    structure parsed (limits from the configuration).
 * A response is built in one buffer and written with one imap_out() per
 * message; only a literal larger than FETCH_FLUSH goes out in pieces.
 * After each message the command pauses (IMAP_CMD_MORE) while the client
 * has more than IMAP_OUTPUT_HIGH octets unread, so FETCH 1:* BODY[] holds
 * at most one message beyond that.
 *
 * Literal sizes are exact by construction: the size announced is the one
 * written. Should the file disagree with the sizes the index or the parser
 * gave (a file changed behind our back), the literal is cut, or padded
 * with spaces and the mismatch logged, so the stream never loses its
 * framing.
 *
 * Expunged messages: one whose record is gone (expunged by another
 * session since this one synced) or whose file has vanished is left out;
 * FETCH then ends in NO [EXPUNGEISSUED] (RFC 9051 7.1), UID FETCH in OK
 * (those UIDs no longer exist, RFC 9051 6.4.9).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "imap-bodystructure.h"
#include "imap-client.h"
#include "imap-envelope.h"
#include "imap-fetch-parse.h"
#include "log.h"
#include "mime-decode.h"
#include "mime.h"
#include "rfc5322.h"
#include "xalloc.h"

#define FETCH_CHUNK (64 * 1024)		/* file reads */
#define FETCH_FLUSH (256 * 1024)	/* response octets held before imap_out */

/* Failures of one message, beside enum mail_error. */
#define FETCH_ERR_UNKNOWN_CTE (-100)

struct fetch_ctx {
	struct imap_cmd *cmd;
	struct imap_client *c;
	struct imap_fetch_request req;
	struct imap_seqset seqs;
	struct imap_seqset_iter it;
	struct mime_limits mlim;
	bool has_binary;	/* BINARY or BINARY.SIZE with a part number */
	buf_t out;		/* the response being built */
	bool flushed;		/* part of this message's response went out */
	char *chunk;		/* FETCH_CHUNK octets for file reads */
	bool expunged;		/* some messages were gone */
	bool changed;		/* \Seen was set: commit before OK */
	bool size_warned;
};

/* One message being fetched: what has been read and parsed so far. */
struct fetch_msg {
	struct fetch_ctx *fc;
	uint32_t seq;
	int fd;			/* -1 until needed */
	uint64_t psize;		/* file size */
	buf_t data;		/* the file from offset 0: the header or all */
	bool whole;		/* data holds the whole file */
	bool hdr_init, hdr_done;
	struct rfc5322_header hdr;	/* the message header, over data */
	struct mime_message *mime;
	bool have_vsize;
	uint64_t vsize;
};

/* A section to send: octets of the file, or data made here. */
enum fetch_src_kind { SRC_NIL, SRC_RANGE, SRC_BUF };

struct fetch_src {
	enum fetch_src_kind kind;
	uint64_t off, len;	/* SRC_RANGE: octets of the file (LF form) */
	uint64_t size;		/* octets in the CRLF form */
	const buf_t *buf;	/* SRC_BUF: the octets to send */
	bool literal8;		/* the data holds NUL: send ~{n} (RFC 3516 4.2) */
};

/* ---- reading the message ---- */

static void msg_init(struct fetch_msg *m, struct fetch_ctx *fc, uint32_t seq)
{
	memset(m, 0, sizeof(*m));
	m->fc = fc;
	m->seq = seq;
	m->fd = -1;
	buf_init(&m->data, 0);
}

static void msg_deinit(struct fetch_msg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	if (m->hdr_init)
		rfc5322_header_deinit(&m->hdr);
	mime_message_destroy(&m->mime);
	buf_free(&m->data);
}

/* 0, or a negative enum mail_error (logged here when it is not
 * EXPUNGED). */
static int store_error(struct fetch_msg *m, int ret, char *error, const char *what)
{
	if (ret != MAIL_ERR_EXPUNGED)
		log_error("imap user=%s fetch %s seq=%" PRIu32 ": %s", m->fc->c->user, what, m->seq,
			  error != NULL ? error : "failed");
	free(error);
	return ret;
}

static int msg_open(struct fetch_msg *m)
{
	char *error = NULL;
	int ret;

	if (m->fd >= 0)
		return 0;
	ret = mailbox_open_message(m->fc->c->box, m->seq, &m->fd, &m->psize, &error);
	if (ret < 0) {
		m->fd = -1;
		return store_error(m, ret, error, "open");
	}
	return 0;
}

/* The octets read so far (never NULL). */
static const char *msg_bytes(const struct fetch_msg *m)
{
	return m->data.data != NULL ? m->data.data : "";
}

/* Read the file on until data holds want octets or the file ends. */
static int msg_read(struct fetch_msg *m, uint64_t want)
{
	int ret = msg_open(m);

	if (ret < 0)
		return ret;
	if (want > m->psize)
		want = m->psize;
	while (m->data.used < want && !m->whole) {
		size_t n = want - m->data.used < FETCH_CHUNK ? (size_t)(want - m->data.used)
							     : FETCH_CHUNK;
		if (buf_reserve(&m->data, n) < 0)
			return store_error(m, MAIL_ERR_TEMP, NULL, "read: too large");
		ssize_t got = pread(m->fd, m->data.data + m->data.used, n, (off_t)m->data.used);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return store_error(m, MAIL_ERR_TEMP, xasprintf("read: %s", strerror(errno)),
					   "read");
		if (got == 0) {
			/* shorter than fstat said: take what is there */
			m->whole = true;
			m->psize = m->data.used;
			break;
		}
		m->data.used += (size_t)got;
		m->data.data[m->data.used] = '\0';
	}
	if (m->data.used >= m->psize)
		m->whole = true;
	/* the header's slices point into data, which may have moved */
	if (m->hdr_done)
		(void)rfc5322_header_parse(&m->hdr, msg_bytes(m), m->data.used, m->whole);
	return 0;
}

static int msg_load_all(struct fetch_msg *m)
{
	int ret = msg_open(m);

	if (ret < 0)
		return ret;
	if (m->psize > SIZE_MAX / 2)
		return store_error(m, MAIL_ERR_TEMP, NULL, "read: too large");
	/* one allocation for the whole file */
	if (m->data.used < m->psize && buf_reserve(&m->data, (size_t)(m->psize - m->data.used)) < 0)
		return store_error(m, MAIL_ERR_TEMP, NULL, "read: too large");
	return msg_read(m, m->psize);
}

/* The message header (reading only as far as it goes). */
static int msg_header(struct fetch_msg *m)
{
	int ret;

	if (m->hdr_done)
		return 0;
	if ((ret = msg_open(m)) < 0)
		return ret;
	if (!m->hdr_init) {
		rfc5322_header_init(&m->hdr, &m->fc->mlim.header);
		m->hdr_init = true;
	}
	for (;;) {
		if (rfc5322_header_parse(&m->hdr, msg_bytes(m), m->data.used, m->whole) == 1) {
			m->hdr_done = true;
			return 0;
		}
		if ((ret = msg_read(m, (uint64_t)m->data.used + FETCH_CHUNK)) < 0)
			return ret;
	}
}

static int msg_mime(struct fetch_msg *m)
{
	int ret;

	if (m->mime != NULL)
		return 0;
	if ((ret = msg_load_all(m)) < 0)
		return ret;
	m->mime = mime_parse(msg_bytes(m), m->data.used, &m->fc->mlim);
	return 0;
}

static int msg_vsize(struct fetch_msg *m, uint64_t *vsize_r)
{
	char *error = NULL;
	int ret;

	if (!m->have_vsize) {
		ret = mailbox_get_vsize(m->fc->c->box, m->seq, &m->vsize, &error);
		if (ret < 0)
			return store_error(m, ret, error, "size");
		m->have_vsize = true;
	}
	*vsize_r = m->vsize;
	return 0;
}

/* ---- output ---- */

static void out_flush(struct fetch_ctx *fc)
{
	imap_out(fc->c, fc->out.data, fc->out.used);
	buf_reset(&fc->out);
	fc->flushed = true;
}

/* Writes exactly `left` octets of a CRLF-form stream after skipping the
 * first `skip` of it. */
struct emit {
	struct fetch_ctx *fc;
	char prev;		/* the input octet before the next one */
	uint64_t skip, left;
	/* a plain literal cannot carry NUL (RFC 9051 CHAR8): it goes out
	   as 0x80, same size (as Dovecot does) */
	bool clean_nul;
};

static void emit_put(struct emit *e, const char *p, size_t n)
{
	if (e->skip > 0) {
		size_t k = e->skip < n ? (size_t)e->skip : n;
		p += k;
		n -= k;
		e->skip -= k;
	}
	if (n > e->left)
		n = (size_t)e->left;
	if (n == 0)
		return;
	size_t at = e->fc->out.used;
	buf_append(&e->fc->out, p, n);
	if (e->clean_nul) {
		char *q = e->fc->out.data + at;
		while ((q = memchr(q, '\0', (size_t)(e->fc->out.data + e->fc->out.used - q))) != NULL)
			*q++ = (char)0x80;
	}
	e->left -= n;
	if (e->fc->out.used >= FETCH_FLUSH)
		out_flush(e->fc);
}

/* Input in the file's form: every LF without a CR before it goes out as
 * CRLF. */
static void emit_crlf(struct emit *e, const char *p, size_t n)
{
	while (n > 0 && e->left > 0) {
		const char *lf = memchr(p, '\n', n);
		size_t span = lf != NULL ? (size_t)(lf - p) : n;

		if (span > 0) {
			emit_put(e, p, span);
			e->prev = p[span - 1];
		}
		if (lf == NULL)
			return;
		if (e->prev == '\r')
			emit_put(e, "\n", 1);
		else
			emit_put(e, "\r\n", 2);
		e->prev = '\n';
		p += span + 1;
		n -= span + 1;
	}
}

/* The same conversion into a buffer (small ranges, decoder input). */
static void append_crlf(buf_t *out, const char *p, size_t n, char *prev)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && *prev != '\r')
			buf_append_byte(out, '\r');
		buf_append_byte(out, p[i]);
		*prev = p[i];
	}
}

static void size_mismatch(struct fetch_msg *m, uint64_t missing)
{
	if (!m->fc->size_warned)
		log_error("imap user=%s fetch seq=%" PRIu32 ": message file does not match its "
			  "size (%" PRIu64 " octets short); padded",
			  m->fc->c->user, m->seq, missing);
	m->fc->size_warned = true;
}

/* The octets of src from its CRLF offset start on, n of them. */
static void emit_src(struct fetch_msg *m, const struct fetch_src *src, uint64_t start,
		     uint64_t n)
{
	struct emit e = { m->fc, '\0', start, n, !src->literal8 };

	if (src->kind == SRC_BUF) {
		emit_put(&e, src->buf->data, src->buf->used);
	} else if (src->off + src->len <= m->data.used) {
		if (src->off > 0)
			e.prev = msg_bytes(m)[src->off - 1];
		emit_crlf(&e, msg_bytes(m) + src->off, (size_t)src->len);
	} else {
		uint64_t off = src->off, end = src->off + src->len;
		if (off > 0 && off - 1 < m->data.used)
			e.prev = msg_bytes(m)[off - 1];
		else if (off > 0 && pread(m->fd, &e.prev, 1, (off_t)(off - 1)) != 1)
			e.prev = '\0';
		while (off < end && e.left > 0) {
			size_t want = end - off < FETCH_CHUNK ? (size_t)(end - off) : FETCH_CHUNK;
			ssize_t got = pread(m->fd, m->fc->chunk, want, (off_t)off);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				if (got < 0)
					log_error("imap user=%s fetch seq=%" PRIu32 ": read: %s",
						  m->fc->c->user, m->seq, strerror(errno));
				break;
			}
			emit_crlf(&e, m->fc->chunk, (size_t)got);
			off += (uint64_t)got;
		}
	}
	if (e.left > 0) {
		/* the file was shorter than its sizes said: keep the framing */
		char spaces[64];
		memset(spaces, ' ', sizeof(spaces));
		size_mismatch(m, e.left);
		e.skip = 0;
		while (e.left > 0)
			emit_put(&e, spaces, e.left < sizeof(spaces) ? (size_t)e.left
								      : sizeof(spaces));
	}
}

/* "NAME NIL" or "NAME {n}\r\n<octets>" for src with the item's partial. */
static void write_src(struct fetch_msg *m, const char *name, const struct imap_fetch_item *item,
		      const struct fetch_src *src)
{
	buf_t *out = &m->fc->out;
	uint64_t start = 0, n = src->size;

	buf_append_cstr(out, name);
	if (src->kind == SRC_NIL) {
		buf_append_cstr(out, " NIL");
		return;
	}
	/* RFC 9051 6.4.5: a partial beyond the end is an empty string */
	if (item->partial) {
		start = item->partial_offset < n ? item->partial_offset : n;
		n -= start;
		if (n > item->partial_len)
			n = item->partial_len;
	}
	buf_printf(out, " %s{%" PRIu64 "}\r\n", src->literal8 ? "~" : "", n);
	if (n > 0)
		emit_src(m, src, start, n);
}

/* ---- sections ---- */

static void src_range(struct fetch_src *src, uint64_t off, uint64_t len, uint64_t size)
{
	src->kind = SRC_RANGE;
	src->off = off;
	src->len = len;
	src->size = size;
}

static void src_buf(struct fetch_src *src, const buf_t *b)
{
	src->kind = SRC_BUF;
	src->buf = b;
	src->size = b->used;
}

/* HEADER.FIELDS (...) / HEADER.FIELDS.NOT (...) of a parsed header: the
 * matching fields as they are (in CRLF form), then the empty line
 * (RFC 9051 6.4.5). Lines that are no field (no colon) count as not
 * matching. */
static void filter_fields(const struct rfc5322_header *h, const struct imap_fetch_section *sec,
			  buf_t *out)
{
	bool not = sec->text == IMAP_FETCH_TEXT_FIELDS_NOT;

	for (size_t i = 0; i < h->count; i++) {
		const struct rfc5322_field *f = &h->fields[i];
		bool match = false;
		if ((f->flags & RFC5322_FIELD_NO_COLON) == 0) {
			slice_t name = rfc5322_field_name(h, f);
			for (size_t k = 0; k < sec->nfields && !match; k++)
				match = slice_eq_cstr_ci(name, sec->fields[k]);
		}
		if (match == not)
			continue;
		slice_t raw = rfc5322_field_raw(h, f);
		char prev = '\0';
		append_crlf(out, raw.ptr, raw.len, &prev);
		if (raw.len == 0 || raw.ptr[raw.len - 1] != '\n')
			buf_append_cstr(out, "\r\n");
	}
	buf_append_cstr(out, "\r\n");
}

/* A BODY[section] (and the RFC822* forms) as a source; tmp holds made
 * data. */
static int resolve_body(struct fetch_msg *m, const struct imap_fetch_section *sec,
			struct fetch_src *src, buf_t *tmp)
{
	uint64_t vsize;
	int ret;

	memset(src, 0, sizeof(*src));
	if (sec->nparts == 0) {
		switch (sec->text) {
		case IMAP_FETCH_TEXT_NONE:
			if ((ret = msg_open(m)) < 0 || (ret = msg_vsize(m, &vsize)) < 0)
				return ret;
			src_range(src, 0, m->psize, vsize);
			return 0;
		case IMAP_FETCH_TEXT_HEADER:
			if ((ret = msg_header(m)) < 0)
				return ret;
			src_range(src, 0, m->hdr.size, m->hdr.size + m->hdr.bare_lf);
			return 0;
		case IMAP_FETCH_TEXT_TEXT: {
			if ((ret = msg_header(m)) < 0 || (ret = msg_vsize(m, &vsize)) < 0)
				return ret;
			uint64_t hsize = m->hdr.size + m->hdr.bare_lf;
			src_range(src, m->hdr.size, m->psize - m->hdr.size,
				  vsize > hsize ? vsize - hsize : 0);
			return 0;
		}
		case IMAP_FETCH_TEXT_FIELDS:
		case IMAP_FETCH_TEXT_FIELDS_NOT:
			if ((ret = msg_header(m)) < 0)
				return ret;
			filter_fields(&m->hdr, sec, tmp);
			src_buf(src, tmp);
			return 0;
		case IMAP_FETCH_TEXT_MIME:
			break;	/* the parser allows MIME only after a part */
		}
		src->kind = SRC_NIL;
		return 0;
	}

	if ((ret = msg_mime(m)) < 0)
		return ret;
	const struct mime_part *part = mime_part_by_section(m->mime, sec->parts, sec->nparts);
	if (part == NULL) {
		src->kind = SRC_NIL;	/* no such part */
		return 0;
	}
	/* RFC 9051 6.4.5: HEADER, TEXT and HEADER.FIELDS after a part number
	 * are those of the message in a message/rfc822 part; for other parts
	 * they apply to the part itself (its MIME header and body), as
	 * Dovecot does */
	const struct mime_part *msg = part;
	if ((part->flags & MIME_PART_MESSAGE) != 0 && part->children != NULL)
		msg = part->children;
	switch (sec->text) {
	case IMAP_FETCH_TEXT_NONE:
		src_range(src, part->body_offset, part->body_size, part->body_size_crlf);
		break;
	case IMAP_FETCH_TEXT_MIME:
		src_range(src, part->hdr_offset, part->hdr_size, part->hdr_size_crlf);
		break;
	case IMAP_FETCH_TEXT_HEADER:
		src_range(src, msg->hdr_offset, msg->hdr_size, msg->hdr_size_crlf);
		break;
	case IMAP_FETCH_TEXT_TEXT:
		src_range(src, msg->body_offset, msg->body_size, msg->body_size_crlf);
		break;
	case IMAP_FETCH_TEXT_FIELDS:
	case IMAP_FETCH_TEXT_FIELDS_NOT: {
		struct rfc5322_header h;
		rfc5322_header_parse_all(&h, msg_bytes(m) + msg->hdr_offset, msg->hdr_size,
					 &m->fc->mlim.header);
		filter_fields(&h, sec, tmp);
		rfc5322_header_deinit(&h);
		src_buf(src, tmp);
		break;
	}
	}
	return 0;
}

static bool cte_is_identity(enum mime_cte cte)
{
	return cte == MIME_CTE_7BIT || cte == MIME_CTE_8BIT || cte == MIME_CTE_BINARY;
}

/* Decode a part's body (in CRLF form) into out, or only count the
 * decoded octets into *count_r when count_r is not NULL. */
static void decode_part(struct fetch_msg *m, const struct mime_part *part, buf_t *out,
			uint64_t *count_r)
{
	struct mime_decoder *d = xmalloc(sizeof(*d));
	const char *p = msg_bytes(m) + part->body_offset;
	size_t left = part->body_size;
	char prev = part->body_offset > 0 ? msg_bytes(m)[part->body_offset - 1] : '\0';
	buf_t conv;

	buf_init(&conv, 0);
	if (count_r != NULL)
		*count_r = 0;
	(void)mime_decoder_init(d, part->cte);
	while (left > 0) {
		size_t n = left < FETCH_CHUNK ? left : FETCH_CHUNK;
		buf_reset(&conv);
		append_crlf(&conv, p, n, &prev);
		(void)mime_decoder_feed(d, conv.data, conv.used, out);
		p += n;
		left -= n;
		if (count_r != NULL) {
			*count_r += out->used;
			buf_reset(out);
		}
	}
	(void)mime_decoder_finish(d, out);
	if (count_r != NULL) {
		*count_r += out->used;
		buf_reset(out);
	}
	buf_free(&conv);
	free(d);
}

/* The part a BINARY section names, after msg_mime(); NULL if none. */
static const struct mime_part *binary_part(struct fetch_msg *m,
					   const struct imap_fetch_section *sec)
{
	return mime_part_by_section(m->mime, sec->parts, sec->nparts);
}

/* BINARY[section]: the part's body with its Content-Transfer-Encoding
 * undone (RFC 3516 4.1). BINARY[] is the whole message as it is. */
static int resolve_binary(struct fetch_msg *m, const struct imap_fetch_section *sec,
			  struct fetch_src *src, buf_t *tmp)
{
	uint64_t vsize;
	int ret;

	memset(src, 0, sizeof(*src));
	if ((ret = msg_mime(m)) < 0)
		return ret;
	if (sec->nparts == 0) {
		if ((ret = msg_vsize(m, &vsize)) < 0)
			return ret;
		src_range(src, 0, m->data.used, vsize);
		src->literal8 = memchr(msg_bytes(m), '\0', m->data.used) != NULL;
		return 0;
	}
	const struct mime_part *part = binary_part(m, sec);
	if (part == NULL) {
		src->kind = SRC_NIL;
		return 0;
	}
	if (part->cte == MIME_CTE_UNKNOWN)
		return FETCH_ERR_UNKNOWN_CTE;
	if (cte_is_identity(part->cte)) {
		src_range(src, part->body_offset, part->body_size, part->body_size_crlf);
		src->literal8 =
			memchr(msg_bytes(m) + part->body_offset, '\0', part->body_size) != NULL;
		return 0;
	}
	decode_part(m, part, tmp, NULL);
	src_buf(src, tmp);
	src->literal8 = memchr(tmp->data ? tmp->data : "", '\0', tmp->used) != NULL;
	return 0;
}

static int binary_size(struct fetch_msg *m, const struct imap_fetch_section *sec,
		       uint64_t *size_r, buf_t *tmp)
{
	int ret;

	*size_r = 0;
	if (sec->nparts == 0)
		return msg_vsize(m, size_r);
	if ((ret = msg_mime(m)) < 0)
		return ret;
	const struct mime_part *part = binary_part(m, sec);
	if (part == NULL)
		return 0;
	if (part->cte == MIME_CTE_UNKNOWN)
		return FETCH_ERR_UNKNOWN_CTE;
	if (cte_is_identity(part->cte))
		*size_r = part->body_size_crlf;
	else
		decode_part(m, part, tmp, size_r);
	return 0;
}

/* RFC 3516 4.3: BINARY of a part whose encoding we cannot undo fails the
 * command; checked before anything of the message is written. */
static int check_binary(struct fetch_msg *m)
{
	const struct imap_fetch_request *req = &m->fc->req;
	int ret;

	for (size_t i = 0; i < req->count; i++) {
		const struct imap_fetch_item *item = &req->items[i];
		if ((item->att != IMAP_FETCH_BINARY && item->att != IMAP_FETCH_BINARY_SIZE) ||
		    item->section.nparts == 0)
			continue;
		if ((ret = msg_mime(m)) < 0)
			return ret;
		const struct mime_part *part = binary_part(m, &item->section);
		if (part != NULL && part->cte == MIME_CTE_UNKNOWN)
			return FETCH_ERR_UNKNOWN_CTE;
	}
	return 0;
}

/* ---- cached items ---- */

static int cache_get(struct fetch_msg *m, unsigned field, buf_t *out)
{
	char *error = NULL;
	int ret = mailbox_cache_get(m->fc->c->box, m->seq, field, out, &error);

	if (ret < 0) {
		log_warn("imap user=%s fetch seq=%" PRIu32 ": cache: %s", m->fc->c->user, m->seq,
			 error != NULL ? error : "failed");
		free(error);
		buf_reset(out);
		return 0;
	}
	return ret;
}

static void cache_set(struct fetch_msg *m, unsigned field, const buf_t *b)
{
	char *error = NULL;

	if (mailbox_cache_set(m->fc->c->box, m->seq, field, b->data, b->used, &error) < 0) {
		log_warn("imap user=%s fetch seq=%" PRIu32 ": cache: %s", m->fc->c->user, m->seq,
			 error != NULL ? error : "failed");
		free(error);
	}
}

static int get_envelope(struct fetch_msg *m, buf_t *out)
{
	int ret;

	if (cache_get(m, IMAP_CACHE_ENVELOPE, out) > 0)
		return 0;
	if ((ret = msg_header(m)) < 0)
		return ret;
	if (imap_envelope_write(&m->hdr, out) < 0)
		return store_error(m, MAIL_ERR_TEMP, NULL, "envelope: too large");
	cache_set(m, IMAP_CACHE_ENVELOPE, out);
	return 0;
}

/* BODY or BODYSTRUCTURE; a miss fills both cache fields, since clients
 * that ask for one tend to ask for it again, and the parse is done. */
static int get_structure(struct fetch_msg *m, bool extended, buf_t *out)
{
	unsigned field = extended ? IMAP_CACHE_BODYSTRUCTURE : IMAP_CACHE_BODY;
	buf_t other;
	int ret;

	if (cache_get(m, field, out) > 0)
		return 0;
	if ((ret = msg_mime(m)) < 0)
		return ret;
	if (imap_bodystructure_write(m->mime, extended, out) < 0)
		return store_error(m, MAIL_ERR_TEMP, NULL, "bodystructure: too large");
	cache_set(m, field, out);
	buf_init(&other, 0);
	if (imap_bodystructure_write(m->mime, !extended, &other) == 0)
		cache_set(m, extended ? IMAP_CACHE_BODY : IMAP_CACHE_BODYSTRUCTURE, &other);
	buf_free(&other);
	return 0;
}

/* ---- one item ---- */

/* RFC 9051 9 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz", server local time. */
static void write_date(buf_t *out, int64_t when)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)when;
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999) {
		t = 0;
		gmtime_r(&t, &tm);
		tm.tm_gmtoff = 0;
	}
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d %c%02ld%02ld\"", tm.tm_mday,
		   months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
		   off / 60, off % 60);
}

static const struct imap_fetch_section section_whole = { .text = IMAP_FETCH_TEXT_NONE };
static const struct imap_fetch_section section_header = { .text = IMAP_FETCH_TEXT_HEADER };
static const struct imap_fetch_section section_text = { .text = IMAP_FETCH_TEXT_TEXT };

/* Appends " NAME value" (no leading space for the first item). Returns 0
 * or an error; on error nothing of this item was written, unless the
 * response already went out in part, where the item is then "NAME NIL". */
static int write_item(struct fetch_msg *m, const struct imap_fetch_item *item, buf_t *tmp)
{
	struct fetch_ctx *fc = m->fc;
	struct imap_client *c = fc->c;
	buf_t *out = &fc->out;
	const struct mail_index_record *rec;
	struct fetch_src src;
	uint64_t n;
	int ret = 0;

	buf_reset(tmp);
	switch (item->att) {
	case IMAP_FETCH_FLAGS:
		buf_append_cstr(out, "FLAGS ");
		imap_write_msg_flags(c, m->seq, out);
		return 0;
	case IMAP_FETCH_UID:
		buf_printf(out, "UID %" PRIu32, mailbox_uid(c->box, m->seq));
		return 0;
	case IMAP_FETCH_MODSEQ:
		rec = mailbox_record(c->box, m->seq);
		buf_printf(out, "MODSEQ (%" PRIu64 ")", rec != NULL ? rec->modseq : 0);
		return 0;
	case IMAP_FETCH_INTERNALDATE:
		rec = mailbox_record(c->box, m->seq);
		buf_append_cstr(out, "INTERNALDATE ");
		write_date(out, rec != NULL ? rec->idate : 0);
		return 0;
	case IMAP_FETCH_RFC822_SIZE:
		if ((ret = msg_vsize(m, &n)) < 0)
			break;
		buf_printf(out, "RFC822.SIZE %" PRIu64, n);
		return 0;
	case IMAP_FETCH_ENVELOPE:
		if ((ret = get_envelope(m, tmp)) < 0)
			break;
		buf_append_cstr(out, "ENVELOPE ");
		buf_append(out, tmp->data, tmp->used);
		return 0;
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
		if ((ret = get_structure(m, item->att == IMAP_FETCH_BODYSTRUCTURE, tmp)) < 0)
			break;
		buf_append_cstr(out, item->name);
		buf_append_byte(out, ' ');
		buf_append(out, tmp->data, tmp->used);
		return 0;
	case IMAP_FETCH_BODY_SECTION:
	case IMAP_FETCH_RFC822:
	case IMAP_FETCH_RFC822_HEADER:
	case IMAP_FETCH_RFC822_TEXT: {
		const struct imap_fetch_section *sec =
			item->att == IMAP_FETCH_RFC822 ? &section_whole :
			item->att == IMAP_FETCH_RFC822_HEADER ? &section_header :
			item->att == IMAP_FETCH_RFC822_TEXT ? &section_text : &item->section;
		if ((ret = resolve_body(m, sec, &src, tmp)) < 0)
			break;
		write_src(m, item->name, item, &src);
		return 0;
	}
	case IMAP_FETCH_BINARY:
		if ((ret = resolve_binary(m, &item->section, &src, tmp)) < 0)
			break;
		write_src(m, item->name, item, &src);
		return 0;
	case IMAP_FETCH_BINARY_SIZE:
		if ((ret = binary_size(m, &item->section, &n, tmp)) < 0)
			break;
		buf_printf(out, "%s %" PRIu64, item->name, n);
		return 0;
	}
	if (fc->flushed) {
		buf_printf(out, "%s NIL", item->name);
		return 0;
	}
	return ret;
}

/* ---- one message ---- */

/* 0 (sent or skipped), or an error that ends the command. */
static int fetch_one(struct fetch_ctx *fc, uint32_t seq)
{
	struct imap_client *c = fc->c;
	const struct imap_fetch_request *req = &fc->req;
	const struct mail_index_record *rec = mailbox_record(c->box, seq);
	struct fetch_msg m;
	bool add_flags = false;
	buf_t tmp;
	int ret = 0;

	if (rec == NULL) {
		/* expunged by someone else since our last sync */
		fc->expunged = true;
		return 0;
	}
	/* RFC 7162 3.1.4.1 */
	if (req->changedsince_set && rec->modseq <= req->changedsince)
		return 0;

	msg_init(&m, fc, seq);
	buf_init(&tmp, 0);
	fc->flushed = false;
	if (fc->has_binary && (ret = check_binary(&m)) < 0)
		goto done;

	/* RFC 9051 6.4.5: a body item without PEEK sets \Seen; the new
	 * flags go in the same response */
	if (req->sets_seen && !c->readonly && (rec->flags & MAIL_SEEN) == 0) {
		char *error = NULL;
		ret = mailbox_set_flags(c->box, seq, MAILBOX_FLAGS_ADD, MAIL_SEEN, NULL, 0, 0,
					&error);
		if (ret == 0) {
			fc->changed = true;
			add_flags = !req->has_flags;
		} else if ((ret = store_error(&m, ret, error, "set \\Seen")) == MAIL_ERR_EXPUNGED) {
			goto done;
		}
		ret = 0;	/* a flag we could not set does not stop the fetch */
	}

	buf_reset(&fc->out);
	buf_printf(&fc->out, "* %" PRIu32 " FETCH (", seq);
	bool first = true;
	if (fc->cmd->uid && !req->has_uid) {
		/* RFC 9051 6.4.9: UID FETCH always returns the UID */
		buf_printf(&fc->out, "UID %" PRIu32, mailbox_uid(c->box, seq));
		first = false;
	}
	for (size_t i = 0; i < req->count; i++) {
		size_t mark = fc->out.used;
		if (!first)
			buf_append_byte(&fc->out, ' ');
		first = false;
		if ((ret = write_item(&m, &req->items[i], &tmp)) < 0) {
			buf_truncate(&fc->out, mark);
			goto done;
		}
	}
	if (add_flags) {
		buf_append_cstr(&fc->out, first ? "FLAGS " : " FLAGS ");
		imap_write_msg_flags(c, seq, &fc->out);
		first = false;
	}
	/* RFC 7162 3.1.4.1 / 3.2: MODSEQ in every FETCH once CONDSTORE is on */
	if (c->condstore && !req->has_modseq) {
		rec = mailbox_record(c->box, seq);
		buf_printf(&fc->out, "%sMODSEQ (%" PRIu64 ")", first ? "" : " ",
			   rec != NULL ? rec->modseq : 0);
	}
	buf_append_cstr(&fc->out, ")\r\n");
	out_flush(fc);
done:
	if (ret < 0 && !fc->flushed)
		buf_reset(&fc->out);
	if (ret == MAIL_ERR_EXPUNGED) {
		/* the file went away under us: like an expunged message */
		fc->expunged = true;
		ret = 0;
	}
	buf_free(&tmp);
	msg_deinit(&m);
	return ret;
}

/* ---- VANISHED (RFC 7162 3.2.6) ---- */

static void send_vanished(struct fetch_ctx *fc)
{
	struct imap_client *c = fc->c;
	struct mailbox *box = c->box;
	uint32_t count = mailbox_count(box), next = mailbox_uidnext(box);
	struct imap_seqset uids, gone;
	const char *s, *error;
	uint32_t *exp = NULL;
	size_t nexp = 0;

	imap_seqset_init(&uids, 0);
	imap_seqset_init(&gone, SIZE_MAX / 2);
	if (!imap_arg_get_atom(&fc->cmd->args[0], &s))
		goto out;
	if (strcmp(s, "$") == 0) {
		for (size_t i = 0; i < c->searchres.count; i++)
			(void)imap_seqset_add(&uids, c->searchres.ranges[i].lo,
					      c->searchres.ranges[i].hi);
	} else if (imap_seqset_parse(&uids, s, strlen(s), next > 1 ? next - 1 : 0, &error) < 0) {
		goto out;
	}
	/* "*" is the highest UID ever given here, so that expunged messages
	 * at the end are reported too */
	if (mailbox_expunged_since(box, fc->req.changedsince, &exp, &nexp)) {
		for (size_t i = 0; i < nexp; i++)
			if (imap_seqset_contains(&uids, exp[i]) && mailbox_seq(box, exp[i]) == 0)
				(void)imap_seqset_add(&gone, exp[i], exp[i]);
		free(exp);
	} else {
		/* the history does not go back that far: every UID of the set
		 * this view does not have (RFC 7162 3.2.6 allows it) */
		for (size_t i = 0; i < uids.count && next > 1; i++) {
			uint64_t u = uids.ranges[i].lo;
			uint64_t hi = uids.ranges[i].hi;
			if (hi > next - 1)
				hi = next - 1;
			while (u <= hi) {
				/* the next UID this view has, at or after u */
				uint32_t seq = mailbox_seq_ge(box, (uint32_t)u);
				uint64_t have = seq <= count ? mailbox_uid(box, seq) : hi + 1;
				uint64_t last = have - 1 < hi ? have - 1 : hi;
				if (have > u)
					(void)imap_seqset_add(&gone, (uint32_t)u, (uint32_t)last);
				u = have + 1;
			}
		}
	}
	if (gone.count > 0) {
		buf_t b;
		buf_init(&b, 0);
		buf_append_cstr(&b, "* VANISHED (EARLIER) ");
		imap_seqset_format(&gone, &b);
		buf_append_cstr(&b, "\r\n");
		imap_out_buf(c, &b);
		buf_free(&b);
	}
out:
	imap_seqset_free(&uids);
	imap_seqset_free(&gone);
}

/* ---- the command ---- */

static void fetch_ctx_free(void *state)
{
	struct fetch_ctx *fc = state;

	imap_fetch_request_free(&fc->req);
	imap_seqset_free(&fc->seqs);
	buf_free(&fc->out);
	free(fc->chunk);
	free(fc);
}

static enum imap_cmd_result fetch_run(struct imap_cmd *cmd)
{
	struct fetch_ctx *fc = cmd->state;
	struct imap_client *c = fc->c;
	uint32_t seq;
	int ret = 0;

	while (imap_seqset_next(&fc->seqs, &fc->it, &seq)) {
		if ((ret = fetch_one(fc, seq)) < 0)
			break;
		if (imap_output_pending(c) > IMAP_OUTPUT_HIGH) {
			cmd->cont = fetch_run;
			return IMAP_CMD_MORE;
		}
	}
	if (fc->changed) {
		char *error = NULL;
		int r = mailbox_commit(c->box, &error);
		if (r < 0 && ret == 0) {
			imap_cmd_mail_error(cmd, r, error, false);
			free(error);
			return IMAP_CMD_DONE;
		}
		free(error);
	}
	if (ret == FETCH_ERR_UNKNOWN_CTE)
		imap_cmd_no(cmd, "[UNKNOWN-CTE] Cannot decode the Content-Transfer-Encoding of "
				 "the part");
	else if (ret < 0)
		imap_cmd_mail_error(cmd, ret, NULL, false);
	else if (fc->expunged && !cmd->uid)
		/* RFC 9051 7.1 */
		imap_cmd_no(cmd, "[EXPUNGEISSUED] Some of the requested messages no longer exist.");
	else
		imap_cmd_ok(cmd, "Fetch completed.");
	return IMAP_CMD_DONE;
}

enum imap_cmd_result imap_cmd_fetch(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	const struct youju_config *cfg = c->ctx->cfg;
	struct fetch_ctx *fc;
	const char *error;

	if (c->box == NULL) {
		imap_cmd_bad(cmd, "No mailbox selected.");
		return IMAP_CMD_DONE;
	}
	if (cmd->count < 2 || cmd->count > 3) {
		imap_cmd_bad(cmd, "FETCH needs a sequence set, attributes and optional modifiers.");
		return IMAP_CMD_DONE;
	}
	fc = xcalloc(1, sizeof(*fc));
	fc->cmd = cmd;
	fc->c = c;
	imap_seqset_init(&fc->seqs, 0);
	buf_init(&fc->out, 0);
	cmd->state = fc;
	cmd->state_free = fetch_ctx_free;

	if (imap_fetch_parse_atts(&cmd->args[1], &fc->req, &error) < 0 ||
	    (cmd->count == 3 && imap_fetch_parse_modifiers(&cmd->args[2], &fc->req, &error) < 0)) {
		imap_cmd_bad(cmd, "%s.", error);
		return IMAP_CMD_DONE;
	}
	if (fc->req.vanished && !cmd->uid) {
		imap_cmd_bad(cmd, "VANISHED is allowed only with UID FETCH.");
		return IMAP_CMD_DONE;
	}
	if (fc->req.vanished && !c->qresync) {
		imap_cmd_bad(cmd, "VANISHED needs ENABLE QRESYNC.");
		return IMAP_CMD_DONE;
	}
	if (imap_arg_seqset(c, &cmd->args[0], cmd->uid, &fc->seqs, &error) < 0) {
		imap_cmd_bad(cmd, "%s.", error);
		return IMAP_CMD_DONE;
	}
	for (size_t i = 0; i < fc->req.count; i++) {
		const struct imap_fetch_item *item = &fc->req.items[i];
		if ((item->att == IMAP_FETCH_BINARY || item->att == IMAP_FETCH_BINARY_SIZE) &&
		    item->section.nparts > 0)
			fc->has_binary = true;
	}
	fc->mlim.max_depth = (unsigned)cfg->mime_max_depth;
	fc->mlim.max_parts = (unsigned)cfg->mime_max_parts;
	fc->mlim.header.max_header_size = (size_t)cfg->mime_max_header;
	fc->chunk = xmalloc(FETCH_CHUNK);
	fc->it = IMAP_SEQSET_ITER_INIT;

	/* RFC 7162 3.1: using CHANGEDSINCE or MODSEQ turns CONDSTORE on */
	if (fc->req.changedsince_set || fc->req.has_modseq)
		imap_enable_condstore(c);
	if (fc->req.vanished)
		send_vanished(fc);
	return fetch_run(cmd);
}
