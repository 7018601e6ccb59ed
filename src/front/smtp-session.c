/*
 * SMTP session I/O: the bufferevent (plain or TLS), the input loop that
 * frames command lines and message content, pipelined reply flushing,
 * timeouts, STARTTLS and teardown.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "front.h"
#include "log.h"
#include "smtp-session.h"
#include "tls.h"
#include "xalloc.h"

#define SMTP_READ_HIGH_WATER (256 * 1024)
#define SMTP_QUEUE_BACKLOG_MAX (8 * 1024 * 1024)

static void smtp_read_cb(struct bufferevent *bev, void *arg);
static void smtp_write_cb(struct bufferevent *bev, void *arg);
static void smtp_event_cb(struct bufferevent *bev, short what, void *arg);
static void smtp_process(struct smtp_session *s);

int64_t smtp_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_timer(struct smtp_session *s, int64_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(s->timer, &tv);
}

/* The idle timer: a command must arrive within smtp_timeout; message
 * content within smtp_data_timeout of DATA/BDAT. */
static void arm_timeout(struct smtp_session *s)
{
	const struct youju_config *cfg = front_g.ctx->cfg;
	if (s->tx && s->tx->data_deadline_ms) {
		int64_t left = s->tx->data_deadline_ms - smtp_now_ms();
		set_timer(s, left > 0 ? left : 1);
	} else {
		set_timer(s, cfg->smtp_timeout);
	}
}

static void destroy(struct smtp_session *s)
{
	log_set_session(s->sid);
	log_info("disconnect client=%s errors=%u", s->ip, s->errors);
	if (s->tx)
		smtp_data_abort(s);
	smtp_tx_free(&s->tx);
	dns_cancel(&s->dnsq);
	if (s->bev)
		bufferevent_free(s->bev);
	event_free(s->timer);
	event_free(s->resume);
	buf_free(&s->out);
	free(s->helo);
	free(s->tls_info);
	front_conn_release(&s->peer);
	log_set_session(NULL);
	front_session_remove(s);
	free(s);
}

/* Bytes not yet handed to the kernel: with TLS the filter's output moves
 * into the socket bufferevent underneath, which must drain too. */
static size_t output_pending(struct smtp_session *s)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	if (under)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

static void on_close_check(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	if (output_pending(s) == 0 || ++s->close_checks > 500) {
		destroy(s);
		return;
	}
	struct timeval tv = { 0, 10000 };
	evtimer_add(s->resume, &tv);
}

void smtp_session_close(struct smtp_session *s)
{
	if (s->state == SMTP_S_CLOSING)
		return;
	s->state = SMTP_S_CLOSING;
	smtp_session_flush(s);
	/* stop reading; destroy once the last reply is on the wire */
	bufferevent_disable(s->bev, EV_READ);
	evtimer_del(s->timer);
	event_free(s->resume);
	s->resume = evtimer_new(front_g.ctx->base, on_close_check, s);
	struct timeval tv = { 0, 0 };
	evtimer_add(s->resume, &tv);
}

void smtp_session_flush(struct smtp_session *s)
{
	if (s->out.used == 0)
		return;
	/* one write for the whole pipelined group (RFC 2920 server side) */
	bufferevent_write(s->bev, s->out.data, s->out.used);
	buf_reset(&s->out);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	log_set_session(s->sid);
	log_info("timeout client=%s state=%d", s->ip, (int)s->state);
	buf_reset(&s->out);
	smtp_reply(s, 421, "4.4.2", "%s Error: timeout exceeded", front_g.hostname);
	smtp_session_close(s);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	if (s->state == SMTP_S_CLOSING)
		return;
	if (s->wait == SMTP_WAIT_DELAY || s->wait == SMTP_WAIT_BACKPRESSURE)
		smtp_session_continue(s);
}

void smtp_session_wait(struct smtp_session *s, enum smtp_wait w)
{
	s->wait = w;
}

void smtp_session_delay(struct smtp_session *s, int64_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	s->wait = SMTP_WAIT_DELAY;
	evtimer_add(s->resume, &tv);
}

void smtp_session_continue(struct smtp_session *s)
{
	s->wait = SMTP_WAIT_NONE;
	log_set_session(s->sid);
	smtp_process(s);
	if (s->destroyed)
		destroy(s);
}

