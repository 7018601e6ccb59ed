#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "log.h"
#include "master.h"
#include "xalloc.h"

/* Split "host:port", "[v6]:port" or "*:port" (validated by the settings
 * parser already) into host (NULL for any) and port. */
static int split_address(const char *address, char **host_r, char **port_r)
{
	const char *colon = strrchr(address, ':');
	if (colon == NULL || colon[1] == '\0')
		return -1;
	*port_r = xstrdup(colon + 1);
	if (address[0] == '[') {
		const char *end = strchr(address, ']');
		if (end == NULL || end + 1 != colon)
			return -1;
		*host_r = xstrndup(address + 1, (size_t)(end - address - 1));
	} else if (colon - address == 1 && address[0] == '*') {
		*host_r = NULL;
	} else {
		*host_r = xstrndup(address, (size_t)(colon - address));
	}
	return 0;
}

int listener_bind(const char *address, int *fd_r, char **error_r)
{
	char *host = NULL, *port = NULL;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int fd = -1, err;

	if (split_address(address, &host, &port) < 0) {
		*error_r = xasprintf("bad listen address '%s'", address);
		goto out;
	}
	/* "*" binds IPv4 any: dual-stack sockets differ between systems, and a
	 * self-hoster who wants IPv6 writes "[::]:25" */
	if (host == NULL)
		hints.ai_family = AF_INET;
	if ((err = getaddrinfo(host, port, &hints, &res)) != 0) {
		*error_r = xasprintf("cannot resolve listen address '%s': %s", address, gai_strerror(err));
		goto out;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*error_r = xasprintf("socket for %s: %s", address, strerror(errno));
		goto out;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 256) < 0) {
		*error_r = xasprintf("cannot listen on %s: %s", address, strerror(errno));
		close(fd);
		fd = -1;
		goto out;
	}
	*fd_r = fd;
out:
	if (res)
		freeaddrinfo(res);
	free(host);
	free(port);
	return fd < 0 ? -1 : 0;
}

int master_bind_listeners(struct master *m, char **error_r)
{
	const struct { const char *name; const char *addr; } want[] = {
		{ "smtp", m->cfg->smtp_listen },
		{ "submission", m->cfg->submission_listen },
		{ "submissions", m->cfg->submissions_listen },
		{ "imap", m->cfg->imap_listen },
		{ "imaps", m->cfg->imaps_listen },
		{ "pop3", m->cfg->pop3_listen },
		{ "pop3s", m->cfg->pop3s_listen },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (want[i].addr == NULL || want[i].addr[0] == '\0')
			continue;
		int fd;
		char *err = NULL;
		if (listener_bind(want[i].addr, &fd, &err) < 0) {
			*error_r = xasprintf("%s_listen: %s", want[i].name, err);
			free(err);
			master_close_listeners(m);
			return -1;
		}
		m->listeners[m->nlisteners].name = want[i].name;
		m->listeners[m->nlisteners].fd = fd;
		m->nlisteners++;
		log_info("listening service=%s address=%s", want[i].name, want[i].addr);
	}
	return 0;
}

void master_close_listeners(struct master *m)
{
	for (unsigned i = 0; i < m->nlisteners; i++)
		close(m->listeners[i].fd);
	m->nlisteners = 0;
}
