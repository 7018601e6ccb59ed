#ifndef YOUJU_SMTP_COMMAND_H
#define YOUJU_SMTP_COMMAND_H
/*
 * SMTP command lines (RFC 5321 4.1) and their ESMTP parameters.
 *
 * smtp_command_parse is a pure function of one command line that the line
 * reader (smtp-input.h) has already framed: no state, no I/O. It checks the
 * syntax only; everything that is policy (is the extension advertised, is
 * SIZE over message_size_limit, is the command allowed in this state) is the
 * caller's.
 *
 * Decisions:
 * - Verbs and parameter keywords are ASCII case-insensitive (RFC 5321 2.4).
 * - The whole line is checked first: NUL anywhere -> 500 5.5.2, malformed
 *   UTF-8 (RFC 3629: overlongs, surrogates, > U+10FFFF) -> 500 5.5.2 "bad
 *   UTF-8 syntax". Every field then refuses other control characters (TAB
 *   included) with its own reply: addresses 501 5.1.7 / 5.1.3, everything
 *   else 501 5.5.4, a control byte in the verb 500 5.5.2. No control byte
 *   ever reaches a field of struct smtp_command.
 * - Arguments are separated by SP only. Runs of SP and trailing SP are
 *   tolerated (Postfix does the same); TAB is not a separator.
 * - "MAIL FROM:<path>" and "RCPT TO:<path>" (RFC 5321 4.1.1.2, 4.1.1.3);
 *   one SP after the colon is tolerated, as Postfix does, because some
 *   clients send "MAIL FROM: <a@b>".
 * - Non-ASCII in a MAIL address needs the SMTPUTF8 parameter on the same
 *   line, in a RCPT address the SMTP_PARSE_UTF8 flag; otherwise 553 5.6.7
 *   (RFC 6531 3.5). Valid UTF-8 elsewhere (VRFY/NOOP/HELP text) is kept.
 * - EHLO/HELO take one Domain or address-literal (RFC 5321 4.1.1.1), ASCII
 *   only: nothing is negotiated yet when EHLO is sent.
 * - ESMTP parameters (RFC 5321 4.1.2 esmtp-param): at most
 *   SMTP_PARAMS_MAX, counted before anything is decoded. Unknown keyword ->
 *   555 5.5.4; duplicate, malformed or over-long value -> 501 5.5.4.
 * - xtext values (ENVID, ORCPT address, AUTH=) are decoded and must be
 *   printable US-ASCII (RFC 3461 4, 4.2, 4.4): CR, LF, NUL, other controls
 *   and 8-bit octets are refused, so decoded values can go into the spool
 *   one record per field (Exim CVE-2020-28021/28026).
 * - AUTH= on MAIL (RFC 4954 5) must decode to "<>" or an addr-spec.
 * - BDAT sizes are parsed digit by digit and must fit in int64_t (off_t);
 *   anything larger is 501 5.5.4 (RFC 3030 2).
 * - The AUTH command's argument ("MECH [initial-response]") holds a
 *   credential; smtp_command_free wipes it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "buf.h"

enum smtp_verb {
	SMTP_EHLO, SMTP_HELO, SMTP_MAIL, SMTP_RCPT, SMTP_DATA, SMTP_BDAT,
	SMTP_RSET, SMTP_NOOP, SMTP_QUIT, SMTP_HELP, SMTP_VRFY, SMTP_EXPN,
	SMTP_STARTTLS, SMTP_AUTH, SMTP_UNKNOWN
};

#define SMTP_NOTIFY_NEVER 1
#define SMTP_NOTIFY_SUCCESS 2
#define SMTP_NOTIFY_FAILURE 4
#define SMTP_NOTIFY_DELAY 8

enum smtp_body { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE, SMTP_RET_FULL, SMTP_RET_HDRS };

#define SMTP_PARAMS_MAX 32	/* ESMTP parameters on one MAIL/RCPT line */
#define SMTP_ENVID_MAX 100	/* RFC 3461 4.4, xtext-encoded */
#define SMTP_ORCPT_MAX 500	/* RFC 3461 4.2, whole value */
#define SMTP_AUTH_PARAM_MAX 500	/* MAIL AUTH=, encoded (our cap) */
#define SMTP_SASL_MECH_MAX 20	/* RFC 4422 3.1 */

struct smtp_params {			/* ESMTP parameters of MAIL / RCPT */
	bool has_size;
	uint64_t size;			/* RFC 1870 */
	enum smtp_body body;		/* RFC 6152, 3030 */
	bool smtputf8;			/* RFC 6531 */
	enum smtp_ret ret;		/* RFC 3461 */
	char *envid;			/* RFC 3461 ENVID, xtext-decoded */
	unsigned notify;		/* RFC 3461 NOTIFY, 0 = not given */
	char *orcpt_type, *orcpt_addr;	/* RFC 3461 ORCPT=type;xtext, decoded */
	char *auth;			/* RFC 4954 MAIL AUTH=, xtext-decoded */
};

struct smtp_command {
	enum smtp_verb verb;
	char *arg;		/* EHLO/HELO name, VRFY/EXPN/HELP/NOOP text (NULL if none),
				   AUTH "MECH [initial]" */
	struct mail_address addr;	/* MAIL/RCPT */
	struct smtp_params params;
	uint64_t bdat_size;
	bool bdat_last;
};

/* A reply to send: "<code> <enhanced> <text>". All strings are static. */
struct smtp_error {
	int code;
	const char *enhanced;
	const char *text;
};

#define SMTP_PARSE_UTF8 0x1	/* RCPT: the transaction's MAIL had SMTPUTF8,
				   allow UTF-8 addresses */

/* Parse one command line (without its CRLF). Returns 0 with *cmd filled
 * (owned strings; free with smtp_command_free), or -1 with *err_r set to the
 * reply to send and *cmd holding no memory, only cmd->verb: the verb that
 * failed, or SMTP_UNKNOWN when the line was unusable or the verb unknown
 * (500 5.5.2). Freeing *cmd after -1 is harmless. */
int smtp_command_parse(const char *line, size_t len, unsigned flags,
		       struct smtp_command *cmd, struct smtp_error *err_r);

/* Free every string (the AUTH argument is wiped first) and zero *cmd. Safe
 * on a zeroed or already freed command. */
void smtp_command_free(struct smtp_command *cmd);

/* Upper-case verb name ("EHLO", ..., "UNKNOWN"). */
const char *smtp_verb_name(enum smtp_verb v);

/* xtext (RFC 3461 4): append the decoded form of in[0..len) to out.
 * Returns 0, or -1 on bad syntax ('+' not followed by two hex digits, a byte
 * outside xchar), if a decoded octet is a control character or >= 0x80, or
 * if out's maximum would be exceeded. out may hold a partial value after -1.
 * Hex digits are accepted in either case. */
int smtp_xtext_decode(const char *in, size_t len, buf_t *out);

/* Append the xtext form of in[0..len) to out: '+', '=' and bytes outside
 * 0x21..0x7e become "+XX". Stops silently if out's maximum is reached. */
void smtp_xtext_encode(const char *in, size_t len, buf_t *out);

#endif
