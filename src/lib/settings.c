/* Table-driven settings: value parsers, the resumable file parser, and the
 * dump/doc/diff views of a table. See settings.h for the syntax. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"
#include "xalloc.h"

/* Bytes of a bad key or value quoted in a message: enough to recognise it,
 * short enough that 20 errors stay readable. */
#define SETTINGS_QUOTE_MAX 64
#define SETTINGS_HOSTNAME_MAX 253	/* RFC 1035 2.3.4, in text form */

union setting_value {
	char *str;
	int64_t num;
	bool flag;
	struct setting_list list;
};

/* Results of the number parsers; bounds are checked by the caller. */
enum settings_num_result {
	SETTINGS_NUM_OK, SETTINGS_NUM_BAD, SETTINGS_NUM_TOO_BIG, SETTINGS_NUM_TOO_SMALL
};

struct settings_unit {
	const char *suffix;
	int64_t mult;
};

/* Largest first: the formatter picks the first unit that divides exactly. */
static const struct settings_unit settings_size_units[] = {
	{ "T", INT64_C(1) << 40 }, { "G", INT64_C(1) << 30 },
	{ "M", INT64_C(1) << 20 }, { "k", INT64_C(1) << 10 }, { NULL, 0 }
};
static const struct settings_unit settings_duration_units[] = {
	{ "w", INT64_C(604800000) }, { "d", INT64_C(86400000) },
	{ "h", INT64_C(3600000) }, { "m", INT64_C(60000) },
	{ "s", INT64_C(1000) }, { "ms", 1 }, { NULL, 0 }
};

struct settings_parser {
	const struct setting_def *table;
	void *dest;
	bool *is_set;
	char *filename;
	buf_t line;		/* the first SETTINGS_LINE_MAX bytes of the line */
	bool line_too_long;
	size_t line_no;		/* 1-based number of the line in `line` */
	buf_t tmp;		/* unquoted value */
	buf_t msg;		/* message being built */
	buf_t errors;		/* '\n'-joined messages */
	unsigned error_count;
	bool finished;
};

static void *settings_field(const struct setting_def *row, void *dest)
{
	return (char *)dest + row->offset;
}

static const void *settings_cfield(const struct setting_def *row, const void *src)
{
	return (const char *)src + row->offset;
}

static bool settings_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Control characters would be invisible in `config show` and could forge
 * log lines; a tab is the one harmless exception. */
static bool settings_is_control(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Quote untrusted text in a message: printable ASCII as is, the rest as
 * \xNN, cut at SETTINGS_QUOTE_MAX bytes. */
static void settings_append_escaped(buf_t *out, slice_t s)
{
	size_t n = s.len > SETTINGS_QUOTE_MAX ? SETTINGS_QUOTE_MAX : s.len;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf_append_byte(out, (char)c);
		else
			buf_printf(out, "\\x%02x", c);
	}
	if (n < s.len)
		buf_append_cstr(out, "...");
}

int settings_count(const struct setting_def *table)
{
	int n = 0;
	while (table[n].name != NULL)
		n++;
	return n;
}

static int settings_find_slice(const struct setting_def *table, slice_t name)
{
	for (int i = 0; table[i].name != NULL; i++)
		if (slice_eq_cstr(name, table[i].name))
			return i;
	return -1;
}

int settings_find(const struct setting_def *table, const char *name)
{
	return settings_find_slice(table, slice_cstr(name));
}

/* min == max == 0 means unbounded; SIZE and DURATION are never negative. */
static void settings_bounds(const struct setting_def *row, int64_t *min_r, int64_t *max_r)
{
	if (row->min == 0 && row->max == 0) {
		*min_r = row->type == SET_INT ? INT64_MIN : 0;
		*max_r = INT64_MAX;
	} else {
		*min_r = row->min;
		*max_r = row->max;
	}
}

/* ---- number formatting (also used for bounds in messages and docs) ---- */

static void settings_format_scaled(int64_t v, const struct settings_unit *units, buf_t *out)
{
	if (v != 0) {
		for (const struct settings_unit *u = units; u->suffix != NULL; u++) {
			if (v % u->mult == 0) {
				buf_printf(out, "%" PRId64 "%s", v / u->mult, u->suffix);
				return;
			}
		}
	}
	buf_printf(out, "%" PRId64, v);
}

