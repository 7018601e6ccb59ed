/* Unit tests for the SQLite directory (dir-sqlite.c) and recipient
 * resolution (dir-resolve.c). Every test works in its own test_tmpdir(). */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "dir-resolve.h"
#include "dir.h"
#include "log.h"
#include "test.h"
#include "xalloc.h"

/* Run an admin call that must succeed; the call refers to `err_`. */
#define ADMIN_OK(call) do {                                                   \
	char *err_ = NULL;                                                    \
	int r_ = (call);                                                      \
	if (r_ != 0)                                                          \
		fprintf(stderr, "  %s: %s\n", #call, err_ ? err_ : "(none)"); \
	CHECK_INTEQ(r_, 0);                                                   \
	CHECK(err_ == NULL);                                                  \
	free(err_);                                                           \
} while (0)

/* Run an admin call that must fail with exactly `msg`. */
#define ADMIN_FAILS(call, msg) do {                                           \
	char *err_ = NULL;                                                    \
	CHECK_INTEQ((call), -1);                                              \
	CHECK_STREQ(err_, (msg));                                             \
	free(err_);                                                           \
} while (0)

static char *db_path(const char *name)
{
	return xasprintf("%s/%s", test_tmpdir(), name);
}

static struct directory *open_ok(const char *path, bool readonly)
{
	struct directory *d = NULL;
	char *error = NULL;

	if (dir_open_sqlite(path, readonly, &d, &error) < 0)
		fprintf(stderr, "  open %s: %s\n", path, error);
	CHECK(d != NULL);
	free(error);
	return d;
}

/* Straight SQL on the file, bypassing the directory code. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fprintf(stderr, "  raw_exec: %s\n", msg);
	CHECK(msg == NULL);
	sqlite3_free(msg);
	sqlite3_close(db);
}

static long long raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char *strlist_join(const struct dir_strlist *l)
{
	buf_t b;
	buf_init(&b, 0);
	for (size_t i = 0; i < l->count; i++)
		buf_printf(&b, "%s%s", i > 0 ? " " : "", l->items[i]);
	char *s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

static void check_list(const struct dir_strlist *l, const char *want)
{
	char *s = strlist_join(l);
	CHECK_STREQ(s, want);
	free(s);
}

/* ---- directory ---- */

TEST(dir_create_mode_and_version)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);
	struct stat st;

	REQUIRE(d != NULL);
	CHECK(stat(path, &st) == 0);
	CHECK_INTEQ(st.st_mode & 0777, 0640);
	CHECK_INTEQ(raw_int(path, "PRAGMA user_version"), 1);
	CHECK_INTEQ(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN"
			    " ('virtual_domains','virtual_users','virtual_aliases')"), 3);
	dir_close(&d);
	CHECK(d == NULL);
	dir_close(&d);

	/* reopening an existing database changes nothing */
	d = open_ok(path, false);
	dir_close(&d);
	CHECK_INTEQ(raw_int(path, "PRAGMA user_version"), 1);
	free(path);
}

TEST(dir_domains)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);
	struct dir_strlist l;

	REQUIRE(d != NULL);
	ADMIN_OK(dir_domain_add(d, "Example.ORG", &err_));
	ADMIN_OK(dir_domain_add(d, "b.example", &err_));
	ADMIN_FAILS(dir_domain_add(d, "example.org", &err_), "domain example.org already exists");
	ADMIN_FAILS(dir_domain_add(d, "EXAMPLE.org", &err_), "domain example.org already exists");
	ADMIN_FAILS(dir_domain_add(d, "bad_domain", &err_), "invalid domain name bad_domain");
	ADMIN_FAILS(dir_domain_add(d, "[192.0.2.1]", &err_), "invalid domain name [192.0.2.1]");
	ADMIN_FAILS(dir_domain_add(d, "", &err_), "invalid domain name ");

	CHECK_INTEQ(dir_domain_exists(d, "example.org"), DIR_FOUND);
	CHECK_INTEQ(dir_domain_exists(d, "EXAMPLE.ORG"), DIR_FOUND);
	CHECK_INTEQ(dir_domain_exists(d, "c.example"), DIR_NOTFOUND);

	ADMIN_OK(dir_domain_list(d, &l, &err_));
	check_list(&l, "b.example example.org");
	dir_strlist_free(&l);

	ADMIN_OK(dir_domain_del(d, "EXAMPLE.org", &err_));
	ADMIN_FAILS(dir_domain_del(d, "example.org", &err_), "unknown domain example.org");
	CHECK_INTEQ(dir_domain_exists(d, "example.org"), DIR_NOTFOUND);
	ADMIN_OK(dir_domain_list(d, &l, &err_));
	check_list(&l, "b.example");
	dir_strlist_free(&l);
	dir_close(&d);
	free(path);
}

