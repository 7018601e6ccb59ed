/* IMAP command parser (RFC 9051 2.2, 4, 9; RFC 7888; RFC 3516 4.2).
 * See imap-parser.h for the contract.
 *
 * Arguments are collected as a flat array of nodes in the order they start
 * (each knowing its parent list); when the command is complete one pass lays
 * them out as the final tree, every list's elements contiguous and followed
 * by an EOL element. Strings live in one text buffer, so nothing is
 * allocated per argument. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "imap-parser.h"
#include "xalloc.h"

#define LITERAL_MINUS_MAX 4096		/* RFC 7888 4 */
#define NUMBER64_MAX ((uint64_t)INT64_MAX)	/* RFC 9051 9: number64 */
#define NO_PARENT SIZE_MAX
/* Buffers bigger than this are freed, not kept, between commands, so an
 * idle connection costs little after a large APPEND. */
#define KEEP_TEXT_MAX 16384
#define KEEP_NODES_MAX 256

enum pstate {
	ST_TAG,			/* start of a command: the tag */
	ST_NAME,		/* the command name */
	ST_ARG,			/* an argument may start here */
	ST_AFTER_ARG,		/* after an argument: SP, ")" or line end */
	ST_ATOM,
	ST_ATOM_BRACKET,	/* inside [...] of an atom */
	ST_BRACKET_QUOTED,	/* a quoted string inside [...] */
	ST_BRACKET_QUOTED_ESC,
	ST_QUOTED,
	ST_QUOTED_ESC,
	ST_TILDE,		/* "~" at the start of an argument */
	ST_LIT_SIZE,		/* after "{": digits */
	ST_LIT_PLUS,		/* after "+": "}" */
	ST_LIT_CLOSE,		/* after "}": CRLF */
	ST_LIT_CR,		/* after "}" CR: LF */
	ST_LIT_WAIT,		/* synchronizing literal announced */
	ST_LIT_DATA,		/* literal octets */
	ST_CR,			/* CR at the end of a line: LF */
	ST_SKIP_LITERAL,	/* discarding the literal of a failed command */
	ST_SKIP_LINE,		/* discarding the rest of a failed command's line */
	ST_DEAD,		/* out of sync */
};

/* Where a literal announcement stands, for lines being skipped. */
enum lit_stage { LIT_NONE, LIT_SIZE, LIT_PLUS, LIT_CLOSE, LIT_CR };

struct pnode {
	enum imap_arg_type type;
	bool literal8;
	size_t parent;		/* node index of the enclosing list */
	size_t off, len;	/* string in text */
	size_t count;		/* LIST: elements */
	size_t block, fill;	/* LIST: layout while building the tree */
};

struct imap_parser {
	struct imap_parser_limits lim;
	enum pstate state;

	/* the command being read */
	buf_t text;		/* tag, name and argument strings, each + NUL */
	size_t line_bytes;	/* command text so far, outside literals */
	uint64_t literal_total;
	struct pnode *nodes;
	size_t node_count, node_alloc;
	size_t *stack;		/* open lists (node indexes) */
	size_t depth, stack_alloc;
	size_t root_count;
	size_t cur;		/* node whose string is being read */
	size_t bracket_depth;	/* parentheses inside an atom's [...] */
	bool have_tag, have_name;
	size_t name_off;

	/* the literal announcement being read (also while skipping) */
	uint64_t lit_size;
	size_t lit_digits;
	bool lit_bad, lit_plus, lit8;
	uint64_t lit_left;	/* literal octets still to come */
	enum lit_stage skip_stage;
	uint64_t skip_left;	/* octets to discard */

	/* results */
	bool result_pending;	/* DONE/ERROR/refusal returned: release at next call */
	struct imap_command cmd;
	struct imap_arg *args;
	size_t args_alloc;
	enum imap_parse_error err;
	const char *err_text;
	bool err_in_sync;

	/* raw lines (imap_parser_read_line) */
	buf_t line;
	bool line_cr, line_done;
};

/* ---- character classes (RFC 9051 9) ---- */

static bool is_char_in(unsigned char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

/* Our wide atom: CHAR except SP, CTL, "(", ")", "{", DQUOTE. */
static bool is_atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !is_char_in(c, "(){\"");
}

/* ATOM-CHAR: CHAR except atom-specials. */
static bool is_rfc_atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !is_char_in(c, "(){%*\"\\]");
}

/* tag: ASTRING-CHAR except "+". */
static bool is_tag_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !is_char_in(c, "(){%*\"\\+");
}

/* ---- command storage ---- */

