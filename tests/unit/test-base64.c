#include "test.h"
#include "base64.h"
#include "buf.h"

/* RFC 4648 section 10 test vectors. */
static const struct {
	const char *plain, *enc;
} base64_rfc4648[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

TEST(base64_encode_rfc4648)
{
	for (size_t i = 0; i < sizeof(base64_rfc4648) / sizeof(base64_rfc4648[0]); i++) {
		buf_t b;
		buf_init(&b, 0);
		const char *p = base64_rfc4648[i].plain;
		REQUIRE(base64_encode(&b, p, strlen(p)) == 0);
		CHECK_STREQ(buf_cstr(&b), base64_rfc4648[i].enc);
		CHECK_INTEQ(base64_encoded_len(strlen(p)), strlen(base64_rfc4648[i].enc));
		buf_free(&b);
	}
}

TEST(base64_decode_rfc4648)
{
	for (size_t i = 0; i < sizeof(base64_rfc4648) / sizeof(base64_rfc4648[0]); i++) {
		buf_t b;
		buf_init(&b, 0);
		const char *e = base64_rfc4648[i].enc;
		REQUIRE(base64_decode(&b, e, strlen(e)) == 0);
		CHECK_INTEQ(b.used, strlen(base64_rfc4648[i].plain));
		CHECK_STREQ(buf_cstr(&b), base64_rfc4648[i].plain);
		buf_free(&b);
	}
}

TEST(base64_binary_roundtrip)
{
	unsigned char all[256];
	buf_t enc, dec;

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)(255 - i);
	for (size_t n = 0; n <= sizeof(all); n++) {
		buf_init(&enc, 0);
		buf_init(&dec, 0);
		REQUIRE(base64_encode(&enc, all, n) == 0);
		CHECK_INTEQ(enc.used, base64_encoded_len(n));
		REQUIRE(base64_decode(&dec, enc.data, enc.used) == 0);
		CHECK_INTEQ(dec.used, n);
		CHECK(n == 0 || memcmp(dec.data, all, n) == 0);
		buf_free(&enc);
		buf_free(&dec);
	}
}

TEST(base64_decode_rejects)
{
	static const char *const bad[] = {
		"Z", "Zg", "Zg=", "Zm9vY", "Zm9vYg=",	/* length not 4k */
		"Zg===", "====", "A===",		/* too much padding */
		"=Zg=", "Z=g=", "Zm=v",			/* '=' not at the end */
		"Zg==Zg==", "Zm8=Zm9v",			/* padding mid-input */
		"Zm9v\n", "Zm 9v", " Zm9v", "Zm9v\r\n",	/* whitespace */
		"Zm9-", "Zm9_", "Zm9*", "Zm9\x80",	/* outside the alphabet */
		"Zh==", "Zm9=",				/* non-zero pad bits */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_t b;
		buf_init(&b, 0);
		buf_append_cstr(&b, "keep");
		if (base64_decode(&b, bad[i], strlen(bad[i])) != -1) {
			char m[64];
			snprintf(m, sizeof(m), "rejects bad input #%zu", i);
			test_fail(__FILE__, __LINE__, m);
		}
		/* a failed decode leaves dst as it was */
		CHECK_STREQ(buf_cstr(&b), "keep");
		buf_free(&b);
	}
}

TEST(base64_decode_embedded_nul)
{
	buf_t b;

	buf_init(&b, 0);
	CHECK(base64_decode(&b, "Zg\0=", 4) == -1);
	REQUIRE(base64_decode(&b, "AGEA", 4) == 0);	/* "\0a\0" */
	CHECK_INTEQ(b.used, 3);
	CHECK(memcmp(b.data, "\0a\0", 3) == 0);
	buf_free(&b);
}

TEST(base64_respects_buf_max)
{
	buf_t b;

	/* "foobar" decodes to exactly 6 bytes: max 6 fits, max 5 does not */
	buf_init(&b, 6);
	CHECK(base64_decode(&b, "Zm9vYmFy", 8) == 0);
	buf_free(&b);
	buf_init(&b, 5);
	CHECK(base64_decode(&b, "Zm9vYmFy", 8) == -1);
	CHECK_INTEQ(b.used, 0);
	buf_free(&b);
	buf_init(&b, 8);
	CHECK(base64_encode(&b, "foobar", 6) == 0);	/* exactly 8 chars */
	CHECK(base64_encode(&b, "f", 1) == -1);		/* 4 more do not fit */
	CHECK_STREQ(buf_cstr(&b), "Zm9vYmFy");
	buf_free(&b);
}
