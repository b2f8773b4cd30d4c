#!/bin/bash
# cgroups.sh: what a container's cgroup costs. Creates, configures (a
# 64 MiB memory limit and a pids limit) and removes N groups (1000) through
# berth's driver (cgbench.c, linked with libberth.a), then does the same
# with mkdir, echo and rmdir in a shell loop, and prints the mean
# microseconds per group of each step. Both make the group in every
# mounted hierarchy, as a container's group is. The first and the last
# BATCH (100) groups are also timed apart: the last batch is made while
# the earlier groups still exist, which shows whether the cost per group
# grows with the number of siblings (on v1, the kernel's cost of writing a
# new group's cpuset.cpus grows with the number of cpusets: both loops pay
# it). Reports only: it never fails on a timing.
#   bash tests/bench/cgroups.sh                 (links build/libberth.a)
#   BUILD=build/x N=2000 BATCH=200 bash tests/bench/cgroups.sh
set -u

repo=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
N=${N:-1000}
BATCH=${BATCH:-100}
if [ "$(id -u)" != 0 ]; then
	echo "cgroups bench: run as root" >&2
	exit 1
fi
case "$BUILD" in /*) lib=$BUILD/libberth.a ;; *) lib=$repo/$BUILD/libberth.a ;; esac
make -s -C "$repo" BUILD="$BUILD" "$lib" || exit 1

tmp=$(mktemp -d /tmp/berth-cgbench.XXXXXX)
tag=berth-cgbench-$$
cleanup() {
	local d
	for d in $(find /sys/fs/cgroup -maxdepth 3 -type d -name "$tag-*" 2>/dev/null); do
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	rm -rf "$tmp"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cgroups/ and base/ need no library, but the archive's other members are
# not left out of the link line's reach.
libs=$(pkg-config --libs libnl-3.0 libnl-route-3.0 libcjson libseccomp libcap 2>/dev/null)
cc -std=gnu11 -O2 -D_GNU_SOURCE -I"$repo" -o "$tmp/cgbench" \
	"$repo/tests/bench/cgbench.c" "$lib" $libs || exit 1

echo "cgroups bench: $N groups, batches of $BATCH, $(uname -r), $(nproc) cpus"
"$tmp/cgbench" "$tag-b" "$N" "$BATCH" || exit 1

# ---- the shell loop ----------------------------------------------------

# Every cgroup mount once; the hierarchies holding memory and pids.
mounts=() cpuset= mem= pids= v2=
while read -r _ mnt type opts _; do
	case "$type" in
	cgroup2) v2=$mnt ;;
	cgroup) ;;
	*) continue ;;
	esac
	mounts+=("$mnt")
	case ",$opts," in *,cpuset,*) cpuset=$mnt ;; esac
	case ",$opts," in *,memory,*) mem=$mnt ;; esac
	case ",$opts," in *,pids,*) pids=$mnt ;; esac
done </proc/self/mounts
memfile=memory.limit_in_bytes
if [ -z "$mem" ] && [ -n "$v2" ]; then mem=$v2 memfile=memory.max; fi
[ -n "$pids" ] || pids=$v2
top=$tag-s
for m in "${mounts[@]}"; do mkdir "$m/$top" || exit 1; done
# a v1 cpuset group is usable once it has cpus and mems: copied from the
# parent, as berth (and runc) do when they create a group
if [ -n "$cpuset" ]; then
	cpus=$(cat "$cpuset/cpuset.cpus") mems=$(cat "$cpuset/cpuset.mems")
	echo "$cpus" >"$cpuset/$top/cpuset.cpus"
	echo "$mems" >"$cpuset/$top/cpuset.mems"
fi
# v2 hands controllers down only through subtree_control
if [ -n "$v2" ]; then
	for c in $(cat "$v2/$top/cgroup.controllers"); do
		echo "+$c" >"$v2/$top/cgroup.subtree_control" 2>/dev/null
	done
fi

# $EPOCHREALTIME is read without a fork (a $(...) would cost one)
declare -a t_mk t_cfg t_rm
for ((i = 0; i < N; i++)); do
	dirs=()
	for m in "${mounts[@]}"; do dirs+=("$m/$top/g$i"); done
	a=${EPOCHREALTIME/./}
	mkdir "${dirs[@]}" || exit 1
	if [ -n "$cpuset" ]; then
		echo "$cpus" >"$cpuset/$top/g$i/cpuset.cpus"
		echo "$mems" >"$cpuset/$top/g$i/cpuset.mems"
	fi
	b=${EPOCHREALTIME/./}
	[ -n "$mem" ] && echo 67108864 >"$mem/$top/g$i/$memfile"
	[ -n "$pids" ] && echo 100 >"$pids/$top/g$i/pids.max"
	c=${EPOCHREALTIME/./}
	t_mk[i]=$((b - a))
	t_cfg[i]=$((c - b))
done
for ((i = 0; i < N; i++)); do
	dirs=()
	for m in "${mounts[@]}"; do dirs+=("$m/$top/g$i"); done
	a=${EPOCHREALTIME/./}
	rmdir "${dirs[@]}" || exit 1
	b=${EPOCHREALTIME/./}
	t_rm[i]=$((b - a))
done

# mean of array slice: NAME FROM TO
mean() {
	local -n arr=$1
	local sum=0 i
	for ((i = $2; i < $3; i++)); do sum=$((sum + arr[i])); done
	awk -v s="$sum" -v n="$(($3 - $2))" 'BEGIN { printf "%.1f", s / n }'
}
echo "shell loop (mkdir, echo, rmdir; ${#mounts[@]} hierarchies), $N groups: mean us per group"
[ -z "$cpuset" ] || echo "  (create includes copying the parent's cpuset.cpus and cpuset.mems)"
printf '  %-10s %10s %14s %14s\n' step all "first batch" "last batch"
tot_a=0 tot_f=0 tot_l=0
for s in mk:create cfg:configure rm:remove; do
	arr=t_${s%%:*}
	a=$(mean "$arr" 0 "$N")
	f=$(mean "$arr" 0 "$BATCH")
	l=$(mean "$arr" $((N - BATCH)) "$N")
	printf '  %-10s %10s %14s %14s\n' "${s#*:}" "$a" "$f" "$l"
	tot_a=$(awk -v x="$tot_a" -v y="$a" 'BEGIN { print x + y }')
	tot_f=$(awk -v x="$tot_f" -v y="$f" 'BEGIN { print x + y }')
	tot_l=$(awk -v x="$tot_l" -v y="$l" 'BEGIN { print x + y }')
done
printf '  %-10s %10.1f %14.1f %14.1f\n' total "$tot_a" "$tot_f" "$tot_l"
awk -v f="$tot_f" -v l="$tot_l" -v b="$BATCH" -v n="$N" 'BEGIN {
	printf "  batches: groups 1-%d and %d-%d; last/first = %.2f\n", b, n - b + 1, n, l / f }'
