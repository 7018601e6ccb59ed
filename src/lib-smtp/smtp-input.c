/* SMTP input framing: command lines (RFC 5321 2.3.8, 4.5.3.1.4), DATA
 * content with dot-unstuffing (RFC 5321 4.1.1.4, 4.5.2) and BDAT chunks
 * (RFC 3030 2). See smtp-input.h. */
#include <stdlib.h>
#include <string.h>

#include "smtp-input.h"
#include "xalloc.h"

/* ---- command lines ---- */

void smtp_line_reader_init(struct smtp_line_reader *r, size_t max_len)
{
	memset(r, 0, sizeof(*r));
	r->max = max_len;
}

/* Discard through the next CRLF; returns the bytes used and clears
 * skipping if the CRLF was among them. */
static size_t smtp_line_skip(struct smtp_line_reader *r, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	if (len == 0)
		return 0;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		bool cr = p > buf ? p[-1] == '\r' : r->skip_cr;
		p++;
		if (cr) {
			r->skipping = false;
			r->skip_cr = false;
			return (size_t)(p - buf);
		}
		if (p == end)
			break;
	}
	r->skip_cr = buf[len - 1] == '\r';
	return len;
}

/* The line grew past max at buf[i]: report it once, then skip the rest. */
static int smtp_line_too_long(struct smtp_line_reader *r, const char *buf, size_t len,
			      size_t i, size_t *consumed_r, enum smtp_line_error *error_r)
{
	r->scanned = 0;
	r->bad = SMTP_LINE_OK;
	r->skipping = true;
	r->skip_cr = buf[i] == '\r';
	*consumed_r = i + 1 + smtp_line_skip(r, buf + i + 1, len - i - 1);
	*error_r = SMTP_LINE_TOO_LONG;
	return -1;
}

static int smtp_line_end(struct smtp_line_reader *r, size_t line_len, size_t *line_len_r,
			 size_t *consumed_r, enum smtp_line_error *error_r)
{
	enum smtp_line_error bad = r->bad;

	r->scanned = 0;
	r->bad = SMTP_LINE_OK;
	*consumed_r = line_len + 2;
	if (bad != SMTP_LINE_OK) {
		*error_r = bad;
		return -1;
	}
	*line_len_r = line_len;
	return 1;
}

int smtp_line_next(struct smtp_line_reader *r, const char *buf, size_t len,
		   size_t *line_len_r, size_t *consumed_r,
		   enum smtp_line_error *error_r)
{
	*line_len_r = 0;
	*consumed_r = 0;
	*error_r = SMTP_LINE_OK;
	if (r->skipping) {
		*consumed_r = smtp_line_skip(r, buf, len);
		return 0;
	}
	if (r->scanned > len) {		/* caller misuse: start over */
		r->scanned = 0;
		r->bad = SMTP_LINE_OK;
	}
	for (size_t i = r->scanned; i < len; i++) {
		bool after_cr = i > 0 && buf[i - 1] == '\r';
		if (buf[i] == '\n' && after_cr)
			return smtp_line_end(r, i - 1, line_len_r, consumed_r, error_r);
		if (r->bad == SMTP_LINE_OK && buf[i] == '\n')
			r->bad = SMTP_LINE_BARE_LF;
		else if (r->bad == SMTP_LINE_OK && after_cr)
			r->bad = SMTP_LINE_BARE_CR;
		/* a CR at the end may still be the start of CRLF */
		if (i + (buf[i] != '\r') > r->max)
			return smtp_line_too_long(r, buf, len, i, consumed_r, error_r);
	}
	r->scanned = len;
	return 0;
}

/* ---- DATA and BDAT content ---- */

enum smtp_data_state {
	SMTP_DS_BOL,		/* at the start of a line */
	SMTP_DS_DOT,		/* "." at the start of a line, held back */
	SMTP_DS_DOT_CR,		/* "." CR at the start of a line, held back */
	SMTP_DS_TEXT,		/* inside a line */
	SMTP_DS_CR,		/* CR inside a line, held back */
	SMTP_DS_DONE,		/* end marker consumed */
};

struct smtp_data_decoder {
	uint64_t max_size, size;
	uint64_t max_header, header_size;
	uint64_t max_line, line_len;
	unsigned flags;
	enum smtp_data_state state;
	enum smtp_data_status status;
	bool in_header;
};

