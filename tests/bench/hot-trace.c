/* hot-trace: which instructions of a program a command line runs, in the
 * order they first run, so that the link can put them together.
 *
 *   hot-trace OUT PROGRAM ARGS...
 *
 * Runs PROGRAM under ptrace, single-stepping it and every process it
 * clones until that process execs something else (a container's own
 * program, a hook). Each first run of an instruction inside PROGRAM's
 * executable mapping, by the process started or by any of its clones, is
 * written to OUT as a line "ADDRESS ROLE": ADDRESS in hex as nm prints it
 * (16 digits, the load address taken off), ROLE `p` for the process
 * started, `c` for its clones. The exit status is
 * PROGRAM's. Processes still running when PROGRAM exits (the init that
 * `create` leaves waiting for `start`) are let go, to run on untraced.
 *
 * Calls out of PROGRAM (into libc) run freely to their return, and a
 * callback from there into PROGRAM is not seen. Slow by design: it is a
 * build-time profile, never part of a timed run.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static uintptr_t g_lo, g_hi, g_base, g_entry;
/* What the main process has run, and what its clones have: kept apart, so
 * that code both run is listed for the main process too. */
static unsigned char *g_seen[2];
static pid_t g_main;
static FILE *g_out;

static void die(const char *what)
{
	fprintf(stderr, "hot-trace: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* The executable mapping of the program itself, from /proc/PID/maps: the
 * r-xp line that maps the file /proc/PID/exe names; the load address is
 * where that file's offset 0 is mapped. */
static void find_text(pid_t pid)
{
	char path[64], exe[4096], line[4608];
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	ssize_t n = readlink(path, exe, sizeof(exe) - 1);
	if (n < 0)
		die("readlink /proc/PID/exe");
	exe[n] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		die("open /proc/PID/maps");
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off;
		char perm[8], file[4096] = "";
		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095s", &lo, &hi,
			   perm, &off, file) < 4)
			continue;
		if (strcmp(file, exe) != 0)
			continue;
		if (off == 0 && !g_base)
			g_base = lo;
		if (strcmp(perm, "r-xp") == 0 && !g_hi)
			g_lo = lo, g_hi = hi;
	}
	fclose(f);
	if (!g_hi || !g_base) {
		fprintf(stderr, "hot-trace: no executable mapping of %s\n",
			exe);
		exit(2);
	}
	g_seen[0] = calloc(g_hi - g_lo, 1);
	g_seen[1] = calloc(g_hi - g_lo, 1);
	if (!g_seen[0] || !g_seen[1])
		die("calloc");
}

/* Single-stepping costs a trap per instruction, which under a hypervisor
 * is tens of microseconds. Code outside the program (libc, the dynamic
 * loader) is not what we are after, so a tracee that calls out of the
 * program runs freely to a breakpoint on the return address. */
struct tracee {
	pid_t pid;
	uintptr_t last; /* the last instruction stepped */
	uintptr_t bp;	/* the breakpoint it runs to, or 0 */
	long orig;	/* the word the breakpoint replaced */
};
static struct tracee g_t[256];

static struct tracee *tracee(pid_t pid)
{
	struct tracee *free_slot = NULL;
	for (size_t i = 0; i < sizeof(g_t) / sizeof(g_t[0]); i++) {
		if (g_t[i].pid == pid)
			return &g_t[i];
		if (!g_t[i].pid && !free_slot)
			free_slot = &g_t[i];
	}
	if (!free_slot) {
		fprintf(stderr, "hot-trace: too many processes\n");
		exit(2);
	}
	*free_slot = (struct tracee){.pid = pid};
	return free_slot;
}

static int in_text(uintptr_t a)
{
	return a >= g_lo && a < g_hi;
}

static void set_bp(struct tracee *t, uintptr_t at)
{
	errno = 0;
	long w = ptrace(PTRACE_PEEKTEXT, t->pid, (void *)at, 0);
	if (errno)
		return;
	if (ptrace(PTRACE_POKETEXT, t->pid, (void *)at,
		   (void *)((w & ~0xffL) | 0xcc)) < 0)
		return;
	t->bp = at, t->orig = w;
}

/* The tracee stopped after a single step, or on its breakpoint. */
static void stepped(struct tracee *t)
{
	struct user_regs_struct r;
	if (ptrace(PTRACE_GETREGS, t->pid, 0, &r) < 0)
		return;
	if (t->bp && r.rip == t->bp + 1) {
		ptrace(PTRACE_POKETEXT, t->pid, (void *)t->bp, (void *)t->orig);
		r.rip = t->bp;
		ptrace(PTRACE_SETREGS, t->pid, 0, &r);
		t->bp = 0;
	}
	uintptr_t ip = r.rip;
	if (in_text(ip)) {
		int clone = t->pid != g_main;
		if (!g_seen[clone][ip - g_lo]) {
			g_seen[clone][ip - g_lo] = 1;
			fprintf(g_out, "%016lx %c\n",
				(unsigned long)(ip - g_base),
				clone ? 'c' : 'p');
		}
		t->last = ip;
		return;
	}
	/* Left the program: by a call or a jump (then the top of the stack
	 * is where it comes back), or by a return (then keep stepping).
	 * _start's call stays stepped: libc calls the constructors and main
	 * from there. */
	if (t->last && !t->bp &&
	    (t->last < g_entry || t->last >= g_entry + 64)) {
		errno = 0;
		long op = ptrace(PTRACE_PEEKTEXT, t->pid, (void *)t->last, 0);
		long ret = ptrace(PTRACE_PEEKDATA, t->pid, (void *)r.rsp, 0);
		/* The lazy-binding stub pushed two words over the return
		 * address before its jmp *GOT (ff 25) to the resolver. */
		if (!errno && (op & 0xffff) == 0x25ff &&
		    !in_text((uintptr_t)ret))
			ret = ptrace(PTRACE_PEEKDATA, t->pid,
				     (void *)(r.rsp + 16), 0);
		if (!errno && (op & 0xff) != 0xc3 && in_text((uintptr_t)ret))
			set_bp(t, (uintptr_t)ret);
	}
	t->last = 0;
}

