# Images without a daemon: `berth image` loads Docker archives and OCI
# layouts into a store, verifies every digest, unpacks layers safely and
# writes runtime bundles. The images are made here from the busybox rootfs
# by mkimage.py (python3): nothing is downloaded.

MKIMAGE=$IT_LIB_DIR/mkimage.py

# bi ARGS...: `berth image` on the test's own store.
bi() {
	"$BERTH" image --store "$TDIR/store" "$@"
}

# mkimg FORMAT OUT JSON: an image (see mkimage.py for FORMAT and JSON).
mkimg() {
	printf '%s' "$3" | python3 "$MKIMAGE" "$1" "$2" ||
		fail "mkimage.py $1 $2 failed"
}

# busybox_desc TAG CMD-JSON [COMPRESS]: one layer holding the busybox
# rootfs, running CMD.
busybox_desc() {
	jq -nc --arg tag "$1" --argjson cmd "$2" --arg root "$ROOTFS" \
		--arg c "${3:-}" '{tags: [$tag], config: {Cmd: $cmd},
		layers: [{dir: $root} + (if $c == "" then {} else {compress: $c} end)]}'
}

# img_bundle ID IMAGE: `image unpack` into ID's bundle, then the settings
# every test container needs (its cgroup, the token the cleanup looks for).
img_bundle() {
	local id=$1 b
	b=$(bundle_of "$id")
	assert_ok bi unpack "$2" "$b"
	cfg "$id" '.linux.cgroupsPath = $cg | .process.env += ["BERTH_IT=" + $tok]
		| .hostname = $id[0:63]' --arg cg "berth-test-$IT_TOKEN/$id" \
		--arg tok "$IT_TOKEN" --arg id "$id"
}

# store_list: what the store holds (not the lock, not tmp/).
store_list() {
	(cd "$TDIR/store" && find blobs layers images refs.json 2>/dev/null | sort)
}

