# Namespaces: new ones from the config, joined ones by path, user
# namespaces with id mappings.

# host_ns NAME: the host's namespace link (net:[4026531833]).
host_ns() {
	readlink "/proc/self/ns/$1"
}

t_new_namespaces() {
	local id ns
	id=$(new_id ns)
	mkbundle "$id"
	set_args "$id" /probe ns
	run_a "$id"
	assert_eq "$RC" 0 "probe ns"
	for ns in pid ipc uts mnt net; do
		assert_contains "$OUT" "$ns " "namespace $ns listed"
		assert_not_contains "$OUT" "$ns $(host_ns $ns)" "container's $ns namespace"
	done
	# Not asked for: shared with the host.
	assert_contains "$OUT" "user $(host_ns user)" "user namespace"
}

t_pid_one_and_hostname() {
	local id
	id=$(new_id hn)
	mkbundle "$id"
	cfg "$id" '.hostname = "box1"'
	set_args "$id" /bin/sh -c 'echo $$; /probe hostname; hostname'
	run_a "$id"
	assert_eq "$RC" 0 "exit status"
	assert_eq "$OUT" "$(printf '1\nbox1\nbox1')" "pid and hostname"
	assert_ne "$(hostname)" box1 "host's hostname"
}

t_netns_has_only_lo_up() {
	local id
	id=$(new_id lo)
	mkbundle "$id"
	set_args "$id" /bin/sh -c 'ip -o link; ls /sys/class/net'
	run_a "$id"
	assert_eq "$RC" 0 "ip link: $ERR"
	assert_eq "$(grep -c '^[0-9]*:' <<<"$OUT")" 1 "interfaces in a new netns"
	assert_match "$OUT" '^1: lo: <[A-Z_,]*[<,]UP[,>]' "lo is up"
	assert_eq "$(tail -n 1 <<<"$OUT")" lo "/sys/class/net of the new netns"
}

t_share_host_netns() {
	local id
	id=$(new_id hostnet)
	mkbundle "$id"
	cfg "$id" '.linux.namespaces |= map(select(.type != "network"))'
	set_args "$id" /probe ns
	run_a "$id"
	assert_eq "$RC" 0 "probe ns"
	assert_contains "$OUT" "net $(host_ns net)" "net namespace shared with the host"
}

t_join_netns_by_path() {
	local id name ino
	id=$(new_id joinnet)
	name=berth-test-$IT_TOKEN
	ip netns add "$name" || fail "ip netns add $name"
	defer ip netns del "$name"
	ino=$(stat -L -c %i "/run/netns/$name")
	mkbundle "$id"
	cfg "$id" '.linux.namespaces |= map(if .type == "network" then .path = $p else . end)' \
		--arg p "/run/netns/$name"
	set_args "$id" /probe ns
	run_a "$id"
	assert_eq "$RC" 0 "probe ns"
	assert_contains "$OUT" "net net:[$ino]" "joined network namespace"
	ip netns del "$name" || fail "ip netns del $name"
}

t_join_namespace_of_container() {
	local a b
	a=$(new_id nsa)
	b=$(new_id nsb)
	mkbundle "$a"
	set_args "$a" /probe signal-wait
	must_run_d "$a"
	wait_file "$TDIR/$a.out" ready
	mkbundle "$b"
	cfg "$b" '.linux.namespaces |= map(if .type == "ipc" or .type == "uts"
		then .path = "/proc/\($pid)/ns/\(.type)" else . end)
		| del(.hostname)' --arg pid "$(pid_of "$a")"
	set_args "$b" /bin/sh -c '/probe ns; /probe hostname'
	run_a "$b"
	assert_eq "$RC" 0 "run joining namespaces: $ERR"
	assert_contains "$OUT" "ipc $(readlink "/proc/$(pid_of "$a")/ns/ipc")" "joined ipc"
	assert_eq "$(tail -n 1 <<<"$OUT")" "$a" "hostname of the joined uts namespace"
}

