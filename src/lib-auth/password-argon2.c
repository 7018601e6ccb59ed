/*
 * ARGON2I / ARGON2ID (RFC 9106) through libargon2, stored as the PHC string
 * "$argon2id$v=19$m=65536,t=2,p=1$<salt>$<hash>" that Dovecot reads and
 * writes. The parameters come from the stored value, so they are bounded
 * here before libargon2 allocates m KiB and runs t passes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "xalloc.h"
#include "password-private.h"

/* Limits on stored parameters: 1 GiB of memory, 32 passes, 16 lanes. */
#define PASSWORD_ARGON2_MAX_M_KIB (1024u * 1024u)
#define PASSWORD_ARGON2_MAX_T 32u
#define PASSWORD_ARGON2_MAX_P 16u

/* New hashes. Dovecot's defaults (libsodium "interactive": argon2id 64 MiB
 * x 2 passes, argon2i 32 MiB x 4) take 130-160 ms here, over our 100 ms
 * budget, so: argon2id 32 MiB x 2 passes (above OWASP's 19 MiB x 2 floor),
 * argon2i 19 MiB x 4 passes (argon2i wants more passes, RFC 9106 4).
 * Both about 55-70 ms on the reference machine. One lane, 16-byte salt,
 * 32-byte hash, like Dovecot. */
#define PASSWORD_ARGON2ID_M_KIB 32768u
#define PASSWORD_ARGON2ID_T 2u
#define PASSWORD_ARGON2I_M_KIB 19456u
#define PASSWORD_ARGON2I_T 4u
#define PASSWORD_ARGON2_P 1u
#define PASSWORD_ARGON2_SALT_BYTES 16
#define PASSWORD_ARGON2_HASH_BYTES 32

struct password_argon2_params {
	argon2_type type;
	uint32_t m_kib, t, p;
};

/* "k=N" with N in 1..max. */
static int password_argon2_num(slice_t field, const char *key, uint32_t max,
			       uint32_t *num_r)
{
	slice_t k, v;
	uint64_t n;

	if (!slice_split(field, '=', &k, &v) || !slice_eq_cstr(k, key) ||
	    slice_to_u64(v, &n) < 0 || n == 0 || n > max)
		return -1;
	*num_r = (uint32_t)n;
	return 0;
}

/* "m=N,t=N,p=N", in that order (as the PHC format and libargon2 want). */
static int password_argon2_costs(slice_t field,
				 struct password_argon2_params *pr)
{
	slice_t m, t, p;

	if (!slice_split(field, ',', &m, &field) ||
	    !slice_split(field, ',', &t, &p))
		return -1;
	if (password_argon2_num(m, "m", PASSWORD_ARGON2_MAX_M_KIB,
				&pr->m_kib) < 0 ||
	    password_argon2_num(t, "t", PASSWORD_ARGON2_MAX_T, &pr->t) < 0 ||
	    password_argon2_num(p, "p", PASSWORD_ARGON2_MAX_P, &pr->p) < 0)
		return -1;
	return 0;
}

/* Check the shape of a PHC string and bound its costs; libargon2 then
 * checks the rest (base64 of salt and hash, their lengths, m >= 8p). */
static int password_argon2_parse(const char *value,
				 struct password_argon2_params *pr)
{
	slice_t rest = slice_cstr(value), empty, id, field, salt, hash;
	uint32_t version;

	if (!slice_split(rest, '$', &empty, &rest) || empty.len != 0 ||
	    !slice_split(rest, '$', &id, &rest) ||
	    !slice_split(rest, '$', &field, &rest))
		return -1;
	if (slice_eq_cstr(id, "argon2id"))
		pr->type = Argon2_id;
	else if (slice_eq_cstr(id, "argon2i"))
		pr->type = Argon2_i;
	else
		return -1;
	/* "v=19$" is optional; without it the string is version 1.0 (16) */
	if (slice_starts_with_ci(field, "v=")) {
		if (password_argon2_num(field, "v", ARGON2_VERSION_13,
					&version) < 0 ||
		    (version != ARGON2_VERSION_10 &&
		     version != ARGON2_VERSION_13) ||
		    !slice_split(rest, '$', &field, &rest))
			return -1;
	}
	if (password_argon2_costs(field, pr) < 0 ||
	    !slice_split(rest, '$', &salt, &hash) || salt.len == 0 ||
	    hash.len == 0 || slice_find(hash, '$') >= 0)
		return -1;
	return 0;
}

int password_argon2_verify(const struct password_scheme *s, const char *plain,
			   size_t plain_len, const char *value,
			   enum password_encoding enc, const char **error_r)
{
	struct password_argon2_params pr;

	(void)enc;
	/* Either type is accepted under either name: the string says which
	 * it is, and Dovecot (libsodium) accepts both too. */
	(void)s;
	if (password_argon2_parse(value, &pr) < 0) {
		*error_r = "malformed or too costly argon2 value";
		return -1;
	}
	switch (argon2_verify(value, plain, plain_len, pr.type)) {
	case ARGON2_OK:
		return 1;
	case ARGON2_VERIFY_MISMATCH:
		return 0;
	case ARGON2_MEMORY_ALLOCATION_ERROR:
		*error_r = "argon2 could not allocate memory";
		return -1;
	default:
		*error_r = "malformed argon2 value";
		return -1;
	}
}

int password_argon2_hash(const struct password_scheme *s, const char *plain,
			 char **hash_r, const char **error_r)
{
	unsigned char salt[PASSWORD_ARGON2_SALT_BYTES];
	bool id = s->argon2_type == Argon2_id;
	uint32_t m = id ? PASSWORD_ARGON2ID_M_KIB : PASSWORD_ARGON2I_M_KIB;
	uint32_t t = id ? PASSWORD_ARGON2ID_T : PASSWORD_ARGON2I_T;

	if (password_random(salt, sizeof(salt)) < 0) {
		*error_r = "random number generator failed";
		return -1;
	}
	size_t enclen = argon2_encodedlen(t, m, PASSWORD_ARGON2_P,
					  sizeof(salt),
					  PASSWORD_ARGON2_HASH_BYTES,
					  s->argon2_type);
	char *enc = xmalloc(enclen);
	int ret = argon2_hash(t, m, PASSWORD_ARGON2_P, plain, strlen(plain),
			      salt, sizeof(salt), NULL,
			      PASSWORD_ARGON2_HASH_BYTES, enc, enclen,
			      s->argon2_type, ARGON2_VERSION_13);
	explicit_bzero(salt, sizeof(salt));
	if (ret != ARGON2_OK) {
		free(enc);
		*error_r = "argon2 hashing failed";
		return -1;
	}
	*hash_r = xasprintf("{%s}%s", s->name, enc);
	free(enc);
	return 0;
}
