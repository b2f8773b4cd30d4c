/* One dnsmasq per network, answering the network's container names from a
 * hosts directory, one file per container: started on demand, found again
 * by its pid file and checked through /proc and a pidfd. dnsmasq watches
 * the directory (inotify): a file renamed in is read, one removed is
 * forgotten, dot files (the temporary names) are skipped, so a container
 * that comes or goes costs one small file, not a rewrite of every name and
 * a reload. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "netns/netns-internal.h"

#define DNSMASQ "/usr/sbin/dnsmasq"
#define DNS_PID_FILE "dnsmasq.pid"
#define DNS_STOPPING_FILE "dnsmasq.pid.stopping" /* told to stop */
#define DNS_HOSTS_DIR "hosts.d"
#define DNS_LOG_FILE "dnsmasq.log"
#define DNS_ERR_FILE "dnsmasq.err" /* its stderr: startup errors */
#define DNS_LOCK_FILE "dnsmasq.lock"
#define DNS_START_MS 10000
#define DNS_STOP_MS 5000

/* ---- names and paths ---------------------------------------------------- */

/* A host name dnsmasq can answer: labels of [A-Za-z0-9_-] joined by dots,
 * none empty or longer than 63, 253 bytes in all. */
static bool dns_name_ok(const char *s)
{
	size_t len = strlen(s), label = 0;
	if (len == 0 || len > NSN_DNS_NAME_MAX)
		return false;
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63)
				return false;
			if (*p == '\0')
				return true;
			label = 0;
		} else if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR"
				  "STUV"
				  "WXYZ0123456789-_",
				  *p)) {
			label++;
		} else {
			return false;
		}
	}
}

/* The state dir goes into dnsmasq's options: absolute, and none of the
 * bytes its option parser splits on. */
static int check_dir(const char *dir, struct berr *err)
{
	if (!dir || dir[0] != '/' || strlen(dir) > 512)
		return berr_setx(err, EINVAL,
				 "DNS state directory %s: not an "
				 "absolute path",
				 dir ? dir : "(null)");
	for (const char *p = dir; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == ',' || *p == 0x7f)
			return berr_setx(err, EINVAL,
					 "DNS state directory %s: a space, "
					 "comma or control byte",
					 dir);
	return 0;
}

/* Canonical text of an IPv4 or IPv6 address into out; false if not one. */
static bool ip_canon(const char *s, char *out, size_t len)
{
	unsigned char a[16];
	int fam = strchr(s, ':') ? AF_INET6 : AF_INET;
	return inet_pton(fam, s, a) == 1 &&
	       inet_ntop(fam, a, out, (socklen_t)len) != NULL;
}

static char *dir_file(const char *dir, const char *name)
{
	return base_sprintf("%s/%s", dir, name);
}

/* ---- the hosts directory ------------------------------------------------
 */

/* state_dir/hosts.d, made when missing; an open fd of it. */
static int hosts_dir(const char *state_dir, struct berr *err)
{
	_cleanup_free_ char *path = dir_file(state_dir, DNS_HOSTS_DIR);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return berr_set(err, errno, "create %s", path);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? berr_set(err, errno, "open %s", path) : fd;
}

/* The file of key: a name of its own, never a dot file (dnsmasq skips
 * those) nor a path. */
static int check_key(const char *state_dir, const char *key, struct berr *err)
{
	int ret = check_dir(state_dir, err);
	if (ret == 0 && (!key || !nsn_id_ok(key)))
		ret = berr_setx(err, EINVAL,
				"DNS hosts of %s: `%s` is not a container "
				"name",
				state_dir, key ? key : "");
	return ret;
}

