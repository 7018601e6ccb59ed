/*
 * libunbound backend. libunbound resolves (and validates) in a worker
 * thread of its own and hands results back through a pipe, ub_fd(); we
 * watch that fd with libevent while any query is pending and call
 * ub_process(), which runs our result callback on the loop thread.
 *
 * Each query also has a libevent timer: it bounds the query (timeout_ms) and
 * delivers failures that happen before the query reaches unbound, so the
 * user callback never runs inside dns_lookup().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <unbound.h>

#include "buf.h"
#include "dns-private.h"
#include "log.h"
#include "xalloc.h"

#define DNS_CLASS_IN 1		/* RFC 1035 3.2.4 */
#define DNS_RCODE_NOERROR 0	/* RFC 1035 4.1.1 */
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_REFUSED 5
#define DNS_NAME_MAX 255	/* RFC 1035 3.1, wire octets */
#define DNS_LABEL_MAX 63
/* a rendered record: 64 KiB of rdata at worst doubled by hex (TLSA) */
#define DNS_RECORD_TEXT_MAX (2 * 65536 + 32)

struct dns_ub_query;

struct dns_ub {
	struct dns_resolver r;
	struct ub_ctx *ctx;
	struct event *fd_ev;		/* ub_fd() readable; added while nactive > 0 */
	struct timeval timeout;
	struct dns_ub_query *pending;	/* every live query, doubly linked */
	size_t nactive;			/* queries unbound is working on for us */
	bool broken;			/* ub_process failed: no answers any more */
};

struct dns_ub_query {
	struct dns_query q;
	struct dns_ub *u;
	struct dns_ub_query *prev, *next;
	struct event *timer;
	enum dns_type type;
	dns_callback *cb;
	void *ctx;
	int ub_id;
	bool ub_active;		/* submitted to unbound, no result yet */
	int early_err;		/* not submitted: this UB_* error, from the timer */
};

/* ---- the fd watch and the query list ------------------------------------ */

static void dns_ub_active_inc(struct dns_ub *u)
{
	if (u->nactive++ == 0 && !u->broken)
		event_add(u->fd_ev, NULL);
}

static void dns_ub_active_dec(struct dns_ub *u)
{
	/* not watched while idle, so an idle resolver does not keep
	 * event_base_dispatch() running; late results of cancelled queries
	 * wait in the pipe and are discarded by the next ub_process() */
	if (--u->nactive == 0)
		event_del(u->fd_ev);
}

static void dns_ub_unlink(struct dns_ub_query *q)
{
	struct dns_ub *u = q->u;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		u->pending = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
}

/* Take q away from unbound (if it has it) and from our list, and free it. */
static void dns_ub_query_finish(struct dns_ub_query *q)
{
	if (q->ub_active) {
		/* in thread mode ub_cancel only marks the query: its result
		 * still arrives and unbound drops it without calling us */
		(void)ub_cancel(q->u->ctx, q->ub_id);
		q->ub_active = false;
		dns_ub_active_dec(q->u);
	}
	dns_ub_unlink(q);
	event_free(q->timer);
	free(q);
}

static void dns_ub_cancel(struct dns_query *dq)
{
	dns_ub_query_finish((struct dns_ub_query *)dq);
}

static void dns_ub_deliver(struct dns_ub_query *q, const struct dns_answer *ans)
{
	evtimer_del(q->timer);
	dns_query_deliver(&q->q, q->cb, q->ctx, ans);
	dns_ub_query_finish(q);
}

static void dns_ub_deliver_error(struct dns_ub_query *q, int ub_err)
{
	struct dns_answer ans = { .status = DNS_TEMPFAIL, .error = ub_strerror(ub_err) };

	if (ub_err == UB_SYNTAX) {
		/* unbound could not turn the name into wire format: no such
		 * name can exist (e.g. a label over 63 octets) */
		ans.status = DNS_NOTFOUND;
		ans.nxdomain = true;
		ans.error = NULL;
	}
	dns_ub_deliver(q, &ans);
}

/* ---- rendering rdata (RFC 1035 3.3, RFC 3596, RFC 6698) ------------------ */

/* One name octet in presentation format (RFC 1035 5.1), lowercased
 * (RFC 4343); everything but [a-z0-9_-] as \DDD. */
static void dns_ub_name_octet(buf_t *out, uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		c = (uint8_t)(c - 'A' + 'a');
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')
		(void)buf_append_byte(out, (char)c);
	else
		(void)buf_printf(out, "\\%03u", c);
}

/* Render the uncompressed wire name at p[0..len) (unbound expands
 * compression in rdata). Returns the octets it occupies, or -1. The root is
 * ".", other names have no trailing dot. */
