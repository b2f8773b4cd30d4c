/* berth launch [options] IMAGE [COMMAND [ARG...]]: docker run without a
 * daemon. The flags are docker run's; the work is eng_launch(). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

struct launch_flags {
	char **env, **env_files, **volumes, **tmpfs, **cap_add, **cap_drop,
		**security_opts, **publish, **aliases, **add_hosts, **dns,
		**dns_search;
	struct eng_port *ports;
	const char *cpus, *memory, *pids_limit, *network, *entrypoint, *restart;
	char **log_opts, **ulimit_strs, **labels;
	struct eng_ulimit *ulimits;
	bool interactive, init;
	char *agent; /* --init's */
	struct eng_launch_opts o;
	char **env_all; /* what o.ov.env points at */
};

static void launch_flags_free(struct launch_flags *f)
{
	base_strv_free(f->env);
	base_strv_free(f->env_files);
	base_strv_free(f->volumes);
	base_strv_free(f->tmpfs);
	base_strv_free(f->cap_add);
	base_strv_free(f->cap_drop);
	base_strv_free(f->security_opts);
	base_strv_free(f->env_all);
	base_strv_free(f->publish);
	base_strv_free(f->aliases);
	base_strv_free(f->add_hosts);
	base_strv_free(f->dns);
	base_strv_free(f->dns_search);
	base_strv_free(f->log_opts);
	base_strv_free(f->ulimit_strs);
	base_strv_free(f->labels);
	free(f->ulimits);
	free(f->agent);
	free(f->ports);
}

/* K=V as it is; K alone takes the caller's value, or nothing when the
 * caller has none (docker's -e K). */
static void push_env(char ***v, const char *kv)
{
	if (strchr(kv, '=')) {
		base_strv_push(v, kv);
		return;
	}
	const char *val = getenv(kv);
	if (val) {
		_cleanup_free_ char *s = base_sprintf("%s=%s", kv, val);
		base_strv_push(v, s);
	}
}

/* docker's env file: K=V lines; blank lines and # comments skipped. */
static int read_env_file(const char *path, char ***v)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return cli_error("launch: --env-file %s: %s", path,
				 strerror(errno));
	char line[8192];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *s = line + strspn(line, " \t");
		if (*s == '\0' || *s == '#')
			continue;
		if (*s == '=')
			return cli_error("launch: --env-file %s: `%s`: no "
					 "variable name",
					 path, s);
		push_env(v, s);
	}
	return CLI_CONTINUE;
}

static int parse_env(struct launch_flags *f)
{
	for (size_t i = 0; f->env_files && f->env_files[i]; i++) {
		int r = read_env_file(f->env_files[i], &f->env_all);
		if (r != CLI_CONTINUE)
			return r;
	}
	for (size_t i = 0; f->env && f->env[i]; i++)
		push_env(&f->env_all, f->env[i]);
	f->o.ov.env = f->env_all;
	return CLI_CONTINUE;
}

static int parse_security_opts(struct launch_flags *f)
{
	for (size_t i = 0; f->security_opts && f->security_opts[i]; i++) {
		const char *s = f->security_opts[i];
		if (!strncmp(s, "seccomp=", 8) || !strncmp(s, "seccomp:", 8))
			f->o.seccomp = s + 8;
		else if (strcmp(s, "no-new-privileges") &&
			 strcmp(s, "no-new-privileges=true") &&
			 strcmp(s, "no-new-privileges:true"))
			return cli_error("launch: --security-opt `%s`: only "
					 "seccomp=unconfined|FILE and "
					 "no-new-privileges are supported",
					 s);
	}
	return CLI_CONTINUE;
}

static int parse_limits(struct launch_flags *f)
{
	struct eng_launch_opts *o = &f->o;
	if (f->cpus) {
		char *end;
		o->cpus = strtod(f->cpus, &end);
		if (end == f->cpus || *end || !(o->cpus > 0) || o->cpus > 1e6)
			return cli_error("launch: --cpus `%s`: expected a "
					 "positive number",
					 f->cpus);
	}
	if (f->memory && cli_parse_size(f->memory, &o->memory) < 0)
		return cli_error("launch: --memory `%s`: expected a size "
				 "such as 64m or 1g",
				 f->memory);
	if (f->pids_limit) {
		int v;
		if (base_parse_int(f->pids_limit, &v) < 0 || v < 1)
			return cli_error("launch: --pids-limit `%s`: expected "
					 "a positive number",
					 f->pids_limit);
		o->pids_limit = v;
	}
	return CLI_CONTINUE;
}

static int parse_network(struct launch_flags *f)
{
	struct eng_net_opts *n = &f->o.net;
	n->mode = f->network;
	n->aliases = f->aliases;
	n->add_hosts = f->add_hosts;
	n->dns = f->dns;
	n->dns_search = f->dns_search;
	for (size_t i = 0; f->publish && f->publish[i]; i++) {
		struct berr err = {0};
		if (eng_port_parse(f->publish[i], &f->ports, &n->n_ports,
				   &err) < 0)
			return cli_error("launch: %s", err.msg);
	}
	n->ports = f->ports;
	return CLI_CONTINUE;
}

