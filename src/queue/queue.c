/*
 * The queue role: the only writer of the spool. It receives message
 * streams from front and commits them durably (lib-queue/spool.c: fsync of
 * the file and its directory before front may answer 250), recovers the
 * spool at start, and hands local recipients to the mail role, retrying
 * temporary failures with backoff. Remote recipients stay queued until
 * outbound delivery exists; a permanent failure is logged and the message
 * kept for inspection until bounces exist.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "role.h"
#include "spool.h"
#include "xalloc.h"

/* An incoming message being written for one front session. */
struct q_txn {
	struct q_txn *next;
	uint64_t session;
	struct spool_writer *w;
	struct spool_envelope env;
	char *error;		/* first failure; the END reply reports it */
};

/* A committed message with recipients still to deliver. */
struct q_msg {
	struct q_msg *next;
	char id[SPOOL_ID_LEN + 1];
	char *sender;
	size_t nrcpts;
	char **rcpt_addr;
	bool *rcpt_local;
	enum spool_rcpt_state *states;
	unsigned attempts;
	int64_t next_try_ms;
	bool delivering;
	bool recovered;		/* found in the spool at start: an earlier run may
				 * have delivered it without recording that */
};

struct queue {
	struct role_ctx *ctx;
	struct q_txn *txns;
	struct q_msg *msgs;
	struct event *tick;
	uint64_t next_reqid;
	uint64_t stat_committed, stat_delivered, stat_failed, stat_write_errors;
};

static struct queue q;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void reply(struct ipc_channel *ch, uint64_t reqid, int64_t result, const char *text)
{
	struct ipc_msg m;
	ipc_msg_init(&m, MSG_QUEUE_REPLY, reqid);
	ipc_add_i64(&m, result);
	ipc_add_str(&m, text);
	ipc_send(ch, &m);
}

/* ---- scheduling ---- */

static void schedule_soon(void)
{
	if (q.tick)
		event_active(q.tick, EV_TIMEOUT, 0);
}

static void q_msg_free(struct q_msg *m)
{
	for (size_t i = 0; i < m->nrcpts; i++)
		free(m->rcpt_addr[i]);
	free(m->rcpt_addr);
	free(m->rcpt_local);
	free(m->states);
	free(m->sender);
	free(m);
}

static void q_msg_unlink(struct q_msg *m)
{
	struct q_msg **pp = &q.msgs;
	while (*pp && *pp != m)
		pp = &(*pp)->next;
	if (*pp)
		*pp = m->next;
}

/* Track a committed message (from the front or found at start). */
static void q_msg_add(const struct spool_envelope *env, const enum spool_rcpt_state *states)
{
	struct q_msg *m = xcalloc(1, sizeof(*m));
	memcpy(m->id, env->id, sizeof(m->id));
	m->sender = xstrdup(env->sender ? env->sender : "");
	m->nrcpts = env->nrcpts;
	m->rcpt_addr = xcalloc(env->nrcpts ? env->nrcpts : 1, sizeof(char *));
	m->rcpt_local = xcalloc(env->nrcpts ? env->nrcpts : 1, sizeof(bool));
	m->states = xcalloc(env->nrcpts ? env->nrcpts : 1, sizeof(*m->states));
	for (size_t i = 0; i < env->nrcpts; i++) {
		m->rcpt_addr[i] = xstrdup(env->rcpts[i].address);
		m->rcpt_local[i] = env->rcpts[i].local;
		m->states[i] = states ? states[i] : SPOOL_RCPT_PENDING;
	}
	m->next = q.msgs;
	q.msgs = m;
}

static size_t pending_local(const struct q_msg *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nrcpts; i++)
		if (m->rcpt_local[i] && m->states[i] == SPOOL_RCPT_PENDING)
			n++;
	return n;
}

/* Remove the spool file once nothing is left to do for anyone. */
static void maybe_finish(struct q_msg *m)
{
	char *error = NULL;
	for (size_t i = 0; i < m->nrcpts; i++)
		if (m->states[i] != SPOOL_RCPT_DELIVERED)
			return;
	if (spool_remove(q.ctx->cfg->spool_dir, m->id, &error) < 0) {
		log_error("id=%s cannot remove spool file: %s", m->id, error);
		free(error);
		return;
	}
	log_info("id=%s removed: all recipients delivered", m->id);
	q_msg_unlink(m);
	q_msg_free(m);
}

