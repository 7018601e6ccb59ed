/* Unit tests for Maildir delivery (src/lib-store/maildir.c): directory
 * creation, CRLF -> LF, names, uniqueness across deliveries and processes,
 * and clean failure (nothing in tmp/ or new/) under injected and real faults. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "maildir.h"
#include "test.h"
#include "xalloc.h"

/* ---- helpers ---- */

static size_t md_count(const char *maildir, const char *sub)
{
	char *path = xasprintf("%s/%s", maildir, sub);
	DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;

	free(path);
	if (d == NULL)
		return (size_t)-1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* A temporary "spool" file holding data; returns the fd (read-only). */
static int md_source(const char *dir, const void *data, size_t len)
{
	char *path = xasprintf("%s/source", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		exit(2);
	}
	free(path);
	return fd;
}

static char *md_read(const char *maildir, const char *name, size_t *len_r)
{
	char *path = xasprintf("%s/new/%s", maildir, name);
	int fd = open(path, O_RDONLY);
	struct stat st;
	char *data = NULL;

	*len_r = 0;
	if (fd >= 0 && fstat(fd, &st) == 0) {
		data = xmalloc((size_t)st.st_size + 1);
		*len_r = (size_t)read(fd, data, (size_t)st.st_size);
		data[*len_r] = '\0';
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return data;
}

/* Delivers prefix + data (whole source) and expects the stored bytes. */
static void md_expect(const char *dir, const char *prefix, const char *data, size_t len,
		      const char *expect, size_t expect_len)
{
	char *box = xasprintf("%s/box", dir);
	char *name = NULL, *err = NULL, *got;
	bool temp = false;
	size_t got_len;
	int fd = md_source(dir, data, len);

	if (maildir_deliver(box, "host", NULL, prefix, strlen(prefix), fd, 0, (int64_t)len, &name,
			    &temp, &err) < 0) {
		fprintf(stderr, "  maildir_deliver: %s\n", err);
		CHECK(false);
	} else {
		got = md_read(box, name, &got_len);
		CHECK(got != NULL && got_len == expect_len && memcmp(got, expect, got_len) == 0);
		free(got);
	}
	CHECK_INTEQ(md_count(box, "tmp"), 0);
	close(fd);
	free(name);
	free(err);
	free(box);
}

/* ---- tests ---- */

TEST(maildir_ensure_creates_tree)
{
	const char *dir = test_tmpdir();
	char *box = xasprintf("%s/a//b/Maildir/", dir);
	static const char *const subs[] = { "cur", "new", "tmp" };
	struct stat st;

	CHECK_INTEQ(maildir_ensure(box, NULL), 0);
	CHECK_INTEQ(maildir_ensure(box, NULL), 0);	/* idempotent */
	for (size_t i = 0; i < 3; i++) {
		char *p = xasprintf("%s/%s", box, subs[i]);
		CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
		free(p);
	}
	CHECK_INTEQ(maildir_ensure("", NULL), -1);
	free(box);
}

TEST(maildir_deliver_creates_dirs_and_prefix_first)
{
	const char *dir = test_tmpdir();
	char *box = xasprintf("%s/example.org/alice", dir);
	const char prefix[] = "Return-Path: <a@b>\r\nDelivered-To: c@d\r\n";
	const char msg[] = "Subject: hi\r\n\r\nbody\r\n";
	const char want[] = "Return-Path: <a@b>\nDelivered-To: c@d\nSubject: hi\n\nbody\n";
	char *name = NULL, *err = NULL, *got, *expect_suffix;
	bool temp = false;
	size_t len;
	int fd = md_source(dir, msg, sizeof(msg) - 1);

	REQUIRE(maildir_deliver(box, "mx.example.org", NULL, prefix, sizeof(prefix) - 1, fd, 0,
				sizeof(msg) - 1, &name, &temp, &err) == 0);
	CHECK(err == NULL);
	CHECK_INTEQ(md_count(box, "new"), 1);
	CHECK_INTEQ(md_count(box, "tmp"), 0);
	CHECK_INTEQ(md_count(box, "cur"), 0);
	got = md_read(box, name, &len);
	CHECK(got != NULL && len == sizeof(want) - 1 && memcmp(got, want, len) == 0);
	expect_suffix = xasprintf(".mx.example.org,S=%zu", sizeof(want) - 1);
	CHECK(strlen(name) > strlen(expect_suffix) &&
	      strcmp(name + strlen(name) - strlen(expect_suffix), expect_suffix) == 0);
	free(expect_suffix);
	free(got);
	free(name);
	free(box);
	close(fd);
}

TEST(maildir_name_format)
{
	const char *dir = test_tmpdir();
	char *box = xasprintf("%s/box", dir);
	char *name = NULL, *expect;
	bool temp;
	int fd = md_source(dir, "x", 1);
	long long sec;
	long usec, pid;
	unsigned long long q;
	int used = 0;

	REQUIRE(maildir_deliver(box, "a/b:c,d", NULL, "", 0, fd, 0, 1, &name, &temp, NULL) == 0);
	CHECK(sscanf(name, "%lld.M%ldP%ldQ%llu.%n", &sec, &usec, &pid, &q, &used) == 4);
	CHECK(used > 0 && usec >= 0 && usec < 1000000 && pid == (long)getpid());
	expect = xasprintf("a\\057b\\072c\\054d,S=1");
	CHECK_STREQ(name + used, expect);
	CHECK(strchr(name, '/') == NULL && strchr(name, ':') == NULL);
	free(expect);
	free(name);
	/* no host given: the system's name, escaped the same way */
	REQUIRE(maildir_deliver(box, NULL, NULL, "", 0, fd, 0, 1, &name, &temp, NULL) == 0);
	CHECK(strchr(name, '/') == NULL && strchr(name, ':') == NULL);
	free(name);
	free(box);
	close(fd);
}

TEST(maildir_crlf_conversion_exact)
{
	const char *dir = test_tmpdir();
	static const char in[] = "a\r\nb\rc\nd\r\r\n\r\n\n\r\0\r\r\rx\r";
	static const char out[] = "a\nb\rc\nd\r\n\n\n\r\0\r\r\rx\r";

	md_expect(dir, "", in, sizeof(in) - 1, out, sizeof(out) - 1);
	/* a CR at the end of the prefix pairs with an LF starting the content */
	md_expect(dir, "P: 1\r\nQ: 2\r", "\nbody\r\n", 7, "P: 1\nQ: 2\nbody\n", 15);
	/* ...but a bare CR at the end of the prefix stays */
	md_expect(dir, "P\r", "body", 4, "P\rbody", 6);
	md_expect(dir, "", "", 0, "", 0);
}

TEST(maildir_crlf_across_read_chunks)
{
	const char *dir = test_tmpdir();
	const size_t n = 3 * 65536 + 10;
	char *in = xmalloc(n), *out = xmalloc(n);
	size_t o = 0;

	/* CRLF pairs split across every 64 KiB read boundary, and a bare CR on one */
	memset(in, 'z', n);
	in[65535] = '\r';
	in[65536] = '\n';
	in[2 * 65536 - 1] = '\r';
	in[2 * 65536] = 'y';
	in[3 * 65536 - 1] = '\r';
	in[3 * 65536] = '\n';
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
			continue;
		out[o++] = in[i];
	}
	md_expect(dir, "", in, n, out, o);
	free(in);
	free(out);
}

TEST(maildir_offset_and_length)
{
	const char *dir = test_tmpdir();
	char *box = xasprintf("%s/box", dir);
	static const char file[] = "HEADERJUNK\nSubject: x\r\n\r\nbody\r\nTRAILER";
	char *name = NULL, *err = NULL, *got;
	bool temp = false;
	size_t len;
	int fd = md_source(dir, file, sizeof(file) - 1);

	/* the fd position must not matter (pread) */
	REQUIRE(lseek(fd, 3, SEEK_SET) == 3);
	REQUIRE(maildir_deliver(box, "h", NULL, "X: y\r\n", 6, fd, 11, 20, &name, &temp, &err) == 0);
	got = md_read(box, name, &len);
	CHECK(got != NULL && strcmp(got, "X: y\nSubject: x\n\nbody\n") == 0);
	CHECK(lseek(fd, 0, SEEK_CUR) == 3);
	free(got);
	free(name);
	name = NULL;
	/* past the end of the file: a temporary error, nothing left behind */
	CHECK_INTEQ(maildir_deliver(box, "h", NULL, "", 0, fd, 11, 1000, &name, &temp, &err), -1);
	CHECK(temp && err != NULL && name == NULL);
	free(err);
	err = NULL;
	CHECK_INTEQ(md_count(box, "tmp"), 0);
	CHECK_INTEQ(md_count(box, "new"), 1);
	/* nonsense arguments are a bug: not temporary */
	CHECK_INTEQ(maildir_deliver(box, "h", NULL, "", 0, fd, -1, 1, &name, &temp, &err), -1);
	CHECK(!temp);
	free(err);
	CHECK_INTEQ(maildir_deliver(box, "h", NULL, "", 0, fd, 0, -1, &name, &temp, NULL), -1);
	CHECK_INTEQ(maildir_deliver(box, "h", NULL, "", 0, fd, INT64_MAX, 1, &name, &temp, NULL), -1);
	close(fd);
	free(box);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(maildir_names_unique_2000)
{
	const char *dir = test_tmpdir();
	char *box = xasprintf("%s/box", dir);
	char **names = xcalloc(2000, sizeof(*names));
	bool temp;
	int fd = md_source(dir, "m\r\n", 3);

	for (size_t i = 0; i < 2000; i++)
		REQUIRE(maildir_deliver(box, "h", NULL, "", 0, fd, 0, 3, &names[i], &temp, NULL) == 0);
	CHECK_INTEQ(md_count(box, "new"), 2000);
	CHECK_INTEQ(md_count(box, "tmp"), 0);
	qsort(names, 2000, sizeof(*names), name_cmp);
	for (size_t i = 1; i < 2000; i++)
		CHECK(strcmp(names[i - 1], names[i]) != 0);
	for (size_t i = 0; i < 2000; i++)
		free(names[i]);
	free(names);
	free(box);
	close(fd);
}

TEST(maildir_names_unique_two_processes)
{
	const char *dir = test_tmpdir();
	char *box = xasprintf("%s/box", dir);
	int fd = md_source(dir, "m\r\n", 3);
	pid_t pids[2];

	REQUIRE(maildir_ensure(box, NULL) == 0);
	for (int p = 0; p < 2; p++) {
		pids[p] = fork();
		REQUIRE(pids[p] >= 0);
		if (pids[p] == 0) {
			for (int i = 0; i < 1000; i++) {
				char *name = NULL;
				bool temp;
				if (maildir_deliver(box, "h", NULL, "", 0, fd, 0, 3, &name, &temp,
						    NULL) < 0)
					_exit(1);
				free(name);
			}
			_exit(0);
		}
	}
	for (int p = 0; p < 2; p++) {
		int status = 0;
		CHECK(waitpid(pids[p], &status, 0) == pids[p] && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0);
	}
	CHECK_INTEQ(md_count(box, "new"), 2000);
	CHECK_INTEQ(md_count(box, "tmp"), 0);
	free(box);
	close(fd);
}

TEST(maildir_parent_is_a_file)
{
	const char *dir = test_tmpdir();
	char *file = xasprintf("%s/file", dir);
	char *box = xasprintf("%s/file/Maildir", dir);
	char *name = (char *)1, *err = NULL;
	bool temp = false;
	int fd = md_source(dir, "m", 1);

	close(open(file, O_WRONLY | O_CREAT, 0600));
	CHECK_INTEQ(maildir_deliver(box, "h", NULL, "", 0, fd, 0, 1, &name, &temp, &err), -1);
	CHECK(name == NULL && temp && err != NULL);
	free(err);
	err = NULL;
	CHECK_INTEQ(maildir_ensure(box, &err), -1);
	CHECK(err != NULL);
	free(err);
	/* the Maildir path itself a file */
	CHECK_INTEQ(maildir_deliver(file, "h", NULL, "", 0, fd, 0, 1, &name, &temp, NULL), -1);
	CHECK(temp);
	free(file);
	free(box);
	close(fd);
}

/* ---- injected faults ---- */

static int md_hook_errno;
static long md_hook_budget;	/* bytes that may still be written; < 0: no limit */
static int md_hook_fsync_fail;	/* 1: files, 2: directories */

static ssize_t md_hook_write(int fd, const void *p, size_t n)
{
	if (md_hook_budget >= 0 && (long)n > md_hook_budget) {
		if (md_hook_budget == 0) {
			errno = md_hook_errno;
			return -1;
		}
		n = (size_t)md_hook_budget;
	}
	if (md_hook_budget >= 0)
		md_hook_budget -= (long)n;
	return write(fd, p, n);
}

static int md_hook_fsync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && ((md_hook_fsync_fail == 1 && S_ISREG(st.st_mode)) ||
				    (md_hook_fsync_fail == 2 && S_ISDIR(st.st_mode)))) {
		errno = md_hook_errno;
		return -1;
	}
	return fsync(fd);
}

