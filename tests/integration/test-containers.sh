# Launched containers as docker manages them: launch -d's log (berth logs),
# stop, restart, rm, the listing (berth containers) and restart policies.
# Everything runs with --network none (launch's default).

MKIMAGE=$IT_LIB_DIR/mkimage.py

lc() {
	"$BERTH" --root "$ROOT" launch --store "$TDIR/store" \
		--cgroup-parent "berth-test-$IT_TOKEN" -e "BERTH_IT=$IT_TOKEN" "$@"
}

ctr_image() {
	berth_only "launch and its containers are berth's own commands"
	jq -nc --arg root "$ROOTFS" '{tags: ["ctr:1"],
		config: {Cmd: ["echo", "hello"]}, layers: [{dir: $root}]}' |
		python3 "$MKIMAGE" docker "$TDIR/ctr.tar" || fail "mkimage.py failed"
	assert_ok "$BERTH" image --store "$TDIR/store" load "$TDIR/ctr.tar"
}

# wait_exited ID: until the container has stopped and its monitor is gone.
wait_exited() {
	local n
	for n in $(seq 200); do
		[ "$(status_of "$1")" = stopped ] &&
			flock -n "$ROOT/.containers/$1/monitor.lock" true && return 0
		sleep 0.05
	done
	fail "$1 did not stop"
}

ctr_nothing_left() {
	assert_eq "$(ls -A "$TDIR/store/containers" 2>/dev/null)" "" "launch bundles left"
	assert_eq "$(state_left)" "" "state left"
}

t_ctr_logs_both_streams() {
	local id
	ctr_image
	id=$(new_id logs)
	assert_ok lc -d --name "$id" ctr:1 sh -c 'echo out1; echo err1 >&2; printf "no newline"'
	assert_eq "$OUT" "$id" "-d prints the id alone"
	wait_exited "$id"
	assert_ok rt logs "$id"
	assert_eq "$OUT" $'out1\nno newline' "stdout's lines on stdout"
	assert_eq "$ERR" "err1" "stderr's on stderr"
	assert_eq "$(jq -r .stream "$ROOT/.containers/$id/container.log" | tr '\n' ' ')" \
		"stdout stderr stdout " "json-file records"
	assert_eq "$(head -n 1 "$ROOT/.containers/$id/container.log" | jq -r .log)" "out1" \
		"the record's log"
	assert_ok rt logs -t "$id"
	assert_match "$OUT" '^20[0-9-]+T[0-9:]+(\.[0-9]{1,9})?Z out1$' "-t: RFC 3339 nano first"
	assert_ok rt containers -a --format json
	assert_eq "$(jq -r '.[0].ExitCode' <<<"$OUT")" 0 "the exit code is recorded"
	assert_ok rt rm "$id"
	ctr_nothing_left
}

t_ctr_logs_tail_since() {
	local id
	ctr_image
	id=$(new_id tail)
	assert_ok lc -d --name "$id" ctr:1 sh -c 'for i in 1 2 3 4 5; do echo l$i; done'
	wait_exited "$id"
	assert_ok rt logs --tail 2 "$id"
	assert_eq "$OUT" $'l4\nl5' "--tail 2"
	assert_ok rt logs --tail 0 "$id"
	assert_eq "$OUT" "" "--tail 0"
	assert_ok rt logs --since 1h "$id"
	assert_eq "$(wc -l <<<"$OUT")" 5 "--since 1h: all"
	assert_ok rt logs --since "$(($(date +%s) + 60))" "$id"
	assert_eq "$OUT" "" "--since the future: none"
	assert_fail_with "--since \`yesterday\`" rt logs --since yesterday "$id"
	assert_ok rt rm "$id"
	ctr_nothing_left
}

t_ctr_logs_follow() {
	local id pid start end n
	ctr_image
	id=$(new_id follow)
	assert_ok lc -d --name "$id" ctr:1 sh -c 'echo first; while [ ! -e /tmp/go ]; do sleep 0.02; done; echo second; sleep 0.5; echo third'
	"$BERTH" --root "$ROOT" logs -f "$id" >"$TDIR/follow.out" 2>&1 &
	pid=$!
	wait_file "$TDIR/follow.out" first
	start=$(date +%s%N)
	assert_ok rt exec "$id" touch /tmp/go
	wait_file "$TDIR/follow.out" second
	end=$(date +%s%N)
	echo "logs -f: a line shown $(((end - start) / 1000000)) ms after the exec that made it" >&2
	# the exec itself takes part of that; the log's own part is bounded below
	wait "$pid"
	assert_eq "$?" 0 "logs -f ends when the container has exited"
	assert_eq "$(cat "$TDIR/follow.out")" $'first\nsecond\nthird' "everything, once"
	assert_ok rt rm "$id"
	ctr_nothing_left
}