static void settings_format_number(enum setting_type type, int64_t v, buf_t *out)
{
	if (type == SET_SIZE)
		settings_format_scaled(v, settings_size_units, out);
	else if (type == SET_DURATION)
		settings_format_scaled(v, settings_duration_units, out);
	else
		buf_printf(out, "%" PRId64, v);
}

/* ---- value parsers ---- */

/* Digits only; overflow is detected digit by digit by slice_to_u64. */
static enum settings_num_result settings_parse_digits(slice_t s, uint64_t *v_r)
{
	if (s.len == 0)
		return SETTINGS_NUM_BAD;
	for (size_t i = 0; i < s.len; i++)
		if (!settings_is_digit(s.ptr[i]))
			return SETTINGS_NUM_BAD;
	return slice_to_u64(s, v_r) < 0 ? SETTINGS_NUM_TOO_BIG : SETTINGS_NUM_OK;
}

static enum settings_num_result settings_parse_int(slice_t v, int64_t *n_r)
{
	bool neg = v.len > 0 && v.ptr[0] == '-';
	uint64_t u;
	enum settings_num_result r = settings_parse_digits(slice_sub(v, neg, v.len), &u);
	if (r != SETTINGS_NUM_OK)
		return r == SETTINGS_NUM_TOO_BIG && neg ? SETTINGS_NUM_TOO_SMALL : r;
	if (!neg) {
		if (u > (uint64_t)INT64_MAX)
			return SETTINGS_NUM_TOO_BIG;
		*n_r = (int64_t)u;
	} else {
		if (u > (uint64_t)INT64_MAX + 1)
			return SETTINGS_NUM_TOO_SMALL;
		/* -(INT64_MAX + 1) without signed overflow */
		*n_r = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
	}
	return SETTINGS_NUM_OK;
}

/* "<digits><suffix>": the value is digits * the suffix's multiplier, or
 * bare_mult without a suffix. */
static enum settings_num_result
settings_parse_scaled(slice_t v, const struct settings_unit *units, bool ci,
		      int64_t bare_mult, int64_t *n_r)
{
	size_t ndigits = 0;
	while (ndigits < v.len && settings_is_digit(v.ptr[ndigits]))
		ndigits++;
	slice_t suffix = slice_sub(v, ndigits, v.len);
	int64_t mult = suffix.len == 0 ? bare_mult : 0;
	for (const struct settings_unit *u = units; mult == 0 && u->suffix != NULL; u++) {
		if (ci ? slice_eq_cstr_ci(suffix, u->suffix) : slice_eq_cstr(suffix, u->suffix))
			mult = u->mult;
	}
	if (mult == 0)
		return SETTINGS_NUM_BAD;
	uint64_t u;
	enum settings_num_result r = settings_parse_digits(slice_sub(v, 0, ndigits), &u);
	if (r != SETTINGS_NUM_OK)
		return r;
	if (u > (uint64_t)(INT64_MAX / mult))
		return SETTINGS_NUM_TOO_BIG;
	*n_r = (int64_t)u * mult;
	return SETTINGS_NUM_OK;
}

static const char *settings_number_hint(enum setting_type type)
{
	switch (type) {
	case SET_SIZE:
		return "expected a number with an optional k, M, G or T suffix";
	case SET_DURATION:
		return "expected a number with an ms, s, m, h, d or w suffix";
	default:
		return "expected a decimal integer";
	}
}

static int settings_parse_number(const struct setting_def *row, slice_t v, int64_t *n_r,
				 buf_t *err)
{
	enum settings_num_result r;
	if (row->type == SET_SIZE)
		r = settings_parse_scaled(v, settings_size_units, true, 1, n_r);
	else if (row->type == SET_DURATION)
		r = settings_parse_scaled(v, settings_duration_units, false, 1000, n_r);
	else
		r = settings_parse_int(v, n_r);

	if (r == SETTINGS_NUM_BAD) {
		buf_append_cstr(err, "invalid value '");
		settings_append_escaped(err, v);
		buf_printf(err, "' (%s)", settings_number_hint(row->type));
		return -1;
	}
	int64_t min, max;
	settings_bounds(row, &min, &max);
	bool too_big = r == SETTINGS_NUM_TOO_BIG || (r == SETTINGS_NUM_OK && *n_r > max);
	bool too_small = r == SETTINGS_NUM_TOO_SMALL || (r == SETTINGS_NUM_OK && *n_r < min);
	if (!too_big && !too_small)
		return 0;
	buf_append_cstr(err, "value ");
	settings_append_escaped(err, v);
	buf_printf(err, " is out of bounds (%s ", too_big ? "max" : "min");
	settings_format_number(row->type, too_big ? max : min, err);
	buf_append_byte(err, ')');
	return -1;
}

