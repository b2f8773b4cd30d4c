# linux.seccomp: the profile holds in the container's process and in exec'd
# processes, whether it is loaded before the user switch
# (noNewPrivileges false) or right before execve (true).

# deny_mkdir ID: a profile that fails mkdir with EPERM and a writable /tmp
# to try it in.
deny_mkdir() {
	add_mount "$1" '{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}'
	cfg "$1" '.linux.seccomp = {
		defaultAction: "SCMP_ACT_ALLOW",
		architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
		syscalls: [{names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO",
			errnoRet: 1}]}'
}

# try_mkdir: a shell line that creates a file (allowed) then a directory.
try_mkdir='touch /tmp/f && echo touched; mkdir /tmp/x 2>&1; echo "rc=$?"'

check_denied() {
	assert_contains "$OUT" touched "creating a file in /tmp"
	assert_contains "$OUT" "Operation not permitted" "mkdir under the filter"
	assert_contains "$OUT" "rc=1" "mkdir's exit status"
}

t_seccomp_errno_no_new_privs() {
	local id
	id=$(new_id scnnp)
	mkbundle "$id"
	deny_mkdir "$id"
	cfg "$id" '.process.noNewPrivileges = true'
	set_args "$id" /bin/sh -c "$try_mkdir"
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	check_denied
}

# Without no_new_privs the filter is loaded while still privileged; the
# user switch that follows must not undo it.
t_seccomp_errno_privileged_load_non_root() {
	local id
	id=$(new_id scuser)
	mkbundle "$id"
	deny_mkdir "$id"
	cfg "$id" '.process.noNewPrivileges = false
		| .process.user = {uid: 1000, gid: 1000}'
	set_args "$id" /bin/sh -c "$try_mkdir"
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	check_denied
}

t_seccomp_filter_mode() {
	local id
	id=$(new_id scmode)
	mkbundle "$id"
	deny_mkdir "$id"
	set_args "$id" /probe seccomp
	run_a "$id"
	assert_eq "$RC" 0 "probe seccomp: $ERR"
	assert_match "$OUT" '^Seccomp:[[:space:]]+2$' "mode of the container's process"
}

t_seccomp_exec() {
	local id
	id=$(new_id scexec)
	mkbundle "$id"
	deny_mkdir "$id"
	set_args "$id" /probe signal-wait
	must_run_d "$id"
	wait_file "$TDIR/$id.out" ready
	assert_ok rt exec "$id" /bin/sh -c "$try_mkdir"
	check_denied
	assert_ok rt exec --no-new-privs "$id" /bin/sh -c "$try_mkdir"
	check_denied
}

t_seccomp_unknown_syscall_is_skipped() {
	local id
	id=$(new_id scunk)
	mkbundle "$id"
	deny_mkdir "$id"
	cfg "$id" '.linux.seccomp.syscalls[0].names += ["no_such_syscall"]'
	set_args "$id" /bin/sh -c "$try_mkdir"
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	check_denied
}

t_seccomp_unknown_flag() {
	local id
	berth_only "the message names the flag"
	id=$(new_id scflag)
	mkbundle "$id"
	deny_mkdir "$id"
	cfg "$id" '.linux.seccomp.flags = ["SECCOMP_FILTER_FLAG_NOPE"]'
	assert_fail_with "unknown flag \`SECCOMP_FILTER_FLAG_NOPE\`" \
		rt create --bundle "$(bundle_of "$id")" "$id"
	assert_gone "$id"
}

t_seccomp_notify_without_listener() {
	local id
	berth_only "the message names the field"
	id=$(new_id scnotify)
	mkbundle "$id"
	cfg "$id" '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
		syscalls: [{names: ["mkdir"], action: "SCMP_ACT_NOTIFY"}]}'
	assert_fail_with "SCMP_ACT_NOTIFY needs listenerPath" \
		rt create --bundle "$(bundle_of "$id")" "$id"
	assert_gone "$id"
}

# The process would wait for the agent on its own writes: refused, as runc
# refuses it, even with a listener.
t_seccomp_notify_on_write_refused() {
	local id
	id=$(new_id scnotifyw)
	mkbundle "$id"
	cfg "$id" '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
		listenerPath: "/run/berth-no-such-listener.sock",
		syscalls: [{names: ["mkdir"], action: "SCMP_ACT_ALLOW"},
			{names: ["read", "write"], action: "SCMP_ACT_NOTIFY"}]}'
	assert_fail_with "$(berth_or 'linux.seccomp.syscalls[1]: SCMP_ACT_NOTIFY cannot be used for write' \
		'SCMP_ACT_NOTIFY cannot be used for the write syscall')" \
		rt create --bundle "$(bundle_of "$id")" "$id"
	assert_gone "$id"
}

