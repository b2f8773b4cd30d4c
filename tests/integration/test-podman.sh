# podman 4.3 (Debian's, rootful and daemonless) driving the runtime under
# test through conmon: run with its exit status, -i, -t (the pty comes
# over --console-socket), -u/-e/-w, then run -d, exec, top, pause,
# unpause, stop and rm. What podman keeps (storage, run root, events,
# cgroups) lives under the test's dir or cgroup parent. The runtime's state
# is in its default root: podman's cleanup after a container exits calls
# the runtime without the --runtime-flag options of the run, so a private
# root would strand stopped containers (with runc too). Skipped where
# podman cannot be installed.
IT_TIMEOUT=240
IT_KILL_AFTER=40

# pm ARGS...: podman with the private configuration and the runtime under
# test.
pm() {
	"$PMD/pm" "$@"
}

podman_setup() {
	PMD=$TDIR/podman
	mkdir -p "$PMD"
	PM_ROOT=$(pm_root)
	[ -e "$PM_ROOT" ] || echo "$PM_ROOT" >"$PMD/created"
	if ! command -v podman >/dev/null; then
		sh "$IT_LIB_DIR/../deps.sh" podman >"$PMD/apt.log" 2>&1 ||
			skip "podman cannot be installed: $(tail -n 1 "$PMD/apt.log")"
	fi
	# The session's hard nofile limit is below podman's default, and the
	# runtime gets nproc 32768 from podman: no container may ask for more.
	local nofile nproc
	nofile=$(ulimit -Hn)
	nproc=$(ulimit -Hu)
	[ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
	cat >"$PMD/containers.conf" <<-EOF
	[containers]
	default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
	[engine]
	cgroup_manager = "cgroupfs"
	events_logger = "file"
	events_logfile_path = "$PMD/events.log"
	tmp_dir = "$PMD/tmp"
	[network]
	network_backend = "cni"
	EOF
	# a script, so that pipes and script(1) can run it too. --foreground:
	# timeout otherwise moves podman into a process group of its own,
	# which is in the background where script(1) runs the command with
	# sh (SHELL unset, as in CI), and podman -t stops on SIGTTOU.
	cat >"$PMD/pm" <<-EOF
	#!/bin/sh
	export CONTAINERS_CONF=$PMD/containers.conf CONTAINERS_STORAGE_CONF=$PMD/storage.conf
	exec timeout --foreground -k 5 60 podman --root $PMD/graph --runroot $PMD/runroot \\
		--runtime $BERTH "\$@"
	EOF
	chmod +x "$PMD/pm"
	cat >"$PMD/storage.conf" <<-EOF
	[storage]
	driver = "overlay"
	runroot = "$PMD/runroot"
	graphroot = "$PMD/graph"
	EOF
	echo '{"tags": ["berth-mini:latest"], "config": {"Cmd": ["/bin/sh"]},
		"layers": [{"dir": "'"$ROOTFS"'"}]}' |
		python3 "$IT_LIB_DIR/mkimage.py" docker "$PMD/mini.tar" ||
		fail "mkimage.py of the busybox rootfs"
	run pm load -i "$PMD/mini.tar"
	[ "$RC" = 0 ] || fail "podman load: $(last_line "$ERR")"
}

# pm_root: the runtime's default state root.
pm_root() {
	case "$BERTH" in
	*berth*) echo /run/berth ;;
	*) echo "/run/$(basename "$BERTH")" ;;
	esac
}

# pm_ids: the runtime's containers that podman made here.
pm_ids() {
	local id
	for id in $(ls "$(pm_root)" 2>/dev/null); do
		[ -e "$PMD/graph/overlay-containers/$id" ] && echo "$id"
	done
}

# pm_wait_gone: until podman's cleanup has deleted them all (it runs
# after the container exits, from conmon).
pm_wait_gone() {
	local n=0
	while [ -n "$(pm_ids)" ] && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	[ -z "$(pm_ids)" ]
}

podman_teardown() {
	PMD=$TDIR/podman
	[ -d "$PMD/graph" ] || return 0
	pm rm -af -t 0 >/dev/null 2>&1
	local id
	for id in $(pm_ids); do
		it_leftover "container $id in $(pm_root)"
		"$BERTH" --root "$(pm_root)" delete -f "$id" >/dev/null 2>&1
	done
	[ -s "$PMD/created" ] && rmdir "$(cat "$PMD/created")" 2>/dev/null
	# conmon outlives podman by design, and so does the `podman container
	# cleanup` it starts when a container exits: ours name our dirs.
	local p c
	for p in $(grep -ls "$PMD/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
		kill -KILL "$p" 2>/dev/null
	done
	# conmon's own cgroup, which podman makes and leaves; only once the
	# processes above are gone can it go.
	for c in $(find /sys/fs/cgroup -depth -type d -path "*/berth-test-$IT_TOKEN/conmon"); do
		it_kill_cgroup "$c"
	done
	awk -v d="$PMD/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$PMD"
}

t_podman() {
	local r name
	trap podman_teardown EXIT
	trap 'exit 143' TERM
	podman_setup
	r=(--network=none --cgroup-parent "/berth-test-$IT_TOKEN")

	run pm run --rm "${r[@]}" berth-mini /probe exit 3
	assert_eq "$RC" 3 "podman run exit status ($(last_line "$ERR"))"
	run sh -c "echo hello-stdin | $PMD/pm run --rm -i ${r[*]} berth-mini /bin/cat"
	assert_eq "$OUT" hello-stdin "podman run -i ($(last_line "$ERR"))"
	run script -qec "$PMD/pm run --rm -t ${r[*]} berth-mini /probe tty" /dev/null
	assert_eq "$(tr -d '\r' <<<"$OUT" | tr '\n' ' ')" "0 tty 1 tty 2 tty " "podman run -t"
	run pm run --rm "${r[@]}" -u 1000:1000 -e FOO=bar -w /tmp berth-mini \
		/bin/sh -c 'echo $(id -u) $FOO $(pwd)'
	assert_eq "$OUT" "1000 bar /tmp" "podman run -u -e -w ($(last_line "$ERR"))"

	name=$IT_TOKEN-pm
	pm_wait_gone || fail "podman run --rm left $(pm_ids) in $(pm_root)"
	assert_ok pm run -d --name "$name" "${r[@]}" berth-mini /probe sleep 60
	assert_eq "$(pm_ids | wc -l)" 1 "podman's containers in the runtime's state root"
	run pm exec "$name" /probe exit 4
	assert_eq "$RC" 4 "podman exec exit status ($(last_line "$ERR"))"
	assert_ok pm top "$name"
	assert_contains "$OUT" "/probe sleep 60" "podman top"
	assert_ok pm pause "$name"
	assert_ok pm inspect --format '{{.State.Status}}' "$name"
	assert_eq "$OUT" paused "status after podman pause"
	assert_ok pm unpause "$name"
	assert_ok pm inspect --format '{{.State.Status}}' "$name"
	assert_eq "$OUT" running "status after podman unpause"
	assert_ok pm stop -t 1 "$name"
	assert_ok pm rm "$name"
	pm_wait_gone || fail "podman rm left $(pm_ids) in $(pm_root)"
	podman_teardown
}
