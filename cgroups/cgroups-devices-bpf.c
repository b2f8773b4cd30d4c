/* Device rules on the unified hierarchy: cgroup v2 has no devices files,
 * so the rules become a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the
 * group's directory. The kernel runs it on every open and mknod of a device
 * node by a process of the group (or of a group below it) and refuses the
 * access when it returns 0.
 *
 * The rules are first folded the way the v1 devices controller folds its
 * writes (cgroups' "exceptions"): an "a" rule resets the default to allow
 * or deny and forgets every exception; any other rule adds an exception to
 * the default or takes access bits away from the exception with exactly
 * its type and numbers. The program then holds only the exceptions, all of
 * them with the action opposite to the default, so their order does not
 * matter and a container gets the same devices on v1 and v2. As runc does,
 * a rule that would have to punch a hole into a wildcard exception (deny
 * c 1:5 after allowing c 1:*) is refused, since v1 would silently ignore
 * it.
 *
 * The program is built instruction by instruction (no compiler, no
 * libbpf) and loaded and attached with the raw bpf(2) syscall. Attaching
 * uses BPF_F_ALLOW_MULTI so that programs other managers attached stay;
 * the programs berth attached earlier (recognised by their name) are
 * detached once the new one is in place, so that the group is never
 * without a filter. */
#include <fcntl.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgroups/cgroups-internal.h"

#define PROG_NAME "berth_devices" /* < BPF_OBJ_NAME_LEN */
#define ACC_ALL (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)

/* ---- folding the rules (v1's semantics) ---- */

struct dev_ex {
	char type; /* 'c' or 'b' */
	int64_t major, minor;
	unsigned acc; /* BPF_DEVCG_ACC_* */
};

struct dev_set {
	bool default_allow;
	struct dev_ex *v;
	size_t n;
};

static unsigned access_bits(const char *access)
{
	if (!access || !*access)
		return ACC_ALL;
	unsigned a = 0;
	for (const char *p = access; *p; p++)
		a |= *p == 'r'	 ? BPF_DEVCG_ACC_READ
		     : *p == 'w' ? BPF_DEVCG_ACC_WRITE
		     : *p == 'm' ? BPF_DEVCG_ACC_MKNOD
				 : 0;
	return a;
}

static void access_text(unsigned a, char buf[4])
{
	char *w = buf;
	if (a & BPF_DEVCG_ACC_READ)
		*w++ = 'r';
	if (a & BPF_DEVCG_ACC_WRITE)
		*w++ = 'w';
	if (a & BPF_DEVCG_ACC_MKNOD)
		*w++ = 'm';
	*w = '\0';
}

static void num_text(int64_t v, char buf[24])
{
	if (v == CG_ANY)
		snprintf(buf, 24, "*");
	else
		snprintf(buf, 24, "%lld", (long long)v);
}

static struct dev_ex *find_ex(struct dev_set *s, char type, int64_t major,
			      int64_t minor)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].type == type && s->v[i].major == major &&
		    s->v[i].minor == minor)
			return &s->v[i];
	return NULL;
}

