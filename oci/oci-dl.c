/* libarchive and libcrypto, loaded on first use.
 *
 * `berth create` and `berth start` must not pay for mapping two large
 * libraries they never call, so the image code reaches them through tables
 * of function pointers filled by dlopen/dlsym. The headers still give every
 * pointer its exact type (__typeof__(&archive_read_new)), so a prototype
 * change is a compile error, not a crash. */
#include <dlfcn.h>
#include <string.h>

#include "oci/oci-image-internal.h"

struct dl_lib {
	const char *soname;
	const char *package; /* the Debian package that ships soname */
	const char *what;
};

static int dl_fill(const struct dl_lib *lib, const char *const *names,
		   void **slots, size_t n, struct berr *err)
{
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		blog_debug("dlopen %s: %s", lib->soname, why ? why : "?");
		return berr_setx(err, ENOENT,
				 "image support needs %s (apt-get install %s)",
				 lib->what, lib->package);
	}
	for (size_t i = 0; i < n; i++) {
		slots[i] = dlsym(h, names[i]);
		if (!slots[i]) {
			/* the handle stays open: nothing else may load it */
			return berr_setx(err, ENOENT,
					 "image support needs %s: %s has no "
					 "symbol %s (apt-get install %s)",
					 lib->what, lib->soname, names[i],
					 lib->package);
		}
	}
	return 0;
}

const struct oci_la *oci_dl_archive(struct berr *err)
{
	static struct oci_la la;
	static bool loaded;
	static const struct dl_lib lib = {"libarchive.so.13", "libarchive13",
					  "libarchive"};
#define OCI_LA_NAME(f) "archive_" #f,
	static const char *const names[] = {OCI_LA_FUNCS(OCI_LA_NAME)};
#undef OCI_LA_NAME
	_Static_assert(sizeof(la) == ARRAY_SIZE(names) * sizeof(void *),
		       "one pointer per libarchive function");

	if (loaded)
		return &la;
	void *slots[ARRAY_SIZE(names)];
	if (dl_fill(&lib, names, slots, ARRAY_SIZE(names), err) < 0)
		return NULL;
	/* Function and object pointers have one size on every target berth
	 * supports (POSIX requires it for dlsym). */
	memcpy(&la, slots, sizeof(la));
	loaded = true;
	return &la;
}

const struct oci_crypto *oci_dl_crypto(struct berr *err)
{
	static struct oci_crypto cr;
	static bool loaded;
	static const struct dl_lib lib = {"libcrypto.so.3", "libssl3",
					  "libcrypto"};
#define OCI_CRYPTO_NAME(f) #f,
	static const char *const names[] = {OCI_CRYPTO_FUNCS(OCI_CRYPTO_NAME)};
#undef OCI_CRYPTO_NAME
	_Static_assert(sizeof(cr) == ARRAY_SIZE(names) * sizeof(void *),
		       "one pointer per libcrypto function");

	if (loaded)
		return &cr;
	void *slots[ARRAY_SIZE(names)];
	if (dl_fill(&lib, names, slots, ARRAY_SIZE(names), err) < 0)
		return NULL;
	memcpy(&cr, slots, sizeof(cr));
	loaded = true;
	return &cr;
}
