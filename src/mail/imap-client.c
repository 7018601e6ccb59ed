/*
 * The IMAP connection after login (imap-client.h): input through the
 * resumable command parser, the command table, untagged updates from the
 * store, IDLE, COMPRESS=DEFLATE, timeouts and output backpressure, and the
 * commands too small for a file of their own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "imap-caps.h"
#include "imap-client.h"
#include "imap-compress.h"
#include "imap-utf7.h"
#include "imap-write.h"
#include "mail-store.h"
#include "log.h"
#include "xalloc.h"

#define IMAP_MAX_BAD 20		/* BAD replies in a row before disconnect */

static struct imap_client *clients;
static uint64_t next_sid;

static void client_process(struct imap_client *c);
static void client_destroy(struct imap_client *c);

unsigned imap_client_count(void)
{
	unsigned n = 0;
	for (struct imap_client *c = clients; c; c = c->next)
		n++;
	return n;
}

/* ---- output ---- */

void imap_out(struct imap_client *c, const void *data, size_t len)
{
	if (c->bev != NULL && len > 0)
		bufferevent_write(c->bev, data, len);
}

void imap_out_cstr(struct imap_client *c, const char *s)
{
	imap_out(c, s, strlen(s));
}

void imap_outf(struct imap_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (c->bev != NULL)
		evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
}

void imap_out_buf(struct imap_client *c, const buf_t *b)
{
	imap_out(c, b->data, b->used);
}

size_t imap_output_pending(const struct imap_client *c)
{
	if (c->bev == NULL)
		return 0;
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

/* With COMPRESS the deflate filter calls our write callback only when it
 * moves data into the socket's buffer, never when that buffer drains: a
 * closing client watches the socket's buffer itself. */
static void socket_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct imap_client *c = arg;
	if (evbuffer_get_length(buf) == 0 && c->closing)
		event_active(c->wakeup, EV_TIMEOUT, 0);
}

static void close_after_flush(struct imap_client *c)
{
	bool was = c->closing;
	c->closing = true;
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ);
	if (!was && c->compressed && c->bev != NULL)
		c->drain_cb = evbuffer_add_cb(bufferevent_get_output(bufferevent_get_underlying(c->bev)),
					      socket_drained, c);
	/* a callback running inside the client (busy) destroys it on its
	   way out (client_leave) */
	if (!c->busy && (c->bev == NULL || imap_output_pending(c) == 0))
		client_destroy(c);
}

/*
 * Writing to a bufferevent may call our write callback at once (the
 * deflate filter does), so every entry from the event loop goes through
 * client_enter/client_leave: nested callbacks only leave a note (again,
 * dead), and the outermost one acts on it. client_leave returns false when
 * the client is gone.
 */
static bool client_enter(struct imap_client *c)
{
	if (c->busy) {
		c->again = true;
		return false;
	}
	c->busy = true;
	log_set_session(c->sid);
	return true;
}

static bool client_leave(struct imap_client *c)
{
	c->busy = false;
	log_set_session(NULL);
	if (c->dead || (c->closing && (c->bev == NULL || imap_output_pending(c) == 0))) {
		client_destroy(c);
		return false;
	}
	return true;
}

/* ---- message attributes ---- */

void imap_write_msg_flags(struct imap_client *c, uint32_t seq, buf_t *out)
{
	static const struct {
		uint32_t flag;
		const char *name;
	} sys[] = {
		{ MAIL_ANSWERED, "\\Answered" }, { MAIL_FLAGGED, "\\Flagged" },
		{ MAIL_DELETED, "\\Deleted" },   { MAIL_SEEN, "\\Seen" },
		{ MAIL_DRAFT, "\\Draft" },       { MAIL_FORWARDED, "$Forwarded" },
	};
	const struct mail_index_record *r = mailbox_record(c->box, seq);
	bool first = true;
	buf_append_byte(out, '(');
	if (r != NULL) {
		for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
			if (r->flags & sys[i].flag) {
				if (!first)
					buf_append_byte(out, ' ');
				buf_append_cstr(out, sys[i].name);
				first = false;
			}
		}
		for (unsigned k = 0; k < mailbox_keyword_count(c->box); k++) {
			if (r->keywords & (UINT64_C(1) << k)) {
				if (!first)
					buf_append_byte(out, ' ');
				buf_append_cstr(out, mailbox_keyword_name(c->box, k));
				first = false;
			}
		}
	}
	/* \Recent is gone from IMAP4rev2 (RFC 9051 appendix E) */
	if (!c->rev2 && mailbox_is_recent(c->box, seq)) {
		if (!first)
			buf_append_byte(out, ' ');
		buf_append_cstr(out, "\\Recent");
	}
	buf_append_byte(out, ')');
}

