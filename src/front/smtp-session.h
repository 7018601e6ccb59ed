#ifndef YOUJU_SMTP_SESSION_H
#define YOUJU_SMTP_SESSION_H
/*
 * One SMTP server session in the front role (RFC 5321): explicit state, a
 * transaction created at MAIL and freed at RSET or the end of DATA/BDAT,
 * replies to a pipelined group collected and written in one write
 * (RFC 2920), asynchronous lookups (auth, DNS, queue) parked by session id.
 */
#include <stdbool.h>
#include <stdint.h>
#include <event2/bufferevent.h>

#include "buf.h"
#include "dns.h"
#include "ipc.h"
#include "netaddr.h"
#include "smtp-command.h"
#include "smtp-input.h"

enum smtp_state {
	SMTP_S_CONNECTED,	/* greeting sent, no HELO/EHLO yet */
	SMTP_S_READY,		/* after HELO/EHLO */
	SMTP_S_MAIL,		/* after MAIL */
	SMTP_S_RCPT,		/* at least one RCPT accepted */
	SMTP_S_DATA,		/* reading DATA content */
	SMTP_S_BDAT,		/* reading a BDAT chunk */
	SMTP_S_CLOSING,		/* flushing the last reply, then close */
};

enum smtp_wait {
	SMTP_WAIT_NONE,
	SMTP_WAIT_AUTH,		/* a lookup in the auth role */
	SMTP_WAIT_DNS,
	SMTP_WAIT_QUEUE,	/* space check or commit in the queue role */
	SMTP_WAIT_DELAY,	/* error tarpit */
	SMTP_WAIT_TLS,		/* STARTTLS handshake running */
	SMTP_WAIT_BACKPRESSURE,	/* the queue channel is full */
};

struct smtp_target {
	char *address;
	bool local;
};

struct smtp_rcpt {
	char *orig;		/* as given in RCPT TO */
	char *orcpt;
	unsigned notify;
	size_t first_target, ntargets;
};

struct smtp_tx {
	char *sender;
	struct smtp_params params;
	struct smtp_rcpt *rcpts;
	size_t nrcpts;
	struct smtp_target *targets;	/* deduplicated final recipients */
	size_t ntargets;
	/* content */
	struct smtp_data_decoder *dec;
	buf_t chunk;			/* decoded content not yet sent to queue */
	bool begun;			/* MSG_QUEUE_BEGIN sent */
	bool queue_lost;		/* the queue channel dropped meanwhile */
	uint64_t epoch;
	bool bdat;			/* BDAT used in this transaction */
	uint64_t bdat_remaining;
	bool bdat_last;
	bool bdat_failed;		/* a BDAT error: discard until LAST, then RSET-like */
	int64_t data_deadline_ms;
	/* the RCPT being looked up */
	struct smtp_command pending_rcpt;
	bool source_routed;
};

struct smtp_session {
	struct smtp_session *hnext;	/* front session table */
	uint64_t id;
	char sid[24];
	struct front_listener *listener;
	struct bufferevent *bev;
	struct netaddr peer;
	char ip[64];
	bool trusted;
	bool tls;
	char *tls_info;
	enum smtp_state state;
	enum smtp_wait wait;
	char *helo;
	bool esmtp;
	struct smtp_line_reader lines;
	buf_t out;			/* replies of the current pipelined group */
	unsigned errors;
	struct smtp_tx *tx;
	struct event *timer;		/* idle/command timeout */
	struct event *resume;		/* delay and backpressure */
	struct dns_query *dnsq;
	bool destroyed;
	unsigned close_checks;
};

void smtp_session_start(struct front_listener *l, int fd, const struct netaddr *peer);
/* A reply from the auth or queue role for this session. */
void smtp_session_peer_reply(struct smtp_session *s, struct ipc_msg *msg);
/* The queue or auth role went away: fail what waits on it. */
void smtp_session_peer_down(struct smtp_session *s, bool queue);
void smtp_session_close_all(void);

/* smtp-cmds.c */
void smtp_reply(struct smtp_session *s, int code, const char *enhanced, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void smtp_error_reply(struct smtp_session *s, int code, const char *enhanced, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool smtp_helo_fallback(struct smtp_session *s, const char *line, size_t len);
void smtp_dispatch(struct smtp_session *s, struct smtp_command *cmd, const char *line, size_t len);
void smtp_tx_free(struct smtp_tx **tx);
void smtp_rcpt_resolved(struct smtp_session *s, struct ipc_msg *msg);
void smtp_mail_space_checked(struct smtp_session *s, struct ipc_msg *msg);
void smtp_greeting(struct smtp_session *s);

/* smtp-data.c */
void smtp_data_begin(struct smtp_session *s, bool bdat);
/* Feed input to the content decoder; returns bytes used. Sets state/wait. */
size_t smtp_data_input(struct smtp_session *s, const char *in, size_t len);
size_t smtp_bdat_input(struct smtp_session *s, const char *in, size_t len);
void smtp_data_committed(struct smtp_session *s, struct ipc_msg *msg);
void smtp_data_abort(struct smtp_session *s);

/* smtp-session.c */
void smtp_session_flush(struct smtp_session *s);
void smtp_session_close(struct smtp_session *s);
void smtp_session_continue(struct smtp_session *s);	/* after an async step */
void smtp_session_starttls(struct smtp_session *s);
int64_t smtp_now_ms(void);
void smtp_session_wait(struct smtp_session *s, enum smtp_wait w);
void smtp_session_delay(struct smtp_session *s, int64_t ms);

#endif
