#ifndef YOUJU_IMAP_CLIENT_H
#define YOUJU_IMAP_CLIENT_H
/*
 * The IMAP server after login (RFC 9051, RFC 3501), in the mail role: one
 * struct imap_client per connection, commands from lib-imap's parser, the
 * user's store from lib-store. This header is what the command modules
 * share:
 *   imap-client.c   connection, input, dispatch, untagged updates, IDLE,
 *                   COMPRESS, the small commands (CAPABILITY, NOOP,
 *                   LOGOUT, ENABLE, ID, NAMESPACE, CHECK)
 *   imap-cmd-select.c  SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE, STORE,
 *                   COPY, MOVE, APPEND
 *   imap-cmd-folder.c  CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
 *                   LIST, LSUB, STATUS, GETQUOTA, GETQUOTAROOT
 *   imap-fetch.c    FETCH
 *   imap-search.c   SEARCH, SORT, THREAD
 *
 * A command handler gets a struct imap_cmd, writes its untagged responses
 * with imap_out*(), and ends with exactly one of imap_cmd_ok/no/bad (which
 * also send the pending untagged updates before an OK, RFC 9051 7.5.1
 * rules). A handler that produces a lot of output (FETCH) may stop early:
 * it sets cmd->cont and returns IMAP_CMD_MORE without a tagged reply; the
 * client calls cont again once the client has read most of the output
 * (bounded memory for clients that do not read).
 *
 * Message sequence numbers in a handler are those of c->box's view
 * (mailbox.h); nothing changes them while the handler runs, since syncs
 * happen only in imap_cmd_ok() and between commands.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/bufferevent.h>

#include "buf.h"
#include "imap-parser.h"
#include "imap-seqset.h"
#include "mailbox.h"
#include "mail-user.h"
#include "role.h"

/* Fields of the store's per-message cache (mailbox_cache_get/set) that
 * the IMAP server fills; each holds the finished IMAP text. */
enum imap_cache_field {
	IMAP_CACHE_ENVELOPE = 0,
	IMAP_CACHE_BODY = 1,		/* BODY (non-extensible BODYSTRUCTURE) */
	IMAP_CACHE_BODYSTRUCTURE = 2,
};

/* Output above this many octets pauses a long command (cont). */
#define IMAP_OUTPUT_HIGH (256 * 1024)
/* and it goes on when the client has read it down to this */
#define IMAP_OUTPUT_LOW (64 * 1024)

enum imap_cmd_result { IMAP_CMD_DONE, IMAP_CMD_MORE };

struct imap_client;

struct imap_cmd {
	struct imap_client *c;
	const char *tag;
	const char *name;		/* upper-cased; "FETCH" for "UID FETCH" */
	const struct imap_arg *args;	/* the arguments after the name */
	size_t count;			/* args[count] is IMAP_ARG_EOL */
	bool uid;			/* UID FETCH/STORE/SEARCH/COPY/MOVE/EXPUNGE */
	/* for IMAP_CMD_MORE: called again when output has drained; it may
	 * return MORE again. state_free (may be NULL) runs when the command
	 * ends or the connection closes. */
	enum imap_cmd_result (*cont)(struct imap_cmd *cmd);
	void *state;
	void (*state_free)(void *state);
	bool finished;			/* the tagged reply went out */
};

struct imap_client {
	struct imap_client *next;
	struct role_ctx *ctx;
	struct bufferevent *bev;	/* the socket, or the deflate filter on it */
	int sock;			/* the TCP socket, -1 when not TCP (TLS proxy) */
	char *user;
	char ip[64];
	char sid[24];
	struct mail_user *mu;
	struct imap_parser *parser;
	unsigned wflags;		/* IMAP_WRITE_UTF8 after ENABLE UTF8=ACCEPT */
	bool rev2;			/* ENABLE IMAP4rev2 */
	bool utf8;			/* ENABLE UTF8=ACCEPT */
	bool condstore;			/* CONDSTORE enabled (explicitly or by use) */
	bool qresync;			/* ENABLE QRESYNC */
	/* selected state */
	struct mailbox *box;		/* NULL: authenticated state */
	bool readonly;			/* EXAMINE */
	/* SEARCHRES (RFC 5182): the last SEARCH ... RETURN (SAVE) result, as
	 * UIDs so it survives expunges */
	struct imap_seqset searchres;
	/* private to imap-client.c */
	struct imap_cmd *running;
	struct event *timer;		/* autologout */
	struct event *wakeup;		/* IDLE: changes from other views; closing */
	struct evbuffer_cb_entry *drain_cb;	/* closing with COMPRESS */
	unsigned keywords_sent;		/* keyword names the client knows */
	uint32_t recent_sent;
	unsigned bad;
	bool idling, closing, compressed, notified;
	bool busy, again, dead;		/* re-entry guards (imap-client.c) */
	uint64_t n_commands;
};