static void text_add(struct imap_parser *p, const void *data, size_t n)
{
	/* text has no maximum: the limits are counted by the parser */
	int ret = buf_append(&p->text, data, n);
	assert(ret == 0);
	(void)ret;
}

static void text_byte(struct imap_parser *p, unsigned char c)
{
	char ch = (char)c;
	text_add(p, &ch, 1);
}

static void command_release(struct imap_parser *p)
{
	/* commands carry passwords (LOGIN): wipe, do not just forget */
	if (p->text.used > 0)
		explicit_bzero(p->text.data, p->text.used);
	if (p->text.alloc > KEEP_TEXT_MAX)
		buf_free(&p->text);
	else
		buf_reset(&p->text);
	if (p->node_alloc > KEEP_NODES_MAX) {
		xfree(&p->nodes);
		p->node_alloc = 0;
	}
	if (p->stack_alloc > KEEP_NODES_MAX) {
		xfree(&p->stack);
		p->stack_alloc = 0;
	}
	xfree(&p->args);
	p->args_alloc = 0;
	p->node_count = 0;
	p->depth = 0;
	p->root_count = 0;
	p->line_bytes = 0;
	p->literal_total = 0;
	p->have_tag = false;
	p->have_name = false;
	p->name_off = 0;
	memset(&p->cmd, 0, sizeof(p->cmd));
	p->err = IMAP_PARSE_ERR_NONE;
	p->err_text = NULL;
	p->err_in_sync = true;
	p->result_pending = false;
}

static void set_limits(struct imap_parser *p, const struct imap_parser_limits *lim)
{
	p->lim = *lim;
	if (p->lim.max_literal > UINT32_MAX)
		p->lim.max_literal = UINT32_MAX;
	if (p->lim.max_literal_total == 0)
		p->lim.max_literal_total = p->lim.max_literal;
}

struct imap_parser *imap_parser_create(const struct imap_parser_limits *lim)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	set_limits(p, lim);
	buf_init(&p->text, 0);
	buf_init(&p->line, 0);
	p->state = ST_TAG;
	command_release(p);
	return p;
}

void imap_parser_destroy(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;

	if (p == NULL)
		return;
	/* commands may carry passwords (LOGIN) */
	buf_free_secret(&p->text);
	buf_free_secret(&p->line);
	free(p->nodes);
	free(p->stack);
	free(p->args);
	free(p);
	*pp = NULL;
}

void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *lim)
{
	set_limits(p, lim);
}

/* ---- results ---- */

/* A syntax error or limit: report it in sync and arrange for the rest of
 * the command to be skipped. line_ended: the failing octet was the LF that
 * ends the line. A pending skip_left (set by the caller) is discarded
 * first. */
static enum imap_parse_result fail(struct imap_parser *p, enum imap_parse_error code,
				   const char *text, bool line_ended)
{
	p->err = code;
	p->err_text = text;
	p->err_in_sync = true;
	p->result_pending = true;
	p->skip_stage = LIT_NONE;
	if (p->skip_left > 0)
		p->state = ST_SKIP_LITERAL;
	else if (line_ended)
		p->state = ST_TAG;
	else
		p->state = ST_SKIP_LINE;
	return IMAP_PARSE_ERROR;
}

/* A {n+} whose n cannot be read: where its data ends is unknown. */
static enum imap_parse_result fail_unframed(struct imap_parser *p)
{
	p->err = IMAP_PARSE_ERR_UNFRAMED;
	p->err_text = "Invalid non-synchronizing literal size";
	p->err_in_sync = false;
	p->result_pending = true;
	p->state = ST_DEAD;
	return IMAP_PARSE_ERROR;
}

/* Lay the nodes out as the final tree (see the top of this file). */
static void build_command(struct imap_parser *p)
{
	size_t lists = 0, next;

	for (size_t i = 0; i < p->node_count; i++)
		if (p->nodes[i].type == IMAP_ARG_LIST)
			lists++;
	p->args_alloc = p->node_count + lists + 1;
	p->args = xcalloc(p->args_alloc, sizeof(*p->args));

	next = p->root_count + 1;
	for (size_t i = 0; i < p->node_count; i++) {
		struct pnode *n = &p->nodes[i];
		if (n->type == IMAP_ARG_LIST) {
			n->block = next;
			n->fill = 0;
			next += n->count + 1;
		}
	}
	assert(next == p->args_alloc);

	size_t root_fill = 0;
	for (size_t i = 0; i < p->node_count; i++) {
		struct pnode *n = &p->nodes[i];
		size_t slot;
		if (n->parent == NO_PARENT) {
			slot = root_fill++;
		} else {
			struct pnode *parent = &p->nodes[n->parent];
			slot = parent->block + parent->fill++;
		}
		struct imap_arg *a = &p->args[slot];
		a->type = n->type;
		a->literal8 = n->literal8;
		if (n->type == IMAP_ARG_LIST) {
			a->list = &p->args[n->block];
			a->list_count = n->count;
			p->args[n->block + n->count].type = IMAP_ARG_EOL;
		} else {
			a->str = p->text.data + n->off;
			a->len = n->len;
		}
	}
	p->args[p->root_count].type = IMAP_ARG_EOL;

	p->cmd.tag = p->text.data;
	p->cmd.name = p->text.data + p->name_off;
	p->cmd.args = p->args;
	p->cmd.count = p->root_count;
}

