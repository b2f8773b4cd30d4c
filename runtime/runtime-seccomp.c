/* linux.seccomp: the config's profile turned into a filter with libseccomp
 * and loaded in the container process, plus the SCMP_ACT_NOTIFY listener
 * hand-off of the runtime-spec (the notify fd and a containerProcessState
 * JSON over SCM_RIGHTS to listenerPath).
 *
 * The filter is built from scratch at every load and by
 * rt_seccomp_validate(); building is cheap next to a container start, and
 * it keeps no libseccomp context alive across fork/clone. */
#include <ctype.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <seccomp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>

#include <cjson/cJSON.h>

#include "runtime/runtime-internal.h"

/* libseccomp learned SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV in 2.6.0 */
#if SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 6)
#define HAVE_SCMP_WAITKILL 1
#else
#define HAVE_SCMP_WAITKILL 0
#endif

/* Kernel values (linux/seccomp.h), for the features probe. */
#define FLAG_TSYNC (1U << 0)
#define FLAG_LOG (1U << 1)
#define FLAG_SPEC_ALLOW (1U << 2)
#define FLAG_NEW_LISTENER (1U << 3)
#define FLAG_WAIT_KILLABLE_RECV (1U << 5)

#define SYSCALL_MAX_ARGS 6

static const char *const action_names[] = {
	[OCI_SCMP_ACT_KILL] = "SCMP_ACT_KILL",
	[OCI_SCMP_ACT_KILL_PROCESS] = "SCMP_ACT_KILL_PROCESS",
	[OCI_SCMP_ACT_KILL_THREAD] = "SCMP_ACT_KILL_THREAD",
	[OCI_SCMP_ACT_TRAP] = "SCMP_ACT_TRAP",
	[OCI_SCMP_ACT_ERRNO] = "SCMP_ACT_ERRNO",
	[OCI_SCMP_ACT_TRACE] = "SCMP_ACT_TRACE",
	[OCI_SCMP_ACT_ALLOW] = "SCMP_ACT_ALLOW",
	[OCI_SCMP_ACT_LOG] = "SCMP_ACT_LOG",
	[OCI_SCMP_ACT_NOTIFY] = "SCMP_ACT_NOTIFY",
};

static const char *const op_names[] = {
	[OCI_SCMP_CMP_NE] = "SCMP_CMP_NE",
	[OCI_SCMP_CMP_LT] = "SCMP_CMP_LT",
	[OCI_SCMP_CMP_LE] = "SCMP_CMP_LE",
	[OCI_SCMP_CMP_EQ] = "SCMP_CMP_EQ",
	[OCI_SCMP_CMP_GE] = "SCMP_CMP_GE",
	[OCI_SCMP_CMP_GT] = "SCMP_CMP_GT",
	[OCI_SCMP_CMP_MASKED_EQ] = "SCMP_CMP_MASKED_EQ",
};

static const enum scmp_compare op_values[] = {
	[OCI_SCMP_CMP_NE] = SCMP_CMP_NE,
	[OCI_SCMP_CMP_LT] = SCMP_CMP_LT,
	[OCI_SCMP_CMP_LE] = SCMP_CMP_LE,
	[OCI_SCMP_CMP_EQ] = SCMP_CMP_EQ,
	[OCI_SCMP_CMP_GE] = SCMP_CMP_GE,
	[OCI_SCMP_CMP_GT] = SCMP_CMP_GT,
	[OCI_SCMP_CMP_MASKED_EQ] = SCMP_CMP_MASKED_EQ,
};

/* Every architecture the runtime-spec names; which of them this libseccomp
 * knows is asked at run time. */
static const char *const arch_names[] = {
	"SCMP_ARCH_X86",	 "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",
	"SCMP_ARCH_ARM",	 "SCMP_ARCH_AARCH64",  "SCMP_ARCH_LOONGARCH64",
	"SCMP_ARCH_M68K",	 "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",
	"SCMP_ARCH_MIPS64N32",	 "SCMP_ARCH_MIPSEL",   "SCMP_ARCH_MIPSEL64",
	"SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",      "SCMP_ARCH_PPC64",
	"SCMP_ARCH_PPC64LE",	 "SCMP_ARCH_S390",     "SCMP_ARCH_S390X",
	"SCMP_ARCH_PARISC",	 "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
	"SCMP_ARCH_SH",		 "SCMP_ARCH_SHEB",
};

