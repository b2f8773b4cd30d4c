/* berth spec [--bundle DIR] [--rootless]: writes a default config.json. */
#include <fcntl.h>
#include <string.h>

#include "cli/cli.h"

int cli_cmd_spec(struct cli *cli, int argc, char **argv)
{
	const char *bundle = ".";
	bool rootless = false;
	const struct cli_opt opts[] = {
		{"bundle", "b", CLI_STR, &bundle, "DIR",
		 "directory to write config.json in (default .)"},
		{"rootless", NULL, CLI_BOOL, &rootless, NULL,
		 "a config for an unprivileged user"},
		CLI_OPT_END,
	};
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	if (cli->nargs > 0)
		return cli_error("spec: unexpected argument \"%s\"",
				 cli->args[0]);

	_cleanup_free_ char *json =
		oci_spec_default(rootless, getuid(), getgid());
	if (!json)
		return cli_error("spec: %s", strerror(ENOMEM));
	_cleanup_free_ char *path = base_sprintf("%s/config.json", bundle);
	_cleanup_close_ int fd = open(
		path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666);
	if (fd < 0 && errno == EEXIST)
		return cli_error("File config.json exists. Remove it first.");
	if (fd < 0)
		return cli_error("open %s: %s", path, strerror(errno));
	size_t len = strlen(json);
	r = base_write_all(fd, json, len);
	if (r >= 0 && (len == 0 || json[len - 1] != '\n'))
		r = base_write_all(fd, "\n", 1);
	if (r < 0)
		return cli_error("write %s: %s", path, strerror(-r));
	return 0;
}
