#ifndef YOUJU_DNS_H
#define YOUJU_DNS_H
/*
 * The resolver interface: asynchronous DNS lookups on a libevent loop, with
 * two backends behind it (libunbound for the daemon, a table-driven mock for
 * tests). SPF, DKIM, DMARC and the SMTP client take a struct dns_resolver *
 * and never know which backend answers.
 *
 * Every lookup has three outcomes (DESIGN.md 4):
 *   DNS_FOUND     records of the asked type exist;
 *   DNS_NOTFOUND  the name does not exist (NXDOMAIN) or has no records of
 *                 that type (NODATA) -- the DNS said so;
 *   DNS_TEMPFAIL  no usable answer: SERVFAIL, REFUSED, timeout, network
 *                 error, DNSSEC validation failure, malformed answer.
 * A temporary failure is never reported as DNS_NOTFOUND.
 *
 * Callback contract (both backends, and the helpers below):
 * - the callback runs from the event loop, never from inside dns_lookup, and
 *   exactly once per query unless the query is cancelled;
 * - the answer and its strings are valid only during the call (copy them);
 * - the query handle is invalid from the moment its callback starts;
 *   dns_cancel() on it from inside that callback is a harmless no-op, so a
 *   callback may tear down the owner that holds the handle;
 * - dns_cancel() before the callback: the callback is never called.
 *
 * Names are in presentation format (RFC 1035 5.1; "\DDD" escapes allowed),
 * a trailing dot optional. A name the backend cannot even encode gives
 * DNS_NOTFOUND with nxdomain set: it cannot exist in the DNS.
 *
 * Everything runs on the thread of the event loop; nothing here is
 * thread-safe.
 */
#include <stdbool.h>
#include <stddef.h>

struct event_base;

enum dns_status { DNS_TEMPFAIL = -1, DNS_NOTFOUND = 0, DNS_FOUND = 1 };

/* RR types in host order (RFC 1035 3.2.2, RFC 3596, RFC 6698) */
enum dns_type {
	DNS_A = 1,
	DNS_PTR = 12,
	DNS_MX = 15,
	DNS_TXT = 16,
	DNS_AAAA = 28,
	DNS_TLSA = 52,
};

/*
 * records[i] per type, one string per resource record. Their order means
 * nothing (RFC 2181 5: an RRset is a set; unbound rotates it), so callers
 * sort MX by preference themselves:
 *   A, AAAA  address text (inet_ntop: "192.0.2.1", "2001:db8::1");
 *   MX       "PREF HOST", PREF decimal, HOST lowercase without trailing dot;
 *            the root (null MX target, RFC 7505) is "." -> "0 .";
 *   TXT      the record's character-strings concatenated, nothing between
 *            them (RFC 7208 3.3, RFC 6376 3.6.2.2); a NUL byte inside is
 *            replaced by 0x7f, so the record keeps its full length and any
 *            record parser rejects it rather than reading a cut-short prefix;
 *   PTR      the name, lowercase, without trailing dot;
 *   TLSA     "USAGE SELECTOR MTYPE HEX" (RFC 6698 2.2), hex lowercase.
 * Names (MX, PTR) escape every octet other than a letter, digit, '-' or '_'
 * as \DDD (RFC 1035 5.1), so a label cannot smuggle a dot, a space or a
 * control character; such text still resolves when passed back to
 * dns_lookup.
 */
struct dns_answer {
	enum dns_status status;
	bool nxdomain;		/* NOTFOUND: the name does not exist (vs. exists
				   without records of this type) */
	bool secure;		/* DNSSEC-validated (RFC 4035 4.3 "secure") */
	size_t count;		/* FOUND: >= 1; otherwise 0 */
	char **records;
	const char *error;	/* TEMPFAIL: a short reason for logs */
};

typedef void dns_callback(void *ctx, const struct dns_answer *ans);

struct dns_resolver;	/* vtable-backed: unbound or mock */
struct dns_query;	/* handle for cancellation */

/* Start a lookup. Never returns NULL: every failure, even immediate, is
 * delivered through the callback. type must be one of enum dns_type. */
struct dns_query *dns_lookup(struct dns_resolver *r, const char *name,
			     enum dns_type type, dns_callback *cb, void *ctx);
/* Cancel *q if it is still pending (its callback will not be called) and set
 * *q = NULL. NULL *q is fine. */
void dns_cancel(struct dns_query **q);
/* Pending queries are dropped without callbacks; every handle still held
 * becomes invalid. Must not be called from inside a dns callback. Sets
 * *r = NULL; NULL *r is fine. */
