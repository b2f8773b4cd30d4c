#!/bin/bash
# par.sh: what a task costs end to end with `berth par`, next to GNU
# parallel, `xargs -P` and one `docker run` per task, on this machine.
# Empty tasks, so that the figure is the overhead alone:
#   - lib mode:  a static libberthworker program that answers at once
#   - line mode: cat, one line in, one line out
#   - exec mode: /bin/true, a fresh process a task
#   - GNU parallel and xargs -P running /bin/true on the host
#   - docker run --rm per task (a sample of 20), where docker is usable
#   - starting 64 workers
# Prints µs per task and the ratios. Reports only: it never fails on a
# timing.
#   make bench-par        (BERTH, ROOTFS and BENCH_WORKER are set)
#   LIB_N=200000 EXEC_N=2000 make bench-par
set -u

: "${BERTH:?set BERTH}" "${ROOTFS:?set ROOTFS}" "${BENCH_WORKER:?set BENCH_WORKER}"
LIB_N=${LIB_N:-1000000}
LINE_N=${LINE_N:-1000000}
EXEC_N=${EXEC_N:-10000}
PAR_N=${PAR_N:-2000}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root" >&2
	exit 1
fi
command -v parallel >/dev/null || sh "$here/deps.sh" parallel >/dev/null 2>&1

tmp=$(mktemp -d /tmp/berth-bench-par.XXXXXX)
TDIR=$tmp
# the pools' state root on tmpfs, as /run/berth is
state=$(mktemp -d /run/berth-bench-par.XXXXXX)
# shellcheck source=docker-env.sh
. "$here/bench/docker-env.sh"
cleanup() {
	bench_docker_stop
	rm -rf "$tmp" "$state"
	find /sys/fs/cgroup -depth -type d -name "berth-bench-par-$$" \
		-exec rmdir {} + 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/bin"
cp "$BENCH_WORKER" "$tmp/bin/empty"

now() { echo "${EPOCHREALTIME/./}"; }
# per N START END: µs a task
per() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", (b - a) / n }'; }

bp() {
	"$BERTH" --root "$state" par --rootfs "$ROOTFS" --quiet \
		--cgroup-parent "berth-bench-par-$$" "$@"
}

declare -A us
row() {
	us[$1]=$2
	printf '%-40s %12s\n' "$1" "$2"
}

echo "host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"
printf '%-40s %12s\n' "" "µs a task"

t0=$(now)
bp --mode lib -v "$tmp/bin:/mnt:ro" --range "1:$LIB_N" -- /mnt/empty >/dev/null
t1=$(now)
row "berth par, lib mode ($LIB_N)" "$(per "$LIB_N" "$t0" "$t1")"

t0=$(now)
bp --mode line --range "1:$LINE_N" -- cat >/dev/null
t1=$(now)
row "berth par, line mode ($LINE_N)" "$(per "$LINE_N" "$t0" "$t1")"

t0=$(now)
bp --range "1:$EXEC_N" -- /bin/true >/dev/null
t1=$(now)
row "berth par, exec mode ($EXEC_N)" "$(per "$EXEC_N" "$t0" "$t1")"

if command -v parallel >/dev/null; then
	t0=$(now)
	seq "$PAR_N" | parallel -j "$(nproc)" /bin/true >/dev/null 2>&1
	t1=$(now)
	row "GNU parallel ($PAR_N)" "$(per "$PAR_N" "$t0" "$t1")"
fi

t0=$(now)
seq "$EXEC_N" | xargs -P "$(nproc)" -n 1 /bin/true
t1=$(now)
row "xargs -P, no container ($EXEC_N)" "$(per "$EXEC_N" "$t0" "$t1")"

bench_docker_start
if [ "$DOCKER_OK" = 1 ]; then
	dk run --rm --network none berth-mini:latest /bin/true >/dev/null 2>&1
	t0=$(now)
	for i in $(seq 20); do dk run --rm --network none berth-mini:latest /bin/true >/dev/null; done
	t1=$(now)
	row "docker run --rm per task (20)" "$(per 20 "$t0" "$t1")"
	bench_docker_stop
else
	printf '%-40s %12s\n' "docker run --rm per task" "(no dockerd could be started here)"
fi

# berth's summary says when the last of the 64 was up
t0=$(now)
"$BERTH" --root "$state" par --rootfs "$ROOTFS" --cgroup-parent "berth-bench-par-$$" \
	-j 64 -- /bin/true ::: 1 >/dev/null 2>"$tmp/64.err"
t1=$(now)
up=$(sed -n 's/.* up in \([0-9]*\) ms.*/\1/p' "$tmp/64.err")
printf '%-40s %12s\n' "64 workers up (from the summary)" "${up:-?} ms"
printf '%-40s %12s\n' "64 workers: start, one task, stop" "$(per 1000 "$t0" "$t1") ms"

echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.1fx", b / a; else print "-" }'; }
exec_us=${us["berth par, exec mode ($EXEC_N)"]}
[ -n "${us["GNU parallel ($PAR_N)"]:-}" ] &&
	echo "exec mode is $(ratio "$exec_us" "${us["GNU parallel ($PAR_N)"]}") faster than GNU parallel a task"
echo "exec mode against xargs -P: $(ratio "$exec_us" "${us["xargs -P, no container ($EXEC_N)"]}")"
[ -n "${us["docker run --rm per task (20)"]:-}" ] &&
	echo "exec mode is $(ratio "$exec_us" "${us["docker run --rm per task (20)"]}") faster than docker run a task"
