/* Unit tests for a user's folder tree (src/lib-store/mail-user.c):
 * Maildir++ names in modified UTF-7, refused names, LIST attributes,
 * create/rename/delete (INBOX rules included), subscriptions, special-use
 * folders, quota, and UIDVALIDITY of re-created folders. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "mail-index.h"
#include "mail-user.h"
#include "mailbox.h"
#include "test.h"
#include "xalloc.h"

static struct mail_user *us_user(const char *dir, uint64_t quota_bytes, uint64_t quota_msgs)
{
	struct mail_user_settings set = {
		.hostname = "test.example",
		.special = { "Drafts", "Sent", "Trash", "Junk", "Archive" },
		.quota_bytes = quota_bytes,
		.quota_messages = quota_msgs,
	};
	struct mail_user *u = NULL;
	char *root = xasprintf("%s/example.org/bob", dir), *err = NULL;

	if (mail_user_open(root, &set, &u, &err) < 0) {
		fprintf(stderr, "  mail_user_open: %s\n", err);
		free(err);
	}
	free(root);
	return u;
}

static bool us_isdir(const char *dir, const char *sub)
{
	char *p = xasprintf("%s/example.org/bob/%s", dir, sub);
	struct stat st;
	bool ret = stat(p, &st) == 0 && S_ISDIR(st.st_mode);

	free(p);
	return ret;
}

static bool us_isfile(const char *dir, const char *sub)
{
	char *p = xasprintf("%s/example.org/bob/%s", dir, sub);
	struct stat st;
	bool ret = stat(p, &st) == 0 && S_ISREG(st.st_mode);

	free(p);
	return ret;
}

/* attributes of name in LIST, or -1 if absent */
static int us_attrs(struct mail_user *u, const char *name)
{
	struct mail_folder_list l;
	int ret = -1;

	if (mail_user_list(u, &l, NULL) < 0)
		return -2;
	for (size_t i = 0; i < l.count; i++)
		if (strcmp(l.items[i].name, name) == 0)
			ret = (int)l.items[i].attrs;
	mail_folder_list_free(&l);
	return ret;
}

static int us_create(struct mail_user *u, const char *name)
{
	char *err = NULL;
	int ret = mail_user_create(u, name, &err);

	free(err);
	return ret;
}

static void us_append(struct mail_user *u, const char *folder, const char *text)
{
	struct mailbox *box = NULL;
	struct mailbox_append msg = { .data = text, .len = strlen(text), .fd = -1 };
	uint32_t uid;
	char *err = NULL;

	if (mailbox_open(u, folder, 0, &box, &err) < 0 || mailbox_append(box, &msg, &uid, &err) < 0 ||
	    mailbox_commit(box, &err) < 0) {
		fprintf(stderr, "  append to %s: %s\n", folder, err);
		test_fail(__FILE__, __LINE__, "append");
	}
	free(err);
	mailbox_close(&box);
}

