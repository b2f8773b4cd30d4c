#!/bin/bash
# run.sh [PATTERN...]: runs the integration tests, every t_<name> function of
# every tests/integration/test-*.sh, each in a fresh bash with a time limit,
# and prints "PASS name", "FAIL name: reason" or "SKIP name: reason", then
# "N passed, N failed[, N skipped]". A PATTERN (shell glob) selects tests by
# name or file name. Exits 1 when a test failed.
#
#   BERTH=/abs/berth ROOTFS=/abs/rootfs bash tests/integration/run.sh
#   BERTH=/usr/sbin/runc ... (the tests are checked against runc too)
#   IT_VERBOSE=1 prints every test's log; IT_KEEP_LOGS=1 keeps them.
#   IT_TIMEOUT (30 s) limits one test, IT_BUDGET (600 s) the whole run:
#   tests not started by then fail as not run.
set -u
dir=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" != 0 ]; then
	echo "integration tests need root" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
for v in BERTH ROOTFS; do
	if [ -z "${!v:-}" ]; then
		echo "run.sh: set $v (make check-integration does)" >&2
		exit 2
	fi
done
case "$BERTH" in /*) ;; *) BERTH=$(command -v "$BERTH") || exit 2 ;; esac
if ! [ -x "$BERTH" ] || ! [ -x "$ROOTFS/probe" ]; then
	echo "run.sh: $BERTH or $ROOTFS/probe missing" >&2
	exit 2
fi
# jq edits the configs; it is one of the packages `make deps` installs.
if ! command -v jq >/dev/null; then
	sh "$dir/../deps.sh" jq || exit 2
fi

IT_IS_BERTH=0
"$BERTH" --version 2>/dev/null | head -n 1 | grep -q '^berth version' &&
	IT_IS_BERTH=1
export BERTH ROOTFS IT_IS_BERTH

logs=$(mktemp -d /tmp/berth-itlogs.XXXXXX)
trap 'rm -rf "$logs"' EXIT
[ -n "${IT_KEEP_LOGS:-}" ] && trap - EXIT && echo "logs in $logs"

selected() {
	local name=$1 file=$2 p
	[ $# -ge 2 ] || return 0
	[ ${#patterns[@]} -eq 0 ] && return 0
	for p in "${patterns[@]}"; do
		# shellcheck disable=SC2053
		[[ $name == $p || $file == $p || ${name#t_} == $p ]] && return 0
	done
	return 1
}
patterns=("$@")

# The tests share one rootfs that containers get read-only: the runtime
# must not write into it either (a mount point, a device node).
rootfs_print() {
	(cd "$ROOTFS" && find . -path ./.stamp -prune -o \
		-printf '%p %y %m %U:%G %s %T@\n' | sort)
}
rootfs_before=$(rootfs_print)

passed=0 failed=0 skipped=0 n=0
# Stopped by a signal, the run finishes the test at hand, its clean-up
# included (the test's wrapper ignores the signal until then), and stops.
interrupted=
trap 'interrupted=1' TERM INT HUP
echo "integration: $BERTH ($("$BERTH" --version 2>/dev/null | head -n 1))"
for file in "$dir"/test-*.sh; do
	base=$(basename "$file" .sh)
	for t in $(sed -n 's/^\(t_[A-Za-z0-9_]*\)[[:space:]]*()[[:space:]]*{.*/\1/p' "$file"); do
		selected "$t" "$base" || continue
		[ -z "$interrupted" ] || break 2
		n=$((n + 1))
		name=${t#t_}
		if [ $SECONDS -ge "${IT_BUDGET:-600}" ]; then
			failed=$((failed + 1))
			echo "FAIL $name: not run, the suite's time budget (${IT_BUDGET:-600} s) is used up"
			continue
		fi
		log=$logs/$name.log
		reason=$logs/$name.reason
		: >"$reason"
		rm -f "$reason.trace"
		start=$(date +%s%N)
		IT_TOKEN="bt$$x$n" IT_REASON=$reason IT_FILE=$file IT_TEST=$t \
			bash -c '
			trap "echo interrupted >>\"\$IT_REASON\"" TERM INT HUP
			source "$0/lib.sh"
			source "$IT_FILE"
			it_setup
			timeout -k "${IT_KILL_AFTER:-5}" "${IT_TIMEOUT:-30}" bash -c "
				source \"$0/lib.sh\"; source \"\$IT_FILE\"
				it_body \"\$IT_TEST\"" </dev/null
			rc=$?
			[ $rc = 124 ] || [ $rc = 137 ] &&
				echo "timed out after ${IT_TIMEOUT:-30} s" >>"$IT_REASON"
			it_cleanup || rc=1
			exit $rc' "$dir" </dev/null >"$log" 2>&1
		rc=$?
		ms=$((($(date +%s%N) - start) / 1000000))
		why=$(sed -n 1p "$reason")
		if [ $rc = 0 ]; then
			passed=$((passed + 1))
			echo "PASS $name (${ms} ms)"
		elif [ $rc = 77 ]; then
			skipped=$((skipped + 1))
			echo "SKIP $name: $why"
		else
			failed=$((failed + 1))
			[ -n "$why" ] || why="exit $rc: $(tail -n 1 "$log")"
			echo "FAIL $name: $why"
			sed -n '2,$s/^/    /p' "$reason"
			case "$why" in
			"timed out"*)
				echo "    last steps:"
				grep -v '^++* \(local\|\[\|sleep\|n=\|status_of\|grep -q\)' \
					"$reason.trace" | tail -n 6 | cut -c1-160 | sed 's/^+* */    + /'
				;;
			esac
		fi
		if [ -n "${IT_VERBOSE:-}" ] || { [ $rc != 0 ] && [ $rc != 77 ]; }; then
			tail -n 25 "$log" | sed 's/^/    | /'
		fi
	done
done

if [ ${#patterns[@]} -eq 0 ] || [ $n -gt 0 ]; then
	changed=$(diff <(echo "$rootfs_before") <(rootfs_print) | grep '^[<>]' | head -n 5)
	if [ -n "$changed" ]; then
		failed=$((failed + 1))
		echo "FAIL shared_rootfs_unchanged: the runtime wrote into $ROOTFS"
		sed 's/^/    /' <<<"$changed"
	else
		passed=$((passed + 1))
		echo "PASS shared_rootfs_unchanged"
	fi
fi

if [ -n "$interrupted" ]; then
	failed=$((failed + 1))
	echo "FAIL interrupted: stopped by a signal after $n tests"
fi
if [ $skipped -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ $failed = 0 ]
