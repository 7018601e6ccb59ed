/*
 * Unit tests for the resolver interface (src/lib-dns): the mock backend, the
 * dns_domain_exists helper, and the libunbound backend against a tiny DNS
 * server run inside the test (UDP on 127.0.0.1, random port, canned
 * answers). Every event loop runs under a hard deadline so a bug fails the
 * test instead of hanging it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "dns.h"
#include "test.h"
#include "xalloc.h"

/* ---- loop with a deadline, and result collection ------------------------- */

static void test_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	*(bool *)arg = true;
}

/* Run base until *count >= want or ms pass. Returns whether want was met. */
static bool test_run(struct event_base *base, const int *count, int want, int ms)
{
	bool expired = false;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *deadline = evtimer_new(base, test_deadline_cb, &expired);

	evtimer_add(deadline, &tv);
	while (*count < want && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(deadline);
	return *count >= want;
}

#define TEST_MAX_RECORDS 8

struct test_result {
	int *done;		/* shared completion counter */
	int calls;
	enum dns_status status;
	bool nxdomain, secure;
	size_t count;
	char *records[TEST_MAX_RECORDS];
	char error[80];
	struct dns_query *q;	/* the handle, for in-callback cancel tests */
};

static void test_result_cb(void *ctx, const struct dns_answer *ans)
{
	struct test_result *r = ctx;

	r->calls++;
	(*r->done)++;
	r->status = ans->status;
	r->nxdomain = ans->nxdomain;
	r->secure = ans->secure;
	r->count = ans->count;
	for (size_t i = 0; i < ans->count && i < TEST_MAX_RECORDS; i++)
		r->records[i] = xstrdup(ans->records[i]);
	snprintf(r->error, sizeof(r->error), "%s", ans->error != NULL ? ans->error : "");
}

static void test_result_free(struct test_result *r)
{
	for (size_t i = 0; i < TEST_MAX_RECORDS; i++)
		xfree(&r->records[i]);
}

static struct test_result *test_results(size_t n, int *done)
{
	struct test_result *r = xcalloc(n, sizeof(*r));

	for (size_t i = 0; i < n; i++)
		r[i].done = done;
	return r;
}

static void test_results_free(struct test_result *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		test_result_free(&r[i]);
	free(r);
}

/* ---- mock backend -------------------------------------------------------- */

TEST(dns_mock_outcomes)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r = dns_mock_create(base);
	int done = 0;
	struct test_result *res = test_results(9, &done);

	dns_mock_add(r, "a.example", DNS_A, "192.0.2.1");
	dns_mock_add(r, "a.example", DNS_A, "192.0.2.2");
	dns_mock_add(r, "a.example", DNS_MX, "10 mx.a.example");
	dns_mock_set_nxdomain(r, "gone.example");
	dns_mock_set_tempfail(r, "broken.example");
	dns_mock_add(r, "half.example", DNS_A, "192.0.2.9");
	dns_mock_set_tempfail_type(r, "half.example", DNS_MX);

	dns_lookup(r, "a.example", DNS_A, test_result_cb, &res[0]);
	dns_lookup(r, "A.Example.", DNS_A, test_result_cb, &res[1]);
	dns_lookup(r, "a.example", DNS_AAAA, test_result_cb, &res[2]);
	dns_lookup(r, "nothing.example", DNS_A, test_result_cb, &res[3]);
	dns_lookup(r, "gone.example", DNS_A, test_result_cb, &res[4]);
	dns_lookup(r, "broken.example", DNS_TXT, test_result_cb, &res[5]);
	dns_lookup(r, "half.example", DNS_MX, test_result_cb, &res[6]);
	dns_lookup(r, "half.example", DNS_A, test_result_cb, &res[7]);
	dns_lookup(r, "a.example", DNS_MX, test_result_cb, &res[8]);
	/* never from inside dns_lookup */
	CHECK_INTEQ(done, 0);
	CHECK_INTEQ(dns_mock_pending(r), 9);
	REQUIRE(test_run(base, &done, 9, 2000));
	CHECK_INTEQ(dns_mock_pending(r), 0);

	CHECK_INTEQ(res[0].status, DNS_FOUND);
	CHECK_INTEQ(res[0].count, 2);
	CHECK_STREQ(res[0].records[0], "192.0.2.1");
	CHECK_STREQ(res[0].records[1], "192.0.2.2");
	CHECK(!res[0].secure);
	CHECK_INTEQ(res[1].status, DNS_FOUND);
	CHECK_INTEQ(res[2].status, DNS_NOTFOUND);	/* NODATA */
	CHECK(!res[2].nxdomain);
	CHECK_INTEQ(res[3].status, DNS_NOTFOUND);
	CHECK(res[3].nxdomain);
	CHECK_INTEQ(res[4].status, DNS_NOTFOUND);
	CHECK(res[4].nxdomain);
	CHECK_INTEQ(res[5].status, DNS_TEMPFAIL);
	CHECK(res[5].error[0] != '\0');
	CHECK_INTEQ(res[6].status, DNS_TEMPFAIL);
	CHECK_INTEQ(res[7].status, DNS_FOUND);
	CHECK_INTEQ(res[8].status, DNS_FOUND);
	CHECK_STREQ(res[8].records[0], "10 mx.a.example");
	for (int i = 0; i < 9; i++)
		CHECK_INTEQ(res[i].calls, 1);

	test_results_free(res, 9);
	dns_resolver_destroy(&r);
	CHECK(r == NULL);
	dns_resolver_destroy(&r);	/* NULL is fine */
	event_base_free(base);
}

