#!/bin/bash
# run-in-vm.sh: runs a command as root on a pure cgroup v2 system, inside a
# throwaway QEMU guest that boots the host's own Debian kernel.
#
#   tests/vm/run-in-vm.sh [--skip-as NAME] [--] COMMAND [ARG...]
#
# The guest sees the host's / read-only (virtio-9p), so the host's binaries,
# libraries and build outputs run there unchanged; COMMAND runs with bash
# in the caller's directory, with stdin from /dev/null, and its output
# arrives on this script's stdout through the serial console. In the guest:
#
#   /sys/fs/cgroup   cgroup2 alone (cgroup_no_v1=all), every controller
#                    enabled in the root's cgroup.subtree_control
#   /tmp /var/tmp /mnt /root /run   fresh tmpfs (the host's content is hidden;
#                    a working directory below them is shared on its own)
#   /dev/vda         a 1 GiB null block device (for io.max)
#   /sys/kernel/tracing   tracefs
#   modules beyond virtio, 9p and overlay load through the host's modprobe
#
# Exit status: COMMAND's; 124 when the guest ran out of time; 125 when the
# guest booted but gave no status (rerun with VM_DEBUG=1); 77 when qemu
# cannot start at all (no qemu, no suitable kernel, qemu refusing its
# arguments). With --skip-as NAME that last case prints
# "NAME: skipped: REASON" and exits 0 instead.
#
# The uncompressed kernel and the initramfs are cached in VM_CACHE (default
# build/vm of the repository). Knobs:
#   VM_KERNEL    kernel version (default: the newest /boot/vmlinuz-* whose
#                modules include 9p; Debian's cloud kernels have none)
#   VM_ACCEL     kvm or tcg (default: kvm only on real VMX/SVM hardware
#                support; nested PVM's /dev/kvm is slower than TCG)
#   VM_CPU       the CPU model under TCG (default max)
#   VM_MEM       MiB of guest memory (default 512)
#   VM_SMP       guest CPUs (default 2)
#   VM_TIMEOUT   seconds before the guest is killed (default 300)
#   VM_BOOT_WAIT seconds for the guest to reach stage 1 before it is killed
#                and booted again, three boots at most (default 90)
#   VM_TSC_KHZ   the host's TSC rate; TCG on microvm needs it (default: from
#                dmesg, or /proc/cpuinfo on a host without frequency scaling;
#                unknown: the slower q35 machine is used)
#   VM_DEBUG=1   kernel messages and the init's steps on the console
#   VM_NUMA=1    two NUMA nodes, CPUs and memory split between them (q35)
#   VM_INIT=systemd   boot systemd as PID 1 (it mounts cgroup2 and owns the
#                root group; COMMAND runs as the unit berth-vm.service, with
#                systemd's private bus at /run/systemd/private)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
skip_as=""
while [ $# -gt 0 ]; do
	case "$1" in
	--skip-as) skip_as=$2; shift 2 ;;
	--) shift; break ;;
	-*) echo "run-in-vm: unknown option $1" >&2; exit 125 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--skip-as NAME] [--] COMMAND [ARG...]" >&2; exit 125; }

CACHE=${VM_CACHE:-$here/../../build/vm}
MEM=${VM_MEM:-512}
SMP=${VM_SMP:-2}
TIMEOUT=${VM_TIMEOUT:-300}
DEBUG=${VM_DEBUG:-0}

# cannot_start REASON: qemu cannot run here; not a test failure.
cannot_start() {
	if [ -n "$skip_as" ]; then
		echo "$skip_as: skipped: $*"
		exit 0
	fi
	echo "run-in-vm: cannot start the VM: $*" >&2
	exit 77
}
[ "${VM_INIT:-}" != systemd ] || [ -x /lib/systemd/systemd ] ||
	cannot_start "VM_INIT=systemd: no /lib/systemd/systemd (apt-get install systemd)"

# The guest's /tmp, /run, ... are its own tmpfs: a working directory
# below them (a CI clone in /tmp) is shared with the guest on its own and
# mounted back at the same path.
WORK_SHARE=0
case "$PWD" in
/proc* | /sys* | /dev*)
	echo "run-in-vm: $PWD cannot be seen in the guest; run from elsewhere" >&2
	exit 125 ;;
