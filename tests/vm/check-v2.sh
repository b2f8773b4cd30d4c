#!/bin/bash
# check-v2.sh: berth's checks for a pure cgroup v2 host, run by make
# check-vm inside the guest of tests/vm/run-in-vm.sh:
#
#   1. the guest really is pure cgroup v2, with the controllers enabled;
#   2. the cgroups unit tests (a test named v2_* must not skip here);
#   3. end to end with berth and the busybox rootfs: linux.resources read
#      back from the container's cgroup (inside it and from the guest),
#      update, CLONE_INTO_CGROUP, pause/resume, kill --all, delete --force
#      of a paused container, pids.max enforced, device rules (eBPF);
#   4. tests/bench/par.sh's v2 path (BENCH_WORKER, BENCH_CPU and
#      DEMO_WORKER set): the workers' CPU from its group's cpu.stat.
#
# Each end-to-end check is a t_<name> function below, run like the
# integration tests (tests/integration/lib.sh): its own state root, temp
# dir and cgroup parent, a time limit, and a failure for anything it leaves
# behind. Prints "PASS name", "FAIL name: reason" or "SKIP name: reason",
# then "N passed, N failed" alone on the last line. Exits 1 when a check
# failed.
#
#   BERTH=/abs/berth ROOTFS=/abs/rootfs UNIT_DIR=/abs/build/tests \
#       bash tests/vm/check-v2.sh [PATTERN...]
#
# A PATTERN (shell glob) selects end-to-end checks by name; the unit tests
# then do not run. V2_TIMEOUT (60 s) limits one end-to-end check.

# ---- end-to-end checks -----------------------------------------------------

# The container's group, from its init's /proc/PID/cgroup.
group_of() {
	local pid
	pid=$(pid_of "$1")
	[ -r "/proc/${pid:-none}/cgroup" ] || fail "$1: no init pid"
	sed -n 's/^0:://p' "/proc/$pid/cgroup"
}

# compare WHAT WANT GOT: WANT and GOT are "file value" lines; every line
# that differs is reported at once, so one run names every broken file.
compare() {
	local what=$1 want=$2 got=$3 f v g bad=""
	while read -r f v; do
		g=$(sed -n "s/^$f //p" <<<"$got")
		[ "$g" = "$v" ] || bad+="; $f: want '$v', got '${g:-(none)}'"
	done <<<"$want"
	[ -z "$bad" ] || fail "$what${bad}"
}

# FILE value lines for the files of the group directory DIR.
read_files() {
	local d=$1 f
	shift
	for f; do
		echo "$f $(cat "$d/$f" 2>&1)"
	done
}

# MAJOR:MINOR of a device node.
dev_of() {
	local mm
	mm=$(stat -c '%t %T' "$1")
	printf '%d:%d' "0x${mm% *}" "0x${mm#* }"
}

V2_FILES=(memory.max memory.swap.max memory.low memory.high pids.max cpu.max
	cpu.weight cpuset.cpus cpuset.mems)

# cgroupns ID: the bundle gets a cgroup namespace of its own.
cgroupns() {
	cfg "$1" '.linux.namespaces += [{type: "cgroup"}]'
}

