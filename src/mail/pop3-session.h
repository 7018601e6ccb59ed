#ifndef YOUJU_POP3_SESSION_H
#define YOUJU_POP3_SESSION_H
/*
 * POP3 after login (RFC 1939 transaction and update states, RFC 2449),
 * in the mail role: the INBOX of the user's store as a snapshot taken at
 * login, UIDLs "UIDVALIDITY(8 hex)UID(8 hex)" that survive restarts and
 * index rebuilds, deletions applied only at QUIT, one POP3 session per
 * mailbox at a time ([IN-USE]).
 */
#include "ipc.h"
#include "role.h"

void pop3_session_start(struct role_ctx *ctx, const char *user, const char *ip, const char *tls,
			const char *pending, size_t pending_len, uint64_t quota_bytes, int fd);
unsigned pop3_session_count(void);

#endif
