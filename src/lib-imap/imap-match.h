#ifndef YOUJU_IMAP_MATCH_H
#define YOUJU_IMAP_MATCH_H
/*
 * LIST and LSUB mailbox patterns (RFC 9051 6.3.9, RFC 3501 6.3.8): a pure
 * matcher of decoded (UTF-8) names against one pattern.
 *
 *  - "*" matches zero or more characters, hierarchy separators included;
 *  - "%" matches zero or more characters other than the separator;
 *  - every other octet matches itself, case-sensitively, with one
 *    exception: when the name's first component is INBOX (in any case),
 *    those five letters compare case-insensitively, so "inbox", "Inbox/%"
 *    and "i*" all reach INBOX (RFC 9051 5.1: INBOX is case-insensitive).
 *    Other names never fold case ("inbox2" and "INBOX2" are two folders).
 *
 * Bounded work. A pattern holds at most IMAP_MATCH_MAX_LEN octets and
 * IMAP_MATCH_MAX_WILDCARDS wildcards; adjacent wildcards fold into one. A
 * match never backtracks: it carries the set of name positions reachable
 * after each pattern token (a literal run, "%" or "*"), so one match costs
 * at most O(name length x pattern length) octet comparisons and usually
 * about the name length, whatever the shape ("*a*a*a*a*b" against
 * "aaaa...a" stays linear-ish). Patterns whose literal octets outnumber the
 * name's are refused at once.
 */
#include <stdbool.h>
#include <stddef.h>

#define IMAP_MATCH_MAX_LEN 2048
#define IMAP_MATCH_MAX_WILDCARDS 32

struct imap_match;

/* Compiles pattern[0..len) for names whose hierarchy separator is sep.
 * Returns NULL with a static *error_r when the pattern is longer than
 * IMAP_MATCH_MAX_LEN, holds more than IMAP_MATCH_MAX_WILDCARDS wildcards
 * or a NUL. The pattern is copied. */
struct imap_match *imap_match_create(const char *pattern, size_t len, char sep,
				     const char **error_r);
/* Frees and sets *m = NULL; NULL-safe. */
void imap_match_destroy(struct imap_match **m);

/* Does name[0..len) match the whole pattern? Not const: the matcher keeps
 * its position sets between calls, so matching allocates only when a name
 * is longer than every name before it. */
bool imap_match(struct imap_match *m, const char *name, size_t len);

/* Whether the pattern's last character is "%" (RFC 3501 6.3.9: LSUB then
 * also returns unsubscribed parents of subscribed names). */
bool imap_match_ends_with_percent(const struct imap_match *m);

#endif
