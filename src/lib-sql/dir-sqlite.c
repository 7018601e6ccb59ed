/*
 * The SQLite directory driver (the default), followed by the generic dir_*
 * front end that validates inputs and dispatches through struct dir_driver.
 * The front end belongs in its own dir.c once a second driver exists.
 *
 * Every statement is a constant string with bound parameters. Lookups
 * compare with an explicit COLLATE NOCASE so that tables created by hand
 * from the tutorial (binary collation) behave like MySQL's default.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "dir-resolve.h"
#include "dir.h"
#include "log.h"
#include "xalloc.h"

#define SQ_SCHEMA_VERSION 1
#define SQ_BUSY_TIMEOUT_MS 2000
#define SQ_FILE_MODE 0640	/* the auth role reads it through the group */

enum sq_stmt {
	SQ_TABLE_EXISTS,
	SQ_COLUMN_EXISTS,
	SQ_DOMAIN_ID,
	SQ_DOMAIN_INSERT,
	SQ_DOMAIN_DELETE,
	SQ_DOMAIN_DELETE_USERS,
	SQ_DOMAIN_DELETE_ALIASES,
	SQ_DOMAIN_LIST,
	SQ_USER_GET,
	SQ_USER_INSERT,
	SQ_USER_PASSWD,
	SQ_USER_DELETE,
	SQ_USER_LIST,
	SQ_USER_LIST_DOMAIN,
	SQ_ALIAS_GET,
	SQ_ALIAS_EXISTS,
	SQ_ALIAS_INSERT,
	SQ_ALIAS_DELETE,
	SQ_ALIAS_LIST,
	SQ_ALIAS_LIST_DOMAIN,
	SQ_STMT_COUNT
};

static const char *const sq_sql[SQ_STMT_COUNT] = {
	[SQ_TABLE_EXISTS] =
		"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
	[SQ_COLUMN_EXISTS] =
		"SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE",
	[SQ_DOMAIN_ID] =
		"SELECT id FROM virtual_domains WHERE name = ?1 COLLATE NOCASE",
	[SQ_DOMAIN_INSERT] =
		"INSERT INTO virtual_domains (name) VALUES (?1)",
	[SQ_DOMAIN_DELETE] =
		"DELETE FROM virtual_domains WHERE id = ?1",
	[SQ_DOMAIN_DELETE_USERS] =
		"DELETE FROM virtual_users WHERE domain_id = ?1",
	[SQ_DOMAIN_DELETE_ALIASES] =
		"DELETE FROM virtual_aliases WHERE domain_id = ?1",
	[SQ_DOMAIN_LIST] =
		"SELECT name FROM virtual_domains ORDER BY name COLLATE NOCASE",
	[SQ_USER_GET] =
		"SELECT id, email, password, quota, active FROM virtual_users"
		" WHERE email = ?1 COLLATE NOCASE",
	/* `created` explicitly: upgraded tables could not get the default */
	[SQ_USER_INSERT] =
		"INSERT INTO virtual_users (domain_id, email, password, quota, active, created)"
		" VALUES (?1, ?2, ?3, ?4, 1, CURRENT_TIMESTAMP)",
	[SQ_USER_PASSWD] =
		"UPDATE virtual_users SET password = ?2 WHERE email = ?1 COLLATE NOCASE",
	[SQ_USER_DELETE] =
		"DELETE FROM virtual_users WHERE email = ?1 COLLATE NOCASE",
	[SQ_USER_LIST] =
		"SELECT email FROM virtual_users ORDER BY email COLLATE NOCASE",
	[SQ_USER_LIST_DOMAIN] =
		"SELECT email FROM virtual_users WHERE domain_id = ?1"
		" ORDER BY email COLLATE NOCASE",
	[SQ_ALIAS_GET] =
		"SELECT destination FROM virtual_aliases WHERE source = ?1 COLLATE NOCASE"
		" ORDER BY id",
	[SQ_ALIAS_EXISTS] =
		"SELECT 1 FROM virtual_aliases WHERE source = ?1 COLLATE NOCASE"
		" AND destination = ?2 COLLATE NOCASE",
	[SQ_ALIAS_INSERT] =
		"INSERT INTO virtual_aliases (domain_id, source, destination) VALUES (?1, ?2, ?3)",
	[SQ_ALIAS_DELETE] =
		"DELETE FROM virtual_aliases WHERE source = ?1 COLLATE NOCASE"
		" AND (?2 IS NULL OR destination = ?2 COLLATE NOCASE)",
	[SQ_ALIAS_LIST] =
		"SELECT source, destination FROM virtual_aliases"
		" ORDER BY source COLLATE NOCASE, destination COLLATE NOCASE",
	[SQ_ALIAS_LIST_DOMAIN] =
		"SELECT source, destination FROM virtual_aliases WHERE domain_id = ?1"
		" ORDER BY source COLLATE NOCASE, destination COLLATE NOCASE",
};

