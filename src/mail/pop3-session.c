#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "line-input.h"
#include "mail-store.h"
#include "log.h"
#include "mailbox.h"
#include "pop3-command.h"
#include "pop3-session.h"
#include "smtp-input.h"
#include "xalloc.h"

#define POP3_MAX_BAD 20
#define POP3_READ_CHUNK (64 * 1024)

struct pop3_msg {
	uint32_t seq;		/* in the session's view */
	uint32_t uid;
	uint64_t size;		/* octets as sent: CRLF line ends (RFC 1939 11) */
	bool deleted;
};

struct pop3_session {
	struct pop3_session *next;
	struct role_ctx *ctx;
	struct bufferevent *bev;
	char *user;
	char ip[64];
	struct mail_user *mu;
	struct mailbox *box;
	struct pop3_msg *msgs;
	uint32_t count;
	uint32_t uidvalidity;
	struct smtp_line_reader lines;
	unsigned bad;
	struct event *timer;
	bool closing;
	uint64_t retrieved, deleted;
};

static struct pop3_session *sessions;

unsigned pop3_session_count(void)
{
	unsigned n = 0;
	for (struct pop3_session *s = sessions; s; s = s->next)
		n++;
	return n;
}

static void destroy(struct pop3_session *s)
{
	struct pop3_session **pp = &sessions;
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	log_info("pop3 logout user=%s retrieved=%llu deleted=%llu", s->user, (unsigned long long)s->retrieved,
		 (unsigned long long)s->deleted);
	if (s->box)
		mailbox_close(&s->box);
	if (s->mu)
		mail_user_close(&s->mu);
	if (s->bev)
		bufferevent_free(s->bev);
	if (s->timer)
		event_free(s->timer);
	free(s->msgs);
	free(s->user);
	free(s);
}

static void out(struct pop3_session *s, const char *text)
{
	bufferevent_write(s->bev, text, strlen(text));
	bufferevent_write(s->bev, "\r\n", 2);
}

static void close_after_flush(struct pop3_session *s)
{
	s->closing = true;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		destroy(s);
}

/* A message number from the client: 1..count and not deleted. */
static struct pop3_msg *msg_arg(struct pop3_session *s, const char *arg)
{
	uint32_t n;
	if (pop3_msgnum(arg, &n) < 0 || n > s->count) {
		out(s, "-ERR There's no message with that number");
		return NULL;
	}
	if (s->msgs[n - 1].deleted) {
		out(s, "-ERR Message is deleted");
		return NULL;
	}
	return &s->msgs[n - 1];
}

/* Send the message with LF turned into CRLF and leading dots doubled
 * (RFC 1939 3, byte-stuffing), up to `lines` body lines when lines >= 0
 * (TOP). */
static int send_message(struct pop3_session *s, struct pop3_msg *m, long lines)
{
	int fd;
	uint64_t size;
	char *error = NULL;
	if (mailbox_open_message(s->box, m->seq, &fd, &size, &error) < 0) {
		log_warn("pop3 user=%s uid=%u: %s", s->user, m->uid, error);
		free(error);
		out(s, "-ERR [SYS/TEMP] Message is not available");
		return -1;
	}
	struct evbuffer *o = evbuffer_new();
	char buf[POP3_READ_CHUNK];
	bool bol = true, in_body = false;
	long body_lines = 0;
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
		size_t start = 0;
		for (size_t i = 0; i < (size_t)n; i++) {
			if (bol) {
				if (in_body && lines >= 0 && body_lines >= lines) {
					evbuffer_add(o, buf + start, i - start);
					goto done;
				}
				if (buf[i] == '.') {
					evbuffer_add(o, buf + start, i - start);
					evbuffer_add(o, ".", 1);
					start = i;
				}
			}
			if (buf[i] == '\n') {
				evbuffer_add(o, buf + start, i - start);
				evbuffer_add(o, "\r\n", 2);
				start = i + 1;
				if (in_body)
					body_lines++;
				else if (bol)
					in_body = true;	/* the empty line that ends the header */
				bol = true;
			} else {
				bol = false;
			}
		}
		evbuffer_add(o, buf + start, (size_t)n - start);
	}
	if (!bol)
		evbuffer_add(o, "\r\n", 2);