# The time between a line's record (its "time", taken as the monitor
# writes it) and logs -f handing the line over, read as it comes.
t_ctr_logs_follow_latency() {
	local id pid worst=0 d t line at rec
	ctr_image
	id=$(new_id lat)
	assert_ok lc -d --name "$id" ctr:1 sh -c 'i=0; while [ $i -lt 20 ]; do sleep 0.1; echo "line $i"; i=$((i+1)); done'
	"$BERTH" --root "$ROOT" logs -f -t "$id" | while IFS= read -r line; do
		echo "$EPOCHREALTIME $line"
	done >"$TDIR/lat.out"
	assert_eq "$(wc -l <"$TDIR/lat.out")" 20 "every line"
	while read -r at rec line; do
		t=$(date -d "$rec" +%s.%N)
		d=$(awk -v a="$at" -v t="$t" 'BEGIN { printf "%d", (a - t) * 1000 }')
		[ "$d" -gt "$worst" ] && worst=$d
	done <"$TDIR/lat.out"
	echo "logs -f latency: worst $worst ms over 20 lines" >&2
	[ "$worst" -le 50 ] || fail "logs -f showed a line $worst ms after it was logged"
	assert_ok rt rm "$id"
	ctr_nothing_left
}

t_ctr_log_rotates() {
	local id files
	ctr_image
	id=$(new_id chatty)
	assert_ok lc -d --name "$id" --log-opt max-size=4k --log-opt max-file=3 ctr:1 \
		sh -c 'i=0; while [ $i -lt 400 ]; do echo "chatty line $i"; i=$((i+1)); done'
	wait_exited "$id"
	files=$(cd "$ROOT/.containers/$id" && ls container.log* | tr '\n' ' ')
	assert_eq "$files" "container.log container.log.1 container.log.2 " "3 files at most"
	for f in "$ROOT/.containers/$id"/container.log*; do
		[ "$(stat -c %s "$f")" -le 4096 ] || fail "$f is past max-size: $(stat -c %s "$f")"
	done
	assert_ok rt logs "$id"
	assert_eq "$(tail -n 1 <<<"$OUT")" "chatty line 399" "the newest line"
	assert_eq "$(head -n 1 <<<"$OUT" | cut -d' ' -f1-2)" "chatty line" "whole lines"
	# consecutive lines, the oldest ones rotated away
	local first last
	first=$(head -n 1 <<<"$OUT" | cut -d' ' -f3)
	last=$(wc -l <<<"$OUT")
	assert_eq "$((first + last - 1))" 399 "no gap across the files"
	[ "$first" -gt 0 ] || fail "nothing was rotated away"
	assert_ok rt rm "$id"
	ctr_nothing_left
}

t_ctr_stop_times_out_then_kills() {
	local id t0 t1
	ctr_image
	id=$(new_id stubborn)
	assert_ok lc -d --name "$id" ctr:1 sh -c 'trap "echo ignored TERM" TERM; while :; do sleep 0.1; done'
	sleep 0.3
	t0=$(date +%s%N)
	assert_ok rt stop -t 1 "$id"
	t1=$(date +%s%N)
	assert_eq "$OUT" "$id" "stop prints the name"
	assert_eq "$(status_of "$id")" stopped "stopped when stop returns"
	[ $(((t1 - t0) / 1000000)) -ge 1000 ] || fail "stop took $(((t1 - t0) / 1000000)) ms, less than -t"
	[ $(((t1 - t0) / 1000000)) -lt 4000 ] || fail "stop took $(((t1 - t0) / 1000000)) ms"
	assert_ok rt logs "$id"
	assert_contains "$OUT" "ignored TERM" "SIGTERM came first"
	assert_ok rt containers -a --format json
	assert_eq "$(jq -r '.[0].ExitCode' <<<"$OUT")" 137 "then SIGKILL"
	assert_ok rt stop "$id"
	assert_ok rt rm "$id"
	ctr_nothing_left
}

