#ifndef YOUJU_PROTO_H
#define YOUJU_PROTO_H
/*
 * Message types spoken between youju's daemon roles and on the control
 * socket. Frames, typed fields and fd passing are src/lib/ipc.h; this file
 * only names the messages and documents their fields, in order.
 * Type 0 is reserved for the IPC handshake.
 */

enum youju_msg {
	/* master -> role */
	MSG_CONFIG = 1,		/* str config-text, str config-path: (re)configure */
	MSG_LISTENER,		/* str name, fd listening socket (front) */
	MSG_PEER,		/* str peer-role, fd socketpair end to that role */
	MSG_GO,			/* setup complete: drop privileges and start */
	MSG_SHUTDOWN,		/* stop accepting, finish in-flight work, exit 0 */
	MSG_STATUS_REQ,		/* (empty) */

	/* role -> master */
	MSG_READY = 20,		/* u32 pid: role is serving */
	MSG_STATUS_REPLY,	/* str text: one "key=value ..." line per item */

	/* any role -> auth (replies carry the request id) */
	MSG_AUTH_DOMAIN = 40,	/* str domain -> MSG_AUTH_REPLY i64 result */
	MSG_AUTH_RESOLVE,	/* str address -> MSG_AUTH_REPLY i64 result, str error,
				 * u32 n, n x (str address, u32 local) */
	MSG_AUTH_PASSWORD,	/* str user, data password -> MSG_AUTH_REPLY
				 * i64 result, str canonical user, u32 cached */
	MSG_AUTH_MAILBOX,	/* str address -> MSG_AUTH_REPLY i64 result, str email,
				 * i64 quota */
	MSG_AUTH_REPLY,
	MSG_AUTH_FLUSH,		/* (empty): drop the auth cache */

	/* front -> queue; reqid = the SMTP session id, replies MSG_QUEUE_REPLY
	 * i64 result, str text */
	MSG_QUEUE_SPACE = 60,	/* u64 size hint -> 1 ok, 0 too little space, -1 error */
	MSG_QUEUE_BEGIN,	/* str sender, str client-ip, str helo, str client-name,
				 * str tls, str envid, u32 ret, str body, u32 smtputf8,
				 * u32 n, n x (str address, str orig, str orcpt,
				 * u32 notify, u32 local); no reply */
	MSG_QUEUE_DATA,		/* data chunk; no reply */
	MSG_QUEUE_END,		/* u32 commit (1) or abort (0) -> 1 + queue id when
				 * durably queued, -1 + reason otherwise */
	MSG_QUEUE_REPLY,

	/* queue -> mail; reqid chosen by queue */
	MSG_DELIVER = 70,	/* str queue-id, str sender, u32 attempt, i64 offset,
				 * i64 length, fd spool file, u32 n,
				 * n x (u32 index, str address) -> MSG_DELIVER_RESULT */
	MSG_DELIVER_RESULT,	/* str queue-id, u32 n, n x (u32 index, i64 status
				 * (1 delivered, 0 temporary, -1 permanent), str reason) */

	/* front -> mail: a client logged in; mail serves it from now on */
	MSG_MAIL_LOGIN = 75,	/* u32 protocol (1 IMAP, 2 POP3), str user, str client-ip,
				 * str tls, data input already buffered, fd connection
				 * (the client socket, or a socketpair front proxies TLS on) */

	/* control socket: CLI -> master; replies are CTL_REPLY */
	CTL_STATUS = 80,	/* -> text */
	CTL_RELOAD,		/* -> text */
	CTL_STOP,		/* -> text */
	CTL_AUTH,		/* forwarded to auth as the MSG_AUTH_* named by u32 */
	CTL_REPLY,		/* i64 code (0 ok), str text; CTL_AUTH replies carry
				 * the auth role's reply fields after these two */
};

/* Roles, in start order. */
enum youju_role { ROLE_AUTH, ROLE_QUEUE, ROLE_MAIL, ROLE_FRONT, ROLE_COUNT };
const char *role_name(enum youju_role r);
int role_from_name(const char *name);

/* Result codes carried in MSG_AUTH_REPLY (match enum dir_result and the
 * resolver's extra outcomes). */
#define AUTH_R_TEMPFAIL (-1)
#define AUTH_R_NOTFOUND 0
#define AUTH_R_FOUND 1
#define AUTH_R_NOT_LOCAL 2
#define AUTH_R_LOOP (-2)
#define AUTH_R_MISMATCH 3	/* password check: user exists, wrong password */

#endif
