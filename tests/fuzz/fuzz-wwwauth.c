/* libFuzzer target: what a registry and the user's files say to a pull or
 * a push — WWW-Authenticate challenges, token answers, a Docker
 * config.json, an upload's Location — and image references. Each must succeed
 *or fail cleanly and free everything. What goes on into a request must be safe
 *there: a token or a login that is accepted never holds a byte that could end a
 *header line, a Bearer challenge always has a realm, a Location taken is an
 *http(s) URL fit for a header, and the stored name of a reference, pulled
 *again, names the same registry and repository.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -D_GNU_SOURCE \
 *	tests/fuzz/fuzz-wwwauth.c oci/[a-z]*.c base/[a-z]*.c -lcjson \
 *	-o build/fuzz/fuzz-wwwauth
 *   build/fuzz/fuzz-wwwauth -max_total_time=600 build/fuzz/corpus-wwwauth
 *
 * libcurl, libcrypto and libarchive are never called (nor linked). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/oci-image-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_header_safe(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			abort();
}

static void check_location(const char *loc)
{
	char *url = NULL;
	if (oci_registry_location("http://127.0.0.1:5000", loc, &url) == 0) {
		check_header_safe(url);
		if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
			abort();
	} else if (url) {
		abort();
	}
	free(url);
}

static void check_ref(const char *in)
{
	struct berr err = {0};
	struct oci_pull_ref r;
	if (oci_pull_ref_parse(in, &r, &err) == 0) {
		if (!r.registry[0] || !r.repo[0] || !r.endpoint[0] ||
		    !r.tag == !r.digest)
			abort();
		if (r.digest && !oci_digest_valid(r.digest))
			abort();
		/* the stored name, pulled again, is the same image */
		struct oci_pull_ref again;
		if (oci_pull_ref_parse(r.name, &again, NULL) != 0 ||
		    strcmp(again.name, r.name) ||
		    strcmp(again.registry, r.registry) ||
		    strcmp(again.repo, r.repo) ||
		    strcmp(again.endpoint, r.endpoint))
			abort();
		oci_pull_ref_clear(&again);
	} else if (!err.msg[0]) {
		abort();
	}
	oci_pull_ref_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	if (!s)
		return 0;

	struct oci_wwwauth a;
	if (oci_wwwauth_parse(s, &a) == 0 && a.scheme == OCI_AUTH_BEARER &&
	    !a.realm)
		abort();
	oci_wwwauth_clear(&a);

	struct berr err = {0};
	char *tok = NULL;
	if (oci_registry_token_parse((const char *)data, size, &tok, &err) == 0)
		check_header_safe(tok);
	free(tok);

	char *auth = NULL;
	if (oci_docker_config_auth((const char *)data, size, "127.0.0.1:5000",
				   &auth, &err) == 0 &&
	    auth)
		check_header_safe(auth);
	free(auth);

	if (size < 512) {
		check_ref(s);
		check_location(s);
		(void)oci_registry_host_loopback(s);
	}
	free(s);
	return 0;
}
