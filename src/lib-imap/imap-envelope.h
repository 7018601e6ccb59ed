#ifndef YOUJU_IMAP_ENVELOPE_H
#define YOUJU_IMAP_ENVELOPE_H
/*
 * IMAP ENVELOPE (RFC 3501 7.4.2, RFC 9051 7.5.2) from a parsed header.
 *
 * Output is the complete "envelope" production, parentheses included:
 *   (date subject from sender reply-to to cc bcc in-reply-to message-id)
 * The store caches this string, so FETCH never re-parses.
 *
 * Decisions (Dovecot 2.3 is the reference; differences are marked):
 * - Date, In-Reply-To, Message-ID: the raw value unfolded (line breaks
 *   removed, leading whitespace dropped, the rest as is). Subject: also
 *   whitespace runs squeezed to one space and trailing space dropped.
 *   Encoded words are not decoded (clients do that).
 * - A field given more than once: for the single-valued ones the last one
 *   counts (as Dovecot); address fields are joined in header order.
 * - An absent field is NIL, an empty one "" (as Dovecot); an address
 *   field without addresses is NIL. Sender and Reply-To that are absent
 *   or hold no address default to From (RFC 3501 7.4.2).
 * - Addresses as rfc5322_address_parse gives them; a missing local part is
 *   written "MISSING_MAILBOX" and a missing domain "MISSING_DOMAIN" (as
 *   Dovecot), since NIL there would mean a group marker. Groups become
 *   (NIL NIL "name" NIL) ... (NIL NIL NIL NIL). Display names are squeezed
 *   like the subject. At most RFC5322_DEFAULT_MAX_ADDRESSES per field.
 * - Strings are quoted ("\"" and "\\" escaped) unless they hold 8-bit
 *   bytes, CR, LF or NUL, or are longer than IMAP_STRING_QUOTED_MAX: then
 *   a literal. NUL (not allowed in IMAP strings) is written as U+FFFD.
 *   (Dovecot also uses a literal for '"' and '\\'.)
 */
#include <stdbool.h>
#include "buf.h"
#include "rfc5322.h"

#define IMAP_STRING_QUOTED_MAX 1024

/* Append the ENVELOPE of header h. Returns 0, or -1 if out's maximum was
 * reached (out is then restored to its old length). */
int imap_envelope_write(const struct rfc5322_header *h, buf_t *out);

/* Convenience: parse the header at the start of data[0..len) and write its
 * ENVELOPE. */
int imap_envelope_write_data(const char *data, size_t len, buf_t *out);

/* The IMAP string writer used here and by imap-bodystructure.c:
 * s.ptr == NULL writes NIL, otherwise a quoted string or literal as above.
 * Returns 0 or -1 if out is full. */
int imap_envelope_append_nstring(buf_t *out, slice_t s);

#endif