done:
	close(fd);
	char head[64];
	snprintf(head, sizeof(head), "+OK %llu octets\r\n", (unsigned long long)m->size);
	bufferevent_write(s->bev, head, strlen(head));
	bufferevent_write_buffer(s->bev, o);
	bufferevent_write(s->bev, ".\r\n", 3);
	evbuffer_free(o);
	if (s->ctx->cfg->pop3_mark_seen) {
		if (mailbox_set_flags(s->box, m->seq, MAILBOX_FLAGS_ADD, MAIL_SEEN, NULL, 0, 0, &error) < 0) {
			log_warn("pop3 user=%s uid=%u cannot set \\Seen: %s", s->user, m->uid, error);
			free(error);
		}
	}
	s->retrieved++;
	return 0;
}

static void cmd_stat(struct pop3_session *s)
{
	uint64_t total = 0;
	uint32_t n = 0;
	for (uint32_t i = 0; i < s->count; i++) {
		if (!s->msgs[i].deleted) {
			n++;
			total += s->msgs[i].size;
		}
	}
	char line[64];
	snprintf(line, sizeof(line), "+OK %u %llu", n, (unsigned long long)total);
	out(s, line);
}

static void cmd_list_uidl(struct pop3_session *s, struct pop3_command *cmd, bool uidl)
{
	char line[96];
	if (cmd->nargs == 1) {
		struct pop3_msg *m = msg_arg(s, cmd->args[0]);
		if (m == NULL)
			return;
		if (uidl)
			snprintf(line, sizeof(line), "+OK %u %08x%08x", (unsigned)(m - s->msgs) + 1, s->uidvalidity,
				 m->uid);
		else
			snprintf(line, sizeof(line), "+OK %u %llu", (unsigned)(m - s->msgs) + 1,
				 (unsigned long long)m->size);
		out(s, line);
		return;
	}
	struct evbuffer *o = evbuffer_new();
	evbuffer_add_printf(o, "+OK\r\n");
	for (uint32_t i = 0; i < s->count; i++) {
		if (s->msgs[i].deleted)
			continue;
		if (uidl)
			evbuffer_add_printf(o, "%u %08x%08x\r\n", i + 1, s->uidvalidity, s->msgs[i].uid);
		else
			evbuffer_add_printf(o, "%u %llu\r\n", i + 1, (unsigned long long)s->msgs[i].size);
	}
	evbuffer_add_printf(o, ".\r\n");
	bufferevent_write_buffer(s->bev, o);
	evbuffer_free(o);
}

/* UPDATE state (RFC 1939 6): the deletions happen now or not at all. */
static void cmd_quit(struct pop3_session *s)
{
	char *error = NULL;
	int r = 0;
	for (uint32_t i = 0; i < s->count && r == 0; i++) {
		if (!s->msgs[i].deleted)
			continue;
		r = mailbox_expunge(s->box, s->msgs[i].seq, &error);
		if (r == MAIL_ERR_EXPUNGED) {
			free(error);
			error = NULL;
			r = 0;	/* someone else removed it already: fine */
		}
		if (r == 0)
			s->deleted++;
	}
	if (r == 0)
		r = mailbox_commit(s->box, &error);
	if (r < 0) {
		log_error("pop3 user=%s QUIT: %s", s->user, error);
		free(error);
		out(s, "-ERR [SYS/TEMP] Some deleted messages were not removed");
	} else {
		out(s, "+OK Logging out");
	}
	close_after_flush(s);
}

static void bad(struct pop3_session *s, const char *text)
{
	char line[160];
	snprintf(line, sizeof(line), "-ERR %s", text);
	out(s, line);
	if (++s->bad >= POP3_MAX_BAD) {
		out(s, "-ERR Too many bad commands");
		close_after_flush(s);
	}
}

