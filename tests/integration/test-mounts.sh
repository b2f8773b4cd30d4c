# Mounts: tmpfs options, bind mounts, a read-only root, masked and
# read-only paths, /dev, and the host's /dev/null.

t_tmpfs_with_size() {
	local id
	id=$(new_id tmpfs)
	mkbundle "$id"
	add_mount "$id" '{"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
		"options": ["size=1m", "mode=750", "nosuid"]}'
	set_args "$id" /bin/sh -c '/probe mount /mnt; /probe stat /mnt; /probe write /mnt'
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	local m
	m=$(sed -n 1p <<<"$OUT")
	assert_match "$m" '^tmpfs ' "fs type at /mnt"
	assert_contains "$m" "size=1024k" "tmpfs size"
	assert_match "$m" '^tmpfs [^ ]*nosuid' "nosuid on /mnt"
	assert_match "$(sed -n 2p <<<"$OUT")" '^dir 0:0 ' "type of /mnt"
	assert_eq "$(sed -n 3p <<<"$OUT")" ok "write to the tmpfs"
}

t_bind_mount_readonly() {
	local id
	id=$(new_id bindro)
	mkdir -p "$TDIR/data"
	echo hostdata >"$TDIR/data/file"
	mkbundle "$id"
	add_mount "$id" "$(jq -nc --arg s "$TDIR/data" \
		'{destination: "/mnt", type: "bind", source: $s, options: ["rbind", "ro"]}')"
	set_args "$id" /bin/sh -c 'cat /mnt/file; /probe write /mnt/file; /probe write /mnt'
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	assert_eq "$OUT" "$(printf 'hostdata\nEROFS\nEROFS')" "read-only bind mount"
	assert_eq "$(cat "$TDIR/data/file")" hostdata "host file after the container"
	assert_eq "$(ls -A "$TDIR/data")" file "host dir after the container"
}

t_bind_mount_readwrite() {
	local id
	id=$(new_id bindrw)
	mkdir -p "$TDIR/data"
	mkbundle "$id"
	add_mount "$id" "$(jq -nc --arg s "$TDIR/data" \
		'{destination: "/mnt", type: "bind", source: $s, options: ["bind"]}')"
	set_args "$id" /bin/sh -c 'echo fromcontainer >/mnt/new'
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	assert_eq "$(cat "$TDIR/data/new")" fromcontainer "file written through the bind mount"
}

t_bind_mount_file() {
	local id
	id=$(new_id bindfile)
	echo one >"$TDIR/hostfile"
	mkbundle "$id"
	add_mount "$id" "$(jq -nc --arg s "$TDIR/hostfile" \
		'{destination: "/etc/hostname", type: "bind", source: $s, options: ["rbind", "ro"]}')"
	set_args "$id" /bin/cat /etc/hostname
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	assert_eq "$OUT" one "bind-mounted file"
}

t_readonly_root() {
	local id
	id=$(new_id roroot)
	mkbundle "$id"
	set_args "$id" /bin/sh -c '/probe write /; /probe write /tmp/x; /probe write /dev/shm'
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	assert_eq "$OUT" "$(printf 'EROFS\nEROFS\nok')" "writes with root.readonly"
}

t_writable_root() {
	local id
	id=$(new_id rwroot)
	mkbundle "$id" copy
	set_args "$id" /bin/sh -c '/probe write /newfile'
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	assert_eq "$OUT" ok "write with a writable root"
	[ -f "$(bundle_of "$id")/rootfs/newfile" ] || fail "file not in the bundle's rootfs"
}

t_relative_root_path() {
	local id
	id=$(new_id relroot)
	mkbundle "$id" copy
	cfg "$id" '.root.path = "rootfs"'
	set_args "$id" /bin/sh -c 'test -x /probe && echo found'
	# Run from elsewhere: the path is relative to the bundle.
	run rt run --bundle "$(bundle_of "$id")" "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$OUT" found "relative root.path"
}

t_masked_and_readonly_paths() {
	local id
	id=$(new_id masked)
	mkbundle "$id"
	# A masked file becomes /dev/null, a masked dir an empty read-only
	# dir (/home holds user/ in the rootfs); missing paths are skipped.
	cfg "$id" '.linux.maskedPaths = ["/proc/keys", "/home", "/proc/nonexistent"]
		| .linux.readonlyPaths = ["/proc/sys", "/mnt"]'
	add_mount "$id" '{"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}'
	set_args "$id" /bin/sh -c '/probe stat /proc/keys; ls -A /home | wc -l;
		/probe write /home; /probe write /proc/sys/kernel/hostname;
		/probe write /mnt'
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	assert_match "$(sed -n 1p <<<"$OUT")" '^chr 1:3 ' "/proc/keys masked by /dev/null"
	assert_eq "$(sed -n 2p <<<"$OUT" | tr -d ' ')" 0 "entries in masked /home"
	assert_eq "$(sed -n 3p <<<"$OUT")" EROFS "write to masked /home"
	assert_eq "$(sed -n 4p <<<"$OUT")" EROFS "write to read-only /proc/sys"
	assert_eq "$(sed -n 5p <<<"$OUT")" EROFS "write to a tmpfs in readonlyPaths"
}

