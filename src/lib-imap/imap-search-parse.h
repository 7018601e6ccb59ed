#ifndef YOUJU_IMAP_SEARCH_PARSE_H
#define YOUJU_IMAP_SEARCH_PARSE_H
/*
 * IMAP search programs (RFC 9051 6.4.4, RFC 3501 6.4.4, RFC 4731 ESEARCH,
 * RFC 5182 SEARCHRES, RFC 7162 3.1.5 MODSEQ, RFC 5256 SORT criteria) and
 * the text matching SEARCH does: pure functions of the command's argument
 * tree (imap-parser.h), no I/O, no mailbox.
 *
 * A program is a tree of keys: the top-level keys form an AND node, "( )"
 * groups are AND nodes, OR and NOT nodes take their operands. The tree is
 * bounded:
 *  - depth: every "(", OR and NOT adds a level, at most
 *    IMAP_SEARCH_MAX_DEPTH. Runs of OR are flattened (OR is associative:
 *    "OR OR a b c" and "OR a OR b c" are one OR node with three children)
 *    and runs of NOT collapse by parity, so the long OR chains clients
 *    build for lists of Message-IDs stay flat. Parsing recurses only while
 *    the depth is within the limit, and evaluation follows the same tree;
 *  - keys: at most IMAP_SEARCH_MAX_KEYS nodes;
 *  - strings: each at most IMAP_SEARCH_MAX_STRING octets after charset
 *    conversion, all together at most IMAP_SEARCH_MAX_STRINGS.
 *
 * Strings (BCC, BODY, CC, FROM, HEADER, SUBJECT, TEXT, TO) are converted
 * from the CHARSET to UTF-8 (US-ASCII and UTF-8 directly, invalid UTF-8
 * becoming U+FFFD; other charsets with iconv; an unknown one is
 * IMAP_SEARCH_BADCHARSET) and case-folded with imap_search_fold(), so
 * matching is a byte substring search in text folded the same way.
 *
 * Sequence sets (bare and after UID) are checked for syntax here and kept
 * as the argument they came in, since "*" and "$" (RFC 5182) can only be
 * resolved against the selected mailbox.
 *
 * Evaluation order: every node carries the cost class of its subtree, and
 * the children of AND and OR nodes are ordered cheapest first (stable), so
 * an evaluator that stops at the first decisive child reads the message
 * file only when the cheap keys leave the answer open.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "imap-parser.h"

#define IMAP_SEARCH_MAX_DEPTH 32
#define IMAP_SEARCH_MAX_KEYS 10000
#define IMAP_SEARCH_MAX_STRING 16384
#define IMAP_SEARCH_MAX_STRINGS (1024 * 1024)

enum imap_search_type {
	IMAP_SEARCH_AND,		/* children; none = true */
	IMAP_SEARCH_OR,			/* 2 or more children */
	IMAP_SEARCH_NOT,		/* one child */
	IMAP_SEARCH_ALL,
	IMAP_SEARCH_SEQSET,		/* set: message sequence numbers (or "$") */
	IMAP_SEARCH_UIDSET,		/* set: UIDs (or "$") */
	IMAP_SEARCH_FLAG,		/* flag: one enum mail_flags bit */
	IMAP_SEARCH_KEYWORD,		/* str: the keyword as sent (not folded) */
	IMAP_SEARCH_RECENT,
	IMAP_SEARCH_BEFORE,		/* day: internal date */
	IMAP_SEARCH_ON,
	IMAP_SEARCH_SINCE,
	IMAP_SEARCH_SENTBEFORE,		/* day: the Date: header */
	IMAP_SEARCH_SENTON,
	IMAP_SEARCH_SENTSINCE,
	IMAP_SEARCH_LARGER,		/* num: RFC822.SIZE */
	IMAP_SEARCH_SMALLER,
	IMAP_SEARCH_MODSEQ,		/* num (RFC 7162 3.1.5) */
	IMAP_SEARCH_BCC,		/* str: folded UTF-8 */
	IMAP_SEARCH_CC,
	IMAP_SEARCH_FROM,
	IMAP_SEARCH_SUBJECT,
	IMAP_SEARCH_TO,
	IMAP_SEARCH_HEADER,		/* field, str */
	IMAP_SEARCH_BODY,		/* str; text_idx */
	IMAP_SEARCH_TEXT,		/* str; text_idx */
};