TEST(store_user_create_and_list)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = us_user(dir, 0, 0), *u2 = NULL;
	struct mail_folder_list l;
	struct mail_user_settings set = { .hostname = "x" };
	char *root;

	REQUIRE(u != NULL);
	/* one object per root in a process */
	root = xasprintf("%s/example.org/bob/", dir);
	REQUIRE(mail_user_open(root, &set, &u2, NULL) == 0);
	CHECK(u2 == u);
	mail_user_close(&u2);
	free(root);
	CHECK(us_isdir(dir, "cur") && us_isdir(dir, "new") && us_isdir(dir, "tmp"));
	CHECK_INTEQ(us_create(u, "Work"), 0);
	CHECK(us_isdir(dir, ".Work/cur") && us_isfile(dir, ".Work/maildirfolder"));
	CHECK_INTEQ(us_create(u, "Work"), MAIL_ERR_EXISTS);
	CHECK_INTEQ(us_create(u, "INBOX"), MAIL_ERR_EXISTS);
	CHECK_INTEQ(us_create(u, "inbox"), MAIL_ERR_EXISTS);
	/* parents are created too (RFC 9051 6.3.4), trailing '/' dropped */
	CHECK_INTEQ(us_create(u, "a/b/c"), 0);
	CHECK(us_isdir(dir, ".a") && us_isdir(dir, ".a.b") && us_isdir(dir, ".a.b.c"));
	CHECK_INTEQ(us_create(u, "p/"), 0);
	CHECK(us_isdir(dir, ".p"));
	CHECK_INTEQ(us_create(u, "inbox/Sub"), 0);
	CHECK(us_isdir(dir, ".INBOX.Sub"));
	CHECK_INTEQ(mail_user_exists(u, "InBoX/Sub", NULL), 1);
	CHECK_INTEQ(mail_user_exists(u, "nope", NULL), 0);

	REQUIRE(mail_user_list(u, &l, NULL) == 0);
	REQUIRE(l.count >= 7);
	CHECK_STREQ(l.items[0].name, "INBOX");
	CHECK_STREQ(l.items[1].name, "INBOX/Sub");
	mail_folder_list_free(&l);
	CHECK_INTEQ(us_attrs(u, "INBOX"), MAIL_FOLDER_HAS_CHILDREN);
	CHECK_INTEQ(us_attrs(u, "a"), MAIL_FOLDER_HAS_CHILDREN);
	CHECK_INTEQ(us_attrs(u, "a/b/c"), MAIL_FOLDER_HAS_NO_CHILDREN);
	CHECK_INTEQ(us_attrs(u, "Work"), MAIL_FOLDER_HAS_NO_CHILDREN);

	/* a parent made by another tool's ".x.y" alone */
	{
		char *p = xasprintf("%s/example.org/bob/.x.y", dir);
		CHECK(mkdir(p, 0700) == 0);
		free(p);
	}
	CHECK_INTEQ(us_attrs(u, "x"), MAIL_FOLDER_NONEXISTENT | MAIL_FOLDER_NOSELECT |
					      MAIL_FOLDER_HAS_CHILDREN);
	CHECK_INTEQ(us_attrs(u, "x/y"), MAIL_FOLDER_HAS_NO_CHILDREN);
	/* and it opens (cur/new/tmp made on the way) */
	{
		struct mailbox *box = NULL;
		CHECK_INTEQ(mailbox_open(u, "x/y", 0, &box, NULL), 0);
		mailbox_close(&box);
		CHECK(us_isdir(dir, ".x.y/cur"));
		CHECK_INTEQ(mailbox_open(u, "x", 0, &box, NULL), MAIL_ERR_NOTFOUND);
	}
	mail_user_close(&u);
}

TEST(store_user_names_refused)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = us_user(dir, 0, 0);
	static const char *const bad[] = {
		"", "..", "a/../b", "../user2/INBOX", ".hidden", "a/.b", "/a", "a//b", "a/",
		"x\001y", "x\177y", "x\xc2\x85y", "\xff", "\xc0\xaf", "\xed\xa0\x80", "a..b", "a/..",
	};
	char *err = NULL, *longname;

	REQUIRE(u != NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = mail_user_name_check(bad[i], false, &err);
		if (r != MAIL_ERR_INVALID)
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
		CHECK_INTEQ(r, MAIL_ERR_INVALID);
		free(err);
		err = NULL;
		if (strcmp(bad[i], "a/") != 0)
			CHECK_INTEQ(us_create(u, bad[i]), MAIL_ERR_INVALID);
		CHECK(mailbox_open(u, bad[i], 0, &(struct mailbox *){ NULL }, NULL) < 0);
	}
	/* wildcards: not in new names, but existing ones can be opened */
	CHECK_INTEQ(us_create(u, "50%"), MAIL_ERR_INVALID);
	CHECK_INTEQ(us_create(u, "a*"), MAIL_ERR_INVALID);
	CHECK_INTEQ(mail_user_name_check("50%", false, NULL), 0);
	/* too long for one directory entry */
	longname = xmalloc(300);
	memset(longname, 'n', 299);
	longname[299] = '\0';
	CHECK_INTEQ(us_create(u, longname), MAIL_ERR_INVALID);
	free(longname);
	/* nothing escaped the root */
	{
		DIR *d = opendir(dir);
		struct dirent *de;
		int n = 0;
		while (d && (de = readdir(d)) != NULL)
			n += de->d_name[0] != '.';
		if (d)
			closedir(d);
		CHECK_INTEQ(n, 1);	/* example.org */
	}
	mail_user_close(&u);
}

