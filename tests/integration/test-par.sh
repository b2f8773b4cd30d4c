# berth par: GNU parallel over a pool of pinned worker containers. Every
# pool goes below the test's cgroup parent and carries BERTH_IT, so that
# the cleanup finds whatever a run leaves behind; each test also checks
# that the pool's state root is gone.

# par ARGS...: berth par with the shared rootfs, quiet, traceable.
par() {
	rt par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" --quiet "$@"
}

par_only() {
	berth_only "par is berth's own command"
}

# no_pool_left: the pool's state root and cgroup are gone. .cache (the
# compiled seccomp programs every pool of the root shares) stays.
no_pool_left() {
	local left
	left=$(state_left)
	[ -z "$left" ] || fail "left in the state root: $left"
	left=$(find /sys/fs/cgroup -type d -path "*berth-test-$IT_TOKEN/*" 2>/dev/null | head -3)
	[ -z "$left" ] || fail "cgroups left: $left"
}

# allowed_cpus: the CPUs berth may use (affinity and cpuset), as a list.
allowed_cpus() {
	local aff cs
	aff=$(awk '/Cpus_allowed_list/ { print $2 }' /proc/self/status)
	cs=$(cat /sys/fs/cgroup/cpuset/cpuset.effective_cpus 2>/dev/null ||
		cat /sys/fs/cgroup/cpuset.cpus.effective 2>/dev/null || echo "$aff")
	# both lists expanded, intersected
	comm -12 <(expand_cpus "$aff") <(expand_cpus "$cs") | sort -n
}

