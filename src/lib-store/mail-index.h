#ifndef YOUJU_MAIL_INDEX_H
#define YOUJU_MAIL_INDEX_H
/*
 * The index of one Maildir folder: what youju knows about each message
 * beyond the file itself (UID, MODSEQ, keywords, sizes, internal date, where
 * its cached ENVELOPE/BODYSTRUCTURE blob lives), kept crash-safe on disk.
 *
 * Files, all in the folder's Maildir directory (host byte order; an index
 * written on a different architecture is "corrupt" and rebuilt):
 *
 *   youju.index      snapshot of generation G: a 128-byte header
 *                    (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, first \Recent
 *                    UID, directory stamps, sizes), one 64-byte record per
 *                    message (ascending UID: flags, keyword bitmap, MODSEQ,
 *                    file size, RFC822.SIZE, internal date, cache pointer,
 *                    offset of its current file name), the keyword names,
 *                    the expunge history (UID, MODSEQ) and the file names;
 *                    one 64-bit hash over all of it. Only ever replaced
 *                    whole: write .tmp, fsync, rename.
 *   youju.log        changes since snapshot G, append-only. Header (gen G,
 *                    UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ at G), then
 *                    framed records each with its own hash. Records take
 *                    effect in groups ended by a COMMIT record, so one
 *                    command's changes apply all or not at all; a torn tail
 *                    (crash mid-write) is cut off at the last COMMIT.
 *   youju.index.bak  the previous snapshot (G-1): a hard link made at the
 *                    rewrite (a copy of the new snapshot, in an inode of its
 *                    own, when the old one was unreadable);
 *   youju.log.1      the previous log (changes G-1 -> G), a hard link.
 *   youju.cache      opaque per-message blobs (see mail_index_cache_set).
 *
 * Crash safety: a rewrite writes youju.index.tmp and youju.log.tmp (fsync
 * both), links the old files to .bak / .log.1, renames the new snapshot,
 * then the new log, then fsyncs the directory. A SIGKILL between any two
 * steps leaves one of: old snapshot + old log; new snapshot + old log (whose
 * changes the new snapshot already holds: recognised by its older gen); new
 * snapshot + new log. Log commits are fdatasync'd when they carry UIDs,
 * flags, keywords or expunges (not for cache offsets, \Recent claims or
 * directory stamps, which are only hints).
 *
 * Loss and corruption (mail_index_open's state_r):
 *   EXACT    snapshot + its log (or .bak + .log.1 + log when the snapshot
 *            is unreadable but the chain is whole): nothing lost.
 *   PARTIAL  some tail of the history is gone (the log, or the snapshot and
 *            part of the chain). The UIDs of every message still described
 *            are kept; UIDVALIDITY is kept; UIDNEXT is raised past any UID
 *            that can have been handed out since the surviving snapshot,
 *            which is bounded because youju never assigns a UID at or above
 *            snapshot UIDNEXT + MAIL_INDEX_UID_RESERVE without writing a
 *            newer snapshot first (+2 reserves when only .bak survives,
 *            since .bak is at most one generation behind). HIGHESTMODSEQ is
 *            raised the same way. Messages not described get new UIDs.
 *   LOST     no snapshot and no log of this folder can be read (or the
 *            HIGHESTMODSEQ passed MAIL_INDEX_MODSEQ_LIMIT): a fresh index
 *            with a new UIDVALIDITY (greater than any seen in a readable
 *            leftover, and at least the current time).
 *   CREATED  no youju file existed: a new folder.
 * In every state but EXACT (and whenever need_rewrite is set) the caller
 * rescans the Maildir; the next mail_index_commit() then writes a snapshot.
 * Running out of UIDs is handled above this layer (mail_index_reset).
 *
 * Ownership: one struct mail_index per folder per process; the mail role
 * keeps all sessions and deliveries of a user in one process (DESIGN.md 2),
 * so there is no locking between processes. A log that grew behind our
 * back (a second writer, unsupported) is noticed at commit and answered
 * with a whole new snapshot of our state.
 *
 * Errors: -1 with a malloc'd *error_r (error_r may be NULL) for system
 * errors. Corrupt files are never an error, they are recovered from.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define MAIL_INDEX_FILE "youju.index"
#define MAIL_INDEX_LOG_FILE "youju.log"
#define MAIL_INDEX_BAK_FILE "youju.index.bak"
#define MAIL_INDEX_LOG1_FILE "youju.log.1"
#define MAIL_INDEX_CACHE_FILE "youju.cache"

#define MAIL_INDEX_MAX_KEYWORDS 64
#define MAIL_INDEX_KEYWORD_MAX_LEN 100
#define MAIL_INDEX_NAME_MAX 255
/* UIDs and MODSEQs the log may hand out before a new snapshot is due */
#define MAIL_INDEX_UID_RESERVE 65536u
#define MAIL_INDEX_MODSEQ_RESERVE (UINT64_C(1) << 24)
/* an index loaded with a higher HIGHESTMODSEQ starts over (LOST) */
#define MAIL_INDEX_MODSEQ_LIMIT (UINT64_C(1) << 61)
/* expunged (uid, modseq) pairs kept for QRESYNC (RFC 7162 3.2.5) */
#define MAIL_INDEX_EXPUNGE_HISTORY 65536
#define MAIL_CACHE_FIELDS 16
#define MAIL_CACHE_MAX_BLOB (16u * 1024 * 1024)

