#!/bin/sh
# mkrootfs.sh BUSYBOX PROBE DIR: a minimal busybox root filesystem for the
# integration tests, the demo and the benchmark. Idempotent: running it again
# refreshes the binaries and the files and leaves the rest as it is.
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 BUSYBOX PROBE DIR" >&2
	exit 2
fi
busybox=$1 probe=$2 dir=$3

if ! [ -x "$busybox" ]; then
	echo "mkrootfs: $busybox: not found (apt-get install busybox-static)" >&2
	exit 1
fi
# A dynamically linked busybox would need a libc inside the rootfs.
if ldd "$busybox" >/dev/null 2>&1; then
	echo "mkrootfs: $busybox is not static (use busybox-static)" >&2
	exit 1
fi
if ! [ -x "$probe" ]; then
	echo "mkrootfs: $probe: not found" >&2
	exit 1
fi

busybox=$(readlink -f "$busybox") probe=$(readlink -f "$probe")
mkdir -p "$dir"
cd "$dir"
mkdir -p bin sbin usr/bin usr/sbin etc tmp proc sys dev root home/user \
	var/tmp run mnt
chmod 1777 tmp var/tmp
chmod 0700 root

cp -f "$busybox" bin/busybox.new && mv -f bin/busybox.new bin/busybox
cp -f "$probe" probe.new && mv -f probe.new probe
chmod 0755 bin/busybox probe

# The applets, as `busybox --install -s` would link them, but relative so
# that the links also resolve when the rootfs is looked at from the host.
for path in $(bin/busybox --list-full); do
	case "$path" in
	bin/busybox) continue ;;
	bin/*) target=busybox ;;
	sbin/*) target=../bin/busybox ;;
	usr/bin/* | usr/sbin/*) target=../../bin/busybox ;;
	*) continue ;;
	esac
	[ "$(readlink "$path" 2>/dev/null)" = "$target" ] || ln -sfn "$target" "$path"
done

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >etc/group <<'EOF'
root:x:0:
wheel:x:10:root
user:x:1000:
nogroup:x:65534:
EOF
chown 1000:1000 home/user
[ -e etc/hostname ] || echo berth >etc/hostname
: >etc/resolv.conf
: >etc/hosts