TEST(dns_mock_cancel)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r = dns_mock_create(base);
	int done = 0;
	struct test_result res[2] = { { .done = &done }, { .done = &done } };
	struct dns_query *q, *none = NULL;

	dns_mock_add(r, "a.example", DNS_A, "192.0.2.1");
	q = dns_lookup(r, "a.example", DNS_A, test_result_cb, &res[0]);
	dns_lookup(r, "a.example", DNS_A, test_result_cb, &res[1]);
	dns_cancel(&q);
	CHECK(q == NULL);
	dns_cancel(&none);
	CHECK_INTEQ(dns_mock_pending(r), 1);
	CHECK(!test_run(base, &done, 2, 100));
	CHECK_INTEQ(res[0].calls, 0);
	CHECK_INTEQ(res[1].calls, 1);
	test_result_free(&res[1]);
	dns_resolver_destroy(&r);
	event_base_free(base);
}

/* Two queries whose callbacks each cancel their own handle (a no-op inside
 * the callback) and the other's: whichever fires first, exactly one runs. */
struct test_pair {
	int done;
	int calls[2];
	struct dns_query *q[2];
};

static void test_pair_cb(struct test_pair *p, int self)
{
	p->calls[self]++;
	p->done++;
	dns_cancel(&p->q[self]);
	CHECK(p->q[self] == NULL);
	dns_cancel(&p->q[!self]);
}

static void test_pair0_cb(void *ctx, const struct dns_answer *ans)
{
	(void)ans;
	test_pair_cb(ctx, 0);
}

static void test_pair1_cb(void *ctx, const struct dns_answer *ans)
{
	(void)ans;
	test_pair_cb(ctx, 1);
}

TEST(dns_cancel_inside_callback)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r = dns_mock_create(base);
	struct test_pair p = { 0 };

	p.q[0] = dns_lookup(r, "a.example", DNS_A, test_pair0_cb, &p);
	p.q[1] = dns_lookup(r, "b.example", DNS_MX, test_pair1_cb, &p);
	REQUIRE(test_run(base, &p.done, 1, 2000));
	CHECK(!test_run(base, &p.done, 2, 100));
	CHECK_INTEQ(p.calls[0] + p.calls[1], 1);
	CHECK(p.q[0] == NULL && p.q[1] == NULL);
	CHECK_INTEQ(dns_mock_pending(r), 0);
	dns_resolver_destroy(&r);
	event_base_free(base);
}

static void test_never_cb(void *ctx, const struct dns_answer *ans)
{
	(void)ans;
	(*(int *)ctx)++;
}

static void test_exists_never_cb(void *ctx, enum dns_status st)
{
	(void)st;
	(*(int *)ctx)++;
}

TEST(dns_mock_destroy_pending)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r = dns_mock_create(base);
	int calls = 0, zero = 0;

	for (int i = 0; i < 10; i++)
		dns_lookup(r, "a.example", DNS_A, test_never_cb, &calls);
	(void)dns_domain_exists(r, "a.example", test_exists_never_cb, &calls);
	dns_resolver_destroy(&r);
	CHECK(!test_run(base, &zero, 1, 50));
	CHECK_INTEQ(calls, 0);
	event_base_free(base);
}

/* ---- dns_domain_exists --------------------------------------------------- */

struct test_exists {
	int done;
	int calls;
	enum dns_status st;
	size_t pending_at_cb;
	struct dns_resolver *r;
	struct dns_query *q;
};

static void test_exists_cb(void *ctx, enum dns_status st)
{
	struct test_exists *e = ctx;

	e->calls++;
	e->done++;
	e->st = st;
	e->pending_at_cb = dns_mock_pending(e->r);
	dns_cancel(&e->q);	/* own handle inside its callback: no-op */
}

/* Ask dns_domain_exists on the mock; 99 if it did not answer once. */
static int test_exists_status(struct event_base *base, struct dns_resolver *r,
			      const char *domain)
{
	struct test_exists e = { .r = r };

	e.q = dns_domain_exists(r, domain, test_exists_cb, &e);
	if (e.done != 0 || !test_run(base, &e.done, 1, 2000))
		return 99;
	/* let anything stray run, then check nothing is left behind */
	(void)test_run(base, &e.done, 2, 20);
	if (e.calls != 1 || e.pending_at_cb != 0 || dns_mock_pending(r) != 0)
		return 98;
	return e.st;
}

struct exists_case {
	const char *domain;
	int status;
};

