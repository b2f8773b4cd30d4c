/* oci: the OCI runtime-spec documents as typed C structures.
 *
 * - config.json (runtime-spec 1.0 to 1.2) is parsed by oci_config_parse()
 *   into struct oci_config. Any 1.x ociVersion is accepted, unknown fields
 *   are ignored, and a field of the wrong type is refused with its JSON path
 *   ("process.args[2]: expected a string").
 * - struct oci_state is the runtime's persisted per-container state; it is
 *   written and read as JSON, and oci_state_to_json() prints what `berth
 *   state` shows (the spec's state plus runc's rootfs/created/owner).
 * - oci_spec_default() produces the config.json that `berth spec` writes.
 *
 * Ownership: every parse function returns a tree the caller frees with the
 * matching _free(); strings inside are owned by the tree. All functions are
 * reentrant; nothing here touches process-global state.
 *
 * Optional scalars come with a has_<field> flag: the spec distinguishes
 * "absent" from zero for most of them. */
#ifndef BERTH_OCI_H
#define BERTH_OCI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"

#define OCI_SPEC_VERSION "1.2.0"

/* ---- small shared pieces ------------------------------------------------ */

struct oci_kv { /* env-like "annotations"/"sysctl"/"unified" maps */
	char *key;
	char *value;
};

struct oci_idmap {
	uint32_t container_id;
	uint32_t host_id;
	uint32_t size;
};

/* ---- root, mounts ------------------------------------------------------- */

struct oci_root {
	char *path; /* as written; relative to the bundle when relative */
	bool readonly;
};

struct oci_mount {
	char *destination;		/* required */
	char *type;			/* may be NULL (bind mounts) */
	char *source;			/* may be NULL */
	char **options;			/* NULL-terminated, may be NULL */
	struct oci_idmap *uid_mappings; /* idmapped mounts */
	size_t n_uid_mappings;
	struct oci_idmap *gid_mappings;
	size_t n_gid_mappings;
};

/* ---- process ------------------------------------------------------------ */

struct oci_rlimit {
	int resource; /* RLIMIT_* number; an unknown "type" is an error */
	uint64_t soft;
	uint64_t hard;
};

/* Capability sets as capability numbers (CAP_*). An unknown name is an
 * error at parse time. has_<set> tells "absent" from "empty". */
struct oci_capset {
	int *caps;
	size_t n;
	bool present;
};

struct oci_capabilities {
	struct oci_capset bounding, effective, inheritable, permitted, ambient;
};

struct oci_user {
	uint32_t uid;
	uint32_t gid;
	bool has_umask;
	uint32_t umask;
	uint32_t *additional_gids;
	size_t n_additional_gids;
	char *username; /* Windows only; kept for round trips */
};

struct oci_scheduler {
	bool present;
	int policy; /* SCHED_* */
	int nice;
	int priority;
	uint64_t flags; /* SCHED_FLAG_* bits */
	uint64_t runtime, deadline, period;
};

struct oci_io_priority {
	bool present;
	int klass; /* IOPRIO_CLASS_RT=1, BE=2, IDLE=3 */
	int priority;
};

struct oci_cpu_affinity {
	char *initial; /* cpuset list strings, may be NULL */
	char *final;
};

struct oci_process {
	bool terminal;
	bool has_console_size;
	uint32_t console_height, console_width;
	char *cwd;   /* required by the spec; "/" when absent in exec */
	char **env;  /* NULL-terminated, may be NULL */
	char **args; /* NULL-terminated; required non-empty on create */
	struct oci_rlimit *rlimits;
	size_t n_rlimits;
	char *apparmor_profile;
	bool has_capabilities;
	struct oci_capabilities capabilities;
	bool no_new_privileges;
	bool has_oom_score_adj;
	int oom_score_adj;
	struct oci_scheduler scheduler;
	char *selinux_label;
	struct oci_io_priority io_priority;
	struct oci_cpu_affinity exec_cpu_affinity;
	struct oci_user user;
};

/* ---- hooks --------------------------------------------------------------- */

struct oci_hook {
	char *path;
	char **args; /* NULL-terminated, may be NULL */
	char **env;  /* NULL-terminated, may be NULL */
	bool has_timeout;
	int timeout; /* seconds, > 0 */
};

struct oci_hook_list {
	struct oci_hook *v;
	size_t n;
};

struct oci_hooks {
	struct oci_hook_list prestart, create_runtime, create_container,
		start_container, poststart, poststop;
};

/* ---- linux: namespaces, devices ----------------------------------------- */