struct smtp_data_decoder *smtp_data_decoder_create(uint64_t max_size, size_t max_line,
						   size_t max_header, unsigned flags)
{
	struct smtp_data_decoder *d = xcalloc(1, sizeof(*d));

	d->max_size = max_size;
	d->max_line = max_line;
	d->max_header = max_header;
	d->flags = flags;
	d->state = SMTP_DS_BOL;
	d->in_header = true;
	return d;
}

void smtp_data_decoder_destroy(struct smtp_data_decoder **d)
{
	xfree(d);
}

enum smtp_data_status smtp_data_status(const struct smtp_data_decoder *d)
{
	return d->status;
}

uint64_t smtp_data_size(const struct smtp_data_decoder *d)
{
	return d->size;
}

const char *smtp_data_status_text(enum smtp_data_status s)
{
	switch (s) {
	case SMTP_DATA_OK:
		return "ok";
	case SMTP_DATA_TOO_BIG:
		return "message too big";
	case SMTP_DATA_BARE_LF:
		return "bare <LF> received";
	case SMTP_DATA_BARE_CR:
		return "bare <CR> received";
	case SMTP_DATA_LINE_TOO_LONG:
		return "line too long";
	case SMTP_DATA_HEADER_TOO_BIG:
		return "header section too big";
	}
	return "unknown status";
}

/* First problem wins. */
static void smtp_data_fail(struct smtp_data_decoder *d, enum smtp_data_status s)
{
	if (d->status == SMTP_DATA_OK)
		d->status = s;
}

/* Would n more octets on top of used pass max? Then lower *keep to what
 * still fits, unless an earlier limit already cut lower: the problem at the
 * earliest octet wins, ties go to the limit checked first (as they would
 * one byte at a time). */
static void smtp_data_limit(uint64_t used, uint64_t max, size_t n, size_t *keep,
			    enum smtp_data_status *st, enum smtp_data_status which)
{
	if (max == 0 || (used <= max && n <= max - used))
		return;
	uint64_t room = used < max ? max - used : 0;
	if (room < *keep) {
		*keep = (size_t)room;
		*st = which;
	}
}

static void smtp_data_append(struct smtp_data_decoder *d, const char *p, size_t n,
			     buf_t *out)
{
	if (d->status == SMTP_DATA_OK && n > 0 && buf_append(out, p, n) < 0)
		smtp_data_fail(d, SMTP_DATA_TOO_BIG);
}

/* BINARYMIME body: no line structure to check (RFC 3030 3). */
static bool smtp_data_raw(const struct smtp_data_decoder *d)
{
	return (d->flags & SMTP_DATA_BINARY) != 0 && !d->in_header;
}

/* n content octets (no line end among them). */
static void smtp_data_content(struct smtp_data_decoder *d, const char *p, size_t n,
			      buf_t *out)
{
	enum smtp_data_status st = SMTP_DATA_OK;
	size_t keep = n;

	smtp_data_limit(d->size, d->max_size, n, &keep, &st, SMTP_DATA_TOO_BIG);
	if (!smtp_data_raw(d))
		smtp_data_limit(d->line_len, d->max_line, n, &keep, &st,
				SMTP_DATA_LINE_TOO_LONG);
	if (d->in_header)
		smtp_data_limit(d->header_size, d->max_header, n, &keep, &st,
				SMTP_DATA_HEADER_TOO_BIG);
	smtp_data_append(d, p, keep, out);
	if (st != SMTP_DATA_OK)
		smtp_data_fail(d, st);
	d->size += n;
	d->line_len += n;
	if (d->in_header)
		d->header_size += n;
}

/* A line end, written as CRLF. The empty line that ends the header section
 * (RFC 5322 2.1) is not counted in it. */
static void smtp_data_eol(struct smtp_data_decoder *d, buf_t *out)
{
	bool header_line = d->in_header && d->line_len > 0;
	enum smtp_data_status st = SMTP_DATA_OK;
	size_t keep = 2;

	smtp_data_limit(d->size, d->max_size, 2, &keep, &st, SMTP_DATA_TOO_BIG);
	if (header_line)
		smtp_data_limit(d->header_size, d->max_header, 2, &keep, &st,
				SMTP_DATA_HEADER_TOO_BIG);
	if (keep == 2)
		smtp_data_append(d, "\r\n", 2, out);
	if (st != SMTP_DATA_OK)
		smtp_data_fail(d, st);
	d->size += 2;
	if (header_line)
		d->header_size += 2;
	else
		d->in_header = false;
	d->line_len = 0;
}

