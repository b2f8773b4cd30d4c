#!/bin/bash
# par.sh: what a task costs end to end with `berth par`, next to GNU
# parallel, `xargs -P`, plain host processes and one `docker run` per
# task, on this machine; and what berth's coordinator costs in CPU.
# Empty tasks, so that the figure is the overhead alone:
#   - lib mode:  a static libberthworker program that answers at once
#                (10,000,000 tasks), set against the queue's floor (the raw
#                ring's pipelined handoff, bench-queue -f) measured in the
#                same run
#   - line mode: cat, one line in, one line out
#   - exec mode: /bin/true, a fresh process a task
#   - GNU parallel and xargs -P running /bin/true on the host
#   - docker run --rm per task (a sample of 20), where docker is usable
#   - starting 64 workers
# Then the demo's workload (make demo: the primes below 10^7 in 10^6
# lib-mode tasks of examples/worker-primes.c, here from the test rootfs
# with the worker mounted rather than from the demo's image) in berth par
# and in one plain host process a CPU (on equal ranges, as make demo, and
# on ranges of equal measured cost), alternately, and the ratios of the
# walls' medians.
#
# For every row: the median wall time of RUNS runs (its range), in ns a
# task; the coordinator's own CPU (user + sys of the berth par, parallel
# or xargs process itself, or of the shell that starts the host
# processes; read by bench-cpu-split at its exit), the workers' CPU (for
# berth the pool's cgroup below a parent this script makes, cpuacct on
# cgroup v1 or cpu.stat on v2; else the processes the coordinator waited
# for), and the first as a share of the second. Reports only: it never
# fails on a timing.
#   make bench-par        (BERTH, ROOTFS, BENCH_WORKER, BENCH_CPU,
#                          DEMO_WORKER and BENCH_QUEUE are set)
#   RUNS=3 LIB_N=1000000 EXEC_N=2000 make bench-par
#   PAR_DOCKER=0 make bench-par     (no docker row)
#   PAR_PARALLEL=0 make bench-par   (no GNU parallel row: perl starts
#                                    slowly in make check-vm's guest)
set -u

: "${BERTH:?set BERTH}" "${ROOTFS:?set ROOTFS}" "${BENCH_WORKER:?set BENCH_WORKER}"
: "${BENCH_CPU:?set BENCH_CPU}" "${DEMO_WORKER:?set DEMO_WORKER}"
RUNS=${RUNS:-5}
LIB_N=${LIB_N:-10000000}
LINE_N=${LINE_N:-1000000}
EXEC_N=${EXEC_N:-10000}
PAR_N=${PAR_N:-2000}
DEMO_TASKS=${DEMO_TASKS:-1000000}
DEMO_RUNS=${DEMO_RUNS:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root" >&2
	exit 1
fi
PAR_PARALLEL=${PAR_PARALLEL:-1}
[ "$PAR_PARALLEL" = 0 ] || command -v parallel >/dev/null ||
	sh "$here/deps.sh" parallel >/dev/null 2>&1

tmp=$(mktemp -d /tmp/berth-bench-par.XXXXXX)
TDIR=$tmp
# the pools' state root on tmpfs, as /run/berth is
state=$(mktemp -d /run/berth-bench-par.XXXXXX)
cgname="berth-bench-par-$$"
# shellcheck source=docker-env.sh
. "$here/bench/docker-env.sh"
cleanup() {
	bench_docker_stop
	rm -rf "$tmp" "$state"
	find /sys/fs/cgroup -depth -type d -name "$cgname" \
		-exec rmdir {} + 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/bin"
cp "$BENCH_WORKER" "$tmp/bin/empty"
cp "$DEMO_WORKER" "$tmp/bin/worker-primes"
ncpu=$(nproc)

# The pools' parent cgroup, made here so that berth keeps it (it removes
# only the parents it makes) and its counter holds every pool's CPU:
# cpu.stat's usage_usec when cgroup v2 is the only hierarchy, else (v1 or
# hybrid) cpuacct.usage. On v1 it sits below our own group in that
# hierarchy, where berth puts a relative --cgroup-parent. On v2 it sits at
# the top (an absolute --cgroup-parent): our own group holds this shell,
# so no group below it can get the controllers the workers need (v2's
# no-internal-process rule; berth would fail with "controller cpuset is
# not enabled"), unless it is the root, as in a VM without systemd.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	cgparent=/$cgname
	cgdir=/sys/fs/cgroup/$cgname
	cgfile=cpu.stat
else
	cgparent=$cgname
	cgdir=/sys/fs/cgroup/cpuacct$(awk -F: '$2 ~ /(^|,)cpuacct(,|$)/ { print $3 }' /proc/self/cgroup)/$cgname
	cgfile=cpuacct.usage
fi
mkdir -p "$cgdir" 2>/dev/null
# cg_ns: the pools' CPU so far, in ns; empty when it cannot be read.
# (%.0f: mawk's %d stops at 2^31-1, 2.1 s of CPU in ns.)
cg_ns() {
	case $cgfile in
	cpu.stat) awk '$1 == "usage_usec" { printf "%.0f\n", $2 * 1000 }' "$cgdir/$cgfile" 2>/dev/null ;;
	*) cat "$cgdir/$cgfile" 2>/dev/null ;;
	esac
}