static void write_flag_list(struct imap_client *c, buf_t *b, bool perm)
{
	buf_append_cstr(b, "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded");
	for (unsigned k = 0; k < mailbox_keyword_count(c->box); k++)
		buf_printf(b, " %s", mailbox_keyword_name(c->box, k));
	if (perm && mailbox_keywords_room(c->box))
		buf_append_cstr(b, " \\*");
	buf_append_byte(b, ')');
}

void imap_send_flags(struct imap_client *c)
{
	buf_t b;
	buf_init(&b, 0);
	buf_append_cstr(&b, "* FLAGS ");
	write_flag_list(c, &b, false);
	buf_append_cstr(&b, "\r\n* OK [PERMANENTFLAGS ");
	if (c->readonly)
		buf_append_cstr(&b, "()");
	else
		write_flag_list(c, &b, true);
	buf_append_cstr(&b, "] Flags permitted.\r\n");
	imap_out_buf(c, &b);
	buf_free(&b);
	c->keywords_sent = mailbox_keyword_count(c->box);
}

void imap_enable_condstore(struct imap_client *c)
{
	if (c->condstore)
		return;
	c->condstore = true;
	if (c->box != NULL)
		imap_outf(c, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
			  (unsigned long long)mailbox_highestmodseq(c->box));
}

/* ---- untagged updates ---- */

/*
 * Bring the selected view up to date and tell the client (RFC 9051 7.5.1
 * for when EXPUNGE may go out; RFC 7162 3.2.10 VANISHED instead of EXPUNGE
 * after ENABLE QRESYNC). Returns -1 when the mailbox is gone (the client is
 * then closing).
 */
static int client_sync(struct imap_client *c, bool allow_expunge)
{
	struct mailbox_changes ch;
	char *error = NULL;
	if (c->box == NULL)
		return 0;
	int r = mailbox_sync(c->box, allow_expunge ? 0 : MAILBOX_SYNC_NO_EXPUNGE, &ch, &error);
	if (r < 0) {
		if (r == MAIL_ERR_NOTFOUND) {
			imap_out_cstr(c, "* BYE Selected mailbox was deleted, have to disconnect.\r\n");
			free(error);
			close_after_flush(c);
			return -1;
		}
		log_warn("imap user=%s sync %s: %s", c->user, mailbox_name(c->box), error);
		free(error);
		return 0;
	}
	buf_t b;
	buf_init(&b, 0);
	if (ch.n_expunged > 0) {
		if (c->qresync) {
			struct imap_seqset set;
			imap_seqset_init(&set, SIZE_MAX / 2);
			for (size_t i = 0; i < ch.n_expunged; i++)
				imap_seqset_add(&set, ch.expunged_uids[i], ch.expunged_uids[i]);
			buf_append_cstr(&b, "* VANISHED ");
			imap_seqset_format(&set, &b);
			buf_append_cstr(&b, "\r\n");
			imap_seqset_free(&set);
		} else {
			for (size_t i = 0; i < ch.n_expunged; i++)
				buf_printf(&b, "* %u EXPUNGE\r\n", ch.expunged_seqs[i]);
		}
	}
	if (mailbox_keyword_count(c->box) != c->keywords_sent) {
		imap_out_buf(c, &b);
		buf_reset(&b);
		imap_send_flags(c);
	}
	if (ch.count != ch.old_count - ch.n_expunged || ch.recent != c->recent_sent) {
		buf_printf(&b, "* %u EXISTS\r\n", ch.count);
		if (!c->rev2)
			buf_printf(&b, "* %u RECENT\r\n", ch.recent);
		c->recent_sent = ch.recent;
	}
	for (size_t i = 0; i < ch.n_changed; i++) {
		uint32_t seq = ch.changed_seqs[i];
		buf_printf(&b, "* %u FETCH (FLAGS ", seq);
		imap_write_msg_flags(c, seq, &b);
		if (c->qresync)
			buf_printf(&b, " UID %u", mailbox_uid(c->box, seq));
		const struct mail_index_record *rec = mailbox_record(c->box, seq);
		if (c->condstore && rec != NULL)
			buf_printf(&b, " MODSEQ (%llu)", (unsigned long long)rec->modseq);
		buf_append_cstr(&b, ")\r\n");
	}
	imap_out_buf(c, &b);
	buf_free(&b);
	mailbox_changes_free(&ch);
	return 0;
}

/* ---- ending a command ---- */

static void cmd_finish(struct imap_cmd *cmd)
{
	if (cmd->state_free != NULL && cmd->state != NULL)
		cmd->state_free(cmd->state);
	cmd->state = NULL;
	cmd->state_free = NULL;
	cmd->cont = NULL;
	cmd->finished = true;
}

static void tagged(struct imap_cmd *cmd, const char *status, const char *fmt, va_list ap)
{
	struct imap_client *c = cmd->c;
	buf_t b;
	buf_init(&b, 0);
	buf_printf(&b, "%s %s ", cmd->tag, status);
	buf_vprintf(&b, fmt, ap);
	buf_append_cstr(&b, "\r\n");
	imap_out_buf(c, &b);
	buf_free(&b);
	cmd_finish(cmd);
}

