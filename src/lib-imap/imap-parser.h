#ifndef YOUJU_IMAP_PARSER_H
#define YOUJU_IMAP_PARSER_H
/*
 * IMAP command parser (RFC 9051 2.2, 4 and 9; RFC 3501 9): client bytes in,
 * one command at a time out, as a tag, an upper-cased command name and a
 * tree of arguments.
 *
 * A resumable byte machine: input may arrive in chunks of any size, down to
 * one byte, with identical results. No I/O, no globals. Every limit is
 * checked before memory is committed: literal octets are stored only as they
 * arrive, never reserved from a claimed size, and nothing grows faster than
 * the bytes received (IMAP-1, IMAP-4).
 *
 * Framing (what the parser accepts):
 *  - A line ends at CRLF. A bare LF is also taken as a line end (clients
 *    typed by hand, and Dovecot, do the same; nothing in IMAP is relayed,
 *    so this opens no smuggling). A CR not followed by LF is an error.
 *  - tag: 1*<ASTRING-CHAR except "+"> (RFC 9051 9), then one SP, then the
 *    command name: an atom, upper-cased. "UID FETCH ..." is name "UID" with
 *    the sub-command as the first argument. An empty line is an error.
 *  - Arguments are separated by SP; runs of SP and SP before ")" or before
 *    the line end are tolerated. An argument must be followed by SP, ")" or
 *    the line end, so "a(b)" and "\"x\"\"y\"" are errors.
 *  - ATOM: 1*<CHAR except SP, CTL, "(", ")", "{", DQUOTE>. This is wider than
 *    RFC 9051 atom on purpose: flags (\Seen), sequence sets (1:*), LIST
 *    patterns (%, *), "]" (astring) and "$" all arrive as atoms; the getters
 *    below apply the narrower grammar each position needs. 8-bit octets are
 *    never part of an atom.
 *    An atom may hold bracketed sections: after "[" everything up to the
 *    matching "]" belongs to the atom, including SP, balanced parentheses
 *    (counted against max_depth) and quoted strings (kept raw, escapes
 *    checked). So "BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.1024>" is ONE atom
 *    holding exactly those characters; the FETCH code parses the section.
 *    A "[" that is not closed on its line is an error; mailbox names with an
 *    unbalanced "[" must be quoted.
 *  - STRING: quoted (RFC 9051 9 quoted): escapes \" and \\ only; NUL, CR and
 *    LF are errors (CVE-2019-11500). 8-bit octets are kept (RFC 9051 allows
 *    UTF-8 there); callers validate where it matters.
 *  - LITERAL: "{" number "}" CRLF (synchronizing), "{" number "+}" CRLF
 *    (non-synchronizing, RFC 7888), "~{" number ["+"] "}" CRLF (literal8,
 *    RFC 3516 4.2, RFC 4466 grammar), announced only at the end of a line.
 *    The number is RFC 9051 number64, read digit by digit with overflow
 *    checks; leading zeros are allowed ({00000000001} is 1: the grammar
 *    is 1*DIGIT), "{}", "{-1}" and values above 2^63-1 are errors.
 *    max_literal is clamped to 2^32-1 (RFC 3501 number), so {4294967296} is
 *    always too big. A NUL inside a literal is an error (RFC 9051 CHAR8)
 *    unless it is a literal8: only literal8 strings may contain NUL.
 *  - NIL: the atom NIL (any case) has type IMAP_ARG_NIL; str is still "NIL"
 *    because NIL is also a valid astring (a mailbox may be called NIL).
 *  - LIST: "(" ... ")", nested up to max_depth.
 *
 * Large literals (APPEND) are kept in memory up to max_literal; a streaming
 * hook for message literals may replace this later. Memory held after a
 * large command is released when the next command starts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_STRING,	/* quoted */
	IMAP_ARG_LITERAL,	/* {n}, {n+}, ~{n}, ~{n+} */
	IMAP_ARG_NIL,
	IMAP_ARG_LIST,
	IMAP_ARG_EOL,		/* terminates every argument array */
};

