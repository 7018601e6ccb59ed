/*
 * Maildir delivery, in the order qmail's maildir(5) and the reliability
 * anchors (MD-1, MD-2) ask for: open tmp/X exclusively, write, fsync, close,
 * link to new/X, fsync new/, unlink tmp/X. The link makes the complete file
 * appear at once; the fsyncs make it survive a crash before the queue forgets
 * the message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "maildir.h"
#include "xalloc.h"

#define MAILDIR_IOBUF_SIZE (64 * 1024)
#define MAILDIR_NAME_ATTEMPTS 3

/* The output side of one delivery: CRLF -> LF conversion into a buffer. */
struct maildir_out {
	int fd;
	char *buf;
	size_t used;
	uint64_t size;		/* bytes stored so far */
	bool pending_cr;	/* a CR ended the last chunk: LF may follow */
	int err;		/* errno of the first write failure */
};

static struct maildir_io_hooks maildir_hooks;

void maildir_set_io_hooks(const struct maildir_io_hooks *hooks)
{
	maildir_hooks = hooks ? *hooks : (struct maildir_io_hooks){ NULL, NULL };
}

static ssize_t maildir_sys_write(int fd, const void *p, size_t n)
{
	return maildir_hooks.write ? maildir_hooks.write(fd, p, n) : write(fd, p, n);
}

static int maildir_sys_fsync(int fd)
{
	return maildir_hooks.fsync ? maildir_hooks.fsync(fd) : fsync(fd);
}

static int __attribute__((format(printf, 2, 3)))
maildir_fail(char **error_r, const char *fmt, ...)
{
	va_list ap;
	buf_t b;

	if (error_r == NULL)
		return -1;
	buf_init(&b, 0);
	va_start(ap, fmt);
	if (buf_vprintf(&b, fmt, ap) < 0 || b.data == NULL)
		buf_append_cstr(&b, "maildir error");
	va_end(ap);
	*error_r = b.data;
	return -1;
}

static int maildir_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret, saved;

	if (fd < 0)
		return -1;
	ret = maildir_sys_fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

/* ---- directories ---- */

/* mkdir one directory; when it is new, fsync its parent so the new entry is
 * durable. 0 if it exists afterwards, -1 with errno. */
static int maildir_mkdir(char *path)
{
	char *slash;
	int ret;

	if (mkdir(path, 0700) < 0)
		return errno == EEXIST ? 0 : -1;
	slash = strrchr(path, '/');
	if (slash == NULL)
		return maildir_fsync_dir(".");
	if (slash == path)
		return maildir_fsync_dir("/");
	*slash = '\0';
	ret = maildir_fsync_dir(path);
	*slash = '/';
	return ret;
}

/* mkdir -p: every prefix ending before a '/', then the whole path. */
static int maildir_mkdir_p(const char *path, char **error_r)
{
	char *p = xstrdup(path);
	int ret = 0;

	for (char *s = strchr(p + 1, '/'); s != NULL && ret == 0; s = strchr(s + 1, '/')) {
		if (s[-1] == '/')
			continue;	/* "a//b" */
		*s = '\0';
		ret = maildir_mkdir(p);
		*s = '/';
	}
	if (ret == 0 && p[0] != '\0')
		ret = maildir_mkdir(p);
	if (ret < 0)
		maildir_fail(error_r, "maildir: mkdir %s: %s", path, strerror(errno));
	free(p);
	return ret;
}

int maildir_ensure(const char *path, char **error_r)
{
	static const char *const subdirs[] = { "cur", "new", "tmp" };

	if (path == NULL || path[0] == '\0')
		return maildir_fail(error_r, "maildir: empty path");
	if (maildir_mkdir_p(path, error_r) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char *sub = xasprintf("%s/%s", path, subdirs[i]);
		int ret = maildir_mkdir(sub);
		if (ret < 0)
			maildir_fail(error_r, "maildir: mkdir %s: %s", sub, strerror(errno));
		free(sub);
		if (ret < 0)
			return -1;
	}
	return 0;
}

/* ---- names ---- */

/* maildir(5): '/' and ':' cannot appear in the host part; ',' is escaped
 * too so the ",S=" field that follows stays unambiguous. */
static void maildir_host_escape(buf_t *b, const char *host)
{
	for (const char *p = host; *p != '\0'; p++) {
		if (*p == '/' || *p == ':' || *p == ',')
			buf_printf(b, "\\%03o", (unsigned)(unsigned char)*p);
		else
			buf_append_byte(b, *p);
	}
}

/* "<sec>.M<usec>P<pid>Q<counter>.<host>": unique per host by time, process
 * and a per-process counter, even for many deliveries in one microsecond. */