TEST(dns_domain_exists_paths)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r = dns_mock_create(base);
	static const struct exists_case cases[] = {
		{ "mx.example", DNS_FOUND },
		{ "MX.Example.", DNS_FOUND },
		{ "nullmx.example", DNS_NOTFOUND },	/* RFC 7505, A ignored */
		{ "mixmx.example", DNS_FOUND },
		{ "aonly.example", DNS_FOUND },		/* implicit MX */
		{ "aaaaonly.example", DNS_FOUND },
		{ "nx.example", DNS_NOTFOUND },
		{ "unknown.example", DNS_NOTFOUND },
		{ "txtonly.example", DNS_NOTFOUND },
		{ "mxfail-a.example", DNS_FOUND },
		{ "mxfail-aaaa.example", DNS_FOUND },
		{ "allfail.example", DNS_TEMPFAIL },
		{ "mxfail-none.example", DNS_TEMPFAIL },
		{ "afail.example", DNS_TEMPFAIL },
		{ "mx-afail.example", DNS_FOUND },
		{ "nullmx-aaaafail.example", DNS_NOTFOUND },
		{ "nullmx-mxfail.example", DNS_TEMPFAIL },
	};

	dns_mock_add(r, "mx.example", DNS_MX, "10 mail.mx.example");
	dns_mock_add(r, "nullmx.example", DNS_MX, "0 .");
	dns_mock_add(r, "nullmx.example", DNS_A, "192.0.2.1");
	dns_mock_add(r, "mixmx.example", DNS_MX, "0 .");
	dns_mock_add(r, "mixmx.example", DNS_MX, "10 real.example");
	dns_mock_add(r, "aonly.example", DNS_A, "192.0.2.1");
	dns_mock_add(r, "aaaaonly.example", DNS_AAAA, "2001:db8::1");
	dns_mock_set_nxdomain(r, "nx.example");
	dns_mock_add(r, "txtonly.example", DNS_TXT, "v=spf1 -all");
	dns_mock_set_tempfail_type(r, "mxfail-a.example", DNS_MX);
	dns_mock_add(r, "mxfail-a.example", DNS_A, "192.0.2.1");
	dns_mock_set_tempfail_type(r, "mxfail-aaaa.example", DNS_MX);
	dns_mock_add(r, "mxfail-aaaa.example", DNS_AAAA, "2001:db8::1");
	dns_mock_set_tempfail(r, "allfail.example");
	dns_mock_set_tempfail_type(r, "mxfail-none.example", DNS_MX);
	dns_mock_add(r, "mxfail-none.example", DNS_TXT, "exists");
	dns_mock_set_tempfail_type(r, "afail.example", DNS_A);
	dns_mock_add(r, "afail.example", DNS_TXT, "exists");
	dns_mock_add(r, "mx-afail.example", DNS_MX, "10 mail.example");
	dns_mock_set_tempfail_type(r, "mx-afail.example", DNS_A);
	dns_mock_add(r, "nullmx-aaaafail.example", DNS_MX, "0 .");
	dns_mock_set_tempfail_type(r, "nullmx-aaaafail.example", DNS_AAAA);
	/* "nothing found" is only final when the MX answer is known */
	dns_mock_set_tempfail_type(r, "nullmx-mxfail.example", DNS_MX);
	dns_mock_add(r, "nullmx-mxfail.example", DNS_TXT, "exists");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = test_exists_status(base, r, cases[i].domain);
		if (st != cases[i].status)
			fprintf(stderr, "  case %s\n", cases[i].domain);
		CHECK_INTEQ(st, cases[i].status);
	}
	dns_resolver_destroy(&r);
	event_base_free(base);
}

TEST(dns_domain_exists_cancel)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r = dns_mock_create(base);
	struct test_exists e = { .r = r };

	dns_mock_add(r, "mx.example", DNS_MX, "10 mail.mx.example");
	e.q = dns_domain_exists(r, "mx.example", test_exists_cb, &e);
	CHECK_INTEQ(dns_mock_pending(r), 3);	/* MX, A, AAAA in parallel */
	dns_cancel(&e.q);
	CHECK(e.q == NULL);
	CHECK_INTEQ(dns_mock_pending(r), 0);
	CHECK(!test_run(base, &e.done, 1, 100));
	CHECK_INTEQ(e.calls, 0);
	dns_resolver_destroy(&r);
	event_base_free(base);
}

/* Many queries in flight at once, some cancelled, on one resolver. */
TEST(dns_mock_many_concurrent)
{
	enum { N = 400 };
	struct event_base *base = event_base_new();
	struct dns_resolver *r = dns_mock_create(base);
	int done = 0, expected = 0;
	struct test_result *res = test_results(N, &done);
	struct test_exists *ex = xcalloc(N, sizeof(*ex));
	char name[64];

	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "h%d.example", i);
		switch (i % 4) {
		case 0: dns_mock_add(r, name, DNS_A, "192.0.2.1"); break;
		case 1: dns_mock_set_nxdomain(r, name); break;
		case 2: dns_mock_set_tempfail(r, name); break;
		case 3: dns_mock_add(r, name, DNS_MX, "10 mx.example"); break;
		}
	}
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "h%d.example", i);
		res[i].q = dns_lookup(r, name, DNS_A, test_result_cb, &res[i]);
		ex[i].r = r;
		ex[i].q = dns_domain_exists(r, name, test_exists_cb, &ex[i]);
	}
	CHECK_INTEQ(dns_mock_pending(r), 4 * N);
	for (int i = 0; i < N; i += 7) {
		dns_cancel(&res[i].q);
		dns_cancel(&ex[i].q);
	}
	for (int i = 0; i < N; i++)
		expected += i % 7 == 0 ? 0 : 1;
	REQUIRE(test_run(base, &done, expected, 5000));
	CHECK(!test_run(base, &done, expected + 1, 20));
	CHECK_INTEQ(dns_mock_pending(r), 0);

	static const int lookup_st[4] = { DNS_FOUND, DNS_NOTFOUND, DNS_TEMPFAIL, DNS_NOTFOUND };
	static const int exists_st[4] = { DNS_FOUND, DNS_NOTFOUND, DNS_TEMPFAIL, DNS_FOUND };
	int ex_done = 0;
	for (int i = 0; i < N; i++) {
		int want = i % 7 == 0 ? 0 : 1;
		CHECK_INTEQ(res[i].calls, want);
		CHECK_INTEQ(ex[i].calls, want);
		ex_done += ex[i].calls;
		if (want && (res[i].status != lookup_st[i % 4] || ex[i].st != exists_st[i % 4])) {
			fprintf(stderr, "  query %d\n", i);
			CHECK(false);
		}
	}
	CHECK_INTEQ(ex_done, expected);
	test_results_free(res, N);
	free(ex);
	dns_resolver_destroy(&r);
	event_base_free(base);
}

