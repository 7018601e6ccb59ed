/*
 * Password schemes and the successful-auth cache.
 *
 * Every known-answer vector below was made by a tool other than youju, for
 * the password "Tr0ub4dor&3" (PW), with the command in the comment. The
 * yescrypt, DES and mkpasswd bcrypt vectors come from mkpasswd, which uses
 * libxcrypt like we do; openssl (sha*-crypt, md5-crypt) and htpasswd (APR's
 * bcrypt) are separate implementations.
 */
#include <stdlib.h>
#include "test.h"
#include "password.h"
#include "auth-cache.h"

#define PW "Tr0ub4dor&3"

/* Each differs from PW in one character, in length, or in case. */
static const char *const pw_wrong[] = {
	"Tr0ub4dor&4", "Xr0ub4dor&3", "Tr0ub4dor&", "Tr0ub4dor&33",
	"tr0ub4dor&3", "Tr0ub4dor& 3", "",
};

/* Assert: PW verifies (1), every pw_wrong does not (0), and neither does
 * PW with a NUL and more bytes after it. */
static void pw_check_vector(const char *stored, const char *default_scheme,
			    const char *const *wrong, size_t nwrong, int line)
{
	const char *err = NULL;
	char m[256];

	int r = password_verify(PW, strlen(PW), stored, default_scheme, &err);
	if (r != 1) {
		snprintf(m, sizeof(m), "line %d: PW vs %.60s: %d (%s)", line,
			 stored, r, r < 0 && err != NULL ? err : "mismatch");
		test_fail(__FILE__, line, m);
	}
	for (size_t i = 0; i < nwrong; i++) {
		r = password_verify(wrong[i], strlen(wrong[i]), stored,
				    default_scheme, &err);
		if (r != 0) {
			snprintf(m, sizeof(m), "line %d: \"%s\" vs %.60s: %d",
				 line, wrong[i], stored, r);
			test_fail(__FILE__, line, m);
		}
	}
	r = password_verify(PW "\0x", strlen(PW) + 2, stored, default_scheme,
			    &err);
	if (r != 0) {
		snprintf(m, sizeof(m), "line %d: PW+NUL vs %.60s: %d", line,
			 stored, r);
		test_fail(__FILE__, line, m);
	}
}

#define PW_VECTOR(stored, def) \
	pw_check_vector((stored), (def), pw_wrong, \
			sizeof(pw_wrong) / sizeof(pw_wrong[0]), __LINE__)

/* Must not verify: -1 (or 0 where noted by the caller), never 1. */
static int pw_verify(const char *plain, const char *stored, const char *def)
{
	const char *err = NULL;
	int r = password_verify(plain, strlen(plain), stored, def, &err);

	if (r != 1 && err == NULL)
		test_fail(__FILE__, __LINE__, "error_r set when not matching");
	return r;
}

/* --- crypt() family ------------------------------------------------- */

/* openssl passwd -6 -salt xyzSALT1 'Tr0ub4dor&3' */
#define V_SHA512_CRYPT "$6$xyzSALT1$BggFRYoDtxRQHQ4qm5R4b1zDCXrvKAFIjjEf9Lzb9MJR/C3QZzd0Im/m3bIDGA/gpPr6m6k7AsB4JzYCjYdD4."
/* openssl passwd -6 -salt 'rounds=5000$abcdefgh' 'Tr0ub4dor&3' */
#define V_SHA512_CRYPT_ROUNDS "$6$rounds=5000$abcdefgh$4U6jebhBw.wRMvkXtOStfkrjBM/.iDeiWvfh4qpnUke7UGqEpD4aifufCgop0XRNXWgsGN1Da9is/9zY7KCTl."
/* openssl passwd -5 -salt xyzSALT2 'Tr0ub4dor&3' */
#define V_SHA256_CRYPT "$5$xyzSALT2$gsrUd.OqNoA2Nqk.ZsEw/jKbz4YsY9bqRDGIrAjy2DA"
/* openssl passwd -1 -salt xyzSALT3 'Tr0ub4dor&3' */
#define V_MD5_CRYPT "$1$xyzSALT3$ELr4ndgV2N2hy7oaqVdkJ1"
/* mkpasswd -m yescrypt 'Tr0ub4dor&3' */
#define V_YESCRYPT "$y$j9T$7V503fkRWNpMtAXaPUtfB0$vkXzcC7MDZWzRy3wLRP44rq5lb6uN2o.v10Wz0HBpk4"
/* mkpasswd -m bcrypt -R 5 'Tr0ub4dor&3' */
#define V_BCRYPT_2B "$2b$05$W8bsP/KBJoB.zQrezF/I0.n7YChlZCowSpnv79sg7hpy1DNXxGEEi"
/* mkpasswd -m bcrypt-a -R 5 'Tr0ub4dor&3' */
#define V_BCRYPT_2A "$2a$05$GVZWKfYxM8sMDfrruO6FtO90d8OQ.0XTSH7PHp.nwzA9OilF1vIdi"
/* htpasswd -nbB -C 5 u 'Tr0ub4dor&3' (apache2-utils) */
#define V_BCRYPT_2Y "$2y$05$TW7.UcJKQ8NVUepLyrjvFuro6YJnBGrHcLM3vZFMWRIJ5AoVut9Ki"
/* mkpasswd -m descrypt 'Tr0ub4dor&3' ab */
#define V_DES "abWL7Sj501Z46"