/* IMAP system flags (RFC 9051 2.3.2) and their Maildir info letters. */
enum mail_flags {
	MAIL_ANSWERED = 0x01,	/* R */
	MAIL_FLAGGED = 0x02,	/* F */
	MAIL_DELETED = 0x04,	/* T (trashed) */
	MAIL_SEEN = 0x08,	/* S */
	MAIL_DRAFT = 0x10,	/* D */
	MAIL_FORWARDED = 0x20,	/* P (passed); shown to IMAP as the keyword $Forwarded */
	MAIL_FLAGS_MASK = 0x3f,
};

/* Record bits that are not IMAP flags. */
#define MAIL_REC_IN_NEW 0x0100u		/* the file is in new/ (no info suffix) */
#define MAIL_REC_VSIZE 0x0200u		/* vsize is known */
#define MAIL_REC_EXPUNGED 0x0400u	/* in memory only: gone, awaiting compaction */
#define MAIL_REC_DISK_MASK (MAIL_FLAGS_MASK | MAIL_REC_IN_NEW | MAIL_REC_VSIZE)

/* One message, exactly as stored in youju.index (64 bytes). */
struct mail_index_record {
	uint32_t uid;
	uint32_t flags;		/* enum mail_flags | MAIL_REC_* */
	uint64_t keywords;	/* bit i: keyword i of the folder's table */
	uint64_t modseq;	/* RFC 7162: last change to this message */
	uint64_t psize;		/* bytes of the file (LF line ends) */
	uint64_t vsize;		/* RFC822.SIZE (CRLF form), if MAIL_REC_VSIZE */
	int64_t idate;		/* internal date: seconds since the epoch */
	uint64_t cache_off;	/* entry in youju.cache, 0 = none */
	uint32_t cache_len;
	uint32_t name_off;	/* current file name (in names), NUL-terminated */
};

struct mail_index_expunge {
	uint32_t uid;
	uint32_t pad;
	uint64_t modseq;
};

enum mail_index_state {
	MAIL_INDEX_EXACT = 0,
	MAIL_INDEX_PARTIAL,
	MAIL_INDEX_LOST,
	MAIL_INDEX_CREATED,
};

/* Read-only for callers: change it only through the functions below. */
struct mail_index {
	char *dir;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t first_recent_uid;	/* messages >= this are unclaimed \Recent */
	uint64_t highestmodseq;
	int64_t new_stamp, cur_stamp;	/* mtimes (ns) of new/ and cur/ at the
					   last complete scan; 0 = rescan */
	struct mail_index_record *recs;	/* ascending uid */
	uint32_t count, alloc;
	uint32_t marked;		/* records with MAIL_REC_EXPUNGED */
	buf_t names;			/* file names, NUL-separated */
	char *keywords[MAIL_INDEX_MAX_KEYWORDS];
	unsigned nkeywords;
	struct mail_index_expunge *expunged;	/* ascending modseq */
	size_t nexpunged, expunged_alloc;
	uint64_t expunge_floor;		/* history is complete above this modseq */
	uint64_t psize_sum;		/* of the unmarked records */