enum oci_ns_type {
	OCI_NS_PID,
	OCI_NS_NETWORK,
	OCI_NS_MOUNT,
	OCI_NS_IPC,
	OCI_NS_UTS,
	OCI_NS_USER,
	OCI_NS_CGROUP,
	OCI_NS_TIME,
	OCI_NS__COUNT
};

struct oci_namespace {
	enum oci_ns_type type;
	char *path; /* NULL: create a new namespace */
};

struct oci_device {
	char type; /* 'c', 'b', 'u' or 'p' */
	char *path;
	int64_t major, minor; /* required for c/b/u */
	bool has_file_mode;
	uint32_t file_mode;
	bool has_uid, has_gid;
	uint32_t uid, gid;
};

/* ---- linux.resources (cgroups) ------------------------------------------ */

struct oci_device_rule {
	bool allow;
	char type; /* 'a', 'c', 'b'; 0 when absent (= all) */
	bool has_major, has_minor;
	int64_t major, minor; /* -1 in the spec's sense of "all" is absent */
	char *access;	      /* subset of "rwm", NULL when absent */
};

struct oci_memory {
	bool has_limit, has_reservation, has_swap, has_kernel, has_kernel_tcp,
		has_swappiness, has_disable_oom_killer, has_use_hierarchy,
		has_check_before_update;
	int64_t limit, reservation, swap, kernel, kernel_tcp;
	uint64_t swappiness;
	bool disable_oom_killer, use_hierarchy, check_before_update;
};

struct oci_cpu {
	bool has_shares, has_quota, has_burst, has_period, has_realtime_runtime,
		has_realtime_period, has_idle;
	uint64_t shares;
	int64_t quota;
	uint64_t burst;
	uint64_t period;
	int64_t realtime_runtime;
	uint64_t realtime_period;
	int64_t idle;
	char *cpus, *mems;
};

struct oci_weight_device {
	int64_t major, minor;
	bool has_weight, has_leaf_weight;
	uint16_t weight, leaf_weight;
};

struct oci_throttle_device {
	int64_t major, minor;
	uint64_t rate;
};

struct oci_throttle_list {
	struct oci_throttle_device *v;
	size_t n;
};

struct oci_blkio {
	bool has_weight, has_leaf_weight;
	uint16_t weight, leaf_weight;
	struct oci_weight_device *weight_devices;
	size_t n_weight_devices;
	struct oci_throttle_list read_bps, write_bps, read_iops, write_iops;
};

struct oci_hugepage_limit {
	char *page_size; /* "2MB", "1GB" */
	uint64_t limit;
};

struct oci_net_priority {
	char *name;
	uint32_t priority;
};

struct oci_rdma {
	char *device;
	bool has_hca_handles, has_hca_objects;
	uint32_t hca_handles, hca_objects;
};

struct oci_resources {
	struct oci_device_rule *devices;
	size_t n_devices;
	bool has_memory;
	struct oci_memory memory;
	bool has_cpu;
	struct oci_cpu cpu;
	bool has_pids;
	int64_t pids_limit;
	bool has_blkio;
	struct oci_blkio blkio;
	struct oci_hugepage_limit *hugepage_limits;
	size_t n_hugepage_limits;
	bool has_network;
	bool has_class_id;
	uint32_t class_id;
	struct oci_net_priority *net_priorities;
	size_t n_net_priorities;
	struct oci_rdma *rdma;
	size_t n_rdma;
	struct oci_kv *unified;
	size_t n_unified;
};

/* ---- linux.seccomp --------------------------------------------------------
 */

enum oci_seccomp_action {
	OCI_SCMP_ACT_KILL, /* SCMP_ACT_KILL == KILL_THREAD */
	OCI_SCMP_ACT_KILL_PROCESS,
	OCI_SCMP_ACT_KILL_THREAD,
	OCI_SCMP_ACT_TRAP,
	OCI_SCMP_ACT_ERRNO,
	OCI_SCMP_ACT_TRACE,
	OCI_SCMP_ACT_ALLOW,
	OCI_SCMP_ACT_LOG,
	OCI_SCMP_ACT_NOTIFY,
};

enum oci_seccomp_op {
	OCI_SCMP_CMP_NE,
	OCI_SCMP_CMP_LT,
	OCI_SCMP_CMP_LE,
	OCI_SCMP_CMP_EQ,
	OCI_SCMP_CMP_GE,
	OCI_SCMP_CMP_GT,
	OCI_SCMP_CMP_MASKED_EQ,
};

struct oci_seccomp_arg {
	uint32_t index;
	uint64_t value;
	uint64_t value_two;
	enum oci_seccomp_op op;
};

struct oci_seccomp_syscall {
	char **names; /* NULL-terminated, at least one */
	enum oci_seccomp_action action;
	bool has_errno_ret;
	uint32_t errno_ret;
	struct oci_seccomp_arg *args;
	size_t n_args;
};

