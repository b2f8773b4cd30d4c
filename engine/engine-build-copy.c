/* COPY and ADD for berth build: the build context (with .dockerignore),
 * the sources of an instruction (globs in the last component), the hash of
 * their content for the cache, and the files written into a layer's
 * staging directory with --chown and --chmod.
 *
 * Every source is opened beneath its root (the context, or the root of a
 * stage or image for --from) with openat2(RESOLVE_IN_ROOT), so that
 * neither `..` nor a symlink leaves it: a symlink inside is copied as a
 * symlink. Destinations are made beneath the staging directory the same
 * way. */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/engine-internal.h"

static int open_in(int rootfd, const char *path, int flags)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
			       .resolve =
				       RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	while (*path == '/')
		path++;
	return (int)syscall(SYS_openat2, rootfd, *path ? path : ".", &how,
			    sizeof(how));
}

/* ---- .dockerignore ---------------------------------------------------- */

int eng_ignore_load(int ctxfd, char ***out)
{
	*out = NULL;
	_cleanup_free_ char *text = NULL;
	int r = base_read_file_at(ctxfd, ".dockerignore", &text, NULL, 1 << 20);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		l += strspn(l, " \t");
		size_t n = strlen(l);
		while (n && (l[n - 1] == ' ' || l[n - 1] == '\t' ||
			     l[n - 1] == '\r'))
			l[--n] = '\0';
		if (!n || l[0] == '#')
			continue;
		bool neg = l[0] == '!';
		char *p = l + neg;
		while (*p == '/')
			p++;
		while (!strncmp(p, "./", 2))
			p += 2;
		_cleanup_free_ char *pat =
			base_sprintf("%s%s", neg ? "!" : "", p);
		base_strv_push(out, pat);
	}
	return 0;
}

/* rel (no leading "/") is excluded: the last pattern that matches it or a
 * directory above it decides, as docker's matcher does. "**" matches any
 * number of directories. */
bool eng_ignored(char *const *pats, const char *rel)
{
	bool out = false;
	for (size_t i = 0; pats && pats[i]; i++) {
		bool neg = pats[i][0] == '!';
		const char *p = pats[i] + neg;
		_cleanup_free_ char *path = base_strdup(rel);
		bool hit = false;
		for (;;) {
			hit = fnmatch(p, path, FNM_PATHNAME | FNM_PERIOD) ==
				      0 ||
			      (strstr(p, "**") &&
			       fnmatch(p, path, FNM_PERIOD) == 0);
			char *slash = strrchr(path, '/');
			if (hit || !slash)
				break;
			*slash = '\0';
		}
		if (hit)
			out = !neg;
	}
	return out;
}

/* ---- sources ------------------------------------------------------------ */

/* A source of the context must be in it, through its symlinks too (a
 * symlink inside what is copied stays a symlink). */
static int beneath(int rootfd, const char *src, struct berr *err)
{
	const char *p = src;
	while (*p == '/')
		p++;
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve =
				       RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, rootfd, *p ? p : ".", &how,
			      sizeof(how));
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EXDEV)
		return berr_setx(err, EPERM, "`%s`: outside the build context",
				 src);
	return berr_set(err, errno, "`%s`", src);
}

/* The sources a COPY names: each glob's matches (in its directory), or the
 * path itself. Paths are relative to the root, without a leading '/'. */
int eng_copy_sources(int rootfd, bool context, char *const *srcs,
		     char *const *ignore, char ***out, struct berr *err)
{
	*out = NULL;
	for (size_t i = 0; srcs && srcs[i]; i++) {
		const char *s = srcs[i];
		while (*s == '/')
			s++;
		if (!strpbrk(s, "*?[")) {
			int r = context ? beneath(rootfd, srcs[i], err) : 0;
			if (r < 0)
				return r;
			base_strv_push(out, *s ? s : ".");
			continue;
		}
		const char *slash = strrchr(s, '/');
		_cleanup_free_ char *dir =
			slash ? strndup(s, slash - s) : base_strdup(".");
		const char *pat = slash ? slash + 1 : s;
		if (strpbrk(dir, "*?["))
			return berr_setx(err, EINVAL,
					 "`%s`: wildcards only in the last "
					 "part of a path",
					 srcs[i]);
		int dfd = open_in(rootfd, dir, O_RDONLY | O_DIRECTORY);
		_cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		if (!d && dfd >= 0)
			close(dfd);
		struct dirent *de;
		size_t before = base_strv_len(*out);
		while (d && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") ||
			    !strcmp(de->d_name, "..") ||
			    fnmatch(pat, de->d_name, FNM_PERIOD))
				continue;
			_cleanup_free_ char *rel =
				slash ? base_sprintf("%s/%s", dir, de->d_name)
				      : base_strdup(de->d_name);
			if (!eng_ignored(ignore, rel))
				base_strv_push(out, rel);
		}
		if (base_strv_len(*out) == before)
			return berr_setx(err, ENOENT,
					 "no source files were "
					 "specified by `%s`",
					 srcs[i]);
	}
	size_t n = base_strv_len(*out);
	if (n > 1)
		qsort(*out, n, sizeof(char *), eng_strcmpp);
	return 0;
}