	/* persistence (private) */
	uint64_t gen, gen_max;
	uint32_t snap_uidnext;
	uint64_t snap_hms, snap_size;
	dev_t dev;
	ino_t index_ino;		/* 0: youju.index is not ours (the rewrite
					   then copies the new one to .bak) */
	ino_t log_ino;
	int log_fd;			/* -1 until the first commit after open */
	uint64_t log_size;		/* valid bytes of our log */
	buf_t pending;			/* records of the open transaction */
	bool pending_sync;		/* the transaction must be fdatasync'd */
	bool need_rewrite;		/* the log cannot be trusted: rewrite at commit */
	uint64_t cache_id;
	int cache_fd;
	bool cache_released;		/* closed by mail_index_release_fds */
	uint64_t cache_size, cache_live;
};

/*
 * Loads the index of the Maildir folder at dir (which must exist), choosing
 * the recovery path described above. Never writes. Returns 0 with *idx_r
 * and *state_r, or -1 for a system error (EACCES, EIO, ...: corrupt data is
 * not an error).
 */
int mail_index_open(const char *dir, struct mail_index **idx_r, enum mail_index_state *state_r,
		    char **error_r);
/* Frees everything; uncommitted changes are dropped. *idx = NULL. */
void mail_index_close(struct mail_index **idx);
/* Closes the log and cache descriptors of an index nobody uses right now
 * (an idle folder): the next commit reopens the log (checking that it is
 * still ours), the next cache access reopens the cache (forgetting its
 * entries if the file changed). Keeps idle folders from holding fds. */
void mail_index_release_fds(struct mail_index *idx);

/* Position of uid (binary search over the records), or false. */
bool mail_index_lookup_uid(const struct mail_index *idx, uint32_t uid, uint32_t *pos_r);
/* First position whose uid >= uid (count if none). */
uint32_t mail_index_lower_bound(const struct mail_index *idx, uint32_t uid);
static inline const char *mail_index_name(const struct mail_index *idx, uint32_t pos)
{
	return idx->names.data + idx->recs[pos].name_off;
}

/*
 * Adds a message at the end with the next UID and MODSEQ. rec supplies
 * flags, keywords, sizes and date (modseq and name_off are ignored); a
 * nonzero rec->uid >= uidnext is taken as the UID (importing another
 * server's UIDs), anything else gets uidnext. name is the file name (in
 * new/ when MAIL_REC_IN_NEW is set). -1 when the UID space of this
 * UIDVALIDITY is used up, or when a snapshot that had to be written first
 * (MAIL_INDEX_UID_RESERVE) could not be.
 */
int mail_index_append(struct mail_index *idx, const struct mail_index_record *rec, const char *name,
		      uint32_t *pos_r, char **error_r);
/* New flags/keywords and/or file name (NULL: same name) for one message.
 * MODSEQ is bumped when flags or keywords change; a new name alone (new/ ->
 * cur/, an outside rename) is not a change. -1 only as for append. */
int mail_index_update(struct mail_index *idx, uint32_t pos, uint32_t flags, uint64_t keywords,
		      const char *name, char **error_r);
/* Marks a message expunged (new MODSEQ, expunge history). Its record stays
 * until mail_index_compact(), so positions do not move under the caller. */
int mail_index_expunge(struct mail_index *idx, uint32_t pos, char **error_r);
/* Drops the marked records (positions change). */
void mail_index_compact(struct mail_index *idx);
/* Keyword number of name (ASCII case-insensitive), or -1. */
int mail_index_keyword_lookup(const struct mail_index *idx, const char *name);
/* Same, defining the keyword if needed: -1 when MAIL_INDEX_MAX_KEYWORDS are
 * taken or the name is not an IMAP atom (RFC 9051 flag-keyword). */