/* What a key needs to be decided, cheapest first. */
enum imap_search_cost {
	IMAP_SEARCH_COST_RECORD = 0,	/* the index record: flags, UID, dates, sizes */
	IMAP_SEARCH_COST_ENVELOPE,	/* the cached ENVELOPE */
	IMAP_SEARCH_COST_HEADER,	/* the message header */
	IMAP_SEARCH_COST_BODY,		/* the whole message */
};

struct imap_search_key {
	enum imap_search_type type;
	bool neg;			/* UN* forms, OLD, UNKEYWORD */
	enum imap_search_cost cost;	/* of this key and everything below it */
	struct imap_search_key *children;	/* AND, OR, NOT */
	struct imap_search_key *next;		/* sibling */
	const struct imap_arg *set;	/* SEQSET, UIDSET: an ATOM of the args */
	uint32_t flag;
	int64_t day;			/* days since 1970-01-01 */
	uint64_t num;
	char *field;			/* HEADER: field name as sent */
	char *str;			/* NUL-terminated, len octets */
	size_t len;
	size_t text_idx;		/* BODY, TEXT: index in program->texts */
	/* SEQSET, UIDSET, KEYWORD: 0 .. program->nslots-1, an index for the
	 * evaluator's per-command state (the resolved set or keyword) */
	size_t slot;
	struct imap_search_key *all_next;	/* every node, for freeing */
};

/* RFC 4731 3.1 return options (and RFC 5182 SAVE) */
#define IMAP_SEARCH_RETURN_MIN 0x01
#define IMAP_SEARCH_RETURN_MAX 0x02
#define IMAP_SEARCH_RETURN_ALL 0x04
#define IMAP_SEARCH_RETURN_COUNT 0x08
#define IMAP_SEARCH_RETURN_SAVE 0x10

struct imap_search_program {
	struct imap_search_key *root;	/* an AND node */
	bool return_given;		/* "RETURN (...)" was sent */
	unsigned return_opts;		/* IMAP_SEARCH_RETURN_*; "RETURN ()" is ALL */
	char *charset;			/* as sent, or NULL */
	bool uses_modseq;		/* has a MODSEQ key */
	enum imap_search_cost cost;	/* of the whole program */
	size_t nkeys;
	size_t nslots;
	/* BODY and TEXT keys in the order they were sent */
	struct imap_search_key **texts;
	size_t ntexts;
	struct imap_search_key *all;
};

#define IMAP_SEARCH_OK 0
#define IMAP_SEARCH_BAD (-1)		/* syntax or limits: tagged BAD */
#define IMAP_SEARCH_BADCHARSET (-2)	/* NO [BADCHARSET (UTF-8 US-ASCII)] */

/* Which prefix the arguments have before the search keys. */
enum imap_search_syntax {
	/* SEARCH: [RETURN (opts)] [CHARSET name] keys (RFC 4731, RFC 9051) */
	IMAP_SEARCH_SYNTAX_SEARCH,
	/* SORT / THREAD after their first argument: charset keys (RFC 5256) */
	IMAP_SEARCH_SYNTAX_CHARSET_FIRST,
};

/*
 * Parse args[0..count) (args[count] is EOL) into *prog_r. Returns
 * IMAP_SEARCH_OK, IMAP_SEARCH_BAD with a static *error_r, or
 * IMAP_SEARCH_BADCHARSET; *prog_r is NULL on error. The program points
 * into args (sequence sets) and must not outlive them.
 */
int imap_search_parse(const struct imap_arg *args, size_t count, enum imap_search_syntax syntax,
		      struct imap_search_program **prog_r, const char **error_r);
/* Frees everything; *prog = NULL; NULL-safe. Never recurses. */
void imap_search_program_free(struct imap_search_program **prog);

/* HEADER keys for these fields (Subject, Message-ID, In-Reply-To, Date)
 * are matched against the cached ENVELOPE's copy of the value
 * (IMAP_SEARCH_COST_ENVELOPE); others need the header. */
bool imap_search_header_in_envelope(const char *field);

/* A date argument "1-Feb-2024" (RFC 9051 9 date, quoted or not) as days
 * since 1970-01-01; -1 if invalid. */
int imap_search_parse_date(const struct imap_arg *arg, int64_t *day_r);
/* The civil date of days since 1970-01-01 (proleptic Gregorian). */
int64_t imap_search_days_from_civil(int64_t y, unsigned m, unsigned d);

