/* libFuzzer target: the persisted state.json. A state that parses must
 * print, and its serialized form must parse back. Printing normalizes
 * once (invalid UTF-8 becomes U+FFFD), so the text must be stable from the
 * second round on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *reprint(const char *json)
{
	struct oci_state *t = NULL;
	struct berr err = {0};
	if (oci_state_parse(json, strlen(json), &t, &err) < 0)
		abort();
	char *again = oci_state_serialize(t);
	oci_state_free(t);
	return again;
}

static void round_trip(const struct oci_state *s)
{
	char *first = oci_state_serialize(s);
	char *second = reprint(first);
	char *third = reprint(second);
	if (strcmp(second, third))
		abort();
	free(third);
	free(second);
	free(first);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_state *s = NULL;
	struct berr err = {0};
	if (oci_state_parse((const char *)data, size, &s, &err) < 0) {
		if (!err.msg[0])
			abort();
		return 0;
	}
	round_trip(s);
	free(oci_state_to_json(s, s->status));
	free(oci_state_hook_json(s, s->status));
	oci_state_free(s);
	return 0;
}
