# Hooks: each kind runs at its point of the lifecycle, with the state on
# stdin; a failing hook fails the operation and leaves nothing behind.

# hook_bundle ID: a bundle whose hooks append their name to $TDIR/marks/log
# and keep the state they got on stdin in $TDIR/marks/NAME.json. The marks
# dir is bind-mounted at /mnt (a mount point the shared rootfs has), where
# startContainer (which runs inside the container) writes.
hook_bundle() {
	local id=$1 k
	mkbundle "$id"
	mkdir -p "$TDIR/marks"
	add_mount "$id" "$(jq -nc --arg s "$TDIR/marks" \
		'{destination: "/mnt", type: "bind", source: $s, options: ["rbind", "rw"]}')"
	for k in prestart createRuntime poststart poststop; do
		add_hook "$id" "$k" "cat >$TDIR/marks/$k.json; echo $k >>$TDIR/marks/log"
	done
	# createContainer runs in the container's namespaces; its path resolves
	# on the host, but whether the host's files are still visible is up to
	# the runtime (before or after pivot_root): accept both.
	add_hook "$id" createContainer "cat >/dev/null;
		d=$TDIR/marks; [ -d \$d ] || d=/mnt
		echo createContainer >>\$d/log"
	add_hook "$id" startContainer "cat >/mnt/startContainer.json; echo startContainer >>/mnt/log"
}

t_hooks_order_and_state() {
	local id pid
	id=$(new_id hooks)
	hook_bundle "$id"
	set_args "$id" /bin/sh -c 'echo process >>/mnt/log; exec /probe signal-wait'
	must_create "$id"
	# runc 1.1 runs poststart at create already.
	assert_eq "$(tr '\n' ' ' <"$TDIR/marks/log")" \
		"$(berth_or "prestart createRuntime createContainer " \
			"prestart createRuntime createContainer poststart ")" \
		"hooks after create"
	pid=$(pid_of "$id")
	assert_eq "$(jq -r .id "$TDIR/marks/createRuntime.json")" "$id" "id given to createRuntime"
	assert_eq "$(jq -r .pid "$TDIR/marks/createRuntime.json")" "$pid" "pid given to createRuntime"
	assert_eq "$(jq -r .status "$TDIR/marks/createRuntime.json")" creating "status given to createRuntime"
	assert_eq "$(jq -r .bundle "$TDIR/marks/prestart.json")" "$(bundle_of "$id")" "bundle given to prestart"

	assert_ok rt start "$id"
	wait_file "$TDIR/$id.out" ready
	wait_file "$TDIR/marks/log" poststart
	assert_eq "$(tr '\n' ' ' <"$TDIR/marks/log")" \
		"$(berth_or "prestart createRuntime createContainer startContainer process poststart " \
			"prestart createRuntime createContainer poststart startContainer process ")" \
		"hooks after start"
	assert_eq "$(jq -r .id "$TDIR/marks/startContainer.json")" "$id" "id given to startContainer"
	assert_eq "$(jq -r .status "$TDIR/marks/poststart.json")" \
		"$(berth_or running created)" "status given to poststart"

	assert_ok rt kill "$id" TERM
	wait_status "$id" stopped
	assert_ok rt delete "$id"
	assert_eq "$(tail -n 1 "$TDIR/marks/log")" poststop "last hook"
	assert_eq "$(jq -r .id "$TDIR/marks/poststop.json")" "$id" "id given to poststop"
	assert_eq "$(jq -r .status "$TDIR/marks/poststop.json")" stopped "status given to poststop"
	assert_gone "$id"
}

# The init sets itself up while berth makes its cgroup; the hooks must
# still find it in that cgroup, in every hierarchy, with its cgroup
# namespace rooted there.
t_hooks_see_init_in_cgroup() {
	local id pid
	id=$(new_id hookcg)
	mkbundle "$id"
	mkdir -p "$TDIR/marks-$id"
	cfg "$id" 'if any(.linux.namespaces[]; .type == "cgroup") then .
		else .linux.namespaces += [{type: "cgroup"}] end'
	add_hook "$id" createRuntime "pid=\$(jq -r .pid); cat /proc/\$pid/cgroup >$TDIR/marks-$id/cgroup"
	set_args "$id" /bin/sh -c 'cat /proc/self/cgroup; exec /probe signal-wait'
	must_create "$id"
	pid=$(pid_of "$id")
	local n_all n_in
	n_all=$(grep -c . "$TDIR/marks-$id/cgroup")
	n_in=$(grep -c "/berth-test-$IT_TOKEN/$id\$" "$TDIR/marks-$id/cgroup")
	assert_eq "$n_in" "$n_all" "hierarchies holding the init when createRuntime ran"
	assert_ok rt start "$id"
	wait_file "$TDIR/$id.out" ready
	assert_eq "$(grep -vc ':/$' "$TDIR/$id.out")" 1 \
		"cgroup lines inside the container not at its namespace root (only the probe's own line)"
	assert_ok rt delete -f "$id"
	assert_gone "$id"
}

