/* oci/oci-create.c: layers from directories and tar streams (entries,
 * whiteouts, symlinks not followed, hard links, reproducible digests) and
 * oci_image_create() on scratch and on a base, and what a failure leaves
 * (nothing). */
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "oci/oci-image-internal.h"
#include "tests/unit/test.h"

static char *tmpdir(void)
{
	char t[] = "/tmp/berth-mkimg-XXXXXX";
	ASSERT_TRUE(mkdtemp(t));
	return base_strdup(t);
}

static void rmdir_all(char *d)
{
	(void)base_rm_rf_at(AT_FDCWD, d);
	free(d);
}

static void put(const char *dir, const char *rel, const char *data)
{
	_cleanup_free_ char *p = base_sprintf("%s/%s", dir, rel);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, p, data, strlen(data), O_CREAT),
		  0);
}

static struct oci_store *store(const char *d)
{
	_cleanup_free_ char *p = base_sprintf("%s/store", d);
	struct oci_store *s = NULL;
	struct berr err = {0};
	ASSERT_EQ(oci_store_open(p, OCI_STORE_WRITE, &s, &err), 0);
	return s;
}

/* "name type [-> target]" per entry of a layer blob, read back with
 * libarchive, and the sum of the regular files' sizes. */
static char *entries(const char *blob)
{
	const struct oci_la *la = oci_dl_archive(NULL);
	ASSERT_TRUE(la != NULL);
	struct archive *a = la->read_new();
	la->read_support_filter_all(a);
	la->read_support_format_tar(a);
	_cleanup_close_ int fd = open(blob, O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(la->read_open_fd(a, fd, 4096), ARCHIVE_OK);
	char *out = base_strdup("");
	struct archive_entry *e;
	while (la->read_next_header(a, &e) == ARCHIVE_OK) {
		const char *hl = la->entry_hardlink(e);
		unsigned t = la->entry_filetype(e);
		char *n =
			base_sprintf("%s%s %s%s%s;", out, la->entry_pathname(e),
				     hl		     ? "hardlink"
				     : t == AE_IFDIR ? "dir"
				     : t == AE_IFLNK ? "symlink"
				     : t == AE_IFREG ? "file"
				     : t == AE_IFIFO ? "fifo"
						     : "other",
				     hl		     ? " -> "
				     : t == AE_IFLNK ? " -> "
						     : "",
				     hl		     ? hl
				     : t == AE_IFLNK ? la->entry_symlink(e)
						     : "");
		free(out);
		out = n;
	}
	la->read_free(a);
	return out;
}

static size_t count(const char *dir, const char *sub)
{
	_cleanup_free_ char *p = base_sprintf("%s/%s", dir, sub);
	DIR *d = opendir(p);
	ASSERT_TRUE(d != NULL);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

TEST(layer_from_dir_entries)
{
	char *d = tmpdir();
	_cleanup_(oci_store_closep) struct oci_store *s = store(d);
	_cleanup_free_ char *up = base_sprintf("%s/up", d);
	ASSERT_EQ(mkdir(up, 0755), 0);
	put(up, "a", "hello");
	_cleanup_free_ char *a = base_sprintf("%s/a", up);
	_cleanup_free_ char *b = base_sprintf("%s/b", up);
	ASSERT_EQ(link(a, b), 0);
	_cleanup_free_ char *l = base_sprintf("%s/out", up);
	ASSERT_EQ(symlink("../../../etc/passwd", l), 0);
	_cleanup_free_ char *gone = base_sprintf("%s/gone", up);
	ASSERT_EQ(mknod(gone, S_IFCHR | 0600, makedev(0, 0)), 0);
	_cleanup_free_ char *op = base_sprintf("%s/op", up);
	ASSERT_EQ(mkdir(op, 0755), 0);
	ASSERT_EQ(setxattr(op, "trusted.overlay.opaque", "y", 1, 0), 0);
	put(up, "op/x", "x");
	_cleanup_free_ char *dev = base_sprintf("%s/null", up);
	ASSERT_EQ(mknod(dev, S_IFCHR | 0666, makedev(1, 3)), 0);

	struct oci_layer_opts o = {.overlay_upper = true, .mtime = -1};
	struct oci_new_layer nl;
	struct berr err = {0};
	ASSERT_EQ(oci_layer_from_dir(s, up, &o, &nl, &err), 0);
	ASSERT_TRUE(!nl.empty);
	ASSERT_EQ(nl.skipped, 1);
	ASSERT_STREQ(nl.skipped_first, "null");
	ASSERT_TRUE(oci_digest_valid(nl.digest) &&
		    oci_digest_valid(nl.diff_id));
	struct stat st;
	ASSERT_EQ(stat(nl.path, &st), 0);
	ASSERT_EQ((uint64_t)st.st_size, nl.size);
	_cleanup_free_ char *got = entries(nl.path);
	ASSERT_STREQ(got, "a file;b hardlink -> a;.wh.gone file;op/ dir;"
			  "op/.wh..wh..opq file;op/x file;"
			  "out symlink -> ../../../etc/passwd;");
	/* without overlay_upper the whiteout is a device like any other */
	struct oci_new_layer plain;
	ASSERT_EQ(oci_layer_from_dir(s, up, NULL, &plain, &err), 0);
	ASSERT_EQ(plain.skipped, 2);
	_cleanup_free_ char *got2 = entries(plain.path);
	ASSERT_TRUE(!strstr(got2, ".wh."));
	oci_new_layer_clear(&plain);
	oci_new_layer_clear(&nl);
	ASSERT_EQ(count(d, "store/tmp"), 0);
	rmdir_all(d);
}

TEST(layer_from_dir_bounds_depth)
{
	char *d = tmpdir();
	_cleanup_(oci_store_closep) struct oci_store *s = store(d);
	_cleanup_free_ char *up = base_sprintf("%s/up", d);
	ASSERT_EQ(mkdir(up, 0755), 0);
	int fd = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < OCI_LAYER_MAX_DEPTH + 1; i++) {
		ASSERT_EQ(mkdirat(fd, "a", 0755), 0);
		int next = openat(fd, "a", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ASSERT_TRUE(next >= 0);
		close(fd);
		fd = next;
	}
	close(fd);
	struct oci_new_layer l;
	struct berr err = {0};
	ASSERT_EQ(oci_layer_from_dir(s, up, NULL, &l, &err), -ELOOP);
	ASSERT_CONTAINS(err.msg, "deeper than 256 directories");
	ASSERT_TRUE(l.path == NULL);
	ASSERT_EQ(count(d, "store/tmp"), 0);
	rmdir_all(d);
}

TEST(layer_from_dir_is_reproducible)
{
	char *d = tmpdir();
	_cleanup_(oci_store_closep) struct oci_store *s = store(d);
	_cleanup_free_ char *up = base_sprintf("%s/up", d);
	ASSERT_EQ(mkdir(up, 0755), 0);
	_cleanup_free_ char *sub = base_sprintf("%s/etc", up);
	ASSERT_EQ(mkdir(sub, 0700), 0);
	put(up, "etc/conf", "k=v\n");
	put(up, "z", "zz");
	struct oci_layer_opts o = {.mtime = 1000000000};
	struct oci_new_layer l1, l2, l3;
	struct berr err = {0};
	ASSERT_EQ(oci_layer_from_dir(s, up, &o, &l1, &err), 0);
	/* a newer mtime is clamped all the same */
	struct timespec ts[2] = {{.tv_nsec = UTIME_NOW},
				 {.tv_sec = 2000000000, .tv_nsec = 5}};
	ASSERT_EQ(utimensat(AT_FDCWD, sub, ts, 0), 0);
	ASSERT_EQ(oci_layer_from_dir(s, up, &o, &l2, &err), 0);
	ASSERT_STREQ(l1.digest, l2.digest);
	ASSERT_STREQ(l1.diff_id, l2.diff_id);
	/* kept mtimes differ */
	o.mtime = -1;
	ASSERT_EQ(oci_layer_from_dir(s, up, &o, &l3, &err), 0);
	ASSERT_TRUE(strcmp(l1.diff_id, l3.diff_id) != 0);
	oci_new_layer_clear(&l1);
	oci_new_layer_clear(&l2);
	oci_new_layer_clear(&l3);
	rmdir_all(d);
}

TEST(layer_from_tar_cleans_names_and_skips_devices)
{
	char *d = tmpdir();
	_cleanup_(oci_store_closep) struct oci_store *s = store(d);
	_cleanup_free_ char *root = base_sprintf("%s/root", d);
	ASSERT_EQ(mkdir(root, 0755), 0);
	put(root, "f", "data");
	_cleanup_free_ char *dev = base_sprintf("%s/console", root);
	ASSERT_EQ(mknod(dev, S_IFCHR | 0600, makedev(5, 1)), 0);
	_cleanup_free_ char *cmd =
		base_sprintf("tar -C %s -czf %s/in.tgz ./f ./console", root, d);
	ASSERT_EQ(system(cmd), 0);
	_cleanup_free_ char *in = base_sprintf("%s/in.tgz", d);
	_cleanup_close_ int fd = open(in, O_RDONLY | O_CLOEXEC);
	struct oci_new_layer nl;
	struct berr err = {0};
	ASSERT_EQ(oci_layer_from_tar(s, fd, &nl, &err), 0);
	ASSERT_EQ(nl.skipped, 1);
	ASSERT_STREQ(nl.skipped_first, "console");
	_cleanup_free_ char *got = entries(nl.path);
	ASSERT_STREQ(got, "f file;");
	oci_new_layer_clear(&nl);
	/* a "../" entry is refused, and nothing stays in tmp/ */
	_cleanup_free_ char *bad = base_sprintf(
		"cd %s && tar -cf bad.tar --transform 's,^f$,../f,' -C root f",
		d);
	ASSERT_EQ(system(bad), 0);
	_cleanup_free_ char *badp = base_sprintf("%s/bad.tar", d);
	_cleanup_close_ int bfd = open(badp, O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(oci_layer_from_tar(s, bfd, &nl, &err) < 0);
	ASSERT_CONTAINS(err.msg, "..");
	ASSERT_EQ(count(d, "store/tmp"), 0);
	rmdir_all(d);
}

static struct oci_image *made(struct oci_store *s, const struct oci_image *base,
			      struct oci_new_layer *l, size_t n,
			      const char *cfg, const char *tag)
{
	struct oci_image *img = NULL;
	struct berr err = {0};
	int r = oci_image_create(s, base, l, n, cfg, tag, &img, &err);
	if (r < 0)
		fprintf(stderr, "%s\n", err.msg);
	ASSERT_EQ(r, 0);
	return img;
}

static cJSON *config_of(struct oci_store *s, const struct oci_image *img)
{
	_cleanup_free_ char *json = NULL;
	size_t len = 0;
	struct berr err = {0};
	ASSERT_EQ(oci_image_read_config(s, img, &json, &len, &err), 0);
	cJSON *c = cJSON_ParseWithLength(json, len);
	ASSERT_TRUE(c != NULL);
	return c;
}

TEST(image_create_on_scratch_and_on_a_base)
{
	char *d = tmpdir();
	_cleanup_(oci_store_closep) struct oci_store *s = store(d);
	_cleanup_free_ char *up = base_sprintf("%s/up", d);
	ASSERT_EQ(mkdir(up, 0755), 0);
	put(up, "hello", "one");
	struct oci_new_layer l[3];
	struct berr err = {0};
	ASSERT_EQ(oci_layer_from_dir(s, up, NULL, &l[0], &err), 0);
	_cleanup_(oci_image_freep) struct oci_image *img =
		made(s, NULL, l, 1,
		     "{\"config\":{\"Cmd\":[\"/hello\"]},\"history\":"
		     "[{\"created_by\":\"ADD hello\"}]}",
		     "made");
	_cleanup_(oci_image_freep) struct oci_image *found = NULL;
	ASSERT_EQ(oci_image_find(s, "made:latest", &found, &err), 0);
	ASSERT_STREQ(found->id, img->id);
	ASSERT_EQ(found->n_layers, 1);
	ASSERT_STREQ(found->layers[0].diff_id, l[0].diff_id);
	ASSERT_STREQ(found->os, "linux");
	_cleanup_strv_ char **dirs = NULL;
	ASSERT_EQ(oci_image_layer_dirs(s, found, &dirs, &err), 0);
	_cleanup_free_ char *f = base_sprintf("%s/hello", dirs[0]);
	_cleanup_free_ char *txt = NULL;
	size_t len = 0;
	ASSERT_EQ(base_read_file_at(AT_FDCWD, f, &txt, &len, 64), 0);
	ASSERT_STREQ(txt, "one");

	/* on top: one layer, one step without a layer */
	_cleanup_free_ char *up2 = base_sprintf("%s/up2", d);
	ASSERT_EQ(mkdir(up2, 0755), 0);
	put(up2, "two", "2");
	_cleanup_free_ char *empty = base_sprintf("%s/empty", d);
	ASSERT_EQ(mkdir(empty, 0755), 0);
	ASSERT_EQ(oci_layer_from_dir(s, up2, NULL, &l[1], &err), 0);
	ASSERT_EQ(oci_layer_from_dir(s, empty, NULL, &l[2], &err), 0);
	ASSERT_TRUE(l[2].empty);
	_cleanup_(oci_image_freep) struct oci_image *top =
		made(s, found, &l[1], 2,
		     "{\"history\":[{\"created_by\":\"COPY two\"},"
		     "{\"created_by\":\"ENV A=1\"}]}",
		     "top:1");
	ASSERT_EQ(top->n_layers, 2);
	ASSERT_STREQ(top->layers[0].digest, found->layers[0].digest);
	ASSERT_STREQ(top->layers[1].diff_id, l[1].diff_id);
	_cleanup_json_ cJSON *c = config_of(s, top);
	cJSON *h = cJSON_GetObjectItem(c, "history");
	ASSERT_EQ(cJSON_GetArraySize(h), 3);
	ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 0), "created_by")
			     ->valuestring,
		     "ADD hello");
	ASSERT_TRUE(cJSON_IsTrue(
		cJSON_GetObjectItem(cJSON_GetArrayItem(h, 2), "empty_layer")));
	cJSON *ids = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "rootfs"),
					 "diff_ids");
	ASSERT_EQ(cJSON_GetArraySize(ids), 2);
	ASSERT_STREQ(cJSON_GetArrayItem(ids, 1)->valuestring, l[1].diff_id);
	/* the runtime can use it */
	_cleanup_free_ char *bundle = base_sprintf("%s/bundle", d);
	ASSERT_EQ(oci_image_unpack(s, top, bundle, &err), 0);
	_cleanup_free_ char *two = base_sprintf("%s/rootfs/two", bundle);
	struct stat st;
	ASSERT_EQ(stat(two, &st), 0);
	for (size_t i = 0; i < 3; i++)
		oci_new_layer_clear(&l[i]);
	ASSERT_EQ(count(d, "store/tmp"), 0);
	rmdir_all(d);
}

