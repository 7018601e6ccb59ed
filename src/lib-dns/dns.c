/* The resolver interface: dispatch to the backend, the callback contract,
 * and helpers built only on dns_lookup (see dns.h). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dns-private.h"
#include "xalloc.h"

struct dns_query *dns_lookup(struct dns_resolver *r, const char *name,
			     enum dns_type type, dns_callback *cb, void *ctx)
{
	assert(r != NULL && name != NULL && cb != NULL);
	assert(dns_type_name(type) != NULL);
	return r->v->lookup(r, name, type, cb, ctx);
}

void dns_cancel(struct dns_query **qp)
{
	struct dns_query *q = *qp;

	*qp = NULL;
	/* inside its own callback the handle is already spent: the backend
	 * frees the query when the callback returns */
	if (q == NULL || q->in_callback)
		return;
	q->cancel(q);
}

void dns_resolver_destroy(struct dns_resolver **rp)
{
	struct dns_resolver *r = *rp;

	if (r == NULL)
		return;
	/* the backend would free the query whose callback is running */
	assert(r->callback_depth == 0);
	*rp = NULL;
	/* helpers first: they hold backend queries */
	while (r->helpers != NULL)
		r->helpers->cancel(r->helpers);
	r->v->destroy(r);
}

void dns_query_deliver(struct dns_query *q, dns_callback *cb, void *ctx,
		       const struct dns_answer *ans)
{
	assert(!q->in_callback);
	/* FOUND always carries records, the others never do */
	assert((ans->status == DNS_FOUND) == (ans->count > 0));
	dns_query_callback_begin(q);
	cb(ctx, ans);
	dns_query_callback_end(q);
}

const char *dns_type_name(enum dns_type type)
{
	switch (type) {
	case DNS_A: return "A";
	case DNS_PTR: return "PTR";
	case DNS_MX: return "MX";
	case DNS_TXT: return "TXT";
	case DNS_AAAA: return "AAAA";
	case DNS_TLSA: return "TLSA";
	}
	return NULL;
}

const char *dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_FOUND: return "found";
	case DNS_NOTFOUND: return "not found";
	case DNS_TEMPFAIL: return "temporary failure";
	}
	return "invalid";
}

int dns_mx_parse(const char *record, unsigned *pref_r, const char **host_r)
{
	unsigned pref = 0;
	const char *p = record;

	/* RFC 1035 3.3.9: PREFERENCE is a 16-bit integer */
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		pref = pref * 10 + (unsigned)(*p - '0');
		if (pref > 65535)
			return -1;
	}
	if (*p != ' ' || p[1] == '\0' || strchr(p + 1, ' ') != NULL)
		return -1;
	*pref_r = pref;
	*host_r = p + 1;
	return 0;
}

/* ---- dns_domain_exists -------------------------------------------------- */

enum dns_exists_which { DNS_EXISTS_MX, DNS_EXISTS_A, DNS_EXISTS_AAAA, DNS_EXISTS_N };

/* What one sub-query said, reduced to what the decision needs */
enum dns_exists_state {
	DNS_EXISTS_PENDING,
	DNS_EXISTS_FOUND,
	DNS_EXISTS_NULL_MX,	/* MX records, none usable (RFC 7505) */
	DNS_EXISTS_NOTFOUND,
	DNS_EXISTS_TEMPFAIL,
};

struct dns_exists;

struct dns_exists_sub {
	struct dns_exists *e;
	struct dns_query *query;	/* NULL once answered or cancelled */
	enum dns_exists_state state;
};

struct dns_exists {
	struct dns_query q;
	struct dns_exists_sub sub[DNS_EXISTS_N];
	void (*cb)(void *ctx, enum dns_status st);
	void *ctx;
};

static const enum dns_type dns_exists_types[DNS_EXISTS_N] = {
	[DNS_EXISTS_MX] = DNS_MX,
	[DNS_EXISTS_A] = DNS_A,
	[DNS_EXISTS_AAAA] = DNS_AAAA,
};

/* RFC 7505 3: a null MX has the root as its host. A domain should publish
 * nothing else, but if it does, any real MX host still makes it usable. */
static bool dns_exists_has_usable_mx(const struct dns_answer *ans)
{
	unsigned pref;
	const char *host;

	for (size_t i = 0; i < ans->count; i++) {
		if (dns_mx_parse(ans->records[i], &pref, &host) == 0 &&
		    strcmp(host, ".") != 0)
			return true;
	}
	return false;
}

