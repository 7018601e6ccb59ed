/*
 * crypt() schemes through libxcrypt: CRYPT (any format it knows), and
 * YESCRYPT, SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, MD5-CRYPT, which are the
 * same strings with a fixed "$id$". Using the system library means we
 * verify exactly what Dovecot on the same system verifies.
 */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "xalloc.h"
#include "password-private.h"

/* Bytes of CSPRNG output handed to crypt_gensalt (it takes what the
 * method needs: 16 for yescrypt and bcrypt, 12 for sha*-crypt). */
#define PASSWORD_CRYPT_SALT_BYTES 16

static bool password_crypt_id_ok(const struct password_scheme *s,
				 const char *value)
{
	if (s->crypt_ids[0] == NULL)
		return true;
	for (size_t i = 0; i < sizeof(s->crypt_ids) / sizeof(s->crypt_ids[0]);
	     i++) {
		const char *id = s->crypt_ids[i];
		if (id != NULL && strncmp(value, id, strlen(id)) == 0)
			return true;
	}
	return false;
}

/* Work factors in a stored value are bounded before running it, as for
 * argon2: "rounds=999999999" would hold a process for minutes. The limits
 * cost about 2 s (sha512-crypt, 1000x its default) and 4 s (bcrypt) on the
 * reference machine. yescrypt's packed parameters are left to libxcrypt. */
#define PASSWORD_SHACRYPT_MAX_ROUNDS 5000000u
#define PASSWORD_BCRYPT_MAX_COST 16u

static bool password_crypt_cost_ok(const char *value)
{
	slice_t num, rest;
	uint64_t n;

	if (strncmp(value, "$5$rounds=", 10) == 0 ||
	    strncmp(value, "$6$rounds=", 10) == 0) {
		slice_split(slice_cstr(value + 10), '$', &num, &rest);
		return slice_to_u64(num, &n) < 0 ||
		       n <= PASSWORD_SHACRYPT_MAX_ROUNDS;
	}
	/* "$2b$10$...": two-digit cost */
	if (strncmp(value, "$2", 2) == 0 && value[2] != '\0' &&
	    value[3] == '$' && value[4] != '\0' && value[5] != '\0' &&
	    value[6] == '$') {
		return slice_to_u64(slice_make(value + 4, 2), &n) < 0 ||
		       n <= PASSWORD_BCRYPT_MAX_COST;
	}
	return true;	/* malformed ones are libxcrypt's to refuse */
}

/* crypt_rn() wants a NUL-terminated phrase shorter than
 * CRYPT_MAX_PASSPHRASE_SIZE. A password with a NUL inside cannot be passed
 * without truncating it, which would let "secret\0junk" match "secret". */
static bool password_crypt_phrase_ok(const char *plain, size_t plain_len)
{
	return plain_len < CRYPT_MAX_PASSPHRASE_SIZE &&
	       memchr(plain, '\0', plain_len) == NULL;
}

/* crypt_rn() into a heap crypt_data (it is ~32 KiB). Returns a malloc'd
 * copy of the result, or NULL when libxcrypt rejects the setting. */
static char *password_crypt_run(const char *phrase, const char *setting)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *out = crypt_rn(phrase, setting, cd, sizeof(*cd));
	/* a failure token starts with '*'; crypt_rn should return NULL
	 * instead, but never treat one as a hash */
	char *ret = out == NULL || out[0] == '*' ? NULL : xstrdup(out);

	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ret;
}

int password_crypt_verify(const struct password_scheme *s, const char *plain,
			  size_t plain_len, const char *value,
			  enum password_encoding enc, const char **error_r)
{
	char phrase[CRYPT_MAX_PASSPHRASE_SIZE];

	(void)enc;
	if (!password_crypt_id_ok(s, value)) {
		*error_r = "stored value does not match the crypt scheme";
		return -1;
	}
	if (!password_crypt_cost_ok(value)) {
		*error_r = "crypt() cost in the stored value is too high";
		return -1;
	}
	if (!password_crypt_phrase_ok(plain, plain_len))
		return 0;
	memcpy(phrase, plain, plain_len);
	phrase[plain_len] = '\0';
	char *out = password_crypt_run(phrase, value);
	explicit_bzero(phrase, sizeof(phrase));
	if (out == NULL) {
		*error_r = "malformed crypt() value";
		return -1;
	}
	int ret = password_equal(out, strlen(out), value, strlen(value));
	free(out);
	return ret ? 1 : 0;
}

int password_crypt_hash(const struct password_scheme *s, const char *plain,
			char **hash_r, const char **error_r)
{
	unsigned char rnd[PASSWORD_CRYPT_SALT_BYTES];
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];

	if (!password_crypt_phrase_ok(plain, strlen(plain))) {
		*error_r = "password is too long";
		return -1;
	}
	if (password_random(rnd, sizeof(rnd)) < 0) {
		*error_r = "random number generator failed";
		return -1;
	}
	const char *ok = crypt_gensalt_rn(s->crypt_ids[0], s->crypt_cost,
					  (const char *)rnd, sizeof(rnd),
					  setting, sizeof(setting));
	explicit_bzero(rnd, sizeof(rnd));
	char *out = ok == NULL ? NULL : password_crypt_run(plain, setting);
	if (out == NULL) {
		*error_r = "crypt() failed";
		return -1;
	}
	*hash_r = xasprintf("{%s}%s", s->stored_name, out);
	free(out);
	return 0;
}
