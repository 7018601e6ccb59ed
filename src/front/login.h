#ifndef YOUJU_LOGIN_H
#define YOUJU_LOGIN_H
/*
 * What the IMAP and POP3 front ends share before and at login: whether a
 * password may be sent on this connection, the per-address failure penalty,
 * the password check through the auth role, and the hand-off of a logged-in
 * connection to the mail role (the socket itself, or a socketpair that
 * front keeps proxying TLS onto).
 */
#include <stdbool.h>
#include <stdint.h>
#include <event2/bufferevent.h>

#include "netaddr.h"

enum login_proto { LOGIN_IMAP = 1, LOGIN_POP3 = 2 };

/* RFC 8314 / auth_allow_plaintext: may a password cross this connection? */
bool login_plaintext_allowed(bool tls, const struct netaddr *peer);
/* Milliseconds to hold the reply to a failed login from this address:
 * auth_failure_delay doubling per failure in the last 10 minutes, capped. */
int64_t login_failure_delay(const struct netaddr *peer);
void login_failed(const struct netaddr *peer);
void login_succeeded(const struct netaddr *peer);
/* Ask auth to check a password; the reply (MSG_AUTH_REPLY, reqid = id)
 * comes back through front_message. -1 when auth is not connected. */
int login_check(uint64_t id, const char *user, const char *password, size_t len);
/* Hand the connection to the mail role. bev is freed here (the client
 * fd goes to mail, or is kept proxied when tls). pending holds input the
 * client already sent after its login command. The connection's count
 * (front_conn_acquire) moves with it: released now for a plain socket,
 * when the proxy ends for TLS. 0, or -1 if mail is not connected (bev and
 * the count are then still the caller's). */
int login_handoff(struct bufferevent *bev, bool tls, const struct netaddr *peer, enum login_proto proto,
		  const char *user, const char *ip, const char *tls_info, const char *pending,
		  size_t pending_len);
/* Proxied connections still open (status). */
unsigned login_proxied(void);

#endif
