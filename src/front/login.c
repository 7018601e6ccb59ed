#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "front.h"
#include "log.h"
#include "login.h"
#include "tls.h"
#include "xalloc.h"

#define LOGIN_PENALTY_WINDOW 600	/* seconds a failure counts */
#define LOGIN_PENALTY_SLOTS 4096	/* addresses remembered */
#define PROXY_HIGH_WATER (1024 * 1024)

struct penalty {
	struct netaddr addr;
	unsigned failures;
	time_t last;
};

static struct penalty penalties[LOGIN_PENALTY_SLOTS];
static unsigned nproxied;

static bool is_loopback(const struct netaddr *a)
{
	static const uint8_t v6lo[16] = { [15] = 1 };
	if (a->family == AF_INET)
		return a->addr[0] == 127;
	return a->family == AF_INET6 && memcmp(a->addr, v6lo, 16) == 0;
}

bool login_plaintext_allowed(bool tls, const struct netaddr *peer)
{
	const char *mode = front_g.ctx->cfg->auth_allow_plaintext;
	if (tls || strcmp(mode, "yes") == 0)
		return true;
	return strcmp(mode, "loopback") == 0 && is_loopback(peer);
}

/* A small fixed table: an attacker rotating addresses only evicts old
 * entries, memory stays constant. */
static struct penalty *slot(const struct netaddr *a, bool create)
{
	struct penalty *oldest = &penalties[0];
	time_t now = time(NULL);
	for (unsigned i = 0; i < LOGIN_PENALTY_SLOTS; i++) {
		struct penalty *p = &penalties[i];
		if (p->failures && netaddr_equal(&p->addr, a)) {
			if (now - p->last > LOGIN_PENALTY_WINDOW)
				p->failures = 0;
			return p;
		}
		if (p->last < oldest->last)
			oldest = p;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	oldest->addr = *a;
	return oldest;
}

int64_t login_failure_delay(const struct netaddr *peer)
{
	const struct youju_config *cfg = front_g.ctx->cfg;
	struct penalty *p = slot(peer, false);
	int64_t d = cfg->auth_failure_delay;
	for (unsigned i = 1; p && i < p->failures && d < cfg->auth_failure_max_delay; i++)
		d *= 2;
	return d > cfg->auth_failure_max_delay ? cfg->auth_failure_max_delay : d;
}

void login_failed(const struct netaddr *peer)
{
	struct penalty *p = slot(peer, true);
	p->failures++;
	p->last = time(NULL);
}

void login_succeeded(const struct netaddr *peer)
{
	struct penalty *p = slot(peer, false);
	if (p)
		p->failures = 0;
}

int login_check(uint64_t id, const char *user, const char *password, size_t len)
{
	struct ipc_msg m;
	ipc_msg_init(&m, MSG_AUTH_PASSWORD, id);
	ipc_add_str(&m, user);
	ipc_add_data(&m, password, len);
	return role_send(front_g.ctx, ROLE_AUTH, &m);
}

/* ---- TLS proxy: client (TLS bufferevent) <-> mail (socketpair) ---- */

struct proxy {
	struct bufferevent *client, *mail;
	struct netaddr peer;
	bool closing;
};

static void proxy_free(struct proxy *p)
{
	bufferevent_free(p->client);
	bufferevent_free(p->mail);
	nproxied--;
	front_conn_release(&p->peer);
	free(p);
}

static struct bufferevent *other(struct proxy *p, struct bufferevent *bev)
{
	return bev == p->client ? p->mail : p->client;
}

static void proxy_read(struct bufferevent *bev, void *arg)
{
	struct proxy *p = arg;
	struct bufferevent *to = other(p, bev);
	bufferevent_write_buffer(to, bufferevent_get_input(bev));
	/* backpressure: stop reading a side while the other lags behind */
	if (evbuffer_get_length(bufferevent_get_output(to)) > PROXY_HIGH_WATER)
		bufferevent_disable(bev, EV_READ);
}

static void proxy_write(struct bufferevent *bev, void *arg)
{
	struct proxy *p = arg;
	if (p->closing) {
		proxy_free(p);
		return;
	}
	bufferevent_enable(other(p, bev), EV_READ);
}

static void proxy_event(struct bufferevent *bev, short what, void *arg)
{
	struct proxy *p = arg;
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	/* one side ended: flush what the other side still has to send */
	struct bufferevent *to = other(p, bev);
	bufferevent_write_buffer(to, bufferevent_get_input(bev));
	if (evbuffer_get_length(bufferevent_get_output(to)) == 0 || p->closing) {
		proxy_free(p);
		return;
	}
	p->closing = true;
	bufferevent_disable(to, EV_READ);
}

int login_handoff(struct bufferevent *bev, bool tls, const struct netaddr *peer, enum login_proto proto,
		  const char *user, const char *ip, const char *tls_info, const char *pending,
		  size_t pending_len)
{
	int sv[2] = { -1, -1 }, fd;
	if (front_g.ctx->peers[ROLE_MAIL] == NULL)
		return -1;
	if (tls) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			log_error("socketpair: %s", strerror(errno));
			return -1;
		}
		fd = sv[1];
	} else {
		fd = fcntl(bufferevent_getfd(bev), F_DUPFD_CLOEXEC, 0);
		if (fd < 0) {
			log_error("dup: %s", strerror(errno));
			return -1;
		}
	}
	struct ipc_msg m;
	ipc_msg_init(&m, MSG_MAIL_LOGIN, 0);
	ipc_add_u32(&m, proto);
	ipc_add_str(&m, user);
	ipc_add_str(&m, ip);
	ipc_add_str(&m, tls_info ? tls_info : "");
	ipc_add_data(&m, pending, pending_len);
	ipc_add_fd(&m, fd);
	role_send(front_g.ctx, ROLE_MAIL, &m);
	if (!tls) {
		/* mail owns the socket now; our copy closes with bev, and the
		 * connection no longer counts against front's limits */
		bufferevent_free(bev);
		front_conn_release(peer);
		return 0;
	}
	struct proxy *p = xcalloc(1, sizeof(*p));
	p->peer = *peer;
	p->client = bev;
	p->mail = bufferevent_socket_new(front_g.ctx->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(p->client, proxy_read, proxy_write, proxy_event, p);
	bufferevent_setcb(p->mail, proxy_read, proxy_write, proxy_event, p);
	bufferevent_enable(p->client, EV_READ | EV_WRITE);
	bufferevent_enable(p->mail, EV_READ | EV_WRITE);
	nproxied++;
	return 0;
}