struct mx_case {
	const char *in;
	int ret;
	unsigned pref;
	const char *host;
};

TEST(dns_mx_parse)
{
	static const struct mx_case cases[] = {
		{ "10 mx.example.org", 0, 10, "mx.example.org" },
		{ "0 .", 0, 0, "." },
		{ "65535 a", 0, 65535, "a" },
		{ "65536 a", -1, 0, NULL },
		{ "99999999999999999999 a", -1, 0, NULL },
		{ "10", -1, 0, NULL },
		{ "10 ", -1, 0, NULL },
		{ " 10 a", -1, 0, NULL },
		{ "10  a", -1, 0, NULL },
		{ "10 a b", -1, 0, NULL },
		{ "-1 a", -1, 0, NULL },
		{ "x a", -1, 0, NULL },
		{ "", -1, 0, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned pref = 12345;
		const char *host = NULL;
		int ret = dns_mx_parse(cases[i].in, &pref, &host);

		CHECK_INTEQ(ret, cases[i].ret);
		if (ret == 0) {
			CHECK_INTEQ(pref, cases[i].pref);
			CHECK_STREQ(host, cases[i].host);
		}
	}
	CHECK_STREQ(dns_type_name(DNS_TLSA), "TLSA");
	CHECK(dns_type_name((enum dns_type)99) == NULL);
	CHECK_STREQ(dns_status_name(DNS_TEMPFAIL), "temporary failure");
}

/* ---- a tiny DNS server for the unbound backend --------------------------- */

/* Message builder (RFC 1035 4.1). Bounded: overflow only sets `bad`. */
struct test_msg {
	uint8_t b[1232];
	size_t len;
	bool bad;
};

static void msg_bytes(struct test_msg *m, const void *p, size_t n)
{
	if (n > sizeof(m->b) - m->len) {
		m->bad = true;
		return;
	}
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void msg_u8(struct test_msg *m, unsigned v)
{
	uint8_t x = (uint8_t)v;
	msg_bytes(m, &x, 1);
}

static void msg_u16(struct test_msg *m, unsigned v)
{
	msg_u8(m, v >> 8);
	msg_u8(m, v & 0xff);
}

static void msg_u32(struct test_msg *m, uint32_t v)
{
	msg_u16(m, v >> 16);
	msg_u16(m, v & 0xffff);
}

/* A dotted name as uncompressed labels; "" is the root. */
static void msg_name(struct test_msg *m, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t l = dot != NULL ? (size_t)(dot - name) : strlen(name);
		msg_u8(m, (unsigned)l);
		msg_bytes(m, name, l);
		name += l + (dot != NULL ? 1 : 0);
	}
	msg_u8(m, 0);
}

/* Start an RR owned by the question name (pointer to offset 12). Returns the
 * offset of RDLENGTH, for msg_rr_end. */
static size_t msg_rr_start(struct test_msg *m, unsigned type)
{
	size_t off;

	msg_u16(m, 0xc00c);
	msg_u16(m, type);
	msg_u16(m, 1);		/* IN */
	msg_u32(m, 300);
	off = m->len;
	msg_u16(m, 0);
	return off;
}

static void msg_rr_end(struct test_msg *m, size_t off)
{
	size_t rdlen = m->len - off - 2;

	if (m->bad)
		return;
	m->b[off] = (uint8_t)(rdlen >> 8);
	m->b[off + 1] = (uint8_t)rdlen;
}

static void msg_rr_addr(struct test_msg *m, int family, const char *text)
{
	uint8_t a[16];
	size_t off = msg_rr_start(m, family == AF_INET ? 1 : 28);

	if (inet_pton(family, text, a) != 1)
		m->bad = true;
	msg_bytes(m, a, family == AF_INET ? 4 : 16);
	msg_rr_end(m, off);
}

static void msg_rr_mx(struct test_msg *m, unsigned pref, const char *host)
{
	size_t off = msg_rr_start(m, 15);

	msg_u16(m, pref);
	msg_name(m, host);
	msg_rr_end(m, off);
}

/* RFC 2308 3: the SOA in the authority section of a negative answer */
static void msg_soa(struct test_msg *m)
{
	size_t off;

	msg_name(m, "example");
	msg_u16(m, 6);
	msg_u16(m, 1);
	msg_u32(m, 60);
	off = m->len;
	msg_u16(m, 0);
	msg_name(m, "ns.example");
	msg_name(m, "hostmaster.example");
	msg_u32(m, 1);
	msg_u32(m, 3600);
	msg_u32(m, 600);
	msg_u32(m, 86400);
	msg_u32(m, 60);
	msg_rr_end(m, off);
}

struct test_query {
	char name[256];		/* lowercase, dotted, no trailing dot */
	unsigned type;
	size_t end;		/* end of the question section */
};

static int test_parse_query(const uint8_t *p, size_t len, struct test_query *q)
{
	size_t i = 12, n = 0;

	if (len < 12 || (p[4] << 8 | p[5]) != 1)
		return -1;
	for (;;) {
		if (i >= len)
			return -1;
		size_t l = p[i++];
		if (l == 0)
			break;
		if (l > 63 || l > len - i || n + l + 1 >= sizeof(q->name))
			return -1;
		if (n > 0)
			q->name[n++] = '.';
		for (size_t k = 0; k < l; k++) {
			char c = (char)p[i + k];
			q->name[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		}
		i += l;
	}
	q->name[n] = '\0';
	if (len - i < 4)
		return -1;
	q->type = (unsigned)(p[i] << 8 | p[i + 1]);
	q->end = i + 4;
	return 0;
}

static void msg_header(struct test_msg *m, const uint8_t *query,
		       const struct test_query *q, unsigned rcode)
{
	msg_bytes(m, query, 2);				/* ID */
	msg_u8(m, 0x80 | (query[2] & 0x01));		/* QR, RD copied */
	msg_u8(m, 0x80 | rcode);			/* RA */
	msg_u16(m, 1);
	msg_u16(m, 0);		/* counts patched by test_set_counts */
	msg_u16(m, 0);
	msg_u16(m, 0);
	msg_bytes(m, query + 12, q->end - 12);
}

static void test_set_counts(struct test_msg *m, unsigned an, unsigned ns)
{
	m->b[6] = (uint8_t)(an >> 8);
	m->b[7] = (uint8_t)an;
	m->b[8] = (uint8_t)(ns >> 8);
	m->b[9] = (uint8_t)ns;
}

/* The canned zone. Returns the answer count, or -1 for "name unknown". */
static int test_zone_answer(struct test_msg *m, const struct test_query *q)
{
	const char *n = q->name;
	unsigned t = q->type;
	size_t off;

	if (strcmp(n, "a.example") == 0) {
		if (t != 1)
			return 0;
		msg_rr_addr(m, AF_INET, "192.0.2.1");
		msg_rr_addr(m, AF_INET, "192.0.2.2");
		return 2;
	}
	if (strcmp(n, "v6.example") == 0) {
		if (t != 28)
			return 0;
		msg_rr_addr(m, AF_INET6, "2001:db8::1");
		return 1;
	}
	if (strcmp(n, "mx.example") == 0) {
		if (t != 15)
			return 0;
		msg_rr_mx(m, 10, "mail.mx.example");
		msg_rr_mx(m, 20, "Backup.MX.Example");
		return 2;
	}
	if (strcmp(n, "null.example") == 0) {
		if (t != 15)
			return 0;
		msg_rr_mx(m, 0, "");
		return 1;
	}
	if (strcmp(n, "weird.example") == 0) {
		if (t != 15)
			return 0;
		/* one label holding a dot, a space and a control byte */
		off = msg_rr_start(m, 15);
		msg_u16(m, 5);
		msg_u8(m, 6);
		msg_bytes(m, "a.b c\x01", 6);
		msg_name(m, "example");
		msg_rr_end(m, off);
		return 1;
	}
	if (strcmp(n, "txt.example") == 0) {
		if (t != 16)
			return 0;
		off = msg_rr_start(m, 16);
		msg_u8(m, 7);
		msg_bytes(m, "v=spf1 ", 7);
		msg_u8(m, 4);
		msg_bytes(m, "-all", 4);
		msg_rr_end(m, off);
		off = msg_rr_start(m, 16);
		msg_u8(m, 3);
		msg_bytes(m, "a\0b", 3);
		msg_rr_end(m, off);
		return 2;
	}
	if (strcmp(n, "ptr.example") == 0) {
		if (t != 12)
			return 0;
		off = msg_rr_start(m, 12);
		msg_name(m, "Host.Example");
		msg_rr_end(m, off);
		return 1;
	}
	if (strcmp(n, "tlsa.example") == 0) {
		if (t != 52)
			return 0;
		off = msg_rr_start(m, 52);
		msg_bytes(m, "\x03\x01\x01\xab\xcd\xef", 6);
		msg_rr_end(m, off);
		return 1;
	}
	return -1;
}

struct test_server {
	int fd;
	struct event *ev;
	int port;
	int queries;
};

static void test_server_respond(struct test_server *s, const uint8_t *query,
				size_t len, struct test_msg *m)
{
	struct test_query q;
	int an;

	(void)s;
	if (test_parse_query(query, len, &q) < 0)
		return;
	if (strcmp(q.name, "fail.example") == 0 || strcmp(q.name, "refused.example") == 0) {
		msg_header(m, query, &q, q.name[0] == 'f' ? 2 : 5);
		return;
	}
	if (strcmp(q.name, "silent.example") == 0)
		return;
	msg_header(m, query, &q, 0);
	an = test_zone_answer(m, &q);
	if (an > 0) {
		test_set_counts(m, (unsigned)an, 0);
		return;
	}
	/* NODATA or NXDOMAIN, with the SOA of RFC 2308 */
	msg_soa(m);
	test_set_counts(m, 0, 1);
	if (an < 0)
		m->b[3] = (uint8_t)(0x80 | 3);
}

static void test_server_cb(evutil_socket_t fd, short what, void *arg)
{
	struct test_server *s = arg;
	uint8_t query[1500];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	struct test_msg m = { .len = 0 };
	ssize_t n;

	(void)what;
	n = recvfrom(fd, query, sizeof(query), 0, (struct sockaddr *)&from, &fromlen);
	if (n <= 0)
		return;
	s->queries++;
	test_server_respond(s, query, (size_t)n, &m);
	if (m.len > 0 && !m.bad)
		(void)sendto(fd, m.b, m.len, 0, (struct sockaddr *)&from, fromlen);
}

/* A UDP socket on 127.0.0.1 with a kernel-chosen port. */
static int test_udp_socket(int *port_r)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		close(fd);
		return -1;
	}
	*port_r = ntohs(sin.sin_port);
	return fd;
}