static int dns_ub_name(const uint8_t *p, size_t len, buf_t *out)
{
	size_t i = 0, start = out->used;

	for (;;) {
		if (i >= len || i >= DNS_NAME_MAX)
			return -1;
		uint8_t l = p[i++];
		if (l == 0)
			break;
		/* > 63 also rejects compression pointers (RFC 1035 4.1.4) */
		if (l > DNS_LABEL_MAX || l > len - i)
			return -1;
		if (out->used > start)
			(void)buf_append_byte(out, '.');
		for (size_t k = 0; k < l; k++)
			dns_ub_name_octet(out, p[i + k]);
		i += l;
	}
	if (out->used == start)
		(void)buf_append_byte(out, '.');
	return (int)i;
}

static int dns_ub_render_addr(int family, const uint8_t *p, size_t len, buf_t *out)
{
	char text[INET6_ADDRSTRLEN];

	if (len != (family == AF_INET ? 4u : 16u) ||
	    inet_ntop(family, p, text, sizeof(text)) == NULL)
		return -1;
	return buf_append_cstr(out, text);
}

/* RFC 1035 3.3.9: PREFERENCE (16 bits), EXCHANGE (a name) */
static int dns_ub_render_mx(const uint8_t *p, size_t len, buf_t *out)
{
	if (len < 3)
		return -1;
	(void)buf_printf(out, "%u ", (unsigned)(p[0] << 8 | p[1]));
	return dns_ub_name(p + 2, len - 2, out) == (int)(len - 2) ? 0 : -1;
}

/* RFC 1035 3.3.14: one or more <character-string>s, each a length octet and
 * that many octets; concatenated as RFC 7208 3.3 and RFC 6376 3.6.2.2 read
 * them. */
static int dns_ub_render_txt(const uint8_t *p, size_t len, buf_t *out)
{
	size_t i = 0;

	if (len == 0)
		return -1;
	while (i < len) {
		size_t l = p[i++];
		if (l > len - i)
			return -1;
		for (size_t k = 0; k < l; k++) {
			/* NUL would cut the C string short: see dns.h */
			char c = p[i + k] == '\0' ? '\x7f' : (char)p[i + k];
			(void)buf_append_byte(out, c);
		}
		i += l;
	}
	return 0;
}

static int dns_ub_render_ptr(const uint8_t *p, size_t len, buf_t *out)
{
	return dns_ub_name(p, len, out) == (int)len ? 0 : -1;
}

/* RFC 6698 2.1, 2.2: usage, selector, matching type, association data */
static int dns_ub_render_tlsa(const uint8_t *p, size_t len, buf_t *out)
{
	if (len < 4)
		return -1;
	(void)buf_printf(out, "%u %u %u ", p[0], p[1], p[2]);
	for (size_t i = 3; i < len; i++)
		(void)buf_printf(out, "%02x", p[i]);
	return 0;
}

static int dns_ub_render(enum dns_type type, const uint8_t *p, size_t len, buf_t *out)
{
	switch (type) {
	case DNS_A: return dns_ub_render_addr(AF_INET, p, len, out);
	case DNS_AAAA: return dns_ub_render_addr(AF_INET6, p, len, out);
	case DNS_MX: return dns_ub_render_mx(p, len, out);
	case DNS_TXT: return dns_ub_render_txt(p, len, out);
	case DNS_PTR: return dns_ub_render_ptr(p, len, out);
	case DNS_TLSA: return dns_ub_render_tlsa(p, len, out);
	}
	return -1;
}

/* Render every record of res into a new array (count in *count_r).
 * Malformed rdata is skipped. */
static char **dns_ub_records(enum dns_type type, const struct ub_result *res,
			     size_t *count_r)
{
	size_t n = 0, count = 0;
	char **records;
	buf_t b;

	while (res->data[n] != NULL)
		n++;
	records = xcalloc(n + 1, sizeof(*records));
	buf_init(&b, DNS_RECORD_TEXT_MAX);
	for (size_t i = 0; i < n; i++) {
		buf_reset(&b);
		if (res->len[i] < 0 ||
		    dns_ub_render(type, (const uint8_t *)res->data[i],
				  (size_t)res->len[i], &b) < 0)
			continue;
		records[count++] = xstrdup(buf_cstr(&b));
	}
	buf_free(&b);
	*count_r = count;
	return records;
}

/* ---- results ------------------------------------------------------------- */

/* RFC 1035 4.1.1 / RFC 2308: only NXDOMAIN and NOERROR-without-data say
 * "no such record"; every other rcode is the server failing to answer. */
static const char *dns_ub_rcode_error(int rcode)
{
	switch (rcode) {
	case DNS_RCODE_SERVFAIL: return "server failure";
	case DNS_RCODE_REFUSED: return "query refused";
	}
	return "error response";
}

/* Fill ans from a complete result. Returns the records array for the
 * caller to free, or NULL. */