static enum imap_parse_result line_end(struct imap_parser *p)
{
	if (p->depth > 0)
		return fail(p, IMAP_PARSE_ERR_SYNTAX, "Missing ')'", true);
	build_command(p);
	p->result_pending = true;
	p->state = ST_TAG;
	return IMAP_PARSE_DONE;
}

/* ---- arguments ---- */

/* A new argument in the current list; -1 over max_args. */
static int node_new(struct imap_parser *p, enum imap_arg_type type)
{
	if (p->node_count >= p->lim.max_args)
		return -1;
	if (p->node_count == p->node_alloc) {
		p->node_alloc = p->node_alloc ? p->node_alloc * 2 : 16;
		p->nodes = xreallocarray(p->nodes, p->node_alloc, sizeof(*p->nodes));
	}
	struct pnode *n = &p->nodes[p->node_count];
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->off = p->text.used;
	if (p->depth > 0) {
		n->parent = p->stack[p->depth - 1];
		p->nodes[n->parent].count++;
	} else {
		n->parent = NO_PARENT;
		p->root_count++;
	}
	p->cur = p->node_count++;
	return 0;
}

/* The current node's string is complete. */
static void string_finish(struct imap_parser *p)
{
	struct pnode *n = &p->nodes[p->cur];

	n->len = p->text.used - n->off;
	text_byte(p, '\0');
	if (n->type == IMAP_ARG_ATOM && n->len == 3 &&
	    strncasecmp(p->text.data + n->off, "NIL", 3) == 0)
		n->type = IMAP_ARG_NIL;
}

static enum imap_parse_result too_many_args(struct imap_parser *p, bool line_ended)
{
	return fail(p, IMAP_PARSE_ERR_TOO_MANY_ARGS, "Too many arguments", line_ended);
}

static enum imap_parse_result list_open(struct imap_parser *p)
{
	if (p->depth >= p->lim.max_depth)
		return fail(p, IMAP_PARSE_ERR_TOO_DEEP, "Lists nested too deeply", false);
	if (node_new(p, IMAP_ARG_LIST) < 0)
		return too_many_args(p, false);
	if (p->depth == p->stack_alloc) {
		p->stack_alloc = p->stack_alloc ? p->stack_alloc * 2 : 8;
		p->stack = xreallocarray(p->stack, p->stack_alloc, sizeof(*p->stack));
	}
	p->stack[p->depth++] = p->cur;
	p->state = ST_ARG;
	return IMAP_PARSE_NEED_MORE;
}

static enum imap_parse_result list_close(struct imap_parser *p)
{
	if (p->depth == 0)
		return fail(p, IMAP_PARSE_ERR_SYNTAX, "Unexpected ')'", false);
	p->depth--;
	p->state = ST_AFTER_ARG;
	return IMAP_PARSE_NEED_MORE;
}

/* ---- literals ---- */

static void lit_begin(struct imap_parser *p, bool literal8)
{
	p->lit_size = 0;
	p->lit_digits = 0;
	p->lit_bad = false;
	p->lit_plus = false;
	p->lit8 = literal8;
}

/* One digit of a literal size, digit by digit against number64. */
static void lit_digit(struct imap_parser *p, unsigned char c)
{
	unsigned d = (unsigned)(c - '0');

	p->lit_digits++;
	if (p->lit_bad)
		return;
	if (p->lit_size > (NUMBER64_MAX - d) / 10)
		p->lit_bad = true;
	else
		p->lit_size = p->lit_size * 10 + d;
}

static bool lit_too_big(const struct imap_parser *p)
{
	return p->lit_size > p->lim.max_literal ||
	       p->literal_total > p->lim.max_literal_total ||
	       p->lit_size > p->lim.max_literal_total - p->literal_total;
}

