/* base/: errors, parsing, confined path resolution. */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "base/base.h"
#include "tests/unit/test.h"

TEST(berr_set_appends_cause)
{
	struct berr e;
	int r = berr_set(&e, ENOENT, "open %s", "/x");
	ASSERT_EQ(r, -ENOENT);
	ASSERT_STREQ(e.msg, "open /x: No such file or directory");
	berr_wrap(&e, "create %s", "c1");
	ASSERT_STREQ(e.msg, "create c1: open /x: No such file or directory");
	ASSERT_EQ(e.code, ENOENT);
}

TEST(parse_numbers_are_strict)
{
	int64_t v;
	uint64_t u;
	int i;
	ASSERT_EQ(base_parse_i64("-12", &v), 0);
	ASSERT_EQ(v, -12);
	ASSERT_EQ(base_parse_i64("12x", &v), -EINVAL);
	ASSERT_EQ(base_parse_i64("", &v), -EINVAL);
	ASSERT_EQ(base_parse_u64("-1", &u), -EINVAL);
	ASSERT_EQ(base_parse_u64("99999999999999999999999", &u), -ERANGE);
	ASSERT_EQ(base_parse_int("4294967296", &i), -ERANGE);
}

TEST(rfc3339_matches_go)
{
	char buf[64];
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 120000000};
	base_rfc3339(&ts, buf, sizeof(buf));
	ASSERT_STREQ(buf, "1970-01-01T00:00:00.12Z");
	ts.tv_nsec = 0;
	base_rfc3339(&ts, buf, sizeof(buf));
	ASSERT_STREQ(buf, "1970-01-01T00:00:00Z");
	ts = (struct timespec){.tv_sec = 1796400000, .tv_nsec = 123456789};
	base_rfc3339(&ts, buf, sizeof(buf));
	ASSERT_STREQ(buf, "2026-12-04T16:00:00.123456789Z");
	ts.tv_nsec = 1;
	base_rfc3339(&ts, buf, sizeof(buf));
	ASSERT_STREQ(buf, "2026-12-04T16:00:00.000000001Z");
	char small[12];
	base_rfc3339(&ts, small, sizeof(small));
	ASSERT_STREQ(small, "2026-12-04T");
}

/* base_rfc3339 computes the date itself: it must agree with gmtime_r
 * across leap days, centuries and before 1970. */
TEST(rfc3339_agrees_with_gmtime)
{
	static const int64_t fixed[] = {
		0,	     -1,	 951782400, /* 2000-02-29 */
		951868800,   4107542399,	    /* 2100-02-28T23:59:59 */
		-2208988800, 1709164800, 253402300799,
	};
	int64_t t = -5000000000LL;
	for (int i = 0; i < 4000; i++) {
		int64_t v = i < (int)ARRAY_SIZE(fixed) ? fixed[i] : t;
		t += 3917321; /* about 45 days and a bit, to vary the time */
		struct timespec ts = {.tv_sec = (time_t)v, .tv_nsec = 0};
		char got[64], want[64];
		base_rfc3339(&ts, got, sizeof(got));
		struct tm tm;
		time_t tt = (time_t)v;
		ASSERT_TRUE(gmtime_r(&tt, &tm) != NULL);
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
		ASSERT_STREQ(got, want);
	}
}

static char *make_tree(void)
{
	char tmpl[] = "/tmp/berth-base-XXXXXX";
	char *d = base_strdup(mkdtemp(tmpl));
	ASSERT_TRUE(d);
	char *p = base_sprintf("%s/root/etc", d);
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, p, 0755), 0);
	free(p);
	p = base_sprintf("%s/root/etc/inside", d);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, p, "in", 2, O_CREAT), 0);
	free(p);
	p = base_sprintf("%s/outside", d);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, p, "out", 3, O_CREAT), 0);
	free(p);
	/* escapes that must stay inside root */
	p = base_sprintf("%s/root/up", d);
	ASSERT_EQ(symlink("../../..", p), 0);
	free(p);
	p = base_sprintf("%s/root/abs", d);
	ASSERT_EQ(symlink("/etc", p), 0);
	free(p);
	return d;
}

static void check_confined(void)
{
	_cleanup_free_ char *d = make_tree();
	_cleanup_free_ char *root = base_sprintf("%s/root", d);
	_cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(rfd >= 0);
	/* ../outside from the root clamps at the root: not found */
	ASSERT_EQ(base_open_in_root(rfd, "../outside", O_RDONLY, 0), -ENOENT);
	ASSERT_EQ(base_open_in_root(rfd, "up/outside", O_RDONLY, 0), -ENOENT);
	/* an absolute symlink resolves against the root */
	int fd = base_open_in_root(rfd, "abs/inside", O_RDONLY, 0);
	ASSERT_TRUE(fd >= 0);
	char buf[4] = "";
	ASSERT_EQ(read(fd, buf, 3), 2);
	close(fd);
	/* mkdir through a symlink lands inside */
	fd = base_mkdir_in_root(rfd, "/up/new/dir", 0755);
	ASSERT_TRUE(fd >= 0);
	close(fd);
	_cleanup_free_ char *p = base_sprintf("%s/root/new/dir", d);
	struct stat st;
	ASSERT_EQ(stat(p, &st), 0);
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, d), 0);
	ASSERT_EQ(stat(d, &st), -1);
}