now() { echo "${EPOCHREALTIME/./}"; }
# per N START END: µs a task
per() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", (b - a) / n }'; }

bp=("$BERTH" --root "$state" par --rootfs "$ROOTFS" --cgroup-parent "$cgparent")

# measure KEY berth|host CMD...: one run of CMD under bench-cpu-split;
# appends "WALL OWN WORKERS" (s) to $tmp/KEY.runs. The workers are the
# pools' cgroup for berth (or, with no counter, the sum of par's own
# summary line), the waited-for children for the others. berth's summary
# goes to $tmp/KEY.err.
measure() {
	local key=$1 kind=$2 c0 c1 wall own kids workers
	shift 2
	c0=$(cg_ns)
	if ! "$BENCH_CPU" "$tmp/one" "$@" 2>"$tmp/$key.err"; then
		echo "bench: $key: $* failed:" >&2
		tail -n 5 "$tmp/$key.err" >&2
		return 1
	fi
	c1=$(cg_ns)
	read -r wall own kids <"$tmp/one"
	workers=$kids
	if [ "$kind" = berth ]; then
		if [ -n "$c0" ] && [ -n "$c1" ]; then
			workers=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
		else
			workers=$(sed -n 's/.*CPU time: berth [0-9.]*s; per worker://p' "$tmp/$key.err" |
				tr ' ' '\n' | sed -n 's/^\([0-9.]*\)s\/[0-9]*$/\1/p' |
				awk '{ s += $1 } END { printf "%.3f", s }')
		fi
	fi
	echo "$wall $own $workers" >>"$tmp/$key.runs"
}

