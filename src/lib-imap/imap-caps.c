#include "imap-caps.h"

/* What both states share: the protocol versions and what a client needs to
 * know to log in (RFC 9051 6.1.1: at least IMAP4rev2 and the AUTH= list). */
#define CAPS_COMMON "IMAP4rev1 IMAP4rev2 SASL-IR ID ENABLE"

void imap_caps_prelogin(buf_t *out, const struct imap_caps_opts *o)
{
	/* pre-login literals are small (IMAP_PARSER_LIMITS_PRELOGIN) */
	buf_append_cstr(out, CAPS_COMMON " LITERAL-");
	if (o->starttls && !o->tls)
		buf_append_cstr(out, " STARTTLS");
	if (o->login_allowed)
		buf_append_cstr(out, " AUTH=PLAIN AUTH=LOGIN");
	else
		buf_append_cstr(out, " LOGINDISABLED");
}

void imap_caps_postlogin(buf_t *out, const struct imap_caps_opts *o)
{
	buf_append_cstr(out, CAPS_COMMON
			" LITERAL+ IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE"
			" LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES CONDSTORE QRESYNC"
			" QUOTA QUOTA=RES-STORAGE BINARY UTF8=ACCEPT"
			" SORT SORT=DISPLAY THREAD=REFERENCES THREAD=ORDEREDSUBJECT STATUS=SIZE");
	buf_printf(out, " APPENDLIMIT=%llu", (unsigned long long)o->appendlimit);
	if (o->compress)
		buf_append_cstr(out, " COMPRESS=DEFLATE");
}
