# The container's process: user, groups, capabilities, no_new_privs,
# rlimits, cwd, environment, file descriptors, cgroup limits.

# cap_line CAPS-OUTPUT KEY: the hex mask of one /proc/self/status line.
cap_line() {
	grep "^$2:" <<<"$1" | awk '{print $2}'
}

t_capabilities() {
	local id
	id=$(new_id caps)
	mkbundle "$id"
	# CAP_KILL=5, CAP_NET_BIND_SERVICE=10, CAP_AUDIT_WRITE=29
	cfg "$id" '.process.capabilities = {
		bounding: ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"],
		effective: ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
		permitted: ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"],
		inheritable: ["CAP_KILL"],
		ambient: ["CAP_KILL"]}'
	set_args "$id" /probe caps
	run_a "$id"
	assert_eq "$RC" 0 "probe caps: $ERR"
	assert_eq "$(cap_line "$OUT" CapBnd)" 0000000020000420 "bounding set"
	assert_eq "$(cap_line "$OUT" CapPrm)" 0000000020000420 "permitted set"
	# execve() as root makes the effective set the permitted one.
	assert_eq "$(cap_line "$OUT" CapEff)" 0000000020000420 "effective set"
	assert_eq "$(cap_line "$OUT" CapInh)" 0000000000000020 "inheritable set"
	assert_eq "$(cap_line "$OUT" CapAmb)" 0000000000000020 "ambient set"
}

t_capabilities_non_root() {
	local id
	id=$(new_id capsuser)
	mkbundle "$id"
	cfg "$id" '.process.user = {uid: 1000, gid: 1000}
		| .process.capabilities = {
		bounding: ["CAP_KILL", "CAP_CHOWN"], effective: ["CAP_KILL"],
		permitted: ["CAP_KILL"], inheritable: ["CAP_KILL"], ambient: ["CAP_KILL"]}'
	set_args "$id" /probe caps
	run_a "$id"
	assert_eq "$RC" 0 "probe caps: $ERR"
	assert_eq "$(cap_line "$OUT" CapEff)" 0000000000000020 "effective set of uid 1000"
	assert_eq "$(cap_line "$OUT" CapBnd)" 0000000000000021 "bounding set of uid 1000"
}

t_no_new_privileges() {
	local id
	id=$(new_id nnp1)
	mkbundle "$id"
	cfg "$id" '.process.noNewPrivileges = true'
	set_args "$id" /probe nnp
	run_a "$id"
	assert_eq "$OUT" 1 "no_new_privs with noNewPrivileges true"
	id=$(new_id nnp0)
	mkbundle "$id"
	cfg "$id" '.process.noNewPrivileges = false'
	set_args "$id" /probe nnp
	run_a "$id"
	assert_eq "$OUT" 0 "no_new_privs with noNewPrivileges false"
}

t_rlimits() {
	local id
	id=$(new_id rlim)
	mkbundle "$id"
	cfg "$id" '.process.rlimits = [{type: "RLIMIT_NOFILE", soft: 100, hard: 200},
		{type: "RLIMIT_CORE", soft: 0, hard: 0}]'
	set_args "$id" /bin/sh -c '/probe rlimit NOFILE; /probe rlimit CORE'
	run_a "$id"
	assert_eq "$RC" 0 "probe rlimit: $ERR"
	assert_eq "$OUT" "$(printf '100 200\n0 0')" "rlimits"
}

t_user_and_groups() {
	local id
	id=$(new_id user)
	mkbundle "$id"
	cfg "$id" '.process.user = {uid: 1000, gid: 1000, additionalGids: [10, 20]}'
	set_args "$id" /probe ids
	run_a "$id"
	assert_eq "$RC" 0 "probe ids: $ERR"
	assert_eq "$OUT" "1000 1000 10,20" "uid gid groups"
	id=$(new_id root)
	mkbundle "$id"
	cfg "$id" '.process.user = {uid: 0, gid: 0}'
	set_args "$id" /probe ids
	run_a "$id"
	assert_match "$OUT" '^0 0' "root's ids"
}