/tmp | /tmp/* | /var/tmp* | /mnt | /mnt/* | /root | /root/* | /run | /run/*)
	WORK_SHARE=1 ;;
esac

QEMU=$(command -v qemu-system-x86_64) ||
	cannot_start "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
BUSYBOX=/bin/busybox
if ! [ -x "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then
	cannot_start "no static $BUSYBOX (apt-get install busybox-static)"
fi

has_9p() {
	[ -n "$(find "/lib/modules/$1/kernel/fs/9p" -name '9p.ko*' 2>/dev/null)" ]
}

KVER=${VM_KERNEL:-}
if [ -z "$KVER" ]; then
	# shellcheck disable=SC2012
	for k in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -rV); do
		if has_9p "$k"; then KVER=$k; break; fi
	done
fi
[ -n "$KVER" ] || cannot_start "no kernel with 9p in /boot (apt-get install linux-image-amd64)"
[ -r "/boot/vmlinuz-$KVER" ] || cannot_start "no readable /boot/vmlinuz-$KVER"
has_9p "$KVER" || cannot_start "kernel $KVER has no 9p module"

# ---- the kernel, uncompressed --------------------------------------------
# microvm boots an ELF vmlinux through its PVH entry, skipping the guest's
# own (slow, under TCG) decompression. The compressed payload's place is in
# the bzImage header (boot protocol 2.08+): setup_sects at 0x1f1,
# payload_offset at 0x248, payload_length at 0x24c.

le_at() { # FILE OFFSET SIZE: an unsigned little-endian number
	od -An -tu"$3" -j "$2" -N "$3" "$1" | tr -d ' \n'
}

extract_vmlinux() {
	local img=$1 out=$2 sects off len magic cmd
	sects=$(le_at "$img" 497 1)
	[ "$sects" != 0 ] || sects=4
	off=$(( (sects + 1) * 512 + $(le_at "$img" 584 4) ))
	len=$(le_at "$img" 588 4)
	magic=$(od -An -tx1 -j "$off" -N 4 "$img" | tr -d ' \n')
	case "$magic" in
	fd377a58) cmd="xz -dc" ;;
	1f8b*) cmd="gzip -dc" ;;
	28b52ffd) cmd="zstd -dcq" ;;
	02214c18) cmd="lz4 -dc" ;;
	5d00*) cmd="xz --format=lzma -dc" ;;
	425a*) cmd="bzip2 -dc" ;;
	894c5a*) cmd="lzop -dc" ;;
	*) return 1 ;;
	esac
	# The build appends the uncompressed size after the stream: the
	# decompressor complains about it after writing everything.
	tail -c +$((off + 1)) "$img" | head -c "$len" | $cmd >"$out" 2>/dev/null || true
	[ "$(od -An -tx1 -N 4 "$out" | tr -d ' \n')" = 7f454c46 ]
}

KDIR=$CACHE/kernel-$KVER
mkdir -p "$KDIR"
VMLINUX=$KDIR/vmlinux
if ! [ -s "$VMLINUX" ] || [ "/boot/vmlinuz-$KVER" -nt "$VMLINUX" ]; then
	tmp=$VMLINUX.$$
	extract_vmlinux "/boot/vmlinuz-$KVER" "$tmp" || {
		rm -f "$tmp"
		cannot_start "cannot uncompress /boot/vmlinuz-$KVER"
	}
	mv "$tmp" "$VMLINUX"
fi

# ---- the initramfs ---------------------------------------------------------
# Stage 1 (/init, in the initramfs) loads virtio and 9p, mounts the host's /
# and the run's control directory, and switch_roots into the host's /.
# Stage 2 (PID 1 from then on) mounts the rest, runs the command and powers
# off. Both scripts live below; the cache key is this file's checksum.

stage1() {
	cat <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
grep -qw vmdebug /proc/cmdline && debug=1 || debug=0
step() { [ $debug = 0 ] || echo "[stage1 $(cut -d' ' -f1 /proc/uptime)] $*"; }
die() { echo "run-in-vm stage 1: $*"; poweroff -f; }
while read -r m; do
	insmod "/lib/modules/$m" || echo "run-in-vm stage 1: insmod $m failed"
done </modules.order
step modules loaded
o=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o ro,$o,cache=loose hostroot /newroot || die "mount the host's /"
mount -t tmpfs -o mode=755 tmpfs /newroot/run || die "tmpfs on /run"
mkdir -p /newroot/run/vm/ctl
mount -t 9p -o $o,cache=none ctl /newroot/run/vm/ctl || die "mount ctl"
echo booted >/newroot/run/vm/ctl/booted
cp /bin/busybox /stage2 /newroot/run/vm/
step switching root
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root -c /dev/console /newroot /run/vm/busybox sh /run/vm/stage2
EOF
}

stage2() {
	cat <<'EOF'
B=/run/vm/busybox
C=/run/vm/ctl
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B grep -qw vmdebug /proc/cmdline && debug=1 || debug=0
step() { [ $debug = 0 ] || echo "[stage2 $($B cut -d' ' -f1 /proc/uptime)] $*"; }
$B mkdir -p /dev/pts /dev/shm /dev/mqueue
$B mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts /dev/pts
$B ln -sf pts/ptmx /dev/ptmx
$B mount -t tmpfs -o mode=1777 tmpfs /dev/shm
$B mount -t mqueue mqueue /dev/mqueue
$B ln -sf /proc/self/fd /dev/fd
$B ln -sf /proc/self/fd/0 /dev/stdin
$B ln -sf /proc/self/fd/1 /dev/stdout
$B ln -sf /proc/self/fd/2 /dev/stderr
for d in /tmp /var/tmp /mnt; do $B mount -t tmpfs -o mode=1777 tmpfs $d; done
$B mount -t tmpfs -o mode=700 tmpfs /root
$B mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
$B ip link set lo up
$B hostname berth-vm
$B stty -F /dev/console -onlcr 2>/dev/null
# run: the command, its status, power off (from PID 1 or a systemd unit)
$B cat >/run/vm/run <<'RUN'
cd /
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb LANG=C.UTF-8 /bin/bash /run/vm/ctl/cmd </dev/null
echo $? >/run/vm/ctl/status
/run/vm/busybox sync
/run/vm/busybox umount /run/vm/ctl
/run/vm/busybox poweroff -f
RUN
if $B grep -qw vminit=systemd /proc/cmdline; then
	$B mkdir -p /run/systemd/system /run/systemd/system.conf.d
	printf '[Manager]\nShowStatus=no\n' >/run/systemd/system.conf.d/berth-vm.conf
	$B cat >/run/systemd/system/berth-vm.service <<'UNIT'
[Unit]
DefaultDependencies=no
[Service]
Type=oneshot
StandardOutput=null
StandardError=null
ExecStart=/run/vm/busybox sh -c 'exec >/dev/console 2>&1 </dev/null; exec /run/vm/busybox sh /run/vm/run'
UNIT
	step systemd
	# the host's / may look like a container to systemd, which then
	# ignores the kernel command line: the unit goes on its own
	exec /lib/systemd/systemd --unit=berth-vm.service
fi
$B mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in $($B cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control ||
		echo "run-in-vm stage 2: cannot enable $c"
done
step ready
exec $B sh /run/vm/run
EOF
}

MODULES="virtio_mmio virtio_pci virtio_blk 9pnet_virtio 9p overlay"
INITRD=$KDIR/initrd-$(sha1sum "${BASH_SOURCE[0]}" | cut -c1-12).cpio
if ! [ -s "$INITRD" ]; then
	r=$(mktemp -d "${TMPDIR:-/tmp}/berth-vm-initrd.XXXXXX")
	mkdir -p "$r"/bin "$r"/dev "$r"/proc "$r"/sys "$r"/newroot "$r"/lib/modules
	cp "$BUSYBOX" "$r/bin/busybox"
	stage1 >"$r/init"
	stage2 >"$r/stage2"
	chmod 755 "$r/init"
	kos=$(for m in $MODULES; do modprobe -S "$KVER" --show-depends "$m"; done |
		awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
	for m in $MODULES; do # built in, or listed above
		modprobe -S "$KVER" --show-depends "$m" >/dev/null 2>&1 ||
			{ rm -rf "$r"; cannot_start "no module $m for $KVER"; }
	done
	for ko in $kos; do
		cp "$ko" "$r/lib/modules/"
		basename "$ko" >>"$r/modules.order"
	done
	(cd "$r" && find . | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) >"$INITRD.$$"
	rm -rf "$r"
	# Earlier versions of this script left their own initramfs.
	find "$KDIR" -maxdepth 1 -name 'initrd-*.cpio' ! -name "${INITRD##*/}" \
		! -newer "$INITRD.$$" -delete 2>/dev/null || true
	mv "$INITRD.$$" "$INITRD"
