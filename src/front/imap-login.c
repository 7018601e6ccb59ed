/*
 * IMAP before login: see imap-login.h. One struct imap_login per
 * connection, commands from lib-imap's parser with the pre-login limits,
 * passwords checked by the auth role (login.c), and at success the hand-off
 * to the mail role.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <event2/buffer.h>

#include "imap-caps.h"
#include "imap-login.h"
#include "imap-parser.h"
#include "log.h"
#include "login.h"
#include "sasl.h"
#include "xalloc.h"

#define IMAP_LOGIN_MAX_BAD 3	/* invalid commands before disconnect (Dovecot: 3) */
#define IMAP_ID_MAX_FIELDS 30	/* RFC 2971 3.3: at most 30 field-value pairs */
#define IMAP_LOG_USER_MAX 100	/* octets of a failed user name that are logged */
#define IMAP_CLOSE_GRACE 5	/* seconds a closing client gets to read its BYE */
/* Replies not yet sent above which no more commands are read: a client
 * that pipelines CAPABILITY without reading costs no more than this. */

enum il_state {
	IL_TLS,		/* TLS handshake in progress (imaps, or after STARTTLS) */
	IL_READY,	/* reading commands */
	IL_SASL,	/* AUTHENTICATE: reading continuation lines */
	IL_CHECKING,	/* the auth role checks the password */
	IL_DELAY,	/* a failed login waits for its reply */
	IL_HANDOFF,	/* logged in: the tagged OK drains, then the mail role */
	IL_CLOSING,
};

struct imap_login {
	struct imap_login *next;
	uint64_t id;
	char sid[24];
	struct bufferevent *bev;
	struct netaddr peer;
	char ip[NETADDR_STRLEN];
	bool tls;
	char *tls_info;
	enum il_state state;
	struct imap_parser *parser;
	char *tag;			/* of the LOGIN/AUTHENTICATE in progress */
	char *user;			/* its user name; canonical after success */
	struct sasl sasl;
	bool sasl_active;
	unsigned bad;
	struct event *timer;		/* login_timeout, then the close grace */
	struct event *delay;		/* failed-login delay */
	buf_t out;
};

enum il_cmd_flags {
	IL_CMD_NOARGS = 1 << 0,		/* takes no arguments */
	IL_CMD_PASSWORD = 1 << 1,	/* sends a password: plaintext policy applies */
	IL_CMD_AUTHED = 1 << 2,		/* valid only after login: "Log in first" */
};

struct il_command {
	const char *name;
	unsigned flags;
	void (*run)(struct imap_login *s, const struct imap_command *cmd);
};

static struct imap_login *sessions;
/* apart from SMTP (counting from 1) and POP3 (from 2^62) session ids */
static uint64_t next_id = UINT64_C(3) << 61;