TEST(image_create_failure_leaves_nothing)
{
	char *d = tmpdir();
	_cleanup_(oci_store_closep) struct oci_store *s = store(d);
	_cleanup_free_ char *up = base_sprintf("%s/up", d);
	ASSERT_EQ(mkdir(up, 0755), 0);
	put(up, "f", "f");
	struct oci_new_layer l;
	struct berr err = {0};
	ASSERT_EQ(oci_layer_from_dir(s, up, NULL, &l, &err), 0);
	/* a diffID that the layer does not have: found at unpack */
	l.diff_id[10] = l.diff_id[10] == '0' ? '1' : '0';
	struct oci_image *img = NULL;
	ASSERT_TRUE(oci_image_create(s, NULL, &l, 1, "{}", "bad", &img, &err) <
		    0);
	ASSERT_CONTAINS(err.msg, "diffID mismatch");
	ASSERT_TRUE(img == NULL);
	/* a config that is not JSON */
	ASSERT_TRUE(oci_image_create(s, NULL, &l, 1, "[", "bad", NULL, &err) <
		    0);
	ASSERT_CONTAINS(err.msg, "image config");
	ASSERT_EQ(count(d, "store/blobs/sha256"), 0);
	ASSERT_EQ(count(d, "store/layers"), 0);
	ASSERT_EQ(count(d, "store/images"), 0);
	ASSERT_EQ(count(d, "store/tmp"), 1); /* the layer, the caller's */
	oci_new_layer_clear(&l);
	ASSERT_EQ(count(d, "store/tmp"), 0);
	_cleanup_(oci_image_freep) struct oci_image *none = NULL;
	ASSERT_EQ(oci_image_find(s, "bad", &none, &err), -ENOENT);
	rmdir_all(d);
}

