/* Unit tests for folders and views (src/lib-store/mailbox.c over
 * mail-index.c): UIDs and flags through reopen, file names, changes made
 * by other tools, views and \Recent, expunge, append/copy/move, MODSEQ,
 * cache, rebuilds, and the 100,000-message open without readdir. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mail-index.h"
#include "mail-user.h"
#include "maildir.h"
#include "mailbox.h"
#include "test.h"
#include "xalloc.h"

/* ---- helpers ---- */

static int no_fsync(int fd)
{
	(void)fd;
	return 0;
}

static struct mail_user *mb_user(const char *dir)
{
	struct mail_user_settings set = { .hostname = "test.example" };
	struct mail_user *u = NULL;
	char *root = xasprintf("%s/example.org/alice", dir), *err = NULL;

	if (mail_user_open(root, &set, &u, &err) < 0) {
		fprintf(stderr, "  mail_user_open: %s\n", err);
		free(err);
	}
	free(root);
	return u;
}

/* A restart of the mail process: the user (and with it every folder's
 * in-memory index) is closed and opened again, so files changed behind
 * its back are read anew. */
static void mb_restart(struct mail_user **u, const char *dir)
{
	mail_user_close(u);
	*u = mb_user(dir);
}

static struct mailbox *mb_open(struct mail_user *u, const char *name, unsigned flags)
{
	struct mailbox *box = NULL;
	char *err = NULL;

	if (mailbox_open(u, name, flags, &box, &err) < 0) {
		fprintf(stderr, "  mailbox_open %s: %s\n", name, err);
		free(err);
	}
	return box;
}

static uint32_t mb_append(struct mailbox *box, const char *text, uint32_t flags, const char *kw)
{
	const char *kws[1] = { kw };
	struct mailbox_append msg = { .data = text, .len = strlen(text), .fd = -1, .flags = flags,
				      .keywords = kws, .nkeywords = kw ? 1 : 0 };
	uint32_t uid = 0;
	char *err = NULL;

	if (mailbox_append(box, &msg, &uid, &err) < 0 || mailbox_commit(box, &err) < 0) {
		fprintf(stderr, "  append: %s\n", err);
		free(err);
		return 0;
	}
	return uid;
}

static int mb_sync(struct mailbox *box, unsigned flags, struct mailbox_changes *ch)
{
	char *err = NULL;
	int ret = mailbox_sync(box, flags, ch, &err);

	if (ret < 0 && ret != MAIL_ERR_NOTFOUND)
		fprintf(stderr, "  sync: %s\n", err);
	free(err);
	return ret;
}

static char *mb_root_path(const char *dir, const char *sub)
{
	return xasprintf("%s/example.org/alice%s%s", dir, sub[0] ? "/" : "", sub);
}

/* Names in ROOT/sub (sorted), newline-separated. */
static char *mb_ls(const char *dir, const char *sub)
{
	char *path = mb_root_path(dir, sub);
	struct dirent **list = NULL;
	int n = scandir(path, &list, NULL, alphasort);
	buf_t b;

	buf_init(&b, 0);
	for (int i = 0; i < n; i++) {
		if (list[i]->d_name[0] != '.') {
			buf_append_cstr(&b, list[i]->d_name);
			buf_append_byte(&b, '\n');
		}
		free(list[i]);
	}
	free(list);
	free(path);
	if (b.data == NULL)
		buf_append_cstr(&b, "");
	return b.data;
}

static size_t mb_count_files(const char *dir, const char *sub)
{
	char *ls = mb_ls(dir, sub);
	size_t n = 0;

	for (char *p = ls; *p; p++)
		n += *p == '\n';
	free(ls);
	return n;
}

/* Sets the mtime of new/ and cur/ of the Maildir at path 100 s back, so
 * the next sync reads them and may trust the stamps it saves. */
static void mb_age_dirs(const char *maildir)
{
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= 100;
	ts[1] = ts[0];
	for (int i = 0; i < 2; i++) {
		char *p = xasprintf("%s/%s", maildir, i ? "cur" : "new");
		utimensat(AT_FDCWD, p, ts, 0);
		free(p);
	}
}

/* A message put into new/ by "another MDA". */
static char *mb_external(const char *maildir, const char *text)
{
	char *name = NULL, *err = NULL;
	bool temp;

	if (maildir_deliver(maildir, "other.example", NULL, text, strlen(text), -1, 0, 0, &name,
			    &temp, &err) < 0) {
		fprintf(stderr, "  maildir_deliver: %s\n", err);
		free(err);
	}
	return name;
}

static const char *mb_file_of(struct mailbox *box, uint32_t seq, char *buf, size_t size)
{
	int fd = -1;
	uint64_t len;
	char link[64];
	ssize_t n;

	buf[0] = '\0';
	if (mailbox_open_message(box, seq, &fd, &len, NULL) < 0)
		return buf;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf;
}

/* ---- tests ---- */

TEST(store_mailbox_append_reopen)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	struct mailbox *box;
	const struct mail_index_record *r;
	uint32_t uidv, uid1, uid2, uid3;
	uint64_t hms, ms2;
	char name[512];

	REQUIRE(u != NULL);
	box = mb_open(u, "inbox", 0);
	REQUIRE(box != NULL);
	CHECK_STREQ(mailbox_name(box), "INBOX");
	CHECK_INTEQ(mailbox_count(box), 0);
	uidv = mailbox_uidvalidity(box);
	CHECK(uidv != 0);
	CHECK_INTEQ(mailbox_uidnext(box), 1);
	uid1 = mb_append(box, "Subject: one\r\n\r\nbody one\r\n", 0, NULL);
	uid2 = mb_append(box, "Subject: two\r\n\r\nbody two\r\n", MAIL_SEEN | MAIL_FLAGGED, "$Label1");
	{
		struct mailbox_append msg = { .data = "Subject: three\n\nx\n", .len = 18, .fd = -1,
					      .internal_date = 1000000000 };
		REQUIRE(mailbox_append(box, &msg, &uid3, NULL) == 0);
		REQUIRE(mailbox_commit(box, NULL) == 0);
	}
	CHECK_INTEQ(uid1, 1);
	CHECK_INTEQ(uid2, 2);
	CHECK_INTEQ(uid3, 3);
	/* the view learns about its own appends at its next sync */
	CHECK_INTEQ(mailbox_count(box), 0);
	REQUIRE(mb_sync(box, 0, NULL) == 0);
	CHECK_INTEQ(mailbox_count(box), 3);
	r = mailbox_record(box, 2);
	REQUIRE(r != NULL);
	CHECK_INTEQ(r->uid, 2);
	CHECK_INTEQ(r->flags & MAIL_FLAGS_MASK, MAIL_SEEN | MAIL_FLAGGED);
	CHECK_INTEQ(r->keywords, 1);
	CHECK_STREQ(mailbox_keyword_name(box, 0), "$Label1");
	/* stored with LF; RFC822.SIZE counts CRLF */
	CHECK_INTEQ(r->psize, strlen("Subject: two\n\nbody two\n"));
	CHECK_INTEQ(r->vsize, strlen("Subject: two\r\n\r\nbody two\r\n"));
	CHECK_INTEQ(mailbox_record(box, 3)->idate, 1000000000);
	CHECK(strstr(mb_file_of(box, 2, name, sizeof(name)), ":2,FS") != NULL);
	CHECK(strstr(mb_file_of(box, 1, name, sizeof(name)), ":2,") != NULL);
	CHECK_INTEQ(mb_count_files(dir, "new"), 0);
	CHECK_INTEQ(mb_count_files(dir, "cur"), 3);
	ms2 = mailbox_record(box, 2)->modseq;
	hms = mailbox_highestmodseq(box);
	mailbox_close(&box);
	mail_user_close(&u);

	u = mb_user(dir);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_uidvalidity(box), uidv);
	CHECK_INTEQ(mailbox_uidnext(box), 4);
	CHECK_INTEQ(mailbox_count(box), 3);
	CHECK_INTEQ(mailbox_highestmodseq(box), hms);
	CHECK_INTEQ(mailbox_record(box, 2)->modseq, ms2);
	CHECK_INTEQ(mailbox_record(box, 2)->keywords, 1);
	CHECK_STREQ(mailbox_keyword_name(box, 0), "$Label1");
	for (uint32_t seq = 1; seq <= 3; seq++)
		CHECK_INTEQ(mailbox_uid(box, seq), seq);
	mailbox_close(&box);
	mail_user_close(&u);
}

