/*
 * Message content: DATA (RFC 5321 4.1.1.4) and BDAT (RFC 3030) decoded by
 * lib-smtp and streamed to the queue role as it arrives. The reply is 250
 * only after the queue says the spool file and its directory are on disk.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "front.h"
#include "log.h"
#include "smtp-session.h"
#include "xalloc.h"

#define SMTP_CHUNK_SIZE (64 * 1024)

static void add_received(struct smtp_session *s, buf_t *out)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	const struct smtp_tx *tx = s->tx;
	/* RFC 3848 protocol names; RFC 6531 for UTF8 */
	const char *proto = tx->params.smtputf8 ? (s->tls ? "UTF8SMTPS" : "UTF8SMTP")
			    : !s->esmtp ? "SMTP" : s->tls ? "ESMTPS" : "ESMTP";
	buf_printf(out, "Received: from %s (unknown [%s])\r\n", s->helo ? s->helo : "unknown", s->ip);
	if (s->tls_info)
		buf_printf(out, "\t(using %s)\r\n", s->tls_info);
	buf_printf(out, "\tby %s (youju) with %s", front_g.hostname, proto);
	if (tx->nrcpts == 1)
		buf_printf(out, "\r\n\tfor <%s>", tx->rcpts[0].orig);
	buf_printf(out, "; %s\r\n", date);
}

static int send_queue(struct smtp_session *s, struct ipc_msg *m)
{
	if (s->tx->queue_lost || s->tx->epoch != front_g.queue_epoch) {
		ipc_msg_free(m);
		s->tx->queue_lost = true;
		return -1;
	}
	if (role_send(front_g.ctx, ROLE_QUEUE, m) < 0) {
		s->tx->queue_lost = true;
		return -1;
	}
	return 0;
}

static void send_begin(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct ipc_msg m;
	ipc_msg_init(&m, MSG_QUEUE_BEGIN, s->id);
	ipc_add_str(&m, tx->sender);
	ipc_add_str(&m, s->ip);
	ipc_add_str(&m, s->helo ? s->helo : "");
	ipc_add_str(&m, "");
	ipc_add_str(&m, s->tls_info ? s->tls_info : "");
	ipc_add_str(&m, tx->params.envid ? tx->params.envid : "");
	ipc_add_u32(&m, tx->params.ret == SMTP_RET_FULL ? 1 : tx->params.ret == SMTP_RET_HDRS ? 2 : 0);
	ipc_add_str(&m, tx->params.body == SMTP_BODY_8BITMIME ? "8BITMIME"
			: tx->params.body == SMTP_BODY_7BIT ? "7BIT" : "");
	ipc_add_u32(&m, tx->params.smtputf8 ? 1 : 0);
	/* one spool recipient per final target, carrying the DSN fields of
	 * the RCPT that produced it */
	ipc_add_u32(&m, (uint32_t)tx->ntargets);
	for (size_t r = 0; r < tx->nrcpts; r++) {
		const struct smtp_rcpt *rc = &tx->rcpts[r];
		for (size_t t = rc->first_target; t < rc->first_target + rc->ntargets; t++) {
			ipc_add_str(&m, tx->targets[t].address);
			ipc_add_str(&m, rc->orig);
			ipc_add_str(&m, rc->orcpt ? rc->orcpt : "");
			ipc_add_u32(&m, rc->notify);
			ipc_add_u32(&m, tx->targets[t].local ? 1 : 0);
		}
	}
	tx->epoch = front_g.queue_epoch;
	tx->begun = true;
	send_queue(s, &m);
}

static void flush_chunk(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	if (tx->chunk.used == 0)
		return;
	if (!tx->queue_lost) {
		struct ipc_msg m;
		ipc_msg_init(&m, MSG_QUEUE_DATA, s->id);
		ipc_add_data(&m, tx->chunk.data, tx->chunk.used);
		send_queue(s, &m);
	}
	buf_reset(&tx->chunk);
}

void smtp_data_begin(struct smtp_session *s, bool bdat)
{
	const struct youju_config *cfg = front_g.ctx->cfg;
	struct smtp_tx *tx = s->tx;
	unsigned flags = strcmp(cfg->smtp_bare_newline, "normalize") == 0 ? SMTP_DATA_NORMALIZE_BARE_LF : 0;
	tx->dec = smtp_data_decoder_create((uint64_t)cfg->message_size_limit, (size_t)cfg->smtp_max_line_length,
					   (size_t)cfg->smtp_max_header_size, flags);
	tx->bdat = bdat;
	tx->data_deadline_ms = smtp_now_ms() + cfg->smtp_data_timeout;
	send_begin(s);
	add_received(s, &tx->chunk);
	if (!bdat) {
		s->state = SMTP_S_DATA;
		smtp_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
		smtp_session_flush(s);
	}
}