static char *maildir_unique_base(const char *hostname, const char *key)
{
	static uint64_t counter;
	char host[256];
	struct timespec ts;
	buf_t b;

	if (hostname == NULL || hostname[0] == '\0') {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		hostname = host;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	buf_init(&b, 0);
	buf_printf(&b, "%lld.M%ldP%ldQ%" PRIu64 ".", (long long)ts.tv_sec,
		   (long)(ts.tv_nsec / 1000), (long)getpid(), ++counter);
	if (key != NULL) {
		/* "Q<n>K<key>.": the delivery key sits before the host part, so
		 * maildir_has_key finds it whatever flags a reader appends */
		b.used--;
		buf_printf(&b, "K%s.", key);
	}
	maildir_host_escape(&b, hostname);
	return b.data;
}

/* ---- writing ---- */

static void maildir_out_flush(struct maildir_out *o)
{
	const char *p = o->buf;
	size_t len = o->used;

	while (len > 0 && o->err == 0) {
		ssize_t n = maildir_sys_write(o->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			o->err = n < 0 ? errno : ENOSPC;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	o->used = 0;
}

static void maildir_out_emit(struct maildir_out *o, const char *p, size_t len)
{
	while (len > 0 && o->err == 0) {
		size_t n = MAILDIR_IOBUF_SIZE - o->used;
		if (n > len)
			n = len;
		memcpy(o->buf + o->used, p, n);
		o->used += n;
		o->size += n;
		p += n;
		len -= n;
		if (o->used == MAILDIR_IOBUF_SIZE)
			maildir_out_flush(o);
	}
}

/* Maildir files use LF line ends: CRLF -> LF, anything else byte-exact. */
static void maildir_out_put(struct maildir_out *o, const char *p, size_t len)
{
	const char *end = p + len;

	if (len == 0)
		return;
	if (o->pending_cr) {
		o->pending_cr = false;
		if (*p != '\n')
			maildir_out_emit(o, "\r", 1);
	}
	while (p < end) {
		const char *cr = memchr(p, '\r', (size_t)(end - p));
		if (cr == NULL) {
			maildir_out_emit(o, p, (size_t)(end - p));
			return;
		}
		maildir_out_emit(o, p, (size_t)(cr - p));
		if (cr + 1 == end) {
			o->pending_cr = true;
			return;
		}
		/* CRLF: drop the CR, the LF is copied with the next run */
		if (cr[1] != '\n')
			maildir_out_emit(o, "\r", 1);
		p = cr + 1;
	}
}

static void maildir_out_finish(struct maildir_out *o)
{
	if (o->pending_cr)
		maildir_out_emit(o, "\r", 1);
	o->pending_cr = false;
	maildir_out_flush(o);
}

/* Copies len bytes of fd from offset through the converter. */
static int maildir_copy(struct maildir_out *o, int fd, int64_t offset, int64_t len,
			char **error_r)
{
	char *chunk = xmalloc(MAILDIR_IOBUF_SIZE);
	int ret = 0;

	while (len > 0 && o->err == 0) {
		size_t want = len < MAILDIR_IOBUF_SIZE ? (size_t)len : MAILDIR_IOBUF_SIZE;
		ssize_t n = pread(fd, chunk, want, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = maildir_fail(error_r, "maildir: read message: %s",
					   n < 0 ? strerror(errno) : "file shorter than expected");
			break;
		}
		maildir_out_put(o, chunk, (size_t)n);
		offset += n;
		len -= n;
	}
	free(chunk);
	return ret;
}

/* Opens tmp/<base> exclusively, creating the Maildir if tmp/ is missing and
 * drawing a new name on the (unexpected) EEXIST. */
static int maildir_open_tmp(const char *path, const char *hostname, const char *key, char **base_r,
			    char **tmp_r, char **error_r)
{
	bool ensured = false;

	for (int attempt = 0; attempt < MAILDIR_NAME_ATTEMPTS + 1; attempt++) {
		char *base = maildir_unique_base(hostname, key);
		char *tmp = xasprintf("%s/tmp/%s", path, base);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		int saved = errno;

		if (fd >= 0) {
			*base_r = base;
			*tmp_r = tmp;
			return fd;
		}
		free(base);
		if (saved == ENOENT && !ensured) {
			ensured = true;
			free(tmp);
			if (maildir_ensure(path, error_r) < 0)
				return -1;
			continue;
		}
		if (saved != EEXIST) {
			maildir_fail(error_r, "maildir: create %s: %s", tmp, strerror(saved));
			free(tmp);
			return -1;
		}
		free(tmp);
	}
	return maildir_fail(error_r, "maildir: create in %s/tmp: no unused name", path);
}

/* Writes prefix + content into fd, then fsync and close (fd is consumed).
 * *size_r: bytes stored. */
static int maildir_write_file(int fd, const char *tmp, const char *prefix, size_t prefix_len,
			      int src_fd, int64_t offset, int64_t len, uint64_t *size_r,
			      char **error_r)
{
	struct maildir_out o = { .fd = fd, .buf = xmalloc(MAILDIR_IOBUF_SIZE) };
	int ret = 0;

	maildir_out_put(&o, prefix, prefix_len);
	if (maildir_copy(&o, src_fd, offset, len, error_r) < 0)
		ret = -1;
	if (ret == 0)
		maildir_out_finish(&o);
	if (ret == 0 && o.err != 0)
		ret = maildir_fail(error_r, "maildir: write %s: %s", tmp, strerror(o.err));
	if (ret == 0 && maildir_sys_fsync(fd) < 0)
		ret = maildir_fail(error_r, "maildir: fsync %s: %s", tmp, strerror(errno));
	if (close(fd) < 0 && ret == 0)
		ret = maildir_fail(error_r, "maildir: close %s: %s", tmp, strerror(errno));
	free(o.buf);
	*size_r = o.size;
	return ret;
}

/* link() never replaces an existing file. File systems without hard links
 * get rename(); the name is unique by construction, so it replaces nothing. */
static int maildir_publish(const char *tmp, const char *dst, bool *linked_r)
{
	*linked_r = false;
	if (link(tmp, dst) == 0) {
		*linked_r = true;
		return 0;
	}
	if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS && errno != EMLINK)
		return -1;
	return rename(tmp, dst);
}

/* Moves tmp into new/ durably; on failure nothing is left in new/. */
static int maildir_commit(const char *path, const char *tmp, const char *dst, char **error_r)
{
	char *newdir = xasprintf("%s/new", path);
	bool linked;
	int ret = 0;

	ret = maildir_publish(tmp, dst, &linked);
	/* new/ removed under us: recreate it once */
	if (ret < 0 && errno == ENOENT && maildir_ensure(path, NULL) == 0)
		ret = maildir_publish(tmp, dst, &linked);
	if (ret < 0) {
		ret = maildir_fail(error_r, "maildir: link %s: %s", dst, strerror(errno));
	} else if (maildir_fsync_dir(newdir) < 0) {
		ret = maildir_fail(error_r, "maildir: fsync %s: %s", newdir, strerror(errno));
		/* not durable, so not delivered: the queue will retry */
		(void)unlink(dst);
	} else if (linked && unlink(tmp) < 0) {
		/* delivered all the same; a stale tmp/ file is only litter */
		log_warn("maildir: cannot remove path=%s error=%s", tmp, strerror(errno));
	}
	free(newdir);
	return ret;
}

int maildir_has_key(const char *path, const char *key)
{
	char needle[160];
	int found = 0;
	snprintf(needle, sizeof(needle), "K%s.", key);
	for (int i = 0; i < 2 && !found; i++) {
		char *dir = xasprintf("%s/%s", path, i == 0 ? "new" : "cur");
		DIR *d = opendir(dir);
		free(dir);
		if (d == NULL) {
			if (errno == ENOENT)
				continue;
			return -1;
		}
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			if (strstr(e->d_name, needle) != NULL) {
				found = 1;
				break;
			}
		closedir(d);
	}
	return found;
}

int maildir_deliver(const char *path, const char *hostname, const char *key, const char *prefix,
		    size_t prefix_len, int fd, int64_t offset, int64_t len, char **name_r,
		    bool *temporary_r, char **error_r)
{
	char *base = NULL, *tmp = NULL, *name = NULL, *dst = NULL;
	uint64_t size = 0;
	int tmpfd, ret;

	*name_r = NULL;
	*temporary_r = true;
	if (offset < 0 || len < 0 || len > INT64_MAX - offset ||
	    (prefix == NULL && prefix_len > 0)) {
		*temporary_r = false;
		return maildir_fail(error_r, "maildir: invalid offset or length");
	}
	tmpfd = maildir_open_tmp(path, hostname, key, &base, &tmp, error_r);
	if (tmpfd < 0)
		return -1;
	ret = maildir_write_file(tmpfd, tmp, prefix, prefix_len, fd, offset, len, &size, error_r);
	if (ret == 0) {
		name = xasprintf("%s,S=%" PRIu64, base, size);
		dst = xasprintf("%s/new/%s", path, name);
		ret = maildir_commit(path, tmp, dst, error_r);
	}
	if (ret < 0) {
		(void)unlink(tmp);
		free(name);
		name = NULL;
	}
	*name_r = name;
	free(base);
	free(tmp);
	free(dst);
	return ret;
}
