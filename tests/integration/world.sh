# world.sh: a private network world for tests (sourced by test-network.sh
# and test-compose.sh; needs lib.sh).
#
# A fresh network namespace the test creates plays the host (berth runs
# inside it through nsenter, so its bridges, veths, nftables rules and DNS
# servers are made there), and a second one, "outside", plays another
# machine on the host's link. There is no route out of this machine, all
# traffic goes to addresses inside these namespaces, and the machine's own
# network namespace, routes and firewall are never touched.

MKIMAGE=$IT_LIB_DIR/mkimage.py
BUSYBOX=$ROOTFS/bin/busybox

# world_setup: the world (198.51.100.1/24 on wan0) and outside (198.51.100.2
# on wan1), an image `net:1` in the test's store, and the clean-up: every
# container the test names with ctr_id is deleted and every network
# removed inside the world, then both namespaces go.
world_setup() {
	berth_only "networks are berth's own"
	command -v nft >/dev/null || sh "$IT_LIB_DIR/../deps.sh" nftables >/dev/null 2>&1 ||
		skip "nftables cannot be installed"
	WORLD=$TDIR/world.ns OUTSIDE=$TDIR/outside.ns
	local ns
	for ns in "$WORLD" "$OUTSIDE"; do
		touch "$ns"
		unshare --net="$ns" true || fail "unshare --net=$ns"
		defer "umount -l $ns"
	done
	w ip link set lo up
	o ip link set lo up
	# the peer is made in the world directly (a path names the
	# namespace): a veth is never in the machine's namespace, even for
	# an instant
	o ip link add wan1 type veth peer name wan0 netns "$WORLD" ||
		fail "veth wan0/wan1"
	w ip addr add 198.51.100.1/24 dev wan0
	w ip link set wan0 up
	o ip addr add 198.51.100.2/24 dev wan1
	o ip link set wan1 up
	defer "nsenter --net=$WORLD $BERTH --root $ROOT network prune"
	echo '{"tags": ["net:1"], "config": {"Cmd": ["sh"]},
		"layers": [{"dir": "'"$ROOTFS"'"}]}' |
		python3 "$MKIMAGE" docker "$TDIR/net.tar" || fail "mkimage.py"
	assert_ok "$BERTH" image --store "$TDIR/store" load "$TDIR/net.tar"
}

w() { nsenter --net="$WORLD" "$@"; }
o() { nsenter --net="$OUTSIDE" "$@"; }
# wb ARGS...: berth in the world with the test's state root.
wb() { nsenter --net="$WORLD" "$BERTH" --root "$ROOT" "$@"; }
# wl ARGS...: berth launch in the world.
wl() {
	wb launch --store "$TDIR/store" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" "$@"
}

# ctr_id NAME: a container id, deleted inside the world at the end.
ctr_id() {
	local id="$IT_TOKEN-$1"
	defer "nsenter --net=$WORLD $BERTH --root $ROOT delete -f $id"
	echo "$id"
}

# server ID NET PORT [udp]: a detached container answering "hi from ID"
# on PORT, over and over.
server() {
	local u=
	[ "${4:-}" = udp ] && u=-u
	assert_ok wl -d --name "$1" --network "$2" net:1 sh -c \
		"while true; do echo hi from $1 | nc $u -l -p $3; done"
}

# vb_veths N: how many of berth's veths the world holds, once it is N or
# after 5 s. A released endpoint's veth is taken down at once and goes with
# its container's namespace, which the kernel removes in the background.
vb_veths() {
	local i n
	for i in $(seq 50); do
		n=$(w ip -o link show type veth | grep -c ' vb')
		[ "$n" = "$1" ] && break
		sleep 0.1
	done
	echo "$n"
}

# world_clean: no veth, berth bridge, berth rule or DNS server is left in
# the world, and no network or endpoint in the state.
world_clean() {
	assert_eq "$(vb_veths 0)" 0 "veths left"
	assert_eq "$(w ip -o link show type bridge | wc -l)" 0 "bridges left"
	assert_eq "$(w nft list table ip berth 2>/dev/null | grep -c 'comment "berth:')" 0 \
		"nft rules left"
	assert_eq "$(pgrep -f "[d]nsmasq.*$TDIR" | wc -l)" 0 "DNS servers left"
	assert_eq "$(state_left)" "" "state left"
}

