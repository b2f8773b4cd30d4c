#!/bin/sh
# Runs each unit-test binary and prints the totals as the CI reads them.
passed=0 failed=0 skipped=0 rc=0
for t in "$@"; do
	echo "== $(basename "$t")"
	out=$("$t" 2>&1); r=$?
	echo "$out" | grep -v '^[0-9]* passed, ' 
	line=$(echo "$out" | grep '^[0-9]* passed, ' | tail -n 1)
	if [ -z "$line" ]; then
		echo "FAIL $(basename "$t") (no summary, exit $r)"; failed=$((failed + 1)); rc=1; continue
	fi
	p=$(echo "$line" | sed 's/^\([0-9]*\) passed.*/\1/')
	f=$(echo "$line" | sed 's/.* \([0-9]*\) failed.*/\1/')
	s=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
	[ "$r" = 0 ] || rc=1
done
echo "unit: $passed passed, $failed failed, $skipped skipped"
exit $rc