/* Start reading the octets of an accepted literal. */
static void lit_start(struct imap_parser *p)
{
	int ret = node_new(p, IMAP_ARG_LITERAL);	/* checked before */
	assert(ret == 0);
	(void)ret;
	p->nodes[p->cur].literal8 = p->lit8;
	p->literal_total += p->lit_size;
	p->lit_left = p->lit_size;
	if (p->lit_left == 0) {
		string_finish(p);
		p->state = ST_AFTER_ARG;
	} else {
		p->state = ST_LIT_DATA;
	}
}

/* The LF after "{n}" or "{n+}" arrived. */
static enum imap_parse_result lit_announced(struct imap_parser *p)
{
	if (p->lit_bad) {
		if (p->lit_plus)
			return fail_unframed(p);
		/* the client waits for "+" and gets BAD instead */
		return fail(p, IMAP_PARSE_ERR_SYNTAX, "Invalid literal size", true);
	}
	if (p->lit_plus) {
		/* RFC 7888 4: BAD [TOOBIG], and the octets are skipped */
		if (lit_too_big(p) || (!p->lim.literal_plus && p->lit_size > LITERAL_MINUS_MAX)) {
			p->skip_left = p->lit_size;
			return fail(p, IMAP_PARSE_ERR_LITERAL_TOO_BIG, "Literal too big", true);
		}
		if (p->node_count >= p->lim.max_args) {
			p->skip_left = p->lit_size;
			return too_many_args(p, true);
		}
		lit_start(p);
		return IMAP_PARSE_NEED_MORE;
	}
	if (p->node_count >= p->lim.max_args)
		return too_many_args(p, true);
	p->state = ST_LIT_WAIT;
	return IMAP_PARSE_LITERAL_WAIT;
}

uint64_t imap_parser_literal_size(const struct imap_parser *p, bool *literal8_r,
				  bool *too_big_r)
{
	assert(p->state == ST_LIT_WAIT);
	if (literal8_r != NULL)
		*literal8_r = p->lit8;
	if (too_big_r != NULL)
		*too_big_r = lit_too_big(p);
	return p->lit_size;
}

int imap_parser_literal_accept(struct imap_parser *p)
{
	assert(p->state == ST_LIT_WAIT);
	if (lit_too_big(p)) {
		imap_parser_literal_refuse(p);
		return -1;
	}
	lit_start(p);
	return 0;
}

void imap_parser_literal_refuse(struct imap_parser *p)
{
	assert(p->state == ST_LIT_WAIT);
	/* RFC 9051 7.5: the client does not send the literal after a tagged
	 * reply; the line announcing it has ended, so this is in sync. */
	p->state = ST_TAG;
	p->result_pending = true;
}

/* ---- the byte machine ---- */

static enum imap_parse_result syntax(struct imap_parser *p, const char *text, unsigned char c)
{
	return fail(p, IMAP_PARSE_ERR_SYNTAX, text, c == '\n');
}