static void defer(struct q_msg *m)
{
	const struct youju_config *cfg = q.ctx->cfg;
	int64_t delay = cfg->queue_retry_delay;
	for (unsigned i = 0; i < m->attempts && delay < cfg->queue_retry_max_delay; i++)
		delay *= 2;
	if (delay > cfg->queue_retry_max_delay)
		delay = cfg->queue_retry_max_delay;
	m->attempts++;
	m->next_try_ms = now_ms() + delay;
	log_info("id=%s deferred attempt=%u retry_in=%lldms", m->id, m->attempts, (long long)delay);
}

static void deliver(struct q_msg *m)
{
	struct spool_envelope env = { 0 };
	int fd = -1;
	int64_t off = 0, len = 0;
	char *error = NULL;

	if (q.ctx->peers[ROLE_MAIL] == NULL) {
		defer(m);
		return;
	}
	if (spool_open(q.ctx->cfg->spool_dir, m->id, &env, &fd, &off, &len, &error) < 0) {
		log_error("id=%s cannot open spool file: %s", m->id, error);
		free(error);
		defer(m);
		return;
	}
	spool_envelope_free(&env);
	struct ipc_msg d;
	ipc_msg_init(&d, MSG_DELIVER, ++q.next_reqid);
	ipc_add_str(&d, m->id);
	ipc_add_str(&d, m->sender);
	/* a retry makes the mail role look for an earlier copy first */
	ipc_add_u32(&d, m->attempts + (m->recovered ? 1 : 0));
	ipc_add_i64(&d, off);
	ipc_add_i64(&d, len);
	ipc_add_fd(&d, fd);
	ipc_add_u32(&d, (uint32_t)pending_local(m));
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (m->rcpt_local[i] && m->states[i] == SPOOL_RCPT_PENDING) {
			ipc_add_u32(&d, (uint32_t)i);
			ipc_add_str(&d, m->rcpt_addr[i]);
		}
	}
	m->delivering = true;
	role_send(q.ctx, ROLE_MAIL, &d);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = now_ms();
	for (struct q_msg *m = q.msgs; m; m = m->next)
		if (!q.ctx->stopping && !m->delivering && pending_local(m) > 0 && m->next_try_ms <= now)
			deliver(m);
	struct timeval tv = { 1, 0 };
	evtimer_add(q.tick, &tv);
}