# SCMP_ACT_NOTIFY with listenerPath: the listener gets the notify fd over
# SCM_RIGHTS with the container process state the spec describes. It then
# closes the fd, so the notified call fails with ENOSYS.
t_seccomp_notify_listener_gets_the_fd() {
	local id lpid n
	command -v python3 >/dev/null || skip "python3 is not installed"
	id=$(new_id sclisten)
	mkbundle "$id"
	cat >"$TDIR/listener.py" <<-'PY'
	import array, json, os, socket, sys
	path, out = sys.argv[1], sys.argv[2]
	s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	s.bind(path)
	s.listen(1)
	open(out + ".ready", "w").close()
	c, _ = s.accept()
	msg, anc, _, _ = c.recvmsg(1 << 16, socket.CMSG_LEN(16))
	fds = array.array("i")
	for level, kind, data in anc:
	    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
	        fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
	res = {"nfds": len(fds), "state": json.loads(msg)}
	if fds:
	    res["fd"] = os.readlink("/proc/self/fd/%d" % fds[0])
	    os.close(fds[0])
	json.dump(res, open(out, "w"))
	PY
	python3 "$TDIR/listener.py" "$TDIR/l.sock" "$TDIR/got.json" &
	lpid=$!
	defer "kill $lpid"
	for n in $(seq 100); do [ -e "$TDIR/got.json.ready" ] && break; sleep 0.05; done
	cfg "$id" '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
		listenerPath: $p, listenerMetadata: "meta-berth",
		syscalls: [{names: ["mkdir", "mkdirat"], action: "SCMP_ACT_NOTIFY"}]}' \
		--arg p "$TDIR/l.sock"
	set_args "$id" /bin/sh -c 'mkdir /tmp/x 2>/dev/null; echo mkdir $?'
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	wait "$lpid"
	assert_eq "$(jq -r .nfds "$TDIR/got.json")" 1 "one fd came"
	assert_eq "$(jq -r .fd "$TDIR/got.json")" "anon_inode:seccomp notify" "a seccomp notify fd"
	assert_eq "$(jq -r '.state.fds | join(",")' "$TDIR/got.json")" seccompFd "state.fds"
	assert_eq "$(jq -r .state.metadata "$TDIR/got.json")" meta-berth "listenerMetadata"
	assert_eq "$(jq -r .state.state.id "$TDIR/got.json")" "$id" "the container's state"
	assert_match "$(jq -r .state.pid "$TDIR/got.json")" '^[0-9]+$' "the process's pid"
	assert_eq "$OUT" "mkdir 1" "the notified mkdir failed once the listener let go"
}

# An allow-list with an errno default: a syscall past every one the
# profile names (a newer kernel's) fails with ENOSYS, so that programs fall
# back, as under runc; a known one the list leaves out gets the default.
t_seccomp_unknown_syscall_enosys() {
	local id
	id=$(new_id scenosys)
	mkbundle "$id"
	cfg "$id" '.linux.seccomp = {defaultAction: "SCMP_ACT_ERRNO",
		architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
		syscalls: [{names: ["execve", "brk", "arch_prctl", "set_tid_address",
			"set_robust_list", "rseq", "prlimit64", "readlink", "readlinkat",
			"uname", "mprotect", "mmap", "munmap", "newfstatat", "fstat",
			"write", "writev", "read", "exit", "exit_group", "getrandom",
			"ioctl", "close", "openat", "rt_sigaction", "rt_sigprocmask",
			"rt_sigreturn", "futex", "getpid", "capget", "capset", "prctl",
			"setgroups", "setresuid", "setresgid", "getuid", "getgid",
			"geteuid", "getegid", "chdir", "fcntl", "dup2", "dup3", "pipe2",
			"sched_getaffinity", "statx", "poll", "ppoll", "getppid", "fstatfs",
			"statfs", "getcwd", "close_range", "nanosleep", "epoll_pwait",
			"epoll_ctl", "epoll_create1", "faccessat2", "fchdir", "setsid",
			"getdents64", "lseek", "sigaltstack", "tgkill", "gettid"],
			action: "SCMP_ACT_ALLOW"}]}'
	set_args "$id" /probe syscall 1000
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$OUT" "38 Function not implemented" "syscall 1000 under an allow-list"
	# mount (165 on x86_64) is known and not listed: the default errno
	[ "$(uname -m)" = x86_64 ] || return 0
	set_args "$id" /probe syscall 165
	run_a "$id"
	assert_eq "$OUT" "1 Operation not permitted" "mount under an allow-list"
}