static void dispatch(struct pop3_session *s, char *line, size_t len)
{
	struct pop3_command cmd;
	const char *error;
	if (pop3_command_parse(line, len, &cmd, &error) < 0) {
		bad(s, error);
		return;
	}
	struct pop3_msg *m;
	switch (cmd.verb) {
	case POP3_STAT:
		cmd_stat(s);
		break;
	case POP3_LIST:
		cmd_list_uidl(s, &cmd, false);
		break;
	case POP3_UIDL:
		cmd_list_uidl(s, &cmd, true);
		break;
	case POP3_RETR:
		if ((m = msg_arg(s, cmd.args[0])) != NULL)
			send_message(s, m, -1);
		break;
	case POP3_TOP: {
		uint32_t lines;
		if ((m = msg_arg(s, cmd.args[0])) == NULL)
			break;
		if (strcmp(cmd.args[1], "0") == 0)
			lines = 0;
		else if (pop3_msgnum(cmd.args[1], &lines) < 0) {
			bad(s, "Invalid number of lines");
			break;
		}
		send_message(s, m, (long)lines);
		break;
	}
	case POP3_DELE:
		if ((m = msg_arg(s, cmd.args[0])) != NULL) {
			m->deleted = true;
			out(s, "+OK Marked to be deleted");
		}
		break;
	case POP3_RSET:
		for (uint32_t i = 0; i < s->count; i++)
			s->msgs[i].deleted = false;
		out(s, "+OK");
		break;
	case POP3_NOOP:
		out(s, "+OK");
		break;
	case POP3_QUIT:
		cmd_quit(s);
		break;
	case POP3_CAPA:
	{
		static const char capa[] = "+OK\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
					   "EXPIRE NEVER\r\nIMPLEMENTATION youju\r\n.\r\n";
		bufferevent_write(s->bev, capa, sizeof(capa) - 1);
	}
		break;
	default:
		bad(s, "Command not valid in this state");
	}
}

static void process(struct pop3_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	while (!s->closing) {
		char *line;
		size_t len;
		enum smtp_line_error lerr;
		int r = line_input_next(in, &s->lines, POP3_LINE_MAX, &line, &len, &lerr);
		if (r == 0)
			break;
		if (r < 0) {
			bad(s, lerr == SMTP_LINE_TOO_LONG ? "Command line too long" : "Invalid line ending");
			continue;
		}
		dispatch(s, line, len);
		free(line);
	}
	if (!s->closing) {
		int64_t t = s->ctx->cfg->pop3_idle_timeout;
		struct timeval tv = { t / 1000, (t % 1000) * 1000 };
		evtimer_add(s->timer, &tv);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	process(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct pop3_session *s = arg;
	if (s->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		destroy(s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	/* a dropped connection never reaches UPDATE: nothing is deleted */
	destroy(arg);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;
	out(s, "-ERR Autologout; idle for too long");
	close_after_flush(s);
}

static int open_inbox(struct pop3_session *s, uint64_t quota, char **error_r)
{
	int r = mail_store_open(s->ctx->cfg, s->user, quota, &s->mu, error_r);
	if (r < 0 || (r = mailbox_open(s->mu, "INBOX", 0, &s->box, error_r)) < 0)
		return -1;
	s->uidvalidity = mailbox_uidvalidity(s->box);
	s->count = mailbox_count(s->box);
	s->msgs = xcalloc(s->count ? s->count : 1, sizeof(*s->msgs));
	for (uint32_t seq = 1; seq <= s->count; seq++) {
		struct pop3_msg *m = &s->msgs[seq - 1];
		m->seq = seq;
		m->uid = mailbox_uid(s->box, seq);
		if (mailbox_get_vsize(s->box, seq, &m->size, error_r) < 0)
			return -1;
	}
	return 0;
}

void pop3_session_start(struct role_ctx *ctx, const char *user, const char *ip, const char *tls,
			const char *pending, size_t pending_len, uint64_t quota, int fd)
{
	char *error = NULL;
	struct pop3_session *s = xcalloc(1, sizeof(*s));
	s->ctx = ctx;
	s->user = xstrdup(user);
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	smtp_line_reader_init(&s->lines, POP3_LINE_MAX);
	s->bev = bufferevent_socket_new(ctx->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	s->timer = evtimer_new(ctx->base, on_timeout, s);
	for (struct pop3_session *o = sessions; o; o = o->next) {
		if (strcasecmp(o->user, user) == 0) {
			/* RFC 2449 8.1.1: one POP3 session per maildrop */
			out(s, "-ERR [IN-USE] Mailbox is locked by another POP3 session");
			s->next = sessions;
			sessions = s;
			log_info("pop3 login user=%s refused: in use", user);
			close_after_flush(s);
			return;
		}
	}
	s->next = sessions;
	sessions = s;
	if (open_inbox(s, quota, &error) < 0) {
		log_error("pop3 user=%s cannot open INBOX: %s", user, error);
		free(error);
		out(s, "-ERR [SYS/TEMP] Cannot open the mailbox, try again later");
		close_after_flush(s);
		return;
	}
	log_info("pop3 login user=%s client=%s messages=%u%s%s", user, ip, s->count, tls[0] ? " tls=" : "",
		 tls[0] ? tls : "");
	out(s, "+OK Logged in");
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (pending_len)
		evbuffer_prepend(bufferevent_get_input(s->bev), pending, pending_len);
	process(s);
}