TEST(store_mailbox_flags_in_file_names)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	struct mailbox *box;
	const char *fwd[] = { "$Forwarded" }, *kw[] = { "Work", "$Junk" };
	char name[512];
	uint64_t m0, m1;

	REQUIRE(u != NULL);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	mb_append(box, "a\n", 0, NULL);
	REQUIRE(mb_sync(box, 0, NULL) == 0);
	m0 = mailbox_record(box, 1)->modseq;

	CHECK_INTEQ(mailbox_set_flags(box, 1, MAILBOX_FLAGS_ADD, MAIL_SEEN | MAIL_ANSWERED, NULL, 0,
				      0, NULL), 0);
	CHECK(strstr(mb_file_of(box, 1, name, sizeof(name)), ":2,RS") != NULL);
	m1 = mailbox_record(box, 1)->modseq;
	CHECK(m1 > m0);
	CHECK_INTEQ(mailbox_highestmodseq(box), m1);
	CHECK_INTEQ(mailbox_set_flags(box, 1, MAILBOX_FLAGS_ADD, MAIL_DRAFT | MAIL_DELETED | MAIL_FLAGGED,
				      fwd, 1, 0, NULL), 0);
	CHECK(strstr(mb_file_of(box, 1, name, sizeof(name)), ":2,DFPRST") != NULL);
	CHECK(mailbox_record(box, 1)->flags & MAIL_FORWARDED);
	CHECK(mailbox_record(box, 1)->modseq > m1);
	/* no change: no new MODSEQ */
	m1 = mailbox_record(box, 1)->modseq;
	CHECK_INTEQ(mailbox_set_flags(box, 1, MAILBOX_FLAGS_ADD, MAIL_SEEN, NULL, 0, 0, NULL), 0);
	CHECK_INTEQ(mailbox_record(box, 1)->modseq, m1);
	/* keywords are not in the name */
	CHECK_INTEQ(mailbox_set_flags(box, 1, MAILBOX_FLAGS_REPLACE, MAIL_SEEN, kw, 2, 0, NULL), 0);
	CHECK(strstr(mb_file_of(box, 1, name, sizeof(name)), ":2,S") != NULL);
	CHECK(strstr(name, ":2,S") && strlen(strstr(name, ":2,S")) == 4);
	CHECK_INTEQ(mailbox_record(box, 1)->keywords, 3);
	CHECK_INTEQ(mailbox_record(box, 1)->flags & MAIL_FLAGS_MASK, MAIL_SEEN);
	CHECK_INTEQ(mailbox_set_flags(box, 1, MAILBOX_FLAGS_REMOVE, 0, kw + 1, 1, 0, NULL), 0);
	CHECK_INTEQ(mailbox_record(box, 1)->keywords, 1);
	/* RFC 7162 UNCHANGEDSINCE */
	m1 = mailbox_record(box, 1)->modseq;
	CHECK_INTEQ(mailbox_set_flags(box, 1, MAILBOX_FLAGS_ADD, MAIL_FLAGGED, NULL, 0, m1 - 1,
				      NULL), 1);
	CHECK_INTEQ(mailbox_record(box, 1)->flags & MAIL_FLAGGED, 0);
	CHECK_INTEQ(mailbox_set_flags(box, 1, MAILBOX_FLAGS_ADD, MAIL_FLAGGED, NULL, 0, m1, NULL),
		    0);
	CHECK(mailbox_record(box, 1)->flags & MAIL_FLAGGED);
	/* bad keywords */
	{
		const char *bad[] = { "a b" };
		char *err = NULL;
		CHECK_INTEQ(mailbox_set_flags(box, 1, MAILBOX_FLAGS_ADD, 0, bad, 1, 0, &err),
			    MAIL_ERR_INVALID);
		free(err);
	}
	mailbox_close(&box);
	mail_user_close(&u);
}

TEST(store_mailbox_keyword_limit)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	struct mailbox *box;
	char kwname[32], *err = NULL;
	const char *kw[1] = { kwname };

	REQUIRE(u != NULL);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	mb_append(box, "a\n", 0, NULL);
	REQUIRE(mb_sync(box, 0, NULL) == 0);
	for (int i = 0; i < MAIL_INDEX_MAX_KEYWORDS; i++) {
		snprintf(kwname, sizeof(kwname), "kw%d", i);
		CHECK_INTEQ(mailbox_set_flags(box, 1, MAILBOX_FLAGS_ADD, 0, kw, 1, 0, NULL), 0);
	}
	CHECK(!mailbox_keywords_room(box));
	snprintf(kwname, sizeof(kwname), "one-too-many");
	CHECK_INTEQ(mailbox_set_flags(box, 1, MAILBOX_FLAGS_ADD, 0, kw, 1, 0, &err), MAIL_ERR_LIMIT);
	free(err);
	CHECK_INTEQ(mailbox_record(box, 1)->keywords, UINT64_MAX);
	mailbox_close(&box);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_keyword_count(box), MAIL_INDEX_MAX_KEYWORDS);
	CHECK_STREQ(mailbox_keyword_name(box, 63), "kw63");
	CHECK_INTEQ(mailbox_record(box, 1)->keywords, UINT64_MAX);
	mailbox_close(&box);
	mail_user_close(&u);
}

