# berth par --shard on a Slurm cluster of three nodes on this machine:
# Debian's slurm-wlm with one slurmctld and three slurmd "nodes" n1, n2,
# n3 (after /work/shared/slurm/cluster.sh). `srun -N 3 berth par --shard
# auto` runs one pool a node on a third of the tasks each, and `berth par
# merge` makes of the shards' joblogs and results the files one run on
# one node writes. Then a node fails mid-run (its slurmd, the job step and
# the berth it ran are killed at once, as a crash would), the job is
# cancelled, the node comes back, and the same srun with --resume finishes
# the work: no task is lost, and none whose result was recorded runs again.
#
# The network world is the test's own. Everything runs inside an outer
# network, mount, UTS and PID namespace that the test creates (unshare
# --fork --kill-child --mount-proc): a bridge br0 10.77.0.1/24 and the
# controller (host name ctl) live in it, and an /etc/hosts is bind-mounted
# in its mount namespace only. Each node is a network namespace of its
# own, kept by a bind mount in that outer mount namespace, with a veth on
# the bridge (10.77.0.11-13, no route anywhere else), and a slurmd in it
# with its own UTS (host name nI) and mount namespaces. Nothing touches
# the machine's own network namespace, routes, firewall or /etc/hosts;
# when the outer namespace's init ends, the kernel ends everything in it,
# bridge and node networks included. The nodes share this machine's
# filesystem: $TDIR is the directory all of them see, where the shards
# write their files. Every daemon is started in the foreground by the
# outer namespace's init (sc_init), which stops them by pid.
# Skipped where slurm-wlm cannot be installed.
IT_TIMEOUT=160
IT_KILL_AFTER=20

SC_NET=10.77.0

sc_node_ip() { echo "$SC_NET.$((10 + $1))"; }

