#ifndef YOUJU_SETTINGS_H
#define YOUJU_SETTINGS_H
/*
 * Table-driven settings: every setting is one row (name, type, default,
 * bounds, reloadable, doc), and parsing, defaults, `config show`, the
 * reference page and the reload check all come from that table. This module
 * knows nothing about mail; src/config/ holds youju's own table.
 *
 * File syntax, one setting per line:
 *
 *	# a comment (only at the start of a line, so values may contain '#')
 *	key = value
 *	key = "  value with kept spaces, \" and \\ escaped  "
 *
 * Whitespace around key and value is trimmed; blank lines are ignored; a
 * key set twice keeps the last value (like postfix). A line longer than
 * SETTINGS_LINE_MAX bytes, a NUL byte anywhere, an unknown key, a missing
 * '=', a bad or out-of-bounds value are errors naming "file:line" (and the
 * key when there is one). All errors are collected, up to
 * SETTINGS_ERRORS_MAX; any error fails the whole load.
 *
 * Value syntax by type (and where the value is stored in the caller's
 * struct, at row->offset):
 *
 *	SET_STRING	any text without control characters (tab allowed) -> char *
 *	SET_INT		decimal, optional '-'                          -> int64_t
 *	SET_SIZE	bytes: 1234, or a number with a 1024-based suffix
 *			k/K (KiB), m/M (MiB), g/G (GiB), t/T (TiB)      -> int64_t bytes
 *	SET_DURATION	500ms, 30s, 5m, 2h, 1d, 1w (units in lower case); a
 *			bare number means seconds                -> int64_t milliseconds
 *	SET_BOOL	yes/no, true/false, on/off, 1/0 (any case)     -> bool
 *	SET_LIST	items separated by commas and/or whitespace; empty
 *			value = empty list                  -> struct setting_list
 *	SET_ADDRESS	listen address host:port, [ipv6]:port, *:port, or
 *			empty (disabled); port 1..65535; host an IPv4/IPv6
 *			literal, '*', or a name of [A-Za-z0-9.-]       -> char *
 *	SET_ENUM	exactly one of row->choices "a|b|c" (case matters) -> char *
 *
 * Bounds: min/max apply to INT, SIZE (bytes) and DURATION (milliseconds);
 * min == max == 0 means "no bounds" (SIZE and DURATION are never negative).
 *
 * Strings are malloc'd: error strings are freed by the caller with free();
 * values in the caller's struct with settings_free_values().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SETTINGS_LINE_MAX 8192		/* bytes per line, without the '\n' */
#define SETTINGS_FILE_MAX (1024 * 1024)	/* settings_load_file() cap */
#define SETTINGS_ERRORS_MAX 20		/* errors kept per load */

enum setting_type {
	SET_STRING, SET_INT, SET_SIZE, SET_DURATION, SET_BOOL, SET_LIST,
	SET_ADDRESS, SET_ENUM
};

struct setting_list {
	char **items;
	size_t count;
};

struct setting_def {
	const char *name;
	enum setting_type type;
	const char *def;	/* default, written as in the config file ("" allowed) */
	int64_t min, max;	/* bounds for INT, SIZE (bytes), DURATION (milliseconds) */
	bool reloadable;
	size_t offset;		/* offsetof() of the value in the caller's struct */
	const char *doc;	/* one line */
	const char *choices;	/* SET_ENUM only: "a|b|c" */
};	/* a table ends with a row whose name is NULL */

/* Number of rows before the NULL-name row. */
int settings_count(const struct setting_def *table);
/* Row index of the setting called name (exact match), or -1. */
int settings_find(const struct setting_def *table, const char *name);

/*
 * Store every row's default into dest. dest must be zero-filled or hold
 * values set by this module (old strings and lists are freed). Returns 0, or
 * -1 with *error_r (malloc'd) if a default does not parse: that is a bug in
 * the table, and tests assert it never happens.
 */
int settings_set_defaults(const struct setting_def *table, void *dest, char **error_r);
/* Free the strings and lists of dest and zero their fields. */
void settings_free_values(const struct setting_def *table, void *dest);

/*
 * Parse one value written as in a config file (quotes allowed) for row and
 * store it into dest at row->offset, replacing (and freeing) the old value;
 * for a lone variable, use a row with offset 0 and pass its address. 0 ok,
 * or -1 with *error_r (malloc'd reason without file, line or key, like
 * "value 99T is out of bounds (max 2G)") and dest unchanged.
 */
int settings_parse_value(const struct setting_def *row, const char *value, void *dest,
			 char **error_r);

/*
 * The resumable parser: a pure function of the bytes fed, in any chunking
 * (one byte at a time gives the same result as the whole text at once).
 * dest must already hold defaults; each good line replaces one value.
 * is_set (one bool per table row, may be NULL) gets true for every key set
 * by a good line. filename is copied and used only in messages (NULL: "-").
 * table, dest and is_set must outlive the parser.
 */
struct settings_parser;
struct settings_parser *settings_parser_create(const struct setting_def *table, void *dest,
					       bool *is_set, const char *filename);
/* 0 while no error was seen, -1 once one was (the parser keeps accepting
 * input, to collect further errors). Must not be called after finish. */
int settings_parser_feed(struct settings_parser *p, const void *data, size_t len);
/* End of input: parses a last line without '\n'. 0 ok, -1 if any error. */
int settings_parser_finish(struct settings_parser *p);
/* All errors joined by '\n' (no trailing newline), or NULL if none. Valid
 * until the parser is destroyed. */
const char *settings_parser_error(const struct settings_parser *p);
void settings_parser_destroy(struct settings_parser **p);

/* Parse a whole text into dest (which holds defaults). 0 ok, or -1 with
 * *error_r (malloc'd, all errors). */
int settings_parse_text(const struct setting_def *table, void *dest, bool *is_set,
			const char *filename, const char *text, size_t len, char **error_r);
/*
 * Read path (at most SETTINGS_FILE_MAX bytes) and parse it into dest. On
 * success *text_r (if text_r is not NULL) gets the raw text, malloc'd and
 * NUL-terminated; NUL bytes are rejected, so strlen() gives its length. On
 * failure *text_r is NULL and *error_r (malloc'd) says why.
 */
int settings_load_file(const struct setting_def *table, void *dest, bool *is_set,
		       const char *path, char **text_r, char **error_r);

/*
 * Append the value of row in src, in config syntax that parses back to the
 * same value: sizes "25M" when exact, durations "5m"/"30s"/"500ms", bools
 * yes/no, lists "a, b", strings quoted only when they need it.
 */
void settings_format_value(const struct setting_def *row, const void *src, buf_t *out);
/* Append "key = value\n" for every row, or (only_changed) only for rows
 * whose is_set is true, like `postconf -n`. is_set may be NULL (no rows
 * count as set). */
void settings_dump(const struct setting_def *table, const void *src, const bool *is_set,
		   bool only_changed, buf_t *out);
/* Append a Markdown reference page: title, value syntax, then one section
 * per setting with type (bounds/choices), default, reloadable and doc. */
void settings_doc_markdown(const struct setting_def *table, const char *title, buf_t *out);
/* Append to names_r the names (", "-separated) of non-reloadable settings
 * whose formatted value differs between a and b; returns how many. */
int settings_diff_nonreloadable(const struct setting_def *table, const void *a,
				const void *b, buf_t *names_r);

#endif
