/* The -ENOSYS stub prepended to a seccomp program, as runc 1.1 prepends
 * it.
 *
 * A profile is written against the syscalls its author knew. A syscall
 * newer than all of them (a number past the highest the profile names)
 * should fail with ENOSYS, which programs and libcs take as "not on this
 * kernel" and fall back from (clone3 -> clone, openat2 -> openat), rather
 * than with the profile's default errno (EPERM), which they take as a
 * refusal. libseccomp cannot express "greater than", so berth puts a few
 * instructions of its own in front of the program libseccomp compiled:
 *
 *     ld  [arch]
 *     jeq ARCH_1, sec_1 ... jeq ARCH_n, sec_n
 *     ja  filter
 *   sec_i:
 *     ld  [nr]
 *     (x86_64: the x32 bit chooses between two maximums)
 *     jgt MAX_i, enosys, filter
 *   enosys:
 *     ret ERRNO(ENOSYS)
 *   filter:
 *     libseccomp's program, unchanged
 *
 * Every jump is forward and short (the stub is far below 255
 * instructions), so no offset in libseccomp's program changes. As in
 * runc, a profile whose default action lets calls through (ALLOW, LOG,
 * TRACE) or already answers ENOSYS gets no stub. */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <string.h>

#include "runtime/runtime-internal.h"

#define X32_SYSCALL_BIT 0x40000000U
#define MAX_ARCHES 24
#define STUB_MAX 200 /* 3 + 24 jeq + 24 * 4 + 1, well below 255 */

/* One kernel architecture (AUDIT_ARCH_*) and the highest syscall number
 * the profile names on it; x86_64 also has its x32 ABI's. */
struct arch_max {
	uint32_t audit;
	uint32_t max, max_x32; /* 0: none */
};

struct stub {
	struct sock_filter v[STUB_MAX];
	size_t n;
};

static void emit(struct stub *s, uint16_t code, size_t jt, size_t jf,
		 uint32_t k)
{
	/* the layout keeps every offset small; a bad one is a bug here */
	if (s->n < STUB_MAX && jt < 256 && jf < 256)
		s->v[s->n] = (struct sock_filter)BPF_JUMP(code, k, (uint8_t)jt,
							  (uint8_t)jf);
	s->n++;
}

/* libseccomp's SCMP_ARCH_X32 is a token of its own; the kernel reports
 * x32 processes as x86_64 with the x32 bit in the syscall number. */
static struct arch_max *slot(struct arch_max *a, size_t *n, uint32_t tok)
{
	uint32_t audit = tok == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : tok;
	for (size_t i = 0; i < *n; i++)
		if (a[i].audit == audit)
			return &a[i];
	if (*n == MAX_ARCHES)
		return NULL;
	a[*n] = (struct arch_max){.audit = audit};
	return &a[(*n)++];
}

static void note_max(const struct oci_seccomp *s, uint32_t tok,
		     struct arch_max *a)
{
	uint32_t max = 0;
	for (size_t i = 0; i < s->n_syscalls; i++)
		for (char **n = s->syscalls[i].names; n && *n; n++) {
			int nr = seccomp_syscall_resolve_name_arch(tok, *n);
			if (nr >= 0 && (uint32_t)nr > max)
				max = (uint32_t)nr;
		}
	if (tok == SCMP_ARCH_X32)
		a->max_x32 = max;
	else
		a->max = max;
}

