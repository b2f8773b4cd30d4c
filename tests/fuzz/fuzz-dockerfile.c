/* libFuzzer target: a Dockerfile, as `berth build` reads one from a
 * build context (a cloned repository is not to be trusted). The parse
 * must accept or refuse without a fault; every instruction's arguments
 * then go through the shell-like lexer, expanded and not, split and not,
 * as the build does with them. */
#include <stdint.h>
#include <stdlib.h>

#include "engine/engine-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lex(const char *s, char esc)
{
	static char *const env[] = {"A=1", "B=two words", "EMPTY=", NULL};
	char *const *envs[] = {env, ENG_DF_NO_EXPAND};
	for (int e = 0; e < 2; e++)
		for (int split = 0; split < 2; split++) {
			char **words = NULL;
			struct berr err = {0};
			if (eng_df_lex(s, envs[e], esc, split, "Dockerfile", 1,
				       &words, &err) < 0)
				continue;
			for (char **w = words; w && *w; w++)
				free(*w);
			free(words);
		}
}

static void instr(const struct eng_df_instr *in, char esc)
{
	if (in->raw)
		lex(in->raw, esc);
	for (char **f = in->flags; f && *f; f++)
		lex(*f, esc);
	char **json = in->raw ? eng_df_json_strings(in->raw) : NULL;
	for (char **w = json; w && *w; w++)
		free(*w);
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eng_dockerfile *df = NULL;
	struct berr err = {0};
	if (eng_dockerfile_parse((const char *)data, size, "Dockerfile", &df,
				 &err) < 0) {
		if (!err.msg[0])
			abort(); /* a refusal always says why */
		return 0;
	}
	for (size_t i = 0; i < df->n_global; i++)
		instr(&df->global[i], df->escape);
	for (size_t s = 0; s < df->n_stages; s++) {
		instr(&df->stages[s].from, df->escape);
		for (size_t i = 0; i < df->stages[s].n; i++)
			instr(&df->stages[s].v[i], df->escape);
	}
	eng_dockerfile_free(df);
	return 0;
}
