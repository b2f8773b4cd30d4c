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