TEST(store_user_utf7_names)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = us_user(dir, 0, 0);
	struct mail_folder_list l;
	static const struct {
		const char *name, *disk;
	} cases[] = {
		{ "Entw\xc3\xbcrfe", ".Entw&APw-rfe" },
		{ "v1.2", ".v1&AC4-2" },
		{ "a&b", ".a&-b" },
		{ "\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac", ".&U,BTFw-.&ZeVnLA-" },
		{ "smile \xf0\x9f\x98\x80", ".smile &2D3eAA-" },
		{ "Tilde~and space", ".Tilde~and space" },
	};

	REQUIRE(u != NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INTEQ(us_create(u, cases[i].name), 0);
		if (!us_isdir(dir, cases[i].disk))
			fprintf(stderr, "  %s: expected %s\n", cases[i].name, cases[i].disk);
		CHECK(us_isdir(dir, cases[i].disk));
	}
	REQUIRE(mail_user_list(u, &l, NULL) == 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool found = false;
		for (size_t j = 0; j < l.count; j++)
			found = found || strcmp(l.items[j].name, cases[i].name) == 0;
		CHECK(found);
	}
	mail_folder_list_free(&l);
	/* a Dovecot-written name and a broken one */
	{
		char *p = xasprintf("%s/example.org/bob/.Gel&APY-scht", dir);
		char *q = xasprintf("%s/example.org/bob/.bad&AB", dir);
		CHECK(mkdir(p, 0700) == 0 && mkdir(q, 0700) == 0);
		free(p);
		free(q);
	}
	CHECK(us_attrs(u, "Gel\xc3\xb6scht") >= 0);
	REQUIRE(mail_user_list(u, &l, NULL) == 0);
	for (size_t j = 0; j < l.count; j++)
		CHECK(strstr(l.items[j].name, "bad") == NULL);
	mail_folder_list_free(&l);
	mail_user_close(&u);
}

