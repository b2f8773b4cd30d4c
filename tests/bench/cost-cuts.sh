# shellcheck shell=bash
# cost-cuts.sh: sourced by tests/demo.sh and tests/bench/par.sh.
# cost_cuts WORKER TASKS NCPU SLICES FILE: prints "0 C1 ... TASKS", the
# bounds of NCPU ranges of worker-primes' blocks 0..TASKS-1 of equal cost
# (a block of high numbers costs more than one of low numbers: trial
# division goes up to the square root). The cost comes from the time of
# each of SLICES equal slices of the blocks, `WORKER --local LO HI` run
# NCPU at a time (slice s by the loop s mod NCPU), written to FILE as "LO
# HI µs"; a cut falls inside a slice in proportion to its cost.
cost_cuts() {
	local worker=$1 tasks=$2 ncpu=$3 slices=$4 file=$5 j
	for ((j = 0; j < ncpu; j++)); do
		(
			for ((s = j; s < slices; s += ncpu)); do
				lo=$((s * tasks / slices))
				hi=$(((s + 1) * tasks / slices))
				t0=${EPOCHREALTIME/./}
				"$worker" --local "$lo" "$hi" >/dev/null
				t1=${EPOCHREALTIME/./}
				echo "$lo $hi $((t1 - t0))"
			done >"$file.$j"
		) &
	done
	wait
	sort -n "$file".* >"$file"
	rm -f "$file".*
	awk -v n="$ncpu" -v end="$tasks" '
		{ lo[NR] = $1; hi[NR] = $2; c[NR] = $3; tot += $3 }
		END {
			printf "0"
			k = 1
			for (p = 1; p < n; p++) {
				target = tot * p / n
				while (acc + c[k] < target) acc += c[k++]
				printf " %d", lo[k] + (hi[k] - lo[k]) * (target - acc) / c[k]
			}
			printf " %d\n", end
		}' "$file"
}
