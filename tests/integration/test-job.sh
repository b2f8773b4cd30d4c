# berth job: a coordinator and pools of workers from a job file. Every
# job goes below the test's cgroup parent and its containers carry
# BERTH_IT, so that the cleanup finds whatever a run leaves behind; the
# images are made by mkimage.py from the busybox rootfs.

MKIMAGE=$IT_LIB_DIR/mkimage.py

jr() {
	"$BERTH" --root "$ROOT" job "$@"
}

job_only() {
	berth_only "job is berth's own command"
}

# job_image: the busybox rootfs as the image img:1 of the test's store.
job_image() {
	jq -nc --arg root "$ROOTFS" '{tags: ["img:1"], config: {Env: ["PATH=/bin:/sbin:/usr/bin"]},
		layers: [{dir: $root}]}' |
		python3 "$MKIMAGE" docker "$TDIR/img.tar" || fail "mkimage.py failed"
	assert_ok "$BERTH" image --store "$TDIR/store" load "$TDIR/img.tar"
}

# mkjob FILE JSON: the job file, with the test's store, cgroup parent and
# BERTH_IT in every group, and no network unless a group names one (these
# tests run in the machine's network namespace: test-network.sh has the
# jobs with networks); `job rm` of it is deferred.
mkjob() {
	jq --arg tok "$IT_TOKEN" --arg store "$TDIR/store" '
		.cgroup_parent = "berth-test-" + $tok | .store = $store
		| .groups |= map(.env += {BERTH_IT: $tok} | .network //= "none")' <<<"$2" >"$1" ||
		fail "mkjob $1: jq failed"
	local name
	name=$(jq -r '.name // empty' "$1")
	[ -n "$name" ] || name=$(basename "$1" .json)
	defer "\"$BERTH\" --root \"$ROOT\" job stop $name; \"$BERTH\" --root \"$ROOT\" job rm $name"
}

# job_gone NAME: the job ran and left only its logs: no state, runner,
# cgroup, mount or process.
job_gone() {
	local d=$ROOT/jobs/$1 left
	[ -e "$d/runner.pid" ] && fail "runner.pid left"
	[ -e "$d/run" ] && fail "state left: $(find "$d/run" | head -3)"
	left=$(find /sys/fs/cgroup -type d -name "berth-job-$1" -path "*berth-test-$IT_TOKEN*" 2>/dev/null | head -3)
	[ -z "$left" ] || fail "cgroups left: $left"
	assert_eq "$(ls -A "$TDIR/store/containers" 2>/dev/null)" "" "launch bundles left"
	assert_eq "$(grep -c "$TDIR/store/containers" /proc/self/mountinfo)" 0 "mounts left"
	left=$(grep -lsF "BERTH_IT=$IT_TOKEN" /proc/[0-9]*/environ 2>/dev/null | head -3)
	[ -z "$left" ] || fail "processes left: $left"
}

COORD='seq 1 100; exec >&-; awk "{ s += \$1 } END { print \"total\", s > \"/dev/stderr\" }"'

t_job_coordinator_and_workers() {
	job_only
	job_image
	mkjob "$TDIR/sum.json" "$(jq -nc --arg c "$COORD" '{queues: {tasks: {}}, groups: [
		{name: "coordinator", image: "img:1", command: ["sh", "-c", $c], produces: "tasks"},
		{name: "workers", image: "img:1", count: 2, consumes: "tasks",
		 command: ["sh", "-c", "echo $(( {} * 2 ))"]}]}')"
	assert_ok jr run "$TDIR/sum.json"
	assert_eq "$(jq -r .log "$ROOT/jobs/sum/logs/coordinator.0/container.log")" "total 10100" \
		"the coordinator's sum of the results, in its log"
	assert_eq "$(jq -r .stream "$ROOT/jobs/sum/logs/coordinator.0/container.log")" stderr \
		"the log's stream"
	assert_eq "$(jq -r .exit_code "$ROOT/jobs/sum/logs/coordinator.0/state.json")" 0 \
		"its exit code recorded"
	local i
	for i in 0 1; do
		[ -e "$ROOT/jobs/sum/logs/workers.$i.out" ] && [ -e "$ROOT/jobs/sum/logs/workers.$i.err" ] ||
			fail "no logs of worker $i: $(ls "$ROOT/jobs/sum/logs")"
	done
	assert_ok jr logs sum coordinator
	assert_eq "$OUT" "coordinator.0| total 10100" "job logs"
	job_gone sum
	# line mode: one long-lived shell a worker
	mkjob "$TDIR/sq.json" "$(jq -nc --arg c "$COORD" '{queues: {q: {}}, groups: [
		{name: "coordinator", image: "img:1", command: ["sh", "-c", $c], produces: "q"},
		{name: "squares", image: "img:1", count: 2, consumes: "q", mode: "line",
		 command: ["sh", "-c", "while read n; do echo $((n * n)); done"]}]}')"
	assert_ok jr run "$TDIR/sq.json"
	assert_ok jr logs sq coordinator
	assert_eq "$OUT" "coordinator.0| total 338350" "sum of squares"
	job_gone sq
}

