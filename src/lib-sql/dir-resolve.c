/* Recipient resolution: aliases, plus-addressing, mailboxes, catch-alls.
 * The rules and their order are documented in dir-resolve.h. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "buf.h"
#include "dir-resolve.h"
#include "log.h"
#include "xalloc.h"

/* Internal branch result: a rule matched but yielded nothing deliverable
 * (so later rules must not be tried). Never returned to callers. */
#define RESOLVE_EMPTY 3

/* One alias expansion on the current path: the address being resolved and
 * the alias source that matched it. */
struct resolve_step {
	char *address;
	char *key;
};

/* An alias source already expanded, at which path depth, with what result. */
struct resolve_seen {
	char *key;
	size_t depth;
	int result;
};

struct resolve_ctx {
	struct directory *d;
	const char *delimiter;
	bool quiet;
	size_t max_depth;
	struct resolve_result *r;
	struct resolve_step *path;
	size_t path_count;
	struct resolve_seen *seen;
	size_t seen_count;
};

/* The lookup keys of one address: exact, base (plus-addressing), catch-all. */
struct resolve_keys {
	char *exact;
	char *base;	/* NULL without a delimiter in the local part */
	char *catchall;
};

static int resolve_local(struct resolve_ctx *c, const struct mail_address *a,
			 const char *canon);

void resolve_result_free(struct resolve_result *r)
{
	for (size_t i = 0; i < r->count; i++)
		free(r->targets[i].address);
	free(r->targets);
	free(r->loop);
	memset(r, 0, sizeof(*r));
}

static void resolve_ctx_init(struct resolve_ctx *c, struct directory *d,
			     const struct resolve_opts *o, struct resolve_result *r)
{
	int depth = o != NULL ? o->max_depth : 0;

	memset(c, 0, sizeof(*c));
	memset(r, 0, sizeof(*r));
	c->d = d;
	c->r = r;
	c->delimiter = o != NULL ? o->delimiter : NULL;
	if (depth <= 0)
		depth = RESOLVE_DEFAULT_MAX_DEPTH;
	c->max_depth = depth > RESOLVE_MAX_DEPTH_LIMIT ? RESOLVE_MAX_DEPTH_LIMIT : (size_t)depth;
}

static void resolve_ctx_free(struct resolve_ctx *c)
{
	for (size_t i = 0; i < c->seen_count; i++)
		free(c->seen[i].key);
	free(c->seen);
	free(c->path);	/* entries are popped (and freed) as expansion returns */
}

static void resolve_add_target(struct resolve_ctx *c, const char *address, bool local)
{
	struct resolve_result *r = c->r;

	for (size_t i = 0; i < r->count; i++)
		if (strcasecmp(r->targets[i].address, address) == 0)
			return;
	r->targets = xreallocarray(r->targets, r->count + 1, sizeof(*r->targets));
	r->targets[r->count++] = (struct resolve_target){ xstrdup(address), local };
}

/* "user+tag" -> "user" (malloc'd); NULL without a delimiter character, or
 * when nothing precedes it. */
static char *resolve_base_local(const char *local, const char *delimiter)
{
	if (delimiter == NULL || delimiter[0] == '\0')
		return NULL;
	size_t n = strcspn(local, delimiter);
	if (n == 0 || local[n] == '\0')
		return NULL;
	return xstrndup(local, n);
}

static void resolve_keys_init(struct resolve_keys *k, const struct mail_address *a,
			      const char *canon, const char *delimiter)
{
	char *base_local = resolve_base_local(a->local, delimiter);

	k->exact = xstrdup(canon);
	k->base = NULL;
	if (base_local != NULL) {
		struct mail_address b = { base_local, a->domain };
		k->base = mail_address_to_string(&b);
		free(base_local);
	}
	k->catchall = xasprintf("@%s", a->domain);
}

static void resolve_keys_free(struct resolve_keys *k)
{
	xfree(&k->exact);
	xfree(&k->base);
	xfree(&k->catchall);
}

static ssize_t resolve_path_find(const struct resolve_ctx *c, const char *key)
{
	for (size_t i = 0; i < c->path_count; i++)
		if (strcasecmp(c->path[i].key, key) == 0)
			return (ssize_t)i;
	return -1;
}

static void resolve_fmt_step(buf_t *b, const char *address, const char *key)
{
	buf_append_cstr(b, address);
	if (strcasecmp(address, key) != 0)
		buf_printf(b, " (via %s)", key);
}

/* Remember the first loop as "a@x -> b@x -> a@x" for error messages. */
static void resolve_note_loop(struct resolve_ctx *c, size_t from, const char *address,
			      const char *key)
{
	buf_t b;

	if (c->r->loop != NULL)
		return;
	buf_init(&b, 0);
	for (size_t i = from; i < c->path_count; i++) {
		resolve_fmt_step(&b, c->path[i].address, c->path[i].key);
		buf_append_cstr(&b, " -> ");
	}
	resolve_fmt_step(&b, address, key);
	c->r->loop = xstrdup(buf_cstr(&b));
	buf_free(&b);
}