static struct q_msg *find_msg(const char *id)
{
	for (struct q_msg *m = q.msgs; m; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

struct deliver_outcome {
	uint32_t idx;
	int64_t status;
	const char *reason;
};

/* Every recipient delivered by this one result and nothing recorded
 * before: the spool file can simply go, without writing a state log
 * first (two flushes fewer per message). */
static bool completes_message(const struct q_msg *m, const struct deliver_outcome *o, uint32_t n)
{
	size_t delivered = 0;
	for (size_t i = 0; i < m->nrcpts; i++)
		if (m->states[i] != SPOOL_RCPT_PENDING)
			return false;
	for (uint32_t i = 0; i < n; i++) {
		if (o[i].idx >= m->nrcpts || o[i].status != 1)
			return false;
		delivered++;
	}
	return delivered == m->nrcpts;
}

static void on_deliver_result(struct ipc_msg *msg)
{
	const char *id;
	uint32_t n;
	char *error = NULL;

	if (ipc_get_str(msg, &id) < 0 || ipc_get_u32(msg, &n) < 0 || n > 100000)
		fatal("malformed MSG_DELIVER_RESULT");
	struct deliver_outcome *o = xcalloc(n ? n : 1, sizeof(*o));
	for (uint32_t i = 0; i < n; i++)
		if (ipc_get_u32(msg, &o[i].idx) < 0 || ipc_get_i64(msg, &o[i].status) < 0 ||
		    ipc_get_str(msg, &o[i].reason) < 0)
			fatal("malformed MSG_DELIVER_RESULT");
	if (ipc_get_end(msg) < 0)
		fatal("malformed MSG_DELIVER_RESULT");
	struct q_msg *m = find_msg(id);
	if (m == NULL) {
		free(o);
		return;
	}
	m->delivering = false;
	if (completes_message(m, o, n)) {
		for (uint32_t i = 0; i < n; i++) {
			m->states[o[i].idx] = SPOOL_RCPT_DELIVERED;
			q.stat_delivered++;
			log_info("id=%s to=<%s> status=sent (%s)", id, m->rcpt_addr[o[i].idx], o[i].reason);
		}
		free(o);
		maybe_finish(m);
		return;
	}
	bool temp = false;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = o[i].idx;
		if (idx >= m->nrcpts)
			continue;
		if (o[i].status == 0) {
			temp = true;
			log_info("id=%s to=<%s> status=deferred reason=\"%s\"", id, m->rcpt_addr[idx], o[i].reason);
			continue;
		}
		enum spool_rcpt_state st = o[i].status > 0 ? SPOOL_RCPT_DELIVERED : SPOOL_RCPT_FAILED;
		/* record it durably before forgetting it: a crash here means a
		 * second delivery attempt, which the mail role recognises */
		if (spool_mark(q.ctx->cfg->spool_dir, id, idx, st, o[i].reason, &error) < 0) {
			log_error("id=%s cannot record delivery: %s", id, error);
			free(error);
			error = NULL;
			temp = true;
			continue;
		}
		m->states[idx] = st;
		if (st == SPOOL_RCPT_DELIVERED) {
			q.stat_delivered++;
			log_info("id=%s to=<%s> status=sent (%s)", id, m->rcpt_addr[idx], o[i].reason);
		} else {
			q.stat_failed++;
			log_error("id=%s to=<%s> status=failed reason=\"%s\" (kept in the queue: bounces are not built yet)",
				  id, m->rcpt_addr[idx], o[i].reason);
		}
	}
	free(o);
	if (temp)
		defer(m);
	maybe_finish(m);
}

static void check_stopped(void);

/* ---- incoming messages from front ---- */

static struct q_txn *find_txn(uint64_t session)
{
	for (struct q_txn *t = q.txns; t; t = t->next)
		if (t->session == session)
			return t;
	return NULL;
}

static void txn_free(struct q_txn *t)
{
	struct q_txn **pp = &q.txns;
	while (*pp && *pp != t)
		pp = &(*pp)->next;
	if (*pp)
		*pp = t->next;
	if (t->w)
		spool_writer_abort(&t->w);
	spool_envelope_free(&t->env);
	free(t->error);
	free(t);
}

static void txn_fail(struct q_txn *t, char *error)
{
	if (t->error == NULL)
		t->error = error;
	else
		free(error);
	if (t->w)
		spool_writer_abort(&t->w);
	q.stat_write_errors++;
}

static void on_begin(struct ipc_msg *msg)
{
	const char *sender, *ip, *helo, *name, *tls, *envid, *body, *addr, *orig, *orcpt;
	uint32_t ret, utf8, n, notify, local;
	char *error = NULL;

	struct q_txn *old = find_txn(msg->reqid);
	if (old)
		txn_free(old);	/* a session starts over (RSET after a lost END) */
	struct q_txn *t = xcalloc(1, sizeof(*t));
	t->session = msg->reqid;
	t->next = q.txns;
	q.txns = t;
	if (ipc_get_str(msg, &sender) < 0 || ipc_get_str(msg, &ip) < 0 || ipc_get_str(msg, &helo) < 0 ||
	    ipc_get_str(msg, &name) < 0 || ipc_get_str(msg, &tls) < 0 || ipc_get_str(msg, &envid) < 0 ||
	    ipc_get_u32(msg, &ret) < 0 || ipc_get_str(msg, &body) < 0 || ipc_get_u32(msg, &utf8) < 0 ||
	    ipc_get_u32(msg, &n) < 0)
		fatal("malformed MSG_QUEUE_BEGIN");
	struct spool_envelope *e = &t->env;
	e->sender = xstrdup(sender);
	e->arrival = time(NULL);
	e->client_ip = xstrdup(ip);
	e->client_helo = xstrdup(helo);
	e->client_name = name[0] ? xstrdup(name) : NULL;
	e->tls = tls[0] ? xstrdup(tls) : NULL;
	e->envid = envid[0] ? xstrdup(envid) : NULL;
	e->body = body[0] ? xstrdup(body) : NULL;
	e->ret = (int)ret;
	e->smtputf8 = utf8 != 0;
	for (uint32_t i = 0; i < n; i++) {
		if (ipc_get_str(msg, &addr) < 0 || ipc_get_str(msg, &orig) < 0 || ipc_get_str(msg, &orcpt) < 0 ||
		    ipc_get_u32(msg, &notify) < 0 || ipc_get_u32(msg, &local) < 0)
			fatal("malformed MSG_QUEUE_BEGIN");
		spool_envelope_add_rcpt(e, addr, orig, orcpt[0] ? orcpt : NULL, notify, local != 0);
	}
	if (ipc_get_end(msg) < 0)
		fatal("malformed MSG_QUEUE_BEGIN");
	if (spool_writer_create(q.ctx->cfg->spool_dir, e, &t->w, &error) < 0)
		txn_fail(t, error);
}

static void on_data(struct ipc_msg *msg)
{
	slice_t d;
	char *error = NULL;
	if (ipc_get_data(msg, &d) < 0 || ipc_get_end(msg) < 0)
		fatal("malformed MSG_QUEUE_DATA");
	struct q_txn *t = find_txn(msg->reqid);
	if (t == NULL || t->w == NULL)
		return;	/* already failed; END reports it */
	if (spool_writer_write(t->w, d.ptr, d.len, &error) < 0)
		txn_fail(t, error);
}

static void on_end(struct ipc_channel *ch, struct ipc_msg *msg)
{
	uint32_t commit;
	char *error = NULL;
	if (ipc_get_u32(msg, &commit) < 0 || ipc_get_end(msg) < 0)
		fatal("malformed MSG_QUEUE_END");
	struct q_txn *t = find_txn(msg->reqid);
	if (!commit) {
		if (t)
			txn_free(t);
		return;
	}
	if (t == NULL) {
		reply(ch, msg->reqid, -1, "unknown transaction (queue restarted)");
		return;
	}
	if (t->w == NULL) {
		log_error("message not queued: %s", t->error ? t->error : "write failed");
		reply(ch, msg->reqid, -1, t->error ? t->error : "write failed");
		txn_free(t);
		return;
	}
	if (spool_writer_commit(&t->w, &error) < 0) {
		log_error("message not queued: %s", error);
		reply(ch, msg->reqid, -1, error);
		free(error);
		q.stat_write_errors++;
		txn_free(t);
		return;
	}
	q.stat_committed++;
	log_info("id=%s committed from=<%s> nrcpt=%zu client=%s", t->env.id, t->env.sender, t->env.nrcpts,
		 t->env.client_ip);
	reply(ch, msg->reqid, 1, t->env.id);
	q_msg_add(&t->env, NULL);
	txn_free(t);
	schedule_soon();
}

static void on_space(struct ipc_channel *ch, struct ipc_msg *msg)
{
	uint64_t hint;
	if (ipc_get_u64(msg, &hint) < 0 || ipc_get_end(msg) < 0)
		fatal("malformed MSG_QUEUE_SPACE");
	uint64_t need = (uint64_t)q.ctx->cfg->queue_min_free + hint;
	int r = spool_has_space(q.ctx->cfg->spool_dir, need);
	if (r == 0)
		log_warn("spool low on space: need %llu bytes free", (unsigned long long)need);
	reply(ch, msg->reqid, r, r == 1 ? "ok" : r == 0 ? "insufficient space" : "statvfs failed");
}

static void queue_message(struct role_ctx *ctx, struct ipc_channel *from, struct ipc_msg *msg)
{
	switch (msg->type) {
	case MSG_QUEUE_SPACE: on_space(from, msg); break;
	case MSG_QUEUE_BEGIN: on_begin(msg); break;
	case MSG_QUEUE_DATA: on_data(msg); break;
	case MSG_QUEUE_END: on_end(from, msg); break;
	case MSG_DELIVER_RESULT: on_deliver_result(msg); break;
	default:
		fatal("unexpected message type %u from %s", msg->type, ipc_channel_peer(from));
	}
	check_stopped();
}

static void queue_peer_down(struct role_ctx *ctx, enum youju_role peer)
{
	if (peer == ROLE_FRONT) {
		/* every message being received is abandoned: front never
		 * answered 250 for them */
		while (q.txns)
			txn_free(q.txns);
		check_stopped();
	} else if (peer == ROLE_MAIL) {
		for (struct q_msg *m = q.msgs; m; m = m->next) {
			if (m->delivering) {
				m->delivering = false;
				defer(m);
			}
		}
		check_stopped();
	}
}

/* ---- start-up recovery ---- */

static void recovered(void *ctx, const char *id)
{
	struct spool_envelope env = { 0 };
	char *error = NULL;
	if (spool_open(q.ctx->cfg->spool_dir, id, &env, NULL, NULL, NULL, &error) < 0) {
		log_error("id=%s unreadable after recovery: %s", id, error);
		free(error);
		return;
	}
	enum spool_rcpt_state *st = xcalloc(env.nrcpts ? env.nrcpts : 1, sizeof(*st));
	if (spool_load_state(q.ctx->cfg->spool_dir, id, env.nrcpts, st, &error) < 0) {
		log_error("id=%s state unreadable: %s", id, error);
		free(error);
	}
	q_msg_add(&env, st);
	q.msgs->recovered = true;
	log_info("id=%s recovered from the spool", id);
	free(st);
	spool_envelope_free(&env);
}

static bool busy(void)
{
	if (q.txns)
		return true;
	for (struct q_msg *m = q.msgs; m; m = m->next)
		if (m->delivering)
			return true;
	return false;
}

/* Stop once no message is being received or delivered (the master's
 * shutdown_timeout bounds the wait). */
static void check_stopped(void)
{
	if (q.ctx && q.ctx->stopping && !busy())
		role_exit(q.ctx, 0);
}

static void queue_shutdown(struct role_ctx *ctx)
{
	check_stopped();
}

static void queue_configure(struct role_ctx *ctx, bool reload)
{
	q.ctx = ctx;
}

static void queue_start(struct role_ctx *ctx)
{
	char *error = NULL;
	if (spool_init_dirs(ctx->cfg->spool_dir, &error) < 0 ||
	    spool_recover(ctx->cfg->spool_dir, recovered, NULL, &error) < 0)
		fatal("spool %s: %s", ctx->cfg->spool_dir, error);
	q.tick = evtimer_new(ctx->base, on_tick, NULL);
	schedule_soon();
}

static void queue_status(struct role_ctx *ctx, buf_t *out)
{
	size_t queued = 0, delivering = 0, deferred = 0, remote = 0, failed = 0;
	for (struct q_msg *m = q.msgs; m; m = m->next) {
		queued++;
		if (m->delivering)
			delivering++;
		else if (m->attempts > 0 && pending_local(m) > 0)
			deferred++;
		for (size_t i = 0; i < m->nrcpts; i++) {
			if (!m->rcpt_local[i] && m->states[i] == SPOOL_RCPT_PENDING)
				remote++;
			if (m->states[i] == SPOOL_RCPT_FAILED)
				failed++;
		}
	}
	buf_printf(out, "spool=%s queued=%zu delivering=%zu deferred=%zu remote_waiting=%zu failed_rcpts=%zu "
			"committed=%llu delivered=%llu write_errors=%llu",
		   ctx->cfg->spool_dir, queued, delivering, deferred, remote, failed,
		   (unsigned long long)q.stat_committed, (unsigned long long)q.stat_delivered,
		   (unsigned long long)q.stat_write_errors);
}

const struct role_ops queue_role_ops = {
	.configure = queue_configure,
	.start = queue_start,
	.message = queue_message,
	.status = queue_status,
	.peer_down = queue_peer_down,
	.shutdown = queue_shutdown,
};