t_ctr_stop_quick_and_stop_signal() {
	local id t0 t1
	ctr_image
	id=$(new_id quick)
	assert_ok lc -d --name "$id" ctr:1 sh -c 'trap "exit 3" TERM; while :; do sleep 0.1; done'
	sleep 0.3
	t0=$(date +%s%N)
	assert_ok rt stop "$id"
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt 2000 ] || fail "stop of a willing container took $(((t1 - t0) / 1000000)) ms"
	assert_ok rt containers -a
	assert_match "$(sed -n 2p <<<"$OUT")" "Exited \(3\) (Less than a second|[0-9]+ seconds?) ago" "STATUS"
	assert_ok rt rm "$id"
	# the image's StopSignal
	jq -nc --arg root "$ROOTFS" '{tags: ["usr1:1"], config: {StopSignal: "SIGUSR1"},
		layers: [{dir: $root}]}' | python3 "$MKIMAGE" docker "$TDIR/usr1.tar" ||
		fail "mkimage.py failed"
	assert_ok "$BERTH" image --store "$TDIR/store" load "$TDIR/usr1.tar"
	id=$(new_id usr1)
	assert_ok lc -d --name "$id" usr1:1 sh -c 'trap "exit 9" USR1; trap "exit 15" TERM; while :; do sleep 0.1; done'
	sleep 0.3
	assert_ok rt stop "$id"
	assert_ok rt containers -a --format json
	assert_eq "$(jq -r '.[0].ExitCode' <<<"$OUT")" 9 "stop sends the image's StopSignal"
	assert_ok rt rm "$id"
	ctr_nothing_left
}

t_ctr_restart_keeps_files() {
	local id
	ctr_image
	id=$(new_id keep)
	assert_ok lc -d --name "$id" ctr:1 sh -c 'date +%s%N >>/data.txt; echo run; exec sleep 30'
	sleep 0.3
	assert_ok rt restart -t 1 "$id"
	assert_eq "$(status_of "$id")" running "running again"
	assert_ok rt exec "$id" sh -c 'wc -l </data.txt'
	assert_eq "$OUT" 2 "the file written by the first run stays"
	assert_ok rt logs "$id"
	assert_eq "$OUT" $'run\nrun' "one log across runs"
	assert_fail_with "is running: stop it first" rt rm "$id"
	assert_ok rt rm -f "$id"
	ctr_nothing_left
}

t_ctr_listing() {
	local a b
	ctr_image
	a=$(new_id up)
	b=$(new_id done)
	assert_ok lc -d --name "$a" ctr:1 sleep 30
	assert_ok lc -d --name "$b" ctr:1 sh -c 'exit 3'
	wait_exited "$b"
	assert_ok rt containers
	assert_eq "$(head -n 1 <<<"$OUT" | tr -s ' ')" "CONTAINER ID IMAGE COMMAND CREATED STATUS PORTS NAMES" "the header"
	assert_eq "$(wc -l <<<"$OUT")" 2 "running ones only"
	assert_match "$(sed -n 2p <<<"$OUT")" "ctr:1 +\"sleep 30\" +(Less than a second|[0-9]+ seconds?) ago +Up (Less than a second|[0-9]+ seconds?) +$a\$" "a running row"
	assert_ok rt containers -a --format json
	assert_eq "$(jq -r '.[] | "\(.Names) \(.State) \(.ExitCode)"' <<<"$OUT" | tr '\n' ' ')" \
		"$b stopped 3 $a running null " "-a, sorted by name: states and exit codes"
	assert_ok rt containers -a -q
	assert_eq "$(tr '\n' ' ' <<<"$OUT")" "$b $a " "-q"
	# containers of the runtime itself are not launch's
	assert_ok rt rm -f "$a" "$b"
	assert_ok rt containers -a -q
	assert_eq "$OUT" "" "none after rm"
	ctr_nothing_left
}