static void md_fault(const char *dir, int err_no, long budget, int fsync_fail, size_t size,
		     const char *expect)
{
	static const struct maildir_io_hooks hooks = { md_hook_write, md_hook_fsync };
	char *box = xasprintf("%s/box", dir);
	char *data = xmalloc(size), *name = NULL, *err = NULL;
	bool temp = false;
	int fd;

	memset(data, 'x', size);
	fd = md_source(dir, data, size);
	REQUIRE(maildir_ensure(box, NULL) == 0);
	md_hook_errno = err_no;
	md_hook_budget = budget;
	md_hook_fsync_fail = fsync_fail;
	maildir_set_io_hooks(&hooks);
	CHECK_INTEQ(maildir_deliver(box, "h", NULL, "P: 1\r\n", 6, fd, 0, (int64_t)size, &name, &temp,
				    &err), -1);
	maildir_set_io_hooks(NULL);
	CHECK(temp && name == NULL);
	CHECK(err != NULL && strstr(err, expect) != NULL);
	if (err != NULL && strstr(err, expect) == NULL)
		fprintf(stderr, "  error was: %s\n", err);
	CHECK_INTEQ(md_count(box, "tmp"), 0);
	CHECK_INTEQ(md_count(box, "new"), 0);
	free(err);
	free(data);
	free(box);
	close(fd);
}

