#ifndef YOUJU_TLS_H
#define YOUJU_TLS_H
/*
 * TLS server contexts with one policy for every listener: TLS 1.2 or later
 * (RFC 8996, RFC 8314), no renegotiation, no compression, AEAD + (EC)DHE
 * cipher suites for TLS 1.2 (RFC 9325), server cipher preference.
 * Certificate and key are read when the context is created, so a role can
 * create it as root before it chroots and drops privileges.
 */
#include <openssl/ssl.h>

#include "buf.h"

/* NULL with *error_r (malloc'd) when the files cannot be loaded or do not match. */
SSL_CTX *tls_server_ctx_create(const char *cert_file, const char *key_file, char **error_r);
/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" for Received: and logs */
void tls_describe(SSL *ssl, buf_t *out);
/* Short form for logs: "TLSv1.3:TLS_AES_256_GCM_SHA384" */
void tls_describe_short(SSL *ssl, buf_t *out);

#endif
