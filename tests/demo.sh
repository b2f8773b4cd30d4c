#!/bin/bash
# demo.sh: berth's main job on the demo's image (make demo).
#   BERTH, ROOTFS and HOST_WORKER are set by the Makefile.
#
# 0. `berth build` makes the image, berth-demo:latest, from
#    examples/Dockerfile: the busybox rootfs (imported as its base, nothing
#    downloaded) and the worker.
# 1. `berth launch` runs one container from the image, as docker run would.
# 2. `berth par` starts one pinned worker container per allowed CPU from
#    the same image and feeds them a million tasks through shared memory
#    (lib mode): each task counts the primes in a block of ten numbers, so
#    the sum is pi(10,000,000) = 664579.
# 3. The same work on the host, one plain process per CPU and no
#    container, for comparison: on equal ranges of blocks, then on ranges
#    of equal cost (the blocks of high numbers cost more; the cuts come
#    from timing slices of the blocks first, tests/bench/cost-cuts.sh).
#    The table shows the walls, the workers' CPU and berth's own (the
#    coordinator's, from par's summary line), against the goals of at
#    most 1.05x the host and 5% of the workers' CPU.
# Everything goes in a temporary state root, store and cgroup, removed at
# the end. DEMO_TASKS (default 1000000) changes the number of tasks.
set -euo pipefail

: "${BERTH:?set BERTH to the berth binary}"
: "${ROOTFS:?set ROOTFS to the busybox rootfs (build/rootfs)}"
: "${HOST_WORKER:?set HOST_WORKER to the static build of worker-primes}"
if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (containers need it)" >&2
	exit 1
fi
tasks=${DEMO_TASKS:-1000000}
dockerfile=$(cd "$(dirname "$0")/../examples" && pwd)/Dockerfile
image=berth-demo:latest

tmp=$(mktemp -d /tmp/berth-demo.XXXXXX)
cleanup() {
	for id in $("$BERTH" --root "$tmp/state" list -q 2>/dev/null); do
		"$BERTH" --root "$tmp/state" delete --force "$id" >/dev/null 2>&1
	done
	rm -rf "$tmp"
	find /sys/fs/cgroup -depth -type d -name berth-demo \
		-exec rmdir {} + 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

b() { "$BERTH" --root "$tmp/state" "$@"; }

# A context of its own, the worker alone: berth build reads and hashes
# what it copies from there.
echo "== berth build: $image from examples/Dockerfile, no daemon"
b image import --store "$tmp/store" "$ROOTFS" berth-demo-base:latest >/dev/null
mkdir "$tmp/context"
cp "$HOST_WORKER" "$tmp/context/worker-primes"
echo "\$ berth build -t $image -f examples/Dockerfile CONTEXT"
b build --store "$tmp/store" --cgroup-parent berth-demo --network none \
	-t "$image" -f "$dockerfile" "$tmp/context" >/dev/null
echo

echo "== berth launch: one container from $image, no daemon"
echo "\$ berth launch --rm $image sh -c '...'"
b launch --rm --store "$tmp/store" --cgroup-parent berth-demo "$image" sh -c '
	echo "  hostname:  $(hostname)"
	echo "  pid:       $$ (pid 1 of its own pid namespace)"
	echo "  network:   $(ls /sys/class/net | tr "\n" " ")"
	echo "  root:      $(awk "\$5 == \"/\" { print \$9 }" /proc/self/mountinfo) (the image layers, shared)"
	echo "  seccomp:   mode $(awk "/^Seccomp:/ { print \$2 }" /proc/self/status), no_new_privs $(awk "/^NoNewPrivs:/ { print \$2 }" /proc/self/status)"'
echo

ncpu=$(nproc)
echo "== berth par: $tasks tasks in lib mode, one pinned worker container per CPU ($ncpu)"
echo "\$ berth par --image $image --mode lib --range 0:$((tasks - 1)) -- /usr/bin/worker-primes"
t0=$(now_ns)
b par --image "$image" --store "$tmp/store" --cgroup-parent berth-demo \
	--mode lib --range "0:$((tasks - 1))" -- /usr/bin/worker-primes \
	>"$tmp/results" 2>"$tmp/par.err" || { cat "$tmp/par.err" >&2; exit 1; }