static enum dns_exists_state
dns_exists_classify(enum dns_exists_which which, const struct dns_answer *ans)
{
	switch (ans->status) {
	case DNS_FOUND:
		if (which == DNS_EXISTS_MX && !dns_exists_has_usable_mx(ans))
			return DNS_EXISTS_NULL_MX;
		return DNS_EXISTS_FOUND;
	case DNS_NOTFOUND:
		return DNS_EXISTS_NOTFOUND;
	case DNS_TEMPFAIL:
		break;
	}
	return DNS_EXISTS_TEMPFAIL;
}

/* Returns true with *st_r once the outcome cannot change any more. */
static bool dns_exists_decide(const struct dns_exists *e, enum dns_status *st_r)
{
	enum dns_exists_state mx = e->sub[DNS_EXISTS_MX].state;
	enum dns_exists_state a = e->sub[DNS_EXISTS_A].state;
	enum dns_exists_state aaaa = e->sub[DNS_EXISTS_AAAA].state;

	/* the MX answer decides first: a null MX overrides any address */
	if (mx == DNS_EXISTS_PENDING)
		return false;
	if (mx == DNS_EXISTS_FOUND || mx == DNS_EXISTS_NULL_MX) {
		*st_r = mx == DNS_EXISTS_FOUND ? DNS_FOUND : DNS_NOTFOUND;
		return true;
	}
	/* RFC 5321 5.1: no MX, the address records act as an implicit MX */
	if (a == DNS_EXISTS_FOUND || aaaa == DNS_EXISTS_FOUND) {
		*st_r = DNS_FOUND;
		return true;
	}
	if (a == DNS_EXISTS_PENDING || aaaa == DNS_EXISTS_PENDING)
		return false;
	if (mx == DNS_EXISTS_TEMPFAIL || a == DNS_EXISTS_TEMPFAIL ||
	    aaaa == DNS_EXISTS_TEMPFAIL)
		*st_r = DNS_TEMPFAIL;
	else
		*st_r = DNS_NOTFOUND;
	return true;
}

/* Helpers are tracked by the resolver so that destroying it frees them. */
static void dns_helper_link(struct dns_query *q)
{
	struct dns_resolver *r = q->resolver;

	q->helper_next = r->helpers;
	if (r->helpers != NULL)
		r->helpers->helper_prev = q;
	r->helpers = q;
}

static void dns_helper_unlink(struct dns_query *q)
{
	if (q->helper_prev != NULL)
		q->helper_prev->helper_next = q->helper_next;
	else
		q->resolver->helpers = q->helper_next;
	if (q->helper_next != NULL)
		q->helper_next->helper_prev = q->helper_prev;
}

/* Cancel what is still pending, unlink and free e. */
static void dns_exists_free(struct dns_exists *e)
{
	for (int i = 0; i < DNS_EXISTS_N; i++)
		dns_cancel(&e->sub[i].query);
	dns_helper_unlink(&e->q);
	free(e);
}

static void dns_exists_cancel(struct dns_query *q)
{
	dns_exists_free((struct dns_exists *)q);
}

static void dns_exists_sub_cb(void *ctx, const struct dns_answer *ans)
{
	struct dns_exists_sub *s = ctx;
	struct dns_exists *e = s->e;
	enum dns_status st;

	s->query = NULL;	/* spent: its backend frees it after we return */
	s->state = dns_exists_classify((enum dns_exists_which)(s - e->sub), ans);
	if (!dns_exists_decide(e, &st))
		return;
	/* answers nobody needs any more: cancel before the callback */
	for (int i = 0; i < DNS_EXISTS_N; i++)
		dns_cancel(&e->sub[i].query);
	dns_query_callback_begin(&e->q);
	e->cb(e->ctx, st);
	dns_query_callback_end(&e->q);
	dns_exists_free(e);
}

struct dns_query *dns_domain_exists(struct dns_resolver *r, const char *domain,
				    void (*cb)(void *ctx, enum dns_status st),
				    void *ctx)
{
	struct dns_exists *e = xcalloc(1, sizeof(*e));

	assert(cb != NULL);
	e->q.cancel = dns_exists_cancel;
	e->q.resolver = r;
	e->cb = cb;
	e->ctx = ctx;
	dns_helper_link(&e->q);
	/* all three at once: one round trip instead of two when there is no MX */
	for (int i = 0; i < DNS_EXISTS_N; i++) {
		e->sub[i].e = e;
		e->sub[i].state = DNS_EXISTS_PENDING;
		e->sub[i].query = dns_lookup(r, domain, dns_exists_types[i],
					     dns_exists_sub_cb, &e->sub[i]);
	}
	return &e->q;
}
