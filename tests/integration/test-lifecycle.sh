# The container lifecycle: create, start, state, kill, delete, run, list,
# ps, pause/resume, spec and features.

t_create_start_kill_delete() {
	local id pid
	id=$(new_id life)
	mkbundle "$id"
	set_args "$id" /probe signal-wait
	must_create "$id"
	assert_ok rt state "$id"
	assert_eq "$(jq -r .status <<<"$OUT")" created "status after create"
	assert_eq "$(jq -r .id <<<"$OUT")" "$id" "state id"
	assert_eq "$(jq -r .bundle <<<"$OUT")" "$(bundle_of "$id")" "state bundle"
	assert_match "$(jq -r .ociVersion <<<"$OUT")" '^1\.' "state ociVersion"
	pid=$(jq -r .pid <<<"$OUT")
	assert_match "$pid" '^[1-9][0-9]*$' "pid of a created container"
	[ -d "/proc/$pid" ] || fail "init $pid of the created container is gone"
	# The user's program has not run yet.
	assert_eq "$(cat "$TDIR/$id.out")" "" "output before start"

	assert_ok rt start "$id"
	wait_file "$TDIR/$id.out" ready
	assert_eq "$(status_of "$id")" running "status after start"
	assert_eq "$(pid_of "$id")" "$pid" "pid after start"

	assert_ok rt kill "$id"
	wait_status "$id" stopped
	assert_eq "$(tail -n 1 "$TDIR/$id.out")" SIGTERM "signal seen by init"
	assert_ok rt delete "$id"
	[ -d "$ROOT/$id" ] && fail "state dir $ROOT/$id remains after delete"
	assert_gone "$id"
}

t_state_of_missing_container() {
	assert_fail_with "container does not exist" rt state "$IT_TOKEN-none"
}

t_run_attached_exit_status() {
	local id
	id=$(new_id exit3)
	mkbundle "$id"
	set_args "$id" /probe exit 3
	run_a "$id"
	assert_eq "$RC" 3 "exit status of run"
	assert_gone "$id"
}

t_run_attached_output() {
	local id
	id=$(new_id out)
	mkbundle "$id"
	set_args "$id" /bin/sh -c 'echo hello; echo oops >&2; /probe pid'
	run_a "$id"
	assert_eq "$RC" 0 "exit status"
	assert_eq "$OUT" "$(printf 'hello\n1')" "stdout (pid 1 in its pid ns)"
	assert_contains "$ERR" oops "stderr"
}

t_run_attached_signal_status() {
	local id
	id=$(new_id sig)
	mkbundle "$id"
	set_args "$id" /probe signal-wait
	(
		rt run --bundle "$(bundle_of "$id")" "$id" </dev/null \
			>"$TDIR/$id.out" 2>"$TDIR/$id.err"
		echo $? >"$TDIR/rc"
	) &
	wait_file "$TDIR/$id.out" ready
	assert_ok rt kill "$id" KILL
	wait
	assert_eq "$(cat "$TDIR/rc")" 137 "status of run killed by SIGKILL"
	assert_gone "$id"
}

t_run_detached() {
	local id pid
	id=$(new_id det)
	mkbundle "$id"
	set_args "$id" /probe signal-wait
	must_run_d "$id"
	wait_file "$TDIR/$id.out" ready
	assert_eq "$(status_of "$id")" running "status after run -d"
	pid=$(pid_of "$id")
	[ -d "/proc/$pid" ] || fail "init $pid not running"
	assert_ok rt kill "$id" KILL
	wait_status "$id" stopped
	assert_ok rt delete "$id"
	assert_gone "$id"
}

t_pid_file() {
	local id f
	id=$(new_id pidf)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	f=$TDIR/pidfile
	must_create "$id" --pid-file "$f"
	[ -f "$f" ] || fail "no pid file"
	assert_match "$(cat "$f")" '^[1-9][0-9]*$' "pid file content"
	assert_eq "$(cat "$f")" "$(pid_of "$id")" "pid file vs state"
	assert_eq "$(stat -c %s "$f")" "$(printf %s "$(cat "$f")" | wc -c)" \
		"pid file size (no trailing newline)"
	# A relative --pid-file is relative to the caller's cwd.
	local id2
	id2=$(new_id pidf2)
	mkbundle "$id2"
	(cd "$TDIR" && create "$id2" --pid-file rel.pid) ||
		fail "create with a relative pid file"
	assert_eq "$(cat "$TDIR/rel.pid")" "$(pid_of "$id2")" "relative pid file"
}

