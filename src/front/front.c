/*
 * The front role: owns every network listener, chrooted and unprivileged.
 * SMTP on the smtp listener is served by smtp-session.c, POP3 before login
 * by pop3-login.c, IMAP before login by imap-login.c; the listeners whose
 * servers are not built yet (submission) answer with their protocol's "not
 * available" reply and close.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "front.h"
#include "imap-login.h"
#include "log.h"
#include "login.h"
#include "pop3-login.h"
#include "smtp-session.h"
#include "tls.h"
#include "xalloc.h"

struct front front_g;

static const char *unavailable_reply(const char *service)
{
	if (strncmp(service, "submission", 10) == 0)
		return "421 4.3.2 Service not available yet, closing connection\r\n";
	return "-ERR Service not available yet\r\n";
}

/* ---- session table and connection accounting ---- */

static unsigned bucket_of(uint64_t id)
{
	return (unsigned)(id % FRONT_SESSION_BUCKETS);
}

void front_session_add(struct smtp_session *s)
{
	unsigned b = bucket_of(s->id);
	s->hnext = front_g.buckets[b];
	front_g.buckets[b] = s;
}

void front_session_remove(struct smtp_session *s)
{
	struct smtp_session **pp = &front_g.buckets[bucket_of(s->id)];
	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = s->hnext;
	if (front_g.ctx->stopping && front_g.nconns == 0)
		role_exit(front_g.ctx, 0);
}

struct smtp_session *front_session_find(uint64_t id)
{
	for (struct smtp_session *s = front_g.buckets[bucket_of(id)]; s; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

static struct front_ip_count *ip_slot(const struct netaddr *a)
{
	for (size_t i = 0; i < front_g.nips; i++)
		if (front_g.ips[i].addr.family == a->family &&
		    memcmp(front_g.ips[i].addr.addr, a->addr, sizeof(a->addr)) == 0)
			return &front_g.ips[i];
	return NULL;
}

bool front_conn_acquire(const struct netaddr *a, const char **why_r)
{
	const struct youju_config *cfg = front_g.ctx->cfg;
	struct front_ip_count *slot = ip_slot(a);
	if (front_g.nconns >= (unsigned)cfg->max_connections) {
		*why_r = "too many connections";
		return false;
	}
	if (slot && slot->count >= (unsigned)cfg->max_connections_per_ip) {
		*why_r = "too many connections from your address";
		return false;
	}
	if (slot == NULL) {
		front_g.ips = xreallocarray(front_g.ips, front_g.nips + 1, sizeof(*front_g.ips));
		slot = &front_g.ips[front_g.nips++];
		slot->addr = *a;
		slot->count = 0;
	}
	slot->count++;
	front_g.nconns++;
	return true;
}

void front_conn_release(const struct netaddr *a)
{
	struct front_ip_count *slot = ip_slot(a);
	if (slot && --slot->count == 0) {
		*slot = front_g.ips[--front_g.nips];
	}
	front_g.nconns--;
}

/* ---- listeners ---- */

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct front_listener *l = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("accept service=%s: %s", l->name, strerror(errno));
		return;
	}
	struct netaddr peer = { 0 };
	(void)netaddr_from_sockaddr((struct sockaddr *)&ss, &peer);
	l->accepted++;
	if (l->smtp) {
		smtp_session_start(l, cfd, &peer);
		return;
	}
	if (l->pop3) {
		pop3_login_start(l, cfd, &peer, strcmp(l->name, "pop3s") == 0);
		return;
	}
	if (l->imap) {
		imap_login_start(l, cfd, &peer, strcmp(l->name, "imaps") == 0);
		return;
	}
	char ip[64];
	netaddr_format(&peer, ip, sizeof(ip));
	const char *reply = unavailable_reply(l->name);
	(void)!write(cfd, reply, strlen(reply));
	close(cfd);
	log_info("connection service=%s client=%s closed reason=not-available", l->name, ip);
}

static void front_listener_add(struct role_ctx *ctx, const char *name, int fd)
{
	if (front_g.nlisteners == FRONT_MAX_LISTENERS)
		fatal("too many listeners");
	struct front_listener *l = &front_g.listeners[front_g.nlisteners++];
	l->name = xstrdup(name);
	l->fd = fd;
	l->smtp = strcmp(name, "smtp") == 0;
	l->pop3 = strcmp(name, "pop3") == 0 || strcmp(name, "pop3s") == 0;
	l->imap = strcmp(name, "imap") == 0 || strcmp(name, "imaps") == 0;
	l->ev = event_new(ctx->base, fd, EV_READ | EV_PERSIST, on_accept, l);
}