# pick KEY COLUMN: "MEDIAN MIN MAX" of a column of KEY's runs
pick() {
	sort -g -k "$2" "$tmp/$1.runs" | awk -v c="$2" '
		{ v[NR] = $c }
		END { printf "%s %s %s\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

declare -A nsper share
# row KEY LABEL N: the table's line for KEY's runs of N tasks each
row() {
	local key=$1 label=$2 n=$3 wm wlo whi om wk
	read -r wm wlo whi < <(pick "$key" 1)
	read -r om _ _ < <(pick "$key" 2)
	read -r wk _ _ < <(pick "$key" 3)
	nsper[$key]=$(awk -v w="$wm" -v n="$n" 'BEGIN { printf "%.1f", w * 1e9 / n }')
	local range
	range=$(awk -v a="$wlo" -v b="$whi" -v n="$n" 'BEGIN {
		f = b * 1e9 / n >= 1000 ? "%.0f-%.0f" : "%.1f-%.1f"
		printf f, a * 1e9 / n, b * 1e9 / n }')
	share[$key]=$(awk -v o="$om" -v w="$wk" 'BEGIN { if (w > 0) printf "%.1f%%", 100 * o / w; else print "-" }')
	printf '%-34s %9s %10s %17s %8s %8s %9s\n' "$label" "$n" \
		"$(awk -v x="${nsper[$key]}" 'BEGIN { f = x >= 1000 ? "%.0f" : "%.1f"; printf f, x }')" \
		"$range" "$om" "$wk" "${share[$key]}"
}

echo "host: $ncpu CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "workers' CPU from: $( [ -n "$(cg_ns)" ] && echo "$cgdir/$cgfile" || echo "berth par's summary line")"
echo "medians of $RUNS runs (GNU parallel, xargs: of $(((RUNS + 1) / 2))); CPU in s, medians; share: the coordinator's own CPU over the workers'"
printf '%-34s %9s %10s %17s %8s %8s %9s\n' "" "tasks" "ns a task" "range" "own CPU" "workers" "share"

# the queue's floor, in the same run as lib mode
floor=
if [ -n "${BENCH_QUEUE:-}" ]; then
	floor=$("$BENCH_QUEUE" -f -c "$LIB_N" -R "$RUNS")
fi

for ((i = 0; i < RUNS; i++)); do
	measure lib berth "${bp[@]}" --mode lib -v "$tmp/bin:/mnt:ro" --range "1:$LIB_N" -- /mnt/empty >/dev/null
done
row lib "berth par, lib mode" "$LIB_N"

for ((i = 0; i < RUNS; i++)); do
	measure line berth "${bp[@]}" --mode line --range "1:$LINE_N" -- cat >/dev/null
done
row line "berth par, line mode (cat)" "$LINE_N"

for ((i = 0; i < RUNS; i++)); do
	measure exec berth "${bp[@]}" --range "1:$EXEC_N" -- /bin/true >/dev/null
done
row exec "berth par, exec mode (/bin/true)" "$EXEC_N"

seq "$PAR_N" >"$tmp/par.in"
seq "$EXEC_N" >"$tmp/exec.in"
if [ "$PAR_PARALLEL" != 0 ] && command -v parallel >/dev/null; then
	for ((i = 0; i < (RUNS + 1) / 2; i++)); do
		measure parallel host parallel -j "$ncpu" /bin/true <"$tmp/par.in" >/dev/null
	done
	row parallel "GNU parallel (/bin/true)" "$PAR_N"
fi

for ((i = 0; i < (RUNS + 1) / 2; i++)); do
	measure xargs host xargs -P "$ncpu" -n 1 /bin/true <"$tmp/exec.in"
done
row xargs "xargs -P $ncpu (/bin/true)" "$EXEC_N"

# The demo's workload, berth and the host alternately. The host's
# processes are started by a shell (its own CPU is the coordinator's),
# one a CPU, each on a range of blocks: equal ranges, as tests/demo.sh
# runs them; and ranges of equal cost. A block of high numbers costs more
# than one of low numbers (trial division up to the square root), so
# equal ranges leave the first process idle at the end; the cuts of equal
# cost come from the time of each of DEMO_SLICES slices of the blocks,
# run before the runs (cost-cuts.sh).
# shellcheck disable=SC2016 # expanded by the bash that runs it
host_split='
	set -- $bounds
	i=0
	while [ $# -ge 2 ]; do
		"$worker" --local "$1" "$2" >"$out.$i" &
		i=$((i + 1))
		shift
	done
	wait'
equal="0"
per_cpu=$(((DEMO_TASKS + ncpu - 1) / ncpu))
for ((i = 1; i <= ncpu; i++)); do
	equal="$equal $((per_cpu * i > DEMO_TASKS ? DEMO_TASKS : per_cpu * i))"
done
# shellcheck source=cost-cuts.sh
. "$here/bench/cost-cuts.sh"
balanced=$(cost_cuts "$tmp/bin/worker-primes" "$DEMO_TASKS" "$ncpu" "${DEMO_SLICES:-40}" "$tmp/profile")
demo_sum=
for ((i = 0; i < DEMO_RUNS; i++)); do
	measure demo berth "${bp[@]}" --mode lib -v "$tmp/bin:/mnt:ro" \
		--range "0:$((DEMO_TASKS - 1))" -- /mnt/worker-primes >"$tmp/demo.out"
	b=$(awk '{ s += $1 } END { print s + 0 }' "$tmp/demo.out")
	for split in host host_cost; do
		bounds=$equal
		[ "$split" = host_cost ] && bounds=$balanced
		rm -f "$tmp"/split.*
		measure "$split" host env bounds="$bounds" \
			worker="$tmp/bin/worker-primes" out="$tmp/split" bash -c "$host_split"
		h=$(cat "$tmp"/split.* | awk '{ s += $1 } END { print s + 0 }')
		if [ "$b" != "$h" ]; then
			echo "bench: the demo's sums differ: berth $b, $split $h" >&2
		fi
	done
	demo_sum=$b
done
row demo "demo: berth par, lib mode" "$DEMO_TASKS"
row host "demo: host, equal ranges" "$DEMO_TASKS"
row host_cost "demo: host, ranges of equal cost" "$DEMO_TASKS"

DOCKER_OK=0
[ "${PAR_DOCKER:-1}" = 1 ] && bench_docker_start
if [ "$DOCKER_OK" = 1 ]; then
	dk run --rm --network none berth-mini:latest /bin/true >/dev/null 2>&1
	t0=$(now)
	for i in $(seq 20); do dk run --rm --network none berth-mini:latest /bin/true >/dev/null; done
	t1=$(now)
	printf '%-34s %9s %10s\n' "docker run --rm per task" 20 \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 / 20 }')"
	bench_docker_stop
elif [ "${PAR_DOCKER:-1}" = 1 ]; then
	printf '%-34s %s\n' "docker run --rm per task" "(no dockerd could be started here)"
fi

# berth's summary says when the last of the 64 was up
t0=$(now)
"${bp[@]}" -j 64 -- /bin/true ::: 1 >/dev/null 2>"$tmp/64.err"
t1=$(now)
up=$(sed -n 's/.* up in \([0-9]*\) ms.*/\1/p' "$tmp/64.err")
printf '%-34s %12s\n' "64 workers up (from the summary)" "${up:-?} ms"
printf '%-34s %12s\n' "64 workers: start, one task, stop" "$(per 1000 "$t0" "$t1") ms"

echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }'; }
if [ -n "$floor" ]; then
	echo "lib mode: ${nsper[lib]} ns a task, $(ratio "$floor" "${nsper[lib]}")x the queue's floor ($floor ns a task through the raw ring, median of $RUNS runs of $LIB_N)"
else
	echo "lib mode: ${nsper[lib]} ns a task (BENCH_QUEUE unset: no floor)"
fi
echo "line mode: $(awk -v n="${nsper[line]}" 'BEGIN { printf "%.2f", n / 1000 }') µs a task (goal: at most 5)"
[ -n "${nsper[parallel]:-}" ] &&
	echo "exec mode is $(ratio "${nsper[exec]}" "${nsper[parallel]}")x faster a task than GNU parallel"
echo "exec mode against xargs -P: $(ratio "${nsper[exec]}" "${nsper[xargs]}")x"
read -r bm blo bhi < <(pick demo 1)
read -r hm hlo hhi < <(pick host 1)
read -r cm clo chi < <(pick host_cost 1)
echo "demo (primes below $((DEMO_TASKS * 10)): $demo_sum): berth par $bm s ($blo-$bhi); host processes on equal ranges (as make demo) $hm s ($hlo-$hhi), on ranges of equal cost (cut at $balanced) $cm s ($clo-$chi)"
echo "demo: berth par is $(ratio "$hm" "$bm")x the host on equal ranges, $(ratio "$cm" "$bm")x on ranges of equal cost (goal: at most 1.05)"
echo "demo: berth's own CPU is ${share[demo]} of the workers' (goal: at most 5%); the host's shell ${share[host]}"
