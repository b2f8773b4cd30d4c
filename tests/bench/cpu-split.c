/* bench-cpu-split: runs a command and writes, to the file named first,
 * "WALL SELF CHILDREN" in seconds: its wall time, the CPU time (user +
 * sys) of the command's own process, and that of the descendants it
 * waited for. The split is read from /proc/PID/stat once the command has
 * exited and before it is reaped (waitid with WNOWAIT), so the command's
 * own share excludes its children, which getrusage(RUSAGE_CHILDREN) of a
 * parent cannot tell apart. Used by tests/bench/par.sh to put a
 * coordinator's own CPU (berth par, GNU parallel, xargs) next to its
 * workers'. The command's stdin, stdout and stderr are left as they are;
 * the exit status is the command's (128 + N: killed by signal N).
 *
 *   bench-cpu-split OUT COMMAND [ARG...] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fields 14-17 of /proc/PID/stat: utime, stime, cutime, cstime (ticks). */
static int read_times(pid_t pid, double *self, double *children)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* the command's name may hold spaces and parentheses: fields start
	 * after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EPROTO;
	unsigned long long ut, st, cut, cst;
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime cutime cstime */
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
		   "%llu %llu",
		   &ut, &st, &cut, &cst) != 4)
		return -EPROTO;
	double hz = (double)sysconf(_SC_CLK_TCK);
	*self = (double)(ut + st) / hz;
	*children = (double)(cut + cst) / hz;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr,
			"usage: bench-cpu-split OUT COMMAND [ARG...]\n");
		return 2;
	}
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0) {
		perror("bench-cpu-split: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "bench-cpu-split: %s: %s\n", argv[2],
			strerror(errno));
		_exit(127);
	}
	siginfo_t si;
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0)
		if (errno != EINTR) {
			perror("bench-cpu-split: waitid");
			return 1;
		}
	double wall = now_s() - t0, self = 0, children = 0;
	int r = read_times(pid, &self, &children);
	int st;
	waitpid(pid, &st, 0);
	if (r < 0) {
		fprintf(stderr, "bench-cpu-split: /proc/%d/stat: %s\n",
			(int)pid, strerror(-r));
		return 1;
	}
	FILE *out = fopen(argv[1], "we");
	if (!out ||
	    fprintf(out, "%.3f %.3f %.3f\n", wall, self, children) < 0 ||
	    fclose(out) != 0) {
		perror("bench-cpu-split: write");
		return 1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
