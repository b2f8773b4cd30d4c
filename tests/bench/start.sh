#!/bin/bash
# start.sh: how long `run` of a /bin/true container takes with berth, runc
# and crun, on the same busybox bundle with pid, mount, ipc, uts and network
# namespaces. Prints medians over N runs, the ratios and each runtime's peak
# RSS. Reports only: it never fails on a timing.
#   make bench     (BERTH and ROOTFS are set by the Makefile)
#   N=50 NSPACED=30 make bench   (NSPACED: the runs 0.2 s apart)
set -u

: "${BERTH:?set BERTH}" "${ROOTFS:?set ROOTFS}"
N=${N:-30}
NSPACED=${NSPACED:-15}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root" >&2
	exit 1
fi
missing=
command -v runc >/dev/null || missing="$missing runc"
command -v crun >/dev/null || missing="$missing crun"
[ -x /usr/bin/time ] || missing="$missing time"
command -v jq >/dev/null || missing="$missing jq"
[ -z "$missing" ] || sh "$here/deps.sh" $missing || exit 1

# State roots on tmpfs, as /run/berth, /run/runc and /run/crun are on a
# usual host. Where /run is a disk file system, a rename over state.json
# starts writeback of the new file (ext4's auto_da_alloc) and costs each
# runtime a few tenths of a millisecond per write; a private tmpfs keeps
# that out of the figures.
tmp=$(mktemp -d /run/berth-bench.XXXXXX)
own_tmpfs=0
if [ "$(stat -f -c %T "$tmp")" != tmpfs ] &&
	mount -t tmpfs -o mode=0700 berth-bench "$tmp"; then
	own_tmpfs=1
fi
cleanup() {
	local rt
	for rt in berth runc crun; do
		for id in $(ls "$tmp/state-$rt" 2>/dev/null); do
			"$BERTH" --root "$tmp/state-$rt" delete -f "$id" >/dev/null 2>&1
		done
	done
	[ $own_tmpfs = 1 ] && umount "$tmp"
	rm -rf "$tmp"
	find /sys/fs/cgroup -depth -type d -name "berth-bench-$$-*" \
		-exec rmdir {} + 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One bundle per runtime, the same but for its cgroup parent (crun 1.8
# stumbles on parents made by another runtime on a hybrid host). crun 1.8
# knows ociVersion 1.0 only.
(cd "$tmp" && "$BERTH" spec) || (cd "$tmp" && runc spec) || exit 1
for rt in berth runc crun; do
	mkdir -p "$tmp/$rt"
	jq --arg root "$ROOTFS" --arg cg "berth-bench-$$-$rt/c" '
		.ociVersion = "1.0.2"
		| .root = {path: $root, readonly: true}
		| .process.terminal = false
		| .process.args = ["/bin/true"]
		| .linux.namespaces = [{type: "pid"}, {type: "mount"}, {type: "ipc"},
			{type: "uts"}, {type: "network"}]
		| .linux.cgroupsPath = $cg
	' "$tmp/config.json" >"$tmp/$rt/config.json" || exit 1
done

# cg_self_dirs: this shell's cgroup directory in every mounted hierarchy.
cg_self_dirs() {
	awk 'NR == FNR {
		split($0, h, " - ")
		split(h[1], a, " ")
		split(h[2], f, " ")
		if (f[1] == "cgroup2") { v2 = a[5]; v2root = a[4] }
		else if (f[1] == "cgroup") { n++; mp[n] = a[5]; rt[n] = a[4]; so[n] = "," f[3] "," }
		next
	}
	{
		i = index($0, ":"); rest = substr($0, i + 1)
		j = index(rest, ":"); k = substr(rest, 1, j - 1); p = substr(rest, j + 1)
		if (k == "") { if (v2 != "") print v2 (v2root == "/" ? p : substr(p, length(v2root) + 1)); next }
		m = split(k, c, ",")
		for (x = 1; x <= n; x++) {
			ok = 1
			for (y = 1; y <= m; y++) if (index(so[x], "," c[y] ",") == 0) ok = 0
			if (ok) { print mp[x] (rt[x] == "/" ? p : substr(p, length(rt[x]) + 1)); break }
		}
	}' /proc/self/mountinfo /proc/self/cgroup | sed 's,/$,,'
}

# The containers go under a parent cgroup that exists, as Docker's /docker
# and systemd's slices do. berth removes a parent it made itself and runc
# leaves it, so a parent made anew for each run would time that policy
# rather than the start.
for d in $(cg_self_dirs); do
	for rt in berth runc crun; do
		mkdir -p "$d/berth-bench-$$-$rt" || exit 1
	done
done

# crun 1.8 refuses a hybrid cgroup host; it runs in a mount namespace where
# the unified hierarchy looks empty.
crun_wrapped() {
	unshare -m --propagation private sh -c \
		'mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; exec crun "$@"' \
		sh "$@"
}
hybrid=0
[ -f /sys/fs/cgroup/unified/cgroup.controllers ] && hybrid=1

# cmd_of RUNTIME: the command line for one run.
cmd_of() {
	case "$1" in
	berth) echo "$BERTH" ;;
	runc) command -v runc ;;
	crun) if [ $hybrid = 1 ]; then echo crun_wrapped; else command -v crun; fi ;;
	esac
}