struct oci_seccomp {
	enum oci_seccomp_action default_action;
	bool has_default_errno_ret;
	uint32_t default_errno_ret;
	char **architectures; /* "SCMP_ARCH_X86_64", ...; NULL-terminated */
	char **flags;	      /* "SECCOMP_FILTER_FLAG_LOG", ... */
	char *listener_path;
	char *listener_metadata;
	struct oci_seccomp_syscall *syscalls;
	size_t n_syscalls;
};

/* ---- linux ------------------------------------------------------------------
 */

struct oci_time_offset {
	bool present;
	int64_t secs;
	uint32_t nanosecs;
};

struct oci_personality {
	bool present;
	char *domain; /* "LINUX" or "LINUX32" */
	char **flags;
};

enum oci_propagation {
	OCI_PROPAGATION_UNSET = 0,
	OCI_PROPAGATION_PRIVATE,
	OCI_PROPAGATION_SHARED,
	OCI_PROPAGATION_SLAVE,
	OCI_PROPAGATION_UNBINDABLE,
};

struct oci_linux {
	struct oci_namespace *namespaces;
	size_t n_namespaces;
	struct oci_idmap *uid_mappings;
	size_t n_uid_mappings;
	struct oci_idmap *gid_mappings;
	size_t n_gid_mappings;
	struct oci_time_offset time_monotonic, time_boottime;
	struct oci_device *devices;
	size_t n_devices;
	char *cgroups_path;
	bool has_resources;
	struct oci_resources resources;
	struct oci_kv *sysctl;
	size_t n_sysctl;
	bool has_seccomp;
	struct oci_seccomp seccomp;
	enum oci_propagation rootfs_propagation;
	char **masked_paths;
	char **readonly_paths;
	char *mount_label;
	struct oci_personality personality;
	bool has_intel_rdt; /* accepted and reported unsupported at create */
};

/* ---- the whole config -------------------------------------------------------
 */

struct oci_config {
	char *oci_version;
	struct oci_root root; /* root.path may be NULL when absent */
	struct oci_mount *mounts;
	size_t n_mounts;
	bool has_process;
	struct oci_process process;
	char *hostname;
	char *domainname;
	struct oci_hooks hooks;
	struct oci_kv *annotations;
	size_t n_annotations;
	bool has_linux;
	struct oci_linux linux_;
};

/* Parses a config.json document of len bytes. On success *out owns the
 * tree. Errors: -EINVAL with err naming the JSON path and the problem
 * ("process.args[2]: expected a string", "ociVersion: 2.0.0 is not a
 * supported version"), -ENOMEM. */
int oci_config_parse(const char *json, size_t len, struct oci_config **out,
		     struct berr *err);
/* Reads and parses bundle/config.json; err names the file on I/O errors. */
int oci_config_load(const char *bundle, struct oci_config **out,
		    struct berr *err);
/* oci_config_load() that also hands back the bytes it parsed (*raw,
 * *raw_len; the caller frees), for a copy that is the same document. */
int oci_config_load_raw(const char *bundle, struct oci_config **out, char **raw,
			size_t *raw_len, struct berr *err);
void oci_config_free(struct oci_config *c);
static inline void oci_config_freep(struct oci_config **c)
{
	oci_config_free(*c);
}

/* Parses a process object alone (exec --process FILE). The same path rules
 * apply, with "process" as the root of the path. */
int oci_process_parse(const char *json, size_t len, struct oci_process **out,
		      struct berr *err);
void oci_process_free(struct oci_process *p);
static inline void oci_process_freep(struct oci_process **p)
{
	oci_process_free(*p);
}

/* Parses a linux.resources object alone (update --resources). */
int oci_resources_parse(const char *json, size_t len,
			struct oci_resources **out, struct berr *err);
void oci_resources_free(struct oci_resources *r);

/* Names <-> numbers used by the parser, exported for the CLI and runtime. */
const char *oci_ns_type_name(enum oci_ns_type t); /* "pid", "network", ... */
int oci_cap_from_name(const char *name);	  /* "CAP_CHOWN" -> 0; -1 */
const char *oci_cap_name(int cap);		  /* NULL when unknown */
int oci_rlimit_from_name(const char *name);	  /* "RLIMIT_NOFILE"; -1 */

/* ---- state
 * -------------------------------------------------------------------- */

enum oci_status {
	OCI_STATUS_CREATING,
	OCI_STATUS_CREATED,
	OCI_STATUS_RUNNING,
	OCI_STATUS_PAUSED,
	OCI_STATUS_STOPPED,
};
const char *oci_status_name(enum oci_status s);

