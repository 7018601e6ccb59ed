#ifndef YOUJU_IMAP_UTF7_H
#define YOUJU_IMAP_UTF7_H
/*
 * Modified UTF-7 for mailbox names (RFC 3501 5.1.3, RFC 9051 5.1.3 and
 * its "&" rule), and a strict UTF-8 check (RFC 3629).
 *
 * Only the canonical encoding is accepted, so every valid name has exactly
 * one spelling and decode-then-encode gives back the same octets (two
 * spellings of one folder would be two names for one Maildir directory):
 *  - printable US-ASCII (0x20-0x7e) other than "&" stands for itself and must
 *    not be base64-encoded; "&" is written "&-";
 *  - everything else is "&" + modified base64 (RFC 3501: "," for "/", no
 *    "=" padding) of UTF-16BE + "-"; the "-" is always required;
 *  - the unused bits at the end of a base64 run are zero and fewer than 6;
 *  - two encoded runs are never adjacent ("&AOQ-&APY-" must be "&AOQA9g-");
 *  - surrogates come in pairs; U+0000 is never allowed (names are C strings).
 * Octets outside 0x20-0x7e are invalid in modified UTF-7 text.
 */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Decode in[0..len) and append UTF-8 to out. Returns 0, or -1 when the
 * input is not canonical modified UTF-7 (e.g. "&AGE" without "-", bad
 * base64, an encoded printable character, an unpaired surrogate, nonzero
 * trailing bits) or out would pass its maximum; out is then unchanged. */
int imap_utf7_to_utf8(const char *in, size_t len, buf_t *out);

/* Encode UTF-8 in[0..len) and append modified UTF-7 to out. Returns 0, or
 * -1 on invalid UTF-8 (overlong forms, surrogates, > U+10FFFF, truncated),
 * a NUL, or out's maximum; out is then unchanged. */
int imap_utf8_to_utf7(const char *in, size_t len, buf_t *out);

/* Whether in[0..len) is canonical modified UTF-7 (as imap_utf7_to_utf8). */
bool imap_utf7_is_valid(const char *in, size_t len);

/* Whether in[0..len) is well-formed UTF-8 (RFC 3629; NUL counts as valid). */
bool imap_utf8_is_valid(const char *in, size_t len);

#endif
