/* engine: what Docker users run, on top of the OCI runtime and the worker
 * pools: `launch` (docker run without a daemon) and `job` (groups of
 * services and pools from one file). The runtime below stays the OCI
 * lifecycle; what this layer attaches to a container (its bundle) it
 * frees in eng_release(), which every delete calls through
 * rt_ctx.release. */
#ifndef BERTH_ENGINE_H
#define BERTH_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"
#include "dist/dist.h"
#include "netns/netns.h"
#include "oci/oci.h"
#include "runtime/runtime.h"

/* rt_ctx.release for every context the CLI makes: removes what launch
 * made for the container st names in state root root (its bundle, its
 * network endpoint); nothing for any other container. */
int eng_release(const char *root, const struct oci_state *st, struct berr *err);

/* ---- networks (engine-network.c, engine-endpoint.c) ---------------------
 *
 * Named bridge networks as docker's: a bridge, an IPv4 subnet (and an IPv6
 * one on request) with a gateway on the bridge, NAT for traffic that
 * leaves, published ports, and names that containers on one network
 * resolve (a DNS server per network, started with its first named
 * container and stopped with its last). Everything lives in the network
 * namespace of the berth process that makes it (the host's), and under
 * <root>/.net/ (root: the state root):
 *   lock                     held while networks or their names change
 *   networks/NAME.json       a network (what `network inspect` shows)
 *   networks/NAME.leases     its IPv4 leases (nsn_ipam); leases6/ IPv6
 *   dns/NAME/                its DNS server's hosts file and pid file
 *   endpoints/ID/            a container's: endpoint.json, netns (the
 *                            network namespace it joins, a bind mount),
 *                            hosts, hostname, resolv.conf
 * The network `berth` (bridge berth0) is made on first use; `bridge`
 * names it too, as docker users write it. Bridges are made when the first
 * container attaches and go with the network. */

#define ENG_NET_DEFAULT "berth"

struct eng_network {
	char name[NSN_ID_MAX + 1];
	char id[65]; /* 64 hex digits */
	char bridge[16];
	char subnet[NSN_CIDR_STRLEN];
	char gateway[INET6_ADDRSTRLEN];
	char subnet6[NSN_CIDR_STRLEN]; /* "" without IPv6 */
	char gateway6[INET6_ADDRSTRLEN];
	bool internal;
	char created[40];   /* RFC 3339 */
	size_t n_endpoints; /* eng_network_list only */
};

struct eng_network_opts {
	const char *name;
	const char *subnet;  /* IPv4 CIDR; NULL: the first free /24 of
				10.89.0.0/16 */
	const char *gateway; /* NULL: the subnet's first address */
	const char *subnet6; /* IPv6 CIDR; NULL: no IPv6 */
	bool internal;	     /* no way out: no NAT, no forwarding */
};

/* Creates the network (state only; the bridge comes with its first
 * container). Errors name the network: -EEXIST (the name is taken),
 * -EINVAL (a bad name, subnet or gateway), -EADDRINUSE (the subnet
 * overlaps another network's, naming it, or a route of the host, naming
 * the route). */
int eng_network_create(const struct rt_ctx *ctx,
		       const struct eng_network_opts *o,
		       struct eng_network *out, struct berr *err);

/* Every network, by name, with its live endpoints counted (what dead
 * containers left is removed first). */
int eng_network_list(const struct rt_ctx *ctx, struct eng_network **out,
		     size_t *n, struct berr *err);

/* docker network inspect's JSON object for the network: Name, Id, Created,
 * Driver, Internal, EnableIPv6, IPAM.Config, Options, Containers (each
 * endpoint's Name, IPv4Address, IPv6Address, MacAddress). -ENOENT. */
int eng_network_inspect(const struct rt_ctx *ctx, const char *name, char **json,
			struct berr *err);

/* Removes the network: its bridge, rules, leases, DNS server and state.
 * -EBUSY naming the containers that are still attached. */
int eng_network_rm(const struct rt_ctx *ctx, const char *name,
		   struct berr *err);

/* Removes what dead containers left on every network, then every network
 * no container uses; *removed (may be NULL) gets their names. */
int eng_network_prune(const struct rt_ctx *ctx, char ***removed,
		      struct berr *err);