t_umask() {
	local id
	id=$(new_id umask)
	mkbundle "$id"
	cfg "$id" '.process.user.umask = 63'
	set_args "$id" /probe umask
	run_a "$id"
	assert_eq "$OUT" 0077 "umask from the config"
}

t_cwd_and_env() {
	local id
	id=$(new_id cwdenv)
	mkbundle "$id"
	cfg "$id" '.process.cwd = "/home/user" | .process.env += ["FOO=bar baz", "EMPTY="]'
	set_args "$id" /bin/sh -c '/probe cwd; /probe env FOO; /probe env EMPTY; /probe env PATH; /probe env HOME'
	run_a "$id"
	assert_eq "$(sed -n 1,3p <<<"$OUT")" "$(printf '/home/user\nbar baz\n')" "cwd and env"
	assert_contains "$(sed -n 4p <<<"$OUT")" /bin "PATH"
	# HOME is set from /etc/passwd when the config has none.
	assert_eq "$(sed -n 5p <<<"$OUT")" /root "HOME"
}

t_cwd_created_when_missing() {
	local id
	id=$(new_id cwdmk)
	mkbundle "$id" copy
	cfg "$id" '.process.cwd = "/work/dir"'
	set_args "$id" /probe cwd
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$OUT" /work/dir "cwd created"
}

t_no_leaked_fds() {
	local id
	id=$(new_id fds)
	mkbundle "$id"
	set_args "$id" /probe fds
	run rt run --bundle "$(bundle_of "$id")" "$id" 7</dev/null 8>"$TDIR/x"
	assert_eq "$RC" 0 "probe fds: $ERR"
	assert_eq "$(cut -d' ' -f1 <<<"$OUT" | tr '\n' ' ')" "0 1 2 " "open fds in the container"
}

t_preserve_fds() {
	local id
	id=$(new_id pfds)
	mkbundle "$id"
	echo through >"$TDIR/passed"
	set_args "$id" /bin/sh -c '/probe fds; cat <&3'
	run rt run --preserve-fds 1 --bundle "$(bundle_of "$id")" "$id" 3<"$TDIR/passed" 4</dev/null
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$(grep -E '^[0-9]+ ' <<<"$OUT" | cut -d' ' -f1 | tr '\n' ' ')" "0 1 2 3 " "fds with --preserve-fds 1"
	assert_eq "$(tail -n 1 <<<"$OUT")" through "content read from fd 3"
}

t_cgroup_limits() {
	local id pid mem pids cpu
	id=$(new_id limits)
	mkbundle "$id"
	cfg "$id" '.linux.resources = {memory: {limit: 67108864}, pids: {limit: 50},
		cpu: {shares: 512}}'
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	pid=$(pid_of "$id")
	mem=$(awk -F: '$2 == "memory" {print $3}' "/proc/$pid/cgroup")
	pids=$(awk -F: '$2 == "pids" {print $3}' "/proc/$pid/cgroup")
	cpu=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' "/proc/$pid/cgroup")
	assert_eq "$(cat "/sys/fs/cgroup/memory$mem/memory.limit_in_bytes") \
$(cat "/sys/fs/cgroup/pids$pids/pids.max") \
$(cat "/sys/fs/cgroup/cpu$cpu/cpu.shares")" "67108864 50 512" \
		"memory limit, pids limit, cpu shares"
}

t_process_exit_kills_others() {
	local id
	id=$(new_id orphans)
	mkbundle "$id"
	# The init leaves a child behind; the pid namespace ends with it.
	set_args "$id" /bin/sh -c '/probe sleep 60 & exit 0'
	run_a "$id"
	assert_eq "$RC" 0 "run"
	sleep 0.2
	grep -lsF "BERTH_IT=$IT_TOKEN" /proc/[0-9]*/environ >"$TDIR/left"
	assert_eq "$(cat "$TDIR/left")" "" "processes left after the init exited"
}

