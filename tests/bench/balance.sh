#!/bin/bash
# balance.sh: how `berth par`'s chunks divide work that is not uniform,
# against the best static split of the same work on the host. Two cases,
# each on the first two CPUs this shell may use, one worker a CPU:
#   1. uneven tasks: task I costs work proportional to I mod 1000
#      (tests/bench/bw-spin.c), both CPUs free. The anchor: two host
#      processes pinned one a CPU, the range cut where the work halves.
#   2. the same tasks on workers of different speed: a busy loop pinned
#      to the second CPU takes about half of it. The anchor: the range cut
#      in proportion to the two CPUs' speeds, as two static runs under the
#      same load measured them (each cut from the one before, starting
#      from the half); the ideal, the work divided by the sum of the
#      speeds each run of the anchor showed, is printed too.
# The busy loop, the anchor's processes and berth's pool sit in sibling
# cgroups of one parent this script makes (in the cpu controller's
# hierarchy, v1 or v2), so that the busy loop takes the same share of the
# CPU from a worker as from an anchor process. Prints the medians of RUNS
# runs, their ranges and berth's wall over the anchor's (the goal is at
# most 1.10). Reports only: it never fails on a timing.
#   make bench-balance        (BERTH, ROOTFS and BENCH_SPIN are set)
#   BAL_N=200000 SPIN_UNIT=10 RUNS=3 make bench-balance
set -u

: "${BERTH:?set BERTH}" "${ROOTFS:?set ROOTFS}" "${BENCH_SPIN:?set BENCH_SPIN}"
RUNS=${RUNS:-3}
BAL_N=${BAL_N:-400000}
SPIN_UNIT=${SPIN_UNIT:-10}
export SPIN_UNIT
if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root" >&2
	exit 1
fi

# the first two allowed CPUs, from the kernel's list ("0-3,8")
cpus=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status |
	tr ',' '\n' | awk -F- '{ for (c = $1; c <= ($2 == "" ? $1 : $2); c++) print c }' | head -n 2)
cpu0=$(echo "$cpus" | sed -n 1p)
cpu1=$(echo "$cpus" | sed -n 2p)
if [ -z "$cpu1" ]; then
	echo "bench: balance needs two CPUs" >&2
	exit 0
fi

tmp=$(mktemp -d /tmp/berth-bench-balance.XXXXXX)
state=$(mktemp -d /run/berth-bench-balance.XXXXXX)
cgname="berth-bench-balance-$$"
busy=
cleanup() {
	[ -n "$busy" ] && kill "$busy" 2>/dev/null && wait "$busy" 2>/dev/null
	rm -rf "$tmp" "$state"
	find /sys/fs/cgroup -depth -type d -path "*/$cgname*" \
		-exec rmdir {} + 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/bin"
cp "$BENCH_SPIN" "$tmp/bin/spin"

# The parent in the cpu controller's hierarchy, with busy/ and anchor/
# below it. On v1 it sits below our own group there, where berth puts a
# relative --cgroup-parent. On v2 it sits at the top (an absolute
# --cgroup-parent): our own group holds this shell, so no group below it
# can get controllers (v2's no-internal-process rule: berth would fail
# with "controller cpuset is not enabled", and moving a process into
# busy/ or anchor/ with "Operation not supported"), unless it is the root,
# as in a VM without systemd.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	cgparent=/$cgname
	cgdir=/sys/fs/cgroup/$cgname
	mkdir -p "$cgdir"
	echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
	echo +cpu >"$cgdir/cgroup.subtree_control" 2>/dev/null
else
	cgparent=$cgname
	cgdir=/sys/fs/cgroup/cpu$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ { print $3 }' /proc/self/cgroup)/$cgname
	mkdir -p "$cgdir"
fi
mkdir -p "$cgdir/busy" "$cgdir/anchor"
# into GROUP PID: moves a process into one of the parent's groups (a
# subshell moves itself before it starts the program)
into() { echo "$2" >"$cgdir/$1/cgroup.procs"; }
# without it the anchor's runs would not run at all
if ! (into anchor "$BASHPID"); then
	echo "bench: cannot move a process into $cgdir/anchor" >&2
	exit 1
fi

now() { echo "${EPOCHREALTIME/./}"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b - a) / 1e6 }'; }

# cut_at FRACTION: the first task of the second process, so that the first
# gets FRACTION of the work of tasks 0..BAL_N-1 (a task's work is I mod
# 1000 units)
cut_at() {
	awk -v n="$BAL_N" -v f="$1" 'BEGIN {
		for (i = 0; i < n; i++) total += i % 1000
		for (i = 0; i < n && acc + i % 1000 / 2 < f * total; i++) acc += i % 1000
		print i }'
}