t_resources_read_back() {
	local id dir want pid io=""
	id=$(new_id res)
	mkbundle "$id"
	# the container sees its own group as / (berth spec, as runc's, has no
	# cgroup namespace)
	cgroupns "$id"
	[ ! -b /dev/vda ] || io=$(dev_of /dev/vda)
	cfg "$id" '.linux.resources = {
		memory: {limit: 67108864, swap: 134217728, reservation: 33554432},
		pids: {limit: 32},
		cpu: {shares: 1024, quota: 50000, period: 100000, cpus: "0", mems: "0"},
		unified: {"memory.high": "50331648"}}
	| if $io != "" then .linux.resources.blockIO = {throttleReadBpsDevice:
		[{major: ($io | split(":")[0] | tonumber),
		  minor: ($io | split(":")[1] | tonumber), rate: 1048576}]}
	  else . end' --arg io "$io"
	local files=("${V2_FILES[@]}")
	[ -z "$io" ] || files+=(io.max)
	# shellcheck disable=SC2016
	set_args "$id" /bin/sh -c 'cd /sys/fs/cgroup || exit 1
		for f in '"${files[*]}"'; do echo "$f $(cat $f 2>&1)"; done
		echo "self $(cat /proc/self/cgroup)"
		echo "fstype $(sed -n "s|.* /sys/fs/cgroup .* - \([^ ]*\) .*|\1|p" /proc/self/mountinfo)"
		echo ready; exec /probe sleep 30'
	must_run_d "$id"
	wait_file "$TDIR/$id.out" ready 20
	want="memory.max 67108864
memory.swap.max 67108864
memory.low 33554432
memory.high 50331648
pids.max 32
cpu.max 50000 100000
cpu.weight $((1 + ((1024 - 2) * 9999) / 262142))
cpuset.cpus 0
cpuset.mems 0"
	[ -z "$io" ] || want+=$'\n'"io.max $io rbps=1048576 wbps=max riops=max wiops=max"
	compare "inside the container" "$want
self 0::/
fstype cgroup2" "$(cat "$TDIR/$id.out")"

	assert_eq "$(group_of "$id")" "/berth-test-$IT_TOKEN/$id" "the init's cgroup"
	dir=/sys/fs/cgroup/berth-test-$IT_TOKEN/$id
	compare "in the guest" "$want" "$(read_files "$dir" "${files[@]}")"
	pid=$(pid_of "$id")
	assert_eq "$(awk '/^Cpus_allowed_list/ { print $2 }' "/proc/$pid/status")" 0 \
		"Cpus_allowed_list of the init"
	assert_ok rt delete -f "$id"
	[ ! -d "$dir" ] || fail "$dir remains after delete -f"
}

t_update() {
	local id dir
	id=$(new_id upd)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	dir=/sys/fs/cgroup$(group_of "$id")
	assert_ok rt update --memory 96m --memory-swap 192m --pids-limit 20 \
		--cpu-share 512 --cpu-quota 20000 --cpu-period 100000 \
		--cpuset-cpus 0 "$id"
	compare "after update" "memory.max 100663296
memory.swap.max 100663296
pids.max 20
cpu.weight $((1 + ((512 - 2) * 9999) / 262142))
cpu.max 20000 100000
cpuset.cpus 0" "$(read_files "$dir" memory.max memory.swap.max pids.max \
		cpu.weight cpu.max cpuset.cpus)"
	run rt update --resources - "$id" <<-'EOF'
	{"pids": {"limit": -1}, "memory": {"limit": -1},
	 "unified": {"memory.high": "83886080"}}
	EOF
	assert_eq "$RC" 0 "update --resources -: $(last_line "$ERR")"
	compare "after update --resources" "memory.max max
memory.swap.max max
memory.high 83886080
pids.max max" "$(read_files "$dir" memory.max memory.swap.max memory.high pids.max)"
	assert_ok rt update --memory 64m "$id"
	assert_fail_with "linux.resources.memory.swap (67108864) must be >= memory.limit (134217728)" \
		rt update --memory 128m --memory-swap 64m "$id"
	assert_eq "$(cat "$dir/memory.max")" 67108864 "memory.max after a refused update"
}

