/* The default security profile of a container made from an image, with the
 * effect of Docker's defaults so that images behave as they do there:
 * 14 capabilities, no_new_privs, /proc and /sys paths masked or read-only,
 * and a seccomp profile that denies (EPERM) every system call outside an
 * allow-list.
 *
 * The seccomp allow-list depends on the capabilities: a call that only a
 * capability makes useful (mount with CAP_SYS_ADMIN, chroot with
 * CAP_SYS_CHROOT) is allowed only when the bounding set holds it. Without
 * CAP_SYS_ADMIN, clone may not create namespaces and clone3, whose flags
 * live in memory a filter cannot read, fails with ENOSYS so that libcs fall
 * back to clone. Names this libseccomp does not know are skipped when the
 * filter is built (runtime-seccomp.c), so the list may name calls of newer
 * kernels. */
#include <linux/capability.h>
#include <sched.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <sys/socket.h>

#include "runtime/runtime-internal.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static const int default_caps[] = {
	CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,	     CAP_FOWNER,
	CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,	     CAP_SETUID,
	CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
	CAP_KILL,    CAP_AUDIT_WRITE,
};

static const char *const masked_paths[] = {
	"/proc/asound",
	"/proc/acpi",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/sys/firmware",
	"/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
	"/proc/bus",	       "/proc/fs", "/proc/irq", "/proc/sys",
	"/proc/sysrq-trigger",
};

/* ---- the seccomp tables ----------------------------------------------- */

/* Allowed whatever the capabilities. ptrace and process_vm_* are safe
 * under seccomp since Linux 4.8, which berth's own needs exceed. */
/* clang-format off */
static const char *const allowed[] = {
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk",
	"cachestat", "capget", "capset", "chdir", "chmod", "chown", "chown32",
	"clock_adjtime", "clock_adjtime64", "clock_getres",
	"clock_getres_time64", "clock_gettime", "clock_gettime64",
	"clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
	"connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old",
	"eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
	"faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
	"fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown",
	"fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr",
	"flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
	"fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
	"ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait",
	"futex_waitv", "futex_wake", "futimesat", "get_robust_list",
	"get_thread_area", "getcpu", "getcwd", "getdents", "getdents64",
	"getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
	"getgroups", "getgroups32", "getitimer", "getpeername", "getpgid",
	"getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
	"getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage",
	"getsid", "getsockname", "getsockopt", "gettid", "gettimeofday",
	"getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
	"inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy",
	"io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup",
	"io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup",
	"ioctl", "ioprio_get", "ioprio_set", "ipc", "kill", "landlock_add_rule",
	"landlock_create_ruleset", "landlock_restrict_self", "lchown",
	"lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr",
	"llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
	"lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
	"memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat",
	"mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
	"mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
	"mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
	"mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync",
	"munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
	"newfstatat", "_newselect", "open", "openat", "openat2", "pause",
	"pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc",
	"pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
	"pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
	"process_vm_readv", "process_vm_writev", "pselect6", "pselect6_time64",
	"ptrace", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
	"readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
	"recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
	"rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
	"rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_get_priority_max",
	"sched_get_priority_min", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
	"sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
	"sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
	"select", "semctl", "semget", "semop", "semtimedop",
	"semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
	"sendmsg", "sendto", "set_robust_list", "set_thread_area",
	"set_tid_address", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
	"setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
	"setpgid", "setpriority", "setregid", "setregid32", "setresgid",
	"setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
	"setrlimit", "setsid", "setsockopt", "setuid", "setuid32", "setxattr",
	"shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
	"signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall",
	"socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx",
	"symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo",
	"tee", "tgkill", "time", "timer_create", "timer_delete",
	"timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
	"timer_settime64", "timerfd_create", "timerfd_gettime",
	"timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
	"tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname",
	"unlink", "unlinkat", "utime", "utimensat", "utimensat_time64",
	"utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
	"writev",
};
/* clang-format on */

