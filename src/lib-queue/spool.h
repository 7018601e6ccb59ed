#ifndef YOUJU_SPOOL_H
#define YOUJU_SPOOL_H
/*
 * The queue role's durable message store.
 *
 * Layout under spool_dir:
 *   incoming/<id>       being written; never acknowledged, removed at start-up
 *   queue/<id>          committed (a 250 was or may have been sent)
 *   queue/<id>.state    append-only recipient state log
 *   corrupt/            incomplete or unknown files, quarantined by spool_recover
 *
 * Queue id: 16 lowercase hex digits, 13 of microseconds since the epoch
 * (monotonic within a process; wraps in 2112) then 3 random. Sorting ids sorts
 * by arrival; O_EXCL on create is the final guard against a collision.
 *
 * File format, version 1 (the header is printable ASCII only):
 *
 *   YOUJU-SPOOL 1\n
 *   id <id>\n
 *   arrival <unix seconds>\n
 *   sender <enc>\n
 *   [client-ip|client-helo|client-name|tls|auth-user|envid|body <enc>\n]...
 *   ret <0|1|2>\n
 *   smtputf8 <0|1>\n
 *   rcpt <index> <L|R> <notify> <enc address> <enc orig> <enc orcpt>\n   (1 or more)
 *   \n
 *   <content: raw bytes as received, CRLF line ends>
 *   \n.YOUJU-END <content length> <lowercase hex SHA-256 of the content>\n
 *
 * <enc>: bytes 0x00-0x20 (controls and space), 0x7f-0xff, '%' and a leading
 * '-' are written %XX (uppercase hex); every other byte as itself. A lone "%"
 * is the empty string, a lone "-" is "absent" (only for orcpt; optional
 * envelope fields are absent by omitting the line). Decoding is strict: it
 * accepts exactly what the encoder writes (no needless or lowercase escapes,
 * no %00), so a value can never break the line structure. Numbers are
 * canonical decimal (no sign except '-' on arrival, no leading zeros). Keys
 * appear once each, rcpt indexes count from 0 in order, unknown keys or
 * versions are errors. rcpt: L = local mailbox, R = remote.
 *
 * A file whose trailer is missing, malformed or disagrees with the content
 * (length or SHA-256) is incomplete and never delivered.
 *
 * Errors: every function returning int gives -1 and a malloc'd *error_r (the
 * caller frees it; error_r may be NULL), or 0 on success. No function keeps
 * state between calls except the id generator. A single queue process owns
 * the spool; nothing here locks against a concurrent writer of the same id.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPOOL_ID_LEN 16
/* Longest header accepted (and written); bounds allocation in spool_open. */
#define SPOOL_HEADER_MAX (16u * 1024 * 1024)

struct spool_rcpt {
	char *address;	/* final address (a local mailbox's email, or a remote address) */
	char *orig;	/* as given in RCPT TO */
	char *orcpt;	/* DSN ORCPT "type;addr" or NULL */
	unsigned notify;	/* DSN NOTIFY bit flags, 0 = not given */
	bool local;
};

struct spool_envelope {
	char id[SPOOL_ID_LEN + 1];
	char *sender;		/* "" for the null sender */
	int64_t arrival;	/* unix seconds */
	/* may be NULL: */
	char *client_ip, *client_helo, *client_name, *tls, *auth_user, *envid, *body;
	int ret;		/* 0 none, 1 FULL, 2 HDRS */
	bool smtputf8;
	struct spool_rcpt *rcpts;
	size_t nrcpts;
};

/* Frees every string and the rcpt array and zeroes *e (safe on a zeroed or
 * already freed envelope). The struct itself is the caller's. */
void spool_envelope_free(struct spool_envelope *e);
/* Appends a recipient; strings are copied, orcpt may be NULL. */
void spool_envelope_add_rcpt(struct spool_envelope *e, const char *address, const char *orig,
			     const char *orcpt, unsigned notify, bool local);

/* mkdir spool_dir/{incoming,queue,corrupt} (0750); existing ones are fine.
 * spool_dir itself must exist. */
int spool_init_dirs(const char *spool_dir, char **error_r);

struct spool_writer;
/* Validates env (sender set, at least one rcpt with address and orig, ret 0-2,
 * header within SPOOL_HEADER_MAX), assigns env->id, creates incoming/<id> with
 * O_CREAT|O_EXCL|O_NOFOLLOW (mode 0640) and buffers the header. env is read
 * only during this call. */
int spool_writer_create(const char *spool_dir, struct spool_envelope *env,
			struct spool_writer **w_r, char **error_r);
