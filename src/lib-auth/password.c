/*
 * Password schemes: the scheme table, "{SCHEME}" prefix parsing and
 * dispatch. The algorithms live in password-crypt.c, password-digest.c and
 * password-argon2.c.
 */
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "buf.h"
#include "password.h"
#include "password-private.h"

/* Work factors for new hashes, each measured to verify well under 100 ms on
 * the reference machine. YESCRYPT and SHA*-CRYPT use libxcrypt's defaults
 * (yescrypt N=2^12 r=32, 5000 rounds), which is also what Dovecot writes. */
#define PASSWORD_BCRYPT_COST 10

static const struct password_scheme password_schemes[] = {
	{ .name = "CRYPT", .verify = password_crypt_verify },
	{ .name = "YESCRYPT", .verify = password_crypt_verify,
	  .hash = password_crypt_hash, .crypt_ids = { "$y$" },
	  .stored_name = "CRYPT" },
	{ .name = "SHA512-CRYPT", .verify = password_crypt_verify,
	  .hash = password_crypt_hash, .crypt_ids = { "$6$" },
	  .stored_name = "SHA512-CRYPT" },
	{ .name = "SHA256-CRYPT", .verify = password_crypt_verify,
	  .hash = password_crypt_hash, .crypt_ids = { "$5$" },
	  .stored_name = "SHA256-CRYPT" },
	/* $2y$ first: every bcrypt reader, Dovecot's own included, takes it */
	{ .name = "BLF-CRYPT", .verify = password_crypt_verify,
	  .hash = password_crypt_hash, .crypt_ids = { "$2y$", "$2b$", "$2a$" },
	  .crypt_cost = PASSWORD_BCRYPT_COST, .stored_name = "BLF-CRYPT" },
	{ .name = "MD5-CRYPT", .verify = password_crypt_verify,
	  .crypt_ids = { "$1$" } },

	{ .name = "SHA", .verify = password_digest_verify, .encodings = true,
	  .md = EVP_sha1, .digest_len = 20 },
	{ .name = "SHA1", .verify = password_digest_verify, .encodings = true,
	  .md = EVP_sha1, .digest_len = 20 },
	{ .name = "SHA256", .verify = password_digest_verify, .encodings = true,
	  .md = EVP_sha256, .digest_len = 32 },
	{ .name = "SHA512", .verify = password_digest_verify, .encodings = true,
	  .md = EVP_sha512, .digest_len = 64 },
	{ .name = "SSHA", .verify = password_digest_verify, .encodings = true,
	  .md = EVP_sha1, .digest_len = 20, .salted = true },
	{ .name = "SSHA256", .verify = password_digest_verify, .encodings = true,
	  .md = EVP_sha256, .digest_len = 32, .salted = true },
	{ .name = "SSHA512", .verify = password_digest_verify, .encodings = true,
	  .hash = password_digest_hash,
	  .md = EVP_sha512, .digest_len = 64, .salted = true },

	{ .name = "ARGON2I", .verify = password_argon2_verify,
	  .hash = password_argon2_hash, .argon2_type = Argon2_i },
	{ .name = "ARGON2ID", .verify = password_argon2_verify,
	  .hash = password_argon2_hash, .argon2_type = Argon2_id },

	{ .name = "PLAIN", .verify = password_plain_verify, .encodings = true },
	{ .name = "CLEARTEXT", .verify = password_plain_verify,
	  .encodings = true },
};

/* Map "SHA256" or "SHA256.HEX" to its scheme and encoding; NULL if the
 * scheme or the suffix is unknown, or the scheme takes no suffix. */
static const struct password_scheme *
password_scheme_lookup(slice_t name, enum password_encoding *enc_r)
{
	slice_t base, suffix;

	*enc_r = PASSWORD_ENC_DEFAULT;
	bool has_suffix = slice_split(name, '.', &base, &suffix);
	if (has_suffix) {
		if (slice_eq_cstr_ci(suffix, "HEX"))
			*enc_r = PASSWORD_ENC_HEX;
		else if (slice_eq_cstr_ci(suffix, "B64") ||
			 slice_eq_cstr_ci(suffix, "BASE64"))
			*enc_r = PASSWORD_ENC_BASE64;
		else
			return NULL;
	}
	for (size_t i = 0; i < sizeof(password_schemes) /
			       sizeof(password_schemes[0]); i++) {
		const struct password_scheme *s = &password_schemes[i];
		if (slice_eq_cstr_ci(base, s->name))
			return has_suffix && !s->encodings ? NULL : s;
	}
	return NULL;
}

/* "{SCHEME}value" -> name, value. Like Dovecot, a value that does not start
 * with '{' or has no closing '}' has no prefix. */
static bool password_split_prefix(const char *stored, slice_t *name_r,
				  const char **value_r)
{
	if (stored[0] != '{')
		return false;
	const char *end = strchr(stored, '}');
	if (end == NULL)
		return false;
	*name_r = slice_make(stored + 1, (size_t)(end - stored - 1));
	*value_r = end + 1;
	return true;
}

int password_verify(const char *plain, size_t plain_len, const char *stored,
		    const char *default_scheme, const char **error_r)
{
	const struct password_scheme *s;
	enum password_encoding enc;
	slice_t name;
	const char *value;

	if (plain == NULL && plain_len == 0)
		plain = "";
	if (stored == NULL || stored[0] == '\0') {
		*error_r = "stored password is empty";
		return -1;
	}
	if (!password_split_prefix(stored, &name, &value)) {
		if (default_scheme == NULL) {
			*error_r = "stored password has no {SCHEME} prefix";
			return -1;
		}
		name = slice_cstr(default_scheme);
		value = stored;
	}
	if ((s = password_scheme_lookup(name, &enc)) == NULL) {
		*error_r = "unknown password scheme";
		return -1;
	}
	if (value[0] == '\0') {
		*error_r = "stored password is empty";
		return -1;
	}
	if (strlen(value) > PASSWORD_STORED_MAX) {
		*error_r = "stored password is too long";
		return -1;
	}
	int ret = s->verify(s, plain, plain_len, value, enc, error_r);
	if (ret == 0)
		*error_r = "password mismatch";
	return ret;
}

int password_hash(const char *plain, const char *scheme, char **hash_r,
		  const char **error_r)
{
	const struct password_scheme *s;
	enum password_encoding enc;

	s = password_scheme_lookup(slice_cstr(scheme), &enc);
	if (s == NULL) {
		*error_r = "unknown password scheme";
		return -1;
	}
	if (s->hash == NULL || enc != PASSWORD_ENC_DEFAULT) {
		*error_r = "password scheme cannot be used for new passwords";
		return -1;
	}
	return s->hash(s, plain, hash_r, error_r);
}

bool password_scheme_known(const char *scheme)
{
	enum password_encoding enc;

	return password_scheme_lookup(slice_cstr(scheme), &enc) != NULL;
}

bool password_scheme_can_hash(const char *scheme)
{
	enum password_encoding enc;
	const struct password_scheme *s =
		password_scheme_lookup(slice_cstr(scheme), &enc);

	return s != NULL && s->hash != NULL && enc == PASSWORD_ENC_DEFAULT;
}

int password_random(void *p, size_t n)
{
	if (n > (size_t)INT32_MAX)
		return -1;
	return RAND_bytes(p, (int)n) == 1 ? 0 : -1;
}

bool password_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && CRYPTO_memcmp(a, b, alen) == 0;
}