void dns_resolver_destroy(struct dns_resolver **r);

/*
 * libunbound backend. The unbound worker is a thread of this process; its
 * results come back through ub_fd(), watched by libevent on base while any
 * query is pending.
 *
 * servers: "IP" or "IP@port" to forward to (nservers of them). None (NULL or
 * nservers == 0): the nameservers of /etc/resolv.conf (none listed: 127.0.0.1,
 * resolv.conf(5)) plus the names in /etc/hosts. Loopback forwarders are
 * allowed (a local unbound, systemd-resolved on 127.0.0.53).
 *
 * timeout_ms (> 0) bounds every query; when it fires the query reports
 * DNS_TEMPFAIL "timeout".
 *
 * trust_anchor_file: DNSSEC validation with the anchors in that file (Debian:
 * /usr/share/dns/root.key from dns-root-data). Answers that fail validation
 * are DNS_TEMPFAIL; validated ones have secure = true. Validation through a
 * forwarder needs one that returns DNSSEC records. NULL: no validation,
 * secure is always false.
 *
 * Every file is read and the whole configuration checked here, so this can
 * be called before chroot() and the resolver keeps working after it.
 * Returns NULL with an allocated message in *error_r (the caller frees it)
 * when a server address, a file or the configuration is bad.
 */
struct dns_resolver *dns_unbound_create(struct event_base *base,
					const char *const *servers, size_t nservers,
					const char *trust_anchor_file, int timeout_ms,
					char **error_r);

/*
 * Mock backend for tests: answers from a table, on the next loop iteration
 * (a zero timer per query), so callers run the same asynchronous paths as
 * with the real backend. For a lookup of (name, type), names compared
 * without case and trailing dot, the first rule that applies:
 *   tempfail set for the name and this type, or any type -> DNS_TEMPFAIL;
 *   nxdomain set for the name                           -> NOTFOUND, nxdomain;
 *   records added for (name, type)                      -> FOUND, in order;
 *   records added for the name with another type        -> NOTFOUND (NODATA);
 *   otherwise                                           -> NOTFOUND, nxdomain.
 * The table may change while queries are pending; the answer is computed
 * when it is delivered. secure is always false.
 */
struct dns_resolver *dns_mock_create(struct event_base *base);
void dns_mock_add(struct dns_resolver *r, const char *name, enum dns_type type,
		  const char *record);
void dns_mock_set_nxdomain(struct dns_resolver *r, const char *name);
void dns_mock_set_tempfail(struct dns_resolver *r, const char *name);	/* any type */
void dns_mock_set_tempfail_type(struct dns_resolver *r, const char *name,
				enum dns_type type);
/* Queries started and neither answered nor cancelled yet. */
size_t dns_mock_pending(const struct dns_resolver *r);

/* ---- helpers built only on the interface (work with either backend) ---- */

/*
 * Does the domain exist for mail purposes? (RFC 5321 5.1; Postfix
 * reject_unknown_sender_domain.) MX, A and AAAA are asked in parallel:
 *   an MX with a usable host                 -> DNS_FOUND;
 *   MX records, all with the root as host    -> DNS_NOTFOUND (null MX,
 *                                               RFC 7505: no mail at all,
 *                                               A/AAAA do not matter);
 *   no MX answer (NOTFOUND or TEMPFAIL) but an A or AAAA record
 *                                            -> DNS_FOUND (implicit MX);
 *   nothing found, some answer TEMPFAIL      -> DNS_TEMPFAIL;
 *   nothing found                            -> DNS_NOTFOUND.
 * Answers nobody needs any more are cancelled as soon as the outcome is
 * known. The returned handle cancels all sub-queries via dns_cancel; the
 * callback follows the same contract as a dns_lookup callback.
 */
struct dns_query *dns_domain_exists(struct dns_resolver *r, const char *domain,
				    void (*cb)(void *ctx, enum dns_status st),
				    void *ctx);

/* Split an MX record string "PREF HOST". Returns 0 with *host_r pointing into
 * record, or -1 if it is not of that form. */
int dns_mx_parse(const char *record, unsigned *pref_r, const char **host_r);
/* "A", "MX", ... for logs; NULL for a value outside enum dns_type. */
const char *dns_type_name(enum dns_type type);
/* "found", "not found", "temporary failure" for logs. */
const char *dns_status_name(enum dns_status st);

#endif