/* Schema version 1: the tutorial tables plus quota/active/created. */
struct sq_table {
	const char *name;
	const char *create_sql;
	/* for a table that existed before we met it (binary collation) */
	const char *nocase_index_sql;
};

static const struct sq_table sq_tables[] = {
	{ "virtual_domains",
	  "CREATE TABLE IF NOT EXISTS virtual_domains ("
	  " id INTEGER PRIMARY KEY,"
	  " name TEXT NOT NULL UNIQUE COLLATE NOCASE)",
	  "CREATE INDEX IF NOT EXISTS youju_domains_name"
	  " ON virtual_domains (name COLLATE NOCASE)" },
	{ "virtual_users",
	  "CREATE TABLE IF NOT EXISTS virtual_users ("
	  " id INTEGER PRIMARY KEY,"
	  " domain_id INTEGER NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,"
	  " password TEXT NOT NULL,"
	  " email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	  " quota INTEGER NOT NULL DEFAULT 0,"
	  " active INTEGER NOT NULL DEFAULT 1,"
	  " created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
	  "CREATE INDEX IF NOT EXISTS youju_users_email"
	  " ON virtual_users (email COLLATE NOCASE)" },
	{ "virtual_aliases",
	  "CREATE TABLE IF NOT EXISTS virtual_aliases ("
	  " id INTEGER PRIMARY KEY,"
	  " domain_id INTEGER NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,"
	  " source TEXT NOT NULL COLLATE NOCASE,"
	  " destination TEXT NOT NULL COLLATE NOCASE,"
	  " UNIQUE (source, destination))",
	  "CREATE INDEX IF NOT EXISTS youju_aliases_source"
	  " ON virtual_aliases (source COLLATE NOCASE)" },
};

/* Child-key indexes: domain deletes and per-domain listings. */
static const char *const sq_domain_id_indexes[] = {
	"CREATE INDEX IF NOT EXISTS youju_users_domain ON virtual_users (domain_id)",
	"CREATE INDEX IF NOT EXISTS youju_aliases_domain ON virtual_aliases (domain_id)",
};

/* Columns a hand-made tutorial database must have (add_sql NULL) or may lack.
 * SQLite refuses ADD COLUMN with a non-constant default, so an upgraded
 * `created` defaults to '' (unknown) and inserts set it explicitly. */
static const struct {
	const char *table, *column, *add_sql;
} sq_columns[] = {
	{ "virtual_domains", "id", NULL },
	{ "virtual_domains", "name", NULL },
	{ "virtual_users", "id", NULL },
	{ "virtual_users", "domain_id", NULL },
	{ "virtual_users", "password", NULL },
	{ "virtual_users", "email", NULL },
	{ "virtual_users", "quota",
	  "ALTER TABLE virtual_users ADD COLUMN quota INTEGER NOT NULL DEFAULT 0" },
	{ "virtual_users", "active",
	  "ALTER TABLE virtual_users ADD COLUMN active INTEGER NOT NULL DEFAULT 1" },
	{ "virtual_users", "created",
	  "ALTER TABLE virtual_users ADD COLUMN created TEXT NOT NULL DEFAULT ''" },
	{ "virtual_aliases", "id", NULL },
	{ "virtual_aliases", "domain_id", NULL },
	{ "virtual_aliases", "source", NULL },
	{ "virtual_aliases", "destination", NULL },
};

#define SQ_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

struct dir_sqlite {
	struct directory dir;	/* first: what callers hold */
	sqlite3 *db;
	bool readonly;
	sqlite3_stmt *stmts[SQ_STMT_COUNT];
};