TEST(dir_users)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);
	struct dir_user u;
	struct dir_strlist l;

	REQUIRE(d != NULL);
	ADMIN_FAILS(dir_user_add(d, "a@x.example", "{PLAIN}pw", 0, &err_),
		    "unknown domain x.example");
	ADMIN_OK(dir_domain_add(d, "x.example", &err_));
	ADMIN_OK(dir_domain_add(d, "y.example", &err_));
	ADMIN_OK(dir_user_add(d, "Alice@X.Example", "{PLAIN}pw", 1000, &err_));
	ADMIN_OK(dir_user_add(d, "bob@x.example", "{PLAIN}pw2", 0, &err_));
	ADMIN_OK(dir_user_add(d, "carol@y.example", "{PLAIN}pw3", 0, &err_));
	ADMIN_FAILS(dir_user_add(d, "alice@x.example", "{PLAIN}x", 0, &err_),
		    "user alice@x.example already exists");
	ADMIN_FAILS(dir_user_add(d, ".hidden@x.example", "{PLAIN}x", 0, &err_),
		    "invalid address .hidden@x.example: misplaced '.' in local part");
	ADMIN_FAILS(dir_user_add(d, "\".hidden\"@x.example", "{PLAIN}x", 0, &err_),
		    "invalid user \".hidden\"@x.example: the local part cannot be a mailbox"
		    " directory name");
	ADMIN_FAILS(dir_user_add(d, "a/b@x.example", "{PLAIN}x", 0, &err_),
		    "invalid user a/b@x.example: the local part cannot be a mailbox"
		    " directory name");
	ADMIN_FAILS(dir_user_add(d, "\"..\"@x.example", "{PLAIN}x", 0, &err_),
		    "invalid user \"..\"@x.example: the local part cannot be a mailbox"
		    " directory name");
	ADMIN_FAILS(dir_user_add(d, "nodomain", "{PLAIN}x", 0, &err_),
		    "invalid address nodomain: missing '@' in address");
	ADMIN_FAILS(dir_user_add(d, "d@x.example", "", 0, &err_), "empty password hash");
	ADMIN_FAILS(dir_user_add(d, "d@x.example", "a\nb", 0, &err_),
		    "password hash contains control characters");
	ADMIN_FAILS(dir_user_add(d, "d@x.example", "{PLAIN}x", -1, &err_), "invalid quota -1");

	CHECK_INTEQ(dir_user_lookup(d, "ALICE@x.example", &u), DIR_FOUND);
	CHECK_STREQ(u.email, "Alice@x.example");
	CHECK_STREQ(u.password, "{PLAIN}pw");
	CHECK_INTEQ(u.quota, 1000);
	CHECK(u.active);
	CHECK(u.id > 0);
	dir_user_free(&u);
	CHECK(u.email == NULL && u.password == NULL);
	CHECK_INTEQ(dir_user_lookup(d, "nobody@x.example", &u), DIR_NOTFOUND);

	ADMIN_OK(dir_user_passwd(d, "alice@X.EXAMPLE", "{PLAIN}new", &err_));
	CHECK_INTEQ(dir_user_lookup(d, "alice@x.example", &u), DIR_FOUND);
	CHECK_STREQ(u.password, "{PLAIN}new");
	dir_user_free(&u);
	ADMIN_FAILS(dir_user_passwd(d, "nobody@x.example", "{PLAIN}x", &err_),
		    "unknown user nobody@x.example");

	ADMIN_OK(dir_user_list(d, NULL, &l, &err_));
	check_list(&l, "Alice@x.example bob@x.example carol@y.example");
	dir_strlist_free(&l);
	ADMIN_OK(dir_user_list(d, "Y.example", &l, &err_));
	check_list(&l, "carol@y.example");
	dir_strlist_free(&l);
	ADMIN_FAILS(dir_user_list(d, "z.example", &l, &err_), "unknown domain z.example");

	ADMIN_OK(dir_user_del(d, "bob@x.example", &err_));
	ADMIN_FAILS(dir_user_del(d, "bob@x.example", &err_), "unknown user bob@x.example");
	CHECK_INTEQ(dir_user_lookup(d, "bob@x.example", &u), DIR_NOTFOUND);
	dir_close(&d);
	free(path);
}

TEST(dir_user_inactive_is_notfound)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);
	struct dir_user u;

	REQUIRE(d != NULL);
	ADMIN_OK(dir_domain_add(d, "x.example", &err_));
	ADMIN_OK(dir_user_add(d, "a@x.example", "{PLAIN}pw", 0, &err_));
	raw_exec(path, "UPDATE virtual_users SET active = 0");
	CHECK_INTEQ(dir_user_lookup(d, "a@x.example", &u), DIR_NOTFOUND);
	/* still there: its email stays taken */
	ADMIN_FAILS(dir_user_add(d, "a@x.example", "{PLAIN}pw", 0, &err_),
		    "user a@x.example already exists");
	dir_close(&d);
	free(path);
}