static int settings_parse_bool(slice_t v, bool *flag_r, buf_t *err)
{
	static const char *const yes[] = { "yes", "true", "on", "1", NULL };
	static const char *const no[] = { "no", "false", "off", "0", NULL };
	for (int i = 0; yes[i] != NULL; i++) {
		if (slice_eq_cstr_ci(v, yes[i])) {
			*flag_r = true;
			return 0;
		}
		if (slice_eq_cstr_ci(v, no[i])) {
			*flag_r = false;
			return 0;
		}
	}
	buf_append_cstr(err, "invalid boolean '");
	settings_append_escaped(err, v);
	buf_append_cstr(err, "' (expected yes or no)");
	return -1;
}

static bool settings_is_list_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/* The line limit bounds the item count, so no separate limit is needed. */
static void settings_parse_list(slice_t v, struct setting_list *list_r)
{
	list_r->items = NULL;
	list_r->count = 0;
	size_t i = 0;
	while (i < v.len) {
		if (settings_is_list_sep(v.ptr[i])) {
			i++;
			continue;
		}
		size_t start = i;
		while (i < v.len && !settings_is_list_sep(v.ptr[i]))
			i++;
		list_r->items = xreallocarray(list_r->items, list_r->count + 1, sizeof(char *));
		list_r->items[list_r->count++] = slice_dup(slice_sub(v, start, i - start));
	}
}

static bool settings_enum_ok(const char *choices, slice_t v)
{
	slice_t rest = slice_cstr(choices), choice;
	while (rest.len > 0) {
		slice_split(rest, '|', &choice, &rest);
		if (slice_eq(choice, v))
			return true;
	}
	return false;
}

/* ---- listen addresses ---- */

static const char *settings_check_port(slice_t port)
{
	uint64_t n;
	if (port.len == 0)
		return "missing port";
	if (port.len > 5 || settings_parse_digits(port, &n) != SETTINGS_NUM_OK ||
	    n < 1 || n > 65535)
		return "port must be a number from 1 to 65535";
	return NULL;
}

/* inet_pton() wants a C string; anything longer than buf is no literal. */
static bool settings_is_ip_literal(int af, slice_t host)
{
	char buf[64];
	unsigned char addr[16];
	if (host.len >= sizeof(buf))
		return false;
	memcpy(buf, host.ptr, host.len);
	buf[host.len] = '\0';
	return inet_pton(af, buf, addr) == 1;
}

static const char *settings_check_host(slice_t host)
{
	bool only_digits_dots = true;
	if (host.len == 0)
		return "missing host (use * for all addresses)";
	if (slice_eq_cstr(host, "*"))
		return NULL;
	if (host.len > SETTINGS_HOSTNAME_MAX)
		return "host name too long";
	for (size_t i = 0; i < host.len; i++) {
		char c = host.ptr[i];
		bool alnum = settings_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		if (!alnum && c != '.' && c != '-')
			return "host must be *, an IP address or a host name";
		if (!settings_is_digit(c) && c != '.')
			only_digits_dots = false;
	}
	/* "1.2.3.999" is a typo for an address, not a host name */
	if (only_digits_dots && !settings_is_ip_literal(AF_INET, host))
		return "invalid IPv4 address";
	return NULL;
}

