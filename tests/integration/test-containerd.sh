# containerd (Debian's containerd 1.6) driving the runtime under test
# through containerd-shim-runc-v2, with ctr as the client: the calls
# containerd sends (create --pid-file, start, exec --process --detach, ps,
# pause, resume, kill, delete) as it sends them to runc. A private
# containerd (its own root, state and socket under the test's dir) is
# started and stopped by its pid. Skipped where containerd cannot be had.
IT_TIMEOUT=120
IT_KILL_AFTER=20

# ct ARGS...: ctr on our containerd, in the test's namespace.
ct() {
	timeout -k 5 60 ctr -a "$CTD/containerd.sock" -n "$CTD_NS" "$@"
}

containerd_setup() {
	CTD=$TDIR/containerd
	CTD_NS=berth-test-$IT_TOKEN
	mkdir -p "$CTD"
	if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
		sh "$IT_LIB_DIR/../deps.sh" containerd >"$CTD/apt.log" 2>&1 ||
			skip "containerd cannot be installed: $(tail -n 1 "$CTD/apt.log")"
	fi
	# the shim keeps the runtime's state root below /run/containerd
	[ -e /run/containerd ] || echo /run/containerd >"$CTD/created"
	cat >"$CTD/config.toml" <<-EOF
	version = 2
	root = "$CTD/root"
	state = "$CTD/state"
	disabled_plugins = ["io.containerd.grpc.v1.cri"]
	[grpc]
	  address = "$CTD/containerd.sock"
	[ttrpc]
	  address = "$CTD/containerd.sock.ttrpc"
	[debug]
	  address = "$CTD/debug.sock"
	EOF
	setsid containerd --config "$CTD/config.toml" </dev/null >"$CTD/log" 2>&1 &
	echo $! >"$CTD/pid"
	local n=0
	until ctr -a "$CTD/containerd.sock" version >/dev/null 2>&1; do
		if ! kill -0 "$(cat "$CTD/pid")" 2>/dev/null || [ $n -ge 100 ]; then
			containerd_teardown
			skip "containerd does not start: $(tail -n 1 "$CTD/log" 2>/dev/null)"
		fi
		sleep 0.1
		n=$((n + 1))
	done
	echo '{"tags": ["berth-mini:latest"], "config": {"Cmd": ["/bin/sh"]},
		"layers": [{"dir": "'"$ROOTFS"'"}]}' |
		python3 "$IT_LIB_DIR/mkimage.py" docker "$CTD/mini.tar" ||
		fail "mkimage.py of the busybox rootfs"
	ct images import "$CTD/mini.tar" >/dev/null || fail "ctr images import"
}

containerd_teardown() {
	CTD=$TDIR/containerd
	[ -f "$CTD/pid" ] || return 0
	local pid c
	pid=$(cat "$CTD/pid")
	if kill -0 "$pid" 2>/dev/null; then
		for c in $(ct task ls -q 2>/dev/null); do
			ct task kill -s SIGKILL "$c" >/dev/null 2>&1
			ct task delete -f "$c" >/dev/null 2>&1
		done
		for c in $(ct container ls -q 2>/dev/null); do
			ct container rm "$c" >/dev/null 2>&1
		done
		stop_pid "$pid"
	fi
	rm -f "$CTD/pid"
	# shims outlive containerd by design: ours name our socket
	for c in $(grep -ls "$CTD/containerd.sock" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
		kill -KILL "$c" 2>/dev/null
	done
	awk -v d="$CTD/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "/run/containerd/runc/$CTD_NS" "/run/containerd/s"/*"$IT_TOKEN"* 2>/dev/null
	[ -s "$CTD/created" ] && rm -rf /run/containerd
	rm -rf "$CTD"
}

# ctd_state ID: the runtime's own state of ID, where the shim keeps it.
ctd_state() {
	"$BERTH" --root "/run/containerd/runc/$CTD_NS" state "$1" 2>/dev/null | jq -r .status
}

# ctd_wait ID STATUS: until ctr lists the task with STATUS.
ctd_wait() {
	local n=0
	until [ "$(ct task ls 2>/dev/null | awk -v i="$1" '$1 == i { print $3 }')" = "$2" ]; do
		[ $n -lt 100 ] || fail "task $1 never became $2: $(ct task ls 2>&1 | tail -n 3)"
		sleep 0.1
		n=$((n + 1))
	done
}

t_containerd_ctr() {
	local img=docker.io/library/berth-mini:latest id r=(--runc-binary "$BERTH")
	trap containerd_teardown EXIT
	trap 'exit 143' TERM
	containerd_setup

	id=$(new_id ctr1)
	run ct run --rm "${r[@]}" "$img" "$id" /probe exit 3
	assert_eq "$RC" 3 "ctr run exit status ($(last_line "$ERR"))"

	id=$(new_id ctr2)
	run ct run --rm "${r[@]}" --env FOO=bar --cwd /tmp "$img" "$id" \
		/bin/sh -c 'echo $FOO $(pwd) $(cat /proc/self/cgroup | grep -c "/'"$CTD_NS/$id"'$")'
	assert_eq "$RC" 0 "ctr run --env --cwd: $(last_line "$ERR")"
	assert_match "$OUT" "^bar /tmp [1-9][0-9]*$" "environment, cwd and cgroups of the task"

	id=$(new_id ctr3)
	assert_ok ct run -d "${r[@]}" "$img" "$id" /probe sleep 60
	ctd_wait "$id" RUNNING
	assert_eq "$(ctd_state "$id")" running "berth's own state of the task"
	run ct task exec --exec-id e1 "$id" /probe exit 4
	assert_eq "$RC" 4 "ctr task exec exit status ($(last_line "$ERR"))"
	assert_ok ct task exec --exec-id e2 "$id" /bin/sh -c 'tr "\0" " " </proc/1/cmdline'
	assert_eq "$OUT" "/probe sleep 60 " "pid 1 seen by an exec'd process"
	assert_ok ct task ps "$id"
	assert_match "$(tail -n +2 <<<"$OUT" | wc -l)" "^[1-9]" "ctr task ps lists the init"
	assert_ok ct task pause "$id"
	ctd_wait "$id" PAUSED
	assert_eq "$(ctd_state "$id")" paused "berth's state when paused"
	assert_ok ct task resume "$id"
	ctd_wait "$id" RUNNING
	# pid 1 of its namespace ignores SIGTERM without a handler
	assert_ok ct task kill -s SIGKILL "$id"
	ctd_wait "$id" STOPPED
	assert_ok ct task delete "$id"
	assert_ok ct container rm "$id"
	[ -z "$(ctd_state "$id")" ] || fail "berth still knows $id after ctr deleted it"
	containerd_teardown
}