/* ---- the stat cache: a file's content hash by its inode and times ---- */

/* A rebuild hashed every byte COPY reads again: two thirds of a cached
 * rebuild's CPU. A file whose device, inode, size, mode and change times
 * (ns) are those of an entry has the entry's content hash. An entry is
 * made only for a file last changed over a second before the build
 * began: a write within the clock's granularity of the hashing (file
 * times come from a coarse clock) would keep the times, and such a file
 * is hashed again until it is older (git's "racily clean" entries). */
struct sc_entry {
	uint64_t dev, ino, size;
	int64_t mtime, ctime;
	uint32_t mode;
	char hex[65];
};

struct eng_stat_cache {
	char *path;
	struct sc_entry *v; /* sorted by dev, ino */
	size_t n;
	struct sc_entry *add;
	size_t nadd;
	int64_t since; /* ns: files changed after it are not entered */
};

/* a context of a million files; beyond, the oldest entries go */
#define SC_MAX 1000000

static int sc_cmp(const void *a, const void *b)
{
	const struct sc_entry *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

struct eng_stat_cache *eng_stat_cache_open(const char *path)
{
	struct eng_stat_cache *c = base_calloc(1, sizeof(*c));
	c->path = base_strdup(path);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	c->since = ts_ns(&now) - 1000000000;
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[256];
	while (f && c->n < SC_MAX && fgets(line, sizeof(line), f)) {
		struct sc_entry e;
		unsigned long long dev, ino, size;
		long long mt, ct;
		if (sscanf(line, "%llu %llu %llu %lld %lld %o %64[0-9a-f]",
			   &dev, &ino, &size, &mt, &ct, &e.mode, e.hex) != 7 ||
		    strlen(e.hex) != 64)
			continue; /* torn or foreign: hashed again */
		e.dev = dev, e.ino = ino, e.size = size, e.mtime = mt,
		e.ctime = ct;
		c->v = base_realloc(c->v, c->n + 1, sizeof(*c->v));
		c->v[c->n++] = e;
	}
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), sc_cmp);
	return c;
}

static const char *sc_find(const struct eng_stat_cache *c,
			   const struct stat *st)
{
	struct sc_entry k = {.dev = st->st_dev, .ino = st->st_ino};
	const struct sc_entry *e =
		c && c->n ? bsearch(&k, c->v, c->n, sizeof(k), sc_cmp) : NULL;
	if (!e || e->size != (uint64_t)st->st_size || e->mode != st->st_mode ||
	    e->mtime != ts_ns(&st->st_mtim) || e->ctime != ts_ns(&st->st_ctim))
		return NULL;
	return e->hex;
}

static void sc_add(struct eng_stat_cache *c, const struct stat *st,
		   const char *hex)
{
	if (!c || ts_ns(&st->st_mtim) >= c->since ||
	    ts_ns(&st->st_ctim) >= c->since || c->nadd >= SC_MAX)
		return;
	c->add = base_realloc(c->add, c->nadd + 1, sizeof(*c->add));
	struct sc_entry *e = &c->add[c->nadd++];
	*e = (struct sc_entry){.dev = st->st_dev,
			       .ino = st->st_ino,
			       .size = (uint64_t)st->st_size,
			       .mtime = ts_ns(&st->st_mtim),
			       .ctime = ts_ns(&st->st_ctim),
			       .mode = st->st_mode};
	snprintf(e->hex, sizeof(e->hex), "%s", hex);
}

static void sc_line(FILE *f, const struct sc_entry *e)
{
	fprintf(f, "%llu %llu %llu %lld %lld %o %s\n",
		(unsigned long long)e->dev, (unsigned long long)e->ino,
		(unsigned long long)e->size, (long long)e->mtime,
		(long long)e->ctime, e->mode, e->hex);
}