# assert_store_consistent: every blob matches its name, every image record
# names blobs and layers that are there, tmp/ is empty.
assert_store_consistent() {
	local f d l
	for f in "$TDIR"/store/blobs/sha256/*; do
		[ -e "$f" ] || continue
		d=$(sha256sum "$f" | cut -d' ' -f1)
		assert_eq "$d" "$(basename "$f")" "blob $f"
	done
	for f in "$TDIR"/store/images/*.json; do
		[ -e "$f" ] || continue
		for d in $(jq -r '.digest, .id, .layers[].digest' "$f"); do
			[ -f "$TDIR/store/blobs/sha256/${d#sha256:}" ] ||
				fail "$f names blob $d, which is missing"
		done
		for l in $(jq -r '.layers[].diffID' "$f"); do
			[ -d "$TDIR/store/layers/${l#sha256:}" ] ||
				fail "$f names layer $l, which is missing"
		done
	done
	assert_eq "$(ls -A "$TDIR/store/tmp")" "" "store tmp/"
}

# ---- loading and running --------------------------------------------------

t_image_docker_archive_run() {
	local id
	mkimg docker "$TDIR/bb.tar" "$(busybox_desc bb:1 '["echo", "hello from a docker archive"]')"
	assert_ok bi load "$TDIR/bb.tar"
	assert_eq "$OUT" "Loaded image: bb:1"
	assert_ok bi ls
	assert_match "$(sed -n 1p <<<"$OUT")" '^REPOSITORY +TAG +IMAGE ID +SIZE +CREATED'
	assert_match "$(sed -n 2p <<<"$OUT")" '^bb +1 +[0-9a-f]{12} +[0-9.]+[kM]B +[0-9]+ [a-z]+ ago$'
	id=$(new_id docker)
	img_bundle "$id" bb:1
	assert_eq "$(jq -r '.root.path' "$(bundle_of "$id")/config.json")" rootfs
	run_a "$id"
	assert_eq "$RC" 0 "exit status of the image's command ($(last_line "$ERR"))"
	assert_eq "$OUT" "hello from a docker archive"
	assert_store_consistent
}

t_image_oci_layout_run() {
	local id
	# a layout directory (zstd layer) and the same kind of layout as a tar
	# read from stdin (gzip layer)
	mkimg oci-dir "$TDIR/layout" "$(busybox_desc latest '["echo", "from a layout"]' zstd)"
	assert_ok bi load "$TDIR/layout"
	assert_eq "$OUT" "Loaded image: layout:latest" "a bare ref.name gets the layout's name"
	mkimg oci-tar "$TDIR/oci.tar" "$(busybox_desc oci:2 '["echo", "from stdin"]' gzip)"
	run bi load - <"$TDIR/oci.tar"
	assert_eq "$RC" 0 "load - ($(last_line "$ERR"))"
	assert_eq "$OUT" "Loaded image: oci:2"
	id=$(new_id layout)
	img_bundle "$id" layout
	run_a "$id"
	assert_eq "$OUT" "from a layout"
	id=$(new_id stdin)
	img_bundle "$id" oci:2
	run_a "$id"
	assert_eq "$OUT" "from stdin"
	# the busybox layer is the same in both: unpacked once
	assert_eq "$(ls "$TDIR/store/layers" | wc -l)" 1 "layers in the store"
	assert_store_consistent
}

t_image_docker_with_oci_index() {
	mkimg docker-oci "$TDIR/new.tar" "$(jq -nc --arg root "$ROOTFS" '{tags: ["new:1"],
		config: {Cmd: ["cat", "/hello"]},
		layers: [{dir: $root}, {entries: [{path: "hello", data: "layer two"}], compress: "zstd"}]}')"
	assert_ok bi load "$TDIR/new.tar"
	assert_eq "$OUT" "Loaded image: new:1"
	local id
	id=$(new_id newdocker)
	img_bundle "$id" new:1
	run_a "$id"
	assert_eq "$OUT" "layer two"
}

t_image_index_picks_host_platform() {
	local arch
	arch=$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
	mkimg oci-tar "$TDIR/multi.tar" "$(jq -nc --arg root "$ROOTFS" --arg a "linux/$arch" '{tags: ["multi:1"],
		platforms: ["linux/s390x", $a, "windows/amd64"], layers: [{dir: $root}]}')"
	assert_ok bi load "$TDIR/multi.tar"
	assert_ok bi inspect multi:1
	assert_eq "$(jq -r .architecture <<<"$OUT")" "$arch"
	mkimg oci-tar "$TDIR/other.tar" "$(jq -nc --arg root "$ROOTFS" '{tags: ["other:1"],
		platforms: ["linux/s390x", "windows/amd64"], layers: [{dir: $root}]}')"
	[ "$arch" = s390x ] && return 0
	assert_fail_with "no image for linux/$arch" bi load "$TDIR/other.tar"
}

t_image_skopeo_layout() {
	command -v skopeo >/dev/null || skip "skopeo is not installed"
	local id
	mkimg docker "$TDIR/bb.tar" "$(busybox_desc bb:1 '["echo", "converted by skopeo"]' gzip)"
	assert_ok skopeo copy -q "docker-archive:$TDIR/bb.tar" "oci:$TDIR/sk:bb:sk"
	assert_ok bi load "$TDIR/sk"
	assert_eq "$OUT" "Loaded image: bb:sk"
	id=$(new_id skopeo)
	img_bundle "$id" bb:sk
	run_a "$id"
	assert_eq "$OUT" "converted by skopeo"
}

t_image_config_to_bundle() {
	local id c
	mkimg oci-tar "$TDIR/cfg.tar" "$(jq -nc --arg root "$ROOTFS" '{tags: ["cfg:1"],
		config: {Entrypoint: ["/bin/sh", "-c"], Cmd: ["id -u; id -G; pwd; echo $FOO"],
			Env: ["FOO=bar", "PATH=/bin:/usr/bin"], WorkingDir: "/tmp",
			User: "user", Labels: {"org.example.l": "v"},
			ExposedPorts: {"80/tcp": {}, "53/udp": {}}, Volumes: {"/data": {}},
			StopSignal: "SIGINT"},
		layers: [{dir: $root}]}')"
	assert_ok bi load "$TDIR/cfg.tar"
	id=$(new_id cfg)
	img_bundle "$id" cfg:1
	c=$(bundle_of "$id")/config.json
	assert_eq "$(jq -c .process.args "$c")" '["/bin/sh","-c","id -u; id -G; pwd; echo $FOO"]'
	assert_eq "$(jq -c .process.env "$c")" "[\"FOO=bar\",\"PATH=/bin:/usr/bin\",\"BERTH_IT=$IT_TOKEN\"]"
	assert_eq "$(jq -c .process.user "$c")" '{"uid":1000,"gid":1000}'
	assert_eq "$(jq -r .process.cwd "$c")" /tmp
	assert_eq "$(jq -r .process.terminal "$c")" false
	assert_eq "$(jq -r '.annotations["org.example.l"]' "$c")" v
	assert_eq "$(jq -r '.annotations["org.opencontainers.image.exposedPorts"]' "$c")" "80/tcp,53/udp"
	assert_eq "$(jq -r '.annotations["org.opencontainers.image.stopSignal"]' "$c")" SIGINT
	assert_eq "$(jq -r '.annotations["berth.image.volumes"]' "$c")" /data
	run_a "$id"
	assert_eq "$RC" 0 "exit status ($(last_line "$ERR"))"
	assert_eq "$(tr '\n' ' ' <<<"$OUT")" "1000 1000 /tmp bar "
}

t_image_names_and_removal() {
	local imgid digest
	mkimg docker "$TDIR/bb.tar" "$(busybox_desc bb:1 '["true"]')"
	assert_ok bi load "$TDIR/bb.tar"
	assert_ok bi inspect bb:1
	imgid=$(jq -r .id <<<"$OUT")
	digest=$(jq -r .digest <<<"$OUT")
	assert_eq "$(jq -c .repoTags <<<"$OUT")" '["bb:1"]'
	assert_eq "$(jq -c .config.Cmd <<<"$OUT")" '["true"]'
	assert_eq "$(jq -r '.layers | length' <<<"$OUT")" 1
	assert_match "$(jq -r .size <<<"$OUT")" '^[0-9]{6,}$'
	assert_ok bi tag bb:1 docker.io/library/other
	assert_ok bi inspect "${imgid:7:12}"
	assert_eq "$(jq -c .repoTags <<<"$OUT")" '["bb:1","other:latest"]' "tags of the image found by id"
	assert_ok bi ls -q
	assert_eq "$OUT" "${imgid:7:12}"
	assert_ok bi rm other
	assert_eq "$OUT" "Untagged: other:latest"
	assert_ok bi rm bb:1
	assert_eq "$OUT" "$(printf 'Untagged: bb:1\nDeleted: %s' "$digest")"
	assert_fail_with "image bb:1: not found" bi inspect bb:1
	# blobs and layers stay until prune
	assert_ne "$(ls "$TDIR/store/layers")" ""
	assert_ok bi prune
	assert_contains "$OUT" "Deleted 0 images, 3 blobs, 1 layers"
	assert_eq "$(store_list | tr '\n' ' ')" "blobs blobs/sha256 images layers refs.json "
}

# prune reports the disk space it gives back, layers included: the
# usage of blobs/ and layers/ before and after, within the rounding of
# its three digits.
t_image_prune_reports_freed_space() {
	local before after got
	mkimg docker "$TDIR/big.tar" '{"tags": ["big:1"], "layers": [
		{"entries": [{"path": "big", "random": 30000000}]}]}'
	assert_ok bi load "$TDIR/big.tar"
	assert_ok bi rm big:1
	before=$(du -sB1 "$TDIR/store/blobs" "$TDIR/store/layers" | awk '{s += $1} END {print s}')
	assert_ok bi prune
	after=$(du -sB1 "$TDIR/store/blobs" "$TDIR/store/layers" | awk '{s += $1} END {print s}')
	assert_contains "$OUT" "Deleted 0 images, 3 blobs, 1 layers"
	got=$(sed -n 's/^Total reclaimed space: \([0-9.]*\)MB$/\1/p' <<<"$OUT")
	[ -n "$got" ] || fail "no reclaimed space in MB: $OUT"
	awk -v g="$got" -v d=$((before - after)) \
		'BEGIN {exit !(g * 1e6 >= d * 0.99 && g * 1e6 <= d * 1.01)}' ||
		fail "prune reports ${got}MB, the store gave back $((before - after)) bytes"
}

# One image from two manifests (a Docker archive and an OCI layout): two
# records with one id. Every id image ls prints can be used; rm by that id
# takes both, and as with Docker needs --force when the names are in two
# repositories.
t_image_shared_config_ids() {
	local id digest
	mkimg docker "$TDIR/a.tar" "$(bad_layer '[{"path": "x", "data": "1"}]' | sed 's/bad:1/a:1/')"
	mkimg oci-tar "$TDIR/b.tar" "$(bad_layer '[{"path": "x", "data": "1"}]' | sed 's/bad:1/b:1/')"
	assert_ok bi load "$TDIR/a.tar"
	assert_ok bi load "$TDIR/b.tar"
	assert_ok bi ls -q
	assert_eq "$(sort -u <<<"$OUT" | wc -l)" 1 "one id for both records"
	assert_eq "$(wc -l <<<"$OUT")" 2 "two records"
	for id in $OUT; do
		assert_ok bi inspect "$id"
		assert_eq "$(jq -r .id <<<"$OUT" | cut -c8-19)" "$id"
		assert_ok bi unpack "$id" "$TDIR/u-$RANDOM"
	done
	assert_ok bi inspect a:1
	id=$(jq -r .id <<<"$OUT")
	# a manifest digest still names its own record
	assert_ok bi inspect b:1
	digest=$(jq -r .digest <<<"$OUT")
	assert_ok bi inspect "${digest:7:12}"
	assert_eq "$(jq -r .digest <<<"$OUT")" "$digest"
	assert_fail_with "image ${id:7:12} is referenced in multiple repositories (a:1, b:1)" bi rm "${id:7:12}"
	assert_ok bi ls -q
	assert_eq "$(wc -l <<<"$OUT")" 2 "records after a refused rm"
	assert_ok bi rm -f "${id:7:12}"
	assert_eq "$(grep -c '^Untagged: ' <<<"$OUT") $(grep -c '^Deleted: ' <<<"$OUT")" "2 2"
	assert_ok bi ls -q
	assert_eq "$OUT" ""
	# names in one repository go without --force
	assert_ok bi load "$TDIR/a.tar"
	assert_ok bi tag a:1 a:2
	assert_ok bi inspect a:1
	digest=$(jq -r .digest <<<"$OUT")
	assert_ok bi rm "$id"
	assert_eq "$OUT" "$(printf 'Untagged: a:1\nUntagged: a:2\nDeleted: %s' "$digest")"
	assert_ok bi ls -q
	assert_eq "$OUT" ""
	assert_store_consistent
}

t_image_path_as_name() {
	local id
	mkimg oci-tar "$TDIR/p.tar" "$(busybox_desc p:1 '["echo", "named by path"]')"
	id=$(new_id path)
	img_bundle "$id" "$TDIR/p.tar"
	run_a "$id"
	assert_eq "$OUT" "named by path"
	# a second use verifies again but stores nothing new
	local before
	before=$(store_list)
	assert_ok bi unpack "$TDIR/p.tar" "$TDIR/again"
	assert_eq "$(store_list)" "$before" "store after a second use"
	assert_ok bi ls -q
	assert_eq "$(wc -l <<<"$OUT")" 1
}

# ---- whiteouts ----------------------------------------------------------------

t_image_whiteouts_three_layers() {
	local l s
	mkimg oci-tar "$TDIR/wh.tar" '{"tags": ["wh:1"], "layers": [
		{"entries": [{"path": "a", "type": "dir"}, {"path": "a/1", "data": "a1"},
			{"path": "a/2", "data": "a2"}, {"path": "b", "type": "dir"},
			{"path": "b/1", "data": "b1"}, {"path": "c", "data": "c"},
			{"path": "d", "type": "dir"}, {"path": "d/x", "data": "dx"},
			{"path": "d/sub", "type": "dir"}, {"path": "d/sub/y", "data": "y"}]},
		{"entries": [{"path": ".wh.c"}, {"path": "a/.wh.1"},
			{"path": "d", "type": "dir"}, {"path": "d/.wh..wh..opq"},
			{"path": "d/new", "data": "new"}, {"path": "e", "data": "e"}],
			"compress": "gzip"},
		{"entries": [{"path": ".wh.b"}, {"path": "c", "type": "dir"},
			{"path": "c/z", "data": "z"}, {"path": "a/3", "data": "a3"}],
			"compress": "zstd"}]}'
	assert_ok bi load "$TDIR/wh.tar"
	assert_ok bi unpack wh:1 "$TDIR/b"
	assert_eq "$(cd "$TDIR/b/rootfs" && find . | sort | tr '\n' ' ')" \
		". ./a ./a/2 ./a/3 ./c ./c/z ./d ./d/new ./e " "the unpacked rootfs"
	assert_eq "$(cat "$TDIR/b/rootfs/d/new")" new
	# the stored layers are in overlayfs form...
	assert_ok bi inspect wh:1
	l=($(jq -r '.layers[].diffID | ltrimstr("sha256:")' <<<"$OUT"))
	s=$TDIR/store/layers
	assert_eq "$(stat -c '%F %t:%T' "$s/${l[1]}/c")" "character special file 0:0" "whiteout of c"
	assert_eq "$(stat -c '%F %t:%T' "$s/${l[2]}/b")" "character special file 0:0" "whiteout of b"
	assert_eq "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "trusted.overlay.opaque").decode())' "$s/${l[1]}/d")" y
	# ...that overlayfs shows as the copy does
	mkdir "$TDIR/ovl"
	mount -t overlay overlay -o "lowerdir=$s/${l[2]}:$s/${l[1]}:$s/${l[0]}" "$TDIR/ovl" ||
		fail "overlay mount of the layers"
	defer "umount $TDIR/ovl"
	assert_eq "$(cd "$TDIR/ovl" && find . | sort | tr '\n' ' ')" \
		". ./a ./a/2 ./a/3 ./c ./c/z ./d ./d/new ./e " "the overlay mount"
	umount "$TDIR/ovl"
}

t_image_metadata_kept() {
	mkimg oci-tar "$TDIR/meta.tar" '{"tags": ["meta:1"], "layers": [{"entries": [
		{"path": "bin", "type": "dir", "mode": 493},
		{"path": "bin/ping", "data": "#!/bin/sh", "mode": 3565, "uid": 0, "gid": 0,
			"xattrs": {"security.capability": "\u0001\u0000\u0000\u0002\u0000\u0020\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000"}},
		{"path": "home", "type": "dir"}, {"path": "home/u", "type": "dir", "mode": 448, "uid": 1000, "gid": 1000},
		{"path": "home/u/f", "data": "x", "mode": 384, "uid": 1000, "gid": 1000, "mtime": 1000000000},
		{"path": "home/u/hl", "type": "hardlink", "target": "home/u/f"},
		{"path": "home/u/sl", "type": "symlink", "target": "/etc/passwd"},
		{"path": "fifo", "type": "fifo", "mode": 416},
		{"path": "etc", "type": "dir"},
		{"path": "etc/passwd", "data": "root:x:0:0::/:/bin/sh\n"}]}]}'
	assert_ok bi load "$TDIR/meta.tar"
	assert_ok bi unpack meta:1 "$TDIR/b"
	local r=$TDIR/b/rootfs
	assert_eq "$(stat -c '%a %u:%g' "$r/bin/ping")" "6755 0:0" "set-id bits"
	assert_eq "$(stat -c '%a %u:%g %Y %h' "$r/home/u/f")" "600 1000:1000 1000000000 2"
	assert_eq "$(stat -c '%i' "$r/home/u/f")" "$(stat -c '%i' "$r/home/u/hl")" "hard link kept"
	assert_eq "$(readlink "$r/home/u/sl")" /etc/passwd
	assert_eq "$(stat -c '%F %a' "$r/fifo")" "fifo 640"
	assert_eq "$(python3 -c 'import os, sys; print(len(os.getxattr(sys.argv[1], "security.capability")))' "$r/bin/ping")" 20 \
		"file capabilities"
}

# ---- refusals -----------------------------------------------------------------

# refuse MESSAGE FORMAT JSON: the image is refused with MESSAGE on the last
# stderr line, the store holds nothing more, the canary outside is intact.
refuse() {
	local msg=$1 before files
	before=$(store_list)
	mkimg "$2" "$TDIR/bad.tar" "$3"
	files=$(ls -A "$TDIR")
	assert_fail_with "$msg" bi load "$TDIR/bad.tar"
	assert_eq "$(store_list)" "$before" "store after refusing ($msg)"
	assert_eq "$(ls -A "$TDIR/store/tmp")" "" "store tmp/ after refusing ($msg)"
	assert_eq "$(cat "$TDIR/canary")" canary "the canary outside the store"
	assert_eq "$(ls -A "$TDIR")" "$files" "files next to the store"
	assert_eq "$(find / -xdev -maxdepth 1 -name canary)" "" "a canary at /"
}

# bad_layer ENTRIES-JSON [EXTRA-JSON]: an image of one hand-made layer.
bad_layer() {
	printf '{"tags": ["bad:1"], "layers": [{"entries": %s}]%s}' "$1" "${2:-}"
}

refusal_setup() {
	echo canary >"$TDIR/canary"
	mkimg oci-tar "$TDIR/good.tar" "$(busybox_desc good:1 '["true"]')"
	assert_ok bi load "$TDIR/good.tar"
}

t_image_refuses_escapes() {
	refusal_setup
	refuse 'entry `../canary`: climbs out of the layer' oci-tar \
		"$(bad_layer '[{"path": "../canary", "data": "pwned"}]')"
	refuse 'entry `a/../../canary`: climbs out' docker \
		"$(bad_layer '[{"path": "a/../../canary", "data": "pwned"}]')"
	refuse "entry \`$TDIR/canary\`: absolute path" oci-tar \
		"$(bad_layer "[{\"path\": \"$TDIR/canary\", \"data\": \"pwned\"}]")"
	refuse 'entry `a/canary`: `a` is a symbolic link: refusing to write through it' oci-tar \
		"$(bad_layer "[{\"path\": \"a\", \"type\": \"symlink\", \"target\": \"$TDIR\"},
			{\"path\": \"a/canary\", \"data\": \"pwned\"}]")"
	refuse 'entry `x/y/canary`: `x/y` is a symbolic link' oci-tar \
		"$(bad_layer '[{"path": "x", "type": "dir"}, {"path": "x/y", "type": "symlink", "target": "/"},
			{"path": "x/y/canary", "data": "pwned"}]')"
	# a link may point anywhere (docker stores any target); nothing is
	# written through it
	refuse 'entry `up/canary`: `up` is a symbolic link' oci-tar \
		"$(bad_layer '[{"path": "up", "type": "symlink", "target": "../../../.."},
			{"path": "up/canary", "data": "pwned"}]')"
	refuse 'entry `shadow`: hard link target `/etc/shadow` is outside the layer' oci-tar \
		"$(bad_layer '[{"path": "shadow", "type": "hardlink", "target": "/etc/shadow"}]')"
	refuse 'entry `shadow`: hard link target `../../../../../../etc/shadow` is outside' oci-tar \
		"$(bad_layer '[{"path": "shadow", "type": "hardlink", "target": "../../../../../../etc/shadow"}]')"
	refuse 'entry `shadow`: hard link target `etc/shadow` is not in the layer' docker \
		"$(bad_layer '[{"path": "shadow", "type": "hardlink", "target": "etc/shadow"}]')"
	refuse 'entry `l/shadow`: hard link target `a/shadow` is not in the layer' oci-tar \
		"$(bad_layer '[{"path": "a", "type": "symlink", "target": "/etc"}, {"path": "l", "type": "dir"},
			{"path": "l/shadow", "type": "hardlink", "target": "a/shadow"}]')"
	assert_store_consistent
}

t_image_refuses_device_nodes() {
	refusal_setup
	refuse 'entry `dev/sda`: device nodes are not allowed in this image (block 8:0)' oci-tar \
		"$(bad_layer '[{"path": "dev", "type": "dir"}, {"path": "dev/sda", "type": "blk", "major": 8, "minor": 0}]')"
	refuse 'entry `mem`: device nodes are not allowed in this image (character 1:1): --allow-devices loads them' docker \
		"$(bad_layer '[{"path": "mem", "type": "chr", "major": 1, "minor": 1}]')"
	# a privileged image may have them when the caller says so
	mkimg oci-tar "$TDIR/dev.tar" "$(bad_layer '[{"path": "null", "type": "chr", "major": 1, "minor": 3, "mode": 438}]')"
	assert_ok bi load --allow-devices "$TDIR/dev.tar"
	assert_ok bi unpack bad:1 "$TDIR/b"
	assert_eq "$(stat -c '%F %t:%T %a' "$TDIR/b/rootfs/null")" "character special file 1:3 666"
}

t_image_refuses_bad_blobs() {
	local layer
	refusal_setup
	refuse 'digest mismatch: got sha256:' oci-tar \
		"$(bad_layer '[{"path": "x", "data": "1"}]' ', "corrupt": {"digest": 0}')"
	refuse 'digest mismatch: got sha256:' docker-oci \
		"$(bad_layer '[{"path": "x", "data": "1"}]' ', "corrupt": {"digest": 0}')"
	refuse ': not found in ' oci-tar \
		"$(bad_layer '[{"path": "x", "data": "1"}]' ', "corrupt": {"missing": 0}')"
	refuse ': not found in ' docker \
		"$(bad_layer '[{"path": "x", "data": "1"}]' ', "corrupt": {"missing": 0}')"
	refuse 'diffID mismatch: the config says sha256:' docker \
		"$(bad_layer '[{"path": "x", "data": "1"}]' ', "corrupt": {"diffid": 0}')"
	refuse 'truncated gzip input' oci-tar "$(jq -nc --arg root "$ROOTFS" '{tags: ["bad:1"],
		layers: [{dir: $root, compress: "gzip"}], corrupt: {truncate: 0}}')"
	# the message names the layer by digest
	mkimg oci-tar "$TDIR/bad.tar" "$(bad_layer '[{"path": "x", "data": "1"}]' ', "corrupt": {"digest": 0}')"
	layer=$(tar -xOf "$TDIR/bad.tar" index.json | jq -r '.manifests[0].digest')
	layer=$(tar -xOf "$TDIR/bad.tar" "blobs/sha256/${layer#sha256:}" | jq -r '.layers[0].digest')
	assert_fail_with "layer $layer: digest mismatch" bi load "$TDIR/bad.tar"
	# not an archive at all
	echo "just text" >"$TDIR/text.tar"
	assert_fail_with "text.tar" bi load "$TDIR/text.tar"
	assert_store_consistent
}

# ---- sparse files, bombs, odd files --------------------------------------------

# sparse_tar OUT SIZE: a layer tar (GNU tar's PAX sparse format, a few KiB)
# of one file "big" of SIZE bytes, all hole but "middle" at 1 GiB and
# "end" at its end.
sparse_tar() {
	mkdir -p "$TDIR/sp"
	truncate -s "$2" "$TDIR/sp/big"
	printf middle | dd of="$TDIR/sp/big" bs=1 seek=$((1 << 30)) conv=notrunc status=none
	printf end | dd of="$TDIR/sp/big" bs=1 seek=$(($2 - 3)) conv=notrunc status=none
	tar --sparse --format=posix -C "$TDIR/sp" -cf "$1" big
	rm -rf "$TDIR/sp"
}

# assert_sparse FILE SIZE: FILE has SIZE bytes, the middle and end
# sparse_tar put there, and takes under 1 MiB of disk.
assert_sparse() {
	assert_eq "$(stat -c %s "$1")" "$2" "size of $1"
	[ "$(du -k "$1" | cut -f1)" -lt 1024 ] ||
		fail "$1 takes $(du -h "$1" | cut -f1) of disk: its holes were written"
	assert_eq "$(dd if="$1" bs=1 skip=$((1 << 30)) count=6 status=none)" middle
	assert_eq "$(tail -c 3 "$1")" end
}

# first_layer LAYOUT-DIR: the digest of the first layer of its first image.
first_layer() {
	local m
	m=$(jq -r '.manifests[0].digest' "$1/index.json")
	jq -r '.layers[0].digest' "$1/blobs/sha256/${m#sha256:}"
}

t_image_sparse_files_stay_sparse() {
	local tib=$((1 << 40)) blob
	sparse_tar "$TDIR/layer.tar" $tib
	[ "$(stat -c %s "$TDIR/layer.tar")" -lt 100000 ] || fail "the sparse layer is not small"
	mkimg docker "$TDIR/sp.tar" "$(jq -nc --arg t "$TDIR/layer.tar" '{tags: ["sp:1"], layers: [{tar: $t}]}')"
	assert_ok bi load "$TDIR/sp.tar"
	assert_sparse "$(echo "$TDIR"/store/layers/*/big)" $tib
	assert_ok bi unpack sp:1 "$TDIR/b"
	assert_sparse "$TDIR/b/rootfs/big" $tib
	# a file of the archive itself keeps its holes too: a layer blob of
	# zeros, stored sparse in the archive, is stored sparse
	head -c 64M /dev/zero >"$TDIR/zero"
	tar -C "$TDIR" -cf "$TDIR/zero.tar" zero
	rm "$TDIR/zero"
	mkimg oci-dir "$TDIR/lay" "$(jq -nc --arg t "$TDIR/zero.tar" '{tags: ["z:1"], layers: [{tar: $t}]}')"
	blob=$(first_layer "$TDIR/lay")
	fallocate --dig-holes "$TDIR/lay/blobs/sha256/${blob#sha256:}"
	tar --sparse -C "$TDIR/lay" -cf "$TDIR/z.tar" .
	[ "$(stat -c %s "$TDIR/z.tar")" -lt 1000000 ] || fail "the sparse archive is not small"
	assert_ok bi load "$TDIR/z.tar"
	blob=$TDIR/store/blobs/sha256/${blob#sha256:}
	assert_eq "$(stat -c %s "$blob")" "$(stat -c %s "$TDIR/zero.tar")" "size of the stored blob"
	[ "$(du -k "$blob" | cut -f1)" -lt 1024 ] ||
		fail "the stored blob takes $(du -h "$blob" | cut -f1) of disk: its holes were written"
	assert_store_consistent
}

