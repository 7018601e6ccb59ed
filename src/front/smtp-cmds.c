/*
 * SMTP commands (RFC 5321 4.1): each command is checked against the
 * session state and policy, then proceeds. Lookups go to the auth role,
 * the sender-domain check to DNS, the free-space check to the queue role;
 * the session waits (and keeps the rest of a pipelined group buffered)
 * until the answer comes back.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "address.h"
#include "front.h"
#include "log.h"
#include "smtp-session.h"
#include "xalloc.h"

/* ---- replies ---- */

static void vreply(struct smtp_session *s, int code, const char *enhanced, const char *fmt, va_list ap)
{
	if (enhanced && enhanced[0])
		buf_printf(&s->out, "%03d %s ", code, enhanced);
	else
		buf_printf(&s->out, "%03d ", code);	/* greeting, HELO: no enhanced code (RFC 2034 3) */
	buf_vprintf(&s->out, fmt, ap);
	buf_append(&s->out, "\r\n", 2);
}

void smtp_reply(struct smtp_session *s, int code, const char *enhanced, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreply(s, code, enhanced, fmt, ap);
	va_end(ap);
}

/* An error reply: counted; past smtp_soft_error_limit it is delayed
 * (tarpit), at smtp_max_errors the session ends (RFC 5321 does not bound
 * errors; Postfix's limits are the model). */
void smtp_error_reply(struct smtp_session *s, int code, const char *enhanced, const char *fmt, ...)
{
	const struct youju_config *cfg = front_g.ctx->cfg;
	va_list ap;
	va_start(ap, fmt);
	vreply(s, code, enhanced, fmt, ap);
	va_end(ap);
	s->errors++;
	if (s->errors >= (unsigned)cfg->smtp_max_errors) {
		smtp_reply(s, 421, "4.7.0", "%s Error: too many errors", front_g.hostname);
		log_info("too many errors client=%s", s->ip);
		smtp_session_close(s);
		return;
	}
	if (cfg->smtp_error_delay > 0 && s->errors > (unsigned)cfg->smtp_soft_error_limit)
		smtp_session_delay(s, cfg->smtp_error_delay);
}

void smtp_greeting(struct smtp_session *s)
{
	smtp_reply(s, 220, NULL, "%s ESMTP youju", front_g.hostname);
}

/* ---- transaction ---- */

void smtp_tx_free(struct smtp_tx **txp)
{
	struct smtp_tx *tx = *txp;
	if (tx == NULL)
		return;
	free(tx->sender);
	free(tx->params.envid);
	free(tx->params.orcpt_type);
	free(tx->params.orcpt_addr);
	free(tx->params.auth);
	for (size_t i = 0; i < tx->nrcpts; i++) {
		free(tx->rcpts[i].orig);
		free(tx->rcpts[i].orcpt);
	}
	free(tx->rcpts);
	for (size_t i = 0; i < tx->ntargets; i++)
		free(tx->targets[i].address);
	free(tx->targets);
	smtp_data_decoder_destroy(&tx->dec);
	buf_free(&tx->chunk);
	smtp_command_free(&tx->pending_rcpt);
	free(tx);
	*txp = NULL;
}

static bool exempt(const struct smtp_session *s)
{
	return s->trusted && front_g.ctx->cfg->smtp_checks_exempt_trusted;
}

static bool is_fqdn(const char *domain)
{
	return domain[0] == '[' || strchr(domain, '.') != NULL;
}

/* ---- HELO / EHLO ---- */