/* What berth keeps in <root>/<id>/state.json. The first block is the
 * spec's state; the rest is runtime-private and never shown by `state`
 * except where runc shows it too (rootfs, created, owner). */
struct oci_state {
	char *oci_version;
	char *id;
	enum oci_status status; /* as stored; the runtime refines it live */
	pid_t pid;		/* 0 when no process */
	char *bundle;		/* absolute */
	struct oci_kv *annotations;
	size_t n_annotations;
	/* runc's extras */
	char *rootfs;  /* absolute */
	char *created; /* RFC 3339 with nanoseconds */
	char *owner;   /* "" for root, as runc */
	/* private */
	uint64_t pid_start_time; /* /proc/<pid>/stat field 22, guards reuse */
	char *cgroup_path;	 /* as resolved by cgroups/ (cg_path()) */
	bool systemd_cgroup;
	char *config_path; /* copy of config.json used at create */
	bool started;	   /* `start` released the init */
	/* Whether config.json has poststart and poststop hooks, so that
	 * start and delete read and parse it only when it does. A state
	 * without the record (hooks_known false) reads it. */
	bool hooks_known;
	bool has_poststart;
	bool has_poststop;
};

/* The JSON `berth state` prints: ociVersion, id, status, pid, bundle,
 * rootfs, created, owner, annotations. Caller frees. */
char *oci_state_to_json(const struct oci_state *s, enum oci_status live);
/* The full persisted form, private fields included. Caller frees. */
char *oci_state_serialize(const struct oci_state *s);
int oci_state_parse(const char *json, size_t len, struct oci_state **out,
		    struct berr *err);
void oci_state_free(struct oci_state *s);
static inline void oci_state_freep(struct oci_state **s)
{
	oci_state_free(*s);
}

/* The state object hooks and seccomp listeners receive: the spec's state
 * with the given status. Caller frees. */
char *oci_state_hook_json(const struct oci_state *s, enum oci_status status);

/* The config.json `berth spec` writes: runc's default (busybox sh, the
 * default mounts, masked/readonly paths, namespaces). rootless adds a user
 * namespace with the caller's mappings and drops what needs privileges.
 * Caller frees. */
char *oci_spec_default(bool rootless, uid_t uid, gid_t gid);

/* ==== images: load, verify, store, unpack ================================== *
 *
 * berth reads container images itself, with no daemon: Docker archives
 * (`docker save`, with or without the OCI index newer Docker writes too) and
 * OCI image layouts, as a directory or a tar, plain or compressed. Every
 * blob is hashed while it streams in and every layer's uncompressed stream
 * is checked against the config's rootfs.diff_ids; a mismatch rejects the
 * image and stores nothing.
 *
 * The store (default OCI_STORE_DEFAULT) is content-addressed:
 *   blobs/sha256/<hex>    manifests, configs and layer blobs as loaded
 *   layers/<diffid-hex>/  each layer unpacked once, ready to be an overlayfs
 *                         lower dir: a whiteout is a 0:0 character device,
 *                         an opaque directory carries trusted.overlay.opaque
 *   images/<hex>.json     one record per manifest digest
 *   refs.json             reference ("busybox:latest") -> manifest digest
 *   lock, tmp/            the writers' lock; their scratch space
 * Everything becomes visible by rename only, so a writer killed half-way
 * leaves at most files under tmp/, which the next writer removes.
 *
 * libarchive and libcrypto are loaded with dlopen the first time an image
 * function needs them: the runtime's own commands never map them. Not
 * thread-safe; safe between processes (the store's lock). */

#define OCI_STORE_DEFAULT "/var/lib/berth"

struct oci_image_layer {
	char *digest;  /* the blob's "sha256:<hex>" */
	char *diff_id; /* sha256 of the uncompressed tar */
	char *media_type;
	uint64_t size;		/* blob bytes */
	uint64_t unpacked_size; /* uncompressed tar bytes */
};

struct oci_image {
	char *digest;	  /* the manifest's digest: the store's key */
	char *id;	  /* the config's digest (Docker's image id) */
	char **repo_tags; /* NULL-terminated, empty for a dangling image */
	char *created;	  /* from the config; may be NULL */
	char *os, *architecture;
	struct oci_image_layer *layers; /* lowest first */
	size_t n_layers;
	uint64_t size; /* sum of the layers' unpacked sizes */
};
void oci_image_free(struct oci_image *img);
static inline void oci_image_freep(struct oci_image **img)
{
	oci_image_free(*img);
}
/* Frees a NULL-terminated vector of images. */
void oci_image_list_free(struct oci_image **v);
static inline void oci_image_list_freep(struct oci_image ***v)
{
	oci_image_list_free(*v);
}