struct imap_arg {
	enum imap_arg_type type;
	bool literal8;		/* LITERAL sent as ~{n} (may contain NUL) */
	/* ATOM, NIL, STRING, LITERAL: the value with quoting and escapes
	 * removed, NUL-terminated; len excludes the NUL. Only a literal8 may
	 * contain NUL octets. NULL for LIST and EOL. */
	const char *str;
	size_t len;
	/* LIST: list_count elements followed by an IMAP_ARG_EOL element. */
	const struct imap_arg *list;
	size_t list_count;
};

struct imap_command {
	const char *tag;
	const char *name;		/* upper-cased */
	const struct imap_arg *args;	/* count elements, then IMAP_ARG_EOL */
	size_t count;
};

struct imap_parser_limits {
	/* Octets of command text outside literal data, all lines of one
	 * command together, CRLFs included (e.g. 64 KiB; pre-login 8 KiB). */
	size_t max_line;
	/* Largest single literal (APPENDLIMIT, RFC 7889); clamped to 2^32-1. */
	uint64_t max_literal;
	/* All literal octets of one command (MULTIAPPEND); 0 = max_literal. */
	uint64_t max_literal_total;
	/* List nesting, and parentheses inside an atom's [...] (e.g. 100;
	 * pre-login 8). */
	size_t max_depth;
	/* Arguments in one command, lists and nested ones included. */
	size_t max_args;
	/* LITERAL+ advertised: {n+} may be as large as max_literal. Otherwise
	 * the server offers LITERAL- (part of IMAP4rev2, RFC 9051 4.3):
	 * {n+} is limited to 4096 octets (RFC 7888 4). */
	bool literal_plus;
};

/* Suggested limits before and after login. */
#define IMAP_PARSER_LIMITS_PRELOGIN ((struct imap_parser_limits){ \
	.max_line = 8192, .max_literal = 4096, .max_literal_total = 8192, \
	.max_depth = 8, .max_args = 128, .literal_plus = false })
#define IMAP_PARSER_LIMITS_DEFAULT ((struct imap_parser_limits){ \
	.max_line = 65536, .max_literal = 64u << 20, .max_literal_total = 0, \
	.max_depth = 100, .max_args = 100000, .literal_plus = true })

enum imap_parse_result {
	/* All input was consumed; the command is not complete yet. */
	IMAP_PARSE_NEED_MORE,
	/* A command is complete: imap_parser_command(). */
	IMAP_PARSE_DONE,
	/* A synchronizing literal {n} or ~{n} was announced and the line that
	 * announced it is consumed. Look at imap_parser_literal_size() and
	 * imap_parser_name(), then either imap_parser_literal_accept() and
	 * send "+ ..." (RFC 9051 7.5), or imap_parser_literal_refuse() and send
	 * a tagged NO [TOOBIG] (APPEND, RFC 7889) or BAD: the client then
	 * does not send the literal and the next bytes are a new command.
	 * Until one of the two is called, feed() returns this again and
	 * consumes nothing. */
	IMAP_PARSE_LITERAL_WAIT,
	/* Syntax error or limit hit: imap_parser_error(). */
	IMAP_PARSE_ERROR,
};

enum imap_parse_error {
	IMAP_PARSE_ERR_NONE = 0,
	IMAP_PARSE_ERR_SYNTAX,		/* BAD */
	IMAP_PARSE_ERR_LINE_TOO_LONG,	/* BAD: over max_line */
	IMAP_PARSE_ERR_TOO_DEEP,	/* BAD: over max_depth */
	IMAP_PARSE_ERR_TOO_MANY_ARGS,	/* BAD: over max_args */
	IMAP_PARSE_ERR_LITERAL_TOO_BIG,	/* BAD [TOOBIG]: a {n+} over the limit */
	IMAP_PARSE_ERR_UNFRAMED,	/* a {n+} whose size cannot be read: the
					   end of its data is unknown */
};

struct imap_parser;

/* The limits are copied. */
struct imap_parser *imap_parser_create(const struct imap_parser_limits *lim);
/* Frees everything and sets *p = NULL; NULL-safe. */
void imap_parser_destroy(struct imap_parser **p);
/* New limits (e.g. after login); they apply from the next octet on. */
void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *lim);