/* --restart and --log-opt max-size=SIZE|max-file=N (json-file's). */
static int parse_keeping(struct launch_flags *f)
{
	struct berr err = {0};
	if (eng_restart_parse(f->restart, &f->o.restart, &err) < 0)
		return cli_error("launch: %s", err.msg);
	if (f->restart && f->o.restart.kind != ENG_RESTART_NO && !f->o.detach)
		return cli_error("launch: --restart needs -d (a detached "
				 "container is kept by its monitor)");
	if (f->o.restart.kind != ENG_RESTART_NO && f->o.rm)
		return cli_error("launch: --restart and --rm conflict (as "
				 "docker's do)");
	for (size_t i = 0; f->log_opts && f->log_opts[i]; i++) {
		const char *s = f->log_opts[i];
		int n;
		if (!strncmp(s, "max-size=", 9) &&
		    cli_parse_size(s + 9, &f->o.log_max_size) == 0)
			continue;
		if (!strncmp(s, "max-file=", 9) &&
		    base_parse_int(s + 9, &n) == 0 && n >= 1 &&
		    n <= ENG_LOG_MAX_FILES_LIMIT) {
			f->o.log_max_file = n;
			continue;
		}
		return cli_error("launch: --log-opt `%s`: expected "
				 "max-size=SIZE or max-file=N (1..%d)",
				 s, ENG_LOG_MAX_FILES_LIMIT);
	}
	return CLI_CONTINUE;
}

static void print_note(const char *line, void *data)
{
	fprintf(stderr, "berth: note: %s\n", line);
}

static int parse_ulimits(struct launch_flags *f)
{
	size_t n = base_strv_len(f->ulimit_strs);
	f->ulimits = n ? base_calloc(n, sizeof(*f->ulimits)) : NULL;
	for (size_t i = 0; i < n; i++) {
		struct berr err = {0};
		if (eng_ulimit_parse(f->ulimit_strs[i], &f->ulimits[i], &err) <
		    0)
			return cli_error("launch: %s", err.msg);
	}
	f->o.ulimits = f->ulimits;
	f->o.n_ulimits = n;
	f->o.note = print_note;
	return CLI_CONTINUE;
}

static int finish_flags(struct cli *cli, struct launch_flags *f)
{
	if (cli->nargs < 1)
		return cli_error("launch: an image is required (usage: berth "
				 "launch [options] IMAGE [COMMAND [ARG...]])");
	f->o.image = cli->args[0];
	f->o.ov.args = cli->nargs > 1 ? cli->args + 1 : NULL;
	f->o.ov.entrypoint = f->entrypoint;
	f->o.volumes = f->volumes;
	f->o.tmpfs = f->tmpfs;
	f->o.cap_add = f->cap_add;
	f->o.cap_drop = f->cap_drop;
	if (!f->o.store || !f->o.store[0])
		f->o.store = getenv("BERTH_STORE");
	int r = parse_env(f);
	if (r == CLI_CONTINUE)
		r = parse_security_opts(f);
	if (r == CLI_CONTINUE)
		r = parse_limits(f);
	if (r == CLI_CONTINUE)
		r = parse_network(f);
	if (r == CLI_CONTINUE)
		r = parse_keeping(f);
	if (r == CLI_CONTINUE)
		r = parse_ulimits(f);
	if (f->init)
		f->o.init = f->agent = cli_agent_path();
	f->o.labels = f->labels;
	return r;
}

/* docker run gives the container no stdin unless -i. */
static int detach_stdin(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || dup2(fd, 0) < 0)
		return cli_error("launch: open /dev/null: %s", strerror(errno));
	if (fd != 0)
		close(fd);
	return CLI_CONTINUE;
}