TEST(open_in_root_is_confined)
{
	check_confined();
}

/* path (inside d/root) is a directory that mkdir_in_root's fd names */
static void assert_made(const char *d, int fd, const char *path)
{
	ASSERT_TRUE(fd >= 0);
	_cleanup_free_ char *p = base_sprintf("%s/root/%s", d, path);
	struct stat want, got;
	ASSERT_EQ(stat(p, &want), 0);
	ASSERT_EQ(fstat(fd, &got), 0);
	ASSERT_TRUE(S_ISDIR(got.st_mode) && got.st_ino == want.st_ino);
	close(fd);
}

/* Existing prefixes, links inside the root, trailing slashes, dot
 * components, and a link in the way of a directory to make. */
TEST(mkdir_in_root_makes_what_is_missing)
{
	_cleanup_free_ char *d = make_tree();
	_cleanup_free_ char *root = base_sprintf("%s/root", d);
	_cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(rfd >= 0);
	assert_made(d, base_mkdir_in_root(rfd, "/etc", 0755), "etc");
	assert_made(d, base_mkdir_in_root(rfd, "/a//b/c/", 0755), "a/b/c");
	assert_made(d, base_mkdir_in_root(rfd, "a/b", 0755), "a/b");
	assert_made(d, base_mkdir_in_root(rfd, "/abs/x/y", 0755), "etc/x/y");
	assert_made(d, base_mkdir_in_root(rfd, "/up/../n/../m", 0755), "m");
	assert_made(d, base_mkdir_in_root(rfd, "/", 0755), "");
	_cleanup_free_ char *n = base_sprintf("%s/root/n", d);
	struct stat st;
	ASSERT_EQ(stat(n, &st), 0);
	/* a file in the way, and a link to nowhere, as before: errors */
	ASSERT_EQ(base_mkdir_in_root(rfd, "/etc/inside/z", 0755), -ENOTDIR);
	_cleanup_free_ char *l = base_sprintf("%s/root/dangling", d);
	ASSERT_EQ(symlink("/nowhere", l), 0);
	ASSERT_EQ(base_mkdir_in_root(rfd, "/dangling/z", 0755), -ENOENT);
	_cleanup_free_ char *nowhere = base_sprintf("%s/root/nowhere", d);
	ASSERT_EQ(stat(nowhere, &st), -1);
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, d), 0);
}

/* What rm -rf gives back: every block of what goes, but not a file that
 * another link keeps. */
/* mkdir -p: what is missing is made, what is there is fine, and a file in
 * the way is an error whichever component it is. */
TEST(mkdir_p_makes_parents_and_refuses_a_file_in_the_way)
{
	char tmpl[] = "/tmp/berth-mkdirp-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	char *deep = base_sprintf("%s/a/b/c", tmpl);
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, deep, 0700), 0);
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, deep, 0700), 0); /* there already */
	struct stat st;
	ASSERT_EQ(stat(deep, &st), 0);
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	char *file = base_sprintf("%s/a/f", tmpl);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, file, "x", 1, O_CREAT), 0);
	char *under = base_sprintf("%s/a/f/d/e", tmpl);
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, under, 0700), -ENOTDIR);
	char *last = base_sprintf("%s/a/f/d", tmpl);
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, last, 0700), -ENOTDIR);
	base_rm_rf_at(AT_FDCWD, tmpl);
	free(deep);
	free(file);
	free(under);
	free(last);
}

TEST(rm_rf_counts_the_space_it_frees)
{
	char t[] = "/tmp/berth-rmrf-XXXXXX";
	ASSERT_TRUE(mkdtemp(t));
	_cleanup_free_ char *sub = base_sprintf("%s/x", t);
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, sub, 0755), 0);
	_cleanup_free_ char *big = base_sprintf("%s/x/big", t);
	_cleanup_free_ char *kept = base_sprintf("%s/x/kept", t);
	_cleanup_free_ char *other = base_sprintf("%s/other", t);
	_cleanup_free_ char *buf = base_calloc(1, 1 << 20);
	memset(buf, 'x', 1 << 20);
	const char *files[] = {big, kept};
	for (size_t i = 0; i < 2; i++) {
		_cleanup_close_ int fd =
			open(files[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		ASSERT_TRUE(fd >= 0);
		ASSERT_EQ(base_write_all(fd, buf, 1 << 20), 0);
		ASSERT_EQ(fsync(fd), 0);
	}
	ASSERT_EQ(link(kept, other), 0);
	struct stat sb, sd;
	ASSERT_EQ(stat(big, &sb), 0);
	ASSERT_EQ(stat(sub, &sd), 0);
	uint64_t freed = 0;
	ASSERT_EQ(base_rm_rf_at_freed(AT_FDCWD, sub, &freed), 0);
	ASSERT_EQ(freed, (uint64_t)(sb.st_blocks + sd.st_blocks) * 512);
	ASSERT_TRUE(freed >= 1 << 20);
	struct stat sl;
	ASSERT_EQ(stat(other, &sl), 0);
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, t), 0);
}

TEST(strv_push_and_len)
{
	_cleanup_strv_ char **v = NULL;
	base_strv_push(&v, "a");
	base_strv_push(&v, "b");
	ASSERT_EQ(base_strv_len(v), 2);
	ASSERT_STREQ(v[1], "b");
	ASSERT_TRUE(v[2] == NULL);
}