void smtp_session_start(struct front_listener *l, int fd, const struct netaddr *peer)
{
	const char *why = NULL;
	char ip[64];
	netaddr_format(peer, ip, sizeof(ip));
	if (!front_conn_acquire(peer, &why)) {
		char reply[160];
		int n = snprintf(reply, sizeof(reply), "421 4.7.0 %s Error: %s\r\n", front_g.hostname, why);
		(void)!write(fd, reply, (size_t)n);
		close(fd);
		l->refused++;
		log_warn("connection refused client=%s reason=\"%s\"", ip, why);
		return;
	}
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	s->id = ++front_g.next_id;
	snprintf(s->sid, sizeof(s->sid), "%08x%04x", (unsigned)time(NULL), (unsigned)(s->id & 0xffff));
	s->listener = l;
	s->peer = *peer;
	memcpy(s->ip, ip, sizeof(s->ip));
	s->trusted = netmask_list_match(&front_g.trusted, peer);
	buf_init(&s->out, 0);
	smtp_line_reader_init(&s->lines, (size_t)front_g.ctx->cfg->smtp_max_command_length);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->bev = bufferevent_socket_new(front_g.ctx->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_READ_HIGH_WATER);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->timer = evtimer_new(front_g.ctx->base, on_timeout, s);
	s->resume = evtimer_new(front_g.ctx->base, on_resume, s);
	front_session_add(s);
	log_set_session(s->sid);
	log_info("connect client=%s service=%s%s", s->ip, l->name, s->trusted ? " trusted=1" : "");
	smtp_greeting(s);
	smtp_session_flush(s);
	arm_timeout(s);
	log_set_session(NULL);
}

/* STARTTLS (RFC 3207 4.2): the 220 goes out in plaintext, everything the
 * client sent after the command is discarded (CVE-2011-0411), and the
 * session starts over as if just connected, minus the greeting. */
void smtp_session_starttls(struct smtp_session *s)
{
	smtp_session_flush(s);
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t dropped = evbuffer_get_length(in);
	evbuffer_drain(in, dropped);
	if (dropped)
		log_info("starttls: discarded %zu bytes sent before the handshake", dropped);
	SSL *ssl = SSL_new(front_g.tls);
	struct bufferevent *tls = bufferevent_openssl_filter_new(front_g.ctx->base, s->bev, ssl,
								 BUFFEREVENT_SSL_ACCEPTING,
								 BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(ssl);
		s->state = SMTP_S_CLOSING;
		s->destroyed = true;
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	s->bev = tls;
	bufferevent_setcb(s->bev, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_READ_HIGH_WATER);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->tls = true;
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	smtp_tx_free(&s->tx);
	s->state = SMTP_S_CONNECTED;
	smtp_line_reader_init(&s->lines, (size_t)front_g.ctx->cfg->smtp_max_command_length);
	s->wait = SMTP_WAIT_TLS;
}

static void tls_established(struct smtp_session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	buf_t d;
	buf_init(&d, 256);
	if (ssl)
		tls_describe(ssl, &d);
	free(s->tls_info);
	s->tls_info = xstrdup(buf_cstr(&d));
	buf_free(&d);
	log_info("starttls established %s", s->tls_info);
	s->wait = SMTP_WAIT_NONE;
}

/* The input loop: frame and execute as much as is buffered, unless an
 * asynchronous step is pending. */
static void smtp_process(struct smtp_session *s)
{
	const struct youju_config *cfg = front_g.ctx->cfg;
	struct evbuffer *in = bufferevent_get_input(s->bev);

	while (s->wait == SMTP_WAIT_NONE && s->state != SMTP_S_CLOSING && !s->destroyed) {
		size_t avail = evbuffer_get_length(in);
		if (avail == 0)
			break;
		if (s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT) {
			struct ipc_channel *q = front_g.ctx->peers[ROLE_QUEUE];
			if (q && ipc_channel_pending(q) > SMTP_QUEUE_BACKLOG_MAX) {
				/* the queue is behind: stop reading the client */
				s->wait = SMTP_WAIT_BACKPRESSURE;
				struct timeval tv = { 0, 20000 };
				evtimer_add(s->resume, &tv);
				break;
			}
			struct evbuffer_iovec v;
			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				break;
			size_t used = s->state == SMTP_S_DATA ? smtp_data_input(s, v.iov_base, v.iov_len)
							      : smtp_bdat_input(s, v.iov_base, v.iov_len);
			evbuffer_drain(in, used);
			continue;
		}
		size_t want = avail;
		size_t cap = (size_t)cfg->smtp_max_command_length + 2;
		if (want > cap)
			want = cap;
		const char *p = (const char *)evbuffer_pullup(in, (ssize_t)want);
		size_t line_len = 0, consumed = 0;
		enum smtp_line_error lerr = SMTP_LINE_OK;
		int r = smtp_line_next(&s->lines, p, want, &line_len, &consumed, &lerr);
		if (r == 0) {
			evbuffer_drain(in, consumed);
			if (consumed == 0)
				break;
			continue;
		}
		if (r < 0) {
			evbuffer_drain(in, consumed);
			if (lerr == SMTP_LINE_TOO_LONG)
				smtp_error_reply(s, 500, "5.5.2", "Error: command line too long");
			else
				smtp_error_reply(s, 500, "5.5.2", "Error: bare <%s> received",
						 lerr == SMTP_LINE_BARE_LF ? "LF" : "CR");
			continue;
		}
		struct smtp_command cmd;
		struct smtp_error perr;
		char *line = xstrndup(p, line_len);
		evbuffer_drain(in, consumed);
		if (smtp_command_parse(line, line_len,
				       s->tx && s->tx->params.smtputf8 ? SMTP_PARSE_UTF8 : 0, &cmd, &perr) < 0) {
			if (!smtp_helo_fallback(s, line, line_len))
				smtp_error_reply(s, perr.code, perr.enhanced, "%s", perr.text);
		} else {
			smtp_dispatch(s, &cmd, line, line_len);
		}
		free(line);
		arm_timeout(s);
	}
	if (s->wait == SMTP_WAIT_NONE || s->wait == SMTP_WAIT_TLS || s->state == SMTP_S_CLOSING)
		smtp_session_flush(s);
}

static void smtp_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	log_set_session(s->sid);
	if (s->wait == SMTP_WAIT_TLS)
		tls_established(s);
	if (s->wait == SMTP_WAIT_NONE)
		smtp_process(s);
	if (s->destroyed)
		destroy(s);
	log_set_session(NULL);
}