/* ---- SORT criteria (RFC 5256 3, RFC 5957 DISPLAYFROM/DISPLAYTO) ---- */

enum imap_sort_key {
	IMAP_SORT_ARRIVAL,
	IMAP_SORT_CC,
	IMAP_SORT_DATE,
	IMAP_SORT_FROM,
	IMAP_SORT_SIZE,
	IMAP_SORT_SUBJECT,
	IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM,
	IMAP_SORT_DISPLAYTO,
};

struct imap_sort_criterion {
	enum imap_sort_key key;
	bool reverse;
};

#define IMAP_SORT_MAX_CRITERIA 16

/* The parenthesized list "(REVERSE DATE SUBJECT)": at least one
 * criterion, at most max (<= IMAP_SORT_MAX_CRITERIA). 0 or -1 with a static
 * *error_r. */
int imap_sort_parse(const struct imap_arg *arg, struct imap_sort_criterion *crit, size_t max,
		    size_t *count_r, const char **error_r);

/* ---- text matching ---- */

/*
 * Case folding for search (a simple, length-preserving-or-shrinking
 * mapping): ASCII, Latin-1, Latin Extended-A, Latin Extended Additional,
 * Greek, Cyrillic and fullwidth Latin capitals become small letters, final
 * sigma becomes sigma; everything else, invalid UTF-8 included, is copied.
 * Appends the folded form of in[0..len) to out. Without final, an
 * incomplete UTF-8 sequence at the end is left unconsumed. Returns the
 * number of input octets consumed, or -1 when out's maximum was reached.
 * The output is never longer than the input.
 */
ssize_t imap_search_fold(const char *in, size_t len, bool final, buf_t *out);

/*
 * A streaming multi-needle substring search: feed text in pieces of any
 * size (it is folded here), and needles found in the concatenation are
 * marked. imap_search_scan_break() starts an unrelated text (no match
 * spans it). Memory: the longest needle plus one piece of
 * IMAP_SEARCH_SCAN_PIECE octets.
 */
#define IMAP_SEARCH_SCAN_PIECE 65536

struct imap_search_scan {
	const struct imap_search_key *const *needles;	/* str/len: folded */
	size_t count;
	bool *found;
	size_t left;		/* needles not found yet */
	size_t keep;		/* longest needle - 1 */
	buf_t partial;		/* incomplete UTF-8 sequence of the last piece */
	buf_t window;		/* kept tail + folded piece */
};

void imap_search_scan_init(struct imap_search_scan *s,
			   const struct imap_search_key *const *needles, size_t count);
void imap_search_scan_deinit(struct imap_search_scan *s);
/* Forget the results: a new message. */
void imap_search_scan_reset(struct imap_search_scan *s);
void imap_search_scan_feed(struct imap_search_scan *s, const char *text, size_t len);
void imap_search_scan_break(struct imap_search_scan *s);
/* All needles found: feeding more changes nothing. */
static inline bool imap_search_scan_done(const struct imap_search_scan *s)
{
	return s->left == 0;
}

/* ---- the cached ENVELOPE, read back (imap-envelope.h writes it) ---- */

struct imap_search_addr {
	slice_t name, adl, mailbox, host;	/* .ptr NULL for NIL */
};

enum imap_search_env_addr {
	IMAP_ENV_FROM, IMAP_ENV_SENDER, IMAP_ENV_REPLY_TO, IMAP_ENV_TO, IMAP_ENV_CC,
	IMAP_ENV_BCC, IMAP_ENV_ADDR_LISTS
};

struct imap_search_envelope {
	slice_t date, subject, in_reply_to, message_id;	/* .ptr NULL for NIL */
	struct imap_search_addr *addrs[IMAP_ENV_ADDR_LISTS];	/* malloc'd */
	size_t naddrs[IMAP_ENV_ADDR_LISTS];
	buf_t strings;		/* unescaped quoted strings */
};

/*
 * Parse the ENVELOPE text s[0..len) ("(date subject (from) ... msgid)",
 * strings quoted or as literals). Returns 0, or -1 if it is not an
 * envelope (env is then empty). Slices point into s or env->strings.
 * Free with imap_search_envelope_free (also after -1).
 */
int imap_search_envelope_parse(const char *s, size_t len, struct imap_search_envelope *env);
void imap_search_envelope_free(struct imap_search_envelope *env);

#endif