t_job_queue_with_range() {
	job_only
	job_image
	mkjob "$TDIR/r.json" '{"queues": {"nums": {"range": "1:10"}}, "groups": [
		{"name": "w", "image": "img:1", "count": 2, "consumes": "nums",
		 "command": ["echo", "n-{}"]}]}'
	assert_ok jr run "$TDIR/r.json"
	assert_eq "$(sort -t- -k2 -n "$ROOT/jobs/r/results/nums.out" | tr '\n' ' ')" \
		"n-1 n-2 n-3 n-4 n-5 n-6 n-7 n-8 n-9 n-10 " "results/nums.out"
	job_gone r
	# a failing task fails the group, named in the last line
	mkjob "$TDIR/f.json" '{"queues": {"nums": {"args": ["0", "3"]}}, "groups": [
		{"name": "w", "image": "img:1", "consumes": "nums",
		 "command": ["sh", "-c", "exit {}"]}]}'
	assert_fail_with "group w: 1 task failed" jr run "$TDIR/f.json"
	job_gone f
}

t_job_ps_logs_stop() {
	job_only
	job_image
	mkjob "$TDIR/slow.json" '{"queues": {"t": {}}, "groups": [
		{"name": "coordinator", "image": "img:1", "produces": "t",
		 "command": ["sh", "-c", "echo started >&2; seq 1 4; exec >&-; cat >/dev/null"]},
		{"name": "workers", "image": "img:1", "count": 2, "consumes": "t",
		 "command": ["sleep", "60"]},
		{"name": "svc", "image": "img:1", "command": ["sh", "-c", "echo up; sleep 60"]}]}'
	assert_ok jr run -d "$TDIR/slow.json"
	assert_eq "$OUT" slow "-d prints the job's name"
	local n=0
	while [ $n -lt 100 ]; do
		run jr ps slow
		[ "$(grep -c ' running ' <<<"$OUT")" = 4 ] && break
		sleep 0.1
		n=$((n + 1))
	done
	assert_eq "$(head -n 1 <<<"$OUT" | tr -s ' ')" "GROUP ID STATUS PID CPU ADDRESS" "ps header"
	assert_eq "$(awk 'NR > 1 { print $1, $2, $3 }' <<<"$OUT" | tr '\n' '|')" \
		"coordinator coordinator.0 running|workers w0 running|workers w1 running|svc svc.0 running|" \
		"one line a container"
	assert_ok jr ps -f json slow
	assert_eq "$(jq -r '[.[] | .group + "/" + .id] | join(" ")' <<<"$OUT")" \
		"coordinator/coordinator.0 workers/w0 workers/w1 svc/svc.0" "ps -f json"
	jq -e 'all(.[]; .pid > 0)' <<<"$OUT" >/dev/null || fail "a container without a pid: $OUT"
	assert_fail_with "job slow is running already" jr run "$TDIR/slow.json"
	assert_ok jr logs slow
	assert_contains "$OUT" "coordinator.0| started" "job logs"
	assert_contains "$OUT" "svc.0| up" "job logs"
	assert_ok jr stop slow
	job_gone slow
	assert_fail_with "job slow is not running" jr stop slow
	assert_fail_with "job slow is not running" jr ps slow
	assert_ok jr rm slow
	[ -e "$ROOT/jobs/slow" ] && fail "job rm left $ROOT/jobs/slow"
	return 0
}

# bad_job WHAT JSON: the file is refused with WHAT in the last line, and
# nothing is made.
bad_job() {
	printf '%s' "$2" >"$TDIR/bad.json"
	assert_fail_with "$1" jr run "$TDIR/bad.json"
	[ -e "$ROOT/jobs" ] && fail "$1: left $(find "$ROOT/jobs" | head -3)"
	return 0
}