static struct resolve_seen *resolve_seen_find(const struct resolve_ctx *c, const char *key)
{
	for (size_t i = 0; i < c->seen_count; i++)
		if (strcasecmp(c->seen[i].key, key) == 0)
			return &c->seen[i];
	return NULL;
}

static void resolve_seen_set(struct resolve_ctx *c, const char *key, size_t depth, int result)
{
	struct resolve_seen *s = resolve_seen_find(c, key);

	if (s == NULL) {
		c->seen = xreallocarray(c->seen, c->seen_count + 1, sizeof(*c->seen));
		s = &c->seen[c->seen_count++];
		s->key = xstrdup(key);
	}
	s->depth = depth;
	s->result = result;
}

/* Rule 3: the mailbox for the exact address, then for the base address. */
static int resolve_mailbox_one(struct resolve_ctx *c, const char *email)
{
	struct dir_user u;
	int ret = dir_user_lookup(c->d, email, &u);

	if (ret == DIR_FOUND) {
		resolve_add_target(c, u.email, true);
		dir_user_free(&u);
	}
	return ret;
}

static int resolve_mailbox(struct resolve_ctx *c, const struct resolve_keys *k)
{
	int ret = resolve_mailbox_one(c, k->exact);

	if (ret == DIR_NOTFOUND && k->base != NULL)
		ret = resolve_mailbox_one(c, k->base);
	return ret;
}

/* FOUND beats LOOP beats nothing: the caller only needs the best outcome. */
static int resolve_merge(int a, int b)
{
	if (a == DIR_FOUND || b == DIR_FOUND)
		return DIR_FOUND;
	if (a == RESOLVE_LOOP || b == RESOLVE_LOOP)
		return RESOLVE_LOOP;
	return RESOLVE_EMPTY;
}

/* A destination of alias `key`, already parsed; canon is its string form. */
static int resolve_dest_parsed(struct resolve_ctx *c, const char *key,
			       const struct mail_address *a, const char *canon)
{
	/* "a@x -> a@x": the mailbox itself, not the alias again */
	if (strcasecmp(canon, key) == 0) {
		struct resolve_keys k;
		resolve_keys_init(&k, a, canon, c->delimiter);
		int ret = resolve_mailbox(c, &k);
		resolve_keys_free(&k);
		return ret;
	}
	int ret = dir_domain_exists(c->d, a->domain);
	if (ret == DIR_NOTFOUND) {
		resolve_add_target(c, canon, false);
		return DIR_FOUND;
	}
	return ret == DIR_FOUND ? resolve_local(c, a, canon) : ret;
}

static void resolve_skip(const struct resolve_ctx *c, const char *key, const char *dest,
			 const char *why)
{
	if (!c->quiet)
		log_warn("alias=%s destination=%s: skipped, %s", key, dest, why);
}

static int resolve_dest(struct resolve_ctx *c, const char *key, const char *dest)
{
	struct mail_address a;
	const char *error;
	int ret;

	if (address_parse(dest, ADDR_SMTPUTF8, &a, &error) < 0) {
		resolve_skip(c, key, dest, error);
		return RESOLVE_EMPTY;
	}
	if (a.domain[0] == '\0') {
		resolve_skip(c, key, dest, "no domain");
		mail_address_free(&a);
		return RESOLVE_EMPTY;
	}
	char *canon = mail_address_to_string(&a);
	ret = resolve_dest_parsed(c, key, &a, canon);
	if (ret == DIR_NOTFOUND || ret == RESOLVE_EMPTY)
		resolve_skip(c, key, canon, "nothing deliverable");
	free(canon);
	mail_address_free(&a);
	return ret == DIR_NOTFOUND ? RESOLVE_EMPTY : ret;
}

/* Split one destination column on commas outside quotes (Postfix reads
 * multi-address alias results this way), trimming blanks around each. */
static int resolve_dest_list(struct resolve_ctx *c, const char *key, const char *list)
{
	int best = RESOLVE_EMPTY;
	size_t i = 0;

	while (list[i] != '\0') {
		size_t start = i;
		bool quoted = false;
		for (; list[i] != '\0' && (quoted || list[i] != ','); i++) {
			if (list[i] == '\\' && quoted && list[i + 1] != '\0')
				i++;
			else if (list[i] == '"')
				quoted = !quoted;
		}
		slice_t item = slice_trim(slice_make(list + start, i - start));
		if (list[i] == ',')
			i++;
		if (item.len == 0)
			continue;
		char *dest = slice_dup(item);
		int ret = resolve_dest(c, key, dest);
		free(dest);
		if (ret == DIR_TEMPFAIL)
			return ret;
		best = resolve_merge(best, ret);
	}
	return best;
}