/* The new entries and the old ones they do not replace, written beside
 * and renamed over the file: a concurrent build's save is lost, not
 * torn. */
void eng_stat_cache_close(struct eng_stat_cache *c)
{
	if (!c)
		return;
	if (c->nadd) {
		if (c->nadd > 1)
			qsort(c->add, c->nadd, sizeof(*c->add), sc_cmp);
		_cleanup_free_ char *tmp =
			base_sprintf("%s.%d", c->path, (int)getpid());
		FILE *f = fopen(tmp, "we");
		size_t room = SC_MAX - c->nadd;
		for (size_t i = 0; f && i < c->n && room; i++)
			if (!bsearch(&c->v[i], c->add, c->nadd, sizeof(*c->add),
				     sc_cmp)) {
				sc_line(f, &c->v[i]);
				room--;
			}
		for (size_t i = 0; f && i < c->nadd; i++)
			sc_line(f, &c->add[i]);
		if (f && (fclose(f) != 0 || rename(tmp, c->path) < 0))
			unlink(tmp);
	}
	free(c->path);
	free(c->v);
	free(c->add);
	free(c);
}

/* ---- hashing: what the cache compares -------------------------------- */

struct walk {
	int rootfd;
	char *const *ignore;
	bool apply_ignore;
	struct oci_hash *h; /* NULL: copying alone */
	struct eng_stat_cache *cache;
	/* copy: the destination */
	int dstfd;
	uid_t uid;
	gid_t gid;
	bool chown;
	mode_t chmod; /* 0: keep */
	struct berr *err;
};

static void hash_str(struct oci_hash *h, const char *s)
{
	if (h)
		oci_hash_update(h, s, strlen(s) + 1);
}

/* A file's content goes into the walk's hash as its own hash, from the
 * stat cache when it knows the file. */
static int hash_file(struct walk *W, int fd, const struct stat *st)
{
	const char *known = sc_find(W->cache, st);
	if (known) {
		hash_str(W->h, known);
		return 0;
	}
	struct oci_hash *h;
	int r = oci_hash_new(&h, W->err);
	if (r < 0)
		return r;
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		oci_hash_update(h, buf, (size_t)n);
	char out[OCI_HASH_LEN];
	oci_hash_finish(h, out);
	oci_hash_free(h);
	if (n < 0)
		return -errno;
	const char *hex = oci_hash_hex(out);
	hash_str(W->h, hex);
	sc_add(W->cache, st, hex);
	return 0;
}

static int walk_one(struct walk *W, const char *rel, const char *dst);

static int walk_dir(struct walk *W, int fd, const char *rel, const char *dst)
{
	_cleanup_closedir_ DIR *d = fdopendir(fcntl(fd, F_DUPFD_CLOEXEC, 0));
	if (!d)
		return berr_set(W->err, errno, "read `%s`", rel);
	char **names = NULL;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			base_strv_push(&names, de->d_name);
	size_t n = base_strv_len(names);
	if (n > 1)
		qsort(names, n, sizeof(char *), eng_strcmpp);
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_free_ char *sub =
			strcmp(rel, ".") ? base_sprintf("%s/%s", rel, names[i])
					 : base_strdup(names[i]);
		if (W->apply_ignore && eng_ignored(W->ignore, sub))
			continue;
		_cleanup_free_ char *sdst =
			dst ? base_sprintf("%s/%s", dst, names[i]) : NULL;
		r = walk_one(W, sub, sdst);
	}
	base_strv_free(names);
	return r;
}

static int put_node(struct walk *W, int fd, const struct stat *st,
		    const char *rel, const char *dst);

/* Hashes (and with dst set, copies) rel: its name, type, mode, owner,
 * a link's target and a file's content, and what a directory holds. */
