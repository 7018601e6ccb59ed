/*
 * POP3 before login: see pop3-login.h. One struct pop3_login per
 * connection; lines from the shared reader, commands from pop3_command_parse,
 * passwords checked by the auth role (login.c), and at success the hand-off
 * to the mail role, which answers the PASS/AUTH itself.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <event2/buffer.h>

#include "line-input.h"
#include "log.h"
#include "login.h"
#include "pop3-command.h"
#include "pop3-login.h"
#include "sasl.h"
#include "smtp-input.h"
#include "xalloc.h"

#define POP3_MAX_BAD 3		/* bad commands before disconnect (Dovecot: 3) */
#define POP3_LOG_USER_MAX 100	/* octets of a failed user name that are logged */
#define POP3_CLOSE_GRACE 5	/* seconds a closing client gets to read its last reply */
/* Replies not yet sent above which no more commands are read: a client
 * that pipelines CAPA without reading costs no more than this. */
/* Callbacks run from the event loop, never inside bufferevent_write(): a
 * TLS write that fails there would otherwise free the session under the
 * caller's feet, and a drained buffer would re-enter pl_process(). */

enum pl_state {
	PL_TLS,		/* TLS handshake in progress (pop3s, or after STLS) */
	PL_READY,	/* reading commands */
	PL_AUTH_SASL,	/* AUTH: reading continuation lines */
	PL_CHECKING,	/* the auth role checks the password */
	PL_DELAY,	/* a failed login waits for its reply */
	PL_HANDOFF,	/* logged in: earlier replies drain, then the mail role */
	PL_CLOSING,	/* the last reply drains, within POP3_CLOSE_GRACE */
};

struct pop3_login {
	struct pop3_login *next;
	uint64_t id;
	char sid[24];
	struct bufferevent *bev;
	struct netaddr peer;
	char ip[NETADDR_STRLEN];
	bool tls;
	char *tls_info;
	enum pl_state state;
	struct smtp_line_reader lines;
	char *user;			/* from USER */
	struct sasl sasl;
	bool sasl_active;
	unsigned bad;
	struct event *timer;		/* login_timeout, then the close grace */
	struct event *delay;		/* failed-login delay */
	buf_t out;
};

static struct pop3_login *sessions;
static uint64_t next_id = UINT64_C(1) << 62;	/* apart from SMTP session ids */