static enum imap_parse_result step(struct imap_parser *p, unsigned char c)
{
again:
	switch (p->state) {
	case ST_TAG:
		if (is_tag_char(c)) {
			text_byte(p, c);
			return IMAP_PARSE_NEED_MORE;
		}
		if (p->text.used == 0)
			return syntax(p, c == '\r' || c == '\n' ? "Empty command line" :
				      "Invalid tag", c);
		if (c != ' ' && c != '\r' && c != '\n')
			return syntax(p, "Invalid tag", c);	/* no tag to answer */
		text_byte(p, '\0');
		p->have_tag = true;
		p->name_off = p->text.used;
		if (c != ' ')
			return syntax(p, "Missing command name", c);
		p->state = ST_NAME;
		return IMAP_PARSE_NEED_MORE;

	case ST_NAME:
		if (is_rfc_atom_char(c)) {
			text_byte(p, c);
			return IMAP_PARSE_NEED_MORE;
		}
		if (p->text.used == p->name_off || (c != ' ' && c != '\r' && c != '\n'))
			return syntax(p, "Invalid command name", c);
		for (size_t i = p->name_off; i < p->text.used; i++)
			if (p->text.data[i] >= 'a' && p->text.data[i] <= 'z')
				p->text.data[i] = (char)(p->text.data[i] - 'a' + 'A');
		text_byte(p, '\0');
		p->have_name = true;
		p->state = ST_AFTER_ARG;
		goto again;

	case ST_ARG:
		switch (c) {
		case ' ':
			return IMAP_PARSE_NEED_MORE;
		case '(':
			return list_open(p);
		case ')':
			return list_close(p);
		case '"':
			if (node_new(p, IMAP_ARG_STRING) < 0)
				return too_many_args(p, false);
			p->state = ST_QUOTED;
			return IMAP_PARSE_NEED_MORE;
		case '{':
			lit_begin(p, false);
			p->state = ST_LIT_SIZE;
			return IMAP_PARSE_NEED_MORE;
		case '~':
			p->state = ST_TILDE;
			return IMAP_PARSE_NEED_MORE;
		case '\r':
			p->state = ST_CR;
			return IMAP_PARSE_NEED_MORE;
		case '\n':
			return line_end(p);
		}
		if (!is_atom_char(c))
			return syntax(p, "Invalid character", c);
		if (node_new(p, IMAP_ARG_ATOM) < 0)
			return too_many_args(p, false);
		p->state = ST_ATOM;
		goto again;

	case ST_TILDE:
		if (c == '{') {
			/* RFC 3516 4.2: literal8 */
			lit_begin(p, true);
			p->state = ST_LIT_SIZE;
			return IMAP_PARSE_NEED_MORE;
		}
		if (node_new(p, IMAP_ARG_ATOM) < 0)
			return too_many_args(p, false);
		text_byte(p, '~');
		p->state = ST_ATOM;
		goto again;

	case ST_AFTER_ARG:
		switch (c) {
		case ' ':
			p->state = ST_ARG;
			return IMAP_PARSE_NEED_MORE;
		case ')':
			return list_close(p);
		case '\r':
			p->state = ST_CR;
			return IMAP_PARSE_NEED_MORE;
		case '\n':
			return line_end(p);
		}
		return syntax(p, "Missing space between arguments", c);

	case ST_ATOM:
		if (c == '[') {
			text_byte(p, c);
			p->bracket_depth = 0;
			p->state = ST_ATOM_BRACKET;
			return IMAP_PARSE_NEED_MORE;
		}
		if (is_atom_char(c)) {
			text_byte(p, c);
			return IMAP_PARSE_NEED_MORE;
		}
		if (c == ' ' || c == ')' || c == '\r' || c == '\n') {
			string_finish(p);
			p->state = ST_AFTER_ARG;
			goto again;
		}
		return syntax(p, "Invalid character in atom", c);

	case ST_ATOM_BRACKET:
		if (c == ']' && p->bracket_depth == 0) {
			text_byte(p, c);
			p->state = ST_ATOM;
			return IMAP_PARSE_NEED_MORE;
		}
		if (c == '(') {
			if (p->bracket_depth >= p->lim.max_depth)
				return fail(p, IMAP_PARSE_ERR_TOO_DEEP,
					    "Lists nested too deeply", false);
			p->bracket_depth++;
		} else if (c == ')') {
			if (p->bracket_depth == 0)
				return syntax(p, "Unexpected ')' in [...]", c);
			p->bracket_depth--;
		} else if (c == '"') {
			p->state = ST_BRACKET_QUOTED;
		} else if (c != ' ' && (!is_atom_char(c) || c == '[' || c == ']')) {
			return syntax(p, c == '\r' || c == '\n' ? "Missing ']'" :
				      "Invalid character in [...]", c);
		}
		text_byte(p, c);
		return IMAP_PARSE_NEED_MORE;

	case ST_BRACKET_QUOTED:
		if (c < 0x20 || c >= 0x7f)
			return syntax(p, "Invalid character in quoted string", c);
		if (c == '"')
			p->state = ST_ATOM_BRACKET;
		else if (c == '\\')
			p->state = ST_BRACKET_QUOTED_ESC;
		text_byte(p, c);
		return IMAP_PARSE_NEED_MORE;

	case ST_BRACKET_QUOTED_ESC:
		if (c != '"' && c != '\\')
			return syntax(p, "Invalid escape in quoted string", c);
		text_byte(p, c);
		p->state = ST_BRACKET_QUOTED;
		return IMAP_PARSE_NEED_MORE;

	case ST_QUOTED:
		switch (c) {
		case '"':
			string_finish(p);
			p->state = ST_AFTER_ARG;
			return IMAP_PARSE_NEED_MORE;
		case '\\':
			p->state = ST_QUOTED_ESC;
			return IMAP_PARSE_NEED_MORE;
		case '\0':
			/* CVE-2019-11500 */
			return syntax(p, "NUL in quoted string", c);
		case '\r':
		case '\n':
			return syntax(p, "Unterminated quoted string", c);
		}
		text_byte(p, c);
		return IMAP_PARSE_NEED_MORE;

	case ST_QUOTED_ESC:
		/* RFC 9051 9: only quoted-specials may be escaped */
		if (c != '"' && c != '\\')
			return syntax(p, "Invalid escape in quoted string", c);
		text_byte(p, c);
		p->state = ST_QUOTED;
		return IMAP_PARSE_NEED_MORE;

	case ST_LIT_SIZE:
		if (c >= '0' && c <= '9') {
			lit_digit(p, c);
			return IMAP_PARSE_NEED_MORE;
		}
		if (p->lit_digits > 0 && c == '+') {
			p->lit_plus = true;
			p->state = ST_LIT_PLUS;
			return IMAP_PARSE_NEED_MORE;
		}
		if (p->lit_digits > 0 && c == '}') {
			p->state = ST_LIT_CLOSE;
			return IMAP_PARSE_NEED_MORE;
		}
		return syntax(p, "Invalid literal size", c);

	case ST_LIT_PLUS:
		if (c != '}')
			return syntax(p, "Invalid literal size", c);
		p->state = ST_LIT_CLOSE;
		return IMAP_PARSE_NEED_MORE;

	case ST_LIT_CLOSE:
		if (c == '\r') {
			p->state = ST_LIT_CR;
			return IMAP_PARSE_NEED_MORE;
		}
		if (c == '\n')
			return lit_announced(p);
		return syntax(p, "A literal must end the line", c);

	case ST_LIT_CR:
		if (c == '\n')
			return lit_announced(p);
		return syntax(p, "CR without LF", c);

	case ST_CR:
		if (c == '\n')
			return line_end(p);
		return syntax(p, "CR without LF", c);

	case ST_LIT_WAIT:
	case ST_LIT_DATA:
	case ST_SKIP_LITERAL:
	case ST_SKIP_LINE:
	case ST_DEAD:
		break;
	}
	assert(!"imap parser: octet in a state that takes none");
	return IMAP_PARSE_ERROR;
}

