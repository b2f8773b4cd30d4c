/* oci/ image code: the tar path resolver, sha256, references, the image
 * documents, one-layer unpacking (whiteouts, refusals, diffIDs), the copy
 * of layers into a rootfs, users and the image config conversion. */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "oci/oci-image-internal.h"
#include "tests/unit/test.h"

/* ---- helpers
 * ------------------------------------------------------------------ */

static char *tmpdir(void)
{
	char t[] = "/tmp/berth-image-XXXXXX";
	ASSERT_TRUE(mkdtemp(t));
	return base_strdup(t);
}

static void rmdir_all(char *d)
{
	(void)base_rm_rf_at(AT_FDCWD, d);
	free(d);
}

static int open_dir(const char *base, const char *sub)
{
	_cleanup_free_ char *p = base_sprintf("%s/%s", base, sub);
	(void)mkdir(p, 0755);
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	return fd;
}

/* A tiny ustar writer: the tests need archives a tar tool would refuse
 * to make. */
struct tarbuf {
	char *p;
	size_t n;
};

struct tent {
	const char *name;
	char type; /* '0' file, '1' hard link, '2' symlink, '3' chr, '4' blk,
		      '5' dir, '6' fifo */
	const char *data; /* file contents or link target */
	unsigned mode, major, minor;
};

static void tar_add(struct tarbuf *t, const struct tent *e)
{
	bool file = e->type == '0';
	size_t len = file && e->data ? strlen(e->data) : 0;
	size_t blocks = 1 + (len + 511) / 512;
	t->p = base_realloc(t->p, t->n + blocks * 512, 1);
	char *h = t->p + t->n;
	memset(h, 0, blocks * 512);
	snprintf(h, 100, "%s", e->name);
	snprintf(h + 100, 8, "%07o", e->mode ? e->mode : 0644);
	snprintf(h + 108, 8, "%07o", 0);
	snprintf(h + 116, 8, "%07o", 0);
	snprintf(h + 124, 12, "%011zo", len);
	snprintf(h + 136, 12, "%011o", 1700000000);
	h[156] = e->type;
	if (!file && e->data)
		snprintf(h + 157, 100, "%s", e->data);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	snprintf(h + 329, 8, "%07o", e->major);
	snprintf(h + 337, 8, "%07o", e->minor);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	if (len)
		memcpy(h + 512, e->data, len);
	t->n += blocks * 512;
}

/* Writes the entries and the end blocks to dir/name; returns an fd. */
static int tar_file(const char *dir, const char *name, const struct tent *e,
		    size_t n, struct tarbuf *out)
{
	struct tarbuf t = {0};
	for (size_t i = 0; i < n; i++)
		tar_add(&t, &e[i]);
	t.p = base_realloc(t.p, t.n + 1024, 1);
	memset(t.p + t.n, 0, 1024);
	t.n += 1024;
	_cleanup_free_ char *p = base_sprintf("%s/%s", dir, name);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, p, t.p, t.n, O_CREAT), 0);
	if (out)
		*out = t;
	else
		free(t.p);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	return fd;
}

/* Unpacks entries into dir/root; returns the result, err filled. */
static int unpack(const char *dir, const struct tent *e, size_t n, bool devices,
		  struct berr *err)
{
	struct tarbuf t;
	_cleanup_close_ int fd = tar_file(dir, "layer.tar", e, n, &t);
	_cleanup_close_ int root = open_dir(dir, "root");
	struct oci_unpack_opts o = {.allow_devices = devices,
				    .what = "layer sha256:test"};
	char diff[OCI_DIGEST_LEN], want[OCI_DIGEST_LEN];
	uint64_t size = 0;
	int r = oci_unpack_layer(fd, root, &o, diff, &size, err);
	if (r == 0) {
		ASSERT_EQ(oci_sha256_buf(t.p, t.n, want, NULL), 0);
		ASSERT_STREQ(diff, want);
		ASSERT_EQ(size, t.n);
	}
	free(t.p);
	return r;
}

static bool exists(const char *dir, const char *rel)
{
	_cleanup_free_ char *p = base_sprintf("%s/%s", dir, rel);
	struct stat st;
	return lstat(p, &st) == 0;
}

/* ---- paths
 * ---------------------------------------------------------------------- */

TEST(tar_clean_path_normalises)
{
	char *out = NULL;
	const char *why = NULL;
	ASSERT_EQ(oci_tar_clean_path("./a//b/./c/", &out, &why), 0);
	ASSERT_STREQ(out, "a/b/c");
	free(out);
	ASSERT_EQ(oci_tar_clean_path("./", &out, &why), 0);
	ASSERT_STREQ(out, "");
	free(out);
	ASSERT_EQ(oci_tar_clean_path("a/...b/..c", &out, &why), 0);
	ASSERT_STREQ(out, "a/...b/..c");
	free(out);
}

