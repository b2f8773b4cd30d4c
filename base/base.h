/* base: the few things every berth module needs and nothing else.
 *
 * - struct berr: a fixed-size error (code + one line naming the object and
 *   the cause). It needs no free, so it is safe to fill in a child after
 *   clone() and to copy through a pipe or shared memory.
 * - cleanup attributes (_cleanup_free_, _cleanup_close_, ...) so that a
 *   function releases what it owns on every return path.
 * - logging to the --log file (text or JSON lines). Library code logs only
 *   at debug level; the command line prints errors.
 * - small fd/path helpers that every module would otherwise copy.
 *
 * base depends on nothing but libc. Every function is safe to call from
 * several processes; the logger is not thread-safe (berth is single-threaded
 * wherever it logs). */
#ifndef BERTH_BASE_H
#define BERTH_BASE_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- errors ------------------------------------------------------------ */

#define BERR_MSG_MAX 512

struct berr {
	int code;		/* positive errno, 0 when no error */
	char msg[BERR_MSG_MAX]; /* "what where: cause", no trailing newline */
};

/* Sets e (if not NULL) to code and the formatted message followed by
 * ": strerror(code)". Returns -code, so callers write
 * `return berr_set(err, errno, "open %s", path);`. code must be > 0. */
int berr_set(struct berr *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like berr_set but the message is exactly fmt (no strerror suffix). */
int berr_setx(struct berr *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepends "formatted: " to the message, keeps the code. Returns -code
 * (or -EIO when e is NULL or holds no code). */
int berr_wrap(struct berr *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void berr_clear(struct berr *e);

/* ---- cleanup ------------------------------------------------------------ */

static inline void base_freep(void *p)
{
	free(*(void **)p);
}
static inline void base_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void base_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void base_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
/* Frees a NULL-terminated vector of strings and the vector. */
void base_strv_free(char **v);
static inline void base_strv_freep(char ***v)
{
	base_strv_free(*v);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(base_freep)
#define _cleanup_close_ _cleanup_(base_closep)
#define _cleanup_fclose_ _cleanup_(base_fclosep)
#define _cleanup_closedir_ _cleanup_(base_closedirp)
#define _cleanup_strv_ _cleanup_(base_strv_freep)

/* Hands ownership to the caller and disarms the cleanup. */
#define TAKE_PTR(p)                                                            \
	({                                                                     \
		__typeof__(p) _tp = (p);                                       \
		(p) = NULL;                                                    \
		_tp;                                                           \
	})
#define TAKE_FD(fd)                                                            \
	({                                                                     \
		int _tf = (fd);                                                \
		(fd) = -1;                                                     \
		_tf;                                                           \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging ----------------------------------------------------------- */

enum blog_level { BLOG_ERROR = 0, BLOG_WARN, BLOG_INFO, BLOG_DEBUG };

/* path NULL logs to stderr. json selects {"level","msg","time"} lines as
 * runc writes them. Returns 0 or -errno (the log file cannot be opened). */
int blog_open(const char *path, bool json, bool debug);
void blog_close(void);
/* Moves the log file off descriptor fd when it is there, before fd is
 * reused (a child that dup2()s something onto 3). */
int blog_vacate_fd(int fd);
bool blog_enabled(enum blog_level lvl);
/* True when the log goes to a file rather than to stderr. */
bool blog_to_file(void);
void blog(enum blog_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define blog_debug(...)                                                        \
	do {                                                                   \
		if (blog_enabled(BLOG_DEBUG))                                  \
			blog(BLOG_DEBUG, __VA_ARGS__);                         \
	} while (0)
#define blog_warn(...) blog(BLOG_WARN, __VA_ARGS__)
#define blog_error(...) blog(BLOG_ERROR, __VA_ARGS__)

/* ---- strings ----------------------------------------------------------- */

/* asprintf that aborts on ENOMEM (berth treats OOM as fatal). */
char *base_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *base_strdup(const char *s);	/* NULL -> NULL; aborts on ENOMEM */
void *base_calloc(size_t n, size_t sz); /* aborts on ENOMEM */
void *base_realloc(void *p, size_t n,
		   size_t sz); /* aborts on ENOMEM/overflow */
size_t base_strv_len(char *const *v);

/* n random lowercase hex digits and a NUL into out (n + 1 bytes): ids and
 * nonces, not secrets (the clock when getrandom fails). */
void base_random_hex(char *out, size_t n);
/* Appends a copy of s to *v (NULL-terminated), growing it. */
void base_strv_push(char ***v, const char *s);
bool base_str_has_prefix(const char *s, const char *prefix);

/* Strict decimal parsers: whole string, no sign for unsigned, range checked.
 * Return 0 or -EINVAL / -ERANGE. */
int base_parse_i64(const char *s, int64_t *out);
int base_parse_u64(const char *s, uint64_t *out);
int base_parse_int(const char *s, int *out);

/* ---- files and fds ----------------------------------------------------- */

/* Reads a whole file (at most max bytes, 0 = 64 MiB) into a NUL-terminated
 * buffer the caller frees. dirfd may be AT_FDCWD. Returns 0 or -errno. */
int base_read_file_at(int dirfd, const char *path, char **out, size_t *len,
		      size_t max);
/* Writes buf to an existing file (O_WRONLY|O_TRUNC unless flags say
 * otherwise, e.g. O_APPEND). Returns 0 or -errno; a short write is -EIO. */
int base_write_file_at(int dirfd, const char *path, const void *buf, size_t len,
		       int flags);
/* Writes buf to dir/name atomically for readers: a temporary name, then
 * rename. Not fsync'ed. */
int base_write_file_atomic(int dirfd, const char *name, const void *buf,
			   size_t len, mode_t mode);
/* mkdir -p relative to dirfd (AT_FDCWD for absolute paths). */
int base_mkdir_p(int dirfd, const char *path, mode_t mode);
/* rm -rf of dirfd/name, never crossing into other mounts (-EBUSY then). */
int base_rm_rf_at(int dirfd, const char *name);
/* The same, adding to *freed (may be NULL) the disk space given back
 * (st_blocks of every inode whose last link went). */
int base_rm_rf_at_freed(int dirfd, const char *name, uint64_t *freed);
/* write() all, retrying EINTR and short writes. */
int base_write_all(int fd, const void *buf, size_t len);
/* read() exactly len bytes; -EPIPE at EOF before len. */
int base_read_all(int fd, void *buf, size_t len);

/* Opens path inside the tree rooted at rootfd, never leaving it: uses
 * openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) and falls back to a
 * component-by-component walk that resolves symlinks against rootfd where
 * openat2 is missing. flags are open(2) flags; O_CLOEXEC is always added. */
int base_open_in_root(int rootfd, const char *path, int flags, mode_t mode);
/* mkdir -p of path inside rootfd (same confinement), returns an O_PATH fd
 * of the final directory or -errno. */
int base_mkdir_in_root(int rootfd, const char *path, mode_t mode);

/* Sends/receives one fd plus a small payload over an AF_UNIX socket. */
int base_send_fd(int sock, int fd, const void *data, size_t len);
int base_recv_fd(int sock, int *fd, void *data, size_t len);
/* The same with up to BASE_MAX_FDS fds in one message. base_recv_fds()
 * returns the payload's length (0: the peer closed) or -errno, keeps at
 * most max fds (O_CLOEXEC) in fds and closes any beyond. */
#define BASE_MAX_FDS 32
int base_send_fds(int sock, const int *fds, size_t nfds, const void *data,
		  size_t len);
ssize_t base_recv_fds(int sock, int *fds, size_t max, size_t *nfds, void *data,
		      size_t len);

/* Formats a CLOCK_REALTIME time as RFC 3339 with nanoseconds in UTC, as
 * Go's time.RFC3339Nano does ("2024-01-02T03:04:05.123456789Z"). */
void base_rfc3339(const struct timespec *ts, char *buf, size_t len);

/* Kernel feature checks, cached. */
bool base_have_openat2(void);

#endif
