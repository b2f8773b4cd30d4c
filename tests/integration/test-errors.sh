# Bad input: every failure exits 1, the last line of stderr names what
# failed, and nothing is left behind (the cleanup checks state dirs,
# cgroups, processes and mounts after every test).

# create_fails ID MESSAGE: create must fail with MESSAGE and leave no
# container.
create_fails() {
	assert_fail_with "$2" rt create --bundle "$(bundle_of "$1")" "$1"
	assert_gone "$1"
	[ -e "$ROOT/$1" ] && fail "state dir of $1 left after a failed create"
	return 0
}

t_err_invalid_json() {
	local id
	id=$(new_id badjson)
	mkbundle "$id"
	echo '{"ociVersion": "1.0.2", "process": {not json' >"$(bundle_of "$id")/config.json"
	create_fails "$id" "$(berth_or config.json "invalid character")"
}

t_err_missing_config() {
	local id
	id=$(new_id noconfig)
	mkdir -p "$(bundle_of "$id")"
	create_fails "$id" config.json
}

t_err_missing_bundle() {
	local id
	id=$(new_id nobundle)
	create_fails "$id" "$(bundle_of "$id")"
}

t_err_wrong_field_type() {
	local id
	id=$(new_id badtype)
	mkbundle "$id"
	cfg "$id" '.process.args = ["/probe", "exit", 3]'
	create_fails "$id" "$(berth_or "process.args[2]" "cannot unmarshal number")"
}

t_err_wrong_nested_type() {
	local id
	id=$(new_id badtype2)
	mkbundle "$id"
	cfg "$id" '.linux.namespaces[1].type = 5'
	create_fails "$id" "$(berth_or "linux.namespaces[1].type" "cannot unmarshal number")"
}

t_err_missing_rootfs() {
	local id
	id=$(new_id norootfs)
	mkbundle "$id"
	cfg "$id" '.root.path = $p' --arg p "$TDIR/no-such-rootfs"
	create_fails "$id" "no-such-rootfs"
}

t_err_missing_executable() {
	local id
	id=$(new_id noexe)
	mkbundle "$id"
	set_args "$id" no-such-binary
	if [ "$IT_IS_BERTH" = 1 ]; then
		# berth, like runc >= 1.1.? at start: create succeeds, start fails.
		must_create "$id"
		assert_fail_with "executable file not found" rt start "$id"
		assert_ok rt delete -f "$id"
	else
		run create "$id"
		if [ "$RC" = 0 ]; then
			assert_fail_with "executable file not found" rt start "$id"
			assert_ok rt delete -f "$id"
		else
			assert_eq "$RC" 1 "create with a missing executable"
			assert_contains "$(last_line "$(cat "$TDIR/$id.err")")" \
				"executable file not found" "create with a missing executable"
		fi
	fi
	assert_gone "$id"
}

# The init fails (a 65-character hostname) while the parent still talks
# to it: its error must reach the user every time, never the reset
# connection it leaves behind.
t_err_init_error_always_wins() {
	local id i b
	berth_only "the message is berth's"
	id=$(new_id longhost)
	mkbundle "$id"
	b=$(bundle_of "$id")
	cfg "$id" '.hostname = $h' --arg h "$(printf 'h%.0s' $(seq 65))"
	for i in $(seq 50); do
		run rt run --bundle "$b" "$id-$i"
		assert_eq "$RC" 1 "run $i with a 65-character hostname"
		assert_contains "$(last_line "$ERR")" "set hostname \`hhh" "run $i"
		assert_contains "$(last_line "$ERR")" "Invalid argument" "run $i"
	done
	assert_gone "$id-50"
}

t_err_unknown_mount_type() {
	local id
	id=$(new_id badmount)
	mkbundle "$id"
	add_mount "$id" '{"destination": "/mnt", "type": "nosuchfs", "source": "none"}'
	create_fails "$id" "/mnt"
}

t_err_mount_source_missing() {
	local id
	id=$(new_id badsrc)
	mkbundle "$id"
	add_mount "$id" "$(jq -nc --arg s "$TDIR/no-such-dir" \
		'{destination: "/mnt", type: "bind", source: $s, options: ["rbind"]}')"
	create_fails "$id" "no-such-dir"
}

t_err_namespace_path_missing() {
	local id
	id=$(new_id badns)
	mkbundle "$id"
	cfg "$id" '.linux.namespaces |= map(if .type == "network" then .path = $p else . end)' \
		--arg p "/run/netns/berth-no-such-ns-$IT_TOKEN"
	create_fails "$id" "berth-no-such-ns-$IT_TOKEN"
}

t_err_unknown_capability() {
	local id
	id=$(new_id badcap)
	mkbundle "$id"
	cfg "$id" '.process.capabilities.bounding += ["CAP_NO_SUCH_THING"]'
	set_args "$id" /probe caps
	# runc ignores unknown capabilities with a warning.
	[ "$IT_IS_BERTH" = 1 ] || skip "berth-specific: runc ignores unknown capabilities"
	create_fails "$id" "CAP_NO_SUCH_THING"
}

t_err_unknown_rlimit() {
	local id
	id=$(new_id badrlimit)
	mkbundle "$id"
	cfg "$id" '.process.rlimits = [{type: "RLIMIT_NO_SUCH", soft: 1, hard: 1}]'
	create_fails "$id" "RLIMIT_NO_SUCH"
}