/* "IP NAME" lines of hosts into *text; -EINVAL for a bad entry. */
static int hosts_text(const char *state_dir, const struct nsn_dns_host *hosts,
		      size_t n, char **text, size_t *len, struct berr *err)
{
	FILE *f = open_memstream(text, len);
	if (!f)
		return berr_set(err, errno, "DNS hosts of %s", state_dir);
	for (size_t i = 0; i < n; i++) {
		char ip[INET6_ADDRSTRLEN];
		if (!memchr(hosts[i].name, '\0', sizeof(hosts[i].name)) ||
		    !dns_name_ok(hosts[i].name) ||
		    !memchr(hosts[i].ip, '\0', sizeof(hosts[i].ip)) ||
		    !ip_canon(hosts[i].ip, ip, sizeof(ip))) {
			fclose(f);
			free(*text);
			*text = NULL;
			return berr_setx(err, EINVAL,
					 "DNS hosts of %s: entry %zu is not "
					 "a host name and an address",
					 state_dir, i);
		}
		fprintf(f, "%s %s\n", ip, hosts[i].name);
	}
	fclose(f);
	return 0;
}

int nsn_dns_hosts_put(const char *state_dir, const char *key,
		      const struct nsn_dns_host *hosts, size_t n,
		      struct berr *err)
{
	int ret = check_key(state_dir, key, err);
	if (ret < 0)
		return ret;
	if (n == 0)
		return nsn_dns_hosts_drop(state_dir, key, err);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	ret = hosts_text(state_dir, hosts, n, &text, &len, err);
	if (ret < 0)
		return ret;
	_cleanup_close_ int dfd = hosts_dir(state_dir, err);
	if (dfd < 0)
		return dfd;
	/* 0644: dnsmasq may read it as another user */
	ret = base_write_file_atomic(dfd, key, text, len, 0644);
	if (ret < 0)
		return berr_set(err, -ret, "write %s/" DNS_HOSTS_DIR "/%s",
				state_dir, key);
	return 0;
}

int nsn_dns_hosts_drop(const char *state_dir, const char *key, struct berr *err)
{
	int ret = check_key(state_dir, key, err);
	if (ret < 0)
		return ret;
	_cleanup_free_ char *path =
		base_sprintf("%s/" DNS_HOSTS_DIR "/%s", state_dir, key);
	if (unlink(path) < 0 && errno != ENOENT)
		return berr_set(err, errno, "remove %s", path);
	return 0;
}

size_t nsn_dns_hosts_count(const char *state_dir)
{
	_cleanup_free_ char *path = dir_file(state_dir, DNS_HOSTS_DIR);
	_cleanup_closedir_ DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;
	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	return n;
}

/* ---- finding the server ------------------------------------------------- */

/* dnsmasq's argument vector for d, NULL-terminated, freed by the caller. */
static char **dns_argv(const struct nsn_dns *d)
{
	char **v = NULL;
	const char *dir = d->state_dir;
	char *a[] = {
		base_strdup(DNSMASQ),
		base_strdup("--conf-file=/dev/null"),
		base_sprintf("--pid-file=%s/" DNS_PID_FILE, dir),
		base_sprintf("--log-facility=%s/" DNS_LOG_FILE, dir),
		/* root: the hosts files are read as this user, and the
		 * caller's state dir need not be open to others */
		base_strdup("--user=root"),
		base_strdup("--no-hosts"),
		base_sprintf("--hostsdir=%s/" DNS_HOSTS_DIR, dir),
		base_strdup("--no-resolv"),
		base_strdup("--domain-needed"),
		base_strdup("--bind-interfaces"),
		base_sprintf("--interface=%s", d->bridge),
		/* --interface would add lo: the host's 127.0.0.1:53 is
		 * not this network's */
		base_strdup("--except-interface=lo"),
		base_sprintf("--listen-address=%s", d->listen_ip),
	};
	for (size_t i = 0; i < ARRAY_SIZE(a); i++) {
		base_strv_push(&v, a[i]);
		free(a[i]);
	}
	for (size_t i = 0; i < d->n_upstream; i++) {
		_cleanup_free_ char *s =
			base_sprintf("--server=%s", d->upstream[i]);
		base_strv_push(&v, s);
	}
	return v;
}

/* /proc/PID/cmdline as a NUL-separated buffer; NULL when unreadable or
 * empty (a zombie). */