/* One octet of a line being skipped. Watches for a "{n+}" CRLF at its end
 * (RFC 7888: the client sends n octets at once), which must be skipped too;
 * "{n}" needs our "+", which never comes. Returns false when out of sync. */
static bool skip_line_byte(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case '\n':
		if ((p->skip_stage == LIT_CLOSE || p->skip_stage == LIT_CR) && p->lit_plus) {
			if (p->lit_bad) {
				fail_unframed(p);
				return false;
			}
			p->skip_left = p->lit_size;
			p->state = p->skip_left > 0 ? ST_SKIP_LITERAL : ST_SKIP_LINE;
		} else {
			p->state = ST_TAG;
		}
		p->skip_stage = LIT_NONE;
		return true;
	case '{':
		lit_begin(p, false);
		p->skip_stage = LIT_SIZE;
		return true;
	case '+':
		if (p->skip_stage == LIT_SIZE && p->lit_digits > 0) {
			p->lit_plus = true;
			p->skip_stage = LIT_PLUS;
		} else {
			p->skip_stage = LIT_NONE;
		}
		return true;
	case '}':
		p->skip_stage = (p->skip_stage == LIT_SIZE && p->lit_digits > 0) ||
				p->skip_stage == LIT_PLUS ? LIT_CLOSE : LIT_NONE;
		return true;
	case '\r':
		p->skip_stage = p->skip_stage == LIT_CLOSE ? LIT_CR : LIT_NONE;
		return true;
	}
	if (p->skip_stage == LIT_SIZE && c >= '0' && c <= '9')
		lit_digit(p, c);
	else
		p->skip_stage = LIT_NONE;
	return true;
}

/* Discard input while a failed command is being skipped. Advances *i;
 * returns false when the stream turned out to be out of sync. */
static bool skip_input(struct imap_parser *p, const char *in, size_t len, size_t *i)
{
	while (*i < len) {
		if (p->state == ST_SKIP_LITERAL) {
			size_t n = len - *i;
			if (n > p->skip_left)
				n = (size_t)p->skip_left;
			*i += n;
			p->skip_left -= n;
			if (p->skip_left == 0) {
				p->state = ST_SKIP_LINE;
				p->skip_stage = LIT_NONE;
			}
		} else if (p->state == ST_SKIP_LINE) {
			if (!skip_line_byte(p, (unsigned char)in[(*i)++]))
				return false;
		} else {
			break;
		}
	}
	return true;
}

