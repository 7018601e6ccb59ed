#ifndef YOUJU_DIR_RESOLVE_H
#define YOUJU_DIR_RESOLVE_H
/*
 * Recipient resolution over the directory lookups (dir.h).
 *
 * For an address L@D in a local (virtual) domain, first match wins:
 *   1. an alias whose source is exactly L@D;
 *   2. if L = B<delim>tag with B non-empty, an alias whose source is B@D
 *      (plus-addressing: user+tag@d -> user@d);
 *   3. a mailbox (virtual_users.email) L@D, then B@D;
 *   4. the catch-all alias "@D".
 * So a catch-all never overrides an existing mailbox or exact alias.
 *
 * Alias destinations are resolved recursively:
 * - a destination equal to the alias source ("a@x -> a@x", the tutorial's
 *   idiom to exempt a mailbox from a catch-all, or to keep a copy) means the
 *   mailbox itself (rule 3 only);
 * - a destination in a non-local domain is a remote target;
 * - a destination in a local domain that resolves to nothing is skipped
 *   (a dangling alias must not lose the other destinations' copies), and
 *   dir_resolve logs it at warning level;
 * - a destination that cannot be parsed is skipped and logged the same way;
 * - an alias met again on the current expansion path is a loop: that branch
 *   is cut; so is a branch deeper than max_depth alias expansions.
 * Each alias source is expanded at most once per resolution (targets are
 * deduplicated anyway), which keeps fan-out graphs linear.
 *
 * Alias and mailbox lookups are case-insensitive (the directory compares
 * with NOCASE); local targets carry the mailbox's email as stored, remote
 * ones the destination in mail_address_to_string form. The delimiter is a
 * set of characters (as Postfix recipient_delimiter): the local part is cut
 * at the first of them. Any DIR_TEMPFAIL aborts the whole resolution: a
 * partial expansion must not be delivered (the retry would duplicate it).
 */
#include <stdbool.h>
#include <stddef.h>

#include "dir.h"

#define RESOLVE_NOT_LOCAL 2	/* the domain is not a virtual domain */
#define RESOLVE_LOOP (-2)	/* only loops / too-deep branches, nothing deliverable */
#define RESOLVE_DEFAULT_MAX_DEPTH 20
#define RESOLVE_MAX_DEPTH_LIMIT 100	/* larger max_depth values are clamped */

struct resolve_opts {
	const char *delimiter;	/* e.g. "+", or "+-"; NULL or "" disables */
	int max_depth;		/* alias levels; <= 0: RESOLVE_DEFAULT_MAX_DEPTH */
};

struct resolve_target {
	char *address;
	bool local;	/* a mailbox (virtual_users.email) vs a remote address */
};

struct resolve_result {
	struct resolve_target *targets;
	size_t count;
	/* Set even when other targets were deliverable: */
	char *loop;		/* first loop met, e.g. "a@x -> b@x -> a@x" (malloc'd) */
	bool too_deep;		/* some branch was cut at max_depth */
};

void resolve_result_free(struct resolve_result *r);

/*
 * Resolve a recipient (bare "local@domain", any form address_parse accepts
 * with ADDR_SMTPUTF8). *r is zeroed first and must be freed with
 * resolve_result_free whatever the outcome. Returns
 *   DIR_FOUND          targets filled (at least one), deduplicated
 *                      case-insensitively;
 *   DIR_NOTFOUND       local domain but nothing matches (also for an address
 *                      that does not parse or has an empty local part);
 *   DIR_TEMPFAIL       the directory failed somewhere;
 *   RESOLVE_NOT_LOCAL  the domain is not a virtual domain;
 *   RESOLVE_LOOP       nothing deliverable and a loop or the depth limit is
 *                      why (r->loop / r->too_deep tell which).
 * *error_r is a static explanation (NULL on DIR_FOUND).
 */
int dir_resolve(struct directory *d, const char *address, const struct resolve_opts *o,
		struct resolve_result *r, const char **error_r);

/*
 * Expand one alias source ("a@x", or the catch-all "@x") as if its rule had
 * matched: used by dir_alias_add's loop check and to show an alias (so it
 * does not log skipped destinations). Same returns as dir_resolve except
 * RESOLVE_NOT_LOCAL; DIR_NOTFOUND also when the source has no alias.
 */
int dir_resolve_alias(struct directory *d, const char *source, const struct resolve_opts *o,
		      struct resolve_result *r, const char **error_r);

#endif
