#ifndef YOUJU_SASL_H
#define YOUJU_SASL_H
/*
 * SASL server mechanisms PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-
 * login), shared by SMTP AUTH, IMAP AUTHENTICATE and POP3 AUTH. Pure: the
 * caller moves base64 lines between the client and sasl_step() and, when it
 * returns SASL_DONE, checks the credentials with the auth role. Responses
 * are bounded (SASL_MAX_RESPONSE) before anything is decoded, and every
 * buffer that held a password is wiped.
 */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define SASL_MAX_RESPONSE 8192	/* base64 octets per client line (Dovecot: 8 KiB) */

enum sasl_mech { SASL_PLAIN, SASL_LOGIN };
enum sasl_status {
	SASL_CONTINUE,	/* send the challenge in *challenge_r (base64) and wait */
	SASL_DONE,	/* credentials ready: sasl_user(), sasl_password() */
	SASL_CANCELLED,	/* the client sent "*" (RFC 4954 4: 501) */
	SASL_ERROR,	/* malformed: undecodable base64, bad PLAIN layout, too long */
};

struct sasl {
	enum sasl_mech mech;
	int step;
	buf_t user;
	buf_t password;
	buf_t authzid;
	const char *error;	/* static text for SASL_ERROR */
};

/* Name as advertised ("PLAIN", "LOGIN"), case-insensitive; -1 if unknown. */
int sasl_mech_parse(const char *name, enum sasl_mech *mech_r);
void sasl_init(struct sasl *s, enum sasl_mech mech);
/* Wipes and frees the credentials. */
void sasl_free(struct sasl *s);
/* The first step: initial response (SASL-IR / AUTH PLAIN <ir>), or NULL
 * when none was given ("=" means an empty one, RFC 4954 4). Then one call
 * per client line. challenge_r gets the next base64 challenge (may be empty
 * for PLAIN's "+ "). */
enum sasl_status sasl_start(struct sasl *s, const char *initial, buf_t *challenge_r);
enum sasl_status sasl_step(struct sasl *s, const char *line, size_t len, buf_t *challenge_r);
const char *sasl_user(const struct sasl *s);
const char *sasl_password(const struct sasl *s);
size_t sasl_password_len(const struct sasl *s);

#endif