static void cmd_helo(struct smtp_session *s, struct smtp_command *cmd)
{
	const struct youju_config *cfg = front_g.ctx->cfg;
	if (cfg->smtp_reject_non_fqdn_helo && !exempt(s) && !is_fqdn(cmd->arg)) {
		smtp_error_reply(s, 504, "5.5.2", "<%s>: Helo command rejected: need fully-qualified hostname",
				 cmd->arg);
		return;
	}
	/* RFC 5321 4.1.4: HELO/EHLO also resets any transaction */
	smtp_tx_free(&s->tx);
	free(s->helo);
	s->helo = xstrdup(cmd->arg);
	s->esmtp = cmd->verb == SMTP_EHLO;
	s->state = SMTP_S_READY;
	if (!s->esmtp) {
		smtp_reply(s, 250, NULL, "%s", front_g.hostname);
	} else {
		buf_printf(&s->out, "250-%s\r\n250-PIPELINING\r\n250-SIZE %lld\r\n", front_g.hostname,
			   (long long)cfg->message_size_limit);
		if (front_g.tls && !s->tls)
			buf_append_cstr(&s->out, "250-STARTTLS\r\n");
		buf_append_cstr(&s->out, "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
					 "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n");
	}
	log_info("helo=%s%s", s->helo, s->esmtp ? " esmtp=1" : "");
}

/* A HELO name that is not a valid host name is allowed when the policy
 * says so (smtp_reject_invalid_helo = no, or a trusted client). */
bool smtp_helo_fallback(struct smtp_session *s, const char *line, size_t len)
{
	if (len < 6 || (strncasecmp(line, "EHLO ", 5) != 0 && strncasecmp(line, "HELO ", 5) != 0))
		return false;
	if (front_g.ctx->cfg->smtp_reject_invalid_helo && !exempt(s))
		return false;
	const char *arg = line + 5;
	size_t n = len - 5;
	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)arg[i] <= 0x20 || (unsigned char)arg[i] >= 0x7f)
			return false;
	struct smtp_command cmd = { .verb = toupper((unsigned char)line[0]) == 'E' ? SMTP_EHLO : SMTP_HELO };
	cmd.arg = xstrndup(arg, n);
	cmd_helo(s, &cmd);
	free(cmd.arg);
	return true;
}

/* ---- MAIL ---- */

static void mail_accept(struct smtp_session *s)
{
	s->state = SMTP_S_MAIL;
	smtp_reply(s, 250, "2.1.0", "Ok");
	log_info("mail from=<%s> size=%llu", s->tx->sender,
		 (unsigned long long)(s->tx->params.has_size ? s->tx->params.size : 0));
}

static void mail_check_space(struct smtp_session *s)
{
	struct ipc_msg m;
	ipc_msg_init(&m, MSG_QUEUE_SPACE, s->id);
	ipc_add_u64(&m, s->tx->params.has_size ? s->tx->params.size : 0);
	if (role_send(front_g.ctx, ROLE_QUEUE, &m) < 0) {
		smtp_tx_free(&s->tx);
		smtp_error_reply(s, 451, "4.3.0", "Error: queue unavailable, try again later");
		return;
	}
	smtp_session_wait(s, SMTP_WAIT_QUEUE);
}

void smtp_mail_space_checked(struct smtp_session *s, struct ipc_msg *msg)
{
	int64_t r;
	const char *text;
	if (s->tx == NULL)
		return;
	if (ipc_get_i64(msg, &r) < 0 || ipc_get_str(msg, &text) < 0)
		fatal("malformed MSG_QUEUE_REPLY");
	if (r == 1) {
		mail_accept(s);
		return;
	}
	smtp_tx_free(&s->tx);
	if (r == 0)
		smtp_error_reply(s, 452, "4.3.1", "Insufficient system storage");
	else
		smtp_error_reply(s, 451, "4.3.0", "Error: queue unavailable, try again later");
}

static void on_sender_domain(void *ctx, enum dns_status st)
{
	struct smtp_session *s = ctx;
	s->dnsq = NULL;
	s->wait = SMTP_WAIT_NONE;
	log_set_session(s->sid);
	if (s->tx == NULL) {
		smtp_session_continue(s);
		return;
	}
	if (st == DNS_FOUND) {
		mail_check_space(s);
	} else if (st == DNS_NOTFOUND) {
		smtp_error_reply(s, 550, "5.1.8", "<%s>: Sender address rejected: Domain not found", s->tx->sender);
		smtp_tx_free(&s->tx);
	} else {
		/* a DNS problem is never a reason for a permanent rejection */
		smtp_error_reply(s, 450, "4.1.8", "<%s>: Sender address rejected: Domain not found (temporary DNS failure)",
				 s->tx->sender);
		smtp_tx_free(&s->tx);
	}
	if (s->wait == SMTP_WAIT_NONE)
		smtp_session_continue(s);
}