TEST(password_crypt_vectors)
{
	PW_VECTOR("{SHA512-CRYPT}" V_SHA512_CRYPT, NULL);
	PW_VECTOR("{SHA512-CRYPT}" V_SHA512_CRYPT_ROUNDS, NULL);
	PW_VECTOR("{SHA256-CRYPT}" V_SHA256_CRYPT, NULL);
	PW_VECTOR("{MD5-CRYPT}" V_MD5_CRYPT, NULL);
	PW_VECTOR("{BLF-CRYPT}" V_BCRYPT_2B, NULL);
	PW_VECTOR("{BLF-CRYPT}" V_BCRYPT_2A, NULL);
	PW_VECTOR("{BLF-CRYPT}" V_BCRYPT_2Y, NULL);
	PW_VECTOR("{YESCRYPT}" V_YESCRYPT, NULL);
	/* {CRYPT} takes every format */
	PW_VECTOR("{CRYPT}" V_SHA512_CRYPT, NULL);
	PW_VECTOR("{CRYPT}" V_SHA256_CRYPT, NULL);
	PW_VECTOR("{CRYPT}" V_MD5_CRYPT, NULL);
	PW_VECTOR("{CRYPT}" V_BCRYPT_2B, NULL);
	PW_VECTOR("{CRYPT}" V_BCRYPT_2Y, NULL);
	PW_VECTOR("{CRYPT}" V_YESCRYPT, NULL);
	/* scheme names are case-insensitive */
	PW_VECTOR("{sha512-crypt}" V_SHA512_CRYPT, NULL);
	PW_VECTOR("{Crypt}" V_YESCRYPT, NULL);
}

TEST(password_crypt_des)
{
	/* DES crypt only reads 8 characters: "Tr0ub4do" */
	static const char *const des_wrong[] = {
		"Tr0ub4dX", "Tr0ub4d", "tr0ub4dor&3", "Xr0ub4dor&3", "",
	};
	pw_check_vector("{CRYPT}" V_DES, NULL, des_wrong,
			sizeof(des_wrong) / sizeof(des_wrong[0]), __LINE__);
	pw_check_vector(V_DES, "CRYPT", des_wrong,
			sizeof(des_wrong) / sizeof(des_wrong[0]), __LINE__);
	/* documents the weakness rather than endorsing it */
	CHECK_INTEQ(pw_verify("Tr0ub4doXYZ", "{CRYPT}" V_DES, NULL), 1);
}

TEST(password_default_scheme)
{
	PW_VECTOR(V_SHA512_CRYPT, "CRYPT");
	PW_VECTOR(V_SHA512_CRYPT, "SHA512-CRYPT");
	PW_VECTOR(V_YESCRYPT, "crypt");
	PW_VECTOR(PW, "PLAIN");
	/* a prefix wins over the default */
	PW_VECTOR("{SHA256-CRYPT}" V_SHA256_CRYPT, "PLAIN");
	/* no prefix and no default, or an unknown default */
	CHECK_INTEQ(pw_verify(PW, V_SHA512_CRYPT, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, V_SHA512_CRYPT, "NOPE"), -1);
	/* the default's $id$ must match too */
	CHECK_INTEQ(pw_verify(PW, V_SHA256_CRYPT, "SHA512-CRYPT"), -1);
}

