# exec: a new process in a running container.

# exec_setup NAME: a running container whose init waits for a signal; sets
# $id.
exec_setup() {
	id=$(new_id "$1")
	mkbundle "$id"
	set_args "$id" /probe signal-wait
	must_run_d "$id"
	wait_file "$TDIR/$id.out" ready
}

t_exec_exit_status() {
	local id
	exec_setup exst
	run rt exec "$id" /probe exit 5
	assert_eq "$RC" 5 "exit status of exec"
	run rt exec "$id" /probe exit 0
	assert_eq "$RC" 0 "exit status of exec"
	assert_eq "$(status_of "$id")" running "init after exec"
}

t_exec_output_and_namespaces() {
	local id
	exec_setup exns
	assert_ok rt exec "$id" /bin/sh -c 'echo out; echo err >&2'
	assert_eq "$OUT" out "stdout of exec"
	assert_eq "$ERR" err "stderr of exec"
	# The exec'd process sees the init as pid 1 and shares its namespaces.
	assert_ok rt exec "$id" /probe ppid
	assert_eq "$OUT" 0 "parent of exec in the pid namespace"
	assert_ok rt exec "$id" /probe hostname
	assert_eq "$OUT" "$id" "hostname seen by exec"
	local init_ns
	init_ns=$(readlink "/proc/$(pid_of "$id")/ns/net")
	assert_ok rt exec "$id" /probe ns
	assert_contains "$OUT" "net $init_ns" "net namespace of exec"
}

t_exec_env_cwd_user() {
	local id
	exec_setup exenv
	assert_ok rt exec -e FOO=bar "$id" /probe env FOO
	assert_eq "$OUT" bar "exec -e"
	assert_ok rt exec --env FOO=baz --env X=1 "$id" /probe env FOO
	assert_eq "$OUT" baz "exec --env"
	# The config's environment is inherited.
	assert_ok rt exec "$id" /probe env BERTH_IT
	assert_eq "$OUT" "$IT_TOKEN" "config env in exec"
	assert_ok rt exec --cwd /tmp "$id" /probe cwd
	assert_eq "$OUT" /tmp "exec --cwd"
	assert_ok rt exec -u 1000:1000 "$id" /probe ids
	assert_eq "$OUT" "1000 1000" "exec -u 1000:1000"
	assert_ok rt exec --user 1000 "$id" /probe ids
	assert_match "$OUT" "^1000 " "exec --user 1000"
	assert_ok rt exec "$id" /probe ids
	assert_match "$OUT" "^0 0" "exec as root"
}

t_exec_process_file() {
	local id
	exec_setup exproc
	cat >"$TDIR/process.json" <<'EOF'
{
	"args": ["/bin/sh", "-c", "echo x-$FOO-$(pwd)-$(id -u); exit 7"],
	"env": ["FOO=fromfile", "PATH=/bin:/usr/bin"],
	"cwd": "/home/user",
	"user": {"uid": 1000, "gid": 1000},
	"terminal": false
}
EOF
	jq -e . "$TDIR/process.json" >/dev/null || fail "bad process.json"
	run rt exec --process "$TDIR/process.json" "$id"
	assert_eq "$RC" 7 "exit status of exec --process"
	assert_eq "$OUT" "x-fromfile-/home/user-1000" "output of exec --process"
}

t_exec_detached() {
	local id pid
	exec_setup exdet
	assert_ok rt exec -d --pid-file "$TDIR/exec.pid" "$id" /probe sleep 30
	pid=$(cat "$TDIR/exec.pid")
	assert_match "$pid" '^[1-9][0-9]*$' "exec pid file"
	[ -d "/proc/$pid" ] || fail "exec'd process $pid not running"
	assert_eq "$(readlink "/proc/$pid/ns/pid")" \
		"$(readlink "/proc/$(pid_of "$id")/ns/pid")" "pid ns of exec -d"
}

# The init and an exec'd process sit in the container's group in every
# hierarchy (berth has them move themselves, through the v1 tasks files).
t_exec_joins_every_hierarchy() {
	local id pid init suffix line n=0
	exec_setup exjoin
	init=$(pid_of "$id")
	suffix="/berth-test-$IT_TOKEN/$id"
	while IFS= read -r line; do
		n=$((n + 1))
		case "$line" in
		*"$suffix") ;;
		*) fail "init $init outside its group: $line" ;;
		esac
	done <"/proc/$init/cgroup"
	[ "$n" -gt 0 ] || fail "no cgroup lines for init $init"
	assert_ok rt exec -d --pid-file "$TDIR/exec.pid" "$id" /probe sleep 30
	pid=$(cat "$TDIR/exec.pid")
	assert_eq "$(cat "/proc/$pid/cgroup")" "$(cat "/proc/$init/cgroup")" \
		"exec'd process's cgroups"
}

t_exec_not_running() {
	local id
	id=$(new_id exstop)
	mkbundle "$id"
	set_args "$id" /probe exit 0
	must_run_d "$id"
	wait_status "$id" stopped
	assert_fail_with "stopped" rt exec "$id" /probe pid
	assert_fail_with "does not exist" rt exec "$IT_TOKEN-nope" /probe pid
}

t_exec_missing_binary() {
	local id
	exec_setup exmiss
	run rt exec "$id" /nonexistent
	[ "$RC" = 0 ] && fail "exec of a missing binary succeeded"
	assert_match "$(last_line "$ERR")" "/nonexistent.*(not found|[Nn]o such file)" \
		"error of exec /nonexistent"
	assert_eq "$(status_of "$id")" running "init after a failed exec"
}

