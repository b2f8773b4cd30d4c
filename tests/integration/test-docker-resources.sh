# docker's resource flags through the runtime under test (see docker.sh):
# each limit read back from the container's own cgroup files, then
# `docker update`, pause/unpause, stats and top. Skipped when dockerd
# cannot be installed or started. IT_DOCKER_RUNTIMES="runc berth" also
# runs the checks with docker's own runc.
IT_TIMEOUT=240
IT_KILL_AFTER=40
source "$IT_LIB_DIR/docker.sh"

# dk_cg_file NAME CONTROLLER FILE: FILE in the v1 group of the container's
# init (v2: the unified group, CONTROLLER ignored).
dk_cg_file() {
	local pid path
	pid=$(dk inspect -f '{{.State.Pid}}' "$1")
	[ -n "$pid" ] && [ "$pid" != 0 ] || fail "no pid for container $1"
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		path=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
		echo "/sys/fs/cgroup$path/$3"
		return
	fi
	path=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$pid/cgroup")
	[ -n "$path" ] || fail "container $1: no v1 $2 hierarchy"
	echo "/sys/fs/cgroup/$2$path/$3"
}

# dk_cg NAME CONTROLLER V1-FILE V2-FILE: the file's content.
dk_cg() {
	local f=$3
	[ -f /sys/fs/cgroup/cgroup.controllers ] && f=$4
	cat "$(dk_cg_file "$1" "$2" "$f")" 2>/dev/null
}

docker_resource_checks() {
	local rt=$1 r name
	r=(--runtime="$rt" --network=none)
	name=$IT_TOKEN-res-$rt

	run dk run -d --name "$name" "${r[@]}" -m 64m --pids-limit 32 \
		--cpus 0.5 --cpuset-cpus 0 berth-mini /probe sleep 120
	assert_eq "$RC" 0 "[$rt] docker run with limits: $(last_line "$ERR")"
	assert_eq "$(dk_cg "$name" memory memory.limit_in_bytes memory.max)" \
		67108864 "[$rt] -m 64m"
	assert_eq "$(dk_cg "$name" pids pids.max pids.max)" 32 "[$rt] --pids-limit 32"
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		assert_eq "$(dk_cg "$name" cpu - cpu.max)" "50000 100000" "[$rt] --cpus 0.5"
	else
		assert_eq "$(dk_cg "$name" cpu cpu.cfs_quota_us -)" 50000 "[$rt] --cpus 0.5 (quota)"
		assert_eq "$(dk_cg "$name" cpu cpu.cfs_period_us -)" 100000 "[$rt] --cpus 0.5 (period)"
	fi
	assert_eq "$(dk_cg "$name" cpuset cpuset.cpus cpuset.cpus)" 0 "[$rt] --cpuset-cpus 0"

	# docker sets memory+swap to twice the memory: raise both
	assert_ok dk update -m 128m --memory-swap 256m "$name"
	assert_eq "$(dk_cg "$name" memory memory.limit_in_bytes memory.max)" \
		134217728 "[$rt] docker update -m 128m"
	assert_ok dk update --pids-limit 64 --cpus 1 "$name"
	assert_eq "$(dk_cg "$name" pids pids.max pids.max)" 64 "[$rt] docker update --pids-limit 64"
	assert_eq "$(dk inspect -f '{{.HostConfig.Memory}}' "$name")" 134217728 \
		"[$rt] memory in docker inspect"

	assert_ok dk pause "$name"
	assert_eq "$(dk inspect -f '{{.State.Status}}' "$name")" paused "[$rt] docker pause"
	assert_eq "$(dk_cg "$name" freezer freezer.state cgroup.freeze)" \
		"$( [ -f /sys/fs/cgroup/cgroup.controllers ] && echo 1 || echo FROZEN)" \
		"[$rt] frozen cgroup"
	assert_ok dk unpause "$name"
	assert_eq "$(dk inspect -f '{{.State.Status}}' "$name")" running "[$rt] docker unpause"

	assert_ok dk stats --no-stream --format '{{.Name}} {{.MemUsage}} {{.PIDs}}' "$name"
	assert_match "$OUT" "^$name [0-9.]+[KMG]?i?B / 128MiB 1$" "[$rt] docker stats"

	assert_ok dk top "$name"
	assert_contains "$OUT" "/probe sleep 120" "[$rt] docker top"

	assert_ok dk rm -f "$name"
	assert_eq "$(dk ps -aq)" "" "[$rt] containers left in docker"
}

t_docker_resources() {
	local rt
	trap docker_teardown EXIT
	trap 'exit 143' TERM
	docker_setup
	for rt in ${IT_DOCKER_RUNTIMES:-berth}; do
		docker_resource_checks "$rt"
	done
}