/* RFC 9051 7.5.1: no EXPUNGE during FETCH, STORE or SEARCH (and SORT,
 * THREAD: RFC 5256 4) by sequence number; the UID forms may get them. */
static bool expunge_allowed(const struct imap_cmd *cmd)
{
	if (cmd->uid)
		return true;
	static const char *const no[] = { "FETCH", "STORE", "SEARCH", "SORT", "THREAD" };
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcmp(cmd->name, no[i]) == 0)
			return false;
	return true;
}

void imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	if (client_sync(cmd->c, expunge_allowed(cmd)) < 0) {
		cmd_finish(cmd);
		return;
	}
	va_start(ap, fmt);
	tagged(cmd, "OK", fmt, ap);
	va_end(ap);
	cmd->c->bad = 0;
}

void imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tagged(cmd, "NO", fmt, ap);
	va_end(ap);
}

void imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tagged(cmd, "BAD", fmt, ap);
	va_end(ap);
	cmd->c->bad++;
}

void imap_cmd_mail_error(struct imap_cmd *cmd, int err, const char *error, bool trycreate)
{
	const char *text = error != NULL ? error : "Failed";
	switch (err) {
	case MAIL_ERR_NOTFOUND:
		imap_cmd_no(cmd, "[%s] %s", trycreate ? "TRYCREATE" : "NONEXISTENT", text);
		break;
	case MAIL_ERR_EXISTS:
		imap_cmd_no(cmd, "[ALREADYEXISTS] %s", text);
		break;
	case MAIL_ERR_INVALID:
		imap_cmd_no(cmd, "[CANNOT] %s", text);
		break;
	case MAIL_ERR_OVERQUOTA:
		imap_cmd_no(cmd, "[OVERQUOTA] %s", text);
		break;
	case MAIL_ERR_LIMIT:
		imap_cmd_no(cmd, "[LIMIT] %s", text);
		break;
	case MAIL_ERR_EXPUNGED:
		imap_cmd_no(cmd, "[EXPUNGEISSUED] %s", text);
		break;
	default:
		/* the details are in the log, not for the client */
		log_error("imap user=%s %s: %s", cmd->c->user, cmd->name, text);
		imap_cmd_no(cmd, "[SERVERBUG] Internal error occurred. Refer to server log for more information.");
		break;
	}
}

/* ---- arguments ---- */

int imap_arg_seqset(struct imap_client *c, const struct imap_arg *arg, bool uid,
		    struct imap_seqset *seqs_r, const char **error_r)
{
	const char *s;
	uint32_t count = c->box != NULL ? mailbox_count(c->box) : 0;
	struct imap_seqset parsed;
	const struct imap_seqset *uids = &parsed;

	imap_seqset_clear(seqs_r);
	if (!imap_arg_get_atom(arg, &s)) {
		*error_r = "Invalid sequence set";
		return -1;
	}
	if (!uid && strcmp(s, "$") != 0) {
		if (imap_seqset_parse(seqs_r, s, strlen(s), count, error_r) < 0)
			return -1;
		if (imap_seqset_max(seqs_r) <= count)
			return 0;
		imap_seqset_clear(seqs_r);
		if (count == 0 && strchr(s, '*') != NULL)
			return 0;	/* "1:*" of an empty mailbox: nothing */
		*error_r = "Invalid message sequence number";
		return -1;
	}
	imap_seqset_init(&parsed, 0);
	if (strcmp(s, "$") == 0) {
		/* RFC 5182 2.1: the saved result, kept as UIDs */
		uids = &c->searchres;
	} else if (imap_seqset_parse(&parsed, s, strlen(s), count ? mailbox_uid(c->box, count) : 0,
				     error_r) < 0) {
		imap_seqset_free(&parsed);
		return -1;
	}
	/* the UIDs that exist, as runs of sequence numbers */
	int ret = 0;
	for (size_t i = 0; i < uids->count && ret == 0; i++) {
		uint32_t lo = mailbox_seq_ge(c->box, uids->ranges[i].lo);
		uint32_t hi = uids->ranges[i].hi == UINT32_MAX ? count + 1
							       : mailbox_seq_ge(c->box, uids->ranges[i].hi + 1);
		if (lo < hi && lo <= count && imap_seqset_add(seqs_r, lo, hi - 1) < 0) {
			*error_r = "Too many ranges";
			ret = -1;
		}
	}
	imap_seqset_free(&parsed);
	return ret;
}