static int walk_one(struct walk *W, const char *rel, const char *dst)
{
	_cleanup_close_ int fd = open_in(W->rootfd, rel, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return berr_set(W->err, errno, "`%s`", rel);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return berr_set(W->err, errno, "stat `%s`", rel);
	char meta[96];
	snprintf(meta, sizeof(meta), "%o %u %u %lld", (unsigned)st.st_mode,
		 (unsigned)st.st_uid, (unsigned)st.st_gid,
		 S_ISREG(st.st_mode) ? (long long)st.st_size : 0ll);
	hash_str(W->h, rel);
	hash_str(W->h, meta);
	int r = 0;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		_cleanup_close_ int rfd = open_in(
			W->rootfd, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
		if (rfd < 0)
			return berr_set(W->err, errno, "open `%s`", rel);
		if (W->h && S_ISREG(st.st_mode) &&
		    (r = hash_file(W, rfd, &st)) < 0)
			return berr_set(W->err, -r, "read `%s`", rel);
		if (dst && (r = put_node(W, rfd, &st, rel, dst)) < 0)
			return r;
		if (S_ISDIR(st.st_mode))
			r = walk_dir(W, rfd, rel, dst);
		return r;
	}
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
		if (n < 0)
			return berr_set(W->err, errno, "readlink `%s`", rel);
		target[n] = '\0';
		hash_str(W->h, target);
		if (dst)
			return put_node(W, -1, &st, target, dst);
		return 0;
	}
	return 0; /* sockets, fifos, devices: not build inputs */
}

int eng_copy_hash(int rootfd, char *const *sources, char *const *ignore,
		  bool apply_ignore, struct eng_stat_cache *cache,
		  char out[OCI_HASH_LEN], struct berr *err)
{
	struct walk W = {.rootfd = rootfd,
			 .ignore = ignore,
			 .apply_ignore = apply_ignore,
			 .cache = cache,
			 .dstfd = -1,
			 .err = err};
	int r = oci_hash_new(&W.h, err);
	for (size_t i = 0; r == 0 && sources && sources[i]; i++)
		r = walk_one(&W, sources[i], NULL);
	if (r < 0) {
		oci_hash_free(W.h);
		return r;
	}
	oci_hash_finish(W.h, out);
	oci_hash_free(W.h);
	return 0;
}

/* ---- copying into the staging directory --------------------------------- */

