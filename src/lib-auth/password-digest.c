/*
 * Plain digest schemes, Dovecot's format: {SHA256} is base64(SHA256(pw)),
 * {SSHA256} is base64(SHA256(pw || salt) || salt) with the salt being
 * whatever follows the digest (RFC 2307-style salted hashes). Also PLAIN.
 */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "base64.h"
#include "buf.h"
#include "password-private.h"

/* Salt length for new SSHA* hashes (Dovecot writes 4 bytes, reads any). */
#define PASSWORD_DIGEST_SALT_BYTES 16

static int password_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Append the bytes of an even-length hex string to dst. 0 / -1 (dst is
 * then unchanged, and what was written is wiped). */
static int password_hex_decode(buf_t *dst, const char *src, size_t len)
{
	size_t start = dst->used;

	if (len % 2 != 0 || buf_reserve(dst, len / 2) < 0)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int hi = password_hex_value(src[i]);
		int lo = password_hex_value(src[i + 1]);
		if (hi < 0 || lo < 0) {
			explicit_bzero(dst->data + start, dst->used - start);
			buf_truncate(dst, start);
			return -1;
		}
		buf_append_byte(dst, (char)(hi << 4 | lo));
	}
	return 0;
}

/* A buffer for decoded stored values, allocated once at its full size so
 * that no realloc leaves copies of secrets behind. */
static void password_raw_init(buf_t *raw)
{
	buf_init(raw, PASSWORD_STORED_MAX);
	buf_reserve(raw, PASSWORD_STORED_MAX);
}

/* Decode value into raw. Without a suffix, Dovecot reads base64 except that
 * an unsalted digest exactly twice the digest length long is hex. */
static int password_digest_decode(const struct password_scheme *s,
				  const char *value, enum password_encoding enc,
				  buf_t *raw)
{
	size_t len = strlen(value);

	if (enc == PASSWORD_ENC_HEX)
		return password_hex_decode(raw, value, len);
	if (enc == PASSWORD_ENC_DEFAULT && !s->salted &&
	    len == s->digest_len * 2 &&
	    password_hex_decode(raw, value, len) == 0)
		return 0;
	return base64_decode(raw, value, len);
}

/* out = md(a || b); out must hold EVP_MAX_MD_SIZE. 0 / -1. */
static int password_digest2(const EVP_MD *md, const void *a, size_t alen,
			    const void *b, size_t blen, unsigned char *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int outlen;
	int ok = ctx != NULL &&
		 EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
		 EVP_DigestUpdate(ctx, a, alen) == 1 &&
		 EVP_DigestUpdate(ctx, b, blen) == 1 &&
		 EVP_DigestFinal_ex(ctx, out, &outlen) == 1;

	EVP_MD_CTX_free(ctx);	/* cleanses the hash state */
	return ok ? 0 : -1;
}

/* Compare digest(plain || raw[digest_len..]) with raw[0..digest_len). */
static int password_digest_compare(const struct password_scheme *s,
				   const char *plain, size_t plain_len,
				   const buf_t *raw, const char **error_r)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	const char *salt = raw->data + s->digest_len;
	size_t salt_len = raw->used - s->digest_len;

	if (password_digest2(s->md(), plain, plain_len, salt, salt_len,
			     digest) < 0) {
		*error_r = "digest computation failed";
		return -1;
	}
	bool eq = password_equal(digest, s->digest_len, raw->data,
				 s->digest_len);
	explicit_bzero(digest, sizeof(digest));
	return eq ? 1 : 0;
}

int password_digest_verify(const struct password_scheme *s, const char *plain,
			   size_t plain_len, const char *value,
			   enum password_encoding enc, const char **error_r)
{
	buf_t raw;
	int ret;

	password_raw_init(&raw);
	if (password_digest_decode(s, value, enc, &raw) < 0) {
		*error_r = "stored digest is not valid base64 or hex";
		ret = -1;
	} else if (!s->salted && raw.used != s->digest_len) {
		*error_r = "stored digest has the wrong length";
		ret = -1;
	} else if (s->salted && raw.used <= s->digest_len) {
		/* like Dovecot, an empty salt is malformed too */
		*error_r = "stored salted digest is too short";
		ret = -1;
	} else {
		ret = password_digest_compare(s, plain, plain_len, &raw,
					      error_r);
	}
	buf_free_secret(&raw);
	return ret;
}

int password_digest_hash(const struct password_scheme *s, const char *plain,
			 char **hash_r, const char **error_r)
{
	unsigned char raw[EVP_MAX_MD_SIZE + PASSWORD_DIGEST_SALT_BYTES];
	unsigned char *salt = raw + s->digest_len;
	buf_t out;

	if (password_random(salt, PASSWORD_DIGEST_SALT_BYTES) < 0) {
		*error_r = "random number generator failed";
		return -1;
	}
	if (password_digest2(s->md(), plain, strlen(plain), salt,
			     PASSWORD_DIGEST_SALT_BYTES, raw) < 0) {
		*error_r = "digest computation failed";
		return -1;
	}
	buf_init(&out, 0);
	buf_printf(&out, "{%s}", s->name);
	base64_encode(&out, raw, s->digest_len + PASSWORD_DIGEST_SALT_BYTES);
	explicit_bzero(raw, sizeof(raw));
	*hash_r = out.data;
	return 0;
}

static int password_plain_decode(const char *value,
				 enum password_encoding enc, buf_t *raw)
{
	size_t len = strlen(value);

	switch (enc) {
	case PASSWORD_ENC_HEX:
		return password_hex_decode(raw, value, len);
	case PASSWORD_ENC_BASE64:
		return base64_decode(raw, value, len);
	case PASSWORD_ENC_DEFAULT:
		break;
	}
	return buf_append(raw, value, len);
}

/* PLAIN: compare SHA-256 of both sides so neither the content nor the
 * length of the stored password leaks through timing. */
int password_plain_verify(const struct password_scheme *s, const char *plain,
			  size_t plain_len, const char *value,
			  enum password_encoding enc, const char **error_r)
{
	unsigned char d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE];
	buf_t raw;
	int ret;

	(void)s;
	password_raw_init(&raw);
	if (password_plain_decode(value, enc, &raw) < 0) {
		*error_r = "stored password is not valid base64 or hex";
		ret = -1;
	} else if (password_digest2(EVP_sha256(), plain, plain_len, "", 0,
				    d1) < 0 ||
		   password_digest2(EVP_sha256(), raw.data, raw.used, "", 0,
				    d2) < 0) {
		*error_r = "digest computation failed";
		ret = -1;
	} else {
		ret = password_equal(d1, SHA256_DIGEST_LENGTH, d2,
				     SHA256_DIGEST_LENGTH) ? 1 : 0;
	}
	explicit_bzero(d1, sizeof(d1));
	explicit_bzero(d2, sizeof(d2));
	buf_free_secret(&raw);
	return ret;
}