fi

# ---- machine and accelerator -----------------------------------------------

tsc_khz() {
	[ -z "${VM_TSC_KHZ:-}" ] || { echo "$VM_TSC_KHZ"; return; }
	local mhz
	mhz=$(dmesg 2>/dev/null | sed -n \
		-e 's/.*tsc: Refined TSC clocksource calibration: \([0-9.]*\) MHz.*/\1/p' \
		-e 's/.*tsc: Detected \([0-9.]*\) MHz processor.*/\1/p' | tail -n 1)
	# Without frequency scaling and with a constant TSC, the CPU's
	# clock is the TSC's.
	if [ -z "$mhz" ] && ! [ -d /sys/devices/system/cpu/cpu0/cpufreq ] &&
		grep -qw constant_tsc /proc/cpuinfo; then
		mhz=$(awk -F: '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)
	fi
	[ -z "$mhz" ] || awk -v m="$mhz" 'BEGIN { printf "%d\n", m * 1000 }'
}

ACCEL=${VM_ACCEL:-}
if [ -z "$ACCEL" ]; then
	ACCEL=tcg
	if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
		ACCEL=kvm
	fi
fi
KARGS="console=ttyS0 panic=-1 rdinit=/init cgroup_no_v1=all 8250.nr_uarts=1"
KARGS+=" i8042.noaux i8042.nokbd cryptomgr.notests mitigations=off random.trust_cpu=on"
if [ "$DEBUG" = 1 ]; then KARGS+=" loglevel=7 vmdebug"; else KARGS+=" quiet loglevel=0"; fi
[ "${VM_INIT:-}" = systemd ] && KARGS+=" vminit=systemd"
MACHINE=microvm
if [ "$ACCEL" = kvm ]; then
	ACCEL_ARGS=(-enable-kvm -cpu host)
else
	# shellcheck disable=SC2054
	ACCEL_ARGS=(-accel tcg,thread=multi -cpu "${VM_CPU:-max}")
	# microvm has neither HPET nor PM timer, and under TCG the PIT
	# calibration hangs: the kernel must be told the TSC rate (TCG's TSC
	# runs at the host's). lpj skips the delay-loop calibration too.
	khz=$(tsc_khz)
	if [ -n "$khz" ]; then
		hz=$(sed -n 's/^CONFIG_HZ=//p' "/boot/config-$KVER" 2>/dev/null)
		KARGS+=" tsc_early_khz=$khz lpj=$((khz * 1000 / ${hz:-250})) tsc=reliable no_timer_check"
	else
		MACHINE=q35
	fi
fi
# microvm describes no NUMA topology (no ACPI SRAT): q35 does
[ "${VM_NUMA:-0}" = 1 ] && MACHINE=q35
if [ "$MACHINE" = microvm ]; then
	BUS=device
	FW=()
else
	BUS=pci
	FW=(-bios /usr/share/qemu/qboot.rom) # SeaBIOS is slower and noisy
	[ -r /usr/share/qemu/qboot.rom ] || FW=()
fi

# ---- the run ---------------------------------------------------------------

CTL=$(mktemp -d "${TMPDIR:-/tmp}/berth-vm.XXXXXX")
trap 'rm -rf "$CTL"' EXIT
{
	if [ $WORK_SHARE = 1 ]; then
		printf '/run/vm/busybox mkdir -p %q &&\n' "$PWD"
		printf '\t/run/vm/busybox mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose work %q ||\n' "$PWD"
		printf '\texit 125\n'
	fi
	printf 'cd %q || exit 125\n' "$PWD"
	printf 'exec'
	printf ' %q' "$@"
	echo
} >"$CTL/cmd"

WORK_ARGS=()
[ $WORK_SHARE = 1 ] && WORK_ARGS=(
	-fsdev "local,id=work,path=$PWD,security_model=none,readonly=on,multidevs=remap"
	-device "virtio-9p-$BUS,fsdev=work,mount_tag=work")

# VM_NUMA=1: two NUMA nodes, the guest's CPUs and memory split between them
NUMA_ARGS=()
if [ "${VM_NUMA:-0}" = 1 ]; then
	NUMA_ARGS=(-object "memory-backend-ram,id=m0,size=$((MEM / 2))M"
		-object "memory-backend-ram,id=m1,size=$((MEM - MEM / 2))M"
		-numa "node,nodeid=0,memdev=m0,cpus=0-$((SMP / 2 - 1))"
		-numa "node,nodeid=1,memdev=m1,cpus=$((SMP / 2))-$((SMP - 1))")
fi

# qemu: one boot. Under TCG a guest now and then hangs in early boot (seen
# once in about fifty boots, before stage 1's first line): a guest that has
# not written ctl/booted within BOOT_WAIT seconds (a boot takes 2-5 s) is
# killed and booted again, up to three times in all.
BOOT_WAIT=${VM_BOOT_WAIT:-90}
qemu() {
	timeout -k 5 "$TIMEOUT" "$QEMU" "${ACCEL_ARGS[@]}" -M "$MACHINE" "${FW[@]}" \
		-m "$MEM" -smp "$SMP" "${NUMA_ARGS[@]}" -nodefaults -no-user-config -nographic \
		-no-reboot -serial stdio \
		-kernel "$VMLINUX" -initrd "$INITRD" -append "$KARGS" \
		-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-$BUS,fsdev=root,mount_tag=hostroot \
		-fsdev "local,id=ctl,path=$CTL,security_model=none" \
		-device virtio-9p-$BUS,fsdev=ctl,mount_tag=ctl "${WORK_ARGS[@]}" \
		-blockdev driver=null-co,node-name=null,size=1073741824,read-zeroes=on \
		-device virtio-blk-$BUS,drive=null \
		</dev/null 2>"$CTL/qemu.err" &
	local pid=$! ticks=0
	while ! [ -e "$CTL/booted" ] && kill -0 "$pid" 2>/dev/null; do
		if [ $ticks -ge $((BOOT_WAIT * 10)) ]; then
			kill "$pid" 2>/dev/null
			wait "$pid"
			return 200
		fi
		sleep 0.1
		ticks=$((ticks + 1))
	done
	wait "$pid"
}

set +e
for try in 1 2 3; do
	qemu
	rc=$?
	[ $rc = 200 ] || break
	echo "run-in-vm: the guest did not boot within $BOOT_WAIT s (boot $try of 3)" >&2
done
set -e
if [ $rc = 200 ]; then
	echo "run-in-vm: no boot of three reached stage 1; rerun with VM_DEBUG=1" >&2
	exit 124
fi
[ -s "$CTL/qemu.err" ] && sed 's/^/qemu: /' "$CTL/qemu.err" >&2

if [ -s "$CTL/status" ]; then
	exit "$(cat "$CTL/status")"
fi
if [ $rc = 124 ] || [ $rc = 137 ]; then
	echo "run-in-vm: the guest did not finish within ${TIMEOUT} s (VM_TIMEOUT)" >&2
	exit 124
fi
if [ $rc != 0 ] && ! [ -e "$CTL/booted" ]; then
	cannot_start "qemu exited with status $rc: $(head -n 1 "$CTL/qemu.err" 2>/dev/null)"
fi
echo "run-in-vm: the guest gave no exit status (qemu status $rc); rerun with VM_DEBUG=1" >&2
exit 125