TEST(store_mailbox_external_changes)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	char *maildir = mb_root_path(dir, ""), *n1, *n2, name[512], *from, *to;
	const char *fn;
	struct mailbox_changes ch;
	struct mailbox *box;
	uint64_t hms;

	REQUIRE(u != NULL);
	/* two messages from another MDA before the first login */
	n1 = mb_external(maildir, "Subject: 1\n\nx\n");
	n2 = mb_external(maildir, "Subject: 2\n\ny\n");
	REQUIRE(n1 != NULL && n2 != NULL);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_count(box), 2);
	CHECK_INTEQ(mailbox_uid(box, 1), 1);
	/* moved to cur/ with ":2," on SELECT */
	CHECK_INTEQ(mb_count_files(dir, "new"), 0);
	CHECK_INTEQ(mb_count_files(dir, "cur"), 2);
	mb_age_dirs(maildir);
	REQUIRE(mb_sync(box, 0, &ch) == 0);
	mailbox_changes_free(&ch);

	/* a third one arrives */
	free(n1);
	n1 = mb_external(maildir, "Subject: 3\n\nz\n");
	REQUIRE(mb_sync(box, 0, &ch) == 0);
	CHECK_INTEQ(ch.old_count, 2);
	CHECK_INTEQ(ch.count, 3);
	CHECK_INTEQ(ch.n_expunged, 0);
	CHECK_INTEQ(ch.recent, 3);
	mailbox_changes_free(&ch);
	CHECK_INTEQ(mailbox_uid(box, 3), 3);

	/* another tool marks message 1 answered+seen */
	mb_age_dirs(maildir);
	REQUIRE(mb_sync(box, 0, &ch) == 0);
	mailbox_changes_free(&ch);
	hms = mailbox_highestmodseq(box);
	fn = mb_file_of(box, 1, name, sizeof(name));
	from = xasprintf("%s/cur/%s", maildir, fn);
	to = xasprintf("%s/cur/%.*s:2,RS", maildir, (int)(strchr(fn, ':') - fn), fn);
	if (rename(from, to) != 0)
		fprintf(stderr, "  rename %s: %s\n", from, strerror(errno));
	REQUIRE(access(to, F_OK) == 0);
	REQUIRE(mb_sync(box, 0, &ch) == 0);
	CHECK_INTEQ(ch.n_changed, 1);
	CHECK(ch.n_changed == 1 && ch.changed_seqs[0] == 1);
	mailbox_changes_free(&ch);
	CHECK_INTEQ(mailbox_record(box, 1)->flags & MAIL_FLAGS_MASK, MAIL_ANSWERED | MAIL_SEEN);
	CHECK(mailbox_record(box, 1)->modseq > hms);
	free(from);
	free(to);

	/* another tool deletes message 2 */
	mb_age_dirs(maildir);
	REQUIRE(mb_sync(box, 0, &ch) == 0);
	mailbox_changes_free(&ch);
	fn = mb_file_of(box, 2, name, sizeof(name));
	from = xasprintf("%s/cur/%s", maildir, fn);
	REQUIRE(unlink(from) == 0);
	REQUIRE(mb_sync(box, 0, &ch) == 0);
	CHECK_INTEQ(ch.n_expunged, 1);
	CHECK(ch.n_expunged == 1 && ch.expunged_seqs[0] == 2 && ch.expunged_uids[0] == 2);
	CHECK_INTEQ(ch.count, 2);
	mailbox_changes_free(&ch);
	CHECK_INTEQ(mailbox_uid(box, 2), 3);
	free(from);

	/* FETCH of a message whose file another tool renamed meanwhile */
	fn = mb_file_of(box, 2, name, sizeof(name));
	from = xasprintf("%s/cur/%s", maildir, fn);
	to = xasprintf("%s/cur/%.*s:2,F", maildir, (int)(strchr(fn, ':') - fn), fn);
	REQUIRE(rename(from, to) == 0);
	{
		int fd = -1;
		uint64_t size;
		CHECK_INTEQ(mailbox_open_message(box, 2, &fd, &size, NULL), 0);
		CHECK_INTEQ(size, strlen("Subject: 3\n\nz\n"));
		if (fd >= 0)
			close(fd);
	}
	free(from);
	free(to);
	mailbox_close(&box);

	/* everything survives a reopen */
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_count(box), 2);
	CHECK_INTEQ(mailbox_uid(box, 1), 1);
	CHECK_INTEQ(mailbox_uid(box, 2), 3);
	CHECK_INTEQ(mailbox_record(box, 1)->flags & MAIL_FLAGS_MASK, MAIL_ANSWERED | MAIL_SEEN);
	CHECK_INTEQ(mailbox_record(box, 2)->flags & MAIL_FLAGS_MASK, MAIL_FLAGGED);
	mailbox_close(&box);
	mail_user_close(&u);
	free(n1);
	free(n2);
	free(maildir);
}

TEST(store_mailbox_same_tick_change_found_later)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	char *maildir = mb_root_path(dir, ""), *n, *newdir;
	struct mailbox_changes ch;
	struct mailbox *box;
	struct stat st;
	struct timespec ts[2];

	REQUIRE(u != NULL);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	mb_age_dirs(maildir);
	REQUIRE(mb_sync(box, 0, NULL) == 0);
	/* a delivery that leaves new/'s mtime as it was (same clock tick) */
	newdir = xasprintf("%s/new", maildir);
	REQUIRE(stat(newdir, &st) == 0);
	n = mb_external(maildir, "late\n");
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	utimensat(AT_FDCWD, newdir, ts, 0);
	REQUIRE(mb_sync(box, 0, &ch) == 0);
	CHECK_INTEQ(ch.count, 0);	/* trusted stamp: not seen (documented) */
	mailbox_changes_free(&ch);
	REQUIRE(mb_sync(box, MAILBOX_SYNC_FORCE, &ch) == 0);
	CHECK_INTEQ(ch.count, 1);
	mailbox_changes_free(&ch);
	mailbox_close(&box);
	mail_user_close(&u);
	free(n);
	free(newdir);
	free(maildir);
}

