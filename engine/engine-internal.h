/* engine-internal.h: what the files of engine/ share. */
#ifndef BERTH_ENGINE_INTERNAL_H
#define BERTH_ENGINE_INTERNAL_H

#include <cjson/cJSON.h>

#include "engine/engine.h"

static inline void eng_json_deletep(cJSON **v)
{
	cJSON_Delete(*v);
}
#define _cleanup_cjson_ _cleanup_(eng_json_deletep)

/* ---- launch (engine-launch.c, engine-launch-config.c) -------------------- */

/* The annotation that marks a launched container's config; its value is
 * the container id. The name predates this module: containers launched
 * by an older berth carry it too. */
#define ENG_LAUNCH_ANNOTATION "org.berth.launch"

/* The config.json of a launched container: image_json (the image's
 * runtime config) with o's options and the security profile. */
int eng_launch_config(const struct eng_launch_opts *o, const char *id,
		      const struct eng_endpoint *ep, const char *image_json,
		      char **out, struct berr *err);

/* The annotation that names a container's endpoint directory. */
#define ENG_ENDPOINT_ANNOTATION "org.berth.endpoint"

/* ---- networks (engine-network.c) ----------------------------------------- */

/* <root>/.net, or <root>/.net/sub */
char *eng_net_path(const struct rt_ctx *ctx, const char *sub);
/* Makes <root>/.net/ and takes its lock (blocking); returns the fd. */
int eng_net_lock(const struct rt_ctx *ctx, struct berr *err);
int eng_net_name_check(const char *name, struct berr *err);
int eng_net_load(const struct rt_ctx *ctx, const char *name,
		 struct eng_network *n, struct berr *err);
/* The network name ("bridge": the default one, made on first use). */
int eng_net_get(const struct rt_ctx *ctx, const char *name,
		struct eng_network *n, struct berr *err);
/* Bridge, addresses, rules, forwarding: each step repeatable. */
int eng_net_up(const struct eng_network *n, struct berr *err);

/* ---- endpoints (engine-endpoint.c, engine-files.c, engine-ports.c) ------ */

/* Removes dead endpoints (of network; NULL: all); returns how many. */
int eng_endpoint_gc(const struct rt_ctx *ctx, const char *network);
/* The address of container ctr_id of state root ctr_root on its network
 * ("" when it has none). */
void eng_endpoint_ip(const struct rt_ctx *ctx, const char *ctr_root,
		     const char *ctr_id, char *ip, size_t len);
/* The endpoints on network; with ctrs, inspect's Containers entries. */
size_t eng_endpoint_count(const struct rt_ctx *ctx, const char *network,
			  cJSON *ctrs);
/* hosts, hostname, resolv.conf into the endpoint's directory (dfd). */
int eng_files_write(const struct rt_ctx *ctx, int dfd,
		    const struct eng_net_opts *o, const struct eng_network *n,
		    struct eng_endpoint *ep, struct berr *err);
/* The host's nameservers, for a network's DNS server. */
int eng_resolv_upstream(char ***out, struct berr *err);
/* Checks that the host ports are free (0: picks one) into maps (n of
 * them; ctr_ip unset). */
int eng_ports_resolve(const char *id, const struct eng_port *ports, size_t n,
		      struct nsn_port_map *maps, struct berr *err);
/* Checks the host ports and adds the rules (all or none); *published
 * gets each as docker ps shows it ("0.0.0.0:8000->80/tcp"). */
int eng_ports_publish(const char *id, const char *ctr_ip,
		      const struct eng_port *ports, size_t n, char ***published,
		      struct berr *err);

#endif