static const struct flag {
	const char *name;
	unsigned kernel_flag;
	unsigned min_api; /* libseccomp API level it needs */
	bool in_libseccomp;
} flags[] = {
	{"SECCOMP_FILTER_FLAG_TSYNC", FLAG_TSYNC, 2, true},
	{"SECCOMP_FILTER_FLAG_LOG", FLAG_LOG, 3, true},
	{"SECCOMP_FILTER_FLAG_SPEC_ALLOW", FLAG_SPEC_ALLOW, 4, true},
	{"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
	 FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV, 7, HAVE_SCMP_WAITKILL},
};

/* ---- profile -> filter ------------------------------------------------ */

/* SCMP_ACT_ERRNO and SCMP_ACT_TRACE without errnoRet return EPERM, as in
 * runc. */
static uint32_t scmp_action(enum oci_seccomp_action a, bool has_ret,
			    uint32_t ret)
{
	uint32_t e = has_ret ? ret : EPERM;
	switch (a) {
	case OCI_SCMP_ACT_KILL:
	case OCI_SCMP_ACT_KILL_THREAD:
		return SCMP_ACT_KILL_THREAD;
	case OCI_SCMP_ACT_KILL_PROCESS:
		return SCMP_ACT_KILL_PROCESS;
	case OCI_SCMP_ACT_TRAP:
		return SCMP_ACT_TRAP;
	case OCI_SCMP_ACT_ERRNO:
		return SCMP_ACT_ERRNO(e);
	case OCI_SCMP_ACT_TRACE:
		return SCMP_ACT_TRACE(e);
	case OCI_SCMP_ACT_LOG:
		return SCMP_ACT_LOG;
	case OCI_SCMP_ACT_NOTIFY:
		return SCMP_ACT_NOTIFY;
	case OCI_SCMP_ACT_ALLOW:
	default:
		return SCMP_ACT_ALLOW;
	}
}

static const char *action_name(enum oci_seccomp_action a)
{
	return (unsigned)a < ARRAY_SIZE(action_names) ? action_names[a]
						      : "unknown action";
}

uint32_t rt_seccomp_arch_token(const char *name)
{
	char buf[32];
	if (!base_str_has_prefix(name, "SCMP_ARCH_") ||
	    strlen(name) - 10 >= sizeof(buf))
		return 0;
	size_t i = 0;
	for (const char *p = name + 10; *p; p++)
		buf[i++] = (char)tolower((unsigned char)*p);
	buf[i] = '\0';
	return seccomp_arch_resolve_name(buf);
}

static int add_archs(scmp_filter_ctx ctx, char *const *archs, struct berr *err)
{
	for (; archs && *archs; archs++) {
		uint32_t tok = rt_seccomp_arch_token(*archs);
		if (!tok)
			return berr_setx(err, EINVAL,
					 "linux.seccomp.architectures: %s is "
					 "not supported by this libseccomp",
					 *archs);
		int r = seccomp_arch_add(ctx, tok);
		if (r < 0 && r != -EEXIST)
			return berr_set(err, -r,
					"linux.seccomp.architectures: add %s",
					*archs);
	}
	return 0;
}

static int set_attr(scmp_filter_ctx ctx, int attr, uint32_t v, const char *flag,
		    struct berr *err)
{
	int r = seccomp_attr_set(ctx, (enum scmp_filter_attr)attr, v);
	if (r < 0)
		return berr_set(err, -r, "linux.seccomp.flags: %s", flag);
	return 0;
}

static int apply_flag(scmp_filter_ctx ctx, const char *f, struct berr *err)
{
	/* berth loads the filter while single-threaded */
	if (!strcmp(f, "SECCOMP_FILTER_FLAG_TSYNC"))
		return 0;
	if (!strcmp(f, "SECCOMP_FILTER_FLAG_LOG"))
		return set_attr(ctx, SCMP_FLTATR_CTL_LOG, 1, f, err);
	if (!strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))
		return set_attr(ctx, SCMP_FLTATR_CTL_SSB, 1, f, err);
	if (!strcmp(f, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")) {
#if HAVE_SCMP_WAITKILL
		return set_attr(ctx, SCMP_FLTATR_CTL_WAITKILL, 1, f, err);
#else
		const struct scmp_version *v = seccomp_version();
		return berr_setx(err, EOPNOTSUPP,
				 "linux.seccomp.flags: %s is not supported by "
				 "this libseccomp (%u.%u.%u)",
				 f, v->major, v->minor, v->micro);
#endif
	}
	return berr_setx(err, EINVAL, "linux.seccomp.flags: unknown flag `%s`",
			 f);
}