/* Split "host:port" or "[v6]:port"; returns why not, or NULL. */
static const char *settings_check_address_parts(slice_t v)
{
	slice_t host, port;
	if (v.ptr[0] == '[') {
		ssize_t close = slice_find(v, ']');
		if (close < 0)
			return "missing ']'";
		host = slice_sub(v, 1, (size_t)close - 1);
		port = slice_sub(v, (size_t)close + 1, v.len);
		if (port.len == 0 || port.ptr[0] != ':')
			return "expected ':port' after ']'";
		if (!settings_is_ip_literal(AF_INET6, host))
			return "invalid IPv6 address";
		return settings_check_port(slice_sub(port, 1, port.len));
	}
	size_t i = v.len;
	while (i > 0 && v.ptr[i - 1] != ':')
		i--;
	if (i == 0)
		return "missing ':port'";
	host = slice_sub(v, 0, i - 1);
	port = slice_sub(v, i, v.len);
	if (slice_find(host, ':') >= 0)
		return "IPv6 addresses need brackets, like [::1]:25";
	const char *why = settings_check_port(port);
	return why != NULL ? why : settings_check_host(host);
}

static int settings_check_address(slice_t v, buf_t *err)
{
	if (v.len == 0)
		return 0;	/* empty: the listener is disabled */
	const char *why = settings_check_address_parts(v);
	if (why == NULL)
		return 0;
	buf_append_cstr(err, "invalid listen address '");
	settings_append_escaped(err, v);
	buf_printf(err, "': %s", why);
	return -1;
}

/* ---- one value: unquote, check, store ---- */

/* A value wrapped in "..." keeps its leading/trailing spaces; inside, only
 * \" and \\ are escapes, so Windows-style paths need no care unquoted. */
static int settings_unquote(slice_t v, buf_t *tmp, slice_t *v_r, buf_t *err)
{
	if (v.len == 0 || v.ptr[0] != '"') {
		*v_r = v;
		return 0;
	}
	buf_reset(tmp);
	for (size_t i = 1; i < v.len; i++) {
		char c = v.ptr[i];
		if (c == '"') {
			if (i + 1 != v.len) {
				buf_append_cstr(err, "text after the closing quote");
				return -1;
			}
			*v_r = buf_slice(tmp);
			return 0;
		}
		if (c == '\\') {
			if (i + 1 == v.len || (v.ptr[i + 1] != '"' && v.ptr[i + 1] != '\\')) {
				buf_append_cstr(err, "invalid escape in quoted value (only \\\" and \\\\)");
				return -1;
			}
			c = v.ptr[++i];
		}
		if (buf_append_byte(tmp, c) < 0) {
			buf_append_cstr(err, "value too long");
			return -1;
		}
	}
	buf_append_cstr(err, "missing closing quote");
	return -1;
}

/* Parse v for row into *val (allocating only after every check passed). */
static int settings_value_parse(const struct setting_def *row, slice_t v,
				union setting_value *val, buf_t *err)
{
	for (size_t i = 0; i < v.len; i++) {
		if (settings_is_control((unsigned char)v.ptr[i])) {
			buf_append_cstr(err, "value contains a control character");
			return -1;
		}
	}
	switch (row->type) {
	case SET_INT:
	case SET_SIZE:
	case SET_DURATION:
		return settings_parse_number(row, v, &val->num, err);
	case SET_BOOL:
		return settings_parse_bool(v, &val->flag, err);
	case SET_LIST:
		settings_parse_list(v, &val->list);
		return 0;
	case SET_ADDRESS:
		if (settings_check_address(v, err) < 0)
			return -1;
		break;
	case SET_ENUM:
		if (!settings_enum_ok(row->choices != NULL ? row->choices : "", v)) {
			buf_append_cstr(err, "invalid value '");
			settings_append_escaped(err, v);
			buf_printf(err, "' (expected one of %s)", row->choices);
			return -1;
		}
		break;
	case SET_STRING:
		break;
	}
	val->str = slice_dup(v);
	return 0;
}

static void settings_value_free(const struct setting_def *row, void *field)
{
	switch (row->type) {
	case SET_STRING:
	case SET_ADDRESS:
	case SET_ENUM:
		xfree((char **)field);
		break;
	case SET_LIST: {
		struct setting_list *list = field;
		for (size_t i = 0; i < list->count; i++)
			free(list->items[i]);
		xfree(&list->items);
		list->count = 0;
		break;
	}
	default:
		break;
	}
}