t_dev_nodes() {
	local id
	id=$(new_id dev)
	mkbundle "$id"
	set_args "$id" /bin/sh -c 'for d in null zero full random urandom tty; do
		/probe stat /dev/$d; done; ls -A /dev/pts | grep -c ptmx;
		/probe mount /dev/shm; /probe stat /dev/sda 2>&1'
	run_a "$id"
	assert_eq "$RC" 1 "probe stat /dev/sda fails"
	assert_eq "$(sed -n 1,6p <<<"$OUT" | cut -d' ' -f1,2 | tr '\n' ' ')" \
		"chr 1:3 chr 1:5 chr 1:7 chr 1:8 chr 1:9 chr 5:0 " "device nodes"
	assert_eq "$(sed -n 7p <<<"$OUT")" 1 "/dev/pts/ptmx"
	assert_match "$(sed -n 8p <<<"$OUT")" '^tmpfs ' "/dev/shm"
	assert_eq "$(sed -n 9p <<<"$OUT")" ENOENT "/dev/sda is not in the container"
}

t_proc_and_sys() {
	local id
	id=$(new_id procsys)
	mkbundle "$id"
	set_args "$id" /bin/sh -c '/probe mount /proc; /probe mount /sys; /probe write /sys/kernel'
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	assert_match "$(sed -n 1p <<<"$OUT")" '^proc ' "/proc"
	assert_match "$(sed -n 2p <<<"$OUT")" '^sysfs ro' "/sys read-only"
	assert_eq "$(sed -n 3p <<<"$OUT")" EROFS "write to /sys"
}

# A container running as uid 1000 gets the host's /dev/null as stdin: the
# runtime must not chown it (runc 1.1 and crun 1.8 do). The cleanup checks
# /dev/null's owner after every test, and restores it.
t_stdio_devnull_owner() {
	local id
	id=$(new_id devnull)
	mkbundle "$id"
	cfg "$id" '.process.user = {uid: 1000, gid: 1000}'
	set_args "$id" /probe ids
	rt run --bundle "$(bundle_of "$id")" "$id" </dev/null >"$TDIR/out" 2>&1
	assert_eq "$(cat "$TDIR/out")" "1000 1000" "container user"
	local owner
	owner=$(stat -c %u:%g /dev/null)
	[ "$owner" = 0:0 ] || chown 0:0 /dev/null
	assert_eq "$owner" 0:0 "owner of the host's /dev/null"
	# The same with create/start, stdin and stdout on /dev/null.
	id=$(new_id devnull2)
	mkbundle "$id"
	cfg "$id" '.process.user = {uid: 1000, gid: 1000}'
	set_args "$id" /probe exit 0
	rt create --bundle "$(bundle_of "$id")" "$id" </dev/null >/dev/null 2>&1 ||
		fail "create as uid 1000"
	rt start "$id" || fail "start"
	wait_status "$id" stopped
	owner=$(stat -c %u:%g /dev/null)
	[ "$owner" = 0:0 ] || chown 0:0 /dev/null
	assert_eq "$owner" 0:0 "owner of the host's /dev/null after create/start"
	# exec as uid 1000 (crun 1.8 chowns here).
	id=$(new_id devnull3)
	mkbundle "$id"
	set_args "$id" /probe sleep 30
	must_run_d "$id"
	rt exec -u 1000:1000 "$id" /probe ids </dev/null >"$TDIR/out" 2>&1
	assert_eq "$(cat "$TDIR/out")" "1000 1000" "exec user"
	owner=$(stat -c %u:%g /dev/null)
	[ "$owner" = 0:0 ] || chown 0:0 /dev/null
	assert_eq "$owner" 0:0 "owner of the host's /dev/null after exec -u 1000"
}

t_unknown_mount_options_kept() {
	local id
	id=$(new_id mntopts)
	mkbundle "$id"
	add_mount "$id" '{"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
		"options": ["ro", "noexec", "nodev"]}'
	set_args "$id" /bin/sh -c '/probe mount /mnt; /probe write /mnt'
	run_a "$id"
	assert_eq "$RC" 0 "run: $ERR"
	assert_match "$(sed -n 1p <<<"$OUT")" '^tmpfs ro,[^ ]*nodev,noexec' "flags of /mnt"
	assert_eq "$(sed -n 2p <<<"$OUT")" EROFS "write to a ro tmpfs"
}

# A bind whose destination is "/" is accepted, as runc accepts it: its
# source becomes the root the container sees, and the mounts listed after
# it go into it.
t_bind_mount_over_root() {
	local id
	id=$(new_id bindroot)
	mkbundle "$id"
	cp -a "$ROOTFS" "$TDIR/newroot"
	echo "the new root" >"$TDIR/newroot/marker"
	cfg "$id" '.mounts = [{destination: "/", type: "bind", source: $s,
		options: ["rbind", "rw"]}] + .mounts' --arg s "$TDIR/newroot"
	set_args "$id" /bin/sh -c 'cat /marker; test -e /proc/self/status && echo proc'
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$OUT" "$(printf 'the new root\nproc')" "the root and /proc"
	[ -e "$ROOTFS/marker" ] && fail "the bind went into the shared rootfs"
	return 0
}
