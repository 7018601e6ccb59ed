/* Unit tests for the folder index (src/lib-store/mail-index.c): crash
 * safety (a child killed at every write, fsync, rename and link step, with
 * torn writes), corrupt and truncated files, torn log tails, the UID
 * reserve after a lost log, expunge history, and random garbage. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mail-index.h"
#include "mail-user.h"
#include "maildir.h"
#include "mailbox.h"
#include "test.h"
#include "xalloc.h"

/* ---- crash machinery: the child dies at its n-th I/O step ---- */

static int crash_at, crash_steps;
static bool crash_tear;

static void crash_step(const char *op, const char *path)
{
	(void)path;
	if (++crash_steps != crash_at)
		return;
	if (strcmp(op, "write") == 0)
		crash_tear = true;	/* write half of it, then die */
	else
		raise(SIGKILL);
}

static ssize_t crash_write(int fd, const void *data, size_t len)
{
	if (crash_tear) {
		if (len > 1)
			(void)!write(fd, data, len / 2);
		raise(SIGKILL);
	}
	return write(fd, data, len);
}

static int crash_fsync(int fd)
{
	return fsync(fd);
}

static ssize_t crash_md_write(int fd, const void *data, size_t len)
{
	crash_step("write", NULL);
	return crash_write(fd, data, len);
}

static int crash_md_fsync(int fd)
{
	crash_step("fsync", NULL);
	return fsync(fd);
}

/* Runs op(arg) in a child that is killed at step n. true if the child got
 * through without reaching step n. */