enum oci_store_mode {
	OCI_STORE_READ,	 /* shared lock: list, inspect, unpack */
	OCI_STORE_WRITE, /* exclusive lock: load, tag, rm, prune */
};

struct oci_store;
/* Opens the store at dir (created 0700 when missing), waits for its lock
 * and, for a writer, removes what an interrupted writer left behind. A
 * reader that must write (a path named as an image) upgrades itself.
 * Errors: -errno with err naming the path. A missing libarchive or
 * libcrypto is reported later, by the first function that needs it. */
int oci_store_open(const char *dir, enum oci_store_mode mode,
		   struct oci_store **out, struct berr *err);
void oci_store_close(struct oci_store *s);
static inline void oci_store_closep(struct oci_store **s)
{
	oci_store_close(*s);
}
const char *oci_store_path(const struct oci_store *s);

/* What a load may expand to unless told otherwise: far above any image
 * in use (the largest common ones, CUDA and ML stacks, stay under 30 GB
 * unpacked), yet a bound on what a small hostile archive can make the
 * store write. */
#define OCI_IMAGE_MAX_SIZE_DEFAULT (64ull << 30)

struct oci_image_load_opts {
	/* Character and block devices other than whiteouts are refused
	 * unless this is set (a privileged image). */
	bool allow_devices;
	/* Bytes (0: OCI_IMAGE_MAX_SIZE_DEFAULT), bounding two things, each
	 * on its own: what the source expands to (an archive's files with
	 * their holes counted, since each is hashed over its whole length,
	 * or the blobs copied from a layout), and the uncompressed streams
	 * of the layers the load reads (what `image ls` shows as SIZE).
	 * Neither can be smaller than what it writes to the store: holes of
	 * sparse files stay holes everywhere. Past it the load fails with
	 * -EFBIG, naming the entry or layer and the limit, and stores
	 * nothing. */
	uint64_t max_size;
};

/* Loads every image of a Docker archive or an OCI layout: path is a tar
 * (plain, gzip, zstd, ...), a directory, or "-" for stdin. From an image
 * index only linux/<host architecture> is taken. Images already in the
 * store are verified again but not unpacked again. *out (may be NULL)
 * receives the loaded images, NULL-terminated. Errors name the blob and
 * the cause ("layer sha256:ab..: digest mismatch: got sha256:cd..",
 * "layer sha256:ab..: entry `../x`: climbs out of the layer"). */
int oci_image_load(struct oci_store *s, const char *path,
		   const struct oci_image_load_opts *o, struct oci_image ***out,
		   struct berr *err);

/* ---- pulling from a registry ------------------------------------------------
 *
 * oci_image_pull() speaks the distribution spec (v2) to an OCI or Docker
 * registry over https with libcurl, loaded with dlopen on first use. The
 * manifest (from an index or manifest list: linux/<host architecture>),
 * the config and the layers are each hashed while they stream into the
 * store's tmp/ and then loaded as oci_image_load() loads a layout: layer
 * diffIDs are checked on unpack, and nothing becomes visible unless all of
 * it is good. Blobs the store has are not downloaded again. */

enum oci_pull_phase {
	OCI_PULL_START,	 /* a download begins */
	OCI_PULL_BYTES,	 /* done of total bytes have arrived */
	OCI_PULL_EXISTS, /* the store has the blob: not downloaded */
	OCI_PULL_DONE,	 /* downloaded and verified */
	OCI_PULL_LOAD,	 /* every blob is here: unpacking the layers (digest
			    is the manifest's, role "image") */
};

struct oci_pull_event {
	enum oci_pull_phase phase;
	const char *role;   /* "config" or "layer" */
	const char *digest; /* the blob's */
	uint64_t done, total;
};

struct oci_pull_opts {
	/* Plain http instead of https, only to a loopback registry
	 * (127.0.0.0/8, ::1, localhost). */
	bool insecure;
	/* Called as blobs arrive (may be NULL): the library never prints;
	 * the caller may draw progress from it. */
	void (*progress)(const struct oci_pull_event *ev, void *arg);
	void *progress_arg;
	/* As oci_image_load_opts.max_size; the manifest's blob sizes are
	 * checked against it before anything is downloaded. */
	uint64_t max_size;
};

/* Pulls ref ([registry[:port]/]repo[:tag|@sha256:...], docker.io by
 * default) into the store, under the name oci_image_ref_normalize() gives
 * ref ("busybox:latest", "127.0.0.1:5000/mini:latest"). Holds the store's
 * write lock throughout. *out (may be NULL) receives the image,
 * NULL-terminated. Errors name the reference and the document or blob
 * ("pull 127.0.0.1:5000/mini:latest: manifest: 404 Not Found", "... layer
 * sha256:ab..: digest mismatch: got sha256:cd.."); the store is then left
 * as it was. */