/* A published port as -p writes it: [IP:]HOST[-HOST]:CTR[-CTR][/PROTO];
 * -P's come from the image's ExposedPorts with host_port 0 (any free). */
struct eng_port {
	int proto;		       /* IPPROTO_TCP or IPPROTO_UDP */
	char host_ip[INET_ADDRSTRLEN]; /* "" any */
	uint16_t host_port;	       /* 0: a free one */
	uint16_t ctr_port;
};

/* Parses one -p value into *v (appending; a range gives one entry a
 * port). -EINVAL naming the text. */
int eng_port_parse(const char *s, struct eng_port **v, size_t *n,
		   struct berr *err);

/* What a container asks of the network (launch's flags). */
struct eng_net_opts {
	/* none (default) | host | NAME | bridge | container:ID | ns:PATH */
	const char *mode;
	const char *hostname;	 /* NULL: the id's first 12 characters */
	const char *ip, *ip6;	 /* wanted addresses; NULL: the next free */
	const char *mac;	 /* NULL: derived from the IPv4 address */
	char *const *aliases;	 /* more names on the network */
	char *const *add_hosts;	 /* NAME:IP lines for /etc/hosts */
	char *const *dns;	 /* nameservers; NULL: the network's */
	char *const *dns_search; /* search domains; NULL: the host's */
	const struct eng_port *ports;
	size_t n_ports;
};

/* What the container's config gets from an endpoint. */
struct eng_endpoint {
	char *dir;	/* <root>/.net/endpoints/ID */
	char *netns;	/* the namespace to join; NULL: a new one (none),
			   or none at all (host) */
	bool host;	/* the host's network: no network namespace */
	char *hostname; /* /etc/hostname's */
	char *hosts, *hostname_file, *resolv; /* files to bind-mount */
	char ip[INET6_ADDRSTRLEN];	      /* "" when none */
	char ip6[INET6_ADDRSTRLEN];
	int lock_fd; /* held until the container exists (see the .c) */
};

/* Makes endpoint id (unique under the networks' root ctx) for container
 * ctr_id of state root ctr_root (for launch, id = ctr_id), as o asks. On
 * failure nothing of it is left. Attaching to a network first removes
 * what dead containers left there. */
int eng_endpoint_attach(const struct rt_ctx *ctx, const char *id,
			const char *ctr_id, const char *ctr_root,
			const struct eng_net_opts *o, struct eng_endpoint **out,
			struct berr *err);
void eng_endpoint_free(struct eng_endpoint *ep);
static inline void eng_endpoint_freep(struct eng_endpoint **ep)
{
	eng_endpoint_free(*ep);
}
/* Removes the endpoint in dir (veth, lease, rules, name, namespace,
 * files). Safe to repeat. */
int eng_endpoint_release(const char *dir, struct berr *err);

/* dp_par_opts.net_attach and net_detach with net_data a struct
 * eng_par_net: every worker of the pool gets an endpoint as o asks, with
 * the names GROUP and GROUP.I when group is set (a job's pool). */
struct eng_par_net {
	const struct rt_ctx *ctx; /* the state root of the networks */
	struct eng_net_opts o;
	const char *group;
};
int eng_par_net_attach(void *data, const char *id, const char *root,
		       size_t index, struct dp_net *out, struct berr *err);
void eng_par_net_detach(void *data, struct dp_net *n);

/* ---- containers: docker's management of launched containers -------------
 * (engine-container.c, engine-container-log.c, engine-container-monitor.c)
 *
 * Every launched container has a directory of the engine's in its state
 * root, <root>/.containers/<id>/, removed with the container (eng_release):
 *   config.json   what launch was asked (image, command, created, restart
 *                 policy, log options, bundle); written once by launch
 *   state.json    {"started","finished","exit_code","restarts"}: written
 *                 by the monitor (or by an attached launch) atomically
 *   stopped       present once `stop` asked it to stop: no restart policy
 *                 brings it back
 *   monitor.lock  flock()ed by the monitor for as long as it lives
 *   container.log, container.log.1, ...: the log, JSON lines as docker's
 *                 json-file driver writes them, newest first by number
 * launch -d starts a monitor, a grandchild of berth in its own session
 * that outlives it (no daemon): it runs the container (so that the init
 * is its child and its exit status is known), holds the read ends of the
 * container's stdout and stderr pipes and writes the log, records the exit
 * status and applies the restart policy. */

