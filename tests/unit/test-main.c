/* Runs the registered tests, each in its own process so that a crash or a
 * failed assertion in one does not stop the others. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/test.h"

static struct test_case *g_tests;

/* Tests end with _exit(), where LeakSanitizer does not run by itself: ask
 * it explicitly in sanitizer builds (the symbol is weak elsewhere). */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

void test_register(struct test_case *t)
{
	/* keep source order: constructors run in order, append at the end */
	struct test_case **p = &g_tests;
	while (*p)
		p = &(*p)->next;
	*p = t;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(1);
}

void test_skip(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "    skipped: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(77);
}

static bool selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	for (struct test_case *t = g_tests; t; t = t->next) {
		if (!selected(t->name, argc, argv))
			continue;
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			t->fn();
			fflush(NULL);
			if (__lsan_do_recoverable_leak_check &&
			    __lsan_do_recoverable_leak_check())
				_exit(1);
			_exit(0);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			printf("ok   %s\n", t->name);
			passed++;
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
			printf("skip %s\n", t->name);
			skipped++;
		} else {
			printf("FAIL %s%s\n", t->name,
			       WIFSIGNALED(st) ? " (crashed)" : "");
			failed++;
		}
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