t_user_namespace() {
	local id
	id=$(new_id userns)
	mkbundle "$id"
	cfg "$id" '.linux.namespaces += [{type: "user"}]
		| .linux.uidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
		| .linux.gidMappings = [{containerID: 0, hostID: 100000, size: 65536}]'
	set_args "$id" /bin/sh -c '/probe ids; cat /proc/self/uid_map /proc/self/gid_map; /probe signal-wait'
	must_run_d "$id"
	wait_file "$TDIR/$id.out" ready
	local out pid
	out=$(cat "$TDIR/$id.out")
	assert_eq "$(sed -n 1p <<<"$out")" "0 0" "ids inside the user namespace"
	assert_eq "$(sed -n 2p <<<"$out" | tr -s ' ' | sed 's/^ //')" "0 100000 65536" "uid_map"
	assert_eq "$(sed -n 3p <<<"$out" | tr -s ' ' | sed 's/^ //')" "0 100000 65536" "gid_map"
	pid=$(pid_of "$id")
	assert_eq "$(stat -c %u "/proc/$pid")" 100000 "host uid of the container's root"
	assert_ne "$(readlink "/proc/$pid/ns/user")" "$(host_ns user)" "user namespace"
}

t_cgroup_namespace() {
	local id
	id=$(new_id cgns)
	mkbundle "$id"
	cfg "$id" 'if any(.linux.namespaces[]; .type == "cgroup") then .
		else .linux.namespaces += [{type: "cgroup"}] end'
	set_args "$id" /probe cgroup
	run_a "$id"
	assert_eq "$RC" 0 "probe cgroup"
	assert_match "$(grep ':memory:' <<<"$OUT")" ':memory:/$' "memory cgroup inside a cgroup namespace"
}

t_container_cgroup_path() {
	local id
	id=$(new_id cgpath)
	mkbundle "$id"
	# Without a cgroup namespace the full path shows.
	cfg "$id" '.linux.namespaces |= map(select(.type != "cgroup"))'
	set_args "$id" /probe cgroup
	run_a "$id"
	assert_eq "$RC" 0 "probe cgroup"
	assert_match "$(grep ':pids:' <<<"$OUT")" ":pids:.*/berth-test-$IT_TOKEN/$id\$" "pids cgroup"
	assert_match "$(grep ':memory:' <<<"$OUT")" ":memory:.*/berth-test-$IT_TOKEN/$id\$" "memory cgroup"
}

# A mount namespace given by path is joined, and the root is built in it,
# as runc does it. The namespace is a throwaway one the test makes.
t_join_mount_namespace_by_path() {
	local id d ino
	id=$(new_id joinmnt)
	d=$TDIR/mntns
	mkdir -p "$d"
	mount --bind "$d" "$d" && mount --make-private "$d" || fail "private mount $d"
	defer umount -l "$d"
	touch "$d/ns"
	unshare --mount="$d/ns" true || fail "unshare --mount=$d/ns"
	defer umount "$d/ns"
	ino=$(stat -L -c %i "$d/ns")
	mkbundle "$id"
	cfg "$id" '.linux.namespaces |= map(if .type == "mount" then .path = $p else . end)' \
		--arg p "$d/ns"
	set_args "$id" /probe ns
	run_a "$id"
	assert_eq "$RC" 0 "run in a joined mount namespace: $(last_line "$ERR")"
	assert_contains "$OUT" "mnt mnt:[$ino]" "joined mount namespace"
}

# hostname with a UTS namespace joined by path names that namespace, as
# runc accepts it.
t_hostname_in_joined_uts() {
	local a b
	a=$(new_id utsa)
	b=$(new_id utsb)
	mkbundle "$a"
	set_args "$a" /probe signal-wait
	must_run_d "$a"
	wait_file "$TDIR/$a.out" ready
	mkbundle "$b"
	cfg "$b" '.linux.namespaces |= map(if .type == "uts"
		then .path = "/proc/\($pid)/ns/uts" else . end)
		| .hostname = "joined-" + $tok' --arg pid "$(pid_of "$a")" --arg tok "$IT_TOKEN"
	set_args "$b" /probe hostname
	run_a "$b"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$OUT" "joined-$IT_TOKEN" "hostname in the joined namespace"
	assert_ne "$(hostname)" "joined-$IT_TOKEN" "host's hostname"
}