expand_cpus() {
	local part a b
	for part in ${1//,/ }; do
		a=${part%-*} b=${part#*-}
		seq "$a" "$b"
	done | sort
}

t_par_echo_keep_order() {
	local before
	par_only
	# pools of other runs on this host are theirs
	before=$(find /sys/fs/cgroup -maxdepth 2 -type d -name "berth-par-*" | sort)
	assert_ok rt par --rootfs "$ROOTFS" --quiet -k -- echo {} ::: a b c
	assert_eq "$OUT" $'a\nb\nc' "output of -k echo {} ::: a b c"
	no_pool_left
	# the default cgroup parent is the caller's own cgroup
	assert_eq "$(find /sys/fs/cgroup -maxdepth 2 -type d -name "berth-par-*" | sort)" \
		"$before" "berth-par-* cgroups left"
}

# The workers' seccomp program is compiled once a state root: a second
# pool finds it in .cache and the workers still run under it.
t_par_seccomp_cache() {
	local f mtime
	par_only
	assert_ok rt par --rootfs "$ROOTFS" --quiet -- sh -c 'grep ^Seccomp: /proc/self/status' ::: 1
	assert_eq "$OUT" $'Seccomp:\t2' "the worker's seccomp mode"
	f=$(ls "$ROOT"/.cache/seccomp/*.bpf 2>/dev/null)
	assert_eq "$(wc -w <<<"$f")" 1 "compiled programs in $ROOT/.cache/seccomp"
	mtime=$(stat -c %Y.%y "$f")
	sleep 1.1
	assert_ok rt par --rootfs "$ROOTFS" --quiet -- sh -c 'grep ^Seccomp: /proc/self/status' ::: 1
	assert_eq "$OUT" $'Seccomp:\t2' "the second pool's seccomp mode"
	assert_eq "$(stat -c %Y.%y "$f")" "$mtime" "the cached program was reused, not written again"
	no_pool_left
}

# With --log the log file is berth's fd 3, where the workers want the
# queue: the log must move, not receive the queue's writes (or the reverse).
t_par_with_log_file() {
	par_only
	assert_ok "$BERTH" --root "$ROOT" --debug --log "$TDIR/log" par --rootfs "$ROOTFS" \
		--cgroup-parent "berth-test-$IT_TOKEN" -e "BERTH_IT=$IT_TOKEN" --quiet -j 2 -k \
		-- echo {} ::: a b c
	assert_eq "$OUT" $'a\nb\nc' "output with --log"
	assert_eq "$(grep -c 'task queue' "$TDIR/log")" 1 "the log has berth's debug lines"
	assert_eq "$(grep -vc '^time=' "$TDIR/log")" 0 "nothing but log lines in the log"
	no_pool_left
}

t_par_seq_and_slot() {
	par_only
	assert_ok par -j 2 -k -- echo {#} {%} {} ::: a b c d e f
	assert_eq "$(cut -d' ' -f1 <<<"$OUT" | tr '\n' ' ')" "1 2 3 4 5 6 " "{#}"
	assert_eq "$(cut -d' ' -f3 <<<"$OUT" | tr '\n' ' ')" "a b c d e f " "{}"
	assert_eq "$(cut -d' ' -f2 <<<"$OUT" | sort -u | tr '\n' ' ')" "1 2 " "{%} is the worker's slot"
	assert_ok par -j 1 -k -- echo {.} {/} {//} {/.} ::: dir/f.txt
	assert_eq "$OUT" "dir/f f.txt dir f" "{.} {/} {//} {/.}"
	# no replacement string: the argument goes last
	assert_ok par -k -- echo x ::: 1 2
	assert_eq "$OUT" $'x 1\nx 2' "argument appended"
	no_pool_left
}

t_par_sources() {
	par_only
	printf 'one\ntwo\nthree\n' >"$TDIR/args"
	assert_ok par -k -a "$TDIR/args" -- echo {}
	assert_eq "$OUT" $'one\ntwo\nthree' "-a FILE"
	assert_ok par -k -- echo {} :::: "$TDIR/args"
	assert_eq "$OUT" $'one\ntwo\nthree' ":::: FILE"
	run par -k -- echo in-{} <"$TDIR/args"
	assert_eq "$RC" 0 "stdin source: $(last_line "$ERR")"
	assert_eq "$OUT" $'in-one\nin-two\nin-three' "stdin"
	assert_ok par -k --range 1:4 -- echo
	assert_eq "$OUT" $'1\n2\n3\n4' "--range 1:4"
	assert_ok par -k --range 10:0:-5 -- echo
	assert_eq "$OUT" $'10\n5\n0' "--range 10:0:-5"
	assert_fail_with "--range 1:2:0" par --range 1:2:0 -- echo
	no_pool_left
}

t_par_results_and_joblog() {
	par_only
	local r=$TDIR/r.jsonl j=$TDIR/joblog
	run par -k --results "$r" --joblog "$j" -- sh -c 'echo out-$1; echo err-$1 >&2; exit $1' sh ::: 0 3 0
	assert_eq "$RC" 1 "exit status: one task failed"
	assert_eq "$OUT" $'out-0\nout-3\nout-0' "stdout"
	assert_contains "$ERR" "err-3" "the tasks' stderr"
	assert_eq "$(wc -l <"$r")" 3 "result lines"
	assert_eq "$(jq -c '[.seq, .task, .exit, .output, .stderr]' "$r" | tr '\n' ' ')" \
		'[1,"0",0,"out-0\n","err-0\n"] [2,"3",3,"out-3\n","err-3\n"] [3,"0",0,"out-0\n","err-0\n"] ' \
		"results"
	jq -e 'select((.time_ms | type) != "number" or .worker < 0 or .cpu < 0)' "$r" >/dev/null &&
		fail "a result without time, worker or cpu: $(cat "$r")"
	assert_eq "$(head -n 1 "$j")" \
		"$(printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand')" \
		"joblog header"
	assert_eq "$(wc -l <"$j")" 4 "joblog lines"
	assert_eq "$(awk -F'\t' 'NR > 1 { print NF, $1, $2, $7, $8, $9 }' "$j" | sort -n -k2 | tr '\n' '|')" \
		"9 1 : 0 0 sh -c echo out-\$1; echo err-\$1 >&2; exit \$1 sh 0|9 2 : 3 0 sh -c echo out-\$1; echo err-\$1 >&2; exit \$1 sh 3|9 3 : 0 0 sh -c echo out-\$1; echo err-\$1 >&2; exit \$1 sh 0|" \
		"joblog rows"
	assert_match "$(sed -n 2p "$j" | cut -f3,4)" '^[0-9]{10}\.[0-9]{3}	 *[0-9]+\.[0-9]{3}$' "joblog times"
	no_pool_left
}

t_par_failures_count() {
	par_only
	run par -- sh -c 'exit $1' sh ::: 0 1 2 0 5
	assert_eq "$RC" 3 "berth's exit status counts the failed tasks"
	run par -- false ::: $(seq 120)
	assert_eq "$RC" 101 "at most 101"
	no_pool_left
}

# Each worker sits on one CPU: its affinity and its cgroup's cpuset, seen
# from inside, are the CPU the results name.
t_par_pinned_cpus() {
	par_only
	local r=$TDIR/r.jsonl line cpu n=0 allowed
	allowed=$(allowed_cpus | tr '\n' ' ')
	assert_ok par --results "$r" -- sh -c \
		'printf "%s %s\n" "$(grep Cpus_allowed_list /proc/self/status | cut -f2)" "$(cat /sys/fs/cgroup/cpuset/cpuset.cpus)"' \
		::: $(seq 8)
	while read -r line; do
		cpu=$(jq -r .cpu <<<"$line")
		assert_eq "$(jq -r .output <<<"$line")" "$cpu $cpu" \
			"affinity and cpuset of the worker on CPU $cpu"
		assert_contains " $allowed" " $cpu " "CPU $cpu in the allowed set"
		n=$((n + 1))
	done <"$r"
	assert_eq "$n" 8 "results"
	# --cpus picks the CPUs; -j more workers than CPUs share them
	local first=${allowed%% *}
	assert_ok par --results "$r" --cpus "$first" -j 2 -- sh -c 'grep Cpus_allowed_list /proc/self/status | cut -f2' ::: 1 2 3
	assert_eq "$(jq -r '.output | rtrimstr("\n")' "$r" | sort -u)" "$first" \
		"every worker on CPU $first"
	assert_eq "$(jq -r .cpu "$r" | sort -u)" "$first" "results name CPU $first"
	no_pool_left
}

# From the host, while the pool runs: `berth list` shows the workers, and
# each worker's cgroup has its one CPU.
t_par_workers_seen_from_host() {
	par_only
	local pool n cpus w pid cg
	par -j 2 -- sleep ::: 2 2 >"$TDIR/out" 2>"$TDIR/err" &
	for n in $(seq 100); do
		pool=$(ls "$ROOT" 2>/dev/null | head -n 1)
		# running, not just listed: a worker being created has no pid yet
		[ -n "$pool" ] && [ "$(rt --root "$ROOT/$pool" list -f json 2>/dev/null |
			jq '[.[] | select(.status == "running")] | length')" = 2 ] && break
		sleep 0.05
	done
	[ -n "$pool" ] || fail "no pool state root under $ROOT"
	assert_eq "$(rt --root "$ROOT/$pool" list -q | tr '\n' ' ')" "w0 w1 " "berth list of the pool"
	for w in w0 w1; do
		pid=$(rt --root "$ROOT/$pool" state "$w" | jq -r .pid)
		cg=$(awk -F: '$2 ~ /(^|,)cpuset(,|$)/ { print $3 }' "/proc/$pid/cgroup")
		cpus=$(cat "/sys/fs/cgroup/cpuset$cg/cpuset.cpus")
		assert_eq "$(awk '/Cpus_allowed_list/ { print $2 }' "/proc/$pid/status")" "$cpus" \
			"$w: affinity and cpuset"
		assert_match "$cpus" '^[0-9]+$' "$w has one CPU"
		assert_contains "$cg" "berth-test-$IT_TOKEN/berth-par-" "$w's cgroup"
	done
	wait $!
	assert_eq "$?" 0 "par: $(tail -n 1 "$TDIR/err")"
	no_pool_left
}

t_par_line_mode() {
	par_only
	assert_ok par -k --mode line -- sh -c 'while read l; do echo "$l$l"; done' ::: a b c d
	assert_eq "$OUT" $'aa\nbb\ncc\ndd' "line mode"
	# a program that dies fails its task and is started again
	run par -j 1 -k --mode line -- sh -c 'while read l; do [ "$l" = x ] && exit 3; echo "ok $l"; done' ::: a x b
	assert_eq "$RC" 1 "one failed task"
	assert_eq "$OUT" $'ok a\nok b' "answers around the failure"
	no_pool_left
}

t_par_missing_command() {
	par_only
	local r=$TDIR/r.jsonl
	run par --results "$r" -- no-such-command {} ::: a b c
	assert_eq "$RC" 3 "every task fails"
	assert_contains "$ERR" "no-such-command: command not found" "message"
	assert_eq "$(jq -r .exit "$r" | sort -u)" 127 "exit status of each task"
	no_pool_left
	assert_fail_with "its command was not found in the container" \
		par --mode line -- no-such-command ::: a b
	no_pool_left
	assert_fail_with "no-such-command" par --mode lib -- no-such-command ::: a b
	no_pool_left
}

t_par_bad_options() {
	par_only
	assert_fail_with "-j 0: the number of workers must be at least 1" par -j 0 -- echo ::: a
	assert_fail_with "--cpus 4000: CPU 4000 is not in the allowed set " \
		par --cpus 4000 -- echo ::: a
	assert_fail_with "--cpus x: not a CPU list" par --cpus x -- echo ::: a
	assert_fail_with "--image nosuch: image nosuch: not found in $TDIR/store" \
		rt par --store "$TDIR/store" --image nosuch --quiet -- echo ::: a
	assert_fail_with "--timeout is not supported in lib mode" \
		par --mode lib --timeout 1 -- /bin/true ::: a
	assert_fail_with "a command is required" par ::: a
	assert_fail_with "root filesystem" rt par --rootfs "$TDIR/none" --quiet -- echo ::: a
	assert_fail_with "-v nocolon" par -v nocolon -- echo ::: a
	no_pool_left
}

t_par_timeout_and_halt() {
	par_only
	local j=$TDIR/joblog
	run par --timeout 0.5 --joblog "$j" -- sleep ::: 0.1 30
	assert_eq "$RC" 1 "the task that timed out failed"
	assert_eq "$(awk -F'\t' '$9 == "sleep 30" { print $7, $8 }' "$j")" "-1 15" \
		"joblog: killed by SIGTERM"
	local start=$SECONDS
	run par -j 1 --halt now,fail=1 -- sh -c 'exit $1' sh ::: 0 4 0 0
	assert_eq "$RC" 4 "--halt now: the status of the failing task"
	[ $((SECONDS - start)) -lt 10 ] || fail "halt took $((SECONDS - start)) s"
	no_pool_left
}

# A worker killed from outside: its task goes back to the queue and runs
# on the restarted worker (--retries 2 allows a second delivery).
t_par_worker_restart() {
	par_only
	local pool n r=$TDIR/r.jsonl
	par -j 1 -k --retries 2 --results "$r" -- sh -c 'sleep 1; echo done $1' sh ::: 1 2 \
		>"$TDIR/out" 2>"$TDIR/err" &
	for n in $(seq 100); do
		pool=$(ls "$ROOT" 2>/dev/null | head -n 1)
		[ -n "$pool" ] && [ "$(rt --root "$ROOT/$pool" state w0 2>/dev/null | jq -r .status)" = running ] && break
		sleep 0.05
	done
	sleep 0.3
	assert_ok rt --root "$ROOT/$pool" kill w0 KILL
	wait $!
	assert_eq "$?" 0 "par after the worker was killed: $(tail -n 1 "$TDIR/err")"
	assert_eq "$(cat "$TDIR/out")" $'done 1\ndone 2' "every task done once"
	assert_eq "$(jq -r .attempts "$r" | head -n 1)" 2 "the first task was delivered twice"
	no_pool_left
}

# ^C: berth starts nothing new, lets the running tasks finish, cleans up.
t_par_interrupt() {
	par_only
	local n
	par -j 1 -- sh -c 'sleep 1; echo done $1' sh ::: 1 2 3 4 5 6 \
		>"$TDIR/out" 2>"$TDIR/err" &
	local pid=$!
	for n in $(seq 100); do
		[ -n "$(ls "$ROOT" 2>/dev/null)" ] && break
		sleep 0.05
	done
	sleep 0.5
	# the background shell ignores SIGINT: send it to berth itself
	kill -INT "$(pgrep -P $pid -x berth)"
	wait $pid
	assert_eq "$?" 130 "exit status after SIGINT"
	assert_contains "$(head -n 1 "$TDIR/out")" "done 1" "the running task finished"
	[ "$(wc -l <"$TDIR/out")" -lt 6 ] || fail "every task ran after ^C"
	no_pool_left
}

# lib mode: the command links libberthworker; the payload is the argument,
# the result its output.
t_par_lib_mode() {
	par_only
	command -v cc >/dev/null || skip "no C compiler"
	local src=$IT_LIB_DIR/../..
	mkdir -p "$TDIR/lib"
	cat >"$TDIR/lib/sq.c" <<-'EOF'
	#include <sched.h>
	#include <stdio.h>
	#include <stdlib.h>
	#include <string.h>
	#include "dist/berth-worker.h"
	int main(void)
	{
		char err[256], in[32], out[32];
		struct bw *w;
		const struct bw_task *t;
		if (bw_open(&w, err, sizeof(err)) < 0)
			return fprintf(stderr, "sq: %s\n", err), 1;
		while ((t = bw_next(w))) {
			snprintf(in, sizeof(in), "%.*s", (int)t->len, (const char *)t->data);
			long v = atol(in);
			int n = snprintf(out, sizeof(out), "%ld\n", v * v);
			if (!strcmp(in, "policy"))
				n = snprintf(out, sizeof(out), "%d\n", sched_getscheduler(0));
			bw_done(w, t, v == 5, out, (size_t)n);
		}
		bw_close(w);
		return 0;
	}
	EOF
	cc -std=gnu11 -D_GNU_SOURCE -O2 -static -I"$src" -o "$TDIR/lib/sq" \
		"$TDIR/lib/sq.c" "$src/dist/worker/bw-client.c" 2>"$TDIR/cc.err" ||
		skip "cannot build a static worker: $(last_line "$(cat "$TDIR/cc.err")")"
	run par --mode lib -k -v "$TDIR/lib:/mnt:ro" -- /mnt/sq ::: 1 2 3 5
	assert_eq "$RC" 1 "the task reported status 1"
	assert_eq "$OUT" $'1\n4\n9\n25' "lib mode results"
	assert_ok par --mode lib -v "$TDIR/lib:/mnt:ro" --range 6:20005 -- /mnt/sq
	assert_eq "$(wc -l <<<"$OUT")" 20000 "20000 results"
	# lib-mode workers run as SCHED_BATCH (3), so as not to preempt the
	# coordinator on the CPUs they share
	assert_ok par --mode lib -v "$TDIR/lib:/mnt:ro" -- /mnt/sq ::: policy
	assert_eq "$OUT" 3 "a lib-mode worker's scheduling policy"
	no_pool_left
}

# SIGKILL of berth: the workers' helpers kill and remove their containers,
# the last one the pool's cgroup and state root.
t_par_sigkill_cleans_up() {
	par_only
	local pid n
	par -j 2 -- sleep ::: 30 30 >"$TDIR/out" 2>"$TDIR/err" &
	pid=$!
	for n in $(seq 100); do
		[ -n "$(ls "$ROOT" 2>/dev/null)" ] &&
			[ "$(rt --root "$ROOT/$(ls "$ROOT")" list -q 2>/dev/null | wc -l)" = 2 ] && break
		sleep 0.05
	done
	kill -KILL "$(pgrep -P $pid -x berth)"
	wait $pid
	for n in $(seq 100); do
		[ -z "$(ls -A "$ROOT")" ] && break
		sleep 0.05
	done
	no_pool_left
	assert_eq "$(grep -lsF "BERTH_IT=$IT_TOKEN" /proc/[0-9]*/environ | wc -l)" 0 \
		"processes of the pool left"
}

t_par_limits_env_network_bundle() {
	par_only
	export PAR_FROM_HOST=hostval
	assert_ok par -k --memory 64m --pids-limit 33 -e PAR_FROM_HOST -e X=1 -- sh -c \
		'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; echo $PAR_FROM_HOST $X; grep -c : /proc/net/dev' ::: 1
	assert_eq "$OUT" $'67108864\n33\nhostval 1\n1' "limits, env, only lo in the network"
	assert_ok par --network host -- sh -c 'grep -c : /proc/net/dev' ::: 1
	assert_eq "$OUT" "$(grep -c : /proc/net/dev)" "--network host"
	local b=$TDIR/bundle
	mkdir -p "$b"
	jq -n --arg root "$ROOTFS" '{ociVersion: "1.0.2", root: {path: $root},
		process: {cwd: "/tmp", user: {uid: 1000, gid: 1000}, args: ["sh"],
			env: ["PATH=/bin", "FROM_BUNDLE=yes"]}}' >"$b/config.json"
	assert_ok rt par --bundle "$b" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" --quiet -- sh -c 'echo $FROM_BUNDLE $(pwd) $(id -u)' ::: 1
	assert_eq "$OUT" "yes /tmp 1000" "--bundle: env, cwd and user"
	no_pool_left
}

# --image: the workers share one read-only view of the image's layers and
# take its env, cwd and user; nothing of it stays after the run.
# ipar ARGS...: par() without the shared --rootfs.
ipar() {
	rt par --cgroup-parent "berth-test-$IT_TOKEN" -e "BERTH_IT=$IT_TOKEN" --quiet "$@"
}

t_par_image() {
	par_only
	jq -nc --arg root "$ROOTFS" '{tags: ["work:1"], config: {Env: ["FROM_IMAGE=yes"],
		WorkingDir: "/etc", User: "user"}, layers: [{dir: $root},
		{entries: [{path: "etc/task", data: "layer two"}]}]}' |
		python3 "$IT_LIB_DIR/mkimage.py" docker "$TDIR/work.tar" || fail "mkimage.py failed"
	assert_ok ipar --store "$TDIR/store" --image "$TDIR/work.tar" -j 2 -k -- \
		sh -c 'echo {} $FROM_IMAGE $(pwd) $(id -un) $(cat /etc/task)' ::: a b
	assert_eq "$OUT" $'a yes /etc user layer two\nb yes /etc user layer two' \
		"the image's env, cwd, user and layers"
	assert_ok ipar --store "$TDIR/store" --image work:1 -- sh -c 'touch /x 2>&1 || echo ro' ::: 1
	assert_contains "$OUT" "ro" "the image is read-only in the workers"
	# -v onto a directory the image lacks: made, as launch makes it
	mkdir -p "$TDIR/vol" && echo shared >"$TDIR/vol/f"
	assert_ok ipar --store "$TDIR/store" --image work:1 -j 2 -k -v "$TDIR/vol:/app" -- \
		sh -c 'cat /app/f; touch /x 2>/dev/null || echo ro' ::: 1 2
	assert_eq "$OUT" $'shared\nro\nshared\nro' "a volume on a new mount point; the root stays read-only"
	assert_eq "$(ls -A "$TDIR/store/containers")" "" "the image's view is removed"
	assert_eq "$(grep -c "$TDIR/store" /proc/self/mountinfo)" 0 "no mount left"
	assert_fail_with "--image nosuch:1" ipar --store "$TDIR/store" --image nosuch:1 -- true ::: 1
	assert_fail_with "one of --image IMAGE, --bundle DIR or --rootfs DIR" \
		rt par --image work:1 --rootfs "$ROOTFS" -- true ::: 1
	no_pool_left
}

