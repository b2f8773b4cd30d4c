/* libarchive, libcrypto and libcurl, loaded on first use.
 *
 * `berth create` and `berth start` must not pay for mapping large
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

/* Fills table, n function pointers, on the first call only. */
static bool dl_load(const struct dl_lib *lib, const char *const *names,
		    size_t n, void *table, bool *loaded, struct berr *err)
{
	if (*loaded)
		return true;
	_cleanup_free_ void **slots = base_calloc(n, sizeof(void *));
	if (dl_fill(lib, names, slots, n, err) < 0)
		return false;
	/* Function and object pointers have one size on every target berth
	 * supports (POSIX requires it for dlsym). */
	memcpy(table, slots, n * sizeof(void *));
	*loaded = true;
	return true;
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
	return dl_load(&lib, names, ARRAY_SIZE(names), &la, &loaded, err)
		       ? &la
		       : NULL;
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
	return dl_load(&lib, names, ARRAY_SIZE(names), &cr, &loaded, err)
		       ? &cr
		       : NULL;
}

const struct oci_curl *oci_dl_curl(struct berr *err)
{
	static struct oci_curl cu;
	static bool loaded;
	static const struct dl_lib lib = {"libcurl.so.4", "libcurl4",
					  "libcurl"};
#define OCI_CURL_NAME(f) "curl_" #f,
	static const char *const names[] = {OCI_CURL_FUNCS(OCI_CURL_NAME)};
#undef OCI_CURL_NAME
	_Static_assert(sizeof(cu) == ARRAY_SIZE(names) * sizeof(void *),
		       "one pointer per libcurl function");
	return dl_load(&lib, names, ARRAY_SIZE(names), &cu, &loaded, err)
		       ? &cu
		       : NULL;
}
