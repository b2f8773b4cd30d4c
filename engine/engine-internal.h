/* engine-internal.h: what the files of engine/ share. */
#ifndef BERTH_ENGINE_INTERNAL_H
#define BERTH_ENGINE_INTERNAL_H

#include "engine/engine.h"

/* ---- launch (engine-launch.c, engine-launch-config.c) -------------------- */

/* The annotation that marks a launched container's config; its value is
 * the container id. The name predates this module: containers launched
 * by an older berth carry it too. */
#define ENG_LAUNCH_ANNOTATION "org.berth.launch"

/* The config.json of a launched container: image_json (the image's
 * runtime config) with o's options and the security profile. */
int eng_launch_config(const struct eng_launch_opts *o, const char *id,
		      const char *image_json, char **out, struct berr *err);

#endif
