#include <openssl/err.h>

#include "tls.h"
#include "xalloc.h"

/* TLS 1.2 suites: ECDHE/DHE with AEAD only (RFC 9325 4.2). TLS 1.3 suites
 * are all AEAD; OpenSSL's defaults stand. */
#define TLS12_CIPHERS                                                           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"            \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"            \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"            \
	"DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256"

static char *openssl_error(const char *what, const char *file)
{
	char buf[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return xasprintf("%s %s: %s", what, file, e ? buf : "unknown error");
}

SSL_CTX *tls_server_ctx_create(const char *cert_file, const char *key_file, char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*error_r = openssl_error("cannot create TLS context for", cert_file);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		*error_r = openssl_error("cannot set cipher list for", cert_file);
		goto fail;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"youju", 5);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		*error_r = openssl_error("cannot load certificate", cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		*error_r = openssl_error("cannot load private key", key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = openssl_error("private key does not match", cert_file);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void tls_describe(SSL *ssl, buf_t *out)
{
	int alg = 0;
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int bits = c ? SSL_CIPHER_get_bits(c, &alg) : 0;
	buf_printf(out, "%s with cipher %s (%d/%d bits)", SSL_get_version(ssl),
		   c ? SSL_CIPHER_get_name(c) : "?", bits, alg);
}

void tls_describe_short(SSL *ssl, buf_t *out)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	buf_printf(out, "%s:%s", SSL_get_version(ssl), c ? SSL_CIPHER_get_name(c) : "?");
}