/* Appends content bytes through a 64 KiB buffer. The first error is sticky:
 * this and commit keep failing with it. */
int spool_writer_write(struct spool_writer *w, const void *data, size_t len, char **error_r);
/* Writes the trailer, flushes, fsync(file), close, rename incoming/<id> ->
 * queue/<id>, fsync(queue/). Only when this returns 0 may the SMTP server
 * reply 250. On any failure -1: the file is removed from wherever it was and
 * the caller replies 4xx. A failed fsync is final: the data is considered lost
 * (fsync(2): a retry proves nothing). Destroys *w and NULLs it either way. */
int spool_writer_commit(struct spool_writer **w, char **error_r);
/* Unlinks the incoming file, destroys *w and NULLs it. NULL-safe. */
void spool_writer_abort(struct spool_writer **w);
/* Content bytes passed to spool_writer_write so far (header not counted). */
uint64_t spool_writer_size(const struct spool_writer *w);

/* Reads and validates the committed queue/<id>: header, trailer, length and
 * SHA-256 (the whole content is read). On success *env is filled (free with
 * spool_envelope_free), *content_off_r / *content_len_r locate the content and
 * the fd (O_RDONLY|O_CLOEXEC|O_NOFOLLOW) is left open in *fd_r for the caller
 * to pass on (closed if fd_r is NULL). The offset/len pointers may be NULL.
 * On failure *env is zeroed, *fd_r is -1 and *error_r says why (malformed,
 * incomplete, unknown version, I/O error). */
int spool_open(const char *spool_dir, const char *id, struct spool_envelope *env, int *fd_r,
	       int64_t *content_off_r, int64_t *content_len_r, char **error_r);

/* Recipient state log queue/<id>.state: one "<index> <state> <enc reason>\n"
 * line per event, appended with a single write and fsync'd (plus queue/ when
 * the log is created). Only delivered and failed (permanent) are recorded; a
 * failed append is truncated away. */
enum spool_rcpt_state { SPOOL_RCPT_PENDING = 0, SPOOL_RCPT_DELIVERED, SPOOL_RCPT_FAILED };
int spool_mark(const char *spool_dir, const char *id, size_t rcpt_index,
	       enum spool_rcpt_state state, const char *reason, char **error_r);
/* Fills states_out[0..nrcpts) (PENDING where nothing is recorded; the last
 * record of an index wins). A torn last line (crash mid-append) is ignored;
 * other unreadable lines are skipped with log_warn, which leaves the
 * recipient pending: a retry may deliver twice, never zero times. */
int spool_load_state(const char *spool_dir, const char *id, size_t nrcpts,
		     enum spool_rcpt_state *states_out, char **error_r);
/* Removes queue/<id>, then queue/<id>.state (that order, so a crash between
 * them leaves an orphan log, never a message whose recipients look pending
 * again). queue/ is not fsync'd: a removal undone by a crash only means a
 * redelivery, which the mail role detects (delivery keys). */
int spool_remove(const char *spool_dir, const char *id, char **error_r);

/* Start-up recovery, before any session is accepted: removes every file in
 * incoming/ (never acknowledged), validates every queue/ message (in id
 * order) and calls cb(ctx, id) for each complete one; incomplete messages,
 * orphan .state logs and unknown names move to corrupt/ (never overwriting,
 * a ".N" suffix is added if needed) with a log_warn. A message that cannot be
 * read for an I/O reason (EIO, EMFILE...) is left in place with a log_error
 * and not reported: the disk may recover, the data must not be quarantined
 * for it. -1 only when a directory cannot be read or a quarantine move fails. */
int spool_recover(const char *spool_dir, void (*cb)(void *ctx, const char *id), void *ctx,
		  char **error_r);

/* statvfs(spool_dir): 1 if at least min_free bytes are available to an
 * unprivileged process (f_bavail), 0 if not, -1 on error. For "452 4.3.1
 * Insufficient system storage". */
int spool_has_space(const char *spool_dir, uint64_t min_free);

/* True if id is exactly SPOOL_ID_LEN lowercase hex digits (safe as a file name). */
bool spool_id_is_valid(const char *id);

/* Test-only fault injection: replace the write(2)/fsync(2) the spool uses
 * (fsync also for directories). NULL members, or hooks == NULL, restore the
 * real calls. Not for production code. */
struct spool_io_hooks {
	ssize_t (*write)(int fd, const void *data, size_t len);
	int (*fsync)(int fd);
};
void spool_set_io_hooks(const struct spool_io_hooks *hooks);

#endif