# exec's own failures exit 255, as runc's do, so that callers can tell
# them from the program's status.
t_exec_failures_exit_255() {
	local id
	exec_setup ex255
	assert_fail_with "does not exist" rt exec "$IT_TOKEN-nope" /probe pid
	assert_fail_with "" rt exec "$id" /nonexistent
	assert_fail_with "" rt exec --pid-file "$TDIR/no/such/dir/pid" "$id" /probe exit 0
	assert_ok rt pause "$id"
	assert_fail_with "paused" rt exec "$id" /probe pid
	assert_ok rt resume "$id"
	run rt exec "$id" /probe exit 254
	assert_eq "$RC" 254 "the program's own status"
}

# --ignore-paused: the process starts in the frozen cgroup and runs once
# the container is resumed.
t_exec_ignore_paused() {
	local id pid
	exec_setup exigp
	assert_ok rt pause "$id"
	rt exec --ignore-paused "$id" /bin/sh -c 'echo ran' >"$TDIR/igp.out" 2>"$TDIR/igp.err" &
	pid=$!
	sleep 0.5
	[ -s "$TDIR/igp.out" ] && fail "the process ran in a paused container"
	assert_ok rt resume "$id"
	wait "$pid"
	assert_eq "$?" 0 "exec --ignore-paused: $(tail -n 1 "$TDIR/igp.err")"
	assert_eq "$(cat "$TDIR/igp.out")" ran "output after resume"
}

t_exec_additional_gids() {
	local id
	exec_setup exgids
	assert_ok rt exec -g 10 -g 20 "$id" /bin/sh -c 'grep ^Groups: /proc/self/status'
	assert_match "$OUT" '^Groups:[[:space:]]*10 20[[:space:]]*$' "supplementary groups"
	assert_ok rt exec --additional-gids 30 "$id" /bin/sh -c 'grep ^Groups: /proc/self/status'
	assert_match "$OUT" '^Groups:[[:space:]]*30[[:space:]]*$' "--additional-gids"
	# a bad value is a usage error: exit 1, as with runc
	run rt exec -g x "$id" /probe pid
	assert_eq "$RC" 1 "exec -g x"
	assert_contains "$(last_line "$ERR")" "$(berth_or "not a group id" "invalid value")" "error of exec -g x"
}

# -t without --console-socket: berth holds the pty and proxies it.
t_exec_tty_without_console_socket() {
	local id
	exec_setup extty
	run rt exec -t "$id" /bin/sh -c 'test -t 1 && echo tty'
	[ "$IT_IS_BERTH" = 0 ] || assert_eq "$(tr -d '\r' <<<"$OUT")" tty "without a terminal of its own"
	# under script(1), so that runc finds a terminal too; berth needs none
	run script -qec "$BERTH --root $ROOT exec -t $id /bin/sh -c 'test -t 0 && test -t 1 && echo tty; exit 3'" /dev/null
	assert_eq "$RC" 3 "exit status through the terminal: $(last_line "$ERR")"
	assert_match "$(tr -d '\r' <<<"$OUT")" '(^|@)tty$' "stdin and stdout are a terminal"
	assert_fail_with "$(berth_or "needs --console-socket" "")" rt exec -t -d "$id" /probe pid
}

# --cgroup SUB puts the process in an existing sub-group of the
# container's, in every hierarchy; CTRL:SUB in that controller's only.
t_exec_cgroup_sub() {
	local id d n=0
	exec_setup excg
	for d in $(find /sys/fs/cgroup -type d -path "*/berth-test-$IT_TOKEN/$id"); do
		mkdir "$d/sub" "$d/other" || fail "mkdir $d/sub"
		# a v1 cpuset group takes no task before it has CPUs and nodes
		if [ -f "$d/cpuset.cpus" ]; then
			cat "$d/cpuset.cpus" | tee "$d/sub/cpuset.cpus" >"$d/other/cpuset.cpus"
			cat "$d/cpuset.mems" | tee "$d/sub/cpuset.mems" >"$d/other/cpuset.mems"
		fi
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || fail "no cgroup directory of $id found"
	assert_ok rt exec --cgroup sub "$id" cat /proc/self/cgroup
	assert_eq "$(grep -vc "/$id/sub\$" <<<"$OUT")" 0 "every hierarchy in sub: $OUT"
	assert_eq "$(wc -l <<<"$OUT")" "$n" "hierarchies"
	if grep -q '^[0-9]*:[^:]*\bpids\b' /proc/self/cgroup; then
		assert_ok rt exec --cgroup memory,blkio:sub --cgroup pids:other "$id" cat /proc/self/cgroup
		assert_match "$OUT" "^[0-9]+:pids:.*/$id/other\$" "pids in other"
		assert_match "$OUT" "^[0-9]+:memory:.*/$id/sub\$" "memory in sub"
		assert_match "$OUT" "^[0-9]+:blkio:.*/$id/sub\$" "blkio in sub"
		assert_match "$OUT" "^[0-9]+:freezer:.*/$id\$" "freezer in the container's"
		assert_fail_with "$(berth_or 'each needs its CONTROLLER: prefix' 'missing <controller>: prefix')" \
			rt exec --cgroup sub --cgroup pids:other "$id" /probe pid
	fi
	assert_fail_with "$(berth_or "--cgroup \"nope\"" "nope")" rt exec --cgroup nope "$id" /probe pid
	assert_fail_with "$(berth_or '--cgroup "../x"' '')" rt exec --cgroup ../x "$id" /probe pid
}