t_ctr_bad_input() {
	ctr_image
	assert_fail_with "no such container: nosuch" rt logs nosuch
	assert_fail_with "no such container: nosuch" rt stop nosuch
	assert_fail_with "no such container: nosuch" rt restart nosuch
	assert_fail_with "no such container: nosuch" rt rm nosuch
	assert_fail_with "--restart \`sometimes\`: expected no, on-failure[:N], always or unless-stopped" \
		lc -d --restart sometimes ctr:1
	assert_fail_with "--restart \`on-failure:x\`" lc -d --restart on-failure:x ctr:1
	assert_fail_with "--restart and --rm conflict" lc -d --rm --restart always ctr:1
	assert_fail_with "--restart needs -d" lc --restart always ctr:1
	assert_fail_with "--log-opt \`max-size=lots\`" lc -d --log-opt max-size=lots ctr:1
	assert_fail_with "--tail \`x\`" rt logs --tail x nosuch
	assert_fail_with "--format \`yaml\`" rt containers --format yaml
	ctr_nothing_left
}

t_ctr_restart_policy_on_failure() {
	local id n
	ctr_image
	id=$(new_id crash)
	assert_ok lc -d --restart on-failure:2 --name "$id" ctr:1 sh -c 'echo try; exit 4'
	for n in $(seq 100); do
		[ "$(grep -c try "$ROOT/.containers/$id/container.log" 2>/dev/null)" = 3 ] && break
		sleep 0.05
	done
	wait_exited "$id"
	sleep 0.5 # a fourth run would have started by now
	assert_ok rt logs "$id"
	assert_eq "$OUT" $'try\ntry\ntry' "the first run and 2 restarts"
	assert_ok rt containers -a --format json
	assert_eq "$(jq -r '.[0] | "\(.RestartPolicy) \(.RestartCount) \(.ExitCode)"' <<<"$OUT")" \
		"on-failure:2 2 4" "policy, restarts, exit code"
	assert_ok rt rm "$id"
	# success is no failure
	id=$(new_id fine)
	assert_ok lc -d --restart on-failure --name "$id" ctr:1 sh -c 'echo once'
	wait_exited "$id"
	sleep 0.3
	assert_ok rt logs "$id"
	assert_eq "$OUT" once "on-failure does not restart after exit 0"
	assert_ok rt rm "$id"
	ctr_nothing_left
}

t_ctr_restart_policy_always_and_stop() {
	local id n
	ctr_image
	id=$(new_id always)
	assert_ok lc -d --restart always --name "$id" ctr:1 sh -c 'echo up; sleep 0.2'
	for n in $(seq 100); do
		[ "$(grep -c up "$ROOT/.containers/$id/container.log" 2>/dev/null)" -ge 3 ] && break
		sleep 0.05
	done
	assert_ok rt stop -t 1 "$id"
	n=$(grep -c up "$ROOT/.containers/$id/container.log")
	[ "$n" -ge 3 ] || fail "always restarted it $((n - 1)) times"
	sleep 1
	assert_eq "$(status_of "$id")" stopped "stop keeps it stopped"
	assert_eq "$(grep -c up "$ROOT/.containers/$id/container.log")" "$n" "no run after stop"
	# restart starts it again, with its policy
	assert_ok rt restart "$id"
	assert_eq "$(status_of "$id")" running "restarted"
	assert_ok rt rm -f "$id"
	ctr_nothing_left
}

t_ctr_attached_launch_is_listed() {
	local id
	ctr_image
	id=$(new_id att)
	run lc --name "$id" ctr:1 sh -c 'echo to the terminal; exit 5'
	assert_eq "$RC" 5 "the status"
	assert_eq "$OUT" "to the terminal" "attached output stays the caller's"
	assert_ok rt containers -a --format json
	assert_eq "$(jq -r '.[0] | "\(.Names) \(.ExitCode)"' <<<"$OUT")" "$id 5" "listed with its exit code"
	assert_ok rt rm "$id"
	ctr_nothing_left
}