# The init is born in its cgroup (clone3 with CLONE_INTO_CGROUP): it never
# runs in the caller's. exec's process joins the group too.
t_clone_into_cgroup() {
	local id pid
	id=$(new_id clone)
	mkbundle "$id"
	# the container sees its own group as / (berth spec, as runc's, has no
	# cgroup namespace)
	cgroupns "$id"
	set_args "$id" /probe sleep 30
	if command -v strace >/dev/null; then
		# LeakSanitizer refuses to run under ptrace
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -qq -e trace=clone3 -e signal=none -o "$TDIR/strace" \
			"$BERTH" --root "$ROOT" create --bundle "$(bundle_of "$id")" \
			"$id" </dev/null >"$TDIR/$id.out" 2>"$TDIR/$id.err" ||
			fail "create under strace: $(last_line "$(cat "$TDIR/$id.err")")"
		assert_contains "$(cat "$TDIR/strace")" CLONE_INTO_CGROUP "create's clone3"
	else
		must_create "$id"
		echo "no strace: the flag itself is not checked" >&2
	fi
	pid=$(pid_of "$id")
	assert_eq "$(cat "/proc/$pid/cgroup")" "0::/berth-test-$IT_TOKEN/$id" \
		"cgroup of the created init"
	assert_eq "$(cat "/sys/fs/cgroup/berth-test-$IT_TOKEN/$id/cgroup.procs")" "$pid" \
		"cgroup.procs of the created container"
	assert_ok rt start "$id"
	assert_ok rt exec "$id" /bin/cat /proc/self/cgroup
	assert_eq "$OUT" "0::/" "exec's cgroup, seen in the cgroup namespace"
}

t_pause_resume() {
	local id dir
	id=$(new_id pause)
	mkbundle "$id"
	set_args "$id" /bin/sh -c '/probe sleep 30 & echo ready; wait'
	must_run_d "$id"
	wait_file "$TDIR/$id.out" ready 20
	dir=/sys/fs/cgroup$(group_of "$id")
	assert_ok rt pause "$id"
	assert_eq "$(status_of "$id")" paused "status after pause"
	assert_eq "$(cat "$dir/cgroup.freeze")" 1 "cgroup.freeze after pause"
	assert_contains "$(cat "$dir/cgroup.events")" "frozen 1" "cgroup.events after pause"
	assert_ok rt ps "$id"
	assert_contains "$OUT" "$(pid_of "$id")" "ps of a paused container"
	assert_ok rt resume "$id"
	assert_eq "$(status_of "$id")" running "status after resume"
	assert_eq "$(cat "$dir/cgroup.freeze")" 0 "cgroup.freeze after resume"
	assert_contains "$(cat "$dir/cgroup.events")" "frozen 0" "cgroup.events after resume"
	assert_fail_with "" rt resume "$id"
}

# kill --all with SIGTERM signals the processes one by one: the init
# traps it, one child ignores it, two die. With SIGKILL cgroup.kill ends
# the whole group at once.
t_kill_all() {
	local id dir n
	id=$(new_id killall)
	mkbundle "$id"
	set_args "$id" /bin/sh -c 'trap "echo term" TERM
		/probe sleep 60 & /probe sleep 60 &
		(trap "" TERM; exec /probe sleep 60) &
		echo ready; while :; do wait; done'
	must_run_d "$id"
	wait_file "$TDIR/$id.out" ready 20
	dir=/sys/fs/cgroup$(group_of "$id")
	assert_eq "$(wc -l <"$dir/cgroup.procs")" 4 "processes before kill --all"
	assert_ok rt kill --all "$id" TERM
	wait_file "$TDIR/$id.out" term 10
	n=0
	while [ "$(wc -l <"$dir/cgroup.procs")" != 2 ] && [ $n -lt 100 ]; do
		sleep 0.05
		n=$((n + 1))
	done
	assert_eq "$(wc -l <"$dir/cgroup.procs")" 2 "processes after kill --all TERM"
	assert_eq "$(cat "$dir/cgroup.freeze")" 0 "thawed after kill --all TERM"
	assert_ok rt kill --all "$id" KILL
	wait_status "$id" stopped 10
	assert_eq "$(cat "$dir/cgroup.procs" 2>/dev/null)" "" "processes after kill --all KILL"
	assert_ok rt delete "$id"
	[ ! -d "$dir" ] || fail "$dir remains after delete"
	assert_gone "$id"
}

