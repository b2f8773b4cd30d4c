/* probe: answers questions from inside a container for the integration
 * tests. Each command prints plain values on stdout, one answer per line,
 * so that a shell test can compare them with a fixed string. The binary is
 * static: it runs in a busybox rootfs with no libc of its own.
 *
 * Exit status: 0 when the question was answered, 1 when it could not be
 * (the reason goes to stderr), 2 on a usage error. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "probe: %s: %s\n", what, strerror(errno));
	return 1;
}

/* The errno's symbolic name (EROFS), which tests compare; the message
 * depends on the libc. */
static const char *errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "EUNKNOWN";
}

static int cat_filtered(const char *path, const char *const *prefixes)
{
	FILE *f = fopen(path, "re");
	char line[4096];

	if (!f)
		return fail(path);
	while (fgets(line, sizeof(line), f)) {
		if (!prefixes) {
			fputs(line, stdout);
			continue;
		}
		for (const char *const *p = prefixes; *p; p++)
			if (strncmp(line, *p, strlen(*p)) == 0)
				fputs(line, stdout);
	}
	fclose(f);
	return 0;
}

static int cmd_caps(void)
{
	static const char *const keys[] = {
		"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", NULL};
	return cat_filtered("/proc/self/status", keys);
}

static int cmd_status_line(const char *key)
{
	const char *const keys[] = {key, NULL};
	return cat_filtered("/proc/self/status", keys);
}

static int cmd_ids(void)
{
	gid_t groups[256];
	int n = getgroups(256, groups);

	if (n < 0)
		return fail("getgroups");
	printf("%u %u", (unsigned)getuid(), (unsigned)getgid());
	for (int i = 0; i < n; i++)
		printf("%c%u", i == 0 ? ' ' : ',', (unsigned)groups[i]);
	putchar('\n');
	return 0;
}

static int cmd_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return fail("/proc/self/fd");
	while ((de = readdir(d))) {
		char link[64], target[PATH_MAX];
		ssize_t len;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd == dirfd(d))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		printf("%d %s\n", fd, target);
	}
	closedir(d);
	return 0;
}

static int cmd_cwd(void)
{
	char buf[PATH_MAX];

	if (!getcwd(buf, sizeof(buf)))
		return fail("getcwd");
	puts(buf);
	return 0;
}

static int cmd_hostname(void)
{
	struct utsname u;

	if (uname(&u) < 0)
		return fail("uname");
	puts(u.nodename);
	return 0;
}

static int cmd_env(const char *name)
{
	const char *v = getenv(name);

	if (!v)
		return 1;
	puts(v);
	return 0;
}

/* Fields of one mountinfo line: 5 is the mount point, then after the
 * " - " separator the fs type and the super options. */
struct mntline {
	char *point, *opts, *fstype, *source, *superopts;
};

static int split_mountinfo(char *line, struct mntline *m)
{
	char *save = NULL, *tok, *sep;
	int i = 0;

	sep = strstr(line, " - ");
	if (!sep)
		return -1;
	*sep = '\0';
	for (tok = strtok_r(line, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save), i++) {
		if (i == 4)
			m->point = tok;
		else if (i == 5)
			m->opts = tok;
	}
	m->fstype = strtok_r(sep + 3, " \n", &save);
	m->source = strtok_r(NULL, " \n", &save);
	m->superopts = strtok_r(NULL, " \n", &save);
	return m->point && m->opts && m->fstype ? 0 : -1;
}

/* With path NULL prints every mount point; otherwise prints "fstype
 * mountopts superopts" of the topmost mount at path. */
static int cmd_mounts(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], found[4096] = "";

	if (!f)
		return fail("/proc/self/mountinfo");
	while (fgets(line, sizeof(line), f)) {
		struct mntline m = {0};

		if (split_mountinfo(line, &m) < 0)
			continue;
		if (!path)
			puts(m.point);
		else if (strcmp(m.point, path) == 0)
			snprintf(found, sizeof(found), "%s %s %s", m.fstype,
				 m.opts, m.superopts ? m.superopts : "-");
	}
	fclose(f);
	if (!path)
		return 0;
	if (!found[0]) {
		fprintf(stderr, "probe: no mount at %s\n", path);
		return 1;
	}
	puts(found);
	return 0;
}

