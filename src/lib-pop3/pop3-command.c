#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "pop3-command.h"

static const struct {
	const char *name;
	enum pop3_verb verb;
	unsigned min_args, max_args;
} pop3_verbs[] = {
	{ "USER", POP3_USER, 1, 1 }, { "PASS", POP3_PASS, 1, 1 }, { "APOP", POP3_APOP, 2, 2 },
	{ "AUTH", POP3_AUTH, 0, 2 }, { "CAPA", POP3_CAPA, 0, 0 }, { "STLS", POP3_STLS, 0, 0 },
	{ "QUIT", POP3_QUIT, 0, 0 }, { "STAT", POP3_STAT, 0, 0 }, { "LIST", POP3_LIST, 0, 1 },
	{ "UIDL", POP3_UIDL, 0, 1 }, { "RETR", POP3_RETR, 1, 1 }, { "TOP", POP3_TOP, 2, 2 },
	{ "DELE", POP3_DELE, 1, 1 }, { "NOOP", POP3_NOOP, 0, 0 }, { "RSET", POP3_RSET, 0, 0 },
};

int pop3_command_parse(char *line, size_t len, struct pop3_command *cmd, const char **error_r)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->verb = POP3_UNKNOWN;
	size_t klen = 0;
	while (klen < len && line[klen] != ' ')
		klen++;
	if (klen < 3 || klen > 4) {
		*error_r = "Unknown command";
		return -1;
	}
	for (size_t i = 0; i < klen; i++) {
		char c = line[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		if (c < 'A' || c > 'Z') {
			*error_r = "Unknown command";
			return -1;
		}
		cmd->keyword[i] = c;
	}
	for (size_t i = 0; i < len; i++) {
		/* NUL and control bytes never reach a handler */
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
			*error_r = "Invalid characters in command";
			return -1;
		}
	}
	size_t v = 0;
	while (v < sizeof(pop3_verbs) / sizeof(pop3_verbs[0]) && strcmp(pop3_verbs[v].name, cmd->keyword) != 0)
		v++;
	if (v == sizeof(pop3_verbs) / sizeof(pop3_verbs[0])) {
		*error_r = "Unknown command";
		return -1;
	}
	cmd->verb = pop3_verbs[v].verb;
	bool long_args = cmd->verb == POP3_PASS || cmd->verb == POP3_AUTH;
	if (len > (long_args ? POP3_AUTH_LINE_MAX : POP3_LINE_MAX - 2)) {
		*error_r = "Command line too long";
		return -1;
	}
	line[len] = '\0';
	if (klen < len) {
		if (klen + 1 == len) {
			*error_r = "Syntax error: empty argument";
			return -1;
		}
		cmd->rest = line + klen + 1;
	}
	/* PASS takes the rest of the line verbatim: RFC 1939 7 allows
	 * spaces in passwords */
	if (cmd->verb == POP3_PASS) {
		if (cmd->rest == NULL) {
			*error_r = "Syntax error: PASS needs a password";
			return -1;
		}
		cmd->args[0] = cmd->rest;
		cmd->nargs = 1;
		return 0;
	}
	char *p = klen < len ? line + klen + 1 : NULL;
	while (p != NULL) {
		if (cmd->nargs == pop3_verbs[v].max_args) {
			*error_r = "Syntax error: too many arguments";
			return -1;
		}
		char *sp = strchr(p, ' ');
		if (sp)
			*sp = '\0';
		if (*p == '\0') {
			*error_r = "Syntax error: empty argument";
			return -1;
		}
		if (strlen(p) > POP3_ARG_MAX && cmd->verb != POP3_AUTH) {
			*error_r = "Argument too long";
			return -1;
		}
		cmd->args[cmd->nargs++] = p;
		p = sp ? sp + 1 : NULL;
	}
	if (cmd->nargs < pop3_verbs[v].min_args) {
		*error_r = "Syntax error: missing argument";
		return -1;
	}
	return 0;
}

int pop3_msgnum(const char *s, uint32_t *n_r)
{
	uint64_t v;
	if (slice_to_u64(slice_cstr(s), &v) < 0 || v == 0 || v > UINT32_MAX)
		return -1;
	*n_r = (uint32_t)v;
	return 0;
}