# assert_nothing_stored WHAT: a refused load left nothing but good:1.
assert_nothing_stored() {
	assert_eq "$(ls "$TDIR/store/images")" "" "$1: image records"
	assert_eq "$(ls "$TDIR/store/layers")" "" "$1: layers"
	assert_eq "$(ls -A "$TDIR/store/tmp")" "" "$1: store tmp/"
}

t_image_size_limit() {
	local layer
	head -c 100M /dev/zero >"$TDIR/zero"
	tar -C "$TDIR" -cf "$TDIR/zero.tar" zero
	rm "$TDIR/zero"
	mkimg oci-dir "$TDIR/lay" "$(jq -nc --arg t "$TDIR/zero.tar" \
		'{tags: ["bomb:1"], layers: [{tar: $t, compress: "gzip"}]}')"
	layer=$(first_layer "$TDIR/lay")
	tar -C "$TDIR/lay" -cf "$TDIR/bomb.tar" .
	[ "$(stat -c %s "$TDIR/bomb.tar")" -lt 1000000 ] || fail "the bomb is not small"
	# a gzip bomb stops at the limit, and the load stores nothing
	assert_ok bi ls -q
	assert_fail_with "layer $layer: the layers uncompress to more than 50 MiB, the size limit of a load" \
		bi load --max-size 50m "$TDIR/bomb.tar"
	assert_nothing_stored "a layer over the limit"
	# an archive's or a layout's own files count as well
	assert_fail_with "bomb.tar: \`blobs/sha256/${layer#sha256:}\`: the source expands to more than 50 KiB" \
		bi load --max-size 50k "$TDIR/bomb.tar"
	assert_nothing_stored "an archive over the limit"
	assert_fail_with "lay: \`blobs/sha256/${layer#sha256:}\`: the source expands to more than 50 KiB" \
		bi load --max-size 50k "$TDIR/lay"
	assert_nothing_stored "a layout over the limit"
	# the default limit: 1 TiB of holes in a small archive is refused
	# before a byte of it is hashed
	mkdir "$TDIR/junk"
	cp -r "$TDIR/lay/." "$TDIR/junk/"
	truncate -s 1T "$TDIR/junk/junk"
	printf x >>"$TDIR/junk/junk"
	tar --sparse -C "$TDIR/junk" -czf "$TDIR/junk.tar.gz" .
	assert_fail_with "junk.tar.gz: \`junk\`: the source expands to more than 64 GiB, the size limit of a load" \
		timeout 60 "$BERTH" image --store "$TDIR/store" load "$TDIR/junk.tar.gz"
	assert_nothing_stored "a sparse file over the default limit"
	assert_fail_with 'invalid --max-size "lots"' bi load --max-size lots "$TDIR/bomb.tar"
	# under the limit (the default or a given one), the same image loads
	assert_ok bi load --max-size 101m "$TDIR/bomb.tar"
	assert_eq "$OUT" "Loaded image: bomb:1"
	assert_ok bi load "$TDIR/lay"
	assert_store_consistent
}