TEST(dir_aliases)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);
	struct dir_strlist l, l2;

	REQUIRE(d != NULL);
	ADMIN_OK(dir_domain_add(d, "x.example", &err_));
	ADMIN_OK(dir_domain_add(d, "y.example", &err_));
	ADMIN_FAILS(dir_alias_add(d, "a@z.example", "b@x.example", 0, &err_),
		    "unknown domain z.example");
	ADMIN_FAILS(dir_alias_add(d, "@z.example", "b@x.example", 0, &err_),
		    "unknown domain z.example");
	ADMIN_OK(dir_alias_add(d, "list@X.example", "a@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "list@x.example", "b@remote.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "@y.example", "a@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "c@y.example", "c@[192.0.2.1]", 0, &err_));
	ADMIN_FAILS(dir_alias_add(d, "LIST@x.example", "A@X.example", 0, &err_),
		    "alias LIST@x.example -> A@x.example already exists");
	ADMIN_FAILS(dir_alias_add(d, "list@x.example", "nodomain", 0, &err_),
		    "invalid destination nodomain: missing '@' in address");
	ADMIN_FAILS(dir_alias_add(d, "a b@x.example", "a@x.example", 0, &err_),
		    "invalid address a b@x.example: invalid character in local part");
	ADMIN_FAILS(dir_alias_add(d, "@bad_domain", "a@x.example", 0, &err_),
		    "invalid domain name bad_domain");

	CHECK_INTEQ(dir_alias_lookup(d, "LIST@x.example", &l), DIR_FOUND);
	check_list(&l, "a@x.example b@remote.example");
	dir_strlist_free(&l);
	CHECK_INTEQ(dir_alias_lookup(d, "@y.example", &l), DIR_FOUND);
	check_list(&l, "a@x.example");
	dir_strlist_free(&l);
	CHECK_INTEQ(dir_alias_lookup(d, "nobody@x.example", &l), DIR_NOTFOUND);
	CHECK_INTEQ(l.count, 0);

	ADMIN_OK(dir_alias_list(d, NULL, &l, &l2, &err_));
	check_list(&l, "@y.example c@y.example list@x.example list@x.example");
	check_list(&l2, "a@x.example c@[192.0.2.1] a@x.example b@remote.example");
	dir_strlist_free(&l);
	dir_strlist_free(&l2);
	ADMIN_OK(dir_alias_list(d, "x.example", &l, &l2, &err_));
	check_list(&l, "list@x.example list@x.example");
	dir_strlist_free(&l);
	dir_strlist_free(&l2);

	ADMIN_OK(dir_alias_del(d, "list@x.example", "B@remote.example", &err_));
	ADMIN_FAILS(dir_alias_del(d, "list@x.example", "b@remote.example", &err_),
		    "unknown alias list@x.example -> b@remote.example");
	ADMIN_OK(dir_alias_del(d, "@Y.EXAMPLE", NULL, &err_));
	ADMIN_OK(dir_alias_del(d, "list@x.example", NULL, &err_));
	ADMIN_FAILS(dir_alias_del(d, "list@x.example", NULL, &err_),
		    "unknown alias list@x.example");
	ADMIN_OK(dir_alias_list(d, NULL, &l, &l2, &err_));
	check_list(&l, "c@y.example");
	dir_strlist_free(&l);
	dir_strlist_free(&l2);
	dir_close(&d);
	free(path);
}

TEST(dir_domain_del_cascades)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);

	REQUIRE(d != NULL);
	ADMIN_OK(dir_domain_add(d, "x.example", &err_));
	ADMIN_OK(dir_domain_add(d, "y.example", &err_));
	ADMIN_OK(dir_user_add(d, "a@x.example", "{PLAIN}pw", 0, &err_));
	ADMIN_OK(dir_user_add(d, "b@y.example", "{PLAIN}pw", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "l@x.example", "a@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "l@y.example", "b@y.example", 0, &err_));
	ADMIN_OK(dir_domain_del(d, "x.example", &err_));
	CHECK_INTEQ(raw_int(path, "SELECT count(*) FROM virtual_users"), 1);
	CHECK_INTEQ(raw_int(path, "SELECT count(*) FROM virtual_aliases"), 1);
	CHECK_INTEQ(raw_int(path, "SELECT count(*) FROM virtual_users"
			    " WHERE email = 'b@y.example'"), 1);
	dir_close(&d);
	free(path);
}

TEST(dir_alias_loops_refused)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);

	REQUIRE(d != NULL);
	ADMIN_OK(dir_domain_add(d, "x.example", &err_));
	ADMIN_OK(dir_domain_add(d, "y.example", &err_));
	ADMIN_OK(dir_user_add(d, "m@x.example", "{PLAIN}pw", 0, &err_));

	ADMIN_OK(dir_alias_add(d, "a@x.example", "b@y.example", 0, &err_));
	ADMIN_FAILS(dir_alias_add(d, "b@y.example", "a@x.example", 0, &err_),
		    "alias b@y.example -> a@x.example would create a loop:"
		    " b@y.example -> a@x.example -> b@y.example");
	/* longer: a -> b -> c, then c -> a */
	ADMIN_OK(dir_alias_add(d, "b@y.example", "c@x.example", 0, &err_));
	ADMIN_FAILS(dir_alias_add(d, "c@x.example", "a@x.example", 0, &err_),
		    "alias c@x.example -> a@x.example would create a loop:"
		    " c@x.example -> a@x.example -> b@y.example -> c@x.example");
	/* a loop beside a deliverable target is still a loop */
	ADMIN_OK(dir_alias_add(d, "c@x.example", "m@x.example", 0, &err_));
	ADMIN_FAILS(dir_alias_add(d, "c@x.example", "b@y.example", 0, &err_),
		    "alias c@x.example -> b@y.example would create a loop:"
		    " c@x.example -> b@y.example -> c@x.example");
	/* a loop through plus-addressing */
	ADMIN_FAILS(dir_alias_add(d, "c@x.example", "a+tag@x.example", 0, &err_),
		    "alias c@x.example -> a+tag@x.example would create a loop:"
		    " c@x.example -> a+tag@x.example (via a@x.example) -> b@y.example"
		    " -> c@x.example");
	/* a catch-all pointing at an unknown address of its own domain */
	ADMIN_FAILS(dir_alias_add(d, "@x.example", "ghost@x.example", 0, &err_),
		    "alias @x.example -> ghost@x.example would create a loop:"
		    " @x.example -> ghost@x.example (via @x.example)");
	/* the self-alias idiom is not a loop */
	ADMIN_OK(dir_alias_add(d, "m@x.example", "m@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "@x.example", "m@x.example", 0, &err_));
	/* nothing of the refused aliases stayed */
	CHECK_INTEQ(raw_int(path, "SELECT count(*) FROM virtual_aliases"), 5);
	dir_close(&d);
	free(path);
}

TEST(dir_alias_depth_refused)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);

	REQUIRE(d != NULL);
	ADMIN_OK(dir_domain_add(d, "x.example", &err_));
	ADMIN_OK(dir_alias_add(d, "a3@x.example", "r@remote.example", 3, &err_));
	ADMIN_OK(dir_alias_add(d, "a2@x.example", "a3@x.example", 3, &err_));
	ADMIN_OK(dir_alias_add(d, "a1@x.example", "a2@x.example", 3, &err_));
	ADMIN_FAILS(dir_alias_add(d, "a0@x.example", "a1@x.example", 3, &err_),
		    "alias a0@x.example -> a1@x.example would nest aliases deeper than 3 levels");
	ADMIN_OK(dir_alias_add(d, "a0@x.example", "a1@x.example", 4, &err_));
	dir_close(&d);
	free(path);
}

