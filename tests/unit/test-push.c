/* oci/ registry push: the pieces of an upload (Content-Range, the closing
 * PUT's URL), the token scope a push asks for, the Location of an upload
 * session, and the destination references a push accepts. */
#include "oci/oci-image-internal.h"
#include "tests/unit/test.h"

#define HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

TEST(push_content_range)
{
	char b[OCI_PUSH_RANGE_LEN];
	oci_push_content_range(0, 1, b);
	ASSERT_STREQ(b, "0-0");
	oci_push_content_range(0, 8u << 20, b);
	ASSERT_STREQ(b, "0-8388607");
	oci_push_content_range(8u << 20, 3616, b);
	ASSERT_STREQ(b, "8388608-8392223");
	/* the largest range fits the buffer */
	oci_push_content_range(UINT64_MAX - 1, 1, b);
	ASSERT_STREQ(b, "18446744073709551614-18446744073709551614");
}

TEST(push_digest_url)
{
	char *u = oci_push_digest_url("http://127.0.0.1:5000/v2/mini/blobs/"
				      "uploads/abc",
				      "sha256:" HEX);
	ASSERT_STREQ(u, "http://127.0.0.1:5000/v2/mini/blobs/uploads/abc"
			"?digest=sha256%3A" HEX);
	free(u);
	/* a Location with a query keeps it */
	u = oci_push_digest_url("https://r.example/v2/a/blobs/uploads/"
				"u1?_state=xyz%3D",
				"sha256:" HEX);
	ASSERT_STREQ(u, "https://r.example/v2/a/blobs/uploads/u1?_state=xyz%3D"
			"&digest=sha256%3A" HEX);
	free(u);
}

TEST(push_scope)
{
	char *s = oci_registry_scope("mini", true, NULL);
	ASSERT_STREQ(s, "repository:mini:pull,push");
	free(s);
	/* a push asks for push even when the challenge (to a HEAD) names
	 * pull alone */
	s = oci_registry_scope("a/b", true, "repository:a/b:pull");
	ASSERT_STREQ(s, "repository:a/b:pull,push");
	free(s);
	s = oci_registry_scope("a/b", false, "repository:a/b:pull");
	ASSERT_STREQ(s, "repository:a/b:pull");
	free(s);
	s = oci_registry_scope("library/busybox", false, NULL);
	ASSERT_STREQ(s, "repository:library/busybox:pull");
	free(s);
}

static void check_location(const char *loc, const char *want)
{
	char *out = NULL;
	int r = oci_registry_location("http://127.0.0.1:5000", loc, &out);
	if (!want) {
		ASSERT_EQ(r, -EINVAL);
		ASSERT_TRUE(!out);
		return;
	}
	ASSERT_EQ(r, 0);
	ASSERT_STREQ(out, want);
	free(out);
}

TEST(push_location)
{
	check_location(
		"/v2/mini/blobs/uploads/u?_state=s",
		"http://127.0.0.1:5000/v2/mini/blobs/uploads/u?_state=s");
	check_location("http://127.0.0.1:5000/v2/mini/blobs/uploads/u",
		       "http://127.0.0.1:5000/v2/mini/blobs/uploads/u");
	check_location("https://storage.example/up?x=1",
		       "https://storage.example/up?x=1");
	/* not a URL berth goes on with */
	check_location("", NULL);
	check_location("v2/relative", NULL);
	check_location("//other.example/v2/x", NULL);
	check_location("ftp://h/x", NULL);
	check_location("/v2/a b", NULL);
	check_location("/v2/a\r\nX-Injected: 1", NULL);
}

TEST(push_credentials_stay_on_the_registry)
{
	const char *base = "http://127.0.0.1:5000";
	ASSERT_TRUE(oci_registry_same_origin(base, "http://127.0.0.1:5000/v2/"
						   "x/blobs/uploads/u"));
	ASSERT_TRUE(oci_registry_same_origin(base, "http://127.0.0.1:5000"));
	ASSERT_TRUE(
		oci_registry_same_origin(base, "http://127.0.0.1:5000?x=1"));
	/* another port, host or scheme, or a longer host name */
	ASSERT_TRUE(!oci_registry_same_origin(base, "http://127.0.0.1:50001/"
						    "v2/"));
	ASSERT_TRUE(!oci_registry_same_origin(base, "http://127.0.0.1:5000."
						    "evil.example/v2/"));
	ASSERT_TRUE(!oci_registry_same_origin(base, "http://127.0.0.1:5000@"
						    "evil.example/v2/"));
	ASSERT_TRUE(!oci_registry_same_origin(base, "https://127.0.0.1:5000/"));
	ASSERT_TRUE(!oci_registry_same_origin(base, "http://127.0.0.2:5000/"));
}

TEST(push_insecure_check)
{
	struct berr err = {0};
	ASSERT_EQ(oci_registry_check_insecure("127.0.0.1:5000", &err), 0);
	ASSERT_EQ(oci_registry_check_insecure("localhost", &err), 0);
	ASSERT_EQ(oci_registry_check_insecure("docker.io", &err), -EPERM);
	ASSERT_STREQ(err.msg, "--insecure: docker.io is not a loopback "
			      "registry (plain http goes only to 127.0.0.0/8, "
			      "::1 and localhost)");
}

/* A push's destination is parsed as a pull's reference: the tag it goes
 * under, latest when none. */
TEST(push_destinations)
{
	struct berr err = {0};
	struct oci_pull_ref r;
	ASSERT_EQ(oci_pull_ref_parse("127.0.0.1:5000/mini", &r, &err), 0);
	ASSERT_STREQ(r.tag, "latest");
	ASSERT_STREQ(r.repo, "mini");
	ASSERT_STREQ(r.registry, "127.0.0.1:5000");
	oci_pull_ref_clear(&r);
	ASSERT_EQ(oci_pull_ref_parse("localhost:5000/a/b:1", &r, &err), 0);
	ASSERT_STREQ(r.tag, "1");
	ASSERT_STREQ(r.repo, "a/b");
	oci_pull_ref_clear(&r);
	ASSERT_TRUE(oci_pull_ref_parse("127.0.0.1:5000/Mini", &r, &err) < 0);
	oci_pull_ref_clear(&r);
}