/* ---- output ---- */
void imap_out(struct imap_client *c, const void *data, size_t len);
void imap_out_cstr(struct imap_client *c, const char *s);
void imap_outf(struct imap_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_out_buf(struct imap_client *c, const buf_t *b);
/* Octets queued for the client and not yet sent. */
size_t imap_output_pending(const struct imap_client *c);

/* ---- ending a command (exactly one per command) ---- */
/* Sends the untagged updates the command allows (EXPUNGE only for
 * commands where RFC 9051 7.5.1 permits it), then "tag OK text". text may
 * begin with a response code "[...] ". */
void imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A store error (enum mail_error, error text from the store, may be
 * NULL): NO with the matching response code ([TRYCREATE] when
 * trycreate and the folder does not exist, [NONEXISTENT], [ALREADYEXISTS],
 * [CANNOT], [OVERQUOTA], [LIMIT], [EXPUNGEISSUED], [SERVERBUG] for TEMP). */
void imap_cmd_mail_error(struct imap_cmd *cmd, int err, const char *error, bool trycreate);

/* ---- arguments ---- */
/*
 * A sequence set argument (ATOM; "$" = the saved SEARCHRES), as message
 * sequence numbers of the selected view: with uid, UIDs are mapped to the
 * sequence numbers that exist (UIDs not in the view are left out, as RFC
 * 9051 6.4.9 asks); without uid, a number above the message count is an
 * error ("Invalid message sequence number"). Returns 0, or -1 with a static
 * *error_r for BAD. The set must have been imap_seqset_init()ed.
 */
int imap_arg_seqset(struct imap_client *c, const struct imap_arg *arg, bool uid,
		    struct imap_seqset *seqs_r, const char **error_r);
/* A mailbox name argument (astring) in modified UTF-7, or UTF-8 after
 * ENABLE UTF8=ACCEPT, decoded into *name_r (malloc'd UTF-8; "INBOX" in any
 * case comes back as "INBOX"). -1 with a static *error_r for BAD. */
int imap_arg_mailbox(struct imap_client *c, const struct imap_arg *arg, char **name_r,
		     const char **error_r);
/* A flag list "(\Seen foo)" or a single flag: system flags into *flags_r,
 * keywords (with $Forwarded as MAIL_FORWARDED) into a malloc'd array of
 * pointers into the args. \Recent and unknown \-flags are BAD. */
int imap_arg_flags(const struct imap_arg *arg, uint32_t *flags_r, const char ***keywords_r,
		   size_t *nkeywords_r, const char **error_r);

/* ---- message attributes ---- */
/* Appends "(\Seen \Answered kw ...)" for message seq of the selected view
 * (\Recent included when it is recent in this view). */
void imap_write_msg_flags(struct imap_client *c, uint32_t seq, buf_t *out);
/* "FLAGS (...)" and "OK [PERMANENTFLAGS (...)]" for SELECT and when the
 * keyword table grows. */
void imap_send_flags(struct imap_client *c);
/* Turn on CONDSTORE for this session (a CONDSTORE-using command, RFC 7162
 * 3.1): from now on FETCH responses carry MODSEQ. Sends the untagged
 * "OK [HIGHESTMODSEQ n]" when a mailbox is selected and it was off. */
void imap_enable_condstore(struct imap_client *c);

/* ---- command handlers ---- */
enum imap_cmd_result imap_cmd_select(struct imap_cmd *cmd);	/* SELECT and EXAMINE */
enum imap_cmd_result imap_cmd_close(struct imap_cmd *cmd);	/* CLOSE and UNSELECT */
enum imap_cmd_result imap_cmd_expunge(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_store(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_copy(struct imap_cmd *cmd);	/* COPY and MOVE */
enum imap_cmd_result imap_cmd_append(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_create(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_delete(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_rename(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_subscribe(struct imap_cmd *cmd);	/* and UNSUBSCRIBE */
enum imap_cmd_result imap_cmd_list(struct imap_cmd *cmd);	/* LIST and LSUB */
enum imap_cmd_result imap_cmd_status(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_getquota(struct imap_cmd *cmd);	/* and GETQUOTAROOT */
enum imap_cmd_result imap_cmd_fetch(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_search(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_sort(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_thread(struct imap_cmd *cmd);

/* ---- the session ---- */
/* Back to the authenticated state (no mailbox selected); nothing is
 * expunged. Defined in imap-cmd-select.c. */
void imap_client_unselect(struct imap_client *c);
/* After c->box was opened (SELECT/EXAMINE): IDLE wake-ups, FLAGS state. */
void imap_client_selected(struct imap_client *c);

/* quota_bytes: the user's limit from the directory (0 = none). */
void imap_client_start(struct role_ctx *ctx, const char *user, const char *ip, const char *tls,
		       const char *pending, size_t pending_len, uint64_t quota_bytes, int fd);
unsigned imap_client_count(void);
void imap_client_close_all(void);

#endif