/* Expand the destinations of alias `key`, matched while resolving `address`. */
static int resolve_expand(struct resolve_ctx *c, const char *address, const char *key,
			  const struct dir_strlist *dests)
{
	size_t depth = c->path_count;
	ssize_t on_path = resolve_path_find(c, key);
	const struct resolve_seen *seen = resolve_seen_find(c, key);
	int ret = RESOLVE_EMPTY;

	if (on_path >= 0) {
		resolve_note_loop(c, (size_t)on_path, address, key);
		return RESOLVE_LOOP;
	}
	if (depth >= c->max_depth) {
		c->r->too_deep = true;
		return RESOLVE_LOOP;
	}
	/* expanded already, at least as shallow: its targets are in */
	if (seen != NULL && seen->depth <= depth)
		return seen->result;

	c->path = xreallocarray(c->path, depth + 1, sizeof(*c->path));
	c->path[depth] = (struct resolve_step){ xstrdup(address), xstrdup(key) };
	c->path_count++;
	for (size_t i = 0; i < dests->count && ret != DIR_TEMPFAIL; i++) {
		int one = resolve_dest_list(c, key, dests->items[i]);
		ret = one == DIR_TEMPFAIL ? one : resolve_merge(ret, one);
	}
	c->path_count--;
	free(c->path[depth].address);
	free(c->path[depth].key);
	resolve_seen_set(c, key, depth, ret);
	return ret;
}

/* DIR_NOTFOUND only when there is no alias `key`. */
static int resolve_try_alias(struct resolve_ctx *c, const char *address, const char *key)
{
	struct dir_strlist dests = { 0 };
	int ret = dir_alias_lookup(c->d, key, &dests);

	if (ret == DIR_FOUND)
		ret = resolve_expand(c, address, key, &dests);
	dir_strlist_free(&dests);
	return ret;
}

/* Rules 1-4 for an address in a local domain. */
static int resolve_local(struct resolve_ctx *c, const struct mail_address *a,
			 const char *canon)
{
	struct resolve_keys k;
	int ret;

	resolve_keys_init(&k, a, canon, c->delimiter);
	ret = resolve_try_alias(c, canon, k.exact);
	if (ret == DIR_NOTFOUND && k.base != NULL)
		ret = resolve_try_alias(c, canon, k.base);
	if (ret == DIR_NOTFOUND)
		ret = resolve_mailbox(c, &k);
	if (ret == DIR_NOTFOUND)
		ret = resolve_try_alias(c, canon, k.catchall);
	resolve_keys_free(&k);
	return ret;
}

static int resolve_finish(struct resolve_ctx *c, int ret, const char **error_r)
{
	struct resolve_result *r = c->r;

	resolve_ctx_free(c);
	if (ret == DIR_TEMPFAIL) {
		/* nothing partial may be delivered */
		resolve_result_free(r);
		*error_r = "directory temporarily unavailable";
		return DIR_TEMPFAIL;
	}
	if (ret == RESOLVE_NOT_LOCAL) {
		*error_r = "domain is not local";
		return RESOLVE_NOT_LOCAL;
	}
	if (r->count > 0) {
		*error_r = NULL;
		return DIR_FOUND;
	}
	if (r->loop != NULL || r->too_deep) {
		*error_r = r->loop != NULL ? "alias loop" : "alias expansion too deep";
		return RESOLVE_LOOP;
	}
	*error_r = "no such mailbox or alias";
	return DIR_NOTFOUND;
}

int dir_resolve(struct directory *d, const char *address, const struct resolve_opts *o,
		struct resolve_result *r, const char **error_r)
{
	struct resolve_ctx c;
	struct mail_address a;
	const char *error;
	int ret;

	resolve_ctx_init(&c, d, o, r);
	if (address_parse(address, ADDR_SMTPUTF8, &a, &error) < 0 || a.local[0] == '\0' ||
	    a.domain[0] == '\0') {
		mail_address_free(&a);
		resolve_ctx_free(&c);
		*error_r = "invalid address";
		return DIR_NOTFOUND;
	}
	ret = dir_domain_exists(d, a.domain);
	if (ret == DIR_FOUND) {
		char *canon = mail_address_to_string(&a);
		ret = resolve_local(&c, &a, canon);
		free(canon);
	} else if (ret == DIR_NOTFOUND) {
		ret = RESOLVE_NOT_LOCAL;
	}
	mail_address_free(&a);
	return resolve_finish(&c, ret, error_r);
}

int dir_resolve_alias(struct directory *d, const char *source, const struct resolve_opts *o,
		      struct resolve_result *r, const char **error_r)
{
	struct resolve_ctx c;
	struct dir_strlist dests = { 0 };
	int ret;

	resolve_ctx_init(&c, d, o, r);
	c.quiet = true;
	ret = dir_alias_lookup(d, source, &dests);
	if (ret == DIR_FOUND)
		ret = resolve_expand(&c, source, source, &dests);
	dir_strlist_free(&dests);
	return resolve_finish(&c, ret, error_r);
}
