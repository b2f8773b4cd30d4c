#!/bin/bash
# network.sh: what berth's bridge networks cost, next to no network, to
# Docker's bridge and to two network namespaces joined by a plain veth:
#   1. `berth launch --rm IMG true` on a bridge network against
#      `--network none`, medians of N runs each, interleaved; the bridge
#      both empty (berth makes and removes its DNS server with each
#      container) and in use (another container keeps it up); Docker's
#      `docker run --rm --network bridge` against `--network none` on a
#      private dockerd as the reference
#   2. `berth par -j 64 --network NAME` against `--network none`: how long
#      64 workers take to come up (par's own summary), medians of PAR_RUNS
#   3. TCP throughput (iperf3, IPERF_SECONDS each, IPERF_ROUNDS times)
#      between two containers on one bridge network against two
#      namespaces joined by a veth pair; when br_netfilter is loaded, also
#      with bridge-nf-call-iptables off in the world
# Prints medians and ratios against anchors measured in the same run.
# Reports only: it never fails on a timing.
#
# Everything runs in network namespaces made here: a "world" namespace
# plays the host (berth and dockerd run in it through nsenter, so their
# bridges, veths, nftables and iptables rules and DNS servers are made
# there), and two more hold the plain veth pair. The machine's own network
# namespace, routes and firewall are never touched, and nothing is
# downloaded: the image is made from the busybox rootfs.
#   make bench-network     (BERTH and ROOTFS are set by the Makefile)
#   N=20 DOCKER_N=5 PAR_RUNS=3 IPERF_SECONDS=5 IPERF_ROUNDS=1 make bench-network
set -u

