#ifndef YOUJU_FRONT_H
#define YOUJU_FRONT_H
/*
 * The front role's shared state: listeners, TLS context, DNS resolver,
 * trusted networks, connection accounting, and the table of live SMTP
 * sessions (replies from auth and queue find their session by id).
 */
#include <stdbool.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "dns.h"
#include "netaddr.h"
#include "role.h"

#define FRONT_MAX_LISTENERS 8
#define FRONT_SESSION_BUCKETS 1024

struct smtp_session;

struct front_listener {
	char *name;
	int fd;
	struct event *ev;
	bool smtp;		/* served by the SMTP server */
	bool pop3;		/* pop3 or pop3s */
	bool imap;		/* imap or imaps */
	uint64_t accepted;
	uint64_t refused;
};

struct front_ip_count {
	struct netaddr addr;
	unsigned count;
};

struct front {
	struct role_ctx *ctx;
	struct front_listener listeners[FRONT_MAX_LISTENERS];
	unsigned nlisteners;
	SSL_CTX *tls;			/* NULL when tls_cert is empty */
	struct dns_resolver *dns;
	struct netmask_list trusted;
	char *hostname;
	uint64_t next_id;
	struct smtp_session *buckets[FRONT_SESSION_BUCKETS];
	unsigned nconns;
	struct front_ip_count *ips;
	size_t nips;
	uint64_t queue_epoch;		/* bumped when the queue channel drops */
	uint64_t stat_messages, stat_rejected_rcpts;
};

extern struct front front_g;

void front_session_add(struct smtp_session *s);
void front_session_remove(struct smtp_session *s);
struct smtp_session *front_session_find(uint64_t id);
/* Count a connection from addr; false (nothing counted) when a limit is hit,
 * *why_r then names it. */
bool front_conn_acquire(const struct netaddr *addr, const char **why_r);
void front_conn_release(const struct netaddr *addr);

#endif
