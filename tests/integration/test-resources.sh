# Cgroup limits: linux.resources at create, the device rules every
# container gets, and `update` on a running container.

# cg_file ID CONTROLLER FILE: the path of FILE in the container's v1 group.
cg_file() {
	local pid path
	pid=$(pid_of "$1")
	path=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$pid/cgroup")
	[ -n "$path" ] || skip "no v1 $2 hierarchy on this host"
	echo "/sys/fs/cgroup/$2$path/$3"
}

t_update_memory_and_cpu_flags() {
	local id f
	id=$(new_id upd)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	f=$(cg_file "$id" memory memory.limit_in_bytes)
	assert_ok rt update --memory 64m "$id"
	assert_eq "$(cat "$f")" 67108864 "memory limit after update --memory 64m"
	assert_ok rt update --memory 96MiB "$id"
	assert_eq "$(cat "$f")" 100663296 "memory limit after update --memory 96MiB"
	assert_ok rt update --memory 1.5g "$id"
	assert_eq "$(cat "$f")" 1610612736 "memory limit after update --memory 1.5g"
	assert_ok rt update --memory 64m "$id"
	assert_ok rt update --cpu-share 512 --cpu-quota 50000 --cpu-period 100000 \
		--pids-limit 20 "$id"
	assert_eq "$(cat "$(cg_file "$id" cpu cpu.shares)")" 512 "cpu.shares"
	assert_eq "$(cat "$(cg_file "$id" cpu cpu.cfs_quota_us)")" 50000 "cfs quota"
	assert_eq "$(cat "$(cg_file "$id" cpu cpu.cfs_period_us)")" 100000 "cfs period"
	assert_eq "$(cat "$(cg_file "$id" pids pids.max)")" 20 "pids.max"
	# the earlier memory limit stays
	assert_eq "$(cat "$f")" 67108864 "memory limit after a cpu update"
}

t_update_resources_from_stdin() {
	local id
	id=$(new_id updin)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	run rt update --resources - "$id" <<-'EOF'
	{"memory": {"limit": 100663296, "reservation": 50331648},
	 "cpu": {"shares": 256}, "pids": {"limit": 33}}
	EOF
	assert_eq "$RC" 0 "update --resources -: $(last_line "$ERR")"
	assert_eq "$(cat "$(cg_file "$id" memory memory.limit_in_bytes)")" 100663296 "memory limit"
	assert_eq "$(cat "$(cg_file "$id" memory memory.soft_limit_in_bytes)")" 50331648 "soft limit"
	assert_eq "$(cat "$(cg_file "$id" cpu cpu.shares)")" 256 "cpu.shares"
	assert_eq "$(cat "$(cg_file "$id" pids pids.max)")" 33 "pids.max"
}

t_update_refuses_bad_values() {
	berth_only "berth checks values before writing and names the field"
	local id f
	id=$(new_id updbad)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	f=$(cg_file "$id" memory memory.limit_in_bytes)
	assert_ok rt update --memory 64m "$id"
	assert_fail_with "linux.resources.memory.swap (1048576) must be >= memory.limit (134217728)" \
		rt update --memory 128m --memory-swap 1m "$id"
	assert_eq "$(cat "$f")" 67108864 "memory limit after a refused update"
	assert_fail_with "invalid value \"lots\" for --memory" rt update --memory lots "$id"
	assert_fail_with "container does not exist" rt update --memory 64m "$IT_TOKEN-none"
}

t_create_applies_resources() {
	local id
	id=$(new_id res)
	mkbundle "$id"
	cfg "$id" '.linux.resources += {memory: {limit: 67108864, swap: 134217728,
		reservation: 33554432}, cpu: {shares: 300, quota: 20000, period: 100000},
		pids: {limit: 40}}'
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	assert_eq "$(cat "$(cg_file "$id" memory memory.limit_in_bytes)")" 67108864 "memory limit"
	assert_eq "$(cat "$(cg_file "$id" memory memory.soft_limit_in_bytes)")" 33554432 "soft limit"
	local sw
	sw=$(cg_file "$id" memory memory.memsw.limit_in_bytes)
	[ -e "$sw" ] && assert_eq "$(cat "$sw")" 134217728 "memsw limit"
	assert_eq "$(cat "$(cg_file "$id" cpu cpu.shares)")" 300 "cpu.shares"
	assert_eq "$(cat "$(cg_file "$id" cpu cpu.cfs_quota_us)")" 20000 "cfs quota"
	assert_eq "$(cat "$(cg_file "$id" pids pids.max)")" 40 "pids.max"
}

t_create_refuses_bad_resources() {
	local id
	id=$(new_id resbad)
	mkbundle "$id"
	cfg "$id" '.linux.resources.memory = {limit: 134217728, swap: 67108864}'
	run create "$id"
	assert_eq "$RC" 1 "create with swap < limit"
	if [ "$IT_IS_BERTH" = 1 ]; then
		assert_contains "$(last_line "$(cat "$TDIR/$id.err")")" \
			"linux.resources.memory.swap (67108864) must be >= memory.limit (134217728)"
	fi
	assert_gone "$id"
}

# Everything is denied but the standard devices and what the config allows.
t_device_rules_default_deny() {
	local id
	id=$(new_id devs)
	mkbundle "$id"
	[ -c /dev/kmsg ] || skip "no /dev/kmsg on the host"
	add_mount "$id" '{"destination": "/dev/kmsg", "type": "bind",
		"source": "/dev/kmsg", "options": ["bind"]}'
	set_args "$id" /bin/sh -c '/probe write /dev/null; /probe read /dev/kmsg'
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$OUT" "$(printf 'ok\nEPERM')" "/dev/null allowed, /dev/kmsg denied"
}