static char **dns_ub_classify(enum dns_type type, const struct ub_result *res,
			      struct dns_answer *ans)
{
	char **records = NULL;

	ans->status = DNS_TEMPFAIL;
	if (res->bogus) {
		/* RFC 4035 5.5: bogus data is not an answer */
		ans->error = "DNSSEC validation failed";
	} else if (res->rcode == DNS_RCODE_NXDOMAIN) {
		ans->status = DNS_NOTFOUND;
		ans->nxdomain = true;
	} else if (res->rcode != DNS_RCODE_NOERROR) {
		ans->error = dns_ub_rcode_error(res->rcode);
	} else if (!res->havedata) {
		ans->status = DNS_NOTFOUND;	/* NODATA, RFC 2308 2.2 */
	} else {
		records = dns_ub_records(type, res, &ans->count);
		ans->records = records;
		/* unreadable records prove nothing about existence */
		ans->status = ans->count > 0 ? DNS_FOUND : DNS_TEMPFAIL;
		ans->error = ans->count > 0 ? NULL : "malformed answer";
	}
	ans->secure = ans->status != DNS_TEMPFAIL && res->secure != 0;
	return records;
}

static void dns_ub_result_cb(void *arg, int err, struct ub_result *res)
{
	struct dns_ub_query *q = arg;
	struct dns_answer ans = { .status = DNS_TEMPFAIL };
	char **records;

	q->ub_active = false;
	dns_ub_active_dec(q->u);
	if (err != 0 || res == NULL) {
		ub_resolve_free(res);
		dns_ub_deliver_error(q, err != 0 ? err : UB_NOMEM);
		return;
	}
	records = dns_ub_classify(q->type, res, &ans);
	dns_ub_deliver(q, &ans);
	for (size_t i = 0; records != NULL && records[i] != NULL; i++)
		free(records[i]);
	free(records);
	ub_resolve_free(res);
}

static void dns_ub_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_ub_query *q = arg;
	struct dns_answer ans = { .status = DNS_TEMPFAIL, .error = "timeout" };

	(void)fd; (void)what;
	if (q->ub_active)
		dns_ub_deliver(q, &ans);	/* finish() cancels it in unbound */
	else
		dns_ub_deliver_error(q, q->early_err);
}

static void dns_ub_fd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_ub *u = arg;
	int err;

	(void)fd; (void)what;
	err = ub_process(u->ctx);
	if (err != 0) {
		/* the worker is gone (UB_PIPE): stop watching a dead pipe;
		 * pending queries end with their timers, new ones fail */
		log_error("dns: unbound result pipe failed: %s", ub_strerror(err));
		u->broken = true;
		event_del(u->fd_ev);
	}
}

static struct dns_query *dns_ub_lookup(struct dns_resolver *r, const char *name,
				       enum dns_type type, dns_callback *cb, void *ctx)
{
	struct dns_ub *u = (struct dns_ub *)r;
	struct dns_ub_query *q = xcalloc(1, sizeof(*q));
	static const struct timeval now = { 0, 0 };
	int err = UB_PIPE;

	q->q.cancel = dns_ub_cancel;
	q->q.resolver = r;
	q->u = u;
	q->type = type;
	q->cb = cb;
	q->ctx = ctx;
	q->timer = evtimer_new(r->base, dns_ub_timer_cb, q);
	if (q->timer == NULL)
		abort();	/* libevent allocation failure: like xalloc */
	q->next = u->pending;
	if (u->pending != NULL)
		u->pending->prev = q;
	u->pending = q;

	if (!u->broken)
		err = ub_resolve_async(u->ctx, name, (int)type, DNS_CLASS_IN, q,
				       dns_ub_result_cb, &q->ub_id);
	if (err != 0) {
		q->early_err = err;
		evtimer_add(q->timer, &now);
	} else {
		q->ub_active = true;
		dns_ub_active_inc(u);
		evtimer_add(q->timer, &u->timeout);
	}
	return &q->q;
}

static void dns_ub_destroy(struct dns_resolver *r)
{
	struct dns_ub *u = (struct dns_ub *)r;

	while (u->pending != NULL)
		dns_ub_query_finish(u->pending);
	event_free(u->fd_ev);
	ub_ctx_delete(u->ctx);	/* stops and joins the worker thread */
	free(u);
}

static const struct dns_resolver_vfuncs dns_ub_vfuncs = {
	.lookup = dns_ub_lookup,
	.destroy = dns_ub_destroy,
};

/* ---- creation ------------------------------------------------------------ */

