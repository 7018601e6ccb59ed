#ifndef YOUJU_POP3_COMMAND_H
#define YOUJU_POP3_COMMAND_H
/*
 * POP3 command lines (RFC 1939 3, RFC 2449 4): a keyword of 3-4 printable
 * characters, case-insensitive, then arguments separated by single spaces.
 * Pure function of one line (the CRLF already removed by the line reader).
 */
#include <stddef.h>
#include <stdint.h>

#define POP3_LINE_MAX 255	/* RFC 2449 4: octets incl. CRLF */
#define POP3_AUTH_LINE_MAX 8192	/* AUTH lines carry SASL (RFC 5034 4) */
#define POP3_ARG_MAX 40		/* RFC 1939 3 */
#define POP3_MAX_ARGS 2

enum pop3_verb {
	POP3_USER, POP3_PASS, POP3_APOP, POP3_AUTH, POP3_CAPA, POP3_STLS, POP3_QUIT,
	POP3_STAT, POP3_LIST, POP3_UIDL, POP3_RETR, POP3_TOP, POP3_DELE, POP3_NOOP,
	POP3_RSET, POP3_UNKNOWN,
};

struct pop3_command {
	enum pop3_verb verb;
	char keyword[5];		/* as sent, uppercased */
	const char *args[POP3_MAX_ARGS];	/* point into the caller's line */
	size_t nargs;
	const char *rest;		/* PASS: the whole rest of the line (passwords may hold spaces) */
};

/* Parse line[0..len) in place (spaces become NULs). 0, or -1 with *error_r
 * (static text for "-ERR ..."). Arguments are checked for count and length
 * (PASS and AUTH responses may be longer than 40). */
int pop3_command_parse(char *line, size_t len, struct pop3_command *cmd, const char **error_r);
/* Parse a message number argument: 1..UINT32_MAX, digits only. */
int pop3_msgnum(const char *s, uint32_t *n_r);

#endif