static int test_server_start(struct test_server *s, struct event_base *base)
{
	memset(s, 0, sizeof(*s));
	s->fd = test_udp_socket(&s->port);
	if (s->fd < 0)
		return -1;
	s->ev = event_new(base, s->fd, EV_READ | EV_PERSIST, test_server_cb, s);
	event_add(s->ev, NULL);
	return 0;
}

static void test_server_stop(struct test_server *s)
{
	event_free(s->ev);
	close(s->fd);
}

static struct dns_resolver *test_unbound(struct event_base *base, int port,
					 const char *ta_file, int timeout_ms)
{
	char server[64];
	const char *servers[1] = { server };
	char *error = NULL;
	struct dns_resolver *r;

	snprintf(server, sizeof(server), "127.0.0.1@%d", port);
	r = dns_unbound_create(base, servers, 1, ta_file, timeout_ms, &error);
	if (r == NULL) {
		fprintf(stderr, "  dns_unbound_create: %s\n", error);
		free(error);
	}
	return r;
}

/* ---- unbound backend ----------------------------------------------------- */

struct ub_case {
	const char *name;
	enum dns_type type;
	int status;
	bool nxdomain;
	const char *rec0, *rec1;	/* expected records (NULL: don't care) */
	const char *error;		/* expected TEMPFAIL reason */
};