TEST(store_mailbox_views_and_expunge)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	struct mailbox *a, *b, *c;
	struct mailbox_changes ch;
	int notified = 0;

	REQUIRE(u != NULL);
	a = mb_open(u, "INBOX", 0);
	REQUIRE(a != NULL);
	for (int i = 0; i < 5; i++)
		mb_append(a, "m\n", 0, NULL);
	REQUIRE(mb_sync(a, 0, NULL) == 0);
	b = mb_open(u, "INBOX", 0);
	c = mb_open(u, "INBOX", 0);
	REQUIRE(b != NULL && c != NULL);
	mailbox_set_notify(b, NULL, NULL);
	CHECK_INTEQ(mailbox_count(b), 5);

	/* a expunges 2 and 4 */
	CHECK_INTEQ(mailbox_expunge(a, 2, NULL), 0);
	CHECK_INTEQ(mailbox_expunge(a, 4, NULL), 0);
	CHECK(mailbox_record(a, 2) == NULL);
	REQUIRE(mailbox_commit(a, NULL) == 0);
	(void)notified;
	/* b still numbers as before; the gone ones read as NULL */
	CHECK_INTEQ(mailbox_count(b), 5);
	CHECK(mailbox_record(b, 2) == NULL);
	CHECK(mailbox_record(b, 3) != NULL && mailbox_record(b, 3)->uid == 3);
	CHECK_INTEQ(mailbox_uid(b, 5), 5);
	CHECK_INTEQ(mailbox_seq(b, 4), 4);
	/* during FETCH: no expunges, but the new message is there */
	mb_append(a, "n\n", 0, NULL);
	REQUIRE(mb_sync(b, MAILBOX_SYNC_NO_EXPUNGE, &ch) == 0);
	CHECK_INTEQ(ch.n_expunged, 0);
	CHECK_INTEQ(ch.count, 6);
	CHECK_INTEQ(mailbox_uid(b, 6), 6);
	mailbox_changes_free(&ch);
	/* then a full sync reports them, highest first */
	REQUIRE(mb_sync(b, 0, &ch) == 0);
	CHECK_INTEQ(ch.n_expunged, 2);
	if (ch.n_expunged == 2) {
		CHECK_INTEQ(ch.expunged_seqs[0], 4);
		CHECK_INTEQ(ch.expunged_seqs[1], 2);
		CHECK_INTEQ(ch.expunged_uids[0], 2);
		CHECK_INTEQ(ch.expunged_uids[1], 4);
	}
	CHECK_INTEQ(ch.count, 4);
	mailbox_changes_free(&ch);
	CHECK_INTEQ(mailbox_uid(b, 2), 3);
	CHECK_INTEQ(mailbox_uid(b, 4), 6);
	/* a reports its own expunges too (EXPUNGE command responses) */
	REQUIRE(mb_sync(a, 0, &ch) == 0);
	CHECK_INTEQ(ch.n_expunged, 2);
	CHECK_INTEQ(ch.count, 4);
	mailbox_changes_free(&ch);
	/* flag change by a: c hears about it, a does not */
	CHECK_INTEQ(mailbox_set_flags(a, 1, MAILBOX_FLAGS_ADD, MAIL_SEEN, NULL, 0, 0, NULL), 0);
	REQUIRE(mailbox_commit(a, NULL) == 0);
	REQUIRE(mb_sync(a, 0, &ch) == 0);
	CHECK_INTEQ(ch.n_changed, 0);
	mailbox_changes_free(&ch);
	REQUIRE(mb_sync(c, 0, &ch) == 0);
	CHECK_INTEQ(ch.n_expunged, 2);
	CHECK_INTEQ(ch.n_changed, 1);
	CHECK(ch.n_changed == 1 && ch.changed_seqs[0] == 1);
	mailbox_changes_free(&ch);
	/* QRESYNC history */
	{
		uint32_t *uids = NULL;
		size_t n = 0;
		CHECK(mailbox_expunged_since(a, 1, &uids, &n));
		CHECK_INTEQ(n, 2);
		CHECK(n == 2 && uids[0] == 2 && uids[1] == 4);
		free(uids);
	}
	CHECK_INTEQ(mb_count_files(dir, "cur"), 4);
	mailbox_close(&a);
	mailbox_close(&b);
	mailbox_close(&c);
	mail_user_close(&u);
}

static void count_notify(struct mailbox *box, void *ctx)
{
	(void)box;
	(*(int *)ctx)++;
}

TEST(store_mailbox_notify_and_recent)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	struct mailbox *a, *b, *ro, *deliver;
	struct mailbox_changes ch;
	struct mailbox_status st;
	int na = 0, nb = 0;

	REQUIRE(u != NULL);
	deliver = mb_open(u, "INBOX", MAILBOX_OPEN_READONLY);
	REQUIRE(deliver != NULL);
	mb_append(deliver, "1\n", 0, NULL);
	mb_append(deliver, "2\n", 0, NULL);
	a = mb_open(u, "INBOX", 0);
	REQUIRE(a != NULL);
	mailbox_set_notify(a, count_notify, &na);
	CHECK(mailbox_is_recent(a, 1) && mailbox_is_recent(a, 2));
	mailbox_get_status(a, &st);
	CHECK_INTEQ(st.recent, 2);
	CHECK_INTEQ(st.unseen, 2);
	CHECK_INTEQ(st.first_unseen_seq, 1);
	b = mb_open(u, "INBOX", 0);
	REQUIRE(b != NULL);
	mailbox_set_notify(b, count_notify, &nb);
	mailbox_get_status(b, &st);
	CHECK_INTEQ(st.recent, 0);
	CHECK(!mailbox_is_recent(b, 1));
	/* a delivery wakes both */
	mb_append(deliver, "3\n", 0, NULL);
	CHECK_INTEQ(na, 1);
	CHECK_INTEQ(nb, 1);
	ro = mb_open(u, "INBOX", MAILBOX_OPEN_READONLY);
	REQUIRE(ro != NULL);
	CHECK(mailbox_is_recent(ro, 3));	/* unclaimed */
	REQUIRE(mb_sync(b, 0, &ch) == 0);
	CHECK_INTEQ(ch.recent, 1);
	mailbox_changes_free(&ch);
	REQUIRE(mb_sync(a, 0, &ch) == 0);
	CHECK_INTEQ(ch.count, 3);
	CHECK_INTEQ(ch.recent, 2);
	mailbox_changes_free(&ch);
	CHECK(!mailbox_is_recent(a, 3));
	CHECK(mailbox_is_recent(b, 3));
	REQUIRE(mb_sync(ro, 0, &ch) == 0);
	CHECK_INTEQ(ch.recent, 0);
	mailbox_changes_free(&ch);
	/* b changes a flag: a is told, b is not */
	na = nb = 0;
	CHECK_INTEQ(mailbox_set_flags(b, 1, MAILBOX_FLAGS_ADD, MAIL_SEEN, NULL, 0, 0, NULL), 0);
	REQUIRE(mailbox_commit(b, NULL) == 0);
	CHECK_INTEQ(na, 1);
	CHECK_INTEQ(nb, 0);
	mailbox_close(&ro);
	mailbox_close(&a);
	mailbox_close(&b);
	mailbox_close(&deliver);
	/* claims persist: a new session sees nothing recent */
	a = mb_open(u, "INBOX", 0);
	REQUIRE(a != NULL);
	mailbox_get_status(a, &st);
	CHECK_INTEQ(st.recent, 0);
	CHECK_INTEQ(st.unseen, 2);
	mailbox_close(&a);
	mail_user_close(&u);
}

