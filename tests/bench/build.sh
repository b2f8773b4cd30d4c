#!/bin/bash
# build.sh: `berth build` against docker's classic builder, and berth's
# image save and import against docker's, on a private dockerd (nothing is
# downloaded; the base is the bundled demo image, berth-demo:latest):
#   - a five-step Dockerfile (COPY of a 10 MB context of random files, two
#     RUNs, ENV, CMD): cold builds (a fresh store, or docker's image and
#     build cache removed, before each; median of NCOLD) and rebuilds with
#     every step cached (median of NCACHED). RUN has no network in both.
#   - `berth image save` + `docker load` against `docker save` + `docker
#     load` of the built image (median of NCACHED).
#   - `berth image import` of a ~200 MB rootfs tar (the busybox rootfs and
#     random files) against `docker import` (median of NCOLD).
# Prints medians and berth's ratio to docker's, with the goals. Reports
# only: it never fails on a timing.
#   make bench-build   (BERTH, ROOTFS and DEMO_IMAGE are set by the Makefile)
#   NCOLD=5 NCACHED=9 IMPORT_MB=100 make bench-build
set -u

: "${BERTH:?set BERTH}" "${ROOTFS:?set ROOTFS}" "${DEMO_IMAGE:?set DEMO_IMAGE}"
NCOLD=${NCOLD:-3}
NCACHED=${NCACHED:-5}
IMPORT_MB=${IMPORT_MB:-200}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root" >&2
	exit 1
fi