: "${BERTH:?set BERTH}" "${ROOTFS:?set ROOTFS}"
N=${N:-50}
DOCKER_N=${DOCKER_N:-10}
PAR_RUNS=${PAR_RUNS:-5}
IPERF_SECONDS=${IPERF_SECONDS:-10}
IPERF_ROUNDS=${IPERF_ROUNDS:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root" >&2
	exit 1
fi
missing=
command -v nft >/dev/null || missing="$missing nftables"
command -v iperf3 >/dev/null || missing="$missing iperf3"
command -v jq >/dev/null || missing="$missing jq"
[ -z "$missing" ] || sh "$here/deps.sh" $missing >/dev/null || exit 1

# State roots, store and dockerd's directories on tmpfs, as /run/berth is
# on a usual host (see start.sh).
TDIR=$(mktemp -d /run/berth-bench-net.XXXXXX)
own_tmpfs=0
if [ "$(stat -f -c %T "$TDIR")" != tmpfs ] &&
	mount -t tmpfs -o mode=0700 berth-bench-net "$TDIR"; then
	own_tmpfs=1
fi
export TDIR
state=$TDIR/state
cg=berth-bench-net-$$
WORLD=$TDIR/world.ns
NS_A=$TDIR/a.ns
NS_B=$TDIR/b.ns
started_pids=
# shellcheck source=docker-env.sh
. "$here/bench/docker-env.sh"

cleanup() {
	local pid id ns
	for pid in $started_pids; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	if [ -e "$WORLD" ]; then
		for id in $(nsenter --net="$WORLD" "$BERTH" --root "$state" list -q 2>/dev/null); do
			nsenter --net="$WORLD" "$BERTH" --root "$state" delete -f "$id" >/dev/null 2>&1
		done
		nsenter --net="$WORLD" "$BERTH" --root "$state" network prune >/dev/null 2>&1
	fi
	bench_docker_stop
	for ns in "$WORLD" "$NS_A" "$NS_B"; do
		[ -e "$ns" ] && umount -l "$ns" 2>/dev/null
	done
	[ $own_tmpfs = 1 ] && umount -l "$TDIR"
	rm -rf "$TDIR"
	find /sys/fs/cgroup -depth -type d -name "$cg" -exec rmdir {} + 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The world, and the two namespaces of the plain pair: the veth is made
# with its peer named by a namespace path, so that it is never in the
# machine's namespace, even for an instant.
for ns in "$WORLD" "$NS_A" "$NS_B"; do
	touch "$ns"
	unshare --net="$ns" true || exit 1
	nsenter --net="$ns" ip link set lo up || exit 1
done
w() { nsenter --net="$WORLD" "$@"; }
wb() { nsenter --net="$WORLD" "$BERTH" --root "$state" "$@"; }
wl() { wb launch --store "$TDIR/store" --cgroup-parent "$cg" "$@"; }

jq -nc --arg root "$ROOTFS" '{tags: ["net:1"], config: {Cmd: ["sh"]},
	layers: [{dir: $root}]}' |
	python3 "$here/integration/mkimage.py" docker "$TDIR/net.tar" || exit 1
"$BERTH" image --store "$TDIR/store" load "$TDIR/net.tar" >/dev/null || exit 1

now() { echo "${EPOCHREALTIME/./}"; }
# timed CMD...: one run, µs on stdout; nothing when it fails (its error
# in $TDIR/err)
timed() {
	local t0 t1
	t0=$(now)
	"$@" </dev/null >/dev/null 2>"$TDIR/err" || return 1
	t1=$(now)
	echo $((t1 - t0))
}
# median FILE [DIVISOR]: the median of the numbers in FILE, divided
median() {
	sort -n "$1" | awk -v d="${2:-1000}" '{ v[NR] = $1 } END {
		if (!NR) exit
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f", m / d }'
}
# calc EXPR A B: A and B through an awk expression in a and b
calc() { awk -v a="$2" -v b="$3" "BEGIN { if (a != \"\" && b != \"\" && b != 0) printf \"%.2f\", $1; else print \"-\" }"; }

echo "host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"

# ---- 1. container start ----------------------------------------------
# "bridge": berth's default network, no other container on it, so each
# launch also starts and stops its DNS server; "in use": a network that a
# long-lived container keeps up, as on a host with services running.
wb network create inuse >/dev/null || exit 1
wl -d --name resident --network inuse net:1 sleep 600 >/dev/null || exit 1
declare -A variant=([none]=none [bridge]=bridge [inuse]=inuse)
order=(none bridge inuse)
for v in "${order[@]}"; do
	: >"$TDIR/start-$v.us"
	# the first run makes the default network and the seccomp cache
	timed wl --rm --network "${variant[$v]}" net:1 true >/dev/null ||
		echo "launch --network ${variant[$v]}: $(tail -n 1 "$TDIR/err")"
done
for i in $(seq "$N"); do
	# a different order each round, so that neither side always
	# follows the other's teardown
	for j in 0 1 2; do
		v=${order[$(((i + j) % 3))]}
		timed wl --rm --network "${variant[$v]}" net:1 true >>"$TDIR/start-$v.us" ||
			echo "launch --network ${variant[$v]}: $(tail -n 1 "$TDIR/err")"
	done
done
# The same, in two halves: `launch -d` (to the container's start) and
# the `delete -f` that removes it, its network included.
for v in "${order[@]}"; do : >"$TDIR/up-$v.us" && : >"$TDIR/rm-$v.us"; done
for i in $(seq "$((N / 2))"); do
	for j in 0 1 2; do
		v=${order[$(((i + j) % 3))]}
		timed wl -d --name "b$v" --network "${variant[$v]}" net:1 true >>"$TDIR/up-$v.us"
		timed wb delete -f "b$v" >>"$TDIR/rm-$v.us"
	done
done
wb delete -f resident >/dev/null

declare -A ms
for v in "${order[@]}"; do
	ms[$v]=$(median "$TDIR/start-$v.us")
	ms[up_$v]=$(median "$TDIR/up-$v.us")
	ms[rm_$v]=$(median "$TDIR/rm-$v.us")
done

# Docker's bridge, in the world too: dockerd's default bridge and its
# iptables rules are made there.
docker_why=
DOCKERD_NETNS=$WORLD bench_docker_start
if [ "$DOCKER_OK" != 1 ]; then
	docker_why=${DOCKER_WHY:-dockerd does not start}
elif ! timed dk run --rm --network bridge berth-mini:latest true >/dev/null; then
	docker_why="docker run --network bridge: $(tail -n 1 "$TDIR/err")"
else
	: >"$TDIR/docker-none.us"
	: >"$TDIR/docker-bridge.us"
	timed dk run --rm --network none berth-mini:latest true >/dev/null
	for i in $(seq "$DOCKER_N"); do
		for v in $([ $((i % 2)) = 0 ] && echo none bridge || echo bridge none); do
			timed dk run --rm --network "$v" berth-mini:latest true >>"$TDIR/docker-$v.us"
		done
	done
	ms[docker_none]=$(median "$TDIR/docker-none.us")
	ms[docker_bridge]=$(median "$TDIR/docker-bridge.us")
fi
bench_docker_stop
# dockerd leaves its iptables tables in the world (nat, and filter's
# FORWARD chains): every packet the bridge forwards would go through them
# in part 3 (br_netfilter), a cost of docker's, not berth's. The world is
# this bench's own namespace: they go.
for t in nat filter; do
	w iptables -t "$t" -F 2>/dev/null
	w iptables -t "$t" -X 2>/dev/null
	w nft delete table ip "$t" 2>/dev/null
done

echo
echo "1. launch --rm IMG true, medians of $N interleaved runs each (docker: $DOCKER_N);"
echo "   launch -d and delete -f apart: medians of $((N / 2))"
printf '%-40s %10s %8s %10s %8s %10s %8s\n' "" "--rm ms" "+ms" "-d ms" "+ms" "delete ms" "+ms"
row1() {
	local name=$1 v=$2 base=$3
	[ "$v" = "$base" ] && base=none_at_all
	printf '%-40s %10s %8s %10s %8s %10s %8s\n' "$name" "${ms[$v]:--}" \
		"$(calc 'a - b' "${ms[$v]:-}" "${ms[$base]:-}")" \
		"${ms[up_$v]:--}" "$(calc 'a - b' "${ms[up_$v]:-}" "${ms[up_$base]:-}")" \
		"${ms[rm_$v]:--}" "$(calc 'a - b' "${ms[rm_$v]:-}" "${ms[rm_$base]:-}")"
}
row1 "berth --network none" none none
row1 "berth --network bridge (empty network)" bridge none
row1 "berth --network NAME (network in use)" inuse none
if [ -z "$docker_why" ]; then
	row1 "docker run --network none" docker_none docker_none
	row1 "docker run --network bridge" docker_bridge docker_none
else
	echo "docker: not measured: $docker_why"
fi
echo "(+ms: more than with --network none; goal: a bridge at most 2 ms slower)"

# ---- 2. 64 workers ---------------------------------------------------
wb network create parnet >/dev/null || exit 1
# par64 NETWORK: one pool of 64 workers and 64 empty tasks; prints the
# "up in" time of its summary. A pool leaves its workers' endpoints on
# the network when it ends, and the next network command removes them:
# that is timed apart (`network ls`), not charged to the next pool.
par64() {
	wb par --rootfs "$ROOTFS" --cgroup-parent "$cg" -j 64 --network "$1" \
		-- /bin/true ::: $(seq 64) </dev/null >/dev/null 2>"$TDIR/par.err" ||
		{ echo "par --network $1: $(tail -n 1 "$TDIR/par.err")" >&2; return 1; }
	sed -n 's/.* up in \([0-9]*\) ms.*/\1/p' "$TDIR/par.err"
	if [ "$1" != none ]; then
		echo "$(ls "$state/.net/endpoints" | wc -l)" >>"$TDIR/par-left.n"
		timed wb network ls >>"$TDIR/par-reap.us"
	fi
}
: >"$TDIR/par-none.ms"
: >"$TDIR/par-net.ms"
par64 none >/dev/null
par64 parnet >/dev/null
: >"$TDIR/par-left.n"
: >"$TDIR/par-reap.us"
for i in $(seq "$PAR_RUNS"); do
	if [ $((i % 2)) = 1 ]; then
		par64 parnet >>"$TDIR/par-net.ms"
		par64 none >>"$TDIR/par-none.ms"
	else
		par64 none >>"$TDIR/par-none.ms"
		par64 parnet >>"$TDIR/par-net.ms"
	fi
done
ms[par_none]=$(median "$TDIR/par-none.ms" 1)
ms[par_net]=$(median "$TDIR/par-net.ms" 1)
echo
echo "2. par -j 64: 64 workers up (par's summary), medians of $PAR_RUNS interleaved runs"
printf '%-44s %10s\n' "" "median ms"
printf '%-44s %10s\n' "berth par --network none" "${ms[par_none]:--}"
printf '%-44s %10s\n' "berth par --network NAME" "${ms[par_net]:--}"
echo "ratio NAME/none: $(calc 'a / b' "${ms[par_net]}" "${ms[par_none]}") (goal: at most 1.5)"
echo "endpoints a pool --network NAME left after it ended: $(median "$TDIR/par-left.n" 1);" \
	"the next network command took $(median "$TDIR/par-reap.us") ms to remove them"

# ---- 3. throughput ---------------------------------------------------
# iperf3 is the host's (Debian's, linked dynamically): it runs in each
# container's network namespace by nsenter --net=/proc/PID/ns/net, in the
# host's mount namespace; on the plain pair it runs the same way.
# Server and client are pinned to the first two CPUs this script may use
# (iperf3 -A), the same two for both setups: left to the scheduler, the
# two sometimes share a CPU and a run's figure swings by a quarter.
# iperf NS_FILE_SERVER NS_FILE_CLIENT ADDRESS: Gbit/s received
read -r cpu_srv cpu_cli < <(taskset -pc $$ | sed 's/.*: //' | tr ',' '\n' |
	awk -F- '{ for (c = $1; c <= ($2 == "" ? $1 : $2); c++) print c }' |
	head -n 2 | tr '\n' ' ')
cpu_cli=${cpu_cli:-$cpu_srv}
iperf() {
	local spid n
	nsenter --net="$1" iperf3 -s -1 -p 5201 -A "$cpu_srv" >/dev/null 2>&1 &
	spid=$!
	started_pids="$started_pids $spid"
	for n in $(seq 50); do
		nsenter --net="$1" ss -Htln 'sport = :5201' | grep -q . && break
		sleep 0.1
	done
	nsenter --net="$2" iperf3 -c "$3" -p 5201 -A "$cpu_cli" -t "$IPERF_SECONDS" -J >"$TDIR/iperf.json" 2>&1
	wait "$spid" 2>/dev/null
	jq -r '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' \
		"$TDIR/iperf.json" 2>/dev/null ||
		echo "iperf3: $(jq -r .error "$TDIR/iperf.json" 2>/dev/null)" >&2
}

nsenter --net="$NS_A" ip link add veth-a type veth peer name veth-b netns "$NS_B" || exit 1
nsenter --net="$NS_A" ip addr add 10.250.0.1/24 dev veth-a
nsenter --net="$NS_A" ip link set veth-a up
nsenter --net="$NS_B" ip addr add 10.250.0.2/24 dev veth-b
nsenter --net="$NS_B" ip link set veth-b up
wl -d --name srv --network parnet net:1 sleep 600 >/dev/null &&
	wl -d --name cli --network parnet net:1 sleep 600 >/dev/null || exit 1
srv_pid=$(wb state srv | jq .pid)
cli_pid=$(wb state cli | jq .pid)
srv_ip=$(nsenter --net="/proc/$srv_pid/ns/net" ip -4 -o addr show dev eth0 |
	awk '{ sub("/.*", "", $4); print $4 }')
# br_netfilter (docker loads it, for the whole machine) makes every
# packet a bridge forwards go through the world's IPv4 netfilter hooks:
# berth's raw chain, conntrack's and NAT's, which cost a few points of
# throughput even for packets they let by untouched. On a host where it
# was never loaded, bridged packets meet none of them: the third setup
# turns bridge-nf-call-iptables off in the world alone (the sysctl is
# each namespace's own) to measure that.
brnf=/proc/sys/net/bridge/bridge-nf-call-iptables
brnf_was=$(w cat "$brnf" 2>/dev/null)
bridge_brnf_off() {
	w sh -c "echo 0 >$brnf" || return 1
	iperf "/proc/$srv_pid/ns/net" "/proc/$cli_pid/ns/net" "$srv_ip"
	w sh -c "echo $brnf_was >$brnf"
}
# IPERF_ROUNDS rounds, in the order plain, bridge[, nobrnf], then
# backwards, ... so that a drift of the machine's speed falls on all alike
setups="plain bridge"
[ "$brnf_was" = 1 ] && setups="$setups nobrnf"
: >"$TDIR/plain.gbit"
: >"$TDIR/bridge.gbit"
: >"$TDIR/nobrnf.gbit"
for i in $(seq "$IPERF_ROUNDS"); do
	order=$setups
	[ $((i % 2)) = 0 ] && order=$(tr ' ' '\n' <<<"$setups" | tac | tr '\n' ' ')
	for v in $order; do
		case $v in
		plain) iperf "$NS_A" "$NS_B" 10.250.0.1 ;;
		bridge) iperf "/proc/$srv_pid/ns/net" "/proc/$cli_pid/ns/net" "$srv_ip" ;;
		nobrnf) bridge_brnf_off ;;
		esac >>"$TDIR/$v.gbit"
	done
