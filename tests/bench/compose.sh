#!/bin/bash
# compose.sh: `berth compose up -d` and `down` of one project against
# Debian's docker-compose on a private dockerd, for the same file: a
# service and a worker with 8 replicas on the bundled demo image
# (berth-demo:latest), every service with network_mode none, so that no
# network is made on the machine. `up` is timed until every one of the 9
# containers runs (as `ps` says), `down` until it returns. Medians of N;
# prints berth's ratio to docker-compose's. The two alternate, so that
# both meet the same load. Reports only: it never fails on a timing.
#   make bench-compose   (BERTH, ROOTFS and DEMO_IMAGE are set by the Makefile)
#   N=5 make bench-compose
set -u

: "${BERTH:?set BERTH}" "${ROOTFS:?set ROOTFS}" "${DEMO_IMAGE:?set DEMO_IMAGE}"
N=${N:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root" >&2
	exit 1
fi
command -v docker-compose >/dev/null ||
	sh "$here/deps.sh" docker-compose >/dev/null 2>&1

export TDIR
TDIR=$(mktemp -d /tmp/berth-bench-compose.XXXXXX)
# shellcheck source=timing.sh
. "$here/bench/timing.sh"
# shellcheck source=docker-env.sh
. "$here/bench/docker-env.sh"
proj=bb$$
bc_() {
	(cd "$TDIR/proj" && BERTH_STORE=$TDIR/store "$BERTH" --root "$TDIR/state" \
		compose -p "$proj" "$@")
}
dc_() {
	(cd "$TDIR/proj" && timeout -k 5 120 docker-compose -p "$proj" "$@" 2>>"$TDIR/dc.log")
}
cleanup() {
	bc_ down >/dev/null 2>&1
	(cd "$TDIR/tick" 2>/dev/null && BERTH_STORE=$TDIR/store "$BERTH" --root "$TDIR/state" \
		compose -p "t$proj" down >/dev/null 2>&1)
	[ "${DOCKER_OK:-0}" = 1 ] && dc_ down -t 1 >/dev/null 2>&1
	bench_berth_clean
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export TIMED_ERR=$TDIR/err

# The containers' init ends on SIGTERM at once, so that `down` times the
# engines and not a stop timeout.
mkdir -p "$TDIR/proj"
cat >"$TDIR/proj/compose.yaml" <<-'EOF'
	services:
	  coordinator:
	    image: berth-demo:latest
	    network_mode: none
	    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
	  worker:
	    image: berth-demo:latest
	    network_mode: none
	    depends_on: [coordinator]
	    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
	    deploy:
	      replicas: 8
EOF
"$BERTH" image --store "$TDIR/store" load -q "$DEMO_IMAGE" >/dev/null || exit 1

# until_running CMD...: polls CMD (a ps) until 9 lines say running; fails
# after 60 s.
until_running() {
	for _ in $(seq 6000); do
		[ "$("$@" 2>/dev/null | grep -c running)" -ge 9 ] && return 0
		sleep 0.01
	done
	return 1
}
bc_up() { bc_ up -d && until_running bc_ ps; }
dc_up() { dc_ up -d && until_running dc_ps; }
dc_ps() { dk ps --filter "label=com.docker.compose.project=$proj" --format '{{.State}}'; }

# links LIST: the machine's network interfaces (read only): a check that
# neither side made a network.
links() { ip -o link show | awk -F': ' '{ print $2 }' | sort; }
links >"$TDIR/links.before"

declare -A ms
for f in bu bd du dd; do : >"$TDIR/$f"; done
# dockerd first: berth's and docker-compose's runs alternate, so that both
# see the same load of this (shared, noisy) machine.
bench_docker_start
dock() { [ "$DOCKER_OK" = 1 ] && command -v docker-compose >/dev/null; }
dock && dk load -i "$DEMO_IMAGE" >/dev/null
for _ in $(seq "$N"); do
	timed bc_up >>"$TDIR/bu" || break
	running_b=$(bc_ ps | grep -c running)
	timed bc_ down >>"$TDIR/bd" || break
	dock || continue
	timed dc_up >>"$TDIR/du" || break
	running_d=$(dc_ps | grep -c running)
	timed dc_ down >>"$TDIR/dd" || break
done
left_b=$(bc_ ps 2>/dev/null | grep -c running)
dock && nets=$(dk network ls --format '{{.Name}}' | grep -c "^$proj")
for f in bu bd du dd; do ms[$f]=$(median_ms <"$TDIR/$f"); done
links >"$TDIR/links.after"

# logs -f: how long a line takes from the container's write (its
# $EPOCHREALTIME, in the line) to the follower (bash's, when it reads it).
mkdir -p "$TDIR/tick"
cat >"$TDIR/tick/compose.yaml" <<-'EOF'
	services:
	  ticker:
	    image: berth-demo:latest
	    network_mode: none
	    init: true
	    command: ["sh", "-c", "while sleep 0.05; do echo $$EPOCHREALTIME; done"]
EOF
bt_() {
	(cd "$TDIR/tick" && BERTH_STORE=$TDIR/store "$BERTH" --root "$TDIR/state" \
		compose -p "t$proj" "$@")
}
lat=
if bt_ up -d >/dev/null 2>&1; then
	lat=$(bt_ logs -f --tail 0 ticker 2>/dev/null | {
		n=0
		while [ $n -lt 100 ] && read -r _ _ t; do
			now=$EPOCHREALTIME
			awk -v a="$t" -v b="$now" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'
			n=$((n + 1))
		done
	} | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "median %.2f ms, 90th %.2f ms, max %.2f ms of %d lines", v[int((NR + 1) / 2)], v[int(NR * 0.9)], v[NR], NR }')
	bt_ down >/dev/null 2>&1
fi

echo "compose: 1 service + 8 replicas of a worker on berth-demo, network_mode none; medians of $N"
row_head | sed 's/docker ms/d-compose/'
row "up -d until all 9 run" "${ms[bu]:-}" "${ms[du]:-}" "<= 0.1x"
row "down" "${ms[bd]:-}" "${ms[dd]:-}"
tot_b=$(awk -v a="${ms[bu]:-}" -v b="${ms[bd]:-}" \
	'BEGIN { if (a != "" && b != "") printf "%.1f", a + b }')
tot_d=$(awk -v a="${ms[du]:-}" -v b="${ms[dd]:-}" \
	'BEGIN { if (a != "" && b != "") printf "%.1f", a + b }')
row "up + down" "$tot_b" "$tot_d"
echo "logs -f, a line from the container's write to the follower (goal <= 50 ms): ${lat:-not measured}"
echo "running after up: berth ${running_b:-?}, docker-compose ${running_d:-?};" \
	"berth's left after down: $left_b; docker networks of the project: ${nets:-?}"
cmp -s "$TDIR/links.before" "$TDIR/links.after" ||
	echo "WARNING: the machine's network interfaces changed during the run"
[ "$DOCKER_OK" = 1 ] || echo "(docker: no dockerd could be started here)"
command -v docker-compose >/dev/null || echo "(docker-compose is not installed)"
[ -s "$TDIR/err" ] && { echo "errors of timed commands:"; sort -u "$TDIR/err" | tail -n 5; }
[ -n "${ms[du]:-}" ] || [ "$DOCKER_OK" != 1 ] ||
	{ echo "docker-compose:"; tail -n 5 "$TDIR/dc.log"; }
exit 0