/* The bare tables a user made by following the tutorial (MySQL types and
 * collation aside): no quota/active/created, no NOCASE, no user_version. */
static const char tutorial_schema[] =
	"CREATE TABLE virtual_domains (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
	"CREATE TABLE virtual_users (id INTEGER PRIMARY KEY, domain_id INTEGER NOT NULL,"
	" password TEXT NOT NULL, email TEXT NOT NULL UNIQUE,"
	" FOREIGN KEY (domain_id) REFERENCES virtual_domains(id) ON DELETE CASCADE);"
	"CREATE TABLE virtual_aliases (id INTEGER PRIMARY KEY, domain_id INTEGER NOT NULL,"
	" source TEXT NOT NULL, destination TEXT NOT NULL);"
	"INSERT INTO virtual_domains (id, name) VALUES (1, 'example.org');"
	"INSERT INTO virtual_users (id, domain_id, password, email)"
	" VALUES (1, 1, '{SHA512-CRYPT}$6$salt$hash', 'Alice@example.org');"
	"INSERT INTO virtual_aliases (id, domain_id, source, destination)"
	" VALUES (1, 1, 'postmaster@example.org', 'alice@example.org');";

TEST(dir_upgrade_tutorial_schema)
{
	char *path = db_path("tutorial.db");
	struct directory *d;
	struct dir_user u;
	struct resolve_result r;
	const char *error;
	char *err = NULL;

	raw_exec(path, tutorial_schema);
	/* not upgraded yet: the read-only auth role refuses it */
	CHECK_INTEQ(dir_open_sqlite(path, true, &d, &err), -1);
	CHECK(err != NULL && strstr(err, "needs an upgrade") != NULL);
	free(err);

	d = open_ok(path, false);
	REQUIRE(d != NULL);
	CHECK_INTEQ(raw_int(path, "PRAGMA user_version"), 1);
	CHECK_INTEQ(raw_int(path, "SELECT count(*) FROM pragma_table_info('virtual_users')"
			    " WHERE name IN ('quota', 'active', 'created')"), 3);
	CHECK_INTEQ(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
			    " AND name IN ('youju_domains_name', 'youju_users_email',"
			    " 'youju_aliases_source')"), 3);
	/* old rows: defaults, and case-insensitive lookups on binary columns */
	CHECK_INTEQ(dir_user_lookup(d, "alice@EXAMPLE.org", &u), DIR_FOUND);
	CHECK_STREQ(u.email, "Alice@example.org");
	CHECK_STREQ(u.password, "{SHA512-CRYPT}$6$salt$hash");
	CHECK_INTEQ(u.quota, 0);
	CHECK(u.active);
	dir_user_free(&u);
	CHECK_INTEQ(dir_domain_exists(d, "Example.Org"), DIR_FOUND);
	CHECK_INTEQ(dir_resolve(d, "PostMaster@example.org", NULL, &r, &error), DIR_FOUND);
	REQUIRE(r.count == 1);
	CHECK_STREQ(r.targets[0].address, "Alice@example.org");
	resolve_result_free(&r);
	/* new rows get a creation time even though the column default is '' */
	ADMIN_OK(dir_user_add(d, "bob@example.org", "{PLAIN}x", 5, &err_));
	CHECK_INTEQ(raw_int(path, "SELECT length(created) > 0 FROM virtual_users"
			    " WHERE email = 'bob@example.org'"), 1);
	ADMIN_FAILS(dir_user_add(d, "ALICE@example.org", "{PLAIN}x", 0, &err_),
		    "user ALICE@example.org already exists");
	ADMIN_FAILS(dir_domain_add(d, "EXAMPLE.ORG", &err_), "domain example.org already exists");
	dir_close(&d);

	/* now the auth role can open it */
	d = open_ok(path, true);
	CHECK_INTEQ(dir_domain_exists(d, "example.org"), DIR_FOUND);
	dir_close(&d);
	free(path);
}

TEST(dir_upgrade_refuses_foreign_tables)
{
	char *path = db_path("odd.db");
	struct directory *d;
	char *err = NULL;

	raw_exec(path, "CREATE TABLE virtual_users (id INTEGER PRIMARY KEY, login TEXT)");
	CHECK_INTEQ(dir_open_sqlite(path, false, &d, &err), -1);
	CHECK(d == NULL);
	CHECK(err != NULL && strstr(err, "table virtual_users has no column domain_id") != NULL);
	free(err);
	/* the failed upgrade left nothing behind */
	CHECK_INTEQ(raw_int(path, "PRAGMA user_version"), 0);
	CHECK_INTEQ(raw_int(path, "SELECT count(*) FROM sqlite_master"
			    " WHERE name = 'virtual_domains'"), 0);
	free(path);
}