TEST(password_crypt_malformed)
{
	/* the value must carry the scheme's $id$ */
	CHECK_INTEQ(pw_verify(PW, "{SHA512-CRYPT}" V_SHA256_CRYPT, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SHA256-CRYPT}" V_SHA512_CRYPT, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{BLF-CRYPT}" V_SHA512_CRYPT, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{MD5-CRYPT}" V_YESCRYPT, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{YESCRYPT}" V_BCRYPT_2B, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SHA512-CRYPT}" V_DES, NULL), -1);
	/* truncated hashes: libxcrypt takes the salt part as a setting and
	 * computes a full hash, which then differs */
	CHECK(pw_verify(PW, "{SHA512-CRYPT}$6$xyzSALT1$BggFRYoDtx", NULL) != 1);
	CHECK(pw_verify(PW, "{SHA512-CRYPT}$6$xyzSALT1$", NULL) != 1);
	CHECK(pw_verify(PW, "{SHA512-CRYPT}$6$xyzSALT1", NULL) != 1);
	CHECK(pw_verify(PW, "{SHA512-CRYPT}$6$", NULL) != 1);
	CHECK(pw_verify(PW, "{BLF-CRYPT}$2b$05$W8bsP/KBJoB.zQrezF/I0.", NULL) != 1);
	CHECK(pw_verify(PW, "{CRYPT}$y$j9T$7V503fkRWNpMtAXaPUtfB0$", NULL) != 1);
	CHECK(pw_verify(PW, "{CRYPT}ab", NULL) != 1);
	/* garbage, locked accounts, unknown methods */
	CHECK(pw_verify(PW, "{CRYPT}garbage!!", NULL) != 1);
	CHECK(pw_verify(PW, "{CRYPT}$$$$", NULL) != 1);
	CHECK_INTEQ(pw_verify(PW, "{CRYPT}*", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{CRYPT}!", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{CRYPT}!" V_SHA512_CRYPT, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{CRYPT}$9$abc$def", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{CRYPT}$2b$99$W8bsP/KBJoB.zQrezF/I0.n7YChlZCowSpnv79sg7hpy1DNXxGEEi", NULL), -1);
	/* absurd work factors are refused before running (these would take
	 * minutes); the bounds themselves still run */
	CHECK_INTEQ(pw_verify(PW, "{SHA512-CRYPT}$6$rounds=999999999$abcdefgh$4U6jebhBw.wRMvkXtOStfkrjBM/.iDeiWvfh4qpnUke7UGqEpD4aifufCgop0XRNXWgsGN1Da9is/9zY7KCTl.", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{CRYPT}$5$rounds=5000001$xyzSALT2$gsrUd.OqNoA2Nqk.ZsEw/jKbz4YsY9bqRDGIrAjy2DA", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{BLF-CRYPT}$2b$17$W8bsP/KBJoB.zQrezF/I0.n7YChlZCowSpnv79sg7hpy1DNXxGEEi", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{CRYPT}$2y$31$W8bsP/KBJoB.zQrezF/I0.n7YChlZCowSpnv79sg7hpy1DNXxGEEi", NULL), -1);
	/* crypt() formats take no encoding suffix */
	CHECK_INTEQ(pw_verify(PW, "{SHA512-CRYPT.HEX}" V_SHA512_CRYPT, NULL), -1);
}

TEST(password_crypt_phrase_limits)
{
	const char *err;
	char big[600];

	/* a NUL inside would truncate the phrase: never a match */
	CHECK_INTEQ(password_verify(PW "\0junk", strlen(PW) + 5,
				    "{CRYPT}" V_YESCRYPT, NULL, &err), 0);
	CHECK_INTEQ(password_verify("Tr0ub4do\0x", 10, "{CRYPT}" V_DES, NULL,
				    &err), 0);
	/* past libxcrypt's 512-byte limit: a mismatch, not an error */
	memset(big, 'a', sizeof(big));
	CHECK_INTEQ(password_verify(big, sizeof(big), "{SHA512-CRYPT}"
				    V_SHA512_CRYPT, NULL, &err), 0);
}

/* --- digest family -------------------------------------------------- */

/* python3: base64.b64encode(hashlib.sha1(b'Tr0ub4dor&3').digest()) */
#define V_SHA "h0Vy56WuaklGamrFeLmK26eMaqY="
/* python3: hashlib.sha1(b'Tr0ub4dor&3').hexdigest() */
#define V_SHA_HEX "874572e7a5ae6a49466a6ac578b98adba78c6aa6"
/* python3: base64.b64encode(hashlib.sha256(b'Tr0ub4dor&3').digest()) */
#define V_SHA256 "SEhuFRToQjRv9AWx5F9EBZroJhnyMG+Z0JQNyzhukfc="
/* python3: hashlib.sha256(b'Tr0ub4dor&3').hexdigest() */
#define V_SHA256_HEX "48486e1514e842346ff405b1e45f44059ae82619f2306f99d0940dcb386e91f7"
/* python3: base64.b64encode(hashlib.sha512(b'Tr0ub4dor&3').digest()) */
#define V_SHA512 "xyu2IccEDPS2R0BjqaeXJpDiUvNa2+fPr/Wx7iMW7+c4LnI9QeATor+8M8MAfFDFhH0hqInM6DhTbqxyeAjeQA=="
/* python3: hashlib.sha512(b'Tr0ub4dor&3').hexdigest() */
#define V_SHA512_HEX "c72bb621c7040cf4b6474063a9a7972690e252f35adbe7cfaff5b1ee2316efe7382e723d41e013a2bfbc33c3007c50c5847d21a889cce838536eac727808de40"
/* python3: s = b'\x8a\x01\xfe\x42';
 *   base64.b64encode(hashlib.sha1(b'Tr0ub4dor&3' + s).digest() + s) */
#define V_SSHA "hcKG0pw3Y3NBGnEfQojJGzdTu2CKAf5C"
/* python3: s = b'saltsalt';
 *   base64.b64encode(hashlib.sha256(b'Tr0ub4dor&3' + s).digest() + s) */
#define V_SSHA256 "qtqMejIPPAZYzUX47mVaUiDSARnHyGd750Cx1MBsAdVzYWx0c2FsdA=="
/* the same, (digest + s).hex() */
#define V_SSHA256_HEX "aada8c7a320f3c0658cd45f8ee655a5220d20119c7c8677be740b1d4c06c01d573616c7473616c74"
/* python3: s = bytes(range(16));
 *   base64.b64encode(hashlib.sha512(b'Tr0ub4dor&3' + s).digest() + s) */
#define V_SSHA512 "hiaefM9qri+GrqkAXgwHkfwZ1lGexyYyBoJMcTTcJ9RUo7w3UU6NSym3jN//3sZ+P5yFrPAi4U53w7AcQ/9mowABAgMEBQYHCAkKCwwNDg8="

TEST(password_digest_vectors)
{
	PW_VECTOR("{SHA}" V_SHA, NULL);
	PW_VECTOR("{SHA1}" V_SHA, NULL);
	PW_VECTOR("{SHA256}" V_SHA256, NULL);
	PW_VECTOR("{SHA512}" V_SHA512, NULL);
	PW_VECTOR("{SSHA}" V_SSHA, NULL);
	PW_VECTOR("{SSHA256}" V_SSHA256, NULL);
	PW_VECTOR("{SSHA512}" V_SSHA512, NULL);
	PW_VECTOR("{ssha512}" V_SSHA512, NULL);
	PW_VECTOR(V_SSHA512, "SSHA512");
}

TEST(password_digest_encodings)
{
	/* explicit suffixes (Dovecot: .HEX, .B64, .BASE64) */
	PW_VECTOR("{SHA.HEX}" V_SHA_HEX, NULL);
	PW_VECTOR("{SHA256.HEX}" V_SHA256_HEX, NULL);
	PW_VECTOR("{SHA512.hex}" V_SHA512_HEX, NULL);
	PW_VECTOR("{SSHA256.HEX}" V_SSHA256_HEX, NULL);
	PW_VECTOR("{SHA256.B64}" V_SHA256, NULL);
	PW_VECTOR("{SSHA512.BASE64}" V_SSHA512, NULL);
	/* Dovecot guesses hex when the length is twice the digest */
	PW_VECTOR("{SHA}" V_SHA_HEX, NULL);
	PW_VECTOR("{SHA}874572E7A5AE6A49466A6AC578B98ADBA78C6AA6", NULL);
	PW_VECTOR("{SHA256}" V_SHA256_HEX, NULL);
	PW_VECTOR("{SHA512}" V_SHA512_HEX, NULL);
	/* ...but not for salted ones (hex digits are base64 too, so this
	 * decodes as a different digest and salt), and a suffix means what it
	 * says */
	CHECK_INTEQ(pw_verify(PW, "{SSHA256}" V_SSHA256_HEX, NULL), 0);
	CHECK_INTEQ(pw_verify(PW, "{SHA256.HEX}" V_SHA256, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SHA256.B64}" V_SHA256_HEX, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SHA256.XYZ}" V_SHA256, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SHA256.}" V_SHA256, NULL), -1);
}

TEST(password_digest_malformed)
{
	/* bad base64: missing padding, bad character, whitespace */
	CHECK_INTEQ(pw_verify(PW, "{SHA}h0Vy56WuaklGamrFeLmK26eMaqY", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SHA}h0Vy56Wu*klGamrFeLmK26eMaqY=", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SHA} h0Vy56WuaklGamrFeLmK26eMaqY=", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SSHA512}" V_SSHA512 "\n", NULL), -1);
	/* wrong digest lengths: 19 bytes, 39 hex digits, SHA-1 as SHA-256 */
	CHECK_INTEQ(pw_verify(PW, "{SHA}h0Vy56WuaklGamrFeLmK26eMag==", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SHA}874572e7a5ae6a49466a6ac578b98adba78c6aa", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SHA256}" V_SHA, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SHA}" V_SHA256, NULL), -1);
	/* salted: only the digest (empty salt), or less than the digest */
	CHECK_INTEQ(pw_verify(PW, "{SSHA}" V_SHA, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SSHA512}xyu2IccEDPS2Rw==", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SSHA256}" V_SHA256, NULL), -1);
	/* a hex digit string that is not hex falls back to base64, which
	 * then has the wrong length */
	CHECK_INTEQ(pw_verify(PW, "{SHA}874572e7a5ae6a49466a6ac578b98adba78c6aaz", NULL), -1);
}

/* --- argon2 --------------------------------------------------------- */

/* echo -n 'Tr0ub4dor&3' | argon2 'somesalt16bytes!' -id -t 3 -m 12 -p 1 -e */
#define V_ARGON2ID "$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg"
/* echo -n 'Tr0ub4dor&3' | argon2 'othersalt16byte!' -i -t 3 -m 12 -p 1 -e */
#define V_ARGON2I "$argon2i$v=19$m=4096,t=3,p=1$b3RoZXJzYWx0MTZieXRlIQ$zlu3H1inoldHeoQkoapZC5WFMTnUZ8iANNNHaNYBjdc"
/* echo -n 'Tr0ub4dor&3' | argon2 'somesalt16bytes!' -id -t 1 -m 12 -p 2 -e */
#define V_ARGON2ID_P2 "$argon2id$v=19$m=4096,t=1,p=2$c29tZXNhbHQxNmJ5dGVzIQ$1viYNAwCtUoh+PQ9arAGOur5FNjKqR9Gal+VZS6NGE4"
/* echo -n 'Tr0ub4dor&3' | argon2 'somesalt16bytes!' -id -t 2 -m 10 -p 1 -v 10 -e
 * (version 1.0; the PHC string may omit "v=" for it, see below) */
#define V_ARGON2ID_V16 "$argon2id$v=16$m=1024,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$gBAUp4Bq1ndfRIM0ESIgg1VbNwKfuH9JCugQSkDPT6Q"
#define V_ARGON2ID_NOV "$argon2id$m=1024,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$gBAUp4Bq1ndfRIM0ESIgg1VbNwKfuH9JCugQSkDPT6Q"
/* echo -n 'Tr0ub4dor&3' | argon2 'somesalt16bytes!' -d -t 1 -m 12 -p 2 -e */
#define V_ARGON2D "$argon2d$v=19$m=4096,t=1,p=2$c29tZXNhbHQxNmJ5dGVzIQ$Jcz692jv4udOP0n4aJgDnNoMsgM8cpJWusAWZaOT7yI"

TEST(password_argon2_vectors)
{
	PW_VECTOR("{ARGON2ID}" V_ARGON2ID, NULL);
	PW_VECTOR("{ARGON2I}" V_ARGON2I, NULL);
	PW_VECTOR("{ARGON2ID}" V_ARGON2ID_P2, NULL);
	PW_VECTOR("{ARGON2ID}" V_ARGON2ID_V16, NULL);
	PW_VECTOR("{ARGON2ID}" V_ARGON2ID_NOV, NULL);
	PW_VECTOR("{argon2id}" V_ARGON2ID, NULL);
	/* the PHC string names the variant; Dovecot (libsodium) accepts
	 * either under either scheme name, and so do we */
	PW_VECTOR("{ARGON2I}" V_ARGON2ID, NULL);
	PW_VECTOR("{ARGON2ID}" V_ARGON2I, NULL);
}

TEST(password_argon2_malformed)
{
	/* costs out of bounds are refused before running: 4 GiB, 1000
	 * passes, 255 lanes, zeros, overflow */
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4194304,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=1048577,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4096,t=1000,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=255$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=0,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4096,t=0,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=18446744073709555712,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	/* shape: parameter order, missing fields, extra fields, versions */
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$t=3,m=4096,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4096,t=3$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}" V_ARGON2ID "$x", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=18$m=4096,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$ARGON2ID$v=19$m=4096,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL), -1);
	/* argon2d is not a Dovecot scheme */
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}" V_ARGON2D, NULL), -1);
	/* damaged salt or hash encoding, truncated hash */
	CHECK(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjx*g", NULL) != 1);
	CHECK(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZX*hbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUg", NULL) != 1);
	CHECK(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFo", NULL) != 1);
	CHECK(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxNmJ5dGVzIQ$GHETaF18/pgFNvIUPNEn4DkuXsXhKmlFoY+fzWFjxUh", NULL) != 1);
	/* m below 8 * p is refused by libargon2 */
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID}$argon2id$v=19$m=8,t=1,p=2$c29tZXNhbHQxNmJ5dGVzIQ$1viYNAwCtUoh+PQ9arAGOur5FNjKqR9Gal+VZS6NGE4", NULL), -1);
	/* argon2 takes no encoding suffix */
	CHECK_INTEQ(pw_verify(PW, "{ARGON2ID.B64}" V_ARGON2ID, NULL), -1);
}

/* --- PLAIN ---------------------------------------------------------- */

TEST(password_plain)
{
	PW_VECTOR("{PLAIN}" PW, NULL);
	PW_VECTOR("{CLEARTEXT}" PW, NULL);
	PW_VECTOR("{plain}" PW, NULL);
	/* python3: base64.b64encode(b'Tr0ub4dor&3'), b'Tr0ub4dor&3'.hex() */
	PW_VECTOR("{PLAIN.B64}VHIwdWI0ZG9yJjM=", NULL);
	PW_VECTOR("{PLAIN.HEX}547230756234646f722633", NULL);
	/* the part after the first '}' is the password, braces and all */
	CHECK_INTEQ(pw_verify("a}b{", "{PLAIN}a}b{", NULL), 1);
	/* binary-safe: an embedded NUL is part of the password */
	const char *err;
	CHECK_INTEQ(password_verify("a\0b", 3, "{PLAIN.HEX}610062", NULL, &err), 1);
	CHECK_INTEQ(password_verify("a", 1, "{PLAIN.HEX}610062", NULL, &err), 0);
	CHECK_INTEQ(pw_verify(PW, "{PLAIN.HEX}54723", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{PLAIN.B64}VHIwdWI0ZG9yJjM", NULL), -1);
}

/* --- generic -------------------------------------------------------- */

TEST(password_empty_and_unknown)
{
	const char *err = NULL;
	static const char *const never[] = {
		"", "{PLAIN}", "{CLEARTEXT}", "{CRYPT}", "{SHA512-CRYPT}",
		"{SSHA512}", "{SHA}", "{ARGON2ID}", "{PLAIN.HEX}",
	};

	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		CHECK_INTEQ(pw_verify("", never[i], NULL), -1);
		CHECK_INTEQ(pw_verify("", never[i], "PLAIN"), -1);
		CHECK_INTEQ(pw_verify(PW, never[i], "CRYPT"), -1);
	}
	CHECK_INTEQ(password_verify("", 0, NULL, "PLAIN", &err), -1);
	CHECK(err != NULL);
	/* unknown schemes, including an empty name */
	CHECK_INTEQ(pw_verify(PW, "{NOPE}" PW, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{}" PW, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{MD5}" V_MD5_CRYPT, NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{PLAIN-MD5}abc", NULL), -1);
	CHECK_INTEQ(pw_verify(PW, "{SHA512-CRYPTX}" V_SHA512_CRYPT, NULL), -1);
	/* an unterminated '{' is no prefix (as in Dovecot) */
	CHECK_INTEQ(pw_verify("{PLAIN" PW, "{PLAIN" PW, "PLAIN"), 1);
	CHECK_INTEQ(pw_verify(PW, "{PLAIN" PW, NULL), -1);
}

TEST(password_stored_too_long)
{
	char big[2100];

	memcpy(big, "{PLAIN}", 7);
	memset(big + 7, 'a', sizeof(big) - 8);
	big[sizeof(big) - 1] = '\0';
	CHECK_INTEQ(pw_verify(big + 7, big, NULL), -1);
}

TEST(password_error_strings_are_clean)
{
	const char *err = NULL;

	/* error texts never echo the password or the stored value */
	CHECK_INTEQ(password_verify(PW, strlen(PW), "{SHA}" V_SHA256, NULL,
				    &err), -1);
	REQUIRE(err != NULL);
	CHECK(strstr(err, "SEhu") == NULL && strstr(err, PW) == NULL);
	CHECK_INTEQ(password_verify("x", 1, "{SHA}" V_SHA, NULL, &err), 0);
	REQUIRE(err != NULL);
	CHECK(strstr(err, "h0Vy") == NULL);
}

TEST(password_scheme_names)
{
	static const char *const known[] = {
		"CRYPT", "YESCRYPT", "SHA512-CRYPT", "SHA256-CRYPT",
		"BLF-CRYPT", "MD5-CRYPT", "SHA", "SHA1", "SHA256", "SHA512",
		"SSHA", "SSHA256", "SSHA512", "ARGON2I", "ARGON2ID", "PLAIN",
		"CLEARTEXT", "sha512-crypt", "Argon2id", "SHA256.HEX",
		"ssha512.b64", "PLAIN.BASE64",
	};
	static const char *const unknown[] = {
		"", "NOPE", "MD5", "SHA512-CRYPT.HEX", "ARGON2ID.HEX",
		"SHA256.XYZ", "SHA256.", ".HEX", "CRYPT ", "ARGON2D",
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		CHECK(password_scheme_known(known[i]));
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		CHECK(!password_scheme_known(unknown[i]));
	CHECK(password_scheme_can_hash(PASSWORD_DEFAULT_SCHEME));
	CHECK(password_scheme_can_hash("ssha512"));
	CHECK(!password_scheme_can_hash("SHA256"));
	CHECK(!password_scheme_can_hash("PLAIN"));
	CHECK(!password_scheme_can_hash("CRYPT"));
	CHECK(!password_scheme_can_hash("SSHA512.HEX"));

	/* hashing takes names case-insensitively too */
	const char *err;
	char *h = NULL;
	REQUIRE(password_hash(PW, "sha512-crypt", &h, &err) == 0);
	CHECK(strncmp(h, "{SHA512-CRYPT}$6$", 17) == 0);
	free(h);
}

/* --- hashing new passwords ------------------------------------------ */

/* Hash and verify several passwords with scheme. significant: how many
 * bytes of the password the scheme reads (bcrypt: 72), 0 for all. */
static void pw_roundtrip(const char *scheme, const char *prefix,
			 size_t significant, int line)
{
	static const char *const plains[] = {
		PW, "", "pässwörd ünïcode",
		/* 200 bytes: past bcrypt's 72 */
		"0123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789",
	};
	const char *err = NULL;
	char *h1 = NULL, *h2 = NULL, m[256];

	for (size_t i = 0; i < sizeof(plains) / sizeof(plains[0]); i++) {
		const char *p = plains[i];
		if (password_hash(p, scheme, &h1, &err) != 0) {
			snprintf(m, sizeof(m), "hash %s: %s", scheme, err);
			test_fail(__FILE__, line, m);
			return;
		}
		if (strncmp(h1, prefix, strlen(prefix)) != 0) {
			snprintf(m, sizeof(m), "%s: %.60s lacks %s", scheme, h1,
				 prefix);
			test_fail(__FILE__, line, m);
		}
		size_t len = strlen(p);
		bool cut_differs = len > 0 &&
				   (significant == 0 || len <= significant);
		if (password_verify(p, len, h1, NULL, &err) != 1 ||
		    password_verify("wrong", 5, h1, NULL, &err) != 0 ||
		    (cut_differs &&
		     password_verify(p, len - 1, h1, NULL, &err) != 0)) {
			snprintf(m, sizeof(m), "%s: round trip %zu", scheme, i);
			test_fail(__FILE__, line, m);
		}
		/* fresh salt every time */
		if (i == 0) {
			REQUIRE(password_hash(p, scheme, &h2, &err) == 0);
			if (strcmp(h1, h2) == 0)
				test_fail(__FILE__, line, "same hash twice");
			free(h2);
		}
		free(h1);
	}
}

TEST(password_hash_roundtrip)
{
	pw_roundtrip("YESCRYPT", "{CRYPT}$y$", 0, __LINE__);
	pw_roundtrip("SHA512-CRYPT", "{SHA512-CRYPT}$6$", 0, __LINE__);
	pw_roundtrip("SHA256-CRYPT", "{SHA256-CRYPT}$5$", 0, __LINE__);
	pw_roundtrip("BLF-CRYPT", "{BLF-CRYPT}$2y$10$", 72, __LINE__);
	pw_roundtrip("ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=32768,t=2,p=1$",
		     0, __LINE__);
	pw_roundtrip("ARGON2I", "{ARGON2I}$argon2i$v=19$m=19456,t=4,p=1$", 0,
		     __LINE__);
	pw_roundtrip("SSHA512", "{SSHA512}", 0, __LINE__);
}

TEST(password_hash_refuses)
{
	const char *err = NULL;
	char *h = NULL;

	static const char *const no[] = {
		"SHA", "SHA512", "SSHA", "PLAIN", "CLEARTEXT", "MD5-CRYPT",
		"CRYPT", "NOPE", "", "SSHA512.HEX", "ARGON2D",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		CHECK_INTEQ(password_hash(PW, no[i], &h, &err), -1);
		CHECK(h == NULL);
	}
	char big[600];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INTEQ(password_hash(big, "SHA512-CRYPT", &h, &err), -1);
	CHECK(h == NULL);
}

/* --- auth cache ----------------------------------------------------- */

#define S1 "{CRYPT}" V_YESCRYPT
#define S2 "{SHA512-CRYPT}" V_SHA512_CRYPT

TEST(auth_cache_hit_and_miss)
{
	struct auth_cache *c = auth_cache_create(10);

	CHECK(!auth_cache_check(c, "alice", PW, strlen(PW), S1, 1000));
	auth_cache_add(c, "alice", PW, strlen(PW), S1, 1000, 60000);
	CHECK_INTEQ(auth_cache_count(c), 1);
	CHECK(auth_cache_check(c, "alice", PW, strlen(PW), S1, 1000));
	CHECK(auth_cache_check(c, "alice", PW, strlen(PW), S1, 60999));
	/* wrong password, user, or a password that is a prefix */
	CHECK(!auth_cache_check(c, "alice", "Tr0ub4dor&4", 11, S1, 2000));
	CHECK(!auth_cache_check(c, "alice", PW, strlen(PW) - 1, S1, 2000));
	CHECK(!auth_cache_check(c, "Alice", PW, strlen(PW), S1, 2000));
	CHECK(!auth_cache_check(c, "bob", PW, strlen(PW), S1, 2000));
	/* the stored hash changed in the directory */
	CHECK(!auth_cache_check(c, "alice", PW, strlen(PW), S2, 2000));
	/* the NUL separators keep fields apart */
	auth_cache_add(c, "ab", "c", 1, S1, 1000, 60000);
	CHECK(!auth_cache_check(c, "a", "bc", 2, S1, 2000));
	CHECK(auth_cache_check(c, "ab", "c", 1, S1, 2000));
	auth_cache_destroy(&c);
	CHECK(c == NULL);
	auth_cache_destroy(&c);
}

TEST(auth_cache_ttl_expiry)
{
	struct auth_cache *c = auth_cache_create(10);

	auth_cache_add(c, "alice", PW, strlen(PW), S1, 1000, 500);
	CHECK(auth_cache_check(c, "alice", PW, strlen(PW), S1, 1499));
	CHECK(!auth_cache_check(c, "alice", PW, strlen(PW), S1, 1500));
	CHECK_INTEQ(auth_cache_count(c), 0);	/* removed when found expired */
	/* re-adding renews */
	auth_cache_add(c, "alice", PW, strlen(PW), S1, 2000, 500);
	auth_cache_add(c, "alice", PW, strlen(PW), S1, 2400, 500);
	CHECK_INTEQ(auth_cache_count(c), 1);
	CHECK(auth_cache_check(c, "alice", PW, strlen(PW), S1, 2800));
	/* ttl 0 caches nothing */
	auth_cache_add(c, "bob", PW, strlen(PW), S1, 3000, 0);
	CHECK(!auth_cache_check(c, "bob", PW, strlen(PW), S1, 3000));
	/* a huge ttl saturates instead of overflowing into the past */
	auth_cache_add(c, "carol", PW, strlen(PW), S1, 3000, INT64_MAX);
	CHECK(auth_cache_check(c, "carol", PW, strlen(PW), S1, INT64_MAX - 1));
	auth_cache_destroy(&c);
}

TEST(auth_cache_eviction)
{
	struct auth_cache *c = auth_cache_create(3);

	/* full of live entries: the oldest goes */
	auth_cache_add(c, "a", PW, strlen(PW), S1, 0, 1000);
	auth_cache_add(c, "b", PW, strlen(PW), S1, 1, 1000);
	auth_cache_add(c, "c", PW, strlen(PW), S1, 2, 1000);
	auth_cache_add(c, "d", PW, strlen(PW), S1, 3, 1000);
	CHECK_INTEQ(auth_cache_count(c), 3);
	CHECK(!auth_cache_check(c, "a", PW, strlen(PW), S1, 4));
	CHECK(auth_cache_check(c, "b", PW, strlen(PW), S1, 4));
	CHECK(auth_cache_check(c, "c", PW, strlen(PW), S1, 4));
	CHECK(auth_cache_check(c, "d", PW, strlen(PW), S1, 4));
	auth_cache_flush(c);
	CHECK_INTEQ(auth_cache_count(c), 0);
	CHECK(!auth_cache_check(c, "d", PW, strlen(PW), S1, 4));

	/* an expired entry goes before older live ones */
	auth_cache_add(c, "a", PW, strlen(PW), S1, 0, 10000);
	auth_cache_add(c, "b", PW, strlen(PW), S1, 1, 5);
	auth_cache_add(c, "c", PW, strlen(PW), S1, 2, 10000);
	auth_cache_add(c, "d", PW, strlen(PW), S1, 10, 10000);
	CHECK_INTEQ(auth_cache_count(c), 3);
	CHECK(auth_cache_check(c, "a", PW, strlen(PW), S1, 11));
	CHECK(auth_cache_check(c, "c", PW, strlen(PW), S1, 11));
	CHECK(auth_cache_check(c, "d", PW, strlen(PW), S1, 11));
	/* with mixed ttls, the one that expires first goes */
	auth_cache_add(c, "e", PW, strlen(PW), S1, 12, 10000);
	CHECK(!auth_cache_check(c, "a", PW, strlen(PW), S1, 13));
	CHECK_INTEQ(auth_cache_count(c), 3);
	auth_cache_destroy(&c);
}

TEST(auth_cache_many)
{
	struct auth_cache *c = auth_cache_create(1000);
	char user[32];

	for (int i = 0; i < 5000; i++) {
		snprintf(user, sizeof(user), "user%d", i);
		auth_cache_add(c, user, PW, strlen(PW), S1, i, 100000);
	}
	CHECK_INTEQ(auth_cache_count(c), 1000);
	int hits = 0;
	for (int i = 0; i < 5000; i++) {
		snprintf(user, sizeof(user), "user%d", i);
		hits += auth_cache_check(c, user, PW, strlen(PW), S1, 5000);
	}
	CHECK_INTEQ(hits, 1000);
	CHECK(auth_cache_check(c, "user4999", PW, strlen(PW), S1, 5000));
	CHECK(!auth_cache_check(c, "user3999", PW, strlen(PW), S1, 5000));
	/* everything expires */
	CHECK(!auth_cache_check(c, "user4999", PW, strlen(PW), S1, 200000));
	auth_cache_add(c, "x", PW, strlen(PW), S1, 200000, 1);
	CHECK_INTEQ(auth_cache_count(c), 1);
	auth_cache_destroy(&c);
}

TEST(auth_cache_disabled)
{
	struct auth_cache *c = auth_cache_create(0);

	auth_cache_add(c, "alice", PW, strlen(PW), S1, 0, 60000);
	CHECK(!auth_cache_check(c, "alice", PW, strlen(PW), S1, 0));
	CHECK_INTEQ(auth_cache_count(c), 0);
	auth_cache_flush(c);
	auth_cache_destroy(&c);
	CHECK(c == NULL);
}

TEST(auth_cache_keys_differ_per_instance)
{
	struct auth_cache *a = auth_cache_create(4), *b = auth_cache_create(4);

	/* two caches never share entries (each has its own random key) */
	auth_cache_add(a, "alice", PW, strlen(PW), S1, 0, 100);
	CHECK(auth_cache_check(a, "alice", PW, strlen(PW), S1, 1));
	CHECK(!auth_cache_check(b, "alice", PW, strlen(PW), S1, 1));
	auth_cache_destroy(&a);
	auth_cache_destroy(&b);
}
