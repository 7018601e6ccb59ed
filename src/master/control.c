/*
 * The control socket: a Unix socket (mode 0600) that only root or the
 * daemon's own user may use (checked with SO_PEERCRED). The CLI speaks the
 * same IPC framing as the roles. Requests: status, reload, stop, and auth
 * lookups forwarded to the auth role (so `youju auth test` exercises the
 * daemon's real path).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "log.h"
#include "master.h"
#include "xalloc.h"

#define CONTROL_STATUS_TIMEOUT_MS 2000

struct control_client {
	struct control_client *next;
	struct master *m;
	struct ipc_channel *ch;
	uid_t uid;
};

/* A request waiting for role replies. */
struct control_pending {
	struct control_pending *next;
	struct control_client *client;	/* NULL once the client went away */
	uint64_t client_reqid;
	uint16_t kind;			/* CTL_STATUS or CTL_AUTH */
	uint64_t reqids[ROLE_COUNT];	/* outstanding request per role, 0 = none */
	char *role_status[ROLE_COUNT];
	struct event *timer;
};

static struct control_pending *pendings;
static uint64_t next_reqid = 1;

static void send_reply(struct control_client *c, uint64_t reqid, int64_t code, const char *text,
		       const struct ipc_msg *extra)
{
	struct ipc_msg r;
	if (c == NULL || c->ch == NULL)
		return;
	ipc_msg_init(&r, CTL_REPLY, reqid);
	ipc_add_i64(&r, code);
	ipc_add_str(&r, text);
	/* CTL_AUTH: append the auth role's reply fields verbatim */
	if (extra)
		buf_append(&r.body, extra->body.data + extra->rpos, extra->body.used - extra->rpos);
	ipc_send(c->ch, &r);
}

static void pending_free(struct control_pending *p)
{
	struct control_pending **pp = &pendings;
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	if (p->timer)
		event_free(p->timer);
	for (int i = 0; i < ROLE_COUNT; i++)
		free(p->role_status[i]);
	free(p);
}

static void status_finish(struct control_pending *p)
{
	struct master *m = p->client ? p->client->m : NULL;
	if (m != NULL) {
		buf_t out;
		buf_init(&out, 0);
		master_status_text(m, &out);
		for (int i = 0; i < ROLE_COUNT; i++) {
			const char *s = p->role_status[i];
			if (s && *s)
				buf_printf(&out, "%-6s %s\n", role_name((enum youju_role)i), s);
		}
		send_reply(p->client, p->client_reqid, 0, buf_cstr(&out), NULL);
		buf_free(&out);
	}
	pending_free(p);
}

static bool pending_done(const struct control_pending *p)
{
	for (int i = 0; i < ROLE_COUNT; i++)
		if (p->reqids[i])
			return false;
	return true;
}

static void on_pending_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct control_pending *p = arg;
	if (p->kind == CTL_STATUS) {
		for (int i = 0; i < ROLE_COUNT; i++)
			if (p->reqids[i] && p->role_status[i] == NULL)
				p->role_status[i] = xstrdup("(no answer)");
		status_finish(p);
	} else {
		send_reply(p->client, p->client_reqid, 75, "the auth role did not answer in time", NULL);
		pending_free(p);
	}
}

static struct control_pending *pending_new(struct master *m, struct control_client *c,
					   uint64_t client_reqid, uint16_t kind)
{
	struct control_pending *p = xcalloc(1, sizeof(*p));
	p->client = c;
	p->client_reqid = client_reqid;
	p->kind = kind;
	p->timer = evtimer_new(m->base, on_pending_timeout, p);
	struct timeval tv = { CONTROL_STATUS_TIMEOUT_MS / 1000, (CONTROL_STATUS_TIMEOUT_MS % 1000) * 1000 };
	evtimer_add(p->timer, &tv);
	p->next = pendings;
	pendings = p;
	return p;
}

static void handle_status(struct master *m, struct control_client *c, uint64_t reqid)
{
	struct control_pending *p = pending_new(m, c, reqid, CTL_STATUS);
	for (int i = 0; i < ROLE_COUNT; i++) {
		struct role_proc *rp = &m->roles[i];
		if (rp->ch == NULL || !rp->ready)
			continue;
		struct ipc_msg q;
		p->reqids[i] = next_reqid++;
		ipc_msg_init(&q, MSG_STATUS_REQ, p->reqids[i]);
		ipc_send(rp->ch, &q);
	}
	if (pending_done(p))
		status_finish(p);
}

