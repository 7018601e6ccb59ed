#ifndef YOUJU_POP3_LOGIN_H
#define YOUJU_POP3_LOGIN_H
/*
 * POP3 before login (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034
 * AUTH): greeting, CAPA, STLS, USER/PASS, AUTH PLAIN/LOGIN, QUIT. After a
 * successful login the connection goes to the mail role, which answers the
 * PASS/AUTH itself (+OK, or -ERR [IN-USE]).
 */
#include <stdbool.h>

#include "front.h"
#include "ipc.h"

void pop3_login_start(struct front_listener *l, int fd, const struct netaddr *peer, bool implicit_tls);
/* The auth role answered a password check for session id. */
void pop3_login_auth_reply(uint64_t id, struct ipc_msg *msg);
bool pop3_login_owns(uint64_t id);
/* The auth role went away: checks in flight fail temporarily. */
void pop3_login_peer_down(void);
unsigned pop3_login_count(void);
/* Shutdown: tell every client not logged in yet, and close. */
void pop3_login_close_all(void);

#endif