TEST(tar_clean_path_refuses_escapes)
{
	char *out = NULL;
	const char *why = NULL;
	ASSERT_EQ(oci_tar_clean_path("/etc/passwd", &out, &why), -EINVAL);
	ASSERT_CONTAINS(why, "absolute");
	ASSERT_TRUE(out == NULL);
	ASSERT_EQ(oci_tar_clean_path("../x", &out, &why), -EINVAL);
	ASSERT_CONTAINS(why, "..");
	ASSERT_EQ(oci_tar_clean_path("a/../b", &out, &why), -EINVAL);
	ASSERT_EQ(oci_tar_clean_path("a/b/..", &out, &why), -EINVAL);
	ASSERT_EQ(oci_tar_clean_path("", &out, &why), -EINVAL);
}

TEST(open_dir_nofollow_refuses_symlinks)
{
	char *d = tmpdir();
	_cleanup_free_ char *sym = base_sprintf("%s/sym", d);
	_cleanup_free_ char *file = base_sprintf("%s/file", d);
	ASSERT_EQ(symlink("/", sym), 0);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, file, "", 0, O_CREAT), 0);
	_cleanup_close_ int root = open(d, O_RDONLY | O_DIRECTORY);
	size_t bad = 0;
	ASSERT_EQ(oci_open_dir_nofollow(root, "sym/etc", true, &bad), -ELOOP);
	ASSERT_EQ(bad, 3);
	ASSERT_EQ(oci_open_dir_nofollow(root, "file/x", true, &bad), -ENOTDIR);
	ASSERT_EQ(oci_open_dir_nofollow(root, "file", false, &bad), -ENOTDIR);
	ASSERT_EQ(oci_open_dir_nofollow(root, "new", false, &bad), -ENOENT);
	int fd = oci_open_dir_nofollow(root, "new/deeper", true, NULL);
	ASSERT_TRUE(fd >= 0);
	close(fd);
	ASSERT_TRUE(exists(d, "new/deeper"));
	rmdir_all(d);
}

/* ---- digests
 * ------------------------------------------------------------------------ */

TEST(sha256_known_vectors)
{
	char d[OCI_DIGEST_LEN];
	ASSERT_EQ(oci_sha256_buf("", 0, d, NULL), 0);
	ASSERT_STREQ(d,
		     "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
		     "a495991b7852b855");
	ASSERT_EQ(oci_sha256_buf("abc", 3, d, NULL), 0);
	ASSERT_STREQ(d,
		     "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9c"
		     "b410ff61f20015ad");
	ASSERT_TRUE(oci_digest_valid(d));
}

TEST(sha256_streams_a_file)
{
	char *dir = tmpdir();
	_cleanup_free_ char *p = base_sprintf("%s/f", dir);
	/* more than one read buffer */
	size_t n = 300000;
	_cleanup_free_ char *buf = base_calloc(n, 1);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i * 7);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, p, buf, n, O_CREAT), 0);
	_cleanup_close_ int fd = open(p, O_RDONLY);
	char a[OCI_DIGEST_LEN], b[OCI_DIGEST_LEN];
	uint64_t size = 0;
	ASSERT_EQ(oci_sha256_copy(fd, -1, a, &size, NULL), 0);
	ASSERT_EQ(size, n);
	ASSERT_EQ(oci_sha256_buf(buf, n, b, NULL), 0);
	ASSERT_STREQ(a, b);
	rmdir_all(dir);
}