int cli_cmd_launch(struct cli *cli, int argc, char **argv)
{
	struct launch_flags f = {0};
	struct eng_launch_opts *o = &f.o;
	const struct cli_opt opts[] = {
		{"rm", NULL, CLI_BOOL, &o->rm, NULL,
		 "remove the container when it exits"},
		{"detach", "d", CLI_BOOL, &o->detach, NULL,
		 "run in the background and print the container id"},
		{"name", NULL, CLI_STR, &o->name, "NAME",
		 "the container id (default: 12 random hex digits)"},
		{"env", "e", CLI_STRV, &f.env, "K=V", "set a variable"},
		{"env-file", NULL, CLI_STRV, &f.env_files, "FILE",
		 "read K=V lines from FILE"},
		{"workdir", "w", CLI_STR, &o->ov.workdir, "DIR",
		 "working directory inside the container"},
		{"user", "u", CLI_STR, &o->ov.user, "USER[:GROUP]",
		 "user and group, names or numbers"},
		{"volume", "v", CLI_STRV, &f.volumes, "HOST:CTR[:ro]",
		 "bind-mount a host path"},
		{"tmpfs", NULL, CLI_STRV, &f.tmpfs, "CTR[:OPTS]",
		 "mount a tmpfs"},
		{"read-only", NULL, CLI_BOOL, &o->read_only, NULL,
		 "mount the root filesystem read-only"},
		{"cpus", NULL, CLI_STR, &f.cpus, "N", "CPU quota, in CPUs"},
		{"cpuset-cpus", NULL, CLI_STR, &o->cpuset_cpus, "LIST",
		 "CPUs the container may use"},
		{"memory", "m", CLI_STR, &f.memory, "SIZE", "memory limit"},
		{"pids-limit", NULL, CLI_STR, &f.pids_limit, "N",
		 "process limit"},
		{"network", NULL, CLI_STR, &f.network,
		 "none|host|bridge|NAME|container:ID|ns:PATH|cni:NAME",
		 "the container's network (default none: loopback only)"},
		{"publish", "p", CLI_STRV, &f.publish, "[IP:]HOST:CTR[/udp]",
		 "publish a container port on the host"},
		{"publish-all", "P", CLI_BOOL, &o->publish_all, NULL,
		 "publish the image's exposed ports on free host ports"},
		{"ip", NULL, CLI_STR, &o->net.ip, "IP",
		 "the container's IPv4 address on its network"},
		{"ip6", NULL, CLI_STR, &o->net.ip6, "IP",
		 "the container's IPv6 address on its network"},
		{"mac-address", NULL, CLI_STR, &o->net.mac, "MAC",
		 "the container's MAC address"},
		{"network-alias", NULL, CLI_STRV, &f.aliases, "NAME",
		 "another name of the container on its network"},
		{"add-host", NULL, CLI_STRV, &f.add_hosts, "NAME:IP",
		 "a line of /etc/hosts"},
		{"dns", NULL, CLI_STRV, &f.dns, "IP", "a nameserver"},
		{"dns-search", NULL, CLI_STRV, &f.dns_search, "DOMAIN",
		 "a search domain"},
		{"cap-add", NULL, CLI_STRV, &f.cap_add, "CAP",
		 "add a capability (or ALL)"},
		{"cap-drop", NULL, CLI_STRV, &f.cap_drop, "CAP",
		 "drop a capability (or ALL)"},
		{"security-opt", NULL, CLI_STRV, &f.security_opts, "OPT",
		 "seccomp=unconfined|FILE"},
		{"privileged", NULL, CLI_BOOL, &o->privileged, NULL,
		 "every capability, no seccomp, no masked paths"},
		{"hostname", NULL, CLI_STR, &o->net.hostname, "NAME",
		 "the container's host name"},
		{"interactive", "i", CLI_BOOL, &f.interactive, NULL,
		 "keep stdin open"},
		{"tty", "t", CLI_BOOL, &o->tty, NULL, "allocate a terminal"},
		{"entrypoint", NULL, CLI_STR, &f.entrypoint, "CMD",
		 "replace the image's entrypoint (\"\" clears it)"},
		{"store", NULL, CLI_STR, &o->store, "DIR",
		 "image store (default $BERTH_STORE or " OCI_STORE_DEFAULT ")"},
		{"cgroup-parent", NULL, CLI_STR, &o->cgroup_parent, "PATH",
		 "cgroup the container's goes below"},
		{"restart", NULL, CLI_STR, &f.restart,
		 "no|on-failure[:N]|always|unless-stopped",
		 "restart the detached container when it exits"},
		{"log-opt", NULL, CLI_STRV, &f.log_opts,
		 "max-size=S|max-file=N",
		 "the detached container's log: rotate at S (default 10m), "
		 "keep N files (default 3)"},
		{"init", NULL, CLI_BOOL, &f.init, NULL,
		 "run a tiny init (berth-agent, as " ENG_INIT_PATH
		 ") as PID 1: it forwards signals and reaps orphans"},
		{"ulimit", NULL, CLI_STRV, &f.ulimit_strs, "NAME=SOFT[:HARD]",
		 "a resource limit (default nofile=1048576, or berth's hard "
		 "limit)"},
		{"label", "l", CLI_STRV, &f.labels, "KEY=VALUE",
		 "a label (an annotation of config.json, shown by state)"},
		CLI_OPT_END,
	};
	int r = cli_parse(cli, opts, CLI_STOP_AT_ARG, argc, argv);
	if (r == CLI_CONTINUE)
		r = finish_flags(cli, &f);
	if (r == CLI_CONTINUE && !f.interactive)
		r = detach_stdin();
	if (r != CLI_CONTINUE) {
		launch_flags_free(&f);
		return r;
	}
	struct berr err = {0};
	int status = 0;
	_cleanup_free_ char *id = NULL;
	r = eng_launch(&cli->ctx, o, &id, &status, &err);
	launch_flags_free(&f);
	if (r < 0)
		return cli_fail(r, &err);
	if (o->detach) {
		printf("%s\n", id);
		return 0;
	}
	return status;
}