/* Literal octets: stored only as they arrive. */
static enum imap_parse_result lit_data(struct imap_parser *p, const char *in, size_t len,
				       size_t *i)
{
	size_t n = len - *i;

	if (n > p->lit_left)
		n = (size_t)p->lit_left;
	if (!p->lit8) {
		/* RFC 9051 9: literal is *CHAR8, no NUL; literal8 allows it */
		const char *nul = memchr(in + *i, '\0', n);
		if (nul != NULL) {
			size_t k = (size_t)(nul - (in + *i)) + 1;
			*i += k;
			p->lit_left -= k;
			p->skip_left = p->lit_left;
			return fail(p, IMAP_PARSE_ERR_SYNTAX, "NUL in literal", false);
		}
	}
	text_add(p, in + *i, n);
	*i += n;
	p->lit_left -= n;
	if (p->lit_left == 0) {
		string_finish(p);
		p->state = ST_AFTER_ARG;
	}
	return IMAP_PARSE_NEED_MORE;
}

static enum lit_stage stage_of(enum pstate state)
{
	switch (state) {
	case ST_LIT_SIZE:
		return LIT_SIZE;
	case ST_LIT_PLUS:
		return LIT_PLUS;
	case ST_LIT_CLOSE:
		return LIT_CLOSE;
	case ST_LIT_CR:
		return LIT_CR;
	default:
		return LIT_NONE;
	}
}

/* Octet c went over max_line: fail, and let the skipper see c, keeping any
 * literal announcement in progress (its octets must still be skipped). */
static enum imap_parse_result line_too_long(struct imap_parser *p, unsigned char c)
{
	enum lit_stage stage = stage_of(p->state);

	fail(p, IMAP_PARSE_ERR_LINE_TOO_LONG, "Command line too long", false);
	p->skip_stage = stage;
	(void)skip_line_byte(p, c);
	return IMAP_PARSE_ERROR;
}

/* AUTHENTICATE lines carry secrets too. */
static void line_release(struct imap_parser *p)
{
	if (p->line.used > 0)
		explicit_bzero(p->line.data, p->line.used);
	buf_reset(&p->line);
	p->line_done = false;
}

static void release_if_pending(struct imap_parser *p)
{
	if (p->result_pending)
		command_release(p);
}

enum imap_parse_result imap_parser_feed(struct imap_parser *p, const char *in, size_t len,
					size_t *consumed_r)
{
	size_t i = 0;

	*consumed_r = 0;
	if (p->state == ST_DEAD)
		return IMAP_PARSE_ERROR;
	if (p->state == ST_LIT_WAIT)
		return IMAP_PARSE_LITERAL_WAIT;
	/* not in the middle of a raw line */
	assert(!p->line_cr && (p->line.used == 0 || p->line_done));
	release_if_pending(p);
	if (p->line_done)
		line_release(p);

	while (i < len) {
		enum imap_parse_result ret;

		if (p->state == ST_SKIP_LITERAL || p->state == ST_SKIP_LINE) {
			if (!skip_input(p, in, len, &i)) {
				*consumed_r = i;
				return IMAP_PARSE_ERROR;
			}
			continue;
		}
		if (p->state == ST_LIT_DATA) {
			ret = lit_data(p, in, len, &i);
		} else {
			unsigned char c = (unsigned char)in[i++];
			if (++p->line_bytes > p->lim.max_line)
				ret = line_too_long(p, c);
			else
				ret = step(p, c);
		}
		if (ret != IMAP_PARSE_NEED_MORE) {
			*consumed_r = i;
			return ret;
		}
	}
	*consumed_r = i;
	return IMAP_PARSE_NEED_MORE;
}

const struct imap_command *imap_parser_command(const struct imap_parser *p)
{
	assert(p->cmd.tag != NULL);
	return &p->cmd;
}

const char *imap_parser_tag(const struct imap_parser *p)
{
	return p->have_tag ? p->text.data : NULL;
}

const char *imap_parser_name(const struct imap_parser *p)
{
	return p->have_name ? p->text.data + p->name_off : NULL;
}

const char *imap_parser_error(const struct imap_parser *p, enum imap_parse_error *code_r,
			      bool *in_sync_r)
{
	if (code_r != NULL)
		*code_r = p->err;
	if (in_sync_r != NULL)
		*in_sync_r = p->err_in_sync;
	return p->err_text != NULL ? p->err_text : "No error";
}

static bool between_commands(const struct imap_parser *p)
{
	switch (p->state) {
	case ST_TAG:
		return p->result_pending || p->line_bytes == 0;
	case ST_SKIP_LINE:
	case ST_SKIP_LITERAL:
	case ST_DEAD:
		return true;
	default:
		return false;
	}
}

void imap_parser_reset(struct imap_parser *p)
{
	assert(between_commands(p));
	if (p->state != ST_DEAD)
		release_if_pending(p);
}

