#!/bin/bash
# images.sh: berth's daemonless image path against Docker and the
# skopeo + umoci path, on one busybox image made here (nothing is
# downloaded):
#   - `berth launch --rm IMG true` against `docker run --rm IMG true` on a
#     private dockerd (runc), medians over N runs
#   - `berth image load` against `docker load`, and against `skopeo copy`
#     into an OCI layout plus `umoci unpack`
#   - 64 containers started from one image: time, and the disk they use
#     besides the image
# Prints a table of ratios. Reports only: it never fails on a timing.
#   make bench-images          (BERTH and ROOTFS are set by the Makefile)
#   N=10 make bench-images
set -u

: "${BERTH:?set BERTH}" "${ROOTFS:?set ROOTFS}"
N=${N:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root" >&2
	exit 1
fi
for p in skopeo umoci; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		sh "$here/deps.sh" "$p" >/dev/null 2>&1
done

export TDIR
TDIR=$(mktemp -d /tmp/berth-bench-img.XXXXXX)
# shellcheck source=docker-env.sh
. "$here/bench/docker-env.sh"
cleanup() {
	bench_berth_clean
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { echo "${EPOCHREALTIME/./}"; }
# median of µs samples on stdin, in ms
median_ms() {
	sort -n | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f", m / 1000 }'
}
# timed CMD...: one run, µs on stdout
timed() {
	local t0 t1
	t0=$(now)
	"$@" >/dev/null 2>&1 </dev/null || return 1
	t1=$(now)
	echo $((t1 - t0))
}

jq -nc --arg root "$ROOTFS" '{tags: ["bench:1"], config: {Cmd: ["true"]},
	layers: [{dir: $root, compress: "gzip"}]}' |
	python3 "$here/integration/mkimage.py" docker "$TDIR/img.tar" || exit 1
size=$(du -k "$TDIR/img.tar" | cut -f1)

la() {
	"$BERTH" --root "$TDIR/state" launch --store "$TDIR/store" \
		--cgroup-parent "berth-test-$IT_TOKEN" "$@"
}

declare -A ms
# berth: load into a fresh store each time
for i in $(seq 5); do
	rm -rf "$TDIR/store"
	timed "$BERTH" image --store "$TDIR/store" load "$TDIR/img.tar"
done | median_ms >"$TDIR/v" && ms[berth_load]=$(cat "$TDIR/v")
la --rm bench:1 >/dev/null 2>&1
for i in $(seq "$N"); do timed la --rm bench:1; done | median_ms >"$TDIR/v" &&
	ms[berth_launch]=$(cat "$TDIR/v")

# 64 containers from one image
t0=$(now)
for i in $(seq 64); do la -d --name "c$i" bench:1 sleep 60 >/dev/null || break; done
t1=$(now)
ms[berth_64]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
per_ctr_kib=$(du -sk -x "$TDIR/store/containers" | awk '{ printf "%.1f", $1 / 64 }')
layer_kib=$(du -sk "$TDIR/store/layers" | cut -f1)
for i in $(seq 64); do "$BERTH" --root "$TDIR/state" delete -f "c$i" >/dev/null 2>&1; done

# skopeo + umoci
if command -v skopeo >/dev/null && command -v umoci >/dev/null; then
	for i in $(seq 5); do
		rm -rf "$TDIR/oci" "$TDIR/bundle"
		timed sh -c "skopeo copy -q docker-archive:$TDIR/img.tar oci:$TDIR/oci:b &&
			umoci unpack --image $TDIR/oci:b $TDIR/bundle"
	done | median_ms >"$TDIR/v" && ms[umoci]=$(cat "$TDIR/v")
fi

# docker
bench_docker_start
if [ "$DOCKER_OK" = 1 ]; then
	for i in $(seq 5); do
		dk rmi -f bench:1 >/dev/null 2>&1
		timed dk load -i "$TDIR/img.tar"
	done | median_ms >"$TDIR/v" && ms[docker_load]=$(cat "$TDIR/v")
	dk run --rm --network none bench:1 true >/dev/null 2>&1
	for i in $(seq "$N"); do timed dk run --rm --network none bench:1 true; done |
		median_ms >"$TDIR/v" && ms[docker_run]=$(cat "$TDIR/v")
fi

ratio() { awk -v a="$1" -v b="${2:-}" 'BEGIN { if (b != "" && a > 0) printf "%.1fx", b / a; else print "-" }'; }
echo "image: busybox, one gzip layer, ${size} KiB; medians of $N runs (loads: 5)"
printf '%-44s %10s %10s %8s\n' "" "berth ms" "other ms" "ratio"
printf '%-44s %10s %10s %8s\n' "launch --rm IMG true vs docker run --rm" "${ms[berth_launch]:--}" \
	"${ms[docker_run]:--}" "$(ratio "${ms[berth_launch]:-0}" "${ms[docker_run]:-}")"
printf '%-44s %10s %10s %8s\n' "image load vs docker load" "${ms[berth_load]:--}" \
	"${ms[docker_load]:--}" "$(ratio "${ms[berth_load]:-0}" "${ms[docker_load]:-}")"
printf '%-44s %10s %10s %8s\n' "image load vs skopeo copy + umoci unpack" "${ms[berth_load]:--}" \
	"${ms[umoci]:--}" "$(ratio "${ms[berth_load]:-0}" "${ms[umoci]:-}")"
echo "64 containers from one image: ${ms[berth_64]} ms to start, ${per_ctr_kib} KiB of disk each (the image's layers: ${layer_kib} KiB, shared)"
[ "$DOCKER_OK" = 1 ] || echo "(docker: no dockerd could be started here)"
