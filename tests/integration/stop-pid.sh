# stop_pid, for the daemons a test or a benchmark started: shared by the
# integration tests (lib.sh) and tests/bench/docker-env.sh.
# stop_pid PID [SECONDS]: SIGTERM, up to SECONDS (10) for it to go, then
# SIGKILL. For the daemons a test started, which it stops by their pid.
stop_pid() {
	local pid=$1 n=0 max=$((${2:-10} * 10))
	kill -TERM "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null && [ $n -lt $max ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}
