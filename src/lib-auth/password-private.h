#ifndef YOUJU_PASSWORD_PRIVATE_H
#define YOUJU_PASSWORD_PRIVATE_H
/*
 * Inside password.c and its per-family files (password-crypt.c,
 * password-digest.c, password-argon2.c). Not for other modules.
 */
#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <argon2.h>

/* Longest stored value (after the prefix) we look at; real hashes are far
 * shorter, and this bounds every decode buffer. */
#define PASSWORD_STORED_MAX 1024

/* Dovecot's encoding suffixes: "{SHA256.HEX}", "{SSHA512.B64}". */
enum password_encoding {
	PASSWORD_ENC_DEFAULT = 0,
	PASSWORD_ENC_BASE64,
	PASSWORD_ENC_HEX,
};

struct password_scheme;

/* plain[0..plain_len) against value (the stored string after "{SCHEME}",
 * non-empty, NUL-terminated). Same returns as password_verify(). */
typedef int password_verify_fn(const struct password_scheme *s,
			       const char *plain, size_t plain_len,
			       const char *value, enum password_encoding enc,
			       const char **error_r);
/* New "{NAME}value" for plain in *hash_r (malloc'd). 0 / -1. */
typedef int password_hash_fn(const struct password_scheme *s,
			     const char *plain, char **hash_r,
			     const char **error_r);

struct password_scheme {
	const char *name;
	password_verify_fn *verify;
	password_hash_fn *hash;		/* NULL: verify only */
	bool encodings;			/* accepts .HEX / .B64 suffixes */

	/* crypt() family. ids: accepted "$id$" value prefixes, the first is
	 * the one hash() uses; none listed (CRYPT) accepts any. cost: the
	 * crypt_gensalt count, 0 = libxcrypt's default. stored_name: the
	 * {NAME} hash() writes. */
	const char *crypt_ids[3];
	unsigned long crypt_cost;
	const char *stored_name;

	/* Digest family: {SHA256} = digest, {SSHA256} = digest || salt. */
	const EVP_MD *(*md)(void);
	size_t digest_len;
	bool salted;

	/* Argon2 family. */
	argon2_type argon2_type;
};

password_verify_fn password_crypt_verify;
password_hash_fn password_crypt_hash;
password_verify_fn password_digest_verify;
password_hash_fn password_digest_hash;
password_verify_fn password_plain_verify;
password_verify_fn password_argon2_verify;
password_hash_fn password_argon2_hash;

/* Fill p with n bytes from the CSPRNG. 0 / -1. */
int password_random(void *p, size_t n);
/* Constant-time equality of two byte strings (lengths are not secret). */
bool password_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
