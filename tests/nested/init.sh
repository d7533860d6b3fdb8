#!/bin/sh
# /init of the L1 initramfs built by tests/nested/kvm-run (busybox ash, PID 1).
#
# Loads kvm-amd (kvm.ko with kvm-run's --kvm-param, given as vcr.kvm=P=V,...
# on the command line) and the 9p stack, mounts the host's root read-only at /newroot
# with the control folder and the read-write folders at the same paths as on
# L0, then runs tests/nested/runner inside that chroot with the host's bash.
# Every message for the harness is one console line "@@VCR@@<nonce>:WORD:...@@"
# (the nonce is per run, so no program output can fake one). Whatever happens,
# it ends with poweroff, which makes QEMU (-no-reboot) exit.
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

nonce=
net=0
kvm_params=
for w in $(cat /proc/cmdline); do
    case "$w" in
        vcr.nonce=*) nonce=${w#vcr.nonce=} ;;
        vcr.net=*) net=${w#vcr.net=} ;;
        vcr.kvm=*) kvm_params=$(echo "${w#vcr.kvm=}" | tr , ' ') ;;
    esac
done

# No '@' inside a message: it ends the marker.
say() { echo "@@VCR@@$nonce:$(echo "$*" | tr -d '@')@@"; }
die() {
    say "ERROR:$*"
    poweroff -f
    sleep 30
}

load() {
    for m in "$@"; do
        out=$(insmod /lib/modules/$m.ko 2>&1) || die "insmod $m.ko failed: $(echo $out)"
    done
}

say "BOOTED:$(cut -d' ' -f1 /proc/uptime)"
# Dependency order, from each module's depends= line (no modprobe/depmod here).
# kvm.ko gets kvm-run's --kvm-param (vcr.kvm=P=V,P=V: no modprobe here to
# read kvm.P=V from the command line).
load irqbypass
# shellcheck disable=SC2086
out=$(insmod /lib/modules/kvm.ko $kvm_params 2>&1) || die "insmod kvm.ko $kvm_params failed: $(echo $out)"
load ccp kvm-amd
[ -c /dev/kvm ] || die "/dev/kvm absent after loading kvm-amd: $(dmesg | grep -i -E 'kvm|svm' | tail -3 | tr '\n' ' ')"
load virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
     9pnet 9pnet_virtio netfs fscache 9p

ip link set lo up
if [ "$net" = 1 ]; then
    load failover net_failover virtio_net
    # busybox udhcpc has no lease script here; QEMU's user network is fixed.
    ip link set eth0 up || die "eth0 missing after loading virtio_net"
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2
fi

opts=trans=virtio,version=9p2000.L,msize=262144
mkdir -p /newroot /ctl
mount -t 9p -o ro,$opts,cache=loose hostroot /newroot || die "cannot mount the host root over 9p"
mount -t 9p -o $opts,cache=mmap ctl /ctl || die "cannot mount the control folder over 9p"
r=/newroot
mount -t proc proc $r/proc
mount -t sysfs sys $r/sys
mount -t devtmpfs dev $r/dev
mkdir -p $r/dev/pts $r/dev/shm 2>/dev/null
mount -t devpts devpts $r/dev/pts
mount -t tmpfs shm $r/dev/shm
mount -t tmpfs tmp $r/tmp
chmod 1777 $r/tmp
mount -t tmpfs run $r/run 2>/dev/null

# /ctl/mounts: "TAG PATH" per line, the control folder first. A folder under
# the new /tmp must be created there: the tmpfs hides the host's.
while read -r tag path; do
    [ -n "$tag" ] || continue
    if [ "$tag" = ctl ]; then
        ctlpath=$path
        mkdir -p "$r$path" 2>/dev/null
        mount -o bind /ctl "$r$path" || die "cannot bind the control folder at $path"
    else
        mkdir -p "$r$path" 2>/dev/null
        mount -t 9p -o $opts,cache=mmap "$tag" "$r$path" || die "cannot mount $path over 9p"
    fi
done < /ctl/mounts
[ -n "$ctlpath" ] || die "no control folder in /ctl/mounts"
runner=$(cat /ctl/runner)
[ -x "$r$runner" ] || die "runner $runner not executable in L1"
[ -x "$r/bin/bash" ] || die "no /bin/bash in the shared host root"

say "READY:$(cut -d' ' -f1 /proc/uptime)"
chroot $r /bin/bash "$runner" "$ctlpath" "$nonce" < /dev/null
say "HALT:$?"
sync
poweroff -f
sleep 30