int imap_arg_mailbox(struct imap_client *c, const struct imap_arg *arg, char **name_r,
		     const char **error_r)
{
	const char *s;
	size_t len;
	*name_r = NULL;
	if (!imap_arg_get_astring(arg, &s, &len) || memchr(s, '\0', len) != NULL) {
		*error_r = "Invalid mailbox name";
		return -1;
	}
	buf_t b;
	buf_init(&b, 4096);
	if (c->utf8) {
		/* RFC 6855 3: UTF-8 names after ENABLE UTF8=ACCEPT */
		if (!imap_utf8_is_valid(s, len) || buf_append(&b, s, len) < 0) {
			buf_free(&b);
			*error_r = "Mailbox name is not valid UTF-8";
			return -1;
		}
	} else if (imap_utf7_to_utf8(s, len, &b) < 0) {
		buf_free(&b);
		*error_r = "Mailbox name is not valid modified UTF-7";
		return -1;
	}
	char *name = xstrdup(buf_cstr(&b));
	buf_free(&b);
	/* RFC 9051 5.1: INBOX is case-insensitive, also as a parent */
	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == MAIL_SEPARATOR))
		memcpy(name, "INBOX", 5);
	*name_r = name;
	return 0;
}

int imap_arg_flags(const struct imap_arg *arg, uint32_t *flags_r, const char ***keywords_r,
		   size_t *nkeywords_r, const char **error_r)
{
	static const struct {
		const char *name;
		uint32_t flag;
	} sys[] = {
		{ "\\Answered", MAIL_ANSWERED }, { "\\Flagged", MAIL_FLAGGED },
		{ "\\Deleted", MAIL_DELETED },   { "\\Seen", MAIL_SEEN },
		{ "\\Draft", MAIL_DRAFT },
	};
	const struct imap_arg *list;
	size_t n;
	*flags_r = 0;
	*keywords_r = NULL;
	*nkeywords_r = 0;
	if (!imap_arg_get_list(arg, &list, &n)) {
		list = arg;
		n = 1;
	}
	const char **kw = xcalloc(n + 1, sizeof(*kw));
	size_t nkw = 0;
	for (size_t i = 0; i < n; i++) {
		const char *f;
		if (!imap_arg_get_atom(&list[i], &f) || !imap_flag_is_valid(f) || strcmp(f, "\\*") == 0) {
			*error_r = "Invalid flag";
			goto fail;
		}
		if (f[0] == '\\') {
			size_t k;
			for (k = 0; k < sizeof(sys) / sizeof(sys[0]); k++)
				if (strcasecmp(f, sys[k].name) == 0)
					break;
			if (k == sizeof(sys) / sizeof(sys[0])) {
				*error_r = strcasecmp(f, "\\Recent") == 0 ? "\\Recent cannot be changed"
									  : "Invalid system flag";
				goto fail;
			}
			*flags_r |= sys[k].flag;
		} else if (strcasecmp(f, "$Forwarded") == 0) {
			*flags_r |= MAIL_FORWARDED;
		} else {
			kw[nkw++] = f;
		}
	}
	*keywords_r = kw;
	*nkeywords_r = nkw;
	return 0;
fail:
	free(kw);
	return -1;
}

/* ---- small commands ---- */

static void caps_opts(struct imap_client *c, struct imap_caps_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tls = true;
	o->login_allowed = true;
	o->appendlimit = (uint64_t)c->ctx->cfg->imap_append_limit;
	o->compress = c->ctx->cfg->imap_compress && !c->compressed;
}

static enum imap_cmd_result cmd_capability(struct imap_cmd *cmd)
{
	struct imap_caps_opts o;
	buf_t b;
	caps_opts(cmd->c, &o);
	buf_init(&b, 0);
	buf_append_cstr(&b, "* CAPABILITY ");
	imap_caps_postlogin(&b, &o);
	buf_append_cstr(&b, "\r\n");
	imap_out_buf(cmd->c, &b);
	buf_free(&b);
	imap_cmd_ok(cmd, "Capability completed.");
	return IMAP_CMD_DONE;
}

static enum imap_cmd_result cmd_noop(struct imap_cmd *cmd)
{
	/* CHECK (RFC 3501 6.4.1; gone in rev2) is a NOOP here: every
	   change is durable when its command completes */
	imap_cmd_ok(cmd, "%s completed.", cmd->name[0] == 'C' ? "Check" : "NOOP");
	return IMAP_CMD_DONE;
}

static enum imap_cmd_result cmd_logout(struct imap_cmd *cmd)
{
	imap_out_cstr(cmd->c, "* BYE Logging out\r\n");
	imap_cmd_ok(cmd, "Logout completed.");
	close_after_flush(cmd->c);
	return IMAP_CMD_DONE;
}

static enum imap_cmd_result cmd_already_authenticated(struct imap_cmd *cmd)
{
	imap_cmd_bad(cmd, "Already authenticated");
	return IMAP_CMD_DONE;
}

