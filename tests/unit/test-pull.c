/* oci/ registry pull: references, WWW-Authenticate challenges, the
 * credentials of a Docker config.json, token answers and the loopback
 * check behind --insecure. */
#include "oci/oci-image-internal.h"
#include "tests/unit/test.h"

#define HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- references
 * -------------------------------------------------------------------- */

static void check_pull_ref(const char *in, const char *name,
			   const char *registry, const char *endpoint,
			   const char *repo, const char *tag,
			   const char *digest)
{
	struct berr err = {0};
	struct oci_pull_ref r;
	ASSERT_EQ(oci_pull_ref_parse(in, &r, &err), 0);
	ASSERT_STREQ(r.name, name);
	ASSERT_STREQ(r.registry, registry);
	ASSERT_STREQ(r.endpoint, endpoint);
	ASSERT_STREQ(r.repo, repo);
	ASSERT_TRUE(tag ? r.tag && !strcmp(r.tag, tag) : !r.tag);
	ASSERT_TRUE(digest ? r.digest && !strcmp(r.digest, digest) : !r.digest);
	/* the image is stored under the name `image ls/rm` look up */
	char *norm = NULL;
	ASSERT_EQ(oci_image_ref_normalize(in, &norm, &err), 0);
	ASSERT_STREQ(r.name, norm);
	free(norm);
	oci_pull_ref_clear(&r);
}

TEST(pull_ref_docker_hub)
{
	check_pull_ref("busybox", "busybox:latest", "docker.io",
		       "registry-1.docker.io", "library/busybox", "latest",
		       NULL);
	check_pull_ref("docker.io/library/busybox:1.36", "busybox:1.36",
		       "docker.io", "registry-1.docker.io", "library/busybox",
		       "1.36", NULL);
	check_pull_ref("index.docker.io/library/alpine", "alpine:latest",
		       "docker.io", "registry-1.docker.io", "library/alpine",
		       "latest", NULL);
	check_pull_ref("user/app:v1", "user/app:v1", "docker.io",
		       "registry-1.docker.io", "user/app", "v1", NULL);
	check_pull_ref("docker.io/user/app", "user/app:latest", "docker.io",
		       "registry-1.docker.io", "user/app", "latest", NULL);
}

TEST(pull_ref_other_registries)
{
	check_pull_ref("127.0.0.1:5000/mini", "127.0.0.1:5000/mini:latest",
		       "127.0.0.1:5000", "127.0.0.1:5000", "mini", "latest",
		       NULL);
	check_pull_ref("localhost/a/b:t", "localhost/a/b:t", "localhost",
		       "localhost", "a/b", "t", NULL);
	check_pull_ref("localhost:5000/x", "localhost:5000/x:latest",
		       "localhost:5000", "localhost:5000", "x", "latest", NULL);
	check_pull_ref("quay.io/org/team/app:1.0", "quay.io/org/team/app:1.0",
		       "quay.io", "quay.io", "org/team/app", "1.0", NULL);
}

TEST(pull_ref_digests)
{
	check_pull_ref("127.0.0.1:5000/mini@sha256:" HEX,
		       "127.0.0.1:5000/mini@sha256:" HEX, "127.0.0.1:5000",
		       "127.0.0.1:5000", "mini", NULL, "sha256:" HEX);
	check_pull_ref("busybox@sha256:" HEX, "busybox@sha256:" HEX,
		       "docker.io", "registry-1.docker.io", "library/busybox",
		       NULL, "sha256:" HEX);
	/* a tag next to a digest: the digest is what is pulled */
	check_pull_ref("quay.io/a:v1@sha256:" HEX, "quay.io/a:v1@sha256:" HEX,
		       "quay.io", "quay.io", "a", NULL, "sha256:" HEX);
}

