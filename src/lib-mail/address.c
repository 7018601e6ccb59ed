/* Mailbox and path parser (RFC 5321 4.1.2, 4.1.3, 4.5.3.1; RFC 6531 3.3). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "buf.h"
#include "xalloc.h"

#define ADDR_LABEL_MAX 63	/* RFC 1035 2.3.4 */
#define ADDR_HOSTNAME_MAX 253	/* RFC 1035 2.3.4: 255 octets on the wire */

struct addr_cursor {
	const unsigned char *p;
	size_t len;
	size_t pos;
	unsigned flags;
};

/* Where the parts of a scanned mailbox sit in the input. */
struct addr_parts {
	size_t local_off, local_len;
	size_t domain_off, domain_len;
	bool quoted;
	bool postmaster;
};

static int addr_peek(const struct addr_cursor *c)
{
	return c->pos < c->len ? c->p[c->pos] : -1;
}

static bool addr_eat(struct addr_cursor *c, char ch)
{
	if (addr_peek(c) != (unsigned char)ch)
		return false;
	c->pos++;
	return true;
}

static bool addr_at_end(const struct addr_cursor *c)
{
	return c->pos == c->len || c->p[c->pos] == '>';
}

static bool addr_is_alnum(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9');
}

/* RFC 5322 3.2.3 atext, ASCII part. */
static bool addr_is_atext(int ch)
{
	return addr_is_alnum(ch) ||
	       (ch > 0 && ch < 0x80 && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 4), or 0: refuses
 * overlongs, surrogates and anything above U+10FFFF. */
static size_t addr_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f;	/* U+D800..U+DFFF */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;	/* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else {
		return 0;
	}
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Step over one UTF-8 character at the cursor, if SMTPUTF8 allows it. */
static bool addr_eat_utf8(struct addr_cursor *c)
{
	if ((c->flags & ADDR_SMTPUTF8) == 0 || c->pos >= c->len)
		return false;
	size_t n = addr_utf8_len(c->p + c->pos, c->len - c->pos);
	c->pos += n;
	return n > 0;
}

/* Explain the byte that stopped a scan: control and 8-bit bytes get their
 * own message, anything else the caller's. */
static const char *addr_char_error(const struct addr_cursor *c, const char *fallback)
{
	int ch = addr_peek(c);

	if (ch < 0)
		return fallback;
	if (ch < 0x20 || ch == 0x7f)
		return "control character in address";
	if (ch >= 0x80)
		return (c->flags & ADDR_SMTPUTF8) ? "invalid UTF-8 in address" :
		       "non-ASCII character without SMTPUTF8";
	return fallback;
}

/* Length of the label starting at pos, or 0 if it is not a valid label
 * (RFC 1123 2.1: letters, digits, '-' not at either end, 1..63 octets;
 * RFC 6531 3.3: UTF-8 in U-labels). */
static size_t addr_label_len(slice_t d, size_t pos, unsigned flags, bool *numeric_r)
{
	const unsigned char *p = (const unsigned char *)d.ptr;
	size_t start = pos;
	bool numeric = true;

	while (pos < d.len && p[pos] != '.') {
		if (p[pos] >= 0x80) {
			size_t n = (flags & ADDR_SMTPUTF8) ?
				   addr_utf8_len(p + pos, d.len - pos) : 0;
			if (n == 0)
				return 0;
			pos += n;
			numeric = false;
			continue;
		}
		if (!addr_is_alnum(p[pos]) && p[pos] != '-')
			return 0;
		if (p[pos] < '0' || p[pos] > '9')
			numeric = false;
		pos++;
	}
	size_t n = pos - start;
	if (n == 0 || n > ADDR_LABEL_MAX || p[start] == '-' || p[pos - 1] == '-')
		return 0;
	*numeric_r = numeric;
	return n;
}

/* Hostname syntax; the last label may not be all digits (RFC 3696 2). */
static bool addr_hostname_valid(slice_t d, unsigned flags)
{
	size_t pos = 0;
	bool numeric = false;

	if (d.len == 0 || d.len > ADDR_HOSTNAME_MAX)
		return false;
	for (;;) {
		size_t n = addr_label_len(d, pos, flags, &numeric);
		if (n == 0)
			return false;
		pos += n;
		if (pos == d.len)
			return !numeric;
		pos++;	/* the '.' that ended the label */
	}
}

bool domain_is_valid(const char *domain, unsigned flags)
{
	return domain != NULL && addr_hostname_valid(slice_cstr(domain), flags);
}

/* RFC 5321 4.1.3: "[" IPv4 "]" or "[IPv6:" IPv6 "]". General-address-literal
 * needs an IANA-registered tag and none exists, so it is refused. */
static bool addr_literal_valid(slice_t lit)
{
	char text[64];
	unsigned char bin[16];
	int af = AF_INET;

	if (slice_starts_with_ci(lit, "IPv6:")) {
		af = AF_INET6;
		lit = slice_sub(lit, 5, lit.len - 5);
	}
	if (lit.len == 0 || lit.len >= sizeof(text))
		return false;
	memcpy(text, lit.ptr, lit.len);
	text[lit.len] = '\0';
	return inet_pton(af, text, bin) == 1;
}

static const char *addr_scan_literal(struct addr_cursor *c)
{
	size_t start = ++c->pos;

	/* dcontent = %d33-90 / %d94-126 */
	while (c->pos < c->len && c->p[c->pos] != ']') {
		int ch = c->p[c->pos];
		if (ch < 33 || ch > 126 || ch == '[' || ch == '\\')
			return addr_char_error(c, "invalid address literal");
		c->pos++;
	}
	if (!addr_eat(c, ']'))
		return "unterminated address literal";
	if (!addr_literal_valid(slice_make(c->p + start, c->pos - 1 - start)))
		return "invalid address literal";
	return NULL;
}

static const char *addr_scan_hostname(struct addr_cursor *c)
{
	size_t start = c->pos;

	for (;;) {
		int ch = addr_peek(c);
		if (addr_is_alnum(ch) || ch == '-' || ch == '.')
			c->pos++;
		else if (ch < 0x80 || !addr_eat_utf8(c))
			break;
	}
	slice_t d = slice_make(c->p + start, c->pos - start);
	if (d.len == 0)
		return addr_char_error(c, "missing domain");
	if (d.len > ADDR_DOMAIN_MAX)
		return "domain too long";
	if (!addr_hostname_valid(d, c->flags))
		return "invalid domain";
	return NULL;
}

/* Domain / address-literal; source routes allow only Domain. */
static const char *addr_scan_domain(struct addr_cursor *c, struct addr_parts *pp,
				    bool allow_literal)
{
	const char *err;

	pp->domain_off = c->pos;
	if (addr_peek(c) == '[')
		err = allow_literal ? addr_scan_literal(c) :
		      "address literal in source route";
	else
		err = addr_scan_hostname(c);
	pp->domain_len = c->pos - pp->domain_off;
	return err;
}

static size_t addr_scan_atom(struct addr_cursor *c)
{
	size_t start = c->pos;

	for (;;) {
		int ch = addr_peek(c);
		if (addr_is_atext(ch))
			c->pos++;
		else if (ch < 0x80 || !addr_eat_utf8(c))
			break;
	}
	return c->pos - start;
}

/* Dot-string = Atom *("." Atom): no empty atoms, so no leading, trailing or
 * doubled dots. */
static const char *addr_scan_dot_string(struct addr_cursor *c)
{
	size_t start = c->pos;

	do {
		if (addr_scan_atom(c) > 0)
			continue;
		int ch = addr_peek(c);
		if (ch >= 0 && (ch < 0x20 || ch >= 0x7f))
			return addr_char_error(c, NULL);
		if (ch == '.' || c->pos > start)
			return "misplaced '.' in local part";
		if (ch == '@')
			return "empty local part";
		return addr_at_end(c) ? "missing local part" :
		       "invalid character in local part";
	} while (addr_eat(c, '.'));
	return NULL;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE; qtextSMTP = %d32-33 /
 * %d35-91 / %d93-126, quoted-pairSMTP = "\" %d32-126 (RFC 5321 4.1.2), plus
 * UTF-8 in qtext (RFC 6531 3.3). */
static const char *addr_scan_quoted(struct addr_cursor *c)
{
	c->pos++;
	for (;;) {
		int ch = addr_peek(c);
		if (ch == '"') {
			c->pos++;
			return NULL;
		}
		if (ch == '\\') {
			c->pos++;
			ch = addr_peek(c);
			if (ch >= 0x80)
				return "invalid quoted-pair";
			if (ch < 32 || ch > 126)
				return addr_char_error(c, "unterminated quoted string");
			c->pos++;
		} else if (ch >= 32 && ch <= 126) {
			c->pos++;
		} else if (ch < 0x80 || !addr_eat_utf8(c)) {
			return addr_char_error(c, "unterminated quoted string");
		}
	}
}

static const char *addr_scan_local(struct addr_cursor *c, struct addr_parts *pp)
{
	const char *err;

	pp->local_off = c->pos;
	pp->quoted = addr_peek(c) == '"';
	err = pp->quoted ? addr_scan_quoted(c) : addr_scan_dot_string(c);
	if (err != NULL)
		return err;
	pp->local_len = c->pos - pp->local_off;
	return pp->local_len > ADDR_LOCAL_MAX ? "local part too long" : NULL;
}

/* RFC 5321 4.5.1: "Postmaster" without a domain must be accepted as a
 * recipient; the caller decides with ADDR_ALLOW_POSTMASTER. */
static bool addr_is_bare_postmaster(const struct addr_cursor *c,
				    const struct addr_parts *pp)
{
	return (c->flags & ADDR_ALLOW_POSTMASTER) != 0 && !pp->quoted &&
	       addr_at_end(c) && pp->local_len == 10 &&
	       strncasecmp((const char *)c->p + pp->local_off, "postmaster", 10) == 0;
}

/* Mailbox = Local-part "@" ( Domain / address-literal ) */
static const char *addr_scan_mailbox(struct addr_cursor *c, struct addr_parts *pp)
{
	const char *err = addr_scan_local(c, pp);

	if (err != NULL)
		return err;
	if (addr_eat(c, '@'))
		return addr_scan_domain(c, pp, true);
	if (addr_is_bare_postmaster(c, pp)) {
		pp->postmaster = true;
		return NULL;
	}
	if (addr_at_end(c))
		return "missing '@' in address";
	return addr_char_error(c, "invalid character in local part");
}

/* What stopped us after a complete mailbox. */
static const char *addr_trailer_error(const struct addr_cursor *c, const char *at_end)
{
	int ch = addr_peek(c);

	if (ch < 0)
		return at_end;
	if (ch == '@')
		return "more than one '@' in address";
	return addr_char_error(c, "invalid character in domain");
}

/* A-d-l ":" (RFC 5321 4.1.2): validated, then ignored (Appendix C). */
static const char *addr_skip_route(struct addr_cursor *c)
{
	struct addr_parts route;
	const char *err;

	do {
		if (!addr_eat(c, '@'))
			return addr_char_error(c, "invalid source route");
		if ((err = addr_scan_domain(c, &route, false)) != NULL)
			return err;
	} while (addr_eat(c, ','));
	return addr_eat(c, ':') ? NULL : addr_char_error(c, "invalid source route");
}

/* Path = "<" [ A-d-l ":" ] Mailbox ">", Reverse-path = Path / "<>" */
static const char *addr_scan_path(struct addr_cursor *c, struct addr_parts *pp)
{
	const char *err;

	if (!addr_eat(c, '<'))
		return "path does not start with '<'";
	if (addr_eat(c, '>'))
		return (c->flags & ADDR_ALLOW_NULL) ? NULL : "null path not allowed";
	if (addr_peek(c) == '@' && (err = addr_skip_route(c)) != NULL)
		return err;
	if ((err = addr_scan_mailbox(c, pp)) != NULL)
		return err;
	return addr_eat(c, '>') ? NULL : addr_trailer_error(c, "missing '>'");
}

/* The local part without quotes and quoted-pair backslashes. */
static char *addr_unquote(const unsigned char *p, size_t len, bool quoted)
{
	if (!quoted)
		return xstrndup((const char *)p, len);
	char *s = xmalloc(len), *o = s;
	for (size_t i = 1; i + 1 < len; i++) {
		if (p[i] == '\\')
			i++;
		*o++ = (char)p[i];
	}
	*o = '\0';
	return s;
}

static char *addr_lower_dup(const unsigned char *p, size_t len)
{
	char *s = xmalloc(len + 1);

	for (size_t i = 0; i < len; i++)
		s[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] + 32) : (char)p[i];
	s[len] = '\0';
	return s;
}

static void addr_build(const struct addr_cursor *c, const struct addr_parts *pp,
		       struct mail_address *out)
{
	out->local = pp->postmaster ? xstrdup("postmaster") :
		     addr_unquote(c->p + pp->local_off, pp->local_len, pp->quoted);
	out->domain = addr_lower_dup(c->p + pp->domain_off, pp->domain_len);
}

ssize_t address_parse_path(const char *in, size_t len, unsigned flags,
			   struct mail_address *out, const char **error_r)
{
	struct addr_cursor c = { (const unsigned char *)in, len, 0, flags };
	struct addr_parts pp = { 0 };
	const char *err = addr_scan_path(&c, &pp);

	out->local = out->domain = NULL;
	if (err == NULL && c.pos > ADDR_PATH_MAX)
		err = "path too long";
	if (err != NULL) {
		*error_r = err;
		return -1;
	}
	addr_build(&c, &pp, out);
	return (ssize_t)c.pos;
}

int address_parse(const char *s, unsigned flags, struct mail_address *out,
		  const char **error_r)
{
	size_t len = strlen(s);
	struct addr_cursor c = { (const unsigned char *)s, len, 0, flags };
	struct addr_parts pp = { 0 };
	const char *err = NULL;

	out->local = out->domain = NULL;
	if (len == 0) {
		if ((flags & ADDR_ALLOW_NULL) == 0)
			err = "empty address";
	} else if ((err = addr_scan_mailbox(&c, &pp)) == NULL && c.pos != len) {
		err = addr_trailer_error(&c, NULL);
	}
	/* it must fit in "<" address ">" (RFC 5321 4.5.3.1.3) */
	if (err == NULL && len > ADDR_PATH_MAX - 2)
		err = "address too long";
	if (err != NULL) {
		*error_r = err;
		return -1;
	}
	addr_build(&c, &pp, out);
	return 0;
}

void mail_address_free(struct mail_address *a)
{
	xfree(&a->local);
	xfree(&a->domain);
}

/* Dot-string as RFC 5321 4.1.2 / RFC 6531 3.3 define it; bytes >= 0x80 count
 * as atext since only SMTPUTF8 parsing lets them in. */
static bool addr_is_dot_atom(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (p[0] == '\0' || p[0] == '.')
		return false;
	for (; *p != '\0'; p++) {
		if (*p == '.') {
			if (p[1] == '.' || p[1] == '\0')
				return false;
		} else if (*p < 0x80 && !addr_is_atext(*p)) {
			return false;
		}
	}
	return true;
}

char *mail_address_to_string(const struct mail_address *a)
{
	size_t llen = strlen(a->local), dlen = strlen(a->domain);
	bool null_path = llen == 0 && dlen == 0;
	bool quote = !null_path && !addr_is_dot_atom(a->local);
	char *s = xmalloc(2 * llen + dlen + 4), *o = s;

	if (quote)
		*o++ = '"';
	for (size_t i = 0; i < llen; i++) {
		if (quote && (a->local[i] == '"' || a->local[i] == '\\'))
			*o++ = '\\';
		*o++ = a->local[i];
	}
	if (quote)
		*o++ = '"';
	if (dlen > 0) {
		*o++ = '@';
		memcpy(o, a->domain, dlen);
		o += dlen;
	}
	*o = '\0';
	return s;
}

bool address_has_routing(const struct mail_address *a)
{
	return a->local != NULL && strpbrk(a->local, "%!@") != NULL;
}

bool address_local_is_safe_for_path(const char *local)
{
	/* covers "", "." and ".." too */
	if (local == NULL || local[0] == '\0' || local[0] == '.')
		return false;
	size_t len = strnlen(local, ADDR_LOCAL_MAX + 1);
	if (len > ADDR_LOCAL_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)local[i];
		if (ch == '/' || ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}
