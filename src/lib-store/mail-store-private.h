#ifndef YOUJU_MAIL_STORE_PRIVATE_H
#define YOUJU_MAIL_STORE_PRIVATE_H
/*
 * Internals shared by mail-index.c, mailbox.c and mail-user.c: the file
 * system calls that change something (each runs the test hook of
 * mail_store_set_io_hooks first), the error helper, and the structures of
 * a user and of a folder shared by its open views.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "mail-index.h"
#include "mail-user.h"
#include "mailbox.h"

/* ---- I/O (mail-index.c) ---- */
void store_step(const char *op, const char *path);
/* write everything or -1 with errno (a short write of 0 is ENOSPC) */
int store_write_all(int fd, const void *data, size_t len, const char *path);
int store_fsync(int fd, const char *path);
int store_fdatasync(int fd, const char *path);
int store_fsync_dir(const char *dir);
int store_rename(const char *from, const char *to);
int store_link(const char *from, const char *to);
int store_unlink(const char *path);
int store_ftruncate(int fd, off_t len, const char *path);

/* Sets *error_r (if error_r) to a malloc'd formatted message; returns -1. */
int store_fail(char **error_r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same with a chosen return code (a negative enum mail_error). */
int store_fail_code(int code, char **error_r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* CLOCK_REALTIME in nanoseconds */
int64_t store_now_ns(void);
static inline int64_t store_stat_mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* ---- folders (mailbox.c) ---- */

struct uid_import_entry {
	char *base;
	uint32_t uid;
};

/* Dovecot's dovecot-uidlist of a folder, for the first open by youju. */
struct uid_import {
	uint32_t uidvalidity, uidnext;
	struct uid_import_entry *v;	/* sorted by base name */
	size_t n;
};

/* One folder opened in this process: the index and Maildir state that all
 * views (sessions, deliveries) of it share. Owned by its user, freed when
 * the last view closes. */
struct mail_folder {
	struct mail_folder *next;
	struct mail_user *user;
	char *name;			/* canonical IMAP name ("INBOX", "a/b") */
	char *path;			/* its Maildir */
	struct mail_index *index;
	struct mailbox *views;
	unsigned nviews;
	bool deleted;			/* removed by mail_user_delete */
	bool cur_dirty;			/* files linked into cur/: fsync it at commit */
	bool notify_pending;		/* tell the other views at commit */
	bool maybe_in_new;		/* records may still sit in new/ */
	/* mtimes (ns) of new/ and cur/ whose contents we know, except for a
	   change in the same clock tick (mailbox.c, dir_needs_scan) */
	int64_t seen_new_ns, seen_cur_ns;
	/* while a new index is first filled: UIDs from dovecot-uidlist */
	const struct uid_import *import;
};

struct mail_user {
	struct mail_user *next;		/* process-wide list: one object per root */
	unsigned refcount;
	char *root;
	char *hostname;			/* raw, for maildir_deliver() */
	char *hostname_esc;		/* '/', ':', ',' escaped, for our own names */
	char *special[MAIL_SPECIAL_COUNT];
	uint64_t quota_bytes, quota_messages;	/* limits; 0 = none */
	bool quota_known;
	uint64_t used_bytes, used_messages;
	struct mail_folder *folders;
};

/* mail-user.c */
/* The Maildir of a valid canonical name (INBOX = root). malloc'd. */
char *mail_user_folder_path(const struct mail_user *u, const char *canonical);
/* Validates name and returns its canonical form (INBOX upper-cased). */
int mail_user_canonical_name(const char *name, char **canonical_r, char **error_r);
void mail_user_quota_add(struct mail_user *u, int64_t bytes, int64_t messages);
/* A UIDVALIDITY for a new folder index: > every one handed out before to
 * this user (ROOT/youju.uidvalidity), >= min and >= now. 0 on error. */
uint32_t mail_user_new_uidvalidity(struct mail_user *u, uint32_t min, char **error_r);
/* 0 within quota, MAIL_ERR_OVERQUOTA, or -1 (computing usage failed). */
int mail_user_quota_check(struct mail_user *u, uint64_t add_bytes, uint64_t add_messages,
			  char **error_r);

/* mailbox.c */
/* Open folder of that canonical name in this process, or NULL. */
struct mail_folder *mail_user_find_folder(struct mail_user *u, const char *canonical);
/* Totals of a folder not open here, from its index (syncing it when it has
 * none). */
int mailbox_folder_totals(struct mail_user *u, const char *canonical, uint64_t *bytes_r,
			  uint64_t *messages_r, char **error_r);
/* After a rename of the folder (or of a parent) on disk. */
void mailbox_folder_renamed(struct mail_folder *f, const char *new_name, const char *new_path);
/* The folder's directory is gone (DELETE): views learn it at their next
 * sync; an idle folder (no views) is freed now. */
void mailbox_folder_gone(struct mail_folder *f);
/* At the user's last close: frees the idle folders (no view may be open). */
void mailbox_folders_free(struct mail_user *u);

#endif