TEST(digest_form_is_checked)
{
	struct berr err = {0};
	ASSERT_TRUE(!oci_digest_valid("sha256:abc"));
	ASSERT_TRUE(!oci_digest_valid(
		"sha256:"
		"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B"
		"7852B855"));
	ASSERT_TRUE(!oci_digest_valid(NULL));
	ASSERT_EQ(oci_digest_check("sha512:00", "layer", &err), -EINVAL);
	ASSERT_STREQ(err.msg, "layer: unsupported digest algorithm sha512");
	ASSERT_EQ(oci_digest_check("sha256:../../x", "layer", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "invalid digest");
}

/* ---- references
 * ------------------------------------------------------------------------ */

static void check_ref(const char *in, const char *want)
{
	char *out = NULL;
	struct berr err = {0};
	int r = oci_image_ref_normalize(in, &out, &err);
	if (!want) {
		ASSERT_EQ(r, -EINVAL);
		ASSERT_CONTAINS(err.msg, "invalid reference");
		return;
	}
	ASSERT_EQ(r, 0);
	ASSERT_STREQ(out, want);
	free(out);
}

TEST(references_normalise)
{
	check_ref("busybox", "busybox:latest");
	check_ref("docker.io/library/busybox:1.36", "busybox:1.36");
	check_ref("docker.io/foo/bar", "foo/bar:latest");
	check_ref("localhost:5000/x/y:v1.2-rc", "localhost:5000/x/y:v1.2-rc");
	check_ref("quay.io/a/b@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4"
		  "649b934ca495991b7852b855",
		  "quay.io/a/b@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4"
		  "649b934ca495991b7852b855");
	check_ref("Busybox", NULL);
	check_ref("a:b:c", NULL);
	check_ref("x:", NULL);
	check_ref("../x", NULL);
	check_ref("a..b/x", NULL);
	check_ref("host:port/x", NULL);
	check_ref("my-registry.example.com:443/team/app",
		  "my-registry.example.com:443/team/app:latest");
	check_ref("", NULL);
	check_ref(
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8"
		"55",
		NULL);
	check_ref("a@sha256:12", NULL);
	/* found by fuzz-manifest: normalising must be idempotent, and a Hub
	 * prefix must not turn into another registry's name */
	check_ref("index.docker.io/library/docker.io/library/x", NULL);
	check_ref("docker.io/quay.io/a/b", NULL);
	check_ref("docker.io/localhost/a", NULL);
	check_ref("docker.io/library/foo.bar", "foo.bar:latest");
}

/* ---- documents
 * -----------------------------------------------------------------------------
 */

#define D1                                                                     \
	"sha256:"                                                              \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define D2                                                                     \
	"sha256:"                                                              \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

TEST(manifest_parses)
{
	static const char doc[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
		"\"config\":{\"mediaType\":\"" OCI_MT_CONFIG
		"\",\"digest\":\"" D1
		"\",\"size\":2},\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER
		"+gzip\",\"digest\":\"" D2 "\",\"size\":3}]}";
	struct oci_manifest_doc m;
	struct berr err = {0};
	ASSERT_EQ(oci_manifest_parse(doc, strlen(doc), "manifest", &m, &err),
		  0);
	ASSERT_TRUE(!m.is_index);
	ASSERT_STREQ(m.config.digest, D1);
	ASSERT_EQ(m.n_layers, 1);
	ASSERT_STREQ(m.layers[0].digest, D2);
	ASSERT_EQ(m.layers[0].size, 3);
	oci_manifest_clear(&m);
}

TEST(manifest_errors_name_the_field)
{
	static const char bad_digest[] =
		"{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1
		"\",\"size\":2},"
		"\"layers\":[{\"digest\":\"sha256:zz\",\"size\":3}]}";
	static const char sha512[] =
		"{\"config\":{\"digest\":\"sha512:abcd\",\"size\":2}}";
	static const char no_size[] = "{\"config\":{\"digest\":\"" D1 "\"}}";
	static const char helm[] =
		"{\"config\":{\"mediaType\":\"application/vnd.cncf.helm.config."
		"v1+json\",\"digest\":\"" D1 "\",\"size\":2}}";
	static const char encrypted[] =
		"{\"config\":{\"digest\":\"" D1 "\",\"size\":2},\"layers\":[{"
		"\"mediaType\":\"" OCI_MT_LAYER
		"+gzip+encrypted\",\"digest\":\"" D2 "\",\"size\":3}]}";
	struct oci_manifest_doc m;
	struct berr err = {0};
	ASSERT_EQ(oci_manifest_parse(bad_digest, strlen(bad_digest), "m", &m,
				     &err),
		  -EINVAL);
	ASSERT_STREQ(err.msg,
		     "m: layers[0].digest: invalid digest \"sha256:zz\"");
	oci_manifest_clear(&m);
	ASSERT_EQ(oci_manifest_parse(sha512, strlen(sha512), "m", &m, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "unsupported digest algorithm \"sha512\"");
	oci_manifest_clear(&m);
	ASSERT_EQ(oci_manifest_parse(no_size, strlen(no_size), "m", &m, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "config.size: required");
	oci_manifest_clear(&m);
	ASSERT_EQ(oci_manifest_parse(helm, strlen(helm), "m", &m, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "not a container image");
	oci_manifest_clear(&m);
	ASSERT_EQ(
		oci_manifest_parse(encrypted, strlen(encrypted), "m", &m, &err),
		-EINVAL);
	ASSERT_CONTAINS(err.msg, "unsupported layer type");
	oci_manifest_clear(&m);
	ASSERT_EQ(oci_manifest_parse("[]", 2, "m", &m, &err), -EINVAL);
	oci_manifest_clear(&m);
}

TEST(index_and_platforms)
{
	_cleanup_free_ char *doc =
		base_sprintf("{\"schemaVersion\":2,\"manifests\":["
			     "{\"digest\":\"" D1
			     "\",\"size\":1,\"platform\":{\"os\":\"linux\","
			     "\"architecture\":\"%s\"},\"annotations\":{"
			     "\"org.opencontainers.image.ref.name\":\"1.0\"}},"
			     "{\"digest\":\"" D2
			     "\",\"size\":1,\"platform\":{\"os\":\"linux\","
			     "\"architecture\":\"no-such-arch\"}}]}",
			     oci_image_host_arch());
	struct oci_manifest_doc m;
	struct berr err = {0};
	ASSERT_EQ(oci_manifest_parse(doc, strlen(doc), "index", &m, &err), 0);
	ASSERT_TRUE(m.is_index);
	ASSERT_EQ(m.n_manifests, 2);
	ASSERT_STREQ(m.manifests[0].ref_name, "1.0");
	ASSERT_TRUE(oci_platform_score(&m.manifests[0]) >= 2);
	ASSERT_EQ(oci_platform_score(&m.manifests[1]), 0);
	free(m.manifests[0].os);
	m.manifests[0].os = base_strdup("windows");
	ASSERT_EQ(oci_platform_score(&m.manifests[0]), 0);
	oci_manifest_clear(&m);
}

TEST(image_config_parses)
{
	static const char good[] =
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{"
		"\"type\":"
		"\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";
	static const char bad[] =
		"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1
		"\",\"md5:x\"]}}";
	static const char notype[] = "{\"rootfs\":{\"diff_ids\":[]}}";
	struct oci_imgcfg_doc c;
	struct berr err = {0};
	ASSERT_EQ(oci_imgcfg_parse(good, strlen(good), "config", &c, &err), 0);
	ASSERT_EQ(c.n_diff_ids, 2);
	ASSERT_STREQ(c.diff_ids[1], D2);
	ASSERT_STREQ(c.arch, "amd64");
	oci_imgcfg_clear(&c);
	ASSERT_EQ(oci_imgcfg_parse(bad, strlen(bad), "config", &c, &err),
		  -EINVAL);
	ASSERT_STREQ(err.msg,
		     "config: rootfs.diff_ids[1]: invalid digest \"md5:x\"");
	oci_imgcfg_clear(&c);
	ASSERT_EQ(oci_imgcfg_parse(notype, strlen(notype), "config", &c, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "rootfs.type: expected \"layers\"");
	oci_imgcfg_clear(&c);
	ASSERT_EQ(oci_imgcfg_parse("{}", 2, "config", &c, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "rootfs: required");
	oci_imgcfg_clear(&c);
}

TEST(docker_manifest_parses)
{
	static const char doc[] =
		"[{\"Config\":\"c.json\",\"RepoTags\":[\"a:1\",\"b:2\"],"
		"\"Layers\":[\"l1/layer.tar\",\"l2/layer.tar\"]}]";
	struct oci_docker_entry *v = NULL;
	size_t n = 0;
	struct berr err = {0};
	ASSERT_EQ(oci_docker_manifest_parse(doc, strlen(doc), &v, &n, &err), 0);
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(v[0].config, "c.json");
	ASSERT_STREQ(v[0].repo_tags[1], "b:2");
	ASSERT_EQ(v[0].n_layers, 2);
	oci_docker_entries_free(v, n);
	ASSERT_EQ(oci_docker_manifest_parse("{}", 2, &v, &n, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "expected a JSON array");
	ASSERT_EQ(oci_docker_manifest_parse("[{}]", 4, &v, &n, &err), -EINVAL);
	ASSERT_STREQ(err.msg, "manifest.json: [0].Config: required");
	_cleanup_free_ char *deep = base_calloc(100001, 1);
	memset(deep, '[', 100000);
	ASSERT_EQ(oci_docker_manifest_parse(deep, 100000, &v, &n, &err),
		  -EINVAL);
	ASSERT_STREQ(err.msg, "manifest.json: JSON nesting deeper than 1000 "
			      "levels near byte 1000");
}

/* ---- unpacking one layer
 * ---------------------------------------------------------------------- */

TEST(unpack_files_links_and_diffid)
{
	char *d = tmpdir();
	const struct tent e[] = {
		{"./", '5', NULL, 0755, 0, 0},
		{"./etc/", '5', NULL, 0755, 0, 0},
		{"./etc/hosts", '0', "127.0.0.1 localhost\n", 0644, 0, 0},
		{"./etc/hosts2", '1', "./etc/hosts", 0, 0, 0},
		{"./bin/sh", '2', "/bin/busybox", 0777, 0, 0},
		{"./run/fifo", '6', NULL, 0600, 0, 0},
		{"./etc/hosts.bak", '0', "", 0600, 0, 0},
		/* a relative link that climbs past the root, as docker
		 * stores them: kept as written */
		{"./bin/up", '2', "../../../../usr/bin", 0777, 0, 0},
	};
	struct berr err = {0};
	ASSERT_EQ(unpack(d, e, ARRAY_SIZE(e), false, &err), 0);
	_cleanup_free_ char *root = base_sprintf("%s/root", d);
	_cleanup_free_ char *hosts = NULL;
	_cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY);
	ASSERT_EQ(base_read_file_at(rfd, "etc/hosts", &hosts, NULL, 0), 0);
	ASSERT_STREQ(hosts, "127.0.0.1 localhost\n");
	struct stat a, b;
	ASSERT_EQ(fstatat(rfd, "etc/hosts", &a, 0), 0);
	ASSERT_EQ(fstatat(rfd, "etc/hosts2", &b, 0), 0);
	ASSERT_EQ(a.st_ino, b.st_ino);
	ASSERT_EQ(a.st_mtime, 1700000000);
	char target[64] = "";
	ASSERT_TRUE(readlinkat(rfd, "bin/sh", target, sizeof(target)) > 0);
	ASSERT_STREQ(target, "/bin/busybox");
	char up[64] = "";
	ASSERT_TRUE(readlinkat(rfd, "bin/up", up, sizeof(up)) > 0);
	ASSERT_STREQ(up, "../../../../usr/bin");
	ASSERT_EQ(fstatat(rfd, "run/fifo", &a, AT_SYMLINK_NOFOLLOW), 0);
	ASSERT_TRUE(S_ISFIFO(a.st_mode));
	ASSERT_EQ(a.st_mode & 07777, 0600);
	rmdir_all(d);
}

TEST(unpack_whiteouts_in_overlay_form)
{
	char *d = tmpdir();
	const struct tent e[] = {
		{"a/", '5', NULL, 0755, 0, 0},
		{"a/.wh..wh..opq", '0', "", 0, 0, 0},
		{"a/kept", '0', "k", 0, 0, 0},
		{".wh.gone", '0', "", 0, 0, 0},
		{"b/.wh.x", '0', "", 0, 0, 0},
		{"c", '3', NULL, 0, 0, 0}, /* already in overlay form */
	};
	struct berr err = {0};
	ASSERT_EQ(unpack(d, e, ARRAY_SIZE(e), false, &err), 0);
	_cleanup_free_ char *root = base_sprintf("%s/root", d);
	_cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY);
	static const char *const wh[] = {"gone", "b/x", "c"};
	for (size_t i = 0; i < ARRAY_SIZE(wh); i++) {
		struct stat st;
		ASSERT_EQ(fstatat(rfd, wh[i], &st, AT_SYMLINK_NOFOLLOW), 0);
		ASSERT_TRUE(S_ISCHR(st.st_mode));
		ASSERT_EQ(st.st_rdev, makedev(0, 0));
	}
	ASSERT_TRUE(!exists(root, ".wh.gone"));
	ASSERT_TRUE(!exists(root, "a/.wh..wh..opq"));
	ASSERT_TRUE(exists(root, "a/kept"));
	_cleanup_free_ char *a = base_sprintf("%s/a", root);
	char v[4] = "";
	ASSERT_EQ(getxattr(a, "trusted.overlay.opaque", v, sizeof(v)), 1);
	ASSERT_EQ(v[0], 'y');
	rmdir_all(d);
}

static void refused(const struct tent *e, size_t n, const char *msg)
{
	char *d = tmpdir();
	struct berr err = {0};
	ASSERT_TRUE(unpack(d, e, n, false, &err) < 0);
	ASSERT_CONTAINS(err.msg, msg);
	ASSERT_CONTAINS(err.msg, "layer sha256:test: entry `");
	/* nothing next to the layer root */
	ASSERT_TRUE(!exists(d, "canary"));
	ASSERT_TRUE(!exists(d, "escaped"));
	rmdir_all(d);
}

TEST(unpack_refuses_escapes)
{
	const struct tent up[] = {{"../canary", '0', "x", 0, 0, 0}};
	refused(up, 1, "entry `../canary`: climbs out of the layer");
	const struct tent abs[] = {{"/canary", '0', "x", 0, 0, 0}};
	refused(abs, 1, "entry `/canary`: absolute path");
	const struct tent through[] = {
		{"l", '2', "..", 0, 0, 0},
		{"l/escaped", '0', "x", 0, 0, 0},
	};
	/* the link is stored as docker stores it; nothing goes through it */
	refused(through, 2, "entry `l/escaped`: `l` is a symbolic link");
	const struct tent via_abs[] = {
		{"l", '2', "/", 0, 0, 0},
		{"l/escaped", '0', "x", 0, 0, 0},
	};
	refused(via_abs, 2,
		"entry `l/escaped`: `l` is a symbolic link: refusing to write "
		"through it");
	const struct tent hard[] = {{"h", '1', "/etc/shadow", 0, 0, 0}};
	refused(hard, 1, "hard link target `/etc/shadow` is outside the layer");
	const struct tent hard_up[] = {{"h", '1', "../canary", 0, 0, 0}};
	refused(hard_up, 1,
		"hard link target `../canary` is outside the layer");
	const struct tent absent[] = {{"h", '1', "etc/shadow", 0, 0, 0}};
	refused(absent, 1, "hard link target `etc/shadow` is not in the layer");
	const struct tent dev[] = {{"sda", '4', NULL, 0600, 8, 0}};
	refused(dev, 1,
		"device nodes are not allowed in this image (block 8:0)");
}

TEST(unpack_devices_when_allowed)
{
	char *d = tmpdir();
	const struct tent e[] = {{"null", '3', NULL, 0666, 1, 3}};
	struct berr err = {0};
	ASSERT_EQ(unpack(d, e, 1, true, &err), 0);
	_cleanup_free_ char *p = base_sprintf("%s/root/null", d);
	struct stat st;
	ASSERT_EQ(lstat(p, &st), 0);
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(st.st_rdev, makedev(1, 3));
	ASSERT_EQ(st.st_mode & 07777, 0666);
	rmdir_all(d);
}

TEST(unpack_gzip_and_verify_only)
{
	char *d = tmpdir();
	const struct tent e[] = {{"f", '0', "some data", 0, 0, 0}};
	struct tarbuf t;
	close(tar_file(d, "l.tar", e, 1, &t));
	char want[OCI_DIGEST_LEN], got[OCI_DIGEST_LEN];
	ASSERT_EQ(oci_sha256_buf(t.p, t.n, want, NULL), 0);
	free(t.p);
	_cleanup_free_ char *cmd = base_sprintf("gzip -n %s/l.tar", d);
	if (system(cmd) != 0)
		test_skip("gzip is missing");
	_cleanup_free_ char *gz = base_sprintf("%s/l.tar.gz", d);
	_cleanup_close_ int fd = open(gz, O_RDONLY);
	struct oci_unpack_opts o = {.what = "layer"};
	uint64_t size = 0;
	struct berr err = {0};
	ASSERT_EQ(oci_unpack_layer(fd, -1, &o, got, &size, &err), 0);
	ASSERT_STREQ(got, want);
	ASSERT_EQ(size, 2048);
	/* a cut stream is an error, not a short layer */
	ASSERT_EQ(ftruncate(open(gz, O_WRONLY), 30), 0);
	ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
	ASSERT_TRUE(oci_unpack_layer(fd, -1, &o, got, &size, &err) < 0);
	ASSERT_CONTAINS(err.msg, "layer: ");
	rmdir_all(d);
}

/* ---- layers into a rootfs
 * -------------------------------------------------------------------------- */

/* The uncompressed stream stops at max_bytes: -EFBIG naming the layer and
 * the load's limit, whether unpacking or only hashing. */
TEST(unpack_stops_at_the_size_limit)
{
	char *d = tmpdir();
	const struct tent e[] = {{"f", '0', "some data", 0, 0, 0}};
	_cleanup_close_ int fd = tar_file(d, "l.tar", e, 1, NULL);
	_cleanup_close_ int root = open_dir(d, "root");
	struct oci_unpack_opts o = {
		.what = "layer sha256:ab", .max_bytes = 1000, .limit = 5120};
	char got[OCI_DIGEST_LEN];
	uint64_t size = 0;
	struct berr err = {0};
	ASSERT_EQ(oci_unpack_layer(fd, root, &o, got, &size, &err), -EFBIG);
	ASSERT_STREQ(err.msg, "layer sha256:ab: the layers uncompress to more "
			      "than 5 KiB, the size limit of a load");
	ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
	ASSERT_EQ(oci_unpack_layer(fd, -1, &o, got, &size, &err), -EFBIG);
	/* exactly the stream's length passes; no limit passes */
	o.max_bytes = 2048;
	ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
	ASSERT_EQ(oci_unpack_layer(fd, -1, &o, got, &size, &err), 0);
	ASSERT_EQ(size, 2048);
	o.max_bytes = o.limit = 0;
	ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
	ASSERT_EQ(oci_unpack_layer(fd, -1, &o, got, &size, &err), 0);
	rmdir_all(d);
}

/* A sparse file of a layer stays sparse in the rootfs. */
TEST(copy_layers_keeps_holes)
{
	char *d = tmpdir();
	_cleanup_close_ int layer = open_dir(d, "layer");
	_cleanup_close_ int out = open_dir(d, "rootfs");
	_cleanup_close_ int f =
		openat(layer, "sparse", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_TRUE(f >= 0);
	const off_t size = (off_t)1 << 30;
	ASSERT_EQ(pwrite(f, "mid", 3, size / 2), 3);
	ASSERT_EQ(pwrite(f, "end", 3, size - 3), 3);
	struct berr err = {0};
	ASSERT_EQ(oci_copy_layer(layer, out, "layer 1", &err), 0);
	struct stat st;
	ASSERT_EQ(fstatat(out, "sparse", &st, 0), 0);
	ASSERT_EQ(st.st_size, size);
	ASSERT_TRUE(st.st_blocks * 512 < (1 << 20));
	_cleanup_close_ int c = openat(out, "sparse", O_RDONLY | O_CLOEXEC);
	char buf[4] = "";
	ASSERT_EQ(pread(c, buf, 3, size / 2), 3);
	ASSERT_STREQ(buf, "mid");
	ASSERT_EQ(pread(c, buf, 3, size - 3), 3);
	ASSERT_STREQ(buf, "end");
	ASSERT_EQ(pread(c, buf, 3, 4096), 3);
	ASSERT_EQ(memcmp(buf, "\0\0\0", 3), 0);
	rmdir_all(d);
}

TEST(copy_layers_applies_whiteouts)
{
	char *d = tmpdir();
	const struct tent l1[] = {
		{"a/", '5', NULL, 0755, 0, 0}, {"a/1", '0', "1", 0, 0, 0},
		{"a/2", '0', "2", 0, 0, 0},    {"b/", '5', NULL, 0755, 0, 0},
		{"b/x", '0', "x", 0, 0, 0},    {"c", '0', "c", 0, 0, 0},
		{"l", '2', "a", 0, 0, 0},
	};
	const struct tent l2[] = {
		{"a/.wh.1", '0', "", 0, 0, 0},
		{"b/", '5', NULL, 0700, 0, 0},
		{"b/.wh..wh..opq", '0', "", 0, 0, 0},
		{"b/y", '0', "y", 0, 0, 0},
		{".wh.c", '0', "", 0, 0, 0},
		{"l/", '5', NULL, 0755, 0, 0},
		{"l/in", '0', "in", 0, 0, 0},
	};
	struct berr err = {0};
	ASSERT_EQ(unpack(d, l1, ARRAY_SIZE(l1), false, &err), 0);
	_cleanup_free_ char *root = base_sprintf("%s/root", d);
	_cleanup_free_ char *r1 = base_sprintf("%s/one", d);
	ASSERT_EQ(rename(root, r1), 0);
	ASSERT_EQ(unpack(d, l2, ARRAY_SIZE(l2), false, &err), 0);
	_cleanup_close_ int f1 = open_dir(d, "one");
	_cleanup_close_ int f2 = open_dir(d, "root");
	_cleanup_close_ int out = open_dir(d, "rootfs");
	ASSERT_EQ(oci_copy_layer(f1, out, "layer 1", &err), 0);
	ASSERT_EQ(oci_copy_layer(f2, out, "layer 2", &err), 0);
	_cleanup_free_ char *rootfs = base_sprintf("%s/rootfs", d);
	ASSERT_TRUE(!exists(rootfs, "a/1"));
	ASSERT_TRUE(exists(rootfs, "a/2"));
	ASSERT_TRUE(!exists(rootfs, "b/x"));
	ASSERT_TRUE(exists(rootfs, "b/y"));
	ASSERT_TRUE(!exists(rootfs, "c"));
	/* a directory over a symlink replaces it: nothing lands in a/ */
	ASSERT_TRUE(exists(rootfs, "l/in"));
	ASSERT_TRUE(!exists(rootfs, "a/in"));
	struct stat st;
	_cleanup_free_ char *b = base_sprintf("%s/b", rootfs);
	ASSERT_EQ(stat(b, &st), 0);
	ASSERT_EQ(st.st_mode & 07777, 0700);
	char v[4];
	ASSERT_TRUE(getxattr(b, "trusted.overlay.opaque", v, sizeof(v)) < 0);
	rmdir_all(d);
}

/* ---- users and the runtime config
 * ----------------------------------------------------------------- */

static char *passwd_root(void)
{
	char *d = tmpdir();
	_cleanup_free_ char *etc = base_sprintf("%s/etc", d);
	ASSERT_EQ(mkdir(etc, 0755), 0);
	_cleanup_free_ char *pw = base_sprintf("%s/passwd", etc);
	_cleanup_free_ char *gr = base_sprintf("%s/group", etc);
	static const char p[] = "root:x:0:0:root:/root:/bin/sh\n"
				"app:x:1000:1001::/home/app:/bin/sh\n"
				"broken line\n";
	static const char g[] = "root:x:0:\nwheel:x:10:root,app\n"
				"app:x:1001:\nstaff:x:50:app\n";
	ASSERT_EQ(base_write_file_at(AT_FDCWD, pw, p, strlen(p), O_CREAT), 0);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, gr, g, strlen(g), O_CREAT), 0);
	return d;
}

TEST(users_resolve_against_the_image)
{
	char *d = passwd_root();
	_cleanup_close_ int rfd = open(d, O_RDONLY | O_DIRECTORY);
	struct oci_user_ids u;
	struct berr err = {0};
	ASSERT_EQ(oci_image_resolve_user(rfd, "app", &u, &err), 0);
	ASSERT_EQ(u.uid, 1000);
	ASSERT_EQ(u.gid, 1001);
	ASSERT_EQ(u.n_gids, 2);
	ASSERT_EQ(u.gids[0], 10);
	ASSERT_EQ(u.gids[1], 50);
	free(u.gids);
	ASSERT_EQ(oci_image_resolve_user(rfd, "1000:staff", &u, &err), 0);
	ASSERT_EQ(u.uid, 1000);
	ASSERT_EQ(u.gid, 50);
	ASSERT_EQ(u.n_gids, 0);
	ASSERT_EQ(oci_image_resolve_user(rfd, "4242", &u, &err), 0);
	ASSERT_EQ(u.uid, 4242);
	ASSERT_EQ(u.gid, 0);
	ASSERT_EQ(oci_image_resolve_user(rfd, "", &u, &err), 0);
	ASSERT_EQ(u.uid, 0);
	ASSERT_EQ(u.n_gids, 1);
	free(u.gids);
	ASSERT_EQ(oci_image_resolve_user(rfd, "nobody", &u, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg,
			"user \"nobody\": not in the image's /etc/passwd");
	ASSERT_EQ(oci_image_resolve_user(rfd, "app:nogroup", &u, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "group \"nogroup\"");
	ASSERT_EQ(oci_image_resolve_user(-1, "app", &u, &err), -EINVAL);
	rmdir_all(d);
}

TEST(runtime_config_from_image_config)
{
	static const char cfg[] =
		"{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{"
		"\"Entrypoint\":[\"/bin/app\"],\"Cmd\":[\"--flag\"],"
		"\"Env\":[\"A=1\"],\"WorkingDir\":\"/srv\",\"User\":\"7:8\","
		"\"Labels\":{\"l\":\"v\"},\"ExposedPorts\":{\"80/tcp\":{}}},"
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	char *json = NULL;
	struct berr err = {0};
	ASSERT_EQ(oci_image_runtime_config(cfg, strlen(cfg), -1, &json, &err),
		  0);
	struct oci_config *c = NULL;
	ASSERT_EQ(oci_config_parse(json, strlen(json), &c, &err), 0);
	ASSERT_STREQ(c->process.args[0], "/bin/app");
	ASSERT_STREQ(c->process.args[1], "--flag");
	ASSERT_TRUE(c->process.args[2] == NULL);
	ASSERT_STREQ(c->process.env[0], "A=1");
	ASSERT_CONTAINS(c->process.env[1], "PATH=");
	ASSERT_STREQ(c->process.cwd, "/srv");
	ASSERT_EQ(c->process.user.uid, 7);
	ASSERT_EQ(c->process.user.gid, 8);
	ASSERT_TRUE(!c->process.terminal);
	ASSERT_STREQ(c->root.path, "rootfs");
	ASSERT_TRUE(!c->root.readonly);
	ASSERT_CONTAINS(json, "\"l\": \"v\"");
	ASSERT_CONTAINS(
		json, "\"org.opencontainers.image.exposedPorts\": \"80/tcp\"");
	oci_config_free(c);
	free(json);
	static const char bad[] = "{\"config\":{\"Cmd\":\"not a list\"}}";
	ASSERT_EQ(oci_image_runtime_config(bad, strlen(bad), -1, &json, &err),
		  -EINVAL);
	ASSERT_STREQ(err.msg, "image config: config.Cmd: expected an array");
}

/* ---- the store
 * ------------------------------------------------------------------------------------------
 */

TEST(store_open_cleans_leftovers_and_locks)
{
	char *d = tmpdir();
	struct oci_store *s = NULL;
	struct berr err = {0};
	ASSERT_EQ(oci_store_open(d, OCI_STORE_READ, &s, &err), 0);
	ASSERT_TRUE(exists(d, "blobs/sha256") && exists(d, "layers") &&
		    exists(d, "images") && exists(d, "tmp"));
	_cleanup_free_ char *left = base_sprintf("%s/tmp/load-x/f", d);
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, left, 0700), 0);
	_cleanup_free_ char *refs = base_sprintf("%s/.refs.json.tmp.1", d);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, refs, "x", 1, O_CREAT), 0);
	/* a reader leaves them: a writer may be at work */
	ASSERT_TRUE(exists(d, "tmp/load-x/f"));
	/* a second writer waits for the lock */
	ASSERT_EQ(oci_store_upgrade(s, &err), 0);
	ASSERT_TRUE(!exists(d, "tmp/load-x"));
	ASSERT_TRUE(!exists(d, ".refs.json.tmp.1"));
	pid_t pid = fork();
	if (pid == 0) {
		_cleanup_free_ char *lock = base_sprintf("%s/lock", d);
		int lfd = open(lock, O_RDWR | O_CLOEXEC);
		_exit(flock(lfd, LOCK_EX | LOCK_NB) == 0 ? 1 : 0);
	}
	int status = 0;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_EQ(WEXITSTATUS(status), 0);
	oci_store_close(s);
	rmdir_all(d);
}