/*
 * Parse in[0..len). *consumed_r octets were used; the caller keeps the rest
 * and passes it again (with any new input behind it) on the next call.
 * At most one command is returned per call: after DONE the bytes behind the
 * command are not consumed, so pipelined commands come one call each.
 *
 * After DONE or ERROR the next feed() (or imap_parser_reset()) releases the
 * command; anything obtained from the parser is invalid from then on.
 *
 * ERROR: if imap_parser_error() says in sync, the connection can go on:
 * answer BAD (tagged when imap_parser_tag() is set, else untagged) and keep
 * feeding. The parser itself discards the rest of the failed command:
 * the rest of its line and, when that line announces a {n+} literal, exactly
 * n octets and the line after them, and so on (RFC 7888 4: those octets are
 * never read as commands). While it does so a second, out-of-sync ERROR can
 * come (a later {n+} with an unreadable size). Out of sync: the parser is
 * dead (every call returns ERROR, consuming nothing); close the connection.
 */
enum imap_parse_result imap_parser_feed(struct imap_parser *p, const char *in, size_t len,
					size_t *consumed_r);

/* After DONE: the command. Valid until the next feed() or reset(). */
const struct imap_command *imap_parser_command(const struct imap_parser *p);

/* The tag and upper-cased command name of the current (possibly
 * incomplete or failed) command, or NULL when not read yet. Valid until the
 * next feed() or reset(). Use them to answer ERROR and LITERAL_WAIT. */
const char *imap_parser_tag(const struct imap_parser *p);
const char *imap_parser_name(const struct imap_parser *p);

/* After ERROR: a static description, the code, and whether the stream is
 * still in sync (see imap_parser_feed). */
const char *imap_parser_error(const struct imap_parser *p, enum imap_parse_error *code_r,
			      bool *in_sync_r);

/* After LITERAL_WAIT: the announced size, whether it is a literal8, and
 * whether it is over max_literal or max_literal_total (then it must be
 * refused). Nothing has been allocated for it. */
uint64_t imap_parser_literal_size(const struct imap_parser *p, bool *literal8_r,
				  bool *too_big_r);
/* Returns 0: send the continuation request; the literal octets are read
 * next. Returns -1 when the literal is too big: the parser has refused it
 * as by imap_parser_literal_refuse() and the server answers NO/BAD
 * [TOOBIG]. */
int imap_parser_literal_accept(struct imap_parser *p);
/* Drop the command; the tag and name stay readable until the next feed()
 * so the server can answer. The next octets are a new command. */
void imap_parser_literal_refuse(struct imap_parser *p);

/* Release the command returned with DONE or ERROR now rather than at the
 * next feed(). Calling it in the middle of a command is a bug (asserted):
 * it would lose the framing. */
void imap_parser_reset(struct imap_parser *p);

/*
 * Read one raw line: the "DONE" that ends IDLE (RFC 9051 6.3.13) and
 * AUTHENTICATE continuation lines (RFC 9051 6.2.2). Only between commands.
 * DONE: *line_r (NUL-terminated, without CRLF, valid until the next call)
 * holds *line_len_r octets. NEED_MORE: all consumed. ERROR: the line has a
 * CR without LF or is longer than max_line; in sync, the rest of the line is
 * skipped by the following calls (to this or to feed()).
 */
enum imap_parse_result imap_parser_read_line(struct imap_parser *p, const char *in,
					     size_t len, const char **line_r,
					     size_t *line_len_r, size_t *consumed_r);

/* Octets the parser holds allocated now (tests assert it stays small). */
size_t imap_parser_mem_used(const struct imap_parser *p);

/* ---- typed access to arguments (false if the type does not fit) ---- */

/* ATOM (not NIL): *s_r is the atom as sent. */
bool imap_arg_get_atom(const struct imap_arg *arg, const char **s_r);
/* ATOM (or NIL) equal to word, ASCII case-insensitively. */
bool imap_arg_atom_equals(const struct imap_arg *arg, const char *word);
/* astring (RFC 9051 9): ATOM of ASTRING-CHARs only, NIL (as "NIL"),
 * STRING, or LITERAL that is not a literal8. */
bool imap_arg_get_astring(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* string: STRING, or LITERAL that is not a literal8. */
bool imap_arg_get_string(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* nstring: NIL (*s_r = NULL, *len_r = 0) or string. */
bool imap_arg_get_nstring(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* list-mailbox (RFC 9051 9): like astring, but atoms may hold % and *. */
bool imap_arg_get_list_mailbox(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* LIST: *list_r has *count_r elements then EOL. */
bool imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **list_r,
		       size_t *count_r);

#endif
