/*
 * The driver-independent directory layer: input validation and
 * normalization, then dispatch through the driver vtable (dir.h). Drivers
 * (dir-sqlite.c, later MySQL and PostgreSQL) get inputs already checked.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "dir-resolve.h"
#include "dir.h"
#include "log.h"
#include "xalloc.h"

/* ---- generic front end: validation, normalization, dispatch ---- */

int dir_fail(char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(error_r, fmt, ap) < 0)
		*error_r = xstrdup("out of memory");
	va_end(ap);
	return -1;
}

void dir_close(struct directory **dir)
{
	if (*dir != NULL)
		(*dir)->driver->close(*dir);
	*dir = NULL;
}

void dir_user_free(struct dir_user *u)
{
	if (u->password != NULL)
		explicit_bzero(u->password, strlen(u->password));
	free(u->password);
	free(u->email);
	memset(u, 0, sizeof(*u));
}

void dir_strlist_add(struct dir_strlist *l, const char *s)
{
	l->items = xreallocarray(l->items, l->count + 1, sizeof(*l->items));
	l->items[l->count++] = xstrdup(s != NULL ? s : "");
}

void dir_strlist_free(struct dir_strlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

int dir_domain_exists(struct directory *d, const char *domain)
{
	return d == NULL ? DIR_TEMPFAIL : d->driver->domain_exists(d, domain);
}

int dir_user_lookup(struct directory *d, const char *email, struct dir_user *u)
{
	memset(u, 0, sizeof(*u));
	return d == NULL ? DIR_TEMPFAIL : d->driver->user_lookup(d, email, u);
}

int dir_alias_lookup(struct directory *d, const char *source, struct dir_strlist *dests)
{
	memset(dests, 0, sizeof(*dests));
	return d == NULL ? DIR_TEMPFAIL : d->driver->alias_lookup(d, source, dests);
}

static int dir_need_open(struct directory *d, char **error_r)
{
	*error_r = NULL;
	if (d != NULL)
		return 0;
	*error_r = xstrdup("database is unavailable: not open");
	return -1;
}

static char *dir_lower_dup(const char *s)
{
	char *p = xstrdup(s);

	for (char *q = p; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q + 32);
	return p;
}

/* A domain for the directory: ASCII hostname syntax, lowercased. */
static char *dir_norm_domain(const char *domain, char **error_r)
{
	if (!domain_is_valid(domain, 0)) {
		dir_fail(error_r, "invalid domain name %s", domain != NULL ? domain : "(null)");
		return NULL;
	}
	return dir_lower_dup(domain);
}

/* A full address in canonical form; *a keeps the parts. */
static char *dir_norm_address(const char *address, struct mail_address *a, char **error_r)
{
	const char *error;

	if (address == NULL || address_parse(address, ADDR_SMTPUTF8, a, &error) < 0) {
		dir_fail(error_r, "invalid address %s: %s", address != NULL ? address : "(null)",
			address != NULL ? error : "missing");
		return NULL;
	}
	if (a->local[0] == '\0' || !domain_is_valid(a->domain, 0)) {
		dir_fail(error_r, "invalid address %s: needs a local part and an ASCII domain",
			address);
		mail_address_free(a);
		return NULL;
	}
	return mail_address_to_string(a);
}

/* For deletes: the canonical form if it parses, else the string as given
 * (so junk rows from hand-made databases can still be removed). */
static char *dir_canon_or_raw(const char *address)
{
	struct mail_address a;
	const char *error;
	char *s;

	if (address_parse(address, ADDR_SMTPUTF8, &a, &error) < 0)
		return xstrdup(address);
	s = mail_address_to_string(&a);
	mail_address_free(&a);
	return s;
}

static int dir_check_hash(const char *hash, char **error_r)
{
	if (hash == NULL || hash[0] == '\0')
		return dir_fail(error_r, "empty password hash");
	for (const char *p = hash; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return dir_fail(error_r, "password hash contains control characters");
	return 0;
}

int dir_domain_add(struct directory *d, const char *domain, char **error_r)
{
	char *name;
	int ret;

	if (dir_need_open(d, error_r) < 0 || (name = dir_norm_domain(domain, error_r)) == NULL)
		return -1;
	ret = d->driver->domain_add(d, name, error_r);
	free(name);
	return ret;
}

/* Deletes and listings take any name as given (lowercased), so rows a
 * hand-made database holds can still be reached. */
static int dir_need_name(const char *name, const char *what, char **error_r)
{
	if (name != NULL && name[0] != '\0')
		return 0;
	return dir_fail(error_r, "missing %s", what);
}

int dir_domain_del(struct directory *d, const char *domain, char **error_r)
{
	char *name;
	int ret;

	if (dir_need_open(d, error_r) < 0 || dir_need_name(domain, "domain", error_r) < 0)
		return -1;
	name = dir_lower_dup(domain);
	ret = d->driver->domain_del(d, name, error_r);
	free(name);
	return ret;
}

int dir_domain_list(struct directory *d, struct dir_strlist *out, char **error_r)
{
	memset(out, 0, sizeof(*out));
	if (dir_need_open(d, error_r) < 0)
		return -1;
	return d->driver->domain_list(d, out, error_r);
}

static int dir_check_user(const struct mail_address *a, const char *email,
			  const char *password_hash, int64_t quota, char **error_r)
{
	if (!address_local_is_safe_for_path(a->local))
		return dir_fail(error_r, "invalid user %s: the local part cannot be a mailbox"
			       " directory name", email);
	if (quota < 0)
		return dir_fail(error_r, "invalid quota %lld", (long long)quota);
	return dir_check_hash(password_hash, error_r);
}

int dir_user_add(struct directory *d, const char *email, const char *password_hash,
		 int64_t quota, char **error_r)
{
	struct mail_address a;
	char *canon;
	int ret = -1;

	if (dir_need_open(d, error_r) < 0 ||
	    (canon = dir_norm_address(email, &a, error_r)) == NULL)
		return -1;
	if (dir_check_user(&a, canon, password_hash, quota, error_r) == 0)
		ret = d->driver->user_add(d, canon, a.domain, password_hash, quota, error_r);
	free(canon);
	mail_address_free(&a);
	return ret;
}

int dir_user_passwd(struct directory *d, const char *email, const char *password_hash,
		    char **error_r)
{
	char *canon;
	int ret;

	if (dir_need_open(d, error_r) < 0 || dir_need_name(email, "user", error_r) < 0 ||
	    dir_check_hash(password_hash, error_r) < 0)
		return -1;
	canon = dir_canon_or_raw(email);
	ret = d->driver->user_passwd(d, canon, password_hash, error_r);
	free(canon);
	return ret;
}

int dir_user_del(struct directory *d, const char *email, char **error_r)
{
	char *canon;
	int ret;

	if (dir_need_open(d, error_r) < 0 || dir_need_name(email, "user", error_r) < 0)
		return -1;
	canon = dir_canon_or_raw(email);
	ret = d->driver->user_del(d, canon, error_r);
	free(canon);
	return ret;
}

int dir_user_list(struct directory *d, const char *domain_or_null, struct dir_strlist *out,
		  char **error_r)
{
	char *name = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	if (dir_need_open(d, error_r) < 0)
		return -1;
	if (domain_or_null != NULL)
		name = dir_lower_dup(domain_or_null);
	ret = d->driver->user_list(d, name, out, error_r);
	free(name);
	return ret;
}

/* "a@x" (canonical) or the catch-all "@x"; *domain_r gets the domain. */
static char *dir_norm_source(const char *source, char **domain_r, char **error_r)
{
	struct mail_address a;
	char *canon;

	if (source != NULL && source[0] == '@') {
		if ((*domain_r = dir_norm_domain(source + 1, error_r)) == NULL)
			return NULL;
		return xasprintf("@%s", *domain_r);
	}
	if ((canon = dir_norm_address(source, &a, error_r)) == NULL)
		return NULL;
	*domain_r = xstrdup(a.domain);
	mail_address_free(&a);
	return canon;
}

/* Any deliverable address, remote ones and address literals included. */
static char *dir_norm_destination(const char *dest, char **error_r)
{
	struct mail_address a;
	const char *error;
	char *canon;

	if (dest == NULL || address_parse(dest, ADDR_SMTPUTF8, &a, &error) < 0) {
		dir_fail(error_r, "invalid destination %s: %s", dest != NULL ? dest : "(null)",
			dest != NULL ? error : "missing");
		return NULL;
	}
	canon = a.domain[0] != '\0' ? mail_address_to_string(&a) : NULL;
	if (canon == NULL)
		dir_fail(error_r, "invalid destination %s: no domain", dest);
	mail_address_free(&a);
	return canon;
}

int dir_alias_add(struct directory *d, const char *source, const char *destination,
		  int max_depth, char **error_r)
{
	char *src = NULL, *domain = NULL, *dest = NULL;
	int ret = -1;

	if (max_depth <= 0)
		max_depth = RESOLVE_DEFAULT_MAX_DEPTH;
	if (dir_need_open(d, error_r) == 0 &&
	    (src = dir_norm_source(source, &domain, error_r)) != NULL &&
	    (dest = dir_norm_destination(destination, error_r)) != NULL)
		ret = d->driver->alias_add(d, src, domain, dest, max_depth, error_r);
	free(src);
	free(domain);
	free(dest);
	return ret;
}

int dir_alias_del(struct directory *d, const char *source, const char *destination_or_null,
		  char **error_r)
{
	char *src, *dest;
	int ret;

	if (dir_need_open(d, error_r) < 0 || dir_need_name(source, "alias source", error_r) < 0)
		return -1;
	src = dir_canon_or_raw(source);
	dest = destination_or_null != NULL ? dir_canon_or_raw(destination_or_null) : NULL;
	ret = d->driver->alias_del(d, src, dest, error_r);
	free(src);
	free(dest);
	return ret;
}

int dir_alias_list(struct directory *d, const char *domain_or_null,
		   struct dir_strlist *sources, struct dir_strlist *dests, char **error_r)
{
	char *name = NULL;
	int ret;

	memset(sources, 0, sizeof(*sources));
	memset(dests, 0, sizeof(*dests));
	if (dir_need_open(d, error_r) < 0)
		return -1;
	if (domain_or_null != NULL)
		name = dir_lower_dup(domain_or_null);
	ret = d->driver->alias_list(d, name, sources, dests, error_r);
	free(name);
	return ret;
}