static void load_trusted(const struct youju_config *cfg)
{
	const char *error = NULL;
	struct netmask_list l = { 0 };
	if (netmask_list_parse((const char *const *)cfg->trusted_networks.items,
			       cfg->trusted_networks.count, &l, &error) < 0) {
		/* config_validate checked it; keep the old list if not */
		log_error("trusted_networks: %s", error);
		return;
	}
	netmask_list_free(&front_g.trusted);
	front_g.trusted = l;
}

static void front_configure(struct role_ctx *ctx, bool reload)
{
	const struct youju_config *cfg = ctx->cfg;
	char *error = NULL;

	front_g.ctx = ctx;
	ctx->priv = &front_g;
	free(front_g.hostname);
	if (cfg->hostname[0]) {
		front_g.hostname = xstrdup(cfg->hostname);
	} else {
		char h[256] = "localhost";
		gethostname(h, sizeof(h) - 1);
		front_g.hostname = xstrdup(h);
	}
	load_trusted(cfg);
	if (reload)
		return;
	/* before chroot and privilege drop: key files are root's, and the
	 * resolver reads /etc/resolv.conf and /etc/hosts now */
	if (cfg->tls_cert[0]) {
		front_g.tls = tls_server_ctx_create(cfg->tls_cert, cfg->tls_key, &error);
		if (front_g.tls == NULL)
			fatal("TLS: %s", error);
	}
	front_g.dns = dns_unbound_create(ctx->base, (const char *const *)cfg->dns_servers.items,
					 cfg->dns_servers.count, NULL, (int)cfg->dns_timeout, &error);
	if (front_g.dns == NULL)
		fatal("DNS resolver: %s", error);
}

static void front_start(struct role_ctx *ctx)
{
	for (unsigned i = 0; i < front_g.nlisteners; i++)
		event_add(front_g.listeners[i].ev, NULL);
}

static void front_message(struct role_ctx *ctx, struct ipc_channel *from, struct ipc_msg *msg)
{
	if (msg->type != MSG_AUTH_REPLY && msg->type != MSG_QUEUE_REPLY)
		fatal("unexpected message type %u from %s", msg->type, ipc_channel_peer(from));
	if (msg->type == MSG_AUTH_REPLY && pop3_login_owns(msg->reqid)) {
		pop3_login_auth_reply(msg->reqid, msg);
		return;
	}
	if (msg->type == MSG_AUTH_REPLY && imap_login_owns(msg->reqid)) {
		imap_login_auth_reply(msg->reqid, msg);
		return;
	}
	struct smtp_session *s = front_session_find(msg->reqid);
	if (s == NULL)
		return;	/* the session ended meanwhile */
	smtp_session_peer_reply(s, msg);
}

static void front_peer_down(struct role_ctx *ctx, enum youju_role peer)
{
	if (peer != ROLE_QUEUE && peer != ROLE_AUTH)
		return;
	if (peer == ROLE_QUEUE) {
		front_g.queue_epoch++;
	} else {
		pop3_login_peer_down();
		imap_login_peer_down();
	}
	for (unsigned b = 0; b < FRONT_SESSION_BUCKETS; b++) {
		struct smtp_session *s = front_g.buckets[b], *next;
		for (; s; s = next) {
			next = s->hnext;
			smtp_session_peer_down(s, peer == ROLE_QUEUE);
		}
	}
}

static void front_status(struct role_ctx *ctx, buf_t *out)
{
	buf_printf(out, "connections current=%u", front_g.nconns);
	for (unsigned i = 0; i < front_g.nlisteners; i++)
		buf_printf(out, " %s=%llu", front_g.listeners[i].name,
			   (unsigned long long)front_g.listeners[i].accepted);
	buf_printf(out, " messages=%llu pop3_prelogin=%u imap_prelogin=%u proxied=%u",
		   (unsigned long long)front_g.stat_messages, pop3_login_count(), imap_login_count(),
		   login_proxied());
}

static void front_shutdown(struct role_ctx *ctx)
{
	/* stop accepting at once; sessions in progress get until the
	 * master's shutdown_timeout */
	for (unsigned i = 0; i < front_g.nlisteners; i++) {
		event_free(front_g.listeners[i].ev);
		close(front_g.listeners[i].fd);
	}
	front_g.nlisteners = 0;
	if (front_g.nconns == 0)
		role_exit(ctx, 0);
	smtp_session_close_all();
	pop3_login_close_all();
	imap_login_close_all();
}

const struct role_ops front_role_ops = {
	.configure = front_configure,
	.listener = front_listener_add,
	.start = front_start,
	.message = front_message,
	.status = front_status,
	.peer_down = front_peer_down,
	.shutdown = front_shutdown,
};