t_delete_force_paused() {
	local id dir pid
	id=$(new_id delp)
	mkbundle "$id"
	set_args "$id" /bin/sh -c '/probe sleep 60 & echo ready; wait'
	must_run_d "$id"
	wait_file "$TDIR/$id.out" ready 20
	dir=/sys/fs/cgroup$(group_of "$id")
	pid=$(pid_of "$id")
	assert_ok rt pause "$id"
	assert_eq "$(status_of "$id")" paused "status after pause"
	assert_ok rt delete --force "$id"
	assert_gone "$id"
	[ ! -e "/proc/$pid" ] || [ "$(awk '{ print $3 }' "/proc/$pid/stat")" = Z ] ||
		fail "init $pid still runs after delete --force"
	[ ! -d "$dir" ] || fail "$dir remains after delete --force"
	[ ! -d "${dir%/*}" ] || fail "${dir%/*} (made by create) remains after delete --force"
}

# cgroup v2 has no devices files: the rules become an eBPF program
# attached to the group. (Reading /dev/kmsg needs CAP_SYSLOG, which
# containers lack: writes to it show the device rules.)
t_device_rules_ebpf() {
	local id vda
	id=$(new_id devs)
	mkbundle "$id"
	[ -c /dev/kmsg ] && [ -b /dev/vda ] || skip "needs /dev/kmsg and /dev/vda"
	vda=$(dev_of /dev/vda)
	add_mount "$id" '{"destination": "/dev/kmsg", "type": "bind",
		"source": "/dev/kmsg", "options": ["bind"]}'
	add_mount "$id" '{"destination": "/dev/vda", "type": "bind",
		"source": "/dev/vda", "options": ["bind"]}'
	cfg "$id" '.linux.resources.devices += [{allow: true, type: "b",
		major: ($d | split(":")[0] | tonumber),
		minor: ($d | split(":")[1] | tonumber), access: "r"}]' --arg d "$vda"
	set_args "$id" /bin/sh -c '/probe write /dev/null; /probe read /dev/vda
		/probe write /dev/vda; /probe write /dev/kmsg'
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$OUT" "$(printf 'ok\nok\nEPERM\nEPERM')" \
		"/dev/null rw, /dev/vda $vda read-only (allowed), /dev/kmsg denied"
}

t_pids_limit_enforced() {
	local id
	id=$(new_id pids)
	mkbundle "$id"
	# the container sees its own group as / (berth spec, as runc's, has no
	# cgroup namespace)
	cgroupns "$id"
	cfg "$id" '.linux.resources.pids.limit = 4'
	# sh, a subshell and two sleepers fit: the subshell's third fork
	# fails, which ends it (busybox sh); only builtins after that
	set_args "$id" /bin/sh -c '(for i in 1 2 3 4 5 6 7 8; do /probe sleep 5 & done) 2>/dev/null
		read c </sys/fs/cgroup/pids.current; echo "pids.current $c"
		while read l; do echo "$l"; done </sys/fs/cgroup/pids.events'
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	compare "pids.max 4" "pids.current 3" "$OUT"
	assert_match "$(grep '^max ' <<<"$OUT")" '^max [1-9][0-9]*$' "pids.events"
	assert_gone "$id"
}

# On a NUMA machine (make check-vm's guest has two nodes, one CPU each) a
# par worker's memory comes from its CPU's node: cpuset.mems, seen inside
# the worker, with the affinity it got.
t_par_numa_mems() {
	local n cpu mems cgmems node seen=""
	n=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
	[ "$n" -ge 2 ] || skip "one NUMA node here (VM_NUMA=1 gives two)"
	berth_only
	assert_ok rt par --rootfs "$ROOTFS" --quiet -j 2 -- sh -c \
		'sleep 0.3; echo $(grep ^Cpus_allowed_list /proc/self/status | cut -f2) $(grep ^Mems_allowed_list /proc/self/status | cut -f2) $(cat /sys/fs/cgroup/cpuset.mems)' \
		::: 1 2 3 4 5 6
	[ -n "$OUT" ] || fail "no output: $(last_line "$ERR")"
	while read -r cpu mems cgmems; do
		node=$(grep -lx "$cpu" /sys/devices/system/node/node*/cpulist | sed 's|.*/node\([0-9]*\)/.*|\1|')
		assert_eq "$mems $cgmems" "$node $node" "Mems_allowed_list and cpuset.mems of the worker on CPU $cpu"
		seen+=" $cpu"
	done <<<"$OUT"
	assert_eq "$(tr ' ' '\n' <<<"$seen" | sort -u | grep -c .)" 2 "CPUs that ran tasks"
}

