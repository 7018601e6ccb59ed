#ifndef YOUJU_MAILDIR_H
#define YOUJU_MAILDIR_H
/*
 * Maildir delivery (qmail's maildir(5)): write tmp/<unique>, fsync, close,
 * link into new/<unique>,S=<size>, fsync new/, unlink tmp/<unique>. A reader
 * of new/ never sees a partial file (reliability anchors MD-1, MD-2).
 *
 * Errors: -1 with a malloc'd *error_r (the caller frees it; error_r may be
 * NULL). The callers are the single-threaded mail/queue roles; the name
 * counter is per process and not thread-safe.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* mkdir -p path, then path/cur, path/new, path/tmp; every directory this
 * creates gets mode 0700 and its parent is fsync'd, so a new mailbox does not
 * vanish in a crash after a delivery into it was reported done. Existing
 * directories are left as they are. */
int maildir_ensure(const char *path, char **error_r);

/*
 * Delivers one message into the Maildir at `path` (created if missing).
 * The stored file is `prefix` (prefix_len bytes of header lines formatted by
 * the caller) followed by `len` bytes of `fd` from `offset`, read with pread
 * (the fd's file position is unused, so it can be shared). The whole stream,
 * prefix included, has every CRLF turned into LF (a CR before an LF that
 * starts the next chunk or the content counts too); a bare CR or bare LF is
 * kept as is.
 *
 * Name: "<sec>.M<usec>P<pid>Q<counter>.<host>,S=<stored size>" in new/; the
 * tmp/ file has the same name without ",S=...". hostname NULL or "" means
 * gethostname(); '/' is written as \057 and ':' as \072.
 *
 * Returns 0 with *name_r (malloc'd file name in new/, no directory part).
 * On failure -1: nothing is left in tmp/ or new/, *error_r says why and
 * *temporary_r is true for every system error (ENOSPC, EDQUOT, EIO, EACCES,
 * a file in the way...: keep the message queued and retry; a full disk never
 * bounces). It is false only for invalid arguments (negative offset or len),
 * a bug no retry can fix.
 */
int maildir_deliver(const char *path, const char *hostname, const char *key, const char *prefix,
		    size_t prefix_len, int fd, int64_t offset, int64_t len, char **name_r,
		    bool *temporary_r, char **error_r);
/* key (NULL for none; [A-Za-z0-9_-] only) names one delivery: it goes into
 * the file name as "K<key>." so that maildir_has_key() can tell, after a
 * crash between delivery and its bookkeeping, that this delivery already
 * happened (exactly-once local delivery on retries). 1 found in new/ or
 * cur/, 0 not found, -1 error. */
int maildir_has_key(const char *path, const char *key);

/* Test-only fault injection: replace the write(2)/fsync(2) used for the
 * message file and directories. NULL members, or hooks == NULL, restore the
 * real calls. Not for production code. */
struct maildir_io_hooks {
	ssize_t (*write)(int fd, const void *data, size_t len);
	int (*fsync)(int fd);
};
void maildir_set_io_hooks(const struct maildir_io_hooks *hooks);

#endif
