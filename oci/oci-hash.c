/* Hashing and archive extraction for builders (berth build): the store's
 * own sha256 and its safe tar reader, behind the public header. */
#include <string.h>

#include "oci/oci-image-internal.h"

struct oci_hash {
	struct oci_sha256 h;
};

int oci_hash_new(struct oci_hash **out, struct berr *err)
{
	struct oci_hash *h = base_calloc(1, sizeof(*h));
	int r = oci_sha256_init(&h->h, err);
	if (r < 0) {
		free(h);
		return r;
	}
	*out = h;
	return 0;
}

void oci_hash_update(struct oci_hash *h, const void *p, size_t n)
{
	oci_sha256_update(&h->h, p, n);
}

void oci_hash_finish(struct oci_hash *h, char out[OCI_HASH_LEN])
{
	_Static_assert(OCI_HASH_LEN == OCI_DIGEST_LEN, "one digest length");
	oci_sha256_final(&h->h, out);
}

void oci_hash_free(struct oci_hash *h)
{
	if (!h)
		return;
	oci_sha256_free(&h->h);
	free(h);
}

int oci_archive_extract(int fd, int dirfd, const char *what, struct berr *err)
{
	struct oci_unpack_opts o = {.what = what};
	char diff[OCI_DIGEST_LEN];
	uint64_t size;
	return oci_unpack_layer(fd, dirfd, &o, diff, &size, err);
}