static void cmd_mail(struct smtp_session *s, struct smtp_command *cmd)
{
	const struct youju_config *cfg = front_g.ctx->cfg;
	if (s->state == SMTP_S_CONNECTED) {
		smtp_error_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (s->tx) {
		smtp_error_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (cmd->params.has_size && cmd->params.size > (uint64_t)cfg->message_size_limit) {
		smtp_error_reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		return;
	}
	if (cmd->params.body == SMTP_BODY_BINARYMIME) {
		smtp_error_reply(s, 555, "5.5.4", "Unsupported option: BODY=BINARYMIME");
		return;
	}
	char *sender = cmd->addr.domain[0] ? mail_address_to_string(&cmd->addr) : xstrdup("");
	if (sender[0] && !exempt(s) && cfg->smtp_reject_non_fqdn_sender && !is_fqdn(cmd->addr.domain)) {
		smtp_error_reply(s, 504, "5.5.2", "<%s>: Sender address rejected: need fully-qualified address", sender);
		free(sender);
		return;
	}
	struct smtp_tx *tx = xcalloc(1, sizeof(*tx));
	tx->sender = sender;
	tx->params = cmd->params;
	memset(&cmd->params, 0, sizeof(cmd->params));	/* moved */
	buf_init(&tx->chunk, 0);
	s->tx = tx;
	if (sender[0] && !exempt(s) && cfg->smtp_reject_unknown_sender_domain && cmd->addr.domain[0] != '[') {
		smtp_session_wait(s, SMTP_WAIT_DNS);
		s->dnsq = dns_domain_exists(front_g.dns, cmd->addr.domain, on_sender_domain, s);
		return;
	}
	mail_check_space(s);
}

/* ---- RCPT ---- */

static void cmd_rcpt(struct smtp_session *s, struct smtp_command *cmd, const char *line)
{
	const struct youju_config *cfg = front_g.ctx->cfg;
	if (s->tx == NULL || (s->state != SMTP_S_MAIL && s->state != SMTP_S_RCPT)) {
		smtp_error_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (s->tx->nrcpts >= (size_t)cfg->smtp_max_recipients) {
		smtp_error_reply(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	char *rcpt = cmd->addr.domain[0] ? mail_address_to_string(&cmd->addr) : xstrdup(cmd->addr.local);
	struct ipc_msg m;
	ipc_msg_init(&m, MSG_AUTH_RESOLVE, s->id);
	ipc_add_str(&m, rcpt);
	free(rcpt);
	/* "RCPT TO:<@relay:user@dom>": the route is dropped (RFC 5321
	 * Appendix C) but such a recipient is never relayed */
	const char *lt = strchr(line, '<');
	s->tx->source_routed = lt && lt[1] == '@';
	smtp_command_free(&s->tx->pending_rcpt);
	s->tx->pending_rcpt = *cmd;
	memset(cmd, 0, sizeof(*cmd));	/* moved */
	if (role_send(front_g.ctx, ROLE_AUTH, &m) < 0) {
		struct smtp_command *p = &s->tx->pending_rcpt;
		smtp_error_reply(s, 451, "4.3.0", "<%s@%s>: Temporary lookup failure", p->addr.local, p->addr.domain);
		return;
	}
	smtp_session_wait(s, SMTP_WAIT_AUTH);
}

static bool add_target(struct smtp_tx *tx, const char *address, bool local)
{
	for (size_t i = 0; i < tx->ntargets; i++)
		if (strcasecmp(tx->targets[i].address, address) == 0)
			return false;	/* one delivery per final mailbox (DUR-12) */
	tx->targets = xreallocarray(tx->targets, tx->ntargets + 1, sizeof(*tx->targets));
	tx->targets[tx->ntargets].address = xstrdup(address);
	tx->targets[tx->ntargets].local = local;
	tx->ntargets++;
	return true;
}

static void rcpt_accept(struct smtp_session *s, const char *rcpt, size_t first_target)
{
	struct smtp_tx *tx = s->tx;
	struct smtp_command *p = &tx->pending_rcpt;
	tx->rcpts = xreallocarray(tx->rcpts, tx->nrcpts + 1, sizeof(*tx->rcpts));
	struct smtp_rcpt *r = &tx->rcpts[tx->nrcpts++];
	r->orig = xstrdup(rcpt);
	r->orcpt = p->params.orcpt_type ? xasprintf("%s;%s", p->params.orcpt_type, p->params.orcpt_addr) : NULL;
	r->notify = p->params.notify;
	r->first_target = first_target;
	r->ntargets = tx->ntargets - first_target;
	s->state = SMTP_S_RCPT;
	smtp_reply(s, 250, "2.1.5", "Ok");
	log_info("rcpt to=<%s> targets=%zu", rcpt, r->ntargets);
}

void smtp_rcpt_resolved(struct smtp_session *s, struct ipc_msg *msg)
{
	int64_t result;
	const char *error, *addr;
	uint32_t n, local;
	if (s->tx == NULL)
		return;
	struct smtp_tx *tx = s->tx;
	struct smtp_command *p = &tx->pending_rcpt;
	char *rcpt = p->addr.domain[0] ? mail_address_to_string(&p->addr) : xstrdup(p->addr.local);
	if (ipc_get_i64(msg, &result) < 0 || ipc_get_str(msg, &error) < 0 || ipc_get_u32(msg, &n) < 0)
		fatal("malformed MSG_AUTH_REPLY");
	size_t first = tx->ntargets;
	switch (result) {
	case AUTH_R_FOUND:
		for (uint32_t i = 0; i < n; i++) {
			if (ipc_get_str(msg, &addr) < 0 || ipc_get_u32(msg, &local) < 0)
				fatal("malformed MSG_AUTH_REPLY");
			/* a remote target reached through a local alias is fine:
			 * the alias owner chose it */
			add_target(tx, addr, local != 0);
		}
		rcpt_accept(s, rcpt, first);
		break;
	case AUTH_R_NOT_LOCAL:
		if (s->trusted && !tx->source_routed && !address_has_routing(&p->addr)) {
			add_target(tx, rcpt, false);
			rcpt_accept(s, rcpt, first);
		} else {
			front_g.stat_rejected_rcpts++;
			smtp_error_reply(s, 554, "5.7.1", "<%s>: Relay access denied", rcpt);
			log_info("reject rcpt=<%s> reason=relay", rcpt);
		}
		break;
	case AUTH_R_NOTFOUND:
		front_g.stat_rejected_rcpts++;
		smtp_error_reply(s, 550, "5.1.1", "<%s>: Recipient address rejected: User unknown", rcpt);
		log_info("reject rcpt=<%s> reason=unknown", rcpt);
		break;
	case AUTH_R_LOOP:
		/* a configuration error: keep the sender retrying while the
		 * admin fixes it, rather than bouncing */
		smtp_error_reply(s, 451, "4.3.0", "<%s>: Temporary lookup failure (alias loop)", rcpt);
		log_error("alias loop rcpt=<%s> %s", rcpt, error);
		break;
	default:
		smtp_error_reply(s, 451, "4.3.0", "<%s>: Temporary lookup failure", rcpt);
		log_warn("tempfail rcpt=<%s> reason=\"%s\"", rcpt, error);
	}
	free(rcpt);
	smtp_command_free(&tx->pending_rcpt);
}

/* ---- the rest ---- */

static void cmd_data(struct smtp_session *s, struct smtp_command *cmd)
{
	if (s->tx == NULL || s->tx->nrcpts == 0) {
		smtp_error_reply(s, 503, "5.5.1", "Error: need RCPT command");
		return;
	}
	if (s->tx->bdat) {
		smtp_error_reply(s, 503, "5.5.1", "Error: DATA after BDAT");
		return;
	}
	/* RFC 2920 3.1: DATA ends a pipelined group; content sent before the
	 * 354 is a protocol violation (and the smuggling pattern SMUG-6) */
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		smtp_reply(s, 554, "5.5.0", "Error: SMTP protocol synchronization");
		log_warn("pipelining violation after DATA client=%s", s->ip);
		smtp_session_close(s);
		return;
	}
	smtp_data_begin(s, false);
}

static void cmd_bdat(struct smtp_session *s, struct smtp_command *cmd)
{
	const struct youju_config *cfg = front_g.ctx->cfg;
	if (s->tx == NULL || s->tx->nrcpts == 0) {
		/* the chunk follows the command: without a transaction there is
		 * no safe way to skip it, so end the session (RFC 3030 4.2) */
		smtp_reply(s, 503, "5.5.1", "Error: need RCPT command");
		smtp_session_close(s);
		return;
	}
	uint64_t total = (s->tx->dec ? smtp_data_size(s->tx->dec) : 0) + cmd->bdat_size;
	if (cmd->bdat_size > (uint64_t)cfg->message_size_limit || total > (uint64_t)cfg->message_size_limit) {
		smtp_reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		smtp_session_close(s);
		return;
	}
	if (!s->tx->bdat)
		smtp_data_begin(s, true);
	s->tx->bdat_remaining = cmd->bdat_size;
	s->tx->bdat_last = cmd->bdat_last;
	s->state = SMTP_S_BDAT;
	if (cmd->bdat_size == 0)
		smtp_bdat_input(s, "", 0);
}

static void cmd_starttls(struct smtp_session *s)
{
	if (front_g.tls == NULL) {
		smtp_error_reply(s, 454, "4.7.0", "TLS not available");
		return;
	}
	if (s->tls) {
		smtp_error_reply(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
	smtp_session_starttls(s);
}

void smtp_dispatch(struct smtp_session *s, struct smtp_command *cmd, const char *line, size_t len)
{
	switch (cmd->verb) {
	case SMTP_EHLO:
	case SMTP_HELO:
		cmd_helo(s, cmd);
		break;
	case SMTP_MAIL:
		cmd_mail(s, cmd);
		break;
	case SMTP_RCPT:
		cmd_rcpt(s, cmd, line);
		break;
	case SMTP_DATA:
		cmd_data(s, cmd);
		break;
	case SMTP_BDAT:
		cmd_bdat(s, cmd);
		break;
	case SMTP_RSET:
		if (s->tx)
			smtp_data_abort(s);
		smtp_tx_free(&s->tx);
		if (s->state != SMTP_S_CONNECTED)
			s->state = SMTP_S_READY;
		smtp_reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTP_NOOP:
		smtp_reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTP_QUIT:
		smtp_reply(s, 221, "2.0.0", "Bye");
		smtp_session_close(s);
		break;
	case SMTP_HELP:
		smtp_reply(s, 214, "2.0.0", "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS");
		break;
	case SMTP_VRFY:
		/* RFC 5321 3.5.3: 252 without disclosing who exists */
		smtp_reply(s, 252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery");
		break;
	case SMTP_EXPN:
		smtp_error_reply(s, 502, "5.5.1", "Error: EXPN is not supported");
		break;
	case SMTP_STARTTLS:
		cmd_starttls(s);
		break;
	case SMTP_AUTH:
		smtp_error_reply(s, 503, "5.5.1", "Error: authentication not enabled");
		break;
	default:
		smtp_error_reply(s, 500, "5.5.2", "Error: command not recognized");
	}
	smtp_command_free(cmd);
}
