#!/bin/bash
# dist.sh: the task queue's microbenchmark. Runs bench-queue, which pins
# two processes to the first two CPUs this process may use and prints, in
# ns per task: a cache line ping-pong between them, the raw task ring, and
# empty tasks through the full API (dq_* + bw_*) with 1..W workers as
# processes and as threads (lib mode, no containers), and chunked
# dispatch (dq_submit_chunk, bw_next/bw_done, dq_collect_many) over
# CHUNK_N tasks, the median of CHUNK_RUNS runs, against the raw ring
# measured again over as many; then tests/bench/par.sh, the whole of
# `berth par` against GNU parallel, xargs -P, host processes and docker
# run. Reports only: it never fails on a timing.
#   make bench-dist                 (BENCH_QUEUE is set by the Makefile)
#   N=200000 W=4 CHUNK_N=1000000 CHUNK_RUNS=3 make bench-dist
set -u

: "${BENCH_QUEUE:?set BENCH_QUEUE}"
N=${N:-1000000}
W=${W:-2}
CHUNK_N=${CHUNK_N:-10000000}
CHUNK_RUNS=${CHUNK_RUNS:-5}
echo "host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BENCH_QUEUE" -n "$N" -w "$W" -c "$CHUNK_N" -R "$CHUNK_RUNS"
# then berth par end to end against GNU parallel, xargs -P and docker run
if [ -n "${BERTH:-}" ] && [ -n "${ROOTFS:-}" ] && [ -n "${BENCH_WORKER:-}" ] &&
	[ -n "${BENCH_CPU:-}" ] && [ -n "${DEMO_WORKER:-}" ]; then
	echo
	bash "$(dirname "$0")/par.sh"
fi