TEST(dir_newer_schema_refused)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);
	char *err = NULL;

	dir_close(&d);
	raw_exec(path, "PRAGMA user_version = 2");
	CHECK_INTEQ(dir_open_sqlite(path, false, &d, &err), -1);
	CHECK(err != NULL && strstr(err, "schema version 2 is newer") != NULL);
	free(err);
	err = NULL;
	CHECK_INTEQ(dir_open_sqlite(path, true, &d, &err), -1);
	CHECK(err != NULL && strstr(err, "schema version 2 is newer") != NULL);
	free(err);
	free(path);
}

TEST(dir_readonly)
{
	char *path = db_path("dir.db");
	struct directory *d;
	struct dir_user u;
	char *err = NULL;

	/* the auth role never creates the database */
	CHECK_INTEQ(dir_open_sqlite(path, true, &d, &err), -1);
	CHECK(d == NULL);
	CHECK(err != NULL && strstr(err, "cannot open directory") != NULL);
	free(err);

	d = open_ok(path, false);
	ADMIN_OK(dir_domain_add(d, "x.example", &err_));
	ADMIN_OK(dir_user_add(d, "a@x.example", "{PLAIN}pw", 0, &err_));
	dir_close(&d);

	d = open_ok(path, true);
	REQUIRE(d != NULL);
	CHECK_INTEQ(dir_domain_exists(d, "x.example"), DIR_FOUND);
	CHECK_INTEQ(dir_user_lookup(d, "a@x.example", &u), DIR_FOUND);
	dir_user_free(&u);
	ADMIN_FAILS(dir_domain_add(d, "y.example", &err_),
		    "database is unavailable: opened read-only");
	dir_close(&d);
	free(path);
}

TEST(dir_open_errors)
{
	char *dir = xstrdup(test_tmpdir());
	char *missing = xasprintf("%s/no/such/dir.db", dir);
	char *garbage = xasprintf("%s/garbage.db", dir);
	struct directory *d = NULL;
	char *err = NULL;

	CHECK_INTEQ(dir_open_sqlite(missing, false, &d, &err), -1);
	CHECK(d == NULL);
	CHECK(err != NULL && strstr(err, "cannot create") != NULL);
	free(err);

	/* a file that is not a database */
	FILE *f = fopen(garbage, "w");
	REQUIRE(f != NULL);
	for (int i = 0; i < 200; i++)
		fputs("this is not an sqlite database at all\n", f);
	fclose(f);
	err = NULL;
	CHECK_INTEQ(dir_open_sqlite(garbage, false, &d, &err), -1);
	CHECK(err != NULL && strstr(err, "not a database") != NULL);
	free(err);
	err = NULL;
	CHECK_INTEQ(dir_open_sqlite(garbage, true, &d, &err), -1);
	CHECK(err != NULL && strstr(err, "not a database") != NULL);
	free(err);
	free(missing);
	free(garbage);
	free(dir);
}

/* Lookups on a handle whose database went bad answer TEMPFAIL, never
 * NOTFOUND (DESIGN.md point 4). */
TEST(dir_tempfail_on_broken_database)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);
	struct dir_user u;
	struct dir_strlist l;
	struct resolve_result r;
	const char *error;

	ADMIN_OK(dir_domain_add(d, "x.example", &err_));
	ADMIN_OK(dir_user_add(d, "a@x.example", "{PLAIN}pw", 0, &err_));
	dir_close(&d);
	d = open_ok(path, true);
	REQUIRE(d != NULL);
	CHECK_INTEQ(dir_domain_exists(d, "x.example"), DIR_FOUND);

	/* overwrite the file in place (same inode) with garbage */
	FILE *f = fopen(path, "r+");
	REQUIRE(f != NULL);
	for (int i = 0; i < 1024; i++)
		fputs("garbage!", f);
	fclose(f);

	CHECK_INTEQ(dir_domain_exists(d, "x.example"), DIR_TEMPFAIL);
	CHECK_INTEQ(dir_domain_exists(d, "y.example"), DIR_TEMPFAIL);
	CHECK_INTEQ(dir_user_lookup(d, "a@x.example", &u), DIR_TEMPFAIL);
	CHECK_INTEQ(dir_alias_lookup(d, "a@x.example", &l), DIR_TEMPFAIL);
	CHECK_INTEQ(dir_resolve(d, "a@x.example", NULL, &r, &error), DIR_TEMPFAIL);
	CHECK_INTEQ(r.count, 0);
	resolve_result_free(&r);
	dir_close(&d);
	free(path);
}

TEST(dir_tempfail_on_null_handle)
{
	struct directory *d = NULL;
	struct dir_user u;
	struct dir_strlist l;
	struct resolve_result r;
	const char *error;

	CHECK_INTEQ(dir_domain_exists(d, "x.example"), DIR_TEMPFAIL);
	CHECK_INTEQ(dir_user_lookup(d, "a@x.example", &u), DIR_TEMPFAIL);
	CHECK_INTEQ(dir_alias_lookup(d, "a@x.example", &l), DIR_TEMPFAIL);
	CHECK_INTEQ(dir_resolve(d, "a@x.example", NULL, &r, &error), DIR_TEMPFAIL);
	resolve_result_free(&r);
	ADMIN_FAILS(dir_domain_add(d, "x.example", &err_), "database is unavailable: not open");
	ADMIN_FAILS(dir_user_list(d, NULL, &l, &err_), "database is unavailable: not open");
}