static void handle_auth(struct master *m, struct control_client *c, struct ipc_msg *msg)
{
	uint32_t sub;
	if (ipc_get_u32(msg, &sub) < 0 ||
	    (sub != MSG_AUTH_DOMAIN && sub != MSG_AUTH_RESOLVE && sub != MSG_AUTH_PASSWORD &&
	     sub != MSG_AUTH_MAILBOX && sub != MSG_AUTH_FLUSH)) {
		send_reply(c, msg->reqid, 2, "malformed auth request", NULL);
		return;
	}
	struct role_proc *auth = &m->roles[ROLE_AUTH];
	if (auth->ch == NULL || !auth->ready) {
		send_reply(c, msg->reqid, 75, "the auth role is not running right now", NULL);
		return;
	}
	struct control_pending *p = pending_new(m, c, msg->reqid, CTL_AUTH);
	p->reqids[ROLE_AUTH] = next_reqid++;
	struct ipc_msg fwd;
	ipc_msg_init(&fwd, (uint16_t)sub, p->reqids[ROLE_AUTH]);
	buf_append(&fwd.body, msg->body.data + msg->rpos, msg->body.used - msg->rpos);
	ipc_send(auth->ch, &fwd);
	if (sub == MSG_AUTH_FLUSH) {
		/* no reply expected from auth for a flush */
		send_reply(c, msg->reqid, 0, "auth cache flushed", NULL);
		pending_free(p);
	}
}

static void on_client_msg(struct ipc_channel *ch, struct ipc_msg *msg, void *arg)
{
	struct control_client *c = arg;
	struct master *m = c->m;
	buf_t text;

	switch (msg->type) {
	case CTL_STATUS:
		handle_status(m, c, msg->reqid);
		break;
	case CTL_RELOAD:
		buf_init(&text, 0);
		log_info("reload requested by uid=%d", (int)c->uid);
		master_reload(m, &text);
		send_reply(c, msg->reqid, strncmp(buf_cstr(&text), "configuration reloaded", 22) == 0 ? 0 : 1,
			   buf_cstr(&text), NULL);
		buf_free(&text);
		break;
	case CTL_STOP:
		log_info("stop requested by uid=%d", (int)c->uid);
		send_reply(c, msg->reqid, 0, "stopping", NULL);
		master_stop(m);
		break;
	case CTL_AUTH:
		handle_auth(m, c, msg);
		break;
	default:
		send_reply(c, msg->reqid, 2, "unknown request", NULL);
	}
}

static void client_free(struct control_client *c)
{
	struct master *m = c->m;
	struct control_client **pp = &m->clients;
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	for (struct control_pending *p = pendings; p; p = p->next)
		if (p->client == c)
			p->client = NULL;
	ipc_channel_destroy(&c->ch);
	free(c);
}

static void on_client_error(struct ipc_channel *ch, const char *reason, void *arg)
{
	struct control_client *c = arg;
	if (strcmp(reason, "closed") != 0)
		log_warn("control client uid=%d: %s", (int)c->uid, reason);
	client_free(c);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_warn("control: refused connection from uid=%d", len ? (int)cred.uid : -1);
		close(cfd);
		return;
	}
	struct control_client *c = xcalloc(1, sizeof(*c));
	c->m = m;
	c->uid = cred.uid;
	c->ch = ipc_channel_create(m->base, cfd, "control", on_client_msg, on_client_error, c);
	c->next = m->clients;
	m->clients = c;
}

void control_on_role_msg(struct master *m, enum youju_role from, struct ipc_msg *msg)
{
	const char *text;
	for (struct control_pending *p = pendings; p; p = p->next) {
		if (p->reqids[from] != msg->reqid || msg->reqid == 0)
			continue;
		p->reqids[from] = 0;
		if (p->kind == CTL_STATUS && msg->type == MSG_STATUS_REPLY) {
			if (ipc_get_str(msg, &text) == 0)
				p->role_status[from] = xstrdup(text);
			if (pending_done(p))
				status_finish(p);
		} else if (p->kind == CTL_AUTH && msg->type == MSG_AUTH_REPLY) {
			send_reply(p->client, p->client_reqid, 0, "", msg);
			pending_free(p);
		}
		return;
	}
	log_warn("unexpected message type=%u from role=%s", msg->type, role_name(from));
}

void control_role_gone(struct master *m, enum youju_role role)
{
	struct control_pending *p = pendings, *next;
	for (; p; p = next) {
		next = p->next;
		if (p->reqids[role] == 0)
			continue;
		p->reqids[role] = 0;
		if (p->kind == CTL_STATUS) {
			p->role_status[role] = xstrdup("(restarting)");
			if (pending_done(p))
				status_finish(p);
		} else {
			send_reply(p->client, p->client_reqid, 75, "the auth role restarted; try again", NULL);
			pending_free(p);
		}
	}
}

int control_open(struct master *m, char **error_r)
{
	const char *path = m->cfg->control_socket;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*error_r = xasprintf("control_socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*error_r = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	/* a socket that still answers belongs to a running daemon */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(probe);
		close(fd);
		*error_r = xasprintf("another youju is running (control socket %s answers)", path);
		return -1;
	}
	if (probe >= 0)
		close(probe);
	unlink(path);
	mode_t old = umask(077);
	int r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		*error_r = xasprintf("control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	m->control_fd = fd;
	return 0;
}

void control_start(struct master *m)
{
	m->control_ev = event_new(m->base, m->control_fd, EV_READ | EV_PERSIST, on_accept, m);
	event_add(m->control_ev, NULL);
}

void control_close(struct master *m)
{
	if (m->control_ev)
		event_free(m->control_ev);
	m->control_ev = NULL;
	while (m->clients)
		client_free(m->clients);
	if (m->control_fd > 0) {
		close(m->control_fd);
		unlink(m->cfg->control_socket);
	}
	m->control_fd = -1;
}
