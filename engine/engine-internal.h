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

/* ---- containers (engine-container*.c) ------------------------------------ */

#define ENG_CTR_DIR ".containers" /* under the state root */
#define ENG_LOG_FILE "container.log"
#define ENG_MONITOR_LOCK "monitor.lock"
#define ENG_STOPPED_FILE "stopped"

/* A job runner's control socket, in its job directory. */
#define ENG_JOB_CTL "control.sock"
/* <root>/jobs/<name>: a job's directory. */
char *eng_job_dir(const struct rt_ctx *ctx, const char *name);
/* True while a runner holds the job directory's lock. */
bool eng_job_dir_running(const char *dir);
/* <dir>/run/<group>: the state root of a group's containers. */
char *eng_job_group_root(const char *dir, const char *group);
/* Removes what a runner killed by SIGKILL left in run/ (its containers)
 * and its cgroup. */
void eng_job_remove_leftovers(const struct rt_ctx *ctx, const char *dir);

/* What launch records of a container (config.json of its directory). */
struct eng_ctr_record {
	const char *id;
	const char *image;
	char *const *args;
	const char *bundle;
	const char *seccomp_cache;
	struct eng_restart restart;
	int64_t log_max_size;
	int log_max_file;
	bool rm;
	bool tty; /* process.terminal: the log is the terminal's output */
};

/* <root>/.containers/<id>: made (empty of logs) with config.json; returns
 * an O_DIRECTORY fd, locked (see eng_ctr_gc): keep it until the container
 * exists. */
int eng_ctr_dir_make(const char *root, const struct eng_ctr_record *rec,
		     struct berr *err);
/* Removes the records of containers that are gone without a delete (a
 * launch killed before its container existed): a record is locked
 * (flock of its directory) from its making until its container exists. */
void eng_ctr_gc(const char *root);
/* Opens <root>/.containers/<id>; -ENOENT. */
int eng_ctr_dir_open(const char *root, const char *id);
/* Removes <root>/.containers/<id> (eng_release). */
void eng_ctr_dir_remove(const char *root, const char *id);
/* state.json's fields; a negative exit code or 0 times are left out. */
void eng_ctr_state_write(int dirfd, int64_t started, int64_t finished,
			 int exit_code, int restarts);
/* Reads the log in dirfd as o asks. */
int eng_ctr_read_log(int dirfd, const struct eng_logs_opts *o);
/* A log read in steps, for a reader of several (`job logs -f`): open
 * hands over what is there as o asks (*r: 0 or -errno), each step what
 * came since; o and dirfd are borrowed. */
struct eng_log_follower;
/* Waits up to ms for an event of the inotify fd in (nonblocking), then
 * drains its events: a follower's sleep. 0 or -errno. */
int eng_inotify_wait(int in, int ms);
struct eng_log_follower *
eng_log_follow_open(int dirfd, const struct eng_logs_opts *o, int *r);
int eng_log_follow_step(struct eng_log_follower *f);
void eng_log_follow_close(struct eng_log_follower *f);

/* Runs the container from rec's bundle under a new monitor (see
 * engine.h): returns once it runs (or failed to start: err then says
 * why, and nothing ran). */
int eng_ctr_monitor_spawn(const struct rt_ctx *ctx,
			  const struct eng_ctr_record *rec, struct berr *err);

/* ---- Dockerfiles (engine-dockerfile.c) ----------------------------------- */

enum eng_df_kind {
	ENG_DF_FROM,
	ENG_DF_RUN,
	ENG_DF_CMD,
	ENG_DF_LABEL,
	ENG_DF_MAINTAINER,
	ENG_DF_EXPOSE,
	ENG_DF_ENV,
	ENG_DF_ADD,
	ENG_DF_COPY,
	ENG_DF_ENTRYPOINT,
	ENG_DF_VOLUME,
	ENG_DF_USER,
	ENG_DF_WORKDIR,
	ENG_DF_ARG,
	ENG_DF_ONBUILD,
	ENG_DF_STOPSIGNAL,
	ENG_DF_HEALTHCHECK,
	ENG_DF_SHELL,
};

struct eng_df_instr {
	enum eng_df_kind kind;
	unsigned line; /* its first line in the file */
	char *text;    /* "RUN make", continuations joined: history, output */
	char **flags;  /* "from=build", "chown=1:1": the --flags, unexpanded */
	char *raw;     /* the arguments after the flags, unexpanded */
	char **args;   /* the exec form's array (json), else NULL */
	bool json;
};

struct eng_df_stage {
	struct eng_df_instr from;
	char *base; /* FROM's image, unexpanded */
	char *name; /* AS name, or NULL */
	unsigned line;
	struct eng_df_instr *v;
	size_t n;
};

struct eng_dockerfile {
	struct eng_df_instr *global; /* ARGs before the first FROM */
	size_t n_global;
	struct eng_df_stage *stages;
	size_t n_stages;
	char escape; /* '\\' or '`' */
};

/* Reads a Dockerfile; errors name file and line ("Dockerfile:7: unknown
 * instruction: FOO"). */
int eng_dockerfile_parse(const char *text, size_t len, const char *file,
			 struct eng_dockerfile **out, struct berr *err);
void eng_dockerfile_free(struct eng_dockerfile *df);
static inline void eng_dockerfile_freep(struct eng_dockerfile **df)
{
	eng_dockerfile_free(*df);
}
void eng_df_instr_clear(struct eng_df_instr *in);
const char *eng_df_kind_name(enum eng_df_kind k);
/* A JSON array of strings (the exec form), or NULL. */
char **eng_df_json_strings(const char *s);
/* The value of --name=value, or NULL. */
const char *eng_df_flag(const struct eng_df_instr *in, const char *name);