static void il_process(struct imap_login *s);
static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static struct imap_login *find(uint64_t id)
{
	for (struct imap_login *s = sessions; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

bool imap_login_owns(uint64_t id)
{
	return find(id) != NULL;
}

static void sasl_end(struct imap_login *s)
{
	if (s->sasl_active) {
		sasl_free(&s->sasl);
		s->sasl_active = false;
	}
}

static void il_destroy(struct imap_login *s, bool free_bev)
{
	struct imap_login **pp = &sessions;
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	if (free_bev && s->bev) {
		bufferevent_free(s->bev);
		front_conn_release(&s->peer);
	}
	sasl_end(s);
	imap_parser_destroy(&s->parser);
	event_free(s->timer);
	event_free(s->delay);
	buf_free(&s->out);
	free(s->tag);
	free(s->user);
	free(s->tls_info);
	free(s);
	if (front_g.ctx->stopping && front_g.nconns == 0)
		role_exit(front_g.ctx, 0);
}

/* ---- output ---- */

static void flush(struct imap_login *s)
{
	if (s->out.used) {
		bufferevent_write(s->bev, s->out.data, s->out.used);
		buf_reset(&s->out);
	}
}

static void replyf(struct imap_login *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void replyf(struct imap_login *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	buf_append(&s->out, "\r\n", 2);
}

/* The tag of the command in progress; forgotten after its reply. */
static void tag_done(struct imap_login *s)
{
	free(s->tag);
	s->tag = NULL;
}

static void close_after_flush(struct imap_login *s)
{
	flush(s);
	s->state = IL_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	evtimer_del(s->delay);
	/* a client that does not read its BYE is dropped all the same */
	struct timeval tv = { IMAP_CLOSE_GRACE, 0 };
	evtimer_add(s->timer, &tv);
}

static void bye(struct imap_login *s, const char *text)
{
	replyf(s, "* BYE %s", text);
	close_after_flush(s);
}

/* Every BAD counts; a client that keeps sending garbage is dropped. */
static void bad_counted(struct imap_login *s)
{
	if (++s->bad >= IMAP_LOGIN_MAX_BAD)
		bye(s, "Too many invalid commands");
}

static void caps_opts(const struct imap_login *s, struct imap_caps_opts *o)
{
	const struct youju_config *cfg = front_g.ctx->cfg;
	o->tls = s->tls;
	o->starttls = front_g.tls != NULL;
	o->login_allowed = login_plaintext_allowed(s->tls, &s->peer);
	o->appendlimit = (uint64_t)cfg->imap_append_limit;
	o->compress = cfg->imap_compress;
}

static void caps_prelogin(const struct imap_login *s, buf_t *out)
{
	struct imap_caps_opts o;
	caps_opts(s, &o);
	imap_caps_prelogin(out, &o);
}

/* ---- the password check ---- */

static void start_check(struct imap_login *s, const char *user, const char *password, size_t len)
{
	if (login_check(s->id, user, password, len) < 0) {
		replyf(s, "%s NO [UNAVAILABLE] Authentication service unavailable, try again later", s->tag);
		tag_done(s);
		return;
	}
	free(s->user);
	s->user = xstrdup(user);
	s->state = IL_CHECKING;
}

/* Logged in: the tagged OK goes out, then the connection goes to mail. */
static void handoff(struct imap_login *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t n = evbuffer_get_length(in);
	char *pending = xmalloc(n + 1);
	/* taken out of the buffer: with TLS the proxy keeps reading from it,
	 * and must not send these octets to mail a second time */
	evbuffer_remove(in, pending, n);
	log_set_session(s->sid);
	int r = login_handoff(s->bev, s->tls, &s->peer, LOGIN_IMAP, s->user, s->ip, s->tls_info, pending, n);
	explicit_bzero(pending, n);
	free(pending);
	if (r == 0) {
		s->bev = NULL;	/* mail serves it now */
		log_set_session(NULL);
		il_destroy(s, false);
		return;
	}
	/* mail went away after the OK was sent: nothing to continue with */
	bye(s, "Mailbox service unavailable, try again later");
	log_set_session(NULL);
}

static void logged_in(struct imap_login *s, const char *canonical)
{
	login_succeeded(&s->peer);
	if (front_g.ctx->peers[ROLE_MAIL] == NULL) {
		replyf(s, "%s NO [UNAVAILABLE] Mailbox service unavailable, try again later", s->tag);
		tag_done(s);
		s->state = IL_READY;
		return;
	}
	free(s->user);
	s->user = xstrdup(canonical);
	log_info("imap login user=%s client=%s%s", s->user, s->ip, s->tls ? " tls=1" : "");
	struct imap_caps_opts o;
	caps_opts(s, &o);
	buf_printf(&s->out, "%s OK [CAPABILITY ", s->tag);
	imap_caps_postlogin(&s->out, &o);
	buf_append_cstr(&s->out, "] Logged in\r\n");
	tag_done(s);
	flush(s);
	s->state = IL_HANDOFF;
	/* A plain socket goes to mail as it is: whatever is still in the
	 * output buffer then would be lost, so on_write hands off once it is
	 * sent. With TLS front keeps the bufferevent and sends it on. */
	if (s->tls)
		handoff(s);
}

void imap_login_auth_reply(uint64_t id, struct ipc_msg *msg)
{
	struct imap_login *s = find(id);
	int64_t result;
	const char *canonical = NULL;
	uint32_t cached;
	if (s == NULL || s->state != IL_CHECKING)
		return;
	if (ipc_get_i64(msg, &result) < 0)
		fatal("malformed MSG_AUTH_REPLY");
	if (result == AUTH_R_FOUND && (ipc_get_str(msg, &canonical) < 0 || ipc_get_u32(msg, &cached) < 0))
		fatal("malformed MSG_AUTH_REPLY");
	log_set_session(s->sid);
	if (result == AUTH_R_FOUND) {
		logged_in(s, canonical);
		if (find(id) == NULL || s->state == IL_HANDOFF) {
			/* handed off, or waiting for the OK to drain */
			log_set_session(NULL);
			return;
		}
	} else if (result == AUTH_R_TEMPFAIL) {
		replyf(s, "%s NO [UNAVAILABLE] Temporary authentication failure, try again later", s->tag);
		tag_done(s);
		s->state = IL_READY;
	} else {
		log_info("imap login failed user=%.*s client=%s", IMAP_LOG_USER_MAX, s->user ? s->user : "?",
			 s->ip);
		int64_t d = login_failure_delay(&s->peer);
		login_failed(&s->peer);
		s->state = IL_DELAY;
		struct timeval tv = { d / 1000, (d % 1000) * 1000 };
		evtimer_add(s->delay, &tv);
		log_set_session(NULL);
		return;
	}
	il_process(s);
	log_set_session(NULL);
}

static void on_delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct imap_login *s = arg;
	if (s->state != IL_DELAY)
		return;
	log_set_session(s->sid);
	/* RFC 9051 7.1: one text for an unknown user and a wrong password */
	replyf(s, "%s NO [AUTHENTICATIONFAILED] Authentication failed.", s->tag);
	tag_done(s);
	s->state = IL_READY;
	il_process(s);
	log_set_session(NULL);
}

/* ---- AUTHENTICATE (RFC 9051 6.2.2, RFC 4959) ---- */

static void sasl_result(struct imap_login *s, enum sasl_status st, buf_t *challenge)
{
	s->state = IL_READY;
	switch (st) {
	case SASL_CONTINUE:
		replyf(s, "+ %s", buf_cstr(challenge));
		s->state = IL_SASL;
		return;
	case SASL_DONE: {
		const buf_t *z = &s->sasl.authzid;
		const char *user = sasl_user(&s->sasl);
		/* no acting as somebody else (RFC 4616 2: authzid) */
		if (z->used && (z->used != strlen(user) || memcmp(z->data, user, z->used) != 0)) {
			replyf(s, "%s NO [AUTHORIZATIONFAILED] Authorization identity not allowed", s->tag);
			tag_done(s);
			break;
		}
		start_check(s, user, sasl_password(&s->sasl), sasl_password_len(&s->sasl));
		break;
	}
	case SASL_CANCELLED:
		replyf(s, "%s BAD Authentication cancelled", s->tag);
		tag_done(s);
		break;
	case SASL_ERROR:
		replyf(s, "%s BAD Invalid authentication data", s->tag);
		tag_done(s);
		bad_counted(s);
		break;
	}
	sasl_end(s);	/* the password went to auth, or nowhere */
}

static void cmd_authenticate(struct imap_login *s, const struct imap_command *cmd)
{
	const char *mech_name, *ir = NULL;
	enum sasl_mech mech;
	if (cmd->count < 1 || cmd->count > 2 || !imap_arg_get_atom(&cmd->args[0], &mech_name) ||
	    (cmd->count == 2 && !imap_arg_get_atom(&cmd->args[1], &ir))) {
		replyf(s, "%s BAD Invalid arguments", cmd->tag);
		bad_counted(s);
		return;
	}
	if (sasl_mech_parse(mech_name, &mech) < 0) {
		replyf(s, "%s NO Unsupported authentication mechanism", cmd->tag);
		return;
	}
	s->tag = xstrdup(cmd->tag);
	sasl_init(&s->sasl, mech);
	s->sasl_active = true;
	buf_t ch;
	buf_init(&ch, 1024);
	sasl_result(s, sasl_start(&s->sasl, ir, &ch), &ch);
	buf_free(&ch);
}

static void sasl_line(struct imap_login *s, const char *line, size_t len)
{
	buf_t ch;
	buf_init(&ch, 1024);
	sasl_result(s, sasl_step(&s->sasl, line, len, &ch), &ch);
	buf_free(&ch);
}

/* ---- the other commands ---- */

static void cmd_capability(struct imap_login *s, const struct imap_command *cmd)
{
	buf_append_cstr(&s->out, "* CAPABILITY ");
	caps_prelogin(s, &s->out);
	replyf(s, "\r\n%s OK Capability completed", cmd->tag);
}

static void cmd_noop(struct imap_login *s, const struct imap_command *cmd)
{
	replyf(s, "%s OK NOOP completed", cmd->tag);
}

static void cmd_logout(struct imap_login *s, const struct imap_command *cmd)
{
	replyf(s, "* BYE Logging out");
	replyf(s, "%s OK Logout completed", cmd->tag);
	close_after_flush(s);
}

/* RFC 2971: ID NIL, or a list of string/NIL field-value pairs. */
static void cmd_id(struct imap_login *s, const struct imap_command *cmd)
{
	const struct imap_arg *list;
	size_t n;
	bool ok = cmd->count == 1;
	if (ok && cmd->args[0].type != IMAP_ARG_NIL) {
		ok = imap_arg_get_list(&cmd->args[0], &list, &n) && n % 2 == 0 &&
		     n <= 2 * IMAP_ID_MAX_FIELDS;
		for (size_t i = 0; ok && i < n; i++) {
			const char *v;
			size_t len;
			ok = imap_arg_get_nstring(&list[i], &v, &len) && (i % 2 == 1 || v != NULL);
		}
	}
	if (!ok) {
		replyf(s, "%s BAD Invalid ID arguments", cmd->tag);
		bad_counted(s);
		return;
	}
	replyf(s, "* ID (\"name\" \"youju\")");
	replyf(s, "%s OK ID completed", cmd->tag);
}

static void cmd_login(struct imap_login *s, const struct imap_command *cmd)
{
	const char *user, *password;
	size_t ulen, plen;
	if (cmd->count != 2 || !imap_arg_get_astring(&cmd->args[0], &user, &ulen) ||
	    !imap_arg_get_astring(&cmd->args[1], &password, &plen)) {
		replyf(s, "%s BAD Invalid arguments", cmd->tag);
		bad_counted(s);
		return;
	}
	s->tag = xstrdup(cmd->tag);
	start_check(s, user, password, plen);
}

static void cmd_starttls(struct imap_login *s, const struct imap_command *cmd)
{
	if (front_g.tls == NULL || s->tls) {
		replyf(s, "%s BAD %s", cmd->tag, s->tls ? "TLS is already active" : "TLS is not available");
		bad_counted(s);
		return;
	}
	replyf(s, "%s OK Begin TLS negotiation now", cmd->tag);
	flush(s);
	/* RFC 9051 6.2.1: nothing sent before the handshake may be acted on
	 * (STARTTLS command injection): login_starttls drops it, and the
	 * parser starts afresh */
	imap_parser_destroy(&s->parser);
	s->parser = imap_parser_create(&IMAP_PARSER_LIMITS_PRELOGIN);
	s->bev = login_starttls(s->bev, on_read, on_write, on_event, s);
	s->tls = true;
	s->state = IL_TLS;
}

static const struct il_command commands[] = {
	{ "CAPABILITY", IL_CMD_NOARGS, cmd_capability },
	{ "NOOP", IL_CMD_NOARGS, cmd_noop },
	{ "LOGOUT", IL_CMD_NOARGS, cmd_logout },
	{ "STARTTLS", IL_CMD_NOARGS, cmd_starttls },
	{ "ID", 0, cmd_id },
	{ "LOGIN", IL_CMD_PASSWORD, cmd_login },
	{ "AUTHENTICATE", IL_CMD_PASSWORD, cmd_authenticate },
	/* what the mail role serves (imap-client.h) */
	{ "APPEND", IL_CMD_AUTHED, NULL },
	{ "CHECK", IL_CMD_AUTHED, NULL },
	{ "CLOSE", IL_CMD_AUTHED, NULL },
	{ "COMPRESS", IL_CMD_AUTHED, NULL },
	{ "COPY", IL_CMD_AUTHED, NULL },
	{ "CREATE", IL_CMD_AUTHED, NULL },
	{ "DELETE", IL_CMD_AUTHED, NULL },
	{ "ENABLE", IL_CMD_AUTHED, NULL },
	{ "EXAMINE", IL_CMD_AUTHED, NULL },
	{ "EXPUNGE", IL_CMD_AUTHED, NULL },
	{ "FETCH", IL_CMD_AUTHED, NULL },
	{ "GETQUOTA", IL_CMD_AUTHED, NULL },
	{ "GETQUOTAROOT", IL_CMD_AUTHED, NULL },
	{ "IDLE", IL_CMD_AUTHED, NULL },
	{ "LIST", IL_CMD_AUTHED, NULL },
	{ "LSUB", IL_CMD_AUTHED, NULL },
	{ "MOVE", IL_CMD_AUTHED, NULL },
	{ "NAMESPACE", IL_CMD_AUTHED, NULL },
	{ "RENAME", IL_CMD_AUTHED, NULL },
	{ "SEARCH", IL_CMD_AUTHED, NULL },
	{ "SELECT", IL_CMD_AUTHED, NULL },
	{ "SORT", IL_CMD_AUTHED, NULL },
	{ "STATUS", IL_CMD_AUTHED, NULL },
	{ "STORE", IL_CMD_AUTHED, NULL },
	{ "SUBSCRIBE", IL_CMD_AUTHED, NULL },
	{ "THREAD", IL_CMD_AUTHED, NULL },
	{ "UID", IL_CMD_AUTHED, NULL },
	{ "UNSELECT", IL_CMD_AUTHED, NULL },
	{ "UNSUBSCRIBE", IL_CMD_AUTHED, NULL },
};

static const struct il_command *command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* check, then proceed */
static void dispatch(struct imap_login *s, const struct imap_command *cmd)
{
	const struct il_command *c = command_find(cmd->name);
	if (c == NULL) {
		replyf(s, "%s BAD Unknown command", cmd->tag);
		bad_counted(s);
	} else if (c->flags & IL_CMD_AUTHED) {
		replyf(s, "%s BAD Log in first", cmd->tag);
		bad_counted(s);
	} else if ((c->flags & IL_CMD_NOARGS) && cmd->count > 0) {
		replyf(s, "%s BAD %s takes no arguments", cmd->tag, c->name);
		bad_counted(s);
	} else if ((c->flags & IL_CMD_PASSWORD) && !login_plaintext_allowed(s->tls, &s->peer)) {
		/* RFC 9051 6.2.3 LOGINDISABLED; RFC 5530 PRIVACYREQUIRED */
		replyf(s, "%s NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections",
		       cmd->tag);
	} else {
		c->run(s, cmd);
	}
}

/* A synchronizing literal was announced (RFC 9051 7.5): small ones get
 * "+", big ones a BAD before the client sends them. */
static void literal_wait(struct imap_login *s)
{
	const char *tag = imap_parser_tag(s->parser), *name = imap_parser_name(s->parser);
	if (strcmp(name, "LOGIN") == 0 && !login_plaintext_allowed(s->tls, &s->peer)) {
		/* do not ask for a password that must not cross this connection */
		imap_parser_literal_refuse(s->parser);
		replyf(s, "%s NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections",
		       tag);
		return;
	}
	/* the tag stays readable after a refusal, until the next feed() */
	if (imap_parser_literal_accept(s->parser) < 0) {
		replyf(s, "%s BAD [TOOBIG] Literal too big before login", tag);
		bad_counted(s);
		return;
	}
	replyf(s, "+ OK");
}

static void parse_error(struct imap_login *s)
{
	enum imap_parse_error code;
	bool in_sync;
	const char *text = imap_parser_error(s->parser, &code, &in_sync);
	const char *tag = imap_parser_tag(s->parser);
	if (!in_sync) {
		bye(s, text);
		return;
	}
	replyf(s, "%s BAD %s%s", tag ? tag : "*", code == IMAP_PARSE_ERR_LITERAL_TOO_BIG ? "[TOOBIG] " : "", text);
	bad_counted(s);
}

/* One AUTHENTICATE continuation line from in[0..len); octets used. */
static size_t sasl_input(struct imap_login *s, const char *in, size_t len)
{
	const char *line;
	size_t llen, used;
	enum imap_parse_result r = imap_parser_read_line(s->parser, in, len, &line, &llen, &used);
	if (r == IMAP_PARSE_DONE) {
		sasl_line(s, line, llen);
	} else if (r == IMAP_PARSE_ERROR) {
		bool in_sync;
		const char *text = imap_parser_error(s->parser, NULL, &in_sync);
		sasl_end(s);
		s->state = IL_READY;
		replyf(s, "%s BAD %s", s->tag, text);
		tag_done(s);
		if (in_sync)
			bad_counted(s);
		else
			bye(s, text);
	}
	return used;
}

static size_t command_input(struct imap_login *s, const char *in, size_t len)
{
	size_t used;
	switch (imap_parser_feed(s->parser, in, len, &used)) {
	case IMAP_PARSE_NEED_MORE:
		break;
	case IMAP_PARSE_DONE:
		dispatch(s, imap_parser_command(s->parser));
		/* wipe LOGIN's password now, not at the next command */
		if (s->state != IL_TLS)
			imap_parser_reset(s->parser);
		break;
	case IMAP_PARSE_LITERAL_WAIT:
		literal_wait(s);
		break;
	case IMAP_PARSE_ERROR:
		parse_error(s);
		break;
	}
	return used;
}

static void il_process(struct imap_login *s)
{
	while (s->state == IL_READY || s->state == IL_SASL) {
		if (s->out.used + evbuffer_get_length(bufferevent_get_output(s->bev)) > LOGIN_OUTPUT_MAX)
			break;	/* on_write goes on once the client has read it */
		/* fetched every time: STARTTLS replaces the bufferevent */
		struct evbuffer *in = bufferevent_get_input(s->bev);
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		size_t used = s->state == IL_SASL ? sasl_input(s, v.iov_base, v.iov_len) :
						    command_input(s, v.iov_base, v.iov_len);
		if (s->state == IL_TLS)
			break;	/* the input is gone with the plaintext */
		evbuffer_drain(in, used);
	}
	if (s->state != IL_DELAY && s->state != IL_TLS)
		flush(s);
}

/* ---- connection events ---- */

static void on_read(struct bufferevent *bev, void *arg)
{
	struct imap_login *s = arg;
	log_set_session(s->sid);
	if (s->state == IL_TLS) {
		free(s->tls_info);
		s->tls_info = login_tls_info(s->bev);
		s->state = IL_READY;
	}
	il_process(s);
	log_set_session(NULL);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct imap_login *s = arg;
	if (s->state == IL_HANDOFF && login_output_drained(bev)) {
		handoff(s);
	} else if (s->state == IL_CLOSING && login_output_drained(bev)) {
		il_destroy(s, true);
	} else if (s->state == IL_READY || s->state == IL_SASL) {
		log_set_session(s->sid);
		il_process(s);
		log_set_session(NULL);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct imap_login *s = arg;
	if (what & BEV_EVENT_CONNECTED) {
		on_read(bev, arg);
		return;
	}
	log_set_session(s->sid);
	log_info("imap disconnect before login client=%s", s->ip);
	log_set_session(NULL);
	il_destroy(s, true);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct imap_login *s = arg;
	log_set_session(s->sid);
	if (s->state == IL_CLOSING || s->state == IL_TLS || s->state == IL_HANDOFF) {
		/* the BYE or the login's OK was not read, or TLS never came
		 * up: nothing more to say */
		log_info("imap timeout before login client=%s", s->ip);
		log_set_session(NULL);
		il_destroy(s, true);
		return;
	}
	log_info("imap timeout before login client=%s", s->ip);
	log_set_session(NULL);
	sasl_end(s);
	bye(s, "Disconnected for inactivity");
}

void imap_login_start(struct front_listener *l, int fd, const struct netaddr *peer, bool implicit_tls)
{
	if (!login_accept(l, fd, peer, implicit_tls, "* BYE Too many connections\r\n"))
		return;
	struct imap_login *s = xcalloc(1, sizeof(*s));
	s->id = next_id++;
	snprintf(s->sid, sizeof(s->sid), "i%08x%04x", (unsigned)time(NULL), (unsigned)(s->id & 0xffff));
	s->peer = *peer;
	netaddr_format(peer, s->ip, sizeof(s->ip));
	buf_init(&s->out, 0);
	s->parser = imap_parser_create(&IMAP_PARSER_LIMITS_PRELOGIN);
	s->state = IL_READY;
	s->tls = implicit_tls && front_g.tls != NULL;
	if (s->tls)
		s->state = IL_TLS;
	s->bev = login_bev_new(fd, s->tls, on_read, on_write, on_event, s);
	s->timer = evtimer_new(front_g.ctx->base, on_timeout, s);
	s->delay = evtimer_new(front_g.ctx->base, on_delay_done, s);
	login_timeout_start(s->timer);
	s->next = sessions;
	sessions = s;
	log_set_session(s->sid);
	log_info("imap connect client=%s service=%s", s->ip, l->name);
	log_set_session(NULL);
	/* RFC 9051 7.1.1: the capabilities in the greeting spare a round trip */
	buf_append_cstr(&s->out, "* OK [CAPABILITY ");
	caps_prelogin(s, &s->out);
	replyf(s, "] youju IMAP ready");
	flush(s);	/* with implicit TLS it goes out after the handshake */
}

void imap_login_peer_down(void)
{
	for (struct imap_login *s = sessions; s; s = s->next) {
		if (s->state != IL_CHECKING)
			continue;
		log_set_session(s->sid);
		replyf(s, "%s NO [UNAVAILABLE] Temporary authentication failure, try again later", s->tag);
		tag_done(s);
		s->state = IL_READY;
		il_process(s);
		log_set_session(NULL);
	}
}

unsigned imap_login_count(void)
{
	unsigned n = 0;
	for (struct imap_login *s = sessions; s; s = s->next)
		n++;
	return n;
}

void imap_login_close_all(void)
{
	for (struct imap_login *s = sessions; s; s = s->next) {
		if (s->state == IL_CLOSING || s->state == IL_HANDOFF)
			continue;
		sasl_end(s);
		bye(s, "Server shutting down");
	}
}
