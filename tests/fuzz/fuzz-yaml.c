/* libFuzzer target: a compose file's YAML, read into the cJSON tree the
 * compose code works on (anchors, aliases and << merges resolved). A
 * document that parses must print (`compose config`), and the printed
 * text must parse back to the same tree: a scalar printed so that it
 * reads back as another type or value is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *doc = NULL;
	struct berr err = {0};
	if (eng_yaml_parse((const char *)data, size, "compose.yaml", &doc,
			   &err) < 0) {
		if (!err.msg[0])
			abort(); /* a refusal always says why */
		return 0;
	}
	char *text = NULL;
	if (eng_yaml_print(doc, &text, &err) == 0) {
		cJSON *back = NULL;
		if (eng_yaml_parse(text, strlen(text), "printed", &back, &err) <
		    0)
			abort();
		if (!cJSON_Compare(doc, back, 1))
			abort();
		cJSON_Delete(back);
		free(text);
	}
	cJSON_Delete(doc);
	return 0;
}