t_list() {
	local a b
	a=$(new_id lista)
	b=$(new_id listb)
	mkbundle "$a"
	mkbundle "$b"
	set_args "$a" /probe sleep 30
	cfg "$a" '.annotations = {k: "v"}'
	must_create "$a"
	must_run_d "$b"
	wait_status "$b" stopped

	assert_ok rt list
	assert_match "$(head -n 1 <<<"$OUT")" '^ID +PID +STATUS +BUNDLE +CREATED +OWNER' "list header"
	assert_match "$(grep "^$a " <<<"$OUT")" "^$a +[0-9]+ +created +$(bundle_of "$a") " "row of $a"
	assert_match "$(grep "^$b " <<<"$OUT")" "^$b +0 +stopped " "row of $b"

	assert_ok rt list --format json
	assert_eq "$(jq -r '[.[].id] | join(" ")' <<<"$OUT")" "$a $b" "ids in list json"
	assert_eq "$(jq -r ".[] | select(.id == \"$a\") | .status" <<<"$OUT")" created "status in list json"
	assert_eq "$(jq -r ".[] | select(.id == \"$a\") | .pid" <<<"$OUT")" "$(pid_of "$a")" "pid in list json"
	assert_eq "$(jq -r ".[] | select(.id == \"$a\") | .bundle" <<<"$OUT")" "$(bundle_of "$a")" "bundle in list json"
	# runc's fields, in runc's order
	assert_eq "$(jq -c ".[] | select(.id == \"$a\") | keys_unsorted" <<<"$OUT")" \
		'["ociVersion","id","pid","status","bundle","rootfs","created","annotations","owner"]' \
		"fields of list json"
	assert_eq "$(jq -r ".[] | select(.id == \"$a\") | .rootfs" <<<"$OUT")" "$ROOTFS" "rootfs in list json"
	assert_eq "$(jq -r ".[] | select(.id == \"$a\") | .annotations.k" <<<"$OUT")" v "annotations in list json"
	assert_eq "$(jq -r ".[] | select(.id == \"$a\") | .owner" <<<"$OUT")" root "owner in list json"
	assert_match "$(jq -r ".[] | select(.id == \"$a\") | .ociVersion" <<<"$OUT")" '^1\.' "ociVersion in list json"
	assert_match "$(grep "^$a " <<<"$(rt list)")" " root$" "owner column"

	assert_ok rt list -q
	assert_eq "$OUT" "$(printf '%s\n%s' "$a" "$b")" "list -q"
}

t_list_empty_root() {
	assert_ok rt list -q
	assert_eq "$OUT" "" "list -q of an empty root"
	assert_ok rt list --format json
	assert_match "$OUT" '^(\[\]|null)$' "list json of an empty root"
	# A root that does not exist yet lists nothing.
	run "$BERTH" --root "$TDIR/nonexistent" list -q
	assert_eq "$RC" 0 "list of a missing root"
	assert_eq "$OUT" "" "list of a missing root"
}

t_ps() {
	local id pid
	id=$(new_id ps)
	mkbundle "$id"
	set_args "$id" /probe signal-wait
	must_run_d "$id"
	wait_file "$TDIR/$id.out" ready
	pid=$(pid_of "$id")
	assert_ok rt ps --format json "$id"
	assert_eq "$(jq -r 'map(tostring) | index("'"$pid"'") != null' <<<"$OUT")" true "init pid $pid in ps json $OUT"
	assert_eq "$(jq -r length <<<"$OUT")" 1 "one process in ps"
	assert_ok rt exec -d "$id" /probe sleep 30
	assert_ok rt ps --format json "$id"
	assert_eq "$(jq -r length <<<"$OUT")" 2 "two processes after exec -d"
}

t_duplicate_id() {
	local id
	id=$(new_id dup)
	mkbundle "$id"
	must_create "$id"
	assert_fail_with "$(berth_or "$id" "exists")" \
		rt create --bundle "$(bundle_of "$id")" "$id"
	assert_eq "$(status_of "$id")" created "first container after a duplicate create"
}

t_invalid_ids() {
	local b bad
	b=$(new_id ok)
	mkbundle "$b"
	for bad in "a/b" "" "-x" "../x" "a b"; do
		run rt create --bundle "$(bundle_of "$b")" "$bad"
		[ "$RC" = 0 ] && fail "create accepted the id '$bad'"
		[ "$RC" = 1 ] || fail "create with id '$bad': exit $RC, expected 1"
	done
	# After "--" an id starting with "-" is an id; berth refuses ids not
	# starting with a letter or digit (runc accepts them).
	if [ "$IT_IS_BERTH" = 1 ]; then
		for bad in -x .x _x; do
			assert_fail_with "" rt create --bundle "$(bundle_of "$b")" -- "$bad"
		done
	fi
	run rt state "a/b"
	assert_eq "$RC" 1 "state a/b"
	assert_ok rt list -q
	assert_eq "$OUT" "" "containers after invalid ids"
}