static const struct ub_case ub_cases[] = {
	{ "a.example", DNS_A, DNS_FOUND, false, "192.0.2.1", "192.0.2.2", NULL },
	{ "A.EXAMPLE.", DNS_A, DNS_FOUND, false, "192.0.2.2", "192.0.2.1", NULL },
	{ "v6.example", DNS_AAAA, DNS_FOUND, false, "2001:db8::1", NULL, NULL },
	{ "mx.example", DNS_MX, DNS_FOUND, false, "10 mail.mx.example", "20 backup.mx.example", NULL },
	{ "null.example", DNS_MX, DNS_FOUND, false, "0 .", NULL, NULL },
	{ "weird.example", DNS_MX, DNS_FOUND, false, "5 a\\046b\\032c\\001.example", NULL, NULL },
	{ "txt.example", DNS_TXT, DNS_FOUND, false, "v=spf1 -all", "a\x7f" "b", NULL },
	{ "ptr.example", DNS_PTR, DNS_FOUND, false, "host.example", NULL, NULL },
	{ "tlsa.example", DNS_TLSA, DNS_FOUND, false, "3 1 1 abcdef", NULL, NULL },
	{ "a.example", DNS_MX, DNS_NOTFOUND, false, NULL, NULL, NULL },	/* NODATA */
	{ "nx.example", DNS_A, DNS_NOTFOUND, true, NULL, NULL, NULL },
	{ "nx.example", DNS_MX, DNS_NOTFOUND, true, NULL, NULL, NULL },
	{ "fail.example", DNS_A, DNS_TEMPFAIL, false, NULL, NULL, "server failure" },
	{ "refused.example", DNS_A, DNS_TEMPFAIL, false, NULL, NULL, NULL },
	/* a name that cannot be encoded cannot exist */
	{ "a..example", DNS_A, DNS_NOTFOUND, true, NULL, NULL, NULL },
	{ "x0123456789012345678901234567890123456789012345678901234567890123.example",
	  DNS_A, DNS_NOTFOUND, true, NULL, NULL, NULL },
};

static bool test_has_record(const struct test_result *r, const char *rec)
{
	for (size_t i = 0; i < r->count && i < TEST_MAX_RECORDS; i++) {
		if (strcmp(r->records[i], rec) == 0)
			return true;
	}
	return false;
}