static char *proc_cmdline(pid_t pid, size_t *len)
{
	_cleanup_free_ char *path = base_sprintf("/proc/%d/cmdline", (int)pid);
	char *buf = NULL;
	if (base_read_file_at(AT_FDCWD, path, &buf, len, 65536) < 0)
		return NULL;
	if (*len == 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static bool cmdline_has(const char *buf, size_t len, const char *arg)
{
	for (size_t off = 0; off < len; off += strlen(buf + off) + 1)
		if (!strcmp(buf + off, arg))
			return true;
	return false;
}

static bool cmdline_is(const char *buf, size_t len, char **argv)
{
	size_t off = 0;
	for (char **a = argv; *a; a++) {
		if (off >= len || strcmp(buf + off, *a))
			return false;
		off += strlen(*a) + 1;
	}
	return off == len;
}

/* The pid of pid file name in dir, or 0. */
static int pid_of(const char *dir, const char *name)
{
	_cleanup_free_ char *pidf = dir_file(dir, name);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int pid = 0;
	if (base_read_file_at(AT_FDCWD, pidf, &text, &len, 64) < 0)
		return 0;
	text[strcspn(text, "\n")] = '\0';
	return base_parse_int(text, &pid) == 0 && pid > 1 ? pid : 0;
}

/* Whether pid is a process on its way out (PF_EXITING, in the flags of
 * /proc/PID/stat: the ninth field). */
static bool exiting(int pid)
{
	_cleanup_free_ char *path = base_sprintf("/proc/%d/stat", pid);
	_cleanup_free_ char *text = NULL;
	unsigned long flags = 0;
	if (base_read_file_at(AT_FDCWD, path, &text, NULL, 4096) < 0)
		return false;
	const char *p = strrchr(text, ')');
	return p &&
	       sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) == 1 &&
	       (flags & 0x4); /* PF_EXITING */
}

/* A pidfd of the dnsmasq whose pid file is in dir, when that process is
 * alive and is a dnsmasq started with that pid file (a pid reused by any
 * other process is not it; one on its way out is not either); -ESRCH
 * otherwise. *same tells whether it runs with exactly argv (when argv is
 * given). */
static int dns_find(const char *dir, char **argv, bool *same)
{
	_cleanup_free_ char *pidf = dir_file(dir, DNS_PID_FILE);
	size_t len = 0;
	int pid = pid_of(dir, DNS_PID_FILE);
	if (!pid)
		return -ESRCH;
	/* the pidfd first: what is checked below is then the process it
	 * names, or a dead one that signals cannot reach */
	_cleanup_close_ int pfd = pidfd_open(pid, 0);
	if (pfd < 0 || exiting(pid))
		return -ESRCH;
	_cleanup_free_ char *exe_link = base_sprintf("/proc/%d/exe", pid);
	char exe[256];
	ssize_t n = readlink(exe_link, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	_cleanup_free_ char *want = base_sprintf("--pid-file=%s", pidf);
	_cleanup_free_ char *cmd = proc_cmdline(pid, &len);
	if (!cmd || !strstr(exe, "dnsmasq") || !cmdline_has(cmd, len, want))
		return -ESRCH;
	if (same)
		*same = argv && cmdline_is(cmd, len, argv);
	return TAKE_FD(pfd);
}

bool nsn_dns_running(const char *state_dir)
{
	if (check_dir(state_dir, NULL) < 0)
		return false;
	_cleanup_close_ int pfd = dns_find(state_dir, NULL, NULL);
	return pfd >= 0;
}

/* ---- stopping --------------------------------------------------------- */

static int lock_open(const char *dir, struct berr *err)
{
	_cleanup_free_ char *path = dir_file(dir, DNS_LOCK_FILE);
	_cleanup_close_ int fd =
		open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berr_set(err, errno, "open %s", path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return berr_set(err, errno, "lock %s", path);
	return TAKE_FD(fd);
}

/* True when the process of pfd has ended within ms. */
static bool wait_exit(int pfd, int ms)
{
	struct pollfd p = {.fd = pfd, .events = POLLIN};
	int r;
	while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	return r == 1;
}

/* SIGTERM, then SIGKILL when it does not go within DNS_STOP_MS. */
static int dns_kill(int pfd, const char *dir, struct berr *err)
{
	if (pidfd_send_signal(pfd, SIGTERM, NULL, 0) < 0 && errno != ESRCH)
		return berr_set(err, errno, "stop dnsmasq of %s", dir);
	if (!wait_exit(pfd, DNS_STOP_MS)) {
		pidfd_send_signal(pfd, SIGKILL, NULL, 0);
		if (!wait_exit(pfd, DNS_STOP_MS))
			return berr_setx(err, ETIMEDOUT,
					 "stop dnsmasq of %s: still running",
					 dir);
	}
	return 0;
}

/* Waits for the end of a server told to stop before (its sockets close
 * last), by the pid its stop left: while that process is on its way out
 * or still a dnsmasq of dir (a pid reused by another is not waited for). */
static int wait_stopping(const char *dir, struct berr *err)
{
	int pid = pid_of(dir, DNS_STOPPING_FILE);
	_cleanup_free_ char *stopping = dir_file(dir, DNS_STOPPING_FILE);
	_cleanup_close_ int pfd = pid ? pidfd_open(pid, 0) : -1;
	_cleanup_free_ char *want =
		base_sprintf("--pid-file=%s/" DNS_PID_FILE, dir);
	size_t len = 0;
	_cleanup_free_ char *cmd = pfd >= 0 ? proc_cmdline(pid, &len) : NULL;
	if (pfd >= 0 &&
	    (exiting(pid) || (cmd && cmdline_has(cmd, len, want)))) {
		int ret = dns_kill(pfd, dir, err);
		if (ret < 0)
			return ret;
	}
	if (unlink(stopping) < 0 && errno != ENOENT)
		return berr_set(err, errno, "remove %s", stopping);
	return 0;
}

/* Stops what runs: SIGTERM, and with wait its end (SIGKILL after
 * DNS_STOP_MS), then the pid file goes. Without wait, the pid file
 * becomes the stopping file, so that a start waits for its end (a dnsmasq
 * takes 9-12 ms to exit here, most of it the kernel's teardown of its
 * directory watch). Under the lock. */
static int dns_stop_locked(const char *dir, bool wait, struct berr *err)
{
	int ret = wait ? wait_stopping(dir, err) : 0;
	if (ret < 0)
		return ret;
	_cleanup_close_ int pfd = dns_find(dir, NULL, NULL);
	if (pfd >= 0 && !wait) {
		_cleanup_free_ char *pidf = dir_file(dir, DNS_PID_FILE);
		_cleanup_free_ char *stopping =
			dir_file(dir, DNS_STOPPING_FILE);
		/* renamed first: dnsmasq removes its pid file as it ends */
		if (rename(pidf, stopping) < 0)
			return berr_set(err, errno, "rename %s", pidf);
		if (pidfd_send_signal(pfd, SIGTERM, NULL, 0) < 0 &&
		    errno != ESRCH)
			return berr_set(err, errno, "stop dnsmasq of %s", dir);
		return 0;
	}
	if (pfd >= 0) {
		ret = dns_kill(pfd, dir, err);
		if (ret < 0)
			return ret;
	}
	_cleanup_free_ char *pidf = dir_file(dir, DNS_PID_FILE);
	if (unlink(pidf) < 0 && errno != ENOENT)
		return berr_set(err, errno, "remove %s", pidf);
	return 0;
}

static int dns_stop(const char *state_dir, bool wait, struct berr *err)
{
	int ret = check_dir(state_dir, err);
	if (ret < 0)
		return ret;
	_cleanup_free_ char *pidf = dir_file(state_dir, DNS_PID_FILE);
	_cleanup_free_ char *stopping = dir_file(state_dir, DNS_STOPPING_FILE);
	if (access(pidf, F_OK) < 0 && errno == ENOENT &&
	    (!wait || (access(stopping, F_OK) < 0 && errno == ENOENT)))
		return 0;
	_cleanup_close_ int lock = lock_open(state_dir, err);
	if (lock < 0)
		return lock;
	return dns_stop_locked(state_dir, wait, err);
}

int nsn_dns_stop(const char *state_dir, struct berr *err)
{
	return dns_stop(state_dir, false, err);
}

int nsn_dns_stop_wait(const char *state_dir, struct berr *err)
{
	return dns_stop(state_dir, true, err);
}

/* ---- starting --------------------------------------------------------- */

static int check_dns(const struct nsn_dns *d, struct berr *err)
{
	int ret = check_dir(d->state_dir, err);
	if (ret < 0)
		return ret;
	char ip[INET6_ADDRSTRLEN];
	if (!d->bridge || !nsn_ifname_ok(d->bridge))
		return berr_setx(err, EINVAL,
				 "DNS server of %s: bad bridge "
				 "name",
				 d->state_dir);
	if (!d->listen_ip || !ip_canon(d->listen_ip, ip, sizeof(ip)))
		return berr_setx(err, EINVAL,
				 "DNS server of %s: bad listen "
				 "address",
				 d->state_dir);
	for (size_t i = 0; i < d->n_upstream; i++)
		if (!d->upstream[i] ||
		    !ip_canon(d->upstream[i], ip, sizeof(ip)))
			return berr_setx(err, EINVAL,
					 "DNS server of %s: upstream %zu is "
					 "not an address",
					 d->state_dir, i);
	if (access(DNSMASQ, X_OK) < 0)
		return berr_set(err, errno,
				"DNS server of %s: " DNSMASQ
				" (Debian: dnsmasq-base)",
				d->state_dir);
	return 0;
}

/* What dnsmasq printed before it gave up, on one line. */
static char *start_error(const char *dir, int status)
{
	_cleanup_free_ char *path = dir_file(dir, DNS_ERR_FILE);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (base_read_file_at(AT_FDCWD, path, &text, &len, 4096) < 0 || !len)
		return WIFEXITED(status)
			       ? base_sprintf("exit status %d",
					      WEXITSTATUS(status))
			       : base_sprintf("signal %d", WTERMSIG(status));
	while (len && strchr("\n ", text[len - 1]))
		text[--len] = '\0';
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < ' ')
			*p = ' ';
	size_t lead = strspn(text, " ");
	memmove(text, text + lead, len - lead + 1);
	return TAKE_PTR(text);
}

/* Runs dnsmasq, which forks its daemon (in a new session, with default
 * signals, no fds of ours but /dev/null and the error file) and exits when
 * that one is listening; returns its exit status. */
static int dns_spawn(char **argv, const char *dir, int *status)
{
	_cleanup_free_ char *errf = dir_file(dir, DNS_ERR_FILE);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, errf,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETSID);
	char *env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	pid_t pid;
	int r = posix_spawn(&pid, argv[0], &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r)
		return -r;
	_cleanup_close_ int pfd = pidfd_open(pid, 0);
	if (pfd >= 0 && !wait_exit(pfd, DNS_START_MS))
		kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int dns_start(const struct nsn_dns *d, char **argv, struct berr *err)
{
	const char *dir = d->state_dir;
	_cleanup_close_ int hfd = hosts_dir(dir, err);
	if (hfd < 0)
		return hfd;
	int status = 0;
	int ret = dns_spawn(argv, dir, &status);
	if (ret < 0)
		return berr_set(err, -ret, "DNS server on %s: run " DNSMASQ,
				d->listen_ip);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		_cleanup_free_ char *why = start_error(dir, status);
		return berr_setx(err, EIO, "DNS server on %s (%s): %s",
				 d->listen_ip, d->bridge, why);
	}
	_cleanup_close_ int pfd = dns_find(dir, argv, NULL);
	if (pfd < 0)
		return berr_setx(err, ESRCH,
				 "DNS server on %s (%s): dnsmasq started but "
				 "its pid file %s/" DNS_PID_FILE
				 " names no server",
				 d->listen_ip, d->bridge, dir);
	return 0;
}

int nsn_dns_ensure(const struct nsn_dns *d, struct berr *err)
{
	int ret = check_dns(d, err);
	if (ret < 0)
		return ret;
	_cleanup_close_ int lock = lock_open(d->state_dir, err);
	if (lock < 0)
		return lock;
	_cleanup_strv_ char **argv = dns_argv(d);
	bool same = false;
	_cleanup_close_ int pfd = dns_find(d->state_dir, argv, &same);
	/* it watches its hosts directory itself */
	if (pfd >= 0 && same)
		return 0;
	/* not running, running with other options, or a stale pid file */
	ret = dns_stop_locked(d->state_dir, true, err);
	if (ret < 0)
		return ret;
	return dns_start(d, argv, err);
}
