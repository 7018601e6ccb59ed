#ifndef YOUJU_IMAP_FETCH_PARSE_H
#define YOUJU_IMAP_FETCH_PARSE_H
/*
 * FETCH attributes and modifiers (RFC 9051 6.4.5 and 9, RFC 3501 6.4.5,
 * RFC 3516 BINARY, RFC 7162 CHANGEDSINCE / VANISHED / MODSEQ), parsed from
 * the argument tree of imap-parser.h into a request the FETCH command
 * executes. Pure: no I/O, no globals.
 *
 * The IMAP parser hands a section over as part of one atom, e.g.
 * "BODY.PEEK[HEADER.FIELDS (FROM \"To\")]<0.1024>" (brackets, spaces and
 * quoted strings included); imap_fetch_parse_item() reads that grammar:
 *   fetch-att  = ENVELOPE / FLAGS / INTERNALDATE / RFC822.SIZE / UID /
 *                MODSEQ / BODY / BODYSTRUCTURE / RFC822 / RFC822.HEADER /
 *                RFC822.TEXT / BODY[.PEEK] section [partial] /
 *                BINARY[.PEEK] section-binary [partial] /
 *                BINARY.SIZE section-binary
 *   section    = "[" [section-part ["." section-text] / section-msgtext] "]"
 *   section-text = HEADER / HEADER.FIELDS[.NOT] SP header-list / TEXT / MIME
 *                (MIME only after a part number)
 *   section-binary = "[" [section-part] "]"
 *   partial    = "<" number64 "." nz-number64 ">"
 * Keywords are case-insensitive. Header field names are astrings (atom or
 * quoted string; literals cannot occur inside an atom) and must be RFC 5322
 * field names (printable US-ASCII without ':'); they are kept upper-cased.
 *
 * Decisions:
 *  - The macros ALL, FAST and FULL are accepted only alone, as RFC 9051
 *    writes the grammar; an empty list "()" is an error.
 *  - Part numbers are nz-number (1 .. 2^32-1, no leading zero), at most
 *    IMAP_FETCH_MAX_PARTS of them; deeper paths cannot name a part of any
 *    message youju parses (mime_max_depth is at most 1000).
 *  - Partial offsets and lengths are number64 (RFC 9051), read digit by
 *    digit with overflow checks; a zero length is an error.
 *  - Every item keeps its response name, canonical: upper-case keywords,
 *    "BODY.PEEK" answered as "BODY", only the origin of a partial
 *    ("BODY[]<0>"), field names as the client gave them, upper-cased, as
 *    atoms or quoted strings.
 *
 * Errors: -1 with a static *error_r for a BAD reply.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap-parser.h"

#define IMAP_FETCH_MAX_PARTS 1024

enum imap_fetch_att {
	IMAP_FETCH_FLAGS,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_BODY,		/* BODY without a section: BODYSTRUCTURE
					   without extension data */
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_UID,
	IMAP_FETCH_MODSEQ,		/* RFC 7162 3.1.4.1 */
	IMAP_FETCH_BODY_SECTION,	/* BODY[...] and BODY.PEEK[...] */
	IMAP_FETCH_BINARY,		/* BINARY[...] and BINARY.PEEK[...] */
	IMAP_FETCH_BINARY_SIZE,
	IMAP_FETCH_RFC822,		/* = BODY[] */
	IMAP_FETCH_RFC822_HEADER,	/* = BODY.PEEK[HEADER] */
	IMAP_FETCH_RFC822_TEXT,		/* = BODY[TEXT] */
};

/* What follows the part numbers of a section. */
enum imap_fetch_text {
	IMAP_FETCH_TEXT_NONE,		/* "" (whole message) or a part's body */
	IMAP_FETCH_TEXT_HEADER,
	IMAP_FETCH_TEXT_FIELDS,		/* HEADER.FIELDS (...) */
	IMAP_FETCH_TEXT_FIELDS_NOT,	/* HEADER.FIELDS.NOT (...) */
	IMAP_FETCH_TEXT_TEXT,
	IMAP_FETCH_TEXT_MIME,		/* only with part numbers */
};

struct imap_fetch_section {
	uint32_t *parts;		/* "1.2.3": {1, 2, 3}; NULL when none */
	size_t nparts;
	enum imap_fetch_text text;
	char **fields;			/* FIELDS / FIELDS_NOT: upper-cased names */
	size_t nfields;
};

struct imap_fetch_item {
	enum imap_fetch_att att;
	bool peek;			/* BODY.PEEK / BINARY.PEEK */
	struct imap_fetch_section section;	/* BODY_SECTION, BINARY* */
	bool partial;
	uint64_t partial_offset, partial_len;
	char *name;			/* the response name (see above) */
};

struct imap_fetch_request {
	struct imap_fetch_item *items;
	size_t count;
	/* summary of the items */
	bool sets_seen;			/* a body item without PEEK (RFC 9051 6.4.5) */
	bool has_uid, has_flags, has_modseq;
	/* modifiers (RFC 7162 3.1.4.1, 3.2.6) */
	bool changedsince_set;
	uint64_t changedsince;
	bool vanished;
};

/* One attribute from its atom text s[0..len). *item_r is filled (free
 * with imap_fetch_item_free) on success and left empty on error. */
int imap_fetch_parse_item(const char *s, size_t len, struct imap_fetch_item *item_r,
			  const char **error_r);
void imap_fetch_item_free(struct imap_fetch_item *item);

/* The attribute argument of FETCH: a macro, one attribute atom, or a list
 * of attribute atoms. req must be zeroed (or freed) before. On error req
 * is left empty. */
int imap_fetch_parse_atts(const struct imap_arg *arg, struct imap_fetch_request *req,
			  const char **error_r);
/* The optional modifier list "(CHANGEDSINCE n [VANISHED])" (RFC 7162).
 * VANISHED without CHANGEDSINCE, a modifier given twice and unknown ones
 * are errors. Whether VANISHED is allowed here (UID FETCH with QRESYNC
 * enabled) is for the caller to check. */
int imap_fetch_parse_modifiers(const struct imap_arg *arg, struct imap_fetch_request *req,
			       const char **error_r);
/* Frees the items; req is zeroed and reusable. */
void imap_fetch_request_free(struct imap_fetch_request *req);

#endif
