# docker-env.sh: a private dockerd for the benchmarks, through the
# integration tests' docker.sh. Source it with TDIR set (a scratch dir the
# caller removes); then bench_docker_start imports the busybox rootfs as
# berth-mini:latest and sets DOCKER_OK=1 when the daemon runs (else
# DOCKER_WHY says why; DOCKERD_NETNS: see docker.sh), and
# bench_docker_stop stops it by its pid.
here_bench=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export IT_TOKEN=bench$$ IT_LIB_DIR=$here_bench/integration
: >"$TDIR/.defer"
skip() { echo "docker: skipped: $*" >&2; DOCKER_OK=0; return 1; }
fail() { echo "docker: $*" >&2; DOCKER_OK=0; return 1; }
defer() { echo "$*" >>"$TDIR/.defer"; }
# shellcheck source=../integration/stop-pid.sh
. "$here_bench/integration/stop-pid.sh"
# shellcheck source=../integration/docker.sh
. "$here_bench/integration/docker.sh"

bench_docker_start() {
	DOCKER_OK=1
	dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q "install ok installed" ||
		sh "$here_bench/deps.sh" docker.io >/dev/null 2>&1
	docker_setup 2>"$TDIR/.docker-why" || DOCKER_OK=0
	# why it could not be had, for the report
	DOCKER_WHY=$(tail -n 1 "$TDIR/.docker-why" | sed "s/^docker: \(skipped: \)\{0,1\}//")
}

# bench_berth_clean: deletes every berth container of the bench's state
# root ($TDIR/state), then stops the private dockerd and removes $TDIR:
# what each bench's EXIT trap does.
bench_berth_clean() {
	local id
	for id in $("$BERTH" --root "$TDIR/state" list -q 2>/dev/null); do
		"$BERTH" --root "$TDIR/state" delete -f "$id" >/dev/null 2>&1
	done
	bench_docker_stop
	rm -rf "$TDIR"
	return 0
}

bench_docker_stop() {
	docker_teardown >/dev/null 2>&1
	find /sys/fs/cgroup -depth -type d -name "berth-test-$IT_TOKEN" \
		-exec rmdir {} + 2>/dev/null
	return 0
}
