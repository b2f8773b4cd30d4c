# docker with the runtime under test (see docker.sh). Skipped when dockerd
# cannot be installed or started. IT_DOCKER_RUNTIMES="runc berth" also runs
# the checks with docker's own runc, which proves the checks right.
IT_TIMEOUT=240
IT_KILL_AFTER=40
source "$IT_LIB_DIR/docker.sh"

t_docker() {
	local rt
	trap docker_teardown EXIT
	trap 'exit 143' TERM
	docker_setup
	for rt in ${IT_DOCKER_RUNTIMES:-berth}; do
		docker_checks "$rt"
	done
}