t_image_layout_fifo_refused() {
	local layer
	mkimg oci-dir "$TDIR/lay" "$(bad_layer '[{"path": "x", "data": "1"}]')"
	layer=$(first_layer "$TDIR/lay")
	rm "$TDIR/lay/blobs/sha256/${layer#sha256:}"
	mkfifo "$TDIR/lay/blobs/sha256/${layer#sha256:}"
	assert_fail_with "lay: blobs/sha256/${layer#sha256:} is a fifo, not a regular file" \
		timeout 20 "$BERTH" image --store "$TDIR/store" load "$TDIR/lay"
	mkimg oci-dir "$TDIR/lay2" "$(bad_layer '[{"path": "x", "data": "1"}]')"
	rm "$TDIR/lay2/index.json"
	mkfifo "$TDIR/lay2/index.json"
	assert_fail_with "lay2: index.json is a fifo, not a regular file" \
		timeout 20 "$BERTH" image --store "$TDIR/store" load "$TDIR/lay2"
	assert_eq "$(ls "$TDIR/store/images")" "" "image records"
	assert_store_consistent
}

# ---- crashes and concurrency ----------------------------------------------------

t_image_kill_during_load() {
	local pid n=0
	mkimg docker "$TDIR/big.tar" '{"tags": ["big:1"], "layers": [
		{"entries": [{"path": "big1", "random": 60000000}]},
		{"entries": [{"path": "big2", "random": 60000000}]},
		{"entries": [{"path": "big3", "random": 60000000}]}]}'
	assert_ok bi ls -q # the store exists before the load starts
	# not through bi(): $! must be berth itself, not a subshell
	"$BERTH" image --store "$TDIR/store" load "$TDIR/big.tar" >/dev/null 2>&1 &
	pid=$!
	# wait until it has written something, then kill it mid-way
	while [ $n -lt 500 ] && [ "$(du -sm "$TDIR/store/tmp" | cut -f1)" -lt 20 ]; do
		sleep 0.01
		n=$((n + 1))
	done
	kill -0 "$pid" 2>/dev/null || fail "the load ended before it could be killed"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	assert_ne "$(ls -A "$TDIR/store/tmp")" "" "the killed load left its temporary files"
	assert_eq "$(ls "$TDIR/store/images")" "" "no image record from the killed load"
	assert_ok bi ls -q
	assert_eq "$OUT" ""
	assert_store_consistent_except_tmp
	assert_ok bi load "$TDIR/big.tar"
	assert_eq "$OUT" "Loaded image: big:1"
	assert_store_consistent
	assert_eq "$(ls "$TDIR/store/layers" | wc -l)" 3
	assert_ok bi unpack big:1 "$TDIR/b"
	assert_eq "$(stat -c %s "$TDIR/b/rootfs/big3")" 60000000
}