#define ENG_LOG_MAX_SIZE_DEFAULT ((int64_t)10 << 20) /* docker's 10m */
#define ENG_LOG_MAX_FILE_DEFAULT 3
#define ENG_LOG_MAX_FILES_LIMIT 20 /* the most --log-opt max-file takes */
/* A longer line is logged in pieces of this size, the last one carrying
 * the newline, as docker's json-file driver does. */
#define ENG_LOG_LINE_MAX 16384

enum eng_restart_kind {
	ENG_RESTART_NO,
	ENG_RESTART_ON_FAILURE,
	ENG_RESTART_ALWAYS,
	ENG_RESTART_UNLESS_STOPPED,
};

struct eng_restart {
	enum eng_restart_kind kind;
	int max; /* on-failure:N; 0: no limit */
};

/* no | on-failure[:N] | always | unless-stopped. -EINVAL naming s. */
int eng_restart_parse(const char *s, struct eng_restart *out, struct berr *err);
/* The text eng_restart_parse() reads back. */
void eng_restart_format(const struct eng_restart *p, char *buf, size_t len);
/* Whether a container that exited with code after restarts restarts
 * (stopped: `stop` asked for it). */
bool eng_restart_wanted(const struct eng_restart *p, int code, int restarts,
			bool stopped);

/* One log record, as JSON without the newline: {"log":TEXT,"stream":
 * STREAM,"time":RFC3339Nano}. Caller frees. */
char *eng_log_record(const char *stream, const char *text, size_t len,
		     const struct timespec *ts);
/* The name of log file n: 0 is "container.log", n "container.log.N". */
void eng_log_file_name(unsigned n, char *buf, size_t len);

/* The log writer: appends records to container.log in dirfd and rotates
 * it (.1 becomes .2, ..., up to max_file files) before a record would
 * take it past max_size. Used by one process at a time. */
struct eng_log_writer {
	int dirfd; /* borrowed */
	int fd;
	int64_t size, max_size;
	int max_file;
};
int eng_log_writer_open(struct eng_log_writer *w, int dirfd, int64_t max_size,
			int max_file, struct berr *err);
int eng_log_write(struct eng_log_writer *w, const char *stream,
		  const char *text, size_t len, struct berr *err);
void eng_log_writer_close(struct eng_log_writer *w);
/* Logs a container's output (out and errfd: the read ends of its stdout
 * and stderr, either -1 when not logged) until it has exited (pidfd, a
 * pidfd of its init, a child of the caller; -1: the caller's only child)
 * and the pipes are drained, 2 s at most after the exit: a process that
 * escaped with the pipe does not keep the caller. Closes the fds and
 * returns the exit code (128 + signal for a signal). */
int eng_log_pump(struct eng_log_writer *w, int out, int errfd, int pidfd);

struct eng_logs_opts {
	bool follow;	  /* until the container has exited and all is read */
	long tail;	  /* the last N lines; < 0: all */
	int64_t since_ns; /* records from this time on (ns since the epoch);
			     0: all */
	/* each record: stream "stdout" or "stderr", the text as logged
	 * (its newline included), time as logged; a negative return
	 * ends it */
	int (*record)(const char *stream, const char *text, size_t len,
		      const char *time, void *data);
	void *data;
};

/* Reads the log of launched container id. -ENOENT ("no such container:
 * ID") when root has no launched container of that name. */
int eng_ctr_logs(const struct rt_ctx *ctx, const char *id,
		 const struct eng_logs_opts *o, struct berr *err);

/* docker's --since: RFC 3339 ("2024-01-02T03:04:05Z", fractions and
 * offsets allowed), Unix seconds ("1700000000.5") or a duration before
 * now ("10s", "5m", "2h", "1h30m"). -EINVAL. */
int eng_parse_since(const char *s, const struct timespec *now, int64_t *ns);

/* Stops the container: marks it stopped (no restart), sends its stop
 * signal (the image's StopSignal, else SIGTERM) through a pidfd, then
 * SIGKILL after timeout seconds, and waits until it has exited and its
 * monitor has recorded it. Stopping a stopped container is no error.
 * -ENOENT for a name that is no launched container. */