# one RUNTIME I: a single run of /bin/true; prints the time in µs.
one() {
	local rt=$1 i=$2 cmd t0 t1
	cmd=$(cmd_of "$rt")
	t0=$EPOCHREALTIME
	$cmd --root "$tmp/state-$rt" run --bundle "$tmp/$rt" "b$$-$i" \
		</dev/null >/dev/null 2>"$tmp/err" || return 1
	t1=$EPOCHREALTIME
	echo $(((${t1/./} - ${t0/./})))
}

# stats FILE: "median min max" in ms from µs samples.
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f %.1f %.1f", m / 1000, v[1] / 1000, v[NR] / 1000 }'
}

# peak_rss RUNTIME: the largest max RSS (KiB) over 3 runs, by GNU time.
peak_rss() {
	local rt=$1 i max=0 r cmd
	cmd=$(cmd_of "$rt")
	for i in 1 2 3; do
		if [ "$cmd" = crun_wrapped ]; then
			/usr/bin/time -f %M -o "$tmp/rss" unshare -m --propagation private sh -c \
				'mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; exec crun "$@"' \
				sh --root "$tmp/state-$rt" run --bundle "$tmp/$rt" "r$$-$i" \
				</dev/null >/dev/null 2>&1
		else
			/usr/bin/time -f %M -o "$tmp/rss" "$cmd" --root "$tmp/state-$rt" \
				run --bundle "$tmp/$rt" "r$$-$i" </dev/null >/dev/null 2>&1
		fi
		r=$(tail -n 1 "$tmp/rss")
		[ "$r" -gt "$max" ] 2>/dev/null && max=$r
	done
	echo "$max"
}

declare -A median
printf '%-18s %10s %10s %10s %14s\n' runtime "median ms" "min ms" "max ms" "peak RSS KiB"
for rt in berth runc crun; do
	: >"$tmp/$rt.us"
	one "$rt" warmup >/dev/null || {
		printf '%-18s failed: %s\n' "$rt" "$(tail -n 1 "$tmp/err")"
		continue
	}
	ok=1
	for i in $(seq 1 "$N"); do
		one "$rt" "$i" >>"$tmp/$rt.us" || { ok=0; break; }
	done
	if [ $ok = 0 ]; then
		printf '%-18s failed: %s\n' "$rt" "$(tail -n 1 "$tmp/err")"
		continue
	fi
	read -r med min max <<<"$(stats "$tmp/$rt.us")"
	median[$rt]=$med
	label=$rt
	[ "$rt" = crun ] && [ $hybrid = 1 ] && label="crun (wrapped)*"
	printf '%-18s %10s %10s %10s %14s\n' "$label" "$med" "$min" "$max" "$(peak_rss "$rt")"
done

: >"$tmp/version.us"
for i in $(seq 1 "$N"); do
	t0=$EPOCHREALTIME
	"$BERTH" --version >/dev/null
	t1=$EPOCHREALTIME
	echo $(((${t1/./} - ${t0/./}))) >>"$tmp/version.us"
done
read -r med min max <<<"$(stats "$tmp/version.us")"
/usr/bin/time -f %M -o "$tmp/rss" "$BERTH" --version >/dev/null
printf '%-18s %10s %10s %10s %14s\n' "berth --version" "$med" "$min" "$max" "$(cat "$tmp/rss")"
# the floor: what forking and exec'ing any program costs on this machine
: >"$tmp/true.us"
for i in $(seq 1 "$N"); do
	t0=$EPOCHREALTIME
	/bin/true
	t1=$EPOCHREALTIME
	echo $(((${t1/./} - ${t0/./}))) >>"$tmp/true.us"
done
read -r med min max <<<"$(stats "$tmp/true.us")"
/usr/bin/time -f %M -o "$tmp/rss" /bin/true
printf '%-18s %10s %10s %10s %14s\n' "/bin/true" "$med" "$min" "$max" "$(cat "$tmp/rss")"

# ratios PREFIX ARRAY: berth's median over runc's and crun's
ratios() {
	local -n m=$2
	local other
	for other in runc crun; do
		[ -n "${m[berth]:-}" ] && [ -n "${m[$other]:-}" ] &&
			awk -v a="${m[berth]}" -v b="${m[$other]}" -v o="$other" \
				-v p="$1" 'BEGIN { printf "%sberth/%s: %.2f\n", p, o, a / b }'
	done
	return 0
}

echo
ratios "" median
echo "N=$N runs of /bin/true each (pid, mount, ipc, uts, network namespaces), $(nproc) cores."

# The same runs 0.2 s apart, as a user or a batch system starts
# containers: the first move of a process into a cgroup after a quiet
# spell waits for an RCU grace period in the kernel, which back-to-back
# runs mostly find already passed.
declare -A spaced
echo
printf '%-18s %10s %10s %10s\n' "spaced 0.2 s" "median ms" "min ms" "max ms"
for rt in berth runc crun; do
	[ -n "${median[$rt]:-}" ] || continue
	: >"$tmp/$rt.spaced"
	for i in $(seq 1 "$NSPACED"); do
		sleep 0.2
		one "$rt" "s$i" >>"$tmp/$rt.spaced" || break
	done
	read -r med min max <<<"$(stats "$tmp/$rt.spaced")"
	spaced[$rt]=$med
	label=$rt
	[ "$rt" = crun ] && [ $hybrid = 1 ] && label="crun (wrapped)*"
	printf '%-18s %10s %10s %10s\n' "$label" "$med" "$min" "$max"
done
ratios "spaced " spaced
[ $hybrid = 1 ] &&
	echo "* crun 1.8 refuses hybrid cgroup hosts: it runs through an unshare wrapper that costs about 5 ms."
exit 0
