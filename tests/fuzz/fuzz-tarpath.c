/* libFuzzer target: the tar entry path resolver. The input is an entry
 * name, then a NUL, then a hard link's target, which is cleaned as a name
 * is. A name that cleans must come out relative, without "", "." or ".."
 * components, and cleaning it again gives it back; one that does not says
 * why. (A symlink's target is stored as written: see README.md.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/oci-image-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_clean(const char *p)
{
	if (p[0] == '/' || (p[0] && p[strlen(p) - 1] == '/'))
		abort();
	for (const char *c = p; *c;) {
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);
		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			abort();
		c = *end ? end + 1 : end;
	}
}

/* The properties of one name. */
static void check_name(const char *name)
{
	char *clean = NULL;
	const char *why = NULL;
	if (oci_tar_clean_path(name, &clean, &why) == 0) {
		check_clean(clean);
		/* cleaning is idempotent */
		char *again = NULL;
		if (oci_tar_clean_path(clean[0] ? clean : ".", &again, &why) ||
		    strcmp(again, clean))
			abort();
		free(again);
	} else if (!why || clean) {
		abort();
	}
	free(clean);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = calloc(size + 2, 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	const char *name = buf;
	const char *target = buf + strlen(buf) + 1;
	if ((size_t)(target - buf) > size)
		target = "";

	check_name(name);
	check_name(target);
	free(buf);
	return 0;
}
