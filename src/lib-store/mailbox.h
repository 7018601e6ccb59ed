#ifndef YOUJU_MAILBOX_H
#define YOUJU_MAILBOX_H
/*
 * One Maildir folder seen through its index (mail-index.h), as a session
 * (SELECT/EXAMINE/STATUS) or a delivery uses it.
 *
 * Views. A struct mailbox is one view of a folder; every view of the same
 * folder in this process shares one in-memory index (no per-message
 * allocations: arrays). A view keeps its own message sequence: messages
 * appended or expunged by others (another view, a delivery, another tool
 * writing the Maildir) show up only at the view's next mailbox_sync(), which
 * reports them for EXISTS / EXPUNGE / VANISHED / FETCH. Until then, a
 * message expunged by someone else reads as NULL from mailbox_record().
 * An idle view that is in step with the folder costs a few dozen bytes; a
 * view behind an expunge holds a copy of its UID list until it syncs.
 *
 * The Maildir is the truth, the index a description of it that youju owns:
 *  - file names: new/BASE (just delivered) and cur/BASE:2,INFO; BASE is the
 *    key, INFO holds the flag letters in ASCII order (maildir(5)):
 *      D \Draft  F \Flagged  P $Forwarded  R \Answered  S \Seen  T \Deleted
 *    Other letters (such as Dovecot's keyword letters a-z) are kept as they
 *    are. Keywords live in the index only.
 *  - files that appear from outside get UIDs in delivery order (the time in
 *    the name, then the name); files that vanish are expunged; an INFO that
 *    differs from the index is a flag change (new MODSEQ).
 *  - files in new/ are moved to cur/ with ":2," by any sync of a view
 *    opened without READONLY or DELIVERY (like Dovecot on SELECT). A file
 *    in new/ carries no flags: for it the index's flags stand.
 * Syncing costs two stat() calls when nothing changed: new/ and cur/ are
 * read again only when their mtime differs from the stamp saved in the
 * index at the last full read. A stamp is saved only when the mtime was at
 * least 2 seconds old at that read: a change in the same clock tick as the
 * read (or as a change youju made itself) leaves the mtime as it was, so a
 * younger mtime is only remembered in memory, syncs skip the directory
 * while it stays younger than 2 s, and one more read after that catches
 * such a change. MAILBOX_SYNC_FORCE reads both directories in any case.
 *
 * Changes (flags, keywords, expunges, appends, copies) apply in memory and
 * on the files at once and become durable with mailbox_commit(): the log
 * write and fdatasync, and an fsync of cur/ for files linked into it.
 * mailbox_sync() and mailbox_close() commit too. Reply OK to a client only
 * after a successful commit. Every change gets its own MODSEQ (RFC 7162).
 *
 * \Recent (RFC 3501 2.3.2): the index keeps first_recent_uid. The first
 * view (opened without READONLY or DELIVERY) to sync after messages arrive
 * claims them: they are \Recent in that view only. READONLY views
 * (EXAMINE, STATUS) claim nothing and see the unclaimed ones as \Recent.
 *
 * POP3 UIDLs should be "UIDVALIDITY.UID" (hex or decimal): both survive
 * restarts and every rebuild that keeps UIDs (mail-index.h).
 *
 * Errors: 0 or a negative enum mail_error (mail-user.h) with a malloc'd
 * *error_r (error_r may be NULL).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "mail-index.h"
#include "mail-user.h"

struct mailbox;

/* Neither flag makes the store refuse changes (the IMAP layer refuses
 * STORE and EXPUNGE after EXAMINE); both mean: claim no \Recent messages
 * and leave files in new/ where they are. */
enum mailbox_open_flags {
	MAILBOX_OPEN_READONLY = 0x01,	/* EXAMINE, STATUS */
	MAILBOX_OPEN_DELIVERY = 0x02,	/* local delivery (append only) */
};

/* Opens a view of the folder name (INBOX is created if missing) and syncs
 * it. NOTFOUND if the folder does not exist. */
