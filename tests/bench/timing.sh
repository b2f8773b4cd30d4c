# timing.sh: helpers for the benchmark scripts that time whole commands.
# shellcheck shell=bash
# Sourced; prints figures only (a benchmark never fails on a timing).

# now: the wall clock in µs.
now() { echo "${EPOCHREALTIME/./}"; }

# timed CMD...: runs CMD once with its output discarded and prints the
# time it took in µs; fails (printing nothing) when CMD fails, so that a
# failed run never counts as a fast one.
timed() {
	local t0 t1
	t0=$(now)
	"$@" >/dev/null 2>>"${TIMED_ERR:-/dev/null}" </dev/null || return 1
	t1=$(now)
	echo $((t1 - t0))
}

# median_ms: the median of the µs samples on stdin, in ms ("" when there
# is none).
median_ms() {
	sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f", m / 1000 }'
}

# ratio A B: A / B as "0.25x", or "-" when either is missing.
ratio() {
	awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {
		if (a != "" && b != "" && b > 0) printf "%.2fx", a / b; else print "-" }'
}

# row LABEL BERTH_MS OTHER_MS GOAL: one line of a berth-against-anchor table.
row() {
	printf '%-46s %10s %10s %8s  %s\n' "$1" "${2:--}" "${3:--}" \
		"$(ratio "${2:-}" "${3:-}")" "${4:-}"
}
row_head() {
	printf '%-46s %10s %10s %8s  %s\n' "" "berth ms" "docker ms" ratio goal
}