done
wb delete -f srv >/dev/null
wb delete -f cli >/dev/null
gbit_plain=$(median "$TDIR/plain.gbit" 1)
gbit_bridge=$(median "$TDIR/bridge.gbit" 1)

echo
echo "3. TCP throughput, iperf3 -t $IPERF_SECONDS, one stream, server and client pinned to CPUs $cpu_srv and $cpu_cli; medians of $IPERF_ROUNDS interleaved runs"
printf '%-44s %10s   %s\n' "" "Gbit/s" "each run"
printf '%-44s %10s   %s\n' "two namespaces, one veth pair" "${gbit_plain:--}" "$(tr '\n' ' ' <"$TDIR/plain.gbit")"
printf '%-44s %10s   %s\n' "two berth containers on one bridge network" "${gbit_bridge:--}" "$(tr '\n' ' ' <"$TDIR/bridge.gbit")"
if [ "$brnf_was" = 1 ]; then
	gbit_nobrnf=$(median "$TDIR/nobrnf.gbit" 1)
	printf '%-44s %10s   %s\n' "the same, bridge-nf-call-iptables=0" "${gbit_nobrnf:--}" "$(tr '\n' ' ' <"$TDIR/nobrnf.gbit")"
fi
echo "bridge/veth: $(calc 'a / b * 100' "$gbit_bridge" "$gbit_plain")% (goal: at least 90%)"
if [ "$brnf_was" = 1 ]; then
	echo "bridge/veth with bridge-nf-call-iptables=0, as on a host where br_netfilter" \
		"was never loaded: $(calc 'a / b * 100' "$gbit_nobrnf" "$gbit_plain")%"
else
	echo "(br_netfilter is not loaded: bridged packets meet no netfilter hook)"
fi

# what berth left in the world: reported, not asserted
wb network prune >/dev/null
left=$(w ip -o link show | awk -F': ' '$2 != "lo" && $2 != "docker0" { print $2 }' | tr '\n' ' ')
[ -z "$left" ] || echo "note: links left in the world after network prune: $left"
pgrep -f "[d]nsmasq.*$TDIR" >/dev/null && echo "note: a DNS server of berth is still running"
exit 0