static size_t collect(const struct oci_seccomp *s, struct arch_max *a)
{
	size_t n = 0;
	uint32_t native = seccomp_arch_native();
	bool any = false;
	for (char **p = s->architectures; p && *p; p++) {
		uint32_t tok = rt_seccomp_arch_token(*p);
		struct arch_max *m = tok ? slot(a, &n, tok) : NULL;
		if (m)
			note_max(s, tok, m);
		any = true;
	}
	/* libseccomp's filter always covers the native architecture */
	if (!any) {
		struct arch_max *m = slot(a, &n, native);
		if (m)
			note_max(s, native, m);
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (a[i].max || a[i].max_x32)
			a[k++] = a[i];
	return k;
}

static size_t section_len(const struct arch_max *a)
{
	if (a->audit == AUDIT_ARCH_X86_64)
		return a->max && a->max_x32 ? 4 : 3;
	if (a->audit == AUDIT_ARCH_S390 || a->audit == AUDIT_ARCH_S390X)
		return 3;
	return 2;
}

/* One architecture's section at s->n; enosys and filter are the absolute
 * positions of the ret and of libseccomp's first instruction. */
static void emit_section(struct stub *s, const struct arch_max *a,
			 size_t enosys, size_t filter)
{
	emit(s, BPF_LD | BPF_W | BPF_ABS, 0, 0,
	     offsetof(struct seccomp_data, nr));
#define TO(t) ((t)-s->n - 1)
	if (a->audit == AUDIT_ARCH_X86_64 && a->max && a->max_x32) {
		emit(s, BPF_JMP | BPF_JSET | BPF_K, 1, 0, X32_SYSCALL_BIT);
		emit(s, BPF_JMP | BPF_JGT | BPF_K, TO(enosys), TO(filter),
		     a->max);
		emit(s, BPF_JMP | BPF_JGT | BPF_K, TO(enosys), TO(filter),
		     a->max_x32);
		return;
	}
	if (a->audit == AUDIT_ARCH_X86_64 && a->max)
		emit(s, BPF_JMP | BPF_JSET | BPF_K, TO(filter), 0,
		     X32_SYSCALL_BIT);
	else if (a->audit == AUDIT_ARCH_X86_64)
		emit(s, BPF_JMP | BPF_JSET | BPF_K, 0, TO(filter),
		     X32_SYSCALL_BIT);
	else if (a->audit == AUDIT_ARCH_S390 || a->audit == AUDIT_ARCH_S390X)
		/* unknown large numbers reach the kernel as setup(2), 0 */
		emit(s, BPF_JMP | BPF_JEQ | BPF_K, TO(enosys), 0, 0);
	emit(s, BPF_JMP | BPF_JGT | BPF_K, TO(enosys), TO(filter),
	     a->max ? a->max : a->max_x32);
#undef TO
}

static bool lets_through(const struct oci_seccomp *s)
{
	switch (s->default_action) {
	case OCI_SCMP_ACT_ALLOW:
	case OCI_SCMP_ACT_LOG:
	case OCI_SCMP_ACT_TRACE:
		return true;
	case OCI_SCMP_ACT_ERRNO:
		return s->has_default_errno_ret &&
		       s->default_errno_ret == ENOSYS;
	default:
		return false;
	}
}

size_t rt_seccomp_enosys_stub(const struct oci_seccomp *s,
			      struct sock_filter *out, size_t max)
{
	struct arch_max a[MAX_ARCHES];
	size_t na = lets_through(s) ? 0 : collect(s, a);
	if (na == 0)
		return 0;
	size_t len = 2 + na + 1;
	for (size_t i = 0; i < na; i++)
		len += section_len(&a[i]);
	size_t enosys = len - 1, filter = len;
	struct stub st = {.n = 0};
	emit(&st, BPF_LD | BPF_W | BPF_ABS, 0, 0,
	     offsetof(struct seccomp_data, arch));
	size_t sec = 2 + na;
	for (size_t i = 0; i < na; i++) {
		emit(&st, BPF_JMP | BPF_JEQ | BPF_K, sec - st.n - 1, 0,
		     a[i].audit);
		sec += section_len(&a[i]);
	}
	emit(&st, BPF_JMP | BPF_JA | BPF_K, 0, 0,
	     (uint32_t)(filter - st.n - 1));
	for (size_t i = 0; i < na; i++)
		emit_section(&st, &a[i], enosys, filter);
	emit(&st, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS);
	if (st.n != len || len > max || len > STUB_MAX)
		return 0;
	memcpy(out, st.v, len * sizeof(*out));
	return len;
}