/* One rule with every condition (AND); but when two conditions test the
 * same argument, one rule per condition (OR), as runc does: a profile
 * allowing personality(0) and personality(8) means either. */
static int add_rules(scmp_filter_ctx ctx, int nr, uint32_t act,
		     const struct oci_seccomp_syscall *sc)
{
	struct scmp_arg_cmp cmp[SYSCALL_MAX_ARGS * 4];
	unsigned count[SYSCALL_MAX_ARGS] = {0};
	bool repeated = false;
	if (sc->n_args > ARRAY_SIZE(cmp))
		return -E2BIG;
	for (size_t i = 0; i < sc->n_args; i++) {
		const struct oci_seccomp_arg *a = &sc->args[i];
		if (a->index >= SYSCALL_MAX_ARGS ||
		    (unsigned)a->op >= ARRAY_SIZE(op_values))
			return -EINVAL;
		repeated |= ++count[a->index] > 1;
		cmp[i] = (struct scmp_arg_cmp){
			.arg = a->index,
			.op = op_values[a->op],
			.datum_a = a->value,
			.datum_b = a->value_two,
		};
	}
	if (!repeated)
		return seccomp_rule_add_array(ctx, act, nr,
					      (unsigned)sc->n_args, cmp);
	for (size_t i = 0; i < sc->n_args; i++) {
		int r = seccomp_rule_add_array(ctx, act, nr, 1, &cmp[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_syscall(scmp_filter_ctx ctx, size_t idx, uint32_t def_act,
		       const struct oci_seccomp_syscall *sc, struct berr *err)
{
	if (sc->has_errno_ret && sc->action != OCI_SCMP_ACT_ERRNO &&
	    sc->action != OCI_SCMP_ACT_TRACE)
		return berr_setx(err, EINVAL,
				 "linux.seccomp.syscalls[%zu]: errnoRet is "
				 "only valid with SCMP_ACT_ERRNO or "
				 "SCMP_ACT_TRACE",
				 idx);
	uint32_t act =
		scmp_action(sc->action, sc->has_errno_ret, sc->errno_ret);
	/* libseccomp refuses a rule that repeats the default action */
	if (act == def_act)
		return 0;
	for (char **n = sc->names; n && *n; n++) {
		/* the profile may name calls of newer kernels: skip them */
		int nr = seccomp_syscall_resolve_name(*n);
		if (nr == __NR_SCMP_ERROR) {
			blog_debug("seccomp: unknown syscall `%s` skipped", *n);
			continue;
		}
		if (sc->action == OCI_SCMP_ACT_NOTIFY && !strcmp(*n, "sendmsg"))
			return berr_setx(err, EINVAL,
					 "linux.seccomp.syscalls[%zu]: "
					 "SCMP_ACT_NOTIFY cannot be used for "
					 "sendmsg, which hands the listener "
					 "its fd",
					 idx);
		int r = add_rules(ctx, nr, act, sc);
		if (r < 0)
			return berr_set(err, -r,
					"linux.seccomp.syscalls[%zu]: add rule "
					"%s for `%s`",
					idx, action_name(sc->action), *n);
	}
	return 0;
}

const struct oci_seccomp *rt_seccomp_of(const struct oci_config *c)
{
	return c->has_linux && c->linux_.has_seccomp ? &c->linux_.seccomp
						     : NULL;
}

bool rt_seccomp_uses_notify(const struct oci_seccomp *s)
{
	if (!s)
		return false;
	if (s->default_action == OCI_SCMP_ACT_NOTIFY)
		return true;
	for (size_t i = 0; i < s->n_syscalls; i++)
		if (s->syscalls[i].action == OCI_SCMP_ACT_NOTIFY)
			return true;
	return false;
}

/* A process whose write() waits for the agent cannot report anything,
 * and the agent may be logging through that very process: runc refuses
 * SCMP_ACT_NOTIFY on write, and so does berth. */
static int check_notify_write(const struct oci_seccomp *s, struct berr *err)
{
	for (size_t i = 0; i < s->n_syscalls; i++) {
		if (s->syscalls[i].action != OCI_SCMP_ACT_NOTIFY)
			continue;
		for (char **n = s->syscalls[i].names; n && *n; n++)
			if (!strcmp(*n, "write"))
				return berr_setx(err, EINVAL,
						 "linux.seccomp.syscalls[%zu]: "
						 "SCMP_ACT_NOTIFY cannot be "
						 "used for write",
						 i);
	}
	return 0;
}

static int check_profile(const struct oci_seccomp *s, struct berr *err)
{
	if (s->listener_path && s->listener_path[0] != '/')
		return berr_setx(err, EINVAL,
				 "linux.seccomp.listenerPath `%s` must be an "
				 "absolute path",
				 s->listener_path);
	/* every call berth makes after the load would wait for an agent
	 * that has no fd yet */
	if (s->default_action == OCI_SCMP_ACT_NOTIFY)
		return berr_setx(err, EINVAL,
				 "linux.seccomp: SCMP_ACT_NOTIFY cannot be "
				 "used as the default action");
	int r = check_notify_write(s, err);
	if (r < 0)
		return r;
	if (rt_seccomp_uses_notify(s) &&
	    (!s->listener_path || !*s->listener_path))
		return berr_setx(err, EINVAL,
				 "linux.seccomp: SCMP_ACT_NOTIFY needs "
				 "listenerPath");
	if (s->has_default_errno_ret &&
	    s->default_action != OCI_SCMP_ACT_ERRNO &&
	    s->default_action != OCI_SCMP_ACT_TRACE)
		return berr_setx(err, EINVAL,
				 "linux.seccomp: defaultErrnoRet is only "
				 "valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
	return 0;
}

static int fill_filter(scmp_filter_ctx ctx, const struct oci_seccomp *s,
		       uint32_t def_act, struct berr *err)
{
	int r = add_archs(ctx, s->architectures, err);
	for (char **f = s->flags; r == 0 && f && *f; f++)
		r = apply_flag(ctx, *f, err);
	if (r < 0)
		return r;
	/* no_new_privs is berth's to set (process.noNewPrivileges) */
	r = set_attr(ctx, SCMP_FLTATR_CTL_NNP, 0, "no_new_privs", err);
	for (size_t i = 0; r == 0 && i < s->n_syscalls; i++)
		r = add_syscall(ctx, i, def_act, &s->syscalls[i], err);
	return r;
}

/* Builds the filter; the caller seccomp_release()s *out. */
static int build_filter(const struct oci_seccomp *s, scmp_filter_ctx *out,
			struct berr *err)
{
	int r = check_profile(s, err);
	if (r < 0)
		return r;
	uint32_t def_act =
		scmp_action(s->default_action, s->has_default_errno_ret,
			    s->default_errno_ret);
	scmp_filter_ctx ctx = seccomp_init(def_act);
	if (!ctx)
		return berr_setx(err, EINVAL,
				 "linux.seccomp: defaultAction %s is not "
				 "supported by this kernel or libseccomp",
				 action_name(s->default_action));
	r = fill_filter(ctx, s, def_act, err);
	if (r < 0) {
		seccomp_release(ctx);
		return r;
	}
	*out = ctx;
	return 0;
}

/* The program create compiled while it validated the profile. The
 * container's init is a clone of that process, with a copy of this
 * memory: it loads the program as it is rather than have libseccomp
 * build it a second time (a few milliseconds for a Docker-sized
 * allow-list). Keyed by the profile's address, which the clone shares. */
static struct {
	const struct oci_seccomp *profile;
	struct sock_filter *insns;
	unsigned short len;
	unsigned flags;
} compiled;

static unsigned filter_flags(scmp_filter_ctx ctx)
{
	uint32_t v = 0;
	unsigned f = 0;
	if (seccomp_attr_get(ctx, SCMP_FLTATR_CTL_LOG, &v) == 0 && v)
		f |= SECCOMP_FILTER_FLAG_LOG;
	v = 0;
	if (seccomp_attr_get(ctx, SCMP_FLTATR_CTL_SSB, &v) == 0 && v)
		f |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
#if HAVE_SCMP_WAITKILL
	v = 0;
	if (seccomp_attr_get(ctx, SCMP_FLTATR_CTL_WAITKILL, &v) == 0 && v)
		f |= FLAG_WAIT_KILLABLE_RECV;
#endif
	/* SECCOMP_FILTER_FLAG_TSYNC needs no flag: the process that loads
	 * the filter has one thread */
	return f;
}

/* ctx's program as the kernel gets it: libseccomp's BPF behind berth's
 * -ENOSYS stub (runtime-seccomp-enosys.c). *out is malloc'd. */
static int export_program(const struct oci_seccomp *s, scmp_filter_ctx ctx,
			  struct sock_filter **out, unsigned short *n)
{
	_cleanup_close_ int fd = memfd_create("berth-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return r;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	r = base_read_file_at(AT_FDCWD, path, &buf, &len, 1 << 20);
	if (r < 0)
		return r;
	size_t prog = len / sizeof(struct sock_filter);
	if (len == 0 || len % sizeof(struct sock_filter))
		return -EINVAL;
	struct sock_filter *v = base_calloc(BPF_MAXINSNS, sizeof(*v));
	size_t stub = rt_seccomp_enosys_stub(s, v, BPF_MAXINSNS);
	if (stub + prog > BPF_MAXINSNS) {
		free(v);
		return -E2BIG;
	}
	memcpy(v + stub, buf, len);
	*out = v;
	*n = (unsigned short)(stub + prog);
	return 0;
}

/* Keeps ctx's program for load(); without it load() builds the filter. */
static void keep_program(const struct oci_seccomp *s, scmp_filter_ctx ctx)
{
	free(compiled.insns);
	compiled.profile = NULL;
	compiled.insns = NULL;
	if (export_program(s, ctx, &compiled.insns, &compiled.len) < 0)
		return;
	compiled.flags = filter_flags(ctx);
	compiled.profile = s;
}

int rt_seccomp_validate(const struct oci_seccomp *s, struct berr *err)
{
	scmp_filter_ctx ctx;
	int r = build_filter(s, &ctx, err);
	if (r == 0) {
		if (!rt_seccomp_uses_notify(s))
			keep_program(s, ctx);
		seccomp_release(ctx);
	}
	return r;
}

/* ---- a cache of compiled programs, for callers that start many
 * containers with one profile (launch, par): libseccomp takes tens of
 * milliseconds to build Docker's allow-list, loading a program takes
 * microseconds. An entry holds the profile's exact text (with the
 * libseccomp and kernel versions), so a hash collision is a miss. */

struct cache_head {
	char magic[8];	  /* "BERTHBPF" */
	uint32_t textlen; /* the key text that follows */
	uint32_t flags;	  /* SECCOMP_FILTER_FLAG_* */
	uint32_t ninsns;  /* struct sock_filter after the text */
	uint32_t pad;
};
_Static_assert(sizeof(struct cache_head) == 24, "cache entry head");

static char *cache_key(const struct oci_seccomp *s)
{
	cJSON *j = oci_seccomp_json(s);
	char *text = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	if (!text)
		return NULL;
	const struct scmp_version *v = seccomp_version();
	struct utsname u;
	uname(&u);
	char *key = base_sprintf(
		"berth-seccomp 2 libseccomp %u.%u.%u %s %s\n%s", v->major,
		v->minor, v->micro, u.release, u.machine, text);
	free(text);
	return key;
}

static char *cache_path(const char *dir, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return base_sprintf("%s/%016llx.bpf", dir, (unsigned long long)h);
}

static bool cache_lookup(const struct oci_seccomp *s, const char *path,
			 const char *key)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	if (base_read_file_at(AT_FDCWD, path, &buf, &len, 4u << 20) < 0 ||
	    len < sizeof(struct cache_head))
		return false;
	struct cache_head h;
	memcpy(&h, buf, sizeof(h));
	size_t klen = strlen(key);
	if (memcmp(h.magic, "BERTHBPF", 8) || h.textlen != klen ||
	    h.ninsns == 0 || h.ninsns > BPF_MAXINSNS ||
	    len != sizeof(h) + klen + h.ninsns * sizeof(struct sock_filter) ||
	    memcmp(buf + sizeof(h), key, klen))
		return false;
	free(compiled.insns);
	compiled.insns = base_calloc(h.ninsns, sizeof(struct sock_filter));
	memcpy(compiled.insns, buf + sizeof(h) + klen,
	       h.ninsns * sizeof(struct sock_filter));
	compiled.len = (unsigned short)h.ninsns;
	compiled.flags = h.flags;
	compiled.profile = s;
	return true;
}

/* Best effort: a cache that cannot be written only costs time. */
static void cache_store(const char *dir, const char *path, const char *key)
{
	if (!compiled.insns || base_mkdir_p(AT_FDCWD, dir, 0700) < 0)
		return;
	struct cache_head h = {
		.magic = {'B', 'E', 'R', 'T', 'H', 'B', 'P', 'F'},
		.textlen = (uint32_t)strlen(key),
		.flags = compiled.flags,
		.ninsns = compiled.len};
	size_t prog = compiled.len * sizeof(struct sock_filter);
	size_t len = sizeof(h) + h.textlen + prog;
	_cleanup_free_ char *buf = base_calloc(1, len);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), key, h.textlen);
	memcpy(buf + sizeof(h) + h.textlen, compiled.insns, prog);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *name = strrchr(path, '/') + 1;
	if (dfd >= 0)
		(void)base_write_file_atomic(dfd, name, buf, len, 0600);
}

int rt_seccomp_prepare(const struct oci_seccomp *s, const char *cache_dir,
		       struct berr *err)
{
	if (!cache_dir || rt_seccomp_uses_notify(s))
		return rt_seccomp_validate(s, err);
	int r = check_profile(s, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *key = cache_key(s);
	if (!key)
		return rt_seccomp_validate(s, err);
	_cleanup_free_ char *path = cache_path(cache_dir, key);
	if (cache_lookup(s, path, key))
		return 0;
	r = rt_seccomp_validate(s, err);
	if (r == 0 && compiled.profile == s)
		cache_store(cache_dir, path, key);
	return r;
}

void rt_seccomp_forget(void)
{
	free(compiled.insns);
	compiled.insns = NULL;
	compiled.profile = NULL;
}

/* Installs a program; the notify fd with SECCOMP_FILTER_FLAG_NEW_LISTENER,
 * else 0. */
static long load_program(struct sock_filter *insns, unsigned short n,
			 unsigned fl, struct berr *err)
{
	struct sock_fprog prog = {.len = n, .filter = insns};
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, fl, &prog);
	return fd < 0 ? berr_set(err, errno, "load the seccomp filter") : fd;
}

/* ---- the listener ----------------------------------------------------- */

int rt_seccomp_listener_connect(const char *path, struct berr *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!path || path[0] != '/')
		return berr_setx(err, EINVAL,
				 "seccomp listenerPath `%s` must be an "
				 "absolute path",
				 path ? path : "");
	if (strlen(path) >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG, "seccomp listenerPath `%s`",
				path);
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket");
	int r;
	do
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return berr_set(err, errno,
				"connect to seccomp listenerPath `%s`", path);
	return TAKE_FD(fd);
}

int rt_seccomp_listener_open(const struct oci_config *c, int *fd,
			     struct berr *err)
{
	*fd = -1;
	const struct oci_seccomp *s = rt_seccomp_of(c);
	if (!rt_seccomp_uses_notify(s))
		return 0;
	const char *path = s->listener_path;
	if (!path || !*path)
		return berr_setx(err, EINVAL,
				 "linux.seccomp: SCMP_ACT_NOTIFY needs "
				 "listenerPath");
	int r = rt_seccomp_listener_connect(path, err);
	if (r < 0)
		return r;
	*fd = r;
	return 0;
}

static void json_escape(char **out, const char *s)
{
	size_t n = 0;
	_cleanup_free_ char *buf = base_calloc(strlen(s) * 6 + 3, 1);
	buf[n++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)*p;
		} else if (*p < 0x20) {
			n += (size_t)sprintf(buf + n, "\\u%04x", *p);
		} else {
			buf[n++] = (char)*p;
		}
	}
	buf[n++] = '"';
	*out = TAKE_PTR(buf);
}