TEST(maildir_faults_leave_nothing)
{
	const char *dir = test_tmpdir();

	md_fault(dir, ENOSPC, 0, 0, 10, "No space left");
	md_fault(dir, ENOSPC, 100000, 0, 500000, "No space left");	/* short write first */
	md_fault(dir, EDQUOT, 70000, 0, 500000, "quota");
	md_fault(dir, EIO, -1, 1, 100, "fsync");
	md_fault(dir, EIO, -1, 2, 100, "fsync");	/* linked already: taken back */
}

/* Real ENOSPC on a 128 KiB tmpfs in a private mount namespace (exit 77 =
 * cannot mount). */
static int md_tmpfs_child(const char *dir)
{
	char *mnt = xasprintf("%s/small", dir);
	char *box = xasprintf("%s/small/box", dir);
	size_t size = 512 * 1024;
	char *data = xmalloc(size), *name = NULL, *err = NULL;
	bool temp = false;
	int fd;

	memset(data, 'x', size);
	fd = md_source(dir, data, size);
	mkdir(mnt, 0700);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=128k") < 0)
		return 77;
	CHECK_INTEQ(maildir_deliver(box, "h", NULL, "", 0, fd, 0, (int64_t)size, &name, &temp, &err),
		    -1);
	CHECK(temp && err != NULL && strstr(err, "No space left") != NULL);
	CHECK_INTEQ(md_count(box, "tmp"), 0);
	CHECK_INTEQ(md_count(box, "new"), 0);
	free(err);
	CHECK_INTEQ(maildir_deliver(box, "h", NULL, "", 0, fd, 0, 1000, &name, &temp, NULL), 0);
	free(name);
	umount(mnt);
	close(fd);
	free(data);
	free(mnt);
	free(box);
	return test_current_failed ? 1 : 0;
}

