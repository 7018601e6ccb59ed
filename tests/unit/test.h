#ifndef YOUJU_TEST_H
#define YOUJU_TEST_H
/*
 * A tiny unit-test harness. Each TEST() registers itself at load time, so a
 * test file needs no list to edit. Inside a test, CHECK() records a failure
 * and goes on; REQUIRE() records and leaves the test.
 */
#include <stdio.h>
#include <string.h>
#include <stdbool.h>

struct test_case {
	const char *name;
	const char *file;
	void (*fn)(void);
	struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail(const char *file, int line, const char *expr);
extern bool test_current_failed;

#define TEST(name_)                                                      \
	static void test_fn_##name_(void);                               \
	static struct test_case test_case_##name_ = {                    \
		#name_, __FILE__, test_fn_##name_, NULL };               \
	__attribute__((constructor)) static void test_reg_##name_(void)  \
	{ test_register(&test_case_##name_); }                           \
	static void test_fn_##name_(void)

#define CHECK(expr) do { if (!(expr)) test_fail(__FILE__, __LINE__, #expr); } while (0)
#define REQUIRE(expr) do { if (!(expr)) { test_fail(__FILE__, __LINE__, #expr); return; } } while (0)
#define CHECK_STREQ(a, b) do {                                                    \
	const char *a_ = (a), *b_ = (b);                                          \
	if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                    \
		char m_[512];                                                     \
		snprintf(m_, sizeof(m_), "%s == %s (\"%s\" vs \"%s\")", #a, #b,   \
			 a_ ? a_ : "(null)", b_ ? b_ : "(null)");                 \
		test_fail(__FILE__, __LINE__, m_);                                \
	}                                                                         \
} while (0)
#define CHECK_INTEQ(a, b) do {                                                    \
	long long a_ = (long long)(a), b_ = (long long)(b);                       \
	if (a_ != b_) {                                                           \
		char m_[512];                                                     \
		snprintf(m_, sizeof(m_), "%s == %s (%lld vs %lld)", #a, #b, a_, b_); \
		test_fail(__FILE__, __LINE__, m_);                                \
	}                                                                         \
} while (0)

/* A fresh empty temporary directory for this test (removed at exit). */
const char *test_tmpdir(void);

#endif