char *rt_seccomp_process_state_json(const struct rt_seccomp_load *l)
{
	_cleanup_free_ char *state = oci_state_hook_json(l->state, l->status);
	_cleanup_free_ char *meta = NULL;
	const char *md = l->seccomp->listener_metadata;
	if (md && *md) {
		_cleanup_free_ char *q = NULL;
		json_escape(&q, md);
		meta = base_sprintf(",\"metadata\":%s", q);
	}
	return base_sprintf("{\"ociVersion\":\"%s\",\"fds\":[\"seccompFd\"],"
			    "\"pid\":%d%s,\"state\":%s}",
			    OCI_SPEC_VERSION, l->pid > 0 ? l->pid : getpid(),
			    meta ? meta : "", state);
}

/* ---- loading ---------------------------------------------------------- */

static int send_notify_fd(int fd, const struct rt_seccomp_load *l,
			  const char *msg, struct berr *err)
{
	int r = base_send_fd(l->listener_fd, fd, msg, strlen(msg));
	/* the container process must never hold its own notify fd */
	close(fd);
	if (r < 0)
		return berr_set(err, -r,
				"send the seccomp fd to listenerPath `%s`",
				l->seccomp->listener_path);
	return 0;
}

/* Builds the program now (a profile create did not compile, or one with
 * SCMP_ACT_NOTIFY, whose fd only the load makes) and loads it. */