int eng_ctr_stop(const struct rt_ctx *ctx, const char *id, int timeout,
		 struct berr *err);
/* Stops it (as eng_ctr_stop) and starts it again from its bundle, with a
 * new monitor: its upper layer, thus the files it wrote, stays. */
int eng_ctr_restart(const struct rt_ctx *ctx, const char *id, int timeout,
		    struct berr *err);
/* Removes it (with force a running one too, killed first): the runtime's
 * delete, then the bundle, endpoint and log (eng_release). */
int eng_ctr_rm(const struct rt_ctx *ctx, const char *id, bool force,
	       struct berr *err);

/* A launched container as `berth containers` shows it. */
struct eng_ctr_info {
	char *id;
	char *image;
	char *command; /* the args joined by spaces, as docker quotes it */
	char *created; /* RFC 3339 */
	int64_t created_s;
	enum oci_status status;
	int exit_code;	    /* stopped: as recorded; -1 unknown */
	int64_t started_s;  /* running: since when; 0 unknown */
	int64_t finished_s; /* stopped: when; 0 unknown */
	int restarts;
	char *restart;	      /* the policy, "no" ... */
	char **ports;	      /* "0.0.0.0:8000->80/tcp" */
	char status_text[64]; /* "Up 5 seconds", "Exited (3) 2 minutes ago" */
};
/* The launched containers of the state root, sorted by id; with all the
 * stopped ones too. now: for status_text. */
int eng_ctr_list(const struct rt_ctx *ctx, bool all, struct eng_ctr_info **out,
		 size_t *n, struct berr *err);
void eng_ctr_info_free(struct eng_ctr_info *v, size_t n);
/* docker's human durations: "Less than a second", "1 second", "5 seconds",
 * "About a minute", "3 minutes", "About an hour", "5 hours", "3 days",
 * "2 weeks", "3 months", "2 years". */
void eng_human_duration(int64_t seconds, char *buf, size_t len);

/* ---- launch: `docker run` without a daemon --------------------------------
 *
 * A container from an image of the store: the image's layers, unpacked
 * once in the store, are the lower layers of an overlayfs whose upper and
 * work directories belong to the container (a full copy where overlayfs
 * is unavailable). The bundle lives in <store>/containers/<id>.<nonce>/
 * (config.json, rootfs/, upper/, work/) and goes with the container: every
 * delete of it, `berth delete` included, unmounts and removes it
 * (eng_release). The
 * config is the image's, with berth's default security profile (Docker's
 * capabilities, its seccomp allow-list, masked and read-only paths,
 * no_new_privs) unless privileged. */
struct eng_launch_opts {
	const char *store; /* the image store; NULL: OCI_STORE_DEFAULT */
	const char *image; /* a reference, id, or archive/layout path */
	const char *name;  /* the container id; NULL: 12 random hex digits */
	struct oci_image_overrides ov; /* entrypoint, args, env, -w, -u */
	bool rm;		       /* remove the container when it exits */
	bool detach;		       /* return once it has started */
	bool tty;		       /* process.terminal */
	char *const *volumes;	       /* HOST:CTR[:ro|:rw] */
	char *const *tmpfs;	       /* CTR[:OPTIONS] */
	bool read_only;		       /* root.readonly */
	bool privileged;	 /* every capability, no seccomp, no masking */
	struct eng_net_opts net; /* network, hostname, ports, names */
	bool publish_all;	 /* -P: the image's ExposedPorts too */
	const char *net_root;	 /* the state root whose networks it joins;
				    NULL: the container's */
	double cpus;		 /* CPU quota in CPUs; 0: none */
	const char *cpuset_cpus;
	int64_t memory;	      /* bytes; 0: none */
	int64_t pids_limit;   /* 0: none */
	char *const *cap_add; /* "NET_ADMIN", "CAP_NET_ADMIN" or "ALL" */
	char *const *cap_drop;
	const char *seccomp;	   /* NULL: default; "unconfined"; a file */
	const char *cgroup_parent; /* cgroupsPath is <parent>/<id>; NULL:
				      berth-<id> below berth's own cgroup */
	/* detached without a monitor: the container's stdio are the
	 * caller's and its init the caller's child, no log, no restart
	 * (job's containers, whose runner waits for them) */
	bool unmonitored;
	/* detached: kept by its monitor (see "containers" above) */
	struct eng_restart restart;
	int64_t log_max_size; /* 0: ENG_LOG_MAX_SIZE_DEFAULT */
	int log_max_file;     /* 0: ENG_LOG_MAX_FILE_DEFAULT */
	/* --init: this static binary (berth-agent) is bind-mounted
	 * read-only as ENG_INIT_PATH and runs as PID 1: `berth-agent init
	 * -- ARGS`, forwarding signals and reaping orphans; NULL: none */
	const char *init;
	const struct eng_ulimit *ulimits; /* process.rlimits; nofile
					     defaults to ENG_NOFILE_DEFAULT */
	size_t n_ulimits;
	/* --label K=V: annotations of config.json (docker's labels); a K of
	 * berth's own (org.berth.) is refused */
	char *const *labels;
	/* a limit lowered to what berth can set: one line for the user;
	 * NULL: none */
	void (*note)(const char *line, void *data);
	void *note_data;
};

