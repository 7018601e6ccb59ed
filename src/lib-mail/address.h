#ifndef YOUJU_ADDRESS_H
#define YOUJU_ADDRESS_H
/*
 * Mailbox addresses as SMTP carries them (RFC 5321 4.1.2, RFC 6531 3.3).
 *
 * The parsers are pure functions of their input bytes: no globals, no I/O,
 * every limit checked before anything is allocated. They take a complete
 * slice (the SMTP command parser has already framed the line), so they are
 * not resumable.
 *
 * Decisions:
 * - Length limits (RFC 5321 4.5.3.1) count octets as they appear on the
 *   wire: local part <= 64 (quotes and backslashes included), domain <= 255,
 *   whole path <= 256 including "<" and ">". A bare address must fit in a
 *   path ("local@domain" <= 254), so anything the admin adds is reachable
 *   over SMTP. The hostname rules below cap domains at 253 octets anyway.
 * - Domains are hostnames (RFC 5321 4.1.2 sub-domain; RFC 1123 2.1): labels
 *   of letters, digits and '-', 1..63 octets, no '-' at either end, 253
 *   octets in all. Single-label domains ("localhost") are accepted: refusing
 *   unqualified names is policy, not syntax. A domain whose last label is
 *   all digits is refused (RFC 3696 2: no numeric TLD), so "1.2.3.4" must be
 *   written as the literal "[1.2.3.4]".
 * - With ADDR_SMTPUTF8, UTF-8 is allowed in atoms, quoted strings and domain
 *   labels (RFC 6531 3.3). It is checked to be well-formed UTF-8 (RFC 3629:
 *   no overlongs, no surrogates, nothing above U+10FFFF); U-labels are not
 *   converted to A-labels and the 63-octet label limit applies to their
 *   UTF-8 form, which is stricter than IDNA.
 * - Address literals: "[IPv4]" and "[IPv6:...]" (tag case-insensitive),
 *   checked with inet_pton. General-address-literals have no registered tag
 *   and are refused.
 * - "<Postmaster>" without a domain (RFC 5321 4.1.1.3, 4.5.1) is accepted
 *   only with ADDR_ALLOW_POSTMASTER; it yields local "postmaster", domain "".
 * - The null path "<>" (only with ADDR_ALLOW_NULL) yields local "" and
 *   domain "". The empty quoted local part ""@example.org is valid syntax
 *   and yields local "" with a non-empty domain.
 * - Source routes "<@a,@b:user@c>" are parsed, validated and dropped
 *   (RFC 5321 3.3, Appendix C).
 * - The parser does not skip spaces: the caller hands it the bytes that
 *   start at '<'.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ADDR_ALLOW_NULL 0x1		/* accept "<>" (reverse-path) */
#define ADDR_SMTPUTF8 0x2		/* RFC 6531: UTF-8 local parts and domains */
#define ADDR_ALLOW_POSTMASTER 0x4	/* accept "<Postmaster>" with no domain */

#define ADDR_LOCAL_MAX 64	/* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX 255	/* RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX 256	/* RFC 5321 4.5.3.1.3, with "<" and ">" */

struct mail_address {
	char *local;	/* unquoted form: quotes and quoted-pair backslashes removed */
	char *domain;	/* ASCII-lowercased; "" for the null path and postmaster;
			   literals kept with brackets: "[192.0.2.1]", "[ipv6:2001:db8::1]" */
};

/* Free both strings and NULL them; safe on a zeroed or freed struct. */
void mail_address_free(struct mail_address *a);

/* Parse an RFC 5321 Path starting at in[0] == '<' (see the decisions above).
 * Returns the number of bytes consumed, up to and including the closing '>';
 * bytes after it (ESMTP parameters) are not looked at. On error returns -1,
 * sets *error_r to a static string and leaves *out zeroed. On success *out
 * owns two malloc'd strings (free with mail_address_free). */
ssize_t address_parse_path(const char *in, size_t len, unsigned flags,
			   struct mail_address *out, const char **error_r);

/* Parse a bare "local@domain" (no angle brackets, no source route), e.g. from
 * the admin command line; the whole string must be the address. Same rules
 * and flags as address_parse_path ("" is the null address with
 * ADDR_ALLOW_NULL). Returns 0, or -1 with *error_r static and *out zeroed. */
int address_parse(const char *s, unsigned flags, struct mail_address *out,
		  const char **error_r);

/* Hostname syntax as described above (no address literals). flags: only
 * ADDR_SMTPUTF8 matters. NULL is invalid. */
bool domain_is_valid(const char *domain, unsigned flags);

/* Render "local@domain", quoting the local part when it is not a dot-atom
 * (RFC 5321 4.1.2: backslash before '"' and '\'). The null address renders
 * as "" and a domain-less postmaster as "postmaster". Returns malloc'd. */
char *mail_address_to_string(const struct mail_address *a);

/* True if the local part contains '%', '!' or '@' (the last needs quoting):
 * the old source-routing shapes "a%b@relay", "b!a@relay" (RFC 5321 3.6.1,
 * RFC 1123 5.2.16). The SMTP server refuses to relay them. */
bool address_has_routing(const struct mail_address *a);

/* May this local part become one directory name (Maildir <domain>/<local>)?
 * False if NULL or empty, longer than 64 octets, "." or "..", starting with
 * '.', or containing '/' or a control character. */
bool address_local_is_safe_for_path(const char *local);

#endif