t_seccomp_errno() {
	local id
	id=$(new_id seccomp)
	mkbundle "$id"
	cfg "$id" '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
		architectures: ["SCMP_ARCH_X86_64"],
		syscalls: [{names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1}]}'
	add_mount "$id" '{"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}'
	set_args "$id" /bin/sh -c '/probe seccomp; mkdir /mnt/x 2>&1; /probe write /mnt/f'
	run_a "$id"
	assert_match "$(sed -n 1p <<<"$OUT")" '^Seccomp:[[:space:]]+2$' "seccomp mode"
	assert_contains "$(sed -n 2p <<<"$OUT")" "Operation not permitted" "mkdir under the filter"
	assert_eq "$(sed -n 3p <<<"$OUT")" ok "open is still allowed"
}

t_sysctl_and_oom_score() {
	local id
	id=$(new_id sysctl)
	mkbundle "$id"
	cfg "$id" '.linux.sysctl = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1000"}
		| .process.oomScoreAdj = 123'
	set_args "$id" /bin/sh -c 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/self/oom_score_adj'
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$OUT" "$(printf '1\n1000\n123')" "sysctls and oom_score_adj"
	assert_ne "$(cat /proc/sys/kernel/shmmni)" 1000 "host's kernel.shmmni"
}

t_extra_device() {
	local id
	id=$(new_id device)
	mkbundle "$id"
	# 240 is a major number for local experiments: no driver, so an open
	# the device cgroup allows fails with ENXIO, a denied one with EPERM.
	cfg "$id" '.linux.devices = [{path: "/dev/mynull", type: "c", major: 1, minor: 3,
		fileMode: 432, uid: 0, gid: 0},
		{path: "/dev/exp0", type: "c", major: 240, minor: 0, fileMode: 438},
		{path: "/dev/exp1", type: "c", major: 240, minor: 1, fileMode: 438}]
		| .linux.resources.devices = [{allow: false, access: "rwm"},
			{allow: true, type: "c", major: 240, minor: 0, access: "rw"}]'
	set_args "$id" /bin/sh -c '/probe stat /dev/mynull; echo x >/dev/mynull && echo written;
		/probe read /dev/exp0; /probe read /dev/exp1'
	run_a "$id"
	assert_eq "$(sed -n 1p <<<"$OUT" | cut -d' ' -f1-3)" "chr 1:3 0660" "the extra device node"
	assert_eq "$(sed -n 2p <<<"$OUT")" written "write to an extra device"
	assert_eq "$(sed -n 3p <<<"$OUT")" ENXIO "open of an allowed device without a driver"
	assert_eq "$(sed -n 4p <<<"$OUT")" EPERM "open of a device the cgroup denies"
}

t_kill_all() {
	local id
	id=$(new_id killall)
	mkbundle "$id"
	set_args "$id" /probe sleep 60
	must_run_d "$id"
	assert_ok rt exec -d "$id" /probe sleep 60
	assert_ok rt ps --format json "$id"
	assert_eq "$(jq -r length <<<"$OUT")" 2 "processes before kill --all"
	assert_ok rt kill --all "$id" KILL
	wait_status "$id" stopped
	sleep 0.2
	grep -lsF "BERTH_IT=$IT_TOKEN" /proc/[0-9]*/environ >"$TDIR/left"
	assert_eq "$(cat "$TDIR/left")" "" "processes left after kill --all"
}

t_annotations_in_state() {
	local id
	id=$(new_id annot)
	mkbundle "$id"
	cfg "$id" '.annotations = {"org.example.key": "value"}'
	must_create "$id"
	assert_ok rt state "$id"
	assert_eq "$(jq -r '.annotations["org.example.key"]' <<<"$OUT")" value "annotation in state"
}

t_no_pivot() {
	local id
	id=$(new_id nopivot)
	mkbundle "$id"
	set_args "$id" /bin/sh -c 'test -x /probe && /probe pid'
	run rt run --no-pivot --bundle "$(bundle_of "$id")" "$id"
	assert_eq "$RC" 0 "run --no-pivot: $(last_line "$ERR")"
	assert_eq "$OUT" 1 "pid with --no-pivot"
}