static bool crash_run(int n, void (*op)(const char *), const char *arg)
{
	static const struct mail_store_io_hooks hooks = { crash_step, crash_write, crash_fsync };
	static const struct maildir_io_hooks md_hooks = { crash_md_write, crash_md_fsync };
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		crash_at = n;
		crash_steps = 0;
		crash_tear = false;
		log_set_level(LOG_LVL_ERROR);
		mail_store_set_io_hooks(&hooks);
		maildir_set_io_hooks(&md_hooks);
		op(arg);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return true;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- small file helpers ---- */

static const char *copy_src, *copy_dst;

static int copy_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char *to = xasprintf("%s%s", copy_dst, path + strlen(copy_src));
	(void)ftw;
	if (flag == FTW_D) {
		mkdir(to, 0700);
	} else if (flag == FTW_F) {
		int in = open(path, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		char buf[65536];
		ssize_t n;
		while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
			(void)!write(out, buf, (size_t)n);
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
		(void)st;
	}
	free(to);
	return 0;
}

static void copy_tree(const char *from, const char *to)
{
	copy_src = from;
	copy_dst = to;
	nftw(from, copy_cb, 16, FTW_PHYS);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A fresh index in dir with n records named m<i> (no files needed at the
 * index level). */
static struct mail_index *idx_make(const char *dir, uint32_t n)
{
	struct mail_index *idx = NULL;
	enum mail_index_state state;

	if (mail_index_open(dir, &idx, &state, NULL) < 0)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		struct mail_index_record rec = { .psize = 100 + i, .idate = 1000 + i };
		char name[32];
		uint32_t pos;
		snprintf(name, sizeof(name), "m%u:2,", i);
		if (mail_index_append(idx, &rec, name, &pos, NULL) < 0)
			break;
	}
	if (mail_index_commit(idx, NULL) < 0)
		mail_index_close(&idx);
	return idx;
}

/* Records ascending, names well-formed: what every open must give. */
static bool idx_sane(const struct mail_index *idx)
{
	for (uint32_t i = 0; i < idx->count; i++) {
		const char *name = mail_index_name(idx, i);
		if (idx->recs[i].uid == 0 || idx->recs[i].uid >= idx->uidnext ||
		    (i > 0 && idx->recs[i].uid <= idx->recs[i - 1].uid) || name[0] == '\0' ||
		    strchr(name, '/') != NULL || idx->recs[i].modseq > idx->highestmodseq)
			return false;
	}
	return idx->nkeywords <= MAIL_INDEX_MAX_KEYWORDS && idx->uidvalidity != 0;
}

/* ---- crash: index level ---- */

/* Three changes, with a snapshot rewrite between the second and third. */
static void op_index_changes(const char *dir)
{
	struct mail_index *idx;
	enum mail_index_state state;

	if (mail_index_open(dir, &idx, &state, NULL) < 0)
		_exit(2);
	mail_index_update(idx, 0, MAIL_SEEN, 0, "m0:2,S", NULL);
	if (mail_index_commit(idx, NULL) < 0)
		_exit(3);
	mail_index_update(idx, 1, MAIL_SEEN, 0, "m1:2,S", NULL);
	if (mail_index_rewrite(idx, NULL) < 0)
		_exit(3);
	mail_index_update(idx, 2, MAIL_SEEN, 0, "m2:2,S", NULL);
	if (mail_index_keyword_add(idx, "Done") < 0)
		_exit(3);
	if (mail_index_commit(idx, NULL) < 0)
		_exit(3);
	mail_index_close(&idx);
}

TEST(store_index_crash_every_step)
{
	const char *dir = test_tmpdir();
	char *tmpl = xasprintf("%s/template", dir), *work = xasprintf("%s/work", dir);
	struct mail_index *idx;
	enum mail_index_state state;
	uint32_t uidv;
	int n, prefix_seen[4] = { 0 };

	mkdir(tmpl, 0700);
	idx = idx_make(tmpl, 5);
	REQUIRE(idx != NULL);
	REQUIRE(mail_index_rewrite(idx, NULL) == 0);	/* so .bak and .log.1 exist */
	uidv = idx->uidvalidity;
	mail_index_close(&idx);

	for (n = 1; n < 200; n++) {
		bool done;
		int applied = 0;

		rm_tree(work);
		copy_tree(tmpl, work);
		done = crash_run(n, op_index_changes, work);
		REQUIRE(mail_index_open(work, &idx, &state, NULL) == 0);
		/* a crash never costs the index */
		CHECK_INTEQ(state, MAIL_INDEX_EXACT);
		CHECK_INTEQ(idx->uidvalidity, uidv);
		CHECK_INTEQ(idx->count, 5);
		CHECK(idx_sane(idx));
		/* the changes that survive are a prefix of those made */
		for (int i = 0; i < 3 && i < (int)idx->count; i++)
			if (idx->recs[i].flags & MAIL_SEEN)
				applied = i + 1;
		for (int i = 0; i < applied; i++)
			CHECK(idx->recs[i].flags & MAIL_SEEN);
		CHECK(applied < 3 || idx->nkeywords == 1);
		CHECK(applied == 3 || idx->nkeywords == 0);
		if (applied >= 1)
			CHECK_STREQ(mail_index_name(idx, 0), "m0:2,S");
		prefix_seen[applied] = 1;
		mail_index_close(&idx);
		if (done)
			break;
	}
	CHECK(n < 200);
	printf("store_index_crash_every_step: %d crash points\n", n);
	/* every intermediate state was reached by some crash */
	CHECK(prefix_seen[0] && prefix_seen[1] && prefix_seen[2] && prefix_seen[3]);
	rm_tree(work);
	free(tmpl);
	free(work);
}

/* ---- crash: mailbox level (files and index together) ---- */

static void op_mailbox_session(const char *root)
{
	struct mail_user_settings set = { .hostname = "crash.example" };
	struct mail_user *u;
	struct mailbox *box;
	const char *kw[] = { "K" };
	struct mailbox_append msg = { .data = "Subject: new\n\nfour\n", .len = 19, .fd = -1 };
	uint32_t uid;

	if (mail_user_open(root, &set, &u, NULL) < 0 || mailbox_open(u, "INBOX", 0, &box, NULL) < 0)
		_exit(2);
	for (uint32_t seq = 1; seq <= 3; seq++)
		if (mailbox_set_flags(box, seq, MAILBOX_FLAGS_ADD, MAIL_SEEN, kw, 1, 0, NULL) < 0)
			_exit(3);
	if (mailbox_commit(box, NULL) < 0 || mailbox_expunge(box, 2, NULL) < 0 ||
	    mailbox_commit(box, NULL) < 0 || mailbox_append(box, &msg, &uid, NULL) < 0 ||
	    mailbox_commit(box, NULL) < 0)
		_exit(3);
	mailbox_close(&box);
	mail_user_close(&u);
}

TEST(store_mailbox_crash_every_step)
{
	const char *dir = test_tmpdir();
	char *tmpl = xasprintf("%s/template", dir), *work = xasprintf("%s/work", dir);
	struct mail_user_settings set = { .hostname = "crash.example" };
	struct mail_user *u;
	struct mailbox *box;
	uint32_t uidv;
	int n, runs = 0, with_new = 0, with_kw = 0;

	REQUIRE(mail_user_open(tmpl, &set, &u, NULL) == 0);
	REQUIRE(mailbox_open(u, "INBOX", 0, &box, NULL) == 0);
	for (int i = 0; i < 3; i++) {
		char text[64];
		struct mailbox_append msg = { .data = text, .fd = -1 };
		uint32_t uid;
		msg.len = (size_t)snprintf(text, sizeof(text), "Subject: %d\n\nbody %d\n", i + 1, i + 1);
		REQUIRE(mailbox_append(box, &msg, &uid, NULL) == 0);
	}
	REQUIRE(mailbox_commit(box, NULL) == 0);
	uidv = mailbox_uidvalidity(box);
	mailbox_close(&box);
	mail_user_close(&u);

	for (n = 1; n < 400; n++) {
		bool done, kw_any = false, kw_all = true;
		char *cur, *newdir;
		size_t files;

		rm_tree(work);
		copy_tree(tmpl, work);
		done = crash_run(n, op_mailbox_session, work);
		runs++;
		REQUIRE(mail_user_open(work, &set, &u, NULL) == 0);
		REQUIRE(mailbox_open(u, "INBOX", 0, &box, NULL) == 0);
		CHECK_INTEQ(mailbox_uidvalidity(box), uidv);
		/* UIDs 1 and 3 never change; 2 is there or expunged; the new
		   message is absent or has UID 4 */
		CHECK(mailbox_count(box) >= 2 && mailbox_count(box) <= 4);
		CHECK_INTEQ(mailbox_uid(box, 1), 1);
		for (uint32_t seq = 1; seq <= mailbox_count(box); seq++) {
			const struct mail_index_record *r = mailbox_record(box, seq);
			uint32_t uid = mailbox_uid(box, seq);
			int fd = -1;
			uint64_t size;
			REQUIRE(r != NULL);
			CHECK(uid <= 4);
			CHECK(seq == 1 || uid > mailbox_uid(box, seq - 1));
			CHECK_INTEQ(mailbox_open_message(box, seq, &fd, &size, NULL), 0);
			if (fd >= 0)
				close(fd);
			if (uid == 4)
				with_new++;
			if (uid <= 3) {
				kw_any = kw_any || r->keywords != 0;
				kw_all = kw_all && r->keywords != 0;
			}
		}
		CHECK(mailbox_count(box) < 3 || mailbox_uid(box, mailbox_count(box) - 1) >= 2);
		/* the keyword came in one commit: on all old messages or none */
		CHECK(kw_any == kw_all);
		with_kw += kw_all;
		cur = xasprintf("%s/cur", work);
		newdir = xasprintf("%s/new", work);
		files = count_files(cur) + count_files(newdir);
		CHECK_INTEQ(files, mailbox_count(box));
		free(cur);
		free(newdir);
		mailbox_close(&box);
		mail_user_close(&u);
		if (done)
			break;
	}
	CHECK(n < 400);
	CHECK(with_new > 0 && with_kw > 0);
	printf("store_mailbox_crash_every_step: %d crash points\n", runs);
	rm_tree(work);
	free(tmpl);
	free(work);
}

/* ---- corruption ---- */

static void flip(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	if (fd < 0)
		return;
	if (pread(fd, &c, 1, off) == 1) {
		c ^= 0x41;
		(void)!pwrite(fd, &c, 1, off);
	}
	close(fd);
}

TEST(store_index_corrupt_header_bytes)
{
	const char *dir = test_tmpdir();
	char *tmpl = xasprintf("%s/template", dir), *work = xasprintf("%s/work", dir);
	char *ipath = xasprintf("%s/%s", work, MAIL_INDEX_FILE);
	struct mail_index *idx;
	enum mail_index_state state;
	uint32_t uidv;

	mkdir(tmpl, 0700);
	idx = idx_make(tmpl, 4);
	REQUIRE(idx != NULL);
	REQUIRE(mail_index_rewrite(idx, NULL) == 0);
	mail_index_update(idx, 1, MAIL_FLAGGED, 0, NULL, NULL);
	REQUIRE(mail_index_commit(idx, NULL) == 0);
	uidv = idx->uidvalidity;
	mail_index_close(&idx);
	/* every byte of the header and the first records, one at a time */
	for (off_t off = 0; off < 128 + 64 * 2; off += 3) {
		rm_tree(work);
		copy_tree(tmpl, work);
		flip(ipath, off);
		REQUIRE(mail_index_open(work, &idx, &state, NULL) == 0);
		CHECK(idx_sane(idx));
		/* .bak + .log.1 + log: nothing lost */
		CHECK_INTEQ(state, MAIL_INDEX_EXACT);
		CHECK_INTEQ(idx->uidvalidity, uidv);
		CHECK_INTEQ(idx->count, 4);
		CHECK(idx->count < 2 || (idx->recs[1].flags & MAIL_FLAGGED));
		mail_index_close(&idx);
	}
	/* truncations */
	for (off_t len = 0; len < 400; len += 37) {
		rm_tree(work);
		copy_tree(tmpl, work);
		CHECK(truncate(ipath, len) == 0);
		REQUIRE(mail_index_open(work, &idx, &state, NULL) == 0);
		CHECK(idx_sane(idx));
		CHECK_INTEQ(idx->uidvalidity, uidv);
		CHECK_INTEQ(idx->count, 4);
		mail_index_close(&idx);
	}
	rm_tree(work);
	free(ipath);
	free(tmpl);
	free(work);
}

TEST(store_index_torn_log_tail)
{
	const char *dir = test_tmpdir();
	char *lpath = xasprintf("%s/%s", dir, MAIL_INDEX_LOG_FILE);
	struct mail_index *idx = idx_make(dir, 3);
	enum mail_index_state state;
	struct stat st;
	int fd;

	REQUIRE(idx != NULL);
	mail_index_close(&idx);
	/* half a record after the last commit */
	fd = open(lpath, O_WRONLY | O_APPEND);
	REQUIRE(fd >= 0);
	CHECK(write(fd, "\x02\0\0\0\x30\0\0\0garbage", 15) == 15);
	close(fd);
	REQUIRE(mail_index_open(dir, &idx, &state, NULL) == 0);
	CHECK_INTEQ(state, MAIL_INDEX_EXACT);
	CHECK_INTEQ(idx->count, 3);
	/* the next commit goes where the garbage was */
	mail_index_update(idx, 2, MAIL_DELETED, 0, NULL, NULL);
	REQUIRE(mail_index_commit(idx, NULL) == 0);
	REQUIRE(stat(lpath, &st) == 0);
	CHECK_INTEQ((uint64_t)st.st_size, idx->log_size);
	mail_index_close(&idx);
	REQUIRE(mail_index_open(dir, &idx, &state, NULL) == 0);
	CHECK_INTEQ(state, MAIL_INDEX_EXACT);
	CHECK(idx->count == 3 && (idx->recs[2].flags & MAIL_DELETED));
	mail_index_close(&idx);
	/* an uncommitted transaction (no COMMIT record) is not applied */
	REQUIRE(mail_index_open(dir, &idx, &state, NULL) == 0);
	mail_index_update(idx, 0, MAIL_SEEN, 0, NULL, NULL);
	REQUIRE(mail_index_commit(idx, NULL) == 0);
	mail_index_close(&idx);
	REQUIRE(stat(lpath, &st) == 0);
	CHECK(truncate(lpath, st.st_size - 16) == 0);	/* cut the COMMIT off */
	REQUIRE(mail_index_open(dir, &idx, &state, NULL) == 0);
	CHECK_INTEQ(state, MAIL_INDEX_EXACT);
	CHECK_INTEQ(idx->recs[0].flags & MAIL_SEEN, 0);
	mail_index_close(&idx);
	free(lpath);
}

/* After a lost log, UIDNEXT is past every UID the lost log can have held,
 * even when it handed out more than a reserve's worth (the snapshot it
 * forced in between is what bounds it). */
TEST(store_index_uid_reserve)
{
	const char *dir = test_tmpdir();
	char *lpath = xasprintf("%s/%s", dir, MAIL_INDEX_LOG_FILE);
	struct mail_index *idx = idx_make(dir, 0);
	enum mail_index_state state;
	uint32_t last;

	REQUIRE(idx != NULL);
	for (uint32_t i = 0; i < MAIL_INDEX_UID_RESERVE + 100; i++) {
		struct mail_index_record rec = { .psize = 1 };
		char name[32];
		uint32_t pos;
		snprintf(name, sizeof(name), "n%u", i);
		REQUIRE(mail_index_append(idx, &rec, name, &pos, NULL) == 0);
	}
	REQUIRE(mail_index_commit(idx, NULL) == 0);
	last = idx->recs[idx->count - 1].uid;
	mail_index_close(&idx);
	CHECK(unlink(lpath) == 0);
	REQUIRE(mail_index_open(dir, &idx, &state, NULL) == 0);
	CHECK_INTEQ(state, MAIL_INDEX_PARTIAL);
	CHECK(idx->uidnext > last);
	/* the snapshot forced at the reserve kept most of the UIDs */
	CHECK(idx->count >= MAIL_INDEX_UID_RESERVE - 2);
	CHECK(idx_sane(idx));
	mail_index_close(&idx);
	free(lpath);
}

TEST(store_index_expunge_history)
{
	const char *dir = test_tmpdir();
	struct mail_index *idx = idx_make(dir, 10);
	enum mail_index_state state;
	uint64_t ms;
	uint32_t *uids;
	size_t n;

	REQUIRE(idx != NULL);
	ms = idx->highestmodseq;
	REQUIRE(mail_index_expunge(idx, 7, NULL) == 0);
	REQUIRE(mail_index_expunge(idx, 2, NULL) == 0);
	mail_index_compact(idx);
	REQUIRE(mail_index_commit(idx, NULL) == 0);
	CHECK(mail_index_expunged_since(idx, ms, &uids, &n));
	CHECK(n == 2 && uids[0] == 3 && uids[1] == 8);
	free(uids);
	CHECK(mail_index_expunged_since(idx, idx->highestmodseq, &uids, &n));
	CHECK(n == 0 && uids == NULL);
	REQUIRE(mail_index_rewrite(idx, NULL) == 0);
	mail_index_close(&idx);
	REQUIRE(mail_index_open(dir, &idx, &state, NULL) == 0);
	CHECK_INTEQ(idx->count, 8);
	CHECK(mail_index_expunged_since(idx, ms, &uids, &n));
	CHECK(n == 2 && uids[0] == 3 && uids[1] == 8);
	free(uids);
	mail_index_close(&idx);
}

TEST(store_index_totals)
{
	const char *dir = test_tmpdir();
	struct mail_index *idx = idx_make(dir, 4);
	uint64_t bytes = 0, msgs = 0;

	REQUIRE(idx != NULL);
	REQUIRE(mail_index_rewrite(idx, NULL) == 0);
	REQUIRE(mail_index_expunge(idx, 0, NULL) == 0);	/* psize 100 */
	REQUIRE(mail_index_commit(idx, NULL) == 0);
	mail_index_close(&idx);
	CHECK_INTEQ(mail_index_read_totals(dir, &bytes, &msgs), 1);
	CHECK_INTEQ(msgs, 3);
	CHECK_INTEQ(bytes, 101 + 102 + 103);
}

/* Random bytes as every index file: open never fails or crashes, and what
 * it gives is sane. */
TEST(store_index_garbage)
{
	const char *dir = test_tmpdir();
	static const char *const files[] = { MAIL_INDEX_FILE, MAIL_INDEX_LOG_FILE,
					     MAIL_INDEX_BAK_FILE, MAIL_INDEX_LOG1_FILE,
					     MAIL_INDEX_CACHE_FILE };
	uint64_t seed = 0x9e3779b97f4a7c15u;
	char *tmpl = xasprintf("%s/t", dir), *work = xasprintf("%s/w", dir);
	struct mail_index *idx;
	enum mail_index_state state;

	log_set_level(LOG_LVL_ERROR);
	mkdir(tmpl, 0700);
	idx = idx_make(tmpl, 3);
	REQUIRE(idx != NULL);
	REQUIRE(mail_index_cache_set(idx, 1, 0, "blob", 4, NULL) == 0);
	REQUIRE(mail_index_rewrite(idx, NULL) == 0);
	mail_index_close(&idx);
	for (int iter = 0; iter < 300; iter++) {
		rm_tree(work);
		copy_tree(tmpl, work);
		for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
			char *p = xasprintf("%s/%s", work, files[f]);
			int fd = open(p, O_RDWR);
			struct stat st;
			seed = seed * 6364136223846793005u + 1442695040888963407u;
			if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 && (seed >> 60) < 6) {
				/* overwrite a few random bytes, or cut the file */
				for (int k = 0; k < 1 + (int)((seed >> 40) & 7); k++) {
					unsigned char c = (unsigned char)(seed >> (k * 8));
					seed = seed * 6364136223846793005u + 1442695040888963407u;
					(void)!pwrite(fd, &c, 1, (off_t)((seed >> 20) % (uint64_t)st.st_size));
				}
				if ((seed & 7) == 0)
					(void)!ftruncate(fd, (off_t)((seed >> 8) % (uint64_t)st.st_size));
			}
			if (fd >= 0)
				close(fd);
			free(p);
		}
		REQUIRE(mail_index_open(work, &idx, &state, NULL) == 0);
		CHECK(idx_sane(idx));
		for (uint32_t i = 0; i < idx->count; i++) {
			buf_t out;
			buf_init(&out, 0);
			CHECK(mail_index_cache_get(idx, i, 0, &out, NULL) >= 0);
			buf_free(&out);
		}
		CHECK_INTEQ(mail_index_rewrite(idx, NULL), 0);
		mail_index_close(&idx);
		REQUIRE(mail_index_open(work, &idx, &state, NULL) == 0);
		CHECK_INTEQ(state, MAIL_INDEX_EXACT);
		mail_index_close(&idx);
	}
	log_set_level(LOG_LVL_INFO);
	rm_tree(work);
	free(tmpl);
	free(work);
}