# kill_after_journal PID JOBLOG N: SIGKILL of berth (PID) once JOBLOG has
# N tasks (10 s at most), then until its pool's state is gone.
kill_after_journal() {
	local n
	for n in $(seq 200); do
		[ "$(grep -c '^[0-9]' "$2" 2>/dev/null)" -ge "$3" ] && break
		sleep 0.05
	done
	kill -KILL "$1"
	wait "$1"
	for n in $(seq 100); do
		[ -z "$(ls -A "$ROOT")" ] && break
		sleep 0.05
	done
}

# --resume after berth was SIGKILLed: the second run does only what the
# joblog does not have; between the two runs every task ran and each is
# in the joblog once.
t_par_resume_after_sigkill() {
	par_only
	local pid n
	# not through par(): $! must be berth itself
	"$BERTH" --root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" --quiet -j 2 --joblog "$TDIR/log" \
		-- sh -c 'echo {}; sleep 0.2' ::: $(seq 20) >"$TDIR/out1" 2>"$TDIR/err1" &
	pid=$!
	kill_after_journal "$pid" "$TDIR/log" 4
	local first
	first=$(grep -c '^[0-9]' "$TDIR/log")
	[ "$first" -ge 4 ] && [ "$first" -lt 20 ] || fail "the first run journaled $first of 20"
	assert_ok par -j 2 --joblog "$TDIR/log" --resume -- sh -c 'echo {}; sleep 0.2' ::: $(seq 20)
	printf '%s\n' "$OUT" >"$TDIR/out2"
	assert_eq "$(grep -c '^[0-9]' <<<"$OUT")" "$((20 - first))" "the resumed run ran only the rest"
	assert_eq "$(cat "$TDIR/out1" "$TDIR/out2" | sort -nu | tr '\n' ' ')" "$(seq 20 | tr '\n' ' ')" \
		"every task ran"
	assert_eq "$(grep '^[0-9]' "$TDIR/log" | cut -f1 | sort -n | tr '\n' ' ')" "$(seq 20 | tr '\n' ' ')" \
		"each task is in the joblog once"
	assert_eq "$(grep -c '^Seq' "$TDIR/log")" 1 "one header"
	assert_ok par -j 2 --joblog "$TDIR/log" --resume -- sh -c 'echo {}' ::: $(seq 20)
	assert_eq "$OUT" "" "nothing left to do"
	assert_fail_with "--resume needs --joblog FILE" par --resume -- true ::: 1
	no_pool_left
}

# Workers run under berth's defaults: few capabilities, no_new_privs, the
# default seccomp profile (compiled once a pool), masked /proc paths.
t_par_security_defaults() {
	par_only
	assert_ok par -- sh -c 'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status;
		wc -c </proc/timer_list; sed "s/.*) //" /proc/self/stat | cut -d" " -f39;
		mkdir -p /tmp/m; mount -t tmpfs x /tmp/m 2>&1 || true' ::: 1
	# the policy (field 41 of stat): the default for exec and line mode
	assert_eq "$(sed -n 1,5p <<<"$OUT" | tr '\t\n' ' |')" \
		"CapEff: 0000000020000420|NoNewPrivs: 1|Seccomp: 2|0|0|" \
		"capabilities, nnp, seccomp, masked paths, scheduling policy"
	assert_contains "$OUT" "denied" "no mount in a worker"
	no_pool_left
}

# On a terminal: a progress bar with done/total, rate, ETA, failures and a
# letter a worker; without one, plain status lines (tested elsewhere).
t_par_progress_on_a_terminal() {
	par_only
	command -v script >/dev/null || skip "script(1) is not installed"
	run script -qec "$BERTH --root $ROOT par --rootfs $ROOTFS --cgroup-parent berth-test-$IT_TOKEN \
		-e BERTH_IT=$IT_TOKEN -j 2 -- sh -c 'sleep 0.2' ::: 1 2 3 4 5 6 7 8" /dev/null
	assert_eq "$RC" 0 "par on a terminal"
	assert_match "$OUT" '\[#*\.*\] [0-9]+/8, [0-9.]+/s(, ETA [0-9]+:[0-9]+)?, 0 failed  \[[o.x]{2}\]' \
		"the progress bar"
	assert_contains "$OUT" "berth: par: 8 tasks, 0 failed" "the summary"
	no_pool_left
}