TEST(store_user_rename)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = us_user(dir, 0, 0);
	struct mailbox *box = NULL, *inbox = NULL;
	char *err = NULL;

	REQUIRE(u != NULL);
	REQUIRE(us_create(u, "a/b") == 0);
	REQUIRE(us_create(u, "z") == 0);
	us_append(u, "a", "Subject: in a\n\nx\n");
	REQUIRE(mail_user_subscribe(u, "a/b", true, NULL) == 0);
	REQUIRE(mailbox_open(u, "a", 0, &box, NULL) == 0);
	CHECK_INTEQ(mail_user_rename(u, "a", "n/m", &err), 0);
	free(err);
	err = NULL;
	CHECK(!us_isdir(dir, ".a") && !us_isdir(dir, ".a.b"));
	CHECK(us_isdir(dir, ".n") && us_isdir(dir, ".n.m") && us_isdir(dir, ".n.m.b"));
	CHECK(us_attrs(u, "n/m/b") & MAIL_FOLDER_SUBSCRIBED);
	CHECK_INTEQ(us_attrs(u, "a/b"), -1);
	/* the open view follows */
	CHECK_STREQ(mailbox_name(box), "n/m");
	CHECK_INTEQ(mailbox_sync(box, 0, NULL, NULL), 0);
	CHECK_INTEQ(mailbox_count(box), 1);
	mailbox_close(&box);
	CHECK_INTEQ(mail_user_rename(u, "n/m", "z", NULL), MAIL_ERR_EXISTS);
	CHECK_INTEQ(mail_user_rename(u, "n/m", "n/m/q", NULL), MAIL_ERR_INVALID);
	CHECK_INTEQ(mail_user_rename(u, "nothere", "q", NULL), MAIL_ERR_NOTFOUND);
	CHECK_INTEQ(mail_user_rename(u, "z", "INBOX", NULL), MAIL_ERR_EXISTS);

	/* RENAME INBOX: messages move, INBOX stays and is empty */
	us_append(u, "INBOX", "Subject: 1\n\n1\n");
	us_append(u, "INBOX", "Subject: 2\n\n2\n");
	REQUIRE(us_create(u, "INBOX/kid") == 0);
	REQUIRE(mailbox_open(u, "INBOX", 0, &inbox, NULL) == 0);
	CHECK_INTEQ(mailbox_count(inbox), 2);
	CHECK_INTEQ(mail_user_rename(u, "INBOX", "Old", &err), 0);
	free(err);
	CHECK(us_isdir(dir, ".INBOX.kid"));
	REQUIRE(mailbox_open(u, "Old", 0, &box, NULL) == 0);
	CHECK_INTEQ(mailbox_count(box), 2);
	mailbox_close(&box);
	CHECK_INTEQ(mailbox_sync(inbox, 0, NULL, NULL), 0);
	CHECK_INTEQ(mailbox_count(inbox), 0);
	mailbox_close(&inbox);
	mail_user_close(&u);
}

TEST(store_user_delete)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = us_user(dir, 0, 0);
	struct mailbox *box = NULL;
	uint64_t bytes = 0, msgs = 0;
	char *err = NULL;

	REQUIRE(u != NULL);
	REQUIRE(us_create(u, "p/c") == 0);
	us_append(u, "p", "Subject: doomed\n\nx\n");
	us_append(u, "p/c", "Subject: kept\n\ny\n");
	REQUIRE(mail_user_quota(u, &bytes, &msgs, NULL) == 0);
	CHECK_INTEQ(msgs, 2);
	REQUIRE(mailbox_open(u, "p", 0, &box, NULL) == 0);
	CHECK_INTEQ(mail_user_delete(u, "p", NULL), 0);
	CHECK(!us_isdir(dir, ".p") && us_isdir(dir, ".p.c"));
	CHECK_INTEQ(us_attrs(u, "p"), MAIL_FOLDER_NONEXISTENT | MAIL_FOLDER_NOSELECT |
					      MAIL_FOLDER_HAS_CHILDREN);
	/* the session that had it selected learns at its next sync */
	CHECK_INTEQ(mailbox_sync(box, 0, NULL, &err), MAIL_ERR_NOTFOUND);
	free(err);
	err = NULL;
	mailbox_close(&box);
	REQUIRE(mail_user_quota(u, &bytes, &msgs, NULL) == 0);
	CHECK_INTEQ(msgs, 1);
	CHECK_INTEQ(mail_user_delete(u, "p", NULL), MAIL_ERR_NOTFOUND);
	CHECK_INTEQ(mail_user_delete(u, "INBOX", NULL), MAIL_ERR_INVALID);
	CHECK_INTEQ(mail_user_delete(u, "inbox", NULL), MAIL_ERR_INVALID);
	/* nothing left behind in ROOT */
	{
		DIR *d = opendir(mail_user_root(u));
		struct dirent *de;
		while (d && (de = readdir(d)) != NULL)
			CHECK(strncmp(de->d_name, "..youju", 7) != 0);
		if (d)
			closedir(d);
	}
	/* re-created: a new UIDVALIDITY, even within the same second */
	{
		uint32_t v1, v2;
		REQUIRE(us_create(u, "again") == 0);
		REQUIRE(mailbox_open(u, "again", 0, &box, NULL) == 0);
		v1 = mailbox_uidvalidity(box);
		mailbox_close(&box);
		REQUIRE(mail_user_delete(u, "again", NULL) == 0);
		REQUIRE(us_create(u, "again") == 0);
		REQUIRE(mailbox_open(u, "again", 0, &box, NULL) == 0);
		v2 = mailbox_uidvalidity(box);
		mailbox_close(&box);
		CHECK(v2 > v1);
	}
	mail_user_close(&u);
}

