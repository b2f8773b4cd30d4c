# `events`: the container's cgroup statistics as JSON (once with --stats,
# every --interval otherwise) and OOM kills, until the container stops.

# start_sleeper ID [JQ-RESOURCES]: a running container whose init sleeps.
start_sleeper() {
	mkbundle "$1"
	set_args "$1" /probe sleep 30
	[ -z "${2:-}" ] || cfg "$1" ".linux.resources += $2"
	must_run_d "$1"
}

# stop_for_runc ID: berth's events ends when the init exits; runc's only
# when the cgroup goes, at delete.
stop_for_runc() {
	[ "$IT_IS_BERTH" = 1 ] && return 0
	wait_status "$1" stopped
	assert_ok rt delete "$1"
}

t_events_stats_prints_the_cgroup_numbers() {
	local id
	id=$(new_id evst)
	start_sleeper "$id" '{memory: {limit: 67108864}, pids: {limit: 40}}'
	assert_ok rt events --stats "$id"
	assert_eq "$(printf '%s\n' "$OUT" | wc -l)" 1 "one line"
	jq -e . <<<"$OUT" >/dev/null || fail "not JSON: ${OUT:0:200}"
	assert_eq "$(jq -r .type <<<"$OUT")" stats "type"
	assert_eq "$(jq -r .id <<<"$OUT")" "$id" "id"
	jq -e '.data.memory.usage.usage > 0' <<<"$OUT" >/dev/null ||
		fail "memory.usage.usage: $(jq -c .data.memory.usage <<<"$OUT")"
	assert_eq "$(jq -r .data.memory.usage.limit <<<"$OUT")" 67108864 "memory limit"
	jq -e '.data.pids.current >= 1' <<<"$OUT" >/dev/null ||
		fail "pids.current: $(jq -c .data.pids <<<"$OUT")"
	assert_eq "$(jq -r .data.pids.limit <<<"$OUT")" 40 "pids limit"
	jq -e '.data.cpu.usage.total > 0 and (.data.memory.raw | length) > 0' \
		<<<"$OUT" >/dev/null || fail "cpu or memory.raw: ${OUT:0:300}"
	jq -e '.data.hugetlb | type == "object"' <<<"$OUT" >/dev/null ||
		fail "hugetlb is not an object"
}

t_events_interval_streams_until_the_container_stops() {
	local id pid n=0 lines
	id=$(new_id evint)
	start_sleeper "$id"
	timeout -k 2 20 "$BERTH" --root "$ROOT" events --interval 1s "$id" \
		>"$TDIR/events.out" 2>"$TDIR/events.err" &
	pid=$!
	defer "kill -9 $pid"
	# the first tick comes after one interval
	until [ -s "$TDIR/events.out" ]; do
		[ $n -lt 50 ] || fail "no stats line within 2.5 s: $(cat "$TDIR/events.err")"
		sleep 0.05
		n=$((n + 1))
	done
	kill -0 $pid 2>/dev/null || fail "events exited while the container runs"
	assert_ok rt kill "$id" KILL
	stop_for_runc "$id"
	n=0
	while kill -0 $pid 2>/dev/null; do
		[ $n -lt 60 ] || fail "events still runs 3 s after the container stopped"
		sleep 0.05
		n=$((n + 1))
	done
	wait $pid
	assert_eq "$?" 0 "exit status of events ($(cat "$TDIR/events.err"))"
	lines=$(jq -r '.type + " " + .id' "$TDIR/events.out") ||
		fail "events printed something that is not JSON"
	assert_eq "$(sort -u <<<"$lines")" "stats $id" "every line a stats event"
}

t_events_reports_an_oom_kill() {
	local id pid n=0
	id=$(new_id evoom)
	mkbundle "$id"
	cfg "$id" '.linux.resources.memory = {limit: 16777216, swap: 16777216}'
	[ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ] ||
		[ ! -d /sys/fs/cgroup/memory ] ||
		cfg "$id" 'del(.linux.resources.memory.swap)'
	# touches 64 MiB once the watch is armed
	set_args "$id" /bin/sh -c 'while [ ! -e /tmp/go ]; do sleep 0.1; done
		dd if=/dev/zero of=/dev/null bs=64M count=1; exec /probe sleep 30'
	add_mount "$id" '{"destination": "/tmp", "type": "tmpfs",
		"source": "tmpfs", "options": ["nosuid"]}'
	must_run_d "$id"
	timeout -k 2 20 "$BERTH" --root "$ROOT" events --interval 10s "$id" \
		>"$TDIR/events.out" 2>"$TDIR/events.err" &
	pid=$!
	defer "kill -9 $pid"
	sleep 0.5
	assert_ok rt exec "$id" /bin/touch /tmp/go
	until grep -q '"oom"' "$TDIR/events.out"; do
		[ $n -lt 100 ] || fail "no oom event within 5 s: $(cat "$TDIR/events.out" "$TDIR/events.err")"
		sleep 0.05
		n=$((n + 1))
	done
	assert_eq "$(grep '"oom"' "$TDIR/events.out" | head -n 1 | jq -c .)" \
		"{\"type\":\"oom\",\"id\":\"$id\"}" "oom event"
	kill -0 $pid 2>/dev/null || fail "events ended after the oom kill"
	assert_ok rt kill "$id" KILL
	stop_for_runc "$id"
	wait $pid
}

t_events_refuses_a_stopped_container() {
	local id
	id=$(new_id evstop)
	mkbundle "$id"
	set_args "$id" /probe exit 0
	must_create "$id"
	assert_ok rt start "$id"
	wait_status "$id" stopped
	assert_fail_with "container with id $id is not running" rt events --stats "$id"
	assert_fail_with "container does not exist" rt events "$IT_TOKEN-none"
}

t_events_checks_the_interval() {
	local id
	id=$(new_id evbad)
	start_sleeper "$id"
	assert_fail_with "duration interval must be greater than 0" \
		rt events --interval 0s "$id"
	berth_only "berth names the bad value"
	assert_fail_with 'invalid value "soon" for --interval' \
		rt events --interval soon "$id"
}
