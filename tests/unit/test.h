/* A tiny unit-test harness: TEST(name) registers itself, ASSERT_* macros
 * report file:line and end the test. test-main.c runs every test (or those
 * named on the command line) and prints "N passed, N failed". */
#ifndef BERTH_TEST_H
#define BERTH_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
	struct test_case *next;
};

void test_register(struct test_case *t);
void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
/* Skips the running test with a reason (e.g. not root). */
void test_skip(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#define TEST(name)                                                             \
	static void test_##name(void);                                         \
	static struct test_case tc_##name = {#name, test_##name, NULL};        \
	__attribute__((constructor)) static void reg_##name(void)              \
	{                                                                      \
		test_register(&tc_##name);                                     \
	}                                                                      \
	static void test_##name(void)

#define ASSERT_TRUE(c)                                                         \
	do {                                                                   \
		if (!(c))                                                      \
			test_fail(__FILE__, __LINE__, "expected %s", #c);      \
	} while (0)
#define ASSERT_EQ(a, b)                                                        \
	do {                                                                   \
		long long _a = (long long)(a), _b = (long long)(b);            \
		if (_a != _b)                                                  \
			test_fail(__FILE__, __LINE__,                          \
				  "%s == %s: %lld != %lld", #a, #b, _a, _b);   \
	} while (0)
#define ASSERT_STREQ(a, b)                                                     \
	do {                                                                   \
		const char *_a = (a), *_b = (b);                               \
		if (!_a || !_b || strcmp(_a, _b))                              \
			test_fail(__FILE__, __LINE__,                          \
				  "%s == %s: \"%s\" != \"%s\"", #a, #b,        \
				  _a ? _a : "(null)", _b ? _b : "(null)");     \
	} while (0)
#define ASSERT_CONTAINS(hay, needle)                                           \
	do {                                                                   \
		const char *_h = (hay), *_n = (needle);                        \
		if (!_h || !strstr(_h, _n))                                    \
			test_fail(__FILE__, __LINE__,                          \
				  "\"%s\" does not contain \"%s\"",            \
				  _h ? _h : "(null)", _n);                     \
	} while (0)

#endif
