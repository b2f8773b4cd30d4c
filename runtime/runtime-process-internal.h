/* Private pieces of the process setup shared by runtime-process.c,
 * runtime-caps.c and runtime-features.c (and their unit tests). */
#ifndef BERTH_RUNTIME_PROCESS_INTERNAL_H
#define BERTH_RUNTIME_PROCESS_INTERNAL_H

#include <sched.h>

#include "runtime/runtime-internal.h"

/* Checks that every capability the config asks for is in berth's own
 * bounding set (the kernel would refuse it later with a bare EPERM), then
 * drops from the bounding set every capability the config's bounding set
 * lacks. Must run while berth still has CAP_SETPCAP effective, i.e. before
 * the user switch. */
int rt_caps_bound(const struct oci_process *p, struct berr *err);

/* Sets the effective, permitted and inheritable sets and raises the ambient
 * ones. Runs after the user switch (PR_SET_KEEPCAPS kept the permitted
 * set). A missing capabilities object means empty sets, as in runc. */
int rt_caps_apply(const struct oci_process *p, struct berr *err);

/* "CAP_SYS_ADMIN" for 21; "CAP_41" for numbers libcap does not name. */
void rt_cap_name(int cap, char *buf, size_t len);

/* Parses a cpuset list ("0-3,5") into a set of *size bytes allocated with
 * CPU_ALLOC (the caller CPU_FREEs it). -EINVAL on a malformed list. */
int rt_cpulist_parse(const char *s, cpu_set_t **set, size_t *size);

/* The fallback of rt_process_close_fds(): walks /proc/self/fd and marks
 * every fd >= first close-on-exec. */
int rt_process_cloexec_walk(int first, struct berr *err);

#endif