/* --ulimit NAME=SOFT[:HARD] (docker's names: nofile, nproc, core, ...;
 * -1 is unlimited). */
struct eng_ulimit {
	int resource; /* RLIMIT_* */
	char name[16];
	uint64_t soft, hard; /* RLIM_INFINITY for -1 */
};
/* -EINVAL naming s: an unknown name, a bad number, soft above hard. */
int eng_ulimit_parse(const char *s, struct eng_ulimit *out, struct berr *err);
/* Lowers u to the hard limit have (berth's own) when it is above and
 * berth cannot raise it (no CAP_SYS_RESOURCE); true when it did. */
bool eng_ulimit_fit(struct eng_ulimit *u, uint64_t have, bool can_raise);
/* docker's nofile for a container: 1048576, soft and hard */
#define ENG_NOFILE_DEFAULT 1048576
/* where --init's binary is in the container (docker's /sbin/docker-init) */
#define ENG_INIT_PATH "/sbin/berth-init"

/* Runs the container. Attached (not detach) it waits, forwarding signals,
 * stores the exit status in *exit_status and, with rm, removes the
 * container; detached, a monitor process runs it, logs its output,
 * applies the restart policy and, with rm, removes it when it exits. *id (may
 * be NULL) receives the container id. Errors leave no state, mount or directory
 * behind. */
int eng_launch(const struct rt_ctx *ctx, const struct eng_launch_opts *o,
	       char **id, int *exit_status, struct berr *err);

/* ---- build: images from Dockerfiles (engine-build*.c) -------------------- */

struct eng_build_opts {
	const char *store;	 /* NULL: OCI_STORE_DEFAULT */
	const char *context;	 /* the build context, a directory */
	const char *file;	 /* NULL: CONTEXT/Dockerfile */
	const char *tag;	 /* NAME[:TAG]; NULL: untagged */
	char *const *build_args; /* K=V (K alone: the caller's value) */
	const char *target;	 /* a stage's name; NULL: the last */
	bool no_cache;
	const char *network;	   /* RUN's: none, host (default) or NAME */
	const char *cgroup_parent; /* RUN containers go below it */
	/* docker's plain progress lines ("#3 [2/5] RUN make", "#3 CACHED",
	 * "#3 DONE 1.2s"); RUN's own output goes to berth's stdout and
	 * stderr */
	void (*progress)(const char *line, void *data);
	/* The same progress as events, for a live display; each may be NULL
	 * and all get data. A step is numbered seq (docker's "#3") and named
	 * as in the plain lines ("[2/5] RUN make"); its events come in order,
	 * start, output, end, from the calling thread. */
	void (*step_start)(unsigned seq, const char *name, void *data);
	/* result: 0 done, 1 cached, a negative errno: failed (the error
	 * eng_build returns says why); secs: how long it took */
	void (*step_end)(unsigned seq, int result, double secs, void *data);
	/* A line of the step's output, without its end of line: notes such
	 * as "pulling busybox" and, when set, RUN's stdout and stderr, which
	 * then go through a pipe instead of being berth's own (and RUN's
	 * stdin is /dev/null, as docker's is). line NULL: no output for
	 * 0.1 s, for a clock to go on. */
	void (*step_output)(unsigned seq, const char *line, void *data);
	void *data;
};