/* A bound parameter: ?1, ?2, ... in order; a NULL text binds SQL NULL. */
struct sq_arg {
	bool end;
	bool is_text;
	const char *text;
	int64_t num;
};
#define SQ_TEXT(s) { .is_text = true, .text = (s) }
#define SQ_INT(n) { .num = (n) }
#define SQ_END { .end = true }
#define SQ_ARGS(...) ((const struct sq_arg[]){ __VA_ARGS__, SQ_END })
#define SQ_NOARGS ((const struct sq_arg[]){ SQ_END })

/* The normalized inputs of one admin operation. */
struct sq_op {
	const char *name;	/* domain, email or alias source */
	const char *domain;	/* the domain `name` belongs to */
	const char *value;	/* password hash or alias destination */
	int64_t quota;
	int max_depth;
	struct dir_strlist *list, *list2;
};
typedef int sq_body_fn(struct dir_sqlite *s, struct sq_op *op, char **error_r);

static struct dir_sqlite *sq_of(struct directory *d)
{
	return (struct dir_sqlite *)d;
}

static int sq_fail_db(struct dir_sqlite *s, char **error_r)
{
	return dir_fail(error_r, "database is unavailable: %s", sqlite3_errmsg(s->db));
}

/* Lookups turn every failure into DIR_TEMPFAIL; say why once, here. */
static int sq_lookup_done(struct dir_sqlite *s, int ret, const char *what)
{
	if (ret == DIR_TEMPFAIL)
		log_error("directory: %s failed: %s", what, sqlite3_errmsg(s->db));
	return ret;
}

/* Reset after every use: an unreset SELECT keeps its read transaction open
 * and would block writers. */
static void sq_done(sqlite3_stmt *st)
{
	if (st != NULL) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

/* Prepared on first use and kept for the life of the connection. */
static sqlite3_stmt *sq_stmt(struct dir_sqlite *s, enum sq_stmt id)
{
	if (s->stmts[id] == NULL &&
	    sqlite3_prepare_v3(s->db, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
			       &s->stmts[id], NULL) != SQLITE_OK) {
		sqlite3_finalize(s->stmts[id]);
		s->stmts[id] = NULL;
	}
	return s->stmts[id];
}

static int sq_bind_one(sqlite3_stmt *st, int idx, const struct sq_arg *a)
{
	if (!a->is_text)
		return sqlite3_bind_int64(st, idx, a->num);
	if (a->text == NULL)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, a->text, -1, SQLITE_STATIC);
}

/* The statement, bound; NULL on error. */
static sqlite3_stmt *sq_bind(struct dir_sqlite *s, enum sq_stmt id, const struct sq_arg *args)
{
	sqlite3_stmt *st = sq_stmt(s, id);

	for (int i = 0; st != NULL && !args[i].end; i++) {
		if (sq_bind_one(st, i + 1, &args[i]) != SQLITE_OK) {
			sq_done(st);
			return NULL;
		}
	}
	return st;
}

/* First row: DIR_FOUND with *st_r on the row (caller calls sq_done),
 * DIR_NOTFOUND, or DIR_TEMPFAIL. */
static int sq_get(struct dir_sqlite *s, enum sq_stmt id, const struct sq_arg *args,
		  sqlite3_stmt **st_r)
{
	sqlite3_stmt *st = sq_bind(s, id, args);
	int rc = st != NULL ? sqlite3_step(st) : SQLITE_ERROR;

	*st_r = st;
	if (rc == SQLITE_ROW)
		return DIR_FOUND;
	sq_done(st);
	return rc == SQLITE_DONE ? DIR_NOTFOUND : DIR_TEMPFAIL;
}

/* Run a statement that returns no rows; *changes_r (optional) = rows hit. */
static int sq_write(struct dir_sqlite *s, enum sq_stmt id, const struct sq_arg *args,
		    int *changes_r, char **error_r)
{
	sqlite3_stmt *st = sq_bind(s, id, args);
	int rc = st != NULL ? sqlite3_step(st) : SQLITE_ERROR;

	if (rc != SQLITE_DONE) {
		sq_fail_db(s, error_r);
		sq_done(st);
		return -1;
	}
	sq_done(st);
	if (changes_r != NULL)
		*changes_r = sqlite3_changes(s->db);
	return 0;
}