export TDIR
TDIR=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
# shellcheck source=timing.sh
. "$here/bench/timing.sh"
# shellcheck source=docker-env.sh
. "$here/bench/docker-env.sh"
cleanup() {
	for id in $("$BERTH" --root "$TDIR/state" list -q 2>/dev/null); do
		"$BERTH" --root "$TDIR/state" delete -f "$id" >/dev/null 2>&1
	done
	bench_docker_stop
	rm -rf "$TDIR"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export TIMED_ERR=$TDIR/err

# The context: 10 MB in 40 random files over 4 directories, and a
# Dockerfile of five steps after FROM.
for d in 1 2 3 4; do
	mkdir -p "$TDIR/ctx/data/d$d"
	for f in $(seq 10); do
		head -c 262144 /dev/urandom >"$TDIR/ctx/data/d$d/f$f.bin"
	done
done
cat >"$TDIR/ctx/Dockerfile" <<-'EOF'
	FROM berth-demo:latest
	COPY data/ /data/
	RUN du -s /data > /data.size
	RUN mkdir -p /app && echo built > /app/stamp
	ENV APP_MODE=bench
	CMD ["cat", "/app/stamp"]
EOF

bb() {
	"$BERTH" --root "$TDIR/state" build --store "$TDIR/store" -q \
		--network none --cgroup-parent "berth-test-$IT_TOKEN" "$@"
}
bimg() { "$BERTH" image --store "$TDIR/store" "$@"; }
fresh_store() {
	rm -rf "$TDIR/store"
	bimg load -q "$DEMO_IMAGE" >/dev/null
}
declare -A ms

# berth: cold builds, each in a fresh store with only the base loaded
for i in $(seq "$NCOLD"); do
	fresh_store || break
	timed bb -t bench-build:1 "$TDIR/ctx" || break
done | median_ms >"$TDIR/v"
ms[berth_cold]=$(cat "$TDIR/v")
for i in $(seq "$NCACHED"); do timed bb -t bench-build:1 "$TDIR/ctx" || break; done |
	median_ms >"$TDIR/v"
ms[berth_cached]=$(cat "$TDIR/v")
# Does a rebuild with every step cached give the same image? (docker's
# does; the second build is a second later, so a fresh "created" shows.)
same_id() {
	local a b
	a=$("$@" 2>/dev/null)
	sleep 1.1
	b=$("$@" 2>/dev/null)
	if [ -z "$a" ]; then echo "?"; elif [ "$a" = "$b" ]; then echo same; else echo "differs"; fi
}
berth_same=$(same_id bb -t bench-build:1 "$TDIR/ctx")
"$BERTH" --root "$TDIR/state" launch --store "$TDIR/store" --rm \
	--cgroup-parent "berth-test-$IT_TOKEN" bench-build:1 >"$TDIR/out" 2>&1
berth_runs=$(cat "$TDIR/out")

# the ~200 MB rootfs tar for import: the busybox rootfs plus random files
mkdir -p "$TDIR/big"
cp -a "$ROOTFS/." "$TDIR/big/"
mkdir -p "$TDIR/big/blob"
for f in $(seq $((IMPORT_MB / 4))); do
	head -c 4194304 /dev/urandom >"$TDIR/big/blob/r$f"
done
tar -C "$TDIR/big" -cf "$TDIR/big.tar" . && rm -rf "$TDIR/big"
import_mb=$(du -m "$TDIR/big.tar" | cut -f1)

for i in $(seq "$NCOLD"); do
	bimg rm big:1 >/dev/null 2>&1
	bimg prune -q >/dev/null 2>&1
	timed bimg import "$TDIR/big.tar" big:1 || break
done | median_ms >"$TDIR/v"
ms[berth_import]=$(cat "$TDIR/v")
bimg rm big:1 >/dev/null 2>&1
bimg prune -q >/dev/null 2>&1

bench_docker_start
if [ "$DOCKER_OK" = 1 ]; then
	dk load -i "$DEMO_IMAGE" >/dev/null
	dbuild() {
		DOCKER_BUILDKIT=0 dk build -q --network none -t bench-build:1 "$TDIR/ctx"
	}
	for i in $(seq "$NCOLD"); do
		dk rmi -f bench-build:1 >/dev/null 2>&1
		dk builder prune -af >/dev/null 2>&1
		timed dbuild || break
	done | median_ms >"$TDIR/v"
	ms[docker_cold]=$(cat "$TDIR/v")
	for i in $(seq "$NCACHED"); do timed dbuild || break; done | median_ms >"$TDIR/v"
	ms[docker_cached]=$(cat "$TDIR/v")
	docker_same=$(same_id dbuild)
	docker_runs=$(dk run --rm --network none bench-build:1 2>&1)

	# save + load: each image leaves docker before it is loaded again;
	# the base's layers stay, as they would on a host that has it.
	: >"$TDIR/bs"
	: >"$TDIR/bl"
	: >"$TDIR/ds"
	: >"$TDIR/dl"
	for i in $(seq "$NCACHED"); do
		rm -f "$TDIR/b.tar" "$TDIR/d.tar"
		timed bimg save -o "$TDIR/b.tar" bench-build:1 >>"$TDIR/bs" || break
		dk rmi -f bench-build:1 >/dev/null 2>&1
		timed dk load -i "$TDIR/b.tar" >>"$TDIR/bl" || break
		timed dk save -o "$TDIR/d.tar" bench-build:1 >>"$TDIR/ds" || break
		dk rmi -f bench-build:1 >/dev/null 2>&1
		timed dk load -i "$TDIR/d.tar" >>"$TDIR/dl" || break
	done
	paste "$TDIR/bs" "$TDIR/bl" | awk '{ print $1 + $2 }' | median_ms >"$TDIR/v"
	ms[berth_saveload]=$(cat "$TDIR/v")
	paste "$TDIR/ds" "$TDIR/dl" | awk '{ print $1 + $2 }' | median_ms >"$TDIR/v"
	ms[docker_saveload]=$(cat "$TDIR/v")
	ms[berth_save]=$(median_ms <"$TDIR/bs")
	ms[docker_save]=$(median_ms <"$TDIR/ds")
	save_kib="$(du -k "$TDIR/b.tar" 2>/dev/null | cut -f1) / $(du -k "$TDIR/d.tar" 2>/dev/null | cut -f1)"
	rm -f "$TDIR/b.tar" "$TDIR/d.tar"

	for i in $(seq "$NCOLD"); do
		dk rmi -f big:1 >/dev/null 2>&1
		timed dk import "$TDIR/big.tar" big:1 || break
	done | median_ms >"$TDIR/v"
	ms[docker_import]=$(cat "$TDIR/v")
	dk rmi -f big:1 >/dev/null 2>&1
fi

echo "berth build: FROM berth-demo + COPY (10 MB, 40 files) + 2 RUN + ENV + CMD;"
echo "docker: classic builder (DOCKER_BUILDKIT=0), RUN without network in both."
echo "cold: median of $NCOLD; cached and save/load: median of $NCACHED; import: median of $NCOLD."
row_head
row "build, cold" "${ms[berth_cold]}" "${ms[docker_cold]:-}" "<= 0.5x"
row "build, every step cached" "${ms[berth_cached]}" "${ms[docker_cached]:-}" \
	"<= 0.1x and < 100 ms"
row "image save + docker load (docker save + load)" "${ms[berth_saveload]:-}" \
	"${ms[docker_saveload]:-}"
row "  the save alone" "${ms[berth_save]:-}" "${ms[docker_save]:-}"
row "image import of a ${import_mb} MB tar (docker import)" "${ms[berth_import]}" \
	"${ms[docker_import]:-}"
[ "$DOCKER_OK" = 1 ] && echo "archives saved: ${save_kib} KiB (berth / docker)"
echo "image id of two cached rebuilds a second apart: berth ${berth_same:-?}, docker ${docker_same:-?}"
echo "the built image runs: berth: ${berth_runs:-?}; docker: ${docker_runs:-?}"
[ "$DOCKER_OK" = 1 ] || echo "(docker: no dockerd could be started here)"
[ -s "$TDIR/err" ] && { echo "errors of timed commands:"; sort -u "$TDIR/err" | tail -n 5; }
exit 0