TEST(pull_ref_refusals)
{
	static const char *const bad[] = {
		"",
		"Busybox",
		"a:b:c",
		"x:",
		"../x",
		"host:port/x",
		"a@sha256:12",
		"a@sha512:" HEX HEX,
		"[::1]:5000/x",
		"http://127.0.0.1:5000/x",
		/* their stored name would name another image */
		"index.docker.io/index.docker.io/library/e",
		"docker.io/docker.io/x",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct berr err = {0};
		struct oci_pull_ref r;
		ASSERT_EQ(oci_pull_ref_parse(bad[i], &r, &err), -EINVAL);
		ASSERT_CONTAINS(err.msg, "invalid reference");
		oci_pull_ref_clear(&r);
	}
}

/* ---- WWW-Authenticate
 * ---------------------------------------------------------- */

static void check_auth(const char *header, int want_r,
		       enum oci_auth_scheme scheme, const char *realm,
		       const char *service, const char *scope)
{
	struct oci_wwwauth a;
	int r = oci_wwwauth_parse(header, &a);
	if (r != want_r)
		test_fail(__FILE__, __LINE__, "%s: got %d, want %d", header, r,
			  want_r);
	if (r == 0) {
		ASSERT_EQ(a.scheme, scheme);
		ASSERT_TRUE(realm ? a.realm && !strcmp(a.realm, realm)
				  : !a.realm);
		ASSERT_TRUE(service ? a.service && !strcmp(a.service, service)
				    : !a.service);
		ASSERT_TRUE(scope ? a.scope && !strcmp(a.scope, scope)
				  : !a.scope);
	}
	oci_wwwauth_clear(&a);
}

TEST(wwwauth_bearer)
{
	check_auth("Bearer realm=\"https://auth.docker.io/token\","
		   "service=\"registry.docker.io\","
		   "scope=\"repository:library/busybox:pull\"",
		   0, OCI_AUTH_BEARER, "https://auth.docker.io/token",
		   "registry.docker.io", "repository:library/busybox:pull");
	/* tokens unquoted, spaces around, any case, unknown params */
	check_auth("  bearer   REALM = \"http://127.0.0.1:1/t\" , Service=reg ,"
		   " error=\"invalid_token\"",
		   0, OCI_AUTH_BEARER, "http://127.0.0.1:1/t", "reg", NULL);
	check_auth("Bearer realm=\"a \\\"quoted\\\" \\\\ realm\"", 0,
		   OCI_AUTH_BEARER, "a \"quoted\" \\ realm", NULL, NULL);
	check_auth("Bearer realm=\"r\",scope=\"repository:a:pull "
		   "repository:b:pull\"",
		   0, OCI_AUTH_BEARER, "r", NULL,
		   "repository:a:pull repository:b:pull");
	check_auth("Bearer realm=\"\"", 0, OCI_AUTH_BEARER, "", NULL, NULL);
}

TEST(wwwauth_basic_and_several_challenges)
{
	check_auth("Basic realm=\"Registry Realm\"", 0, OCI_AUTH_BASIC,
		   "Registry Realm", NULL, NULL);
	/* Bearer wins wherever it stands, and keeps its own params */
	check_auth("Basic realm=\"b\", Bearer realm=\"t\",service=\"s\"", 0,
		   OCI_AUTH_BEARER, "t", "s", NULL);
	check_auth("Bearer realm=\"t\", Basic realm=\"b\"", 0, OCI_AUTH_BEARER,
		   "t", NULL, NULL);
	/* a token68 challenge before */
	check_auth("Negotiate abc==, Basic realm=x", 0, OCI_AUTH_BASIC, "x",
		   NULL, NULL);
	check_auth("Negotiate", 0, OCI_AUTH_NONE, NULL, NULL, NULL);
	check_auth("", 0, OCI_AUTH_NONE, NULL, NULL, NULL);
}

TEST(wwwauth_refusals)
{
	check_auth("Bearer realm=\"unterminated", -EINVAL, 0, NULL, NULL, NULL);
	check_auth("Bearer service=\"s\"", -EINVAL, 0, NULL, NULL, NULL);
	check_auth("Bearer ,=x", -EINVAL, 0, NULL, NULL, NULL);
	check_auth("Bearer realm=a b", -EINVAL, 0, NULL, NULL, NULL);
	check_auth("=Bearer", -EINVAL, 0, NULL, NULL, NULL);
	check_auth("Bearer realm=\"x\\", -EINVAL, 0, NULL, NULL, NULL);
}

