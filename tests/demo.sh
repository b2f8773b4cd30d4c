#!/bin/sh
# demo.sh: runs one container with berth and shows what it sees.
#   make demo     (BERTH and ROOTFS are set by the Makefile)
# Makes a bundle in a temp dir with `berth spec`, points its root at the
# busybox rootfs (read-only), runs it attached and cleans everything up.
set -eu

: "${BERTH:?set BERTH to the berth binary}"
: "${ROOTFS:?set ROOTFS to a root filesystem (make test-rootfs)}"
if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (containers need it)" >&2
	exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
command -v jq >/dev/null || sh "$here/deps.sh" jq

id=demo-$$
tmp=$(mktemp -d /tmp/berth-demo.XXXXXX)
cleanup() {
	"$BERTH" --root "$tmp/state" delete --force "$id" >/dev/null 2>&1 || true
	rm -rf "$tmp"
	# The cgroup parent is the demo's own; the container's is berth's.
	find /sys/fs/cgroup -depth -type d -name berth-demo \
		-exec rmdir {} + 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$tmp"
# What the container runs, bind-mounted read-only at /mnt.
mkdir inner
cat >inner/facts.sh <<'EOF'
echo "hello from berth"
echo "hostname:  $(hostname)"
echo "pid:       $$ (pid 1 of its own pid namespace)"
echo "user:      $(id)"
echo "processes: $(ls -d /proc/[0-9]* | wc -l) visible"
cg=$(grep ':memory:' /proc/self/cgroup)
[ "${cg##*:}" = / ] && cg="$cg (the root of its own cgroup namespace)"
echo "cgroup:    $cg"
echo "network:   $(ls /sys/class/net | tr '\n' ' ')"
echo "root:      $(awk '$5 == "/" { print $6 }' /proc/self/mountinfo)"
EOF
"$BERTH" spec
jq --arg root "$ROOTFS" --arg cg "berth-demo/$id" --arg inner "$tmp/inner" '
	.root = {path: $root, readonly: true}
	| .hostname = "berth-demo"
	| .process.terminal = false
	| .process.args = ["/bin/sh", "/mnt/facts.sh"]
	| .mounts += [{destination: "/mnt", type: "bind", source: $inner,
		options: ["rbind", "ro"]}]
	| .linux.cgroupsPath = $cg
' config.json >config.json.new
mv config.json.new config.json

echo "$ $BERTH run --bundle $tmp $id    # cgroupsPath berth-demo/$id"
status=0
"$BERTH" --root "$tmp/state" run --bundle "$tmp" "$id" </dev/null || status=$?
echo "container exited with status $status"
exit $status
