# lib.sh: helpers for the integration tests (sourced by run.sh and by every
# test-*.sh). A test is a function t_<name> in a test-*.sh file; run.sh runs
# each one in a fresh bash with its own state root, its own temp dir and its
# own cgroup parent, then deletes what the test created and fails the test
# when anything is left behind.
#
# Environment (set by run.sh):
#   BERTH       the runtime under test (absolute path; runc works too)
#   ROOTFS      the shared busybox rootfs (absolute path, never written)
#   IT_TOKEN    unique per test; every id, cgroup and netns name holds it
#   TDIR        the test's temp dir (/tmp/berth-it-$IT_TOKEN)
#   ROOT        the --root the test uses ($TDIR/state)
#   IT_IS_BERTH 1 when $BERTH is berth (not runc or crun)

IT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---- running the runtime -------------------------------------------------

# rt ARGS...: the runtime with the test's state root.
rt() {
	"$BERTH" --root "$ROOT" "$@"
}

# run CMD...: runs a command, keeps its stdout in $OUT, its stderr in $ERR
# and its exit status in $RC. Never fails by itself.
run() {
	"$@" >"$TDIR/.run.out" 2>"$TDIR/.run.err"
	RC=$?
	OUT=$(cat "$TDIR/.run.out")
	ERR=$(cat "$TDIR/.run.err")
	return 0
}

# last_line TEXT: the last non-empty line.
last_line() {
	printf '%s\n' "$1" | sed '/^[[:space:]]*$/d' | tail -n 1
}

# ---- ids, bundles, config ------------------------------------------------

# new_id NAME: a container id for this test (recorded for the cleanup).
new_id() {
	local id="$IT_TOKEN-$1"
	echo "$id" >>"$TDIR/.ids"
	echo "$id"
}

bundle_of() {
	echo "$TDIR/b-$1"
}

# mkbundle ID [copy]: a bundle for ID whose config.json comes from `$BERTH
# spec`, made non-interactive and pointed at the shared read-only rootfs;
# with "copy" the bundle gets its own writable copy of the rootfs instead.
# The process runs /probe pid unless the test sets other args.
mkbundle() {
	local id=$1 mode=${2:-shared} b
	b=$(bundle_of "$id")
	mkdir -p "$b"
	if ! [ -s "$TDIR/.spec.json" ]; then
		(cd "$TDIR" && "$BERTH" spec >/dev/null 2>"$TDIR/.spec.err" &&
			mv config.json .spec.json) ||
			fail "$BERTH spec: $(last_line "$(cat "$TDIR/.spec.err")")"
	fi
	local root=$ROOTFS ro=true
	if [ "$mode" = copy ]; then
		cp -a "$ROOTFS" "$b/rootfs"
		root=rootfs ro=false
	fi
	jq --arg root "$root" --argjson ro "$ro" --arg id "$id" \
		--arg cg "berth-test-$IT_TOKEN/$id" --arg tok "$IT_TOKEN" '
		.root = {path: $root, readonly: $ro}
		| .process.terminal = false
		| .process.args = ["/probe", "pid"]
		| .process.env += ["BERTH_IT=" + $tok]
		| .hostname = $id[0:63]
		| .linux.cgroupsPath = $cg
	' "$TDIR/.spec.json" >"$b/config.json" || fail "mkbundle $id: jq failed"
}

# cfg ID FILTER [JQ-ARGS...]: edits the bundle's config.json with jq.
cfg() {
	local id=$1 filter=$2 c
	shift 2
	c="$(bundle_of "$id")/config.json"
	jq "$filter" "$@" <"$c" >"$c.new" && mv "$c.new" "$c" ||
		fail "cfg $id: jq failed on: $filter"
}

# json_array ARG...: the arguments as a JSON array of strings.
json_array() {
	jq -nc '$ARGS.positional' --args -- "$@"
}

# set_args ID ARG...: the container's process.args.
set_args() {
	local id=$1
	shift
	cfg "$id" '.process.args = $a' --argjson a "$(json_array "$@")"
}

# add_mount ID JSON: appends a mount object to .mounts.
add_mount() {
	cfg "$1" '.mounts += [$m]' --argjson m "$2"
}