static void add_ex(struct dev_set *s, const struct dev_ex *ex)
{
	struct dev_ex *have = find_ex(s, ex->type, ex->major, ex->minor);
	if (have) {
		have->acc |= ex->acc;
		return;
	}
	s->v = base_realloc(s->v, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = *ex;
}

/* Takes ex's access away from the exception with exactly its numbers,
 * after refusing to narrow a wildcard exception (v1 would ignore it). */
static int remove_ex(struct dev_set *s, const struct dev_ex *ex, size_t idx,
		     struct berr *err)
{
	const int64_t wild[3][2] = {
		{CG_ANY, ex->minor}, {ex->major, CG_ANY}, {CG_ANY, CG_ANY}};
	for (size_t k = 0; k < 3; k++) {
		if (wild[k][0] == ex->major && wild[k][1] == ex->minor)
			continue;
		struct dev_ex *w = find_ex(s, ex->type, wild[k][0], wild[k][1]);
		if (!w || !(w->acc & ex->acc))
			continue;
		char a[4], b[4], ma[24], mi[24], wa[24], wi[24];
		access_text(ex->acc, a);
		access_text(w->acc, b);
		num_text(ex->major, ma);
		num_text(ex->minor, mi);
		num_text(w->major, wa);
		num_text(w->minor, wi);
		return berr_setx(
			err, EINVAL,
			"linux.resources.devices[%zu]: \"%c %s:%s %s\" "
			"cannot be taken out of the earlier wildcard "
			"rule \"%c %s:%s %s\" (cgroup v1 would ignore "
			"it)",
			idx, ex->type, ma, mi, a, w->type, wa, wi, b);
	}
	struct dev_ex *have = find_ex(s, ex->type, ex->major, ex->minor);
	if (have) {
		have->acc &= ~ex->acc;
		if (!have->acc)
			*have = s->v[--s->n];
	}
	return 0;
}

/* Folds the rules, starting from "deny everything" as the v1 writer
 * does. The caller frees s->v. */
static int fold_rules(const struct cg_device_rule *rules, size_t n,
		      struct dev_set *s, struct berr *err)
{
	*s = (struct dev_set){0};
	for (size_t i = 0; i < n; i++) {
		const struct cg_device_rule *r = &rules[i];
		if (r->type == 'a') {
			s->default_allow = r->allow;
			s->n = 0;
			continue;
		}
		if (r->type != 'c' && r->type != 'b')
			return berr_setx(err, EINVAL,
					 "linux.resources.devices[%zu].type: "
					 "unknown device type '%c'",
					 i, r->type ? r->type : '?');
		struct dev_ex ex = {r->type, r->major, r->minor,
				    access_bits(r->access)};
		if (r->allow != s->default_allow)
			add_ex(s, &ex);
		else if (remove_ex(s, &ex, i, err) < 0)
			return -EINVAL;
	}
	return 0;
}

/* ---- the program ---- */

/* struct bpf_cgroup_dev_ctx: u32 access_type (access << 16 | type),
 * u32 major, u32 minor. */
#define INSN(c, d, s, o, i)                                                    \
	((struct bpf_insn){.code = (c),                                        \
			   .dst_reg = (d),                                     \
			   .src_reg = (s),                                     \
			   .off = (o),                                         \
			   .imm = (i)})
#define LDX_W(dst, src, off) INSN(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
#define ALU32_IMM(op, dst, imm) INSN(BPF_ALU | (op) | BPF_K, dst, 0, 0, imm)
#define MOV32_REG(dst, src) INSN(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
#define MOV32_IMM(dst, imm) INSN(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define JNE_IMM(dst, imm, off) INSN(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm)
#define JNE_REG(dst, src, off) INSN(BPF_JMP | BPF_JNE | BPF_X, dst, src, off, 0)
#define EXIT_INSN() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

struct prog {
	struct bpf_insn *v;
	size_t n;
};

static void emit(struct prog *p, struct bpf_insn insn)
{
	p->v = base_realloc(p->v, p->n + 1, sizeof(*p->v));
	p->v[p->n++] = insn;
}

/* One block per exception: every test that fails jumps past the block;
 * a block whose tests all pass returns its verdict. */
static void emit_ex(struct prog *p, const struct dev_ex *ex, bool allow)
{
	bool any_acc = ex->acc == ACC_ALL;
	size_t len = 1 + (any_acc ? 0 : 3) + (ex->major != CG_ANY) +
		     (ex->minor != CG_ANY) + 2;
	size_t end = p->n + len;
#define TO_END() ((int16_t)(end - (p->n + 1)))
	emit(p,
	     JNE_IMM(BPF_REG_2,
		     ex->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK,
		     TO_END()));
	if (!any_acc) {
		/* every requested bit must be one the rule names */
		emit(p, MOV32_REG(BPF_REG_1, BPF_REG_3));
		emit(p, ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)ex->acc));
		emit(p, JNE_REG(BPF_REG_1, BPF_REG_3, TO_END()));
	}
	if (ex->major != CG_ANY)
		emit(p, JNE_IMM(BPF_REG_4, (int32_t)ex->major, TO_END()));
	if (ex->minor != CG_ANY)
		emit(p, JNE_IMM(BPF_REG_5, (int32_t)ex->minor, TO_END()));