static int build_and_load(const struct rt_seccomp_load *l, bool notify,
			  struct berr *err)
{
	_cleanup_free_ char *msg =
		notify ? rt_seccomp_process_state_json(l) : NULL;
	scmp_filter_ctx ctx;
	int r = build_filter(l->seccomp, &ctx, err);
	if (r < 0)
		return r;
	_cleanup_free_ struct sock_filter *insns = NULL;
	unsigned short n = 0;
	r = export_program(l->seccomp, ctx, &insns, &n);
	unsigned fl = filter_flags(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return berr_set(err, -r, "compile the seccomp filter");
	if (notify)
		fl |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
	long fd = load_program(insns, n, fl, err);
	if (fd < 0)
		return (int)fd;
	return notify ? send_notify_fd((int)fd, l, msg, err) : 0;
}

static int load(const struct rt_seccomp_load *l, struct berr *err)
{
	bool notify = rt_seccomp_uses_notify(l->seccomp);
	if (notify && l->listener_fd < 0)
		return berr_setx(err, EINVAL,
				 "linux.seccomp: SCMP_ACT_NOTIFY needs a "
				 "connected listenerPath");
	/* built before the load: fewer calls run under the filter */
	if (!notify && compiled.profile == l->seccomp && compiled.insns)
		return (int)load_program(compiled.insns, compiled.len,
					 compiled.flags, err);
	return build_and_load(l, notify, err);
}

int rt_seccomp_load_early(const struct rt_seccomp_load *l, struct berr *err)
{
	if (!l || !l->seccomp || l->no_new_privs)
		return 0;
	return load(l, err);
}

int rt_seccomp_load_late(const struct rt_seccomp_load *l, struct berr *err)
{
	if (!l || !l->seccomp || !l->no_new_privs)
		return 0;
	return load(l, err);
}

/* ---- features --------------------------------------------------------- */

/* The kernel checks the flags before it reads the (NULL) program, so
 * EFAULT means it knows them; nothing is installed. */
static bool kernel_has_flag(unsigned flag)
{
	return syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, flag,
		       NULL) < 0 &&
	       errno == EFAULT;
}

