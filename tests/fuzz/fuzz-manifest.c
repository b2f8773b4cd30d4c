/* libFuzzer target: the image documents an archive brings — manifests,
 * indexes, image configs, a Docker archive's manifest.json — and the
 * conversion of an image config into a runtime config.json, plus image
 * references. Each must succeed or fail with a message, and free
 * everything either way (see README.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/oci-image-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	struct berr err = {0};

	struct oci_manifest_doc m;
	if (oci_manifest_parse(json, size, "manifest", &m, &err) == 0) {
		/* what the loader relies on: digests are safe as file names */
		if (!m.is_index && !oci_digest_valid(m.config.digest))
			abort();
		for (size_t i = 0; i < m.n_layers; i++)
			if (!oci_digest_valid(m.layers[i].digest))
				abort();
		for (size_t i = 0; i < m.n_manifests; i++) {
			if (!oci_digest_valid(m.manifests[i].digest))
				abort();
			(void)oci_platform_score(&m.manifests[i]);
		}
	} else if (!err.msg[0]) {
		abort();
	}
	oci_manifest_clear(&m);

	struct oci_imgcfg_doc c;
	err.msg[0] = '\0';
	if (oci_imgcfg_parse(json, size, "config", &c, &err) == 0) {
		for (size_t i = 0; i < c.n_diff_ids; i++)
			if (!oci_digest_valid(c.diff_ids[i]))
				abort();
	} else if (!err.msg[0]) {
		abort();
	}
	oci_imgcfg_clear(&c);

	struct oci_docker_entry *v = NULL;
	size_t n = 0;
	if (oci_docker_manifest_parse(json, size, &v, &n, &err) == 0)
		oci_docker_entries_free(v, n);

	char *out = NULL;
	if (oci_image_runtime_config(json, size, -1, &out, &err) == 0)
		free(out);

	if (size < 1024) {
		char *ref = strndup(json, size);
		out = NULL;
		if (ref && oci_image_ref_normalize(ref, &out, &err) == 0) {
			/* normalising is idempotent */
			char *again = NULL;
			if (oci_image_ref_normalize(out, &again, &err) != 0 ||
			    strcmp(out, again))
				abort();
			free(again);
		}
		free(out);
		free(ref);
	}
	return 0;
}
