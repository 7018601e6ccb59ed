#ifndef YOUJU_PASSWORD_H
#define YOUJU_PASSWORD_H
/*
 * Password hashes in Dovecot's "{SCHEME}value" notation, so a user database
 * written for Dovecot works unchanged and hashes written here work in Dovecot.
 *
 * Verified schemes (names are ASCII case-insensitive):
 *   CRYPT          anything libxcrypt's crypt() verifies ($y$ $2b$ $6$ $5$
 *                  $1$ DES ...)
 *   SHA512-CRYPT SHA256-CRYPT BLF-CRYPT MD5-CRYPT YESCRYPT
 *                  crypt() formats whose value must carry the matching
 *                  $id$ ($6$, $5$, $2a$/$2b$/$2y$, $1$, $y$)
 *   SHA SHA1 SHA256 SHA512      base64 digest (hex guessed by length)
 *   SSHA SSHA256 SSHA512        base64 of digest followed by the salt
 *   ARGON2I ARGON2ID            PHC string "$argon2id$v=19$m=,t=,p=$salt$hash"
 *   PLAIN CLEARTEXT             the password itself
 * The digest schemes and PLAIN also take Dovecot's ".HEX", ".B64" and
 * ".BASE64" encoding suffixes ("{SHA256.HEX}").
 *
 * Error strings are static and never contain the password or the hash.
 */
#include <stdbool.h>
#include <stddef.h>

/* Verify plain[0..plain_len) against a stored value. A stored value without
 * a {PREFIX} uses default_scheme (Dovecot's default_pass_scheme; NULL means
 * such values are an error). Returns 1 match, 0 mismatch, -1 error (unknown
 * scheme, malformed or empty stored value, resource limits) with *error_r
 * set. Never returns 1 for an empty stored value or a bare "{SCHEME}".
 * Comparisons are constant-time. A password containing NUL never matches a
 * crypt() scheme (crypt() would see only the part before the NUL). */
int password_verify(const char *plain, size_t plain_len, const char *stored,
		    const char *default_scheme, const char **error_r);

/* Hash a new password with a random salt. scheme is one of "YESCRYPT" (the
 * default for new passwords; written as "{CRYPT}$y$..." which Dovecot on
 * libxcrypt systems reads), "SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT",
 * "ARGON2ID", "ARGON2I", "SSHA512". On success returns 0 and *hash_r is a
 * malloc'd "{SCHEME}value" string for the caller to free. Returns -1 with
 * *error_r set for other schemes or on failure. */
int password_hash(const char *plain, const char *scheme, char **hash_r,
		  const char **error_r);

/* The scheme name password_hash() uses when none is configured. */
#define PASSWORD_DEFAULT_SCHEME "YESCRYPT"

/* True if password_verify() knows scheme (with an optional encoding suffix
 * where allowed). Case-insensitive; for config validation. */
bool password_scheme_known(const char *scheme);

/* True if password_hash() can produce scheme. Case-insensitive. */
bool password_scheme_can_hash(const char *scheme);

#endif