# tests/bench/par.sh on v2, with tiny counts: its parent group's cpu.stat
# is where the workers' CPU comes from, and each berth row shows some,
# no more than its wall on every CPU; every run succeeds, nothing is left.
t_bench_par_workers_cpu() {
	local v row wall workers ncpu
	berth_only
	for v in BENCH_WORKER BENCH_CPU DEMO_WORKER; do
		[ -x "${!v:-}" ] || skip "needs $v (make check-vm sets it)"
	done
	run env RUNS=1 LIB_N=20000 LINE_N=1000 EXEC_N=20 PAR_N=10 DEMO_TASKS=2000 \
		DEMO_RUNS=1 DEMO_SLICES=2 PAR_DOCKER=0 PAR_PARALLEL=0 BENCH_QUEUE= \
		bash "$(dirname "$IT_FILE")/../bench/par.sh"
	assert_eq "$RC" 0 "par.sh: $(last_line "$ERR")"
	assert_not_contains "$ERR" "bench:" "par.sh's stderr"
	assert_match "$OUT" "^workers' CPU from: /sys/fs/cgroup/berth-bench-par-[0-9]+/cpu\.stat$" \
		"the workers' CPU source"
	ncpu=$(nproc)
	for row in "berth par, lib mode" "berth par, line mode (cat)" \
		"berth par, exec mode (/bin/true)" "demo: berth par, lib mode"; do
		read -r wall workers < <(awk -v r="$row  " 'index($0, r) == 1 {
			printf "%.3f %s\n", $(NF - 5) * $(NF - 4) / 1e9, $(NF - 1) }' <<<"$OUT")
		[ -n "$wall" ] || fail "no row \"$row\" in: $OUT"
		awk -v w="$workers" -v t="$wall" -v n="$ncpu" \
			'BEGIN { exit !(w > 0 && w <= n * t * 1.2 + 0.05) }' ||
			fail "$row: workers' CPU $workers s, wall $wall s on $ncpu CPUs"
	done
	v=$(find /sys/fs/cgroup -name 'berth-bench-par-*')
	assert_eq "$v" "" "groups left by par.sh"
}

# ---- the systemd driver (make check-vm boots systemd for these) ----------

# Only where systemd is PID 1: the guest of `VM_INIT=systemd run-in-vm.sh`.
need_systemd() {
	[ "$(cat /proc/1/comm)" = systemd ] || skip "systemd is not PID 1 (VM_INIT=systemd)"
	berth_only
}

# sd ARGS...: berth with the systemd driver and the check's state root.
sd() {
	"$BERTH" --root "$ROOT" --systemd-cgroup "$@"
}

# unit_prop UNIT PROPERTY: one property as systemctl shows it.
unit_prop() {
	systemctl show -p "$2" --value "$1" 2>/dev/null
}