static void smtp_write_cb(struct bufferevent *bev, void *arg)
{
}

static void smtp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	log_set_session(s->sid);
	if (what & BEV_EVENT_CONNECTED) {
		/* TLS handshake done */
		if (s->wait == SMTP_WAIT_TLS)
			tls_established(s);
		log_set_session(NULL);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e;
		while ((e = bufferevent_get_openssl_error(bev)) != 0) {
			char buf[160];
			ERR_error_string_n(e, buf, sizeof(buf));
			log_info("tls error: %s", buf);
		}
	}
	if (s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT)
		log_info("lost connection during %s", s->state == SMTP_S_DATA ? "DATA" : "BDAT");
	destroy(s);
	log_set_session(NULL);
}

void smtp_session_peer_reply(struct smtp_session *s, struct ipc_msg *msg)
{
	log_set_session(s->sid);
	if (msg->type == MSG_AUTH_REPLY && s->wait == SMTP_WAIT_AUTH) {
		s->wait = SMTP_WAIT_NONE;
		smtp_rcpt_resolved(s, msg);
	} else if (msg->type == MSG_QUEUE_REPLY && s->wait == SMTP_WAIT_QUEUE) {
		s->wait = SMTP_WAIT_NONE;
		if (s->tx && s->tx->begun)
			smtp_data_committed(s, msg);
		else
			smtp_mail_space_checked(s, msg);
	} else {
		log_set_session(NULL);
		return;	/* stale */
	}
	smtp_process(s);
	if (s->destroyed)
		destroy(s);
	log_set_session(NULL);
}

void smtp_session_peer_down(struct smtp_session *s, bool queue)
{
	if (queue && s->tx && s->tx->begun)
		s->tx->queue_lost = true;
	if ((queue && s->wait == SMTP_WAIT_QUEUE) || (!queue && s->wait == SMTP_WAIT_AUTH)) {
		struct ipc_msg fake;
		/* answer as the role would on a temporary failure */
		ipc_msg_init(&fake, queue ? MSG_QUEUE_REPLY : MSG_AUTH_REPLY, s->id);
		ipc_add_i64(&fake, -1);
		ipc_add_str(&fake, queue ? "queue restarting" : "directory unavailable");
		if (!queue) {
			ipc_add_u32(&fake, 0);
		}
		smtp_session_peer_reply(s, &fake);
		ipc_msg_free(&fake);
	}
}

void smtp_session_close_all(void)
{
	for (unsigned b = 0; b < FRONT_SESSION_BUCKETS; b++) {
		struct smtp_session *s = front_g.buckets[b], *next;
		for (; s; s = next) {
			next = s->hnext;
			/* a message being received finishes; idle sessions go now */
			if (s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT || s->wait != SMTP_WAIT_NONE)
				continue;
			log_set_session(s->sid);
			smtp_reply(s, 421, "4.3.2", "%s Service shutting down", front_g.hostname);
			smtp_session_close(s);
		}
	}
	log_set_session(NULL);
}
