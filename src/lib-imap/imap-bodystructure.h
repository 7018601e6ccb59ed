#ifndef YOUJU_IMAP_BODYSTRUCTURE_H
#define YOUJU_IMAP_BODYSTRUCTURE_H
/*
 * IMAP BODY and BODYSTRUCTURE (RFC 3501 7.4.2, RFC 9051 7.5.2) from a MIME
 * part tree (mime.h).
 *
 * Output is the complete "body" production with its parentheses. Sizes are
 * the CRLF-form sizes (body_size_crlf) and line counts are body_lines, so
 * LF-ended and CRLF-ended copies of a message give the same text.
 *
 * Decisions (Dovecot 2.3 is the reference; differences are marked):
 * - Type, subtype, parameter names and values, encoding and disposition
 *   are written as the message has them (case kept). Defaults: "text"
 *   "plain"; a text part without a charset parameter gets "charset"
 *   "us-ascii" appended to its parameters (RFC 2045 5.2, as Dovecot);
 *   "7bit" encoding. An unparsable Content-Type is text/plain (RFC 2045
 *   5.2; Dovecot writes the broken type with an empty subtype).
 * - message/global is parsed and written like message/rfc822 (RFC 6532
 *   3.7, RFC 9051 body-type-msg); Dovecot 2.3 writes it as a basic part.
 * - RFC 2231 parameters are written joined, name with a trailing '*' when
 *   extended ("filename*" "utf-8''%E2%82%AC"), after the plain ones.
 *   (Dovecot joins a plain continuation section into an extended value
 *   without percent-escaping it; we escape, as RFC 2231 requires.)
 * - message/rfc822 and message/global parts are written in the
 *   body-type-msg form; when the embedded message was not parsed (an
 *   encoding other than 7bit/8bit/binary), its envelope is all NIL and its
 *   body an empty text/plain, as Dovecot does.
 * - A multipart without body parts (no usable boundary, or no boundary
 *   line) is written with one empty text/plain part (the grammar needs
 *   one; Dovecot does the same). A multipart or message part that was not
 *   parsed because of a limit (MIME_PART_LIMIT) is written as a basic part
 *   of type application/octet-stream with its own parameters and size, as
 *   Dovecot does (Dovecot writes size 0 for the multipart case).
 * - Extension data: BODYSTRUCTURE adds, for single parts, md5, disposition,
 *   language (always a parenthesized list), location; for multiparts,
 *   parameters, disposition, language, location. BODY has none.
 * - Strings use imap_envelope_append_nstring (quoted, or a literal for
 *   8-bit, CR, LF, NUL).
 * The tree is walked with an explicit stack: depth is bounded by the MIME
 * parser's max_depth but no recursion is used either way.
 */
#include <stdbool.h>
#include "buf.h"
#include "mime.h"

/* Append the BODYSTRUCTURE (extended) or BODY (!extended) of msg. Returns
 * 0, or -1 if out's maximum was reached (out restored). msg->data must be
 * the message the tree was parsed from (embedded headers are re-read for
 * their ENVELOPE). */
int imap_bodystructure_write(const struct mime_message *msg, bool extended,
			     buf_t *out);

#endif