int oci_image_pull(struct oci_store *s, const char *ref,
		   const struct oci_pull_opts *o, struct oci_image ***out,
		   struct berr *err);

/* ---- pushing to a registry --------------------------------------------------
 *
 * oci_image_push() is the way back: each blob of an image the registry
 * does not have (a HEAD asks) is mounted from another repository of the
 * registry that the image is named in, or else goes up in one PUT, or in
 * PATCHes of chunk_size bytes when it is larger; then the stored
 * manifest, with its media type, under the tag. Nothing in the store
 * changes. */

enum oci_push_phase {
	OCI_PUSH_START,	  /* an upload begins */
	OCI_PUSH_BYTES,	  /* done of total bytes have gone (per chunk) */
	OCI_PUSH_EXISTS,  /* the registry has the blob: not sent */
	OCI_PUSH_DONE,	  /* sent, and the registry has its digest */
	OCI_PUSH_MOUNTED, /* linked from another repository of the
			     registry (from): not sent */
};

struct oci_push_event {
	enum oci_push_phase phase;
	const char *role;   /* "config" or "layer" */
	const char *digest; /* the blob's */
	uint64_t done, total;
	const char *from; /* OCI_PUSH_MOUNTED: the repository */
};

struct oci_push_opts {
	bool insecure; /* as oci_pull_opts.insecure */
	void (*progress)(const struct oci_push_event *ev, void *arg);
	void *progress_arg;
	/* Larger blobs go in chunks of this size; 0: 8 MiB. */
	uint64_t chunk_size;
};

struct oci_push_result {
	char *name;    /* the reference pushed: "127.0.0.1:5000/mini:1" */
	char *tag;     /* "1" */
	char *digest;  /* the manifest's "sha256:..." */
	uint64_t size; /* its bytes */
};
void oci_push_result_clear(struct oci_push_result *res);

/* Pushes the image named image (a reference or an id of the store) to
 * dst ([registry[:port]/]repo[:tag]; NULL: image itself), under the
 * store's shared lock; res (may be NULL) gets what was pushed (caller
 * clears it). Errors name the reference and the blob ("push
 * 127.0.0.1:5000/mini:1: blob sha256:ab..: 401 Unauthorized"). */
int oci_image_push(struct oci_store *s, const char *image, const char *dst,
		   const struct oci_push_opts *o, struct oci_push_result *res,
		   struct berr *err);

/* ---- making images ------------------------------------------------------
 *
 * What `berth image import` and `berth build` make images with: a layer
 * from a directory or a tar stream, written as a gzip'd tar blob into the
 * store's tmp/, then oci_image_create() on top of a base image. The layer
 * tar is written by libarchive (pax, entries in sorted order, no atime or
 * ctime, no gzip timestamp): the same tree with clamped mtimes gives the
 * same digest. The store must be open; both calls take its write lock.
 * A layer's blob lasts while the store stays open: the next writer to
 * open it removes what tmp/ holds, as it does after a crash. */

#define OCI_DIGEST_LEN 72 /* "sha256:" + 64 hex + NUL */

struct oci_new_layer {
	char *path; /* the compressed blob, in the store's tmp/ (absolute);
		       oci_new_layer_clear() removes it and frees the string */
	char digest[OCI_DIGEST_LEN];  /* "sha256:..." of the blob */
	char diff_id[OCI_DIGEST_LEN]; /* of the uncompressed tar */
	uint64_t size;		      /* blob bytes */
	bool empty; /* no entry at all (a step that changed nothing) */
	/* Device nodes and sockets left out (a layer holds no device:
	 * loading one needs --allow-devices), and the first one's path
	 * (may be NULL), for a note. */
	size_t skipped;
	char *skipped_first;
};

struct oci_layer_opts {
	/* dir is an overlayfs upper dir: 0:0 character devices are
	 * whiteouts -> ".wh.NAME"; trusted.overlay.opaque="y" (or
	 * user.overlay.opaque) directories -> ".wh..wh..opq" */
	bool overlay_upper;
	/* < 0: keep each file's mtime; else clamp every mtime to it
	 * (reproducible layers, SOURCE_DATE_EPOCH style) */
	int64_t mtime;
};

/* A gzip'd tar of dir (sorted entries, uid/gid/mode/xattrs kept except
 * overlayfs' own and security.selinux, hard links as links; device nodes
 * other than whiteouts and sockets skipped and counted), written into the
 * store's tmp/. Never follows a symlink, never leaves dir (openat,
 * O_NOFOLLOW); dir may be written by a container: symlink targets,
 * depth (OCI_LAYER_MAX_DEPTH), path length (PATH_MAX) and the bytes
 * read (OCI_IMAGE_MAX_SIZE_DEFAULT) are bounded, a file is read up to the
 * size it had when it was stat'ed. o may be NULL (keep mtimes, plain
 * directory). On failure nothing is left in tmp/ and *out is cleared. */