/* Another process holds the database locked past the busy timeout. */
TEST(dir_tempfail_when_locked)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);
	sqlite3 *other;
	time_t start;

	REQUIRE(d != NULL);
	ADMIN_OK(dir_domain_add(d, "x.example", &err_));
	REQUIRE(sqlite3_open(path, &other) == SQLITE_OK);
	REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK);
	start = time(NULL);
	CHECK_INTEQ(dir_domain_exists(d, "x.example"), DIR_TEMPFAIL);
	CHECK(time(NULL) - start >= 1);	/* it waited for the busy timeout */
	ADMIN_FAILS(dir_domain_add(d, "y.example", &err_),
		    "database is unavailable: database is locked");
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	CHECK_INTEQ(dir_domain_exists(d, "x.example"), DIR_FOUND);
	dir_close(&d);
	free(path);
}

TEST(dir_sql_injection_shapes_are_strings)
{
	char *path = db_path("dir.db");
	struct directory *d = open_ok(path, false);
	struct dir_user u;
	struct dir_strlist l;

	REQUIRE(d != NULL);
	ADMIN_OK(dir_domain_add(d, "d.example", &err_));
	ADMIN_OK(dir_user_add(d, "a@d.example", "{PLAIN}pw", 0, &err_));
	ADMIN_FAILS(dir_domain_add(d, "x' OR '1'='1", &err_), "invalid domain name x' OR '1'='1");
	/* valid as a quoted local part: stored and found as just a string */
	ADMIN_OK(dir_user_add(d, "\"x' OR '1'='1\"@d.example", "{PLAIN}q", 0, &err_));
	ADMIN_OK(dir_user_add(d, "x'--@d.example", "{PLAIN}r", 0, &err_));
	CHECK_INTEQ(dir_user_lookup(d, "\"x' OR '1'='1\"@d.example", &u), DIR_FOUND);
	CHECK_STREQ(u.password, "{PLAIN}q");
	dir_user_free(&u);
	CHECK_INTEQ(dir_user_lookup(d, "x' OR '1'='1@d.example", &u), DIR_NOTFOUND);
	CHECK_INTEQ(dir_user_lookup(d, "' OR 1=1 --", &u), DIR_NOTFOUND);
	CHECK_INTEQ(dir_domain_exists(d, "x' OR '1'='1"), DIR_NOTFOUND);
	CHECK_INTEQ(dir_domain_exists(d, "d.example'; DROP TABLE virtual_users; --"), DIR_NOTFOUND);
	CHECK_INTEQ(dir_alias_lookup(d, "' OR ''='", &l), DIR_NOTFOUND);
	ADMIN_FAILS(dir_user_del(d, "' OR ''='", &err_), "unknown user ' OR ''='");
	ADMIN_OK(dir_user_list(d, NULL, &l, &err_));
	CHECK_INTEQ(l.count, 3);
	dir_strlist_free(&l);
	dir_close(&d);
	free(path);
}

/* ---- resolution ---- */

/* A directory with domains x.example and y.example (local), mailboxes
 * a@x, b@x, c@y. */
static struct directory *resolve_fixture(char **path_r)
{
	char *path = db_path("resolve.db");
	struct directory *d = open_ok(path, false);

	ADMIN_OK(dir_domain_add(d, "x.example", &err_));
	ADMIN_OK(dir_domain_add(d, "y.example", &err_));
	ADMIN_OK(dir_user_add(d, "a@x.example", "{PLAIN}a", 0, &err_));
	ADMIN_OK(dir_user_add(d, "b@x.example", "{PLAIN}b", 0, &err_));
	ADMIN_OK(dir_user_add(d, "c@y.example", "{PLAIN}c", 0, &err_));
	*path_r = path;
	return d;
}

/* Targets as "a@x.example remote:r@z.example", in expansion order. */
static char *resolve_str(struct directory *d, const char *address, const char *delimiter,
			 int max_depth, int *ret_r)
{
	struct resolve_opts o = { delimiter, max_depth };
	struct resolve_result r;
	const char *error;
	buf_t b;

	*ret_r = dir_resolve(d, address, &o, &r, &error);
	buf_init(&b, 0);
	for (size_t i = 0; i < r.count; i++)
		buf_printf(&b, "%s%s%s", i > 0 ? " " : "", r.targets[i].local ? "" : "remote:",
			   r.targets[i].address);
	resolve_result_free(&r);
	char *s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

#define RESOLVES(d, addr, delim, depth, want_ret, want) do {              \
	int ret_;                                                         \
	char *got_ = resolve_str((d), (addr), (delim), (depth), &ret_);   \
	CHECK_INTEQ(ret_, (want_ret));                                    \
	CHECK_STREQ(got_, (want));                                        \
	free(got_);                                                       \
} while (0)