#undef TO_END
	emit(p, MOV32_IMM(BPF_REG_0, allow ? 1 : 0));
	emit(p, EXIT_INSN());
}

static void build_prog(const struct dev_set *s, struct prog *p)
{
	*p = (struct prog){0};
	emit(p, LDX_W(BPF_REG_2, BPF_REG_1, 0));
	emit(p, ALU32_IMM(BPF_AND, BPF_REG_2, 0xffff));
	emit(p, LDX_W(BPF_REG_3, BPF_REG_1, 0));
	emit(p, ALU32_IMM(BPF_RSH, BPF_REG_3, 16));
	emit(p, LDX_W(BPF_REG_4, BPF_REG_1, 4));
	emit(p, LDX_W(BPF_REG_5, BPF_REG_1, 8));
	for (size_t i = 0; i < s->n; i++)
		emit_ex(p, &s->v[i], !s->default_allow);
	emit(p, MOV32_IMM(BPF_REG_0, s->default_allow ? 1 : 0));
	emit(p, EXIT_INSN());
}

/* ---- bpf(2) ---- */

static int sys_bpf(int cmd, union bpf_attr *a)
{
	long r = syscall(SYS_bpf, cmd, a, sizeof(*a));
	return r < 0 ? -errno : (int)r;
}

static int load_prog(const struct prog *p, struct berr *err)
{
	static const char license[] = "Apache-2.0";
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)p->v;
	a.insn_cnt = (uint32_t)p->n;
	a.license = (uint64_t)(uintptr_t)license;
	memcpy(a.prog_name, PROG_NAME, sizeof(PROG_NAME));
	int fd = sys_bpf(BPF_PROG_LOAD, &a);
	if (fd >= 0)
		return fd;
	int r = fd;
	if (r == -EINVAL || r == -EACCES) {
		/* ask the verifier why, for the debug log */
		char log[4096] = "";
		a.log_buf = (uint64_t)(uintptr_t)log;
		a.log_size = sizeof(log);
		a.log_level = 1;
		int again = sys_bpf(BPF_PROG_LOAD, &a);
		if (again >= 0)
			close(again);
		blog_debug("bpf verifier: %s", log);
	}
	return berr_set(err, -r, "load the device filter (BPF_PROG_LOAD)");
}

static bool is_berth_prog(int fd)
{
	struct bpf_prog_info info;
	memset(&info, 0, sizeof(info));
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = sizeof(info);
	a.info.info = (uint64_t)(uintptr_t)&info;
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) < 0)
		return false;
	return !strncmp(info.name, PROG_NAME, sizeof(info.name));
}

/* The device programs attached to the group itself (not inherited). */
static int query_progs(int dirfd, uint32_t *ids, size_t max, size_t *n,
		       uint32_t *flags)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.query.target_fd = (uint32_t)dirfd;
	a.query.attach_type = BPF_CGROUP_DEVICE;
	a.query.prog_ids = (uint64_t)(uintptr_t)ids;
	a.query.prog_cnt = (uint32_t)max;
	int r = sys_bpf(BPF_PROG_QUERY, &a);
	if (r < 0)
		return r;
	*n = a.query.prog_cnt < max ? a.query.prog_cnt : max;
	*flags = a.query.attach_flags;
	return 0;
}

#define MAX_PROGS 64 /* the kernel's own limit per cgroup and type */

/* fds of berth's earlier programs on the group, to detach afterwards. */
static size_t old_progs(int dirfd, int *fds, bool *multi)
{
	uint32_t ids[MAX_PROGS], flags = 0;
	size_t n = 0, k = 0;
	*multi = true;
	if (query_progs(dirfd, ids, MAX_PROGS, &n, &flags) < 0)
		return 0;
	/* a single program attached without ALLOW_MULTI can only be
	 * replaced, not joined */
	*multi = n == 0 || (flags & BPF_F_ALLOW_MULTI);
	for (size_t i = 0; i < n; i++) {
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.prog_id = ids[i];
		int fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
		if (fd < 0)
			continue;
		if (is_berth_prog(fd))
			fds[k++] = fd;
		else
			close(fd);
	}
	return k;
}