/* The program's entry point, from /proc/PID/auxv: the dynamic loader
 * runs freely up to it. */
static uintptr_t entry_of(pid_t pid)
{
	char path[64];
	unsigned long v[2];
	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		die("open /proc/PID/auxv");
	uintptr_t entry = 0;
	while (fread(v, sizeof(v), 1, f) == 1 && v[0] != 0)
		if (v[0] == 9 /* AT_ENTRY */)
			entry = v[1];
	fclose(f);
	return entry;
}

/* One stop of one tracee; returns the signal to pass on. */
static int on_stop(struct tracee *t, int status, int *detach)
{
	int sig = WSTOPSIG(status), event = status >> 16;
	*detach = 0;
	if (sig == SIGTRAP && event == PTRACE_EVENT_EXEC) {
		if (t->pid == g_main && !g_hi) {
			find_text(t->pid);
			g_entry = entry_of(t->pid);
			set_bp(t, g_entry);
		} else {
			*detach = 1; /* a clone that exec'd another program */
		}
		return 0;
	}
	if (sig == SIGTRAP && event) { /* clone, fork, vfork */
		unsigned long child;
		if (ptrace(PTRACE_GETEVENTMSG, t->pid, 0, &child) == 0) {
			struct tracee *c = tracee((pid_t)child);
			c->bp = t->bp, c->orig = t->orig;
		}
		return 0;
	}
	if (sig == SIGTRAP) {
		if (g_hi)
			stepped(t);
		return 0;
	}
	/* A new clone starts with SIGSTOP; a group stop would too. */
	if (sig == SIGSTOP)
		return 0;
	return sig;
}

/* PROGRAM has exited: stop the tracees left, so that each can be let go
 * at its next stop. */
static void release_all(void)
{
	for (size_t i = 0; i < sizeof(g_t) / sizeof(g_t[0]); i++)
		if (g_t[i].pid)
			kill(g_t[i].pid, SIGSTOP);
}

/* Let one go: take its breakpoint out, since an int3 that nobody traces
 * kills it. SIGCONT wakes it if our SIGSTOP is still to come. */
static void release(struct tracee *t)
{
	struct user_regs_struct r;
	if (t->bp && ptrace(PTRACE_GETREGS, t->pid, 0, &r) == 0) {
		ptrace(PTRACE_POKETEXT, t->pid, (void *)t->bp, (void *)t->orig);
		if (r.rip == t->bp + 1) {
			r.rip = t->bp;
			ptrace(PTRACE_SETREGS, t->pid, 0, &r);
		}
	}
	ptrace(PTRACE_DETACH, t->pid, 0, 0);
	kill(t->pid, SIGCONT);
	t->pid = 0;
}

static int trace(void)
{
	int code = 0, released = 0;
	for (;;) {
		int status, detach;
		pid_t pid = waitpid(-1, &status, __WALL);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD)
				return code;
			die("waitpid");
		}
		struct tracee *t = tracee(pid);
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			t->pid = 0;
			if (pid == g_main) {
				code = WIFEXITED(status)
					       ? WEXITSTATUS(status)
					       : 128 + WTERMSIG(status);
				released = 1;
				release_all();
			}
			continue;
		}
		if (released) {
			release(t);
			continue;
		}
		int sig = on_stop(t, status, &detach);
		if (detach) {
			ptrace(PTRACE_DETACH, pid, 0, 0);
			t->pid = 0;
		} else {
			ptrace(t->bp ? PTRACE_CONT : PTRACE_SINGLESTEP, pid, 0,
			       (void *)(long)sig);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: hot-trace OUT PROGRAM ARGS...\n");
		return 2;
	}
	g_out = fopen(argv[1], "we");
	if (!g_out)
		die(argv[1]);
	g_main = fork();
	if (g_main < 0)
		die("fork");
	if (g_main == 0) {
		fclose(g_out);
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	int status;
	if (waitpid(g_main, &status, 0) < 0)
		die("waitpid");
	long opts = PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
		    PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC |
		    PTRACE_O_EXITKILL;
	if (ptrace(PTRACE_SETOPTIONS, g_main, 0, opts) < 0)
		die("PTRACE_SETOPTIONS");
	ptrace(PTRACE_CONT, g_main, 0, 0);
	int code = trace();
	if (fclose(g_out) != 0)
		die(argv[1]);
	return code;
}