/* Builds the Dockerfile's stages up to the target into images of the
 * store and tags the target's; *image_id gets its id. Errors name the
 * Dockerfile's line ("Dockerfile:7: RUN: exit status 2"). */
int eng_build(const struct rt_ctx *ctx, const struct eng_build_opts *o,
	      char **image_id, struct berr *err);

/* ---- compose (engine-compose*.c, engine-yaml.c) ---------------------------
 */

struct eng_compose_opts {
	char *const *files;	/* -f, merged in order; NULL: compose.yaml, ...
				   of the current directory */
	const char *project;	/* -p; NULL: COMPOSE_PROJECT_NAME, name:, or
				   the directory's name */
	char *const *env_files; /* --env-file, after the project's .env */
};

struct eng_compose;
/* Reads, merges, interpolates and checks the project's files. Errors name
 * the file and the key path ("compose.yaml: services.web.privileged: not
 * supported by berth compose"), or line and column for YAML. */
int eng_compose_load(const struct eng_compose_opts *o, struct eng_compose **out,
		     struct berr *err);
void eng_compose_free(struct eng_compose *c);
static inline void eng_compose_freep(struct eng_compose **c)
{
	eng_compose_free(*c);
}
const char *eng_compose_name(const struct eng_compose *c);
/* Keys read but not applied, one line each. */
char *const *eng_compose_warnings(const struct eng_compose *c);
/* Each service and the image it runs, in the order they start: SERVICE,
 * IMAGE, ..., NULL (base_strv_free). */
char **eng_compose_images(const struct eng_compose *c);
/* The project as YAML, merged and interpolated (compose config). */
int eng_compose_config(const struct eng_compose *c, char **yaml,
		       struct berr *err);

struct eng_compose_up {
	char *const *scale; /* SVC=N */
	bool build;	    /* build every service with `build` first */
	bool detach;
	bool no_start; /* the services wait for `compose start` */
	const char *store, *cgroup_parent, *agent;
	volatile int *stop; /* attached: set by a signal handler */
};
/* Builds the services that need it, makes the project's networks and
 * named volumes, and runs the project as the job <project> (its network
 * <project>_default; service containers SVC.I answer to SVC). */
int eng_compose_up(const struct rt_ctx *ctx, const struct eng_compose *c,
		   const struct eng_compose_up *o, struct berr *err);
/* Stops the project and removes its containers, its job's state and
 * logs, its networks, and with volumes its named volumes. */
int eng_compose_down(const struct rt_ctx *ctx, const struct eng_compose *c,
		     bool volumes, struct berr *err);

/* ---- job: services and worker pools from a job file (prefix eng_job_) ---
 *
 * `berth job` is docker-compose for `berth par`: a job file names groups of
 * containers and the queues between them. A group that "produces" a queue
 * is one container whose stdout lines are the queue's tasks and whose stdin
 * receives the queue's results; a group that "consumes" it is a par pool
 * (dp_par_run) of `count` workers; any other group is a plain service. A
 * queue may have its input in the file instead of a producer; its results
 * then go to a file.
 *
 * A running job lives in <root>/jobs/<name>/: job.json (the file as given),
 * runner.pid, run/<group>/ (the state roots of its containers; a pool's
 * are run/<group>/par-<pid>/), logs/<group>.<i>.out|err (each container's
 * stdout and stderr), logs/<group>.err (a pool's task stderr and warnings)
 * and results/<queue>.out. The runner holds an flock() of the directory
 * for as long as the job runs: that is what "running" means. Once the job
 * ends only job.json, logs/ and results/ remain. Every container goes below
 * the cgroup <cgroup_parent>/berth-job-<name> (cgroup_parent empty: below
 * berth's own), removed at the end. */

/* What a group waits for before it starts (compose's depends_on). */
enum eng_job_cond {
	ENG_DEP_STARTED,   /* the other group's containers were started */
	ENG_DEP_HEALTHY,   /* its health check passed in each of them */
	ENG_DEP_COMPLETED, /* each of them exited 0 */
};

struct eng_job_dep {
	char *group;
	enum eng_job_cond cond;
	int index; /* the group's, once linked */
};