static void detach(int dirfd, int progfd, const char *dir)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.target_fd = (uint32_t)dirfd;
	a.attach_bpf_fd = (uint32_t)progfd;
	a.attach_type = BPF_CGROUP_DEVICE;
	int r = sys_bpf(BPF_PROG_DETACH, &a);
	if (r < 0)
		blog_debug("cgroup %s: detach an old device filter: %s", dir,
			   strerror(-r));
}

static int attach(const char *dir, int progfd, struct berr *err)
{
	_cleanup_close_ int dirfd =
		open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return berr_set(err, errno, "open %s", dir);
	int old[MAX_PROGS];
	bool multi;
	size_t n_old = old_progs(dirfd, old, &multi);
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.target_fd = (uint32_t)dirfd;
	a.attach_bpf_fd = (uint32_t)progfd;
	a.attach_type = BPF_CGROUP_DEVICE;
	a.attach_flags = multi ? BPF_F_ALLOW_MULTI : 0;
	int r = sys_bpf(BPF_PROG_ATTACH, &a);
	for (size_t i = 0; i < n_old; i++) {
		if (r == 0 && multi)
			detach(dirfd, old[i], dir);
		close(old[i]);
	}
	if (r < 0)
		return berr_set(err, -r,
				"attach the device filter to %s "
				"(BPF_PROG_ATTACH)",
				dir);
	return 0;
}

/* ---- entry points ---- */

static bool in_user_namespace(void)
{
	_cleanup_free_ char *map = NULL;
	if (base_read_file_at(AT_FDCWD, "/proc/self/uid_map", &map, NULL, 0) <
	    0)
		return false;
	unsigned long a = 0, b = 0, c = 0;
	return sscanf(map, "%lu %lu %lu", &a, &b, &c) != 3 || a != 0 ||
	       b != 0 || c != 4294967295UL;
}

/* Like runc: where bpf(2) is out of reach (a user namespace), rules that
 * only allow full access lose nothing by being skipped. */
static bool can_skip(const struct cg_resources *r)
{
	if (in_user_namespace())
		return true;
	for (size_t i = 0; i < r->n_devices; i++)
		if (!r->devices[i].allow ||
		    access_bits(r->devices[i].access) != ACC_ALL)
			return false;
	return true;
}

int cg_v2_devices_check(const struct cg_resources *r, struct berr *err)
{
	struct dev_set s;
	int ret = fold_rules(r->devices, r->n_devices, &s, err);
	free(s.v);
	return ret;
}

int cg_v2_devices_write(const char *dir, const struct cg_resources *r,
			struct berr *err)
{
	struct dev_set s;
	int ret = fold_rules(r->devices, r->n_devices, &s, err);
	struct prog p = {0};
	if (ret == 0)
		build_prog(&s, &p);
	free(s.v);
	if (ret < 0)
		return ret;
	_cleanup_free_ struct bpf_insn *insns = p.v;
	_cleanup_close_ int fd = load_prog(&p, err);
	if (fd < 0)
		ret = fd;
	else
		ret = attach(dir, fd, err);
	if (ret < 0 && (ret == -EPERM || ret == -EACCES) && can_skip(r)) {
		blog_debug("cgroup %s: device filter skipped: %s", dir,
			   err ? err->msg : "");
		berr_clear(err);
		return 0;
	}
	if (ret == 0)
		blog_debug("cgroup %s: device filter of %zu instructions", dir,
			   p.n);
	return ret;
}

int cg_v2_devices_attached(const char *dir, size_t *n)
{
	_cleanup_close_ int dirfd =
		open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	int fds[MAX_PROGS];
	bool multi;
	*n = old_progs(dirfd, fds, &multi);
	for (size_t i = 0; i < *n; i++)
		close(fds[i]);
	return 0;
}