#define OCI_LAYER_MAX_DEPTH 256 /* one descriptor open per level */
int oci_layer_from_dir(struct oci_store *s, const char *dir,
		       const struct oci_layer_opts *o,
		       struct oci_new_layer *out, struct berr *err);
/* The same from a tar stream (fd: plain or compressed, any format
 * libarchive reads), as `docker import` takes it: names are cleaned as a
 * loaded layer's are (leading "/" and "./" dropped, a ".." component
 * refused, hard link targets too), device nodes and sockets skipped and
 * counted, at most OCI_IMAGE_MAX_SIZE_DEFAULT bytes expanded (-EFBIG). */
int oci_layer_from_tar(struct oci_store *s, int fd, struct oci_new_layer *out,
		       struct berr *err);
void oci_new_layer_clear(struct oci_new_layer *l);

/* A new image: base's layers (base may be NULL: FROM scratch), then the n
 * new layers (an `empty` one adds a history entry with "empty_layer":
 * true and no layer), with config_json as the image config: the caller's
 * architecture, os (the host's when absent), created (now when absent),
 * config{...} and history. This call sets rootfs.type and rootfs.diff_ids
 * and merges the history: config_json's history holds the entries of the
 * new steps, optionally preceded by base's own entries; base's entries
 * (from its config) come first, then one entry per new layer in order,
 * the caller's where there is one ("empty_layer" set to match the layer),
 * a blank one past them, and the caller's left-over entries as empty
 * ones. Written as an OCI image (manifest, config and layer blobs with OCI
 * media types) and committed as oci_image_load() commits a layout: every
 * blob verified, each new layer unpacked into layers/<diffid>/, then
 * renamed into place, tagged tag (normalized; NULL: dangling). *out (may
 * be NULL) gets the image. Nothing is left on failure: no blob, layer,
 * record or temporary file. The layers' blobs stay where they are (the
 * caller clears them). */
int oci_image_create(struct oci_store *s, const struct oci_image *base,
		     const struct oci_new_layer *layers, size_t n,
		     const char *config_json, const char *tag,
		     struct oci_image **out, struct berr *err);

/* The image config JSON of `berth image import`: os linux, the host's
 * architecture, created now, one history entry (created_by "berth image
 * import", comment when given) and a config{} made from changes
 * (NULL-terminated, may be NULL), each "KEY value" as `docker import
 * --change` takes it: CMD and ENTRYPOINT (a JSON array, else the shell
 * form ["/bin/sh","-c",value]), ENV K=V... or ENV K V, EXPOSE
 * PORT[/proto]..., LABEL k=v..., USER, VOLUME (JSON array or words),
 * WORKDIR. Any other instruction: -EINVAL naming it. Caller frees *out. */
int oci_image_import_config(char *const *changes, const char *comment,
			    char **out, struct berr *err);

/* Writes images (found by oci_image_find()) to fd as a Docker archive
 * (manifest.json, repositories, and the OCI index.json and oci-layout
 * that Docker 25+ writes too) or, with oci, as an OCI image layout; a
 * plain tar either way. Errors name the image. */
int oci_image_save(struct oci_store *s, char *const *names, bool oci, int fd,
		   struct berr *err);

/* Finds an image by reference ("busybox", "busybox:1.36",
 * "name@sha256:..."), by id or digest ("sha256:<hex>" or a hex prefix of at
 * least 4 digits), or by the path of an archive or layout, which is loaded
 * first (and then found by digest next time through its reference). An id
 * that several records share (one image loaded from several manifests)
 * finds the first of them as image_list() orders them.
 * -ENOENT: no such image; -EINVAL: a prefix of two images. */
int oci_image_find(struct oci_store *s, const char *name,
		   struct oci_image **out, struct berr *err);
/* Every image of the store, sorted by reference then digest. */
int oci_image_list(struct oci_store *s, struct oci_image ***out,
		   struct berr *err);
/* The config blob of img (the image config JSON). Caller frees. */
int oci_image_read_config(struct oci_store *s, const struct oci_image *img,
			  char **json, size_t *len, struct berr *err);
/* What `image inspect` prints: id, digest, repoTags, created, os,
 * architecture, size, config (the config's "config" object), rootfs
 * layers. Caller frees *out. */
int oci_image_inspect_json(struct oci_store *s, const struct oci_image *img,
			   char **out, struct berr *err);
