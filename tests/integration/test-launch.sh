# berth launch: docker run without a daemon. Images are made at test time
# by mkimage.py from the shared busybox rootfs; nothing is downloaded.

MKIMAGE=$IT_LIB_DIR/mkimage.py

# la ARGS...: berth launch with the test's state root, store and cgroup
# parent; the containers carry BERTH_IT for the cleanup.
la() {
	"$BERTH" --root "$ROOT" launch --store "$TDIR/store" \
		--cgroup-parent "berth-test-$IT_TOKEN" -e "BERTH_IT=$IT_TOKEN" "$@"
}

launch_only() {
	berth_only "launch is berth's own command"
}

# base_image TAG [CONFIG-JSON]: a two-layer image of the busybox rootfs,
# loaded into the store. The second layer adds /etc/motd and a user.
base_image() {
	local cfg=${2:-'{"Cmd": ["echo", "hello from the image"]}'}
	jq -nc --arg tag "$1" --argjson cfg "$cfg" --arg root "$ROOTFS" '{tags: [$tag],
		config: $cfg, layers: [{dir: $root}, {entries: [
			{path: "etc/motd", data: "second layer\n"},
			{path: "etc/passwd", data: "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345::/home/app:/bin/sh\n"},
			{path: "etc/group", data: "root:x:0:\napp:x:2345:\nextra:x:3456:app\n"},
			{path: "home/app", type: "dir"}]}]}' |
		python3 "$MKIMAGE" docker "$TDIR/$1.tar" || fail "mkimage.py failed"
	assert_ok "$BERTH" image --store "$TDIR/store" load "$TDIR/$1.tar"
}

# nothing_left: no launch bundle, overlay mount or state of this test.
nothing_left() {
	assert_eq "$(ls -A "$TDIR/store/containers" 2>/dev/null)" "" "launch bundles left"
	assert_eq "$(grep -c "$TDIR/store/containers" /proc/self/mountinfo)" 0 "overlay mounts left"
	assert_eq "$(state_left)" "" "state left"
}

t_launch_runs_the_image() {
	launch_only
	base_image img:1
	assert_ok la --rm img:1
	assert_eq "$OUT" "hello from the image" "the image's Cmd"
	run la --rm img:1 sh -c 'cat /etc/motd; exit 7'
	assert_eq "$RC" 7 "the container's exit status is berth's"
	assert_eq "$OUT" "second layer" "the upper layer is seen"
	nothing_left
	# without --rm the stopped container stays until delete
	assert_ok la --name "$(new_id keep)" img:1 true
	assert_eq "$(rt state "$IT_TOKEN-keep" | jq -r .status)" stopped
	assert_eq "$(ls "$TDIR/store/containers" | wc -l)" 1 "its bundle"
	assert_ok rt delete "$IT_TOKEN-keep"
	nothing_left
}

t_launch_image_config_and_overrides() {
	launch_only
	base_image cfg:1 '{"Entrypoint": ["sh", "-c"], "Cmd": ["echo $GREETING from $(pwd) as $(id -un)"],
		"Env": ["GREETING=hi", "KEEP=1"], "WorkingDir": "/etc", "User": "app"}'
	assert_ok la --rm cfg:1
	assert_eq "$OUT" "hi from /etc as app" "Entrypoint, Cmd, Env, WorkingDir, User"
	assert_ok la --rm -e GREETING=bye -w /tmp -u 0 cfg:1 'echo $GREETING $KEEP $(pwd) $(id -u)'
	assert_eq "$OUT" "bye 1 /tmp 0" "-e replaces, -w, -u, arguments replace Cmd"
	assert_ok la --rm cfg:1 'id -G'
	assert_eq "$OUT" "2345 3456" "User's groups from the image's /etc/group"
	assert_ok la --rm --entrypoint /bin/echo cfg:1 plain
	assert_eq "$OUT" "plain" "--entrypoint drops the image's Cmd"
	printf 'FROM_FILE=yes\n# a comment\n\nGREETING=file\n' >"$TDIR/env"
	assert_ok la --rm --env-file "$TDIR/env" cfg:1 'echo $FROM_FILE $GREETING'
	assert_eq "$OUT" "yes file" "--env-file"
	assert_ok la --rm --hostname box cfg:1 'hostname'
	assert_eq "$OUT" "box" "--hostname"
	nothing_left
}