static void settings_value_store(const struct setting_def *row, void *dest,
				 const union setting_value *val)
{
	void *field = settings_field(row, dest);
	settings_value_free(row, field);
	switch (row->type) {
	case SET_STRING:
	case SET_ADDRESS:
	case SET_ENUM:
		*(char **)field = val->str;
		break;
	case SET_INT:
	case SET_SIZE:
	case SET_DURATION:
		*(int64_t *)field = val->num;
		break;
	case SET_BOOL:
		*(bool *)field = val->flag;
		break;
	case SET_LIST:
		*(struct setting_list *)field = val->list;
		break;
	}
}

/* Shared by the file parser and the defaults: a table default is written
 * exactly as it would be in the file. */
static int settings_assign(const struct setting_def *row, void *dest, slice_t raw,
			   buf_t *tmp, buf_t *err)
{
	slice_t v;
	union setting_value val;
	if (settings_unquote(raw, tmp, &v, err) < 0 ||
	    settings_value_parse(row, v, &val, err) < 0)
		return -1;
	settings_value_store(row, dest, &val);
	return 0;
}

int settings_set_defaults(const struct setting_def *table, void *dest, char **error_r)
{
	buf_t tmp, err;
	int ret = 0;
	buf_init(&tmp, SETTINGS_LINE_MAX);
	buf_init(&err, 0);
	for (int i = 0; table[i].name != NULL; i++) {
		const char *def = table[i].def != NULL ? table[i].def : "";
		if (settings_assign(&table[i], dest, slice_cstr(def), &tmp, &err) < 0) {
			if (error_r != NULL)
				*error_r = xasprintf("settings: default of %s: %s",
						     table[i].name, buf_cstr(&err));
			ret = -1;
			break;
		}
	}
	buf_free(&tmp);
	buf_free(&err);
	return ret;
}

int settings_parse_value(const struct setting_def *row, const char *value, void *dest,
			 char **error_r)
{
	buf_t tmp, err;
	int ret;
	buf_init(&tmp, SETTINGS_LINE_MAX);
	buf_init(&err, 0);
	slice_t v = slice_trim(slice_cstr(value));
	if (v.len > SETTINGS_LINE_MAX) {
		/* the same limit as in a file */
		buf_printf(&err, "value too long (max %d bytes)", SETTINGS_LINE_MAX);
		ret = -1;
	} else {
		ret = settings_assign(row, dest, v, &tmp, &err);
	}
	if (ret < 0 && error_r != NULL)
		*error_r = xstrdup(buf_cstr(&err));
	buf_free(&tmp);
	buf_free(&err);
	return ret;
}

void settings_free_values(const struct setting_def *table, void *dest)
{
	for (int i = 0; table[i].name != NULL; i++)
		settings_value_free(&table[i], settings_field(&table[i], dest));
}

/* ---- the resumable parser ---- */

struct settings_parser *settings_parser_create(const struct setting_def *table, void *dest,
					       bool *is_set, const char *filename)
{
	struct settings_parser *p = xcalloc(1, sizeof(*p));
	p->table = table;
	p->dest = dest;
	p->is_set = is_set;
	p->filename = xstrdup(filename != NULL ? filename : "-");
	buf_init(&p->line, SETTINGS_LINE_MAX);
	buf_init(&p->tmp, SETTINGS_LINE_MAX);
	buf_init(&p->msg, 0);
	buf_init(&p->errors, 0);
	p->line_no = 1;
	return p;
}

void settings_parser_destroy(struct settings_parser **pp)
{
	struct settings_parser *p = *pp;
	if (p == NULL)
		return;
	buf_free(&p->line);
	buf_free(&p->tmp);
	buf_free(&p->msg);
	buf_free(&p->errors);
	free(p->filename);
	free(p);
	*pp = NULL;
}

/* Record p->msg as an error of the current line. Past the cap, one last line
 * says that more were dropped. */
static void settings_parser_fail(struct settings_parser *p)
{
	p->error_count++;
	if (p->error_count > SETTINGS_ERRORS_MAX + 1)
		return;
	if (p->errors.used > 0)
		buf_append_byte(&p->errors, '\n');
	if (p->error_count > SETTINGS_ERRORS_MAX) {
		buf_printf(&p->errors, "%s: more than %d errors, the rest are not shown",
			   p->filename, SETTINGS_ERRORS_MAX);
		return;
	}
	buf_printf(&p->errors, "%s:%zu: %s", p->filename, p->line_no, buf_cstr(&p->msg));
}

