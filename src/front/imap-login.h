#ifndef YOUJU_IMAP_LOGIN_H
#define YOUJU_IMAP_LOGIN_H
/*
 * IMAP before login (RFC 9051 6.1, 6.2; RFC 4959 SASL-IR; RFC 2971 ID) on
 * the imap (143, STARTTLS) and imaps (993) listeners: greeting, CAPABILITY,
 * NOOP, LOGOUT, ID, STARTTLS, LOGIN, AUTHENTICATE PLAIN/LOGIN. Every other
 * command is refused. Front answers a successful login itself ("tag OK
 * [CAPABILITY ...] Logged in") and then hands the connection, with any
 * input the client already pipelined behind the login, to the mail role.
 */
#include <stdbool.h>

#include "front.h"
#include "ipc.h"

void imap_login_start(struct front_listener *l, int fd, const struct netaddr *peer, bool implicit_tls);
/* The auth role answered a password check for session id. */
void imap_login_auth_reply(uint64_t id, struct ipc_msg *msg);
bool imap_login_owns(uint64_t id);
/* The auth role went away: checks in flight fail temporarily. */
void imap_login_peer_down(void);
/* Connections not logged in yet (status). */
unsigned imap_login_count(void);
/* Shutdown: "* BYE" to every client not logged in yet, and close. */
void imap_login_close_all(void);

#endif
