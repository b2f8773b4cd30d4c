/* Signal names for `berth kill`. Like runc, names are matched without
 * regard to case and with or without the "SIG" prefix; a decimal number is
 * taken as is. Real-time signals are named RTMIN, RTMIN+N, RTMAX-N and
 * RTMAX, relative to the C library's SIGRTMIN/SIGRTMAX. */
#include <ctype.h>
#include <signal.h>
#include <string.h>

#include "runtime/runtime.h"

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{"ABRT", SIGABRT},     {"ALRM", SIGALRM},     {"BUS", SIGBUS},
	{"CHLD", SIGCHLD},     {"CLD", SIGCHLD},      {"CONT", SIGCONT},
	{"FPE", SIGFPE},       {"HUP", SIGHUP},	      {"ILL", SIGILL},
	{"INT", SIGINT},       {"IO", SIGIO},	      {"IOT", SIGIOT},
	{"KILL", SIGKILL},     {"PIPE", SIGPIPE},     {"POLL", SIGPOLL},
	{"PROF", SIGPROF},     {"PWR", SIGPWR},	      {"QUIT", SIGQUIT},
	{"SEGV", SIGSEGV},     {"STKFLT", SIGSTKFLT}, {"STOP", SIGSTOP},
	{"SYS", SIGSYS},       {"TERM", SIGTERM},     {"TRAP", SIGTRAP},
	{"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},
	{"URG", SIGURG},       {"USR1", SIGUSR1},     {"USR2", SIGUSR2},
	{"VTALRM", SIGVTALRM}, {"WINCH", SIGWINCH},   {"XCPU", SIGXCPU},
	{"XFSZ", SIGXFSZ},
};

/* "RTMIN", "RTMIN+3", "RTMAX-2", "RTMAX" (already upper-cased). */
static int parse_rt(const char *s, int *sig)
{
	int base, sign;
	if (base_str_has_prefix(s, "RTMIN")) {
		base = SIGRTMIN;
		sign = 1;
	} else if (base_str_has_prefix(s, "RTMAX")) {
		base = SIGRTMAX;
		sign = -1;
	} else {
		return -EINVAL;
	}
	s += 5;
	int off = 0;
	if (*s) {
		if (*s != (sign > 0 ? '+' : '-') ||
		    !isdigit((unsigned char)s[1]))
			return -EINVAL;
		if (base_parse_int(s + 1, &off) < 0)
			return -EINVAL;
	}
	int v = base + sign * off;
	if (v < SIGRTMIN || v > SIGRTMAX)
		return -EINVAL;
	*sig = v;
	return 0;
}

int rt_parse_signal(const char *s, int *sig)
{
	int n;
	if (!s || !*s)
		return -EINVAL;
	if (isdigit((unsigned char)*s)) {
		/* 0 sends nothing: kill's check that the init is alive */
		if (base_parse_int(s, &n) < 0 || n < 0 || n > SIGRTMAX)
			return -EINVAL;
		*sig = n;
		return 0;
	}
	char up[32];
	size_t i;
	for (i = 0; s[i] && i + 1 < sizeof(up); i++)
		up[i] = (char)toupper((unsigned char)s[i]);
	if (s[i])
		return -EINVAL;
	up[i] = '\0';
	const char *name = base_str_has_prefix(up, "SIG") ? up + 3 : up;
	for (size_t j = 0; j < ARRAY_SIZE(signals); j++) {
		if (!strcmp(name, signals[j].name)) {
			*sig = signals[j].sig;
			return 0;
		}
	}
	return parse_rt(name, sig);
}