TEST(store_mailbox_copy_move)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	struct mailbox *in, *work;
	struct mailbox_changes ch;
	uint32_t uid = 0;
	char name[512], *path;
	struct stat st;
	buf_t blob;

	REQUIRE(u != NULL);
	REQUIRE(mail_user_create(u, "Work", NULL) == 0);
	in = mb_open(u, "INBOX", 0);
	work = mb_open(u, "Work", 0);
	REQUIRE(in != NULL && work != NULL);
	mb_append(in, "Subject: a\n\n1\n", MAIL_SEEN, "Todo");
	mb_append(in, "Subject: b\n\n2\n", MAIL_FLAGGED, NULL);
	REQUIRE(mb_sync(in, 0, NULL) == 0);
	REQUIRE(mailbox_cache_set(in, 1, 3, "ENVELOPE-1", 10, NULL) == 0);

	CHECK_INTEQ(mailbox_copy(in, 1, work, &uid, NULL), 0);
	CHECK_INTEQ(uid, 1);
	REQUIRE(mailbox_commit(work, NULL) == 0);
	REQUIRE(mb_sync(work, 0, NULL) == 0);
	REQUIRE(mailbox_count(work) == 1);
	CHECK_INTEQ(mailbox_record(work, 1)->flags & MAIL_FLAGS_MASK, MAIL_SEEN);
	CHECK_STREQ(mailbox_keyword_name(work, 0), "Todo");
	CHECK_INTEQ(mailbox_record(work, 1)->keywords, 1);
	CHECK_INTEQ(mailbox_record(work, 1)->idate, mailbox_record(in, 1)->idate);
	/* a hard link: same inode */
	path = xasprintf("%s/example.org/alice/.Work/cur/%s", dir,
			 mb_file_of(work, 1, name, sizeof(name)));
	CHECK(stat(path, &st) == 0 && st.st_nlink == 2);
	free(path);
	buf_init(&blob, 0);
	CHECK_INTEQ(mailbox_cache_get(work, 1, 3, &blob, NULL), 1);
	CHECK(blob.used == 10 && memcmp(blob.data, "ENVELOPE-1", 10) == 0);
	buf_free(&blob);

	CHECK_INTEQ(mailbox_move(in, 2, work, &uid, NULL), 0);
	CHECK_INTEQ(uid, 2);
	REQUIRE(mailbox_commit(work, NULL) == 0);
	REQUIRE(mailbox_commit(in, NULL) == 0);
	REQUIRE(mb_sync(in, 0, &ch) == 0);
	CHECK_INTEQ(ch.n_expunged, 1);
	CHECK_INTEQ(ch.count, 1);
	mailbox_changes_free(&ch);
	REQUIRE(mb_sync(work, 0, NULL) == 0);
	CHECK_INTEQ(mailbox_count(work), 2);
	CHECK_INTEQ(mailbox_record(work, 2)->flags & MAIL_FLAGS_MASK, MAIL_FLAGGED);
	CHECK_INTEQ(mb_count_files(dir, "cur"), 1);
	CHECK_INTEQ(mb_count_files(dir, ".Work/cur"), 2);
	/* a source UID above dst's UIDNEXT does not leak into dst */
	mb_append(in, "Subject: c\n\n3\n", 0, NULL);
	mb_append(in, "Subject: d\n\n4\n", 0, NULL);
	mb_append(in, "Subject: e\n\n5\n", 0, NULL);
	REQUIRE(mb_sync(in, 0, NULL) == 0);
	CHECK_INTEQ(mailbox_uid(in, mailbox_count(in)), 5);
	CHECK_INTEQ(mailbox_copy(in, mailbox_count(in), work, &uid, NULL), 0);
	CHECK_INTEQ(uid, 3);
	REQUIRE(mailbox_commit(work, NULL) == 0);
	REQUIRE(mb_sync(work, 0, NULL) == 0);
	CHECK_INTEQ(mailbox_copy(work, 3, work, &uid, NULL), 0);
	CHECK_INTEQ(uid, 4);
	REQUIRE(mailbox_commit(work, NULL) == 0);
	/* copy within the same folder: a new name, a new UID */
	CHECK_INTEQ(mailbox_copy(work, 1, work, &uid, NULL), 0);
	CHECK_INTEQ(uid, 5);
	REQUIRE(mailbox_commit(work, NULL) == 0);
	CHECK_INTEQ(mb_count_files(dir, ".Work/cur"), 5);
	mailbox_close(&in);
	mailbox_close(&work);
	mail_user_close(&u);
}

TEST(store_mailbox_cache)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	struct mailbox *box;
	char *cache;
	buf_t out;
	int fd;

	REQUIRE(u != NULL);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	mb_append(box, "a\n", 0, NULL);
	mb_append(box, "b\n", 0, NULL);
	REQUIRE(mb_sync(box, 0, NULL) == 0);
	buf_init(&out, 0);
	CHECK_INTEQ(mailbox_cache_get(box, 1, 0, &out, NULL), 0);
	CHECK_INTEQ(mailbox_cache_set(box, 1, 0, "env", 3, NULL), 0);
	CHECK_INTEQ(mailbox_cache_set(box, 1, 1, "bodystructure", 13, NULL), 0);
	CHECK_INTEQ(mailbox_cache_set(box, 1, 0, "envelope", 8, NULL), 0);	/* replaces */
	CHECK_INTEQ(mailbox_cache_set(box, 2, 5, "", 0, NULL), 0);
	CHECK_INTEQ(mailbox_cache_set(box, 2, MAIL_CACHE_FIELDS, "x", 1, NULL), MAIL_ERR_INVALID);
	CHECK_INTEQ(mailbox_cache_get(box, 1, 0, &out, NULL), 1);
	CHECK(out.used == 8 && memcmp(out.data, "envelope", 8) == 0);
	mailbox_close(&box);

	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	buf_reset(&out);
	CHECK_INTEQ(mailbox_cache_get(box, 1, 1, &out, NULL), 1);
	CHECK(out.used == 13 && memcmp(out.data, "bodystructure", 13) == 0);
	buf_reset(&out);
	CHECK_INTEQ(mailbox_cache_get(box, 2, 5, &out, NULL), 1);
	CHECK_INTEQ(out.used, 0);
	mailbox_close(&box);

	/* scribble over the cache: entries read as missing, never garbage */
	cache = xasprintf("%s/example.org/alice/%s", dir, MAIL_INDEX_CACHE_FILE);
	fd = open(cache, O_RDWR);
	REQUIRE(fd >= 0);
	{
		struct stat st;
		REQUIRE(fstat(fd, &st) == 0);
		for (off_t off = 20; off < st.st_size; off += 8)
			CHECK(pwrite(fd, "X", 1, off) == 1);
	}
	close(fd);
	mb_restart(&u, dir);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	buf_reset(&out);
	CHECK_INTEQ(mailbox_cache_get(box, 1, 0, &out, NULL), 0);
	CHECK_INTEQ(mailbox_cache_set(box, 1, 0, "again", 5, NULL), 0);
	CHECK_INTEQ(mailbox_cache_get(box, 1, 0, &out, NULL), 1);
	mailbox_close(&box);
	/* and a lost cache file too */
	unlink(cache);
	mb_restart(&u, dir);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	buf_reset(&out);
	CHECK_INTEQ(mailbox_cache_get(box, 1, 0, &out, NULL), 0);
	CHECK_INTEQ(mailbox_cache_set(box, 2, 2, "fresh", 5, NULL), 0);
	CHECK_INTEQ(mailbox_cache_get(box, 2, 2, &out, NULL), 1);
	mailbox_close(&box);
	buf_free(&out);
	free(cache);
	mail_user_close(&u);
}