# 50 containers run at once below adv/, which none of them found: every
# run succeeds, and the last one out removes adv/ in every hierarchy, the
# group berth made, without failing a sibling that is being created.
t_concurrent_runs_remove_the_parent_they_made() {
	berth_only "runc leaves the parents it made"
	local i id pids=() left
	for i in $(seq 50); do
		id=$(new_id "adv$i")
		mkbundle "$id"
		cfg "$id" '.linux.cgroupsPath = $p' --arg p "berth-test-$IT_TOKEN/adv/c$i"
	done
	for i in $(seq 50); do
		id="$IT_TOKEN-adv$i"
		rt run --bundle "$(bundle_of "$id")" "$id" </dev/null \
			>"$TDIR/$id.out" 2>"$TDIR/$id.err" &
		pids+=($!)
	done
	for i in $(seq 50); do
		wait "${pids[$((i - 1))]}" ||
			fail "run $i: exit $?: $(last_line "$(cat "$TDIR/$IT_TOKEN-adv$i.err")")"
	done
	left=$(find /sys/fs/cgroup -type d -path "*/berth-test-$IT_TOKEN/adv" | head -n 3)
	[ -z "$left" ] || fail "parent left after every run ended: $left"
}

# A container's cgroup that is already frozen would stop the init as it
# joins: create refuses it at once, as runc does, and leaves the frozen
# process and its cgroup alone.
t_frozen_cgroup_refused() {
	local id d f sleeper
	id=$(new_id frozen)
	mkbundle "$id"
	d=$(jq -r .linux.cgroupsPath "$(bundle_of "$id")/config.json")
	if [ -d /sys/fs/cgroup/freezer ]; then
		f=/sys/fs/cgroup/freezer/$d
		mkdir -p "$f"
		sleep 60 &
		sleeper=$!
		echo "$sleeper" >"$f/tasks"
		echo FROZEN >"$f/freezer.state"
	else
		f=/sys/fs/cgroup/$d
		mkdir -p "$f"
		sleep 60 &
		sleeper=$!
		echo "$sleeper" >"$f/cgroup.procs"
		echo 1 >"$f/cgroup.freeze"
	fi
	set_args "$id" /bin/true
	run timeout 10 "$BERTH" --root "$ROOT" run -d --bundle "$(bundle_of "$id")" "$id"
	local rc=$RC
	# thaw and stop the sleeper before judging, so nothing stays frozen
	echo THAWED >"$f/freezer.state" 2>/dev/null || echo 0 >"$f/cgroup.freeze"
	kill "$sleeper"
	wait "$sleeper" 2>/dev/null
	sleep 0.1
	rmdir "$f" || fail "the test's own cgroup $f could not be removed"
	[ "$rc" != 124 ] || fail "run -d in a frozen cgroup hung"
	[ "$rc" != 0 ] || fail "run -d in a frozen cgroup succeeded"
	assert_contains "$(last_line "$ERR")" "$(berth_or "is frozen: thaw it" "frozen")" "error"
	assert_gone "$id"
	[ -e "$ROOT/$id" ] && fail "state dir of $id left"
	return 0
}

# Processes already in the container's cgroup are someone else's: create
# warns, and a create that fails later kills none of them.
t_shared_cgroup_survives_a_failed_create() {
	local id d f sleeper
	id=$(new_id shared)
	mkbundle "$id"
	d=$(jq -r .linux.cgroupsPath "$(bundle_of "$id")/config.json")
	f=/sys/fs/cgroup/pids/$d
	[ -d /sys/fs/cgroup/pids ] || f=/sys/fs/cgroup/$d
	mkdir -p "$f"
	sleep 60 &
	sleeper=$!
	echo "$sleeper" >"$f/cgroup.procs"
	add_hook "$id" createRuntime "cat >/dev/null; exit 3"
	set_args "$id" /bin/true
	run rt create --bundle "$(bundle_of "$id")" "$id"
	local alive=0
	kill -0 "$sleeper" 2>/dev/null && alive=1
	kill "$sleeper" 2>/dev/null
	wait "$sleeper" 2>/dev/null
	sleep 0.1
	rmdir "$f"
	[ "$RC" != 0 ] || fail "create with a failing hook succeeded"
	assert_eq "$alive" 1 "the process that was in the cgroup before"
	assert_contains "$ERR" "$(berth_or "already has processes" "")" "warning"
	assert_gone "$id"
}

# A limit berth cannot apply on this host (a controller no hierarchy has,
# a huge page size the kernel lacks) is an error naming the JSON path,
# never a container started without it.
t_unappliable_limits_are_errors() {
	local id res want ctl
	for res in \
		'network|{"classID": 1048577}|net_cls|linux.resources.network' \
		'rdma|{"mlx5_0": {"hcaHandles": 3}}|rdma|linux.resources.rdma' \
		'hugepageLimits|[{"pageSize": "64KB", "limit": 1048576}]||linux.resources.hugepageLimits[0].pageSize'; do
		IFS='|' read -r key val ctl want <<<"$res"
		if [ -n "$ctl" ] && { [ -d "/sys/fs/cgroup/$ctl" ] ||
			grep -qw "$ctl" /sys/fs/cgroup/unified/cgroup.controllers /sys/fs/cgroup/cgroup.controllers 2>/dev/null; }; then
			continue # this host has it
		fi
		id=$(new_id "lim$key")
		mkbundle "$id"
		cfg "$id" ".linux.resources.$key = \$v" --argjson v "$val"
		set_args "$id" /bin/true
		run rt run --bundle "$(bundle_of "$id")" "$id"
		assert_eq "$RC" 1 "run with $key berth cannot apply"
		assert_contains "$(last_line "$ERR")" "$(berth_or "$want" "")" "error of $key"
		assert_gone "$id"
	done
}