static cJSON *import_cfg(const char *const *changes, struct berr *err, int *r)
{
	_cleanup_free_ char *json = NULL;
	*r = oci_image_import_config((char *const *)changes, "msg", &json, err);
	return json ? cJSON_Parse(json) : NULL;
}

TEST(import_changes)
{
	const char *ok[] = {"CMD echo $A",
			    "entrypoint [\"/bin/tini\", \"--\"]",
			    "ENV A=1 B=\"two words\"",
			    "ENV C three words",
			    "ENV A=replaced",
			    "EXPOSE 80 53/udp",
			    "LABEL k=v",
			    "USER app:app",
			    "VOLUME /data /cache",
			    "WORKDIR /srv",
			    NULL};
	struct berr err = {0};
	int r;
	_cleanup_json_ cJSON *doc = import_cfg(ok, &err, &r);
	ASSERT_EQ(r, 0);
	_cleanup_free_ char *cfg =
		oj_print(cJSON_GetObjectItem(doc, "config"), NULL);
	ASSERT_STREQ(cfg, "{\"Cmd\":[\"/bin/sh\",\"-c\",\"echo $A\"],"
			  "\"Entrypoint\":[\"/bin/tini\",\"--\"],"
			  "\"Env\":[\"A=replaced\",\"B=two words\","
			  "\"C=three words\"],"
			  "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},"
			  "\"Labels\":{\"k\":\"v\"},\"User\":\"app:app\","
			  "\"Volumes\":{\"/data\":{},\"/cache\":{}},"
			  "\"WorkingDir\":\"/srv\"}");
	cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "history"), 0);
	ASSERT_STREQ(cJSON_GetObjectItem(h, "created_by")->valuestring,
		     "berth image import");
	ASSERT_STREQ(cJSON_GetObjectItem(h, "comment")->valuestring, "msg");
	ASSERT_STREQ(cJSON_GetObjectItem(doc, "os")->valuestring, "linux");

	const char *bad[][2] = {
		{"RUN true", "RUN cannot be changed by image import"},
		{"ONBUILD RUN x", "ONBUILD cannot be changed"},
		{"EXPOSE 80/xyz", "invalid port \"80/xyz\""},
		{"ENV A=1 B", "expected KEY=VALUE, got \"B\""},
		{"CMD", "CMD needs a value"},
		{"", "not an instruction"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *v[] = {bad[i][0], NULL};
		_cleanup_json_ cJSON *d = import_cfg(v, &err, &r);
		ASSERT_EQ(r, -EINVAL);
		ASSERT_TRUE(d == NULL);
		ASSERT_CONTAINS(err.msg, bad[i][1]);
	}
}

