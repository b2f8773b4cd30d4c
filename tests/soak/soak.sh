#!/bin/bash
# soak.sh: berth over a long run, checked for leaks (make soak; not in CI).
#   BERTH, ROOTFS and DEMO_IMAGE are set by the Makefile.
#
# 1. SOAK_RUNS (10000) sequential `berth run`s of /bin/true;
# 2. SOAK_LAUNCHES (1000) sequential `berth launch --rm`s from the demo
#    image;
# 3. `berth par` for SOAK_PAR_SECONDS (600) over a range of tasks while a
#    worker container is killed at random every 0.2-1.2 s: every task must
#    come out exactly once, with status 0.
#
# After every SOAK_EVERY (1000) containers it prints what berth could leak:
# processes and cgroups below the soak's cgroup parent, mounts of its
# directories, state directories, the store's container directories, and
# the host's allocated file handles and network namespaces. At the end
# the counts that berth alone owns must be what they were at the start,
# and the host-wide ones within a small margin (other work on the host
# moves them). Exits 1 on a leak or a lost or doubled task.
set -uo pipefail

: "${BERTH:?set BERTH}" "${ROOTFS:?set ROOTFS}" "${DEMO_IMAGE:?set DEMO_IMAGE}"
[ "$(id -u)" = 0 ] || {
	echo "soak: run as root" >&2
	exit 1
}
runs=${SOAK_RUNS:-10000}
launches=${SOAK_LAUNCHES:-1000}
par_secs=${SOAK_PAR_SECONDS:-600}
every=${SOAK_EVERY:-1000}