t_kill_signal_names() {
	local s id
	for s in KILL SIGKILL 9; do
		id=$(new_id "kill$s")
		mkbundle "$id"
		set_args "$id" /probe sleep 60
		must_run_d "$id"
		assert_ok rt kill "$id" "$s"
		wait_status "$id" stopped
	done
	id=$(new_id killusr)
	mkbundle "$id"
	set_args "$id" /probe signal-wait
	must_run_d "$id"
	wait_file "$TDIR/$id.out" ready
	assert_ok rt kill "$id" USR1
	wait_status "$id" stopped
	assert_eq "$(tail -n 1 "$TDIR/$id.out")" SIGUSR1 "signal seen by init"
}

t_kill_bad_signal() {
	local id
	id=$(new_id badsig)
	mkbundle "$id"
	set_args "$id" /probe sleep 60
	must_run_d "$id"
	assert_fail_with NOPE rt kill "$id" NOPE
	assert_fail_with "" rt kill "$id" 999
	assert_eq "$(status_of "$id")" running "after a bad kill"
}

t_kill_stopped_container() {
	local id
	id=$(new_id killstopped)
	mkbundle "$id"
	set_args "$id" /probe exit 0
	must_run_d "$id"
	wait_status "$id" stopped
	assert_fail_with "not running" rt kill "$id" KILL
}

t_delete_running_needs_force() {
	local id
	id=$(new_id delrun)
	mkbundle "$id"
	set_args "$id" /probe sleep 60
	must_run_d "$id"
	assert_fail_with "$id" rt delete "$id"
	assert_eq "$(status_of "$id")" running "after a refused delete"
	assert_ok rt delete --force "$id"
	assert_gone "$id"
	# Idempotent with --force.
	assert_ok rt delete --force "$id"
	assert_ok rt delete -f "$id"
	assert_fail_with "does not exist" rt delete "$id"
}

t_delete_created_container() {
	local id pid
	id=$(new_id delcreated)
	mkbundle "$id"
	must_create "$id"
	pid=$(pid_of "$id")
	assert_ok rt delete "$id"
	assert_gone "$id"
	sleep 0.1
	local st
	st=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ] ||
		fail "init $pid of a deleted created container still runs (state $st)"
}

t_pause_resume() {
	local id
	id=$(new_id pause)
	mkbundle "$id"
	set_args "$id" /probe sleep 60
	must_run_d "$id"
	assert_ok rt pause "$id"
	assert_eq "$(status_of "$id")" paused "status after pause"
	assert_ok rt resume "$id"
	assert_eq "$(status_of "$id")" running "status after resume"
	assert_fail_with "" rt resume "$id"
}

# berth spec writes runc spec's config (but for the hostname and the
# ociVersion berth implements), rootless too; a namespace added to it is
# not a duplicate of one of berth's own.
t_spec_is_runcs() {
	local mode id
	berth_only "compares berth with runc"
	command -v runc >/dev/null || skip "runc is not installed"
	for mode in "" --rootless; do
		mkdir -p "$TDIR/r$mode" "$TDIR/b$mode"
		(cd "$TDIR/r$mode" && runc spec $mode) || fail "runc spec $mode"
		(cd "$TDIR/b$mode" && "$BERTH" spec $mode) || fail "berth spec $mode"
		assert_eq "$(jq -S 'del(.hostname, .ociVersion)' "$TDIR/b$mode/config.json")" \
			"$(jq -S 'del(.hostname, .ociVersion)' "$TDIR/r$mode/config.json")" \
			"berth spec $mode against runc spec $mode"
	done
	id=$(new_id addcgns)
	mkbundle "$id"
	cfg "$id" '.linux.namespaces += [{type: "cgroup"}]'
	set_args "$id" /bin/true
	run_a "$id"
	assert_eq "$RC" 0 "a cgroup namespace added to the spec: $(last_line "$ERR")"
}

t_spec_is_valid() {
	mkdir -p "$TDIR/spec"
	(cd "$TDIR/spec" && "$BERTH" spec) || fail "spec failed"
	local c=$TDIR/spec/config.json
	assert_match "$(jq -r .ociVersion "$c")" '^1\.' "ociVersion"
	assert_eq "$(jq -r .root.path "$c")" rootfs "root.path"
	assert_eq "$(jq -r '.process.args | length > 0' "$c")" true "process.args"
	# runc's namespaces: no cgroup namespace.
	assert_eq "$(jq -r '[.linux.namespaces[].type] | sort | join(",")' "$c")" \
		ipc,mount,network,pid,uts "namespaces"
	# spec refuses to overwrite an existing file.
	run sh -c "cd '$TDIR/spec' && '$BERTH' spec"
	assert_eq "$RC" 1 "spec over an existing config.json"
	# --bundle writes elsewhere.
	mkdir -p "$TDIR/spec2"
	assert_ok "$BERTH" spec --bundle "$TDIR/spec2"
	[ -s "$TDIR/spec2/config.json" ] || fail "spec --bundle wrote nothing"
}