# par_bounded SECS ARGS...: par in the background, its stdout and stderr in
# $TDIR/out and $TDIR/err, its exit status in $RC; fails when it still runs
# after SECS seconds (and then stops it).
par_bounded() {
	local secs=$1 n pid
	shift
	par "$@" >"$TDIR/out" 2>"$TDIR/err" &
	pid=$!
	for n in $(seq $((secs * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$(pgrep -P "$pid" -x berth)" 2>/dev/null
		sleep 3
		kill -KILL "$(pgrep -P "$pid" -x berth)" 2>/dev/null
		wait "$pid"
		fail "berth par still ran after ${secs}s: $(tail -n 3 "$TDIR/err")"
	fi
	wait "$pid"
	RC=$?
}

# Every task notes each run of it in $TDIR/runs/log (a volume on /mnt): each
# task number once there means that no task ran twice.
runs_once() {
	assert_eq "$(sort -n "$TDIR/runs/log")" "$(seq "$1")" "$2"
}

# The worker's own region is the agent's fd 4 and a task may open
# /proc/1/fd/4: task 3 writes garbage over its worker's published result
# count (struct bq_worker.res_tail, byte 72). berth par names that worker,
# kills and restarts it, fails task 3 with the reason; no other task
# fails, and none runs twice (a task waiting behind task 3 in that
# worker's ring runs elsewhere, once; a task that worker finished before
# keeps its result, still sound in the ring, even when the collector had
# not read it yet).
t_par_task_scribbles_its_result_ring() {
	par_only
	local scr
	mkdir "$TDIR/runs"
	scr='echo "$1" >>/mnt/log
	if [ "$1" = 3 ]; then
		printf "\377\377\377\377\377\377\377\177" | dd of=/proc/1/fd/4 \
			bs=1 seek=72 conv=notrunc 2>/dev/null
		sleep 2
	fi
	echo "done $1"'
	par_bounded 25 -j 2 -v "$TDIR/runs:/mnt" -- sh -c "$scr" sh ::: 1 2 3 4 5 6 7 8
	assert_eq "$RC" 1 "exit status (one task failed): $(cat "$TDIR/err")"
	assert_eq "$(sort "$TDIR/out")" "$(printf 'done %s\n' 1 2 4 5 6 7 8)" \
		"every other task once"
	assert_match "$(cat "$TDIR/err")" \
		"task 3 failed: its worker w[01] wrote garbage over its own queue region and was killed" \
		"task 3's error"
	assert_eq "$(grep -c 'par: task .* failed' "$TDIR/err")" 1 "no other task failed: $(cat "$TDIR/err")"
	assert_match "$(cat "$TDIR/err")" \
		"worker w[01] wrote garbage over its own queue region \(result count out of its ring\) and was killed" \
		"the warning naming the worker"
	runs_once 8 "no task ran twice"
	no_pool_left
}

# Task 1 tries to write the queue's memfd (fd 3): the kernel refuses
# (sealed read-only), whether reopened for writing or not. It then zeroes
# its own worker's region (fd 4), its own business: every other task runs
# once and succeeds. Task 1 is the first its worker takes: a task that
# worker had finished before would lose its result with the zeroed ring
# and, by the zeroed position, not taken, run again (its own business
# too, but not what this test counts). It acts once, should it run again.
t_par_task_zeroes_the_queue() {
	par_only
	local scr
	mkdir "$TDIR/runs"
	scr='echo "$1" >>/mnt/log
	if [ "$1" = 1 ] && mkdir /mnt/acted 2>/dev/null; then
		size=$(stat -L -c %s /proc/1/fd/3)
		if dd if=/dev/zero of=/proc/1/fd/3 bs=4096 count=$((size / 4096)) \
			conv=notrunc 2>/dev/null; then echo "queue written"; fi
		if printf x >>/proc/1/fd/3 2>/dev/null; then echo "queue appended"; fi
		size=$(stat -L -c %s /proc/1/fd/4)
		dd if=/dev/zero of=/proc/1/fd/4 bs=4096 count=$((size / 4096)) \
			conv=notrunc 2>/dev/null || echo "own region refused"
	fi
	sleep 0.2
	echo "done $1"'
	par_bounded 25 -j 2 -v "$TDIR/runs:/mnt" -- sh -c "$scr" sh ::: 1 2 3 4 5 6 7 8 9 10
	assert_not_contains "$(cat "$TDIR/out")" "written" "the queue is read-only"
	assert_not_contains "$(cat "$TDIR/out")" "appended" "the queue is read-only"
	assert_not_contains "$(cat "$TDIR/out")" "refused" "its own region is its own"
	assert_eq "$(grep '^done' "$TDIR/out" | grep -v '^done 1$' | sort -V)" \
		"$(printf 'done %s\n' 2 3 4 5 6 7 8 9 10)" "every other task once"
	if [ "$RC" != 0 ]; then
		# zeroed positions may or may not be past what the coordinator
		# can believe: if they are, task 1 (and only it) fails
		assert_eq "$(grep -c 'par: task .* failed' "$TDIR/err")" 1 "only task 1 fails: $(cat "$TDIR/err")"
		assert_contains "$(cat "$TDIR/err")" "task 1 failed: its worker" "task 1's error"
	fi
	# task 1 may have run twice (its own region said it had not taken
	# it); no other task did
	assert_eq "$(grep -v '^1$' "$TDIR/runs/log" | sort -n)" \
		"$(printf '%s\n' 2 3 4 5 6 7 8 9 10)" "no other task ran twice"
	no_pool_left
}

# Each worker holds the task memfd and one worker region, its own: no
# worker (nor a task) can reach another worker's.
t_par_worker_gets_only_its_own_region() {
	par_only
	run par -j 2 -- sh -c 'sleep 0.3; echo "{%} $(ls -l /proc/1/fd | grep -c memfd:berth-worker) $(stat -L -c %i /proc/1/fd/4)"' ::: 1 2 3 4
	assert_eq "$RC" 0 "exit status: $ERR"
	assert_eq "$(awk '{print $2}' <<<"$OUT" | sort -u)" 1 "one worker region a worker"
	assert_eq "$(sort -u <<<"$OUT" | awk '{print $1}' | sort -u | wc -l)" 2 "both workers ran tasks: $OUT"
	assert_eq "$(sort -u <<<"$OUT" | wc -l)" 2 "one region for each worker: $OUT"
	assert_eq "$(awk '{print $3}' <<<"$OUT" | sort -u | wc -l)" 2 "each worker its own region: $OUT"
	no_pool_left
}

# SIGTERM while a task scribbles over its worker's own region (and tries
# the queue's) for 6 s: the run ends soon after that task does (GNU
# parallel's first SIGTERM waits for the running tasks), not never.
t_par_sigterm_with_a_vandal() {
	par_only
	local scr pid n
	scr='if [ "$1" = 1 ]; then
		end=$(($(date +%s) + 6))
		while [ "$(date +%s)" -lt "$end" ]; do
			dd if=/dev/urandom of=/proc/1/fd/4 bs=4096 count=64 \
				conv=notrunc 2>/dev/null
			dd if=/dev/urandom of=/proc/1/fd/3 bs=4096 seek=1 count=64 \
				conv=notrunc 2>/dev/null
		done
	fi
	sleep 0.5; echo "done $1"'
	par -j 2 -- sh -c "$scr" sh ::: $(seq 20) >"$TDIR/out" 2>"$TDIR/err" &
	pid=$!
	sleep 3
	kill -TERM "$(pgrep -P "$pid" -x berth)"
	for n in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$(pgrep -P "$pid" -x berth)"
		wait "$pid"
		fail "berth par still ran 15 s after SIGTERM: $(tail -n 3 "$TDIR/err")"
	fi
	wait "$pid"
	no_pool_left
}

# ---- --shard and par merge ----------------------------------------------

# same_as_one_run ONE MERGED: the joblogs (less their Starttime and
# JobRuntime columns) and the results (less worker, slot, cpu, start and
# time_ms, which say where and when) of one run and of the merge are the
# same, line for line.
same_as_one_run() {
	assert_eq "$(cut -f1,2,5- "$2.log")" "$(cut -f1,2,5- "$1.log")" "merged joblog"
	assert_eq "$(jq -c 'del(.worker, .slot, .cpu, .start, .time_ms)' "$2.jsonl")" \
		"$(jq -c 'del(.worker, .slot, .cpu, .start, .time_ms)' "$1.jsonl")" "merged results"
	assert_eq "$(wc -l <"$2.log") $(wc -l <"$2.jsonl")" "$(wc -l <"$1.log") $(wc -l <"$1.jsonl")" \
		"lines of the merged files"
}

# N shards run one after the other on this node, then merged: the files
# one run with -k writes, for each input form; the shards' exit statuses
# add up to the run's; bad --shard values start nothing.
t_par_shard_merge_equals_one_run() {
	par_only
	local i rc sum=0 scr
	unset SLURM_PROCID SLURM_NTASKS SLURM_STEP_ID JOB_COMPLETION_INDEX
	seq 20 | sed 's/^/file-/' >"$TDIR/args"
	scr='echo "out {#} $1"; echo "err $1" >&2; case $1 in *7) exit 3;; esac'
	run par -k --joblog "$TDIR/one.log" --results "$TDIR/one.jsonl" -a "$TDIR/args" -- \
		sh -c "$scr" sh {}
	assert_eq "$RC" 2 "one run: two tasks fail ($(last_line "$ERR"))"
	printf '%s\n' "$OUT" >"$TDIR/one.out"
	for i in 0 1 2; do
		run par --shard $i/3 --joblog "$TDIR/m.log" --results "$TDIR/m.jsonl" \
			-a "$TDIR/args" -- sh -c "$scr" sh {}
		sum=$((sum + RC))
		printf '%s\n' "$OUT" >>"$TDIR/shards.out"
		[ -s "$TDIR/m.log.shard-$i-of-3" ] || fail "no m.log.shard-$i-of-3"
	done
	assert_eq "$sum" 2 "the shards' exit statuses add up to the run's"
	assert_eq "$(sort -k2n "$TDIR/shards.out")" "$(cat "$TDIR/one.out")" "the shards' output"
	assert_eq "$(cut -f1 "$TDIR/m.log.shard-1-of-3" | tail -n +2 | sort -n | tr '\n' ' ')" \
		"2 5 8 11 14 17 20 " "shard 1 ran seq 2, 5, 8, ... with their global numbers"
	assert_ok rt par merge --joblog "$TDIR/m.log" --results "$TDIR/m.jsonl" --shards 3 --tasks 20
	assert_contains "$ERR" "berth: par merge: 20 tasks from 3 shards" "merge's summary"
	same_as_one_run "$TDIR/one" "$TDIR/m"
	cmp "$TDIR/one.log" "$TDIR/m.log" >/dev/null && fail "the joblogs' times cannot be the same"

	# line mode, --range, four shards, N found from the file names
	run par -k --mode line --joblog "$TDIR/r1.log" --results "$TDIR/r1.jsonl" --range 1:999 -- cat
	assert_eq "$RC" 0 "one run of --range: $(last_line "$ERR")"
	for i in 3 1 0 2; do
		assert_ok par --shard $i/4 --mode line --joblog "$TDIR/r4.log" --results "$TDIR/r4.jsonl" \
			--range 1:999 -- cat
	done
	assert_ok rt par merge --joblog "$TDIR/r4.log" --results "$TDIR/r4.jsonl"
	same_as_one_run "$TDIR/r1" "$TDIR/r4"
	assert_eq "$(wc -l <"$TDIR/r4.jsonl")" 999 "999 results"

	# the merge refuses a division with a shard missing, and writes nothing
	rm "$TDIR/r4.log.shard-2-of-4" "$TDIR/r4.log"
	assert_fail_with "r4.log.shard-2-of-4 is missing: shard 2/4 did not run" \
		rt par merge --joblog "$TDIR/r4.log" --shards 4
	[ -e "$TDIR/r4.log" ] && fail "merge wrote a joblog with a shard missing"

	for i in "3/3:I must be below N" "1/0:N, the number of shards, must be 1" "x:expected I/N" \
		"auto:neither a Slurm job step" "auto/2:neither a Slurm job step"; do
		assert_fail_with "--shard ${i%%:*}: ${i#*:}" par --shard "${i%%:*}" -- echo ::: a
	done
	JOB_COMPLETION_INDEX=1 run par --shard auto -- echo ::: a
	assert_contains "$(last_line "$ERR")" "gives the index but not the number of shards" "auto in a pod"
	run env SLURM_JOB_ID=1 SLURM_PROCID=0 SLURM_NTASKS=3 "$BERTH" --root "$ROOT" par \
		--rootfs "$ROOTFS" --shard auto -- echo ::: a
	assert_contains "$(last_line "$ERR")" "this is a Slurm batch script, not a job step" "auto in sbatch"
	# auto in a job step, or a pod with N: shard 1 of 2
	run env SLURM_STEP_ID=0 SLURM_PROCID=1 SLURM_NTASKS=2 "$BERTH" --root "$ROOT" par \
		--rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" -e "BERTH_IT=$IT_TOKEN" \
		--quiet -k --shard auto -- echo ::: a b c d
	assert_eq "$OUT" $'b\nd' "--shard auto in a job step"
	JOB_COMPLETION_INDEX=0 run par -k --shard auto/2 -- echo ::: a b c d
	assert_eq "$OUT" $'a\nc' "--shard auto/2 in a pod"
	no_pool_left
}

# Shard 1 of 3 is SIGKILLed mid-run, then run again with --resume: it runs
# only what its joblog lacks, and the merge of the three is every task
# once. Every run of a task is noted in $TDIR/runs/log: a task journaled
# before the kill did not run again; only those in flight at the kill
# may have run twice.
t_par_shard_resume_after_kill() {
	par_only
	local pid n scr journaled
	mkdir "$TDIR/runs"
	scr='echo {} >>/mnt/log; sleep 0.1; echo "done {}"'
	"$BERTH" --root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" --quiet -j 2 -v "$TDIR/runs:/mnt" --shard 1/3 \
		--joblog "$TDIR/k.log" --results "$TDIR/k.jsonl" -- sh -c "$scr" ::: $(seq 60) \
		>"$TDIR/out1" 2>"$TDIR/err1" &
	pid=$!
	kill_after_journal "$pid" "$TDIR/k.log.shard-1-of-3" 4
	journaled=$(grep '^[0-9]' "$TDIR/k.log.shard-1-of-3" | cut -f1 | sort -n)
	n=$(wc -l <<<"$journaled")
	[ "$n" -ge 4 ] && [ "$n" -lt 20 ] || fail "the killed shard journaled $n of its 20 tasks"
	for i in 0 2; do
		assert_ok par -j 2 -v "$TDIR/runs:/mnt" --shard $i/3 --joblog "$TDIR/k.log" \
			--results "$TDIR/k.jsonl" -- sh -c "$scr" ::: $(seq 60)
	done
	assert_fail_with "$((20 - n)) of 60 tasks are in no shard's file: seq " \
		rt par merge --joblog "$TDIR/k.log" --shards 3 --tasks 60
	assert_contains "$ERR" "(shard 1/3)" "the merge names the shard to run again"
	assert_ok par -j 2 -v "$TDIR/runs:/mnt" --shard 1/3 --resume --joblog "$TDIR/k.log" \
		--results "$TDIR/k.jsonl" -- sh -c "$scr" ::: $(seq 60)
	assert_eq "$(grep -c '^done' <<<"$OUT")" "$((20 - n))" "the resumed shard ran only the rest"
	assert_eq "$(grep '^done' <<<"$OUT" | cut -d' ' -f2 | grep -Fxf <(echo "$journaled"))" "" \
		"the resumed shard ran a task its joblog has"
	assert_ok rt par merge --joblog "$TDIR/k.log" --results "$TDIR/k.jsonl" --shards 3 --tasks 60
	assert_eq "$(tail -n +2 "$TDIR/k.log" | cut -f1 | tr '\n' ' ')" "$(seq 60 | tr '\n' ' ')" \
		"the merged joblog: every task once, in order"
	assert_eq "$(jq -r .seq "$TDIR/k.jsonl" | tr '\n' ' ')" "$(seq 60 | tr '\n' ' ')" \
		"the merged results: every task once, in order"
	assert_eq "$(jq -r .output "$TDIR/k.jsonl" | grep -c '^done')" 60 "every result is the task's"
	# runs: each task once, but those in flight at the kill (journaled
	# ones never twice)
	assert_eq "$(sort -n "$TDIR/runs/log" | uniq -d | grep -Fxf <(echo "$journaled"))" "" \
		"a journaled task ran again"
	assert_eq "$(sort -nu "$TDIR/runs/log" | tr '\n' ' ')" "$(seq 60 | tr '\n' ' ')" "every task ran"
	assert_eq "$(sort -n "$TDIR/runs/log" | uniq -d | awk '($1 - 1) % 3 != 1')" "" \
		"a task of another shard ran twice"
	no_pool_left
}

# ---- --claims ----------------------------------------------------------

# claims_check FILE TASKS: FILE's chunks are 1..TASKS, each where the one
# before ends; prints each shard's tasks, "I:COUNT" a line.
claims_check() {
	local out
	out=$(awk -v t="$2" 'NR == 1 { next }
		$1 != at { print "a chunk at " $1 ", expected " at; bad = 1; exit 1 }
		{ at = $1 + $2; n[$3] += $2 }
		END { if (bad) exit 1
			if (at != t + 1) { print "the chunks end at " at - 1; exit 1 }
			for (s in n) print s ":" n[s] }' at=1 "$1") || { echo "$out"; return 1; }
	sort <<<"$out"
}

# Three shards with --claims at once on this node, shard 1's tasks 25
# times slower: it takes fewer tasks, the others the rest. Every seq is
# in one chunk of the claims file, each shard prints its own in order
# with -k, and the merge with the claims file is the files of one run.
t_par_claims_uneven_shards() {
	par_only
	local i scr sum=0 pids=() counts fast slow
	scr='sleep $SLOW; echo "out {#} $1"; case $1 in *7) exit 3;; esac'
	run par -k -j 2 -e SLOW=0 --joblog "$TDIR/one.log" --results "$TDIR/one.jsonl" \
		--range 1:120 -- sh -c "$scr" sh {}
	assert_eq "$RC" 12 "one run: 12 tasks fail ($(last_line "$ERR"))"
	printf '%s\n' "$OUT" >"$TDIR/one.out"
	for i in 0 1 2; do
		"$BERTH" --root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
			-e "BERTH_IT=$IT_TOKEN" -k -j 2 -e "SLOW=$([ $i = 1 ] && echo 0.5 || echo 0.02)" \
			--shard $i/3 --claims "$TDIR/claims" --joblog "$TDIR/m.log" --results "$TDIR/m.jsonl" \
			--range 1:120 -- sh -c "$scr" sh {} >"$TDIR/out$i" 2>"$TDIR/err$i" &
		pids+=($!)
	done
	for i in 0 1 2; do
		wait "${pids[$i]}"
		sum=$((sum + $?))
	done
	assert_eq "$sum" 12 "the shards' exit statuses add up to the run's: $(tail -n 2 "$TDIR"/err*)"
	counts=$(claims_check "$TDIR/claims" 120) || fail "the claims file: $counts"
	fast=$(grep -E '^(0|2):' <<<"$counts" | cut -d: -f2 | sort -n | head -n 1)
	slow=$(grep '^1:' <<<"$counts" | cut -d: -f2)
	[ -n "$slow" ] && [ "$slow" -ge 1 ] && [ $((2 * slow)) -lt "${fast:-0}" ] ||
		fail "the slow shard took $slow tasks, a fast one $fast: $(echo $counts)"
	for i in 0 1 2; do
		assert_contains "$(cat "$TDIR/err$i")" \
			"shard $i/3: $(grep "^$i:" <<<"$counts" | cut -d: -f2) of the input's 120 tasks, in " \
			"shard $i's summary"
		assert_eq "$(grep -c . "$TDIR/out$i")" "$(grep "^$i:" <<<"$counts" | cut -d: -f2)" \
			"shard $i's output lines"
		assert_eq "$(cut -d' ' -f2 "$TDIR/out$i")" "$(cut -d' ' -f2 "$TDIR/out$i" | sort -n)" \
			"shard $i's -k output in order"
	done
	assert_eq "$(cat "$TDIR"/out[012] | sort -k2n)" "$(cat "$TDIR/one.out")" "the shards' output"
	assert_fail_with "a run with --claims needs merge --claims FILE" \
		rt par merge --joblog "$TDIR/m.log" --shards 3
	assert_ok rt par merge --joblog "$TDIR/m.log" --results "$TDIR/m.jsonl" --claims "$TDIR/claims"
	assert_contains "$ERR" "berth: par merge: 120 tasks from 3 shards" "merge's summary"
	same_as_one_run "$TDIR/one" "$TDIR/m"
	echo "tasks a shard: $(echo $counts)"
	no_pool_left
}

# The same in line mode, where tasks go to the workers in chunks of the
# queue: a chunk must not claim more of the file than the pool has room
# for, or the slow shard would hold tasks the others could run.
t_par_claims_uneven_shards_line_mode() {
	par_only
	local i pids=() counts fast slow
	for i in 0 1 2; do
		"$BERTH" --root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
			-e "BERTH_IT=$IT_TOKEN" -j 2 --mode line \
			-e "SLOW=$([ $i = 1 ] && echo 0.5 || echo 0.02)" \
			--shard $i/3 --claims "$TDIR/claims" --range 1:120 \
			-- sh -c 'while read -r x; do sleep $SLOW; echo "out $x"; done' \
			>"$TDIR/out$i" 2>"$TDIR/err$i" &
		pids+=($!)
	done
	for i in 0 1 2; do
		wait "${pids[$i]}" || fail "shard $i: $(tail -n 1 "$TDIR/err$i")"
	done
	counts=$(claims_check "$TDIR/claims" 120) || fail "the claims file: $counts"
	fast=$(grep -E '^(0|2):' <<<"$counts" | cut -d: -f2 | sort -n | head -n 1)
	slow=$(grep '^1:' <<<"$counts" | cut -d: -f2)
	[ -n "$slow" ] && [ "$slow" -ge 1 ] && [ $((2 * slow)) -lt "${fast:-0}" ] ||
		fail "the slow shard took $slow tasks, a fast one $fast: $(echo $counts)"
	assert_eq "$(cat "$TDIR"/out[012] | cut -d' ' -f2 | sort -n | tr '\n' ' ')" \
		"$(seq 120 | tr '\n' ' ')" "every task's output, once"
	echo "tasks a shard: $(echo $counts)"
	no_pool_left
}

# Shard 1 of 3 is SIGKILLed mid-run while the others go on and claim
# what is left; then the three run again with --resume (the same sbatch
# script, submitted again): shard 1 runs what its chunks have and its
# joblog lacks, the others nothing. No task is lost; none journaled ran
# again.
t_par_claims_resume_after_kill() {
	par_only
	local i pid pids=() scr journaled mine n
	mkdir "$TDIR/runs"
	scr='echo {} >>/mnt/log; sleep 0.1; echo "done {}"'
	for i in 0 1 2; do
		"$BERTH" --root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
			-e "BERTH_IT=$IT_TOKEN" --quiet -j 2 -v "$TDIR/runs:/mnt" --shard $i/3 \
			--claims "$TDIR/c" --joblog "$TDIR/k.log" --results "$TDIR/k.jsonl" \
			-- sh -c "$scr" ::: $(seq 90) >"$TDIR/out$i" 2>"$TDIR/err$i" &
		pids+=($!)
	done
	kill_after_journal "${pids[1]}" "$TDIR/k.log.shard-1-of-3" 4
	for i in 0 2; do
		wait "${pids[$i]}" || fail "shard $i: $(tail -n 1 "$TDIR/err$i")"
	done
	journaled=$(grep '^[0-9]' "$TDIR/k.log.shard-1-of-3" | cut -f1 | sort -n)
	mine=$(awk 'NR > 1 && $3 == 1 { for (s = $1; s < $1 + $2; s++) print s }' "$TDIR/c")
	n=$(($(wc -l <<<"$mine") - $(wc -l <<<"$journaled")))
	[ "$n" -ge 1 ] || fail "the killed shard left nothing undone: chunks $(echo $mine)"
	claims_check "$TDIR/c" 90 >/dev/null || fail "the claims file: $(claims_check "$TDIR/c" 90)"
	assert_fail_with "$n of 90 tasks are in no shard's file: seq " \
		rt par merge --joblog "$TDIR/k.log" --claims "$TDIR/c"
	assert_contains "$ERR" "(shard 1/3)" "the merge names the shard to run again"
	# without --resume, the file is an earlier run's: refused, nothing runs
	assert_fail_with "shard 1 has chunks there already" par -j 2 --shard 1/3 --claims "$TDIR/c" \
		--joblog "$TDIR/k.log" -- sh -c "$scr" ::: $(seq 90)
	pids=()
	for i in 0 1 2; do
		"$BERTH" --root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
			-e "BERTH_IT=$IT_TOKEN" --quiet -j 2 -v "$TDIR/runs:/mnt" --shard $i/3 --resume \
			--claims "$TDIR/c" --joblog "$TDIR/k.log" --results "$TDIR/k.jsonl" \
			-- sh -c "$scr" ::: $(seq 90) >"$TDIR/again$i" 2>"$TDIR/err$i" &
		pids+=($!)
	done
	for i in 0 1 2; do
		wait "${pids[$i]}" || fail "shard $i again: $(tail -n 1 "$TDIR/err$i")"
	done
	assert_eq "$(grep -c '^done' "$TDIR/again0" "$TDIR/again2" | cut -d: -f2 | tr '\n' ' ')" "0 0 " \
		"the shards that finished ran nothing again"
	assert_eq "$(grep -c '^done' "$TDIR/again1")" "$n" "the resumed shard ran only the rest"
	assert_eq "$(grep '^done' "$TDIR/again1" | cut -d' ' -f2 | grep -Fxf <(echo "$journaled"))" "" \
		"the resumed shard ran a task its joblog has"
	assert_ok rt par merge --joblog "$TDIR/k.log" --results "$TDIR/k.jsonl" --claims "$TDIR/c"
	assert_eq "$(tail -n +2 "$TDIR/k.log" | cut -f1 | tr '\n' ' ')" "$(seq 90 | tr '\n' ' ')" \
		"the merged joblog: every task once, in order"
	assert_eq "$(jq -r .output "$TDIR/k.jsonl" | grep -c '^done')" 90 "every result is the task's"
	assert_eq "$(sort -nu "$TDIR/runs/log" | tr '\n' ' ')" "$(seq 90 | tr '\n' ' ')" "every task ran"
	assert_eq "$(sort -n "$TDIR/runs/log" | uniq -d | grep -Fxf <(echo "$journaled"))" "" \
		"a journaled task ran again"
	assert_eq "$(sort -n "$TDIR/runs/log" | uniq -d | grep -vFxf <(echo "$mine"))" "" \
		"a task of another shard ran twice"
	no_pool_left
}

# A line that is no chunk appears in the claims file while a shard runs
# (another writer's): the shard claims no more and stops with the file and
# the line, its pool removed; once the line is gone, --resume finishes.
t_par_claims_bad_line_mid_run() {
	par_only
	local pid n
	"$BERTH" --root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" --quiet -j 1 --shard 0/2 --claims "$TDIR/c" --claim-size 2 \
		--joblog "$TDIR/j" -- sh -c 'sleep 0.2; echo "done {}"' ::: $(seq 12) \
		>"$TDIR/out" 2>"$TDIR/err" &
	pid=$!
	for n in $(seq 100); do
		[ "$(grep -c '^[0-9]' "$TDIR/j.shard-0-of-2" 2>/dev/null)" -ge 1 ] && break
		sleep 0.05
	done
	echo "13 1 1" >>"$TDIR/c"
	wait "$pid"
	assert_eq "$?" 1 "the shard's exit status ($(tail -n 1 "$TDIR/err"))"
	# its chunks of 2 before the bad line (the last)
	n=$(($(wc -l <"$TDIR/c") - 2))
	[ "$n" -ge 1 ] && [ "$n" -le 3 ] || fail "$n chunks before the bad line: $(cat "$TDIR/c")"
	assert_contains "$(tail -n 1 "$TDIR/err")" \
		"claims file $TDIR/c, line $((n + 2)): the chunk starts at seq 13, but the chunks before end at $((2 * n)) (\"13 1 1\")" \
		"the error"
	assert_eq "$(grep -c '^done' "$TDIR/out")" "$(grep -c '^[0-9]' "$TDIR/j.shard-0-of-2")" \
		"the tasks that ran were journaled"
	[ "$(grep -c '^done' "$TDIR/out")" -le $((2 * n)) ] || fail "tasks past its chunks ran: $(cat "$TDIR/out")"
	no_pool_left
	sed -i '$d' "$TDIR/c"
	assert_ok par -j 1 --shard 0/2 --claims "$TDIR/c" --claim-size 2 --resume --joblog "$TDIR/j" \
		-- sh -c 'sleep 0.2; echo "done {}"' ::: $(seq 12)
	assert_eq "$(tail -n +2 "$TDIR/j.shard-0-of-2" | cut -f1 | sort -n | tr '\n' ' ')" \
		"$(seq 12 | tr '\n' ' ')" "the shard alone ran every task once"
	no_pool_left

	# the bad line before the shard's first claim, with nothing in flight:
	# it appears once the shard opened the file (its joblog is made just
	# after), while its pool starts
	"$BERTH" --root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" --quiet -j 2 --shard 1/2 --claims "$TDIR/c2" --claim-size 100 \
		--joblog "$TDIR/j2" -- echo ::: $(seq 12) >"$TDIR/out" 2>"$TDIR/err" &
	pid=$!
	until [ -e "$TDIR/j2.shard-1-of-2" ] || ! kill -0 "$pid" 2>/dev/null; do :; done
	echo "1 x 0" >>"$TDIR/c2"
	wait "$pid"
	assert_eq "$?" 1 "the shard's exit status ($(tail -n 1 "$TDIR/err"))"
	assert_contains "$(tail -n 1 "$TDIR/err")" "claims file $TDIR/c2, line 2: not a chunk" "the error"
	assert_eq "$(cat "$TDIR/out")" "" "the shard ran nothing"
	no_pool_left
}

# Bad --claims options and claims files: one error line naming the file
# (and the line), no joblog, no pool.
t_par_claims_refused() {
	par_only
	local h
	assert_fail_with "--claims $TDIR/c needs --shard (I/N or auto)" \
		par --claims "$TDIR/c" -- echo ::: a
	assert_fail_with "--claim-size needs --claims FILE" par --shard 0/2 --claim-size 4 -- echo ::: a
	for i in 0 x -1 1099511627777; do
		assert_fail_with "--claim-size $i: expected a number of tasks, 1 to 1099511627776" \
			par --shard 0/2 --claims "$TDIR/c" --claim-size "$i" -- echo ::: a
	done
	[ -e "$TDIR/c" ] && fail "a refused option made the claims file"
	assert_fail_with "claims file $TDIR/no/c: No such file or directory" \
		par --shard 0/2 --claims "$TDIR/no/c" --joblog "$TDIR/j" -- echo ::: a
	assert_fail_with "claims file $TDIR: Is a directory" \
		par --shard 0/2 --claims "$TDIR" --joblog "$TDIR/j" -- echo ::: a
	[ -e "$TDIR/j.shard-0-of-2" ] && fail "a refused run wrote its joblog"
	# another run's file: another range
	assert_ok par --shard 0/2 --claims "$TDIR/c" --range 1:5 -- echo
	assert_fail_with "claims file $TDIR/c is another run's: its input has 5 tasks, this run's 6" \
		par --shard 1/2 --claims "$TDIR/c" --joblog "$TDIR/j" --range 1:6 -- echo
	assert_fail_with "claims file $TDIR/c is another run's: it divides the tasks between 2 shards, this run between 3" \
		par --shard 1/3 --claims "$TDIR/c" --joblog "$TDIR/j" --range 1:5 -- echo
	assert_fail_with "claims file $TDIR/c is another run's: its input of 5 tasks has digest" \
		par --shard 1/2 --claims "$TDIR/c" --joblog "$TDIR/j" -- echo ::: 1 2 3 4 6
	# a torn line and a bad one
	h=$(head -n 1 "$TDIR/c")
	printf '%s\n1 3 0\n4 2' "$h" >"$TDIR/c"
	assert_fail_with "claims file $TDIR/c, line 3: a line cut short (no newline at the end of the file)" \
		par --shard 1/2 --claims "$TDIR/c" --joblog "$TDIR/j" --range 1:5 -- echo
	printf '%s\n1 3 0\n4 2 7\n' "$h" >"$TDIR/c"
	assert_fail_with "claims file $TDIR/c, line 3: shard 7 in a run of 2 shards (\"4 2 7\")" \
		par --shard 1/2 --claims "$TDIR/c" --joblog "$TDIR/j" --range 1:5 -- echo
	assert_fail_with "claims file $TDIR/c, line 3: shard 7 in a run of 2 shards" \
		rt par merge --joblog "$TDIR/j" --claims "$TDIR/c"
	[ -e "$TDIR/j.shard-1-of-2" ] && fail "a refused run wrote its joblog"
	assert_eq "$(cat "$TDIR/c")" "$(printf '%s\n1 3 0\n4 2 7' "$h")" "the claims file as it was"
	no_pool_left
}

# task_sleeps: the pids of the tasks' `sleep`s, in this test's workers.
task_sleeps() {
	local p
	for p in $(pgrep -x sleep); do
		grep -qsF "BERTH_IT=$IT_TOKEN" "/proc/$p/environ" && echo "$p"
	done
}

# A task killed from outside while berth runs failed: journaled with its
# signal, as GNU parallel does. A task killed along with berth itself (what
# scancel does: SIGTERM to the step's every process, in no set order) was
# interrupted: not journaled, and --resume runs it again. One worker: task
# 2 waits for task 1.
t_par_interrupted_tasks_not_journaled() {
	par_only
	local pid n sleeps first scr
	mkdir "$TDIR/m"
	scr='echo {} >>/mnt/log; [ -e /mnt/fast ] || exec sleep 30; echo "done {}"'
	"$BERTH" --root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" --quiet -j 1 -v "$TDIR/m:/mnt" --joblog "$TDIR/log" \
		-- sh -c "$scr" ::: 1 2 >"$TDIR/out" 2>"$TDIR/err" &
	pid=$!
	for n in $(seq 200); do
		first=$(task_sleeps)
		[ -n "$first" ] && break
		sleep 0.05
	done
	[ -n "$first" ] || fail "no task runs: $(cat "$TDIR/err")"
	kill -TERM "$first"
	for n in $(seq 100); do
		[ "$(grep -c '^[0-9]' "$TDIR/log")" = 1 ] && [ -n "$(task_sleeps)" ] && break
		sleep 0.05
	done
	assert_eq "$(grep '^[0-9]' "$TDIR/log" | cut -f1,7,8)" "$(printf -- '1\t-1\t15')" \
		"task 1, killed while berth runs, is journaled with its signal"
	# the task first, then berth, in one kill(1)
	sleeps=$(task_sleeps)
	assert_eq "$(wc -w <<<"$sleeps")" 1 "task 2 runs"
	kill -TERM $sleeps "$pid"
	wait "$pid"
	assert_eq "$?" 143 "berth's exit status after SIGTERM: $(cat "$TDIR/err")"
	assert_eq "$(grep -c '^[0-9]' "$TDIR/log")" 1 "journaled after the interruption: $(cat "$TDIR/log")"
	assert_eq "$(grep -c 'was interrupted: not journaled, --resume runs it again' "$TDIR/err")" 1 \
		"the interrupted task named: $(cat "$TDIR/err")"
	touch "$TDIR/m/fast"
	assert_ok par -j 1 -v "$TDIR/m:/mnt" --joblog "$TDIR/log" --resume -- sh -c "$scr" ::: 1 2
	assert_eq "$OUT" "done 2" "--resume ran the interrupted task, not the failed one"
	assert_eq "$(grep '^[0-9]' "$TDIR/log" | cut -f1 | sort -n | tr '\n' ' ')" "1 2 " \
		"each task in the joblog once"
	no_pool_left
}

# The tasks' stdout goes out in large pieces: a task with no stderr costs
# its output no write() of its own (it did, one a task, before).
t_par_output_is_batched() {
	par_only
	command -v strace >/dev/null || skip "no strace (make deps installs it)"
	# LeakSanitizer cannot run under ptrace: a sanitizer build's leak
	# check is left out of this one run
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -e trace=write -o "$TDIR/trace" \
		"$BERTH" --root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" --quiet --mode line --range 1:5000 -- cat >"$TDIR/out" ||
		fail "par failed: $(tail -n 3 "$TDIR/trace")"
	assert_eq "$(wc -l <"$TDIR/out")" 5000 "every result"
	local berth_pid n
	berth_pid=$(head -n 1 "$TDIR/trace" | awk '{ print $1 }')
	n=$(awk -v p="$berth_pid" '$1 == p && $2 ~ /^write\(1,/' "$TDIR/trace" | wc -l)
	[ "$n" -le 50 ] || fail "berth wrote the 5000 results in $n write()s"
	no_pool_left
}

# lib_worker NAME: builds $TDIR/lib/NAME, static with the worker library,
# from the C source on stdin (skips the test without a C compiler).
lib_worker() {
	local src=$IT_LIB_DIR/../..
	command -v cc >/dev/null || skip "no C compiler"
	mkdir -p "$TDIR/lib"
	cat >"$TDIR/lib/$1.c"
	cc -std=gnu11 -D_GNU_SOURCE -O2 -static -I"$src" -o "$TDIR/lib/$1" \
		"$TDIR/lib/$1.c" "$src/dist/worker/bw-client.c" 2>"$TDIR/cc.err" ||
		skip "cannot build a static worker: $(last_line "$(cat "$TDIR/cc.err")")"
}

# A lib worker that echoes its task's payload as its result; with
# DIE_AT=N in its environment it exits, once, when given task N.
echo_worker() {
	lib_worker echo <<-'EOF2'
	#include <stdio.h>
	#include <stdlib.h>
	#include <unistd.h>
	#include "dist/berth-worker.h"
	int main(void)
	{
		char err[256], out[40];
		struct bw *w;
		const struct bw_task *t;
		const char *die = getenv("DIE_AT");
		if (bw_open(&w, err, sizeof(err)) < 0)
			return fprintf(stderr, "echo: %s\n", err), 1;
		while ((t = bw_next(w))) {
			int n = snprintf(out, sizeof(out), "%.*s\n", (int)t->len,
					 (const char *)t->data);
			if (die && atol(out) == atol(die) && t->attempt == 1 &&
			    access("/mnt/died", F_OK) < 0)
				_exit(3);
			bw_done(w, t, 0, out, (size_t)n);
		}
		bw_close(w);
		return 0;
	}
	EOF2
}

# Most tasks of a range succeed with nothing to say: their results come
# in runs (one record for consecutive ones of a chunk), among tasks that
# fail (v % 7 == 0) or print (v % 11 == 0, else). The joblog and the
# results have every task once, with its own status and output. A worker
# dies once, at task 60001 (deep in the range, where chunks are large),
# just after a run of three it had not published: with --retries 2 that
# task runs again; without, it alone is abandoned, not the first task of
# the run (the run counts, taken from the dead worker's ring).
t_par_lib_runs_of_bare_results() {
	par_only
	lib_worker quiet <<-'EOF2'
	#include <stdio.h>
	#include <stdlib.h>
	#include <unistd.h>
	#include "dist/berth-worker.h"
	int main(void)
	{
		char err[256], in[32], out[40];
		struct bw *w;
		const struct bw_task *t;
		const char *die = getenv("DIE_AT");
		if (bw_open(&w, err, sizeof(err)) < 0)
			return fprintf(stderr, "quiet: %s\n", err), 1;
		while ((t = bw_next(w))) {
			snprintf(in, sizeof(in), "%.*s", (int)t->len, (const char *)t->data);
			long v = atol(in);
			if (die && v == atol(die) && access("/mnt/died", F_OK) < 0) {
				fclose(fopen("/mnt/died", "w"));
				_exit(3);
			}
			int n = v % 7 && !(v % 11) ? snprintf(out, sizeof(out), "%ld\n", v) : 0;
			bw_done(w, t, v % 7 == 0, out, (size_t)n);
		}
		bw_close(w);
		return 0;
	}
	EOF2
	mkdir -p "$TDIR/m"
	cp "$TDIR/lib/quiet" "$TDIR/m/"
	run par --mode lib -j 2 -e DIE_AT=60001 --retries 2 -v "$TDIR/m:/mnt" --joblog "$TDIR/log" \
		--results "$TDIR/res.jsonl" --range 1:100000 -- /mnt/quiet
	# GNU parallel's status: the number of failed tasks, 101 past 100
	assert_eq "$RC" 101 "14285 tasks failed: $(last_line "$ERR")"
	[ -e "$TDIR/m/died" ] || fail "the worker did not die at task 60001"
	assert_eq "$(sort -n <<<"$OUT" | md5sum)" "$(seq 100000 | awk '$1 % 7 && !($1 % 11)' | md5sum)" \
		"the outputs: each printing task once"
	assert_eq "$(tail -n +2 "$TDIR/log" | awk -F'\t' '{ print $1, $7 }' | sort -n | md5sum)" \
		"$(seq 100000 | awk '{ print $1, ($1 % 7 == 0) }' | md5sum)" \
		"the joblog: every task once, with its status"
	assert_eq "$(jq -r '"\(.seq) \(.exit) \(.output | rtrimstr("\n"))"' "$TDIR/res.jsonl" | sort -n | md5sum)" \
		"$(seq 100000 | awk '{ print $1, ($1 % 7 == 0), ($1 % 7 && !($1 % 11) ? $1 : "") }' | md5sum)" \
		"the results: every task once, with its status and output"
	rm -f "$TDIR/m/died"
	run par --mode lib -j 2 -e DIE_AT=60001 -v "$TDIR/m:/mnt" --joblog "$TDIR/log2" \
		--range 1:100000 -- /mnt/quiet
	[ -e "$TDIR/m/died" ] || fail "the worker did not die at task 60001"
	assert_contains "$ERR" "task 60001 was abandoned: its worker died" "the task it ran"
	assert_eq "$(grep -c 'was abandoned' <<<"$ERR")" 1 "one task abandoned: $(grep abandoned <<<"$ERR" | head -n 3)"
	assert_eq "$(tail -n +2 "$TDIR/log2" | awk -F'\t' '$7 == -1 { print $1 }')" 60001 \
		"the joblog's one abandoned task"
	no_pool_left
}

# Tasks of a range go to the workers in chunks: a chunk costs one wake-up
# of the coordinator, not one a task (a futex call a task, or more,
# before chunks: about 33,000 for these 200,000).
t_par_lib_mode_wakes_once_a_chunk() {
	par_only
	command -v strace >/dev/null || skip "no strace (make deps installs it)"
	echo_worker
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -c -e trace=futex,futex_waitv -o "$TDIR/trace" \
		"$BERTH" --root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" --quiet --mode lib -v "$TDIR/lib:/mnt:ro" \
		--range 1:200000 -- /mnt/echo >"$TDIR/out" || fail "par failed"
	assert_eq "$(sort -n "$TDIR/out" | uniq | wc -l)" 200000 "every task once"
	assert_eq "$(sort -n "$TDIR/out" | tail -n 1)" 200000 "the last task"
	local n
	n=$(awk '$NF == "futex" || $NF == "futex_waitv" { s += $4 } END { print s + 0 }' "$TDIR/trace")
	[ "$n" -le 4000 ] || fail "$n futex calls for 200000 tasks: $(cat "$TDIR/trace")"
	no_pool_left
}

# A worker that dies in the middle of a chunk: the task it ran fails
# (no --retries), the rest of its chunk runs elsewhere; with --retries 2
# that task runs again too. The joblog and the results have every task
# once.
t_par_lib_worker_dies_mid_chunk() {
	par_only
	echo_worker
	mkdir -p "$TDIR/m"
	run par --mode lib -j 2 -e DIE_AT=1500 -v "$TDIR/lib:/mnt:ro" --joblog "$TDIR/log" \
		--results "$TDIR/res.jsonl" --range 1:3000 -- /mnt/echo
	assert_eq "$RC" 1 "one task failed: $(last_line "$ERR")"
	assert_contains "$ERR" "task 1500 was abandoned: its worker died" "the task it ran"
	assert_eq "$(sort -n <<<"$OUT" | tr '\n' ' ')" "$(seq 3000 | grep -vx 1500 | tr '\n' ' ')" \
		"every other task once"
	assert_eq "$(tail -n +2 "$TDIR/log" | cut -f1 | sort -n | tr '\n' ' ')" "$(seq 3000 | tr '\n' ' ')" \
		"the joblog: every task once"
	assert_eq "$(jq -r .seq "$TDIR/res.jsonl" | sort -n | uniq | wc -l) $(wc -l <"$TDIR/res.jsonl")" \
		"3000 3000" "the results: every task once"
	assert_eq "$(jq -r 'select(.seq == 1500) | .abandoned' "$TDIR/res.jsonl")" true "1500 abandoned"
	run par --mode lib -j 2 -e DIE_AT=1500 --retries 2 -v "$TDIR/lib:/mnt:ro" --range 1:3000 -- /mnt/echo
	assert_eq "$RC" 0 "with --retries 2: $(last_line "$ERR")"
	assert_eq "$(sort -n <<<"$OUT" | tr '\n' ' ')" "$(seq 3000 | tr '\n' ' ')" "every task once"
	no_pool_left
}
