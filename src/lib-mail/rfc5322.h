#ifndef YOUJU_RFC5322_H
#define YOUJU_RFC5322_H
/*
 * Internet Message Format (RFC 5322): header fields, address lists, dates.
 *
 * Pure functions of bytes: no I/O, no globals, every limit checked inside.
 *
 * == Header parser ==
 * Resumable over a growing buffer: the caller passes the header bytes
 * received so far, always from the header's first byte (the buffer may move
 * between calls: only offsets are kept). Each call looks only at bytes it has
 * not seen, so feeding a header one byte at a time is linear. Results are
 * offsets relative to that first byte; slices are made from the pointer the
 * last call got.
 *
 * Decisions:
 * - Lines end in LF or CRLF; both may be mixed. A CR not before LF is data.
 * - A line starting with SP or HTAB continues the previous field (RFC 5322
 *   2.2.3); the raw value keeps the line breaks (rfc5322_unfold drops them).
 * - The header ends after the first empty line (which belongs to the
 *   header: IMAP BODY[HEADER] includes it), at the end of the input, or
 *   before a line the optional stop callback accepts (the MIME parser passes
 *   one that matches boundaries, RFC 2046 5.1.1, so a part with no blank
 *   line before the next boundary has an empty body).
 * - The field name is everything before the first ':' of the line, minus
 *   trailing whitespace (obs-optional, RFC 5322 4.5). Names and values may
 *   hold 8-bit bytes and NULs: they are kept, never cut (slices carry
 *   lengths). A line without ':' does not end the header (as Dovecot, so
 *   BODY[TEXT] offsets agree): it is kept as a field flagged
 *   RFC5322_FIELD_NO_COLON whose name is the whole line, and name lookups
 *   skip it.
 * - Limits (struct rfc5322_limits, 0 = default): fields after the first
 *   max_fields, or starting past max_header_size bytes, are not recorded
 *   (`truncated` is set) but the scan goes on to find the body, without
 *   allocating. A value longer than max_value_len is clipped for parsing
 *   (RFC5322_FIELD_CLIPPED); the field's raw range is always complete.
 *   Field lookup is a linear scan (no hash table to attack: MIME-8).
 *
 * == Sizes ==
 * `size` counts the bytes as given; `lf_count` the line feeds and `bare_lf`
 * those without a CR before them, so the size of the CRLF form that IMAP
 * reports (Maildir files have LF line ends) is size + bare_lf.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "buf.h"

#define RFC5322_DEFAULT_MAX_FIELDS 50000
#define RFC5322_DEFAULT_MAX_HEADER_SIZE (10 * 1024 * 1024)
#define RFC5322_DEFAULT_MAX_VALUE_LEN (1024 * 1024)
#define RFC5322_DEFAULT_MAX_ADDRESSES 10000

struct rfc5322_limits {
	size_t max_fields;
	size_t max_header_size;
	size_t max_value_len;
};

#define RFC5322_FIELD_NO_COLON 0x1	/* garbage line kept as a field */
#define RFC5322_FIELD_CLIPPED 0x2	/* value_len stops at max_value_len */

struct rfc5322_field {
	size_t start;		/* first byte of the field name */
	size_t end;		/* just after the field's last line break */
	size_t name_len;	/* name is [start, start + name_len) */
	size_t value_off;	/* just after ':' */
	size_t value_len;	/* up to the last line break, exclusive */
	unsigned int flags;
};

typedef bool rfc5322_stop_fn(void *context, slice_t line);

struct rfc5322_header {
	/* results (valid after every call; final after it returned 1) */
	struct rfc5322_field *fields;
	size_t count;
	size_t size;		/* header bytes including the empty line */
	size_t lf_count;
	size_t bare_lf;
	bool blank_line;	/* ended by an empty line */
	bool truncated;		/* some fields were not recorded */
	const char *base;	/* data pointer of the last call */

	/* parser state */
	struct rfc5322_limits limits;
	size_t alloc;
	size_t pos;		/* start of the first unfinished line */
	size_t scan;		/* bytes of that line already searched for LF */
	bool in_field;		/* fields[count - 1] may still continue */
	bool skipping;		/* current field is not recorded */
	bool done;
	rfc5322_stop_fn *stop;
	void *stop_context;
};

/* Prepare h; limits may be NULL for defaults. */
void rfc5322_header_init(struct rfc5322_header *h,
			 const struct rfc5322_limits *limits);
/* Free the field array; h may be initialised again. */
void rfc5322_header_deinit(struct rfc5322_header *h);
/* Lines starting with "--" are offered to stop(); if it returns true, the
 * header ends before that line. Set before the first parse call. */
void rfc5322_header_set_stop(struct rfc5322_header *h, rfc5322_stop_fn *stop,
			     void *context);