t1=$(now_ns)
cat "$tmp/par.err"
# par's summary: "CPU time: berth Xs; per worker: w0@CPU Ys/TASKS ...",
# berth's own (the coordinator) and each worker container's
berth_cpu=$(sed -n 's/.*CPU time: berth \([0-9.]*\)s;.*/\1/p' "$tmp/par.err")
work_cpu=$(sed -n 's/.*per worker://p' "$tmp/par.err" | tr ' ' '\n' |
	sed -n 's/^\([0-9.]*\)s\/[0-9]*$/\1/p' | awk '{ s += $1 } END { printf "%.2f", s }')
par_sum=$(awk '{ s += $1 } END { print s + 0 }' "$tmp/results")
par_n=$(wc -l <"$tmp/results")
echo

echo "== the same work on the host: $ncpu plain processes, no container, no queue"
# kids_cpu VAR: the CPU of the processes this shell has waited for, in s,
# into VAR (the second line of `times`, which a subshell would not see)
kids_cpu() {
	times >"$tmp/times"
	printf -v "$1" '%s' "$(awk 'NR == 2 { for (i = 1; i <= 2; i++) {
		split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] }
		printf "%.2f", s }' "$tmp/times")"
}
# host BOUNDS NAME: the host's processes on the ranges BOUNDS ("0 C1 ...
# TASKS"); sets NAME_s (wall), NAME_cpu and NAME_sum
host() {
	local b0 b1 ta tb i=0 name=$2
	kids_cpu b0
	ta=$(now_ns)
	# shellcheck disable=SC2086 # the bounds, one word each
	set -- $1
	while [ $# -ge 2 ]; do
		"$HOST_WORKER" --local "$1" "$2" >"$tmp/host.$i" &
		i=$((i + 1))
		shift
	done
	wait
	tb=$(now_ns)
	kids_cpu b1
	printf -v "${name}_s" '%s' "$(secs "$ta" "$tb")"
	printf -v "${name}_cpu" '%s' "$(awk -v a="$b0" -v b="$b1" 'BEGIN { printf "%.2f", b - a }')"
	printf -v "${name}_sum" '%s' "$(cat "$tmp"/host.* | awk '{ s += $1 } END { print s + 0 }')"
	rm -f "$tmp"/host.*
}
host_s='' host_cpu='' host_sum='' cost_s='' cost_cpu='' cost_sum=''
per=$(((tasks + ncpu - 1) / ncpu))
equal=0
for ((i = 1; i <= ncpu; i++)); do
	equal="$equal $((per * i > tasks ? tasks : per * i))"
done
host "$equal" host
# shellcheck source=bench/cost-cuts.sh
. "$(dirname "$0")/bench/cost-cuts.sh"
cuts=$(cost_cuts "$HOST_WORKER" "$tasks" "$ncpu" 40 "$tmp/profile")
host "$cuts" cost
par_s=$(secs "$t0" "$t1")
echo
printf '%-34s %12s %10s %12s %12s\n' "" "primes" "wall (s)" "workers' CPU" "berth's CPU"
printf '%-34s %12s %10s %12s %12s\n' "berth par ($par_n tasks)" "$par_sum" "$par_s" \
	"${work_cpu:-?} s" "${berth_cpu:-?} s"
printf '%-34s %12s %10s %12s %12s\n' "host, equal ranges" "$host_sum" "$host_s" \
	"$host_cpu s" "-"
printf '%-34s %12s %10s %12s %12s\n' "host, ranges of equal cost" "$cost_sum" "$cost_s" \
	"$cost_cpu s" "-"
echo "(ranges of equal cost: $cuts)"
awk -v p="$par_s" -v h="$host_s" -v c="$cost_s" -v n="$tasks" 'BEGIN {
	printf "berth costs %.2fx the host on equal ranges, %.2fx on ranges of equal cost (goal: at most 1.05x)\n", p / h, p / c
	printf "%.2f us a task over the better host split for %d isolated workers\n",
		(p - (h < c ? h : c)) * 1e6 / n, '"$ncpu"' }'
if [ -n "${berth_cpu:-}" ] && [ -n "${work_cpu:-}" ]; then
	share=$(awk -v b="$berth_cpu" -v w="$work_cpu" 'BEGIN { if (w > 0) printf "%.1f", 100 * b / w; else print "-" }')
	echo "berth's own CPU is $share% of its workers' (goal: at most 5%)"
fi
if [ "$par_sum" != "$host_sum" ] || [ "$par_sum" != "$cost_sum" ] || [ "$par_n" != "$tasks" ]; then
	echo "demo: berth par and the host disagree" >&2
	exit 1
fi