/* Adds reference dst to the image src names (moved if dst existed). */
int oci_image_tag(struct oci_store *s, const char *src, const char *dst,
		  struct berr *err);
/* Removes a reference, and the image with its last one. An image named
 * by id goes with every name it has, and so do the other records of that
 * id (one image loaded from several manifests); when those names are in
 * more than one repository, only with force (-EBUSY otherwise), as Docker
 * does. Blobs and layers stay until prune. *report (may be NULL) gets
 * "Untagged: x" / "Deleted: sha256:.." lines. */
int oci_image_remove(struct oci_store *s, const char *name, bool force,
		     char ***report, struct berr *err);

struct oci_prune_report {
	size_t images, blobs, layers; /* removed */
	/* disk space given back: the blocks of every file and directory
	 * removed (layers as well as blobs), a file counted when its last
	 * link goes */
	uint64_t bytes;
};
/* Removes dangling images (no reference), then every blob and layer that
 * no image uses. */
int oci_image_prune(struct oci_store *s, struct oci_prune_report *rep,
		    struct berr *err);

/* Writes a runtime bundle: dir/rootfs, a full copy of the layers applied
 * in order, and dir/config.json from the image config. dir must be absent
 * or empty; on failure the rootfs made so far is removed again. */
int oci_image_unpack(struct oci_store *s, const struct oci_image *img,
		     const char *dir, struct berr *err);
/* The absolute paths of img's layer directories, lowest first, for an
 * overlayfs mount (lowerdir lists them highest first). Caller frees. */
int oci_image_layer_dirs(struct oci_store *s, const struct oci_image *img,
			 char ***out, struct berr *err);

/* The runtime config.json for an image config: oci_spec_default() with
 * Entrypoint+Cmd as args, Env (PATH added when missing), WorkingDir as
 * cwd, User resolved against rootfd's /etc/passwd and /etc/group (rootfd
 * -1: numeric users only), Labels, ExposedPorts, Volumes and StopSignal as
 * annotations, root.path "rootfs", no terminal. Caller frees *out. */
int oci_image_runtime_config(const char *image_config, size_t len, int rootfd,
			     char **out, struct berr *err);

/* Runtime-spec JSON for parsed parts of a config (cJSON objects the
 * caller owns): process.capabilities and linux.seccomp. */
struct cJSON;
struct cJSON *oci_capabilities_json(const struct oci_capabilities *c);
struct cJSON *oci_seccomp_json(const struct oci_seccomp *s);
const char *oci_seccomp_action_name(enum oci_seccomp_action a);
const char *oci_seccomp_op_name(enum oci_seccomp_op op);

/* What `berth launch` changes in an image's config, as `docker run`
 * does. NULL fields keep the image's values. */
struct oci_image_overrides {
	const char *entrypoint; /* replaces Entrypoint and drops Cmd; "" clears
				   Entrypoint */
	char *const *args;	/* replace Cmd (NULL-terminated) */
	char *const *env;	/* K=V, replacing the image's K */
	const char *workdir;
	const char *user; /* "name|uid[:group|gid]" */
};
/* oci_image_runtime_config() with overrides (ov may be NULL). */
int oci_image_runtime_config_with(const char *image_config, size_t len,
				  int rootfd,
				  const struct oci_image_overrides *ov,
				  char **out, struct berr *err);

/* A reference in its stored form: "docker.io/library/" dropped, ":latest"
 * added when there is no tag or digest. -EINVAL for an invalid one. */
int oci_image_ref_normalize(const char *ref, char **out, struct berr *err);
/* The host's architecture in GOARCH terms ("amd64", "arm64", ...). */
const char *oci_image_host_arch(void);

/* ---- for builders (oci-hash.c) -----------------------------------------
 *
 * sha256 as the store computes it, and a tar (plain or compressed)
 * extracted as a layer is: nothing outside dirfd, no device nodes,
 * ownership and modes kept, holes kept. */

#define OCI_HASH_LEN 72 /* "sha256:" + 64 hex + NUL */
struct oci_hash;
int oci_hash_new(struct oci_hash **out, struct berr *err);
void oci_hash_update(struct oci_hash *h, const void *p, size_t n);
/* The digest of what went in, "sha256:<hex>". */
void oci_hash_finish(struct oci_hash *h, char out[OCI_HASH_LEN]);
/* The hex digits of a digest from oci_hash_finish. */
static inline const char *oci_hash_hex(const char *digest)
{
	return digest + 7;
}
void oci_hash_free(struct oci_hash *h);
static inline void oci_hash_freep(struct oci_hash **h)
{
	oci_hash_free(*h);
}
/* what names the archive in messages. */
int oci_archive_extract(int fd, int dirfd, const char *what, struct berr *err);

#endif