/* Removes index files of INBOX (names from the list) */
static void mb_rm(const char *dir, const char *const *files)
{
	for (; *files != NULL; files++) {
		char *p = xasprintf("%s/example.org/alice/%s", dir, *files);
		unlink(p);
		free(p);
	}
}

/* The same UIDs, keywords and UIDVALIDITY after losing one index file. */
TEST(store_mailbox_rebuild_keeps_uids)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	struct mailbox *box;
	struct mail_index *idx;
	enum mail_index_state state;
	char *maildir = mb_root_path(dir, "");
	uint32_t uidv, uidnext;
	const char *kw[] = { "Important" };

	REQUIRE(u != NULL);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	uidv = mailbox_uidvalidity(box);
	for (int i = 0; i < 5; i++)
		mb_append(box, "msg\n", 0, NULL);
	REQUIRE(mb_sync(box, 0, NULL) == 0);
	CHECK_INTEQ(mailbox_set_flags(box, 3, MAILBOX_FLAGS_ADD, MAIL_SEEN, kw, 1, 0, NULL), 0);
	CHECK_INTEQ(mailbox_expunge(box, 1, NULL), 0);
	REQUIRE(mailbox_commit(box, NULL) == 0);
	mailbox_close(&box);

	/* 1. youju.index gone: .bak + log chain, nothing lost */
	mb_rm(dir, (const char *[]){ MAIL_INDEX_FILE, NULL });
	REQUIRE(mail_index_open(maildir, &idx, &state, NULL) == 0);
	CHECK_INTEQ(state, MAIL_INDEX_EXACT);
	mail_index_close(&idx);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_uidvalidity(box), uidv);
	CHECK_INTEQ(mailbox_count(box), 4);
	CHECK_INTEQ(mailbox_uid(box, 1), 2);
	CHECK_INTEQ(mailbox_uid(box, 4), 5);
	CHECK_INTEQ(mailbox_record(box, 2)->keywords, 1);
	CHECK_INTEQ(mailbox_uidnext(box), 6);
	mailbox_close(&box);

	/* 2. a snapshot, two more messages, then the log is lost: the
	   snapshot's UIDs stay, the later ones get new UIDs past the
	   reserve, UIDVALIDITY stays */
	REQUIRE(mail_index_open(maildir, &idx, &state, NULL) == 0);
	REQUIRE(mail_index_rewrite(idx, NULL) == 0);
	uidnext = idx->uidnext;
	mail_index_close(&idx);
	mb_restart(&u, dir);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	mb_append(box, "six\n", 0, NULL);
	mb_append(box, "seven\n", 0, NULL);
	mailbox_close(&box);
	mb_rm(dir, (const char *[]){ MAIL_INDEX_LOG_FILE, NULL });
	REQUIRE(mail_index_open(maildir, &idx, &state, NULL) == 0);
	CHECK_INTEQ(state, MAIL_INDEX_PARTIAL);
	mail_index_close(&idx);
	mb_restart(&u, dir);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_uidvalidity(box), uidv);
	CHECK_INTEQ(mailbox_count(box), 6);
	CHECK_INTEQ(mailbox_uid(box, 1), 2);
	CHECK_INTEQ(mailbox_uid(box, 4), 5);
	CHECK(mailbox_uid(box, 5) >= uidnext + MAIL_INDEX_UID_RESERVE);
	CHECK(mailbox_uid(box, 6) > mailbox_uid(box, 5));
	CHECK_INTEQ(mailbox_record(box, 2)->keywords, 1);
	mailbox_close(&box);

	/* 3. a corrupt snapshot (one flipped byte): recovered from .bak */
	{
		char *p = xasprintf("%s/%s", maildir, MAIL_INDEX_FILE);
		int fd = open(p, O_RDWR);
		char c;
		REQUIRE(fd >= 0);
		CHECK(pread(fd, &c, 1, 140) == 1);
		c ^= 0x10;
		CHECK(pwrite(fd, &c, 1, 140) == 1);
		close(fd);
		free(p);
	}
	mb_restart(&u, dir);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_uidvalidity(box), uidv);
	CHECK_INTEQ(mailbox_count(box), 6);
	CHECK_INTEQ(mailbox_uid(box, 1), 2);
	CHECK_INTEQ(mailbox_record(box, 2)->keywords, 1);
	mailbox_close(&box);

	/* 4. every youju file gone: a new UIDVALIDITY, UIDs from 1 in
	   delivery order */
	mb_rm(dir, (const char *[]){ MAIL_INDEX_FILE, MAIL_INDEX_LOG_FILE, MAIL_INDEX_BAK_FILE,
				     MAIL_INDEX_LOG1_FILE, MAIL_INDEX_CACHE_FILE, NULL });
	mb_restart(&u, dir);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK(mailbox_uidvalidity(box) > uidv);
	CHECK_INTEQ(mailbox_count(box), 6);
	CHECK_INTEQ(mailbox_uid(box, 1), 1);
	CHECK_INTEQ(mailbox_uid(box, 6), 6);
	CHECK_INTEQ(mailbox_record(box, 2)->flags & MAIL_SEEN, MAIL_SEEN);	/* from the name */
	CHECK_INTEQ(mailbox_record(box, 2)->keywords, 0);	/* index only: lost */
	mailbox_close(&box);
	mail_user_close(&u);
	free(maildir);
}

