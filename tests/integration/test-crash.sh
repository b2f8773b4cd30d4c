# berth killed at any point: whatever it made is recorded where `list`
# shows it and `delete -f` removes it, and an init whose creator died
# before releasing it does not outlive it.
#
# IT_KILLS (200) is the number of kills of t_crash_kill_anywhere.
IT_TIMEOUT=90

# kill_after US ARGS...: runs berth ARGS in the background and SIGKILLs it
# after about US microseconds (the sleep's own start-up included).
kill_after() {
	local us=$1 pid
	shift
	"$BERTH" --root "$ROOT" "$@" </dev/null >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '0.%06d' "$us")"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# The ids of the processes still running berth's binary with this test's
# root (inits not yet released, or created and waiting for start): the
# last word of their command line.
berth_inits() {
	local p
	for p in $(grep -lsF -- "$ROOT" /proc/[0-9]*/cmdline | cut -d/ -f3); do
		[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$BERTH" ] || continue
		tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | tail -n 1
	done
}

# create, start, run -d and run, with and without a user namespace, each
# killed at a random time in its first ~8 ms (a whole run takes about 4 ms
# here): afterwards every container
# that has an init, a cgroup or a state directory is in `list`, and
# `delete -f` of each id leaves no process, cgroup, mount or state.
t_crash_kill_anywhere() {
	berth_only "runc leaves its blocked init and cgroup behind"
	local n=${IT_KILLS:-200} i id b us ids=() listed
	# one bundle for all: each group is then its id, below our own cgroup
	id=$(new_id crash)
	mkbundle "$id"
	cfg "$id" 'del(.linux.cgroupsPath) | .process.args = ["/probe", "pid"]'
	# and one with a user namespace, where the cgroup comes before the init
	id=$(new_id crashuser)
	mkbundle "$id"
	cfg "$id" 'del(.linux.cgroupsPath) | .process.args = ["/probe", "pid"]
		| .linux.namespaces += [{type: "user"}]
		| .linux.uidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
		| .linux.gidMappings = [{containerID: 0, hostID: 100000, size: 65536}]'
	for i in $(seq "$n"); do
		id=$(new_id "k$i")
		ids+=("$id")
		us=$((RANDOM % 8000))
		b=$(bundle_of "$IT_TOKEN-crash")
		[ $((i % 8)) -lt 4 ] || b=$(bundle_of "$IT_TOKEN-crashuser")
		case $((i % 4)) in
		0) kill_after "$us" create --bundle "$b" "$id" ;;
		1) kill_after "$us" run -d --bundle "$b" "$id" ;;
		2) kill_after "$us" run --bundle "$b" "$id" ;;
		3)
			rt create --bundle "$b" "$id" </dev/null >/dev/null 2>&1 ||
				fail "create $id: $(rt create --bundle "$b" "$id" 2>&1 | tail -n 1)"
			kill_after "$((us / 4))" start "$id"
			;;
		esac
	done
	sleep 0.2
	# an init not released (create killed before it recorded the
	# container as created) died with its creator
	for id in $(berth_inits); do
		assert_eq "$(status_of "$id")" created "status of $id, whose init is blocked"
	done
	# nothing invisible: each init, group and state dir has a list entry
	listed=" $(rt list -q | tr '\n' ' ') "
	for id in $(berth_inits) $(ls "$ROOT") \
		$(find /sys/fs/cgroup -type d -name "$IT_TOKEN-k*" -printf '%f\n'); do
		case $listed in
		*" $id "*) ;;
		*) fail "$id has an init, a cgroup or state but is not in list: $(ls -A "$ROOT/$id" 2>&1 | tr "\n" " ") state: $(rt state "$id" 2>&1 | tr "\n" " " | head -c 300)" ;;
		esac
	done
	for id in "${ids[@]}"; do
		run rt delete -f "$id"
		[ "$RC" = 0 ] || fail "delete -f $id: $(last_line "$ERR")"
	done
	local left
	left=$(berth_inits | head -n 3)
	[ -z "$left" ] || fail "inits left after delete -f: $left"
	left=$(grep -lsF "BERTH_IT=$IT_TOKEN" /proc/[0-9]*/environ | head -n 3)
	[ -z "$left" ] || fail "container processes left after delete -f: $left"
	left=$(find /sys/fs/cgroup -type d -name "$IT_TOKEN-k*" | head -n 3)
	[ -z "$left" ] || fail "cgroups left after delete -f: $left"
	left=$(awk -v t="$TDIR" 'index($5, t) == 1' /proc/self/mountinfo | head -n 3)
	[ -z "$left" ] || fail "mounts left after delete -f: $left"
	left=$(ls "$ROOT" | grep -v '^\.' | head -n 3)
	[ -z "$left" ] || fail "state left after delete -f: $left"
}

# What a create killed right after it recorded its cgroup leaves: a state
# directory with the record alone (an xattr of the directory, or a symlink
# in it where the file system has no xattrs), the group made in some
# hierarchies and the init inside. `list` shows it stopped; `delete` kills
# the init and removes the group and the directory.
t_crash_stateless_create_is_listed_and_deleted() {
	berth_only "berth's own record"
	local how id cg h pid
	for how in xattr link; do
		id=$(new_id "stateless-$how")
		cg="/berth-test-$IT_TOKEN/$id"
		mkdir -p "$ROOT/$id"
		if [ $how = link ]; then
			ln -s "$cg" "$ROOT/$id/cgroup"
		else
			python3 -c 'import os, sys; os.setxattr(sys.argv[1], "trusted.berth.cgroup", sys.argv[2].encode())' \
				"$ROOT/$id" "$cg" || fail "setxattr on $ROOT/$id"
		fi
		sleep 30 </dev/null >/dev/null 2>&1 &
		pid=$!
		for h in unified pids; do
			[ -d "/sys/fs/cgroup/$h" ] || continue
			mkdir -p "/sys/fs/cgroup/$h$cg"
			echo "$pid" >"/sys/fs/cgroup/$h$cg/cgroup.procs"
		done
		assert_ok rt list
		assert_match "$OUT" "^$id +0 +stopped" "list of a create killed before its state ($how)"
		# stopped: delete needs no --force
		assert_ok rt delete "$id"
		[ -e "$ROOT/$id" ] && fail "delete left $ROOT/$id"
		for h in unified pids; do
			[ -e "/sys/fs/cgroup/$h$cg" ] && fail "delete left /sys/fs/cgroup/$h$cg ($how)"
		done
		wait "$pid"
		assert_eq "$?" 137 "the process in the recorded cgroup ($how)"
	done
}