TEST(store_user_subscriptions)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = us_user(dir, 0, 0);

	REQUIRE(u != NULL);
	REQUIRE(us_create(u, "Lists/dev") == 0);
	CHECK_INTEQ(mail_user_subscribe(u, "Lists/dev", true, NULL), 0);
	CHECK_INTEQ(mail_user_subscribe(u, "Lists/dev", true, NULL), 0);
	CHECK_INTEQ(mail_user_subscribe(u, "Ghost", true, NULL), 0);
	CHECK_INTEQ(mail_user_subscribe(u, "inbox", true, NULL), 0);
	CHECK_INTEQ(mail_user_subscribe(u, "../x", true, NULL), MAIL_ERR_INVALID);
	mail_user_close(&u);
	u = us_user(dir, 0, 0);
	REQUIRE(u != NULL);
	CHECK_INTEQ(us_attrs(u, "Lists/dev"), MAIL_FOLDER_SUBSCRIBED | MAIL_FOLDER_HAS_NO_CHILDREN);
	CHECK_INTEQ(us_attrs(u, "Ghost"), MAIL_FOLDER_SUBSCRIBED | MAIL_FOLDER_NONEXISTENT |
						  MAIL_FOLDER_NOSELECT);
	CHECK(us_attrs(u, "INBOX") & MAIL_FOLDER_SUBSCRIBED);
	CHECK_INTEQ(mail_user_subscribe(u, "Ghost", false, NULL), 0);
	CHECK_INTEQ(us_attrs(u, "Ghost"), -1);
	CHECK(!(us_attrs(u, "Lists") & MAIL_FOLDER_SUBSCRIBED));
	mail_user_close(&u);
}

TEST(store_user_special_use)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = us_user(dir, 0, 0);
	static const char *const names[] = { "Drafts", "Sent", "Trash", "Junk", "Archive" };

	REQUIRE(u != NULL);
	CHECK_INTEQ(mail_user_ensure_special(u, NULL), 0);
	CHECK_INTEQ(mail_user_ensure_special(u, NULL), 0);
	for (int i = 0; i < MAIL_SPECIAL_COUNT; i++) {
		char *sub = xasprintf(".%s", names[i]);
		int attrs = us_attrs(u, names[i]);
		CHECK(us_isdir(dir, sub));
		CHECK(attrs >= 0 && (attrs & MAIL_FOLDER_SPECIAL(i)));
		CHECK(attrs >= 0 && (attrs & MAIL_FOLDER_SUBSCRIBED));
		CHECK_INTEQ(mail_user_special_use(u, names[i]), MAIL_FOLDER_SPECIAL(i));
		free(sub);
	}
	CHECK_INTEQ(us_attrs(u, "INBOX") & 0x1f00, 0);
	mail_user_close(&u);
	/* names are settings */
	{
		struct mail_user_settings set = { .hostname = "h",
						  .special = { "Brouillons", NULL, "../evil" } };
		char *root = xasprintf("%s/example.org/bob", dir);
		REQUIRE(mail_user_open(root, &set, &u, NULL) == 0);
		free(root);
		CHECK_INTEQ(mail_user_ensure_special(u, NULL), 0);
		CHECK(us_isdir(dir, ".Brouillons"));
		CHECK(us_attrs(u, "Brouillons") & MAIL_FOLDER_DRAFTS);
		CHECK_INTEQ(us_attrs(u, "Drafts") & MAIL_FOLDER_DRAFTS, 0);
		mail_user_close(&u);
	}
}

