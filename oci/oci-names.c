/* The names the runtime-spec uses for kernel constants, and their values. */
#include <linux/capability.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>

#include "oci/oci-internal.h"

struct name {
	const char *name;
	int value;
};

static int lookup(const struct name *t, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (!strcmp(t[i].name, name))
			return t[i].value;
	return -1;
}

#define LOOKUP(table, name) lookup(table, ARRAY_SIZE(table), name)

static const char *const ns_names[OCI_NS__COUNT] = {
	[OCI_NS_PID] = "pid",	    [OCI_NS_NETWORK] = "network",
	[OCI_NS_MOUNT] = "mount",   [OCI_NS_IPC] = "ipc",
	[OCI_NS_UTS] = "uts",	    [OCI_NS_USER] = "user",
	[OCI_NS_CGROUP] = "cgroup", [OCI_NS_TIME] = "time",
};

const char *oci_ns_type_name(enum oci_ns_type t)
{
	return (unsigned)t < OCI_NS__COUNT ? ns_names[t] : NULL;
}

int oci_ns_type_from_name(const char *name)
{
	for (int i = 0; name && i < OCI_NS__COUNT; i++)
		if (!strcmp(ns_names[i], name))
			return i;
	return -1;
}

#define CAP(c) [c] = #c
static const char *const cap_names[] = {
	CAP(CAP_CHOWN),
	CAP(CAP_DAC_OVERRIDE),
	CAP(CAP_DAC_READ_SEARCH),
	CAP(CAP_FOWNER),
	CAP(CAP_FSETID),
	CAP(CAP_KILL),
	CAP(CAP_SETGID),
	CAP(CAP_SETUID),
	CAP(CAP_SETPCAP),
	CAP(CAP_LINUX_IMMUTABLE),
	CAP(CAP_NET_BIND_SERVICE),
	CAP(CAP_NET_BROADCAST),
	CAP(CAP_NET_ADMIN),
	CAP(CAP_NET_RAW),
	CAP(CAP_IPC_LOCK),
	CAP(CAP_IPC_OWNER),
	CAP(CAP_SYS_MODULE),
	CAP(CAP_SYS_RAWIO),
	CAP(CAP_SYS_CHROOT),
	CAP(CAP_SYS_PTRACE),
	CAP(CAP_SYS_PACCT),
	CAP(CAP_SYS_ADMIN),
	CAP(CAP_SYS_BOOT),
	CAP(CAP_SYS_NICE),
	CAP(CAP_SYS_RESOURCE),
	CAP(CAP_SYS_TIME),
	CAP(CAP_SYS_TTY_CONFIG),
	CAP(CAP_MKNOD),
	CAP(CAP_LEASE),
	CAP(CAP_AUDIT_WRITE),
	CAP(CAP_AUDIT_CONTROL),
	CAP(CAP_SETFCAP),
	CAP(CAP_MAC_OVERRIDE),
	CAP(CAP_MAC_ADMIN),
	CAP(CAP_SYSLOG),
	CAP(CAP_WAKE_ALARM),
	CAP(CAP_BLOCK_SUSPEND),
	CAP(CAP_AUDIT_READ),
	CAP(CAP_PERFMON),
	CAP(CAP_BPF),
	CAP(CAP_CHECKPOINT_RESTORE),
};
#undef CAP

int oci_cap_from_name(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(cap_names); i++)
		if (cap_names[i] && !strcmp(cap_names[i], name))
			return (int)i;
	return -1;
}

const char *oci_cap_name(int cap)
{
	if (cap < 0 || (size_t)cap >= ARRAY_SIZE(cap_names))
		return NULL;
	return cap_names[cap];
}

#define NAMED(c)                                                               \
	{                                                                      \
#c, c                                                          \
	}
static const struct name rlimits[] = {
	NAMED(RLIMIT_AS),      NAMED(RLIMIT_CORE),     NAMED(RLIMIT_CPU),
	NAMED(RLIMIT_DATA),    NAMED(RLIMIT_FSIZE),    NAMED(RLIMIT_LOCKS),
	NAMED(RLIMIT_MEMLOCK), NAMED(RLIMIT_MSGQUEUE), NAMED(RLIMIT_NICE),
	NAMED(RLIMIT_NOFILE),  NAMED(RLIMIT_NPROC),    NAMED(RLIMIT_RSS),
	NAMED(RLIMIT_RTPRIO),  NAMED(RLIMIT_RTTIME),   NAMED(RLIMIT_SIGPENDING),
	NAMED(RLIMIT_STACK),
};

int oci_rlimit_from_name(const char *name)
{
	return LOOKUP(rlimits, name);
}

const char *oci_rlimit_name(int resource)
{
	for (size_t i = 0; i < ARRAY_SIZE(rlimits); i++)
		if (rlimits[i].value == resource)
			return rlimits[i].name;
	return NULL;
}

static const char *const status_names[] = {
	[OCI_STATUS_CREATING] = "creating", [OCI_STATUS_CREATED] = "created",
	[OCI_STATUS_RUNNING] = "running",   [OCI_STATUS_PAUSED] = "paused",
	[OCI_STATUS_STOPPED] = "stopped",
};

const char *oci_status_name(enum oci_status s)
{
	return (unsigned)s < ARRAY_SIZE(status_names) ? status_names[s]
						      : "unknown";
}

int oci_status_from_name(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(status_names); i++)
		if (!strcmp(status_names[i], name))
			return (int)i;
	return -1;
}

