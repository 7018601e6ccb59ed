#ifndef YOUJU_RFC2047_H
#define YOUJU_RFC2047_H
/*
 * Header text in other charsets: RFC 2047 encoded words, RFC 2045 / RFC 2231
 * MIME parameters, and charset-to-UTF-8 conversion with glibc iconv.
 *
 * Everything here is a pure function of its input bytes; output goes to a
 * caller's buf_t whose maximum bounds memory. Work is linear in the input:
 * an encoded word is recognised in one forward scan, and the number of
 * iconv conversions opened per call is capped (RFC2047_MAX_CHARSETS).
 *
 * Decisions:
 * - Encoded words (RFC 2047 2): "=?charset?B?text?=" or "?Q?", the charset
 *   optionally followed by "*language" (RFC 2231 5), which is ignored. The
 *   charset is at most RFC2047_MAX_CHARSET_LEN octets; the text may not
 *   contain '?' or whitespace. Words longer than the 75 octets of RFC 2047
 *   2 are accepted (real mailers write them). Encoded words are recognised
 *   anywhere, also inside other text ("a=?utf-8?q?b?=c"), as most readers
 *   do; whitespace between two adjacent encoded words is dropped (RFC 2047
 *   6.2). Adjacent words in one charset are converted together, so a
 *   multi-byte character split across words survives.
 * - Unknown charsets (iconv_open fails) and words past the charset cap are
 *   left as their raw text. Invalid byte sequences become U+FFFD. Text
 *   outside encoded words is copied unchanged (raw 8-bit headers, RFC 6532,
 *   are usually UTF-8 already).
 * - Parameters (RFC 2045 5.1): "; name=value" with token or quoted-string
 *   values; comments are skipped; an unquoted value runs to the next
 *   whitespace, ';' or end (so "name=a b" keeps "a", as RFC 2045 reads
 *   it). A parameter without '=' or with an empty name is skipped. Names
 *   keep their case; lookups are case-insensitive.
 * - RFC 2231 3: "name*0", "name*1", ... are joined in numeric order up to
 *   the first missing number; "name*" and "name*N*" values are
 *   charset'language'percent-encoded. A joined parameter whose first
 *   section is extended keeps the RFC 2231 form in `value` (as IMAP
 *   BODYSTRUCTURE passes it on, with plain later sections percent-escaped
 *   where needed) and is marked `extended`; rfc2231_param_decode gives the
 *   UTF-8 text. Joining sorts the sections, O(n log n), with at most
 *   RFC2231_MAX_PARAMS parameters per header (the rest are ignored).
 */
#include <stdbool.h>
#include <stddef.h>
#include "buf.h"

#define RFC2047_MAX_CHARSET_LEN 64
#define RFC2047_MAX_CHARSETS 64		/* iconv_open calls per decode */
#define RFC2231_MAX_PARAMS 20000
#define RFC2231_MAX_SECTION 99999	/* largest "name*N" number accepted */

/* Decode encoded words in a header value (folded or not: line breaks are
 * handled as whitespace) and append UTF-8 to out. Returns 0, or -1 if out's
 * maximum was reached (out holds a prefix). */
int rfc2047_decode(slice_t in, buf_t *out);

/* Convert in (in `charset`, case-insensitive; NULL or "" means US-ASCII)
 * to UTF-8 and append to out. Invalid sequences become U+FFFD. Returns 0,
 * -1 if out's maximum was reached, or -2 if the charset is unknown (out is
 * then unchanged). UTF-8 and US-ASCII input is validated without iconv. */
int rfc2047_charset_to_utf8(const char *charset, slice_t in, buf_t *out);

/* Append in to out, replacing each invalid UTF-8 sequence (RFC 3629:
 * overlongs, surrogates, > U+10FFFF, truncated) with U+FFFD. */
int rfc2047_utf8_sanitize(slice_t in, buf_t *out);

struct rfc2231_param {
	char *name;	/* without any "*N" / "*" suffix, case as in the header */
	char *value;	/* unquoted; RFC 2231 encoded form if `extended` */
	size_t value_len;	/* values may hold NUL bytes */
	bool extended;
};

/* Parse the "; name=value" list of a Content-Type or Content-Disposition
 * value. Parsing starts at the first ';' of `in` (quoted strings and
 * comments respected), so the caller may pass the whole value or the part
 * after the type. Returns the number of parameters; *params_r is a malloc'd
 * array (NULL when 0): first the plain parameters in header order, then
 * the RFC 2231 ones (sectioned or extended) in the order of their first
 * section, as Dovecot orders them in BODYSTRUCTURE; each name and value
 * malloc'd. Free with rfc2231_params_free. */
size_t rfc2231_parse_params(slice_t in, struct rfc2231_param **params_r);
void rfc2231_params_free(struct rfc2231_param **params, size_t count);

/* First parameter named `name` (case-insensitive), or NULL. */
const struct rfc2231_param *
rfc2231_param_find(const struct rfc2231_param *params, size_t count,
		   const char *name);

/* The parameter's value as UTF-8: percent-decoded and converted from its
 * declared charset when extended (unknown charset: the decoded bytes are
 * sanitized as UTF-8), otherwise RFC 2047 encoded words decoded (common in
 * the wild for filenames, though RFC 2047 5 forbids them there). Returns 0
 * or -1 if out is full. */
int rfc2231_param_decode(const struct rfc2231_param *param, buf_t *out);

#endif