# A scope made by systemd holds the init; limits reach both the cgroup
# files and the unit (systemd writes its own back on daemon-reload), and
# update changes both. Delete, without the flag as containerd sends it,
# stops the unit and removes the cgroup.
t_systemd_scope() {
	local id unit dir
	need_systemd
	id=$(new_id sdscope)
	unit=berth-$id.scope
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	cfg "$id" '.linux.cgroupsPath = "system.slice:berth:" + $i
		| .linux.resources = {memory: {limit: 67108864}, pids: {limit: 32},
			cpu: {shares: 1024, quota: 50000, period: 100000, cpus: "0", mems: "0"},
			blockIO: {weight: 500}}
		| .linux.namespaces |= map(select(.type != "cgroup"))' --arg i "$id"
	sd run -d --bundle "$(bundle_of "$id")" "$id" </dev/null >"$TDIR/$id.out" 2>"$TDIR/$id.err" ||
		fail "run -d: $(last_line "$(cat "$TDIR/$id.err")")"
	defer "systemctl stop $unit; rt delete -f $id"
	assert_eq "$(group_of "$id")" "/system.slice/$unit" "the init's cgroup"
	dir=/sys/fs/cgroup/system.slice/$unit
	assert_eq "$(unit_prop "$unit" ActiveState)" active "ActiveState of $unit"
	assert_eq "$(unit_prop "$unit" Delegate)" yes "Delegate of $unit"
	compare "cgroup files" "memory.max 67108864
pids.max 32
cpu.max 50000 100000
cpu.weight $((1 + ((1024 - 2) * 9999) / 262142))
cpuset.cpus 0
cpuset.mems 0" \
		"$(read_files "$dir" memory.max pids.max cpu.max cpu.weight cpuset.cpus cpuset.mems)"
	compare "unit properties" "MemoryMax 67108864
TasksMax 32
CPUQuotaPerSecUSec 500ms
AllowedCPUs 0
AllowedMemoryNodes 0
IOWeight $((1 + (500 - 10) * 9999 / 990))" "$(for p in MemoryMax TasksMax \
		CPUQuotaPerSecUSec AllowedCPUs AllowedMemoryNodes IOWeight; do
		echo "$p $(unit_prop "$unit" "$p")"; done)"
	assert_ok rt update --memory 96m --pids-limit 20 "$id"
	compare "after update" "memory.max 100663296
pids.max 20" "$(read_files "$dir" memory.max pids.max)"
	assert_eq "$(unit_prop "$unit" MemoryMax)" 100663296 "MemoryMax after update"
	assert_ok rt exec "$id" /bin/cat /proc/self/cgroup
	assert_eq "$OUT" "0::/system.slice/$unit" "exec's process joins the scope"
	systemctl daemon-reload
	compare "after daemon-reload" "memory.max 100663296
cpuset.cpus 0" "$(read_files "$dir" memory.max cpuset.cpus)"
	assert_ok rt delete -f "$id"
	assert_gone "$id"
	[ ! -e "$dir" ] || fail "$dir left after delete"
	assert_eq "$(unit_prop "$unit" LoadState)" not-found "$unit after delete"
}

# A nested slice, and run attached: its exit status, then nothing left.
t_systemd_run_nested_slice() {
	local id unit
	need_systemd
	id=$(new_id sdrun)
	unit=test-$id.scope
	mkbundle "$id"
	set_args "$id" /bin/sh -c 'cat /proc/self/cgroup; exit 3'
	cfg "$id" '.linux.cgroupsPath = "machine-berth.slice:test:" + $i
		| .linux.namespaces |= map(select(.type != "cgroup"))' --arg i "$id"
	run sd run --bundle "$(bundle_of "$id")" "$id"
	assert_eq "$RC" 3 "exit status: $(last_line "$ERR")"
	assert_eq "$OUT" "0::/machine.slice/machine-berth.slice/$unit" "the cgroup inside"
	assert_gone "$id"
	assert_eq "$(unit_prop "$unit" LoadState)" not-found "$unit after run"
	[ ! -e "/sys/fs/cgroup/machine.slice/machine-berth.slice/$unit" ] ||
		fail "the scope's cgroup is left"
	systemctl stop machine-berth.slice 2>/dev/null
}

