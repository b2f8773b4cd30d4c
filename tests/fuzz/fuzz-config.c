/* libFuzzer target: config.json, exec's process and update's resources
 * documents. Each parse must either succeed or fail with a message, and
 * free everything either way (see README.md). */
#include <stdint.h>
#include <stdlib.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	struct berr err = {0};

	struct oci_config *c = NULL;
	if (oci_config_parse(json, size, &c, &err) == 0)
		oci_config_free(c);
	else if (!err.msg[0])
		abort();

	struct oci_process *p = NULL;
	if (oci_process_parse(json, size, &p, &err) == 0)
		oci_process_free(p);

	struct oci_resources *r = NULL;
	if (oci_resources_parse(json, size, &r, &err) == 0)
		oci_resources_free(r);
	return 0;
}
