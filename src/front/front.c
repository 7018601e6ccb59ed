/*
 * The front role: owns every network listener (chrooted, unprivileged).
 * The protocol servers (SMTP, IMAP, POP3 before login) are not built yet:
 * for now front accepts, enforces the connection limits, answers with the
 * protocol's own "service temporarily unavailable" reply and closes, and
 * counts connections for `youju status`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "log.h"
#include "role.h"
#include "xalloc.h"

#define FRONT_MAX_LISTENERS 8

struct front_listener {
	char *name;
	int fd;
	struct event *ev;
	uint64_t accepted;
	uint64_t refused;
};

struct front {
	struct front_listener listeners[FRONT_MAX_LISTENERS];
	unsigned n;
};

static struct front front_state;

static const char *unavailable_reply(const char *service)
{
	if (strncmp(service, "smtp", 4) == 0 || strncmp(service, "submission", 10) == 0)
		return "421 4.3.2 Service not available yet, closing connection\r\n";
	if (strncmp(service, "imap", 4) == 0)
		return "* BYE Service not available yet\r\n";
	return "-ERR Service not available yet\r\n";
}

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
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
	l->accepted++;
	const char *reply = unavailable_reply(l->name);
	(void)!write(cfd, reply, strlen(reply));
	close(cfd);
	log_info("connection service=%s client=%s closed reason=not-available", l->name, ip);
}

static void front_listener_add(struct role_ctx *ctx, const char *name, int fd)
{
	struct front *f = &front_state;
	if (f->n == FRONT_MAX_LISTENERS)
		fatal("too many listeners");
	struct front_listener *l = &f->listeners[f->n++];
	l->name = xstrdup(name);
	l->fd = fd;
	l->ev = event_new(ctx->base, fd, EV_READ | EV_PERSIST, on_accept, l);
}

static void front_configure(struct role_ctx *ctx, bool reload)
{
	ctx->priv = &front_state;
}

static void front_start(struct role_ctx *ctx)
{
	struct front *f = &front_state;
	for (unsigned i = 0; i < f->n; i++)
		event_add(f->listeners[i].ev, NULL);
}

static void front_status(struct role_ctx *ctx, buf_t *out)
{
	struct front *f = &front_state;
	buf_append_cstr(out, "connections current=0");
	for (unsigned i = 0; i < f->n; i++)
		buf_printf(out, " %s=%llu", f->listeners[i].name,
			   (unsigned long long)f->listeners[i].accepted);
}

static void front_shutdown(struct role_ctx *ctx)
{
	struct front *f = &front_state;
	/* stop accepting at once; no session outlives this yet */
	for (unsigned i = 0; i < f->n; i++) {
		event_free(f->listeners[i].ev);
		close(f->listeners[i].fd);
		free(f->listeners[i].name);
	}
	f->n = 0;
	role_exit(ctx, 0);
}

const struct role_ops front_role_ops = {
	.configure = front_configure,
	.listener = front_listener_add,
	.start = front_start,
	.status = front_status,
	.shutdown = front_shutdown,
};
