#ifndef YOUJU_IMAP_WRITE_H
#define YOUJU_IMAP_WRITE_H
/*
 * Writing strings into IMAP responses (RFC 9051 4.3, 9), choosing the
 * form the receiver reads back as exactly the same octets:
 *  - atom: for astrings of 1..IMAP_WRITE_QUOTED_MAX ASTRING-CHARs other
 *    than "[" (a section opener for FETCH-aware readers), except "NIL" in
 *    any case (it would read as NIL in nstring positions);
 *  - quoted: printable US-ASCII (0x20-0x7e) without DQUOTE and "\", up to
 *    IMAP_WRITE_QUOTED_MAX octets; with IMAP_WRITE_UTF8 (the client sent
 *    ENABLE UTF8=ACCEPT, RFC 9051 / RFC 6855 3) also valid UTF-8. Strings
 *    with DQUOTE or "\" go as literals rather than escaped, which every
 *    client reads the same way;
 *  - literal "{n}" CRLF octets: everything else (CR, LF, controls, 8-bit,
 *    long strings). A literal cannot carry NUL (RFC 9051 CHAR8): strings
 *    with NUL are refused; use imap_write_literal8 where the grammar allows
 *    it (FETCH BINARY[], RFC 3516) or clean the value first.
 * Every function appends to out and returns 0, or -1 with out unchanged
 * (out's maximum reached, or a value that cannot be written).
 */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define IMAP_WRITE_UTF8 0x1	/* UTF8=ACCEPT is enabled on this session */

#define IMAP_WRITE_QUOTED_MAX 1024

/* astring: atom, quoted or literal. */
int imap_write_astring(buf_t *out, const char *s, size_t len, unsigned flags);
/* string: quoted or literal (never an atom), e.g. ENVELOPE fields. */
int imap_write_string(buf_t *out, const char *s, size_t len, unsigned flags);
/* nstring: NIL when s is NULL, else as imap_write_string. */
int imap_write_nstring(buf_t *out, const char *s, size_t len, unsigned flags);
/* "{len}" CRLF + s; -1 if s contains NUL. */
int imap_write_literal(buf_t *out, const char *s, size_t len);
/* "~{len}" CRLF + s (RFC 3516 4.2), any octets. */
int imap_write_literal8(buf_t *out, const char *s, size_t len);

/* A mailbox name given in UTF-8: as UTF-8 astring with IMAP_WRITE_UTF8,
 * otherwise encoded in modified UTF-7 (RFC 3501 5.1.3). -1 on invalid
 * UTF-8 or NUL. */
int imap_write_mailbox_name(buf_t *out, const char *name, size_t len, unsigned flags);

/* Whether s is a flag that can be written: a system flag "\" atom, a
 * keyword (atom, RFC 9051 9 flag-keyword), or "\*" (flag-perm). */
bool imap_flag_is_valid(const char *s);
/* "(" flags separated by SP ")"; -1 if one is not valid. */
int imap_write_flags(buf_t *out, const char *const *flags, size_t count);

#endif