sc_netns_mounted() {
	awk -v p="$1" '$5 == p { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# sc_reap PID [SIGNAL]: signal, wait up to 5 s for it to die (a zombie
# counts: the init reaps it), then SIGKILL. For the pid namespace's own
# processes, orphans that the init adopted.
sc_reap() {
	local pid=$1 n=0
	[ -n "$pid" ] || return 0
	kill "-${2:-TERM}" "$pid" 2>/dev/null || return 0
	while [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
		[ $n -lt 50 ] || { kill -KILL "$pid" 2>/dev/null; break; }
		sleep 0.1
		n=$((n + 1))
	done
	wait "$pid" 2>/dev/null
	return 0
}

# sc_start_node I: node nI's network namespace (unless it exists) and its
# slurmd, which waits on a fifo until sc_release_node I. nsenter, unshare
# and sh exec: the pid in node/nI/pid is the slurmd's.
sc_start_node() {
	local i=$1 n=n$1 d=$SC_RUN/node/n$1 ip
	ip=$(sc_node_ip "$i")
	mkdir -p "$d/spool"
	if ! sc_netns_mounted "$d/netns"; then
		: >"$d/netns" && unshare --net="$d/netns" true || return 1
		ip link del "v$n" 2>/dev/null
		nsenter --net="$d/netns" sh -c 'ip link set lo up &&
			ip link add eth0 type veth peer name "$1" netns 1 &&
			ip addr add "$2/24" dev eth0 && ip link set eth0 up' - "v$n" "$ip" || return 1
		ip link set "v$n" master br0 up || return 1
	fi
	rm -f "$d/go" && mkfifo "$d/go" || return 1
	# the node's mount namespace copies the other nodes' netns bind
	# mounts: they go, or they would keep those networks alive
	(
		nsenter --net="$d/netns" -- unshare --uts --mount --propagation private -- \
			sh -c 'hostname "$1" || exit 1
			for f in "$3"/*/netns; do umount "$f" 2>/dev/null; done
			read go <"$2" && [ "$go" = go ] && exec slurmd -D' \
			node "$n" "$d/go" "$SC_RUN/node" >>"$SC_RUN/log/$n.out" 2>&1 &
		echo $! >"$d/pid"
	)
}

sc_release_node() {
	timeout 30 sh -c 'echo go >"$1"' - "$SC_RUN/node/n$1/go"
}

# sc_wait_nodes STATE COUNT [TENTHS]: until sinfo shows COUNT nodes in STATE
sc_wait_nodes() {
	local n=0
	until [ "$(sinfo -h -N -t "$1" -o %N 2>/dev/null | sort -u | wc -l)" = "$2" ]; do
		[ $n -lt "${3:-300}" ] || return 1
		sleep 0.1
		n=$((n + 1))
	done
}

# sc_node_start I: starts nI's slurmd again, waits until it answers.
sc_node_start() {
	local n=0
	sc_start_node "$1" && sc_release_node "$1" || return 1
	until sinfo -h -n "n$1" -o %t 2>/dev/null | grep -qxE 'idle|alloc|mix'; do
		[ $n -lt 300 ] || return 1
		sleep 0.1
		n=$((n + 1))
	done
}

# sc_node_crash I: node nI fails: its slurmd, its job steps' slurmstepd
# and the tasks they run (berth par) are SIGKILLed at once. berth's
# worker helpers outlive it as after any SIGKILL of berth, and remove its
# containers (a machine that crashed loses them with its memory).
sc_node_crash() {
	local d=$SC_RUN/node/n$1 pid netns p c
	pid=$(cat "$d/pid")
	netns=$(readlink "/proc/$pid/ns/net")
	sc_reap "$pid" KILL
	rm -f "$d/pid"
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/net" 2>/dev/null)" = "$netns" ] &&
			[ "$(cat "$p/comm" 2>/dev/null)" = slurmstepd ] || continue
		for c in $(ps -o pid= --ppid "${p#/proc/}"); do kill -KILL "$c"; done
		kill -KILL "${p#/proc/}" 2>/dev/null
	done
}

# sc_berths: the pids of the berth par coordinators that job steps run.
sc_berths() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = berth ] || continue
		[ "$(cat "/proc/$(awk '/^PPid/ { print $2 }' "$p/status" 2>/dev/null)/comm" 2>/dev/null)" = slurmstepd ] &&
			echo "${p#/proc/}"
	done
}

# sc_wait_gone TENTHS CMD...: until CMD prints nothing
sc_wait_gone() {
	local max=$1 n=0
	shift
	while [ -n "$("$@")" ]; do
		[ $n -lt "$max" ] || return 1
		sleep 0.1
		n=$((n + 1))
	done
}

# Teardown, by the init: srun, then berth's pools (SIGTERM: each removes
# its workers), the controller, the nodes, munged; then whatever else is
# left in the pid namespace (slurmstepd, a node waiting on its fifo), all
# ours: we are its init.
sc_teardown() {
	local f pid
	trap - EXIT
	trap '' TERM INT HUP
	[ -n "${SC_SRUN:-}" ] && kill -KILL "$SC_SRUN" 2>/dev/null
	for pid in $(sc_berths); do kill -TERM "$pid"; done
	sc_wait_gone 100 sc_berths || for pid in $(sc_berths); do kill -KILL "$pid"; done
	# a pool's helpers remove its containers once berth is gone
	sc_wait_gone 100 pgrep -x berth
	sc_reap "${SC_CTLD:-}"
	for f in "$SC_RUN"/node/*/pid; do [ -s "$f" ] && sc_reap "$(cat "$f")"; done
	sc_reap "${SC_MUNGE:-}"
	for pid in /proc/[0-9]*; do
		pid=${pid#/proc/}
		[ "$pid" = 1 ] || [ "$pid" = "$BASHPID" ] && continue
		kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	for f in "$SC_RUN"/node/*/netns; do sc_netns_mounted "$f" && umount "$f"; done
	umount /etc/hosts 2>/dev/null
	ip link del br0 2>/dev/null
	rm -rf "$SC_RUN"
}

sc_slurm_conf() {
	local i addrs
	addrs=$(for i in 1 2 3; do sc_node_ip "$i"; done | paste -sd,)
	cat >"$SC_RUN/slurm.conf" <<-EOF
	ClusterName=shard3
	SlurmctldHost=ctl($SC_NET.1)
	AuthType=auth/munge
	AuthInfo=socket=$SC_RUN/munge/sock
	CredType=cred/munge
	SlurmUser=root
	SlurmdUser=root
	SlurmctldPort=6817
	SlurmdPort=6818
	StateSaveLocation=$SC_RUN/state
	SlurmdSpoolDir=$SC_RUN/node/%n/spool
	SlurmctldPidFile=$SC_RUN/slurmctld.pid
	SlurmdPidFile=$SC_RUN/node/%n/slurmd.pid
	SlurmctldLogFile=$SC_RUN/log/slurmctld.log
	SlurmdLogFile=$SC_RUN/log/slurmd-%n.log
	ProctrackType=proctrack/linuxproc
	TaskPlugin=task/none
	JobAcctGatherType=jobacct_gather/none
	MpiDefault=none
	SchedulerType=sched/builtin
	SelectType=select/cons_tres
	ReturnToService=2
	SlurmdTimeout=6
	KillWait=10
	JobCompType=jobcomp/none
	AccountingStorageType=accounting_storage/none
	NodeName=n[1-3] NodeAddr=$addrs CPUs=$(nproc) State=UNKNOWN
	PartitionName=p Nodes=n[1-3] Default=YES MaxTime=INFINITE State=UP
	EOF
	export SLURM_CONF=$SC_RUN/slurm.conf
}

sc_bringup() {
	local i
	rm -rf "$SC_RUN"
	mkdir -p "$SC_RUN"/{log,state,munge,node}
	hostname ctl
	ip link set lo up
	ip link add br0 type bridge && ip addr add "$SC_NET.1/24" dev br0 &&
		ip link set br0 up || fail "the cluster's bridge"
	{
		echo "127.0.0.1 localhost"
		echo "$SC_NET.1 ctl"
		for i in 1 2 3; do echo "$(sc_node_ip "$i") n$i"; done
	} >"$SC_RUN/hosts"
	mount --bind "$SC_RUN/hosts" /etc/hosts || fail "bind-mount the cluster's /etc/hosts"
	chmod 700 "$SC_RUN/munge"
	head -c 1024 /dev/urandom >"$SC_RUN/munge/key"
	chmod 400 "$SC_RUN/munge/key"
	munged -F --key-file="$SC_RUN/munge/key" --socket="$SC_RUN/munge/sock" \
		--pid-file="$SC_RUN/munge/pid" --log-file="$SC_RUN/munge/log" \
		--seed-file="$SC_RUN/munge/seed" --force >"$SC_RUN/log/munged.out" 2>&1 &
	SC_MUNGE=$!
	sc_slurm_conf
	for i in 1 2 3; do sc_start_node "$i" || fail "node n$i's network"; done
	i=0
	until [ -S "$SC_RUN/munge/sock" ]; do
		[ $i -lt 300 ] || skip "munged does not start: $(tail -n 1 "$SC_RUN/munge/log" 2>/dev/null)"
		sleep 0.05
		i=$((i + 1))
	done
	slurmctld -D -i >"$SC_RUN/log/slurmctld.out" 2>&1 &
	SC_CTLD=$!
	i=0
	until scontrol ping 2>/dev/null | grep -q UP; do
		[ $i -lt 300 ] && kill -0 "$SC_CTLD" 2>/dev/null ||
			skip "slurmctld does not start: $(tail -n 1 "$SC_RUN/log/slurmctld.log" 2>/dev/null)"
		sleep 0.05
		i=$((i + 1))
	done
	for i in 1 2 3; do sc_release_node "$i" || fail "node n$i's slurmd"; done
	sc_wait_nodes idle 3 || skip "the nodes never became idle: $(sinfo 2>&1 | tail -n 3 | tr '\n' ' ')"
}

# sc_same WHAT FILE-A FILE-B: the two are the same, or the test fails
# with their first differing lines.
sc_same() {
	cat "$2" >"$TDIR/.same.a"
	cat "$3" >"$TDIR/.same.b"
	cmp -s "$TDIR/.same.a" "$TDIR/.same.b" ||
		fail "$1 differ: $(diff "$TDIR/.same.a" "$TDIR/.same.b" | head -n 6 | tr '\n' '|')"
}

# sc_srun ARGS...: srun on the cluster, with a time limit.
sc_srun() {
	timeout -k 5 40 srun "$@"
}

# sc_par: berth par's options for a pool of the test, on any node.
sc_par_opts() {
	SC_PAR=(--root "$ROOT" par --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN"
		-e "BERTH_IT=$IT_TOKEN" -j 2)
}

# A Slurm task notes its SLURM_PROCID and node in FILE, then runs ARGS.
SC_NOTE='echo "$SLURM_PROCID $(hostname)" >>"$0"; exec "$@"'

# 30000 tasks on one node, then on three (a shard each): the merged files
# are those of the one-node run.
sc_same_results() {
	local s=$TDIR/same scr
	mkdir -p "$s"
	scr='while read l; do echo "$l $((l * l % 1009))"; done'
	sc_srun -N 1 -w n1 "$BERTH" "${SC_PAR[@]}" -k --mode line --range 1:30000 \
		--joblog "$s/one.log" --results "$s/one.jsonl" -- sh -c "$scr" \
		>"$s/one.out" 2>"$s/one.err" || fail "berth par on n1: $(tail -n 2 "$s/one.err")"
	sc_srun -N 3 sh -c "$SC_NOTE" "$s/nodes" "$BERTH" "${SC_PAR[@]}" -k --mode line \
		--shard auto --range 1:30000 --joblog "$s/three.log" --results "$s/three.jsonl" \
		-- sh -c "$scr" >"$s/three.out" 2>"$s/three.err" ||
		fail "srun -N 3 berth par --shard auto: $(tail -n 2 "$s/three.err")"
	assert_eq "$(sort "$s/nodes" | cut -d' ' -f1 | tr '\n' ' ')" "0 1 2 " "the Slurm tasks"
	assert_eq "$(cut -d' ' -f2 "$s/nodes" | sort | tr '\n' ' ')" "n1 n2 n3 " "a shard a node"
	assert_eq "$(grep -c 'berth: par: shard [0-2]/3: 10000 of the input.s 30000 tasks' "$s/three.err")" 3 \
		"each shard's summary: $(head -c 300 "$s/three.err")"
	run "$BERTH" par merge --joblog "$s/three.log" --results "$s/three.jsonl" --tasks 30000
	assert_eq "$RC" 0 "par merge: $(last_line "$ERR")"
	assert_eq "$(wc -l <"$s/three.log") $(wc -l <"$s/three.jsonl")" "30001 30000" "merged lines"
	# what must match: all but when (Starttime, JobRuntime; start,
	# time_ms) and where (worker, slot, cpu)
	sc_same "the joblogs" <(cut -f1,2,5- "$s/one.log") <(cut -f1,2,5- "$s/three.log")
	sc_same "the results" <(jq -c 'del(.worker, .slot, .cpu, .start, .time_ms)' "$s/one.jsonl") \
		<(jq -c 'del(.worker, .slot, .cpu, .start, .time_ms)' "$s/three.jsonl")
	sc_same "the tasks' outputs" "$s/one.out" <(sort -n "$s/three.out")
}

# Each run of a task is noted in DIR/runs/log, which every node sees.
SC_TASK='echo {} >>/mnt/log; sleep 0.3; echo "done {}"'

# sc_crash_run DIR PAR-ARGS...: srun -N 3 berth par PAR-ARGS (which write
# DIR/c.log); once shard 1 journaled 3 tasks its node fails (its slurmd,
# job step and berth killed at once); the job is cancelled; the node comes
# back. SC_CRASHED is the node.
sc_crash_run() {
	local s=$1 n node jid
	shift
	srun -N 3 sh -c "$SC_NOTE" "$s/nodes" "$BERTH" "${SC_PAR[@]}" "$@" \
		>"$s/run1.out" 2>"$s/run1.err" &
	SC_SRUN=$!
	for n in $(seq 200); do
		[ "$(cat "$s/c.log.shard-1-of-3" 2>/dev/null | grep -c '^[0-9]')" -ge 3 ] && break
		sleep 0.05
	done
	node=$(awk '$1 == 1 { print $2 }' "$s/nodes")
	[ -n "$node" ] || fail "shard 1 did not start: $(tail -n 2 "$s/run1.err")"
	sc_node_crash "${node#n}"
	jid=$(squeue -h -o %i)
	[ -n "$jid" ] || fail "no job in the queue after the crash: $(tail -n 2 "$s/run1.err")"
	scancel "$jid"
	# srun waits for the lost node's step (up to 32 s after scancel):
	# ours is stopped; the other shards stop on scancel's SIGTERM
	kill -KILL "$SC_SRUN"
	wait "$SC_SRUN"
	SC_SRUN=
	sc_wait_gone 150 sc_berths || fail "berth still runs after scancel: $(sc_berths)"
	sc_node_start "${node#n}" || fail "$node's slurmd does not start again"
	sc_wait_gone 300 squeue -h || fail "the job stays: $(squeue -h)"
	sc_wait_nodes idle 3 || fail "not all nodes idle again: $(sinfo -h | tr '\n' ' ')"
	SC_CRASHED=$node
}

# sc_resume_run DIR TASKS MERGE-ARGS -- PAR-ARGS...: after sc_crash_run,
# the merge (berth par merge MERGE-ARGS) names the tasks missing; the same
# srun with --resume finishes; the merge is every task once; no task
# journaled before the rerun ran again. Prints what ran twice.
sc_resume_run() {
	local s=$1 tasks=$2 merge=() n twice
	shift 2
	while [ "$1" != -- ]; do
		merge+=("$1")
		shift
	done
	shift
	cat "$s"/c.log.shard-* | grep '^[0-9]' | cut -f1 | sort -n >"$s/journaled"
	cp "$s/runs/log" "$s/runs-before"
	n=$(wc -l <"$s/journaled")
	[ "$n" -ge 3 ] && [ "$n" -lt $((tasks - 20)) ] || fail "$n of $tasks tasks journaled before the rerun"
	run "$BERTH" par merge --joblog "$s/c.log" "${merge[@]}" --tasks "$tasks"
	assert_contains "$(last_line "$ERR")" "$((tasks - n)) of $tasks tasks are in no shard's file" \
		"merge before the rerun"

	sc_srun -N 3 "$BERTH" "${SC_PAR[@]}" --resume "$@" >"$s/run2.out" 2>"$s/run2.err" ||
		fail "srun -N 3 berth par --resume: $(tail -n 2 "$s/run2.err")"
	run "$BERTH" par merge --joblog "$s/c.log" --results "$s/c.jsonl" "${merge[@]}" --tasks "$tasks"
	assert_eq "$RC" 0 "par merge after the rerun: $(last_line "$ERR")"
	# every task has exactly one result
	sc_same "the merged joblog's seqs and seq 1..$tasks" <(tail -n +2 "$s/c.log" | cut -f1) <(seq "$tasks")
	sc_same "the merged results and one 'done N' a task" \
		<(jq -r '"\(.seq) \(.exit) \(.signal) \(.output | rtrimstr("\n"))"' "$s/c.jsonl") \
		<(seq "$tasks" | sed 's/.*/& 0 0 done &/')
	# no task recorded before the rerun ran again
	assert_eq "$(grep '^done' "$s/run2.out" | cut -d' ' -f2 | grep -Fxf "$s/journaled")" "" \
		"the rerun ran tasks the joblogs had"
	assert_eq "$(tail -n +"$(($(wc -l <"$s/runs-before") + 1))" "$s/runs/log" | grep -Fxf "$s/journaled")" "" \
		"a journaled task ran again"
	assert_eq "$(grep -c '^done' "$s/run2.out")" "$((tasks - n))" "the rerun ran what was left"
	assert_eq "$(sort -nu "$s/runs/log" | tr '\n' ' ')" "$(seq "$tasks" | tr '\n' ' ')" "every task ran"
	# only tasks in flight at the crash or the cancel ran twice
	twice=$(sort -n "$s/runs/log" | uniq -d | tr '\n' ' ')
	echo "crashed $SC_CRASHED (shard 1); journaled before the rerun $n of $tasks; ran twice: ${twice:-none}"
}

# A node fails mid-run; the job is cancelled; the node comes back; the same
# srun with --resume finishes.
sc_node_failure() {
	local s=$TDIR/fail cmd
	mkdir -p "$s/runs"
	cmd=(--shard auto --range 1:120 -v "$s/runs:/mnt" --joblog "$s/c.log" --results "$s/c.jsonl"
		-- sh -c "$SC_TASK")
	sc_crash_run "$s" "${cmd[@]}"
	sc_resume_run "$s" 120 --shards 3 -- "${cmd[@]}"
}

# The same with --claims: the shards take chunks from a claims file in
# the directory all nodes see, under its POSIX lock. Every chunk is in
# the file once, each where the one before ends; the crashed node's shard
# runs again what its chunks have and its joblog lacks.
sc_claims_node_failure() {
	local s=$TDIR/claims cmd chunks
	mkdir -p "$s/runs"
	cmd=(--shard auto --claims "$s/claims" --range 1:150 -v "$s/runs:/mnt" --joblog "$s/c.log"
		--results "$s/c.jsonl" -- sh -c "$SC_TASK")
	sc_crash_run "$s" "${cmd[@]}"
	sc_resume_run "$s" 150 --claims "$s/claims" -- "${cmd[@]}"
	chunks=$(awk 'NR == 1 { next } $1 != at { print "a chunk at " $1 ", expected " at; exit }
		{ at = $1 + $2; n[$3] += $2 }
		END { printf "to %d:", at - 1; for (i = 0; i < 3; i++) printf " %d", n[i] }' at=1 "$s/claims")
	case $chunks in
	"to 150: "[1-9]*" "[1-9]*" "[1-9]*) ;;
	*) fail "the claims file: $chunks" ;;
	esac
	# a shard's tasks are its chunks': its joblog has those alone
	assert_eq "$(for i in 0 1 2; do grep '^[0-9]' "$s/c.log.shard-$i-of-3" | cut -f1 |
		awk -v i=$i -v f="$s/claims" 'BEGIN { while ((getline l <f) > 0) { split(l, w, " ")
			if (w[3] == i) for (k = w[1]; k < w[1] + w[2]; k++) own[k] = 1 } }
			!own[$1] { print "shard " i " ran " $1 }'; done)" "" "the shards ran their own chunks"
	echo "claims: tasks a shard (0 1 2) $chunks"
}

# --halt stops the shard whose task failed; srun -K (--kill-on-bad-exit)
# then stops the other shards, as the README says to do, and the same
# srun with --resume finishes what they left. Task 60 fails, shard 2's
# 20th task (of 40, 0.5 s each, two at a time): the others, each 20 s of
# work, are stopped about halfway; run on, they would finish theirs.
sc_halt_stops_every_shard() {
	local s=$TDIR/halt cmd i n ran=
	mkdir -p "$s/runs"
	cmd=(--shard auto --range 1:120 -v "$s/runs:/mnt" --joblog "$s/h.log" --halt now,fail=1
		-- sh -c 'echo {} >>/mnt/log; [ {} != 60 ] || exit 7; sleep 0.5')
	run sc_srun -N 3 -K "$BERTH" "${SC_PAR[@]}" "${cmd[@]}"
	assert_eq "$([ "$RC" != 0 ] && echo failed)" failed "srun -K of a run that halts: $RC"
	assert_contains "$ERR" "halting after 1 failed task" "the shard of task 60 halts"
	sc_wait_gone 150 sc_berths || fail "berth still runs after srun -K: $(sc_berths)"
	sc_wait_gone 300 squeue -h || fail "the job stays: $(squeue -h)"
	for i in 0 1; do
		n=$(grep -c '^[0-9]' "$s/h.log.shard-$i-of-3")
		[ "$n" -lt 34 ] || fail "shard $i ran on after shard 2 halted: $n of its 40 tasks"
		ran="$ran $n"
	done
	echo "halt: shards 0 and 1 had run$ran of their 40 tasks each when srun -K stopped them"
	sc_srun -N 3 "$BERTH" "${SC_PAR[@]}" --resume "${cmd[@]}" >"$s/run2.out" 2>"$s/run2.err" ||
		fail "srun -N 3 berth par --resume: $(tail -n 2 "$s/run2.err")"
	run "$BERTH" par merge --joblog "$s/h.log" --shards 3 --tasks 120
	assert_eq "$RC" 0 "par merge after the rerun: $(last_line "$ERR")"
	sc_same "the merged joblog's seqs and seq 1..120" <(tail -n +2 "$s/h.log" | cut -f1) <(seq 120)
	assert_eq "$(awk -F'\t' '$7 != 0 { print $1 "=" $7 }' <(tail -n +2 "$s/h.log"))" "60=7" \
		"the failed task's status is kept, and it is the only one"
	assert_eq "$(sort -nu "$s/runs/log" | tr '\n' ' ')" "$(seq 120 | tr '\n' ' ')" "every task ran"
}

# The outer namespace's init.
sc_init() {
	set -u
	if [ -n "${IT_REASON:-}" ]; then
		exec {IT_TRACE_FD}>>"$IT_REASON.trace"
		BASH_XTRACEFD=$IT_TRACE_FD
		set -x
	fi
	SC_RUN=$TDIR/sl
	SC_SRUN=
	trap sc_teardown EXIT
	trap 'exit 143' TERM INT HUP
	sc_bringup
	sc_par_opts
	sc_same_results
	sc_node_failure
	sc_claims_node_failure
	sc_halt_stops_every_shard
	exit 0
}

t_slurm_shard() {
	berth_only "par is berth's own command"
	local upid rc
	if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
		! command -v munged >/dev/null; then
		sh "$IT_LIB_DIR/../deps.sh" slurm-wlm >"$TDIR/apt.log" 2>&1 ||
			skip "slurm-wlm cannot be installed: $(tail -n 1 "$TDIR/apt.log")"
	fi
	for rc in unshare nsenter ip mkfifo; do
		command -v $rc >/dev/null || skip "no $rc"
	done
	# unshare ignores SIGTERM while it waits: pass it on to the init,
	# which tears the cluster down
	unshare --net --mount --uts --pid --fork --kill-child --mount-proc \
		--propagation private -- \
		bash -c 'source "$0/lib.sh"; source "$IT_FILE"; sc_init' "$IT_LIB_DIR" &
	upid=$!
	trap 'kill -TERM $(ps -o pid= --ppid "$upid") 2>/dev/null' TERM INT HUP
	while :; do
		wait "$upid"
		rc=$?
		[ -d "/proc/$upid" ] || break
	done
	trap - TERM INT HUP
	# the init wrote why it failed or skipped
	[ "$rc" = 0 ] || exit "$rc"
}