int mailbox_open(struct mail_user *u, const char *name, unsigned flags, struct mailbox **box_r,
		 char **error_r);
/* Commits (errors are logged) and frees the view. *box = NULL. */
void mailbox_close(struct mailbox **box);
const char *mailbox_name(const struct mailbox *box);

enum mailbox_sync_flags {
	MAILBOX_SYNC_FORCE = 0x01,	/* read new/ and cur/ whatever their mtimes say */
	MAILBOX_SYNC_NO_EXPUNGE = 0x02,	/* keep expunged messages in the view (RFC 9051
					   7.5.1: none during FETCH, STORE, SEARCH) */
};

struct mailbox_changes {
	/* "* n EXPUNGE" in this order (descending, so each n is right when
	   sent); the same messages' UIDs ascending for VANISHED */
	uint32_t *expunged_seqs;
	uint32_t *expunged_uids;
	size_t n_expunged;
	/* flags changed by others (not by this view): sequence numbers after
	   the expunges, ascending, for "* n FETCH (FLAGS ...)" */
	uint32_t *changed_seqs;
	size_t n_changed;
	uint32_t old_count;	/* messages before */
	uint32_t count;		/* after: send EXISTS when != old_count - n_expunged */
	uint32_t recent;	/* \Recent in this view now */
};
void mailbox_changes_free(struct mailbox_changes *ch);

/* Brings the folder up to date with the Maildir, commits, and moves this
 * view to the folder's current state. ch_r may be NULL. NOTFOUND if the
 * folder was deleted. */
int mailbox_sync(struct mailbox *box, unsigned flags, struct mailbox_changes *ch_r,
		 char **error_r);
/* Makes pending changes durable (see above). */
int mailbox_commit(struct mailbox *box, char **error_r);

/* Called (from within another view's commit or a delivery) when the folder
 * changed through someone else: the IDLE wake-up. cb NULL to clear. */
void mailbox_set_notify(struct mailbox *box, void (*cb)(struct mailbox *box, void *ctx),
			void *ctx);

struct mailbox_status {
	uint32_t messages, recent, unseen, deleted;
	uint32_t first_unseen_seq;	/* 0: none (SELECT [UNSEEN n]) */
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	uint64_t disk_size;		/* sum of file sizes (quota) */
};
void mailbox_get_status(struct mailbox *box, struct mailbox_status *st_r);
/* RFC 8438 STATUS SIZE: sum of RFC822.SIZE, computing unknown ones. */
int mailbox_get_vsize_total(struct mailbox *box, uint64_t *size_r, char **error_r);

uint32_t mailbox_count(const struct mailbox *box);
uint32_t mailbox_uidvalidity(const struct mailbox *box);
uint32_t mailbox_uidnext(const struct mailbox *box);
uint64_t mailbox_highestmodseq(const struct mailbox *box);

/* seq is 1-based and <= mailbox_count(). NULL when the message was
 * expunged by someone else and this view has not synced since. The pointer
 * is valid until the next call that changes the folder. */
const struct mail_index_record *mailbox_record(const struct mailbox *box, uint32_t seq);
uint32_t mailbox_uid(const struct mailbox *box, uint32_t seq);
/* 0 when uid is not in this view */
uint32_t mailbox_seq(const struct mailbox *box, uint32_t uid);
/* Smallest seq whose UID >= uid, count + 1 if none (UID ranges). */
uint32_t mailbox_seq_ge(const struct mailbox *box, uint32_t uid);
bool mailbox_is_recent(const struct mailbox *box, uint32_t seq);

/* The folder's keyword table (FLAGS / PERMANENTFLAGS); bit i of a
 * record's keywords is keyword i. MAIL_FORWARDED is shown as $Forwarded. */
unsigned mailbox_keyword_count(const struct mailbox *box);
const char *mailbox_keyword_name(const struct mailbox *box, unsigned i);
/* room for another keyword (PERMANENTFLAGS \*) */
bool mailbox_keywords_room(const struct mailbox *box);

