#!/bin/bash
# order.sh: writes tests/bench/berth.order, the functions a container's
# start runs, in the order they first run. The Makefile turns it into a
# linker script that puts them together at the front of berth's text.
#
# Why: the kernel maps a file in 64 KiB windows around each page a process
# touches. Linked in source order, `berth run` touches code in nearly every
# window of the binary; linked in this order, it touches about a third.
# That is most of what stands between berth and a 2 MiB peak RSS.
#
#   make profile-order   (BERTH, ROOTFS, HOT_TRACE and BUILD from the Makefile)
#
# It traces, instruction by instruction (tests/bench/hot-trace.c): `run`
# (the parent, then the container's init), then create, start, state, exec,
# kill, delete and --version. Slow by design, a minute or two. Functions
# from the static libraries (libnl, libseccomp, libcap) are placed by
# archive member, since only whole members can be named in a link.
set -u

: "${BERTH:?set BERTH}" "${ROOTFS:?set ROOTFS}" "${HOT_TRACE:?set HOT_TRACE}" \
	"${BUILD:?set BUILD}"
here=$(cd "$(dirname "$0")" && pwd)
out=${ORDER_OUT:-$here/berth.order}
if [ "$(id -u)" != 0 ]; then
	echo "order: run as root" >&2
	exit 1
fi
for t in jq nm objdump; do
	command -v $t >/dev/null || {
		echo "order: $t is missing" >&2
		exit 1
	}
done

tmp=$(mktemp -d /run/berth-order.XXXXXX)
cg=berth-order-$$
cleanup() {
	local id
	for id in $(ls "$tmp/state" 2>/dev/null); do
		"$BERTH" --root "$tmp/state" delete -f "$id" >/dev/null 2>&1
	done
	rm -rf "$tmp"
	find /sys/fs/cgroup -depth -type d -name "$cg" -exec rmdir {} + 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The bundle of start.sh: /bin/true in its own pid, mount, ipc, uts and
# network namespaces; a second one that stays up for exec and kill.
(cd "$tmp" && "$BERTH" spec) || exit 1
mk_bundle() {
	mkdir -p "$tmp/$1"
	jq --arg root "$ROOTFS" --arg cg "$cg/$1" --argjson args "$2" '
		.root = {path: $root, readonly: true}
		| .process.terminal = false
		| .process.args = $args
		| .linux.namespaces = [{type: "pid"}, {type: "mount"}, {type: "ipc"},
			{type: "uts"}, {type: "network"}]
		| .linux.cgroupsPath = $cg
	' "$tmp/config.json" >"$tmp/$1/config.json"
}
mk_bundle true '["/bin/true"]' && mk_bundle sleep '["/bin/sleep", "600"]' || exit 1

n=0
# trace ARGS...: one traced berth call; its trace is $tmp/trace.N.
trace() {
	n=$((n + 1))
	"$HOT_TRACE" "$tmp/trace.$n" "$BERTH" --root "$tmp/state" "$@" \
		</dev/null >/dev/null 2>"$tmp/err" || {
		echo "order: berth $*: $(tail -n 1 "$tmp/err")" >&2
		exit 1
	}
}
trace run -b "$tmp/true" t1
trace create -b "$tmp/true" t2
trace start t2
trace state t2
trace delete t2
"$BERTH" --root "$tmp/state" run -d -b "$tmp/sleep" s1 </dev/null >/dev/null || exit 1
trace exec s1 /bin/true
trace kill s1 KILL
trace delete -f s1
trace --version

# Each traced address becomes the function around it. nm and the traces
# both print 16 hex digits, so a plain sort merges them by address; the
# key (trace, role, line) then restores the order they first ran in:
# run's parent first, then the container's init, then the other calls.
nm --defined-only "$BERTH" | awk '$2 ~ /^[tTwW]$/ { print $1, 0, $3 }' >"$tmp/syms"
for i in $(seq 1 $n); do
	awk -v t="$i" '{ k = t == 1 ? ($2 == "p" ? 0 : 1) : t;
		printf "%s 1 %03d%09d\n", $1, k, NR }' "$tmp/trace.$i"
done >"$tmp/addrs"
sort -s -k1,1 -k2,2n "$tmp/syms" "$tmp/addrs" |
	awk '$2 == 0 { fn = $3; next } fn != "" { print $3, fn }' |
	sort -k1,1 | awk '!seen[$2]++ { print $2 }' |
	sed -E 's/\.(constprop|isra|part|lto_priv)\.[0-9]+.*$|\.(cold|localalias)$//' |
	awk '!seen[$1]++' >"$tmp/fns"

# berth's own functions by name, each with the objects that define one of
# that name; library functions by archive member.
find "$BUILD" -name '*.o' -path "$BUILD/*/*" ! -path "$BUILD/tests/*" \
	! -path "$BUILD/sanitize/*" ! -path "$BUILD/tsan/*" -print0 |
	xargs -0 nm -A --defined-only 2>/dev/null |
	awk -v b="$BUILD/" '$(NF-1) ~ /^[tTwW]$/ {
		o = $1; sub(/:.*/, "", o); sub("^" b, "", o); print $NF, o }' |
	sed -E 's/\.(constprop|isra|part|lto_priv)\.[0-9]+[^ ]*( |$)|\.cold( |$)/ /' |
	sort -u >"$tmp/own"
# Constructors and destructors (.text.startup, .text.exit): the Makefile
# puts all of them first, since every berth process runs them. A member
# whose other code does not run goes last, for its read-only data (the
# strings its constructor reads).
arch=$(cc -print-multiarch 2>/dev/null)
for l in nl-route-3 nl-3 seccomp cap; do
	a=/usr/lib/$arch/lib$l.a
	[ -f "$a" ] || continue
	objdump -t "$a" 2>/dev/null |
		awk -v lib="lib$l.a" '/file format/ { m = $1; sub(/:$/, "", m); next }
			/ F \.text(\.startup|\.exit)?\t/ { n = $NF
				sub(/\.localalias$/, "", n)
				print n, lib ":" m, / F \.text\t/ ? "" : "ctor" }'
done >"$tmp/members"
{
	echo "# The functions \`berth run\` (then create, start, state, exec, kill,"
	echo "# delete, --version) runs, in the order they first run; library code"
	echo "# as ARCHIVE:MEMBER; then the objects (DIR/FILE.o) that hold them,"
	echo "# whose read-only data goes first too. Written by \`make profile-order\`;"
	echo "# the Makefile links these first (tests/bench/order.sh says why)."
	awk 'FILENAME == ARGV[1] { own[$1] = own[$1] " " $2; next }
		FILENAME == ARGV[2] { if ($3 != "") ctor[$1] = $2
			else if (!($1 in mem)) mem[$1] = $2; next }
		$1 in own { print $1; objs = objs own[$1]; next }
		($1 in mem) && !seen[mem[$1]]++ { print mem[$1] }
		$1 in ctor { late[++nl] = ctor[$1] }
		END { for (i = 1; i <= nl; i++) if (!seen[late[i]]++) print late[i]
			n = split(objs, o, " ");
			for (i = 1; i <= n; i++) if (!done[o[i]]++) print o[i] }' \
		"$tmp/own" "$tmp/members" "$tmp/fns"
} >"$tmp/order" || exit 1
mv "$tmp/order" "$out"
echo "order: $(grep -vc '^#' "$out") entries in $out"