t_launch_shares_layers() {
	launch_only
	local a b layer
	base_image share:1
	a=$(new_id a)
	b=$(new_id b)
	assert_ok la -d --name "$a" share:1 sh -c 'echo a >/etc/motd; sleep 30'
	assert_ok la -d --name "$b" share:1 sleep 30
	wait_status "$a" running
	sleep 0.3
	assert_ok rt exec "$b" cat /etc/motd
	assert_eq "$OUT" "second layer" "a write in one container is not seen in another"
	for layer in "$TDIR"/store/layers/*/; do
		assert_ne "$(cat "$layer/etc/motd" 2>/dev/null)" "a" "the shared layer is untouched"
	done
	assert_eq "$(grep -c "$TDIR/store/containers/.*rootfs.*overlay" /proc/self/mountinfo)" 2 \
		"two overlayfs mounts"
	assert_eq "$(grep -o "lowerdir=[^,]*" /proc/self/mountinfo | grep -c "$TDIR/store/layers")" 2 \
		"both on the store's layer directories"
	assert_ok rt delete -f "$a"
	assert_ok rt delete -f "$b"
	nothing_left
}

t_launch_many_containers_share_disk() {
	launch_only
	local i big
	jq -nc --arg root "$ROOTFS" '{tags: ["big:1"], config: {Cmd: ["sleep", "30"]},
		layers: [{dir: $root}, {entries: [{path: "blob", random: 8000000}]}]}' |
		python3 "$MKIMAGE" docker "$TDIR/big.tar" || fail "mkimage.py failed"
	assert_ok "$BERTH" image --store "$TDIR/store" load "$TDIR/big.tar"
	for i in 1 2 3 4 5 6 7 8; do
		assert_ok la -d --name "$(new_id "m$i")" big:1
	done
	assert_eq "$(rt list -q | wc -l)" 8 "eight containers"
	big=$(du -sk -x "$TDIR/store/containers" | cut -f1)
	[ "$big" -lt 1000 ] || fail "8 containers use ${big} KiB besides the 8 MB layer"
	for i in 1 2 3 4 5 6 7 8; do
		assert_ok rt delete -f "$IT_TOKEN-m$i"
	done
	nothing_left
}

t_launch_security_defaults() {
	launch_only
	base_image sec:1
	assert_ok la --rm sec:1 sh -c 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status'
	assert_eq "$OUT" $'CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2' \
		"docker's capabilities, no_new_privs, a seccomp filter"
	assert_ok la --rm sec:1 sh -c 'wc -c </proc/timer_list; (echo x >/proc/sys/kernel/domainname) 2>&1; true'
	assert_eq "$(head -n 1 <<<"$OUT")" 0 "/proc/timer_list is masked"
	assert_contains "$OUT" "Read-only file system" "/proc/sys is read-only"
	run la --rm sec:1 sh -c 'mkdir -p /m && mount -t tmpfs none /m && echo mounted'
	assert_not_contains "$OUT" "mounted" "no mount without CAP_SYS_ADMIN"
	assert_ok la --rm --cap-add sys_admin --cap-drop CAP_KILL sec:1 grep CapEff /proc/self/status
	assert_eq "$OUT" $'CapEff:\t00000000a82425db' "--cap-add SYS_ADMIN --cap-drop KILL"
	assert_ok la --rm --cap-drop ALL sec:1 grep CapEff /proc/self/status
	assert_eq "$OUT" $'CapEff:\t0000000000000000' "--cap-drop ALL"
	assert_ok la --rm --security-opt seccomp=unconfined sec:1 grep Seccomp: /proc/self/status
	assert_eq "$OUT" $'Seccomp:\t0' "seccomp=unconfined"
	echo '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"],
		"action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}' >"$TDIR/profile.json"
	run la --rm --security-opt "seccomp=$TDIR/profile.json" sec:1 mkdir /newdir
	assert_eq "$RC" 1 "mkdir under the profile file"
	assert_contains "$ERR$OUT" "Permission denied" "the profile's errnoRet (EACCES)"
	assert_ok la --rm --privileged sec:1 sh -c 'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status'
	assert_eq "$(head -n 1 <<<"$OUT" | cut -f2)" "$(awk '/^CapBnd/ { print $2 }' /proc/self/status)" \
		"--privileged: every capability berth holds"
	assert_contains "$OUT" $'Seccomp:\t0' "--privileged: no seccomp"
	nothing_left
}

t_launch_limits_and_network() {
	launch_only
	base_image lim:1
	assert_ok la --rm -m 64m --pids-limit 33 --cpus 0.5 --cpuset-cpus 0 lim:1 sh -c \
		'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max \
			/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpuset/cpuset.cpus 2>/dev/null ||
		cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpuset.cpus'
	assert_match "$(tr '\n' ' ' <<<"$OUT")" '^67108864 33 (50000|50000 100000) 0 $' \
		"-m, --pids-limit, --cpus, --cpuset-cpus"
	assert_ok la --rm lim:1 sh -c 'grep -c : /proc/net/dev'
	assert_eq "$OUT" 1 "--network none (the default): loopback only"
	assert_ok la --rm --network host lim:1 sh -c 'grep -c : /proc/net/dev'
	assert_eq "$OUT" "$(grep -c : /proc/net/dev)" "--network host"
	nothing_left
}

t_launch_volumes_tmpfs_read_only() {
	launch_only
	base_image vol:1
	mkdir -p "$TDIR/data"
	echo host >"$TDIR/data/in"
	assert_ok la --rm -v "$TDIR/data:/data" vol:1 sh -c 'cat /data/in; echo ctr >/data/out'
	assert_eq "$OUT" "host" "-v reads the host's files"
	assert_eq "$(cat "$TDIR/data/out")" "ctr" "-v writes to the host"
	run la --rm -v "$TDIR/data:/data:ro" vol:1 sh -c 'echo x >/data/out'
	assert_ne "$RC" 0 "a :ro volume is read-only"
	assert_eq "$(cat "$TDIR/data/out")" "ctr" "the :ro volume was not written"
	assert_ok la --rm --tmpfs /scratch:size=1m vol:1 sh -c 'grep " /scratch " /proc/mounts'
	assert_contains "$OUT" "tmpfs" "--tmpfs"
	run la --rm --read-only vol:1 sh -c 'touch /x'
	assert_ne "$RC" 0 "--read-only"
	assert_ok la --rm --read-only --tmpfs /tmp vol:1 sh -c 'touch /tmp/x && echo ok'
	assert_eq "$OUT" "ok" "--read-only with a writable --tmpfs"
	nothing_left
}

t_launch_detached_and_runtime_commands() {
	launch_only
	local id auto n
	base_image det:1
	id=$(new_id web)
	assert_ok la -d --name "$id" det:1 sleep 30
	assert_eq "$OUT" "$id" "-d prints the id"
	assert_eq "$(rt state "$id" | jq -r .status)" running
	assert_ok rt exec "$id" cat /etc/motd
	assert_eq "$OUT" "second layer" "exec in a launched container"
	assert_ok rt kill "$id" KILL
	wait_status "$id" stopped
	assert_ok rt delete "$id"
	# -d --rm: removed when it exits, by nobody's delete
	auto=$(new_id auto)
	assert_ok la -d --rm --name "$auto" det:1 sleep 0.5
	for n in $(seq 100); do
		[ -z "$(state_left)" ] && [ -z "$(ls -A "$TDIR/store/containers")" ] && break
		sleep 0.05
	done
	nothing_left
}

t_launch_forwards_signals() {
	launch_only
	local pid n
	base_image sig:1
	# not through la(): $! must be berth itself, not a subshell
	"$BERTH" --root "$ROOT" launch --store "$TDIR/store" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" --rm sig:1 \
		sh -c 'trap "echo got TERM; exit 42" TERM; while :; do sleep 0.1; done' >"$TDIR/out" 2>"$TDIR/err" &
	pid=$!
	for n in $(seq 100); do
		[ "$(rt list -q | wc -l)" = 1 ] && [ "$(rt list -f json | jq -r '.[0].status')" = running ] && break
		sleep 0.05
	done
	sleep 0.3
	kill -TERM "$pid"
	wait "$pid"
	assert_eq "$?" 42 "the container's status after SIGTERM to berth"
	assert_eq "$(cat "$TDIR/out")" "got TERM" "the container got the signal"
	nothing_left
}

t_launch_from_an_archive_path() {
	launch_only
	jq -nc --arg root "$ROOTFS" '{tags: ["path:1"], config: {Cmd: ["echo", "from a path"]},
		layers: [{dir: $root}]}' | python3 "$MKIMAGE" oci-tar "$TDIR/p.tar" ||
		fail "mkimage.py failed"
	assert_ok la --rm "$TDIR/p.tar"
	assert_eq "$OUT" "from a path" "an archive path as the image"
	assert_ok "$BERTH" image --store "$TDIR/store" ls -q
	assert_eq "$(wc -l <<<"$OUT")" 1 "loaded once, cached"
	assert_ok la --rm "$TDIR/p.tar"
	nothing_left
}

t_launch_terminal() {
	launch_only
	command -v script >/dev/null || skip "script(1) is not installed"
	base_image tty:1
	run script -qec "$BERTH --root $ROOT launch --store $TDIR/store --cgroup-parent berth-test-$IT_TOKEN \
		-e BERTH_IT=$IT_TOKEN --rm -t tty:1 sh -c 'tty; echo \$TERM'" /dev/null
	assert_eq "$RC" 0 "launch -t"
	# berth's own notes (a lowered nofile) come first
	OUT=$(grep -v '^berth: note: ' <<<"$OUT")
	assert_match "$(head -n 1 <<<"$OUT" | tr -d '\r')" '^/dev/pts/[0-9]+$' "a terminal"
	assert_eq "$(sed -n 2p <<<"$OUT" | tr -d '\r')" "xterm" "TERM"
	nothing_left
}

t_launch_bad_input() {
	launch_only
	local dup
	base_image bad:1
	assert_fail_with "image nosuch:1: not found" la --rm nosuch:1
	assert_fail_with "volume \`/nonexistent-berth:/x\`: host path" la --rm -v /nonexistent-berth:/x bad:1
	assert_fail_with "the container path \`rel\` is not absolute" la --rm -v "$TDIR:rel" bad:1
	assert_fail_with "--cpus \`-1\`" la --rm --cpus -1 bad:1
	assert_fail_with "--memory \`lots\`" la --rm -m lots bad:1
	assert_fail_with "--network container:$IT_TOKEN-nope: container does not exist" \
		la --rm --network "container:$IT_TOKEN-nope" bad:1
	assert_fail_with "--network ns:$TDIR: not a namespace file" la --rm --network "ns:$TDIR" bad:1
	assert_fail_with "unknown capability \`NOPE\`" la --rm --cap-add NOPE bad:1
	assert_fail_with "seccomp profile" la --rm --security-opt seccomp=/nonexistent-profile bad:1
	assert_fail_with "--security-opt \`label=x\`" la --rm --security-opt label=x bad:1
	assert_fail_with "/no/such/binary" la --rm bad:1 /no/such/binary
	assert_fail_with "an image is required" la --rm
	dup=$(new_id dup)
	assert_ok la -d --name "$dup" bad:1 sleep 30
	assert_fail_with "container with id exists: $dup" la --rm --name "$dup" bad:1
	assert_ok rt delete -f "$dup"
	assert_fail_with "invalid" la --rm --name "../x" bad:1
	nothing_left
}

# image rm + prune while a launched container runs keep the layers it
# stands on; once it is gone, prune removes them.
t_launch_prune_keeps_layers_in_use() {
	launch_only
	local id
	base_image pr:1
	id=$(new_id pr)
	assert_ok la -d --name "$id" pr:1 sleep 30
	assert_ok "$BERTH" image --store "$TDIR/store" rm pr:1
	assert_ok "$BERTH" image --store "$TDIR/store" prune
	assert_eq "$(ls "$TDIR/store/layers" | wc -l)" 2 "both layers kept while in use"
	assert_ok rt exec "$id" cat /etc/motd
	assert_eq "$OUT" "second layer" "the container still reads its layers"
	assert_ok rt delete -f "$id"
	assert_ok "$BERTH" image --store "$TDIR/store" prune
	assert_eq "$(ls "$TDIR/store/layers" | wc -l)" 0 "removed once unused"
	nothing_left
}

# A store on overlayfs cannot hold an overlayfs upper: launch says so and
# copies the layers, and delete removes the copy.
t_launch_copies_where_overlayfs_is_refused() {
	launch_only
	mkdir -p "$TDIR/ol" "$TDIR/ou" "$TDIR/ow" "$TDIR/om"
	mount -t overlay overlay -o "lowerdir=$TDIR/ol,upperdir=$TDIR/ou,workdir=$TDIR/ow" "$TDIR/om" ||
		skip "cannot mount an overlayfs here"
	defer "umount -l $TDIR/om"
	jq -nc --arg root "$ROOTFS" '{tags: ["cp:1"], config: {Cmd: ["cat", "/etc/motd"]},
		layers: [{dir: $root}, {entries: [{path: "etc/motd", data: "copied"}]}]}' |
		python3 "$MKIMAGE" docker "$TDIR/cp.tar" || fail "mkimage.py failed"
	local st="$TDIR/om/store"
	assert_ok "$BERTH" image --store "$st" load "$TDIR/cp.tar"
	run "$BERTH" --root "$ROOT" launch --store "$st" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" --rm cp:1
	assert_eq "$RC" 0 "launch from a store on overlayfs ($(last_line "$ERR"))"
	assert_eq "$OUT" "copied" "the copied layers"
	assert_contains "$ERR" "copying the image's layers" "it says it copies"
	assert_eq "$(ls -A "$st/containers")" "" "the copy is removed"
	assert_eq "$(state_left)" "" "state left"
	umount "$TDIR/om"
}

# Launches share the store's compiled seccomp program: the second one
# loads it rather than build it, with the same effect; a damaged entry is
# a miss, never a weaker filter.
t_launch_seccomp_cache() {
	launch_only
	local f
	base_image sc:1
	assert_ok la --rm sc:1 sh -c 'mkdir -p /m; mount -t tmpfs x /m 2>&1; grep Seccomp: /proc/self/status'
	assert_eq "$(ls "$TDIR/store/cache/seccomp" | wc -l)" 1 "one cached program"
	f=$(ls "$TDIR"/store/cache/seccomp/*.bpf)
	local first=$OUT
	assert_ok la --rm sc:1 sh -c 'mkdir -p /m; mount -t tmpfs x /m 2>&1; grep Seccomp: /proc/self/status'
	assert_eq "$OUT" "$first" "the same filter from the cache"
	assert_contains "$OUT" $'Seccomp:\t2' "a filter"
	assert_contains "$OUT" "denied" "mount still denied"
	# another profile (more capabilities, a longer allow-list): its own
	assert_ok la --rm --cap-add SYS_ADMIN sc:1 true
	assert_eq "$(ls "$TDIR/store/cache/seccomp" | wc -l)" 2 "a program per profile"
	# damaged: a truncated entry
	head -c 100 "$f" >"$f.tmp" && mv "$f.tmp" "$f"
	assert_ok la --rm sc:1 grep Seccomp: /proc/self/status
	assert_eq "$OUT" $'Seccomp:\t2' "a truncated entry is rebuilt"
	[ "$(stat -c %s "$f")" -gt 100 ] || fail "the truncated entry was not written again"
	nothing_left
}

# -i keeps stdin; without it the container reads /dev/null, as docker run.
t_launch_interactive_stdin() {
	launch_only
	base_image in:1
	run la --rm -i in:1 cat <<<"from stdin"
	assert_eq "$OUT" "from stdin" "-i passes stdin"
	run la --rm in:1 cat <<<"from stdin"
	assert_eq "$RC" 0 "cat without -i"
	assert_eq "$OUT" "" "no stdin without -i"
	nothing_left
}