assert_store_consistent_except_tmp() {
	local f
	for f in "$TDIR"/store/blobs/sha256/*; do
		[ -e "$f" ] || continue
		assert_eq "$(sha256sum "$f" | cut -d' ' -f1)" "$(basename "$f")" "blob $f"
	done
}

t_image_concurrent_loads() {
	local i
	for i in 1 2 3; do
		mkimg oci-tar "$TDIR/c$i.tar" "$(jq -nc --arg root "$ROOTFS" --arg i "$i" '{tags: ["c:" + $i],
			layers: [{dir: $root}, {entries: [{path: "n", data: $i}]}]}')"
	done
	bi load "$TDIR/c1.tar" >"$TDIR/l1" 2>&1 &
	bi load "$TDIR/c2.tar" >"$TDIR/l2" 2>&1 &
	bi load "$TDIR/c3.tar" >"$TDIR/l3" 2>&1 &
	wait
	for i in 1 2 3; do
		assert_eq "$(cat "$TDIR/l$i")" "Loaded image: c:$i"
	done
	assert_ok bi ls
	assert_eq "$(tail -n +2 <<<"$OUT" | wc -l)" 3
	assert_eq "$(ls "$TDIR/store/layers" | wc -l)" 4 "one shared layer, three own ones"
	assert_store_consistent
}

# ---- making images: import, save ------------------------------------------

# launch_img ARGS...: berth launch on the test's store, the container
# removed when it exits.
launch_img() {
	"$BERTH" --root "$ROOT" launch --store "$TDIR/store" --rm \
		--cgroup-parent "berth-test-$IT_TOKEN" -e "BERTH_IT=$IT_TOKEN" "$@"
}

# rootfs_tar OUT [TAR-OPTIONS...]: the busybox rootfs as a tar, names
# starting with ./ as mmdebstrap writes them.
rootfs_tar() {
	local out=$1
	shift
	tar -C "$ROOTFS" "$@" -cf "$out" . || fail "tar of the rootfs"
}

# A relative symlink that climbs past the layer's root loads, as docker
# loads it: in the container, `..` at the root stays there.
t_image_link_climbing_past_the_root() {
	berth_only "launch is berth's own command"
	mkimg oci-tar "$TDIR/up.tar" "$(jq -nc --arg root "$ROOTFS" '{tags: ["up:1"],
		layers: [{dir: $root},
			{entries: [{path: "usr/up", type: "symlink", target: "../../../../bin"}]}]}')"
	assert_ok bi load "$TDIR/up.tar"
	assert_ok launch_img up:1 sh -c 'readlink /usr/up; ls /usr/up/busybox'
	assert_eq "$OUT" "../../../../bin
/usr/up/busybox" "the link, kept as written, resolves inside the container"
}

t_image_import_tar_dir_stdin() {
	berth_only "image import is berth's own command"
	local id
	rootfs_tar "$TDIR/root.tar"
	assert_ok bi import -m "from a tar" -c 'CMD ["echo", "imported tar"]' \
		"$TDIR/root.tar" imp:tar
	assert_match "$OUT" '^sha256:[0-9a-f]{64}$'
	id=$OUT
	assert_ok bi inspect imp:tar
	assert_eq "$(jq -r .id <<<"$OUT")" "$id"
	assert_eq "$(jq -r '.os + "/" + .architecture' <<<"$OUT")" \
		"linux/$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')"
	assert_eq "$(jq '.layers | length' <<<"$OUT")" 1
	assert_ok launch_img imp:tar
	assert_eq "$OUT" "imported tar"
	# the history entry carries the comment
	local cfg
	cfg=$(jq -r .id "$TDIR"/store/images/*.json | head -1)
	assert_eq "$(jq -r '.history[0].comment + "|" + .history[0].created_by' \
		"$TDIR/store/blobs/sha256/${cfg#sha256:}")" "from a tar|berth image import"

	# a directory, with ENTRYPOINT in shell form and a label
	assert_ok bi import -c 'ENTRYPOINT echo from a directory' \
		-c 'LABEL a=1 b=2' -c 'EXPOSE 80 53/udp' "$ROOTFS" imp:dir
	assert_ok bi inspect imp:dir
	assert_eq "$(jq -c '[.config.Entrypoint, .config.Labels, .config.ExposedPorts]' <<<"$OUT")" \
		'[["/bin/sh","-c","echo from a directory"],{"a":"1","b":"2"},{"80/tcp":{},"53/udp":{}}]'
	assert_ok launch_img imp:dir
	assert_eq "$OUT" "from a directory"

	# stdin, compressed, with CMD, ENV and WORKDIR
	gzip -c "$TDIR/root.tar" >"$TDIR/root.tar.gz"
	run bi import -c 'ENV GREETING=hello' -c 'ENV OTHER two words' \
		-c 'WORKDIR /tmp' -c 'CMD echo $GREETING $OTHER from $(pwd)' \
		- imp:stdin <"$TDIR/root.tar.gz"
	assert_eq "$RC" 0 "import - ($(last_line "$ERR"))"
	assert_ok launch_img imp:stdin
	assert_eq "$OUT" "hello two words from /tmp"
	# the tar's two imports make one layer (a directory's is sorted)
	assert_eq "$(ls "$TDIR/store/layers" | wc -l)" 2 "layers in the store"
	assert_store_consistent
}

t_image_import_rootfs_with_device_nodes() {
	berth_only "image import is berth's own command"
	mkdir "$TDIR/r"
	cp -a "$ROOTFS/." "$TDIR/r/" || fail "copy the rootfs"
	mkdir -p "$TDIR/r/dev"
	mknod "$TDIR/r/dev/console" c 5 1 && mknod "$TDIR/r/dev/null" c 1 3 ||
		fail "mknod"
	tar -C "$TDIR/r" -czf "$TDIR/deb.tar.gz" . || fail tar
	assert_ok bi import -c 'CMD ["ls", "/dev/null"]' "$TDIR/deb.tar.gz" deb:1
	assert_match "$ERR" 'note: 2 device nodes or sockets left out \(dev/(console|null), \.\.\.\)'
	# `image load` of a rootfs tar says what to do instead
	assert_fail_with 'a root filesystem? use `berth image import`' bi load "$TDIR/deb.tar.gz"
	assert_ok bi unpack deb:1 "$TDIR/b"
	[ -e "$TDIR/b/rootfs/dev/console" ] && fail "dev/console was kept"
	[ -x "$TDIR/b/rootfs/bin/sh" ] || fail "bin/sh is missing"
	assert_ok launch_img deb:1
	assert_eq "$OUT" /dev/null "the container's own /dev"
	assert_store_consistent
}

t_image_save_load_round_trip() {
	berth_only "image save is berth's own command"
	local id digest
	mkimg docker "$TDIR/bb.tar" "$(busybox_desc bb:1 '["echo", "saved"]' gzip)"
	assert_ok bi load "$TDIR/bb.tar"
	assert_ok bi import -c 'CMD ["echo", "imported"]' "$ROOTFS" imp:1
	assert_ok bi inspect bb:1
	id=$(jq -r .id <<<"$OUT")
	digest=$(jq -r .digest <<<"$OUT")
	assert_ok bi save -o "$TDIR/out.tar" bb:1 imp:1
	assert_eq "$(tar -tf "$TDIR/out.tar" | grep -v '^blobs/' | sort | tr '\n' ' ')" \
		"index.json manifest.json oci-layout repositories "
	assert_eq "$(tar -xOf "$TDIR/out.tar" manifest.json | jq -c '[.[].RepoTags[]]')" '["bb:1","imp:1"]'
	"$BERTH" image --store "$TDIR/store2" load "$TDIR/out.tar" >"$TDIR/load.out" ||
		fail "load of the saved archive"
	assert_eq "$(sort "$TDIR/load.out" | tr '\n' ' ')" "Loaded image: bb:1 Loaded image: imp:1 "
	run "$BERTH" image --store "$TDIR/store2" inspect bb:1
	assert_eq "$(jq -r '.id + " " + .digest' <<<"$OUT")" "$id $digest" "id and digest after the round trip"
	"$BERTH" --root "$ROOT" launch --store "$TDIR/store2" --rm \
		--cgroup-parent "berth-test-$IT_TOKEN" -e "BERTH_IT=$IT_TOKEN" imp:1 >"$TDIR/run.out" ||
		fail "launch of the reloaded image"
	assert_eq "$(cat "$TDIR/run.out")" imported
	# an OCI layout on stdout, loaded from stdin
	bi save --format oci imp:1 >"$TDIR/oci.tar" || fail "save --format oci"
	assert_eq "$(tar -tf "$TDIR/oci.tar" | grep -c manifest.json)" 0
	run bash -c "'$BERTH' image --store '$TDIR/store3' load - <'$TDIR/oci.tar'"
	assert_eq "$OUT" "Loaded image: imp:1"
	assert_eq "$(jq -r .id "$TDIR"/store3/images/*.json)" "$(jq -r .id "$TDIR"/store/images/*.json |
		grep -Fx "$(bi inspect imp:1 | jq -r .id)")"
	rm -rf "$TDIR/store2" "$TDIR/store3"
}

t_image_save_skopeo_inspect() {
	berth_only "image save is berth's own command"
	command -v skopeo >/dev/null || skip "skopeo is not installed"
	assert_ok bi import "$ROOTFS" sk:1
	assert_ok bi save -o "$TDIR/d.tar" sk:1
	assert_ok bi save --format oci -o "$TDIR/o.tar" sk:1
	assert_ok skopeo inspect "docker-archive:$TDIR/d.tar"
	assert_eq "$(jq -c '[.Os, (.Layers | length)]' <<<"$OUT")" '["linux",1]'
	assert_ok skopeo inspect "oci-archive:$TDIR/o.tar"
	assert_eq "$(jq -c '[.Os, (.Layers | length)]' <<<"$OUT")" '["linux",1]'
}

t_image_save_docker_load() {
	berth_only "image save is berth's own command"
	source "$IT_LIB_DIR/docker.sh"
	trap docker_teardown EXIT
	trap 'exit 143' TERM
	docker_setup
	assert_ok bi import -c 'CMD ["echo", "in docker"]' "$ROOTFS" fordocker:1
	assert_ok bi save -o "$TDIR/d.tar" fordocker:1
	local id=$(bi inspect fordocker:1 | jq -r .id)
	assert_ok dk load -i "$TDIR/d.tar"
	assert_match "$OUT" "Loaded image: fordocker:1"
	assert_ok dk image inspect --format '{{.Id}}' fordocker:1
	assert_eq "$OUT" "$id" "docker's image id"
}

t_image_import_save_refusals() {
	berth_only "image import and save are berth's own commands"
	assert_ok bi import "$ROOTFS" keep:1
	local before
	before=$(store_list)
	assert_fail_with "image import: open $TDIR/nope: No such file or directory" \
		bi import "$TDIR/nope" x:1
	assert_fail_with '--change "RUN rm -rf /": RUN cannot be changed by image import' \
		bi import -c 'RUN rm -rf /' "$ROOTFS" x:1
	assert_fail_with '--change "EXPOSE 99999": invalid port' \
		bi import -c 'EXPOSE 99999' "$ROOTFS" x:1
	assert_fail_with 'invalid reference "Bad Name"' bi import "$TDIR/nope" 'Bad Name'
	echo 'not a tar' >"$TDIR/junk"
	assert_fail_with "image import: $TDIR/junk" bi import "$TDIR/junk" x:1
	assert_fail_with 'image save: image nosuch:1: not found' bi save -o "$TDIR/s.tar" keep:1 nosuch:1
	[ -e "$TDIR/s.tar" ] && fail "a failed save left its file"
	assert_eq "$(store_list)" "$before" "the store after the refusals"
	assert_store_consistent
}