/* Start a message, naming the key first when the line has one. */
static buf_t *settings_parser_msg(struct settings_parser *p, slice_t key)
{
	buf_reset(&p->msg);
	if (key.len > 0) {
		settings_append_escaped(&p->msg, key);
		buf_append_cstr(&p->msg, ": ");
	}
	return &p->msg;
}

static void settings_parser_too_long(struct settings_parser *p, slice_t line)
{
	slice_t key = { "", 0 }, value;
	/* the first SETTINGS_LINE_MAX bytes are kept, so this does not depend
	 * on how the input was chunked */
	if (line.len > 0 && line.ptr[0] != '#' && slice_split(line, '=', &key, &value))
		key = slice_trim(key);
	buf_printf(settings_parser_msg(p, key), "line too long (max %d bytes)",
		   SETTINGS_LINE_MAX);
	settings_parser_fail(p);
}

static void settings_parser_missing_eq(struct settings_parser *p, slice_t line)
{
	size_t n = 0;
	while (n < line.len && line.ptr[n] != ' ' && line.ptr[n] != '\t')
		n++;
	buf_append_cstr(settings_parser_msg(p, slice_sub(line, 0, n)),
			"missing '=' (expected: key = value)");
	settings_parser_fail(p);
}

static void settings_parser_setting(struct settings_parser *p, slice_t key, slice_t value)
{
	int idx = settings_find_slice(p->table, key);
	if (idx < 0) {
		buf_t *msg = settings_parser_msg(p, SLICE_LIT(""));
		buf_append_cstr(msg, "unknown setting '");
		settings_append_escaped(msg, key);
		buf_append_byte(msg, '\'');
		settings_parser_fail(p);
		return;
	}
	buf_t *msg = settings_parser_msg(p, key);
	if (settings_assign(&p->table[idx], p->dest, value, &p->tmp, msg) < 0) {
		settings_parser_fail(p);
		return;
	}
	if (p->is_set != NULL)
		p->is_set[idx] = true;
}

/* A complete line that fits and has no NUL. */
static void settings_parser_content(struct settings_parser *p, slice_t line)
{
	slice_t key, value;
	if (line.len == 0 || line.ptr[0] == '#')
		return;		/* blank or comment */
	if (!slice_split(line, '=', &key, &value)) {
		settings_parser_missing_eq(p, line);
		return;
	}
	key = slice_trim(key);
	if (key.len == 0) {
		buf_append_cstr(settings_parser_msg(p, key), "missing setting name before '='");
		settings_parser_fail(p);
		return;
	}
	settings_parser_setting(p, key, slice_trim(value));
}

static void settings_parser_line(struct settings_parser *p)
{
	slice_t raw = buf_slice(&p->line);

	if (p->line_too_long) {
		settings_parser_too_long(p, slice_trim(raw));
	} else if (memchr(raw.ptr, '\0', raw.len) != NULL) {
		/* even in a comment: the text is passed on as a C string */
		buf_append_cstr(settings_parser_msg(p, SLICE_LIT("")), "NUL byte in line");
		settings_parser_fail(p);
	} else {
		settings_parser_content(p, slice_trim(raw));
	}
	buf_reset(&p->line);
	p->line_too_long = false;
	p->line_no++;
}

/* Keep exactly the first SETTINGS_LINE_MAX bytes whatever the chunking. */
static void settings_parser_take(struct settings_parser *p, const char *s, size_t n)
{
	size_t room = p->line.max - p->line.used;
	if (p->line_too_long)
		return;
	if (n > room) {
		n = room;
		p->line_too_long = true;
	}
	buf_append(&p->line, s, n);
}

int settings_parser_feed(struct settings_parser *p, const void *data, size_t len)
{
	const char *s = data;
	assert(!p->finished);
	while (len > 0) {
		const char *nl = memchr(s, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - s) : len;
		settings_parser_take(p, s, n);
		if (nl == NULL)
			break;
		settings_parser_line(p);
		s += n + 1;
		len -= n + 1;
	}
	return p->error_count > 0 ? -1 : 0;
}

