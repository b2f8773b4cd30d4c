#!/bin/sh
# run.sh SECONDS [merge] FUZZER...: each libFuzzer target for SECONDS on
# the corpus the repository keeps (tests/fuzz/corpus-NAME, for
# build/fuzz/fuzz-NAME). New inputs go to a temporary directory, never into
# the source tree; with "merge", the inputs that reach new code are added
# to the repository's corpus instead (make fuzz-merge). A crash, leak or
# time-out stops the run with the target's report and exit 1.
set -u
secs=$1
shift
merge=
[ "${1:-}" = merge ] && merge=1 && shift
dir=$(cd "$(dirname "$0")" && pwd)
status=0
for bin in "$@"; do
	name=$(basename "$bin")
	corpus=$dir/corpus-${name#fuzz-}
	mkdir -p "$corpus"
	tmp=$(mktemp -d /tmp/berth-fuzz.XXXXXX)
	if ! "$bin" -max_total_time="$secs" -max_len=16384 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=0 \
		-artifact_prefix="$tmp/" "$tmp" "$corpus" >"$tmp/log" 2>&1; then
		echo "FUZZ $name: failed"
		grep -E 'ERROR|SUMMARY|==[0-9]+==|#[0-9]+ in' "$tmp/log" | head -n 30
		ls "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* 2>/dev/null |
			while read -r a; do
				echo "input (base64):"
				base64 "$a" | head -c 2000
				echo
			done
		status=1
	else
		runs=$(grep -oE '#[0-9]+' "$tmp/log" | tail -n 1)
		cov=$(grep -oE 'cov: [0-9]+' "$tmp/log" | tail -n 1)
		echo "FUZZ $name: ok, ${runs#\#} runs in ${secs}s, $cov, corpus $(ls "$corpus" | wc -l) + $(ls "$tmp" | grep -vc '^log$') new"
		if [ -n "$merge" ]; then
			"$bin" -merge=1 "$corpus" "$tmp" >/dev/null 2>&1 ||
				echo "FUZZ $name: merge failed"
		fi
	fi
	rm -rf "$tmp"
done
exit "$status"