/* env for eng_df_lex that leaves $ alone */
#define ENG_DF_NO_EXPAND ((char *const *)(uintptr_t)1)

/* The words of s as a shell reads them (quotes removed, the escape
 * character escaping, $VAR ${VAR} ${VAR:-w} ${VAR:+w} expanded from env,
 * K=V strings); split false: one word, blanks kept. */
int eng_df_lex(const char *s, char *const *env, char esc, bool split,
	       const char *file, unsigned line, char ***out, struct berr *err);

/* ---- COPY and ADD (engine-build-copy.c) ---------------------------------- */

struct eng_copy {
	int ctxfd;	     /* the build context */
	int rootfd;	     /* where sources are: the context, or --from's */
	char **sources;	     /* relative to rootfd, globs resolved */
	char *const *ignore; /* .dockerignore */
	bool apply_ignore;   /* sources from the context */
	int dstfd;	     /* the staging directory */
	const char *dst;     /* relative to it */
	bool dst_is_dir;     /* dst ends in '/', or several sources */
	bool chown;
	uid_t uid;
	gid_t gid;
	mode_t chmod;  /* 0: keep */
	char **layers; /* the stage image's layer directories, lowest first */
};

int eng_strcmpp(const void *a, const void *b);
int eng_ignore_load(int ctxfd, char ***out);
bool eng_ignored(char *const *pats, const char *rel);
/* The sources COPY names, globs resolved; from the context (context
 * true), each must stay inside it. */
int eng_copy_sources(int rootfd, bool context, char *const *srcs,
		     char *const *ignore, char ***out, struct berr *err);
/* The content hashes of files by their inode and times (a build's
 * <store>/build-cache/files): open reads it (missing or torn lines are
 * no error), close writes what the build learnt and frees it. */
struct eng_stat_cache;
struct eng_stat_cache *eng_stat_cache_open(const char *path);
void eng_stat_cache_close(struct eng_stat_cache *c);
/* The hash of sources (names, types, modes, owners, link targets and
 * contents) for COPY's cache key; cache may be NULL. */
int eng_copy_hash(int rootfd, char *const *sources, char *const *ignore,
		  bool apply_ignore, struct eng_stat_cache *cache,
		  char out[OCI_HASH_LEN], struct berr *err);
int eng_copy_into(const struct eng_copy *c, struct berr *err);
/* rel and its parents in the staging directory: each a directory as the
 * image has it (mode and owner), else a new one, 0755 and owned by
 * --chown's owner or root, so that the layer changes no directory the
 * image has. */
int eng_stage_dirs(const struct eng_copy *c, const char *rel, struct berr *err);
/* As COPY, but a local tar archive is extracted into the destination. */
int eng_add_into(const struct eng_copy *c, struct berr *err);

/* ---- YAML (engine-yaml.c) --------------------------------------------------
 */

/* A YAML document as a cJSON tree: mappings, sequences, every scalar a
 * string, plain nulls null; anchors, aliases and `<<` merges resolved.
 * Errors: "FILE:LINE:COLUMN: problem". */
int eng_yaml_parse(const char *text, size_t len, const char *file, cJSON **out,
		   struct berr *err);
/* The tree as a YAML document (caller frees). */
int eng_yaml_print(const cJSON *doc, char **out, struct berr *err);

/* ---- a job's dependencies (engine-job-deps.c) --------------------------- */

int eng_job_parse_deps(const cJSON *obj, const char *path,
		       struct eng_job_group *g, struct berr *err);
int eng_job_link_deps(struct eng_job *j, const char *file, struct berr *err);
void eng_job_deps_free(struct eng_job_group *g);
/* "500ms", "2s", "1m30s", "3" (seconds) -> milliseconds. */
int eng_duration_ms(const char *s, int *ms);

/* ---- compose's job (engine-compose-job.c) ------------------------------- */

int eng_compose_up_doc(const struct rt_ctx *ctx, const cJSON *doc,
		       const char *name, const char *dir, const char *file,
		       char *const *order, const struct eng_compose_up *o,
		       struct berr *err);
int eng_compose_down_doc(const struct rt_ctx *ctx, const cJSON *doc,
			 const char *name, bool volumes, struct berr *err);
/* Adds the variables of service s's env_file (relative to dir; a later
 * file wins) to env. */
int eng_compose_env_files(const char *dir, const char *file, const char *svc,
			  const cJSON *s, cJSON *env, struct berr *err);
/* The image service svc runs: its image, else the tag `build` gives it
 * (<project>-<service>). */
char *eng_compose_image_of(const cJSON *doc, const char *project,
			   const char *svc);

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
/* Bridge, addresses, rules, forwarding: each step repeatable; nothing
 * when the bridge is the one they were made with, and up. */
int eng_net_up(const struct rt_ctx *ctx, const struct eng_network *n,
	       struct berr *err);

/* ---- endpoints (engine-endpoint.c, engine-files.c, engine-ports.c) ------ */

/* Whether the endpoint in dir belongs to container ctr_id of state root
 * ctr_root (its record says so). */
bool eng_endpoint_of(const char *dir, const char *ctr_id, const char *ctr_root);
/* Removes dead endpoints (of network; NULL: all); returns how many. */
int eng_endpoint_gc(const struct rt_ctx *ctx, const char *network);
/* A released veth is only taken down (its namespace takes it away); one
 * whose namespace something else still holds stays, down, in the bridge:
 * deletes n's down ports that no endpoint record names. For network rm
 * and prune, with the networks' lock held. */
void eng_endpoint_sweep(const struct rt_ctx *ctx, const struct eng_network *n);
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
/* A container's default host name: its id's first 12 characters, without
 * a trailing dot or dash. */
char *eng_short_name(const char *id);
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