/* RFC 5321 2.3.8: LF alone is not a line end. */
static void smtp_data_bare_lf(struct smtp_data_decoder *d, buf_t *out)
{
	if ((d->flags & SMTP_DATA_NORMALIZE_BARE_LF) != 0) {
		smtp_data_eol(d, out);
		return;
	}
	smtp_data_fail(d, SMTP_DATA_BARE_LF);
	smtp_data_content(d, "\n", 1, out);
}

static void smtp_data_bare_cr(struct smtp_data_decoder *d, buf_t *out)
{
	smtp_data_fail(d, SMTP_DATA_BARE_CR);
	smtp_data_content(d, "\r", 1, out);
}

/* Inside a line: a run of ordinary octets, or one CR or LF. */
static size_t smtp_data_text(struct smtp_data_decoder *d, const char *in, size_t len,
			     buf_t *out)
{
	size_t n = 0;

	while (n < len && in[n] != '\r' && in[n] != '\n')
		n++;
	d->state = SMTP_DS_TEXT;
	if (n > 0) {
		smtp_data_content(d, in, n, out);
		return n;
	}
	if (in[0] == '\r')
		d->state = SMTP_DS_CR;
	else
		smtp_data_bare_lf(d, out);	/* never a line start for dots */
	return 1;
}

/* One step at in[0] (len > 0). Returns the octets used; 0 means the state
 * changed and in[0] must be looked at again. */
static size_t smtp_data_step(struct smtp_data_decoder *d, const char *in, size_t len,
			     buf_t *out, bool dots)
{
	char c = in[0];

	switch (d->state) {
	case SMTP_DS_BOL:
		if (dots && c == '.') {
			d->state = SMTP_DS_DOT;
			return 1;
		}
		return smtp_data_text(d, in, len, out);
	case SMTP_DS_DOT:
		/* RFC 5321 4.5.2: a leading dot with more on the line is
		 * deleted; "." CR LF is the end */
		if (c == '\r') {
			d->state = SMTP_DS_DOT_CR;
			return 1;
		}
		d->state = SMTP_DS_TEXT;
		return 0;
	case SMTP_DS_DOT_CR:
		if (c == '\n') {
			d->state = SMTP_DS_DONE;
			return 1;
		}
		smtp_data_bare_cr(d, out);	/* ".\r\r\n" is no end (SMUG-5) */
		d->state = SMTP_DS_TEXT;
		return 0;
	case SMTP_DS_CR:
		if (c == '\n') {
			smtp_data_eol(d, out);
			d->state = SMTP_DS_BOL;
			return 1;
		}
		smtp_data_bare_cr(d, out);
		d->state = SMTP_DS_TEXT;
		return 0;
	case SMTP_DS_TEXT:
		return smtp_data_text(d, in, len, out);
	case SMTP_DS_DONE:
		break;
	}
	return len;
}

static size_t smtp_data_run(struct smtp_data_decoder *d, const char *in, size_t len,
			    buf_t *out, bool dots)
{
	size_t i = 0;

	while (i < len && d->state != SMTP_DS_DONE) {
		if (!dots && smtp_data_raw(d)) {
			smtp_data_content(d, in + i, len - i, out);
			return len;
		}
		i += smtp_data_step(d, in + i, len - i, out, dots);
	}
	return i;
}

int smtp_data_feed(struct smtp_data_decoder *d, const char *in, size_t len,
		   size_t *consumed_r, buf_t *out)
{
	d->flags &= ~(unsigned)SMTP_DATA_BINARY;	/* BINARYMIME needs BDAT (RFC 3030 3) */
	*consumed_r = smtp_data_run(d, in, len, out, true);
	return d->state == SMTP_DS_DONE ? 1 : 0;
}

void smtp_bdat_feed(struct smtp_data_decoder *d, const char *in, size_t len, buf_t *out)
{
	(void)smtp_data_run(d, in, len, out, false);
}

void smtp_bdat_finish(struct smtp_data_decoder *d)
{
	if (d->state == SMTP_DS_CR) {
		smtp_data_fail(d, SMTP_DATA_BARE_CR);
		d->size++;
		d->state = SMTP_DS_TEXT;
	}
}
