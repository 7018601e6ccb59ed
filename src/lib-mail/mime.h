#ifndef YOUJU_MIME_H
#define YOUJU_MIME_H
/*
 * MIME structure (RFC 2045, RFC 2046): a message's part tree with offsets,
 * sizes and the MIME header fields of every part, for IMAP FETCH BODY[...],
 * BODYSTRUCTURE, BINARY and SEARCH.
 *
 * Input is a whole message as one byte range (the store maps or reads the
 * file); the parser is a single forward pass over it, with no recursion
 * (an explicit stack bounded by max_depth) and O(1) work per byte, so any
 * input costs linear time and bounded stack. The tree it returns owns its
 * strings; it keeps no pointer into the message except `data` (used only by
 * the helpers below and by imap_bodystructure_write, which re-reads the
 * headers of embedded messages for their ENVELOPE).
 *
 * Offsets and sizes:
 * - *_offset and *_size are byte positions in the message as given, so the
 *   store can slice its LF-ended Maildir file directly.
 * - *_size_crlf is the size of the same range with every bare LF made CRLF
 *   (IMAP sizes, RFC 3501 2.3.4: RFC822.SIZE counts CRLF). For CRLF input
 *   both are equal. *_lines counts LF bytes (as Dovecot does: a last line
 *   without a line break is not counted).
 *
 * The tree (as Dovecot's, matching IMAP part numbering, RFC 3501 6.4.5):
 * - The root is the message: its header is the message header and its body
 *   everything after it.
 * - A multipart part has its body parts as children (MIME_PART_MULTIPART).
 * - A message/rfc822 or message/global part (RFC 2046 5.2.1, RFC 6532 3.7)
 *   has exactly one child, the embedded message, whose header starts at the
 *   part's body (MIME_PART_MESSAGE).
 * - Every other part is a leaf.
 *
 * Decisions:
 * - Boundaries (RFC 2046 5.1.1): a line "--" boundary, optionally followed
 *   by "--" (close delimiter), then only spaces or tabs. A boundary line of
 *   any enclosing multipart ends all parts inside it. The line break before
 *   a boundary line belongs to the boundary, so a body just before it ends
 *   without that line break; but the line break that ends a close
 *   delimiter line stays with it ("--in--\n--out": the part holding the
 *   inner multipart ends after "\n", as Dovecot counts). Lines that only
 *   start with a boundary ("--b garbage") are not boundaries (Dovecot
 *   matches prefixes; RFC 2046 5.1.1 does not). A boundary line inside a
 *   part's header ends the header (the part then has an empty body). A
 *   missing close delimiter is fine (the multipart ends with its parent
 *   or the message). A child never reaches past its parent: if a header
 *   ran up to a boundary line (taking the line break before it), the
 *   enclosing parts end there too. Boundaries longer than
 *   MIME_MAX_BOUNDARY_LEN are ignored; a multipart without a usable
 *   boundary has no children.
 * - Defaults (RFC 2045 5.2): no or unparsable Content-Type is text/plain
 *   (type and subtype here are then "text" and "plain" and
 *   MIME_PART_DEFAULT_TYPE is set), except in multipart/digest, where it is
 *   message/rfc822 (RFC 2046 5.1.5).
 * - message/rfc822 and message/global are parsed as embedded messages only
 *   with the encodings RFC 2046 5.2.1 allows (7bit, 8bit, binary; absent);
 *   one in base64 or quoted-printable stays a leaf (nothing is decoded to
 *   look inside: MIME-3).
 * - Limits (struct mime_limits, 0 = default): a multipart or message part
 *   at nesting level max_depth (the root is level 1, part->depth 0, as
 *   Dovecot counts) is a leaf with MIME_PART_LIMIT (MIME-1, MIME-3). The
 *   part that makes the count reach max_parts is a leaf with
 *   MIME_PART_LIMIT, and boundaries are no longer looked for, so it and
 *   its ancestors extend to the end of the message (MIME-2). Header limits
 *   are those of rfc5322.h, per part.
 * - Header values are stored unfolded (CR/LF removed, leading whitespace
 *   dropped) and clipped at MIME_MAX_VALUE_LEN; parameters as rfc2047.h
 *   describes (RFC 2231 joined, extended form kept). When a field appears
 *   twice, the first one counts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "mime-decode.h"
#include "rfc5322.h"

#define MIME_DEFAULT_MAX_DEPTH 100
#define MIME_DEFAULT_MAX_PARTS 10000
#define MIME_MAX_BOUNDARY_LEN 1000
#define MIME_MAX_VALUE_LEN 65536
#define MIME_MAX_LANGUAGES 100

struct mime_limits {
	unsigned int max_depth;
	unsigned int max_parts;
	struct rfc5322_limits header;
};

#define MIME_PART_MULTIPART 0x01	/* children are the body parts */
#define MIME_PART_MESSAGE 0x02		/* one child: the embedded message */
#define MIME_PART_LIMIT 0x04		/* structure not parsed: limits */
#define MIME_PART_DEFAULT_TYPE 0x08	/* no usable Content-Type */
#define MIME_PART_HAS_MIME_VERSION 0x10