/* Allowed when the bounding set holds the capability. */
/* clang-format off */
static const struct {
	int cap;
	const char *name;
} cap_calls[] = {
	{CAP_DAC_READ_SEARCH, "open_by_handle_at"},
	{CAP_SYS_ADMIN, "bpf"}, {CAP_SYS_ADMIN, "clone"},
	{CAP_SYS_ADMIN, "clone3"}, {CAP_SYS_ADMIN, "fanotify_init"},
	{CAP_SYS_ADMIN, "fsconfig"}, {CAP_SYS_ADMIN, "fsmount"},
	{CAP_SYS_ADMIN, "fsopen"}, {CAP_SYS_ADMIN, "fspick"},
	{CAP_SYS_ADMIN, "lookup_dcookie"}, {CAP_SYS_ADMIN, "mount"},
	{CAP_SYS_ADMIN, "mount_setattr"}, {CAP_SYS_ADMIN, "move_mount"},
	{CAP_SYS_ADMIN, "open_tree"}, {CAP_SYS_ADMIN, "perf_event_open"},
	{CAP_SYS_ADMIN, "quotactl"}, {CAP_SYS_ADMIN, "quotactl_fd"},
	{CAP_SYS_ADMIN, "setdomainname"}, {CAP_SYS_ADMIN, "sethostname"},
	{CAP_SYS_ADMIN, "setns"}, {CAP_SYS_ADMIN, "syslog"},
	{CAP_SYS_ADMIN, "umount"}, {CAP_SYS_ADMIN, "umount2"},
	{CAP_SYS_ADMIN, "unshare"},
	{CAP_SYS_BOOT, "reboot"},
	{CAP_SYS_CHROOT, "chroot"},
	{CAP_SYS_MODULE, "delete_module"}, {CAP_SYS_MODULE, "init_module"},
	{CAP_SYS_MODULE, "finit_module"},
	{CAP_SYS_PACCT, "acct"},
	{CAP_SYS_PTRACE, "kcmp"}, {CAP_SYS_PTRACE, "pidfd_getfd"},
	{CAP_SYS_PTRACE, "process_madvise"},
	{CAP_SYS_RAWIO, "iopl"}, {CAP_SYS_RAWIO, "ioperm"},
	{CAP_SYS_TIME, "settimeofday"}, {CAP_SYS_TIME, "stime"},
	{CAP_SYS_TIME, "clock_settime"}, {CAP_SYS_TIME, "clock_settime64"},
	{CAP_SYS_TTY_CONFIG, "vhangup"},
	{CAP_SYS_NICE, "get_mempolicy"}, {CAP_SYS_NICE, "mbind"},
	{CAP_SYS_NICE, "set_mempolicy"},
	{CAP_SYS_NICE, "set_mempolicy_home_node"},
	{CAP_SYSLOG, "syslog"},
	{CAP_BPF, "bpf"},
	{CAP_PERFMON, "perf_event_open"},
};
/* clang-format on */

/* personality(2) arguments allowed: PER_LINUX, PER_LINUX32, UNAME26 alone
 * and with PER_LINUX32, and 0xffffffff, which only queries. */
static const uint64_t personalities[] = {0x0, 0x8, 0x20000, 0x20008,
					 0xffffffff};

#define CLONE_NS_FLAGS                                                         \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |           \
	 CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

/* The architectures of this host's binaries, and the calls only they
 * have. */
#if defined(__x86_64__)
static const char *const arch_names[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
					 "SCMP_ARCH_X32"};
static const char *const arch_calls[] = {"arch_prctl", "modify_ldt"};
#elif defined(__i386__)
static const char *const arch_names[] = {"SCMP_ARCH_X86"};
static const char *const arch_calls[] = {"modify_ldt"};
#elif defined(__aarch64__) || defined(__arm__)
#if defined(__aarch64__)
static const char *const arch_names[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
#else
static const char *const arch_names[] = {"SCMP_ARCH_ARM"};
#endif
static const char *const arch_calls[] = {
	"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
	"breakpoint",	    "cacheflush",	   "set_tls",
};
#elif defined(__s390x__)
static const char *const arch_names[] = {"SCMP_ARCH_S390X", "SCMP_ARCH_S390"};
static const char *const arch_calls[] = {
	"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"};
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static const char *const arch_names[] = {"SCMP_ARCH_PPC64LE"};
static const char *const arch_calls[] = {"sync_file_range2", "swapcontext"};
#elif defined(__riscv) && __riscv_xlen == 64
static const char *const arch_names[] = {"SCMP_ARCH_RISCV64"};
static const char *const arch_calls[] = {"riscv_flush_icache"};
#else
#define NO_ARCH_TABLES 1
#endif

/* s390 passes the clone flags second */
#if defined(__s390x__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

/* ---- building --------------------------------------------------------- */

static bool capset_has(const struct oci_capset *s, int cap)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->caps[i] == cap)
			return true;
	return false;
}