# add_hook ID KIND SHELL-COMMAND: a hook running /bin/sh -c COMMAND.
add_hook() {
	cfg "$1" '.hooks[$k] += [{path: "/bin/sh", args: ["sh", "-c", $c]}]' \
		--arg k "$2" --arg c "$3"
}

# ---- container helpers ---------------------------------------------------

# create ID [FLAGS...]: creates ID from its bundle; the container's stdio
# goes to $TDIR/ID.out and $TDIR/ID.err, never to a pipe of the test.
create() {
	local id=$1
	shift
	rt create --bundle "$(bundle_of "$id")" "$@" "$id" \
		</dev/null >"$TDIR/$id.out" 2>"$TDIR/$id.err"
}

# run_d ID [FLAGS...]: run --detach, stdio like create.
run_d() {
	local id=$1
	shift
	rt run -d --bundle "$(bundle_of "$id")" "$@" "$id" \
		</dev/null >"$TDIR/$id.out" 2>"$TDIR/$id.err"
}

# run_a ID [FLAGS...]: run attached; stdout in $OUT, status in $RC.
run_a() {
	local id=$1
	shift
	run rt run --bundle "$(bundle_of "$id")" "$@" "$id"
}

# must CMD...: runs CMD, fails the test with its last stderr line if it
# fails (for setup steps whose failure is not the point of the test).
must() {
	local desc="$*"
	"$@" 2>"$TDIR/.must.err"
	local rc=$?
	if [ $rc -ne 0 ]; then
		local why
		why=$(last_line "$(cat "$TDIR/.must.err")")
		[ -n "$why" ] || why=$(last_line "$(cat "$TDIR/"*.err 2>/dev/null)")
		fail "${desc:0:120}: exit $rc: $why"
	fi
	cat "$TDIR/.must.err" >&2
}

# must_create/must_run_d ID: create or run -d, failing with the runtime's
# own last error line.
must_create() {
	create "$@" || fail "create $1: exit $?: $(last_line "$(cat "$TDIR/$1.err")")"
}
must_run_d() {
	run_d "$@" || fail "run -d $1: exit $?: $(last_line "$(cat "$TDIR/$1.err")")"
}

status_of() {
	rt state "$1" 2>/dev/null | jq -r .status 2>/dev/null
}

pid_of() {
	rt state "$1" 2>/dev/null | jq -r .pid 2>/dev/null
}

# wait_status ID STATUS [SECONDS]: polls `state` until STATUS.
wait_status() {
	local id=$1 want=$2 n=$((${3:-5} * 20)) s
	while [ $n -gt 0 ]; do
		s=$(status_of "$id")
		[ "$s" = "$want" ] && return 0
		sleep 0.05
		n=$((n - 1))
	done
	fail "$id: status is '$s', expected '$want'"
}

# wait_file FILE TEXT [SECONDS]: polls until FILE contains TEXT.
wait_file() {
	local f=$1 text=$2 n=$((${3:-5} * 20))
	while [ $n -gt 0 ]; do
		grep -qF -- "$text" "$f" 2>/dev/null && return 0
		sleep 0.05
		n=$((n - 1))
	done
	fail "timeout waiting for '$text' in $f (has: $(tail -c 200 "$f" 2>/dev/null))"
}

# defer COMMAND: run by the cleanup, last registered first.
defer() {
	echo "$*" >>"$TDIR/.defer"
}

# shellcheck source=stop-pid.sh
. "$(dirname "${BASH_SOURCE[0]}")/stop-pid.sh"

# berth_or BERTH-VALUE OTHER-VALUE: the expected value for the runtime under
# test, where berth's stated behaviour differs from runc's.
berth_or() {
	if [ "$IT_IS_BERTH" = 1 ]; then echo "$1"; else echo "$2"; fi
}

# ---- assertions ----------------------------------------------------------

