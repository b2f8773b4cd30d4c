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
# berth's and docker's runs alternate, so that both meet the same load.
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
	bench_berth_clean
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
# med FILE: the median of a file of samples
med() { median_ms <"$TDIR/$1"; }
for f in bc dc bcc dcc bi di bs bl ds dl; do : >"$TDIR/$f"; done

# dockerd first: berth's and docker's runs alternate, so that both see
# the same load of this (shared, noisy) machine.
bench_docker_start
dock() { [ "$DOCKER_OK" = 1 ]; }
dock && dk load -i "$DEMO_IMAGE" >/dev/null
dbuild() {
	DOCKER_BUILDKIT=0 dk build -q --network none -t bench-build:1 "$TDIR/ctx"
}

# cold: berth in a fresh store with only the base loaded; docker without
# the image, its intermediate images (the classic builder's cache) and
# its build cache
for _ in $(seq "$NCOLD"); do
	fresh_store && timed bb -t bench-build:1 "$TDIR/ctx" >>"$TDIR/bc"
	dock || continue
	dk rmi -f bench-build:1 >/dev/null 2>&1
	dk builder prune -af >/dev/null 2>&1
	timed dbuild >>"$TDIR/dc"
done
for _ in $(seq "$NCACHED"); do
	timed bb -t bench-build:1 "$TDIR/ctx" >>"$TDIR/bcc"
	dock && timed dbuild >>"$TDIR/dcc"
done
ms[berth_cold]=$(med bc) ms[docker_cold]=$(med dc)
ms[berth_cached]=$(med bcc) ms[docker_cached]=$(med dcc)

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
berth_runs=$("$BERTH" --root "$TDIR/state" launch --store "$TDIR/store" --rm \
	--cgroup-parent "berth-test-$IT_TOKEN" bench-build:1 2>&1)
if dock; then
	docker_same=$(same_id dbuild)
	docker_runs=$(dk run --rm --network none bench-build:1 2>&1)
fi

# save + load: the image leaves docker before each load; the base's
# layers stay, as they would on a host that has the base.
for _ in $(seq "$NCACHED"); do
	dock || break
	rm -f "$TDIR/b.tar" "$TDIR/d.tar"
	timed bimg save -o "$TDIR/b.tar" bench-build:1 >>"$TDIR/bs" || break
	dk rmi -f bench-build:1 >/dev/null 2>&1
	timed dk load -i "$TDIR/b.tar" >>"$TDIR/bl" || break
	timed dk save -o "$TDIR/d.tar" bench-build:1 >>"$TDIR/ds" || break
	dk rmi -f bench-build:1 >/dev/null 2>&1
	timed dk load -i "$TDIR/d.tar" >>"$TDIR/dl" || break
done
ms[berth_saveload]=$(paste "$TDIR/bs" "$TDIR/bl" | awk 'NF == 2 { print $1 + $2 }' | median_ms)
ms[docker_saveload]=$(paste "$TDIR/ds" "$TDIR/dl" | awk 'NF == 2 { print $1 + $2 }' | median_ms)
ms[berth_save]=$(med bs) ms[docker_save]=$(med ds)
save_kib="$(du -k "$TDIR/b.tar" 2>/dev/null | cut -f1) / $(du -k "$TDIR/d.tar" 2>/dev/null | cut -f1)"
rm -f "$TDIR/b.tar" "$TDIR/d.tar"

# the ~200 MB rootfs tar for import: the busybox rootfs plus random files
mkdir -p "$TDIR/big"
cp -a "$ROOTFS/." "$TDIR/big/"
mkdir -p "$TDIR/big/blob"
for f in $(seq $((IMPORT_MB / 4))); do
	head -c 4194304 /dev/urandom >"$TDIR/big/blob/r$f"
done
tar -C "$TDIR/big" -cf "$TDIR/big.tar" . && rm -rf "$TDIR/big"
import_mb=$(du -m "$TDIR/big.tar" | cut -f1)
for _ in $(seq "$NCOLD"); do
	bimg rm big:1 >/dev/null 2>&1
	bimg prune -q >/dev/null 2>&1
	timed bimg import "$TDIR/big.tar" big:1 >>"$TDIR/bi"
	dock || continue
	dk rmi -f big:1 >/dev/null 2>&1
	timed dk import "$TDIR/big.tar" big:1 >>"$TDIR/di"
done
ms[berth_import]=$(med bi) ms[docker_import]=$(med di)
import_kib=$(du -k "$(ls -S "$TDIR"/store/blobs/sha256/* | head -n 1)" | cut -f1)

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
dock && echo "archives saved: ${save_kib} KiB (berth / docker)"
echo "the imported layer in berth's store: ${import_kib} KiB (a gzip blob)"
echo "image id of two cached rebuilds a second apart: berth ${berth_same:-?}, docker ${docker_same:-?}"
echo "the built image runs: berth: ${berth_runs:-?}; docker: ${docker_runs:-?}"
[ "$DOCKER_OK" = 1 ] || echo "(docker: no dockerd could be started here)"
[ -s "$TDIR/err" ] && { echo "errors of timed commands:"; sort -u "$TDIR/err" | tail -n 5; }
exit 0