TEST(store_mailbox_modseq)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	struct mailbox *box;
	uint64_t prev, m;

	REQUIRE(u != NULL);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	prev = mailbox_highestmodseq(box);
	mb_append(box, "a\n", 0, NULL);
	CHECK((m = mailbox_highestmodseq(box)) > prev);
	prev = m;
	mb_append(box, "b\n", 0, NULL);
	CHECK((m = mailbox_highestmodseq(box)) > prev);
	prev = m;
	REQUIRE(mb_sync(box, 0, NULL) == 0);
	CHECK_INTEQ(mailbox_highestmodseq(box), prev);
	for (int i = 0; i < 3; i++) {
		CHECK_INTEQ(mailbox_set_flags(box, 1, i % 2 ? MAILBOX_FLAGS_REMOVE : MAILBOX_FLAGS_ADD,
					      MAIL_SEEN, NULL, 0, 0, NULL), 0);
		m = mailbox_highestmodseq(box);
		CHECK(m > prev);
		CHECK_INTEQ(mailbox_record(box, 1)->modseq, m);
		prev = m;
	}
	CHECK_INTEQ(mailbox_expunge(box, 2, NULL), 0);
	CHECK((m = mailbox_highestmodseq(box)) > prev);
	prev = m;
	REQUIRE(mailbox_commit(box, NULL) == 0);
	mailbox_close(&box);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_highestmodseq(box), prev);
	mailbox_close(&box);
	mail_user_close(&u);
}

TEST(store_mailbox_readonly_leaves_new)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	char *maildir = mb_root_path(dir, ""), *n;
	struct mailbox *ro, *rw;

	REQUIRE(u != NULL);
	n = mb_external(maildir, "x\n");
	ro = mb_open(u, "INBOX", MAILBOX_OPEN_READONLY);
	REQUIRE(ro != NULL);
	CHECK_INTEQ(mailbox_count(ro), 1);
	CHECK_INTEQ(mb_count_files(dir, "new"), 1);
	/* flags of a message still in new/ live in the index */
	CHECK_INTEQ(mailbox_set_flags(ro, 1, MAILBOX_FLAGS_ADD, MAIL_FLAGGED, NULL, 0, 0, NULL), 0);
	CHECK_INTEQ(mb_count_files(dir, "new"), 0);
	CHECK_INTEQ(mb_count_files(dir, "cur"), 1);
	mailbox_close(&ro);
	free(n);
	n = mb_external(maildir, "y\n");
	ro = mb_open(u, "INBOX", MAILBOX_OPEN_READONLY);
	REQUIRE(ro != NULL);
	CHECK_INTEQ(mb_count_files(dir, "new"), 1);
	rw = mb_open(u, "INBOX", 0);
	REQUIRE(rw != NULL);
	CHECK_INTEQ(mb_count_files(dir, "new"), 0);
	CHECK_INTEQ(mailbox_count(rw), 2);
	CHECK_INTEQ(mailbox_record(rw, 1)->flags & MAIL_FLAGS_MASK, MAIL_FLAGGED);
	mailbox_close(&ro);
	mailbox_close(&rw);
	mail_user_close(&u);
	free(n);
	free(maildir);
}

TEST(store_mailbox_append_from_fd_and_key)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	char *src = xasprintf("%s/spool", dir), *maildir = mb_root_path(dir, "");
	const char text[] = "XXXXSubject: fd\r\n\r\nfrom a spool file\r\n";
	struct mailbox_append msg = { .fd = -1 };
	struct mailbox *box;
	uint32_t uid;
	int fd;

	REQUIRE(u != NULL);
	fd = open(src, O_RDWR | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0 && write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	msg.fd = fd;
	msg.offset = 4;
	msg.size = (int64_t)sizeof(text) - 1 - 4;
	msg.key = "Qabc123R1";
	msg.data = NULL;
	CHECK_INTEQ(mailbox_append(box, &msg, &uid, NULL), 0);
	REQUIRE(mailbox_commit(box, NULL) == 0);
	CHECK_INTEQ(maildir_has_key(maildir, "Qabc123R1"), 1);
	REQUIRE(mb_sync(box, 0, NULL) == 0);
	CHECK_INTEQ(mailbox_record(box, 1)->psize, strlen("Subject: fd\n\nfrom a spool file\n"));
	CHECK_INTEQ(mailbox_record(box, 1)->vsize, sizeof(text) - 1 - 4);
	{
		uint64_t v = 0;
		CHECK_INTEQ(mailbox_get_vsize(box, 1, &v, NULL), 0);
		CHECK_INTEQ(v, sizeof(text) - 1 - 4);
		CHECK_INTEQ(mailbox_get_vsize_total(box, &v, NULL), 0);
		CHECK_INTEQ(v, sizeof(text) - 1 - 4);
	}
	close(fd);
	mailbox_close(&box);
	mail_user_close(&u);
	free(src);
	free(maildir);
}

/* RFC 9051 2.3.1.1: when the UIDs run out, a new UIDVALIDITY. */
TEST(store_mailbox_uids_used_up)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	char *maildir = mb_root_path(dir, ""), *p, *n;
	struct mail_index_record rec = { .uid = UINT32_MAX - 3, .psize = 2 };
	struct mail_index *idx;
	enum mail_index_state state;
	struct mailbox *box;
	uint32_t pos, uidv;
	int fd;

	REQUIRE(u != NULL);
	p = xasprintf("%s/cur/1.M1P1.x:2,", maildir);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	REQUIRE(fd >= 0 && write(fd, "x\n", 2) == 2);
	close(fd);
	free(p);
	REQUIRE(mail_index_open(maildir, &idx, &state, NULL) == 0);
	uidv = idx->uidvalidity;
	REQUIRE(mail_index_append(idx, &rec, "1.M1P1.x:2,", &pos, NULL) == 0);
	CHECK_INTEQ(idx->recs[pos].uid, UINT32_MAX - 3);
	REQUIRE(mail_index_commit(idx, NULL) == 0);
	mail_index_close(&idx);
	for (int i = 0; i < 3; i++)
		free(mb_external(maildir, "more\n"));
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK(mailbox_uidvalidity(box) != uidv);
	CHECK_INTEQ(mailbox_count(box), 4);
	CHECK_INTEQ(mailbox_uid(box, 1), 1);
	CHECK_INTEQ(mailbox_uidnext(box), 5);
	mailbox_close(&box);
	/* with a session open, the folder goes away for it */
	REQUIRE(mail_index_open(maildir, &idx, &state, NULL) == 0);
	rec.uid = UINT32_MAX - 2;
	n = mb_external(maildir, "file\n");
	REQUIRE(mail_index_append(idx, &rec, n, &pos, NULL) == 0);
	rec.uid = 0;
	REQUIRE(mail_index_commit(idx, NULL) == 0);
	mail_index_close(&idx);
	free(n);
	mb_restart(&u, dir);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	free(mb_external(maildir, "one more\n"));
	free(mb_external(maildir, "and another\n"));
	CHECK_INTEQ(mb_sync(box, MAILBOX_SYNC_FORCE, NULL), MAIL_ERR_NOTFOUND);
	mailbox_close(&box);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_count(box), 7);
	CHECK_INTEQ(mailbox_uid(box, 7), 7);
	mailbox_close(&box);
	mail_user_close(&u);
	free(maildir);
}