/* Parse more of the header: data[0..len) is all of it received so far,
 * eof says no more will come. Returns 1 when the header is complete (then
 * h->size is its length and the body starts at data + h->size), 0 when
 * more input is needed. Never fails: garbage is kept as described above. */
int rfc5322_header_parse(struct rfc5322_header *h, const char *data,
			 size_t len, bool eof);
/* One-shot convenience: init + parse(eof = true). */
void rfc5322_header_parse_all(struct rfc5322_header *h, const char *data,
			      size_t len, const struct rfc5322_limits *limits);

slice_t rfc5322_field_name(const struct rfc5322_header *h,
			   const struct rfc5322_field *f);
/* Raw value after ':', line breaks of folding included (clipped if
 * RFC5322_FIELD_CLIPPED). */
slice_t rfc5322_field_value(const struct rfc5322_header *h,
			    const struct rfc5322_field *f);
/* The whole field with its final line break (for HEADER.FIELDS). */
slice_t rfc5322_field_raw(const struct rfc5322_header *h,
			  const struct rfc5322_field *f);
/* Index of the first field at or after `from` named `name`
 * (case-insensitive), or SIZE_MAX. */
size_t rfc5322_header_find(const struct rfc5322_header *h, const char *name,
			   size_t from);

/* Unfold (RFC 5322 2.2.3: CR and LF removed) and drop leading whitespace.
 * With `squeeze`, runs of whitespace also become one space and trailing
 * whitespace goes (Dovecot's form for ENVELOPE subjects and names). NUL
 * bytes are kept. Appends to out; returns 0 or -1 if out is full. */
int rfc5322_unfold(slice_t value, bool squeeze, buf_t *out);

/*
 * == Address lists (RFC 5322 3.4, obsolete forms 4.4) ==
 * Parsed for IMAP ENVELOPE, so the parser never fails: whatever it cannot
 * make sense of still yields an entry, with absent parts NULL.
 * - A mailbox entry has mailbox (local part, quotes removed), domain,
 *   optional display name and optional obsolete route ("@a,@b").
 * - The display name is the phrase with quotes and backslashes removed and
 *   words joined by single spaces; encoded words stay as they are (IMAP
 *   clients decode them, RFC 3501 7.4.2). With no phrase, a comment after
 *   the address becomes the name ("a@b (Name)", as RFC 822 mail did).
 * - "name: a, b;" gives GROUP_START (mailbox = group name), the members, and
 *   GROUP_END; a group missing its ';' is closed at the end.
 * - "<>" and "@x" have no mailbox; "x" and "x@" no domain.
 * - At most max_addresses entries (group markers included; a group is
 *   only started when its end marker fits too, and a group cut by the cap
 *   still gets its end marker); the rest is dropped and `truncated` set.
 *   Each entry's strings are copies, so memory is bounded by the input and
 *   the cap; time is linear.
 */
struct rfc5322_chunk;

enum rfc5322_addr_kind {
	RFC5322_ADDR_MAILBOX,
	RFC5322_ADDR_GROUP_START,
	RFC5322_ADDR_GROUP_END,
};

struct rfc5322_address {
	enum rfc5322_addr_kind kind;
	/* .ptr == NULL when absent; may contain any bytes */
	slice_t name;
	slice_t route;
	slice_t mailbox;
	slice_t domain;
};

struct rfc5322_address_list {
	struct rfc5322_address *addrs;
	size_t count;
	size_t alloc;
	bool truncated;
	struct rfc5322_chunk *chunks;	/* storage for the slices above */
};

/* Parse value (raw, possibly folded) and append the entries to list, which
 * must be zeroed or hold earlier results (ENVELOPE joins repeated fields).
 * max_addresses 0 means RFC5322_DEFAULT_MAX_ADDRESSES, counted over the
 * whole list. */
void rfc5322_address_parse(slice_t value, size_t max_addresses,
			   struct rfc5322_address_list *list);
void rfc5322_address_list_free(struct rfc5322_address_list *list);

/*
 * == Dates (RFC 5322 3.3, obsolete 4.3) ==
 * "[day-name ,] day month year hour:minute[:second] zone". Accepted beyond
 * the strict grammar: any case, comments, missing day name, 2- and 3-digit
 * years (RFC 5322 4.3: < 50 is 20xx, else 19xx), missing seconds, a '.'
 * between time fields, the obsolete zones (UT, GMT, EST...; military
 * letters are taken as -0000, RFC 5322 4.3), and a missing zone (taken as
 * +0000). Leap second 60 is accepted. Returns 0 and sets the UTC time and
 * the zone offset in minutes east of UTC, or -1.
 */
int rfc5322_date_parse(slice_t value, time_t *time_r, int *tz_offset_r);

#endif