static void pl_process(struct pop3_login *s);
static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static struct pop3_login *find(uint64_t id)
{
	for (struct pop3_login *s = sessions; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

bool pop3_login_owns(uint64_t id)
{
	return find(id) != NULL;
}

static void sasl_end(struct pop3_login *s)
{
	if (s->sasl_active) {
		sasl_free(&s->sasl);
		s->sasl_active = false;
	}
}

static void pl_destroy(struct pop3_login *s, bool free_bev)
{
	struct pop3_login **pp = &sessions;
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	if (free_bev && s->bev) {
		bufferevent_free(s->bev);
		front_conn_release(&s->peer);
	}
	sasl_end(s);
	event_free(s->timer);
	event_free(s->delay);
	buf_free(&s->out);
	free(s->user);
	free(s->tls_info);
	free(s);
	if (front_g.ctx->stopping && front_g.nconns == 0)
		role_exit(front_g.ctx, 0);
}

static void flush(struct pop3_login *s)
{
	if (s->out.used) {
		bufferevent_write(s->bev, s->out.data, s->out.used);
		buf_reset(&s->out);
	}
}

static void reply(struct pop3_login *s, const char *text)
{
	buf_append_cstr(&s->out, text);
	buf_append(&s->out, "\r\n", 2);
}

/* Replies not sent yet. After STLS the TLS layer's own output is bounded
 * by the write watermark set on the plain bufferevent below it. */
static size_t output_pending(struct pop3_login *s)
{
	return s->out.used + evbuffer_get_length(bufferevent_get_output(s->bev));
}

static void close_after_flush(struct pop3_login *s)
{
	sasl_end(s);
	flush(s);
	s->state = PL_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	evtimer_del(s->delay);
	/* a client that does not read its last reply is dropped all the same */
	struct timeval tv = { POP3_CLOSE_GRACE, 0 };
	evtimer_add(s->timer, &tv);
}

static void bad_command(struct pop3_login *s, const char *text)
{
	buf_printf(&s->out, "-ERR %s\r\n", text);
	if (++s->bad >= POP3_MAX_BAD) {
		reply(s, "-ERR Too many bad commands, closing connection");
		close_after_flush(s);
	}
}

static void capa(struct pop3_login *s)
{
	bool pw = login_plaintext_allowed(s->tls, &s->peer);
	buf_append_cstr(&s->out, "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
				 "AUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (pw)
		buf_append_cstr(&s->out, "USER\r\nSASL PLAIN LOGIN\r\n");
	if (front_g.tls && !s->tls)
		buf_append_cstr(&s->out, "STLS\r\n");
	buf_append_cstr(&s->out, "IMPLEMENTATION youju\r\n.\r\n");
}

static void start_check(struct pop3_login *s, const char *user, const char *password, size_t len)
{
	if (login_check(s->id, user, password, len) < 0) {
		reply(s, "-ERR [SYS/TEMP] Authentication service unavailable, try again later");
		return;
	}
	free(s->user);
	s->user = xstrdup(user);
	s->state = PL_CHECKING;
}

static void cmd_stls(struct pop3_login *s)
{
	if (front_g.tls == NULL || s->tls) {
		bad_command(s, s->tls ? "TLS already active" : "TLS not available");
		return;
	}
	reply(s, "+OK Begin TLS negotiation");
	flush(s);
	/* RFC 2595 4: nothing sent before the handshake may be acted on */
	s->bev = login_starttls(s->bev, on_read, on_write, on_event, s);
	s->tls = true;
	s->state = PL_TLS;
	free(s->user);
	s->user = NULL;
	smtp_line_reader_init(&s->lines, POP3_AUTH_LINE_MAX);
}

static void sasl_result(struct pop3_login *s, enum sasl_status st, buf_t *challenge)
{
	s->state = PL_READY;
	switch (st) {
	case SASL_CONTINUE:
		buf_printf(&s->out, "+ %s\r\n", buf_cstr(challenge));
		s->state = PL_AUTH_SASL;
		return;
	case SASL_DONE: {
		const buf_t *z = &s->sasl.authzid;
		const char *user = sasl_user(&s->sasl);
		/* no acting as somebody else (RFC 4616 2: authzid) */
		if (z->used && (z->used != strlen(user) || memcmp(z->data, user, z->used) != 0)) {
			reply(s, "-ERR [AUTH] Authorization identity not allowed");
			break;
		}
		start_check(s, user, sasl_password(&s->sasl), sasl_password_len(&s->sasl));
		break;
	}
	case SASL_CANCELLED:
		bad_command(s, "Authentication cancelled");
		break;
	case SASL_ERROR:
		bad_command(s, "Invalid authentication data");
		break;
	}
	sasl_end(s);	/* the password went to auth, or nowhere */
}

static void cmd_auth(struct pop3_login *s, struct pop3_command *cmd)
{
	enum sasl_mech mech;
	if (cmd->nargs == 0) {
		/* the pre-RFC 5034 mechanism listing some clients still send */
		buf_append_cstr(&s->out, "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n");
		return;
	}
	if (sasl_mech_parse(cmd->args[0], &mech) < 0) {
		bad_command(s, "Unsupported authentication mechanism");
		return;
	}
	sasl_init(&s->sasl, mech);
	s->sasl_active = true;
	buf_t ch;
	buf_init(&ch, 1024);
	sasl_result(s, sasl_start(&s->sasl, cmd->nargs > 1 ? cmd->args[1] : NULL, &ch), &ch);
	buf_free(&ch);
}

static void sasl_line(struct pop3_login *s, const char *line, size_t len)
{
	buf_t ch;
	buf_init(&ch, 1024);
	sasl_result(s, sasl_step(&s->sasl, line, len, &ch), &ch);
	buf_free(&ch);
}

static void dispatch(struct pop3_login *s, char *line, size_t len)
{
	struct pop3_command cmd;
	const char *error;
	if (pop3_command_parse(line, len, &cmd, &error) < 0) {
		bad_command(s, error);
		return;
	}
	bool pw = login_plaintext_allowed(s->tls, &s->peer);
	switch (cmd.verb) {
	case POP3_CAPA:
		capa(s);
		break;
	case POP3_STLS:
		cmd_stls(s);
		break;
	case POP3_QUIT:
		reply(s, "+OK Bye");
		close_after_flush(s);
		break;
	case POP3_USER:
		if (!pw) {
			bad_command(s, "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections");
			break;
		}
		free(s->user);
		s->user = xstrdup(cmd.args[0]);
		reply(s, "+OK");
		break;
	case POP3_PASS:
		if (!pw) {
			bad_command(s, "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections");
		} else if (s->user == NULL) {
			bad_command(s, "No username given");
		} else {
			char *user = xstrdup(s->user);
			start_check(s, user, cmd.args[0], strlen(cmd.args[0]));
			free(user);
		}
		explicit_bzero(line, len);
		break;
	case POP3_AUTH:
		if (!pw)
			bad_command(s, "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections");
		else
			cmd_auth(s, &cmd);
		explicit_bzero(line, len);
		break;
	default:
		bad_command(s, "[AUTH] Log in first");
	}
}

static void pl_process(struct pop3_login *s)
{
	while (s->state == PL_READY || s->state == PL_AUTH_SASL) {
		if (output_pending(s) > LOGIN_OUTPUT_MAX)
			break;	/* on_write goes on once the client has read it */
		/* fetched every time: STLS replaces the bufferevent */
		struct evbuffer *in = bufferevent_get_input(s->bev);
		char *line;
		size_t len;
		enum smtp_line_error lerr;
		int r = line_input_next(in, &s->lines, POP3_AUTH_LINE_MAX, &line, &len, &lerr);
		if (r == 0)
			break;
		if (r < 0) {
			/* a broken SASL response ends the exchange (RFC 5034 4) */
			sasl_end(s);
			s->state = PL_READY;
			bad_command(s, lerr == SMTP_LINE_TOO_LONG ? "Command line too long" : "Invalid line ending");
			continue;
		}
		if (s->state == PL_AUTH_SASL)
			sasl_line(s, line, len);
		else
			dispatch(s, line, len);
		explicit_bzero(line, len);
		free(line);
	}
	if (s->state != PL_DELAY && s->state != PL_TLS)
		flush(s);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct pop3_login *s = arg;
	log_set_session(s->sid);
	if (s->state == PL_TLS) {
		free(s->tls_info);
		s->tls_info = login_tls_info(s->bev);
		s->state = PL_READY;
	}
	pl_process(s);
	log_set_session(NULL);
}

/* Logged in: the connection goes to mail, with the input the client
 * already sent behind its PASS/AUTH. */
static void handoff(struct pop3_login *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t n = evbuffer_get_length(in);
	char *pending = xmalloc(n + 1);
	/* taken out of the buffer: with TLS the proxy keeps reading from it,
	 * and must not send these octets to mail a second time */
	evbuffer_remove(in, pending, n);
	int r = login_handoff(s->bev, s->tls, &s->peer, LOGIN_POP3, s->user, s->ip, s->tls_info, pending, n);
	if (r == 0) {
		explicit_bzero(pending, n);
		free(pending);
		s->bev = NULL;	/* mail serves it now */
		pl_destroy(s, false);
		return;
	}
	/* the commands behind the PASS get their answers from front then */
	evbuffer_prepend(in, pending, n);
	explicit_bzero(pending, n);
	free(pending);
	reply(s, "-ERR [SYS/TEMP] Mailbox service unavailable, try again later");
	s->state = PL_READY;
	pl_process(s);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct pop3_login *s = arg;
	log_set_session(s->sid);
	if (s->state == PL_HANDOFF && login_output_drained(bev))
		handoff(s);
	else if (s->state == PL_CLOSING && login_output_drained(bev))
		pl_destroy(s, true);
	else if (s->state == PL_READY || s->state == PL_AUTH_SASL)
		pl_process(s);	/* reading was held back by unsent replies */
	log_set_session(NULL);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pop3_login *s = arg;
	if (what & BEV_EVENT_CONNECTED) {
		on_read(bev, arg);
		return;
	}
	log_set_session(s->sid);
	log_info("pop3 disconnect before login client=%s", s->ip);
	log_set_session(NULL);
	pl_destroy(s, true);
}

/* login_timeout (counted from the connect, TLS handshake included), or
 * the close grace. */
static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_login *s = arg;
	log_set_session(s->sid);
	if (s->state == PL_CLOSING || s->state == PL_TLS || s->state == PL_HANDOFF) {
		/* the last reply was not read, or TLS never came up: nothing
		 * can reach the client any more */
		log_info("pop3 timeout before login client=%s state=%s", s->ip,
			 s->state == PL_CLOSING ? "closing" : s->state == PL_TLS ? "tls" : "handoff");
		log_set_session(NULL);
		pl_destroy(s, true);
		return;
	}
	log_info("pop3 timeout before login client=%s", s->ip);
	reply(s, "-ERR Disconnected for inactivity");
	close_after_flush(s);
	log_set_session(NULL);
}

static void on_delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_login *s = arg;
	if (s->state != PL_DELAY)
		return;		/* closed meanwhile (timeout, shutdown) */
	log_set_session(s->sid);
	/* RFC 2449 8.1.2 AUTH: same text for unknown user and bad password */
	reply(s, "-ERR [AUTH] Authentication failed");
	s->state = PL_READY;
	pl_process(s);
	log_set_session(NULL);
}

void pop3_login_auth_reply(uint64_t id, struct ipc_msg *msg)
{
	struct pop3_login *s = find(id);
	int64_t result;
	const char *canonical;
	uint32_t cached;
	if (s == NULL || s->state != PL_CHECKING)
		return;
	if (ipc_get_i64(msg, &result) < 0)
		fatal("malformed MSG_AUTH_REPLY");
	if (result == AUTH_R_FOUND && (ipc_get_str(msg, &canonical) < 0 || ipc_get_u32(msg, &cached) < 0))
		fatal("malformed MSG_AUTH_REPLY");
	sasl_end(s);
	log_set_session(s->sid);
	if (result == AUTH_R_FOUND) {
		login_succeeded(&s->peer);
		free(s->user);
		s->user = xstrdup(canonical);
		log_info("pop3 login user=%s client=%s%s", s->user, s->ip, s->tls ? " tls=1" : "");
		/* A plain socket goes to mail as it is: replies still in its
		 * output buffer would be lost, so on_write hands off once they
		 * are sent. With TLS front keeps the bufferevent and sends them. */
		if (!s->tls && !login_output_drained(s->bev))
			s->state = PL_HANDOFF;
		else
			handoff(s);
		log_set_session(NULL);
		return;
	}
	if (result == AUTH_R_TEMPFAIL) {
		reply(s, "-ERR [SYS/TEMP] Temporary authentication failure, try again later");
		s->state = PL_READY;
	} else {
		log_info("pop3 login failed user=%.*s client=%s", POP3_LOG_USER_MAX, s->user ? s->user : "?",
			 s->ip);
		int64_t d = login_failure_delay(&s->peer);
		login_failed(&s->peer);
		s->state = PL_DELAY;
		struct timeval tv = { d / 1000, (d % 1000) * 1000 };
		evtimer_add(s->delay, &tv);
		log_set_session(NULL);
		return;
	}
	pl_process(s);
	log_set_session(NULL);
}

void pop3_login_start(struct front_listener *l, int fd, const struct netaddr *peer, bool implicit_tls)
{
	if (!login_accept(l, fd, peer, implicit_tls, "-ERR [SYS/TEMP] Too many connections\r\n"))
		return;
	struct pop3_login *s = xcalloc(1, sizeof(*s));
	s->id = next_id++;
	snprintf(s->sid, sizeof(s->sid), "p%08x%04x", (unsigned)time(NULL), (unsigned)(s->id & 0xffff));
	s->peer = *peer;
	netaddr_format(peer, s->ip, sizeof(s->ip));
	buf_init(&s->out, 0);
	smtp_line_reader_init(&s->lines, POP3_AUTH_LINE_MAX);
	s->state = PL_READY;
	s->tls = implicit_tls && front_g.tls != NULL;
	if (s->tls)
		s->state = PL_TLS;
	s->bev = login_bev_new(fd, s->tls, on_read, on_write, on_event, s);
	s->timer = evtimer_new(front_g.ctx->base, on_timeout, s);
	s->delay = evtimer_new(front_g.ctx->base, on_delay_done, s);
	login_timeout_start(s->timer);
	s->next = sessions;
	sessions = s;
	log_set_session(s->sid);
	log_info("pop3 connect client=%s service=%s", s->ip, l->name);
	log_set_session(NULL);
	reply(s, "+OK youju POP3 ready");
	flush(s);	/* with implicit TLS it goes out after the handshake */
}

void pop3_login_peer_down(void)
{
	for (struct pop3_login *s = sessions; s; s = s->next) {
		if (s->state != PL_CHECKING)
			continue;
		log_set_session(s->sid);
		reply(s, "-ERR [SYS/TEMP] Temporary authentication failure, try again later");
		s->state = PL_READY;
		pl_process(s);
		log_set_session(NULL);
	}
}

unsigned pop3_login_count(void)
{
	unsigned n = 0;
	for (struct pop3_login *s = sessions; s; s = s->next)
		n++;
	return n;
}

void pop3_login_close_all(void)
{
	for (struct pop3_login *s = sessions; s; s = s->next) {
		if (s->state == PL_CLOSING)
			continue;
		reply(s, "-ERR Server shutting down");
		close_after_flush(s);
	}
}