# fail REASON: ends the test as failed.
fail() {
	local msg="$*"
	msg=${msg//$'\n'/\\n}
	echo "$msg" >>"$IT_REASON"
	echo "FAIL: $*" >&2
	exit 1
}

# skip REASON: ends the test as skipped.
skip() {
	echo "$*" >"$IT_REASON"
	exit 77
}

# berth_only REASON: skips a test that checks berth's own requirement where
# runc (or crun) is known to differ.
berth_only() {
	[ "$IT_IS_BERTH" = 1 ] || skip "berth-specific: $*"
}

assert_eq() {
	[ "$1" = "$2" ] ||
		fail "${3:+$3: }expected '$2', got '$(printf %s "$1" | head -c 300)'"
}

assert_ne() {
	[ "$1" != "$2" ] || fail "${3:+$3: }expected anything but '$2'"
}

assert_contains() {
	case "$1" in
	*"$2"*) ;;
	*) fail "${3:+$3: }'$(printf %s "$1" | head -c 300)' does not contain '$2'" ;;
	esac
}

assert_not_contains() {
	case "$1" in
	*"$2"*) fail "${3:+$3: }'$(printf %s "$1" | head -c 300)' contains '$2'" ;;
	esac
}

# assert_match TEXT ERE [WHAT]
assert_match() {
	printf '%s\n' "$1" | grep -qE -- "$2" ||
		fail "${3:+$3: }'$(printf %s "$1" | head -c 300)' does not match /$2/"
}

# assert_ok CMD...: CMD succeeds; its stdout is left in $OUT.
assert_ok() {
	local cmd="$*"
	run "$@"
	[ "$RC" = 0 ] ||
		fail "${cmd:0:100}: exit $RC: $(last_line "$ERR")"
}

# assert_fail_with MESSAGE CMD...: CMD exits 1 and the last line of its
# stderr contains MESSAGE (no check when MESSAGE is empty).
assert_fail_with() {
	local msg=$1 want=1 cmd
	shift
	cmd="$*"
	# exec reports its own errors with 255, as runc's does.
	[ "${cmd#rt exec }" = "$cmd" ] || want=255
	run "$@"
	[ "$RC" = $want ] ||
		fail "${cmd:0:100}: expected exit $want, got $RC ($(last_line "$ERR"))"
	[ -z "$msg" ] || assert_contains "$(last_line "$ERR")" "$msg" \
		"last stderr line of ${cmd:0:60}"
}

# assert_gone ID: the runtime no longer knows ID.
assert_gone() {
	run rt state "$1"
	[ "$RC" != 0 ] || fail "$1 still exists after delete: $OUT"
	assert_contains "$ERR" "does not exist" "state of a deleted container"
}

# ---- the per-test frame (used by run.sh) ---------------------------------

it_setup() {
	export TDIR=/tmp/berth-it-$IT_TOKEN
	export ROOT=$TDIR/state
	rm -rf "$TDIR"
	mkdir -p "$TDIR" "$ROOT"
	: >"$TDIR/.ids"
	: >"$TDIR/.defer"
}

# it_body TEST: runs the test function (inside the per-test timeout).
# A trace of the test goes to $IT_REASON.trace: run.sh shows its end when
# the test times out.
it_body() {
	cd "$TDIR" || exit 1
	set -u
	if [ -n "${IT_REASON:-}" ]; then
		exec {IT_TRACE_FD}>"$IT_REASON.trace"
		BASH_XTRACEFD=$IT_TRACE_FD
		set -x
	fi
	"$1"
	exit 0
}

# it_leftover WHAT: records a leftover, which fails the test.
it_leftover() {
	echo "left behind: $*" >>"$IT_REASON"
	echo "LEFTOVER: $*" >&2
	IT_LEFT=1
}

# it_cleanup: deletes what the test made and checks that nothing is left.
# Runs outside the test's timeout, after the test (and its children) ended.
it_cleanup() {
	IT_LEFT=0
	local id
	for id in $(tac "$TDIR/.ids" 2>/dev/null); do
		timeout -k 2 20 "$BERTH" --root "$ROOT" delete -f "$id" \
			>/dev/null 2>&1 </dev/null
	done
	local cmd
	tac "$TDIR/.defer" 2>/dev/null | while IFS= read -r cmd; do
		eval "$cmd" >/dev/null 2>&1 </dev/null
	done
	it_check_state
	it_check_procs
	it_check_cgroups
	it_check_mounts
	it_check_devnull
	rm -rf "$TDIR" 2>/dev/null || it_leftover "cannot remove $TDIR"
	[ $IT_LEFT = 0 ]
}