static char *sq_col_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return xstrdup(t != NULL ? (const char *)t : "");
}

/* Every row's column 0 (and 1 into list2, when given). DIR_FOUND if any. */
static int sq_collect(struct dir_sqlite *s, enum sq_stmt id, const struct sq_arg *args,
		      struct dir_strlist *list, struct dir_strlist *list2)
{
	sqlite3_stmt *st = sq_bind(s, id, args);
	int rc = st != NULL ? sqlite3_step(st) : SQLITE_ERROR;

	for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
		dir_strlist_add(list, (const char *)sqlite3_column_text(st, 0));
		if (list2 != NULL)
			dir_strlist_add(list2, (const char *)sqlite3_column_text(st, 1));
	}
	sq_done(st);
	if (rc != SQLITE_DONE) {
		dir_strlist_free(list);
		if (list2 != NULL)
			dir_strlist_free(list2);
		return DIR_TEMPFAIL;
	}
	return list->count > 0 ? DIR_FOUND : DIR_NOTFOUND;
}

static int sq_exec(struct dir_sqlite *s, const char *sql, char **error_r)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail_db(s, error_r);
	return 0;
}

static void sq_rollback(struct dir_sqlite *s)
{
	/* some errors (SQLITE_FULL, IOERR) have rolled back already */
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* One admin operation = one transaction. IMMEDIATE takes the write lock up
 * front, so the checks in the body cannot race another writer. */
static int sq_txn(struct dir_sqlite *s, bool write, sq_body_fn *body, struct sq_op *op,
		  char **error_r)
{
	*error_r = NULL;
	if (write && s->readonly)
		return dir_fail(error_r, "database is unavailable: opened read-only");
	if (sq_exec(s, write ? "BEGIN IMMEDIATE" : "BEGIN", error_r) < 0)
		return -1;
	if (body(s, op, error_r) == 0 && sq_exec(s, "COMMIT", error_r) == 0)
		return 0;
	sq_rollback(s);
	return -1;
}

static int sq_domain_id(struct dir_sqlite *s, const char *domain, int64_t *id_r)
{
	sqlite3_stmt *st;
	int ret = sq_get(s, SQ_DOMAIN_ID, SQ_ARGS(SQ_TEXT(domain)), &st);

	if (ret == DIR_FOUND) {
		*id_r = sqlite3_column_int64(st, 0);
		sq_done(st);
	}
	return ret;
}

/* The id of a domain that must exist, for admin operations. */
static int sq_need_domain(struct dir_sqlite *s, const char *domain, int64_t *id_r,
			  char **error_r)
{
	int ret = sq_domain_id(s, domain, id_r);

	if (ret == DIR_NOTFOUND)
		return dir_fail(error_r, "unknown domain %s", domain);
	return ret == DIR_FOUND ? 0 : sq_fail_db(s, error_r);
}

/* ---- lookups ---- */

static int sq_domain_exists(struct directory *d, const char *domain)
{
	struct dir_sqlite *s = sq_of(d);
	int64_t id;

	return sq_lookup_done(s, sq_domain_id(s, domain, &id), "domain lookup");
}

static int sq_user_lookup(struct directory *d, const char *email, struct dir_user *u)
{
	struct dir_sqlite *s = sq_of(d);
	sqlite3_stmt *st;
	int ret = sq_get(s, SQ_USER_GET, SQ_ARGS(SQ_TEXT(email)), &st);

	if (ret != DIR_FOUND)
		return sq_lookup_done(s, ret, "user lookup");
	if (sqlite3_column_int64(st, 4) == 0) {
		ret = DIR_NOTFOUND;
	} else {
		u->id = sqlite3_column_int64(st, 0);
		u->email = sq_col_dup(st, 1);
		u->password = sq_col_dup(st, 2);
		u->quota = sqlite3_column_int64(st, 3);
		u->active = true;
	}
	sq_done(st);
	return ret;
}

static int sq_alias_lookup(struct directory *d, const char *source, struct dir_strlist *dests)
{
	struct dir_sqlite *s = sq_of(d);
	int ret = sq_collect(s, SQ_ALIAS_GET, SQ_ARGS(SQ_TEXT(source)), dests, NULL);

	return sq_lookup_done(s, ret, "alias lookup");
}

/* ---- admin operations: transaction bodies ---- */

static int sq_domain_add_body(struct dir_sqlite *s, struct sq_op *op, char **error_r)
{
	int64_t id;
	int ret = sq_domain_id(s, op->name, &id);

	if (ret == DIR_FOUND)
		return dir_fail(error_r, "domain %s already exists", op->name);
	if (ret == DIR_TEMPFAIL)
		return sq_fail_db(s, error_r);
	return sq_write(s, SQ_DOMAIN_INSERT, SQ_ARGS(SQ_TEXT(op->name)), NULL, error_r);
}

/* Children first and explicitly: a hand-made tutorial database may lack
 * ON DELETE CASCADE. */
static int sq_domain_del_body(struct dir_sqlite *s, struct sq_op *op, char **error_r)
{
	int64_t id;

	if (sq_need_domain(s, op->name, &id, error_r) < 0 ||
	    sq_write(s, SQ_DOMAIN_DELETE_ALIASES, SQ_ARGS(SQ_INT(id)), NULL, error_r) < 0 ||
	    sq_write(s, SQ_DOMAIN_DELETE_USERS, SQ_ARGS(SQ_INT(id)), NULL, error_r) < 0)
		return -1;
	return sq_write(s, SQ_DOMAIN_DELETE, SQ_ARGS(SQ_INT(id)), NULL, error_r);
}

static int sq_domain_list_body(struct dir_sqlite *s, struct sq_op *op, char **error_r)
{
	if (sq_collect(s, SQ_DOMAIN_LIST, SQ_NOARGS, op->list, NULL) == DIR_TEMPFAIL)
		return sq_fail_db(s, error_r);
	return 0;
}

static int sq_user_add_body(struct dir_sqlite *s, struct sq_op *op, char **error_r)
{
	sqlite3_stmt *st;
	int64_t domain_id;
	int ret;

	if (sq_need_domain(s, op->domain, &domain_id, error_r) < 0)
		return -1;
	/* inactive users count too: the email is UNIQUE */
	ret = sq_get(s, SQ_USER_GET, SQ_ARGS(SQ_TEXT(op->name)), &st);
	sq_done(st);
	if (ret == DIR_FOUND)
		return dir_fail(error_r, "user %s already exists", op->name);
	if (ret == DIR_TEMPFAIL)
		return sq_fail_db(s, error_r);
	return sq_write(s, SQ_USER_INSERT,
			SQ_ARGS(SQ_INT(domain_id), SQ_TEXT(op->name), SQ_TEXT(op->value),
				SQ_INT(op->quota)), NULL, error_r);
}

static int sq_user_passwd_body(struct dir_sqlite *s, struct sq_op *op, char **error_r)
{
	int changes;

	if (sq_write(s, SQ_USER_PASSWD, SQ_ARGS(SQ_TEXT(op->name), SQ_TEXT(op->value)),
		     &changes, error_r) < 0)
		return -1;
	return changes > 0 ? 0 : dir_fail(error_r, "unknown user %s", op->name);
}

static int sq_user_del_body(struct dir_sqlite *s, struct sq_op *op, char **error_r)
{
	int changes;

	if (sq_write(s, SQ_USER_DELETE, SQ_ARGS(SQ_TEXT(op->name)), &changes, error_r) < 0)
		return -1;
	return changes > 0 ? 0 : dir_fail(error_r, "unknown user %s", op->name);
}

static int sq_user_list_body(struct dir_sqlite *s, struct sq_op *op, char **error_r)
{
	int64_t id;
	int ret;

	if (op->domain == NULL) {
		ret = sq_collect(s, SQ_USER_LIST, SQ_NOARGS, op->list, NULL);
	} else {
		if (sq_need_domain(s, op->domain, &id, error_r) < 0)
			return -1;
		ret = sq_collect(s, SQ_USER_LIST_DOMAIN, SQ_ARGS(SQ_INT(id)), op->list, NULL);
	}
	return ret == DIR_TEMPFAIL ? sq_fail_db(s, error_r) : 0;
}

/* Expand the new alias on the would-be state: the lookups run on this
 * connection, inside the transaction, so they see the inserted row. */
static int sq_alias_check(struct dir_sqlite *s, struct sq_op *op, char **error_r)
{
	struct resolve_opts opts = { "+", op->max_depth };
	struct resolve_result r;
	const char *error;
	int ret = dir_resolve_alias(&s->dir, op->name, &opts, &r, &error);

	if (ret == DIR_TEMPFAIL)
		ret = sq_fail_db(s, error_r);
	else if (r.loop != NULL)
		ret = dir_fail(error_r, "alias %s -> %s would create a loop: %s",
			      op->name, op->value, r.loop);
	else if (r.too_deep)
		ret = dir_fail(error_r, "alias %s -> %s would nest aliases deeper than %d levels",
			      op->name, op->value, op->max_depth);
	else
		ret = 0;
	resolve_result_free(&r);
	return ret;
}

static int sq_alias_add_body(struct dir_sqlite *s, struct sq_op *op, char **error_r)
{
	sqlite3_stmt *st;
	int64_t domain_id;
	int ret;

	if (sq_need_domain(s, op->domain, &domain_id, error_r) < 0)
		return -1;
	ret = sq_get(s, SQ_ALIAS_EXISTS, SQ_ARGS(SQ_TEXT(op->name), SQ_TEXT(op->value)), &st);
	sq_done(st);
	if (ret == DIR_FOUND)
		return dir_fail(error_r, "alias %s -> %s already exists", op->name, op->value);
	if (ret == DIR_TEMPFAIL)
		return sq_fail_db(s, error_r);
	if (sq_write(s, SQ_ALIAS_INSERT,
		     SQ_ARGS(SQ_INT(domain_id), SQ_TEXT(op->name), SQ_TEXT(op->value)),
		     NULL, error_r) < 0)
		return -1;
	return sq_alias_check(s, op, error_r);
}

static int sq_alias_del_body(struct dir_sqlite *s, struct sq_op *op, char **error_r)
{
	int changes;

	if (sq_write(s, SQ_ALIAS_DELETE, SQ_ARGS(SQ_TEXT(op->name), SQ_TEXT(op->value)),
		     &changes, error_r) < 0)
		return -1;
	if (changes > 0)
		return 0;
	if (op->value != NULL)
		return dir_fail(error_r, "unknown alias %s -> %s", op->name, op->value);
	return dir_fail(error_r, "unknown alias %s", op->name);
}

static int sq_alias_list_body(struct dir_sqlite *s, struct sq_op *op, char **error_r)
{
	int64_t id;
	int ret;

	if (op->domain == NULL) {
		ret = sq_collect(s, SQ_ALIAS_LIST, SQ_NOARGS, op->list, op->list2);
	} else {
		if (sq_need_domain(s, op->domain, &id, error_r) < 0)
			return -1;
		ret = sq_collect(s, SQ_ALIAS_LIST_DOMAIN, SQ_ARGS(SQ_INT(id)), op->list, op->list2);
	}
	return ret == DIR_TEMPFAIL ? sq_fail_db(s, error_r) : 0;
}

/* ---- admin operations: vtable entries ---- */

static int sq_domain_add(struct directory *d, const char *domain, char **error_r)
{
	struct sq_op op = { .name = domain };
	return sq_txn(sq_of(d), true, sq_domain_add_body, &op, error_r);
}

static int sq_domain_del(struct directory *d, const char *domain, char **error_r)
{
	struct sq_op op = { .name = domain };
	return sq_txn(sq_of(d), true, sq_domain_del_body, &op, error_r);
}

static int sq_domain_list(struct directory *d, struct dir_strlist *out, char **error_r)
{
	struct sq_op op = { .list = out };
	return sq_txn(sq_of(d), false, sq_domain_list_body, &op, error_r);
}

static int sq_user_add(struct directory *d, const char *email, const char *domain,
		       const char *password_hash, int64_t quota, char **error_r)
{
	struct sq_op op = { .name = email, .domain = domain, .value = password_hash,
			    .quota = quota };
	return sq_txn(sq_of(d), true, sq_user_add_body, &op, error_r);
}

static int sq_user_passwd(struct directory *d, const char *email, const char *password_hash,
			  char **error_r)
{
	struct sq_op op = { .name = email, .value = password_hash };
	return sq_txn(sq_of(d), true, sq_user_passwd_body, &op, error_r);
}

static int sq_user_del(struct directory *d, const char *email, char **error_r)
{
	struct sq_op op = { .name = email };
	return sq_txn(sq_of(d), true, sq_user_del_body, &op, error_r);
}

static int sq_user_list(struct directory *d, const char *domain_or_null,
			struct dir_strlist *out, char **error_r)
{
	struct sq_op op = { .domain = domain_or_null, .list = out };
	return sq_txn(sq_of(d), false, sq_user_list_body, &op, error_r);
}

static int sq_alias_add(struct directory *d, const char *source, const char *domain,
			const char *destination, int max_depth, char **error_r)
{
	struct sq_op op = { .name = source, .domain = domain, .value = destination,
			    .max_depth = max_depth };
	return sq_txn(sq_of(d), true, sq_alias_add_body, &op, error_r);
}

static int sq_alias_del(struct directory *d, const char *source,
			const char *destination_or_null, char **error_r)
{
	struct sq_op op = { .name = source, .value = destination_or_null };
	return sq_txn(sq_of(d), true, sq_alias_del_body, &op, error_r);
}

static int sq_alias_list(struct directory *d, const char *domain_or_null,
			 struct dir_strlist *sources, struct dir_strlist *dests, char **error_r)
{
	struct sq_op op = { .domain = domain_or_null, .list = sources, .list2 = dests };
	return sq_txn(sq_of(d), false, sq_alias_list_body, &op, error_r);
}

/* ---- open, schema, close ---- */

static void sq_close(struct directory *d)
{
	struct dir_sqlite *s = sq_of(d);

	for (size_t i = 0; i < SQ_STMT_COUNT; i++)
		sqlite3_finalize(s->stmts[i]);
	sqlite3_close_v2(s->db);
	free(s);
}

static const struct dir_driver dir_sqlite_driver = {
	.name = "sqlite",
	.close = sq_close,
	.domain_exists = sq_domain_exists,
	.user_lookup = sq_user_lookup,
	.alias_lookup = sq_alias_lookup,
	.domain_add = sq_domain_add,
	.domain_del = sq_domain_del,
	.domain_list = sq_domain_list,
	.user_add = sq_user_add,
	.user_passwd = sq_user_passwd,
	.user_del = sq_user_del,
	.user_list = sq_user_list,
	.alias_add = sq_alias_add,
	.alias_del = sq_alias_del,
	.alias_list = sq_alias_list,
};

/* Create the file ourselves so it gets SQ_FILE_MODE whatever the umask
 * (SQLite would use 0644); its journal files copy the mode. */
static int sq_create_file(const char *path, char **error_r)
{
	int fd;

	if (strcmp(path, ":memory:") == 0)
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, SQ_FILE_MODE);
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0 || fchmod(fd, SQ_FILE_MODE) < 0) {
		dir_fail(error_r, "cannot create %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int sq_user_version(struct dir_sqlite *s, int64_t *version_r, char **error_r)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version_r = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : sq_fail_db(s, error_r);
}

/* DIR_FOUND / DIR_NOTFOUND / DIR_TEMPFAIL */
static int sq_exists(struct dir_sqlite *s, enum sq_stmt id, const struct sq_arg *args)
{
	sqlite3_stmt *st;
	int ret = sq_get(s, id, args, &st);

	if (ret == DIR_FOUND)
		sq_done(st);
	return ret;
}

static int sq_upgrade_column(struct dir_sqlite *s, size_t i, char **error_r)
{
	int ret = sq_exists(s, SQ_COLUMN_EXISTS,
			    SQ_ARGS(SQ_TEXT(sq_columns[i].table), SQ_TEXT(sq_columns[i].column)));

	if (ret == DIR_FOUND)
		return 0;
	if (ret == DIR_TEMPFAIL)
		return sq_fail_db(s, error_r);
	if (sq_columns[i].add_sql == NULL)
		return dir_fail(error_r, "table %s has no column %s",
			       sq_columns[i].table, sq_columns[i].column);
	return sq_exec(s, sq_columns[i].add_sql, error_r);
}

/* Version 0 -> 1: create what is missing; bring tables made by hand from
 * the tutorial up to date (columns first, then case-insensitive indexes). */
static int sq_upgrade_v1(struct dir_sqlite *s, char **error_r)
{
	bool existed[SQ_NELEMS(sq_tables)];
	bool upgraded = false;

	for (size_t i = 0; i < SQ_NELEMS(sq_tables); i++) {
		int ret = sq_exists(s, SQ_TABLE_EXISTS, SQ_ARGS(SQ_TEXT(sq_tables[i].name)));
		if (ret == DIR_TEMPFAIL)
			return sq_fail_db(s, error_r);
		existed[i] = ret == DIR_FOUND;
		upgraded |= existed[i];
		if (sq_exec(s, sq_tables[i].create_sql, error_r) < 0)
			return -1;
	}
	for (size_t i = 0; i < SQ_NELEMS(sq_columns); i++)
		if (sq_upgrade_column(s, i, error_r) < 0)
			return -1;
	for (size_t i = 0; i < SQ_NELEMS(sq_tables); i++)
		if (existed[i] && sq_exec(s, sq_tables[i].nocase_index_sql, error_r) < 0)
			return -1;
	for (size_t i = 0; i < SQ_NELEMS(sq_domain_id_indexes); i++)
		if (sq_exec(s, sq_domain_id_indexes[i], error_r) < 0)
			return -1;
	if (upgraded)
		log_info("directory: upgraded existing tables to schema version %d",
			 SQ_SCHEMA_VERSION);
	return sq_exec(s, "PRAGMA user_version = 1", error_r);
}

static int sq_schema_version_known(int64_t version, char **error_r)
{
	if (version > SQ_SCHEMA_VERSION)
		return dir_fail(error_r, "schema version %lld is newer than this youju (%d)",
			       (long long)version, SQ_SCHEMA_VERSION);
	return 0;
}

/* Read-write: create or upgrade inside one write transaction. */
static int sq_schema_rw(struct dir_sqlite *s, char **error_r)
{
	int64_t version = 0;

	if (sq_exec(s, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if (sq_user_version(s, &version, error_r) < 0 ||
	    sq_schema_version_known(version, error_r) < 0 ||
	    (version < SQ_SCHEMA_VERSION && sq_upgrade_v1(s, error_r) < 0) ||
	    sq_exec(s, "COMMIT", error_r) < 0) {
		sq_rollback(s);
		return -1;
	}
	return 0;
}

/* Read-only (auth): the schema must be exactly one we understand. */
static int sq_schema_ro(struct dir_sqlite *s, char **error_r)
{
	int64_t version = 0;

	if (sq_user_version(s, &version, error_r) < 0 ||
	    sq_schema_version_known(version, error_r) < 0)
		return -1;
	if (version < SQ_SCHEMA_VERSION)
		return dir_fail(error_r, "schema version %lld needs an upgrade: open it read-write"
			       " once (any youju admin command)", (long long)version);
	return 0;
}

int dir_open_sqlite(const char *path, bool readonly, struct directory **dir_r,
		    char **error_r)
{
	struct dir_sqlite *s;
	char *error = NULL;
	int rc;

	*dir_r = NULL;
	*error_r = NULL;
	if (!readonly && sq_create_file(path, error_r) < 0)
		return -1;
	s = xcalloc(1, sizeof(*s));
	s->dir.driver = &dir_sqlite_driver;
	s->readonly = readonly;
	rc = sqlite3_open_v2(path, &s->db,
			     readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK)
		sq_fail_db(s, &error);
	else if (sqlite3_busy_timeout(s->db, SQ_BUSY_TIMEOUT_MS) != SQLITE_OK ||
		 sq_exec(s, "PRAGMA foreign_keys = ON", &error) < 0 ||
		 (readonly ? sq_schema_ro(s, &error) : sq_schema_rw(s, &error)) < 0)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK) {
		dir_fail(error_r, "cannot open directory %s: %s", path,
			error != NULL ? error : "unknown error");
		free(error);
		sq_close(&s->dir);
		return -1;
	}
	*dir_r = &s->dir;
	return 0;
}