# berth par with no --cgroup-parent, run from a systemd service's group:
# that group holds the caller, so v2 lets it enable no controller for
# groups below it; the pool goes to the root of the hierarchy instead, its
# workers get their cpusets, and nothing is left.
t_systemd_par_default_parent() {
	local own
	need_systemd
	own=$(sed -n 's/^0:://p' /proc/self/cgroup)
	[ "$own" != / ] || skip "this check runs in the root group"
	# a worker sees its own group (cgroup namespace) and its one CPU
	run rt par --rootfs "$ROOTFS" --quiet -j 2 -- sh -c \
		'sleep 0.2; cat /sys/fs/cgroup/cpuset.cpus' ::: 1 2 3 4 5 6
	assert_eq "$RC" 0 "par from $own: $(last_line "$ERR")"
	assert_eq "$(sort -u <<<"$OUT" | tr '\n' ' ')" "0 1 " "the workers' cpusets"
	assert_eq "$(ls -d /sys/fs/cgroup/berth-par-* 2>/dev/null)" "" "the pool's group is left"
}

# Bad paths are refused before systemd or the init hear of them.
t_systemd_bad_path() {
	local id
	need_systemd
	id=$(new_id sdbad)
	mkbundle "$id"
	cfg "$id" '.linux.cgroupsPath = "nota-slice:berth:" + $i' --arg i "$id"
	run sd create --bundle "$(bundle_of "$id")" "$id"
	assert_eq "$RC" 1 "exit status of a bad path"
	assert_contains "$(last_line "$ERR")" '"nota-slice" is not a slice unit name' "message"
	assert_gone "$id"
	assert_eq "$(systemctl list-units --all --no-legend "berth-$id*" | wc -l)" 0 "units left"
}

# ---- the runner --------------------------------------------------------------

# result KIND NAME [REASON]: one result line, counted.
result() {
	case "$1" in
	PASS) passed=$((passed + 1)); echo "PASS $2" ;;
	FAIL) failed=$((failed + 1)); echo "FAIL $2${3:+: $3}" ;;
	SKIP) skipped=$((skipped + 1)); echo "SKIP $2${3:+: $3}" ;;
	esac
}

check_pure_v2() {
	local mounts
	mounts=$(awk -F' - ' '{ split($1, a, " "); split($2, b, " ")
		if (b[1] ~ /^cgroup2?$/) print b[1], a[5] }' /proc/self/mountinfo)
	if [ "$mounts" != "cgroup2 /sys/fs/cgroup" ]; then
		result FAIL guest_is_pure_cgroup_v2 "cgroup mounts: ${mounts//$'\n'/, }"
		return 1
	fi
	# under systemd, systemd enables what its units need
	if [ "$(cat /proc/1/comm)" = systemd ]; then
		result PASS guest_is_pure_cgroup_v2
		return 0
	fi
	local on c missing=""
	on=$(cat /sys/fs/cgroup/cgroup.subtree_control)
	for c in cpuset cpu io memory pids; do
		[[ " $on " == *" $c "* ]] || missing+=" $c"
	done
	if [ -n "$missing" ]; then
		result FAIL guest_is_pure_cgroup_v2 "not enabled at the root:$missing"
		return 1
	fi
	result PASS guest_is_pure_cgroup_v2
}

# run_unit BINARY: its "ok"/"FAIL"/"skip" lines as results; the lines
# indented by four spaces before a result explain it.
run_unit() {
	local bin=$1 name line out r why="" nskip=0 f0=$failed
	name=$(basename "$bin")
	if ! [ -x "$bin" ]; then
		result FAIL "$name" "not built ($bin)"
		return
	fi
	out=$("$bin" 2>&1)
	r=$?
	while IFS= read -r line; do
		case "$line" in
		"    "*) why+="${why:+ }${line#    }" ;;
		"ok   "*) result PASS "$name.${line#ok   }"; why="" ;;
		"FAIL "*)
			result FAIL "$name.${line#FAIL }" "$why"
			why=""
			;;
		"skip "*)
			line=${line#skip }
			if [[ $line == v2_* ]]; then
				result FAIL "$name.$line" "skipped on a pure v2 host: ${why#skipped: }"
			else
				nskip=$((nskip + 1))
			fi
			why=""
			;;
		esac
	done <<<"$out"
	if [ $r != 0 ] && [ "$failed" = "$f0" ]; then
		result FAIL "$name" "exit $r: $(tail -n 1 <<<"$out")"
	fi
	if [ $nskip -gt 0 ]; then
		skipped=$((skipped + nskip))
		echo "SKIP $name: $nskip tests for v1 or hybrid hosts"
	fi
}