/* dst is relative to the staging root; its parents exist. */
static int put_node(struct walk *W, int fd, const struct stat *st,
		    const char *what, const char *dst)
{
	uid_t uid = W->chown ? W->uid : st->st_uid;
	gid_t gid = W->chown ? W->gid : st->st_gid;
	mode_t mode = W->chmod ? W->chmod : (st->st_mode & 07777);
	int r = 0;
	if (S_ISDIR(st->st_mode)) {
		if (mkdirat(W->dstfd, dst, 0700) < 0 && errno != EEXIST)
			return berr_set(W->err, errno, "create `%s`", dst);
	} else if (S_ISLNK(st->st_mode)) {
		if (symlinkat(what, W->dstfd, dst) < 0)
			return berr_set(W->err, errno, "symlink `%s`", dst);
		if (fchownat(W->dstfd, dst, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return berr_set(W->err, errno, "chown `%s`", dst);
		return 0;
	} else {
		_cleanup_close_ int out = openat(W->dstfd, dst,
						 O_WRONLY | O_CREAT | O_TRUNC |
							 O_NOFOLLOW | O_CLOEXEC,
						 0600);
		if (out < 0)
			return berr_set(W->err, errno, "create `%s`", dst);
		off_t off = 0;
		ssize_t n;
		while ((n = copy_file_range(fd, &off, out, NULL, 1 << 30, 0)) >
		       0)
			;
		if (n < 0 &&
		    (errno == EXDEV || errno == EINVAL || errno == ENOSYS)) {
			char buf[65536];
			lseek(fd, off, SEEK_SET);
			while ((n = read(fd, buf, sizeof(buf))) > 0)
				if (base_write_all(out, buf, (size_t)n) < 0)
					break;
		}
		if (n < 0)
			return berr_set(W->err, errno, "copy `%s`", what);
	}
	if (fchownat(W->dstfd, dst, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fchmodat(W->dstfd, dst, mode, 0) < 0)
		r = berr_set(W->err, errno, "owner and mode of `%s`", dst);
	return r;
}

/* The mode and owner of directory path in the image (layers, lowest
 * first), as its topmost layer has it; false when the image lacks it. */
static bool image_dir(char *const *layers, const char *path, struct stat *st)
{
	for (size_t i = base_strv_len(layers); i-- > 0;) {
		_cleanup_free_ char *p = base_sprintf("%s/%s", layers[i], path);
		if (fstatat(AT_FDCWD, p, st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		return S_ISDIR(st->st_mode); /* a whiteout or a file: none */
	}
	return false;
}

int eng_stage_dirs(const struct eng_copy *c, const char *rel, struct berr *err)
{
	_cleanup_free_ char *path = base_strdup(rel);
	for (char *p = path; *p;) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		struct stat st;
		if (fstatat(c->dstfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			struct stat img;
			bool have = image_dir(c->layers, path, &img);
			uid_t u = have ? img.st_uid : c->chown ? c->uid : 0;
			gid_t g = have ? img.st_gid : c->chown ? c->gid : 0;
			mode_t m = have ? img.st_mode & 07777 : 0755;
			if (mkdirat(c->dstfd, path, 0700) < 0 ||
			    fchownat(c->dstfd, path, u, g,
				     AT_SYMLINK_NOFOLLOW) < 0 ||
			    fchmodat(c->dstfd, path, m, 0) < 0)
				return berr_set(err, errno, "create `%s`",
						path);
		} else if (!S_ISDIR(st.st_mode)) {
			return berr_setx(err, ENOTDIR, "`%s`: not a directory",
					 path);
		}
		if (!slash)
			break;
		*slash = '/';
		p = slash + 1;
	}
	return 0;
}

int eng_copy_into(const struct eng_copy *c, struct berr *err)
{
	struct walk W = {.rootfd = c->rootfd,
			 .ignore = c->ignore,
			 .apply_ignore = c->apply_ignore,
			 .dstfd = c->dstfd,
			 .uid = c->uid,
			 .gid = c->gid,
			 .chown = c->chown,
			 .chmod = c->chmod,
			 .err = err};
	int r = 0;
	size_t n = base_strv_len(c->sources);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *src = c->sources[i];
		const char *base = strrchr(src, '/');
		base = base ? base + 1 : src;
		_cleanup_close_ int fd =
			open_in(c->rootfd, src, O_PATH | O_NOFOLLOW);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			r = berr_set(err, errno, "`%s`", src);
			break;
		}
		/* a directory's content goes into dst; a file goes to dst, or
		 * into it when dst is a directory (ends in '/', or several
		 * sources) */
		_cleanup_free_ char *dst =
			S_ISDIR(st.st_mode) || !c->dst_is_dir
				? base_strdup(c->dst)
				: base_sprintf("%s/%s", c->dst, base);
		if (S_ISDIR(st.st_mode)) {
			/* its content goes in: the directory itself is the
			 * image's, or a new one */
			_cleanup_close_ int rfd =
				open_in(c->rootfd, src, O_RDONLY | O_DIRECTORY);
			r = rfd < 0 ? berr_set(err, errno, "open `%s`", src)
				    : eng_stage_dirs(c, dst, err);
			if (r == 0)
				r = walk_dir(&W, rfd, src, dst);
		} else {
			r = walk_one(&W, src, dst);
		}
	}
	return r;
}

int eng_strcmpp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ADD's archives: a local tar, plain or compressed, by its name. */
static bool is_archive(const char *name)
{
	static const char *const ext[] = {".tar",     ".tar.gz",  ".tgz",
					  ".tar.bz2", ".tbz2",	  ".tar.xz",
					  ".txz",     ".tar.zst", ".tzst"};
	size_t n = strlen(name);
	for (size_t i = 0; i < ARRAY_SIZE(ext); i++) {
		size_t e = strlen(ext[i]);
		if (n > e && !strcmp(name + n - e, ext[i]))
			return true;
	}
	return false;
}

int eng_add_into(const struct eng_copy *c, struct berr *err)
{
	struct eng_copy rest = *c;
	char **plain = NULL;
	int r = 0;
	for (size_t i = 0; r == 0 && c->sources && c->sources[i]; i++) {
		const char *src = c->sources[i];
		struct stat st;
		_cleanup_close_ int fd =
			is_archive(src)
				? open_in(c->rootfd, src,
					  O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
				: -1;
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			base_strv_push(&plain, src);
			continue;
		}
		/* into the destination directory, made as COPY makes it */
		if ((r = eng_stage_dirs(c, c->dst, err)) < 0)
			break;
		_cleanup_close_ int dfd =
			openat(c->dstfd, c->dst,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = dfd < 0 ? berr_set(err, errno, "open `%s`", c->dst)
			    : oci_archive_extract(fd, dfd, src, err);
	}
	rest.sources = plain;
	if (r == 0 && plain)
		r = eng_copy_into(&rest, err);
	base_strv_free(plain);
	return r;
}