/* RFC 5161 ENABLE; RFC 9051 6.3.1 */
static enum imap_cmd_result cmd_enable(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	buf_t b;
	if (cmd->count == 0) {
		imap_cmd_bad(cmd, "ENABLE needs capability names");
		return IMAP_CMD_DONE;
	}
	buf_init(&b, 0);
	buf_append_cstr(&b, "* ENABLED");
	for (size_t i = 0; i < cmd->count; i++) {
		const char *cap;
		if (!imap_arg_get_atom(&cmd->args[i], &cap)) {
			buf_free(&b);
			imap_cmd_bad(cmd, "Invalid capability name");
			return IMAP_CMD_DONE;
		}
		if (strcasecmp(cap, "CONDSTORE") == 0 && !c->condstore) {
			imap_enable_condstore(c);
			buf_append_cstr(&b, " CONDSTORE");
		} else if (strcasecmp(cap, "QRESYNC") == 0 && !c->qresync) {
			c->qresync = true;
			imap_enable_condstore(c);
			buf_append_cstr(&b, " QRESYNC");
		} else if (strcasecmp(cap, "IMAP4rev2") == 0 && !c->rev2) {
			c->rev2 = true;
			buf_append_cstr(&b, " IMAP4rev2");
		} else if (strcasecmp(cap, "UTF8=ACCEPT") == 0 && !c->utf8) {
			c->utf8 = true;
			c->wflags |= IMAP_WRITE_UTF8;
			buf_append_cstr(&b, " UTF8=ACCEPT");
		}
	}
	buf_append_cstr(&b, "\r\n");
	imap_out_buf(c, &b);
	buf_free(&b);
	imap_cmd_ok(cmd, "Enabled.");
	return IMAP_CMD_DONE;
}

/* RFC 2971 */
static enum imap_cmd_result cmd_id(struct imap_cmd *cmd)
{
	imap_out_cstr(cmd->c, "* ID (\"name\" \"youju\" \"vendor\" \"youju\")\r\n");
	imap_cmd_ok(cmd, "ID completed.");
	return IMAP_CMD_DONE;
}

/* RFC 2342: one personal namespace, no others */
static enum imap_cmd_result cmd_namespace(struct imap_cmd *cmd)
{
	imap_out_cstr(cmd->c, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	imap_cmd_ok(cmd, "Namespace completed.");
	return IMAP_CMD_DONE;
}

static void idle_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_client *c = arg;
	c->notified = false;
	if (c->closing && !c->busy) {
		/* socket_drained, or a notify that came too late */
		if (imap_output_pending(c) == 0)
			client_destroy(c);
		return;
	}
	if (!client_enter(c))
		return;
	if (c->idling && !c->closing)
		client_sync(c, true);
	client_leave(c);
}

static void box_notify(struct mailbox *box, void *ctx)
{
	struct imap_client *c = ctx;
	/* never sync inside another view's commit: do it from the loop */
	if (c->idling && !c->notified) {
		c->notified = true;
		event_active(c->wakeup, EV_TIMEOUT, 0);
	}
}

void imap_client_selected(struct imap_client *c)
{
	mailbox_set_notify(c->box, box_notify, c);
	c->keywords_sent = mailbox_keyword_count(c->box);
}

/* RFC 2177, RFC 9051 6.3.13 */
static enum imap_cmd_result cmd_idle(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	if (cmd->count != 0) {
		imap_cmd_bad(cmd, "IDLE takes no arguments");
		return IMAP_CMD_DONE;
	}
	/* the parser reads the DONE line next: the command it holds goes,
	   so the tag must be our own copy */
	cmd->state = xstrdup(cmd->tag);
	cmd->state_free = free;
	cmd->tag = cmd->state;
	cmd->args = NULL;
	cmd->count = 0;
	imap_parser_reset(c->parser);
	imap_out_cstr(c, "+ idling\r\n");
	c->idling = true;
	client_sync(c, true);
	/* the tagged reply comes at DONE (client_process) */
	return IMAP_CMD_MORE;
}

/* RFC 4978 */
static enum imap_cmd_result cmd_compress(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	const char *alg;
	if (cmd->count != 1 || !imap_arg_get_atom(&cmd->args[0], &alg)) {
		imap_cmd_bad(cmd, "COMPRESS needs one algorithm");
	} else if (strcasecmp(alg, "DEFLATE") != 0) {
		imap_cmd_no(cmd, "Unknown compression algorithm");
	} else if (c->compressed) {
		imap_cmd_no(cmd, "[COMPRESSIONACTIVE] Compression already active");
	} else if (!c->ctx->cfg->imap_compress) {
		imap_cmd_no(cmd, "Compression is disabled");
	} else {
		imap_cmd_ok(cmd, "DEFLATE active");
		c->bev = imap_compress_start(c->bev);
		c->compressed = true;
	}
	return IMAP_CMD_DONE;
}

/* ---- the command table ---- */