TEST(resolve_mailbox_and_case)
{
	char *path;
	struct directory *d = resolve_fixture(&path);

	RESOLVES(d, "a@x.example", "+", 0, DIR_FOUND, "a@x.example");
	RESOLVES(d, "A@X.Example", "+", 0, DIR_FOUND, "a@x.example");
	RESOLVES(d, "nobody@x.example", "+", 0, DIR_NOTFOUND, "");
	RESOLVES(d, "a@other.example", "+", 0, RESOLVE_NOT_LOCAL, "");
	RESOLVES(d, "a@[192.0.2.1]", "+", 0, RESOLVE_NOT_LOCAL, "");
	RESOLVES(d, "not an address", "+", 0, DIR_NOTFOUND, "");
	RESOLVES(d, "@x.example", "+", 0, DIR_NOTFOUND, "");
	dir_close(&d);
	free(path);
}

TEST(resolve_aliases)
{
	char *path;
	struct directory *d = resolve_fixture(&path);

	/* one -> many, local and remote */
	ADMIN_OK(dir_alias_add(d, "team@x.example", "a@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "team@x.example", "c@y.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "team@x.example", "r@remote.example", 0, &err_));
	RESOLVES(d, "Team@X.example", "+", 0, DIR_FOUND,
		 "a@x.example c@y.example remote:r@remote.example");
	/* chain */
	ADMIN_OK(dir_alias_add(d, "l1@x.example", "l2@y.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "l2@y.example", "l3@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "l3@x.example", "b@x.example", 0, &err_));
	RESOLVES(d, "l1@x.example", "+", 0, DIR_FOUND, "b@x.example");
	/* an exact alias wins over the mailbox of the same name */
	ADMIN_OK(dir_alias_add(d, "b@x.example", "c@y.example", 0, &err_));
	RESOLVES(d, "b@x.example", "+", 0, DIR_FOUND, "c@y.example");
	/* remote only */
	ADMIN_OK(dir_alias_add(d, "fwd@y.example", "Someone@Elsewhere.Example", 0, &err_));
	RESOLVES(d, "fwd@y.example", "+", 0, DIR_FOUND, "remote:Someone@elsewhere.example");
	dir_close(&d);
	free(path);
}