int settings_parser_finish(struct settings_parser *p)
{
	assert(!p->finished);
	if (p->line.used > 0 || p->line_too_long)
		settings_parser_line(p);
	p->finished = true;
	return p->error_count > 0 ? -1 : 0;
}

const char *settings_parser_error(const struct settings_parser *p)
{
	return p->errors.used > 0 ? p->errors.data : NULL;
}

int settings_parse_text(const struct setting_def *table, void *dest, bool *is_set,
			const char *filename, const char *text, size_t len, char **error_r)
{
	struct settings_parser *p = settings_parser_create(table, dest, is_set, filename);
	settings_parser_feed(p, text, len);
	int ret = settings_parser_finish(p);
	if (ret < 0 && error_r != NULL)
		*error_r = xstrdup(settings_parser_error(p));
	settings_parser_destroy(&p);
	return ret;
}

static int settings_read_file(const char *path, buf_t *text, char **error_r)
{
	char chunk[16384];
	int ret = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = xasprintf("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = xasprintf("%s: cannot read: %s", path, strerror(errno));
			ret = -1;
		} else if (n > 0 && buf_append(text, chunk, (size_t)n) < 0) {
			*error_r = xasprintf("%s: file is larger than %d bytes", path,
					     SETTINGS_FILE_MAX);
			ret = -1;
		}
		if (n <= 0 || ret < 0)
			break;
	}
	close(fd);
	return ret;
}

int settings_load_file(const struct setting_def *table, void *dest, bool *is_set,
		       const char *path, char **text_r, char **error_r)
{
	buf_t text;
	char *error = NULL;
	buf_init(&text, SETTINGS_FILE_MAX);
	if (text_r != NULL)
		*text_r = NULL;
	if (settings_read_file(path, &text, &error) < 0 ||
	    settings_parse_text(table, dest, is_set, path, buf_slice(&text).ptr, text.used,
				&error) < 0) {
		buf_free(&text);
		if (error_r != NULL)
			*error_r = error;
		else
			free(error);
		return -1;
	}
	if (text_r != NULL)
		*text_r = text.data != NULL ? text.data : xstrdup("");
	else
		buf_free(&text);
	return 0;
}

/* ---- views: format, dump, doc, diff ---- */

