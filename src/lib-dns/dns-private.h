#ifndef YOUJU_DNS_PRIVATE_H
#define YOUJU_DNS_PRIVATE_H
/*
 * What a resolver backend (dns-unbound.c, dns-mock.c) and the helpers in
 * dns.c share. Not for users of the interface: they see only dns.h.
 *
 * A backend embeds struct dns_resolver first in its resolver and struct
 * dns_query first in each query. To deliver an answer it calls
 * dns_query_deliver(), which brackets the user callback so that
 * dns_cancel() from inside the callback is a no-op, and then frees the query
 * itself.
 */
#include "dns.h"

struct dns_resolver_vfuncs {
	/* Start a query; never NULL; never calls cb before returning. */
	struct dns_query *(*lookup)(struct dns_resolver *r, const char *name,
				    enum dns_type type, dns_callback *cb, void *ctx);
	/* Drop pending queries without callbacks, free everything. */
	void (*destroy)(struct dns_resolver *r);
};

struct dns_resolver {
	const struct dns_resolver_vfuncs *v;
	struct event_base *base;
	unsigned callback_depth;	/* > 0 while a user callback runs */
	/* pending helper queries (dns.c), dropped before the backend's */
	struct dns_query *helpers;
};

struct dns_query {
	/* Stop the query and free it; its callback is never called. */
	void (*cancel)(struct dns_query *q);
	struct dns_resolver *resolver;
	bool in_callback;
	struct dns_query *helper_prev, *helper_next;	/* helpers only */
};

/* Bracket a user callback of q: from begin on, dns_cancel(&q) is a no-op and
 * dns_resolver_destroy() asserts. */
static inline void dns_query_callback_begin(struct dns_query *q)
{
	q->in_callback = true;
	q->resolver->callback_depth++;
}

static inline void dns_query_callback_end(struct dns_query *q)
{
	q->resolver->callback_depth--;
}

/* Run cb(ctx, ans) for q with the contract of dns.h. The caller frees q
 * afterwards (q stays allocated during the call). */
void dns_query_deliver(struct dns_query *q, dns_callback *cb, void *ctx,
		       const struct dns_answer *ans);

#endif