t_job_bad_files() {
	job_only
	job_image
	local img='"image": "img:1", "command": ["true"]'
	bad_job "bad.json: malformed JSON at line 1" '{"groups": [}'
	bad_job "bad.json: groups[1].count: expected a positive integer" \
		"{\"queues\": {\"t\": {}}, \"groups\": [{\"name\": \"c\", $img, \"produces\": \"t\"},
		{\"name\": \"w\", $img, \"count\": \"2\", \"consumes\": \"t\"}]}"
	bad_job "groups[0]: consumes: unknown queue \`nope\`" \
		"{\"groups\": [{\"name\": \"w\", $img, \"consumes\": \"nope\"}]}"
	bad_job "queues.t: no group produces it and it has no input" \
		"{\"queues\": {\"t\": {}}, \"groups\": [{\"name\": \"w\", $img, \"consumes\": \"t\"}]}"
	bad_job "groups[0].count: expected a positive integer" \
		"{\"groups\": [{\"name\": \"w\", $img, \"count\": 0}]}"
	bad_job "groups[0].cpus: CPU 4095 is not in the allowed set" \
		"{\"groups\": [{\"name\": \"w\", $img, \"cpus\": \"4095\"}]}"
	bad_job "groups[0].image: image nosuch:1" \
		"{\"store\": \"$TDIR/store\", \"groups\": [{\"name\": \"w\", \"image\": \"nosuch:1\"}]}"
	bad_job "groups[0].mode: unknown mode \`fast\`" \
		"{\"queues\": {\"t\": {\"range\": \"1:2\"}}, \"groups\": [{\"name\": \"w\", $img, \"consumes\": \"t\", \"mode\": \"fast\"}]}"
}

# lib mode on the demo image: examples/job-primes.json, smaller.
t_job_lib_mode_demo() {
	job_only
	local demo=$IT_LIB_DIR/../../build/images/demo.tar
	[ -e "$demo" ] || skip "no $demo (make demo-image)"
	assert_ok "$BERTH" image --store "$TDIR/store" load "$demo"
	mkjob "$TDIR/primes.json" "$(jq '.groups[0].command[2] |= sub("9999"; "999")' \
		"$IT_LIB_DIR/../../examples/job-primes.json")"
	assert_ok jr run "$TDIR/primes.json"
	assert_ok jr logs primes coordinator
	assert_eq "$OUT" "coordinator.0| primes below 100000: 1229" \
		"primes below 10000 (the message keeps the example's words)"
	job_gone primes
}

# The runner SIGKILLed: every kid gets SIGTERM (PR_SET_PDEATHSIG) and takes
# its container with it; `job rm` then clears the state of the dead run.
t_job_runner_sigkill_kills_containers() {
	job_only
	job_image
	mkjob "$TDIR/k.json" '{"queues": {"t": {}}, "groups": [
		{"name": "coordinator", "image": "img:1", "produces": "t",
		 "command": ["sh", "-c", "seq 1 4; exec >&-; cat >/dev/null"]},
		{"name": "workers", "image": "img:1", "count": 2, "consumes": "t",
		 "command": ["sleep", "60"]},
		{"name": "svc", "image": "img:1", "command": ["sleep", "60"]}]}'
	assert_ok jr run -d "$TDIR/k.json"
	local n=0 runner left
	while [ $n -lt 100 ]; do
		run jr ps k
		[ "$(grep -c ' running ' <<<"$OUT")" = 4 ] && break
		sleep 0.1
		n=$((n + 1))
	done
	assert_eq "$(grep -c ' running ' <<<"$OUT")" 4 "four containers running"
	runner=$(cat "$ROOT/jobs/k/runner.pid")
	kill -KILL "$runner"
	for n in $(seq 100); do
		left=$(grep -lsF "BERTH_IT=$IT_TOKEN" /proc/[0-9]*/environ 2>/dev/null | head -3)
		[ -z "$left" ] && break
		sleep 0.1
	done
	assert_eq "$left" "" "container processes after the runner's SIGKILL"
	assert_ok jr rm k
	[ -e "$ROOT/jobs/k" ] && fail "job rm left $ROOT/jobs/k"
	return 0
}

