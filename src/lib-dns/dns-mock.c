/* Mock resolver for tests: a table of rules answered on the next loop
 * iteration. Lookup rules are in dns.h. */
#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dns-private.h"
#include "xalloc.h"

enum dns_mock_kind { DNS_MOCK_RECORD, DNS_MOCK_NXDOMAIN, DNS_MOCK_TEMPFAIL };

struct dns_mock_rule {
	enum dns_mock_kind kind;
	char *name;		/* normalized */
	int type;		/* 0: any (TEMPFAIL, NXDOMAIN) */
	char *record;		/* DNS_MOCK_RECORD */
};

struct dns_mock_query;

struct dns_mock {
	struct dns_resolver r;
	struct dns_mock_rule *rules;
	size_t nrules;
	struct dns_mock_query *pending;	/* doubly linked */
	size_t npending;
};

struct dns_mock_query {
	struct dns_query q;
	struct dns_mock *m;
	struct dns_mock_query *prev, *next;
	struct event *ev;
	char *name;		/* normalized */
	enum dns_type type;
	dns_callback *cb;
	void *ctx;
};

/* DNS names compare without case (RFC 4343) and "x." is "x". */
static char *dns_mock_normalize(const char *name)
{
	size_t len = strlen(name);
	char *s;

	if (len > 1 && name[len - 1] == '.')
		len--;
	s = xstrndup(name, len);
	for (char *p = s; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

static void dns_mock_add_rule(struct dns_resolver *r, enum dns_mock_kind kind,
			      const char *name, int type, const char *record)
{
	struct dns_mock *m = (struct dns_mock *)r;
	struct dns_mock_rule *rule;

	m->rules = xreallocarray(m->rules, m->nrules + 1, sizeof(*m->rules));
	rule = &m->rules[m->nrules++];
	rule->kind = kind;
	rule->name = dns_mock_normalize(name);
	rule->type = type;
	rule->record = record != NULL ? xstrdup(record) : NULL;
}

void dns_mock_add(struct dns_resolver *r, const char *name, enum dns_type type,
		  const char *record)
{
	assert(dns_type_name(type) != NULL && record != NULL);
	dns_mock_add_rule(r, DNS_MOCK_RECORD, name, (int)type, record);
}

void dns_mock_set_nxdomain(struct dns_resolver *r, const char *name)
{
	dns_mock_add_rule(r, DNS_MOCK_NXDOMAIN, name, 0, NULL);
}

void dns_mock_set_tempfail(struct dns_resolver *r, const char *name)
{
	dns_mock_add_rule(r, DNS_MOCK_TEMPFAIL, name, 0, NULL);
}

void dns_mock_set_tempfail_type(struct dns_resolver *r, const char *name,
				enum dns_type type)
{
	assert(dns_type_name(type) != NULL);
	dns_mock_add_rule(r, DNS_MOCK_TEMPFAIL, name, (int)type, NULL);
}

size_t dns_mock_pending(const struct dns_resolver *r)
{
	return ((const struct dns_mock *)r)->npending;
}

/* Does any rule of this kind cover (name, type)? type 0 matches any type. */
static bool dns_mock_has(const struct dns_mock *m, enum dns_mock_kind kind,
			 const char *name, int type)
{
	for (size_t i = 0; i < m->nrules; i++) {
		const struct dns_mock_rule *rule = &m->rules[i];
		if (rule->kind == kind && strcmp(rule->name, name) == 0 &&
		    (type == 0 || rule->type == 0 || rule->type == type))
			return true;
	}
	return false;
}

/* Fill ans for q from the table; records point into the rules. */
static void dns_mock_answer(const struct dns_mock *m, const struct dns_mock_query *q,
			    struct dns_answer *ans, char **records)
{
	memset(ans, 0, sizeof(*ans));
	if (dns_mock_has(m, DNS_MOCK_TEMPFAIL, q->name, (int)q->type)) {
		ans->status = DNS_TEMPFAIL;
		ans->error = "mock temporary failure";
		return;
	}
	ans->status = DNS_NOTFOUND;
	ans->nxdomain = true;
	if (dns_mock_has(m, DNS_MOCK_NXDOMAIN, q->name, 0))
		return;
	ans->nxdomain = !dns_mock_has(m, DNS_MOCK_RECORD, q->name, 0);
	for (size_t i = 0; i < m->nrules; i++) {
		const struct dns_mock_rule *rule = &m->rules[i];
		if (rule->kind == DNS_MOCK_RECORD && rule->type == (int)q->type &&
		    strcmp(rule->name, q->name) == 0)
			records[ans->count++] = rule->record;
	}
	if (ans->count > 0) {
		ans->status = DNS_FOUND;
		ans->records = records;
	}
}

static void dns_mock_unlink(struct dns_mock_query *q)
{
	struct dns_mock *m = q->m;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		m->pending = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	m->npending--;
}

static void dns_mock_query_free(struct dns_mock_query *q)
{
	event_free(q->ev);
	free(q->name);
	free(q);
}

static void dns_mock_fire(evutil_socket_t fd, short what, void *arg)
{
	struct dns_mock_query *q = arg;
	struct dns_answer ans;
	char **records = xcalloc(q->m->nrules + 1, sizeof(*records));

	(void)fd; (void)what;
	dns_mock_unlink(q);
	dns_mock_answer(q->m, q, &ans, records);
	dns_query_deliver(&q->q, q->cb, q->ctx, &ans);
	free(records);
	dns_mock_query_free(q);
}

static void dns_mock_cancel(struct dns_query *dq)
{
	struct dns_mock_query *q = (struct dns_mock_query *)dq;

	dns_mock_unlink(q);
	dns_mock_query_free(q);
}

static struct dns_query *dns_mock_lookup(struct dns_resolver *r, const char *name,
					 enum dns_type type, dns_callback *cb, void *ctx)
{
	struct dns_mock *m = (struct dns_mock *)r;
	struct dns_mock_query *q = xcalloc(1, sizeof(*q));
	static const struct timeval now = { 0, 0 };

	q->q.cancel = dns_mock_cancel;
	q->q.resolver = r;
	q->m = m;
	q->name = dns_mock_normalize(name);
	q->type = type;
	q->cb = cb;
	q->ctx = ctx;
	/* a cancellable zero timer rather than event_base_once: a query can
	 * then be dropped by dns_cancel or with the resolver */
	q->ev = evtimer_new(r->base, dns_mock_fire, q);
	if (q->ev == NULL || evtimer_add(q->ev, &now) < 0)
		abort();	/* libevent allocation failure: like xalloc */
	q->next = m->pending;
	if (m->pending != NULL)
		m->pending->prev = q;
	m->pending = q;
	m->npending++;
	return &q->q;
}

static void dns_mock_destroy(struct dns_resolver *r)
{
	struct dns_mock *m = (struct dns_mock *)r;

	while (m->pending != NULL)
		dns_mock_cancel(&m->pending->q);
	for (size_t i = 0; i < m->nrules; i++) {
		free(m->rules[i].name);
		free(m->rules[i].record);
	}
	free(m->rules);
	free(m);
}

static const struct dns_resolver_vfuncs dns_mock_vfuncs = {
	.lookup = dns_mock_lookup,
	.destroy = dns_mock_destroy,
};

struct dns_resolver *dns_mock_create(struct event_base *base)
{
	struct dns_mock *m = xcalloc(1, sizeof(*m));

	m->r.v = &dns_mock_vfuncs;
	m->r.base = base;
	return &m->r;
}