# state_left: what the state root holds besides .cache (compiled seccomp
# programs shared by par pools), .net's lock and empty directories
# (they stay for the next network command) and .containers when empty
# (launched containers' records and logs): containers, networks,
# endpoints, leases, DNS servers' files, containers' records.
state_left() {
	local e
	for e in $(ls -A "$ROOT" 2>/dev/null); do
		case "$e" in
		.cache) ;;
		.net) (cd "$ROOT/.net" && find . -mindepth 1 ! -type d \
			! -path ./lock | sed "s|^\.|.net|") ;;
		.containers) (cd "$ROOT/.containers" && find . -mindepth 1 \
			-maxdepth 1 | sed "s|^\.|.containers|") ;;
		*) echo "$e" ;;
		esac
	done
}

it_check_state() {
	local e
	for e in $(state_left); do
		it_leftover "state $ROOT/$e"
		timeout -k 2 20 "$BERTH" --root "$ROOT" delete -f -- "$e" \
			>/dev/null 2>&1 </dev/null
	done
}

# Container processes carry BERTH_IT=<token> in their environment; runtime
# helpers and hooks name the test dir on their command line. The [b]
# keeps grep from matching its own command line.
it_check_procs() {
	local pids p
	pids=$(grep -lsF "BERTH_IT=$IT_TOKEN" /proc/[0-9]*/environ 2>/dev/null |
		cut -d/ -f3)
	pids="$pids $(grep -ls "[b]erth-it-$IT_TOKEN" /proc/[0-9]*/cmdline \
		2>/dev/null | cut -d/ -f3)"
	for p in $pids; do
		[ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
		[ -e "/proc/$p" ] || continue
		it_leftover "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | head -c 80))"
		kill -9 "$p" 2>/dev/null
	done
}

# The runtime removes each container's cgroup; the parent
# berth-test-<token> is the test's own and removed here.
it_check_cgroups() {
	local d
	for d in $(find /sys/fs/cgroup -depth -type d -name "$IT_TOKEN-*" 2>/dev/null); do
		it_leftover "cgroup $d"
		it_kill_cgroup "$d"
	done
	for d in $(find /sys/fs/cgroup -depth -type d -name "berth-test-$IT_TOKEN" 2>/dev/null); do
		rmdir "$d" 2>/dev/null && continue
		it_leftover "cgroup $d (not empty: $(cd "$d" && find . -mindepth 1 -type d | head -n 5 | tr '\n' ' ')procs $(cat "$d/cgroup.procs" | tr '\n' ' '))"
		find "$d" -depth -type d | while read -r c; do it_kill_cgroup "$c"; done
	done
}

it_kill_cgroup() {
	local p n=0
	[ -f "$1/freezer.state" ] && echo THAWED >"$1/freezer.state" 2>/dev/null
	while [ -n "$(cat "$1/cgroup.procs" 2>/dev/null)" ] && [ $n -lt 40 ]; do
		for p in $(cat "$1/cgroup.procs"); do kill -9 "$p" 2>/dev/null; done
		sleep 0.05
		n=$((n + 1))
	done
	rmdir "$1" 2>/dev/null
}

it_check_mounts() {
	local m
	for m in $(awk -v t="$TDIR" 'index($5, t) == 1 { print $5 }' \
		/proc/self/mountinfo | sort -r); do
		it_leftover "mount $m"
		umount -l "$m" 2>/dev/null
	done
	ip netns list 2>/dev/null | grep -q "berth-test-$IT_TOKEN" &&
		it_leftover "netns berth-test-$IT_TOKEN" &&
		ip netns del "berth-test-$IT_TOKEN" 2>/dev/null
	return 0
}

# The host's /dev/null must keep its owner whatever a container did with
# it (a runtime that chowns its stdio to the container user breaks it).
it_check_devnull() {
	local o
	o=$(stat -c %u:%g /dev/null)
	if [ "$o" != 0:0 ]; then
		it_leftover "/dev/null owned by $o (restored to 0:0)"
		chown 0:0 /dev/null
	fi
}