static void test_check_ub_case(const struct ub_case *c, const struct test_result *r)
{
	bool ok = r->calls == 1 && (int)r->status == c->status &&
		r->nxdomain == c->nxdomain && !r->secure;

	/* an RRset has no order (unbound rotates it) */
	if (ok && c->rec0 != NULL)
		ok = test_has_record(r, c->rec0);
	if (ok && c->rec1 != NULL)
		ok = test_has_record(r, c->rec1);
	if (ok)
		ok = r->count == (c->rec1 != NULL ? 2u : c->rec0 != NULL ? 1u : 0u);
	if (ok && c->error != NULL)
		ok = strcmp(r->error, c->error) == 0;
	if (!ok) {
		fprintf(stderr, "  %s %s: calls=%d status=%d nxdomain=%d count=%zu "
			"rec0=%s error=%s\n", c->name, dns_type_name(c->type), r->calls,
			(int)r->status, r->nxdomain, r->count,
			r->count > 0 ? r->records[0] : "-", r->error);
		CHECK(ok);
	}
}

TEST(dns_unbound_answers)
{
	enum { N = sizeof(ub_cases) / sizeof(ub_cases[0]) };
	struct event_base *base = event_base_new();
	struct test_server srv;
	struct dns_resolver *r;
	int done = 0;
	struct test_result *res = test_results(N, &done);

	REQUIRE(test_server_start(&srv, base) == 0);
	r = test_unbound(base, srv.port, NULL, 3000);
	REQUIRE(r != NULL);
	/* all in flight at once */
	for (size_t i = 0; i < N; i++)
		dns_lookup(r, ub_cases[i].name, ub_cases[i].type, test_result_cb, &res[i]);
	CHECK_INTEQ(done, 0);
	CHECK(test_run(base, &done, N, 10000));
	for (size_t i = 0; i < N; i++)
		test_check_ub_case(&ub_cases[i], &res[i]);
	CHECK(srv.queries > 0);
	test_results_free(res, N);
	dns_resolver_destroy(&r);
	test_server_stop(&srv);
	event_base_free(base);
}

static int64_t test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A server that never answers: the query must end at the timeout, as
 * TEMPFAIL, not hang and not be "not found". */
TEST(dns_unbound_timeout)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r;
	int port, fd = test_udp_socket(&port), done = 0;
	struct test_result res[2] = { { .done = &done }, { .done = &done } };
	int64_t start;

	REQUIRE(fd >= 0);
	r = test_unbound(base, port, NULL, 300);
	REQUIRE(r != NULL);
	start = test_now_ms();
	dns_lookup(r, "a.example", DNS_A, test_result_cb, &res[0]);
	dns_lookup(r, "a.example", DNS_MX, test_result_cb, &res[1]);
	REQUIRE(test_run(base, &done, 2, 5000));
	CHECK(test_now_ms() - start >= 250);
	CHECK(test_now_ms() - start < 3000);
	for (int i = 0; i < 2; i++) {
		CHECK_INTEQ(res[i].status, DNS_TEMPFAIL);
		CHECK_STREQ(res[i].error, "timeout");
		CHECK_INTEQ(res[i].calls, 1);
	}
	/* a late answer after the timeout must not call back again */
	CHECK(!test_run(base, &done, 3, 200));
	dns_resolver_destroy(&r);
	close(fd);
	event_base_free(base);
}

TEST(dns_unbound_cancel_and_destroy)
{
	struct event_base *base = event_base_new();
	struct test_server srv;
	struct dns_resolver *r;
	int done = 0;
	struct test_result res[3] = { { .done = &done }, { .done = &done }, { .done = &done } };
	struct dns_query *q;

	REQUIRE(test_server_start(&srv, base) == 0);
	r = test_unbound(base, srv.port, NULL, 2000);
	REQUIRE(r != NULL);
	q = dns_lookup(r, "a.example", DNS_A, test_result_cb, &res[0]);
	dns_lookup(r, "mx.example", DNS_MX, test_result_cb, &res[1]);
	dns_cancel(&q);
	CHECK(q == NULL);
	REQUIRE(test_run(base, &done, 1, 5000));
	CHECK(!test_run(base, &done, 2, 200));
	CHECK_INTEQ(res[0].calls, 0);
	CHECK_INTEQ(res[1].calls, 1);
	CHECK_INTEQ(res[1].status, DNS_FOUND);

	/* destroy with a query pending: no callback, no leak */
	dns_lookup(r, "silent.example", DNS_A, test_result_cb, &res[2]);
	(void)test_run(base, &done, 2, 50);
	dns_resolver_destroy(&r);
	CHECK(!test_run(base, &done, 2, 100));
	CHECK_INTEQ(res[2].calls, 0);
	for (int i = 0; i < 3; i++)
		test_result_free(&res[i]);
	test_server_stop(&srv);
	event_base_free(base);
}

static void test_exists_count_cb(void *ctx, enum dns_status st)
{
	struct test_exists *e = ctx;

	e->calls++;
	e->done++;
	e->st = st;
}