/* In a mount namespace of its own: an overlay of lower and upper, then
 * what a build step does in it: a file removed, a directory replaced, a
 * file added. Exits 77 when overlayfs cannot be mounted here. */
static void overlay_step(const char *d)
{
	_cleanup_free_ char *opts = base_sprintf(
		"lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", d, d, d);
	_cleanup_free_ char *merged = base_sprintf("%s/merged", d);
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("overlay", merged, "overlay", 0, opts) < 0)
		_exit(77);
	_cleanup_free_ char *gone = base_sprintf("%s/gone", merged);
	_cleanup_free_ char *dir = base_sprintf("%s/dir", merged);
	_cleanup_free_ char *old = base_sprintf("%s/dir/old", merged);
	if (unlink(gone) < 0 || unlink(old) < 0 || rmdir(dir) < 0 ||
	    mkdir(dir, 0750) < 0)
		_exit(1);
	put(merged, "dir/new", "new");
	put(merged, "added", "added");
	_exit(0);
}

TEST(layer_from_overlay_upper_applies_on_its_base)
{
	if (geteuid() != 0)
		test_skip("overlayfs needs root");
	char *d = tmpdir();
	_cleanup_(oci_store_closep) struct oci_store *s = store(d);
	static const char *const dirs[] = {"lower", "lower/dir", "upper",
					   "work", "merged"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *p = base_sprintf("%s/%s", d, dirs[i]);
		ASSERT_EQ(mkdir(p, 0755), 0);
	}
	put(d, "lower/gone", "gone");
	put(d, "lower/keep", "keep");
	put(d, "lower/dir/old", "old");
	pid_t pid = fork();
	if (pid == 0)
		overlay_step(d);
	int status = 0;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		rmdir_all(d);
		test_skip("overlayfs cannot be mounted here");
	}
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	struct oci_new_layer l[2];
	struct berr err = {0};
	_cleanup_free_ char *lower = base_sprintf("%s/lower", d);
	_cleanup_free_ char *upper = base_sprintf("%s/upper", d);
	ASSERT_EQ(oci_layer_from_dir(s, lower, NULL, &l[0], &err), 0);
	struct oci_layer_opts o = {.overlay_upper = true, .mtime = -1};
	ASSERT_EQ(oci_layer_from_dir(s, upper, &o, &l[1], &err), 0);
	_cleanup_free_ char *got = entries(l[1].path);
	/* a whiteout sorts by the name it hides */
	ASSERT_STREQ(got, "added file;dir/ dir;dir/.wh..wh..opq file;"
			  "dir/new file;.wh.gone file;");
	_cleanup_(oci_image_freep) struct oci_image *base =
		made(s, NULL, &l[0], 1, "{}", "base");
	_cleanup_(oci_image_freep) struct oci_image *top =
		made(s, base, &l[1], 1, "{}", "top");
	_cleanup_free_ char *bundle = base_sprintf("%s/bundle", d);
	ASSERT_EQ(oci_image_unpack(s, top, bundle, &err), 0);
	_cleanup_free_ char *root = base_sprintf("%s/rootfs", bundle);
	_cleanup_free_ char *cmd = base_sprintf(
		"cd %s && find . -mindepth 1 | sort | tr '\\n' ' '", root);
	FILE *f = popen(cmd, "r");
	char buf[256] = "";
	ASSERT_TRUE(f && fgets(buf, sizeof(buf), f));
	pclose(f);
	ASSERT_STREQ(buf, "./added ./dir ./dir/new ./keep ");
	oci_new_layer_clear(&l[0]);
	oci_new_layer_clear(&l[1]);
	rmdir_all(d);
}
