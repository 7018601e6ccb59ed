#ifndef YOUJU_SMTP_INPUT_H
#define YOUJU_SMTP_INPUT_H
/*
 * SMTP input framing: command lines, DATA content and BDAT chunks.
 *
 * Pure byte machines, resumable at every byte: feeding input one byte at a
 * time gives the same results as feeding it whole. No I/O, no globals; the
 * caller owns the socket buffer.
 *
 * The only line end is CR LF (RFC 5321 2.3.8). A bare LF or bare CR never
 * ends a line, so nothing after one can be taken as a new command or as the
 * end of the data (SMTP smuggling, CVE-2023-51764 and relatives).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- command lines ---- */

enum smtp_line_error {
	SMTP_LINE_OK = 0,
	SMTP_LINE_TOO_LONG,	/* more than max octets before the CRLF */
	SMTP_LINE_BARE_LF,	/* the line contains LF not preceded by CR */
	SMTP_LINE_BARE_CR,	/* the line contains CR not followed by LF */
};

struct smtp_line_reader {
	size_t max;		/* longest line, CRLF not counted */
	bool skipping;		/* discarding the rest of an over-long line */
	/* private */
	size_t scanned;		/* bytes at buf[0..) examined without a line end */
	bool skip_cr;		/* while skipping: the last discarded byte was CR */
	enum smtp_line_error bad;	/* first bare CR/LF of the current line */
};

/* max > 0 is the longest line accepted (RFC 5321 4.5.3.1.4: 512 with the
 * CRLF; extensions such as AUTH need more). */
void smtp_line_reader_init(struct smtp_line_reader *r, size_t max_len);

/* Look for one line in buf[0..len). buf must start where the previous call
 * left off: the caller discards exactly *consumed_r bytes after each call
 * and keeps the rest at the front of its buffer.
 *  1: a line of *line_len_r bytes (without CRLF) starts at buf, and
 *     *consumed_r (line + CRLF) bytes are used.
 *  0: need more input. *consumed_r > 0 only while skipping the rest of an
 *     over-long line: discard that many bytes. The skipped line may have
 *     ended with more input behind it, so callers loop until a call returns
 *     0 with *consumed_r == 0.
 * -1: *error_r says why; discard *consumed_r bytes: the bad line including
 *     its CRLF, or, for an over-long line, everything up to its CRLF if it
 *     is there and all of buf otherwise (the rest is then skipped by later
 *     calls). A bare LF or bare CR is reported when the CRLF that ends its
 *     line arrives, unless the line becomes too long first: one error per
 *     line, never a line parsed from behind a bare LF (SMUG-7). */
int smtp_line_next(struct smtp_line_reader *r, const char *buf, size_t len,
		   size_t *line_len_r, size_t *consumed_r,
		   enum smtp_line_error *error_r);

/* ---- DATA and BDAT content ---- */

enum smtp_data_status {
	SMTP_DATA_OK = 0,
	SMTP_DATA_TOO_BIG,		/* decoded size over max_size */
	SMTP_DATA_BARE_LF,
	SMTP_DATA_BARE_CR,
	SMTP_DATA_LINE_TOO_LONG,	/* a line (CRLF not counted) over max_line */
	SMTP_DATA_HEADER_TOO_BIG,	/* header section over max_header */
};

/* Turn bare LF into CRLF in the output instead of failing (Postfix
 * "normalize"). It still never ends a line for dot handling: neither
 * "\n.\r\n" nor "\n..x" is special. */
#define SMTP_DATA_NORMALIZE_BARE_LF 0x1
/* BODY=BINARYMIME (RFC 3030 3), BDAT only (smtp_data_feed ignores it):
 * after the header section, octets are taken as they are (no bare CR/LF or
 * line length checks; size still counts). */
#define SMTP_DATA_BINARY 0x2

struct smtp_data_decoder;

/* Limits of 0 mean unlimited. Bare CR is always an error (RFC 5321
 * 2.3.8); a bare LF too unless SMTP_DATA_NORMALIZE_BARE_LF. */
struct smtp_data_decoder *smtp_data_decoder_create(uint64_t max_size, size_t max_line,
						   size_t max_header, unsigned flags);
void smtp_data_decoder_destroy(struct smtp_data_decoder **d);

/* DATA (RFC 5321 4.1.1.4, 4.5.2). The data starts at the beginning of a
 * line (right after the DATA command's CRLF), so ".\r\n" as the very first
 * line ends it (empty message). Consumes in[0..len) and appends the decoded
 * content (dot-unstuffed, CRLF line ends) to out.
 *  1: the end marker CRLF "." CRLF has been consumed; *consumed_r says how
 *     much of in was used: what follows belongs to the next command. Later
 *     calls return 1 with *consumed_r == 0.
 *  0: all of in was consumed; more is needed.
 * Content problems never stop the decoder: they set a sticky status (the
 * first problem wins), output stops growing, and the decoder keeps draining
 * until the real end marker, so a rejected message is never split in two
 * (SMUG-1..5, 13).
 * out may be drained by the caller between calls (earlier output is never
 * looked at again). Each call appends at most 2 * len octets; if out cannot
 * take them, the status becomes SMTP_DATA_TOO_BIG. Bytes >= 0x80 and NUL
 * are kept exactly. */
int smtp_data_feed(struct smtp_data_decoder *d, const char *in, size_t len,
		   size_t *consumed_r, buf_t *out);

enum smtp_data_status smtp_data_status(const struct smtp_data_decoder *d);
/* Decoded octets so far, counted on after the status is set. */
uint64_t smtp_data_size(const struct smtp_data_decoder *d);

/* BDAT (RFC 3030 2): chunk bytes are taken as they are (no dot handling,
 * no end marker); the same checks apply, across chunk boundaries (a chunk
 * may end in CR and the next start with LF). All of in is consumed. */
void smtp_bdat_feed(struct smtp_data_decoder *d, const char *in, size_t len, buf_t *out);
/* After the LAST chunk: a trailing lone CR is SMTP_DATA_BARE_CR. */
void smtp_bdat_finish(struct smtp_data_decoder *d);

/* Short static text for logs and replies ("bare <LF> received", ...). */
const char *smtp_data_status_text(enum smtp_data_status s);

#endif