t_err_relative_cwd() {
	local id
	id=$(new_id relcwd)
	mkbundle "$id"
	cfg "$id" '.process.cwd = "tmp"'
	create_fails "$id" "$(berth_or cwd Cwd)"
}

t_err_duplicate_id() {
	local id
	id=$(new_id dupe)
	mkbundle "$id"
	must_create "$id"
	assert_fail_with "$(berth_or "$id" "already exists")" \
		rt create --bundle "$(bundle_of "$id")" "$id"
	assert_eq "$(status_of "$id")" created "the first container after a duplicate create"
	assert_ok rt delete "$id"
	assert_gone "$id"
}

t_err_bad_signal() {
	local id
	id=$(new_id badsignal)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	assert_fail_with "SIGNOPE" rt kill "$id" SIGNOPE
	assert_fail_with "" rt kill "$id" -- -1
	assert_eq "$(status_of "$id")" running "after bad kills"
}

t_err_delete_running() {
	local id
	id=$(new_id delrunning)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	assert_fail_with "$id" rt delete "$id"
	assert_eq "$(status_of "$id")" running "after a refused delete"
}

t_err_failing_hook() {
	local id
	id=$(new_id badhook)
	mkbundle "$id"
	add_hook "$id" createRuntime "echo hook-says-no >&2; exit 3"
	create_fails "$id" hook
}

t_err_missing_hook_binary() {
	local id
	id=$(new_id nohookbin)
	mkbundle "$id"
	cfg "$id" '.hooks.createRuntime = [{path: "/no/such/hook"}]'
	create_fails "$id" "/no/such/hook"
}

# berth killed by SIGKILL in the middle of create (while a createRuntime
# hook runs): delete --force must still remove everything it had made.
t_err_sigkill_during_create() {
	local id pid hookpid
	# Checked with runc 1.1.5: it leaves its blocked init and the cgroup.
	berth_only "runc leaves its init and cgroup behind here"
	id=$(new_id killcreate)
	mkbundle "$id"
	add_hook "$id" createRuntime "echo \$\$ >$TDIR/hook.pid; exec sleep 30"
	(exec "$BERTH" --root "$ROOT" create --bundle "$(bundle_of "$id")" "$id" \
		</dev/null >"$TDIR/$id.out" 2>"$TDIR/$id.err") &
	pid=$!
	local n=100
	while ! grep -q . "$TDIR/hook.pid" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null ||
			fail "create ended before the hook ran: $(last_line "$(cat "$TDIR/$id.err")")"
		n=$((n - 1))
		[ $n -gt 0 ] || fail "the createRuntime hook did not run"
		sleep 0.05
	done
	hookpid=$(cat "$TDIR/hook.pid")
	kill -9 "$pid"
	wait "$pid"
	kill -9 "$hookpid" 2>/dev/null
	assert_ok rt delete --force "$id"
	assert_gone "$id"
}

t_err_sigkill_after_create() {
	local id pid
	id=$(new_id killcreated)
	mkbundle "$id"
	must_create "$id"
	pid=$(pid_of "$id")
	# The runtime's own processes may be gone; the init is still blocked.
	kill -9 "$pid"
	sleep 0.1
	assert_eq "$(status_of "$id")" stopped "created container whose init was killed"
	assert_ok rt delete "$id"
	assert_gone "$id"
}

# berth run killed by SIGKILL while its container runs: the container
# goes on, as with runc, state shows it running, and delete --force
# removes everything.
t_err_sigkill_during_run() {
	local id pid init
	id=$(new_id killrun)
	mkbundle "$id"
	set_args "$id" /probe signal-wait
	(exec "$BERTH" --root "$ROOT" run --bundle "$(bundle_of "$id")" "$id" \
		</dev/null >"$TDIR/$id.out" 2>"$TDIR/$id.err") &
	pid=$!
	wait_file "$TDIR/$id.out" ready
	kill -9 "$pid"
	wait "$pid"
	assert_eq "$(status_of "$id")" running "container of a killed run"
	init=$(pid_of "$id")
	[ -d "/proc/$init" ] || fail "init $init of the killed run is gone"
	assert_ok rt delete --force "$id"
	assert_gone "$id"
	# reparented when run died: a zombie until its new parent reaps it
	local st
	st=$(awk '{ print $3 }' "/proc/$init/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ] || fail "init $init ($st) outlived delete --force"
}

# --systemd-cgroup where systemd is not PID 1 (this host): refused before
# anything exists, naming the cause. The driver itself is checked in the
# QEMU guest, which boots systemd (tests/vm/check-systemd.sh).
t_err_systemd_cgroup_without_systemd() {
	local id
	[ -e /run/systemd/system ] && skip "systemd runs as PID 1 here"
	berth_only
	id=$(new_id sdcg)
	mkbundle "$id"
	cfg "$id" '.linux.cgroupsPath = "system.slice:berth:" + $i' --arg i "$id"
	assert_fail_with "systemd is not running as PID 1" \
		"$BERTH" --root "$ROOT" --systemd-cgroup create --bundle "$(bundle_of "$id")" "$id"
	assert_gone "$id"
}