# allow_list ID NNP [CALL...]: an errno default that allows the static
# probe's own calls (execve, its start-up, exit), and the CALLs; no
# process.env HOME, PATH=/bin:/ for a lookup of `probe`.
allow_list() {
	local id=$1 nnp=$2
	shift 2
	cfg "$id" '.process.noNewPrivileges = $nnp
		| .process.env = ["PATH=/bin:/"]
		| .linux.seccomp = {defaultAction: "SCMP_ACT_ERRNO",
		syscalls: [{names: (["execve", "mprotect", "brk", "readlink",
			"arch_prctl", "set_tid_address", "set_robust_list", "prlimit64",
			"getrandom", "rseq", "exit_group", "rt_sigreturn"] + $ARGS.positional),
			action: "SCMP_ACT_ALLOW"}]}' --argjson nnp "$nnp" --args "$@"
}

# With no_new_privs the filter is the last step before execve: a profile
# that allows the program's own calls and execve, and nothing of berth's
# (no close_range, stat for the PATH lookup, open for /etc/passwd), runs
# under create/start, run and exec.
t_seccomp_filter_is_the_last_step() {
	local id
	berth_only "runc 1.1 opens and writes its exec fifo under the filter"
	id=$(new_id sclast)
	mkbundle "$id"
	allow_list "$id" true
	set_args "$id" probe exit 7
	run_a "$id"
	assert_eq "$RC" 7 "run under a strict allow-list: $(last_line "$ERR")"
	set_args "$id" probe signal-wait
	cfg "$id" '.linux.seccomp.syscalls[0].names += ["rt_sigprocmask", "rt_sigtimedwait",
		"write", "openat", "close", "getpid", "pause", "rt_sigsuspend", "fstat",
		"newfstatat", "kill"]'
	must_create "$id"
	assert_ok rt start "$id"
	wait_status "$id" running
	run rt exec "$id" probe exit 5
	assert_eq "$RC" 5 "exec under a strict allow-list: $(last_line "$ERR")"
	assert_ok rt kill "$id" KILL
}

# startContainer hooks run under the container's filter, as runc runs
# them: a hook's mkdir is refused where the profile refuses it.
t_seccomp_start_container_hook_under_filter() {
	local id
	id=$(new_id schook)
	mkbundle "$id"
	mkdir -p "$TDIR/marks"
	add_mount "$id" "$(jq -nc --arg s "$TDIR/marks" \
		'{destination: "/mnt", type: "bind", source: $s, options: ["rbind", "rw"]}')"
	cfg "$id" '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
		syscalls: [{names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO"}]}'
	add_hook "$id" startContainer "cat >/dev/null
		if mkdir /mnt/made 2>/dev/null; then echo made; else echo denied; fi >/mnt/hook"
	set_args "$id" /bin/true
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$(cat "$TDIR/marks/hook")" denied "mkdir in a startContainer hook"
}

# Without no_new_privs the filter goes on before berth drops privileges:
# the README lists what the profile must allow then; that list (and the
# program's own calls) is enough for run and for create and start.
t_seccomp_privileged_load_needs_the_documented_calls() {
	local id
	berth_only "the list is berth's"
	# a sanitizer's run-time makes calls of its own (mmap) in the init
	grep -q __asan_init "$BERTH" && skip "berth built with a sanitizer"
	id=$(new_id scpriv)
	mkbundle "$id"
	allow_list "$id" false "setgroups" "setresgid" "setresuid" "fchown" \
		"chdir" "getcwd" "capget" "capset" "prctl" "sched_setaffinity" \
		"close_range" "sendmsg" "recvmsg" "read" "write" "close" "accept4" \
		"newfstatat" "openat"
	set_args "$id" probe exit 7
	run_a "$id"
	assert_eq "$RC" 7 "run: $(last_line "$ERR")"
	must_create "$id"
	assert_ok rt start "$id"
	wait_status "$id" stopped
}