TEST(store_user_quota)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = us_user(dir, 100, 0);
	struct mailbox *box = NULL, *arch = NULL;
	struct mailbox_append msg = { .data = "Subject: q\n\n0123456789\n", .fd = -1 };
	uint64_t bytes = 0, msgs = 0, limit_b, limit_m;
	uint32_t uid;
	int i, ret = 0;

	REQUIRE(u != NULL);
	msg.len = strlen(msg.data);	/* 23 bytes */
	mail_user_quota_limits(u, &limit_b, &limit_m);
	CHECK_INTEQ(limit_b, 100);
	REQUIRE(mailbox_open(u, "INBOX", 0, &box, NULL) == 0);
	for (i = 0; i < 10; i++) {
		char *err = NULL;
		ret = mailbox_append(box, &msg, &uid, &err);
		free(err);
		if (ret < 0)
			break;
		REQUIRE(mailbox_commit(box, NULL) == 0);
	}
	CHECK_INTEQ(ret, MAIL_ERR_OVERQUOTA);
	CHECK_INTEQ(i, 4);
	REQUIRE(mail_user_quota(u, &bytes, &msgs, NULL) == 0);
	CHECK_INTEQ(bytes, 4 * msg.len);
	CHECK_INTEQ(msgs, 4);
	/* COPY counts, MOVE does not */
	REQUIRE(mail_user_create(u, "Archive", NULL) == 0);
	REQUIRE(mailbox_open(u, "Archive", 0, &arch, NULL) == 0);
	REQUIRE(mailbox_sync(box, 0, NULL, NULL) == 0);
	CHECK_INTEQ(mailbox_copy(box, 1, arch, &uid, NULL), MAIL_ERR_OVERQUOTA);
	CHECK_INTEQ(mailbox_move(box, 1, arch, &uid, NULL), 0);
	REQUIRE(mailbox_commit(arch, NULL) == 0);
	REQUIRE(mailbox_commit(box, NULL) == 0);
	REQUIRE(mail_user_quota(u, &bytes, &msgs, NULL) == 0);
	CHECK_INTEQ(msgs, 4);
	/* expunge frees room */
	CHECK_INTEQ(mailbox_expunge(box, 2, NULL), 0);
	REQUIRE(mailbox_commit(box, NULL) == 0);
	REQUIRE(mail_user_quota(u, &bytes, &msgs, NULL) == 0);
	CHECK_INTEQ(bytes, 3 * msg.len);
	CHECK_INTEQ(mailbox_append(box, &msg, &uid, NULL), 0);
	REQUIRE(mailbox_commit(box, NULL) == 0);
	/* a message dropped in by another tool is counted at the next sync */
	{
		char *p = xasprintf("%s/example.org/bob/new/1.M1P1.other", dir);
		int fd = open(p, O_WRONLY | O_CREAT, 0600);
		REQUIRE(fd >= 0 && write(fd, "x\n", 2) == 2);
		close(fd);
		free(p);
	}
	REQUIRE(mailbox_sync(box, MAILBOX_SYNC_FORCE, NULL, NULL) == 0);
	REQUIRE(mail_user_quota(u, &bytes, &msgs, NULL) == 0);
	CHECK_INTEQ(bytes, 4 * msg.len + 2);
	CHECK_INTEQ(msgs, 5);
	mailbox_close(&box);
	mailbox_close(&arch);
	mail_user_close(&u);
	/* recomputed from the indexes in a new process life */
	u = us_user(dir, 0, 3);
	REQUIRE(u != NULL);
	REQUIRE(mail_user_quota(u, &bytes, &msgs, NULL) == 0);
	CHECK_INTEQ(bytes, 4 * msg.len + 2);
	CHECK_INTEQ(msgs, 5);
	REQUIRE(mailbox_open(u, "INBOX", 0, &box, NULL) == 0);
	CHECK_INTEQ(mailbox_append(box, &msg, &uid, NULL), MAIL_ERR_OVERQUOTA);
	mailbox_close(&box);
	mail_user_close(&u);
}