# anchor K: the host's static split, tasks 0..K-1 on the first CPU and
# K..BAL_N-1 on the second; prints the wall and each process's (s)
anchor() {
	local t0 a b
	t0=$(now)
	(into anchor "$BASHPID" && taskset -c "$cpu0" "$tmp/bin/spin" --local 0 "$1" &&
		now >"$tmp/ta") &
	a=$!
	(into anchor "$BASHPID" && taskset -c "$cpu1" "$tmp/bin/spin" --local "$1" "$BAL_N" &&
		now >"$tmp/tb") &
	b=$!
	wait "$a" "$b"
	awk -v t0="$t0" -v ta="$(cat "$tmp/ta")" -v tb="$(cat "$tmp/tb")" 'BEGIN {
		printf "%.3f %.3f %.3f\n", ((ta > tb ? ta : tb) - t0) / 1e6,
			(ta - t0) / 1e6, (tb - t0) / 1e6 }'
}

# speeds K TA TB: the two CPUs' work units a second, from a split at K
# whose processes took TA and TB s
speeds() {
	awk -v n="$BAL_N" -v k="$1" -v ta="$2" -v tb="$3" 'BEGIN {
		for (i = 0; i < n; i++) if (i < k) wa += i % 1000; else wb += i % 1000
		printf "%.0f %.0f\n", wa / ta, wb / tb }'
}

# berth_run: the same tasks in berth par, one worker a CPU; prints the
# wall (s)
berth_run() {
	local t0 t1
	t0=$(now)
	"$BERTH" --root "$state" par --rootfs "$ROOTFS" --cgroup-parent "$cgparent" \
		--cpus "$cpu0,$cpu1" -j 2 --mode lib --quiet -e SPIN_UNIT \
		-v "$tmp/bin:/mnt:ro" --range "0:$((BAL_N - 1))" -- /mnt/spin >/dev/null ||
		echo "bench: berth par failed" >&2
	t1=$(now)
	secs "$t0" "$t1"
}

# med FILE: "MEDIAN MIN MAX" of the numbers in FILE
med() { sort -g "$1" | awk '{ v[NR] = $1 } END { printf "%s %s %s\n", v[int((NR + 1) / 2)], v[1], v[NR] }'; }

echo "host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$BAL_N tasks, task I costs (I mod 1000) x $SPIN_UNIT rounds of a loop; workers on CPUs $cpu0 and $cpu1; medians of $RUNS runs (range)"
printf '%-40s %16s %16s %8s\n' "" "berth par (s)" "static split (s)" "ratio"

report() {
	local label=$1 bm blo bhi am alo ahi
	read -r bm blo bhi < <(med "$tmp/$2.berth")
	read -r am alo ahi < <(med "$tmp/$2.anchor")
	printf '%-40s %16s %16s %8s\n' "$label" "$bm ($blo-$bhi)" "$am ($alo-$ahi)" \
		"$(awk -v b="$bm" -v a="$am" 'BEGIN { printf "%.3f", b / a }')"
}

# 1. uneven tasks, equal CPUs
half=$(cut_at 0.5)
for ((i = 0; i < RUNS; i++)); do
	berth_run >>"$tmp/uneven.berth"
	anchor "$half" | cut -d' ' -f1 >>"$tmp/uneven.anchor"
done
report "uneven tasks (cut at $half)" uneven

# 2. the second CPU shared with a busy loop
(into busy "$BASHPID" && exec taskset -c "$cpu1" sh -c 'while :; do :; done') &
busy=$!
sleep 0.2
# the best static split: from the half, cut again in proportion to the
# speeds each process showed, twice (the busy loop does not change)
k=$half
for ((j = 0; j < 2; j++)); do
	read -r _ ta tb < <(anchor "$k")
	read -r r0 r1 < <(speeds "$k" "$ta" "$tb")
	k=$(cut_at "$(awk -v a="$r0" -v b="$r1" 'BEGIN { print a / (a + b) }')")
done
for ((i = 0; i < RUNS; i++)); do
	berth_run >>"$tmp/slow.berth"
	read -r w ta tb < <(anchor "$k")
	echo "$w" >>"$tmp/slow.anchor"
	read -r r0 r1 < <(speeds "$k" "$ta" "$tb")
	echo "$r0 $r1" >>"$tmp/speeds"
	awk -v n="$BAL_N" -v a="$r0" -v b="$r1" 'BEGIN {
		for (i = 0; i < n; i++) total += i % 1000
		printf "%.3f\n", total / (a + b) }' >>"$tmp/slow.ideal"
done
kill "$busy" 2>/dev/null
wait "$busy" 2>/dev/null
busy=
report "a busy loop on CPU $cpu1 (cut at $k)" slow
read -r im ilo ihi < <(med "$tmp/slow.ideal")
read -r bm _ _ < <(med "$tmp/slow.berth")
echo
echo "the CPUs' speeds in the static split's runs (work units a second, CPU $cpu0 and CPU $cpu1):"
sed 's/^/  /' "$tmp/speeds"
echo "ideal split from those speeds (the work over their sum): $im s ($ilo-$ihi); berth par over it: $(awk -v b="$bm" -v a="$im" 'BEGIN { printf "%.3f", b / a }')"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "goal: berth par within 10% of the best static split (ratio at most 1.10)"