static int cmd_nnp(void)
{
	int r = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);

	if (r < 0)
		return fail("PR_GET_NO_NEW_PRIVS");
	printf("%d\n", r);
	return 0;
}

static const struct {
	const char *name;
	int resource;
} rlimits[] = {
	{"AS", RLIMIT_AS},
	{"CORE", RLIMIT_CORE},
	{"CPU", RLIMIT_CPU},
	{"DATA", RLIMIT_DATA},
	{"FSIZE", RLIMIT_FSIZE},
	{"LOCKS", RLIMIT_LOCKS},
	{"MEMLOCK", RLIMIT_MEMLOCK},
	{"MSGQUEUE", RLIMIT_MSGQUEUE},
	{"NICE", RLIMIT_NICE},
	{"NOFILE", RLIMIT_NOFILE},
	{"NPROC", RLIMIT_NPROC},
	{"RSS", RLIMIT_RSS},
	{"RTPRIO", RLIMIT_RTPRIO},
	{"RTTIME", RLIMIT_RTTIME},
	{"SIGPENDING", RLIMIT_SIGPENDING},
	{"STACK", RLIMIT_STACK},
};

static void print_rlim(rlim_t v)
{
	if (v == RLIM_INFINITY)
		fputs("unlimited", stdout);
	else
		printf("%llu", (unsigned long long)v);
}

static int cmd_rlimit(const char *name)
{
	struct rlimit rl;

	if (strncmp(name, "RLIMIT_", 7) == 0)
		name += 7;
	for (size_t i = 0; i < sizeof(rlimits) / sizeof(rlimits[0]); i++) {
		if (strcmp(rlimits[i].name, name) != 0)
			continue;
		if (getrlimit(rlimits[i].resource, &rl) < 0)
			return fail("getrlimit");
		print_rlim(rl.rlim_cur);
		putchar(' ');
		print_rlim(rl.rlim_max);
		putchar('\n');
		return 0;
	}
	fprintf(stderr, "probe: unknown rlimit %s\n", name);
	return 2;
}

