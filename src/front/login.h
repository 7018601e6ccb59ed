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

struct event;
struct front_listener;

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
/* ---- the connection of an IMAP or POP3 client before login ---- */

/* Unsent replies above this stop reading commands (and, under TLS, bound
 * the encrypted output below the TLS layer too). */
#define LOGIN_OUTPUT_MAX (64 * 1024)

/* The bufferevent of a new client connection fd: TLS (accepting) when tls,
 * plain otherwise; callbacks deferred to the event loop, so none runs inside
 * a write; reading and writing enabled. */
struct bufferevent *login_bev_new(int fd, bool tls, bufferevent_data_cb rd, bufferevent_data_cb wr,
				  bufferevent_event_cb ev, void *arg);
/* STARTTLS / STLS after the "go ahead" reply was queued: everything the
 * client sent before the handshake is discarded (RFC 3207 6, RFC 2595 4:
 * command injection), and bev is wrapped in a TLS filter with the same
 * callbacks. Returns the new bufferevent. */
struct bufferevent *login_starttls(struct bufferevent *bev, bufferevent_data_cb rd,
				   bufferevent_data_cb wr, bufferevent_event_cb ev, void *arg);
/* A malloc'd description of the TLS session (protocol, cipher) for the
 * logs and the hand-off, once the handshake is done. */
char *login_tls_info(struct bufferevent *bev);
/* Nothing left to send, at the TLS layer or below it. */
bool login_output_drained(struct bufferevent *bev);
/* Arms timer with login_timeout. */
void login_timeout_start(struct event *timer);
/* Counts a new connection (front_conn_acquire); at a limit writes refusal
 * (not under implicit TLS, where it would not be TLS), closes fd and
 * returns false. */
bool login_accept(struct front_listener *l, int fd, const struct netaddr *peer, bool implicit_tls,
		  const char *refusal);

/* Proxied connections still open (status). */
unsigned login_proxied(void);

#endif
