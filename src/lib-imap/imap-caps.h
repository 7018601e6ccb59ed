#ifndef YOUJU_IMAP_CAPS_H
#define YOUJU_IMAP_CAPS_H
/*
 * The IMAP CAPABILITY lists (RFC 9051 6.1.1), in one place so that the
 * front role (before login, and the [CAPABILITY ...] of the tagged OK of
 * LOGIN/AUTHENTICATE) and the mail role (after login) always agree.
 */
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

struct imap_caps_opts {
	bool tls;		/* the connection is already TLS */
	bool starttls;		/* STARTTLS can be offered (a certificate exists) */
	bool login_allowed;	/* a password may be sent (else LOGINDISABLED) */
	uint64_t appendlimit;	/* largest APPEND literal (RFC 7889) */
	bool compress;		/* COMPRESS=DEFLATE (RFC 4978) */
};

/* Before login: IMAP4rev1 IMAP4rev2, STARTTLS, LOGINDISABLED or AUTH=...,
 * SASL-IR, ID, ENABLE, LITERAL+ ... (space-separated, no "CAPABILITY"). */
void imap_caps_prelogin(buf_t *out, const struct imap_caps_opts *o);
/* After login: everything the server implements. */
void imap_caps_postlogin(buf_t *out, const struct imap_caps_opts *o);

#endif