enum cmd_flags {
	CMD_SELECTED = 0x01,	/* needs a selected mailbox */
	CMD_UID = 0x02,		/* may follow UID */
};

struct cmd_def {
	const char *name;
	enum imap_cmd_result (*handler)(struct imap_cmd *cmd);
	unsigned flags;
};

static const struct cmd_def commands[] = {
	{ "APPEND", imap_cmd_append, 0 },
	{ "AUTHENTICATE", cmd_already_authenticated, 0 },
	{ "CAPABILITY", cmd_capability, 0 },
	{ "CHECK", cmd_noop, CMD_SELECTED },
	{ "CLOSE", imap_cmd_close, CMD_SELECTED },
	{ "COMPRESS", cmd_compress, 0 },
	{ "COPY", imap_cmd_copy, CMD_SELECTED | CMD_UID },
	{ "CREATE", imap_cmd_create, 0 },
	{ "DELETE", imap_cmd_delete, 0 },
	{ "ENABLE", cmd_enable, 0 },
	{ "EXAMINE", imap_cmd_select, 0 },
	{ "EXPUNGE", imap_cmd_expunge, CMD_SELECTED | CMD_UID },
	{ "FETCH", imap_cmd_fetch, CMD_SELECTED | CMD_UID },
	{ "GETQUOTA", imap_cmd_getquota, 0 },
	{ "GETQUOTAROOT", imap_cmd_getquota, 0 },
	{ "ID", cmd_id, 0 },
	{ "IDLE", cmd_idle, 0 },
	{ "LIST", imap_cmd_list, 0 },
	{ "LOGIN", cmd_already_authenticated, 0 },
	{ "LOGOUT", cmd_logout, 0 },
	{ "LSUB", imap_cmd_list, 0 },
	{ "MOVE", imap_cmd_copy, CMD_SELECTED | CMD_UID },
	{ "NAMESPACE", cmd_namespace, 0 },
	{ "NOOP", cmd_noop, 0 },
	{ "RENAME", imap_cmd_rename, 0 },
	{ "SEARCH", imap_cmd_search, CMD_SELECTED | CMD_UID },
	{ "SELECT", imap_cmd_select, 0 },
	{ "SETQUOTA", imap_cmd_getquota, 0 },
	{ "SORT", imap_cmd_sort, CMD_SELECTED | CMD_UID },
	{ "STARTTLS", cmd_already_authenticated, 0 },
	{ "STATUS", imap_cmd_status, 0 },
	{ "STORE", imap_cmd_store, CMD_SELECTED | CMD_UID },
	{ "SUBSCRIBE", imap_cmd_subscribe, 0 },
	{ "THREAD", imap_cmd_thread, CMD_SELECTED | CMD_UID },
	{ "UNSELECT", imap_cmd_close, CMD_SELECTED },
	{ "UNSUBSCRIBE", imap_cmd_subscribe, 0 },
};