struct mime_param {
	slice_t name;		/* without "*" suffixes */
	slice_t value;		/* RFC 2231 form if extended */
	bool extended;		/* IMAP writes the name with a trailing '*' */
};

struct mime_part {
	struct mime_part *parent, *children, *next;
	unsigned int flags;
	unsigned int depth;

	size_t hdr_offset, hdr_size, hdr_size_crlf, hdr_lines;
	size_t body_offset, body_size, body_size_crlf, body_lines;

	/* MIME fields; slices with .ptr == NULL when absent. Strings may hold
	 * any bytes except CR and LF. */
	slice_t type, subtype;			/* RFC 2045 5.1, case kept */
	struct mime_param *params;		/* Content-Type parameters */
	size_t params_count;
	slice_t id;				/* RFC 2045 7 */
	slice_t description;			/* RFC 2045 8 */
	slice_t encoding;			/* RFC 2045 6, as written */
	enum mime_cte cte;
	slice_t disposition;			/* RFC 2183 */
	struct mime_param *disp_params;
	size_t disp_params_count;
	slice_t *languages;			/* RFC 3282 */
	size_t languages_count;
	slice_t location;			/* RFC 2557 4.2 */
	slice_t md5;				/* RFC 1864 */
};

struct mime_arena;

struct mime_message {
	const char *data;
	size_t size;
	struct mime_part *root;
	size_t part_count;
	bool limit_hit;		/* some part has MIME_PART_LIMIT */
	struct mime_arena *arena;
};

/* Parse data[0..size). limits may be NULL. Never fails: any bytes give a
 * tree. Free with mime_message_destroy. data must stay valid while the
 * helpers below or imap_bodystructure_write are used. */
struct mime_message *mime_parse(const char *data, size_t size,
				const struct mime_limits *limits);
void mime_message_destroy(struct mime_message **msg);

/* Case-insensitive type checks on a part. */
bool mime_part_is(const struct mime_part *part, const char *type,
		  const char *subtype /* NULL: any */);
/* First Content-Type parameter named `name`, or NULL. */
const struct mime_param *mime_part_param(const struct mime_part *part,
					 const char *name);

static inline slice_t mime_part_header(const struct mime_message *msg,
				       const struct mime_part *part)
{
	return slice_make(msg->data + part->hdr_offset, part->hdr_size);
}

static inline slice_t mime_part_body(const struct mime_message *msg,
				     const struct mime_part *part)
{
	return slice_make(msg->data + part->body_offset, part->body_size);
}

/* IMAP section numbers (RFC 3501 6.4.5): nums[0..n) as in "1.2.3". n == 0
 * gives the root. In a non-multipart message only "1" exists and is the
 * root itself; after a message/rfc822 part, further numbers address the
 * parts of the embedded message. Returns NULL if no such part. For
 * ".HEADER"/".TEXT" of a message/rfc822 part use its child. */
const struct mime_part *mime_part_by_section(const struct mime_message *msg,
					     const uint32_t *nums, size_t n);

#endif