/* Quote only when reading back would change the value. */
static void settings_format_string(slice_t s, buf_t *out)
{
	bool quote = s.len > 0 &&
		(s.ptr[0] == '"' || s.ptr[0] == ' ' || s.ptr[0] == '\t' ||
		 s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t');
	if (!quote) {
		buf_append_slice(out, s);
		return;
	}
	buf_append_byte(out, '"');
	for (size_t i = 0; i < s.len; i++) {
		if (s.ptr[i] == '"' || s.ptr[i] == '\\')
			buf_append_byte(out, '\\');
		buf_append_byte(out, s.ptr[i]);
	}
	buf_append_byte(out, '"');
}

static void settings_format_list(const struct setting_list *list, buf_t *out)
{
	buf_t joined;
	buf_init(&joined, 0);
	for (size_t i = 0; i < list->count; i++) {
		if (i > 0)
			buf_append_cstr(&joined, ", ");
		buf_append_cstr(&joined, list->items[i]);
	}
	/* a first item starting with '"' would read back as a quoted value */
	settings_format_string(buf_slice(&joined), out);
	buf_free(&joined);
}

void settings_format_value(const struct setting_def *row, const void *src, buf_t *out)
{
	const void *field = settings_cfield(row, src);
	switch (row->type) {
	case SET_STRING:
	case SET_ADDRESS:
	case SET_ENUM:
		settings_format_string(slice_cstr(*(char *const *)field), out);
		break;
	case SET_INT:
	case SET_SIZE:
	case SET_DURATION:
		settings_format_number(row->type, *(const int64_t *)field, out);
		break;
	case SET_BOOL:
		buf_append_cstr(out, *(const bool *)field ? "yes" : "no");
		break;
	case SET_LIST:
		settings_format_list(field, out);
		break;
	}
}

void settings_dump(const struct setting_def *table, const void *src, const bool *is_set,
		   bool only_changed, buf_t *out)
{
	for (int i = 0; table[i].name != NULL; i++) {
		if (only_changed && (is_set == NULL || !is_set[i]))
			continue;
		buf_printf(out, "%s =", table[i].name);
		size_t mark = out->used;
		buf_append_byte(out, ' ');
		settings_format_value(&table[i], src, out);
		if (out->used == mark + 1)
			buf_truncate(out, mark);	/* no trailing space */
		buf_append_byte(out, '\n');
	}
}

static void settings_doc_type(const struct setting_def *row, buf_t *out)
{
	static const char *const names[] = {
		[SET_STRING] = "string", [SET_INT] = "integer", [SET_SIZE] = "size",
		[SET_DURATION] = "duration", [SET_BOOL] = "boolean (yes/no)",
		[SET_LIST] = "list (comma or space separated)",
		[SET_ADDRESS] = "listen address (host:port; empty disables)",
		[SET_ENUM] = "one of",
	};
	int64_t min, max;
	buf_append_cstr(out, names[row->type]);
	if (row->type == SET_ENUM) {
		slice_t rest = slice_cstr(row->choices), choice;
		for (int n = 0; rest.len > 0; n++) {
			slice_split(rest, '|', &choice, &rest);
			buf_printf(out, "%s `" SLICE_FMT "`", n > 0 ? "," : "", SLICE_ARG(choice));
		}
	}
	if ((row->type == SET_INT || row->type == SET_SIZE || row->type == SET_DURATION) &&
	    (row->min != 0 || row->max != 0)) {
		settings_bounds(row, &min, &max);
		buf_append_cstr(out, ", ");
		settings_format_number(row->type, min, out);
		buf_append_cstr(out, " to ");
		settings_format_number(row->type, max, out);
	}
}

static void settings_doc_row(const struct setting_def *row, buf_t *out)
{
	const char *def = row->def != NULL ? row->def : "";
	buf_printf(out, "## %s\n\n%s\n\n- Type: ", row->name, row->doc != NULL ? row->doc : "");
	settings_doc_type(row, out);
	if (def[0] != '\0')
		buf_printf(out, "\n- Default: `%s`", def);
	else
		buf_append_cstr(out, "\n- Default: empty");
	buf_printf(out, "\n- Reloadable: %s\n\n", row->reloadable ? "yes" : "no");
}

void settings_doc_markdown(const struct setting_def *table, const char *title, buf_t *out)
{
	buf_printf(out, "# %s\n\n", title);
	buf_append_cstr(out,
		"One `key = value` per line. A line starting with `#` is a comment. "
		"Wrap a value in double quotes to keep leading or trailing spaces "
		"(`\\\"` and `\\\\` escape inside quotes). A key set twice keeps the "
		"last value.\n\n"
		"- Sizes are bytes, or a number with a 1024-based suffix: "
		"`k` (KiB), `M` (MiB), `G` (GiB), `T` (TiB).\n"
		"- Durations take a unit: `ms`, `s`, `m`, `h`, `d`, `w`; "
		"a bare number means seconds.\n"
		"- Booleans: `yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0`.\n"
		"- Listen addresses: `host:port`, `[ipv6]:port`, `*:port`, or empty "
		"to disable the listener.\n\n"
		"Reloadable settings take effect on reload; changing any other "
		"setting needs a restart.\n\n");
	for (int i = 0; table[i].name != NULL; i++)
		settings_doc_row(&table[i], out);
}

int settings_diff_nonreloadable(const struct setting_def *table, const void *a,
				const void *b, buf_t *names_r)
{
	buf_t va, vb;
	int count = 0;
	buf_init(&va, 0);
	buf_init(&vb, 0);
	for (int i = 0; table[i].name != NULL; i++) {
		if (table[i].reloadable)
			continue;
		buf_reset(&va);
		buf_reset(&vb);
		settings_format_value(&table[i], a, &va);
		settings_format_value(&table[i], b, &vb);
		if (slice_eq(buf_slice(&va), buf_slice(&vb)))
			continue;
		buf_printf(names_r, "%s%s", count > 0 ? ", " : "", table[i].name);
		count++;
	}
	buf_free(&va);
	buf_free(&vb);
	return count;
}