static const struct cmd_def *find_command(const char *name)
{
	size_t lo = 0, hi = sizeof(commands) / sizeof(commands[0]);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int d = strcmp(name, commands[mid].name);
		if (d == 0)
			return &commands[mid];
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void cmd_free(struct imap_client *c)
{
	struct imap_cmd *cmd = c->running;
	if (cmd == NULL)
		return;
	if (cmd->state_free != NULL && cmd->state != NULL)
		cmd->state_free(cmd->state);
	free(cmd);
	c->running = NULL;
	imap_parser_reset(c->parser);
}

/* Run the command the parser holds. */
static void dispatch(struct imap_client *c, const struct imap_command *pc)
{
	struct imap_cmd *cmd = xcalloc(1, sizeof(*cmd));
	cmd->c = c;
	cmd->tag = pc->tag;
	cmd->name = pc->name;
	cmd->args = pc->args;
	cmd->count = pc->count;
	c->running = cmd;
	c->n_commands++;

	if (strcmp(pc->name, "UID") == 0) {
		const char *sub;
		if (pc->count == 0 || !imap_arg_get_atom(&pc->args[0], &sub)) {
			imap_cmd_bad(cmd, "UID needs a command");
			goto done;
		}
		/* the parser upper-cases only the command name */
		char up[16];
		size_t i;
		for (i = 0; sub[i] && i < sizeof(up) - 1; i++)
			up[i] = (char)(sub[i] >= 'a' && sub[i] <= 'z' ? sub[i] - 32 : sub[i]);
		up[i] = '\0';
		const struct cmd_def *d = find_command(up);
		if (d == NULL || !(d->flags & CMD_UID) || sub[i] != '\0') {
			imap_cmd_bad(cmd, "Unknown UID command");
			goto done;
		}
		cmd->name = d->name;
		cmd->uid = true;
		cmd->args++;
		cmd->count--;
	}
	const struct cmd_def *d = find_command(cmd->name);
	if (d == NULL) {
		imap_cmd_bad(cmd, "Unknown command %.40s", cmd->name);
		goto done;
	}
	cmd->name = d->name;
	if ((d->flags & CMD_SELECTED) && c->box == NULL) {
		imap_cmd_bad(cmd, "No mailbox selected");
		goto done;
	}
	if (d->handler(cmd) == IMAP_CMD_MORE && !cmd->finished)
		return;	/* continues (cont, or DONE for IDLE) */
done:
	cmd_free(c);
}

/* ---- input ---- */

static void idle_done(struct imap_client *c, const char *line, size_t len)
{
	struct imap_cmd *cmd = c->running;
	c->idling = false;
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		imap_cmd_ok(cmd, "Idle completed.");
	else
		imap_cmd_bad(cmd, "Expected DONE");
	cmd_free(c);
}

static void literal_wait(struct imap_client *c)
{
	bool lit8, too_big;
	const char *tag = imap_parser_tag(c->parser);
	const char *name = imap_parser_name(c->parser);
	(void)imap_parser_literal_size(c->parser, &lit8, &too_big);
	if (!too_big && imap_parser_literal_accept(c->parser) == 0) {
		imap_out_cstr(c, "+ OK\r\n");
		return;
	}
	if (too_big)
		imap_parser_literal_refuse(c->parser);
	/* RFC 7889 / RFC 9051 7.1: refused before the client sends it */
	if (name != NULL && strcmp(name, "APPEND") == 0)
		imap_outf(c, "%s NO [TOOBIG] Message is larger than the APPENDLIMIT\r\n", tag);
	else
		imap_outf(c, "%s BAD Literal too large\r\n", tag ? tag : "*");
}

static void parse_error(struct imap_client *c)
{
	enum imap_parse_error code;
	bool in_sync;
	const char *text = imap_parser_error(c->parser, &code, &in_sync);
	const char *tag = imap_parser_tag(c->parser);
	if (!in_sync) {
		imap_outf(c, "* BYE %s\r\n", text);
		close_after_flush(c);
		return;
	}
	imap_outf(c, "%s BAD %s%s\r\n", tag ? tag : "*",
		  code == IMAP_PARSE_ERR_LITERAL_TOO_BIG ? "[TOOBIG] " : "", text);
	c->bad++;
}

static void reset_idle_timer(struct imap_client *c)
{
	int64_t t = c->ctx->cfg->imap_idle_timeout;
	struct timeval tv = { t / 1000, (t % 1000) * 1000 };
	evtimer_add(c->timer, &tv);
}

static void process_input(struct imap_client *c)
{
	struct evbuffer *in;
	while (!c->closing && !c->dead && c->bev != NULL) {
		if (c->bad >= IMAP_MAX_BAD) {
			imap_out_cstr(c, "* BYE Too many invalid commands.\r\n");
			close_after_flush(c);
			return;
		}
		/* a running command first, then input */
		if (c->running != NULL && !c->idling) {
			if (imap_output_pending(c) > IMAP_OUTPUT_LOW)
				break;
			struct imap_cmd *cmd = c->running;
			if (cmd->cont == NULL || cmd->cont(cmd) == IMAP_CMD_DONE || cmd->finished)
				cmd_free(c);
			continue;
		}
		if (imap_output_pending(c) > IMAP_OUTPUT_HIGH)
			break;	/* the client does not read: stop reading it */
		in = bufferevent_get_input(c->bev);
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		size_t used = 0;
		if (c->idling) {
			const char *line;
			size_t len;
			enum imap_parse_result r = imap_parser_read_line(c->parser, v.iov_base, v.iov_len,
									 &line, &len, &used);
			if (r == IMAP_PARSE_DONE) {
				char *copy = xstrndup(line, len);
				evbuffer_drain(in, used);
				idle_done(c, copy, len);
				free(copy);
				continue;
			}
			evbuffer_drain(in, used);
			if (r == IMAP_PARSE_ERROR) {
				c->idling = false;
				imap_cmd_bad(c->running, "Invalid line");
				cmd_free(c);
			}
			continue;
		}
		enum imap_parse_result r = imap_parser_feed(c->parser, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		switch (r) {
		case IMAP_PARSE_NEED_MORE:
			break;
		case IMAP_PARSE_DONE:
			dispatch(c, imap_parser_command(c->parser));
			break;
		case IMAP_PARSE_LITERAL_WAIT:
			literal_wait(c);
			break;
		case IMAP_PARSE_ERROR:
			parse_error(c);
			break;
		}
	}
	if (c->closing || c->dead || c->bev == NULL)
		return;
	/* In the middle of a command (a literal and the rest of its line
	   still to come) nothing is sent that could carry our ACK, and a
	   client whose last small write waits for that ACK (Nagle) stalls
	   for the peer's delayed-ACK time, 40 ms on Linux: acknowledge at
	   once instead. */
	if (c->running == NULL && imap_parser_tag(c->parser) != NULL && c->sock >= 0) {
		int one = 1;
		(void)setsockopt(c->sock, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	}
	/* backpressure: do not read while output is piling up or a command
	   waits for output to drain */
	if (imap_output_pending(c) > IMAP_OUTPUT_HIGH || (c->running != NULL && !c->idling))
		bufferevent_disable(c->bev, EV_READ);
	else
		bufferevent_enable(c->bev, EV_READ);
	reset_idle_timer(c);
}

/* Run commands and read input until blocked; then decide whether to read
 * more (see process_input). */
static void client_process(struct imap_client *c)
{
	if (!client_enter(c))
		return;
	do {
		c->again = false;
		process_input(c);
	} while (c->again && !c->closing && !c->dead);
	client_leave(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	client_process(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct imap_client *c = arg;
	if (c->busy) {
		c->again = true;
		return;
	}
	if (c->closing) {
		if (imap_output_pending(c) == 0)
			client_destroy(c);
		return;
	}
	client_process(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct imap_client *c = arg;
	log_set_session(c->sid);
	if (what & BEV_EVENT_TIMEOUT)
		log_info("imap user=%s disconnected: output not read for too long", c->user);
	else if (!c->closing)
		log_info("imap user=%s disconnected", c->user);
	log_set_session(NULL);
	if (c->busy) {
		c->dead = true;
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		return;
	}
	client_destroy(c);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct imap_client *c = arg;
	if (!client_enter(c))
		return;
	imap_out_cstr(c, "* BYE Disconnected for inactivity.\r\n");
	close_after_flush(c);
	client_leave(c);
}

static void client_destroy(struct imap_client *c)
{
	struct imap_client **pp = &clients;
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	log_info("imap logout user=%s commands=%llu", c->user, (unsigned long long)c->n_commands);
	if (c->running != NULL) {
		struct imap_cmd *cmd = c->running;
		if (cmd->state_free != NULL && cmd->state != NULL)
			cmd->state_free(cmd->state);
		free(cmd);
	}
	if (c->box != NULL)
		mailbox_close(&c->box);
	if (c->mu != NULL)
		mail_user_close(&c->mu);
	if (c->drain_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(bufferevent_get_underlying(c->bev)),
					 c->drain_cb);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	event_free(c->timer);
	event_free(c->wakeup);
	imap_parser_destroy(&c->parser);
	imap_seqset_free(&c->searchres);
	free(c->user);
	free(c);
}

/* ---- start ---- */

void imap_client_start(struct role_ctx *ctx, const char *user, const char *ip, const char *tls,
		       const char *pending, size_t pending_len, uint64_t quota, int fd)
{
	char *error = NULL;
	struct imap_client *c = xcalloc(1, sizeof(*c));
	c->ctx = ctx;
	c->user = xstrdup(user);
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	snprintf(c->sid, sizeof(c->sid), "m%08x%04x", (unsigned)time(NULL), (unsigned)(++next_sid & 0xffff));
	imap_seqset_init(&c->searchres, 0);
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_DEFAULT;
	lim.max_literal = (uint64_t)ctx->cfg->imap_append_limit;
	c->parser = imap_parser_create(&lim);
	int one = 1;
	c->sock = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 ? fd : -1;
	c->bev = bufferevent_socket_new(ctx->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, IMAP_OUTPUT_LOW, 0);
	int64_t wt = ctx->cfg->imap_write_timeout;
	struct timeval wtv = { wt / 1000, (wt % 1000) * 1000 };
	bufferevent_set_timeouts(c->bev, NULL, &wtv);
	c->timer = evtimer_new(ctx->base, on_timeout, c);
	c->wakeup = event_new(ctx->base, -1, 0, idle_notify_cb, c);
	c->next = clients;
	clients = c;
	log_set_session(c->sid);
	if (mail_store_open(ctx->cfg, user, quota, &c->mu, &error) < 0 ||
	    mail_user_ensure_special(c->mu, &error) < 0) {
		log_error("imap user=%s cannot open the mail store: %s", user, error);
		free(error);
		imap_out_cstr(c, "* BYE [UNAVAILABLE] Cannot open the mailbox, try again later\r\n");
		close_after_flush(c);
		log_set_session(NULL);
		return;
	}
	log_info("imap session user=%s client=%s%s%s", user, ip, tls[0] ? " tls=" : "", tls);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (pending_len)
		evbuffer_prepend(bufferevent_get_input(c->bev), pending, pending_len);
	client_process(c);
	log_set_session(NULL);
}

void imap_client_close_all(void)
{
	for (struct imap_client *c = clients, *next; c; c = next) {
		next = c->next;
		if (c->closing)
			continue;
		imap_out_cstr(c, "* BYE Server shutting down.\r\n");
		close_after_flush(c);
	}
}
