/* Networks for worker pools: the dp_par_opts.net_attach hook that gives
 * each worker of `berth par --network NAME` (and of a job's pool) an
 * endpoint on a named network. The endpoint's id is the pool's and the
 * worker's ("par-PID.w3"): a pool's state root and worker ids repeat
 * across pools, endpoints may not. */
#include <string.h>
#include <unistd.h>

#include "engine/engine-internal.h"

int eng_par_net_attach(void *data, const char *id, const char *root,
		       size_t index, struct dp_net *out, struct berr *err)
{
	const struct eng_par_net *pn = data;
	const char *base = strrchr(root, '/');
	_cleanup_free_ char *key =
		base_sprintf("%s.%s", base ? base + 1 : root, id);
	struct eng_net_opts o = pn->o;
	o.hostname = pn->o.hostname ? pn->o.hostname : id;
	_cleanup_strv_ char **aliases = NULL;
	if (pn->group) {
		_cleanup_free_ char *one =
			base_sprintf("%s.%zu", pn->group, index);
		base_strv_push(&aliases, pn->group);
		base_strv_push(&aliases, one);
	}
	for (size_t i = 0; pn->o.aliases && pn->o.aliases[i]; i++)
		base_strv_push(&aliases, pn->o.aliases[i]);
	o.aliases = aliases;
	_cleanup_(eng_endpoint_freep) struct eng_endpoint *ep = NULL;
	int r = eng_endpoint_attach(pn->ctx, key, id, root, &o, &ep, err);
	if (r < 0)
		return r;
	dp_net_clear(out);
	out->netns = TAKE_PTR(ep->netns);
	out->hosts = TAKE_PTR(ep->hosts);
	out->hostname = TAKE_PTR(ep->hostname_file);
	out->resolv = TAKE_PTR(ep->resolv);
	out->annotation_key = base_strdup(ENG_ENDPOINT_ANNOTATION);
	out->annotation_value = base_strdup(ep->dir);
	out->lock_fd = ep->lock_fd;
	ep->lock_fd = -1;
	return 0;
}

void eng_par_net_detach(void *data, struct dp_net *n)
{
	(void)data;
	if (n->annotation_value)
		eng_endpoint_release(n->annotation_value, NULL);
	dp_net_clear(n);
}
