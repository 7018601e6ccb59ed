/* Base64, RFC 4648 section 4, with a strict decoder (see base64.h). */
#include <stdint.h>
#include <string.h>
#include "base64.h"

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t n)
{
	size_t groups = n / 3 + (n % 3 != 0);

	if (groups > SIZE_MAX / 4)
		return SIZE_MAX;
	return groups * 4;
}

int base64_encode(buf_t *dst, const void *src, size_t n)
{
	const unsigned char *p = src;
	size_t outlen = base64_encoded_len(n);

	if (outlen == SIZE_MAX || buf_reserve(dst, outlen) < 0)
		return -1;
	char *out = dst->data + dst->used;
	for (size_t i = 0; i < n; i += 3) {
		size_t left = n - i;
		uint32_t v = (uint32_t)p[i] << 16;
		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		*out++ = base64_alphabet[(v >> 18) & 63];
		*out++ = base64_alphabet[(v >> 12) & 63];
		*out++ = left > 1 ? base64_alphabet[(v >> 6) & 63] : '=';
		*out++ = left > 2 ? base64_alphabet[v & 63] : '=';
	}
	dst->used += outlen;
	dst->data[dst->used] = '\0';
	return 0;
}

/* Value of one alphabet character, or -1. */
static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Number of '=' at the end of a non-empty, 4-aligned input (0..2), or -1 if
 * the padding is malformed ("===" or more). */
static int base64_padding(const char *src, size_t len)
{
	int pad = 0;

	while (pad < 3 && src[len - 1 - (size_t)pad] == '=')
		pad++;
	return pad > 2 ? -1 : pad;
}

/* Decode one 4-character group into out (3 - pad bytes). Returns -1 on a
 * bad character or on non-zero bits under the padding (RFC 4648 3.5). */
static int base64_decode_group(const char *in, int pad, unsigned char *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		int d = i < 4 - pad ? base64_value((unsigned char)in[i]) : 0;
		if (d < 0)
			return -1;
		v = (v << 6) | (uint32_t)d;
	}
	if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
		return -1;
	out[0] = (unsigned char)(v >> 16);
	if (pad < 2)
		out[1] = (unsigned char)(v >> 8);
	if (pad < 1)
		out[2] = (unsigned char)v;
	return 0;
}

int base64_decode(buf_t *dst, const char *src, size_t len)
{
	if (len == 0)
		return 0;
	if (len % 4 != 0)
		return -1;
	int pad = base64_padding(src, len);
	if (pad < 0)
		return -1;
	size_t outlen = len / 4 * 3 - (size_t)pad;
	if (buf_reserve(dst, outlen) < 0)
		return -1;

	unsigned char *out = (unsigned char *)dst->data + dst->used;
	for (size_t i = 0; i < len; i += 4) {
		int group_pad = i + 4 == len ? pad : 0;
		if (base64_decode_group(src + i, group_pad, out) < 0) {
			/* dst->used was not advanced: dst is unchanged, but
			 * wipe what was written, it may be a secret */
			explicit_bzero(dst->data + dst->used, outlen);
			return -1;
		}
		out += 3 - group_pad;
	}
	dst->used += outlen;
	dst->data[dst->used] = '\0';
	return 0;
}