static const struct name seccomp_actions[] = {
	{"SCMP_ACT_KILL", OCI_SCMP_ACT_KILL},
	{"SCMP_ACT_KILL_PROCESS", OCI_SCMP_ACT_KILL_PROCESS},
	{"SCMP_ACT_KILL_THREAD", OCI_SCMP_ACT_KILL_THREAD},
	{"SCMP_ACT_TRAP", OCI_SCMP_ACT_TRAP},
	{"SCMP_ACT_ERRNO", OCI_SCMP_ACT_ERRNO},
	{"SCMP_ACT_TRACE", OCI_SCMP_ACT_TRACE},
	{"SCMP_ACT_ALLOW", OCI_SCMP_ACT_ALLOW},
	{"SCMP_ACT_LOG", OCI_SCMP_ACT_LOG},
	{"SCMP_ACT_NOTIFY", OCI_SCMP_ACT_NOTIFY},
};

int oci_seccomp_action_from_name(const char *name)
{
	return LOOKUP(seccomp_actions, name);
}

static const struct name seccomp_ops[] = {
	{"SCMP_CMP_NE", OCI_SCMP_CMP_NE},
	{"SCMP_CMP_LT", OCI_SCMP_CMP_LT},
	{"SCMP_CMP_LE", OCI_SCMP_CMP_LE},
	{"SCMP_CMP_EQ", OCI_SCMP_CMP_EQ},
	{"SCMP_CMP_GE", OCI_SCMP_CMP_GE},
	{"SCMP_CMP_GT", OCI_SCMP_CMP_GT},
	{"SCMP_CMP_MASKED_EQ", OCI_SCMP_CMP_MASKED_EQ},
};

int oci_seccomp_op_from_name(const char *name)
{
	return LOOKUP(seccomp_ops, name);
}

static const char *name_of(const struct name *v, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].value == value)
			return v[i].name;
	return NULL;
}

const char *oci_seccomp_action_name(enum oci_seccomp_action a)
{
	return name_of(seccomp_actions, ARRAY_SIZE(seccomp_actions), (int)a);
}

const char *oci_seccomp_op_name(enum oci_seccomp_op op)
{
	return name_of(seccomp_ops, ARRAY_SIZE(seccomp_ops), (int)op);
}

/* The architectures the runtime-spec names; whether libseccomp and the
 * kernel know one is for the runtime to find out. */
static const char *const seccomp_arches[] = {
	"SCMP_ARCH_X86",      "SCMP_ARCH_X86_64",      "SCMP_ARCH_X32",
	"SCMP_ARCH_ARM",      "SCMP_ARCH_AARCH64",     "SCMP_ARCH_MIPS",
	"SCMP_ARCH_MIPS64",   "SCMP_ARCH_MIPS64N32",   "SCMP_ARCH_MIPSEL",
	"SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
	"SCMP_ARCH_PPC64",    "SCMP_ARCH_PPC64LE",     "SCMP_ARCH_S390",
	"SCMP_ARCH_S390X",    "SCMP_ARCH_PARISC",      "SCMP_ARCH_PARISC64",
	"SCMP_ARCH_RISCV64",  "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",
	"SCMP_ARCH_SH",	      "SCMP_ARCH_SHEB",
};

bool oci_seccomp_arch_valid(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(seccomp_arches); i++)
		if (!strcmp(seccomp_arches[i], name))
			return true;
	return false;
}

/* SCHED_ISO is reserved by the kernel but named by the spec. */
static const struct name sched_policies[] = {
	NAMED(SCHED_OTHER),    NAMED(SCHED_FIFO), NAMED(SCHED_RR),
	NAMED(SCHED_BATCH),    {"SCHED_ISO", 4},  NAMED(SCHED_IDLE),
	NAMED(SCHED_DEADLINE),
};

int oci_sched_policy_from_name(const char *name)
{
	return LOOKUP(sched_policies, name);
}

/* sched_setattr(2) flag bits (linux/sched.h, not includable with sched.h) */
static const struct name sched_flags[] = {
	{"SCHED_FLAG_RESET_ON_FORK", 0x01},
	{"SCHED_FLAG_RECLAIM", 0x02},
	{"SCHED_FLAG_DL_OVERRUN", 0x04},
	{"SCHED_FLAG_KEEP_POLICY", 0x08},
	{"SCHED_FLAG_KEEP_PARAMS", 0x10},
	{"SCHED_FLAG_UTIL_CLAMP_MIN", 0x20},
	{"SCHED_FLAG_UTIL_CLAMP_MAX", 0x40},
};

int oci_sched_flag_from_name(const char *name)
{
	return LOOKUP(sched_flags, name);
}

/* IOPRIO_CLASS_* from linux/ioprio.h */
static const struct name ioprio_classes[] = {
	{"IOPRIO_CLASS_RT", 1},
	{"IOPRIO_CLASS_BE", 2},
	{"IOPRIO_CLASS_IDLE", 3},
};

int oci_ioprio_class_from_name(const char *name)
{
	return LOOKUP(ioprio_classes, name);
}

/* The spec names four modes; runc also takes the recursive spellings. They
 * map to the same mode: how deep it applies is the runtime's choice. */
static const struct name propagations[] = {
	{"private", OCI_PROPAGATION_PRIVATE},
	{"rprivate", OCI_PROPAGATION_PRIVATE},
	{"shared", OCI_PROPAGATION_SHARED},
	{"rshared", OCI_PROPAGATION_SHARED},
	{"slave", OCI_PROPAGATION_SLAVE},
	{"rslave", OCI_PROPAGATION_SLAVE},
	{"unbindable", OCI_PROPAGATION_UNBINDABLE},
	{"runbindable", OCI_PROPAGATION_UNBINDABLE},
};

int oci_propagation_from_name(const char *name)
{
	return LOOKUP(propagations, name);
}