# wait_ps JOB PATTERN COUNT: until `job ps -a JOB` has COUNT lines that
# match PATTERN (5 s).
wait_ps() {
	local n
	for n in $(seq 50); do
		run jr ps -a "$1"
		[ "$(grep -cE "$2" <<<"$OUT")" = "$3" ] && return 0
		sleep 0.1
	done
	fail "job ps -a $1: not $3 lines of $2: $OUT"
}

# A running job's service groups scale, stop, start; its logs follow the
# containers that come; ps -a shows those that ended, with exit codes.
t_job_scale_stop_start_logs_follow() {
	job_only
	job_image
	mkjob "$TDIR/svc.json" "$(jq -nc '{groups: [
		{name: "web", image: "img:1", count: 2, init: true,
		 command: ["sh", "-c", "echo up $(hostname); echo oops >&2; while sleep 0.2; do :; done"]},
		{name: "one", image: "img:1", command: ["sh", "-c", "echo done; exit 3"]}]}')"
	assert_ok jr run -d "$TDIR/svc.json"
	wait_ps svc '^web +web\.[01] +running' 2
	wait_ps svc '^one +one\.0 +exited\(3\)' 1
	assert_ok jr logs svc web
	assert_contains "$OUT" "web.0| up web.0" "logs of web.0"
	assert_contains "$OUT" "web.1| oops" "stderr in the log"
	assert_ok jr logs --tail 1 svc one
	assert_eq "$OUT" "one.0| done" "--tail 1"
	assert_ok jr logs -t svc one
	assert_match "$OUT" '^one\.0\| 20[0-9-]+T[0-9:.]+Z done$' "-t: the line's time"
	# a follower sees the containers that come with a scale
	: >"$TDIR/follow.out"
	"$BERTH" --root "$ROOT" job logs -f svc web >"$TDIR/follow.out" 2>&1 &
	local follower=$!
	defer "kill $follower 2>/dev/null"
	assert_ok jr scale svc web=3
	wait_ps svc '^web +web\.[012] +running' 3
	local n
	for n in $(seq 50); do
		grep -q 'web.2| up web.2' "$TDIR/follow.out" && break
		sleep 0.1
	done
	assert_contains "$(cat "$TDIR/follow.out")" "web.2| up web.2" "logs -f: the new container's output"
	assert_ok jr scale svc web=1
	run jr ps -a svc
	assert_eq "$(grep -c '^web ' <<<"$OUT")" 1 "scaled down: web.1 and web.2 are gone"
	[ -e "$ROOT/jobs/svc/logs/web.2" ] && fail "the log of a container scaled away is left"
	# stop keeps the job and the exit code; start runs it again
	assert_ok jr stop -t 5 svc web
	wait_ps svc '^web +web\.0 +exited\(143\)' 1
	assert_ok jr start svc web
	wait_ps svc '^web +web\.0 +running' 1
	# bad requests: one clear error each
	assert_fail_with "job svc has no group nope" jr scale svc nope=2
	assert_fail_with "expected GROUP=N" jr scale svc web
	assert_fail_with "scale web=5000: 0 to 4096" jr scale svc web=5000
	assert_fail_with "job nojob is not running" jr scale nojob web=1
	assert_ok jr stop svc
	wait "$follower"
	assert_eq "$?" 0 "logs -f ends with the job"
	run jr ps svc
	assert_contains "$ERR" "job svc is not running" "ps of a job that ended"
	assert_ok jr ps -a svc
	assert_match "$OUT" 'one\.0 +exited\(3\)' "ps -a after the end keeps the exit codes"
	job_gone svc
}

# A queue's groups run as long as the job: no scale or stop of them.
t_job_queue_groups_refuse_scale_and_stop() {
	job_only
	job_image
	mkjob "$TDIR/q.json" "$(jq -nc '{queues: {tasks: {}}, groups: [
		{name: "coordinator", image: "img:1", produces: "tasks",
		 command: ["sh", "-c", "seq 1 3; sleep 30"]},
		{name: "workers", image: "img:1", count: 1, consumes: "tasks",
		 command: ["sh", "-c", "echo {}"]}]}')"
	assert_ok jr run -d "$TDIR/q.json"
	assert_fail_with "group workers consumes a queue" jr scale q workers=2
	assert_fail_with "group coordinator produces a queue" jr stop q coordinator
	assert_ok jr stop q
	job_gone q
}