static int cmd_sleep(const char *secs)
{
	double s = strtod(secs, NULL);
	struct timespec ts = {.tv_sec = (time_t)s,
			      .tv_nsec = (long)((s - (time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

/* Blocked signals reach even a pid-namespace init, which ignores every
 * signal it has no handler for. */
static int cmd_signal_wait(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return fail("sigprocmask");
	puts("ready");
	fflush(stdout);
	do
		sig = sigwaitinfo(&set, NULL);
	while (sig < 0 && errno == EINTR);
	if (sig < 0)
		return fail("sigwaitinfo");
	printf("SIG%s\n", sigabbrev_np(sig));
	return 0;
}

static int cmd_write(const char *path)
{
	struct stat st;
	int fd;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		char file[PATH_MAX];

		snprintf(file, sizeof(file), "%s/.probe-write", path);
		fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			unlink(file);
	} else {
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	}
	if (fd < 0) {
		puts(errname(errno));
		return 0;
	}
	if (write(fd, "probe\n", 6) < 0) {
		puts(errname(errno));
		close(fd);
		return 0;
	}
	close(fd);
	puts("ok");
	return 0;
}

static int cmd_read(const char *path)
{
	char c;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		puts(errname(errno));
		return 0;
	}
	if (read(fd, &c, 1) < 0 && errno != EISDIR) {
		puts(errname(errno));
		close(fd);
		return 0;
	}
	close(fd);
	puts("ok");
	return 0;
}

static const char *ftype(mode_t m)
{
	if (S_ISREG(m))
		return "reg";
	if (S_ISDIR(m))
		return "dir";
	if (S_ISCHR(m))
		return "chr";
	if (S_ISBLK(m))
		return "blk";
	if (S_ISLNK(m))
		return "lnk";
	if (S_ISFIFO(m))
		return "fifo";
	if (S_ISSOCK(m))
		return "sock";
	return "unknown";
}

/* "type major:minor mode uid:gid"; major:minor is the device number for
 * device nodes and 0:0 for anything else. */
static int cmd_stat(const char *path)
{
	struct stat st;
	dev_t rdev;

	if (lstat(path, &st) < 0) {
		puts(errname(errno));
		return 1;
	}
	rdev = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? st.st_rdev : 0;
	printf("%s %u:%u %04o %u:%u\n", ftype(st.st_mode), major(rdev),
	       minor(rdev), (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
	       (unsigned)st.st_gid);
	return 0;
}

static int cmd_ns(void)
{
	static const char *const names[] = {
		"cgroup", "ipc",
		"mnt",	  "net",
		"pid",	  "pid_for_children",
		"time",	  "time_for_children",
		"user",	  "uts",
		NULL,
	};

	for (const char *const *n = names; *n; n++) {
		char link[64], target[128];
		ssize_t len;

		snprintf(link, sizeof(link), "/proc/self/ns/%s", *n);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		printf("%s %s\n", *n, target);
	}
	return 0;
}

static int cmd_tty(void)
{
	for (int fd = 0; fd < 3; fd++)
		printf("%d %s\n", fd, isatty(fd) ? "tty" : "notty");
	return 0;
}

static int cmd_umask(void)
{
	mode_t m = umask(0);

	printf("%04o\n", (unsigned)m);
	return 0;
}

static int usage(void)
{
	fputs("usage: probe caps|ids|fds|cwd|cgroup|hostname|mounts|nnp|pid|"
	      "ppid|ns|tty|umask|seccomp|signal-wait\n"
	      "       probe env NAME|mount PATH|rlimit NAME|exit N|sleep SECS|"
	      "write PATH|read PATH|stat PATH|syscall N\n",
	      stderr);
	return 2;
}

static int run_noarg(const char *cmd)
{
	if (strcmp(cmd, "caps") == 0)
		return cmd_caps();
	if (strcmp(cmd, "ids") == 0)
		return cmd_ids();
	if (strcmp(cmd, "fds") == 0)
		return cmd_fds();
	if (strcmp(cmd, "cwd") == 0)
		return cmd_cwd();
	if (strcmp(cmd, "cgroup") == 0)
		return cat_filtered("/proc/self/cgroup", NULL);
	if (strcmp(cmd, "hostname") == 0)
		return cmd_hostname();
	if (strcmp(cmd, "mounts") == 0)
		return cmd_mounts(NULL);
	if (strcmp(cmd, "nnp") == 0)
		return cmd_nnp();
	if (strcmp(cmd, "pid") == 0)
		return printf("%d\n", (int)getpid()) < 0;
	if (strcmp(cmd, "ppid") == 0)
		return printf("%d\n", (int)getppid()) < 0;
	if (strcmp(cmd, "ns") == 0)
		return cmd_ns();
	if (strcmp(cmd, "tty") == 0)
		return cmd_tty();
	if (strcmp(cmd, "umask") == 0)
		return cmd_umask();
	if (strcmp(cmd, "seccomp") == 0)
		return cmd_status_line("Seccomp:");
	if (strcmp(cmd, "signal-wait") == 0)
		return cmd_signal_wait();
	return usage();
}

/* syscall N: makes syscall N with no arguments and prints "ok" or the
 * errno's name-free number and text ("38 Function not implemented"). */
static int cmd_syscall(const char *arg)
{
	long r = syscall(atol(arg), 0, 0, 0, 0, 0, 0);
	if (r < 0)
		return printf("%d %s\n", errno, strerror(errno)) < 0;
	return printf("ok\n") < 0;
}

static int run_arg(const char *cmd, const char *arg)
{
	if (strcmp(cmd, "env") == 0)
		return cmd_env(arg);
	if (strcmp(cmd, "mount") == 0)
		return cmd_mounts(arg);
	if (strcmp(cmd, "rlimit") == 0)
		return cmd_rlimit(arg);
	if (strcmp(cmd, "exit") == 0)
		return atoi(arg);
	if (strcmp(cmd, "sleep") == 0)
		return cmd_sleep(arg);
	if (strcmp(cmd, "write") == 0)
		return cmd_write(arg);
	if (strcmp(cmd, "read") == 0)
		return cmd_read(arg);
	if (strcmp(cmd, "stat") == 0)
		return cmd_stat(arg);
	if (strcmp(cmd, "syscall") == 0)
		return cmd_syscall(arg);
	return usage();
}

int main(int argc, char **argv)
{
	int r;

	if (argc == 2)
		r = run_noarg(argv[1]);
	else if (argc == 3)
		r = run_arg(argv[1], argv[2]);
	else
		r = usage();
	if (fflush(stdout) != 0)
		return 1;
	return r;
}