enum eng_job_role {
	ENG_JOB_SERVICE,  /* neither produces nor consumes */
	ENG_JOB_PRODUCER, /* stdout: the queue's tasks; stdin: its results */
	ENG_JOB_CONSUMER, /* a worker pool on the queue */
};

struct eng_job_group {
	char *name;	      /* [A-Za-z0-9][A-Za-z0-9_.-]* */
	char *image, *rootfs; /* exactly one is set */
	char **command;	      /* NULL: the image's */
	int count;	      /* containers (a pool's workers); >= 1 */
	char *cpus;	      /* a CPU list, or NULL */
	int64_t memory;	      /* bytes a container; 0: no limit */
	int64_t pids_limit;   /* a container; 0: no limit */
	char **env;	      /* K=V */
	char **volumes;	      /* HOST:CTR[:ro|:rw] */
	enum dp_mode mode;    /* consumers */
	/* the job's own network (<job>_default) unless network says none,
	 * host or another network's name; the containers answer to the
	 * group's name, to GROUP.I and to aliases there */
	char *network;
	char *hostname; /* services: the host name */
	char **aliases;
	struct eng_port *ports; /* services: -p's */
	size_t n_ports;
	/* services: the process; entrypoint NULL: the image's, else it
	 * (maybe empty) and command after it, as compose runs them */
	char **entrypoint;
	char *workdir, *user;
	char **tmpfs; /* CTR[:OPTIONS] */
	struct eng_job_dep *deps;
	size_t n_deps;
	char **health; /* the health check's command in each container */
	int health_interval_ms, health_retries;
	/* services: launch's --init, --ulimit and --cpus */
	bool init;
	struct eng_ulimit *ulimits;
	size_t n_ulimits;
	double cpu_quota; /* CPUs; 0: none */
	/* services: at the end or a stop, stop_signal (0: SIGTERM) first,
	 * SIGKILL stop_grace_ms later; stop_grace_ms 0: SIGKILL at once */
	int stop_signal;
	int stop_grace_ms;
	/* services: a container that ends by itself before the job does
	 * is started again as docker's policy says (kind NO: never) */
	struct eng_restart restart;
	char **labels; /* services: K=V, launch's --label */
	enum eng_job_role role;
	int queue; /* the queue produced or consumed, -1 */
};

struct eng_job_queue {
	char *name;
	/* the input, when the file gives it: at most one is set */
	char *range;
	char **args;
	char *file;		/* absolute */
	int producer, consumer; /* group indices, -1 */
};

struct eng_job {
	char *name;
	char *store;	     /* NULL: $BERTH_STORE, else OCI_STORE_DEFAULT */
	char *cgroup_parent; /* NULL: below berth's own cgroup */
	char *text;	     /* the file, as read */
	size_t text_len;
	struct eng_job_group *groups;
	size_t ngroups;
	struct eng_job_queue *queues;
	size_t nqueues;
};

/* Parses a job file's text. file names it in messages and gives the
 * default name (its basename without .json) and the directory relative
 * input files are taken from. Every error names the file and the JSON path
 * ("job.json: groups[1].count: expected a positive integer"). Checks
 * everything that needs no system: see eng_job_check() for the rest.
 * Returns 0 and *out (eng_job_free), or -EINVAL. */
int eng_job_parse(const char *text, size_t len, const char *file,
		  struct eng_job **out, struct berr *err);
/* Reads the file and eng_job_parse()s it. */
int eng_job_load(const char *path, struct eng_job **out, struct berr *err);
void eng_job_free(struct eng_job *j);
static inline void eng_job_freep(struct eng_job **j)
{
	eng_job_free(*j);
}

/* What needs the system: the images exist in the store, rootfs
 * directories and volume sources exist, the CPUs are in the allowed set,
 * the agent is there for exec and line mode. file names the job file in
 * messages. */
int eng_job_check(const struct eng_job *j, const char *file, const char *agent,
		  struct berr *err);

struct eng_job_opts {
	const char *file;  /* the job file, for messages */
	const char *agent; /* berth-agent, for exec and line mode pools */
	bool detach;	   /* return once the job runs; the runner goes on
			      in its own session */
	bool no_start;	   /* services wait for `job start` */
	/* set by the caller's signal handler: stop the job */
	volatile int *stop;
};