/* Content is complete: commit it, or say why not. */
static void data_end(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	enum smtp_data_status st = smtp_data_status(tx->dec);
	tx->data_deadline_ms = 0;
	s->state = SMTP_S_READY;
	if (st != SMTP_DATA_OK) {
		smtp_data_abort(s);
		buf_reset(&tx->chunk);
		switch (st) {
		case SMTP_DATA_TOO_BIG:
			smtp_error_reply(s, 552, "5.3.4", "Error: message file too big");
			break;
		case SMTP_DATA_BARE_LF:
			smtp_error_reply(s, 550, "5.5.2", "Error: bare <LF> received");
			break;
		case SMTP_DATA_BARE_CR:
			smtp_error_reply(s, 550, "5.5.2", "Error: bare <CR> received");
			break;
		case SMTP_DATA_LINE_TOO_LONG:
			smtp_error_reply(s, 552, "5.3.4", "Error: message line too long");
			break;
		default:
			smtp_error_reply(s, 552, "5.3.4", "Error: message header too large");
		}
		log_info("message rejected reason=\"%s\" size=%llu", smtp_data_status_text(st),
			 (unsigned long long)smtp_data_size(tx->dec));
		smtp_tx_free(&s->tx);
		return;
	}
	flush_chunk(s);
	struct ipc_msg m;
	ipc_msg_init(&m, MSG_QUEUE_END, s->id);
	ipc_add_u32(&m, 1);
	if (send_queue(s, &m) < 0) {
		smtp_error_reply(s, 451, "4.3.0", "Error: queue file write error");
		smtp_tx_free(&s->tx);
		return;
	}
	smtp_session_wait(s, SMTP_WAIT_QUEUE);
}

size_t smtp_data_input(struct smtp_session *s, const char *in, size_t len)
{
	struct smtp_tx *tx = s->tx;
	size_t used = 0;
	int r = smtp_data_feed(tx->dec, in, len, &used, &tx->chunk);
	if (tx->chunk.used >= SMTP_CHUNK_SIZE)
		flush_chunk(s);
	if (r == 1)
		data_end(s);
	return used;
}

size_t smtp_bdat_input(struct smtp_session *s, const char *in, size_t len)
{
	struct smtp_tx *tx = s->tx;
	size_t take = len < tx->bdat_remaining ? len : (size_t)tx->bdat_remaining;
	smtp_bdat_feed(tx->dec, in, take, &tx->chunk);
	tx->bdat_remaining -= take;
	if (tx->chunk.used >= SMTP_CHUNK_SIZE)
		flush_chunk(s);
	if (tx->bdat_remaining > 0)
		return take;
	if (tx->bdat_last) {
		smtp_bdat_finish(tx->dec);
		data_end(s);
	} else {
		s->state = SMTP_S_RCPT;
		smtp_reply(s, 250, "2.0.0", "%llu octets received", (unsigned long long)smtp_data_size(tx->dec));
	}
	return take;
}

void smtp_data_committed(struct smtp_session *s, struct ipc_msg *msg)
{
	int64_t r;
	const char *text;
	if (ipc_get_i64(msg, &r) < 0 || ipc_get_str(msg, &text) < 0)
		fatal("malformed MSG_QUEUE_REPLY");
	if (r == 1) {
		front_g.stat_messages++;
		smtp_reply(s, 250, "2.0.0", "Ok: queued as %s", text);
		log_info("queued id=%s size=%llu rcpts=%zu", text,
			 (unsigned long long)smtp_data_size(s->tx->dec), s->tx->ntargets);
	} else {
		/* local trouble is always temporary (never a 5xx, never lost) */
		smtp_error_reply(s, 451, "4.3.0", "Error: queue file write error");
		log_error("queue failed reason=\"%s\"", text);
	}
	smtp_tx_free(&s->tx);
}

void smtp_data_abort(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	if (tx == NULL || !tx->begun || tx->queue_lost)
		return;
	struct ipc_msg m;
	ipc_msg_init(&m, MSG_QUEUE_END, s->id);
	ipc_add_u32(&m, 0);
	send_queue(s, &m);
	tx->begun = false;
}
