#ifndef YOUJU_DIR_H
#define YOUJU_DIR_H
/*
 * The directory: virtual domains, mailboxes (users) and aliases.
 *
 * Every lookup has three outcomes (DESIGN.md point 4): DIR_FOUND,
 * DIR_NOTFOUND, DIR_TEMPFAIL. Anything that is not a clean answer (database
 * busy beyond the busy timeout, locked, I/O error, corrupt, not open) is
 * DIR_TEMPFAIL, never DIR_NOTFOUND, so the client gets a 4xx and retries.
 * A NULL directory (not open yet, or closed) answers DIR_TEMPFAIL to every
 * lookup and "database is unavailable" to every admin operation.
 *
 * The schema is the classic Postfix+Dovecot tutorial one (DESIGN.md point 9):
 *   virtual_domains(id, name)
 *   virtual_users(id, domain_id, password, email, quota, active, created)
 *   virtual_aliases(id, domain_id, source, destination)
 * Names compare case-insensitively (as MySQL's default collation does for
 * the tutorial). Catch-all aliases have source "@domain". One destination
 * column may hold several addresses separated by commas (Postfix reads
 * alias results that way); dir_resolve splits them.
 *
 * Strings handed in are borrowed; strings and lists handed out are malloc'd
 * and owned by the caller (free with the matching *_free).
 */
#include <stdbool.h>
#include <stdint.h>

enum dir_result {
	DIR_TEMPFAIL = -1,
	DIR_NOTFOUND = 0,
	DIR_FOUND = 1,
};

struct directory;

struct dir_user {
	int64_t id;
	char *email;
	char *password;		/* the stored hash, e.g. "{SHA512-CRYPT}$6$..." */
	int64_t quota;		/* bytes, 0 = unlimited */
	bool active;
};
/* Frees the strings (the password is wiped first) and zeroes *u. */
void dir_user_free(struct dir_user *u);

struct dir_strlist {
	char **items;
	size_t count;
};
/* Append a malloc'd copy of s (for drivers and callers building lists). */
void dir_strlist_add(struct dir_strlist *l, const char *s);
void dir_strlist_free(struct dir_strlist *l);

/*
 * Open the SQLite directory at path.
 * readonly=false (the CLI): creates the file (mode 0640) if missing, creates
 *   the tables if missing, and upgrades a bare tutorial database (adds quota,
 *   active, created and case-insensitive indexes) to schema version 1.
 * readonly=true (the auth role): SQLITE_OPEN_READONLY; fails unless the
 *   schema version is exactly one this code understands.
 * Returns 0, or -1 with *error_r malloc'd.
 */
int dir_open_sqlite(const char *path, bool readonly, struct directory **dir_r,
		    char **error_r);
/* Close and set *dir = NULL; no-op on NULL. */
void dir_close(struct directory **dir);
/* For drivers: *error_r = malloc'd formatted message; returns -1. */
int dir_fail(char **error_r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Lookups (the daemon). Each returns an enum dir_result. Out-parameters are
 * zeroed first and filled only on DIR_FOUND. */
int dir_domain_exists(struct directory *d, const char *domain);
/* Inactive users are DIR_NOTFOUND. */
int dir_user_lookup(struct directory *d, const char *email, struct dir_user *u);
/* Destinations of the aliases whose source is exactly `source` ("a@x", or
 * "@x" for the catch-all), in insertion order, unsplit. */
int dir_alias_lookup(struct directory *d, const char *source, struct dir_strlist *dests);

/*
 * Admin operations (the CLI). Each runs as one transaction and returns 0, or
 * -1 with *error_r malloc'd and human-readable, e.g.
 * "domain example.org already exists", "unknown domain example.org",
 * "user a@x already exists", "database is unavailable: database is locked".
 * Inputs are validated (address_parse, address_local_is_safe_for_path,
 * domain_is_valid) and stored normalized: domains lowercased, addresses in
 * mail_address_to_string form. Domains must be ASCII (IDNs as A-labels).
 * Deletes and listings take names as given (lowercased / canonicalized when
 * they parse) so that odd rows of a hand-made database can still be reached.
 */
int dir_domain_add(struct directory *d, const char *domain, char **error_r);
/* Also deletes the domain's users and aliases (explicitly, so tutorial
 * databases without ON DELETE CASCADE behave the same). */
int dir_domain_del(struct directory *d, const char *domain, char **error_r);
int dir_domain_list(struct directory *d, struct dir_strlist *out, char **error_r);
/* The domain must exist; quota >= 0. */
int dir_user_add(struct directory *d, const char *email, const char *password_hash,
		 int64_t quota, char **error_r);
int dir_user_passwd(struct directory *d, const char *email, const char *password_hash,
		    char **error_r);
int dir_user_del(struct directory *d, const char *email, char **error_r);
/* Emails of all users, or of one domain's; sorted. */
int dir_user_list(struct directory *d, const char *domain_or_null, struct dir_strlist *out,
		  char **error_r);
/* source: "a@x" or the catch-all "@x"; the domain of the source must exist;
 * the destination may be remote. Refuses duplicates, and an alias after which
 * expanding `source` meets a loop or goes deeper than max_depth alias levels
 * (<= 0: RESOLVE_DEFAULT_MAX_DEPTH), checked with dir_resolve_alias on the
 * would-be state inside the transaction with delimiter "+". Only loops
 * reachable from the new alias are looked for, which suffices when the
 * database had none before. */
int dir_alias_add(struct directory *d, const char *source, const char *destination,
		  int max_depth, char **error_r);
/* Delete one alias, or all of source's when destination_or_null is NULL. */
int dir_alias_del(struct directory *d, const char *source, const char *destination_or_null,
		  char **error_r);
/* Parallel lists (sources->items[i] -> dests->items[i]), sorted by source. */
int dir_alias_list(struct directory *d, const char *domain_or_null,
		   struct dir_strlist *sources, struct dir_strlist *dests, char **error_r);

/*
 * Driver interface. A driver embeds struct directory as its first member and
 * points it at its vtable; the dir_* functions above dispatch through it
 * (after the NULL check). Admin operations are in the vtable too, so the CLI
 * works on any backend. Inputs reaching the driver are already validated and
 * normalized.
 */
struct dir_driver {
	const char *name;
	void (*close)(struct directory *d);
	int (*domain_exists)(struct directory *d, const char *domain);
	int (*user_lookup)(struct directory *d, const char *email, struct dir_user *u);
	int (*alias_lookup)(struct directory *d, const char *source, struct dir_strlist *dests);

	int (*domain_add)(struct directory *d, const char *domain, char **error_r);
	int (*domain_del)(struct directory *d, const char *domain, char **error_r);
	int (*domain_list)(struct directory *d, struct dir_strlist *out, char **error_r);
	int (*user_add)(struct directory *d, const char *email, const char *domain,
			const char *password_hash, int64_t quota, char **error_r);
	int (*user_passwd)(struct directory *d, const char *email, const char *password_hash,
			   char **error_r);
	int (*user_del)(struct directory *d, const char *email, char **error_r);
	int (*user_list)(struct directory *d, const char *domain_or_null,
			 struct dir_strlist *out, char **error_r);
	int (*alias_add)(struct directory *d, const char *source, const char *domain,
			 const char *destination, int max_depth, char **error_r);
	int (*alias_del)(struct directory *d, const char *source, const char *destination_or_null,
			 char **error_r);
	int (*alias_list)(struct directory *d, const char *domain_or_null,
			  struct dir_strlist *sources, struct dir_strlist *dests, char **error_r);
};

struct directory {
	const struct dir_driver *driver;
};

#endif