t_hooks_run() {
	local id
	id=$(new_id hooksrun)
	hook_bundle "$id"
	set_args "$id" /probe exit 4
	run_a "$id"
	assert_eq "$RC" 4 "exit status"
	assert_eq "$(tr '\n' ' ' <"$TDIR/marks/log")" \
		"$(berth_or "prestart createRuntime createContainer startContainer poststart poststop " \
			"prestart createRuntime createContainer poststart startContainer poststop ")" \
		"hooks of run"
}

t_hook_env_and_args() {
	local id
	id=$(new_id hookenv)
	mkbundle "$id"
	cfg "$id" '.hooks.createRuntime = [{path: "/bin/sh",
		args: ["sh", "-c", "echo \"$0 $1 $HOOKVAR\" >" + $f, "a0", "a1"],
		env: ["HOOKVAR=hv"]}]' --arg f "$TDIR/hook.out"
	must_create "$id"
	assert_eq "$(cat "$TDIR/hook.out")" "a0 a1 hv" "hook args and env"
}

t_failing_hook_fails_create() {
	local k id
	for k in prestart createRuntime createContainer; do
		id=$(new_id "fail$k")
		mkbundle "$id"
		add_hook "$id" "$k" "echo hook-says-no >&2; exit 3"
		assert_fail_with "" create "$id"
		assert_gone "$id"
		[ -d "$ROOT/$id" ] && fail "state of $id left after a failing $k hook"
	done
	# Leftover cgroups, processes and mounts are checked by the cleanup.
	return 0
}

t_failing_startcontainer_hook() {
	local id
	id=$(new_id failstart)
	mkbundle "$id"
	add_hook "$id" startContainer "exit 1"
	set_args "$id" /bin/sh -c 'echo ran >/dev/stderr'
	must_create "$id"
	run rt start "$id"
	# berth reports the failure (runc 1.1 does not).
	[ "$IT_IS_BERTH" = 1 ] && assert_eq "$RC" 1 "start with a failing startContainer hook"
	sleep 0.2
	# The process must not have run.
	assert_not_contains "$(cat "$TDIR/$id.err")" ran "container output"
}

t_hook_timeout() {
	local id start
	id=$(new_id hooktimeout)
	mkbundle "$id"
	cfg "$id" '.hooks.createRuntime = [{path: "/bin/sleep", args: ["sleep", "30"], timeout: 1}]'
	start=$(date +%s)
	assert_fail_with "" create "$id"
	[ $(($(date +%s) - start)) -lt 10 ] || fail "hook timeout not enforced"
	assert_gone "$id"
}

t_poststart_failure_is_not_fatal() {
	local id
	id=$(new_id poststartfail)
	mkbundle "$id"
	add_hook "$id" poststart "exit 1"
	add_hook "$id" poststop "exit 1"
	set_args "$id" /probe exit 0
	run_a "$id"
	# runc fails `run` when poststart fails, the spec says it is only
	# logged; either way the container is gone afterwards.
	assert_gone "$id"
}

# As runc runs them: prestart and createRuntime in the bundle,
# createContainer in the container's root (before pivot_root, its host
# path); a hook without env gets the runtime's environment.
t_hooks_cwd_and_env() {
	local id
	id=$(new_id hookcwd)
	mkbundle "$id"
	mkdir -p "$TDIR/marks"
	for k in prestart createRuntime createContainer; do
		add_hook "$id" "$k" "cat >/dev/null; pwd >$TDIR/marks/$k.cwd; env >$TDIR/marks/$k.env"
	done
	set_args "$id" /bin/true
	run env BERTH_HOOK_ENV="from $IT_TOKEN" "$BERTH" --root "$ROOT" run --bundle "$(bundle_of "$id")" "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$(cat "$TDIR/marks/prestart.cwd")" "$(realpath "$(bundle_of "$id")")" "prestart's cwd"
	assert_eq "$(cat "$TDIR/marks/createRuntime.cwd")" "$(realpath "$(bundle_of "$id")")" "createRuntime's cwd"
	assert_eq "$(cat "$TDIR/marks/createContainer.cwd")" "$(realpath "$ROOTFS")" "createContainer's cwd"
	# runc runs createContainer from its init, which has an environment
	# of its own; berth's init has berth's
	for k in prestart createRuntime $(berth_or createContainer ""); do
		grep -qx "BERTH_HOOK_ENV=from $IT_TOKEN" "$TDIR/marks/$k.env" ||
			fail "$k hook without env: the runtime's environment is missing"
	done
}
