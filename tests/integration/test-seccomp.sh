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