TEST(maildir_real_enospc_tmpfs)
{
	const char *dir = test_tmpdir();
	int status = 0;
	pid_t pid = fork();

	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(md_tmpfs_child(dir));
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		fprintf(stderr, "  note: maildir_real_enospc_tmpfs: cannot mount tmpfs here; "
			"ENOSPC covered only by the write hook\n");
		return;
	}
	CHECK_INTEQ(WEXITSTATUS(status), 0);
}

TEST(maildir_keyed_delivery_found_after_move)
{
	const char *dir = test_tmpdir();
	char *box = xasprintf("%s/box", dir);
	char *name = NULL;
	bool temp;
	int fd = md_source(dir, "hello\r\n", 7);

	CHECK_INTEQ(maildir_has_key(box, "0123456789abcdefR0"), 0);
	REQUIRE(maildir_deliver(box, "h", "0123456789abcdefR0", "", 0, fd, 0, 7, &name, &temp, NULL) == 0);
	CHECK(strstr(name, "K0123456789abcdefR0.h,S=") != NULL);
	CHECK_INTEQ(maildir_has_key(box, "0123456789abcdefR0"), 1);
	CHECK_INTEQ(maildir_has_key(box, "0123456789abcdefR1"), 0);
	/* a reader moves it to cur/ with flags: still found */
	char *from = xasprintf("%s/new/%s", box, name);
	char *to = xasprintf("%s/cur/%s:2,S", box, name);
	REQUIRE(rename(from, to) == 0);
	CHECK_INTEQ(maildir_has_key(box, "0123456789abcdefR0"), 1);
	free(from);
	free(to);
	free(name);
	free(box);
	close(fd);
}