/* ---- the connection before login ---- */

#define LOGIN_BEV_OPTS (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)

static void bev_start(struct bufferevent *bev, bufferevent_data_cb rd, bufferevent_data_cb wr,
		      bufferevent_event_cb ev, void *arg)
{
	bufferevent_setcb(bev, rd, wr, ev, arg);
	bufferevent_setwatermark(bev, EV_READ, 0, 64 * 1024);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct bufferevent *login_bev_new(int fd, bool tls, bufferevent_data_cb rd, bufferevent_data_cb wr,
				  bufferevent_event_cb ev, void *arg)
{
	struct bufferevent *bev;
	if (tls) {
		bev = bufferevent_openssl_socket_new(front_g.ctx->base, fd, SSL_new(front_g.tls),
						     BUFFEREVENT_SSL_ACCEPTING, LOGIN_BEV_OPTS);
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else {
		bev = bufferevent_socket_new(front_g.ctx->base, fd, LOGIN_BEV_OPTS);
	}
	bev_start(bev, rd, wr, ev, arg);
	return bev;
}

struct bufferevent *login_starttls(struct bufferevent *bev, bufferevent_data_cb rd,
				   bufferevent_data_cb wr, bufferevent_event_cb ev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	/* the TLS layer encrypts into the socket's buffer: bound it too */
	bufferevent_setwatermark(bev, EV_WRITE, 0, LOGIN_OUTPUT_MAX);
	bev = bufferevent_openssl_filter_new(front_g.ctx->base, bev, SSL_new(front_g.tls),
					     BUFFEREVENT_SSL_ACCEPTING, LOGIN_BEV_OPTS);
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bev_start(bev, rd, wr, ev, arg);
	return bev;
}

char *login_tls_info(struct bufferevent *bev)
{
	buf_t d;
	buf_init(&d, 256);
	tls_describe(bufferevent_openssl_get_ssl(bev), &d);
	char *info = xstrdup(buf_cstr(&d));
	buf_free(&d);
	return info;
}

bool login_output_drained(struct bufferevent *bev)
{
	struct bufferevent *under = bufferevent_get_underlying(bev);
	return evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
	       (under == NULL || evbuffer_get_length(bufferevent_get_output(under)) == 0);
}

void login_timeout_start(struct event *timer)
{
	int64_t t = front_g.ctx->cfg->login_timeout;
	struct timeval tv = { t / 1000, (t % 1000) * 1000 };
	evtimer_add(timer, &tv);
}

bool login_accept(struct front_listener *l, int fd, const struct netaddr *peer, bool implicit_tls,
		  const char *refusal)
{
	const char *why;
	if (front_conn_acquire(peer, &why))
		return true;
	if (!implicit_tls)
		(void)!write(fd, refusal, strlen(refusal));
	close(fd);
	l->refused++;
	return false;
}

unsigned login_proxied(void)
{
	return nproxied;
}