/* First open of a folder Dovecot served: its UIDVALIDITY and UIDs stay. */
TEST(store_mailbox_dovecot_uidlist_import)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	char *maildir = mb_root_path(dir, ""), *p;
	static const char *const files[] = {
		"1600000001.M1P1.old.example,S=2,W=3:2,S",
		"1600000002.M2P1.old.example,S=2,W=3:2,RS",
		"1600000003.M3P1.old.example,S=2,W=3:2,",
	};
	struct mailbox *box;
	FILE *fp;

	REQUIRE(u != NULL);
	for (int i = 0; i < 3; i++) {
		int fd;
		p = xasprintf("%s/cur/%s", maildir, files[i]);
		fd = open(p, O_WRONLY | O_CREAT, 0600);
		REQUIRE(fd >= 0 && write(fd, "x\n", 2) == 2);
		close(fd);
		free(p);
	}
	p = xasprintf("%s/dovecot-uidlist", maildir);
	fp = fopen(p, "w");
	REQUIRE(fp != NULL);
	fprintf(fp, "3 V1234567 N20 G0123456789abcdef\n"
		    "7 W3 :1600000002.M2P1.old.example,S=2,W=3\n"
		    "9 :1600000001.M1P1.old.example,S=2,W=3\n"
		    "junk line\n");
	fclose(fp);
	free(p);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_uidvalidity(box), 1234567);
	CHECK_INTEQ(mailbox_count(box), 3);
	CHECK_INTEQ(mailbox_uid(box, 1), 7);
	CHECK_INTEQ(mailbox_uid(box, 2), 9);
	CHECK_INTEQ(mailbox_uid(box, 3), 20);
	CHECK_INTEQ(mailbox_uidnext(box), 21);
	CHECK_INTEQ(mailbox_record(box, 1)->flags & MAIL_FLAGS_MASK, MAIL_ANSWERED | MAIL_SEEN);
	CHECK_INTEQ(mailbox_record(box, 1)->vsize, 3);	/* ,W= */
	mailbox_close(&box);
	/* only on the first open: the index rules from then on */
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_uid(box, 3), 20);
	mailbox_close(&box);
	mail_user_close(&u);
	free(maildir);
}

/* The 100,000-message folder: a reopen with nothing changed reads only
 * the index (no readdir); prints the times (no timing assertion). */
TEST(store_mailbox_100k)
{
	static const struct mail_store_io_hooks fast = { NULL, NULL, no_fsync };
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	char *maildir = mb_root_path(dir, ""), *cur = xasprintf("%s/cur", maildir);
	struct timespec t0, t1;
	struct mailbox *box;
	unsigned long rd;
	double ms;
	uint64_t sum = 0;
	int dfd;
	const uint32_t n = 100000;

	REQUIRE(u != NULL);
	mail_store_set_io_hooks(&fast);
	dfd = open(cur, O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd >= 0);
	for (uint32_t i = 0; i < n; i++) {
		char name[128];
		snprintf(name, sizeof(name), "%u.M%uP77Q%u.bulk.example,S=20:2,%s", 1600000000 + i / 10,
			 i % 10, i, i % 3 ? "S" : "");
		int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		REQUIRE(fd >= 0);
		REQUIRE(write(fd, "Subject: x\n\nhello\n\n", 20) == 20);
		close(fd);
	}
	close(dfd);
	mb_age_dirs(maildir);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	box = mb_open(u, "INBOX", 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_count(box), n);
	CHECK_INTEQ(mailbox_uid(box, n), n);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("store_mailbox_100k: first open (readdir + stat + index write) %.1f ms\n", ms);
	mailbox_close(&box);

	for (int round = 0; round < 4; round++) {
		/* rounds 0 and 1: the folder is idle in memory; 2 and 3: a
		   restart, the index is read from disk */
		if (round >= 2)
			mb_restart(&u, dir);
		rd = mailbox_debug_readdirs();
		clock_gettime(CLOCK_MONOTONIC, &t0);
		box = mb_open(u, "INBOX", 0);
		REQUIRE(box != NULL);
		REQUIRE(mb_sync(box, 0, NULL) == 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		CHECK_INTEQ(mailbox_debug_readdirs() - rd, 0);
		CHECK_INTEQ(mailbox_count(box), n);
		ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		printf("store_mailbox_100k: %s + sync, nothing changed: %.1f ms\n",
		       round >= 2 ? "reopen from disk" : "reopen in memory", ms);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (uint32_t seq = 1; seq <= mailbox_count(box); seq++) {
			const struct mail_index_record *r = mailbox_record(box, seq);
			sum += r->uid + (r->flags & MAIL_SEEN);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		if (round == 0)
			printf("store_mailbox_100k: UID+FLAGS of all from the index: %.2f ms\n", ms);
		mailbox_close(&box);
	}
	CHECK(sum > 0);
	/* a flag change then a reopen: the own change does not force a read */
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_set_flags(box, 5, MAILBOX_FLAGS_ADD, MAIL_FLAGGED, NULL, 0, 0, NULL), 0);
	rd = mailbox_debug_readdirs();
	REQUIRE(mb_sync(box, 0, NULL) == 0);
	CHECK_INTEQ(mailbox_debug_readdirs() - rd, 0);
	mailbox_close(&box);
	mail_store_set_io_hooks(NULL);
	mail_user_close(&u);
	free(cur);
	free(maildir);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* An idle folder keeps its index in memory but no descriptors; its cache
 * and log are found again at the next use. */
TEST(store_mailbox_idle_folder_holds_no_fds)
{
	const char *dir = test_tmpdir();
	struct mail_user *u = mb_user(dir);
	struct mailbox *box;
	buf_t out;
	int before;

	REQUIRE(u != NULL);
	buf_init(&out, 0);
	before = open_fds();
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	mb_append(box, "one\n", 0, NULL);
	REQUIRE(mb_sync(box, 0, NULL) == 0);
	CHECK_INTEQ(mailbox_cache_set(box, 1, 1, "blob", 4, NULL), 0);
	REQUIRE(mb_sync(box, 0, NULL) == 0);
	mailbox_close(&box);
	CHECK_INTEQ(open_fds(), before);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_cache_get(box, 1, 1, &out, NULL), 1);
	CHECK(out.used == 4 && memcmp(out.data, "blob", 4) == 0);
	mb_append(box, "two\n", 0, NULL);
	mailbox_close(&box);
	/* a restart reads what the reopened log and cache got */
	mb_restart(&u, dir);
	box = mb_open(u, "INBOX", 0);
	REQUIRE(box != NULL);
	CHECK_INTEQ(mailbox_count(box), 2);
	buf_reset(&out);
	CHECK_INTEQ(mailbox_cache_get(box, 1, 1, &out, NULL), 1);
	mailbox_close(&box);
	buf_free(&out);
	mail_user_close(&u);
}