TEST(resolve_catchall)
{
	char *path;
	struct directory *d = resolve_fixture(&path);

	ADMIN_OK(dir_alias_add(d, "@x.example", "c@y.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "sales@x.example", "b@x.example", 0, &err_));
	RESOLVES(d, "anything@x.example", "+", 0, DIR_FOUND, "c@y.example");
	/* it overrides neither a mailbox nor an exact alias */
	RESOLVES(d, "a@x.example", "+", 0, DIR_FOUND, "a@x.example");
	RESOLVES(d, "sales@x.example", "+", 0, DIR_FOUND, "b@x.example");
	/* nor a plus-address of an existing mailbox */
	RESOLVES(d, "a+news@x.example", "+", 0, DIR_FOUND, "a@x.example");
	/* other domains are unaffected */
	RESOLVES(d, "anything@y.example", "+", 0, DIR_NOTFOUND, "");
	dir_close(&d);
	free(path);
}

TEST(resolve_self_alias_idiom)
{
	char *path;
	struct directory *d = resolve_fixture(&path);

	/* a@x -> a@x: the mailbox itself, also with a copy elsewhere */
	ADMIN_OK(dir_alias_add(d, "a@x.example", "a@x.example", 0, &err_));
	RESOLVES(d, "a@x.example", "+", 0, DIR_FOUND, "a@x.example");
	ADMIN_OK(dir_alias_add(d, "a@x.example", "c@y.example", 0, &err_));
	RESOLVES(d, "a@x.example", "+", 0, DIR_FOUND, "a@x.example c@y.example");
	RESOLVES(d, "a+tag@x.example", "+", 0, DIR_FOUND, "a@x.example c@y.example");
	/* with a catch-all in place, as in the tutorial */
	ADMIN_OK(dir_alias_add(d, "@x.example", "b@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "b@x.example", "b@x.example", 0, &err_));
	RESOLVES(d, "b@x.example", "+", 0, DIR_FOUND, "b@x.example");
	RESOLVES(d, "zz@x.example", "+", 0, DIR_FOUND, "b@x.example");
	/* a self-alias without a mailbox delivers nowhere */
	ADMIN_OK(dir_alias_add(d, "ghost@y.example", "ghost@y.example", 0, &err_));
	RESOLVES(d, "ghost@y.example", "+", 0, DIR_NOTFOUND, "");
	dir_close(&d);
	free(path);
}

TEST(resolve_plus_addressing)
{
	char *path;
	struct directory *d = resolve_fixture(&path);

	ADMIN_OK(dir_alias_add(d, "list@x.example", "b@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "list@x.example", "c@y.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "a+special@x.example", "c@y.example", 0, &err_));
	RESOLVES(d, "a+tag@x.example", "+", 0, DIR_FOUND, "a@x.example");
	RESOLVES(d, "a+tag+more@x.example", "+", 0, DIR_FOUND, "a@x.example");
	RESOLVES(d, "list+x@x.example", "+", 0, DIR_FOUND, "b@x.example c@y.example");
	/* an exact alias beats the base address */
	RESOLVES(d, "a+special@x.example", "+", 0, DIR_FOUND, "c@y.example");
	/* nothing before the delimiter: no base address */
	RESOLVES(d, "+a@x.example", "+", 0, DIR_NOTFOUND, "");
	RESOLVES(d, "nobody+tag@x.example", "+", 0, DIR_NOTFOUND, "");
	/* custom delimiters, a set of characters as in Postfix */
	RESOLVES(d, "a-tag@x.example", "-", 0, DIR_FOUND, "a@x.example");
	RESOLVES(d, "a+tag@x.example", "-", 0, DIR_NOTFOUND, "");
	RESOLVES(d, "a-tag@x.example", "+-", 0, DIR_FOUND, "a@x.example");
	RESOLVES(d, "a+tag@x.example", "+-", 0, DIR_FOUND, "a@x.example");
	/* disabled */
	RESOLVES(d, "a+tag@x.example", "", 0, DIR_NOTFOUND, "");
	RESOLVES(d, "a+tag@x.example", NULL, 0, DIR_NOTFOUND, "");
	dir_close(&d);
	free(path);
}

TEST(resolve_dedup)
{
	char *path;
	struct directory *d = resolve_fixture(&path);

	ADMIN_OK(dir_alias_add(d, "all@x.example", "a@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "all@x.example", "team@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "all@x.example", "r@remote.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "team@x.example", "A@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "team@x.example", "b@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "team@x.example", "R@Remote.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "team@x.example", "a+x@x.example", 0, &err_));
	RESOLVES(d, "all@x.example", "+", 0, DIR_FOUND,
		 "a@x.example b@x.example remote:R@remote.example");
	/* the same sub-alias reached twice (diamond) */
	ADMIN_OK(dir_alias_add(d, "top@y.example", "all@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "top@y.example", "team@x.example", 0, &err_));
	RESOLVES(d, "top@y.example", "+", 0, DIR_FOUND,
		 "a@x.example b@x.example remote:R@remote.example");
	dir_close(&d);
	free(path);
}

TEST(resolve_loops)
{
	char *path;
	struct directory *d = resolve_fixture(&path);
	struct resolve_opts o = { "+", 0 };
	struct resolve_result r;
	const char *error;

	/* loops that dir_alias_add would refuse, as a hand-edited database has them */
	raw_exec(path,
		 "INSERT INTO virtual_aliases (domain_id, source, destination) VALUES"
		 " (1, 'p@x.example', 'q@x.example'), (1, 'q@x.example', 'p@x.example'),"
		 " (1, 's@x.example', 't@x.example'), (1, 's@x.example', 'a@x.example'),"
		 " (1, 't@x.example', 's@x.example')");
	CHECK_INTEQ(dir_resolve(d, "p@x.example", &o, &r, &error), RESOLVE_LOOP);
	CHECK_STREQ(error, "alias loop");
	CHECK_STREQ(r.loop, "p@x.example -> q@x.example -> p@x.example");
	CHECK_INTEQ(r.count, 0);
	resolve_result_free(&r);
	/* a loop beside a deliverable target: delivered, loop still reported */
	CHECK_INTEQ(dir_resolve(d, "s@x.example", &o, &r, &error), DIR_FOUND);
	REQUIRE(r.count == 1);
	CHECK_STREQ(r.targets[0].address, "a@x.example");
	CHECK_STREQ(r.loop, "s@x.example -> t@x.example -> s@x.example");
	resolve_result_free(&r);
	dir_close(&d);
	free(path);
}

TEST(resolve_depth_limit)
{
	char *path;
	struct directory *d = resolve_fixture(&path);
	struct resolve_opts o = { "+", 3 };
	struct resolve_result r;
	const char *error;

	ADMIN_OK(dir_alias_add(d, "d1@x.example", "d2@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "d2@x.example", "d3@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "d3@x.example", "d4@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "d4@x.example", "a@x.example", 0, &err_));
	RESOLVES(d, "d2@x.example", "+", 3, DIR_FOUND, "a@x.example");
	RESOLVES(d, "d1@x.example", "+", 4, DIR_FOUND, "a@x.example");
	CHECK_INTEQ(dir_resolve(d, "d1@x.example", &o, &r, &error), RESOLVE_LOOP);
	CHECK_STREQ(error, "alias expansion too deep");
	CHECK(r.too_deep);
	CHECK(r.loop == NULL);
	resolve_result_free(&r);
	dir_close(&d);
	free(path);
}

TEST(resolve_dangling_and_multi_value_destinations)
{
	char *path;
	struct directory *d = resolve_fixture(&path);

	log_set_level(LOG_LVL_ERROR);	/* the skips warn */
	ADMIN_OK(dir_alias_add(d, "l@x.example", "ghost@x.example", 0, &err_));
	ADMIN_OK(dir_alias_add(d, "l@x.example", "b@x.example", 0, &err_));
	RESOLVES(d, "l@x.example", "+", 0, DIR_FOUND, "b@x.example");
	ADMIN_OK(dir_alias_add(d, "only@x.example", "ghost@y.example", 0, &err_));
	RESOLVES(d, "only@x.example", "+", 0, DIR_NOTFOUND, "");
	/* a dangling alias does not fall through to the catch-all */
	ADMIN_OK(dir_alias_add(d, "@x.example", "a@x.example", 0, &err_));
	RESOLVES(d, "only@x.example", "+", 0, DIR_NOTFOUND, "");
	/* Postfix-style "a, b" in one destination column, with junk */
	raw_exec(path,
		 "INSERT INTO virtual_aliases (domain_id, source, destination) VALUES"
		 " (1, 'multi@x.example', ' a@x.example, \"q,r\"@remote.example,,"
		 "  not-an-address ,c@y.example')");
	RESOLVES(d, "multi@x.example", "+", 0, DIR_FOUND,
		 "a@x.example remote:\"q,r\"@remote.example c@y.example");
	log_set_level(LOG_LVL_INFO);
	dir_close(&d);
	free(path);
}