/* A read-only descriptor of the message file (LF line ends) and its size.
 * EXPUNGED if the file is gone. */
int mailbox_open_message(struct mailbox *box, uint32_t seq, int *fd_r, uint64_t *size_r,
			 char **error_r);
/* RFC822.SIZE, computed from the file and remembered when not known. */
int mailbox_get_vsize(struct mailbox *box, uint32_t seq, uint64_t *vsize_r, char **error_r);

enum mailbox_flags_mode {
	MAILBOX_FLAGS_ADD,
	MAILBOX_FLAGS_REMOVE,
	MAILBOX_FLAGS_REPLACE,
};
/*
 * STORE: flags (enum mail_flags) and keywords (names; "$Forwarded" is the
 * MAIL_FORWARDED flag) added, removed or replacing. unchangedsince != 0 is
 * RFC 7162 UNCHANGEDSINCE: returns 1 and changes nothing when the message's
 * MODSEQ is higher (report it in MODIFIED). 0 when done (also when nothing
 * changed), LIMIT when the keyword table is full, INVALID for a keyword
 * that is not an atom, EXPUNGED, TEMP.
 */
int mailbox_set_flags(struct mailbox *box, uint32_t seq, enum mailbox_flags_mode mode,
		      uint32_t flags, const char *const *keywords, size_t nkeywords,
		      uint64_t unchangedsince, char **error_r);
/* Unlinks the file and records the expunge (the view still shows the
 * message until its next sync, which reports it). */
int mailbox_expunge(struct mailbox *box, uint32_t seq, char **error_r);

struct mailbox_append {
	/* the message: data/len in memory, or size bytes of fd from offset
	   (pread; the file position is not used). CRLF is stored as LF. */
	const char *data;
	size_t len;
	int fd;
	int64_t offset, size;
	/* with fd: octets written before the file's (Return-Path, ...) */
	const char *prefix;
	size_t prefix_len;
	uint32_t flags;
	const char *const *keywords;
	size_t nkeywords;
	time_t internal_date;	/* 0: now; kept as the file's mtime */
	const char *key;	/* delivery key (maildir.h) or NULL */
};
/* APPEND / local delivery: quota check (OVERQUOTA), maildir_deliver() into
 * new/ (durable on return), then into cur/ with its flags (a DELIVERY view
 * leaves it in new/), then the index. *uid_r is valid (APPENDUID) once
 * mailbox_commit() succeeds. */
int mailbox_append(struct mailbox *box, const struct mailbox_append *msg, uint32_t *uid_r,
		   char **error_r);
/* COPY: a hard link under a new name in dst's cur/ (a copy of the file
 * when linking is impossible), with flags, keywords, internal date and the
 * cached blobs. Commit dst. */
int mailbox_copy(struct mailbox *box, uint32_t seq, struct mailbox *dst, uint32_t *uid_r,
		 char **error_r);
/* MOVE (RFC 6851): link into dst, unlink here, expunge here. Commit dst,
 * then this view. A crash in between leaves the message in dst, or in
 * both (never in neither). */
int mailbox_move(struct mailbox *box, uint32_t seq, struct mailbox *dst, uint32_t *uid_r,
		 char **error_r);

/* Opaque per-message blobs (field < MAIL_CACHE_FIELDS): 1 found (appended
 * to out), 0 not cached. Lost on corruption, never wrong. */
int mailbox_cache_get(struct mailbox *box, uint32_t seq, unsigned field, buf_t *out,
		      char **error_r);
int mailbox_cache_set(struct mailbox *box, uint32_t seq, unsigned field, const void *data,
		      size_t len, char **error_r);

/* QRESYNC (RFC 7162 3.2.5.1): UIDs expunged after modseq, ascending. false
 * when the history does not go back that far. */
bool mailbox_expunged_since(const struct mailbox *box, uint64_t modseq, uint32_t **uids_r,
			    size_t *count_r);

/* Test and debug: readdir() calls on new/, cur/ and tmp/ so far. */
unsigned long mailbox_debug_readdirs(void);

#endif