# Without a mount entry the container runs in the runtime's mount
# namespace (the spec's rule for a type not listed) on the host's root;
# asking it to mount, mask or make anything read-only is refused.
t_no_mount_namespace_is_the_hosts() {
	local id
	berth_only "runc 1.1 fails there (it cannot close its fds) and writes device nodes into the rootfs"
	id=$(new_id nomnt)
	mkbundle "$id" copy
	cfg "$id" 'del(.linux.namespaces[] | select(.type == "mount"))
		| .mounts = [] | del(.linux.maskedPaths, .linux.readonlyPaths)
		| .root.readonly = false'
	set_args "$id" "$(bundle_of "$id")/rootfs/probe" ns
	run_a "$id"
	assert_eq "$RC" 0 "run without a mount namespace: $(last_line "$ERR")"
	assert_contains "$OUT" "mnt $(host_ns mnt)" "the host's mount namespace"
	id=$(new_id nomnt2)
	mkbundle "$id"
	cfg "$id" 'del(.linux.namespaces[] | select(.type == "mount"))'
	assert_fail_with "$(berth_or "mounts needs a mount namespace of the container's own" "")" \
		rt create --bundle "$(bundle_of "$id")" "$id"
	assert_gone "$id"
}

# With a user namespace, bind sources are opened on the host side before
# the init enters it, as runc opens them: a source below a directory only
# the host's root may search still mounts.
t_user_namespace_bind_source_behind_root_only_dir() {
	local id
	id=$(new_id usernsbind)
	mkdir -p "$TDIR/rootonly/shared"
	chmod 0700 "$TDIR/rootonly"
	echo "from the host" >"$TDIR/rootonly/shared/file"
	chmod 0755 "$TDIR/rootonly/shared"
	chmod 0644 "$TDIR/rootonly/shared/file"
	mkbundle "$id"
	cfg "$id" '.linux.namespaces += [{type: "user"}]
		| .linux.uidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
		| .linux.gidMappings = [{containerID: 0, hostID: 100000, size: 65536}]'
	add_mount "$id" "$(jq -nc --arg s "$TDIR/rootonly/shared" \
		'{destination: "/mnt", type: "bind", source: $s, options: ["rbind", "ro"]}')"
	set_args "$id" cat /mnt/file
	run_a "$id"
	assert_eq "$RC" 0 "run: $(last_line "$ERR")"
	assert_eq "$OUT" "from the host" "the bind-mounted file"
	# more sources than one message carries, each at its own place
	local i mounts='[]'
	for i in $(seq 1 40); do
		mkdir -p "$TDIR/rootonly/s$i"
		echo "$i" >"$TDIR/rootonly/s$i/n"
		mounts=$(jq -c --arg s "$TDIR/rootonly/s$i" --arg d "/tmp/m$i" \
			'. + [{destination: $d, type: "bind", source: $s, options: ["bind"]}]' <<<"$mounts")
	done
	cfg "$id" '.mounts += $m | .mounts += [{destination: "/tmp", type: "tmpfs", source: "tmpfs"}]
		| .mounts |= (map(select(.destination == "/tmp")) + map(select(.destination != "/tmp")))' \
		--argjson m "$mounts"
	set_args "$id" /bin/sh -c 'cat /tmp/m1/n /tmp/m33/n /tmp/m40/n'
	run_a "$id"
	assert_eq "$RC" 0 "run with 41 binds: $(last_line "$ERR")"
	assert_eq "$OUT" "$(printf '1\n33\n40')" "binds past the first message"
}