t_features() {
	assert_ok "$BERTH" features
	assert_match "$(jq -r .ociVersionMin <<<"$OUT")" '^1\.' "ociVersionMin"
	assert_match "$(jq -r .ociVersionMax <<<"$OUT")" '^1\.' "ociVersionMax"
	assert_eq "$(jq -r '.linux.namespaces | index("user") != null' <<<"$OUT")" true "user namespace listed"
	assert_eq "$(jq -r '.mountOptions | index("rbind") != null' <<<"$OUT")" true "rbind listed"
}

t_start_twice() {
	local id
	id=$(new_id start2)
	mkbundle "$id"
	set_args "$id" /probe sleep 60
	must_create "$id"
	assert_ok rt start "$id"
	assert_fail_with "" rt start "$id"
	assert_eq "$(status_of "$id")" running "after a second start"
}

t_stopped_container_state() {
	local id
	id=$(new_id stopped)
	mkbundle "$id"
	set_args "$id" /probe exit 0
	must_run_d "$id"
	wait_status "$id" stopped
	assert_ok rt state "$id"
	assert_eq "$(jq -r .pid <<<"$OUT")" 0 "pid of a stopped container"
	assert_ok rt delete "$id"
	assert_gone "$id"
}

# sid_pgid PID: "SESSION PGRP" of a process, from /proc/PID/stat.
sid_pgid() {
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $4, $3 }'
}

# The init and an exec'd process each lead their own session and group,
# as with runc: what signals the caller's process group (job control,
# Slurm killing a command's group) must not reach the container.
t_own_session() {
	local id pid epid
	id=$(new_id session)
	mkbundle "$id"
	set_args "$id" /probe sleep 60
	must_create "$id"
	pid=$(pid_of "$id")
	assert_eq "$(sid_pgid "$pid")" "$pid $pid" "session and group of the created init"
	assert_ok rt start "$id"
	assert_ok rt exec -d --pid-file "$TDIR/exec.pid" "$id" /probe sleep 60
	epid=$(cat "$TDIR/exec.pid")
	assert_eq "$(sid_pgid "$epid")" "$epid $epid" "session and group of an exec'd process"
	assert_ok rt delete -f "$id"
	assert_gone "$id"
}

# Signal 0 sends nothing: kill exits 0 while the init lives, 1 once it is
# gone, as runc's does.
t_kill_signal_zero() {
	local id
	id=$(new_id kill0)
	mkbundle "$id"
	set_args "$id" /probe signal-wait
	must_run_d "$id"
	assert_ok rt kill "$id" 0
	assert_eq "$(status_of "$id")" running "after kill 0"
	assert_ok rt kill "$id" KILL
	wait_status "$id" stopped
	assert_fail_with "not running" rt kill "$id" 0
}

# run --keep leaves the stopped container for delete.
t_run_keep() {
	local id
	id=$(new_id keep)
	mkbundle "$id"
	set_args "$id" /probe exit 4
	run rt run --keep --bundle "$(bundle_of "$id")" "$id"
	assert_eq "$RC" 4 "exit status of run --keep"
	assert_eq "$(status_of "$id")" stopped "the kept container"
	assert_ok rt delete "$id"
	assert_gone "$id"
}

# Every flag of every runc 1.1 command is one berth takes, and the
# commands berth cannot do (CRIU, Intel RDT) fail saying why.
t_cli_flags_are_runcs() {
	local c r b missing=
	berth_only "compares berth with runc"
	command -v runc >/dev/null || skip "runc is not installed"
	for c in $(runc --help | sed -n '/^COMMANDS:/,/^GLOBAL/s/^   \([a-z]\+\) .*/\1/p'); do
		case $c in help | checkpoint | restore) continue ;; esac
		r=$(runc "$c" --help | grep -oE '^ +--[a-z0-9-]+' | tr -d ' ' | sort -u)
		[ -n "$r" ] || continue
		b=$("$BERTH" "$c" --help 2>&1 | grep -oE -- '--[a-z0-9-]+' | sort -u)
		missing="$missing$(comm -23 <(echo "$r") <(echo "$b") | sed "s/^/$c /" | tr '\n' ' ')"
	done
	[ -z "$missing" ] || fail "runc's flags berth does not take: $missing"
	assert_fail_with "need CRIU, which berth does not support" rt checkpoint --image-path "$TDIR/img" x
	assert_fail_with "need CRIU, which berth does not support" rt restore --image-path "$TDIR/img" x
	assert_fail_with "Intel RDT is not supported" rt update --l3-cache-schema L3:0=f x
}