static int dns_ub_set_servers(struct ub_ctx *ctx, const char *const *servers,
			      size_t nservers, char **error_r)
{
	int err;

	for (size_t i = 0; i < nservers; i++) {
		if ((err = ub_ctx_set_fwd(ctx, servers[i])) != 0) {
			*error_r = xasprintf("invalid DNS server \"%s\": %s",
					     servers[i], ub_strerror(err));
			return -1;
		}
	}
	if (nservers > 0)
		return 0;
	if ((err = ub_ctx_resolvconf(ctx, NULL)) != 0) {
		*error_r = xasprintf("/etc/resolv.conf: %s", err == UB_READFILE ?
				     strerror(errno) : ub_strerror(err));
		return -1;
	}
	/* a broken hosts file should not stop mail: the DNS still works */
	if ((err = ub_ctx_hosts(ctx, NULL)) != 0)
		log_warn("dns: /etc/hosts not used: %s", ub_strerror(err));
	return 0;
}

static int dns_ub_set_trust_anchor(struct ub_ctx *ctx, const char *file, char **error_r)
{
	FILE *f;
	int err;

	if (file == NULL) {
		/* no anchors: leave the validator module out altogether */
		if (ub_ctx_set_option(ctx, "module-config:", "iterator") != 0) {
			*error_r = xstrdup("cannot configure unbound modules");
			return -1;
		}
		return 0;
	}
	/* unbound reports an unreadable file only as "initialization
	 * failure", so check it first for a useful message */
	if ((f = fopen(file, "r")) == NULL) {
		*error_r = xasprintf("%s: %s", file, strerror(errno));
		return -1;
	}
	fclose(f);
	if ((err = ub_ctx_add_ta_file(ctx, file)) != 0) {
		*error_r = xasprintf("%s: %s", file, ub_strerror(err));
		return -1;
	}
	return 0;
}

/* libunbound reads trust anchor files and builds its modules when the
 * context is finalized, normally at the first query -- after chroot, where
 * the files are gone. ub_ctx_data_remove() finalizes first, and removing a
 * name that has no local data changes nothing (RFC 6761 6.4: .invalid
 * never exists), so it is the public way to do that work now. It also
 * turns a bad anchor into an error at startup instead of at the first
 * query. */
static int dns_ub_finalize(struct ub_ctx *ctx, const char *trust_anchor_file,
			   char **error_r)
{
	int err = ub_ctx_data_remove(ctx, "finalize.youju.invalid.");

	if (err == 0)
		return 0;
	if (trust_anchor_file != NULL)
		*error_r = xasprintf("unbound initialization failed (trust anchor %s): %s",
				     trust_anchor_file, ub_strerror(err));
	else
		*error_r = xasprintf("unbound initialization failed: %s", ub_strerror(err));
	return -1;
}

static int dns_ub_configure(struct ub_ctx *ctx, const char *const *servers,
			    size_t nservers, const char *trust_anchor_file,
			    char **error_r)
{
	/* a thread, not a forked process: nothing to reap, and it starts
	 * inside whatever chroot the process is in by then */
	if (ub_ctx_async(ctx, 1) != 0 ||
	    /* forwarders on loopback are normal: a local unbound, dnsmasq,
	     * systemd-resolved on 127.0.0.53 */
	    ub_ctx_set_option(ctx, "do-not-query-localhost:", "no") != 0) {
		*error_r = xstrdup("cannot configure unbound");
		return -1;
	}
	if (dns_ub_set_servers(ctx, servers, nservers, error_r) < 0 ||
	    dns_ub_set_trust_anchor(ctx, trust_anchor_file, error_r) < 0)
		return -1;
	return dns_ub_finalize(ctx, trust_anchor_file, error_r);
}

struct dns_resolver *dns_unbound_create(struct event_base *base,
					const char *const *servers, size_t nservers,
					const char *trust_anchor_file, int timeout_ms,
					char **error_r)
{
	struct ub_ctx *ctx;
	struct dns_ub *u;

	if (timeout_ms <= 0) {
		*error_r = xstrdup("DNS timeout must be positive");
		return NULL;
	}
	if ((ctx = ub_ctx_create()) == NULL) {
		*error_r = xasprintf("ub_ctx_create: %s", strerror(errno));
		return NULL;
	}
	if (dns_ub_configure(ctx, servers, servers != NULL ? nservers : 0,
			     trust_anchor_file, error_r) < 0) {
		ub_ctx_delete(ctx);
		return NULL;
	}
	u = xcalloc(1, sizeof(*u));
	u->r.v = &dns_ub_vfuncs;
	u->r.base = base;
	u->ctx = ctx;
	u->timeout.tv_sec = timeout_ms / 1000;
	u->timeout.tv_usec = (timeout_ms % 1000) * 1000;
	u->fd_ev = event_new(base, ub_fd(ctx), EV_READ | EV_PERSIST, dns_ub_fd_cb, u);
	if (u->fd_ev == NULL)
		abort();	/* libevent allocation failure: like xalloc */
	return &u->r;
}
