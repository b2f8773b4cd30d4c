# Process security: one regression test per class of container-escape CVE
# (each fails when the protection it names is taken out of the runtime),
# linux.personality, LSM labels on a host without the LSM, and bad
# security input (exit 1, the last stderr line names the field, nothing
# left behind).

# refused ID MESSAGE: create must fail with MESSAGE and leave no container.
refused() {
	assert_fail_with "$2" rt create --bundle "$(bundle_of "$1")" "$1"
	assert_gone "$1"
	[ -e "$ROOT/$1" ] && fail "state dir of $1 left after a refused create"
	return 0
}

# ---- CVE-2019-5736: the runtime's binary seen through /proc/<pid>/exe ------

# berth's init is a clone of berth: until `start` execs the process it runs
# the host's berth binary inside the container's pid namespace. A container
# process that could open /proc/1/exe then would hold the host binary and
# overwrite it once no berth runs it any more.
t_cve_2019_5736_init_exe_not_reachable() {
	local id
	id=$(new_id exeinit)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	must_create "$id"
	assert_ok rt exec "$id" /bin/sh -c 'readlink /proc/1/exe || echo hidden
		/probe read /proc/1/exe; /probe write /proc/1/exe
		(exec 3</proc/1/exe) 2>/dev/null && echo opened; exit 0'
	assert_eq "$(sed -n 1p <<<"$OUT")" hidden "readlink /proc/1/exe of the created init"
	assert_ne "$(sed -n 2p <<<"$OUT")" ok "open of /proc/1/exe for reading"
	assert_ne "$(sed -n 3p <<<"$OUT")" ok "open of /proc/1/exe for writing"
	assert_not_contains "$OUT" opened "fd on the created init's exe"
	assert_ok rt start "$id"
	assert_ok rt exec "$id" readlink /proc/1/exe
	assert_eq "$OUT" /probe "exe of the started init"
}

# `exec` runs berth's code inside the container from the clone to execve; a
# PATH of 40000 missing directories makes the lookup before execve last
# tens of milliseconds, long enough for a scanner in the container to see
# the process. It must never show (or let anyone open) the host binary.
t_cve_2019_5736_exec_exe_not_reachable() {
	local id p i
	id=$(new_id exeexec)
	mkbundle "$id"
	set_args "$id" /bin/sh -c 'echo ready; while :; do
		ls -l /proc/[0-9]*/exe 2>/dev/null | grep -F -e " -> " |
			grep -v -e "-> /bin/busybox$" -e "-> /probe$"; done'
	must_run_d "$id"
	wait_file "$TDIR/$id.out" ready
	p=$(printf '/n%.0s:' $(seq 40000))
	jq -n --arg p "PATH=${p}/bin" '{cwd: "/", args: ["sh", "-c", "true"], env: [$p]}' \
		>"$TDIR/process.json" || fail "process.json: jq failed"
	for i in 1 2 3 4 5 6; do
		assert_ok rt exec --process "$TDIR/process.json" "$id"
	done
	sleep 0.2
	assert_eq "$(grep -F -- '->' "$TDIR/$id.out")" "" \
		"exe links of runtime processes seen from the container"
}

# ---- CVE-2024-21626: a cwd through a leaked fd ------------------------------

# check_cwd WHAT: after `/probe cwd; /probe fds` ran with cwd
# /proc/self/fd/N, either the runtime refused, or the process sits inside
# the container's root and holds no fd but 0-2.
check_cwd() {
	if [ "$RC" != 0 ]; then
		# exec's own failures exit 255, create's and run's 1
		if [ "${1#exec}" != "$1" ]; then
			assert_eq "$RC" 255 "$1: exit status"
		else
			assert_eq "$RC" 1 "$1: exit status"
		fi
		assert_match "$(last_line "$ERR")" 'cwd|working directory' "$1: refusal"
		return 0
	fi
	assert_match "$(sed -n 1p <<<"$OUT")" '^/' "$1: getcwd"
	assert_not_contains "$OUT" unreachable "$1: getcwd"
	assert_eq "$(sed -n '2,$p' <<<"$OUT" | cut -d' ' -f1 | tr '\n' ' ')" "0 1 2 " \
		"$1: fds of the process"
}