# run_e2e FUNCTION N: one end-to-end check in the integration tests' frame.
run_e2e() {
	local t=$1 n=$2 name=${1#t_} log reason rc why start
	log=$logs/$name.log
	reason=$logs/$name.reason
	: >"$reason"
	start=$(date +%s%N)
	IT_TOKEN="v2$$x$n" IT_REASON=$reason IT_FILE=$self IT_TEST=$t \
		bash -c '
		source "$IT_LIB"
		source "$IT_FILE"
		it_setup
		timeout -k 5 "$V2_TIMEOUT" bash -c "source \"\$IT_LIB\"
			source \"\$IT_FILE\"; it_body \"\$IT_TEST\"" </dev/null
		rc=$?
		[ $rc = 124 ] || [ $rc = 137 ] &&
			echo "timed out after $V2_TIMEOUT s" >>"$IT_REASON"
		it_cleanup || rc=1
		exit $rc' </dev/null >"$log" 2>&1
	rc=$?
	why=$(sed -n 1p "$reason")
	if [ $rc = 0 ]; then
		result PASS "$name ($((($(date +%s%N) - start) / 1000000)) ms)"
	elif [ $rc = 77 ]; then
		result SKIP "$name" "$why"
	else
		result FAIL "$name" "${why:-exit $rc: $(tail -n 1 "$log")}"
		sed -n '2,$s/^/    /p' "$reason"
		tail -n 15 "$log" | sed 's/^/    | /'
	fi
}

main() {
	passed=0 failed=0 skipped=0
	local v t n=0
	for v in BERTH ROOTFS; do
		if [ -z "${!v:-}" ]; then
			echo "check-v2: set $v (make check-vm does)" >&2
			exit 2
		fi
	done
	if ! check_pure_v2; then
		echo "$passed passed, $failed failed"
		exit 1
	fi
	if [ $# -eq 0 ]; then
		for t in test-cgroups test-cgroups-v2 test-cgres; do
			run_unit "${UNIT_DIR:-/nonexistent}/$t"
		done
	fi

	self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
	IT_LIB=$(dirname "$self")/../integration/lib.sh
	IT_IS_BERTH=0
	"$BERTH" --version 2>/dev/null | head -n 1 | grep -q '^berth version' &&
		IT_IS_BERTH=1
	V2_TIMEOUT=${V2_TIMEOUT:-60}
	export BERTH ROOTFS IT_IS_BERTH IT_LIB V2_TIMEOUT
	logs=$(mktemp -d /tmp/berth-v2logs.XXXXXX)
	trap 'rm -rf "$logs"' EXIT
	for t in $(sed -n 's/^\(t_[A-Za-z0-9_]*\)()[[:space:]]*{.*/\1/p' "$self"); do
		if [ $# -gt 0 ]; then
			local p hit=0
			for p; do
				# shellcheck disable=SC2053
				[[ ${t#t_} == $p ]] && hit=1
			done
			[ $hit = 1 ] || continue
		fi
		n=$((n + 1))
		run_e2e "$t" $n
	done

	[ $skipped = 0 ] || echo "($skipped skipped)"
	echo "$passed passed, $failed failed"
	[ $failed = 0 ]
}

# Sourced by the per-check frame (IT_TEST set) for the t_ functions only.
[ -n "${IT_TEST:-}" ] || main "$@"
