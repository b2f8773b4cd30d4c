/* sha256 through libcrypto's EVP interface, streamed: every blob is hashed
 * while it is read, never read twice to be checked. */
#include <string.h>

#include "oci/oci-image-internal.h"

int oci_sha256_init(struct oci_sha256 *h, struct berr *err)
{
	*h = (struct oci_sha256){0};
	h->cr = oci_dl_crypto(err);
	if (!h->cr)
		return -ENOENT;
	h->ctx = h->cr->EVP_MD_CTX_new();
	if (!h->ctx)
		return berr_setx(err, ENOMEM, "sha256: out of memory");
	if (h->cr->EVP_DigestInit_ex(h->ctx, h->cr->EVP_sha256(), NULL) != 1) {
		oci_sha256_free(h);
		return berr_setx(err, EIO, "sha256: cannot initialise");
	}
	return 0;
}

void oci_sha256_update(struct oci_sha256 *h, const void *p, size_t n)
{
	if (n == 0)
		return;
	/* Cannot fail for a software sha256 with a valid context. */
	(void)h->cr->EVP_DigestUpdate(h->ctx, p, n);
	h->bytes += n;
}

void oci_sha256_final(struct oci_sha256 *h, char out[OCI_DIGEST_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	(void)h->cr->EVP_DigestFinal_ex(h->ctx, md, &n);
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < n && i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[7 + OCI_HEX_LEN] = '\0';
	oci_sha256_free(h);
}

void oci_sha256_free(struct oci_sha256 *h)
{
	if (h->ctx)
		h->cr->EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int oci_sha256_buf(const void *p, size_t n, char out[OCI_DIGEST_LEN],
		   struct berr *err)
{
	struct oci_sha256 h;
	int r = oci_sha256_init(&h, err);
	if (r < 0)
		return r;
	oci_sha256_update(&h, p, n);
	oci_sha256_final(&h, out);
	return 0;
}

int oci_sha256_copy(int fd, int outfd, char out[OCI_DIGEST_LEN], uint64_t *size,
		    struct berr *err)
{
	struct oci_sha256 h;
	int r = oci_sha256_init(&h, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *buf = base_calloc(1, 1 << 17);
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 17);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			oci_sha256_free(&h);
			return berr_set(err, errno, "read");
		}
		if (n == 0)
			break;
		oci_sha256_update(&h, buf, (size_t)n);
		if (outfd >= 0) {
			r = base_write_all(outfd, buf, (size_t)n);
			if (r < 0) {
				oci_sha256_free(&h);
				return berr_set(err, -r, "write");
			}
		}
	}
	if (size)
		*size = h.bytes;
	oci_sha256_final(&h, out);
	return 0;
}

bool oci_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0)
		return false;
	size_t i = 0;
	for (const char *p = d + 7; *p; p++, i++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return i == OCI_HEX_LEN;
}

int oci_digest_check(const char *d, const char *what, struct berr *err)
{
	if (oci_digest_valid(d))
		return 0;
	const char *colon = d ? strchr(d, ':') : NULL;
	if (colon && strncmp(d, "sha256:", 7) != 0 && colon - d < 32)
		return berr_setx(err, EINVAL,
				 "%s: unsupported digest algorithm %.*s", what,
				 (int)(colon - d), d);
	return berr_setx(err, EINVAL, "%s: invalid digest \"%.80s\"", what,
			 d ? d : "");
}