t_cve_2024_21626_cwd_through_fd() {
	local id n
	for n in 3 4 5 6 7 8 9 10; do
		id=$(new_id cwdfd$n)
		mkbundle "$id"
		cfg "$id" '.process.cwd = $c' --arg c "/proc/self/fd/$n"
		set_args "$id" /bin/sh -c '/probe cwd; /probe fds'
		run_a "$id"
		check_cwd "run with cwd /proc/self/fd/$n"
	done
}

t_cve_2024_21626_exec_cwd_through_fd() {
	local id n
	id=$(new_id execcwd)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	for n in 3 4 5 6 7 8 9 10; do
		run rt exec --cwd "/proc/self/fd/$n" "$id" /bin/sh -c '/probe cwd; /probe fds'
		check_cwd "exec --cwd /proc/self/fd/$n"
	done
}

# ---- CVE-2021-30465: a mount destination through a symlink to the host ----

t_cve_2021_30465_symlink_in_mount_destination() {
	local id b esc=berth-escape-$IT_TOKEN
	id=$(new_id symdest)
	mkbundle "$id" copy
	b=$(bundle_of "$id")
	ln -s / "$b/rootfs/evil"
	defer "umount -l /tmp/$esc; rmdir /tmp/$esc"
	add_mount "$id" "$(jq -nc --arg d "/evil/tmp/$esc" \
		'{destination: $d, type: "tmpfs", source: "tmpfs"}')"
	set_args "$id" /probe mount "/tmp/$esc"
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_match "$OUT" '^tmpfs ' "the mount inside the container's /tmp"
	[ -e "/tmp/$esc" ] && fail "/tmp/$esc was created on the host"
	grep -qF "$esc" /proc/self/mountinfo && fail "a mount reached the host's /tmp/$esc"
	[ -d "$b/rootfs/tmp/$esc" ] || fail "the mount point was not made inside the rootfs"
	return 0
}

# ---- CVE-2025-31133: maskedPaths bound from a /dev/null that is not one ----

# fake_dev ID: the container's /dev is a host directory (no /dev setup by
# the runtime), holding whatever the test puts in $TDIR/fakedev-ID.
fake_dev() {
	mkdir -p "$TDIR/fakedev-$1"
	cfg "$1" '.mounts |= map(select(.destination | startswith("/dev") | not))
		| .mounts += [{destination: "/dev", type: "bind", source: $s,
			options: ["rbind"]}]
		| .linux.maskedPaths = ["/proc/kcore", "/proc/keys"]' \
		--arg s "$TDIR/fakedev-$1"
	set_args "$1" /bin/sh -c '/probe stat /proc/keys; cat /proc/keys'
}

t_cve_2025_31133_devnull_regular_file() {
	local id
	id=$(new_id nullfile)
	mkbundle "$id"
	fake_dev "$id"
	echo secret >"$TDIR/fakedev-$id/null"
	refused "$id" "$(berth_or '`/dev/null` is not the null device' '')"
	assert_eq "$(cat "$TDIR/fakedev-$id/null")" secret "the fake /dev/null"
}

t_cve_2025_31133_devnull_symlink() {
	local id
	id=$(new_id nulllink)
	mkbundle "$id"
	fake_dev "$id"
	ln -s /proc/sys/kernel/core_pattern "$TDIR/fakedev-$id/null"
	refused "$id" "$(berth_or '`/dev/null` is not the null device' '')"
}

# The image's own /dev/null is a symlink: the runtime's /dev setup replaces
# it, and masking then uses the real device.
t_cve_2025_31133_image_devnull_replaced() {
	local id b
	id=$(new_id nullimg)
	mkbundle "$id" copy
	b=$(bundle_of "$id")
	ln -sf /proc/sys/kernel/core_pattern "$b/rootfs/dev/null"
	cfg "$id" '.mounts |= map(select(.destination != "/dev"))
		| .linux.maskedPaths = ["/proc/keys"]'
	set_args "$id" /bin/sh -c '/probe stat /proc/keys; wc -c </proc/keys'
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_match "$(sed -n 1p <<<"$OUT")" '^chr 1:3 ' "/proc/keys masked by the null device"
	assert_eq "$(sed -n 2p <<<"$OUT" | tr -d ' ')" 0 "bytes read from masked /proc/keys"
}

