/* Modified UTF-7 mailbox names (RFC 3501 5.1.3, RFC 9051 5.1.3) and UTF-8
 * checks (RFC 3629). See imap-utf7.h. */
#include <stdint.h>
#include <string.h>

#include "imap-utf7.h"

/* RFC 3501 5.1.3: RFC 2045 base64 with "," instead of "/" */
static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

static bool is_printable(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* One code point from s[0..len): returns its length (1-4) and sets *cp_r,
 * or 0 if the octets are not well-formed UTF-8 (RFC 3629 4). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	uint32_t cp, min;
	size_t n;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

static int utf8_encode(uint32_t cp, buf_t *out)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return out != NULL ? buf_append(out, b, n) : 0;
}

bool imap_utf8_is_valid(const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;
	uint32_t cp;

	while (i < len) {
		size_t n = utf8_decode(s + i, len - i, &cp);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Decode one base64 run starting after "&" at in[*i]; up to and including
 * the closing "-". out may be NULL (validation only). */
static int utf7_decode_run(const unsigned char *in, size_t len, size_t *i, buf_t *out)
{
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0;

	for (;;) {
		if (*i >= len)
			return -1;	/* "&AGE": no closing "-" */
		unsigned char c = in[(*i)++];
		if (c == '-')
			break;
		int v = b64_value(c);
		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;

		if (high != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;	/* unpaired high surrogate */
			uint32_t cp = 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00);
			high = 0;
			if (utf8_encode(cp, out) < 0)
				return -1;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return -1;		/* unpaired low surrogate */
		} else if (u == 0 || (u >= 0x20 && u <= 0x7e)) {
			/* printable ASCII must stand for itself; NUL never */
			return -1;
		} else if (utf8_encode(u, out) < 0) {
			return -1;
		}
	}
	/* a run holds at least one unit, ends on a whole pair, and its
	 * padding is fewer than 6 zero bits */
	if (high != 0 || nbits >= 6 || bits != 0)
		return -1;
	return 0;
}

static int utf7_decode(const char *in, size_t len, buf_t *out)
{
	const unsigned char *s = (const unsigned char *)in;
	bool after_run = false;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i++];
		if (!is_printable(c))
			return -1;
		if (c != '&') {
			if (out != NULL && buf_append_byte(out, (char)c) < 0)
				return -1;
			after_run = false;
			continue;
		}
		if (i < len && s[i] == '-') {
			i++;
			if (out != NULL && buf_append_byte(out, '&') < 0)
				return -1;
			after_run = false;
			continue;
		}
		/* adjacent runs must have been one run */
		if (after_run)
			return -1;
		if (utf7_decode_run(s, len, &i, out) < 0)
			return -1;
		after_run = true;
	}
	return 0;
}

int imap_utf7_to_utf8(const char *in, size_t len, buf_t *out)
{
	size_t start = out->used;

	if (utf7_decode(in, len, out) < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}

bool imap_utf7_is_valid(const char *in, size_t len)
{
	return utf7_decode(in, len, NULL) == 0;
}

struct b64_state {
	uint32_t bits;
	unsigned nbits;
};

static int b64_unit(struct b64_state *st, uint32_t u, buf_t *out)
{
	st->bits = (st->bits << 16) | u;
	st->nbits += 16;
	while (st->nbits >= 6) {
		st->nbits -= 6;
		if (buf_append_byte(out, b64_chars[(st->bits >> st->nbits) & 0x3f]) < 0)
			return -1;
	}
	st->bits &= (1u << st->nbits) - 1;
	return 0;
}

static int utf7_encode(const char *in, size_t len, buf_t *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;

	while (i < len) {
		if (is_printable(s[i])) {
			int ret = s[i] == '&' ? buf_append(out, "&-", 2) :
				  buf_append_byte(out, (char)s[i]);
			if (ret < 0)
				return -1;
			i++;
			continue;
		}
		/* one run for everything up to the next printable ASCII */
		struct b64_state st = { 0, 0 };
		if (buf_append_byte(out, '&') < 0)
			return -1;
		while (i < len && !is_printable(s[i])) {
			uint32_t cp;
			size_t n = utf8_decode(s + i, len - i, &cp);
			if (n == 0 || cp == 0)
				return -1;
			i += n;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				if (b64_unit(&st, 0xd800 + (cp >> 10), out) < 0 ||
				    b64_unit(&st, 0xdc00 + (cp & 0x3ff), out) < 0)
					return -1;
			} else if (b64_unit(&st, cp, out) < 0) {
				return -1;
			}
		}
		if (st.nbits > 0 &&
		    buf_append_byte(out, b64_chars[(st.bits << (6 - st.nbits)) & 0x3f]) < 0)
			return -1;
		if (buf_append_byte(out, '-') < 0)
			return -1;
	}
	return 0;
}

int imap_utf8_to_utf7(const char *in, size_t len, buf_t *out)
{
	size_t start = out->used;

	if (utf7_encode(in, len, out) < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}