t_ctr_ulimit_nofile() {
	local hard bnd
	ctr_image
	hard=$(ulimit -Hn)
	bnd=$((16#$(awk '/^CapBnd/ {print $2}' /proc/self/status)))
	run lc --rm ctr:1 sh -c 'ulimit -Sn; ulimit -Hn'
	assert_eq "$RC" 0 "docker's default nofile never fails the launch"
	# CAP_SYS_RESOURCE is capability 24
	if [ "$hard" != unlimited ] && [ "$hard" -lt 1048576 ] && [ $((bnd >> 24 & 1)) = 0 ]; then
		assert_eq "$OUT" "$hard"$'\n'"$hard" "berth's hard limit instead of 1048576"
		assert_contains "$ERR" "note: docker's default nofile 1048576 is above berth's hard limit" "one note"
		assert_eq "$(grep -c note <<<"$ERR")" 1 "one line"
	else
		assert_eq "$OUT" $'1048576\n1048576' "docker's default nofile"
	fi
	run lc --rm --ulimit nofile=512:1024 ctr:1 sh -c 'ulimit -Sn; ulimit -Hn'
	assert_eq "$OUT" $'512\n1024' "--ulimit nofile=SOFT:HARD"
	assert_eq "$ERR" "" "no note when it fits"
	run lc --rm --ulimit nproc=77 ctr:1 sh -c 'ulimit -u'
	assert_eq "$OUT" 77 "--ulimit nproc=N"
	assert_fail_with "--ulimit \`nofile=2:1\`: the soft limit is above the hard one" lc --rm --ulimit nofile=2:1 ctr:1
	assert_fail_with "--ulimit \`bogus=1\`: unknown limit bogus" lc --rm --ulimit bogus=1 ctr:1
	assert_fail_with "--ulimit \`nofile=many\`" lc --rm --ulimit nofile=many ctr:1
	ctr_nothing_left
}

t_ctr_bundled_short_flags() {
	local id
	ctr_image
	command -v script >/dev/null || skip "script(1) is not installed"
	run script -qec "$BERTH --root $ROOT launch --store $TDIR/store --cgroup-parent berth-test-$IT_TOKEN \
		-e BERTH_IT=$IT_TOKEN --rm -it ctr:1 sh -c 'tty; read x; echo got \$x'" /dev/null <<<"hi"
	assert_eq "$RC" 0 "launch -it"
	assert_match "$(tr -d '\r' <<<"$OUT" | grep /dev/)" '^/dev/pts/[0-9]+$' "-t in -it"
	assert_contains "$(tr -d '\r' <<<"$OUT")" "got hi" "-i in -it"
	id=$(new_id dp)
	assert_ok lc --name "$id" -dw /etc ctr:1 pwd
	assert_eq "$OUT" "$id" "-d in -dw"
	wait_exited "$id"
	assert_ok rt logs "$id"
	assert_eq "$OUT" /etc "-dw DIR: the value-taking flag last takes the next argument"
	assert_ok rt rm "$id"
	# -dit: a terminal whose output is the log; a shell on it waits for
	# input rather than ending, as under docker
	id=$(new_id dit)
	assert_ok lc -dit --name "$id" ctr:1 sh -c 'tty; exec sh'
	sleep 0.5
	assert_eq "$(status_of "$id")" running "sh on a kept terminal waits"
	assert_ok rt logs "$id"
	assert_match "$(tr -d '\r' <<<"$OUT")" '^/dev/pts/[0-9]+$' "the terminal's output is logged"
	assert_ok rt rm -f "$id"
	assert_fail_with "unknown flag: -dz (no flag -z)" lc -dz ctr:1
	ctr_nothing_left
}

# --label: docker's labels, as annotations of the container's config.
t_ctr_labels() {
	local id
	ctr_image
	id=$(new_id lab)
	assert_ok lc -d --name "$id" -l tier=web --label com.example.empty= ctr:1 sleep 30
	assert_ok rt state "$id"
	assert_eq "$(jq -r '.annotations.tier' <<<"$OUT")" web "-l KEY=VALUE"
	assert_eq "$(jq -r '.annotations["com.example.empty"]' <<<"$OUT")" "" "an empty value"
	assert_ok rt rm -f "$id"
	assert_fail_with '--label `org.berth.launch=x`: expected KEY=VALUE, KEY not org.berth.*' \
		lc --rm -l org.berth.launch=x ctr:1 true
	ctr_nothing_left
}

t_ctr_init() {
	local id t0 t1
	ctr_image
	[ -x "$(dirname "$BERTH")/berth-agent" ] || skip "berth-agent is not built next to berth"
	id=$(new_id init)
	# the orphan sleep's parent is PID 1: sleep 30 would never reap it
	assert_ok lc -d --init --name "$id" ctr:1 sh -c '(sleep 0.2 &); exec sleep 30'
	sleep 0.8
	assert_ok rt exec "$id" sh -c "tr '\\0' ' ' </proc/1/cmdline"
	assert_eq "$OUT" "/sbin/berth-init init -- sh -c (sleep 0.2 &); exec sleep 30 " "PID 1"
	assert_ok rt exec "$id" sh -c 'grep -l "^State:.*Z" /proc/[0-9]*/status || true'
	assert_eq "$OUT" "" "no zombie: the init reaped the orphan"
	# sleep as PID 1 would ignore SIGTERM; under the init it gets it
	t0=$(date +%s%N)
	assert_ok rt stop -t 5 "$id"
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt 2500 ] || fail "stop took $(((t1 - t0) / 1000000)) ms: SIGTERM was not forwarded"
	assert_ok rt containers -a --format json
	assert_eq "$(jq -r '.[0].ExitCode' <<<"$OUT")" 143 "the command's status (SIGTERM)"
	assert_ok rt rm "$id"
	run lc --rm --init --read-only ctr:1 sh -c 'exit 6'
	assert_eq "$RC" 6 "the exit status through the init, on a read-only root"
	ctr_nothing_left
}

t_ctr_dead_record_collected() {
	ctr_image
	# what a launch killed before its container existed leaves: a record
	# that nobody locks and no container names
	mkdir -p "$ROOT/.containers/$IT_TOKEN-ghost"
	echo '{}' >"$ROOT/.containers/$IT_TOKEN-ghost/config.json"
	assert_ok lc --rm ctr:1 true
	assert_eq "$(ls -A "$ROOT/.containers")" "" "the next launch removes it"
	# one whose lock is held (a launch still making its container) stays
	mkdir -p "$ROOT/.containers/$IT_TOKEN-busy"
	flock "$ROOT/.containers/$IT_TOKEN-busy" sleep 2 &
	sleep 0.2
	assert_ok lc --rm ctr:1 true
	assert_eq "$(ls -A "$ROOT/.containers")" "$IT_TOKEN-busy" "a locked one stays"
	wait
	rmdir "$ROOT/.containers/$IT_TOKEN-busy"
	# a launch killed while it made its record under a temporary name,
	# however young: the next launch removes it, unless still locked
	mkdir "$ROOT/.containers/.new-$IT_TOKEN-dead-0badf00d"
	mkdir "$ROOT/.containers/.new-$IT_TOKEN-live-600dcafe"
	flock "$ROOT/.containers/.new-$IT_TOKEN-live-600dcafe" sleep 2 &
	sleep 0.2
	assert_ok lc --rm ctr:1 true
	assert_eq "$(ls -A "$ROOT/.containers")" ".new-$IT_TOKEN-live-600dcafe" \
		"a killed launch's temporary record is removed, a locked one stays"
	wait
	rmdir "$ROOT/.containers/.new-$IT_TOKEN-live-600dcafe"
	# a bundle directory of a launch killed before it marked it as its
	# own: empty, it is removed; one with something in it is not known to
	# be a launch's, and stays
	mkdir -p "$TDIR/store/containers/$IT_TOKEN-e.0badf00d" \
		"$TDIR/store/containers/$IT_TOKEN-f.600dcafe"
	touch "$TDIR/store/containers/$IT_TOKEN-f.600dcafe/config.json"
	assert_ok lc --rm ctr:1 true
	assert_eq "$(ls -A "$TDIR/store/containers")" "$IT_TOKEN-f.600dcafe" \
		"an empty unmarked bundle is removed, another kept"
	rm -r "$TDIR/store/containers/$IT_TOKEN-f.600dcafe"
	ctr_nothing_left
}

t_ctr_long_lines_in_pieces() {
	local id
	ctr_image
	id=$(new_id long)
	assert_ok lc -d --name "$id" ctr:1 sh -c 'head -c 40000 /dev/zero | tr "\0" a; echo; printf "\001\033[1m\"x\"\n"'
	wait_exited "$id"
	assert_eq "$(wc -l <"$ROOT/.containers/$id/container.log")" 4 "40000 bytes in 16 KiB pieces, then a line"
	assert_eq "$(head -n 1 "$ROOT/.containers/$id/container.log" | jq -r .log | tr -d '\n' | wc -c)" 16384 "a piece"
	assert_ok rt logs "$id"
	assert_eq "$(head -n 1 <<<"$OUT" | wc -c)" 40001 "the pieces make the line again"
	assert_eq "$(tail -n 1 <<<"$OUT" | od -An -c | tr -s ' ')" " 001 033 [ 1 m \" x \" \\n" "control bytes kept"
	assert_ok rt rm "$id"
	ctr_nothing_left
}