/* ---- config.json, tokens, loopback
 * ------------------------------------------------- */

static char *auth_of(const char *json, const char *registry, int want_r)
{
	struct berr err = {0};
	char *out = NULL;
	ASSERT_EQ(oci_docker_config_auth(json, strlen(json), registry, &out,
					 &err),
		  want_r);
	return out;
}

TEST(docker_config_auths)
{
	static const char cfg[] =
		"{\"auths\": {"
		"\"https://index.docker.io/v1/\": {\"auth\": \"aHViOnB3\"},"
		"\"http://127.0.0.1:5000/v2/\": {\"auth\": \"dTpw\"},"
		"\"quay.io\": {\"auth\": \"\"},"
		"\"ghcr.io\": {\"email\": \"x\"}},"
		"\"credsStore\": \"desktop\"}";
	char *a = auth_of(cfg, "docker.io", 0);
	ASSERT_STREQ(a, "aHViOnB3");
	free(a);
	a = auth_of(cfg, "127.0.0.1:5000", 0);
	ASSERT_STREQ(a, "dTpw");
	free(a);
	ASSERT_TRUE(!auth_of(cfg, "127.0.0.1:5001", 0));
	ASSERT_TRUE(!auth_of(cfg, "127.0.0.1", 0));
	ASSERT_TRUE(!auth_of(cfg, "quay.io", 0));
	ASSERT_TRUE(!auth_of(cfg, "ghcr.io", 0));
	ASSERT_TRUE(!auth_of("{}", "docker.io", 0));
	ASSERT_TRUE(!auth_of("{\"auths\": []}", "docker.io", 0));
	/* what would go into a header line must be base64 */
	ASSERT_TRUE(!auth_of("{\"auths\": {\"h:1\": {\"auth\": \"a\\r\\nX: "
			     "y\"}}}",
			     "h:1", -EINVAL));
	ASSERT_TRUE(!auth_of("not json", "h:1", -EINVAL));
}

static char *token_of(const char *json, int want_r)
{
	struct berr err = {0};
	char *out = NULL;
	ASSERT_EQ(oci_registry_token_parse(json, strlen(json), &out, &err),
		  want_r);
	ASSERT_TRUE(want_r == 0 || err.msg[0]);
	return out;
}

TEST(token_answers)
{
	char *t =
		token_of("{\"token\": \"abc.def-_\", \"expires_in\": 300}", 0);
	ASSERT_STREQ(t, "abc.def-_");
	free(t);
	t = token_of("{\"access_token\": \"xyz\"}", 0);
	ASSERT_STREQ(t, "xyz");
	free(t);
	t = token_of("{\"token\": \"\", \"access_token\": \"xyz\"}", 0);
	ASSERT_STREQ(t, "xyz");
	free(t);
	ASSERT_TRUE(!token_of("{}", -EINVAL));
	ASSERT_TRUE(!token_of("{\"token\": \"a\\r\\nX-Evil: 1\"}", -EINVAL));
	ASSERT_TRUE(!token_of("{\"token\": \"a b\"}", -EINVAL));
	ASSERT_TRUE(!token_of("{\"token\": 3}", -EINVAL));
	ASSERT_TRUE(!token_of("[]", -EINVAL));
}

TEST(loopback_hosts)
{
	static const char *const yes[] = {
		"127.0.0.1", "127.0.0.1:5000",	      "127.1.2.3:1",
		"localhost", "LocalHost:5000",	      "[::1]:5000",
		"::1",	     "[::ffff:127.0.0.1]:80",
	};
	static const char *const no[] = {
		"10.0.0.1:5000",
		"128.0.0.1",
		"example.com",
		"localhost.example.com",
		"[::2]:5000",
		"docker.io",
		"",
		"[::1",
	};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (!oci_registry_host_loopback(yes[i]))
			test_fail(__FILE__, __LINE__, "%s: not loopback",
				  yes[i]);
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (oci_registry_host_loopback(no[i]))
			test_fail(__FILE__, __LINE__, "%s: loopback", no[i]);
}