tmp=$(mktemp -d /tmp/berth-soak.XXXXXX)
cg=berth-soak-$$
root=$tmp/state
store=$tmp/store
failed=0
cleanup() {
	[ -n "${killer:-}" ] && kill "$killer" 2>/dev/null
	for id in $("$BERTH" --root "$root" list -q 2>/dev/null); do
		"$BERTH" --root "$root" delete --force "$id" >/dev/null 2>&1
	done
	rm -rf "$tmp"
	find /sys/fs/cgroup -depth -type d -name "$cg" -exec rmdir {} + 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

b() { "$BERTH" --root "$root" "$@"; }

# counts: "procs cgroups mounts states containers | file-handles netns"
counts() {
	local procs cgroups mounts states ctrs fh netns
	procs=$(grep -l "$cg" /proc/[0-9]*/cgroup 2>/dev/null | wc -l)
	cgroups=$(find /sys/fs/cgroup -type d -path "*/$cg*" 2>/dev/null | wc -l)
	mounts=$(grep -c "$tmp" /proc/self/mountinfo)
	# .containers stays, empty, once launched containers' records went
	states=$(($(find "$root" -mindepth 1 -maxdepth 1 ! -name .cache \
		! -name .containers 2>/dev/null | wc -l) +
		$(find "$root/.containers" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)))
	ctrs=$(find "$store/containers" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	fh=$(cut -f 1 /proc/sys/fs/file-nr)
	netns=$(lsns -n -t net 2>/dev/null | wc -l)
	echo "$procs $cgroups $mounts $states $ctrs | $fh $netns"
}

report() {
	printf '%-28s procs %s cgroups %s mounts %s states %s containers %s | file handles %s netns %s\n' \
		"$1" $(counts | tr -d '|')
}

# flat BEFORE AFTER WHAT: berth's own counts equal, host-wide ones within
# 200 file handles and 2 network namespaces.
flat() {
	local a b
	read -ra a <<<"${1//|/}"
	read -ra b <<<"${2//|/}"
	if [ "${a[*]:0:5}" != "${b[*]:0:5}" ] ||
		[ $((b[5] - a[5])) -gt 200 ] || [ $((b[6] - a[6])) -gt 2 ]; then
		echo "LEAK after $3: before [$1] after [$2]"
		failed=1
	fi
}

settle() { sleep 2; }

mkdir -p "$root" "$tmp/bundle"
(cd "$tmp/bundle" && "$BERTH" spec) || exit 1
jq --arg r "$ROOTFS" --arg cg "$cg/c" '.root = {path: $r, readonly: true}
	| .process.terminal = false | .process.args = ["/bin/true"]
	| .linux.cgroupsPath = $cg' "$tmp/bundle/config.json" >"$tmp/c.json" &&
	mv "$tmp/c.json" "$tmp/bundle/config.json"

echo "== $runs sequential berth run"
base=$(counts)
report start
t0=$SECONDS
for i in $(seq 1 "$runs"); do
	if ! b run --bundle "$tmp/bundle" "soak-$i" </dev/null >/dev/null 2>"$tmp/err"; then
		echo "run $i failed: $(tail -n 1 "$tmp/err")"
		failed=1
	fi
	[ $((i % every)) = 0 ] && report "after $i runs"
done
settle
end=$(counts)
report "runs done ($((SECONDS - t0)) s)"
flat "$base" "$end" "$runs runs"

echo "== $launches sequential berth launch --rm"
b image load --store "$store" "$DEMO_IMAGE" >/dev/null || exit 1
base=$(counts)
t0=$SECONDS
for i in $(seq 1 "$launches"); do
	if ! b launch --rm --store "$store" --cgroup-parent "$cg" "$DEMO_IMAGE" \
		/bin/true </dev/null >/dev/null 2>"$tmp/err"; then
		echo "launch $i failed: $(tail -n 1 "$tmp/err")"
		failed=1
	fi
	[ $((i % every)) = 0 ] && report "after $i launches"
done
settle
end=$(counts)
report "launches done ($((SECONDS - t0)) s)"
flat "$base" "$end" "$launches launches"

echo "== berth par for ${par_secs} s with random worker kills"
base=$(counts)
# Tasks of 0-8 ms: more of them than the time given runs, so that the
# run ends by ^C (berth finishes the running tasks and stops).
ntasks=$((par_secs * 5000))
# berth itself in the background (not the function b): the timer's
# SIGINT must reach it, not a subshell
"$BERTH" --root "$root" par --rootfs "$ROOTFS" --cgroup-parent "$cg" --quiet \
	--retries 1000 --results "$tmp/r.jsonl" --range "1:$ntasks" \
	-- sh -c 'sleep 0.00$((RANDOM % 9)); echo $1' sh \
	>"$tmp/par.out" 2>"$tmp/par.err" &
par=$!
kills=0
(
	while kill -0 "$par" 2>/dev/null; do
		sleep "0.$((RANDOM % 9 + 1))"
		pool=$(ls "$root" 2>/dev/null | grep -vx .cache | head -n 1)
		[ -n "$pool" ] || continue
		ids=($("$BERTH" --root "$root/$pool" list -q 2>/dev/null))
		[ ${#ids[@]} -gt 0 ] || continue
		"$BERTH" --root "$root/$pool" kill "${ids[RANDOM % ${#ids[@]}]}" KILL \
			2>/dev/null && echo kill
	done >"$tmp/kills"
) &
killer=$!
( sleep "$par_secs"; kill -INT "$par" 2>/dev/null ) &
timer=$!
wait "$par"
rc=$?
kill "$timer" 2>/dev/null
wait "$killer" 2>/dev/null
killer=
kills=$(wc -l <"$tmp/kills")
settle
end=$(counts)
done_tasks=$(wc -l <"$tmp/par.out")
distinct=$(sort -u "$tmp/par.out" | wc -l)
records=$(wc -l <"$tmp/r.jsonl")
recorded=$(jq -r .seq "$tmp/r.jsonl" 2>/dev/null | sort -u | wc -l)
nonzero=$(jq -r 'select(.exit != 0 or .signal != 0) | .seq' "$tmp/r.jsonl" 2>/dev/null | wc -l)
echo "par: exit $rc, $done_tasks tasks printed ($distinct distinct), $records results ($recorded tasks), $nonzero failed, $kills worker kills"
report "par done"
[ "$done_tasks" = "$distinct" ] || {
	echo "DOUBLED: $((done_tasks - distinct)) tasks printed twice"
	failed=1
}
[ "$done_tasks" = "$recorded" ] && [ "$records" = "$recorded" ] || {
	echo "LOST or DOUBLED: $done_tasks printed, $records results of $recorded tasks"
	failed=1
}
[ "$nonzero" = 0 ] || {
	echo "FAILED tasks: $nonzero"
	failed=1
}
flat "$base" "$end" "par with kills"

[ "$failed" = 0 ] && echo "soak: no leak, nothing lost or doubled" ||
	echo "soak: FAILED"
exit "$failed"