# ---- procfs and sysfs through a symlink ------------------------------------

# An image whose /proc (or /sys) is a symlink would get the filesystem at
# the link's target, where the masks on /proc/... do not apply. Refused,
# as runc refuses it, and the target stays an empty directory.
t_proc_and_sys_through_symlink_refused() {
	local id fs b
	for fs in proc sys; do
		id=$(new_id "ln$fs")
		mkbundle "$id" copy
		b=$(bundle_of "$id")
		rmdir "$b/rootfs/$fs" && mkdir "$b/rootfs/elsewhere-$fs" &&
			ln -s "elsewhere-$fs" "$b/rootfs/$fs" || fail "symlinked /$fs"
		refused "$id" "$(berth_or "on \`/$fs\`: the destination must be an ordinary directory, not a symlink" \
			'must be mounted on ordinary directory')"
		[ -z "$(ls -A "$b/rootfs/elsewhere-$fs")" ] ||
			fail "something was mounted or made at the link's target"
		grep -q "elsewhere-$fs" /proc/self/mountinfo && fail "a mount on the target is left"
	done
	return 0
}

# ---- linux.sysctl: the host's kernel settings --------------------------------

# host_sysctls: every writable /proc/sys setting with its value (ns_last_pid
# moves with every fork).
host_sysctls() {
	find /proc/sys -type f -perm /200 ! -name ns_last_pid \
		-exec grep -H . {} + 2>/dev/null | sort
}

# sysctl_refused NAME SYSCTLS-JSON JQ-FILTER MESSAGE: a config that sets the
# sysctls with the namespaces the filter leaves must be refused at create.
# A runtime that wrote the host's settings anyway gets them put back first,
# so that the failure does not outlive the test.
sysctl_refused() {
	local id key path old
	id=$(new_id "$1")
	mkbundle "$id"
	cfg "$id" ".linux.sysctl = $2 | $3"
	key=$(jq -rn "$2 | keys[0]")
	path=/proc/sys/$(tr . / <<<"${key//\//.}")
	old=$(cat "$path")
	run rt create --bundle "$(bundle_of "$id")" "$id"
	if [ "$(cat "$path")" != "$old" ]; then
		printf '%s\n' "$old" >"$path"
		fail "$key: the host's $path was written"
	fi
	[ "$RC" != 0 ] || fail "$key: create succeeded"
	assert_contains "$(last_line "$ERR")" "$4" "create's error"
	assert_gone "$id"
	[ -e "$ROOT/$id" ] && fail "state dir of $id left after a refused create"
	return 0
}

# A key that no namespace isolates, or one whose namespace the container
# shares with the host, would be written to the host's /proc/sys: create
# refuses each one, naming the key, and no host setting changes.
t_sysctl_host_settings_refused() {
	local before after swap shm fwd mq
	before=$(host_sysctls)
	[ -n "$before" ] || fail "no writable /proc/sys entry read"
	swap=$(($(cat /proc/sys/vm/swappiness) + 1))
	shm=$(($(cat /proc/sys/kernel/shmmni) + 1))
	fwd=$((1 - $(cat /proc/sys/net/ipv4/ip_forward)))
	mq=$(($(cat /proc/sys/fs/mqueue/msg_max) + 1))
	sysctl_refused core "{\"kernel.core_pattern\": \"|/bin/false-$IT_TOKEN\"}" . \
		"$(berth_or 'linux.sysctl["kernel.core_pattern"]: no namespace isolates this key' '')"
	sysctl_refused coreslash "{\"kernel/core_pattern\": \"|/bin/false-$IT_TOKEN\"}" . \
		"$(berth_or 'linux.sysctl["kernel/core_pattern"]' '')"
	sysctl_refused swap "{\"vm.swappiness\": \"$swap\"}" . \
		"$(berth_or 'linux.sysctl["vm.swappiness"]' '')"
	sysctl_refused hostnet "{\"net.ipv4.ip_forward\": \"$fwd\"}" \
		'del(.linux.namespaces[] | select(.type == "network"))' \
		"$(berth_or 'linux.sysctl["net.ipv4.ip_forward"]: the container has no network namespace of its own' '')"
	sysctl_refused joinednet "{\"net.ipv4.ip_forward\": \"$fwd\"}" \
		'(.linux.namespaces[] | select(.type == "network")) += {path: "/proc/self/ns/net"}' \
		"$(berth_or 'linux.sysctl["net.ipv4.ip_forward"]: the container has no network namespace of its own' '')"
	sysctl_refused hostipc "{\"kernel.shmmni\": \"$shm\"}" \
		'del(.linux.namespaces[] | select(.type == "ipc"))' \
		"$(berth_or 'linux.sysctl["kernel.shmmni"]: the container has no ipc namespace of its own' '')"
	sysctl_refused hostmq "{\"fs.mqueue.msg_max\": \"$mq\"}" \
		'del(.linux.namespaces[] | select(.type == "ipc"))' \
		"$(berth_or 'linux.sysctl["fs.mqueue.msg_max"]' '')"
	sysctl_refused hostuts "{\"kernel.domainname\": \"d-$IT_TOKEN\"}" \
		'del(.linux.namespaces[] | select(.type == "uts")) | del(.hostname)' \
		"$(berth_or 'linux.sysctl["kernel.domainname"]: the container has no uts namespace of its own' '')"
	after=$(host_sysctls)
	[ "$before" = "$after" ] ||
		fail "host /proc/sys changed: $(diff <(echo "$before") <(echo "$after") | head -n 6 | tr '\n' ' ')"
}

# The namespaced keys work where the container has the namespace: each
# value is seen inside and the host keeps its own.
t_sysctl_namespaced_keys() {
	local id mq
	id=$(new_id sysctlns)
	mkbundle "$id"
	mq=$(($(cat /proc/sys/fs/mqueue/msg_max) - 1))
	cfg "$id" ".linux.sysctl = {\"fs.mqueue.msg_max\": \"$mq\",
		\"kernel.domainname\": \"d-$IT_TOKEN\", \"kernel.msgmnb\": \"12345\"}"
	set_args "$id" /bin/sh -c 'cat /proc/sys/fs/mqueue/msg_max /proc/sys/kernel/domainname /proc/sys/kernel/msgmnb'
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$OUT" "$(printf '%s\nd-%s\n12345' "$mq" "$IT_TOKEN")" "sysctls inside"
	assert_ne "$(cat /proc/sys/fs/mqueue/msg_max)" "$mq" "host's fs.mqueue.msg_max"
	assert_ne "$(cat /proc/sys/kernel/domainname)" "d-$IT_TOKEN" "host's domainname"
}

# kernel.hostname may not contradict the hostname field.
t_sysctl_hostname_conflict() {
	berth_only "runc 1.1 refuses kernel.hostname whatever its value"
	sysctl_refused hnconf '{"kernel.hostname": "other"}' '.hostname = "mine"' \
		'linux.sysctl["kernel.hostname"]: conflicts with hostname "mine"'
}

# ---- CVE-2025-52881: /proc writes redirected by mounts ---------------------

t_cve_2025_52881_tmpfs_over_proc_sys() {
	local id
	id=$(new_id sysctltmpfs)
	mkbundle "$id"
	add_mount "$id" '{"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}'
	cfg "$id" '.linux.sysctl = {"kernel.shmmni": "1000"}'
	refused "$id" "$(berth_or "/proc/sys" '')"
}

# ns_last_pid is one of the few files a bind may cover in /proc (lxcfs):
# the sysctl write must then refuse the file instead of writing it.
t_cve_2025_52881_file_over_sysctl() {
	local id
	id=$(new_id sysctlfile)
	mkbundle "$id"
	echo orig >"$TDIR/fake-sysctl"
	add_mount "$id" "$(jq -nc --arg s "$TDIR/fake-sysctl" \
		'{destination: "/proc/sys/kernel/ns_last_pid", type: "bind", source: $s,
		  options: ["bind"]}')"
	cfg "$id" '.linux.sysctl = {"kernel.ns_last_pid": "4242"}'
	refused "$id" "$(berth_or 'sysctl `kernel.ns_last_pid`: /proc/sys/kernel/ns_last_pid: a mount covers it' '')"
	assert_eq "$(cat "$TDIR/fake-sysctl")" orig "the file bound over the sysctl"
}

# The same with another procfs file bound over the key: on procfs, but not
# the sysctl the config names. The host's file must keep its value.
t_cve_2025_52881_procfs_file_over_sysctl() {
	local id before
	berth_only "runc 1.1.5 writes through the bind"
	id=$(new_id sysctlproc)
	mkbundle "$id"
	before=$(cat /proc/sys/fs/lease-break-time)
	add_mount "$id" '{"destination": "/proc/sys/kernel/ns_last_pid", "type": "bind",
		"source": "/proc/sys/fs/lease-break-time", "options": ["bind"]}'
	cfg "$id" ".linux.sysctl = {\"kernel.ns_last_pid\": \"$((before + 1))\"}"
	refused "$id" 'sysctl `kernel.ns_last_pid`'
	assert_eq "$(cat /proc/sys/fs/lease-break-time)" "$before" \
		"the host's fs.lease-break-time"
}

t_cve_2025_52881_file_over_oom_score_adj() {
	local id
	id=$(new_id oomfile)
	mkbundle "$id"
	echo orig >"$TDIR/fake-oom"
	add_mount "$id" "$(jq -nc --arg s "$TDIR/fake-oom" \
		'{destination: "/proc/1/oom_score_adj", type: "bind", source: $s,
		  options: ["bind"]}')"
	cfg "$id" '.process.oomScoreAdj = 321'
	refused "$id" "$(berth_or "/proc/1/oom_score_adj" '')"
	assert_eq "$(cat "$TDIR/fake-oom")" orig "the file bound over oom_score_adj"
}

# ---- pid reuse --------------------------------------------------------------

# The state records the init's pid and start time. A stopped container
# whose recorded pid now belongs to another process must never signal it.
t_pid_reuse_never_signals_another_process() {
	local id st spid
	berth_only "edits berth's state.json"
	id=$(new_id reuse)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	assert_ok rt kill "$id" KILL
	wait_status "$id" stopped
	sleep 30 &
	spid=$!
	defer "kill -9 $spid"
	st="$ROOT/$id/state.json"
	jq --argjson p "$spid" '.pid = $p | .status = "running"' "$st" >"$st.new" &&
		mv "$st.new" "$st" || fail "edit $st"
	assert_eq "$(status_of "$id")" stopped "status with a reused pid"
	assert_fail_with "container not running" rt kill "$id" KILL
	assert_fail_with "stopped container" rt exec "$id" /probe pid
	kill -0 "$spid" 2>/dev/null || fail "kill signalled the process that reused the pid"
	assert_ok rt delete --force "$id"
	assert_gone "$id"
	sleep 0.1
	kill -0 "$spid" 2>/dev/null || fail "delete --force killed the process that reused the pid"
	return 0
}

# ---- personality -------------------------------------------------------------

t_personality_linux32() {
	local id
	[ "$(uname -m)" = x86_64 ] || skip "LINUX32 shows as i686 on x86_64 only"
	id=$(new_id pers32)
	mkbundle "$id"
	cfg "$id" '.linux.personality = {domain: "LINUX32"}'
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	assert_ok rt exec "$id" uname -m
	assert_eq "$OUT" "$(berth_or i686 "$OUT")" "uname -m in exec"
	id=$(new_id pers32run)
	mkbundle "$id"
	cfg "$id" '.linux.personality = {domain: "LINUX32"}'
	set_args "$id" uname -m
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$OUT" i686 "uname -m with domain LINUX32"
	id=$(new_id pers64)
	mkbundle "$id"
	cfg "$id" '.linux.personality = {domain: "LINUX"}'
	set_args "$id" uname -m
	run_a "$id"
	assert_eq "$OUT" x86_64 "uname -m with domain LINUX"
}

t_err_personality_unknown_flag() {
	local id
	berth_only "berth refuses personality flags it does not know"
	id=$(new_id persflag)
	mkbundle "$id"
	cfg "$id" '.linux.personality = {domain: "LINUX", flags: ["NO_SUCH_FLAG"]}'
	refused "$id" "linux.personality.flags[0]: unknown flag \`NO_SUCH_FLAG\`"
}

# ---- LSM labels on a host without the LSM ----------------------------------

t_err_apparmor_not_enabled() {
	local id
	berth_only "the message names the field"
	[ -d /sys/kernel/security/apparmor ] && skip "AppArmor is enabled here"
	id=$(new_id aa)
	mkbundle "$id"
	cfg "$id" '.process.apparmorProfile = "berth-test"'
	refused "$id" "process.apparmorProfile \`berth-test\`: AppArmor is not enabled on this host"
	# asking for no confinement needs no AppArmor
	cfg "$id" '.process.apparmorProfile = "unconfined"'
	set_args "$id" /probe pid
	run_a "$id"
	assert_eq "$RC" 0 "run with apparmorProfile unconfined: $(last_line "$ERR")"
}

t_err_selinux_not_enabled() {
	local id
	berth_only "the message names the field"
	[ -e /sys/fs/selinux/enforce ] && skip "SELinux is enabled here"
	id=$(new_id selinux)
	mkbundle "$id"
	cfg "$id" '.process.selinuxLabel = "system_u:system_r:container_t:s0"'
	refused "$id" "process.selinuxLabel \`system_u:system_r:container_t:s0\`: SELinux is not enabled"
	id=$(new_id mountlabel)
	mkbundle "$id"
	cfg "$id" '.linux.mountLabel = "system_u:object_r:container_file_t:s0"'
	refused "$id" "linux.mountLabel"
}

t_err_exec_apparmor_not_enabled() {
	local id
	berth_only "the message names the field"
	[ -d /sys/kernel/security/apparmor ] && skip "AppArmor is enabled here"
	id=$(new_id aaexec)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	jq -n '{cwd: "/", args: ["/probe", "pid"], apparmorProfile: "berth-test"}' \
		>"$TDIR/process.json"
	assert_fail_with "AppArmor is not enabled on this host" \
		rt exec --process "$TDIR/process.json" "$id"
	assert_fail_with "AppArmor is not enabled on this host" \
		rt exec --apparmor berth-test "$id" /probe pid
}

# ---- bad seccomp input --------------------------------------------------------

t_err_seccomp_unknown_action() {
	local id
	id=$(new_id scact)
	mkbundle "$id"
	cfg "$id" '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
		syscalls: [{names: ["mkdir"], action: "SCMP_ACT_NO_SUCH"}]}'
	refused "$id" "$(berth_or 'linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_NO_SUCH"' '')"
}

t_err_seccomp_unknown_arch() {
	local id
	id=$(new_id scarch)
	mkbundle "$id"
	cfg "$id" '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
		architectures: ["SCMP_ARCH_NO_SUCH"]}'
	refused "$id" "$(berth_or 'unknown architecture "SCMP_ARCH_NO_SUCH"' '')"
}

t_err_seccomp_errno_ret_without_errno_action() {
	local id
	id=$(new_id scerrno)
	mkbundle "$id"
	cfg "$id" '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
		syscalls: [{names: ["mkdir"], action: "SCMP_ACT_ALLOW", errnoRet: 1}]}'
	refused "$id" "$(berth_or 'linux.seccomp.syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO' '')"
	cfg "$id" '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", defaultErrnoRet: 1}'
	refused "$id" "$(berth_or 'linux.seccomp.defaultErrnoRet: only valid with SCMP_ACT_ERRNO' '')"
}

t_err_seccomp_relative_listener_path() {
	local id
	id=$(new_id sclisten)
	mkbundle "$id"
	cfg "$id" '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
		listenerPath: "relative/agent.sock",
		syscalls: [{names: ["mkdir"], action: "SCMP_ACT_NOTIFY"}]}'
	refused "$id" "$(berth_or 'linux.seccomp.listenerPath `relative/agent.sock` must be an absolute path' '')"
}
