/* libFuzzer target: the tar entry path resolver. The input is an entry
 * name, then a NUL, then a link target. A name that cleans must come out
 * relative, without "", "." or ".." components; a link target judged
 * inside the layer must never climb above its root when resolved from the
 * entry's directory (see README.md). */
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

/* An independent resolver: a stack of components. */
static bool stays_inside(const char *entry, const char *target)
{
	long depth = 0;
	for (const char *c = entry; *c; c++)
		depth += *c == '/';
	char *t = strdup(target), *save = NULL;
	bool ok = true;
	for (char *c = strtok_r(t, "/", &save); c && ok;
	     c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, ".."))
			ok = --depth >= 0;
		else if (strcmp(c, "."))
			depth++;
	}
	free(t);
	return ok;
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

	char *clean = NULL;
	const char *why = NULL;
	if (oci_tar_clean_path(name, &clean, &why) == 0) {
		check_clean(clean);
		bool inside = oci_tar_link_inside(clean, target);
		if (inside && target[0] != '/' && !stays_inside(clean, target))
			abort();
		if (!inside && target[0] && target[0] != '/' &&
		    stays_inside(clean, target))
			abort();
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
	free(buf);
	return 0;
}