enum imap_parse_result imap_parser_read_line(struct imap_parser *p, const char *in,
					     size_t len, const char **line_r,
					     size_t *line_len_r, size_t *consumed_r)
{
	size_t i = 0;

	*line_r = NULL;
	*line_len_r = 0;
	*consumed_r = 0;
	if (p->state == ST_DEAD)
		return IMAP_PARSE_ERROR;
	assert(between_commands(p));
	release_if_pending(p);
	if (p->line_done)
		line_release(p);

	while (i < len) {
		if (p->state == ST_SKIP_LITERAL || p->state == ST_SKIP_LINE) {
			if (!skip_input(p, in, len, &i)) {
				*consumed_r = i;
				return IMAP_PARSE_ERROR;
			}
			continue;
		}
		unsigned char c = (unsigned char)in[i++];
		if (p->line_cr) {
			p->line_cr = false;
			if (c == '\n')
				goto done;
			buf_reset(&p->line);
			*consumed_r = i;
			return fail(p, IMAP_PARSE_ERR_SYNTAX, "CR without LF", false);
		}
		if (c == '\r') {
			p->line_cr = true;
			continue;
		}
		if (c == '\n')
			goto done;
		if (p->line.used >= p->lim.max_line) {
			buf_reset(&p->line);
			*consumed_r = i;
			return fail(p, IMAP_PARSE_ERR_LINE_TOO_LONG, "Line too long", false);
		}
		char ch = (char)c;
		int ret = buf_append(&p->line, &ch, 1);
		assert(ret == 0);
		(void)ret;
	}
	*consumed_r = i;
	return IMAP_PARSE_NEED_MORE;
done:
	p->line_done = true;
	*line_r = buf_cstr(&p->line);
	*line_len_r = p->line.used;
	*consumed_r = i;
	return IMAP_PARSE_DONE;
}

size_t imap_parser_mem_used(const struct imap_parser *p)
{
	return p->text.alloc + p->line.alloc + p->node_alloc * sizeof(*p->nodes) +
	       p->stack_alloc * sizeof(*p->stack) + p->args_alloc * sizeof(*p->args);
}

/* ---- typed access ---- */

bool imap_arg_get_atom(const struct imap_arg *arg, const char **s_r)
{
	if (arg->type != IMAP_ARG_ATOM)
		return false;
	*s_r = arg->str;
	return true;
}

bool imap_arg_atom_equals(const struct imap_arg *arg, const char *word)
{
	return (arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_NIL) &&
	       strcasecmp(arg->str, word) == 0;
}

bool imap_arg_get_string(const struct imap_arg *arg, const char **s_r, size_t *len_r)
{
	if (arg->type != IMAP_ARG_STRING &&
	    (arg->type != IMAP_ARG_LITERAL || arg->literal8))
		return false;
	*s_r = arg->str;
	*len_r = arg->len;
	return true;
}

/* ATOM or NIL made only of ASTRING-CHARs (plus wildcards if allowed). */
static bool atom_is_astring(const struct imap_arg *arg, bool wildcards)
{
	for (size_t i = 0; i < arg->len; i++) {
		unsigned char c = (unsigned char)arg->str[i];
		if (!is_rfc_atom_char(c) && c != ']' &&
		    !(wildcards && (c == '%' || c == '*')))
			return false;
	}
	return arg->len > 0;
}

static bool get_astring(const struct imap_arg *arg, bool wildcards, const char **s_r,
			size_t *len_r)
{
	if (arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_NIL) {
		if (!atom_is_astring(arg, wildcards))
			return false;
		*s_r = arg->str;
		*len_r = arg->len;
		return true;
	}
	return imap_arg_get_string(arg, s_r, len_r);
}

bool imap_arg_get_astring(const struct imap_arg *arg, const char **s_r, size_t *len_r)
{
	return get_astring(arg, false, s_r, len_r);
}

bool imap_arg_get_list_mailbox(const struct imap_arg *arg, const char **s_r, size_t *len_r)
{
	return get_astring(arg, true, s_r, len_r);
}

bool imap_arg_get_nstring(const struct imap_arg *arg, const char **s_r, size_t *len_r)
{
	if (arg->type == IMAP_ARG_NIL) {
		*s_r = NULL;
		*len_r = 0;
		return true;
	}
	return imap_arg_get_string(arg, s_r, len_r);
}

bool imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **list_r,
		       size_t *count_r)
{
	if (arg->type != IMAP_ARG_LIST)
		return false;
	*list_r = arg->list;
	*count_r = arg->list_count;
	return true;
}