/* Runs the job: checks it, refuses a name that runs already (-EBUSY),
 * starts every group and waits until every producer has exited and every
 * queue is drained; then stops the services, removes every container,
 * cgroup and the state, and keeps the logs. Returns 0 when every group
 * succeeded; -EIO with err naming the first group that failed (a
 * container that exited non-zero, a pool with failed tasks or that could
 * not run); -EINTR when *stop ended it; another -errno when the job could
 * not start (nothing is left behind then). With detach, returns 0 once
 * every container has been started by the runner, a grandchild in its own
 * session. */
int eng_job_run(const struct rt_ctx *ctx, const struct eng_job *j,
		const struct eng_job_opts *o, struct berr *err);

/* Signals the job's runner to stop (SIGTERM through a pidfd) and waits
 * until it has removed everything. -ESRCH when the job does not run. */
int eng_job_stop(const struct rt_ctx *ctx, const char *name, struct berr *err);

/* Removes what a job that ended left: its logs, results and job.json.
 * -EBUSY when it runs, -ENOENT when there is nothing. */
int eng_job_rm(const struct rt_ctx *ctx, const char *name, struct berr *err);

struct eng_job_entry {
	char *group;
	char *id;   /* the container's id under root */
	char *root; /* its state root (for `berth --root ROOT ...`) */
	enum oci_status status;
	pid_t pid;
	char *cpus;		   /* its cpuset, NULL when not pinned */
	char ip[INET6_ADDRSTRLEN]; /* its address on its network, or "" */
	int exit_code;		   /* one that ended (-a): its status; or -1 */
};

/* The containers of a running job, group by group in the file's order,
 * with all those that ended too (status stopped, exit_code); without all,
 * -ESRCH when it does not run. */
int eng_job_ps(const struct rt_ctx *ctx, const char *name, bool all,
	       struct eng_job_entry **out, size_t *n, struct berr *err);
void eng_job_entries_free(struct eng_job_entry *v, size_t n);

struct eng_job_logs_opts {
	char *const *groups; /* NULL-terminated; NULL or empty: all */
	bool follow;	  /* until the runner has ended; containers that start
			     meanwhile (a scale, a restart) are followed too */
	long tail;	  /* the last N lines of each container; < 0: all */
	int64_t since_ns; /* records from this time on; 0: all */
	/* each record, as eng_logs_opts's, with the label of the container
	 * ("workers.0"); a pool's lines have no time (""). A negative
	 * return ends it. */
	int (*record)(const char *label, const char *stream, const char *text,
		      size_t len, const char *time, void *data);
	void *data;
};

/* Reads the job's logs: a service's container's (logs/<id>/, the format
 * of `berth logs`), then a pool's workers' and its own, in the order of
 * the groups and of their containers. */
int eng_job_logs(const struct rt_ctx *ctx, const char *name,
		 const struct eng_job_logs_opts *o, struct berr *err);

/* Whether the job's runner runs (holds the job directory's lock). */
bool eng_job_running(const struct rt_ctx *ctx, const char *name);

/* Asks the runner of a job to scale service group to n containers (the
 * new ones start, the highest numbers stop and go), to stop a service
 * group (NULL: every service; grace_s < 0: the group's grace period)
 * and keep it stopped, answered once its containers have ended, or to
 * start what was stopped (`--no-start` too). -ESRCH when the job does
 * not run; -EINVAL for a group with a queue. */
int eng_job_scale(const struct rt_ctx *ctx, const char *name, const char *group,
		  int n, struct berr *err);
int eng_job_stop_group(const struct rt_ctx *ctx, const char *name,
		       const char *group, int grace_s, struct berr *err);
int eng_job_start_group(const struct rt_ctx *ctx, const char *name,
			const char *group, struct berr *err);

struct eng_job_one {
	const char *group;
	char *const *args; /* NULL or empty: the group's command */
	bool tty;
	const char *agent; /* berth-agent, for the group's init */
};
/* Runs a one-off container of a running job's service group, as compose
 * run does: the group's image, settings and network, attached, removed
 * at its end; *status is its exit status. */
int eng_job_run_one(const struct rt_ctx *ctx, const char *name,
		    const struct eng_job_one *o, int *status, struct berr *err);

#endif
