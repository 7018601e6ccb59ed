/* Strings in IMAP responses (RFC 9051 4.3, 9). See imap-write.h. */
#include <string.h>
#include <strings.h>

#include "imap-utf7.h"
#include "imap-write.h"

/* ATOM-CHAR (RFC 9051 9): CHAR except atom-specials */
static bool is_atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

static bool can_be_atom(const char *s, size_t len)
{
	if (len == 0 || len > IMAP_WRITE_QUOTED_MAX)
		return false;
	if (len == 3 && strncasecmp(s, "NIL", 3) == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* ASTRING-CHAR; "[" is one too, but quoting it keeps readers
		 * that treat "[...]" as a section (ours included) in step */
		if ((!is_atom_char(c) && c != ']') || c == '[')
			return false;
	}
	return true;
}

static bool can_be_quoted(const char *s, size_t len, unsigned flags)
{
	bool eight_bit = false;

	if (len > IMAP_WRITE_QUOTED_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80)
			eight_bit = true;
		else if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			return false;
	}
	/* RFC 9051 9 QUOTED-CHAR carries UTF-8 only once UTF8=ACCEPT is on */
	return !eight_bit || ((flags & IMAP_WRITE_UTF8) != 0 && imap_utf8_is_valid(s, len));
}

static int append_or_undo(buf_t *out, size_t start, int ret)
{
	if (ret < 0)
		buf_truncate(out, start);
	return ret;
}

static int write_quoted(buf_t *out, const char *s, size_t len)
{
	size_t start = out->used;
	int ret = 0;

	if (buf_append_byte(out, '"') < 0 || buf_append(out, s, len) < 0 ||
	    buf_append_byte(out, '"') < 0)
		ret = -1;
	return append_or_undo(out, start, ret);
}

static int write_literal(buf_t *out, const char *prefix, const char *s, size_t len)
{
	size_t start = out->used;
	int ret = 0;

	if (buf_printf(out, "%s{%zu}\r\n", prefix, len) < 0 || buf_append(out, s, len) < 0)
		ret = -1;
	return append_or_undo(out, start, ret);
}

int imap_write_literal(buf_t *out, const char *s, size_t len)
{
	/* RFC 9051 9: literal is *CHAR8, no NUL */
	if (len > 0 && memchr(s, '\0', len) != NULL)
		return -1;
	return write_literal(out, "", s, len);
}

int imap_write_literal8(buf_t *out, const char *s, size_t len)
{
	return write_literal(out, "~", s, len);
}

int imap_write_string(buf_t *out, const char *s, size_t len, unsigned flags)
{
	if (can_be_quoted(s, len, flags))
		return write_quoted(out, s, len);
	return imap_write_literal(out, s, len);
}

int imap_write_astring(buf_t *out, const char *s, size_t len, unsigned flags)
{
	if (can_be_atom(s, len))
		return buf_append(out, s, len);
	return imap_write_string(out, s, len, flags);
}

int imap_write_nstring(buf_t *out, const char *s, size_t len, unsigned flags)
{
	if (s == NULL)
		return buf_append(out, "NIL", 3);
	return imap_write_string(out, s, len, flags);
}

int imap_write_mailbox_name(buf_t *out, const char *name, size_t len, unsigned flags)
{
	if (len > 0 && memchr(name, '\0', len) != NULL)
		return -1;
	if ((flags & IMAP_WRITE_UTF8) != 0) {
		/* RFC 9051 5.1: UTF-8 names as they are */
		if (!imap_utf8_is_valid(name, len))
			return -1;
		return imap_write_astring(out, name, len, flags);
	}

	buf_t enc;
	int ret;

	buf_init(&enc, 0);
	ret = imap_utf8_to_utf7(name, len, &enc);
	if (ret == 0)
		ret = imap_write_astring(out, enc.data != NULL ? enc.data : "", enc.used, 0);
	buf_free(&enc);
	return ret;
}

bool imap_flag_is_valid(const char *s)
{
	if (s[0] == '\\') {
		if (strcmp(s, "\\*") == 0)
			return true;	/* RFC 9051 9: flag-perm */
		s++;
	}
	if (s[0] == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!is_atom_char((unsigned char)*s))
			return false;
	return true;
}

int imap_write_flags(buf_t *out, const char *const *flags, size_t count)
{
	size_t start = out->used;
	int ret = buf_append_byte(out, '(');

	for (size_t i = 0; i < count && ret == 0; i++) {
		if (!imap_flag_is_valid(flags[i]))
			ret = -1;
		else if (i > 0 && buf_append_byte(out, ' ') < 0)
			ret = -1;
		else
			ret = buf_append_cstr(out, flags[i]);
	}
	if (ret == 0)
		ret = buf_append_byte(out, ')');
	return append_or_undo(out, start, ret);
}