int mail_index_keyword_add(struct mail_index *idx, const char *name);
bool mail_index_keyword_valid(const char *name);
/* Forgets every record and starts over under a new UIDVALIDITY (the UID
 * space is used up, RFC 9051 2.3.1.1); the next commit writes a snapshot. */
void mail_index_reset(struct mail_index *idx, uint32_t uidvalidity);
/* Only for a fresh index (state LOST or CREATED, nothing added yet): the
 * caller knows a better UIDVALIDITY (the user's last one + 1). */
void mail_index_init_uidvalidity(struct mail_index *idx, uint32_t uidvalidity);
void mail_index_set_first_recent(struct mail_index *idx, uint32_t uid);
/* UIDNEXT = max(UIDNEXT, uidnext) (an imported UIDNEXT). */
void mail_index_raise_uidnext(struct mail_index *idx, uint32_t uidnext);
void mail_index_set_stamps(struct mail_index *idx, int64_t new_stamp, int64_t cur_stamp);
void mail_index_set_vsize(struct mail_index *idx, uint32_t pos, uint64_t vsize);

/* Writes the open transaction to the log and fdatasyncs it when needed; may
 * write a new snapshot instead (log grown past half the snapshot, reserves
 * used up, a previous write failed). On failure the changes stay in memory
 * and the next commit writes a whole snapshot. */
int mail_index_commit(struct mail_index *idx, char **error_r);
/* Writes a new snapshot (generation gen_max + 1) and an empty log. */
int mail_index_rewrite(struct mail_index *idx, char **error_r);

/*
 * QRESYNC: the UIDs expunged with a MODSEQ above modseq, ascending
 * (malloc'd; NULL when none). false when the history does not reach that
 * far back (the caller then reports every UID it cannot see).
 */
bool mail_index_expunged_since(const struct mail_index *idx, uint64_t modseq, uint32_t **uids_r,
			       size_t *count_r);

/*
 * The cache: up to MAIL_CACHE_FIELDS opaque blobs per message (the IMAP
 * code stores its ENVELOPE, BODYSTRUCTURE, part offsets...). youju.cache is
 * append-only; each entry holds all fields of one message with a hash, and
 * the record points at the newest entry. Nothing about the cache is ever
 * fsync'd: a lost, stale or corrupt entry reads as "not cached", and the
 * caller parses the message again. Compacted (rewritten) when mostly dead.
 * get: 1 and the blob appended to out, 0 not cached, -1 system error.
 */
int mail_index_cache_get(struct mail_index *idx, uint32_t pos, unsigned field, buf_t *out,
			 char **error_r);
int mail_index_cache_set(struct mail_index *idx, uint32_t pos, unsigned field, const void *data,
			 size_t len, char **error_r);

/* Copies the cached blobs of src's record spos to dst's record dpos
 * (COPY/MOVE); 0 also when there is nothing to copy. */
int mail_index_cache_copy(struct mail_index *src, uint32_t spos, struct mail_index *dst,
			  uint32_t dpos, char **error_r);

/* Message count and total psize of a folder without loading its records
 * (for quota): 1 done, 0 no readable index, -1 system error. Header fields
 * are trusted without the hash: this is an estimate. */
int mail_index_read_totals(const char *dir, uint64_t *bytes_r, uint64_t *messages_r);

/* A fast 64-bit hash (integrity checks, not security). */
uint64_t mail_index_hash(const void *data, size_t len, uint64_t seed);

/*
 * Test-only fault injection for everything lib-store writes (index, log,
 * cache, message files): step() runs before each write, fsync, rename,
 * link, unlink, create and truncate with a short op name and the path, and
 * may kill the process (crash tests); write and fsync replace the calls.
 * NULL restores the real calls.
 */
struct mail_store_io_hooks {
	void (*step)(const char *op, const char *path);
	ssize_t (*write)(int fd, const void *data, size_t len);
	int (*fsync)(int fd);
};
void mail_store_set_io_hooks(const struct mail_store_io_hooks *hooks);

#endif
