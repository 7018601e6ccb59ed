#ifndef YOUJU_BASE64_H
#define YOUJU_BASE64_H
/*
 * Base64 with the standard alphabet and '=' padding (RFC 4648 section 4),
 * as used by SASL (RFC 4954) and by Dovecot-style password hashes.
 *
 * The decoder is strict, so that every accepted input has exactly one
 * meaning: the length must be a multiple of 4, only alphabet characters may
 * appear, '=' may appear only as the last one or two characters, and the
 * unused bits before the padding must be zero (RFC 4648 section 3.5 allows a
 * decoder to reject them). No whitespace or line breaks are accepted.
 */
#include <stddef.h>
#include "buf.h"

/* Exact encoded length of n bytes: 4 * ceil(n / 3). SIZE_MAX on overflow. */
size_t base64_encoded_len(size_t n);

/* Append the encoding of src[0..n) to dst. Returns 0, or -1 if dst's
 * maximum would be exceeded (dst is then unchanged). */
int base64_encode(buf_t *dst, const void *src, size_t n);

/* Decode src[0..len) and append the bytes to dst. The output size is
 * computed exactly from the input before anything is written. Returns 0, or
 * -1 for invalid input or if dst's maximum would be exceeded (dst is then
 * unchanged). The empty input is valid and decodes to nothing. */
int base64_decode(buf_t *dst, const char *src, size_t len);

#endif