TEST(dns_unbound_domain_exists)
{
	static const struct exists_case cases[] = {
		{ "mx.example", DNS_FOUND },
		{ "null.example", DNS_NOTFOUND },
		{ "a.example", DNS_FOUND },
		{ "v6.example", DNS_FOUND },
		{ "nx.example", DNS_NOTFOUND },
		{ "txt.example", DNS_NOTFOUND },
		{ "fail.example", DNS_TEMPFAIL },
	};
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	struct event_base *base = event_base_new();
	struct test_server srv;
	struct dns_resolver *r;
	struct test_exists e[N];
	int done = 0;

	REQUIRE(test_server_start(&srv, base) == 0);
	r = test_unbound(base, srv.port, NULL, 3000);
	REQUIRE(r != NULL);
	memset(e, 0, sizeof(e));
	for (size_t i = 0; i < N; i++)
		e[i].q = dns_domain_exists(r, cases[i].domain, test_exists_count_cb, &e[i]);
	/* each e[i].done counts separately; wait on the sum */
	for (int64_t end = test_now_ms() + 10000; test_now_ms() < end;) {
		done = 0;
		for (size_t i = 0; i < N; i++)
			done += e[i].calls;
		if (done == N)
			break;
		(void)test_run(base, &done, N + 1, 20);
	}
	for (size_t i = 0; i < N; i++) {
		if (e[i].calls != 1 || (int)e[i].st != cases[i].status)
			fprintf(stderr, "  case %s: calls=%d st=%d\n", cases[i].domain,
				e[i].calls, (int)e[i].st);
		CHECK_INTEQ(e[i].calls, 1);
		CHECK_INTEQ(e[i].st, cases[i].status);
	}
	dns_resolver_destroy(&r);
	test_server_stop(&srv);
	event_base_free(base);
}

static bool test_contains(const char *s, const char *part)
{
	return s != NULL && strstr(s, part) != NULL;
}

/* RFC 4509 / RFC 4034 5.3 shape: "owner IN DS keytag alg digesttype hex" */
#define TEST_DS_TA "example. IN DS 12345 8 2 " \
	"0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"

static char *test_write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
	return path;
}

TEST(dns_unbound_create_errors)
{
	struct event_base *base = event_base_new();
	const char *dir = test_tmpdir();
	const char *bad_servers[] = { "not-an-address" };
	char *error = NULL, *garbage = test_write_file(dir, "garbage.key", "this is not a key\n");
	char *good = test_write_file(dir, "good.key", TEST_DS_TA);
	struct dns_resolver *r;

	r = dns_unbound_create(base, bad_servers, 1, NULL, 1000, &error);
	CHECK(r == NULL);
	CHECK(test_contains(error, "not-an-address"));
	xfree(&error);

	r = dns_unbound_create(base, NULL, 0, "/nonexistent/root.key", 1000, &error);
	CHECK(r == NULL);
	CHECK(test_contains(error, "/nonexistent/root.key"));
	xfree(&error);

	/* a bad anchor fails now, not at the first query */
	fprintf(stderr, "  (unbound complaining about garbage.key below is expected)\n");
	r = dns_unbound_create(base, NULL, 0, garbage, 1000, &error);
	CHECK(r == NULL);
	CHECK(test_contains(error, "garbage.key"));
	xfree(&error);

	r = dns_unbound_create(base, NULL, 0, NULL, 0, &error);
	CHECK(r == NULL);
	xfree(&error);

	/* system resolvers from /etc/resolv.conf, with a valid anchor */
	if (access("/etc/resolv.conf", R_OK) == 0) {
		r = dns_unbound_create(base, NULL, 0, good, 1000, &error);
		CHECK(r != NULL);
		if (r == NULL)
			fprintf(stderr, "  %s\n", error);
		xfree(&error);
		dns_resolver_destroy(&r);
	}
	free(garbage);
	free(good);
	event_base_free(base);
}

/* The child of dns_unbound_after_chroot: returns its exit code. */
static int test_chroot_child(const char *dir)
{
	struct event_base *base = event_base_new();
	struct test_server srv;
	struct dns_resolver *validating, *plain;
	int done = 0;
	struct test_result res[2] = { { .done = &done }, { .done = &done } };
	char *ta = test_write_file(dir, "anchor.key", TEST_DS_TA);
	char *jail = xasprintf("%s/jail", dir);

	if (test_server_start(&srv, base) < 0 || mkdir(jail, 0700) < 0)
		return 2;
	validating = test_unbound(base, srv.port, ta, 2000);
	plain = test_unbound(base, srv.port, NULL, 2000);
	if (validating == NULL || plain == NULL)
		return 3;
	if (chroot(jail) < 0 || chdir("/") < 0)
		return 77;	/* not allowed here: skip */
	/* nothing of the old filesystem is visible any more */
	dns_lookup(validating, "a.example", DNS_A, test_result_cb, &res[0]);
	dns_lookup(plain, "a.example", DNS_A, test_result_cb, &res[1]);
	if (!test_run(base, &done, 2, 8000))
		return 4;
	/* the anchor for example. was loaded before chroot: our unsigned
	 * zone must fail validation, not pass as insecure */
	if (res[0].status != DNS_TEMPFAIL ||
	    strcmp(res[0].error, "DNSSEC validation failed") != 0) {
		fprintf(stderr, "  validating: status=%d error=%s\n", res[0].status, res[0].error);
		return 5;
	}
	if (res[1].status != DNS_FOUND || !test_has_record(&res[1], "192.0.2.1")) {
		fprintf(stderr, "  plain: status=%d error=%s\n", res[1].status, res[1].error);
		return 6;
	}
	dns_resolver_destroy(&validating);
	dns_resolver_destroy(&plain);
	return 0;
}

TEST(dns_unbound_after_chroot)
{
	const char *dir = test_tmpdir();
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		alarm(20);	/* hard limit for the child */
		_exit(test_chroot_child(dir));
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		fprintf(stderr, "  (chroot not permitted: test skipped)\n");
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "  child status 0x%x\n", status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