static size_t list_flags(bool supported, const char **out, size_t max)
{
	size_t n = 0;
	unsigned api = seccomp_api_get();
	for (size_t i = 0; i < ARRAY_SIZE(flags) && n < max; i++) {
		const struct flag *f = &flags[i];
		if (supported && (!f->in_libseccomp || api < f->min_api ||
				  !kernel_has_flag(f->kernel_flag)))
			continue;
		out[n++] = f->name;
	}
	return n;
}

static size_t list_static(const char *const *v, size_t len, const char **out,
			  size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n < max; i++)
		out[n++] = v[i];
	return n;
}

size_t rt_seccomp_list(enum rt_seccomp_list which, const char **out, size_t max)
{
	size_t n = 0;
	switch (which) {
	case RT_SECCOMP_ACTIONS:
		return list_static(action_names, ARRAY_SIZE(action_names), out,
				   max);
	case RT_SECCOMP_OPERATORS:
		return list_static(op_names, ARRAY_SIZE(op_names), out, max);
	case RT_SECCOMP_ARCHS:
		for (size_t i = 0; i < ARRAY_SIZE(arch_names) && n < max; i++)
			if (rt_seccomp_arch_token(arch_names[i]))
				out[n++] = arch_names[i];
		return n;
	case RT_SECCOMP_KNOWN_FLAGS:
		return list_flags(false, out, max);
	case RT_SECCOMP_SUPPORTED_FLAGS:
		return list_flags(true, out, max);
	}
	return 0;
}
