#ifndef YOUJU_MIME_DECODE_H
#define YOUJU_MIME_DECODE_H
/*
 * Content-Transfer-Encoding decoders (RFC 2045 section 6), lenient as the
 * RFC asks of a receiver, for IMAP BINARY (RFC 3516), body SEARCH and the
 * "B" and "Q" encodings of RFC 2047 encoded words.
 *
 * The decoders are streaming: feed any split of the input, then finish.
 * They keep a few bytes of state and never look at bytes twice, so cost is
 * linear. Output goes to a buf_t whose maximum bounds the memory used.
 *
 * Decisions:
 * - base64 (RFC 2045 6.8): characters outside the alphabet are ignored
 *   (line breaks, spaces, garbage). '=' ends the current 4-character group;
 *   decoding resumes after it, so concatenated padded chunks decode to the
 *   concatenation. A group left with a single character is dropped. All of
 *   these except whitespace set `invalid` (the data was not clean base64)
 *   but still decode.
 * - quoted-printable (RFC 2045 6.7): "=XX" (hex digits in either case) is a
 *   byte; "=" before a line break, even with whitespace between, is a soft
 *   line break; whitespace at the end of a line is dropped (rule 3). Any
 *   other "=" sequence is kept literally and sets `invalid`. Hard line
 *   breaks are copied as they appear (LF or CRLF): the caller chooses the
 *   line-ending form by what it feeds. A run of more than
 *   MIME_QP_MAX_PENDING_WS trailing-space candidates is flushed as data
 *   (bounded state; only pathological input notices).
 * - 7bit, 8bit and binary copy the input. An unknown encoding cannot be
 *   decoded: mime_decoder_init refuses it (IMAP answers NO [UNKNOWN-CTE],
 *   RFC 3516 4.3).
 */
#include <stdbool.h>
#include <stddef.h>
#include "buf.h"

enum mime_cte {
	MIME_CTE_7BIT = 0,	/* also the default when the field is absent */
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_QP,
	MIME_CTE_BASE64,
	MIME_CTE_UNKNOWN,
};

/* Parse a Content-Transfer-Encoding value (case-insensitive, surrounding
 * whitespace and comments-free tokens only; RFC 2045 6.1). An empty value
 * is 7bit; anything unrecognised is MIME_CTE_UNKNOWN. */
enum mime_cte mime_cte_parse(slice_t value);
/* Lowercase name of a known encoding ("7bit", "base64", ...), NULL for
 * MIME_CTE_UNKNOWN. */
const char *mime_cte_name(enum mime_cte cte);

#define MIME_QP_MAX_PENDING_WS 1024

struct mime_decoder {
	enum mime_cte cte;
	bool invalid;		/* input was not clean; output is best effort */
	int state;
	unsigned int bits;	/* base64: accumulated 6-bit groups */
	int count;		/* base64: characters in the current group */
	char hex1;		/* qp: first hex digit after '=' */
	size_t ws_len;		/* qp: pending whitespace */
	char ws[MIME_QP_MAX_PENDING_WS];
};

/* Start decoding `cte`. Returns 0, or -1 for MIME_CTE_UNKNOWN. */
int mime_decoder_init(struct mime_decoder *d, enum mime_cte cte);
/* Decode in[0..len) and append to out. Returns 0, or -1 when out's maximum
 * was reached (out then holds what fitted; the decoder must not be fed
 * again). */
int mime_decoder_feed(struct mime_decoder *d, const void *in, size_t len,
		      buf_t *out);
/* Flush the state left at the end of the input. Returns 0 or -1 as above. */
int mime_decoder_finish(struct mime_decoder *d, buf_t *out);

/* One-shot: init + feed + finish. Returns 0, or -1 for an unknown encoding
 * or a full buffer. *invalid_r (may be NULL) reports unclean input. */
int mime_decode(enum mime_cte cte, const void *in, size_t len, buf_t *out,
		bool *invalid_r);

#endif