static bool strv_has(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

static void push_new(char ***v, const char *s)
{
	if (!strv_has(*v, s))
		base_strv_push(v, s);
}

static struct oci_seccomp_syscall *add_rule(struct oci_seccomp *s,
					    const char *name,
					    enum oci_seccomp_action action)
{
	s->syscalls = base_realloc(s->syscalls, s->n_syscalls + 1,
				   sizeof(*s->syscalls));
	struct oci_seccomp_syscall *sc = &s->syscalls[s->n_syscalls++];
	memset(sc, 0, sizeof(*sc));
	sc->action = action;
	if (name)
		base_strv_push(&sc->names, name);
	return sc;
}

/* A rule allowing name when argument index compares to value. For
 * SCMP_CMP_MASKED_EQ, value is the mask and two the expected result. */
static void add_arg_rule(struct oci_seccomp *s, const char *name,
			 uint32_t index, enum oci_seccomp_op op, uint64_t value,
			 uint64_t two)
{
	struct oci_seccomp_syscall *sc = add_rule(s, name, OCI_SCMP_ACT_ALLOW);
	sc->args = base_calloc(1, sizeof(*sc->args));
	sc->args[0] = (struct oci_seccomp_arg){
		.index = index, .op = op, .value = value, .value_two = two};
	sc->n_args = 1;
}

static void add_allow_list(struct oci_seccomp *s,
			   const struct oci_capset *bounding)
{
	struct oci_seccomp_syscall *sc = add_rule(s, NULL, OCI_SCMP_ACT_ALLOW);
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
		base_strv_push(&sc->names, allowed[i]);
#ifndef NO_ARCH_TABLES
	for (size_t i = 0; i < ARRAY_SIZE(arch_calls); i++)
		push_new(&sc->names, arch_calls[i]);
#endif
	for (size_t i = 0; i < ARRAY_SIZE(cap_calls); i++)
		if (capset_has(bounding, cap_calls[i].cap))
			push_new(&sc->names, cap_calls[i].name);
}

static void seccomp_clear(struct oci_seccomp *s)
{
	base_strv_free(s->architectures);
	base_strv_free(s->flags);
	free(s->listener_path);
	free(s->listener_metadata);
	for (size_t i = 0; i < s->n_syscalls; i++) {
		base_strv_free(s->syscalls[i].names);
		free(s->syscalls[i].args);
	}
	free(s->syscalls);
	memset(s, 0, sizeof(*s));
}

void rt_profile_seccomp(struct oci_seccomp *s,
			const struct oci_capset *bounding)
{
	seccomp_clear(s);
	s->default_action = OCI_SCMP_ACT_ERRNO;
	s->has_default_errno_ret = true;
	s->default_errno_ret = EPERM;
#ifndef NO_ARCH_TABLES
	for (size_t i = 0; i < ARRAY_SIZE(arch_names); i++)
		base_strv_push(&s->architectures, arch_names[i]);
#endif
	add_allow_list(s, bounding);
	add_arg_rule(s, "socket", 0, OCI_SCMP_CMP_NE, AF_VSOCK, 0);
	for (size_t i = 0; i < ARRAY_SIZE(personalities); i++)
		add_arg_rule(s, "personality", 0, OCI_SCMP_CMP_EQ,
			     personalities[i], 0);
	if (capset_has(bounding, CAP_SYS_ADMIN))
		return;
	add_arg_rule(s, "clone", CLONE_FLAGS_ARG, OCI_SCMP_CMP_MASKED_EQ,
		     CLONE_NS_FLAGS, 0);
	struct oci_seccomp_syscall *sc =
		add_rule(s, "clone3", OCI_SCMP_ACT_ERRNO);
	sc->has_errno_ret = true;
	sc->errno_ret = ENOSYS;
}

/* ---- the whole profile ------------------------------------------------ */

size_t rt_profile_default_caps(const int **caps)
{
	*caps = default_caps;
	return ARRAY_SIZE(default_caps);
}

static void capset_set(struct oci_capset *s, bool fill)
{
	free(s->caps);
	s->caps = NULL;
	s->n = 0;
	s->present = true;
	if (!fill)
		return;
	s->caps = base_calloc(ARRAY_SIZE(default_caps), sizeof(int));
	memcpy(s->caps, default_caps, sizeof(default_caps));
	s->n = ARRAY_SIZE(default_caps);
}

static void add_paths(char ***v, const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		push_new(v, paths[i]);
}

void rt_profile_default(struct oci_config *c)
{
	struct oci_process *p = &c->process;
	struct oci_capabilities *caps = &p->capabilities;
	c->has_process = true;
	p->has_capabilities = true;
	capset_set(&caps->bounding, true);
	capset_set(&caps->effective, true);
	capset_set(&caps->permitted, true);
	capset_set(&caps->inheritable, false);
	capset_set(&caps->ambient, false);
	p->no_new_privileges = true;
	c->has_linux = true;
	add_paths(&c->linux_.masked_paths, masked_paths,
		  ARRAY_SIZE(masked_paths));
	add_paths(&c->linux_.readonly_paths, readonly_paths,
		  ARRAY_SIZE(readonly_paths));
	rt_profile_seccomp(&c->linux_.seccomp, &caps->bounding);
	c->linux_.has_seccomp = true;
}

/* ---- for generated configs (par's workers) ------------------------------ */

int rt_default_seccomp_json(char *const *caps, const char *cache_dir,
			    char **out, struct berr *err)
{
	*out = NULL;
	struct oci_capset bounding = {.present = true};
	for (size_t i = 0; caps && caps[i]; i++) {
		int cap = oci_cap_from_name(caps[i]);
		if (cap < 0)
			return berr_setx(err, EINVAL, "unknown capability `%s`",
					 caps[i]);
		bounding.caps = base_realloc(bounding.caps, bounding.n + 1,
					     sizeof(int));
		bounding.caps[bounding.n++] = cap;
	}
	struct oci_seccomp sc = {0};
	rt_profile_seccomp(&sc, &bounding);
	free(bounding.caps);
	/* the containers' create finds the program compiled already: a pool
	 * of 64 workers builds it once, not 64 times at once */
	int r = cache_dir ? rt_seccomp_prepare(&sc, cache_dir, err) : 0;
	rt_seccomp_forget();
	cJSON *j = r == 0 ? oci_seccomp_json(&sc) : NULL;
	char *text = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	seccomp_clear(&sc);
	if (r < 0)
		return r;
	if (!text)
		return berr_setx(err, ENOMEM, "the seccomp profile");
	*out = text;
	return 0;
}