# process.scheduler (sched_setattr) and process.ioPriority (ioprio_set),
# read back by the process itself.
t_scheduler_and_io_priority() {
	local id
	id=$(new_id sched)
	mkbundle "$id"
	cfg "$id" '.process.scheduler = {policy: "SCHED_BATCH", nice: 5}
		| .process.ioPriority = {class: "IOPRIO_CLASS_BE", priority: 6}'
	# /proc/self/stat: field 19 is the nice value, 41 the policy (3 batch)
	set_args "$id" /bin/sh -c 'cut -d" " -f19,41 /proc/self/stat; ionice -p $$'
	run_a "$id"
	assert_eq "$RC" 0 "scheduler: $ERR"
	assert_eq "$(head -n 1 <<<"$OUT")" "5 3" "nice and SCHED_BATCH"
	assert_eq "$(sed -n 2p <<<"$OUT")" "best-effort: prio 6" "ioPriority"
}

# execCPUAffinity: "final" is what the program runs on, "initial" alone
# stays.
t_exec_cpu_affinity() {
	local id cpus first second
	cpus=$(awk '/Cpus_allowed_list/ { print $2 }' /proc/self/status)
	first=$(taskset -cp $$ 2>/dev/null | sed 's/.*: //; s/[,-].*//')
	second=$(grep -o '[0-9]*$' <<<"$cpus")
	[ -n "$first" ] && [ "$first" != "$second" ] || skip "needs two allowed CPUs (have $cpus)"
	id=$(new_id aff)
	mkbundle "$id"
	cfg "$id" '.process.execCPUAffinity = {initial: $a, final: $b}' \
		--arg a "$first" --arg b "$second"
	set_args "$id" /bin/sh -c 'grep Cpus_allowed_list /proc/self/status'
	run_a "$id"
	assert_eq "$RC" 0 "execCPUAffinity: $ERR"
	assert_eq "$(awk '{ print $2 }' <<<"$OUT")" "$second" "final"
	cfg "$id" '.process.execCPUAffinity = {initial: $a}' --arg a "$first"
	run_a "$id"
	assert_eq "$(awk '{ print $2 }' <<<"$OUT")" "$first" "initial alone"
	cfg "$id" '.process.execCPUAffinity = {final: "x-y"}'
	run_a "$id"
	assert_eq "$RC" 1 "a bad CPU list"
	assert_contains "$(last_line "$ERR")" "execCPUAffinity.final \`x-y\`" "the error names it"
}

# A capability the config asks for and berth itself does not hold is an
# error that names it (some sandboxes drop CAP_SYS_RESOURCE).
t_err_capability_berth_lacks() {
	local names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID
		SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW
		IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT
		SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD
		LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
		WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)
	local bnd last i missing="" id
	berth_only "the message is berth's"
	bnd=$((16#$(awk '/^CapBnd/ { print $2 }' /proc/self/status)))
	last=$(cat /proc/sys/kernel/cap_last_cap)
	for ((i = 0; i <= last && i < ${#names[@]}; i++)); do
		(((bnd >> i) & 1)) || { missing=CAP_${names[i]}; break; }
	done
	[ -n "$missing" ] || skip "berth holds every capability here"
	id=$(new_id capmiss)
	mkbundle "$id"
	cfg "$id" '.process.capabilities.bounding += [$c]' --arg c "$missing"
	assert_fail_with "capability $missing: not in berth's bounding set" \
		rt run --bundle "$(bundle_of "$id")" "$id"
	assert_gone "$id"
}

# The container's pty goes to the process's user; its group stays the tty
# group (5) of the devpts mount, as with runc.
t_terminal_pty_owner() {
	local id
	berth_only "berth run proxies the terminal itself; runc needs --console-socket"
	id=$(new_id ptyown)
	mkbundle "$id"
	cfg "$id" '.process.terminal = true | .process.user = {uid: 1000, gid: 1000}'
	set_args "$id" /bin/sh -c 'stat -L -c %u:%g /proc/self/fd/0'
	run rt run --bundle "$(bundle_of "$id")" "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$(tr -d '\r' <<<"$OUT")" 1000:5 "owner of the container's pty"
}
